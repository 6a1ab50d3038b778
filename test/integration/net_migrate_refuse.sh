#!/bin/bash
# net_migrate_refuse: without --tcp-established, a process with an
# established connection is refused, before anything is touched, with a
# message that lists the connection (local and peer address) and names the
# flag, both by `migrate --to` (live) and by `migrate dump` (local). And with
# --tcp-established but without --move-ip, to a destination that does not have
# the connection's local address: the destination refuses (before Ready),
# naming the address and --move-ip, and the source resumes. The web server of
# net_migrate_web.sh runs in host a with a client in c on one keep-alive
# connection; after each refusal the server runs on in a, not stopped nor
# traced, the connection carries on (the count without a gap), no nftables
# table is left in a or b, and b holds nothing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
net_need
hosts_init
net_hosts 4

host_py_start a web webserver.py "$TMP/web.check" "$SVC_IP" "$SVC_PORT"
web=$PY_PID web_hpid=$PY_HPID
host_py_start c client webclient.py "$TMP/client.check" "$SVC_IP" "$SVC_PORT" 0.005
client_wait "$TMP/client.log" '^resp 50 ' 20
peer=$(host_run a ss -Htn state established "( sport = :$SVC_PORT )" | awk '{ print $4 }')
[ -n "$peer" ] || die "expected the client's connection in host a's ss"
say "the connection: $SVC_IP:$SVC_PORT <-> $peer"

# assert_refusal FILE WHAT: the message names the flag and both ends.
assert_refusal() {
	assert_output_has "$1" '--tcp-established' "$2: the flag"
	assert_output_has "$1" "${SVC_IP//./\\.}:$SVC_PORT" "$2: the local address"
	assert_output_has "$1" "${peer//./\\.}" "$2: the peer address"
}

# server_unharmed WHY: running, untraced, still answering.
server_unharmed() {
	local state tracer n
	host_alive a "$web" || die "$1: expected the web server (pid $web) alive in host a"
	state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$web_hpid/stat")
	tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$web_hpid/status")
	[ "$state" != T ] && [ "$state" != t ] && [ "$tracer" = 0 ] ||
		die "$1: expected the server running and untraced, state $state, tracer $tracer"
	n=$(resp_count "$TMP/client.log")
	client_wait "$TMP/client.log" "^resp $((n + 50)) " 20
	net_assert_clean "$1" a b
}

mig_to a "$web" b --json
[ "$MIG_RC" -ne 0 ] || die "expected migrate --to without --tcp-established to be refused"
[ "$MIG_RC" -ne 124 ] || die "migrate --to hung: $(mig_what)"
cat "$LAST_ERR" "$LAST_OUT" >"$TMP/live.msg"
assert_refusal "$TMP/live.msg" "migrate --to"
say "migrate --to refused: $(head -n 3 "$LAST_ERR")"
server_unharmed "after migrate --to"
dst_assert_clean b "$web" "after the refused migration"

rc=0
host_run a timeout "$MIG_TIMEOUT" "$MIGRATE" dump -t "$web" -D "$TMP/img" \
	>"$TMP/dump.msg" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || die "expected migrate dump without --tcp-established to be refused"
[ "$rc" -ne 124 ] || die "migrate dump hung"
assert_refusal "$TMP/dump.msg" "migrate dump"
say "migrate dump refused: $(head -n 3 "$TMP/dump.msg")"
server_unharmed "after migrate dump"

if "$MIGRATE" --help 2>&1 | grep -q -- '--move-ip'; then
	mig_to a "$web" b --tcp-established --json
	mig_rc_is 1 "without --move-ip, to a host without $SVC_IP"
	verdict=$(mig_json 'j["verdict"]')
	[ "$verdict" = resumed ] || die "expected the report's verdict 'resumed', saw '$verdict'"
	assert_output_has "$LAST_ERR" "${SVC_IP//./\\.}" "without --move-ip: the address"
	assert_output_has "$LAST_ERR" '--move-ip' "without --move-ip: the flag"
	say "without --move-ip: $(head -n 1 "$LAST_ERR")"
	server_unharmed "after the destination's refusal"
	! host_has_addr b "$SVC_IP" || die "expected no service address $SVC_IP on host b"
	dst_assert_clean b "$web" "after the destination's refusal"
fi

touch "$TMP/client.check"
client_wait "$TMP/client.log" '^(PASS|FAIL) webclient' 70
grep -q '^PASS webclient' "$TMP/client.log" ||
	die "the client saw its connection break: $(grep -E '^(FAIL|DONE)' "$TMP/client.log")"
grep -q ' hosts=a$' "$TMP/client.log" || die "expected every response from host a"
