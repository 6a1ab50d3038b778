/*
 * tree: a process tree with the shapes a tree dump must keep.
 *
 *	parent ─┬─ a (same group) ── grandchild g
 *	        ├─ b (its own process group)
 *	        └─ c (stopped by SIGSTOP)
 *
 * Every member checks its own pid, ppid, pgid and sid when the check file
 * appears (c is first seen still stopped by the parent, then continued); a
 * member that finds a fault exits with a code naming it, and the parent
 * checks with waitpid that a, b and c are still its children and exited 0.
 * No pipe links the members: they only share the check file.
 */
#include <signal.h>
#include <sys/wait.h>

#include "zoo.h"

enum tree_fault {
	TREE_OK,
	TREE_BAD_PPID = 10,
	TREE_BAD_PGID,
	TREE_BAD_SID,
	TREE_BAD_PID,
	TREE_BAD_CHILD,
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

	tree_wait_check();
	_exit(tree_verify(&want));
}

static __attribute__((noreturn)) void tree_child_a(void)
{
	struct tree_ids want = tree_now();
	int status, r;
	pid_t g = fork();

	if (g < 0)
		_exit(TREE_BAD_CHILD);
	if (g == 0)
		tree_grandchild();
	tree_wait_check();
	r = tree_verify(&want);
	if (waitpid(g, &status, 0) != g || !WIFEXITED(status))
		_exit(TREE_BAD_CHILD);
	/* The grandchild's fault, if any, is the more precise one. */
	_exit(WEXITSTATUS(status) ? WEXITSTATUS(status) : r);
}

static __attribute__((noreturn)) void tree_child_b(void)
{
	struct tree_ids want;

	setpgid(0, 0); /* the parent does it too: whoever runs first */
	want = tree_now();
	want.pgid = want.pid;
	tree_wait_check();
	_exit(tree_verify(&want));
}

static __attribute__((noreturn)) void tree_child_c(void)
{
	struct tree_ids want = tree_now();

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
			 "13 pid, 14 its child)", who, pid, WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
	struct tree_ids want;
	pid_t a, b, c;
	int status;

	zoo_init(argc, argv, "tree");
	want = tree_now();
	a = tree_spawn(tree_child_a);
	b = tree_spawn(tree_child_b);
	setpgid(b, b);
	c = tree_spawn(tree_child_c);
	if (waitpid(c, &status, WUNTRACED) != c || !WIFSTOPPED(status)) {
		fprintf(stderr, "tree: child c did not stop\n");
		return 2;
	}
	while (!tree_has_children(a) || getpgid(b) != b)
		zoo_sleep_ms(5);
	printf("children %d %d %d\n", a, b, c);
	zoo_ready();
	tree_wait_check();
	if (tree_verify(&want))
		zoo_fail("parent: pid/ppid/pgid/sid changed (code %d)", tree_verify(&want));
	if (tree_state(c) != 'T')
		zoo_fail("child c (pid %d) is not stopped any more (state %c)", c, tree_state(c));
	kill(c, SIGCONT);
	tree_reap("a", a);
	tree_reap("b", b);
	tree_reap("c", c);
	return zoo_finish();
}
