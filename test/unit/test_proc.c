/*
 * Unit tests of common/proc.c: real /proc text from this machine, live reads of
 * /proc/self, and hostile input (every parser must fail cleanly, never crash or leak).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "proc.h"

/* Real text from this machine (Linux 6.18, x86_64) of a process that mapped a file
 * with spaces in its name and a deleted file, set groups and a comm with parentheses. */
static const char maps_fixture[] =
	"5579c483b000-5579c483c000 r--p 00000000 fe:00 10953036                   /tmp/pr"
	"ocfix/fx\n"
	"5579c483c000-5579c483d000 r-xp 00001000 fe:00 10953036                   /tmp/pr"
	"ocfix/fx\n"
	"5579c483d000-5579c483e000 r--p 00002000 fe:00 10953036                   /tmp/pr"
	"ocfix/fx\n"
	"5579c483e000-5579c483f000 r--p 00002000 fe:00 10953036                   /tmp/pr"
	"ocfix/fx\n"
	"5579c483f000-5579c4840000 rw-p 00003000 fe:00 10953036                   /tmp/pr"
	"ocfix/fx\n"
	"7f17179a3000-7f17179a6000 rw-p 00000000 00:00 0 \n"
	"7f17179a6000-7f17179cc000 r--p 00000000 fe:00 332835                     /usr/li"
	"b/x86_64-linux-gnu/libc.so.6\n"
	"7f17179cc000-7f1717b22000 r-xp 00026000 fe:00 332835                     /usr/li"
	"b/x86_64-linux-gnu/libc.so.6\n"
	"7f1717b22000-7f1717b75000 r--p 0017c000 fe:00 332835                     /usr/li"
	"b/x86_64-linux-gnu/libc.so.6\n"
	"7f1717b75000-7f1717b79000 r--p 001cf000 fe:00 332835                     /usr/li"
	"b/x86_64-linux-gnu/libc.so.6\n"
	"7f1717b79000-7f1717b7b000 rw-p 001d3000 fe:00 332835                     /usr/li"
	"b/x86_64-linux-gnu/libc.so.6\n"
	"7f1717b7b000-7f1717b88000 rw-p 00000000 00:00 0 \n"
	"7f1717b8d000-7f1717b90000 rw-p 00000000 00:00 0 \n"
	"7f1717b90000-7f1717b91000 rw-p 00000000 fe:00 10953066                   /tmp/pr"
	"ocfix/gone.bin (deleted)\n"
	"7f1717b91000-7f1717b93000 r--s 00000000 fe:00 10953031                   /tmp/pr"
	"ocfix/my file (1).bin\n"
	"7f1717b93000-7f1717b95000 rw-p 00000000 00:00 0 \n"
	"7f1717b95000-7f1717b99000 r--p 00000000 00:00 0                          [vvar]\n"
	"7f1717b99000-7f1717b9b000 r--p 00000000 00:00 0                          [vvar_v"
	"clock]\n"
	"7f1717b9b000-7f1717b9d000 r-xp 00000000 00:00 0                          [vdso]\n"
	"7f1717b9d000-7f1717b9e000 r--p 00000000 fe:00 332383                     /usr/li"
	"b/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
	"7f1717b9e000-7f1717bc4000 r-xp 00001000 fe:00 332383                     /usr/li"
	"b/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
	"7f1717bc4000-7f1717bce000 r--p 00027000 fe:00 332383                     /usr/li"
	"b/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
	"7f1717bce000-7f1717bd0000 r--p 00031000 fe:00 332383                     /usr/li"
	"b/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
	"7f1717bd0000-7f1717bd2000 rw-p 00033000 fe:00 332383                     /usr/li"
	"b/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
	"7ffe967c8000-7ffe967e9000 rw-p 00000000 00:00 0                          [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsysca"
	"ll]\n";

static const char smaps_fixture[] =
	"7f1717b90000-7f1717b91000 rw-p 00000000 fe:00 10953066                   /tmp/pr"
	"ocfix/gone.bin (deleted)\n"
	"Size:                  4 kB\n"
	"KernelPageSize:        4 kB\n"
	"MMUPageSize:           4 kB\n"
	"Rss:                   0 kB\n"
	"Pss:                   0 kB\n"
	"Pss_Dirty:             0 kB\n"
	"Shared_Clean:          0 kB\n"
	"Shared_Dirty:          0 kB\n"
	"Private_Clean:         0 kB\n"
	"Private_Dirty:         0 kB\n"
	"Referenced:            0 kB\n"
	"Anonymous:             0 kB\n"
	"KSM:                   0 kB\n"
	"LazyFree:              0 kB\n"
	"AnonHugePages:         0 kB\n"
	"ShmemPmdMapped:        0 kB\n"
	"FilePmdMapped:         0 kB\n"
	"Shared_Hugetlb:        0 kB\n"
	"Private_Hugetlb:       0 kB\n"
	"Swap:                  0 kB\n"
	"SwapPss:               0 kB\n"
	"Locked:                0 kB\n"
	"THPeligible:           0\n"
	"VmFlags: rd wr mr mw me ac \n"
	"7f1717b91000-7f1717b93000 r--s 00000000 fe:00 10953031                   /tmp/pr"
	"ocfix/my file (1).bin\n"
	"Size:                  8 kB\n"
	"KernelPageSize:        4 kB\n"
	"MMUPageSize:           4 kB\n"
	"Rss:                   0 kB\n"
	"Pss:                   0 kB\n"
	"Pss_Dirty:             0 kB\n"
	"Shared_Clean:          0 kB\n"
	"Shared_Dirty:          0 kB\n"
	"Private_Clean:         0 kB\n"
	"Private_Dirty:         0 kB\n"
	"Referenced:            0 kB\n"
	"Anonymous:             0 kB\n"
	"KSM:                   0 kB\n"
	"LazyFree:              0 kB\n"
	"AnonHugePages:         0 kB\n"
	"ShmemPmdMapped:        0 kB\n"
	"FilePmdMapped:         0 kB\n"
	"Shared_Hugetlb:        0 kB\n"
	"Private_Hugetlb:       0 kB\n"
	"Swap:                  0 kB\n"
	"SwapPss:               0 kB\n"
	"Locked:                0 kB\n"
	"THPeligible:           0\n"
	"VmFlags: rd sh mr mw me ms \n"
	"7f1717b99000-7f1717b9b000 r--p 00000000 00:00 0                          [vvar_v"
	"clock]\n"
	"Size:                  8 kB\n"
	"KernelPageSize:        4 kB\n"
	"MMUPageSize:           4 kB\n"
	"Rss:                   0 kB\n"
	"Pss:                   0 kB\n"
	"Pss_Dirty:             0 kB\n"
	"Shared_Clean:          0 kB\n"
	"Shared_Dirty:          0 kB\n"
	"Private_Clean:         0 kB\n"
	"Private_Dirty:         0 kB\n"
	"Referenced:            0 kB\n"
	"Anonymous:             0 kB\n"
	"KSM:                   0 kB\n"
	"LazyFree:              0 kB\n"
	"AnonHugePages:         0 kB\n"
	"ShmemPmdMapped:        0 kB\n"
	"FilePmdMapped:         0 kB\n"
	"Shared_Hugetlb:        0 kB\n"
	"Private_Hugetlb:       0 kB\n"
	"Swap:                  0 kB\n"
	"SwapPss:               0 kB\n"
	"Locked:                0 kB\n"
	"THPeligible:           0\n"
	"VmFlags: rd mr pf io de dd \n"
	"7ffe967c8000-7ffe967e9000 rw-p 00000000 00:00 0                          [stack]\n"
	"Size:                132 kB\n"
	"KernelPageSize:        4 kB\n"
	"MMUPageSize:           4 kB\n"
	"Rss:                  20 kB\n"
	"Pss:                  20 kB\n"
	"Pss_Dirty:            20 kB\n"
	"Shared_Clean:          0 kB\n"
	"Shared_Dirty:          0 kB\n"
	"Private_Clean:         0 kB\n"
	"Private_Dirty:        20 kB\n"
	"Referenced:           20 kB\n"
	"Anonymous:            20 kB\n"
	"KSM:                   0 kB\n"
	"LazyFree:              0 kB\n"
	"AnonHugePages:         0 kB\n"
	"ShmemPmdMapped:        0 kB\n"
	"FilePmdMapped:         0 kB\n"
	"Shared_Hugetlb:        0 kB\n"
	"Private_Hugetlb:       0 kB\n"
	"Swap:                  0 kB\n"
	"SwapPss:               0 kB\n"
	"Locked:                0 kB\n"
	"THPeligible:           0\n"
	"VmFlags: rd wr mr mw me gd ac \n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsysca"
	"ll]\n"
	"Size:                  4 kB\n"
	"KernelPageSize:        4 kB\n"
	"MMUPageSize:           4 kB\n"
	"Rss:                   0 kB\n"
	"Pss:                   0 kB\n"
	"Pss_Dirty:             0 kB\n"
	"Shared_Clean:          0 kB\n"
	"Shared_Dirty:          0 kB\n"
	"Private_Clean:         0 kB\n"
	"Private_Dirty:         0 kB\n"
	"Referenced:            0 kB\n"
	"Anonymous:             0 kB\n"
	"KSM:                   0 kB\n"
	"LazyFree:              0 kB\n"
	"AnonHugePages:         0 kB\n"
	"ShmemPmdMapped:        0 kB\n"
	"FilePmdMapped:         0 kB\n"
	"Shared_Hugetlb:        0 kB\n"
	"Private_Hugetlb:       0 kB\n"
	"Swap:                  0 kB\n"
	"SwapPss:               0 kB\n"
	"Locked:                0 kB\n"
	"THPeligible:           0\n"
	"VmFlags: ex \n";

static const char status_fixture[] =
	"Name:\ta) (b c\n"
	"Umask:\t0022\n"
	"State:\tS (sleeping)\n"
	"Tgid:\t5105\n"
	"Ngid:\t0\n"
	"Pid:\t5105\n"
	"PPid:\t5097\n"
	"TracerPid:\t0\n"
	"Uid:\t0\t0\t0\t0\n"
	"Gid:\t0\t0\t0\t0\n"
	"FDSize:\t256\n"
	"Groups:\t4 24 27 \n"
	"NStgid:\t5105\n"
	"NSpid:\t5105\n"
	"NSpgid:\t5097\n"
	"NSsid:\t2392\n"
	"Kthread:\t0\n"
	"VmPeak:\t    2404 kB\n"
	"VmSize:\t    2368 kB\n"
	"VmLck:\t       0 kB\n"
	"VmPin:\t       0 kB\n"
	"VmHWM:\t    1624 kB\n"
	"VmRSS:\t    1624 kB\n"
	"RssAnon:\t     100 kB\n"
	"RssFile:\t    1524 kB\n"
	"RssShmem:\t       0 kB\n"
	"VmData:\t     108 kB\n"
	"VmStk:\t     132 kB\n"
	"VmExe:\t       4 kB\n"
	"VmLib:\t    1528 kB\n"
	"VmPTE:\t      40 kB\n"
	"VmSwap:\t       0 kB\n"
	"HugetlbPages:\t       0 kB\n"
	"CoreDumping:\t0\n"
	"THP_enabled:\t1\n"
	"untag_mask:\t0xffffffffffffffff\n"
	"Threads:\t1\n"
	"SigQ:\t0/96365\n"
	"SigPnd:\t0000000000000000\n"
	"ShdPnd:\t0000000000000000\n"
	"SigBlk:\t0000000000010000\n"
	"SigIgn:\t0000000000000006\n"
	"SigCgt:\t0000000000000000\n"
	"CapInh:\t0000000000000000\n"
	"CapPrm:\t000001fffeffffff\n"
	"CapEff:\t000001fffeffffff\n"
	"CapBnd:\t000001fffeffffff\n"
	"CapAmb:\t0000000000000000\n"
	"NoNewPrivs:\t0\n"
	"Seccomp:\t0\n"
	"Seccomp_filters:\t0\n"
	"Speculation_Store_Bypass:\tvulnerable\n"
	"SpeculationIndirectBranch:\talways enabled\n"
	"Cpus_allowed:\t3\n"
	"Cpus_allowed_list:\t0-1\n"
	"Mems_allowed:\t00000000,00000000,00000000,00000000,00000000,00000000,00000000,000"
	"00000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00"
	"000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,00000000,0"
	"0000000,00000000,00000000,00000000,00000000,00000000,00000001\n"
	"Mems_allowed_list:\t0\n"
	"voluntary_ctxt_switches:\t2\n"
	"nonvoluntary_ctxt_switches:\t1\n";

static const char stat_fixture[] =
	"5105 (a) (b c) S 5097 5097 2392 0 -1 4194560 88 0 0 0 0 0 0 0 20 0 1 0 816892 24"
	"24832 381 18446744073709551615 93981476372480 93981476373413 140731423288448 0 0"
	" 0 65536 6 0 1 0 0 17 1 0 0 0 0 0 93981476384208 93981476384872 93982250553344 1"
	"40731423296159 140731423296164 140731423296164 140731423297523 0\n";

static const char limits_fixture[] =
	"Limit                     Soft Limit           Hard Limit           Units     \n"
	"Max cpu time              unlimited            unlimited            seconds   \n"
	"Max file size             unlimited            unlimited            bytes     \n"
	"Max data size             unlimited            unlimited            bytes     \n"
	"Max stack size            8388608              unlimited            bytes     \n"
	"Max core file size        0                    unlimited            bytes     \n"
	"Max resident set          unlimited            unlimited            bytes     \n"
	"Max processes             96365                96365                processes \n"
	"Max open files            20000                20000                files     \n"
	"Max locked memory         8388608              8388608              bytes     \n"
	"Max address space         unlimited            unlimited            bytes     \n"
	"Max file locks            unlimited            unlimited            locks     \n"
	"Max pending signals       96365                96365                signals   \n"
	"Max msgqueue size         819200               819200               bytes     \n"
	"Max nice priority         0                    0                    \n"
	"Max realtime priority     0                    0                    \n"
	"Max realtime timeout      unlimited            unlimited            us        \n";

static const char fdinfo_fixture[] =
	"pos:\t0\n"
	"flags:\t0100002\n"
	"mnt_id:\t27\n"
	"ino:\t10953031\n";

#define LEN(s) (sizeof(s) - 1)

static const struct proc_vma *find_path(const struct proc_vma_list *l, const char *path)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		if (l->vmas[i].path && strcmp(l->vmas[i].path, path) == 0)
			return &l->vmas[i];
	return NULL;
}

static void test_maps_real(void **state)
{
	struct proc_vma_list l = { 0 };
	const struct proc_vma *v;

	assert_int_equal(proc_parse_maps(maps_fixture, LEN(maps_fixture), &l), 0);
	assert_int_equal(l.count, 26);
	assert_int_equal(l.vmas[0].start, 0x5579c483b000ULL);
	assert_int_equal(l.vmas[0].end, 0x5579c483c000ULL);
	assert_int_equal(l.vmas[0].prot, PROT_READ);
	assert_int_equal(l.vmas[0].dev_major, 0xfe);
	assert_int_equal(l.vmas[0].dev_minor, 0);
	assert_int_equal(l.vmas[0].ino, 10953036);
	assert_string_equal(l.vmas[0].path, "/tmp/procfix/fx");
	assert_int_equal(l.vmas[1].prot, PROT_READ | PROT_EXEC);
	assert_int_equal(l.vmas[1].pgoff, 0x1000);
	assert_null(l.vmas[5].path); /* anonymous */
	assert_false(l.vmas[5].deleted);

	v = find_path(&l, "/tmp/procfix/gone.bin");
	assert_non_null(v);
	assert_true(v->deleted);
	assert_int_equal(v->prot, PROT_READ | PROT_WRITE);
	assert_false(v->shared);

	v = find_path(&l, "/tmp/procfix/my file (1).bin");
	assert_non_null(v);
	assert_false(v->deleted);
	assert_true(v->shared);
	assert_int_equal(v->end - v->start, 8192);

	assert_non_null(find_path(&l, "[vvar]"));
	assert_non_null(find_path(&l, "[vdso]"));
	assert_non_null(find_path(&l, "[stack]"));
	v = find_path(&l, "[vvar_vclock]");
	assert_non_null(v);
	assert_int_equal(v->end - v->start, 2 * 4096);
	v = find_path(&l, "[vsyscall]");
	assert_non_null(v);
	assert_int_equal(v->start, 0xffffffffff600000ULL);
	assert_int_equal(v->prot, PROT_EXEC);
	proc_vma_list_free(&l);
	proc_vma_list_free(&l); /* idempotent on a freed list */
}

/* Names the kernel prints that the sample above lacks (anon names need CONFIG_ANON_VMA_NAME). */
static void test_maps_names(void **state)
{
	static const char text[] =
		"55d000000000-55d000021000 rw-p 00000000 00:00 0                          [heap]\n"
		"7f0000000000-7f0000003000 rw-p 00000000 00:00 0                          "
		"[anon:my buf]\n"
		"7f0000003000-7f0000004000 r--p 00001000 08:01 12                         "
		"  two leading spaces\n"
		"7f0000004000-7f0000005000 r--p 00000000 08:01 13                         "
		"/tmp/new\\012line (deleted)\n"
		"7f0000005000-7f0000006000 r--p 00000000 103:02 4294967296000000000 "
		"/tmp/long-prefix\n"
		"7f0000006000-7f0000007000 ---p 00000000 00:00 0";
	struct proc_vma_list l = { 0 };

	assert_int_equal(proc_parse_maps(text, LEN(text), &l), 0);
	assert_int_equal(l.count, 6);
	assert_string_equal(l.vmas[0].path, "[heap]");
	assert_string_equal(l.vmas[1].path, "[anon:my buf]");
	assert_string_equal(l.vmas[2].path, "  two leading spaces");
	assert_string_equal(l.vmas[3].path, "/tmp/new\nline");
	assert_true(l.vmas[3].deleted);
	assert_int_equal(l.vmas[4].dev_major, 0x103);
	assert_int_equal(l.vmas[4].ino, 4294967296000000000ULL);
	assert_string_equal(l.vmas[4].path, "/tmp/long-prefix");
	assert_null(l.vmas[5].path); /* no trailing newline, no name */
	assert_int_equal(l.vmas[5].prot, 0);
	proc_vma_list_free(&l);
}

static void expect_maps_einval(const char *text, size_t len, const char *detail_part)
{
	struct proc_vma_list l = { (struct proc_vma *)0x1, 42 };

	err_clear();
	assert_int_equal(proc_parse_maps(text, len, &l), -EINVAL);
	/* ret untouched on failure */
	assert_ptr_equal(l.vmas, (struct proc_vma *)0x1);
	assert_int_equal(l.count, 42);
	if (detail_part && !strstr(err_detail(), detail_part))
		fail_msg("detail \"%s\" lacks \"%s\"", err_detail(), detail_part);
}

#define MAPS_EINVAL(s, part) expect_maps_einval(s, LEN(s), part)

static void test_maps_hostile(void **state)
{
	static const char nul_inside[] = "7f0000000000-7f0000001000 rw\0p 00000000 00:00 0\n";
	static const char nul_in_name[] =
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 0 /a\0b\n"
		"7f0000001000-7f0000002000 rw-p 00000000 00:00 0 \n";
	struct proc_vma_list l = { 0 };

	assert_int_equal(proc_parse_maps("", 0, &l), 0); /* a zombie has no mappings */
	assert_int_equal(l.count, 0);
	proc_vma_list_free(&l);
	assert_int_equal(proc_parse_maps(NULL, 0, &l), 0);

	MAPS_EINVAL("\n", "line 1");
	MAPS_EINVAL("7f0000000000-", "address range");
	MAPS_EINVAL("7f0000000000-7f0000001000", "permissions");
	MAPS_EINVAL("7f0000000000-7f0000001000 rw-p", "offset");
	MAPS_EINVAL("7f0000000000-7f0000001000 rw-p 00000000 00:", "device");
	MAPS_EINVAL("7f0000000000-7f0000001000 rw-p 00000000 00:00", "inode");
	MAPS_EINVAL("7f0000000000-7f0000001000 rwzp 00000000 00:00 0\n", "permissions");
	MAPS_EINVAL("7f0000000000-7f0000001000 rw-q 00000000 00:00 0\n", "permissions");
	MAPS_EINVAL("7f0000000000-7f0000001000 rw-p 00000000 00:00 0x\n", "garbage");
	MAPS_EINVAL("-7f0000001000 rw-p 00000000 00:00 0\n", "address");
	MAPS_EINVAL("7f0000001000-7f0000000000 rw-p 00000000 00:00 0\n", "below");
	MAPS_EINVAL("7f0000001000-7f0000001000 rw-p 00000000 00:00 0\n", "below");
	MAPS_EINVAL("7f0000000100-7f0000001000 rw-p 00000000 00:00 0\n", "aligned");
	MAPS_EINVAL("7f0000000000-7f0000001000 rw-p 00000010 00:00 0\n", "aligned");
	MAPS_EINVAL("10000000000000000000-10000000000001000 rw-p 00000000 00:00 0\n", "range");
	MAPS_EINVAL("7f0000000000-7f0000001000 rw-p 00000000 00:00 99999999999999999999\n",
		    "inode");
	MAPS_EINVAL("7f0000000000-7f0000001000 rw-p 00000000 100000000:00 0\n", "device");
	MAPS_EINVAL("7f0000000000-7f0000002000 rw-p 00000000 00:00 0\n"
		    "7f0000001000-7f0000003000 rw-p 00000000 00:00 0\n",
		    "line 2");
	MAPS_EINVAL("7f0000002000-7f0000003000 rw-p 00000000 00:00 0\n"
		    "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n",
		    "unsorted");
	MAPS_EINVAL("\x01\xff garbage \x7f\n", "line 1");
	MAPS_EINVAL(" 7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n", NULL);
	MAPS_EINVAL("+7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n", NULL);
	MAPS_EINVAL(nul_inside, "line 1");

	/* A NUL inside a name is kept as a byte; the C string then ends there. */
	assert_int_equal(proc_parse_maps(nul_in_name, LEN(nul_in_name), &l), 0);
	assert_int_equal(l.count, 2);
	assert_string_equal(l.vmas[0].path, "/a");
	proc_vma_list_free(&l);
}

static void test_smaps_real(void **state)
{
	struct proc_vma_list l = { 0 };
	size_t i;

	assert_int_equal(proc_parse_maps(maps_fixture, LEN(maps_fixture), &l), 0);
	assert_int_equal(proc_parse_smaps_vmflags(smaps_fixture, LEN(smaps_fixture), &l), 0);
	assert_int_equal(find_path(&l, "/tmp/procfix/gone.bin")->vm_flags,
			 PROC_VMF_RD | PROC_VMF_WR);
	assert_int_equal(find_path(&l, "/tmp/procfix/my file (1).bin")->vm_flags,
			 PROC_VMF_RD | PROC_VMF_SH);
	assert_int_equal(find_path(&l, "[vvar_vclock]")->vm_flags,
			 PROC_VMF_RD | PROC_VMF_PF | PROC_VMF_IO | PROC_VMF_DE | PROC_VMF_DD);
	assert_int_equal(find_path(&l, "[stack]")->vm_flags,
			 PROC_VMF_RD | PROC_VMF_WR | PROC_VMF_GD);
	assert_int_equal(find_path(&l, "[vsyscall]")->vm_flags, PROC_VMF_EX);
	for (i = 0; i < 5; i++)
		assert_int_equal(l.vmas[i].vm_flags, 0); /* not in this smaps excerpt */
	proc_vma_list_free(&l);
}

static void test_smaps_hostile(void **state)
{
	static const char two[] = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n"
				  "7f0000002000-7f0000004000 rw-p 00000000 00:00 0 \n";
	static const char unknown[] = "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n"
				      "VmFlags: rd wr\n"
				      "7f0000001000-7f0000002000 rw-p 00000000 00:00 0\n"
				      "VmFlags: rd\n";
	static const char resized[] = "7f0000002000-7f0000003000 rw-p 00000000 00:00 0\n";
	static const char flags_first[] = "VmFlags: rd\n";
	static const char odd_flags[] = "7f0000002000-7f0000004000 rw-p 00000000 00:00 0\n"
					"Rss:  4 kB\n"
					"VmFlags: rd  xyz w \t ss zz\0wr dd";
	struct proc_vma_list l = { 0 };

	assert_int_equal(proc_parse_maps(two, LEN(two), &l), 0);
	l.vmas[0].vm_flags = 7;
	assert_int_equal(proc_parse_smaps_vmflags(unknown, LEN(unknown), &l), -EINVAL);
	assert_non_null(strstr(err_detail(), "line 3"));
	assert_int_equal(l.vmas[0].vm_flags, 7); /* untouched on failure */
	assert_int_equal(proc_parse_smaps_vmflags(resized, LEN(resized), &l), -EINVAL);
	assert_int_equal(proc_parse_smaps_vmflags(flags_first, LEN(flags_first), &l), -EINVAL);
	assert_int_equal(proc_parse_smaps_vmflags("\n", 1, &l), -EINVAL);
	assert_int_equal(proc_parse_smaps_vmflags("garbage", 7, &l), -EINVAL);
	assert_int_equal(proc_parse_smaps_vmflags(odd_flags, LEN(odd_flags), &l), 0);
	assert_int_equal(l.vmas[0].vm_flags, 0);
	assert_int_equal(l.vmas[1].vm_flags, PROC_VMF_RD | PROC_VMF_SS | PROC_VMF_DD);
	assert_int_equal(proc_parse_smaps_vmflags("", 0, &l), 0);
	assert_int_equal(l.vmas[1].vm_flags, 0);
	proc_vma_list_free(&l);
	assert_int_equal(proc_parse_smaps_vmflags("", 0, &l), 0); /* empty list */
	assert_int_equal(proc_parse_smaps_vmflags(resized, LEN(resized), &l), -EINVAL);
}

static void test_status_real(void **state)
{
	struct proc_status st;

	memset(&st, 0, sizeof(st));
	assert_int_equal(proc_parse_status(status_fixture, LEN(status_fixture), &st), 0);
	assert_string_equal(st.name, "a) (b c");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.umask, 022);
	assert_int_equal(st.tgid, 5105);
	assert_int_equal(st.ppid, 5097);
	assert_int_equal(st.tracer_pid, 0);
	assert_int_equal(st.uid[3], 0);
	assert_int_equal(st.ngroups, 3);
	assert_int_equal(st.groups[0], 4);
	assert_int_equal(st.groups[2], 27);
	assert_int_equal(st.cap_prm, 0x1fffeffffffULL);
	assert_int_equal(st.cap_eff, 0x1fffeffffffULL);
	assert_int_equal(st.cap_bnd, 0x1fffeffffffULL);
	assert_int_equal(st.cap_inh, 0);
	assert_int_equal(st.cap_amb, 0);
	assert_false(st.no_new_privs);
	assert_int_equal(st.seccomp, 0);
	assert_int_equal(st.sig_blk, 0x10000);
	assert_int_equal(st.sig_ign, 6);
	assert_int_equal(st.threads, 1);
	assert_int_equal(st.nspid_count, 1);
	assert_int_equal(st.nspid[0], 5105);
	proc_status_fini(&st);
	proc_status_fini(&st);
}

static void test_status_edges(void **state)
{
	static const char esc[] = "Name:\t x\\ny\\\\z\\t\n"
				  "Tgid:\t7\nUid:\t1 2 3 4\nGid:\t5\t6\t7\t8\n"
				  "Groups:\t\nNSpid:\t7\t3\t1\nNoNewPrivs:\t1\nSeccomp:\t2";
	static const char *const bad[] = {
		"Name:\tx\nTgid:\t1\nUid:\t0 0 0\nGid:\t0 0 0 0\n", /* 3 uids */
		"Name:\tx\nTgid:\t1\nUid:\t0 0 0 0\n", /* no Gid */
		"Tgid:\t1\nUid:\t0 0 0 0\nGid:\t0 0 0 0\n", /* no Name */
		"Name:\tx\nTgid:\t99999999999\nUid:\t0 0 0 0\nGid:\t0 0 0 0\n",
		"Name:\tx\nTgid:\t-1\nUid:\t0 0 0 0\nGid:\t0 0 0 0\n",
		"Name:\tx\nTgid:\t1\nUid:\t0 0 0 4294967296\nGid:\t0 0 0 0\n",
		"Name:\tx\nTgid:\t1 2\nUid:\t0 0 0 0\nGid:\t0 0 0 0\n",
		"Name:\tx\nTgid:\t1\nUid:\t0 0 0 0\nGid:\t0 0 0 0\nCapEff:\t1ffffffffffffffff\n",
		"Name:\tx\nTgid:\t1\nUid:\t0 0 0 0\nGid:\t0 0 0 0\nGroups:\t1 x\n",
		"Name:\tx\nTgid:\t1\nUid:\t0 0 0 0\nGid:\t0 0 0 0\nNSpid:\t1 2 3 4 5 6 7 8 9\n",
		"Name:\tx\nTgid:\t1\nUid:\t0 0 0 0\nGid:\t0 0 0 0\nSeccomp:\t3\n",
		"Name:\tx\nTgid:\t1\nUid:\t0 0 0 0\nGid:\t0 0 0 0\nUmask:\t0999\n",
		"Name:\tx\nTgid:\t1\nUid:\t0 0 0 0\nGid:\t0 0 0 0\nState:\t\n",
		"Name:\tx\nTgid:\t1\nUid:\t0 0 0 0\nGid:\t0 0 0 0\nno colon here\n",
		"",
		"\n",
	};
	struct proc_status st;
	size_t i;

	memset(&st, 0, sizeof(st));
	assert_int_equal(proc_parse_status(esc, LEN(esc), &st), 0);
	assert_string_equal(st.name, " x\ny\\z\t");
	assert_int_equal(st.uid[1], 2);
	assert_int_equal(st.gid[3], 8);
	assert_int_equal(st.ngroups, 0);
	assert_int_equal(st.nspid_count, 3);
	assert_int_equal(st.nspid[2], 1);
	assert_true(st.no_new_privs);
	assert_int_equal(st.seccomp, 2);
	proc_status_fini(&st);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&st, 0xab, sizeof(st));
		if (proc_parse_status(bad[i], strlen(bad[i]), &st) != -EINVAL)
			fail_msg("bad status %zu accepted", i);
		assert_int_equal(st.tgid, (pid_t)0xabababab); /* untouched */
	}
}

static void test_stat_real(void **state)
{
	struct proc_stat st;

	assert_int_equal(proc_parse_stat(stat_fixture, LEN(stat_fixture), &st), 0);
	assert_int_equal(st.pid, 5105);
	assert_string_equal(st.comm, "a) (b c");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 5097);
	assert_int_equal(st.pgrp, 5097);
	assert_int_equal(st.session, 2392);
	assert_int_equal(st.tty_nr, 0);
	assert_int_equal(st.flags, 4194560);
	assert_int_equal(st.num_threads, 1);
	assert_int_equal(st.start_code, 93981476372480ULL);
	assert_int_equal(st.end_code, 93981476373413ULL);
	assert_int_equal(st.start_stack, 140731423288448ULL);
	assert_int_equal(st.start_data, 93981476384208ULL);
	assert_int_equal(st.end_data, 93981476384872ULL);
	assert_int_equal(st.start_brk, 93982250553344ULL);
	assert_int_equal(st.arg_start, 140731423296159ULL);
	assert_int_equal(st.arg_end, 140731423296164ULL);
	assert_int_equal(st.env_start, 140731423296164ULL);
	assert_int_equal(st.env_end, 140731423297523ULL);
	assert_int_equal(st.exit_code, 0);
}

static void test_stat_hostile(void **state)
{
	char buf[sizeof(stat_fixture) + 64];
	struct proc_stat st;
	char *p;

	memset(&st, 0x5a, sizeof(st));
	assert_int_equal(proc_parse_stat("", 0, &st), -EINVAL);
	assert_int_equal(proc_parse_stat("5105 (x S 1", 11, &st), -EINVAL);
	assert_int_equal(proc_parse_stat("5105 x) S 1", 11, &st), -EINVAL);
	assert_int_equal(proc_parse_stat("5105 (x) S 1 2 3\n", 17, &st), -EINVAL);
	assert_int_equal(proc_parse_stat("(x) S", 5, &st), -EINVAL);
	assert_int_equal(st.pid, 0x5a5a5a5a); /* untouched */

	/* pid overflowing an int */
	snprintf(buf, sizeof(buf), "99999999999%s", strchr(stat_fixture, ' '));
	assert_int_equal(proc_parse_stat(buf, strlen(buf), &st), -EINVAL);

	/* a comm holding a newline and parentheses */
	snprintf(buf, sizeof(buf), "5105 (x\n) (y)%s", strstr(stat_fixture, ") S") + 1);
	assert_int_equal(proc_parse_stat(buf, strlen(buf), &st), 0);
	assert_string_equal(st.comm, "x\n) (y");
	assert_int_equal(st.ppid, 5097);

	/* no trailing newline, and a newer kernel's extra field */
	snprintf(buf, sizeof(buf), "%.*s 77", (int)LEN(stat_fixture) - 1, stat_fixture);
	assert_int_equal(proc_parse_stat(buf, strlen(buf), &st), 0);
	assert_int_equal(st.exit_code, 0);

	/* exit code out of int range; a garbage byte among the numbers */
	snprintf(buf, sizeof(buf), "%.*s99999999999", (int)LEN(stat_fixture) - 2, stat_fixture);
	assert_int_equal(proc_parse_stat(buf, strlen(buf), &st), -EINVAL);
	memcpy(buf, stat_fixture, sizeof(stat_fixture));
	p = strstr(buf, " 4194560 ");
	p[3] = '\0';
	assert_int_equal(proc_parse_stat(buf, LEN(stat_fixture), &st), -EINVAL);
	p[3] = 'z';
	assert_int_equal(proc_parse_stat(buf, LEN(stat_fixture), &st), -EINVAL);
}

static void test_limits(void **state)
{
	struct rlimit lim[RLIM_NLIMITS], keep[RLIM_NLIMITS];
	char buf[sizeof(limits_fixture)];
	char *p;

	assert_int_equal(proc_parse_limits(limits_fixture, LEN(limits_fixture), lim), 0);
	assert_true(lim[RLIMIT_CPU].rlim_cur == RLIM_INFINITY);
	assert_int_equal(lim[RLIMIT_STACK].rlim_cur, 8388608);
	assert_true(lim[RLIMIT_STACK].rlim_max == RLIM_INFINITY);
	assert_int_equal(lim[RLIMIT_CORE].rlim_cur, 0);
	assert_int_equal(lim[RLIMIT_NPROC].rlim_max, 96365);
	assert_int_equal(lim[RLIMIT_NOFILE].rlim_cur, 20000);
	assert_int_equal(lim[RLIMIT_MEMLOCK].rlim_max, 8388608);
	assert_int_equal(lim[RLIMIT_SIGPENDING].rlim_cur, 96365);
	assert_int_equal(lim[RLIMIT_MSGQUEUE].rlim_cur, 819200);
	assert_int_equal(lim[RLIMIT_NICE].rlim_cur, 0);
	assert_int_equal(lim[RLIMIT_RTPRIO].rlim_max, 0);
	assert_true(lim[RLIMIT_RTTIME].rlim_max == RLIM_INFINITY);

	memcpy(keep, lim, sizeof(lim));
	assert_int_equal(proc_parse_limits("", 0, lim), -EINVAL);
	/* a missing row */
	assert_int_equal(proc_parse_limits(limits_fixture, LEN(limits_fixture) - 90, lim),
			 -EINVAL);
	memcpy(buf, limits_fixture, sizeof(buf));
	p = strstr(buf, "20000");
	p[0] = 'x';
	assert_int_equal(proc_parse_limits(buf, LEN(limits_fixture), lim), -EINVAL);
	p[0] = '9'; /* soft 90000 above hard 20000 */
	assert_int_equal(proc_parse_limits(buf, LEN(limits_fixture), lim), -EINVAL);
	p[0] = '\0';
	assert_int_equal(proc_parse_limits(buf, LEN(limits_fixture), lim), -EINVAL);
	memcpy(buf, limits_fixture, sizeof(buf));
	p = strstr(buf, "8388608 ");
	memcpy(p, "unlimitedX", 10);
	assert_int_equal(proc_parse_limits(buf, LEN(limits_fixture), lim), -EINVAL);
	assert_memory_equal(keep, lim, sizeof(lim)); /* untouched */
}

static void test_fdinfo(void **state)
{
	static const char eventfd[] = "pos:\t0\nflags:\t02004002\nmnt_id:\t16\nino:\t1057\n"
				      "eventfd-count:                0\neventfd-id: 3";
	static const char inotify[] = "pos:\t5\nflags:\t00\nmnt_id:\t16\nino:\t1\n"
				      "inotify wd:1 ino:2 sdev:3 mask:4 ignored_mask:0";
	static const char *const bad[] = {
		"pos:\t0\nflags:\t0100002\n",
		"pos:\t0\nflags:\t0800\nmnt_id:\t1\n",
		"pos:\t-1\nflags:\t0\nmnt_id:\t1\n",
		"pos:\t99999999999999999999\nflags:\t0\nmnt_id:\t1\n",
		"pos:\t0\nflags:\t0\nmnt_id:\t1x\n",
		"pos:\nflags:\t0\nmnt_id:\t1\n",
		"",
	};
	struct proc_fdinfo fi;
	size_t i;

	assert_int_equal(proc_parse_fdinfo(fdinfo_fixture, LEN(fdinfo_fixture), &fi), 0);
	assert_int_equal(fi.pos, 0);
	assert_int_equal(fi.flags, 0100000 | O_RDWR); /* the kernel's O_LARGEFILE; 0 in libc */
	assert_int_equal(fi.mnt_id, 27);
	assert_int_equal(fi.ino, 10953031);
	assert_int_equal(proc_parse_fdinfo(eventfd, LEN(eventfd), &fi), 0);
	assert_int_equal(fi.flags, O_CLOEXEC | O_NONBLOCK | O_RDWR);
	assert_int_equal(proc_parse_fdinfo(inotify, LEN(inotify), &fi), 0);
	assert_int_equal(fi.pos, 5);
	assert_int_equal(fi.ino, 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fi.pos = 4242;
		if (proc_parse_fdinfo(bad[i], strlen(bad[i]), &fi) != -EINVAL)
			fail_msg("bad fdinfo %zu accepted", i);
		assert_int_equal(fi.pos, 4242);
	}
}

/*
 * The maps and smaps reads race with the target's own mappings (valgrind's code
 * cache grows all the time): read them from a child that sits in pause(), and
 * retry as the contract says.
 */
static int live_smaps(pid_t pid, struct proc_vma_list *l)
{
	char *text;
	size_t len;
	int r = -EINVAL, tries;

	for (tries = 0; tries < 10 && r == -EINVAL; tries++) {
		proc_vma_list_free(l);
		r = proc_read_file(pid, "maps", &text, &len);
		if (r < 0)
			return r;
		r = proc_parse_maps(text, len, l);
		free(text);
		if (r < 0)
			return r;
		r = proc_read_file(pid, "smaps", &text, &len);
		if (r < 0)
			return r;
		r = proc_parse_smaps_vmflags(text, len, l);
		free(text);
	}
	return r;
}

/* A child with a MADV_DONTDUMP area whose address it sends back, then waits to be killed. */
static pid_t spawn_dontdump_child(uintptr_t *ret_addr)
{
	int fds[2];
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uintptr_t addr = (uintptr_t)p;

		if (p == MAP_FAILED || madvise(p, 3 * 4096, MADV_DONTDUMP) != 0)
			addr = 0;
		if (write(fds[1], &addr, sizeof(addr)) != sizeof(addr))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (read(fds[0], ret_addr, sizeof(*ret_addr)) != sizeof(*ret_addr)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("child %d did not report its mapping", (int)pid);
	}
	close(fds[0]);
	return pid;
}

static void test_live_maps(void **state)
{
	struct proc_vma_list l = { 0 };
	const struct proc_vma *stack;
	uintptr_t addr = 0;
	pid_t child = spawn_dontdump_child(&addr);
	size_t i;
	int r;

	/* asserts only after the child is gone: a failure must not leave it behind */
	r = live_smaps(child, &l);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (r != 0)
		fail_msg("smaps of pid %d: %d: %s", (int)child, r, err_detail());
	assert_true(addr != 0);
	assert_true(l.count > 5);
	stack = find_path(&l, "[stack]");
	assert_non_null(stack);
	assert_true(stack->vm_flags & PROC_VMF_GD);
	assert_true(stack->vm_flags & PROC_VMF_WR);
	for (i = 0; i < l.count; i++)
		if (l.vmas[i].start <= addr && addr < l.vmas[i].end)
			break;
	assert_true(i < l.count);
	assert_true(l.vmas[i].vm_flags & PROC_VMF_DD);
	assert_int_equal(l.vmas[i].prot, PROT_READ | PROT_WRITE);
	proc_vma_list_free(&l);
}

static void test_live_status_stat(void **state)
{
	struct proc_status st = { 0 };
	struct proc_stat sst;
	char *text;
	size_t len;

	assert_int_equal(proc_read_file(0, "status", &text, &len), 0);
	assert_int_equal(proc_parse_status(text, len, &st), 0);
	free(text);
	assert_int_equal(st.tgid, getpid());
	assert_int_equal(st.ppid, getppid());
	assert_int_equal(st.uid[0], getuid());
	assert_int_equal(st.gid[1], getegid());
	assert_true(st.threads >= 1);
	assert_int_equal(st.nspid[st.nspid_count - 1], getpid());
	proc_status_fini(&st);

	assert_int_equal(proc_read_file(getpid(), "stat", &text, &len), 0);
	assert_int_equal(proc_parse_stat(text, len, &sst), 0);
	free(text);
	assert_int_equal(sst.pid, getpid());
	assert_int_equal(sst.ppid, getppid());
	assert_int_equal(sst.pgrp, getpgrp());
	assert_true(sst.arg_start < sst.arg_end);
	assert_true(sst.start_code < sst.end_code);
}

static void test_live_limits_fdinfo(void **state)
{
	struct rlimit lim[RLIM_NLIMITS], core;
	struct proc_fdinfo fi;
	char *text, name[64];
	size_t len;
	int fd;

	/* RLIMIT_CORE, not NOFILE: valgrind fakes the latter */
	assert_int_equal(getrlimit(RLIMIT_CORE, &core), 0);
	core.rlim_cur = core.rlim_max == RLIM_INFINITY || core.rlim_max >= 12345 ? 12345 : 0;
	assert_int_equal(setrlimit(RLIMIT_CORE, &core), 0);
	assert_int_equal(proc_read_file(0, "limits", &text, &len), 0);
	assert_int_equal(proc_parse_limits(text, len, lim), 0);
	free(text);
	assert_true(lim[RLIMIT_CORE].rlim_cur == core.rlim_cur);
	assert_true(lim[RLIMIT_CORE].rlim_max == core.rlim_max);

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(read(fd, name, 10) == 10);
	snprintf(name, sizeof(name), "fdinfo/%d", fd);
	assert_int_equal(proc_read_file(0, name, &text, &len), 0);
	assert_int_equal(proc_parse_fdinfo(text, len, &fi), 0);
	free(text);
	assert_int_equal(fi.pos, 10);
	assert_int_equal(fi.flags & (O_CLOEXEC | O_ACCMODE), O_CLOEXEC | O_RDONLY);
	close(fd);
}

static void test_live_list(void **state)
{
	int *ids = NULL, fd, saved = -1;
	size_t n = 0, i;
	bool found = false;

	assert_int_equal(proc_list_numeric(0, "task", &ids, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], gettid());
	free(ids);

	fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	saved = dup2(fd, 700);
	assert_int_equal(saved, 700);
	assert_int_equal(proc_list_numeric(getpid(), "fd", &ids, &n), 0);
	assert_true(n >= 4);
	for (i = 1; i < n; i++)
		assert_true(ids[i - 1] < ids[i]);
	for (i = 0; i < n; i++)
		found |= ids[i] == 700;
	assert_true(found);
	free(ids);
	close(saved);
	close(fd);
}

static void test_read_errors(void **state)
{
	char *text = (char *)0x1;
	size_t len = 7;
	int *ids = (int *)0x1;

	assert_int_equal(proc_read_file(0, "no-such-file", &text, &len), -ENOENT);
	assert_non_null(strstr(err_detail(), "/proc/self/no-such-file"));
	assert_ptr_equal(text, (char *)0x1);
	assert_int_equal(len, 7);
	assert_int_equal(proc_read_file(-1, "maps", &text, &len), -EINVAL);
	assert_int_equal(proc_read_file(0, "", &text, &len), -EINVAL);
	assert_int_equal(proc_read_file(0, "/etc/passwd", &text, &len), -EINVAL);
	assert_int_equal(proc_list_numeric(0, "no-such-dir", &ids, &len), -ENOENT);
	assert_int_equal(proc_list_numeric(0, "maps", &ids, &len), -ENOTDIR);
	assert_ptr_equal(ids, (int *)0x1);
}

/* proc_read_stat: our own stat; a gone pid's read error is kept (callers tell "gone" by it). */
static void test_read_stat(void **state)
{
	struct proc_stat st;
	pid_t child;
	int r;

	(void)state;
	assert_int_equal(proc_read_stat(getpid(), &st), 0);
	assert_int_equal(st.ppid, getppid());
	assert_int_equal(st.session, getsid(0));
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	r = proc_read_stat(child, &st);
	assert_true(r == -ENOENT || r == -ESRCH);
	assert_non_null(strstr(err_detail(), "/stat"));
}

/* Runs every parser on text; each must return 0 or -EINVAL and leak nothing. */
static void parse_all(const char *text, size_t len)
{
	struct proc_vma_list l = { 0 };
	struct proc_status st;
	struct proc_stat sst;
	struct proc_fdinfo fi;
	struct rlimit lim[RLIM_NLIMITS];
	int r;

	r = proc_parse_maps(text, len, &l);
	assert_true(r == 0 || r == -EINVAL);
	r = proc_parse_smaps_vmflags(text, len, &l);
	assert_true(r == 0 || r == -EINVAL);
	proc_vma_list_free(&l);
	r = proc_parse_status(text, len, &st);
	assert_true(r == 0 || r == -EINVAL);
	if (r == 0)
		proc_status_fini(&st);
	r = proc_parse_stat(text, len, &sst);
	assert_true(r == 0 || r == -EINVAL);
	r = proc_parse_fdinfo(text, len, &fi);
	assert_true(r == 0 || r == -EINVAL);
	r = proc_parse_limits(text, len, lim);
	assert_true(r == 0 || r == -EINVAL);
}

/* Every truncation and single-byte corruption of every fixture, into an exact-size heap
 * buffer so that valgrind/ASan catch any read past len. */
static void mangle_all(const char *fixture, size_t len, size_t step)
{
	static const char subst[] = { '\0', '\n', ' ', '-', ')', 'x', '\xff' };
	char *buf;
	size_t cut, pos, k;

	for (cut = 0; cut <= len; cut += 1) {
		buf = malloc(cut ? cut : 1);
		assert_non_null(buf);
		memcpy(buf, fixture, cut);
		parse_all(buf, cut);
		free(buf);
	}
	buf = malloc(len);
	assert_non_null(buf);
	for (pos = 0; pos < len; pos += step) {
		for (k = 0; k < sizeof(subst); k++) {
			memcpy(buf, fixture, len);
			buf[pos] = subst[k];
			parse_all(buf, len);
		}
	}
	free(buf);
}

static void test_mangled(void **state)
{
	mangle_all(maps_fixture, LEN(maps_fixture), 7);
	mangle_all(status_fixture, LEN(status_fixture), 5);
	mangle_all(stat_fixture, LEN(stat_fixture), 1);
	mangle_all(limits_fixture, LEN(limits_fixture), 3);
	mangle_all(fdinfo_fixture, LEN(fdinfo_fixture), 1);
	mangle_all(smaps_fixture, 600, 11);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_real),
		cmocka_unit_test(test_maps_names),
		cmocka_unit_test(test_maps_hostile),
		cmocka_unit_test(test_smaps_real),
		cmocka_unit_test(test_smaps_hostile),
		cmocka_unit_test(test_status_real),
		cmocka_unit_test(test_status_edges),
		cmocka_unit_test(test_stat_real),
		cmocka_unit_test(test_stat_hostile),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_fdinfo),
		cmocka_unit_test(test_live_maps),
		cmocka_unit_test(test_live_status_stat),
		cmocka_unit_test(test_live_limits_fdinfo),
		cmocka_unit_test(test_live_list),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_read_stat),
		cmocka_unit_test(test_mangled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
