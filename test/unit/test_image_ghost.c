/* Unit tests of the checks that mapped memfds and deleted files get (VmaEntry.ghost_*,
 * FdEntry.ghost_mapped): in an image (image_task_check) and in a layout the destination is
 * given (restore_mm_ghost_check). A hostile record is refused before anything is created. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "err.h"
#include "image.h"
#include "restore_internal.h"

struct fixture {
	InventoryEntry inv;
	PstreeEntry ps;
	TaskCoreEntry core;
	MmEntry mm;
	ThreadCoreEntry th;
	ThreadCoreEntry *ths[1];
	uint32_t tid;
	VmaEntry vma[2];
	VmaEntry *vmas[2];
	FdEntry fd;
	FdEntry *fds[1];
	uint8_t data[8192];
	struct image_task t;
};

/* Process 4242 mapping the memfd "m" (dev 5, ino 77, 8 KiB) twice, shared: its contents on the
 * first VMA; fd 3 of the same memfd, ghost_mapped. */
static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	inventory_entry__init(&f->inv);
	pstree_entry__init(&f->ps);
	task_core_entry__init(&f->core);
	mm_entry__init(&f->mm);
	thread_core_entry__init(&f->th);
	f->inv.image_version = IMAGE_FORMAT_VERSION;
	f->inv.page_size = IMAGE_PAGE_SIZE;
	f->inv.arch = "x86_64";
	f->inv.root_pid = f->ps.pid = f->core.pid = f->th.tid = f->tid = 4242;
	f->ps.threads = &f->tid;
	f->ps.n_threads = f->core.n_threads = 1;
	f->ths[0] = &f->th;
	f->core.threads = f->ths;
	for (int i = 0; i < 2; i++) {
		VmaEntry *v = &f->vma[i];

		vma_entry__init(v);
		v->start = 0x10000 + (uint64_t)i * 0x10000;
		v->end = v->start + 0x2000;
		v->prot = PROT_READ | PROT_WRITE;
		v->flags = MAP_SHARED;
		v->kind = VMA_KIND__VMA_FILE_SHARED;
		v->path = "/memfd:m";
		v->has_dev = v->has_ino = v->has_file_deleted = v->file_deleted = true;
		v->dev = 5;
		v->ino = 77;
		f->vmas[i] = v;
	}
	f->vma[0].has_ghost_data = f->vma[0].has_ghost_size = true;
	f->vma[0].ghost_data = (ProtobufCBinaryData){ sizeof(f->data), f->data };
	f->vma[0].ghost_size = sizeof(f->data);
	f->vma[0].memfd_name = "m";
	f->vma[0].has_memfd_seals = true;
	f->mm.vmas = f->vmas;
	f->mm.n_vmas = 2;
	fd_entry__init(&f->fd);
	f->fd.fd = 3;
	f->fd.kind = FD_KIND__FD_MEMFD;
	f->fd.path = "/memfd:m (deleted)";
	f->fd.flags = O_RDWR;
	f->fd.has_dev = f->fd.has_ino = f->fd.has_size = f->fd.has_memfd_seals = true;
	f->fd.dev = 5;
	f->fd.ino = 77;
	f->fd.size = sizeof(f->data);
	f->fd.has_ghost_mapped = f->fd.ghost_mapped = true;
	f->fds[0] = &f->fd;
	f->t = (struct image_task){ .pstree = &f->ps,
				    .core = &f->core,
				    .mm = &f->mm,
				    .fds = f->fds,
				    .fd_count = 1,
				    .pages_fd = -1 };
}

static int check(struct fixture *f)
{
	int r = image_task_check(&f->inv, &f->t);

	if (r < 0)
		print_message("refused: %s\n", err_detail());
	return r;
}

static void test_valid(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	assert_int_equal(check(&f), 0);
	assert_int_equal(restore_mm_ghost_check(f.vmas, 2), 0);
	/* A deleted file mapped privately, without its fd. */
	f.vma[0].memfd_name = NULL;
	f.vma[0].has_memfd_seals = false;
	f.vma[0].has_ghost_mode = true;
	f.vma[0].ghost_mode = 0100640;
	f.vma[0].path = f.vma[1].path = "/tmp/gone";
	f.vma[0].kind = f.vma[1].kind = VMA_KIND__VMA_FILE_PRIVATE;
	f.t.fd_count = 0;
	assert_int_equal(check(&f), 0);
	assert_int_equal(restore_mm_ghost_check(f.vmas, 2), 0);
}

static void test_hostile_image(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.vma[0].ghost_size = sizeof(f.data) + 1; /* contents shorter than the size */
	assert_int_equal(check(&f), -EBADMSG);
	assert_non_null(strstr(err_detail(), "exactly its contents"));
	fixture_init(&f);
	f.vma[0].kind = VMA_KIND__VMA_ANON_SHARED; /* not a file VMA */
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.vma[0].file_deleted = false; /* a file that exists: mapped by its path */
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.vma[0].has_ino = false;
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.vma[0].has_ghost_data = false; /* a size and a name, no contents */
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.fd.has_file_data = true; /* mapped, and contents too */
	assert_int_equal(check(&f), -EBADMSG);
	assert_non_null(strstr(err_detail(), "fd 3"));
	fixture_init(&f);
	f.fd.has_ino = false;
	assert_int_equal(check(&f), -EBADMSG);
	fixture_init(&f);
	f.fd.kind = FD_KIND__FD_GHOST;
	f.fd.has_dev = false;
	assert_int_equal(check(&f), -EBADMSG);
}

static void test_hostile_layout(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	f.vma[0].has_ghost_data = false; /* mapped, object nowhere */
	assert_int_equal(restore_mm_ghost_check(f.vmas, 2), -EINVAL);
	assert_non_null(strstr(err_detail(), "does not carry it"));
	fixture_init(&f);
	f.vma[0].ino = 78; /* the second VMA's object is not in the layout */
	assert_int_equal(restore_mm_ghost_check(f.vmas, 2), -EINVAL);
	assert_non_null(strstr(err_detail(), "0x20000"));
	fixture_init(&f);
	f.vma[0].ghost_size = 1ull << 40; /* sparse and huge */
	assert_int_equal(restore_mm_ghost_check(f.vmas, 2), -EINVAL);
	fixture_init(&f);
	f.vma[0].path = NULL;
	assert_int_equal(restore_mm_ghost_check(f.vmas, 2), -EINVAL);
	fixture_init(&f);
	f.vmas[1] = NULL;
	assert_int_equal(restore_mm_ghost_check(f.vmas, 2), 0); /* layout_build refuses it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_hostile_image),
		cmocka_unit_test(test_hostile_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
