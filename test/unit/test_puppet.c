/*
 * test_puppet: the ptrace puppet against real children (needs root).
 *
 * Each test starts its own child: fork, then exec of this same binary with
 * "--child MODE", so that the children run natively even when the tests run
 * under valgrind (which only follows the parent). Parent and child share a
 * page (a memfd at fd 3) and a pipe (read end fd 4, write end fd 5). The
 * teardown kills and reaps the child whatever happened.
 */
#include "puppet.h"

#include <sys/ptrace.h> /* before compat.h: glibc's enum also names PTRACE_GET_RSEQ_CONFIGURATION */

#include "compat.h"
#include "err.h"
#include "log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SHARED_FD 3
#define PIPE_R_FD 4
#define PIPE_W_FD 5

struct shared {
	volatile uint64_t counter;
	volatile int ready;  /* child: set up, go ahead */
	volatile int check;  /* parent: verify yourself now */
	volatile int report; /* child: 1 checks passed, < 0 which one failed */
	volatile long result;
	volatile int err;
	volatile int64_t elapsed_ns;
	volatile uint32_t mask;
	char data[64];
};

struct child {
	pid_t pid;
	pid_t extra_tid; /* a thread created by the test, reaped in teardown */
	struct shared *sh;
	int pipe_r, pipe_w;
};

static char self_exe[4096];

/* Waits up to 5 s for cond, polling. */
#define WAIT_FOR(cond)                                      \
	do {                                                \
		for (int i_ = 0; !(cond) && i_ < 500; i_++) \
			usleep(10000);                      \
		assert_true(cond);                          \
	} while (0)

/* ---------------- children ---------------- */

static void child_handler(int sig)
{
	(void)sig;
}

static int child_counter_checks(void)
{
	struct sigaction sa;
	if (sigaction(SIGSEGV, NULL, &sa) < 0 || sa.sa_handler != child_handler)
		return -2;
	if (sigaction(SIGTRAP, NULL, &sa) < 0 || sa.sa_handler != child_handler)
		return -3;
	sigset_t cur;
	if (sigprocmask(SIG_BLOCK, NULL, &cur) < 0 || !sigismember(&cur, SIGUSR2) ||
	    sigismember(&cur, SIGUSR1))
		return -4;
	return 1;
}

/* Counts with no syscall at all; checks its registers on the way. */
static void child_counter(struct shared *sh)
{
	struct sigaction sa = { .sa_handler = child_handler };
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGTRAP, &sa, NULL);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_SETMASK, &m, NULL);
	sh->ready = 1;
	uint64_t a = 0, b = 0;
	for (;;) {
		a++;
		b += 3;
		sh->counter = a;
		if (b != 3 * a)
			sh->report = -1;
		if (sh->check) {
			if (sh->report == 0)
				sh->report = child_counter_checks();
			break;
		}
	}
	for (;;)
		pause();
}

static void child_read(struct shared *sh)
{
	char buf[64] = { 0 };
	sh->ready = 1;
	ssize_t n = read(PIPE_R_FD, buf, sizeof(buf) - 1);
	sh->err = n < 0 ? errno : 0;
	sh->result = n;
	memcpy(sh->data, buf, sizeof(buf));
	sh->report = 1;
	for (;;)
		pause();
}

static void child_nanosleep(struct shared *sh)
{
	struct timespec t0, t1, d = { .tv_sec = 1, .tv_nsec = 500 * 1000 * 1000 };
	sh->ready = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long r = syscall(SYS_nanosleep, &d, NULL);
	sh->err = r < 0 ? errno : 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sh->elapsed_ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	sh->result = r;
	sh->report = 1;
	for (;;)
		pause();
}

static const uint64_t avx_pattern[4]
	__attribute__((aligned(32))) = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL,
					 0x1122334455667788ULL, 0x99aabbccddeeff00ULL };

/* ymm9 holds the pattern for the whole loop; every round compares it with
 * memory and counts. The loop is one asm block so the compiler cannot reuse ymm9. */
__attribute__((target("avx2"))) static void child_avx(struct shared *sh)
{
	uint32_t mask;
	sh->ready = 1;
	__asm__ volatile("vmovdqa (%[pat]), %%ymm9\n"
			 "1: vpcmpeqq (%[pat]), %%ymm9, %%ymm11\n"
			 "vpmovmskb %%ymm11, %%eax\n"
			 "cmp $-1, %%eax\n"
			 "jne 2f\n"
			 "incq (%[ctr])\n"
			 "cmpl $0, (%[stop])\n"
			 "je 1b\n"
			 "2: mov %%eax, %[mask]\n"
			 : [mask] "=r"(mask)
			 : [pat] "r"(avx_pattern), [ctr] "r"(&sh->counter), [stop] "r"(&sh->check)
			 : "rax", "xmm9", "xmm11", "memory", "cc");
	sh->mask = mask;
	sh->report = 1;
	for (;;)
		pause();
}

static void child_sigpending(struct shared *sh)
{
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigprocmask(SIG_BLOCK, &m, NULL);
	raise(SIGUSR1);
	sh->ready = 1;
	for (;;)
		pause();
}

static volatile sig_atomic_t child_usr2_count;

static void child_count_usr2(int sig)
{
	(void)sig;
	child_usr2_count++;
}

/* Busy without syscalls; counts SIGUSR2 in a handler. */
static void child_handler_mode(struct shared *sh)
{
	struct sigaction sa = { .sa_handler = child_count_usr2 };
	sigaction(SIGUSR2, &sa, NULL);
	sh->ready = 1;
	for (;;) {
		sh->counter++;
		sh->result = child_usr2_count;
	}
}

static int child_main(const char *mode)
{
	struct shared *sh =
		mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED, SHARED_FD, 0);
	if (sh == MAP_FAILED)
		return 2;
	if (!strcmp(mode, "counter"))
		child_counter(sh);
	else if (!strcmp(mode, "read"))
		child_read(sh);
	else if (!strcmp(mode, "nanosleep"))
		child_nanosleep(sh);
	else if (!strcmp(mode, "avx"))
		child_avx(sh);
	else if (!strcmp(mode, "sigpending"))
		child_sigpending(sh);
	else if (!strcmp(mode, "handler"))
		child_handler_mode(sh);
	return 3;
}

/* ---------------- parent helpers ---------------- */

static void start_child(struct child *c, const char *mode)
{
	int mfd = memfd_create("puppet-test", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, 4096), 0);
	c->sh = mmap(NULL, sizeof(*c->sh), PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(c->sh != MAP_FAILED);
	int pfd[2];
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	c->pipe_r = pfd[0];
	c->pipe_w = pfd[1];
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		/* dup2 clears FD_CLOEXEC on the copies; order avoids clobbering */
		int keep[3] = { fcntl(mfd, F_DUPFD_CLOEXEC, 10), fcntl(pfd[0], F_DUPFD_CLOEXEC, 10),
				fcntl(pfd[1], F_DUPFD_CLOEXEC, 10) };
		for (int i = 0; i < 3; i++)
			if (keep[i] < 0 || dup2(keep[i], SHARED_FD + i) < 0)
				_exit(4);
		execl(self_exe, self_exe, "--child", mode, (char *)NULL);
		_exit(5);
	}
	close(mfd);
	WAIT_FOR(c->sh->ready);
}

static int setup(void **state)
{
	struct child *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->pid = -1;
	c->pipe_r = c->pipe_w = -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct child *c = *state;
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	/* A traced thread must be reaped before its group leader can be. */
	if (c->extra_tid > 0)
		while (waitpid(c->extra_tid, NULL, __WALL) < 0 && errno == EINTR)
			;
	if (c->pid > 0)
		while (waitpid(c->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	if (c->sh)
		munmap(c->sh, sizeof(*c->sh));
	if (c->pipe_r >= 0)
		close(c->pipe_r);
	if (c->pipe_w >= 0)
		close(c->pipe_w);
	free(c);
	return 0;
}

#define assert_ok(expr)                                                                       \
	do {                                                                                  \
		int r_ = (expr);                                                              \
		if (r_ < 0)                                                                   \
			fail_msg("%s = %d (%s): %s", #expr, r_, strerror(-r_), err_detail()); \
	} while (0)

static void seize_stop(pid_t pid, unsigned long opts)
{
	assert_ok(puppet_seize(pid, opts));
	assert_ok(puppet_interrupt(pid));
}

static bool maps_has(pid_t pid, uint64_t addr)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 && addr >= lo && addr < hi)
			found = true;
	}
	fclose(f);
	return found;
}

/* Waits until the child sits in syscall nr (first field of /proc/PID/syscall). */
static void wait_in_syscall(pid_t pid, long nr)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
	long cur = -2;
	for (int i = 0; i < 500 && cur != nr; i++) {
		FILE *f = fopen(path, "re");
		if (f) {
			if (fscanf(f, "%ld", &cur) != 1)
				cur = -2;
			fclose(f);
		}
		if (cur != nr)
			usleep(10000);
	}
	assert_int_equal(cur, nr);
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return '?';
	char st = '?';
	if (fgets(buf, sizeof(buf), f)) {
		char *p = strrchr(buf, ')');
		if (p && p[1] == ' ')
			st = p[2];
	}
	fclose(f);
	return st;
}

/* map scratch, getpid, unmap (optionally), fini, release. */
static void remote_getpid_round(pid_t pid, bool unmap)
{
	struct puppet p;
	long rv;
	assert_ok(puppet_init(&p, pid, pid));
	assert_ok(puppet_map_scratch(&p, 0, 0));
	assert_ok(puppet_syscall6(&p, &rv, SYS_getpid, 0, 0, 0, 0, 0, 0));
	assert_int_equal(rv, pid);
	if (unmap)
		assert_ok(puppet_unmap_scratch(&p));
	assert_ok(puppet_fini(&p));
	puppet_release(&p);
}

/* ---------------- tests ---------------- */

static void test_counter_remote_syscalls(void **state)
{
	struct child *c = *state;
	start_child(c, "counter");
	seize_stop(c->pid, 0);

	struct user_regs_struct before;
	assert_ok(puppet_get_regs(c->pid, &before));
	struct puppet p;
	long rv;
	assert_ok(puppet_init(&p, c->pid, c->pid));
	assert_ok(puppet_map_scratch(&p, 0, 0));
	assert_int_equal(p.scratch_size, 16384);
	assert_true(maps_has(c->pid, p.scratch));
	uint64_t scratch = p.scratch;

	assert_ok(puppet_syscall6(&p, &rv, SYS_getpid, 0, 0, 0, 0, 0, 0));
	assert_int_equal(rv, c->pid);
	siginfo_t si;
	assert_int_equal(ptrace(PTRACE_GETSIGINFO, c->pid, NULL, &si), 0);
	assert_int_equal(si.si_signo, SIGTRAP);
	assert_int_equal(si.si_code, SI_KERNEL);

	/* a page of its own, and a write() of pushed bytes into our pipe */
	assert_ok(puppet_syscall6(&p, &rv, SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0));
	assert_true(rv > 0);
	uint64_t page = (uint64_t)rv;
	static const char msg[] = "hello from the puppet";
	uint64_t at, at2;
	assert_ok(puppet_push(&p, "x", 1, &at2));
	assert_ok(puppet_push(&p, msg, sizeof(msg), &at));
	assert_int_equal(at % 8, 0);
	assert_true(at > at2);
	assert_ok(puppet_syscall6(&p, &rv, SYS_write, PIPE_W_FD, at, sizeof(msg), 0, 0, 0));
	assert_int_equal(rv, sizeof(msg));
	char got[sizeof(msg)];
	assert_int_equal(read(c->pipe_r, got, sizeof(got)), sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));

	/* errors of the remote syscall come back in the result, not the return */
	assert_ok(puppet_syscall6(&p, &rv, SYS_close, 999, 0, 0, 0, 0, 0));
	assert_int_equal(rv, -EBADF);

	char buf[4096], back[4096];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7);
	assert_ok(puppet_mem_write(&p, page, buf, sizeof(buf)));
	assert_ok(puppet_mem_read(&p, page, back, sizeof(back)));
	assert_memory_equal(buf, back, sizeof(buf));
	assert_ok(puppet_syscall6(&p, &rv, SYS_munmap, page, 4096, 0, 0, 0, 0));
	assert_int_equal(rv, 0);

	/* push until full */
	puppet_push_reset(&p);
	int r = 0;
	for (int i = 0; i < 100 && r == 0; i++)
		r = puppet_push(&p, buf, 1000, &at);
	assert_int_equal(r, -ENOSPC);

	assert_ok(puppet_unmap_scratch(&p));
	assert_int_equal(p.scratch, 0);
	assert_false(maps_has(c->pid, scratch));
	assert_int_equal(ptrace(PTRACE_GETSIGINFO, c->pid, NULL, &si), 0);
	assert_int_equal(si.si_signo, SIGSEGV);
	assert_int_equal(si.si_code, SEGV_MAPERR);
	assert_ptr_equal(si.si_addr, (void *)(scratch + 2));
	assert_ok(puppet_fini(&p));
	puppet_release(&p);

	struct user_regs_struct after;
	assert_ok(puppet_get_regs(c->pid, &after));
	assert_memory_equal(&before, &after, sizeof(before));
	assert_ok(puppet_detach(c->pid, 0));

	uint64_t n0 = c->sh->counter;
	WAIT_FOR(c->sh->counter > n0 + 1000);
	c->sh->check = 1;
	WAIT_FOR(c->sh->report != 0);
	assert_int_equal(c->sh->report, 1);
}

static void test_hint_and_errors(void **state)
{
	struct child *c = *state;
	start_child(c, "counter");
	seize_stop(c->pid, 0);
	struct puppet p;
	long rv;
	assert_ok(puppet_init(&p, c->pid, c->pid));
	/* a syscall without a scratch area is refused */
	assert_int_equal(puppet_syscall6(&p, &rv, SYS_getpid, 0, 0, 0, 0, 0, 0), -EINVAL);
	const uint64_t hint = 0x7e0000000000ULL;
	assert_ok(puppet_map_scratch(&p, hint, 100));
	assert_int_equal(p.scratch, hint);
	assert_int_equal(p.scratch_size, 4096);
	/* the same hint again is taken: -EEXIST, nothing changed */
	struct puppet q = p;
	assert_int_equal(puppet_map_scratch(&q, hint, 4096), -EEXIST);
	assert_int_equal(p.scratch, hint);
	assert_ok(puppet_syscall6(&p, &rv, SYS_getpid, 0, 0, 0, 0, 0, 0));
	assert_int_equal(rv, c->pid);
	assert_ok(puppet_unmap_scratch(&p));
	assert_ok(puppet_fini(&p));
	puppet_release(&p);
	assert_ok(puppet_detach(c->pid, 0));

	/* a second tracer is refused with a detail */
	assert_ok(puppet_seize(c->pid, 0));
	pid_t other = fork();
	assert_true(other >= 0);
	if (other == 0)
		_exit(puppet_seize(c->pid, 0) == -EPERM && strstr(err_detail(), "traced") ? 0 : 1);
	int st;
	assert_int_equal(waitpid(other, &st, 0), other);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_ok(puppet_interrupt(c->pid));
	assert_ok(puppet_detach(c->pid, 0));

	uint64_t n0 = c->sh->counter;
	WAIT_FOR(c->sh->counter > n0 + 1000);
	c->sh->check = 1;
	WAIT_FOR(c->sh->report != 0);
	assert_int_equal(c->sh->report, 1);
}

static void test_blocked_read_restarts(void **state)
{
	struct child *c = *state;
	start_child(c, "read");
	wait_in_syscall(c->pid, SYS_read);
	seize_stop(c->pid, 0);
	struct user_regs_struct regs;
	assert_ok(puppet_get_regs(c->pid, &regs));
	assert_int_equal(regs.orig_rax, SYS_read);
	assert_int_equal((long)regs.rax, -512); /* -ERESTARTSYS */
	remote_getpid_round(c->pid, true);	/* last stop: the SIGSEGV of the munmap */
	assert_ok(puppet_detach(c->pid, 0));
	usleep(50000);
	assert_int_equal(c->sh->report, 0); /* still blocked in read */
	assert_int_equal(write(c->pipe_w, "data", 4), 4);
	WAIT_FOR(c->sh->report != 0);
	assert_int_equal(c->sh->result, 4);
	assert_memory_equal((const char *)c->sh->data, "data", 4);
}

static void test_nanosleep_restarts(void **state)
{
	struct child *c = *state;
	start_child(c, "nanosleep");
	wait_in_syscall(c->pid, SYS_nanosleep);
	seize_stop(c->pid, 0);
	struct user_regs_struct regs;
	assert_ok(puppet_get_regs(c->pid, &regs));
	assert_int_equal(regs.orig_rax, SYS_nanosleep);
	assert_int_equal((long)regs.rax, -516); /* -ERESTART_RESTARTBLOCK */
	remote_getpid_round(c->pid, false);	/* last stop: the SIGTRAP of the int3 */
	assert_ok(puppet_detach(c->pid, 0));
	for (int i = 0; i < 300 && !c->sh->report; i++)
		usleep(10000);
	assert_int_equal(c->sh->report, 1);
	assert_int_equal(c->sh->result, 0);
	assert_true(c->sh->elapsed_ns >= 1500LL * 1000 * 1000);
}

/* Offset of the upper ymm halves in the XSAVE area (CPUID 0xD, sub-leaf 2). */
static unsigned int ymm_hi_offset(void)
{
	unsigned int a, b, cx, d;
	__cpuid_count(0xd, 2, a, b, cx, d);
	return b;
}

static void test_xstate(void **state)
{
	struct child *c = *state;
	start_child(c, "avx");
	WAIT_FOR(c->sh->counter > 1000);
	seize_stop(c->pid, 0);
	void *xs;
	size_t len;
	assert_ok(puppet_get_xstate(c->pid, &xs, &len));
	assert_true(len >= 576 + 256);
	/* ymm9: low half in the legacy area (xmm i at 160 + 16 i), high half after */
	assert_memory_equal((char *)xs + 160 + 16 * 9, avx_pattern, 16);
	unsigned int hi = ymm_hi_offset();
	assert_true(hi + 16 * 10 <= len);
	assert_memory_equal((char *)xs + hi + 16 * 9, (const char *)avx_pattern + 16, 16);
	assert_ok(puppet_set_xstate(c->pid, xs, len));
	free(xs);
	remote_getpid_round(c->pid, true);
	assert_ok(puppet_detach(c->pid, 0));
	uint64_t n0 = c->sh->counter;
	WAIT_FOR(c->sh->counter > n0 + 1000);
	c->sh->check = 1;
	WAIT_FOR(c->sh->report != 0);
	assert_int_equal(c->sh->mask, 0xffffffffu);
}

static void test_peek_siginfo(void **state)
{
	struct child *c = *state;
	start_child(c, "sigpending");
	seize_stop(c->pid, 0);
	void *buf;
	size_t n;
	assert_ok(puppet_peek_siginfo(c->pid, false, &buf, &n));
	assert_int_equal(n, 1);
	siginfo_t *si = buf;
	assert_int_equal(si[0].si_signo, SIGUSR1);
	assert_int_equal(si[0].si_code, SI_TKILL);
	free(buf);
	assert_ok(puppet_peek_siginfo(c->pid, true, &buf, &n));
	assert_int_equal(n, 0);
	free(buf);

	assert_int_equal(kill(c->pid, SIGUSR1), 0);
	assert_ok(puppet_peek_siginfo(c->pid, true, &buf, &n));
	assert_int_equal(n, 1);
	si = buf;
	assert_int_equal(si[0].si_signo, SIGUSR1);
	assert_int_equal(si[0].si_code, SI_USER);
	assert_int_equal(si[0].si_pid, getpid());
	free(buf);

	uint64_t mask;
	assert_ok(puppet_get_sigmask(c->pid, &mask));
	assert_true(mask & (1ULL << (SIGUSR1 - 1)));
	assert_ok(puppet_detach(c->pid, 0));
}

/* A signal already on its way when we interrupt is handed back on detach. */
static void test_signal_kept_for_detach(void **state)
{
	struct child *c = *state;
	start_child(c, "handler");
	assert_ok(puppet_seize(c->pid, 0));
	assert_int_equal(kill(c->pid, SIGUSR2), 0);
	WAIT_FOR(proc_state(c->pid) == 't'); /* its signal-delivery stop, not waited yet */
	assert_ok(puppet_interrupt(c->pid));
	remote_getpid_round(c->pid, false);
	usleep(20000);
	assert_int_equal(c->sh->result, 0); /* the handler has not run yet */
	assert_ok(puppet_detach(c->pid, 0));
	WAIT_FOR(c->sh->result == 1);
}

/* Same, detached straight from the PTRACE_EVENT_STOP, where the kernel would
 * ignore an injected signal: it is queued again instead. */
static void test_signal_kept_event_stop(void **state)
{
	struct child *c = *state;
	start_child(c, "handler");
	assert_ok(puppet_seize(c->pid, 0));
	assert_int_equal(kill(c->pid, SIGUSR2), 0);
	WAIT_FOR(proc_state(c->pid) == 't');
	assert_ok(puppet_interrupt(c->pid));
	usleep(20000);
	assert_int_equal(c->sh->result, 0);
	assert_ok(puppet_detach(c->pid, 0));
	WAIT_FOR(c->sh->result == 1);
}

static bool tid_free(pid_t tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", tid);
	return access(path, F_OK) < 0 && kill(tid, 0) < 0 && errno == ESRCH;
}

static void test_remote_clone3(void **state)
{
	struct child *c = *state;
	start_child(c, "counter");
	seize_stop(c->pid, PTRACE_O_TRACECLONE);
	/* A free TID below pid_max: c->pid + 1000 may be past it when the PID
	 * counter is near the top, so wrap around to low numbers. */
	long pid_max = 32768;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	if (f) {
		if (fscanf(f, "%ld", &pid_max) != 1)
			pid_max = 32768;
		fclose(f);
	}
	pid_t want = (pid_t)(300 + (c->pid + 1000 - 300) % (pid_max - 300));
	while (!tid_free(want))
		want = want + 1 < pid_max ? want + 1 : 300;
	struct puppet p;
	long rv;
	assert_ok(puppet_init(&p, c->pid, c->pid));
	assert_ok(puppet_map_scratch(&p, 0, 0));
	uint64_t tid_addr, args_addr;
	pid_t tids[1] = { want };
	assert_ok(puppet_push(&p, tids, sizeof(tids), &tid_addr));
	struct migrate_clone_args ca = {
		.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			 CLONE_SYSVSEM,
		.set_tid = tid_addr,
		.set_tid_size = 1,
	};
	assert_ok(puppet_push(&p, &ca, sizeof(ca), &args_addr));
	assert_ok(puppet_syscall6(&p, &rv, SYS_clone3, args_addr, sizeof(ca), 0, 0, 0, 0));
	if (rv > 0)
		c->extra_tid = (pid_t)rv;
	assert_int_equal(rv, want);
	int st;
	assert_int_equal(waitpid(want, &st, __WALL), want);
	assert_true(WIFSTOPPED(st));
	assert_int_equal(st >> 16, PTRACE_EVENT_STOP);

	/* the same TID again: the remote result is -EEXIST */
	assert_ok(puppet_syscall6(&p, &rv, SYS_clone3, args_addr, sizeof(ca), 0, 0, 0, 0));
	assert_int_equal(rv, -EEXIST);
	assert_ok(puppet_fini(&p));
	puppet_release(&p);
	/* teardown kills the child and reaps both tasks */
}

static void test_dead_task(void **state)
{
	struct child *c = *state;
	start_child(c, "counter");
	seize_stop(c->pid, 0);
	struct puppet p;
	long rv;
	assert_ok(puppet_init(&p, c->pid, c->pid));
	assert_ok(puppet_map_scratch(&p, 0, 0));
	assert_int_equal(puppet_syscall6(&p, &rv, SYS_exit_group, 7, 0, 0, 0, 0, 0), -ESRCH);
	puppet_release(&p);
	c->pid = -1; /* reaped by the wait that saw it die */
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--child"))
		return child_main(argv[2]);
	if (geteuid() != 0) {
		fprintf(stderr, "test_puppet: needs root (ptrace of children), skipping\n");
		return 77;
	}
	if (!realpath(argv[0], self_exe)) {
		fprintf(stderr, "test_puppet: cannot resolve %s\n", argv[0]);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counter_remote_syscalls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hint_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocked_read_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nanosleep_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xstate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peek_siginfo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_kept_for_detach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_kept_event_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_clone3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_task, setup, teardown),
	};
	/* PUPPET_TEST=pattern runs a subset (cmocka's test filter) */
	if (getenv("PUPPET_DEBUG"))
		log_set_level(LOG_LEVEL_DEBUG);
	if (getenv("PUPPET_TEST"))
		cmocka_set_test_filter(getenv("PUPPET_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
