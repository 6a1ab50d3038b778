/*
 * The page server's memory path on a real puppet: Layout and PageBatch frames as the session
 * handles them, holes (zero runs) over pages written earlier, over never-written anonymous
 * memory and over file-private memory, and runs the layout does not hold. Needs root.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dst_server.h"
#include "dst_session_internal.h"

#define PAGE 4096ULL
#define ANON 0x300000000ULL
#define FILEMAP 0x300100000ULL

struct fixture {
	struct session s;
	struct session_opts opts;
	char path[64];
	int mem;
};

static VmaEntry vma(uint64_t start, uint64_t npages, VmaKind kind)
{
	VmaEntry v = VMA_ENTRY__INIT;

	v.start = start;
	v.end = start + npages * PAGE;
	v.prot = PROT_READ | PROT_WRITE;
	v.flags = MAP_PRIVATE | (kind == VMA_KIND__VMA_FILE_PRIVATE ? 0 : MAP_ANONYMOUS);
	v.kind = kind;
	return v;
}

static int setup(void **state)
{
	struct restore_opts o = { .pid_wait_ms = 50 };
	struct fixture *fx;
	uint8_t page[PAGE];
	char mem[64];
	uint32_t tid;
	int r = -EEXIST, fd;

	if (geteuid() != 0) {
		print_message("needs root (a puppet with a chosen PID)\n");
		exit(77);
	}
	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	server_log_init(LOG_LEVEL_QUIET);
	for (int attempt = 0; attempt < 20 && r == -EEXIST; attempt++) {
		PstreeEntry pst = PSTREE_ENTRY__INIT;

		tid = (uint32_t)(20000 + (getpid() * 7 + attempt * 131) % 10000);
		pst.pid = tid;
		pst.pgid = (uint32_t)getpgrp();
		pst.sid = (uint32_t)getsid(0);
		pst.n_threads = 1;
		pst.threads = &tid;
		r = restore_proc_create(&pst, &o, &fx->s.proc);
	}
	assert_int_equal(r, 0);
	fx->s.pid = tid;
	fx->s.opts = &fx->opts;
	fx->s.state = SESSION_LAYOUT;
	snprintf(mem, sizeof(mem), "/proc/%u/mem", tid);
	fx->mem = open(mem, O_RDONLY | O_CLOEXEC);
	assert_true(fx->mem >= 0);
	/* A file of 4 pages of 0xAA, mapped privately. */
	snprintf(fx->path, sizeof(fx->path), "/tmp/test_session_pages.%d", (int)getpid());
	fd = open(fx->path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	memset(page, 0xaa, sizeof(page));
	for (int i = 0; i < 4; i++)
		assert_int_equal(write(fd, page, sizeof(page)), (ssize_t)sizeof(page));
	close(fd);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	close(fx->mem);
	unlink(fx->path);
	restore_proc_free(fx->s.proc);
	fx->s.proc = NULL;
	session_pages_fini(&fx->s);
	free(fx);
	return 0;
}

/* A WireLayout as wire_frame_unpack would hand it over (the session takes it). */
static WireLayout *layout(VmaEntry *const *vmas, size_t n)
{
	WireLayout l = WIRE_LAYOUT__INIT;
	uint8_t *buf;
	size_t len;
	WireLayout *m;

	l.pid = 0;
	l.vmas = (VmaEntry **)vmas;
	l.n_vmas = n;
	len = wire_layout__get_packed_size(&l);
	buf = malloc(len + 1);
	wire_layout__pack(&l, buf);
	m = wire_layout__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(m);
	return m;
}

/* Added to the session's pid in the frames built (a stranger's pages). */
static uint32_t batch_pid_delta;

/* One PageBatch frame of batch b (round 0). */
static void pages_frame(struct fixture *fx, const struct codec_batch *b, struct wire_frame *f)
{
	uint8_t *head;
	size_t len;

	assert_int_equal(wire_page_batch_head(fx->s.pid + batch_pid_delta, 0, b, &head, &len), 0);
	f->type = WIRE_PAGE_BATCH;
	f->len = (uint32_t)(len - WIRE_HEADER_SIZE + b->data_len);
	f->payload = malloc(f->len);
	memcpy(f->payload, head + WIRE_HEADER_SIZE, len - WIRE_HEADER_SIZE);
	memcpy(f->payload + len - WIRE_HEADER_SIZE, b->data, b->data_len);
	free(head);
}

static int send_pages(struct fixture *fx, uint64_t vaddr, const void *pages, size_t nr)
{
	struct codec_batch b;
	struct wire_frame f = { 0 };
	int r;

	codec_batch_init(&b);
	assert_int_equal(codec_batch_add(&b, vaddr, pages, nr, NULL), 0);
	pages_frame(fx, &b, &f);
	r = session_on_pages(&fx->s, &f);
	wire_frame_fini(&f);
	codec_batch_fini(&b);
	return r;
}

static int byte_at(struct fixture *fx, uint64_t addr)
{
	uint8_t b[PAGE];

	assert_int_equal(pread(fx->mem, b, PAGE, (off_t)addr), (ssize_t)PAGE);
	for (size_t i = 1; i < PAGE; i++)
		if (b[i] != b[0])
			return -2;
	return b[0];
}

static void test_holes(void **state)
{
	struct fixture *fx = *state;
	static uint8_t data[8 * PAGE], zeros[8 * PAGE];
	VmaEntry a = vma(ANON, 8, VMA_KIND__VMA_ANON_PRIVATE);
	VmaEntry f = vma(FILEMAP, 4, VMA_KIND__VMA_FILE_PRIVATE);
	VmaEntry *vmas[] = { &a, &f };
	struct stat st;

	assert_int_equal(stat(fx->path, &st), 0);
	f.path = fx->path;
	f.has_dev = f.has_ino = f.has_file_size = true;
	f.dev = st.st_dev;
	f.ino = st.st_ino;
	f.file_size = (uint64_t)st.st_size;
	f.has_pgoff = true;
	WireLayout *l = layout(vmas, 2);

	l->pid = fx->s.pid;
	assert_int_equal(session_on_layout(&fx->s, l), 0);
	assert_int_equal(byte_at(fx, FILEMAP), 0xaa);

	/* Data into pages 0..3 of the anonymous VMA. */
	for (size_t i = 0; i < 4; i++)
		memset(data + i * PAGE, 0x11 + (int)i, PAGE);
	assert_int_equal(send_pages(fx, ANON, data, 4), 0);
	assert_int_equal(byte_at(fx, ANON + 2 * PAGE), 0x13);

	/* A hole over pages 2..7: the written ones read zero again, the others stay zero
	 * without being written (they never were). */
	assert_int_equal(send_pages(fx, ANON + 2 * PAGE, zeros, 6), 0);
	assert_int_equal(byte_at(fx, ANON + PAGE), 0x12);
	assert_int_equal(byte_at(fx, ANON + 2 * PAGE), 0);
	assert_int_equal(byte_at(fx, ANON + 3 * PAGE), 0);
	assert_int_equal(byte_at(fx, ANON + 7 * PAGE), 0);
	assert_int_equal(fx->s.written.n, 1);
	assert_int_equal(fx->s.written.r[0].start, ANON);
	assert_int_equal(fx->s.written.r[0].end, ANON + 4 * PAGE);

	/* A hole in the file-private VMA: zeros, not the file's 0xAA. */
	assert_int_equal(send_pages(fx, FILEMAP + PAGE, zeros, 2), 0);
	assert_int_equal(byte_at(fx, FILEMAP), 0xaa);
	assert_int_equal(byte_at(fx, FILEMAP + PAGE), 0);
	assert_int_equal(byte_at(fx, FILEMAP + 2 * PAGE), 0);
	assert_int_equal(byte_at(fx, FILEMAP + 3 * PAGE), 0xaa);

	/* Outside the layout, partly outside, another pid, another round: refused. */
	assert_int_equal(send_pages(fx, ANON + 8 * PAGE, data, 1), -EPROTO);
	assert_non_null(strstr(fx->s.fail.message, "outside the announced layout"));
	assert_int_equal(send_pages(fx, ANON + 7 * PAGE, data, 2), -EPROTO);
	assert_int_equal(send_pages(fx, FILEMAP + 4 * PAGE, zeros, 1), -EPROTO);
	batch_pid_delta = 1;
	assert_int_equal(send_pages(fx, ANON, data, 1), -EPROTO);
	assert_non_null(strstr(fx->s.fail.message, "this session restores pid"));
	batch_pid_delta = 0;
	fx->s.round = 1;
	assert_int_equal(send_pages(fx, ANON, data, 1), -EPROTO);
	assert_non_null(strstr(fx->s.fail.message, "round"));
	fx->s.round = 0;
	assert_int_equal(byte_at(fx, ANON), 0x11);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_holes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
