#!/bin/bash
# Demo of live migration: two "machines" made of namespaces (each a network
# AND a PID namespace, joined by a veth pair, addresses 198.18.0.1 and
# 198.18.0.2 that exist only inside them), a counting program on host a,
# migrate-dst on host b; `migrate --to` moves the counter while it counts and
# prints its report; the counter counts on in host b, with the same PID.
#
#	bash test/demo_migrate.sh BUILD_DIR
#
# Needs root. Hosts, processes and files are removed on any exit
# (test/integration/lib_hosts.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/integration/lib.sh"
source "$here/integration/lib_hosts.sh"
TEST_NAME=demo-migrate
lib_init "${1:?usage: demo_migrate.sh BUILD_DIR}"
live_need
hosts_init

if [ -t 1 ]; then
	step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	step() { printf '\n== %s\n' "$*"; }
fi

step "1. two hosts: a (198.18.0.1) and b (198.18.0.2), each its own network and PID namespace"
host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
dst_start b
echo "migrate-dst listens on 198.18.0.2:$DST_PORT in host b (key: $PSK_FILE)"

step "2. a counter on host a"
host_zoo_start a counter
sleep 1
echo "pid $ZOO_PID in host a (pid $ZOO_HPID seen from here) counts:"
tail -n 3 "$ZOO_LOG" | sed 's/^/    /'

step "3. migrate --to 198.18.0.2:$DST_PORT $ZOO_PID, run in host a"
before=$(grep -c '^count ' "$ZOO_LOG" || true)
mig_to a "$ZOO_PID" b
cat "$LAST_ERR" "$LAST_OUT"
[ "$MIG_RC" -eq 0 ] || die "the migration failed: $(mig_what)"

step "4. the counter now runs in host b, with the same PID, and counts on"
host_wait_gone a "$ZOO_PID" 5
hpid=$(host_pid b "$ZOO_PID") || die "no pid $ZOO_PID in host b after the migration"
track_pid "$hpid"
wait_line "$ZOO_LOG" '^count ' 5 $((before + 5))
echo "host a: pid $ZOO_PID is gone; host b: pid $ZOO_PID runs $(cat "/proc/$hpid/comm"):"
host_run b ps -o pid,stat,comm -p "$ZOO_PID" | sed 's/^/    /'
tail -n 3 "$ZOO_LOG" | sed 's/^/    /'
assert_consecutive "$ZOO_LOG"
echo "its counts are consecutive across the move: none lost, none repeated"

step "5. stop it: it checks its own state and says PASS or FAIL"
zoo_check counter
grep '^PASS\|^FAIL' "$ZOO_LOG" | sed 's/^/    /'
echo
echo "live migration demo passed"
