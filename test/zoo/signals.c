/*
 * signals: signal dispositions, the blocked mask and pending signals.
 *
 * One SA_SIGINFO|SA_RESTART handler with sa_mask {SIGWINCH} for every signal
 * used. Blocked and left pending while the program waits to be checkpointed:
 *	SIGUSR1       raise(): thread-directed, SI_TKILL
 *	SIGUSR2       sigqueue(value 0x5eed): process-directed, SI_QUEUE
 *	SIGRTMIN+2    sigqueue() twice (values 101, 102): both queued, in order
 *	SIGRTMIN+3    rt_tgsigqueueinfo(value 0x7777): thread-directed, SI_QUEUE
 * After the check file appears it unblocks them: each handler must run exactly
 * once per signal sent, with the right si_code and si_value, under sa_mask.
 */
#include <signal.h>
#include <sys/syscall.h>

#include "zoo.h"

#define MAX_SEEN 8

struct seen {
	int signo;
	int code;
	int value;
	pid_t pid;
	bool winch_blocked;
};

static volatile sig_atomic_t nr_seen;
static struct seen seen[MAX_SEEN];

static void handler(int signo, siginfo_t *si, void *uc)
{
	sigset_t cur;
	int n = nr_seen;

	if (n >= MAX_SEEN)
		return;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	seen[n].signo = signo;
	seen[n].code = si->si_code;
	seen[n].value = si->si_value.sival_int;
	seen[n].pid = si->si_pid;
	seen[n].winch_blocked = sigismember(&cur, SIGWINCH);
	nr_seen = n + 1;
}

static int test_signals(int i)
{
	int sigs[] = { SIGUSR1, SIGUSR2, SIGRTMIN + 2, SIGRTMIN + 3 };

	return sigs[i];
}

static int setup(void)
{
	struct sigaction sa = { .sa_sigaction = handler, .sa_flags = SA_SIGINFO | SA_RESTART };
	siginfo_t si = { .si_signo = SIGRTMIN + 3,
			 .si_code = SI_QUEUE,
			 .si_pid = getpid(),
			 .si_uid = getuid() };
	sigset_t block;
	int i;

	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGWINCH);
	sigemptyset(&block);
	for (i = 0; i < 4; i++) {
		if (sigaction(test_signals(i), &sa, NULL))
			return -1;
		sigaddset(&block, test_signals(i));
	}
	if (sigprocmask(SIG_BLOCK, &block, NULL))
		return -1;
	si.si_value.sival_int = 0x7777;
	if (raise(SIGUSR1) || sigqueue(getpid(), SIGUSR2, (union sigval){ .sival_int = 0x5eed }) ||
	    sigqueue(getpid(), SIGRTMIN + 2, (union sigval){ .sival_int = 101 }) ||
	    sigqueue(getpid(), SIGRTMIN + 2, (union sigval){ .sival_int = 102 }) ||
	    syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid), SIGRTMIN + 3, &si))
		return -1;
	return 0;
}

/* Still blocked, still pending, dispositions unchanged. */
static void check_waiting(void)
{
	struct sigaction sa;
	sigset_t mask, pending;
	int i;

	sigprocmask(SIG_BLOCK, NULL, &mask);
	sigpending(&pending);
	if (nr_seen)
		zoo_fail("a handler ran while its signal was blocked");
	for (i = 0; i < 4; i++) {
		int sig = test_signals(i);

		if (!sigismember(&mask, sig))
			zoo_fail("signal %d no longer blocked", sig);
		if (!sigismember(&pending, sig))
			zoo_fail("signal %d no longer pending", sig);
		if (sigaction(sig, NULL, &sa) || sa.sa_sigaction != handler ||
		    (sa.sa_flags & (SA_SIGINFO | SA_RESTART)) != (SA_SIGINFO | SA_RESTART) ||
		    !sigismember(&sa.sa_mask, SIGWINCH) || sigismember(&sa.sa_mask, SIGTERM))
			zoo_fail("signal %d: sigaction changed (flags %#x)", sig, sa.sa_flags);
	}
}

/*
 * Finds the handler run of signo with that code and value, once. Order is
 * not checked: signals unblocked together nest their handler frames, so the
 * last one dequeued runs first.
 */
static void expect(int signo, int code, int value)
{
	static bool used[MAX_SEEN];
	int n;

	for (n = 0; n < nr_seen; n++) {
		if (used[n] || seen[n].signo != signo || seen[n].code != code ||
		    (code == SI_QUEUE && seen[n].value != value))
			continue;
		used[n] = true;
		if (seen[n].pid != getpid())
			zoo_fail("signal %d from pid %d, expected %d", signo, seen[n].pid,
				 getpid());
		if (!seen[n].winch_blocked)
			zoo_fail("sa_mask not applied in the handler of signal %d", signo);
		return;
	}
	zoo_fail("no handler run for signal %d code %d value %#x (%d runs)", signo, code, value,
		 (int)nr_seen);
}

int main(int argc, char **argv)
{
	sigset_t all;
	int i;

	zoo_init(argc, argv, "signals");
	if (setup()) {
		printf("FAIL signals: setup: %s\n", strerror(errno));
		return 1;
	}
	zoo_ready();
	while (!zoo_check_requested()) {
		check_waiting();
		zoo_sleep_ms(10);
	}
	check_waiting();
	sigemptyset(&all);
	for (i = 0; i < 4; i++)
		sigaddset(&all, test_signals(i));
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	if (nr_seen != 5)
		zoo_fail("%d handler runs after unblocking, expected 5", (int)nr_seen);
	expect(SIGUSR1, SI_TKILL, 0);
	expect(SIGUSR2, SI_QUEUE, 0x5eed);
	expect(SIGRTMIN + 2, SI_QUEUE, 101);
	expect(SIGRTMIN + 2, SI_QUEUE, 102);
	expect(SIGRTMIN + 3, SI_QUEUE, 0x7777);
	return zoo_finish();
}
