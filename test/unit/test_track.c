/*
 * test_track: the dirty-page trackers against a real child (needs root).
 *
 * The child is this binary run as "--child track MIB": it maps MIB MiB of
 * anonymous memory between two PROT_NONE guard pages (so no other mapping
 * merges with it), writes its index into every page, says "ready ADDR" on its
 * reply pipe and then obeys one-line commands from its command pipe:
 *
 *	w I J K   write page I, J, K of the region     -> ok
 *	W STEP    write every STEP-th page              -> ok
 *	m N       mmap N new pages and write them all   -> ok ADDR
 *	u         munmap them again                     -> ok
 *	h N       grow the heap by N pages, write them  -> ok ADDR
 *	s MS      write pages 50 and 51 in a loop for MS ms -> ok
 *	c         check the region's own pattern        -> ok | bad
 *
 * The test seizes it, starts the tracker with a puppet, lets it run again, and
 * collects while it runs. Teardown kills and reaps the child by PID.
 * TRACK_TEST=pattern runs a subset.
 */
#include "track.h"

#include "err.h"
#include "log.h"
#include "puppet.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ULL
#define CMD_FD 3
#define REPLY_FD 4

static char self_exe[4096];

#define assert_ok(expr)                                                                       \
	do {                                                                                  \
		int r_ = (expr);                                                              \
		if (r_ < 0)                                                                   \
			fail_msg("%s = %d (%s): %s", #expr, r_, strerror(-r_), err_detail()); \
	} while (0)

/* ---------------- the child ---------------- */

static void child_reply(const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (write(REPLY_FD, buf, (size_t)n) != n)
		_exit(6);
}

static void child_fill(char *p, size_t pages)
{
	for (size_t i = 0; i < pages; i++)
		((volatile uint64_t *)(p + i * PAGE))[0] = i;
}

static int child_check(const char *region, size_t pages)
{
	for (size_t i = 0; i < pages; i++)
		if (((const volatile uint64_t *)(region + i * PAGE))[0] != i)
			return -1;
	return 0;
}

static void child_command(char *line, char *region, size_t pages)
{
	static char *extra;
	static size_t extra_pages;
	char *s = line + 1, *end;

	switch (line[0]) {
	case 'w':
		for (unsigned long i = strtoul(s, &end, 10); end != s; i = strtoul(s, &end, 10)) {
			((volatile uint64_t *)(region + (i % pages) * PAGE))[1]++;
			s = end;
		}
		return child_reply("ok\n");
	case 'W':
		for (size_t i = 0, step = strtoul(s, NULL, 10); i < pages; i += step)
			((volatile uint64_t *)(region + i * PAGE))[1]++;
		return child_reply("ok\n");
	case 'm':
		extra_pages = strtoul(s, NULL, 10);
		extra = mmap(NULL, extra_pages * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (extra == MAP_FAILED)
			return child_reply("err\n");
		child_fill(extra, extra_pages);
		return child_reply("ok %lx\n", (unsigned long)extra);
	case 'u':
		munmap(extra, extra_pages * PAGE);
		return child_reply("ok\n");
	case 'h': {
		size_t n = strtoul(s, NULL, 10);
		char *h = sbrk((intptr_t)(n * PAGE));
		if (h == (void *)-1)
			return child_reply("err\n");
		memset(h, 0x5a, n * PAGE);
		return child_reply("ok %lx\n", (unsigned long)h);
	}
	case 's': {
		struct timespec t0, t;
		long ms = strtol(s, NULL, 10);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			for (int k = 0; k < 1000; k++) {
				((volatile uint64_t *)(region + 50 * PAGE))[1]++;
				((volatile uint64_t *)(region + 51 * PAGE))[1]++;
			}
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
		return child_reply("ok\n");
	}
	case 'c':
		return child_reply(child_check(region, pages) ? "bad\n" : "ok\n");
	case 'r': {
		/* A sparse reservation like ASan's shadow or a JVM heap: huge, NORESERVE,
		 * private and writable, with only a few pages ever touched. */
		size_t gib = strtoul(s, NULL, 10);
		char *r = mmap(NULL, gib << 30, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (r == MAP_FAILED)
			return child_reply("err\n");
		for (size_t k = 0; k < 3; k++)
			r[(k << 30) + 7 * PAGE] = 1;
		return child_reply("ok %lx\n", (unsigned long)r);
	}
	case 'R': {
		char *r = (char *)strtoul(s, NULL, 16);
		r[(1UL << 30) + 7 * PAGE]++;
		return child_reply("ok\n");
	}
	}
	child_reply("err\n");
}

static int child_main(size_t mib)
{
	size_t pages = mib * 256;
	char *guard = mmap(NULL, (pages + 2) * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED)
		return 2;
	char *region = guard + PAGE;
	if (mprotect(region, pages * PAGE, PROT_READ | PROT_WRITE) < 0)
		return 2;
	/* The tests count pages exactly. Under THP (Debian 6.1 defaults to
	 * "always") soft-dirty is kept per 2 MiB huge page, so one write reports
	 * 512 pages: correct for migration (it only sends more), wrong for these
	 * counts. */
	if (madvise(region, pages * PAGE, MADV_NOHUGEPAGE) < 0)
		return 2;
	child_fill(region, pages);
	child_reply("ready %lx\n", (unsigned long)region);
	char line[256];
	size_t used = 0;
	for (;;) {
		ssize_t n = read(CMD_FD, line + used, sizeof(line) - 1 - used);
		if (n <= 0)
			return 0;
		used += (size_t)n;
		line[used] = '\0';
		char *nl = strchr(line, '\n');
		if (!nl)
			continue;
		*nl = '\0';
		child_command(line, region, pages);
		used = 0;
	}
}

/* ---------------- the parent ---------------- */

struct child {
	pid_t pid;
	int cmd_w, reply_r;
	uint64_t region;
	size_t pages;
	struct track *track;
	struct track_ranges ranges;
};

static int setup(void **state)
{
	struct child *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->pid = -1;
	c->cmd_w = c->reply_r = -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct child *c = *state;
	track_stop(c->track);
	track_ranges_free(&c->ranges);
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	}
	if (c->cmd_w >= 0)
		close(c->cmd_w);
	if (c->reply_r >= 0)
		close(c->reply_r);
	free(c);
	return 0;
}

/* Sends one command line, returns the reply line (without "\n") in buf. */
static void child_cmd(struct child *c, char *buf, size_t size, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		assert_int_equal(write(c->cmd_w, line, (size_t)n), n);
	size_t used = 0;
	while (used < size - 1) {
		ssize_t got = read(c->reply_r, buf + used, 1);
		assert_int_equal(got, 1);
		if (buf[used] == '\n')
			break;
		used++;
	}
	buf[used] = '\0';
	assert_true(!strncmp(buf, "ok", 2) || !strncmp(buf, "ready", 5));
}

static void start_child(struct child *c, size_t mib)
{
	int cmd[2], reply[2];
	char arg[32], buf[128];
	assert_int_equal(pipe2(cmd, O_CLOEXEC), 0);
	assert_int_equal(pipe2(reply, O_CLOEXEC), 0);
	snprintf(arg, sizeof(arg), "%zu", mib);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		/* dup2 clears FD_CLOEXEC; go through high numbers so nothing is clobbered */
		int a = fcntl(cmd[0], F_DUPFD_CLOEXEC, 10),
		    b = fcntl(reply[1], F_DUPFD_CLOEXEC, 10);
		if (a < 0 || b < 0 || dup2(a, CMD_FD) < 0 || dup2(b, REPLY_FD) < 0)
			_exit(4);
		execl(self_exe, self_exe, "--child", "track", arg, (char *)NULL);
		_exit(5);
	}
	close(cmd[0]);
	close(reply[1]);
	c->cmd_w = cmd[1];
	c->reply_r = reply[0];
	c->pages = mib * 256;
	child_cmd(c, buf, sizeof(buf), "%s", "");
	assert_int_equal(sscanf(buf, "ready %lx", &c->region), 1);
}

/* Seizes the child, starts kind through a puppet, and lets it run again. */
static void start_tracking(struct child *c, enum track_kind kind)
{
	struct puppet p;
	assert_ok(puppet_seize(c->pid, 0));
	assert_ok(puppet_interrupt(c->pid));
	assert_ok(puppet_init(&p, c->pid, c->pid));
	assert_ok(puppet_map_scratch(&p, 0, 0));
	assert_ok(track_start(kind, c->pid, &p, &c->track));
	assert_ok(puppet_unmap_scratch(&p));
	assert_ok(puppet_fini(&p));
	puppet_release(&p);
	assert_ok(puppet_detach(c->pid, 0));
}

/* Pages of [lo, hi) among the collected ranges. */
static uint64_t pages_in(const struct track_ranges *r, uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;
	for (size_t i = 0; i < r->count; i++) {
		uint64_t a = r->ranges[i].start > lo ? r->ranges[i].start : lo;
		uint64_t b = r->ranges[i].end < hi ? r->ranges[i].end : hi;
		if (a < b)
			n += (b - a) / PAGE;
	}
	return n;
}

static bool page_in(const struct track_ranges *r, uint64_t addr)
{
	return pages_in(r, addr, addr + PAGE) == 1;
}

static void check_sorted(const struct track_ranges *r)
{
	uint64_t total = 0;
	for (size_t i = 0; i < r->count; i++) {
		assert_true(r->ranges[i].start < r->ranges[i].end);
		assert_true(i == 0 || r->ranges[i - 1].end < r->ranges[i].start);
		assert_int_equal(r->ranges[i].start % PAGE, 0);
		total += (r->ranges[i].end - r->ranges[i].start) / PAGE;
	}
	assert_int_equal(total, r->pages);
}

static void collect(struct child *c)
{
	assert_ok(track_collect(c->track, &c->ranges));
	check_sorted(&c->ranges);
}

/* The region holds exactly the pages idx[0..n) (and nothing else of the region). */
static void expect_region(struct child *c, const size_t *idx, size_t n)
{
	uint64_t lo = c->region, hi = c->region + c->pages * PAGE;
	for (size_t i = 0; i < n; i++)
		if (!page_in(&c->ranges, lo + idx[i] * PAGE))
			fail_msg("page %zu of the region was written but not reported", idx[i]);
	assert_int_equal(pages_in(&c->ranges, lo, hi), n);
}

/* Outside the region the child's stack and libc data are written too: a few pages. */
static void expect_little_else(struct child *c, uint64_t also_lo, uint64_t also_hi)
{
	uint64_t lo = c->region, hi = c->region + c->pages * PAGE;
	uint64_t other = c->ranges.pages - pages_in(&c->ranges, lo, hi) -
			 pages_in(&c->ranges, also_lo, also_hi);
	if (other > 64)
		fail_msg("%llu pages reported outside the known areas", (unsigned long long)other);
}

static bool smaps_has_uw(pid_t pid)
{
	char path[64], line[512];
	bool found = false;
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmFlags:", 8) && strstr(line, " uw"))
			found = true;
	fclose(f);
	return found;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static bool skip_unless(enum track_kind kind)
{
	if (track_probe(kind) == 0)
		return false;
	fprintf(stderr, "test_track: %s unusable here: %s\n", track_kind_name(kind), err_detail());
	return true;
}

/* Several rounds: region writes, a new mapping, its unmapping, heap growth. */
static void rounds(struct child *c, enum track_kind kind)
{
	char buf[128];
	uint64_t extra = 0, heap = 0;

	start_child(c, 64);
	start_tracking(c, kind);

	collect(c); /* start is the baseline: nothing of the region yet */
	expect_region(c, NULL, 0);

	child_cmd(c, buf, sizeof(buf), "w 3 17 1000\n");
	collect(c);
	expect_region(c, (size_t[]){ 3, 17, 1000 }, 3);
	expect_little_else(c, 0, 0);

	child_cmd(c, buf, sizeof(buf), "w 5 16383 5\n");
	collect(c);
	expect_region(c, (size_t[]){ 5, 16383 }, 2);

	collect(c); /* nothing written since */
	expect_region(c, NULL, 0);

	child_cmd(c, buf, sizeof(buf), "m 8\n");
	assert_int_equal(sscanf(buf, "ok %lx", &extra), 1);
	collect(c);
	expect_region(c, NULL, 0);
	assert_int_equal(pages_in(&c->ranges, extra, extra + 8 * PAGE), 8); /* new: whole */
	expect_little_else(c, extra, extra + 8 * PAGE);

	child_cmd(c, buf, sizeof(buf), "w 42\n");
	collect(c);
	expect_region(c, (size_t[]){ 42 }, 1);
	assert_int_equal(pages_in(&c->ranges, extra, extra + 8 * PAGE), 0); /* known now */

	child_cmd(c, buf, sizeof(buf), "u\n");
	child_cmd(c, buf, sizeof(buf), "h 4\n");
	assert_int_equal(sscanf(buf, "ok %lx", &heap), 1);
	collect(c);
	expect_region(c, NULL, 0);
	assert_int_equal(pages_in(&c->ranges, extra, extra + 8 * PAGE), 0); /* gone */
	assert_int_equal(pages_in(&c->ranges, heap, heap + 4 * PAGE), 4);
	expect_little_else(c, heap & ~(PAGE - 1), (heap + 5 * PAGE) & ~(PAGE - 1));

	track_stop(c->track);
	c->track = NULL;
	assert_false(smaps_has_uw(c->pid));
	child_cmd(c, buf, sizeof(buf), "w 1 2 3\n");
	child_cmd(c, buf, sizeof(buf), "c\n");
}

static void test_uffd_rounds(void **state)
{
	if (skip_unless(TRACK_UFFD_WP))
		skip();
	rounds(*state, TRACK_UFFD_WP);
}

/* The caller freezes around a soft-dirty collect; this child is idle in read()
 * between commands, which is the same thing here. */
static void test_softdirty_rounds(void **state)
{
	if (skip_unless(TRACK_SOFT_DIRTY))
		skip();
	rounds(*state, TRACK_SOFT_DIRTY);
}

/* write, collect, write the same page, collect: the second write is seen. */
static void not_lost(struct child *c, enum track_kind kind)
{
	char buf[128];
	start_child(c, 64);
	start_tracking(c, kind);
	for (int round = 0; round < 5; round++) {
		child_cmd(c, buf, sizeof(buf), "w 7\n");
		collect(c);
		expect_region(c, (size_t[]){ 7 }, 1);
	}
	collect(c);
	expect_region(c, NULL, 0);

	/* a vanished process: -ESRCH, the last ranges untouched, stop still fine */
	uint64_t before = c->ranges.pages;
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, NULL, __WALL) < 0 && errno == EINTR)
		;
	c->pid = -1;
	assert_int_equal(track_collect(c->track, &c->ranges), -ESRCH);
	assert_int_equal(c->ranges.pages, before);
}

static void test_uffd_not_lost(void **state)
{
	if (skip_unless(TRACK_UFFD_WP))
		skip();
	not_lost(*state, TRACK_UFFD_WP);
}

static void test_softdirty_not_lost(void **state)
{
	if (skip_unless(TRACK_SOFT_DIRTY))
		skip();
	not_lost(*state, TRACK_SOFT_DIRTY);
}

/* Collects while the child writes without pause: every collect succeeds, reports
 * nothing but the two pages, and their last writes are still seen afterwards. */
static void test_uffd_while_running(void **state)
{
	struct child *c = *state;
	char buf[128];
	int rounds = 0, seen = 0;

	if (skip_unless(TRACK_UFFD_WP))
		skip();
	start_child(c, 64);
	start_tracking(c, TRACK_UFFD_WP);
	assert_false(track_needs_freeze(c->track));
	collect(c);
	double t0 = now_ms();
	assert_int_equal(write(c->cmd_w, "s 300\n", 6), 6);
	while (now_ms() - t0 < 250) {
		collect(c);
		uint64_t lo = c->region, hi = lo + c->pages * PAGE;
		assert_int_equal(pages_in(&c->ranges, lo, hi),
				 pages_in(&c->ranges, lo + 50 * PAGE, lo + 52 * PAGE));
		seen += page_in(&c->ranges, lo + 50 * PAGE);
		rounds++;
	}
	child_cmd(c, buf, sizeof(buf), "%s", "");
	collect(c);
	expect_region(c, (size_t[]){ 50, 51 }, 2);
	printf("test_track: %d collects while the child wrote, %d saw its page\n", rounds, seen);
	assert_true(seen > 0);
}

/* Page-table memory of pid in KiB (VmPTE), -1 if unknown. */
static long child_vmpte_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPTE: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* Regression: arming must not build page tables for holes. With
 * UFFD_FEATURE_WP_UNPOPULATED a 64 GiB reservation costs 128 MiB of page tables
 * (and ASan's 16 TiB shadow exhausted this machine's memory). */
static void test_uffd_sparse_reservation(void **state)
{
	struct child *c = *state;
	char buf[128];
	unsigned long res;

	if (skip_unless(TRACK_UFFD_WP))
		skip();
	start_child(c, 1);
	child_cmd(c, buf, sizeof(buf), "r64\n");
	assert_int_equal(sscanf(buf, "ok %lx", &res), 1);
	start_tracking(c, TRACK_UFFD_WP);
	collect(c);
	collect(c);
	long kib = child_vmpte_kib(c->pid);
	printf("sparse 64 GiB reservation: VmPTE %ld KiB after two collects\n", kib);
	assert_true(kib >= 0 && kib < 16 * 1024);
	child_cmd(c, buf, sizeof(buf), "R%lx\n", res);
	collect(c);
	assert_true(page_in(&c->ranges, res + (1UL << 30) + 7 * PAGE));
}

static void test_none_reports_all(void **state)
{
	struct child *c = *state;
	char buf[128];
	start_child(c, 64);
	start_tracking(c, TRACK_NONE);
	assert_false(track_needs_freeze(c->track));
	for (int round = 0; round < 2; round++) {
		child_cmd(c, buf, sizeof(buf), "w 9\n");
		collect(c);
		assert_int_equal(pages_in(&c->ranges, c->region, c->region + c->pages * PAGE),
				 c->pages);
	}
}

/* 1 GiB, every 100th page written (1%, scattered: the worst case for ranges). */
static void bench_1g(struct child *c, enum track_kind kind)
{
	char buf[128];
	start_child(c, 1024);
	start_tracking(c, kind);
	collect(c);
	for (int round = 0; round < 3; round++) {
		child_cmd(c, buf, sizeof(buf), "W 100\n");
		double t0 = now_ms();
		collect(c);
		double ms = now_ms() - t0;
		uint64_t in = pages_in(&c->ranges, c->region, c->region + c->pages * PAGE);
		printf("test_track: %s collect of 1 GiB, 1%% dirty (%llu pages in %zu ranges): "
		       "%.2f ms\n",
		       track_kind_name(kind), (unsigned long long)in, c->ranges.count, ms);
		if (kind != TRACK_NONE)
			assert_int_equal(in, (c->pages + 99) / 100);
	}
}

static void test_bench_uffd_1g(void **state)
{
	if (skip_unless(TRACK_UFFD_WP))
		skip();
	bench_1g(*state, TRACK_UFFD_WP);
}

static void test_bench_softdirty_1g(void **state)
{
	if (skip_unless(TRACK_SOFT_DIRTY))
		skip();
	bench_1g(*state, TRACK_SOFT_DIRTY);
}

static void test_bench_none_1g(void **state)
{
	bench_1g(*state, TRACK_NONE);
}

static void test_names_and_probe(void **state)
{
	enum track_kind k;
	for (int i = TRACK_NONE; i <= TRACK_UFFD_WP; i++) {
		assert_ok(track_kind_parse(track_kind_name(i), &k));
		assert_int_equal(k, i);
	}
	assert_int_equal(track_kind_parse("auto", &k), -EINVAL);
	assert_non_null(strstr(err_detail(), "\"auto\""));
	assert_int_equal(track_kind_parse(NULL, &k), -EINVAL);
	assert_string_equal(track_kind_name((enum track_kind)42), "?");
	assert_ok(track_probe(TRACK_NONE));
	for (int i = TRACK_SOFT_DIRTY; i <= TRACK_UFFD_WP; i++) {
		int r = track_probe(i);
		printf("test_track: probe %s: %s%s\n", track_kind_name(i), r ? "no: " : "yes",
		       r ? err_detail() : "");
		if (r)
			assert_true(err_detail()[0] != '\0');
	}
	assert_ok(track_auto(&k));
	printf("test_track: auto picks %s\n", track_kind_name(k));
	assert_int_equal(track_probe(k), 0);
	assert_int_equal(track_start((enum track_kind)42, getpid(), NULL, &(struct track *){ 0 }),
			 -EINVAL);
	track_stop(NULL);
}

/* uffd-wp without a puppet is refused cleanly. */
static void test_uffd_needs_puppet(void **state)
{
	struct track *t = NULL;
	if (skip_unless(TRACK_UFFD_WP))
		skip();
	assert_int_equal(track_start(TRACK_UFFD_WP, getpid(), NULL, &t), -EINVAL);
	assert_null(t);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--child"))
		return child_main(strtoul(argv[3], NULL, 10));
	if (geteuid() != 0) {
		fprintf(stderr, "test_track: needs root (ptrace of children), skipping\n");
		return 77;
	}
	if (!realpath(argv[0], self_exe)) {
		fprintf(stderr, "test_track: cannot resolve %s\n", argv[0]);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_probe),
		cmocka_unit_test(test_uffd_needs_puppet),
		cmocka_unit_test_setup_teardown(test_uffd_rounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uffd_not_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uffd_while_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uffd_sparse_reservation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_softdirty_rounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_softdirty_not_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_none_reports_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bench_uffd_1g, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bench_softdirty_1g, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bench_none_1g, setup, teardown),
	};
	if (getenv("TRACK_DEBUG"))
		log_set_level(LOG_LEVEL_DEBUG);
	if (getenv("TRACK_TEST"))
		cmocka_set_test_filter(getenv("TRACK_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
