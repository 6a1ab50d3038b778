#!/bin/bash
# tree_net_migrate: live migration of a process tree whose processes share one established
# TCP connection (test/hosts/forkserver.py: the parent accepts it and forks; the child serves
# it, the parent keeps its own copy, and both hold the listener). A client in host c
# (webclient.py) sends a request every 5 ms on that ONE connection and checks every answer
# (its id, a count without gap or repeat, the host that made it). Then:
#   1. the destination's session dies after Commit (MIGRATE_DST_FAULT=before-ready: the
#      connection restored in b once, given to the second process, held in repair mode):
#      migrate exits 1, the tree runs on in a, untraced, the client served from a without a
#      break; no address, lock or process left anywhere;
#   2. `migrate --to b --tcp-established --move-ip` of the parent: both processes run in b and
#      not in a, the child still the parent's; the report counts the connection once; the
#      client's answers come from a, then only from b, the count unbroken, no reconnect; the
#      child serves on and, at the client's end of file, its own check passes; the address is
#      on b only and no nftables table is left.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
net_need --move-ip
hosts_init
net_hosts 4

host_spawn a "$TMP/srv.log" "$HOSTS_PY" -u "$HOSTS_SRC/forkserver.py" "$SVC_IP" "$SVC_PORT"
srv=$HOST_SPAWNED
wait_line "$TMP/srv.log" "^READY $srv\$"
srv_h=$(host_pid a "$srv") || die "host a: no forkserver (pid $srv)"
track_pid "$srv_h"
host_py_start c client webclient.py "$TMP/client.check" "$SVC_IP" "$SVC_PORT" 0.005
wait_line "$TMP/srv.log" '^child [0-9]+$'
child=$(sed -n 's/^child \([0-9]*\)$/\1/p' "$TMP/srv.log")
child_h=$(host_pid a "$child") || die "host a: no forkserver child (pid $child)"
track_pid "$child_h"
client_wait "$TMP/client.log" '^resp 100 ' 20
say "forkserver in a: parent $srv, child $child, one connection held by both"

# --- 1. the destination dies after Commit: rolled back ---------------------------------
dst_stop b
mv "$TMP/dst-b.log" "$TMP/dst-b.first.log"
dst_start b MIGRATE_DST_FAULT=before-ready
mig_to a "$srv" b --tcp-established --move-ip --json
mig_rc_is 1 "before-ready"
[ "$(mig_json 'j["verdict"]')" = resumed ] || die "before-ready: not resumed: $(mig_what)"
for p in "$srv_h" "$child_h"; do
	is_alive "$p" || die "before-ready: pid $p is gone from a"
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status")" = 0 ] ||
		die "before-ready: pid $p is left traced"
done
n=$(resp_count "$TMP/client.log")
client_wait "$TMP/client.log" "^resp $((n + 100)) " 20
! grep -q 'host=b' "$TMP/client.log" || die "before-ready: an answer came from b"
host_has_addr a "$SVC_IP" || die "before-ready: the service address left a"
! host_has_addr b "$SVC_IP" || die "before-ready: the service address is left on b"
net_assert_clean "before-ready: after the rolled-back migration" a b
dst_assert_clean b "$srv" "before-ready: after the rolled-back migration"
say "before-ready: migrate exited 1, the tree serves on in a, a and b clean"
dst_stop b
mv "$TMP/dst-b.log" "$TMP/dst-b.fault.log"
dst_start b

# --- 2. the migration --------------------------------------------------------------------
mig_ok a "$srv" b --tcp-established --move-ip --json
net=$(mig_json '[j["freeze_window"]["network"][k] for k in ("established", "ips_moved")]' |
	tr '\n' ' ')
[ "$net" = "1 1 " ] ||
	die "expected the report to count the shared connection once and 1 address moved;" \
		"freeze_window.network says: $(mig_json 'j["freeze_window"].get("network")')"
host_wait_gone a "$srv" 10
host_wait_gone a "$child" 10
host_alive b "$srv" || die "the parent (pid $srv) does not run in b"
host_alive b "$child" || die "the child (pid $child) does not run in b"
[ "$(host_run b cat "/proc/$child/stat" | sed -E 's/^[0-9]+ \(.*\) //' | awk '{ print $2 }')" \
	= "$srv" ] || die "in b, pid $child is not the child of pid $srv"
client_wait "$TMP/client.log" 'host=b' 20
first_b=$(grep -m1 'host=b' "$TMP/client.log" | awk '{ print $2 }')
client_wait "$TMP/client.log" "^resp $((first_b + 100)) " 20
touch "$TMP/client.check"
client_wait "$TMP/client.log" '^(PASS|FAIL) webclient' 70
grep -q '^PASS webclient' "$TMP/client.log" ||
	die "the client saw its connection break: $(grep -E '^(FAIL|DONE)' "$TMP/client.log")"
done_line=$(grep '^DONE ' "$TMP/client.log")
[[ $done_line == *" hosts=a,b" ]] ||
	die "expected the answers from host a, then only from host b, saw: $done_line"
wait_line "$TMP/srv.log" '^(PASS|FAIL) forkserver'
grep -q '^PASS forkserver' "$TMP/srv.log" || die "the child's check: $(grep '^FAIL' "$TMP/srv.log")"
host_has_addr b "$SVC_IP" || die "expected the service address $SVC_IP on host b"
! host_has_addr a "$SVC_IP" || die "expected the service address $SVC_IP gone from host a"
net_assert_clean "after the migration" a b
say "migrated: both processes in b, the shared connection unbroken ($done_line)"
