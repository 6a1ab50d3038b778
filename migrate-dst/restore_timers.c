// SPDX-License-Identifier: MIT
/*
 * Timers put back by remote syscalls in the puppet, with the time that was left at dump: the
 * time the process spent frozen does not count, as for a process that was stopped.
 *
 *  - interval timers (setitimer, alarm): remote setitimer;
 *  - POSIX timers (timer_create): made again under their own ids with
 *    prctl(PR_TIMER_CREATE_RESTORE_IDS) on (Linux 6.17; turned off again on every path),
 *    same clock, notify, signal and value, then timer_settime with the time left (relative)
 *    and the period. A kernel without that prctl refuses the restore naming the timer.
 *    The overrun count is not kept: no call sets it (timer_getoverrun() says 0 until the
 *    next expiry); a timer signal pending at dump comes back with its siginfo, as the
 *    other pending signals do.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "compat.h"
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

/* The kernel's sigevent on x86_64 (64 bytes): value, signo, notify, then the tid. */
struct restore_sigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

/* x86_64 struct itimerspec as timer_settime reads it. */
struct restore_itimerspec {
	int64_t interval_sec, interval_nsec;
	int64_t value_sec, value_nsec;
};

/* timer_create with e's id (the prctl is on), then timer_settime when it was armed. */
static int restore_timers_posix_one(struct restore_proc *t, struct puppet *p,
				    const PosixTimerEntry *e)
{
	struct restore_sigevent sev = { .value = e->sival,
					.signo = e->signo,
					.notify = (int32_t)e->notify,
					.tid = (int32_t)e->notify_tid };
	struct restore_itimerspec its = {
		.interval_sec = (int64_t)(e->interval_ns / 1000000000u),
		.interval_nsec = (int64_t)(e->interval_ns % 1000000000u),
		.value_sec = (int64_t)(e->value_ns / 1000000000u),
		.value_nsec = (int64_t)(e->value_ns % 1000000000u),
	};
	int32_t id = (int32_t)e->id;
	uint64_t sev_addr, id_addr, its_addr;
	long res = 0;
	int r;

	puppet_push_reset(p);
	r = puppet_push(p, &sev, sizeof(sev), &sev_addr);
	if (r == 0)
		r = puppet_push(p, &id, sizeof(id), &id_addr);
	if (r == 0)
		r = puppet_push(p, &its, sizeof(its), &its_addr);
	if (r < 0)
		return log_error_errno(r, "pid %d: POSIX timer %u: %s", t->pid, e->id,
				       err_detail());
	r = puppet_syscall6(p, &res, SYS_timer_create, (uint64_t)(int64_t)e->clock_id, sev_addr,
			    id_addr, 0, 0, 0);
	if (r < 0 || res < 0)
		return log_error_errno(r < 0 ? r : (int)res,
				       "pid %d: cannot make POSIX timer %u again (clock %d)%s",
				       t->pid, e->id, e->clock_id,
				       res == -EBUSY ? ": its id is taken" : "");
	if (!e->value_ns)
		return 0; /* disarmed: created is all */
	r = puppet_syscall6(p, &res, SYS_timer_settime, e->id, 0, its_addr, 0, 0, 0);
	if (r < 0 || res < 0)
		return log_error_errno(r < 0 ? r : (int)res,
				       "pid %d: cannot arm POSIX timer %u again", t->pid, e->id);
	return 0;
}

static int restore_timers_ids_mode(struct puppet *p, unsigned long mode, long *ret)
{
	return puppet_syscall6(p, ret, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, mode, 0, 0, 0, 0);
}

/* Every POSIX timer, with the prctl on around them, off again on every path. */
static int restore_timers_posix(struct restore_proc *t, struct puppet *p, const TaskCoreEntry *core)
{
	long res;
	int r, r2;

	if (!core->n_posix_timers)
		return 0;
	r = restore_timers_ids_mode(p, PR_TIMER_CREATE_RESTORE_IDS_ON, &res);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot restore POSIX timer %u: %s", t->pid,
				       core->posix_timers[0]->id, err_detail());
	if (res < 0)
		return log_error_errno((int)res,
				       "pid %d: cannot restore POSIX timer %u under its "
				       "id: this kernel lacks prctl(PR_TIMER_CREATE_RESTORE_IDS) "
				       "(Linux 6.17 or later needed)",
				       t->pid, core->posix_timers[0]->id);
	for (size_t i = 0; r == 0 && i < core->n_posix_timers; i++)
		r = restore_timers_posix_one(t, p, core->posix_timers[i]);
	r2 = restore_timers_ids_mode(p, PR_TIMER_CREATE_RESTORE_IDS_OFF, &res);
	if (r == 0 && (r2 < 0 || res < 0))
		r = log_error_errno(r2 < 0 ? r2 : (int)res,
				    "pid %d: cannot turn PR_TIMER_CREATE_RESTORE_IDS off again",
				    t->pid);
	return r;
}

int restore_timers_run(struct restore_proc *t)
{
	const TaskCoreEntry *core = t->img->core;
	int r = restore_timers_validate(core);

	for (size_t i = 0; r == 0 && i < core->n_itimers; i++)
		r = restore_timers_set(t, &t->puppets[0], core->itimers[i]);
	if (r == 0)
		r = restore_timers_posix(t, &t->puppets[0], core);
	return r;
}
