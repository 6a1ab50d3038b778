/*
 * precopy: convergence rule, range union and JSON strings (see precopy.h).
 */
#include <errno.h>
#include <stdio.h>

#include "precopy.h"
#include "track.h"

const char *precopy_reason_name(enum precopy_reason reason)
{
	switch (reason) {
	case PRECOPY_REASON_FITS:
		return "fits";
	case PRECOPY_REASON_STALLED:
		return "stalled";
	case PRECOPY_REASON_ROUND_LIMIT:
		return "round-limit";
	default:
		return "";
	}
}

static double precopy_pps(uint64_t pages, uint64_t ns)
{
	return ns ? (double)pages * 1e9 / (double)ns : 0;
}

double precopy_rate_pps(const struct precopy_round *history, size_t n)
{
	uint64_t pages = 0, ns = 0;

	/* The latest big round is the best guess for the next one: the first
	 * pass over cold memory is much slower than later ones. */
	for (size_t i = n; i-- > 0;)
		if (history[i].pages >= PRECOPY_MIN_RATE_PAGES && history[i].duration_ns)
			return precopy_pps(history[i].pages, history[i].duration_ns);
	for (size_t i = 0; i < n; i++) {
		pages += history[i].pages;
		ns += history[i].duration_ns;
	}
	return precopy_pps(pages, ns);
}

/* Window to send dirty_pages now, or 0 when no round measured a rate yet. */
static uint64_t precopy_predict_ns(const struct precopy_round *history, size_t n,
				   uint64_t dirty_pages, uint64_t fixed_ns)
{
	double pps = precopy_rate_pps(history, n);

	if (!dirty_pages)
		return fixed_ns;
	if (pps <= 0)
		return 0;
	return fixed_ns + (uint64_t)((double)dirty_pages * 1e9 / pps);
}

/* The dirty sets of rounds 1..n-1 then the new one did not shrink below
 * PRECOPY_STALL_PCT of their predecessor PRECOPY_STALL_ROUNDS times running.
 * Round 0 is everything a dump holds, not a dirty set: left out. */
static bool precopy_stalled(const struct precopy_round *history, size_t n, uint64_t dirty_pages)
{
	uint64_t next = dirty_pages;
	unsigned int flat = 0;

	for (size_t i = n; i-- > 1 && flat < PRECOPY_STALL_ROUNDS;) {
		uint64_t prev = history[i].dirty_pages;

		if (next * 100 < prev * PRECOPY_STALL_PCT)
			return false;
		flat++;
		next = prev;
	}
	return flat >= PRECOPY_STALL_ROUNDS;
}

int precopy_decide(const struct precopy_round *history, size_t n, uint64_t dirty_pages,
		   const struct precopy_limits *lim, struct precopy_verdict *ret)
{
	struct precopy_verdict v = { .decision = PRECOPY_FREEZE };

	if ((!history && n) || !lim || !ret)
		return -EINVAL;
	v.predicted_ns = precopy_predict_ns(history, n, dirty_pages, lim->fixed_cost_ns);
	if (n && v.predicted_ns && v.predicted_ns <= lim->max_downtime_ns)
		v.reason = PRECOPY_REASON_FITS;
	else if (n >= lim->max_rounds)
		v.reason = PRECOPY_REASON_ROUND_LIMIT;
	else if (precopy_stalled(history, n, dirty_pages))
		v.reason = PRECOPY_REASON_STALLED;
	else
		v.decision = PRECOPY_CONTINUE;
	*ret = v;
	return 0;
}

uint64_t precopy_ranges_common_pages(const struct track_ranges *a, const struct track_ranges *b)
{
	size_t i = 0, j = 0, na = a ? a->count : 0, nb = b ? b->count : 0;
	uint64_t bytes = 0;

	while (i < na && j < nb) {
		const struct track_range *x = &a->ranges[i], *y = &b->ranges[j];
		uint64_t start = x->start > y->start ? x->start : y->start;
		uint64_t end = x->end < y->end ? x->end : y->end;

		if (end > start)
			bytes += end - start;
		/* the range that ends first cannot meet anything further */
		if (x->end <= y->end)
			i++;
		else
			j++;
	}
	return bytes / 4096;
}

int precopy_ranges_union(const struct track_ranges *a, const struct track_ranges *b,
			 struct track_ranges *ret)
{
	size_t i = 0, j = 0, na = a ? a->count : 0, nb = b ? b->count : 0;
	struct track_range cur = { 0, 0 };
	int r;

	while (i < na || j < nb) {
		const struct track_range *next;

		if (j >= nb || (i < na && a->ranges[i].start <= b->ranges[j].start))
			next = &a->ranges[i++];
		else
			next = &b->ranges[j++];
		if (cur.end > cur.start && next->start <= cur.end) {
			if (next->end > cur.end)
				cur.end = next->end;
			continue;
		}
		if (cur.end > cur.start) {
			r = track_ranges_add(ret, cur.start, cur.end);
			if (r < 0)
				return r;
		}
		cur = *next;
	}
	if (cur.end > cur.start)
		return track_ranges_add(ret, cur.start, cur.end);
	return 0;
}

void precopy_json_string(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}
