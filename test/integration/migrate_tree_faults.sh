#!/bin/bash
# migrate_tree_faults: a live migration of a process tree that fails in its freeze window
# leaves every process of the tree in host a exactly as it was, and nothing in host b.
# The zoo tree (parent; a with a grandchild g; b in its own group; c stopped; z and y
# zombies; a pipe from a to b holding unread data) goes from a to b while the destination's
# session process dies (MIGRATE_DST_FAULT, as a crash would):
#
#	final-round    when the final round's pages are in, before the records
#	before-ready   once every process of the tree was completed there (Commit done)
#
# and a tree of bash and a 256 MiB dirtier (test/hosts) whose session process is SIGKILLed
# while the final round of a stop-and-copy (--max-rounds 0) streams the dirtier's memory.
#
# Each time: migrate exits 1 with the verdict "resumed"; in a, every member has its
# parent, group, session and state (c still stopped, z and y still zombies) and nobody is
# traced (TracerPid 0); b holds nothing but its init and the daemon; and the tree then
# verifies itself in a (pipe data exactly once, shared offset, exit codes).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
live_need
hosts_init

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b

# ids_in HOST PID: "ppid pgid sid state" of PID in HOST; state T (stopped), Z (zombie) or -.
ids_in() {
	host_run "$1" cat "/proc/$2/stat" | sed -E 's/^[0-9]+ \(.*\) //' |
		awk '{ s = $1; if (s != "T" && s != "Z") s = "-"; print $2, $3, $4, s }'
}

# fault_case POINT: the session dies at POINT; the tree must be intact in a.
fault_case() {
	local fault=$1 pid a b c z y g p seen tracer
	local -A before=()
	dst_start b MIGRATE_DST_FAULT="$fault"
	host_zoo_start a tree
	pid=$ZOO_PID
	read -r a b c z y < <(sed -n 's/^children \([0-9 ]*\)$/\1/p' "$ZOO_LOG")
	[ -n "$y" ] || die "tree did not print its children: $(cat "$ZOO_LOG")"
	g=$(host_run a cat "/proc/$a/task/$a/children" | tr -d ' \n')
	[ -n "$g" ] || die "child a ($a) has no child"
	for p in "$pid" "$a" "$b" "$c" "$z" "$y" "$g"; do
		before[$p]=$(ids_in a "$p")
		track_pid "$(host_pid a "$p")"
	done
	[ "${before[$c]##* }" = T ] || die "child c ($c) is not stopped before the migration"
	sleep 0.3
	mig_to a "$pid" b --json
	[ "$MIG_RC" -eq 1 ] || die "$fault: expected exit status 1, saw: $(mig_what)"
	seen=$(mig_json 'j["verdict"]')
	[ "$seen" = resumed ] || die "$fault: verdict '$seen', expected resumed: $(mig_what)"
	for p in "$pid" "$a" "$b" "$c" "$z" "$y" "$g"; do
		seen=$(ids_in a "$p") || die "$fault: pid $p is gone from a"
		[ "$seen" = "${before[$p]}" ] ||
			die "$fault: pid $p in a is now '$seen' (ppid pgid sid state), was" \
				"'${before[$p]}'"
		tracer=$(host_run a awk '/^TracerPid:/ { print $2 }' "/proc/$p/status")
		[ "$tracer" = 0 ] || die "$fault: pid $p in a is left traced by $tracer"
	done
	dst_assert_clean b "$pid" "session exits $fault"
	zoo_check tree
	host_wait_gone a "$pid" 5
	mv "$ZOO_LOG" "$TMP/tree-$fault.done"
	say "$fault: migrate exited 1 ($(mig_json 'j["message"]' | cut -c1-100)...), the tree" \
		"runs on in a as it was (c stopped, z and y zombies, nobody traced), PASS there;" \
		"b clean"
	dst_stop b
}

# kill_case: bash and its child dirtier, the session SIGKILLed in the final round.
kill_case() {
	local root child hp rss session p
	rm -f "$TMP/dirtier.check"
	host_spawn a "$TMP/dirtier.log" bash -c \
		"$BUILD/hosts/dirtier $TMP/dirtier.check 256 16 16 & wait"
	root=$HOST_SPAWNED
	wait_line "$TMP/dirtier.log" '^READY [0-9]+$'
	child=$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$TMP/dirtier.log")
	for p in "$root" "$child"; do
		track_pid "$(host_pid a "$p")"
	done
	dst_start b
	mig_bg a "$root" b --tracker uffd-wp --max-rounds 0 --json
	for ((i = 0; i < 600; i++)); do
		if hp=$(host_pid b "$child"); then
			rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$hp/status" 2>/dev/null) || true
			[ "${rss:-0}" -ge $((32 * 1024)) ] && break
		fi
		sleep 0.05
	done
	[ "${rss:-0}" -ge $((32 * 1024)) ] ||
		die "kill: the dirtier's copy in b never held 32 MiB: $(mig_what)"
	session=$(dst_sessions b)
	[ "$(echo "$session" | wc -w)" -eq 1 ] || die "kill: expected one session, saw '$session'"
	kill -KILL "$session"
	mig_bg_wait
	[ "$MIG_RC" -eq 1 ] || die "kill: expected exit status 1, saw: $(mig_what)"
	[ "$(mig_json 'j["verdict"]')" = resumed ] || die "kill: not resumed: $(mig_what)"
	for p in "$root" "$child"; do
		hp=$(host_pid a "$p") || die "kill: pid $p is gone from a"
		[ "$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$hp/stat")" != T ] ||
			die "kill: pid $p in a is left stopped"
		[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$hp/status")" = 0 ] ||
			die "kill: pid $p in a is left traced"
	done
	dst_assert_clean b "$child" "session killed in the final round"
	zoo_check dirtier
	host_wait_gone a "$root" 10
	say "kill in the final round (the dirtier's copy held ${rss} KiB): migrate exited 1," \
		"bash and the dirtier run on in a, the dirtier's memory checked (PASS); b clean"
	dst_stop b
}

fault_case final-round
fault_case before-ready
kill_case
say "every fault in the freeze window: the tree intact in a, nothing left in b"
