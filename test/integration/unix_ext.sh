#!/bin/bash
# unix_ext: unix sockets whose peer is outside the dumped process (--ext-unix-sk), the
# refusals, and a dump that leaves the process running with its unix queues intact.
#
#	stream connection to an echo server outside: refused by name without --ext-unix-sk
#	(process untouched); with it, dump, restore connects again, the echo works
#	datagram socket connected to a receiver outside: the same; the receiver gets what
#	the restored process sends
#	peer gone at restore: clear error naming the fd and the path, nothing restored
#	a pipe in flight (SCM_RIGHTS; files and safe devices are carried: zoo unixfds): refused
#	by name, the process keeps it
#	a socketpair split between a parent and its child: the child alone is refused naming
#	the parent; the two dumped and restored as a tree, the pair works again
#	zoo "unix" and "unixfds" dumped with --leave-running: their unread data (and files in
#	flight) all still there (peeked)
#	live migration from host a to host b: refused without --ext-unix-sk (the source runs
#	on), with it the process at b talks to the same echo server
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_hosts.sh"
lib_init "${1:-}"
command -v python3 >/dev/null || skip "needs python3 for the peers outside the process"

# The peers outside: a stream echo server and a datagram receiver logging what it gets.
cat >"$TMP/peer.py" <<'EOF'
import os, socket, sys, threading
kind, path, log = sys.argv[1:4]
if os.path.exists(path):
    os.unlink(path)
if kind == "stream":
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    def echo(c):
        with c:
            while True:
                data = c.recv(4096)
                if not data:
                    return
                c.sendall(data)
    print("READY", flush=True)
    while True:
        c, _ = srv.accept()
        with open(log, "a") as f:
            f.write("connection\n")
        threading.Thread(target=echo, args=(c,), daemon=True).start()
else:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    print("READY", flush=True)
    while True:
        data = srv.recv(4096)
        with open(log, "a") as f:
            f.write(data.decode(errors="replace").strip() + "\n")
EOF

# peer_start KIND NAME: a peer at $TMP/NAME.sock; sets PEER_PID.
peer_start() {
	lib_spawn "$TMP/$2.log" python3 "$TMP/peer.py" "$1" "$TMP/$2.sock" "$TMP/$2.got"
	PEER_PID=$!
	wait_line "$TMP/$2.log" '^READY$'
	track_pid "$PEER_PID"
}

# ext_round MODE PEER WORD: refusal without the flag (naming a WORD socket), then dump and
# restore with it.
ext_round() {
	local mode=$1 peer=$2 word=$3 pid
	zoo_start unixext "$mode" "$TMP/$peer.sock"
	pid=$ZOO_PID
	mig_expect_fail "$TMP/refused-$mode.out" dump -t "$pid" -D "$TMP/img-refused"
	assert_output_has "$TMP/refused-$mode.out" \
		"fd [0-9]+ of pid $pid: unix $word socket connected to $TMP/$peer\.sock, a peer outside.*--ext-unix-sk" \
		"dump of a $mode socket connected outside, without --ext-unix-sk"
	[ ! -e "$TMP/img-refused/inventory.img" ] || die "a refused dump left an image behind"
	assert_alive "$pid" "after a refused dump"
	say "$mode refused: $(grep -m1 -i 'ext-unix-sk' "$TMP/refused-$mode.out")"
	rm -rf "$TMP/img-$mode"
	mig_dump "$pid" "$TMP/img-$mode" --ext-unix-sk
	wait_gone "$pid" 5
	wait_reaped "$pid" 5
	mig_restore "$TMP/img-$mode"
	assert_alive "$pid" "unixext $mode restored"
	zoo_check unixext
	wait_gone "$pid" 5
	mv "$TMP/unixext.log" "$TMP/unixext-$mode.log"
	EXT_PID=$pid
}

peer_start stream echo
ext_round stream echo stream
[ "$(grep -c '^connection$' "$TMP/echo.got")" -eq 2 ] ||
	die "the echo server saw $(grep -c '^connection$' "$TMP/echo.got") connections, expected 2 (the restore connects again)"
say "stream: --ext-unix-sk dump, restore, reconnected, PASS"

peer_start dgram sink
ext_round dgram sink datagram
grep -q "^after-$EXT_PID\$" "$TMP/sink.got" ||
	die "the receiver did not get the restored process's datagram: $(cat "$TMP/sink.got")"
say "dgram: --ext-unix-sk dump, restore, the receiver got after-$EXT_PID, PASS"

# --- the peer is gone at restore: an error naming fd and path, no process left
peer_start stream gone
gone_peer=$PEER_PID
zoo_start unixext stream "$TMP/gone.sock"
pid=$ZOO_PID
mig_dump "$pid" "$TMP/img-gone" --ext-unix-sk
wait_gone "$pid" 5
wait_reaped "$pid" 5
kill "$gone_peer"
wait_gone "$gone_peer" 5
rm -f "$TMP/gone.sock"
mig_expect_fail "$TMP/restore-gone.out" restore -D "$TMP/img-gone" --restore-detached
assert_output_has "$TMP/restore-gone.out" "fd [0-9]+: cannot connect the unix stream socket again to $TMP/gone\.sock" \
	"restore with the peer gone"
sleep 0.2
! is_alive "$pid" || die "pid $pid runs after a failed restore"
say "peer gone: $(grep -m1 'cannot connect' "$TMP/restore-gone.out")"
mv "$TMP/unixext.log" "$TMP/unixext-gone.log"

# --- a pipe in flight (a kind not carried): refused by name, the process keeps it
zoo_start unixext scm
pid=$ZOO_PID
mig_expect_fail "$TMP/refused-scm.out" dump -t "$pid" -D "$TMP/img-scm" --ext-unix-sk
assert_output_has "$TMP/refused-scm.out" "fd [0-9]+ of pid $pid: unix socket with file descriptors in flight" \
	"dump of a socket with fds in flight"
assert_output_has "$TMP/refused-scm.out" "file 0 of a queued message is a pipe or FIFO" \
	"dump of a socket with a pipe in flight"
assert_alive "$pid" "after a refused dump"
zoo_check unixext
wait_gone "$pid" 5
say "fds in flight refused: $(grep -m1 'in flight' "$TMP/refused-scm.out")"
mv "$TMP/unixext.log" "$TMP/unixext-scm.log"

# --- a listener with a connection not yet accepted: refused by name, nothing lost
zoo_start unixext pending
pid=$ZOO_PID
mig_expect_fail "$TMP/refused-pending.out" dump -t "$pid" -D "$TMP/img-pending"
assert_output_has "$TMP/refused-pending.out" \
	"fd [0-9]+ of pid $pid: listening unix socket @unixext-$pid has 1 connection\\(s\\) not yet accepted" \
	"dump of a listener with a pending connection"
assert_alive "$pid" "after a refused dump"
zoo_check unixext
wait_gone "$pid" 5
say "pending connection refused: $(grep -m1 'not yet accepted' "$TMP/refused-pending.out")"
mv "$TMP/unixext.log" "$TMP/unixext-pending.log"

# --- a bound path taken by another file at restore: refused by name, restored once it is gone
zoo_start unix
pid=$ZOO_PID
mig_dump "$pid" "$TMP/img-path"
wait_gone "$pid" 5
wait_reaped "$pid" 5
[ -S "$ZOO_CHECK.lsock" ] || die "the dumped listener left no socket file at $ZOO_CHECK.lsock"
rm -f "$ZOO_CHECK.lsock"
echo "not a socket" >"$ZOO_CHECK.lsock"
mig_expect_fail "$TMP/restore-path.out" restore -D "$TMP/img-path" --restore-detached
assert_output_has "$TMP/restore-path.out" \
	"fd [0-9]+: cannot bind the unix socket to $ZOO_CHECK\\.lsock: the path exists and is not a socket" \
	"restore with the listener's path taken"
sleep 0.2
! is_alive "$pid" || die "pid $pid runs after a refused restore"
[ "$(cat "$ZOO_CHECK.lsock")" = "not a socket" ] || die "the refused restore touched $ZOO_CHECK.lsock"
say "path taken: $(grep -m1 'cannot bind' "$TMP/restore-path.out")"
rm -f "$ZOO_CHECK.lsock"
mig_restore "$TMP/img-path"
assert_alive "$pid" "unix restored once its path is free"
zoo_check unix
wait_gone "$pid" 5
mv "$TMP/unix.log" "$TMP/unix-path.log"
say "unix: restored once the path was free, PASS"

# --- a socketpair shared with a child: the child's subtree alone is refused naming the parent
# (its end leads out of it); the whole tree is dumped and restored, and the child echoes again
zoo_start unixext split
pid=$ZOO_PID
child=$(tr -d ' \n' <"/proc/$pid/task/$pid/children")
[ -n "$child" ] || die "unixext split has no child"
track_pid "$child"
mig_expect_fail "$TMP/refused-split.out" dump -t "$child" -D "$TMP/img-split" --ext-unix-sk
assert_output_has "$TMP/refused-split.out" \
	"fd [0-9]+ of pid $child: unix stream socket connected to an unnamed socket \\(inode [0-9]+\\) held by pid $pid \\(unixext\\), outside the dumped tree of pid $child" \
	"dump of the child's end of a socketpair shared with its parent"
assert_alive "$pid" "after a refused dump"
assert_alive "$child" "after a refused dump"
say "split pair, child alone refused: $(grep -m1 'unnamed socket' "$TMP/refused-split.out")"
mig_dump "$pid" "$TMP/img-split"
wait_gone "$pid" 5
wait_gone "$child" 5
wait_reaped "$child" 10
mig_restore "$TMP/img-split"
assert_alive "$child" "the child of unixext split, restored"
zoo_check unixext
wait_gone "$pid" 5
say "split pair: parent and child dumped and restored together, the child echoes, PASS"
mv "$TMP/unixext.log" "$TMP/unixext-split.log"

# --- a dump that leaves the process running: peeking lost nothing
zoo_start unix
pid=$ZOO_PID
mig_dump "$pid" "$TMP/img-running" --leave-running
assert_alive "$pid" "zoo unix after --leave-running"
zoo_check unix
wait_gone "$pid" 5
say "unix --leave-running: every queue intact, PASS"
zoo_start unixfds
pid=$ZOO_PID
mig_dump "$pid" "$TMP/img-running-fds" --leave-running
assert_alive "$pid" "zoo unixfds after --leave-running"
zoo_check unixfds
wait_gone "$pid" 5
say "unixfds --leave-running: messages and their files in flight intact, PASS"

# --- live migration: the echo server stays here; a path reaches it from both hosts
live_need
hosts_init
host_create a 198.18.0.1
host_create b 198.18.0.2
host_link a b
dst_start b
peer_start stream mecho
host_zoo_start a unixext stream "$TMP/mecho.sock"
pid=$ZOO_PID
mig_to a "$pid" b
mig_rc_is 1 "migration of a socket connected outside, without --ext-unix-sk"
assert_output_has "$LAST_ERR" "fd [0-9]+ of pid $pid: unix stream socket connected to $TMP/mecho\.sock.*--ext-unix-sk" \
	"migration without --ext-unix-sk"
host_alive a "$pid" || die "pid $pid is gone from a after a refused migration"
mig_ok a "$pid" b --ext-unix-sk
host_wait_gone a "$pid" 5
hpid=$(host_pid b "$pid") || die "no pid $pid in host b after the migration"
track_pid "$hpid"
zoo_check unixext
host_wait_gone b "$pid" 5
[ "$(grep -c '^connection$' "$TMP/mecho.got")" -eq 2 ] ||
	die "the echo server saw $(grep -c '^connection$' "$TMP/mecho.got") connections, expected 2"
say "migration: refused without --ext-unix-sk, with it reconnected from b, PASS"
