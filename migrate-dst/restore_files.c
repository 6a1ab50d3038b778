/*
 * restore_files: the process's place in the system, set by remote syscalls in the puppet:
 *
 *	session and process group → fds at their numbers (open, lseek, dup2, FD_CLOEXEC) →
 *	cwd, root, umask → rlimits → personality
 *
 * The puppet has no fd at all when this starts (restore_mm_empty closed them), so an fd it
 * opens gets the lowest free number and is moved to its own with dup2.
 *
 * A TCP or UDP socket cannot be opened by path: we re-create it here, in our own network
 * namespace (tcp_repair_restore: an established connection comes back without a packet
 * sent), and the puppet takes a copy of it (puppet_install_fd). Established connections are
 * left in repair mode until the process runs (see restore_net.h). The network lock of the
 * dump still drops the connection's packets at that point; whoever holds it releases it
 * once every socket exists (restore.c after a local restore, the session after Go).
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "tcp_repair.h"

int restore_fd_place(struct puppet *pp, const FdEntry *e, long fd)
{
	int r = 0;

	if (fd != (long)e->fd) {
		r = restore_call(pp, "dup2", NULL, SYS_dup2, (uint64_t)fd, e->fd, 0, 0, 0, 0);
		if (r == 0)
			r = restore_call(pp, "close", NULL, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0);
	}
	if (r == 0 && (e->cloexec || (e->flags & O_CLOEXEC)))
		r = restore_call(pp, "fcntl(F_SETFD)", NULL, SYS_fcntl, e->fd, F_SETFD, FD_CLOEXEC,
				 0, 0, 0);
	return r;
}

int restore_files_session(struct restore_proc *p)
{
	struct puppet *pp = &p->puppets[0];
	bool leader = false;
	int r = 0;

	if (p->session_done) /* a tree member: done before it forked its children */
		return 0;
	/* A shell job stays in our session (it keeps our terminal) in a group of its own. */
	if (!p->use_tty && p->sid == p->pid) {
		r = restore_call(pp, "setsid", NULL, SYS_setsid, 0, 0, 0, 0, 0, 0);
		leader = true;
	}
	if (r == 0 && !leader && p->pgid == p->pid)
		r = restore_call(pp, "setpgid", NULL, SYS_setpgid, 0, 0, 0, 0, 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot set up the session and process group",
				       p->pid);
	p->session_done = true;
	return 0;
}

/* The terminal: the puppet reopens ours through /proc. */
static int files_open(struct restore_proc *p, struct puppet *pp, const FdEntry *e, int *ret_fd)
{
	int flags = (int)e->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC);
	char tty[64];
	const char *path = e->path;
	int r;

	if (e->kind == FD_KIND__FD_TTY) {
		snprintf(tty, sizeof(tty), "/proc/%d/fd/%d", getpid(), restore_tty_fd());
		path = tty;
	}
	r = restore_remote_open(pp, path, flags, ret_fd);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot open %s for fd %u", p->pid, path, e->fd);
	return 0;
}

static void files_sock_name(const TcpSocketEntry *e, char *buf, size_t size)
{
	const char *proto = e->protocol == IPPROTO_UDP ? "UDP" : "TCP";
	const char *state = e->protocol == IPPROTO_UDP ? (e->dst_addr.len ? "connected" : "bound")
						       : tcp_repair_state_name(e->state);

	snprintf(buf, size, "%s %s socket on port %u", proto, state, e->src_port);
}

/* Back into repair mode until the process runs (restore_net.h): should the restore fail, the
 * puppet dies and the connection closes without a word to the peer. Entering repair mode
 * sends nothing; the connection still acknowledges what reaches it. */
static int files_socket_hold(int sk, const TcpSocketEntry *e)
{
	int on = 1;

	if (e->protocol != IPPROTO_TCP || e->state != 1)
		return 0;
	if (setsockopt(sk, SOL_TCP, TCP_REPAIR, &on, sizeof(on)) < 0)
		return -errno;
	return 0;
}

/* The socket of e, re-created by us and handed to the puppet at its number. */
static int files_socket(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	char what[96];
	int sk, r;

	if (!e->inet)
		return log_error_errno(-EINVAL, "pid %d: fd %u is a socket without its state",
				       p->pid, e->fd);
	files_sock_name(e->inet, what, sizeof(what));
	r = tcp_repair_restore(e->inet, &sk);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot re-create fd %u (%s): %s", p->pid, e->fd,
				       what, err_detail());
	/* Held first: should the puppet not take it, our close is silent too. */
	r = files_socket_hold(sk, e->inet);
	if (r < 0) {
		close(sk);
		return log_error_errno(r, "pid %d: cannot hold the %s of fd %u in repair mode: %s",
				       p->pid, what, e->fd, strerror(-r));
	}
	r = puppet_install_fd(pp, sk, (int)e->fd, e->cloexec);
	close(sk);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot put the %s at fd %u: %s", p->pid, what,
				       e->fd, err_detail());
	log_debug("pid %d: fd %u: %s restored", p->pid, e->fd, what);
	return 0;
}

static int files_fd(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	int fd, r;
	long rv = 0;

	if (restore_tree_fd_is_copy(p, e)) /* a description an earlier process of the tree holds */
		return restore_tree_fd_copy(p, pp, e);
	if (e->kind == FD_KIND__FD_INET_SOCKET) {
		uint64_t t0 = restore_now_ns();

		r = files_socket(p, pp, e);
		p->timings.sockets_ns += restore_now_ns() - t0;
		return r;
	}
	if (restore_fd_event_is(e))
		return restore_fd_event_one(p, pp, e);
	if (restore_fd_pipe_is(e))
		return restore_fd_pipe_one(p, pp, e);
	if (restore_fd_ghost_is(e))
		return restore_fd_ghost_one(p, pp, e);
	if (restore_fd_unix_is(e))
		return restore_fd_unix_one(p, pp, e);
	if (restore_fd_fifo_is(e))
		return restore_fd_fifo_one(p, pp, e);
	if (restore_fd_pty_is(e))
		return restore_fd_pty_one(p, pp, e);
	r = files_open(p, pp, e, &fd);
	if (r < 0)
		return r;
	/* A pipe or socket path cannot seek: the position is meaningless there. */
	if (e->pos && e->kind != FD_KIND__FD_TTY) {
		r = puppet_syscall6(pp, &rv, SYS_lseek, (uint64_t)fd, e->pos, SEEK_SET, 0, 0, 0);
		if (r == 0 && rv < 0 && rv != -ESPIPE)
			return log_error_errno((int)rv, "pid %d: cannot seek %s to %llu for fd %u",
					       p->pid, e->path, (unsigned long long)e->pos, e->fd);
	}
	if (r == 0)
		r = restore_fd_place(pp, e, fd);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot put %s at fd %u", p->pid, e->path, e->fd);
	return 0;
}

static int files_fs(struct restore_proc *p, struct puppet *pp)
{
	const TaskCoreEntry *core = p->img->core;
	uint64_t addr;
	int r;

	puppet_push_reset(pp);
	r = puppet_push(pp, core->cwd, strlen(core->cwd) + 1, &addr);
	if (r == 0)
		r = restore_call(pp, "chdir", NULL, SYS_chdir, addr, 0, 0, 0, 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot chdir to %s", p->pid, core->cwd);
	if (strcmp(core->root, "/") != 0) {
		puppet_push_reset(pp);
		r = puppet_push(pp, core->root, strlen(core->root) + 1, &addr);
		if (r == 0)
			r = restore_call(pp, "chroot", NULL, SYS_chroot, addr, 0, 0, 0, 0, 0);
		if (r < 0)
			return log_error_errno(r, "pid %d: cannot chroot to %s", p->pid,
					       core->root);
	}
	return restore_call(pp, "umask", NULL, SYS_umask, core->umask & 0777, 0, 0, 0, 0, 0);
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

/* prlimit64(0, resource, want, old) in the puppet; *ret_rv is its result. */
static int files_prlimit(struct puppet *pp, unsigned int resource, const struct rlimit *want,
			 struct rlimit *old, long *ret_rv)
{
	uint64_t want_addr = 0, old_addr;
	int r;

	puppet_push_reset(pp);
	r = puppet_push(pp, &(struct rlimit){ 0 }, sizeof(*old), &old_addr);
	if (r == 0 && want)
		r = puppet_push(pp, want, sizeof(*want), &want_addr);
	if (r == 0)
		r = puppet_syscall6(pp, ret_rv, SYS_prlimit64, 0, resource, want_addr, old_addr, 0,
				    0);
	if (r == 0 && *ret_rv == 0)
		r = puppet_mem_read(pp, old_addr, old, sizeof(*old));
	return r;
}

/* Raising a hard limit needs CAP_SYS_RESOURCE, absent here: keep the hard limit, warn. */
static int files_rlimit(struct restore_proc *p, struct puppet *pp, const RlimitEntry *e)
{
	struct rlimit want = { .rlim_cur = e->cur, .rlim_max = e->max }, now;
	long rv;
	int r = files_prlimit(pp, e->resource, &want, &now, &rv);

	if (r < 0)
		return log_error_errno(r, "pid %d: remote prlimit64: %s", p->pid, err_detail());
	if (rv == 0)
		return 0;
	if (rv != -EPERM || files_prlimit(pp, e->resource, NULL, &now, &rv) < 0 || rv < 0) {
		log_warn("pid %d: cannot set %s: %s", p->pid, rlimit_name(e->resource),
			 strerror((int)-rv));
		return 0;
	}
	want.rlim_max = now.rlim_max;
	if (want.rlim_cur > want.rlim_max)
		want.rlim_cur = want.rlim_max;
	r = files_prlimit(pp, e->resource, &want, &now, &rv);
	if (r < 0)
		return log_error_errno(r, "pid %d: remote prlimit64: %s", p->pid, err_detail());
	log_warn("pid %d: cannot raise the hard limit %s to %llu (kept %llu): CAP_SYS_RESOURCE "
		 "is needed: %s", p->pid, rlimit_name(e->resource), (unsigned long long)e->max,
		 (unsigned long long)want.rlim_max, strerror(EPERM));
	return 0;
}

int restore_files_run(struct restore_proc *p)
{
	const TaskCoreEntry *core = p->img->core;
	struct puppet *pp = &p->puppets[0];
	int r = restore_files_session(p);

	for (size_t i = 0; r == 0 && i < p->img->fd_count; i++)
		r = files_fd(p, pp, p->img->fds[i]);
	/* The mapped memfds and deleted files are the puppet's now: mapped, and opened by its fds. */
	restore_mm_ghost_forget(p);
	if (r == 0)
		r = restore_fd_event_epoll(p, pp, p->img->fds, p->img->fd_count);
	if (r == 0)
		r = restore_fd_lock_run(p, pp, p->img->fds, p->img->fd_count);
	if (r == 0)
		r = files_fs(p, pp);
	for (size_t i = 0; r == 0 && i < core->n_rlimits; i++)
		if (core->rlimits[i]->resource < RLIM_NLIMITS)
			r = files_rlimit(p, pp, core->rlimits[i]);
	if (r == 0)
		r = restore_call(pp, "personality", NULL, SYS_personality, core->personality, 0, 0,
				 0, 0, 0);
	return r;
}
