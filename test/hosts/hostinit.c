/*
 * hostinit: the PID 1 of a test "host" (a PID namespace of its own, see
 * test/integration/lib_hosts.sh).
 *
 *	ip netns exec NS unshare --pid --fork --mount-proc hostinit
 *
 * A PID namespace needs an init that outlives everything else in it: orphans
 * are reparented to PID 1, and when PID 1 exits the kernel kills the whole
 * namespace. The daemon under test must not be that init, or stopping it would
 * kill every process migrated in. hostinit only reaps what is handed to it and,
 * on SIGTERM or SIGINT, kills every other process of its namespace, reaps them
 * and exits 0. It logs each reaped process on stdout, which helps to read a
 * failed test ("pid 5 killed by signal 11").
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void log_status(pid_t pid, int status)
{
	if (WIFEXITED(status))
		printf("hostinit: pid %d exited with %d\n", (int)pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		printf("hostinit: pid %d killed by signal %d\n", (int)pid, WTERMSIG(status));
}

/* Reaps every child that has ended, without waiting for the others. */
static void reap_ended(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		log_status(pid, status);
}

/*
 * kill(-1) from PID 1 reaches every process of the namespace but itself.
 * Repeated until nothing is left: a process forking at that moment may add a
 * child after the first sweep.
 */
static void kill_namespace(void)
{
	int status;
	pid_t pid;

	(void)kill(-1, SIGKILL);
	for (;;) {
		pid = waitpid(-1, &status, 0);
		if (pid > 0) {
			log_status(pid, status);
			(void)kill(-1, SIGKILL);
		} else if (errno != EINTR) {
			break;
		}
	}
}

/* Only so that the kernel does not drop these signals as ignored by an init. */
static void noop_cb(int sig)
{
	(void)sig;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = noop_cb };
	sigset_t wanted;
	int sig;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getpid() != 1) {
		fprintf(stderr, "hostinit: must be PID 1 of a new PID namespace, is %d\n",
			(int)getpid());
		return 2;
	}
	sigemptyset(&wanted);
	sigaddset(&wanted, SIGCHLD);
	sigaddset(&wanted, SIGTERM);
	sigaddset(&wanted, SIGINT);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigprocmask(SIG_BLOCK, &wanted, NULL);
	printf("hostinit: ready\n");
	for (;;) {
		sig = sigwaitinfo(&wanted, NULL);
		if (sig == SIGCHLD) {
			reap_ended();
		} else if (sig == SIGTERM || sig == SIGINT) {
			printf("hostinit: signal %d, killing the namespace\n", sig);
			kill_namespace();
			return 0;
		} else if (sig < 0 && errno != EINTR) {
			fprintf(stderr, "hostinit: sigwaitinfo: %s\n", strerror(errno));
			kill_namespace();
			return 1;
		}
	}
}
