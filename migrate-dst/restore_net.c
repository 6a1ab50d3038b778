/*
 * restore_net: see restore_net.h.
 */
#include "restore_net.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "err.h"
#include "log.h"
#include "tcp_repair.h"

/* tcp_states.h */
#define RESTORE_NET_ESTABLISHED 1

static bool restore_net_established(const FdEntry *e)
{
	return e->kind == FD_KIND__FD_INET_SOCKET && e->inet && e->inet->protocol == IPPROTO_TCP &&
	       e->inet->state == RESTORE_NET_ESTABLISHED;
}

static int restore_net_release_one(pid_t pid, int pidfd, const FdEntry *e)
{
	int copy = (int)syscall(SYS_pidfd_getfd, pidfd, (int)e->fd, 0), r;

	if (copy < 0)
		return log_error_errno(-errno, "pid %d: cannot reach the restored socket fd %u",
				       pid, e->fd);
	r = tcp_repair_resume(copy);
	close(copy);
	if (r < 0)
		return log_error_errno(r,
				       "pid %d: cannot take the connection of fd %u out of "
				       "repair mode: %s",
				       pid, e->fd, err_detail());
	return 0;
}

int restore_net_release(struct restore_proc *p, const struct image_task *t)
{
	pid_t pid = restore_proc_pid(p);
	int pidfd = -1, r = 0;

	for (size_t i = 0; r == 0 && i < t->fd_count; i++) {
		if (!restore_net_established(t->fds[i]))
			continue;
		if (pidfd < 0) {
			pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
			if (pidfd < 0)
				return log_error_errno(-errno, "pidfd_open of pid %d", pid);
		}
		r = restore_net_release_one(pid, pidfd, t->fds[i]);
	}
	if (pidfd >= 0)
		close(pidfd);
	return r;
}
