#!/bin/bash
# migrate_tree: process trees migrate live from host a to host b with every dirty tracker
# that works here (uffd-wp, none):
#   - zoo tree (parent; child a with a grandchild g; b in its own process group; c stopped;
#     z and y zombies; a pipe from a to b holding unread data; one open description of a
#     data file shared by every member): in b, the same pids, parents, groups, sessions,
#     c still stopped, z and y still zombies, nobody traced; then every member verifies
#     itself (ids, shared offset, the pipe's bytes exactly once, z's exit code, y's signal);
#   - zoo tree_shm (anonymous memory shared by a parent and its child): shared again in b;
#   - a tree that changes while pre-copy runs (a bash loop that forks all the time) is
#     tried again by the agent, then refused with a retry, and runs on in a untraced.
# Every member is gone from a afterwards; the daemon is left clean.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
live_need
hosts_init

trackers_pick

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
DST_ARGS=(--images-dir "$TMP/dst-b.images")
mkdir -p "$TMP/dst-b.images"
dst_start b

# ids_in HOST PID: "ppid pgid sid state" of PID in HOST; state T (stopped), Z (zombie) or -.
ids_in() {
	host_run "$1" cat "/proc/$2/stat" | sed -E 's/^[0-9]+ \(.*\) //' |
		awk '{ s = $1; if (s != "T" && s != "Z") s = "-"; print $2, $3, $4, s }'
}

# tracer_in HOST PID: the TracerPid of PID in HOST.
tracer_in() { host_run "$1" awk '/^TracerPid:/ { print $2 }' "/proc/$2/status"; }

# tree_case TRACKER: the zoo tree's trip a -> b and its checks there.
tree_case() {
	local tracker=$1 pid a b c z y g p seen img
	local -A before=()
	host_zoo_start a tree
	pid=$ZOO_PID
	read -r a b c z y < <(sed -n 's/^children \([0-9 ]*\)$/\1/p' "$ZOO_LOG")
	[ -n "$y" ] || die "tree did not print its children: $(cat "$ZOO_LOG")"
	g=$(host_run a cat "/proc/$a/task/$a/children" | tr -d ' \n')
	[ -n "$g" ] || die "child a ($a) has no child"
	for p in "$pid" "$a" "$b" "$c" "$z" "$y" "$g"; do
		before[$p]=$(ids_in a "$p")
	done
	[ "${before[$c]##* }" = T ] || die "child c ($c) is not stopped before the migration"
	[ "${before[$z]##* }" = Z ] || die "child z ($z) is not a zombie before the migration"
	sleep 0.3
	mig_ok a "$pid" b --tracker "$tracker" --json
	seen=$(mig_json 'j["processes"]')
	[ "$seen" = 7 ] || die "tree ($tracker): the report counts $seen processes, expected 7"
	seen=$(mig_json 'j["dst_pid"]')
	[ "$seen" = "$pid" ] || die "tree ($tracker): dst_pid $seen, expected $pid"
	for p in "$pid" "$a" "$b" "$c" "$g"; do
		host_wait_gone a "$p" 5
	done
	# The root's parent is whoever adopts it in b: not compared.
	before[$pid]="$(ids_in b "$pid" | cut -d' ' -f1) ${before[$pid]#* }"
	for p in "$pid" "$a" "$b" "$c" "$z" "$y" "$g"; do
		seen=$(ids_in b "$p") || die "tree ($tracker): no pid $p in b"
		[ "$seen" = "${before[$p]}" ] ||
			die "tree ($tracker): pid $p in b is '$seen' (ppid pgid sid state)," \
				"was '${before[$p]}' in a"
		[ "$(host_run b cat "/proc/$p/comm")" = tree ] ||
			die "tree ($tracker): pid $p in b is not named tree"
		[ "$(tracer_in b "$p")" = 0 ] || die "tree ($tracker): pid $p in b is traced"
		track_pid "$(host_pid b "$p")"
	done
	zoo_check tree
	host_wait_gone b "$pid" 5
	mv "$ZOO_LOG" "$TMP/tree-$tracker.done"
	# The daemon's --images-dir copy: the whole tree, valid for `migrate show`.
	img=$(ls -d "$TMP/dst-b.images/$pid"-* | tail -n 1)
	[ -n "$img" ] || die "tree ($tracker): no image directory of pid $pid in b's --images-dir"
	"$MIGRATE" show "$img" >"$TMP/show-$tracker.out" 2>&1 ||
		die "tree ($tracker): migrate show $img: $(tail -n 3 "$TMP/show-$tracker.out")"
	[ "$(ls "$img" | grep -c '^core-[0-9]*\.img$')" = 5 ] ||
		die "tree ($tracker): $img holds $(ls "$img" | tr '\n' ' '), expected 5 core images"
	rm -rf "$img"
	say "tree ($tracker): 7 processes moved from a to b (pids, parents, groups, sessions," \
		"stopped c, zombies z and y), PASS there ($(mig_json \
			'"%d rounds, freeze window %.1f ms" % (len(j["rounds"]), j["freeze_window"]["total_ms"])'))"
}

# shm_case TRACKER [OPTIONS...]: tree_shm's trip; the child echoes the parent's numbers in b.
shm_case() {
	local tracker=$1 pid child
	shift
	host_zoo_start a tree_shm
	pid=$ZOO_PID
	child=$(sed -n 's/^child \([0-9]*\)$/\1/p' "$ZOO_LOG")
	[ -n "$child" ] || die "tree_shm did not print its child: $(cat "$ZOO_LOG")"
	sleep 0.3
	mig_ok a "$pid" b --tracker "$tracker" --json "$@"
	[ "$(mig_json 'j["processes"]')" = 2 ] || die "tree_shm ($tracker): processes != 2"
	host_wait_gone a "$pid" 5
	host_wait_gone a "$child" 5
	[ "$(ids_in b "$child" | cut -d' ' -f1)" = "$pid" ] ||
		die "tree_shm ($tracker): the child $child has another parent in b"
	track_pid "$(host_pid b "$child")"
	zoo_check tree_shm
	host_wait_gone b "$pid" 5
	mv "$ZOO_LOG" "$TMP/tree_shm-$tracker.done"
	say "tree_shm ($tracker $*): parent and child moved, memory shared again in b, PASS"
}

for tracker in "${TRACKERS[@]}"; do
	tree_case "$tracker"
	shm_case "$tracker"
done
# Stop-and-copy: the whole tree in the freeze window; the agent's local copy of the source
# (--images-dir) holds both processes, valid for `migrate show`.
shm_case none --max-rounds 0 --images-dir "$TMP/img-shm"
"$MIGRATE" show "$TMP/img-shm" >"$TMP/show-shm.out" 2>&1 ||
	die "migrate show of the tree's local copy failed: $(tail -n 3 "$TMP/show-shm.out")"
[ "$(ls "$TMP/img-shm" | grep -c '^core-[0-9]*\.img$')" = 2 ] ||
	die "the tree's local copy holds $(ls "$TMP/img-shm" | tr '\n' ' '), expected 2 core images"

# A tree that forks and reaps all the time: the destination can only make the processes
# announced at the start, so the freeze finds a changed tree and everything goes back (the
# agent tries 3 times in all).
host_spawn a "$TMP/forker.log" bash -c 'while :; do /bin/true & /bin/true & wait; done'
forker=$HOST_SPAWNED
track_pid "$(host_pid a "$forker")"
sleep 0.3
mig_to a "$forker" b --tracker none --max-rounds 3
if [ "$MIG_RC" -ne 0 ]; then
	grep -qiE "retry|left the tree|exited" "$LAST_ERR" "$LAST_OUT" ||
		die "forking tree: expected a retry, saw: $(mig_what)"
	host_alive a "$forker" || die "forking tree: the root is gone from a after a failure"
	[ "$(tracer_in a "$forker")" = 0 ] || die "forking tree: left traced in a"
	say "forking tree: refused, runs on in a: $(grep -iE 'retry' "$LAST_ERR" | tail -n 1)"
	kill "$(host_pid a "$forker")"
else
	# It may also have been caught between two forks, with no child at all.
	host_alive b "$forker" || die "forking tree: migrated, but not running in b"
	kill "$(host_pid b "$forker")"
	say "forking tree: caught between two forks, migrated"
fi
dst_assert_clean b 0 "after the tree migrations"
say "trees migrate a -> b with trackers ${TRACKERS[*]}: all verified in host b"
