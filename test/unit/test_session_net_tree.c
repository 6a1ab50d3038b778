/*
 * The network part of a session that receives a process tree (session_net.c over
 * session_tree.c's members): the inet sockets of every member are counted and their addresses
 * checked, wherever the member's records are (loaded into the session's fields, or parked in
 * its slot), and a refusal names the member that holds the socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dst_session_internal.h"

#define TCP_LISTEN 10

/* A socket record: fd, TCP listening on addr (an IPv4 literal). */
struct sock_rec {
	FdEntry fd;
	TcpSocketEntry inet;
	uint8_t addr[4];
};

static void sock_rec_init(struct sock_rec *r, uint32_t fd, const char *addr)
{
	fd_entry__init(&r->fd);
	tcp_socket_entry__init(&r->inet);
	r->fd.fd = fd;
	r->fd.kind = FD_KIND__FD_INET_SOCKET;
	r->fd.inet = &r->inet;
	r->inet.family = AF_INET;
	r->inet.protocol = IPPROTO_TCP;
	r->inet.state = TCP_LISTEN;
	assert_int_equal(inet_pton(AF_INET, addr, r->addr), 1);
	r->inet.src_addr.data = r->addr;
	r->inet.src_addr.len = 4;
}

/* A tree of 4 (root, 2 workers, a zombie): the root holds a listener and a pipe-like fd of
 * another kind, worker 1 the listener again, worker 2 a socket bound to w2_addr. */
struct tree_fixture {
	struct session s;
	struct session_opts opts;
	struct session_member members[4];
	struct sock_rec root_l, w1_l, w2_s;
	FdEntry root_other;
	FdEntry *root_fds[2], *w1_fds[1], *w2_fds[1];
};

static void tree_fixture_init(struct tree_fixture *f, const char *w2_addr)
{
	memset(f, 0, sizeof(*f));
	sock_rec_init(&f->root_l, 6, "0.0.0.0");
	sock_rec_init(&f->w1_l, 6, "0.0.0.0");
	sock_rec_init(&f->w2_s, 9, w2_addr);
	fd_entry__init(&f->root_other);
	f->root_other.fd = 3;
	f->root_other.kind = FD_KIND__FD_PIPE;
	f->root_fds[0] = &f->root_other;
	f->root_fds[1] = &f->root_l.fd;
	f->w1_fds[0] = &f->w1_l.fd;
	f->w2_fds[0] = &f->w2_s.fd;
	f->s.opts = &f->opts;
	f->s.pid = 100;
	f->s.members = f->members;
	f->s.nr_members = 4;
	for (size_t i = 0; i < 4; i++)
		f->members[i].pid = 100 + (uint32_t)i;
	f->members[3].zombie = true;
	/* The root loaded (as after Commit): its records are the session's. */
	f->s.loaded = 0;
	f->s.fds = f->root_fds;
	f->s.fd_count = 2;
	f->members[1].fds = f->w1_fds;
	f->members[1].fd_count = 1;
	f->members[2].fds = f->w2_fds;
	f->members[2].fd_count = 1;
}

static void test_count_every_member(void **state)
{
	struct tree_fixture f;

	(void)state;
	tree_fixture_init(&f, "127.0.0.1");
	assert_int_equal(session_net_count(&f.s), 3);
	/* Worker 2 loaded instead: its slot is stale, the session's fields are its records. */
	f.s.loaded = 2;
	f.s.fds = f.w2_fds;
	f.s.fd_count = 1;
	f.members[0].fds = f.root_fds;
	f.members[0].fd_count = 2;
	f.members[2].fds = NULL;
	f.members[2].fd_count = 0;
	assert_int_equal(session_net_count(&f.s), 3);
	/* One process: the session's records only. */
	f.s.nr_members = 0;
	f.s.fds = f.root_fds;
	f.s.fd_count = 2;
	assert_int_equal(session_net_count(&f.s), 1);
}

static void test_check_names_the_member(void **state)
{
	struct tree_fixture f;

	(void)state;
	tree_fixture_init(&f, "127.0.0.1");
	assert_int_equal(session_net_check(&f.s), 0);
	/* TEST-NET-3: no interface of the machine running the tests has it. */
	tree_fixture_init(&f, "203.0.113.77");
	assert_int_equal(session_net_check(&f.s), -EADDRNOTAVAIL);
	assert_non_null(strstr(f.s.fail.message, "socket fd 9 of pid 102 is bound to "
						 "203.0.113.77"));
	assert_non_null(strstr(f.s.fail.message, "--move-ip"));
}

static void test_hold_without_connections(void **state)
{
	struct tree_fixture f;

	(void)state;
	/* Listeners only: nothing to hold, and no member's pid is looked up. */
	tree_fixture_init(&f, "127.0.0.1");
	assert_int_equal(session_net_hold(&f.s), 0);
	assert_int_equal(f.s.net.sockets, 3);
	assert_int_equal(f.s.net.nr_held, 0);
	session_net_fini(&f.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_count_every_member),
		cmocka_unit_test(test_check_names_the_member),
		cmocka_unit_test(test_hold_without_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
