/*
 * sockdiag_unix: what the kernel tells of one unix socket, by inode, from NETLINK_SOCK_DIAG
 * (UNIX_DIAG: the interface behind `ss -x`).
 *
 * Call sequence, for the unix socket fds of a process:
 *
 *	int nl;
 *	r = sockdiag_unix_open(netns_fd, &nl);          -1: the caller's netns
 *	for each socket fd ("socket:[INODE]", sockdiag_parse_fd_link):
 *		struct sockdiag_unix s;
 *		r = sockdiag_unix_get(nl, inode, &s);      -ENOENT: not known by inode
 *		... s.peer_inode, s.name, s.icons ...
 *		sockdiag_unix_fini(&s);
 *	close(nl);
 *
 * The kernel finds a socket by inode in the namespace of the netlink socket only, so nl must
 * be opened in the namespace of the process whose sockets are asked about.
 *
 * No call prints; errors are -errno with the detail in err_detail().
 */
#ifndef MIGRATE_SOCKDIAG_UNIX_H
#define MIGRATE_SOCKDIAG_UNIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOCKDIAG_UNIX_NAME_MAX 108 /* sizeof(sun_path) */

/* sk_shutdown bits (UNIX_DIAG_SHUTDOWN) */
#define SOCKDIAG_UNIX_RCV_SHUTDOWN 1
#define SOCKDIAG_UNIX_SEND_SHUTDOWN 2

struct sockdiag_unix {
	uint64_t inode;
	uint64_t peer_inode; /* the other end of a connection, 0 when none (or it is gone) */
	uint8_t type;	     /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint8_t state;	     /* 1 connected, 7 unconnected, 10 listening (TCP_* numbers) */
	uint8_t shutdown;    /* SOCKDIAG_UNIX_*_SHUTDOWN bits */
	bool has_rqlen;
	uint32_t rqueue; /* listening: connections not yet accepted; else bytes unread */
	uint32_t wqueue; /* listening: backlog; else bytes sent and not yet read by the peer */
	bool has_vfs;
	uint32_t vfs_ino; /* bound to a path: the socket file's inode and device */
	uint32_t vfs_dev;
	size_t name_len; /* bytes of name; 0 unnamed; abstract names start with a NUL */
	uint8_t name[SOCKDIAG_UNIX_NAME_MAX];
	uint64_t *icons; /* listening: inodes of the connections not yet accepted (malloc'd) */
	size_t n_icons;
};

/* A NETLINK_SOCK_DIAG socket in network namespace netns_fd (-1: ours) into *ret_fd. */
int sockdiag_unix_open(int netns_fd, int *ret_fd) __attribute__((warn_unused_result));

/* Fills *ret (free with sockdiag_unix_fini) with the socket of that inode, asked of nl (see
 * sockdiag_unix_open). -ENOENT when the kernel does not find it. *ret untouched on failure. */
int sockdiag_unix_get(int nl, uint64_t inode, struct sockdiag_unix *ret)
	__attribute__((warn_unused_result));

/* Frees what *s holds; accepts a zeroed one. */
void sockdiag_unix_fini(struct sockdiag_unix *s);

/*
 * Parses the answer (what one recv() returned) to request seq into *ret (zeroed first; free
 * with sockdiag_unix_fini even on failure). 0 with the socket, the kernel's error (-ENOENT
 * ...), or -EPROTO (err_setf) for a malformed or truncated answer. Exposed for tests.
 */
int sockdiag_unix_parse(const void *buf, size_t len, uint32_t seq, struct sockdiag_unix *ret)
	__attribute__((warn_unused_result));

struct UnixSocketEntry;

/*
 * Whether an image's UnixSocketEntry is coherent before restore uses it: known type and state,
 * names within sun_path (a path absolute and without NULs), a backlog only on a listener, an
 * external peer with a name, bounded unread data (datagram senders only on datagram sockets).
 * 0, or -EINVAL with the offending field in err_detail().
 */
int sockdiag_unix_entry_check(const struct UnixSocketEntry *u) __attribute__((warn_unused_result));

/* "@name" for an abstract name (NULs inside shown as '@'), the path for a path, "(unnamed)"
 * for none; truncated to fit. Returns buf. */
char *sockdiag_unix_format_name(const uint8_t *name, size_t len, char *buf, size_t size);

#endif
