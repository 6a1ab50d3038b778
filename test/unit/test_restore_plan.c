/* Unit tests of the restore engine's pure helpers (migrate-dst/restore_plan.c). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "restore_internal.h"

#define PAGE IMAGE_PAGE_SIZE

static void test_gap_empty(void **state)
{
	uint64_t addr = 0;

	assert_int_equal(restore_plan_scratch_gap(NULL, 0, NULL, 0, 1, &addr), 0);
	assert_int_equal(addr, RESTORE_SCRATCH_LOW);
}

static void test_gap_skips_both_lists(void **state)
{
	/* a covers the low address, b the first gap after it (needs a free page around). */
	struct restore_range a[] = { { 0x10000, 0x20000 }, { 0x40000, 0x50000 } };
	struct restore_range b[] = { { 0x22000, 0x30000 } };
	uint64_t addr = 0;

	assert_int_equal(restore_plan_scratch_gap(a, 2, b, 1, 4 * PAGE, &addr), 0);
	assert_int_equal(addr, 0x31000);
	/* Too big for the hole between 0x31000 and 0x40000: goes after a[1]. */
	assert_int_equal(restore_plan_scratch_gap(a, 2, b, 1, 0x10000, &addr), 0);
	assert_int_equal(addr, 0x51000);
}

static void test_gap_keeps_distance(void **state)
{
	/* The hole 0x11000..0x13000 fits one page but not with a free page on each side. */
	struct restore_range a[] = { { 0x10000, 0x11000 }, { 0x13000, 0x14000 } };
	uint64_t addr = 0;

	assert_int_equal(restore_plan_scratch_gap(a, 2, NULL, 0, PAGE, &addr), 0);
	assert_int_equal(addr, 0x15000);
	struct restore_range wide[] = { { 0x10000, 0x11000 }, { 0x14000, 0x15000 } };
	assert_int_equal(restore_plan_scratch_gap(wide, 2, NULL, 0, PAGE, &addr), 0);
	assert_int_equal(addr, 0x12000);
}

static void test_gap_none(void **state)
{
	struct restore_range all[] = { { 0, RESTORE_USER_TOP } };
	uint64_t addr = 42;

	assert_int_equal(restore_plan_scratch_gap(all, 1, NULL, 0, PAGE, &addr), -ENOMEM);
	assert_int_equal(addr, 42);
}

static VmaEntry vma(uint64_t start, uint64_t end, VmaKind kind)
{
	VmaEntry v = VMA_ENTRY__INIT;

	v.start = start;
	v.end = end;
	v.kind = kind;
	return v;
}

static void test_vdso_block(void **state)
{
	VmaEntry v[] = {
		vma(0x400000, 0x401000, VMA_KIND__VMA_FILE_PRIVATE),
		vma(0x7ffd000, 0x7ffd4000, VMA_KIND__VMA_VVAR), /* [vvar] */
		vma(0x7ffd4000, 0x7ffd6000, VMA_KIND__VMA_VVAR), /* [vvar_vclock] */
		vma(0x7ffd6000, 0x7ffd8000, VMA_KIND__VMA_VDSO),
		vma(0x7fff0000, 0x7fff1000, VMA_KIND__VMA_STACK),
	};
	VmaEntry *pv[] = { &v[0], &v[1], &v[2], &v[3], &v[4] };
	MmEntry mm = MM_ENTRY__INIT;
	uint64_t start = 0, end = 0;

	mm.n_vmas = 5;
	mm.vmas = pv;
	assert_int_equal(restore_plan_vdso_block(&mm, &start, &end), 0);
	assert_int_equal(start, 0x7ffd000);
	assert_int_equal(end, 0x7ffd8000);
	mm.n_vmas = 1;
	assert_int_equal(restore_plan_vdso_block(&mm, &start, &end), -ENOENT);
}

static void test_sigactions(void **state)
{
	SigactionEntry usr1 = SIGACTION_ENTRY__INIT, bad = SIGACTION_ENTRY__INIT;
	SigactionEntry *list[] = { &usr1, &bad };
	TaskCoreEntry core = TASK_CORE_ENTRY__INIT;
	struct restore_ksigaction table[RESTORE_NSIG + 1];

	usr1.signo = SIGUSR1;
	usr1.handler = 0x401000;
	usr1.flags = 0x04000000; /* SA_RESTORER */
	usr1.restorer = 0x402000;
	usr1.mask = 1ULL << (SIGUSR2 - 1);
	core.sigactions = list;
	core.n_sigactions = 1;
	assert_int_equal(restore_plan_sigactions(&core, table), 0);
	assert_int_equal(table[SIGUSR1].handler, 0x401000);
	assert_int_equal(table[SIGUSR1].restorer, 0x402000);
	assert_int_equal(table[SIGUSR1].mask, 1ULL << (SIGUSR2 - 1));
	assert_int_equal(table[SIGINT].handler, (uint64_t)(uintptr_t)SIG_DFL);
	assert_int_equal(table[64].flags, 0);

	core.n_sigactions = 2;
	bad.signo = SIGKILL;
	assert_int_equal(restore_plan_sigactions(&core, table), -EINVAL);
	bad.signo = 65;
	assert_int_equal(restore_plan_sigactions(&core, table), -EINVAL);
	bad.signo = 0;
	assert_int_equal(restore_plan_sigactions(&core, table), -EINVAL);
	bad.signo = SIGUSR1; /* twice */
	assert_int_equal(restore_plan_sigactions(&core, table), -EINVAL);
}

static void test_madvise(void **state)
{
	int adv[8];

	assert_int_equal(restore_plan_madvise(0, adv), 0);
	assert_int_equal(restore_plan_madvise(VMA_MADV_LOCKED, adv), 0);
	assert_int_equal(restore_plan_madvise(VMA_MADV_DONTFORK | VMA_MADV_WIPEONFORK, adv), 2);
	assert_int_equal(adv[0], MADV_DONTFORK);
	assert_int_equal(adv[1], MADV_WIPEONFORK);
	assert_int_equal(restore_plan_madvise(0x3f, adv), 6);
}

static void test_gaps(void **state)
{
	/* unsorted input is sorted first; overlapping and sticking-out ranges are fine */
	struct restore_range cov[] = { { 0x5000, 0x7000 }, { 0x0, 0x2000 }, { 0x6000, 0x8000 },
				       { 0x20000, 0x30000 } };
	struct restore_range out[5];
	size_t n;

	(void)state;
	restore_plan_sort_ranges(cov, 4);
	assert_int_equal(cov[0].start, 0x0);
	assert_int_equal(cov[3].start, 0x20000);
	n = restore_plan_gaps(0x1000, 0xa000, cov, 4, out);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].start, 0x2000);
	assert_int_equal(out[0].end, 0x5000);
	assert_int_equal(out[1].start, 0x8000);
	assert_int_equal(out[1].end, 0xa000);
	/* fully covered, and nothing covered */
	assert_int_equal(restore_plan_gaps(0x5000, 0x8000, cov, 4, out), 0);
	n = restore_plan_gaps(0x9000, 0xb000, cov, 4, out);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].start, 0x9000);
	assert_int_equal(out[0].end, 0xb000);
	n = restore_plan_gaps(0x1000, 0x2000, NULL, 0, out);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].end, 0x2000);
}

static void test_regs(void **state)
{
	UserRegsEntry e = USER_REGS_ENTRY__INIT;
	struct user_regs_struct regs;

	e.rip = 0x401234;
	e.rsp = 0x7ffc0000;
	e.fs_base = 0x7f0000001000;
	e.orig_rax = (uint64_t)-1;
	e.gs = 7;
	restore_plan_regs(&e, &regs);
	assert_int_equal(regs.rip, 0x401234);
	assert_int_equal(regs.rsp, 0x7ffc0000);
	assert_int_equal(regs.fs_base, 0x7f0000001000);
	assert_int_equal(regs.orig_rax, (uint64_t)-1);
	assert_int_equal(regs.gs, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gap_empty),     cmocka_unit_test(test_gap_skips_both_lists),
		cmocka_unit_test(test_gap_keeps_distance), cmocka_unit_test(test_gap_none),
		cmocka_unit_test(test_vdso_block),    cmocka_unit_test(test_sigactions),
		cmocka_unit_test(test_madvise),	      cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_regs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
