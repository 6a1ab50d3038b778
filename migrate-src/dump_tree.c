/*
 * dump_tree: the processes below the dumped one, read from /proc before
 * anything is touched.
 *
 * Restoring a tree (set_tid clones from the root puppet, sessions and groups
 * in setsid/setpgid order, stopped tasks, zombies) is not there yet, so a
 * process with descendants is refused; the scan comes first so that the
 * refusal names every member and what makes it special (stopped, zombie, own
 * group or session, depth), which is also what the restore will need.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump_internal.h"
#include "err.h"
#include "proc.h"

/* A tree larger than this is refused as such: it would not be restored anyway. */
#define DUMP_TREE_MAX 4096

static int dump_tree_read_stat(pid_t pid, struct dump_tree_member *m)
{
	struct proc_stat st;
	size_t len;
	char *text;
	int r;

	r = proc_read_file(pid, "stat", &text, &len);
	if (r < 0)
		return r;
	r = proc_parse_stat(text, len, &st);
	free(text);
	if (r < 0)
		return r;
	m->pid = pid;
	m->ppid = st.ppid;
	m->pgid = st.pgrp;
	m->sid = st.session;
	m->state = st.state;
	return 0;
}

static int dump_tree_push(struct dump_tree_scan *s, pid_t pid, int depth)
{
	struct dump_tree_member *m;

	if (s->count == DUMP_TREE_MAX)
		return err_setf(-E2BIG, "pid %d has more than %d descendant processes",
				s->members[0].pid, DUMP_TREE_MAX);
	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;

		m = realloc(s->members, cap * sizeof(*m));
		if (!m)
			return err_setf(-ENOMEM, "out of memory");
		s->members = m;
		s->cap = cap;
	}
	m = &s->members[s->count];
	memset(m, 0, sizeof(*m));
	if (dump_tree_read_stat(pid, m) < 0)
		return 0; /* gone meanwhile: not part of the tree any more */
	m->depth = depth;
	s->count++;
	return 0;
}

/* Appends the children of every thread of member i (a thread's children are its process's). */
static int dump_tree_expand(struct dump_tree_scan *s, size_t i)
{
	pid_t pid = s->members[i].pid;
	int depth = s->members[i].depth + 1;
	size_t count;
	int *tids, r;

	r = proc_list_numeric(pid, "task", &tids, &count);
	if (r < 0)
		return 0; /* the process went away (a zombie has no task list to read) */
	for (size_t t = 0; t < count && r == 0; t++) {
		char name[64], *text, *p, *end;
		size_t len;

		snprintf(name, sizeof(name), "task/%d/children", tids[t]);
		if (proc_read_file(pid, name, &text, &len) < 0)
			continue; /* thread gone meanwhile */
		for (p = text; r == 0 && p < text + len; p = end) {
			long child = strtol(p, &end, 10);

			if (end == p) {
				end = p + 1;
				continue;
			}
			r = dump_tree_push(s, (pid_t)child, depth);
		}
		free(text);
	}
	free(tids);
	return r;
}

int dump_tree_scan(pid_t root, struct dump_tree_scan *ret)
{
	int r;

	memset(ret, 0, sizeof(*ret));
	r = dump_tree_push(ret, root, 0);
	if (r == 0 && ret->count == 0)
		r = err_setf(-ESRCH, "pid %d: no such process", root);
	/* Breadth first: members are appended while the loop walks them. */
	for (size_t i = 0; r == 0 && i < ret->count; i++)
		r = dump_tree_expand(ret, i);
	if (r < 0)
		dump_tree_scan_fini(ret);
	return r;
}

void dump_tree_scan_fini(struct dump_tree_scan *s)
{
	free(s->members);
	memset(s, 0, sizeof(*s));
}

/* " 12 (child, stopped)" into buf at *used; what the restore of m would have to do. */
static void dump_tree_describe(const struct dump_tree_scan *s, const struct dump_tree_member *m,
			       char *buf, size_t size, size_t *used)
{
	const struct dump_tree_member *root = &s->members[0];
	char what[160];
	int n;

	n = snprintf(what, sizeof(what), "%s",
		     m->depth == 1 ? "child" : m->depth == 2 ? "grandchild" : "descendant");
	if (m->state == 'Z' || m->state == 'X')
		n += snprintf(what + n, sizeof(what) - (size_t)n, ", zombie");
	else if (m->state == 'T' || m->state == 't')
		n += snprintf(what + n, sizeof(what) - (size_t)n, ", stopped");
	if (m->sid != root->sid)
		n += snprintf(what + n, sizeof(what) - (size_t)n, ", own session %d", m->sid);
	else if (m->pgid != root->pgid)
		snprintf(what + n, sizeof(what) - (size_t)n, ", own process group %d", m->pgid);
	if (*used + 1 >= size)
		return;
	n = snprintf(buf + *used, size - *used, "%s%d (%s)", *used ? ", " : "", m->pid, what);
	if (n > 0)
		*used = *used + (size_t)n < size ? *used + (size_t)n : size - 1;
}

int dump_tree_check(pid_t root)
{
	struct dump_tree_scan s;
	char list[1024] = "";
	size_t used = 0;
	int r;

	r = dump_tree_scan(root, &s);
	if (r < 0)
		return r;
	for (size_t i = 1; i < s.count; i++)
		dump_tree_describe(&s, &s.members[i], list, sizeof(list), &used);
	if (s.count > 1)
		r = err_setf(-ENOTSUP,
			     "pid %d has %zu descendant processes (pids %s): process trees are not supported yet",
			     root, s.count - 1, list);
	dump_tree_scan_fini(&s);
	return r;
}
