#!/bin/bash
# pty: pseudo-terminal pairs a process opened itself (the zoo program "pty" checks itself:
# termios, window sizes, modes, dups, controlling terminal, the data queued both ways exactly
# once). The dump takes the queued data out and puts it back at once: two dumps with
# --leave-running leave the process with all of it, and a third dump carries it to a restore.
# A master whose slave the process does not hold is refused by name, the process untouched.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

# --- a master without its slave: refused before the process is touched
zoo_start pty master-only
pid=$ZOO_PID
mig_expect_fail "$TMP/master-only.out" dump -t "$pid" -D "$TMP/img-master-only"
assert_output_has "$TMP/master-only.out" \
	"fd 20 of pid $pid is the master of pseudo-terminal /dev/pts/[0-9]+, whose slave" \
	"dump of pid $pid holding a pty master without its slave"
[ ! -e "$TMP/img-master-only/inventory.img" ] || die "a refused dump left an image behind"
[ "$(grep -c '^State:.*[tT]' "/proc/$pid/status")" -eq 0 ] || die "pid $pid left stopped"
assert_alive "$pid" "after a refused dump"
say "master without slave refused: $(head -n 1 "$TMP/master-only.out")"
zoo_check pty
wait_gone "$pid" 5
mv "$TMP/pty.log" "$TMP/pty-master-only.log"

# --- two dumps that leave it running, then one that kills it, and a restore
zoo_start pty
pid=$ZOO_PID
mig_dump "$pid" "$TMP/img-run1" --leave-running
mig_dump "$pid" "$TMP/img-run2" --leave-running
assert_alive "$pid" "after two dumps with --leave-running"
mig_dump "$pid" "$TMP/img"
wait_gone "$pid" 5
wait_reaped "$pid" 5
mig_restore "$TMP/img"
assert_alive "$pid" "pty restored"
sleep 0.3
zoo_check pty
wait_gone "$pid" 5
say "pty: two dumps left running, dump, restore, PASS"
