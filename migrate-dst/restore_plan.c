/*
 * restore_plan: pure helpers of the restore engine. They touch no process, so the unit
 * tests (test/unit/test_restore_plan.c) can run them on any input.
 */
#include "restore_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "err.h"

static bool range_overlaps(const struct restore_range *r, uint64_t start, uint64_t end)
{
	return r->start < end && start < r->end;
}

/* If [start, end) overlaps a range of list, the end of the first such range, else 0. */
static uint64_t first_overlap_end(const struct restore_range *list, size_t n, uint64_t start,
				  uint64_t end)
{
	for (size_t i = 0; i < n; i++)
		if (range_overlaps(&list[i], start, end))
			return list[i].end;
	return 0;
}

int restore_plan_scratch_gap(const struct restore_range *a, size_t na,
			     const struct restore_range *b, size_t nb, uint64_t size,
			     uint64_t *ret_addr)
{
	const uint64_t page = IMAGE_PAGE_SIZE;
	uint64_t len = (size + page - 1) & ~(page - 1);
	uint64_t addr = RESTORE_SCRATCH_LOW;

	if (len == 0)
		len = page;
	/* Each step moves addr past a range it hit, so this ends after at most na+nb steps. */
	while (addr + len + page <= RESTORE_USER_TOP) {
		uint64_t lo = addr - page, hi = addr + len + page;
		uint64_t skip = first_overlap_end(a, na, lo, hi);

		if (!skip)
			skip = first_overlap_end(b, nb, lo, hi);
		if (!skip) {
			*ret_addr = addr;
			return 0;
		}
		addr = ((skip + page - 1) & ~(page - 1)) + page;
	}
	return err_setf(-ENOMEM, "no free gap of %llu bytes for the scratch area",
			(unsigned long long)len);
}

int restore_plan_vdso_block(const MmEntry *mm, uint64_t *ret_start, uint64_t *ret_end)
{
	uint64_t start = UINT64_MAX, end = 0;

	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];

		if (v->kind != VMA_KIND__VMA_VDSO && v->kind != VMA_KIND__VMA_VVAR)
			continue;
		if (v->start < start)
			start = v->start;
		if (v->end > end)
			end = v->end;
	}
	if (end == 0)
		return -ENOENT;
	*ret_start = start;
	*ret_end = end;
	return 0;
}

int restore_plan_sigactions(const TaskCoreEntry *core,
			    struct restore_ksigaction table[RESTORE_NSIG + 1])
{
	bool seen[RESTORE_NSIG + 1] = { false };

	for (int sig = 0; sig <= RESTORE_NSIG; sig++)
		table[sig] = (struct restore_ksigaction){ .handler = (uint64_t)(uintptr_t)SIG_DFL };
	for (size_t i = 0; i < core->n_sigactions; i++) {
		const SigactionEntry *s = core->sigactions[i];

		if (s->signo < 1 || s->signo > RESTORE_NSIG || s->signo == SIGKILL ||
		    s->signo == SIGSTOP)
			return err_setf(-EINVAL, "core-%u.img: sigaction for signal %u", core->pid,
					s->signo);
		if (seen[s->signo])
			return err_setf(-EINVAL, "core-%u.img: signal %u listed twice", core->pid,
					s->signo);
		seen[s->signo] = true;
		table[s->signo] = (struct restore_ksigaction){
			.handler = s->handler,
			.flags = s->flags,
			.restorer = s->restorer,
			.mask = s->mask,
		};
	}
	return 0;
}

size_t restore_plan_madvise(uint32_t madv, int advices[8])
{
	static const struct {
		uint32_t bit;
		int advice;
	} map[] = {
		{ VMA_MADV_DONTDUMP, MADV_DONTDUMP },	{ VMA_MADV_DONTFORK, MADV_DONTFORK },
		{ VMA_MADV_HUGEPAGE, MADV_HUGEPAGE },	{ VMA_MADV_NOHUGEPAGE, MADV_NOHUGEPAGE },
		{ VMA_MADV_MERGEABLE, MADV_MERGEABLE }, { VMA_MADV_WIPEONFORK, MADV_WIPEONFORK },
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (madv & map[i].bit)
			advices[n++] = map[i].advice;
	return n;
}

void restore_plan_regs(const UserRegsEntry *e, struct user_regs_struct *regs)
{
	*regs = (struct user_regs_struct){
		.r15 = e->r15,	       .r14 = e->r14, .r13 = e->r13,	 .r12 = e->r12,
		.rbp = e->rbp,	       .rbx = e->rbx, .r11 = e->r11,	 .r10 = e->r10,
		.r9 = e->r9,	       .r8 = e->r8,   .rax = e->rax,	 .rcx = e->rcx,
		.rdx = e->rdx,	       .rsi = e->rsi, .rdi = e->rdi,	 .orig_rax = e->orig_rax,
		.rip = e->rip,	       .cs = e->cs,   .eflags = e->eflags, .rsp = e->rsp,
		.ss = e->ss,	       .fs_base = e->fs_base, .gs_base = e->gs_base,
		.ds = e->ds,	       .es = e->es,   .fs = e->fs,	 .gs = e->gs,
	};
}

size_t restore_plan_gaps(uint64_t start, uint64_t end, const struct restore_range *covered,
			 size_t n, struct restore_range *out)
{
	uint64_t cur = start;
	size_t count = 0;

	for (size_t i = 0; i < n && cur < end; i++) {
		if (covered[i].end <= cur)
			continue;
		if (covered[i].start >= end)
			break;
		if (covered[i].start > cur)
			out[count++] = (struct restore_range){ cur, covered[i].start };
		cur = covered[i].end;
	}
	if (cur < end)
		out[count++] = (struct restore_range){ cur, end };
	return count;
}

static int cmp_range(const void *a, const void *b)
{
	const struct restore_range *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

void restore_plan_sort_ranges(struct restore_range *ranges, size_t n)
{
	if (n)
		qsort(ranges, n, sizeof(*ranges), cmp_range);
}
