/*
 * puppet: drive a ptrace-stopped task from outside.
 *
 * The one place that touches ptrace. Dump and restore both use it: dump to
 * ask the process what only it can tell (sigactions, brk, rseq...), restore to
 * build a process from a bare child ("restore by puppet", ARCHITECTURE.md 6).
 *
 * Call sequence:
 *
 *	puppet_seize(tid, opts)            PTRACE_SEIZE every thread, no signal sent
 *	puppet_interrupt(tid)              PTRACE_INTERRUPT and wait for the stop
 *	puppet_get_regs / get_xstate ...   read state of a stopped thread
 *
 *	struct puppet p;
 *	puppet_init(&p, pid, tid)          saves regs and sigmask, blocks all signals
 *	puppet_map_scratch(&p, hint)       injects mmap at rip to get a scratch page
 *	puppet_syscall(&p, nr, args, &rv)  any number of remote syscalls
 *	puppet_push(&p, data, len, &addr)  copy arguments into the scratch page
 *	puppet_unmap_scratch(&p)           munmap the scratch page (optional on restore)
 *	puppet_fini(&p)                    restores regs and sigmask: task as it was
 *
 *	puppet_detach(tid, sig)
 *
 * Every function returns 0 or a negative errno (-ESRCH if the task died) and
 * leaves err_detail() saying which step failed. A remote syscall's own result
 * (which may be -errno) comes back in *ret_result, distinct from the return
 * value, which reports ptrace failures only.
 */
#ifndef MIGRATE_PUPPET_H
#define MIGRATE_PUPPET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#define PUPPET_WUR __attribute__((warn_unused_result))

/* PTRACE_SEIZE with options (PTRACE_O_*). -EPERM when another tracer holds it. */
int puppet_seize(pid_t tid, unsigned long options) PUPPET_WUR;
/* PTRACE_INTERRUPT, then waits (__WALL) until the task reports its stop. */
int puppet_interrupt(pid_t tid) PUPPET_WUR;
/* Waits for the next ptrace stop of tid; *ret_status is the waitpid status. */
int puppet_wait(pid_t tid, int *ret_status) PUPPET_WUR;
/* PTRACE_DETACH, delivering sig (0 for none). */
int puppet_detach(pid_t tid, int sig) PUPPET_WUR;

int puppet_get_regs(pid_t tid, struct user_regs_struct *ret) PUPPET_WUR;
int puppet_set_regs(pid_t tid, const struct user_regs_struct *regs) PUPPET_WUR;
/* The NT_X86_XSTATE area. *ret_buf is malloc'd, owned by the caller. */
int puppet_get_xstate(pid_t tid, void **ret_buf, size_t *ret_len) PUPPET_WUR;
int puppet_set_xstate(pid_t tid, const void *buf, size_t len) PUPPET_WUR;
int puppet_get_sigmask(pid_t tid, uint64_t *ret_mask) PUPPET_WUR;
int puppet_set_sigmask(pid_t tid, uint64_t mask) PUPPET_WUR;
/* Pending siginfos (PTRACE_PEEKSIGINFO), thread-directed or process-wide
 * (shared=true). *ret_buf is an array of *ret_count siginfo_t, malloc'd. */
int puppet_peek_siginfo(pid_t tid, bool shared, void **ret_buf, size_t *ret_count) PUPPET_WUR;

struct puppet {
	pid_t pid; /* thread group */
	pid_t tid; /* the thread that runs the syscalls */
	struct user_regs_struct saved_regs;
	uint64_t saved_sigmask;
	uint64_t scratch; /* address of the scratch area in the task, 0 when none */
	size_t scratch_size;
	size_t scratch_used; /* bytes handed out by puppet_push since the last reset */
	int mem_fd; /* /proc/PID/mem, -1 when closed */
};

/* Takes over a stopped thread: saves its registers and signal mask, blocks all
 * signals (so none is delivered during remote syscalls). */
int puppet_init(struct puppet *p, pid_t pid, pid_t tid) PUPPET_WUR;
/* Maps a private RWX scratch area (size rounded to pages; at least one page)
 * in the task by a syscall injected at its rip (the word there is put back).
 * hint 0 lets the kernel choose; otherwise MAP_FIXED_NOREPLACE at hint. */
int puppet_map_scratch(struct puppet *p, uint64_t hint, size_t size) PUPPET_WUR;
/* Uses an existing area of the task as scratch instead (e.g. one already mapped). */
void puppet_adopt_scratch(struct puppet *p, uint64_t addr, size_t size);
/* Runs syscall nr with up to 6 args in the task; *ret_result gets rax. */
int puppet_syscall(struct puppet *p, long nr, const uint64_t args[6], long *ret_result) PUPPET_WUR;
/* Convenience: puppet_syscall with args inline. */
int puppet_syscall6(struct puppet *p, long *ret_result, long nr, uint64_t a1, uint64_t a2,
		    uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6) PUPPET_WUR;
/* Copies len bytes into the scratch area (8-byte aligned); *ret_addr is their
 * address in the task. -ENOSPC when the area is full. */
int puppet_push(struct puppet *p, const void *data, size_t len, uint64_t *ret_addr) PUPPET_WUR;
void puppet_push_reset(struct puppet *p);
/* Reads/writes task memory through /proc/PID/mem (forced: works on read-only pages). */
int puppet_mem_read(struct puppet *p, uint64_t addr, void *buf, size_t len) PUPPET_WUR;
int puppet_mem_write(struct puppet *p, uint64_t addr, const void *buf, size_t len) PUPPET_WUR;
/* munmap the scratch area; the task's instruction at the point of the call is
 * gone, so the trap is taken as a SIGSEGV stop and swallowed. */
int puppet_unmap_scratch(struct puppet *p) PUPPET_WUR;
/*
 * Puts a copy of our own fd local_fd into the task at number target_fd (replacing what was
 * there), with FD_CLOEXEC as cloexec says: the task runs pidfd_open(our pid) and
 * pidfd_getfd() on it, then dup2. Needs ptrace rights over us in the task (root with
 * CAP_SYS_PTRACE: the restore puppet before its credentials are set), and the task in our
 * PID namespace. We keep local_fd. A failure leaves nothing new in the task but the errno
 * (pidfd_getfd's -EPERM: not allowed; -EBADF: target_fd out of the task's RLIMIT_NOFILE).
 */
int puppet_install_fd(struct puppet *p, int local_fd, int target_fd, bool cloexec) PUPPET_WUR;

/* Puts back the registers and signal mask saved by puppet_init; the task stays stopped. */
int puppet_fini(struct puppet *p) PUPPET_WUR;
/* Forgets saved state without touching the task (restore: the image provides the registers). */
void puppet_release(struct puppet *p);

#endif
