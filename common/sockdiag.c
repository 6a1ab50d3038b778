/*
 * sockdiag: see sockdiag.h. One SOCK_DIAG_BY_FAMILY dump request per
 * (family, protocol), all states, no extensions: the fixed inet_diag_msg
 * carries everything asked for here.
 */
#include "sockdiag.h"
#include "netns.h"

#include "err.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECV_BUF_SIZE (32u << 10)
#define MAX_SOCKETS (1u << 20) /* refuse an answer that would grow without end */

/* A netlink socket belongs to the namespace it was created in (netns.h). */
static int diag_socket_in(int netns_fd)
{
	int saved, fd, r = netns_enter(netns_fd, &saved);

	if (r < 0)
		return r;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		r = err_setf(errno, "netlink socket in namespace fd %d: %s", netns_fd,
			     strerror(errno));
	r = netns_leave(saved, fd < 0 ? r : fd);
	if (r < 0 && fd >= 0)
		close(fd);
	return r;
}

static int diag_request(int fd, uint8_t family, uint8_t protocol, uint32_t seq)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = {
			.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = seq,
		},
		.req = {
			.sdiag_family = family,
			.sdiag_protocol = protocol,
			.idiag_states = ~0u,
		},
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return err_setf(errno, "sock_diag request: %s", strerror(errno));
	return 0;
}

static int append(struct sockdiag_sock **socks, size_t *n, size_t *cap,
		  const struct inet_diag_msg *m, uint8_t protocol)
{
	struct sockdiag_sock *s;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		if (ncap > MAX_SOCKETS)
			return err_setf(E2BIG, "more than %u sockets", MAX_SOCKETS);
		s = realloc(*socks, ncap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		*socks = s;
		*cap = ncap;
	}
	s = &(*socks)[(*n)++];
	memset(s, 0, sizeof(*s));
	s->inode = m->idiag_inode;
	s->cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
	s->family = m->idiag_family;
	s->protocol = protocol;
	s->state = m->idiag_state;
	s->uid = m->idiag_uid;
	s->ifindex = m->id.idiag_if;
	s->rqueue = m->idiag_rqueue;
	s->wqueue = m->idiag_wqueue;
	memcpy(s->src, m->id.idiag_src, m->idiag_family == AF_INET ? 4 : 16);
	memcpy(s->dst, m->id.idiag_dst, m->idiag_family == AF_INET ? 4 : 16);
	s->sport = ntohs(m->id.idiag_sport);
	s->dport = ntohs(m->id.idiag_dport);
	return 0;
}

/* One message of the answer: 1 done, 0 go on, < 0 error. h was length-checked. */
static int parse_one(const struct nlmsghdr *h, const uint8_t *payload, size_t plen,
		     uint8_t protocol, struct sockdiag_sock **socks, size_t *n, size_t *cap)
{
	struct inet_diag_msg m;
	struct nlmsgerr e;

	switch (h->nlmsg_type) {
	case NLMSG_DONE:
		return 1;
	case NLMSG_ERROR:
		if (plen < sizeof(e.error))
			return err_setf(EPROTO, "sock_diag: truncated error message");
		memcpy(&e.error, payload, sizeof(e.error));
		if (e.error >= 0)
			return err_setf(EPROTO, "sock_diag: error message without an error");
		return err_setf(e.error, "sock_diag: kernel refused: %s", strerror(-e.error));
	case SOCK_DIAG_BY_FAMILY:
		if (plen < sizeof(m))
			return err_setf(EPROTO, "sock_diag: socket message of %zu bytes, below %zu",
					plen, sizeof(m));
		memcpy(&m, payload, sizeof(m));
		if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6)
			return err_setf(EPROTO, "sock_diag: socket of family %u", m.idiag_family);
		return append(socks, n, cap, &m, protocol);
	default:
		return 0; /* NLMSG_NOOP, NLMSG_OVERRUN-less kinds: nothing for us */
	}
}

int sockdiag_parse(const void *buf, size_t len, uint32_t seq, uint8_t protocol,
		   struct sockdiag_sock **socks, size_t *n, size_t *cap)
{
	const uint8_t *p = buf;

	while (len > 0) {
		struct nlmsghdr h;
		size_t step;
		int r;

		if (len < sizeof(h))
			return err_setf(EPROTO, "sock_diag: %zu stray bytes after the last message",
					len);
		memcpy(&h, p, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
			return err_setf(EPROTO,
					"sock_diag: message length %" PRIu32 " with %zu "
					"bytes left",
					h.nlmsg_len, len);
		if (h.nlmsg_seq != seq)
			return err_setf(EPROTO,
					"sock_diag: answer to request %" PRIu32 ", expected "
					"%" PRIu32,
					h.nlmsg_seq, seq);
		r = parse_one(&h, p + NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN, protocol, socks, n,
			      cap);
		if (r != 0)
			return r;
		step = NLMSG_ALIGN(h.nlmsg_len);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return 0;
}

static int diag_dump(int fd, uint8_t family, uint8_t protocol, uint32_t seq,
		     struct sockdiag_sock **socks, size_t *n, size_t *cap)
{
	uint8_t *buf = malloc(RECV_BUF_SIZE);
	int r;

	if (!buf)
		return -ENOMEM;
	r = diag_request(fd, family, protocol, seq);
	while (r == 0) {
		ssize_t got = recv(fd, buf, RECV_BUF_SIZE, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = err_setf(got < 0 ? errno : EPROTO, "sock_diag answer: %s",
				     got < 0 ? strerror(errno) : "connection closed");
			break;
		}
		r = sockdiag_parse(buf, (size_t)got, seq, protocol, socks, n, cap);
	}
	free(buf);
	return r < 0 ? r : 0;
}

static int list(int netns_fd, bool tcp, bool udp, struct sockdiag_sock **ret, size_t *ret_n)
{
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	struct sockdiag_sock *socks = NULL;
	size_t n = 0, cap = 0;
	uint32_t seq = 1;
	int fd, r = 0;

	fd = diag_socket_in(netns_fd);
	if (fd < 0)
		return fd;
	for (size_t i = 0; r == 0 && i < sizeof(families); i++) {
		if (tcp)
			r = diag_dump(fd, families[i], IPPROTO_TCP, seq++, &socks, &n, &cap);
		if (r == 0 && udp)
			r = diag_dump(fd, families[i], IPPROTO_UDP, seq++, &socks, &n, &cap);
	}
	close(fd);
	if (r < 0) {
		free(socks);
		return r;
	}
	log_debug("sockdiag: %zu sockets", n);
	if (n == 0) {
		free(socks);
		socks = NULL;
	}
	*ret = socks;
	*ret_n = n;
	return 0;
}

int sockdiag_list_tcp(int netns_fd, struct sockdiag_sock **ret, size_t *ret_n)
{
	return list(netns_fd, true, false, ret, ret_n);
}

int sockdiag_list_udp(int netns_fd, struct sockdiag_sock **ret, size_t *ret_n)
{
	return list(netns_fd, false, true, ret, ret_n);
}

int sockdiag_list_inet(int netns_fd, struct sockdiag_sock **ret, size_t *ret_n)
{
	return list(netns_fd, true, true, ret, ret_n);
}

const struct sockdiag_sock *sockdiag_find(const struct sockdiag_sock *socks, size_t n,
					  uint64_t inode)
{
	for (size_t i = 0; inode && i < n; i++)
		if (socks[i].inode == inode)
			return &socks[i];
	return NULL;
}

static void format_endpoint(uint8_t family, const uint8_t *addr, uint16_t port, char *buf,
			    size_t size)
{
	char text[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family, addr, text, sizeof(text));
	snprintf(buf, size, family == AF_INET6 ? "[%s]:%u" : "%s:%u", text, port);
}

char *sockdiag_format(const struct sockdiag_sock *s, char *buf, size_t size)
{
	static const uint8_t zero[16];
	char local[INET6_ADDRSTRLEN + 8], peer[INET6_ADDRSTRLEN + 8];

	format_endpoint(s->family, s->src, s->sport, local, sizeof(local));
	if (!s->dport && !memcmp(s->dst, zero, sizeof(zero))) {
		snprintf(buf, size, "%s", local);
		return buf;
	}
	format_endpoint(s->family, s->dst, s->dport, peer, sizeof(peer));
	snprintf(buf, size, "%s -> %s", local, peer);
	return buf;
}

int sockdiag_parse_fd_link(const char *link, uint64_t *ret_inode)
{
	static const char prefix[] = "socket:[";
	const char *digits;
	char *end;
	unsigned long long v;

	if (!link || strncmp(link, prefix, sizeof(prefix) - 1))
		return err_setf(EINVAL, "\"%.64s\" is not a socket link", link ? link : "(null)");
	digits = link + sizeof(prefix) - 1;
	if (*digits < '0' || *digits > '9')
		return err_setf(EINVAL, "\"%.64s\": no inode number", link);
	errno = 0;
	v = strtoull(digits, &end, 10);
	if (errno || end[0] != ']' || end[1] != '\0' || v == 0)
		return err_setf(EINVAL, "\"%.64s\" is not socket:[INODE]", link);
	*ret_inode = v;
	return 0;
}
