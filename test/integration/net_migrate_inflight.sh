#!/bin/bash
# net_migrate_inflight: data in flight crosses exactly once. test/hosts/
# netpeer.py stream-server in host a (service address, port 9091) and
# stream-client in host c hold one TCP connection; each writes its stream
# (8-byte offsets: a lost, repeated or misplaced byte shows) until its socket
# takes no more, and reads nothing: the server's receive queue and its send
# queue both hold unread data (ss: Recv-Q and Send-Q). The server migrates to
# b with --tcp-established --move-ip; in b the connection holds the same
# queues. Then both sides read and write 1 MiB more, half-close and read to
# the end: each received exactly what the other sent, every byte checked.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
net_need --move-ip
hosts_init
net_hosts 4
port=9091

# queues HOST: "RECV-Q SEND-Q" of the server's connection in HOST.
queues() {
	host_run "$1" ss -Htn state established "( sport = :$port )" | awk '{ print $1, $2 }'
}

host_py_start a stream-server netpeer.py stream-server "$TMP/go" "$SVC_IP" $port
server=$PY_PID
host_py_start c stream-client netpeer.py stream-client "$TMP/go" "$SVC_IP" $port
wait_line "$TMP/stream-server.log" '^FULL ' 20
wait_line "$TMP/stream-client.log" '^FULL ' 20
before=$(queues a)
read -r recvq sendq <<<"$before"
[ "${recvq:-0}" -gt 0 ] && [ "${sendq:-0}" -gt 0 ] ||
	die "expected data in both queues of the server's connection, ss says '$before'"
say "server's connection before: Recv-Q Send-Q = $before"

mig_ok a "$server" b --tcp-established --move-ip --json
say "migrated in a freeze window of $(mig_json 'j["freeze_window"]["total_ms"]') ms"
host_wait_gone a "$server" 10
host_alive b "$server" || die "expected the stream server (pid $server) running in host b"
after=$(queues b)
[ "$after" = "$before" ] ||
	die "expected the connection in b with the queues it had in a ($before), ss says '$after'"

touch "$TMP/go"
wait_line "$TMP/stream-server.log" '^(PASS|FAIL) ' 70
wait_line "$TMP/stream-client.log" '^(PASS|FAIL) ' 70
for side in server client; do
	grep -q "^PASS stream-$side" "$TMP/stream-$side.log" ||
		die "the $side failed: $(grep '^FAIL' "$TMP/stream-$side.log")"
done
s_sent=$(sed -n 's/^DONE sent=\([0-9]*\) got=.*/\1/p' "$TMP/stream-server.log")
s_got=$(sed -n 's/^DONE sent=[0-9]* got=\([0-9]*\)/\1/p' "$TMP/stream-server.log")
c_sent=$(sed -n 's/^DONE sent=\([0-9]*\) got=.*/\1/p' "$TMP/stream-client.log")
c_got=$(sed -n 's/^DONE sent=[0-9]* got=\([0-9]*\)/\1/p' "$TMP/stream-client.log")
[ "$s_sent" = "$c_got" ] && [ "$c_sent" = "$s_got" ] ||
	die "expected each side to get what the other sent: server sent $s_sent, client got" \
		"$c_got; client sent $c_sent, server got $s_got"
say "server -> client $s_sent bytes, client -> server $c_sent bytes, all checked"
net_assert_clean "after the migration" a b
