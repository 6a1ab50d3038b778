/*
 * Pure helpers of the dump engine: fd-kind table, VMA classification, page
 * policy, zero-page detection, syscall-restart adjustment.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cmocka.h>

#include "compat.h"
#include "dump_internal.h"
#include "err.h"

static int classify(mode_t mode, dev_t rdev, const char *link, bool shell_job, int *kind)
{
	struct dump_fd_probe p = { .fd = 3, .mode = mode, .rdev = rdev, .link = link };

	*kind = -1;
	err_clear();
	return dump_files_classify(&p, shell_job, kind);
}

static void test_fd_supported(void **state)
{
	int kind;

	assert_int_equal(classify(S_IFREG | 0644, 0, "/etc/hostname", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_REG);
	assert_int_equal(classify(S_IFDIR | 0755, 0, "/tmp", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_REG);
	assert_int_equal(classify(0600, 0, "anon_inode:[eventfd]", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_EVENTFD);
	assert_int_equal(classify(0600, 0, "anon_inode:[signalfd]", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_SIGNALFD);
	assert_int_equal(classify(0600, 0, "anon_inode:[timerfd]", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_TIMERFD);
	assert_int_equal(classify(0600, 0, "anon_inode:[eventpoll]", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_EPOLL);
	assert_int_equal(classify(0600, 0, "anon_inode:inotify", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_INOTIFY);
	assert_int_equal(classify(S_IFIFO | 0600, 0, "pipe:[1234]", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_PIPE);
	assert_int_equal(classify(S_IFIFO | 0600, 0, "/tmp/fifo", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_FIFO);
	assert_int_equal(classify(S_IFREG | 0600, 0, "/memfd:x (deleted)", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_MEMFD);
	assert_int_equal(classify(S_IFREG | 0600, 0, "/tmp/x (deleted)", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_GHOST);
	for (unsigned int mi = 3; mi <= 9; mi++) {
		int r = classify(S_IFCHR | 0666, makedev(1, mi), "/dev/x", false, &kind);

		if (mi == 4 || mi == 6) /* /dev/port and /dev/kmsg are devices we refuse */
			assert_int_equal(r, -ENOTSUP);
		else
			assert_int_equal(kind, FD_KIND__FD_DEVNULL);
	}
}

static void test_fd_tty(void **state)
{
	int kind;

	assert_int_equal(classify(S_IFCHR | 0620, makedev(136, 3), "/dev/pts/3", false, &kind),
			 -ENOTSUP);
	assert_string_equal(err_detail(), "fd 3 is a terminal (/dev/pts/3): pass --shell-job to "
					  "dump a job attached to a terminal");
	assert_int_equal(classify(S_IFCHR | 0620, makedev(136, 3), "/dev/pts/3", true, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_TTY);
	assert_int_equal(classify(S_IFCHR | 0620, makedev(5, 0), "/dev/tty", true, &kind), 0);
	assert_int_equal(classify(S_IFCHR | 0620, makedev(4, 1), "/dev/tty1", true, &kind), 0);
	/* A pty master is carried with its pair (dump_fd_pty.c), --shell-job or not. */
	assert_int_equal(classify(S_IFCHR | 0620, makedev(5, 2), "/dev/ptmx", false, &kind), 0);
	assert_int_equal(kind, FD_KIND__FD_PTY_MASTER);
}

static void test_fd_refused(void **state)
{
	static const struct {
		mode_t mode;
		const char *link;
		const char *detail;
	} cases[] = {
		{ S_IFIFO | 0600, "/tmp/fifo (deleted)",
		  "fd 3 is a FIFO (/tmp/fifo (deleted)): it was removed from the file system, so it "
		  "cannot be opened again at restore" },
		{ S_IFSOCK | 0777, "socket:[99]",
		  "fd 3 is a socket (socket:[99]): sockets are not supported yet" },
		{ 0600, "anon_inode:[fanotify]",
		  "fd 3 is a fanotify instance (anon_inode:[fanotify]): fanotify is not supported yet" },
		{ S_IFREG | 0600, "anon_inode:[userfaultfd]", NULL },
		{ 0600, "anon_inode:[pidfd]", NULL },
		{ 0600, "anon_inode:[io_uring]", NULL },
		{ 0600, "anon_inode:bpf-map", NULL },
		{ 0600, "anon_inode:[something-new]", NULL },
		{ S_IFBLK | 0600, "/dev/vda", NULL },
		{ S_IFREG | 0600, "weird", NULL },
	};
	int kind;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(classify(cases[i].mode, 0, cases[i].link, true, &kind), -ENOTSUP);
		assert_int_equal(kind, -1);
		if (cases[i].detail)
			assert_string_equal(err_detail(), cases[i].detail);
		else
			assert_non_null(strstr(err_detail(), cases[i].link));
	}
}

static struct proc_vma vma(const char *path, bool shared, bool deleted, uint64_t vmf)
{
	struct proc_vma v = { .start = 0x1000, .end = 0x3000, .prot = PROT_READ,
			      .shared = shared, .path = (char *)path, .deleted = deleted,
			      .vm_flags = vmf };
	return v;
}

static int vkind(struct proc_vma v)
{
	int kind = -1;

	err_clear();
	return dump_mm_classify(&v, &kind) < 0 ? -1 : kind;
}

static void test_vma_classify(void **state)
{
	assert_int_equal(vkind(vma(NULL, false, false, 0)), VMA_KIND__VMA_ANON_PRIVATE);
	assert_int_equal(vkind(vma(NULL, true, false, 0)), VMA_KIND__VMA_ANON_SHARED);
	assert_int_equal(vkind(vma("[anon:glibc]", false, false, 0)), VMA_KIND__VMA_ANON_PRIVATE);
	assert_int_equal(vkind(vma("[heap]", false, false, 0)), VMA_KIND__VMA_HEAP);
	assert_int_equal(vkind(vma("[stack]", false, false, PROC_VMF_GD)), VMA_KIND__VMA_STACK);
	assert_int_equal(vkind(vma("[vdso]", false, false, 0)), VMA_KIND__VMA_VDSO);
	/* [vvar] is a PFN map: named before the device-memory refusal */
	assert_int_equal(vkind(vma("[vvar]", false, false, PROC_VMF_PF | PROC_VMF_IO)),
			 VMA_KIND__VMA_VVAR);
	assert_int_equal(vkind(vma("[vvar_vclock]", false, false, PROC_VMF_PF)), VMA_KIND__VMA_VVAR);
	assert_int_equal(vkind(vma("[vsyscall]", false, false, 0)), VMA_KIND__VMA_VSYSCALL);
	assert_int_equal(vkind(vma("/usr/lib/libc.so.6", false, false, 0)),
			 VMA_KIND__VMA_FILE_PRIVATE);
	assert_int_equal(vkind(vma("/tmp/data", true, false, 0)), VMA_KIND__VMA_FILE_SHARED);
	assert_int_equal(vkind(vma("/dev/zero", true, true, 0)), VMA_KIND__VMA_ANON_SHARED);
	assert_int_equal(vkind(vma("/SYSV00000000", true, true, 0)), VMA_KIND__VMA_SYSV_SHM);
	/* memfds and deleted files: file VMAs whose object the image carries (dump_mm_ghost.c) */
	assert_int_equal(vkind(vma("/memfd:x", true, true, 0)), VMA_KIND__VMA_FILE_SHARED);
	assert_int_equal(vkind(vma("/memfd:x", false, true, 0)), VMA_KIND__VMA_FILE_PRIVATE);
	assert_int_equal(vkind(vma("/tmp/gone", false, true, 0)), VMA_KIND__VMA_FILE_PRIVATE);
}

static void test_vma_refused(void **state)
{
	assert_int_equal(vkind(vma("/dev/fb0", true, false, PROC_VMF_IO)), -1);
	assert_non_null(strstr(err_detail(), "device memory"));
	assert_int_equal(vkind(vma(NULL, false, false, PROC_VMF_UM)), -1);
	assert_string_equal(err_detail(), "mapping 1000-3000 uses userfaultfd: not supported");
	assert_int_equal(vkind(vma("[uprobes]", false, false, 0)), -1);
	assert_int_equal(vkind(vma("relative", false, false, 0)), -1);
}

static void test_madv(void **state)
{
	assert_int_equal(dump_mm_madv(0), 0);
	assert_int_equal(dump_mm_madv(PROC_VMF_DD | PROC_VMF_HG | PROC_VMF_LO | PROC_VMF_RD),
			 VMA_MADV_DONTDUMP | VMA_MADV_HUGEPAGE | VMA_MADV_LOCKED);
	assert_int_equal(dump_mm_madv(PROC_VMF_WF | PROC_VMF_DC | PROC_VMF_NH | PROC_VMF_MG),
			 VMA_MADV_WIPEONFORK | VMA_MADV_DONTFORK | VMA_MADV_NOHUGEPAGE |
				 VMA_MADV_MERGEABLE);
}

static void test_page_policy(void **state)
{
	enum dump_pages_policy anon = dump_mm_policy(VMA_KIND__VMA_HEAP);
	enum dump_pages_policy cow = dump_mm_policy(VMA_KIND__VMA_FILE_PRIVATE);
	enum dump_pages_policy shared = dump_mm_policy(VMA_KIND__VMA_ANON_SHARED);

	assert_int_equal(anon, DUMP_PAGES_NONZERO);
	assert_int_equal(cow, DUMP_PAGES_COW);
	assert_int_equal(shared, DUMP_PAGES_ALL);
	assert_int_equal(dump_mm_policy(VMA_KIND__VMA_FILE_SHARED), DUMP_PAGES_NONE);
	assert_int_equal(dump_mm_policy(VMA_KIND__VMA_VDSO), DUMP_PAGES_NONE);
	assert_int_equal(dump_mm_policy(VMA_KIND__VMA_VVAR), DUMP_PAGES_NONE);

	assert_false(dump_mm_page_wanted(anon, 0));
	assert_true(dump_mm_page_wanted(anon, PM_PRESENT | 1234));
	assert_true(dump_mm_page_wanted(anon, PM_SWAP));
	assert_true(dump_mm_page_wanted(cow, PM_PRESENT));
	assert_false(dump_mm_page_wanted(cow, PM_PRESENT | PM_FILE));
	assert_true(dump_mm_page_wanted(cow, PM_SWAP));
	assert_false(dump_mm_page_wanted(cow, 0));
	assert_true(dump_mm_page_wanted(shared, PM_PRESENT | PM_FILE));
	assert_false(dump_mm_page_wanted(DUMP_PAGES_NONE, PM_PRESENT));
}

static void test_zero_page(void **state)
{
	static uint64_t page[512] __attribute__((aligned(64)));

	memset(page, 0, sizeof(page));
	assert_true(dump_mm_page_is_zero(page));
	for (size_t i = 0; i < sizeof(page); i += 509) {
		((uint8_t *)page)[i] = 1;
		assert_false(dump_mm_page_is_zero(page));
		((uint8_t *)page)[i] = 0;
	}
	((uint8_t *)page)[4095] = 0x80;
	assert_false(dump_mm_page_is_zero(page));
}

static struct user_regs_struct regs(long rax, long orig_rax)
{
	struct user_regs_struct r = { 0 };

	r.rax = (uint64_t)rax;
	r.orig_rax = (uint64_t)orig_rax;
	r.rip = 0x1000;
	return r;
}

static void test_restart(void **state)
{
	struct user_regs_struct r;
	long codes[] = { -512, -513, -514 };

	for (size_t i = 0; i < 3; i++) {
		r = regs(codes[i], 7);
		dump_core_adjust_restart(&r);
		assert_int_equal(r.rax, 7);
		assert_int_equal(r.rip, 0x1000 - 2);
	}
	/* restart_syscall (219): which syscall it restarts is not in the registers */
	r = regs(-516, 219);
	dump_core_adjust_restart(&r);
	assert_int_equal((long)r.rax, -EINTR);
	assert_int_equal(r.rip, 0x1000);
	/* poll (7) runs again, with or without a timeout, its arguments untouched */
	r = regs(-516, 7);
	r.rdx = (uint64_t)-1;
	dump_core_adjust_restart(&r);
	assert_int_equal(r.rax, 7);
	assert_int_equal(r.rip, 0x1000 - 2);
	assert_int_equal(r.rdx, (uint64_t)-1);
	r = regs(-516, 7);
	r.rdx = 1000;
	dump_core_adjust_restart(&r);
	assert_int_equal(r.rax, 7);
	assert_int_equal(r.rip, 0x1000 - 2);
	assert_int_equal(r.rdx, 1000);
	/* not in a syscall: nothing to restart, whatever rax holds */
	r = regs(-512, -1);
	dump_core_adjust_restart(&r);
	assert_int_equal((long)r.rax, -512);
	assert_int_equal(r.rip, 0x1000);
	/* an ordinary result is left alone */
	r = regs(-EAGAIN, 0);
	dump_core_adjust_restart(&r);
	assert_int_equal((long)r.rax, -EAGAIN);
	assert_int_equal(r.rip, 0x1000);
}

/* regs of syscall nr stopped with -ERESTART_RESTARTBLOCK and arguments a1..a4 */
static struct user_regs_struct block(long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	struct user_regs_struct r = regs(-516, nr);

	r.rdi = a1;
	r.rsi = a2;
	r.rdx = a3;
	r.r10 = a4;
	return r;
}

static void assert_rerun(const struct user_regs_struct *r, long nr)
{
	assert_int_equal(r->rax, (uint64_t)nr);
	assert_int_equal(r->orig_rax, (uint64_t)nr);
	assert_int_equal(r->rip, 0x1000 - 2);
}

/* The syscalls of a restart block, into the image: each runs again from its registers. */
static void test_restart_block(void **state)
{
	struct user_regs_struct r;

	(void)state;
	/* nanosleep (35): the time left, which the kernel wrote to rem, becomes the request */
	r = block(35, 0x7000, 0x7100, 0, 0);
	dump_core_adjust_restart(&r);
	assert_rerun(&r, 35);
	assert_int_equal(r.rdi, 0x7100);
	assert_int_equal(r.rsi, 0x7100);
	/* rem == req (glibc's sleep): as it is */
	r = block(35, 0x7000, 0x7000, 0, 0);
	dump_core_adjust_restart(&r);
	assert_rerun(&r, 35);
	assert_int_equal(r.rdi, 0x7000);
	/* no rem: the whole request again */
	r = block(35, 0x7000, 0, 0, 0);
	dump_core_adjust_restart(&r);
	assert_rerun(&r, 35);
	assert_int_equal(r.rdi, 0x7000);
	assert_int_equal(r.rsi, 0);
	/* clock_nanosleep (230): request in rdx, rem in r10, clock and flags untouched */
	r = block(230, 1, 0, 0x7000, 0x7100);
	dump_core_adjust_restart(&r);
	assert_rerun(&r, 230);
	assert_int_equal(r.rdi, 1);
	assert_int_equal(r.rsi, 0);
	assert_int_equal(r.rdx, 0x7100);
	assert_int_equal(r.r10, 0x7100);
	r = block(230, 1, 0, 0x7000, 0);
	dump_core_adjust_restart(&r);
	assert_rerun(&r, 230);
	assert_int_equal(r.rdx, 0x7000);
	/* futex (202): FUTEX_WAIT_BITSET|PRIVATE (137), absolute; FUTEX_WAIT (0), relative */
	r = block(202, 0x8000, 137, 5, 0x7000);
	dump_core_adjust_restart(&r);
	assert_rerun(&r, 202);
	assert_int_equal(r.rsi, 137);
	assert_int_equal(r.rdx, 5);
	assert_int_equal(r.r10, 0x7000);
	r = block(202, 0x8000, 0, 5, 0x7000);
	dump_core_adjust_restart(&r);
	assert_rerun(&r, 202);
	assert_int_equal(r.r10, 0x7000);
	/* another syscall with a restart block than those: EINTR, registers as they were */
	r = block(23, 1, 2, 3, 4);
	dump_core_adjust_restart(&r);
	assert_int_equal((long)r.rax, -EINTR);
	assert_int_equal(r.rip, 0x1000);
	assert_int_equal(r.rdi, 1);
}

/* A thread let go to run on here: only what the kernel's restart would do exactly. */
static void test_restart_in_place(void **state)
{
	struct user_regs_struct r, was;
	/* left to the kernel's restart block, unchanged */
	struct user_regs_struct keep[] = {
		block(7, 0x7000, 2, 1000, 0),		/* poll with a timeout */
		block(35, 0x7000, 0x7100, 0, 0),	/* nanosleep, rem elsewhere */
		block(35, 0x7000, 0, 0, 0),		/* nanosleep without rem */
		block(230, 0, 0, 0x7000, 0),		/* clock_nanosleep without rem */
		block(202, 0x8000, 128, 5, 0x7000),	/* FUTEX_WAIT|PRIVATE: relative */
		block(219, 0x7000, 2, (uint64_t)-1, 0), /* restart_syscall */
		regs(-512, 7),				/* not a restart block */
		regs(-516, -1),				/* not in a syscall */
	};

	(void)state;
	r = block(7, 0x7000, 2, (uint64_t)-1, 0); /* poll without timeout */
	assert_true(dump_core_restart_in_place(&r));
	assert_rerun(&r, 7);
	assert_int_equal(r.rdx, (uint64_t)-1);
	r = block(230, 0, 0, 0x7000, 0x7000); /* glibc's sleep */
	assert_true(dump_core_restart_in_place(&r));
	assert_rerun(&r, 230);
	r = block(35, 0x7000, 0x7000, 0, 0);
	assert_true(dump_core_restart_in_place(&r));
	assert_rerun(&r, 35);
	r = block(202, 0x8000, 9, 5, 0x7000); /* FUTEX_WAIT_BITSET: a deadline */
	assert_true(dump_core_restart_in_place(&r));
	assert_rerun(&r, 202);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		was = keep[i];
		assert_false(dump_core_restart_in_place(&keep[i]));
		assert_memory_equal(&keep[i], &was, sizeof(was));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_supported), cmocka_unit_test(test_fd_tty),
		cmocka_unit_test(test_fd_refused),   cmocka_unit_test(test_vma_classify),
		cmocka_unit_test(test_vma_refused),  cmocka_unit_test(test_madv),
		cmocka_unit_test(test_page_policy),  cmocka_unit_test(test_zero_page),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_restart_block),
		cmocka_unit_test(test_restart_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
