/*
 * restore: `migrate restore` from an image directory, by the stages of restore_proc.c.
 *
 * Nothing changes outside us until restore_proc_create: the images and the files they need
 * are all checked first. After it, the one undo is restore_proc_abort (kill and reap).
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "netlock.h"
#include "restore_fd_unix.h"
#include "restore_net.h"
#include "tcp_repair.h"

#define PAGE_CHUNK (8U << 20)

static void phase_done(const char *phase, uint64_t *t0)
{
	uint64_t t1 = restore_now_ns();

	log_debug("restore: %s took %.3f ms", phase, (double)(t1 - *t0) / 1e6);
	*t0 = t1;
}

/* ---- files the image needs ---- */

/* An established connection is restored only when asked, as CRIU does: the user says that
 * the peer is still there and that the connection's address is ours again. */
static int check_socket_entry(const struct restore_opts *opts, const FdEntry *e)
{
	int r;

	if (!e->inet)
		return log_error_errno(-EINVAL, "fd %u is a socket without its state", e->fd);
	r = tcp_repair_entry_check(e->inet);
	if (r < 0)
		return log_error_errno(r, "fd %u: %s", e->fd, err_detail());
	if (e->inet->protocol == IPPROTO_TCP && e->inet->state == 1 && !opts->tcp_established)
		return log_error_errno(-EPERM, "fd %u is an established TCP connection (local port "
				       "%u, peer port %u): restore it with --tcp-established",
				       e->fd, e->inet->src_port, e->inet->dst_port);
	return 0;
}

static int check_fd_entry(const struct restore_opts *opts, const FdEntry *e)
{
	struct stat st;

	if (e->kind == FD_KIND__FD_INET_SOCKET)
		return check_socket_entry(opts, e);
	if (restore_fd_event_is(e))
		return 0; /* made anew from the image alone */
	if (restore_fd_unix_is(e))
		return restore_fd_unix_check(e);
	if (restore_fd_pipe_is(e) || restore_fd_ghost_is(e))
		return 0; /* made anew from the image alone */
	if (restore_fd_fifo_is(e))
		return restore_fd_fifo_check(e);
	if (restore_fd_pty_is(e))
		return restore_fd_pty_check(e);
	if (e->kind == FD_KIND__FD_TTY) {
		if (!opts->shell_job)
			return log_error_errno(-EINVAL, "fd %u is the terminal %s: restore it with "
					       "--shell-job", e->fd, e->path);
		if (restore_tty_fd() < 0)
			return log_error_errno(-ENOTTY, "fd %u is a terminal, but restore has none "
					       "on its stdin/stdout/stderr", e->fd);
		return 0;
	}
	if (stat(e->path, &st) < 0)
		return log_error_errno(-errno, "fd %u: file %s is missing", e->fd, e->path);
	if (e->kind == FD_KIND__FD_DEVNULL)
		return 0;
	if ((e->has_dev && e->dev != st.st_dev) || (e->has_ino && e->ino != st.st_ino))
		return log_error_errno(-ESTALE, "file %s changed since the dump (inode %llu, now "
				       "%llu): restore refused", e->path,
				       (unsigned long long)e->ino, (unsigned long long)st.st_ino);
	if (e->has_size && S_ISREG(st.st_mode) && e->size != (uint64_t)st.st_size)
		log_warn("file %s (fd %u) changed size since the dump (%llu, now %llu)", e->path,
			 e->fd, (unsigned long long)e->size, (unsigned long long)st.st_size);
	return 0;
}

/* The file of a file VMA: same file as dumped, or refusal (the puppet opens it again). */
static int check_vma_file(const VmaEntry *v)
{
	bool rw = v->kind == VMA_KIND__VMA_FILE_SHARED && (v->prot & PROT_WRITE);
	struct stat st;
	int fd;

	/* A memfd or deleted file: carried in the image (restore_mm_ghost_check), no path. */
	if (v->has_file_deleted && v->file_deleted)
		return 0;
	if (!v->path)
		return log_error_errno(-EINVAL, "mapping 0x%llx: file mapping without a path",
				       (unsigned long long)v->start);
	fd = open(v->path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return log_error_errno(-errno, "mapped file %s is missing", v->path);
	if (fstat(fd, &st) < 0 || (v->has_dev && v->dev != st.st_dev) ||
	    (v->has_ino && v->ino != st.st_ino) ||
	    (v->has_file_size && v->file_size != (uint64_t)st.st_size)) {
		close(fd);
		return log_error_errno(-ESTALE, "mapped file %s changed since the dump (inode "
				       "%llu size %llu, now %llu size %llu): mapping a different "
				       "file is unsafe", v->path, (unsigned long long)v->ino,
				       (unsigned long long)v->file_size,
				       (unsigned long long)st.st_ino,
				       (unsigned long long)st.st_size);
	}
	close(fd);
	return 0;
}

static int check_dir(const char *what, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return log_error_errno(-errno, "the %s directory %s is missing", what, path);
	if (!S_ISDIR(st.st_mode))
		return log_error_errno(-ENOTDIR, "the %s directory %s is not a directory", what,
				       path);
	return 0;
}

static int check_files(const struct restore_opts *opts, const struct image_task *t)
{
	int r = check_dir("working", t->core->cwd);

	if (r == 0)
		r = check_dir("root", t->core->root);
	for (size_t i = 0; r == 0 && i < t->fd_count; i++)
		r = check_fd_entry(opts, t->fds[i]);
	for (size_t i = 0; r == 0 && i < t->mm->n_vmas; i++) {
		const VmaEntry *v = t->mm->vmas[i];

		if (v->kind == VMA_KIND__VMA_FILE_PRIVATE || v->kind == VMA_KIND__VMA_FILE_SHARED)
			r = check_vma_file(v);
	}
	return r;
}

static const VmaEntry *vma_of(const MmEntry *mm, uint64_t addr)
{
	for (size_t i = 0; i < mm->n_vmas; i++)
		if (mm->vmas[i]->start <= addr && addr < mm->vmas[i]->end)
			return mm->vmas[i];
	return NULL;
}

static int copy_run(struct restore_proc *p, const struct image_task *t,
		    const struct image_page_run *run, char *buf)
{
	uint64_t done = 0, total = run->nr_pages * IMAGE_PAGE_SIZE;
	const VmaEntry *v = vma_of(t->mm, run->vaddr);

	/* Writing there would write into the file itself; its pages are the file's. */
	if (v && v->kind == VMA_KIND__VMA_FILE_SHARED) {
		log_debug("pid %d: %llu pages at 0x%llx in a shared file mapping: skipped", p->pid,
			  (unsigned long long)run->nr_pages, (unsigned long long)run->vaddr);
		return 0;
	}
	while (done < total) {
		size_t len = total - done > PAGE_CHUNK ? PAGE_CHUNK : total - done;
		ssize_t n = pread(t->pages_fd, buf, len, (off_t)(run->file_offset + done));
		int r;

		if (n != (ssize_t)len)
			return log_error_errno(n < 0 ? -errno : -EIO,
					       "pid %d: cannot read pages of 0x%llx from the image",
					       p->pid, (unsigned long long)(run->vaddr + done));
		r = restore_proc_write_pages(p, run->vaddr + done, buf, len / IMAGE_PAGE_SIZE);
		if (r < 0)
			return r;
		done += len;
	}
	return 0;
}

static int write_pages(struct restore_proc *p, const struct image_task *t)
{
	char *buf = malloc(PAGE_CHUNK);
	int r = 0;

	if (!buf)
		return log_error_errno(-ENOMEM, "pid %d: page buffer", p->pid);
	for (size_t i = 0; r == 0 && i < t->page_run_count; i++)
		r = copy_run(p, t, &t->page_runs[i], buf);
	free(buf);
	return r;
}

/* The lock the dump left on the connections (inventory): they exist again, their packets may
 * flow. The table is looked for in our network namespace, where the sockets were made. */
static void unlock_network(const InventoryEntry *inv)
{
	int r;

	if (!inv->netlock_table)
		return;
	r = netlock_remove_table(-1, inv->netlock_table);
	if (r == -ENOENT)
		log_warn("the network lock of the dump (nftables table inet %s) is not in this "
			 "network namespace: nothing to remove", inv->netlock_table);
	else if (r < 0)
		log_warn("cannot remove the network lock of the dump (nftables table inet %s): %s: "
			 "remove it with 'nft delete table inet %s'", inv->netlock_table,
			 err_detail(), inv->netlock_table);
	else
		log_debug("restore: network lock %s removed", inv->netlock_table);
}

/* Memory and everything else of process i of the tree: complete and stopped. */
static int run_stages_one(const struct restore_opts *opts, const struct image_set *set,
			  size_t i, struct restore_proc *p)
{
	const struct image_task *t = &set->tasks[i];
	int r = restore_proc_set_layout(p, t->mm->vmas, t->mm->n_vmas, NULL, 0);

	if (r == 0) /* memory an earlier process of the tree shares with it */
		r = restore_tree_share_mem(p, t);
	if (r == 0) /* the root makes the objects; every process attaches its segments */
		r = restore_ipc_run(p, set->ipc, set->ipc_count);
	if (r == 0)
		r = write_pages(p, t);
	if (r == 0)
		r = restore_proc_finish(p, t, opts);
	return r;
}

/* The stages, fed from the directory, for every live process of the tree (procs[i] for
 * set->tasks[i]). Once every socket exists, the dump's network lock goes before the
 * connections leave repair mode, so that their window probes reach the peers, and before the
 * processes run, which would otherwise see their UDP sends fail (EPERM). Children are resumed
 * first: none of them can be undone once one runs, so every process is complete by then. */
static int run_stages(const struct restore_opts *opts, const struct image_set *set,
		      struct restore_proc **procs)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < set->task_count; i++)
		if (!restore_tree_is_zombie(&set->tasks[i]))
			r = run_stages_one(opts, set, i, procs[i]);
	if (r == 0)
		unlock_network(set->inventory);
	for (size_t i = 0; r == 0 && i < set->task_count; i++)
		if (!restore_tree_is_zombie(&set->tasks[i]))
			r = restore_net_release(procs[i], &set->tasks[i]);
	for (size_t i = set->task_count; r == 0 && i-- > 0;)
		if (!restore_tree_is_zombie(&set->tasks[i]))
			r = restore_proc_resume(procs[i]);
	return r;
}

static void log_timings(const struct restore_proc *p)
{
	struct restore_timings tm;

	restore_proc_timings(p, &tm);
	log_debug("restore: pid %d: create %.3f ms, layout %.3f ms, pages %.3f ms, finish "
		  "%.3f ms, resume %.3f ms", p->pid, (double)tm.create_ns / 1e6,
		  (double)tm.layout_ns / 1e6, (double)tm.pages_ns / 1e6,
		  (double)tm.finish_ns / 1e6, (double)tm.resume_ns / 1e6);
}

int restore_run(const struct restore_opts *user_opts, pid_t *ret_pid)
{
	struct restore_opts ipc_opts = *user_opts; /* + new_ipc_ns from the inventory */
	const struct restore_opts *opts = &ipc_opts;
	struct restore_tree_ctx ctx = { 0 };
	struct restore_proc **procs = NULL;
	struct image_set *set = NULL;
	uint64_t t0 = restore_now_ns(), start = t0;
	int r;

	err_clear();
	r = image_set_load(opts->dir, &set);
	if (r < 0)
		return log_error_errno(r, "cannot restore from %s: %s", opts->dir, err_detail());
	phase_done("image load", &t0);
	ipc_opts.new_ipc_ns = set->inventory->has_ipc_ns && set->inventory->ipc_ns;
	for (size_t i = 0; r == 0 && i < set->task_count; i++)
		if (!restore_tree_is_zombie(&set->tasks[i]))
			r = check_files(opts, &set->tasks[i]);
	if (r == 0)
		r = restore_tree_check(set, opts);
	if (r == 0) {
		procs = calloc(set->task_count, sizeof(*procs));
		if (!procs)
			r = log_error_errno(-ENOMEM, "restore of %zu processes", set->task_count);
	}
	if (r == 0) {
		phase_done("checks", &t0);
		r = restore_tree_create(set, opts, procs);
	}
	ctx.set = set;
	for (size_t i = 0; r == 0 && i < set->task_count; i++) {
		procs[i]->tree = &ctx;
		procs[i]->tree_index = i;
	}
	if (r == 0)
		r = run_stages(opts, set, procs);
	restore_fd_unix_tree_fini(&ctx, r < 0); /* a failure removes the socket files it bound */
	restore_tree_ctx_fini(&ctx);
	if (r == 0) {
		for (size_t i = 0; i < set->task_count; i++)
			if (!restore_tree_is_zombie(&set->tasks[i]))
				log_timings(procs[i]);
		*ret_pid = restore_proc_pid(procs[0]);
		log_debug("restore: pid %d restored in %.3f ms (%zu processes)", *ret_pid,
			  (double)(restore_now_ns() - start) / 1e6, set->task_count);
	}
	if (procs)
		restore_tree_free(procs, set->task_count);
	free(procs);
	image_set_free(set);
	return r;
}

int restore_wait(pid_t pid, bool shell_job)
{
	int tty = shell_job ? restore_tty_fd() : -1;
	pid_t pgrp = getpgid(pid);
	int status;

	if (tty >= 0 && pgrp == pid)
		restore_tty_give(tty, pgrp);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			log_error_errno(-errno, "cannot wait for pid %d", pid);
			status = 0x7f00; /* exit code 127 */
			break;
		}
	}
	if (tty >= 0 && pgrp == pid)
		restore_tty_give(tty, getpgrp());
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
