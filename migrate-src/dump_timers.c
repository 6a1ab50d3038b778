// SPDX-License-Identifier: MIT
/*
 * Timers of the process: interval timers (setitimer, alarm) are read by remote getitimer
 * into TaskCoreEntry.itimers; POSIX timers (timer_create) are listed by /proc/PID/timers
 * (id, signal and value, notify, clock) and their time left, period and overrun are asked by
 * remote timer_gettime/timer_getoverrun, into TaskCoreEntry.posix_timers. A timer on the
 * CPU clock of another process cannot travel: refused by name before the process is touched.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "dump_internal.h"
#include "err.h"
#include "log.h"
#include "proc.h"
#include "puppet.h"

/* The POSIX timers of pid from /proc/PID/timers: *ret malloc'd, *ret_count of them. */
static int dump_timers_list(pid_t pid, struct proc_posix_timer **ret, size_t *ret_count)
{
	char *text = NULL;
	size_t len = 0;
	int r = proc_read_file(pid, "timers", &text, &len);

	if (r < 0)
		return dump_err_wrap(r, "cannot read /proc/%d/timers", pid);
	r = proc_parse_timers(text, len, ret, ret_count);
	free(text);
	if (r < 0)
		return dump_err_wrap(r, "cannot parse /proc/%d/timers", pid);
	return 0;
}

static bool dump_timers_is_thread(pid_t pid, uint32_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%u", pid, tid);
	return access(path, F_OK) == 0;
}

/* Threads of pid now (0 when they cannot be listed). */
static size_t dump_timers_threads(pid_t pid)
{
	size_t n = 0;
	int *tids = NULL;

	if (proc_list_numeric(pid, "task", &tids, &n) < 0)
		return 0;
	free(tids);
	return n;
}

/*
 * What of one timer cannot be made again in another process: its clock counting someone
 * else's CPU time, or a thread to notify that /proc cannot name (another PID namespace).
 * CLOCK_THREAD_CPUTIME_ID counts the thread that created the timer, which /proc does not
 * tell (it shows the clock as given): the restore makes timers in the main thread, which is
 * right only when the process has no other thread.
 */
static int dump_timers_supported(pid_t pid, const struct proc_posix_timer *t)
{
	uint32_t owner;
	bool thread;

	if (image_posix_clock(t->clock_id, &owner, &thread) < 0)
		return err_setf(-ENOTSUP,
				"pid %d: POSIX timer %d uses clock %d, which cannot be "
				"made again elsewhere (a clock fd?): not supported",
				pid, t->id, t->clock_id);
	if (owner && (thread ? !dump_timers_is_thread(pid, owner) : owner != (uint32_t)pid))
		return err_setf(-ENOTSUP,
				"pid %d: POSIX timer %d counts the CPU time of %s %u, "
				"outside this process: not supported",
				pid, t->id, thread ? "thread" : "pid", owner);
	if (!owner && thread && dump_timers_threads(pid) != 1)
		return err_setf(-ENOTSUP,
				"pid %d: POSIX timer %d counts the CPU time of the thread that "
				"created it (CLOCK_THREAD_CPUTIME_ID), which /proc does not name "
				"in a process of several threads: not supported",
				pid, t->id);
	if ((t->notify & SIGEV_THREAD_ID) && !t->notify_pid)
		return err_setf(-ENOTSUP,
				"pid %d: POSIX timer %d signals a thread that /proc "
				"cannot name (another PID namespace): not supported",
				pid, t->id);
	return 0;
}

/* The whole list, checked; refusals name the timer. */
static int dump_timers_read(pid_t pid, struct proc_posix_timer **ret, size_t *ret_count)
{
	struct proc_posix_timer *list = NULL;
	size_t n = 0;
	int r = dump_timers_list(pid, &list, &n);

	for (size_t i = 0; r == 0 && i < n; i++)
		r = dump_timers_supported(pid, &list[i]);
	if (r < 0) {
		free(list);
		return r;
	}
	*ret = list;
	*ret_count = n;
	return 0;
}

int dump_timers_check(pid_t pid)
{
	struct proc_posix_timer *list = NULL;
	size_t n = 0;
	int r = dump_timers_read(pid, &list, &n);

	free(list);
	return r;
}

/* x86_64 struct itimerspec as timer_gettime writes it. */
struct dump_itimerspec {
	int64_t interval_sec, interval_nsec;
	int64_t value_sec, value_nsec;
};

static uint64_t dump_timers_ns(int64_t sec, int64_t nsec)
{
	return (uint64_t)sec * 1000000000u + (uint64_t)nsec;
}

/* timer_gettime and timer_getoverrun of timer t, run by the process itself. */
static int dump_timers_ask(struct puppet *p, const struct proc_posix_timer *t,
			   struct dump_itimerspec *ret_its, long *ret_overrun)
{
	uint64_t addr;
	long res;
	int r;

	puppet_push_reset(p);
	memset(ret_its, 0, sizeof(*ret_its));
	r = puppet_push(p, ret_its, sizeof(*ret_its), &addr);
	if (r == 0)
		r = puppet_syscall6(p, &res, SYS_timer_gettime, (uint64_t)t->id, addr, 0, 0, 0, 0);
	if (r == 0 && res < 0)
		return err_setf((int)res, "timer_gettime(%d) in pid %d: %s", t->id, p->pid,
				strerror((int)-res));
	if (r == 0)
		r = puppet_mem_read(p, addr, ret_its, sizeof(*ret_its));
	if (r == 0)
		r = puppet_syscall6(p, ret_overrun, SYS_timer_getoverrun, (uint64_t)t->id, 0, 0, 0,
				    0, 0);
	if (r < 0)
		return dump_err_wrap(r, "cannot read POSIX timer %d of pid %d", t->id, p->pid);
	if (*ret_overrun < 0)
		return err_setf((int)*ret_overrun, "timer_getoverrun(%d) in pid %d: %s", t->id,
				p->pid, strerror((int)-*ret_overrun));
	return 0;
}

static int dump_timers_posix_one(struct puppet *p, const struct proc_posix_timer *t,
				 TaskCoreEntry *core)
{
	struct dump_itimerspec its;
	PosixTimerEntry *e;
	long overrun;
	int r = dump_timers_ask(p, t, &its, &overrun);

	if (r < 0)
		return r;
	e = malloc(sizeof(*e));
	if (!e)
		return err_setf(-ENOMEM, "out of memory");
	posix_timer_entry__init(e);
	e->id = (uint32_t)t->id;
	e->clock_id = t->clock_id;
	e->notify = (uint32_t)t->notify;
	e->signo = t->signo;
	e->sival = t->sival;
	e->has_notify_tid = (t->notify & SIGEV_THREAD_ID) != 0;
	e->notify_tid = e->has_notify_tid ? (uint32_t)t->notify_pid : 0;
	e->value_ns = dump_timers_ns(its.value_sec, its.value_nsec);
	e->interval_ns = dump_timers_ns(its.interval_sec, its.interval_nsec);
	e->has_overrun = true;
	e->overrun = (uint32_t)overrun;
	core->posix_timers[core->n_posix_timers++] = e;
	return 0;
}

static int dump_timers_by_id(const void *a, const void *b)
{
	int x = ((const struct proc_posix_timer *)a)->id,
	    y = ((const struct proc_posix_timer *)b)->id;

	return (x > y) - (x < y);
}

int dump_timers_posix(struct puppet *p, TaskCoreEntry *core)
{
	struct proc_posix_timer *list = NULL;
	size_t n = 0;
	/* Read again now that the process is frozen: it may have made or deleted some since the
	 * check before the seize. */
	int r = dump_timers_read(p->pid, &list, &n);

	if (r < 0)
		return r;
	/* By id, as the restore makes them: the kernel then hands out the same id next. */
	if (n)
		qsort(list, n, sizeof(*list), dump_timers_by_id);
	if (n) {
		core->posix_timers = calloc(n, sizeof(*core->posix_timers));
		if (!core->posix_timers)
			r = err_setf(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; r == 0 && i < n; i++)
		r = dump_timers_posix_one(p, &list[i], core);
	free(list);
	if (r == 0)
		log_debug("pid %d: %zu POSIX timer(s)", p->pid, core->n_posix_timers);
	return r;
}

/* x86_64 struct itimerval as getitimer writes it. */
struct dump_itimerval {
	int64_t interval_sec, interval_usec;
	int64_t value_sec, value_usec;
};

static uint64_t dump_timers_us(int64_t sec, int64_t usec)
{
	return (uint64_t)sec * 1000000u + (uint64_t)usec;
}

static int dump_timers_add(TaskCoreEntry *core, uint32_t which, const struct dump_itimerval *v)
{
	ItimerEntry *e = malloc(sizeof(*e));

	if (!e)
		return -ENOMEM;
	itimer_entry__init(e);
	e->which = which;
	e->value_us = dump_timers_us(v->value_sec, v->value_usec);
	e->interval_us = dump_timers_us(v->interval_sec, v->interval_usec);
	core->itimers[core->n_itimers++] = e;
	return 0;
}

int dump_timers_itimers(struct puppet *p, TaskCoreEntry *core)
{
	struct dump_itimerval v;
	uint64_t addr;
	long res;
	int r;

	core->itimers = calloc(3, sizeof(*core->itimers));
	if (!core->itimers)
		return -ENOMEM;
	for (uint32_t which = ITIMER_REAL; which <= ITIMER_PROF; which++) {
		puppet_push_reset(p);
		memset(&v, 0, sizeof(v));
		r = puppet_push(p, &v, sizeof(v), &addr);
		if (r == 0)
			r = puppet_syscall6(p, &res, SYS_getitimer, which, addr, 0, 0, 0, 0);
		if (r < 0)
			return dump_err_wrap(r, "cannot read interval timer %u of pid %d", which,
					     p->pid);
		if (res < 0)
			return err_setf((int)res, "getitimer(%u) in pid %d: %s", which, p->pid,
					strerror((int)-res));
		r = puppet_mem_read(p, addr, &v, sizeof(v));
		if (r < 0)
			return dump_err_wrap(r, "cannot read interval timer %u of pid %d", which,
					     p->pid);
		if (!v.value_sec && !v.value_usec)
			continue; /* disarmed: nothing to restore */
		r = dump_timers_add(core, which, &v);
		if (r < 0)
			return r;
	}
	log_debug("pid %d: %zu interval timer(s) armed", p->pid, core->n_itimers);
	return 0;
}
