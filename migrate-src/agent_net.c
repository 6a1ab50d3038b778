/*
 * agent_net: the source side of the network handover (ARCHITECTURE.md 7, dump_net.h).
 *
 *	prepare (nothing touched):   dump_net_scan (refusals by name), stale locks removed,
 *	                             --move-ip: every address to move is ours
 *	just before the freeze:      agent_net_rescan: the sockets of now (see there), then
 *	                             agent_net_lock: the connections' packets dropped
 *	frozen:                      dump_collect_state dumps the sockets (repair mode)
 *	after Ready, before Go:      --move-ip: agent_net_release_ips (undo kept)
 *	Go carries the addresses; the destination claims them, then its copies leave repair
 *	success (Verdict ok):        the source is killed (repair-mode sockets close silently),
 *	                             then agent_net_unlock
 *	failure before the process runs at the destination (an error, an Abort, a lost
 *	connection before Go, or a Verdict{ok=false}): agent_net_rollback puts the addresses
 *	back and announces them, unlocks; then dump_resume takes the sockets out of repair
 *	mode (their window probe gets through: the lock is gone) and the process runs on.
 *
 * Every address and lock operation is in the process's network namespace (dump_net's
 * netns_fd), which need not be the agent's.
 *
 * A tree: the scan covers the sockets of every member (dump_tree_net_extend; members with
 * sockets in another namespace are refused by name), so the lock, the addresses to move and
 * the repair-mode dump cover them all; dump_tree_resume takes every member's out of repair.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "agent_internal.h"
#include "dump_net.h"
#include "dump_tree_net.h"
#include "err.h"
#include "ipmove.h"
#include "log.h"
#include "netlock.h"

static uint64_t agent_net_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* A socket's local address as ipmove takes it (v4-mapped IPv6 as IPv4); false for the any
 * address and loopback: they exist on every host and never move. */
bool agent_net_local_addr(const struct sockdiag_sock *s, struct ipmove_addr *ret)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t zero[16];

	memset(ret, 0, sizeof(*ret));
	if (s->family == AF_INET6 && memcmp(s->src, v4mapped, 12) == 0) {
		ret->family = AF_INET;
		memcpy(ret->bytes, s->src + 12, 4);
	} else if (s->family == AF_INET || s->family == AF_INET6) {
		ret->family = s->family;
		memcpy(ret->bytes, s->src, s->family == AF_INET ? 4 : 16);
	} else {
		return false;
	}
	if (ret->family == AF_INET)
		return memcmp(ret->bytes, zero, 4) != 0 && ret->bytes[0] != 127;
	return memcmp(ret->bytes, zero, 16) != 0 &&
	       !IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)ret->bytes);
}

/* The distinct local addresses of the scanned sockets, in socket order. */
static int agent_net_collect_addrs(struct agent_net *n)
{
	const struct dump_net *scan = n->scan;

	n->addrs = calloc(scan->count ? scan->count : 1, sizeof(*n->addrs));
	if (!n->addrs)
		return err_setf(-ENOMEM, "out of memory");
	for (size_t i = 0; i < scan->count; i++) {
		struct ipmove_addr a;
		bool seen = false;

		if (!agent_net_local_addr(&scan->socks[i].diag, &a))
			continue;
		for (size_t j = 0; j < n->nr_addrs && !seen; j++)
			seen = memcmp(&n->addrs[j], &a, sizeof(a)) == 0;
		if (!seen)
			n->addrs[n->nr_addrs++] = a;
	}
	return 0;
}

/* --move-ip: every address to move is assigned in the process's namespace now. */
static int agent_net_check_owned(struct agent *a)
{
	struct agent_net *n = &a->net;

	for (size_t i = 0; i < n->nr_addrs; i++) {
		char text[INET6_ADDRSTRLEN];
		int r = ipmove_owns(n->scan->netns_fd, &n->addrs[i]);

		ipmove_addr_format(&n->addrs[i], text, sizeof(text));
		if (r < 0)
			return dump_err_wrap(
				r, "--move-ip: cannot tell whether %s is assigned here", text);
		if (r == 0)
			return err_setf(-EADDRNOTAVAIL,
					"--move-ip: pid %d has sockets bound to %s, which no "
					"interface of its network namespace has: nothing to move",
					a->opts->pid, text);
	}
	return 0;
}

int agent_net_prepare(struct agent *a)
{
	struct agent_net *n = &a->net;
	int r;

	r = dump_net_scan(a->opts->pid, a->opts->tcp_established, &n->scan);
	if (r < 0)
		return r;
	agent_root(a)->net = n->scan;
	/* A tree's members too (nginx: the workers hold the connections): one scan, one lock,
	 * one list of addresses; each member's collector checks against it (dump_tree_net.h). */
	if (a->tree.count > 1) {
		r = dump_tree_net_extend(&a->tree, n->scan);
		if (r < 0)
			return r;
	}
	a->rep->sockets = (unsigned int)n->scan->count;
	a->rep->established = (unsigned int)n->scan->established;
	if (!n->scan->count) {
		if (a->opts->move_ip)
			log_warn("--move-ip: pid %d has no TCP or UDP socket: no address to move",
				 a->opts->pid);
		return 0;
	}
	/* Leftovers of a run that was killed: not in the freeze window. */
	if (netlock_cleanup_stale(n->scan->netns_fd, NULL) < 0)
		log_debug("stale network locks: %s, ignoring", err_detail());
	if (!a->opts->move_ip)
		return 0;
	r = agent_net_collect_addrs(n);
	if (r == 0)
		r = agent_net_check_owned(a);
	return r;
}

/* Whether our own network namespace is the process's (where the addresses move from). */
static bool agent_net_same_netns(const struct agent_net *n)
{
	struct stat ours, its;

	return stat("/proc/self/ns/net", &ours) == 0 && fstat(n->scan->netns_fd, &its) == 0 &&
	       ours.st_ino == its.st_ino && ours.st_dev == its.st_dev;
}

/* --move-ip must not take away the address our own connection to the destination uses. */
static int agent_net_check_conn_addr(struct agent *a)
{
	struct agent_net *n = &a->net;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct sockdiag_sock me = { 0 };
	struct ipmove_addr mine;

	if (!n->nr_addrs || !agent_net_same_netns(n) ||
	    getsockname(a->conn.fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	me.family = (uint8_t)ss.ss_family;
	if (ss.ss_family == AF_INET)
		memcpy(me.src, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else if (ss.ss_family == AF_INET6)
		memcpy(me.src, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	if (!agent_net_local_addr(&me, &mine))
		return 0;
	for (size_t i = 0; i < n->nr_addrs; i++) {
		char text[INET6_ADDRSTRLEN];

		if (memcmp(&n->addrs[i], &mine, sizeof(mine)) != 0)
			continue;
		ipmove_addr_format(&mine, text, sizeof(text));
		return err_setf(-EADDRINUSE,
				"--move-ip would remove %s from this host, and the migration's own "
				"connection to %s comes from it: give this host another address "
				"toward the destination (the migration would lose its connection "
				"in the freeze window)",
				text, a->conn.peer);
	}
	return 0;
}

/* After the handshake: a destination without the feature would drop the sockets. */
int agent_net_check_peer(struct agent *a)
{
	if (!a->net.scan || !a->net.scan->count)
		return 0;
	if (!(a->conn.features & WIRE_FEATURE_NET))
		return err_setf(-EPROTONOSUPPORT,
				"pid %d has %zu TCP/UDP socket%s and %s does not take sockets (an "
				"older migrate-dst): update it",
				a->opts->pid, a->net.scan->count,
				a->net.scan->count == 1 ? "" : "s", a->conn.peer);
	return agent_net_check_conn_addr(a);
}

/* The sockets of every member as they are now, into fresh (on failure fresh is freed). */
static int agent_net_scan_now(struct agent *a, struct dump_net **fresh)
{
	int r = dump_net_scan(a->opts->pid, a->opts->tcp_established, fresh);

	if (r == 0 && a->tree.count > 1)
		r = dump_tree_net_extend(&a->tree, *fresh);
	if (r < 0) {
		dump_net_free(*fresh);
		*fresh = NULL;
	}
	return r;
}

/*
 * Just before the lock, the sockets are listed again: pre-copy can take seconds, and a server
 * accepts and closes connections meanwhile (nginx's workers). Locked and dumped are then the
 * sockets of now, and only one accepted in the few milliseconds up to the freeze still fails
 * it (dump_net_collect: -EAGAIN, retry). A rescan that fails (a connection caught closing)
 * keeps the first scan: the collector decides then, as it would have. Only when there were
 * sockets at the start: the destination's support for them was checked for those.
 */
int agent_net_rescan(struct agent *a)
{
	struct agent_net *n = &a->net;
	struct dump_net *fresh = NULL;
	int r;

	if (!n->scan || !n->scan->count)
		return 0;
	if (agent_net_scan_now(a, &fresh) < 0) {
		log_debug("pid %d: sockets listed again before the lock: %s; keeping the "
			  "first list",
			  a->opts->pid, err_detail());
		err_clear();
		for (size_t i = 0; i < a->tree.count; i++)
			a->tree.procs[i].net = n->scan; /* extend may have pointed some at fresh */
		return 0;
	}
	for (size_t i = 0; i < a->tree.count; i++)
		a->tree.procs[i].net = fresh;
	dump_net_free(n->scan);
	n->scan = fresh;
	a->rep->sockets = (unsigned int)fresh->count;
	a->rep->established = (unsigned int)fresh->established;
	if (!a->opts->move_ip)
		return 0;
	/* A connection accepted since is on an address of the same namespace: checked again. */
	free(n->addrs);
	n->addrs = NULL;
	n->nr_addrs = 0;
	r = agent_net_collect_addrs(n);
	return r < 0 ? r : agent_net_check_owned(a);
}

int agent_net_lock(struct agent *a)
{
	uint64_t t0 = agent_net_now();
	int r;

	if (!a->net.scan || !a->net.scan->count)
		return 0;
	r = dump_net_lock(a->net.scan, 0, &a->net.lock);
	a->rep->lock_ns = agent_net_now() - t0;
	if (r < 0)
		return dump_err_wrap(r, "cannot lock the network of pid %d", a->opts->pid);
	log_debug("network of pid %d locked (nftables table inet %s) in %.3f ms", a->opts->pid,
		  netlock_table_name(a->net.lock), a->rep->lock_ns / 1e6);
	return 0;
}

void agent_net_unlock(struct agent *a)
{
	uint64_t t0 = agent_net_now();

	if (!a->net.lock)
		return;
	if (netlock_release(&a->net.lock) < 0)
		log_warn("cannot remove the network lock of pid %d: %s (it goes when we exit)",
			 a->opts->pid, err_detail());
	a->rep->unlock_ns = agent_net_now() - t0;
}

/* One address off the source, its undo kept. */
static int agent_net_release_one(struct agent *a, const struct ipmove_addr *addr)
{
	struct agent_net *n = &a->net;
	char text[INET6_ADDRSTRLEN];
	int r;

	ipmove_addr_format(addr, text, sizeof(text));
	r = ipmove_release(n->scan->netns_fd, addr, &n->moved[n->nr_moved]);
	if (r < 0)
		return dump_err_wrap(r, "--move-ip: cannot remove %s from this host", text);
	log_debug("--move-ip: %s/%u removed from %s", text, n->moved[n->nr_moved].prefixlen,
		  n->moved[n->nr_moved].ifname);
	n->nr_moved++;
	return 0;
}

static int agent_net_go_addrs(struct agent_net *n);

/* --move-ip, after Ready: the addresses leave this host; Go will carry them. */
int agent_net_release_ips(struct agent *a)
{
	struct agent_net *n = &a->net;
	uint64_t t0 = agent_net_now();
	int r = 0;

	if (!a->opts->move_ip || !n->nr_addrs)
		return 0;
	n->moved = calloc(n->nr_addrs, sizeof(*n->moved));
	if (!n->moved)
		return err_setf(-ENOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < n->nr_addrs; i++)
		r = agent_net_release_one(a, &n->addrs[i]);
	if (r == 0)
		r = agent_net_go_addrs(n);
	a->rep->ip_release_ns = agent_net_now() - t0;
	return r;
}

/* The moved addresses as Go carries them (n->wire_ptrs, n->nr_moved of them). */
static int agent_net_go_addrs(struct agent_net *n)
{
	if (!n->nr_moved)
		return 0;
	n->wire = calloc(n->nr_moved, sizeof(*n->wire));
	n->wire_ptrs = calloc(n->nr_moved, sizeof(*n->wire_ptrs));
	if (!n->wire || !n->wire_ptrs)
		return err_setf(-ENOMEM, "out of memory");
	for (size_t i = 0; i < n->nr_moved; i++) {
		WireMoveAddr *w = &n->wire[i];
		const struct ipmove_undo *u = &n->moved[i];

		wire_move_addr__init(w);
		w->addr.data = (uint8_t *)u->addr.bytes;
		w->addr.len = u->addr.family == AF_INET ? 4 : 16;
		w->prefixlen = u->prefixlen;
		w->ifname = (char *)u->ifname;
		n->wire_ptrs[i] = w;
	}
	return 0;
}

/* The addresses back where they were, and the neighbours told, newest first. */
static void agent_net_restore_ips(struct agent *a)
{
	struct agent_net *n = &a->net;

	while (n->nr_moved) {
		struct ipmove_undo *u = &n->moved[--n->nr_moved];
		char text[INET6_ADDRSTRLEN];

		ipmove_addr_format(&u->addr, text, sizeof(text));
		if (ipmove_undo(n->scan->netns_fd, u) < 0) {
			log_error("--move-ip: cannot put %s back on %s: %s; add it by hand "
				  "(ip addr add %s/%u dev %s)",
				  text, u->ifname, err_detail(), text, u->prefixlen, u->ifname);
			continue;
		}
		if (ipmove_announce(n->scan->netns_fd, &u->addr, u->ifname) < 0)
			log_debug("--move-ip: %s is back on %s, announcing it failed: %s", text,
				  u->ifname, err_detail());
		log_info("--move-ip: %s is back on %s", text, u->ifname);
	}
}

void agent_net_rollback(struct agent *a)
{
	agent_net_restore_ips(a);
	agent_net_unlock(a);
}

/* After success the moved addresses belong to the destination: nothing to undo. */
void agent_net_commit(struct agent *a)
{
	a->rep->ips_moved = (unsigned int)a->net.nr_moved;
	a->net.nr_moved = 0;
}

void agent_net_fini(struct agent *a)
{
	struct agent_net *n = &a->net;

	(void)netlock_release(&n->lock);
	for (size_t i = 0; i < a->tree.count; i++)
		a->tree.procs[i].net = NULL; /* every member's points at n->scan */
	dump_net_free(n->scan);
	free(n->addrs);
	free(n->moved);
	free(n->wire);
	free(n->wire_ptrs);
	memset(n, 0, sizeof(*n));
}
