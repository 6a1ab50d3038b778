/*
 * test_ipmove: moving an address between hosts (needs root: namespaces, veth).
 *
 * The test runs in a forked child in a network namespace of its own (the
 * "switch": a bridge br0), with three hosts a, b, c: each a process of ours
 * in a namespace of its own, plugged into br0 by a veth pair (eth0 inside).
 * Addresses are in 198.18.0.0/24 and fd00::/64 only, inside these namespaces.
 * When the test child exits, every namespace goes with it: the hosts read a
 * pipe only the test holds, and leave at its end of file.
 *
 * The moving address starts on a; c talks to it, so c's neighbour table holds
 * a's MAC; the address moves to b and is announced; c's entry must then hold
 * b's MAC, and a new connection from c reaches b. Then the undo puts it back.
 */
#include "ipmove.h"

#include "err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
	HOST_A,
	HOST_B,
	HOST_C,
	HOSTS
};

struct host {
	pid_t pid;
	int ns;		/* fd of its network namespace */
	uint8_t mac[6]; /* of its eth0 */
};

static struct host hosts[HOSTS];
static int base_ns = -1;
static int hold_pipe[2] = { -1, -1 };

static void ns_set(int ns)
{
	assert_int_equal(setns(ns, CLONE_NEWNET), 0);
}

/* Runs a shell command in a host's namespace (system() forks from this thread: it inherits it). */
static int run_in(int ns, const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (setns(ns, CLONE_NEWNET) < 0)
		return -1;
	r = system(cmd);
	if (setns(base_ns, CLONE_NEWNET) < 0)
		abort(); /* nothing sensible can follow in the wrong namespace */
	if (r != 0)
		fprintf(stderr, "test_ipmove: '%s' failed (%d)\n", cmd, r);
	return r;
}

static pid_t host_spawn(void)
{
	int ready[2];
	char c;
	pid_t pid;

	if (pipe(ready) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(hold_pipe[1]);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(hold_pipe[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(ready[1]);
	if (pid < 0 || read(ready[0], &c, 1) != 1)
		pid = -1;
	close(ready[0]);
	return pid;
}

static int host_mac(int ns, uint8_t mac[6])
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_link *link = NULL;
	int r = -1;

	ns_set(ns);
	if (sk && nl_connect(sk, NETLINK_ROUTE) == 0 &&
	    rtnl_link_get_kernel(sk, 0, "eth0", &link) == 0) {
		struct nl_addr *hw = rtnl_link_get_addr(link);
		if (hw && nl_addr_get_len(hw) == 6) {
			memcpy(mac, nl_addr_get_binary_addr(hw), 6);
			r = 0;
		}
	}
	rtnl_link_put(link);
	nl_socket_free(sk);
	ns_set(base_ns);
	return r;
}

static const char *const host_v4[HOSTS] = { "198.18.0.1", "198.18.0.2", "198.18.0.3" };
static const char *const host_v6[HOSTS] = { "fd00::1", "fd00::2", "fd00::3" };

static int host_setup(int i)
{
	hosts[i].pid = host_spawn();
	if (hosts[i].pid < 0)
		return -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)hosts[i].pid);
	hosts[i].ns = open(path, O_RDONLY | O_CLOEXEC);
	if (hosts[i].ns < 0)
		return -1;
	if (run_in(base_ns,
		   "ip link add v%d type veth peer name eth0 netns %d && ip link set v%d master "
		   "br0 up",
		   i, (int)hosts[i].pid, i) != 0)
		return -1;
	if (run_in(hosts[i].ns,
		   "ip link set lo up && ip link set eth0 up && ip addr add %s/24 dev eth0 && "
		   "ip addr add %s/64 dev eth0 nodad",
		   host_v4[i], host_v6[i]) != 0)
		return -1;
	return host_mac(hosts[i].ns, hosts[i].mac);
}

static int group_setup(void **state)
{
	base_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (base_ns < 0 || pipe2(hold_pipe, O_CLOEXEC) < 0)
		return -1;
	if (run_in(base_ns, "ip link set lo up && ip link add br0 type bridge && "
			    "ip link set br0 up") != 0)
		return -1;
	for (int i = 0; i < HOSTS; i++)
		if (host_setup(i) < 0)
			return -1;
	return 0;
}

static int group_teardown(void **state)
{
	close(hold_pipe[1]); /* the hosts see end of file and exit */
	close(hold_pipe[0]);
	for (int i = 0; i < HOSTS; i++) {
		if (hosts[i].ns >= 0)
			close(hosts[i].ns);
		if (hosts[i].pid > 0)
			(void)waitpid(hosts[i].pid, NULL, 0);
	}
	close(base_ns);
	return 0;
}

/* The MAC c's neighbour table holds for addr on eth0 (0), or -1 when it has none. */
static int neigh_mac(int ns, const struct ipmove_addr *a, uint8_t mac[6])
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cache *cache = NULL;
	struct nl_addr *dst = nl_addr_build(a->family, a->bytes, a->family == AF_INET ? 4 : 16);
	int r = -1;

	ns_set(ns);
	if (sk && dst && nl_connect(sk, NETLINK_ROUTE) == 0 &&
	    rtnl_neigh_alloc_cache(sk, &cache) == 0) {
		struct rtnl_neigh *n = rtnl_neigh_get(cache, (int)if_nametoindex("eth0"), dst);
		struct nl_addr *ll = n ? rtnl_neigh_get_lladdr(n) : NULL;
		if (ll && nl_addr_get_len(ll) == 6) {
			memcpy(mac, nl_addr_get_binary_addr(ll), 6);
			r = 0;
		}
		rtnl_neigh_put(n);
	}
	nl_cache_free(cache);
	nl_addr_put(dst);
	nl_socket_free(sk);
	ns_set(base_ns);
	return r;
}

/* Waits (up to 3 s) until c's neighbour entry for a holds want. */
static bool neigh_becomes(const struct ipmove_addr *a, const uint8_t want[6])
{
	uint8_t mac[6];

	for (int i = 0; i < 300; i++) {
		if (neigh_mac(hosts[HOST_C].ns, a, mac) == 0 && !memcmp(mac, want, 6))
			return true;
		usleep(10000);
	}
	return false;
}

static socklen_t sockaddr_of(const struct ipmove_addr *a, uint16_t port,
			     struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (void *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a->bytes, 4);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (void *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	memcpy(&sin6->sin6_addr, a->bytes, 16);
	return sizeof(*sin6);
}

/* c sends a datagram to a: c resolves a's MAC and keeps it in its neighbour table. */
static void c_talks_to(const struct ipmove_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(a, 9, &ss);

	ns_set(hosts[HOST_C].ns);
	int fd = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ns_set(base_ns);
	assert_true(fd >= 0);
	assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *)&ss, len), 1);
	close(fd);
}

/* A TCP connection from c to a:port reaches a listener in host h. */
static void c_connects_to(int h, const struct ipmove_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(a, 7777, &ss);
	int one = 1;

	ns_set(hosts[h].ns);
	int lfd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ns_set(hosts[HOST_C].ns);
	int cfd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ns_set(base_ns);
	assert_true(lfd >= 0 && cfd >= 0);
	assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&ss, len), 0);
	int afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(afd >= 0);
	close(afd);
	close(cfd);
	close(lfd);
}

/*
 * extra: what else the address has on a ("brd + label eth0:mv"); after the
 * undo, `ip -o addr show` must match the regular expression back.
 */
static void check_move(const char *text, unsigned int prefixlen, const char *extra,
		       const char *back)
{
	struct ipmove_addr a;
	struct ipmove_undo src_undo, dst_undo;
	int ns_a = hosts[HOST_A].ns, ns_b = hosts[HOST_B].ns;
	uint8_t mac[6];

	assert_int_equal(ipmove_addr_parse(text, &a), 0);
	assert_int_equal(run_in(ns_a, "ip addr add %s/%u dev eth0 %s", text, prefixlen, extra), 0);
	assert_int_equal(ipmove_owns(ns_a, &a), 1);
	assert_int_equal(ipmove_owns(ns_b, &a), 0);
	assert_int_equal(ipmove_owns(hosts[HOST_C].ns, &a), 0);
	c_talks_to(&a);
	assert_true(neigh_becomes(&a, hosts[HOST_A].mac));

	/* The move. */
	assert_int_equal(ipmove_release(ns_a, &a, &src_undo), 0);
	assert_int_equal(src_undo.action, IPMOVE_UNDO_READD);
	assert_int_equal(src_undo.prefixlen, prefixlen);
	assert_string_equal(src_undo.ifname, "eth0");
	assert_int_equal(ipmove_owns(ns_a, &a), 0);
	assert_int_equal(ipmove_claim(ns_b, &a, src_undo.prefixlen, "eth0", &dst_undo), 0);
	assert_int_equal(dst_undo.action, IPMOVE_UNDO_DELETE);
	assert_int_equal(ipmove_owns(ns_b, &a), 1);
	/* Control: without the announcement c keeps the old MAC (nothing else tells it). */
	usleep(300000);
	assert_int_equal(neigh_mac(hosts[HOST_C].ns, &a, mac), 0);
	assert_memory_equal(mac, hosts[HOST_A].mac, 6);
	assert_int_equal(ipmove_announce(ns_b, &a, "eth0"), 0);
	assert_true(neigh_becomes(&a, hosts[HOST_B].mac));
	c_connects_to(HOST_B, &a);

	/* The rollback, in reverse. */
	assert_int_equal(ipmove_undo(ns_b, &dst_undo), 0);
	assert_int_equal(dst_undo.action, IPMOVE_UNDO_NONE);
	assert_int_equal(ipmove_undo(ns_b, &dst_undo), 0); /* twice is harmless */
	assert_int_equal(ipmove_owns(ns_b, &a), 0);
	assert_int_equal(ipmove_undo(ns_a, &src_undo), 0);
	assert_int_equal(ipmove_owns(ns_a, &a), 1);
	assert_int_equal(ipmove_announce(ns_a, &a, "eth0"), 0);
	assert_true(neigh_becomes(&a, hosts[HOST_A].mac));
	c_connects_to(HOST_A, &a);
	/* Back with its prefix: the kernel's own view. */
	assert_int_equal(run_in(ns_a, "ip -o addr show dev eth0 | grep -q -E '%s'", back), 0);
	assert_int_equal(run_in(ns_a, "ip addr del %s/%u dev eth0", text, prefixlen), 0);
}

static void test_move_ipv4(void **state)
{
	check_move("198.18.0.10", 24, "brd + label eth0:mv",
		   " 198\\.18\\.0\\.10/24 brd 198\\.18\\.0\\.255 scope global (secondary "
		   ")?eth0:mv");
}

static void test_move_ipv6(void **state)
{
	check_move("fd00::10", 64, "nodad", " fd00::10/64 scope global ");
}

/* Called from the test's own namespace: the fd decides where it acts. */
static void test_owns_host_addresses(void **state)
{
	struct ipmove_addr a;

	assert_int_equal(ipmove_addr_parse(host_v4[HOST_B], &a), 0);
	assert_int_equal(ipmove_owns(hosts[HOST_B].ns, &a), 1);
	assert_int_equal(ipmove_owns(hosts[HOST_A].ns, &a), 0);
	assert_int_equal(ipmove_owns(-1, &a), 0);
	assert_int_equal(ipmove_addr_parse(host_v6[HOST_C], &a), 0);
	assert_int_equal(ipmove_owns(hosts[HOST_C].ns, &a), 1);
	assert_int_equal(ipmove_owns(hosts[HOST_B].ns, &a), 0);
}

static void test_refusals(void **state)
{
	struct ipmove_addr a, bad = { .family = 99 };
	struct ipmove_undo u = { .action = IPMOVE_UNDO_READD };
	int ns_b = hosts[HOST_B].ns;
	char text[INET6_ADDRSTRLEN];

	assert_int_equal(ipmove_addr_parse("198.18.0.300", &a), -EINVAL);
	assert_non_null(strstr(err_detail(), "198.18.0.300"));
	assert_int_equal(ipmove_addr_parse("fd00::77", &a), 0);
	assert_string_equal(ipmove_addr_format(&a, text, sizeof(text)), "fd00::77");
	assert_int_equal(ipmove_owns(ns_b, &bad), -EINVAL);
	assert_int_equal(ipmove_release(ns_b, &a, &u), -EADDRNOTAVAIL);
	assert_int_equal(u.action, IPMOVE_UNDO_NONE);
	assert_int_equal(ipmove_claim(ns_b, &a, 129, "eth0", &u), -EINVAL);
	assert_int_equal(ipmove_claim(ns_b, &a, 64, "nosuch0", &u), -ENODEV);
	assert_int_equal(ipmove_announce(ns_b, &a, "eth0"), -EADDRNOTAVAIL);
	assert_int_equal(ipmove_announce(ns_b, &a, "lo"), -EOPNOTSUPP);
	assert_int_equal(ipmove_addr_parse(host_v4[HOST_B], &a), 0);
	assert_int_equal(ipmove_claim(ns_b, &a, 24, "eth0", &u), -EEXIST);
	assert_int_equal(ipmove_claim(ns_b, &a, 24, "lo", &u), -EEXIST);
	int notns = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(notns >= 0);
	assert_int_equal(ipmove_owns(notns, &a), -EINVAL);
	close(notns);
}

static int run_all(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owns_host_addresses),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_move_ipv4),
		cmocka_unit_test(test_move_ipv6),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

int main(void)
{
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "test_ipmove: needs root (network namespaces, veth), skipping\n");
		return 77;
	}
	if (system("ip -V >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_ipmove: needs ip (iproute2) to build its hosts, skipping\n");
		return 77;
	}
	pid = fork();
	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0) {
			fprintf(stderr, "test_ipmove: no network namespace (%s), skipping\n",
				strerror(errno));
			_exit(77);
		}
		exit(run_all() ? 1 : 0); /* exit, not _exit: LeakSanitizer checks at exit */
	}
	if (waitpid(pid, &status, 0) != pid)
		return perror("waitpid"), 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
