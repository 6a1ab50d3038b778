#!/bin/bash
# migrate_pipeline: a shell pipeline with data queued in its pipes migrates live from host a
# to host b mid-stream and writes there exactly what an undisturbed run writes:
#
#	bash -c 'pipeline produce N | pipeline relay | LC_ALL=C sort | pipeline consume > out'
#
# The migration comes while the producer still runs (the pipe to the slow relay is full):
# bash and its four children move together with their pipes (unread data included); in b
# the pipeline finishes, and its output file is compared with the reference byte for byte.
# Nothing of it is left in a; the daemon is left clean.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
live_need
hosts_init
command -v sort >/dev/null || skip "no sort"

LINES=40001
P=$ZOO/pipeline
pipeline_cmd() {
	echo "$P produce $LINES | $P relay | LC_ALL=C sort -S 64M | $P consume > $1"
}

bash -c "$(pipeline_cmd "$TMP/ref.out")"
ref_size=$(stat -c %s "$TMP/ref.out")
[ "$ref_size" -gt 500000 ] || die "the reference run wrote only $ref_size bytes"

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
dst_start b

# One try: the pipeline started in a, migrated while its producer runs. Status 0: it moved;
# 1: the tree changed during pre-copy (a stage exited), refused with a retry, and the
# pipeline must then run on in a.
try_once() {
	local members
	rm -f "$TMP/out"
	host_spawn a "$TMP/pipeline.log" bash -c "$(pipeline_cmd "$TMP/out")"
	pid=$HOST_SPAWNED
	track_pid "$(host_pid a "$pid")"
	for ((i = 0; i < 100; i++)); do
		members=$(host_run a cat "/proc/$pid/task/$pid/children" | wc -w)
		[ "$members" -ge 4 ] && break
		sleep 0.05
	done
	[ "$members" -ge 4 ] || die "the pipeline in a has $members stages, expected 4"
	sleep 0.3
	[ "$(stat -c %s "$TMP/out")" -eq 0 ] || die "too late: the consumer has written already"
	mig_to a "$pid" b --json
	[ "$MIG_RC" -eq 0 ] && return 0
	grep -q "retry" "$LAST_ERR" || die "the migration failed: $(mig_what)"
	say "the pipeline changed during pre-copy ($(grep -o 'pid [0-9]* [a-z]* the tree' \
		"$LAST_ERR" | head -n 1)): refused, it runs on in a"
	host_wait_gone a "$pid" 30
	cmp "$TMP/ref.out" "$TMP/out" || die "after a refused migration, the output differs"
	return 1
}

moved=
for try in 1 2 3; do
	if try_once; then
		moved=$try
		break
	fi
done
[ -n "$moved" ] || die "the pipeline never migrated in 3 tries"
procs=$(mig_json 'j["processes"]')
[ "$procs" -ge 5 ] || die "the report counts $procs processes, expected bash and 4 stages"
host_wait_gone a "$pid" 5
host_alive b "$pid" || die "the pipeline's bash is not running in b"
say "migrated on try $moved: $procs processes, output at $(stat -c %s "$TMP/out") bytes" \
	"($(mig_json '"%d rounds, freeze window %.1f ms" % (len(j["rounds"]), j["freeze_window"]["total_ms"])'))"
host_wait_gone b "$pid" 60
cmp "$TMP/ref.out" "$TMP/out" ||
	die "the output differs from the undisturbed run's ($(stat -c %s "$TMP/out") bytes," \
		"expected $ref_size)"
dst_assert_clean b 0 "after the pipeline"
say "output identical to the undisturbed run ($ref_size bytes)"
