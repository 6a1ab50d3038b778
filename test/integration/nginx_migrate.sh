#!/bin/bash
# nginx_migrate: Debian's nginx (a master and 2 workers sharing the listener, config as
# nginx_local's) in host a serves a file on the service address while a client in host c
# fetches it on ONE keep-alive connection (test/hosts/nginxclient.py, 20 requests a second,
# every body checked byte for byte); `migrate --to b --tcp-established --move-ip` of the master
# takes the whole tree with every member's sockets (the workers hold the listener and the
# client's connection):
#   1. faults: the destination's session dies in the final round (MIGRATE_DST_FAULT=final-round:
#      the tree frozen, the network locked, every member's sockets in repair mode) and after
#      Commit (before-ready: the sockets restored in b, held in repair mode), and its Go fails
#      once the address is claimed in b (after-claim: a Verdict{ok=false}): migrate exits 1,
#      its report says resumed; nginx runs on in a, the same processes, none stopped or traced;
#      the client's connection goes on being served there; the address stays on a; no nftables
#      table in a or b; b holds nothing of it (dst_assert_clean);
#   2. the migration, with a second client that connects after the agent listed the sockets
#      (migrate-dst held stopped until it is served: the sockets are listed again before the
#      lock): the report counts 2 established connections and 1 address moved; nginx's pids
#      are gone from a and live in b's PID namespace, the workers still the master's children;
#      neither client's connection is ever reset (conns=1 at the end) and their requests go on
#      being answered with the file; a new connection from c is served (the shared listener);
#      the address is on b, not on a; no nftables table anywhere;
#   3. `nginx -s reload` in b: the master forks two new workers, the old ones exit, a new
#      connection is served by a new worker; `nginx -s quit` in b ends the whole tree.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || skip "needs nginx (nginx-light: test/install-deps.sh)"
net_need --move-ip
hosts_init
net_hosts 4

PREFIX=$TMP/nginx
mkdir -p "$PREFIX/www" "$PREFIX/tmp"
# The workers run as an unprivileged user (nginx's default): they must reach the file.
chmod 711 "$TMP"
chmod 755 "$PREFIX" "$PREFIX/www"
head -c 18432 /dev/urandom | base64 >"$PREFIX/www/data.txt"
cat >"$PREFIX/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $PREFIX/nginx.pid;
error_log $PREFIX/error.log info;
events { worker_connections 64; }
http {
	access_log $PREFIX/access.log;
	client_body_temp_path $PREFIX/tmp/body;
	proxy_temp_path $PREFIX/tmp/proxy;
	fastcgi_temp_path $PREFIX/tmp/fastcgi;
	uwsgi_temp_path $PREFIX/tmp/uwsgi;
	scgi_temp_path $PREFIX/tmp/scgi;
	keepalive_timeout 600;
	keepalive_requests 1000000;
	server {
		listen $SVC_IP:$SVC_PORT;
		root $PREFIX/www;
		add_header X-Worker \$pid;
	}
}
EOF

# The children of a process (pids seen from here), sorted, on one line.
children_of() {
	tr ' ' '\n' <"/proc/$1/task/$1/children" 2>/dev/null | { grep . || true; } | sort -n |
		tr '\n' ' ' | sed 's/ $//'
}
# nspid_of PID: its pid in its own PID namespace (the host's).
nspid_of() { awk '/^NSpid:/ { print $NF }' "/proc/$1/status"; }
# children_in HOST NSPID: the children of NSPID in HOST, as HOST's pids, sorted, on one line.
children_in() {
	local hp c
	hp=$(host_pid "$1" "$2") || return 0
	for c in $(children_of "$hp"); do nspid_of "$c"; done | sort -n | tr '\n' ' ' |
		sed 's/ $//'
}
resp_count() { sed -n 's/^resp \([0-9]*\) .*/\1/p' "$1" | tail -n 1; }
ngx() {
	local host=$1
	shift
	host_run "$host" "$NGINX" -p "$PREFIX" -c "$PREFIX/nginx.conf" "$@"
}
# fetch HOST OUT: GET /data.txt on a new connection from HOST, the body into OUT (checked
# against the file); prints the X-Worker header (the pid of the worker that served it).
fetch() {
	host_run "$1" python3 -c 'import sys, urllib.request
r = urllib.request.urlopen(sys.argv[1], timeout=10)
open(sys.argv[2], "wb").write(r.read())
print(r.headers["X-Worker"])' "http://$SVC_IP:$SVC_PORT/data.txt" "$2" ||
		die "a new connection from $1 to $SVC_IP:$SVC_PORT got no answer"
	cmp -s "$2" "$PREFIX/www/data.txt" || die "a new connection from $1 got another body"
}

host_spawn a "$TMP/nginx.log" "$NGINX" -p "$PREFIX" -c "$PREFIX/nginx.conf"
master=$HOST_SPAWNED
master_h=$(host_pid a "$master") || die "host a: no nginx master (pid $master)"
# On any exit the master goes first: killed after a worker, it would fork a new one in its
# place; wherever it runs (a, or b after the migration).
kill_master() {
	local h p
	for h in a b; do
		p=$(host_pid "$h" "$master" 2>/dev/null) || continue
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" != nginx ] || kill -KILL "$p"
	done
}
on_exit kill_master
for ((i = 0; i < 200; i++)); do
	workers_h=$(children_of "$master_h")
	# shellcheck disable=SC2086
	[ "$(echo $workers_h | wc -w)" -eq 2 ] && break
	sleep 0.05
done
# shellcheck disable=SC2086
[ "$(echo $workers_h | wc -w)" -eq 2 ] || die "nginx in a has workers '$workers_h', expected 2"
# Tracked once nginx runs (before, the pid may still run setsid: cleanup compares names).
for p in $master_h $workers_h; do track_pid "$p"; done
workers=$(children_in a "$master")
say "nginx in host a: master $master, workers $workers (in a's PID namespace)"

host_py_start c client nginxclient.py "$TMP/client.check" "$SVC_IP" "$SVC_PORT" data.txt \
	"$PREFIX/www/data.txt" 0.05 keepalive
client_wait "$TMP/client.log" '^resp 10 ' 20

# --- 1. faults in the freeze window: everything back in a -------------------------------
fault_case() {
	local fault=$1 p hp state tracer n
	dst_stop b
	mv "$TMP/dst-b.log" "$TMP/dst-b.before-$fault.log"
	dst_start b MIGRATE_DST_FAULT="$fault"
	mig_to a "$master" b --tcp-established --move-ip --json
	[ "$MIG_RC" -ne 124 ] || die "$fault: migrate --to hung: $(mig_what)"
	mig_rc_is 1 "$fault: the destination's session dies"
	[ "$(mig_json 'j["verdict"]')" = resumed ] || die "$fault: not resumed: $(mig_what)"
	for p in $master $workers; do
		hp=$(host_pid a "$p") || die "$fault: nginx process $p is gone from a"
		state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$hp/stat")
		tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$hp/status")
		[ "$state" != T ] && [ "$state" != t ] && [ "$tracer" = 0 ] ||
			die "$fault: nginx process $p in a is in state $state, traced by $tracer"
	done
	[ "$(children_in a "$master")" = "$workers" ] ||
		die "$fault: nginx's workers changed: '$(children_in a "$master")', were '$workers'"
	n=$(resp_count "$TMP/client.log")
	client_wait "$TMP/client.log" "^resp $((n + 20)) " 20
	host_has_addr a "$SVC_IP" || die "$fault: the service address $SVC_IP left host a"
	! host_has_addr b "$SVC_IP" || die "$fault: the service address $SVC_IP is left on b"
	net_assert_clean "$fault: after the rolled-back migration" a b
	dst_assert_clean b "$master" "$fault: after the rolled-back migration"
	say "$fault: migrate exited 1 ($(mig_json 'j["message"]' | cut -c1-90)...); nginx runs" \
		"on in a, its client served on the same connection; a and b clean"
}
fault_case final-round
fault_case before-ready
fault_case after-claim
dst_stop b
mv "$TMP/dst-b.log" "$TMP/dst-b.faults.log"
dst_start b

# --- 2. the migration -------------------------------------------------------------------
# A second client connects during the migration, after the agent listed the sockets and
# before the freeze: migrate-dst in b is held stopped meanwhile (the agent, connected, waits
# for its handshake; nginx runs on and accepts). That connection must be locked and moved too.
n=$(resp_count "$TMP/client.log")
dst_h=$(host_pid b "${DST_NSPID[b]}") || die "no migrate-dst in b"
kill -STOP "$dst_h"
mig_bg a "$master" b --tcp-established --move-ip --json
for ((i = 0; i < 400; i++)); do
	host_run b ss -Htn state established "sport = :$DST_PORT" | grep -q . && break
	sleep 0.05
done
[ "$i" -lt 400 ] || { kill -CONT "$dst_h"; die "the agent never connected to b: $(mig_what)"; }
for p in $master_h $workers_h; do
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status")" = 0 ] ||
		{ kill -CONT "$dst_h"; die "nginx process $p is traced before the handshake"; }
done
host_py_start c client2 nginxclient.py "$TMP/client2.check" "$SVC_IP" "$SVC_PORT" data.txt \
	"$PREFIX/www/data.txt" 0.05 keepalive
client_wait "$TMP/client2.log" '^resp 5 ' 20
kill -CONT "$dst_h"
mig_bg_wait
[ "$MIG_RC" -eq 0 ] || die "expected success: $(mig_what)"
net=$(mig_json '[j["freeze_window"]["network"][k] for k in ("established", "ips_moved")]' |
	tr '\n' ' ')
[ "$net" = "2 1 " ] ||
	die "expected the report to count 2 established connections and 1 address moved;" \
		"freeze_window.network says: $(mig_json 'j["freeze_window"].get("network")')"
say "migrated in a freeze window of $(mig_json 'j["freeze_window"]["total_ms"]') ms" \
	"($(mig_json 'j["freeze_window"]["network"]["sockets"]') sockets of the tree)"
for p in $master $workers; do host_wait_gone a "$p" 10; done
for p in $master $workers; do
	host_alive b "$p" || die "nginx process $p does not run in b after the migration"
	track_pid "$(host_pid b "$p")"
done
[ "$(children_in b "$master")" = "$workers" ] ||
	die "in b the master has children '$(children_in b "$master")', expected '$workers'"
client_wait "$TMP/client.log" "^resp $((n + 40)) " 20
host_has_addr b "$SVC_IP" || die "expected the service address $SVC_IP on host b"
! host_has_addr a "$SVC_IP" || die "expected the service address $SVC_IP gone from host a"
net_assert_clean "after the migration" a b
w=$(fetch c "$TMP/fresh.txt")
[[ " $workers " == *" $w "* ]] || die "a new connection was served by '$w', not a worker ($workers)"
touch "$TMP/client.check"
client_wait "$TMP/client.log" '^(PASS|FAIL) nginxclient' 40
grep -q '^PASS nginxclient' "$TMP/client.log" || die "client: $(grep '^FAIL' "$TMP/client.log")"
done_line=$(grep '^DONE' "$TMP/client.log")
[[ $done_line == *" conns=1 "* ]] || die "the client had to reconnect: $done_line"
touch "$TMP/client2.check"
client_wait "$TMP/client2.log" '^(PASS|FAIL) nginxclient' 40
grep -q '^PASS nginxclient' "$TMP/client2.log" || die "client 2: $(grep '^FAIL' "$TMP/client2.log")"
grep -q '^DONE .* conns=1 ' "$TMP/client2.log" ||
	die "client 2 had to reconnect: $(grep '^DONE' "$TMP/client2.log")"
say "nginx runs in b (master $master, workers $workers), its client served on the same" \
	"connection ($done_line); a new connection served by worker $w"

# --- 3. reload and quit in b ------------------------------------------------------------
ngx b -s reload >"$TMP/reload.out" 2>&1 || die "nginx -s reload failed: $(cat "$TMP/reload.out")"
fresh=0
for ((i = 0; i < 200; i++)); do
	new=$(children_in b "$master")
	# shellcheck disable=SC2086
	if [ "$(echo $new | wc -w)" -eq 2 ]; then
		fresh=1
		for p in $new; do [[ " $workers " != *" $p "* ]] || fresh=0; done
		[ "$fresh" = 1 ] && break
	fi
	sleep 0.05
done
[ "$fresh" = 1 ] || die "reload: the master in b has workers '$new', expected 2 new ones"
for p in $new; do track_pid "$(host_pid b "$p")"; done
for p in $workers; do host_wait_gone b "$p" 10; done
w=$(fetch c "$TMP/fresh2.txt")
[[ " $new " == *" $w "* ]] || die "after reload, a new connection was served by '$w', not $new"
if grep -E '\[(alert|emerg|crit)\]' "$PREFIX/error.log" >"$TMP/alerts.out"; then
	die "nginx logged alerts: $(head -n 3 "$TMP/alerts.out")"
fi
say "reload in b: old workers $workers gone, new workers $new serve"
ngx b -s quit >"$TMP/quit.out" 2>&1 || die "nginx -s quit failed: $(cat "$TMP/quit.out")"
for p in $master $new; do host_wait_gone b "$p" 10; done
say "quit: nginx's tree ended in b"
