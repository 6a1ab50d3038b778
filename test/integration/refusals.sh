#!/bin/bash
# refusals: a process holding an fd of a kind migrate does not carry (io_uring, BPF map,
# userfaultfd, perf_event, fanotify, pidfd, a character or block device other than null,
# zero, full, random, urandom and terminals) is refused by `migrate dump` AND by
# `migrate --to`, before it is touched: the exit status is 1, the message names fd 9 and
# its kind (and a device's path and major:minor), no image is left, the process runs on
# neither stopped nor traced, and the zoo program "refuse" then checks that its fd is the
# same file and still works (a NOP through the ring, the map's value, the registration,
# the counter, the pidfd). A process traced by someone else is refused by `migrate --to`
# naming the tracer (errors.sh checks `migrate dump`).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"

# A block device this machine lets us open (loop devices exist on most), or nothing.
block_dev=
for dev in /dev/loop0 /dev/loop1 /dev/zram0; do
	if [ -b "$dev" ] && (exec 3<"$dev") 2>/dev/null; then
		block_dev=$dev
		break
	fi
done
kmsg_nums="$(printf '%d:%d' "0x$(stat -c %t /dev/kmsg)" "0x$(stat -c %T /dev/kmsg)")"

# CASES: "ARGS|REGEX" (ARGS for the zoo program refuse; REGEX the refusal must match).
CASES=(
	"io_uring|fd 9 is an io_uring \\(anon_inode:\\[io_uring\\]\\)"
	"bpf|fd 9 is a BPF object \\(anon_inode:bpf-map\\)"
	"userfaultfd|fd 9 is a userfaultfd \\(anon_inode:\\[userfaultfd\\]\\)"
	"perf_event|fd 9 is a perf_event \\(anon_inode:\\[perf_event\\]\\)"
	"fanotify|fd 9 is a fanotify instance \\(anon_inode:\\[fanotify\\]\\)"
	"pidfd|fd 9 is a pidfd \\(anon_inode:\\[pidfd\\]\\)"
	"device /dev/kmsg|fd 9 is a device \\(/dev/kmsg, character device $kmsg_nums\\)"
)
if [ -n "$block_dev" ]; then
	nums="$(printf '%d:%d' "0x$(stat -c %t "$block_dev")" "0x$(stat -c %T "$block_dev")")"
	CASES+=("device $block_dev|fd 9 is a device \\($block_dev, block device $nums\\)")
else
	say "no block device can be opened here: the block device case is not tested"
fi

# assert_untouched PID (as seen from here): running, neither stopped nor traced.
assert_untouched() {
	local state tracer
	assert_alive "$1" "after a refused ${2:-dump}"
	state=$(awk '/^State:/ { print $2 }' "/proc/$1/status")
	[ "$state" != T ] && [ "$state" != t ] || die "pid $1 left stopped ($state)"
	tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$1/status")
	[ "$tracer" = 0 ] || die "pid $1 left traced by $tracer"
}

# refuse_started LOG: READY (0) or SKIP (1) from the zoo program refuse.
refuse_started() {
	wait_line "$1" '^(READY|SKIP)'
	! grep -q '^SKIP' "$1"
}

# dump_refused ARGS REGEX: migrate dump of refuse ARGS fails as it must.
dump_refused() {
	local args=$1 regex=$2 pid log=$TMP/refuse.log tag=${1// /-}
	tag=${tag//\//_}
	rm -f "$TMP/refuse.check" "$log"
	# shellcheck disable=SC2086 # ARGS are words
	lib_spawn "$log" "$ZOO/refuse" "$TMP/refuse.check" $args
	pid=$!
	if ! refuse_started "$log"; then
		say "dump: $args: $(grep '^SKIP' "$log") (not tested)"
		return 0
	fi
	track_pid "$pid"
	mig_expect_fail "$TMP/dump-$tag.out" dump -t "$pid" -D "$TMP/img-$tag"
	assert_output_has "$TMP/dump-$tag.out" "$regex" "dump of refuse $args (pid $pid)"
	[ ! -e "$TMP/img-$tag/inventory.img" ] || die "refused dump of $args left an image"
	assert_untouched "$pid"
	sleep 0.3 # its main loop counts on meanwhile, and checks it did
	zoo_check refuse
	wait_gone "$pid" 5
	mv "$log" "$TMP/refuse-dump-$tag.log"
	say "dump: $(head -n 1 "$TMP/dump-$tag.out")"
}

# migrate_refused ARGS REGEX: migrate --to b of refuse ARGS in host a fails as it must.
migrate_refused() {
	local args=$1 regex=$2 tag=${1// /-}
	tag=${tag//\//_}
	rm -f "$TMP/refuse.check" "$TMP/refuse.log"
	# shellcheck disable=SC2086 # ARGS are words
	host_spawn a "$TMP/refuse.log" "$ZOO/refuse" "$TMP/refuse.check" $args
	if ! refuse_started "$TMP/refuse.log"; then
		say "migrate: $args: $(grep '^SKIP' "$TMP/refuse.log") (not tested)"
		return 0
	fi
	ZOO_PID=$HOST_SPAWNED
	ZOO_HPID=$(host_pid a "$ZOO_PID") || die "host a: no pid $ZOO_PID after READY"
	track_pid "$ZOO_HPID"
	mig_to a "$ZOO_PID" b
	mig_rc_is 1 "migrate --to of refuse $args"
	assert_output_has "$LAST_ERR" "$regex" "migrate --to of refuse $args"
	assert_untouched "$ZOO_HPID" "migration"
	dst_assert_clean b "$ZOO_PID" "refused migration of refuse $args"
	sleep 0.3
	zoo_check refuse
	wait_gone "$ZOO_HPID" 5
	mv "$TMP/refuse.log" "$TMP/refuse-migrate-$tag.log"
	say "migrate --to: $(grep -m1 "fd 9" "$LAST_ERR")"
}

for c in "${CASES[@]}"; do
	dump_refused "${c%%|*}" "${c#*|}"
done

live_need
hosts_init
host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
dst_start b
for c in "${CASES[@]}"; do
	migrate_refused "${c%%|*}" "${c#*|}"
done

# --- traced by someone else: migrate --to names the tracer, the process runs on.
if command -v strace >/dev/null; then
	host_zoo_start a counter
	host_spawn a "$TMP/strace.out" strace -q -o /dev/null -p "$ZOO_PID"
	tracer=$HOST_SPAWNED
	for ((i = 0; i < 100; i++)); do
		[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$ZOO_HPID/status")" != 0 ] && break
		sleep 0.05
	done
	mig_to a "$ZOO_PID" b
	mig_rc_is 1 "migrate --to of a traced counter"
	assert_output_has "$LAST_ERR" "traced by pid $tracer \\(strace\\)" \
		"migrate --to of counter $ZOO_PID traced by strace $tracer"
	host_run a kill -TERM "$tracer"
	for ((i = 0; i < 100; i++)); do
		[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$ZOO_HPID/status")" = 0 ] && break
		sleep 0.05
	done
	assert_untouched "$ZOO_HPID" "migration"
	dst_assert_clean b "$ZOO_PID" "refused migration of a traced counter"
	zoo_check counter
	assert_consecutive "$ZOO_LOG"
	say "migrate --to: $(grep -m1 "traced" "$LAST_ERR")"
else
	say "no strace here: the traced case is left to errors.sh"
fi
