/*
 * test_precopy: the convergence rule as a table of histories, the union of
 * range lists, and JSON strings of the report.
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

#include "precopy.h"
#include "track.h"

#define MS 1000000ULL

struct decide_case {
	const char *name;
	struct precopy_round history[8];
	size_t n;
	uint64_t dirty;
	unsigned int max_rounds;
	enum precopy_decision decision;
	enum precopy_reason reason;
};

/* 1 GB/s of pages: 262144 pages per second, i.e. 262 pages per ms. */
#define GBPS_ROUND(np) { .dirty_pages = (np), .pages = (np), .bytes = (np) * 4096ULL, \
			 .duration_ns = (np) * 1000000000ULL / 262144ULL }

static const struct decide_case decide_cases[] = {
	{ "stop-and-copy: no round allowed", { { 0 } }, 0, 1000, 0, PRECOPY_FREEZE,
	  PRECOPY_REASON_ROUND_LIMIT },
	{ "nothing measured yet, rounds left", { { 0 } }, 0, 1000, 30, PRECOPY_CONTINUE,
	  PRECOPY_REASON_NONE },
	{ "idle after round 0", { GBPS_ROUND(262144) }, 1, 0, 30, PRECOPY_FREEZE,
	  PRECOPY_REASON_FITS },
	{ "small dirty set fits (4 ms at 1 GB/s)", { GBPS_ROUND(262144) }, 1, 1024, 30,
	  PRECOPY_FREEZE, PRECOPY_REASON_FITS },
	{ "big dirty set does not fit (500 ms)", { GBPS_ROUND(262144) }, 1, 131072, 30,
	  PRECOPY_CONTINUE, PRECOPY_REASON_NONE },
	{ "shrinking sets go on", { GBPS_ROUND(262144), GBPS_ROUND(200000), GBPS_ROUND(150000) },
	  3, 110000, 30, PRECOPY_CONTINUE, PRECOPY_REASON_NONE },
	{ "flat for two rounds: stalled",
	  { GBPS_ROUND(262144), GBPS_ROUND(150000), GBPS_ROUND(140000) }, 3, 139000, 30,
	  PRECOPY_FREEZE, PRECOPY_REASON_STALLED },
	{ "flat once only: go on", { GBPS_ROUND(262144), GBPS_ROUND(200000), GBPS_ROUND(150000) },
	  3, 149000, 30, PRECOPY_CONTINUE, PRECOPY_REASON_NONE },
	{ "growing sets: stalled", { GBPS_ROUND(262144), GBPS_ROUND(100000), GBPS_ROUND(120000) },
	  3, 140000, 30, PRECOPY_FREEZE, PRECOPY_REASON_STALLED },
	{ "round limit", { GBPS_ROUND(262144), GBPS_ROUND(200000) }, 2, 150000, 2, PRECOPY_FREEZE,
	  PRECOPY_REASON_ROUND_LIMIT },
	{ "fits wins over the round limit", { GBPS_ROUND(262144), GBPS_ROUND(200000) }, 2, 10, 2,
	  PRECOPY_FREEZE, PRECOPY_REASON_FITS },
};

static void test_decide_table(void **state)
{
	struct precopy_limits lim = { .max_downtime_ns = 300 * MS, .fixed_cost_ns = 20 * MS };

	(void)state;
	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		const struct decide_case *c = &decide_cases[i];
		struct precopy_verdict v;

		lim.max_rounds = c->max_rounds;
		assert_int_equal(precopy_decide(c->history, c->n, c->dirty, &lim, &v), 0);
		if (v.decision != c->decision || v.reason != c->reason)
			fail_msg("case '%s': got %d/%s, want %d/%s", c->name, v.decision,
				 precopy_reason_name(v.reason), c->decision,
				 precopy_reason_name(c->reason));
	}
}

static void test_decide_prediction(void **state)
{
	struct precopy_round h[2] = { GBPS_ROUND(262144), { 10, 10, 40960, 50 * MS } };
	struct precopy_limits lim = { .max_downtime_ns = 300 * MS, .max_rounds = 30,
				      .fixed_cost_ns = 20 * MS };
	struct precopy_verdict v;

	(void)state;
	/* The small last round measures overheads: the rate comes from round 0,
	 * so 26214 pages take 100 ms, plus the fixed 20 ms. */
	assert_int_equal(precopy_decide(h, 2, 26214, &lim, &v), 0);
	assert_true(v.predicted_ns > 115 * MS && v.predicted_ns < 125 * MS);
	assert_int_equal(v.reason, PRECOPY_REASON_FITS);
	assert_int_equal(precopy_decide(NULL, 1, 0, &lim, &v), -EINVAL);
	assert_int_equal(precopy_decide(h, 1, 0, NULL, &v), -EINVAL);
}

static void ranges_set(struct track_ranges *r, const uint64_t (*pairs)[2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(track_ranges_add(r, pairs[i][0], pairs[i][1]), 0);
}

static void test_ranges_union(void **state)
{
	static const uint64_t a_pairs[][2] = { { 0x1000, 0x3000 }, { 0x8000, 0x9000 },
					       { 0x20000, 0x30000 } };
	static const uint64_t b_pairs[][2] = { { 0x2000, 0x5000 }, { 0x9000, 0xa000 },
					       { 0x21000, 0x22000 }, { 0x40000, 0x41000 } };
	static const uint64_t want[][2] = { { 0x1000, 0x5000 }, { 0x8000, 0xa000 },
					    { 0x20000, 0x30000 }, { 0x40000, 0x41000 } };
	struct track_ranges a = { 0 }, b = { 0 }, u = { 0 }, e = { 0 };

	(void)state;
	ranges_set(&a, a_pairs, 3);
	ranges_set(&b, b_pairs, 4);
	assert_int_equal(precopy_ranges_union(&a, &b, &u), 0);
	assert_int_equal(u.count, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(u.ranges[i].start, want[i][0]);
		assert_int_equal(u.ranges[i].end, want[i][1]);
	}
	track_ranges_free(&u);
	memset(&u, 0, sizeof(u));
	assert_int_equal(precopy_ranges_union(&e, &b, &u), 0);
	assert_int_equal(u.count, 4);
	track_ranges_free(&u);
	memset(&u, 0, sizeof(u));
	assert_int_equal(precopy_ranges_union(NULL, NULL, &u), 0);
	assert_int_equal(u.count, 0);
	track_ranges_free(&a);
	track_ranges_free(&b);
}

static void test_ranges_common_pages(void **state)
{
	static const uint64_t a_pairs[][2] = { { 0x1000, 0x3000 }, { 0x8000, 0x9000 },
					       { 0x20000, 0x30000 } };
	static const uint64_t b_pairs[][2] = { { 0x2000, 0x5000 }, { 0x9000, 0xa000 },
					       { 0x1f000, 0x22000 }, { 0x2f000, 0x41000 } };
	struct track_ranges a = { 0 }, b = { 0 };

	(void)state;
	ranges_set(&a, a_pairs, 3);
	ranges_set(&b, b_pairs, 4);
	/* 0x2000 (1 page) + none at 0x9000 (adjacent only) + 0x20000-0x22000 (2) + 0x2f000 (1) */
	assert_int_equal(precopy_ranges_common_pages(&a, &b), 4);
	assert_int_equal(precopy_ranges_common_pages(&b, &a), 4);
	assert_int_equal(precopy_ranges_common_pages(&a, &a), a.pages);
	assert_int_equal(precopy_ranges_common_pages(&a, NULL), 0);
	track_ranges_free(&a);
	track_ranges_free(&b);
}

static void test_json_string(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	precopy_json_string(f, "a\"b\\c\nd\te\x01 \xc3\xa9");
	fputc(' ', f);
	precopy_json_string(f, NULL);
	fclose(f);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\nd\\te\\u0001 \xc3\xa9\" null");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide_table),
		cmocka_unit_test(test_decide_prediction),
		cmocka_unit_test(test_ranges_union),
		cmocka_unit_test(test_ranges_common_pages),
		cmocka_unit_test(test_json_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
