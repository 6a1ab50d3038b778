#!/bin/bash
# nginx_local: a real server nobody here wrote (Debian's nginx: a master and 2 workers, a
# listening socket the three share, socketpair channels from the master to each worker, a
# shared memory page, epoll and eventfd per worker, log files opened O_APPEND by the master and
# inherited) through local `migrate dump -t MASTER --tcp-established` and `migrate restore`,
# in a network namespace of the test's own, serving a file the test wrote:
#   1. without --tcp-established the dump is refused before anything is touched, naming the
#      flag (a worker holds the client's connection);
#      then a dump with --leave-running: nginx and its client's connection go on;
#   2. dump (the tree is killed) while a client (test/hosts/nginxclient.py) fetches the file on
#      ONE keep-alive connection, 20 times a second; the connection is held by the network lock
#      meanwhile;
#   3. restore: the same PIDs, the workers still children of the master, in its group and
#      session; the client's connection survived (no reconnect: it fails on a reset or an end
#      of file) and its requests go on being answered with the file, byte for byte; new
#      connections are served too;
#   4. `nginx -s reload` (SIGHUP to the restored master, over its pid file): it forks two new
#      workers and tells the old ones to quit over the restored channels; the old ones exit,
#      the new ones serve (a second client, which reconnects when an old worker closes its
#      idle connection, sees the new workers' pids); no alert in the error log;
#   5. `nginx -s quit`: every process of the tree exits, the pid file goes, nothing is left.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"
NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || skip "needs nginx (nginx-light: test/install-deps.sh)"
command -v ip >/dev/null || skip "needs iproute2 (ip)"
command -v python3 >/dev/null || skip "needs python3 (the client)"
CLIENT=$(cd "$(dirname "$0")/../hosts" && pwd)/nginxclient.py

NS=mig-nginx-$$
SERVER=10.89.0.2 CLIENT_IP=10.89.0.1 PORT=8080
ip netns add "$NS" || skip "cannot create a network namespace"
on_exit "ip netns del $NS"
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
# Both ends live here: a veth pair only gives the addresses an interface to sit on.
in_ns ip link add v0 type veth peer name v1
in_ns ip link set v0 up
in_ns ip link set v1 up
in_ns ip addr add "$CLIENT_IP/24" dev v0
in_ns ip addr add "$SERVER/24" dev v0

PREFIX=$TMP/nginx
mkdir -p "$PREFIX/www" "$PREFIX/tmp"
# The workers run as an unprivileged user (nginx's default): they must reach the file.
chmod 711 "$TMP"
chmod 755 "$PREFIX" "$PREFIX/www"
# The file served: 24 KiB that no two runs share, so that a stale answer cannot pass.
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
		listen $SERVER:$PORT;
		root $PREFIX/www;
		add_header X-Worker \$pid;
	}
}
EOF
ngx() { in_ns "$NGINX" -p "$PREFIX" -c "$PREFIX/nginx.conf" "$@"; }
ngx -t >"$TMP/conf.out" 2>&1 || die "nginx refuses the test's configuration: $(cat "$TMP/conf.out")"

# field_of PID N: field N of /proc/PID/stat (3: state, 4: ppid, 5: pgrp, 6: session).
field_of() { sed -E 's/^[0-9]+ \(.*\) //' "/proc/$1/stat" | awk -v n="$2" '{ print $(n - 2) }'; }
# The children of the master, sorted, on one line.
workers_of() {
	tr ' ' '\n' <"/proc/$1/task/$1/children" 2>/dev/null | { grep . || true; } | sort -n |
		tr '\n' ' ' | sed 's/ $//'
}
# new_workers LIST NOT: whether LIST holds 2 pids, none of them in NOT.
new_workers() {
	local w
	# shellcheck disable=SC2086
	[ "$(echo $1 | wc -w)" -eq 2 ] || return 1
	for w in $1; do
		[[ " $2 " != *" $w "* ]] || return 1
	done
}
# wait_workers MASTER NOT: until the master has 2 children, none of them in NOT; sets WORKERS.
wait_workers() {
	local i
	for ((i = 0; i < 200; i++)); do
		WORKERS=$(workers_of "$1")
		new_workers "$WORKERS" "$2" && return 0
		sleep 0.05
	done
	die "master $1 has workers '$WORKERS', expected 2 new ones (not '$2')"
}
# resp_count LOG: the number of the last response a client logged.
resp_count() { sed -n 's/^resp \([0-9]*\) .*/\1/p' "$1" | tail -n 1; }
# wait_more LOG N: until the client logged a response after response N.
wait_more() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(resp_count "$1")" -gt "$2" ] 2>/dev/null && return 0
		grep -q '^FAIL' "$1" && die "client: $(grep '^FAIL' "$1")"
		sleep 0.05
	done
	die "no response after response $2 in $1 within 10 s"
}

lib_spawn "$TMP/nginx.log" ip netns exec "$NS" "$NGINX" -p "$PREFIX" -c "$PREFIX/nginx.conf"
master=$!
# On any exit the master goes first: killed after a worker, it would fork a new one in its place.
kill_master() { [ "$(cat "/proc/$master/comm" 2>/dev/null)" != nginx ] || kill -KILL "$master"; }
on_exit kill_master
wait_workers "$master" ""
# Tracked once nginx runs (before, the pid still runs setsid or ip: cleanup compares names).
for p in $master $WORKERS; do track_pid "$p"; done
old_workers=$WORKERS
for ((i = 0; i < 100; i++)); do [ -s "$PREFIX/nginx.pid" ] && break; sleep 0.05; done
[ "$(cat "$PREFIX/nginx.pid")" = "$master" ] || die "the pid file does not name the master $master"
declare -A before=()
for p in $master $WORKERS; do
	before[$p]="$(field_of "$p" 4) $(field_of "$p" 5) $(field_of "$p" 6)"
done
say "nginx: master $master, workers $WORKERS"

lib_spawn "$TMP/client.log" ip netns exec "$NS" python3 "$CLIENT" "$TMP/client.check" \
	"$SERVER" "$PORT" data.txt "$PREFIX/www/data.txt" 0.05 keepalive
client=$!
wait_line "$TMP/client.log" "^READY $client\$"
track_pid "$client"
wait_line "$TMP/client.log" '^resp 10 '

# 1. Refused without --tcp-established: nothing touched.
mig_expect_fail "$TMP/refused.out" dump -t "$master" -D "$TMP/img-refused"
assert_output_has "$TMP/refused.out" "--tcp-established" "dump without --tcp-established"
[ ! -e "$TMP/img-refused/inventory.img" ] || die "a refused dump left an image behind"
for p in $master $WORKERS; do
	grep -q '^TracerPid:[[:space:]]*0$' "/proc/$p/status" || die "refused dump left $p traced"
done
n=$(resp_count "$TMP/client.log")
wait_more "$TMP/client.log" "$n"
say "refused without --tcp-established: $(head -n 1 "$TMP/refused.out")"

# A dump that leaves nginx running: it goes on serving on the same connection, untraced.
mig_dump "$master" "$TMP/img-running" --tcp-established --leave-running
for p in $master $WORKERS; do
	assert_alive "$p" "nginx after --leave-running"
	grep -q '^TracerPid:[[:space:]]*0$' "/proc/$p/status" || die "--leave-running left $p traced"
done
n=$(resp_count "$TMP/client.log")
wait_more "$TMP/client.log" "$((n + 10))"
say "--leave-running: nginx serves on, the client's connection too"

# 2. Dump: the whole tree, killed.
mig_dump "$master" "$TMP/img" --tcp-established
for p in $master $WORKERS; do
	wait_gone "$p" 5
	wait_reaped "$p" 10
done
n=$(resp_count "$TMP/client.log")
sleep 1 # the client's next request waits in the lock meanwhile: no reset
if grep -q '^FAIL' "$TMP/client.log"; then
	die "client failed while nginx was dumped: $(grep '^FAIL' "$TMP/client.log")"
fi
say "dumped after response $n; nginx gone"

# 3. Restore: same processes, same connection.
LAST_OUT=$TMP/restore.out
timeout "$MIG_TIMEOUT" ip netns exec "$NS" "$MIGRATE" restore -D "$TMP/img" --restore-detached \
	--tcp-established >"$LAST_OUT" 2>&1 || die "migrate restore failed: $(tail -n 5 "$LAST_OUT")"
for p in $master $WORKERS; do
	assert_alive "$p" "restored nginx"
	[ "$(cat "/proc/$p/comm")" = nginx ] || die "restored pid $p is named $(cat "/proc/$p/comm")"
done
[ "$(workers_of "$master")" = "$old_workers" ] ||
	die "restored master has children '$(workers_of "$master")', had '$old_workers'"
for w in $WORKERS; do
	[ "$(field_of "$w" 4) $(field_of "$w" 5) $(field_of "$w" 6)" = "${before[$w]}" ] ||
		die "restored worker $w: ppid pgid sid '$(field_of "$w" 4) $(field_of "$w" 5)" \
			"$(field_of "$w" 6)', was '${before[$w]}'"
done
wait_more "$TMP/client.log" "$((n + 20))"
grep -q '^FAIL' "$TMP/client.log" && die "client: $(grep '^FAIL' "$TMP/client.log")"
# A new connection (the listener shared by the three processes).
in_ns python3 -c 'import sys, urllib.request
sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=10).read())' \
	"http://$SERVER:$PORT/data.txt" >"$TMP/fresh.txt" || die "a new connection got no answer"
cmp -s "$TMP/fresh.txt" "$PREFIX/www/data.txt" || die "a new connection got another body"
touch "$TMP/client.check"
wait_line "$TMP/client.log" '^(PASS|FAIL) nginxclient' 40
grep -q '^PASS nginxclient' "$TMP/client.log" || die "client: $(grep '^FAIL' "$TMP/client.log")"
done_line=$(grep '^DONE' "$TMP/client.log")
[[ $done_line == *" conns=1 "* ]] || die "the client had to reconnect: $done_line"
say "restored: same pids and parents; the keep-alive connection survived ($done_line);" \
	"a new connection is served"

# 4. Reload: new workers, forked by the restored master; the old ones told to quit.
lib_spawn "$TMP/client2.log" ip netns exec "$NS" python3 "$CLIENT" "$TMP/client2.check" \
	"$SERVER" "$PORT" data.txt "$PREFIX/www/data.txt" 0.05 reconnect
client2=$!
wait_line "$TMP/client2.log" "^READY $client2\$"
track_pid "$client2"
wait_line "$TMP/client2.log" '^resp 5 '
ngx -s reload >"$TMP/reload.out" 2>&1 || die "nginx -s reload failed: $(cat "$TMP/reload.out")"
wait_workers "$master" "$old_workers"
for w in $WORKERS; do track_pid "$w"; done
for w in $old_workers; do wait_gone "$w" 10; done
for w in $WORKERS; do
	[ "$(field_of "$w" 4)" = "$master" ] || die "new worker $w is not the master's child"
done
wait_line "$TMP/client2.log" "^resp [0-9]+ worker=(${WORKERS// /|}) " 10
touch "$TMP/client2.check"
wait_line "$TMP/client2.log" '^(PASS|FAIL) nginxclient' 40
grep -q '^PASS nginxclient' "$TMP/client2.log" || die "client 2: $(grep '^FAIL' "$TMP/client2.log")"
if grep -E '\[(alert|emerg|crit)\]' "$PREFIX/error.log" >"$TMP/alerts.out"; then
	die "nginx logged alerts: $(head -n 3 "$TMP/alerts.out")"
fi
say "reload: old workers $old_workers gone, new workers $WORKERS serve" \
	"($(grep '^DONE' "$TMP/client2.log"))"

# 5. Quit: the whole tree goes, cleanly.
ngx -s quit >"$TMP/quit.out" 2>&1 || die "nginx -s quit failed: $(cat "$TMP/quit.out")"
for p in $master $WORKERS; do wait_gone "$p" 10; done
for ((i = 0; i < 100; i++)); do [ -e "$PREFIX/nginx.pid" ] || break; sleep 0.05; done
[ ! -e "$PREFIX/nginx.pid" ] || die "nginx left its pid file behind after quit"
grep -q 'exiting' "$PREFIX/error.log" || die "the master did not log its exit"
say "quit: master and workers exited, pid file removed"
