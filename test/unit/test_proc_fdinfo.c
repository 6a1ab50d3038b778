/* Unit tests of the fdinfo parsers of eventfds, signalfds and timerfds (proc_fdinfo.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "proc_fdinfo.h"

static const char head[] = "pos:\t0\nflags:\t04002\nmnt_id:\t17\nino:\t1038\n";

static void test_eventfd(void **state)
{
	struct proc_eventfd e;

	(void)state;
	assert_int_equal(proc_fdinfo_eventfd("pos:\t0\neventfd-count:                2a\n"
					     "eventfd-id: 1\neventfd-semaphore: 1\n",
					     &e),
			 0);
	assert_int_equal(e.count, 42);
	assert_true(e.semaphore);
	/* Older kernels: no semaphore line. */
	assert_int_equal(proc_fdinfo_eventfd("eventfd-count: fffffffffffffffe\n", &e), 0);
	assert_int_equal(e.count, UINT64_MAX - 1);
	assert_false(e.semaphore);
}

static void test_eventfd_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"pos:\t0\n",
		"eventfd-count:\n",
		"eventfd-count: zz\n",
		"eventfd-count: -1\n",
		"eventfd-count: ffffffffffffffff\n",
		"eventfd-count: 1\neventfd-semaphore: x\n",
		"xeventfd-count: 1\n",
	};
	struct proc_eventfd e = { .count = 7 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(proc_fdinfo_eventfd(bad[i], &e), -EINVAL);
	assert_int_equal(e.count, 7);
}

static void test_signalfd(void **state)
{
	uint64_t mask = 0;

	(void)state;
	assert_int_equal(proc_fdinfo_signalfd("flags:\t02\nsigmask:\t0000000000000200\n", &mask),
			 0);
	assert_int_equal(mask, 0x200);
	assert_int_equal(proc_fdinfo_signalfd("flags:\t02\n", &mask), -EINVAL);
	assert_int_equal(proc_fdinfo_signalfd("sigmask:\tnope\n", &mask), -EINVAL);
}

static void test_timerfd(void **state)
{
	char text[512];
	struct proc_timerfd t;

	(void)state;
	snprintf(text, sizeof(text),
		 "%sclockid: 1\nticks: 3\nsettime flags: 00\n"
		 "it_value: (9, 998197673)\nit_interval: (2, 5)\n",
		 head);
	assert_int_equal(proc_fdinfo_timerfd(text, &t), 0);
	assert_int_equal(t.clockid, 1);
	assert_int_equal(t.ticks, 3);
	assert_int_equal(t.value_ns, 9998197673ull);
	assert_int_equal(t.interval_ns, 2000000005ull);
}

static void test_timerfd_hostile(void **state)
{
	static const char *const bad[] = {
		"clockid: 1\nticks: 0\nit_value: (0, 0)\n",
		"clockid: 1\nticks: 0\nit_value: (0, 1000000000)\nit_interval: (0, 0)\n",
		"clockid: 1\nticks: 0\nit_value: (99999999999999999, 0)\nit_interval: (0, 0)\n",
		"clockid: 4294967296\nticks: 0\nit_value: (0, 0)\nit_interval: (0, 0)\n",
		"clockid: 1\nticks: -2\nit_value: (0, 0)\nit_interval: (0, 0)\n",
		"ticks: 0\nit_value: (0, 0)\nit_interval: (0, 0)\n",
	};
	struct proc_timerfd t = { .clockid = 9 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(proc_fdinfo_timerfd(bad[i], &t), -EINVAL);
	assert_int_equal(t.clockid, 9);
}

static void test_epoll(void **state)
{
	struct proc_epoll_tfd *t;
	size_t n;

	(void)state;
	assert_int_equal(proc_fdinfo_epoll("pos:\t0\nflags:\t02\n", &t, &n), 0);
	assert_int_equal(n, 0);
	free(t);
	assert_int_equal(proc_fdinfo_epoll("flags:\t02\ntfd:        4 events: 80000019 data:"
					   "                4  pos:0 ino:2160b0 sdev:f\n"
					   "tfd:        7 events:       1 data: ffffffffffffffff  "
					   "pos:0 "
					   "ino:1 sdev:f\n",
					   &t, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(t[0].tfd, 4);
	assert_int_equal(t[0].events, 0x80000019);
	assert_int_equal(t[0].data, 4);
	assert_int_equal(t[0].ino, 0x2160b0);
	assert_int_equal(t[1].tfd, 7);
	assert_int_equal(t[1].data, UINT64_MAX);
	free(t);
	assert_int_equal(proc_fdinfo_epoll("tfd: 4 events: 1\n", &t, &n), -EINVAL);
	assert_int_equal(proc_fdinfo_epoll("tfd: 99999999999 events: 1 data: 0 pos:0 ino:1\n", &t,
					   &n),
			 -EINVAL);
	assert_int_equal(proc_fdinfo_epoll("tfd: 1 events: 123456789 data: 0 pos:0 ino:1\n", &t,
					   &n),
			 -EINVAL);
}

static void test_inotify(void **state)
{
	struct proc_inotify_wd *w;
	size_t n;

	(void)state;
	assert_int_equal(proc_fdinfo_inotify("pos:\t0\ninotify wd:2 ino:a8c5dc sdev:fe00000 "
					     "mask:300 ignored_mask:0 fhandle-bytes:8 "
					     "fhandle-type:1 f_handle:dcc5a80093ce8f41\n"
					     "inotify wd:1 ino:2 sdev:3 mask:4 ignored_mask:0\n",
					     &w, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(w[0].wd, 2);
	assert_int_equal(w[0].ino, 0xa8c5dc);
	assert_int_equal(w[0].sdev, 0xfe00000);
	assert_int_equal(w[0].mask, 0x300);
	assert_int_equal(w[0].handle_bytes, 8);
	assert_int_equal(w[0].handle_type, 1);
	assert_int_equal(w[0].handle[0], 0xdc);
	assert_int_equal(w[0].handle[7], 0x41);
	assert_int_equal(w[1].handle_bytes, 0);
	free(w);
	assert_int_equal(proc_fdinfo_inotify("inotify wd:1 ino:2\n", &w, &n), -EINVAL);
	assert_int_equal(proc_fdinfo_inotify("inotify wd:1 ino:2 sdev:3 mask:4 ignored_mask:0 "
					     "fhandle-bytes:900 fhandle-type:1 f_handle:00\n",
					     &w, &n),
			 -EINVAL);
	assert_int_equal(proc_fdinfo_inotify("inotify wd:1 ino:2 sdev:3 mask:4 ignored_mask:0 "
					     "fhandle-bytes:8 fhandle-type:1 f_handle:00\n",
					     &w, &n),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eventfd),
		cmocka_unit_test(test_eventfd_hostile),
		cmocka_unit_test(test_signalfd),
		cmocka_unit_test(test_timerfd),
		cmocka_unit_test(test_timerfd_hostile),
		cmocka_unit_test(test_epoll),
		cmocka_unit_test(test_inotify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
