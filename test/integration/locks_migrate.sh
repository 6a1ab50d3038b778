#!/bin/bash
# locks_migrate: file locks (flock, POSIX, OFD) travel by live migration between two hosts that
# share the file system (namespaces of one machine, as NFS would between machines): the frozen
# source drops them for the destination, which takes them again.
#
#	without --file-locks   refused by fd, path and kind; the source runs on untouched
#	--file-locks           per tracker: the zoo "locks" in b holds its three locks (a helper
#	                       here cannot take any of them, and can once it exits), and its own
#	                       check from a forked child passes there
#	before-ready fault     the session in b exits after Commit (its copy had taken the
#	                       locks): the migration fails, the source in a runs on and still
#	                       holds every lock, and passes its check
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

# locks_held: how many of the zoo's three locks another process cannot take now (0..3).
# The zoo holds flock LOCK_EX on locks.flock, a POSIX write lock on bytes 10..109 of
# locks.posix and an OFD read lock over all of locks.ofd.
locks_held() {
	python3 - "$TMP" <<'PY'
import errno, fcntl, os, struct, sys
d = sys.argv[1]
F_OFD_SETLK = 37
held = 0

def try_lock(path, cmd, start, length):
    fd = os.open(path, os.O_RDWR)
    try:
        fl = struct.pack("hhxxxxqqixxxx", fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)
        fcntl.fcntl(fd, cmd, fl)
        return True
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False
    finally:
        os.close(fd)

fd = os.open(os.path.join(d, "locks.flock"), os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    held += 1
os.close(fd)
held += not try_lock(os.path.join(d, "locks.posix"), fcntl.F_SETLK, 50, 1)
held += not try_lock(os.path.join(d, "locks.ofd"), F_OFD_SETLK, 5, 1)
print(held)
PY
}

# assert_locks_held N WHY
assert_locks_held() {
	local seen
	seen=$(locks_held) || die "$2: the lock helper failed"
	[ "$seen" = "$1" ] || die "$2: expected $1 of the 3 locks held, another process can" \
		"take $((3 - seen)) of them: $(mig_what)"
}

# --- without --file-locks: refused by name, the source untouched
case_refused() {
	local pid
	host_zoo_start a locks
	pid=$ZOO_PID
	mig_to a "$pid" b --json
	[ "$MIG_RC" -ne 0 ] || die "without --file-locks: expected a refusal: $(mig_what)"
	grep -qiE "locks\.(flock|posix|ofd).*lock.*--file-locks" "$LAST_OUT" "$LAST_ERR" ||
		die "without --file-locks: expected the refusal to name the lock: $(mig_what)"
	host_alive a "$pid" || die "without --file-locks: the source (pid $pid) is gone"
	assert_locks_held 3 "after the refusal"
	zoo_check locks
	host_wait_gone a "$pid" 5
	mv "$TMP/locks.log" "$TMP/locks-refused.done"
	say "without --file-locks: refused by name, source intact"
}

# --- --file-locks: a -> b, the locks held in b
case_migrate() {
	local tracker=$1 pid hpid
	host_zoo_start a locks
	pid=$ZOO_PID
	mig_ok a "$pid" b --file-locks --tracker "$tracker" --json
	host_wait_gone a "$pid" 5
	hpid=$(host_pid b "$pid") || die "$tracker: expected pid $pid in host b, there is none"
	track_pid "$hpid"
	assert_locks_held 3 "$tracker: migrated to b"
	zoo_check locks
	host_wait_gone b "$pid" 5
	assert_locks_held 0 "$tracker: after the migrated process exited"
	mv "$TMP/locks.log" "$TMP/locks-$tracker.done"
	say "$tracker: pid $pid moved to b with its 3 locks, PASS there"
}

# --- the session in b exits after Commit: the source takes its locks again
case_fault() {
	local pid hpid
	dst_stop b
	dst_start b MIGRATE_DST_FAULT=before-ready
	host_zoo_start a locks
	pid=$ZOO_PID hpid=$ZOO_HPID
	mig_to a "$pid" b --file-locks --json
	[ "$MIG_RC" -eq 1 ] || die "before-ready: expected exit status 1: $(mig_what)"
	host_alive a "$pid" || die "before-ready: the source (pid $pid) is gone: $(mig_what)"
	! grep -q WITHOUT "$LAST_ERR" || die "before-ready: a lock was lost: $(mig_what)"
	assert_locks_held 3 "before-ready: the source after the rollback"
	zoo_check locks
	host_wait_gone a "$pid" 5
	assert_locks_held 0 "before-ready: after the source exited"
	mv "$TMP/locks.log" "$TMP/locks-fault.done"
	dst_stop b
	dst_start b
	say "before-ready: migration failed, the source runs on holding its 3 locks"
}

FAILED=()
run() {
	set +e
	(
		set -e
		"$@"
	)
	local rc=$?
	set -e
	[ "$rc" -eq 0 ] && return 0
	FAILED+=("$*")
	# What the failed case left would hold the locks in the next one.
	host_kill_locks a
	host_kill_locks b
	mv "$TMP/locks.log" "$TMP/locks-failed-$rc.log" 2>/dev/null || true
}

# host_kill_locks HOST: ends the zoo "locks" left in HOST by a failed case.
host_kill_locks() {
	local nspid comm hp
	host_nspids "$1" | while read -r nspid comm; do
		[ "$comm" = locks ] || continue
		hp=$(host_pid "$1" "$nspid") && kill -KILL "$hp" 2>/dev/null || true
		host_wait_gone "$1" "$nspid" 5
	done
}
run case_refused
for tracker in "${TRACKERS[@]}"; do
	run case_migrate "$tracker"
done
run case_fault
[ ${#FAILED[@]} -eq 0 ] || die "failed: ${FAILED[*]}"
say "file locks by live migration: refusal, ${TRACKERS[*]}, before-ready fault: PASS"
