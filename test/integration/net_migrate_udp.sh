#!/bin/bash
# net_migrate_udp: a UDP echo server migrates and a client's later datagrams
# reach it in host b. test/hosts/netpeer.py udp-server binds the service
# address in host a (port 9090) and answers each datagram with its count of
# datagrams and its host name; netpeer.py udp-client in host c sends one every
# 10 ms on a connected socket. After the migration to b (--move-ip), the
# answers come from b, from the same process (its count goes on: the client
# fails on a count that does not grow), and b's answers keep coming. UDP may
# lose the datagrams of the freeze window: that is not checked. No nftables
# table is left in a or b.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
net_need --move-ip
hosts_init
net_hosts 4
port=9090

host_py_start a udp-server netpeer.py udp-server "$TMP/udp-server.check" "$SVC_IP" $port
server=$PY_PID
host_py_start c udp-client netpeer.py udp-client "$TMP/udp-client.check" "$SVC_IP" $port 0.01
wait_line "$TMP/udp-client.log" '^reply .* host=a$' 10 20

mig_ok a "$server" b --move-ip --json
say "migrated in a freeze window of $(mig_json 'j["freeze_window"]["total_ms"]') ms"
host_wait_gone a "$server" 10
host_alive b "$server" || die "expected the UDP server (pid $server) running in host b"
wait_line "$TMP/udp-client.log" '^reply .* host=b$' 20 50
touch "$TMP/udp-client.check"
wait_line "$TMP/udp-client.log" '^(PASS|FAIL) udp-client'
grep -q '^PASS udp-client' "$TMP/udp-client.log" ||
	die "the client failed: $(grep '^FAIL' "$TMP/udp-client.log")"
done_line=$(grep '^DONE ' "$TMP/udp-client.log")
say "client: $done_line"
[[ $done_line == *" hosts=a,b" ]] ||
	die "expected the answers from host a, then only from host b, saw: $done_line"
touch "$TMP/udp-server.check"
wait_line "$TMP/udp-server.log" '^PASS udp-server'
host_has_addr b "$SVC_IP" || die "expected the service address $SVC_IP on host b"
! host_has_addr a "$SVC_IP" || die "expected the service address $SVC_IP gone from host a"
net_assert_clean "after the migration" a b
