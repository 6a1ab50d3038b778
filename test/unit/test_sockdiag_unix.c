/*
 * test_sockdiag_unix: UNIX_DIAG answers, parsed from built buffers (good, truncated, hostile),
 * the image entry check, name formatting, and the kernel's answers for sockets made here.
 */
#include "sockdiag_unix.h"

#include "err.h"
#include "image.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SEQ 77

struct answer {
	uint8_t buf[1024];
	size_t len;
};

static void put_attr(struct answer *a, uint16_t type, const void *data, size_t len)
{
	struct nlattr at = { .nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type };

	memcpy(a->buf + a->len, &at, sizeof(at));
	memcpy(a->buf + a->len + NLA_HDRLEN, data, len);
	a->len += NLA_ALIGN(at.nla_len);
}

/* A whole answer: socket 1234 of a stream pair, named "@abc", peer 1235, etc. */
static void build_good(struct answer *a)
{
	struct unix_diag_msg m = { .udiag_family = AF_UNIX,
				   .udiag_type = SOCK_STREAM,
				   .udiag_state = 1,
				   .udiag_ino = 1234 };
	struct unix_diag_rqlen rq = { .udiag_rqueue = 10, .udiag_wqueue = 20 };
	struct unix_diag_vfs vfs = { .udiag_vfs_ino = 99, .udiag_vfs_dev = (8u << 20) | 1 };
	uint32_t peer = 1235, icons[2] = { 5, 6 };
	uint8_t shut = 3;
	struct nlmsghdr h = { .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_seq = SEQ };

	memset(a, 0, sizeof(*a));
	a->len = NLMSG_HDRLEN;
	memcpy(a->buf + a->len, &m, sizeof(m));
	a->len += NLMSG_ALIGN(sizeof(m));
	put_attr(a, UNIX_DIAG_NAME, "\0abc", 4);
	put_attr(a, UNIX_DIAG_PEER, &peer, sizeof(peer));
	put_attr(a, UNIX_DIAG_RQLEN, &rq, sizeof(rq));
	put_attr(a, UNIX_DIAG_SHUTDOWN, &shut, 1);
	put_attr(a, UNIX_DIAG_ICONS, icons, sizeof(icons));
	put_attr(a, UNIX_DIAG_VFS, &vfs, sizeof(vfs));
	put_attr(a, 200, "junk", 4); /* unknown attributes are skipped */
	h.nlmsg_len = (uint32_t)a->len;
	memcpy(a->buf, &h, sizeof(h));
}

static void set_len(struct answer *a, uint32_t len)
{
	memcpy(a->buf + offsetof(struct nlmsghdr, nlmsg_len), &len, sizeof(len));
}

static void test_parse_good(void **state)
{
	struct sockdiag_unix s;
	struct answer a;

	(void)state;
	build_good(&a);
	assert_int_equal(sockdiag_unix_parse(a.buf, a.len, SEQ, &s), 0);
	assert_int_equal(s.inode, 1234);
	assert_int_equal(s.peer_inode, 1235);
	assert_int_equal(s.type, SOCK_STREAM);
	assert_int_equal(s.state, 1);
	assert_int_equal(s.shutdown, 3);
	assert_true(s.has_rqlen);
	assert_int_equal(s.rqueue, 10);
	assert_int_equal(s.wqueue, 20);
	assert_true(s.has_vfs);
	assert_int_equal(s.vfs_ino, 99);
	assert_int_equal(s.name_len, 4);
	assert_memory_equal(s.name, "\0abc", 4);
	assert_int_equal(s.n_icons, 2);
	assert_int_equal(s.icons[0], 5);
	assert_int_equal(s.icons[1], 6);
	sockdiag_unix_fini(&s);
	sockdiag_unix_fini(&s); /* twice is fine */
}

/* Every prefix of a good answer is refused; every shorter nlmsg_len either parses what fits or
 * is refused, never read beyond (ASan build). */
static void test_parse_truncated(void **state)
{
	struct sockdiag_unix s;
	struct answer a;

	(void)state;
	build_good(&a);
	for (size_t n = 0; n < a.len; n++) {
		assert_int_equal(sockdiag_unix_parse(a.buf, n, SEQ, &s), -EPROTO);
		sockdiag_unix_fini(&s);
	}
	for (uint32_t n = 0; n < a.len; n++) {
		int r;

		build_good(&a);
		set_len(&a, n);
		r = sockdiag_unix_parse(a.buf, n < NLMSG_HDRLEN ? a.len : n, SEQ, &s);
		assert_true(r == 0 || r == -EPROTO);
		sockdiag_unix_fini(&s);
	}
}

static int parse_with(struct answer *a, size_t attr_off, const void *patch, size_t len)
{
	struct sockdiag_unix s;
	int r;

	memcpy(a->buf + attr_off, patch, len);
	r = sockdiag_unix_parse(a->buf, a->len, SEQ, &s);
	sockdiag_unix_fini(&s);
	return r;
}

static void test_parse_hostile(void **state)
{
	size_t first_attr = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct unix_diag_msg));
	struct nlattr tiny = { .nla_len = 2, .nla_type = UNIX_DIAG_NAME };
	struct nlattr huge = { .nla_len = 1000, .nla_type = UNIX_DIAG_NAME };
	struct nlattr icons3 = { .nla_len = NLA_HDRLEN + 3, .nla_type = UNIX_DIAG_ICONS };
	uint8_t inet = AF_INET;
	struct answer a;
	uint8_t big[200] = { 0 };
	struct nlmsghdr h = { .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_seq = SEQ };
	struct sockdiag_unix s;
	int err;

	(void)state;
	build_good(&a);
	assert_int_equal(parse_with(&a, first_attr, &tiny, sizeof(tiny)), -EPROTO);
	build_good(&a);
	assert_int_equal(parse_with(&a, first_attr, &huge, sizeof(huge)), -EPROTO);
	build_good(&a);
	assert_int_equal(parse_with(&a, first_attr, &icons3, sizeof(icons3)), -EPROTO);
	build_good(&a);
	assert_int_equal(parse_with(&a, NLMSG_HDRLEN, &inet, 1), -EPROTO); /* not AF_UNIX */
	build_good(&a);
	assert_int_equal(sockdiag_unix_parse(a.buf, a.len, SEQ + 1, &s), -EPROTO);
	sockdiag_unix_fini(&s);

	/* A name longer than sun_path. */
	memset(&a, 0, sizeof(a));
	a.len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct unix_diag_msg));
	a.buf[NLMSG_HDRLEN] = AF_UNIX;
	put_attr(&a, UNIX_DIAG_NAME, big, 109);
	h.nlmsg_len = (uint32_t)a.len;
	memcpy(a.buf, &h, sizeof(h));
	assert_int_equal(sockdiag_unix_parse(a.buf, a.len, SEQ, &s), -EPROTO);
	sockdiag_unix_fini(&s);

	/* The kernel's error, a bogus error, an unknown message type. */
	memset(&a, 0, sizeof(a));
	h.nlmsg_type = NLMSG_ERROR;
	h.nlmsg_len = NLMSG_HDRLEN + sizeof(struct nlmsgerr);
	memcpy(a.buf, &h, sizeof(h));
	err = -ENOENT;
	memcpy(a.buf + NLMSG_HDRLEN, &err, sizeof(err));
	assert_int_equal(sockdiag_unix_parse(a.buf, h.nlmsg_len, SEQ, &s), -ENOENT);
	err = 5;
	memcpy(a.buf + NLMSG_HDRLEN, &err, sizeof(err));
	assert_int_equal(sockdiag_unix_parse(a.buf, h.nlmsg_len, SEQ, &s), -EPROTO);
	h.nlmsg_len = NLMSG_HDRLEN + 2;
	memcpy(a.buf, &h, sizeof(h));
	assert_int_equal(sockdiag_unix_parse(a.buf, h.nlmsg_len, SEQ, &s), -EPROTO);
	h.nlmsg_type = 0x1234;
	memcpy(a.buf, &h, sizeof(h));
	assert_int_equal(sockdiag_unix_parse(a.buf, h.nlmsg_len, SEQ, &s), -EPROTO);
}

static void test_format_name(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(
		sockdiag_unix_format_name((const uint8_t *)"\0ab\0c", 5, buf, sizeof(buf)), "@ab@"
											    "c");
	assert_string_equal(sockdiag_unix_format_name((const uint8_t *)"/run/x.sock\0", 12, buf,
						      sizeof(buf)),
			    "/run/x.sock");
	assert_string_equal(sockdiag_unix_format_name(NULL, 0, buf, sizeof(buf)), "(unnamed)");
	assert_string_equal(sockdiag_unix_format_name((const uint8_t *)"/a\n", 3, buf, sizeof(buf)),
			    "/a?");
	assert_string_equal(sockdiag_unix_format_name((const uint8_t *)"/abcdef", 7, buf, 4), "/a"
											      "b");
}

static void entry_good(UnixSocketEntry *u, UnixMessageEntry *m, UnixMessageEntry **q)
{
	unix_socket_entry__init(u);
	unix_message_entry__init(m);
	u->type = SOCK_DGRAM;
	u->state = 7;
	u->inode = 10;
	u->has_name = true;
	u->name.data = (uint8_t *)"/tmp/x.sock";
	u->name.len = 11;
	m->data.data = (uint8_t *)"hello";
	m->data.len = 5;
	m->has_sender = true;
	q[0] = m;
	u->queue = q;
	u->n_queue = 1;
}

static void test_entry_check(void **state)
{
	UnixMessageEntry m, *q[1];
	UnixSocketEntry u;

	(void)state;
	entry_good(&u, &m, q);
	assert_int_equal(sockdiag_unix_entry_check(&u), 0);
	u.type = 3; /* SOCK_RAW */
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_good(&u, &m, q);
	u.state = 10; /* a listening datagram socket */
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_good(&u, &m, q);
	u.name.data = (uint8_t *)"relative";
	u.name.len = 8;
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_good(&u, &m, q);
	u.name.data = (uint8_t *)"/a\0b";
	u.name.len = 4;
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_good(&u, &m, q);
	u.name.len = 200;
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_good(&u, &m, q);
	u.has_backlog = true;
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_good(&u, &m, q);
	u.has_external = u.external = true; /* no peer name, not connected */
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_good(&u, &m, q);
	u.has_peer_inode = true;
	u.peer_inode = u.inode;
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_good(&u, &m, q);
	m.data.len = 17u << 20;
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_good(&u, &m, q);
	u.type = SOCK_STREAM; /* senders only on datagrams */
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_good(&u, &m, q);
	u.n_queue = 70000;
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
}

static uint64_t inode_of(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_ino;
}

/* The kernel's view of a pair with one side shut, and of a listener with a pending client. */
static void test_live(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 +
			(socklen_t)snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
					    "test-sockdiag-unix-%d", (int)getpid());
	struct sockdiag_unix s;
	int nl, sv[2], l, c;

	(void)state;
	assert_int_equal(sockdiag_unix_open(-1, &nl), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(write(sv[0], "abc", 3), 3);
	assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
	assert_int_equal(sockdiag_unix_get(nl, inode_of(sv[1]), &s), 0);
	assert_int_equal(s.type, SOCK_SEQPACKET);
	assert_int_equal(s.state, 1);
	assert_int_equal(s.peer_inode, inode_of(sv[0]));
	assert_int_equal(s.shutdown, SOCKDIAG_UNIX_RCV_SHUTDOWN);
	assert_int_equal(s.rqueue, 3);
	assert_int_equal(s.name_len, 0);
	sockdiag_unix_fini(&s);

	l = socket(AF_UNIX, SOCK_STREAM, 0);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(sockdiag_unix_get(nl, inode_of(l), &s), 0);
	assert_int_equal(s.state, 10);
	assert_int_equal(s.n_icons, 1);
	assert_int_equal(s.wqueue, 4);
	assert_int_equal(s.name_len, len - offsetof(struct sockaddr_un, sun_path));
	assert_memory_equal(s.name, sa.sun_path, s.name_len);
	sockdiag_unix_fini(&s);
	assert_int_equal(sockdiag_unix_get(nl, 0, &s), -ENOENT);
	close(c);
	close(l);
	close(sv[0]);
	close(sv[1]);
	close(nl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),    cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_parse_hostile), cmocka_unit_test(test_format_name),
		cmocka_unit_test(test_entry_check),   cmocka_unit_test(test_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
