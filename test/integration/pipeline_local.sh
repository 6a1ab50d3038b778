#!/bin/bash
# pipeline_local: a shell pipeline with data queued in its pipes, dumped and restored twice
# mid-stream, writes exactly what an undisturbed run writes.
#
#	bash -c 'pipeline produce N | pipeline relay | LC_ALL=C sort | pipeline consume > out'
#
# First dump while the producer still runs (the pipe to the slow relay is full), second
# while the consumer drains sort's output (the pipe from sort is full, the producer and the
# relay are gone: sort's stdin is a pipe whose write end is closed everywhere). Each dump
# kills the whole tree (bash and its children), each restore brings it back with its pipes;
# the output file is then compared with the reference byte for byte.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

LINES=40001
P=$ZOO/pipeline
command -v sort >/dev/null || skip "no sort"
pipeline_cmd() {
	echo "$P produce $LINES | $P relay | LC_ALL=C sort -S 64M | $P consume > $1"
}

bash -c "$(pipeline_cmd "$TMP/ref.out")"
ref_size=$(stat -c %s "$TMP/ref.out")
[ "$ref_size" -gt 500000 ] || die "the reference run wrote only $ref_size bytes"

lib_spawn "$TMP/pipeline.log" bash -c "$(pipeline_cmd "$TMP/out")"
pid=$!
track_pid "$pid"
for ((i = 0; i < 100; i++)); do
	[ "$(tr -d ' \n' <"/proc/$pid/task/$pid/children" | wc -c)" -gt 0 ] && break
	sleep 0.05
done
sleep 0.3

# pipe_data_bytes DIR: the unread bytes the images carry, over all pipe fds.
pipe_data_bytes() {
	"$MIGRATE" show "$1" | sed -n 's/^ *pipe_data: \([0-9]*\) bytes.*/\1/p' |
		awk '{ n += $1 } END { print n + 0 }'
}

# round N: dump (kills the tree), restore, the same pids run again.
round() {
	local img=$TMP/img$1 members p
	members=$(ps -o pid= -s "$pid" | tr -d ' ' | sort -n)
	for p in $members; do track_pid "$p"; done
	mig_dump "$pid" "$img"
	for p in $members; do wait_gone "$p" 5; wait_reaped "$p" 10; done
	[ "$(pipe_data_bytes "$img")" -gt 0 ] || die "dump $1: no unread data in the pipes"
	mig_restore "$img"
	for p in $members; do assert_alive "$p" "round $1: restored member"; done
	say "round $1: $(echo $members | wc -w) processes, $(pipe_data_bytes "$img") bytes" \
		"queued in pipes, output at $(stat -c %s "$TMP/out") bytes"
}

round 1
[ "$(stat -c %s "$TMP/out")" -eq 0 ] || die "round 1 came too late: the consumer has written"
for ((i = 0; i < 200; i++)); do
	[ "$(stat -c %s "$TMP/out")" -gt 0 ] && break
	sleep 0.05
done
[ "$(stat -c %s "$TMP/out")" -gt 0 ] || die "the restored pipeline writes nothing"
sleep 0.2
[ "$(stat -c %s "$TMP/out")" -lt "$ref_size" ] || die "round 2 came too late: output complete"
round 2
wait_gone "$pid" 30
cmp "$TMP/ref.out" "$TMP/out" ||
	die "the output differs from the undisturbed run's ($(stat -c %s "$TMP/out") bytes," \
		"expected $ref_size)"
say "output identical to the undisturbed run ($ref_size bytes)"
