#!/bin/bash
# pty_tree_migrate: the zoo program ptytree (a pty pair split across a tree: the master in the
# root, the slave the controlling terminal of a child leading its session, a grandchild in the
# foreground group) migrates live from host a to host b with every dirty tracker that works
# here; in b the same pids, groups and sessions, the child and grandchild on the new pair's
# slave as their controlling terminal, and ptytree verifies itself there (queued data both
# ways exactly once, the pair both ways, ^C to the foreground group only).
# Then util-linux `script` running a slow bash loop on its own pty migrates mid-run with each
# tracker: script waits in poll() without a timeout, interrupted when the agent starts the
# tracker and again at the freeze (dump_core.c: it runs poll again rather than through
# restart_syscall, which EINTR would end); its output and typescript must be identical to those
# of a run left alone, and the shell must keep its session and controlling terminal in b.
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
dst_start b

# ids_in HOST PID: "ppid pgid sid tty_nr-is-set tpgid" of PID in HOST.
ids_in() {
	host_run "$1" cat "/proc/$2/stat" | sed -E 's/^[0-9]+ \(.*\) //' |
		awk '{ print $2, $3, $4, ($5 != 0), $6 }'
}

for tracker in "${TRACKERS[@]}"; do
	host_zoo_start a ptytree
	pid=$ZOO_PID
	read -r c g < <(sed -n 's/^children \([0-9 ]*\)$/\1/p' "$ZOO_LOG")
	[ -n "$g" ] || die "ptytree did not print its children: $(cat "$ZOO_LOG")"
	before="$(ids_in a "$c") / $(ids_in a "$g")"
	sleep 0.3
	mig_ok a "$pid" b --tracker "$tracker" --json
	[ "$(mig_json 'j["processes"]')" = 3 ] || die "ptytree ($tracker): processes != 3"
	for p in "$pid" "$c" "$g"; do
		host_wait_gone a "$p" 5
		track_pid "$(host_pid b "$p")"
	done
	after="$(ids_in b "$c") / $(ids_in b "$g")"
	[ "$after" = "$before" ] ||
		die "ptytree ($tracker): child and grandchild in b are '$after' (ppid pgid sid" \
			"has-tty tpgid), were '$before' in a"
	zoo_check ptytree
	host_wait_gone b "$pid" 5
	mv "$ZOO_LOG" "$TMP/ptytree-$tracker.done"
	say "ptytree ($tracker): pty pair split across 3 processes moved a -> b, PASS there"
done
dst_assert_clean b 0 "after the ptytree migrations"

# --- util-linux script: the master in script, the slave the controlling terminal of the shell.
# The loop waits with bash's own `read -t` (nothing is typed), not `sleep`: a tree that forks a
# child every 0.1 s keeps changing under a live migration, which then refuses it (README).
inner='for i in $(seq 1 40); do echo "line $i of 40: $((i * i))"; read -t 0.1 || :; done; echo done'
# script_start NAME: script on the loop in host a, typescript $TMP/NAME.ts, output $TMP/NAME.log.
script_start() {
	rm -f "$TMP/$1.ts" "$TMP/$1.log"
	host_spawn a "$TMP/$1.log" script -q -f -c "bash -c '$inner'" "$TMP/$1.ts"
	SCRIPT_PID=$HOST_SPAWNED
	track_pid "$(host_pid a "$SCRIPT_PID")"
}
# body_of TYPESCRIPT: without the first and last lines (start and end, with their times).
body_of() { sed '1d;$d' "$1"; }
# sid_tty HOST PID: "sid has-tty" of PID in HOST.
sid_tty() { ids_in "$1" "$2" | awk '{ print $3, $4 }'; }

script_start plain
wait_line "$TMP/plain.ts" "Script done .*COMMAND_EXIT_CODE=\"0\"" 30
[ "$(grep -c '^line' "$TMP/plain.log")" -eq 40 ] || die "script left alone: not 40 lines"
for tracker in "${TRACKERS[@]}"; do
	script_start "moved-$tracker"
	wait_line "$TMP/moved-$tracker.log" "^line 8 " 10
	shell=$(host_run a cat "/proc/$SCRIPT_PID/task/$SCRIPT_PID/children" | tr -d ' \n')
	[ -n "$shell" ] && [ "$(sid_tty a "$shell")" = "$shell 1" ] ||
		die "script's shell ($shell) does not lead a session on its terminal"
	track_pid "$(host_pid a "$shell")"
	mig_ok a "$SCRIPT_PID" b --tracker "$tracker"
	lines=$(grep -c '^line' "$TMP/moved-$tracker.log")
	[ "$lines" -lt 40 ] || die "script ($tracker) finished before the migration"
	host_wait_gone a "$SCRIPT_PID" 5
	hshell=$(host_pid b "$shell") || die "script ($tracker): no shell $shell in b"
	track_pid "$hshell"
	[ "$(sid_tty b "$shell")" = "$shell 1" ] ||
		die "script ($tracker): the shell $shell in b lost its session or terminal"
	wait_line "$TMP/moved-$tracker.ts" "Script done .*COMMAND_EXIT_CODE=\"0\"" 30
	cmp -s "$TMP/plain.log" "$TMP/moved-$tracker.log" ||
		die "script ($tracker): output differs from a run left alone:" \
			"$(diff "$TMP/plain.log" "$TMP/moved-$tracker.log" | head -n 5)"
	cmp -s <(body_of "$TMP/plain.ts") <(body_of "$TMP/moved-$tracker.ts") ||
		die "script ($tracker): typescript differs from a run left alone:" \
			"$(diff <(body_of "$TMP/plain.ts") <(body_of "$TMP/moved-$tracker.ts") |
				head -n 5)"
	host_wait_gone b "$SCRIPT_PID" 5
	say "script ($tracker): migrated a -> b after $lines of 40 lines: output and typescript" \
		"identical to a run left alone"
done
dst_assert_clean b 0 "after the script migrations"
