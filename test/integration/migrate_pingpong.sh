#!/bin/bash
# migrate_pingpong: a counter migrates a -> b -> a -> b, each host running a
# daemon; it keeps its PID everywhere (so each source must free it: killed and
# reaped), never runs in two hosts at once, counts on without a gap, and
# passes its own check at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
live_need
hosts_init

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
dst_start a
dst_start b

host_zoo_start a counter
pid=$ZOO_PID
from=a
for to in b a b; do
	counts=$(grep -c '^count ' "$ZOO_LOG" || true)
	mig_ok "$from" "$pid" "$to"
	host_wait_gone "$from" "$pid" 5
	hpid=$(host_pid "$to" "$pid") ||
		die "expected pid $pid in host $to after migrating it from $from, there is none"
	track_pid "$hpid"
	[ "$(cat "/proc/$hpid/comm")" = counter ] ||
		die "pid $pid in host $to runs '$(cat "/proc/$hpid/comm")', expected counter"
	wait_line "$ZOO_LOG" '^count ' 5 $((counts + 3))
	say "counter (pid $pid) moved $from -> $to, counts on there"
	from=$to
done
zoo_check counter
host_wait_gone "$from" "$pid" 5
assert_consecutive "$ZOO_LOG"
say "a -> b -> a -> b: $(grep -c '^count ' "$ZOO_LOG") counts, consecutive, PASS in $from"
dst_assert_clean a 0 "after the ping-pong"
dst_assert_clean b 0 "after the ping-pong"
