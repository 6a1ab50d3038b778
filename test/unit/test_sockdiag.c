/*
 * test_sockdiag: socket enumeration with NETLINK_SOCK_DIAG.
 *
 * The parsers run anywhere. The live tests need root: they run in a forked
 * child inside a network namespace of its own (loopback only), so the list
 * holds exactly the sockets the test made; one of them lists a second
 * namespace through its fd. Without root they are skipped.
 */
#include "sockdiag.h"

#include "err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TCPS_ESTABLISHED 1
#define TCPS_CLOSE 7
#define TCPS_LISTEN 10

static bool have_netns;
static pid_t other_ns_pid = -1; /* the second namespace's holder, killed by the teardown */

/* ---- parsers ---- */

static void test_fd_link(void **state)
{
	static const char *const bad[] = {
		"socket:[]",
		"socket:[12",
		"pipe:[12]",
		"socket:[12]x",
		"socket:[-1]",
		"socket:[ 12]",
		"socket:[0]",
		"socket:[",
		"",
		"socket:12",
		"socket:[99999999999999999999999]",
		"anon_inode:[eventfd]",
	};
	uint64_t inode = 7;

	assert_int_equal(sockdiag_parse_fd_link("socket:[123456]", &inode), 0);
	assert_int_equal(inode, 123456);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		inode = 7;
		if (sockdiag_parse_fd_link(bad[i], &inode) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(inode, 7);
	}
	assert_int_equal(sockdiag_parse_fd_link(NULL, &inode), -EINVAL);
}

struct answer {
	uint8_t buf[4096];
	size_t len;
};

static void put_msg(struct answer *a, uint16_t type, uint32_t seq, const void *payload, size_t plen)
{
	struct nlmsghdr h = { .nlmsg_len = NLMSG_LENGTH(plen),
			      .nlmsg_type = type,
			      .nlmsg_seq = seq };

	assert_true(a->len + NLMSG_SPACE(plen) <= sizeof(a->buf));
	memcpy(a->buf + a->len, &h, sizeof(h));
	memcpy(a->buf + a->len + NLMSG_HDRLEN, payload, plen);
	a->len += NLMSG_SPACE(plen);
}

static void put_sock(struct answer *a, uint32_t seq, uint8_t family, uint8_t st, uint32_t inode)
{
	struct inet_diag_msg m = { .idiag_family = family,
				   .idiag_state = st,
				   .idiag_inode = inode };

	m.id.idiag_sport = htons(8080);
	m.id.idiag_dport = htons(40000);
	m.id.idiag_src[0] = htonl(0x7f000001);
	put_msg(a, SOCK_DIAG_BY_FAMILY, seq, &m, sizeof(m));
}

static int parse(const struct answer *a, size_t len, struct sockdiag_sock **socks, size_t *n)
{
	size_t cap = 0;

	*socks = NULL;
	*n = 0;
	return sockdiag_parse(a->buf, len, 5, IPPROTO_TCP, socks, n, &cap);
}

static void test_parse_good(void **state)
{
	struct answer a = { .len = 0 };
	struct sockdiag_sock *socks;
	size_t n;

	put_sock(&a, 5, AF_INET, TCPS_LISTEN, 111);
	put_sock(&a, 5, AF_INET6, TCPS_ESTABLISHED, 222);
	assert_int_equal(parse(&a, a.len, &socks, &n), 0); /* no DONE yet: more to come */
	assert_int_equal(n, 2);
	assert_int_equal(socks[0].inode, 111);
	assert_int_equal(socks[0].state, TCPS_LISTEN);
	assert_int_equal(socks[0].sport, 8080);
	assert_int_equal(socks[0].dport, 40000);
	assert_memory_equal(socks[0].src, "\x7f\0\0\x01", 4);
	assert_int_equal(socks[1].family, AF_INET6);
	assert_int_equal(socks[1].protocol, IPPROTO_TCP);
	assert_ptr_equal(sockdiag_find(socks, n, 222), &socks[1]);
	assert_null(sockdiag_find(socks, n, 333));
	assert_null(sockdiag_find(socks, n, 0));

	char text[SOCKDIAG_FORMAT_MAX];
	assert_string_equal(sockdiag_format(&socks[0], text, sizeof(text)), "127.0.0.1:8080 -> "
									    "0.0.0.0:40000");
	memset(socks[1].src, 0, sizeof(socks[1].src));
	socks[1].src[15] = 1;
	socks[1].dport = 0;
	assert_string_equal(sockdiag_format(&socks[1], text, sizeof(text)), "[::1]:8080");
	assert_string_equal(sockdiag_format(&socks[0], text, 10), "127.0.0.1");
	free(socks);

	int zero = 0;
	put_msg(&a, NLMSG_DONE, 5, &zero, sizeof(zero));
	assert_int_equal(parse(&a, a.len, &socks, &n), 1);
	assert_int_equal(n, 2);
	free(socks);
}

static void test_parse_hostile(void **state)
{
	struct answer a = { .len = 0 };
	struct sockdiag_sock *socks;
	struct nlmsghdr h;
	size_t n, full;

	put_sock(&a, 5, AF_INET, TCPS_LISTEN, 111);
	full = a.len;
	/* Truncated anywhere: header, payload. */
	for (size_t cut = 1; cut < full; cut += 7) {
		assert_int_equal(parse(&a, cut, &socks, &n), -EPROTO);
		free(socks);
	}
	/* A length that claims more than the buffer, or less than a header. */
	memcpy(&h, a.buf, sizeof(h));
	h.nlmsg_len = 100000;
	memcpy(a.buf, &h, sizeof(h));
	assert_int_equal(parse(&a, full, &socks, &n), -EPROTO);
	free(socks);
	h.nlmsg_len = 3;
	memcpy(a.buf, &h, sizeof(h));
	assert_int_equal(parse(&a, full, &socks, &n), -EPROTO);
	free(socks);

	/* An answer to someone else's request. */
	a.len = 0;
	put_sock(&a, 6, AF_INET, TCPS_LISTEN, 111);
	assert_int_equal(parse(&a, a.len, &socks, &n), -EPROTO);
	assert_non_null(strstr(err_detail(), "request 6"));
	free(socks);

	/* A socket message shorter than inet_diag_msg, and one of a foreign family. */
	a.len = 0;
	put_msg(&a, SOCK_DIAG_BY_FAMILY, 5, "abcd", 4);
	assert_int_equal(parse(&a, a.len, &socks, &n), -EPROTO);
	free(socks);
	a.len = 0;
	put_sock(&a, 5, AF_UNIX, TCPS_LISTEN, 1);
	assert_int_equal(parse(&a, a.len, &socks, &n), -EPROTO);
	free(socks);

	/* The kernel's error travels as its errno; a bogus "error 0" is malformed. */
	struct nlmsgerr e = { .error = -EPERM };
	a.len = 0;
	put_msg(&a, NLMSG_ERROR, 5, &e, sizeof(e));
	assert_int_equal(parse(&a, a.len, &socks, &n), -EPERM);
	free(socks);
	e.error = 0;
	a.len = 0;
	put_msg(&a, NLMSG_ERROR, 5, &e, sizeof(e));
	assert_int_equal(parse(&a, a.len, &socks, &n), -EPROTO);
	free(socks);
	a.len = 0;
	put_msg(&a, NLMSG_ERROR, 5, "ab", 2);
	assert_int_equal(parse(&a, a.len, &socks, &n), -EPROTO);
	free(socks);
}

/* ---- live ---- */

static uint64_t inode_of(int fd)
{
	char path[64], link[64];
	uint64_t inode = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_int_equal(sockdiag_parse_fd_link(link, &inode), 0);
	return inode;
}

static uint16_t port_of(int fd)
{
	struct sockaddr_in6 ss; /* large enough for both; the port is at the same offset */
	socklen_t len = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	return ntohs(ss.sin6_port);
}

static int inet_socket(int family, int type, bool do_listen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(family, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (family == AF_INET)
		assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	else
		assert_int_equal(bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 3), 0);
	return fd;
}

static void connect_to(int fd, int family, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons(port),
				     .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	if (family == AF_INET)
		assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	else
		assert_int_equal(connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
}

static const struct sockdiag_sock *expect(const struct sockdiag_sock *socks, size_t n, int fd,
					  uint8_t protocol, uint8_t st)
{
	const struct sockdiag_sock *s = sockdiag_find(socks, n, inode_of(fd));

	assert_non_null(s);
	assert_int_equal(s->protocol, protocol);
	assert_int_equal(s->state, st);
	assert_int_equal(s->sport, port_of(fd));
	return s;
}

static void test_live_lists(void **state)
{
	struct sockdiag_sock *socks;
	const struct sockdiag_sock *s;
	size_t n;
	int l4, l6, cli, acc, u4, u6;

	if (!have_netns)
		skip();
	l4 = inet_socket(AF_INET, SOCK_STREAM, true);
	l6 = inet_socket(AF_INET6, SOCK_STREAM, true);
	cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	connect_to(cli, AF_INET, port_of(l4));
	acc = accept4(l4, NULL, NULL, SOCK_CLOEXEC);
	assert_true(acc >= 0);
	u4 = inet_socket(AF_INET, SOCK_DGRAM, false);
	u6 = inet_socket(AF_INET6, SOCK_DGRAM, false);
	connect_to(u6, AF_INET6, 9);

	assert_int_equal(sockdiag_list_tcp(-1, &socks, &n), 0);
	assert_int_equal(n, 4); /* this namespace holds only the test's sockets */
	expect(socks, n, l4, IPPROTO_TCP, TCPS_LISTEN);
	s = expect(socks, n, l6, IPPROTO_TCP, TCPS_LISTEN);
	assert_int_equal(s->family, AF_INET6);
	s = expect(socks, n, cli, IPPROTO_TCP, TCPS_ESTABLISHED);
	assert_int_equal(s->dport, port_of(l4));
	assert_memory_equal(s->dst, "\x7f\0\0\x01", 4);
	s = expect(socks, n, acc, IPPROTO_TCP, TCPS_ESTABLISHED);
	assert_int_equal(s->dport, port_of(cli));
	assert_null(sockdiag_find(socks, n, inode_of(u4)));
	free(socks);

	assert_int_equal(sockdiag_list_udp(-1, &socks, &n), 0);
	assert_int_equal(n, 2);
	expect(socks, n, u4, IPPROTO_UDP, TCPS_CLOSE);
	s = expect(socks, n, u6, IPPROTO_UDP, TCPS_ESTABLISHED);
	assert_int_equal(s->dport, 9);
	free(socks);

	assert_int_equal(sockdiag_list_inet(-1, &socks, &n), 0);
	assert_int_equal(n, 6);
	free(socks);

	close(u6);
	close(u4);
	close(acc);
	close(cli);
	close(l6);
	close(l4);
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

/* A child in a second namespace holds a listener there until its pipe closes. */
static pid_t other_ns_start(uint64_t *inode, int *hold_fd)
{
	int up[2], hold[2];
	pid_t pid;

	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t ino = 0;
		char c;
		if (netns_enter() == 0) {
			int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			struct stat st;
			if (l >= 0 && listen(l, 1) == 0 && fstat(l, &st) == 0)
				ino = st.st_ino;
		}
		if (write(up[1], &ino, sizeof(ino)) != sizeof(ino))
			_exit(1);
		(void)!read(hold[0], &c, 1);
		_exit(0);
	}
	close(up[1]);
	close(hold[0]);
	assert_int_equal(read(up[0], inode, sizeof(*inode)), sizeof(*inode));
	close(up[0]);
	*hold_fd = hold[1];
	return pid;
}

static ino_t own_netns(void)
{
	struct stat st;

	assert_int_equal(stat("/proc/thread-self/ns/net", &st), 0);
	return st.st_ino;
}

static void test_other_netns(void **state)
{
	struct sockdiag_sock *socks;
	char path[64];
	uint64_t inode;
	ino_t before = 0;
	size_t n;
	int hold, nsfd, mine;

	if (!have_netns)
		skip();
	before = own_netns();
	mine = inet_socket(AF_INET, SOCK_STREAM, true);
	other_ns_pid = other_ns_start(&inode, &hold);
	assert_true(inode != 0);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", other_ns_pid);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(nsfd >= 0);

	assert_int_equal(sockdiag_list_tcp(nsfd, &socks, &n), 0);
	assert_int_equal(own_netns(), before); /* back home */
	assert_int_equal(n, 1);
	assert_int_equal(socks[0].inode, inode);
	assert_int_equal(socks[0].state, TCPS_LISTEN);
	assert_null(sockdiag_find(socks, n, inode_of(mine)));
	free(socks);

	assert_int_equal(sockdiag_list_tcp(-1, &socks, &n), 0);
	assert_non_null(sockdiag_find(socks, n, inode_of(mine)));
	free(socks);

	/* Not a namespace fd: refused, and still home. */
	assert_true(sockdiag_list_tcp(mine, &socks, &n) < 0);
	assert_int_equal(own_netns(), before);

	close(nsfd);
	close(hold);
	close(mine);
}

static int teardown_other_ns(void **state)
{
	if (other_ns_pid > 0) {
		kill(other_ns_pid, SIGKILL);
		waitpid(other_ns_pid, NULL, 0);
		other_ns_pid = -1;
	}
	return 0;
}

static int run_all(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_link),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_live_lists),
		cmocka_unit_test_teardown(test_other_netns, teardown_other_ns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

int main(void)
{
	int status, r;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "test_sockdiag: not root: live tests skipped\n");
		return run_all() ? 1 : 0;
	}
	pid = fork();
	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		r = netns_enter();
		have_netns = r == 0;
		if (r < 0)
			fprintf(stderr,
				"test_sockdiag: no network namespace (%s): live tests "
				"skipped\n",
				strerror(-r));
		exit(run_all() ? 1 : 0); /* exit, not _exit: LeakSanitizer checks at exit */
	}
	if (waitpid(pid, &status, 0) != pid)
		return perror("waitpid"), 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
