/*
 * test_netlock: the network lock (needs root: nf_tables in a network namespace).
 *
 * Everything runs in a forked child that first enters a network namespace of
 * its own (loopback up, nothing else): the tables and the traffic of the tests
 * never reach the host's. The parent only returns the child's verdict. Most
 * tests use loopback; the veth tests add a second namespace (a process of
 * ours) joined by a veth pair with addresses in 198.18.1.0/24 and fd00:1::/64.
 *
 * What "locked" means here: data sent either way does not arrive, and neither
 * end sees a reset (the connection stays ESTABLISHED, with no socket error);
 * after the release the same data arrives by retransmission.
 */
#include "netlock.h"

#include "err.h"
#include "sockdiag.h"
#include "tcp_repair.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOCKED_MS 700	 /* how long a locked connection is watched for leaks */
#define DELIVER_MS 15000 /* retransmission after release: backoff stays well below */

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

/* Address and port of a socket's own (local) or peer side, into a netlock_conn field. */
static void sock_side(int fd, bool peer, uint8_t addr[16], uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (peer)
		assert_int_equal(getpeername(fd, (struct sockaddr *)&ss, &len), 0);
	else
		assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	memset(addr, 0, 16);
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (void *)&ss;
		memcpy(addr, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
	} else {
		struct sockaddr_in6 *sin6 = (void *)&ss;
		memcpy(addr, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
	}
}

/* The lock entry for socket fd: its own side is local, its peer (if any) the peer. */
static struct netlock_conn conn_of(int fd, int family, int protocol, bool connected)
{
	struct netlock_conn c = { .family = (uint8_t)family, .protocol = (uint8_t)protocol };

	sock_side(fd, false, c.local, &c.local_port);
	if (connected)
		sock_side(fd, true, c.peer, &c.peer_port);
	return c;
}

static int listener_open(int family)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, 0, &ss);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static uint16_t port_of(int fd)
{
	uint8_t addr[16];
	uint16_t port;

	sock_side(fd, false, addr, &port);
	return port;
}

static void pair_open(int family, int *cli, int *srv)
{
	struct sockaddr_storage ss;
	int lfd = listener_open(family);
	socklen_t len = loopback(family, port_of(lfd), &ss);

	*cli = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*cli >= 0);
	assert_int_equal(connect(*cli, (struct sockaddr *)&ss, len), 0);
	*srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*srv >= 0);
	close(lfd);
}

static bool readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static void expect_bytes(int fd, const char *want)
{
	char buf[64];
	size_t len = strlen(want), got = 0;

	while (got < len) {
		assert_true(readable_within(fd, DELIVER_MS));
		ssize_t n = recv(fd, buf + got, len - got, 0);
		assert_true(n > 0); /* a reset would show here as ECONNRESET */
		got += (size_t)n;
	}
	assert_memory_equal(buf, want, len);
}

static void expect_established(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int soerr = 0;
	socklen_t elen = sizeof(soerr);

	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	assert_int_equal(ti.tcpi_state, 1 /* TCP_ESTABLISHED */);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen), 0);
	assert_int_equal(soerr, 0);
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* With the lock held nothing crosses either way, and the connection survives it. */
static void check_established(int family)
{
	struct netlock *lock = NULL;
	char table[128];
	int cli, srv;

	pair_open(family, &cli, &srv);
	send_str(cli, "before");
	expect_bytes(srv, "before");

	struct netlock_conn c = conn_of(srv, family, IPPROTO_TCP, true);
	assert_int_equal(netlock_acquire(-1, &c, 1, 0, &lock), 0);
	snprintf(table, sizeof(table), "%s", netlock_table_name(lock));
	assert_int_equal(netlock_table_exists(-1, table), 1);

	send_str(cli, "c2s");
	send_str(srv, "s2c");
	assert_false(readable_within(srv, LOCKED_MS));
	assert_false(readable_within(cli, 10));
	expect_established(cli);
	expect_established(srv);

	assert_int_equal(netlock_release(&lock), 0);
	assert_null(lock);
	assert_int_equal(netlock_release(&lock), 0); /* again: nothing to do */
	assert_int_equal(netlock_table_exists(-1, table), 0);
	expect_bytes(srv, "c2s"); /* retransmitted */
	expect_bytes(cli, "s2c");
	send_str(cli, "after");
	expect_bytes(srv, "after");
	send_str(srv, "reply");
	expect_bytes(cli, "reply");
	close(cli);
	close(srv);
}

static void test_established_ipv4(void **state)
{
	check_established(AF_INET);
}

static void test_established_ipv6(void **state)
{
	check_established(AF_INET6);
}

/*
 * The freeze window as the migration runs it: lock, dump the server's socket
 * (repair mode), close it (the source's copy goes), client data arrives while
 * no socket owns the connection, restore, release. Without the lock that data
 * draws a reset (test_gap_without_lock_resets); with it, it is retransmitted
 * to the restored socket.
 */
static void gap_covered(int family)
{
	struct netlock *lock = NULL;
	TcpSocketEntry *e = NULL;
	int cli, srv, restored = -1;

	pair_open(family, &cli, &srv);
	struct netlock_conn c = conn_of(srv, family, IPPROTO_TCP, true);
	assert_int_equal(netlock_acquire(-1, &c, 1, 0, &lock), 0);
	assert_int_equal(tcp_repair_dump(srv, &e), 0);
	close(srv); /* in repair mode: the peer sees nothing */
	send_str(cli, "in the gap");
	assert_false(readable_within(cli, LOCKED_MS)); /* no reset came back */
	expect_established(cli);
	assert_int_equal(tcp_repair_restore(e, &restored), 0);
	assert_int_equal(netlock_release(&lock), 0);
	expect_bytes(restored, "in the gap");
	send_str(restored, "restored");
	expect_bytes(cli, "restored");
	tcp_repair_entry_free(e);
	close(restored);
	close(cli);
}

static void test_gap_covered_ipv4(void **state)
{
	gap_covered(AF_INET);
}

static void test_gap_covered_ipv6(void **state)
{
	gap_covered(AF_INET6);
}

/* The control: the same gap without the lock resets the client's connection. */
static void test_gap_without_lock_resets(void **state)
{
	TcpSocketEntry *e = NULL;
	int cli, srv;
	char buf[8];

	pair_open(AF_INET, &cli, &srv);
	assert_int_equal(tcp_repair_dump(srv, &e), 0);
	close(srv);
	send_str(cli, "in the gap");
	assert_true(readable_within(cli, DELIVER_MS));
	assert_int_equal(recv(cli, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, ECONNRESET);
	tcp_repair_entry_free(e);
	close(cli);
}

/* Another connection on the same addresses is not locked: the rules are per connection. */
static void test_other_connection_flows(void **state)
{
	struct netlock *lock = NULL;
	int cli1, srv1, cli2, srv2;

	pair_open(AF_INET, &cli1, &srv1);
	pair_open(AF_INET, &cli2, &srv2);
	struct netlock_conn c = conn_of(srv1, AF_INET, IPPROTO_TCP, true);
	assert_int_equal(netlock_acquire(-1, &c, 1, 0, &lock), 0);
	send_str(cli2, "free");
	expect_bytes(srv2, "free");
	send_str(cli1, "held");
	assert_false(readable_within(srv1, 300));
	assert_int_equal(netlock_release(&lock), 0);
	expect_bytes(srv1, "held");
	close(cli1);
	close(srv1);
	close(cli2);
	close(srv2);
}

/*
 * A listener's lock (any peer): a new client's SYN is dropped, not refused;
 * it gets in after the release. The client connects over client_family.
 */
static void listener_locked(int lfd, int family, int client_family)
{
	struct netlock *lock = NULL;
	struct sockaddr_storage ss;
	socklen_t len = loopback(client_family, port_of(lfd), &ss);
	struct netlock_conn c = conn_of(lfd, family, IPPROTO_TCP, false);
	int cli = socket(client_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd p = { .fd = cli, .events = POLLOUT };
	int soerr = -1;
	socklen_t elen = sizeof(soerr);

	assert_int_equal(netlock_acquire(-1, &c, 1, 0, &lock), 0);
	assert_true(cli >= 0);
	assert_int_equal(connect(cli, (struct sockaddr *)&ss, len), -1);
	assert_int_equal(errno, EINPROGRESS);
	assert_int_equal(poll(&p, 1, LOCKED_MS), 0); /* no answer at all: neither SYN-ACK nor RST */
	assert_int_equal(netlock_release(&lock), 0);
	assert_int_equal(poll(&p, 1, DELIVER_MS), 1);
	assert_int_equal(getsockopt(cli, SOL_SOCKET, SO_ERROR, &soerr, &elen), 0);
	assert_int_equal(soerr, 0);
	close(cli);
}

static void test_listener_any_peer(void **state)
{
	int lfd = listener_open(AF_INET6);

	listener_locked(lfd, AF_INET6, AF_INET6);
	close(lfd);
}

/* A listener on [::] takes IPv4 too: the lock holds its IPv4 clients as well. */
static void test_listener_dual_stack(void **state)
{
	struct sockaddr_in6 any = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int off = 0;

	assert_true(lfd >= 0);
	assert_int_equal(setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&any, sizeof(any)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	listener_locked(lfd, AF_INET6, AF_INET);
	listener_locked(lfd, AF_INET6, AF_INET6);
	close(lfd);
}

/* UDP, bound to a port: datagrams to it are dropped while locked. */
static void test_udp_bound(void **state)
{
	struct netlock *lock = NULL;
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, 0, &ss);
	int srv = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int cli = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_int_equal(bind(srv, (struct sockaddr *)&ss, len), 0);
	len = loopback(AF_INET, port_of(srv), &ss);
	struct netlock_conn c = conn_of(srv, AF_INET, IPPROTO_UDP, false);
	assert_int_equal(netlock_acquire(-1, &c, 1, 0, &lock), 0);
	assert_int_equal(sendto(cli, "lost", 4, 0, (struct sockaddr *)&ss, len), 4);
	assert_false(readable_within(srv, 200));
	assert_int_equal(netlock_release(&lock), 0);
	assert_int_equal(sendto(cli, "kept", 4, 0, (struct sockaddr *)&ss, len), 4);
	expect_bytes(srv, "kept");
	close(cli);
	close(srv);
}

/* The conversion from what sock_diag lists: src is the local side. */
static void test_conn_from_sock(void **state)
{
	struct sockdiag_sock s = {
		.family = AF_INET, .protocol = IPPROTO_TCP, .sport = 80, .dport = 5555
	};
	struct netlock_conn c;

	s.src[0] = 198, s.src[1] = 18, s.src[3] = 1;
	s.dst[0] = 198, s.dst[1] = 18, s.dst[3] = 2;
	netlock_conn_from_sock(&s, &c);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.local_port, 80);
	assert_int_equal(c.peer_port, 5555);
	assert_memory_equal(c.local, s.src, 4);
	assert_memory_equal(c.peer, s.dst, 4);
}

static void test_refuses_bad_conns(void **state)
{
	struct netlock *lock = NULL;
	struct netlock_conn ok = { .family = AF_INET, .protocol = IPPROTO_TCP, .local_port = 1 };
	struct netlock_conn bad[3] = { ok, ok, ok };

	bad[1].family = AF_UNIX;
	assert_int_equal(netlock_acquire(-1, bad, 3, 0, &lock), -EINVAL);
	assert_non_null(strstr(err_detail(), "connection 1"));
	bad[1] = ok;
	bad[2].protocol = IPPROTO_SCTP;
	assert_int_equal(netlock_acquire(-1, bad, 3, 0, &lock), -EINVAL);
	bad[2] = ok;
	bad[0].local_port = 0;
	assert_int_equal(netlock_acquire(-1, bad, 3, 0, &lock), -EINVAL);
	assert_int_equal(netlock_acquire(-1, bad, NETLOCK_MAX_CONNS + 1, 0, &lock), -E2BIG);
	/* Not a network namespace: refused before anything is sent. */
	int notns = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(notns >= 0);
	assert_int_equal(netlock_acquire(notns, &ok, 1, 0, &lock), -EINVAL);
	assert_non_null(strstr(err_detail(), "namespace"));
	assert_int_equal(netlock_cleanup_stale(notns, NULL), -EINVAL);
	close(notns);
	assert_null(lock);
	assert_int_equal(netlock_release(NULL), 0);
	assert_int_equal(netlock_release(&lock), 0);
}

/* Many connections, v4-mapped among them, go in as one batch; a lock of none is fine too. */
static void test_many_and_empty(void **state)
{
	struct netlock *lock = NULL, *empty = NULL;
	size_t n = 1000;
	struct netlock_conn *c = calloc(n, sizeof(*c));

	assert_non_null(c);
	for (size_t i = 0; i < n; i++) {
		c[i].family = i % 2 ? AF_INET : AF_INET6;
		c[i].protocol = IPPROTO_TCP;
		c[i].local_port = (uint16_t)(1000 + i);
		c[i].peer_port = (uint16_t)(30000 + i);
		if (i % 3 == 0 && c[i].family == AF_INET6) { /* ::ffff:198.18.0.1 */
			c[i].local[10] = c[i].local[11] = 0xff;
			c[i].local[12] = 198, c[i].local[13] = 18, c[i].local[15] = 1;
		}
	}
	assert_int_equal(netlock_acquire(-1, c, n, 0, &lock), 0);
	assert_int_equal(netlock_acquire(-1, NULL, 0, 0, &empty), 0);
	assert_string_not_equal(netlock_table_name(lock), netlock_table_name(empty));
	assert_int_equal(netlock_release(&empty), 0);
	assert_int_equal(netlock_release(&lock), 0);
	free(c);
}

/* Runs fn in a child that exits without releasing anything; returns the lock's table name. */
static void crashed_owner(unsigned int flags, char *table, size_t size)
{
	int p[2];
	pid_t pid;
	int status;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct netlock *lock;
		struct netlock_conn c = { .family = AF_INET,
					  .protocol = IPPROTO_TCP,
					  .local_port = 4242 };
		if (netlock_acquire(-1, &c, 1, flags, &lock) < 0)
			_exit(1);
		const char *name = netlock_table_name(lock);
		if (write(p[1], name, strlen(name) + 1) < 0)
			_exit(1);
		raise(SIGKILL); /* a crash: nothing released */
	}
	close(p[1]);
	ssize_t n = read(p[0], table, size - 1);
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(n > 0);
	table[n] = '\0';
}

static void test_crash_owned_table_goes(void **state)
{
	char table[128];
	int exists = 1;

	crashed_owner(0, table, sizeof(table));
	for (int i = 0; i < 100 && exists == 1; i++) {
		exists = netlock_table_exists(-1, table);
		if (exists)
			usleep(10000);
	}
	assert_int_equal(exists, 0);
}

static void test_cleanup_stale(void **state)
{
	char table[128];
	struct netlock *mine = NULL;
	unsigned int removed = 99;

	crashed_owner(NETLOCK_F_NOT_OWNED, table, sizeof(table));
	assert_int_equal(netlock_table_exists(-1, table), 1);
	assert_int_equal(netlock_acquire(-1, NULL, 0, NETLOCK_F_NOT_OWNED, &mine), 0);
	assert_int_equal(netlock_cleanup_stale(-1, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(netlock_table_exists(-1, table), 0);
	/* A live owner's lock stays. */
	assert_int_equal(netlock_table_exists(-1, netlock_table_name(mine)), 1);
	assert_int_equal(netlock_cleanup_stale(-1, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(netlock_release(&mine), 0);
}

/* The lock goes into the namespace it is given, not the caller's. */
static void test_other_namespace(void **state)
{
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int other;
	struct netlock *lock = NULL;
	char table[128];

	assert_true(self >= 0);
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	other = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(other >= 0);
	assert_int_equal(setns(self, CLONE_NEWNET), 0);
	assert_int_equal(netlock_acquire(other, NULL, 0, 0, &lock), 0);
	snprintf(table, sizeof(table), "%s", netlock_table_name(lock));
	assert_int_equal(netlock_table_exists(other, table), 1);
	assert_int_equal(netlock_table_exists(-1, table), 0);
	assert_int_equal(netlock_release(&lock), 0);
	assert_int_equal(netlock_table_exists(other, table), 0);
	close(other);
	close(self);
}

/*
 * A second "host": a process of ours in a network namespace of its own,
 * joined to the test's namespace by a veth pair (198.18.1.0/24, fd00:1::/64).
 * It leaves when the pipe it reads is closed.
 */
struct peer_host {
	pid_t pid;
	int ns, self_ns, hold;
};

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int r = system(cmd);
	if (r != 0)
		fprintf(stderr, "test_netlock: '%s' failed (%d)\n", cmd, r);
	return r;
}

static void peer_host_start(struct peer_host *h)
{
	int hold[2], ready[2];
	char c, path[64];

	assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		close(hold[1]);
		if (unshare(CLONE_NEWNET) < 0 || write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(hold[0]);
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	h->hold = hold[1];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)h->pid);
	h->ns = open(path, O_RDONLY | O_CLOEXEC);
	h->self_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(h->ns >= 0 && h->self_ns >= 0);
	/* A pair left by a failed test: namespaces (and their veth ends) die asynchronously. */
	(void)system("ip link del vc 2>/dev/null");
	assert_int_equal(sh("ip link add vc type veth peer name eth0 netns %d && "
			    "ip addr add 198.18.1.1/24 dev vc && "
			    "ip addr add fd00:1::1/64 dev vc nodad && ip link set vc up",
			    (int)h->pid),
			 0);
	assert_int_equal(setns(h->ns, CLONE_NEWNET), 0);
	int r = sh("ip link set lo up && ip addr add 198.18.1.2/24 dev eth0 && "
		   "ip addr add fd00:1::2/64 dev eth0 nodad && ip link set eth0 up");
	assert_int_equal(setns(h->self_ns, CLONE_NEWNET), 0);
	assert_int_equal(r, 0);
}

static void peer_host_stop(struct peer_host *h)
{
	assert_int_equal(sh("ip link del vc"), 0); /* now, not when the namespace is reaped */
	close(h->hold);
	assert_int_equal(waitpid(h->pid, NULL, 0), h->pid);
	close(h->ns);
	close(h->self_ns);
}

/* The server in the other host, the client here; the lock is taken from here, into its netns. */
static void across_veth(int family, const char *srv_text)
{
	struct peer_host h;
	struct netlock *lock = NULL;
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int lfd, cli, srv;

	if (system("ip -V >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_netlock: no ip (iproute2) to build a veth pair, skipping\n");
		skip();
	}
	peer_host_start(&h);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(8080);
		inet_pton(AF_INET, srv_text, &sin->sin_addr);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(8080);
		inet_pton(AF_INET6, srv_text, &sin6->sin6_addr);
		len = sizeof(*sin6);
	}
	assert_int_equal(setns(h.ns, CLONE_NEWNET), 0);
	lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(setns(h.self_ns, CLONE_NEWNET), 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(lfd, 1), 0);
	cli = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(cli, (struct sockaddr *)&ss, len), 0);
	srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(srv >= 0);

	struct netlock_conn c = conn_of(srv, family, IPPROTO_TCP, true);
	assert_int_equal(netlock_acquire(h.ns, &c, 1, 0, &lock), 0);
	assert_int_equal(netlock_table_exists(-1, netlock_table_name(lock)), 0);
	send_str(cli, "over veth");
	send_str(srv, "back");
	assert_false(readable_within(srv, LOCKED_MS));
	assert_false(readable_within(cli, 10));
	expect_established(cli);
	assert_int_equal(netlock_release(&lock), 0);
	expect_bytes(srv, "over veth");
	expect_bytes(cli, "back");
	close(srv);
	close(cli);
	close(lfd);
	peer_host_stop(&h);
}

static void test_across_veth_ipv4(void **state)
{
	across_veth(AF_INET, "198.18.1.2");
}

static void test_across_veth_ipv6(void **state)
{
	across_veth(AF_INET6, "fd00:1::2");
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
		cmocka_unit_test(test_conn_from_sock),
		cmocka_unit_test(test_refuses_bad_conns),
		cmocka_unit_test(test_many_and_empty),
		cmocka_unit_test(test_established_ipv4),
		cmocka_unit_test(test_established_ipv6),
		cmocka_unit_test(test_gap_covered_ipv4),
		cmocka_unit_test(test_gap_covered_ipv6),
		cmocka_unit_test(test_gap_without_lock_resets),
		cmocka_unit_test(test_across_veth_ipv4),
		cmocka_unit_test(test_across_veth_ipv6),
		cmocka_unit_test(test_other_connection_flows),
		cmocka_unit_test(test_listener_any_peer),
		cmocka_unit_test(test_listener_dual_stack),
		cmocka_unit_test(test_udp_bound),
		cmocka_unit_test(test_crash_owned_table_goes),
		cmocka_unit_test(test_cleanup_stale),
		cmocka_unit_test(test_other_namespace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

int main(void)
{
	int status, r;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "test_netlock: needs root (network namespace, nf_tables), "
				"skipping\n");
		return 77;
	}
	pid = fork();
	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		r = netns_enter();
		if (r < 0) {
			fprintf(stderr, "test_netlock: no network namespace (%s), skipping\n",
				strerror(-r));
			_exit(77);
		}
		exit(run_all() ? 1 : 0); /* exit, not _exit: LeakSanitizer checks at exit */
	}
	if (waitpid(pid, &status, 0) != pid)
		return perror("waitpid"), 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
