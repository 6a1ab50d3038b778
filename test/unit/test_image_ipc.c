/* Unit tests of ipc.img's checks (image_ipc_entry_check, image_ipc_check, image_ipc_load):
 * a hostile or damaged record is refused before anything is created. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "err.h"
#include "image.h"
#include "image_ipc.h"

/* One of each: a setting, a 10-byte segment, a set of 2 semaphores, a queue of 2 messages. */
struct fixture {
	IpcEntry e[4];
	IpcEntry *list[4];
	IpcSysctlEntry sysctl;
	IpcPermEntry perm[3];
	IpcShmEntry shm;
	IpcSemEntry sem;
	uint32_t values[2];
	IpcMsqEntry msq;
	IpcMsgEntry msg[2];
	IpcMsgEntry *msgs[2];
	uint8_t data[10];
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < 4; i++) {
		ipc_entry__init(&f->e[i]);
		f->list[i] = &f->e[i];
	}
	ipc_sysctl_entry__init(&f->sysctl);
	f->sysctl.name = "msgmnb";
	f->sysctl.value = "16384";
	f->e[0].sysctl = &f->sysctl;
	for (int i = 0; i < 3; i++) {
		ipc_perm_entry__init(&f->perm[i]);
		f->perm[i].id = 32768U * (uint32_t)i + 1;
		f->perm[i].key = 0x1000U + (uint32_t)i;
		f->perm[i].mode = 0640;
	}
	ipc_shm_entry__init(&f->shm);
	f->shm.perm = &f->perm[0];
	f->shm.size = sizeof(f->data);
	f->shm.data.data = f->data;
	f->shm.data.len = sizeof(f->data);
	f->e[1].shm = &f->shm;
	ipc_sem_entry__init(&f->sem);
	f->sem.perm = &f->perm[1];
	f->values[0] = 0;
	f->values[1] = 32767;
	f->sem.values = f->values;
	f->sem.n_values = 2;
	f->e[2].sem = &f->sem;
	ipc_msq_entry__init(&f->msq);
	f->msq.perm = &f->perm[2];
	f->msq.qbytes = 100;
	for (int i = 0; i < 2; i++) {
		ipc_msg_entry__init(&f->msg[i]);
		f->msg[i].mtype = (uint64_t)i + 1;
		f->msg[i].text.data = f->data;
		f->msg[i].text.len = 5;
		f->msgs[i] = &f->msg[i];
	}
	f->msq.msgs = f->msgs;
	f->msq.n_msgs = 2;
	f->e[3].msq = &f->msq;
}

static void refused(struct fixture *f, const char *detail)
{
	assert_int_equal(image_ipc_check(f->list, 4), -EBADMSG);
	assert_non_null(strstr(err_detail(), detail));
}

static void test_valid(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	assert_int_equal(image_ipc_check(f.list, 4), 0);
	f.perm[1].key = 0; /* private keys may repeat: */
	f.perm[2].key = 0;
	assert_int_equal(image_ipc_check(f.list, 4), 0);
	assert_true(image_ipc_sysctl_known("sem"));
	assert_false(image_ipc_sysctl_known("core_pattern"));
}

static void test_record_shape(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.e[1].sem = &f.sem; /* two objects in one record */
	refused(&f, "holds 2 objects");
	fixture_init(&f);
	f.e[1].shm = NULL; /* none */
	refused(&f, "holds 0 objects");
	fixture_init(&f);
	f.shm.perm = NULL;
	refused(&f, "without its ids");
	fixture_init(&f);
	f.list[2] = NULL;
	refused(&f, "record 2 is empty");
}

static void test_settings(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.sysctl.name = "core_pattern"; /* a file restore must never write */
	refused(&f, "core_pattern");
	fixture_init(&f);
	f.sysctl.name = "../../../etc/passwd";
	refused(&f, "not one restore writes");
	fixture_init(&f);
	f.sysctl.value = "|/bin/sh";
	refused(&f, "is not numbers");
	fixture_init(&f);
	f.sysctl.value = "";
	refused(&f, "is not numbers");
}

static void test_objects(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.perm[0].mode = 04777;
	refused(&f, "bad id or mode");
	fixture_init(&f);
	f.perm[1].id = 0x80000000U;
	refused(&f, "bad id or mode");
	fixture_init(&f);
	f.shm.size = 4096; /* contents shorter than the segment */
	refused(&f, "10 bytes of contents for a size of 4096");
	fixture_init(&f);
	f.shm.size = f.shm.data.len = 0;
	refused(&f, "shm segment id 1");
	fixture_init(&f);
	f.values[1] = 32768;
	refused(&f, "above 32767");
	fixture_init(&f);
	f.sem.n_values = 0;
	refused(&f, "has 0 semaphores");
	fixture_init(&f);
	f.msg[1].mtype = 0;
	refused(&f, "message 1 has no type");
	fixture_init(&f);
	f.msg[0].mtype = 1ULL << 63;
	refused(&f, "message 0 has no type");
	fixture_init(&f);
	f.msq.qbytes = 9; /* 10 bytes queued */
	refused(&f, "holds 10 bytes");
}

static void test_unique(void **state)
{
	struct fixture f;
	IpcShmEntry other;
	IpcPermEntry perm;

	(void)state;
	fixture_init(&f);
	/* A second segment with the first one's id. */
	other = f.shm;
	perm = f.perm[0];
	perm.key = 0x9999;
	other.perm = &perm;
	f.e[2].sem = NULL;
	f.e[2].shm = &other;
	refused(&f, "two shm segments with id 1");
	/* The same key for another id. */
	perm.id = 77;
	perm.key = f.perm[0].key;
	refused(&f, "two shm segments");
	/* The same id in another kind is fine. */
	fixture_init(&f);
	f.perm[1].id = f.perm[0].id;
	assert_int_equal(image_ipc_check(f.list, 4), 0);
}

/* Written by the image writer, then read back whole, cut short, and with a foreign record. */
static void test_load(void **state)
{
	char dir[] = "/tmp/test_image_ipc.XXXXXX", path[128];
	struct image_dir d = { .dirfd = -1 };
	struct image_file *w;
	struct fixture f;
	IpcEntry **ipc;
	size_t n;

	(void)state;
	fixture_init(&f);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(image_dir_open(&d, dir, false), 0);
	assert_int_equal(image_open_write(&d, IMAGE_IPC, 0, &w), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(image_write_record(w, &f.e[i].base), 0);
	assert_int_equal(image_close(w), 0);
	assert_int_equal(image_ipc_load(&d, &ipc, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(ipc[0]->sysctl->name, "msgmnb");
	assert_int_equal(ipc[3]->msq->n_msgs, 2);
	image_ipc_free(ipc, n);
	snprintf(path, sizeof(path), "%s/ipc.img", dir);
	assert_int_equal(truncate(path, 30), 0);
	assert_int_equal(image_ipc_load(&d, &ipc, &n), -EBADMSG);
	/* A record that breaks the rules is refused as it is read. */
	f.sysctl.name = "core_pattern";
	assert_int_equal(image_open_write(&d, IMAGE_IPC, 0, &w), 0);
	assert_int_equal(image_write_record(w, &f.e[0].base), 0);
	assert_int_equal(image_close(w), 0);
	assert_int_equal(image_ipc_load(&d, &ipc, &n), -EBADMSG);
	assert_non_null(strstr(err_detail(), "core_pattern"));
	unlink(path);
	assert_int_equal(image_ipc_load(&d, &ipc, &n) < 0, 1);
	image_dir_close(&d);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),	 cmocka_unit_test(test_record_shape),
		cmocka_unit_test(test_settings), cmocka_unit_test(test_objects),
		cmocka_unit_test(test_unique),	 cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
