#!/bin/bash
# Demo: checkpoint a counting program to disk (which kills it), then bring it
# back and watch it count on from where it stopped.
#
#	bash test/demo.sh BUILD_DIR
#
# Needs root. Everything it starts is stopped, and its files removed, on any exit.
set -euo pipefail

build=$(cd "${1:?usage: demo.sh BUILD_DIR}" && pwd)
migrate=$build/migrate-src/migrate
counter=$build/zoo/counter

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
die() {
	echo "demo: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (migrate uses ptrace and chooses PIDs)"
[ -x "$migrate" ] || die "$migrate not found: build first (cmake --build $build)"
[ -x "$counter" ] || die "$counter not found: build first (cmake --build $build)"

work=$(mktemp -d /tmp/migrate-demo.XXXXXX)
log=$work/counter.log
check=$work/check-now # the counter stops, and verifies itself, once this exists
pid=

# Stops the counter if it still runs (original or restored: same PID, same binary).
cleanup() {
	local status=$?
	if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = counter ]; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to 5 s for a line matching $1 in the log.
wait_for_line() {
	for _ in $(seq 50); do
		grep -q -- "$1" "$log" && return 0
		sleep 0.1
	done
	die "no '$1' in $log after 5 s"
}

# Alive: exists and is not a zombie waiting to be reaped.
is_alive() {
	local state
	# The state follows the last ')': comm may hold spaces.
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

last_count() { grep '^count ' "$log" | tail -n 1 | cut -d' ' -f2; }

say "1. start a counter: it prints 'count N' every 100 ms into $log"
# setsid: its own session, so nothing ties it to this terminal; >> for O_APPEND.
# Only fds 0-2 go with it: whatever else this shell inherited (pipes of a CI
# runner...) is a kind of fd that dump refuses.
(
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done
	exec setsid "$counter" "$check" >>"$log" 2>&1 </dev/null
) &
# disown: bash still reaps it when the dump kills it (freeing its PID for the
# restore), but does not report the kill as a failed job.
disown
wait_for_line '^READY'
pid=$(awk '/^READY/ { print $2; exit }' "$log")
sleep 1
echo "pid $pid is counting:"
tail -n 3 "$log" | sed 's/^/    /'

say "2. migrate dump: write its state to $work/images and kill it"
"$migrate" -v dump -t "$pid" -D "$work/images"
stopped_at=$(last_count)
echo "last count before the dump: $stopped_at"
echo "images:"
ls -l "$work/images" | sed 's/^/    /'

say "3. it is gone"
if is_alive "$pid"; then
	die "pid $pid still exists after the dump"
fi
sleep 1
echo "pid $pid does not exist; one second later the log still ends at count $(last_count)"

say "4. migrate restore: bring it back, detached"
"$migrate" -v restore -D "$work/images" --restore-detached
wait_for_line "^count $((stopped_at + 1))\$"
sleep 1
echo "pid $pid runs again ($(tr -d '\0' <"/proc/$pid/comm" 2>/dev/null || echo '?')) and counts on:"
grep -A 4 "^count $stopped_at\$" "$log" | sed 's/^/    /'

say "5. stop it: it checks its own state and says PASS or FAIL"
touch "$check"
wait_for_line '^PASS\|^FAIL'
grep '^PASS\|^FAIL' "$log" | sed 's/^/    /'
grep -q '^PASS' "$log" || die "the restored counter reported a failure"
echo
echo "demo passed: the counter went on from $stopped_at to $(last_count) across a dump and a restore"

# Part two: the same counter program, moved live between two namespaced hosts.
say "6. live migration: test/demo_migrate.sh"
bash "$(dirname "$0")/demo_migrate.sh" "$build"
