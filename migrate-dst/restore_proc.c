/*
 * restore_proc: the stages of a staged restore (see restore.h for the sequence).
 *
 * create makes a bare child with the wanted PID: clone3(set_tid) with every signal blocked,
 * and the child does nothing but wait in pause(); it is seized at once and emptied by remote
 * syscalls (restore_mm_empty). From then on, the one undo is to kill it (restore_proc_abort),
 * and PTRACE_O_EXITKILL does that too if we die. The child runs none of our code after the
 * clone3 returns in it, so nothing of our state (fds, handlers, memory) survives in it.
 */
#include "restore_internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "err.h"
#include "log.h"
#include "proc.h"

#define PID_WAIT_DEFAULT_MS 5000
#define PID_POLL_MS 20

uint64_t restore_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int restore_tty_fd(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (isatty(fd))
			return fd;
	return -1;
}

/* ---- PIDs ---- */

struct pid_holder {
	pid_t pid;
	char comm[64];
	char state;
	const char *role; /* "pid", "process group", "session" */
};

static void holder_set(struct pid_holder *h, const struct proc_stat *st, const char *role)
{
	h->pid = st->pid;
	h->state = st->state;
	h->role = role;
	snprintf(h->comm, sizeof(h->comm), "%s", st->comm);
}

/* 1 when id is used as a pid, pgid or sid; *h names a holder, a live one if there is any. */
static int pid_find_holder(pid_t id, struct pid_holder *h)
{
	struct proc_stat st;
	struct dirent *de;
	bool found = false;
	DIR *d;

	/* /proc/ID also answers for a thread ID that the listing does not show. */
	if (proc_read_stat(id, &st) == 0) {
		holder_set(h, &st, "pid");
		if (st.state != 'Z')
			return 1;
		found = true;
	}
	d = opendir("/proc");
	if (!d)
		return found;
	while ((de = readdir(d))) {
		pid_t n = (pid_t)strtol(de->d_name, NULL, 10);

		if (n <= 0 || proc_read_stat(n, &st) < 0 || (st.pgrp != id && st.session != id))
			continue;
		if (!found || st.state != 'Z')
			holder_set(h, &st, st.pgrp == id ? "process group" : "session");
		found = true;
		if (st.state != 'Z')
			break;
	}
	closedir(d);
	return found;
}

static int pid_taken_error(pid_t id, const struct pid_holder *h, int wait_ms)
{
	char zombie[64] = "";

	if (h->state == 'Z')
		snprintf(zombie, sizeof(zombie), ", not reaped within %d ms", wait_ms);

	if (h->pid == id)
		return log_error_errno(-EEXIST, "pid %d is taken by %s (pid %d, state %c%s): stop "
				       "it or restore elsewhere", id, h->comm, h->pid, h->state,
				       zombie);
	return log_error_errno(-EEXIST, "pid %d is taken as the %s of %s (pid %d, state %c%s): "
			       "stop it or restore elsewhere", id, h->role, h->comm, h->pid,
			       h->state, zombie);
}

int restore_pid_taken(pid_t id)
{
	struct pid_holder h;

	if (pid_find_holder(id, &h))
		return pid_taken_error(id, &h, 0);
	return log_error_errno(-EEXIST, "pid %d is taken (its holder is gone already): retry",
			       id);
}

/* Waits (up to wait_ms) while only zombies hold id: PID 1 here reaps them slowly. */
static int pid_wait_free(pid_t id, int wait_ms)
{
	uint64_t deadline = restore_now_ns() + (uint64_t)wait_ms * 1000000ULL;
	struct pid_holder h;
	bool waited = false;

	while (pid_find_holder(id, &h)) {
		if (h.state != 'Z' || restore_now_ns() >= deadline)
			return pid_taken_error(id, &h, wait_ms);
		if (!waited)
			log_debug("pid %d is held by the zombie %s (pid %d) as its %s: waiting up "
				  "to %d ms for it to be reaped", id, h.comm, h.pid, h.role,
				  wait_ms);
		waited = true;
		usleep(PID_POLL_MS * 1000);
	}
	return 0;
}

/* ---- create ---- */

/* A checked entry's process, not created yet; logs its error. */
static int proc_alloc(const PstreeEntry *pst, const struct restore_opts *opts,
		      struct restore_proc **ret)
{
	struct restore_proc *p;
	size_t cap;

	if (!pst || pst->pid == 0 || pst->pid > INT32_MAX ||
	    (pst->n_threads && pst->threads[0] != pst->pid))
		return log_error_errno(-EINVAL, "process tree entry: bad pid %u",
				       pst ? pst->pid : 0);
	cap = pst->n_threads ? pst->n_threads : 1;
	p = calloc(1, sizeof(*p));
	if (!p)
		return log_error_errno(-ENOMEM, "restore of pid %u", pst->pid);
	*p = (struct restore_proc){ .pgid = (pid_t)pst->pgid, .sid = (pid_t)pst->sid,
				    .shell_job = opts->shell_job, .detached = opts->detached,
				    .use_tty = opts->shell_job && restore_tty_fd() >= 0,
				    .pid_wait_ms = opts->pid_wait_ms > 0 ? opts->pid_wait_ms :
									   PID_WAIT_DEFAULT_MS,
				    .thread_cap = cap };
	p->tids = calloc(cap, sizeof(*p->tids));
	p->puppets = calloc(cap, sizeof(*p->puppets));
	if (!p->tids || !p->puppets) {
		restore_proc_free(p);
		return log_error_errno(-ENOMEM, "restore of pid %u", pst->pid);
	}
	for (size_t i = 0; i < cap; i++)
		p->puppets[i].mem_fd = -1;
	*ret = p;
	return 0;
}

static int proc_check_ids(const PstreeEntry *pst, int wait_ms)
{
	int r = pid_wait_free((pid_t)pst->pid, wait_ms);

	for (size_t i = 0; r == 0 && i < pst->n_threads; i++)
		if (pst->threads[i] != pst->pid)
			r = pid_wait_free((pid_t)pst->threads[i], wait_ms);
	return r;
}

int restore_proc_check_ids(const PstreeEntry *pst, const struct restore_opts *opts)
{
	return proc_check_ids(pst, opts->pid_wait_ms > 0 ? opts->pid_wait_ms : PID_WAIT_DEFAULT_MS);
}

/* The child: every signal blocked (inherited), it waits to be seized and emptied. */
static void proc_child(void) __attribute__((noreturn));

static void proc_child(void)
{
	for (;;)
		(void)syscall(SYS_pause);
}

static int proc_clone(struct restore_proc *p, uint64_t pid64)
{
	struct migrate_clone_args args = {
		.exit_signal = SIGCHLD,
		.set_tid = (uint64_t)(uintptr_t)&pid64,
		.set_tid_size = 1,
	};
	sigset_t all, old;
	long pid;
	int err;

	/* No signal may run one of our handlers in the child before it is seized. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid == 0)
		proc_child();
	err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		if (err == EEXIST)
			return restore_pid_taken((pid_t)pid64);
		return log_error_errno(-err, "cannot create pid %llu (clone3 with set_tid)",
				       (unsigned long long)pid64);
	}
	p->pid = (pid_t)pid;
	p->tids[0] = p->pid;
	p->thread_count = 1;
	return 0;
}

static int proc_seize(struct restore_proc *p)
{
	/* TRACEFORK: the children of a tree, forked by this puppet, start traced and stopped. */
	int r = puppet_seize(p->pid, PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_EXITKILL);

	if (r == 0)
		r = puppet_interrupt(p->pid);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot seize the new process: %s", p->pid,
				       err_detail());
	r = puppet_init(&p->puppets[0], p->pid, p->pid);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot take over the new process: %s", p->pid,
				       err_detail());
	return 0;
}

int restore_proc_create(const PstreeEntry *pst, const struct restore_opts *opts,
			struct restore_proc **ret)
{
	uint64_t t0 = restore_now_ns();
	struct restore_proc *p;
	int r;

	r = proc_alloc(pst, opts, &p);
	if (r < 0)
		return r;
	r = proc_check_ids(pst, p->pid_wait_ms);
	if (r == 0)
		r = proc_clone(p, pst->pid);
	if (r == 0)
		r = proc_seize(p);
	if (r == 0)
		r = restore_mm_empty(p);
	if (r == 0 && opts->new_ipc_ns)
		r = restore_ipc_enter_ns(p);
	if (r < 0) {
		restore_proc_free(p);
		return r;
	}
	p->timings.create_ns = restore_now_ns() - t0;
	log_debug("restore: pid %d created (bare) in %.3f ms", p->pid,
		  (double)p->timings.create_ns / 1e6);
	*ret = p;
	return 0;
}

/* ---- children of a tree ---- */

/* fork() with the pid preset, run by parent's puppet: the child is a copy of the bare parent
 * (scratch area, no fd) and, the parent being traced with PTRACE_O_TRACEFORK, starts traced
 * by us and stopped before it runs an instruction. */
static int proc_clone_remote(struct restore_proc *parent, struct restore_proc *p, pid_t pid)
{
	struct puppet *pp = &parent->puppets[0];
	uint64_t pid64 = (uint64_t)pid, pid_addr, args_addr;
	struct migrate_clone_args args = { .exit_signal = SIGCHLD, .set_tid_size = 1 };
	long rv;
	int status, r;

	puppet_push_reset(pp);
	r = puppet_push(pp, &pid64, sizeof(pid64), &pid_addr);
	args.set_tid = pid_addr;
	if (r == 0)
		r = puppet_push(pp, &args, sizeof(args), &args_addr);
	if (r == 0)
		r = puppet_syscall6(pp, &rv, SYS_clone3, args_addr, sizeof(args), 0, 0, 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: remote clone3 of its child %d: %s", parent->pid,
				       pid, err_detail());
	if (rv == -EEXIST)
		return restore_pid_taken(pid);
	if (rv < 0)
		return log_error_errno((int)rv, "pid %d: remote clone3 of its child %d",
				       parent->pid, pid);
	p->pid = (pid_t)rv;
	p->tids[0] = p->pid;
	p->thread_count = 1;
	if (rv != pid)
		return log_error_errno(-EINVAL, "pid %d: clone3 gave child %ld, not %d",
				       parent->pid, rv, pid);
	r = puppet_wait(pid, &status);
	if (r < 0)
		return log_error_errno(r, "pid %d: no initial stop: %s", pid, err_detail());
	return 0;
}

int restore_proc_create_child(struct restore_proc *parent, const PstreeEntry *pst,
			      const struct restore_opts *opts, struct restore_proc **ret)
{
	uint64_t t0 = restore_now_ns();
	struct restore_proc *p;
	int r;

	r = proc_alloc(pst, opts, &p);
	if (r < 0)
		return r;
	p->use_tty = false; /* only the root takes our terminal's session */
	r = proc_check_ids(pst, p->pid_wait_ms);
	if (r == 0)
		r = proc_clone_remote(parent, p, (pid_t)pst->pid);
	if (r == 0)
		r = puppet_init(&p->puppets[0], p->pid, p->pid);
	if (r < 0) {
		if (p->pid)
			log_error("pid %d: cannot take over the new process: %s", p->pid,
				  err_detail());
		restore_proc_free(p);
		return r;
	}
	/* Its copy of the parent's scratch area, at the same address. */
	puppet_adopt_scratch(&p->puppets[0], parent->puppets[0].scratch,
			     parent->puppets[0].scratch_size);
	p->timings.create_ns = restore_now_ns() - t0;
	log_debug("restore: pid %d created (bare) as a child of pid %d in %.3f ms", p->pid,
		  parent->pid, (double)p->timings.create_ns / 1e6);
	*ret = p;
	return 0;
}

/* Its name, as ps shows it: else it would be ours. */
static int zombie_name(struct restore_proc *p, const char *comm)
{
	char name[16] = "";
	uint64_t addr;
	int r;

	snprintf(name, sizeof(name), "%s", comm ? comm : "");
	if (!name[0])
		return 0;
	puppet_push_reset(&p->puppets[0]);
	r = puppet_push(&p->puppets[0], name, sizeof(name), &addr);
	if (r == 0)
		r = restore_call(&p->puppets[0], "prctl(PR_SET_NAME)", NULL, SYS_prctl, PR_SET_NAME,
				 addr, 0, 0, 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot name the zombie %s", p->pid, name);
	return 0;
}

/* exit_group run by the puppet: we see the exit as its tracer (-ESRCH), which leaves the
 * zombie to its parent; a second wait finds nothing. */
static int zombie_exit(struct restore_proc *p, int exit_code)
{
	int r, status;
	long rv;

	r = puppet_syscall6(&p->puppets[0], &rv, SYS_exit_group, (uint64_t)(exit_code & 0xff), 0,
			    0, 0, 0, 0);
	if (r == 0 || waitpid(p->pid, &status, __WALL | WNOHANG) > 0)
		return log_error_errno(-EIO, "pid %d: remote exit_group(%d) did not end it",
				       p->pid, exit_code);
	return 0;
}

/* Killed by sig: its default action (no core file: RLIMIT_CORE 0), everything unblocked,
 * delivered as we let it go, so that its parent's wait sees WIFSIGNALED with sig. */
static int zombie_signal(struct restore_proc *p, int sig)
{
	struct restore_ksigaction dfl = { 0 };
	struct puppet *pp = &p->puppets[0];
	uint64_t act, lim;
	int r;

	if (sig <= 0 || sig > RESTORE_NSIG || sig == SIGSTOP)
		return log_error_errno(-EINVAL, "pid %d: a zombie killed by signal %d?", p->pid,
				       sig);
	puppet_push_reset(pp);
	r = puppet_push(pp, &dfl, sizeof(dfl), &act);
	if (r == 0)
		r = puppet_push(pp, &(struct rlimit){ 0, 0 }, sizeof(struct rlimit), &lim);
	if (r == 0 && sig != SIGKILL)
		r = restore_call(pp, "rt_sigaction", NULL, SYS_rt_sigaction, (uint64_t)sig, act, 0,
				 8, 0, 0);
	if (r == 0)
		r = restore_call(pp, "prlimit64", NULL, SYS_prlimit64, 0, RLIMIT_CORE, lim, 0, 0, 0);
	if (r == 0)
		r = puppet_set_sigmask(p->pid, 0);
	if (r == 0)
		r = puppet_detach(p->pid, sig == SIGKILL ? 0 : sig);
	if (r == 0 && sig == SIGKILL && kill(p->pid, SIGKILL) < 0)
		r = -errno;
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot end it by signal %d: %s", p->pid, sig,
				       err_detail());
	return 0;
}

int restore_proc_zombie(struct restore_proc *p, const PstreeEntry *ps)
{
	bool signaled = ps->has_term_signal && ps->term_signal;
	struct proc_stat st;
	int r = zombie_name(p, ps->comm);

	if (r == 0 && signaled)
		r = zombie_signal(p, ps->term_signal);
	else if (r == 0)
		r = zombie_exit(p, ps->has_exit_code ? ps->exit_code : 0);
	if (r < 0)
		return r;
	for (int i = 0; i < 1000 && (proc_read_stat(p->pid, &st) < 0 || st.state != 'Z'); i++)
		usleep(1000);
	if (proc_read_stat(p->pid, &st) < 0 || st.state != 'Z')
		return log_error_errno(-EIO, "pid %d: not a zombie of its parent after its end",
				       p->pid);
	puppet_release(&p->puppets[0]);
	p->resumed = true; /* nothing to kill or reap any more */
	return 0;
}

/* ---- finish, resume ---- */

static int proc_grow(struct restore_proc *p, size_t n)
{
	pid_t *tids;
	struct puppet *pp;

	if (n <= p->thread_cap)
		return 0;
	tids = realloc(p->tids, n * sizeof(*tids));
	if (tids)
		p->tids = tids;
	pp = tids ? realloc(p->puppets, n * sizeof(*pp)) : NULL;
	if (!pp)
		return log_error_errno(-ENOMEM, "pid %d: threads", p->pid);
	p->puppets = pp;
	for (size_t i = p->thread_cap; i < n; i++)
		p->puppets[i] = (struct puppet){ .mem_fd = -1 };
	p->thread_cap = n;
	return 0;
}

static int proc_check_task(const struct restore_proc *p, const struct image_task *t)
{
	const TaskCoreEntry *core = t->core;

	if (t->pstree->pid != (uint32_t)p->pid || !core->n_threads ||
	    core->threads[0]->tid != (uint32_t)p->pid)
		return log_error_errno(-EINVAL, "pid %d: the image is of pid %u (main thread %u)",
				       p->pid, t->pstree->pid,
				       core->n_threads ? core->threads[0]->tid : 0);
	return 0;
}

int restore_proc_finish(struct restore_proc *p, const struct image_task *t,
			const struct restore_opts *opts)
{
	uint64_t t0 = restore_now_ns();
	int r = proc_check_task(p, t);

	(void)opts; /* copied at create: the options cannot change in between */
	if (r == 0)
		r = proc_grow(p, t->core->n_threads);
	if (r < 0)
		return r;
	p->img = t;
	p->stopped = t->core->has_stopped && t->core->stopped;
	r = restore_mm_finish(p);
	if (r == 0)
		r = restore_files_run(p);
	if (r == 0)
		r = restore_core_run(p);
	p->img = NULL;
	if (r == 0)
		p->timings.finish_ns = restore_now_ns() - t0;
	return r;
}

static void tty_give(int tty, pid_t pgrp)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;

	/* A background group changing the foreground gets SIGTTOU. */
	sigaction(SIGTTOU, &ign, &old);
	if (tcsetpgrp(tty, pgrp) < 0)
		log_debug("cannot give the terminal to process group %d: %s", pgrp,
			  strerror(errno));
	sigaction(SIGTTOU, &old, NULL);
}

void restore_tty_give(int tty, pid_t pgrp)
{
	tty_give(tty, pgrp);
}

/* A shell job gets the foreground before it runs, so that it never touches the terminal from
 * the background (SIGTTIN/SIGTTOU); we take it back if the detach fails. */
int restore_proc_resume(struct restore_proc *p)
{
	uint64_t t0 = restore_now_ns();
	bool fg = p->use_tty && !p->detached && p->pgid == p->pid;
	int r;

	if (fg)
		tty_give(restore_tty_fd(), p->pid);
	r = restore_core_detach(p);
	if (r < 0) {
		if (fg)
			tty_give(restore_tty_fd(), getpgrp());
		return r;
	}
	p->resumed = true;
	p->timings.resume_ns = restore_now_ns() - t0;
	return 0;
}

/* ---- abort, free ---- */

/* Kills what was created and reaps it: threads first, the leader reports last. */
void restore_proc_abort(struct restore_proc *p)
{
	int status;

	if (!p || p->pid <= 0 || p->resumed)
		return;
	(void)kill(p->pid, SIGKILL);
	for (size_t i = 1; i < p->thread_count; i++)
		(void)waitpid(p->tids[i], &status, __WALL);
	while (waitpid(p->pid, &status, __WALL) == p->pid && !WIFEXITED(status) &&
	       !WIFSIGNALED(status))
		;
	log_debug("pid %d: killed after the failed restore", p->pid);
	p->pid = 0;
	p->thread_count = 0;
}

void restore_proc_free(struct restore_proc *p)
{
	if (!p)
		return;
	restore_proc_abort(p);
	for (size_t i = 0; p->puppets && i < p->thread_cap; i++)
		puppet_release(&p->puppets[i]);
	restore_mm_layout_free(p);
	free(p->puppets);
	free(p->tids);
	free(p);
}

pid_t restore_proc_pid(const struct restore_proc *p)
{
	return p->pid;
}

void restore_proc_timings(const struct restore_proc *p, struct restore_timings *ret)
{
	*ret = p->timings;
}
