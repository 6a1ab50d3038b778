/*
 * dump_fd_pipe: pipes whose both ends the dumped process holds, with their unread data.
 *
 * The data is copied without being consumed: tee(2) duplicates the pipe's buffers into a
 * pipe of our own, which we then read. The process therefore keeps its data whether the dump
 * succeeds, fails or leaves it running, and no byte can be lost or read twice.
 * A pipe with one end elsewhere (another process) is refused by name: that is the process
 * trees' business.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dump_internal.h"
#include "err.h"

/* A copy of fd of pid (the same open file description). */
static int fd_pipe_getfd(pid_t pid, int fd, int *ret_fd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), copy;

	if (pidfd < 0)
		return -errno;
	copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	if (copy < 0)
		return -errno;
	*ret_fd = copy;
	return 0;
}

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

/* The unread bytes of read end src, left where they are. */
static int fd_pipe_peek(int src, int capacity, ProtobufCBinaryData *ret)
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
	if (n != queued) {
		r = n < 0 ? -errno : -EIO;
		goto out;
	}
	r = fd_pipe_read_all(tmp[0], (size_t)n, &ret->data);
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
	r = fd_pipe_getfd(pid, (int)e->fd, &copy);
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
		r = fd_pipe_peek(copy, size, &e->pipe_data);
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

int dump_fd_pipe_check(pid_t pid, FdEntry **fds, size_t count)
{
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
