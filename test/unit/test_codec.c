/*
 * test_codec: page batches of zero, random, text-like and mixed pages round
 * trip exactly; hostile runs and corrupt LZ4 blocks are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "err.h"

#define PG CODEC_PAGE_SIZE
#define BASE 0x7f0000000000ULL

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rng();
}

static void fill_text(uint8_t *p, size_t len)
{
	static const char *words[] = { "migrate ", "process ", "page ", "the ", "dirty ",
				       "round ", "freeze\n", "window " };

	for (size_t i = 0; i < len;) {
		const char *w = words[rng() % 8];

		for (size_t j = 0; w[j] && i < len; j++)
			p[i++] = (uint8_t)w[j];
	}
}

/* Receiver: writes what it gets into an image of the address range. */
struct sink {
	uint8_t *mem;
	size_t nr_pages;
	size_t calls;
};

static int sink_cb(void *arg, uint64_t vaddr, const void *pages, size_t nr_pages)
{
	struct sink *s = arg;
	size_t first = (vaddr - BASE) / PG;

	assert_true(vaddr >= BASE && first + nr_pages <= s->nr_pages);
	if (pages)
		memcpy(s->mem + first * PG, pages, nr_pages * PG);
	else
		memset(s->mem + first * PG, 0, nr_pages * PG);
	s->calls++;
	return 0;
}

static void round_trip(const uint8_t *mem, size_t nr_pages, const struct codec_opts *opts,
		       struct codec_batch *b)
{
	struct sink s = { malloc(nr_pages * PG), nr_pages, 0 };

	assert_non_null(s.mem);
	memset(s.mem, 0xa5, nr_pages * PG); /* stale data: holes must clear it */
	codec_batch_init(b);
	assert_int_equal(codec_batch_add(b, BASE, mem, nr_pages, opts), 0);
	assert_int_equal(b->nr_pages, nr_pages);
	assert_int_equal(codec_batch_decode(b->runs, b->nr_runs, b->data, b->data_len, sink_cb,
					    &s), 0);
	assert_int_equal(s.calls, b->nr_runs);
	assert_memory_equal(s.mem, mem, nr_pages * PG);
	free(s.mem);
}

static void test_zero_pages(void **state)
{
	size_t n = 300;
	uint8_t *mem = calloc(n, PG);
	struct codec_batch b;

	round_trip(mem, n, NULL, &b);
	assert_int_equal(b.nr_runs, 1); /* one hole */
	assert_int_equal(b.runs[0].encoding, CODEC_ZERO);
	assert_int_equal(b.data_len, 0);
	assert_int_equal(b.zero_pages, n);
	/* A second adjacent hole extends the first. */
	assert_int_equal(codec_batch_add(&b, BASE + n * PG, mem, 2, NULL), 0);
	assert_int_equal(b.nr_runs, 1);
	assert_int_equal(b.runs[0].nr_pages, n + 2);
	codec_batch_fini(&b);
	free(mem);
}

static void test_random_pages(void **state)
{
	size_t n = 40;
	uint8_t *mem = malloc(n * PG);
	struct codec_batch b;

	fill_random(mem, n * PG);
	round_trip(mem, n, NULL, &b);
	for (size_t i = 0; i < b.nr_runs; i++)
		assert_int_equal(b.runs[i].encoding, CODEC_RAW);
	assert_int_equal(b.raw_pages, n);
	assert_int_equal(b.data_len, n * PG);
	codec_batch_fini(&b);
	free(mem);
}

static void test_text_pages(void **state)
{
	size_t n = 40;
	uint8_t *mem = malloc(n * PG);
	struct codec_batch b;

	fill_text(mem, n * PG);
	round_trip(mem, n, NULL, &b);
	for (size_t i = 0; i < b.nr_runs; i++)
		assert_int_equal(b.runs[i].encoding, CODEC_LZ4);
	assert_true(b.data_len < n * PG / 2);
	codec_batch_fini(&b);
	free(mem);
}

static void test_mixed_pages(void **state)
{
	size_t n = 600;
	uint8_t *mem = calloc(n, PG);
	struct codec_opts opts[3];
	struct codec_batch b;

	/* Pattern per page: zero, random, text, with one byte set in a zero page. */
	for (size_t i = 0; i < n; i++) {
		switch (rng() % 4) {
		case 0:
			break;
		case 1:
			fill_random(mem + i * PG, PG);
			break;
		case 2:
			fill_text(mem + i * PG, PG);
			break;
		case 3:
			mem[i * PG + rng() % PG] = 1;
			break;
		}
	}
	codec_opts_default(&opts[0]);
	opts[1] = opts[0];
	opts[1].chunk_pages = 1;
	opts[2] = opts[0];
	opts[2].chunk_pages = CODEC_MAX_CHUNK_PAGES;
	for (int i = 0; i < 3; i++) {
		round_trip(mem, n, &opts[i], &b);
		assert_int_equal(codec_runs_check(b.runs, b.nr_runs, b.data_len), 0);
		codec_batch_fini(&b);
	}
	/* Runs of the same batch at several addresses, then reset and reuse. */
	codec_batch_init(&b);
	assert_int_equal(codec_batch_add(&b, BASE, mem, 10, NULL), 0);
	assert_int_equal(codec_batch_add(&b, BASE + 100 * PG, mem + 100 * PG, 10, NULL), 0);
	assert_int_equal(codec_runs_check(b.runs, b.nr_runs, b.data_len), 0);
	codec_batch_reset(&b);
	assert_int_equal(b.nr_runs, 0);
	assert_int_equal(codec_batch_add(&b, BASE, mem, n, NULL), 0);
	codec_batch_fini(&b);
	free(mem);
}

static void test_bad_add(void **state)
{
	uint8_t page[PG] = { 0 };
	struct codec_opts o;
	struct codec_batch b;

	codec_batch_init(&b);
	assert_int_equal(codec_batch_add(&b, BASE + 1, page, 1, NULL), -EINVAL);
	assert_int_equal(codec_batch_add(&b, CODEC_VADDR_LIMIT - PG, page, 2, NULL), -EINVAL);
	codec_opts_default(&o);
	o.chunk_pages = 0;
	assert_int_equal(codec_batch_add(&b, BASE, page, 1, &o), -EINVAL);
	assert_int_equal(b.nr_runs, 0);
	codec_batch_fini(&b);
}

static void expect_bad_runs(const struct codec_run *run, size_t data_len, const char *detail)
{
	assert_int_equal(codec_runs_check(run, 1, data_len), -EBADMSG);
	assert_non_null(strstr(err_detail(), detail));
}

static void test_hostile_runs(void **state)
{
	struct codec_run r;

	r = (struct codec_run){ BASE, 1, CODEC_RAW, PG };
	assert_int_equal(codec_runs_check(&r, 1, PG), 0);
	expect_bad_runs(&r, PG - 1, "declare");
	r = (struct codec_run){ BASE, 1, CODEC_RAW, PG - 1 };
	expect_bad_runs(&r, PG - 1, "cannot take");
	r = (struct codec_run){ BASE, 0, CODEC_RAW, 0 };
	expect_bad_runs(&r, 0, "not a page-aligned");
	r = (struct codec_run){ BASE + 12, 1, CODEC_RAW, PG };
	expect_bad_runs(&r, PG, "not a page-aligned");
	r = (struct codec_run){ CODEC_VADDR_LIMIT - PG, 2, CODEC_ZERO, 0 };
	expect_bad_runs(&r, 0, "not a page-aligned");
	r = (struct codec_run){ BASE, 1, CODEC_ZERO, 5 };
	expect_bad_runs(&r, 5, "cannot take");
	r = (struct codec_run){ BASE, CODEC_MAX_ZERO_PAGES + 1, CODEC_ZERO, 0 };
	expect_bad_runs(&r, 0, "cannot take");
	r = (struct codec_run){ BASE, CODEC_MAX_CHUNK_PAGES + 1, CODEC_LZ4, 100 };
	expect_bad_runs(&r, 100, "cannot take");
	r = (struct codec_run){ BASE, 1, CODEC_LZ4, PG };
	expect_bad_runs(&r, PG, "cannot take");
	r = (struct codec_run){ BASE, 1, CODEC_LZ4, 0 };
	expect_bad_runs(&r, 0, "cannot take");
	r = (struct codec_run){ BASE, 1, (enum codec_encoding)7, 0 };
	expect_bad_runs(&r, 0, "unknown encoding");
}

static void test_hostile_lz4(void **state)
{
	uint8_t text[4 * PG], out[4 * PG];
	struct codec_batch b;
	struct codec_run r;
	uint8_t *data;

	fill_text(text, sizeof(text));
	codec_batch_init(&b);
	assert_int_equal(codec_batch_add(&b, BASE, text, 4, NULL), 0);
	assert_int_equal(b.nr_runs, 1);
	assert_int_equal(b.runs[0].encoding, CODEC_LZ4);
	data = malloc(b.data_len);
	/* Declared one page more than the block holds: must not decode. */
	r = b.runs[0];
	r.nr_pages = 3;
	assert_int_equal(codec_decode_run(&r, b.data, out, 3 * PG), -EBADMSG);
	/* Wrong destination size. */
	assert_int_equal(codec_decode_run(&b.runs[0], b.data, out, 3 * PG), -EINVAL);
	/* Truncated block. */
	r = b.runs[0];
	r.encoded_size -= 10;
	assert_int_equal(codec_decode_run(&r, b.data, out, sizeof(out)), -EBADMSG);
	/* Random corruption: an error or, rarely, other bytes, never a crash. */
	for (int i = 0; i < 2000; i++) {
		memcpy(data, b.data, b.data_len);
		for (int k = 0; k < 1 + i % 4; k++)
			data[rng() % b.data_len] = (uint8_t)rng();
		int r = codec_decode_run(&b.runs[0], data, out, sizeof(out));

		assert_true(r == 0 || r == -EBADMSG);
	}
	/* Pure garbage. */
	fill_random(data, b.data_len);
	assert_int_equal(codec_decode_run(&b.runs[0], data, out, sizeof(out)), -EBADMSG);
	free(data);
	codec_batch_fini(&b);
}

static int stop_cb(void *arg, uint64_t vaddr, const void *pages, size_t nr_pages)
{
	return -ECANCELED;
}

static void test_decode_cb_error(void **state)
{
	uint8_t page[PG] = { 1 };
	struct codec_batch b;

	codec_batch_init(&b);
	assert_int_equal(codec_batch_add(&b, BASE, page, 1, NULL), 0);
	assert_int_equal(codec_batch_decode(b.runs, b.nr_runs, b.data, b.data_len, stop_cb, NULL),
			 -ECANCELED);
	codec_batch_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_pages),   cmocka_unit_test(test_random_pages),
		cmocka_unit_test(test_text_pages),   cmocka_unit_test(test_mixed_pages),
		cmocka_unit_test(test_bad_add),	     cmocka_unit_test(test_hostile_runs),
		cmocka_unit_test(test_hostile_lz4),  cmocka_unit_test(test_decode_cb_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
