#!/bin/bash
# migrate-guest.sh: runs INSIDE the 6.1 VM (test/vm/run.sh, from
# test/integration/vm_migrate_softdirty.sh): live migrations with
# `--tracker soft-dirty`, the one tracker this kernel has. One RESULT line
# per check:
#
#	counter  a zoo counter migrates from the guest's own PID and network
#	         namespaces into host b; the report says tracker soft-dirty and
#	         at least 2 rounds (round 0 while it ran, the final one); it
#	         counts on there without a gap and passes its check
#	dirtier  test/hosts/dirtier (32 MiB, rewriting random pages) migrates the
#	         same way with --max-downtime 1 --max-rounds 3, so that rounds 1
#	         and later carry what soft-dirty found; the report shows at least
#	         2 rounds sent while it ran, and the dirtier then verifies every
#	         page against the generation it remembers
#
# Host b is lib_hosts.sh's: a network namespace and a PID namespace under our
# hostinit, with migrate-dst in it. The source side stays in the guest's root
# namespaces ("host a" is the guest itself), joined to b by a veth pair: the
# 6.1 kernel has veth as a module, which run.sh loads (--module veth), so the
# daemon gets a network of its own rather than sharing one loopback with the
# source. Python is not in the guest: the --json report is read with grep.
set -uo pipefail
# Emulation is slow: give each wait more than on the host (before lib.sh sets
# its defaults).
LIB_TIMEOUT=${LIB_TIMEOUT:-60}
MIG_TIMEOUT=${MIG_TIMEOUT:-240}
# shellcheck source=../integration/lib.sh
source /test/lib.sh
# shellcheck source=../integration/lib_hosts.sh
source /test/lib_hosts.sh

SRC_IP=198.18.0.1
DST_IP=198.18.0.2

# run_check NAME FUNCTION: RESULT NAME PASS, FAIL or SKIP by its exit status.
# Each check builds its own host b in a subshell: lib.sh's trap removes it.
run_check() {
	local name=$1 rc=0 start=$SECONDS
	echo "=== $name"
	(
		set -euo pipefail
		# shellcheck disable=SC2034 # lib.sh's name for the messages
		TEST_NAME=$name
		lib_init "$BUILD"
		live_need
		hosts_init
		guest_host_b
		"$2"
	) || rc=$?
	case $rc in
	0) echo "RESULT $name PASS ($((SECONDS - start)) s)" ;;
	77) echo "RESULT $name SKIP" ;;
	*) echo "RESULT $name FAIL (status $rc)" ;;
	esac
}

# guest_host_b: host b with its daemon, a veth pair from the guest's root
# network namespace (v-b here, v-root in b); deleting b's netns deletes the
# pair, and the trap deletes our end too in case b's went first.
guest_host_b() {
	host_create b "$DST_IP"
	ip link add name v-b type veth peer name v-root netns "${HOST_NETNS[b]}" ||
		die "veth root <-> b failed (is the veth module loaded?)"
	on_exit "ip link del v-b"
	ip addr add "$SRC_IP/$HOST_ADDR_PREFIX" dev v-b && ip link set v-b up &&
		host_run b ip addr add "$DST_IP/$HOST_ADDR_PREFIX" dev v-root &&
		host_run b ip link set v-root up || die "addresses on veth root <-> b failed"
	dst_start b
}

# mig_from_root PID [OPTIONS...]: migrate --to b from the guest's root
# namespaces, --tracker soft-dirty --json; as lib_hosts.sh's mig_to otherwise
# ($LAST_OUT, $LAST_ERR, $MIG_RC).
mig_from_root() {
	local pid=$1
	shift
	mig_prepare root "$pid" b
	timeout "$MIG_TIMEOUT" "$MIGRATE" --to "$DST_IP:$DST_PORT" --psk-file "$PSK_FILE" \
		--tracker soft-dirty --json "$@" "$pid" >"$LAST_OUT" 2>"$LAST_ERR" || MIG_RC=$?
	[ "$MIG_RC" -eq 0 ] || die "expected success: $(mig_what)"
	say "report: $(cat "$LAST_OUT")"
}

# json_str KEY / json_count REGEX: the report is one JSON object on one line,
# whose keys are unique except in its "rounds" list.
# (No match is an answer, not an error: hence the "|| true" under pipefail.)
json_str() { grep -o "\"$1\":\"[^\"]*\"" "$LAST_OUT" | head -n 1 | cut -d'"' -f4 || true; }
json_count() { grep -oE "$1" "$LAST_OUT" | wc -l || true; }

# assert_softdirty_report MIN_RUNNING: tracker soft-dirty, a final round, and
# at least MIN_RUNNING rounds sent while the process ran.
assert_softdirty_report() {
	local tracker running final
	tracker=$(json_str tracker)
	[ "$tracker" = soft-dirty ] || die "expected tracker soft-dirty in the report, saw" \
		"'$tracker' ($(json_str tracker_why))"
	json_count '"ok":true' | grep -qx 1 || die "the report does not say ok: $(cat "$LAST_OUT")"
	running=$(json_count '"final":false')
	final=$(json_count '"final":true')
	[ "$final" -eq 1 ] || die "expected one final round in the report, saw $final"
	[ $((running + final)) -ge 2 ] && [ "$running" -ge "$1" ] ||
		die "expected at least $1 round(s) while running and a final one, saw" \
			"$running and $final"
	say "tracker $tracker, $running round(s) while running + 1 final," \
		"freeze window $(grep -o '"total_ms":[0-9.]*' "$LAST_OUT" | head -n 1 |
			cut -d: -f2) ms"
}

# After the migration the process must live in b under the same PID, and be
# gone here.
assert_moved() {
	wait_gone "$1" 10
	host_alive b "$1" || die "expected pid $1 in host b after the migration: $(host_nspids b)"
	track_pid "$(host_pid b "$1")"
}

check_counter() {
	local pid before
	zoo_start counter
	pid=$ZOO_PID
	wait_line "$ZOO_LOG" '^count 3$'
	mig_from_root "$pid"
	assert_moved "$pid"
	assert_softdirty_report 1
	before=$(grep -c '^count ' "$ZOO_LOG")
	wait_line "$ZOO_LOG" '^count ' "$LIB_TIMEOUT" $((before + 3))
	zoo_check counter
	host_wait_gone b "$pid" 10
	assert_consecutive "$ZOO_LOG"
	say "counter: $(grep -c '^count ' "$ZOO_LOG") counts, consecutive across the migration"
}

check_dirtier() {
	local pid
	# 32 MiB rewritten at 8 MiB/s over its first 16: small for an emulated CPU,
	# still hundreds of dirty pages for each round after round 0.
	zoo_start_path "$BUILD/hosts/dirtier" 32 8 16
	pid=$ZOO_PID
	sleep 1
	mig_from_root "$pid" --max-downtime 1 --max-rounds 3
	assert_moved "$pid"
	assert_softdirty_report 2
	sleep 1
	zoo_check dirtier
	host_wait_gone b "$pid" 30
	say "dirtier: every page verified after $(json_count '"final":false') soft-dirty round(s)"
}

# zoo_start_path PROGRAM [ARGS...]: zoo_start for a program outside $ZOO.
zoo_start_path() {
	local prog=$1 name
	shift
	name=$(basename "$prog")
	ZOO_LOG=$TMP/$name.log
	ZOO_CHECK=$TMP/$name.check
	rm -f "$ZOO_CHECK"
	lib_spawn "$ZOO_LOG" "$prog" "$ZOO_CHECK" "$@"
	ZOO_PID=$!
	wait_line "$ZOO_LOG" "^READY $ZOO_PID\$"
	track_pid "$ZOO_PID"
}

echo "guest: $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print $2 " kB" }' /proc/meminfo)"
run_check counter check_counter
run_check dirtier check_dirtier
