#!/bin/bash
# zoo_local: every zoo program goes through dump (which kills it) and a local
# restore, keeps its PID, and then verifies its own state. Then a restore that
# is not detached must exit with the restored program's exit status.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

# Not badfd (dump refuses it: errors.sh), patch (image_patch.sh), pidhold (a helper).
PROGRAMS=(counter threads avx fpu files signals churn heap eventfds timers posixtimers pipes fifo unix unixfds pty memfd ghost memfdmap tree tree_shm tree_unix tree_memfd ptytree tree_sockpath timedwaits)

# dump_restore_check NAME: the whole round trip of one program.
dump_restore_check() {
	local name=$1 pid img=$TMP/img-$1
	zoo_start "$name"
	pid=$ZOO_PID
	sleep 0.3
	mig_dump "$pid" "$img"
	wait_gone "$pid" 5
	wait_reaped "$pid" 5
	mig_restore "$img"
	assert_alive "$pid" "$name restored"
	[ "$(cat "/proc/$pid/comm")" = "$name" ] ||
		die "$name: pid $pid runs '$(cat "/proc/$pid/comm")', expected $name"
	sleep 0.3
	zoo_check "$name"
	wait_gone "$pid" 5
	say "$name: dump, restore, PASS"
}

for name in "${PROGRAMS[@]}"; do
	dump_restore_check "$name"
done
assert_consecutive "$TMP/counter.log"
before=$(grep -c '^count ' "$TMP/counter.log")
say "counter: $before counts, consecutive across the restore"

# Not detached: migrate restore waits and passes on the program's exit status
# (the check file asks the counter to exit with 7 after PASS).
mv "$TMP/counter.log" "$TMP/counter-detached.log"
zoo_start counter
pid=$ZOO_PID
sleep 0.3
mig_dump "$pid" "$TMP/img-wait"
wait_gone "$pid" 5
"$MIGRATE" restore -D "$TMP/img-wait" >"$TMP/restore-wait.out" 2>&1 &
restore_pid=$!
track_pid "$restore_pid"
for ((i = 0; i < 100; i++)); do
	is_alive "$pid" && break
	sleep 0.05
done
assert_alive "$pid" "counter restored by a waiting migrate restore"
track_pid "$pid"
ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status")
[ "$ppid" = "$restore_pid" ] ||
	die "restored counter's parent is $ppid, expected migrate restore ($restore_pid)"
sleep 0.3
echo 7 >"$TMP/counter.check"
wait_line "$TMP/counter.log" '^(PASS|FAIL) counter'
grep -q '^PASS counter' "$TMP/counter.log" || die "counter failed after a waiting restore"
rc=0
timeout 10 tail --pid="$restore_pid" -f /dev/null ||
	die "migrate restore did not exit after its process"
wait "$restore_pid" || rc=$?
[ "$rc" -eq 7 ] || die "migrate restore exited with $rc, expected the program's status 7"
assert_consecutive "$TMP/counter.log"
say "waiting restore: exit status 7 passed on, counts consecutive"
