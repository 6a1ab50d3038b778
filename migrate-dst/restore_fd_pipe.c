/*
 * restore_fd_pipe: pipes whose both ends the process holds, or, in a tree, the tree does.
 *
 * The first fd of a pipe (in image order) makes the pipe here, in the restorer: capacity,
 * then the unread data written into it, then every fd of that pipe in the image is put at
 * its number in the puppet (puppet_install_fd) with its own end and flags. Later fds of the
 * same pipe find themselves done. Nothing needs the source host, so pipes also travel by
 * live migration.
 *
 * In a tree (p->tree), the first process that holds an end of a pipe makes it, with the
 * capacity and unread data found on any of its fds in the tree (once: every read end carries
 * the same bytes), and the tree keeps our ends; each later process installs its own ends from
 * them. Every holder thus gets the same two descriptions, as after a fork.
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

bool restore_fd_pipe_is(const FdEntry *e)
{
	return e->kind == FD_KIND__FD_PIPE;
}

/* The pipe of e already made for an earlier fd of the image. */
static bool fd_pipe_done(const struct image_task *t, const FdEntry *e)
{
	for (size_t i = 0; i < t->fd_count && t->fds[i] != e; i++)
		if (t->fds[i]->kind == FD_KIND__FD_PIPE && t->fds[i]->ino == e->ino)
			return true;
	return false;
}

/* The largest capacity and the first unread data of pipe ino among the fds of t. */
static void fd_pipe_scan(const struct image_task *t, uint64_t ino, uint32_t *size,
			 const ProtobufCBinaryData **data)
{
	for (size_t i = 0; i < t->fd_count; i++) {
		const FdEntry *f = t->fds[i];

		if (f->kind != FD_KIND__FD_PIPE || f->ino != ino)
			continue;
		*size = f->pipe_size > *size ? f->pipe_size : *size;
		if (f->has_pipe_data && !*data)
			*data = &f->pipe_data; /* dup'd read ends carry the same bytes: once */
	}
}

/* Capacity and unread data of pipe ino (from its read end in the image, or in the tree)
 * into ends[]. */
static int fd_pipe_fill(const struct restore_proc *p, uint64_t ino, const int ends[2])
{
	const ProtobufCBinaryData *data = NULL;
	uint32_t size = 0;
	size_t done = 0;

	if (!p->tree)
		fd_pipe_scan(p->img, ino, &size, &data);
	for (size_t i = 0; p->tree && i < p->tree->set->task_count; i++)
		if (!restore_tree_is_zombie(&p->tree->set->tasks[i]))
			fd_pipe_scan(&p->tree->set->tasks[i], ino, &size, &data);
	if (fcntl(ends[1], F_SETPIPE_SZ, (int)size) < 0)
		return -errno;
	while (data && done < data->len) {
		ssize_t n = write(ends[1], data->data + done, data->len - done);

		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* Every fd of pipe ino at its number, each with its end and its O_NONBLOCK. */
static int fd_pipe_install(struct restore_proc *p, struct puppet *pp, uint64_t ino,
			   const int ends[2])
{
	const struct image_task *t = p->img;
	int r;

	for (size_t i = 0; i < t->fd_count; i++) {
		const FdEntry *f = t->fds[i];
		int end = (f->flags & O_ACCMODE) == O_RDONLY ? ends[0] : ends[1];

		if (f->kind != FD_KIND__FD_PIPE || f->ino != ino)
			continue;
		if (fcntl(end, F_SETFL, f->flags & O_NONBLOCK) < 0)
			return log_error_errno(-errno,
					       "pid %d: fd %u (a pipe): cannot set its flags: %m",
					       p->pid, f->fd);
		r = puppet_install_fd(pp, end, (int)f->fd, f->cloexec);
		if (r < 0)
			return log_error_errno(r, "pid %d: cannot put the pipe at fd %u: %s",
					       p->pid, f->fd, err_detail());
	}
	return 0;
}

int restore_fd_pipe_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	const struct restore_tree_pipe *made = restore_tree_pipe_find(p->tree, e->ino);
	int ends[2], r;

	if (fd_pipe_done(p->img, e))
		return 0;
	if (made) /* made for an earlier process of the tree: its data is in already */
		return fd_pipe_install(p, pp, e->ino, made->ends);
	if (pipe2(ends, O_CLOEXEC) < 0)
		return log_error_errno(-errno, "pid %d: fd %u: cannot make a pipe: %m", p->pid,
				       e->fd);
	r = fd_pipe_fill(p, e->ino, ends);
	if (r < 0)
		log_error_errno(r,
				"pid %d: fd %u: cannot refill the pipe (%u bytes of capacity): %s",
				p->pid, e->fd, e->pipe_size, strerror(-r));
	else
		r = fd_pipe_install(p, pp, e->ino, ends);
	if (r == 0 && p->tree)
		r = restore_tree_pipe_keep(p->tree, e->ino, ends);
	/* The puppet holds its own copies: ours go, whatever happened. */
	close(ends[0]);
	close(ends[1]);
	if (r == 0)
		log_debug("pid %d: pipe %s restored", p->pid, e->path);
	return r;
}
