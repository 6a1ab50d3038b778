/*
 * pty: two pseudo-terminal pairs the process opened itself, with data queued both ways.
 *
 *	pair A, canonical (ECHO off, VEOL ';', ONLCR), window 37x123 (11x22 pixels), the
 *	controlling terminal of the process (setsid + TIOCSCTTY):
 *	  fd 20 master, fd 24 a dup of it
 *	  fd 21 slave O_RDWR, fd 23 a dup of it (one description), fd 22 another description
 *	  of the slave, O_RDWR|O_NONBLOCK
 *	  queued for the slave: "line one\n", "cr\r" (received as "cr\n": ICRNL), "semi;"
 *	  (VEOL ends a line) and the partial line "partial"
 *	  queued for the master: "out1\nout2\n" written by the slave, received as "\r\n"
 *	pair B, raw (cfmakeraw), packet mode, locked, exclusive, window 5x300:
 *	  fd 30 master O_NONBLOCK, fd 31 slave O_RDWR|O_NONBLOCK
 *	  queued both ways: bytes a cooked terminal would act on (^C, DEL, 0xff, \r, \n)
 *
 * After the check file appears: termios, window sizes, modes and flags are as set; the
 * master of each pair and its slave are one pair (TIOCGPTN against the slave's device); the
 * slave of pair A reads its queued lines one by one, exactly, then nothing (the partial line
 * is still being edited), and gets the rest of it from the master; each master reads what its
 * slave wrote, exactly once; the pair works both ways after that; /dev/tty is pair A's slave.
 *
 * With "master-only" as second argument: one master whose slave is closed (refused by dump).
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>

#include "zoo.h"

#define A_MASTER 20
#define A_SLAVE 21
#define A_SLAVE2 22
#define A_SLAVE_DUP 23
#define A_MASTER_DUP 24
#define B_MASTER 30
#define B_SLAVE 31

static const char a_input[] = "line one\ncr\rsemi;partial";
static const char a_output[] = "out1\nout2\n";
static const char a_output_seen[] = "out1\r\nout2\r\n";
static const uint8_t b_input[] = { 'r', 'a', 'w', 0x03, 0x7f, 0xff, '\r', '\n', 0x1a, 0 };
static const uint8_t b_output[] = { 'o', 'u', 't', '\n', 0xff, 0x04, '\r', 0 };

static struct termios a_termios, b_termios;

static void must(bool ok, const char *what)
{
	if (!ok) {
		printf("FAIL pty: setup: %s: %s\n", what, strerror(errno));
		exit(1);
	}
}

static void move_fd(int fd, int to)
{
	must(dup2(fd, to) == to, "dup2");
	close(fd);
}

/* A new pair: master at fd m (flags mflags), slave at fd s (O_RDWR | sflags). */
static void open_pair(int m, int mflags, int s, int sflags)
{
	int unlock = 0, fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | mflags);

	must(fd >= 0, "open /dev/ptmx");
	must(ioctl(fd, TIOCSPTLCK, &unlock) == 0, "TIOCSPTLCK");
	move_fd(fd, m);
	fd = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | sflags);
	must(fd >= 0, "TIOCGPTPEER");
	move_fd(fd, s);
}

static void write_all(int fd, const void *buf, size_t len)
{
	must(write(fd, buf, len) == (ssize_t)len, "write");
}

/* Waits until FIONREAD of fd says n (the tty delivers writes asynchronously). */
static void wait_queued(int fd, int n)
{
	int queued = -1;

	for (int i = 0; i < 200 && queued != n; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		(void)poll(&pfd, 1, 10);
		must(ioctl(fd, FIONREAD, &queued) == 0, "FIONREAD");
	}
	must(queued == n, "queued data never arrived");
}

static void setup_a(void)
{
	struct winsize ws = { .ws_row = 37, .ws_col = 123, .ws_xpixel = 11, .ws_ypixel = 22 };
	int fd;

	open_pair(A_MASTER, 0, A_SLAVE, 0);
	if (getsid(0) != getpid()) /* the tests start us as a session leader already */
		must(setsid() > 0, "setsid");
	must(ioctl(A_SLAVE, TIOCSCTTY, 0) == 0, "TIOCSCTTY");
	must(tcgetattr(A_SLAVE, &a_termios) == 0, "tcgetattr");
	a_termios.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE);
	a_termios.c_lflag |= ICANON | ISIG;
	a_termios.c_iflag |= ICRNL;
	a_termios.c_oflag |= OPOST | ONLCR;
	a_termios.c_cc[VEOL] = ';';
	must(tcsetattr(A_SLAVE, TCSANOW, &a_termios) == 0, "tcsetattr A");
	must(tcgetattr(A_SLAVE, &a_termios) == 0, "tcgetattr A");
	must(ioctl(A_MASTER, TIOCSWINSZ, &ws) == 0, "TIOCSWINSZ A");
	fd = ioctl(A_MASTER, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK);
	must(fd >= 0, "TIOCGPTPEER A2");
	move_fd(fd, A_SLAVE2);
	must(dup2(A_SLAVE, A_SLAVE_DUP) == A_SLAVE_DUP, "dup2 A slave");
	must(dup2(A_MASTER, A_MASTER_DUP) == A_MASTER_DUP, "dup2 A master");
	write_all(A_MASTER, a_input, strlen(a_input));
	write_all(A_SLAVE, a_output, strlen(a_output));
	wait_queued(A_SLAVE, (int)strlen("line one\ncr\nsemi;"));
	wait_queued(A_MASTER, (int)strlen(a_output_seen));
}

static void setup_b(void)
{
	struct winsize ws = { .ws_row = 5, .ws_col = 300 };
	int on = 1;

	open_pair(B_MASTER, O_NONBLOCK, B_SLAVE, O_NONBLOCK);
	must(tcgetattr(B_SLAVE, &b_termios) == 0, "tcgetattr B");
	cfmakeraw(&b_termios);
	b_termios.c_cc[VMIN] = 1;
	b_termios.c_cc[VTIME] = 0;
	must(tcsetattr(B_SLAVE, TCSANOW, &b_termios) == 0, "tcsetattr B");
	must(tcgetattr(B_SLAVE, &b_termios) == 0, "tcgetattr B");
	must(ioctl(B_SLAVE, TIOCSWINSZ, &ws) == 0, "TIOCSWINSZ B");
	/* After the termios: a change of IXON in packet mode would queue a status byte. */
	must(ioctl(B_MASTER, TIOCPKT, &on) == 0, "TIOCPKT");
	must(ioctl(B_SLAVE, TIOCEXCL) == 0, "TIOCEXCL");
	must(ioctl(B_MASTER, TIOCSPTLCK, &on) == 0, "TIOCSPTLCK");
	write_all(B_MASTER, b_input, sizeof(b_input));
	write_all(B_SLAVE, b_output, sizeof(b_output));
	wait_queued(B_SLAVE, (int)sizeof(b_input));
	wait_queued(B_MASTER, (int)sizeof(b_output));
}

static void check_termios(int fd, const struct termios *want, const char *pair)
{
	struct termios t;

	if (tcgetattr(fd, &t) < 0) {
		zoo_fail("pair %s: tcgetattr: %s", pair, strerror(errno));
		return;
	}
	if (t.c_iflag != want->c_iflag || t.c_oflag != want->c_oflag ||
	    t.c_cflag != want->c_cflag || t.c_lflag != want->c_lflag ||
	    memcmp(t.c_cc, want->c_cc, NCCS) != 0 || cfgetospeed(&t) != cfgetospeed(want))
		zoo_fail("pair %s: termios changed (lflag %#x, was %#x; iflag %#x, was %#x)", pair,
			 t.c_lflag, want->c_lflag, t.c_iflag, want->c_iflag);
}

static void check_winsize(int fd, unsigned int rows, unsigned int cols, unsigned int xp,
			  unsigned int yp, const char *pair)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_row != rows || ws.ws_col != cols ||
	    ws.ws_xpixel != xp || ws.ws_ypixel != yp)
		zoo_fail("pair %s: window size %ux%u (%ux%u), expected %ux%u (%ux%u)", pair,
			 ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel, rows, cols, xp, yp);
}

/* The master's pts number is its slave's device. */
static void check_paired(int m, int s, const char *pair)
{
	unsigned int n = ~0u;
	struct stat st;

	if (ioctl(m, TIOCGPTN, &n) < 0 || fstat(s, &st) < 0 ||
	    (major(st.st_rdev) - 136u) * 256 + minor(st.st_rdev) != n)
		zoo_fail("pair %s: the master (pts %u) and the slave are not one pair", pair, n);
}

static void check_flag(int fd, int flag, bool want, const char *what)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || !!(fl & flag) != want)
		zoo_fail("fd %d: %s is %s, expected %s", fd, what, fl & flag ? "set" : "clear",
			 want ? "set" : "clear");
}

/* One read of fd returns exactly want (len bytes). */
static void expect_read(int fd, const void *want, size_t len, const char *what)
{
	uint8_t buf[256];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, 2000) != 1) {
		zoo_fail("%s: nothing to read on fd %d", what, fd);
		return;
	}
	n = read(fd, buf, sizeof(buf));
	if (n != (ssize_t)len || memcmp(buf, want, len) != 0)
		zoo_fail("%s: read %zd bytes on fd %d, expected %zu", what, n, fd, len);
}

/* Nothing more to read on fd right now (the data came back once, not twice). */
static void expect_empty(int fd, const char *what)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, 100) != 0)
		zoo_fail("%s: fd %d has more to read than was queued", what, fd);
}

static void check_a(void)
{
	int tty;

	check_termios(A_SLAVE, &a_termios, "A");
	check_winsize(A_MASTER, 37, 123, 11, 22, "A");
	check_paired(A_MASTER, A_SLAVE, "A");
	check_paired(A_MASTER_DUP, A_SLAVE2, "A");
	check_flag(A_SLAVE, O_NONBLOCK, false, "O_NONBLOCK");
	check_flag(A_SLAVE2, O_NONBLOCK, true, "O_NONBLOCK");
	/* fd 23 shares fd 21's description, fd 22 has its own. */
	must(fcntl(A_SLAVE_DUP, F_SETFL, O_NONBLOCK) == 0, "F_SETFL");
	check_flag(A_SLAVE, O_NONBLOCK, true, "O_NONBLOCK after setting it on its dup");
	must(fcntl(A_SLAVE_DUP, F_SETFL, 0) == 0, "F_SETFL");
	check_flag(A_SLAVE2, O_NONBLOCK, true, "O_NONBLOCK of another description");
	/* /dev/tty reaches the controlling terminal: pair A's is the only 37x123 window. */
	tty = open("/dev/tty", O_RDWR | O_NOCTTY);
	if (tty < 0 || tcgetsid(A_SLAVE) != getpid())
		zoo_fail("pair A's slave is no longer the controlling terminal: %s",
			 strerror(errno));
	if (tty >= 0) {
		check_winsize(tty, 37, 123, 11, 22, "A (/dev/tty)");
		close(tty);
	}
	expect_read(A_SLAVE2, "line one\n", 9, "A slave, line 1");
	expect_read(A_SLAVE2, "cr\n", 3, "A slave, line 2");
	expect_read(A_SLAVE2, "semi;", 5, "A slave, line 3 (VEOL)");
	expect_empty(A_SLAVE2, "A slave, partial line");
	write_all(A_MASTER_DUP, " end\n", 5);
	expect_read(A_SLAVE2, "partial end\n", 12, "A slave, the partial line ended");
	expect_read(A_MASTER, a_output_seen, strlen(a_output_seen), "A master");
	expect_empty(A_MASTER, "A master");
	write_all(A_SLAVE_DUP, "again\n", 6);
	expect_read(A_MASTER_DUP, "again\r\n", 7, "A master, new output");
}

static void check_b(void)
{
	uint8_t pkt[sizeof(b_output) + 1] = { 0 };
	int v = 0;

	check_termios(B_SLAVE, &b_termios, "B");
	check_winsize(B_SLAVE, 5, 300, 0, 0, "B");
	check_paired(B_MASTER, B_SLAVE, "B");
	check_flag(B_MASTER, O_NONBLOCK, true, "O_NONBLOCK");
	check_flag(B_SLAVE, O_NONBLOCK, true, "O_NONBLOCK");
	if (ioctl(B_MASTER, TIOCGPKT, &v) < 0 || !v)
		zoo_fail("pair B: packet mode lost");
	if (ioctl(B_MASTER, TIOCGPTLCK, &v) < 0 || !v)
		zoo_fail("pair B: lock lost");
	if (ioctl(B_SLAVE, TIOCGEXCL, &v) < 0 || !v)
		zoo_fail("pair B: exclusive mode lost");
	expect_read(B_SLAVE, b_input, sizeof(b_input), "B slave");
	expect_empty(B_SLAVE, "B slave");
	memcpy(pkt + 1, b_output, sizeof(b_output)); /* packet mode: TIOCPKT_DATA first */
	expect_read(B_MASTER, pkt, sizeof(pkt), "B master");
	expect_empty(B_MASTER, "B master");
	write_all(B_MASTER, "\x03x", 2);
	expect_read(B_SLAVE, "\x03x", 2, "B slave, new input");
	write_all(B_SLAVE, "y\n", 2);
	expect_read(B_MASTER, "\0y\n", 3, "B master, new output");
}

/* "master-only": a pair whose slave is closed, which a dump refuses by name; the master must
 * be left as it was (its slave still closed: a read fails with EIO). */
static int master_only(void)
{
	char c;

	open_pair(A_MASTER, O_NONBLOCK, A_SLAVE, 0);
	close(A_SLAVE);
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	if (read(A_MASTER, &c, 1) != -1 || errno != EIO)
		zoo_fail("the master of a closed slave reads something else than EIO: %s",
			 strerror(errno));
	return zoo_finish();
}

int main(int argc, char **argv)
{
	zoo_init(argc, argv, "pty");
	if (argc > 2 && strcmp(argv[2], "master-only") == 0)
		return master_only();
	setup_a();
	setup_b();
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	check_a();
	check_b();
	return zoo_finish();
}
