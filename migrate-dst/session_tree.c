/*
 * session_tree: a session that receives a process tree (WireStart.members).
 *
 *	Start     the pstree (root and members) checked as a directory's, then every process
 *	          created bare in its place, each forked by its parent's puppet (restore_tree.c),
 *	          zombies exited; a tree with an IPC namespace of its own (the inventory of Start
 *	          says so) gets a new one, unshared by the root before it forks the others
 *	rounds    each Layout, PageBatch and Residency names its process: the member is loaded
 *	          into the session's fields (session_member_select) and the one-process handlers
 *	          apply it
 *	records   one pstree record per process (the same processes as Start), core, mm, files;
 *	          System V objects made by the root as they come (session_tree_ipc_select)
 *	Commit    every live member completed in pstree order, as restore_run does it: what they
 *	          share (open file descriptions, pipes, anonymous shared memory) made by the first
 *	          holder and given to the others; the others' System V attachments
 *	Go        children first, the root last
 *	failure   every member killed and reaped (session_tree_fini, children first); the socket
 *	          files bound for the tree removed, also after Commit (session_tree_outcome)
 *
 * The root is members[0]; the session's pid stays the root's (messages, Ready, Verdict).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dst_server.h"
#include "dst_session_internal.h"
#include "err.h"
#include "log.h"
#include "restore_fd_unix.h"
#include "restore_internal.h"

#define SESSION_TREE_NONE SIZE_MAX

static int session_tree_bad(struct session *s, int err, const char *what, const char *detail)
{
	return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, err, "%s: %s", what, detail);
}

/* The session's fields into members[loaded]'s slot, and empty. */
static void session_member_park(struct session *s)
{
	struct session_member *m;

	if (s->loaded == SESSION_TREE_NONE)
		return;
	m = &s->members[s->loaded];
	m->proc = s->proc;
	m->layout = s->layout;
	m->written = s->written;
	m->residency = s->residency;
	m->pstree = s->pstree;
	m->core = s->core;
	m->mm = s->mm;
	m->fds = s->fds;
	m->fd_count = s->fd_count;
	m->fd_cap = s->fd_cap;
	s->proc = NULL;
	s->layout = NULL;
	memset(&s->written, 0, sizeof(s->written));
	s->residency = NULL;
	s->pstree = NULL;
	s->core = NULL;
	s->mm = NULL;
	s->fds = NULL;
	s->fd_count = s->fd_cap = 0;
	s->loaded = SESSION_TREE_NONE;
}

static void session_member_load(struct session *s, size_t i)
{
	struct session_member *m = &s->members[i];

	session_member_park(s);
	s->proc = m->proc;
	s->layout = m->layout;
	s->written = m->written;
	s->residency = m->residency;
	s->pstree = m->pstree;
	s->core = m->core;
	s->mm = m->mm;
	s->fds = m->fds;
	s->fd_count = m->fd_count;
	s->fd_cap = m->fd_cap;
	s->loaded = i;
}

static size_t session_member_find(const struct session *s, uint32_t pid)
{
	for (size_t i = 0; i < s->nr_members; i++)
		if (s->members[i].pid == pid)
			return i;
	return SESSION_TREE_NONE;
}

uint32_t session_member_pid(const struct session *s)
{
	if (!s->nr_members || s->loaded == SESSION_TREE_NONE)
		return s->pid;
	return s->members[s->loaded].pid;
}

int session_member_select(struct session *s, uint32_t pid, const char *what)
{
	size_t i;

	if (!s->nr_members) {
		if (pid != s->pid)
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
					    "%s: pid %u, this session restores pid %u", what, pid,
					    s->pid);
		return 0;
	}
	i = session_member_find(s, pid);
	if (i == SESSION_TREE_NONE)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				    "%s: pid %u is not a process of the tree of pid %u announced "
				    "in Start", what, pid, s->pid);
	if (s->members[i].zombie)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				    "%s: pid %u is a zombie of the tree of pid %u: nothing but its "
				    "pstree record travels", what, pid, s->pid);
	if (i != s->loaded)
		session_member_load(s, i);
	return 0;
}

/* An owned copy of a PstreeEntry (the Start message is freed after its handler). */
static PstreeEntry *session_pstree_copy(const PstreeEntry *ps)
{
	size_t len = pstree_entry__get_packed_size(ps);
	uint8_t *buf = malloc(len ? len : 1);
	PstreeEntry *copy;

	if (!buf)
		return NULL;
	pstree_entry__pack(ps, buf);
	copy = pstree_entry__unpack(NULL, len, buf);
	free(buf);
	return copy;
}

/* Start's entries into members (root first) and checked as pstree.img is. */
static int session_tree_members(struct session *s, const WireStart *m)
{
	PstreeEntry **ps;
	int r;

	s->members = calloc(m->n_members + 1, sizeof(*s->members));
	ps = calloc(m->n_members + 1, sizeof(*ps));
	if (!s->members || !ps) {
		free(ps);
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -ENOMEM,
				    "out of memory for a tree of %zu processes", m->n_members + 1);
	}
	s->nr_members = m->n_members + 1;
	s->loaded = SESSION_TREE_NONE;
	for (size_t i = 0; i < s->nr_members; i++) {
		ps[i] = i ? m->members[i - 1] : m->pstree;
		s->members[i].pid = ps[i]->pid;
		s->members[i].zombie = ps[i]->has_zombie && ps[i]->zombie;
	}
	r = image_pstree_check(m->inventory, ps, s->nr_members);
	free(ps);
	if (r < 0)
		return session_tree_bad(s, r, "Start", err_detail());
	for (size_t i = 0; i < s->nr_members; i++) {
		s->members[i].start_ps = session_pstree_copy(i ? m->members[i - 1] : m->pstree);
		if (!s->members[i].start_ps)
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -ENOMEM,
					    "out of memory");
	}
	return 0;
}

/* The set restore_tree_*() read: tasks[i].pstree only (what exists before any record). An IPC
 * namespace of the tree's own is unshared by the root before it forks the others, which
 * inherit it: the records of the freeze come too late for that. */
static int session_tree_create(struct session *s)
{
	struct image_task *tasks = calloc(s->nr_members, sizeof(*tasks));
	struct restore_proc **procs = calloc(s->nr_members, sizeof(*procs));
	struct image_set set = { .tasks = tasks, .task_count = s->nr_members };
	struct restore_opts opts = s->ropts;
	int r;

	if (!tasks || !procs) {
		free(tasks);
		free(procs);
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -ENOMEM,
				    "out of memory");
	}
	for (size_t i = 0; i < s->nr_members; i++) {
		tasks[i].pstree = s->members[i].start_ps;
		tasks[i].pages_fd = -1;
	}
	opts.new_ipc_ns = s->tree_ipc_ns;
	server_log_clear_error();
	r = restore_tree_check(&set, &opts);
	if (r == 0)
		r = restore_tree_create(&set, &opts, procs);
	/* What exists is the members' from here on: session_tree_fini kills it on failure. */
	for (size_t i = 0; i < s->nr_members; i++)
		s->members[i].proc = procs[i];
	free(procs);
	free(tasks);
	if (r < 0)
		return session_fail_restore(s, r, "cannot create the process tree");
	return 0;
}

int session_tree_start(struct session *s, const WireStart *m)
{
	int r;

	s->tree_ipc_ns = m->inventory->has_ipc_ns && m->inventory->ipc_ns;
	r = session_tree_members(s, m);
	if (r == 0)
		r = session_tree_create(s);
	if (r == 0)
		session_member_load(s, 0);
	if (r == 0)
		log_info("pid %u: a tree of %zu processes created%s", s->pid, s->nr_members,
			 s->tree_ipc_ns ? " in a new IPC namespace" : "");
	return r;
}

int session_tree_ipc_select(struct session *s)
{
	/* Unshared now, the root would leave the others in the namespace they were forked in. */
	if (!s->tree_ipc_ns)
		return session_tree_bad(s, -EPROTO, "ImageRecord",
					"System V objects of a tree whose Start announced no IPC "
					"namespace of its own");
	return session_member_select(s, s->pid, "ImageRecord");
}

int session_tree_on_pstree(struct session *s, PstreeEntry *rec)
{
	size_t i = session_member_find(s, rec->pid);
	const PstreeEntry *was = i == SESSION_TREE_NONE ? NULL : s->members[i].start_ps;
	bool zombie = rec->has_zombie && rec->zombie;
	int r = 0;

	if (!was)
		r = session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				 "pstree record of pid %u: not a process of the tree of pid %u "
				 "announced in Start", rec->pid, s->pid);
	else if (was->ppid != rec->ppid || s->members[i].zombie != zombie)
		r = session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				 "pstree record of pid %u: parent %u%s, Start announced "
				 "parent %u%s", rec->pid, rec->ppid, zombie ? " (zombie)" : "",
				 was->ppid, s->members[i].zombie ? " (zombie)" : "");
	else if (s->members[i].pstree || (i == s->loaded && s->pstree))
		r = session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				 "pstree record of pid %u sent twice", rec->pid);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&rec->base, NULL);
		return r;
	}
	if (i == s->loaded)
		s->pstree = rec;
	else
		s->members[i].pstree = rec;
	return 0;
}

/* ---- Commit ---- */

/* Every member's records present and checked (all parked), into set's tasks. */
static int session_tree_tasks(struct session *s, struct image_set *set)
{
	PstreeEntry **ps = calloc(s->nr_members, sizeof(*ps));
	char what[64];
	int r = 0;

	if (!ps)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -ENOMEM,
				    "out of memory");
	for (size_t i = 0; r == 0 && i < s->nr_members; i++) {
		struct session_member *m = &s->members[i];

		snprintf(what, sizeof(what), "pid %u", m->pid);
		set->tasks[i] = (struct image_task){ .pstree = m->pstree, .core = m->core,
						     .mm = m->mm, .fds = m->fds,
						     .fd_count = m->fd_count, .pages_fd = -1 };
		ps[i] = m->pstree;
		if (!m->pstree || (!m->zombie && (!m->core || !m->mm)))
			r = session_tree_bad(s, -EPROTO, what, "Commit without all its records");
		else if (!m->zombie && !m->residency)
			r = session_tree_bad(s, -EPROTO, what, "Commit without its Residency");
		else if (!m->zombie && i == 0 && image_task_check(s->inv, &set->tasks[i]) < 0)
			r = session_tree_bad(s, -EBADMSG, "image records", err_detail());
		else if (!m->zombie && i > 0 && image_member_check(&set->tasks[i]) < 0)
			r = session_tree_bad(s, -EBADMSG, "image records", err_detail());
		else if (!m->zombie && !session_mm_is_layout(m->mm, m->layout))
			r = session_tree_bad(s, -EPROTO, what,
					     "the mm record's VMAs are not the final Layout's");
	}
	if (r == 0 && image_pstree_check(s->inv, ps, s->nr_members) < 0)
		r = session_tree_bad(s, -EBADMSG, "image records", err_detail());
	free(ps);
	return r;
}

/* Member i complete and stopped; what an earlier member shares with it comes from that one. */
static int session_tree_finish_one(struct session *s, struct image_set *set, size_t i)
{
	struct restore_proc *p = s->members[i].proc;
	int r;

	server_log_clear_error();
	r = restore_tree_share_mem(p, &set->tasks[i]);
	/* The root made the System V objects as their records came; the others attach theirs. */
	if (r == 0 && i > 0 && s->ipc_count)
		r = restore_ipc_run(p, s->ipc, s->ipc_count);
	if (r == 0)
		r = restore_proc_finish(p, &set->tasks[i], &s->ropts);
	if (r < 0) {
		char what[64];

		snprintf(what, sizeof(what), "cannot complete pid %u", s->members[i].pid);
		return session_fail_restore(s, r, what);
	}
	return 0;
}

int session_tree_commit(struct session *s)
{
	struct image_set set = { .inventory = s->inv, .task_count = s->nr_members };
	struct restore_tree_ctx *ctx;
	int r;

	if (!s->inv)
		return session_tree_bad(s, -EPROTO, "Commit", "no inventory record");
	set.tasks = calloc(s->nr_members, sizeof(*set.tasks));
	ctx = calloc(1, sizeof(*ctx));
	if (!set.tasks || !ctx) {
		free(set.tasks);
		free(ctx);
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -ENOMEM,
				    "out of memory");
	}
	ctx->set = &set;
	session_member_park(s);
	r = session_tree_tasks(s, &set);
	for (size_t i = 0; r == 0 && i < s->nr_members; i++) {
		s->members[i].proc->tree = ctx;
		s->members[i].proc->tree_index = i;
	}
	for (size_t i = 0; r == 0 && i < s->nr_members; i++)
		if (!s->members[i].zombie)
			r = session_tree_finish_one(s, &set, i);
	for (size_t i = 0; i < s->nr_members; i++)
		if (s->members[i].proc)
			s->members[i].proc->tree = NULL;
	/* Held until the outcome: an Abort or a failed Go must still remove the socket files
	 * (a retry would find them in the way), the sockets of a failure here at once. */
	ctx->set = NULL;
	s->tree_ctx = ctx;
	if (r < 0)
		session_tree_outcome(s, true);
	free(set.tasks);
	session_member_load(s, 0);
	return r;
}

void session_tree_outcome(struct session *s, bool failed)
{
	if (!s->tree_ctx)
		return;
	restore_fd_unix_tree_fini(s->tree_ctx, failed); /* failed: the socket files it bound */
	restore_tree_ctx_fini(s->tree_ctx);
	free(s->tree_ctx);
	s->tree_ctx = NULL;
}

int session_tree_images(struct session *s, struct image_dir *d)
{
	struct image_file *f;
	int r, r2;

	r = image_open_write(d, IMAGE_PSTREE, 0, &f);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < s->nr_members; i++) {
		session_member_load(s, i);
		r = image_write_record(f, &s->pstree->base);
	}
	r2 = image_close(f);
	if (r == 0)
		r = r2;
	for (size_t i = 0; r == 0 && i < s->nr_members; i++) {
		if (s->members[i].zombie)
			continue;
		session_member_load(s, i);
		r = session_image_proc_records(s, d);
		if (r == 0)
			r = session_image_pages(s, d);
	}
	session_member_load(s, 0);
	return r;
}

int session_tree_resume(struct session *s)
{
	int r = 0;

	for (size_t i = s->nr_members; r == 0 && i-- > 1;) {
		if (s->members[i].zombie)
			continue;
		server_log_clear_error();
		r = restore_proc_resume(s->members[i].proc);
		if (r < 0) {
			char what[64];

			snprintf(what, sizeof(what), "cannot resume pid %u", s->members[i].pid);
			return session_fail_restore(s, r, what);
		}
	}
	return r;
}

void session_tree_kill(struct session *s)
{
	for (size_t i = s->nr_members; i-- > 1;) {
		struct restore_proc *p = i == s->loaded ? s->proc : s->members[i].proc;

		if (!p || s->members[i].zombie)
			continue;
		/* Resumed already (the root's resume failed after it): it must not run on. */
		if (kill(restore_proc_pid(p), SIGKILL) < 0)
			log_debug("pid %u: kill: %m, ignoring", s->members[i].pid);
		restore_proc_abort(p);
	}
}

static void session_member_free(struct session_member *m)
{
	restore_proc_free(m->proc); /* kills and reaps it unless it was resumed */
	m->proc = NULL;
	if (m->layout)
		protobuf_c_message_free_unpacked(&m->layout->base, NULL);
	if (m->residency)
		protobuf_c_message_free_unpacked(&m->residency->base, NULL);
	session_ranges_fini(&m->written);
	if (m->pstree)
		protobuf_c_message_free_unpacked(&m->pstree->base, NULL);
	if (m->core)
		protobuf_c_message_free_unpacked(&m->core->base, NULL);
	if (m->mm)
		protobuf_c_message_free_unpacked(&m->mm->base, NULL);
	for (size_t i = 0; i < m->fd_count; i++)
		protobuf_c_message_free_unpacked(&m->fds[i]->base, NULL);
	free(m->fds);
	m->layout = NULL;
	m->residency = NULL;
	m->pstree = NULL;
	m->core = NULL;
	m->mm = NULL;
	m->fds = NULL;
	m->fd_count = 0;
}

void session_tree_fini(struct session *s)
{
	if (!s->nr_members)
		return;
	session_tree_outcome(s, !s->resumed); /* before the records its sockets point into */
	session_member_park(s);
	for (size_t i = s->nr_members; i-- > 1;)
		session_member_free(&s->members[i]);
	session_member_load(s, 0); /* the root: the session's own fini ends it */
	for (size_t i = 0; i < s->nr_members; i++)
		if (s->members[i].start_ps)
			protobuf_c_message_free_unpacked(&s->members[i].start_ps->base, NULL);
	free(s->members);
	s->members = NULL;
	s->nr_members = 0;
	s->loaded = SESSION_TREE_NONE;
}
