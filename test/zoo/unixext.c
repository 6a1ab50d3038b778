/*
 * unixext: unix sockets that dump refuses or dumps only when asked, for
 * test/integration/unix_ext.sh (not for the zoo lists: it needs a peer outside).
 *
 *	unixext CHECK stream PATH   connected to an echo server at PATH outside the process:
 *	                            after restore (--ext-unix-sk, a new connection) a line
 *	                            sent comes back
 *	unixext CHECK dgram PATH    datagram socket connected to a receiver at PATH outside:
 *	                            after restore it still sends to it ("after-PID")
 *	unixext CHECK scm           a socketpair with a pipe's fd in flight (SCM_RIGHTS): dump
 *	                            refuses it; at the check the fd arrives and still reads
 *	                            its pipe
 *	unixext CHECK pending       a listener (abstract name) with a connection of the process
 *	                            not yet accepted: dump refuses it; at the check it is accepted
 *	unixext CHECK split         a socketpair whose other end a child holds (it echoes one
 *	                            byte, exits at the end of the stream): a dump of the child
 *	                            alone refuses it; the tree's dump and restore keep the pair
 */
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "zoo.h"

static int sk = -1, pair[2], pipefd[2], client = -1;

static int connect_path(int type, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return fd;
}

/* Sends line, expects it back whole from the echo server. */
static void echo_check(const char *line)
{
	char buf[64];
	size_t len = strlen(line), got = 0;

	if (write(sk, line, len) != (ssize_t)len)
		return zoo_fail("stream: send: %s", strerror(errno));
	while (got < len) {
		ssize_t n = read(sk, buf + got, len - got);

		if (n <= 0)
			return zoo_fail("stream: echo: %s",
					n ? strerror(errno) : "connection closed");
		got += (size_t)n;
	}
	if (memcmp(buf, line, len))
		zoo_fail("stream: the echo differs");
}

static int send_fd(int via, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = "F", .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(via, &mh, 0) == 1 ? 0 : -1;
}

static void scm_check(void)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	char byte, data[8];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *c;
	int fd;

	if (recvmsg(pair[1], &mh, MSG_DONTWAIT) != 1 || !(c = CMSG_FIRSTHDR(&mh)) ||
	    c->cmsg_type != SCM_RIGHTS)
		return zoo_fail("scm: the fd in flight is gone");
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (read(fd, data, 4) != 4 || memcmp(data, "pipe", 4))
		zoo_fail("scm: the fd received does not read its pipe");
	if (recv(pair[1], data, 1, MSG_DONTWAIT) >= 0)
		zoo_fail("scm: more than one message was in flight");
}

static int setup(const char *mode, const char *path)
{
	if (!strcmp(mode, "stream") && path) {
		sk = connect_path(SOCK_STREAM, path);
		return sk < 0 ? -1 : 0;
	}
	if (!strcmp(mode, "dgram") && path) {
		sk = connect_path(SOCK_DGRAM, path);
		return sk < 0 || send(sk, "before", 6, 0) != 6 ? -1 : 0;
	}
	if (!strcmp(mode, "scm")) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0 || pipe(pipefd) < 0 ||
		    write(pipefd[1], "pipe", 4) != 4 || send_fd(pair[0], pipefd[0]) < 0)
			return -1;
		close(pipefd[0]);
		return 0;
	}
	if (!strcmp(mode, "split")) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
			return -1;
		if (fork() == 0) {
			char c;

			close(pair[0]);
			while (read(pair[1], &c, 1) == 1)
				if (write(pair[1], &c, 1) != 1)
					break;
			_exit(0);
		}
		close(pair[1]);
		return 0;
	}
	if (!strcmp(mode, "pending")) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
					    snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
						     "unixext-%d", (int)getpid()));

		sk = socket(AF_UNIX, SOCK_STREAM, 0);
		client = socket(AF_UNIX, SOCK_STREAM, 0);
		if (sk < 0 || client < 0 || bind(sk, (struct sockaddr *)&sa, len) < 0 ||
		    listen(sk, 4) < 0 || connect(client, (struct sockaddr *)&sa, len) < 0)
			return -1;
		return 0;
	}
	errno = EINVAL;
	return -1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : "", *path = argc > 3 ? argv[3] : NULL;
	char line[64];

	zoo_init(argc, argv, "unixext");
	if (setup(mode, path) < 0) {
		zoo_fail("setup %s: %s", mode, strerror(errno));
		return zoo_finish();
	}
	if (!strcmp(mode, "stream"))
		echo_check("before\n");
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	snprintf(line, sizeof(line), "after-%d\n", (int)getpid());
	if (!strcmp(mode, "stream"))
		echo_check(line);
	else if (!strcmp(mode, "dgram") && send(sk, line, strlen(line), 0) != (ssize_t)strlen(line))
		zoo_fail("dgram: send after restore: %s", strerror(errno));
	else if (!strcmp(mode, "scm"))
		scm_check();
	else if (!strcmp(mode, "split") &&
		 (write(pair[0], "s", 1) != 1 || read(pair[0], line, 1) != 1 || line[0] != 's'))
		zoo_fail("split: the child does not echo any more");
	else if (!strcmp(mode, "pending") && accept(sk, NULL, NULL) < 0)
		zoo_fail("pending: the connection waiting to be accepted is gone");
	return zoo_finish();
}
