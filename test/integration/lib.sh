# lib.sh: helpers shared by the integration tests (sourced, not run).
#
#	source "$(dirname "$0")/lib.sh"
#	lib_init "$1"                      root or exit 77; $MIGRATE, $ZOO, $TMP; cleanup trap
#	zoo_start counter                  starts $ZOO/counter, waits for READY;
#	                                   sets $ZOO_PID, $ZOO_LOG, $ZOO_CHECK
#	mig_dump "$ZOO_PID" "$TMP/img"     migrate dump (kills it); dies with the output on failure
#	wait_gone "$ZOO_PID"
#	mig_restore "$TMP/img"             migrate restore --restore-detached
#	assert_alive "$ZOO_PID"
#	zoo_check counter                  creates the check file, waits for "PASS counter"
#
# Every process started through these helpers (or given to track_pid) is killed
# by PID on exit, whatever the exit path, if it still runs the program it ran
# then; $TMP is removed. A test adds its own undo with on_exit "command".
# Failures print what was expected, what was seen, and the tail of the logs.

LIB_TIMEOUT=${LIB_TIMEOUT:-10}   # seconds to wait for a line in a log
MIG_TIMEOUT=${MIG_TIMEOUT:-120}  # seconds one migrate command may take

declare -A TRACKED=() # pid -> comm when tracked
EXIT_HOOKS=()
TEST_NAME=$(basename "$0" .sh)
LAST_OUT=

say() { echo "[$TEST_NAME] $*"; }

skip() {
	echo "[$TEST_NAME] SKIP: $*"
	exit 77
}

# Shows the end of every log of the test, then fails.
die() {
	local f
	echo "[$TEST_NAME] FAIL: $*" >&2
	for f in "${TMP:-/nonexistent}"/*.log "${TMP:-/nonexistent}"/*.out; do
		[ -f "$f" ] || continue
		echo "--- tail of $f:" >&2
		tail -n 12 "$f" >&2
	done
	exit 1
}

on_exit() { EXIT_HOOKS+=("$1"); }

lib_cleanup() {
	local status=$? pid hook
	trap - EXIT
	for hook in "${EXIT_HOOKS[@]}"; do
		eval "$hook" >/dev/null 2>&1 || true
	done
	for pid in "${!TRACKED[@]}"; do
		# The same PID may have been reused by someone else: check the name. Its
		# descendants (a zoo tree's children, nginx's workers) are ours too: a failed
		# test must not leave them behind, reparented to init.
		if is_alive "$pid" &&
			[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${TRACKED[$pid]}" ]; then
			kill -KILL "$pid" $(descendants "$pid") 2>/dev/null || true
		fi
	done
	[ -n "${TMP:-}" ] && rm -rf "$TMP"
	if [ $status -eq 0 ]; then
		echo "[$TEST_NAME] PASS"
	fi
	exit $status
}

lib_init() {
	local build=${1:-}
	[ -n "$build" ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
	[ "$(id -u)" -eq 0 ] || skip "needs root (ptrace, chosen PIDs)"
	BUILD=$(cd "$build" && pwd)
	MIGRATE=$BUILD/migrate-src/migrate
	ZOO=$BUILD/zoo
	[ -x "$MIGRATE" ] || { echo "[$TEST_NAME] FAIL: $MIGRATE not built" >&2; exit 1; }
	TMP=$(mktemp -d /tmp/migrate-it-"$TEST_NAME".XXXXXX)
	trap lib_cleanup EXIT
	trap 'exit 130' INT TERM
}

# descendants PID: every process below PID (children of all its threads), depth first.
descendants() {
	local child
	for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$child"
		descendants "$child"
	done
}

# Remembers a PID to kill on exit, with the name it runs under now.
track_pid() {
	local comm
	comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 0
	TRACKED[$1]=$comm
}

# Alive: exists and is not a zombie.
is_alive() {
	local state
	state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

assert_alive() {
	is_alive "$1" || die "pid $1${2:+ ($2)} should run but does not"
}

# wait_gone PID [SECONDS]: until it exits (or is a zombie).
wait_gone() {
	local i
	for ((i = 0; i < ${2:-10} * 20; i++)); do
		is_alive "$1" || return 0
		sleep 0.05
	done
	die "pid $1 still runs after ${2:-10} s, expected it gone"
}

# wait_reaped PID [SECONDS]: until no process, not even a zombie, has PID.
wait_reaped() {
	local i
	for ((i = 0; i < ${2:-10} * 20; i++)); do
		[ -e "/proc/$1" ] || return 0
		sleep 0.05
	done
	die "pid $1 ($(cat "/proc/$1/comm" 2>/dev/null)) still exists after ${2:-10} s," \
		"expected it gone"
}

# wait_line FILE REGEX [SECONDS] [COUNT]: until FILE has COUNT (1) lines matching REGEX.
wait_line() {
	local i n=0
	for ((i = 0; i < ${3:-$LIB_TIMEOUT} * 20; i++)); do
		n=$(grep -cE -- "$2" "$1" 2>/dev/null) || true
		[ "${n:-0}" -ge "${4:-1}" ] && return 0
		sleep 0.05
	done
	die "expected ${4:-1} line(s) matching '$2' in $1 within ${3:-$LIB_TIMEOUT} s, saw ${n:-0}"
}

# zoo_start NAME [ARGS...]: runs $ZOO/NAME in its own session, stdin /dev/null,
# stdout and stderr appended to $TMP/NAME.log, no other inherited fd. Sets
# ZOO_PID, ZOO_LOG, ZOO_CHECK (the check file, removed first).
zoo_start() {
	local name=$1 pid
	shift
	ZOO_LOG=$TMP/$name.log
	ZOO_CHECK=$TMP/$name.check
	rm -f "$ZOO_CHECK"
	lib_spawn "$ZOO_LOG" "$ZOO/$name" "$ZOO_CHECK" "$@"
	pid=$!
	wait_line "$ZOO_LOG" "^READY $pid\$"
	ZOO_PID=$pid
	track_pid "$pid"
}

# lib_spawn LOG COMMAND...: starts COMMAND in the background as described for
# zoo_start ($! is its PID: setsid does not fork, we are not a group leader).
# Disowned: bash still reaps it, but neither reports its death by a signal
# (every dump kills one) nor keeps its status: check its log, not `wait`.
lib_spawn() {
	local log=$1 fd
	shift
	(
		for fd in $(ls "/proc/$BASHPID/fd"); do
			[ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
		done
		exec setsid "$@" </dev/null >>"$log" 2>&1
	) &
	disown $!
}

# mig_dump PID DIR [OPTIONS...]: migrate dump, must succeed. Output in $LAST_OUT.
mig_dump() {
	local pid=$1 dir=$2
	shift 2
	LAST_OUT=$TMP/dump.out
	timeout "$MIG_TIMEOUT" "$MIGRATE" dump -t "$pid" -D "$dir" "$@" >"$LAST_OUT" 2>&1 ||
		die "migrate dump -t $pid -D $dir $* failed ($?): $(tail -n 5 "$LAST_OUT")"
}

# mig_restore DIR [OPTIONS...]: migrate restore --restore-detached, must succeed.
mig_restore() {
	local dir=$1
	shift
	LAST_OUT=$TMP/restore.out
	timeout "$MIG_TIMEOUT" "$MIGRATE" restore -D "$dir" --restore-detached "$@" \
		>"$LAST_OUT" 2>&1 ||
		die "migrate restore -D $dir $* failed ($?): $(tail -n 5 "$LAST_OUT")"
}

# mig_expect_fail OUTFILE migrate ARGS...: the command must fail; its output
# goes to OUTFILE (and $LAST_OUT).
mig_expect_fail() {
	local out=$1 rc=0
	shift
	LAST_OUT=$out
	timeout "$MIG_TIMEOUT" "$MIGRATE" "$@" >"$out" 2>&1 || rc=$?
	[ $rc -ne 0 ] || die "migrate $* succeeded, expected a refusal; it said: $(cat "$out")"
	[ $rc -ne 124 ] || die "migrate $* hung (killed after $MIG_TIMEOUT s)"
	[ $rc -lt 128 ] || die "migrate $* crashed (status $rc): $(tail -n 5 "$out")"
}

# assert_output_has FILE REGEX WHAT: the refusal message must match REGEX.
assert_output_has() {
	grep -qiE -- "$2" "$1" ||
		die "$3: expected the message to match '$2', it was: $(cat "$1")"
}

# zoo_check NAME [COUNT]: creates NAME's check file, waits for its COUNT-th PASS.
zoo_check() {
	local log=$TMP/$1.log n=${2:-1}
	touch "$TMP/$1.check"
	wait_line "$log" "^(PASS|FAIL) $1" "$LIB_TIMEOUT" "$n"
	if grep -qE "^FAIL $1" "$log"; then
		die "$1 verified its state and failed: $(grep -E "^FAIL $1" "$log" | tail -n 1)"
	fi
	wait_line "$log" "^PASS $1" 1 "$n"
}

# The numbers of the "count N" lines of a log, one per line.
counts_of() { sed -n 's/^count \([0-9]*\)$/\1/p' "$1"; }

# assert_consecutive FILE: the "count N" lines go up by one, from 1, no gap, no reset.
assert_consecutive() {
	local bad
	bad=$(counts_of "$1" | awk 'NR == 1 && $1 != 1 { print "first count is " $1; exit }
		NR > 1 && $1 != prev + 1 { print "count " prev " followed by " $1; exit }
		{ prev = $1 }')
	[ -z "$bad" ] || die "counts in $1 not consecutive: $bad"
}

# Run directly (ctest registers every *.sh, this one too), it tests itself
# without migrate: a zoo counter started, checked and cleaned up by these
# helpers, and the continuity check fed a gap it must catch.
lib_self_test() {
	local pid
	set -euo pipefail
	lib_init "${1:-}"
	zoo_start counter
	pid=$ZOO_PID
	wait_line "$ZOO_LOG" '^count 3$' 5
	zoo_check counter
	wait_gone "$pid" 5
	assert_consecutive "$ZOO_LOG"
	printf 'count 1\ncount 2\ncount 4\n' >"$TMP/gap.txt"
	if (assert_consecutive "$TMP/gap.txt") 2>/dev/null; then
		die "assert_consecutive missed a gap"
	fi
	zoo_start counter
	pid=$ZOO_PID
	kill -KILL "$pid"
	wait_gone "$pid" 5
	say "helpers work"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	lib_self_test "$@"
fi
