/*
 * dirtier: a process that keeps writing its memory, for the pre-copy tests.
 *
 *	dirtier CHECK-FILE [MIB [RATE-MIB-S [HOT-MIB]]]
 *
 * Fills MIB (256) MiB of anonymous memory, every page with a pattern derived
 * from its index and its generation, prints READY (test/zoo/zoo.h protocol),
 * then rewrites random pages of the first HOT-MIB (16) MiB at RATE-MIB-S (64)
 * MiB/s, each write bumping the page's generation, until the check file
 * appears; then verifies every page against the generation it remembers.
 * A page written in a round the migration missed, or an old copy of it, fails
 * the check; so does a page the destination zeroed or never received.
 * Before rewriting a page it verifies it too, so a fault is caught early.
 * The hot set bounds what a pre-copy round can find dirty: a converging
 * migration's last round carries at most HOT-MIB, far less than MIB.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "../zoo/zoo.h"

#define PAGE 4096UL
#define WORDS (PAGE / sizeof(uint64_t))
#define TICK_MS 10

static uint64_t *memory;
static uint32_t *generation; /* per page, in the migrated memory too */
static unsigned long nr_pages, nr_hot;

static uint64_t word_of(unsigned long page, uint32_t gen, unsigned long i)
{
	return zoo_mix(((uint64_t)page << 32 | gen) ^ ((uint64_t)i << 20)) | 1;
}

static void write_page(unsigned long page)
{
	uint64_t *p = memory + page * WORDS;
	uint32_t gen = ++generation[page];
	unsigned long i;

	for (i = 0; i < WORDS; i++)
		p[i] = word_of(page, gen, i);
}

static bool page_ok(unsigned long page, bool whole)
{
	const uint64_t *p = memory + page * WORDS;
	uint32_t gen = generation[page];
	unsigned long i;

	for (i = 0; i < WORDS; i += whole ? 1 : WORDS - 1) {
		if (p[i] != word_of(page, gen, i)) {
			zoo_fail("page %lu (of %lu) word %lu: 0x%016llx, expected 0x%016llx "
				 "(generation %u)", page, nr_pages, i, (unsigned long long)p[i],
				 (unsigned long long)word_of(page, gen, i), gen);
			return false;
		}
	}
	return true;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned long random_hot_page(void)
{
	rng_state = zoo_mix(rng_state + 0x9e3779b97f4a7c15ULL);
	return rng_state % nr_hot;
}

int main(int argc, char **argv)
{
	unsigned long mib, rate, hot, per_tick, page, n;

	zoo_init(argc, argv, "dirtier");
	mib = argc > 2 ? strtoul(argv[2], NULL, 0) : 256;
	rate = argc > 3 ? strtoul(argv[3], NULL, 0) : 64;
	hot = argc > 4 ? strtoul(argv[4], NULL, 0) : 16;
	if (!mib || hot > mib)
		return fprintf(stderr, "dirtier: bad sizes\n"), 2;
	nr_pages = mib << 8;
	nr_hot = hot << 8;
	per_tick = (rate << 8) * TICK_MS / 1000;
	memory = mmap(NULL, nr_pages * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	generation = calloc(nr_pages, sizeof(*generation));
	if (memory == MAP_FAILED || !generation)
		return perror("dirtier: memory"), 1;
	for (page = 0; page < nr_pages; page++)
		write_page(page);
	printf("dirtier: %lu MiB, %lu MiB/s over the first %lu MiB\n", mib, rate, hot);
	zoo_ready();
	while (!zoo_check_requested() && !zoo_failed()) {
		for (n = 0; n < per_tick && nr_hot; n++) {
			page = random_hot_page();
			if (!page_ok(page, false))
				break;
			write_page(page);
		}
		zoo_sleep_ms(TICK_MS);
	}
	for (page = 0; page < nr_pages && !zoo_failed(); page++)
		page_ok(page, true);
	return zoo_finish();
}
