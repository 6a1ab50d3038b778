/*
 * pidhold: not a zoo program but a helper of the integration tests. Runs a
 * command with a chosen PID, to hold a PID that a restore will want:
 *	pidhold PID COMMAND [ARGS...]
 * clone3() with set_tid creates the child with that PID (EEXIST if taken);
 * the child execs COMMAND; pidhold waits and exits with its status (or 125
 * when the PID could not be had).
 */
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "zoo.h"

int main(int argc, char **argv)
{
	pid_t want, child;
	struct clone_args args = { .exit_signal = SIGCHLD, .set_tid_size = 1 };
	int status;

	if (argc < 3) {
		fprintf(stderr, "usage: pidhold PID COMMAND [ARGS...]\n");
		return 125;
	}
	want = (pid_t)atoi(argv[1]);
	args.set_tid = (uint64_t)(uintptr_t)&want;
	child = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (child < 0) {
		fprintf(stderr, "pidhold: clone3 with pid %d: %s\n", (int)want, strerror(errno));
		return 125;
	}
	if (child == 0) {
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	if (waitpid(child, &status, 0) < 0)
		return 125;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
