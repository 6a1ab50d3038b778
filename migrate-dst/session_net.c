/*
 * session_net: the network handover at the destination (ARCHITECTURE.md 7).
 *
 * The inet sockets arrive as FdEntry records (kind FD_INET_SOCKET) and restore_proc_finish
 * re-creates them in the puppet, the established connections IN repair mode. Until Go this
 * file keeps them so:
 *
 *	Commit:  restore_proc_finish            sockets exist in the puppet
 *	         session_net_hold()             a copy of every established one (pidfd_getfd:
 *	                                        the same socket), in repair mode
 *	         session_net_check()            without --move-ip: every local address is
 *	                                        assigned here; with it: none is yet, and an
 *	                                        interface routes to each
 *	         -> Ready
 *	Go:      session_net_go()               claim each moved address (IPv6: announce it:
 *	                                        unsolicited NA), then the connections leave
 *	                                        repair mode (window probe)
 *	         restore_proc_resume, -> Verdict
 *	         session_net_announce(AF_INET)  gratuitous ARP for the IPv4 addresses
 *	failure before the process runs: session_net_undo() (back in repair mode, claims
 *	undone), then the puppet is killed: a socket closed in repair mode sends nothing.
 *
 * A tree (session_tree.c): every member's sockets, each member's records as session_net_proc
 * finds them; a socket several members share is made once and given to the others
 * (restore_tree_fd_copy) by restore_proc_finish, so holding, checking and releasing here
 * need nothing more. session_tree_kill after session_net_undo: our copies keep the sockets,
 * in repair mode, beyond the members' deaths, and close them quietly.
 *
 * Why the addresses are claimed at Go and not before Ready: a connection restored here
 * still acknowledges what reaches it, repair mode or not (see tcp_repair.h). Were the
 * address here before Go, a peer's data could be acknowledged by a copy that an Abort then
 * kills, and lost to the source that resumes. And a session that dies before Go (a crash,
 * SIGKILL) leaves no address behind that no one would remove. Claiming at Go costs the
 * window nothing: the address must be here before the connections leave repair mode, and
 * that happens at Go anyway. A claim that fails there gets a Verdict{ok=false}: the
 * process never ran here, so the source resumes.
 *
 * Why the sockets stay in repair mode until Go: if this session dies before Go,
 * PTRACE_O_EXITKILL kills the puppet; its connections, out of repair mode, would send FIN or
 * RST to the peer and end the connection the source still holds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "dst_session_internal.h"
#include "err.h"
#include "ipmove.h"
#include "log.h"
#include "session.h"
#include "tcp_repair.h"

#ifndef TCP_REPAIR
#define TCP_REPAIR 19
#endif

/* tcp_states.h */
#define SESSION_TCP_ESTABLISHED 1

static bool session_net_is_inet(const FdEntry *e)
{
	return e->kind == FD_KIND__FD_INET_SOCKET && e->inet;
}

static bool session_net_is_established(const FdEntry *e)
{
	return session_net_is_inet(e) && e->inet->protocol == IPPROTO_TCP &&
	       e->inet->state == SESSION_TCP_ESTABLISHED;
}

/* The processes whose files records session_net_proc() gives: 1, or a tree's members. */
static size_t session_net_nr_procs(const struct session *s)
{
	return s->nr_members ? s->nr_members : 1;
}

/* Process i's files records and pid (a tree's member i; the loaded one's are the session's). */
static void session_net_proc(const struct session *s, size_t i, FdEntry *const **ret_fds,
			     size_t *ret_n, uint32_t *ret_pid)
{
	if (!s->nr_members || i == s->loaded) {
		*ret_fds = s->fds;
		*ret_n = s->fd_count;
	} else {
		*ret_fds = s->members[i].fds;
		*ret_n = s->members[i].fd_count;
	}
	*ret_pid = s->nr_members ? s->members[i].pid : s->pid;
}

unsigned int session_net_count(const struct session *s)
{
	unsigned int n = 0;

	for (size_t p = 0; p < session_net_nr_procs(s); p++) {
		FdEntry *const *fds;
		size_t count;
		uint32_t pid;

		session_net_proc(s, p, &fds, &count, &pid);
		for (size_t i = 0; i < count; i++)
			n += session_net_is_inet(fds[i]);
	}
	return n;
}

/* The socket's local address as ipmove takes it: v4-mapped IPv6 becomes IPv4. false for
 * an address that does not move and needs no owner: any (0.0.0.0, ::) and loopback. */
bool session_net_local_addr(const TcpSocketEntry *e, struct ipmove_addr *ret)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t zero[16];
	const uint8_t *b = e->src_addr.data;

	memset(ret, 0, sizeof(*ret));
	if (e->src_addr.len == 4) {
		ret->family = AF_INET;
		memcpy(ret->bytes, b, 4);
	} else if (e->src_addr.len == 16 && memcmp(b, v4mapped, 12) == 0) {
		ret->family = AF_INET;
		memcpy(ret->bytes, b + 12, 4);
	} else if (e->src_addr.len == 16) {
		ret->family = AF_INET6;
		memcpy(ret->bytes, b, 16);
	} else {
		return false;
	}
	if (ret->family == AF_INET)
		return memcmp(ret->bytes, zero, 4) != 0 && ret->bytes[0] != 127;
	return memcmp(ret->bytes, zero, 16) != 0 && !IN6_IS_ADDR_LOOPBACK((struct in6_addr *)b);
}

static int session_net_repair(int fd, int on)
{
	if (setsockopt(fd, SOL_TCP, TCP_REPAIR, &on, sizeof(on)) < 0)
		return -errno;
	return 0;
}

/* Whether fd is the connection e describes (its peer's address and port). */
static bool session_net_is_conn(int fd, const TcpSocketEntry *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int proto = 0;
	socklen_t plen = sizeof(proto);

	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &plen) < 0 || proto != IPPROTO_TCP ||
	    getpeername(fd, (struct sockaddr *)&ss, &len) < 0 || !e->has_dst_port)
		return false;
	if (ss.ss_family == AF_INET && e->dst_addr.len == 4)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port) == e->dst_port &&
		       !memcmp(&((struct sockaddr_in *)&ss)->sin_addr, e->dst_addr.data, 4);
	if (ss.ss_family == AF_INET6 && e->dst_addr.len == 16)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == e->dst_port &&
		       !memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, e->dst_addr.data, 16);
	return false;
}

/* One restored connection of pid: our copy in n->held, in repair mode. */
static int session_net_hold_one(struct session *s, uint32_t pid, int pidfd, const FdEntry *e)
{
	struct session_net *n = &s->net;
	int fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)e->fd, 0), r;

	if (fd < 0)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_RESTORE, -errno,
				    "cannot reach the restored socket fd %u of pid %u: %s", e->fd,
				    pid, strerror(errno));
	if (!session_net_is_conn(fd, e->inet)) {
		close(fd);
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_RESTORE, -EBADF,
				    "fd %u of the restored pid %u is not its connection", e->fd,
				    pid);
	}
	n->held[n->nr_held++] = fd;
	r = session_net_repair(fd, 1);
	if (r < 0)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_RESTORE, r,
				    "cannot hold the restored connection fd %u of pid %u in repair "
				    "mode until Go: %s",
				    e->fd, pid, strerror(-r));
	return 0;
}

/* The established connections of process p (session_net_proc), held. */
static int session_net_hold_proc(struct session *s, size_t p)
{
	FdEntry *const *fds;
	size_t count;
	uint32_t pid;
	int pidfd = -1, r = 0;

	session_net_proc(s, p, &fds, &count, &pid);
	for (size_t i = 0; r == 0 && i < count; i++) {
		if (!session_net_is_established(fds[i]))
			continue;
		if (pidfd < 0)
			pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
		if (pidfd < 0)
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -errno,
					    "pidfd_open of pid %u: %s", pid, strerror(errno));
		r = session_net_hold_one(s, pid, pidfd, fds[i]);
	}
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

/*
 * A copy of every established connection of the puppet (of every member of a tree), in
 * repair mode. The engine leaves them so already (restore_files.c); setting it again costs
 * nothing and keeps this file's promise whatever the engine does. The copies take them out
 * at Go. A connection two members share is held twice: the second copy's way out of repair
 * at Go finds it out already (tcp_repair_resume does nothing then).
 */
int session_net_hold(struct session *s)
{
	struct session_net *n = &s->net;
	int r = 0;

	n->sockets = session_net_count(s);
	if (!n->sockets)
		return 0;
	n->held = calloc(n->sockets, sizeof(*n->held));
	if (!n->held)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -ENOMEM,
				    "out of memory");
	for (size_t p = 0; r == 0 && p < session_net_nr_procs(s); p++)
		r = session_net_hold_proc(s, p);
	if (r == 0 && s->nr_members && n->nr_held)
		log_debug("pid %u: %zu restored connections of the tree held in repair mode",
			  s->pid, n->nr_held);
	return r;
}

/* ---- addresses ---- */

/* The interface holding local address a (getifaddrs), into ifname. */
static bool session_net_ifname_of(const struct sockaddr *a, char ifname[IF_NAMESIZE])
{
	struct ifaddrs *all, *i;
	bool found = false;

	if (getifaddrs(&all) < 0)
		return false;
	for (i = all; i && !found; i = i->ifa_next) {
		const struct sockaddr *x = i->ifa_addr;

		if (!x || x->sa_family != a->sa_family)
			continue;
		if (a->sa_family == AF_INET)
			found = ((const struct sockaddr_in *)x)->sin_addr.s_addr ==
				((const struct sockaddr_in *)a)->sin_addr.s_addr;
		else
			found = memcmp(&((const struct sockaddr_in6 *)x)->sin6_addr,
				       &((const struct sockaddr_in6 *)a)->sin6_addr, 16) == 0;
		if (found)
			snprintf(ifname, IF_NAMESIZE, "%s", i->ifa_name);
	}
	freeifaddrs(all);
	return found;
}

/*
 * The interface this host routes a's traffic through: the kernel's own route lookup (a
 * UDP socket "connected" to a sends nothing and gets the source address the route
 * chooses), then the interface that holds that source address. 0, or -ENETUNREACH.
 */
int session_net_route_dev(const struct ipmove_addr *a, char *ifname)
{
	struct sockaddr_storage to = { 0 }, from;
	socklen_t len = sizeof(from);
	int fd, r = 0;

	to.ss_family = a->family;
	if (a->family == AF_INET) {
		memcpy(&((struct sockaddr_in *)&to)->sin_addr, a->bytes, 4);
		((struct sockaddr_in *)&to)->sin_port = htons(9);
	} else {
		memcpy(&((struct sockaddr_in6 *)&to)->sin6_addr, a->bytes, 16);
		((struct sockaddr_in6 *)&to)->sin6_port = htons(9);
	}
	fd = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&from, &len) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && !session_net_ifname_of((struct sockaddr *)&from, ifname))
		r = -ENETUNREACH;
	return r < 0 ? -ENETUNREACH : 0;
}

static int session_net_addr_fail(struct session *s, int r, uint32_t pid, const FdEntry *e,
				 const struct ipmove_addr *a, const char *why, const char *hint)
{
	char text[INET6_ADDRSTRLEN];

	ipmove_addr_format(a, text, sizeof(text));
	return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_RESTORE, r,
			    "socket fd %u of pid %u is bound to %s, %s%s", e->fd, pid, text, why,
			    hint);
}

/* One socket of pid: its local address against what Commit asked (owned, or claimable at
 * Go). */
static int session_net_check_one(struct session *s, uint32_t pid, const FdEntry *e)
{
	struct ipmove_addr a;
	char ifname[IF_NAMESIZE];
	int r;

	if (!session_net_local_addr(e->inet, &a))
		return 0;
	r = ipmove_owns(-1, &a);
	if (r < 0)
		return session_net_addr_fail(s, r, pid, e, &a,
					     "and this host cannot tell whether "
					     "it has it: ",
					     err_detail());
	if (!s->net.move_ip && r == 0)
		return session_net_addr_fail(s, -EADDRNOTAVAIL, pid, e, &a,
					     "which no interface of this host has",
					     ": migrate with --move-ip to bring it along, or "
					     "assign it here first");
	if (!s->net.move_ip)
		return 0;
	if (r == 1)
		return session_net_addr_fail(s, -EEXIST, pid, e, &a, "which this host has already",
					     ": --move-ip would put it on two hosts; migrate "
					     "without --move-ip if both are meant to have it");
	if (s->opts->move_ip_dev)
		return 0;
	r = session_net_route_dev(&a, ifname);
	if (r < 0)
		return session_net_addr_fail(s, r, pid, e, &a,
					     "and no interface of this host "
					     "routes to it",
					     ": start migrate-dst with "
					     "--move-ip-dev IFNAME");
	return 0;
}

int session_net_check(struct session *s)
{
	uint64_t t0 = session_now_ns();
	int r = 0;

	if (s->net.move_ip && s->opts->move_ip_dev && !if_nametoindex(s->opts->move_ip_dev))
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_RESTORE, -ENODEV,
				    "--move-ip-dev %s: no such interface here",
				    s->opts->move_ip_dev);
	for (size_t p = 0; r == 0 && p < session_net_nr_procs(s); p++) {
		FdEntry *const *fds;
		size_t count;
		uint32_t pid;

		session_net_proc(s, p, &fds, &count, &pid);
		for (size_t i = 0; r == 0 && i < count; i++)
			if (session_net_is_inet(fds[i]))
				r = session_net_check_one(s, pid, fds[i]);
	}
	s->net.check_ns = session_now_ns() - t0;
	return r;
}

/* ---- Go ---- */

static int session_net_claim(struct session *s, const WireMoveAddr *m)
{
	struct session_net *n = &s->net;
	struct ipmove_addr a = { .family = m->addr.len == 4 ? AF_INET : AF_INET6 };
	char ifname[IF_NAMESIZE], text[INET6_ADDRSTRLEN];
	uint64_t t0;
	int r;

	memcpy(a.bytes, m->addr.data, m->addr.len);
	ipmove_addr_format(&a, text, sizeof(text));
	if (s->opts->move_ip_dev)
		snprintf(ifname, sizeof(ifname), "%s", s->opts->move_ip_dev);
	else if (session_net_route_dev(&a, ifname) < 0)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_RESTORE, -ENETUNREACH,
				    "--move-ip: no interface here routes to %s (--move-ip-dev)",
				    text);
	t0 = session_now_ns();
	r = ipmove_claim(-1, &a, m->prefixlen, ifname, &n->claims[n->nr_claims]);
	if (r < 0)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_RESTORE, r,
				    "--move-ip: cannot add %s/%u to %s: %s", text, m->prefixlen,
				    ifname, err_detail());
	n->nr_claims++;
	log_debug("pid %u: %s/%u claimed on %s (from %s on the source) in %.3f ms", s->pid, text,
		  m->prefixlen, ifname, m->ifname ? m->ifname : "?", (session_now_ns() - t0) / 1e6);
	return 0;
}

/*
 * Neighbours learn the new owner of each claimed address of family. When, by family, as
 * measured here with a client sending every 5 ms (net_migrate_web*.sh):
 *  - IPv6, at Go before the connections leave repair mode: announced after the Verdict
 *    instead, the client's largest gap grew from ~0.2 s to ~1 s in every run (its neighbour
 *    entry kept the source's MAC); the advertisement costs ~0.1 ms.
 *  - IPv4, after the Verdict: the frames leave at once, but closing the packet socket waits
 *    for an RCU grace period (~13 ms here), which at Go would sit inside the freeze window;
 *    announced at Go, the client's largest gap was the same (~0.21 s: its retransmission
 *    timeout), the window 13 ms longer. The ARP request this host sends for the peer when
 *    the connection's window probe leaves already updates the peer's entry.
 */
void session_net_announce(struct session *s, int family)
{
	struct session_net *n = &s->net;

	for (size_t i = 0; i < n->nr_claims; i++) {
		const struct ipmove_undo *u = &n->claims[i];
		char text[INET6_ADDRSTRLEN];
		uint64_t t0 = session_now_ns();

		if (u->addr.family != family)
			continue;
		ipmove_addr_format(&u->addr, text, sizeof(text));
		if (ipmove_announce(-1, &u->addr, u->ifname) < 0)
			log_warn("--move-ip: %s is on %s, but announcing it failed: %s (neighbours "
				 "learn it when their entries expire)",
				 text, u->ifname, err_detail());
		else
			log_info("pid %u: %s/%u moved here on %s, announced in %.1f ms", s->pid,
				 text, u->prefixlen, u->ifname, (session_now_ns() - t0) / 1e6);
	}
}

/* The held connections leave repair mode (window probe). */
static int session_net_release_held(struct session *s)
{
	struct session_net *n = &s->net;

	for (size_t i = 0; i < n->nr_held; i++) {
		int r = tcp_repair_resume(n->held[i]);

		if (r < 0)
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_RESTORE, r,
					    "a restored connection of pid %u cannot leave repair "
					    "mode: %s",
					    s->pid, err_detail()[0] ? err_detail() : strerror(-r));
	}
	return 0;
}

/* Test-only (SESSION_FAULT_ENV=after-claim): a failure at Go once the addresses are here, as
 * a refusal of the kernel would be, to prove the undo and the source's rollback. */
static int session_net_fault(struct session *s)
{
	const char *want = getenv(SESSION_FAULT_ENV);

	if (!want || strcmp(want, "after-claim") != 0)
		return 0;
	log_warn("%s=%s: failing here, after the claims", SESSION_FAULT_ENV, want);
	return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_RESTORE, -EIO,
			    "%s=after-claim: the handover failed at Go (test)", SESSION_FAULT_ENV);
}

int session_net_go(struct session *s, const WireGo *m)
{
	struct session_net *n = &s->net;
	uint64_t t0 = session_now_ns();
	int r = 0;

	if (m->n_move_addrs && !n->move_ip)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				    "Go moves addresses, but Commit did not say --move-ip");
	if (m->n_move_addrs) {
		n->claims = calloc(m->n_move_addrs, sizeof(*n->claims));
		if (!n->claims)
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -ENOMEM,
					    "out of memory");
	}
	for (size_t i = 0; r == 0 && i < m->n_move_addrs; i++)
		r = session_net_claim(s, m->move_addrs[i]);
	if (r == 0)
		r = session_net_fault(s);
	if (r == 0)
		session_net_announce(s, AF_INET6);
	n->claim_ns = session_now_ns() - t0;
	if (r < 0)
		return r;
	t0 = session_now_ns();
	r = session_net_release_held(s);
	n->resume_ns = session_now_ns() - t0;
	return r;
}

/* ---- undo ---- */

void session_net_undo(struct session *s)
{
	struct session_net *n = &s->net;

	/* Quiet first: a connection killed out of repair mode would reset the peer. */
	for (size_t i = 0; i < n->nr_held; i++) {
		int r = session_net_repair(n->held[i], 1);

		if (r < 0)
			log_warn("pid %u: a restored connection cannot go back to repair mode "
				 "(%s): its peer may see it closed",
				 s->pid, strerror(-r));
	}
	while (n->nr_claims) {
		struct ipmove_undo *u = &n->claims[--n->nr_claims];
		char text[INET6_ADDRSTRLEN];

		ipmove_addr_format(&u->addr, text, sizeof(text));
		if (ipmove_undo(-1, u) < 0)
			log_error("--move-ip: cannot remove %s from %s again: %s; remove it by "
				  "hand (ip addr del %s/%u dev %s)",
				  text, u->ifname, err_detail(), text, u->prefixlen, u->ifname);
		else
			log_info("--move-ip: %s removed from %s again", text, u->ifname);
	}
}

void session_net_fini(struct session *s)
{
	struct session_net *n = &s->net;

	for (size_t i = 0; i < n->nr_held; i++)
		close(n->held[i]);
	free(n->held);
	free(n->claims);
	memset(n, 0, sizeof(*n));
}
