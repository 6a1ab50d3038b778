/*
 * restore_tree: the processes of an image, each created as the child of its restored parent.
 *
 *	root: restore_proc_create (our child) → its session and group
 *	each other process, parents first: forked by its parent's puppet while the parent is
 *	still bare (restore_proc_create_child) → setsid if it leads a session, setpgid(0, 0) if
 *	it leads a group: its own children, forked later, inherit both
 *	→ the other members join their groups (leaders exist by then)
 *	→ zombies exit with their exit code, left unreaped for their parent
 *
 * Then every live process goes through set_layout/write_pages/finish (restore.c). A session
 * is rebuilt only by setsid in its leader before the leader forks, so a member keeps its
 * parent's session or leads its own (image_set_load refuses anything else); a group must be
 * led by a member of the same session, or be the root's group (outside the tree, where the
 * root itself goes: our group, or its own with --shell-job).
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "err.h"
#include "restore_fd_unix.h"
#include "log.h"

bool restore_tree_is_zombie(const struct image_task *t)
{
	return t->pstree->has_zombie && t->pstree->zombie;
}

static const PstreeEntry *tree_find(const struct image_set *set, uint32_t pid, size_t *ret_i)
{
	for (size_t i = 0; i < set->task_count; i++) {
		if (set->tasks[i].pstree->pid == pid) {
			if (ret_i)
				*ret_i = i;
			return set->tasks[i].pstree;
		}
	}
	return NULL;
}

int restore_tree_check(const struct image_set *set, const struct restore_opts *opts)
{
	const PstreeEntry *root = set->tasks[0].pstree;

	(void)opts;
	if (restore_fd_pty_tree_check(set, opts) < 0) /* controlling terminals of sessions */
		return -ENOTSUP;
	for (size_t i = 1; i < set->task_count; i++) {
		const PstreeEntry *ps = set->tasks[i].pstree, *leader;
		size_t pi;

		if (tree_find(set, ps->ppid, &pi) && restore_tree_is_zombie(&set->tasks[pi]))
			return log_error_errno(-EINVAL, "pid %u: its parent %u is a zombie: the "
					       "image is damaged", ps->pid, ps->ppid);
		if (ps->pgid == ps->pid || (ps->pgid == root->pgid && ps->sid == root->sid))
			continue;
		leader = tree_find(set, ps->pgid, NULL);
		if (!leader || leader->pgid != leader->pid)
			return log_error_errno(-ENOTSUP, "pid %u: its process group %u is led by a "
					       "process outside the tree (or one that exited): it "
					       "cannot be rebuilt", ps->pid, ps->pgid);
		if (leader->sid != ps->sid)
			return log_error_errno(-ENOTSUP, "pid %u: its process group %u belongs to "
					       "session %u, not to its own session %u: it cannot be "
					       "rebuilt", ps->pid, ps->pgid, leader->sid, ps->sid);
	}
	return 0;
}

/* A member joins the group of another member, or the root's (wherever the root went). */
static int tree_join_group(struct restore_proc *root, struct restore_proc *p,
			   const PstreeEntry *root_ps)
{
	pid_t want = p->pgid;

	if (p->pgid == p->pid)
		return 0;
	if ((uint32_t)p->pgid == root_ps->pgid)
		want = getpgid(root->pid);
	if (getpgid(p->pid) == want)
		return 0;
	return restore_call(&p->puppets[0], "setpgid (join a group)", NULL, SYS_setpgid, 0,
			    (uint64_t)want, 0, 0, 0, 0);
}

static int tree_create_members(const struct image_set *set, const struct restore_opts *opts,
			       struct restore_proc **procs)
{
	int r = 0;

	for (size_t i = 1; r == 0 && i < set->task_count; i++) {
		const PstreeEntry *ps = set->tasks[i].pstree;
		size_t pi;

		if (!tree_find(set, ps->ppid, &pi) || pi >= i || !procs[pi])
			return log_error_errno(-EINVAL, "pid %u: its parent %u is not restored "
					       "before it", ps->pid, ps->ppid);
		r = restore_proc_create_child(procs[pi], ps, opts, &procs[i]);
		if (r == 0)
			r = restore_files_session(procs[i]);
		if (r == 0) /* a pty as its terminal: before it forks, for its children to inherit */
			r = restore_fd_pty_session(procs[i], set);
	}
	return r;
}

int restore_tree_create(const struct image_set *set, const struct restore_opts *opts,
			struct restore_proc **procs)
{
	int r = 0;

	/* Every PID free before anything is made (each is checked again as it is made). */
	for (size_t i = 1; r == 0 && i < set->task_count; i++)
		r = restore_proc_check_ids(set->tasks[i].pstree, opts);
	if (r == 0)
		r = restore_proc_create(set->tasks[0].pstree, opts, &procs[0]);
	if (r == 0)
		r = restore_files_session(procs[0]);
	if (r == 0)
		r = restore_fd_pty_session(procs[0], set);
	if (r == 0)
		r = tree_create_members(set, opts, procs);
	for (size_t i = 1; r == 0 && i < set->task_count; i++)
		r = tree_join_group(procs[0], procs[i], set->tasks[0].pstree);
	for (size_t i = 1; r == 0 && i < set->task_count; i++) {
		const PstreeEntry *ps = set->tasks[i].pstree;

		if (restore_tree_is_zombie(&set->tasks[i]))
			r = restore_proc_zombie(procs[i], ps);
	}
	return r;
}

void restore_tree_free(struct restore_proc **procs, size_t count)
{
	for (size_t i = count; i-- > 0;) {
		restore_proc_free(procs[i]);
		procs[i] = NULL;
	}
}

/* ---- what the processes share ---- */

/* The first fd of the tree (pstree order, then image order) with shared id, before task
 * limit; NULL if none. */
static const FdEntry *tree_first_holder(const struct image_set *set, size_t limit, uint32_t id,
					pid_t *ret_pid)
{
	for (size_t i = 0; i < limit; i++) {
		const struct image_task *t = &set->tasks[i];

		for (size_t k = 0; !restore_tree_is_zombie(t) && k < t->fd_count; k++) {
			if (t->fds[k]->has_shared_id && t->fds[k]->shared_id == id) {
				*ret_pid = (pid_t)t->pstree->pid;
				return t->fds[k];
			}
		}
	}
	return NULL;
}

bool restore_tree_fd_is_copy(const struct restore_proc *p, const FdEntry *e)
{
	pid_t pid;

	if (!p->tree || !e->has_shared_id || e->kind == FD_KIND__FD_PIPE)
		return false;
	return tree_first_holder(p->tree->set, p->tree_index, e->shared_id, &pid) != NULL;
}

/* The holder is our tracee: pidfd_getfd on it needs nothing more than what we have. */
int restore_tree_fd_copy(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	const FdEntry *first;
	int pidfd, copy, r;
	pid_t holder;

	first = tree_first_holder(p->tree->set, p->tree_index, e->shared_id, &holder);
	if (!first)
		return log_error_errno(-EINVAL, "pid %d: fd %u: no earlier holder", p->pid, e->fd);
	pidfd = (int)syscall(SYS_pidfd_open, holder, 0);
	if (pidfd < 0)
		return log_error_errno(-errno, "pid %d: fd %u: cannot open pid %d: %m", p->pid,
				       e->fd, holder);
	copy = (int)syscall(SYS_pidfd_getfd, pidfd, first->fd, 0);
	r = copy < 0 ? -errno : 0;
	close(pidfd);
	if (r < 0)
		return log_error_errno(r, "pid %d: fd %u: cannot take fd %u of pid %d, which "
				       "shares it: %s", p->pid, e->fd, first->fd, holder,
				       strerror(-r));
	r = puppet_install_fd(pp, copy, (int)e->fd, e->cloexec || (e->flags & O_CLOEXEC));
	close(copy);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot put the description of fd %u of pid %d "
				       "at fd %u: %s", p->pid, first->fd, holder, e->fd,
				       err_detail());
	log_debug("pid %d: fd %u shares fd %u of pid %d", p->pid, e->fd, first->fd, holder);
	return 0;
}

const struct restore_tree_pipe *restore_tree_pipe_find(const struct restore_tree_ctx *c,
						       uint64_t ino)
{
	for (size_t i = 0; c && i < c->nr_pipes; i++)
		if (c->pipes[i].ino == ino)
			return &c->pipes[i];
	return NULL;
}

int restore_tree_pipe_keep(struct restore_tree_ctx *c, uint64_t ino, const int ends[2])
{
	int copy[2];

	if (c->nr_pipes == c->cap_pipes) {
		size_t n = c->cap_pipes ? c->cap_pipes * 2 : 8;
		struct restore_tree_pipe *v = realloc(c->pipes, n * sizeof(*v));

		if (!v)
			return log_error_errno(-ENOMEM, "pipes of the tree");
		c->pipes = v;
		c->cap_pipes = n;
	}
	copy[0] = fcntl(ends[0], F_DUPFD_CLOEXEC, 3);
	copy[1] = copy[0] < 0 ? -1 : fcntl(ends[1], F_DUPFD_CLOEXEC, 3);
	if (copy[1] < 0) {
		if (copy[0] >= 0)
			close(copy[0]);
		return log_error_errno(-errno, "cannot keep a pipe of the tree: %m");
	}
	c->pipes[c->nr_pipes++] = (struct restore_tree_pipe){ ino, { copy[0], copy[1] } };
	return 0;
}

void restore_tree_ctx_fini(struct restore_tree_ctx *c)
{
	restore_fd_pty_tree_fini();
	restore_fd_unix_tree_fini(c, false); /* the unix sockets of the tree (restore_fd_unix.h) */
	for (size_t i = 0; i < c->nr_pipes; i++) {
		close(c->pipes[i].ends[0]);
		close(c->pipes[i].ends[1]);
	}
	free(c->pipes);
	c->pipes = NULL;
	c->nr_pipes = c->cap_pipes = 0;
}

/* ---- shared anonymous memory ---- */

/* The first shared anonymous mapping of the object (dev, ino) in a process before limit. */
static const VmaEntry *tree_first_mapping(const struct image_set *set, size_t limit,
					  const VmaEntry *v, pid_t *ret_pid)
{
	for (size_t i = 0; i < limit; i++) {
		const struct image_task *t = &set->tasks[i];

		for (size_t k = 0; !restore_tree_is_zombie(t) && k < t->mm->n_vmas; k++) {
			const VmaEntry *u = t->mm->vmas[k];

			if (u->kind == VMA_KIND__VMA_ANON_SHARED && u->has_ino && u->ino == v->ino &&
			    u->dev == v->dev) {
				*ret_pid = (pid_t)t->pstree->pid;
				return u;
			}
		}
	}
	return NULL;
}

/* v of p maps, instead of its own new object, the one u of holder maps (restored already):
 * the part of it at v's offset, which must lie inside what u maps (the restored object
 * holds only that). */
static int tree_map_shared(struct restore_proc *p, const VmaEntry *v, pid_t holder,
			   const VmaEntry *u)
{
	struct puppet *pp = &p->puppets[0];
	uint64_t len = v->end - v->start;
	char path[96];
	int fd, r;

	if (v->pgoff < u->pgoff || v->pgoff - u->pgoff + len > u->end - u->start)
		return log_error_errno(-ENOTSUP, "pid %d: mapping %llx-%llx shares memory with "
				       "pid %d beyond what that one maps (%llx-%llx): it cannot be "
				       "rebuilt", p->pid, (unsigned long long)v->start,
				       (unsigned long long)v->end, holder,
				       (unsigned long long)u->start, (unsigned long long)u->end);
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", holder,
		 (unsigned long long)u->start, (unsigned long long)u->end);
	r = restore_remote_open(pp, path, O_RDWR | O_CLOEXEC, &fd);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot open the memory it shares with pid %d "
				       "(%s): %s", p->pid, holder, path, strerror(-r));
	r = restore_call(pp, "mmap (shared with the tree)", NULL, SYS_mmap, v->start, len,
			 v->prot, MAP_SHARED | MAP_FIXED | (v->flags & MAP_NORESERVE), (uint64_t)fd,
			 v->pgoff - u->pgoff);
	if (restore_call(pp, "close", NULL, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0) < 0 && r == 0)
		r = -EIO;
	if (r == 0)
		log_debug("pid %d: mapping %llx-%llx shares the memory of pid %d", p->pid,
			  (unsigned long long)v->start, (unsigned long long)v->end, holder);
	return r;
}

int restore_tree_share_mem(struct restore_proc *p, const struct image_task *t)
{
	int r = 0;

	for (size_t k = 0; r == 0 && p->tree && k < t->mm->n_vmas; k++) {
		const VmaEntry *v = t->mm->vmas[k], *u;
		pid_t holder;

		if (v->kind != VMA_KIND__VMA_ANON_SHARED || !v->has_ino)
			continue;
		u = tree_first_mapping(p->tree->set, p->tree_index, v, &holder);
		if (u)
			r = tree_map_shared(p, v, holder, u);
	}
	return r;
}
