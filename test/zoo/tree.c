/*
 * tree: a process tree with the shapes a tree dump must keep.
 *
 *	parent ─┬─ a (same group) ── grandchild g
 *	        ├─ b (its own process group)
 *	        ├─ c (stopped by SIGSTOP)
 *	        ├─ z (a zombie: exited 42, not reaped)
 *	        └─ y (a zombie: killed by SIGTERM, not reaped)
 *
 *	a ──pipe──> b: a wrote TREE_PIPE_LEN bytes before the dump, b reads them only after
 *	the restore (a closes its end then, so b reads up to EOF: every byte exactly once).
 *	Every member holds the data file opened once by the parent before forking: one open
 *	file description, so one offset; the parent moves it to 2 after the forks.
 *
 * Every member checks its own pid, ppid, pgid and sid when the check file
 * appears (c is first seen still stopped by the parent, then continued), and
 * that the shared offset is 2; b then reads the pipe and one more byte of the
 * data file. A member that finds a fault exits with a code naming it; the
 * parent checks with waitpid that a, b and c are still its children and exited
 * 0, that z exited 42, that y was killed by SIGTERM, and that b's read moved its
 * own offset to 3 ('c' next).
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include "zoo.h"

#define TREE_PIPE_LEN 3000
#define TREE_ZOMBIE_CODE 42

static int tree_file = -1;   /* the shared description of the data file */
static int tree_pipe[2];     /* a writes, b reads */

static uint8_t tree_pipe_byte(size_t i)
{
	return (uint8_t)(zoo_mix(i) & 0xff);
}

enum tree_fault {
	TREE_OK,
	TREE_BAD_PPID = 10,
	TREE_BAD_PGID,
	TREE_BAD_SID,
	TREE_BAD_PID,
	TREE_BAD_CHILD,
	TREE_BAD_PIPE,
	TREE_BAD_OFFSET,
};

struct tree_ids {
	pid_t pid, ppid, pgid, sid;
};

static struct tree_ids tree_now(void)
{
	struct tree_ids t = { getpid(), getppid(), getpgid(0), getsid(0) };

	return t;
}

/* The exit status of a member whose ids were "want" when it started. */
static int tree_verify(const struct tree_ids *want)
{
	struct tree_ids now = tree_now();

	if (now.pid != want->pid)
		return TREE_BAD_PID;
	if (now.ppid != want->ppid)
		return TREE_BAD_PPID;
	if (now.pgid != want->pgid)
		return TREE_BAD_PGID;
	if (now.sid != want->sid)
		return TREE_BAD_SID;
	if (lseek(tree_file, 0, SEEK_CUR) != 2)
		return TREE_BAD_OFFSET;
	return TREE_OK;
}

static void tree_wait_check(void)
{
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
}

static __attribute__((noreturn)) void tree_grandchild(void)
{
	struct tree_ids want = tree_now();

	close(tree_pipe[1]); /* a's end: b must see EOF once a closes it */
	tree_wait_check();
	_exit(tree_verify(&want));
}

static __attribute__((noreturn)) void tree_child_a(void)
{
	struct tree_ids want = tree_now();
	uint8_t data[TREE_PIPE_LEN];
	int status, r;
	pid_t g;

	close(tree_pipe[0]);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = tree_pipe_byte(i);
	if (write(tree_pipe[1], data, sizeof(data)) != (ssize_t)sizeof(data))
		_exit(TREE_BAD_PIPE);
	g = fork();
	if (g < 0)
		_exit(TREE_BAD_CHILD);
	if (g == 0)
		tree_grandchild();
	tree_wait_check();
	close(tree_pipe[1]); /* b reads up to EOF */
	r = tree_verify(&want);
	if (waitpid(g, &status, 0) != g || !WIFEXITED(status))
		_exit(TREE_BAD_CHILD);
	/* The grandchild's fault, if any, is the more precise one. */
	_exit(WEXITSTATUS(status) ? WEXITSTATUS(status) : r);
}

/* The whole pipe, exactly once: TREE_PIPE_LEN bytes then EOF. */
static bool tree_read_pipe(void)
{
	uint8_t buf[TREE_PIPE_LEN + 16];
	size_t got = 0;
	ssize_t n;

	while ((n = read(tree_pipe[0], buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	if (n < 0 || got != TREE_PIPE_LEN)
		return false;
	for (size_t i = 0; i < got; i++)
		if (buf[i] != tree_pipe_byte(i))
			return false;
	return true;
}

static __attribute__((noreturn)) void tree_child_b(void)
{
	struct tree_ids want;
	char c;
	int r;

	sigset_t usr1;
	int sig;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	close(tree_pipe[1]);
	setpgid(0, 0); /* the parent does it too: whoever runs first */
	want = tree_now();
	want.pgid = want.pid;
	tree_wait_check();
	r = tree_verify(&want);
	if (r == TREE_OK && !tree_read_pipe())
		r = TREE_BAD_PIPE;
	/* Once every other member saw offset 2 (the parent says so with SIGUSR1), moves the
	 * offset they all share: the parent then reads on from there. */
	if (sigwait(&usr1, &sig) != 0)
		r = TREE_BAD_CHILD;
	if (r == TREE_OK && (read(tree_file, &c, 1) != 1 || c != 'c'))
		r = TREE_BAD_OFFSET;
	_exit(r);
}

static __attribute__((noreturn)) void tree_child_c(void)
{
	struct tree_ids want = tree_now();

	close(tree_pipe[0]);
	close(tree_pipe[1]);
	raise(SIGSTOP);
	tree_wait_check();
	_exit(tree_verify(&want));
}

static pid_t tree_spawn(void (*fn)(void))
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0)
		fn();
	return pid;
}

/* The state letter of /proc/PID/stat, '?' if unreadable. */
static char tree_state(pid_t pid)
{
	char path[64], line[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	p = fgets(line, sizeof(line), f);
	fclose(f);
	if (!p || !(p = strrchr(line, ')')) || !p[1] || !p[2])
		return '?';
	return p[2];
}

static bool tree_has_children(pid_t pid)
{
	char path[64], buf[64];
	FILE *f;
	bool yes;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	yes = fgets(buf, sizeof(buf), f) && buf[0] >= '0' && buf[0] <= '9';
	fclose(f);
	return yes;
}

static __attribute__((noreturn)) void tree_child_z(void)
{
	_exit(TREE_ZOMBIE_CODE);
}

static __attribute__((noreturn)) void tree_child_y(void)
{
	raise(SIGTERM);
	_exit(1); /* not reached: SIGTERM's default action ends it */
}

/* The zombie child who (pid z) ended with wait status want. */
static void tree_reap_zombie(const char *who, pid_t z, int want)
{
	int status;

	if (tree_state(z) != 'Z')
		zoo_fail("child %s (pid %d) is not a zombie (state %c)", who, z, tree_state(z));
	if (waitpid(z, &status, 0) != z)
		zoo_fail("zombie %s (pid %d) is no longer a child: waitpid: %s", who, z,
			 strerror(errno));
	else if (status != want)
		zoo_fail("zombie %s (pid %d): wait status %#x, expected %#x", who, z, status, want);
}

/* The data file, opened once: the description every member inherits. */
static void tree_open_file(const char *check)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s.data", check);
	tree_file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (tree_file < 0 || write(tree_file, "abcdefghijklmnopqrstuvwxyz", 26) != 26 ||
	    lseek(tree_file, 0, SEEK_SET) != 0) {
		perror("tree: data file");
		exit(2);
	}
}

/* a has written the whole pipe: seen from the parent's read end, closed then. */
static void tree_wait_pipe(void)
{
	int queued = 0;

	while (ioctl(tree_pipe[0], FIONREAD, &queued) == 0 && queued < TREE_PIPE_LEN)
		zoo_sleep_ms(5);
	close(tree_pipe[0]);
	close(tree_pipe[1]);
}

static void tree_reap(const char *who, pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		zoo_fail("child %s (pid %d) is no longer a child: waitpid: %s", who, pid,
			 strerror(errno));
	else if (!WIFEXITED(status))
		zoo_fail("child %s (pid %d) did not exit normally (status %#x)", who, pid, status);
	else if (WEXITSTATUS(status))
		zoo_fail("child %s (pid %d) found a fault: code %d (10 ppid, 11 pgid, 12 sid, "
			 "13 pid, 14 its child, 15 pipe data, 16 shared offset)", who, pid,
			 WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
	struct tree_ids want;
	pid_t a, b, c, z, y;
	int status;
	char ch;

	zoo_init(argc, argv, "tree");
	tree_open_file(argv[1]);
	if (pipe(tree_pipe) < 0) {
		perror("tree: pipe");
		return 2;
	}
	want = tree_now();
	a = tree_spawn(tree_child_a);
	b = tree_spawn(tree_child_b);
	setpgid(b, b);
	c = tree_spawn(tree_child_c);
	z = tree_spawn(tree_child_z);
	y = tree_spawn(tree_child_y);
	if (waitpid(c, &status, WUNTRACED) != c || !WIFSTOPPED(status)) {
		fprintf(stderr, "tree: child c did not stop\n");
		return 2;
	}
	tree_wait_pipe();
	while (!tree_has_children(a) || getpgid(b) != b || tree_state(z) != 'Z' ||
	       tree_state(y) != 'Z')
		zoo_sleep_ms(5);
	if (read(tree_file, &ch, 1) != 1 || read(tree_file, &ch, 1) != 1 || ch != 'b') {
		fprintf(stderr, "tree: cannot read the data file\n");
		return 2;
	}
	printf("children %d %d %d %d %d\n", a, b, c, z, y);
	zoo_ready();
	tree_wait_check();
	/* Our parent is outside the tree: a restore makes us the child of whoever runs it. */
	want.ppid = getppid();
	if (tree_verify(&want))
		zoo_fail("parent: pid/ppid/pgid/sid/offset changed (code %d)", tree_verify(&want));
	if (tree_state(c) != 'T')
		zoo_fail("child c (pid %d) is not stopped any more (state %c)", c, tree_state(c));
	kill(c, SIGCONT);
	tree_reap_zombie("z", z, TREE_ZOMBIE_CODE << 8);
	tree_reap_zombie("y", y, SIGTERM);
	tree_reap("a", a);
	tree_reap("c", c);
	kill(b, SIGUSR1);
	tree_reap("b", b);
	if (!zoo_failed() && (read(tree_file, &ch, 1) != 1 || ch != 'd'))
		zoo_fail("the data file's offset is not shared with child b any more (read '%c', "
			 "expected 'd')", ch);
	return zoo_finish();
}
