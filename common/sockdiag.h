/*
 * sockdiag: the TCP and UDP sockets of a network namespace, by inode, from
 * NETLINK_SOCK_DIAG (the interface behind `ss`).
 *
 * Call sequence, to learn what a process's socket fds are:
 *
 *	struct sockdiag_sock *socks;
 *	size_t n;
 *	r = sockdiag_list_tcp(netns_fd, &socks, &n);      -1: the caller's netns
 *	for each /proc/PID/fd/N:
 *		readlink -> "socket:[12345]"
 *		if (sockdiag_parse_fd_link(link, &inode) == 0)
 *			s = sockdiag_find(socks, n, inode);  NULL: not TCP (unix, netlink, ...)
 *	free(socks);
 *
 * Raw netlink rather than libnl3: the request is one fixed struct and the
 * answer a flat list of inet_diag_msg; libnl's sock_diag part (libnl-idiag)
 * is a separate library the project does not otherwise need (not installed
 * here), and a plain parser over a buffer is what the hostile-input tests
 * feed. libnl-route stays the one place for addresses and links.
 *
 * No call prints; errors are -errno with the detail in err_detail().
 */
#ifndef MIGRATE_SOCKDIAG_H
#define MIGRATE_SOCKDIAG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockdiag_sock {
	uint64_t inode;	  /* 0 for sockets without a file (TIME_WAIT, not yet accepted) */
	uint64_t cookie;  /* the kernel's socket cookie */
	uint8_t family;	  /* AF_INET or AF_INET6 */
	uint8_t protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	uint8_t state;	  /* TCP state number (tcp_repair_state_name()); UDP: 1 connected, 7 not */
	uint32_t uid;
	uint32_t ifindex; /* bound device, 0 for none */
	uint32_t rqueue;  /* TCP: bytes unread (listener: accept queue length); UDP: rmem */
	uint32_t wqueue;  /* TCP: bytes unacknowledged (listener: backlog); UDP: wmem */
	uint8_t src[16];  /* network order; 4 bytes used for AF_INET */
	uint8_t dst[16];
	uint16_t sport; /* host order */
	uint16_t dport;
};

/*
 * Lists the TCP (resp. UDP, resp. both) sockets, IPv4 and IPv6, of the
 * network namespace netns_fd (an fd of /proc/PID/ns/net; -1: the calling
 * thread's). The array (*ret, *ret_n entries, NULL when 0) is the caller's to
 * free(); untouched on failure. Entering netns_fd needs CAP_SYS_ADMIN; the
 * calling thread is back in its own namespace when the call returns, or the
 * call fails with -ENOTRECOVERABLE and says so.
 */
int sockdiag_list_tcp(int netns_fd, struct sockdiag_sock **ret, size_t *ret_n)
	__attribute__((warn_unused_result));
int sockdiag_list_udp(int netns_fd, struct sockdiag_sock **ret, size_t *ret_n)
	__attribute__((warn_unused_result));
int sockdiag_list_inet(int netns_fd, struct sockdiag_sock **ret, size_t *ret_n)
	__attribute__((warn_unused_result));

/* The entry with that inode, or NULL. Inode 0 never matches. */
const struct sockdiag_sock *sockdiag_find(const struct sockdiag_sock *socks, size_t n,
					  uint64_t inode);

/*
 * "127.0.0.1:8080 -> 127.0.0.1:40000", "[::1]:80 -> [::1]:5555" (no peer part
 * when the socket has none), for messages that list connections. Truncated
 * to fit; returns buf.
 */
#define SOCKDIAG_FORMAT_MAX 112
char *sockdiag_format(const struct sockdiag_sock *s, char *buf, size_t size);

/* "socket:[12345]" (a readlink of /proc/PID/fd/N) -> 12345. -EINVAL for anything else. */
int sockdiag_parse_fd_link(const char *link, uint64_t *ret_inode)
	__attribute__((warn_unused_result));

/*
 * Parses one netlink answer (what one recv() returned) of a dump with
 * sequence number seq, appending its sockets to *socks (*n entries, *cap
 * allocated; start with NULL, 0, 0; free(*socks) whatever the result).
 * Returns 1 when the dump's NLMSG_DONE was in it, 0 when more is to come,
 * -EPROTO for a malformed message, or the kernel's error. Exposed for tests.
 */
int sockdiag_parse(const void *buf, size_t len, uint32_t seq, uint8_t protocol,
		   struct sockdiag_sock **socks, size_t *n, size_t *cap)
	__attribute__((warn_unused_result));

#endif
