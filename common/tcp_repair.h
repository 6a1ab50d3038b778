/*
 * tcp_repair: checkpoint and re-create inet sockets, established TCP
 * connections included, with TCP_REPAIR (needs CAP_NET_ADMIN in the socket's
 * network namespace).
 *
 * Checkpoint, in the freeze window, with the connection's packets dropped by
 * the network lock (otherwise data arriving during the dump is refused with
 * -EAGAIN rather than half-read):
 *
 *	fd = pidfd_getfd(pidfd, target_fd, 0);      a copy of the process's socket
 *	r = tcp_repair_dump(fd, &entry);            now in repair mode (TCP ESTABLISHED)
 *	... send entry; wait for the destination's verdict ...
 *	success: close(fd) and kill the process     closed in repair mode: the peer sees nothing
 *	failure: tcp_repair_resume(fd); close(fd)   the connection carries on where it was
 *	tcp_repair_entry_free(entry);
 *
 * Restore, before the process gets the fd:
 *
 *	r = tcp_repair_restore(entry, &fd);         bound, connected, queues filled, out of repair
 *	... dup2(fd, original_fd) in the new process ...
 *
 * Repair mode is a property of the socket, not of the fd, so the copy in the
 * agent is enough; the process's own fds need nothing.
 *
 * The network lock must hold from before the dump until the restored socket
 * exists: a socket in repair mode still receives (and acknowledges) data,
 * which a dump already taken would then lose; and a packet that arrives
 * while no socket owns the connection draws a reset from the kernel.
 *
 * What is handled (anything else is refused by name, with err_detail()):
 *   - TCP ESTABLISHED, IPv4 and IPv6 (v4-mapped too): send queue (sent and
 *     unsent parts), receive queue, sequence numbers, MSS, window scale, SACK,
 *     timestamps and the timestamp clock, TCP_REPAIR_WINDOW, options.
 *   - TCP LISTEN: address, backlog, options; re-created with bind+listen. A
 *     listener cannot enter repair mode: connections it had not accepted yet
 *     are lost (their peers see a reset when the old listener closes).
 *   - UDP, unbound, bound or connected, with options. Queued datagrams are
 *     not carried.
 * Refused: SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE_WAIT,
 * LAST_ACK, CLOSING and an unconnected TCP socket (CLOSE). Half-closed
 * connections need the FIN's sequence carried: not done yet. Urgent (MSG_OOB)
 * data is not carried.
 *
 * Options carried: TCP_NODELAY, SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT,
 * SO_SNDBUF, SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, O_NONBLOCK.
 * Restoring the buffer sizes locks them at the dumped value (the kernel's
 * autotuning stops for that socket), as setsockopt() always does.
 *
 * No call prints; errors are -errno with the detail in err_detail().
 */
#ifndef MIGRATE_TCP_REPAIR_H
#define MIGRATE_TCP_REPAIR_H

#include "socket.pb-c.h"

#include <stdint.h>

/* Largest queue tcp_repair_restore() accepts from an entry: far above what
 * the kernel's tcp_wmem/tcp_rmem maxima (a few MiB) ever let a socket hold. */
#define TCP_REPAIR_QUEUE_MAX (64u << 20)

/*
 * Reads everything tcp_repair_restore() needs from sockfd (a TCP or UDP inet
 * socket) into a new entry (*ret, freed with tcp_repair_entry_free()).
 * An ESTABLISHED socket is left IN repair mode on success, out of it on
 * failure; listeners and UDP sockets never enter it. *ret is untouched on
 * failure. Errors: -EOPNOTSUPP for a kind or state not handled (the state is
 * named in err_detail()), -EPERM without CAP_NET_ADMIN, -EAGAIN when data
 * kept arriving during the dump (lock the network first), -EFBIG for a queue
 * above TCP_REPAIR_QUEUE_MAX, -ENOMEM, or the errno of the failing call.
 */
int tcp_repair_dump(int sockfd, TcpSocketEntry **ret) __attribute__((warn_unused_result));

/*
 * Takes sockfd out of repair mode (rollback after a failed migration). The
 * kernel sends a window probe, which makes the peer acknowledge at once what
 * it has: after a network lock that recovers the connection without waiting
 * for a retransmission timeout. A socket not in repair mode (a listener, UDP)
 * is left alone. Known limit: the kernel clears SO_REUSEADDR when leaving
 * repair mode; an established socket has no use for it any more.
 */
int tcp_repair_resume(int sockfd) __attribute__((warn_unused_result));

/*
 * Checks that e is coherent (family, address lengths, ports, queue sizes,
 * window scale, ...) without touching the system. 0 or -EINVAL with the
 * offending field in err_detail(). tcp_repair_restore() calls it first.
 */
int tcp_repair_entry_check(const TcpSocketEntry *e) __attribute__((warn_unused_result));

/*
 * Creates a new socket in the calling thread's network namespace that is
 * the socket e describes: an ESTABLISHED connection is re-created in repair
 * mode (no packet sent), its queues filled, then it leaves repair mode with
 * TCP_REPAIR_OFF_NO_WP; data that was never sent is then queued normally. The
 * local address need not be assigned yet (IP_FREEBIND), but it must be by
 * the time the peer's packets arrive. *ret_fd (O_CLOEXEC, blocking unless e
 * says otherwise) is the caller's; untouched on failure, where nothing is
 * left behind. Errors: -EINVAL for an incoherent entry, -EPERM without
 * CAP_NET_ADMIN, -EADDRNOTAVAIL when the same connection (both addresses and
 * ports) still exists here (close the old socket first), -EADDRINUSE when a
 * listener's or UDP socket's address is taken, or the errno of the failing
 * call.
 */
int tcp_repair_restore(const TcpSocketEntry *e, int *ret_fd) __attribute__((warn_unused_result));

/* Frees an entry from tcp_repair_dump() or one unpacked by protobuf-c; NULL is fine. */
void tcp_repair_entry_free(TcpSocketEntry *e);

/* "ESTABLISHED", "SYN_SENT", ... for a TCP state number; "UNKNOWN" otherwise. */
const char *tcp_repair_state_name(unsigned int state);

#endif
