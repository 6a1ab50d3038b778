#!/bin/bash
# errors: every refusal is clear and changes nothing.
#   dump:    a PID that does not exist; a process traced by another (strace);
#            a process holding a FIFO, or a socket (unsupported fds)
#   restore: a missing directory; a truncated core image; a corrupted magic;
#            a truncated pages image; its PID held by another live process
# Each must exit non-zero with a message naming the culprit; a dumped process
# goes on untouched and passes its own checks; a refused restore creates no
# process. At the end the image refused for a taken PID restores fine.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"
command -v strace >/dev/null || skip "needs strace (apt-get install strace)"

# assert_untouched PID: running (not stopped, not traced) after a refused dump.
assert_untouched() {
	local state tracer
	assert_alive "$1" "after a refused dump"
	state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat")
	tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$1/status")
	[ "$state" != T ] && [ "$state" != t ] || die "pid $1 left stopped (state $state)"
	[ "$tracer" = "${2:-0}" ] ||
		die "pid $1 traced by $tracer after a refused dump, expected ${2:-0}"
}

# assert_no_image DIR: a refused dump leaves nothing that looks like an image.
assert_no_image() {
	[ ! -e "$1/inventory.img" ] || die "a refused dump left $1/inventory.img behind"
}

# --- dump of a PID that does not exist
pid_max=$(cat /proc/sys/kernel/pid_max)
ghost=$((pid_max - 7))
[ ! -e "/proc/$ghost" ] || skip "pid $ghost exists, cannot test a missing pid"
mig_expect_fail "$TMP/ghost.out" dump -t "$ghost" -D "$TMP/img-ghost"
assert_output_has "$TMP/ghost.out" "\\b$ghost\\b" "dump of missing pid $ghost"
assert_no_image "$TMP/img-ghost"
say "dump of missing pid $ghost refused: $(head -n 1 "$TMP/ghost.out")"

# --- dump of a traced process: refused, names the tracer, process untouched
zoo_start counter
pid=$ZOO_PID
lib_spawn "$TMP/strace.out" strace -q -o /dev/null -p "$pid"
tracer=$!
track_pid "$tracer"
for ((i = 0; i < 100; i++)); do
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$pid/status")" = "$tracer" ] && break
	sleep 0.05
done
[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$pid/status")" = "$tracer" ] ||
	die "strace ($tracer) did not attach to $pid"
mig_expect_fail "$TMP/traced.out" dump -t "$pid" -D "$TMP/img-traced"
assert_output_has "$TMP/traced.out" "\\b$tracer\\b" "dump of pid $pid traced by strace $tracer"
assert_untouched "$pid" "$tracer"
assert_no_image "$TMP/img-traced"
kill -TERM "$tracer"
wait_gone "$tracer" 5
assert_untouched "$pid"
zoo_check counter
assert_consecutive "$ZOO_LOG"
wait_gone "$pid" 5
say "dump of a traced process refused: $(head -n 1 "$TMP/traced.out")"
mv "$ZOO_LOG" "$TMP/counter-traced.log"

# --- dump of a process holding a FIFO, then a socket (pipes are supported: zoo pipes)
for kind in fifo socket; do
	zoo_start badfd "$kind"
	pid=$ZOO_PID
	mig_expect_fail "$TMP/badfd-$kind.out" dump -t "$pid" -D "$TMP/img-$kind"
	assert_output_has "$TMP/badfd-$kind.out" "$kind" "dump of a process with a $kind"
	assert_output_has "$TMP/badfd-$kind.out" "\\b[78]\\b" \
		"dump of a process with a $kind at fds 7, 8"
	assert_untouched "$pid"
	assert_no_image "$TMP/img-$kind"
	sleep 0.2
	zoo_check badfd
	wait_gone "$pid" 5
	say "dump of a process with a $kind refused: $(head -n 1 "$TMP/badfd-$kind.out")"
	mv "$ZOO_LOG" "$TMP/badfd-$kind.log"
done

# --- restore refusals. One good image of a counter first.
zoo_start counter
pid=$ZOO_PID
sleep 0.3
mig_dump "$pid" "$TMP/img"
wait_gone "$pid" 5

# restore_refused NAME DIR REGEX: refused with a message matching REGEX, no process.
restore_refused() {
	mig_expect_fail "$TMP/$1.out" restore -D "$2" --restore-detached
	assert_output_has "$TMP/$1.out" "$3" "restore from $1"
	sleep 0.2
	! is_alive "$pid" || die "restore from $1 was refused but pid $pid runs"
	say "restore from $1 refused: $(head -n 1 "$TMP/$1.out")"
}

restore_refused missing-dir "$TMP/no-such-dir" "no-such-dir"

cp -a "$TMP/img" "$TMP/img-trunc"
core=$TMP/img-trunc/core-$pid.img
truncate -s $(($(stat -c %s "$core") / 2)) "$core"
restore_refused truncated-core "$TMP/img-trunc" "core-$pid"

cp -a "$TMP/img" "$TMP/img-magic"
printf 'XXXX' | dd of="$TMP/img-magic/core-$pid.img" bs=1 conv=notrunc status=none
restore_refused bad-magic "$TMP/img-magic" "core-$pid|magic"

cp -a "$TMP/img" "$TMP/img-pages"
pages=$TMP/img-pages/pages-$pid.img
truncate -s $(($(stat -c %s "$pages") - 4096)) "$pages"
restore_refused truncated-pages "$TMP/img-pages" "pages-$pid|pagemap-$pid"

# --- restore while another live process holds the PID
lib_spawn "$TMP/holder.out" "$ZOO/pidhold" "$pid" sleep 600
holder_parent=$!
track_pid "$holder_parent"
for ((i = 0; i < 100; i++)); do
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] && break
	sleep 0.05
done
[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] ||
	die "could not make a process with pid $pid: $(cat "$TMP/holder.out")"
track_pid "$pid"
mig_expect_fail "$TMP/taken.out" restore -D "$TMP/img" --restore-detached
assert_output_has "$TMP/taken.out" "\\b$pid\\b" "restore while pid $pid is held by sleep"
[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] || die "the holder of pid $pid was disturbed"
grep -qi sleep "$TMP/taken.out" || say "note: the message does not name the holder's program"
say "restore onto a taken pid refused: $(head -n 1 "$TMP/taken.out")"

# The refused image is intact: free the PID and it restores and passes.
kill -KILL "$pid"
wait_gone "$holder_parent" 5
wait_gone "$pid" 5
mig_restore "$TMP/img"
assert_alive "$pid" "counter restored after the refusals"
sleep 0.3
zoo_check counter
assert_consecutive "$ZOO_LOG"
