#!/bin/bash
# migrate_tree_sockfile: a live migration of a tree whose root listens on a unix socket bound
# to a path (zoo tree_sockpath) fails at Go, after the destination had bound the socket again
# (MIGRATE_DST_FAULT=after-claim: Verdict{ok=false}). The destination must remove the socket
# file it bound for the tree, or a second attempt would find another socket file than the
# source's at the path and refuse. So: the first migration exits 1 ("resumed"), the path is
# free again, b holds nothing; the second, to a daemon without the fault, succeeds, and in b
# the child reaches the root's listener through the path (the tree checks itself).
# (Hosts a and b share one file system here: the destination replaces the source's socket file
# when it binds, so the source, resumed after the failure, has lost its path: README.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
live_need
hosts_init

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b

dst_start b MIGRATE_DST_FAULT=after-claim
host_zoo_start a tree_sockpath
pid=$ZOO_PID
child=$(sed -n 's/^child \([0-9]*\)$/\1/p' "$ZOO_LOG")
[ -n "$child" ] || die "tree_sockpath did not print its child: $(cat "$ZOO_LOG")"
track_pid "$(host_pid a "$child")"
path=$ZOO_CHECK.sock
[ -S "$path" ] || die "no socket file at $path"
sleep 0.3
mig_to a "$pid" b --json
[ "$MIG_RC" -eq 1 ] || die "after-claim: expected exit status 1, saw: $(mig_what)"
[ "$(mig_json 'j["verdict"]')" = resumed ] || die "after-claim: not resumed: $(mig_what)"
assert_alive "$ZOO_HPID" "the root in a after the failed migration"
dst_assert_clean b "$pid" "a failed migration at Go"
[ ! -e "$path" ] ||
	die "the failed migration left a socket file at $path (inode $(stat -c %i "$path"))"
say "failed at Go: migrate exited 1, the tree resumed in a, the socket file bound in b removed"
dst_stop b

dst_start b
mig_ok a "$pid" b
host_wait_gone a "$pid" 5
host_wait_gone a "$child" 5
hpid=$(host_pid b "$pid") || die "no pid $pid in b after the second migration"
track_pid "$hpid"
track_pid "$(host_pid b "$child")"
[ -S "$path" ] || die "no socket file at $path after the second migration"
zoo_check tree_sockpath
host_wait_gone b "$pid" 5
say "second migration: the child reaches the root's listener through $path in b, PASS"
