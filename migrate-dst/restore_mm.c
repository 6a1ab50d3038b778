/*
 * restore_mm: the memory of the puppet, by remote syscalls and /proc/PID/mem.
 *
 *	create:  scratch area in a free gap → unregister the inherited rseq → close every fd →
 *	         munmap all but the scratch and [vsyscall]: an empty address space
 *	layout:  the difference between the layout the puppet has and the one asked for: munmap
 *	         what is gone (or reset, or whose backing changed), mmap what is new (files opened
 *	         by the puppet, then closed), mprotect/madvise what only changed attributes
 *	pages:   pwrite into /proc/PID/mem; keep_only drops the rest with MADV_DONTNEED
 *	finish:  vDSO moved back with ARCH_MAP_VDSO_64 and checked → PR_SET_MM_MAP
 *
 * The caller kills the puppet after any failure (restore_proc_abort), so nothing here is
 * undone but our own buffers.
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "err.h"
#include "log.h"
#include "proc.h"

static int mm_read_maps(pid_t pid, struct proc_vma_list *ret)
{
	char *text;
	size_t len;
	int r = proc_read_file(pid, "maps", &text, &len);

	if (r < 0)
		return log_error_errno(r, "cannot read /proc/%d/maps: %s", pid, err_detail());
	r = proc_parse_maps(text, len, ret);
	free(text);
	if (r < 0)
		return log_error_errno(r, "cannot parse /proc/%d/maps: %s", pid, err_detail());
	return 0;
}

int restore_call(struct puppet *p, const char *what, long *ret, long nr, uint64_t a1,
		 uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6)
{
	long rv;
	int r = puppet_syscall6(p, &rv, nr, a1, a2, a3, a4, a5, a6);

	if (r < 0)
		return log_error_errno(r, "pid %d: remote %s: %s", p->pid, what, err_detail());
	if (rv < 0 && rv > -4096)
		return log_error_errno((int)rv, "pid %d: remote %s failed", p->pid, what);
	if (ret)
		*ret = rv;
	return 0;
}

/* Maps a scratch area at the lowest gap of the current maps and of avoid, in the puppet. */
static int mm_scratch_hint(struct restore_proc *p, const struct restore_range *avoid,
			   size_t n_avoid, uint64_t *ret_hint)
{
	struct proc_vma_list cur = { 0 };
	struct restore_range *b;
	int r = mm_read_maps(p->pid, &cur);

	if (r < 0)
		return r;
	b = calloc(cur.count + 1, sizeof(*b));
	if (!b) {
		proc_vma_list_free(&cur);
		return log_error_errno(-ENOMEM, "pid %d: scratch area", p->pid);
	}
	for (size_t i = 0; i < cur.count; i++)
		b[i] = (struct restore_range){ cur.vmas[i].start, cur.vmas[i].end };
	r = restore_plan_scratch_gap(avoid, n_avoid, b, cur.count, RESTORE_SCRATCH_SIZE, ret_hint);
	if (r < 0)
		r = log_error_errno(r, "pid %d: %s", p->pid, err_detail());
	free(b);
	proc_vma_list_free(&cur);
	return r;
}

/* The new child inherited our rseq registration; its area is about to be unmapped. */
static int mm_unregister_rseq(struct puppet *p)
{
	struct migrate_ptrace_rseq_configuration conf = { 0 };

	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, p->tid, sizeof(conf), &conf) < 0)
		return log_error_errno(-errno, "pid %d: PTRACE_GET_RSEQ_CONFIGURATION", p->tid);
	if (!conf.rseq_abi_pointer)
		return 0;
	return restore_call(p, "rseq unregister", NULL, SYS_rseq, conf.rseq_abi_pointer,
			    conf.rseq_abi_size, 1 /* RSEQ_FLAG_UNREGISTER */, conf.signature, 0, 0);
}

static int mm_unmap_all(struct restore_proc *p, struct puppet *pp)
{
	struct proc_vma_list cur = { 0 };
	int r = mm_read_maps(p->pid, &cur);

	for (size_t i = 0; r == 0 && i < cur.count; i++) {
		const struct proc_vma *v = &cur.vmas[i];

		if (v->start < pp->scratch + pp->scratch_size && pp->scratch < v->end)
			continue;
		/* The kernel refuses to unmap [vsyscall]; it sits at the same place everywhere. */
		if (v->path && strcmp(v->path, "[vsyscall]") == 0)
			continue;
		r = restore_call(pp, "munmap", NULL, SYS_munmap, v->start, v->end - v->start, 0, 0,
				 0, 0);
	}
	proc_vma_list_free(&cur);
	return r;
}

int restore_mm_empty(struct restore_proc *p)
{
	struct puppet *pp = &p->puppets[0];
	uint64_t hint;
	int r = mm_scratch_hint(p, NULL, 0, &hint);

	if (r < 0)
		return r;
	r = puppet_map_scratch(pp, hint, RESTORE_SCRATCH_SIZE);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot map the scratch area at 0x%llx: %s",
				       p->pid, (unsigned long long)hint, err_detail());
	r = mm_unregister_rseq(pp);
	/* It holds copies of every fd we had (our sockets too): none is the image's. */
	if (r == 0)
		r = restore_call(pp, "close_range", NULL, SYS_close_range, 0, ~0U, 0, 0, 0, 0);
	if (r == 0)
		r = mm_unmap_all(p, pp);
	return r;
}

/* ---- layout ---- */

static bool vma_special(int kind)
{
	return kind != VMA_KIND__VMA_ANON_PRIVATE && kind != VMA_KIND__VMA_HEAP &&
	       kind != VMA_KIND__VMA_STACK && kind != VMA_KIND__VMA_ANON_SHARED &&
	       kind != VMA_KIND__VMA_FILE_PRIVATE && kind != VMA_KIND__VMA_FILE_SHARED &&
	       kind != VMA_KIND__VMA_SYSV_SHM;
}

static bool vma_is_file(int kind)
{
	return kind == VMA_KIND__VMA_FILE_PRIVATE || kind == VMA_KIND__VMA_FILE_SHARED;
}

static bool vma_private(int kind)
{
	return kind == VMA_KIND__VMA_ANON_PRIVATE || kind == VMA_KIND__VMA_HEAP ||
	       kind == VMA_KIND__VMA_STACK || kind == VMA_KIND__VMA_FILE_PRIVATE;
}

static void layout_free(struct restore_vma *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i].path);
	free(l);
}

void restore_mm_layout_free(struct restore_proc *p)
{
	layout_free(p->layout, p->layout_count);
	p->layout = NULL;
	p->layout_count = 0;
}

static int cmp_vma(const void *a, const void *b)
{
	const struct restore_vma *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

static int vma_copy(const VmaEntry *e, struct restore_vma *v)
{
	*v = (struct restore_vma){
		.start = e->start, .end = e->end, .pgoff = e->has_pgoff ? e->pgoff : 0,
		.dev = e->dev, .ino = e->ino, .file_size = e->file_size,
		.has_dev = e->has_dev, .has_ino = e->has_ino, .has_file_size = e->has_file_size,
		.prot = e->prot, .flags = e->flags, .madv = e->has_madv ? e->madv : 0,
		.kind = (int)e->kind,
	};
	if (e->start % IMAGE_PAGE_SIZE || e->end % IMAGE_PAGE_SIZE || e->start >= e->end ||
	    e->end > RESTORE_USER_TOP || v->pgoff % IMAGE_PAGE_SIZE)
		return err_setf(-EINVAL, "layout: VMA 0x%llx-0x%llx (pgoff 0x%llx) is not a page-"
				"aligned range of user addresses", (unsigned long long)e->start,
				(unsigned long long)e->end, (unsigned long long)v->pgoff);
	if (vma_is_file(v->kind) && !e->path)
		return err_setf(-EINVAL, "layout: file VMA 0x%llx without a path",
				(unsigned long long)e->start);
	/* Its object is in the layout (restore_mm_ghost_check) and mapped from there. */
	v->deleted = vma_is_file(v->kind) && e->has_file_deleted && e->file_deleted;
	if (e->path && !(v->path = strdup(e->path)))
		return err_setf(-ENOMEM, "layout: out of memory");
	return 0;
}

/* The mappable VMAs of vmas, sorted, checked; *ret owned by the caller. */
static int layout_build(VmaEntry *const *vmas, size_t n, struct restore_vma **ret,
			size_t *ret_n)
{
	struct restore_vma *l = calloc(n + 1, sizeof(*l));
	size_t count = 0;
	int r = 0;

	if (!l)
		return err_setf(-ENOMEM, "layout: out of memory");
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!vmas[i])
			r = err_setf(-EINVAL, "layout: VMA %zu missing", i);
		else if (!vma_special((int)vmas[i]->kind))
			r = vma_copy(vmas[i], &l[count++]);
	}
	if (r == 0 && count)
		qsort(l, count, sizeof(*l), cmp_vma);
	for (size_t i = 1; r == 0 && i < count; i++)
		if (l[i].start < l[i - 1].end)
			r = err_setf(-EINVAL, "layout: VMA 0x%llx-0x%llx overlaps 0x%llx-0x%llx",
				     (unsigned long long)l[i - 1].start,
				     (unsigned long long)l[i - 1].end,
				     (unsigned long long)l[i].start, (unsigned long long)l[i].end);
	if (r < 0) {
		layout_free(l, count);
		return r;
	}
	*ret = l;
	*ret_n = count;
	return 0;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* True when the pages the two VMAs share keep their contents across the change. */
static bool vma_compatible(const struct restore_vma *o, const struct restore_vma *n)
{
	if (o->kind != n->kind || (o->flags & MAP_GROWSDOWN) != (n->flags & MAP_GROWSDOWN))
		return false;
	/* A piece of a shared anonymous mapping is a different object. */
	if (o->kind == VMA_KIND__VMA_ANON_SHARED)
		return o->start == n->start && o->end == n->end;
	if (o->kind == VMA_KIND__VMA_SYSV_SHM) /* the same attachment (or placeholder) */
		return o->start == n->start && o->end == n->end && o->ino == n->ino &&
		       o->pgoff == n->pgoff;
	if (!vma_is_file(o->kind))
		return true;
	return str_eq(o->path, n->path) && o->dev == n->dev && o->ino == n->ino &&
	       o->pgoff - o->start == n->pgoff - n->start;
}

/* Intersections of [start, end) with the VMAs of list compatible with v (sorted). */
static size_t layout_kept(const struct restore_vma *v, const struct restore_vma *list, size_t n,
			  struct restore_range *out)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t s = list[i].start > v->start ? list[i].start : v->start;
		uint64_t e = list[i].end < v->end ? list[i].end : v->end;

		if (s < e && vma_compatible(&list[i], v))
			out[count++] = (struct restore_range){ s, e };
	}
	return count;
}

int restore_remote_open(struct puppet *pp, const char *path, int flags, int *ret_fd)
{
	uint64_t addr;
	long rv;
	int r;

	puppet_push_reset(pp);
	r = puppet_push(pp, path, strlen(path) + 1, &addr);
	if (r == 0)
		r = puppet_syscall6(pp, &rv, SYS_open, addr, (uint64_t)flags, 0, 0, 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: remote open of %s: %s", pp->pid, path,
				       err_detail());
	if (rv < 0)
		return (int)rv;
	*ret_fd = (int)rv;
	return 0;
}

/* Opens the file of v in the puppet: the same file as dumped, or refusal. */
static int mm_open_file(struct restore_proc *p, const struct restore_vma *v, int *ret_fd)
{
	bool rw = v->kind == VMA_KIND__VMA_FILE_SHARED && (v->prot & PROT_WRITE);
	struct puppet *pp = &p->puppets[0];
	char link[64];
	struct stat st;
	int fd, r = restore_remote_open(pp, v->path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC, &fd);

	if (r < 0)
		return log_error_errno(r, "mapped file %s is missing", v->path);
	snprintf(link, sizeof(link), "/proc/%d/fd/%d", p->pid, fd);
	if (stat(link, &st) < 0 || (v->has_dev && v->dev != st.st_dev) ||
	    (v->has_ino && v->ino != st.st_ino) ||
	    (v->has_file_size && v->file_size != (uint64_t)st.st_size)) {
		/* The refusal below is what matters; the puppet is killed after it anyway. */
		if (restore_call(pp, "close", NULL, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0) < 0)
			log_debug("pid %d: fd %d left open, ignoring", p->pid, fd);
		return log_error_errno(-ESTALE, "mapped file %s changed since the dump (inode "
				       "%llu size %llu, now %llu size %llu): mapping a different "
				       "file is unsafe", v->path, (unsigned long long)v->ino,
				       (unsigned long long)v->file_size,
				       (unsigned long long)st.st_ino,
				       (unsigned long long)st.st_size);
	}
	*ret_fd = fd;
	return 0;
}

/* Maps [start, end) of v fresh (contents: zero, or the file's). */
static int mm_map_piece(struct restore_proc *p, const struct restore_vma *v, uint64_t start,
			uint64_t end)
{
	struct puppet *pp = &p->puppets[0];
	/* MAP_NORESERVE when the image has it: ASan's shadow is terabytes without a reserve. */
	uint64_t flags = MAP_FIXED | (v->flags & MAP_NORESERVE), pgoff = 0;
	int fd = -1, r;
	long rv;

	if (vma_is_file(v->kind)) {
		r = v->deleted ? restore_mm_ghost_open(p, v, &fd) : mm_open_file(p, v, &fd);
		if (r < 0)
			return r;
		flags |= v->kind == VMA_KIND__VMA_FILE_SHARED ? MAP_SHARED : MAP_PRIVATE;
		pgoff = v->pgoff + (start - v->start);
	} else if (v->kind == VMA_KIND__VMA_SYSV_SHM) {
		/* A placeholder: restore_ipc.c attaches the segment over it once it exists. */
		flags |= MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE;
	} else {
		flags |= MAP_ANONYMOUS | (v->kind == VMA_KIND__VMA_ANON_SHARED ?
					  MAP_SHARED : MAP_PRIVATE | (v->flags & MAP_GROWSDOWN));
	}
	r = puppet_syscall6(pp, &rv, SYS_mmap, start, end - start, v->prot, flags,
			    (uint64_t)(int64_t)fd, pgoff);
	if (fd >= 0 && r == 0)
		r = restore_call(pp, "close", NULL, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: remote mmap: %s", p->pid, err_detail());
	if (rv < 0 && rv > -4096)
		return log_error_errno((int)rv, "pid %d: cannot map 0x%llx-0x%llx %s", p->pid,
				       (unsigned long long)start, (unsigned long long)end,
				       v->path ? v->path : "");
	if ((uint64_t)rv != start)
		return log_error_errno(-EFAULT, "pid %d: mmap put 0x%llx at 0x%lx", p->pid,
				       (unsigned long long)start, rv);
	return 0;
}

/* madvise bits and mlock over the whole VMA. */
static int mm_advise(struct restore_proc *p, const struct restore_vma *v)
{
	struct puppet *pp = &p->puppets[0];
	int advices[8];
	size_t n = restore_plan_madvise(v->madv, advices);
	int r = 0;

	for (size_t k = 0; r == 0 && k < n; k++)
		r = restore_call(pp, "madvise", NULL, SYS_madvise, v->start, v->end - v->start,
				 (uint64_t)advices[k], 0, 0, 0);
	/* Locking populates the range now; the page contents written later stay locked. */
	if (r == 0 && (v->madv & VMA_MADV_LOCKED))
		r = restore_call(pp, "mlock", NULL, SYS_mlock, v->start, v->end - v->start, 0, 0,
				 0, 0);
	return r;
}

static int mm_unmap_range(struct puppet *pp, uint64_t start, uint64_t end)
{
	return restore_call(pp, "munmap", NULL, SYS_munmap, start, end - start, 0, 0, 0, 0);
}

/* Unmaps what the old layout has and the new one does not keep, and the reset ranges. */
static int layout_unmap_old(struct restore_proc *p, const struct restore_vma *nl, size_t nn,
			    const struct restore_range *reset, size_t n_reset,
			    struct restore_range *tmp, struct restore_range *gaps)
{
	struct puppet *pp = &p->puppets[0];
	int r = 0;

	for (size_t i = 0; r == 0 && i < p->layout_count; i++) {
		const struct restore_vma *o = &p->layout[i];
		size_t nk = layout_kept(o, nl, nn, tmp);
		size_t ng = restore_plan_gaps(o->start, o->end, tmp, nk, gaps);

		for (size_t g = 0; r == 0 && g < ng; g++)
			r = mm_unmap_range(pp, gaps[g].start, gaps[g].end);
	}
	for (size_t i = 0; r == 0 && i < n_reset; i++)
		r = mm_unmap_range(pp, reset[i].start, reset[i].end);
	return r;
}

/* True when a kept piece of v had another protection or other madvise bits. */
static void layout_changes(const struct restore_proc *p, const struct restore_vma *v,
			   bool *prot, bool *madv)
{
	*prot = *madv = false;
	for (size_t i = 0; i < p->layout_count; i++) {
		const struct restore_vma *o = &p->layout[i];

		if (o->start >= v->end || v->start >= o->end || !vma_compatible(o, v))
			continue;
		*prot |= o->prot != v->prot;
		*madv |= o->madv != v->madv;
	}
}

static int layout_map_new(struct restore_proc *p, const struct restore_vma *v,
			  const struct restore_range *reset, size_t n_reset,
			  struct restore_range *tmp, struct restore_range *gaps)
{
	size_t nk = layout_kept(v, p->layout, p->layout_count, tmp);
	size_t ng = restore_plan_gaps(v->start, v->end, tmp, nk, gaps);
	bool prot, madv;
	int r = 0;

	for (size_t g = 0; r == 0 && g < ng; g++)
		r = mm_map_piece(p, v, gaps[g].start, gaps[g].end);
	for (size_t i = 0; r == 0 && i < n_reset; i++) {
		uint64_t s = reset[i].start > v->start ? reset[i].start : v->start;
		uint64_t e = reset[i].end < v->end ? reset[i].end : v->end;

		if (s < e)
			r = mm_map_piece(p, v, s, e);
	}
	if (r < 0)
		return r;
	layout_changes(p, v, &prot, &madv);
	if (prot)
		r = restore_call(&p->puppets[0], "mprotect", NULL, SYS_mprotect, v->start,
				 v->end - v->start, v->prot, 0, 0, 0);
	if (r == 0 && (madv || ng || nk == 0))
		r = mm_advise(p, v);
	return r;
}

static bool ranges_hit(const struct restore_range *l, size_t n, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].start < end && start < l[i].end)
			return true;
	return false;
}

/* The new layout and the reset ranges as one list of ranges the scratch must avoid. */
static struct restore_range *layout_ranges(const struct restore_vma *l, size_t n,
					   const struct restore_range *reset, size_t n_reset)
{
	struct restore_range *a = calloc(n + n_reset + 1, sizeof(*a));

	for (size_t i = 0; a && i < n; i++)
		a[i] = (struct restore_range){ l[i].start, l[i].end };
	for (size_t i = 0; a && i < n_reset; i++)
		a[n + i] = reset[i];
	return a;
}

/* Moves the scratch area out of the way of the new layout: new one first, then the old one
 * is unmapped by a syscall run from the new one. */
static int layout_move_scratch(struct restore_proc *p, const struct restore_range *avoid,
			       size_t n_avoid)
{
	struct puppet *pp = &p->puppets[0];
	uint64_t old = pp->scratch, size = pp->scratch_size, hint;
	long rv;
	int r;

	if (!ranges_hit(avoid, n_avoid, old - IMAGE_PAGE_SIZE, old + size + IMAGE_PAGE_SIZE))
		return 0;
	r = mm_scratch_hint(p, avoid, n_avoid, &hint);
	if (r == 0)
		r = restore_call(pp, "mmap (scratch)", &rv, SYS_mmap, hint, size,
				 PROT_READ | PROT_WRITE | PROT_EXEC,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1,
				 0);
	if (r < 0)
		return r;
	if ((uint64_t)rv != hint)
		return log_error_errno(-EFAULT, "pid %d: scratch mmap at 0x%lx, not 0x%llx",
				       p->pid, rv, (unsigned long long)hint);
	puppet_adopt_scratch(pp, hint, size);
	log_debug("pid %d: scratch area moved from 0x%llx to 0x%llx", p->pid,
		  (unsigned long long)old, (unsigned long long)hint);
	return mm_unmap_range(pp, old, old + size);
}

static int layout_check_reset(const struct restore_range *reset, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (reset[i].start % IMAGE_PAGE_SIZE || reset[i].end % IMAGE_PAGE_SIZE ||
		    reset[i].start >= reset[i].end || reset[i].end > RESTORE_USER_TOP)
			return err_setf(-EINVAL, "layout: reset range 0x%llx-0x%llx is not a page-"
					"aligned range of user addresses",
					(unsigned long long)reset[i].start,
					(unsigned long long)reset[i].end);
	return 0;
}

static int layout_apply(struct restore_proc *p, const struct restore_vma *nl, size_t nn,
			const struct restore_range *reset, size_t n_reset)
{
	size_t cap = nn + p->layout_count + 2;
	struct restore_range *tmp = calloc(cap, sizeof(*tmp)), *gaps = calloc(cap, sizeof(*gaps));
	struct restore_range *avoid = layout_ranges(nl, nn, reset, n_reset);
	int r = -ENOMEM;

	if (!tmp || !gaps || !avoid) {
		log_error_errno(r, "pid %d: layout", p->pid);
		goto out;
	}
	r = layout_move_scratch(p, avoid, nn + n_reset);
	if (r == 0)
		r = layout_unmap_old(p, nl, nn, reset, n_reset, tmp, gaps);
	for (size_t i = 0; r == 0 && i < nn; i++)
		r = layout_map_new(p, &nl[i], reset, n_reset, tmp, gaps);
out:
	free(tmp);
	free(gaps);
	free(avoid);
	return r;
}

int restore_proc_set_layout(struct restore_proc *p, VmaEntry *const *vmas, size_t n,
			    const struct restore_range *reset, size_t n_reset)
{
	uint64_t t0 = restore_now_ns();
	struct restore_vma *nl = NULL;
	size_t nn = 0;
	int r = layout_check_reset(reset, n_reset);

	if (r == 0)
		r = restore_mm_ghost_check(vmas, n);
	if (r == 0)
		r = layout_build(vmas, n, &nl, &nn);
	if (r < 0)
		return log_error_errno(r, "pid %d: %s", p->pid, err_detail());
	r = restore_mm_ghost_sync(p, vmas, n);
	if (r == 0)
		r = layout_apply(p, nl, nn, reset, n_reset);
	if (r == 0)
		r = restore_mm_ghost_seal(p);
	if (r < 0) {
		layout_free(nl, nn);
		return r;
	}
	restore_mm_layout_free(p);
	p->layout = nl;
	p->layout_count = nn;
	p->timings.layout_ns += restore_now_ns() - t0;
	return 0;
}

/* ---- pages ---- */

static const struct restore_vma *layout_find(const struct restore_proc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->layout_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->layout[mid].end <= addr)
			lo = mid + 1;
		else if (p->layout[mid].start > addr)
			hi = mid;
		else
			return &p->layout[mid];
	}
	return NULL;
}

/* Writing into a shared file mapping would write the file itself. */
static int pages_check(const struct restore_proc *p, uint64_t start, uint64_t end)
{
	uint64_t cur = start;

	if (start % IMAGE_PAGE_SIZE || end <= start || end > RESTORE_USER_TOP)
		return err_setf(-EINVAL, "pages at 0x%llx-0x%llx: not a page-aligned range of "
				"user addresses", (unsigned long long)start,
				(unsigned long long)end);
	while (cur < end) {
		const struct restore_vma *v = layout_find(p, cur);

		if (!v || v->kind == VMA_KIND__VMA_FILE_SHARED)
			return err_setf(-EINVAL, "pages at 0x%llx-0x%llx: 0x%llx is %s",
					(unsigned long long)start, (unsigned long long)end,
					(unsigned long long)cur,
					v ? "in a shared file mapping" : "outside the layout");
		cur = v->end;
	}
	return 0;
}

int restore_proc_write_pages(struct restore_proc *p, uint64_t vaddr, const void *data,
			     size_t nr_pages)
{
	uint64_t t0 = restore_now_ns(), len = (uint64_t)nr_pages * IMAGE_PAGE_SIZE;
	int r;

	if (nr_pages == 0)
		return 0;
	if (nr_pages > RESTORE_USER_TOP / IMAGE_PAGE_SIZE || vaddr >= RESTORE_USER_TOP)
		r = err_setf(-EINVAL, "pages at 0x%llx: %zu pages", (unsigned long long)vaddr,
			     nr_pages);
	else
		r = pages_check(p, vaddr, vaddr + len);
	if (r < 0)
		return log_error_errno(r, "pid %d: %s", p->pid, err_detail());
	r = puppet_mem_write(&p->puppets[0], vaddr, data, len);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot write pages at 0x%llx: %s", p->pid,
				       (unsigned long long)vaddr, err_detail());
	p->timings.pages_ns += restore_now_ns() - t0;
	return 0;
}

static int keep_only_vma(struct restore_proc *p, const struct restore_vma *v,
			 const struct restore_range *resident, size_t n, struct restore_range *gaps)
{
	size_t ng;
	int r = 0;

	if (!vma_private(v->kind) || (v->madv & VMA_MADV_LOCKED))
		return 0;
	ng = restore_plan_gaps(v->start, v->end, resident, n, gaps);
	for (size_t g = 0; r == 0 && g < ng; g++)
		r = restore_call(&p->puppets[0], "madvise(MADV_DONTNEED)", NULL, SYS_madvise,
				 gaps[g].start, gaps[g].end - gaps[g].start, MADV_DONTNEED, 0, 0,
				 0);
	return r;
}

int restore_proc_keep_only(struct restore_proc *p, const struct restore_range *resident,
			   size_t n)
{
	uint64_t t0 = restore_now_ns();
	struct restore_range *sorted = calloc(n + 1, sizeof(*sorted));
	struct restore_range *gaps = calloc(n + 2, sizeof(*gaps));
	int r = 0;

	if (!sorted || !gaps)
		r = log_error_errno(-ENOMEM, "pid %d: resident set", p->pid);
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (resident[i].start > resident[i].end || resident[i].start % IMAGE_PAGE_SIZE ||
		    resident[i].end % IMAGE_PAGE_SIZE) {
			r = log_error_errno(-EINVAL, "pid %d: resident range 0x%llx-0x%llx",
					    p->pid, (unsigned long long)resident[i].start,
					    (unsigned long long)resident[i].end);
			break;
		}
		sorted[i] = resident[i];
	}
	if (r == 0)
		restore_plan_sort_ranges(sorted, n);
	for (size_t i = 0; r == 0 && i < p->layout_count; i++)
		r = keep_only_vma(p, &p->layout[i], sorted, n, gaps);
	free(sorted);
	free(gaps);
	if (r == 0)
		p->timings.pages_ns += restore_now_ns() - t0;
	return r;
}

/* ---- finish: vDSO and mm fields ---- */

static bool mm_same_special(const struct proc_vma *cur, const VmaEntry *v)
{
	return cur->start == v->start && cur->end == v->end && cur->path && v->path &&
	       strcmp(cur->path, v->path) == 0;
}

/* Each [vvar*]/[vdso] of the image must now be at its place with its size. */
static int mm_check_vdso(struct restore_proc *p)
{
	const MmEntry *mm = p->img->mm;
	struct proc_vma_list cur = { 0 };
	int r = mm_read_maps(p->pid, &cur);

	for (size_t i = 0; r == 0 && i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		bool found = false;

		if (v->kind != VMA_KIND__VMA_VDSO && v->kind != VMA_KIND__VMA_VVAR)
			continue;
		for (size_t k = 0; k < cur.count && !found; k++)
			found = mm_same_special(&cur.vmas[k], v);
		if (!found)
			r = log_error_errno(-EINVAL, "pid %d: the vDSO differs from the "
					    "source's (%s at 0x%llx-0x%llx not reproduced): "
					    "restore on the same kernel", p->pid,
					    v->path ? v->path : "?", (unsigned long long)v->start,
					    (unsigned long long)v->end);
	}
	proc_vma_list_free(&cur);
	return r;
}

static int mm_move_vdso(struct restore_proc *p, struct puppet *pp)
{
	uint64_t start, end;
	long rv;
	int r = restore_plan_vdso_block(p->img->mm, &start, &end);

	if (r == -ENOENT) {
		log_debug("pid %d: the image has no vDSO", p->pid);
		return 0;
	}
	r = puppet_syscall6(pp, &rv, SYS_arch_prctl, ARCH_MAP_VDSO_64, start, 0, 0, 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: remote arch_prctl: %s", p->pid, err_detail());
	/* Success returns the size of the mapping here, not 0. */
	if (rv < 0)
		return log_error_errno((int)rv, "pid %d: cannot map the vDSO at 0x%llx", p->pid,
				       (unsigned long long)start);
	return mm_check_vdso(p);
}

/* The executable, opened by the puppet for PR_SET_MM_MAP; -1 when it cannot be. */
static int mm_open_exe(struct restore_proc *p, struct puppet *pp)
{
	const char *exe = p->img->mm->exe_path;
	int fd = -1;

	if (!exe || restore_remote_open(pp, exe, O_RDONLY | O_CLOEXEC, &fd) < 0) {
		log_debug("executable %s cannot be opened: /proc/PID/exe will not name it",
			  exe ? exe : "(none)");
		return -1;
	}
	return fd;
}

static int mm_prctl_map(struct restore_proc *p, struct puppet *pp, struct prctl_mm_map *map,
			long *ret_rv)
{
	const MmEntry *mm = p->img->mm;
	uint64_t auxv_addr = 0, map_addr;
	int r;

	puppet_push_reset(pp);
	if (mm->n_auxv) {
		r = puppet_push(pp, mm->auxv, map->auxv_size, &auxv_addr);
		if (r < 0)
			return log_error_errno(r, "pid %d: auxv to scratch", p->pid);
	}
	map->auxv = (__u64 *)(uintptr_t)auxv_addr;
	r = puppet_push(pp, map, sizeof(*map), &map_addr);
	if (r < 0)
		return log_error_errno(r, "pid %d: prctl_mm_map to scratch", p->pid);
	r = puppet_syscall6(pp, ret_rv, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, map_addr,
			    sizeof(*map), 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: remote prctl: %s", p->pid, err_detail());
	return 0;
}

static int mm_set_fields(struct restore_proc *p, struct puppet *pp, int exe_fd)
{
	const MmEntry *mm = p->img->mm;
	struct prctl_mm_map map = {
		.start_code = mm->start_code, .end_code = mm->end_code,
		.start_data = mm->start_data, .end_data = mm->end_data,
		.start_brk = mm->start_brk,   .brk = mm->brk,
		.start_stack = mm->start_stack, .arg_start = mm->arg_start,
		.arg_end = mm->arg_end,       .env_start = mm->env_start,
		.env_end = mm->env_end,       .exe_fd = (uint32_t)exe_fd,
		.auxv_size = (uint32_t)(mm->n_auxv * sizeof(uint64_t)),
	};
	long rv = 0;
	int r;

	for (int attempt = 0; attempt < 2; attempt++) {
		r = mm_prctl_map(p, pp, &map, &rv);
		if (r < 0)
			return r;
		if (rv >= 0)
			return 0;
		if ((rv != -EPERM && rv != -EINVAL) || map.exe_fd == (uint32_t)-1)
			break;
		log_debug("pid %d: PR_SET_MM_MAP with the exe file failed (%s): retrying without "
			  "it, /proc/%d/exe will name our binary",
			  p->pid, strerror((int)-rv), p->pid);
		map.exe_fd = (uint32_t)-1;
	}
	return log_error_errno((int)rv, "pid %d: PR_SET_MM_MAP (brk, arg/env, auxv)", p->pid);
}

int restore_mm_finish(struct restore_proc *p)
{
	struct puppet *pp = &p->puppets[0];
	int exe_fd, r = mm_move_vdso(p, pp);

	if (r < 0)
		return r;
	exe_fd = mm_open_exe(p, pp);
	r = mm_set_fields(p, pp, exe_fd);
	if (exe_fd >= 0 && r == 0)
		r = restore_call(pp, "close", NULL, SYS_close, (uint64_t)exe_fd, 0, 0, 0, 0, 0);
	return r;
}
