#!/bin/bash
# net_migrate_faults: a migration of a server with a live connection that
# fails in the freeze window rolls everything back to the source. The web
# server of net_migrate_web.sh runs in host a, its client in c on one
# keep-alive connection (a request every 5 ms); migrate-dst in b runs with
# MIGRATE_DST_FAULT=before-ready: its session exits after Commit (sockets
# restored, the service address claimed), before Ready. Then:
#
#	- migrate --to exits 1, its report says "resumed";
#	- the server runs on in a (not stopped, not traced), and the client's
#	  connection survives: its responses go on from a, the count without a gap
#	  or a repeat, no reset;
#	- the service address is on a again and not on b; no nftables table is
#	  left in a or b; b holds nothing of the migration (dst_assert_clean);
#
# and the same server, with the same connection, then migrates to b for real
# (a daemon without the fault): the rolled-back sockets are whole.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
net_need --move-ip
hosts_init
net_hosts 4
dst_stop b
dst_start b MIGRATE_DST_FAULT=before-ready

host_py_start a web webserver.py "$TMP/web.check" "$SVC_IP" "$SVC_PORT"
web=$PY_PID web_hpid=$PY_HPID
host_py_start c client webclient.py "$TMP/client.check" "$SVC_IP" "$SVC_PORT" 0.005
client_wait "$TMP/client.log" '^resp 100 ' 20

# --- the fault: rolled back ------------------------------------------------
mig_to a "$web" b --tcp-established --move-ip --json
mig_rc_is 1 "session exits before Ready"
verdict=$(mig_json 'j["verdict"]')
[ "$verdict" = resumed ] || die "expected the report's verdict 'resumed', saw '$verdict'"
say "before-ready: migrate exited 1 ($(mig_json 'j["message"]'))"

host_alive a "$web" || die "expected the web server (pid $web) alive in host a"
state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$web_hpid/stat")
tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$web_hpid/status")
[ "$state" != T ] && [ "$state" != t ] && [ "$tracer" = 0 ] ||
	die "expected the server running and untraced, it is in state $state, traced by $tracer"
n=$(resp_count "$TMP/client.log")
client_wait "$TMP/client.log" "^resp $((n + 100)) " 20
! grep -q 'host=b' "$TMP/client.log" ||
	die "expected every response from host a, saw one from b: $(grep -m1 'host=b' \
		"$TMP/client.log")"
! grep -q '^FAIL' "$TMP/client.log" || die "the client failed: $(grep '^FAIL' "$TMP/client.log")"
host_has_addr a "$SVC_IP" || die "expected the service address $SVC_IP back on host a"
! host_has_addr b "$SVC_IP" || die "expected no service address $SVC_IP left on host b"
net_assert_clean "after the rolled-back migration" a b
dst_assert_clean b "$web" "after the rolled-back migration"

# --- the same server and connection, migrated for real ------------------------
dst_stop b
mv "$TMP/dst-b.log" "$TMP/dst-b.fault.log"
dst_start b
n=$(resp_count "$TMP/client.log")
mig_ok a "$web" b --tcp-established --move-ip --json
host_wait_gone a "$web" 10
client_wait "$TMP/client.log" 'host=b' 20
first_b=$(grep -m1 'host=b' "$TMP/client.log" | awk '{ print $2 }')
client_wait "$TMP/client.log" "^resp $((first_b + 100)) " 20
touch "$TMP/client.check"
client_wait "$TMP/client.log" '^(PASS|FAIL) webclient' 70
grep -q '^PASS webclient' "$TMP/client.log" ||
	die "the client saw its connection break: $(grep -E '^(FAIL|DONE)' "$TMP/client.log")"
done_line=$(grep '^DONE ' "$TMP/client.log")
[[ $done_line == *" hosts=a,b" ]] ||
	die "expected the responses from host a, then only from host b, saw: $done_line"
say "then migrated: $done_line"
net_assert_clean "after the migration" a b
