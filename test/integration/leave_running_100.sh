#!/bin/bash
# leave_running_100: 100 dumps of a running multi-threaded program with
# --leave-running. The program must never notice (its own checks pass at the
# end), and every image must be restorable: we then restore the images one
# after another (each in a waiting migrate restore), each must pass its checks
# and exit 0. Time budget: under 4 minutes; if the restores run late, only
# every 10th image of the rest is restored (and said so).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

DUMPS=${DUMPS:-100}
BUDGET_S=200
start_s=$SECONDS

zoo_start threads
pid=$ZOO_PID
for ((i = 1; i <= DUMPS; i++)); do
	mig_dump "$pid" "$TMP/img-$i" --leave-running
	is_alive "$pid" || die "threads died at dump $i of $DUMPS"
	grep -q '^FAIL' "$ZOO_LOG" && die "threads noticed dump $i"
done
say "$DUMPS dumps with --leave-running in $((SECONDS - start_s)) s, $(du -sh "$TMP" | cut -f1)"
zoo_check threads 1
wait_gone "$pid" 5
say "the original passed its own checks after $DUMPS dumps"

restored=0
for ((i = 1; i <= DUMPS; i++)); do
	if ((SECONDS - start_s > BUDGET_S && i % 10 != 0)); then
		continue
	fi
	rm -f "$ZOO_CHECK"
	wait_gone "$pid" 5
	"$MIGRATE" restore -D "$TMP/img-$i" >"$TMP/restore.out" 2>&1 &
	rpid=$!
	track_pid "$rpid"
	for ((t = 0; t < 200; t++)); do
		is_alive "$pid" && break
		is_alive "$rpid" || break
		sleep 0.05
	done
	is_alive "$pid" ||
		die "image $i: no process $pid after migrate restore: $(cat "$TMP/restore.out")"
	track_pid "$pid"
	restored=$((restored + 1))
	zoo_check threads $((restored + 1))
	rc=0
	wait "$rpid" || rc=$?
	[ $rc -eq 0 ] ||
		die "image $i: migrate restore exited with $rc, expected 0 (threads passed)"
done
[ $restored -eq $DUMPS ] ||
	say "time budget: restored $restored of $DUMPS images (every 10th after $BUDGET_S s)"
say "restored $restored images, each passed, in $((SECONDS - start_s)) s in all"
