/*
 * test_unix_scm: files in flight in unix messages, in our own process.
 *
 *	round trip   a file (at a position) and /dev/null sent on a socketpair; peeked and
 *	             described (dump_fd_unix_scm_take), the message still queued; sent again
 *	             with restore_fd_unix_scm_send on a new pair: the receiver gets the data
 *	             and the same file, flags and position, and /dev/null
 *	refused      a pipe, a socket and a file whose description we still hold, in flight:
 *	             refused by name, the message still queued
 *	hostile      image records of files in flight that the image check refuses
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "dump_fd_unix_scm.h"
#include "err.h"
#include "restore_fd_unix_scm.h"
#include "sockdiag_unix.h"

static void send_fds(int sk, const char *text, const int *fds, size_t n)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)text, .iov_len = strlen(text) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	memset(&control, 0, sizeof(control));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	assert_int_equal(sendmsg(sk, &mh, 0), (ssize_t)strlen(text));
}

/* Peeks the head of sk and describes its files: dump_fd_unix_scm_take's result. */
static int peek_take(int sk, char *buf, size_t size, UnixPassedFile ***files, size_t *n)
{
	union {
		char buf[4096];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	ssize_t len = recvmsg(sk, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	assert_true(len > 0);
	return dump_fd_unix_scm_take(getpid(), 9, &mh, files, n);
}

/* Receives one message of sk: its length, its fds into fds (count into *n). */
static ssize_t recv_fds(int sk, char *buf, size_t size, int *fds, size_t *n)
{
	union {
		char buf[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	ssize_t len = recvmsg(sk, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	*n = 0;
	if (c && c->cmsg_type == SCM_RIGHTS) {
		*n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		memcpy(fds, CMSG_DATA(c), *n * sizeof(int));
	}
	return len;
}

static void test_round_trip(void **state)
{
	char path[] = "/tmp/test_unix_scm.XXXXXX", buf[64];
	int a[2], b[2], fds[2], got[8];
	UnixPassedFile **files = NULL;
	UnixMessageEntry m;
	struct stat st, gst;
	size_t n = 0;

	(void)state;
	fds[0] = mkstemp(path);
	assert_true(fds[0] >= 0);
	assert_int_equal(write(fds[0], "0123456789", 10), 10);
	assert_int_equal(lseek(fds[0], 4, SEEK_SET), 4);
	assert_int_equal(fstat(fds[0], &st), 0);
	fds[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, b), 0);
	send_fds(a[0], "hello", fds, 2);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(peek_take(a[1], buf, sizeof(buf), &files, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(files[0]->kind, 1);
	assert_string_equal(files[0]->path, path);
	assert_int_equal(files[0]->pos, 4);
	assert_int_equal(files[0]->ino, st.st_ino);
	assert_int_equal(files[1]->kind, 2);
	assert_string_equal(files[1]->path, "/dev/null");
	assert_int_equal(files[1]->flags & O_ACCMODE, O_WRONLY);
	unix_message_entry__init(&m);
	m.data.data = (uint8_t *)"hello";
	m.data.len = 5;
	m.files = files;
	m.n_files = n;
	assert_int_equal(restore_fd_unix_scm_send(b[0], &m, NULL, 0), 5);
	assert_int_equal(recv_fds(b[1], buf, sizeof(buf), got, &n), 5);
	assert_int_equal(n, 2);
	assert_int_equal(fstat(got[0], &gst), 0);
	assert_int_equal(gst.st_ino, st.st_ino);
	assert_int_equal(lseek(got[0], 0, SEEK_CUR), 4);
	assert_int_equal(fstat(got[1], &gst), 0);
	assert_int_equal(gst.st_rdev, makedev(1, 3));
	close(got[0]);
	close(got[1]);
	/* The peek consumed nothing: the original message is still there. */
	assert_int_equal(recv_fds(a[1], buf, sizeof(buf), got, &n), 5);
	assert_int_equal(n, 2);
	close(got[0]);
	close(got[1]);
	dump_fd_unix_scm_free(files, 2);
	unlink(path);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* fd in flight is refused, naming what; the message stays queued. */
static void refused(int fd, const char *what)
{
	UnixPassedFile **files = NULL;
	int sk[2], got[8];
	char buf[64];
	size_t n = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sk), 0);
	send_fds(sk[0], "x", &fd, 1);
	assert_int_equal(peek_take(sk[1], buf, sizeof(buf), &files, &n), -ENOTSUP);
	assert_non_null(strstr(err_detail(), what));
	assert_non_null(strstr(err_detail(), "fd 9 of pid"));
	assert_null(files);
	assert_int_equal(recv_fds(sk[1], buf, sizeof(buf), got, &n), 1);
	assert_int_equal(n, 1);
	close(got[0]);
	close(sk[0]);
	close(sk[1]);
}

static void test_refused(void **state)
{
	int p[2], s[2], f = open("/dev/null", O_RDONLY | O_CLOEXEC);
	char path[] = "/tmp/test_unix_scm.XXXXXX";
	int kept = mkstemp(path);

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	refused(p[0], "a pipe");
	refused(s[0], "a socket");
	refused(kept, "the open file description of its fd");
	unlink(path);
	close(kept);
	close(f);
	close(p[0]);
	close(p[1]);
	close(s[0]);
	close(s[1]);
}

static void entry_with(UnixSocketEntry *u, UnixMessageEntry *m, UnixMessageEntry **q,
		       UnixPassedFile *f, UnixPassedFile **fl)
{
	unix_socket_entry__init(u);
	unix_message_entry__init(m);
	unix_passed_file__init(f);
	u->type = SOCK_STREAM;
	u->state = 1;
	u->inode = 10;
	u->has_peer_inode = true;
	u->peer_inode = 11;
	m->data.data = (uint8_t *)"x";
	m->data.len = 1;
	m->files = fl;
	m->n_files = 1;
	fl[0] = f;
	q[0] = m;
	u->queue = q;
	u->n_queue = 1;
	f->kind = 2;
	f->path = "/dev/null";
	f->has_rdev = true;
	f->rdev = makedev(1, 3);
}

static void test_hostile(void **state)
{
	UnixPassedFile f, *fl[1];
	UnixMessageEntry m, *q[1];
	UnixSocketEntry u;

	(void)state;
	entry_with(&u, &m, q, &f, fl);
	assert_int_equal(sockdiag_unix_entry_check(&u), 0);
	f.path = "/dev/sda"; /* not a safe device */
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_with(&u, &m, q, &f, fl);
	f.kind = 7;
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_with(&u, &m, q, &f, fl);
	f.kind = 1;
	f.path = "relative";
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_with(&u, &m, q, &f, fl);
	f.kind = 1; /* a file without dev/ino: cannot be checked at restore */
	f.path = "/etc/passwd";
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_with(&u, &m, q, &f, fl);
	f.path = NULL;
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_with(&u, &m, q, &f, fl);
	m.data.len = 0; /* files on a stream need a byte to ride on */
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
	entry_with(&u, &m, q, &f, fl);
	m.n_files = 254;
	assert_int_equal(sockdiag_unix_entry_check(&u), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
