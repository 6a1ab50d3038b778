#!/bin/bash
# The `migrate` command line: help, version, usage errors (exit 2 with a
# message naming the fault) and `migrate check`.
#
#	bash cli_usage.sh BUILD_DIR
#
# Exit 0 PASS, 1 FAIL, 77 skipped (not root: check's verdict depends on it).
set -uo pipefail

build=${1:?usage: cli_usage.sh BUILD_DIR}
migrate=$build/migrate-src/migrate
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP cli_usage: needs root (migrate check probes ptrace, clone3 set_tid)"
	exit 77
fi
[ -x "$migrate" ] || {
	echo "FAIL cli_usage: $migrate not built"
	exit 1
}

out=$(mktemp /tmp/cli_usage.XXXXXX)
trap 'rm -f "$out"' EXIT
failures=0

fail() {
	echo "FAIL: $*"
	sed 's/^/    | /' "$out"
	failures=$((failures + 1))
}

# expect STATUS PATTERN ARGS...: runs migrate ARGS, wants exit STATUS and PATTERN
# (grep -E) somewhere in its stdout+stderr; "" for no pattern.
expect() {
	local want=$1 pattern=$2 status
	shift 2
	"$migrate" "$@" >"$out" 2>&1 </dev/null
	status=$?
	if [ "$status" -ne "$want" ]; then
		fail "migrate $* exited $status, expected $want"
	elif [ -n "$pattern" ] && ! grep -qE -- "$pattern" "$out"; then
		fail "migrate $* did not say /$pattern/"
	else
		echo "ok: migrate $* -> $status"
	fi
}

expect 0 'Usage: migrate' --help
expect 0 'dump .*restore|restore' -h
expect 0 '^migrate [0-9]+\.[0-9]+' --version
expect 0 'Usage: migrate dump' dump --help
expect 0 'Usage: migrate restore' restore --help
expect 0 'Usage: migrate check' check --help
expect 2 "unknown subcommand 'frobnicate'" frobnicate
expect 2 "no subcommand" -v
expect 2 "unknown option '--bogus'" --bogus
expect 2 "dump: unknown option '--bogus'" dump --bogus -t 1 -D /nonexistent
expect 2 'missing -t/--tree' dump -D /nonexistent
expect 2 'missing -D/--images-dir' dump -t 1
expect 2 "invalid pid 'abc'" dump -t abc -D /nonexistent
expect 2 "invalid pid '0'" dump -t 0 -D /nonexistent
expect 2 "invalid pid '-5'" dump -t -5 -D /nonexistent
expect 2 "option '-t' needs a value" dump -t
expect 2 'exclude each other' dump -t 1 -D /nonexistent --leave-running --leave-stopped
expect 2 'missing -D/--images-dir' restore
expect 2 "invalid --pid-wait 'soon'" restore -D /nonexistent --pid-wait soon
expect 2 'missing --psk-file' --to 198.18.0.2:7000 1
expect 2 "invalid --to '198.18.0.2:notaport'" --to 198.18.0.2:notaport --psk-file /dev/null 1
expect 2 "invalid --tracker 'magic'" --to 198.18.0.2 --psk-file /dev/null --tracker magic 1
expect 1 'cannot load the key file /nonexistent' --to 198.18.0.2 --psk-file /nonexistent 1

# check: what this kernel offers, compared with its own configuration when we can read it.
expect 0 '' check
grep -qE '^ok +uffd-wp' "$out" && echo "ok: uffd-wp available" || {
	kernel=$(uname -r)
	if [ "$(printf '%s\n6.7\n' "${kernel%%-*}" | sort -V | head -n 1)" = 6.7 ]; then
		fail "uffd-wp reported missing on kernel $kernel (>= 6.7)"
	else
		echo "note: uffd-wp missing on kernel $kernel (< 6.7), as expected"
	fi
}
config=
if [ -r /proc/config.gz ]; then
	config=$(zcat /proc/config.gz)
elif [ -r "/boot/config-$(uname -r)" ]; then
	config=$(cat "/boot/config-$(uname -r)")
fi
if [ -z "$config" ]; then
	echo "note: kernel config not readable: soft-dirty's verdict not cross-checked"
elif grep -q '^CONFIG_MEM_SOFT_DIRTY=y' <<<"$config"; then
	grep -qE '^ok +soft-dirty' "$out" && echo "ok: soft-dirty available (config has it)" ||
		fail "soft-dirty reported missing, yet CONFIG_MEM_SOFT_DIRTY=y"
else
	grep -qE '^missing +soft-dirty' "$out" && grep -q 'CONFIG_MEM_SOFT_DIRTY' "$out" &&
		echo "ok: soft-dirty missing (config lacks it), and check says why" ||
		fail "soft-dirty not reported missing with its reason, yet CONFIG_MEM_SOFT_DIRTY is off"
fi
grep -qE "^dirty tracker 'auto' picks: (uffd-wp|soft-dirty|none)" "$out" &&
	echo "ok: check names the dirty tracker" || fail "check does not name the dirty tracker"
expect 0 '"dirty_tracker": ' check --json

if [ "$failures" -ne 0 ]; then
	echo "FAIL cli_usage: $failures failures"
	exit 1
fi
echo "PASS cli_usage"
