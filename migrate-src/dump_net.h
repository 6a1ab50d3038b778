/*
 * dump_net: the inet sockets (TCP and UDP, IPv4 and IPv6) of a process being dumped or
 * migrated, and the network lock over exactly those sockets.
 *
 * Call sequence (dump_run, and the live-migration agent around its freeze window):
 *
 *	struct dump_net *net;
 *	r = dump_net_scan(pid, tcp_established, &net);  before the process is touched: refuses
 *	                                                established connections without the flag
 *	                                                and unsupported states, by name
 *	proc->net = net;                                so the collector checks against it
 *	dump_seize(proc);
 *	struct netlock *lock = NULL;
 *	r = dump_net_lock(net, 0, &lock);               at the start of the freeze (see below)
 *	dump_collect_state(opts, proc);                 fds, then dump_net_collect(): every socket
 *	                                                fd gets its TcpSocketEntry; established
 *	                                                ones are left IN repair mode
 *	success: kill the process                       a socket closed in repair mode sends
 *	         netlock_release(&lock)                 nothing to its peer
 *	failure: netlock_release(&lock)                 first, so the window probe of the resume
 *	         dump_resume(proc)                      gets through: dump_resume() takes the
 *	                                                sockets out of repair mode
 *	                                                (dump_net_resume()) before it detaches
 *	dump_net_free(net);
 *
 * Lock once frozen rather than just before, as CRIU does: a process running under the lock
 * sees its UDP sends fail with EPERM (netfilter drops on output), and TCP sends wait for a
 * retransmission; while it is frozen the kernel keeps its connections going until the lock
 * holds, and dump_net_collect() reads them only after. The lock costs ~0.5 ms of the window.
 *
 * A local dump (`migrate dump --tcp-established`) cannot release the lock at its end: the
 * connections no longer exist anywhere until `migrate restore` re-creates them, and a packet
 * of the peer meanwhile would draw a reset. It takes a second lock that outlives it
 * (NETLOCK_F_PERSIST), names its table in the inventory, and restore removes it once the
 * sockets exist again.
 *
 * Errors are -errno with a whole sentence for the user in err_detail(); nothing prints.
 */
#ifndef MIGRATE_DUMP_NET_H
#define MIGRATE_DUMP_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image.h"
#include "sockdiag.h"

struct netlock;

/* One inet socket fd of the process. */
struct dump_net_sock {
	int fd;			   /* its number in the process */
	struct sockdiag_sock diag; /* as sock_diag listed it; diag.inode is the socket's */
};

/* The inet sockets of one process, as dump_net_scan() found them. */
struct dump_net {
	pid_t pid;
	bool tcp_established;	     /* established connections were allowed (--tcp-established) */
	int netns_fd;		     /* /proc/PID/ns/net, for the lock and the collector */
	struct dump_net_sock *socks; /* by fd number */
	size_t count;
	size_t established; /* how many of them are TCP ESTABLISHED */
};

/*
 * Lists the inet socket fds of pid, each with its sock_diag entry (from the process's own
 * network namespace). Refuses, before anything is touched:
 *  - established TCP connections unless tcp_established: -EPERM, listing every connection
 *    (local and peer address) and naming --tcp-established;
 *  - TCP sockets in any state but ESTABLISHED and LISTEN: -EOPNOTSUPP naming the state
 *    (SYN_SENT, CLOSE_WAIT, ...), the fd and the addresses;
 *  - a socket sock_diag does not know (a raw socket, SCTP, ...): -EOPNOTSUPP.
 * Other sockets (unix, netlink, ...) are not listed here: the fd table refuses them.
 * *ret (dump_net_free) is untouched on failure. A process without inet sockets gets a
 * dump_net with count 0.
 */
int dump_net_scan(pid_t pid, bool tcp_established, struct dump_net **ret)
	__attribute__((warn_unused_result));

/*
 * netlock_acquire() over exactly net's sockets (both directions; listeners and unconnected
 * UDP sockets for any peer), in the process's network namespace. flags: NETLOCK_F_*. A net
 * with no socket takes no lock: *ret is set to NULL and 0 returned (netlock_release(NULL)
 * is fine). *ret is untouched on failure.
 */
int dump_net_lock(const struct dump_net *net, unsigned int flags, struct netlock **ret)
	__attribute__((warn_unused_result));

/*
 * The frozen pass: for every socket fd among fds (FdEntry records of pid, kind
 * FD_INET_SOCKET, all threads stopped, network locked), reads its state with
 * tcp_repair_dump() on a pidfd_getfd() copy into the record's inet field. Established
 * connections are left IN repair mode (undo: dump_net_resume()); on failure every socket
 * this call put in repair mode is taken out again. net (may be NULL: no check) is the scan
 * the lock was made from: a socket that is not in it is refused (it is not locked), and
 * net->tcp_established overrides tcp_established.
 */
int dump_net_collect(pid_t pid, const struct dump_net *net, bool tcp_established, FdEntry **fds,
		     size_t count) __attribute__((warn_unused_result));

/*
 * Takes every established socket among fds (records that dump_net_collect() filled) out of
 * repair mode, through a new copy of the process's fd (the same socket): rollback of a
 * failed dump or migration, and --leave-running. Safe to call more than once, and on
 * sockets never put in repair mode. Goes on after a failure; returns the first error.
 */
int dump_net_resume(pid_t pid, FdEntry *const *fds, size_t count)
	__attribute__((warn_unused_result));

/* NULL is fine. */
void dump_net_free(struct dump_net *net);

#endif
