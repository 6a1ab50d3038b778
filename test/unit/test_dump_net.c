/*
 * test_dump_net: inet sockets in the dump engine.
 *
 * Without root: the fd table's socket rows, and the image checks of socket records (hostile
 * input). As root, in a network namespace of its own (a forked child), on sockets of this
 * very process: dump_net_scan's refusals and listing, dump_net_lock's table,
 * dump_net_collect leaving an established socket in repair mode and dump_net_resume taking
 * it out with the data still flowing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dump_internal.h"
#include "dump_net.h"
#include "err.h"
#include "netlock.h"

/* ---- the fd table ---- */

static int classify_sock(int family, int type, int protocol, int *kind)
{
	struct dump_fd_probe p = { .fd = 7,
				   .mode = S_IFSOCK | 0777,
				   .link = "socket:[99]",
				   .sock_family = family,
				   .sock_type = type,
				   .sock_protocol = protocol };

	*kind = -1;
	return dump_files_classify(&p, false, kind);
}

static void test_classify_sockets(void **state)
{
	int kind;

	(void)state;
	assert_int_equal(classify_sock(AF_INET, SOCK_STREAM, IPPROTO_TCP, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_INET_SOCKET);
	assert_int_equal(classify_sock(AF_INET6, SOCK_STREAM, IPPROTO_TCP, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_INET_SOCKET);
	assert_int_equal(classify_sock(AF_INET, SOCK_DGRAM, IPPROTO_UDP, &kind), 0);
	assert_int_equal(classify_sock(AF_INET6, SOCK_DGRAM, IPPROTO_UDP, &kind), 0);

	assert_int_equal(classify_sock(AF_INET, SOCK_RAW, IPPROTO_ICMP, &kind), -ENOTSUP);
	assert_non_null(strstr(err_detail(), "only TCP and UDP"));
	assert_int_equal(classify_sock(AF_INET, SOCK_STREAM, IPPROTO_MPTCP, &kind), -ENOTSUP);
	assert_int_equal(classify_sock(AF_UNIX, SOCK_STREAM, 0, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_UNIX_SOCKET);
	assert_int_equal(classify_sock(AF_NETLINK, SOCK_RAW, 0, &kind), -ENOTSUP);
	assert_non_null(strstr(err_detail(), "netlink"));
	assert_int_equal(classify_sock(0, 0, 0, &kind), -ENOTSUP);
	assert_non_null(strstr(err_detail(), "sockets are not supported yet"));
	assert_int_equal(kind, -1);
}

/* ---- image checks of socket records ---- */

struct task_fixture {
	InventoryEntry inv;
	PstreeEntry ps;
	TaskCoreEntry core;
	ThreadCoreEntry th;
	ThreadCoreEntry *ths[1];
	MmEntry mm;
	FdEntry fd;
	FdEntry *fds[1];
	TcpSocketEntry sk;
	uint32_t tids[1];
	uint8_t addr[4];
	struct image_task t;
};

/* One valid task with fd 3 a bound UDP socket on 10.0.0.1:5000. */
static void fixture_init(struct task_fixture *f)
{
	memset(f, 0, sizeof(*f));
	inventory_entry__init(&f->inv);
	pstree_entry__init(&f->ps);
	task_core_entry__init(&f->core);
	thread_core_entry__init(&f->th);
	mm_entry__init(&f->mm);
	fd_entry__init(&f->fd);
	tcp_socket_entry__init(&f->sk);
	f->inv.image_version = IMAGE_FORMAT_VERSION;
	f->inv.page_size = IMAGE_PAGE_SIZE;
	f->inv.arch = "x86_64";
	f->inv.root_pid = 4242;
	f->tids[0] = 4242;
	f->ps.pid = 4242;
	f->ps.threads = f->tids;
	f->ps.n_threads = 1;
	f->core.pid = 4242;
	f->th.tid = 4242;
	f->ths[0] = &f->th;
	f->core.threads = f->ths;
	f->core.n_threads = 1;
	f->addr[0] = 10;
	f->addr[3] = 1;
	f->sk.family = AF_INET;
	f->sk.protocol = IPPROTO_UDP;
	f->sk.state = 7;
	f->sk.src_addr.data = f->addr;
	f->sk.src_addr.len = 4;
	f->sk.src_port = 5000;
	f->fd.fd = 3;
	f->fd.kind = FD_KIND__FD_INET_SOCKET;
	f->fd.path = "socket:[99]";
	f->fd.inet = &f->sk;
	f->fds[0] = &f->fd;
	f->t = (struct image_task){ .pstree = &f->ps,
				    .core = &f->core,
				    .mm = &f->mm,
				    .fds = f->fds,
				    .fd_count = 1,
				    .pages_fd = -1 };
}

static void test_image_socket_records(void **state)
{
	struct task_fixture f;

	(void)state;
	fixture_init(&f);
	assert_int_equal(image_task_check(&f.inv, &f.t), 0);

	f.fd.inet = NULL; /* a socket without its state */
	assert_int_equal(image_task_check(&f.inv, &f.t), -EBADMSG);
	assert_non_null(strstr(err_detail(), "fd 3 is a socket without its state"));
	f.fd.inet = &f.sk;

	f.fd.kind = FD_KIND__FD_REG; /* a file carrying socket state */
	assert_int_equal(image_task_check(&f.inv, &f.t), -EBADMSG);
	assert_non_null(strstr(err_detail(), "file with socket state"));
	f.fd.kind = 77; /* a kind this reader does not know */
	assert_int_equal(image_task_check(&f.inv, &f.t), -EBADMSG);
	assert_non_null(strstr(err_detail(), "unknown kind 77"));
	f.fd.kind = FD_KIND__FD_INET_SOCKET;

	f.sk.src_addr.len = 3; /* an IPv4 address of 3 bytes */
	assert_int_equal(image_task_check(&f.inv, &f.t), -EBADMSG);
	assert_non_null(strstr(err_detail(), "files-4242.img: fd 3"));
	f.sk.src_addr.len = 4;
	f.sk.family = 99;
	assert_int_equal(image_task_check(&f.inv, &f.t), -EBADMSG);
	f.sk.family = AF_INET;
	f.sk.src_port = 70000;
	assert_int_equal(image_task_check(&f.inv, &f.t), -EBADMSG);
	f.sk.src_port = 5000;
	f.sk.protocol = IPPROTO_TCP; /* established without its sequence numbers */
	f.sk.state = 1;
	assert_int_equal(image_task_check(&f.inv, &f.t), -EBADMSG);
	f.sk.protocol = IPPROTO_UDP;
	f.sk.state = 7;
	assert_int_equal(image_task_check(&f.inv, &f.t), 0);
}

/* ---- live, as root, in a network namespace of our own ---- */

static void skip_unless_root(void)
{
	if (geteuid() != 0)
		skip();
}

static int tcp_socket_on(uint16_t port, bool do_listen)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	if (do_listen)
		assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* A connection over loopback: *client and *server, both ours. */
static void tcp_pair(int listener, uint16_t port, int *client, int *server)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*client >= 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
	*server = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*server >= 0);
}

static const struct dump_net_sock *find_fd(const struct dump_net *net, int fd)
{
	for (size_t i = 0; i < net->count; i++)
		if (net->socks[i].fd == fd)
			return &net->socks[i];
	return NULL;
}

static void test_scan_listener_and_udp(void **state)
{
	struct dump_net *net = NULL;
	int l, u;

	(void)state;
	skip_unless_root();
	l = tcp_socket_on(7100, true);
	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* never bound: sock_diag skips it */
	assert_int_equal(dump_net_scan(getpid(), false, &net), 0);
	assert_int_equal(net->established, 0);
	assert_non_null(find_fd(net, l));
	assert_int_equal(find_fd(net, l)->diag.state, 10);
	assert_non_null(find_fd(net, u));
	assert_int_equal(find_fd(net, u)->diag.sport, 0);
	dump_net_free(net);
	close(u);
	close(l);
}

static void test_scan_refuses(void **state)
{
	struct dump_net *net = (void *)0x1;
	int l, c, s, b;

	(void)state;
	skip_unless_root();
	l = tcp_socket_on(7101, true);
	tcp_pair(l, 7101, &c, &s);
	assert_int_equal(dump_net_scan(getpid(), false, &net), -EPERM);
	assert_ptr_equal(net, (void *)0x1); /* untouched */
	assert_non_null(strstr(err_detail(), "2 established TCP connections"));
	assert_non_null(strstr(err_detail(), "127.0.0.1:7101 -> 127.0.0.1:"));
	assert_non_null(strstr(err_detail(), "-> 127.0.0.1:7101"));
	assert_non_null(strstr(err_detail(), "--tcp-established"));

	assert_int_equal(dump_net_scan(getpid(), true, &net), 0);
	assert_int_equal(net->established, 2);
	assert_int_equal(net->count, 3);
	dump_net_free(net);

	b = tcp_socket_on(7102, false); /* bound, neither connected nor listening */
	assert_int_equal(dump_net_scan(getpid(), true, &net), -EOPNOTSUPP);
	assert_non_null(strstr(err_detail(), "state CLOSE"));
	close(b);
	close(c);
	close(s);
	close(l);
}

static void test_lock(void **state)
{
	struct dump_net *net;
	struct netlock *lock = NULL;
	char name[128];
	int l, c, s;

	(void)state;
	skip_unless_root();
	l = tcp_socket_on(7103, true);
	tcp_pair(l, 7103, &c, &s);
	assert_int_equal(dump_net_scan(getpid(), true, &net), 0);
	assert_int_equal(dump_net_lock(net, 0, &lock), 0);
	assert_non_null(lock);
	snprintf(name, sizeof(name), "%s", netlock_table_name(lock));
	assert_int_equal(netlock_table_exists(net->netns_fd, name), 1);
	assert_int_equal(netlock_release(&lock), 0);
	assert_int_equal(netlock_table_exists(net->netns_fd, name), 0);

	/* The persistent kind survives netlock_leave() and goes by name. */
	assert_int_equal(dump_net_lock(net, NETLOCK_F_PERSIST, &lock), 0);
	snprintf(name, sizeof(name), "%s", netlock_table_name(lock));
	assert_non_null(strstr(name, "migrate_dumplock_"));
	netlock_leave(&lock);
	assert_null(lock);
	assert_int_equal(netlock_table_exists(net->netns_fd, name), 1);
	assert_int_equal(netlock_cleanup_stale(net->netns_fd, NULL), 0);
	assert_int_equal(netlock_table_exists(net->netns_fd, name), 1);
	assert_int_equal(netlock_remove_table(net->netns_fd, name), 0);
	assert_int_equal(netlock_table_exists(net->netns_fd, name), 0);
	assert_int_equal(netlock_remove_table(net->netns_fd, name), -ENOENT);
	assert_int_equal(netlock_remove_table(net->netns_fd, "filter"), -EINVAL);
	dump_net_free(net);

	/* Nothing to lock: no table, no error. */
	net = calloc(1, sizeof(*net));
	net->netns_fd = -1;
	lock = (void *)0x1;
	assert_int_equal(dump_net_lock(net, 0, &lock), 0);
	assert_null(lock);
	dump_net_free(net);
	close(c);
	close(s);
	close(l);
}

static int in_repair(int fd)
{
	int on = -1;
	socklen_t len = sizeof(on);

	assert_int_equal(getsockopt(fd, SOL_TCP, TCP_REPAIR, &on, &len), 0);
	return on;
}

static FdEntry *socket_record(int fd)
{
	FdEntry *e = calloc(1, sizeof(*e));
	struct stat st;
	char path[64];

	assert_non_null(e);
	fd_entry__init(e);
	assert_int_equal(fstat(fd, &st), 0);
	snprintf(path, sizeof(path), "socket:[%llu]", (unsigned long long)st.st_ino);
	e->fd = (uint32_t)fd;
	e->kind = FD_KIND__FD_INET_SOCKET;
	e->path = strdup(path);
	e->has_ino = true;
	e->ino = st.st_ino;
	return e;
}

static void test_collect_resume(void **state)
{
	struct dump_net *net;
	FdEntry **fds = calloc(2, sizeof(*fds));
	char buf[8] = "";
	int l, c, s, late_c, late_s;

	(void)state;
	skip_unless_root();
	l = tcp_socket_on(7104, true);
	tcp_pair(l, 7104, &c, &s);
	assert_int_equal(send(c, "queued", 6, 0), 6); /* in s's receive queue */
	assert_int_equal(dump_net_scan(getpid(), true, &net), 0);
	fds[0] = socket_record(c);
	fds[1] = socket_record(l);
	assert_int_equal(dump_net_collect(getpid(), net, false, fds, 2), 0);
	assert_non_null(fds[0]->inet);
	assert_int_equal(fds[0]->inet->state, 1);
	assert_int_equal(fds[1]->inet->state, 10);
	assert_int_equal(in_repair(c), 1); /* the process's own fd: the same socket */
	assert_int_equal(dump_net_resume(getpid(), fds, 2), 0);
	assert_int_equal(in_repair(c), 0);
	assert_int_equal(dump_net_resume(getpid(), fds, 2), 0); /* again: nothing to do */
	assert_int_equal(send(c, "!", 1, 0), 1);
	assert_int_equal(recv(s, buf, 7, MSG_WAITALL), 7);
	assert_memory_equal(buf, "queued!", 7);
	dump_files_free(fds, 2);

	/* A connection made after the scan is not under the lock: refused, nothing left in
	 * repair mode. */
	tcp_pair(l, 7104, &late_c, &late_s);
	fds = calloc(2, sizeof(*fds));
	fds[0] = socket_record(c);
	fds[1] = socket_record(late_c);
	assert_int_equal(dump_net_collect(getpid(), net, true, fds, 2), -EAGAIN);
	assert_non_null(strstr(err_detail(), "not among the sockets"));
	assert_int_equal(in_repair(c), 0);
	dump_files_free(fds, 2);
	dump_net_free(net);

	/* Without a scan, established connections need the flag. */
	fds = calloc(1, sizeof(*fds));
	fds[0] = socket_record(c);
	assert_int_equal(dump_net_collect(getpid(), NULL, false, fds, 1), -EPERM);
	assert_non_null(strstr(err_detail(), "--tcp-established"));
	assert_int_equal(in_repair(c), 0);
	dump_files_free(fds, 1);
	close(late_c);
	close(late_s);
	close(c);
	close(s);
	close(l);
}

static int run_all(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_sockets),
		cmocka_unit_test(test_image_socket_records),
		cmocka_unit_test(test_scan_listener_and_udp),
		cmocka_unit_test(test_scan_refuses),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_collect_resume),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* As root the whole run happens in a child with a network namespace (and loopback) of its
 * own, so nothing here touches the host's sockets or nftables. */
int main(void)
{
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "test_dump_net: not root: live tests skipped\n");
		return run_all() ? 1 : 0;
	}
	pid = fork();
	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0 || system("ip link set lo up") != 0) {
			fprintf(stderr, "test_dump_net: no network namespace with loopback, "
					"skipping\n");
			_exit(77);
		}
		exit(run_all() ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return perror("waitpid"), 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
