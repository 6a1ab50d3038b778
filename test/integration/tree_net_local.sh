#!/bin/bash
# tree_net_local: a tree whose root holds no socket and whose child holds the connections
# (a shell running zoo tcp, as a supervisor runs its server), through local dump and restore
# in a network namespace of its own, the peer being the test-side tcp_peer:
#   1. without --tcp-established the dump is refused before anything is touched, naming the
#      child's connections (the members' sockets are checked with the root's);
#   2. dump (killed): the network lock holds the child's connections too, although the root
#      has no socket at all: one lock table; the peer retransmits into it for a while and
#      never sees a reset;
#   3. restore: the lock goes, the child's connections carry on, its listener answers; at
#      the end both sides compare byte counts: every byte arrived exactly once, in order.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"
command -v ip >/dev/null || skip "needs iproute2 (ip)"
command -v nft >/dev/null || skip "needs nft to look at the lock tables"

NS=mig-treenet-$$
LOCAL4=10.90.0.2 LOCAL6=fd90::2 PEER4=10.90.0.1 PEER6=fd90::1 PORT=7101
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

lock_tables() { in_ns nft list tables 2>/dev/null | awk '/migrate_/ { print $3 }'; }
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

lib_spawn "$TMP/tcp_peer.log" ip netns exec "$NS" "$ZOO/tcp_peer" "$TMP/tcp_peer.check" \
	"$PEER4" "$PEER6" "$PORT"
peer=$!
wait_line "$TMP/tcp_peer.log" "^READY $peer\$"
track_pid "$peer"
# The tree: a shell (no socket) whose child is zoo tcp.
lib_spawn "$TMP/tcp.log" ip netns exec "$NS" bash -c \
	'"$0" "$1" "$2" "$3" "$4" "$5" "$6" & wait' "$ZOO/tcp" "$TMP/tcp.check" \
	"$LOCAL4" "$LOCAL6" "$PEER4" "$PEER6" "$PORT"
root=$!
wait_line "$TMP/tcp.log" '^READY [0-9]+$'
child=$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$TMP/tcp.log" | head -n 1)
# Tracked once they run their programs (cleanup compares names).
track_pid "$root"
track_pid "$child"
[ "$(awk '/^PPid:/ { print $2 }' "/proc/$child/status")" = "$root" ] ||
	die "zoo tcp ($child) is not the child of the shell ($root)"
assert_traffic_moves "start"

# 1. Refused, naming the child's connections.
mig_expect_fail "$TMP/refused.out" dump -t "$root" -D "$TMP/img-refused"
assert_output_has "$TMP/refused.out" "pid $child has 2 established TCP connections" \
	"refusal names the child"
assert_output_has "$TMP/refused.out" "--tcp-established" "refusal names the flag"
[ -z "$(lock_tables)" ] || die "a refused dump left a lock: $(lock_tables)"
assert_traffic_moves "after the refused dump"
say "refused: $(head -n 1 "$TMP/refused.out")"

# 2. Dump: the child's connections locked, though the root has no socket.
mig_dump "$root" "$TMP/img" --tcp-established
for p in "$root" "$child"; do
	wait_gone "$p" 5
	wait_reaped "$p" 10
done
tables=$(lock_tables)
[ "$(echo "$tables" | grep -c .)" -eq 1 ] || die "expected one lock table after the dump: '$tables'"
sleep 1.5 # the peer retransmits meanwhile: dropped by the lock, never answered by a reset
assert_alive "$peer" "peer during the pause"
if grep -q '^FAIL' "$TMP/tcp_peer.log"; then
	die "the peer failed while the tree was dumped: $(grep '^FAIL' "$TMP/tcp_peer.log")"
fi
say "dumped: the child's connections held by lock $tables"

# 3. Restore.
LAST_OUT=$TMP/restore.out
timeout "$MIG_TIMEOUT" ip netns exec "$NS" "$MIGRATE" restore -D "$TMP/img" --restore-detached \
	--tcp-established >"$LAST_OUT" 2>&1 || die "migrate restore failed: $(tail -n 5 "$LAST_OUT")"
assert_alive "$child" "zoo tcp restored"
[ "$(awk '/^PPid:/ { print $2 }' "/proc/$child/status")" = "$root" ] ||
	die "restored zoo tcp ($child) is not the shell's ($root) child"
[ -z "$(lock_tables)" ] || die "the restore left a lock: $(lock_tables)"
assert_traffic_moves "after the restore"
hello=$(in_ns timeout 5 bash -c "exec 3<>/dev/tcp/$LOCAL4/$((PORT + 2)); head -n 1 <&3") ||
	die "no answer from the restored child's listener"
[[ $hello == "hello from tcp "* ]] || die "restored listener said '$hello'"
zoo_check tcp
wait_line "$TMP/tcp_peer.log" '^(PASS|FAIL) tcp_peer'
grep -q '^PASS tcp_peer' "$TMP/tcp_peer.log" || die "peer: $(grep '^FAIL' "$TMP/tcp_peer.log")"
for s in tcp4 tcp6; do
	read -r _ sent rcvd < <(awk -v s=$s '$1 == s { print $1, $3, $5 }' "$TMP/tcp.log")
	read -r _ psent prcvd < <(awk -v s=$s '$1 == "peer" && $2 == s { print $2, $4, $6 }' \
		"$TMP/tcp_peer.log")
	[ "$sent" = "$prcvd" ] && [ "$rcvd" = "$psent" ] ||
		die "$s: tcp sent $sent rcvd $rcvd, peer sent $psent rcvd $prcvd"
	say "$s: $sent bytes one way, $rcvd the other, each exactly once"
done
kill "$root" 2>/dev/null || true
say "restored: lock removed, the child's connections and listener carry on"
