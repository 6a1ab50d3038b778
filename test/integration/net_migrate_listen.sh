#!/bin/bash
# net_migrate_listen: a listening server with no client migrates, and new
# connections reach it in host b. The web server of net_migrate_web.sh
# listens on the service address in host a; three requests from host c, each
# on a new connection, get counts 1..3 from a; it migrates to b with
# --move-ip (no connection: --tcp-established is not needed); three more
# new connections get counts 4..6 from b (the same process, its count goes
# on), through the address now on b, announced to c. No nftables table is
# left in a or b.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
net_need --move-ip
hosts_init
net_hosts 4

# get_counted N HOST: request id N on a new connection, answered from HOST.
get_counted() {
	local body
	body=$(web_get c "/req?id=$1")
	[ "$body" = "count=$1 id=$1 host=$2" ] ||
		die "expected 'count=$1 id=$1 host=$2' on a new connection, got '$body'"
}

host_py_start a web webserver.py "$TMP/web.check" "$SVC_IP" "$SVC_PORT"
web=$PY_PID
for i in 1 2 3; do
	get_counted $i a
done
[ -z "$(host_run a ss -Htn state established "( sport = :$SVC_PORT )")" ] ||
	die "expected no connection left to the server before the migration"

mig_ok a "$web" b --move-ip --json
say "migrated in a freeze window of $(mig_json 'j["freeze_window"]["total_ms"]') ms"
host_wait_gone a "$web" 10
host_alive b "$web" || die "expected the web server (pid $web) running in host b"
host_run b ss -Hltn "sport = :$SVC_PORT" | grep -q . ||
	die "expected the server's socket listening in host b"
for i in 4 5 6; do
	get_counted $i b
done
touch "$TMP/web.check"
wait_line "$TMP/web.log" '^(PASS|FAIL) webserver'
grep -q '^PASS webserver' "$TMP/web.log" || die "the server's own check failed"
host_has_addr b "$SVC_IP" || die "expected the service address $SVC_IP on host b"
! host_has_addr a "$SVC_IP" || die "expected the service address $SVC_IP gone from host a"
net_assert_clean "after the migration" a b
