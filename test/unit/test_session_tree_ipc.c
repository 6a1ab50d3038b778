/*
 * A session receiving a tree with System V objects, without processes: an IPC record is the
 * root's to make (the root comes into the session's fields, whichever member was there), and
 * only when Start announced an IPC namespace of the tree's own, which the root unshared
 * before it forked the others; otherwise it is a protocol error (the root would unshare a
 * namespace of its own now, leaving the others behind), and nothing moves.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dst_server.h"
#include "dst_session_internal.h"

/* Stand-ins for the processes: only compared, never used. */
static struct restore_proc *const fake_root = (struct restore_proc *)0x1000;
static struct restore_proc *const fake_child = (struct restore_proc *)0x2000;

/* Root 100 and child 101, the child loaded (the records before the IPC ones were its). */
static void tree_init(struct session *s, bool ipc_ns)
{
	memset(s, 0, sizeof(*s));
	s->pid = 100;
	s->nr_members = 2;
	s->members = calloc(2, sizeof(*s->members));
	assert_non_null(s->members);
	s->members[0].pid = 100;
	s->members[0].proc = fake_root;
	s->members[1].pid = 101;
	s->members[1].proc = fake_child;
	s->loaded = 0;
	s->proc = fake_root;
	s->tree_ipc_ns = ipc_ns;
	assert_int_equal(session_member_select(s, 101, "ImageRecord"), 0);
	assert_ptr_equal(s->proc, fake_child);
}

static void test_ipc_loads_root(void **state)
{
	struct session s;

	(void)state;
	tree_init(&s, true);
	assert_int_equal(session_tree_ipc_select(&s), 0);
	assert_ptr_equal(s.proc, fake_root);
	assert_int_equal(session_member_pid(&s), 100);
	assert_ptr_equal(s.members[1].proc, fake_child);
	free(s.members);
}

static void test_ipc_without_namespace(void **state)
{
	struct session s;

	(void)state;
	tree_init(&s, false);
	assert_int_equal(session_tree_ipc_select(&s), -EPROTO);
	assert_int_equal(s.fail.reason, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL);
	assert_non_null(strstr(s.fail.message, "System V objects of a tree whose Start announced "
					       "no IPC namespace of its own"));
	assert_ptr_equal(s.proc, fake_child); /* nothing moved */
	free(s.members);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipc_loads_root),
		cmocka_unit_test(test_ipc_without_namespace),
	};

	server_log_init(LOG_LEVEL_QUIET);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
