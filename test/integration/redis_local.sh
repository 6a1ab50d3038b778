#!/bin/bash
# redis_local: Debian's redis-server through a local dump and restore with a client
# connected. redis runs in host a; a client in host c (test/hosts/redisclient.py) writes keys
# over ONE connection (SET k<n> n, each acknowledged before the next). While it writes,
# `migrate dump --tcp-established` in a kills redis (its connection held by the network lock:
# the client's packets are dropped, it sees no reset), then `migrate restore
# --tcp-established` in a brings it back with its PID:
#
#	- the client's connection survives: 500 more writes acknowledged after the restore;
#	- INFO server's process_id is redis's PID before and after;
#	- every acknowledged write is there, read back on the same connection and on a new one
#	  (the listener came back too), and nothing else (DBSIZE);
#	- no nftables table (the lock) is left in a.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
REDIS=$(command -v redis-server) ||
	skip "needs redis-server (Debian package redis-server: test/install-deps.sh installs it)"
command -v nft >/dev/null || skip "needs nft (to check that no lock is left behind)"
"$MIGRATE" --help 2>&1 | grep -q -- '--tcp-established' ||
	skip "'migrate --help' does not offer --tcp-established yet"
hosts_init
host_create a 198.18.0.1
host_create c 198.18.0.3
host_link a c
SVC_IP=${HOST_IP[a]}
PORT=6379

# acks LOG: the number of the last write acknowledged so far.
acks() { sed -n 's/^ack \([0-9]*\) .*/\1/p' "$1" | tail -n 1; }

# As redis_migrate.sh: nothing on disk (a background save would fork), foreground, no
# protected mode (the client is on another host of our own network).
mkdir -p "$TMP/redis"
host_spawn a "$TMP/redis.log" "$REDIS" --port "$PORT" --bind "$SVC_IP" --save "" \
	--appendonly no --daemonize no --dir "$TMP/redis" --protected-mode no
REDIS_PID=$HOST_SPAWNED
track_pid "$(host_pid a "$REDIS_PID")"
wait_line "$TMP/redis.log" 'Ready to accept connections'

host_py_start c client redisclient.py "$TMP/client.check" "$SVC_IP" "$PORT" 0.002
client_wait "$TMP/client.log" '^ack 200 ' 20

host_run a "$MIGRATE" dump -t "$REDIS_PID" -D "$TMP/img" --tcp-established >"$TMP/dump.out" 2>&1 ||
	die "dump of redis (pid $REDIS_PID in a) failed: $(tail -n 5 "$TMP/dump.out")"
host_wait_gone a "$REDIS_PID" 10
before=$(acks "$TMP/client.log")
host_run a "$MIGRATE" restore -D "$TMP/img" --tcp-established --restore-detached \
	>"$TMP/restore.out" 2>&1 || die "restore of redis failed: $(tail -n 5 "$TMP/restore.out")"
host_alive a "$REDIS_PID" || die "expected redis restored with pid $REDIS_PID in host a"
track_pid "$(host_pid a "$REDIS_PID")"
say "dumped and restored after $before writes"

client_wait "$TMP/client.log" "^ack $(((before / 10 + 50) * 10)) " 30
touch "$TMP/client.check"
client_wait "$TMP/client.log" '^(PASS|FAIL) redisclient' 60
grep -q '^PASS redisclient' "$TMP/client.log" ||
	die "the client failed: $(grep -m1 '^FAIL' "$TMP/client.log")"
[ "$(grep -c "^info process_id=$REDIS_PID\$" "$TMP/client.log")" = 2 ] ||
	die "expected INFO server's process_id $REDIS_PID before and after, the client saw:" \
		"$(grep '^info' "$TMP/client.log" | tr '\n' ' ')"
say "client: $(grep '^DONE' "$TMP/client.log"); $(grep '^VERIFIED' "$TMP/client.log")"
host_alive a "$REDIS_PID" || die "redis (pid $REDIS_PID) died after the check"
net_assert_clean "after the restore" a
