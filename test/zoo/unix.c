/*
 * unix: unix sockets of one process kept across a checkpoint.
 *
 *	stream     socketpair, STREAM_A bytes unread on [1] (written by [0] in pieces) and
 *	           STREAM_B on [0]; [1] O_NONBLOCK; [0] dup'd; [0] with a set send buffer
 *	           and a peek offset (SO_PEEK_OFF) PEEKED bytes into its data
 *	dgram      socketpair, datagrams of different sizes unread both ways
 *	seqpacket  socketpair, records unread both ways, SO_PASSCRED on [0], [1] shut for
 *	           writing (so [0] reads its records, then the end)
 *	orphan     stream socketpair whose [1] was closed after writing: [0] reads it, then the end
 *	listener   stream socket bound to CHECK.lsock, listening: connected to after restore
 *	abstract   seqpacket socket listening on an abstract name: connected to after restore
 *	accepted   a connection of the process to its own listener (abstract name), both ends
 *	           held, data unread both ways
 *	bound      datagram socket bound to CHECK.dsock with datagrams unread from an unnamed
 *	           sender, the last one empty; receives a new one after restore
 *	connected  datagram socket bound to CHECK.csock, connected to "bound", one datagram of
 *	           its unread there (with its name as sender): what it sends after restore too
 *
 * After restore every socket gives exactly its unread data back (message boundaries kept,
 * then EAGAIN or the end), names, flags and options are as before, and every socket still
 * works: new data both ways, new connections to the listeners.
 */
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "zoo.h"

#define STREAM_A (70 * 1024)
#define STREAM_B 5000
#define NR_RECORDS 5
#define SNDBUF 65536
#define PEEKED 100

static int stream[2], stream_dup, dgram[2], seqp[2], orphan;
static int listener, abstract, acc_listener, acc_client, acc_server, bound, connected;
static char lpath[256], dpath[256], cpath[256], aname[64], accname[64];

static uint8_t pattern(size_t i, uint8_t salt)
{
	return (uint8_t)(zoo_mix(i) ^ salt);
}

static size_t record_len(int i, int salt)
{
	return (size_t)(1 + i * 700 + salt * 13);
}

static int write_pattern(int fd, size_t len, uint8_t salt, size_t piece)
{
	uint8_t buf[8192];

	for (size_t done = 0; done < len;) {
		size_t n = len - done < piece ? len - done : piece;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(done + i, salt);
		if (write(fd, buf, n) != (ssize_t)n)
			return -1;
		done += n;
	}
	return 0;
}

static int send_records(int fd, int salt)
{
	for (int i = 0; i < NR_RECORDS; i++)
		if (write_pattern(fd, record_len(i, salt), (uint8_t)(salt + i), 8192) < 0)
			return -1;
	return 0;
}

static socklen_t addr_of(const char *name, bool abstract_name, struct sockaddr_un *sa)
{
	size_t n = strlen(name);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (abstract_name) {
		memcpy(sa->sun_path + 1, name, n);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	}
	memcpy(sa->sun_path, name, n);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

static int listen_on(int type, const char *name, bool abstract_name)
{
	struct sockaddr_un sa;
	socklen_t len = addr_of(name, abstract_name, &sa);
	int fd = socket(AF_UNIX, type, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 8) < 0)
		return -1;
	return fd;
}

static int connect_to(int type, const char *name, bool abstract_name)
{
	struct sockaddr_un sa;
	socklen_t len = addr_of(name, abstract_name, &sa);
	int fd = socket(AF_UNIX, type, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, len) < 0)
		return -1;
	return fd;
}

static int setup_pairs(void)
{
	int sz = SNDBUF, on = 1, op[2];
	uint8_t buf[PEEKED];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, stream) < 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, dgram) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, seqp) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, op) < 0)
		return -1;
	if (write_pattern(stream[0], STREAM_A, 0x31, 1000) < 0 ||
	    write_pattern(stream[1], STREAM_B, 0x32, 333) < 0)
		return -1;
	/* A peek offset of the process's own: 100 bytes of [0]'s data peeked already. */
	if (setsockopt(stream[0], SOL_SOCKET, SO_PEEK_OFF, &(int){ 0 }, sizeof(int)) < 0 ||
	    recv(stream[0], buf, PEEKED, MSG_PEEK) != PEEKED)
		return -1;
	if (setsockopt(stream[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) < 0 ||
	    fcntl(stream[1], F_SETFL, O_NONBLOCK) < 0 || (stream_dup = dup(stream[0])) < 0)
		return -1;
	if (send_records(dgram[0], 1) < 0 || send_records(dgram[1], 2) < 0 ||
	    send_records(seqp[0], 3) < 0 || send_records(seqp[1], 4) < 0)
		return -1;
	if (setsockopt(seqp[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0 ||
	    shutdown(seqp[1], SHUT_WR) < 0)
		return -1;
	if (write(op[1], "bye", 3) != 3 || close(op[1]) < 0)
		return -1;
	orphan = op[0];
	return 0;
}

static int setup_named(void)
{
	struct sockaddr_un sa;
	socklen_t len = addr_of(dpath, false, &sa);
	int tmp;

	listener = listen_on(SOCK_STREAM, lpath, false);
	abstract = listen_on(SOCK_SEQPACKET, aname, true);
	acc_listener = listen_on(SOCK_STREAM, accname, true);
	if (listener < 0 || abstract < 0 || acc_listener < 0)
		return -1;
	acc_client = connect_to(SOCK_STREAM, accname, true);
	acc_server = acc_client < 0 ? -1 : accept(acc_listener, NULL, NULL);
	if (acc_server < 0 || write(acc_client, "ping", 4) != 4 ||
	    write(acc_server, "pong!", 5) != 5)
		return -1;
	bound = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (bound < 0 || bind(bound, (struct sockaddr *)&sa, len) < 0)
		return -1;
	tmp = socket(AF_UNIX, SOCK_DGRAM, 0);
	for (int i = 0; tmp >= 0 && i < 3; i++)
		if (sendto(tmp, "dgram-0", 7 - (i == 0), 0, (struct sockaddr *)&sa, len) < 0)
			return -1;
	if (tmp < 0 || sendto(tmp, "", 0, 0, (struct sockaddr *)&sa, len) < 0 || close(tmp) < 0)
		return -1;
	/* Bound too, so that its datagram names it as the sender. */
	connected = socket(AF_UNIX, SOCK_DGRAM, 0);
	len = addr_of(cpath, false, &sa);
	if (connected < 0 || bind(connected, (struct sockaddr *)&sa, len) < 0)
		return -1;
	len = addr_of(dpath, false, &sa);
	if (connect(connected, (struct sockaddr *)&sa, len) < 0 ||
	    send(connected, "named", 5, 0) != 5)
		return -1;
	return 0;
}

/* Exactly len bytes of the pattern, then nothing (EAGAIN) or the end (0). */
static void check_stream(const char *name, int fd, size_t len, uint8_t salt, bool eof)
{
	static uint8_t buf[STREAM_A + 1];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(buf) && (n = recv(fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT)) > 0)
		got += (size_t)n;
	if (got != len)
		return zoo_fail("%s: %zu bytes unread after restore, expected %zu", name, got, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(i, salt))
			return zoo_fail("%s: byte %zu differs", name, i);
	n = recv(fd, buf, 1, MSG_DONTWAIT);
	if (eof ? n != 0 : !(n < 0 && errno == EAGAIN))
		zoo_fail("%s: after the data: %zd (%s), expected %s", name, n, strerror(errno),
			 eof ? "the end" : "EAGAIN");
}

static void check_records(const char *name, int fd, int salt, bool eof)
{
	static uint8_t buf[65536];
	ssize_t n;

	for (int i = 0; i < NR_RECORDS; i++) {
		size_t len = record_len(i, salt);

		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n != (ssize_t)len)
			return zoo_fail("%s: record %d is %zd bytes, expected %zu (%s)", name, i, n,
					len, strerror(errno));
		for (size_t j = 0; j < len; j++)
			if (buf[j] != pattern(j, (uint8_t)(salt + i)))
				return zoo_fail("%s: record %d: byte %zu differs", name, i, j);
	}
	n = recv(fd, buf, 1, MSG_DONTWAIT);
	if (eof ? n != 0 : !(n < 0 && errno == EAGAIN))
		zoo_fail("%s: after the records: %zd, expected %s", name, n,
			 eof ? "the end" : "EAGAIN");
}

static void check_pairs(void)
{
	int sz = 0, on = 0;
	socklen_t len = sizeof(int);
	char buf[8];

	if (getsockopt(stream[0], SOL_SOCKET, SO_SNDBUF, &sz, &len) < 0 || sz != 2 * SNDBUF)
		zoo_fail("stream: send buffer %d, expected %d", sz, 2 * SNDBUF);
	if (!(fcntl(stream[1], F_GETFL) & O_NONBLOCK) || (fcntl(stream[0], F_GETFL) & O_NONBLOCK))
		zoo_fail("stream: O_NONBLOCK not as before");
	if (getsockopt(seqp[0], SOL_SOCKET, SO_PASSCRED, &on, &len) < 0 || !on)
		zoo_fail("seqpacket: SO_PASSCRED lost");
	if (recv(stream[0], buf, 8, MSG_PEEK | MSG_DONTWAIT) != 8)
		zoo_fail("stream: [0] cannot be peeked after restore");
	for (int i = 0; i < 8; i++)
		if ((uint8_t)buf[i] != pattern(PEEKED + (size_t)i, 0x32))
			return zoo_fail("stream: [0]'s peek offset (SO_PEEK_OFF) was lost");
	check_stream("stream [1]", stream[1], STREAM_A, 0x31, false);
	check_stream("stream [0]", stream[0], STREAM_B, 0x32, false);
	check_records("dgram [1]", dgram[1], 1, false);
	check_records("dgram [0]", dgram[0], 2, false);
	check_records("seqpacket [1]", seqp[1], 3, false);
	check_records("seqpacket [0]", seqp[0], 4, true);
	if (write(stream_dup, "dup", 3) != 3 || recv(stream[1], buf, 3, MSG_DONTWAIT) != 3 ||
	    memcmp(buf, "dup", 3))
		zoo_fail("stream: the dup'd fd is not the same socket after restore");
	if (write(dgram[1], "x", 1) != 1 || recv(dgram[0], buf, 8, MSG_DONTWAIT) != 1)
		zoo_fail("dgram: a new datagram does not go through");
	if (send(seqp[1], "x", 1, MSG_NOSIGNAL) >= 0)
		zoo_fail("seqpacket: [1] can write again after its shutdown");
	if (recv(orphan, buf, 8, MSG_DONTWAIT) != 3 || memcmp(buf, "bye", 3) ||
	    recv(orphan, buf, 8, MSG_DONTWAIT) != 0)
		zoo_fail("orphan: expected \"bye\" then the end");
}

static void check_name(const char *what, int fd, const char *name, bool abstract_name)
{
	struct sockaddr_un want, got;
	socklen_t wlen = addr_of(name, abstract_name, &want), glen = sizeof(got);
	size_t cmp = abstract_name ? wlen : offsetof(struct sockaddr_un, sun_path) + strlen(name);

	memset(&got, 0, sizeof(got));
	if (getsockname(fd, (struct sockaddr *)&got, &glen) < 0 || glen < cmp ||
	    memcmp(&got, &want, cmp))
		zoo_fail("%s: not bound to its name after restore", what);
}

static void check_listener(const char *what, int lfd, int type, const char *name, bool abs)
{
	int c = connect_to(type, name, abs), a = -1;
	char buf[8];

	if (c < 0)
		return zoo_fail("%s: cannot connect to it after restore: %s", what,
				strerror(errno));
	a = accept(lfd, NULL, NULL);
	if (a < 0 || write(c, "hi", 2) != 2 || recv(a, buf, 8, 0) != 2 || memcmp(buf, "hi", 2))
		zoo_fail("%s: a new connection does not carry data", what);
	close(c);
	if (a >= 0)
		close(a);
}

static void check_named(void)
{
	struct sockaddr_un from;
	socklen_t flen;
	char buf[16];
	struct stat st;

	check_name("listener", listener, lpath, false);
	check_name("abstract", abstract, aname, true);
	check_name("bound", bound, dpath, false);
	if (stat(lpath, &st) < 0 || !S_ISSOCK(st.st_mode))
		zoo_fail("listener: %s is not a socket file after restore", lpath);
	check_listener("listener", listener, SOCK_STREAM, lpath, false);
	check_listener("abstract", abstract, SOCK_SEQPACKET, aname, true);
	check_listener("accepted's listener", acc_listener, SOCK_STREAM, accname, true);
	if (recv(acc_server, buf, 16, MSG_DONTWAIT) != 4 || memcmp(buf, "ping", 4) ||
	    recv(acc_client, buf, 16, MSG_DONTWAIT) != 5 || memcmp(buf, "pong!", 5))
		zoo_fail("accepted: the unread data is not as before");
	if (write(acc_client, "again", 5) != 5 || recv(acc_server, buf, 16, 0) != 5)
		zoo_fail("accepted: the connection does not carry new data");
	for (int i = 0; i < 3; i++) {
		flen = sizeof(from);
		if (recvfrom(bound, buf, 16, MSG_DONTWAIT, (struct sockaddr *)&from, &flen) !=
			    7 - (i == 0) ||
		    memcmp(buf, "dgram-0", 7 - (i == 0)))
			return zoo_fail("bound: datagram %d is not as before", i);
		if (flen > sizeof(sa_family_t))
			return zoo_fail("bound: datagram %d has a sender name (%u bytes)", i,
					(unsigned int)flen);
	}
	if (recv(bound, buf, 16, MSG_DONTWAIT) != 0)
		zoo_fail("bound: the zero-length datagram is not as before");
	flen = sizeof(from);
	if (recvfrom(bound, buf, 16, MSG_DONTWAIT, (struct sockaddr *)&from, &flen) != 5 ||
	    memcmp(buf, "named", 5) || strcmp(from.sun_path, cpath))
		zoo_fail("bound: the datagram of \"connected\" lost its data or its sender's name");
	if (recv(bound, buf, 16, MSG_DONTWAIT) >= 0 || errno != EAGAIN)
		zoo_fail("bound: more datagrams than queued");
	if (send(connected, "new", 3, 0) != 3 || recv(bound, buf, 16, MSG_DONTWAIT) != 3)
		zoo_fail("connected: its datagram does not reach the bound socket");
}

int main(int argc, char **argv)
{
	zoo_init(argc, argv, "unix");
	snprintf(lpath, sizeof(lpath), "%s.lsock", argv[1]);
	snprintf(dpath, sizeof(dpath), "%s.dsock", argv[1]);
	snprintf(cpath, sizeof(cpath), "%s.csock", argv[1]);
	snprintf(aname, sizeof(aname), "zoo-unix-%d", (int)getpid());
	snprintf(accname, sizeof(accname), "zoo-unix-acc-%d", (int)getpid());
	unlink(lpath);
	unlink(dpath);
	unlink(cpath);
	if (lpath[0] != '/' || setup_pairs() < 0 || setup_named() < 0) {
		zoo_fail("setup: %s (the check file needs an absolute path)", strerror(errno));
		return zoo_finish();
	}
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	check_pairs();
	check_named();
	unlink(lpath);
	unlink(dpath);
	unlink(cpath);
	return zoo_finish();
}
