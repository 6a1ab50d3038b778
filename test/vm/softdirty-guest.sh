#!/bin/bash
# softdirty-guest.sh: runs INSIDE the 6.1 VM (test/vm/run.sh, from
# test/integration/vm_softdirty.sh). One RESULT line per check:
#
#	check        `migrate check` finds soft-dirty, and no uffd-wp (6.1 has no
#	             UFFD_FEATURE_WP_ASYNC / PAGEMAP_SCAN), so 'auto' falls back to
#	             soft-dirty
#	test_track   the tracker unit test, whose soft-dirty cases run only where the
#	             kernel has it (SKIP when not built)
#	dump_restore a zoo counter through migrate dump and a detached restore,
#	             counting on without a gap
#
# The build's files are under $BUILD (/build); test/integration/lib.sh is
# /test/lib.sh and each check runs in a subshell under its lib_init, so its
# processes and files are cleaned up whatever happens.
set -uo pipefail
# Emulation is slow: give each wait more than on the host (before lib.sh sets
# its defaults).
LIB_TIMEOUT=${LIB_TIMEOUT:-60}
MIG_TIMEOUT=${MIG_TIMEOUT:-240}
# shellcheck source=../integration/lib.sh
source /test/lib.sh

# run_check NAME FUNCTION: RESULT NAME PASS, FAIL or SKIP by its exit status.
run_check() {
	local name=$1 rc=0 start=$SECONDS
	echo "=== $name"
	(
		set -euo pipefail
		# shellcheck disable=SC2034 # lib.sh's name for the messages
		TEST_NAME=$name
		lib_init "$BUILD"
		"$2"
	) || rc=$?
	case $rc in
	0) echo "RESULT $name PASS ($((SECONDS - start)) s)" ;;
	77) echo "RESULT $name SKIP" ;;
	*) echo "RESULT $name FAIL (status $rc)" ;;
	esac
}

check_check() {
	local out=$TMP/check.out
	"$MIGRATE" check >"$out" 2>&1 || die "migrate check failed: $(cat "$out")"
	cat "$out"
	grep -qE '^ok +soft-dirty ' "$out" || die "migrate check does not find soft-dirty"
	grep -qE '^missing +uffd-wp ' "$out" ||
		die "migrate check finds uffd-wp on $(uname -r), which has no PAGEMAP_SCAN"
	grep -q "'auto' picks: soft-dirty" "$out" ||
		die "'auto' does not fall back to soft-dirty: $(grep "'auto'" "$out")"
}

check_test_track() {
	local bin=$BUILD/test/test_track
	[ -x "$bin" ] || skip "$bin not built"
	"$bin"
}

check_dump_restore() {
	local pid img=$TMP/img
	zoo_start counter
	pid=$ZOO_PID
	wait_line "$ZOO_LOG" '^count 3$'
	mig_dump "$pid" "$img"
	wait_gone "$pid" 10
	wait_reaped "$pid" 10
	mig_restore "$img"
	assert_alive "$pid" "counter restored"
	wait_line "$ZOO_LOG" '^count ' "$LIB_TIMEOUT" "$(($(grep -c '^count ' "$ZOO_LOG") + 2))"
	zoo_check counter
	wait_gone "$pid" 10
	assert_consecutive "$ZOO_LOG"
	say "counter: $(grep -c '^count ' "$ZOO_LOG") counts, consecutive across the restore"
}

echo "guest: $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print $2 " kB" }' /proc/meminfo)"
run_check check check_check
run_check test_track check_test_track
run_check dump_restore check_dump_restore
