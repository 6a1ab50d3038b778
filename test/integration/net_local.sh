#!/bin/bash
# net_local: a process with inet sockets (TCP established IPv4 and IPv6 with full send and
# receive queues, a listener, a bound and connected UDP socket) through local dump and
# restore, in a network namespace of its own whose peer is the test-side tcp_peer:
#   1. dump without --tcp-established is refused before the process is touched, listing
#      the connections and naming the flag;
#   2. a dump that fails once the sockets are in repair mode (unwritable image directory)
#      resumes them and unlocks: the connections carry on;
#   3. --leave-running: the sockets are resumed and the lock removed, traffic goes on;
#   4. --leave-stopped leaves the connections in repair mode and locked: the process is
#      killed (silently) and restored;
#   5. dump (kill) holds the connections in a lock that outlives it (their packets are
#      dropped, the peer sees no reset); restore refuses them without --tcp-established,
#      then re-creates them and removes the lock; the listener takes new connections and
#      UDP echoes come back.
# At the end both sides compare byte counts: every byte arrived exactly once, in order.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"
command -v ip >/dev/null || skip "needs iproute2 (ip)"
command -v nft >/dev/null || skip "needs nft to look at the lock tables"

NS=mig-netlocal-$$
LOCAL4=10.88.0.2 LOCAL6=fd88::2 PEER4=10.88.0.1 PEER6=fd88::1 PORT=7001

ip netns add "$NS" || skip "cannot create a network namespace"
on_exit "ip netns del $NS"
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
# Both ends live here: a veth pair only gives the addresses an interface to sit on.
in_ns ip link add v0 type veth peer name v1
in_ns ip link set v0 up
in_ns ip link set v1 up
in_ns ip addr add "$PEER4/24" dev v0
in_ns ip addr add "$LOCAL4/24" dev v0
in_ns ip addr add "$PEER6/64" dev v0 nodad
in_ns ip addr add "$LOCAL6/64" dev v0 nodad

# lock_tables: the names of the migrate lock tables in the namespace, one per line.
lock_tables() { in_ns nft list tables 2>/dev/null | awk '/migrate_/ { print $3 }'; }

assert_no_lock() {
	local t
	t=$(lock_tables)
	[ -z "$t" ] || die "$1: lock tables left behind: $t"
}

# start_in_ns NAME ARGS...: like zoo_start, inside the namespace; sets START_PID.
start_in_ns() {
	local name=$1 pid
	shift
	rm -f "$TMP/$name.check"
	lib_spawn "$TMP/$name.log" ip netns exec "$NS" "$ZOO/$name" "$TMP/$name.check" "$@"
	pid=$!
	wait_line "$TMP/$name.log" "^READY $pid\$"
	track_pid "$pid"
	START_PID=$pid
}

# progress_of: the last "progress" line of tcp, to see traffic moving.
progress_of() { grep '^progress' "$TMP/tcp.log" | tail -n 1 || true; }

assert_traffic_moves() {
	local before after
	before=$(progress_of)
	sleep 1.2
	after=$(progress_of)
	[ -n "$after" ] && [ "$before" != "$after" ] || die "$1: no traffic (still '$after')"
	if grep -q '^FAIL' "$TMP/tcp.log" "$TMP/tcp_peer.log"; then
		die "$1: a side failed"
	fi
}

start_in_ns tcp_peer "$PEER4" "$PEER6" "$PORT"
peer=$START_PID
start_in_ns tcp "$LOCAL4" "$LOCAL6" "$PEER4" "$PEER6" "$PORT"
pid=$START_PID
assert_traffic_moves "start"

# 1. Refused without --tcp-established, untouched, nothing locked.
mig_expect_fail "$TMP/refused.out" dump -t "$pid" -D "$TMP/img-refused"
assert_output_has "$TMP/refused.out" "--tcp-established" "refusal names the flag"
assert_output_has "$TMP/refused.out" "$LOCAL4:[0-9]+ -> $PEER4:$PORT" "refusal lists IPv4"
assert_output_has "$TMP/refused.out" "\[$LOCAL6\]:[0-9]+ -> \[$PEER6\]:$PORT" \
	"refusal lists IPv6"
[ ! -e "$TMP/img-refused" ] || die "a refused dump left $TMP/img-refused"
grep -q '^TracerPid:[[:space:]]*0$' "/proc/$pid/status" || die "refused dump left pid traced"
assert_no_lock "refused dump"
assert_traffic_moves "after the refused dump"
say "refused without --tcp-established: $(grep -o 'has [0-9]* established' "$TMP/refused.out")"

# 2. Failure after the sockets were dumped (the directory cannot be created): resumed.
mig_expect_fail "$TMP/faildump.out" dump -t "$pid" -D /proc/self/cannot/img --tcp-established
assert_alive "$pid" "after a failed dump"
assert_no_lock "failed dump"
assert_traffic_moves "after a failed dump"
say "failed dump: process, sockets and traffic as before, no lock left"

# 3. --leave-running: sockets out of repair mode, unlocked, traffic goes on.
mig_dump "$pid" "$TMP/img-running" --tcp-established --leave-running
assert_alive "$pid" "after --leave-running"
assert_no_lock "--leave-running"
assert_traffic_moves "after --leave-running"
say "--leave-running: traffic goes on, no lock left"

# restore_in_ns IMG: migrate restore --tcp-established in the namespace, must succeed.
restore_in_ns() {
	LAST_OUT=$TMP/restore.out
	timeout "$MIG_TIMEOUT" ip netns exec "$NS" "$MIGRATE" restore -D "$1" \
		--restore-detached --tcp-established >"$LAST_OUT" 2>&1 ||
		die "migrate restore -D $1 failed: $(tail -n 5 "$LAST_OUT")"
}

# after_dump: exactly one lock table holds the dumped connections; a pause under it alone.
after_dump() {
	tables=$(lock_tables)
	[ "$(echo "$tables" | grep -c .)" -eq 1 ] ||
		die "expected one lock table after the dump: '$tables'"
	sleep 1.5 # the peer retransmits meanwhile: dropped by the lock, never answered by a reset
	assert_alive "$peer" "peer during the pause"
	if grep -q '^FAIL' "$TMP/tcp_peer.log"; then
		die "the peer failed while the process was dumped"
	fi
}

# 4. --leave-stopped: the process stays, stopped, its connections in repair mode and locked;
#    killed (silently: repair mode), then restored.
mig_dump "$pid" "$TMP/img-stopped" --tcp-established --leave-stopped
grep -q '^State:[[:space:]]*T' "/proc/$pid/status" || die "--leave-stopped: pid $pid not stopped"
after_dump
kill -KILL "$pid"
wait_gone "$pid" 5
wait_reaped "$pid" 5
restore_in_ns "$TMP/img-stopped"
assert_alive "$pid" "tcp restored after --leave-stopped"
assert_no_lock "after the restore of --leave-stopped"
assert_traffic_moves "after the restore of --leave-stopped"
say "--leave-stopped, kill, restore: lock $tables removed, traffic goes on"

# 5. Dump (the process is killed) of the restored process, then restore again.
mig_dump "$pid" "$TMP/img" --tcp-established
wait_gone "$pid" 5
wait_reaped "$pid" 5
after_dump
"$MIGRATE" show "$TMP/img" >"$TMP/show.out" 2>&1 || die "migrate show failed on the image"
assert_output_has "$TMP/show.out" "FD_INET_SOCKET" "show prints the socket records"
# Restore refuses established connections without the flag, and changes nothing.
if in_ns "$MIGRATE" restore -D "$TMP/img" --restore-detached >"$TMP/norestore.out" 2>&1; then
	die "restore without --tcp-established succeeded"
fi
assert_output_has "$TMP/norestore.out" "--tcp-established" "restore refusal names the flag"
[ "$(lock_tables)" = "$tables" ] || die "a refused restore changed the lock: '$(lock_tables)'"
restore_in_ns "$TMP/img"
assert_alive "$pid" "tcp restored"
assert_no_lock "after restore"
assert_traffic_moves "after restore"
say "dump, locked pause, restore: lock $tables removed, traffic goes on"

# The listener takes new connections.
hello=$(in_ns timeout 5 bash -c "exec 3<>/dev/tcp/$LOCAL4/$((PORT + 2)); head -n 1 <&3") ||
	die "no answer from the restored listener"
[[ $hello == "hello from tcp "* ]] || die "restored listener said '$hello'"
say "restored listener answered: $hello"

zoo_check tcp
wait_line "$TMP/tcp_peer.log" '^(PASS|FAIL) tcp_peer'
grep -q '^PASS tcp_peer' "$TMP/tcp_peer.log" ||
	die "peer: $(grep '^FAIL' "$TMP/tcp_peer.log")"
for s in tcp4 tcp6; do
	read -r _ sent rcvd < <(awk -v s=$s '$1 == s { print $1, $3, $5 }' "$TMP/tcp.log")
	read -r _ psent prcvd < <(awk -v s=$s '$1 == "peer" && $2 == s { print $2, $4, $6 }' \
		"$TMP/tcp_peer.log")
	[ "$sent" = "$prcvd" ] && [ "$rcvd" = "$psent" ] ||
		die "$s: tcp sent $sent rcvd $rcvd, peer sent $psent rcvd $prcvd"
	say "$s: $sent bytes one way, $rcvd the other, each exactly once"
done
say "$(grep '^udp' "$TMP/tcp.log")"
