#!/bin/bash
# tree_local: a process tree (zoo program tree: parent; child a with a grandchild g;
# child b in its own process group; child c stopped; child z a zombie that exited 42,
# child y one killed by SIGTERM;
# a pipe from a to b holding unread data; a data file whose one open description, and
# so one offset, every member shares) through `migrate dump` and `migrate restore`:
#   - refusals first, touching nothing: a dump of the subtree of a alone is refused since
#     a's pipe leads to b, outside that subtree (live migration of trees: migrate_tree.sh);
#   - then the whole tree is dumped (killed) and restored: same pids, parents, groups,
#     sessions; c still stopped, z and y still zombies; then every member verifies itself
#     (ids, shared offset, the pipe's bytes exactly once, by waitpid z's exit code and
#     y's signal).
# And tree_shm (a parent and child sharing anonymous memory) goes through dump and restore
# and goes on sharing it; tree_unix (unix socketpairs and a FIFO across the tree, with data)
# too, after its subtree was refused.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

zoo_start tree
pid=$ZOO_PID
read -r a b c z y < <(sed -n 's/^children \([0-9 ]*\)$/\1/p' "$ZOO_LOG")
[ -n "$y" ] || die "tree did not print its children: $(cat "$ZOO_LOG")"
g=$(tr -d ' \n' <"/proc/$a/task/$a/children")
[ -n "$g" ] || die "child a ($a) has no child"
for p in "$a" "$b" "$c" "$g"; do
	track_pid "$p"
done

# field_of PID N: field N of /proc/PID/stat (1: pid, 3: state, 4: ppid, 5: pgrp, 6: session).
field_of() { sed -E 's/^[0-9]+ \(.*\) //' "/proc/$1/stat" | awk -v n="$2" '{ print $(n - 2) }'; }

# ids_of PID: "ppid pgid sid state" of PID; state T (stopped), Z (zombie) or - (runs).
ids_of() {
	local state
	state=$(field_of "$1" 3)
	case $state in T | Z) ;; *) state=- ;; esac
	echo "$(field_of "$1" 4) $(field_of "$1" 5) $(field_of "$1" 6) $state"
}

declare -A before=()
for p in "$pid" "$a" "$b" "$c" "$z" "$y" "$g"; do
	before[$p]=$(ids_of "$p")
done
[ "$(field_of "$c" 3)" = T ] || die "child c ($c) is not stopped before the dump"
[ "$(field_of "$z" 3)" = Z ] || die "child z ($z) is not a zombie before the dump"
[ "$(field_of "$y" 3)" = Z ] || die "child y ($y) is not a zombie before the dump"

# assert_tree_untouched WHAT: after a refusal, as before it.
assert_tree_untouched() {
	local p tracer
	for p in "$pid" "$a" "$b" "$c" "$z" "$y" "$g"; do
		[ "$(ids_of "$p")" = "${before[$p]}" ] ||
			die "$1: pid $p is now '$(ids_of "$p")' (ppid pgid sid state)," \
				"was '${before[$p]}'"
		tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status")
		[ "$tracer" = 0 ] || die "$1: pid $p left traced by $tracer"
	done
}

# The subtree of a: its pipe's read end is in b, outside it.
mig_expect_fail "$TMP/sub.out" dump -t "$a" -D "$TMP/img-sub"
assert_output_has "$TMP/sub.out" "of pid $a is the write end of a pipe .* held by no process of the tree of pid $a" \
	"dump of the subtree of a"
[ ! -e "$TMP/img-sub/inventory.img" ] || die "a refused dump left an image behind"
assert_tree_untouched "after a refused dump of a subtree"
say "subtree with a pipe leading out refused: $(head -n 1 "$TMP/sub.out")"

# A failure once the tree is frozen (the image directory cannot be made) lets every member
# go on as it was: c stopped, z a zombie, nobody traced.
touch "$TMP/notadir"
mig_expect_fail "$TMP/late.out" dump -t "$pid" -D "$TMP/notadir/img"
assert_tree_untouched "after a dump that failed while the tree was frozen"
say "late failure: tree resumed as it was: $(head -n 1 "$TMP/late.out")"

# A tree that forks and reaps all the time: each dump freezes it whole (children forked or
# exited meanwhile are seized, recorded as zombies or left out) or asks for a retry, and
# lets it run on untraced; the last one kills it and the restored tree runs on.
lib_spawn "$TMP/forker.log" bash -c 'while :; do /bin/true & /bin/true & wait; done'
forker=$!
track_pid "$forker"
sleep 0.3
ok=0
for i in 1 2 3 4 5; do
	if timeout "$MIG_TIMEOUT" "$MIGRATE" dump -t "$forker" -D "$TMP/img-fork$i" \
		--leave-running >"$TMP/fork$i.out" 2>&1; then
		ok=$((ok + 1))
	else
		assert_output_has "$TMP/fork$i.out" "retry the dump" "dump $i of a forking tree"
	fi
	assert_alive "$forker" "forking tree after dump $i"
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$forker/status")" = 0 ] ||
		die "forking tree left traced after dump $i"
done
[ "$ok" -gt 0 ] || die "no dump of the forking tree succeeded: $(cat "$TMP/fork5.out")"
mig_dump "$forker" "$TMP/img-fork"
wait_gone "$forker" 5
wait_reaped "$forker" 10
mig_restore "$TMP/img-fork"
sleep 0.3
assert_alive "$forker" "forking tree restored"
kill "$forker"
say "forking tree: $ok of 5 dumps with --leave-running succeeded, dump and restore run on"

# Anonymous memory shared by a parent and its child comes back as one object, not two
# copies: the child goes on echoing what the parent writes there.
zoo_start tree_shm
shm_pid=$ZOO_PID
shm_child=$(sed -n 's/^child \([0-9]*\)$/\1/p' "$ZOO_LOG")
[ -n "$shm_child" ] || die "tree_shm did not print its child: $(cat "$ZOO_LOG")"
track_pid "$shm_child"
mig_dump "$shm_pid" "$TMP/img-shm"
for p in "$shm_pid" "$shm_child"; do
	wait_gone "$p" 5
	wait_reaped "$p" 10
done
mig_restore "$TMP/img-shm"
assert_alive "$shm_child" "tree_shm's child restored"
[ "$(field_of "$shm_child" 4)" = "$shm_pid" ] || die "tree_shm's child has a new parent"
zoo_check tree_shm
say "tree_shm: shared anonymous memory shared again after the restore, PASS"

# Unix sockets and a FIFO across the tree (zoo tree_unix): a stream pair between the parent
# and a, a seqpacket pair whose second end the parent and b both hold, a datagram pair between
# the parent and the grandchild g, a FIFO the parent holds (inherited by all) and b opened
# too; data queued in each. The subtree of a is refused first (its pairs lead to the parent,
# outside it), then the whole tree goes through dump and restore and every process reads
# exactly what was sent to it.
zoo_start tree_unix
tu_pid=$ZOO_PID
read -r tu_a tu_b < <(sed -n 's/^children \([0-9 ]*\)$/\1/p' "$ZOO_LOG")
[ -n "$tu_b" ] || die "tree_unix did not print its children: $(cat "$ZOO_LOG")"
tu_g=$(tr -d ' \n' <"/proc/$tu_a/task/$tu_a/children")
[ -n "$tu_g" ] || die "tree_unix's child a ($tu_a) has no child"
for p in "$tu_a" "$tu_b" "$tu_g"; do
	track_pid "$p"
done
mig_expect_fail "$TMP/tu-sub.out" dump -t "$tu_a" -D "$TMP/img-tu-sub"
assert_output_has "$TMP/tu-sub.out" \
	"of pid ($tu_a|$tu_g): unix (stream|datagram) socket connected to an unnamed socket \\(inode [0-9]+\\) held by pid $tu_pid \\(tree_unix\\), outside the dumped tree of pid $tu_a" \
	"dump of the subtree of tree_unix's a"
[ ! -e "$TMP/img-tu-sub/inventory.img" ] || die "a refused dump left an image behind"
for p in "$tu_pid" "$tu_a" "$tu_b" "$tu_g"; do
	assert_alive "$p" "after a refused dump of tree_unix's subtree"
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status")" = 0 ] ||
		die "pid $p left traced after a refused dump"
done
say "tree_unix: subtree with pairs leading out refused: $(head -n 1 "$TMP/tu-sub.out")"
mig_dump "$tu_pid" "$TMP/img-tu"
for p in "$tu_pid" "$tu_a" "$tu_b" "$tu_g"; do
	wait_gone "$p" 5
	wait_reaped "$p" 10
done
mig_restore "$TMP/img-tu"
for p in "$tu_a" "$tu_b" "$tu_g"; do
	assert_alive "$p" "tree_unix restored"
done
[ "$(field_of "$tu_g" 4)" = "$tu_a" ] || die "tree_unix's grandchild has a new parent"
zoo_check tree_unix
say "tree_unix: socketpairs, a shared end and a FIFO across the tree, data once each, PASS"

mig_dump "$pid" "$TMP/img"
for p in "$pid" "$a" "$b" "$c" "$z" "$y" "$g"; do
	wait_gone "$p" 5
	wait_reaped "$p" 10
done
mig_restore "$TMP/img"
# The root's parent is whoever adopts it after a detached restore: not compared.
before[$pid]="$(field_of "$pid" 4) ${before[$pid]#* }"
for p in "$pid" "$a" "$b" "$c" "$z" "$y" "$g"; do
	[ "$(ids_of "$p")" = "${before[$p]}" ] ||
		die "restored pid $p is '$(ids_of "$p")' (ppid pgid sid state), was '${before[$p]}'"
	[ "$(cat "/proc/$p/comm")" = tree ] || die "restored pid $p is named $(cat "/proc/$p/comm")"
done
say "restored: pids, parents, groups, sessions, stopped c, zombies z and y as before"

zoo_check tree
wait_gone "$pid" 5
for p in "$a" "$b" "$c" "$g"; do
	wait_gone "$p" 5
done
say "tree: dump, restore, PASS"
