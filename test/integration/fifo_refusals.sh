#!/bin/bash
# fifo_refusals: what a FIFO needs around it, on both sides.
#  - dump of a process whose FIFO another process also holds: refused, naming the FIFO, the
#    fd and the other holder; the process runs on untouched, its unread data still there;
#  - restore when the FIFO's path is missing, then when it is a regular file: refused by
#    name, no process left;
#  - restore onto a FIFO made again at the same path (another inode, as on another host):
#    the program finds exactly its unread data there (zoo fifo verifies itself).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

# assert_untouched PID: running (not stopped, not traced) after a refused dump.
assert_untouched() {
	local state tracer
	assert_alive "$1" "after a refused dump"
	state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat")
	tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$1/status")
	[ "$state" != T ] && [ "$state" != t ] || die "pid $1 left stopped (state $state)"
	[ "$tracer" = 0 ] || die "pid $1 traced by $tracer after a refused dump"
}

zoo_start fifo
pid=$ZOO_PID
fifo=$TMP/fifo-$pid.fifo
[ -p "$fifo" ] || die "zoo fifo made no FIFO at $fifo"

# --- another process holds the FIFO too
lib_spawn "$TMP/holder.out" bash -c 'exec sleep 600 3<>"$0"' "$fifo"
holder=$!
track_pid "$holder"
for ((i = 0; i < 100; i++)); do
	[ "$(readlink "/proc/$holder/fd/3" 2>/dev/null)" = "$fifo" ] && break
	sleep 0.05
done
[ "$(readlink "/proc/$holder/fd/3" 2>/dev/null)" = "$fifo" ] ||
	die "the holder (pid $holder) did not open $fifo"
mig_expect_fail "$TMP/shared.out" dump -t "$pid" -D "$TMP/img-shared"
assert_output_has "$TMP/shared.out" "FIFO $fifo" "dump of a shared FIFO (names the FIFO)"
assert_output_has "$TMP/shared.out" "pid $holder \\(sleep\\)" \
	"dump of a shared FIFO (names the other holder)"
assert_output_has "$TMP/shared.out" "fd 1[0-3] of pid $pid" "dump of a shared FIFO (names the fd)"
[ ! -e "$TMP/img-shared/inventory.img" ] || die "a refused dump left an image behind"
assert_untouched "$pid"
say "dump of a FIFO shared with pid $holder refused: $(head -n 1 "$TMP/shared.out")"
kill -KILL "$holder"
wait_gone "$holder" 5

# --- a good dump (kills the program: nobody holds the FIFO, its bytes live in the image only)
sleep 0.2
mig_dump "$pid" "$TMP/img"
wait_gone "$pid" 5
wait_reaped "$pid" 5

# restore_refused NAME REGEX: refused with a message matching REGEX, no process.
restore_refused() {
	mig_expect_fail "$TMP/$1.out" restore -D "$TMP/img" --restore-detached
	assert_output_has "$TMP/$1.out" "$2" "restore with $1"
	sleep 0.2
	! is_alive "$pid" || die "restore with $1 was refused but pid $pid runs"
	say "restore with $1 refused: $(grep -m1 -i fifo "$TMP/$1.out")"
}

mv "$fifo" "$fifo.away"
restore_refused "the FIFO missing" "FIFO $fifo, which is missing"
echo "not a fifo" >"$fifo"
restore_refused "a regular file at the FIFO's path" "FIFO $fifo, which is no longer a FIFO"
rm -f "$fifo" "$fifo.away"
mkfifo -m 600 "$fifo"

# --- a FIFO made again (another inode): restored there, every byte once
mig_restore "$TMP/img"
assert_alive "$pid" "fifo restored onto a new FIFO"
track_pid "$pid"
sleep 0.2
zoo_check fifo
wait_gone "$pid" 5
say "restored onto a FIFO made again at $fifo: PASS"
