/*
 * agent_locks: the file locks of a migrated tree, handed over to the destination.
 *
 * With --file-locks the final records carry the locks held through each fd, and the
 * destination takes them again, non-blocking, when it restores on Commit (restore_fd_lock.c).
 * Where both hosts see the same file (namespaces of one machine, NFS, a cluster file system)
 * the frozen source would still hold them then, and the destination's take would fail. So the
 * source drops them in the freeze window, once its state (with the locks) is collected and
 * before Commit, and takes them again on every way back before Go:
 *
 *	agent_collect_states   FdEntry.locks filled (frozen, seized)
 *	agent_locks_drop       each lock unlocked by a remote call, what was dropped remembered
 *	Commit .. Ready .. Go
 *	agent_locks_retake     rollback before Go (or a failed Verdict): each one taken again,
 *	                       non-blocking; one taken by someone else meanwhile stays lost,
 *	                       named in the log, and the process runs on without it
 *	agent_locks_fini
 *
 * After Go nothing is taken again: the source is killed, and its locks would go with it.
 *
 * Always with --file-locks, not only for a shared file: the source cannot tell whether the
 * destination's path names the same file, and when it does not, dropping changes nothing
 * anyone sees (the process is frozen throughout, and killed after Go). The cost is the window
 * between the drop and Go or the retake, in which another process may take a lock.
 *
 * POSIX locks belong to the process and the file, not the fd: unlocking a range through one fd
 * drops it for every fd of that file, and the kernel lists it under each such fd. Unlocking or
 * locking the same range twice is harmless, so each listed lock is handled on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent_internal.h"
#include "dump_fd_lock.h"
#include "err.h"
#include "log.h"
#include "puppet.h"

/* A lock another program holds may be the destination's copy, killed on our Abort but not
 * gone yet: how long the retake keeps trying, and how often. */
#define AGENT_LOCKS_RETAKE_MS 3000
#define AGENT_LOCKS_RETRY_US 20000

static const char *agent_locks_kind(const FileLockEntry *l)
{
	switch (l->kind) {
	case DUMP_FD_LOCK_FLOCK:
		return l->write ? "exclusive flock() lock" : "shared flock() lock";
	case DUMP_FD_LOCK_POSIX:
		return l->write ? "POSIX write lock" : "POSIX read lock";
	default:
		return l->write ? "OFD write lock" : "OFD read lock";
	}
}

/* "the POSIX write lock on bytes 10..109" into buf. */
static const char *agent_locks_name(const FileLockEntry *l, char *buf, size_t size)
{
	if (l->kind == DUMP_FD_LOCK_FLOCK)
		snprintf(buf, size, "the %s", agent_locks_kind(l));
	else if (l->len == 0)
		snprintf(buf, size, "the %s from byte %llu to the end", agent_locks_kind(l),
			 (unsigned long long)l->start);
	else
		snprintf(buf, size, "the %s on bytes %llu..%llu", agent_locks_kind(l),
			 (unsigned long long)l->start, (unsigned long long)(l->start + l->len - 1));
	return buf;
}

/* flock() or fcntl() in the process: unlock (take false) or lock non-blocking (take true)
 * through fd; *ret_result: the call's own result. */
static int agent_locks_call(struct puppet *pp, uint32_t fd, const FileLockEntry *l, bool take,
			    long *ret_result)
{
	struct flock fl = {
		.l_type = !take	     ? F_UNLCK
			  : l->write ? F_WRLCK
				     : F_RDLCK,
		.l_whence = SEEK_SET,
		.l_start = (off_t)l->start,
		.l_len = (off_t)l->len,
	};
	uint64_t addr;
	int r;

	if (l->kind == DUMP_FD_LOCK_FLOCK)
		return puppet_syscall6(pp, ret_result, SYS_flock, fd,
				       !take ? LOCK_UN : (l->write ? LOCK_EX : LOCK_SH) | LOCK_NB,
				       0, 0, 0, 0);
	puppet_push_reset(pp);
	r = puppet_push(pp, &fl, sizeof(fl), &addr);
	if (r < 0)
		return r;
	return puppet_syscall6(pp, ret_result, SYS_fcntl, fd,
			       l->kind == DUMP_FD_LOCK_POSIX ? F_SETLK : F_OFD_SETLK, addr, 0, 0,
			       0);
}

static int agent_locks_remember(struct agent *a, pid_t pid, const FdEntry *e,
				const FileLockEntry *l)
{
	struct agent_lock_drop *d;

	d = realloc(a->locks.dropped, (a->locks.nr_dropped + 1) * sizeof(*d));
	if (!d)
		return err_setf(-ENOMEM, "out of memory");
	a->locks.dropped = d;
	d[a->locks.nr_dropped++] = (struct agent_lock_drop){ .pid = pid, .fd = e, .lock = l };
	return 0;
}

/* Every lock of process p unlocked through the puppet; each one remembered once dropped. */
static int agent_locks_drop_proc(struct agent *a, struct puppet *pp, const struct dump_proc *p)
{
	char name[96];
	long res;
	int r;

	for (size_t i = 0; i < p->nr_fds; i++) {
		const FdEntry *e = p->fds[i];

		for (size_t j = 0; j < e->n_locks; j++) {
			r = agent_locks_call(pp, e->fd, e->locks[j], false, &res);
			if (r == 0 && res < 0)
				r = (int)res;
			if (r < 0)
				return err_setf(r,
						"pid %d: cannot drop %s on %s (fd %u) for the "
						"destination: %s",
						p->pid,
						agent_locks_name(e->locks[j], name, sizeof(name)),
						e->path, e->fd, strerror(-r));
			r = agent_locks_remember(a, p->pid, e, e->locks[j]);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static bool agent_locks_held_by(const struct dump_proc *p)
{
	for (size_t i = 0; i < p->nr_fds; i++)
		if (p->fds[i]->n_locks)
			return true;
	return false;
}

/* step_cb run in process pid with a scratch page, the process put back on every path. */
static int agent_locks_in(struct agent *a, const struct dump_proc *p,
			  int (*step_cb)(struct agent *, struct puppet *, const struct dump_proc *))
{
	struct puppet pp;
	int r, r2;

	r = puppet_init(&pp, p->pid, p->pid);
	if (r < 0)
		return err_setf(r, "cannot take over pid %d for its file locks: %s", p->pid,
				strerror(-r));
	r = puppet_map_scratch(&pp, 0, 0);
	if (r < 0) {
		r = err_setf(r, "cannot map a scratch page in pid %d: %s", p->pid, strerror(-r));
		goto fini;
	}
	r = step_cb(a, &pp, p);
	r2 = puppet_unmap_scratch(&pp);
	if (r == 0 && r2 < 0)
		r = err_setf(r2, "cannot unmap the scratch page of pid %d: %s", p->pid,
			     strerror(-r2));
fini:
	r2 = puppet_fini(&pp);
	if (r == 0 && r2 < 0)
		r = err_setf(r2, "cannot put pid %d back: %s", p->pid, strerror(-r2));
	return r;
}

int agent_locks_drop(struct agent *a)
{
	int r;

	for (size_t i = 0; i < a->tree.count; i++) {
		const struct dump_proc *p = &a->tree.procs[i];

		if (p->zombie || !agent_locks_held_by(p))
			continue;
		r = agent_locks_in(a, p, agent_locks_drop_proc);
		if (r < 0)
			return r;
	}
	if (a->locks.nr_dropped)
		log_info("frozen: %zu file lock(s) dropped for the destination (taken again if "
			 "the migration fails before Go)",
			 a->locks.nr_dropped);
	return 0;
}

static uint64_t agent_locks_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One dropped lock taken again, retried while another holds it (the destination's copy may
 * still be dying) until deadline_ms. Returns the call's error, or the puppet's. */
static int agent_locks_retake_one(struct puppet *pp, const struct agent_lock_drop *d,
				  uint64_t deadline_ms)
{
	long res;
	int r;

	for (;;) {
		r = agent_locks_call(pp, d->fd->fd, d->lock, true, &res);
		if (r < 0)
			return r;
		if (res == 0)
			return 0;
		if ((res != -EAGAIN && res != -EACCES) || agent_locks_now_ms() >= deadline_ms)
			return (int)res;
		usleep(AGENT_LOCKS_RETRY_US);
	}
}

/* The dropped locks of p taken again; one that cannot be is logged by name and left. */
static int agent_locks_retake_proc(struct agent *a, struct puppet *pp, const struct dump_proc *p)
{
	uint64_t deadline_ms = agent_locks_now_ms() + AGENT_LOCKS_RETAKE_MS;
	char name[96];
	int r;

	for (size_t i = 0; i < a->locks.nr_dropped; i++) {
		const struct agent_lock_drop *d = &a->locks.dropped[i];

		if (d->pid != p->pid)
			continue;
		r = agent_locks_retake_one(pp, d, deadline_ms);
		if (r == 0)
			continue;
		log_warn("pid %d runs on WITHOUT %s on %s (fd %u): it was dropped for the "
			 "destination and cannot be taken again (%s%s); the process does not know",
			 p->pid, agent_locks_name(d->lock, name, sizeof(name)), d->fd->path,
			 d->fd->fd, strerror(-r),
			 r == -EAGAIN || r == -EACCES ? ": another process took it meanwhile" : "");
	}
	return 0;
}

void agent_locks_retake(struct agent *a)
{
	size_t done = 0;

	if (!a->locks.nr_dropped)
		return;
	for (size_t i = 0; i < a->tree.count; i++) {
		const struct dump_proc *p = &a->tree.procs[i];
		bool any = false;

		for (size_t j = 0; j < a->locks.nr_dropped; j++)
			any = any || a->locks.dropped[j].pid == p->pid;
		if (!any)
			continue;
		if (agent_locks_in(a, p, agent_locks_retake_proc) < 0)
			log_warn("pid %d runs on WITHOUT the file locks dropped for the "
				 "destination: "
				 "%s",
				 p->pid, err_detail());
		else
			done++;
	}
	log_info("rollback: the file locks dropped for the destination taken again in %zu "
		 "process(es) (a lock that could not be is named above)",
		 done);
	a->locks.nr_dropped = 0;
}

void agent_locks_fini(struct agent *a)
{
	free(a->locks.dropped);
	a->locks.dropped = NULL;
	a->locks.nr_dropped = 0;
}
