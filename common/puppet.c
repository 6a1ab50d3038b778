/*
 * puppet: ptrace seize/interrupt/detach, registers, and remote syscalls.
 *
 * x86_64 only. The agent drives each task from one thread (ptrace requests
 * must come from the tracing thread anyway); only the pending-signal table
 * below is shared, and it has its own lock.
 *
 * How the stops behave (observed on Linux 6.18, x86_64, and asserted by
 * test/unit/test_puppet.c unless marked "documented"; the dump and restore
 * engines rely on this; "status" is the waitpid status):
 *
 *   PTRACE_SEIZE                no stop, no signal; the task keeps running.
 *   PTRACE_INTERRUPT            WIFSTOPPED, WSTOPSIG == SIGTRAP,
 *                               status >> 16 == PTRACE_EVENT_STOP. A task inside a
 *                               blocking syscall (read, nanosleep...) leaves it
 *                               and stops with orig_rax = the syscall number,
 *                               rax = -ERESTARTSYS (-512) for read,
 *                               -ERESTART_RESTARTBLOCK (-516) for nanosleep, and
 *                               rip just after the `syscall` instruction.
 *                               (documented) A group-stopped task reports
 *                               PTRACE_EVENT_STOP too, WSTOPSIG = the stop signal.
 *   signal before the trap      if a signal reached the task before it saw the
 *                               interrupt, the first stop is a signal-delivery
 *                               stop (status >> 16 == 0, WSTOPSIG = that signal);
 *                               puppet_interrupt saves its siginfo in the table
 *                               below, suppresses it (PTRACE_CONT 0), and waits
 *                               again for the PTRACE_EVENT_STOP.
 *   remote syscall trap         `syscall; int3`: the int3 raises SIGTRAP
 *                               (si_code SI_KERNEL), reported as a
 *                               signal-delivery stop: status >> 8 == SIGTRAP,
 *                               rip == start + 3, rax == the result.
 *   PTRACE_EVENT_CLONE/FORK/VFORK  (with the PTRACE_O_TRACE* options) a remote
 *                               clone stops first with
 *                               status >> 8 == SIGTRAP | (event << 8); the new
 *                               TID is PTRACE_GETEVENTMSG; puppet_syscall continues
 *                               (sig 0) to the int3. The new thread starts in a
 *                               PTRACE_EVENT_STOP of its own (waitpid(newtid,
 *                               __WALL)) before running an instruction.
 *   munmap of the scratch       the return to scratch + 2 faults: SIGSEGV
 *                               (SEGV_MAPERR, si_addr = scratch + 2) as a
 *                               signal-delivery stop with rip == scratch + 2.
 *                               It stays "pending" in that stop only: the next
 *                               continue/detach with sig 0 discards it.
 *   death                       WIFEXITED/WIFSIGNALED for the tid: -ESRCH (that
 *                               wait reaped it when we are also its parent).
 *   killing a puppet            a traced thread that dies stays a zombie until its
 *                               tracer reaps it (waitpid(tid, __WALL)), and the group
 *                               leader cannot be reaped before: reap threads first.
 *
 * After puppet_fini the task sits in the signal-delivery stop of the last
 * trap (SIGTRAP, or SIGSEGV after puppet_unmap_scratch) with its own registers
 * back. PTRACE_DETACH/PTRACE_CONT with sig 0 discards that trap signal and the
 * kernel's syscall-restart logic then sees the saved orig_rax/rax: a read()
 * that was interrupted is re-entered transparently, a nanosleep continues via
 * restart_syscall (so remote syscalls must not themselves be ones that set
 * current->restart_block, e.g. nanosleep/poll/futex with timeouts, or the
 * interrupted one restarts with the wrong block).
 *
 * Signal mask during remote syscalls: everything blocked *except SIGTRAP and
 * SIGSEGV*. The kernel's forced signals (int3's SIGTRAP, the fault's SIGSEGV)
 * reset the handler of a *blocked* signal to SIG_DFL process-wide
 * (force_sig_info_to_task), which would destroy a program's SIGSEGV handler;
 * leaving the two unblocked keeps every handler (a SIG_IGN disposition of
 * SIGTRAP/SIGSEGV is still reset to SIG_DFL by the kernel: a known limit).
 * A SIGTRAP/SIGSEGV sent by someone else meanwhile is stashed like any other
 * early signal (below) and never runs a handler while we hold the task.
 *
 * The bootstrap (puppet_map_scratch) patches the code at the saved rip for one
 * syscall: every other thread of the process must be stopped meanwhile. The
 * scratch area is 16 KiB when size 0 is asked; its first 16 bytes hold the
 * code, pushed arguments follow.
 *
 * Signals that must not be lost (the choice asked for in the design): a
 * signal we have to suppress in a signal-delivery stop (the task had already
 * dequeued it) goes with its siginfo into a per-tid table. puppet_detach gives
 * them back: the first is re-injected exactly (PTRACE_SETSIGINFO + detach with
 * its number) when the task sits in a signal-delivery stop, the others are
 * queued again with rt_tgsigqueueinfo, or tgkill when the kernel refuses a
 * foreign si_code (then the sender's siginfo is replaced by ours: SI_TKILL).
 */
#include "puppet.h"
#include "compat.h"

#include "err.h"
#include "log.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PUPPET_PAGE 4096UL
#define PUPPET_DEFAULT_SCRATCH (16 * 1024UL)
/* Pushed data starts here; the code (syscall; int3) sits at the start. */
#define PUPPET_CODE_LEN 16
#define PUPPET_XSTATE_MAX (64 * 1024)
#define PUPPET_STASH_MAX 8

static const uint8_t puppet_code[3] = { 0x0f, 0x05, 0xcc }; /* syscall; int3 */

/* ---- the per-tid table of signals to give back on detach ---- */

struct puppet_stash {
	pid_t tid;
	int count;
	siginfo_t info[PUPPET_STASH_MAX];
};

static pthread_mutex_t puppet_stash_lock = PTHREAD_MUTEX_INITIALIZER;
static struct puppet_stash *puppet_stashes;
static size_t puppet_stash_len;

static struct puppet_stash *puppet_stash_find(pid_t tid, bool create)
{
	for (size_t i = 0; i < puppet_stash_len; i++)
		if (puppet_stashes[i].tid == tid)
			return &puppet_stashes[i];
	if (!create)
		return NULL;
	struct puppet_stash *n = realloc(puppet_stashes, (puppet_stash_len + 1) * sizeof(*n));
	if (!n)
		return NULL;
	puppet_stashes = n;
	n = &puppet_stashes[puppet_stash_len++];
	memset(n, 0, sizeof(*n));
	n->tid = tid;
	return n;
}

/* Remembers a signal the task had dequeued and that we suppress. */
static int puppet_stash_add(pid_t tid, const siginfo_t *si)
{
	int r = 0;
	pthread_mutex_lock(&puppet_stash_lock);
	struct puppet_stash *s = puppet_stash_find(tid, true);
	if (!s)
		r = err_setf(-ENOMEM, "tid %d: no memory to keep signal %d", tid, si->si_signo);
	else if (s->count == PUPPET_STASH_MAX)
		r = err_setf(-ENOSPC, "tid %d: more than %d signals arrived while stopped", tid,
			     PUPPET_STASH_MAX);
	else
		s->info[s->count++] = *si;
	pthread_mutex_unlock(&puppet_stash_lock);
	if (r == 0)
		log_debug("puppet: tid %d: keeping signal %d (code %d) for detach", tid,
			  si->si_signo, si->si_code);
	return r;
}

/* Moves the stash of tid out of the table into *ret (count 0 if none). */
static void puppet_stash_take(pid_t tid, struct puppet_stash *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&puppet_stash_lock);
	struct puppet_stash *s = puppet_stash_find(tid, false);
	if (s) {
		*ret = *s;
		*s = puppet_stashes[--puppet_stash_len];
		if (puppet_stash_len == 0) {
			free(puppet_stashes);
			puppet_stashes = NULL;
		}
	}
	pthread_mutex_unlock(&puppet_stash_lock);
}

static pid_t puppet_tgid_of(pid_t tid)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	pid_t tgid = -ESRCH;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

/* Queues a signal to tid again, with its siginfo when the kernel allows it. */
static int puppet_requeue(pid_t tid, const siginfo_t *si)
{
	pid_t tgid = puppet_tgid_of(tid);
	if (tgid < 0)
		return err_setf(-ESRCH, "tid %d is gone: cannot give back signal %d", tid,
				si->si_signo);
	siginfo_t copy = *si;
	if (syscall(SYS_rt_tgsigqueueinfo, tgid, tid, si->si_signo, &copy) == 0)
		return 0;
	/* si_code >= 0 (kernel or kill()) may not be forged by another process. */
	if (syscall(SYS_tgkill, tgid, tid, si->si_signo) == 0)
		return 0;
	return err_setf(-errno, "tid %d: cannot queue signal %d again: %s", tid, si->si_signo,
			strerror(errno));
}

/* ---- seize, interrupt, wait, detach ---- */

int puppet_seize(pid_t tid, unsigned long options)
{
	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)options) == 0)
		return 0;
	int e = errno;
	if (e == EPERM)
		return err_setf(-EPERM,
				"PTRACE_SEIZE of tid %d refused: it is traced by another process "
				"(see TracerPid in /proc/%d/status) or we lack the rights",
				tid, tid);
	return err_setf(-e, "PTRACE_SEIZE of tid %d: %s", tid, strerror(e));
}

int puppet_wait(pid_t tid, int *ret_status)
{
	int status;
	for (;;) {
		pid_t r = waitpid(tid, &status, __WALL);
		if (r == tid)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ECHILD)
			return err_setf(-ESRCH, "tid %d: not traced by us or gone", tid);
		return err_setf(-errno, "waitpid(%d): %s", tid, strerror(errno));
	}
	*ret_status = status;
	if (WIFEXITED(status))
		return err_setf(-ESRCH, "tid %d exited with status %d", tid, WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return err_setf(-ESRCH, "tid %d was killed by signal %d", tid, WTERMSIG(status));
	return 0;
}

static int puppet_cont(pid_t tid, int sig)
{
	if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig) == 0)
		return 0;
	int e = errno;
	return err_setf(-e, "PTRACE_CONT of tid %d: %s", tid, strerror(e));
}

static int puppet_getsiginfo(pid_t tid, siginfo_t *si)
{
	if (ptrace(PTRACE_GETSIGINFO, tid, NULL, si) == 0)
		return 0;
	int e = errno;
	return err_setf(-e, "PTRACE_GETSIGINFO of tid %d: %s", tid, strerror(e));
}

/* A signal-delivery stop we must not act on now: keep the signal, discard it here. */
static int puppet_stash_and_cont(pid_t tid)
{
	siginfo_t si;
	int r = puppet_getsiginfo(tid, &si);
	if (r == 0)
		r = puppet_stash_add(tid, &si);
	if (r == 0)
		r = puppet_cont(tid, 0);
	return r;
}

int puppet_interrupt(pid_t tid)
{
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0) {
		int e = errno;
		return err_setf(-e, "PTRACE_INTERRUPT of tid %d: %s", tid, strerror(e));
	}
	for (;;) {
		int status, r = puppet_wait(tid, &status);
		if (r < 0)
			return r;
		int event = status >> 16;
		if (event == PTRACE_EVENT_STOP)
			return 0;
		if (event == 0 && WSTOPSIG(status) != (SIGTRAP | 0x80))
			r = puppet_stash_and_cont(tid);
		else /* another event (clone, exec...) reported first: let it go on */
			r = puppet_cont(tid, 0);
		if (r < 0)
			return r;
	}
}

/* True when tid sits in a signal-delivery stop (where an injected signal is honoured). */
static bool puppet_in_signal_stop(pid_t tid)
{
	siginfo_t si;
	if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) < 0)
		return false; /* group-stop: EINVAL */
	/* ptrace events report si_code = SIGTRAP | event << 8 */
	return !(si.si_signo == SIGTRAP && (si.si_code & 0xff) == SIGTRAP && si.si_code >> 8);
}

int puppet_detach(pid_t tid, int sig)
{
	struct puppet_stash s;
	puppet_stash_take(tid, &s);
	bool signal_stop = puppet_in_signal_stop(tid);
	int first = 0;
	int r = 0;
	/* Injection at detach works only from a signal-delivery stop; elsewhere
	 * the kernel ignores it silently, so queue the signal instead. */
	if (sig && !signal_stop) {
		siginfo_t si = { .si_signo = sig, .si_code = SI_TKILL, .si_pid = getpid() };
		r = puppet_requeue(tid, &si);
		sig = 0;
	}
	if (!sig && signal_stop && s.count > 0 &&
	    ptrace(PTRACE_SETSIGINFO, tid, NULL, &s.info[0]) == 0) {
		sig = s.info[0].si_signo;
		first = 1;
	}
	for (int i = first; i < s.count && r == 0; i++)
		r = puppet_requeue(tid, &s.info[i]);
	log_debug("puppet: detach tid %d: in signal stop %d, %d kept, delivering %d", tid,
		  signal_stop, s.count, sig);
	if (ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig) < 0) {
		int e = errno;
		return err_setf(-e, "PTRACE_DETACH of tid %d: %s", tid, strerror(e));
	}
	return r;
}

/* ---- registers and signal state ---- */

int puppet_get_regs(pid_t tid, struct user_regs_struct *ret)
{
	struct user_regs_struct regs;
	struct iovec iov = { .iov_base = &regs, .iov_len = sizeof(regs) };
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0) {
		int e = errno;
		return err_setf(-e, "PTRACE_GETREGSET(NT_PRSTATUS) of tid %d: %s", tid,
				strerror(e));
	}
	*ret = regs;
	return 0;
}

int puppet_set_regs(pid_t tid, const struct user_regs_struct *regs)
{
	struct iovec iov = { .iov_base = (void *)regs, .iov_len = sizeof(*regs) };
	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0) {
		int e = errno;
		return err_setf(-e, "PTRACE_SETREGSET(NT_PRSTATUS) of tid %d: %s", tid,
				strerror(e));
	}
	return 0;
}

int puppet_get_xstate(pid_t tid, void **ret_buf, size_t *ret_len)
{
	/* 64 KiB covers every XSAVE layout (AVX-512 + AMX is ~11 KiB); the
	 * kernel shrinks iov_len to the task's real size. */
	void *buf = calloc(1, PUPPET_XSTATE_MAX);
	if (!buf)
		return err_setf(-ENOMEM, "no memory for the xstate of tid %d", tid);
	struct iovec iov = { .iov_base = buf, .iov_len = PUPPET_XSTATE_MAX };
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0) {
		int e = errno;
		free(buf);
		return err_setf(-e, "PTRACE_GETREGSET(NT_X86_XSTATE) of tid %d: %s", tid,
				strerror(e));
	}
	void *small = realloc(buf, iov.iov_len);
	*ret_buf = small ? small : buf;
	*ret_len = iov.iov_len;
	return 0;
}

int puppet_set_xstate(pid_t tid, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0) {
		int e = errno;
		return err_setf(-e, "PTRACE_SETREGSET(NT_X86_XSTATE, %zu bytes) of tid %d: %s", len,
				tid, strerror(e));
	}
	return 0;
}

int puppet_get_sigmask(pid_t tid, uint64_t *ret_mask)
{
	uint64_t mask = 0; /* zeroed for valgrind, which does not model GETSIGMASK */
	if (ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(mask), &mask) < 0) {
		int e = errno;
		return err_setf(-e, "PTRACE_GETSIGMASK of tid %d: %s", tid, strerror(e));
	}
	*ret_mask = mask;
	return 0;
}

int puppet_set_sigmask(pid_t tid, uint64_t mask)
{
	if (ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(mask), &mask) < 0) {
		int e = errno;
		return err_setf(-e, "PTRACE_SETSIGMASK of tid %d: %s", tid, strerror(e));
	}
	return 0;
}

int puppet_peek_siginfo(pid_t tid, bool shared, void **ret_buf, size_t *ret_count)
{
	siginfo_t *all = NULL;
	size_t count = 0;
	for (;;) {
		siginfo_t *n = realloc(all, (count + 32) * sizeof(*all));
		if (!n) {
			free(all);
			return err_setf(-ENOMEM, "no memory for the pending signals of tid %d",
					tid);
		}
		all = n;
		/* zeroed for valgrind, which does not model PEEKSIGINFO */
		memset(all + count, 0, 32 * sizeof(*all));
		struct __ptrace_peeksiginfo_args a = {
			.off = count,
			.flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0,
			.nr = 32,
		};
		long got = ptrace(PTRACE_PEEKSIGINFO, tid, &a, all + count);
		if (got < 0) {
			int e = errno;
			free(all);
			return err_setf(-e, "PTRACE_PEEKSIGINFO of tid %d: %s", tid, strerror(e));
		}
		if (got == 0)
			break;
		count += got;
	}
	*ret_buf = all;
	*ret_count = count;
	return 0;
}

/* ---- memory ---- */

int puppet_mem_read(struct puppet *p, uint64_t addr, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(p->mem_fd, (char *)buf + done, len - done, (off_t)(addr + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_setf(n < 0 ? -errno : -EIO,
					"tid %d: read of %zu bytes at %#llx: %s", p->tid, len,
					(unsigned long long)addr,
					n < 0 ? strerror(errno) : "short read");
		done += n;
	}
	return 0;
}

int puppet_mem_write(struct puppet *p, uint64_t addr, const void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(p->mem_fd, (const char *)buf + done, len - done,
				   (off_t)(addr + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_setf(n < 0 ? -errno : -EIO,
					"tid %d: write of %zu bytes at %#llx: %s", p->tid, len,
					(unsigned long long)addr,
					n < 0 ? strerror(errno) : "short write");
		done += n;
	}
	return 0;
}

/* ---- remote syscalls ---- */

/* Every signal blocked but the two the kernel forces on us (see the top). */
static uint64_t puppet_quiet_mask(void)
{
	return ~0ULL & ~(1ULL << (SIGTRAP - 1)) & ~(1ULL << (SIGSEGV - 1));
}

int puppet_init(struct puppet *p, pid_t pid, pid_t tid)
{
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->tid = tid;
	p->mem_fd = -1;
	int r = puppet_get_regs(tid, &p->saved_regs);
	if (r == 0)
		r = puppet_get_sigmask(tid, &p->saved_sigmask);
	if (r < 0)
		return r;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	p->mem_fd = open(path, O_RDWR | O_CLOEXEC);
	if (p->mem_fd < 0)
		return err_setf(-errno, "cannot open %s: %s", path, strerror(errno));
	r = puppet_set_sigmask(tid, puppet_quiet_mask());
	if (r < 0) {
		close(p->mem_fd);
		p->mem_fd = -1;
	}
	return r;
}

static bool puppet_is_trap(pid_t tid, int status, uint64_t trap_rip, int sig, long *ret_rax)
{
	if ((status >> 8) != sig)
		return false;
	struct user_regs_struct regs;
	if (puppet_get_regs(tid, &regs) < 0 || regs.rip != trap_rip)
		return false;
	*ret_rax = (long)regs.rax;
	return true;
}

/* A stop on the way to our trap: continue past events and stash others'
 * signals; return 1 to keep waiting, <0 to fail. */
static int puppet_pass_stop(struct puppet *p, int status)
{
	int event = status >> 16, sig = WSTOPSIG(status);
	if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK ||
	    event == PTRACE_EVENT_VFORK || event == PTRACE_EVENT_VFORK_DONE ||
	    event == PTRACE_EVENT_STOP)
		return puppet_cont(p->tid, 0) ?: 1;
	if (event == PTRACE_EVENT_EXIT)
		return err_setf(-ESRCH, "tid %d is exiting during a remote syscall", p->tid);
	if (event)
		return err_setf(-EIO, "tid %d: unexpected ptrace event %d during a remote syscall",
				p->tid, event);
	siginfo_t si;
	int r = puppet_getsiginfo(p->tid, &si);
	if (r < 0)
		return r;
	/* A fault of our own code (si_code > 0 from the kernel) will not go away. */
	if (si.si_code > 0 &&
	    (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP))
		return err_setf(-EFAULT, "tid %d: signal %d (code %d, addr %p) in a remote syscall",
				p->tid, sig, si.si_code, si.si_addr);
	return puppet_stash_and_cont(p->tid) ?: 1;
}

/*
 * Sets regs, continues, and waits for the trap: SIGTRAP at trap_rip, or when
 * segv_rip is not 0, SIGSEGV at segv_rip (the munmap of the code itself).
 * *ret_rax is rax at the trap; *ret_segv tells which one came.
 */
static int puppet_run(struct puppet *p, const struct user_regs_struct *regs, uint64_t trap_rip,
		      uint64_t segv_rip, long *ret_rax, bool *ret_segv)
{
	int r = puppet_set_regs(p->tid, regs);
	if (r == 0)
		r = puppet_cont(p->tid, 0);
	while (r == 0) {
		int status;
		r = puppet_wait(p->tid, &status);
		if (r < 0)
			break;
		*ret_segv = false;
		if (puppet_is_trap(p->tid, status, trap_rip, SIGTRAP, ret_rax))
			return 0;
		*ret_segv = true;
		if (segv_rip && puppet_is_trap(p->tid, status, segv_rip, SIGSEGV, ret_rax))
			return 0;
		r = puppet_pass_stop(p, status);
		if (r == 1)
			r = 0;
	}
	return r;
}

/* The task's own registers (segments, flags, fs/gs base, rsp) with the syscall in them. */
static void puppet_prepare(struct puppet *p, struct user_regs_struct *regs, uint64_t rip, long nr,
			   const uint64_t a[6])
{
	*regs = p->saved_regs;
	regs->rip = rip;
	regs->rax = nr;
	regs->orig_rax = -1; /* no syscall-restart logic may rewind rip */
	regs->rdi = a[0];
	regs->rsi = a[1];
	regs->rdx = a[2];
	regs->r10 = a[3];
	regs->r8 = a[4];
	regs->r9 = a[5];
}

/* Puts "what nr: " before the current detail (copied: err_setf writes the same buffer). */
static int puppet_err_prefix(int r, const char *what, long nr)
{
	char detail[512];
	snprintf(detail, sizeof(detail), "%s", err_detail());
	return err_setf(r, "%s %ld: %s", what, nr, detail);
}

/* Runs one syscall from `syscall; int3` written over the code at the saved
 * rip, putting the code back afterwards whatever happens. */
static int puppet_inject_at_rip(struct puppet *p, long nr, const uint64_t a[6], long *ret_result)
{
	uint64_t at = p->saved_regs.rip;
	uint8_t orig[sizeof(puppet_code)];
	int r = puppet_mem_read(p, at, orig, sizeof(orig));
	if (r < 0)
		return r;
	r = puppet_mem_write(p, at, puppet_code, sizeof(puppet_code));
	if (r < 0)
		return r;
	struct user_regs_struct regs;
	puppet_prepare(p, &regs, at, nr, a);
	bool segv;
	long rax = 0;
	r = puppet_run(p, &regs, at + sizeof(puppet_code), 0, &rax, &segv);
	int undo = puppet_mem_write(p, at, orig, sizeof(orig));
	if (r == 0 && undo < 0)
		r = undo;
	if (r == 0)
		*ret_result = rax;
	return r;
}

int puppet_map_scratch(struct puppet *p, uint64_t hint, size_t size)
{
	if (size == 0)
		size = PUPPET_DEFAULT_SCRATCH;
	size = (size + PUPPET_PAGE - 1) & ~(PUPPET_PAGE - 1);
	uint64_t a[6] = { hint,
			  size,
			  PROT_READ | PROT_WRITE | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS | (hint ? MAP_FIXED_NOREPLACE : 0),
			  (uint64_t)-1,
			  0 };
	long addr;
	int r = puppet_inject_at_rip(p, SYS_mmap, a, &addr);
	if (r < 0)
		return r;
	if (addr < 0 && addr > -4096)
		return err_setf((int)addr, "tid %d: remote mmap of %zu bytes at %#llx: %s", p->tid,
				size, (unsigned long long)hint, strerror((int)-addr));
	if (hint && (uint64_t)addr != hint) {
		uint64_t u[6] = { (uint64_t)addr, size };
		long ignored;
		(void)!puppet_inject_at_rip(p, SYS_munmap, u, &ignored);
		return err_setf(-EEXIST, "tid %d: scratch wanted at %#llx, kernel gave %#lx",
				p->tid, (unsigned long long)hint, addr);
	}
	r = puppet_mem_write(p, (uint64_t)addr, puppet_code, sizeof(puppet_code));
	if (r < 0) {
		uint64_t u[6] = { (uint64_t)addr, size };
		long ignored;
		(void)!puppet_inject_at_rip(p, SYS_munmap, u, &ignored);
		return r;
	}
	puppet_adopt_scratch(p, (uint64_t)addr, size);
	return 0;
}

void puppet_adopt_scratch(struct puppet *p, uint64_t addr, size_t size)
{
	p->scratch = addr;
	p->scratch_size = size;
	p->scratch_used = 0;
}

int puppet_syscall(struct puppet *p, long nr, const uint64_t args[6], long *ret_result)
{
	if (!p->scratch)
		return err_setf(-EINVAL, "tid %d: remote syscall %ld without a scratch area",
				p->tid, nr);
	/* Rewritten every time: adopted areas, or a caller's mem_write, may have
	 * covered it; 3 bytes cost nothing beside the ptrace round trip. */
	int r = puppet_mem_write(p, p->scratch, puppet_code, sizeof(puppet_code));
	if (r < 0)
		return r;
	struct user_regs_struct regs;
	puppet_prepare(p, &regs, p->scratch, nr, args);
	bool segv;
	long rax = 0;
	r = puppet_run(p, &regs, p->scratch + sizeof(puppet_code), 0, &rax, &segv);
	if (r < 0)
		return puppet_err_prefix(r, "remote syscall", nr);
	*ret_result = rax;
	return 0;
}

int puppet_syscall6(struct puppet *p, long *ret_result, long nr, uint64_t a1, uint64_t a2,
		    uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	const uint64_t args[6] = { a1, a2, a3, a4, a5, a6 };
	return puppet_syscall(p, nr, args, ret_result);
}

int puppet_push(struct puppet *p, const void *data, size_t len, uint64_t *ret_addr)
{
	size_t off = PUPPET_CODE_LEN + ((p->scratch_used + 7) & ~7UL);
	if (!p->scratch || off > p->scratch_size || len > p->scratch_size - off)
		return err_setf(-ENOSPC,
				"tid %d: %zu bytes do not fit in the scratch area (%zu of %zu "
				"used)",
				p->tid, len, p->scratch_used, p->scratch_size);
	int r = puppet_mem_write(p, p->scratch + off, data, len);
	if (r < 0)
		return r;
	p->scratch_used = off - PUPPET_CODE_LEN + len;
	*ret_addr = p->scratch + off;
	return 0;
}

void puppet_push_reset(struct puppet *p)
{
	p->scratch_used = 0;
}

int puppet_unmap_scratch(struct puppet *p)
{
	if (!p->scratch)
		return 0;
	int r = puppet_mem_write(p, p->scratch, puppet_code, sizeof(puppet_code));
	if (r < 0)
		return r;
	uint64_t a[6] = { p->scratch, p->scratch_size };
	struct user_regs_struct regs;
	puppet_prepare(p, &regs, p->scratch, SYS_munmap, a);
	bool segv = false;
	long rax = 0;
	r = puppet_run(p, &regs, p->scratch + sizeof(puppet_code), p->scratch + 2, &rax, &segv);
	if (r < 0)
		return puppet_err_prefix(r, "remote munmap of the scratch area, syscall",
					 SYS_munmap);
	/* No fault means the int3 was still there: munmap failed. */
	if (!segv)
		return err_setf(rax < 0 ? (int)rax : -EIO,
				"tid %d: remote munmap(%#llx) returned %ld", p->tid,
				(unsigned long long)p->scratch, rax);
	/* The SIGSEGV stays in this signal-delivery stop only: continuing with
	 * sig 0 (as everything here does) discards it. */
	puppet_adopt_scratch(p, 0, 0);
	return 0;
}

int puppet_fini(struct puppet *p)
{
	int r = puppet_set_regs(p->tid, &p->saved_regs);
	int r2 = puppet_set_sigmask(p->tid, p->saved_sigmask);
	return r < 0 ? r : r2;
}

void puppet_release(struct puppet *p)
{
	if (p->mem_fd >= 0)
		close(p->mem_fd);
	p->mem_fd = -1;
	p->scratch = 0;
	p->scratch_size = 0;
	p->scratch_used = 0;
}

/* Runs nr in the task; a failure of the call itself becomes the error, named by what. */
static int puppet_call_checked(struct puppet *p, const char *what, long *ret, long nr,
			       uint64_t a1, uint64_t a2, uint64_t a3)
{
	long rv;
	int r = puppet_syscall6(p, &rv, nr, a1, a2, a3, 0, 0, 0);

	if (r < 0)
		return r;
	if (rv < 0 && rv > -4096)
		return err_setf((int)rv, "tid %d: remote %s: %s", p->tid, what, strerror((int)-rv));
	if (ret)
		*ret = rv;
	return 0;
}

/* pidfd_getfd rather than SCM_RIGHTS: no unix socket has to be made and connected inside
 * the task first, and it is three remote calls whatever the fd. */
int puppet_install_fd(struct puppet *p, int local_fd, int target_fd, bool cloexec)
{
	long pidfd = -1, copy = -1, rv;
	int r;

	if (local_fd < 0 || target_fd < 0)
		return err_setf(-EBADF, "tid %d: cannot install fd %d as %d", p->tid, local_fd,
				target_fd);
	r = puppet_call_checked(p, "pidfd_open", &pidfd, SYS_pidfd_open, (uint64_t)getpid(), 0,
				0);
	/* The pidfd took the wanted number (the lowest free one): move it out of the way. */
	if (r == 0 && pidfd == target_fd) {
		long moved;

		r = puppet_call_checked(p, "fcntl(F_DUPFD_CLOEXEC)", &moved, SYS_fcntl,
					(uint64_t)pidfd, F_DUPFD_CLOEXEC, (uint64_t)target_fd + 1);
		if (r == 0 && puppet_syscall6(p, &rv, SYS_close, (uint64_t)pidfd, 0, 0, 0, 0, 0) < 0)
			log_debug("tid %d: remote close(%ld) failed, ignoring", p->tid, pidfd);
		pidfd = r == 0 ? moved : pidfd;
	}
	if (r == 0)
		r = puppet_call_checked(p, "pidfd_getfd", &copy, SYS_pidfd_getfd, (uint64_t)pidfd,
					(uint64_t)local_fd, 0);
	if (r == 0 && copy != target_fd)
		r = puppet_call_checked(p, "dup2", NULL, SYS_dup2, (uint64_t)copy,
					(uint64_t)target_fd, 0);
	/* pidfd_getfd gives FD_CLOEXEC; dup2 gives a target without it. */
	if (r == 0 && copy != target_fd && cloexec)
		r = puppet_call_checked(p, "fcntl(F_SETFD)", NULL, SYS_fcntl, (uint64_t)target_fd,
					F_SETFD, FD_CLOEXEC);
	if (r == 0 && copy == target_fd && !cloexec)
		r = puppet_call_checked(p, "fcntl(F_SETFD)", NULL, SYS_fcntl, (uint64_t)target_fd,
					F_SETFD, 0);
	/* A failed close changes nothing for the task; the first error is the one to tell. */
	if (copy >= 0 && copy != target_fd &&
	    puppet_syscall6(p, &rv, SYS_close, (uint64_t)copy, 0, 0, 0, 0, 0) < 0)
		log_debug("tid %d: remote close(%ld) failed, ignoring", p->tid, copy);
	if (pidfd >= 0 && puppet_syscall6(p, &rv, SYS_close, (uint64_t)pidfd, 0, 0, 0, 0, 0) < 0)
		log_debug("tid %d: remote close(%ld) failed, ignoring", p->tid, pidfd);
	return r;
}
