/*
 * bench_dirtier: the process that bench_migrate.sh migrates. Like
 * test/hosts/dirtier it fills its memory, keeps writing it at a chosen rate
 * and verifies every page when asked; unlike it:
 *
 *  - a write dirties a page with one store (a new generation stamp in its
 *    first word), so the rate is bounded by the page faults of the dirty
 *    tracker and not by computing page contents: far beyond what a link
 *    sends, when asked for;
 *  - a watch thread notes the longest pause of the process's own time line
 *    (CLOCK_MONOTONIC read every millisecond): what the process itself sees
 *    of a migration's freeze, the floor of what a client of it would see.
 *    One machine, one clock: across two machines this would need a time
 *    namespace or a client's view instead.
 *
 *	bench_dirtier CHECK-FILE MIB RATE-MIB-S
 *
 * Writes go to random pages of the whole MIB; RATE 0 is idle (the watch
 * thread still ticks). Protocol of test/zoo/zoo.h: READY, then on the check
 * file two figure lines and PASS or FAIL:
 *
 *	bench_dirtier: longest pause 12.345 ms
 *	bench_dirtier: wrote 123456 pages in 2.0 s (241.1 MiB/s asked 64)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#include "../test/zoo/zoo.h"

#define BENCH_PAGE 4096UL
#define BENCH_WORDS (BENCH_PAGE / sizeof(uint64_t))
/* Pages written between two looks at the check file and the clock. */
#define BENCH_BATCH_PAGES 4096UL
#define BENCH_WATCH_NS 1000000L

static uint64_t *bench_memory;
static uint32_t *bench_generation; /* per page; migrates with the rest */
static unsigned long bench_nr_pages;
static atomic_bool bench_watch_stop;
static atomic_uint_fast64_t bench_longest_pause_ns;

static uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Word i of page p; word 0 carries the page's generation. */
static uint64_t bench_word(unsigned long page, unsigned long i, uint32_t gen)
{
	uint64_t fill = zoo_mix((uint64_t)page * BENCH_WORDS + i);

	return i ? fill : fill ^ ((uint64_t)gen << 32 | gen);
}

static void bench_fill(void)
{
	unsigned long page, i;

	for (page = 0; page < bench_nr_pages; page++)
		for (i = 0; i < BENCH_WORDS; i++)
			bench_memory[page * BENCH_WORDS + i] = bench_word(page, i, 0);
}

static bool bench_page_ok(unsigned long page, unsigned long words)
{
	const uint64_t *p = bench_memory + page * BENCH_WORDS;
	uint32_t gen = bench_generation[page];
	unsigned long i;

	for (i = 0; i < words; i++) {
		if (p[i] == bench_word(page, i, gen))
			continue;
		zoo_fail("page %lu (of %lu) word %lu: 0x%016llx, expected 0x%016llx "
			 "(generation %u)",
			 page, bench_nr_pages, i, (unsigned long long)p[i],
			 (unsigned long long)bench_word(page, i, gen), gen);
		return false;
	}
	return true;
}

static uint64_t bench_rng = 0x9e3779b97f4a7c15ULL;

/* Dirties one random page; checks its stamp first, so a lost write shows early. */
static bool bench_dirty_one(void)
{
	unsigned long page;

	bench_rng = zoo_mix(bench_rng + 0x9e3779b97f4a7c15ULL);
	page = bench_rng % bench_nr_pages;
	if (!bench_page_ok(page, 1))
		return false;
	bench_generation[page]++;
	bench_memory[page * BENCH_WORDS] = bench_word(page, 0, bench_generation[page]);
	return true;
}

static void *bench_watch(void *arg)
{
	struct timespec tick = { .tv_sec = 0, .tv_nsec = BENCH_WATCH_NS };
	uint64_t prev = bench_now_ns(), now;

	(void)arg;
	while (!atomic_load(&bench_watch_stop)) {
		/* An interrupted sleep only shortens one tick: the clock decides. */
		(void)nanosleep(&tick, NULL);
		now = bench_now_ns();
		if (now - prev > atomic_load(&bench_longest_pause_ns))
			atomic_store(&bench_longest_pause_ns, now - prev);
		prev = now;
	}
	return NULL;
}

/* Writes at rate_mib MiB/s until the check file appears; returns pages written. */
static unsigned long bench_write_until_check(unsigned long rate_mib)
{
	uint64_t pages_per_s = (uint64_t)rate_mib * (1024 * 1024 / BENCH_PAGE);
	uint64_t start = bench_now_ns(), due;
	unsigned long written = 0, n;

	while (!zoo_check_requested() && !zoo_failed()) {
		due = (uint64_t)((double)(bench_now_ns() - start) * (double)pages_per_s / 1e9);
		for (n = 0; written < due && n < BENCH_BATCH_PAGES; n++, written++)
			if (!bench_dirty_one())
				return written;
		if (written >= due)
			zoo_sleep_ms(1);
	}
	return written;
}

int main(int argc, char **argv)
{
	unsigned long mib, rate, written, page;
	uint64_t start;
	double seconds;
	pthread_t watch;

	zoo_init(argc, argv, "bench_dirtier");
	if (argc != 4)
		return fprintf(stderr, "usage: bench_dirtier CHECK-FILE MIB RATE-MIB-S\n"), 2;
	mib = strtoul(argv[2], NULL, 0);
	rate = strtoul(argv[3], NULL, 0);
	if (!mib)
		return fprintf(stderr, "bench_dirtier: MIB must be at least 1\n"), 2;
	bench_nr_pages = mib * (1024 * 1024 / BENCH_PAGE);
	bench_memory = mmap(NULL, bench_nr_pages * BENCH_PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bench_generation = calloc(bench_nr_pages, sizeof(*bench_generation));
	if (bench_memory == MAP_FAILED || !bench_generation)
		return perror("bench_dirtier: memory"), 1;
	bench_fill();
	if (pthread_create(&watch, NULL, bench_watch, NULL))
		return fprintf(stderr, "bench_dirtier: cannot start the watch thread\n"), 1;
	zoo_ready();
	start = bench_now_ns();
	written = bench_write_until_check(rate);
	seconds = (double)(bench_now_ns() - start) / 1e9;
	atomic_store(&bench_watch_stop, true);
	pthread_join(watch, NULL);
	printf("bench_dirtier: longest pause %.3f ms\n",
	       (double)atomic_load(&bench_longest_pause_ns) / 1e6);
	printf("bench_dirtier: wrote %lu pages in %.1f s (%.1f MiB/s, asked %lu)\n", written,
	       seconds, (double)written * BENCH_PAGE / 1048576.0 / seconds, rate);
	for (page = 0; page < bench_nr_pages && !zoo_failed(); page++)
		(void)bench_page_ok(page, BENCH_WORDS);
	return zoo_finish();
}
