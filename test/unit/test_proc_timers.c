/* Unit tests of the /proc/PID/timers parser (proc_parse_timers), hostile input included. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proc.h"

/* As Linux 6.18 prints it: newest first. */
static const char sample[] = "ID: 42\n"
			     "signal: 36/000000001234abcd\n"
			     "notify: signal/tid.18101\n"
			     "ClockID: 7\n"
			     "ID: 1\n"
			     "signal: 14/0000000000000000\n"
			     "notify: none/pid.18100\n"
			     "ClockID: -6\n"
			     "ID: 0\n"
			     "signal: 34/ffffffffffffffff\n"
			     "notify: thread/pid.18100\n"
			     "ClockID: 1\n";

static void test_timers(void **state)
{
	struct proc_posix_timer *t = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(proc_parse_timers(sample, strlen(sample), &t, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(t[0].id, 42);
	assert_int_equal(t[0].signo, 36);
	assert_int_equal(t[0].sival, 0x1234abcd);
	assert_int_equal(t[0].notify, SIGEV_SIGNAL | SIGEV_THREAD_ID);
	assert_int_equal(t[0].notify_pid, 18101);
	assert_int_equal(t[0].clock_id, 7);
	assert_int_equal(t[1].notify, SIGEV_NONE);
	assert_int_equal(t[1].clock_id, -6);
	assert_int_equal(t[2].notify, SIGEV_THREAD);
	assert_int_equal(t[2].sival, UINT64_MAX);
	free(t);
}

static void test_timers_empty(void **state)
{
	struct proc_posix_timer *t = (void *)1;
	size_t n = 7;

	(void)state;
	assert_int_equal(proc_parse_timers("", 0, &t, &n), 0);
	assert_int_equal(n, 0);
	assert_null(t);
	/* No final newline (a fuzzer's input) still parses. */
	assert_int_equal(proc_parse_timers(sample, strlen(sample) - 1, &t, &n), 0);
	assert_int_equal(n, 3);
	free(t);
}

static void test_timers_hostile(void **state)
{
	static const char *const bad[] = {
		"ID: 1\n",						   /* cut short */
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.1\n",		   /* no clock */
		"signal: 14/0\nID: 1\nnotify: signal/pid.1\nClockID: 0\n", /* order */
		"ID: -1\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0\n",
		"ID: 2147483648\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14\nnotify: signal/pid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14/xyz\nnotify: signal/pid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14/10000000000000000\nnotify: signal/pid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14/0\nnotify: bogus/pid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14/0\nnotify: signal/xid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.-1\nClockID: 0\n",
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0 junk\n",
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 99999999999\n",
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0\n"
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0\n", /* twice */
		"\n",
		"ID: 1\0\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0\n",
	};
	struct proc_posix_timer *t = (void *)1;
	size_t n = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);

		if (i == sizeof(bad) / sizeof(bad[0]) - 1)
			len = 52; /* past the embedded NUL */
		assert_int_equal(proc_parse_timers(bad[i], len, &t, &n), -EINVAL);
	}
	assert_ptr_equal(t, (void *)1);
	assert_int_equal(n, 7);
}

/* Every prefix of a valid file either parses (at a timer boundary) or is refused, never more. */
static void test_timers_truncated(void **state)
{
	(void)state;
	for (size_t len = 0; len <= strlen(sample); len++) {
		struct proc_posix_timer *t = NULL;
		size_t n = 0;
		int r = proc_parse_timers(sample, len, &t, &n);

		assert_true(r == 0 || r == -EINVAL);
		if (r == 0)
			assert_true(n <= 3);
		free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_timers_empty),
		cmocka_unit_test(test_timers_hostile),
		cmocka_unit_test(test_timers_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
