#!/bin/bash
# bench_gap.sh: the client-visible downtime of a live migration with an
# established connection (issue 4), next to the freeze window the agent
# measured for the same migration. Run it by hand on a quiet machine, as root:
#
#	bash bench/bench_gap.sh BUILD_DIR [MIGRATIONS]
#
# Three test hosts on one bridge (test/integration/lib_hosts.sh net_hosts):
# the web server test/hosts/webserver.py on the service address in host a,
# migrate-dst in a and in b, and in host c test/hosts/webclient.py on ONE
# keep-alive connection, sending its next request 1 ms after each response.
# The server then migrates a -> b -> a -> ... MIGRATIONS times (6 by default)
# with --tcp-established --move-ip. For each migration: the freeze window
# (from the --json report: total, and the network parts: lock, socket dump,
# address release at the source, socket restore and address claim at the
# destination), and the gap: the longest time between two responses the
# client received from the migration's start until 200 responses after it
# returned. The gap is the downtime as the client sees it: the freeze window
# plus the time TCP takes to retransmit what the lock dropped (the client's
# retransmission timer: at least 200 ms on Linux, doubling at each retry).
#
# Nothing is asserted on timings: the exit status is 0 when every migration
# succeeded and the client's connection lived to the end (no reset, each
# count the previous one + 1), 1 otherwise, 77 when something it needs is
# missing. Everything is removed on every exit path (lib.sh's and
# lib_hosts.sh's traps). BENCH_KEEP=DIR keeps the reports and logs in DIR.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
IT_DIR=$BENCH_DIR/../test/integration

build=${1:-}
runs=${2:-6}
[ -n "$build" ] && [[ $runs =~ ^[1-9][0-9]*$ ]] ||
	{ echo "usage: $0 BUILD_DIR [MIGRATIONS]" >&2; exit 2; }

# shellcheck source=../test/integration/lib.sh
source "$IT_DIR/lib.sh"
# shellcheck source=../test/integration/lib_hosts.sh
source "$IT_DIR/lib_hosts.sh"

# keep: copies the reports and logs to BENCH_KEEP (run on exit).
keep() {
	[ -n "${BENCH_KEEP:-}" ] || return 0
	mkdir -p "$BENCH_KEEP" && cp -a "$TMP"/. "$BENCH_KEEP"/
}

# gap_since LINE: the longest gap_ms of the client's responses after LINE
# (a line number of its log), and the request it followed.
gap_since() {
	tail -n +"$(($1 + 1))" "$TMP/client.log" | awk '
		/^resp / { for (i = 3; i <= NF; i++) if ($i ~ /^gap_ms=/) {
			g = substr($i, 8) + 0
			if (g > max) { max = g; after = $2 - 1 }
		} }
		END { printf "%.1f %d\n", max, after }'
}

# window_parts: "TOTAL LOCK DUMP RELEASE RESTORE CLAIM" (ms) of the last report.
window_parts() {
	python3 - "$LAST_OUT" <<'PY'
import json, sys
w = json.load(open(sys.argv[1])).get("freeze_window", {})
n = w.get("network", {})
d = n.get("destination", {})
parts = [w.get("total_ms"), n.get("lock_ms"), n.get("socket_dump_ms"),
         n.get("ip_release_ms"), d.get("socket_restore_ms"), d.get("ip_claim_ms")]
print(" ".join("-" if p is None else "%.1f" % p for p in parts))
PY
}

lib_init "$build"
on_exit keep
net_need --move-ip
hosts_init
net_hosts 4
dst_start a

host_py_start a web webserver.py "$TMP/web.check" "$SVC_IP" "$SVC_PORT"
web=$PY_PID
host_py_start c client webclient.py "$TMP/client.check" "$SVC_IP" "$SVC_PORT" 0.001
client_wait "$TMP/client.log" '^resp 500 ' 30
base=$(gap_since 0)

fmt="%-4s %-6s %9s %8s %8s %8s %9s %8s %10s %10s\n"
printf "$fmt" run move window lock sk-dump ip-rel sk-rest ip-claim "client-gap" "gap-window"
from=a to=b failed=0
for ((i = 1; i <= runs; i++)); do
	line=$(wc -l <"$TMP/client.log")
	mig_to "$from" "$web" "$to" --tcp-established --move-ip --json
	cp "$LAST_OUT" "$TMP/report-$i.json"
	if [ "$MIG_RC" -ne 0 ]; then
		printf "%-4s %-6s FAILED: %s\n" "$i" "$from>$to" "$(tail -n 1 "$LAST_ERR")"
		failed=1
		break
	fi
	n=$(resp_count "$TMP/client.log")
	client_wait "$TMP/client.log" "^resp $((n + 200)) .* host=$to " 30
	read -r total lock sdump irel srest iclaim <<<"$(window_parts)"
	read -r gap _ <<<"$(gap_since "$line")"
	printf "$fmt" "$i" "$from>$to" "$total" "$lock" "$sdump" "$irel" "$srest" "$iclaim" \
		"$gap" "$(awk -v g="$gap" -v w="$total" 'BEGIN { if (w == "-") print "-";
			else printf "%.1f", g - w }')"
	tmp=$from from=$to to=$tmp
done

touch "$TMP/client.check"
client_wait "$TMP/client.log" '^(PASS|FAIL) webclient' 70
grep -q '^PASS webclient' "$TMP/client.log" || {
	echo "the client's connection broke: $(grep '^FAIL' "$TMP/client.log")"
	failed=1
}
echo
echo "window: the freeze window (ms) as the agent measured it, from the first interrupt"
echo "to the destination's verdict; lock, sk-dump, ip-rel: the network lock, the socket"
echo "dump and the address release at the source; sk-rest, ip-claim: the socket restore"
echo "and the address claim at the destination. client-gap: the longest time between two"
echo "responses seen by the client (a request 1 ms after each response) over that"
echo "migration; gap-window: what the client waited beyond the window (mostly TCP"
echo "retransmission of what the lock dropped). Longest gap before any migration:"
echo "$(echo "$base" | cut -d' ' -f1) ms."
[ $failed -eq 0 ] || exit 1
