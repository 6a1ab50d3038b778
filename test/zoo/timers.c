/*
 * timers: interval timers and a queued real-time signal.
 *
 *	alarm(600)          ITIMER_REAL one-shot: still armed after restore, with no more time
 *	                    left than it had, and no less than the wall time passed allows
 *	ITIMER_VIRTUAL      100 s one-shot reloading to 7 s: still armed, interval exact
 *	ITIMER_PROF         periodic 20 ms: interval exact, and it keeps firing (SIGPROF,
 *	                    SI_KERNEL) while the program burns CPU after the check
 *	SIGRTMIN+4          sigqueue(value 0x4242), blocked and pending: after the check it is
 *	                    unblocked and must arrive once, SI_QUEUE, with its value and sender
 *
 * With "foreign" as argv[2] it also creates a POSIX timer on the CPU clock of its parent, a
 * timer that cannot travel with it: migrate refuses such a process by name, which the tests
 * check. (POSIX timers on its own clocks travel: see the zoo program "posixtimers".)
 */
#include <signal.h>
#include <sys/time.h>

#include "zoo.h"

#define ALARM_S 600
#define VIRT_VALUE_US 100000000LL
#define VIRT_INTERVAL_US 7000000LL
#define PROF_US 20000LL
#define RT_VALUE 0x4242
/* CPU timers are kept in ticks: a value read back may exceed the one set by a few ms. */
#define SLACK_US 50000LL

static volatile sig_atomic_t prof_count, rt_count, rt_value, rt_code, rt_pid;

static void on_prof(int signo)
{
	(void)signo;
	prof_count++;
}

static void on_rt(int signo, siginfo_t *si, void *uc)
{
	(void)signo;
	(void)uc;
	rt_count++;
	rt_value = si->si_value.sival_int;
	rt_code = si->si_code;
	rt_pid = si->si_pid;
}

static long long tv_us(const struct timeval *tv)
{
	return (long long)tv->tv_sec * 1000000 + tv->tv_usec;
}

static int arm(long long value_us, long long interval_us, int which)
{
	struct itimerval v = {
		.it_value = { value_us / 1000000, value_us % 1000000 },
		.it_interval = { interval_us / 1000000, interval_us % 1000000 },
	};

	return setitimer(which, &v, NULL);
}

static int foreign_timer(void)
{
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 5 };
	struct itimerspec its = { .it_value = { 3600, 0 } };
	clockid_t parent_cpu;
	timer_t id;

	sev.sigev_value.sival_int = 0x7171;
	if (clock_getcpuclockid(getppid(), &parent_cpu) || timer_create(parent_cpu, &sev, &id))
		return -1;
	return timer_settime(id, 0, &its, NULL);
}

static int setup(bool foreign)
{
	struct sigaction prof = { .sa_handler = on_prof, .sa_flags = SA_RESTART };
	struct sigaction rt = { .sa_sigaction = on_rt, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigset_t block;

	sigemptyset(&prof.sa_mask);
	sigemptyset(&rt.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGRTMIN + 4);
	if (sigaction(SIGPROF, &prof, NULL) || sigaction(SIGRTMIN + 4, &rt, NULL) ||
	    sigprocmask(SIG_BLOCK, &block, NULL))
		return -1;
	if (sigqueue(getpid(), SIGRTMIN + 4, (union sigval){ .sival_int = RT_VALUE }))
		return -1;
	alarm(ALARM_S);
	if (arm(VIRT_VALUE_US, VIRT_INTERVAL_US, ITIMER_VIRTUAL) ||
	    arm(PROF_US, PROF_US, ITIMER_PROF))
		return -1;
	return foreign ? foreign_timer() : 0;
}

/* Interval timers still armed as set; elapsed_ms of wall time since alarm(). */
static void check_armed(uint64_t elapsed_ms)
{
	struct itimerval real, virt, prof;
	long long left;

	if (getitimer(ITIMER_REAL, &real) || getitimer(ITIMER_VIRTUAL, &virt) ||
	    getitimer(ITIMER_PROF, &prof)) {
		zoo_fail("getitimer: %s", strerror(errno));
		return;
	}
	left = tv_us(&real.it_value);
	/* Time frozen in the image does not count: left may be more than wall time says. */
	if (left <= 0 || left > ALARM_S * 1000000LL || tv_us(&real.it_interval))
		zoo_fail("alarm: %lld us left, interval %lld", left, tv_us(&real.it_interval));
	else if (elapsed_ms < ALARM_S * 1000ULL &&
		 left + 1000000LL < ALARM_S * 1000000LL - (long long)elapsed_ms * 1000)
		zoo_fail("alarm: %lld us left after %llu ms", left, (unsigned long long)elapsed_ms);
	if (tv_us(&virt.it_interval) != VIRT_INTERVAL_US || tv_us(&virt.it_value) <= 0 ||
	    tv_us(&virt.it_value) > VIRT_VALUE_US + SLACK_US)
		zoo_fail("ITIMER_VIRTUAL: value %lld interval %lld us", tv_us(&virt.it_value),
			 tv_us(&virt.it_interval));
	if (tv_us(&prof.it_interval) != PROF_US || tv_us(&prof.it_value) <= 0 ||
	    tv_us(&prof.it_value) > PROF_US + SLACK_US)
		zoo_fail("ITIMER_PROF: value %lld interval %lld us", tv_us(&prof.it_value),
			 tv_us(&prof.it_interval));
}

static void check_pending(void)
{
	sigset_t pending;

	sigpending(&pending);
	if (rt_count)
		zoo_fail("SIGRTMIN+4 delivered while blocked");
	if (!sigismember(&pending, SIGRTMIN + 4))
		zoo_fail("SIGRTMIN+4 no longer pending");
}

/* SIGPROF must keep coming while we use CPU: 3 more within 5 s of CPU time at most. */
static void check_prof_fires(void)
{
	sig_atomic_t start = prof_count;
	uint64_t deadline = zoo_now_ms() + 5000;
	volatile uint64_t spin = 0;

	while (prof_count - start < 3 && zoo_now_ms() < deadline)
		spin = zoo_mix(spin);
	if (prof_count - start < 3)
		zoo_fail("ITIMER_PROF: %d SIGPROF in 5 s of CPU", (int)(prof_count - start));
}

static void check_rt(pid_t pid)
{
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGRTMIN + 4);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	if (rt_count != 1)
		zoo_fail("SIGRTMIN+4 arrived %d times", (int)rt_count);
	else if (rt_code != SI_QUEUE || rt_value != RT_VALUE || rt_pid != pid)
		zoo_fail("SIGRTMIN+4: code %d value %#x pid %d, want %d %#x %d", (int)rt_code,
			 (int)rt_value, (int)rt_pid, SI_QUEUE, RT_VALUE, (int)pid);
}

int main(int argc, char **argv)
{
	bool foreign = argc > 2 && !strcmp(argv[2], "foreign");
	pid_t pid = getpid();
	uint64_t start;

	zoo_init(argc, argv, "timers");
	if (setup(foreign)) {
		printf("FAIL timers: setup: %s\n", strerror(errno));
		return 1;
	}
	start = zoo_now_ms();
	zoo_ready();
	while (!zoo_check_requested()) {
		check_pending();
		zoo_sleep_ms(10);
	}
	check_pending();
	check_armed(zoo_now_ms() - start);
	check_prof_fires();
	check_rt(pid);
	return zoo_finish();
}
