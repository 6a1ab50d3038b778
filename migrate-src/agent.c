/*
 * agent: `migrate --to` from the checks to the verdict (see agent.h).
 *
 * Undo, by phase:
 *	before the tracker:   nothing touched; Abort to the peer
 *	tracker running:      track_stop (closing our uffd unregisters every range)
 *	network locked:       netlock_release (agent_net.c)
 *	frozen:               dump_resume (threads detached, registers as they were,
 *	                      sockets out of repair mode: after the unlock)
 *	addresses released:   put back and announced (--move-ip)
 *	Go sent:              nothing can be undone: the source stays stopped, unless
 *	                      a Verdict{ok=false} says the process never ran there
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent_internal.h"
#include "err.h"
#include "log.h"
#include "puppet.h"
#include "wire.h"

/* The parts of the freeze window that are not pages (state, restore finish,
 * resume), for the convergence rule until measured: a few ms each here. */
#define AGENT_FIXED_COST_NS (20ULL * 1000000ULL)

/* Attempts at a tree that keeps changing during pre-copy (agent_run). */
#define AGENT_TREE_TRIES 3
#define AGENT_TREE_RETRY_PAUSE_US 200000

static volatile sig_atomic_t agent_signal;

static void agent_signal_handler(int sig)
{
	agent_signal = sig;
}

bool agent_cancelled(void)
{
	return agent_signal != 0;
}

static uint64_t agent_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* No SA_RESTART: a blocking read or write returns EINTR and the agent rolls back. */
static void agent_signals(struct sigaction *old_int, struct sigaction *old_term)
{
	struct sigaction sa = { .sa_handler = agent_signal_handler };

	sigemptyset(&sa.sa_mask);
	agent_signal = 0;
	sigaction(SIGINT, &sa, old_int);
	sigaction(SIGTERM, &sa, old_term);
	signal(SIGPIPE, SIG_IGN);
}

/* uffd-wp is the best (no freeze between rounds); say what soft-dirty would do. */
static void agent_tracker_why_uffd(struct agent_report *rep)
{
	int r;

	err_clear();
	r = track_probe(TRACK_SOFT_DIRTY);
	snprintf(rep->tracker_why, sizeof(rep->tracker_why),
		 "auto: uffd-wp works here and needs no freeze between rounds%s%s%s",
		 r < 0 ? " (soft-dirty does not: " : "; soft-dirty works too",
		 r < 0 ? (err_detail()[0] ? err_detail() : strerror(-r)) : "", r < 0 ? ")" : "");
}

static int agent_choose_tracker(struct agent *a)
{
	struct agent_report *rep = a->rep;
	enum track_kind kind = a->opts->tracker;
	int r;

	if (a->opts->max_rounds == 0) {
		rep->tracker = TRACK_NONE;
		snprintf(rep->tracker_why, sizeof(rep->tracker_why),
			 "--max-rounds 0: stop-and-copy, no pre-copy to track");
		return 0;
	}
	if (a->opts->tracker_auto) {
		err_clear();
		r = track_auto(&kind);
		if (r < 0)
			return r;
		if (kind == TRACK_UFFD_WP)
			agent_tracker_why_uffd(rep);
		else
			snprintf(rep->tracker_why, sizeof(rep->tracker_why),
				 "auto: better ones refused: %s", err_detail());
	} else {
		char why[512];

		r = track_probe(kind);
		/* err_setf writes where err_detail() points: copy it first. */
		snprintf(why, sizeof(why), "%s", err_detail());
		if (r < 0)
			return err_setf(r, "tracker %s does not work here: %s; try --tracker auto",
					track_kind_name(kind), why);
		snprintf(rep->tracker_why, sizeof(rep->tracker_why), "asked for");
	}
	if (kind == TRACK_NONE)
		snprintf(rep->tracker_why + strlen(rep->tracker_why),
			 sizeof(rep->tracker_why) - strlen(rep->tracker_why),
			 "%s(none resends every page each round: pre-copy cannot converge)",
			 rep->tracker_why[0] ? " " : "");
	rep->tracker = kind;
	return 0;
}

/* Before anything is touched: the dump's checks, every VMA supported, a tracker. */
static int agent_prepare(struct agent *a)
{
	VmaEntry **vmas;
	size_t n;
	int r;

	r = agent_conn_check_key(a->opts->psk_file);
	if (r < 0)
		return r;
	/* Every member of the tree, as `migrate dump` checks them (nothing touched). */
	r = dump_tree_precheck(&a->dopts, &a->tree);
	if (r == 0)
		r = agent_tree_prepare(a);
	if (r == 0)
		r = agent_net_prepare(a);
	for (size_t i = 0; r == 0 && i < a->nr_members; i++) {
		if (a->members[i].zombie)
			continue;
		a->cur_pid = a->members[i].pid;
		r = agent_layout_read(a, false, &vmas, &n);
		if (r < 0 && i > 0 && agent_tree_gone(a->cur_pid))
			r = 0; /* a child exited since the scan: the freeze sees the change */
		else if (r < 0)
			return dump_err_wrap(r, "cannot migrate pid %d", a->cur_pid);
		else
			dump_mm_vmas_free(vmas, n);
	}
	if (r < 0)
		return r;
	return agent_choose_tracker(a);
}

/* PstreeEntry of the running process for Start: threads from /proc. */
static int agent_start_pstree(struct agent *a, PstreeEntry *ps, uint32_t **ret_tids)
{
	struct dump_proc tmp = { .pid = a->opts->pid };
	struct proc_stat st;
	size_t count, len;
	int *tids, r;
	char *text;

	r = proc_read_file(tmp.pid, "stat", &text, &len);
	if (r == 0) {
		r = proc_parse_stat(text, len, &st);
		free(text);
	}
	if (r == 0)
		r = proc_list_numeric(tmp.pid, "task", &tids, &count);
	if (r < 0)
		return err_setf(r, "cannot read /proc/%d: %s", tmp.pid, strerror(-r));
	tmp.pgid = st.pgrp;
	tmp.sid = st.session;
	tmp.threads = calloc(count + 1, sizeof(*tmp.threads));
	*ret_tids = calloc(count + 1, sizeof(**ret_tids));
	if (!tmp.threads || !*ret_tids) {
		free(tids);
		free(tmp.threads);
		return err_setf(-ENOMEM, "out of memory");
	}
	/* The main thread first, as dump_seize lists them. */
	tmp.threads[tmp.nr_threads++].tid = tmp.pid;
	for (size_t i = 0; i < count; i++)
		if (tids[i] != tmp.pid)
			tmp.threads[tmp.nr_threads++].tid = tids[i];
	free(tids);
	dump_pstree_fill(ps, &tmp, *ret_tids);
	free(tmp.threads);
	return 0;
}

static int agent_start(struct agent *a)
{
	WireStart start = WIRE_START__INIT;
	PstreeEntry **members = NULL;
	InventoryEntry inv;
	PstreeEntry ps;
	struct utsname u;
	ProtobufCMessage *m;
	uint32_t *tids = NULL;
	size_t n = 0;
	int r;

	dump_inventory_fill(&inv, &a->dopts, &u);
	r = agent_start_pstree(a, &ps, &tids);
	if (r == 0 && a->tree.count > 1)
		r = agent_tree_start_entries(a, &members, &n);
	if (r < 0) {
		free(tids);
		return r;
	}
	start.inventory = &inv;
	start.pstree = &ps;
	start.members = members;
	start.n_members = n;
	r = agent_conn_send(&a->conn, WIRE_START, &start.base);
	free(tids);
	agent_tree_start_free(members, n);
	if (r == 0)
		r = agent_conn_expect(&a->conn, WIRE_START_OK, &m);
	if (r < 0)
		return r;
	log_info("%s: blank process %u created in %.1f ms", a->conn.peer, ((WireStartOk *)m)->pid,
		 ((WireStartOk *)m)->create_ns / 1e6);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static int agent_connect(struct agent *a)
{
	int r;

	r = agent_conn_open(&a->conn, a->opts->host, a->opts->port);
	if (r == 0)
		r = agent_conn_handshake(&a->conn, a->opts->psk_file);
	if (r == 0)
		r = agent_net_check_peer(a);
	if (r == 0)
		r = agent_start(a);
	return r;
}

/* Seizes one process (its threads listed afresh); a->seized: dump_resume is owed. */
static int agent_seize(struct agent *a, struct dump_proc *p)
{
	p->nr_threads = 0;
	a->seized = true; /* even a partial seize needs dump_resume */
	return dump_seize(p);
}

static void agent_unseize(struct agent *a, struct dump_proc *p)
{
	if (!a->seized)
		return;
	/* Not through restart_syscall, whose state the freeze could not carry (dump_core.c). */
	dump_core_release_restarts(p);
	dump_resume(p);
	a->seized = false;
}

/* Every member let go, children first (dump_tree_resume). */
static void agent_unseize_all(struct agent *a)
{
	if (!a->seized)
		return;
	for (size_t i = 0; i < a->tree.count; i++)
		if (!a->tree.procs[i].zombie)
			dump_core_release_restarts(&a->tree.procs[i]);
	dump_tree_resume(&a->tree);
	a->seized = false;
}

/* uffd-wp: the userfaultfd is made by a remote syscall in the process. */
static int agent_track_start_uffd(struct agent_member *m, enum track_kind kind)
{
	struct puppet p;
	int r, r2;

	r = puppet_init(&p, m->pid, m->pid);
	if (r < 0)
		return dump_err_wrap(r, "cannot take over pid %d", m->pid);
	r = puppet_map_scratch(&p, 0, 4096);
	if (r == 0) {
		r = track_start(kind, m->pid, &p, &m->track);
		r2 = puppet_unmap_scratch(&p);
		if (r == 0 && r2 < 0)
			r = r2;
	}
	r2 = puppet_fini(&p);
	return r < 0 ? r : r2;
}

/* Seize member i, start tracking, let it run again. */
static int agent_track_start_once(struct agent *a, size_t i)
{
	struct agent_member *m = &a->members[i];
	struct dump_proc *p = &a->tree.procs[i];
	enum track_kind kind = a->rep->tracker;
	int r;

	r = agent_seize(a, p);
	if (r == 0 && kind == TRACK_UFFD_WP)
		r = agent_track_start_uffd(m, kind);
	else if (r == 0)
		r = track_start(kind, m->pid, NULL, &m->track);
	agent_unseize(a, p);
	if (r < 0) {
		track_stop(m->track);
		m->track = NULL;
		return dump_err_wrap(r, "cannot start the %s tracker on pid %d",
				     track_kind_name(kind), m->pid);
	}
	return 0;
}

/* A failed start leaves nothing behind (track_stop): a start that met the
 * process changing its mappings (read while it ran) is simply tried again. */
static int agent_track_start(struct agent *a)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < a->nr_members; i++) {
		if (a->members[i].zombie)
			continue;
		for (int tries = 0; tries < 10; tries++) {
			r = agent_track_start_once(a, i);
			if (!agent_raced(r))
				break;
			log_debug("tracker start on pid %d raced with the process (%s), again",
				  a->members[i].pid, err_detail());
		}
	}
	return r;
}

static int agent_collect_once(struct agent *a, size_t i, struct track_ranges *ret)
{
	struct track *track = a->members[i].track;
	bool freeze = track_needs_freeze(track) && !a->seized;
	int r = 0;

	if (freeze)
		r = agent_seize(a, &a->tree.procs[i]);
	if (r == 0)
		r = track_collect(track, ret);
	if (freeze)
		agent_unseize(a, &a->tree.procs[i]);
	return r;
}

/* The tracker reads maps and smaps too, and may meet a process that changes
 * them in between: collect again. What a failed attempt collected (and
 * re-armed) is kept, so that no written page is forgotten. */
static int agent_collect_member(struct agent *a, size_t i, struct track_ranges *ret)
{
	struct track_ranges acc = { 0 };
	int r = 0;

	for (int tries = 0; tries < 10; tries++) {
		struct track_ranges d = { 0 }, both = { 0 };

		r = agent_collect_once(a, i, &d);
		if (precopy_ranges_union(&acc, &d, &both) < 0)
			r = err_setf(-ENOMEM, "out of memory for the dirty set");
		track_ranges_free(&d);
		track_ranges_free(&acc);
		acc = both;
		if (!agent_raced(r))
			break;
		log_debug("collect on pid %d raced with the process (%s), again", a->members[i].pid,
			  err_detail());
	}
	if (r < 0) {
		track_ranges_free(&acc);
		return r;
	}
	*ret = acc;
	return 0;
}

/* Every live member's dirty set into its pending (the last one's, sent or not, dropped);
 * *ret_pages: their sum. */
static int agent_collect(struct agent *a, uint64_t *ret_pages)
{
	int r = 0;

	*ret_pages = 0;
	for (size_t i = 0; r == 0 && i < a->nr_members; i++) {
		struct agent_member *m = &a->members[i];

		track_ranges_free(&m->pending);
		if (m->zombie)
			continue;
		r = agent_collect_member(a, i, &m->pending);
		*ret_pages += m->pending.pages;
	}
	return r;
}

static int agent_round_end(struct agent *a, bool final)
{
	WireRoundEnd e = WIRE_ROUND_END__INIT;

	e.round = a->round;
	e.has_final = e.has_pages_sent = e.has_zero_pages = e.has_bytes_sent = true;
	e.final = final;
	e.pages_sent = a->cur.pages;
	e.zero_pages = a->cur.zero_pages;
	e.bytes_sent = a->conn.bytes_sent - a->round_bytes0;
	e.has_dirty_pages = e.has_duration_ns = true;
	e.dirty_pages = a->cur.dirty_pages;
	e.duration_ns = agent_now_ns() - a->cur.duration_ns;
	return agent_conn_send(&a->conn, WIRE_ROUND_END, &e.base);
}

static int agent_round_push(struct agent *a)
{
	struct agent_report *rep = a->rep;
	struct agent_round_stats *rs;

	rs = realloc(rep->rounds, (rep->nr_rounds + 1) * sizeof(*rs));
	if (!rs)
		return err_setf(-ENOMEM, "out of memory");
	rep->rounds = rs;
	rs[rep->nr_rounds++] = a->cur;
	return 0;
}

static void agent_round_begin(struct agent *a, uint64_t dirty_pages, bool final)
{
	memset(&a->cur, 0, sizeof(a->cur));
	a->cur.round = a->round;
	a->cur.final = final;
	a->cur.dirty_pages = dirty_pages;
	a->cur.duration_ns = agent_now_ns(); /* start time until the round ends */
	a->round_bytes0 = a->conn.bytes_sent;
}

/* Layout and pages (all, or its pending set) of one running member. */
static int agent_round_member(struct agent *a, size_t i, bool all)
{
	struct agent_member *mb = &a->members[i];
	VmaEntry **vmas;
	size_t n;
	int r;

	a->cur_pid = mb->pid;
	r = agent_layout_read(a, mb->track != NULL, &vmas, &n);
	if (r < 0)
		return r;
	r = agent_layout_send(a, vmas, n);
	if (r == 0)
		r = agent_pages_send(a, vmas, n, all ? NULL : &mb->pending);
	dump_mm_vmas_free(vmas, n);
	return r;
}

/* One round while the processes run: each member's layout and pages, then the ack. */
static int agent_round_running(struct agent *a, bool all, uint64_t dirty)
{
	struct precopy_round *h;
	ProtobufCMessage *m;
	int r = 0;

	agent_round_begin(a, dirty, false);
	for (size_t i = 0; r == 0 && i < a->nr_members; i++)
		if (!a->members[i].zombie)
			r = agent_round_member(a, i, all);
	if (r == 0)
		r = agent_round_end(a, false);
	if (r == 0)
		r = agent_conn_expect(&a->conn, WIRE_ROUND_ACK, &m);
	if (r < 0)
		return r;
	a->cur.apply_ns = ((WireRoundAck *)m)->apply_ns;
	protobuf_c_message_free_unpacked(m, NULL);
	a->cur.duration_ns = agent_now_ns() - a->cur.duration_ns;
	a->cur.bytes = a->conn.bytes_sent - a->round_bytes0;
	if (all)
		a->cur.dirty_pages = a->cur.pages;
	h = realloc(a->history, (a->nr_history + 1) * sizeof(*h));
	if (!h)
		return err_setf(-ENOMEM, "out of memory");
	a->history = h;
	h[a->nr_history++] = (struct precopy_round){ a->cur.dirty_pages, a->cur.pages, a->cur.bytes,
						     a->cur.duration_ns };
	log_info("round %u: %lu pages, %.1f MiB on the wire, %.1f ms", a->round,
		 (unsigned long)a->cur.pages, a->cur.bytes / 1048576.0, a->cur.duration_ns / 1e6);
	return agent_round_push(a);
}

/* Pre-copy rounds until precopy_decide() says freeze; each member's pending: the dirty set
 * collected last, still to send (in the freeze window). */
static int agent_precopy(struct agent *a)
{
	struct precopy_limits lim = {
		.max_downtime_ns = a->opts->max_downtime_ms * 1000000ULL,
		.max_rounds = a->opts->max_rounds,
		.fixed_cost_ns = AGENT_FIXED_COST_NS,
	};
	struct precopy_verdict v;
	int r;

	r = agent_track_start(a);
	if (r == 0)
		r = agent_round_running(a, true, 0);
	while (r == 0) {
		uint64_t dirty = 0;

		if (agent_cancelled())
			return -EINTR;
		r = agent_collect(a, &dirty);
		if (r == 0)
			r = precopy_decide(a->history, a->nr_history, dirty, &lim, &v);
		if (r == 0 && v.decision == PRECOPY_FREEZE) {
			a->rep->converge_reason = precopy_reason_name(v.reason);
			a->rep->predicted_ns = v.predicted_ns;
			return 0; /* each member's pending set goes in the freeze window */
		}
		a->round++;
		if (r == 0)
			r = agent_round_running(a, false, dirty);
	}
	return r;
}

static int agent_send_record(struct agent *a, enum image_kind kind, uint32_t pid,
			     const ProtobufCMessage *msg)
{
	WireImageRecord rec = WIRE_IMAGE_RECORD__INIT;
	size_t len = protobuf_c_message_get_packed_size(msg);
	int r;

	rec.kind = kind;
	rec.has_pid = pid != 0;
	rec.pid = pid;
	rec.record.data = malloc(len ? len : 1);
	if (!rec.record.data)
		return err_setf(-ENOMEM, "out of memory");
	rec.record.len = protobuf_c_message_pack(msg, rec.record.data);
	r = agent_conn_send(&a->conn, WIRE_IMAGE_RECORD, &rec.base);
	free(rec.record.data);
	return r;
}

/* ipc.img's records, read while frozen: a process in an IPC namespace of its own takes its
 * objects along (dump_ipc.c); the destination makes each as it arrives (restore_ipc.c). */
static int agent_send_ipc(struct agent *a)
{
	struct dump_ipc ipc;
	int r;

	if (!dump_ipc_own_ns(agent_root(a)->pid))
		return 0;
	r = dump_ipc_collect(agent_root(a)->pid, &ipc);
	for (size_t i = 0; r == 0 && i < ipc.count; i++)
		r = agent_send_record(a, IMAGE_IPC, 0, &ipc.entries[i]->base);
	dump_ipc_fini(&ipc);
	return r;
}

/* The pstree record of p (zombies included). */
static int agent_send_pstree(struct agent *a, const struct dump_proc *p)
{
	uint32_t tids[p->nr_threads + 1];
	PstreeEntry ps;

	dump_pstree_fill(&ps, p, tids);
	return agent_send_record(a, IMAGE_PSTREE, 0, &ps.base);
}

/* core, mm and files of one live process. */
static int agent_send_proc(struct agent *a, const struct dump_proc *p)
{
	int r;

	r = agent_send_record(a, IMAGE_CORE, (uint32_t)p->pid, &p->core->base);
	if (r == 0)
		r = agent_send_record(a, IMAGE_MM, (uint32_t)p->pid, &p->mm->base);
	for (size_t i = 0; r == 0 && i < p->nr_fds; i++)
		r = agent_send_record(a, IMAGE_FILES, (uint32_t)p->pid, &p->fds[i]->base);
	return r;
}

/* inventory, pstree (one record per process, parents first), core, mm, files: the records
 * `migrate dump` writes. */
static int agent_send_records(struct agent *a)
{
	InventoryEntry inv;
	struct utsname u;
	int r;

	dump_inventory_fill(&inv, &a->dopts, &u);
	r = agent_send_record(a, IMAGE_INVENTORY, 0, &inv.base);
	for (size_t i = 0; r == 0 && i < a->tree.count; i++)
		r = agent_send_pstree(a, &a->tree.procs[i]);
	for (size_t i = 0; r == 0 && i < a->tree.count; i++)
		if (!a->tree.procs[i].zombie)
			r = agent_send_proc(a, &a->tree.procs[i]);
	if (r == 0)
		r = agent_send_ipc(a);
	return r;
}

/* The final dirty set m->only (unless m->all: everything goes) and the residency m->res of
 * member i, its mm collected. The tracker stays registered until the verdict
 * (agent_track_end): unregistering walks every page table of the process
 * (~19 ms per GiB), which has no place in the freeze window; the layout
 * ignores its "uw" marks. With uffd-wp, the final collect and the residency
 * are one PAGEMAP_SCAN walk: the written pages are those without the
 * write-protection, and re-arming it is pointless now. */
static int agent_frozen_memory(struct agent *a, size_t i)
{
	struct agent_member *m = &a->members[i];
	struct dump_proc *p = &a->tree.procs[i];
	bool all = a->rep->tracker == TRACK_NONE || !a->opts->max_rounds || !m->track;
	bool uffd = !all && track_get_kind(m->track) == TRACK_UFFD_WP;
	struct track_ranges fin = { 0 }, untracked = { 0 }, both = { 0 };
	MmEntry *mm;
	int r = 0;

	if (!all && !uffd)
		r = track_collect(m->track, &fin);
	p->tracked = m->track != NULL;
	if (r == 0)
		r = dump_mm_collect(p);
	if (r < 0)
		goto out;
	log_debug("frozen: mm of pid %d collected at %.3f ms", p->pid,
		  (agent_now_ns() - a->cur.duration_ns) / 1e6);
	mm = p->mm;
	r = agent_residency_build(p->pid, mm->vmas, mm->n_vmas, &m->res, uffd ? &fin : NULL);
	if (r == 0 && !all)
		r = agent_untracked_ranges(mm->vmas, mm->n_vmas, &untracked);
	if (r == 0 && !all)
		r = precopy_ranges_union(&m->pending, &fin, &both);
	if (r == 0 && !all)
		r = precopy_ranges_union(&both, &untracked, &m->only);
out:
	m->all = all;
	track_ranges_free(&fin);
	track_ranges_free(&untracked);
	track_ranges_free(&both);
	return r;
}

/* Final layout and pages of member i (its memory collected). */
static int agent_last_pages_member(struct agent *a, size_t i)
{
	struct agent_member *m = &a->members[i];
	MmEntry *mm = a->tree.procs[i].mm;
	int r;

	/* Only what holds pages: the final ranges include whole untracked
	 * mappings (shared, read-only, PROT_NONE reserves of any size). */
	a->cur.dirty_pages += m->all ? m->res.pages
				     : precopy_ranges_common_pages(&m->only, &m->res);
	a->cur_pid = m->pid;
	r = agent_layout_send(a, mm->vmas, mm->n_vmas);
	if (r == 0)
		r = agent_pages_send(a, mm->vmas, mm->n_vmas, m->all ? NULL : &m->only);
	return r;
}

/* What the members share (open file descriptions, anonymous shared memory, pipes), once all
 * are collected: the records and the final layouts carry it. */
static int agent_frozen_tree(struct agent *a)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < a->nr_members; i++)
		if (!a->members[i].zombie)
			r = agent_frozen_memory(a, i);
	if (r == 0)
		r = dump_fd_pipe_check_tree(&a->tree);
	if (r == 0)
		r = dump_tree_share_mem(&a->tree);
	if (r == 0)
		r = dump_tree_share_fds(&a->tree);
	return r;
}

static int agent_last_pages(struct agent *a)
{
	uint64_t res_pages = 0;
	size_t ranges = 0;
	int r;

	if (a->nr_history)
		a->round++;
	agent_round_begin(a, 0, true);
	r = agent_frozen_tree(a);
	log_debug("frozen: final dirty sets, layouts and residencies in %.3f ms",
		  (agent_now_ns() - a->cur.duration_ns) / 1e6);
	for (size_t i = 0; r == 0 && i < a->nr_members; i++)
		if (!a->members[i].zombie)
			r = agent_last_pages_member(a, i);
	if (r == 0)
		r = agent_round_end(a, true);
	for (size_t i = 0; r == 0 && i < a->nr_members; i++) {
		struct agent_member *m = &a->members[i];

		if (m->zombie)
			continue;
		a->cur_pid = m->pid;
		r = agent_residency_send(a, &m->res);
		res_pages += m->res.pages;
		ranges += m->res.count;
	}
	log_debug("frozen: %lu pages and the residency (%zu ranges) sent at %.3f ms",
		  (unsigned long)a->cur.pages, ranges, (agent_now_ns() - a->cur.duration_ns) / 1e6);
	a->rep->rss_bytes = res_pages * 4096ULL;
	a->cur.duration_ns = agent_now_ns() - a->cur.duration_ns;
	a->cur.bytes = a->conn.bytes_sent - a->round_bytes0;
	if (r == 0)
		r = agent_round_push(a);
	return r;
}

static int agent_commit(struct agent *a)
{
	WireCommit c = WIRE_COMMIT__INIT;
	ProtobufCMessage *m;
	WireReady *ready;
	uint64_t t;
	int r;

	c.has_move_ip = a->opts->move_ip;
	c.move_ip = a->opts->move_ip;
	r = agent_send_records(a);
	if (r == 0)
		r = agent_conn_send(&a->conn, WIRE_COMMIT, &c.base);
	if (r < 0)
		return r;
	t = agent_now_ns();
	r = agent_conn_expect(&a->conn, WIRE_READY, &m);
	if (r < 0)
		return r;
	a->rep->restore_ns = agent_now_ns() - t;
	ready = (WireReady *)m;
	a->rep->dst_layout_ns = ready->layout_ns;
	a->rep->dst_pages_ns = ready->pages_ns;
	a->rep->dst_finish_ns = ready->finish_ns;
	a->rep->dst_pid = ready->pid;
	a->rep->dst_sockets = ready->sockets;
	a->rep->dst_sock_restore_ns = ready->sockets_ns;
	a->rep->dst_net_check_ns = ready->net_check_ns;
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

/* Every member seized (parents first, rescans until stable: dump_tree_seize), and the tree
 * still the one Start announced. */
static int agent_seize_tree(struct agent *a)
{
	int r;

	for (size_t i = 0; i < a->tree.count; i++)
		a->tree.procs[i].nr_threads = 0;
	a->seized = true; /* even a partial seize needs dump_tree_resume */
	r = dump_tree_seize(&a->dopts, &a->tree);
	if (r == 0)
		r = agent_tree_same(a);
	/* A thread the tracker's start left in restart_syscall names its syscall again. */
	for (size_t i = 0; r == 0 && i < a->tree.count; i++)
		if (!a->tree.procs[i].zombie)
			dump_core_resolve_restarts(&a->tree.procs[i]);
	return r;
}

/* Core and files of every live member; their remote syscalls map and unmap a scratch page:
 * before the final layouts. */
static int agent_collect_states(struct agent *a)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < a->tree.count; i++)
		if (!a->tree.procs[i].zombie)
			r = dump_collect_state(&a->dopts, &a->tree.procs[i]);
	a->rep->sock_dump_ns = agent_root(a)->net_collect_ns;
	return r;
}

/* The freeze window up to Ready: everything here can still be undone. */
static int agent_freeze(struct agent *a, uint64_t *ret_t0)
{
	uint64_t t;
	int r;

	/* While it still runs: keeps the smaps page walk out of the window. */
	r = dump_mm_snapshot_take(a->opts->pid, &a->snapshot);
	if (r < 0 && r != -EAGAIN)
		return r;
	agent_root(a)->snapshot = r == 0 ? &a->snapshot : NULL;
	r = agent_net_rescan(a); /* still running: outside the window */
	if (r < 0)
		return r;
	/* The window, as the process's peers see it, begins with the lock. */
	*ret_t0 = agent_now_ns();
	r = agent_net_lock(a);
	if (r < 0)
		return r;
	t = agent_now_ns();
	a->frozen = true;
	r = agent_seize_tree(a);
	if (r < 0)
		return r;
	a->rep->freeze_ns = agent_now_ns() - t;
	t = agent_now_ns();
	r = agent_collect_states(a);
	/* Before Commit, on which the destination takes them (agent_locks.c). */
	if (r == 0)
		r = agent_locks_drop(a);
	if (r < 0)
		return r;
	a->rep->state_ns = agent_now_ns() - t;
	t = agent_now_ns();
	r = agent_last_pages(a);
	if (r == 0)
		r = agent_commit(a);
	/* last_pages: final collect and layout, pages, residency, records; mm collect in it */
	a->rep->last_pages_ns = agent_now_ns() - t - a->rep->restore_ns;
	if (r == 0)
		r = agent_net_release_ips(a);
	return r;
}

static int agent_go(struct agent *a, uint64_t t0)
{
	WireGo go = WIRE_GO__INIT;
	ProtobufCMessage *m;
	WireVerdict *v;
	uint64_t t = agent_now_ns();
	int r;

	go.move_addrs = a->net.wire_ptrs;
	go.n_move_addrs = a->net.wire_ptrs ? a->net.nr_moved : 0;
	a->go_sent = true;
	r = agent_conn_send(&a->conn, WIRE_GO, &go.base);
	if (r == 0)
		r = agent_conn_expect(&a->conn, WIRE_VERDICT, &m);
	if (r < 0)
		return r;
	a->rep->resume_ns = agent_now_ns() - t;
	a->rep->window_ns = agent_now_ns() - t0;
	v = (WireVerdict *)m;
	a->rep->dst_resume_ns = v->resume_ns;
	a->rep->dst_ip_claim_ns = v->ip_claim_ns;
	a->rep->dst_sock_resume_ns = v->sockets_resume_ns;
	if (v->has_pid)
		a->rep->dst_pid = v->pid;
	/* Only a destination that killed its copy says no: the source may run again. */
	a->verdict_failed = !v->ok;
	r = v->ok ? 0
		  : err_setf(v->error ? v->error : -EIO, "%s could not start the process: %s",
			     a->conn.peer, v->message ? v->message : "no reason given");
	protobuf_c_message_free_unpacked(m, NULL);
	return r;
}

/* Unregisters the trackers (closing our uffds); safe when none runs. */
static void agent_track_end(struct agent *a)
{
	for (size_t i = 0; i < a->nr_members; i++) {
		track_stop(a->members[i].track);
		a->members[i].track = NULL;
	}
	for (size_t i = 0; i < a->tree.count; i++)
		a->tree.procs[i].tracked = false;
}

static void agent_after_success(struct agent *a)
{
	if (a->opts->images_dir) {
		a->dopts.dir = a->opts->images_dir;
		if (dump_tree_images(&a->dopts, &a->tree) < 0)
			log_warn("the migration succeeded but the local copy in %s failed: %s",
				 a->opts->images_dir, err_detail());
		else
			a->rep->images_written = true;
	}
	agent_track_end(a);
	a->dopts.after = a->opts->leave_stopped ? DUMP_AFTER_STOP : DUMP_AFTER_KILL;
	/* Killed with its connections in repair mode: they close without a packet. */
	dump_tree_after(&a->dopts, &a->tree);
	a->seized = false;
	agent_net_commit(a);
	agent_net_unlock(a);
}

/* Before Go: put everything back; the process never notices beyond the pause. */
static void agent_rollback(struct agent *a, int r)
{
	int reason = r == -EINTR ? WIRE_ABORT_REASON__WIRE_ABORT_CANCELLED
				 : WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL;

	if (r != -ECONNABORTED && r != -ECONNRESET && !a->verdict_failed)
		agent_conn_abort(&a->conn, reason, err_detail());
	/* Addresses back and the lock gone before the sockets leave repair mode (in
	 * dump_resume): their window probe must reach the peers. */
	agent_net_rollback(a);
	/* After the Abort (the destination's copy lets go of them), while still seized. */
	agent_locks_retake(a);
	agent_track_end(a);
	agent_unseize_all(a);
}

/* After Go without a Verdict: never two copies running. */
static void agent_keep_stopped(struct agent *a)
{
	agent_track_end(a);
	a->dopts.after = DUMP_AFTER_STOP;
	dump_tree_after(&a->dopts, &a->tree);
	a->seized = false;
	/* Its connections stay in repair mode (silent) and moved addresses stay moved: the
	 * copy at the destination may be the one that runs. */
	agent_net_commit(a);
	agent_net_unlock(a);
}

static enum agent_outcome agent_phases(struct agent *a)
{
	bool touched = false;
	uint64_t t0 = 0;
	int r;

	r = agent_prepare(a);
	if (r == 0)
		r = agent_connect(a);
	if (r == 0 && a->opts->max_rounds) {
		touched = true;
		r = agent_precopy(a);
	}
	if (r == 0 && agent_cancelled())
		r = -EINTR;
	if (r == 0) {
		touched = true;
		r = agent_freeze(a, &t0);
	}
	if (r < 0 && agent_cancelled())
		r = err_setf(-EINTR, "cancelled by SIG%s", sigabbrev_np((int)agent_signal));
	if (r < 0)
		r = agent_tree_explain(a, r);
	if (r < 0) {
		agent_rollback(a, r);
		return touched ? AGENT_RESUMED : AGENT_REFUSED;
	}
	r = agent_go(a, t0);
	if (r < 0 && a->verdict_failed) {
		agent_rollback(a, r);
		return AGENT_RESUMED;
	}
	if (r < 0) {
		agent_keep_stopped(a);
		return AGENT_UNKNOWN;
	}
	agent_after_success(a);
	return AGENT_OK;
}

/* One attempt; *ret_changed: it failed because the tree changed during pre-copy. */
static int agent_run_once(const struct agent_opts *opts, struct agent_report *rep,
			  bool *ret_changed)
{
	struct agent a = { .opts = opts, .rep = rep };
	struct sigaction old_int, old_term;
	uint64_t start = agent_now_ns();

	memset(rep, 0, sizeof(*rep));
	rep->converge_reason = "";
	rep->pid = opts->pid;
	snprintf(rep->peer, sizeof(rep->peer), "%s:%s", opts->host, opts->port);
	a.dopts.pid = opts->pid;
	a.dopts.after = DUMP_AFTER_KILL;
	a.dopts.tcp_established = opts->tcp_established;
	a.cur_pid = opts->pid;
	a.conn.fd = -1;
	codec_batch_init(&a.batch);
	err_clear();
	agent_signals(&old_int, &old_term);
	rep->outcome = agent_phases(&a);
	if (rep->outcome != AGENT_OK)
		snprintf(rep->message, sizeof(rep->message), "%s",
			 err_detail()[0] ? err_detail() : "unknown error");
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	rep->total_ns = agent_now_ns() - start;
	rep->total_bytes = a.conn.bytes_sent;
	agent_conn_close(&a.conn);
	codec_batch_fini(&a.batch);
	dump_mm_snapshot_fini(&a.snapshot);
	free(a.history);
	agent_net_fini(&a);
	agent_tree_fini(&a);
	agent_locks_fini(&a);
	*ret_changed = a.tree_changed &&
		       (rep->outcome == AGENT_RESUMED || rep->outcome == AGENT_REFUSED);
	return rep->outcome == AGENT_OK ? 0 : -EIO;
}

/* A tree that gained or lost a process during pre-copy was resumed as it was: it is tried
 * again from the start (a shell pipeline whose first stage exits, a worker restarted), a few
 * times; one that forks all the time is left running here. */
int agent_run(const struct agent_opts *opts, struct agent_report *rep)
{
	bool changed = false;
	int r;

	for (int tries = 1;; tries++) {
		r = agent_run_once(opts, rep, &changed);
		if (r < 0 && changed && tries > 1) {
			size_t len = strlen(rep->message);

			snprintf(rep->message + len, sizeof(rep->message) - len,
				 " (the tree changed in each of %d attempts)", tries);
		}
		if (r == 0 || !changed || tries == AGENT_TREE_TRIES || agent_cancelled())
			return r;
		log_info("%s: trying again (%d of %d)", rep->message, tries + 1,
			 AGENT_TREE_TRIES);
		agent_report_fini(rep);
		/* The destination kills its copy of the tree on our Abort: its pids must be
		 * free again before the next Start asks for them (it waits for zombies only). */
		usleep(AGENT_TREE_RETRY_PAUSE_US);
	}
}

void agent_report_fini(struct agent_report *rep)
{
	free(rep->rounds);
	rep->rounds = NULL;
	rep->nr_rounds = 0;
}
