/*
 * agent_pages: what goes on the wire for memory: Layout, the pages of a
 * round (through the dump engine's page walker, so the wire carries exactly
 * what an image would), and Residency.
 *
 * Pages are encoded into one codec batch and sent as a PageBatch frame when
 * it holds AGENT_BATCH_BYTES of data (or nearly WIRE_MAX_RUNS runs): large
 * frames, one writev each, no per-page system call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "agent_internal.h"
#include "err.h"
#include "log.h"
#include "wire.h"

#define AGENT_BATCH_BYTES (8U << 20)

int agent_pages_flush(struct agent *a)
{
	int r;

	if (!a->batch.nr_runs)
		return 0;
	r = agent_conn_send_pages(&a->conn, (uint32_t)a->cur_pid, a->round, &a->batch);
	if (r < 0)
		return r;
	a->cur.pages += a->batch.nr_pages;
	a->cur.zero_pages += a->batch.zero_pages;
	codec_batch_reset(&a->batch);
	if (a->opts->progress_cb && !a->frozen) {
		struct agent_progress p = {
			.round = a->round,
			.pages = a->cur.pages,
			.bytes = a->conn.bytes_sent - a->round_bytes0,
			.total_pages = a->cur.dirty_pages,
		};

		a->opts->progress_cb(a->opts->progress_arg, &p);
	}
	return 0;
}

static int agent_pages_cb(void *arg, uint64_t vaddr, const void *pages, size_t nr)
{
	struct agent *a = arg;
	int r;

	if (agent_cancelled())
		return err_setf(-EINTR, "interrupted");
	r = codec_batch_add(&a->batch, vaddr, pages, nr, NULL);
	if (r < 0)
		return r;
	/* A walker run is at most 4096 pages: that many more runs must fit. */
	if (a->batch.data_len >= AGENT_BATCH_BYTES || a->batch.nr_runs + 4096 >= WIRE_MAX_RUNS)
		return agent_pages_flush(a);
	return 0;
}

int agent_pages_send(struct agent *a, VmaEntry *const *vmas, size_t n,
		     const struct track_ranges *only)
{
	const struct dump_mm_sink sink = {
		.pages_cb = agent_pages_cb,
		.arg = a,
		.keep_zero = true,
		.may_vanish = !a->frozen,
	};
	int r;

	r = dump_mm_walk(a->cur_pid, vmas, n, only, &sink, NULL);
	if (r == 0)
		r = agent_pages_flush(a);
	return r;
}

int agent_layout_send(struct agent *a, VmaEntry **vmas, size_t n)
{
	WireLayout l = WIRE_LAYOUT__INIT;

	l.pid = (uint32_t)a->cur_pid;
	l.vmas = vmas;
	l.n_vmas = n;
	return agent_conn_send(&a->conn, WIRE_LAYOUT, &l.base);
}

/* A failure that a process changing its mappings while we read them causes. */
bool agent_raced(int r)
{
	return r == -ENOENT || r == -EINVAL || r == -EAGAIN;
}

/* Reads the layout of the running process. maps, smaps and map_files are
 * separate reads: a process that maps and unmaps all the time (test/zoo/churn)
 * changes between them, which looks like a vanished file or an smaps range
 * missing from maps: read again. */
int agent_layout_read(struct agent *a, bool tracked, VmaEntry ***ret, size_t *ret_n)
{
	int r = 0;

	for (int tries = 0; tries < 10; tries++) {
		r = dump_mm_layout(a->cur_pid, tracked, ret, ret_n);
		if (!agent_raced(r))
			break;
		log_debug("layout of pid %d changed while read (%s), again", a->cur_pid,
			  err_detail());
	}
	return r;
}

struct agent_residency {
	struct track_ranges *res;
	struct track_ranges *written; /* NULL: not wanted */
};

static int agent_residency_cb(void *arg, uint64_t start, uint64_t end, bool written)
{
	struct agent_residency *ar = arg;
	const struct track_ranges *res = ar->res;
	const struct track_range *last = res->count ? &res->ranges[res->count - 1] : NULL;
	int r;

	/* The walker visits VMAs in address order; within a VMA the ranges come sorted. */
	if (last && start < last->end)
		return err_setf(-EINVAL, "residency range %lx below %lx", (unsigned long)start,
				(unsigned long)last->end);
	r = track_ranges_add(ar->res, start, end);
	if (r == 0 && written && ar->written)
		r = track_ranges_add(ar->written, start, end);
	return r;
}

int agent_residency_build(pid_t pid, VmaEntry *const *vmas, size_t n, struct track_ranges *ret,
			  struct track_ranges *ret_written)
{
	struct agent_residency ar = { .res = ret, .written = ret_written };
	const struct dump_mm_sink sink = {
		.range_cb = agent_residency_cb,
		.arg = &ar,
		.want_written = ret_written != NULL,
	};

	return dump_mm_walk(pid, vmas, n, NULL, &sink, NULL);
}

int agent_residency_send(struct agent *a, const struct track_ranges *res)
{
	WireResidency m = WIRE_RESIDENCY__INIT;
	WireRange *ranges = NULL, **ptrs = NULL;
	int r;

	if (res->count) {
		ranges = calloc(res->count, sizeof(*ranges));
		ptrs = calloc(res->count, sizeof(*ptrs));
		if (!ranges || !ptrs) {
			free(ranges);
			free(ptrs);
			return err_setf(-ENOMEM, "out of memory for the residency list");
		}
	}
	for (size_t i = 0; i < res->count; i++) {
		wire_range__init(&ranges[i]);
		ranges[i].start = res->ranges[i].start;
		ranges[i].end = res->ranges[i].end;
		ptrs[i] = &ranges[i];
	}
	m.pid = (uint32_t)a->cur_pid;
	m.resident = ptrs;
	m.n_resident = res->count;
	r = agent_conn_send(&a->conn, WIRE_RESIDENCY, &m.base);
	free(ranges);
	free(ptrs);
	return r;
}

/* VMAs whose pages no tracker watches (shared, read-only) but a dump holds:
 * resent whole while frozen. */
int agent_untracked_ranges(VmaEntry *const *vmas, size_t n, struct track_ranges *ret)
{
	int r;

	for (size_t i = 0; i < n; i++) {
		const VmaEntry *v = vmas[i];
		bool tracked = !(v->flags & MAP_SHARED) && (v->prot & PROT_WRITE);

		if (tracked || dump_mm_policy(v->kind) == DUMP_PAGES_NONE)
			continue;
		r = track_ranges_add(ret, v->start, v->end);
		if (r < 0)
			return r;
	}
	return 0;
}
