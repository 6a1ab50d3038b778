/* Staged restore on a real puppet: create, layouts, pages, keep_only, abort. Needs root. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "restore.h"

#define PAGE 4096ULL
#define BASE_A 0x200000000ULL
#define BASE_B 0x200100000ULL
#define BASE_C 0x200200000ULL

struct fixture {
	struct restore_proc *p;
	pid_t pid;
	int mem_fd;
};

static pid_t free_pid_candidate(int attempt)
{
	long pid_max = 32768;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");

	if (f) {
		if (fscanf(f, "%ld", &pid_max) != 1)
			pid_max = 32768;
		fclose(f);
	}
	/* High in the range, where the kernel rarely is yet: the tests do not fight other PIDs. */
	return (pid_t)(pid_max / 2 + (getpid() * 7 + attempt * 131) % (pid_max / 4));
}

static int setup(void **state)
{
	struct restore_opts o = { .pid_wait_ms = 50 };
	struct fixture *fx = calloc(1, sizeof(*fx));
	uint32_t tid;
	char path[64];
	int r = -EEXIST;

	assert_non_null(fx);
	for (int attempt = 0; attempt < 20 && r == -EEXIST; attempt++) {
		PstreeEntry pst = PSTREE_ENTRY__INIT;

		tid = (uint32_t)free_pid_candidate(attempt);
		pst.pid = tid;
		pst.pgid = (uint32_t)getpgrp();
		pst.sid = (uint32_t)getsid(0);
		pst.n_threads = 1;
		pst.threads = &tid;
		r = restore_proc_create(&pst, &o, &fx->p);
	}
	assert_int_equal(r, 0);
	fx->pid = restore_proc_pid(fx->p);
	assert_int_equal(fx->pid, (pid_t)tid);
	snprintf(path, sizeof(path), "/proc/%d/mem", fx->pid);
	fx->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fx->mem_fd >= 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx->mem_fd >= 0)
		close(fx->mem_fd);
	restore_proc_free(fx->p);
	free(fx);
	return 0;
}

static VmaEntry anon(uint64_t start, uint64_t npages, uint32_t prot)
{
	VmaEntry v = VMA_ENTRY__INIT;

	v.start = start;
	v.end = start + npages * PAGE;
	v.prot = prot;
	v.flags = MAP_PRIVATE | MAP_ANONYMOUS;
	v.kind = VMA_KIND__VMA_ANON_PRIVATE;
	return v;
}

/* The perms of the mapping that contains addr in /proc/PID/maps, or "" if none. */
static void maps_perms(pid_t pid, uint64_t addr, char perms[5])
{
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	assert_non_null(f);
	perms[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		char p[5];

		if (sscanf(line, "%llx-%llx %4s", &s, &e, p) == 3 && s <= addr && addr < e) {
			memcpy(perms, p, 5);
			break;
		}
	}
	fclose(f);
}

static void fill(unsigned char *buf, size_t npages, unsigned char seed)
{
	for (size_t i = 0; i < npages; i++)
		memset(buf + i * PAGE, seed + (int)i, PAGE);
}

static int page_byte(struct fixture *fx, uint64_t addr)
{
	unsigned char b[PAGE];

	if (pread(fx->mem_fd, b, PAGE, (off_t)addr) != (ssize_t)PAGE)
		return -1;
	for (size_t i = 1; i < PAGE; i++)
		if (b[i] != b[0])
			return -2;
	return b[0];
}

/* The only mapping of a fresh puppet besides [vsyscall] is its scratch area. */
static uint64_t scratch_addr(pid_t pid)
{
	char path[64], line[512];
	unsigned long long s = 0, e;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strstr(line, "[vsyscall]") && sscanf(line, "%llx-%llx", &s, &e) == 2)
			break;
	fclose(f);
	return s;
}

static void test_layout_pages(void **state)
{
	struct fixture *fx = *state;
	static unsigned char buf[6 * PAGE];
	uint64_t scratch = scratch_addr(fx->pid);
	VmaEntry a = anon(BASE_A, 4, PROT_READ | PROT_WRITE);
	VmaEntry b = anon(BASE_B, 2, PROT_READ | PROT_WRITE);
	VmaEntry *l1[] = { &b, &a }; /* any order */
	char perms[5];

	assert_true(scratch != 0);
	assert_int_equal(restore_proc_set_layout(fx->p, l1, 2, NULL, 0), 0);
	maps_perms(fx->pid, BASE_A, perms);
	assert_string_equal(perms, "rw-p");
	maps_perms(fx->pid, BASE_B, perms);
	assert_string_equal(perms, "rw-p");

	fill(buf, 4, 0x10);
	assert_int_equal(restore_proc_write_pages(fx->p, BASE_A, buf, 4), 0);
	fill(buf, 2, 0x40);
	assert_int_equal(restore_proc_write_pages(fx->p, BASE_B, buf, 2), 0);
	assert_int_equal(page_byte(fx, BASE_A), 0x10);
	assert_int_equal(page_byte(fx, BASE_A + 3 * PAGE), 0x13);
	assert_int_equal(page_byte(fx, BASE_B + PAGE), 0x41);

	/* Outside the layout, or spilling out of it: refused. */
	assert_int_equal(restore_proc_write_pages(fx->p, BASE_C, buf, 1), -EINVAL);
	assert_int_equal(restore_proc_write_pages(fx->p, BASE_A + 3 * PAGE, buf, 2), -EINVAL);
	assert_int_equal(restore_proc_write_pages(fx->p, BASE_A + 1, buf, 1), -EINVAL);

	/* A grows, B goes, C comes right over the scratch area (which must move away). */
	VmaEntry a2 = anon(BASE_A, 6, PROT_READ | PROT_WRITE);
	VmaEntry c = anon(scratch, 1, PROT_READ | PROT_WRITE);
	VmaEntry *l2[] = { &a2, &c };

	assert_int_equal(restore_proc_set_layout(fx->p, l2, 2, NULL, 0), 0);
	maps_perms(fx->pid, BASE_B, perms);
	assert_string_equal(perms, "");
	maps_perms(fx->pid, scratch, perms);
	assert_string_equal(perms, "rw-p");
	assert_int_equal(page_byte(fx, scratch), 0);
	assert_int_equal(page_byte(fx, BASE_A + 2 * PAGE), 0x12);
	assert_int_equal(page_byte(fx, BASE_A + 5 * PAGE), 0);
	fill(buf, 1, 0x70);
	assert_int_equal(restore_proc_write_pages(fx->p, BASE_A + 5 * PAGE, buf, 1), 0);

	/* A becomes read-only and its page 1 is reset: the other pages keep their contents. */
	VmaEntry a3 = anon(BASE_A, 6, PROT_READ);
	VmaEntry *l3[] = { &a3, &c };
	struct restore_range reset = { BASE_A + PAGE, BASE_A + 2 * PAGE };

	assert_int_equal(restore_proc_set_layout(fx->p, l3, 2, &reset, 1), 0);
	maps_perms(fx->pid, BASE_A, perms);
	assert_string_equal(perms, "r--p");
	maps_perms(fx->pid, BASE_A + PAGE, perms);
	assert_string_equal(perms, "r--p");
	assert_int_equal(page_byte(fx, BASE_A), 0x10);
	assert_int_equal(page_byte(fx, BASE_A + PAGE), 0);
	assert_int_equal(page_byte(fx, BASE_A + 2 * PAGE), 0x12);
	assert_int_equal(page_byte(fx, BASE_A + 5 * PAGE), 0x70);
	/* Read-only for the process, still writable for us. */
	fill(buf, 1, 0x55);
	assert_int_equal(restore_proc_write_pages(fx->p, BASE_A + PAGE, buf, 1), 0);
	assert_int_equal(page_byte(fx, BASE_A + PAGE), 0x55);

	/* keep_only: pages 0 and 2..3 stay, 1, 4 and 5 are dropped (zero again). */
	struct restore_range resident[] = { { BASE_A + 2 * PAGE, BASE_A + 4 * PAGE },
					     { BASE_A, BASE_A + PAGE } };

	assert_int_equal(restore_proc_keep_only(fx->p, resident, 2), 0);
	assert_int_equal(page_byte(fx, BASE_A), 0x10);
	assert_int_equal(page_byte(fx, BASE_A + PAGE), 0);
	assert_int_equal(page_byte(fx, BASE_A + 2 * PAGE), 0x12);
	assert_int_equal(page_byte(fx, BASE_A + 3 * PAGE), 0x13);
	assert_int_equal(page_byte(fx, BASE_A + 5 * PAGE), 0);

	struct restore_timings tm;

	restore_proc_timings(fx->p, &tm);
	assert_true(tm.create_ns > 0 && tm.layout_ns > 0 && tm.pages_ns > 0);
}

static void test_bad_layout(void **state)
{
	struct fixture *fx = *state;
	VmaEntry a = anon(BASE_A, 4, PROT_READ | PROT_WRITE);
	VmaEntry overlap = anon(BASE_A + PAGE, 1, PROT_READ);
	VmaEntry odd = anon(BASE_A + 1, 1, PROT_READ);
	VmaEntry high = anon(0x800000000000ULL, 1, PROT_READ);
	VmaEntry *l1[] = { &a, &overlap }, *l2[] = { &odd }, *l3[] = { &high };
	struct restore_range bad = { BASE_A, BASE_A + 1 };

	assert_int_equal(restore_proc_set_layout(fx->p, l1, 2, NULL, 0), -EINVAL);
	assert_int_equal(restore_proc_set_layout(fx->p, l2, 1, NULL, 0), -EINVAL);
	assert_int_equal(restore_proc_set_layout(fx->p, l3, 1, NULL, 0), -EINVAL);
	assert_int_equal(restore_proc_set_layout(fx->p, l1, 1, &bad, 1), -EINVAL);
	/* Nothing was changed by the refusals: a good layout still applies. */
	assert_int_equal(restore_proc_set_layout(fx->p, l1, 1, NULL, 0), 0);
}

static void test_abort_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	VmaEntry a = anon(BASE_A, 2, PROT_READ | PROT_WRITE);
	VmaEntry *l[] = { &a };
	char path[64];
	struct stat st;

	assert_int_equal(restore_proc_set_layout(fx->p, l, 1, NULL, 0), 0);
	restore_proc_abort(fx->p);
	restore_proc_abort(fx->p); /* twice is fine */
	snprintf(path, sizeof(path), "/proc/%d", fx->pid);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(kill(fx->pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_layout_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_restore_stage: needs root (clone3 with set_tid, ptrace), "
				"skipping\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
