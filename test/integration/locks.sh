#!/bin/bash
# locks: a process holding a flock, a POSIX and an OFD lock is refused without --file-locks
# (by fd, path and kind, left running untouched); with it, dump and restore bring the three
# locks back (the zoo program "locks" checks itself from a forked child).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

# --- without --file-locks: refused before the process is touched
zoo_start locks
pid=$ZOO_PID
mig_expect_fail "$TMP/refused.out" dump -t "$pid" -D "$TMP/img-refused"
assert_output_has "$TMP/refused.out" "locks\.(flock|posix|ofd).*lock.*--file-locks" \
	"dump of pid $pid holding file locks"
[ ! -e "$TMP/img-refused/inventory.img" ] || die "a refused dump left an image behind"
assert_alive "$pid" "after a refused dump"
say "locks refused: $(head -n 1 "$TMP/refused.out")"
zoo_check locks
wait_gone "$pid" 5
mv "$TMP/locks.log" "$TMP/locks-refused.log"

# --- with --file-locks: dump, restore, self-check
zoo_start locks
pid=$ZOO_PID
mig_dump "$pid" "$TMP/img" --file-locks
wait_gone "$pid" 5
wait_reaped "$pid" 5
mig_restore "$TMP/img" --file-locks
assert_alive "$pid" "locks restored"
zoo_check locks
wait_gone "$pid" 5
say "locks: refusal, dump, restore, PASS"
