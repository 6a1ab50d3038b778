#!/bin/bash
# ipc_local: System V IPC. The zoo program "sysvipc", run in an IPC namespace of its own
# (unshare --ipc), goes through dump and restore with its segments, semaphores and queue;
# it checks ids, keys, owners, modes, contents, messages and its attachments itself. The
# restored process has a new IPC namespace; so has a tree (a child inheriting the attachments),
# whose members share it. The same program in the host's namespace is
# refused by name (its segment is the host's) and left running untouched; an image whose
# ipc.img is missing or damaged is refused before anything is created.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"
command -v unshare >/dev/null || skip "unshare (util-linux) is missing"

# ipc_start [ARG]: sysvipc in a new IPC namespace (unshare execs it: same pid).
ipc_start() {
	ZOO_LOG=$TMP/sysvipc.log
	ZOO_CHECK=$TMP/sysvipc.check
	rm -f "$ZOO_CHECK"
	lib_spawn "$ZOO_LOG" unshare --ipc "$ZOO/sysvipc" "$ZOO_CHECK" "$@"
	ZOO_PID=$!
	wait_line "$ZOO_LOG" "^READY $ZOO_PID\$"
	track_pid "$ZOO_PID"
}

ns_of() { stat -L -c %i "/proc/$1/ns/ipc"; }

# --- host namespace: refused by name, nothing changed
zoo_start sysvipc host
pid=$ZOO_PID
mig_expect_fail "$TMP/host.out" dump -t "$pid" -D "$TMP/img-host"
assert_output_has "$TMP/host.out" \
	"pid $pid attaches SysV shared memory segment key 0x[0-9a-f]+ id [0-9]+ .*own IPC namespace" \
	"dump of pid $pid attaching a segment of the host"
[ ! -e "$TMP/img-host/inventory.img" ] || die "a refused dump left an image behind"
[ "$(grep -c '^State:.*[tT]' "/proc/$pid/status")" -eq 0 ] || die "pid $pid left stopped"
assert_alive "$pid" "after a refused dump"
say "host namespace refused: $(head -n 1 "$TMP/host.out")"
zoo_check sysvipc
wait_gone "$pid" 5
mv "$TMP/sysvipc.log" "$TMP/sysvipc-host.log"

# --- a segment removed (IPC_RMID) while attached: refused by name, nothing changed
ipc_start rmid
pid=$ZOO_PID
mig_expect_fail "$TMP/rmid.out" dump -t "$pid" -D "$TMP/img-rmid"
assert_output_has "$TMP/rmid.out" \
	"IPC namespace of pid $pid: SysV shared memory segment key 0x00000000 id [0-9]+ is removed" \
	"dump of pid $pid attaching a removed segment"
[ ! -e "$TMP/img-rmid/inventory.img" ] || die "a refused dump left an image behind"
[ "$(grep -c '^State:.*[tT]' "/proc/$pid/status")" -eq 0 ] || die "pid $pid left stopped"
assert_alive "$pid" "after a refused dump"
say "removed segment refused: $(head -n 1 "$TMP/rmid.out")"
zoo_check sysvipc
wait_gone "$pid" 5
mv "$TMP/sysvipc.log" "$TMP/sysvipc-rmid.log"

# --- own namespace: dump, restore, self-check
ipc_start
pid=$ZOO_PID
sleep 0.2
mig_dump "$pid" "$TMP/img"
wait_gone "$pid" 5
wait_reaped "$pid" 5
[ -s "$TMP/img/ipc.img" ] || die "the dump wrote no ipc.img"
"$MIGRATE" show "$TMP/img" >"$TMP/show.out" 2>&1 || die "migrate show failed"
assert_output_has "$TMP/show.out" "msgmnb" "migrate show of ipc.img (settings)"
assert_output_has "$TMP/show.out" "VMA_SYSV_SHM" "migrate show of the attachments"

# A missing ipc.img is refused before anything is created.
cp -a "$TMP/img" "$TMP/img-noipc"
rm "$TMP/img-noipc/ipc.img"
mig_expect_fail "$TMP/noipc.out" restore -D "$TMP/img-noipc" --restore-detached
assert_output_has "$TMP/noipc.out" "ipc.img" "restore without ipc.img"
[ ! -e "/proc/$pid" ] || die "a refused restore left pid $pid behind"
# A truncated one too.
cp -a "$TMP/img" "$TMP/img-cut"
truncate -s -5 "$TMP/img-cut/ipc.img"
mig_expect_fail "$TMP/cut.out" restore -D "$TMP/img-cut" --restore-detached
assert_output_has "$TMP/cut.out" "ipc.img" "restore with a truncated ipc.img"
[ ! -e "/proc/$pid" ] || die "a refused restore left pid $pid behind"
say "missing and truncated ipc.img refused"

mig_restore "$TMP/img"
assert_alive "$pid" "sysvipc restored"
track_pid "$pid"
[ "$(ns_of "$pid")" != "$(ns_of $$)" ] || die "restored pid $pid is in our IPC namespace"
grep -q 'SYSV5a1c0001' "/proc/$pid/maps" || die "segment A is not attached after restore"
zoo_check sysvipc
wait_gone "$pid" 5
say "sysvipc: dump, restore in a new IPC namespace, PASS"

# --- a tree: the child inherited the attachments; both come back in one new namespace
mv "$TMP/sysvipc.log" "$TMP/sysvipc-ns.log"
ipc_start tree
pid=$ZOO_PID
child=
for ((i = 0; i < 100; i++)); do
	child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null | awk '{ print $1 }')
	[ -n "$child" ] && break
	sleep 0.05
done
[ -n "$child" ] || die "sysvipc tree: no child of pid $pid"
track_pid "$child"
mig_dump "$pid" "$TMP/img-tree"
wait_gone "$pid" 5
wait_gone "$child" 5
mig_restore "$TMP/img-tree"
assert_alive "$pid" "sysvipc tree restored"
assert_alive "$child" "the child of sysvipc tree restored"
track_pid "$pid"
track_pid "$child"
[ "$(ns_of "$pid")" != "$(ns_of $$)" ] || die "restored pid $pid is in our IPC namespace"
[ "$(ns_of "$child")" = "$(ns_of "$pid")" ] ||
	die "restored child $child is not in its parent's IPC namespace"
grep -q 'SYSV5a1c0001' "/proc/$child/maps" || die "segment A is not attached in the child"
zoo_check sysvipc
wait_gone "$pid" 5
say "sysvipc tree: dump, restore, parent and child in one new IPC namespace, PASS"
