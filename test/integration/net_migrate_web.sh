#!/bin/bash
# net_migrate_web: the seed scenario of issue 4. A web server (test/hosts/
# webserver.py: counts requests, keeps the list of those it served, answers
# with the count and its host name) listens on the service address of host
# a; a client in host c (test/hosts/webclient.py) keeps ONE keep-alive
# connection and sends a request every 5 ms. The server migrates to host b
# with --tcp-established --move-ip while the client runs:
#
#	- the migration succeeds, the server is gone from a and runs in b;
#	- the client's connection is never reset nor closed, and it never waits
#	  60 s for an answer (webclient.py fails at once if so);
#	- its responses come from a, then from b, and from b to the end;
#	- the count goes up by one per request across the move (no gap, no
#	  repeat: the client checks each one), and the server's own list of
#	  served requests is exactly the client's requests, in order (fetched on
#	  a new connection at the end: the listener moved too);
#	- the service address is on b and no longer on a, c's neighbour entry for
#	  it has b's MAC (the announcement), and no nftables table (the network
#	  lock) is left in a or b;
#	- the --json report counts 2 sockets (the listener, the connection), 1
#	  established, 1 address moved.
#
# NET_FAMILY=6 runs the same over IPv6 (fd00::/64): net_migrate_web6.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
family=${NET_FAMILY:-4}
[ "$family" = 4 ] || TEST_NAME=net_migrate_web$family
lib_init "${1:-}"
net_need --move-ip
hosts_init
net_hosts "$family"

host_py_start a web webserver.py "$TMP/web.check" "$SVC_IP" "$SVC_PORT"
web=$PY_PID
host_py_start c client webclient.py "$TMP/client.check" "$SVC_IP" "$SVC_PORT" 0.005
client_wait "$TMP/client.log" '^resp 100 ' 20
grep -q '^resp 1 count=1 host=a$' "$TMP/client.log" ||
	die "expected the first response from host a with count 1: $(head -n 2 "$TMP/client.log")"

mig_ok a "$web" b --tcp-established --move-ip --json
say "migrated in a freeze window of $(mig_json 'j["freeze_window"]["total_ms"]') ms"
# The report's network part: the listener and the connection, one address moved.
net=$(mig_json '[j["freeze_window"]["network"][k] for k in ("sockets", "established",
	"ips_moved")]' | tr '\n' ' ')
[ "$net" = "2 1 1 " ] ||
	die "expected the report to count 2 sockets, 1 established, 1 address moved;" \
		"freeze_window.network says: $(mig_json 'j["freeze_window"].get("network")')"
host_wait_gone a "$web" 10
host_alive b "$web" || die "expected the web server (pid $web) running in host b"

# 200 more responses after the first from b: the connection lives on there.
client_wait "$TMP/client.log" 'host=b' 20
first_b=$(grep -m1 'host=b' "$TMP/client.log" | awk '{ print $2 }')
client_wait "$TMP/client.log" "^resp $((first_b + 200)) " 20
touch "$TMP/client.check"
client_wait "$TMP/client.log" '^(PASS|FAIL) webclient' 70
grep -q '^PASS webclient' "$TMP/client.log" ||
	die "the client saw its connection break: $(grep -E '^(FAIL|DONE)' "$TMP/client.log")"
done_line=$(grep '^DONE ' "$TMP/client.log")
say "client: $done_line"
[[ $done_line == *" hosts=a,b" ]] ||
	die "expected the responses from host a, then only from host b, saw: $done_line"
requests=$(sed -n 's/^DONE requests=\([0-9]*\) .*/\1/p' "$TMP/client.log")
[[ $done_line == *" first=1 last=$requests "* ]] ||
	die "expected counts 1..$requests for $requests requests, saw: $done_line"

# The server's list, from b, on a new connection.
served=$(web_get c /served)
[ "$(echo "$served" | head -n 1)" = "count=$requests host=b" ] ||
	die "expected the server in b to have counted $requests requests, it says:" \
		"$(echo "$served" | head -n 1)"
[ "$(echo "$served" | sed -n 2p)" = "$(seq -s ' ' 1 "$requests")" ] ||
	die "expected the server's list of served requests to be 1..$requests in order," \
		"it is: $(echo "$served" | sed -n 2p | cut -c 1-300)..."
touch "$TMP/web.check"
wait_line "$TMP/web.log" '^(PASS|FAIL) webserver'
grep -q '^PASS webserver' "$TMP/web.log" || die "the server's own check failed"

host_has_addr b "$SVC_IP" || die "expected the service address $SVC_IP on host b"
! host_has_addr a "$SVC_IP" || die "expected the service address $SVC_IP gone from host a"
neigh=$(host_run c ip neigh show "$SVC_IP")
[[ $neigh == *"lladdr $(host_mac b) "* ]] ||
	die "expected c's neighbour entry for $SVC_IP to carry b's MAC $(host_mac b)," \
		"it is: $neigh"
net_assert_clean "after the migration" a b
