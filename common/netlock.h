/*
 * netlock: the network lock. While a process's connections are checkpointed
 * and re-created elsewhere, their packets are dropped in both directions, so
 * the peer sees a pause and retransmits, and never a reset.
 *
 * Call sequence (source side, around the freeze window):
 *
 *	(void)netlock_cleanup_stale(-1, NULL);         leftovers of a crashed run
 *	struct netlock_conn c[n];                      one per socket (netlock_conn_from_sock())
 *	r = netlock_acquire(netns_fd, c, n, 0, &lock); packets of c[] now dropped
 *	... tcp_repair_dump(), send, wait for the destination ...
 *	netlock_release(&lock);                        success or failure: always
 *
 * How it is done: one nftables table per lock, "inet migrate_lock_<pid>_<start>_<n>"
 * (<pid> and <start>, the owner's PID and start time in clock ticks, tell a
 * later run whether the owner still lives; <n> counts the owner's locks), with
 * two base chains at priority -300 (before conntrack) on the input and output
 * hooks, and one drop rule per connection and direction. A table of its own
 * per lock, rather than chains in a shared table: releasing is one DELTABLE
 * that takes chains and rules with it, nobody else's rules are ever touched,
 * two locks (two migrations) never contend for a shared object, and the
 * table can carry the kernel's owner flag, which a shared table could not.
 *
 * Crash safety, twice over: the table is created with NFT_TABLE_F_OWNER, so
 * the kernel deletes it by itself when the netlink socket that made it closes
 * (the lock keeps it open; a SIGKILLed owner closes it). For tables made
 * without it (NETLOCK_F_NOT_OWNED) netlock_cleanup_stale() deletes those
 * whose owner is gone, judged from the name against /proc (so it must run in
 * the owner's PID namespace; a table it cannot judge is left alone).
 *
 * All rules go in in one nfnetlink batch: the kernel applies the whole lock
 * or nothing. Release is one batch too.
 *
 * How nftables is spoken to: raw nfnetlink (a netlink socket, NETLINK_NETFILTER),
 * not libnftables nor the nft binary. The messages needed are few and fixed
 * (a table, two chains, rules of meta/payload/cmp/immediate expressions); the
 * owner flag needs the netlink socket to stay open for the lock's lifetime,
 * which only a socket of our own guarantees (libnftables opens and closes its
 * own as it likes); running the nft binary would fork in the freeze window and
 * depend on a program in PATH; libnftables (a parser and a JSON library
 * behind it) is a new dependency the project would carry for three message
 * kinds. libnl3, the declared netlink dependency, has no nf_tables support.
 *
 * Every call needs CAP_NET_ADMIN in the network namespace; netns_fd is an fd
 * of /proc/PID/ns/net (entering it needs CAP_SYS_ADMIN) or -1 for the calling
 * thread's own. No call prints; errors are -errno with the detail in err_detail().
 */
#ifndef MIGRATE_NETLOCK_H
#define MIGRATE_NETLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockdiag_sock;

/*
 * One socket's traffic. Both directions are dropped: packets from peer to
 * local (input hook) and from local to peer (output hook). An all-zero peer
 * address and peer port 0 mean any peer (a listener, an unconnected UDP
 * socket); an all-zero local address means any local address (a socket bound
 * to 0.0.0.0 or ::). An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is matched
 * as the IPv4 packets that carry it. An AF_INET6 entry with both addresses
 * all zero (a dual-stack listener or UDP socket on [::]) locks IPv4 on that
 * port as well.
 */
struct netlock_conn {
	uint8_t family;	   /* AF_INET or AF_INET6 */
	uint8_t protocol;  /* IPPROTO_TCP or IPPROTO_UDP */
	uint8_t local[16]; /* network order; 4 bytes used for AF_INET */
	uint8_t peer[16];
	uint16_t local_port; /* host order; never 0 */
	uint16_t peer_port;  /* host order; 0: any */
};

/* A lock held; opaque. */
struct netlock;

/* Leave the table to outlive the socket that made it (no NFT_TABLE_F_OWNER):
 * only netlock_release() or, after a crash, netlock_cleanup_stale() remove it. */
#define NETLOCK_F_NOT_OWNED (1u << 0)

/* A lock meant to outlive its owner on purpose (a local dump whose connections wait for
 * `migrate restore`): not owned, and named "migrate_dumplock_..." so that
 * netlock_cleanup_stale() leaves it alone; netlock_remove_table() removes it by name. */
#define NETLOCK_F_PERSIST (1u << 1)

/* Most connections one lock takes (two rules each). */
#define NETLOCK_MAX_CONNS 4096

/* Fills *ret from a socket sock_diag listed (its src is the local side). */
void netlock_conn_from_sock(const struct sockdiag_sock *s, struct netlock_conn *ret);

/*
 * Drops the packets of conns[0..n) in the network namespace netns_fd, from
 * now until netlock_release(). n may be 0 (a lock with nothing in it: the
 * table still exists). *ret (the caller's, freed by netlock_release()) is
 * untouched on failure, where nothing is left in the kernel. flags: 0 or
 * NETLOCK_F_NOT_OWNED. Errors: -EINVAL for a bad conn (its index in
 * err_detail()), -E2BIG above NETLOCK_MAX_CONNS, -EPERM without
 * CAP_NET_ADMIN, -ENOMEM, or the kernel's error for the batch (with the
 * refused message in err_detail()).
 */
int netlock_acquire(int netns_fd, const struct netlock_conn *conns, size_t n, unsigned int flags,
		    struct netlock **ret) __attribute__((warn_unused_result));

/*
 * Deletes the lock's table (traffic flows again), frees the lock and sets
 * *lockp to NULL, so that calling it again (every error path may) does
 * nothing; lockp or *lockp NULL is fine. A table already gone is not an
 * error. Returns 0, or -errno when the table could not be deleted (the lock
 * is freed anyway: an owned table then goes with its socket, closed here; a
 * NOT_OWNED one stays for netlock_cleanup_stale()).
 */
int netlock_release(struct netlock **lockp);

/*
 * Frees the lock and closes its netlink socket but leaves its table in the kernel, and sets
 * *lockp to NULL (NULL is fine): how a local dump hands a NETLOCK_F_PERSIST lock over to the
 * restore (netlock_remove_table()). An owned table goes with the socket, as after a crash.
 */
void netlock_leave(struct netlock **lockp);

/* The lock's table name ("migrate_lock_..."), for messages and tests. */
const char *netlock_table_name(const struct netlock *lock);

/*
 * Deletes the migrate_lock_* tables of netns_fd whose owner process no
 * longer runs (or was replaced by another process with the same PID), in
 * one batch. Tables of live owners, owned tables (the kernel removes those)
 * and names it cannot parse are left alone. *ret_removed (may be NULL) gets
 * how many were deleted. Errors: as netlock_acquire().
 */
int netlock_cleanup_stale(int netns_fd, unsigned int *ret_removed)
	__attribute__((warn_unused_result));

/*
 * Deletes the lock table called name (a "migrate_lock_..." or "migrate_dumplock_..." name,
 * as netlock_table_name() gave it; anything else is refused with -EINVAL) from netns_fd:
 * how `migrate restore` ends a persistent lock. -ENOENT when there is no such table.
 */
int netlock_remove_table(int netns_fd, const char *name) __attribute__((warn_unused_result));

/*
 * Whether an inet table of that name exists in netns_fd: 1 yes, 0 no, or
 * -errno. For tests and checks.
 */
int netlock_table_exists(int netns_fd, const char *name) __attribute__((warn_unused_result));

#endif
