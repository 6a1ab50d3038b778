/*
 * session_pages: the staged memory of a session: Start makes the blank process, each round's
 * Layout and PageBatches go straight into it, Residency drops what the source freed.
 *
 * Every run of a batch is checked against the layout the peer announced before a single page
 * is written. A hole (zero run) must leave the range reading zero: anonymous memory reads
 * zero unless we wrote it, so only the parts we wrote get zeros (written, kept as a range
 * set, may overstate: it never forgets a write); file-private pages read the file's content
 * otherwise, so they always get zeros.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dst_server.h"
#include "dst_session_internal.h"
#include "err.h"
#include "log.h"

/* Zeros written at most this many pages at a time (1 MiB, the codec's largest run). */
#define SESSION_ZERO_PAGES CODEC_MAX_CHUNK_PAGES

static const uint8_t session_zeros[SESSION_ZERO_PAGES * IMAGE_PAGE_SIZE];

/* ---- range set ---- */

size_t session_ranges_find(const struct session_ranges *set, uint64_t addr)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->r[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int session_ranges_add(struct session_ranges *set, uint64_t start, uint64_t end)
{
	size_t i, j;

	/* The first range that touches or follows start (adjacent ranges merge). */
	i = start ? session_ranges_find(set, start - 1) : 0;
	if (i < set->n && set->r[i].end < start)
		i++;
	j = i;
	while (j < set->n && set->r[j].start <= end) {
		if (set->r[j].start < start)
			start = set->r[j].start;
		if (set->r[j].end > end)
			end = set->r[j].end;
		j++;
	}
	if (j == i) {
		if (set->n == set->cap) {
			size_t cap = set->cap ? set->cap * 2 : 64;
			struct restore_range *r = realloc(set->r, cap * sizeof(*r));

			if (!r)
				return -ENOMEM;
			set->r = r;
			set->cap = cap;
		}
		memmove(&set->r[i + 1], &set->r[i], (set->n - i) * sizeof(*set->r));
		set->n++;
	} else if (j > i + 1) {
		memmove(&set->r[i + 1], &set->r[j], (set->n - j) * sizeof(*set->r));
		set->n -= j - i - 1;
	}
	set->r[i] = (struct restore_range){ start, end };
	return 0;
}

void session_ranges_fini(struct session_ranges *set)
{
	free(set->r);
	memset(set, 0, sizeof(*set));
}

/* ---- layout ---- */

/* The Layout's VMAs are sorted (wire_frame_unpack checked), [vsyscall] last. */
const VmaEntry *session_layout_find(const WireLayout *l, uint64_t addr)
{
	size_t lo = 0, hi = l ? l->n_vmas : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->vmas[mid]->end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (l && lo < l->n_vmas && l->vmas[lo]->start <= addr)
		return l->vmas[lo];
	return NULL;
}

int session_on_start(struct session *s, const WireStart *m)
{
	WireStartOk ok = WIRE_START_OK__INIT;
	uint64_t t0 = session_now_ns();
	int r;

	/* An image this build cannot restore is refused before a process is made for it. */
	r = image_inventory_check(m->inventory);
	if (r < 0)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_VERSION, r, "Start: %s",
				    err_detail());
	if (m->inventory->root_pid != m->pstree->pid)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				    "Start: inventory names pid %u, the process tree pid %u",
				    m->inventory->root_pid, m->pstree->pid);
	s->pid = m->pstree->pid;
	s->want_images = m->has_want_images && m->want_images;
	log_info("pid %u (%zu thread%s) is coming: creating its blank process%s", s->pid,
		 m->pstree->n_threads, m->pstree->n_threads == 1 ? "" : "s",
		 m->n_members ? " and those of its tree" : "");
	if (s->want_images && !s->opts->images_dir)
		log_warn("the source asks for an image directory, but this daemon runs without "
			 "--images-dir: none is written");
	/* The source dumped established connections only with --tcp-established: its agent
	 * asked, so the engine may restore them. */
	s->ropts.tcp_established = true;
	server_log_clear_error();
	if (m->n_members) {
		r = session_tree_start(s, m); /* the whole tree, each child in its parent */
		if (r < 0)
			return r;
	} else {
		r = restore_proc_create(m->pstree, &s->ropts, &s->proc);
		if (r < 0)
			return session_fail_restore(s, r, "cannot create the process");
	}
	ok.pid = s->pid;
	ok.has_create_ns = true;
	ok.create_ns = session_now_ns() - t0;
	return session_send(s, WIRE_START_OK, &ok.base);
}

int session_on_layout(struct session *s, WireLayout *m)
{
	struct restore_range *reset = NULL;
	uint64_t t0 = session_now_ns();
	int r = session_member_select(s, m->pid, "Layout");

	/* A tree's round holds a Layout per process: the round starts with the first. */
	if (s->state != SESSION_PAGES) {
		s->layout_at_ns = t0;
		s->round_apply_ns = 0;
		s->last_layout_ns = 0;
	}
	if (r == 0 && m->n_reset) {
		reset = calloc(m->n_reset, sizeof(*reset));
		if (!reset)
			r = session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -ENOMEM,
					 "out of memory for the layout");
	}
	for (size_t i = 0; r == 0 && i < m->n_reset; i++)
		reset[i] = (struct restore_range){ m->reset[i]->start, m->reset[i]->end };
	if (r == 0) {
		server_log_clear_error();
		r = restore_proc_set_layout(s->proc, m->vmas, m->n_vmas, reset, m->n_reset);
		if (r < 0)
			session_fail_restore(s, r, "cannot apply the layout");
	}
	free(reset);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&m->base, NULL);
		return r;
	}
	if (s->layout)
		protobuf_c_message_free_unpacked(&s->layout->base, NULL);
	s->layout = m;
	t0 = session_now_ns() - t0; /* what applying it took */
	s->last_layout_ns += t0;
	s->round_apply_ns += t0;
	return 0;
}

/* [start, end) lies in VMAs of the layout that hold pages, one after the other. */
static int session_check_run(struct session *s, uint64_t start, uint64_t end)
{
	uint64_t at = start;

	while (at < end) {
		const VmaEntry *v = session_layout_find(s->layout, at);

		if (!v || !image_vma_holds_pages(v))
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
					    "PageBatch: pages 0x%llx-0x%llx: 0x%llx is %s",
					    (unsigned long long)start, (unsigned long long)end,
					    (unsigned long long)at,
					    v ? "in a VMA that holds no pages"
					      : "outside the announced layout");
		at = v->end;
	}
	return 0;
}

static int session_write(struct session *s, uint64_t vaddr, const void *data, size_t nr)
{
	int r;

	server_log_clear_error();
	r = restore_proc_write_pages(s->proc, vaddr, data, nr);
	if (r < 0)
		return session_fail_restore(s, r, "cannot write pages");
	r = session_ranges_add(&s->written, vaddr, vaddr + nr * IMAGE_PAGE_SIZE);
	if (r < 0)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, r, "out of memory");
	return 0;
}

static int session_write_zeros(struct session *s, uint64_t start, uint64_t end)
{
	int r = 0;

	while (r == 0 && start < end) {
		uint64_t nr = (end - start) / IMAGE_PAGE_SIZE;

		if (nr > SESSION_ZERO_PAGES)
			nr = SESSION_ZERO_PAGES;
		r = session_write(s, start, session_zeros, nr);
		start += nr * IMAGE_PAGE_SIZE;
	}
	return r;
}

/* [start, end) inside one VMA v must read zero. */
static int session_zero_piece(struct session *s, const VmaEntry *v, uint64_t start, uint64_t end)
{
	size_t i;
	int r = 0;

	if (v->kind == VMA_KIND__VMA_FILE_PRIVATE)
		return session_write_zeros(s, start, end);
	/* Writing zeros only changes written's ranges inside themselves: i stays valid. */
	for (i = session_ranges_find(&s->written, start);
	     r == 0 && i < s->written.n && s->written.r[i].start < end; i++) {
		uint64_t a = s->written.r[i].start > start ? s->written.r[i].start : start;
		uint64_t b = s->written.r[i].end < end ? s->written.r[i].end : end;

		r = session_write_zeros(s, a, b);
	}
	return r;
}

static int session_page_cb(void *arg, uint64_t vaddr, const void *pages, size_t nr)
{
	struct session *s = arg;
	uint64_t end = vaddr + nr * IMAGE_PAGE_SIZE;
	int r = 0;

	if (pages)
		return session_write(s, vaddr, pages, nr);
	while (r == 0 && vaddr < end) {
		const VmaEntry *v = session_layout_find(s->layout, vaddr); /* checked: exists */
		uint64_t piece_end = v->end < end ? v->end : end;

		r = session_zero_piece(s, v, vaddr, piece_end);
		vaddr = piece_end;
	}
	return r;
}

int session_on_pages(struct session *s, const struct wire_frame *f)
{
	uint64_t t0 = session_now_ns();
	struct wire_pages p;
	int r;

	r = wire_page_batch_parse(f, &p);
	if (r < 0)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, r,
				    "malformed frame: %s", err_detail());
	r = session_member_select(s, p.pid, "PageBatch");
	if (r == 0 && p.round != s->round)
		r = session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				 "PageBatch of round %u during round %u", p.round, s->round);
	for (size_t i = 0; r == 0 && i < p.nr_runs; i++)
		r = session_check_run(s, p.runs[i].vaddr,
				      p.runs[i].vaddr +
					      (uint64_t)p.runs[i].nr_pages * IMAGE_PAGE_SIZE);
	if (r == 0) {
		s->fail.message[0] = '\0';
		r = codec_batch_decode(p.runs, p.nr_runs, p.data, p.data_len, session_page_cb, s);
		if (r < 0 && !s->fail.message[0])
			session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, r, "PageBatch: %s",
				     err_detail());
	}
	wire_pages_fini(&p);
	s->round_apply_ns += session_now_ns() - t0;
	return r;
}

int session_on_round_end(struct session *s, const WireRoundEnd *m)
{
	WireRoundAck ack = WIRE_ROUND_ACK__INIT;
	bool final = m->has_final && m->final;

	if (m->round != s->round)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				    "RoundEnd of round %u during round %u", m->round, s->round);
	log_info("round %u%s applied: %llu pages in %.1f ms", m->round, final ? " (final)" : "",
		 (unsigned long long)m->pages_sent, s->round_apply_ns / 1e6);
	if (m->round == 0)
		session_fault_point(s, "after-round0");
	if (final) {
		session_fault_point(s, "final-round");
		/* The layout's time goes with the residency's in Ready (layout_ns). */
		s->final_at_ns = s->layout_at_ns;
		s->final_layout_ns = s->last_layout_ns;
		s->final_pages_ns = s->round_apply_ns - s->last_layout_ns;
		return 0;
	}
	ack.round = s->round++;
	ack.has_apply_ns = true;
	ack.apply_ns = s->round_apply_ns;
	return session_send(s, WIRE_ROUND_ACK, &ack.base);
}

int session_on_residency(struct session *s, WireResidency *m)
{
	struct restore_range *res = NULL;
	uint64_t t0 = session_now_ns();
	int r = session_member_select(s, m->pid, "Residency");

	if (r == 0 && m->n_resident) {
		res = calloc(m->n_resident, sizeof(*res));
		if (!res)
			r = session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -ENOMEM,
					 "out of memory for the residency");
	}
	for (size_t i = 0; r == 0 && i < m->n_resident; i++)
		res[i] = (struct restore_range){ m->resident[i]->start, m->resident[i]->end };
	if (r == 0) {
		server_log_clear_error();
		r = restore_proc_keep_only(s->proc, res, m->n_resident);
		if (r < 0)
			session_fail_restore(s, r, "cannot drop the pages the source freed");
	}
	free(res);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&m->base, NULL);
		return r;
	}
	if (s->residency) /* a second one for this process: the last one counts */
		protobuf_c_message_free_unpacked(&s->residency->base, NULL);
	s->residency = m;
	s->final_layout_ns += session_now_ns() - t0;
	return 0;
}

void session_pages_fini(struct session *s)
{
	if (s->layout)
		protobuf_c_message_free_unpacked(&s->layout->base, NULL);
	if (s->residency)
		protobuf_c_message_free_unpacked(&s->residency->base, NULL);
	s->layout = NULL;
	s->residency = NULL;
	session_ranges_fini(&s->written);
}
