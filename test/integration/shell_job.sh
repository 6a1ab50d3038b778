#!/bin/bash
# shell_job: a job on a terminal. A bash loop runs in a tmux pane (read -t 1
# from the terminal serves as its sleep, so it never forks); we dump it with
# --shell-job from outside, restore it with --shell-job in another tmux pane,
# and its numbering must go on in that pane from where it stopped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
lib_init "${1:-}"
command -v tmux >/dev/null || skip "needs tmux (apt-get install tmux)"

sock=$TMP/tmux.sock
tm() { tmux -S "$sock" "$@"; }
on_exit "tmux -S '$sock' kill-server"

# The last "step N" of a pane's screen and history.
last_step() {
	tm capture-pane -p -S - -t "$1" | sed -n 's/^step \([0-9]*\)$/\1/p' | tail -n 1
}

# wait_step PANE N: until the pane shows "step N".
wait_step() {
	local i
	for ((i = 0; i < 200; i++)); do
		tm capture-pane -p -S - -t "$1" | grep -qx "step $2" && return 0
		sleep 0.05
	done
	die "pane $1: expected 'step $2', its screen:" \
		"$(tm capture-pane -p -S - -t "$1" | grep . | tail -n 8)"
}

loop='i=0; while :; do echo "step $i"; i=$((i+1)); read -t 1 || true; done'
tm -f /dev/null new-session -d -s job -x 100 -y 30 "bash -c '$loop'"
tm set-option -g remain-on-exit on
job_pid=$(tm display-message -p -t job:0 '#{pane_pid}')
track_pid "$job_pid"
wait_step job:0 2
[ "$(ls "/proc/$job_pid/task" | wc -l)" -eq 1 ] || die "the job is not a single thread"
[ -z "$(cat "/proc/$job_pid/task/$job_pid/children")" ] || die "the job has children"

mig_dump "$job_pid" "$TMP/img" --shell-job
wait_gone "$job_pid" 5
before=$(last_step job:0)
say "dumped the job (pid $job_pid) after step $before"

restore_cmd="'$MIGRATE' restore -D '$TMP/img' --shell-job >'$TMP/restore.out' 2>&1"
tm new-window -t job -n restored "$restore_cmd; echo restore-exit \$?"
for ((i = 0; i < 100; i++)); do
	is_alive "$job_pid" && break
	sleep 0.05
done
assert_alive "$job_pid" "restored job"
track_pid "$job_pid"
wait_step job:restored $((before + 2))
first=$(tm capture-pane -p -S - -t job:restored | sed -n 's/^step \([0-9]*\)$/\1/p' | head -n 1)
[ "$first" = $((before + 1)) ] ||
	die "the restored job's first step is '$first', expected $((before + 1))"
steps=$(tm capture-pane -p -S - -t job:restored | sed -n 's/^step \([0-9]*\)$/\1/p' |
	awk 'NR > 1 && $1 != prev + 1 { print "gap " prev " to " $1 } { prev = $1 }')
[ -z "$steps" ] || die "restored numbering: $steps"
say "the restored job goes on at step $first"

# Without --restore-detached, restore waits for the job and passes on how it ended.
kill -KILL "$job_pid"
wait_gone "$job_pid" 5
for ((i = 0; i < 100; i++)); do
	tm capture-pane -p -S - -t job:restored | grep -q '^restore-exit' && break
	sleep 0.05
done
tm capture-pane -p -S - -t job:restored | grep -q '^restore-exit 137$' ||
	die "migrate restore --shell-job did not report the job's SIGKILL (128+9)"
