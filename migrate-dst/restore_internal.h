/*
 * restore_internal: what the files of the restore engine share.
 *
 *	restore.c        restore_run: load, check the files and PIDs, then the stages below fed
 *	                 from the directory; restore_wait
 *	restore_proc.c   the stages: create (bare child, seize, empty address space), finish,
 *	                 resume, abort; the PID checks; children forked by a parent's puppet
 *	restore_tree.c   a tree: every process created in its place, sessions, groups, zombies;
 *	                 what they share (open file descriptions, pipes, shared memory)
 *	restore_mm.c     memory: set_layout, write_pages, keep_only; vDSO and mm fields (finish)
 *	restore_files.c  what the child used to do for itself, now by remote syscalls: session,
 *	                 fds, cwd, root, umask, rlimits, personality (finish)
 *	restore_core.c   sigactions, threads, per-thread state, signals, creds, registers; detach
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

/* Scratch area for remote syscall arguments (auxv, prctl_mm_map, sigactions, paths...). */
#define RESTORE_SCRATCH_SIZE (16U * IMAGE_PAGE_SIZE)
/* Lowest address we consider for the scratch area (vm.mmap_min_addr is 64 KiB). */
#define RESTORE_SCRATCH_LOW 0x10000ULL
/* Highest user address + 1 on x86_64 with 4-level page tables. */
#define RESTORE_USER_TOP 0x7ffffffff000ULL

/* One VMA of the layout the puppet has now (a copy of a VmaEntry's fields). */
struct restore_vma {
	uint64_t start;
	uint64_t end;
	uint64_t pgoff; /* bytes */
	uint64_t dev, ino, file_size;
	bool has_dev, has_ino, has_file_size;
	uint32_t prot;
	uint32_t flags;
	uint32_t madv;
	int kind; /* VmaKind */
	char *path; /* owned, or NULL */
	bool deleted; /* a file VMA of a memfd or deleted file: mapped from restore_mm_ghost.c */
};

/* A pipe of the tree made by us: our ends, kept until every holder has its own (restore.c
 * closes them after the last process's finish). */
struct restore_tree_pipe {
	uint64_t ino;
	int ends[2];
};

/* What the processes of one tree share while they are built (restore.c owns it). */
struct restore_tree_ctx {
	const struct image_set *set;
	struct restore_tree_pipe *pipes;
	size_t nr_pipes;
	size_t cap_pipes;
};

/* One process being built. */
struct restore_proc {
	pid_t pid; /* 0 until clone3 succeeded, and again once reaped */
	pid_t pgid, sid; /* from the PstreeEntry */
	pid_t *tids; /* threads that exist, [0] == pid; thread_count of them */
	size_t thread_count;
	size_t thread_cap;
	struct puppet *puppets; /* per thread, [0] the main thread (owns the scratch area) */
	bool shell_job, detached, use_tty;
	bool stopped; /* the image's process was stopped: SIGSTOP at detach */
	bool resumed;
	bool session_done; /* setsid/setpgid done already (a tree, restore_tree.c) */
	struct restore_tree_ctx *tree; /* the tree it belongs to, or NULL (live migration) */
	size_t tree_index;	       /* its task in tree->set */
	int pid_wait_ms;
	struct restore_vma *layout; /* sorted by start */
	size_t layout_count;
	const struct image_task *img; /* during restore_proc_finish only */
	struct restore_timings timings;
};

uint64_t restore_now_ns(void);
/* Our fd (0..2) on a terminal, or -1. */
int restore_tty_fd(void);

/* restore_proc.c: tcsetpgrp without SIGTTOU. */
void restore_tty_give(int tty, pid_t pgrp);
/* restore_proc.c: logs who holds id (as a pid, process group or session) and returns -EEXIST. */
int restore_pid_taken(pid_t id) RESTORE_WUR;

/* restore_proc.c: waits (opts->pid_wait_ms) while zombies hold pst's PID or TIDs, -EEXIST
 * naming the holder otherwise (restore_proc_create checks again). */
int restore_proc_check_ids(const PstreeEntry *pst, const struct restore_opts *opts) RESTORE_WUR;
/* restore_proc.c: a bare child of parent (itself still bare: before its set_layout) with
 * pst's pid, forked by parent's puppet, seized as restore_proc_create's product is. */
int restore_proc_create_child(struct restore_proc *parent, const PstreeEntry *pst,
			      const struct restore_opts *opts, struct restore_proc **ret) RESTORE_WUR;
/* restore_proc.c: the bare p takes ps's comm as its name, ends with its exit code or by its
 * term_signal, and stays a zombie of its parent. */
int restore_proc_zombie(struct restore_proc *p, const PstreeEntry *ps) RESTORE_WUR;

/* restore_tree.c: every process of set's tree created bare, each the child of its parent,
 * in its session and process group; zombies exited. procs (set->task_count, zeroed) gets
 * them in pstree order. On failure what exists is left in procs for restore_tree_free. */
int restore_tree_create(const struct image_set *set, const struct restore_opts *opts,
			struct restore_proc **procs) RESTORE_WUR;
/* Refuses, before anything is created, a tree whose groups cannot be rebuilt. */
int restore_tree_check(const struct image_set *set, const struct restore_opts *opts) RESTORE_WUR;
/* Kills and reaps every process of procs (children first), frees them. */
void restore_tree_free(struct restore_proc **procs, size_t count);
bool restore_tree_is_zombie(const struct image_task *t);
/* An fd whose open file description an earlier process of the tree holds (FdEntry.shared_id)
 * and restored already: restore_tree_fd_copy gives p that very description at e->fd. */
bool restore_tree_fd_is_copy(const struct restore_proc *p, const FdEntry *e);
int restore_tree_fd_copy(struct restore_proc *p, struct puppet *pp, const FdEntry *e) RESTORE_WUR;
/* Our ends of pipe ino made for an earlier process of the tree, or NULL; _keep stores copies
 * of ends (the caller keeps its own) for the later ones. */
const struct restore_tree_pipe *restore_tree_pipe_find(const struct restore_tree_ctx *c,
						       uint64_t ino);
int restore_tree_pipe_keep(struct restore_tree_ctx *c, uint64_t ino, const int ends[2]) RESTORE_WUR;
void restore_tree_ctx_fini(struct restore_tree_ctx *c);
/* After p's set_layout, before its pages: each of t's shared anonymous mappings whose object
 * an earlier process of the tree maps (same dev and ino in the images) maps that process's
 * object instead (/proc/PID/map_files), so that they share it again. */
int restore_tree_share_mem(struct restore_proc *p, const struct image_task *t) RESTORE_WUR;

/* restore_mm.c */
/* Remote syscall whose own failure is an error; what names the call in the message. */
int restore_call(struct puppet *p, const char *what, long *ret, long nr, uint64_t a1,
		 uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6) RESTORE_WUR;
/* The scratch area at the lowest free gap; unregister the inherited rseq; unmap the rest. */
int restore_mm_empty(struct restore_proc *p) RESTORE_WUR;
/* open(path, flags) run by the puppet; -errno of open itself is returned unlogged. */
int restore_remote_open(struct puppet *pp, const char *path, int flags, int *ret_fd) RESTORE_WUR;
/* vDSO moved back and checked, then PR_SET_MM_MAP with the exe file opened by the puppet. */
int restore_mm_finish(struct restore_proc *p) RESTORE_WUR;
void restore_mm_layout_free(struct restore_proc *p);

/* restore_files.c: session, fds, cwd, root, umask, rlimits, personality. */
/* setsid or setpgid(0, 0) when p leads its session or group; once (a tree member has it done
 * before it forks its children, who inherit both). */
int restore_files_session(struct restore_proc *p) RESTORE_WUR;
/* fd, opened or made by the puppet, moved to e's number (dup2 + close) with its FD_CLOEXEC. */
int restore_fd_place(struct puppet *pp, const FdEntry *e, long fd) RESTORE_WUR;
int restore_files_run(struct restore_proc *p) RESTORE_WUR;

/* restore_fd_event.c: eventfds, signalfds and timerfds, made by us and put at their number. */
bool restore_fd_event_is(const FdEntry *e);
int restore_fd_event_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e) RESTORE_WUR;
/* The registrations of every epoll instance of fds, once all the fds exist. */
int restore_fd_event_epoll(struct restore_proc *p, struct puppet *pp, FdEntry *const *fds,
			   size_t count) RESTORE_WUR;

/* restore_fd_pipe.c: a pipe whose ends the image's process holds, made by us with its capacity
 * and unread data; the first of its fds installs them all, the others are then no-ops. */
bool restore_fd_pipe_is(const FdEntry *e);
int restore_fd_pipe_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e) RESTORE_WUR;
/* restore_mm_ghost.c: the memfds and deleted files that VMAs map (VmaEntry.ghost_*), one
 * object per dev/ino of the image (for every process of it), made (or refilled) by us before
 * the layout maps them and sealed after; kept open by us until restore_mm_ghost_forget(p) of
 * the process that made it (until we exit when other members map it too: ghost_shared).
 * check: -EINVAL naming a deleted-file VMA whose object is not in vmas. */
int restore_mm_ghost_check(VmaEntry *const *vmas, size_t n) RESTORE_WUR;
int restore_mm_ghost_sync(struct restore_proc *p, VmaEntry *const *vmas, size_t n) RESTORE_WUR;
int restore_mm_ghost_seal(struct restore_proc *p) RESTORE_WUR;
/* The object of v opened by the puppet (for mmap; the caller closes it there). */
int restore_mm_ghost_open(struct restore_proc *p, const struct restore_vma *v,
			  int *ret_fd) RESTORE_WUR;
/* Our fd of the object the image knows as dev/ino, or -ENOENT. */
int restore_mm_ghost_fd(const struct restore_proc *p, uint64_t dev, uint64_t ino);
void restore_mm_ghost_forget(const struct restore_proc *p);
/* restore_fd_ghost.c: a memfd made by us from the image (name, contents, offset, seals); the
 * first of its fds installs them all, the others are then no-ops. */
bool restore_fd_ghost_is(const FdEntry *e);
int restore_fd_ghost_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e) RESTORE_WUR;
/* restore_fd_unix.c: the unix sockets of the image, made by us (pairs, names, listeners, unread
 * data, connections, options); the first of their fds installs them all, the others are then
 * no-ops. check: what restore refuses before any process exists (a path taken by another file). */
bool restore_fd_unix_is(const FdEntry *e);
int restore_fd_unix_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e) RESTORE_WUR;
int restore_fd_unix_check(const FdEntry *e) RESTORE_WUR;
/* restore_fd_fifo.c: a FIFO opened again by its path, with its capacity and unread data; the
 * first of its fds installs them all, the others are then no-ops. check: before anything is
 * made, the path exists and is a FIFO (logged refusal otherwise). */
bool restore_fd_fifo_is(const FdEntry *e);
int restore_fd_fifo_check(const FdEntry *e) RESTORE_WUR;
int restore_fd_fifo_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e) RESTORE_WUR;
/* restore_fd_pty.c: a pseudo-terminal pair made anew (termios, window size, modes, queued data,
 * controlling terminal); the first of its fds installs them all, the others are then no-ops.
 * check: before anything is made, /dev/ptmx can be opened (logged refusal otherwise). */
bool restore_fd_pty_is(const FdEntry *e);
int restore_fd_pty_check(const FdEntry *e) RESTORE_WUR;
int restore_fd_pty_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e) RESTORE_WUR;
/* restore_fd_pty.c, a tree's pairs that are controlling terminals (PstreeEntry.pty_ctty), by
 * restore_tree.c: tree_check refuses (logged) what cannot be rebuilt, before anything is made;
 * session, right after the setsid of p (of set), before it forks: its pair made and kept (blank
 * when set has no fd records yet), and taken with TIOCSCTTY; tree_fini, once every process
 * holds its ends: our copies closed. */
int restore_fd_pty_tree_check(const struct image_set *set, const struct restore_opts *opts) RESTORE_WUR;
int restore_fd_pty_session(struct restore_proc *p, const struct image_set *set) RESTORE_WUR;
void restore_fd_pty_tree_fini(void);
/* restore_fd_lock.c: the file locks of fds (FdEntry.locks), taken again through their fds,
 * which must all exist already. */
int restore_fd_lock_run(struct restore_proc *p, struct puppet *pp, FdEntry **fds,
			size_t count) RESTORE_WUR;

/* restore_ipc.c (restore_ipc_one in restore.h): restore_ipc_run makes ipc.img's records in
 * its order, having first refused an attachment whose segment is missing. */
/* For a tree: its root (tree_index 0) makes the objects, every process then attaches its
 * segments; n == 0 without attachments does nothing. */
int restore_ipc_run(struct restore_proc *p, IpcEntry *const *ipc, size_t n) RESTORE_WUR;
/* The puppet in a new IPC namespace by a remote unshare, unless it has one of its own already
 * (restore_proc_create with opts->new_ipc_ns: before a tree's children are forked). */
int restore_ipc_enter_ns(struct restore_proc *p) RESTORE_WUR;

/* restore_core.c: everything after memory and files up to the final registers; the threads
 * stay stopped and attached. */
int restore_core_run(struct restore_proc *p) RESTORE_WUR;
/* restore_timers.c: interval timers (setitimer, alarm) armed again with the time left. */
int restore_timers_run(struct restore_proc *p) RESTORE_WUR;
/* Lets every thread run (the last step: nothing can be undone after it). */
int restore_core_detach(struct restore_proc *p) RESTORE_WUR;

/* restore_plan.c: pure helpers. */

/* Lowest page-aligned address >= RESTORE_SCRATCH_LOW where size bytes fit with a free page
 * on either side, outside every range of a and b (any order). -ENOMEM if none. */
int restore_plan_scratch_gap(const struct restore_range *a, size_t na,
			     const struct restore_range *b, size_t nb, uint64_t size,
			     uint64_t *ret_addr) RESTORE_WUR;

/* The parts of [start, end) outside every range of covered (sorted by start; may overlap each
 * other and stick out of [start, end)). Writes at most n+1 ranges to out; returns their count. */
size_t restore_plan_gaps(uint64_t start, uint64_t end, const struct restore_range *covered,
			 size_t n, struct restore_range *out);

/* Sorts ranges by start. */
void restore_plan_sort_ranges(struct restore_range *ranges, size_t n);

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

/* The image's registers as the kernel's struct. */
void restore_plan_regs(const UserRegsEntry *e, struct user_regs_struct *regs);

#endif
