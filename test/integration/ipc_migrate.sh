#!/bin/bash
# ipc_migrate: System V IPC by live migration. The zoo program "sysvipc" runs in host a in
# an IPC namespace of its own (unshare --ipc) and migrates to host b with each dirty tracker
# that works here: its segments, semaphores and queue are made again in a new IPC namespace
# in b (the records of the freeze window), its attachments put back, and it checks ids,
# owners, modes, contents, messages and attachments itself. The daemon's --images-dir copy
# holds ipc.img and loads. The same program in the host's IPC namespace is refused by name
# and keeps running untouched. A tree ("sysvipc CHECK tree": a child inheriting the
# attachments) migrates the same way, with each tracker: in b, parent and child share one new
# IPC namespace (the root unshares it before it forks the child), the child has its
# attachments back, and the parent checks the child's own verdict on them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
live_need
hosts_init

trackers_pick

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
mkdir -p "$TMP/images"
DST_ARGS=(--images-dir "$TMP/images")
dst_start b

ns_of() { stat -L -c %i "/proc/$1/ns/ipc"; }

# ipc_start HOST [ARG]: sysvipc in a new IPC namespace inside HOST (unshare execs it: same
# pid).
ipc_start() {
	local host=$1
	shift
	ZOO_LOG=$TMP/sysvipc.log
	ZOO_CHECK=$TMP/sysvipc.check
	rm -f "$ZOO_CHECK" "$ZOO_LOG"
	host_spawn "$host" "$ZOO_LOG" unshare --ipc "$ZOO/sysvipc" "$ZOO_CHECK" "$@"
	ZOO_PID=$HOST_SPAWNED
	wait_line "$ZOO_LOG" "^READY $ZOO_PID\$"
	ZOO_HPID=$(host_pid "$host" "$ZOO_PID") || die "host $host: no pid $ZOO_PID after READY"
	track_pid "$ZOO_HPID"
}

# --- the host's IPC namespace: refused by name, the process untouched
host_zoo_start a sysvipc host
pid=$ZOO_PID
mig_to a "$pid" b
[ "$MIG_RC" -ne 0 ] || die "a process attaching a host segment migrated: $(mig_what)"
assert_output_has "$LAST_ERR" \
	"pid $pid attaches SysV shared memory segment key 0x[0-9a-f]+ id [0-9]+ .*own IPC namespace" \
	"migration of pid $pid attaching a segment of the host"
assert_alive "$ZOO_HPID" "after a refused migration"
[ "$(grep -c '^State:.*[tT]' "/proc/$ZOO_HPID/status")" -eq 0 ] || die "pid $pid left stopped"
zoo_check sysvipc
host_wait_gone a "$pid" 5
say "host namespace refused: $(grep -m1 SysV "$LAST_ERR")"

for tracker in "${TRACKERS[@]}"; do
	ipc_start a
	pid=$ZOO_PID
	sleep 0.3
	mig_ok a "$pid" b --tracker "$tracker"
	host_wait_gone a "$pid" 5
	hpid=$(host_pid b "$pid") || die "$tracker: no pid $pid in host b after the migration"
	track_pid "$hpid"
	[ "$(ns_of "$hpid")" != "$(ns_of $$)" ] ||
		die "$tracker: migrated pid $pid is in the host's IPC namespace"
	grep -q 'SYSV5a1c0001' "/proc/$hpid/maps" ||
		die "$tracker: segment A is not attached in b"
	zoo_check sysvipc
	host_wait_gone b "$pid" 5
	say "sysvipc: a -> b with $tracker, new IPC namespace, PASS"
done

# --- a tree: parent and child in one IPC namespace of their own, the child attached
for tracker in "${TRACKERS[@]}"; do
	ipc_start a tree
	pid=$ZOO_PID
	child=
	for ((i = 0; i < 100; i++)); do
		child=$(host_run a cat "/proc/$pid/task/$pid/children" | awk '{ print $1 }')
		[ -n "$child" ] && break
		sleep 0.05
	done
	[ -n "$child" ] || die "sysvipc tree: no child of pid $pid in a"
	track_pid "$(host_pid a "$child")"
	sleep 0.3
	mig_ok a "$pid" b --tracker "$tracker"
	host_wait_gone a "$pid" 5
	host_wait_gone a "$child" 5
	hpid=$(host_pid b "$pid") || die "$tracker: no pid $pid in host b after the migration"
	hchild=$(host_pid b "$child") || die "$tracker: no child $child in host b"
	track_pid "$hpid"
	track_pid "$hchild"
	[ "$(ns_of "$hpid")" != "$(ns_of $$)" ] ||
		die "$tracker: migrated pid $pid is in the host's IPC namespace"
	[ "$(ns_of "$hchild")" = "$(ns_of "$hpid")" ] ||
		die "$tracker: migrated child $child is not in its parent's IPC namespace"
	grep -q 'SYSV5a1c0001' "/proc/$hchild/maps" ||
		die "$tracker: segment A is not attached in the child in b"
	zoo_check sysvipc
	host_wait_gone b "$pid" 5
	say "sysvipc tree: a -> b with $tracker, parent and child in one new IPC namespace, PASS"
done

# The daemon's image directory of the last migration holds ipc.img and loads.
dir=$(ls -d "$TMP/images"/*/ 2>/dev/null | tail -n 1)
[ -n "$dir" ] && [ -s "$dir/ipc.img" ] || die "no ipc.img in the daemon's images: $(ls -R "$TMP/images")"
"$MIGRATE" show "$dir" >"$TMP/show.out" 2>&1 || die "migrate show $dir failed"
assert_output_has "$TMP/show.out" "msgmnb" "migrate show of the migrated ipc.img"
say "--images-dir: $dir holds ipc.img"
