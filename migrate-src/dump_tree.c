/*
 * dump_tree: the processes below the dumped one, read from /proc before
 * anything is touched, then frozen and released together.
 *
 * `migrate dump` and live migration (agent_tree.c) take the whole tree: dump_tree_precheck
 * checks every member before anything is touched, dump_tree_seize freezes them (the agent: for
 * its freeze window; its tracker start and pre-copy seize one member at a time), and
 * dump_tree_after or dump_tree_resume let them go.
 *
 * Freezing a tree that runs: members are seized parents first; a stopped parent forks no
 * more, so once every member is seized a rescan that finds the same tree is final. A child
 * forked in between shows up in the rescan and is checked and seized in turn; a member that
 * is gone (exited, or a zombie reaped meanwhile) fails the dump, which resumes everyone.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dump.h"
#include "dump_internal.h"
#include "err.h"
#include "log.h"
#include "proc.h"

/* Rescans after seizing before giving up on a tree that keeps forking. */
#define DUMP_TREE_SEIZE_ROUNDS 16

/* A tree larger than this is refused as such: it would not be restored anyway. */
#define DUMP_TREE_MAX 4096

static int dump_tree_read_stat(pid_t pid, struct dump_tree_member *m)
{
	struct proc_stat st;
	int r = proc_read_stat(pid, &st);

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

/* ---- the whole tree ---- */

static struct dump_proc *dump_tree_find(struct dump_tree *tree, pid_t pid)
{
	for (size_t i = 0; i < tree->count; i++)
		if (tree->procs[i].pid == pid)
			return &tree->procs[i];
	return NULL;
}

/* A zombie keeps only its exit status (its exit code, or the signal that killed it; a core
 * dump is not made again). 1 when it is gone already. */
static int dump_tree_zombie(struct dump_proc *proc, pid_t pid)
{
	struct proc_stat st;
	int r = proc_read_stat(pid, &st);

	if (r == -EINVAL)
		return r;
	if (r < 0)
		return 1; /* reaped by its parent, not frozen yet: no longer in the tree */
	proc->zombie = true;
	if (WIFSIGNALED(st.exit_code))
		proc->term_signal = WTERMSIG(st.exit_code);
	else
		proc->exit_code = WEXITSTATUS(st.exit_code);
	snprintf(proc->comm, sizeof(proc->comm), "%s", st.comm);
	return 0;
}

/* PF_EXITING of the flags of /proc/PID/stat (include/linux/sched.h). */
#define DUMP_TREE_PF_EXITING 0x4

/* The state letter of pid ('Z' zombie...), 0 when it is gone, '?' when unreadable. */
static char dump_tree_state(pid_t pid, uint64_t *ret_flags)
{
	struct proc_stat st;
	int r = proc_read_stat(pid, &st);

	if (r == -ENOENT || r == -ESRCH)
		return 0;
	if (r < 0)
		return '?';
	if (ret_flags)
		*ret_flags = st.flags;
	return st.state;
}

/* A member (not the root) that a check or the seize failed on, maybe because it exited
 * meanwhile: a zombie now (or an exiting process, soon one) is recorded as a zombie, the
 * threads seized if any let go (the exit is its parent's to see); 1 when it is gone
 * altogether; else r. */
static int dump_tree_settle(struct dump_proc *proc, int r)
{
	struct dump_proc id = { .pid = proc->pid, .ppid = proc->ppid, .pgid = proc->pgid,
				.sid = proc->sid };
	uint64_t flags = 0;
	char state = dump_tree_state(proc->pid, &flags);

	if (!state)
		return 1;
	if (state != 'Z' && state != 'X' && !(flags & DUMP_TREE_PF_EXITING))
		return r;
	dump_resume(proc);
	dump_proc_fini(proc);
	*proc = id;
	for (int i = 0; i < 1000 && dump_tree_state(proc->pid, NULL) != 'Z'; i++)
		usleep(1000); /* exiting: a zombie soon */
	log_debug("dump: pid %d exited while the tree was being frozen: a zombie now",
		  proc->pid);
	return dump_tree_zombie(proc, proc->pid);
}

/* Appends member m to the tree and checks it (nothing touched); a member that exited since
 * the scan is recorded as a zombie, or left out once reaped. */
static int dump_tree_add(const struct dump_opts *opts, struct dump_tree *tree, size_t *cap,
			 const struct dump_tree_member *m)
{
	struct dump_proc *proc;
	int r;

	if (tree->count == *cap) {
		size_t n = *cap ? *cap * 2 : 8;

		proc = realloc(tree->procs, n * sizeof(*proc));
		if (!proc)
			return err_setf(-ENOMEM, "out of memory");
		tree->procs = proc;
		*cap = n;
	}
	proc = &tree->procs[tree->count++];
	*proc = (struct dump_proc){ .pid = m->pid, .ppid = tree->count == 1 ? 0 : m->ppid,
				    .pgid = m->pgid, .sid = m->sid };
	if ((m->state == 'Z' || m->state == 'X') && tree->count == 1)
		return err_setf(-ESRCH, "pid %d is a zombie: nothing left to dump", m->pid);
	if (m->state == 'Z' || m->state == 'X') {
		r = dump_tree_zombie(proc, m->pid);
	} else {
		r = dump_check_member(opts, proc);
		if (r < 0 && tree->count > 1)
			r = dump_tree_settle(proc, r);
	}
	if (r == 1) { /* exited and reaped since the scan: no longer in the tree */
		dump_proc_fini(proc);
		tree->count--;
		r = 0;
	}
	return r;
}

/* The fds dump_check_member kept: dump_collect_state reads them again once frozen. */
static void dump_tree_drop_fds(struct dump_tree *tree)
{
	for (size_t i = 0; i < tree->count; i++) {
		dump_files_free(tree->procs[i].fds, tree->procs[i].nr_fds);
		tree->procs[i].fds = NULL;
		tree->procs[i].nr_fds = 0;
	}
}

/* Adds the members of s that the tree does not hold yet; *ret_added counts them. */
static int dump_tree_merge(const struct dump_opts *opts, struct dump_tree *tree, size_t *cap,
			   const struct dump_tree_scan *s, size_t *ret_added)
{
	int r = 0;

	*ret_added = 0;
	for (size_t i = 0; r == 0 && i < s->count; i++) {
		if (dump_tree_find(tree, s->members[i].pid))
			continue;
		r = dump_tree_add(opts, tree, cap, &s->members[i]);
		(*ret_added)++;
	}
	return r;
}

int dump_tree_precheck(const struct dump_opts *opts, struct dump_tree *ret)
{
	struct dump_tree_scan s;
	size_t cap = 0, added;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (geteuid() != 0)
		return err_setf(-EPERM, "must run as root");
	dump_fd_pipe_set_tree(true);
	dump_fd_pty_set_tree(opts->pid);
	r = dump_tree_scan(opts->pid, &s);
	if (r < 0)
		return r;
	r = dump_tree_merge(opts, ret, &cap, &s, &added);
	dump_tree_scan_fini(&s);
	if (r == 0)
		r = dump_fd_pipe_check_tree(ret);
	if (r == 0)
		r = dump_fd_pty_check_tree(ret);
	dump_tree_drop_fds(ret);
	if (r == 0 && ret->count > 1)
		log_debug("dump: pid %d: a tree of %zu processes", opts->pid, ret->count);
	return r;
}

/* Removes member i (not the root) from the tree. */
static void dump_tree_remove(struct dump_tree *tree, size_t i)
{
	log_debug("dump: pid %d left the tree before it was frozen", tree->procs[i].pid);
	dump_proc_fini(&tree->procs[i]);
	memmove(&tree->procs[i], &tree->procs[i + 1],
		(tree->count - i - 1) * sizeof(tree->procs[0]));
	tree->count--;
}

/* The members of s against the tree: each must still be there, with the same parent, and a
 * live one still alive (a zombie reaped meanwhile leaves the tree). */
static int dump_tree_compare(struct dump_tree *tree, const struct dump_tree_scan *s)
{
	for (size_t i = 0; i < tree->count; i++) {
		const struct dump_proc *proc = &tree->procs[i];
		const struct dump_tree_member *m = NULL;

		for (size_t j = 0; j < s->count && !m; j++)
			if (s->members[j].pid == proc->pid)
				m = &s->members[j];
		/* A zombie reaped by its parent before the parent was frozen. */
		if (!m && proc->zombie && i > 0) {
			dump_tree_remove(tree, i--);
			continue;
		}
		if (!m || (i > 0 && m->ppid != proc->ppid))
			return err_setf(-EAGAIN, "pid %d left the tree of pid %d while it was being "
					"frozen: retry the dump", proc->pid, tree->procs[0].pid);
		if (!proc->zombie && (m->state == 'Z' || m->state == 'X'))
			return err_setf(-EAGAIN, "pid %d of the tree of pid %d exited while it was "
					"being frozen: retry the dump", proc->pid, tree->procs[0].pid);
	}
	return 0;
}

int dump_tree_seize(const struct dump_opts *opts, struct dump_tree *tree)
{
	size_t cap = tree->count, added = 1;
	int r = 0;

	for (int round = 0; r == 0 && added; round++) {
		struct dump_tree_scan s;

		if (round == DUMP_TREE_SEIZE_ROUNDS)
			return err_setf(-EAGAIN, "the tree of pid %d kept changing while it was being "
					"frozen: retry the dump", tree->procs[0].pid);
		for (size_t i = 0; r == 0 && i < tree->count; i++) {
			if (tree->procs[i].zombie || tree->procs[i].nr_threads)
				continue;
			r = dump_seize(&tree->procs[i]);
			if (r < 0 && i > 0)
				r = dump_tree_settle(&tree->procs[i], r);
			if (r == 1) { /* reaped by its parent before the parent was frozen */
				dump_tree_remove(tree, i--);
				r = 0;
			}
		}
		if (r < 0)
			return r;
		r = dump_tree_scan(tree->procs[0].pid, &s);
		if (r < 0)
			return r;
		r = dump_tree_compare(tree, &s);
		if (r == 0)
			r = dump_tree_merge(opts, tree, &cap, &s, &added);
		dump_tree_scan_fini(&s);
		dump_tree_drop_fds(tree); /* pipes are checked again once all is collected */
	}
	return r;
}

/* Children first: a parent let go first could reap or signal a child still held. */
void dump_tree_resume(struct dump_tree *tree)
{
	for (size_t i = tree->count; i-- > 0;)
		if (!tree->procs[i].zombie)
			dump_resume(&tree->procs[i]);
}

void dump_tree_after(const struct dump_opts *opts, struct dump_tree *tree)
{
	for (size_t i = tree->count; i-- > 0;)
		if (!tree->procs[i].zombie)
			dump_after(opts, &tree->procs[i]);
}

void dump_tree_fini(struct dump_tree *tree)
{
	for (size_t i = 0; i < tree->count; i++)
		dump_proc_fini(&tree->procs[i]);
	free(tree->procs);
	memset(tree, 0, sizeof(*tree));
}
