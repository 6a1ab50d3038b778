#!/bin/bash
# migrate_faults: a failed live migration never loses the process, and leaves
# nothing at the destination. Each case breaks one migration from host a to
# host b in one way:
#
#	wrong key             refused at authentication, before any state is sent
#	kill in round 0       the daemon's session process SIGKILLed while round 0
#	                      of a 1 GiB dirtier streams (its puppet half filled)
#	kill in final round   the same in the freeze window of a stop-and-copy
#	                      (--max-rounds 0: the final round carries it all)
#	after-round0          MIGRATE_DST_FAULT: the session exits after round 0,
#	before-ready          ... in the final round, after Commit (restore done),
#	before-verdict        ... after Go, before the Verdict: outcome unknown
#	connection reset      the connection is destroyed in b mid round 0 (ss -K)
#	garbage before auth   bytes that are no frame, from a stranger
#	bad frames after auth a correct handshake (the key is known), then a Start
#	                      whose payload is not protobuf, and a header that
#	                      announces a 4 GiB payload
#
# Each time the source process continues intact (it passes its own check, a
# counter counts without a gap or a repeat), b holds no process but its init
# and the daemon, the daemon's TMPDIR is empty, its --images-dir holds no
# image of the failed migration, and the daemon serves the next migration.
# (The veth cut, which waits for timeouts, is migrate_cut.sh.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
live_need
hosts_init

host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
DST_ARGS=(--images-dir "$TMP/dst-b.images")
mkdir -p "$TMP/dst-b.images"
dst_start b

# dst_restart HOST CASE [VAR=VALUE...]: a fresh daemon with that environment
# for the next case, which gets a log of its own ($TMP/dst-HOST.log).
dst_restart() {
	local host=$1 name=$2
	shift 2
	dst_stop "$host"
	mv "$TMP/dst-$host.log" "$TMP/dst-$host.$name.log" 2>/dev/null || true
	dst_start "$host" "$@"
}

# host_clean HOST: kills what a failed case left in HOST (all but its init
# and its daemon).
host_clean() {
	local nspid comm hp
	host_nspids "$1" | while read -r nspid comm; do
		[ "$nspid" != 1 ] && [ "$nspid" != "${DST_NSPID[$1]:-}" ] || continue
		hp=$(host_pid "$1" "$nspid") && kill -KILL "$hp" 2>/dev/null || true
	done
}

# source_intact NAME PID HPID WHY: the source runs in a, not stopped, not
# traced; then it passes its check (a counter: consecutive counts).
source_intact() {
	local name=$1 pid=$2 hpid=$3 why=$4 state tracer
	host_alive a "$pid" || die "$why: expected the source $name (pid $pid) alive in host a"
	state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$hpid/stat")
	tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$hpid/status")
	[ "$state" != T ] && [ "$state" != t ] && [ "$tracer" = 0 ] ||
		die "$why: expected the source running and untraced, it is in state $state," \
			"traced by $tracer"
	if [ "$name" = counter ]; then
		local counts
		counts=$(grep -c '^count ' "$TMP/counter.log" || true)
		wait_line "$TMP/counter.log" '^count ' 5 $((counts + 3))
	fi
	zoo_check "$name"
	host_wait_gone a "$pid" 10
	[ "$name" != counter ] || assert_consecutive "$TMP/counter.log"
	mv "$TMP/$name.log" "$TMP/$name.$MIG_COUNT.done"
}

# mig_failed RC VERDICT WHY: the last migration exited RC and its --json
# report says VERDICT (refused: nothing touched; resumed: rolled back;
# unknown: kept stopped after Go).
mig_failed() {
	local seen
	mig_rc_is "$1" "$3"
	seen=$(mig_json 'j["verdict"]')
	[ "$seen" = "$2" ] || die "$3: expected the report's verdict '$2', saw '$seen': $(mig_what)"
}

# wait_puppet_rss PID MIB: until b's puppet of PID holds MIB MiB (pages of
# round 0 arriving); prints its host PID.
wait_puppet_rss() {
	local pid=$1 mib=$2 i hp rss=0
	for ((i = 0; i < 600; i++)); do
		if hp=$(host_pid b "$pid"); then
			rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$hp/status" 2>/dev/null) || true
			if [ "${rss:-0}" -ge $((mib * 1024)) ]; then
				echo "$hp"
				return 0
			fi
		fi
		sleep 0.05
	done
	die "expected the puppet of pid $pid in host b to receive $mib MiB in round 0," \
		"it holds ${rss:-0} KiB after 30 s: $(mig_what)"
}

# --- wrong key: nothing about the process crosses --------------------------
case_wrong_key() {
	local pid hpid
	host_zoo_start a counter
	pid=$ZOO_PID hpid=$ZOO_HPID
	sleep 0.3
	head -c 32 /dev/urandom | base64 >"$TMP/wrong-psk"
	chmod 600 "$TMP/wrong-psk"
	PSK_FILE=$TMP/wrong-psk mig_to a "$pid" b --json
	mig_failed 1 refused "wrong key"
	[ "$(mig_json 'len(j["rounds"])')" -eq 0 ] ||
		die "wrong key: expected no round sent, the report lists some: $(cat "$LAST_OUT")"
	mig_json 'j["message"]' | grep -qiE 'auth|key' ||
		die "wrong key: expected the agent to say authentication failed: $(mig_what)"
	# The daemon logged the refusal, and no session reached Start: it never
	# heard of the process (nor made a puppet of it).
	grep -qiE 'auth' "$TMP/dst-b.log" ||
		die "wrong key: expected migrate-dst's log to show the failed authentication"
	! grep -qE "pid $pid\b" "$TMP/dst-b.log" ||
		die "wrong key: migrate-dst's log mentions pid $pid: a session got past" \
			"authentication: $(grep -E "pid $pid\b" "$TMP/dst-b.log" | head -n 3)"
	dst_assert_clean b "$pid" "wrong key"
	source_intact counter "$pid" "$hpid" "wrong key"
	say "wrong key: refused ($(mig_json 'j["message"]')), source intact"
}

# --- the session killed while pages stream ---------------------------------
# case_kill ROUND: "round 0" (pre-copy, the source runs) or "final round"
# (stop-and-copy: the source is frozen while its 1 GiB crosses).
case_kill() {
	local what=$1 pid hpid puppet session rss opts=(--tracker uffd-wp --json)
	[ "$what" = "round 0" ] || opts+=(--max-rounds 0)
	host_zoo_start a "$BUILD/hosts/dirtier" 1024 16 16
	pid=$ZOO_PID hpid=$ZOO_HPID
	mig_bg a "$pid" b "${opts[@]}"
	puppet=$(wait_puppet_rss "$pid" 64)
	session=$(dst_sessions b)
	[ "$(echo "$session" | wc -w)" -eq 1 ] ||
		die "kill in $what: expected one session process of migrate-dst, saw '$session'"
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$puppet/status" 2>/dev/null) || true
	kill -KILL "$session"
	say "kill in $what: session $session SIGKILLed, its puppet held ${rss:-?} KiB of 1 GiB"
	mig_bg_wait
	mig_failed 1 resumed "session killed in $what"
	# (Round 0 ended before the kill? Then this case tested a later round.)
	[ "$what" != "round 0" ] || [ "$(mig_json 'len(j["rounds"])')" -eq 0 ] ||
		die "kill in round 0: the report lists finished rounds $(mig_json \
			'[r["round"] for r in j["rounds"]]'): the kill came too late for round 0"
	source_intact dirtier "$pid" "$hpid" "session killed in $what"
	dst_assert_clean b "$pid" "session killed in $what"
	say "kill in $what: migrate exited 1 ($(mig_json 'j["message"]')), the dirtier passed"
}

# --- MIGRATE_DST_FAULT: the session exits at a chosen point -----------------
case_fault() {
	local fault=$1 pid hpid
	host_zoo_start a counter
	pid=$ZOO_PID hpid=$ZOO_HPID
	sleep 0.3
	mig_to a "$pid" b --json
	mig_failed 1 resumed "session exits $fault"
	source_intact counter "$pid" "$hpid" "session exits $fault"
	dst_assert_clean b "$pid" "session exits $fault"
	say "$fault: migrate exited 1 ($(mig_json 'j["message"]')), source intact, b clean"
}

# After Go the agent cannot know whether the process runs in b: it keeps the
# source stopped (exit 3), so that two copies never run. Exactly one copy may
# then run; the operator's way out (resume the source, or kill it) must give
# back one intact process.
case_before_verdict() {
	local pid hpid state bpid
	host_zoo_start a counter
	pid=$ZOO_PID hpid=$ZOO_HPID
	sleep 0.3
	mig_to a "$pid" b --json
	mig_failed 3 unknown "session exits before the verdict"
	state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$hpid/stat" 2>/dev/null) ||
		die "before-verdict: the source (pid $pid) is gone, expected it kept stopped"
	[ "$state" = T ] || die "before-verdict: expected the source stopped (T), it is $state"
	sleep 1
	if bpid=$(host_pid b "$pid"); then
		track_pid "$bpid"
		state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$hpid/stat")
		[ "$state" = T ] || die "before-verdict: two copies run (a: $state, b: running)"
		say "before-verdict: the process runs in b, the source is stopped: kill the source"
		kill -KILL "$hpid"
		host_wait_gone a "$pid" 5
		zoo_check counter
		host_wait_gone b "$pid" 10
		assert_consecutive "$TMP/counter.log"
		mv "$TMP/counter.log" "$TMP/counter.$MIG_COUNT.done"
		# It did migrate: b may keep its images, and nothing else.
		dst_assert_clean b 0 "session exits before the verdict"
	else
		say "before-verdict: nothing runs in b, the source is stopped: resume it"
		kill -CONT "$hpid"
		sleep 0.2
		source_intact counter "$pid" "$hpid" "before-verdict, source resumed"
		dst_assert_clean b "$pid" "session exits before the verdict"
	fi
	say "before-verdict: exit 3, never two copies, one intact process in the end"
}

# --- connection reset mid round 0 -------------------------------------------
case_reset() {
	local pid hpid
	host_zoo_start a "$BUILD/hosts/dirtier" 1024 16 16
	pid=$ZOO_PID hpid=$ZOO_HPID
	mig_bg a "$pid" b --tracker uffd-wp --json
	wait_puppet_rss "$pid" 64 >/dev/null
	# Destroys b's end of every connection with a (RST to a, error in b).
	host_run b ss -K dst "${HOST_IP[a]}" >/dev/null 2>&1 || true
	mig_bg_wait
	mig_failed 1 resumed "connection reset in round 0"
	dst_assert_clean b "$pid" "connection reset in round 0"
	source_intact dirtier "$pid" "$hpid" "connection reset in round 0"
	say "connection reset: migrate exited 1 ($(mig_json 'j["message"]')), the dirtier passed"
}

# --- malformed frames ------------------------------------------------------
# A client of the wire protocol (common/wire.h, auth.h, proto/wire.proto),
# written from the specification so that it shares no code with the tools:
#	wireclient.py MODE ADDR PORT PSK-FILE, MODE garbage|bad-start|huge-frame
# prints what the daemon answered at the end: "abort REASON MESSAGE" or "eof".
cat >"$TMP/wireclient.py" <<'PY'
import hashlib, hmac, os, socket, struct, sys

MAGIC, VERSION = 0x5257474D, 1
HELLO, CHALLENGE, AUTH_PROOF, AUTH_OK, ABORT, START = 1, 2, 3, 4, 5, 10

def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out

def field_varint(num, v):
    return varint(num << 3) + varint(v)

def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data

def parse(msg):
    fields, i = {}, 0
    while i < len(msg):
        key, i = read_varint(msg, i)
        num, kind = key >> 3, key & 7
        if kind == 0:
            v, i = read_varint(msg, i)
        elif kind == 2:
            n, i = read_varint(msg, i)
            v, i = msg[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % kind)
        fields[num] = v
    return fields

def read_varint(msg, i):
    v = shift = 0
    while True:
        b = msg[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i

def frame(kind, payload, length=None):
    n = len(payload) if length is None else length
    return struct.pack("<IHHII", MAGIC, VERSION, kind, 0, n) + payload

def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data

def recv_frame(s):
    head = recv_exact(s, 16)
    if head is None:
        return None, None
    magic, version, kind, flags, n = struct.unpack("<IHHII", head)
    if magic != MAGIC:
        sys.exit("bad magic 0x%08x from the daemon" % magic)
    return kind, recv_exact(s, n)

def report_end(s):
    kind, payload = recv_frame(s)
    if kind is None:
        print("eof")
    elif kind == ABORT:
        f = parse(payload)
        print("abort %d %s" % (f.get(1, -1), f.get(2, b"").decode(errors="replace")))
    else:
        print("frame %d" % kind)

def handshake(s, psk):
    nc = os.urandom(32)
    s.sendall(frame(HELLO, field_varint(1, 1) + field_varint(2, 0) + field_bytes(3, nc)))
    kind, payload = recv_frame(s)
    if kind != CHALLENGE:
        sys.exit("expected a Challenge, got frame type %s" % kind)
    ns = parse(payload)[1]
    proof = hmac.new(psk, b"migrate client proof v1" + nc + ns, hashlib.sha256).digest()
    s.sendall(frame(AUTH_PROOF, field_bytes(1, proof)))
    kind, payload = recv_frame(s)
    if kind != AUTH_OK:
        sys.exit("expected AuthOk, got frame type %s" % kind)
    want = hmac.new(psk, b"migrate server proof v1" + nc + ns, hashlib.sha256).digest()
    if parse(payload)[1] != want:
        sys.exit("the daemon's proof is wrong")

mode, addr, port, psk_file = sys.argv[1:5]
psk = open(psk_file, "rb").read().rstrip(b"\r\n")
s = socket.create_connection((addr, int(port)), timeout=10)
if mode == "garbage":
    s.sendall(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(4000))
else:
    handshake(s, psk)
    if mode == "bad-start":
        s.sendall(frame(START, b"\xff" * 64))
    else:
        s.sendall(frame(START, b"\x00" * 64, length=0xFFFFFFFF))
try:
    report_end(s)
except (ConnectionResetError, socket.timeout) as e:
    print("error %s" % e)
PY

case_malformed() {
	local mode=$1 answer pid hpid
	answer=$(host_run a timeout 20 python3 "$TMP/wireclient.py" "$mode" "${HOST_IP[b]}" \
		"$DST_PORT" "$PSK_FILE" 2>&1) || die "$mode: the test client failed: $answer"
	case "$mode:$answer" in
	garbage:eof | garbage:abort\ 1\ * | garbage:error\ *Connection\ reset*) ;;
	bad-start:abort\ 1\ * | huge-frame:abort\ 1\ *) ;;
	*) die "$mode: expected migrate-dst to answer Abort{PROTOCOL} and close" \
		"(garbage before auth: or just close), it answered: $answer" ;;
	esac
	dst_assert_clean b 0 "$mode"
	grep -qiE 'protocol|frame|magic|malformed|invalid' "$TMP/dst-b.log" ||
		die "$mode: expected migrate-dst's log to name the protocol error"
	say "$mode: migrate-dst answered '$answer'"
	# It serves the next migration.
	host_zoo_start a counter
	pid=$ZOO_PID hpid=$ZOO_HPID
	sleep 0.3
	mig_ok a "$pid" b
	host_wait_gone a "$pid" 5
	track_pid "$(host_pid b "$pid")"
	zoo_check counter
	host_wait_gone b "$pid" 10
	assert_consecutive "$TMP/counter.log"
	mv "$TMP/counter.log" "$TMP/counter.$MIG_COUNT.done"
	say "$mode: then a migration through the same daemon passed"
}

# run_case NAME [VAR=VALUE...] -- COMMAND...: COMMAND in a subshell against a
# fresh daemon with that environment, so that one failure does not hide the
# others: the test fails at the end with the list.
FAILED=()
CASE_NO=0
run_case() {
	local name=$1 env=() rc
	shift
	while [ "$1" != -- ]; do
		env+=("$1")
		shift
	done
	shift
	CASE_NO=$((CASE_NO + 1))
	MIG_COUNT=$((CASE_NO * 100)) # (the subshell's count is lost: no file reused)
	dst_restart b "$PREV_CASE" "${env[@]}"
	PREV_CASE=$name
	# (Not as `if ! (...)`: bash would ignore set -e inside it.)
	set +e
	(
		set -e
		"$@"
	)
	rc=$?
	set -e
	if [ "$rc" -ne 0 ]; then
		FAILED+=("$name")
		host_clean a
		host_clean b
		for log in counter dirtier; do
			mv "$TMP/$log.log" "$TMP/$log.$name.failed" 2>/dev/null || true
		done
	fi
}

PREV_CASE=start
run_case wrong-key -- case_wrong_key
run_case kill-round0 -- case_kill "round 0"
run_case kill-final -- case_kill "final round"
run_case reset -- case_reset
for mode in garbage bad-start huge-frame; do
	run_case "$mode" -- case_malformed "$mode"
done
for fault in after-round0 before-ready; do
	run_case "$fault" MIGRATE_DST_FAULT="$fault" -- case_fault "$fault"
done
run_case before-verdict MIGRATE_DST_FAULT=before-verdict -- case_before_verdict
[ ${#FAILED[@]} -eq 0 ] || die "failed cases: ${FAILED[*]}"
say "every fault: source intact, nothing left in b, the daemon served on"
