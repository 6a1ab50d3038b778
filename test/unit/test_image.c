/*
 * test_image: record files, the page writer, and image_set_load on a valid
 * synthetic directory and on hostile variants of it.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "image.h"

#define PG IMAGE_PAGE_SIZE

/* What to break while building the synthetic directory. */
struct fixture_opts {
	bool overlap_vma;
	bool dup_pid;
	bool thread_mismatch;
	bool run_in_vdso;
	bool run_outside;
};

struct fixture {
	char dir[64];
};

static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	(void)rmdir(path);
}

static VmaEntry *vma_new(uint64_t start, uint64_t end, VmaKind kind, uint32_t prot)
{
	VmaEntry *v = calloc(1, sizeof(*v));

	assert_non_null(v);
	vma_entry__init(v);
	v->start = start;
	v->end = end;
	v->kind = kind;
	v->prot = prot;
	return v;
}

static void write_core(struct image_dir *d, uint32_t pid, const uint32_t *tids, size_t n)
{
	TaskCoreEntry core = TASK_CORE_ENTRY__INIT;
	CredsEntry creds = CREDS_ENTRY__INIT;
	ThreadCoreEntry th[4], *thp[4];
	UserRegsEntry regs[4];
	uint8_t xstate[16] = { 1, 2, 3 };

	for (size_t i = 0; i < n; i++) {
		thread_core_entry__init(&th[i]);
		user_regs_entry__init(&regs[i]);
		regs[i].rip = 0x401000 + i;
		th[i].tid = tids[i];
		th[i].regs = &regs[i];
		th[i].xstate.data = xstate;
		th[i].xstate.len = sizeof(xstate);
		thp[i] = &th[i];
	}
	core.pid = pid;
	core.comm = "test \"prog\"\n";
	core.cwd = "/";
	core.root = "/";
	core.creds = &creds;
	core.threads = thp;
	core.n_threads = n;
	assert_int_equal(image_write_single(d, IMAGE_CORE, (pid_t)pid, &core.base), 0);
}

static void write_mm(struct image_dir *d, uint32_t pid, const struct fixture_opts *o)
{
	MmEntry mm = MM_ENTRY__INIT;
	VmaEntry *v[8];
	size_t n = 0;

	v[n++] = vma_new(0x400000, 0x401000, VMA_KIND__VMA_FILE_PRIVATE, 5);
	v[n - 1]->path = "/bin/prog";
	v[n++] = vma_new(0x600000, 0x604000, VMA_KIND__VMA_ANON_PRIVATE, 3);
	v[n++] = vma_new(o->overlap_vma ? 0x603000 : 0x700000, 0x710000, VMA_KIND__VMA_HEAP, 3);
	v[n++] = vma_new(0x7ffff7ff0000, 0x7ffff7ff4000, VMA_KIND__VMA_VVAR, 1);
	v[n++] = vma_new(0x7ffff7ff4000, 0x7ffff7ff6000, VMA_KIND__VMA_VDSO, 5);
	v[n++] = vma_new(0x7ffffffde000, 0x7ffffffff000, VMA_KIND__VMA_STACK, 3);
	v[n++] = vma_new(0xffffffffff600000, 0xffffffffff601000, VMA_KIND__VMA_VSYSCALL, 4);
	mm.vmas = v;
	mm.n_vmas = n;
	mm.exe_path = "/bin/prog";
	assert_int_equal(image_write_single(d, IMAGE_MM, (pid_t)pid, &mm.base), 0);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
}

static void write_files(struct image_dir *d, uint32_t pid)
{
	struct image_file *f;

	assert_int_equal(image_open_write(d, IMAGE_FILES, (pid_t)pid, &f), 0);
	for (uint32_t fd = 0; fd < 3; fd++) {
		FdEntry e = FD_ENTRY__INIT;

		e.fd = fd;
		e.kind = FD_KIND__FD_DEVNULL;
		e.path = "/dev/null";
		assert_int_equal(image_write_record(f, &e.base), 0);
	}
	assert_int_equal(image_close(f), 0);
}

/* Fills n pages with a pattern that names the page's address. */
static void *pattern(uint64_t vaddr, size_t n)
{
	uint64_t *p = malloc(n * PG);

	assert_non_null(p);
	for (size_t i = 0; i < n * PG / 8; i++)
		p[i] = vaddr + i * 8;
	return p;
}

static void add_pages(struct page_writer *w, uint64_t vaddr, size_t n)
{
	void *p = pattern(vaddr, n);

	assert_int_equal(page_writer_add(w, vaddr, p, n), 0);
	free(p);
}

/* 5 pages in 3 runs: 0x600000 (3, coalesced from 1+2), 0x700000, 0x7ffffffde000. */
static void write_pages(struct image_dir *d, uint32_t pid, const struct fixture_opts *o)
{
	struct page_writer *w;

	assert_int_equal(page_writer_open(d, (pid_t)pid, &w), 0);
	add_pages(w, 0x600000, 1);
	add_pages(w, 0x601000, 2);
	add_pages(w, 0x700000, 1);
	if (o->run_in_vdso)
		add_pages(w, 0x7ffff7ff4000, 1);
	if (o->run_outside)
		add_pages(w, 0x7ffff7000000, 1);
	add_pages(w, 0x7ffffffde000, 1);
	assert_int_equal(page_writer_close(w), 0);
}

static void build_dir(const char *path, const struct fixture_opts *o)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	PstreeEntry ps[2] = { PSTREE_ENTRY__INIT, PSTREE_ENTRY__INIT };
	uint32_t t100[] = { 100, 102 }, t101[] = { 101 }, bad[] = { 100, 103 };
	struct image_dir d;
	struct image_file *f;

	assert_int_equal(image_dir_open(&d, path, true), 0);
	inv.image_version = IMAGE_FORMAT_VERSION;
	inv.tool_version = "test";
	inv.root_pid = 100;
	inv.page_size = PG;
	inv.arch = "x86_64";
	assert_int_equal(image_write_single(&d, IMAGE_INVENTORY, 0, &inv.base), 0);

	ps[0].pid = 100;
	ps[0].threads = t100;
	ps[0].n_threads = 2;
	ps[1].pid = o->dup_pid ? 100 : 101;
	ps[1].ppid = 100;
	ps[1].threads = o->dup_pid ? t100 : t101;
	ps[1].n_threads = o->dup_pid ? 2 : 1;
	assert_int_equal(image_open_write(&d, IMAGE_PSTREE, 0, &f), 0);
	assert_int_equal(image_write_record(f, &ps[0].base), 0);
	assert_int_equal(image_write_record(f, &ps[1].base), 0);
	assert_int_equal(image_close(f), 0);

	write_core(&d, 100, o->thread_mismatch ? bad : t100, 2);
	write_core(&d, 101, t101, 1);
	for (uint32_t pid = 100; pid <= 101; pid++) {
		write_mm(&d, pid, o);
		write_files(&d, pid);
		write_pages(&d, pid, o);
	}
	image_dir_close(&d);
}

static int fixture_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct fixture_opts none = { 0 };

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_image.XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	build_dir(fx->dir, &none);
	*state = fx;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *fx = *state;

	remove_dir(fx->dir);
	free(fx);
	return 0;
}

static char *path_of(const struct fixture *fx, const char *name)
{
	static char path[128];

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	return path;
}

static void file_truncate(const struct fixture *fx, const char *name, off_t len)
{
	assert_int_equal(truncate(path_of(fx, name), len), 0);
}

static off_t file_size(const struct fixture *fx, const char *name)
{
	struct stat st;

	assert_int_equal(stat(path_of(fx, name), &st), 0);
	return st.st_size;
}

static void file_patch(const struct fixture *fx, const char *name, off_t off, const void *p,
		       size_t len)
{
	int fd = open(path_of(fx, name), O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, len, off), (ssize_t)len);
	close(fd);
}

static void file_patch_u32(const struct fixture *fx, const char *name, off_t off, uint32_t v)
{
	uint32_t le = htole32(v);

	file_patch(fx, name, off, &le, sizeof(le));
}

/* Loads fx's directory and expects refusal with err, a detail holding want and the hint. */
static void expect_refused(const struct fixture *fx, int err, const char *want)
{
	struct image_set *set = NULL;
	int r;

	err_clear();
	r = image_set_load(fx->dir, &set);
	if (r != err || !strstr(err_detail(), want) || !strstr(err_detail(), "dump again"))
		print_error("got %d \"%s\", wanted %d with \"%s\"\n", r, err_detail(), err, want);
	assert_int_equal(r, err);
	assert_null(set);
	assert_non_null(strstr(err_detail(), want));
	assert_non_null(strstr(err_detail(), "dump again"));
}

static void rebuild(struct fixture *fx, const struct fixture_opts *o)
{
	remove_dir(fx->dir);
	build_dir(fx->dir, o);
}

static void test_names(void **state)
{
	char buf[64];
	enum image_kind kind;
	pid_t pid;

	assert_int_equal(image_file_name(IMAGE_CORE, 42, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "core-42.img");
	assert_int_equal(image_file_name(IMAGE_INVENTORY, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "inventory.img");
	assert_int_equal(image_file_name(IMAGE_MM, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(image_file_name(IMAGE_PAGES, 7, buf, 5), -ENAMETOOLONG);
	for (int k = 0; k < IMAGE_KIND_COUNT; k++) {
		assert_int_equal(image_file_name((enum image_kind)k, 9, buf, sizeof(buf)), 0);
		assert_int_equal(image_kind_from_name(buf, &kind, &pid), 0);
		assert_int_equal(kind, k);
		assert_int_equal(pid, (k == IMAGE_INVENTORY || k == IMAGE_PSTREE ||
				       k == IMAGE_IPC) ? 0 : 9);
	}
	assert_int_equal(image_kind_from_name("core-0.img", &kind, &pid), -EINVAL);
	assert_int_equal(image_kind_from_name("core-x.img", &kind, &pid), -EINVAL);
	assert_int_equal(image_kind_from_name("core-1.imgx", &kind, &pid), -EINVAL);
	assert_int_equal(image_kind_from_name("core-99999999999.img", &kind, &pid), -EINVAL);
	assert_int_equal(image_kind_from_name("pstree-1.img", &kind, &pid), -EINVAL);
	assert_int_equal(image_kind_from_name("pagemap-3.img", &kind, &pid), 0);
	assert_int_equal(kind, IMAGE_PAGEMAP);
	assert_null(image_kind_descriptor(IMAGE_PAGES));
	assert_ptr_equal(image_kind_descriptor(IMAGE_MM), &mm_entry__descriptor);
}

static bool same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la = protobuf_c_message_get_packed_size(a);
	size_t lb = protobuf_c_message_get_packed_size(b);
	uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);
	bool same;

	assert_non_null(pa);
	assert_non_null(pb);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	same = la == lb && memcmp(pa, pb, la) == 0;
	free(pa);
	free(pb);
	return same;
}

/* Every kind, written and read back, byte-identical once packed again. */
static void test_round_trip(void **state)
{
	struct fixture *fx = *state;
	static const enum image_kind kinds[] = { IMAGE_INVENTORY, IMAGE_PSTREE, IMAGE_CORE,
						 IMAGE_MM,	  IMAGE_FILES,	IMAGE_PAGEMAP };
	char out[80];
	struct image_dir d, o;

	snprintf(out, sizeof(out), "%s/copy", fx->dir);
	assert_int_equal(image_dir_open(&d, fx->dir, false), 0);
	assert_int_equal(image_dir_open(&o, out, true), 0);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		pid_t pid = kinds[k] == IMAGE_INVENTORY || kinds[k] == IMAGE_PSTREE ? 0 : 100;
		ProtobufCMessage *msgs[8], *m;
		struct image_file *in, *cp;
		size_t n = 0;
		int r;

		assert_int_equal(image_open_read(&d, kinds[k], pid, &in), 0);
		assert_int_equal(image_open_write(&o, kinds[k], pid, &cp), 0);
		while ((r = image_read_record(in, &m)) == 1) {
			assert_true(n < 8);
			assert_int_equal(image_write_record(cp, m), 0);
			msgs[n++] = m;
		}
		assert_int_equal(r, 0);
		assert_true(n >= 1);
		assert_int_equal(image_close(in), 0);
		assert_int_equal(image_close(cp), 0);
		assert_int_equal(image_open_read(&o, kinds[k], pid, &in), 0);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(image_read_record(in, &m), 1);
			assert_true(same_message(m, msgs[i]));
			protobuf_c_message_free_unpacked(m, NULL);
			protobuf_c_message_free_unpacked(msgs[i], NULL);
		}
		assert_int_equal(image_read_record(in, &m), 0);
		assert_int_equal(image_close(in), 0);
	}
	/* A record of the wrong type is refused, and an empty record file reads as empty. */
	{
		struct image_file *f;
		PagemapEntry pe = PAGEMAP_ENTRY__INIT;
		ProtobufCMessage *m;

		assert_int_equal(image_open_write(&o, IMAGE_CORE, 5, &f), 0);
		assert_int_equal(image_write_record(f, &pe.base), -EINVAL);
		assert_int_equal(image_close(f), 0);
		assert_int_equal(image_open_read(&o, IMAGE_CORE, 5, &f), 0);
		assert_int_equal(image_read_record(f, &m), 0);
		assert_int_equal(image_close(f), 0);
		assert_int_equal(image_open_read(&o, IMAGE_CORE, 6, &f), -ENOENT);
		assert_int_equal(image_open_write(&o, IMAGE_PAGES, 6, &f), -EINVAL);
	}
	image_dir_close(&o);
	image_dir_close(&d);
	remove_dir(out);
}

static void read_pagemap(struct image_dir *d, pid_t pid, PagemapEntry **out, size_t max,
			 size_t *ret_n)
{
	struct image_file *f;
	ProtobufCMessage *m;
	size_t n = 0;

	assert_int_equal(image_open_read(d, IMAGE_PAGEMAP, pid, &f), 0);
	while (image_read_record(f, &m) == 1) {
		assert_true(n < max);
		out[n++] = (PagemapEntry *)m;
	}
	assert_int_equal(image_close(f), 0);
	*ret_n = n;
}

static void test_page_writer(void **state)
{
	struct fixture *fx = *state;
	struct image_dir d;
	struct page_writer *w;
	PagemapEntry *pe[8];
	size_t n, big = 700; /* more than the writer's buffer: written straight through */
	uint8_t page[PG] = { 0 };
	void *p;

	assert_int_equal(image_dir_open(&d, fx->dir, false), 0);
	assert_int_equal(page_writer_open(&d, 7, &w), 0);
	assert_int_equal(page_writer_add(w, 0x1001, page, 1), -EINVAL);
	assert_int_equal(page_writer_add(w, 0x1000, page, 0), -EINVAL);
	add_pages(w, 0x10000, 1);
	for (uint64_t a = 0x11000; a < 0x11000 + 300 * PG; a += PG)
		add_pages(w, a, 1); /* one page at a time: must coalesce into one run */
	assert_int_equal(page_writer_cut(w), 0); /* adjacent, yet a run of its own */
	add_pages(w, 0x11000 + 300 * PG, 2);
	p = pattern(0x200000, big);
	assert_int_equal(page_writer_add(w, 0x200000, p, big), 0);
	free(p);
	assert_int_equal(page_writer_add(w, 0x200000, page, 1), -EINVAL); /* below the end */
	assert_int_equal(page_writer_close(w), 0);

	read_pagemap(&d, 7, pe, 8, &n);
	assert_int_equal(n, 3);
	assert_int_equal(pe[0]->vaddr, 0x10000);
	assert_int_equal(pe[0]->nr_pages, 301);
	assert_int_equal(pe[1]->vaddr, 0x11000 + 300 * PG);
	assert_int_equal(pe[1]->nr_pages, 2);
	assert_int_equal(pe[2]->vaddr, 0x200000);
	assert_int_equal(pe[2]->nr_pages, big);
	for (size_t i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(&pe[i]->base, NULL);
	assert_int_equal(file_size(fx, "pages-7.img"), (off_t)(303 + big) * PG);

	/* The contents follow the runs: page 303 is the first of the 0x200000 run. */
	{
		uint64_t word;
		int fd = open(path_of(fx, "pages-7.img"), O_RDONLY);

		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &word, 8, 303 * PG + 16), 8);
		assert_int_equal(word, 0x200000 + 16);
		assert_int_equal(pread(fd, &word, 8, 5 * PG), 8);
		assert_int_equal(word, 0x10000 + 5 * PG);
		close(fd);
	}
	image_dir_close(&d);
}

static void test_load_valid(void **state)
{
	struct fixture *fx = *state;
	struct image_set *set;
	uint64_t word;

	assert_int_equal(image_set_load(fx->dir, &set), 0);
	assert_int_equal(set->task_count, 2);
	assert_int_equal(set->inventory->root_pid, 100);
	assert_int_equal(set->tasks[0].pstree->pid, 100);
	assert_int_equal(set->tasks[0].core->n_threads, 2);
	assert_int_equal(set->tasks[1].core->pid, 101);
	assert_int_equal(set->tasks[0].mm->n_vmas, 7);
	assert_int_equal(set->tasks[0].fd_count, 3);
	assert_int_equal(set->tasks[0].page_run_count, 3);
	assert_int_equal(set->tasks[0].page_runs[0].vaddr, 0x600000);
	assert_int_equal(set->tasks[0].page_runs[0].nr_pages, 3);
	assert_int_equal(set->tasks[0].page_runs[2].vaddr, 0x7ffffffde000);
	assert_int_equal(set->tasks[0].page_runs[2].file_offset, 4 * PG);
	assert_int_equal(pread(set->tasks[1].pages_fd, &word, 8, 3 * PG + 8), 8);
	assert_int_equal(word, 0x700000 + 8);
	image_set_free(set);
	image_set_free(NULL);
}

static void test_missing(void **state)
{
	struct fixture *fx = *state;
	struct fixture missing = { "/tmp/test_image.does-not-exist" };

	assert_int_equal(unlink(path_of(fx, "core-101.img")), 0);
	expect_refused(fx, -ENOENT, "core-101.img: missing");
	assert_int_equal(unlink(path_of(fx, "pages-100.img")), 0);
	expect_refused(fx, -ENOENT, "pages-100.img: missing");
	/* A wrong path is the user's typo, not a damaged image: no "dump again". */
	struct image_set *set = NULL;
	err_clear();
	assert_int_equal(image_set_load(missing.dir, &set), -ENOENT);
	assert_null(set);
	assert_non_null(strstr(err_detail(), "cannot open image directory"));
	assert_null(strstr(err_detail(), "dump again"));
}

static void test_empty_and_truncated_header(void **state)
{
	struct fixture *fx = *state;

	file_truncate(fx, "mm-100.img", 0);
	expect_refused(fx, -EBADMSG, "mm-100.img: truncated header (0 of 12");
	file_truncate(fx, "mm-100.img", 6);
	expect_refused(fx, -EBADMSG, "mm-100.img: truncated header (6 of 12");
}

static void test_bad_header(void **state)
{
	struct fixture *fx = *state;
	uint8_t mm_kind[4];
	int fd;

	file_patch_u32(fx, "core-100.img", 0, 0xdeadbeef);
	expect_refused(fx, -EBADMSG, "core-100.img: not a migrate image (magic 0xdeadbeef");
	file_patch_u32(fx, "core-100.img", 0, IMAGE_MAGIC);

	fd = open(path_of(fx, "mm-100.img"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, mm_kind, 4, 4), 4);
	close(fd);
	file_patch(fx, "core-100.img", 4, mm_kind, 4);
	expect_refused(fx, -EBADMSG, "core-100.img: holds mm records");
	file_patch_u32(fx, "core-100.img", 4, 0x12345678);
	expect_refused(fx, -EBADMSG, "holds unknown records (kind magic 0x12345678), not core");

	rebuild(fx, &(struct fixture_opts){ 0 });
	file_patch_u32(fx, "pstree.img", 8, 7);
	expect_refused(fx, -EBADMSG, "pstree.img: format version 7, this build reads 1");
}

static void test_bad_records(void **state)
{
	struct fixture *fx = *state;
	off_t size = file_size(fx, "core-100.img");
	uint8_t garbage[12] = { 8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	file_truncate(fx, "core-100.img", size - 10);
	expect_refused(fx, -EBADMSG, "core-100.img: record 0 at offset 12 claims");
	file_truncate(fx, "core-100.img", 14); /* half a length */
	expect_refused(fx, -EBADMSG, "truncated length (2 of 4 bytes)");

	rebuild(fx, &(struct fixture_opts){ 0 });
	file_patch_u32(fx, "mm-101.img", 12, IMAGE_MAX_RECORD + 1);
	expect_refused(fx, -EBADMSG,
		       "mm-101.img: record 0 at offset 12 claims 67108865 bytes, above");

	rebuild(fx, &(struct fixture_opts){ 0 });
	file_patch(fx, "files-100.img", 12, garbage, sizeof(garbage));
	expect_refused(fx, -EBADMSG,
		       "files-100.img: record 0 at offset 12 (8 bytes) does not decode");

	/* An empty record is well framed; PagemapEntry's required fields make it undecodable. */
	rebuild(fx, &(struct fixture_opts){ 0 });
	file_truncate(fx, "pagemap-100.img", 12);
	file_patch_u32(fx, "pagemap-100.img", 12, 0);
	expect_refused(fx, -EBADMSG,
		       "pagemap-100.img: record 0 at offset 12 (0 bytes) does not decode");

	/* Exactly one record where one is expected. */
	rebuild(fx, &(struct fixture_opts){ 0 });
	file_truncate(fx, "inventory.img", 12);
	expect_refused(fx, -EBADMSG, "inventory.img: holds 0 records, expected exactly one");
	rebuild(fx, &(struct fixture_opts){ 0 });
	file_truncate(fx, "pstree.img", 12);
	expect_refused(fx, -EBADMSG, "pstree.img: holds no process");
}

static void test_pages_size(void **state)
{
	struct fixture *fx = *state;
	uint8_t byte = 0;

	file_truncate(fx, "pages-101.img", 5 * PG - 1);
	expect_refused(fx, -EBADMSG, "pages-101.img: 20479 bytes, pagemap-101.img lists 5 pages");
	file_truncate(fx, "pages-101.img", 5 * PG);
	file_patch(fx, "pages-101.img", 5 * PG, &byte, 1);
	expect_refused(fx, -EBADMSG, "pages-101.img: 20481 bytes");
}

static void test_bad_layout(void **state)
{
	struct fixture *fx = *state;

	rebuild(fx, &(struct fixture_opts){ .overlap_vma = true });
	expect_refused(fx, -EBADMSG, "mm-100.img: vma 2 0x603000-0x710000 overlaps");
	rebuild(fx, &(struct fixture_opts){ .run_outside = true });
	expect_refused(fx, -EBADMSG, "run 2 0x7ffff7000000-0x7ffff7001000 is not inside one vma");
	rebuild(fx, &(struct fixture_opts){ .run_in_vdso = true });
	expect_refused(fx, -EBADMSG, "lies in a VMA_VDSO vma");
}

static void test_bad_tree(void **state)
{
	struct fixture *fx = *state;

	rebuild(fx, &(struct fixture_opts){ .dup_pid = true });
	expect_refused(fx, -EBADMSG, "pstree.img: pid 100 appears twice");
	rebuild(fx, &(struct fixture_opts){ .thread_mismatch = true });
	expect_refused(fx, -EBADMSG, "core-100.img: thread 1 is tid 103, pstree.img says 102");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
		T(test_round_trip),
		T(test_page_writer),
		T(test_load_valid),
		T(test_missing),
		T(test_empty_and_truncated_header),
		T(test_bad_header),
		T(test_bad_records),
		T(test_pages_size),
		T(test_bad_layout),
		T(test_bad_tree),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
