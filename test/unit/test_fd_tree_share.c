/*
 * test_fd_tree_share: the checks a tree dump runs across its members for unix sockets and
 * FIFOs (dump_fd_pipe_check_tree, which runs dump_fd_unix_check_tree and
 * dump_fd_fifo_check_tree), on fd tables built in memory:
 *
 *	- a socketpair whose ends are in two members passes; the same end alone, as one
 *	  process's table (no tree), is refused as a peer outside the process;
 *	- an end whose peer no member holds is refused, naming the fd, the pid and "outside the
 *	  dumped tree of pid ROOT";
 *	- a socket held by two members (fork) keeps its unread data on the first holder's record
 *	  only; a pair's two ends keep theirs (two queues);
 *	- a FIFO held by two members keeps its bytes on the first holder's record only.
 *
 * The inodes are made up (no process of this machine holds them): the looks through /proc
 * for other holders find none.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "dump_fd_unix.h"
#include "dump_internal.h"
#include "err.h"
#include "image.h"

/* Made-up inodes, far above what this machine hands out while the test runs. */
#define INO_A 0x7ffff0001ULL
#define INO_B 0x7ffff0002ULL
#define INO_LOST 0x7ffff0003ULL
#define INO_FIFO 0x7ffff0004ULL

static FdEntry *fd_new(uint32_t fd, int kind, uint64_t ino)
{
	FdEntry *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	fd_entry__init(e);
	e->fd = fd;
	e->kind = kind;
	e->path = strdup("test");
	e->flags = O_RDWR;
	e->has_ino = e->has_dev = true;
	e->ino = ino;
	e->dev = 42;
	return e;
}

static void queue_add(UnixSocketEntry *u, const char *text)
{
	UnixMessageEntry *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	unix_message_entry__init(m);
	m->data.len = strlen(text);
	m->data.data = (uint8_t *)strdup(text);
	u->queue = realloc(u->queue, (u->n_queue + 1) * sizeof(*u->queue));
	assert_non_null(u->queue);
	u->queue[u->n_queue++] = m;
}

/* A unnamed stream socket ino connected to peer (0: none), with one unread message. */
static FdEntry *unix_new(uint32_t fd, uint64_t ino, uint64_t peer, const char *unread)
{
	FdEntry *e = fd_new(fd, FD_KIND__FD_UNIX_SOCKET, ino);
	UnixSocketEntry *u = calloc(1, sizeof(*u));

	assert_non_null(u);
	unix_socket_entry__init(u);
	u->inode = ino;
	u->type = SOCK_STREAM;
	u->state = 1;
	u->has_peer_inode = peer != 0;
	u->peer_inode = peer;
	if (unread)
		queue_add(u, unread);
	e->unix_sk = u;
	return e;
}

static FdEntry *fifo_new(uint32_t fd, const char *unread)
{
	FdEntry *e = fd_new(fd, FD_KIND__FD_FIFO, INO_FIFO);

	e->has_fifo_size = true;
	e->fifo_size = 65536;
	if (unread) {
		e->has_fifo_data = true;
		e->fifo_data.len = strlen(unread);
		e->fifo_data.data = (uint8_t *)strdup(unread);
	}
	return e;
}

/* A tree of two processes, 1000 (root) and 1001, with the fds given (taken over). */
struct tree2 {
	struct dump_proc procs[2];
	struct dump_tree tree;
};

static void tree2_init(struct tree2 *t, FdEntry **fds0, size_t n0, FdEntry **fds1, size_t n1)
{
	memset(t, 0, sizeof(*t));
	t->procs[0].pid = 1000;
	t->procs[1].pid = 1001;
	t->procs[1].ppid = 1000;
	t->procs[0].fds = calloc(n0 + 1, sizeof(FdEntry *));
	t->procs[1].fds = calloc(n1 + 1, sizeof(FdEntry *));
	assert_non_null(t->procs[0].fds);
	assert_non_null(t->procs[1].fds);
	memcpy(t->procs[0].fds, fds0, n0 * sizeof(FdEntry *));
	memcpy(t->procs[1].fds, fds1, n1 * sizeof(FdEntry *));
	t->procs[0].nr_fds = n0;
	t->procs[1].nr_fds = n1;
	t->tree.procs = t->procs;
	t->tree.count = 2;
}

static void tree2_fini(struct tree2 *t)
{
	for (size_t i = 0; i < 2; i++)
		dump_files_free(t->procs[i].fds, t->procs[i].nr_fds);
}

static void test_pair_across(void **state)
{
	FdEntry *a = unix_new(5, INO_A, INO_B, "to-a"), *b = unix_new(7, INO_B, INO_A, "to-b");
	struct tree2 t;

	(void)state;
	dump_fd_pipe_set_tree(false);
	/* One process alone: its end's peer is elsewhere. */
	err_clear();
	assert_int_equal(dump_fd_unix_check(1000, &a, 1), -ENOTSUP);
	assert_non_null(strstr(err_detail(), "fd 5 of pid 1000"));
	assert_non_null(strstr(err_detail(), "outside the dumped process"));
	dump_fd_pipe_set_tree(true);
	assert_int_equal(dump_fd_unix_check(1000, &a, 1), 0); /* left to the tree's check */
	tree2_init(&t, &a, 1, &b, 1);
	assert_int_equal(dump_fd_pipe_check_tree(&t.tree), 0);
	/* Two sockets, two queues: both kept. */
	assert_int_equal(a->unix_sk->n_queue, 1);
	assert_int_equal(b->unix_sk->n_queue, 1);
	tree2_fini(&t);
	dump_fd_pipe_set_tree(false);
}

static void test_peer_outside(void **state)
{
	FdEntry *a = unix_new(5, INO_A, INO_LOST, NULL), *other = fd_new(3, FD_KIND__FD_REG, 9);
	struct tree2 t;

	(void)state;
	dump_fd_pipe_set_tree(true);
	tree2_init(&t, &other, 1, &a, 1);
	err_clear();
	assert_int_equal(dump_fd_pipe_check_tree(&t.tree), -ENOTSUP);
	assert_non_null(strstr(err_detail(), "fd 5 of pid 1001"));
	assert_non_null(strstr(err_detail(), "outside the dumped tree of pid 1000"));
	tree2_fini(&t);
	dump_fd_pipe_set_tree(false);
}

static void test_shared_end_data_once(void **state)
{
	/* The root holds both ends (fds 5, 6); the child inherited end A (its fd 5). */
	FdEntry *root[2] = { unix_new(5, INO_A, INO_B, "queued"), unix_new(6, INO_B, INO_A, NULL) };
	FdEntry *child = unix_new(5, INO_A, INO_B, "queued");
	struct tree2 t;

	(void)state;
	dump_fd_pipe_set_tree(true);
	tree2_init(&t, root, 2, &child, 1);
	assert_int_equal(dump_fd_pipe_check_tree(&t.tree), 0);
	assert_int_equal(root[0]->unix_sk->n_queue, 1);
	assert_int_equal(root[0]->unix_sk->queue[0]->data.len, 6);
	assert_memory_equal(root[0]->unix_sk->queue[0]->data.data, "queued", 6);
	assert_int_equal(child->unix_sk->n_queue, 0);
	tree2_fini(&t);
	dump_fd_pipe_set_tree(false);
}

static void test_fifo_data_once(void **state)
{
	FdEntry *root = fifo_new(4, "fifo bytes"), *child = fifo_new(8, "fifo bytes");
	struct tree2 t;

	(void)state;
	dump_fd_pipe_set_tree(true);
	tree2_init(&t, &root, 1, &child, 1);
	assert_int_equal(dump_fd_pipe_check_tree(&t.tree), 0);
	assert_true(root->has_fifo_data);
	assert_int_equal(root->fifo_data.len, 10);
	assert_false(child->has_fifo_data);
	assert_int_equal(child->fifo_data.len, 0);
	tree2_fini(&t);
	dump_fd_pipe_set_tree(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_across),
		cmocka_unit_test(test_peer_outside),
		cmocka_unit_test(test_shared_end_data_once),
		cmocka_unit_test(test_fifo_data_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
