/*
 * unixfds: files in flight (SCM_RIGHTS) in unix socket queues kept across a checkpoint.
 *
 *	stream     socketpair; [0] sent "first" with CHECK.data (O_RDONLY, at POS_A) and
 *	           /dev/null (O_WRONLY), then "second-msg" with CHECK.data (O_RDWR, at POS_B),
 *	           then "tail" without files; all unread on [1]
 *	seqpacket  socketpair; records "r1" with /dev/zero and "r2" with the directory holding
 *	           CHECK.data (O_DIRECTORY) and CHECK.data (O_WRONLY | O_APPEND), unread on [1]
 *	dgram      socketpair; datagram "d1" with /dev/urandom unread on [1]
 *
 * The process closes its own copies after sending: only the queues hold the files. After
 * restore [1] of each pair gives back exactly its messages, in order, boundaries kept, each
 * with its files: the right file (dev/ino, or the device's rdev), access mode and status
 * flags, position; then EAGAIN.
 */
#include <fcntl.h>
#include <libgen.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "zoo.h"

#define DATA_LEN 8192
#define POS_A 1234
#define POS_B 100
#define MAX_FILES 4

/* What a received file must be. */
struct want_file {
	dev_t dev; /* st_dev and st_ino of a file, or 0 and the rdev of a device */
	ino_t ino;
	dev_t rdev;
	int accmode;
	int status; /* status flags that must be set (O_APPEND) */
	off_t pos;  /* -1: not checked */
};

static int stream[2], seqp[2], dgram[2];
static char data_path[512], dir_path[512];
static struct stat data_st, dir_st;

static int open_at(const char *path, int flags, off_t pos)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		zoo_fail("open %s: %s", path, strerror(errno));
	else if (pos > 0 && lseek(fd, pos, SEEK_SET) != pos)
		zoo_fail("lseek %s: %s", path, strerror(errno));
	return fd;
}

/* Sends text with fds (n of them) on sk, then closes our copies. */
static void send_with(int sk, const char *text, int *fds, size_t n)
{
	union {
		char buf[CMSG_SPACE(MAX_FILES * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)text, .iov_len = strlen(text) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	memset(&control, 0, sizeof(control));
	if (n) {
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	if (sendmsg(sk, &mh, 0) != (ssize_t)iov.iov_len)
		zoo_fail("sendmsg '%s': %s", text, strerror(errno));
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

static struct want_file want_data(int accmode, int status, off_t pos)
{
	return (struct want_file){ .dev = data_st.st_dev,
				   .ino = data_st.st_ino,
				   .accmode = accmode,
				   .status = status,
				   .pos = pos };
}

static struct want_file want_dev(int minor_nr, int accmode)
{
	return (struct want_file){ .rdev = makedev(1, minor_nr), .accmode = accmode, .pos = -1 };
}

static void check_file(const char *msg, size_t i, int fd, const struct want_file *w)
{
	struct stat st;
	int flags = fcntl(fd, F_GETFL);
	off_t pos = lseek(fd, 0, SEEK_CUR);

	if (fstat(fd, &st) < 0 || flags < 0) {
		zoo_fail("'%s' file %zu: fstat/fcntl: %s", msg, i, strerror(errno));
		return;
	}
	if (w->rdev && (!S_ISCHR(st.st_mode) || st.st_rdev != w->rdev))
		zoo_fail("'%s' file %zu: not the device %u:%u", msg, i, major(w->rdev),
			 minor(w->rdev));
	else if (!w->rdev && (st.st_dev != w->dev || st.st_ino != w->ino))
		zoo_fail("'%s' file %zu: inode %llu, expected %llu", msg, i,
			 (unsigned long long)st.st_ino, (unsigned long long)w->ino);
	else if ((flags & O_ACCMODE) != w->accmode || (flags & w->status) != w->status)
		zoo_fail("'%s' file %zu: flags %#o, expected access %d and %#o", msg, i, flags,
			 w->accmode, w->status);
	else if (w->pos >= 0 && pos != w->pos)
		zoo_fail("'%s' file %zu: position %lld, expected %lld", msg, i, (long long)pos,
			 (long long)w->pos);
}

/* The next message of sk must be text with the files of want (n), nothing more. */
static void expect(int sk, const char *text, const struct want_file *want, size_t n)
{
	union {
		char buf[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr align;
	} control;
	char buf[256];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	ssize_t len = recvmsg(sk, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	int fds[16];
	size_t got = 0;

	if (len < 0) {
		zoo_fail("'%s': recvmsg: %s", text, strerror(errno));
		return;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; c->cmsg_type == SCM_RIGHTS && i < k && got < 16; i++)
			memcpy(&fds[got++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if ((size_t)len != strlen(text) || memcmp(buf, text, (size_t)len))
		zoo_fail("expected '%s', got %zd bytes '%.*s'", text, len, (int)len, buf);
	else if (got != n)
		zoo_fail("'%s' came with %zu files, expected %zu", text, got, n);
	for (size_t i = 0; !zoo_failed() && i < n; i++)
		check_file(text, i, fds[i], &want[i]);
	for (size_t i = 0; i < got; i++)
		close(fds[i]);
}

static void expect_empty(int sk, const char *what)
{
	char c;

	if (recv(sk, &c, 1, MSG_DONTWAIT) >= 0 || errno != EAGAIN)
		zoo_fail("%s: more than its messages unread", what);
}

static void setup_data(void)
{
	char buf[DATA_LEN], copy[512];
	int fd;

	snprintf(data_path, sizeof(data_path), "%s.data", zoo_check_path);
	snprintf(copy, sizeof(copy), "%s", data_path);
	snprintf(dir_path, sizeof(dir_path), "%s", dirname(copy));
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)zoo_mix(i);
	fd = open(data_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		zoo_fail("cannot write %s: %s", data_path, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (stat(data_path, &data_st) < 0 || stat(dir_path, &dir_st) < 0)
		zoo_fail("stat %s: %s", data_path, strerror(errno));
}

static void setup(void)
{
	int fds[MAX_FILES];

	setup_data();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, stream) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, seqp) < 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dgram) < 0) {
		zoo_fail("socketpair: %s", strerror(errno));
		return;
	}
	fds[0] = open_at(data_path, O_RDONLY, POS_A);
	fds[1] = open_at("/dev/null", O_WRONLY, 0);
	send_with(stream[0], "first", fds, 2);
	fds[0] = open_at(data_path, O_RDWR, POS_B);
	send_with(stream[0], "second-msg", fds, 1);
	send_with(stream[0], "tail", NULL, 0);
	fds[0] = open_at("/dev/zero", O_RDONLY, 0);
	send_with(seqp[0], "r1", fds, 1);
	fds[0] = open_at(dir_path, O_RDONLY | O_DIRECTORY, 0);
	fds[1] = open_at(data_path, O_WRONLY | O_APPEND, 0);
	send_with(seqp[0], "r2", fds, 2);
	fds[0] = open_at("/dev/urandom", O_RDONLY, 0);
	send_with(dgram[0], "d1", fds, 1);
}

static void verify(void)
{
	struct want_file first[2] = { want_data(O_RDONLY, 0, POS_A), want_dev(3, O_WRONLY) };
	struct want_file second[1] = { want_data(O_RDWR, 0, POS_B) };
	struct want_file r1[1] = { want_dev(5, O_RDONLY) };
	struct want_file r2[2] = {
		{ .dev = dir_st.st_dev, .ino = dir_st.st_ino, .accmode = O_RDONLY, .pos = -1 },
		want_data(O_WRONLY, O_APPEND, -1),
	};
	struct want_file d1[1] = { want_dev(9, O_RDONLY) };

	expect(stream[1], "first", first, 2);
	expect(stream[1], "second-msg", second, 1);
	expect(stream[1], "tail", NULL, 0);
	expect_empty(stream[1], "stream");
	expect(seqp[1], "r1", r1, 1);
	expect(seqp[1], "r2", r2, 2);
	expect_empty(seqp[1], "seqpacket");
	expect(dgram[1], "d1", d1, 1);
	expect_empty(dgram[1], "dgram");
}

int main(int argc, char **argv)
{
	zoo_init(argc, argv, "unixfds");
	setup();
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	if (!zoo_failed())
		verify();
	unlink(data_path);
	return zoo_finish();
}
