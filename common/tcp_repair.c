/*
 * tcp_repair: see tcp_repair.h for the call sequence and what is handled.
 *
 * Kernel facts this file rests on (Linux 6.x, net/ipv4/tcp.c):
 *  - TCP_QUEUE_SEQ reads write_seq (send queue) or rcv_nxt (receive queue);
 *    set on a closed socket in repair mode it places the start of that queue.
 *    So a queue's first byte sits at the dumped sequence minus its length.
 *  - In repair mode, data sent with TCP_SEND_QUEUE selected is queued as if
 *    transmitted (retransmitted later by the timers); with TCP_RECV_QUEUE
 *    selected it lands in the receive queue. connect() completes without a
 *    SYN. TCP_REPAIR_OPTIONS is accepted only between connect() and the first
 *    byte sent; TCP_REPAIR_WINDOW checks its values against rcv_nxt, so it
 *    comes after the receive queue.
 *  - MSG_PEEK in repair mode reads the selected queue without consuming it.
 *  - A socket in repair mode still receives (and, with no send queue
 *    selected, may transmit): the network lock is what makes a dump
 *    consistent. Here a queue that changes while it is read is retried, then
 *    refused with -EAGAIN.
 */
#include "tcp_repair.h"

#include <netinet/in.h>
#include <netinet/tcp.h> /* before compat.h: its TCP_REPAIR_* guards defer to these */

#include "compat.h"
#include "err.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* linux/tcp_states.h, which Debian 12's userspace headers do not ship. */
enum {
	TCPS_ESTABLISHED = 1,
	TCPS_CLOSE = 7,
	TCPS_LISTEN = 10,
};

#define QUEUE_READ_TRIES 4
#define UNSENT_SEND_TIMEOUT_MS 2000
#define MAX_WSCALE 14

static const char *const tcp_state_names[] = {
	[1] = "ESTABLISHED",	 [2] = "SYN_SENT",  [3] = "SYN_RECV", [4] = "FIN_WAIT1",
	[5] = "FIN_WAIT2",	 [6] = "TIME_WAIT", [7] = "CLOSE",    [8] = "CLOSE_WAIT",
	[9] = "LAST_ACK",	 [10] = "LISTEN",   [11] = "CLOSING", [12] = "NEW_SYN_RECV",
	[13] = "BOUND_INACTIVE",
};

const char *tcp_repair_state_name(unsigned int state)
{
	if (state < sizeof(tcp_state_names) / sizeof(tcp_state_names[0]) && tcp_state_names[state])
		return tcp_state_names[state];
	return "UNKNOWN";
}

/* getsockopt/setsockopt of an int, with the option's name in the error detail. */
static int opt_get(int fd, int level, int name, const char *what, int *ret)
{
	int val = 0;
	socklen_t len = sizeof(val);

	if (getsockopt(fd, level, name, &val, &len) < 0)
		return err_setf(errno, "getsockopt(%s): %s", what, strerror(errno));
	*ret = val;
	return 0;
}

static int opt_set(int fd, int level, int name, const char *what, int val)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)) < 0)
		return err_setf(errno, "setsockopt(%s, %d): %s", what, val, strerror(errno));
	return 0;
}

#define OPT_GET(fd, level, name, ret) opt_get(fd, level, name, #name, ret)
#define OPT_SET(fd, level, name, val) opt_set(fd, level, name, #name, val)

static int repair_set(int fd, int mode)
{
	int r = OPT_SET(fd, SOL_TCP, TCP_REPAIR, mode);

	if (r == -EPERM)
		return err_setf(EPERM, "TCP_REPAIR needs CAP_NET_ADMIN in the socket's network "
				       "namespace");
	return r;
}

static int queue_select(int fd, int queue)
{
	return OPT_SET(fd, SOL_TCP, TCP_REPAIR_QUEUE, queue);
}

static int tcp_info_get(int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	if (getsockopt(fd, SOL_TCP, TCP_INFO, ti, &len) < 0)
		return err_setf(errno, "getsockopt(TCP_INFO): %s", strerror(errno));
	return 0;
}

/* ---- addresses ---- */

static int addr_dump(const struct sockaddr_storage *ss, ProtobufCBinaryData *addr, uint32_t *port,
		     uint32_t *scope_id)
{
	const void *raw;
	size_t len;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		raw = &sin->sin_addr;
		len = sizeof(sin->sin_addr);
		*port = ntohs(sin->sin_port);
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ss;
		raw = &sin6->sin6_addr;
		len = sizeof(sin6->sin6_addr);
		*port = ntohs(sin6->sin6_port);
		if (scope_id)
			*scope_id = sin6->sin6_scope_id;
	}
	addr->data = malloc(len);
	if (!addr->data)
		return -ENOMEM;
	memcpy(addr->data, raw, len);
	addr->len = len;
	return 0;
}

/* The entry's address as a sockaddr; lengths were checked by tcp_repair_entry_check(). */
static socklen_t addr_build(uint32_t family, const ProtobufCBinaryData *addr, uint32_t port,
			    uint32_t scope_id, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr->data, sizeof(sin->sin_addr));
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (void *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_scope_id = scope_id;
	memcpy(&sin6->sin6_addr, addr->data, sizeof(sin6->sin6_addr));
	return sizeof(*sin6);
}

static int dump_addresses(int fd, TcpSocketEntry *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int r;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return err_setf(errno, "getsockname: %s", strerror(errno));
	r = addr_dump(&ss, &e->src_addr, &e->src_port, &e->scope_id);
	if (r < 0)
		return r;
	e->has_scope_id = e->family == AF_INET6 && e->scope_id;

	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
		if (errno == ENOTCONN)
			return 0;
		return err_setf(errno, "getpeername: %s", strerror(errno));
	}
	r = addr_dump(&ss, &e->dst_addr, &e->dst_port, NULL);
	if (r < 0)
		return r;
	e->has_dst_addr = e->has_dst_port = true;
	return 0;
}

/* ---- options common to every kind ---- */

static int dump_options(int fd, TcpSocketEntry *e)
{
	int val, r, fl;
	struct stat st;

	if (fstat(fd, &st) == 0) {
		e->inode = st.st_ino;
		e->has_inode = true;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return err_setf(errno, "fcntl(F_GETFL): %s", strerror(errno));
	e->nonblock = !!(fl & O_NONBLOCK);
	e->has_nonblock = true;

	r = OPT_GET(fd, SOL_SOCKET, SO_SNDBUF, &val);
	if (r < 0)
		return r;
	e->sndbuf = val;
	r = OPT_GET(fd, SOL_SOCKET, SO_RCVBUF, &val);
	if (r < 0)
		return r;
	e->rcvbuf = val;
	e->has_sndbuf = e->has_rcvbuf = true;

	r = OPT_GET(fd, SOL_SOCKET, SO_REUSEADDR, &val);
	if (r < 0)
		return r;
	e->reuseaddr = val == 1; /* 2 is repair mode's forced reuse, not the process's wish */
	r = OPT_GET(fd, SOL_SOCKET, SO_REUSEPORT, &val);
	if (r < 0)
		return r;
	e->reuseport = !!val;
	r = OPT_GET(fd, SOL_SOCKET, SO_KEEPALIVE, &val);
	if (r < 0)
		return r;
	e->keepalive = !!val;
	e->has_reuseaddr = e->has_reuseport = e->has_keepalive = true;

	if (e->family == AF_INET6) {
		r = OPT_GET(fd, SOL_IPV6, IPV6_V6ONLY, &val);
		if (r < 0)
			return r;
		e->v6only = !!val;
		e->has_v6only = true;
	}
	return 0;
}

static int dump_tcp_options(int fd, TcpSocketEntry *e)
{
	int val, r;

	r = OPT_GET(fd, SOL_TCP, TCP_NODELAY, &val);
	if (r < 0)
		return r;
	e->nodelay = !!val;
	r = OPT_GET(fd, SOL_TCP, TCP_KEEPIDLE, &val);
	if (r < 0)
		return r;
	e->keep_idle = val;
	r = OPT_GET(fd, SOL_TCP, TCP_KEEPINTVL, &val);
	if (r < 0)
		return r;
	e->keep_intvl = val;
	r = OPT_GET(fd, SOL_TCP, TCP_KEEPCNT, &val);
	if (r < 0)
		return r;
	e->keep_cnt = val;
	e->has_nodelay = e->has_keep_idle = e->has_keep_intvl = e->has_keep_cnt = true;
	return 0;
}

/* ---- dump of an established connection (in repair mode) ---- */

/*
 * One queue's sequence and bytes. The kernel keeps receiving while we read:
 * the reading counts only if the sequence did not move and the peek returned
 * exactly the size the ioctl announced (one byte more is asked to see growth).
 */
static int dump_queue(int fd, int queue, unsigned long size_ioctl, uint32_t *ret_seq,
		      ProtobufCBinaryData *ret_data)
{
	const char *name = queue == TCP_SEND_QUEUE ? "send" : "receive";
	int r = queue_select(fd, queue);

	for (int try = 0; r == 0 && try < QUEUE_READ_TRIES; try++) {
		int seq1, seq2, size;
		ssize_t n;
		uint8_t *buf;

		r = OPT_GET(fd, SOL_TCP, TCP_QUEUE_SEQ, &seq1);
		if (r < 0)
			return r;
		if (ioctl(fd, size_ioctl, &size) < 0)
			return err_setf(errno, "%s queue size: %s", name, strerror(errno));
		if (size < 0 || (unsigned int)size > TCP_REPAIR_QUEUE_MAX)
			return err_setf(EFBIG, "%s queue holds %d bytes, more than the %u limit",
					name, size, TCP_REPAIR_QUEUE_MAX);
		buf = malloc((size_t)size + 1);
		if (!buf)
			return -ENOMEM;
		n = recv(fd, buf, (size_t)size + 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			n = 0;
		if (n < 0) {
			r = err_setf(errno, "peeking the %s queue: %s", name, strerror(errno));
			free(buf);
			return r;
		}
		r = OPT_GET(fd, SOL_TCP, TCP_QUEUE_SEQ, &seq2);
		if (r == 0 && seq1 == seq2 && n == size) {
			*ret_seq = (uint32_t)seq1;
			ret_data->data = buf;
			ret_data->len = (size_t)n;
			return 0;
		}
		free(buf);
	}
	if (r < 0)
		return r;
	return err_setf(EAGAIN,
			"the %s queue kept changing while it was read: lock the "
			"connection's packets out first",
			name);
}

static int dump_negotiated(int fd, TcpSocketEntry *e)
{
	struct tcp_info ti;
	int r, val;

	r = tcp_info_get(fd, &ti);
	if (r < 0)
		return r;
	if (ti.tcpi_state != TCPS_ESTABLISHED)
		return err_setf(EAGAIN, "connection went from ESTABLISHED to %s during the dump",
				tcp_repair_state_name(ti.tcpi_state));
	e->sack = !!(ti.tcpi_options & TCPI_OPT_SACK);
	e->timestamps = !!(ti.tcpi_options & TCPI_OPT_TIMESTAMPS);
	e->wscale = !!(ti.tcpi_options & TCPI_OPT_WSCALE);
	e->snd_wscale = ti.tcpi_snd_wscale;
	e->rcv_wscale = ti.tcpi_rcv_wscale;
	e->has_sack = e->has_timestamps = e->has_wscale = true;
	e->has_snd_wscale = e->has_rcv_wscale = true;

	/* In repair mode this is the peer's MSS (mss_clamp), what TCPOPT_MAXSEG restores. */
	r = OPT_GET(fd, SOL_TCP, TCP_MAXSEG, &val);
	if (r < 0)
		return r;
	e->mss = val;
	e->has_mss = true;
	if (e->timestamps) {
		r = OPT_GET(fd, SOL_TCP, TCP_TIMESTAMP, &val);
		if (r < 0)
			return r;
		e->timestamp = val;
		e->has_timestamp = true;
	}
	return 0;
}

static int dump_window(int fd, TcpSocketEntry *e)
{
	struct tcp_repair_window w;
	socklen_t len = sizeof(w);

	if (getsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, &w, &len) < 0)
		return err_setf(errno, "getsockopt(TCP_REPAIR_WINDOW): %s", strerror(errno));
	if (len != sizeof(w))
		return err_setf(EPROTO, "TCP_REPAIR_WINDOW returned %u bytes, expected %zu", len,
				sizeof(w));
	e->snd_wl1 = w.snd_wl1;
	e->snd_wnd = w.snd_wnd;
	e->max_window = w.max_window;
	e->rcv_wnd = w.rcv_wnd;
	e->rcv_wup = w.rcv_wup;
	e->has_snd_wl1 = e->has_snd_wnd = e->has_max_window = true;
	e->has_rcv_wnd = e->has_rcv_wup = true;
	return 0;
}

static int dump_repaired(int fd, TcpSocketEntry *e)
{
	int r, unsent;

	r = dump_negotiated(fd, e);
	if (r < 0)
		return r;
	r = dump_queue(fd, TCP_SEND_QUEUE, SIOCOUTQ, &e->snd_seq, &e->snd_queue);
	if (r < 0)
		return r;
	/*
	 * Read after the queue, so bytes sent meanwhile count as sent, which
	 * they are. A miscount either way costs a duplicate (same sequence
	 * numbers) or a retransmission timeout, never a byte.
	 */
	if (ioctl(fd, SIOCOUTQNSD, &unsent) < 0)
		return err_setf(errno, "unsent queue size: %s", strerror(errno));
	e->snd_unsent = unsent < 0 ? 0 : (uint32_t)unsent;
	if (e->snd_unsent > e->snd_queue.len)
		e->snd_unsent = e->snd_queue.len;
	r = dump_queue(fd, TCP_RECV_QUEUE, SIOCINQ, &e->rcv_seq, &e->rcv_queue);
	if (r < 0)
		return r;
	e->has_snd_seq = e->has_rcv_seq = e->has_snd_queue = e->has_rcv_queue = true;
	e->has_snd_unsent = true;
	r = dump_window(fd, e);
	if (r < 0)
		return r;
	return queue_select(fd, TCP_NO_QUEUE);
}

static int dump_established(int fd, TcpSocketEntry *e)
{
	int r = dump_tcp_options(fd, e);

	if (r < 0)
		return r;
	r = repair_set(fd, TCP_REPAIR_ON);
	if (r < 0)
		return r;
	r = dump_repaired(fd, e);
	/* Undo; the first error is the one to report. */
	if (r < 0)
		(void)repair_set(fd, TCP_REPAIR_OFF);
	return r;
}

static int dump_listen(int fd, TcpSocketEntry *e, const struct tcp_info *ti)
{
	/* For a listener tcp_info's sacked field is the backlog listen() kept. */
	e->backlog = ti->tcpi_sacked;
	e->has_backlog = true;
	return dump_tcp_options(fd, e);
}

static int dump_tcp(int fd, TcpSocketEntry *e)
{
	struct tcp_info ti;
	int r = tcp_info_get(fd, &ti);

	if (r < 0)
		return r;
	e->state = ti.tcpi_state;
	switch (ti.tcpi_state) {
	case TCPS_ESTABLISHED:
		return dump_established(fd, e);
	case TCPS_LISTEN:
		return dump_listen(fd, e, &ti);
	default:
		return err_setf(EOPNOTSUPP,
				"TCP socket in state %s: only ESTABLISHED and LISTEN "
				"can be checkpointed",
				tcp_repair_state_name(ti.tcpi_state));
	}
}

static int sock_kind(int fd, int *family, int *type, int *protocol)
{
	int r = OPT_GET(fd, SOL_SOCKET, SO_DOMAIN, family);

	if (r == -ENOTSOCK)
		return err_setf(ENOTSOCK, "fd %d is not a socket", fd);
	if (r == 0)
		r = OPT_GET(fd, SOL_SOCKET, SO_TYPE, type);
	if (r == 0)
		r = OPT_GET(fd, SOL_SOCKET, SO_PROTOCOL, protocol);
	if (r < 0)
		return r;
	if (*family != AF_INET && *family != AF_INET6)
		return err_setf(EOPNOTSUPP, "socket of family %d is not an inet socket", *family);
	if (!(*type == SOCK_STREAM && *protocol == IPPROTO_TCP) &&
	    !(*type == SOCK_DGRAM && *protocol == IPPROTO_UDP))
		return err_setf(EOPNOTSUPP,
				"inet socket of type %d protocol %d is neither TCP "
				"nor UDP",
				*type, *protocol);
	return 0;
}

int tcp_repair_dump(int sockfd, TcpSocketEntry **ret)
{
	int family, type, protocol, r;
	TcpSocketEntry *e;

	r = sock_kind(sockfd, &family, &type, &protocol);
	if (r < 0)
		return r;
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	tcp_socket_entry__init(e);
	e->family = family;
	e->protocol = protocol;
	r = dump_addresses(sockfd, e);
	if (r == 0)
		r = dump_options(sockfd, e);
	if (r == 0 && protocol == IPPROTO_UDP)
		e->state = e->has_dst_addr ? TCPS_ESTABLISHED : TCPS_CLOSE;
	else if (r == 0)
		r = dump_tcp(sockfd, e); /* last: an ESTABLISHED socket stays in repair */
	if (r < 0) {
		tcp_repair_entry_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

int tcp_repair_resume(int sockfd)
{
	int in_repair = 0, r;

	/* TCP_REPAIR reads back as the mode; a listener or UDP socket was never in it. */
	r = OPT_GET(sockfd, SOL_TCP, TCP_REPAIR, &in_repair);
	if (r == -ENOPROTOOPT || (r == 0 && !in_repair))
		return 0;
	if (r < 0)
		return r;
	return repair_set(sockfd, TCP_REPAIR_OFF);
}

void tcp_repair_entry_free(TcpSocketEntry *e)
{
	if (e)
		tcp_socket_entry__free_unpacked(e, NULL);
}

/* ---- validation ---- */

static int check_addr(uint32_t family, const ProtobufCBinaryData *addr, uint32_t port,
		      const char *which)
{
	size_t want = family == AF_INET ? 4 : 16;

	if (addr->len != want || !addr->data)
		return err_setf(EINVAL, "%s address is %zu bytes, an %s address has %zu", which,
				addr->len, family == AF_INET ? "IPv4" : "IPv6", want);
	if (port > 65535)
		return err_setf(EINVAL, "%s port %u is not a port number", which, port);
	return 0;
}

static int check_established(const TcpSocketEntry *e)
{
	if (!e->has_snd_seq || !e->has_rcv_seq)
		return err_setf(EINVAL, "established connection without its sequence numbers");
	if (e->snd_queue.len > TCP_REPAIR_QUEUE_MAX || e->rcv_queue.len > TCP_REPAIR_QUEUE_MAX)
		return err_setf(EINVAL,
				"queues of %zu (send) and %zu (receive) bytes: the limit "
				"is %u",
				e->snd_queue.len, e->rcv_queue.len, TCP_REPAIR_QUEUE_MAX);
	if ((e->snd_queue.len && !e->snd_queue.data) || (e->rcv_queue.len && !e->rcv_queue.data))
		return err_setf(EINVAL, "queue length without data");
	if (e->snd_unsent > e->snd_queue.len)
		return err_setf(EINVAL, "%u unsent bytes in a send queue of %zu", e->snd_unsent,
				e->snd_queue.len);
	if (e->wscale && (e->snd_wscale > MAX_WSCALE || e->rcv_wscale > MAX_WSCALE))
		return err_setf(EINVAL, "window scale %u/%u is above %d", e->snd_wscale,
				e->rcv_wscale, MAX_WSCALE);
	if (e->mss > 65535)
		return err_setf(EINVAL, "MSS %u is above 65535", e->mss);
	if (!e->has_dst_addr || !e->dst_port || !e->src_port)
		return err_setf(EINVAL, "established connection without both ports");
	return 0;
}

static int check_limits(const TcpSocketEntry *e)
{
	if (e->sndbuf > INT_MAX || e->rcvbuf > INT_MAX || e->backlog > INT_MAX)
		return err_setf(EINVAL, "buffer size or backlog above INT_MAX");
	/* The kernel's MAX_TCP_KEEPIDLE/INTVL (32767 s) and MAX_TCP_KEEPCNT (127). */
	if (e->keep_idle > 32767 || e->keep_intvl > 32767 || e->keep_cnt > 127)
		return err_setf(EINVAL, "keepalive %u/%u/%u out of range", e->keep_idle,
				e->keep_intvl, e->keep_cnt);
	return 0;
}

int tcp_repair_entry_check(const TcpSocketEntry *e)
{
	int r;

	if (e->family != AF_INET && e->family != AF_INET6)
		return err_setf(EINVAL, "unknown address family %u (expected %d or %d)", e->family,
				AF_INET, AF_INET6);
	if (e->protocol != IPPROTO_TCP && e->protocol != IPPROTO_UDP)
		return err_setf(EINVAL, "unknown protocol %u", e->protocol);
	r = check_addr(e->family, &e->src_addr, e->src_port, "local");
	if (r == 0 && e->has_dst_addr)
		r = check_addr(e->family, &e->dst_addr, e->dst_port, "peer");
	if (r == 0)
		r = check_limits(e);
	if (r < 0)
		return r;
	if (e->protocol == IPPROTO_UDP) {
		if (e->state != TCPS_ESTABLISHED && e->state != TCPS_CLOSE)
			return err_setf(EINVAL, "UDP socket in state %u", e->state);
		return 0;
	}
	if (e->state == TCPS_LISTEN)
		return e->src_port ? 0 : err_setf(EINVAL, "listening socket without a port");
	if (e->state != TCPS_ESTABLISHED)
		return err_setf(EINVAL, "TCP state %s (%u) cannot be restored",
				tcp_repair_state_name(e->state), e->state);
	return check_established(e);
}

/* ---- restore ---- */

/* Setting a buffer size doubles it: halve the dumped value; FORCE passes net.core.*mem_max. */
static int restore_buffer(int fd, int name, const char *what, uint32_t dumped)
{
	return opt_set(fd, SOL_SOCKET, name, what, (int)(dumped / 2));
}

static int restore_options(int fd, const TcpSocketEntry *e)
{
	int r = 0;

	if (e->has_sndbuf)
		r = restore_buffer(fd, SO_SNDBUFFORCE, "SO_SNDBUFFORCE", e->sndbuf);
	if (r == 0 && e->has_rcvbuf)
		r = restore_buffer(fd, SO_RCVBUFFORCE, "SO_RCVBUFFORCE", e->rcvbuf);
	if (r == 0 && e->keepalive)
		r = OPT_SET(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	if (r == 0 && e->reuseport)
		r = OPT_SET(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (r < 0 || e->protocol != IPPROTO_TCP)
		return r;
	if (e->nodelay)
		r = OPT_SET(fd, SOL_TCP, TCP_NODELAY, 1);
	if (r == 0 && e->keep_idle)
		r = OPT_SET(fd, SOL_TCP, TCP_KEEPIDLE, (int)e->keep_idle);
	if (r == 0 && e->keep_intvl)
		r = OPT_SET(fd, SOL_TCP, TCP_KEEPINTVL, (int)e->keep_intvl);
	if (r == 0 && e->keep_cnt)
		r = OPT_SET(fd, SOL_TCP, TCP_KEEPCNT, (int)e->keep_cnt);
	return r;
}

static int restore_nonblock(int fd, const TcpSocketEntry *e)
{
	int fl;

	if (!e->nonblock)
		return 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return err_setf(errno, "fcntl(O_NONBLOCK): %s", strerror(errno));
	return 0;
}

/*
 * Binds to the entry's local address even if it is not (yet) assigned here;
 * freebind is switched off again because the process never asked for it.
 */
static int bind_local(int fd, const TcpSocketEntry *e)
{
	struct sockaddr_storage ss;
	socklen_t len = addr_build(e->family, &e->src_addr, e->src_port, e->scope_id, &ss);
	char text[INET6_ADDRSTRLEN] = "?";
	int r;

	if (e->family == AF_INET6 && e->has_v6only)
		r = OPT_SET(fd, SOL_IPV6, IPV6_V6ONLY, e->v6only);
	else
		r = 0;
	if (r == 0)
		r = OPT_SET(fd, SOL_IP, IP_FREEBIND, 1);
	if (r < 0)
		return r;
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		int err = errno;
		inet_ntop(e->family, e->src_addr.data, text, sizeof(text));
		return err_setf(err, "bind to [%s]:%u: %s", text, e->src_port, strerror(err));
	}
	return OPT_SET(fd, SOL_IP, IP_FREEBIND, 0);
}

/*
 * connect() routes from the local address, which a live migration with --move-ip adds
 * to this host only later (IP_FREEBIND covers bind(), not the route): a transparent
 * socket may route from an address not assigned here. Best effort (it needs
 * CAP_NET_ADMIN or CAP_NET_RAW), and switched off again after connect(): the process
 * never asked for it.
 */
static void transparent_set(int fd, uint32_t family, int on)
{
	if (family == AF_INET6)
		(void)setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof(on));
	else
		(void)setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof(on));
}

static int connect_peer(int fd, const TcpSocketEntry *e)
{
	struct sockaddr_storage ss;
	/* The kernel uses the scope only for a link-local peer, which is on our link. */
	socklen_t len = addr_build(e->family, &e->dst_addr, e->dst_port, e->scope_id, &ss);
	char text[INET6_ADDRSTRLEN] = "?";
	int rc, err;

	transparent_set(fd, e->family, 1);
	rc = connect(fd, (struct sockaddr *)&ss, len);
	err = errno;
	transparent_set(fd, e->family, 0);
	if (rc == 0)
		return 0;
	inet_ntop(e->family, e->dst_addr.data, text, sizeof(text));
	return err_setf(err, "connect to [%s]:%u: %s%s", text, e->dst_port, strerror(err),
			err == EADDRNOTAVAIL ? " (is the old socket still open?)" : "");
}

static int restore_seqs(int fd, const TcpSocketEntry *e)
{
	/* TCP_QUEUE_SEQ places a queue's first byte; the dump has the seq after its last. */
	int r = queue_select(fd, TCP_SEND_QUEUE);

	if (r == 0)
		r = OPT_SET(fd, SOL_TCP, TCP_QUEUE_SEQ,
			    (int)(e->snd_seq - (uint32_t)e->snd_queue.len));
	if (r == 0)
		r = queue_select(fd, TCP_RECV_QUEUE);
	if (r == 0)
		r = OPT_SET(fd, SOL_TCP, TCP_QUEUE_SEQ,
			    (int)(e->rcv_seq - (uint32_t)e->rcv_queue.len));
	return r;
}

static int restore_negotiated(int fd, const TcpSocketEntry *e)
{
	struct tcp_repair_opt opts[4];
	unsigned int n = 0;

	if (e->mss)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, e->mss };
	if (e->wscale)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_WINDOW,
						     e->snd_wscale | (e->rcv_wscale << 16) };
	if (e->sack)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERMITTED, 0 };
	if (e->timestamps)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	if (n && setsockopt(fd, SOL_TCP, TCP_REPAIR_OPTIONS, opts, n * sizeof(opts[0])) < 0)
		return err_setf(errno, "setsockopt(TCP_REPAIR_OPTIONS): %s", strerror(errno));
	if (e->timestamps && e->has_timestamp)
		return OPT_SET(fd, SOL_TCP, TCP_TIMESTAMP, (int)e->timestamp);
	return 0;
}

/* Writes bytes into the selected queue; the kernel may take less than asked per call. */
static int restore_queue(int fd, int queue, const uint8_t *data, size_t len)
{
	const char *name = queue == TCP_SEND_QUEUE ? "send" : "receive";
	int r = len ? queue_select(fd, queue) : 0;

	for (size_t off = 0; r == 0 && off < len;) {
		ssize_t n = send(fd, data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_setf(n < 0 ? errno : EIO,
					"refilling the %s queue at %zu of %zu "
					"bytes: %s",
					name, off, len, n < 0 ? strerror(errno) : "no progress");
		off += (size_t)n;
	}
	return r;
}

static int restore_window(int fd, const TcpSocketEntry *e)
{
	struct tcp_repair_window w = {
		.snd_wl1 = e->snd_wl1,
		.snd_wnd = e->snd_wnd,
		.max_window = e->max_window,
		.rcv_wnd = e->rcv_wnd,
		.rcv_wup = e->rcv_wup,
	};

	if (!e->has_snd_wnd)
		return 0; /* an entry without it: the kernel's defaults, the peer corrects them */
	if (setsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)) < 0)
		return err_setf(errno, "setsockopt(TCP_REPAIR_WINDOW): %s", strerror(errno));
	return 0;
}

/*
 * The kernel charges queued bytes against the buffer sizes and the dumped
 * sizes may be just short of what the old socket held (its skbs were packed
 * differently): room for the queues while refilling them, the dumped sizes
 * after.
 */
static int queues_make_room(int fd, const TcpSocketEntry *e)
{
	size_t snd = 4 * e->snd_queue.len + (256u << 10), rcv = 4 * e->rcv_queue.len + (256u << 10);
	int r;

	if (snd < e->sndbuf)
		snd = e->sndbuf;
	if (rcv < e->rcvbuf)
		rcv = e->rcvbuf;
	r = restore_buffer(fd, SO_SNDBUFFORCE, "SO_SNDBUFFORCE", (uint32_t)snd);
	if (r == 0)
		r = restore_buffer(fd, SO_RCVBUFFORCE, "SO_RCVBUFFORCE", (uint32_t)rcv);
	return r;
}

/* After repair mode: bytes the peer never saw go through the ordinary send path. */
static int send_unsent(int fd, const uint8_t *data, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, data + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return err_setf(errno, "sending %zu unsent bytes: %s", len,
					strerror(errno));
		if (n < 0 && errno == EAGAIN && poll(&pfd, 1, UNSENT_SEND_TIMEOUT_MS) == 0)
			return err_setf(ETIMEDOUT, "sending %zu unsent bytes: no room after %d ms",
					len, UNSENT_SEND_TIMEOUT_MS);
	}
	return 0;
}

static int restore_repaired(int fd, const TcpSocketEntry *e)
{
	size_t sent = e->snd_queue.len - e->snd_unsent;
	int r;

	r = restore_seqs(fd, e);
	if (r == 0)
		r = queues_make_room(fd, e);
	if (r == 0)
		r = bind_local(fd, e);
	if (r == 0)
		r = connect_peer(fd, e);
	if (r == 0)
		r = restore_negotiated(fd, e);
	if (r == 0)
		r = restore_queue(fd, TCP_RECV_QUEUE, e->rcv_queue.data, e->rcv_queue.len);
	if (r == 0)
		r = restore_queue(fd, TCP_SEND_QUEUE, e->snd_queue.data, sent);
	if (r == 0)
		r = restore_window(fd, e);
	if (r == 0)
		r = queue_select(fd, TCP_NO_QUEUE);
	return r;
}

static int restore_established(int fd, const TcpSocketEntry *e)
{
	size_t sent = e->snd_queue.len - e->snd_unsent;
	int r;

	r = repair_set(fd, TCP_REPAIR_ON);
	if (r == 0)
		r = restore_repaired(fd, e);
	if (r == 0)
		r = repair_set(fd, TCP_REPAIR_OFF_NO_WP);
	if (r == 0 && e->snd_unsent)
		r = send_unsent(fd, e->snd_queue.data + sent, e->snd_unsent);
	if (r == 0)
		r = restore_options(fd, e);
	if (r == 0 && e->reuseaddr) /* leaving repair mode reset it */
		r = OPT_SET(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	return r;
}

static int restore_listen(int fd, const TcpSocketEntry *e)
{
	int r = restore_options(fd, e);

	if (r == 0 && e->reuseaddr)
		r = OPT_SET(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (r == 0)
		r = bind_local(fd, e);
	if (r == 0 && listen(fd, e->has_backlog ? (int)e->backlog : SOMAXCONN) < 0)
		r = err_setf(errno, "listen on port %u: %s", e->src_port, strerror(errno));
	return r;
}

static int restore_udp(int fd, const TcpSocketEntry *e)
{
	static const uint8_t zero[16];
	int r = restore_options(fd, e);

	if (r == 0 && e->reuseaddr)
		r = OPT_SET(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	/* Never bound (and never connected, which binds): leave it so. */
	if (r < 0 || (!e->src_port && !memcmp(e->src_addr.data, zero, e->src_addr.len)))
		return r;
	r = bind_local(fd, e);
	if (r == 0 && e->has_dst_addr)
		r = connect_peer(fd, e);
	return r;
}

int tcp_repair_restore(const TcpSocketEntry *e, int *ret_fd)
{
	int type = e->protocol == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
	int fd, r;

	r = tcp_repair_entry_check(e);
	if (r < 0)
		return r;
	fd = socket(e->family, type | SOCK_CLOEXEC, e->protocol);
	if (fd < 0)
		return err_setf(errno, "socket: %s", strerror(errno));
	if (e->protocol == IPPROTO_UDP)
		r = restore_udp(fd, e);
	else if (e->state == TCPS_LISTEN)
		r = restore_listen(fd, e);
	else
		r = restore_established(fd, e);
	if (r == 0)
		r = restore_nonblock(fd, e);
	if (r < 0) {
		/* Into repair mode (a listener refuses, harmlessly): close() sends nothing. */
		if (e->protocol == IPPROTO_TCP)
			(void)setsockopt(fd, SOL_TCP, TCP_REPAIR, &(int){ TCP_REPAIR_ON },
					 sizeof(int));
		close(fd);
		return r;
	}
	log_debug("tcp_repair: restored %s socket fd %d (state %s)",
		  e->protocol == IPPROTO_TCP ? "TCP" : "UDP", fd, tcp_repair_state_name(e->state));
	*ret_fd = fd;
	return 0;
}
