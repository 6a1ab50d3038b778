/*
 * dump_fd_fifo: named pipes (FIFOs) that only the dumped process holds, with their unread data.
 *
 * A FIFO is a pipe reached by a path: every open of the path shares one pipe buffer (per
 * inode), so the process's fds of one FIFO make one record of data, carried on the first of
 * them in the image (dump_fd_fifo_check). An fd that is a dup of an earlier one (one open file
 * description, kcmp) says so, so that the restore dups it rather than opening the path again.
 * The data is copied without being consumed: tee(2) from a copy of a read end (pidfd_getfd)
 * into a pipe of ours, which we then read; the process keeps its bytes whatever happens to the
 * dump.
 *
 * Anyone else holding the FIFO would share that buffer: restoring it would lose the bytes they
 * read meanwhile or duplicate them, so such a FIFO is refused by name, holder included. In a
 * tree dump, holders that are members of the tree are inside (dump_fd_fifo_check_tree): each
 * member opens the FIFO again at restore and the bytes are carried once, on the first
 * holder's record. Other
 * holders are found by scanning /proc/PID/fd of every process we can see (our PID namespace),
 * and only when the process holds a FIFO at all: it costs a stat per fd of the system.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dump_fd_fifo.h"
#include "dump_internal.h"
#include "err.h"

static bool fd_fifo_is_path(const FdEntry *e)
{
	return (e->flags & O_PATH) != 0;
}

int dump_fd_fifo_fill(pid_t pid, FdEntry *e)
{
	int copy, size, r;

	/* An O_PATH fd reaches no pipe buffer: it is opened again by path, nothing more. */
	if (e->kind != FD_KIND__FD_FIFO || fd_fifo_is_path(e))
		return 0;
	r = dump_files_copy_fd(pid, (int)e->fd, &copy);
	if (r < 0)
		return err_setf(r, "fd %u of pid %d (the FIFO %s): cannot copy it: %s", e->fd, pid,
				e->path, strerror(-r));
	size = fcntl(copy, F_GETPIPE_SZ);
	r = size < 0 ? -errno : 0;
	close(copy);
	if (r < 0)
		return err_setf(r, "fd %u of pid %d (the FIFO %s): cannot read its capacity: %s",
				e->fd, pid, e->path, strerror(-r));
	e->has_fifo_size = true;
	e->fifo_size = (uint32_t)size;
	return 0;
}

static bool fd_fifo_same(const FdEntry *a, const FdEntry *b)
{
	return a->kind == FD_KIND__FD_FIFO && b->kind == FD_KIND__FD_FIFO && a->dev == b->dev &&
	       a->ino == b->ino;
}

/* The fd of fds that carries the data of the FIFO of e: its first one that is not O_PATH. */
static const FdEntry *fd_fifo_first(FdEntry **fds, size_t count, const FdEntry *e)
{
	for (size_t i = 0; i < count; i++)
		if (fd_fifo_same(fds[i], e) && fds[i]->has_fifo_size)
			return fds[i];
	return NULL;
}

/*
 * A read end of the FIFO of first: a copy of an fd of pid that reads it. When the process only
 * writes to it (nobody reads: anyone else was refused) and bytes wait in it, the FIFO opened
 * again through /proc as a reader that never blocks; without bytes, the copy of a write end
 * does (FIONREAD answers on any end, and says 0).
 */
static int fd_fifo_reader(pid_t pid, FdEntry **fds, size_t count, const FdEntry *first, int *ret_fd)
{
	char path[64];
	int fd, queued = 0, r;

	for (size_t i = 0; i < count; i++) {
		const FdEntry *f = fds[i];

		if (fd_fifo_same(f, first) && !fd_fifo_is_path(f) &&
		    (f->flags & O_ACCMODE) != O_WRONLY)
			return dump_files_copy_fd(pid, (int)f->fd, ret_fd);
	}
	r = dump_files_copy_fd(pid, (int)first->fd, &fd);
	if (r < 0)
		return r;
	if (ioctl(fd, FIONREAD, &queued) < 0 || queued > 0) {
		close(fd);
		snprintf(path, sizeof(path), "/proc/%d/fd/%u", pid, first->fd);
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	*ret_fd = fd;
	return 0;
}

/* The unread data of the FIFO whose first fd (in fds) is first, carried on first. */
static int fd_fifo_collect(pid_t pid, FdEntry **fds, size_t count, FdEntry *first)
{
	int rd, r;

	r = fd_fifo_reader(pid, fds, count, first, &rd);
	if (r == 0) {
		/* Frozen, and no other holder: the bytes cannot change. Before the freeze the process
		 * may read some meanwhile: a shorter copy then, which nobody uses (the frozen scan
		 * counts). */
		r = dump_fd_pipe_peek(rd, (int)first->fifo_size, true, &first->fifo_data);
		close(rd);
	}
	if (r < 0)
		return err_setf(r, "fd %u of pid %d (the FIFO %s): cannot read its unread data: %s",
				first->fd, pid, first->path, strerror(-r));
	first->has_fifo_data = first->fifo_data.len > 0;
	return 0;
}

/* The FIFO of fds that process other holds through its fd st (NULL if none). */
static const FdEntry *fd_fifo_match(FdEntry **fds, size_t count, const struct stat *st)
{
	if (!S_ISFIFO(st->st_mode))
		return NULL;
	for (size_t i = 0; i < count; i++)
		if (fds[i]->kind == FD_KIND__FD_FIFO && fds[i]->dev == st->st_dev &&
		    fds[i]->ino == st->st_ino)
			return fds[i];
	return NULL;
}

/* A tree dump looks for holders outside the tree once every member is known
 * (dump_fd_fifo_check_tree); the members' own checks leave them alone. */
static bool fd_fifo_tree_mode;

static int fd_fifo_refuse(pid_t pid, const FdEntry *e, pid_t other, const char *other_fd)
{
	char path[64], comm[64] = "?";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", other);
	f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	return err_setf(-ENOTSUP,
			"fd %u of pid %d is the FIFO %s, which pid %d (%s) also has open (its fd "
			"%s): a FIFO shared with a process outside the %s is not supported (its "
			"unread data would be lost or duplicated): close it there, or dump a tree "
			"that holds it, then dump again",
			e->fd, pid, e->path, other, comm, other_fd,
			fd_fifo_tree_mode ? "dumped tree" : "dumped process");
}

/* -ENOTSUP naming the holder when process other holds a FIFO of fds. Processes and fds that
 * vanish meanwhile are no holders. */
static int fd_fifo_scan_one(pid_t pid, FdEntry **fds, size_t count, pid_t other)
{
	char path[64];
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", other);
	dir = opendir(path);
	if (!dir)
		return 0;
	while (r == 0 && (d = readdir(dir))) {
		const FdEntry *e;

		if (d->d_name[0] == '.' || fstatat(dirfd(dir), d->d_name, &st, 0) < 0)
			continue;
		e = fd_fifo_match(fds, count, &st);
		if (e)
			r = fd_fifo_refuse(pid, e, other, d->d_name);
	}
	closedir(dir);
	return r;
}

/* Whether other is pid or, in a tree dump, a member of tree. */
static bool fd_fifo_inside(pid_t pid, const struct dump_tree *tree, pid_t other)
{
	for (size_t i = 0; tree && i < tree->count; i++)
		if (tree->procs[i].pid == other)
			return true;
	return other == pid;
}

static int fd_fifo_scan_others(pid_t pid, FdEntry **fds, size_t count, const struct dump_tree *tree)
{
	struct dirent *d;
	DIR *proc = opendir("/proc");
	int r = 0;

	if (!proc)
		return err_setf(-errno,
				"pid %d: cannot list /proc to find other holders of its FIFOs: %s",
				pid, strerror(errno));
	while (r == 0 && (d = readdir(proc))) {
		char *end;
		long other = strtol(d->d_name, &end, 10);

		if (*end || other <= 0 || other == getpid() ||
		    fd_fifo_inside(pid, tree, (pid_t)other))
			continue;
		r = fd_fifo_scan_one(pid, fds, count, (pid_t)other);
	}
	closedir(proc);
	return r;
}

#define FD_FIFO_KCMP_FILE 0 /* KCMP_FILE of linux/kcmp.h */

/*
 * e's fifo_dup_of: the first earlier fd of fds that is e's open file description (a dup), whose
 * flags e shares. A kernel without kcmp cannot tell: each fd then comes back on its own.
 */
static int fd_fifo_find_dup(pid_t pid, FdEntry **fds, size_t count, FdEntry *e)
{
	for (size_t i = 0; i < count && fds[i] != e; i++) {
		const FdEntry *f = fds[i];
		long r;

		if (!fd_fifo_same(f, e) || f->has_fifo_dup_of)
			continue;
		r = syscall(SYS_kcmp, pid, pid, FD_FIFO_KCMP_FILE, f->fd, e->fd);
		if (r < 0 && errno == ENOSYS)
			return 0;
		if (r < 0)
			return err_setf(-errno, "cannot compare fds %u and %u of pid %d (kcmp): %s",
					f->fd, e->fd, pid, strerror(errno));
		if (r == 0) {
			e->has_fifo_dup_of = true;
			e->fifo_dup_of = f->fd;
			return 0;
		}
	}
	return 0;
}

void dump_fd_fifo_set_tree(bool tree)
{
	fd_fifo_tree_mode = tree;
}

static bool fd_fifo_any(FdEntry **fds, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (fds[i]->kind == FD_KIND__FD_FIFO)
			return true;
	return false;
}

int dump_fd_fifo_check(pid_t pid, FdEntry **fds, size_t count)
{
	int r = 0;

	if (!fd_fifo_any(fds, count))
		return 0;
	if (!fd_fifo_tree_mode)
		r = fd_fifo_scan_others(pid, fds, count, NULL);
	for (size_t i = 0; r == 0 && i < count; i++)
		if (fds[i]->kind == FD_KIND__FD_FIFO && fd_fifo_first(fds, count, fds[i]) == fds[i])
			r = fd_fifo_collect(pid, fds, count, fds[i]);
	for (size_t i = 0; r == 0 && i < count; i++)
		if (fds[i]->kind == FD_KIND__FD_FIFO)
			r = fd_fifo_find_dup(pid, fds, count, fds[i]);
	return r;
}

/* Whether a member of tree before index i holds the FIFO of e through an fd that reaches its
 * buffer (not O_PATH). */
static bool fd_fifo_held_before(const struct dump_tree *tree, size_t i, const FdEntry *e)
{
	for (size_t j = 0; j < i; j++)
		if (fd_fifo_first(tree->procs[j].fds, tree->procs[j].nr_fds, e))
			return true;
	return false;
}

/* Every member that holds a FIFO read its bytes: they stay on the first holder's record
 * only (the restore writes them once, through the first member that opens the FIFO). */
static void fd_fifo_tree_data_once(const struct dump_tree *tree)
{
	for (size_t i = 1; i < tree->count; i++) {
		const struct dump_proc *proc = &tree->procs[i];

		for (size_t k = 0; k < proc->nr_fds; k++) {
			FdEntry *e = proc->fds[k];

			if (!e->has_fifo_data || !fd_fifo_held_before(tree, i, e))
				continue;
			free(e->fifo_data.data);
			e->fifo_data.data = NULL;
			e->fifo_data.len = 0;
			e->has_fifo_data = false;
		}
	}
}

int dump_fd_fifo_check_tree(const struct dump_tree *tree)
{
	for (size_t i = 0; i < tree->count; i++) {
		const struct dump_proc *proc = &tree->procs[i];
		int r;

		if (!fd_fifo_any(proc->fds, proc->nr_fds))
			continue;
		r = fd_fifo_scan_others(proc->pid, proc->fds, proc->nr_fds, tree);
		if (r < 0)
			return r;
	}
	fd_fifo_tree_data_once(tree);
	return 0;
}
