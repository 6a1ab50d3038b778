#!/bin/bash
# redis_migrate: a real server nobody here wrote (Debian's redis-server: threads, epoll, a
# pipe, a listening socket, jemalloc) migrates live with a client connected. redis listens
# on the service address of host a; a client in host c (test/hosts/redisclient.py) writes
# keys over ONE connection (SET k<n> n, each acknowledged before the next). redis migrates
# to host b with --tcp-established --move-ip while the client writes:
#
#	- the migration succeeds, redis is gone from a and runs in b with its PID;
#	- the client's connection is never reset nor closed, its writes keep being
#	  acknowledged (500 more after the move), and it is served in b: the established
#	  connection to c is in b's socket table and no longer in a's; INFO server's
#	  process_id is redis's PID before and after;
#	- every acknowledged write is there afterwards, read back on the same connection and
#	  on a new one, and nothing else (DBSIZE = the number of writes acknowledged);
#	- no nftables table (the network lock) is left in a or b.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
REDIS=$(command -v redis-server) ||
	skip "needs redis-server (Debian package redis-server: test/install-deps.sh installs it)"
net_need --move-ip
hosts_init
net_hosts 4
PORT=6379

# redis_start HOST: redis-server in HOST on the service address, nothing on disk (no RDB
# snapshot, no AOF: a background save would fork a child, a process tree), in the
# foreground; its log appended to $TMP/redis.log. REDIS_PID: its PID in HOST. Without a
# password, protected mode only answers loopback clients: off (the hosts' network is ours).
redis_start() {
	mkdir -p "$TMP/redis"
	host_spawn "$1" "$TMP/redis.log" "$REDIS" --port "$PORT" --bind "$SVC_IP" --save "" \
		--appendonly no --daemonize no --dir "$TMP/redis" --protected-mode no
	REDIS_PID=$HOST_SPAWNED
	track_pid "$(host_pid "$1" "$REDIS_PID")"
	wait_line "$TMP/redis.log" 'Ready to accept connections'
}

# established HOST: the peers of the established connections to redis's port in HOST.
established() {
	host_run "$1" ss -Htn state established "( sport = :$PORT )" | awk '{ print $4 }'
}

# acks LOG: the number of the last write acknowledged so far.
acks() { sed -n 's/^ack \([0-9]*\) .*/\1/p' "$1" | tail -n 1; }

redis_start a
host_py_start c client redisclient.py "$TMP/client.check" "$SVC_IP" "$PORT" 0.002
client_wait "$TMP/client.log" '^ack 200 ' 20
grep -qx "info process_id=$REDIS_PID" "$TMP/client.log" ||
	die "expected INFO server to say process_id $REDIS_PID, the client saw:" \
		"$(grep '^info' "$TMP/client.log")"
[[ "$(established a)" == "${HOST_IP[c]}:"* ]] ||
	die "expected redis's connection from c (${HOST_IP[c]}) in host a, a has: $(established a)"

mig_ok a "$REDIS_PID" b --tcp-established --move-ip --json
before=$(acks "$TMP/client.log")
say "migrated after $before writes, freeze window" \
	"$(mig_json 'j["freeze_window"]["total_ms"]') ms"
host_wait_gone a "$REDIS_PID" 10
host_alive b "$REDIS_PID" || die "expected redis (pid $REDIS_PID) running in host b"
seen=$(host_run b cat "/proc/$REDIS_PID/comm")
[ "$seen" = redis-server ] || die "pid $REDIS_PID in host b runs '$seen', expected redis-server"

# 500 more acknowledged writes: the connection lives on, served in b.
client_wait "$TMP/client.log" "^ack $(((before / 10 + 50) * 10)) " 30
[[ "$(established b)" == "${HOST_IP[c]}:"* ]] ||
	die "expected the client's connection (from ${HOST_IP[c]}) in host b's socket table," \
		"b has: '$(established b)'"
[ -z "$(established a)" ] || die "expected no connection to redis left in host a: $(established a)"
touch "$TMP/client.check"
client_wait "$TMP/client.log" '^(PASS|FAIL) redisclient' 60
grep -q '^PASS redisclient' "$TMP/client.log" ||
	die "the client failed: $(grep -m1 '^FAIL' "$TMP/client.log")"
[ "$(grep -c "^info process_id=$REDIS_PID\$" "$TMP/client.log")" = 2 ] ||
	die "expected INFO server's process_id $REDIS_PID before and after, the client saw:" \
		"$(grep '^info' "$TMP/client.log" | tr '\n' ' ')"
say "client: $(grep '^DONE' "$TMP/client.log"); $(grep '^VERIFIED' "$TMP/client.log")"
host_alive b "$REDIS_PID" || die "redis (pid $REDIS_PID) died in host b after the check"
net_assert_clean "after the migration" a b
