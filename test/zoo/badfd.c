/*
 * badfd: a process holding an fd of a kind the dumper does not support, to
 * check that it is refused cleanly and left untouched.
 *	badfd CHECK pipe     a pipe, read end at fd 7, write end at fd 8,
 *	                     holding unread data
 *	badfd CHECK socket   a unix socketpair at fds 7 and 8, holding unread data sent with
 *	                     the sending socket itself in flight (SCM_RIGHTS: a socket in
 *	                     flight is refused)
 *	badfd CHECK fifo     a FIFO (unlinked once open), read end at fd 7, write end at
 *	                     fd 8, holding unread data
 * After the check file appears it reads the data back (it must still be
 * there: a refused dump must not have consumed it) and checks its counter
 * went on.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "zoo.h"

#define READ_FD 7
#define WRITE_FD 8
static const char message[] = "unread data";

/* The message with a copy of fd attached: a unix socket then holds an fd in flight. */
static int send_with_fd(int via, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)message, .iov_len = sizeof(message) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(via, &mh, 0) == (ssize_t)sizeof(message) ? 0 : -1;
}

static int setup(const char *kind)
{
	int fds[2];

	if (!strcmp(kind, "pipe")) {
		if (pipe(fds))
			return -1;
	} else if (!strcmp(kind, "fifo")) {
		char path[64];

		snprintf(path, sizeof(path), "/tmp/badfd-fifo.%d", (int)getpid());
		if (mkfifo(path, 0600))
			return -1;
		fds[0] = open(path, O_RDONLY | O_NONBLOCK);
		fds[1] = open(path, O_WRONLY);
		unlink(path);
		if (fds[0] < 0 || fds[1] < 0)
			return -1;
	} else if (!strcmp(kind, "socket")) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds))
			return -1;
	} else {
		errno = EINVAL;
		return -1;
	}
	if (dup2(fds[0], READ_FD) < 0 || dup2(fds[1], WRITE_FD) < 0)
		return -1;
	close(fds[0]);
	close(fds[1]);
	if (!strcmp(kind, "socket"))
		return send_with_fd(WRITE_FD, WRITE_FD);
	if (write(WRITE_FD, message, sizeof(message)) != sizeof(message))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	char buf[sizeof(message)];
	unsigned long count = 0;

	zoo_init(argc, argv, "badfd");
	if (argc < 3 || setup(argv[2])) {
		printf("FAIL badfd: setup (usage: badfd CHECK pipe|fifo|socket): %s\n",
		       strerror(errno));
		return 1;
	}
	zoo_ready();
	while (!zoo_check_requested()) {
		printf("count %lu\n", ++count);
		zoo_sleep_ms(100);
	}
	if (read(READ_FD, buf, sizeof(buf)) != sizeof(buf) || memcmp(buf, message, sizeof(buf)))
		zoo_fail("the data in fd %d is gone", READ_FD);
	return zoo_finish();
}
