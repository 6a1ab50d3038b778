/*
 * precopy: the pure parts of the pre-copy loop of `migrate --to` (agent.c
 * drives them): when to stop iterating, range arithmetic, and JSON strings
 * for the report. Nothing here touches a process, a socket or the clock, so
 * all of it is unit-tested (test/unit/test_precopy.c).
 *
 *	struct precopy_limits lim = { max_downtime_ns, max_rounds, fixed_cost_ns };
 *	round 0 sent; loop {
 *		collect the dirty set (D pages);
 *		precopy_decide(history, n, D, &lim, &v);
 *		v.decision == PRECOPY_FREEZE: freeze, send D and the last dirty pages
 *		else send D while the process runs, append the round to history
 *	}
 */
#ifndef MIGRATE_PRECOPY_H
#define MIGRATE_PRECOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PRECOPY_WUR __attribute__((warn_unused_result))

/* A dirty set "stopped shrinking" when it is at least this share (percent) of
 * the previous one, PRECOPY_STALL_ROUNDS times in a row. */
#define PRECOPY_STALL_PCT 90U
#define PRECOPY_STALL_ROUNDS 2U
/* A round that sent fewer pages than this measures overheads, not bandwidth. */
#define PRECOPY_MIN_RATE_PAGES 1024U

/* One pre-copy round sent while the process ran. */
struct precopy_round {
	uint64_t dirty_pages; /* round 0: pages a dump holds; k > 0: the collected dirty set */
	uint64_t pages;	      /* pages sent (holes included) */
	uint64_t bytes;	      /* bytes on the wire (frame headers and page data) */
	uint64_t duration_ns; /* from the collect to the destination's RoundAck */
};

struct precopy_limits {
	uint64_t max_downtime_ns; /* target for the freeze window */
	unsigned int max_rounds;  /* rounds sent while running; 0: stop-and-copy */
	uint64_t fixed_cost_ns;	  /* estimate of the window's parts that are not pages */
};

enum precopy_decision {
	PRECOPY_CONTINUE,
	PRECOPY_FREEZE,
};

enum precopy_reason {
	PRECOPY_REASON_NONE,	    /* CONTINUE */
	PRECOPY_REASON_FITS,	    /* the predicted window fits max_downtime */
	PRECOPY_REASON_STALLED,	    /* the dirty set stopped shrinking */
	PRECOPY_REASON_ROUND_LIMIT, /* max_rounds reached */
};

struct precopy_verdict {
	enum precopy_decision decision;
	enum precopy_reason reason;
	uint64_t predicted_ns; /* window if frozen now; 0 when nothing was measured yet */
};

/* "fits", "stalled", "round-limit", "" for NONE. */
const char *precopy_reason_name(enum precopy_reason reason);

/*
 * Decides after a collect whether to freeze now. history[0..n) are the rounds
 * sent so far (history[0] is round 0); dirty_pages is the set just collected,
 * which either becomes round n or goes into the freeze window. The predicted
 * window sends dirty_pages at the measured rate (pages per second of the
 * latest round that sent at least PRECOPY_MIN_RATE_PAGES, else of all rounds)
 * and the measured bytes per page, plus fixed_cost_ns. -EINVAL for NULL args.
 */
int precopy_decide(const struct precopy_round *history, size_t n, uint64_t dirty_pages,
		   const struct precopy_limits *lim, struct precopy_verdict *ret) PRECOPY_WUR;

/* Pages per second of history[0..n) as precopy_decide measures it; 0 when unknown. */
double precopy_rate_pps(const struct precopy_round *history, size_t n);

struct track_ranges;

/* *ret (zero-initialised) = the union of two sorted, disjoint range lists,
 * sorted and merged. -ENOMEM (ret then holds a partial list: free it). */
int precopy_ranges_union(const struct track_ranges *a, const struct track_ranges *b,
			 struct track_ranges *ret) PRECOPY_WUR;

/* Pages in both a and b (each sorted and disjoint; NULL is empty). */
uint64_t precopy_ranges_common_pages(const struct track_ranges *a, const struct track_ranges *b);

/* Writes s as a JSON string, quotes included ("\n" -> "\\n", control
 * characters as \u00XX, other bytes as they are). NULL writes null. */
void precopy_json_string(FILE *f, const char *s);

#endif
