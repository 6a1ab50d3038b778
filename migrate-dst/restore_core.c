/*
 * restore_core: the non-memory state of a process whose memory is in place.
 *
 *	sigactions → threads (remote clone3 with set_tid, each arrives attached) → per thread:
 *	clear_child_tid, robust list, sigaltstack, rseq, name → pending signals (queued while
 *	all are blocked) → credentials per thread → unmap the scratch → registers, xstate,
 *	signal masks; then, separately, detach (SIGSTOP on the main thread if it was stopped)
 *
 * On failure the caller kills the process; threads created here are in t->tids so the caller
 * can reap them.
 */
#include "restore_internal.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/prctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"
#include "err.h"
#include "log.h"
#include "proc.h"

static int core_call(struct puppet *p, const char *what, long *ret, long nr, uint64_t a1,
		     uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	long rv;
	int r = puppet_syscall6(p, &rv, nr, a1, a2, a3, a4, a5, a6);

	if (r < 0)
		return log_error_errno(r, "tid %d: remote %s: %s", p->tid, what, err_detail());
	if (rv < 0 && rv > -4096)
		return log_error_errno((int)rv, "tid %d: remote %s failed", p->tid, what);
	if (ret)
		*ret = rv;
	return 0;
}

static int core_push(struct puppet *p, const void *data, size_t len, uint64_t *ret_addr)
{
	int r = puppet_push(p, data, len, ret_addr);

	if (r < 0)
		return log_error_errno(r, "tid %d: %zu bytes to the scratch area", p->tid, len);
	return 0;
}

static int core_sigactions(struct restore_proc *t, struct puppet *p)
{
	struct restore_ksigaction table[RESTORE_NSIG + 1];
	int r = restore_plan_sigactions(t->img->core, table);

	if (r < 0)
		return log_error_errno(r, "%s", err_detail());
	for (int sig = 1; sig <= RESTORE_NSIG; sig++) {
		uint64_t addr;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		puppet_push_reset(p);
		r = core_push(p, &table[sig], sizeof(table[sig]), &addr);
		if (r == 0)
			r = core_call(p, "rt_sigaction", NULL, SYS_rt_sigaction, (uint64_t)sig,
				      addr, 0, 8, 0, 0);
		if (r < 0)
			return log_error_errno(r, "pid %d: cannot restore the action of signal %d",
					       t->pid, sig);
	}
	return 0;
}

/* Remote clone3 of thread tid from the main thread; the new thread arrives attached. */
static int core_clone_thread(struct restore_proc *t, pid_t tid)
{
	struct puppet *p = &t->puppets[0];
	uint64_t tid64 = (uint64_t)tid, tid_addr, args_addr;
	struct migrate_clone_args args = {
		.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			 CLONE_SYSVSEM,
		.set_tid_size = 1,
	};
	long rv;
	int status, r;

	puppet_push_reset(p);
	r = core_push(p, &tid64, sizeof(tid64), &tid_addr);
	if (r < 0)
		return r;
	args.set_tid = tid_addr;
	r = core_push(p, &args, sizeof(args), &args_addr);
	if (r < 0)
		return r;
	r = puppet_syscall6(p, &rv, SYS_clone3, args_addr, sizeof(args), 0, 0, 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: remote clone3 of thread %d: %s", t->pid, tid,
				       err_detail());
	if (rv == -EEXIST)
		return restore_pid_taken(tid);
	if (rv < 0)
		return log_error_errno((int)rv, "pid %d: remote clone3 of thread %d", t->pid, tid);
	if (rv != tid)
		return log_error_errno(-EINVAL, "pid %d: clone3 gave thread %ld, not %d", t->pid,
				       rv, tid);
	t->tids[t->thread_count++] = tid;
	r = puppet_wait(tid, &status);
	if (r < 0)
		return log_error_errno(r, "thread %d: no initial stop: %s", tid, err_detail());
	return 0;
}

static int core_threads(struct restore_proc *t)
{
	const TaskCoreEntry *core = t->img->core;
	int r;

	for (size_t i = 1; i < core->n_threads; i++) {
		r = core_clone_thread(t, (pid_t)core->threads[i]->tid);
		if (r < 0)
			return r;
		r = puppet_init(&t->puppets[i], t->pid, (pid_t)core->threads[i]->tid);
		if (r < 0)
			return log_error_errno(r, "thread %u: %s", core->threads[i]->tid,
					       err_detail());
		puppet_adopt_scratch(&t->puppets[i], t->puppets[0].scratch,
				     t->puppets[0].scratch_size);
	}
	return 0;
}

static int core_thread_altstack_rseq(struct puppet *p, const ThreadCoreEntry *th)
{
	uint64_t addr;
	int r = 0;

	if (th->sigaltstack) {
		/* SS_ONSTACK is an output flag; SS_DISABLE and SS_AUTODISARM are inputs. */
		struct {
			uint64_t sp;
			int32_t flags;
			int32_t pad;
			uint64_t size;
		} ss = { th->sigaltstack->sp, (int32_t)(th->sigaltstack->flags & ~SS_ONSTACK), 0,
			 th->sigaltstack->size };

		r = core_push(p, &ss, sizeof(ss), &addr);
		if (r == 0)
			r = core_call(p, "sigaltstack", NULL, SYS_sigaltstack, addr, 0, 0, 0, 0, 0);
	}
	if (r == 0 && th->rseq && th->rseq->addr)
		r = core_call(p, "rseq", NULL, SYS_rseq, th->rseq->addr, th->rseq->len, 0,
			      th->rseq->signature, 0, 0);
	return r;
}

static int core_thread_state(struct puppet *p, const ThreadCoreEntry *th)
{
	/* A robust list of any length but this one is refused, even to clear it. */
	uint64_t robust_len = th->robust_list_len ? th->robust_list_len : 24;
	uint64_t addr;
	int r;

	puppet_push_reset(p);
	r = core_call(p, "set_tid_address", NULL, SYS_set_tid_address, th->clear_child_tid, 0, 0,
		      0, 0, 0);
	if (r == 0)
		r = core_call(p, "set_robust_list", NULL, SYS_set_robust_list, th->robust_list,
			      robust_len, 0, 0, 0, 0);
	if (r == 0)
		r = core_thread_altstack_rseq(p, th);
	if (r == 0 && th->comm) {
		char name[16] = { 0 };

		strncpy(name, th->comm, sizeof(name) - 1);
		r = core_push(p, name, sizeof(name), &addr);
		if (r == 0)
			r = core_call(p, "prctl(PR_SET_NAME)", NULL, SYS_prctl, PR_SET_NAME, addr,
				      0, 0, 0, 0);
	}
	return r;
}

static int core_queue_signal(struct restore_proc *t, pid_t tid, const SiginfoEntry *si)
{
	struct puppet *p = &t->puppets[0];
	uint8_t info[128] = { 0 };
	int32_t sig;
	uint64_t addr;
	int r;

	if (si->siginfo.len != sizeof(info))
		return log_error_errno(-EINVAL, "pid %d: a pending siginfo of %zu bytes", t->pid,
				       si->siginfo.len);
	memcpy(info, si->siginfo.data, sizeof(info));
	memcpy(&sig, info, sizeof(sig));
	if (sig < 1 || sig > RESTORE_NSIG)
		return log_error_errno(-EINVAL, "pid %d: pending signal %d", t->pid, sig);
	puppet_push_reset(p);
	r = core_push(p, info, sizeof(info), &addr);
	if (r < 0)
		return r;
	/* Run inside the process itself, so the kernel accepts any si_code. */
	if (tid)
		return core_call(p, "rt_tgsigqueueinfo", NULL, SYS_rt_tgsigqueueinfo,
				 (uint64_t)t->pid, (uint64_t)tid, (uint64_t)sig, addr, 0, 0);
	return core_call(p, "rt_sigqueueinfo", NULL, SYS_rt_sigqueueinfo, (uint64_t)t->pid,
			 (uint64_t)sig, addr, 0, 0, 0);
}

static int core_pending(struct restore_proc *t)
{
	const TaskCoreEntry *core = t->img->core;
	int r = 0;

	for (size_t i = 0; r == 0 && i < core->n_threads; i++)
		for (size_t k = 0; r == 0 && k < core->threads[i]->n_pending; k++)
			r = core_queue_signal(t, (pid_t)core->threads[i]->tid,
					      core->threads[i]->pending[k]);
	for (size_t k = 0; r == 0 && k < core->n_shared_pending; k++)
		r = core_queue_signal(t, 0, core->shared_pending[k]);
	return r;
}

static bool core_groups_match(const CredsEntry *c, const struct proc_status *st)
{
	if (c->n_groups != st->ngroups)
		return false;
	for (size_t i = 0; i < c->n_groups; i++)
		if (c->groups[i] != st->groups[i])
			return false;
	return true;
}

static int core_set_ids(struct puppet *p, const CredsEntry *c, const struct proc_status *st)
{
	uint64_t addr;
	long ignored;
	int r = 0;

	if (!core_groups_match(c, st)) {
		uint32_t groups[c->n_groups + 1];

		for (size_t i = 0; i < c->n_groups; i++)
			groups[i] = c->groups[i];
		r = core_push(p, groups, sizeof(groups), &addr);
		if (r == 0)
			r = core_call(p, "setgroups", NULL, SYS_setgroups, c->n_groups, addr, 0, 0,
				      0, 0);
	}
	if (r == 0 && (st->gid[0] != c->gid || st->gid[1] != c->egid || st->gid[2] != c->sgid))
		r = core_call(p, "setresgid", NULL, SYS_setresgid, c->gid, c->egid, c->sgid, 0, 0,
			      0);
	if (r == 0 && (st->uid[0] != c->uid || st->uid[1] != c->euid || st->uid[2] != c->suid)) {
		/* Keep the permitted set across the uid change; capset below settles it. */
		r = core_call(p, "prctl(PR_SET_KEEPCAPS)", NULL, SYS_prctl, PR_SET_KEEPCAPS, 1, 0,
			      0, 0, 0);
		if (r == 0)
			r = core_call(p, "setresuid", NULL, SYS_setresuid, c->uid, c->euid, c->suid,
				      0, 0, 0);
		if (r == 0)
			r = core_call(p, "prctl(PR_SET_KEEPCAPS)", NULL, SYS_prctl,
				      PR_SET_KEEPCAPS, 0, 0, 0, 0, 0);
	}
	/* setfsuid/setfsgid return the previous value, never an error code. */
	if (r == 0 && st->gid[3] != c->fsgid)
		r = puppet_syscall6(p, &ignored, SYS_setfsgid, c->fsgid, 0, 0, 0, 0, 0);
	if (r == 0 && st->uid[3] != c->fsuid)
		r = puppet_syscall6(p, &ignored, SYS_setfsuid, c->fsuid, 0, 0, 0, 0, 0);
	return r;
}

static int core_set_caps(struct puppet *p, const CredsEntry *c, const struct proc_status *st)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {
		{ (uint32_t)c->cap_eff, (uint32_t)c->cap_prm, (uint32_t)c->cap_inh },
		{ (uint32_t)(c->cap_eff >> 32), (uint32_t)(c->cap_prm >> 32),
		  (uint32_t)(c->cap_inh >> 32) },
	};
	uint64_t hdr_addr, data_addr;
	int r;

	if (st->cap_eff == c->cap_eff && st->cap_prm == c->cap_prm && st->cap_inh == c->cap_inh)
		return 0;
	r = core_push(p, &hdr, sizeof(hdr), &hdr_addr);
	if (r == 0)
		r = core_push(p, data, sizeof(data), &data_addr);
	if (r == 0)
		r = core_call(p, "capset", NULL, SYS_capset, hdr_addr, data_addr, 0, 0, 0, 0);
	return r;
}

/* Credentials are per thread in the kernel: each thread sets its own. */
static int core_creds(struct restore_proc *t, struct puppet *p)
{
	const CredsEntry *c = t->img->core->creds;
	struct proc_status st = { 0 };
	char name[64], *text;
	size_t len;
	int r;

	snprintf(name, sizeof(name), "task/%d/status", p->tid);
	r = proc_read_file(t->pid, name, &text, &len);
	if (r < 0)
		return log_error_errno(r, "tid %d: cannot read its status: %s", p->tid,
				       err_detail());
	r = proc_parse_status(text, len, &st);
	free(text);
	if (r < 0)
		return log_error_errno(r, "tid %d: cannot parse its status: %s", p->tid,
				       err_detail());
	puppet_push_reset(p);
	r = core_set_ids(p, c, &st);
	if (r == 0)
		r = core_set_caps(p, c, &st);
	if (r == 0 && c->has_no_new_privs && c->no_new_privs)
		r = core_call(p, "prctl(PR_SET_NO_NEW_PRIVS)", NULL, SYS_prctl,
			      PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
	proc_status_fini(&st);
	if (r < 0)
		return log_error_errno(r, "tid %d: cannot restore its credentials", p->tid);
	return 0;
}

static int core_final_regs(struct restore_proc *t)
{
	const TaskCoreEntry *core = t->img->core;
	int r = puppet_unmap_scratch(&t->puppets[0]);

	if (r < 0)
		return log_error_errno(r, "pid %d: cannot unmap the scratch area: %s", t->pid,
				       err_detail());
	for (size_t i = 0; i < core->n_threads; i++) {
		const ThreadCoreEntry *th = core->threads[i];
		struct user_regs_struct regs;

		puppet_release(&t->puppets[i]);
		restore_plan_regs(th->regs, &regs);
		r = puppet_set_regs((pid_t)th->tid, &regs);
		if (r == 0)
			r = puppet_set_xstate((pid_t)th->tid, th->xstate.data, th->xstate.len);
		if (r == 0)
			r = puppet_set_sigmask((pid_t)th->tid, th->sigmask);
		if (r < 0)
			return log_error_errno(r, "thread %u: cannot set its registers: %s",
					       th->tid, err_detail());
	}
	return 0;
}

static int core_detach(struct restore_proc *t)
{
	int r;

	for (size_t i = t->thread_count; i-- > 1;) {
		r = puppet_detach(t->tids[i], 0);
		if (r < 0)
			return log_error_errno(r, "thread %d: cannot detach: %s", t->tids[i],
					       err_detail());
	}
	r = puppet_detach(t->pid, t->stopped ? SIGSTOP : 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot detach: %s", t->pid, err_detail());
	return 0;
}

int restore_core_run(struct restore_proc *t)
{
	const TaskCoreEntry *core = t->img->core;
	int r = core_sigactions(t, &t->puppets[0]);

	if (r == 0)
		r = core_threads(t);
	for (size_t i = 0; r == 0 && i < core->n_threads; i++)
		r = core_thread_state(&t->puppets[i], core->threads[i]);
	if (r == 0)
		r = core_pending(t);
	if (r == 0)
		r = restore_timers_run(t);
	for (size_t i = 0; r == 0 && i < core->n_threads; i++)
		r = core_creds(t, &t->puppets[i]);
	if (r == 0)
		r = core_final_regs(t);
	return r;
}

int restore_core_detach(struct restore_proc *t)
{
	return core_detach(t);
}
