/*
 * restore_fd_event: eventfds, signalfds and timerfds.
 *
 * We create each one here, in the restorer, and the puppet takes a copy at its number
 * (puppet_install_fd), as for sockets: none of them is tied to the process that created it
 * (a signalfd reads the signals of whoever reads it), and our own timerfd can be checked and
 * driven with plain syscalls.
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

static struct timespec fd_event_ts(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000ull),
				  .tv_nsec = (long)(ns % 1000000000ull) };
}

/* A fresh counter and then the value written to it: eventfd2 only takes 32 bits. */
static int fd_event_eventfd(const FdEntry *e, int *ret_fd)
{
	int flags = (e->flags & O_NONBLOCK ? EFD_NONBLOCK : 0) |
		    (e->efd_semaphore ? EFD_SEMAPHORE : 0);
	int fd = eventfd(0, flags | EFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (e->efd_count && write(fd, &e->efd_count, sizeof(e->efd_count)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int fd_event_signalfd(const FdEntry *e, int *ret_fd)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	for (int sig = 1; sig <= 64; sig++)
		if ((e->sigmask >> (sig - 1)) & 1)
			sigaddset(&mask, sig);
	fd = signalfd(-1, &mask, (e->flags & O_NONBLOCK ? SFD_NONBLOCK : 0) | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/*
 * Armed with the time that was left when dumped: the time the process spent frozen does not
 * count. Expirations not yet read cannot be put back (settime clears them): the timer fires
 * at once instead, so a reader sees at least one, and keeps its period.
 */
static int fd_event_timerfd(const FdEntry *e, int *ret_fd)
{
	struct itimerspec its = { .it_interval = fd_event_ts(e->tfd_interval_ns),
				  .it_value = fd_event_ts(e->tfd_value_ns) };
	int fd = timerfd_create((int)e->tfd_clockid,
				(e->flags & O_NONBLOCK ? TFD_NONBLOCK : 0) | TFD_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	if (e->tfd_ticks) {
		its.it_value = fd_event_ts(1);
		if (e->tfd_ticks > 1)
			log_warn("fd %u: a timerfd with %llu expirations unread comes back with 1",
				 e->fd, (unsigned long long)e->tfd_ticks);
	}
	if ((its.it_value.tv_sec || its.it_value.tv_nsec) &&
	    timerfd_settime(fd, 0, &its, NULL) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

bool restore_fd_event_is(const FdEntry *e)
{
	return e->kind == FD_KIND__FD_EVENTFD || e->kind == FD_KIND__FD_SIGNALFD ||
	       e->kind == FD_KIND__FD_TIMERFD || e->kind == FD_KIND__FD_EPOLL ||
	       e->kind == FD_KIND__FD_INOTIFY;
}

/* The watches come back with the numbers they had: wds are given 1, 2, ... in order. */
static int fd_event_inotify(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	long fd, wd;
	uint64_t addr;
	int r = restore_call(pp, "inotify_init1", &fd, SYS_inotify_init1,
			     e->flags & O_NONBLOCK ? IN_NONBLOCK : 0, 0, 0, 0, 0, 0);

	if (r == 0)
		r = restore_fd_place(pp, e, fd);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot put an inotify instance at fd %u", p->pid,
				       e->fd);
	for (size_t i = 0; i < e->n_inotify; i++) {
		const InotifyWdEntry *w = e->inotify[i];

		puppet_push_reset(pp);
		r = puppet_push(pp, w->path, strlen(w->path) + 1, &addr);
		if (r == 0)
			r = restore_call(pp, "inotify_add_watch", &wd, SYS_inotify_add_watch, e->fd,
					 addr, w->mask, 0, 0, 0);
		if (r == 0 && wd != (long)w->wd)
			r = -EEXIST;
		if (r < 0)
			return log_error_errno(r,
					       "pid %d: fd %u: cannot watch %s again as watch %u",
					       p->pid, e->fd, w->path, w->wd);
	}
	return 0;
}

/* An epoll instance is the puppet's own, empty until every fd exists (restore_fd_event_epoll). */
static int fd_event_epoll_create(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	long fd;
	int r = restore_call(pp, "epoll_create1", &fd, SYS_epoll_create1, 0, 0, 0, 0, 0, 0);

	if (r == 0)
		r = restore_fd_place(pp, e, fd);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot put an epoll instance at fd %u", p->pid,
				       e->fd);
	return 0;
}

static int fd_event_epoll_add(struct puppet *pp, const FdEntry *e, const EpollTfdEntry *t)
{
	struct epoll_event ev = { .events = t->events, .data.u64 = t->data };
	uint64_t addr;
	int r;

	puppet_push_reset(pp);
	r = puppet_push(pp, &ev, sizeof(ev), &addr);
	if (r == 0)
		r = restore_call(pp, "epoll_ctl", NULL, SYS_epoll_ctl, e->fd, EPOLL_CTL_ADD, t->tfd,
				 addr, 0, 0);
	return r;
}

int restore_fd_event_epoll(struct restore_proc *p, struct puppet *pp, FdEntry *const *fds,
			   size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const FdEntry *e = fds[i];

		for (size_t j = 0; e->kind == FD_KIND__FD_EPOLL && j < e->n_epoll; j++) {
			int r = fd_event_epoll_add(pp, e, e->epoll[j]);

			if (r < 0)
				return log_error_errno(r,
						       "pid %d: cannot register fd %u in the "
						       "epoll instance at fd %u",
						       p->pid, e->epoll[j]->tfd, e->fd);
		}
	}
	return 0;
}

int restore_fd_event_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	const char *what = e->kind == FD_KIND__FD_EVENTFD    ? "eventfd"
			   : e->kind == FD_KIND__FD_SIGNALFD ? "signalfd"
							     : "timerfd";
	int fd = -1, r;

	if (e->kind == FD_KIND__FD_EPOLL)
		return fd_event_epoll_create(p, pp, e);
	if (e->kind == FD_KIND__FD_INOTIFY)
		return fd_event_inotify(p, pp, e);
	if (e->kind == FD_KIND__FD_EVENTFD)
		r = fd_event_eventfd(e, &fd);
	else if (e->kind == FD_KIND__FD_SIGNALFD)
		r = fd_event_signalfd(e, &fd);
	else
		r = fd_event_timerfd(e, &fd);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot re-create fd %u (a %s): %s", p->pid,
				       e->fd, what, strerror(-r));
	r = puppet_install_fd(pp, fd, (int)e->fd, e->cloexec);
	close(fd);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot put the %s at fd %u: %s", p->pid, what,
				       e->fd, err_detail());
	log_debug("pid %d: fd %u: %s restored", p->pid, e->fd, what);
	return 0;
}
