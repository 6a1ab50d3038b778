# lib_hosts.sh: two (or more) "machines" on this one for the live-migration
# tests (sourced after lib.sh, not run).
#
#	source "$(dirname "$0")/lib.sh"
#	source "$(dirname "$0")/lib_hosts.sh"
#	lib_init "$1"
#	hosts_init                        tools and BUILD/hosts/hostinit there, or exit 77
#	host_create a 198.18.0.1          a network namespace AND a PID namespace whose
#	host_create b 198.18.0.2          PID 1 is our hostinit; lo up; a UTS namespace
#	                                  whose host name is the host's (a, b), where
#	                                  unshare can make one
#	host_link a b                     a veth pair a <-> b, each end with its host's /24
#	host_run a CMD...                 CMD inside host a, foreground, its status returned
#	host_spawn a LOG CMD...           CMD inside host a, detached (a child of a's init),
#	                                  output appended to LOG; HOST_SPAWNED = its PID in a
#	host_zoo_start a counter          zoo_start inside a: ZOO_PID is the PID in a (what
#	                                  migrate takes), ZOO_HPID the same process seen from here
#	host_pid a NSPID                  prints the PID seen from here of a's process NSPID
#	host_alive a NSPID                a has a live (not zombie) process NSPID
#	host_destroy a                    kills everything in a, deletes its netns
#
# Every host created is destroyed on exit, whatever the exit path (failure,
# Ctrl-C, SIGTERM): killing a host's init makes the kernel kill everything else
# in its PID namespace. Namespaces left by a run that was SIGKILLed are removed
# by the next hosts_init (their names carry the creating shell's PID).
#
# Live migration (migrate --to, migrate-dst):
#	live_need                         exit 77 unless the agent and the daemon exist
#	dst_start b [VAR=VALUE...]        migrate-dst in b on b's address, port $DST_PORT,
#	                                  key $PSK_FILE, log $TMP/dst-b.log, TMPDIR
#	                                  $TMP/dst-b.tmp, more options in the array
#	                                  DST_ARGS; DST_NSPID[b]
#	dst_stop b                        SIGTERM, waits for it to exit
#	dst_sessions b                    PIDs (seen from here) of its session processes
#	mig_to a PID b [OPTIONS...]       migrate --to b from a (in a's PID namespace); stdout
#	                                  in $LAST_OUT, stderr in $LAST_ERR, status in
#	                                  $MIG_RC (never dies by itself)
#	mig_bg a PID b [OPTIONS...]       the same in the background: MIG_BG_PID (here)
#	                                  mig_bg_wait sets MIG_RC
#	mig_ok a PID b [OPTIONS...]       mig_to, which must succeed
#	mig_json EXPR                     evaluates the Python EXPR on the --json report of
#	                                  the last migration (j: the object), prints it
#	tracker_works NAME                `migrate check` says tracker NAME works here
#	host_nspids b                     "NSPID COMM" of every process in b
#	dst_assert_clean b PID WHY        nothing of a failed migration of PID is left in b:
#	                                  no such process, no session, only its init and
#	                                  daemon, nothing in the daemon's TMPDIR
#
# Mount namespaces: `ip netns exec` gives its command a private mount namespace
# (it remounts /sys for the netns) and `unshare --mount-proc` another one, with
# a /proc showing the host's PIDs. Files are shared with the test: /tmp is the
# same filesystem everywhere, so logs, check files and key files under $TMP
# work by path inside and outside. Mounts are not shared: something mounted
# inside a host is invisible outside, and /proc/PID means the host's PID only
# inside it (host_run). host_run starts in / (entering a mount namespace resets
# the working directory): give absolute paths.

HOST_ADDR_PREFIX=24  # the tests' addresses are in 198.18.0.0/15 (benchmarking range)
DST_PORT=${DST_PORT:-7707}

declare -A HOST_NETNS=() # host name -> netns name
declare -A HOST_INIT=()  # host name -> PID (seen from here) of its hostinit
declare -A HOST_IP=()    # host name -> its address
declare -A DST_NSPID=()  # host name -> PID in that host of its migrate-dst
DST_ARGS=()              # more options for migrate-dst
HOSTS=()                 # created, in order
HOST_NSENTER=(-n -p -m)  # the namespaces a command enters (hosts_init adds -u)
HOST_UTS=0               # 1: each host has a UTS namespace named after it
HOST_SPAWNED=
MIG_RC=0
MIG_COUNT=0

hosts_init() {
	local tool
	for tool in ip unshare nsenter ss timeout; do
		command -v "$tool" >/dev/null || skip "needs $tool"
	done
	HOSTINIT=$BUILD/hosts/hostinit
	[ -x "$HOSTINIT" ] || die "$HOSTINIT not built"
	unshare --pid --fork true 2>/dev/null || skip "cannot create PID namespaces here"
	# A host name per host lets a process tell where it runs (gethostname()
	# in a migrated process names the destination); optional: the tests
	# that need it check HOST_UTS.
	HOST_UTS=0
	if unshare --uts true 2>/dev/null; then
		HOST_UTS=1
		HOST_NSENTER=(-n -p -m -u)
	fi
	hosts_reap_stale
	on_exit hosts_destroy_all
}

# Namespaces of earlier runs whose shell is gone (SIGKILLed: no trap ran).
hosts_reap_stale() {
	local ns owner pid
	for ns in $(ip netns list | awk '{ print $1 }' | grep -E '^mh-[0-9]+-' || true); do
		owner=${ns#mh-}
		owner=${owner%%-*}
		[ "$owner" != $$ ] || continue
		! kill -0 "$owner" 2>/dev/null || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
		say "removed $ns, left by a run that was killed"
	done
}

# Closes every inherited fd above 2 in the current (sub)shell: a process that
# lives on must not hold the test's pipes open (ctest would wait for them).
hosts_close_fds() {
	local fd
	for fd in $(ls "/proc/$BASHPID/fd"); do
		[ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
	done
	return 0
}

# host_create NAME IP: see the top. Each host hands out PIDs from its own base
# (1000 for the first, 2000 for the second, ...) so that the PIDs in two hosts
# never collide by chance: a migrated process keeps its PID, which must be
# free at the destination.
host_create() {
	local name=$1 ip=$2 ns=mh-$$-$1 log=$TMP/host-$1.log unshare_pid init_pid= i
	[ -z "${HOST_NETNS[$name]:-}" ] || die "host $name created twice"
	ip netns add "$ns" || die "ip netns add $ns failed"
	HOST_NETNS[$name]=$ns # from now on hosts_destroy_all removes it
	HOSTS+=("$name")
	ip netns exec "$ns" ip link set lo up || die "host $name: lo up failed"
	# ip netns exec execs unshare (no fork), which forks hostinit as PID 1 and
	# kills it (and so the namespace) if it dies itself.
	(
		hosts_close_fds
		uts=()
		[ "$HOST_UTS" = 0 ] || uts=(--uts)
		exec ip netns exec "$ns" unshare --pid --fork --kill-child=SIGKILL --mount-proc \
			"${uts[@]}" "$HOSTINIT" </dev/null >>"$log" 2>&1
	) &
	unshare_pid=$!
	disown "$unshare_pid"
	for ((i = 0; i < 200; i++)); do
		init_pid=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null) || true
		init_pid=${init_pid%% *}
		# (the subshell's own children come and go before its exec)
		if [ -n "$init_pid" ] && grep -q '^hostinit: ready' "$log" 2>/dev/null &&
			[ "$(cat "/proc/$init_pid/comm" 2>/dev/null)" = hostinit ] &&
			grep -qE '^NSpid:.*[[:space:]]1$' "/proc/$init_pid/status" 2>/dev/null; then
			break
		fi
		init_pid=
		sleep 0.05
	done
	[ -n "$init_pid" ] || die "host $name: hostinit did not start: $(cat "$log")"
	HOST_INIT[$name]=$init_pid
	HOST_IP[$name]=$ip
	host_run "$name" sh -c "echo $((${#HOSTS[@]} * 1000)) >/proc/sys/kernel/ns_last_pid" ||
		die "host $name: cannot set its first PID"
	[ "$HOST_UTS" = 0 ] || host_run "$name" sh -c "echo $name >/proc/sys/kernel/hostname" ||
		die "host $name: cannot set its host name"
}

# host_link A B: a veth pair, named after the peer on each side (v-B in A).
host_link() {
	local a=$1 b=$2
	ip link add name "v-$b" netns "${HOST_NETNS[$a]}" type veth \
		peer name "v-$a" netns "${HOST_NETNS[$b]}" || die "veth $a <-> $b failed"
	host_run "$a" ip addr add "${HOST_IP[$a]}/$HOST_ADDR_PREFIX" dev "v-$b" &&
		host_run "$b" ip addr add "${HOST_IP[$b]}/$HOST_ADDR_PREFIX" dev "v-$a" &&
		host_run "$a" ip link set "v-$b" up &&
		host_run "$b" ip link set "v-$a" up || die "addresses on veth $a <-> $b failed"
}

host_run() {
	local name=$1
	shift
	[ -n "${HOST_INIT[$name]:-}" ] || die "no host $name"
	nsenter -t "${HOST_INIT[$name]}" "${HOST_NSENTER[@]}" -- "$@"
}

# host_spawn NAME LOG COMMAND...: the sh in the host starts COMMAND in the
# background and exits, so COMMAND is reparented to the host's init, as a
# daemon's process would be on a real machine. setsid does not fork there (a
# background job of sh is no group leader), so $! is COMMAND's PID.
host_spawn() {
	local name=$1 log=$2
	shift 2
	[ -n "${HOST_INIT[$name]:-}" ] || die "no host $name"
	HOST_SPAWNED=$(
		hosts_close_fds
		exec nsenter -t "${HOST_INIT[$name]}" "${HOST_NSENTER[@]}" -- \
			sh -c 'log=$1; shift; setsid "$@" </dev/null >>"$log" 2>&1 & echo $!' \
			sh "$log" "$@"
	) || die "host $name: cannot start $*"
}

# host_pid NAME NSPID: prints the PID seen from here; fails if there is none.
host_pid() {
	local ns_ino p nspid
	ns_ino=$(readlink "/proc/${HOST_INIT[$1]}/ns/pid") || return 1
	for p in $(ip netns pids "${HOST_NETNS[$1]}" 2>/dev/null); do
		[ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$ns_ino" ] || continue
		nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null) || continue
		if [ "$nspid" = "$2" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

host_alive() {
	local p
	p=$(host_pid "$1" "$2") && is_alive "$p"
}

# host_wait_gone NAME NSPID [SECONDS]: until NSPID no longer exists in NAME, not
# even as a zombie (its PID must be free for a migration back).
host_wait_gone() {
	local i
	for ((i = 0; i < ${3:-10} * 10; i++)); do
		host_pid "$1" "$2" >/dev/null || return 0
		sleep 0.1
	done
	die "host $1: pid $2 ($(host_run "$1" cat "/proc/$2/comm" 2>/dev/null)) still exists" \
		"after ${3:-10} s, expected it gone"
}

# host_zoo_start HOST NAME [ARGS...]: as zoo_start, inside HOST. PROGRAM may be
# a path (helpers of test/hosts), the name is its basename.
host_zoo_start() {
	local host=$1 prog=$2 name nspid i
	shift 2
	name=$(basename "$prog")
	[[ $prog == */* ]] || prog=$ZOO/$prog
	ZOO_LOG=$TMP/$name.log
	ZOO_CHECK=$TMP/$name.check
	rm -f "$ZOO_CHECK"
	host_spawn "$host" "$ZOO_LOG" "$prog" "$ZOO_CHECK" "$@"
	nspid=$HOST_SPAWNED
	wait_line "$ZOO_LOG" "^READY $nspid\$"
	ZOO_PID=$nspid
	ZOO_HPID=$(host_pid "$host" "$nspid") || die "host $host: no pid $nspid after READY"
	track_pid "$ZOO_HPID"
}

# host_destroy NAME: init first (the kernel then kills the rest of its PID
# namespace), then whatever else still uses the netns (a command entered with
# nsenter -n only), then the netns itself.
host_destroy() {
	local name=$1 ns=${HOST_NETNS[$1]:-} init=${HOST_INIT[$1]:-} pid i
	[ -n "$ns" ] || return 0
	if [ -n "$init" ] && [ "$(cat "/proc/$init/comm" 2>/dev/null)" = hostinit ]; then
		kill -TERM "$init" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			[ -e "/proc/$init" ] || break
			sleep 0.05
		done
		kill -KILL "$init" 2>/dev/null || true
	fi
	for ((i = 0; i < 50; i++)); do
		pid=$(ip netns pids "$ns" 2>/dev/null) || true
		[ -n "$pid" ] || break
		kill -KILL $pid 2>/dev/null || true
		sleep 0.05
	done
	ip netns del "$ns" 2>/dev/null || true
	unset "HOST_NETNS[$name]" "HOST_INIT[$name]" "HOST_IP[$name]" "DST_NSPID[$name]"
}

hosts_destroy_all() {
	local name
	for name in "${HOSTS[@]}"; do
		host_destroy "$name"
	done
	HOSTS=()
}

# --- live migration -------------------------------------------------------

live_need() {
	MIGRATE_DST=$BUILD/migrate-dst/migrate-dst
	[ -x "$MIGRATE_DST" ] ||
		skip "$MIGRATE_DST is not built (the destination daemon does not exist yet)"
	"$MIGRATE" --help 2>&1 | grep -- '--to' | grep -qvi 'not implemented' ||
		skip "'migrate --help' does not offer --to HOST:PORT yet"
	PSK_FILE=$TMP/psk
	head -c 32 /dev/urandom | base64 >"$PSK_FILE"
	chmod 600 "$PSK_FILE"
}

# dst_start HOST [VAR=VALUE...]: the environment is the daemon's (fault injection).
dst_start() {
	local host=$1 i
	shift
	# Its temporary files go to a directory of its own, which must be empty
	# whenever no migration runs (dst_assert_clean).
	mkdir -p "$TMP/dst-$host.tmp"
	host_spawn "$host" "$TMP/dst-$host.out" env TMPDIR="$TMP/dst-$host.tmp" "$@" \
		"$MIGRATE_DST" --listen "${HOST_IP[$host]}:$DST_PORT" --psk-file "$PSK_FILE" \
		--log "$TMP/dst-$host.log" "${DST_ARGS[@]}"
	DST_NSPID[$host]=$HOST_SPAWNED
	for ((i = 0; i < 100; i++)); do
		host_run "$host" ss -Hltn "sport = :$DST_PORT" 2>/dev/null | grep -q . && return 0
		host_alive "$host" "${DST_NSPID[$host]}" || break
		sleep 0.05
	done
	die "host $host: migrate-dst does not listen on ${HOST_IP[$host]}:$DST_PORT"
}

dst_stop() {
	local host=$1 pid
	pid=$(host_pid "$host" "${DST_NSPID[$host]}") || return 0
	kill -TERM "$pid" 2>/dev/null || true
	host_wait_gone "$host" "${DST_NSPID[$host]}" 10
}

# mig_to SRC PID DST [OPTIONS...]: the agent runs in SRC (it names the process
# by its PID there); each run gets its own output files, also in $LAST_OUT
# (stdout: the report) and $LAST_ERR (stderr: messages).
mig_to() {
	mig_prepare "$@"
	shift 3
	host_run "$MIG_SRC" timeout "$MIG_TIMEOUT" "$MIGRATE" \
		--to "${HOST_IP[$MIG_DST]}:$DST_PORT" --psk-file "$PSK_FILE" "$@" "$MIG_PID" \
		>"$LAST_OUT" 2>"$LAST_ERR" || MIG_RC=$?
}

mig_prepare() {
	MIG_SRC=$1
	MIG_PID=$2
	MIG_DST=$3
	MIG_COUNT=$((MIG_COUNT + 1))
	LAST_OUT=$TMP/mig-$MIG_COUNT.out
	LAST_ERR=$TMP/mig-$MIG_COUNT.err
	MIG_RC=0
}

# mig_bg SRC PID DST [OPTIONS...]: mig_to in the background, for a test that
# acts while the migration runs; MIG_BG_PID is the PID here of the nsenter
# that waits for the agent (it exits with the agent's status).
mig_bg() {
	mig_prepare "$@"
	shift 3
	(
		hosts_close_fds
		exec nsenter -t "${HOST_INIT[$MIG_SRC]}" "${HOST_NSENTER[@]}" -- \
			timeout "$MIG_TIMEOUT" "$MIGRATE" --to "${HOST_IP[$MIG_DST]}:$DST_PORT" \
			--psk-file "$PSK_FILE" "$@" "$MIG_PID" >"$LAST_OUT" 2>"$LAST_ERR"
	) &
	# (nsenter forks the agent into SRC's PID namespace: host_destroy ends it)
	MIG_BG_PID=$!
}

# mig_bg_wait: waits for the background migration (MIG_TIMEOUT at most:
# timeout ends it), sets MIG_RC.
mig_bg_wait() {
	MIG_RC=0
	wait "$MIG_BG_PID" || MIG_RC=$?
}

# mig_what: the last migration's status and output, for failure messages.
mig_what() {
	echo "migrate --to ${HOST_IP[$MIG_DST]} of pid $MIG_PID in $MIG_SRC exited $MIG_RC;" \
		"stderr: $(tail -n 8 "$LAST_ERR" 2>/dev/null); stdout: $(tail -n 4 "$LAST_OUT")"
}

# mig_ok SRC PID DST [OPTIONS...]: the migration must succeed.
mig_ok() {
	mig_to "$@"
	[ "$MIG_RC" -eq 0 ] || die "expected success: $(mig_what)"
}

# mig_rc_is RC WHAT: the last migration exited with RC.
mig_rc_is() {
	[ "$MIG_RC" -eq "$1" ] || die "$2: expected exit status $1, saw: $(mig_what)"
}

# mig_json EXPR: EXPR (Python, j is the parsed report) evaluated on the --json
# report the last migration printed; a list prints one item per line.
mig_json() {
	python3 - "$LAST_OUT" "$1" <<'PY' || die "cannot read '$1' from the --json report $LAST_OUT"
import json, sys
j = json.load(open(sys.argv[1]))
v = eval(sys.argv[2], {"j": j})
for x in (v if isinstance(v, list) else [v]):
    print(str(x).lower() if isinstance(x, bool) else x)
PY
}

tracker_works() {
	[ "$1" = none ] && return 0
	"$MIGRATE" check --json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if any(p["name"] == sys.argv[1] and p["status"] == "ok" for p in j["probes"]) else 1)
' "$1"
}

# trackers_pick: TRACKERS=(those of uffd-wp and none that work here), saying which are left
# out. soft-dirty is missing from this kernel: test/integration/vm_softdirty.sh runs it in a VM.
trackers_pick() {
	local tracker
	TRACKERS=()
	for tracker in uffd-wp none; do
		if tracker_works "$tracker"; then
			TRACKERS+=("$tracker")
		else
			say "tracker $tracker does not work here ('migrate check'): not tested"
		fi
	done
}

# dst_sessions HOST: the daemon's children, which are its session processes.
dst_sessions() {
	local pid
	pid=$(host_pid "$1" "${DST_NSPID[$1]}") || return 0
	cat /proc/"$pid"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . || true
}

# host_nspids HOST: "NSPID COMM" of every process of HOST's PID namespace.
host_nspids() {
	local ns_ino p
	ns_ino=$(readlink "/proc/${HOST_INIT[$1]}/ns/pid") || return 1
	for p in $(ip netns pids "${HOST_NETNS[$1]}" 2>/dev/null); do
		[ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$ns_ino" ] || continue
		echo "$(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null)" \
			"$(cat "/proc/$p/comm" 2>/dev/null)"
	done
}

# dst_assert_clean HOST PID WHY: after a failed migration of PID into HOST,
# nothing of it is left there (within 10 s: the session may still be
# unwinding): no process PID, no session process, no other process than the
# init and the daemon, an empty TMPDIR, no image directory of PID when the
# daemon writes them (DST_ARGS has --images-dir DIR: DIR/PID-TIME/ are the
# images of migrations that succeeded; PID 0: no failed migration to look
# for); and the daemon still runs.
dst_assert_clean() {
	local host=$1 pid=$2 why=$3 i left=
	host_wait_gone "$host" "$pid" 10
	for ((i = 0; i < 100; i++)); do
		left=$(host_nspids "$host" | awk -v d="${DST_NSPID[$host]}" '$1 != 1 && $1 != d')
		[ -z "$left" ] && break
		sleep 0.1
	done
	[ -z "$left" ] || die "$why: expected only the init and migrate-dst in host $host," \
		"also found: $(echo "$left" | tr '\n' ' ')"
	left=$(ls -A "$TMP/dst-$host.tmp" 2>/dev/null) || true
	[ -z "$left" ] || die "$why: temporary files left by migrate-dst in host $host: $left"
	for ((i = 0; pid != 0 && i < ${#DST_ARGS[@]} - 1; i++)); do
		[ "${DST_ARGS[i]}" = --images-dir ] || continue
		left=$(ls -A "${DST_ARGS[i + 1]}" 2>/dev/null |
			grep -E "(^|[^0-9])$pid([^0-9]|\$)") || true
		[ -z "$left" ] || die "$why: migrate-dst in host $host left an image directory" \
			"of the failed migration of pid $pid: ${DST_ARGS[i + 1]}/$left"
	done
	host_alive "$host" "${DST_NSPID[$host]}" ||
		die "$why: migrate-dst in host $host died, expected it to serve on"
}

# host_reach FROM TO: a TCP connection from FROM to TO's address works (there
# is no ping on these machines): a one-shot listener in TO greets the peer with
# the address it sees, which must be FROM's.
host_reach() {
	local from=$1 to=$2 port=7799 i seen
	host_spawn "$to" "$TMP/reach-$to.out" /usr/bin/python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(10)
c, peer = s.accept()
c.sendall(("hello " + peer[0] + "\n").encode())
c.close()' "${HOST_IP[$to]}" "$port"
	for ((i = 0; i < 100; i++)); do
		host_run "$to" ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && break
		sleep 0.05
	done
	seen=$(host_run "$from" timeout 5 bash -c \
		"exec 3<>/dev/tcp/${HOST_IP[$to]}/$port && head -n 1 <&3" 2>&1) || true
	[ "$seen" = "hello ${HOST_IP[$from]}" ] ||
		die "TCP $from -> $to (${HOST_IP[$to]}:$port): expected 'hello ${HOST_IP[$from]}'," \
			"saw '$seen'"
}

# --- network handover (issue 4) -------------------------------------------
#
# Three hosts on one switch, so that an address can move between two of them:
#
#	net_need [--move-ip]              exit 77 unless live migration, python3, nft
#	                                  and `migrate --help` offering --tcp-established
#	                                  (and --move-ip) are there
#	net_hosts 4|6                     hosts a (198.18.0.1, fd00::1), b (.2, ::2) and
#	                                  c (.3, ::3), each with an eth0 on the bridge
#	                                  of host sw; the service address SVC_IP
#	                                  (198.18.0.10 or fd00::10) on a's eth0;
#	                                  migrate-dst in b
#	host_bridge sw a b c              (what net_hosts uses) a netns sw holding
#	                                  bridge br0; eth0 in each host, its port p-HOST
#	host_py_start a LABEL SCRIPT ARGS...
#	                                  test/hosts/SCRIPT under python3 in a, log
#	                                  $TMP/LABEL.log, waits for READY: PY_PID (in a),
#	                                  PY_HPID (here)
#	host_has_addr a ADDR              ADDR is on one of a's interfaces
#	host_mac a                        MAC of a's eth0
#	net_assert_clean WHY HOST...      no nftables table of the network lock (no
#	                                  table at all: the hosts have no other) in HOST
#	web_get c PATH                    one HTTP GET to SVC_IP:SVC_PORT from c on a
#	                                  new connection: prints the body
#	resp_count LOG                    number of "resp " lines of a webclient log
#	client_wait LOG REGEX [SECONDS]   wait_line for a client (webclient.py,
#	                                  netpeer.py) that fails fast: its FAIL line
#	                                  ends the wait with the client's reason
declare -A HOST_IP6=() # host name -> its IPv6 address (host_bridge adds it)
HOSTS_PY=/usr/bin/python3
HOSTS_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../hosts" && pwd)
SVC_PORT=8080

net_need() {
	live_need
	[ -x "$HOSTS_PY" ] || skip "needs $HOSTS_PY (the test servers are Python)"
	command -v nft >/dev/null || skip "needs nft (to check that no lock is left behind)"
	"$MIGRATE" --help 2>&1 | grep -q -- '--tcp-established' ||
		skip "'migrate --help' does not offer --tcp-established yet (issue 4)"
	if [ "${1:-}" = --move-ip ]; then
		"$MIGRATE" --help 2>&1 | grep -q -- '--move-ip' ||
			skip "'migrate --help' does not offer --move-ip yet (issue 4)"
	fi
	return 0
}

host_bridge() {
	local br=$1 ns=mh-$$-$1 h
	shift
	[ -z "${HOST_NETNS[$br]:-}" ] || die "host $br created twice"
	ip netns add "$ns" || die "ip netns add $ns failed"
	HOST_NETNS[$br]=$ns # no init: host_destroy only deletes the netns
	HOSTS+=("$br")
	ip -n "$ns" link add br0 type bridge && ip -n "$ns" link set br0 up ||
		die "bridge in $br failed"
	for h in "$@"; do
		ip link add name eth0 netns "${HOST_NETNS[$h]}" type veth \
			peer name "p-$h" netns "$ns" || die "veth $h <-> $br failed"
		ip -n "$ns" link set "p-$h" master br0 up || die "port p-$h of $br failed"
		# No duplicate address detection: addresses usable at once (they are
		# unique by construction), and a moved one is claimed without it too.
		host_run "$h" sh -c 'echo 0 >/proc/sys/net/ipv6/conf/eth0/accept_dad' ||
			die "host $h: cannot turn DAD off on eth0"
		host_run "$h" ip addr add "${HOST_IP[$h]}/$HOST_ADDR_PREFIX" dev eth0 ||
			die "host $h: address on eth0 failed"
		if [ -n "${HOST_IP6[$h]:-}" ]; then
			host_run "$h" ip addr add "${HOST_IP6[$h]}/64" dev eth0 nodad ||
				die "host $h: IPv6 address on eth0 failed"
		fi
		host_run "$h" ip link set eth0 up || die "host $h: eth0 up failed"
	done
}

net_hosts() {
	local family=$1
	host_create a 198.18.0.1
	host_create b 198.18.0.2
	host_create c 198.18.0.3
	HOST_IP6[a]=fd00::1 HOST_IP6[b]=fd00::2 HOST_IP6[c]=fd00::3
	host_bridge sw a b c
	[ "$HOST_UTS" = 1 ] || skip "cannot give the test hosts a UTS namespace (host name)"
	# The service address is not a's own: the agent's connection to b uses
	# a's own address, which must stay when the service's moves.
	if [ "$family" = 6 ]; then
		SVC_IP=fd00::10
		host_run a ip addr add "$SVC_IP/64" dev eth0 nodad
	else
		SVC_IP=198.18.0.10
		host_run a ip addr add "$SVC_IP/$HOST_ADDR_PREFIX" dev eth0
	fi || die "host a: service address $SVC_IP failed"
	dst_start b
}

host_py_start() {
	local host=$1 label=$2 script=$3 nspid
	shift 3
	rm -f "$TMP/$label.log"
	host_spawn "$host" "$TMP/$label.log" "$HOSTS_PY" -u "$HOSTS_SRC/$script" "$@"
	nspid=$HOST_SPAWNED
	wait_line "$TMP/$label.log" "^READY $nspid\$"
	PY_PID=$nspid
	PY_HPID=$(host_pid "$host" "$nspid") || die "host $host: no pid $nspid after READY"
	track_pid "$PY_HPID"
}

host_has_addr() {
	host_run "$1" ip -o addr show | awk '{ print $4 }' | grep -qx -- "$2/[0-9]*"
}

host_mac() {
	host_run "$1" cat /sys/class/net/eth0/address
}

net_assert_clean() {
	local why=$1 h tables
	shift
	for h in "$@"; do
		tables=$(host_run "$h" nft list tables 2>&1) ||
			die "$why: nft list tables in host $h failed: $tables"
		[ -z "$tables" ] ||
			die "$why: expected no nftables table in host $h, found: $(echo $tables)"
	done
}

web_get() {
	local host=$1 path=$2
	host_run "$host" timeout 10 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
		printf "GET %s HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n" "$3" >&3
		sed "1,/^\r$/d" <&3' sh "$SVC_IP" "$SVC_PORT" "$path" ||
		die "GET $path from host $host to $SVC_IP:$SVC_PORT failed"
}

resp_count() {
	grep -c '^resp ' "$1" || true
}

client_wait() {
	local log=$1 regex=$2 i
	for ((i = 0; i < ${3:-$LIB_TIMEOUT} * 20; i++)); do
		grep -qE -- "$regex" "$log" 2>/dev/null && return 0
		if grep -q '^FAIL' "$log" 2>/dev/null; then
			die "waiting for '$regex' in $log, the client failed:" \
				"$(grep -m1 '^FAIL' "$log")"
		fi
		sleep 0.05
	done
	die "expected a line matching '$regex' in $log within ${3:-$LIB_TIMEOUT} s," \
		"the last is: $(tail -n 1 "$log")"
}
