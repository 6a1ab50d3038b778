/*
 * restore_mm: replace the memory of the new child by the image's, through remote syscalls.
 *
 *	scratch area in a gap of both layouts → unregister the inherited rseq → munmap all but
 *	the scratch and [vsyscall] → mmap each image VMA at its place → madvise → page
 *	contents through /proc/PID/mem → vDSO moved back with ARCH_MAP_VDSO_64 and checked →
 *	PR_SET_MM_MAP (brk, arg/env, auxv, exe) → close the mapping fds in the child
 *
 * The child is killed by the caller on any failure, so nothing here needs undoing but our own
 * buffers and fds.
 */
#include "restore_internal.h"

#include <errno.h>
#include <linux/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "err.h"
#include "log.h"
#include "proc.h"

#define PAGE_CHUNK (8U << 20)

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

/* Remote syscall whose own failure is an error for the restore; what names the call. */
static int mm_call(struct puppet *p, const char *what, long *ret, long nr, uint64_t a1,
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

static int mm_map_scratch(struct restore_task *t, struct puppet *p)
{
	const MmEntry *mm = t->img->mm;
	struct proc_vma_list cur = { 0 };
	struct restore_range *a, *b;
	uint64_t hint;
	int r = mm_read_maps(t->pid, &cur);

	if (r < 0)
		return r;
	a = calloc(mm->n_vmas + 1, sizeof(*a));
	b = calloc(cur.count + 1, sizeof(*b));
	if (!a || !b) {
		r = log_error_errno(-ENOMEM, "pid %d: scratch area", t->pid);
		goto out;
	}
	for (size_t i = 0; i < mm->n_vmas; i++)
		a[i] = (struct restore_range){ mm->vmas[i]->start, mm->vmas[i]->end };
	for (size_t i = 0; i < cur.count; i++)
		b[i] = (struct restore_range){ cur.vmas[i].start, cur.vmas[i].end };
	r = restore_plan_scratch_gap(a, mm->n_vmas, b, cur.count, RESTORE_SCRATCH_SIZE, &hint);
	if (r < 0) {
		r = log_error_errno(r, "pid %d: %s", t->pid, err_detail());
		goto out;
	}
	r = puppet_map_scratch(p, hint, RESTORE_SCRATCH_SIZE);
	if (r < 0)
		r = log_error_errno(r, "pid %d: cannot map the scratch area at 0x%llx: %s", t->pid,
				    (unsigned long long)hint, err_detail());
	else
		log_debug("pid %d: scratch area at 0x%llx", t->pid, (unsigned long long)hint);
out:
	free(a);
	free(b);
	proc_vma_list_free(&cur);
	return r;
}

/* The child inherited our rseq registration; its area is about to be unmapped. */
static int mm_unregister_rseq(struct puppet *p)
{
	struct migrate_ptrace_rseq_configuration conf = { 0 };

	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, p->tid, sizeof(conf), &conf) < 0)
		return log_error_errno(-errno, "pid %d: PTRACE_GET_RSEQ_CONFIGURATION", p->tid);
	if (!conf.rseq_abi_pointer)
		return 0;
	return mm_call(p, "rseq unregister", NULL, SYS_rseq, conf.rseq_abi_pointer,
		       conf.rseq_abi_size, 1 /* RSEQ_FLAG_UNREGISTER */, conf.signature, 0, 0);
}

static int mm_unmap_all(struct restore_task *t, struct puppet *p)
{
	struct proc_vma_list cur = { 0 };
	int r = mm_read_maps(t->pid, &cur);

	for (size_t i = 0; r == 0 && i < cur.count; i++) {
		const struct proc_vma *v = &cur.vmas[i];

		if (v->start < p->scratch + p->scratch_size && p->scratch < v->end)
			continue;
		/* The kernel refuses to unmap [vsyscall]; it sits at the same place everywhere. */
		if (v->path && strcmp(v->path, "[vsyscall]") == 0)
			continue;
		r = mm_call(p, "munmap", NULL, SYS_munmap, v->start, v->end - v->start, 0, 0, 0,
			    0);
	}
	proc_vma_list_free(&cur);
	return r;
}

static int mm_map_vma(struct restore_task *t, struct puppet *p, size_t i)
{
	const VmaEntry *v = t->img->mm->vmas[i];
	uint64_t flags = MAP_FIXED, fd = (uint64_t)-1, pgoff = 0;
	int advices[8];
	size_t n;
	long rv;
	int r;

	switch (v->kind) {
	case VMA_KIND__VMA_ANON_PRIVATE:
	case VMA_KIND__VMA_HEAP:
	case VMA_KIND__VMA_STACK:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS | (v->flags & MAP_GROWSDOWN);
		break;
	case VMA_KIND__VMA_ANON_SHARED:
		flags |= MAP_SHARED | MAP_ANONYMOUS;
		break;
	case VMA_KIND__VMA_FILE_PRIVATE:
	case VMA_KIND__VMA_FILE_SHARED:
		flags |= v->kind == VMA_KIND__VMA_FILE_SHARED ? MAP_SHARED : MAP_PRIVATE;
		fd = (uint64_t)(int64_t)t->vma_fds[i];
		pgoff = v->pgoff;
		break;
	default:
		return 0; /* vDSO, vvar, vsyscall: not mapped by us */
	}
	r = puppet_syscall6(p, &rv, SYS_mmap, v->start, v->end - v->start, v->prot, flags, fd,
			    pgoff);
	if (r < 0)
		return log_error_errno(r, "pid %d: remote mmap: %s", t->pid, err_detail());
	if (rv < 0 && rv > -4096)
		return log_error_errno((int)rv, "pid %d: cannot map 0x%llx-0x%llx %s", t->pid,
				       (unsigned long long)v->start, (unsigned long long)v->end,
				       v->path ? v->path : "");
	if ((uint64_t)rv != v->start)
		return log_error_errno(-EFAULT, "pid %d: mmap put 0x%llx at 0x%lx", t->pid,
				       (unsigned long long)v->start, rv);
	n = restore_plan_madvise(v->madv, advices);
	for (size_t k = 0; k < n; k++) {
		r = mm_call(p, "madvise", NULL, SYS_madvise, v->start, v->end - v->start,
			    (uint64_t)advices[k], 0, 0, 0);
		if (r < 0)
			return r;
	}
	/* Locking populates the range now; the page contents written later stay locked. */
	if (v->madv & VMA_MADV_LOCKED)
		return mm_call(p, "mlock", NULL, SYS_mlock, v->start, v->end - v->start, 0, 0, 0,
			       0);
	return 0;
}

static const VmaEntry *mm_vma_of(const MmEntry *mm, uint64_t addr)
{
	for (size_t i = 0; i < mm->n_vmas; i++)
		if (mm->vmas[i]->start <= addr && addr < mm->vmas[i]->end)
			return mm->vmas[i];
	return NULL;
}

static int mm_copy_run(struct restore_task *t, struct puppet *p,
		       const struct image_page_run *run, char *buf)
{
	uint64_t done = 0, total = run->nr_pages * IMAGE_PAGE_SIZE;
	const VmaEntry *v = mm_vma_of(t->img->mm, run->vaddr);

	/* Writing there would write into the file itself; its pages are the file's. */
	if (v && v->kind == VMA_KIND__VMA_FILE_SHARED) {
		log_debug("pid %d: %llu pages at 0x%llx in a shared file mapping: skipped", t->pid,
			  (unsigned long long)run->nr_pages, (unsigned long long)run->vaddr);
		return 0;
	}
	while (done < total) {
		size_t len = total - done > PAGE_CHUNK ? PAGE_CHUNK : total - done;
		ssize_t n = pread(t->img->pages_fd, buf, len, (off_t)(run->file_offset + done));
		int r;

		if (n != (ssize_t)len)
			return log_error_errno(n < 0 ? -errno : -EIO,
					       "pid %d: cannot read pages of 0x%llx from the image",
					       t->pid, (unsigned long long)(run->vaddr + done));
		r = puppet_mem_write(p, run->vaddr + done, buf, len);
		if (r < 0)
			return log_error_errno(r, "pid %d: cannot write pages at 0x%llx: %s",
					       t->pid, (unsigned long long)(run->vaddr + done),
					       err_detail());
		done += len;
	}
	return 0;
}

static int mm_write_pages(struct restore_task *t, struct puppet *p)
{
	char *buf = malloc(PAGE_CHUNK);
	int r = 0;

	if (!buf)
		return log_error_errno(-ENOMEM, "pid %d: page buffer", t->pid);
	for (size_t i = 0; r == 0 && i < t->img->page_run_count; i++)
		r = mm_copy_run(t, p, &t->img->page_runs[i], buf);
	free(buf);
	return r;
}

static bool mm_same_special(const struct proc_vma *cur, const VmaEntry *v)
{
	return cur->start == v->start && cur->end == v->end && cur->path && v->path &&
	       strcmp(cur->path, v->path) == 0;
}

/* Each [vvar*]/[vdso] of the image must now be at its place with its size. */
static int mm_check_vdso(struct restore_task *t)
{
	const MmEntry *mm = t->img->mm;
	struct proc_vma_list cur = { 0 };
	int r = mm_read_maps(t->pid, &cur);

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
					    "restore on the same kernel", t->pid,
					    v->path ? v->path : "?", (unsigned long long)v->start,
					    (unsigned long long)v->end);
	}
	proc_vma_list_free(&cur);
	return r;
}

static int mm_move_vdso(struct restore_task *t, struct puppet *p)
{
	uint64_t start, end;
	long rv;
	int r = restore_plan_vdso_block(t->img->mm, &start, &end);

	if (r == -ENOENT) {
		log_debug("pid %d: the image has no vDSO", t->pid);
		return 0;
	}
	r = puppet_syscall6(p, &rv, SYS_arch_prctl, ARCH_MAP_VDSO_64, start, 0, 0, 0, 0);
	if (r < 0)
		return log_error_errno(r, "pid %d: remote arch_prctl: %s", t->pid, err_detail());
	/* Success returns the size of the mapping here, not 0. */
	if (rv < 0)
		return log_error_errno((int)rv, "pid %d: cannot map the vDSO at 0x%llx", t->pid,
				       (unsigned long long)start);
	return mm_check_vdso(t);
}

static int mm_set_fields(struct restore_task *t, struct puppet *p)
{
	const MmEntry *mm = t->img->mm;
	struct prctl_mm_map map = {
		.start_code = mm->start_code, .end_code = mm->end_code,
		.start_data = mm->start_data, .end_data = mm->end_data,
		.start_brk = mm->start_brk,   .brk = mm->brk,
		.start_stack = mm->start_stack, .arg_start = mm->arg_start,
		.arg_end = mm->arg_end,       .env_start = mm->env_start,
		.env_end = mm->env_end,       .exe_fd = (uint32_t)t->exe_fd,
		.auxv_size = (uint32_t)(mm->n_auxv * sizeof(uint64_t)),
	};
	uint64_t auxv_addr = 0, map_addr;
	long rv;
	int r;

	puppet_push_reset(p);
	if (mm->n_auxv) {
		r = puppet_push(p, mm->auxv, map.auxv_size, &auxv_addr);
		if (r < 0)
			return log_error_errno(r, "pid %d: auxv to scratch", t->pid);
	}
	map.auxv = (__u64 *)(uintptr_t)auxv_addr;
	for (int attempt = 0; attempt < 2; attempt++) {
		r = puppet_push(p, &map, sizeof(map), &map_addr);
		if (r < 0)
			return log_error_errno(r, "pid %d: prctl_mm_map to scratch", t->pid);
		r = puppet_syscall6(p, &rv, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, map_addr,
				    sizeof(map), 0, 0);
		if (r < 0)
			return log_error_errno(r, "pid %d: remote prctl: %s", t->pid, err_detail());
		if (rv >= 0)
			return 0;
		if ((rv != -EPERM && rv != -EINVAL) || map.exe_fd == (uint32_t)-1)
			break;
		log_debug("pid %d: PR_SET_MM_MAP with the exe file failed (%s): retrying without "
			  "it, /proc/%d/exe will name our binary",
			  t->pid, strerror((int)-rv), t->pid);
		map.exe_fd = (uint32_t)-1;
	}
	return log_error_errno((int)rv, "pid %d: PR_SET_MM_MAP (brk, arg/env, auxv)", t->pid);
}

/* The mapping fds and the exe fd were only there for mmap and prctl. */
static int mm_close_fds(struct restore_task *t, struct puppet *p)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < t->img->mm->n_vmas; i++) {
		bool dup = false;

		if (t->vma_fds[i] < 0)
			continue;
		for (size_t k = 0; k < i && !dup; k++)
			dup = t->vma_fds[k] == t->vma_fds[i];
		if (!dup)
			r = mm_call(p, "close", NULL, SYS_close, (uint64_t)t->vma_fds[i], 0, 0, 0,
				    0, 0);
	}
	if (r == 0 && t->exe_fd >= 0)
		r = mm_call(p, "close", NULL, SYS_close, (uint64_t)t->exe_fd, 0, 0, 0, 0, 0);
	if (r == 0)
		r = mm_call(p, "close", NULL, SYS_close, (uint64_t)t->child_ctl_nr, 0, 0, 0, 0, 0);
	return r;
}

static int mm_map_all(struct restore_task *t, struct puppet *p)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < t->img->mm->n_vmas; i++)
		r = mm_map_vma(t, p, i);
	return r;
}

int restore_mm_run(struct restore_task *t)
{
	struct puppet *p = &t->puppets[0];
	int r = puppet_init(p, t->pid, t->pid);

	if (r < 0)
		return log_error_errno(r, "pid %d: cannot take over the new process: %s", t->pid,
				       err_detail());
	r = mm_map_scratch(t, p);
	if (r == 0)
		r = mm_unregister_rseq(p);
	if (r == 0)
		r = mm_unmap_all(t, p);
	if (r == 0)
		r = mm_map_all(t, p);
	if (r == 0)
		r = mm_write_pages(t, p);
	if (r == 0)
		r = mm_move_vdso(t, p);
	if (r == 0)
		r = mm_set_fields(t, p);
	if (r == 0)
		r = mm_close_fds(t, p);
	return r;
}
