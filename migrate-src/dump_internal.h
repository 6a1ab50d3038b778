/*
 * dump_internal: what the files of the dump engine share.
 *
 *	dump.c        checks, seize/interrupt, undo, image writing, after-actions
 *	dump_files.c  the fd table: dump_files_scan() (before and while frozen)
 *	dump_core.c   registers, signals, creds, rlimits: dump_core_collect()
 *	dump_mm.c     VMAs and pages: dump_mm_collect(), dump_mm_write_pages()
 *	dump_tree.c   the processes below the root: scan, checks, freeze, release
 *	dump_tree_share.c  what processes of the tree share (open file descriptions, memory)
 *
 * Records (TaskCoreEntry, MmEntry, FdEntry) are built entirely on the heap so
 * that protobuf_c_message_free_unpacked(msg, NULL) frees them: strings are
 * always malloc'd, never literals.
 *
 * Helpers return 0 or a negative errno and leave err_detail() holding a whole
 * sentence for the user; dump_run() logs it once.
 */
#ifndef MIGRATE_DUMP_INTERNAL_H
#define MIGRATE_DUMP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/user.h>
#include <time.h>

#include "image.h"
#include "proc.h"

#define DUMP_WUR __attribute__((warn_unused_result))

struct dump_thread {
	pid_t tid;
	bool seized;  /* PTRACE_SEIZE succeeded: needs a detach */
	bool stopped; /* PTRACE_INTERRUPT reported its stop */
};

/* A thread the agent let go inside a syscall left to the kernel's restart block: its registers
 * then, which tell that syscall again should a later seize find it in restart_syscall. */
struct dump_restart {
	pid_t tid;
	struct user_regs_struct regs;
};

/* One process of the tree. */
struct dump_proc {
	pid_t pid;
	pid_t ppid; /* 0 for the root of the dump */
	pid_t pgid;
	pid_t sid;
	bool zombie;	/* dead, not reaped: nothing but its pstree entry */
	int exit_code;	/* of a zombie: its exit status (0..255) */
	int term_signal; /* of a zombie killed by a signal: that signal (exit_code unused) */
	char comm[64];	/* of a zombie: its name */
	bool was_stopped;	     /* in group stop before we seized it */
	struct dump_thread *threads; /* threads[0] is the main thread */
	size_t nr_threads;
	FdEntry **fds;
	size_t nr_fds;
	TaskCoreEntry *core;
	MmEntry *mm;
	uint64_t brk; /* brk(0) run in the process, for MmEntry.brk */
	bool tracked; /* under the agent's userfaultfd tracker: its "uw" is not refused */
	const struct dump_mm_snapshot *snapshot; /* may be NULL; see dump_mm_snapshot_take */
	/* The inet sockets the network lock was taken for (dump_net.h; not owned, may be
	 * NULL): dump_collect_state() refuses a socket outside it and, with it, decides
	 * about established connections by its tcp_established. */
	const struct dump_net *net;
	/* The table of the lock that outlives a local dump, for the inventory (or NULL). */
	const char *netlock_table;
	/* What dump_net_collect() took in the last dump_collect_state(), for reports. */
	uint64_t net_collect_ns;
	struct dump_restart *restarts; /* dump_core_release_restarts (agent); owned */
	size_t nr_restarts;
};

/*
 * /proc/PID/maps and smaps as read while the process still ran, just before
 * the freeze. Reading smaps walks every page of the process (~9 ms per GiB
 * here); when maps reads exactly the same once frozen, the layout reuses
 * this smaps text instead, which keeps that walk out of the freeze window.
 * What it cannot see: a madvise() or mlock() over a whole VMA (which changes
 * VmFlags but no line of maps) between this read and the freeze.
 */
struct dump_mm_snapshot {
	char *maps;
	size_t maps_len;
	char *smaps;
	size_t smaps_len;
};

struct dump_tree {
	struct dump_proc *procs; /* procs[0] is the root */
	size_t count;
};

/* dump_files.c */

/* What one fd is, from outside (stat of /proc/PID/fd/N and its link text). */
struct dump_fd_probe {
	int fd;
	mode_t mode;
	dev_t rdev;
	const char *link;
	/* Sockets: SO_DOMAIN, SO_TYPE, SO_PROTOCOL of a copy of the fd; 0 when unknown. */
	int sock_family;
	int sock_type;
	int sock_protocol;
	pid_t pid; /* the holder (pseudo-terminals: is the master of a pts here too?); 0: unknown */
};

/* Classifies an fd by the table of fd kinds: 0 and *ret_kind (an FdKind) when
 * it can be dumped, -ENOTSUP with a sentence in err_detail() when not (a
 * terminal without shell_job, a pipe, a socket...). */
int dump_files_classify(const struct dump_fd_probe *probe, bool shell_job, int *ret_kind) DUMP_WUR;
/* Reads every fd of pid into *ret_fds (an array of *ret_count FdEntry, free
 * with dump_files_free). Refuses the first unsupported fd. */
int dump_files_scan(pid_t pid, bool shell_job, FdEntry ***ret_fds, size_t *ret_count) DUMP_WUR;
void dump_files_free(FdEntry **fds, size_t count);
/* A copy of fd of pid in our process (pidfd_getfd: the same open file description), to look at
 * it without the process's help. */
int dump_files_copy_fd(pid_t pid, int fd, int *ret_fd) DUMP_WUR;

/* dump_fd_event.c: the state of an eventfd, signalfd or timerfd e of pid from its fdinfo
 * (nothing for other kinds). */
int dump_fd_event_fill(pid_t pid, FdEntry *e) DUMP_WUR;

/* dump_fd_pipe.c: capacity and unread data of pipe fd e of pid (nothing for other kinds);
 * the data stays in the pipe. */
int dump_fd_pipe_fill(pid_t pid, FdEntry *e) DUMP_WUR;
/* The unread bytes of pipe or FIFO read end src (ours: a copy), left where they are, by tee into
 * a pipe of capacity bytes. may_shrink: the process runs and may read some meanwhile, so a
 * shorter copy is fine; otherwise anything but all of them is -EIO. */
int dump_fd_pipe_peek(int src, int capacity, bool may_shrink, ProtobufCBinaryData *ret) DUMP_WUR;
/* -ENOTSUP (err_setf) when a pipe of fds has an end that pid does not hold; nothing in tree
 * mode, where dump_fd_pipe_check_tree checks every member's fds (proc->fds) together. */
int dump_fd_pipe_check(pid_t pid, FdEntry **fds, size_t count) DUMP_WUR;
void dump_fd_pipe_set_tree(bool tree);
struct dump_tree;
int dump_fd_pipe_check_tree(const struct dump_tree *tree) DUMP_WUR;
/* dump_tree_share.c: FdEntry.shared_id on the fds of the frozen tree that are one open file
 * description held by several members (kcmp KCMP_FILE); pipes are left out (restored by
 * inode, their ends shared anyway). */
int dump_tree_share_fds(struct dump_tree *tree) DUMP_WUR;
/* dump_tree_share.c: dev and ino (VmaEntry) of every shared anonymous mapping of a tree of
 * more than one process (mm collected), so that the restore maps one object wherever the
 * dump found one. */
int dump_tree_share_mem(struct dump_tree *tree) DUMP_WUR;
/* dump_fd_ghost.c: name, seals and contents of memfd e of pid (nothing for other kinds);
 * -ENOTSUP (err_setf) for one above the size carried in images. A memfd or deleted file the
 * process also maps gets ghost_mapped and no contents (they travel with its VMA). */
int dump_fd_ghost_fill(pid_t pid, FdEntry *e) DUMP_WUR;
/* dump_mm_ghost.c: whether mapping v is of a memfd or a deleted file (carried whole). */
bool dump_mm_ghost_is(const struct proc_vma *v);
/* dump_mm_ghost.c: contents, size, and name and seals or mode, of every memfd or deleted file
 * mapped in vmas (VMA_FILE_* with file_deleted, dev/ino set), on the first VMA of each;
 * -ENOTSUP (err_setf) naming the mapping above the ghost limit or not a regular file. */
int dump_mm_ghost_fill(pid_t pid, VmaEntry **vmas, size_t n) DUMP_WUR;
/* dump_mm_ghost.c: ghost_shared on the VMAs of memfds and deleted files that several members
 * of tree map (mm collected): the restore maps one object in all of them. */
void dump_mm_ghost_mark_shared(struct dump_tree *tree);
/* dump_fd_lock.c: the file locks held through fd e of pid (FdEntry.locks); refused by name
 * without --file-locks or on anything but a regular file. */
int dump_fd_lock_fill(pid_t pid, FdEntry *e) DUMP_WUR;

/* dump_fd_unix.c: unix socket fd e of pid (FdEntry.unix_sk: state, names, options, unread data
 * peeked, nothing consumed; nothing for other kinds). check, on the whole table: peers matched
 * by inode; -ENOTSUP (err_setf) naming the fd for a peer outside the process without
 * --ext-unix-sk (dump_fd_unix.h), or unread data that restore could not put back. */
int dump_fd_unix_fill(pid_t pid, FdEntry *e) DUMP_WUR;
int dump_fd_unix_check(pid_t pid, FdEntry **fds, size_t count) DUMP_WUR;

/* dump_fd_fifo.c: FIFOs (named pipes). fill: the capacity of FIFO fd e of pid (nothing for
 * other kinds or O_PATH fds). check, on the whole table: -ENOTSUP (err_setf) naming the
 * process and fd when another process holds a FIFO of fds; then the unread data of each FIFO,
 * left in it, on the first of its fds in fds (FdEntry.fifo_data), and which fds are dups of
 * an earlier one (FdEntry.fifo_dup_of). */
int dump_fd_fifo_fill(pid_t pid, FdEntry *e) DUMP_WUR;
int dump_fd_fifo_check(pid_t pid, FdEntry **fds, size_t count) DUMP_WUR;

/* dump_fd_pty.c: pseudo-terminal pairs. is_master: the fd is a /dev/ptmx master; is_slave:
 * a /dev/pts/N whose master probe->pid holds (else it is a terminal: FD_TTY). fill: the pair's
 * pts number (FdEntry.pty_index). check, on the whole table: -ENOTSUP (err_setf) naming the fd
 * for a master without its slave in the process, or what a restore cannot give back; then
 * the dups (FdEntry.pty_dup_of) and the pair's state on its first master fd (FdEntry.pty),
 * the queued data only while the process is frozen (read and put back at once). */
bool dump_fd_pty_is_master(const struct dump_fd_probe *p);
bool dump_fd_pty_is_slave(const struct dump_fd_probe *p);
int dump_fd_pty_fill(pid_t pid, FdEntry *e) DUMP_WUR;
int dump_fd_pty_check(pid_t pid, FdEntry **fds, size_t count) DUMP_WUR;
/* Tree mode (the tree of root, 0: off): a slave whose master any member holds is a
 * FD_PTY_SLAVE; check does only the dups, and check_tree, on the members' fds, refuses a master
 * whose slave no member holds and puts each pair's state (TtyEntry.session, fg_pgrp) on its
 * first master fd of the tree. */
void dump_fd_pty_set_tree(pid_t root);
int dump_fd_pty_check_tree(struct dump_tree *tree) DUMP_WUR;
/* Whether the last check_tree found pid leading a session whose controlling terminal is a pair
 * of the tree, and that pair's pts number (PstreeEntry.pty_ctty). */
bool dump_fd_pty_ctty_of(pid_t pid, uint32_t *ret_index);

/* dump_core.c */

/* Rewrites regs as the image must hold them when a thread was stopped inside
 * an interrupted syscall: the restart the kernel would have done on resume. A syscall the
 * kernel restarts through its restart block (poll, nanosleep, clock_nanosleep, a timed futex
 * wait), which the new process will not have, runs again from its registers; one whose
 * number the registers no longer hold (restart_syscall) returns EINTR. */
void dump_core_adjust_restart(struct user_regs_struct *regs);
/* For a thread let go to run on here: true when regs were rewritten to run the interrupted
 * syscall again as it was (poll without timeout, a sleep whose remaining time the kernel wrote
 * over its request, an absolute futex wait) instead of through restart_syscall, whose state a
 * later dump could not carry. Anything else is left to the kernel's restart. */
bool dump_core_restart_in_place(struct user_regs_struct *regs);
/* dump_core_restart_in_place on every seized thread of proc (stopped), before it is let go,
 * unless a signal it does not block is pending (its handler must see EINTR): a failure leaves
 * that thread to the kernel's restart (logged, ignored). A thread left to the kernel's restart
 * is kept in proc->restarts for dump_core_resolve_restarts. */
void dump_core_release_restarts(struct dump_proc *proc);
/* At a later seize (stopped): a thread found in restart_syscall whose registers are still those
 * dump_core_release_restarts kept shows that syscall's number again (orig_rax), so that
 * dump_core_adjust_restart can carry it; the kernel's restart is the same either way. */
void dump_core_resolve_restarts(struct dump_proc *proc);
/* Collects proc->core and proc->brk; all threads must be stopped. Runs remote
 * syscalls in the process and leaves it exactly as it found it. */
int dump_core_collect(struct dump_proc *proc) DUMP_WUR;

/* dump_timers.c */

/* Refuses, by name and before the process is touched, a POSIX timer (/proc/PID/timers) that
 * cannot be made again elsewhere (a CPU clock of another process...). */
int dump_timers_check(pid_t pid) DUMP_WUR;
struct puppet;
/* Fills core->itimers with the armed interval timers, by remote getitimer in p. */
int dump_timers_itimers(struct puppet *p, TaskCoreEntry *core) DUMP_WUR;
/* Fills core->posix_timers with every POSIX timer of p's process (frozen): /proc/PID/timers
 * read again and checked as dump_timers_check does, times by remote timer_gettime in p. */
int dump_timers_posix(struct puppet *p, TaskCoreEntry *core) DUMP_WUR;

/* dump_mm.c */

/* Which pages of a VMA kind go to the image. */
enum dump_pages_policy {
	DUMP_PAGES_NONE,    /* file shared, vdso, vvar, vsyscall */
	DUMP_PAGES_NONZERO, /* anonymous private: present or swapped, zero pages are holes */
	DUMP_PAGES_COW,	    /* file private: anonymous copies only, even zero ones */
	DUMP_PAGES_ALL,	    /* anonymous shared: present or swapped, zero ones too */
};

/* Classifies a VMA: 0 and *ret_kind (a VmaKind), or -ENOTSUP with the reason. */
int dump_mm_classify(const struct proc_vma *vma, int *ret_kind) DUMP_WUR;
uint32_t dump_mm_madv(uint64_t vm_flags);
enum dump_pages_policy dump_mm_policy(int vma_kind);
/* Whether the pagemap entry of a page of a VMA with this policy is dumped. */
bool dump_mm_page_wanted(enum dump_pages_policy policy, uint64_t pagemap_entry);
bool dump_mm_page_is_zero(const void *page);
/* Builds proc->mm (fields, auxv, exe, VMAs) from /proc; proc->brk must be set. */
int dump_mm_collect(struct dump_proc *proc) DUMP_WUR;
/* Streams the pages of every VMA of proc->mm into w. */
int dump_mm_write_pages(struct dump_proc *proc, struct page_writer *w) DUMP_WUR;
/*
 * The VMAs of pid now, as the image holds them (*ret_vmas: an array of
 * *ret_count, free with dump_mm_vmas_free). tracked: the process is under a
 * userfaultfd tracker of ours, whose "uw" registration is not refused.
 */
int dump_mm_layout(pid_t pid, bool tracked, VmaEntry ***ret_vmas, size_t *ret_count) DUMP_WUR;
void dump_mm_vmas_free(VmaEntry **vmas, size_t count);
/* Fills *ret (zeroed on entry); -EAGAIN when maps changed while smaps was read. */
int dump_mm_snapshot_take(pid_t pid, struct dump_mm_snapshot *ret) DUMP_WUR;
void dump_mm_snapshot_fini(struct dump_mm_snapshot *s); /* accepts a zeroed one */

/*
 * Where the page walker hands the pages a dump holds. One walker serves the
 * image writer, the wire sender of live migration and the residency list:
 *  - pages_cb: nr_pages pages at vaddr, contents valid during the call only;
 *    runs never span two VMAs.
 *  - vma_end_cb (may be NULL): after the last page of each VMA.
 *  - range_cb (residency): when set, contents are not read at all: each range
 *    of wanted pages is reported instead (pages_cb is then unused). With
 *    want_written, written says whether the pages lack the userfaultfd
 *    write-protection (PAGEMAP_SCAN's PAGE_IS_WRITTEN: written since the
 *    tracker's last collect); it is true when that cannot be known.
 *  - keep_zero: zero-content pages of anonymous private memory are handed on
 *    too (the image drops them; the wire must send them as holes since the
 *    destination may hold older contents). The shared zero page never is.
 */
struct dump_mm_sink {
	int (*pages_cb)(void *arg, uint64_t vaddr, const void *pages, size_t nr_pages);
	int (*vma_end_cb)(void *arg);
	int (*range_cb)(void *arg, uint64_t start, uint64_t end, bool written);
	void *arg;
	bool keep_zero;
	bool want_written;
	/* The process runs (pre-copy): a page that cannot be read was unmapped
	 * since the layout was read; it goes out as zeros instead of failing the
	 * walk. Safe because whatever is mapped there later is a new VMA, which
	 * the trackers report whole, and the frozen layout and residency decide
	 * what the destination keeps. */
	bool may_vanish;
};

struct dump_mm_stats {
	uint64_t pages;	       /* pages handed on (or reported, for range_cb) */
	uint64_t zero_skipped; /* zero pages left out */
	uint64_t vanished;     /* pages unmapped while read (may_vanish) */
	double read_ms;	       /* process_vm_readv and /proc/PID/mem */
	double emit_ms;	       /* zero checks and the sink */
};

struct track_ranges;

/*
 * Walks the pages a dump holds in vmas (the dump engine's page policy per VMA
 * kind), all of them or, with only (sorted, disjoint), those inside only's
 * ranges, and hands them to sink. Contents come from process_vm_readv in
 * batches of up to 16 MiB. *ret_stats may be NULL.
 */
int dump_mm_walk(pid_t pid, VmaEntry *const *vmas, size_t count, const struct track_ranges *only,
		 const struct dump_mm_sink *sink, struct dump_mm_stats *ret_stats) DUMP_WUR;

/* dump.c: the stages of dump_run(), shared with the live-migration agent. */

struct dump_opts;
struct utsname;

/* The checks of one live process of a tree (not a thread, not traced, no POSIX timers,
 * supported fds) before anything is touched; sets proc->was_stopped and keeps its fds in
 * proc->fds for the checks across the tree. */
int dump_check_member(const struct dump_opts *opts, struct dump_proc *proc) DUMP_WUR;
/* Seizes and stops every thread into proc->threads (appended: empty it first
 * to seize again after a dump_release). Undo: dump_resume(), also on failure. */
int dump_seize(struct dump_proc *proc) DUMP_WUR;
/* Detaches every seized thread; main_sig goes to the main thread only. */
void dump_release(struct dump_proc *proc, int main_sig);
/* Undo of dump_seize: the process runs on (or stays stopped) as before. */
void dump_resume(struct dump_proc *proc);
/* SIGKILL, reap the ptrace notifications, wait until the PIDs are free. */
void dump_kill(struct dump_proc *proc);
/* opts->after: kill, leave running or leave stopped. */
void dump_after(const struct dump_opts *opts, struct dump_proc *proc);
/* All threads stopped: fds, pgid/sid, core (remote syscalls, process left as it was). */
int dump_collect_state(const struct dump_opts *opts, struct dump_proc *proc) DUMP_WUR;
/* Writes every image of proc (state and mm collected) into opts->dir; on
 * failure removes what it wrote. */
int dump_images(const struct dump_opts *opts, struct dump_proc *proc) DUMP_WUR;
/* The records exactly as dump_images() writes them; they point into opts, u,
 * proc and tids (proc->nr_threads entries): no heap, nothing to free. */
void dump_inventory_fill(InventoryEntry *inv, const struct dump_opts *opts, struct utsname *u);
void dump_pstree_fill(PstreeEntry *ps, const struct dump_proc *proc, uint32_t *tids);
void dump_proc_fini(struct dump_proc *proc);

/* dump.c: replaces err_detail() with "PREFIX: <previous detail>" (or
 * "PREFIX: <strerror>" when there was none) and returns r. */
int dump_err_wrap(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Elapsed milliseconds since *since (CLOCK_MONOTONIC). */
double dump_ms_since(const struct timespec *since);

/* dump_tree.c: the processes below a root, breadth first (members[0] is the
 * root), read from /proc without touching them. */
struct dump_tree_member {
	pid_t pid, ppid, pgid, sid;
	char state; /* of /proc/PID/stat: 'T' stopped, 'Z' zombie, ... */
	int depth; /* 0 the root, 1 its children, ... */
};

struct dump_tree_scan {
	struct dump_tree_member *members;
	size_t count, cap;
};

int dump_tree_scan(pid_t root, struct dump_tree_scan *ret) DUMP_WUR;
void dump_tree_scan_fini(struct dump_tree_scan *s);

/*
 * The whole tree below opts->pid, for `migrate dump`:
 *
 *	dump_tree_precheck    scan, then every member checked (nothing touched)
 *	dump_tree_seize       every thread of every live member seized and stopped, parents
 *	                      first; rescans until the tree is the same (new children seized)
 *	... collect and write each member ...
 *	dump_tree_after       kill / leave running / leave stopped, children first
 *	or dump_tree_resume   on any failure: every member as it was
 *	dump_tree_fini
 */
int dump_tree_precheck(const struct dump_opts *opts, struct dump_tree *ret) DUMP_WUR;
int dump_tree_seize(const struct dump_opts *opts, struct dump_tree *tree) DUMP_WUR;
void dump_tree_resume(struct dump_tree *tree);
void dump_tree_after(const struct dump_opts *opts, struct dump_tree *tree);
void dump_tree_fini(struct dump_tree *tree);
/* Writes every image of the tree (state and mm of each live member collected); on failure
 * removes what it wrote. dump_images() is this for a tree of one. */
int dump_tree_images(const struct dump_opts *opts, struct dump_tree *tree) DUMP_WUR;

/*
 * dump_ipc.c: System V IPC. A tree in its own IPC namespace carries every object of it
 * (ipc.img); one in the host's namespace may not attach a segment (refused by name).
 *
 *	dump_ipc_check(pid)            before anything is touched, for each process
 *	dump_ipc_own_ns(pid)           InventoryEntry.ipc_ns
 *	dump_ipc_write(dir, tree, &w)  frozen: ipc.img of the root's namespace (nothing without
 *	                               one of its own); a member in another namespace refused
 *	or dump_ipc_collect(pid, &ipc) ... dump_ipc_fini(&ipc)   the records, for the wire
 */
struct dump_ipc {
	IpcEntry **entries; /* settings first, then segments, semaphore sets, queues */
	size_t count;
};

bool dump_ipc_own_ns(pid_t pid);
int dump_ipc_check(pid_t pid) DUMP_WUR;
/* Every live member in the root's IPC namespace (else -ENOTSUP naming it): the objects that
 * travel are the root's namespace's. */
int dump_ipc_check_tree(const struct dump_tree *tree) DUMP_WUR;
int dump_ipc_collect(pid_t pid, struct dump_ipc *ret) DUMP_WUR;
void dump_ipc_fini(struct dump_ipc *ipc);
/* Sets 1 << IMAGE_IPC in *written once the file is (being) written. */
int dump_ipc_write(struct image_dir *d, const struct dump_tree *tree,
		   unsigned int *written) DUMP_WUR;

#endif
