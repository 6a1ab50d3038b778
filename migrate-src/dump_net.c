/*
 * dump_net: a process's inet sockets, their refusals, their network lock, and their state
 * read in the freeze window (see dump_net.h for the sequence).
 *
 * The fd table (dump_files.c) tells an inet socket from other sockets by asking a copy of
 * the fd (SO_DOMAIN); here sock_diag, in the process's own network namespace, gives each
 * one's state and addresses, which is what the refusals and the lock need before the
 * process is touched. The copies (pidfd_getfd) share the socket with the process: repair
 * mode set on a copy is the process's socket's mode, and a later copy can take it out.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "dump_internal.h"
#include "dump_net.h"
#include "err.h"
#include "log.h"
#include "netlock.h"
#include "proc.h"
#include "tcp_repair.h"

/* TCP states (include/net/tcp_states.h) the dump handles. */
#define DUMP_NET_ESTABLISHED 1
#define DUMP_NET_LISTEN 10

static int dump_net_pidfd(pid_t pid, int *ret);

void dump_net_free(struct dump_net *net)
{
	if (!net)
		return;
	if (net->netns_fd >= 0)
		close(net->netns_fd);
	free(net->socks);
	free(net);
}

/* The inode of fd's socket, 0 when fd is not a socket (or is gone). */
static uint64_t dump_net_fd_inode(pid_t pid, int fd)
{
	char path[64], link[64];
	uint64_t inode;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = '\0';
	return sockdiag_parse_fd_link(link, &inode) == 0 ? inode : 0;
}

static int dump_net_add(struct dump_net *net, int fd, const struct sockdiag_sock *s)
{
	struct dump_net_sock *v = realloc(net->socks, (net->count + 1) * sizeof(*v));

	if (!v)
		return err_setf(-ENOMEM, "out of memory");
	net->socks = v;
	v[net->count].fd = fd;
	v[net->count].diag = *s;
	net->count++;
	if (s->protocol == IPPROTO_TCP && s->state == DUMP_NET_ESTABLISHED)
		net->established++;
	return 0;
}

/* The fds of pid that are sockets, and their inodes (*ret_n of them; 0: none). */
static int dump_net_socket_fds(pid_t pid, int **ret_fds, uint64_t **ret_inodes, size_t *ret_n)
{
	uint64_t *inodes = NULL;
	size_t count, n = 0;
	int *ids, r;

	r = proc_list_numeric(pid, "fd", &ids, &count);
	if (r < 0)
		return err_setf(r, "cannot list the fds of pid %d: %s", pid, strerror(-r));
	inodes = calloc(count ? count : 1, sizeof(*inodes));
	if (!inodes) {
		free(ids);
		return err_setf(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		uint64_t inode = dump_net_fd_inode(pid, ids[i]);

		if (!inode)
			continue;
		ids[n] = ids[i];
		inodes[n++] = inode;
	}
	*ret_fds = ids;
	*ret_inodes = inodes;
	*ret_n = n;
	return 0;
}

/* A TCP socket sock_diag does not know in the process's namespace, by its state. */
static int dump_net_refuse_unlisted(const struct dump_net *net, int fd, unsigned int state)
{
	const char *name = tcp_repair_state_name(state);

	if (state == DUMP_NET_ESTABLISHED || state == DUMP_NET_LISTEN)
		return err_setf(-EOPNOTSUPP,
				"pid %d: fd %d is a TCP socket (%s) of another network namespace "
				"than the process's: not supported",
				net->pid, fd, name);
	return err_setf(-EOPNOTSUPP,
			"pid %d: fd %d is a TCP socket in state %s, neither connected nor "
			"listening: only established connections and listening sockets can be "
			"dumped",
			net->pid, fd, name);
}

/*
 * A socket fd sock_diag did not list: not an inet socket (left to the fd table), or one that
 * is in no hash table yet. An unbound UDP socket is carried (nothing to lock); a TCP socket
 * neither connected nor listening is refused by its state. The copy is only asked questions.
 */
static int dump_net_unlisted(struct dump_net *net, int pidfd, int fd, uint64_t inode)
{
	struct sockdiag_sock s = { .inode = inode, .state = 7 };
	int copy, family = 0, protocol = 0;
	socklen_t len = sizeof(int);
	struct tcp_info info = { 0 };
	int r = 0;

	copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	if (copy < 0)
		return 0; /* closed meanwhile, or not ours to ask: the fd table decides */
	if (getsockopt(copy, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0 ||
	    getsockopt(copy, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) < 0 ||
	    (family != AF_INET && family != AF_INET6))
		goto out;
	s.family = (uint8_t)family;
	s.protocol = (uint8_t)protocol;
	if (protocol == IPPROTO_UDP) {
		r = dump_net_add(net, fd, &s);
	} else if (protocol == IPPROTO_TCP) {
		len = sizeof(info);
		if (getsockopt(copy, SOL_TCP, TCP_INFO, &info, &len) < 0)
			info.tcpi_state = 0;
		r = dump_net_refuse_unlisted(net, fd, info.tcpi_state);
	}
out:
	close(copy);
	return r;
}

/* Matches the socket fds of pid with the sockets sock_diag lists in its namespace. */
static int dump_net_match(struct dump_net *net)
{
	struct sockdiag_sock *socks = NULL;
	uint64_t *inodes = NULL;
	size_t n = 0, nsocks = 0;
	int *fds = NULL, pidfd = -1, r;

	r = dump_net_socket_fds(net->pid, &fds, &inodes, &n);
	if (r < 0)
		return r;
	if (n) { /* no sock_diag round trip for a process without sockets */
		r = sockdiag_list_inet(net->netns_fd, &socks, &nsocks);
		if (r < 0)
			r = dump_err_wrap(r,
					  "cannot list the sockets of pid %d's network namespace",
					  net->pid);
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct sockdiag_sock *s = sockdiag_find(socks, nsocks, inodes[i]);

		if (s)
			r = dump_net_add(net, fds[i], s);
		else if (pidfd >= 0 || (r = dump_net_pidfd(net->pid, &pidfd)) == 0)
			r = dump_net_unlisted(net, pidfd, fds[i], inodes[i]);
	}
	if (pidfd >= 0)
		close(pidfd);
	free(socks);
	free(inodes);
	free(fds);
	return r;
}

/* TCP in a state the dump cannot carry: refused by name, with the connection. */
static int dump_net_check_states(const struct dump_net *net)
{
	char addr[SOCKDIAG_FORMAT_MAX];

	for (size_t i = 0; i < net->count; i++) {
		const struct sockdiag_sock *s = &net->socks[i].diag;

		if (s->protocol != IPPROTO_TCP || s->state == DUMP_NET_ESTABLISHED ||
		    s->state == DUMP_NET_LISTEN)
			continue;
		return err_setf(-EOPNOTSUPP,
				"pid %d: fd %d is a TCP socket in state %s (%s): only established "
				"connections and listening sockets can be dumped; retry when it "
				"has settled",
				net->pid, net->socks[i].fd, tcp_repair_state_name(s->state),
				sockdiag_format(s, addr, sizeof(addr)));
	}
	return 0;
}

/* "pid 42 has 2 established TCP connections (fd 4: 10.0.0.1:80 -> 10.0.0.2:5000, ...)". */
static int dump_net_refuse_established(const struct dump_net *net)
{
	char list[640] = "", addr[SOCKDIAG_FORMAT_MAX];
	size_t used = 0, shown = 0;

	for (size_t i = 0; i < net->count; i++) {
		const struct sockdiag_sock *s = &net->socks[i].diag;
		int n;

		if (s->protocol != IPPROTO_TCP || s->state != DUMP_NET_ESTABLISHED)
			continue;
		n = snprintf(list + used, sizeof(list) - used, "%sfd %d: %s", shown ? ", " : "",
			     net->socks[i].fd, sockdiag_format(s, addr, sizeof(addr)));
		if (n < 0 || (size_t)n >= sizeof(list) - used) {
			list[used] = '\0';
			break;
		}
		used += (size_t)n;
		shown++;
	}
	return err_setf(-EPERM,
			"pid %d has %zu established TCP connection%s (%s%s): pass "
			"--tcp-established to dump them (their packets are dropped from the "
			"freeze until the restore, so the peers see a pause, not a reset)",
			net->pid, net->established, net->established == 1 ? "" : "s", list,
			shown < net->established ? ", ..." : "");
}

static int dump_net_open_netns(pid_t pid, int *ret_fd)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_setf(-errno, "cannot open %s: %s", path, strerror(errno));
	*ret_fd = fd;
	return 0;
}

int dump_net_scan(pid_t pid, bool tcp_established, struct dump_net **ret)
{
	struct dump_net *net = calloc(1, sizeof(*net));
	int r;

	if (!net)
		return err_setf(-ENOMEM, "out of memory");
	net->pid = pid;
	net->tcp_established = tcp_established;
	net->netns_fd = -1;
	r = dump_net_open_netns(pid, &net->netns_fd);
	if (r == 0)
		r = dump_net_match(net);
	if (r == 0)
		r = dump_net_check_states(net);
	if (r == 0 && net->established && !tcp_established)
		r = dump_net_refuse_established(net);
	if (r < 0) {
		dump_net_free(net);
		return r;
	}
	log_debug("dump: pid %d: %zu inet sockets, %zu established", pid, net->count,
		  net->established);
	*ret = net;
	return 0;
}

int dump_net_lock(const struct dump_net *net, unsigned int flags, struct netlock **ret)
{
	struct netlock_conn *conns;
	size_t n = 0;
	int r;

	if (!net->count) {
		*ret = NULL;
		return 0;
	}
	conns = calloc(net->count, sizeof(*conns));
	if (!conns)
		return err_setf(-ENOMEM, "out of memory");
	/* An unbound UDP socket (port 0) has no traffic anyone could address to it. */
	for (size_t i = 0; i < net->count; i++)
		if (net->socks[i].diag.sport)
			netlock_conn_from_sock(&net->socks[i].diag, &conns[n++]);
	r = netlock_acquire(net->netns_fd, conns, n, flags, ret);
	free(conns);
	if (r < 0)
		return dump_err_wrap(r, "cannot lock the network of pid %d (%zu sockets)", net->pid,
				     n);
	return 0;
}

static const struct dump_net_sock *dump_net_find(const struct dump_net *net, int fd, uint64_t inode)
{
	for (size_t i = 0; i < net->count; i++)
		if (net->socks[i].fd == fd && net->socks[i].diag.inode == inode)
			return &net->socks[i];
	return NULL;
}

static int dump_net_pidfd(pid_t pid, int *ret)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return err_setf(-errno, "pidfd_open of pid %d: %s", pid, strerror(errno));
	*ret = fd;
	return 0;
}

/* A copy of the process's fd (the same socket). */
static int dump_net_getfd(int pidfd, pid_t pid, int fd, int *ret)
{
	int copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);

	if (copy < 0)
		return err_setf(-errno, "cannot copy fd %d of pid %d (pidfd_getfd): %s", fd, pid,
				strerror(errno));
	*ret = copy;
	return 0;
}

static bool dump_net_is_established(const FdEntry *e)
{
	return e->kind == FD_KIND__FD_INET_SOCKET && e->inet && e->inet->protocol == IPPROTO_TCP &&
	       e->inet->state == DUMP_NET_ESTABLISHED;
}

/* Reads one socket fd of the process into e->inet. */
static int dump_net_collect_one(int pidfd, pid_t pid, bool allowed, FdEntry *e)
{
	TcpSocketEntry *entry;
	int copy = -1, r;

	r = dump_net_getfd(pidfd, pid, (int)e->fd, &copy);
	if (r < 0)
		return r;
	r = tcp_repair_dump(copy, &entry);
	if (r < 0) {
		close(copy);
		return dump_err_wrap(r, "cannot dump socket fd %u of pid %d", e->fd, pid);
	}
	if (entry->protocol == IPPROTO_TCP && entry->state == DUMP_NET_ESTABLISHED && !allowed) {
		if (tcp_repair_resume(copy) < 0)
			log_debug("dump: fd %u of pid %d stays in repair mode: %s", e->fd, pid,
				  err_detail());
		close(copy);
		tcp_repair_entry_free(entry);
		return err_setf(-EPERM,
				"pid %d: fd %u is an established TCP connection (opened during the "
				"dump): pass --tcp-established to dump it",
				pid, e->fd);
	}
	close(copy);
	e->inet = entry;
	return 0;
}

int dump_net_collect(pid_t pid, const struct dump_net *net, bool tcp_established, FdEntry **fds,
		     size_t count)
{
	bool allowed = net ? net->tcp_established : tcp_established;
	int pidfd = -1, r = 0;
	size_t i;

	for (i = 0; r == 0 && i < count; i++) {
		FdEntry *e = fds[i];

		if (e->kind != FD_KIND__FD_INET_SOCKET)
			continue;
		if (net && !dump_net_find(net, (int)e->fd, e->ino))
			r = err_setf(-EAGAIN,
				     "pid %d: socket fd %u (%s) is not among the sockets the "
				     "network lock was taken for (opened since): retry",
				     pid, e->fd, e->path);
		if (r == 0 && pidfd < 0)
			r = dump_net_pidfd(pid, &pidfd);
		if (r == 0)
			r = dump_net_collect_one(pidfd, pid, allowed, e);
	}
	if (r < 0 && dump_net_resume(pid, fds, i) < 0)
		log_debug("dump: pid %d: a socket could not leave repair mode after the failure",
			  pid);
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

int dump_net_resume(pid_t pid, FdEntry *const *fds, size_t count)
{
	int pidfd = -1, first = 0;

	for (size_t i = 0; i < count; i++) {
		int copy = -1, r = 0;

		if (!dump_net_is_established(fds[i]))
			continue;
		if (pidfd < 0)
			r = dump_net_pidfd(pid, &pidfd);
		if (r == 0)
			r = dump_net_getfd(pidfd, pid, (int)fds[i]->fd, &copy);
		if (r == 0) {
			r = tcp_repair_resume(copy);
			close(copy);
			if (r < 0)
				r = dump_err_wrap(r,
						  "cannot take socket fd %u of pid %d out of "
						  "repair mode",
						  fds[i]->fd, pid);
		}
		if (r < 0 && !first)
			first = r;
	}
	if (pidfd >= 0)
		close(pidfd);
	return first;
}
