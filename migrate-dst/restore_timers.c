// SPDX-License-Identifier: MIT
/*
 * Interval timers (setitimer, alarm) put back by remote setitimer in the puppet, with the
 * time that was left at dump: the time the process spent frozen does not count, as for a
 * process that was stopped.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "err.h"
#include "log.h"
#include "puppet.h"
#include "restore_internal.h"

/* x86_64 struct itimerval as setitimer reads it. */
struct restore_itimerval {
	int64_t interval_sec, interval_usec;
	int64_t value_sec, value_usec;
};

/* Hostile images: an unknown timer, or the same one twice, is refused by name. */
static int restore_timers_validate(const TaskCoreEntry *core)
{
	unsigned int seen = 0;

	for (size_t i = 0; i < core->n_itimers; i++) {
		uint32_t which = core->itimers[i]->which;

		if (which > ITIMER_PROF)
			return log_error_errno(-EINVAL, "image: interval timer %u is unknown",
					       which);
		if (seen & (1u << which))
			return log_error_errno(-EINVAL, "image: interval timer %u appears twice",
					       which);
		seen |= 1u << which;
	}
	return 0;
}

static int restore_timers_set(struct restore_proc *t, struct puppet *p, const ItimerEntry *e)
{
	struct restore_itimerval v = {
		.interval_sec = (int64_t)(e->interval_us / 1000000u),
		.interval_usec = (int64_t)(e->interval_us % 1000000u),
		.value_sec = (int64_t)(e->value_us / 1000000u),
		.value_usec = (int64_t)(e->value_us % 1000000u),
	};
	uint64_t addr;
	long res;
	int r;

	puppet_push_reset(p);
	r = puppet_push(p, &v, sizeof(v), &addr);
	if (r == 0)
		r = puppet_syscall6(p, &res, SYS_setitimer, e->which, addr, 0, 0, 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: interval timer %u: %s", t->pid, e->which,
				       err_detail());
	if (res < 0)
		return log_error_errno((int)res, "pid %d: remote setitimer(%u) failed", t->pid,
				       e->which);
	return 0;
}

int restore_timers_run(struct restore_proc *t)
{
	const TaskCoreEntry *core = t->img->core;
	int r = restore_timers_validate(core);

	for (size_t i = 0; r == 0 && i < core->n_itimers; i++)
		r = restore_timers_set(t, &t->puppets[0], core->itimers[i]);
	return r;
}
