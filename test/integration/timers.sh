#!/bin/bash
# timers: interval timers (alarm, ITIMER_VIRTUAL, ITIMER_PROF) and a queued rt signal with
# its value survive dump and restore (the zoo program "timers" checks itself); a process
# with a POSIX timer (timer_create) is refused by name and left running untouched.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

# --- POSIX timer: refused before the process is touched
zoo_start timers posix
pid=$ZOO_PID
mig_expect_fail "$TMP/posix.out" dump -t "$pid" -D "$TMP/img-posix"
assert_output_has "$TMP/posix.out" "POSIX timer" "dump of pid $pid holding a POSIX timer"
[ ! -e "$TMP/img-posix/inventory.img" ] || die "a refused dump left an image behind"
assert_alive "$pid" "after a refused dump"
say "POSIX timer refused: $(head -n 1 "$TMP/posix.out")"
zoo_check timers
wait_gone "$pid" 5
mv "$TMP/timers.log" "$TMP/timers-posix.log"

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
