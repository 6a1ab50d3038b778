/*
 * test_pty_queue: the queued data of a pseudo-terminal pair, taken out and put back (into the
 * same pair, as a dump does, and into a new one, as a restore does) comes back exactly: line
 * boundaries and a partial line in canonical mode, bytes the line discipline would act on
 * (erase, ^C, 0xff, \r), output already processed (ONLCR) not processed twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include <cmocka.h>

#include "pty_queue.h"

struct pair {
	int master, slave;
};

static int pair_open(struct pair *p)
{
	int unlock = 0;

	p->master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (p->master < 0)
		return -1;
	assert_int_equal(ioctl(p->master, TIOCSPTLCK, &unlock), 0);
	p->slave = ioctl(p->master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(p->slave >= 0);
	return 0;
}

static void pair_close(struct pair *p)
{
	close(p->master);
	close(p->slave);
}

/* FIONREAD of fd reaches n (the tty delivers writes asynchronously). */
static void wait_queued(int fd, int n)
{
	int queued = -1;

	for (int i = 0; i < 200 && queued != n; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		(void)poll(&pfd, 1, 10);
		assert_int_equal(ioctl(fd, FIONREAD, &queued), 0);
	}
	assert_int_equal(queued, n);
}

static void expect_read(int fd, const char *want, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[512];

	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)len);
	assert_memory_equal(buf, want, len);
}

static void expect_empty(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 100), 0);
}

static void write_str(int fd, const char *s, size_t len)
{
	assert_int_equal(write(fd, s, len), (ssize_t)len);
}

/* Canonical, no echo, ICRNL, ONLCR, IEXTEN (^V quotes the next byte), VEOL ';'. */
static void cooked(int slave, struct termios *t)
{
	assert_int_equal(tcgetattr(slave, t), 0);
	t->c_lflag |= ICANON | ISIG | IEXTEN;
	t->c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE);
	t->c_iflag |= ICRNL;
	t->c_oflag |= OPOST | ONLCR;
	t->c_cc[VEOL] = ';';
	assert_int_equal(tcsetattr(slave, TCSANOW, t), 0);
}

/* "a\n", "b\n" (from "b\r"), "\x7f\n" and "\x03;" (quoted by ^V), then "part" being edited
 * ("parx" erased once); the slave wrote "x\n", which the master reads as "x\r\n". */
static const char cooked_in[] = "a\nb\r\x16\x7f\n\x16\x03;parx\x7ft";
static const char cooked_queue[] = "a\nb\n\x7f\n\x03;part";

static void check_cooked(const struct pair *p)
{
	expect_read(p->slave, "a\n", 2);
	expect_read(p->slave, "b\n", 2);
	expect_read(p->slave, "\x7f\n", 2);
	expect_read(p->slave, "\x03;", 2);
	expect_empty(p->slave);
	write_str(p->master, "s\n", 2);
	expect_read(p->slave, "parts\n", 6);
	expect_read(p->master, "x\r\n", 3);
	expect_empty(p->master);
}

static void test_cooked(void **state)
{
	struct pair p, q;
	struct pty_queue data;
	struct termios t;

	(void)state;
	if (pair_open(&p) < 0)
		skip();
	cooked(p.slave, &t);
	write_str(p.master, cooked_in, sizeof(cooked_in) - 1);
	write_str(p.slave, "x\n", 2);
	wait_queued(p.slave, 8);
	wait_queued(p.master, 3);
	assert_int_equal(pty_queue_take(p.master, p.slave, &data), 0);
	assert_int_equal(data.to_slave_len, sizeof(cooked_queue) - 1);
	assert_memory_equal(data.to_slave, cooked_queue, data.to_slave_len);
	assert_int_equal(data.to_master_len, 3);
	assert_memory_equal(data.to_master, "x\r\n", 3);
	/* A new pair, as at restore; then the same one, as after a dump. */
	assert_int_equal(pair_open(&q), 0);
	assert_int_equal(pty_queue_put(q.master, q.slave, &t, &data), 0);
	check_cooked(&q);
	pair_close(&q);
	assert_int_equal(pty_queue_put(p.master, p.slave, &t, &data), 0);
	check_cooked(&p);
	pty_queue_fini(&data);
	pair_close(&p);
}

static void test_raw(void **state)
{
	char in[256], out[256];
	struct pty_queue data;
	struct termios t;
	struct pair p, q;

	(void)state;
	if (pair_open(&p) < 0)
		skip();
	for (int i = 0; i < 256; i++) {
		in[i] = (char)i;
		out[i] = (char)(255 - i);
	}
	assert_int_equal(tcgetattr(p.slave, &t), 0);
	cfmakeraw(&t);
	assert_int_equal(tcsetattr(p.slave, TCSANOW, &t), 0);
	write_str(p.master, in, sizeof(in));
	write_str(p.slave, out, sizeof(out));
	wait_queued(p.slave, 256);
	wait_queued(p.master, 256);
	assert_int_equal(pty_queue_take(p.master, p.slave, &data), 0);
	assert_int_equal(pair_open(&q), 0);
	assert_int_equal(pty_queue_put(q.master, q.slave, &t, &data), 0);
	expect_read(q.slave, in, sizeof(in));
	expect_read(q.master, out, sizeof(out));
	expect_empty(q.slave);
	expect_empty(q.master);
	pair_close(&q);
	pty_queue_fini(&data);
	pair_close(&p);
}

/* Nothing queued: nothing taken, the termios put back as given. */
static void test_empty(void **state)
{
	struct pty_queue data;
	struct termios t, now;
	struct pair p;

	(void)state;
	if (pair_open(&p) < 0)
		skip();
	cooked(p.slave, &t);
	assert_int_equal(pty_queue_take(p.master, p.slave, &data), 0);
	assert_int_equal(data.to_slave_len + data.to_master_len, 0);
	assert_int_equal(pty_queue_put(p.master, p.slave, &t, &data), 0);
	assert_int_equal(tcgetattr(p.slave, &now), 0);
	assert_int_equal(now.c_lflag, t.c_lflag);
	assert_int_equal(now.c_iflag, t.c_iflag);
	assert_memory_equal(now.c_cc, t.c_cc, NCCS);
	pty_queue_fini(&data);
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cooked),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
