#!/bin/bash
# bench_migrate.sh: the live-migration benchmark (issue 3, ARCHITECTURE.md
# section 9). Run it by hand on a quiet machine, as root:
#
#	bash bench/bench_migrate.sh BUILD_DIR [--quick]
#
# Two test hosts (test/integration/lib_hosts.sh: network + PID namespaces
# joined by veth), migrate-dst in host b. For each size (64 MiB, 256 MiB,
# 1 GiB; --quick: 64 and 256) and each dirty rate (idle; a moderate writer;
# a writer as fast as it can, beyond what a round can send), a bench_dirtier
# (bench/bench_dirtier.c: random pages over all its memory, and a thread
# that notes the longest pause the process sees) starts in host a and
# migrates to b twice, on two fresh processes: pre-copy (the agent's
# defaults) and stop-and-copy (--max-rounds 0); the whole grid runs
# BENCH_REPEAT times. Every migrated process then verifies all its pages in
# b; a run whose migration or check fails makes its row FAILED.
#
# Output: one table (per cell the run of median freeze window: rounds, freeze
# window and its parts, the range of the windows, the longest pause the
# process saw, total time, bytes on the wire / RSS, the dirty rate the
# tracker measured and the round-0 bandwidth), then the ratios that matter,
# compared within this one run: idle freeze window at the largest size / at
# 64 MiB (the issue's target: at most 2x) and pre-copy / stop-and-copy freeze
# window per size and rate. Nothing is asserted on timings: the exit status
# is 0 when every migration and check succeeded, 1 otherwise, 77 when the
# agent, the daemon or root is missing. Everything (hosts, processes, files)
# is removed on every exit path (lib.sh's and lib_hosts.sh's traps).
#
# Environment: BENCH_SIZES (MiB, e.g. "64 512"), BENCH_RATES (MiB/s, 0 is
# idle), BENCH_REPEAT (runs per cell, 3), BENCH_KEEP=DIR keeps the --json
# reports and the logs in DIR.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
IT_DIR=$BENCH_DIR/../test/integration

build=${1:-}
quick=0
case ${2:-} in
'') ;;
--quick) quick=1 ;;
*) echo "usage: $0 BUILD_DIR [--quick]" >&2; exit 2 ;;
esac
[ -n "$build" ] && [ "$build" != --quick ] || { echo "usage: $0 BUILD_DIR [--quick]" >&2; exit 2; }

# shellcheck source=../test/integration/lib.sh
source "$IT_DIR/lib.sh"
# shellcheck source=../test/integration/lib_hosts.sh
source "$IT_DIR/lib_hosts.sh"
# A 1 GiB process fills and verifies its memory at CPU speed on a shared
# machine: give every wait room. (All three are read by lib.sh.)
# shellcheck disable=SC2034
{
	TEST_NAME=bench_migrate
	LIB_TIMEOUT=120
	MIG_TIMEOUT=300
}

if [ $quick -eq 1 ]; then
	SIZES=${BENCH_SIZES:-64 256}
else
	SIZES=${BENCH_SIZES:-64 256 1024}
fi
# idle; moderate (a few MiB per round at the link's speed); "max": the
# dirtier asked for far more than it can write, so it writes as fast as it
# can (one store per page: tens of GB/s without a tracker), which is more
# than a round sends in the same time (the table shows both: measured dirty
# rate and round-0 bandwidth).
RATE_MODERATE=64
RATE_MAX=100000
RATES=${BENCH_RATES:-0 $RATE_MODERATE $RATE_MAX}
# Each cell runs this many times; the table shows the run of median freeze
# window and the range: one sample of a few milliseconds is mostly noise.
REPEAT=${BENCH_REPEAT:-3}

lib_init "$build"
live_need
hosts_init
DIRTIER=$BUILD/bench/bench_dirtier
[ -x "$DIRTIER" ] || die "$DIRTIER not built (make bench_dirtier)"

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
dst_start b
ROWS=$TMP/rows.tsv
: >"$ROWS"
if [ -n "${BENCH_KEEP:-}" ]; then
	mkdir -p "$BENCH_KEEP"
	on_exit "cp -f $TMP/*.json $TMP/*.err $TMP/*.log $TMP/rows.tsv $BENCH_KEEP/"
fi

rate_label() {
	case $1 in
	0) echo idle ;;
	"$RATE_MAX") echo "max (asked $1 MiB/s)" ;;
	*) echo "$1 MiB/s" ;;
	esac
}

# bench_kill_leftovers: after a failed row, whatever it left in a or b (but
# their init and the daemon) is killed by PID, so the next row starts clean.
bench_kill_leftovers() {
	local host nspid comm pid
	for host in a b; do
		while read -r nspid comm; do
			[ "$nspid" != 1 ] && [ "$nspid" != "${DST_NSPID[$host]:-}" ] || continue
			pid=$(host_pid "$host" "$nspid") || continue
			say "killing $comm (pid $nspid in $host) left by a failed row"
			kill -KILL "$pid" 2>/dev/null || true
		done < <(host_nspids "$host")
	done
}

# bench_one SIZE RATE MODE TAG: one fresh dirtier of SIZE MiB writing RATE
# MiB/s, migrated a -> b by MODE (precopy | stop), then checked in b. Runs in
# a subshell (lib.sh's die ends only this row); the report goes to
# $TMP/TAG.json, the agent's messages to $TMP/TAG.err, the dirtier's log
# (its longest pause) to $TMP/TAG.log.
bench_one() {
	local size=$1 rate=$2 mode=$3 tag=$4 pid opts=(--json)
	[ "$mode" = stop ] && opts+=(--max-rounds 0)
	# One log per row: zoo_check waits for the first PASS line in it.
	rm -f "$TMP/bench_dirtier.log"
	host_zoo_start a "$DIRTIER" "$size" "$rate"
	pid=$ZOO_PID
	# Let a writer reach its pace before the migration starts.
	sleep 1
	mig_to a "$pid" b "${opts[@]}"
	cp "$LAST_OUT" "$TMP/$tag.json"
	cp "$LAST_ERR" "$TMP/$tag.err"
	[ "$MIG_RC" -eq 0 ] || die "$tag: $(mig_what)"
	host_wait_gone a "$pid" 30
	host_alive b "$pid" || die "$tag: pid $pid is not in host b after the migration"
	zoo_check bench_dirtier
	host_wait_gone b "$pid" 60
	cp "$TMP/bench_dirtier.log" "$TMP/$tag.log"
}

# bench_row SIZE RATE MODE RUN: bench_one, and its line in $ROWS.
bench_row() {
	local size=$1 rate=$2 mode=$3 tag=$1m-$2-$3-$4 status=ok
	(bench_one "$size" "$rate" "$mode" "$tag") >"$TMP/$tag.run" 2>&1 || status=FAILED
	if [ $status != ok ]; then
		say "$tag: FAILED: $(grep -m1 FAIL "$TMP/$tag.run" || tail -n 1 "$TMP/$tag.run")"
		bench_kill_leftovers
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$rate" "$mode" "$status" "$TMP/$tag.json" \
		"$TMP/$tag.log" >>"$ROWS"
}

# bench_table ROWS RATE_MAX: the table and the ratios, from the --json reports
# (keys: README "Live migration"). A report that lacks a key prints "-".
bench_table() {
	python3 - "$@" <<'PY'
import json, sys

rows_file, rate_max = sys.argv[1], int(sys.argv[2])
MODES = {"precopy": "pre-copy", "stop": "stop+copy"}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def rate_name(rate):
    return "idle" if rate == 0 else "max" if rate == rate_max else "%dMiB/s" % rate


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


cells = {}  # (size, rate, mode) -> [(status, report)], in the order they ran
def pause_ms(log):
    """The longest pause the dirtier saw ("bench_dirtier: longest pause X ms")."""
    try:
        for line in open(log):
            if line.startswith("bench_dirtier: longest pause "):
                return float(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


for line in open(rows_file):
    size, rate, mode, status, path, log = line.rstrip("\n").split("\t")
    report = load(path)
    if report is not None:
        report["bench_pause_ms"] = pause_ms(log)
    cells.setdefault((int(size), int(rate), mode), []).append((status, report))


def window_ms(j):
    return ((j or {}).get("freeze_window") or {}).get("total_ms")


def median_run(runs):
    """The report of median freeze window, and the windows' range."""
    ok = sorted((window_ms(j), i) for i, (st, j) in enumerate(runs)
                if st == "ok" and window_ms(j) is not None)
    if not ok:
        return None, None
    return runs[ok[(len(ok) - 1) // 2][1]][1], (ok[0][0], ok[-1][0])


COLS = "%5s %-8s %-9s %6s %8s %13s %7s %7s %7s %8s %7s %8s %9s %8s %8s %8s  %s"
print(COLS % ("size", "dirty", "mode", "rounds", "window", "range", "freeze", "state",
              "pages", "restore", "resume", "pause", "total", "wire/RSS", "dirtied",
              "round-0", "result"))
print(COLS % ("MiB", "", "", "", "ms", "ms", "ms", "ms", "ms", "ms", "ms", "ms", "ms", "",
              "MB/s", "MB/s", ""))
window = {}
for (size, rate, mode), runs in sorted(cells.items(),
                                       key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "precopy")):
    j, span = median_run(runs)
    failed = sum(1 for st, _ in runs if st != "ok")
    result = "ok" if not failed else "FAILED %d/%d" % (failed, len(runs))
    j = j or {}
    fw = j.get("freeze_window", {})
    tot = j.get("totals", {})
    rounds = j.get("rounds", [])
    dirtied = max((r.get("dirty_rate_mbps", 0) for r in rounds[1:]), default=None)
    bw = (rounds or [{}])[0].get("bandwidth_mbps")
    parts = [fmt(fw.get(k)) for k in
             ("freeze_ms", "state_ms", "last_pages_ms", "restore_ms", "resume_ms")]
    if j:
        window[(size, rate, mode)] = fw.get("total_ms")
    print(COLS % (size, rate_name(rate), MODES.get(mode, mode), tot.get("rounds", "-"),
                  fmt(fw.get("total_ms")),
                  "-" if not span else "%.1f-%.1f" % span, *parts,
                  fmt(j.get("bench_pause_ms")), fmt(tot.get("time_ms")), fmt(tot.get("bytes_per_rss"), "%.2f"),
                  fmt(dirtied, "%.0f"), fmt(bw, "%.0f"), result))

print()
print("Each row: the run of median freeze window among %d (range: lowest-highest window);"
      % max(len(r) for r in cells.values()))
print("rounds: all of them, the final (frozen) one included. window: the freeze window,")
print("from the first interrupt to the destination's verdict = freeze (stopping the")
print("threads) + state + pages (last dirty pages) + restore + resume. pause: the")
print("longest the process itself saw its clock jump (1 ms ticks of a thread of its own,")
print("over its whole run), the floor of what a client would see. dirtied: highest")
print("dirty rate the tracker measured (a round's dirty set over the previous round's")
print("duration: at most the size over that duration); round-0: bandwidth of the first")
print("round (for stop-and-copy: of the frozen one).")
print()
sizes = sorted({c[0] for c in cells})
small, large = sizes[0], sizes[-1]
for mode in ("precopy", "stop") if large != small else ():
    a, b = window.get((large, 0, mode)), window.get((small, 0, mode))
    if a is not None and b:
        print("idle freeze window, %s, %d MiB / %d MiB: %.2fx%s" %
              (MODES[mode], large, small, a / b,
               " (target: at most 2x)" if mode == "precopy" else ""))
for size in sizes:
    for rate in sorted({c[1] for c in cells}):
        a, b = window.get((size, rate, "precopy")), window.get((size, rate, "stop"))
        if a is not None and b:
            print("pre-copy / stop-and-copy freeze window, %d MiB, %s: %.2f" %
                  (size, rate_name(rate), a / b))
runs = [st for r in cells.values() for st, _ in r]
print("%d migration(s), %d FAILED" % (len(runs), sum(1 for st in runs if st != "ok")))
PY
}

# The first pass over memory the machine has not touched lately is several
# times slower than the next ones (ARCHITECTURE.md section 3): one idle process
# of the largest size migrates first in each mode, not measured, so that both
# hosts' memory is warm.
largest=$(echo "$SIZES" | tr ' ' '\n' | sort -n | tail -n 1)
for mode in precopy stop; do
	say "warm-up: $mode of an idle $largest MiB process (not measured)"
	(bench_one "$largest" 0 "$mode" "warmup-$mode") >"$TMP/warmup-$mode.run" 2>&1 ||
		die "the warm-up migration failed: $(grep -m1 FAIL "$TMP/warmup-$mode.run" || true)"
done

# The repetitions go round the whole grid, so that a slow moment of the
# machine spreads over the cells instead of spoiling one.
start=$SECONDS
for ((run = 1; run <= REPEAT; run++)); do
	for size in $SIZES; do
		for rate in $RATES; do
			for mode in precopy stop; do
				say "run $run/$REPEAT: size $size MiB, dirty rate" \
					"$(rate_label "$rate"), $mode"
				bench_row "$size" "$rate" "$mode" "$run"
			done
		done
	done
done
say "$(wc -l <"$ROWS") migrations in $((SECONDS - start)) s on $(nproc) CPUs," \
	"$(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"

bench_table "$ROWS" "$RATE_MAX"
! grep -q $'\tFAILED\t' "$ROWS"
