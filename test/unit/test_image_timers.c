/* Unit tests of the checks an image's POSIX timers get (image_task_check, image_posix_clock):
 * a hostile image is refused before anything is created. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"
#include "image.h"

/* The kernel's encoding of the CPU clock of pid (thread: of thread pid), CPUCLOCK_SCHED. */
#define CPU_CLOCK(pid, thread) ((int32_t)((~(uint32_t)(pid) << 3) | ((thread) ? 4 : 0) | 2))

struct fixture {
	InventoryEntry inv;
	PstreeEntry ps;
	TaskCoreEntry core;
	MmEntry mm;
	ThreadCoreEntry th[2];
	ThreadCoreEntry *ths[2];
	uint32_t tids[2];
	PosixTimerEntry tm[2];
	PosixTimerEntry *tms[2];
	struct image_task t;
};

/* One process 4242 with threads 4242 and 4243, two valid timers: id 3 on CLOCK_MONOTONIC to
 * thread 4243, id 7 SIGEV_NONE on the process's CPU clock. */
static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	inventory_entry__init(&f->inv);
	pstree_entry__init(&f->ps);
	task_core_entry__init(&f->core);
	mm_entry__init(&f->mm);
	f->inv.image_version = IMAGE_FORMAT_VERSION;
	f->inv.page_size = IMAGE_PAGE_SIZE;
	f->inv.arch = "x86_64";
	f->inv.root_pid = 4242;
	for (int i = 0; i < 2; i++) {
		thread_core_entry__init(&f->th[i]);
		f->th[i].tid = f->tids[i] = 4242 + i;
		f->ths[i] = &f->th[i];
		posix_timer_entry__init(&f->tm[i]);
		f->tms[i] = &f->tm[i];
	}
	f->ps.pid = f->core.pid = 4242;
	f->ps.threads = f->tids;
	f->ps.n_threads = f->core.n_threads = 2;
	f->core.threads = f->ths;
	f->core.posix_timers = f->tms;
	f->core.n_posix_timers = 2;
	f->tm[0] = (PosixTimerEntry){ .base = f->tm[0].base,
				      .id = 3,
				      .clock_id = 1,
				      .notify = 4,
				      .signo = 35,
				      .has_notify_tid = true,
				      .notify_tid = 4243,
				      .value_ns = 20000000,
				      .interval_ns = 20000000 };
	f->tm[1] = (PosixTimerEntry){
		.base = f->tm[1].base, .id = 7, .clock_id = CPU_CLOCK(0, 0), .notify = 1
	};
	f->t = (struct image_task){
		.pstree = &f->ps, .core = &f->core, .mm = &f->mm, .pages_fd = -1
	};
}

/* The check, its refusal shown (a failing assertion then says why). */
static int check(struct fixture *f)
{
	int r = image_task_check(&f->inv, &f->t);

	if (r < 0)
		print_message("refused: %s\n", err_detail());
	return r;
}

static void test_valid(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	assert_int_equal(check(&f), 0);
	/* The process's own clocks by number, its thread's CPU clock, the fixed clocks. */
	f.tm[1].clock_id = CPU_CLOCK(4242, 0);
	assert_int_equal(check(&f), 0);
	f.tm[1].clock_id = CPU_CLOCK(4243, 1);
	assert_int_equal(check(&f), 0);
	/* CLOCK_THREAD_CPUTIME_ID (3) is the creating thread's: certain with one thread only. */
	for (int32_t c = 0; c <= 11; c++) {
		f.tm[1].clock_id = c;
		assert_int_equal(check(&f),
				 c == 3 || c == 4 || c == 5 || c == 6 || c == 10 ? -EBADMSG : 0);
	}
	f.tm[1].clock_id = CPU_CLOCK(0, 1);
	assert_int_equal(check(&f), -EBADMSG);
	f.tm[0].notify = 0; /* one thread: the calling thread's clocks are the main thread's */
	f.tm[0].has_notify_tid = false;
	f.ps.n_threads = f.core.n_threads = 1;
	assert_int_equal(check(&f), 0);
	f.tm[1].clock_id = 3;
	assert_int_equal(check(&f), 0);
}

static void test_hostile(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.tm[1].id = 3; /* the same id twice */
	assert_int_equal(check(&f), -EBADMSG);
	assert_non_null(strstr(err_detail(), "POSIX timer 3 is listed twice"));
	fixture_init(&f);
	f.tm[1].id = 0x80000000u;
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.tm[0].notify_tid = 4244; /* not a thread of the process */
	assert_int_equal(check(&f), -EBADMSG);
	assert_non_null(strstr(err_detail(), "tid 4244"));
	fixture_init(&f);
	f.tm[0].has_notify_tid = false;
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.tm[0].notify = 3; /* no such SIGEV_* */
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.tm[0].notify = 5; /* SIGEV_NONE | SIGEV_THREAD_ID */
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.tm[0].signo = 65;
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.tm[0].signo = 0;
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.tm[1].clock_id = CPU_CLOCK(1, 0); /* another process's CPU time */
	assert_int_equal(check(&f), -EBADMSG);
	assert_non_null(strstr(err_detail(), "another process"));
	fixture_init(&f);
	f.tm[1].clock_id = CPU_CLOCK(4244, 1); /* a thread of someone else */
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.tm[1].clock_id = (int32_t)((~3u << 3) | 3); /* a clock fd */
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.tms[1] = NULL;
	assert_int_equal(check(&f), -EBADMSG);
}

static void test_clock_decode(void **state)
{
	uint32_t owner = 99;
	bool thread = true;

	(void)state;
	assert_int_equal(image_posix_clock(-6, &owner, &thread), 0); /* glibc's process clock */
	assert_int_equal(owner, 0);
	assert_false(thread);
	assert_int_equal(image_posix_clock(-2, &owner, &thread), 0); /* glibc's thread clock */
	assert_int_equal(owner, 0);
	assert_true(thread);
	assert_int_equal(image_posix_clock(CPU_CLOCK(30381, 0), &owner, &thread), 0);
	assert_int_equal(owner, 30381);
	assert_int_equal(image_posix_clock(3, &owner, &thread), 0);
	assert_true(thread);
	assert_int_equal(image_posix_clock(12, &owner, &thread), -EINVAL);
	assert_int_equal(image_posix_clock(-1, &owner, &thread), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_clock_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
