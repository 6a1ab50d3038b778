/*
 * restore_fd_fifo: named pipes (FIFOs), opened again by their path.
 *
 * The first fd of a FIFO (in image order) does the whole FIFO:
 *
 *	keeper: we open the path O_RDWR|O_NONBLOCK   (a reader and a writer: no open blocks)
 *	  → capacity, then the unread data written back through the keeper
 *	  → each fd of that FIFO opened by the puppet with O_NONBLOCK, then its own flags
 *	    (F_SETFL), moved to its number; then the fds that were dups of one of those (one
 *	    open file description: FdEntry.fifo_dup_of) dup'd from it
 *	  → keeper closed last
 *
 * Later fds of the same FIFO find themselves done. The path must exist and be a FIFO
 * (restore_fd_fifo_check, before anything is made); its inode may differ (on another host it
 * always does): a FIFO holds nothing in the file system, its path is all a peer meets.
 *
 * In a tree (p->tree), each process opens the FIFO for its own fds (a description an earlier
 * process holds comes by restore_tree_fd_copy instead); the bytes, carried once on the first
 * holder's record, are written by the first process that opens it, and stay in the FIFO
 * because that process holds it from then on: later processes write nothing.
 *
 * A FIFO already holding bytes when we open it: on one kernel (live migration between
 * namespaces of a machine, /tmp shared) the dumped process, still frozen at the source, holds
 * the very same pipe, whose bytes are the dumped ones: writing them again would duplicate
 * them, so they are left as they are. Any other bytes mean someone else uses the FIFO:
 * refused.
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

bool restore_fd_fifo_is(const FdEntry *e)
{
	return e->kind == FD_KIND__FD_FIFO;
}

int restore_fd_fifo_check(const FdEntry *e)
{
	struct stat st;

	if (stat(e->path, &st) < 0)
		return log_error_errno(-errno,
				       "fd %u is the FIFO %s, which is missing here: create it "
				       "(mkfifo) before restoring",
				       e->fd, e->path);
	if (!S_ISFIFO(st.st_mode))
		return log_error_errno(-EINVAL,
				       "fd %u is the FIFO %s, which is no longer a FIFO here (mode "
				       "%o): restore refused",
				       e->fd, e->path, (unsigned int)st.st_mode);
	if (st.st_dev != e->dev || st.st_ino != e->ino)
		log_debug("fd %u: FIFO %s is another inode than at the dump: same path, accepted",
			  e->fd, e->path);
	return 0;
}

static bool fd_fifo_same(const FdEntry *a, const FdEntry *b)
{
	return a->kind == FD_KIND__FD_FIFO && b->kind == FD_KIND__FD_FIFO && a->dev == b->dev &&
	       a->ino == b->ino;
}

/* An fd of the FIFO of e that p opens itself: not a description an earlier process of the tree
 * holds (restore_tree_fd_copy gives it that one). */
static bool fd_fifo_mine(const struct restore_proc *p, const FdEntry *f, const FdEntry *e)
{
	return fd_fifo_same(f, e) && !restore_tree_fd_is_copy(p, f);
}

/* The FIFO of e already made for an earlier fd of the image. */
static bool fd_fifo_done(const struct restore_proc *p, const FdEntry *e)
{
	const struct image_task *t = p->img;

	for (size_t i = 0; i < t->fd_count && t->fds[i] != e; i++)
		if (fd_fifo_mine(p, t->fds[i], e))
			return true;
	return false;
}

/* Whether t holds the FIFO of e through an fd that reaches its buffer (not O_PATH). */
static bool fd_fifo_task_holds(const struct image_task *t, const FdEntry *e)
{
	for (size_t i = 0; i < t->fd_count; i++)
		if (fd_fifo_same(t->fds[i], e) && !(t->fds[i]->flags & O_PATH))
			return true;
	return false;
}

/* In a tree: an earlier process opened the FIFO of e already and still holds it, so its bytes
 * are in (and kept alive by that process). */
static bool fd_fifo_filled_before(const struct restore_proc *p, const FdEntry *e)
{
	for (size_t i = 0; p->tree && i < p->tree_index; i++) {
		const struct image_task *t = &p->tree->set->tasks[i];

		if (!restore_tree_is_zombie(t) && fd_fifo_task_holds(t, e))
			return true;
	}
	return false;
}

/* Whether the len bytes queued in the FIFO of keeper are data, left where they are. */
static int fd_fifo_holds(int keeper, const ProtobufCBinaryData *data, size_t len, bool *ret)
{
	uint8_t *buf = NULL;
	int tmp[2], r = 0;
	ssize_t n;

	*ret = false;
	if (len != data->len)
		return 0;
	if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	buf = malloc(len);
	if (!buf || fcntl(tmp[1], F_SETPIPE_SZ, (int)len) < 0) {
		r = buf ? -errno : -ENOMEM;
		goto out;
	}
	n = tee(keeper, tmp[1], len, SPLICE_F_NONBLOCK);
	if (n == (ssize_t)len && read(tmp[0], buf, len) == (ssize_t)len)
		*ret = memcmp(buf, data->data, len) == 0;
out:
	free(buf);
	close(tmp[0]);
	close(tmp[1]);
	return r;
}

/* Bytes already in the FIFO: the dumped ones (the same pipe, on this kernel) are left as they
 * are; anything else is someone else's. */
static int fd_fifo_busy(struct restore_proc *p, const FdEntry *e, int keeper,
			const ProtobufCBinaryData *data, int queued)
{
	bool same;
	int r = fd_fifo_holds(keeper, data, (size_t)queued, &same);

	if (r < 0 || !same)
		return log_error_errno(r < 0 ? r : -EBUSY,
				       "pid %d: the FIFO %s (fd %u) already holds %d unread bytes "
				       "that are not the dumped ones: another process uses it; "
				       "restore refused",
				       p->pid, e->path, e->fd, queued);
	log_debug("pid %d: FIFO %s still holds the %d dumped bytes (the dumped process holds it "
		  "on this kernel): not written again",
		  p->pid, e->path, queued);
	return 0;
}

/* Into the empty FIFO of keeper: its capacity, then its bytes. */
static int fd_fifo_refill(struct restore_proc *p, const FdEntry *e, int keeper,
			  const ProtobufCBinaryData *data, uint32_t size)
{
	if (size && fcntl(keeper, F_GETPIPE_SZ) != (int)size &&
	    fcntl(keeper, F_SETPIPE_SZ, (int)size) < 0)
		return log_error_errno(-errno, "pid %d: FIFO %s: cannot set its capacity to %u: %m",
				       p->pid, e->path, size);
	for (size_t done = 0; done < data->len;) {
		ssize_t n = write(keeper, data->data + done, data->len - done);

		if (n <= 0)
			return log_error_errno(n < 0 ? -errno : -EIO,
					       "pid %d: FIFO %s: cannot write back its %zu unread "
					       "bytes: %m",
					       p->pid, e->path, data->len);
		done += (size_t)n;
	}
	return 0;
}

/* Capacity and unread data of the FIFO of e (from its fds in the image, or in the tree) through
 * keeper; nothing when an earlier process of the tree holds it already. */
static int fd_fifo_fill(struct restore_proc *p, const FdEntry *e, int keeper)
{
	static const ProtobufCBinaryData none;
	const ProtobufCBinaryData *data = &none;
	const struct image_set *is = p->tree ? p->tree->set : NULL;
	uint32_t size = 0;
	int queued = 0;

	if (fd_fifo_filled_before(p, e))
		return 0;
	/* A tree carries the bytes once, on the first holder's record: look in every process. */
	for (size_t k = 0; k < (is ? is->task_count : 1); k++) {
		const struct image_task *t = is ? &is->tasks[k] : p->img;

		for (size_t i = 0; !(is && restore_tree_is_zombie(t)) && i < t->fd_count; i++) {
			const FdEntry *f = t->fds[i];

			if (!fd_fifo_same(f, e))
				continue;
			size = f->fifo_size > size ? f->fifo_size : size;
			if (f->has_fifo_data && data == &none)
				data = &f->fifo_data;
		}
	}
	if (ioctl(keeper, FIONREAD, &queued) < 0)
		return log_error_errno(-errno, "pid %d: FIFO %s: cannot tell what it holds: %m",
				       p->pid, e->path);
	if (queued > 0)
		return fd_fifo_busy(p, e, keeper, data, queued);
	return fd_fifo_refill(p, e, keeper, data, size);
}

/* The puppet's fd is the keeper's FIFO: the path cannot have been swapped in between. */
static int fd_fifo_verify(struct restore_proc *p, int fd, const struct stat *keeper)
{
	char link[64];
	struct stat st;

	snprintf(link, sizeof(link), "/proc/%d/fd/%d", p->pid, fd);
	if (stat(link, &st) < 0)
		return -errno;
	return st.st_dev == keeper->st_dev && st.st_ino == keeper->st_ino ? 0 : -ESTALE;
}

/* f opened by the puppet without blocking, its flags set, moved to its number. */
static int fd_fifo_open(struct restore_proc *p, struct puppet *pp, const FdEntry *f,
			const struct stat *keeper)
{
	bool path_only = (f->flags & O_PATH) != 0;
	int flags = (int)f->flags | (path_only ? 0 : O_NONBLOCK), fd, r;

	r = restore_remote_open(pp, f->path, flags, &fd);
	if (r == 0)
		r = fd_fifo_verify(p, fd, keeper);
	if (r == 0 && !path_only && !(f->flags & O_NONBLOCK))
		r = restore_call(pp, "fcntl(F_SETFL)", NULL, SYS_fcntl, (uint64_t)fd, F_SETFL,
				 f->flags, 0, 0, 0);
	if (r == 0)
		r = restore_fd_place(pp, f, fd);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot open the FIFO %s at fd %u: %s", p->pid,
				       f->path, f->fd, strerror(-r));
	return 0;
}

/* Every dup of the FIFO of e names an fd of that FIFO in the image that is no dup itself. */
static int fd_fifo_check_dups(struct restore_proc *p, const FdEntry *e)
{
	const struct image_task *t = p->img;

	for (size_t i = 0; i < t->fd_count; i++) {
		const FdEntry *f = t->fds[i], *of = NULL;

		if (!fd_fifo_mine(p, f, e) || !f->has_fifo_dup_of)
			continue;
		for (size_t j = 0; j < t->fd_count && !of; j++)
			if (t->fds[j]->fd == f->fifo_dup_of)
				of = t->fds[j];
		if (of && fd_fifo_same(of, f) && !of->has_fifo_dup_of)
			continue;
		return log_error_errno(-EBADMSG,
				       "pid %d: files image: fd %u is a dup of fd %u, not "
				       "of an fd of the FIFO %s opened by itself: the image is "
				       "damaged",
				       p->pid, f->fd, f->fifo_dup_of, f->path);
	}
	return 0;
}

/* f as a dup of the fd it shares its open file description with (opened already). */
static int fd_fifo_dup(struct restore_proc *p, struct puppet *pp, const FdEntry *f)
{
	int r = restore_call(pp, "dup2", NULL, SYS_dup2, f->fifo_dup_of, f->fd, 0, 0, 0, 0);

	if (r == 0 && f->cloexec)
		r = restore_call(pp, "fcntl(F_SETFD)", NULL, SYS_fcntl, f->fd, F_SETFD, FD_CLOEXEC,
				 0, 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot dup fd %u of the FIFO %s to fd %u: %s",
				       p->pid, f->fifo_dup_of, f->path, f->fd, strerror(-r));
	return 0;
}

/* Every fd of the FIFO of e: those opened by themselves first, then their dups. */
static int fd_fifo_install(struct restore_proc *p, struct puppet *pp, const FdEntry *e,
			   const struct stat *keeper)
{
	const struct image_task *t = p->img;
	int r = 0;

	for (size_t i = 0; r == 0 && i < t->fd_count; i++)
		if (fd_fifo_mine(p, t->fds[i], e) && !t->fds[i]->has_fifo_dup_of)
			r = fd_fifo_open(p, pp, t->fds[i], keeper);
	for (size_t i = 0; r == 0 && i < t->fd_count; i++)
		if (fd_fifo_mine(p, t->fds[i], e) && t->fds[i]->has_fifo_dup_of)
			r = fd_fifo_dup(p, pp, t->fds[i]);
	return r;
}

int restore_fd_fifo_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	struct stat st;
	int keeper, r;

	if (fd_fifo_done(p, e))
		return 0;
	r = fd_fifo_check_dups(p, e);
	if (r < 0)
		return r;
	keeper = open(e->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (keeper < 0)
		return log_error_errno(-errno, "pid %d: fd %u: cannot open the FIFO %s: %m", p->pid,
				       e->fd, e->path);
	if (fstat(keeper, &st) < 0)
		r = log_error_errno(-errno, "pid %d: fd %u: cannot stat the FIFO %s: %m", p->pid,
				    e->fd, e->path);
	else if (!S_ISFIFO(st.st_mode))
		r = log_error_errno(-EINVAL, "pid %d: fd %u: %s is no longer a FIFO", p->pid, e->fd,
				    e->path);
	else
		r = 0;
	if (r == 0)
		r = fd_fifo_fill(p, e, keeper);
	if (r == 0)
		r = fd_fifo_install(p, pp, e, &st);
	/* Last: until every end exists, the keeper is what keeps the FIFO's bytes alive. */
	close(keeper);
	if (r == 0)
		log_debug("pid %d: FIFO %s restored", p->pid, e->path);
	return r;
}
