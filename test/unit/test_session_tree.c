/*
 * A session receiving a process tree, without processes: every pid a frame carries is
 * checked against the tree Start announced (an unknown pid and a zombie are protocol
 * errors that name them), the member a frame names comes into the session's fields and
 * the others keep theirs, and the pstree records of the freeze must name the processes of
 * Start with the same parents.
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

static PstreeEntry *entry(uint32_t pid, uint32_t ppid, bool zombie)
{
	PstreeEntry *ps = malloc(sizeof(*ps));

	assert_non_null(ps);
	pstree_entry__init(ps);
	ps->pid = pid;
	ps->ppid = ppid;
	ps->has_zombie = zombie;
	ps->zombie = zombie;
	return ps;
}

/* Root 100 (loaded), child 101, zombie 102. */
static void tree_init(struct session *s)
{
	memset(s, 0, sizeof(*s));
	s->pid = 100;
	s->nr_members = 3;
	s->members = calloc(3, sizeof(*s->members));
	assert_non_null(s->members);
	s->members[0].pid = 100;
	s->members[0].start_ps = entry(100, 0, false);
	s->members[1].pid = 101;
	s->members[1].start_ps = entry(101, 100, false);
	s->members[1].proc = fake_child;
	s->members[2].pid = 102;
	s->members[2].zombie = true;
	s->members[2].start_ps = entry(102, 100, true);
	s->loaded = 0;
	s->proc = fake_root;
}

static void tree_fini(struct session *s)
{
	for (size_t i = 0; i < s->nr_members; i++) {
		protobuf_c_message_free_unpacked(&s->members[i].start_ps->base, NULL);
		if (s->members[i].pstree)
			protobuf_c_message_free_unpacked(&s->members[i].pstree->base, NULL);
	}
	if (s->pstree)
		protobuf_c_message_free_unpacked(&s->pstree->base, NULL);
	free(s->members);
}

static void test_select_swaps(void **state)
{
	struct session s;

	(void)state;
	tree_init(&s);
	assert_int_equal(session_member_select(&s, 101, "Layout"), 0);
	assert_ptr_equal(s.proc, fake_child);
	assert_int_equal(session_member_pid(&s), 101);
	assert_ptr_equal(s.members[0].proc, fake_root);
	/* Its written ranges travel with it. */
	assert_int_equal(session_ranges_add(&s.written, 0x1000, 0x3000), 0);
	assert_int_equal(session_member_select(&s, 100, "PageBatch"), 0);
	assert_ptr_equal(s.proc, fake_root);
	assert_int_equal(s.written.n, 0);
	assert_int_equal(session_member_pid(&s), 100);
	assert_int_equal(session_member_select(&s, 101, "PageBatch"), 0);
	assert_int_equal(s.written.n, 1);
	assert_true(s.written.r[0].start == 0x1000 && s.written.r[0].end == 0x3000);
	session_ranges_fini(&s.written);
	tree_fini(&s);
}

static void test_select_refuses(void **state)
{
	struct session s;

	(void)state;
	tree_init(&s);
	assert_int_equal(session_member_select(&s, 999, "PageBatch"), -EPROTO);
	assert_non_null(strstr(s.fail.message, "PageBatch: pid 999 is not a process of the tree "
					       "of pid 100 announced in Start"));
	assert_int_equal(s.fail.reason, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL);
	assert_int_equal(session_member_select(&s, 102, "Layout"), -EPROTO);
	assert_non_null(strstr(s.fail.message, "pid 102 is a zombie"));
	/* Nothing moved. */
	assert_ptr_equal(s.proc, fake_root);
	assert_int_equal(session_member_pid(&s), 100);
	tree_fini(&s);

	/* One process: its own pid only, as before trees. */
	memset(&s, 0, sizeof(s));
	s.pid = 100;
	assert_int_equal(session_member_select(&s, 100, "Layout"), 0);
	assert_int_equal(session_member_select(&s, 101, "Layout"), -EPROTO);
	assert_non_null(strstr(s.fail.message, "Layout: pid 101, this session restores pid 100"));
}

static void test_pstree_records(void **state)
{
	struct session s;

	(void)state;
	tree_init(&s);
	/* Not announced, another parent, a zombie that was not: refused by name. */
	assert_int_equal(session_tree_on_pstree(&s, entry(103, 100, false)), -EPROTO);
	assert_non_null(strstr(s.fail.message, "pid 103: not a process of the tree"));
	assert_int_equal(session_tree_on_pstree(&s, entry(101, 1, false)), -EPROTO);
	assert_non_null(strstr(s.fail.message, "parent 1, Start announced parent 100"));
	assert_int_equal(session_tree_on_pstree(&s, entry(101, 100, true)), -EPROTO);
	/* The right ones, to whoever is loaded or parked. */
	assert_int_equal(session_tree_on_pstree(&s, entry(100, 0, false)), 0);
	assert_non_null(s.pstree);
	assert_int_equal(session_tree_on_pstree(&s, entry(101, 100, false)), 0);
	assert_non_null(s.members[1].pstree);
	assert_int_equal(session_tree_on_pstree(&s, entry(102, 100, true)), 0);
	/* Twice: refused. */
	assert_int_equal(session_tree_on_pstree(&s, entry(101, 100, false)), -EPROTO);
	assert_non_null(strstr(s.fail.message, "pstree record of pid 101 sent twice"));
	assert_int_equal(session_tree_on_pstree(&s, entry(100, 0, false)), -EPROTO);
	tree_fini(&s);
}

/* A Start whose tree is not one (a parent after its child, a pid twice) makes nothing. */
static void test_start_refuses(void **state)
{
	static const struct {
		uint32_t pid, ppid;
		const char *why;
	} bad[] = {
		{ 101, 105, "pid 101 comes before its parent 105" },
		{ 100, 100, "pid 100 appears twice" },
		{ 0, 100, "bad pid 0" },
	};
	uint32_t tids[2] = { 100, 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		WireStart m = WIRE_START__INIT;
		InventoryEntry inv = INVENTORY_ENTRY__INIT;
		PstreeEntry root = PSTREE_ENTRY__INIT, child = PSTREE_ENTRY__INIT;
		PstreeEntry *members[1] = { &child };
		struct session s = { .pid = 100 };

		inv.root_pid = 100;
		root.pid = 100;
		root.n_threads = 1;
		root.threads = &tids[0];
		child.pid = bad[i].pid;
		child.ppid = bad[i].ppid;
		tids[1] = bad[i].pid;
		child.n_threads = 1;
		child.threads = &tids[1];
		m.inventory = &inv;
		m.pstree = &root;
		m.n_members = 1;
		m.members = members;
		assert_int_equal(session_tree_start(&s, &m), -EBADMSG);
		assert_non_null(strstr(s.fail.message, bad[i].why));
		for (size_t k = 0; k < s.nr_members; k++)
			assert_null(s.members[k].proc);
		session_tree_fini(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select_swaps),
		cmocka_unit_test(test_select_refuses),
		cmocka_unit_test(test_pstree_records),
		cmocka_unit_test(test_start_refuses),
	};

	server_log_init(LOG_LEVEL_QUIET);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
