/*
 * image_set: loads a whole image directory and validates it before anyone
 * acts on it, so that restore refuses a damaged image before it creates a
 * single process. Every refusal names the file and the fault (err_detail()).
 */
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "image_ipc.h"
#include "sockdiag_unix.h"
#include "tcp_repair.h"

#define IMAGE_HINT "the image is damaged or incomplete: dump again"
/* x86_64 user space ends below 1 << 47 (4-level paging); only [vsyscall] lives above. */
#define IMAGE_USER_TOP (1ULL << 47)
/* Prefixes naming a VMA or a page run by file, index and range. */
#define IMAGE_VMA_AT "mm-%d.img: vma %zu 0x%" PRIx64 "-0x%" PRIx64
#define IMAGE_RUN_AT "pagemap-%d.img: run %zu 0x%" PRIx64 "-0x%" PRIx64

/* A file's records, all of them decoded. */
struct image_records {
	ProtobufCMessage **msgs;
	size_t count;
};

static void image_records_free(struct image_records *rs)
{
	for (size_t i = 0; i < rs->count; i++)
		protobuf_c_message_free_unpacked(rs->msgs[i], NULL);
	free(rs->msgs);
	rs->msgs = NULL;
	rs->count = 0;
}

static int image_records_push(struct image_records *rs, ProtobufCMessage *msg)
{
	ProtobufCMessage **p;

	if ((rs->count & (rs->count - 1)) == 0) { /* grow at powers of two */
		p = realloc(rs->msgs, (rs->count ? rs->count * 2 : 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		rs->msgs = p;
	}
	rs->msgs[rs->count++] = msg;
	return 0;
}

static int image_records_read(struct image_dir *d, enum image_kind kind, pid_t pid,
			      struct image_records *rs)
{
	struct image_file *f = NULL;
	ProtobufCMessage *msg;
	int r;

	rs->msgs = NULL;
	rs->count = 0;
	r = image_open_read(d, kind, pid, &f);
	if (r < 0)
		return r;
	while ((r = image_read_record(f, &msg)) > 0) {
		r = image_records_push(rs, msg);
		if (r < 0) {
			protobuf_c_message_free_unpacked(msg, NULL);
			break;
		}
	}
	(void)image_close(f); /* read-only: nothing to report */
	if (r < 0)
		image_records_free(rs);
	return r;
}

/* Reads a file that must hold exactly one record; the caller owns *ret. */
static int image_read_one(struct image_dir *d, enum image_kind kind, pid_t pid, void **ret)
{
	struct image_records rs;
	char name[64];
	int r;

	r = image_records_read(d, kind, pid, &rs);
	if (r < 0)
		return r;
	if (rs.count != 1) {
		if (image_file_name(kind, pid, name, sizeof(name)) < 0) /* opened: cannot fail */
			snprintf(name, sizeof(name), "image");
		r = err_setf(-EBADMSG, "%s: holds %zu records, expected exactly one", name,
			     rs.count);
		image_records_free(&rs);
		return r;
	}
	*ret = rs.msgs[0];
	free(rs.msgs);
	return 0;
}

static int image_check_inventory(const InventoryEntry *inv)
{
	if (inv->image_version != IMAGE_FORMAT_VERSION)
		return err_setf(-EBADMSG, "inventory.img: image version %u, this build reads %u",
				inv->image_version, IMAGE_FORMAT_VERSION);
	if (inv->page_size != IMAGE_PAGE_SIZE)
		return err_setf(-EBADMSG, "inventory.img: page size %u, this build handles %u",
				inv->page_size, IMAGE_PAGE_SIZE);
	if (!inv->arch || strcmp(inv->arch, "x86_64") != 0)
		return err_setf(-EBADMSG,
				"inventory.img: architecture %s, this build handles x86_64",
				inv->arch ? inv->arch : "(not recorded)");
	return 0;
}

static bool image_u32_in(const uint32_t *v, size_t n, uint32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/*
 * A process keeps the session it was forked in or leads its own (setsid):
 * any other sid means its parent left that session after the fork, which
 * only a helper task could re-create. pgid is not checked: setpgid may join
 * any group of the session.
 */
static int image_check_pstree_session(PstreeEntry **ps, size_t i)
{
	const PstreeEntry *p = ps[i];

	for (size_t j = 0; j < i; j++) {
		if (ps[j]->pid != p->ppid)
			continue;
		if (p->sid != ps[j]->sid && p->sid != p->pid)
			return err_setf(-EBADMSG,
					"pstree.img: pid %u: session %u is neither its parent's (%u) "
					"nor its own",
					p->pid, p->sid, ps[j]->sid);
	}
	return 0;
}

/* Entry i of pstree.img against the entries before it. */
static int image_check_pstree_entry(PstreeEntry **ps, size_t i)
{
	const PstreeEntry *p = ps[i];
	bool parent_seen = i == 0;

	if (p->pid == 0 || p->pid > INT32_MAX)
		return err_setf(-EBADMSG, "pstree.img: record %zu: bad pid %u", i, p->pid);
	for (size_t j = 0; j < i; j++) {
		if (ps[j]->pid == p->pid)
			return err_setf(-EBADMSG,
					"pstree.img: pid %u appears twice (records %zu and %zu)",
					p->pid, j, i);
		if (ps[j]->pid == p->ppid)
			parent_seen = true;
	}
	if (!parent_seen)
		return err_setf(-EBADMSG, "pstree.img: pid %u comes before its parent %u", p->pid,
				p->ppid);
	if (i > 0) {
		int r = image_check_pstree_session(ps, i);

		if (r < 0)
			return r;
	}
	if (p->n_threads == 0 || p->threads[0] != p->pid)
		return err_setf(-EBADMSG, "pstree.img: pid %u: thread list must start with the pid",
				p->pid);
	for (size_t t = 1; t < p->n_threads; t++)
		if (p->threads[t] == 0 || image_u32_in(p->threads, t, p->threads[t]))
			return err_setf(-EBADMSG, "pstree.img: pid %u: bad or repeated tid %u",
					p->pid, p->threads[t]);
	return 0;
}

static int image_load_pstree(struct image_dir *d, struct image_set *set)
{
	struct image_records rs;
	int r;

	r = image_records_read(d, IMAGE_PSTREE, 0, &rs);
	if (r < 0)
		return r;
	if (rs.count == 0) {
		image_records_free(&rs);
		return err_setf(-EBADMSG, "pstree.img: holds no process");
	}
	set->tasks = calloc(rs.count, sizeof(*set->tasks));
	if (!set->tasks) {
		image_records_free(&rs);
		return -ENOMEM;
	}
	/* The set owns the records from here on, even if one is refused below. */
	for (size_t i = 0; i < rs.count; i++) {
		set->tasks[i].pstree = (PstreeEntry *)rs.msgs[i];
		set->tasks[i].pages_fd = -1;
	}
	set->task_count = rs.count;
	free(rs.msgs);
	return 0;
}

static int image_check_pstree(struct image_set *set)
{
	PstreeEntry **ps = malloc(set->task_count * sizeof(*ps));
	int r = 0;

	if (!ps)
		return -ENOMEM;
	for (size_t i = 0; i < set->task_count; i++)
		ps[i] = set->tasks[i].pstree;
	for (size_t i = 0; i < set->task_count && r == 0; i++)
		r = image_check_pstree_entry(ps, i);
	free(ps);
	if (r == 0 && set->tasks[0].pstree->pid != set->inventory->root_pid)
		r = err_setf(-EBADMSG, "pstree.img: root is pid %u, inventory.img says %u",
			     set->tasks[0].pstree->pid, set->inventory->root_pid);
	if (r == 0 && set->tasks[0].pstree->has_zombie && set->tasks[0].pstree->zombie)
		r = err_setf(-EBADMSG, "pstree.img: the root pid %u is a zombie",
			     set->tasks[0].pstree->pid);
	return r;
}

/* Interval timers: each of ITIMER_REAL, VIRTUAL, PROF at most once. */
static int image_check_itimers(const TaskCoreEntry *c)
{
	unsigned int seen = 0;

	for (size_t i = 0; i < c->n_itimers; i++) {
		uint32_t which = c->itimers[i] ? c->itimers[i]->which : 3;

		if (which > 2 || (seen & (1u << which)))
			return err_setf(-EBADMSG, "core-%u.img: interval timer %zu (which %u) is "
					"unknown or repeated", c->pid, i, which);
		seen |= 1u << which;
	}
	return 0;
}

int image_posix_clock(int32_t clock_id, uint32_t *ret_owner, bool *ret_thread)
{
	/* REALTIME, MONOTONIC, PROCESS_CPUTIME, THREAD_CPUTIME, BOOTTIME, REALTIME_ALARM,
	 * BOOTTIME_ALARM, TAI: the clocks the kernel makes timers on (no RAW, no COARSE). */
	static const int32_t fixed[] = { 0, 1, 2, 3, 7, 8, 9, 11 };

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (clock_id == fixed[i]) {
			*ret_owner = 0;
			*ret_thread = clock_id == 3;
			return 0;
		}
	/* The kernel's CPU clock encoding: ~pid << 3 | per-thread (4) | PROF/VIRT/SCHED (0..2);
	 * 3 in the low bits is a clock fd (a PTP device...), which no image can carry. */
	if (clock_id >= 0 || (clock_id & 3) == 3)
		return -EINVAL;
	*ret_owner = (uint32_t)~(clock_id >> 3);
	*ret_thread = clock_id & 4;
	return 0;
}

static bool image_core_has_tid(const TaskCoreEntry *c, uint32_t tid)
{
	for (size_t i = 0; i < c->n_threads; i++)
		if (c->threads[i] && c->threads[i]->tid == tid)
			return true;
	return false;
}

/* One POSIX timer: a kernel id, a known notify and signal, a thread of the process to notify,
 * a clock of this process. */
static int image_check_posix_timer(const TaskCoreEntry *c, size_t i)
{
	const PosixTimerEntry *t = c->posix_timers[i];
	uint32_t kind, owner;
	bool thread;

	if (!t)
		return err_setf(-EBADMSG, "core-%u.img: POSIX timer record %zu is empty", c->pid, i);
	kind = t->notify & ~4u;
	if (t->id > INT32_MAX || kind > 2 || (t->notify & 4 && kind != 0))
		return err_setf(-EBADMSG, "core-%u.img: POSIX timer %u: bad id or notify %u", c->pid,
				t->id, t->notify);
	if (kind != 1 && (t->signo < 1 || t->signo > 64))
		return err_setf(-EBADMSG, "core-%u.img: POSIX timer %u: bad signal %d", c->pid,
				t->id, t->signo);
	if (t->notify & 4 && (!t->has_notify_tid || !image_core_has_tid(c, t->notify_tid)))
		return err_setf(-EBADMSG, "core-%u.img: POSIX timer %u notifies tid %u, not a "
				"thread of the process", c->pid, t->id, t->notify_tid);
	/* The calling thread's clock is made in the main thread: only one thread is certain. */
	if (image_posix_clock(t->clock_id, &owner, &thread) < 0 ||
	    (owner && !(thread ? image_core_has_tid(c, owner) : owner == c->pid)) ||
	    (!owner && thread && c->n_threads != 1))
		return err_setf(-EBADMSG, "core-%u.img: POSIX timer %u: clock %d is unknown, or "
				"belongs to another process or to an unnamed thread", c->pid, t->id,
				t->clock_id);
	for (size_t j = 0; j < i; j++)
		if (c->posix_timers[j] && c->posix_timers[j]->id == t->id)
			return err_setf(-EBADMSG, "core-%u.img: POSIX timer %u is listed twice",
					c->pid, t->id);
	return 0;
}

static int image_check_core(const struct image_task *t)
{
	const PstreeEntry *p = t->pstree;
	const TaskCoreEntry *c = t->core;

	if (c->pid != p->pid)
		return err_setf(-EBADMSG, "core-%u.img: holds pid %u", p->pid, c->pid);
	if (c->n_threads != p->n_threads)
		return err_setf(-EBADMSG, "core-%u.img: %zu threads, pstree.img lists %zu", p->pid,
				c->n_threads, p->n_threads);
	for (size_t i = 0; i < c->n_threads; i++)
		if (!c->threads[i] || c->threads[i]->tid != p->threads[i])
			return err_setf(-EBADMSG,
					"core-%u.img: thread %zu is tid %u, pstree.img says %u",
					p->pid, i, c->threads[i] ? c->threads[i]->tid : 0,
					p->threads[i]);
	for (size_t i = 0; i < c->n_posix_timers; i++) {
		int r = image_check_posix_timer(c, i);

		if (r < 0)
			return r;
	}
	return image_check_itimers(c);
}

/* A memfd or deleted file carried with a VMA: a file VMA of a deleted file, exactly its
 * contents (at most 1 GiB), an identity. */
static int image_check_vma_ghost(pid_t pid, size_t i, const VmaEntry *v)
{
	bool file = v->kind == VMA_KIND__VMA_FILE_SHARED || v->kind == VMA_KIND__VMA_FILE_PRIVATE;

	if (!v->has_ghost_data && !v->has_ghost_size && !v->memfd_name)
		return 0;
	if (!file || !v->file_deleted || !v->has_ino || !v->has_dev || !v->path ||
	    !v->has_ghost_data || !v->has_ghost_size || v->ghost_data.len != v->ghost_size ||
	    v->ghost_size > (1u << 30))
		return err_setf(-EBADMSG, IMAGE_VMA_AT " carries a memfd or deleted file without "
				"its identity or exactly its contents", (int)pid, i, v->start,
				v->end);
	return 0;
}

static int image_check_mm(pid_t pid, const MmEntry *mm)
{
	uint64_t prev_end = 0;

	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];

		if (v->start >= v->end || v->start % IMAGE_PAGE_SIZE || v->end % IMAGE_PAGE_SIZE)
			return err_setf(-EBADMSG, IMAGE_VMA_AT " is empty or not page aligned",
					(int)pid, i, v->start, v->end);
		if (v->start < prev_end)
			return err_setf(-EBADMSG, IMAGE_VMA_AT " overlaps or precedes vma %zu",
					(int)pid, i, v->start, v->end, i - 1);
		if (v->end > IMAGE_USER_TOP && v->kind != VMA_KIND__VMA_VSYSCALL)
			return err_setf(-EBADMSG, IMAGE_VMA_AT " lies above user space", (int)pid,
					i, v->start, v->end);
		prev_end = v->end;
		if (image_check_vma_ghost(pid, i, v) < 0)
			return -EBADMSG;
	}
	return 0;
}

static int image_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* An event fd carries its own state and no socket state. */
static int image_check_fd_event(pid_t pid, const FdEntry *e)
{
	bool ok = !e->inet;

	if (e->kind == FD_KIND__FD_EVENTFD)
		ok = ok && e->has_efd_count && e->efd_count != UINT64_MAX;
	else if (e->kind == FD_KIND__FD_SIGNALFD)
		ok = ok && e->has_sigmask;
	else if (e->kind == FD_KIND__FD_EPOLL)
		for (size_t i = 0; i < e->n_epoll; i++)
			ok = ok && e->epoll[i]->tfd <= INT32_MAX && e->epoll[i]->tfd != e->fd;
	else if (e->kind == FD_KIND__FD_INOTIFY)
		for (size_t i = 0; i < e->n_inotify; i++)
			ok = ok && e->inotify[i]->wd == i + 1 && e->inotify[i]->path[0] == '/';
	else
		ok = ok && e->has_tfd_clockid && e->has_tfd_value_ns && e->has_tfd_interval_ns;
	if (!ok)
		return err_setf(-EBADMSG, "files-%d.img: fd %u: its kind %d and state disagree",
				(int)pid, e->fd, (int)e->kind);
	return 0;
}

/* A pipe end: its capacity in the kernel's range (a page to 1 GiB), its inode to pair it with
 * the other end, and unread data only on a read end, no more than the capacity. */
static int image_check_fd_pipe(pid_t pid, const FdEntry *e)
{
	uint32_t acc = e->flags & O_ACCMODE;
	bool ok = !e->inet && e->has_ino && e->has_pipe_size && e->pipe_size >= 4096 &&
		  e->pipe_size <= (1u << 30) && (acc == O_RDONLY || acc == O_WRONLY);

	if (ok && e->has_pipe_data)
		ok = acc == O_RDONLY && e->pipe_data.len <= e->pipe_size;
	if (!ok)
		return err_setf(-EBADMSG, "files-%d.img: fd %u: a pipe with an incoherent state "
				"(capacity, access mode or unread data)", (int)pid, e->fd);
	return 0;
}

/* A memfd carries exactly its contents (at most 1 GiB), its seals and its inode. */
static int image_check_fd_memfd(pid_t pid, const FdEntry *e)
{
	if (e->ghost_mapped) /* its contents are with its VMA (image_check_vma_ghost) */
		return e->inet || !e->has_ino || !e->has_dev || e->has_file_data
			       ? err_setf(-EBADMSG, "files-%d.img: fd %u: a mapped memfd "
					  "without its identity, or with contents", (int)pid, e->fd)
			       : 0;
	if (e->inet || !e->has_ino || !e->has_size || !e->has_memfd_seals || !e->has_file_data ||
	    e->file_data.len != e->size || e->size > (1u << 30))
		return err_setf(-EBADMSG, "files-%d.img: fd %u: a memfd without its contents, "
				"size or seals", (int)pid, e->fd);
	return 0;
}

/* A deleted file carries exactly its contents (at most 1 GiB) and an absolute path. */
static int image_check_fd_ghost(pid_t pid, const FdEntry *e)
{
	if (e->ghost_mapped) /* its contents are with its VMA (image_check_vma_ghost) */
		return e->inet || !e->has_ino || !e->has_dev || e->has_file_data
			       ? err_setf(-EBADMSG, "files-%d.img: fd %u: a mapped deleted file "
					  "without its identity, or with contents", (int)pid, e->fd)
			       : 0;
	if (e->inet || !e->has_size || !e->has_file_data || e->file_data.len != e->size ||
	    e->size > (1u << 30) || !e->path || e->path[0] != '/')
		return err_setf(-EBADMSG, "files-%d.img: fd %u: a deleted file without its "
				"contents, size or path", (int)pid, e->fd);
	return 0;
}

/* A FIFO end: reopened by its absolute path, or a dup of another fd; a capacity in the kernel's
 * range (a page to 1 GiB) and no more unread data than that, except for an O_PATH fd, which
 * reaches no buffer. */
static int image_check_fd_fifo(pid_t pid, const FdEntry *e)
{
	bool ok = !e->inet && e->path && e->path[0] == '/' && e->has_dev && e->has_ino &&
		  (!e->has_fifo_dup_of || e->fifo_dup_of != e->fd);

	if (ok && (e->flags & O_PATH))
		ok = !e->has_fifo_size && !e->has_fifo_data;
	else if (ok)
		ok = (e->flags & O_ACCMODE) != O_ACCMODE && e->has_fifo_size &&
		     e->fifo_size >= 4096 && e->fifo_size <= (1u << 30) &&
		     (!e->has_fifo_data || e->fifo_data.len <= e->fifo_size);
	if (!ok)
		return err_setf(-EBADMSG, "files-%d.img: fd %u: a FIFO with an incoherent state "
				"(path, inode, access mode, capacity or unread data)", (int)pid, e->fd);
	return 0;
}

/* A pseudo-terminal fd: its pair's pts number; the state (on a master only) has a whole c_cc
 * and no more queued data than the kernel holds (n_tty's 4 KiB to the slave, 1 MiB at most to
 * the master). */
static int image_check_fd_pty(pid_t pid, const FdEntry *e)
{
	const TtyEntry *t = e->pty;
	bool ok = !e->inet && e->has_pty_index && e->pty_index < (1u << 20) &&
		  (!e->has_pty_dup_of || e->pty_dup_of != e->fd);

	if (ok && t)
		ok = e->kind == FD_KIND__FD_PTY_MASTER && t->cc.len == 32 &&
		     (!t->has_to_slave || t->to_slave.len <= 4096) &&
		     (!t->has_to_master || t->to_master.len <= (1u << 20));
	if (!ok)
		return err_setf(-EBADMSG, "files-%d.img: fd %u: a pseudo-terminal with an "
				"incoherent state (pts number, termios or queued data)", (int)pid,
				e->fd);
	return 0;
}

/* Locks only on regular files, of a known kind; flock has no range. */
static int image_check_fd_locks(pid_t pid, const FdEntry *e)
{
	for (size_t i = 0; i < e->n_locks; i++) {
		const FileLockEntry *l = e->locks[i];

		if (e->kind != FD_KIND__FD_REG || l->kind < 1 || l->kind > 3 ||
		    (l->kind == 1 && (l->has_start || l->has_len)) ||
		    (l->has_start && l->start > INT64_MAX) || (l->has_len && l->len > INT64_MAX))
			return err_setf(-EBADMSG, "files-%d.img: fd %u: an invalid file lock",
					(int)pid, e->fd);
	}
	return 0;
}

/* An fd's kind and its socket state agree; a socket's state is coherent (tcp_repair). */
static int image_check_fd(pid_t pid, const FdEntry *e)
{
	int r;

	r = image_check_fd_locks(pid, e);
	if (r < 0)
		return r;
	switch (e->kind) {
	case FD_KIND__FD_REG:
	case FD_KIND__FD_TTY:
	case FD_KIND__FD_DEVNULL:
		if (e->inet)
			return err_setf(-EBADMSG, "files-%d.img: fd %u is a file with socket state",
					(int)pid, e->fd);
		return 0;
	case FD_KIND__FD_INET_SOCKET:
		if (!e->inet)
			return err_setf(-EBADMSG, "files-%d.img: fd %u is a socket without its state",
					(int)pid, e->fd);
		r = tcp_repair_entry_check(e->inet);
		if (r < 0)
			return err_setf(-EBADMSG, "files-%d.img: fd %u: %s", (int)pid, e->fd,
					err_detail());
		return 0;
	case FD_KIND__FD_EVENTFD:
	case FD_KIND__FD_SIGNALFD:
	case FD_KIND__FD_TIMERFD:
	case FD_KIND__FD_EPOLL:
	case FD_KIND__FD_INOTIFY:
		return image_check_fd_event(pid, e);
	case FD_KIND__FD_PIPE:
		return image_check_fd_pipe(pid, e);
	case FD_KIND__FD_MEMFD:
		return image_check_fd_memfd(pid, e);
	case FD_KIND__FD_GHOST:
		return image_check_fd_ghost(pid, e);
	case FD_KIND__FD_UNIX_SOCKET:
		if (e->inet || !e->unix_sk || sockdiag_unix_entry_check(e->unix_sk) < 0)
			return err_setf(-EBADMSG, "files-%d.img: fd %u: %s", (int)pid, e->fd,
					e->unix_sk ? err_detail() : "a unix socket without its state");
		return 0;
	case FD_KIND__FD_FIFO:
		return image_check_fd_fifo(pid, e);
	case FD_KIND__FD_PTY_MASTER:
	case FD_KIND__FD_PTY_SLAVE:
		return image_check_fd_pty(pid, e);
	default:
		return err_setf(-EBADMSG, "files-%d.img: fd %u has an unknown kind %d", (int)pid,
				e->fd, (int)e->kind);
	}
}

static int image_check_files(pid_t pid, FdEntry **fds, size_t n)
{
	uint32_t *nums;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		r = image_check_fd(pid, fds[i]);
		if (r < 0)
			return r;
	}
	if (n < 2)
		return 0;
	nums = malloc(n * sizeof(*nums));
	if (!nums)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		nums[i] = fds[i]->fd;
	qsort(nums, n, sizeof(*nums), image_cmp_u32);
	for (size_t i = 1; i < n && r == 0; i++)
		if (nums[i] == nums[i - 1])
			r = err_setf(-EBADMSG, "files-%d.img: fd %u appears twice", (int)pid,
				     nums[i]);
	free(nums);
	return r;
}

static int image_load_files(struct image_dir *d, struct image_task *t)
{
	pid_t pid = (pid_t)t->pstree->pid;
	struct image_records rs;
	int r;

	r = image_records_read(d, IMAGE_FILES, pid, &rs);
	if (r < 0)
		return r;
	t->fds = (FdEntry **)rs.msgs;
	t->fd_count = rs.count;
	return image_check_files(pid, t->fds, t->fd_count);
}

bool image_vma_holds_pages(const VmaEntry *v)
{
	switch (v->kind) {
	case VMA_KIND__VMA_ANON_PRIVATE:
	case VMA_KIND__VMA_ANON_SHARED:
	case VMA_KIND__VMA_HEAP:
	case VMA_KIND__VMA_STACK:
	case VMA_KIND__VMA_FILE_PRIVATE:
		return true;
	default:
		return false;
	}
}

static const char *image_vma_kind_name(VmaKind kind)
{
	const ProtobufCEnumValue *ev =
		protobuf_c_enum_descriptor_get_value(&vma_kind__descriptor, (int)kind);

	return ev ? ev->name : "unknown";
}

/* Checks run i against the VMAs; *vma is where the search resumes (both are sorted). */
static int image_check_run(pid_t pid, const MmEntry *mm, const PagemapEntry *pe, size_t i,
			   uint64_t prev_end, size_t *vma)
{
	uint64_t end = pe->vaddr + (uint64_t)pe->nr_pages * IMAGE_PAGE_SIZE;
	const VmaEntry *v;

	if (pe->nr_pages == 0 || pe->vaddr % IMAGE_PAGE_SIZE || end < pe->vaddr)
		return err_setf(-EBADMSG, IMAGE_RUN_AT " (%u pages) is empty, unaligned or wraps",
				(int)pid, i, pe->vaddr, end, pe->nr_pages);
	if (pe->vaddr < prev_end)
		return err_setf(-EBADMSG, IMAGE_RUN_AT " overlaps or precedes the run before",
				(int)pid, i, pe->vaddr, end);
	while (*vma < mm->n_vmas && mm->vmas[*vma]->end <= pe->vaddr)
		(*vma)++;
	v = *vma < mm->n_vmas ? mm->vmas[*vma] : NULL;
	if (!v || v->start > pe->vaddr || end > v->end)
		return err_setf(-EBADMSG, IMAGE_RUN_AT " is not inside one vma of mm-%d.img",
				(int)pid, i, pe->vaddr, end, (int)pid);
	if (!image_vma_holds_pages(v))
		return err_setf(-EBADMSG,
				IMAGE_RUN_AT " lies in a %s vma, which never carries pages",
				(int)pid, i, pe->vaddr, end, image_vma_kind_name(v->kind));
	return 0;
}

static int image_load_pagemap(struct image_dir *d, struct image_task *t, uint64_t *ret_pages)
{
	pid_t pid = (pid_t)t->pstree->pid;
	struct image_records rs;
	uint64_t prev_end = 0, total = 0;
	size_t vma = 0;
	int r;

	r = image_records_read(d, IMAGE_PAGEMAP, pid, &rs);
	if (r < 0)
		return r;
	t->page_runs = calloc(rs.count ? rs.count : 1, sizeof(*t->page_runs));
	if (!t->page_runs) {
		image_records_free(&rs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rs.count; i++) {
		const PagemapEntry *pe = (const PagemapEntry *)rs.msgs[i];

		r = image_check_run(pid, t->mm, pe, i, prev_end, &vma);
		if (r < 0)
			break;
		t->page_runs[i].vaddr = pe->vaddr;
		t->page_runs[i].nr_pages = pe->nr_pages;
		t->page_runs[i].file_offset = total * IMAGE_PAGE_SIZE;
		t->page_run_count = i + 1;
		prev_end = pe->vaddr + (uint64_t)pe->nr_pages * IMAGE_PAGE_SIZE;
		total += pe->nr_pages;
	}
	image_records_free(&rs);
	*ret_pages = total;
	return r;
}

static int image_open_pages(struct image_dir *d, struct image_task *t, uint64_t pages)
{
	pid_t pid = (pid_t)t->pstree->pid;
	struct stat st;
	char name[64];
	int r;

	r = image_file_name(IMAGE_PAGES, pid, name, sizeof(name));
	if (r < 0)
		return r;
	t->pages_fd = openat(d->dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* FIFO: no hang */
	if (t->pages_fd < 0)
		return errno == ENOENT ? err_setf(-ENOENT, "%s: missing from %s", name, d->path)
				       : err_setf(-errno, "cannot open %s/%s: %s", d->path, name,
						  strerror(errno));
	if (fstat(t->pages_fd, &st) < 0 || !S_ISREG(st.st_mode))
		return err_setf(-EBADMSG, "%s: not a regular file", name);
	if ((uint64_t)st.st_size != pages * IMAGE_PAGE_SIZE)
		return err_setf(-EBADMSG,
				"%s: %" PRIu64 " bytes, pagemap-%d.img lists %" PRIu64
				" pages (%" PRIu64 " bytes)",
				name, (uint64_t)st.st_size, (int)pid, pages,
				pages * IMAGE_PAGE_SIZE);
	return 0;
}

static int image_load_task(struct image_dir *d, struct image_task *t)
{
	pid_t pid = (pid_t)t->pstree->pid;
	uint64_t pages = 0;
	int r;

	if (t->pstree->has_zombie && t->pstree->zombie) {
		if (t->pstree->n_threads != 1)
			return err_setf(-EBADMSG, "pstree.img: zombie pid %u lists %zu threads",
					t->pstree->pid, t->pstree->n_threads);
		return 0; /* a zombie has nothing but its pstree entry */
	}
	r = image_read_one(d, IMAGE_CORE, pid, (void **)&t->core);
	if (r == 0)
		r = image_check_core(t);
	if (r == 0)
		r = image_read_one(d, IMAGE_MM, pid, (void **)&t->mm);
	if (r == 0)
		r = image_check_mm(pid, t->mm);
	if (r == 0)
		r = image_load_files(d, t);
	if (r == 0)
		r = image_load_pagemap(d, t, &pages);
	if (r == 0)
		r = image_open_pages(d, t, pages);
	return r;
}

int image_inventory_check(const InventoryEntry *inv)
{
	return image_check_inventory(inv);
}

/* The checks of image_load_task and image_check_pstree on records held in memory. */
int image_task_check(const InventoryEntry *inv, const struct image_task *t)
{
	pid_t pid;
	uint64_t prev_end = 0;
	size_t vma = 0;
	int r;

	if (!inv || !t->pstree || !t->core || !t->mm)
		return err_setf(-EBADMSG, "%s record missing",
				!inv ? "inventory" : !t->pstree ? "pstree" : !t->core ? "core" : "mm");
	pid = (pid_t)t->pstree->pid;
	r = image_check_inventory(inv);
	if (r == 0)
		r = image_check_pstree_entry((PstreeEntry **)&t->pstree, 0);
	if (r == 0 && t->pstree->pid != inv->root_pid)
		r = err_setf(-EBADMSG, "pstree.img: root is pid %u, inventory.img says %u",
			     t->pstree->pid, inv->root_pid);
	if (r == 0)
		r = image_check_core(t);
	if (r == 0)
		r = image_check_mm(pid, t->mm);
	if (r == 0)
		r = image_check_files(pid, t->fds, t->fd_count);
	for (size_t i = 0; r == 0 && i < t->page_run_count; i++) {
		PagemapEntry pe = PAGEMAP_ENTRY__INIT;

		pe.vaddr = t->page_runs[i].vaddr;
		pe.nr_pages = (uint32_t)t->page_runs[i].nr_pages;
		if (pe.nr_pages != t->page_runs[i].nr_pages)
			return err_setf(-EBADMSG, "pagemap-%d.img: run %zu at 0x%" PRIx64
					" is too long", (int)pid, i, pe.vaddr);
		r = image_check_run(pid, t->mm, &pe, i, prev_end, &vma);
		prev_end = pe.vaddr + (uint64_t)pe.nr_pages * IMAGE_PAGE_SIZE;
	}
	return r;
}

/* A tree's pstree held in memory, as image_check_pstree checks pstree.img. */
int image_pstree_check(const InventoryEntry *inv, PstreeEntry **ps, size_t n)
{
	int r = n ? 0 : err_setf(-EBADMSG, "pstree: holds no process");

	for (size_t i = 0; r == 0 && i < n; i++)
		r = image_check_pstree_entry(ps, i);
	if (r == 0 && ps[0]->pid != inv->root_pid)
		r = err_setf(-EBADMSG, "pstree.img: root is pid %u, inventory.img says %u",
			     ps[0]->pid, inv->root_pid);
	if (r == 0 && ps[0]->has_zombie && ps[0]->zombie)
		r = err_setf(-EBADMSG, "pstree.img: the root pid %u is a zombie", ps[0]->pid);
	return r;
}

/* The checks of image_task_check on a live process of a tree other than its root. */
int image_member_check(const struct image_task *t)
{
	int r;

	if (!t->pstree || !t->core || !t->mm)
		return err_setf(-EBADMSG, "%s record missing",
				!t->pstree ? "pstree" : !t->core ? "core" : "mm");
	r = image_check_core(t);
	if (r == 0)
		r = image_check_mm((pid_t)t->pstree->pid, t->mm);
	if (r == 0)
		r = image_check_files((pid_t)t->pstree->pid, t->fds, t->fd_count);
	return r;
}

/* Appends the hint to the detail of a refusal (not to a lack of memory). */
static int image_set_refuse(int r)
{
	char detail[768];

	if (r == -ENOMEM)
		return r;
	snprintf(detail, sizeof(detail), "%s", err_detail());
	return err_setf(r, "%s: %s", detail, IMAGE_HINT);
}

int image_set_load(const char *dir, struct image_set **ret)
{
	struct image_dir d = { .dirfd = -1 };
	struct image_set *set;
	int r;

	set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	set->dir = strdup(dir);
	r = set->dir ? image_dir_open(&d, dir, false) : -ENOMEM;
	if (r < 0) {
		/* A wrong path is not a damaged image: no "dump again" hint. */
		image_set_free(set);
		return r;
	}
	r = image_read_one(&d, IMAGE_INVENTORY, 0, (void **)&set->inventory);
	if (r == 0)
		r = image_check_inventory(set->inventory);
	if (r == 0)
		r = image_load_pstree(&d, set);
	if (r == 0)
		r = image_check_pstree(set);
	for (size_t i = 0; r == 0 && i < set->task_count; i++)
		r = image_load_task(&d, &set->tasks[i]);
	if (r == 0 && set->inventory->has_ipc_ns && set->inventory->ipc_ns)
		r = image_ipc_load(&d, &set->ipc, &set->ipc_count);
	image_dir_close(&d);
	if (r < 0) {
		image_set_free(set);
		return image_set_refuse(r);
	}
	*ret = set;
	return 0;
}

static void image_task_fini(struct image_task *t)
{
	if (t->pstree)
		protobuf_c_message_free_unpacked(&t->pstree->base, NULL);
	if (t->core)
		protobuf_c_message_free_unpacked(&t->core->base, NULL);
	if (t->mm)
		protobuf_c_message_free_unpacked(&t->mm->base, NULL);
	for (size_t i = 0; i < t->fd_count; i++)
		protobuf_c_message_free_unpacked(&t->fds[i]->base, NULL);
	free(t->fds);
	free(t->page_runs);
	if (t->pages_fd >= 0)
		close(t->pages_fd);
}

void image_set_free(struct image_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->task_count; i++)
		image_task_fini(&set->tasks[i]);
	free(set->tasks);
	image_ipc_free(set->ipc, set->ipc_count);
	if (set->inventory)
		protobuf_c_message_free_unpacked(&set->inventory->base, NULL);
	free(set->dir);
	free(set);
}
