/*
 * test_tcp_repair: checkpoint and restore of TCP and UDP sockets (needs root).
 *
 * Everything runs in a forked child that first enters a network namespace of
 * its own (loopback up: 127.0.0.1 and ::1, nothing else), so the tests never
 * touch the host's network and their sockets vanish with the child. The parent
 * only returns the child's verdict.
 *
 * Each stream carries a known pattern (byte i of direction d is
 * stream_byte(d, i)), so a lost, repeated or reordered byte shows.
 */
#include "tcp_repair.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIR_C2S 1 /* client to server */
#define DIR_S2C 2
#define EXTRA_BYTES (300u << 10) /* traffic after the restore, each way */
#define EXCHANGE_TIMEOUT_MS 20000

struct pair {
	int family;
	int cli, srv;
	size_t cli_wrote, srv_wrote; /* bytes written so far in each direction */
};

static uint8_t stream_byte(int dir, size_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) + (size_t)dir * 77);
}

static void stream_fill_buf(int dir, size_t off, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = stream_byte(dir, off + i);
}

static int stream_check_buf(int dir, size_t off, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != stream_byte(dir, off + i)) {
			fprintf(stderr, "direction %d: byte %zu is %u, expected %u\n", dir, off + i,
				buf[i], stream_byte(dir, off + i));
			return -1;
		}
	return 0;
}

static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK), 0);
}

static socklen_t loopback(int family, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (void *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_addr = in6addr_loopback;
	return sizeof(*sin6);
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int listener_open(int family, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, 0, &ss);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

/* cli_rcvbuf: set before connecting (so the window scale allows it), 0 for the default. */
static void pair_open_rcvbuf(int family, int cli_rcvbuf, struct pair *p)
{
	struct sockaddr_storage ss;
	int lfd = listener_open(family, 4);
	socklen_t len = loopback(family, local_port(lfd), &ss);

	memset(p, 0, sizeof(*p));
	p->family = family;
	p->cli = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->cli >= 0);
	if (cli_rcvbuf)
		assert_int_equal(setsockopt(p->cli, SOL_SOCKET, SO_RCVBUFFORCE, &cli_rcvbuf,
					    sizeof(cli_rcvbuf)),
				 0);
	assert_int_equal(connect(p->cli, (struct sockaddr *)&ss, len), 0);
	p->srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(p->srv >= 0);
	close(lfd);
}

static void pair_close(struct pair *p)
{
	if (p->cli >= 0)
		close(p->cli);
	if (p->srv >= 0)
		close(p->srv);
	p->cli = p->srv = -1;
}

/* Writes the pattern into fd until the kernel takes no more (the peer does not read). */
static void fill(int fd, int dir, size_t *wrote)
{
	static uint8_t buf[64 << 10];
	int idle_rounds = 0;

	set_nonblock(fd, 1);
	while (idle_rounds < 3) {
		stream_fill_buf(dir, *wrote, buf, sizeof(buf));
		ssize_t n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
		if (n > 0) {
			*wrote += (size_t)n;
			idle_rounds = 0;
			continue;
		}
		assert_true(n < 0 && errno == EAGAIN);
		idle_rounds++;
		usleep(20000); /* let loopback settle: autotuning may still grow the buffers */
	}
}

/* Writes the first n bytes of the pattern, no more: a queue that is not full. */
static void send_some(int fd, int dir, size_t *wrote, size_t n)
{
	uint8_t buf[4096];

	assert_true(n <= sizeof(buf));
	stream_fill_buf(dir, *wrote, buf, n);
	assert_int_equal(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
	*wrote += n;
}

struct endpoint {
	int fd;
	int wdir, rdir;
	size_t wr_off, wr_end; /* pattern bytes still to write */
	size_t rd_off, rd_end; /* pattern bytes still to read */
};

static int endpoint_step(struct endpoint *ep, short revents)
{
	static uint8_t buf[64 << 10];
	ssize_t n;

	if ((revents & POLLOUT) && ep->wr_off < ep->wr_end) {
		size_t len = ep->wr_end - ep->wr_off;
		if (len > sizeof(buf))
			len = sizeof(buf);
		stream_fill_buf(ep->wdir, ep->wr_off, buf, len);
		n = send(ep->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN)
			return fprintf(stderr, "send: %s\n", strerror(errno)), -1;
		if (n > 0)
			ep->wr_off += (size_t)n;
	}
	if (!(revents & (POLLIN | POLLERR | POLLHUP)) || ep->rd_off >= ep->rd_end)
		return 0;
	size_t want = ep->rd_end - ep->rd_off;
	n = recv(ep->fd, buf, want < sizeof(buf) ? want : sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n <= 0) /* a reset (ECONNRESET) or an early FIN: the peer saw the old socket go */
		return fprintf(stderr, "recv at %zu of %zu: %s\n", ep->rd_off, ep->rd_end,
			       n < 0 ? strerror(errno) : "end of stream"),
		       -1;
	if (stream_check_buf(ep->rdir, ep->rd_off, buf, (size_t)n) < 0)
		return -1;
	ep->rd_off += (size_t)n;
	return 0;
}

/*
 * Both ends read everything the other wrote, and write extra bytes, until
 * all is through: every byte exactly once and in order, no reset.
 */
static void exchange(struct pair *p, size_t cli_read_from, size_t srv_read_from)
{
	struct endpoint ep[2] = {
		{ p->cli, DIR_C2S, DIR_S2C, p->cli_wrote, p->cli_wrote + EXTRA_BYTES, cli_read_from,
		  p->srv_wrote + EXTRA_BYTES },
		{ p->srv, DIR_S2C, DIR_C2S, p->srv_wrote, p->srv_wrote + EXTRA_BYTES, srv_read_from,
		  p->cli_wrote + EXTRA_BYTES },
	};
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd[2];
		int done = 1;

		for (int i = 0; i < 2; i++) {
			pfd[i] = (struct pollfd){ .fd = ep[i].fd, .events = POLLIN };
			if (ep[i].wr_off < ep[i].wr_end)
				pfd[i].events |= POLLOUT;
			done &= ep[i].wr_off == ep[i].wr_end && ep[i].rd_off == ep[i].rd_end;
		}
		if (done)
			break;
		assert_true(poll(pfd, 2, 1000) >= 0);
		for (int i = 0; i < 2; i++)
			assert_int_equal(endpoint_step(&ep[i], pfd[i].revents), 0);
		clock_gettime(CLOCK_MONOTONIC, &now);
		assert_true((now.tv_sec - start.tv_sec) * 1000 < EXCHANGE_TIMEOUT_MS);
	}
	p->cli_wrote += EXTRA_BYTES;
	p->srv_wrote += EXTRA_BYTES;
}

/* The client closes; the server sees an orderly end of stream, not a reset. */
static void orderly_close(struct pair *p)
{
	char c;

	assert_int_equal(shutdown(p->cli, SHUT_WR), 0);
	set_nonblock(p->srv, 0);
	assert_int_equal(recv(p->srv, &c, 1, 0), 0);
}

/*
 * The network lock of a real migration, on the server's side only: a socket
 * filter that drops every packet reaching the server. The server then neither
 * acknowledges the client's data (it stays in flight) nor sees the reset its
 * own probes would draw while no client socket exists.
 */
static void lock_server(struct pair *p)
{
	static struct sock_filter drop_all[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { 1, drop_all };

	assert_int_equal(setsockopt(p->srv, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)), 0);
}

static void unlock_server(struct pair *p)
{
	int zero = 0;

	assert_int_equal(setsockopt(p->srv, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero)), 0);
}

/*
 * A counter of this namespace's TCP (Tcp: OutRsts, EstabResets, ... of
 * /proc/net/snmp): the namespace holds only the test's sockets, so a reset
 * anywhere shows here even if a filter kept it from its socket.
 */
static long tcp_counter(const char *name)
{
	char names[1024], values[1024], *n, *v, *sn, *sv;
	FILE *f = fopen("/proc/self/net/snmp", "r");
	long found = -1;

	assert_non_null(f);
	while (fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f))
		if (!strncmp(names, "Tcp:", 4))
			break;
	fclose(f);
	n = strtok_r(names, " \n", &sn);
	v = strtok_r(values, " \n", &sv);
	for (; n && v; n = strtok_r(NULL, " \n", &sn), v = strtok_r(NULL, " \n", &sv))
		if (!strcmp(n, name))
			found = strtol(v, NULL, 10);
	assert_true(found >= 0);
	return found;
}

/* The entry as it would come back from an image: packed and unpacked. */
static TcpSocketEntry *roundtrip(const TcpSocketEntry *e)
{
	size_t len = tcp_socket_entry__get_packed_size(e);
	uint8_t *buf = malloc(len);
	TcpSocketEntry *copy;

	assert_non_null(buf);
	assert_int_equal(tcp_socket_entry__pack(e, buf), len);
	copy = tcp_socket_entry__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(copy);
	return copy;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/*
 * Dumps the client through a copy (as the agent's pidfd_getfd copy), closes
 * every fd of it while it is in repair mode, and restores it from the image.
 */
static void migrate_client(struct pair *p, TcpSocketEntry **ret)
{
	int copy = dup(p->cli), r, fd;
	struct timespec t0, t1, t2, t3;
	TcpSocketEntry *e, *img;

	assert_true(copy >= 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = tcp_repair_dump(copy, &e);
	if (r < 0)
		fprintf(stderr, "dump: %s\n", err_detail());
	assert_int_equal(r, 0);
	close(copy);
	close(p->cli);
	p->cli = -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	img = roundtrip(e);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	r = tcp_repair_restore(img, &fd);
	clock_gettime(CLOCK_MONOTONIC, &t3);
	if (r < 0)
		fprintf(stderr, "restore: %s\n", err_detail());
	assert_int_equal(r, 0);
	fprintf(stderr, "  queues %zu + %zu bytes: dump %.2f ms, restore %.2f ms\n",
		e->snd_queue.len, e->rcv_queue.len, ms_between(&t0, &t1), ms_between(&t2, &t3));
	p->cli = fd;
	tcp_repair_entry_free(img);
	*ret = e;
}

static void pair_open(int family, struct pair *p)
{
	pair_open_rcvbuf(family, 0, p);
}

static void established_with_full_queues(int family, int cli_rcvbuf)
{
	struct pair p;
	TcpSocketEntry *e;

	pair_open_rcvbuf(family, cli_rcvbuf, &p);
	fill(p.cli, DIR_C2S, &p.cli_wrote); /* the server does not read */
	fill(p.srv, DIR_S2C, &p.srv_wrote); /* the client does not read */
	set_nonblock(p.cli, 0);		    /* the restored socket must be blocking again */

	lock_server(&p);
	migrate_client(&p, &e);
	unlock_server(&p);
	assert_int_equal(e->family, family);
	assert_int_equal(e->state, 1);
	assert_true(e->snd_queue.len > 0 && e->snd_queue.len <= p.cli_wrote);
	assert_true(e->rcv_queue.len > 0 && e->rcv_queue.len <= p.srv_wrote);
	assert_int_equal(stream_check_buf(DIR_S2C, 0, e->rcv_queue.data, e->rcv_queue.len), 0);
	assert_int_equal(stream_check_buf(DIR_C2S, p.cli_wrote - e->snd_queue.len,
					  e->snd_queue.data, e->snd_queue.len),
			 0);
	assert_int_equal(fcntl(p.cli, F_GETFL) & O_NONBLOCK, 0);
	fprintf(stderr,
		"  %s: send queue %zu (%u unsent), receive queue %zu, mss %u, "
		"wscale %u/%u, sack %d, ts %d\n",
		family == AF_INET ? "IPv4" : "IPv6", e->snd_queue.len, e->snd_unsent,
		e->rcv_queue.len, e->mss, e->snd_wscale, e->rcv_wscale, e->sack, e->timestamps);
	tcp_repair_entry_free(e);

	exchange(&p, 0, 0);
	orderly_close(&p);
	pair_close(&p);
}

static void test_established_ipv4(void **state)
{
	established_with_full_queues(AF_INET, 0);
}

static void test_established_ipv6(void **state)
{
	/* A large receive buffer: megabytes to put back into the receive queue. */
	established_with_full_queues(AF_INET6, 4 << 20);
}

/*
 * Data the peer never acknowledged (sent, in flight) is restored in repair
 * mode and retransmitted by the new socket's timer; the rest is sent anew.
 */
static void test_in_flight(void **state)
{
	struct pair p;
	TcpSocketEntry *e;
	size_t before;

	pair_open(AF_INET, &p);
	lock_server(&p);
	before = p.cli_wrote;
	for (int i = 0; i < 50; i++)
		send_some(p.cli, DIR_C2S, &p.cli_wrote, 4000);
	send_some(p.srv, DIR_S2C, &p.srv_wrote, 3000);
	usleep(10000);

	migrate_client(&p, &e);
	assert_int_equal(e->snd_queue.len, p.cli_wrote - before);
	assert_true(e->snd_unsent < e->snd_queue.len); /* some of it was in flight */
	assert_int_equal(e->rcv_queue.len, 3000);
	fprintf(stderr, "  in flight: send queue %zu, %u of it unsent\n", e->snd_queue.len,
		e->snd_unsent);
	tcp_repair_entry_free(e);
	unlock_server(&p);

	set_nonblock(p.cli, 1);
	set_nonblock(p.srv, 1);
	exchange(&p, 0, 0);
	orderly_close(&p);
	pair_close(&p);
}

/* An IPv6 socket talking to an IPv4 listener through a v4-mapped address. */
static void test_v4_mapped(void **state)
{
	int lfd = listener_open(AF_INET, 4);
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(local_port(lfd)) };
	struct pair p = { .family = AF_INET6 };
	TcpSocketEntry *e;

	assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6.sin6_addr), 1);
	p.cli = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(p.cli, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	p.srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(p.srv >= 0);
	close(lfd);
	send_some(p.srv, DIR_S2C, &p.srv_wrote, 700);
	usleep(10000);

	lock_server(&p);
	migrate_client(&p, &e);
	unlock_server(&p);
	assert_int_equal(e->family, AF_INET6);
	assert_true(e->has_v6only && !e->v6only);
	assert_int_equal(e->rcv_queue.len, 700);
	tcp_repair_entry_free(e);

	set_nonblock(p.cli, 1);
	set_nonblock(p.srv, 1);
	exchange(&p, 0, 0);
	orderly_close(&p);
	pair_close(&p);
}

/*
 * The server's side of a connection, restored while its listener still holds
 * the port: repair mode binds over it.
 */
static void test_accepted_beside_listener(void **state)
{
	int lfd = listener_open(AF_INET, 4), copy, fd, r;
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, local_port(lfd), &ss);
	TcpSocketEntry *e;
	struct pair p = { .family = AF_INET };
	long rsts;

	p.cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(p.cli, (struct sockaddr *)&ss, len), 0);
	p.srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(p.srv >= 0);
	send_some(p.cli, DIR_C2S, &p.cli_wrote, 3000);
	send_some(p.srv, DIR_S2C, &p.srv_wrote, 1000);
	usleep(10000);
	rsts = tcp_counter("OutRsts");

	copy = dup(p.srv);
	assert_int_equal(tcp_repair_dump(copy, &e), 0);
	close(copy);
	close(p.srv);
	r = tcp_repair_restore(e, &fd);
	if (r < 0)
		fprintf(stderr, "restore: %s\n", err_detail());
	assert_int_equal(r, 0);
	assert_int_equal(e->rcv_queue.len, 3000);
	tcp_repair_entry_free(e);
	p.srv = fd;
	assert_int_equal(local_port(p.srv), local_port(lfd));

	set_nonblock(p.cli, 1);
	set_nonblock(p.srv, 1);
	exchange(&p, 0, 0);
	assert_int_equal(tcp_counter("OutRsts"), rsts);
	orderly_close(&p);
	pair_close(&p);
	close(lfd);
}

static int opt_int(int fd, int level, int name)
{
	int val = -1;
	socklen_t len = sizeof(val);

	assert_int_equal(getsockopt(fd, level, name, &val, &len), 0);
	return val;
}

static void set_opt(int fd, int level, int name, int val)
{
	assert_int_equal(setsockopt(fd, level, name, &val, sizeof(val)), 0);
}

/* What the handshake negotiated survives: options, scales, MSS, the timestamp clock. */
static void check_negotiated(int fd, const TcpSocketEntry *e)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int ts_now = opt_int(fd, SOL_TCP, TCP_TIMESTAMP);

	assert_int_equal(getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &len), 0);
	assert_int_equal(!!(ti.tcpi_options & TCPI_OPT_SACK), e->sack);
	assert_int_equal(!!(ti.tcpi_options & TCPI_OPT_TIMESTAMPS), e->timestamps);
	assert_int_equal(!!(ti.tcpi_options & TCPI_OPT_WSCALE), e->wscale);
	assert_int_equal(ti.tcpi_snd_wscale, e->snd_wscale);
	assert_int_equal(ti.tcpi_rcv_wscale, e->rcv_wscale);
	assert_true((uint32_t)opt_int(fd, SOL_TCP, TCP_MAXSEG) <= e->mss);
	/* The clock went on from where it was (ms here), not from a new random offset. */
	assert_true(e->timestamps);
	assert_true((uint32_t)ts_now - e->timestamp < 5000);
}

static void test_options_preserved(void **state)
{
	struct pair p;
	TcpSocketEntry *e;
	int sndbuf, rcvbuf;
	long rsts;

	pair_open(AF_INET, &p);
	rsts = tcp_counter("OutRsts");
	set_opt(p.cli, SOL_TCP, TCP_NODELAY, 1);
	set_opt(p.cli, SOL_SOCKET, SO_KEEPALIVE, 1);
	set_opt(p.cli, SOL_TCP, TCP_KEEPIDLE, 33);
	set_opt(p.cli, SOL_TCP, TCP_KEEPINTVL, 7);
	set_opt(p.cli, SOL_TCP, TCP_KEEPCNT, 5);
	set_opt(p.cli, SOL_SOCKET, SO_SNDBUF, 96 << 10);
	set_opt(p.cli, SOL_SOCKET, SO_RCVBUF, 80 << 10);
	set_nonblock(p.cli, 1);
	sndbuf = opt_int(p.cli, SOL_SOCKET, SO_SNDBUF);
	rcvbuf = opt_int(p.cli, SOL_SOCKET, SO_RCVBUF);
	send_some(p.cli, DIR_C2S, &p.cli_wrote, 1000);
	send_some(p.srv, DIR_S2C, &p.srv_wrote, 2000);
	usleep(10000);

	migrate_client(&p, &e);
	check_negotiated(p.cli, e);
	tcp_repair_entry_free(e);
	assert_int_equal(opt_int(p.cli, SOL_TCP, TCP_NODELAY), 1);
	assert_int_equal(opt_int(p.cli, SOL_SOCKET, SO_KEEPALIVE), 1);
	assert_int_equal(opt_int(p.cli, SOL_TCP, TCP_KEEPIDLE), 33);
	assert_int_equal(opt_int(p.cli, SOL_TCP, TCP_KEEPINTVL), 7);
	assert_int_equal(opt_int(p.cli, SOL_TCP, TCP_KEEPCNT), 5);
	assert_int_equal(opt_int(p.cli, SOL_SOCKET, SO_SNDBUF), sndbuf);
	assert_int_equal(opt_int(p.cli, SOL_SOCKET, SO_RCVBUF), rcvbuf);
	assert_int_equal(opt_int(p.cli, SOL_TCP, TCP_REPAIR), 0);
	assert_true(fcntl(p.cli, F_GETFL) & O_NONBLOCK);

	exchange(&p, 0, 0);
	assert_int_equal(tcp_counter("OutRsts"), rsts); /* closing in repair mode sent nothing */
	orderly_close(&p);
	pair_close(&p);
}

/* Rollback: dump, then resume the same socket: the connection carries on untouched. */
static void test_rollback_resume(void **state)
{
	struct pair p;
	TcpSocketEntry *e;
	int copy, fd, r;

	pair_open(AF_INET6, &p);
	send_some(p.cli, DIR_C2S, &p.cli_wrote, 1500);
	send_some(p.srv, DIR_S2C, &p.srv_wrote, 2500);
	usleep(10000);
	copy = dup(p.cli);
	assert_true(copy >= 0);
	assert_int_equal(tcp_repair_dump(copy, &e), 0);
	assert_int_equal(opt_int(p.cli, SOL_TCP, TCP_REPAIR), 1);
	assert_int_equal(e->rcv_queue.len, 2500);
	/* The connection still exists here: a restore must fail and touch nothing. */
	fd = -1;
	r = tcp_repair_restore(e, &fd);
	fprintf(stderr, "  restore beside the original: %s\n", err_detail());
	assert_int_equal(r, -EADDRNOTAVAIL);
	assert_int_equal(fd, -1);
	tcp_repair_entry_free(e);
	assert_int_equal(tcp_repair_resume(copy), 0);
	close(copy);
	assert_int_equal(opt_int(p.cli, SOL_TCP, TCP_REPAIR), 0);
	assert_int_equal(tcp_repair_resume(p.cli), 0); /* not in repair mode: nothing to do */

	set_nonblock(p.cli, 1);
	set_nonblock(p.srv, 1);
	exchange(&p, 0, 0);
	orderly_close(&p);
	pair_close(&p);
}

static void test_listen(void **state)
{
	int lfd = listener_open(AF_INET6, 17), fd, cli, acc, r;
	uint16_t port = local_port(lfd);
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET6, port, &ss);
	TcpSocketEntry *e;

	assert_int_equal(tcp_repair_dump(lfd, &e), 0);
	assert_int_equal(e->state, 10);
	assert_true(e->has_backlog);
	assert_int_equal(e->backlog, 17);
	assert_int_equal(e->src_port, port);
	close(lfd);
	r = tcp_repair_restore(e, &fd);
	if (r < 0)
		fprintf(stderr, "restore: %s\n", err_detail());
	assert_int_equal(r, 0);
	tcp_repair_entry_free(e);
	assert_int_equal(local_port(fd), port);

	cli = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(cli, (struct sockaddr *)&ss, len), 0);
	acc = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(acc >= 0);
	assert_int_equal(send(cli, "x", 1, 0), 1);
	char c = 0;
	assert_int_equal(recv(acc, &c, 1, 0), 1);
	assert_int_equal(c, 'x');
	close(acc);
	close(cli);
	close(fd);
}

static int udp_open(int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, port, &ss);
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	return fd;
}

static void test_udp_connected(void **state)
{
	int peer = udp_open(AF_INET, 0), sock = udp_open(AF_INET, 0), fd, r;
	uint16_t peer_port = local_port(peer), port = local_port(sock);
	struct sockaddr_storage ss, from;
	socklen_t len = loopback(AF_INET, peer_port, &ss), flen = sizeof(from);
	TcpSocketEntry *e, *img;
	char buf[16] = "";

	assert_int_equal(connect(sock, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(tcp_repair_dump(sock, &e), 0);
	assert_int_equal(e->protocol, IPPROTO_UDP);
	assert_int_equal(e->state, 1);
	assert_int_equal(e->dst_port, peer_port);
	close(sock);
	img = roundtrip(e);
	tcp_repair_entry_free(e);
	r = tcp_repair_restore(img, &fd);
	if (r < 0)
		fprintf(stderr, "restore: %s\n", err_detail());
	assert_int_equal(r, 0);
	tcp_repair_entry_free(img);

	assert_int_equal(send(fd, "ping", 4, 0), 4); /* connected: no address needed */
	assert_int_equal(recvfrom(peer, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(ntohs(((struct sockaddr_in *)&from)->sin_port), port);
	assert_int_equal(sendto(peer, "pong", 4, 0, (struct sockaddr *)&from, flen), 4);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "pong", 4);
	close(fd);
	close(peer);
}

static void test_udp_unbound(void **state)
{
	int sock = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), fd;
	TcpSocketEntry *e;

	assert_true(sock >= 0);
	assert_int_equal(tcp_repair_dump(sock, &e), 0);
	assert_int_equal(e->state, 7);
	assert_int_equal(e->src_port, 0);
	assert_int_equal(tcp_repair_restore(e, &fd), 0);
	assert_int_equal(local_port(fd), 0);
	tcp_repair_entry_free(e);
	close(fd);
	close(sock);
}

/* Half-closed: the server sent its FIN; the client sits in CLOSE_WAIT. */
static void test_refuses_close_wait(void **state)
{
	struct pair p;
	TcpSocketEntry *e = NULL;

	pair_open(AF_INET, &p);
	assert_int_equal(shutdown(p.srv, SHUT_WR), 0);
	usleep(10000);
	assert_int_equal(tcp_repair_dump(p.cli, &e), -EOPNOTSUPP);
	assert_null(e);
	assert_non_null(strstr(err_detail(), "CLOSE_WAIT"));
	assert_int_equal(opt_int(p.cli, SOL_TCP, TCP_REPAIR), 0);
	pair_close(&p);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(tcp_repair_dump(fd, &e), -EOPNOTSUPP);
	assert_non_null(strstr(err_detail(), "CLOSE"));
	close(fd);
}

/* Drops CAP_NET_ADMIN from the calling process's effective set. */
static int drop_net_admin(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	return syscall(SYS_capset, &hdr, data) < 0 ? -1 : 0;
}

/* Without CAP_NET_ADMIN: -EPERM that names the capability, and the socket as it was. */
static void test_refuses_without_net_admin(void **state)
{
	struct pair p;
	int status;
	pid_t pid;

	pair_open(AF_INET, &p);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		TcpSocketEntry *e = NULL;
		if (drop_net_admin() < 0)
			_exit(2);
		if (tcp_repair_dump(p.cli, &e) != -EPERM || e)
			_exit(3);
		if (!strstr(err_detail(), "CAP_NET_ADMIN"))
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(opt_int(p.cli, SOL_TCP, TCP_REPAIR), 0);
	set_nonblock(p.cli, 1);
	set_nonblock(p.srv, 1);
	exchange(&p, 0, 0);
	pair_close(&p);
}

static void test_refuses_non_inet(void **state)
{
	int sv[2];
	TcpSocketEntry *e = NULL;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(tcp_repair_dump(sv[0], &e), -EOPNOTSUPP);
	assert_null(e);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(tcp_repair_dump(STDIN_FILENO, &e) < 0, 1);
}

/* A well-formed established entry that the hostile tests then spoil one field at a time. */
static void good_entry(TcpSocketEntry *e, uint8_t *addr, uint8_t *queue)
{
	tcp_socket_entry__init(e);
	e->family = AF_INET;
	e->protocol = IPPROTO_TCP;
	e->state = 1;
	memcpy(addr, "\x7f\0\0\x01", 4);
	e->src_addr = (ProtobufCBinaryData){ 4, addr };
	e->src_port = 40000;
	e->dst_addr = (ProtobufCBinaryData){ 4, addr };
	e->has_dst_addr = e->has_dst_port = true;
	e->dst_port = 40001;
	e->has_snd_seq = e->has_rcv_seq = true;
	e->snd_queue = (ProtobufCBinaryData){ 16, queue };
	e->has_snd_queue = true;
}

static void expect_refused(const TcpSocketEntry *e, const char *words)
{
	int fd = -1;

	assert_int_equal(tcp_repair_restore(e, &fd), -EINVAL);
	assert_int_equal(fd, -1);
	if (!strstr(err_detail(), words))
		fail_msg("detail \"%s\" does not say \"%s\"", err_detail(), words);
}

static void test_hostile_entries(void **state)
{
	uint8_t addr[16] = { 0 }, queue[16] = { 0 };
	TcpSocketEntry e;

	good_entry(&e, addr, queue);
	assert_int_equal(tcp_repair_entry_check(&e), 0);

	e.family = 99;
	expect_refused(&e, "unknown address family 99");
	good_entry(&e, addr, queue);
	e.rcv_queue.len = 1u << 30; /* never read: refused on its size alone */
	expect_refused(&e, "limit");
	good_entry(&e, addr, queue);
	e.snd_queue.len = (size_t)TCP_REPAIR_QUEUE_MAX + 1;
	expect_refused(&e, "limit");
	good_entry(&e, addr, queue);
	e.snd_unsent = 17;
	expect_refused(&e, "unsent");
	good_entry(&e, addr, queue);
	e.src_addr.len = 16; /* an IPv6-sized address in an IPv4 entry */
	expect_refused(&e, "local address is 16 bytes");
	good_entry(&e, addr, queue);
	e.dst_port = 70000;
	expect_refused(&e, "port 70000");
	good_entry(&e, addr, queue);
	e.wscale = true;
	e.snd_wscale = 15;
	expect_refused(&e, "window scale");
	good_entry(&e, addr, queue);
	e.state = 2;
	expect_refused(&e, "SYN_SENT");
	good_entry(&e, addr, queue);
	e.protocol = 132;
	expect_refused(&e, "unknown protocol");
	good_entry(&e, addr, queue);
	e.has_dst_addr = false;
	expect_refused(&e, "ports");
	good_entry(&e, addr, queue);
	e.keep_cnt = 1000;
	expect_refused(&e, "keepalive");
}

static void test_state_names(void **state)
{
	assert_string_equal(tcp_repair_state_name(1), "ESTABLISHED");
	assert_string_equal(tcp_repair_state_name(8), "CLOSE_WAIT");
	assert_string_equal(tcp_repair_state_name(0), "UNKNOWN");
	assert_string_equal(tcp_repair_state_name(200), "UNKNOWN");
	tcp_repair_entry_free(NULL);
}

/* In this (new) namespace: lo up brings 127.0.0.1 and ::1 with it. */
static int netns_enter(void)
{
	struct ifreq ifr = { 0 };
	int fd, r;

	if (unshare(CLONE_NEWNET) < 0)
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	r = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (r == 0)
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	r = r < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int run_all(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_hostile_entries),
		cmocka_unit_test(test_refuses_non_inet),
		cmocka_unit_test(test_refuses_close_wait),
		cmocka_unit_test(test_established_ipv4),
		cmocka_unit_test(test_established_ipv6),
		cmocka_unit_test(test_in_flight),
		cmocka_unit_test(test_options_preserved),
		cmocka_unit_test(test_rollback_resume),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_udp_connected),
		cmocka_unit_test(test_udp_unbound),
		cmocka_unit_test(test_accepted_beside_listener),
		cmocka_unit_test(test_v4_mapped),
		cmocka_unit_test(test_refuses_without_net_admin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

int main(void)
{
	int status, r;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "test_tcp_repair: needs root (network namespace, TCP_REPAIR), "
				"skipping\n");
		return 77;
	}
	pid = fork();
	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		r = netns_enter();
		if (r < 0) {
			fprintf(stderr, "test_tcp_repair: no network namespace (%s), skipping\n",
				strerror(-r));
			_exit(77);
		}
		exit(run_all() ? 1 : 0); /* exit, not _exit: LeakSanitizer checks at exit */
	}
	if (waitpid(pid, &status, 0) != pid)
		return perror("waitpid"), 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
