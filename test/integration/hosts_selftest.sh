#!/bin/bash
# hosts_selftest: the test hosts of lib_hosts.sh behave like two machines and
# leave nothing behind. Two hosts reach each other over their veth both ways;
# a process started in a host has that host's PIDs, its init is our hostinit,
# orphans survive their parent and are reaped; then every namespace and
# process is gone: after a normal end, after a failure midway (a sub-run that
# exits 1 with hosts up), after SIGTERM, and after SIGKILL (no trap runs: the
# next run removes what it left).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

# The sub-run: two hosts and a counter, what it made written to INFO, then
# MODE: "fail" dies at once, "hang" waits to be killed.
sub_run() {
	local mode=$1 info=$2 pid
	host_create a 198.18.0.1
	host_create b 198.18.0.2
	host_link a b
	host_zoo_start a counter
	echo "${HOST_NETNS[a]} ${HOST_NETNS[b]} ${HOST_INIT[a]} ${HOST_INIT[b]} $ZOO_HPID" >"$info"
	if [ "$mode" = fail ]; then
		die "deliberate failure midway, with two hosts up"
	fi
	sleep 120 &
	pid=$!
	track_pid "$pid"
	echo "$pid $TMP" >"$info.own" # for the parent to clean up after a SIGKILL
	wait "$pid"
}

# assert_all_gone INFO WHEN: nothing the sub-run wrote down exists any more.
assert_all_gone() {
	local info=$1 when=$2 ns1 ns2 p1 p2 p3 pid ns
	read -r ns1 ns2 p1 p2 p3 <"$info"
	for pid in "$p1" "$p2" "$p3"; do
		wait_reaped "$pid" 5
	done
	for ns in "$ns1" "$ns2"; do
		! ip netns list | grep -qw "$ns" || die "$when: netns $ns still exists"
	done
	say "$when: namespaces $ns1 $ns2 and processes $p1 $p2 $p3 are gone"
}

lib_init "${1:-}"
hosts_init
if [ "${2:-}" = sub ]; then
	sub_run "$3" "$4"
	exit 0
fi

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
host_reach a b
host_reach b a
say "TCP a -> b and b -> a over the veth"

[ "$(host_run a cat /proc/1/comm)" = hostinit ] || die "PID 1 of host a is not hostinit"
host_zoo_start a counter
[ "$ZOO_PID" -gt 1000 ] && [ "$ZOO_PID" -lt 1100 ] ||
	die "counter in host a has pid $ZOO_PID, expected a's own numbering (1001..1099)"
[ "$ZOO_HPID" != "$ZOO_PID" ] || die "counter has the same PID $ZOO_PID in a and here"
[ "$(host_run a awk '/^PPid:/ { print $2 }' "/proc/$ZOO_PID/status")" = 1 ] ||
	die "counter's parent in host a is not its init"
! host_run b test -e "/proc/$ZOO_PID" || die "host b sees pid $ZOO_PID of host a"
say "counter: pid $ZOO_PID in host a (here $ZOO_HPID), child of a's init, invisible in b"

# An orphan (a daemon's child whose daemon stops) lives on, and is reaped by
# hostinit when it ends: no zombie is left with its PID.
host_spawn b "$TMP/orphan.out" sh -c 'sleep 60 & echo "child $!"; wait'
parent=$HOST_SPAWNED
wait_line "$TMP/orphan.out" '^child [0-9]+$'
child=$(sed -n 's/^child //p' "$TMP/orphan.out")
kill -KILL "$(host_pid b "$parent")"
host_wait_gone b "$parent" 5
host_alive b "$child" || die "orphan $child in host b died with its parent"
[ "$(host_run b awk '/^PPid:/ { print $2 }' "/proc/$child/status")" = 1 ] ||
	die "orphan $child in host b was not reparented to its init"
kill -KILL "$(host_pid b "$child")"
host_wait_gone b "$child" 5
say "orphan in b: reparented to hostinit, reaped when killed"

wait_line "$ZOO_LOG" '^count 3$' 5
zoo_check counter
host_wait_gone a "$ZOO_PID" 5
echo "${HOST_NETNS[a]} ${HOST_NETNS[b]} ${HOST_INIT[a]} ${HOST_INIT[b]} $ZOO_HPID" \
	>"$TMP/main.info"
host_run a sleep 300 &
sleeper=$!
hosts_destroy_all
assert_all_gone "$TMP/main.info" "hosts_destroy_all"
wait_gone "$sleeper" 5
wait "$sleeper" 2>/dev/null || true # (bash would report its death by SIGKILL)

# Failure midway: the sub-run exits 1 with hosts up; its trap removes them.
rc=0
bash "$SELF" "$BUILD" sub fail "$TMP/fail.info" >"$TMP/sub-fail.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || die "the failing sub-run exited $rc, expected 1: $(cat "$TMP/sub-fail.out")"
assert_all_gone "$TMP/fail.info" "after a failure midway"

# SIGTERM (what ctest's timeout and a Ctrl-C of the whole group amount to).
for sig in TERM KILL; do
	rm -f "$TMP/$sig.info"
	bash "$SELF" "$BUILD" sub hang "$TMP/$sig.info" >"$TMP/sub-$sig.out" 2>&1 &
	sub=$!
	for ((i = 0; i < 200; i++)); do
		[ -s "$TMP/$sig.info.own" ] && break
		sleep 0.05
	done
	[ -s "$TMP/$sig.info.own" ] || die "the hanging sub-run did not start its hosts"
	kill -"$sig" "$sub"
	rc=0
	wait "$sub" 2>/dev/null || rc=$?
	if [ "$sig" = KILL ]; then
		# No trap ran: the next hosts_init removes the namespaces left behind.
		read -r ns1 _ <"$TMP/$sig.info"
		ip netns list | grep -qw "$ns1" || die "SIGKILL: expected $ns1 to be left behind"
		hosts_reap_stale
		read -r pid dir <"$TMP/$sig.info.own"
		kill -KILL "$pid" 2>/dev/null || true
		[[ $dir == /tmp/migrate-it-hosts_selftest.* ]] && rm -rf "$dir"
	fi
	assert_all_gone "$TMP/$sig.info" "after SIG$sig"
done
say "no host survives: normal end, failure, SIGTERM, SIGKILL"
