/*
 * track: which pages of a process were written since the last look.
 *
 * The pre-copy loop (ARCHITECTURE.md 4.5) copies memory while the process
 * runs; each round it needs the pages written since the previous round. Three
 * backends sit behind one opaque handle:
 *
 *	uffd-wp     userfaultfd WP_ASYNC + PAGEMAP_SCAN (Linux >= 6.7). Collect
 *	            and re-arm are one atomic ioctl: no freeze between rounds.
 *	soft-dirty  clear_refs "4" + pagemap bit 55 (CONFIG_MEM_SOFT_DIRTY).
 *	            Read-then-clear is two steps: freeze around collect.
 *	none        every collect reports every present page. Correct, but the
 *	            pre-copy never converges.
 *
 * Call sequence:
 *
 *	enum track_kind kind;
 *	r = track_auto(&kind);                 or track_kind_parse("uffd-wp", &kind)
 *	r = track_probe(kind);                 0, or -errno + err_detail() saying why not
 *
 *	(process stopped; for uffd-wp a puppet with a scratch page on one thread)
 *	r = track_start(kind, pid, &puppet, &t);
 *	... puppet_fini, puppet_detach: the process runs again ...
 *	copy every present page                (round 0: start is the baseline)
 *
 *	loop:
 *		if (track_needs_freeze(t)) stop all threads
 *		r = track_collect(t, &ranges);  written since start / last collect
 *		if (track_needs_freeze(t)) resume them
 *		copy the pages of ranges         (those not present are holes now)
 *		track_ranges_free(&ranges);
 *
 *	track_stop(t);                         the process is left as it was
 *
 * What a collect reports: sorted, disjoint, page-aligned [start, end) ranges
 * inside the process's private writable VMAs. A VMA that appeared since the
 * last collect (mmap, brk growth, mremap, mprotect to writable) is reported
 * whole, present or not: the caller reads which of its pages exist. A VMA
 * that vanished is simply absent. Pages dropped without a write (munmap of
 * part of a VMA, MADV_DONTNEED) are NOT reported: the caller learns of them by
 * comparing presence, which the final (frozen) pass does anyway. Shared
 * mappings are not tracked (their pages are not the process's own to send).
 *
 * Errors: every function returns 0 or -errno and leaves err_detail() saying
 * which step failed, on which process and range. No function prints.
 */
#ifndef MIGRATE_TRACK_H
#define MIGRATE_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TRACK_WUR __attribute__((warn_unused_result))

struct puppet;
struct proc_vma;
struct proc_vma_list;

enum track_kind {
	TRACK_NONE,
	TRACK_SOFT_DIRTY,
	TRACK_UFFD_WP,
};

struct track_range {
	uint64_t start;
	uint64_t end; /* exclusive, page-aligned */
};

/* Owned by the caller once filled; free with track_ranges_free(). */
struct track_ranges {
	struct track_range *ranges; /* sorted by start, disjoint, adjacent ones merged */
	size_t count;
	size_t capacity;
	uint64_t pages; /* total pages over all ranges */
};

struct track;

/* "none", "soft-dirty", "uffd-wp"; "?" for a value out of range. */
const char *track_kind_name(enum track_kind kind);
/* Parses a name of track_kind_name(); "auto" is not a kind (see track_auto). -EINVAL
 * with err_detail() quoting the input otherwise. */
int track_kind_parse(const char *name, enum track_kind *ret_kind) TRACK_WUR;

/* 0 when kind works on this kernel for this agent, tested on a page of our own;
 * else -errno with err_detail() saying why (e.g. "kernel built without
 * CONFIG_MEM_SOFT_DIRTY"). TRACK_NONE always works. */
int track_probe(enum track_kind kind) TRACK_WUR;
/* The best kind that track_probe() accepts: uffd-wp > soft-dirty > none. Never fails
 * today (none always works); err_detail() then holds why the better ones were refused. */
int track_auto(enum track_kind *ret_kind) TRACK_WUR;

/*
 * Starts tracking pid. The process must be stopped (all threads for
 * soft-dirty, because clear_refs races with writers; for uffd-wp, main_thread
 * must be a puppet_init'ed thread with a scratch page: the userfaultfd is made by
 * a remote syscall in the process, then the puppet's registers are not
 * restored here, the caller does that with puppet_fini). main_thread may be NULL
 * for the other kinds. On success *ret is owned by the caller (track_stop); on
 * failure the process is as it was.
 */
int track_start(enum track_kind kind, pid_t pid, struct puppet *main_thread,
		struct track **ret) TRACK_WUR;
/*
 * Pages written since track_start() or the previous collect, into *ret (which
 * the caller zero-initialises or reuses after track_ranges_free). uffd-wp:
 * works while the process runs, each page is read-and-rearmed atomically, so a
 * write racing with the collect shows up in this collect or in the next, never
 * lost. soft-dirty: all threads must be stopped around it (track_needs_freeze).
 * -ESRCH when the process is gone. On failure *ret is untouched.
 */
int track_collect(struct track *t, struct track_ranges *ret) TRACK_WUR;
/* true when collect needs every thread stopped (soft-dirty). */
bool track_needs_freeze(const struct track *t);
enum track_kind track_get_kind(const struct track *t);
/* Undoes everything (uffd-wp: closing our uffd unregisters every range). The
 * process needs not be stopped. Accepts NULL. */
void track_stop(struct track *t);

void track_ranges_free(struct track_ranges *r); /* accepts a zeroed struct */

/* ---- between track.c and the backends (track_*.c); not for callers ---- */

struct track_ops {
	int (*probe)(void);
	int (*start)(struct track *t, struct puppet *main_thread);
	int (*collect)(struct track *t, struct track_ranges *ranges);
	void (*stop)(struct track *t);
	bool needs_freeze;
};

struct track {
	enum track_kind kind;
	const struct track_ops *ops;
	pid_t pid;
	int pagemap_fd; /* /proc/PID/pagemap, -1 when closed */
	int uffd;	/* uffd-wp: our copy of the process's userfaultfd, -1 otherwise */
};

extern const struct track_ops track_none_ops;
extern const struct track_ops track_softdirty_ops;
extern const struct track_ops track_uffd_ops;

/* Appends [start, end) (page-aligned, not below the last range's end), merging
 * with the last range when adjacent. */
int track_ranges_add(struct track_ranges *r, uint64_t start, uint64_t end) TRACK_WUR;
/* true for the VMAs a tracker watches: private, writable, ordinary memory. */
bool track_vma_tracked(const struct proc_vma *vma);
/* Reads maps (and smaps VmFlags when with_flags) of t->pid into *ret_vmas. */
int track_read_vmas(const struct track *t, bool with_flags,
		    struct proc_vma_list *ret_vmas) TRACK_WUR;
/* Adds the pages of [start, end) whose pagemap entry has any bit of mask. */
int track_pagemap_add(const struct track *t, uint64_t start, uint64_t end, uint64_t mask,
		      struct track_ranges *r) TRACK_WUR;

#endif
