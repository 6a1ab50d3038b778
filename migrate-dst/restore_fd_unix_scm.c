/*
 * restore_fd_unix_scm: files in flight in unix messages (see restore_fd_unix_scm.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "restore_fd_unix_scm.h"

#define SCM_FILES_MAX 253 /* SCM_MAX_FD */

/* Whether st is the file f was at the dump. */
static bool scm_same(const UnixPassedFile *f, const struct stat *st)
{
	if (f->kind == 2)
		return S_ISCHR(st->st_mode) && f->has_rdev && st->st_rdev == f->rdev;
	return (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) && st->st_dev == f->dev &&
	       st->st_ino == f->ino;
}

int restore_fd_unix_scm_check(const UnixSocketEntry *u)
{
	for (size_t i = 0; i < u->n_queue; i++) {
		const UnixMessageEntry *m = u->queue[i];

		for (size_t k = 0; k < m->n_files; k++) {
			struct stat st;

			if (stat(m->files[k]->path, &st) < 0)
				return err_setf(-errno,
						"file %s, in flight in a message of unix "
						"socket %llu, is missing",
						m->files[k]->path, (unsigned long long)u->inode);
			if (!scm_same(m->files[k], &st))
				return err_setf(-ESTALE,
						"file %s, in flight in a message of unix "
						"socket %llu, changed since the dump (another "
						"inode or device): restore refused",
						m->files[k]->path, (unsigned long long)u->inode);
		}
	}
	return 0;
}

/* f opened as it was: flags, position; the same file as at the dump. */
static int scm_open(const UnixPassedFile *f, int *ret_fd)
{
	int flags = (int)f->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY);
	struct stat st;
	int fd = open(f->path, flags | O_CLOEXEC), r = 0;

	if (fd < 0)
		return err_setf(-errno, "cannot open %s, a file in flight: %s", f->path,
				strerror(errno));
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!scm_same(f, &st))
		r = err_setf(-ESTALE, "file %s, in flight, changed since the dump: refused",
			     f->path);
	else if (f->kind == 1 && f->has_pos && lseek(fd, (off_t)f->pos, SEEK_SET) < 0)
		r = err_setf(-errno, "cannot seek %s, a file in flight, to %llu: %s", f->path,
			     (unsigned long long)f->pos, strerror(errno));
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static ssize_t scm_sendmsg(int sk, const UnixMessageEntry *m, const int *fds,
			   const struct sockaddr *to, socklen_t to_len)
{
	union {
		char buf[CMSG_SPACE(SCM_FILES_MAX * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = m->data.data, .iov_len = m->data.len };
	struct msghdr mh = {
		.msg_name = (void *)to,
		.msg_namelen = to ? to_len : 0,
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = CMSG_SPACE(m->n_files * sizeof(int)),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	ssize_t n;

	memset(control.buf, 0, sizeof(control.buf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(m->n_files * sizeof(int));
	memcpy(CMSG_DATA(c), fds, m->n_files * sizeof(int));
	n = sendmsg(sk, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return err_setf(-errno, "cannot send a message with %zu file(s) in flight: %s",
				m->n_files, strerror(errno));
	return n;
}

ssize_t restore_fd_unix_scm_send(int sk, const UnixMessageEntry *m, const struct sockaddr *to,
				 socklen_t to_len)
{
	int fds[SCM_FILES_MAX];
	size_t opened = 0;
	ssize_t r = 0;

	if (m->n_files > SCM_FILES_MAX)
		return err_setf(-EINVAL, "a message with %zu files in flight: at most %d",
				m->n_files, SCM_FILES_MAX);
	for (; r == 0 && opened < m->n_files; opened++) {
		r = scm_open(m->files[opened], &fds[opened]);
		if (r < 0)
			break;
	}
	if (r == 0)
		r = scm_sendmsg(sk, m, fds, to, to_len);
	for (size_t i = 0; i < opened; i++)
		close(fds[i]); /* the message holds its own */
	return r;
}
