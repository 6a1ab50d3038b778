#!/bin/bash
# migrate_cut: the link between the hosts disappears in the middle of round 0
# (the veth pair is deleted: no FIN, no RST, packets just stop). The agent
# must give up and resume the source intact; the daemon's session must give
# up too and leave nothing in b. Neither side hears anything, so both rely on
# timeouts: to keep the test short, both hosts retransmit at most 3 times
# (net.ipv4.tcp_retries2, per network namespace: an unacknowledged write then
# fails after a few seconds instead of about 15 minutes); a side with nothing
# to retransmit relies on its own inactivity timeout (the agent's is 120 s).
# The time each side took is printed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
live_need
hosts_init
tracker_works uffd-wp || skip "the uffd-wp tracker does not work here (see 'migrate check')"

CUT_WAIT=${CUT_WAIT:-150} # seconds each side may take to notice

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
for host in a b; do
	host_run "$host" sysctl -qw net.ipv4.tcp_retries2=3 || die "tcp_retries2 in $host"
done
dst_start b

host_zoo_start a "$BUILD/hosts/dirtier" 1024 16 16
pid=$ZOO_PID
hpid=$ZOO_HPID
mig_bg a "$pid" b --tracker uffd-wp
for ((i = 0; i < 600; i++)); do
	if puppet=$(host_pid b "$pid"); then
		rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$puppet/status" 2>/dev/null) || true
		[ "${rss:-0}" -lt $((64 * 1024)) ] || break
	fi
	sleep 0.05
done
[ "$i" -lt 600 ] || die "expected round 0 to bring 64 MiB to host b within 30 s: $(mig_what)"
# Deleting one end deletes the pair: both hosts lose the route to each other.
ip -n "${HOST_NETNS[b]}" link del v-a || die "cannot delete the veth"
cut=$SECONDS
say "veth deleted while round 0 streamed (the puppet in b held $rss KiB)"

# The agent: fails (exit 1) and resumes the source.
for ((i = 0; i < CUT_WAIT * 10; i++)); do
	kill -0 "$MIG_BG_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$MIG_BG_PID" 2>/dev/null &&
	die "the agent still runs $CUT_WAIT s after the link was cut, expected it to give up"
mig_bg_wait
mig_rc_is 1 "link cut in round 0"
say "agent gave up after $((SECONDS - cut)) s: $(tail -n 1 "$LAST_ERR")"

# The daemon's session: gives up, kills its puppet.
for ((i = 0; i < CUT_WAIT * 10; i++)); do
	host_pid b "$pid" >/dev/null || break
	sleep 0.1
done
dst_assert_clean b "$pid" "link cut in round 0"
say "migrate-dst's session gave up after $((SECONDS - cut)) s, nothing left in b"

state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$hpid/stat")
tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$hpid/status")
[ "$state" != T ] && [ "$tracer" = 0 ] ||
	die "expected the source running and untraced, it is in state $state, traced by $tracer"
zoo_check dirtier
host_wait_gone a "$pid" 10
say "the dirtier resumed in a and verified its 1 GiB"

# The link again: the daemon serves the next migration.
host_link a b
host_zoo_start a counter
pid=$ZOO_PID
sleep 0.3
mig_ok a "$pid" b
host_wait_gone a "$pid" 5
track_pid "$(host_pid b "$pid")"
zoo_check counter
host_wait_gone b "$pid" 10
assert_consecutive "$ZOO_LOG"
say "link back: a migration through the same daemon passed"
