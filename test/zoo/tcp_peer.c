/*
 * tcp_peer: the test-side peer of the tcp zoo program (it is never dumped itself).
 *
 *	tcp_peer CHECK PEER4 PEER6 PORT
 *
 * Accepts one connection on PEER4:PORT and one on [PEER6]:PORT, then streams to each the
 * pattern tcp expects while checking the one tcp sends, reading slower than it writes (full
 * queues on both sides); echoes datagrams on PEER4:PORT+1. When tcp ends a stream (FIN),
 * the peer ends its own once everything was read. Exits with PASS when both streams ended
 * cleanly and with FAIL on any error: a reset, a byte out of pattern, a stream cut short.
 * Prints "peer tcp4 sent S rcvd R" per stream for the test to compare with tcp's totals.
 * Creating CHECK stops it early (FAIL if the streams had not ended).
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
#define SEED_TO_PEER 17
#define SEED_FROM_PEER 101

struct stream {
	const char *name;
	int fd;
	uint64_t sent, rcvd;
	bool eof, done;
};

static struct stream streams[2] = { { .name = "tcp4", .fd = -1 }, { .name = "tcp6", .fd = -1 } };
static int udp_fd = -1;
static uint64_t echoed;

static uint8_t pattern(uint32_t seed, uint64_t i)
{
	return (uint8_t)(seed + i + i / 251);
}

static int listen_on(int family, int type, const char *text, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd = socket(family, type | SOCK_CLOEXEC, 0), one = 1, buf = 256 * 1024;

	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, text, &a->sin_addr);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, text, &a->sin6_addr);
		len = sizeof(*a);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 4) < 0)) {
		zoo_fail("listen on %s:%u: %s", text, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void stream_write(struct stream *s)
{
	static uint8_t buf[CHUNK_OUT];
	ssize_t n;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(SEED_FROM_PEER, s->sent + i);
	n = send(s->fd, buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		s->sent += (uint64_t)n;
	else if (n < 0 && errno != EAGAIN && errno != EINTR)
		zoo_fail("%s: send after %llu bytes: %s", s->name, (unsigned long long)s->sent,
			 strerror(errno));
}

static void stream_read(struct stream *s, size_t max)
{
	static uint8_t buf[CHUNK_IN * 8];
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
		if (buf[i] != pattern(SEED_TO_PEER, s->rcvd + (uint64_t)i)) {
			zoo_fail("%s: byte %llu is 0x%02x, expected 0x%02x (lost, repeated or "
				 "reordered data)",
				 s->name, (unsigned long long)(s->rcvd + i), buf[i],
				 pattern(SEED_TO_PEER, s->rcvd + (uint64_t)i));
			break;
		}
	s->rcvd += (uint64_t)n;
}

static void udp_echo(void)
{
	struct sockaddr_storage from;
	socklen_t len = sizeof(from);
	uint8_t buf[64];
	ssize_t n;

	while ((n = recvfrom(udp_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
			     &len)) > 0) {
		if (sendto(udp_fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len) == n)
			echoed++;
		len = sizeof(from);
	}
}

/* One connection on each listener (they may come in any order). */
static void accept_both(int l4, int l6)
{
	uint64_t deadline = zoo_now_ms() + 10000;

	while ((streams[0].fd < 0 || streams[1].fd < 0) && zoo_now_ms() < deadline) {
		struct pollfd p[2] = { { .fd = l4, .events = POLLIN },
				       { .fd = l6, .events = POLLIN } };

		(void)poll(p, 2, 100);
		for (int i = 0; i < 2; i++)
			if (streams[i].fd < 0 && (p[i].revents & POLLIN))
				streams[i].fd = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
	}
	if (streams[0].fd < 0 || streams[1].fd < 0)
		zoo_fail("tcp did not connect within 10 s");
}

int main(int argc, char **argv)
{
	int l4, l6;

	zoo_init(argc, argv, "tcp_peer");
	if (argc != 5) {
		fprintf(stderr, "usage: tcp_peer CHECK PEER4 PEER6 PORT\n");
		return 2;
	}
	l4 = listen_on(AF_INET, SOCK_STREAM, argv[2], (uint16_t)atoi(argv[4]));
	l6 = listen_on(AF_INET6, SOCK_STREAM, argv[3], (uint16_t)atoi(argv[4]));
	udp_fd = listen_on(AF_INET, SOCK_DGRAM, argv[2], (uint16_t)(atoi(argv[4]) + 1));
	if (zoo_failed())
		return zoo_finish();
	zoo_ready();
	accept_both(l4, l6);
	while (!zoo_failed() && !zoo_check_requested() && (!streams[0].done || !streams[1].done)) {
		for (int i = 0; i < 2; i++) {
			struct stream *s = &streams[i];

			if (s->done)
				continue;
			if (!s->eof)
				stream_write(s);
			stream_read(s, s->eof ? CHUNK_IN * 8 : CHUNK_IN);
			/* tcp ended: everything it sent is read; end ours. */
			if (s->eof && !s->done) {
				if (shutdown(s->fd, SHUT_WR) < 0)
					zoo_fail("%s: shutdown: %s", s->name, strerror(errno));
				s->done = true;
			}
		}
		udp_echo();
		zoo_sleep_ms(5);
	}
	for (int i = 0; i < 2; i++) {
		printf("peer %s sent %llu rcvd %llu\n", streams[i].name,
		       (unsigned long long)streams[i].sent, (unsigned long long)streams[i].rcvd);
		if (!streams[i].done)
			zoo_fail("%s did not end (stopped by the check file)", streams[i].name);
	}
	printf("peer udp echoed %llu\n", (unsigned long long)echoed);
	/* Linger so that our FINs are acknowledged before the sockets go. */
	zoo_sleep_ms(200);
	return zoo_finish();
}
