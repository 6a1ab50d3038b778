/*
 * pty_queue: see pty_queue.h. The line discipline of a pty (n_tty) is fed asynchronously: a
 * write to the master only queues the bytes, a kernel worker hands them to the slave's line
 * discipline later. The final termios must not be set before it has taken them all, else they
 * would be cooked and echoed a second time: its echo, which it sends back to the master as it
 * takes each byte, is what we wait for.
 */
#include "pty_queue.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* More than the kernel queues on one side of a pair (n_tty's 4 KiB and the flip buffers). */
#define PTY_QUEUE_MAX (1u << 20)
#define PTY_QUEUE_ECHO_MS 2000

static int queue_append(uint8_t **buf, size_t *len, const uint8_t *data, size_t n)
{
	uint8_t *b;

	if (*len + n > PTY_QUEUE_MAX)
		return -EFBIG;
	b = realloc(*buf, *len + n);
	if (!b)
		return -ENOMEM;
	memcpy(b + *len, data, n);
	*buf = b;
	*len += n;
	return 0;
}

/* Everything fd can give without waiting. poll() first: it makes the tty hand over the
 * bytes still in flight, and tells when there are none. */
static int queue_drain(int fd, uint8_t **buf, size_t *len)
{
	uint8_t chunk[4096];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r;

		if (poll(&pfd, 1, 0) < 0)
			return -errno;
		if (!(pfd.revents & POLLIN))
			return 0;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0)
			return 0;
		r = queue_append(buf, len, chunk, (size_t)n);
		if (r < 0)
			return r;
	}
}

int pty_queue_take(int master, int slave, struct pty_queue *q)
{
	struct termios t;
	int r;

	memset(q, 0, sizeof(*q));
	r = queue_drain(master, &q->to_master, &q->to_master_len);
	if (r < 0)
		return r;
	/* Leaving canonical mode makes a partial line readable too (n_tty_set_termios). */
	if (tcgetattr(slave, &t) < 0)
		return -errno;
	t.c_lflag &= ~(tcflag_t)ICANON;
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(slave, TCSANOW, &t) < 0)
		return -errno;
	return queue_drain(slave, &q->to_slave, &q->to_slave_len);
}

static int queue_write_all(int fd, const uint8_t *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads and drops len bytes of echo from master. */
static int queue_wait_echo(int master, size_t len)
{
	uint8_t chunk[4096];

	while (len) {
		struct pollfd pfd = { .fd = master, .events = POLLIN };
		size_t want = len < sizeof(chunk) ? len : sizeof(chunk);
		ssize_t n;
		int r = poll(&pfd, 1, PTY_QUEUE_ECHO_MS);

		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = read(master, chunk, want);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		len -= (size_t)n;
	}
	return 0;
}

/* final, with input taken as it comes: echoed byte for byte, nothing translated, no special
 * character but the line ends (newline, VEOL, VEOL2), which canonical mode needs to cut the
 * lines again where they were. */
static void queue_feed_termios(const struct termios *final, struct termios *t)
{
	static const int off[] = { VINTR, VQUIT, VERASE, VKILL, VEOF, VSTART, VSTOP,
				   VSUSP, VREPRINT, VDISCARD, VWERASE, VLNEXT };

	*t = *final;
	t->c_iflag &= ~(tcflag_t)(ISTRIP | INLCR | IGNCR | ICRNL | IUCLC | IXON | IXOFF | PARMRK);
	t->c_oflag &= ~(tcflag_t)OPOST;
	t->c_lflag &= ~(tcflag_t)(ISIG | IEXTEN | ECHOE | ECHOK | ECHONL | ECHOCTL | ECHOPRT |
				  ECHOKE | EXTPROC | TOSTOP);
	t->c_lflag |= ECHO;
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		t->c_cc[off[i]] = _POSIX_VDISABLE;
}

int pty_queue_put(int master, int slave, const struct termios *final, const struct pty_queue *q)
{
	struct termios feed;
	int r;

	queue_feed_termios(final, &feed);
	if (tcsetattr(slave, TCSANOW, &feed) < 0)
		return -errno;
	r = queue_write_all(master, q->to_slave, q->to_slave_len);
	if (r == 0)
		r = queue_wait_echo(master, q->to_slave_len);
	/* Without OPOST the slave's output reaches the master as written: nothing is re-cooked. */
	if (r == 0)
		r = queue_write_all(slave, q->to_master, q->to_master_len);
	if (tcsetattr(slave, TCSANOW, final) < 0 && r == 0)
		r = -errno;
	return r;
}

void pty_queue_fini(struct pty_queue *q)
{
	free(q->to_master);
	free(q->to_slave);
	memset(q, 0, sizeof(*q));
}
