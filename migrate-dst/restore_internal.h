/*
 * restore_internal: what the files of the restore engine share.
 *
 *	restore.c        restore_run: load, check files and PIDs, prepare fds, clone3,
 *	                 seize, then restore_mm_run and restore_core_run; rollback; restore_wait
 *	restore_child.c  restore_child_main: what the new child does (fds, cwd, rlimits, ...)
 *	                 before it blocks on its control socket
 *	restore_mm.c     restore_mm_run: scratch, unmap, map the image's VMAs, pages, vDSO,
 *	                 mm fields
 *	restore_core.c   restore_core_run: sigactions, threads, per-thread state, signals, creds,
 *	                 registers, detach
 *	restore_plan.c   pure helpers (no process touched): unit-tested
 */
#ifndef MIGRATE_RESTORE_INTERNAL_H
#define MIGRATE_RESTORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "image.h"
#include "puppet.h"
#include "restore.h"

#define RESTORE_WUR __attribute__((warn_unused_result))

/* Scratch area for remote syscall arguments (auxv, prctl_mm_map, sigactions, ...). */
#define RESTORE_SCRATCH_SIZE (16U * IMAGE_PAGE_SIZE)
/* Lowest address we consider for the scratch area (vm.mmap_min_addr is 64 KiB). */
#define RESTORE_SCRATCH_LOW 0x10000ULL
/* Highest user address + 1 on x86_64 with 4-level page tables. */
#define RESTORE_USER_TOP 0x7ffffffff000ULL

/* Control records the child sends on its socket. */
enum restore_ctl_kind {
	RESTORE_CTL_READY = 0, /* set up, blocking until seized */
	RESTORE_CTL_WARN = 1, /* kept going, but the parent should log msg */
	RESTORE_CTL_ERROR = 2, /* failed: err and msg say why; the child exits */
};

struct restore_ctl_msg {
	int32_t kind;
	int32_t err; /* positive errno for RESTORE_CTL_ERROR */
	char msg[248];
};

/* One process being restored. */
struct restore_task {
	struct image_task *img;
	pid_t pid; /* 0 until clone3 succeeded */
	bool use_tty; /* shell job with a terminal: stay in our session */
	int fd_base; /* above every fd number of the image */
	int ctl_fd; /* parent's end of the control socket, -1 when closed */
	int child_ctl_fd; /* child's end (same number in the child), -1 when closed */
	int child_ctl_nr; /* number of the control socket in the child, to close it there */
	int tty_fd; /* dup of our terminal for FD_TTY entries, -1 if none */
	int exe_fd; /* the executable, for PR_SET_MM_MAP; -1 if unavailable */
	int *vma_fds; /* per image VMA: fd of its file (same number in the child), or -1 */
	struct puppet *puppets; /* per thread, [0] the main thread */
	size_t thread_count; /* threads that exist (seized) in the new process */
};

/* restore_child.c: runs in the new child; never returns. */
void restore_child_main(const struct restore_opts *opts, struct restore_task *t)
	__attribute__((noreturn));

/* restore_mm.c: replaces the memory of the seized, interrupted child t->pid with the image's.
 * On return t->puppets[0] is initialised and owns the scratch area. */
int restore_mm_run(struct restore_task *t) RESTORE_WUR;

/* restore_core.c: everything after memory up to the final registers; the threads stay
 * stopped and attached. */
int restore_core_run(struct restore_task *t) RESTORE_WUR;
/* Lets every thread run (the last step: nothing can be undone after it). */
int restore_core_detach(struct restore_task *t) RESTORE_WUR;

/* restore.c: logs who holds id (as a pid, process group or session) and returns -EEXIST. */
int restore_pid_taken(pid_t id) RESTORE_WUR;

/* restore_plan.c: pure helpers. */
struct restore_range {
	uint64_t start;
	uint64_t end;
};

/* Lowest page-aligned address >= RESTORE_SCRATCH_LOW where size bytes fit with a free page
 * on either side, outside every range of a and b (any order). -ENOMEM if none. */
int restore_plan_scratch_gap(const struct restore_range *a, size_t na,
			     const struct restore_range *b, size_t nb, uint64_t size,
			     uint64_t *ret_addr) RESTORE_WUR;

/* Start and end of the image's vDSO block (its [vvar*] and [vdso] VMAs): the lowest start and
 * the highest end. -ENOENT when the image has none. */
int restore_plan_vdso_block(const MmEntry *mm, uint64_t *ret_start, uint64_t *ret_end) RESTORE_WUR;

/* The kernel's struct sigaction for rt_sigaction on x86_64. */
struct restore_ksigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

#define RESTORE_NSIG 64

/* table[sig] for sig 1..64 from core->sigactions, SIG_DFL elsewhere. -EINVAL (detail set) for
 * a signal out of range, SIGKILL/SIGSTOP, or a signal listed twice. */
int restore_plan_sigactions(const TaskCoreEntry *core,
			    struct restore_ksigaction table[RESTORE_NSIG + 1]) RESTORE_WUR;

/* The madvise() advices for VMA_MADV_* bits, in a fixed order; returns their count (<= 8). */
size_t restore_plan_madvise(uint32_t madv, int advices[8]);

/* The ranges [lo, hi] of fds to close so that only the fds of keep (any order, may repeat)
 * stay open. Writes at most n+1 ranges; returns their count. keep is sorted in place. */
size_t restore_plan_close_ranges(int *keep, size_t n, struct restore_range *ranges);

/* The image's registers as the kernel's struct. */
void restore_plan_regs(const UserRegsEntry *e, struct user_regs_struct *regs);

#endif
