/*
 * bench_codec: throughput and ratio of the page codec on zero, random, text
 * and mixed pages, for several chunk sizes (pages per LZ4 block), so that
 * CODEC_DEFAULT_CHUNK_PAGES rests on a measurement. Prints figures, asserts
 * nothing. Usage: bench_codec [MiB per kind, default 64]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"

#define PG CODEC_PAGE_SIZE
/* Pages per codec_batch_add(), as the sender would batch them. */
#define BENCH_BATCH_PAGES 1024

static uint64_t bench_rng = 0x9e3779b97f4a7c15ULL;

static uint64_t bench_next(void)
{
	bench_rng ^= bench_rng << 13;
	bench_rng ^= bench_rng >> 7;
	bench_rng ^= bench_rng << 17;
	return bench_rng;
}

static void bench_fill_text(uint8_t *p, size_t len)
{
	static const char *words[] = { "int ", "return ", "page", "(struct ", "*task", ");\n",
				       "\tif (r < 0)\n", "migrate_", "0x7f3a", " = ", "{\n" };

	for (size_t i = 0; i < len;) {
		const char *w = words[bench_next() % 11];

		for (size_t j = 0; w[j] && i < len; j++)
			p[i++] = (uint8_t)w[j];
	}
}

static void bench_fill(uint8_t *mem, size_t nr_pages, const char *kind)
{
	for (size_t i = 0; i < nr_pages; i++) {
		uint8_t *p = mem + i * PG;
		int k = !strcmp(kind, "zero") ? 0 : !strcmp(kind, "random") ? 1
						 : !strcmp(kind, "text")   ? 2
									   : (int)(bench_next() % 3);

		if (k == 0)
			memset(p, 0, PG);
		else if (k == 1)
			for (size_t j = 0; j < PG; j += 8)
				*(uint64_t *)(p + j) = bench_next();
		else
			bench_fill_text(p, PG);
	}
}

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_sink_cb(void *arg, uint64_t vaddr, const void *pages, size_t nr_pages)
{
	uint8_t *dst = (uint8_t *)arg + vaddr;

	if (pages)
		memcpy(dst, pages, nr_pages * PG);
	else
		memset(dst, 0, nr_pages * PG);
	return 0;
}

static int bench_one(const uint8_t *mem, uint8_t *out, size_t nr_pages, const char *kind,
		     unsigned int chunk)
{
	struct codec_opts opts;
	struct codec_batch b;
	double t0, enc = 0, dec = 0;
	size_t wire = 0;

	codec_opts_default(&opts);
	opts.chunk_pages = chunk;
	codec_batch_init(&b);
	for (size_t i = 0; i < nr_pages; i += BENCH_BATCH_PAGES) {
		size_t n = nr_pages - i < BENCH_BATCH_PAGES ? nr_pages - i : BENCH_BATCH_PAGES;

		codec_batch_reset(&b);
		t0 = bench_now();
		if (codec_batch_add(&b, i * PG, mem + i * PG, n, &opts) < 0)
			return fprintf(stderr, "bench_codec: encoding failed\n"), -1;
		enc += bench_now() - t0;
		wire += b.data_len;
		t0 = bench_now();
		if (codec_batch_decode(b.runs, b.nr_runs, b.data, b.data_len, bench_sink_cb, out) < 0)
			return fprintf(stderr, "bench_codec: decoding failed\n"), -1;
		dec += bench_now() - t0;
	}
	codec_batch_fini(&b);
	if (memcmp(mem, out, nr_pages * PG))
		return fprintf(stderr, "bench_codec: %s pages did not round trip\n", kind), -1;
	printf("%-7s %6u %10.0f %10.0f %8.3f\n", kind, chunk, nr_pages * PG / enc / 1e6,
	       nr_pages * PG / dec / 1e6, (double)wire / (double)(nr_pages * PG));
	return 0;
}

int main(int argc, char **argv)
{
	static const char *kinds[] = { "zero", "random", "text", "mixed" };
	static const unsigned int chunks[] = { 1, 4, 16, 64, 256 };
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
	size_t nr_pages = mib * 1024 * 1024 / PG;
	uint8_t *mem = malloc(nr_pages * PG), *out = malloc(nr_pages * PG);

	if (!nr_pages || !mem || !out)
		return fprintf(stderr, "bench_codec: cannot allocate %zu MiB twice\n", mib), 1;
	/* Touch the output once so page faults are not timed. */
	memset(out, 1, nr_pages * PG);
	printf("# %zu MiB per kind, %u pages per batch; MB/s of page contents; ratio = wire/raw\n",
	       mib, BENCH_BATCH_PAGES);
	printf("%-7s %6s %10s %10s %8s\n", "kind", "chunk", "enc MB/s", "dec MB/s", "ratio");
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		bench_fill(mem, nr_pages, kinds[k]);
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
			if (bench_one(mem, out, nr_pages, kinds[k], chunks[c]) < 0)
				return 1;
	}
	free(mem);
	free(out);
	return 0;
}
