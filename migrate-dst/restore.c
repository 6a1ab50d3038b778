/*
 * restore: orchestration of "restore by puppet" (see restore.h for the sequence).
 *
 * Nothing changes outside us until clone3: images, files and PIDs are all checked first, and
 * the fds the child needs are opened in our own table (the child inherits them at the same
 * numbers). After clone3 the only undo is to kill the child, which restore_rollback does.
 */
#include "restore_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "err.h"
#include "log.h"
#include "proc.h"

#define PID_WAIT_DEFAULT_MS 5000
#define PID_POLL_MS 20
#define CHILD_READY_TIMEOUT_MS 30000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void phase_done(const char *phase, uint64_t *t0)
{
	uint64_t t1 = now_ns();

	log_debug("restore: %s took %.3f ms", phase, (double)(t1 - *t0) / 1e6);
	*t0 = t1;
}

static int our_tty_fd(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (isatty(fd))
			return fd;
	return -1;
}

static void tty_give(int tty, pid_t pgrp);

/* ---- files the image needs ---- */

static int check_fd_entry(const struct restore_opts *opts, const FdEntry *e)
{
	struct stat st;

	if (e->kind == FD_KIND__FD_TTY) {
		if (!opts->shell_job)
			return log_error_errno(-EINVAL, "fd %u is the terminal %s: restore it with "
					       "--shell-job", e->fd, e->path);
		if (our_tty_fd() < 0)
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

/* Opens the file of a file VMA for mmap in the child: same file as dumped, or refusal. */
static int open_vma_file(const VmaEntry *v, int base, int *ret_fd)
{
	bool rw = v->kind == VMA_KIND__VMA_FILE_SHARED && (v->prot & PROT_WRITE);
	struct stat st;
	int fd, moved;

	if (v->has_file_deleted && v->file_deleted)
		return log_error_errno(-ENOENT, "mapping 0x%llx of %s: the file was deleted before "
				       "the dump: not supported", (unsigned long long)v->start,
				       v->path ? v->path : "?");
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
	moved = fcntl(fd, F_DUPFD_CLOEXEC, base);
	close(fd);
	if (moved < 0)
		return log_error_errno(-errno, "cannot move the fd of %s", v->path);
	*ret_fd = moved;
	return 0;
}

static int dup_above(int fd, int base, const char *what)
{
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, base);

	if (moved < 0)
		return log_error_errno(-errno, "cannot duplicate the fd of %s", what);
	return moved;
}

/* ---- PIDs ---- */

struct pid_holder {
	pid_t pid;
	char comm[64];
	char state;
	const char *role; /* "pid", "process group", "session" */
};

static int read_stat(pid_t pid, struct proc_stat *st)
{
	char *text;
	size_t len;
	int r = proc_read_file(pid, "stat", &text, &len);

	if (r < 0)
		return r;
	r = proc_parse_stat(text, len, st);
	free(text);
	return r;
}

static void holder_set(struct pid_holder *h, const struct proc_stat *st, const char *role)
{
	h->pid = st->pid;
	h->state = st->state;
	h->role = role;
	snprintf(h->comm, sizeof(h->comm), "%s", st->comm);
}

/* 1 when id is used as a pid, pgid or sid; *h names a holder, a live one if there is any. */
static int pid_find_holder(pid_t id, struct pid_holder *h)
{
	struct proc_stat st;
	struct dirent *de;
	bool found = false;
	DIR *d;

	/* /proc/ID also answers for a thread ID that the listing does not show. */
	if (read_stat(id, &st) == 0) {
		holder_set(h, &st, "pid");
		if (st.state != 'Z')
			return 1;
		found = true;
	}
	d = opendir("/proc");
	if (!d)
		return found;
	while ((de = readdir(d))) {
		pid_t n = (pid_t)strtol(de->d_name, NULL, 10);

		if (n <= 0 || read_stat(n, &st) < 0 || (st.pgrp != id && st.session != id))
			continue;
		if (!found || st.state != 'Z')
			holder_set(h, &st, st.pgrp == id ? "process group" : "session");
		found = true;
		if (st.state != 'Z')
			break;
	}
	closedir(d);
	return found;
}

static int pid_taken_error(pid_t id, const struct pid_holder *h, int wait_ms)
{
	char zombie[64] = "";

	if (h->state == 'Z')
		snprintf(zombie, sizeof(zombie), ", not reaped within %d ms", wait_ms);

	if (h->pid == id)
		return log_error_errno(-EEXIST, "pid %d is taken by %s (pid %d, state %c%s): stop "
				       "it or restore elsewhere", id, h->comm, h->pid, h->state,
				       zombie);
	return log_error_errno(-EEXIST, "pid %d is taken as the %s of %s (pid %d, state %c%s): "
			       "stop it or restore elsewhere", id, h->role, h->comm, h->pid,
			       h->state, zombie);
}

int restore_pid_taken(pid_t id)
{
	struct pid_holder h;

	if (pid_find_holder(id, &h))
		return pid_taken_error(id, &h, 0);
	return log_error_errno(-EEXIST, "pid %d is taken (its holder is gone already): retry",
			       id);
}

/* Waits (up to wait_ms) while only zombies hold id: PID 1 here reaps them slowly. */
static int pid_wait_free(pid_t id, int wait_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)wait_ms * 1000000ULL;
	struct pid_holder h;
	bool waited = false;

	while (pid_find_holder(id, &h)) {
		if (h.state != 'Z' || now_ns() >= deadline)
			return pid_taken_error(id, &h, wait_ms);
		if (!waited)
			log_debug("pid %d is held by the zombie %s (pid %d) as its %s: waiting up "
				  "to %d ms for it to be reaped", id, h.comm, h.pid, h.role,
				  wait_ms);
		waited = true;
		usleep(PID_POLL_MS * 1000);
	}
	return 0;
}

static int check_pids(const struct restore_opts *opts, const struct image_task *it)
{
	int wait_ms = opts->pid_wait_ms > 0 ? opts->pid_wait_ms : PID_WAIT_DEFAULT_MS;
	int r;

	for (size_t i = 0; i < it->core->n_threads; i++) {
		r = pid_wait_free((pid_t)it->core->threads[i]->tid, wait_ms);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- one task ---- */

static void task_close_fds(struct restore_task *t)
{
	int *fds[] = { &t->ctl_fd, &t->child_ctl_fd, &t->tty_fd, &t->exe_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	for (size_t i = 0; t->vma_fds && i < t->img->mm->n_vmas; i++) {
		if (t->vma_fds[i] >= 0)
			close(t->vma_fds[i]);
		t->vma_fds[i] = -1;
	}
}

static int task_init(const struct restore_opts *opts, struct restore_task *t,
		     struct image_task *it)
{
	size_t nv = it->mm->n_vmas;
	int base = 3;

	*t = (struct restore_task){ .img = it, .ctl_fd = -1, .child_ctl_fd = -1, .tty_fd = -1,
				    .exe_fd = -1 };
	for (size_t i = 0; i < it->fd_count; i++)
		if ((int)it->fds[i]->fd + 1 > base)
			base = (int)it->fds[i]->fd + 1;
	t->fd_base = base;
	t->use_tty = opts->shell_job && our_tty_fd() >= 0;
	t->vma_fds = malloc((nv + 1) * sizeof(int));
	if (!t->vma_fds)
		return log_error_errno(-ENOMEM, "restore of pid %u", it->pstree->pid);
	for (size_t i = 0; i < nv; i++)
		t->vma_fds[i] = -1;
	t->puppets = calloc(it->core->n_threads + 1, sizeof(struct puppet));
	if (!t->puppets)
		return log_error_errno(-ENOMEM, "restore of pid %u", it->pstree->pid);
	for (size_t i = 0; i < it->core->n_threads; i++)
		t->puppets[i].mem_fd = -1;
	return 0;
}

static void task_fini(struct restore_task *t)
{
	if (!t->img)
		return;
	task_close_fds(t);
	/* After a failure the puppets still hold their /proc/PID/mem. */
	for (size_t i = 0; t->puppets && i < t->img->core->n_threads; i++)
		puppet_release(&t->puppets[i]);
	free(t->vma_fds);
	free(t->puppets);
	t->vma_fds = NULL;
	t->puppets = NULL;
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

static int task_check_files(const struct restore_opts *opts, struct restore_task *t)
{
	int r = check_dir("working", t->img->core->cwd);

	if (r == 0)
		r = check_dir("root", t->img->core->root);
	if (r < 0)
		return r;
	for (size_t i = 0; i < t->img->fd_count; i++) {
		r = check_fd_entry(opts, t->img->fds[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < t->img->mm->n_vmas; i++) {
		const VmaEntry *v = t->img->mm->vmas[i];

		if (v->kind != VMA_KIND__VMA_FILE_PRIVATE && v->kind != VMA_KIND__VMA_FILE_SHARED)
			continue;
		r = open_vma_file(v, t->fd_base, &t->vma_fds[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The fds the child needs besides the mapping files: exe, terminal, control socket. */
static int task_prepare_fds(struct restore_task *t)
{
	const char *exe = t->img->mm->exe_path;
	int sv[2], fd;

	if (exe && (fd = open(exe, O_RDONLY | O_CLOEXEC)) >= 0) {
		t->exe_fd = dup_above(fd, t->fd_base, exe);
		close(fd);
		if (t->exe_fd < 0)
			return t->exe_fd;
	} else {
		log_debug("executable %s cannot be opened: /proc/PID/exe will not name it",
			  exe ? exe : "(none)");
	}
	if (t->use_tty) {
		t->tty_fd = dup_above(our_tty_fd(), t->fd_base, "the terminal");
		if (t->tty_fd < 0)
			return t->tty_fd;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return log_error_errno(-errno, "cannot create the control socket");
	t->ctl_fd = sv[0];
	t->child_ctl_fd = dup_above(sv[1], t->fd_base, "the control socket");
	close(sv[1]);
	return t->child_ctl_fd < 0 ? t->child_ctl_fd : 0;
}

static int task_clone(const struct restore_opts *opts, struct restore_task *t)
{
	uint64_t pid64 = t->img->pstree->pid;
	struct migrate_clone_args args = {
		.exit_signal = SIGCHLD,
		.set_tid = (uint64_t)(uintptr_t)&pid64,
		.set_tid_size = 1,
	};
	long pid = syscall(SYS_clone3, &args, sizeof(args));

	if (pid == 0)
		restore_child_main(opts, t);
	if (pid < 0) {
		int err = errno;

		if (err == EEXIST)
			return restore_pid_taken((pid_t)pid64);
		return log_error_errno(-err, "cannot create pid %llu (clone3 with set_tid)",
				       (unsigned long long)pid64);
	}
	t->pid = (pid_t)pid;
	t->thread_count = 1;
	t->child_ctl_nr = t->child_ctl_fd;
	close(t->child_ctl_fd);
	t->child_ctl_fd = (int)-1;
	return 0;
}

/* Reads the child's reports until it is ready, failed or died. */
static int task_wait_ready(struct restore_task *t)
{
	struct pollfd pfd = { .fd = t->ctl_fd, .events = POLLIN };
	struct restore_ctl_msg m;

	for (;;) {
		int n = poll(&pfd, 1, CHILD_READY_TIMEOUT_MS);
		ssize_t len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return log_error_errno(n < 0 ? -errno : -ETIMEDOUT,
					       "pid %d: the new process did not get ready", t->pid);
		len = recv(t->ctl_fd, &m, sizeof(m), 0);
		if (len != (ssize_t)sizeof(m))
			return log_error_errno(-ECHILD, "pid %d: the new process died while "
					       "setting itself up", t->pid);
		m.msg[sizeof(m.msg) - 1] = '\0';
		if (m.kind == RESTORE_CTL_READY)
			return 0;
		if (m.kind == RESTORE_CTL_ERROR)
			return log_error_errno(-m.err, "pid %d: %s", t->pid, m.msg);
		log_warn("pid %d: %s: %s", t->pid, m.msg, strerror(m.err));
	}
}

static int task_seize(struct restore_task *t)
{
	int r = puppet_seize(t->pid, PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL);

	if (r == 0)
		r = puppet_interrupt(t->pid);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot seize the new process: %s", t->pid,
				       err_detail());
	return 0;
}

/* Kills what was created and reaps it: threads first, the leader reports last. */
static void task_rollback(struct restore_task *t)
{
	int status;

	if (t->pid <= 0)
		return;
	(void)kill(t->pid, SIGKILL);
	for (size_t i = 1; i < t->thread_count; i++)
		(void)waitpid((pid_t)t->img->core->threads[i]->tid, &status, __WALL);
	while (waitpid(t->pid, &status, __WALL) == t->pid && !WIFEXITED(status) &&
	       !WIFSIGNALED(status))
		;
	log_debug("pid %d: killed after the failed restore", t->pid);
	t->pid = 0;
}

/* A shell job gets the foreground before it runs, so that it never touches the terminal from
 * the background (SIGTTIN/SIGTTOU); we take it back if the detach fails. */
static int task_detach(const struct restore_opts *opts, struct restore_task *t)
{
	bool fg = t->use_tty && !opts->detached && t->img->pstree->pgid == t->img->pstree->pid;
	int r;

	if (fg)
		tty_give(our_tty_fd(), t->pid);
	r = restore_core_detach(t);
	if (r < 0 && fg)
		tty_give(our_tty_fd(), getpgrp());
	return r;
}

static int task_restore(const struct restore_opts *opts, struct restore_task *t)
{
	uint64_t t0 = now_ns();
	int r = task_prepare_fds(t);

	if (r == 0)
		r = task_clone(opts, t);
	if (r == 0)
		r = task_wait_ready(t);
	if (r == 0)
		r = task_seize(t);
	if (r == 0) {
		phase_done("process creation", &t0);
		r = restore_mm_run(t);
	}
	if (r == 0) {
		phase_done("memory", &t0);
		r = restore_core_run(t);
	}
	if (r == 0)
		r = task_detach(opts, t);
	if (r == 0)
		phase_done("core state and detach", &t0);
	else
		task_rollback(t);
	task_close_fds(t);
	return r;
}

/* ---- entry points ---- */

static int restore_checks(const struct restore_opts *opts, struct image_set *set,
			  struct restore_task *t)
{
	int r;

	if (set->task_count != 1)
		return log_error_errno(-EOPNOTSUPP, "%s holds %zu processes: restoring a process "
				       "tree is not supported yet", opts->dir, set->task_count);
	r = task_init(opts, t, &set->tasks[0]);
	if (r == 0)
		r = task_check_files(opts, t);
	if (r == 0)
		r = check_pids(opts, t->img);
	return r;
}

int restore_run(const struct restore_opts *opts, pid_t *ret_pid)
{
	struct restore_task task = { 0 };
	struct image_set *set = NULL;
	uint64_t t0 = now_ns(), start = t0;
	int r;

	err_clear();
	r = image_set_load(opts->dir, &set);
	if (r < 0)
		return log_error_errno(r, "cannot restore from %s: %s", opts->dir, err_detail());
	phase_done("image load", &t0);
	r = restore_checks(opts, set, &task);
	if (r == 0) {
		phase_done("checks", &t0);
		r = task_restore(opts, &task);
	}
	if (r == 0) {
		*ret_pid = task.pid;
		log_debug("restore: pid %d restored in %.3f ms", task.pid,
			  (double)(now_ns() - start) / 1e6);
	}
	task_fini(&task);
	image_set_free(set);
	return r;
}

static void tty_give(int tty, pid_t pgrp)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;

	/* A background group changing the foreground gets SIGTTOU. */
	sigaction(SIGTTOU, &ign, &old);
	if (tcsetpgrp(tty, pgrp) < 0)
		log_debug("cannot give the terminal to process group %d: %s", pgrp,
			  strerror(errno));
	sigaction(SIGTTOU, &old, NULL);
}

int restore_wait(pid_t pid, bool shell_job)
{
	int tty = shell_job ? our_tty_fd() : -1;
	pid_t pgrp = getpgid(pid);
	int status;

	if (tty >= 0 && pgrp == pid)
		tty_give(tty, pgrp);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			log_error_errno(-errno, "cannot wait for pid %d", pid);
			status = 0x7f00; /* exit code 127 */
			break;
		}
	}
	if (tty >= 0 && pgrp == pid)
		tty_give(tty, getpgrp());
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
