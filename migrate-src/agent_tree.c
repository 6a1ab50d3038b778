/*
 * agent_tree: `migrate --to` for a process with descendants: the members of the tree, the
 * pstree entries Start announces, and the check at the freeze that the tree is still the one
 * announced (agent_internal.h says why it must be).
 *
 * The tree is checked as `migrate dump` checks it (dump_tree_precheck: every member, nothing
 * touched). Every member's inet sockets travel (agent_net.c). A tree with an IPC namespace of
 * its own travels with it when every member shares the root's: the inventory of Start says
 * so, and the destination unshares it in the root before it forks the others.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "err.h"
#include "log.h"
#include "proc.h"

bool agent_tree_gone(pid_t pid)
{
	struct proc_stat st;
	int r = proc_read_stat(pid, &st);

	if (r < 0)
		return r == -ENOENT || r == -ESRCH;
	return st.state == 'Z' || st.state == 'X';
}

int agent_tree_prepare(struct agent *a)
{
	struct dump_tree *t = &a->tree;

	/* Start's inventory says whether the tree has its own IPC namespace: the destination
	 * unshares it in the root before it forks the others (session_tree.c). */
	if (t->count > 1 && dump_ipc_own_ns(a->opts->pid)) {
		int r = dump_ipc_check_tree(t);

		if (r < 0)
			return r;
	}
	/* The members' inet sockets are the network handover's (agent_net_prepare). */
	a->members = calloc(t->count, sizeof(*a->members));
	if (!a->members)
		return err_setf(-ENOMEM, "out of memory");
	a->nr_members = t->count;
	a->rep->processes = (unsigned int)t->count;
	for (size_t i = 0; i < t->count; i++) {
		a->members[i].pid = t->procs[i].pid;
		a->members[i].zombie = t->procs[i].zombie;
	}
	if (t->count > 1)
		log_info("pid %d: a tree of %zu processes", a->opts->pid, t->count);
	return 0;
}

/* The entry of live member p from /proc now (its threads), as dump_pstree_fill makes it. */
static int agent_tree_entry(const struct dump_proc *p, PstreeEntry *ps)
{
	struct dump_proc tmp = *p;
	uint32_t *tids;
	size_t count = 0;
	int *list = NULL, r = 0;

	if (!p->zombie) {
		r = proc_list_numeric(p->pid, "task", &list, &count);
		if (r < 0)
			return err_setf(r == -ENOENT ? -ESRCH : r,
					"cannot list the threads of pid %d: %s", p->pid,
					strerror(-r));
	}
	tmp.threads = calloc(count + 1, sizeof(*tmp.threads));
	tids = calloc(count + 2, sizeof(*tids));
	if (!tmp.threads || !tids) {
		free(list);
		free(tmp.threads);
		free(tids);
		return err_setf(-ENOMEM, "out of memory");
	}
	tmp.nr_threads = 0;
	tmp.threads[tmp.nr_threads++].tid = p->pid; /* the main thread first */
	for (size_t i = 0; i < count; i++)
		if (list[i] != p->pid)
			tmp.threads[tmp.nr_threads++].tid = list[i];
	free(list);
	dump_pstree_fill(ps, &tmp, tids);
	/* Owned copies: the entry outlives tmp (freed by agent_tree_start_free). */
	ps->comm = p->zombie ? strdup(p->comm) : NULL;
	free(tmp.threads);
	if (p->zombie && !ps->comm) {
		free(tids);
		return err_setf(-ENOMEM, "out of memory");
	}
	return 0;
}

int agent_tree_start_entries(struct agent *a, PstreeEntry ***ret, size_t *ret_n)
{
	size_t n = a->tree.count - 1;
	PstreeEntry **ps = calloc(n + 1, sizeof(*ps));
	int r = 0;

	if (!ps)
		return err_setf(-ENOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < n; i++) {
		ps[i] = calloc(1, sizeof(*ps[i]));
		r = ps[i] ? agent_tree_entry(&a->tree.procs[i + 1], ps[i])
			  : err_setf(-ENOMEM, "out of memory");
		if (r < 0) {
			free(ps[i]);
			ps[i] = NULL;
		}
	}
	if (r < 0) {
		agent_tree_start_free(ps, n);
		return r;
	}
	*ret = ps;
	*ret_n = n;
	return 0;
}

void agent_tree_start_free(PstreeEntry **ps, size_t n)
{
	for (size_t i = 0; ps && i < n; i++) {
		if (!ps[i])
			continue;
		free(ps[i]->threads);
		free(ps[i]->comm);
		free(ps[i]);
	}
	free(ps);
}

struct agent_member *agent_tree_member(struct agent *a, pid_t pid)
{
	for (size_t i = 0; i < a->nr_members; i++)
		if (a->members[i].pid == pid)
			return &a->members[i];
	return NULL;
}

int agent_tree_same(struct agent *a)
{
	const struct dump_tree *t = &a->tree;

	a->tree_changed = true; /* until proved otherwise */

	for (size_t i = 0; i < t->count; i++) {
		const struct dump_proc *p = &t->procs[i];
		struct agent_member *m = agent_tree_member(a, p->pid);

		if (!m)
			return err_setf(-EAGAIN,
					"pid %d appeared in the tree of pid %d (child of pid %d) "
					"during pre-copy: the destination can only make the "
					"processes announced at the start; nothing was changed, "
					"retry",
					p->pid, a->opts->pid, p->ppid);
		if (p->zombie != m->zombie)
			return err_setf(-EAGAIN,
					"pid %d of the tree of pid %d exited during pre-copy: "
					"nothing was changed, retry",
					p->pid, a->opts->pid);
	}
	for (size_t i = 0; i < a->nr_members; i++) {
		bool found = false;

		for (size_t j = 0; j < t->count && !found; j++)
			found = t->procs[j].pid == a->members[i].pid;
		if (!found)
			return err_setf(-EAGAIN,
					"pid %d left the tree of pid %d during pre-copy: nothing "
					"was changed, retry",
					a->members[i].pid, a->opts->pid);
	}
	a->tree_changed = false;
	return 0;
}

int agent_tree_explain(struct agent *a, int r)
{
	if (a->tree_changed || r == -EINTR)
		return r;
	for (size_t i = 1; i < a->nr_members; i++) {
		if (a->members[i].zombie || !agent_tree_gone(a->members[i].pid))
			continue;
		a->tree_changed = true;
		return dump_err_wrap(-EAGAIN, "pid %d of the tree of pid %d exited during the "
				     "migration: nothing was changed, retry", a->members[i].pid,
				     a->opts->pid);
	}
	return r;
}

void agent_tree_fini(struct agent *a)
{
	for (size_t i = 0; i < a->nr_members; i++) {
		track_stop(a->members[i].track);
		track_ranges_free(&a->members[i].pending);
		track_ranges_free(&a->members[i].only);
		track_ranges_free(&a->members[i].res);
	}
	free(a->members);
	a->members = NULL;
	a->nr_members = 0;
	dump_tree_fini(&a->tree);
}
