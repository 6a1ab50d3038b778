/*
 * timedwaits: threads in waits with a time limit that the kernel resumes through its restart
 * block after a stop (restart_syscall): poll() with a timeout on a pipe nobody writes,
 * nanosleep() without rem (as usleep), a relative FUTEX_WAIT on a word nobody changes, and the
 * main thread in poll() without a timeout on a pipe a fifth thread writes at the check. No signal handler is
 * installed, so none of them may ever return EINTR; each wait must also last at least its
 * timeout (none ends early), across a dump and restore or a migration caught in the middle of
 * it. Each thread loops on its wait until the check file appears, then reports its count.
 */
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>

#include "zoo.h"

#define TW_WAIT_MS 1500

static int tw_quiet[2]; /* nobody writes: the timed poll */
static int tw_wake[2];	/* written at the check: the untimed poll of the main thread */
static uint32_t tw_word;

static uint64_t tw_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* One wait of kind k: 0 when it lasted its time, else the failure was recorded. */
static int tw_wait_once(int k)
{
	struct timespec ts = { .tv_sec = TW_WAIT_MS / 1000,
			       .tv_nsec = (TW_WAIT_MS % 1000) * 1000000L };
	struct pollfd pfd = { .fd = tw_quiet[0], .events = POLLIN };
	static const char *const names[] = { "poll with a timeout", "nanosleep", "futex wait" };
	uint64_t t0 = tw_now_ms();
	long r;

	if (k == 0)
		r = poll(&pfd, 1, TW_WAIT_MS);
	else if (k == 1)
		r = syscall(SYS_nanosleep, &ts, NULL);
	else
		r = syscall(SYS_futex, &tw_word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
	if (k == 2 && r < 0 && errno == ETIMEDOUT)
		r = 0;
	if (r < 0) {
		zoo_fail("%s returned %s", names[k], strerror(errno));
		return -1;
	}
	/* A few ms of slack: CLOCK_MONOTONIC and the kernel's timers round differently. */
	if (tw_now_ms() - t0 + 5 < TW_WAIT_MS) {
		zoo_fail("%s ended after %llu ms, before its %d ms", names[k],
			 (unsigned long long)(tw_now_ms() - t0), TW_WAIT_MS);
		return -1;
	}
	return 0;
}

static void *tw_thread(void *arg)
{
	int k = (int)(intptr_t)arg;

	while (!zoo_check_requested() && !zoo_failed())
		if (tw_wait_once(k) < 0)
			break;
	return NULL;
}

/* Writes to the main thread's pipe once the check file exists. */
static void *tw_waker(void *arg)
{
	(void)arg;
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	if (write(tw_wake[1], "x", 1) != 1)
		zoo_fail("cannot wake the main thread: %s", strerror(errno));
	return NULL;
}

int main(int argc, char **argv)
{
	struct pollfd pfd;
	pthread_t th[3], waker;
	char c;

	zoo_init(argc, argv, "timedwaits");
	if (pipe(tw_quiet) < 0 || pipe(tw_wake) < 0) {
		printf("FAIL timedwaits: pipe: %s\n", strerror(errno));
		return 1;
	}
	for (int k = 0; k < 3; k++)
		if (pthread_create(&th[k], NULL, tw_thread, (void *)(intptr_t)k) != 0) {
			printf("FAIL timedwaits: pthread_create\n");
			return 1;
		}
	if (pthread_create(&waker, NULL, tw_waker, NULL) != 0) {
		printf("FAIL timedwaits: pthread_create\n");
		return 1;
	}
	zoo_ready();
	pfd = (struct pollfd){ .fd = tw_wake[0], .events = POLLIN };
	if (poll(&pfd, 1, -1) < 0)
		zoo_fail("poll without a timeout returned %s", strerror(errno));
	else if (read(tw_wake[0], &c, 1) != 1)
		zoo_fail("the waker wrote nothing");
	for (int k = 0; k < 3; k++)
		pthread_join(th[k], NULL);
	pthread_join(waker, NULL);
	return zoo_finish();
}
