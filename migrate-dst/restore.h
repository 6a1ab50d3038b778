/*
 * restore: bring a process back to life ("restore by puppet"), in stages.
 *
 * From an image directory, in one call:
 *
 *	struct restore_opts o = { .dir = "/tmp/ck" };
 *	pid_t pid;
 *	r = restore_run(&o, &pid);
 *	if (!o.detached) status = restore_wait(pid);
 *
 * Staged, for the live-migration destination (ARCHITECTURE.md 6.4): the process is built while
 * its pages arrive, and restore_run is nothing but these calls fed from the directory:
 *
 *	restore_proc_create(pst, o, &p)        PID and TIDs free? a bare child with that PID,
 *	                                       seized, with an empty address space
 *	loop (pre-copy rounds):
 *	    restore_proc_set_layout(p, vmas, n, reset, n_reset)   map/unmap/mprotect the difference
 *	    restore_proc_write_pages(p, addr, data, nr)           any number of times
 *	restore_proc_set_layout(...)           the final layout
 *	restore_proc_write_pages(...)          the last dirty pages
 *	restore_proc_keep_only(p, resident, n) drop every page the source no longer holds
 *	restore_ipc_one(p, ipc) ...            System V objects (ipc.img's records, in order), once
 *	                                       the final layout is set
 *	restore_proc_finish(p, task, o)        fds, session, cwd, rlimits, vDSO, mm fields,
 *	                                       sigactions, threads, signals, creds, registers:
 *	                                       complete and STOPPED
 *	restore_proc_resume(p)                 it runs (nothing can be undone after this)
 *	restore_proc_free(p)
 *
 * A tree (restore_run only): restore_proc_create for the root, then each other process forked
 * by its parent's puppet while that one is still bare (restore_internal.h), then the stages
 * above for each; all are resumed at the end, children first.
 *
 * On any error before resume: restore_proc_abort(p) (kill and reap; safe in every stage), then
 * restore_proc_free(p). The puppet is also killed if we die (PTRACE_O_EXITKILL). Every call
 * returns 0 or -errno, logs what failed (err_detail() names the step as well), and after a
 * failed call the only thing left to do with p is abort.
 *
 * One thread of the caller must make every call for a given p (ptrace).
 */
#ifndef MIGRATE_RESTORE_H
#define MIGRATE_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image.h"

struct restore_opts {
	const char *dir;
	bool detached; /* --restore-detached: do not wait for the process */
	bool shell_job; /* rebind terminal fds to ours, join our session, take the foreground */
	int pid_wait_ms; /* how long to wait for a zombie to free a PID; 0: the default (5 s) */
	bool tcp_established; /* --tcp-established: the image may hold established connections */
	bool new_ipc_ns; /* the root gets a new IPC namespace at create (its children share it) */
};

/* Restores every process of the image (a tree: each one the child of its restored parent,
 * see restore_tree.c); *ret_pid is the root process's PID (our child). */
int restore_run(const struct restore_opts *opts, pid_t *ret_pid)
	__attribute__((warn_unused_result));

/* Waits for the restored root and returns an exit status for `migrate restore`:
 * its exit code, or 128+signal if it was killed. */
int restore_wait(pid_t pid, bool shell_job);

/* ---- staged restore ---- */

/* A range of addresses [start, end), page-aligned. */
struct restore_range {
	uint64_t start;
	uint64_t end;
};

/* Time spent in each stage (sums over the calls of a stage), in nanoseconds. */
struct restore_timings {
	uint64_t create_ns;
	uint64_t layout_ns;
	uint64_t pages_ns; /* write_pages and keep_only */
	uint64_t finish_ns;
	uint64_t resume_ns;
	uint64_t sockets_ns; /* inet sockets re-created (part of finish_ns) */
};

struct restore_proc; /* one process being built; opaque */

/* Waits (opts->pid_wait_ms) while only zombies hold pst's PID or TIDs, refuses with -EEXIST
 * naming the holder otherwise; then creates a bare child with pst->pid (our child, stopped and
 * seized with PTRACE_O_TRACECLONE|PTRACE_O_EXITKILL) whose address space holds only a scratch
 * area and [vsyscall]. pst and opts are copied: the caller keeps them. */
int restore_proc_create(const PstreeEntry *pst, const struct restore_opts *opts,
			struct restore_proc **ret) __attribute__((warn_unused_result));

/* Makes the puppet's layout vmas (sorted or not, non-overlapping; [vdso]/[vvar]/[vsyscall]
 * entries are ignored here): unmaps what is gone, maps what is new (files opened by the puppet
 * itself, checked against dev/ino), mprotects what only changed protection, applies madvise
 * bits. A VMA whose backing changed (kind, path, pgoff) and every range of reset lose their
 * contents. Pages of VMAs that stay keep theirs. -EINVAL (detail set) for a bad layout. */
int restore_proc_set_layout(struct restore_proc *p, VmaEntry *const *vmas, size_t n,
			    const struct restore_range *reset, size_t n_reset)
	__attribute__((warn_unused_result));

/* Writes nr_pages pages at vaddr (page-aligned). -EINVAL (detail set) when they are not all
 * inside VMAs of the current layout that hold pages (private or anonymous shared). */
int restore_proc_write_pages(struct restore_proc *p, uint64_t vaddr, const void *data,
			     size_t nr_pages) __attribute__((warn_unused_result));

/* Drops (MADV_DONTNEED) every page of the private VMAs outside resident (any order): anonymous
 * ones read zero again, file-private ones the file's content. Locked and shared VMAs are left
 * alone (a shared page is not lost by the source's MADV_DONTNEED either). */
int restore_proc_keep_only(struct restore_proc *p, const struct restore_range *resident,
			   size_t n) __attribute__((warn_unused_result));

/* One record of ipc.img: the first one moves the puppet into a new IPC namespace (unless
 * restore_proc_create gave it one); a setting is written there, an object made with its id,
 * key, owner, mode and contents by a helper that joins the namespace, and a segment attached
 * over the placeholders of its VMA_SYSV_SHM VMAs in the current layout. Before
 * restore_proc_finish. -errno, logged, on failure. */
int restore_ipc_one(struct restore_proc *p, const IpcEntry *e) __attribute__((warn_unused_result));

/* Everything but memory, from t (its mm's layout must be the one set last): the process is
 * then complete, every thread stopped. t is not kept. Its established TCP connections are
 * left IN repair mode (a failure from here on closes them silently): take them out just
 * before restore_proc_resume (restore_net_release(), or tcp_repair_resume on copies). */
int restore_proc_finish(struct restore_proc *p, const struct image_task *t,
			const struct restore_opts *opts) __attribute__((warn_unused_result));

/* Detaches every thread (the main one with SIGSTOP if the image says stopped); a shell job
 * gets the terminal's foreground first. */
int restore_proc_resume(struct restore_proc *p) __attribute__((warn_unused_result));

/* Kills and reaps the process (no-op after resume); safe in any stage and more than once. */
void restore_proc_abort(struct restore_proc *p);
/* Frees p (NULL is fine); aborts first unless resumed. */
void restore_proc_free(struct restore_proc *p);

pid_t restore_proc_pid(const struct restore_proc *p);
void restore_proc_timings(const struct restore_proc *p, struct restore_timings *ret);

#endif
