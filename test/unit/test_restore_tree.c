/* Unit tests of the tree checks of the restore (migrate-dst/restore_tree.c) that touch no
 * process: which process groups can be rebuilt, and which fds take an earlier holder's open
 * file description. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "restore_internal.h"

#define TREE_MAX 4

struct tree_fixture {
	PstreeEntry ps[TREE_MAX];
	uint32_t tids[TREE_MAX];
	struct image_task tasks[TREE_MAX];
	struct image_set set;
};

/* Entry i: pid, ppid, pgid, sid. */
static void tree_add(struct tree_fixture *f, uint32_t pid, uint32_t ppid, uint32_t pgid,
		     uint32_t sid)
{
	size_t i = f->set.task_count++;

	pstree_entry__init(&f->ps[i]);
	f->tids[i] = pid;
	f->ps[i] = (PstreeEntry){ .base = f->ps[i].base, .pid = pid, .ppid = ppid, .pgid = pgid,
				  .sid = sid, .n_threads = 1, .threads = &f->tids[i] };
	f->tasks[i] = (struct image_task){ .pstree = &f->ps[i], .pages_fd = -1 };
	f->set.tasks = f->tasks;
}

static void test_groups_rebuilt(void **state)
{
	struct tree_fixture f = { 0 };
	struct restore_opts o = { 0 };

	(void)state;
	tree_add(&f, 100, 0, 100, 100); /* the root leads its session and group */
	tree_add(&f, 101, 100, 100, 100); /* in the root's group */
	tree_add(&f, 102, 100, 102, 100); /* leads its own group */
	tree_add(&f, 103, 102, 102, 100); /* joins it */
	assert_int_equal(restore_tree_check(&f.set, &o), 0);
}

static void test_group_of_outsider_refused(void **state)
{
	struct tree_fixture f = { 0 };
	struct restore_opts o = { 0 };

	(void)state;
	tree_add(&f, 100, 0, 50, 50); /* a shell job: group and session outside */
	tree_add(&f, 101, 100, 50, 50); /* the root's group: follows the root */
	assert_int_equal(restore_tree_check(&f.set, &o), 0);
	tree_add(&f, 102, 100, 77, 50); /* a group led by nobody of the tree */
	assert_int_equal(restore_tree_check(&f.set, &o), -ENOTSUP);
}

static void test_group_of_other_session_refused(void **state)
{
	struct tree_fixture f = { 0 };
	struct restore_opts o = { 0 };

	(void)state;
	tree_add(&f, 100, 0, 100, 100);
	tree_add(&f, 101, 100, 101, 101); /* its own session */
	tree_add(&f, 102, 100, 101, 100); /* a group of another session: impossible */
	assert_int_equal(restore_tree_check(&f.set, &o), -ENOTSUP);
}

static void test_group_leader_not_leading(void **state)
{
	struct tree_fixture f = { 0 };
	struct restore_opts o = { 0 };

	(void)state;
	tree_add(&f, 100, 0, 100, 100);
	tree_add(&f, 101, 100, 100, 100); /* 101 is in the root's group... */
	tree_add(&f, 102, 100, 101, 100); /* ...so group 101 has no leader left */
	assert_int_equal(restore_tree_check(&f.set, &o), -ENOTSUP);
}

static void test_child_of_zombie_refused(void **state)
{
	struct tree_fixture f = { 0 };
	struct restore_opts o = { 0 };

	(void)state;
	tree_add(&f, 100, 0, 100, 100);
	tree_add(&f, 101, 100, 100, 100);
	tree_add(&f, 102, 101, 100, 100);
	assert_int_equal(restore_tree_check(&f.set, &o), 0);
	f.ps[1].has_zombie = f.ps[1].zombie = true; /* a zombie has no children */
	assert_int_equal(restore_tree_check(&f.set, &o), -EINVAL);
}

static void test_fd_copy(void **state)
{
	struct tree_fixture f = { 0 };
	struct restore_tree_ctx ctx = { .set = &f.set };
	struct restore_proc p0 = { .tree = &ctx, .tree_index = 0 };
	struct restore_proc p1 = { .tree = &ctx, .tree_index = 1 };
	struct restore_proc alone = { 0 };
	FdEntry a = FD_ENTRY__INIT, b = FD_ENTRY__INIT, pipe = FD_ENTRY__INIT;
	FdEntry *fds0[] = { &a }, *fds1[] = { &b, &pipe };

	(void)state;
	tree_add(&f, 100, 0, 100, 100);
	tree_add(&f, 101, 100, 100, 100);
	a.fd = 3;
	a.has_shared_id = b.has_shared_id = pipe.has_shared_id = true;
	a.shared_id = b.shared_id = 1;
	pipe.shared_id = 2;
	pipe.kind = FD_KIND__FD_PIPE;
	f.tasks[0].fds = fds0;
	f.tasks[0].fd_count = 1;
	f.tasks[1].fds = fds1;
	f.tasks[1].fd_count = 2;
	assert_false(restore_tree_fd_is_copy(&p0, &a)); /* the first holder opens it */
	assert_true(restore_tree_fd_is_copy(&p1, &b));
	assert_false(restore_tree_fd_is_copy(&p1, &pipe)); /* pipes go by inode */
	assert_false(restore_tree_fd_is_copy(&alone, &b)); /* no tree: live migration */
	/* A zombie holds nothing, whatever its index. */
	f.ps[0].has_zombie = f.ps[0].zombie = true;
	assert_false(restore_tree_fd_is_copy(&p1, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups_rebuilt),
		cmocka_unit_test(test_group_of_outsider_refused),
		cmocka_unit_test(test_group_of_other_session_refused),
		cmocka_unit_test(test_group_leader_not_leading),
		cmocka_unit_test(test_child_of_zombie_refused),
		cmocka_unit_test(test_fd_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
