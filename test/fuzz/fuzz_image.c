/*
 * fuzz_image: libFuzzer harness for the image reader and validator.
 *
 * A valid one-process image directory (pid 1) is built once in a temp dir.
 * Each input's first byte picks one of its record files, the rest replaces
 * that file's contents; image_set_load() must then refuse or accept it
 * without crashing, leaking or reading out of bounds. The original file is
 * put back after every input, so inputs are independent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

#include "image.h"

struct fuzz_target {
	enum image_kind kind;
	pid_t pid;
	char name[32];
	uint8_t *orig; /* the valid contents, put back after each input */
	size_t orig_len;
};

static char fuzz_dir[] = "/tmp/fuzz_image.XXXXXX";
static struct fuzz_target fuzz_targets[] = {
	{ IMAGE_INVENTORY, 0 }, { IMAGE_PSTREE, 0 }, { IMAGE_CORE, 1 },
	{ IMAGE_MM, 1 },	{ IMAGE_FILES, 1 },  { IMAGE_PAGEMAP, 1 },
};
#define FUZZ_TARGET_COUNT (sizeof(fuzz_targets) / sizeof(fuzz_targets[0]))

static void fuzz_die(const char *what)
{
	fprintf(stderr, "fuzz_image: %s\n", what);
	abort();
}

static void fuzz_check(int r, const char *what)
{
	if (r < 0)
		fuzz_die(what);
}

static void fuzz_write_records(struct image_dir *d)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	PstreeEntry ps = PSTREE_ENTRY__INIT;
	TaskCoreEntry core = TASK_CORE_ENTRY__INIT;
	ThreadCoreEntry th = THREAD_CORE_ENTRY__INIT, *thp = &th;
	UserRegsEntry regs = USER_REGS_ENTRY__INIT;
	CredsEntry creds = CREDS_ENTRY__INIT;
	MmEntry mm = MM_ENTRY__INIT;
	VmaEntry vma = VMA_ENTRY__INIT, *vp = &vma;
	FdEntry fd = FD_ENTRY__INIT;
	uint32_t tid = 1;

	inv.image_version = IMAGE_FORMAT_VERSION;
	inv.tool_version = "fuzz";
	inv.root_pid = 1;
	inv.page_size = IMAGE_PAGE_SIZE;
	inv.arch = "x86_64";
	fuzz_check(image_write_single(d, IMAGE_INVENTORY, 0, &inv.base), "inventory");
	ps.pid = 1;
	ps.threads = &tid;
	ps.n_threads = 1;
	fuzz_check(image_write_single(d, IMAGE_PSTREE, 0, &ps.base), "pstree");
	th.tid = 1;
	th.regs = &regs;
	core.pid = 1;
	core.comm = "fuzz";
	core.cwd = core.root = "/";
	core.creds = &creds;
	core.threads = &thp;
	core.n_threads = 1;
	fuzz_check(image_write_single(d, IMAGE_CORE, 1, &core.base), "core");
	vma.start = 0x10000;
	vma.end = 0x20000;
	vma.prot = 3;
	mm.vmas = &vp;
	mm.n_vmas = 1;
	fuzz_check(image_write_single(d, IMAGE_MM, 1, &mm.base), "mm");
	fd.path = "/dev/null";
	fd.kind = FD_KIND__FD_DEVNULL;
	fuzz_check(image_write_single(d, IMAGE_FILES, 1, &fd.base), "files");
}

static void fuzz_write_pages(struct image_dir *d)
{
	static uint8_t pages[2 * 4096];
	struct page_writer *w;

	fuzz_check(page_writer_open(d, 1, &w), "page writer");
	fuzz_check(page_writer_add(w, 0x10000, pages, 2), "pages");
	fuzz_check(page_writer_close(w), "pages close");
}

static void fuzz_save(int dirfd, struct fuzz_target *t)
{
	struct stat st;
	int fd;

	fuzz_check(image_file_name(t->kind, t->pid, t->name, sizeof(t->name)), "name");
	fd = openat(dirfd, t->name, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0)
		fuzz_die(t->name);
	t->orig_len = (size_t)st.st_size;
	t->orig = malloc(t->orig_len);
	if (!t->orig || read(fd, t->orig, t->orig_len) != (ssize_t)t->orig_len)
		fuzz_die(t->name);
	close(fd);
}

static void fuzz_put(int dirfd, const char *name, const uint8_t *data, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
		fuzz_die(name);
	close(fd);
}

static void fuzz_cleanup(void)
{
	DIR *d = opendir(fuzz_dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	(void)rmdir(fuzz_dir);
}

static struct image_dir fuzz_image_dir = { .dirfd = -1 };

static void fuzz_setup(void)
{
	if (!mkdtemp(fuzz_dir))
		fuzz_die("mkdtemp");
	atexit(fuzz_cleanup);
	fuzz_check(image_dir_open(&fuzz_image_dir, fuzz_dir, false), "dir");
	fuzz_write_records(&fuzz_image_dir);
	fuzz_write_pages(&fuzz_image_dir);
	for (size_t i = 0; i < FUZZ_TARGET_COUNT; i++)
		fuzz_save(fuzz_image_dir.dirfd, &fuzz_targets[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_set *set = NULL;
	struct fuzz_target *t;

	if (fuzz_image_dir.dirfd < 0)
		fuzz_setup();
	if (size == 0)
		return 0;
	t = &fuzz_targets[data[0] % FUZZ_TARGET_COUNT];
	fuzz_put(fuzz_image_dir.dirfd, t->name, data + 1, size - 1);
	if (image_set_load(fuzz_dir, &set) == 0)
		image_set_free(set);
	fuzz_put(fuzz_image_dir.dirfd, t->name, t->orig, t->orig_len);
	return 0;
}
