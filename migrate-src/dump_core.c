/*
 * dump_core: the non-memory state of a process and of each of its threads.
 *
 * Most comes from ptrace regsets and /proc; what only the process can tell
 * (sigactions, brk, personality, clear_child_tid, sigaltstack) comes from
 * remote syscalls through a puppet. Each puppet is finished (registers and
 * signal mask put back) before this file returns, on every path.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/futex.h>

#include "compat.h"
#include "dump_internal.h"
#include "err.h"
#include "log.h"
#include "puppet.h"

/* Kernel-internal restart codes a stopped syscall may hold in rax. */
#define DUMP_ERESTARTSYS 512
#define DUMP_ERESTARTNOINTR 513
#define DUMP_ERESTARTNOHAND 514
#define DUMP_ERESTART_RESTARTBLOCK 516

#define DUMP_NSIG 64

/* x86_64 struct kernel_sigaction as rt_sigaction reads it. */
struct dump_ksigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

/* x86_64 stack_t */
struct dump_stack {
	uint64_t sp;
	int32_t flags;
	int32_t pad;
	uint64_t size;
};

/*
 * A syscall interrupted by a stop returns -ERESTART_RESTARTBLOCK when what it must resume
 * with lives in the kernel's restart block of the thread (the deadline of its timeout, the time
 * left to sleep): on resume the kernel runs restart_syscall, which reads that block. A new
 * process has no such block (its restart_syscall returns EINTR), and a thread resumed into
 * restart_syscall no longer shows which syscall it is in (the agent, which lets threads go
 * between its seizes, keeps it: dump_core_release_restarts, dump_core_resolve_restarts). Which
 * of them the registers can stand for, their arguments being still in place (x86_64: rdi, rsi,
 * rdx, r10):
 *
 *	poll(fds, n, -1)                        exactly: no time to lose
 *	poll(fds, n, ms)                        waits its whole timeout again
 *	nanosleep(req, rem), rem == req         exactly: the kernel wrote the time left over req
 *	nanosleep(req, rem), rem != NULL        sleeps *rem (the time left) instead of *req
 *	nanosleep(req, NULL)                    sleeps its whole time again
 *	clock_nanosleep(clk, 0, req, rem)       the same (an absolute one restarts without a block)
 *	futex(FUTEX_WAIT_BITSET, .., abs)       exactly: the timeout is a deadline
 *	futex(FUTEX_WAIT, .., rel)              waits its whole timeout again
 *
 * ("Exactly" but for the time the thread spent stopped, which a sleep from rem adds.) A timed
 * wait that lasts longer is within its contract (a timeout is a minimum); EINTR is not for a
 * process without signal handlers, which never sees it from these calls.
 */
enum dump_rerun {
	DUMP_RERUN_NONE,   /* not a syscall the registers can stand for */
	DUMP_RERUN_EXACT,  /* as the kernel's restart would */
	DUMP_RERUN_REM,	   /* a sleep, from the time left the kernel wrote to rem */
	DUMP_RERUN_LONGER, /* its whole timeout again */
};

static enum dump_rerun dump_core_rerun_kind(const struct user_regs_struct *regs)
{
	switch (regs->orig_rax) {
	case SYS_poll:
		return (int)regs->rdx < 0 ? DUMP_RERUN_EXACT : DUMP_RERUN_LONGER;
	case SYS_nanosleep:
		if (!regs->rsi)
			return DUMP_RERUN_LONGER;
		return regs->rsi == regs->rdi ? DUMP_RERUN_EXACT : DUMP_RERUN_REM;
	case SYS_clock_nanosleep:
		if (!regs->r10)
			return DUMP_RERUN_LONGER;
		return regs->r10 == regs->rdx ? DUMP_RERUN_EXACT : DUMP_RERUN_REM;
	case SYS_futex:
		return ((int)regs->rsi & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET ? DUMP_RERUN_EXACT
									      : DUMP_RERUN_LONGER;
	}
	return DUMP_RERUN_NONE;
}

/* Back to the syscall instruction with its number (and, REM, the time left as its request). */
static void dump_core_rerun(struct user_regs_struct *regs, enum dump_rerun kind)
{
	if (kind == DUMP_RERUN_REM && regs->orig_rax == SYS_nanosleep)
		regs->rdi = regs->rsi;
	else if (kind == DUMP_RERUN_REM)
		regs->rdx = regs->r10;
	regs->rax = regs->orig_rax;
	regs->rip -= 2;
}

void dump_core_adjust_restart(struct user_regs_struct *regs)
{
	long rax = (long)regs->rax;
	enum dump_rerun kind;

	if ((long)regs->orig_rax < 0)
		return;
	if (rax == -DUMP_ERESTARTSYS || rax == -DUMP_ERESTARTNOINTR ||
	    rax == -DUMP_ERESTARTNOHAND) {
		/* Back to the syscall instruction with its number: it runs again. */
		dump_core_rerun(regs, DUMP_RERUN_EXACT);
	} else if (rax == -DUMP_ERESTART_RESTARTBLOCK) {
		kind = dump_core_rerun_kind(regs);
		if (kind != DUMP_RERUN_NONE)
			dump_core_rerun(regs, kind);
		else /* restart_syscall, or a kind not listed above: as with CRIU */
			regs->rax = (uint64_t)-EINTR;
	}
}

bool dump_core_restart_in_place(struct user_regs_struct *regs)
{
	/* Only where it changes nothing: the kernel's restart is exact while the thread stays. */
	if ((long)regs->orig_rax < 0 || (long)regs->rax != -DUMP_ERESTART_RESTARTBLOCK ||
	    dump_core_rerun_kind(regs) != DUMP_RERUN_EXACT)
		return false;
	dump_core_rerun(regs, DUMP_RERUN_EXACT);
	return true;
}

/* Whether a signal the thread does not block waits for it (or cannot be told): then its
 * syscall must end as the kernel ends it (EINTR before a handler), not run again. */
static bool dump_core_signal_waits(pid_t pid, pid_t tid)
{
	struct proc_status st = { 0 };
	char name[64], *text;
	bool waits = true;
	size_t len;

	snprintf(name, sizeof(name), "task/%d/status", tid);
	if (proc_read_file(pid, name, &text, &len) < 0)
		return true;
	if (proc_parse_status(text, len, &st) == 0)
		waits = ((st.sig_pnd | st.shd_pnd) & ~st.sig_blk) != 0;
	proc_status_fini(&st);
	free(text);
	return waits;
}

/* The restart kept for tid, or NULL. */
static struct dump_restart *dump_core_restart_find(struct dump_proc *proc, pid_t tid)
{
	for (size_t i = 0; i < proc->nr_restarts; i++)
		if (proc->restarts[i].tid == tid)
			return &proc->restarts[i];
	return NULL;
}

/* What release keeps of a thread with registers regs: the syscall it leaves to the kernel's
 * restart (one dump_core_adjust_restart knows), nothing once it is out of it; a thread in
 * restart_syscall keeps what it had. */
static void dump_core_restart_keep(struct dump_proc *proc, pid_t tid,
				   const struct user_regs_struct *regs, bool rewritten)
{
	struct dump_restart *k = dump_core_restart_find(proc, tid), *bigger;
	bool block = !rewritten && (long)regs->rax == -DUMP_ERESTART_RESTARTBLOCK;

	if (block && regs->orig_rax == SYS_restart_syscall)
		return;
	if (!block || dump_core_rerun_kind(regs) == DUMP_RERUN_NONE) {
		if (k)
			*k = proc->restarts[--proc->nr_restarts];
		return;
	}
	if (!k) {
		bigger = realloc(proc->restarts, (proc->nr_restarts + 1) * sizeof(*bigger));
		if (!bigger)
			return; /* it may return EINTR after a migration, as before */
		proc->restarts = bigger;
		k = &proc->restarts[proc->nr_restarts++];
	}
	k->tid = tid;
	k->regs = *regs;
}

void dump_core_release_restarts(struct dump_proc *proc)
{
	for (size_t i = 0; i < proc->nr_threads; i++) {
		const struct dump_thread *t = &proc->threads[i];
		struct user_regs_struct regs;
		bool rewritten;
		int r;

		if (!t->seized || !t->stopped || puppet_get_regs(t->tid, &regs) < 0)
			continue;
		rewritten = !dump_core_signal_waits(proc->pid, t->tid) &&
			    dump_core_restart_in_place(&regs);
		r = rewritten ? puppet_set_regs(t->tid, &regs) : 0;
		if (r < 0)
			log_debug("dump: thread %d: cannot set it back into syscall %llu: %s, "
				  "ignoring (the kernel restarts it)",
				  t->tid, (unsigned long long)regs.orig_rax, strerror(-r));
		else if (rewritten)
			log_debug("dump: thread %d runs syscall %llu again rather than through "
				  "restart_syscall", t->tid, (unsigned long long)regs.orig_rax);
		if (r < 0) /* its registers as they still are */
			rewritten = puppet_get_regs(t->tid, &regs) < 0;
		dump_core_restart_keep(proc, t->tid, &regs, rewritten);
	}
}

/* The same syscall: the instruction after it and every argument register unchanged. */
static bool dump_core_restart_same(const struct user_regs_struct *was,
				   const struct user_regs_struct *now)
{
	return was->rip == now->rip && was->rdi == now->rdi && was->rsi == now->rsi &&
	       was->rdx == now->rdx && was->r10 == now->r10 && was->r8 == now->r8 &&
	       was->r9 == now->r9;
}

void dump_core_resolve_restarts(struct dump_proc *proc)
{
	for (size_t i = 0; i < proc->nr_threads; i++) {
		const struct dump_thread *t = &proc->threads[i];
		struct dump_restart *k = dump_core_restart_find(proc, t->tid);
		struct user_regs_struct regs;

		if (!k || !t->seized || !t->stopped || puppet_get_regs(t->tid, &regs) < 0 ||
		    regs.orig_rax != SYS_restart_syscall ||
		    (long)regs.rax != -DUMP_ERESTART_RESTARTBLOCK ||
		    !dump_core_restart_same(&k->regs, &regs))
			continue;
		regs.orig_rax = k->regs.orig_rax;
		if (puppet_set_regs(t->tid, &regs) < 0)
			log_debug("dump: thread %d: cannot name its syscall %llu again, ignoring (it "
				  "returns EINTR after a migration)",
				  t->tid, (unsigned long long)k->regs.orig_rax);
		else
			log_debug("dump: thread %d: restart_syscall of syscall %llu",
				  t->tid, (unsigned long long)k->regs.orig_rax);
	}
}

static UserRegsEntry *dump_core_regs_entry(const struct user_regs_struct *r)
{
	UserRegsEntry *e = malloc(sizeof(*e));

	if (!e)
		return NULL;
	user_regs_entry__init(e);
	e->r15 = r->r15, e->r14 = r->r14, e->r13 = r->r13, e->r12 = r->r12;
	e->rbp = r->rbp, e->rbx = r->rbx, e->r11 = r->r11, e->r10 = r->r10;
	e->r9 = r->r9, e->r8 = r->r8, e->rax = r->rax, e->rcx = r->rcx;
	e->rdx = r->rdx, e->rsi = r->rsi, e->rdi = r->rdi, e->orig_rax = r->orig_rax;
	e->rip = r->rip, e->cs = r->cs, e->eflags = r->eflags, e->rsp = r->rsp;
	e->ss = r->ss, e->fs_base = r->fs_base, e->gs_base = r->gs_base;
	e->ds = r->ds, e->es = r->es, e->fs = r->fs, e->gs = r->gs;
	return e;
}

/* Turns an array of siginfo_t into SiginfoEntry records. */
static int dump_core_siginfos(void *buf, size_t count, SiginfoEntry ***ret, size_t *ret_n)
{
	SiginfoEntry **v;

	*ret_n = 0;
	if (!count)
		return 0;
	v = calloc(count, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*ret = v;
	for (size_t i = 0; i < count; i++) {
		v[i] = malloc(sizeof(**v));
		if (!v[i])
			return -ENOMEM;
		siginfo_entry__init(v[i]);
		v[i]->siginfo.data = malloc(sizeof(siginfo_t));
		if (!v[i]->siginfo.data)
			return -ENOMEM;
		memcpy(v[i]->siginfo.data, (char *)buf + i * sizeof(siginfo_t), sizeof(siginfo_t));
		v[i]->siginfo.len = sizeof(siginfo_t);
		(*ret_n)++;
	}
	return 0;
}

static int dump_core_pending(pid_t tid, bool shared, SiginfoEntry ***ret, size_t *ret_n)
{
	void *buf = NULL;
	size_t count = 0;
	int r;

	r = puppet_peek_siginfo(tid, shared, &buf, &count);
	if (r < 0)
		return dump_err_wrap(r, "cannot read the pending signals of thread %d", tid);
	r = dump_core_siginfos(buf, count, ret, ret_n);
	free(buf);
	return r;
}

static int dump_core_rseq(ThreadCoreEntry *t)
{
	struct migrate_ptrace_rseq_configuration conf = { 0 };

	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, t->tid, sizeof(conf), &conf) < 0)
		return err_setf(-errno, "cannot read the rseq area of thread %d: %m", t->tid);
	if (!conf.rseq_abi_pointer)
		return 0;
	t->rseq = malloc(sizeof(*t->rseq));
	if (!t->rseq)
		return -ENOMEM;
	rseq_entry__init(t->rseq);
	t->rseq->addr = conf.rseq_abi_pointer;
	t->rseq->len = conf.rseq_abi_size;
	t->rseq->signature = conf.signature;
	return 0;
}

static int dump_core_thread_comm(pid_t pid, ThreadCoreEntry *t)
{
	char name[64], *text;
	size_t len;
	int r;

	snprintf(name, sizeof(name), "task/%d/comm", t->tid);
	r = proc_read_file(pid, name, &text, &len);
	if (r < 0)
		return err_setf(r, "cannot read the name of thread %d: %s", t->tid, strerror(-r));
	if (len && text[len - 1] == '\n')
		text[len - 1] = '\0';
	t->comm = text;
	return 0;
}

/* State readable from outside: registers, xstate, mask, pending, rseq, robust list. */
static int dump_core_thread(pid_t pid, pid_t tid, ThreadCoreEntry *t)
{
	struct user_regs_struct regs;
	uint64_t head = 0;
	size_t len = 0;
	void *xs;
	int r;

	t->tid = tid;
	r = puppet_get_regs(tid, &regs);
	if (r < 0)
		return dump_err_wrap(r, "cannot read the registers of thread %d", tid);
	dump_core_adjust_restart(&regs);
	t->regs = dump_core_regs_entry(&regs);
	if (!t->regs)
		return -ENOMEM;
	r = puppet_get_xstate(tid, &xs, &len);
	if (r < 0)
		return dump_err_wrap(r, "cannot read the FPU state of thread %d", tid);
	t->xstate.data = xs;
	t->xstate.len = len;
	r = puppet_get_sigmask(tid, &t->sigmask);
	if (r < 0)
		return dump_err_wrap(r, "cannot read the signal mask of thread %d", tid);
	r = dump_core_pending(tid, false, &t->pending, &t->n_pending);
	if (r < 0)
		return r;
	r = dump_core_rseq(t);
	if (r < 0)
		return r;
	if (syscall(SYS_get_robust_list, tid, &head, &len) < 0)
		return err_setf(-errno, "cannot read the robust list of thread %d: %m", tid);
	t->has_robust_list = t->has_robust_list_len = true;
	t->robust_list = head;
	t->robust_list_len = len;
	return dump_core_thread_comm(pid, t);
}

/* The error of a remote syscall: ptrace failure (r) or the syscall's own (res). */
static int dump_core_result(int r, long res, const char *what, pid_t tid)
{
	if (r < 0)
		return dump_err_wrap(r, "cannot read %s in thread %d", what, tid);
	if (res < 0)
		return err_setf((int)res, "cannot read %s in thread %d: %s", what, tid,
				strerror((int)-res));
	return 0;
}

/* Runs one syscall whose only output is a buffer of len bytes in scratch. */
static int dump_core_remote_out(struct puppet *p, long nr, const uint64_t args[6], int out_arg,
				void *out, size_t len, long *ret_result)
{
	uint64_t a[6], addr;
	int r;

	memcpy(a, args, sizeof(a));
	puppet_push_reset(p);
	memset(out, 0, len);
	r = puppet_push(p, out, len, &addr);
	if (r < 0)
		return r;
	a[out_arg] = addr;
	r = puppet_syscall(p, nr, a, ret_result);
	if (r < 0)
		return r;
	if (*ret_result < 0)
		return 0;
	return puppet_mem_read(p, addr, out, len);
}

/* clear_child_tid and sigaltstack of one thread, by syscalls in that thread. */
static int dump_core_thread_remote(struct puppet *p, ThreadCoreEntry *t)
{
	uint64_t tid_addr = 0, a[6] = { PR_GET_TID_ADDRESS };
	struct dump_stack ss;
	long res;
	int r;

	r = dump_core_remote_out(p, SYS_prctl, a, 1, &tid_addr, sizeof(tid_addr), &res);
	r = dump_core_result(r, res, "clear_child_tid", t->tid);
	if (r < 0)
		return r;
	t->has_clear_child_tid = true;
	t->clear_child_tid = tid_addr;

	memset(a, 0, sizeof(a));
	r = dump_core_remote_out(p, SYS_sigaltstack, a, 1, &ss, sizeof(ss), &res);
	r = dump_core_result(r, res, "the sigaltstack", t->tid);
	if (r < 0)
		return r;
	t->sigaltstack = malloc(sizeof(*t->sigaltstack));
	if (!t->sigaltstack)
		return -ENOMEM;
	sigaltstack_entry__init(t->sigaltstack);
	t->sigaltstack->sp = ss.sp;
	t->sigaltstack->flags = (uint32_t)ss.flags;
	t->sigaltstack->size = ss.size;
	return 0;
}

/* Runs dump_core_thread_remote in a thread other than the puppet's own. */
static int dump_core_other_thread_remote(struct puppet *main, ThreadCoreEntry *t)
{
	struct puppet p;
	int r, r2;

	r = puppet_init(&p, main->pid, t->tid);
	if (r < 0)
		return dump_err_wrap(r, "cannot take over thread %d", t->tid);
	puppet_adopt_scratch(&p, main->scratch, main->scratch_size);
	r = dump_core_thread_remote(&p, t);
	r2 = puppet_fini(&p);
	if (r == 0 && r2 < 0)
		r = dump_err_wrap(r2, "cannot put thread %d back", t->tid);
	return r;
}

static int dump_core_sigactions(struct puppet *p, TaskCoreEntry *core)
{
	struct dump_ksigaction ka;
	char what[64];
	long res;
	int r;

	core->sigactions = calloc(DUMP_NSIG, sizeof(*core->sigactions));
	if (!core->sigactions)
		return -ENOMEM;
	for (int sig = 1; sig <= DUMP_NSIG; sig++) {
		uint64_t a[6] = { sig, 0, 0, 8 };
		SigactionEntry *e;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		r = dump_core_remote_out(p, SYS_rt_sigaction, a, 2, &ka, sizeof(ka), &res);
		snprintf(what, sizeof(what), "the action of signal %d", sig);
		r = dump_core_result(r, res, what, p->tid);
		if (r < 0)
			return r;
		if (ka.handler == (uint64_t)(uintptr_t)SIG_DFL && !ka.flags && !ka.mask)
			continue;
		e = malloc(sizeof(*e));
		if (!e)
			return -ENOMEM;
		sigaction_entry__init(e);
		e->signo = sig;
		e->handler = ka.handler;
		e->flags = ka.flags;
		e->restorer = ka.restorer;
		e->mask = ka.mask;
		core->sigactions[core->n_sigactions++] = e;
	}
	return 0;
}

/* Process-wide syscalls: sigactions, personality, brk. */
static int dump_core_process_remote(struct puppet *p, struct dump_proc *proc)
{
	long res;
	int r;

	r = dump_core_sigactions(p, proc->core);
	if (r < 0)
		return r;
	r = puppet_syscall6(p, &res, SYS_personality, 0xffffffffULL, 0, 0, 0, 0, 0);
	r = dump_core_result(r, res, "the personality", p->tid);
	if (r < 0)
		return r;
	proc->core->personality = (uint32_t)res;
	r = dump_timers_itimers(p, proc->core);
	if (r < 0)
		return r;
	r = dump_timers_posix(p, proc->core);
	if (r < 0)
		return r;
	r = puppet_syscall6(p, &res, SYS_brk, 0, 0, 0, 0, 0, 0);
	if (r < 0)
		return dump_err_wrap(r, "cannot read brk");
	proc->brk = (uint64_t)res;
	return 0;
}

/* Everything that needs remote syscalls, with the scratch page mapped and
 * unmapped again, and the main thread put back, on every path. */
static int dump_core_remote(struct dump_proc *proc)
{
	TaskCoreEntry *core = proc->core;
	struct puppet p;
	int r, r2;

	r = puppet_init(&p, proc->pid, proc->pid);
	if (r < 0)
		return dump_err_wrap(r, "cannot take over pid %d", proc->pid);
	r = puppet_map_scratch(&p, 0, 0);
	if (r < 0) {
		r = dump_err_wrap(r, "cannot map a scratch page in pid %d", proc->pid);
		goto fini;
	}
	r = dump_core_process_remote(&p, proc);
	for (size_t i = 0; r == 0 && i < core->n_threads; i++) {
		if (core->threads[i]->tid == (uint32_t)proc->pid)
			r = dump_core_thread_remote(&p, core->threads[i]);
		else
			r = dump_core_other_thread_remote(&p, core->threads[i]);
	}
	r2 = puppet_unmap_scratch(&p);
	if (r == 0 && r2 < 0)
		r = dump_err_wrap(r2, "cannot unmap the scratch page of pid %d", proc->pid);
fini:
	r2 = puppet_fini(&p);
	if (r == 0 && r2 < 0)
		r = dump_err_wrap(r2, "cannot put pid %d back", proc->pid);
	return r;
}

static int dump_core_creds(const struct proc_status *st, TaskCoreEntry *core)
{
	CredsEntry *c = malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	creds_entry__init(c);
	core->creds = c;
	c->uid = st->uid[0], c->euid = st->uid[1], c->suid = st->uid[2], c->fsuid = st->uid[3];
	c->gid = st->gid[0], c->egid = st->gid[1], c->sgid = st->gid[2], c->fsgid = st->gid[3];
	if (st->ngroups) {
		c->groups = malloc(st->ngroups * sizeof(*c->groups));
		if (!c->groups)
			return -ENOMEM;
		memcpy(c->groups, st->groups, st->ngroups * sizeof(*c->groups));
		c->n_groups = st->ngroups;
	}
	c->cap_inh = st->cap_inh, c->cap_prm = st->cap_prm, c->cap_eff = st->cap_eff;
	c->cap_bnd = st->cap_bnd;
	c->has_cap_amb = c->has_no_new_privs = true;
	c->cap_amb = st->cap_amb;
	c->no_new_privs = st->no_new_privs;
	return 0;
}

static int dump_core_status(pid_t pid, TaskCoreEntry *core)
{
	struct proc_status st = { 0 };
	char *text;
	size_t len;
	int r;

	r = proc_read_file(pid, "status", &text, &len);
	if (r < 0)
		return err_setf(r, "cannot read /proc/%d/status: %s", pid, strerror(-r));
	r = proc_parse_status(text, len, &st);
	free(text);
	if (r < 0)
		return dump_err_wrap(r, "cannot parse /proc/%d/status", pid);
	core->umask = st.umask;
	core->comm = strdup(st.name);
	r = core->comm ? dump_core_creds(&st, core) : -ENOMEM;
	proc_status_fini(&st);
	return r;
}

static int dump_core_rlimits(pid_t pid, TaskCoreEntry *core)
{
	struct rlimit lim[RLIM_NLIMITS];
	char *text;
	size_t len;
	int r;

	r = proc_read_file(pid, "limits", &text, &len);
	if (r < 0)
		return err_setf(r, "cannot read /proc/%d/limits: %s", pid, strerror(-r));
	r = proc_parse_limits(text, len, lim);
	free(text);
	if (r < 0)
		return dump_err_wrap(r, "cannot parse /proc/%d/limits", pid);
	core->rlimits = calloc(RLIM_NLIMITS, sizeof(*core->rlimits));
	if (!core->rlimits)
		return -ENOMEM;
	for (int i = 0; i < RLIM_NLIMITS; i++) {
		RlimitEntry *e = malloc(sizeof(*e));

		if (!e)
			return -ENOMEM;
		rlimit_entry__init(e);
		e->resource = i;
		e->cur = lim[i].rlim_cur;
		e->max = lim[i].rlim_max;
		core->rlimits[core->n_rlimits++] = e;
	}
	return 0;
}

static int dump_core_link(pid_t pid, const char *name, char **ret)
{
	char path[64], buf[PATH_MAX + 1];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return err_setf(-errno, "cannot read %s: %m", path);
	buf[n] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

/* Process-wide state readable from /proc and ptrace. */
static int dump_core_process(struct dump_proc *proc)
{
	TaskCoreEntry *core = proc->core;
	int r;

	core->pid = proc->pid;
	core->has_stopped = true;
	core->stopped = proc->was_stopped;
	r = dump_core_status(proc->pid, core);
	if (r == 0)
		r = dump_core_rlimits(proc->pid, core);
	if (r == 0)
		r = dump_core_link(proc->pid, "cwd", &core->cwd);
	if (r == 0)
		r = dump_core_link(proc->pid, "root", &core->root);
	if (r == 0)
		r = dump_core_pending(proc->pid, true, &core->shared_pending,
				      &core->n_shared_pending);
	return r;
}

int dump_core_collect(struct dump_proc *proc)
{
	TaskCoreEntry *core;
	int r;

	core = malloc(sizeof(*core));
	if (!core)
		return err_setf(-ENOMEM, "out of memory");
	task_core_entry__init(core);
	proc->core = core;
	core->threads = calloc(proc->nr_threads, sizeof(*core->threads));
	if (!core->threads)
		return err_setf(-ENOMEM, "out of memory");
	for (size_t i = 0; i < proc->nr_threads; i++) {
		ThreadCoreEntry *t = malloc(sizeof(*t));

		if (!t)
			return err_setf(-ENOMEM, "out of memory");
		thread_core_entry__init(t);
		core->threads[core->n_threads++] = t;
		r = dump_core_thread(proc->pid, proc->threads[i].tid, t);
		if (r < 0)
			return r;
	}
	r = dump_core_process(proc);
	if (r < 0)
		return r;
	return dump_core_remote(proc);
}
