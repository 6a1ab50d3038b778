/*
 * track: kind names, probing and selection, the handle, and what the backends
 * share (range lists, the VMA filter, the pagemap reader).
 */
#include "track.h"

#include "compat.h"
#include "err.h"
#include "log.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define TRACK_PAGE 4096ULL
/* pagemap entries read per pread: 16 MiB of address space, 32 KiB of buffer */
#define TRACK_PAGEMAP_BATCH 4096

static const char *const track_names[] = {
	[TRACK_NONE] = "none",
	[TRACK_SOFT_DIRTY] = "soft-dirty",
	[TRACK_UFFD_WP] = "uffd-wp",
};

static const struct track_ops *track_ops_of(enum track_kind kind)
{
	switch (kind) {
	case TRACK_NONE:
		return &track_none_ops;
	case TRACK_SOFT_DIRTY:
		return &track_softdirty_ops;
	case TRACK_UFFD_WP:
		return &track_uffd_ops;
	}
	return NULL;
}

const char *track_kind_name(enum track_kind kind)
{
	if ((unsigned)kind >= sizeof(track_names) / sizeof(track_names[0]))
		return "?";
	return track_names[kind];
}

int track_kind_parse(const char *name, enum track_kind *ret_kind)
{
	for (unsigned i = 0; i < sizeof(track_names) / sizeof(track_names[0]); i++) {
		if (name && !strcmp(name, track_names[i])) {
			*ret_kind = (enum track_kind)i;
			return 0;
		}
	}
	return err_setf(EINVAL, "unknown dirty tracker \"%s\" (known: none, soft-dirty, uffd-wp)",
			name ? name : "(null)");
}

int track_probe(enum track_kind kind)
{
	const struct track_ops *ops = track_ops_of(kind);

	if (!ops)
		return err_setf(EINVAL, "tracker kind %d out of range", (int)kind);
	return ops->probe();
}

int track_auto(enum track_kind *ret_kind)
{
	/* Keep the first refusal: it explains why the best tracker is not used. */
	char why[256] = "";

	if (track_probe(TRACK_UFFD_WP) == 0) {
		*ret_kind = TRACK_UFFD_WP;
		return 0;
	}
	snprintf(why, sizeof(why), "uffd-wp: %s", err_detail());
	if (track_probe(TRACK_SOFT_DIRTY) == 0) {
		*ret_kind = TRACK_SOFT_DIRTY;
		(void)err_setf(0, "%s", why);
		return 0;
	}
	/* err_setf writes the buffer err_detail() reads: copy first */
	char why_sd[256];
	snprintf(why_sd, sizeof(why_sd), "%s", err_detail());
	(void)err_setf(0, "%s; soft-dirty: %s", why, why_sd);
	*ret_kind = TRACK_NONE;
	return 0;
}

int track_start(enum track_kind kind, pid_t pid, struct puppet *main_thread, struct track **ret)
{
	const struct track_ops *ops = track_ops_of(kind);
	char path[64];

	if (!ops)
		return err_setf(EINVAL, "tracker kind %d out of range", (int)kind);
	struct track *t = calloc(1, sizeof(*t));
	if (!t)
		return err_setf(ENOMEM, "pid %d: tracker state", pid);
	t->kind = kind;
	t->ops = ops;
	t->pid = pid;
	t->uffd = -1;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	t->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->pagemap_fd < 0) {
		int r = err_setf(errno, "pid %d: cannot open %s: %s", pid, path, strerror(errno));
		free(t);
		return r;
	}
	int r = ops->start(t, main_thread);
	if (r < 0) {
		close(t->pagemap_fd);
		free(t);
		return r;
	}
	log_debug("pid %d: %s dirty tracking started", pid, track_names[kind]);
	*ret = t;
	return 0;
}

int track_collect(struct track *t, struct track_ranges *ret)
{
	struct track_ranges r = { 0 };
	int e = t->ops->collect(t, &r);

	if (e < 0) {
		track_ranges_free(&r);
		/* /proc files of a reaped process vanish: say so plainly */
		if (kill(t->pid, 0) < 0 && errno == ESRCH)
			return err_setf(ESRCH, "pid %d is gone", t->pid);
		return e;
	}
	track_ranges_free(ret);
	*ret = r;
	return 0;
}

bool track_needs_freeze(const struct track *t)
{
	return t->ops->needs_freeze;
}

enum track_kind track_get_kind(const struct track *t)
{
	return t->kind;
}

void track_stop(struct track *t)
{
	if (!t)
		return;
	t->ops->stop(t);
	if (t->pagemap_fd >= 0)
		close(t->pagemap_fd);
	free(t);
}

void track_ranges_free(struct track_ranges *r)
{
	free(r->ranges);
	memset(r, 0, sizeof(*r));
}

int track_ranges_add(struct track_ranges *r, uint64_t start, uint64_t end)
{
	if (end <= start)
		return 0;
	r->pages += (end - start) / TRACK_PAGE;
	if (r->count && r->ranges[r->count - 1].end == start) {
		r->ranges[r->count - 1].end = end;
		return 0;
	}
	if (r->count == r->capacity) {
		size_t cap = r->capacity ? r->capacity * 2 : 64;
		struct track_range *n = realloc(r->ranges, cap * sizeof(*n));
		if (!n)
			return err_setf(ENOMEM, "dirty range list of %zu entries", cap);
		r->ranges = n;
		r->capacity = cap;
	}
	r->ranges[r->count++] = (struct track_range){ start, end };
	return 0;
}

bool track_vma_tracked(const struct proc_vma *vma)
{
	if (vma->shared || !(vma->prot & PROT_WRITE))
		return false;
	/* device memory: no struct pages behind it, nothing of the process's to send */
	if (vma->vm_flags & (PROC_VMF_PF | PROC_VMF_IO))
		return false;
	return !vma->path || strcmp(vma->path, "[vsyscall]");
}

int track_read_vmas(const struct track *t, bool with_flags, struct proc_vma_list *ret_vmas)
{
	struct proc_vma_list vmas = { 0 };
	char *text;
	size_t len;
	int r = proc_read_file(t->pid, "maps", &text, &len);

	if (r < 0)
		return r;
	r = proc_parse_maps(text, len, &vmas);
	free(text);
	if (r < 0 || !with_flags)
		goto out;
	/* maps and smaps are two reads: a VMA created in between simply has no flags,
	 * which the uffd backend reads as "not registered yet": safe. */
	r = proc_read_file(t->pid, "smaps", &text, &len);
	if (r < 0)
		goto out;
	r = proc_parse_smaps_vmflags(text, len, &vmas);
	free(text);
out:
	if (r < 0) {
		proc_vma_list_free(&vmas);
		return r;
	}
	*ret_vmas = vmas;
	return 0;
}

int track_pagemap_add(const struct track *t, uint64_t start, uint64_t end, uint64_t mask,
		      struct track_ranges *r)
{
	uint64_t buf[TRACK_PAGEMAP_BATCH];

	while (start < end) {
		uint64_t n = (end - start) / TRACK_PAGE;
		if (n > TRACK_PAGEMAP_BATCH)
			n = TRACK_PAGEMAP_BATCH;
		ssize_t got = pread(t->pagemap_fd, buf, n * 8, (off_t)(start / TRACK_PAGE * 8));
		if (got < 0)
			return err_setf(errno, "pid %d: reading pagemap at %#llx: %s", t->pid,
					(unsigned long long)start, strerror(errno));
		if (got < 8) /* past the end of the address space */
			break;
		for (uint64_t i = 0; i < (uint64_t)got / 8; i++) {
			if (!(buf[i] & mask))
				continue;
			uint64_t a = start + i * TRACK_PAGE;
			int e = track_ranges_add(r, a, a + TRACK_PAGE);
			if (e < 0)
				return e;
		}
		start += (uint64_t)got / 8 * TRACK_PAGE;
	}
	return 0;
}
