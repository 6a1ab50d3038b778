/*
 * test_fd_fifo: FIFOs in images and at dump.
 *
 *	- the image checks: a coherent FIFO record passes, hostile ones (relative path, no
 *	  inode, capacity out of the kernel's range, more data than capacity, data on an O_PATH
 *	  fd, an impossible access mode, a dup of itself) are refused with the fd named;
 *	- live (root): dump_files_scan of a child holding a FIFO through three fds records the
 *	  unread bytes once, on the first fd, and leaves them in the FIFO, and which fd is a dup
 *	  of which (one open file description); with a second process
 *	  holding the FIFO too, the scan is refused naming that process; a child holding only
 *	  the write end (nobody reads) has its bytes recorded too, and kept.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dump_internal.h"
#include "err.h"
#include "image.h"

/* ---- image checks, on records held in memory ---- */

struct task_fixture {
	InventoryEntry inv;
	PstreeEntry ps;
	TaskCoreEntry core;
	ThreadCoreEntry th, *ths[1];
	MmEntry mm;
	VmaEntry vma, *vmas[1];
	FdEntry fd, *fds[1];
	uint32_t tids[1];
	uint8_t data[8];
	struct image_task t;
};

static void fixture_init(struct task_fixture *f)
{
	memset(f, 0, sizeof(*f));
	inventory_entry__init(&f->inv);
	pstree_entry__init(&f->ps);
	task_core_entry__init(&f->core);
	thread_core_entry__init(&f->th);
	mm_entry__init(&f->mm);
	vma_entry__init(&f->vma);
	fd_entry__init(&f->fd);
	f->inv.image_version = IMAGE_FORMAT_VERSION;
	f->inv.page_size = IMAGE_PAGE_SIZE;
	f->inv.arch = "x86_64";
	f->inv.root_pid = 4242;
	f->tids[0] = 4242;
	f->ps.pid = 4242;
	f->ps.threads = f->tids;
	f->ps.n_threads = 1;
	f->core.pid = 4242;
	f->th.tid = 4242;
	f->ths[0] = &f->th;
	f->core.threads = f->ths;
	f->core.n_threads = 1;
	f->vma.start = 0x10000;
	f->vma.end = 0x20000;
	f->vmas[0] = &f->vma;
	f->mm.vmas = f->vmas;
	f->mm.n_vmas = 1;
	f->fd.fd = 5;
	f->fd.kind = FD_KIND__FD_FIFO;
	f->fd.path = "/tmp/some.fifo";
	f->fd.flags = O_RDONLY | O_NONBLOCK;
	f->fd.has_dev = f->fd.has_ino = true;
	f->fd.dev = 0x803;
	f->fd.ino = 1234;
	f->fd.has_fifo_size = true;
	f->fd.fifo_size = 65536;
	f->fd.has_fifo_data = true;
	f->fd.fifo_data.data = f->data;
	f->fd.fifo_data.len = sizeof(f->data);
	f->fds[0] = &f->fd;
	f->t.pstree = &f->ps;
	f->t.core = &f->core;
	f->t.mm = &f->mm;
	f->t.fds = f->fds;
	f->t.fd_count = 1;
	f->t.pages_fd = -1;
}

static void expect_bad(struct task_fixture *f)
{
	err_clear();
	assert_int_equal(image_task_check(&f->inv, &f->t), -EBADMSG);
	assert_non_null(strstr(err_detail(), "files-4242.img: fd 5: a FIFO"));
}

static void test_image_check(void **state)
{
	struct task_fixture f;

	(void)state;
	fixture_init(&f);
	assert_int_equal(image_task_check(&f.inv, &f.t), 0);

	f.fd.path = "some.fifo"; /* relative: where would it be opened? */
	expect_bad(&f);
	f.fd.path = "/tmp/some.fifo";
	f.fd.has_ino = false;
	expect_bad(&f);
	f.fd.has_ino = true;
	f.fd.fifo_size = 100; /* below a page */
	expect_bad(&f);
	f.fd.fifo_size = (1u << 30) + 4096;
	expect_bad(&f);
	f.fd.fifo_size = 4; /* less than the data it holds */
	expect_bad(&f);
	f.fd.fifo_size = 4096;
	f.fd.has_fifo_size = false;
	expect_bad(&f);
	f.fd.has_fifo_size = true;
	f.fd.flags = O_ACCMODE;
	expect_bad(&f);
	f.fd.flags = O_RDONLY;
	f.fd.has_fifo_dup_of = true; /* a dup of itself */
	f.fd.fifo_dup_of = 5;
	expect_bad(&f);
	f.fd.fifo_dup_of = 4; /* whether fd 4 is of the same FIFO is the restore's check */
	assert_int_equal(image_task_check(&f.inv, &f.t), 0);
	f.fd.has_fifo_dup_of = false;
	f.fd.flags = O_PATH; /* an O_PATH fd reaches no buffer: no data, no capacity */
	expect_bad(&f);
	f.fd.has_fifo_data = f.fd.has_fifo_size = false;
	assert_int_equal(image_task_check(&f.inv, &f.t), 0);
	f.fd.flags = O_RDWR;
	f.fd.has_fifo_data = f.fd.has_fifo_size = true;
	assert_int_equal(image_task_check(&f.inv, &f.t), 0);
}

/* ---- live: a child holding a FIFO ---- */

static const char message[] = "bytes nobody read yet";

/* What a live test made, undone by live_teardown even when an assertion failed midway. */
static struct {
	char dir[32];
	char path[64];
	pid_t children[4];
	size_t nr_children;
} live;

static int live_setup(void **state)
{
	(void)state;
	memset(&live, 0, sizeof(live));
	if (geteuid() != 0)
		return 0; /* the test skips itself */
	snprintf(live.dir, sizeof(live.dir), "/tmp/test_fd_fifo.XXXXXX");
	if (!mkdtemp(live.dir))
		return -1;
	snprintf(live.path, sizeof(live.path), "%s/f", live.dir);
	return mkfifo(live.path, 0600);
}

static int live_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < live.nr_children; i++) {
		if (live.children[i] <= 0)
			continue;
		kill(live.children[i], SIGKILL);
		waitpid(live.children[i], NULL, 0);
	}
	if (live.dir[0]) {
		unlink(live.path);
		rmdir(live.dir);
	}
	return 0;
}

static void live_track(pid_t pid)
{
	assert_true(live.nr_children < sizeof(live.children) / sizeof(live.children[0]));
	live.children[live.nr_children++] = pid;
}

/* Forgets pid, reaped by the test itself. */
static void live_untrack(pid_t pid)
{
	for (size_t i = 0; i < live.nr_children; i++)
		if (live.children[i] == pid)
			live.children[i] = 0;
}

/* path opened with flags at fd (in the child: no assert). */
static int open_at(const char *path, int flags, int fd)
{
	int got = open(path, flags);

	if (got < 0 || dup2(got, fd) < 0)
		return -1;
	return close(got);
}

/* The child keeps nothing of ours (ctest's pipes would be refused as half pipes): sync only. */
static int holder_fds(int sync)
{
	int null = open("/dev/null", O_RDWR);

	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		return -1;
	if (close_range(3, (unsigned int)sync - 1, 0) < 0 ||
	    close_range((unsigned int)sync + 1, ~0U, 0) < 0)
		return -1;
	return 0;
}

/* A child with the FIFO at fds 20 (read), 21 (write), 22 (read again), 23 (a dup of 20), and
 * message unread in it if with_data; it reports on its pipe, waits for SIGTERM, exits 0 if message is still
 * there. */
static pid_t holder_start(const char *path, bool with_data)
{
	int sync[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(sync), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sigset_t set;
		int sig, n = 0;

		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
		if (dup2(sync[1], 30) < 0 || holder_fds(30) < 0)
			_exit(2);
		if (open_at(path, O_RDONLY | O_NONBLOCK, 20) || open_at(path, O_WRONLY, 21) ||
		    open_at(path, O_RDONLY, 22) || dup2(20, 23) < 0)
			_exit(3);
		if (with_data && write(21, message, sizeof(message)) != sizeof(message))
			_exit(4);
		if (write(30, "r", 1) != 1 || close(30) < 0)
			_exit(5);
		sigwait(&set, &sig);
		_exit(ioctl(20, FIONREAD, &n) == 0 && n == (int)sizeof(message) ? 0 : 6);
	}
	live_track(pid);
	close(sync[1]);
	assert_int_equal(read(sync[0], &c, 1), 1);
	/* Its end of sync closed too: the child holds nothing but the FIFO now. */
	assert_int_equal(read(sync[0], &c, 1), 0);
	close(sync[0]);
	return pid;
}

static void holder_stop(pid_t pid, int want)
{
	int status;

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	live_untrack(pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), want);
}

/* dump_files_scan of pid, which must succeed (else its sentence is the failure). */
static void scan_ok(pid_t pid, FdEntry ***fds, size_t *n)
{
	err_clear();
	if (dump_files_scan(pid, false, fds, n) != 0)
		fail_msg("dump_files_scan of pid %d: %s", (int)pid, err_detail());
}

static const FdEntry *find_fd(FdEntry **fds, size_t n, uint32_t fd)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i]->fd == fd)
			return fds[i];
	return NULL;
}

static void test_scan(void **state)
{
	const char *path = live.path;
	const FdEntry *r, *w, *r2;
	FdEntry **fds;
	size_t n;
	pid_t pid, other;

	(void)state;
	if (geteuid() != 0)
		skip();
	pid = holder_start(path, true);

	scan_ok(pid, &fds, &n);
	r = find_fd(fds, n, 20);
	w = find_fd(fds, n, 21);
	r2 = find_fd(fds, n, 22);
	assert_non_null(r);
	assert_non_null(w);
	assert_non_null(r2);
	assert_int_equal(r->kind, FD_KIND__FD_FIFO);
	assert_string_equal(r->path, path);
	assert_true(r->has_fifo_size && r->fifo_size >= 4096);
	/* The bytes once, on the first fd of the FIFO; the others share them. */
	assert_true(r->has_fifo_data);
	assert_int_equal(r->fifo_data.len, sizeof(message));
	assert_memory_equal(r->fifo_data.data, message, sizeof(message));
	assert_false(w->has_fifo_data);
	assert_false(r2->has_fifo_data);
	assert_int_equal(w->flags & O_ACCMODE, O_WRONLY);
	assert_int_equal(r2->flags & (O_ACCMODE | O_NONBLOCK), O_RDONLY);
	/* 23 is 20's open file description; 21 and 22 were opened by themselves. */
	assert_non_null(find_fd(fds, n, 23));
	assert_true(find_fd(fds, n, 23)->has_fifo_dup_of);
	assert_int_equal(find_fd(fds, n, 23)->fifo_dup_of, 20);
	assert_false(find_fd(fds, n, 23)->has_fifo_data);
	assert_false(r->has_fifo_dup_of || w->has_fifo_dup_of || r2->has_fifo_dup_of);
	dump_files_free(fds, n);

	/* A second process on the same FIFO: refused, naming it. */
	other = holder_start(path, false);
	err_clear();
	assert_int_equal(dump_files_scan(pid, false, &fds, &n), -ENOTSUP);
	assert_non_null(strstr(err_detail(), path));
	{
		char who[32];

		snprintf(who, sizeof(who), "pid %d", (int)other);
		assert_non_null(strstr(err_detail(), who));
	}
	/* The scans consumed nothing: both still find the bytes there. */
	holder_stop(other, 0);
	holder_stop(pid, 0);
}

/* A child that holds only the write end of a FIFO, message unread in it (nobody reads). */
static pid_t writer_start(const char *path)
{
	int sync[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(sync), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int keeper;

		if (dup2(sync[1], 30) < 0 || holder_fds(30) < 0)
			_exit(2);
		/* A reader for as long as the write end opens and is written. */
		keeper = open(path, O_RDWR | O_NONBLOCK);
		if (keeper < 0 || open_at(path, O_WRONLY, 21) ||
		    write(21, message, sizeof(message)) != sizeof(message) || close(keeper) < 0)
			_exit(3);
		if (write(30, "r", 1) != 1 || close(30) < 0)
			_exit(5);
		pause();
		_exit(0);
	}
	live_track(pid);
	close(sync[1]);
	assert_int_equal(read(sync[0], &c, 1), 1);
	/* Its end of sync closed too: the child holds nothing but the FIFO now. */
	assert_int_equal(read(sync[0], &c, 1), 0);
	close(sync[0]);
	return pid;
}

static void test_scan_write_only(void **state)
{
	const FdEntry *w;
	FdEntry **fds;
	size_t n;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	pid = writer_start(live.path);
	/* Twice: the first look leaves the bytes where they were. */
	for (int round = 0; round < 2; round++) {
		scan_ok(pid, &fds, &n);
		w = find_fd(fds, n, 21);
		assert_non_null(w);
		assert_int_equal(w->flags & O_ACCMODE, O_WRONLY);
		assert_true(w->has_fifo_data);
		assert_int_equal(w->fifo_data.len, sizeof(message));
		assert_memory_equal(w->fifo_data.data, message, sizeof(message));
		dump_files_free(fds, n);
	}
	/* live_teardown ends the writer. */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_check),
		cmocka_unit_test_setup_teardown(test_scan, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_scan_write_only, live_setup, live_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
