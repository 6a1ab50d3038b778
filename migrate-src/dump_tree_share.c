/*
 * dump_tree_share: open file descriptions held by several processes of a frozen tree.
 *
 * An fd inherited across fork is the same description in parent and child: one offset, one
 * set of status flags. Restoring each fd by opening its path again would split them, so the
 * fds that kcmp(KCMP_FILE) finds equal get one FdEntry.shared_id, and the restore opens the
 * description once and hands it to the other holders. Only fds of the same inode are
 * compared. Pipes are left out: the restore makes each pipe once and installs its ends
 * wherever they were, which shares them already. So are epolls (see share_same). Unix
 * sockets and FIFOs are shared descriptions too; their restore also finds the ends or paths
 * that no earlier holder has (restore_fd_unix.c, restore_fd_fifo.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dump_internal.h"
#include "err.h"
#include "log.h"
#include "proc.h"

#define KCMP_FILE_TYPE 0 /* KCMP_FILE of linux/kcmp.h */

/* 1 when fd a of pid pa and fd b of pid pb are one open file description, 0 when not. */
static int share_same(pid_t pa, const FdEntry *a, pid_t pb, const FdEntry *b)
{
	long r;

	/* An epoll's registrations name fds of one process: each holder keeps its own. An inet
	 * socket is shared like any description: a listener inherited by workers (nginx) cannot
	 * be bound twice, nor a connection made twice; made once, the others take it. */
	if (a->kind == FD_KIND__FD_EPOLL)
		return 0;
	if (a->kind != b->kind || a->kind == FD_KIND__FD_PIPE || !a->has_ino || !b->has_ino ||
	    a->ino != b->ino || (a->has_dev && b->has_dev && a->dev != b->dev))
		return 0;
	r = syscall(SYS_kcmp, pa, pb, KCMP_FILE_TYPE, a->fd, b->fd);
	if (r < 0)
		return err_setf(-errno, "cannot compare fd %u of pid %d with fd %u of pid %d "
				"(kcmp): %s", a->fd, pa, b->fd, pb, strerror(errno));
	return r == 0;
}

/* Gives id to every fd of the processes after proc i that is e's description; 1 if any. */
static int share_mark(struct dump_tree *tree, size_t i, FdEntry *e, uint32_t id)
{
	int found = 0;

	for (size_t j = i + 1; j < tree->count; j++) {
		struct dump_proc *other = &tree->procs[j];

		for (size_t k = 0; k < other->nr_fds; k++) {
			FdEntry *f = other->fds[k];
			int r;

			if (f->has_shared_id)
				continue;
			r = share_same(tree->procs[i].pid, e, other->pid, f);
			if (r < 0)
				return r;
			if (r == 0)
				continue;
			f->has_shared_id = true;
			f->shared_id = id;
			found = 1;
		}
	}
	return found;
}

int dump_tree_share_fds(struct dump_tree *tree)
{
	uint32_t next = 1;
	int pty = dump_fd_pty_check_tree(tree); /* pty pairs split between members */

	if (pty < 0)
		return pty;

	for (size_t i = 0; i < tree->count; i++) {
		struct dump_proc *proc = &tree->procs[i];

		for (size_t k = 0; k < proc->nr_fds; k++) {
			FdEntry *e = proc->fds[k];
			int r;

			if (e->has_shared_id)
				continue;
			r = share_mark(tree, i, e, next);
			if (r < 0)
				return r;
			if (r == 0)
				continue;
			e->has_shared_id = true;
			e->shared_id = next++;
			log_debug("dump: fd %u of pid %d is shared in the tree (id %u)", e->fd,
				  proc->pid, e->shared_id);
		}
	}
	return 0;
}

/* ---- shared anonymous memory ---- */

/* dev and ino of the object behind shared anonymous mapping e of pid (map_files). */
static int share_mem_stat(pid_t pid, VmaEntry *e)
{
	char path[96];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)e->start, (unsigned long long)e->end);
	if (stat(path, &st) < 0)
		return err_setf(-errno, "pid %d: cannot stat the object of shared mapping "
				"%llx-%llx: %m", pid, (unsigned long long)e->start,
				(unsigned long long)e->end);
	e->has_dev = e->has_ino = true;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	return 0;
}

int dump_tree_share_mem(struct dump_tree *tree)
{
	int r = 0;

	if (tree->count < 2)
		return 0; /* nothing to share: the images stay as for one process */
	for (size_t i = 0; r == 0 && i < tree->count; i++) {
		struct dump_proc *proc = &tree->procs[i];

		for (size_t k = 0; r == 0 && !proc->zombie && k < proc->mm->n_vmas; k++)
			if (proc->mm->vmas[k]->kind == VMA_KIND__VMA_ANON_SHARED)
				r = share_mem_stat(proc->pid, proc->mm->vmas[k]);
	}
	/* memfds and deleted files: carried by dev/ino already (dump_mm_ghost.c) */
	if (r == 0)
		dump_mm_ghost_mark_shared(tree);
	return r;
}
