// SPDX-License-Identifier: MIT
/*
 * Timers of the process: interval timers (setitimer, alarm) are read by remote getitimer
 * into TaskCoreEntry.itimers; POSIX timers (timer_create) are not supported yet and are
 * refused by name before the process is touched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "dump_internal.h"
#include "err.h"
#include "log.h"
#include "proc.h"
#include "puppet.h"

/* Counts "ID: " lines: /proc/PID/timers has one per POSIX timer of the process. */
static size_t dump_timers_count(const char *text, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i + 3 < len; i++)
		if ((i == 0 || text[i - 1] == '\n') && !memcmp(text + i, "ID: ", 4))
			n++;
	return n;
}

int dump_timers_check(pid_t pid)
{
	char *text = NULL;
	size_t len = 0, n;
	int r = proc_read_file(pid, "timers", &text, &len);

	if (r < 0)
		return dump_err_wrap(r, "cannot read /proc/%d/timers", pid);
	n = dump_timers_count(text, len);
	free(text);
	if (n)
		return err_setf(-ENOTSUP,
				"pid %d has %zu POSIX timer(s) (timer_create): not supported yet",
				pid, n);
	return 0;
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
