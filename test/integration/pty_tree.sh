#!/bin/bash
# pty_tree: a pseudo-terminal pair split across a process tree, through `migrate dump -t` and
# `migrate restore`:
#   - the zoo program ptytree (master in the root; the slave the controlling terminal of a
#     child that leads its session, whose child is the foreground group) checks itself after
#     the restore: ids, controlling terminals, foreground group, the data queued both ways
#     exactly once, the pair both ways, ^C reaching the foreground group only;
#   - first, without the root, the subtree of the child is refused by name (its terminal's
#     master is outside it: a terminal, --shell-job) and left untouched;
#   - util-linux `script` running a slow bash loop on its own pty, dumped mid-run and restored:
#     its typescript and its output are complete and identical to those of a run left alone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"

field_of() { sed -E 's/^[0-9]+ \(.*\) //' "/proc/$1/stat" | awk -v n="$2" '{ print $(n - 2) }'; }

# --- a pair that is the terminal of a session led from outside the dumped subtree: refused
zoo_start ptytree leak-master
lpid=$ZOO_PID
read -r lc lg < <(sed -n 's/^children \([0-9 ]*\)$/\1/p' "$ZOO_LOG")
[ -n "$lg" ] || die "ptytree leak-master did not print its children: $(cat "$ZOO_LOG")"
track_pid "$lc"
track_pid "$lg"
mig_expect_fail "$TMP/lead.out" dump -t "$lg" -D "$TMP/img-lead"
assert_output_has "$TMP/lead.out" \
	"pid $lg: its controlling terminal is pseudo-terminal /dev/pts/[0-9]+ .*session $lc is led by a process outside the tree" \
	"dump of a subtree whose terminal's session leader is outside it"
[ ! -e "$TMP/img-lead/inventory.img" ] || die "a refused dump left an image behind"
[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$lg/status")" = 0 ] || die "pid $lg left traced"
say "session led from outside the subtree refused: $(head -n 1 "$TMP/lead.out")"
zoo_check ptytree
wait_gone "$lpid" 5
mv "$TMP/ptytree.log" "$TMP/ptytree-leak.log"

# --- the zoo program
zoo_start ptytree
pid=$ZOO_PID
read -r c g < <(sed -n 's/^children \([0-9 ]*\)$/\1/p' "$ZOO_LOG")
[ -n "$g" ] || die "ptytree did not print its children: $(cat "$ZOO_LOG")"
track_pid "$c"
track_pid "$g"
before="$(field_of "$c" 5) $(field_of "$c" 6) $(field_of "$c" 7) $(field_of "$g" 5) $(field_of "$g" 6) $(field_of "$g" 7) $(field_of "$g" 8)"

# The child's subtree holds the slave only: a terminal whose master is elsewhere.
mig_expect_fail "$TMP/sub.out" dump -t "$c" -D "$TMP/img-sub"
assert_output_has "$TMP/sub.out" "fd [0-9]+ is a terminal .*--shell-job" "dump of the subtree of C"
[ ! -e "$TMP/img-sub/inventory.img" ] || die "a refused dump left an image behind"
assert_alive "$c" "after a refused dump"
say "subtree without the master refused: $(head -n 1 "$TMP/sub.out")"


mig_dump "$pid" "$TMP/img-run" --leave-running
mig_dump "$pid" "$TMP/img"
for p in "$pid" "$c" "$g"; do
	wait_gone "$p" 5
	wait_reaped "$p" 10
done
mig_restore "$TMP/img"
assert_alive "$g" "ptytree's grandchild restored"
after="$(field_of "$c" 5) $(field_of "$c" 6) $(field_of "$c" 7) $(field_of "$g" 5) $(field_of "$g" 6) $(field_of "$g" 7) $(field_of "$g" 8)"
# pgid sid tty_nr of C, then of G and the foreground group: the pts number may differ.
[ "$(echo "$after" | awk '{ print $1, $2, $4, $5, $7 }')" = \
	"$(echo "$before" | awk '{ print $1, $2, $4, $5, $7 }')" ] ||
	die "restored ids (pgid sid tty pgid sid tty fg) '$after', were '$before'"
zoo_check ptytree
say "ptytree: dump with --leave-running, dump, restore, PASS"

# --- util-linux script: its pty pair is split between script (the master) and the shell it
# runs (the slave, its controlling terminal, as session leader). The inner loop prints slowly;
# a run left alone gives the reference.
inner='for i in $(seq 1 40); do echo "line $i of 40: $((i * i))"; sleep 0.05; done; echo done'
# run_script NAME: starts script on the loop, typescript $TMP/NAME.ts, output $TMP/NAME.log.
run_script() {
	lib_spawn "$TMP/$1.log" script -q -f -c "bash -c '$inner'" "$TMP/$1.ts"
	SCRIPT_PID=$!
	track_pid "$SCRIPT_PID"
}
# body_of TYPESCRIPT: without the first and last lines (start and end, with their times).
body_of() { sed '1d;$d' "$1"; }

run_script plain
wait_line "$TMP/plain.ts" "Script done .*COMMAND_EXIT_CODE=\"0\"" 30
[ "$(grep -c '^line' "$TMP/plain.log")" -eq 40 ] || die "script left alone: not 40 lines"

run_script moved
wait_line "$TMP/moved.log" "^line 12 " 10
shell=$(tr -d ' \n' <"/proc/$SCRIPT_PID/task/$SCRIPT_PID/children")
[ -n "$shell" ] && [ "$(field_of "$shell" 6)" = "$shell" ] ||
	die "script's shell ($shell) does not lead a session of its own"
mig_dump "$SCRIPT_PID" "$TMP/img-script"
wait_gone "$SCRIPT_PID" 5
wait_reaped "$SCRIPT_PID" 10
lines=$(grep -c '^line' "$TMP/moved.log")
[ "$lines" -lt 40 ] || die "script finished before the dump: nothing left to restore"
mig_restore "$TMP/img-script"
assert_alive "$SCRIPT_PID" "script restored"
[ "$(field_of "$shell" 6)" = "$shell" ] && [ "$(field_of "$shell" 7)" != 0 ] ||
	die "restored shell $shell lost its session or its controlling terminal"
wait_line "$TMP/moved.ts" "Script done .*COMMAND_EXIT_CODE=\"0\"" 30
cmp -s "$TMP/plain.log" "$TMP/moved.log" ||
	die "script's output differs from a run left alone: $(diff "$TMP/plain.log" "$TMP/moved.log" | head -n 5)"
cmp -s <(body_of "$TMP/plain.ts") <(body_of "$TMP/moved.ts") ||
	die "typescript differs from a run left alone: $(diff <(body_of "$TMP/plain.ts") <(body_of "$TMP/moved.ts") | head -n 5)"
say "script: dumped after $lines of 40 lines, restored: output and typescript identical to a run left alone"

# --- a shell job holding a pty of its own: the root (script) runs on a terminal that is not
# the tree's (the pty of an outer script), dumped with --shell-job, restored with --shell-job
# on another terminal (a second outer script's, whose typescript gets the rest of the output);
# the inner pair, the controlling terminal of the inner shell's session, comes back with it.
export SHELL=/bin/bash # script runs its command with $SHELL -c
printf '%s\n' 'for i in $(seq 1 40); do echo "job line $i"; sleep 0.05; done; echo job done' \
	>"$TMP/job.sh"
lib_spawn "$TMP/outer.log" script -q -f -c "script -q -f -c 'bash $TMP/job.sh' $TMP/job.ts" \
	"$TMP/outer.ts"
track_pid $!
wait_line "$TMP/job.ts" "^job line 8" 10
job=$(pgrep -n -f "^script -q -f -c bash $TMP/job.sh") || die "no inner script"
track_pid "$job"
mig_dump "$job" "$TMP/img-job" --shell-job
wait_gone "$job" 5
lines=$(grep -c '^job line' "$TMP/job.ts")
[ "$lines" -lt 40 ] || die "the job finished before the dump: nothing left to restore"
lib_spawn "$TMP/again.log" script -q -f -c "$MIGRATE restore --shell-job -D $TMP/img-job" \
	"$TMP/again.ts"
track_pid $!
wait_line "$TMP/job.ts" "Script done .*COMMAND_EXIT_CODE=\"0\"" 30
wait_line "$TMP/again.ts" "Script done .*COMMAND_EXIT_CODE=\"0\"" 10
[ "$(grep -c '^job line' "$TMP/job.ts")" -eq 40 ] || die "the job's typescript is not whole"
seq $((lines + 1)) 40 | sed 's/^/job line /' >"$TMP/job.rest"
cmp -s "$TMP/job.rest" <(grep '^job line' "$TMP/again.ts" | tr -d '\r') ||
	die "the restore's terminal did not get lines $((lines + 1)) to 40 exactly once: $(tr -d '\r' <"$TMP/again.ts" | head -n 5)"
say "shell job with its own pty: dumped after $lines of 40 lines, restored on another terminal, the rest there exactly once"
