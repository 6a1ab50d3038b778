/*
 * restore_child: what a freshly cloned process does for itself before the parent seizes it.
 *
 * It still runs our code, with a copy of our memory and fds, so it uses plain libc for what is
 * easiest from inside: session, fds at their numbers, cwd, root, umask, rlimits, personality.
 * It reports on its control socket (struct restore_ctl_msg: warnings, then READY or ERROR)
 * and blocks in read() until the parent replaces everything by the image's state. It avoids
 * malloc: clone3 bypassed glibc's fork handlers.
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void child_send(int fd, enum restore_ctl_kind kind, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void child_send(int fd, enum restore_ctl_kind kind, int err, const char *fmt, ...)
{
	struct restore_ctl_msg m = { .kind = kind, .err = err < 0 ? -err : err };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m.msg, sizeof(m.msg), fmt, ap);
	va_end(ap);
	/* SOCK_SEQPACKET: one record per write, nothing to retry but EINTR. */
	while (write(fd, &m, sizeof(m)) < 0 && errno == EINTR)
		;
}

static void child_fail(int fd, int err, const char *what) __attribute__((noreturn));

static void child_fail(int fd, int err, const char *what)
{
	child_send(fd, RESTORE_CTL_ERROR, err, "%s", what);
	_exit(127);
}

static void child_reset_signals(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t all;

	for (int sig = 1; sig <= RESTORE_NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	sigemptyset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, NULL);
}

static int child_session(const struct restore_task *t)
{
	const PstreeEntry *ps = t->img->pstree;

	/* A shell job stays in our session (it keeps our terminal) in a group of its own. */
	if (!t->use_tty && ps->sid == ps->pid && setsid() < 0)
		return -errno;
	if (ps->pgid == ps->pid && getpgrp() != getpid() && setpgid(0, 0) < 0)
		return -errno;
	return 0;
}

static void child_close_others(const struct restore_task *t, size_t vma_count)
{
	int keep[vma_count + 3];
	struct restore_range ranges[vma_count + 4];
	size_t n = 0, nr;

	keep[n++] = t->child_ctl_fd;
	keep[n++] = t->tty_fd;
	keep[n++] = t->exe_fd;
	for (size_t i = 0; i < vma_count; i++)
		keep[n++] = t->vma_fds[i];
	nr = restore_plan_close_ranges(keep, n, ranges);
	for (size_t i = 0; i < nr; i++)
		(void)syscall(SYS_close_range, (unsigned int)ranges[i].start,
			      (unsigned int)ranges[i].end, 0);
}

/* Puts the open file of e at its number. */
static int child_open_fd(const struct restore_task *t, const FdEntry *e, char *why, size_t len)
{
	int flags = (int)e->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC);
	int fd;

	if (e->kind == FD_KIND__FD_TTY) {
		fd = t->tty_fd;
	} else {
		fd = open(e->path, flags);
		if (fd < 0) {
			snprintf(why, len, "cannot open %s for fd %u", e->path, e->fd);
			return -errno;
		}
		if (e->pos && lseek(fd, (off_t)e->pos, SEEK_SET) < 0 && errno != ESPIPE) {
			snprintf(why, len, "cannot seek %s to %llu for fd %u", e->path,
				 (unsigned long long)e->pos, e->fd);
			return -errno;
		}
	}
	if (fd != (int)e->fd) {
		if (dup2(fd, (int)e->fd) < 0) {
			snprintf(why, len, "cannot move %s to fd %u", e->path, e->fd);
			return -errno;
		}
		if (fd != t->tty_fd)
			close(fd);
	}
	if ((e->cloexec || (e->flags & O_CLOEXEC)) && fcntl((int)e->fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(why, len, "cannot set close-on-exec on fd %u", e->fd);
		return -errno;
	}
	return 0;
}

static int child_fs(const TaskCoreEntry *core, char *why, size_t len)
{
	if (chdir(core->cwd) < 0) {
		snprintf(why, len, "cannot chdir to %s", core->cwd);
		return -errno;
	}
	if (strcmp(core->root, "/") != 0 && chroot(core->root) < 0) {
		snprintf(why, len, "cannot chroot to %s", core->root);
		return -errno;
	}
	umask(core->umask & 0777);
	return 0;
}

static const char *rlimit_name(unsigned int resource)
{
	static const char *const names[] = {
		"RLIMIT_CPU",	 "RLIMIT_FSIZE",  "RLIMIT_DATA",     "RLIMIT_STACK",
		"RLIMIT_CORE",	 "RLIMIT_RSS",	  "RLIMIT_NPROC",    "RLIMIT_NOFILE",
		"RLIMIT_MEMLOCK", "RLIMIT_AS",	  "RLIMIT_LOCKS",    "RLIMIT_SIGPENDING",
		"RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO",   "RLIMIT_RTTIME",
	};

	return resource < sizeof(names) / sizeof(names[0]) ? names[resource] : "RLIMIT_?";
}

/* Raising a hard limit needs CAP_SYS_RESOURCE, absent here: keep our hard limit, warn. */
static void child_rlimits(const TaskCoreEntry *core, int ctl)
{
	for (size_t i = 0; i < core->n_rlimits; i++) {
		const RlimitEntry *e = core->rlimits[i];
		struct rlimit want = { .rlim_cur = e->cur, .rlim_max = e->max }, now;

		if (e->resource >= RLIM_NLIMITS)
			continue;
		if (setrlimit(e->resource, &want) == 0)
			continue;
		if (errno != EPERM || getrlimit(e->resource, &now) < 0) {
			child_send(ctl, RESTORE_CTL_WARN, errno, "cannot set %s",
				   rlimit_name(e->resource));
			continue;
		}
		want.rlim_max = now.rlim_max;
		if (want.rlim_cur > want.rlim_max)
			want.rlim_cur = want.rlim_max;
		(void)setrlimit(e->resource, &want);
		child_send(ctl, RESTORE_CTL_WARN, EPERM,
			   "cannot raise the hard limit %s to %llu (kept %llu): CAP_SYS_RESOURCE "
			   "is needed",
			   rlimit_name(e->resource), (unsigned long long)e->max,
			   (unsigned long long)now.rlim_max);
	}
}

void restore_child_main(const struct restore_opts *opts, struct restore_task *t)
{
	const TaskCoreEntry *core = t->img->core;
	int ctl = t->child_ctl_fd;
	char why[200] = "";
	int r;

	(void)opts;
	child_reset_signals();
	r = child_session(t);
	if (r < 0)
		child_fail(ctl, r, "cannot set up the session and process group");
	child_close_others(t, t->img->mm->n_vmas);
	for (size_t i = 0; i < t->img->fd_count; i++) {
		r = child_open_fd(t, t->img->fds[i], why, sizeof(why));
		if (r < 0)
			child_fail(ctl, r, why);
	}
	/* The terminal's spare copy is not part of the image. */
	if (t->tty_fd >= 0)
		close(t->tty_fd);
	r = child_fs(core, why, sizeof(why));
	if (r < 0)
		child_fail(ctl, r, why);
	child_rlimits(core, ctl);
	if (personality(core->personality) < 0)
		child_fail(ctl, -errno, "cannot set the personality");
	child_send(ctl, RESTORE_CTL_READY, 0, "ready");
	for (;;) {
		char c;
		ssize_t n = read(ctl, &c, 1);

		/* The parent went away without seizing us: nothing to wait for. */
		if (n == 0 || (n < 0 && errno != EINTR))
			_exit(127);
	}
}
