/*
 * tcp: inet sockets with data in flight, whose peer is tcp_peer (a test-side program).
 *
 *	tcp CHECK LOCAL4 LOCAL6 PEER4 PEER6 PORT
 *
 *	tcp4, tcp6   connections from LOCAL4 / [LOCAL6] to tcp_peer at PEER4:PORT / [PEER6]:PORT;
 *	             each side writes a byte stream faster than the other reads it, so that
 *	             both the send and the receive queues are full when the dump comes
 *	listener     LOCAL4:PORT+2: says "hello from tcp N" to every connection it accepts
 *	udp          LOCAL4:PORT+3 connected to tcp_peer's echo at PEER4:PORT+1: a numbered
 *	             datagram every 10 ms, echoes counted
 *
 * Every byte received is checked against the stream's pattern at its offset: a byte lost,
 * repeated or reordered across the restore breaks it. At the check: stop writing, FIN,
 * read to the peer's FIN, print the totals (the test compares them with tcp_peer's), and
 * fail on any error (a reset above all) or when no echo came back lately.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include "zoo.h"

#define CHUNK_OUT (32 * 1024)
#define CHUNK_IN (8 * 1024)
#define BUF_SIZE (128 * 1024)
#define SEED_TO_PEER 17
#define SEED_FROM_PEER 101
#define END_TIMEOUT_MS 15000

struct stream {
	const char *name;
	int fd;
	uint64_t sent, rcvd;
	bool eof;
};

static struct stream streams[2] = { { .name = "tcp4", .fd = -1 }, { .name = "tcp6", .fd = -1 } };
static int listen_fd = -1, udp_fd = -1;
static unsigned long accepted;
static uint64_t udp_sent, udp_echoes, last_echo_ms;

static uint8_t pattern(uint32_t seed, uint64_t i)
{
	return (uint8_t)(seed + i + i / 251);
}

static void addr_of(int family, const char *text, uint16_t port, struct sockaddr_storage *ss,
		    socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (inet_pton(AF_INET, text, &a->sin_addr) != 1)
			zoo_fail("bad IPv4 address %s", text);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, text, &a->sin6_addr) != 1)
			zoo_fail("bad IPv6 address %s", text);
		*len = sizeof(*a);
	}
}

/* A socket bound to local:lport (0: any port), connected to peer:pport when peer is set. */
static int sock_make(int family, int type, const char *local, uint16_t lport, const char *peer,
		     uint16_t pport)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, type | SOCK_CLOEXEC, 0), one = 1, buf = 256 * 1024;

	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_STREAM && peer) {
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	addr_of(family, local, lport, &ss, &len);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		goto fail;
	if (peer) {
		addr_of(family, peer, pport, &ss, &len);
		if (connect(fd, (struct sockaddr *)&ss, len) < 0)
			goto fail;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		goto fail;
	return fd;
fail:
	zoo_fail("socket %s:%u -> %s:%u: %s", local, lport, peer ? peer : "-", pport,
		 strerror(errno));
	close(fd);
	return -1;
}

static void stream_write(struct stream *s)
{
	static uint8_t buf[CHUNK_OUT];
	ssize_t n;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(SEED_TO_PEER, s->sent + i);
	n = send(s->fd, buf, sizeof(buf), MSG_NOSIGNAL);
	if (n > 0)
		s->sent += (uint64_t)n;
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		zoo_fail("%s: send after %llu bytes: %s", s->name, (unsigned long long)s->sent,
			 strerror(errno));
}

/* Reads at most max bytes, checking each against the pattern. */
static void stream_read(struct stream *s, size_t max)
{
	static uint8_t buf[BUF_SIZE];
	ssize_t n = recv(s->fd, buf, max < sizeof(buf) ? max : sizeof(buf), MSG_DONTWAIT);

	if (n == 0) {
		s->eof = true;
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			zoo_fail("%s: recv after %llu bytes: %s", s->name,
				 (unsigned long long)s->rcvd, strerror(errno));
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != pattern(SEED_FROM_PEER, s->rcvd + (uint64_t)i)) {
			zoo_fail("%s: byte %llu is 0x%02x, expected 0x%02x (lost, repeated or "
				 "reordered data)",
				 s->name, (unsigned long long)(s->rcvd + i), buf[i],
				 pattern(SEED_FROM_PEER, s->rcvd + (uint64_t)i));
			break;
		}
	s->rcvd += (uint64_t)n;
}

static void listener_poll(void)
{
	char msg[64];
	int fd;

	while ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		int len = snprintf(msg, sizeof(msg), "hello from tcp %lu\n", ++accepted);

		if (write(fd, msg, (size_t)len) != len)
			zoo_fail("listener: write to accepted connection: %s", strerror(errno));
		close(fd);
	}
	if (errno != EAGAIN && errno != EINTR)
		zoo_fail("listener: accept: %s", strerror(errno));
}

static void udp_poll(bool send_one)
{
	uint64_t seq;
	ssize_t n;

	if (send_one) {
		seq = ++udp_sent;
		if (send(udp_fd, &seq, sizeof(seq), 0) < 0 && errno != EAGAIN &&
		    errno != ECONNREFUSED)
			zoo_fail("udp: send: %s", strerror(errno));
	}
	while ((n = recv(udp_fd, &seq, sizeof(seq), MSG_DONTWAIT)) == (ssize_t)sizeof(seq)) {
		if (seq == 0 || seq > udp_sent)
			zoo_fail("udp: echo of datagram %llu, only %llu sent",
				 (unsigned long long)seq, (unsigned long long)udp_sent);
		udp_echoes++;
		last_echo_ms = zoo_now_ms();
	}
}

static void setup(char **argv)
{
	uint16_t port = (uint16_t)atoi(argv[6]);

	streams[0].fd = sock_make(AF_INET, SOCK_STREAM, argv[2], 0, argv[4], port);
	streams[1].fd = sock_make(AF_INET6, SOCK_STREAM, argv[3], 0, argv[5], port);
	listen_fd = sock_make(AF_INET, SOCK_STREAM, argv[2], port + 2, NULL, 0);
	if (listen_fd >= 0 && listen(listen_fd, 16) < 0)
		zoo_fail("listen: %s", strerror(errno));
	udp_fd = sock_make(AF_INET, SOCK_DGRAM, argv[2], port + 3, argv[4], port + 1);
}

/* The end: FIN after everything sent, then everything the peer sent, up to its FIN. */
static void finish_streams(void)
{
	uint64_t deadline = zoo_now_ms() + END_TIMEOUT_MS;

	for (int i = 0; i < 2; i++)
		if (shutdown(streams[i].fd, SHUT_WR) < 0)
			zoo_fail("%s: shutdown: %s", streams[i].name, strerror(errno));
	while ((!streams[0].eof || !streams[1].eof) && !zoo_failed() && zoo_now_ms() < deadline) {
		struct pollfd p[2] = { { .fd = streams[0].fd, .events = POLLIN },
				       { .fd = streams[1].fd, .events = POLLIN } };

		(void)poll(p, 2, 100);
		for (int i = 0; i < 2; i++)
			if (!streams[i].eof)
				stream_read(&streams[i], BUF_SIZE);
	}
	for (int i = 0; i < 2; i++)
		if (!streams[i].eof)
			zoo_fail("%s: no FIN from the peer within %d ms", streams[i].name,
				 END_TIMEOUT_MS);
}

int main(int argc, char **argv)
{
	unsigned long ticks = 0;

	zoo_init(argc, argv, "tcp");
	if (argc != 7) {
		fprintf(stderr, "usage: tcp CHECK LOCAL4 LOCAL6 PEER4 PEER6 PORT\n");
		return 2;
	}
	setup(argv);
	if (zoo_failed())
		return zoo_finish();
	zoo_ready();
	while (!zoo_check_requested() && !zoo_failed()) {
		for (int i = 0; i < 2; i++) {
			stream_write(&streams[i]);
			stream_read(&streams[i], CHUNK_IN);
			if (streams[i].eof)
				zoo_fail("%s: the peer closed the connection", streams[i].name);
		}
		listener_poll();
		udp_poll(ticks % 2 == 0);
		if (++ticks % 200 == 0)
			printf("progress tcp4 %llu/%llu tcp6 %llu/%llu udp %llu/%llu\n",
			       (unsigned long long)streams[0].sent,
			       (unsigned long long)streams[0].rcvd,
			       (unsigned long long)streams[1].sent,
			       (unsigned long long)streams[1].rcvd, (unsigned long long)udp_sent,
			       (unsigned long long)udp_echoes);
		zoo_sleep_ms(5);
	}
	if (!zoo_failed() && zoo_now_ms() - last_echo_ms > 1000)
		zoo_fail("udp: no echo for %llu ms (%llu sent, %llu echoed)",
			 (unsigned long long)(zoo_now_ms() - last_echo_ms),
			 (unsigned long long)udp_sent, (unsigned long long)udp_echoes);
	if (!zoo_failed())
		finish_streams();
	for (int i = 0; i < 2; i++)
		printf("%s sent %llu rcvd %llu\n", streams[i].name,
		       (unsigned long long)streams[i].sent, (unsigned long long)streams[i].rcvd);
	printf("listener accepted %lu\nudp sent %llu echoes %llu\n", accepted,
	       (unsigned long long)udp_sent, (unsigned long long)udp_echoes);
	return zoo_finish();
}
