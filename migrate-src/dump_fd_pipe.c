/*
 * dump_fd_pipe: pipes whose both ends the dumped process holds, with their unread data.
 *
 * The data is copied without being consumed: tee(2) duplicates the pipe's buffers into a
 * pipe of our own, which we then read. The process therefore keeps its data whether the dump
 * succeeds, fails or leaves it running, and no byte can be lost or read twice.
 * A pipe with one end in another process is refused by name, unless a tree is dumped and
 * that process is in it (dump_fd_pipe_check_tree): each end is then restored where it was.
 * The same two tree calls also switch and check FIFOs (dump_fd_fifo.h) and unix sockets
 * (dump_fd_unix.h), which members of a tree share the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dump_fd_fifo.h"
#include "dump_fd_unix.h"
#include "dump_internal.h"
#include "err.h"

/* Reads len bytes out of our pipe rd into a new buffer. */
static int fd_pipe_read_all(int rd, size_t len, uint8_t **ret)
{
	uint8_t *buf = malloc(len ? len : 1);
	size_t done = 0;

	if (!buf)
		return -ENOMEM;
	while (done < len) {
		ssize_t n = read(rd, buf + done, len - done);

		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EIO;
		}
		done += (size_t)n;
	}
	*ret = buf;
	return 0;
}

int dump_fd_pipe_peek(int src, int capacity, bool may_shrink, ProtobufCBinaryData *ret)
{
	int queued = 0, tmp[2], r;
	ssize_t n;

	if (ioctl(src, FIONREAD, &queued) < 0)
		return -errno;
	if (queued <= 0)
		return 0;
	if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* Our pipe must hold all of it, else tee stops short. */
	if (fcntl(tmp[1], F_SETPIPE_SZ, capacity) < 0) {
		r = -errno;
		goto out;
	}
	n = tee(src, tmp[1], (size_t)queued, SPLICE_F_NONBLOCK);
	if (n < 0 && errno == EAGAIN && may_shrink)
		n = 0;
	if (n < 0 || (n != queued && !may_shrink)) {
		r = n < 0 ? -errno : -EIO;
		goto out;
	}
	r = n ? fd_pipe_read_all(tmp[0], (size_t)n, &ret->data) : 0;
	if (r == 0)
		ret->len = (size_t)n;
out:
	close(tmp[0]);
	close(tmp[1]);
	return r;
}

int dump_fd_pipe_fill(pid_t pid, FdEntry *e)
{
	int copy = -1, size, r;

	if (e->kind != FD_KIND__FD_PIPE)
		return 0;
	r = dump_files_copy_fd(pid, (int)e->fd, &copy);
	if (r < 0)
		return err_setf(r, "fd %u of pid %d (a pipe): cannot copy it: %s", e->fd, pid,
				strerror(-r));
	size = fcntl(copy, F_GETPIPE_SZ);
	if (size < 0) {
		r = -errno;
		goto out;
	}
	e->has_pipe_size = true;
	e->pipe_size = (uint32_t)size;
	if ((e->flags & O_ACCMODE) == O_RDONLY) {
		r = dump_fd_pipe_peek(copy, size, false, &e->pipe_data);
		e->has_pipe_data = r == 0 && e->pipe_data.len > 0;
	}
out:
	close(copy);
	if (r < 0)
		return err_setf(r, "fd %u of pid %d (a pipe): cannot read its unread data: %s",
				e->fd, pid, strerror(-r));
	return 0;
}

/* Whether some fd of fds is the end of pipe ino opened for accmode. */
static bool fd_pipe_has_end(FdEntry **fds, size_t count, uint64_t ino, uint32_t accmode)
{
	for (size_t i = 0; i < count; i++)
		if (fds[i]->kind == FD_KIND__FD_PIPE && fds[i]->ino == ino &&
		    (fds[i]->flags & O_ACCMODE) == accmode)
			return true;
	return false;
}

/* A tree dump checks the pipes of all its members together (dump_fd_pipe_check_tree). */
static bool fd_pipe_tree_mode;

/* FIFOs and unix sockets, which members of a tree reach as they reach pipes, follow the same
 * mode and are checked in the same pass: whoever dumps a tree (dump_tree_precheck, the
 * agent) gets all three from these two calls. */
void dump_fd_pipe_set_tree(bool tree)
{
	fd_pipe_tree_mode = tree;
	dump_fd_fifo_set_tree(tree);
	dump_fd_unix_set_tree(tree);
}

int dump_fd_pipe_check(pid_t pid, FdEntry **fds, size_t count)
{
	if (fd_pipe_tree_mode)
		return 0;
	for (size_t i = 0; i < count; i++) {
		const FdEntry *e = fds[i];

		if (e->kind != FD_KIND__FD_PIPE)
			continue;
		if (!fd_pipe_has_end(fds, count, e->ino, O_RDONLY) ||
		    !fd_pipe_has_end(fds, count, e->ino, O_WRONLY))
			return err_setf(-ENOTSUP,
					"fd %u of pid %d is a pipe (%s) whose other end "
					"this process does not hold: pipes shared with other "
					"processes are not supported yet",
					e->fd, pid, e->path);
	}
	return 0;
}

/* The process of tree holding an end of pipe ino opened for accmode, or 0. */
static pid_t fd_pipe_tree_holder(const struct dump_tree *tree, uint64_t ino, uint32_t accmode)
{
	for (size_t i = 0; i < tree->count; i++)
		if (fd_pipe_has_end(tree->procs[i].fds, tree->procs[i].nr_fds, ino, accmode))
			return tree->procs[i].pid;
	return 0;
}

/* 1 when the other end of pipe fd e of pid is closed everywhere (a read end whose writers
 * are all gone: POLLHUP; a write end without readers: POLLERR), 0 when someone holds it. */
static int fd_pipe_other_closed(pid_t pid, const FdEntry *e)
{
	bool rd = (e->flags & O_ACCMODE) == O_RDONLY;
	struct pollfd pfd = { .events = rd ? POLLIN : POLLOUT };
	int r = dump_files_copy_fd(pid, (int)e->fd, &pfd.fd);

	if (r < 0)
		return err_setf(r, "fd %u of pid %d (a pipe): cannot copy it: %s", e->fd, pid,
				strerror(-r));
	r = poll(&pfd, 1, 0);
	close(pfd.fd);
	if (r < 0)
		return err_setf(-errno, "fd %u of pid %d (a pipe): poll: %m", e->fd, pid);
	return (pfd.revents & (rd ? POLLHUP : POLLERR)) != 0;
}

static int fd_pipe_check_tree_pipes(const struct dump_tree *tree)
{
	for (size_t i = 0; i < tree->count; i++) {
		const struct dump_proc *proc = &tree->procs[i];

		for (size_t j = 0; j < proc->nr_fds; j++) {
			const FdEntry *e = proc->fds[j];
			bool rd = (e->flags & O_ACCMODE) == O_RDONLY;

			int closed;

			if (e->kind != FD_KIND__FD_PIPE ||
			    fd_pipe_tree_holder(tree, e->ino, rd ? O_WRONLY : O_RDONLY))
				continue;
			/* Closed everywhere: the restore closes it too once the pipe is made. */
			closed = fd_pipe_other_closed(proc->pid, e);
			if (closed < 0)
				return closed;
			if (closed)
				continue;
			return err_setf(-ENOTSUP,
					"fd %u of pid %d is the %s end of a pipe (%s) whose %s end is "
					"held by no process of the tree of pid %d: a pipe to a process "
					"outside the tree is not supported: dump the tree that holds both",
					e->fd, proc->pid, rd ? "read" : "write", e->path,
					rd ? "write" : "read", tree->procs[0].pid);
		}
	}
	return 0;
}

int dump_fd_pipe_check_tree(const struct dump_tree *tree)
{
	int r = fd_pipe_check_tree_pipes(tree);

	if (r == 0)
		r = dump_fd_unix_check_tree(tree);
	if (r == 0)
		r = dump_fd_fifo_check_tree(tree);
	return r;
}
