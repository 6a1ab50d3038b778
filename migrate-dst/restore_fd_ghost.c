/*
 * restore_fd_ghost: files carried whole in the image: memfds, deleted files.
 *
 * The first fd of a memfd (in image order) makes it here, in the restorer, with its name,
 * contents, size, offset and seals (sealing last: a write seal would refuse the contents);
 * every fd of the same memfd in the image then gets a copy at its number
 * (puppet_install_fd), so dup'd fds share one file and one offset as before.
 *
 * A deleted file is made again at its old path (so /proc shows the same name), filled,
 * opened once per fd of it with that fd's flags and offset, and unlinked before anyone else
 * can use it. Each fd gets its own open file description (the image cannot tell dup'd fds
 * from separate opens yet).
 *
 * One the process also maps (ghost_mapped) is the object its VMAs map, made by the layout:
 * the fds open that one, so writes through either show through the other.
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

bool restore_fd_ghost_is(const FdEntry *e)
{
	return e->kind == FD_KIND__FD_MEMFD || e->kind == FD_KIND__FD_GHOST;
}

static bool fd_ghost_same(const FdEntry *a, const FdEntry *b)
{
	return a->kind == b->kind && a->ino == b->ino && a->has_ino && b->has_ino;
}

static bool fd_ghost_done(const struct image_task *t, const FdEntry *e)
{
	for (size_t i = 0; i < t->fd_count && t->fds[i] != e; i++)
		if (fd_ghost_same(t->fds[i], e))
			return true;
	return false;
}

static int fd_ghost_write(int fd, const ProtobufCBinaryData *data)
{
	for (size_t done = 0; done < data->len;) {
		ssize_t n = write(fd, data->data + done, data->len - done);

		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* fd of the deleted file f, reopened with f's flags and offset, into the puppet. */
static int fd_ghost_reopen(struct restore_proc *p, struct puppet *pp, int fd, const FdEntry *f)
{
	char self[64];
	int copy, r;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	copy = open(self, (int)(f->flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (copy < 0)
		return log_error_errno(-errno,
				       "pid %d: fd %u: cannot reopen the deleted file %s: %m",
				       p->pid, f->fd, f->path);
	if (lseek(copy, (off_t)f->pos, SEEK_SET) < 0)
		r = log_error_errno(-errno, "pid %d: fd %u: cannot seek %s to %llu: %m", p->pid,
				    f->fd, f->path, (unsigned long long)f->pos);
	else if ((r = puppet_install_fd(pp, copy, (int)f->fd, f->cloexec)) < 0)
		log_error_errno(r, "pid %d: cannot put the deleted file %s at fd %u: %s", p->pid,
				f->path, f->fd, err_detail());
	close(copy);
	return r;
}

static int fd_ghost_deleted(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	const struct image_task *t = p->img;
	const char *end = strstr(e->path, " (deleted)");
	char *path = strndup(e->path, end ? (size_t)(end - e->path) : strlen(e->path));
	int fd, r;

	if (!path)
		return log_error_errno(-ENOMEM, "out of memory");
	fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, (mode_t)(e->mode & 07777));
	if (fd < 0) {
		r = log_error_errno(-errno,
				    "pid %d: fd %u: cannot re-create the deleted file at %s "
				    "(a file there now, or its directory gone?): %m",
				    p->pid, e->fd, path);
		free(path);
		return r;
	}
	r = fd_ghost_write(fd, &e->file_data);
	if (r < 0)
		log_error_errno(r, "pid %d: fd %u: cannot refill the deleted file %s: %m", p->pid,
				e->fd, path);
	for (size_t i = 0; r == 0 && i < t->fd_count; i++)
		if (fd_ghost_same(t->fds[i], e))
			r = fd_ghost_reopen(p, pp, fd, t->fds[i]);
	/* Deleted again whatever happened: it must not outlive the restore under its name. */
	(void)unlink(path);
	close(fd);
	free(path);
	return r;
}

/* Seals of exactly F_SEAL_SEAL: made without MFD_ALLOW_SEALING (or sealed shut, the same). */
static int fd_ghost_memfd(const FdEntry *e, int *ret_fd)
{
	bool sealable = e->memfd_seals != F_SEAL_SEAL;
	int fd = memfd_create(e->memfd_name ? e->memfd_name : "",
			      MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0));
	int r;

	if (fd < 0)
		return -errno;
	r = fd_ghost_write(fd, &e->file_data);
	if (r == 0 && (ftruncate(fd, (off_t)e->size) < 0 ||
		       lseek(fd, (off_t)e->pos, SEEK_SET) < 0 ||
		       (sealable && e->memfd_seals &&
			fcntl(fd, F_ADD_SEALS, (int)e->memfd_seals) < 0)))
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/*
 * A memfd or deleted file the process also maps: the layout made it (restore_mm_ghost.c); one
 * open file description of that very object, with e's flags and offset, at every fd of it.
 */
static int fd_ghost_mapped(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	const struct image_task *t = p->img;
	int obj = restore_mm_ghost_fd(p, e->dev, e->ino), fd, r = 0;
	char self[64];

	if (obj < 0)
		return log_error_errno(-EINVAL, "pid %d: fd %u: %s is mapped, says the image, but no "
				       "mapping of it is in the layout", p->pid, e->fd, e->path);
	snprintf(self, sizeof(self), "/proc/self/fd/%d", obj);
	fd = open(self, (int)(e->flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "pid %d: fd %u: cannot reopen %s: %m", p->pid, e->fd,
				       e->path);
	if (lseek(fd, (off_t)e->pos, SEEK_SET) < 0)
		r = log_error_errno(-errno, "pid %d: fd %u: cannot seek %s to %llu: %m", p->pid,
				    e->fd, e->path, (unsigned long long)e->pos);
	for (size_t i = 0; r == 0 && i < t->fd_count; i++) {
		const FdEntry *f = t->fds[i];

		if (!fd_ghost_same(f, e))
			continue;
		r = puppet_install_fd(pp, fd, (int)f->fd, f->cloexec);
		if (r < 0)
			log_error_errno(r, "pid %d: cannot put %s at fd %u: %s", p->pid, e->path,
					f->fd, err_detail());
	}
	close(fd);
	return r;
}

int restore_fd_ghost_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	const struct image_task *t = p->img;
	int fd = -1, r;

	if (fd_ghost_done(t, e))
		return 0;
	if (e->ghost_mapped)
		return fd_ghost_mapped(p, pp, e);
	if (e->kind == FD_KIND__FD_GHOST)
		return fd_ghost_deleted(p, pp, e);
	r = fd_ghost_memfd(e, &fd);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot re-create fd %u (the memfd %s): %s",
				       p->pid, e->fd, e->path, strerror(-r));
	for (size_t i = 0; r == 0 && i < t->fd_count; i++) {
		const FdEntry *f = t->fds[i];

		if (!fd_ghost_same(f, e))
			continue;
		r = puppet_install_fd(pp, fd, (int)f->fd, f->cloexec);
		if (r < 0)
			log_error_errno(r, "pid %d: cannot put the memfd %s at fd %u: %s", p->pid,
					e->path, f->fd, err_detail());
	}
	close(fd);
	return r;
}
