/*
 * posixtimers: POSIX timers (timer_create) keep their ids, clocks, notification, values and
 * times across a checkpoint.
 *
 *	id 2      disarmed (SIGEV_SIGNAL, SIGRTMIN+4): ids 0, 1 and 3 were deleted, so the
 *	          ids do not start at 0 and have a hole; it must stay disarmed
 *	"tick"    CLOCK_MONOTONIC, SIGEV_SIGNAL SIGRTMIN+1 with value 0xA11CE, every 20 ms:
 *	          keeps firing, each signal SI_TIMER with its value and timer id
 *	"thread"  CLOCK_MONOTONIC, SIGEV_THREAD_ID to a second thread, SIGRTMIN+2 with value
 *	          0x7EAD, every 25 ms: keeps firing, always in that thread
 *	"far"     CLOCK_REALTIME, SIGEV_SIGNAL SIGRTMIN+3, one-shot 600 s: no more time left
 *	          than it had, no less than the wall time passed allows
 *	"cpu"     CLOCK_PROCESS_CPUTIME_ID, SIGEV_NONE, 3600 s reloading to 7 s: interval
 *	          exact, time left plausible
 *	"pend"    CLOCK_MONOTONIC, SIGEV_SIGNAL SIGRTMIN+5 with value 0x9E4D, one-shot 1 ms,
 *	          its signal blocked: pending at the checkpoint, it must still be pending after
 *	          it, the timer disarmed, and once unblocked arrive once with its siginfo
 *
 * With "threadclock" as argv[2] it also makes a timer on CLOCK_THREAD_CPUTIME_ID, which
 * migrate refuses by name in a process of two threads (which thread it counts is not in /proc).
 *
 * After the check: /proc/self/timers lists exactly these ids, timer_gettime answers for
 * each, the periodic ones fired again since the check, and no signal ever had a wrong
 * value, code, timer id or thread.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#include "zoo.h"

#define TICK_NS 20000000L
#define THREAD_NS 25000000L
#define FAR_S 600
#define CPU_S 3600
#define CPU_INTERVAL_S 7
#define TICK_VALUE 0xA11CE
#define THREAD_VALUE 0x7EAD
#define PEND_VALUE 0x9E4D
#define NR_TIMERS 6

enum {
	T_IDLE,
	T_TICK,
	T_THREAD,
	T_FAR,
	T_CPU,
	T_PEND
};

static timer_t timers[NR_TIMERS];
static timer_t thread_clock_timer;
static bool with_thread_clock;
static volatile sig_atomic_t tick_count, thread_count, pend_count, bad_signal;
static volatile pid_t thread_tid;
static volatile int stop_thread;

static int timer_no(timer_t t)
{
	return (int)(intptr_t)t;
}

/* Records the first wrong detail of a timer signal (async-signal-safe: a code, not text). */
static void check_info(const siginfo_t *si, int value, int which, int code)
{
	if (bad_signal)
		return;
	if (si->si_code != SI_TIMER)
		bad_signal = code + 1;
	else if (si->si_value.sival_int != value)
		bad_signal = code + 2;
	else if (si->si_timerid != timer_no(timers[which]))
		bad_signal = code + 3;
}

static void on_tick(int signo, siginfo_t *si, void *uc)
{
	(void)signo;
	(void)uc;
	check_info(si, TICK_VALUE, T_TICK, 10);
	tick_count++;
}

static void on_thread(int signo, siginfo_t *si, void *uc)
{
	(void)signo;
	(void)uc;
	check_info(si, THREAD_VALUE, T_THREAD, 20);
	if (!bad_signal && (pid_t)syscall(SYS_gettid) != thread_tid)
		bad_signal = 24;
	thread_count++;
}

static void on_pend(int signo, siginfo_t *si, void *uc)
{
	(void)signo;
	(void)uc;
	check_info(si, PEND_VALUE, T_PEND, 40);
	pend_count++;
}

static void on_far(int signo)
{
	(void)signo;
	bad_signal = 30; /* 600 s never pass in a test */
}

static void *thread_main(void *arg)
{
	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	while (!stop_thread)
		zoo_sleep_ms(5);
	return NULL;
}

static int make(clockid_t clock, int notify, int signo, int value, timer_t *ret)
{
	struct sigevent sev = { .sigev_notify = notify, .sigev_signo = signo };

	sev.sigev_value.sival_int = value;
	if (notify == SIGEV_THREAD_ID)
		sev._sigev_un._tid = thread_tid;
	return timer_create(clock, &sev, ret);
}

static int arm(timer_t t, long value_s, long value_ns, long interval_s, long interval_ns)
{
	struct itimerspec its = { .it_value = { value_s, value_ns },
				  .it_interval = { interval_s, interval_ns } };

	return timer_settime(t, 0, &its, NULL);
}

static int handlers(void)
{
	struct sigaction tick = { .sa_sigaction = on_tick, .sa_flags = SA_SIGINFO | SA_RESTART };
	struct sigaction thr = { .sa_sigaction = on_thread, .sa_flags = SA_SIGINFO | SA_RESTART };
	struct sigaction far = { .sa_handler = on_far, .sa_flags = SA_RESTART };
	struct sigaction pend = { .sa_sigaction = on_pend, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigset_t block;

	sigemptyset(&tick.sa_mask);
	sigemptyset(&thr.sa_mask);
	sigemptyset(&far.sa_mask);
	sigemptyset(&pend.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGRTMIN + 5);
	return sigaction(SIGRTMIN + 1, &tick, NULL) || sigaction(SIGRTMIN + 2, &thr, NULL) ||
	       sigaction(SIGRTMIN + 3, &far, NULL) || sigaction(SIGRTMIN + 5, &pend, NULL) ||
	       pthread_sigmask(SIG_BLOCK, &block, NULL);
}

/* Ids 0..3, then 0, 1, 3 deleted: the kernel hands out 4, 5, ... next. */
static int make_holes(void)
{
	timer_t t[4];

	for (int i = 0; i < 4; i++)
		if (make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 4, 0xE, &t[i]))
			return -1;
	timers[T_IDLE] = t[2];
	return timer_delete(t[0]) || timer_delete(t[1]) || timer_delete(t[3]);
}

static int setup(void)
{
	pthread_t th;

	if (handlers() || pthread_create(&th, NULL, thread_main, NULL))
		return -1;
	while (!thread_tid)
		zoo_sleep_ms(1);
	if (make_holes() ||
	    make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 1, TICK_VALUE, &timers[T_TICK]) ||
	    make(CLOCK_MONOTONIC, SIGEV_THREAD_ID, SIGRTMIN + 2, THREAD_VALUE, &timers[T_THREAD]) ||
	    make(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN + 3, 0xFA5, &timers[T_FAR]) ||
	    make(CLOCK_PROCESS_CPUTIME_ID, SIGEV_NONE, 0, 0, &timers[T_CPU]) ||
	    make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 5, PEND_VALUE, &timers[T_PEND]))
		return -1;
	return arm(timers[T_TICK], 0, TICK_NS, 0, TICK_NS) ||
	       arm(timers[T_THREAD], 0, THREAD_NS, 0, THREAD_NS) ||
	       arm(timers[T_FAR], FAR_S, 0, 0, 0) ||
	       arm(timers[T_CPU], CPU_S, 0, CPU_INTERVAL_S, 0) ||
	       arm(timers[T_PEND], 0, 1000000, 0, 0);
}

static bool pend_pending(void)
{
	sigset_t set;

	return sigpending(&set) == 0 && sigismember(&set, SIGRTMIN + 5);
}

/* The blocked timer signal is still pending; unblocked, it arrives once (with its siginfo:
 * on_pend checks it). */
static void verify_pending(void)
{
	sigset_t block;

	if (!pend_pending())
		zoo_fail("the pending timer signal is no longer pending");
	sigemptyset(&block);
	sigaddset(&block, SIGRTMIN + 5);
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);
	if (pend_count != 1)
		zoo_fail("the pending timer signal arrived %d times once unblocked",
			 (int)pend_count);
}

static double ts_s(const struct timespec *ts)
{
	return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts_s(&ts);
}

/* The ids /proc/self/timers lists, as a bit set (all ours are below 64). */
static uint64_t listed_ids(void)
{
	FILE *f = fopen("/proc/self/timers", "r");
	char line[128];
	uint64_t set = 0;
	int id;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "ID: %d", &id) == 1)
			set |= id >= 0 && id < 64 ? 1ULL << id : 1ULL << 63;
	fclose(f);
	return set;
}

/* The next timer gets the id after the highest, as it would have without the checkpoint. */
static void verify_next_id(uint64_t ids)
{
	int highest = 63 - __builtin_clzll(ids);
	timer_t t;

	if (make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0, &t)) {
		zoo_fail("timer_create after the check: %s", strerror(errno));
		return;
	}
	if (timer_no(t) != highest + 1)
		zoo_fail("a new timer got id %d, expected %d", timer_no(t), highest + 1);
	timer_delete(t);
}

static void verify_ids(void)
{
	uint64_t want = 0, got = listed_ids();

	for (int i = 0; i < NR_TIMERS; i++)
		want |= 1ULL << timer_no(timers[i]);
	if (with_thread_clock)
		want |= 1ULL << timer_no(thread_clock_timer);
	if (timer_no(timers[T_IDLE]) != 2 || timer_no(timers[T_TICK]) != 4)
		zoo_fail("ids: idle %d, tick %d at setup, expected 2 and 4",
			 timer_no(timers[T_IDLE]), timer_no(timers[T_TICK]));
	if (got != want)
		zoo_fail("/proc/self/timers lists ids 0x%llx, expected 0x%llx",
			 (unsigned long long)got, (unsigned long long)want);
	verify_next_id(want);
}

static void verify_times(double wall_passed)
{
	struct itimerspec its[NR_TIMERS];

	for (int i = 0; i < NR_TIMERS; i++)
		if (timer_gettime(timers[i], &its[i])) {
			zoo_fail("timer_gettime(%d): %s", timer_no(timers[i]), strerror(errno));
			return;
		}
	if (its[T_IDLE].it_value.tv_sec || its[T_IDLE].it_value.tv_nsec)
		zoo_fail("the disarmed timer is armed: %.3f s left", ts_s(&its[T_IDLE].it_value));
	if (its[T_PEND].it_value.tv_sec || its[T_PEND].it_value.tv_nsec)
		zoo_fail("the expired one-shot timer is armed: %.3f s left",
			 ts_s(&its[T_PEND].it_value));
	if (its[T_TICK].it_interval.tv_sec || its[T_TICK].it_interval.tv_nsec != TICK_NS ||
	    its[T_THREAD].it_interval.tv_nsec != THREAD_NS)
		zoo_fail("periods are %.6f and %.6f s", ts_s(&its[T_TICK].it_interval),
			 ts_s(&its[T_THREAD].it_interval));
	if (ts_s(&its[T_FAR].it_value) > FAR_S ||
	    ts_s(&its[T_FAR].it_value) < FAR_S - wall_passed - 1 || its[T_FAR].it_interval.tv_sec ||
	    its[T_FAR].it_interval.tv_nsec)
		zoo_fail("far timer: %.3f s left after %.3f s, interval %.3f",
			 ts_s(&its[T_FAR].it_value), wall_passed, ts_s(&its[T_FAR].it_interval));
	if (its[T_CPU].it_interval.tv_sec != CPU_INTERVAL_S || its[T_CPU].it_interval.tv_nsec ||
	    ts_s(&its[T_CPU].it_value) > CPU_S || ts_s(&its[T_CPU].it_value) < CPU_S - cpu_s() - 1)
		zoo_fail("cpu timer: %.3f s left, interval %.3f, cpu used %.3f",
			 ts_s(&its[T_CPU].it_value), ts_s(&its[T_CPU].it_interval), cpu_s());
}

/* The periodic timers fire again after the check: at least 5 ticks in 300 ms each. */
static void verify_firing(void)
{
	int tick = tick_count, thread = thread_count;

	zoo_sleep_ms(300);
	if (tick_count - tick < 5 || thread_count - thread < 5)
		zoo_fail("in 300 ms after the check: %d ticks, %d thread signals",
			 tick_count - tick, thread_count - thread);
}

int main(int argc, char **argv)
{
	uint64_t start;

	zoo_init(argc, argv, "posixtimers");
	with_thread_clock = argc > 2 && !strcmp(argv[2], "threadclock");
	start = zoo_now_ms();
	if (setup() || (with_thread_clock &&
			make(CLOCK_THREAD_CPUTIME_ID, SIGEV_NONE, 0, 0, &thread_clock_timer))) {
		printf("FAIL posixtimers: setup: %s\n", strerror(errno));
		return 1;
	}
	while (!pend_pending())
		zoo_sleep_ms(1);
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	verify_ids();
	verify_times((double)(zoo_now_ms() - start) / 1000.0);
	verify_firing();
	verify_pending();
	if (bad_signal)
		zoo_fail("a timer signal was wrong (code %d: 1x tick, 2x thread, 4x pend, 30 far; "
			 "+1 si_code, +2 value, +3 timer id, 24 wrong thread)",
			 (int)bad_signal);
	stop_thread = 1;
	return zoo_finish();
}
