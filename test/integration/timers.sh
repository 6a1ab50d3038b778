#!/bin/bash
# timers: interval timers (alarm, ITIMER_VIRTUAL, ITIMER_PROF) and a queued rt signal with
# its value survive dump and restore (the zoo program "timers" checks itself); so do POSIX
# timers, under their ids, with their clocks, notification, values and times left (the zoo
# program "posixtimers" checks itself). A POSIX timer on the CPU clock of another process
# cannot travel, nor one on CLOCK_THREAD_CPUTIME_ID in a process of several threads (/proc
# does not tell whose): such a process is refused by name and left running untouched. A restore on a
# kernel without prctl(PR_TIMER_CREATE_RESTORE_IDS) (made so by a seccomp filter: the helper
# refuse_prctl) is refused naming the timer, and leaves no process behind.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

# --- POSIX timer on another process's CPU clock: refused before the process is touched
zoo_start timers foreign
pid=$ZOO_PID
mig_expect_fail "$TMP/foreign.out" dump -t "$pid" -D "$TMP/img-foreign"
assert_output_has "$TMP/foreign.out" "POSIX timer [0-9]+ counts the CPU time of pid" \
	"dump of pid $pid holding a timer on its parent's CPU clock"
[ ! -e "$TMP/img-foreign/inventory.img" ] || die "a refused dump left an image behind"
[ "$(grep -c '^State:.*[tT]' "/proc/$pid/status")" -eq 0 ] || die "pid $pid left stopped"
assert_alive "$pid" "after a refused dump"
say "foreign clock refused: $(head -n 1 "$TMP/foreign.out")"
zoo_check timers
wait_gone "$pid" 5
mv "$TMP/timers.log" "$TMP/timers-foreign.log"

# --- CLOCK_THREAD_CPUTIME_ID in a process of two threads (whose clock?): refused, untouched
zoo_start posixtimers threadclock
pid=$ZOO_PID
mig_expect_fail "$TMP/thrclock.out" dump -t "$pid" -D "$TMP/img-thrclock"
assert_output_has "$TMP/thrclock.out" \
	"POSIX timer [0-9]+ counts the CPU time of the thread that created it" \
	"dump of pid $pid holding a CLOCK_THREAD_CPUTIME_ID timer in two threads"
[ ! -e "$TMP/img-thrclock/inventory.img" ] || die "a refused dump left an image behind"
[ "$(grep -c '^State:.*[tT]' "/proc/$pid/status")" -eq 0 ] || die "pid $pid left stopped"
assert_alive "$pid" "after a refused dump"
say "thread clock refused: $(head -n 1 "$TMP/thrclock.out")"
zoo_check posixtimers
wait_gone "$pid" 5
mv "$TMP/posixtimers.log" "$TMP/posixtimers-thrclock.log"

# --- interval timers and the pending rt signal: dump, restore, self-check
zoo_start timers
pid=$ZOO_PID
sleep 0.3
mig_dump "$pid" "$TMP/img"
wait_gone "$pid" 5
wait_reaped "$pid" 5
mig_restore "$TMP/img"
assert_alive "$pid" "timers restored"
sleep 0.3
zoo_check timers
wait_gone "$pid" 5
say "timers: dump, restore, PASS"

# --- POSIX timers: dump, restore, self-check; the image holds them by id
zoo_start posixtimers
pid=$ZOO_PID
before=$(grep '^ID:' "/proc/$pid/timers" | sort | tr '\n' ' ')
sleep 0.3
mig_dump "$pid" "$TMP/img-posix"
wait_gone "$pid" 5
wait_reaped "$pid" 5
"$MIGRATE" show "$TMP/img-posix" >"$TMP/show.out" 2>&1 || die "migrate show failed"
assert_output_has "$TMP/show.out" "posix_timers" "migrate show of the POSIX timers image"
rc=0
timeout "$MIG_TIMEOUT" "$ZOO/refuse_prctl" "$MIGRATE" restore -D "$TMP/img-posix" \
	--restore-detached >"$TMP/noprctl.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || die "restore without PR_TIMER_CREATE_RESTORE_IDS exited $rc, expected 1:" \
	"$(tail -n 3 "$TMP/noprctl.out")"
assert_output_has "$TMP/noprctl.out" "POSIX timer [0-9]+ .*PR_TIMER_CREATE_RESTORE_IDS" \
	"restore of pid $pid on a kernel without PR_TIMER_CREATE_RESTORE_IDS"
wait_reaped "$pid" 5
say "no PR_TIMER_CREATE_RESTORE_IDS: $(grep -m1 'PR_TIMER_CREATE_RESTORE_IDS' "$TMP/noprctl.out")"
mig_restore "$TMP/img-posix"
assert_alive "$pid" "posixtimers restored"
after=$(grep '^ID:' "/proc/$pid/timers" | sort | tr '\n' ' ')
[ "$before" = "$after" ] || die "timer ids were '$before' before, '$after' after restore"
sleep 0.3
zoo_check posixtimers
wait_gone "$pid" 5
say "posixtimers: dump, restore, same ids ($after), PASS"
