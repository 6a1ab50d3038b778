/*
 * dump: orchestration of a checkpoint (see dump.h for the sequence).
 *
 *	checks (nothing touched) -> seize + interrupt every thread  [freeze starts]
 *	-> fds again -> core (remote syscalls) -> mm -> images and pages
 *	-> kill / detach / detach with SIGSTOP                       [freeze ends]
 *
 * Undo: every thread seized is detached on every error path, with the
 * process's registers and signal masks as they were (dump_core puts its
 * puppets back itself), and the image files written so far are removed.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "dump_internal.h"
#include "dump_net.h"
#include "dump_tree_net.h"
#include "err.h"
#include "log.h"
#include "netlock.h"
#include "puppet.h"

#define DUMP_KILL_WAIT_MS 5000

int dump_err_wrap(int r, const char *fmt, ...)
{
	char prefix[512], prev[1024];
	va_list ap;

	snprintf(prev, sizeof(prev), "%s", err_detail()[0] ? err_detail() : strerror(-r));
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	return err_setf(r, "%s: %s", prefix, prev);
}

double dump_ms_since(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) * 1e3 +
	       (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static int dump_read_status(pid_t pid, struct proc_status *ret)
{
	char *text;
	size_t len;
	int r;

	r = proc_read_file(pid, "status", &text, &len);
	if (r == -ENOENT || r == -ESRCH)
		return err_setf(-ESRCH, "no process with pid %d", pid);
	if (r < 0)
		return err_setf(r, "cannot read /proc/%d/status: %s", pid, strerror(-r));
	r = proc_parse_status(text, len, ret);
	free(text);
	if (r < 0)
		return dump_err_wrap(r, "cannot parse /proc/%d/status", pid);
	return 0;
}

static int dump_read_stat(pid_t pid, struct proc_stat *ret)
{
	int r = proc_read_stat(pid, ret);

	return r == -ENOENT ? -ESRCH : r;
}

/* "cannot seize pid N: it is already traced by pid T (COMM): ..." */
static int dump_err_traced(pid_t pid, pid_t tracer)
{
	char comm[64] = "?", *text;
	size_t len;

	if (proc_read_file(tracer, "comm", &text, &len) == 0) {
		snprintf(comm, sizeof(comm), "%.*s", (int)(len && text[len - 1] == '\n' ? len - 1 : len),
			 text);
		free(text);
	}
	return err_setf(-EBUSY,
			"cannot seize pid %d: it is already traced by pid %d (%s): detach the tracer and retry",
			pid, tracer, comm);
}

/* What refuses one live process before it is touched: a thread, a zombie, a traced one. */
static int dump_check_pid(pid_t pid)
{
	struct proc_status st = { 0 };
	int r;

	r = dump_read_status(pid, &st);
	if (r < 0)
		return r;
	if (st.tgid != pid)
		r = err_setf(-EINVAL, "pid %d is a thread of process %d: pass %d", pid, st.tgid,
			     st.tgid);
	else if (st.state == 'Z' || st.state == 'X')
		r = err_setf(-ESRCH, "pid %d is a zombie: nothing left to dump", pid);
	else if (st.tracer_pid)
		r = dump_err_traced(pid, st.tracer_pid);
	proc_status_fini(&st);
	if (r < 0)
		return r;
	r = dump_timers_check(pid);
	return r < 0 ? r : dump_ipc_check(pid);
}

static bool dump_has_thread(const struct dump_proc *proc, pid_t tid)
{
	for (size_t i = 0; i < proc->nr_threads; i++)
		if (proc->threads[i].tid == tid)
			return true;
	return false;
}

static int dump_seize_one(struct dump_proc *proc, pid_t tid)
{
	struct proc_status st = { 0 };
	struct dump_thread *t;
	int r;

	t = &proc->threads[proc->nr_threads];
	t->tid = tid;
	r = puppet_seize(tid, PTRACE_O_TRACESYSGOOD);
	if (r == -ESRCH)
		return 0; /* exited before we got it: not part of the process any more */
	if (r == -EPERM && dump_read_status(proc->pid, &st) == 0 && st.tracer_pid) {
		r = dump_err_traced(proc->pid, st.tracer_pid);
		proc_status_fini(&st);
		return r;
	}
	if (r < 0)
		return dump_err_wrap(r, "cannot seize thread %d of pid %d", tid, proc->pid);
	t->seized = true;
	proc->nr_threads++;
	r = puppet_interrupt(tid);
	if (r < 0)
		return dump_err_wrap(r, "cannot stop thread %d of pid %d", tid, proc->pid);
	t->stopped = true;
	return 0;
}

/* Seizes and stops the main thread then every other thread, re-listing until
 * no new one appears: a thread created meanwhile is caught by the next pass,
 * and once all are stopped none can be created. */
int dump_seize(struct dump_proc *proc)
{
	bool found = true;
	size_t count, cap = 0;
	int *tids = NULL, r = 0;

	while (found && r == 0) {
		found = false;
		r = proc_list_numeric(proc->pid, "task", &tids, &count);
		if (r < 0)
			return err_setf(r == -ENOENT ? -ESRCH : r, "cannot list the threads of pid %d: %s",
					proc->pid, strerror(-r));
		if (cap < proc->nr_threads + count + 1) {
			struct dump_thread *t;

			cap = proc->nr_threads + count + 1;
			t = realloc(proc->threads, cap * sizeof(*t));
			if (!t) {
				free(tids);
				return err_setf(-ENOMEM, "out of memory");
			}
			proc->threads = t;
		}
		if (!proc->nr_threads) /* the main thread first, whatever its rank */
			r = dump_seize_one(proc, proc->pid);
		for (size_t i = 0; r == 0 && i < count; i++) {
			if (dump_has_thread(proc, tids[i]))
				continue;
			found = true;
			r = dump_seize_one(proc, tids[i]);
		}
		free(tids);
		if (r == 0 && (!proc->nr_threads || proc->threads[0].tid != proc->pid))
			r = err_setf(-ESRCH, "pid %d exited", proc->pid);
	}
	return r;
}

/* Lets every seized thread go; sig goes to the main thread only. */
void dump_release(struct dump_proc *proc, int main_sig)
{
	for (size_t i = 0; i < proc->nr_threads; i++) {
		struct dump_thread *t = &proc->threads[i];
		int r;

		if (!t->seized)
			continue;
		r = puppet_detach(t->tid, i == 0 ? main_sig : 0);
		if (r < 0)
			log_debug("dump: detach of thread %d failed: %s, ignoring", t->tid,
				  strerror(-r));
		t->seized = false;
	}
}

/* Undo after an error: the process runs on (or stays stopped) as before, its sockets out of
 * repair mode first (a process running on a socket in repair mode would queue without
 * sending). */
void dump_resume(struct dump_proc *proc)
{
	if (dump_net_resume(proc->pid, proc->fds, proc->nr_fds) < 0)
		log_warn("pid %d: %s", proc->pid, err_detail());
	dump_release(proc, proc->was_stopped ? SIGSTOP : 0);
}

static bool dump_is_gone(pid_t pid)
{
	struct proc_stat st;

	return dump_read_stat(pid, &st) < 0 || st.state == 'Z' || st.state == 'X';
}

/* Reaps the exit of one traced thread: true once it is reaped or not ours. */
static bool dump_reap(pid_t tid)
{
	int status;
	pid_t w = waitpid(tid, &status, __WALL | WNOHANG);

	return w < 0 || (w > 0 && (WIFEXITED(status) || WIFSIGNALED(status)));
}

/* SIGKILL while traced, then reap the ptrace notifications and wait until the
 * process is gone or a zombie, so its PIDs can be reused soon by a restore.
 * The leader reports its exit only after every other thread was reaped, so
 * the threads are polled together, not one after the other. */
void dump_kill(struct dump_proc *proc)
{
	struct timespec start;
	size_t left = proc->nr_threads;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (kill(proc->pid, SIGKILL) < 0)
		log_warn("cannot kill pid %d after the dump: %m", proc->pid);
	while (left && dump_ms_since(&start) < DUMP_KILL_WAIT_MS) {
		for (size_t i = 0; i < proc->nr_threads; i++) {
			struct dump_thread *t = &proc->threads[i];

			if (t->seized && dump_reap(t->tid)) {
				t->seized = false;
				left--;
			}
		}
		if (left)
			usleep(200);
	}
	while (!dump_is_gone(proc->pid) && dump_ms_since(&start) < DUMP_KILL_WAIT_MS)
		usleep(200);
	if (!dump_is_gone(proc->pid))
		log_warn("pid %d still exists %d ms after SIGKILL", proc->pid, DUMP_KILL_WAIT_MS);
	log_debug("dump: kill and reap: %.3f ms", dump_ms_since(&start));
}

void dump_proc_fini(struct dump_proc *proc)
{
	dump_files_free(proc->fds, proc->nr_fds);
	if (proc->core)
		protobuf_c_message_free_unpacked(&proc->core->base, NULL);
	if (proc->mm)
		protobuf_c_message_free_unpacked(&proc->mm->base, NULL);
	free(proc->threads);
	free(proc->restarts);
	memset(proc, 0, sizeof(*proc));
}

struct dump_images {
	struct image_dir dir;
	bool dir_created; /* we made the directory: remove it on failure */
	unsigned int written; /* 1 << image_kind for each kind we (re)wrote, for any process */
	const struct dump_tree *tree;
};

void dump_inventory_fill(InventoryEntry *inv, const struct dump_opts *opts, struct utsname *u)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	inventory_entry__init(inv);
	inv->image_version = IMAGE_FORMAT_VERSION;
	inv->tool_version = (char *)MIGRATE_VERSION;
	inv->root_pid = opts->pid;
	inv->page_size = IMAGE_PAGE_SIZE;
	if (uname(u) == 0)
		inv->kernel_release = u->release;
	inv->has_dump_time_ns = inv->has_shell_job = true;
	inv->dump_time_ns = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
	inv->shell_job = opts->shell_job;
	inv->arch = (char *)"x86_64";
	inv->has_ipc_ns = inv->ipc_ns = dump_ipc_own_ns(opts->pid);
}

static int dump_write_inventory(struct dump_images *im, const struct dump_opts *opts,
				const struct dump_proc *proc)
{
	InventoryEntry inv;
	struct utsname u;

	dump_inventory_fill(&inv, opts, &u);
	inv.netlock_table = (char *)proc->netlock_table;
	im->written |= 1U << IMAGE_INVENTORY;
	return image_write_single(&im->dir, IMAGE_INVENTORY, 0, &inv.base);
}

void dump_pstree_fill(PstreeEntry *ps, const struct dump_proc *proc, uint32_t *tids)
{
	pstree_entry__init(ps);
	for (size_t i = 0; i < proc->nr_threads; i++)
		tids[i] = proc->threads[i].tid;
	ps->pid = proc->pid;
	ps->ppid = proc->ppid;
	ps->pgid = proc->pgid;
	ps->sid = proc->sid;
	ps->n_threads = proc->nr_threads;
	ps->threads = tids;
	ps->has_pty_ctty = dump_fd_pty_ctty_of(proc->pid, &ps->pty_ctty); /* dump_fd_pty.c */
	if (proc->zombie) {
		tids[0] = proc->pid; /* tids holds nr_threads + 1 entries */
		ps->n_threads = 1;
		ps->has_zombie = ps->zombie = true;
		ps->has_exit_code = true;
		ps->exit_code = proc->exit_code;
		ps->comm = (char *)proc->comm;
		ps->has_term_signal = proc->term_signal != 0;
		ps->term_signal = proc->term_signal;
	}
}

/* One record per process, parents first (the tree's breadth-first order). */
static int dump_write_pstree(struct dump_images *im, const struct dump_tree *tree)
{
	struct image_file *f;
	int r = 0, r2;

	im->written |= 1U << IMAGE_PSTREE;
	r = image_open_write(&im->dir, IMAGE_PSTREE, 0, &f);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < tree->count; i++) {
		const struct dump_proc *proc = &tree->procs[i];
		uint32_t *tids = calloc(proc->nr_threads + 1, sizeof(*tids));
		PstreeEntry ps;

		if (!tids) {
			r = -ENOMEM;
			break;
		}
		dump_pstree_fill(&ps, proc, tids);
		r = image_write_record(f, &ps.base);
		free(tids);
	}
	r2 = image_close(f);
	return r < 0 ? r : r2;
}

static int dump_write_files(struct dump_images *im, const struct dump_proc *proc)
{
	struct image_file *f;
	int r, r2;

	im->written |= 1U << IMAGE_FILES;
	r = image_open_write(&im->dir, IMAGE_FILES, proc->pid, &f);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < proc->nr_fds; i++)
		r = image_write_record(f, &proc->fds[i]->base);
	r2 = image_close(f);
	return r < 0 ? r : r2;
}

static int dump_write_pages(struct dump_images *im, struct dump_proc *proc)
{
	struct page_writer *w;
	int r, r2;

	im->written |= 1U << IMAGE_PAGEMAP | 1U << IMAGE_PAGES;
	r = page_writer_open(&im->dir, proc->pid, &w);
	if (r < 0)
		return dump_err_wrap(r, "cannot create the page images in %s", im->dir.path);
	r = dump_mm_write_pages(proc, w);
	r2 = page_writer_close(w);
	if (r == 0 && r2 < 0)
		r = dump_err_wrap(r2, "cannot write the page images in %s", im->dir.path);
	return r;
}

/* core, mm and files of one live process. */
static int dump_write_proc(struct dump_images *im, struct dump_proc *proc)
{
	int r;

	im->written |= 1U << IMAGE_CORE;
	r = image_write_single(&im->dir, IMAGE_CORE, proc->pid, &proc->core->base);
	if (r == 0) {
		im->written |= 1U << IMAGE_MM;
		r = image_write_single(&im->dir, IMAGE_MM, proc->pid, &proc->mm->base);
	}
	if (r == 0)
		r = dump_write_files(im, proc);
	return r;
}

static int dump_write_records(struct dump_images *im, const struct dump_opts *opts)
{
	const struct dump_tree *tree = im->tree;
	int r;

	r = dump_write_inventory(im, opts, &tree->procs[0]);
	if (r == 0)
		r = dump_write_pstree(im, tree);
	if (r == 0)
		r = dump_ipc_write(&im->dir, tree, &im->written);
	for (size_t i = 0; r == 0 && i < tree->count; i++)
		if (!tree->procs[i].zombie)
			r = dump_write_proc(im, &tree->procs[i]);
	if (r < 0)
		return dump_err_wrap(r, "cannot write the images in %s", opts->dir);
	return 0;
}

/* Removes what a failed dump wrote: the files, and the directory if it is ours. */
static void dump_images_remove(struct dump_images *im, const char *path)
{
	static const bool per_process[IMAGE_KIND_COUNT] = {
		[IMAGE_CORE] = true, [IMAGE_MM] = true,	     [IMAGE_FILES] = true,
		[IMAGE_PAGEMAP] = true, [IMAGE_PAGES] = true,
	};
	char name[128];

	for (int k = 0; k < IMAGE_KIND_COUNT; k++) {
		if (!(im->written & (1U << k)))
			continue;
		for (size_t i = 0; i < (per_process[k] ? im->tree->count : 1); i++) {
			pid_t pid = per_process[k] ? im->tree->procs[i].pid : 0;

			if (image_file_name(k, pid, name, sizeof(name)) < 0)
				continue;
			if (unlinkat(im->dir.dirfd, name, 0) < 0 && errno != ENOENT)
				log_debug("dump: cannot remove %s/%s: %m, ignoring", path, name);
		}
	}
	if (im->dir_created && rmdir(path) < 0)
		log_debug("dump: cannot remove %s: %m, ignoring", path);
}

int dump_images(const struct dump_opts *opts, struct dump_proc *proc)
{
	struct dump_tree tree = { .procs = proc, .count = 1 };

	return dump_tree_images(opts, &tree);
}

int dump_tree_images(const struct dump_opts *opts, struct dump_tree *tree)
{
	struct dump_images im = { .tree = tree };
	struct stat st;
	int r;

	im.dir_created = stat(opts->dir, &st) < 0 && errno == ENOENT;
	r = image_dir_open(&im.dir, opts->dir, true);
	if (r < 0)
		return dump_err_wrap(r, "cannot open the image directory %s", opts->dir);
	r = 0;
	for (size_t i = 0; r == 0 && i < tree->count; i++)
		if (!tree->procs[i].zombie)
			r = dump_write_pages(&im, &tree->procs[i]);
	if (r == 0)
		r = dump_write_records(&im, opts);
	if (r < 0)
		dump_images_remove(&im, opts->dir);
	image_dir_close(&im.dir);
	return r;
}

int dump_collect_state(const struct dump_opts *opts, struct dump_proc *proc)
{
	struct proc_stat st;
	struct timespec t, tn;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t);
	r = dump_files_scan(proc->pid, opts->shell_job, &proc->fds, &proc->nr_fds);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &tn);
	r = dump_net_collect(proc->pid, proc->net, opts->tcp_established, proc->fds, proc->nr_fds);
	proc->net_collect_ns = (uint64_t)(dump_ms_since(&tn) * 1e6);
	if (r < 0)
		return r;
	r = dump_read_stat(proc->pid, &st);
	if (r < 0)
		return r;
	proc->pgid = st.pgrp;
	proc->sid = st.session;
	log_debug("dump: fds and stat: %.3f ms", dump_ms_since(&t));
	clock_gettime(CLOCK_MONOTONIC, &t);
	r = dump_core_collect(proc);
	if (r < 0)
		return r;
	log_debug("dump: core (registers, signals, remote syscalls): %.3f ms", dump_ms_since(&t));
	return 0;
}

/* Connections that stay dumped after we exit (the process is killed or left stopped with its
 * sockets in repair mode) keep their packets dropped until `migrate restore`: a lock that
 * outlives us, named in the inventory. */
static int dump_lock_persist(const struct dump_opts *opts, struct dump_proc *proc,
			     struct netlock **ret)
{
	int r;

	*ret = NULL;
	if (!proc->net || !proc->net->count || opts->after == DUMP_AFTER_RUN)
		return 0;
	r = dump_net_lock(proc->net, NETLOCK_F_PERSIST, ret);
	if (r == 0 && *ret)
		proc->netlock_table = netlock_table_name(*ret);
	return r;
}

/* Everything done while the process is frozen, up to the after-action; *persist gets the
 * lock that is to outlive the dump (see dump_lock_persist), or NULL. */
static int dump_frozen(const struct dump_opts *opts, struct dump_tree *tree,
		       struct netlock **persist)
{
	struct timespec t;
	int r;

	for (size_t i = 0; i < tree->count; i++) {
		struct dump_proc *proc = &tree->procs[i];

		if (proc->zombie)
			continue;
		r = dump_collect_state(opts, proc);
		if (r < 0)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &t);
		r = dump_mm_collect(proc);
		if (r < 0)
			return r;
		log_debug("dump: pid %d: mm (%zu VMAs): %.3f ms", proc->pid, proc->mm->n_vmas,
			  dump_ms_since(&t));
	}
	r = dump_fd_pipe_check_tree(tree);
	if (r == 0)
		r = dump_tree_share_mem(tree);
	if (r == 0)
		r = dump_tree_share_fds(tree);
	if (r < 0)
		return r;
	r = dump_lock_persist(opts, &tree->procs[0], persist);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &t);
	r = dump_tree_images(opts, tree);
	if (r < 0)
		return r;
	log_debug("dump: pages and images: %.3f ms", dump_ms_since(&t));
	return 0;
}

int dump_check_member(const struct dump_opts *opts, struct dump_proc *proc)
{
	struct proc_stat st;
	FdEntry **fds;
	size_t n;
	int r;

	r = dump_check_pid(proc->pid);
	if (r == 0)
		r = dump_files_scan(proc->pid, opts->shell_job, &fds, &n);
	if (r < 0)
		return r;
	/* Kept for the checks across the tree (pipes): the tree drops them before the freeze. */
	dump_files_free(proc->fds, proc->nr_fds);
	proc->fds = fds;
	proc->nr_fds = n;
	r = dump_read_stat(proc->pid, &st);
	if (r < 0)
		return r;
	proc->was_stopped = st.state == 'T';
	return 0;
}

void dump_after(const struct dump_opts *opts, struct dump_proc *proc)
{
	switch (opts->after) {
	case DUMP_AFTER_KILL:
		dump_kill(proc);
		break;
	case DUMP_AFTER_STOP:
		/* Queued now, taken by the threads as they leave the ptrace stop. */
		if (kill(proc->pid, SIGSTOP) < 0)
			log_warn("cannot stop pid %d after the dump: %m", proc->pid);
		dump_release(proc, 0);
		break;
	case DUMP_AFTER_RUN:
		if (dump_net_resume(proc->pid, proc->fds, proc->nr_fds) < 0)
			log_warn("pid %d: %s", proc->pid, err_detail());
		dump_release(proc, 0);
		break;
	}
}

/* The sockets of opts->pid, refusing what cannot be dumped: nothing is touched before. */
static int dump_net_start(const struct dump_opts *opts, struct dump_proc *proc,
			  struct dump_net **ret_net)
{
	int r = dump_net_scan(opts->pid, opts->tcp_established, ret_net);

	if (r < 0)
		return r;
	proc->net = *ret_net;
	if ((*ret_net)->count && netlock_cleanup_stale((*ret_net)->netns_fd, NULL) < 0)
		log_debug("dump: stale network locks: %s, ignoring", err_detail());
	return 0;
}

/* Success: the connections of a killed or stopped process stay locked by *persist until the
 * restore; the lock of the freeze window goes. With --leave-running it goes first, so that
 * the window probe of the resumed sockets reaches the peers. */
static void dump_net_finish(const struct dump_opts *opts, struct dump_tree *tree,
			    struct netlock **lock, struct netlock **persist)
{
	struct dump_proc *proc = &tree->procs[0];

	if (opts->after == DUMP_AFTER_RUN)
		(void)netlock_release(lock);
	dump_tree_after(opts, tree);
	if (*lock && netlock_release(lock) < 0)
		log_warn("cannot remove the network lock of pid %d: %s", proc->pid, err_detail());
	if (*persist)
		log_debug("dump: the connections of pid %d stay locked (table inet %s) until they "
			  "are restored", proc->pid, netlock_table_name(*persist));
	netlock_leave(persist);
}

int dump_run(const struct dump_opts *opts)
{
	struct dump_tree tree = { 0 };
	struct netlock *lock = NULL, *persist = NULL;
	struct dump_net *net = NULL;
	struct timespec start, freeze;
	int r;

	err_clear();
	clock_gettime(CLOCK_MONOTONIC, &start);
	r = dump_tree_precheck(opts, &tree);
	if (r == 0)
		r = dump_net_start(opts, &tree.procs[0], &net);
	if (r == 0) /* the members' sockets under the same lock (dump_tree_net.h) */
		r = dump_tree_net_extend(&tree, net);
	if (r < 0)
		goto fail;
	log_debug("dump: checks: %.3f ms", dump_ms_since(&start));
	clock_gettime(CLOCK_MONOTONIC, &freeze);
	r = dump_tree_seize(opts, &tree);
	/* Members the seize's rescans found (forked after the checks) bring their sockets under
	 * the lock too; those already listed are skipped. */
	if (r == 0)
		r = dump_tree_net_extend(&tree, net);
	/* Locked once frozen, as CRIU does: a process running under the lock would see its UDP
	 * sends fail (EPERM); the kernel keeps the frozen process's connections going until the
	 * lock holds, and the sockets are read only after that. */
	if (r == 0)
		r = dump_net_lock(net, 0, &lock);
	if (r == 0) {
		log_debug("dump: seize and stop %zu processes, network lock: %.3f ms", tree.count,
			  dump_ms_since(&freeze));
		r = dump_frozen(opts, &tree, &persist);
	}
	if (r < 0) {
		/* Unlocked first: the resumed sockets' window probes must reach the peers. */
		(void)netlock_release(&persist);
		(void)netlock_release(&lock);
		dump_tree_resume(&tree);
		goto fail;
	}
	dump_net_finish(opts, &tree, &lock, &persist);
	log_debug("dump: pid %d: freeze window %.3f ms, total %.3f ms (%zu processes)", opts->pid,
		  dump_ms_since(&freeze), dump_ms_since(&start), tree.count);
	dump_tree_fini(&tree);
	dump_net_free(net);
	return 0;
fail:
	if (err_detail()[0])
		log_error("%s", err_detail());
	else
		log_error_errno(r, "cannot dump pid %d", opts->pid);
	(void)netlock_release(&lock);
	dump_tree_fini(&tree);
	dump_net_free(net);
	return r;
}
