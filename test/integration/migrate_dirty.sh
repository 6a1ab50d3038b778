#!/bin/bash
# migrate_dirty: pre-copy against a process that never stops writing. The
# dirtier (test/hosts/dirtier.c: 256 MiB, rewriting random pages of its first
# 16 MiB at 64 MiB/s) migrates a -> b with uffd-wp: the --json report must
# show round 0 and at least one more round sent while it ran, dirty sets
# bounded by the hot set, and a final (frozen) round that carries much less
# than its RSS. Then the same process
# goes back b -> a by stop-and-copy (--max-rounds 0), whose final round
# carries it all. Timings are printed side by side, not asserted: machines
# are noisy; the structure of the rounds is what pre-copy guarantees. The
# dirtier then verifies every page against the generation it remembers.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
live_need
hosts_init
tracker_works uffd-wp || skip "the uffd-wp tracker does not work here (see 'migrate check')"

MIB=256
RATE=64
HOT=16

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
dst_start a
dst_start b

# report WHAT: one line of the last report's figures.
report() {
	say "$1: $(mig_json '"%d rounds while running, dirty pages per round %s, final round " \
		"%d pages %d bytes, RSS %d bytes, freeze window %.1f ms, total %.1f ms, " \
		"converged: %s" % (
		len([r for r in j["rounds"] if not r["final"]]),
		[r["dirty_pages"] for r in j["rounds"]],
		[r for r in j["rounds"] if r["final"]][0]["pages"],
		[r for r in j["rounds"] if r["final"]][0]["bytes"],
		j["totals"]["rss_bytes"], j["freeze_window"]["total_ms"], j["totals"]["time_ms"],
		j.get("converge_reason") or "-")')"
}

host_zoo_start a "$BUILD/hosts/dirtier" "$MIB" "$RATE" "$HOT"
pid=$ZOO_PID
sleep 0.5

# Pre-copy a -> b. A downtime target below the freeze's fixed costs keeps it
# iterating until the dirty set stops shrinking (else the default 300 ms
# lets it freeze after round 0 with the whole hot set).
mig_ok a "$pid" b --tracker uffd-wp --max-downtime 5 --json
host_wait_gone a "$pid" 5
host_alive b "$pid" || die "expected the dirtier (pid $pid) in host b after pre-copy, none"
track_pid "$(host_pid b "$pid")"
report "pre-copy a -> b"
rounds=$(mig_json 'len([r for r in j["rounds"] if not r["final"]])')
final=$(mig_json '[r["bytes"] for r in j["rounds"] if r["final"]][0]')
rss=$(mig_json 'j["totals"]["rss_bytes"]')
pre_window=$(mig_json 'round(j["freeze_window"]["total_ms"])')
[ "$rss" -ge $((MIB * 1024 * 1024 * 9 / 10)) ] ||
	die "pre-copy: the report says RSS $rss bytes, expected at least 90% of $MIB MiB"
[ "$rounds" -ge 2 ] ||
	die "pre-copy: expected round 0 and at least one more round while the process ran," \
		"saw $rounds round(s) before the freeze"
# Only the hot set (and a few pages of stack and libc) is written after round 0.
bad=$(mig_json '[r["dirty_pages"] for r in j["rounds"][1:]
	if r["dirty_pages"] > '"$HOT"' * 256 + 256]')
[ -z "$bad" ] || die "pre-copy: dirty sets after round 0 must stay within the $HOT MiB hot set" \
	"($((HOT * 256)) pages + 256), saw $(echo $bad)"
# The hot set bounds the final dirty set: HOT MiB at most, far below the RSS.
[ "$final" -lt $((rss / 4)) ] ||
	die "pre-copy: the frozen round carried $final bytes, expected much less than" \
		"the RSS ($rss bytes; the dirtier writes only its first $HOT MiB)"
sleep 0.5

# Stop-and-copy of the same process b -> a: everything crosses in the freeze.
mig_ok b "$pid" a --tracker uffd-wp --max-rounds 0 --json
host_wait_gone b "$pid" 5
host_alive a "$pid" || die "expected the dirtier (pid $pid) back in host a, none"
track_pid "$(host_pid a "$pid")"
report "stop-and-copy b -> a"
rounds=$(mig_json 'len([r for r in j["rounds"] if not r["final"]])')
final=$(mig_json '[r["bytes"] for r in j["rounds"] if r["final"]][0]')
rss=$(mig_json 'j["totals"]["rss_bytes"]')
stop_window=$(mig_json 'round(j["freeze_window"]["total_ms"])')
[ "$rounds" -eq 0 ] || die "--max-rounds 0: expected no round before the freeze, saw $rounds"
[ "$final" -ge $((rss / 2)) ] ||
	die "stop-and-copy: the frozen round carried $final bytes, expected about the RSS ($rss)"
say "freeze window: pre-copy $pre_window ms, stop-and-copy $stop_window ms" \
	"(printed, not asserted)"

sleep 0.5
zoo_check dirtier
host_wait_gone a "$pid" 10
say "the dirtier verified all its $MIB MiB after pre-copy there and stop-and-copy back"
