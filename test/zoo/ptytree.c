/*
 * ptytree: a pseudo-terminal pair split across a process tree, as `script` or a terminal
 * emulator makes one:
 *
 *	P (root, the zoo program): holds the master (fd 20), not the slave; window 37x101
 *	`- C: setsid, the slave as its controlling terminal at fds 0, 1, 2 (ECHO off, canonical)
 *	   `- G: in a process group of its own, the terminal's foreground group (tcsetpgrp by C);
 *	         counts SIGINT
 *
 * Queued at the dump: "hello-slave\n" from the master to the slave (nobody reads it yet) and
 * "hello-master\n" from the slave (G) to the master (P reads it only after the check).
 *
 * After the check file appears: P reads "hello-master\r\n" first and once; checks through
 * /proc that C and G have the pair's slave as controlling terminal (tty_nr against TIOCGPTN of
 * its master), that C leads its session and G's group is the foreground one (tcgetpgrp on the
 * master). G reads "hello-slave\n" (exactly, and nothing before it), checks its session, group,
 * foreground group, window size and that /dev/tty is its fd 0, and reports "G ok"; P sends
 * "ping", G answers "pong"; P sends ^C, which must reach G's group (and not C): G reports
 * "sigint 1" and exits; C, having checked its own ids and terminal, waits for G and reports
 * "C ok". P needs every report exactly once.
 *
 * With "leak-master" as second argument, C and G keep a copy of the master too: the subtree
 * of G then holds both ends of a pair that is the controlling terminal of C's session, led
 * from outside that subtree (refused by dump). The rest is unchanged.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

#include "zoo.h"

#define MASTER 20
#define ROWS 37
#define COLS 101

static volatile sig_atomic_t sigints;

static void on_sigint(int sig)
{
	(void)sig;
	sigints++;
}

static void must(bool ok, const char *what)
{
	if (!ok) {
		printf("FAIL ptytree: setup: %s: %s\n", what, strerror(errno));
		exit(1);
	}
}

/* A report line to the master, through the terminal (fd 1). */
__attribute__((format(printf, 1, 2))) static void report(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(1, line, (size_t)n) != n)
		exit(3);
}

/* Whether fd is our controlling terminal: TIOCGSID answers only there, with our session. */
static bool is_ctty(int fd)
{
	pid_t sid;

	return ioctl(fd, TIOCGSID, &sid) == 0 && sid == getsid(0);
}

/* One line from fd 0 (canonical mode: one read, one line), "" on error. */
static void read_line(char *buf, size_t size)
{
	ssize_t n;

	do
		n = read(0, buf, size - 1);
	while (n < 0 && errno == EINTR);
	buf[n > 0 ? n : 0] = 0;
}

static int grandchild(void)
{
	struct sigaction sa = { .sa_handler = on_sigint };
	struct winsize ws;
	char line[128];
	const char *bad = NULL;

	sigaction(SIGINT, &sa, NULL);
	must(setpgid(0, 0) == 0, "setpgid");
	while (tcgetpgrp(0) != getpgrp())
		zoo_sleep_ms(5); /* C makes us the foreground group */
	report("hello-master");
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	read_line(line, sizeof(line));
	if (strcmp(line, "hello-slave\n") != 0)
		bad = "the queued input is not \"hello-slave\\n\"";
	else if (getsid(0) != getppid())
		bad = "not in its parent's session";
	else if (getpgrp() != getpid() || tcgetpgrp(0) != getpid())
		bad = "not the foreground group of its own";
	else if (!is_ctty(0))
		bad = "fd 0 is not its controlling terminal";
	else if (ioctl(0, TIOCGWINSZ, &ws) < 0 || ws.ws_row != ROWS || ws.ws_col != COLS)
		bad = "window size lost";
	if (bad) {
		report("G FAIL %s (read '%s')", bad, line);
		return 1;
	}
	report("G ok");
	read_line(line, sizeof(line));
	if (strcmp(line, "ping\n") != 0) {
		report("G FAIL read '%s' instead of ping", line);
		return 1;
	}
	report("pong");
	for (int i = 0; i < 500 && !sigints; i++)
		zoo_sleep_ms(10);
	report("sigint %d", (int)sigints);
	return sigints == 1 ? 0 : 1;
}

static int child(const char *slave_path)
{
	struct sigaction sa = { .sa_handler = on_sigint };
	struct termios t;
	int slave, status = 0;
	pid_t g;

	sigaction(SIGINT, &sa, NULL);
	must(setsid() == getpid(), "setsid");
	slave = open(slave_path, O_RDWR); /* a session leader without terminal: ours now */
	must(slave >= 0, "open the slave");
	must(tcgetattr(slave, &t) == 0, "tcgetattr");
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	must(tcsetattr(slave, TCSANOW, &t) == 0, "tcsetattr");
	for (int fd = 0; fd < 3; fd++)
		must(dup2(slave, fd) == fd, "dup2");
	close(slave);
	g = fork();
	must(g >= 0, "fork");
	if (g == 0)
		exit(grandchild());
	while (getpgid(g) != g)
		zoo_sleep_ms(2);
	must(tcsetpgrp(0, g) == 0, "tcsetpgrp");
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	if (getsid(0) != getpid() || !is_ctty(0) || tcgetpgrp(0) != g) {
		report("C FAIL session %d, terminal %d, foreground %d (G %d)", (int)getsid(0),
		       is_ctty(0), (int)tcgetpgrp(0), (int)g);
		return 1;
	}
	while (waitpid(g, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || sigints != 0) {
		report("C FAIL G ended with status %#x, C had %d SIGINT", status, (int)sigints);
		return 1;
	}
	report("C ok");
	return 0;
}

/* Reads from the master until line (with "\r\n") has come, within 5 s; everything read goes to
 * the end of seen. */
static bool wait_line(char *seen, size_t size, const char *line)
{
	char want[128];
	uint64_t end = zoo_now_ms() + 5000;

	snprintf(want, sizeof(want), "%s\r\n", line);
	while (!strstr(seen, want) && zoo_now_ms() < end) {
		struct pollfd pfd = { .fd = MASTER, .events = POLLIN };
		size_t len = strlen(seen);
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(MASTER, seen + len, size - len - 1);
		if (n <= 0)
			break;
		seen[len + (size_t)n] = 0;
	}
	return strstr(seen, want) != NULL;
}

static int count_of(const char *seen, const char *line)
{
	char want[128];
	int n = 0;

	snprintf(want, sizeof(want), "%s\r\n", line);
	for (const char *p = strstr(seen, want); p; p = strstr(p + 1, want))
		n++;
	return n;
}

/* The controlling terminal of pid (tty_nr of /proc/PID/stat), as major:minor. */
static dev_t ctty_of(pid_t pid)
{
	char path[64], buf[512], *p;
	int tty_nr = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f) {
		zoo_fail("cannot open %s: %s", path, strerror(errno));
		return 0;
	}
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %d", &tty_nr) != 1) {
		zoo_fail("cannot parse %s", path);
		return 0;
	}
	return makedev(((unsigned int)tty_nr >> 8) & 0xfff,
		       ((unsigned int)tty_nr & 0xff) | (((unsigned int)tty_nr >> 12) & 0xfff00));
}

/* The ids and terminals of C and G, seen from the master's side. */
static void check_tree(pid_t c, pid_t g)
{
	unsigned int ptn;
	dev_t slave;

	if (ioctl(MASTER, TIOCGPTN, &ptn) < 0)
		return zoo_fail("TIOCGPTN: %s", strerror(errno));
	slave = makedev(136 + ptn / 256, ptn % 256);
	if (ctty_of(c) != slave || ctty_of(g) != slave)
		zoo_fail("the controlling terminals of C and G are %u:%u and %u:%u, not the "
			 "master's slave %u:%u", major(ctty_of(c)), minor(ctty_of(c)),
			 major(ctty_of(g)), minor(ctty_of(g)), major(slave), minor(slave));
	if (getsid(c) != c || getsid(g) != c || getpgid(g) != g)
		zoo_fail("ids: C session %d, G session %d group %d", (int)getsid(c),
			 (int)getsid(g), (int)getpgid(g));
	if (tcgetpgrp(MASTER) != g)
		zoo_fail("the foreground group is %d, not G's %d", (int)tcgetpgrp(MASTER), (int)g);
}

/* The exchange after the check: queued data first, then the reports. */
static void exchange(pid_t c, pid_t g)
{
	static char seen[4096];
	int status = 0;

	if (!wait_line(seen, sizeof(seen), "hello-master") ||
	    strncmp(seen, "hello-master\r\n", 14) != 0)
		return zoo_fail("the master did not read the queued \"hello-master\" first: '%s'",
				seen);
	check_tree(c, g);
	if (!wait_line(seen, sizeof(seen), "G ok"))
		return zoo_fail("no 'G ok' from the grandchild: '%s'", seen);
	if (write(MASTER, "ping\n", 5) != 5)
		return zoo_fail("write ping: %s", strerror(errno));
	if (!wait_line(seen, sizeof(seen), "pong"))
		return zoo_fail("no pong: '%s'", seen);
	if (write(MASTER, "\003", 1) != 1)
		return zoo_fail("write ^C: %s", strerror(errno));
	if (!wait_line(seen, sizeof(seen), "sigint 1") || !wait_line(seen, sizeof(seen), "C ok"))
		return zoo_fail("no 'sigint 1' or no 'C ok': '%s'", seen);
	while (waitpid(c, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		zoo_fail("C ended with status %#x", status);
	for (const char *const *l = (const char *const[]){ "hello-master", "G ok", "pong",
							    "sigint 1", "C ok", NULL };
	     *l; l++)
		if (count_of(seen, *l) != 1)
			zoo_fail("'%s' read %d times: '%s'", *l, count_of(seen, *l), seen);
}

int main(int argc, char **argv)
{
	struct winsize ws = { .ws_row = ROWS, .ws_col = COLS };
	struct pollfd pfd = { .fd = MASTER, .events = POLLIN };
	char slave_path[64];
	unsigned int ptn;
	pid_t c, g = 0;
	int m;

	zoo_init(argc, argv, "ptytree");
	m = posix_openpt(O_RDWR | O_NOCTTY);
	must(m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0, "posix_openpt");
	must(dup2(m, MASTER) == MASTER, "dup2 master");
	close(m);
	must(ioctl(MASTER, TIOCGPTN, &ptn) == 0, "TIOCGPTN");
	must(ioctl(MASTER, TIOCSWINSZ, &ws) == 0, "TIOCSWINSZ");
	snprintf(slave_path, sizeof(slave_path), "/dev/pts/%u", ptn);
	c = fork();
	must(c >= 0, "fork");
	if (c == 0) {
		if (argc < 3 || strcmp(argv[2], "leak-master") != 0)
			close(MASTER);
		exit(child(slave_path));
	}
	must(poll(&pfd, 1, 5000) == 1, "the grandchild's hello (poll)");
	while (!g) {
		char path[64];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)c, (int)c);
		f = fopen(path, "r");
		if (f && fscanf(f, "%d", &g) != 1)
			g = 0;
		if (f)
			fclose(f);
	}
	must(write(MASTER, "hello-slave\n", 12) == 12, "write hello-slave");
	printf("children %d %d\n", (int)c, (int)g);
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	exchange(c, g);
	return zoo_finish();
}
