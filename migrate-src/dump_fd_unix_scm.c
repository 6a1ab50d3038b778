/*
 * dump_fd_unix_scm: files in flight in unix messages (see dump_fd_unix_scm.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dump_fd_unix_scm.h"
#include "err.h"

#define SCM_FILES_MAX 253 /* SCM_MAX_FD */

/* The character devices that carry no state: reopened by name. */
static const char *scm_safe_device(dev_t rdev)
{
	if (major(rdev) != 1)
		return NULL;
	switch (minor(rdev)) {
	case 3:
		return "/dev/null";
	case 5:
		return "/dev/zero";
	case 7:
		return "/dev/full";
	case 8:
		return "/dev/random";
	case 9:
		return "/dev/urandom";
	default:
		return NULL;
	}
}

/* What a file of a kind not carried is, for the refusal. */
static const char *scm_kind_text(const struct stat *st, const char *link)
{
	if (S_ISFIFO(st->st_mode))
		return "a pipe or FIFO";
	if (S_ISSOCK(st->st_mode))
		return "a socket";
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		return "a device other than null, zero, full, random, urandom";
	if (!strncmp(link, "anon_inode:", 11))
		return link;
	if (!strncmp(link, "/memfd:", 7))
		return "a memfd";
	if (st->st_nlink == 0)
		return "a deleted file";
	return "a file not reachable by its path";
}

/* Whether our fd mine is the open file description of one of pid's fds: its number, or -1. */
static int scm_shared_with(pid_t pid, int mine)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int found = -1;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	while (dir && found < 0 && (d = readdir(dir))) {
		char *end;
		long n = strtol(d->d_name, &end, 10);

		if (d->d_name[0] < '0' || d->d_name[0] > '9' || *end || n > INT_MAX ||
		    (pid == getpid() && n == mine)) /* our copy itself (tests peek in-process) */
			continue;
		if (syscall(SYS_kcmp, getpid(), pid, KCMP_FILE, mine, (int)n) == 0)
			found = (int)n;
	}
	if (dir)
		closedir(dir);
	return found;
}

static int scm_refuse(pid_t pid, uint32_t fd, size_t i, const char *what, const char *path)
{
	return err_setf(-ENOTSUP,
			"fd %u of pid %d: unix socket with file descriptors in flight: file %zu "
			"of a queued message is %s (%s): not supported, let the receiver take it "
			"before the dump",
			fd, pid, i, what, path);
}

/* A regular file or directory: by its path, when that path is still this file. */
static int scm_describe_file(int mine, const struct stat *st, const char *link, UnixPassedFile *f)
{
	struct stat now;
	off_t pos = lseek(mine, 0, SEEK_CUR);

	if (link[0] != '/' || st->st_nlink == 0 || stat(link, &now) < 0 ||
	    now.st_dev != st->st_dev || now.st_ino != st->st_ino)
		return -ENOENT;
	f->kind = 1;
	f->path = strdup(link);
	if (!f->path)
		return -ENOMEM;
	f->has_pos = pos >= 0;
	f->pos = pos >= 0 ? (uint64_t)pos : 0;
	f->has_dev = f->has_ino = true;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	return 0;
}

/* One file received into our fd mine (not closed here) into f. */
static int scm_describe(pid_t pid, uint32_t fd, size_t i, int mine, UnixPassedFile *f)
{
	char proc[64], link[PATH_MAX];
	const char *dev;
	struct stat st;
	ssize_t n;
	int flags = fcntl(mine, F_GETFL), shared, r;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", mine);
	n = readlink(proc, link, sizeof(link) - 1);
	if (n < 0 || fstat(mine, &st) < 0 || flags < 0)
		return err_setf(-errno, "fd %u of pid %d: cannot read file %zu in flight: %s", fd,
				pid, i, strerror(errno));
	link[n] = '\0';
	f->flags = (uint32_t)flags;
	dev = S_ISCHR(st.st_mode) ? scm_safe_device(st.st_rdev) : NULL;
	if (dev) {
		f->kind = 2;
		f->has_rdev = true;
		f->rdev = (uint32_t)st.st_rdev;
		f->path = strdup(dev);
		return f->path ? 0 : -ENOMEM;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return scm_refuse(pid, fd, i, scm_kind_text(&st, link), link);
	shared = scm_shared_with(pid, mine);
	if (shared >= 0) {
		char what[96];

		snprintf(what, sizeof(what), "the open file description of its fd %d", shared);
		return scm_refuse(pid, fd, i, what, link);
	}
	r = scm_describe_file(mine, &st, link, f);
	if (r == -ENOENT)
		return scm_refuse(pid, fd, i, scm_kind_text(&st, link), link);
	return r;
}

void dump_fd_unix_scm_free(UnixPassedFile **files, size_t n)
{
	for (size_t i = 0; files && i < n; i++)
		if (files[i])
			protobuf_c_message_free_unpacked(&files[i]->base, NULL);
	free(files);
}

/* The fds of mh's SCM_RIGHTS, in order, into fds (at most SCM_FILES_MAX): their count. */
static size_t scm_collect(struct msghdr *mh, int *fds)
{
	size_t count = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n && count < SCM_FILES_MAX; i++)
			memcpy(&fds[count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	return count;
}

static int scm_describe_all(pid_t pid, uint32_t fd, const int *fds, size_t count,
			    UnixPassedFile **files)
{
	for (size_t i = 0; i < count; i++) {
		int r;

		files[i] = malloc(sizeof(*files[i]));
		if (!files[i])
			return -ENOMEM;
		unix_passed_file__init(files[i]);
		r = scm_describe(pid, fd, i, fds[i], files[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int dump_fd_unix_scm_take(pid_t pid, uint32_t fd, struct msghdr *mh, UnixPassedFile ***ret_files,
			  size_t *ret_n)
{
	int fds[SCM_FILES_MAX];
	size_t count = scm_collect(mh, fds);
	UnixPassedFile **files = NULL;
	int r = 0;

	if (mh->msg_flags & MSG_CTRUNC)
		r = err_setf(-ENOTSUP,
			     "fd %u of pid %d: unix socket with a queued message carrying more "
			     "file descriptors or credentials than a peek can take: not supported",
			     fd, pid);
	if (r == 0 && count) {
		files = calloc(count, sizeof(*files));
		r = files ? scm_describe_all(pid, fd, fds, count, files) : -ENOMEM;
	}
	for (size_t i = 0; i < count; i++)
		close(fds[i]); /* our copies: the message holds its own */
	if (r < 0) {
		dump_fd_unix_scm_free(files, count);
		return r;
	}
	*ret_files = files;
	*ret_n = count;
	return 0;
}
