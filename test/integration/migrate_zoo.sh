#!/bin/bash
# migrate_zoo: every zoo program migrates live from host a to host b (each its
# own network and PID namespace) with every dirty tracker that works here,
# and verifies its own state there: same PID in b, the source gone from a,
# PASS after the check file; the counter counts on without a gap. The daemon
# serves all of these migrations, one after the other, and is left with no
# session and no stray process.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
live_need
hosts_init

# As zoo_local.sh: not badfd (refused), patch (image_patch.sh), pidhold (a helper).
# MIGRATE_ZOO_PROGRAMS="churn churn churn" runs only those (to chase a race).
read -ra PROGRAMS <<<"${MIGRATE_ZOO_PROGRAMS:-counter threads avx fpu files signals churn heap eventfds timers posixtimers pipes fifo unix unixfds pty memfd ghost memfdmap tree tree_shm tree_unix tree_memfd ptytree tree_sockpath timedwaits}"
trackers_pick

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
dst_start b

# migrate_check NAME TRACKER: one program's whole trip, a -> b, then its check.
migrate_check() {
	local name=$1 tracker=$2 pid hpid counts seen
	host_zoo_start a "$name"
	pid=$ZOO_PID
	sleep 0.3
	counts=$(grep -c '^count ' "$ZOO_LOG" || true)
	mig_ok a "$pid" b --tracker "$tracker" --json
	seen=$(mig_json 'j["tracker"]')
	[ "$seen" = "$tracker" ] ||
		die "$name: the report says tracker '$seen', expected '$tracker'" \
			"(--tracker $tracker)"
	seen=$(mig_json 'j["dst_pid"]')
	[ "$seen" = "$pid" ] ||
		die "$name: the report says pid $seen at the destination, expected $pid"
	host_wait_gone a "$pid" 5
	hpid=$(host_pid b "$pid") ||
		die "$name: expected pid $pid in host b after the migration, there is none;" \
			"b has: $(host_nspids b | tr '\n' ' ')"
	track_pid "$hpid"
	seen=$(cat "/proc/$hpid/comm" 2>/dev/null) || true
	[ "$seen" = "$name" ] || die "$name: pid $pid in host b runs '$seen', expected $name"
	if [ "$name" = counter ]; then
		# It counts on at the destination, from where it was.
		wait_line "$ZOO_LOG" '^count ' 5 $((counts + 5))
	else
		sleep 0.3
	fi
	zoo_check "$name"
	host_wait_gone b "$pid" 5
	[ "$name" != counter ] || assert_consecutive "$ZOO_LOG"
	mv "$ZOO_LOG" "$TMP/$name-$tracker.done"
	seen=$(mig_json '("%d rounds, freeze window %.1f ms" %
		(len(j["rounds"]), j["freeze_window"]["total_ms"]))')
	say "$name ($tracker): pid $pid moved from a to b, PASS there ($seen)"
}

# host_kill_named HOST NAME: ends what a failed case left of program NAME.
host_kill_named() {
	local nspid comm hp
	host_nspids "$1" | while read -r nspid comm; do
		[ "$comm" = "$2" ] || continue
		hp=$(host_pid "$1" "$nspid") && kill -KILL "$hp" 2>/dev/null || true
		host_wait_gone "$1" "$nspid" 5
	done
}

# Each case runs in a subshell, so that one failure does not hide the others:
# the test fails at the end with the list. (Not as `if ! (...)`: bash would
# ignore set -e inside it.)
FAILED=()
for tracker in "${TRACKERS[@]}"; do
	for name in "${PROGRAMS[@]}"; do
		set +e
		(
			set -e
			migrate_check "$name" "$tracker"
		)
		rc=$?
		set -e
		if [ "$rc" -ne 0 ]; then
			FAILED+=("$name/$tracker")
			host_kill_named a "$name"
			host_kill_named b "$name"
			mv "$TMP/$name.log" "$TMP/$name-$tracker.failed" 2>/dev/null || true
		fi
	done
done
[ ${#FAILED[@]} -eq 0 ] || die "failed (program/tracker): ${FAILED[*]}"
dst_assert_clean b 0 "after ${#PROGRAMS[@]} x ${#TRACKERS[@]} migrations"
say "${#PROGRAMS[@]} programs x trackers ${TRACKERS[*]}: all verified in host b"
