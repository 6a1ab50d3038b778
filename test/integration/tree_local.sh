#!/bin/bash
# tree_local: a process tree (zoo program tree: parent, child a with a
# grandchild, child b in its own process group, child c stopped).
# Tree dump and restore are not there yet, so today this checks the refusal:
#   `migrate dump` and `migrate --to` of the parent exit non-zero naming every
#   descendant and what it is (grandchild, stopped, own process group), and
#   touch nothing: no image left, the parent runs untraced, c is still stopped,
#   and the tree then passes its own checks (ids, waitpid of its children).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

zoo_start tree
pid=$ZOO_PID
read -r a b c < <(sed -n 's/^children \([0-9]*\) \([0-9]*\) \([0-9]*\)$/\1 \2 \3/p' "$ZOO_LOG")
[ -n "$c" ] || die "tree did not print its children: $(cat "$ZOO_LOG")"
g=$(tr -d ' \n' <"/proc/$a/task/$a/children")
[ -n "$g" ] || die "child a ($a) has no child"
for p in "$a" "$b" "$c" "$g"; do
	track_pid "$p"
done

# state_of PID: the state letter of /proc/PID/stat.
state_of() { sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat"; }

# assert_tree_untouched WHAT: after a refusal, as before it.
assert_tree_untouched() {
	local p tracer
	for p in "$pid" "$a" "$b" "$g"; do
		assert_alive "$p" "$1"
		[ "$(state_of "$p")" != T ] && [ "$(state_of "$p")" != t ] ||
			die "$1: pid $p left stopped"
	done
	[ "$(state_of "$c")" = T ] || die "$1: stopped child $c is now in state $(state_of "$c")"
	for p in "$pid" "$a" "$b" "$c" "$g"; do
		tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status")
		[ "$tracer" = 0 ] || die "$1: pid $p left traced by $tracer"
	done
}

# assert_names_tree FILE WHAT: the refusal names each member for what it is.
assert_names_tree() {
	assert_output_has "$1" "process trees are not supported" "$2"
	assert_output_has "$1" "\\b$a \\(child\\)" "$2: child a"
	assert_output_has "$1" "\\b$b \\(child, own process group $b\\)" "$2: child b"
	assert_output_has "$1" "\\b$c \\(child, stopped\\)" "$2: child c"
	assert_output_has "$1" "\\b$g \\(grandchild\\)" "$2: grandchild"
}

mig_expect_fail "$TMP/dump.out" dump -t "$pid" -D "$TMP/img"
assert_names_tree "$TMP/dump.out" "dump of a tree"
[ ! -e "$TMP/img/inventory.img" ] || die "a refused dump left an image behind"
assert_tree_untouched "after a refused dump"
say "dump of a tree refused: $(head -n 1 "$TMP/dump.out")"

# Live migration goes through the same checks before it connects anywhere: the
# address is a benchmark range (198.18.0.0/15) never reached.
head -c 32 /dev/urandom | base64 >"$TMP/psk"
chmod 600 "$TMP/psk"
mig_expect_fail "$TMP/to.out" --to 198.18.0.2:7000 --psk-file "$TMP/psk" "$pid"
assert_names_tree "$TMP/to.out" "migrate --to of a tree"
assert_tree_untouched "after a refused migrate --to"
say "migrate --to of a tree refused: $(head -n 1 "$TMP/to.out")"

zoo_check tree
wait_gone "$pid" 5
for p in "$a" "$b" "$c" "$g"; do
	wait_gone "$p" 5
done
