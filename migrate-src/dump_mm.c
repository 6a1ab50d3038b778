/*
 * dump_mm: the address space of a process, VMAs and page contents.
 *
 * Which pages exist comes from ioctl(PAGEMAP_SCAN) on /proc/PID/pagemap, which
 * returns populated ranges only, or on kernels without it from pagemap read in
 * bulk (one pread per chunk of DUMP_PM_CHUNK pages); contents come from process_vm_readv with one
 * remote iovec per run of pages, into a buffer of at most DUMP_BATCH_PAGES, so
 * a process of any size streams through a fixed amount of memory. Pages that
 * process_vm_readv cannot read (PROT_NONE) are read through /proc/PID/mem,
 * whose reads are forced.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "compat.h"
#include "dump_internal.h"
#include "track.h"
#include "err.h"
#include "log.h"

#define DUMP_PAGE 4096UL
#define DUMP_PM_CHUNK 65536UL	/* pagemap entries per pread: 512 KiB */
#define DUMP_BATCH_PAGES 4096UL /* 16 MiB of contents per process_vm_readv */
#define DUMP_BATCH_IOVS 1024UL	/* IOV_MAX */

static bool dump_mm_starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A shared mapping that behaves as anonymous memory: MAP_SHARED|MAP_ANONYMOUS
 * ("/dev/zero (deleted)"), System V shm, memfd. */
static bool dump_mm_is_shared_anon(const struct proc_vma *v)
{
	if (!v->shared || !v->path || !v->deleted)
		return false;
	return strcmp(v->path, "/dev/zero") == 0 || dump_mm_starts(v->path, "/SYSV") ||
	       dump_mm_starts(v->path, "/memfd:");
}

static int dump_mm_classify_special(const struct proc_vma *v, int *ret_kind)
{
	static const struct {
		const char *name;
		bool prefix;
		int kind;
	} names[] = {
		{ "[heap]", false, VMA_KIND__VMA_HEAP },
		{ "[stack]", false, VMA_KIND__VMA_STACK },
		{ "[vdso]", false, VMA_KIND__VMA_VDSO },
		{ "[vvar", true, VMA_KIND__VMA_VVAR },
		{ "[vsyscall]", false, VMA_KIND__VMA_VSYSCALL },
		{ "[anon:", true, VMA_KIND__VMA_ANON_PRIVATE },
		{ "[anon_shmem:", true, VMA_KIND__VMA_ANON_SHARED },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		bool hit = names[i].prefix ? dump_mm_starts(v->path, names[i].name)
					   : strcmp(v->path, names[i].name) == 0;

		if (!hit)
			continue;
		*ret_kind = names[i].kind;
		if (*ret_kind == VMA_KIND__VMA_ANON_PRIVATE && v->shared)
			*ret_kind = VMA_KIND__VMA_ANON_SHARED;
		return 0;
	}
	return err_setf(-ENOTSUP, "mapping %lx-%lx is the kernel area %s: not supported",
			(unsigned long)v->start, (unsigned long)v->end, v->path);
}

int dump_mm_classify(const struct proc_vma *v, int *ret_kind)
{
	unsigned long s = v->start, e = v->end;

	/* [vvar] is a PFN map itself: the kernel's areas are named before the
	 * device-memory check. */
	if (v->path && v->path[0] == '[' && !dump_mm_starts(v->path, "[anon"))
		return dump_mm_classify_special(v, ret_kind);
	if (v->vm_flags & (PROC_VMF_IO | PROC_VMF_PF))
		return err_setf(-ENOTSUP, "mapping %lx-%lx (%s) is device memory: not supported", s,
				e, v->path ? v->path : "anonymous");
	if (v->vm_flags & (PROC_VMF_UM | PROC_VMF_UW))
		return err_setf(-ENOTSUP, "mapping %lx-%lx uses userfaultfd: not supported", s, e);
	if (!v->path) {
		*ret_kind = v->shared ? VMA_KIND__VMA_ANON_SHARED : VMA_KIND__VMA_ANON_PRIVATE;
		return 0;
	}
	if (v->path[0] == '[')
		return dump_mm_classify_special(v, ret_kind);
	if (v->path[0] != '/')
		return err_setf(-ENOTSUP, "mapping %lx-%lx of %s: not supported", s, e, v->path);
	if (v->shared && v->deleted && dump_mm_starts(v->path, "/SYSV")) {
		*ret_kind = VMA_KIND__VMA_SYSV_SHM; /* contents in ipc.img (dump_ipc.c) */
		return 0;
	}
	/* A memfd or deleted file: mapped again from the object carried whole (dump_mm_ghost.c). */
	if (dump_mm_ghost_is(v)) {
		*ret_kind = v->shared ? VMA_KIND__VMA_FILE_SHARED : VMA_KIND__VMA_FILE_PRIVATE;
		return 0;
	}
	if (dump_mm_is_shared_anon(v)) {
		*ret_kind = VMA_KIND__VMA_ANON_SHARED;
		return 0;
	}
	if (v->deleted)
		return err_setf(-ENOTSUP, "mapping %lx-%lx of deleted file %s: not supported yet",
				s, e, v->path);
	*ret_kind = v->shared ? VMA_KIND__VMA_FILE_SHARED : VMA_KIND__VMA_FILE_PRIVATE;
	return 0;
}

uint32_t dump_mm_madv(uint64_t vm_flags)
{
	static const struct {
		uint64_t vmf;
		uint32_t madv;
	} map[] = {
		{ PROC_VMF_DD, VMA_MADV_DONTDUMP },  { PROC_VMF_DC, VMA_MADV_DONTFORK },
		{ PROC_VMF_HG, VMA_MADV_HUGEPAGE },  { PROC_VMF_NH, VMA_MADV_NOHUGEPAGE },
		{ PROC_VMF_MG, VMA_MADV_MERGEABLE }, { PROC_VMF_WF, VMA_MADV_WIPEONFORK },
		{ PROC_VMF_LO, VMA_MADV_LOCKED },
	};
	uint32_t madv = 0;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (vm_flags & map[i].vmf)
			madv |= map[i].madv;
	return madv;
}

enum dump_pages_policy dump_mm_policy(int kind)
{
	switch (kind) {
	case VMA_KIND__VMA_ANON_PRIVATE:
	case VMA_KIND__VMA_HEAP:
	case VMA_KIND__VMA_STACK:
		return DUMP_PAGES_NONZERO;
	case VMA_KIND__VMA_FILE_PRIVATE:
		return DUMP_PAGES_COW;
	case VMA_KIND__VMA_ANON_SHARED:
		return DUMP_PAGES_ALL;
	default:
		return DUMP_PAGES_NONE;
	}
}

bool dump_mm_page_wanted(enum dump_pages_policy policy, uint64_t pme)
{
	switch (policy) {
	case DUMP_PAGES_NONZERO:
	case DUMP_PAGES_ALL:
		return pme & (PM_PRESENT | PM_SWAP);
	case DUMP_PAGES_COW:
		/* A present file page is the file's own: the destination maps it. */
		return (pme & PM_SWAP) || ((pme & PM_PRESENT) && !(pme & PM_FILE));
	default:
		return false;
	}
}

bool dump_mm_page_is_zero(const void *page)
{
	const uint64_t *w = page;

	for (size_t i = 0; i < DUMP_PAGE / sizeof(*w); i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return false;
	return true;
}

static uint32_t dump_mm_map_flags(const struct proc_vma *v, int kind)
{
	uint32_t flags = v->shared ? MAP_SHARED : MAP_PRIVATE;

	if (kind == VMA_KIND__VMA_ANON_PRIVATE || kind == VMA_KIND__VMA_ANON_SHARED ||
	    kind == VMA_KIND__VMA_HEAP || kind == VMA_KIND__VMA_STACK)
		flags |= MAP_ANONYMOUS;
	if (v->vm_flags & PROC_VMF_GD)
		flags |= MAP_GROWSDOWN;
	/* Without it a huge sparse reservation (an ASan shadow of 16 TiB) is
	 * refused by the overcommit check when restore maps it again. */
	if (v->vm_flags & PROC_VMF_NR)
		flags |= MAP_NORESERVE;
	return flags;
}

/* dev, ino and size of the file behind a mapping, through map_files. */
static int dump_mm_file_stat(pid_t pid, VmaEntry *e)
{
	char path[96];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", pid, (unsigned long)e->start,
		 (unsigned long)e->end);
	if (stat(path, &st) < 0)
		return err_setf(-errno, "cannot stat the file of mapping %lx-%lx (%s): %m",
				(unsigned long)e->start, (unsigned long)e->end, e->path);
	e->has_dev = e->has_ino = e->has_file_size = true;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->file_size = st.st_size;
	return 0;
}

static int dump_mm_vma(pid_t pid, const struct proc_vma *v, VmaEntry **ret)
{
	VmaEntry *e;
	int kind, r;

	r = dump_mm_classify(v, &kind);
	if (r < 0)
		return r;
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	vma_entry__init(e);
	*ret = e;
	e->start = v->start;
	e->end = v->end;
	e->prot = v->prot;
	e->kind = kind;
	e->flags = dump_mm_map_flags(v, kind);
	e->has_pgoff = e->has_madv = true;
	e->pgoff = v->pgoff;
	e->madv = dump_mm_madv(v->vm_flags);
	if (v->deleted)
		e->has_file_deleted = e->file_deleted = true;
	if (v->path) {
		e->path = strdup(v->path);
		if (!e->path)
			return -ENOMEM;
	}
	/* A segment's map_files entry: ino is its id, size its size (restore_ipc.c). */
	if (kind == VMA_KIND__VMA_FILE_PRIVATE || kind == VMA_KIND__VMA_FILE_SHARED ||
	    kind == VMA_KIND__VMA_SYSV_SHM)
		return dump_mm_file_stat(pid, e);
	return 0;
}

/* smaps text for maps text: the snapshot's when maps still reads the same. */
static int dump_mm_smaps(pid_t pid, const struct dump_mm_snapshot *snap, const char *maps,
			 size_t maps_len, char **ret, size_t *ret_len, bool *ret_borrowed)
{
	int r;

	*ret_borrowed = snap && snap->maps_len == maps_len &&
			memcmp(snap->maps, maps, maps_len) == 0;
	if (*ret_borrowed) {
		*ret = snap->smaps;
		*ret_len = snap->smaps_len;
		return 0;
	}
	r = proc_read_file(pid, "smaps", ret, ret_len);
	if (r < 0)
		return err_setf(r, "cannot read /proc/%d/smaps: %s", pid, strerror(-r));
	return 0;
}

static int dump_mm_read_vmas(pid_t pid, const struct dump_mm_snapshot *snap,
			     struct proc_vma_list *ret)
{
	struct proc_vma_list list = { 0 };
	char *text, *smaps;
	size_t len, smaps_len;
	bool borrowed;
	int r;

	r = proc_read_file(pid, "maps", &text, &len);
	if (r < 0)
		return err_setf(r, "cannot read /proc/%d/maps: %s", pid, strerror(-r));
	r = proc_parse_maps(text, len, &list);
	if (r < 0) {
		free(text);
		return dump_err_wrap(r, "cannot parse /proc/%d/maps", pid);
	}
	r = dump_mm_smaps(pid, snap, text, len, &smaps, &smaps_len, &borrowed);
	free(text);
	if (r < 0) {
		proc_vma_list_free(&list);
		return r;
	}
	log_debug("dump: pid %d: smaps %s", pid, borrowed ? "of the snapshot" : "read");
	r = proc_parse_smaps_vmflags(smaps, smaps_len, &list);
	if (!borrowed)
		free(smaps);
	if (r < 0) {
		proc_vma_list_free(&list);
		return dump_err_wrap(r, "cannot parse /proc/%d/smaps", pid);
	}
	*ret = list;
	return 0;
}

int dump_mm_snapshot_take(pid_t pid, struct dump_mm_snapshot *ret)
{
	char *again;
	size_t len;
	int r;

	r = proc_read_file(pid, "maps", &ret->maps, &ret->maps_len);
	if (r == 0)
		r = proc_read_file(pid, "smaps", &ret->smaps, &ret->smaps_len);
	if (r == 0)
		r = proc_read_file(pid, "maps", &again, &len);
	if (r < 0) {
		dump_mm_snapshot_fini(ret);
		return err_setf(r, "cannot read the maps of pid %d: %s", pid, strerror(-r));
	}
	/* smaps must describe the layout maps shows, not one in between. */
	if (len != ret->maps_len || memcmp(again, ret->maps, len) != 0)
		r = -EAGAIN;
	free(again);
	if (r < 0)
		dump_mm_snapshot_fini(ret);
	return r;
}

void dump_mm_snapshot_fini(struct dump_mm_snapshot *s)
{
	free(s->maps);
	free(s->smaps);
	memset(s, 0, sizeof(*s));
}

void dump_mm_vmas_free(VmaEntry **vmas, size_t count)
{
	for (size_t i = 0; i < count; i++)
		protobuf_c_message_free_unpacked(&vmas[i]->base, NULL);
	free(vmas);
}

static int dump_mm_layout_of(pid_t pid, bool tracked, const struct dump_mm_snapshot *snap,
			     VmaEntry ***ret_vmas, size_t *ret_count)
{
	struct proc_vma_list list;
	VmaEntry **vmas;
	size_t n = 0;
	int r;

	r = dump_mm_read_vmas(pid, snap, &list);
	if (r < 0)
		return r;
	vmas = calloc(list.count ? list.count : 1, sizeof(*vmas));
	if (!vmas) {
		proc_vma_list_free(&list);
		return err_setf(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < list.count; i++) {
		struct proc_vma v = list.vmas[i];

		/* The tracker's own registration marks VMAs "uw": not the process's use. */
		if (tracked)
			v.vm_flags &= ~(uint64_t)PROC_VMF_UW;
		r = dump_mm_vma(pid, &v, &vmas[n]);
		if (vmas[n])
			n++;
		if (r < 0)
			break;
	}
	proc_vma_list_free(&list);
	if (r == 0)
		r = dump_mm_ghost_fill(pid, vmas, n);
	if (r < 0) {
		dump_mm_vmas_free(vmas, n);
		return r;
	}
	*ret_vmas = vmas;
	*ret_count = n;
	return 0;
}

int dump_mm_layout(pid_t pid, bool tracked, VmaEntry ***ret_vmas, size_t *ret_count)
{
	return dump_mm_layout_of(pid, tracked, NULL, ret_vmas, ret_count);
}

static int dump_mm_vmas(const struct dump_proc *proc, MmEntry *mm)
{
	return dump_mm_layout_of(proc->pid, proc->tracked, proc->snapshot, &mm->vmas, &mm->n_vmas);
}

/* auxv is binary: read it whole as u64 words. */
static int dump_mm_auxv(pid_t pid, MmEntry *mm)
{
	uint64_t buf[512];
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_setf(-errno, "cannot open %s: %m", path);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return err_setf(-errno, "cannot read %s: %m", path);
	mm->n_auxv = (size_t)n / sizeof(uint64_t);
	mm->auxv = malloc((mm->n_auxv ? mm->n_auxv : 1) * sizeof(uint64_t));
	if (!mm->auxv)
		return -ENOMEM;
	memcpy(mm->auxv, buf, mm->n_auxv * sizeof(uint64_t));
	return 0;
}

static int dump_mm_stat(pid_t pid, MmEntry *mm)
{
	struct proc_stat st;
	int r = proc_read_stat(pid, &st);

	if (r < 0)
		return r;
	mm->start_code = st.start_code, mm->end_code = st.end_code;
	mm->start_data = st.start_data, mm->end_data = st.end_data;
	mm->start_brk = st.start_brk, mm->start_stack = st.start_stack;
	mm->arg_start = st.arg_start, mm->arg_end = st.arg_end;
	mm->env_start = st.env_start, mm->env_end = st.env_end;
	return 0;
}

int dump_mm_collect(struct dump_proc *proc)
{
	char path[64], buf[PATH_MAX + 1];
	MmEntry *mm;
	ssize_t n;
	int r;

	mm = malloc(sizeof(*mm));
	if (!mm)
		return err_setf(-ENOMEM, "out of memory");
	mm_entry__init(mm);
	proc->mm = mm;
	mm->brk = proc->brk;
	r = dump_mm_stat(proc->pid, mm);
	if (r < 0)
		return r;
	r = dump_mm_auxv(proc->pid, mm);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/%d/exe", proc->pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return err_setf(-errno, "cannot read %s: %m", path);
	buf[n] = '\0';
	mm->exe_path = strdup(buf);
	if (!mm->exe_path)
		return -ENOMEM;
	return dump_mm_vmas(proc, mm);
}

/* Pages of the current batch: contents in buf, their addresses as remote iovecs. */
struct dump_mm_batch {
	pid_t pid;
	int mem_fd; /* /proc/PID/mem, opened on first need */
	const struct dump_mm_sink *sink;
	enum dump_pages_policy policy;
	uint8_t *buf;
	struct iovec riov[DUMP_BATCH_IOVS];
	size_t nr_iov;
	size_t nr_pages;
	bool no_scan; /* PAGEMAP_SCAN is missing: read pagemap entries */
	bool written; /* of the range being added (range_cb only) */
	struct dump_mm_stats stats;
};

/* Reads [from, to) of the batch through /proc/PID/mem (forced read). */
static int dump_mm_batch_pread(struct dump_mm_batch *b, size_t from, size_t to)
{
	char path[64];
	size_t off = 0;

	if (b->mem_fd < 0) {
		snprintf(path, sizeof(path), "/proc/%d/mem", b->pid);
		b->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (b->mem_fd < 0)
			return err_setf(-errno, "cannot open %s: %m", path);
	}
	for (size_t i = 0; i < b->nr_iov; off += b->riov[i].iov_len, i++) {
		size_t s = off > from ? off : from, e = off + b->riov[i].iov_len;

		for (e = e < to ? e : to; s < e;) {
			uint64_t addr = (uint64_t)(uintptr_t)b->riov[i].iov_base + (s - off);
			ssize_t n = pread(b->mem_fd, b->buf + s, e - s, (off_t)addr);

			if (n <= 0 && b->sink->may_vanish) {
				size_t next = (s / DUMP_PAGE + 1) * DUMP_PAGE;

				next = next < e ? next : e;
				memset(b->buf + s, 0, next - s);
				b->stats.vanished++;
				s = next;
				continue;
			}
			if (n <= 0)
				return err_setf(n < 0 ? -errno : -EIO,
						"cannot read page %lx of pid %d: %s",
						(unsigned long)addr, b->pid,
						n < 0 ? strerror(errno) : "short read");
			s += (size_t)n;
		}
	}
	return 0;
}

/* Whether page p of the batch goes to the sink: zero pages of anonymous
 * private memory are holes in an image, unless the sink wants them (the wire
 * codec turns them into holes itself, and must, as they may have held data). */
static bool dump_mm_batch_keep(const struct dump_mm_batch *b, const uint8_t *page)
{
	if (b->policy != DUMP_PAGES_NONZERO || b->sink->keep_zero)
		return true;
	return !dump_mm_page_is_zero(page);
}

/* Hands the batch's pages to the sink, as runs of kept pages. */
static int dump_mm_batch_emit(struct dump_mm_batch *b)
{
	size_t off = 0;
	int r;

	for (size_t i = 0; i < b->nr_iov; off += b->riov[i].iov_len, i++) {
		uint64_t base = (uint64_t)(uintptr_t)b->riov[i].iov_base;
		size_t n = b->riov[i].iov_len / DUMP_PAGE, run = 0;

		for (size_t p = 0; p <= n; p++) {
			bool keep = p < n && dump_mm_batch_keep(b, b->buf + off + p * DUMP_PAGE);

			if (p < n && !keep)
				b->stats.zero_skipped++;
			if (keep) {
				run++;
				continue;
			}
			if (!run)
				continue;
			r = b->sink->pages_cb(b->sink->arg, base + (p - run) * DUMP_PAGE,
					      b->buf + off + (p - run) * DUMP_PAGE, run);
			if (r < 0)
				return dump_err_wrap(r, "cannot hand on pages of pid %d", b->pid);
			b->stats.pages += run;
			run = 0;
		}
	}
	return 0;
}

static int dump_mm_batch_flush(struct dump_mm_batch *b)
{
	size_t total = b->nr_pages * DUMP_PAGE;
	struct iovec liov = { b->buf, total };
	struct timespec t;
	ssize_t n;
	int r;

	if (!b->nr_iov)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t);
	n = process_vm_readv(b->pid, &liov, 1, b->riov, b->nr_iov, 0);
	if (n < 0 && errno != EFAULT && errno != EIO)
		return err_setf(-errno, "cannot read the memory of pid %d: %m", b->pid);
	if (n < 0)
		n = 0;
	if ((size_t)n < total) {
		r = dump_mm_batch_pread(b, (size_t)n, total);
		if (r < 0)
			return r;
	}
	b->stats.read_ms += dump_ms_since(&t);
	clock_gettime(CLOCK_MONOTONIC, &t);
	r = dump_mm_batch_emit(b);
	b->stats.emit_ms += dump_ms_since(&t);
	b->nr_iov = b->nr_pages = 0;
	return r;
}

static int dump_mm_batch_add_run(struct dump_mm_batch *b, uint64_t addr)
{
	struct iovec *last = b->nr_iov ? &b->riov[b->nr_iov - 1] : NULL;
	int r;

	if (last && (uint64_t)(uintptr_t)last->iov_base + last->iov_len == addr) {
		last->iov_len += DUMP_PAGE;
	} else {
		if (b->nr_iov == DUMP_BATCH_IOVS) {
			r = dump_mm_batch_flush(b);
			if (r < 0)
				return r;
		}
		b->riov[b->nr_iov].iov_base = (void *)(uintptr_t)addr;
		b->riov[b->nr_iov].iov_len = DUMP_PAGE;
		b->nr_iov++;
	}
	if (++b->nr_pages == DUMP_BATCH_PAGES)
		return dump_mm_batch_flush(b);
	return 0;
}

/* Pages [start, end) are wanted: queued for reading, or, for a sink that
 * only wants to know where they are (residency), reported as a range. */
static int dump_mm_batch_add(struct dump_mm_batch *b, uint64_t start, uint64_t end)
{
	int r;

	if (b->sink->range_cb) {
		b->stats.pages += (end - start) / DUMP_PAGE;
		return b->sink->range_cb(b->sink->arg, start, end, b->written);
	}
	for (uint64_t a = start; a < end; a += DUMP_PAGE) {
		r = dump_mm_batch_add_run(b, a);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Pages of [start, end) by reading pagemap 8 bytes per page (any kernel). */
static int dump_mm_range_pagemap(struct dump_mm_batch *b, int pm_fd, uint64_t *pm, uint64_t start,
				 uint64_t end)
{
	int r;

	b->written = true; /* pagemap entries do not say */
	for (uint64_t addr = start; addr < end;) {
		size_t n = (end - addr) / DUMP_PAGE;
		ssize_t got;

		n = n < DUMP_PM_CHUNK ? n : DUMP_PM_CHUNK;
		got = pread(pm_fd, pm, n * sizeof(*pm), (off_t)(addr / DUMP_PAGE * sizeof(*pm)));
		if (got < 0 || (size_t)got != n * sizeof(*pm))
			return err_setf(got < 0 ? -errno : -EIO,
					"cannot read the pagemap of pid %d at %lx: %s", b->pid,
					(unsigned long)addr,
					got < 0 ? strerror(errno) : "short read");
		for (size_t i = 0; i < n; i++) {
			if (!dump_mm_page_wanted(b->policy, pm[i]))
				continue;
			r = dump_mm_batch_add(b, addr + i * DUMP_PAGE, addr + (i + 1) * DUMP_PAGE);
			if (r < 0)
				return r;
		}
		addr += n * DUMP_PAGE;
	}
	return 0;
}

/* The pagemap bits dump_mm_page_wanted() looks at, from PAGEMAP_SCAN categories. */
static uint64_t dump_mm_region_pme(uint64_t categories)
{
	return (categories & PAGE_IS_PRESENT ? PM_PRESENT : 0) |
	       (categories & PAGE_IS_SWAPPED ? PM_SWAP : 0) |
	       (categories & PAGE_IS_FILE ? PM_FILE : 0);
}

static int dump_mm_region(struct dump_mm_batch *b, const struct page_region *reg)
{
	if (!dump_mm_page_wanted(b->policy, dump_mm_region_pme(reg->categories)))
		return 0;
	/* The shared zero page: a hole in anonymous memory, no need to read it. */
	if (b->policy == DUMP_PAGES_NONZERO && (reg->categories & PAGE_IS_PFNZERO)) {
		b->stats.zero_skipped += (reg->end - reg->start) / DUMP_PAGE;
		return 0;
	}
	b->written = reg->categories & PAGE_IS_WRITTEN;
	return dump_mm_batch_add(b, reg->start, reg->end);
}

/* Pages of [start, end) by PAGEMAP_SCAN (Linux 6.7): only populated ranges come
 * back, so a huge sparse reservation costs nothing. 1 when the kernel lacks it. */
static int dump_mm_range_scan(struct dump_mm_batch *b, int pm_fd, uint64_t start, uint64_t end)
{
	struct page_region regs[256];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = start,
		.end = end,
		.vec = (uint64_t)(uintptr_t)regs,
		.vec_len = sizeof(regs) / sizeof(regs[0]),
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO,
	};
	int r;

	/* Only when asked: it splits regions that would merge otherwise. */
	if (b->sink->want_written)
		arg.return_mask |= PAGE_IS_WRITTEN;
	/* Only where it matters: telling file pages from anonymous ones makes the
	 * kernel look at the struct page of every present page (measured: 1 GiB
	 * of anonymous memory scans in 11 ms with it). */
	if (b->policy == DUMP_PAGES_COW)
		arg.return_mask |= PAGE_IS_FILE;

	while (arg.start < end) {
		long n = ioctl(pm_fd, PAGEMAP_SCAN, &arg);

		if (n < 0 && arg.start == start && (errno == ENOTTY || errno == EINVAL))
			return 1;
		if (n < 0)
			return err_setf(-errno, "cannot scan the pagemap of pid %d at %lx: %m",
					b->pid, (unsigned long)arg.start);
		for (long i = 0; i < n; i++) {
			r = dump_mm_region(b, &regs[i]);
			if (r < 0)
				return r;
		}
		if (arg.walk_end <= arg.start)
			break;
		arg.start = arg.walk_end;
	}
	return 0;
}

static int dump_mm_range_pages(struct dump_mm_batch *b, int pm_fd, uint64_t *pm, uint64_t start,
			       uint64_t end)
{
	int r = 1;

	if (!b->no_scan)
		r = dump_mm_range_scan(b, pm_fd, start, end);
	if (r == 1) {
		b->no_scan = true;
		r = dump_mm_range_pagemap(b, pm_fd, pm, start, end);
	}
	return r;
}

/* The pages of one VMA, whole or only where it meets the sorted ranges. */
static int dump_mm_vma_pages(struct dump_mm_batch *b, int pm_fd, uint64_t *pm, const VmaEntry *v,
			     const struct track_ranges *only)
{
	int r = 0;

	if (!only) {
		r = dump_mm_range_pages(b, pm_fd, pm, v->start, v->end);
	} else {
		for (size_t i = 0; r == 0 && i < only->count; i++) {
			uint64_t s = only->ranges[i].start, e = only->ranges[i].end;

			s = s > v->start ? s : v->start;
			e = e < v->end ? e : v->end;
			if (s < e)
				r = dump_mm_range_pages(b, pm_fd, pm, s, e);
		}
	}
	if (r < 0)
		return r;
	/* The zero-page policy belongs to the VMA: no batch spans two VMAs, and
	 * no pagemap record either (the loader wants each run inside one VMA). */
	r = dump_mm_batch_flush(b);
	if (r < 0 || !b->sink->vma_end_cb)
		return r;
	r = b->sink->vma_end_cb(b->sink->arg);
	if (r < 0)
		return dump_err_wrap(r, "cannot hand on pages of pid %d", b->pid);
	return 0;
}

static struct dump_mm_batch *dump_mm_batch_new(pid_t pid, const struct dump_mm_sink *sink)
{
	struct dump_mm_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	/* A residency walk reads no contents: no buffer. */
	if (!sink->range_cb) {
		b->buf = malloc(DUMP_BATCH_PAGES * DUMP_PAGE);
		if (!b->buf) {
			free(b);
			return NULL;
		}
	}
	b->pid = pid;
	b->mem_fd = -1;
	b->sink = sink;
	return b;
}

static void dump_mm_batch_free(struct dump_mm_batch *b)
{
	if (!b)
		return;
	if (b->mem_fd >= 0)
		close(b->mem_fd);
	free(b->buf);
	free(b);
}

int dump_mm_walk(pid_t pid, VmaEntry *const *vmas, size_t count, const struct track_ranges *only,
		 const struct dump_mm_sink *sink, struct dump_mm_stats *ret_stats)
{
	struct dump_mm_batch *b;
	uint64_t *pm;
	char path[64];
	int pm_fd, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0)
		return err_setf(errno == ENOENT ? -ESRCH : -errno, "cannot open %s: %m", path);
	b = dump_mm_batch_new(pid, sink);
	pm = malloc(DUMP_PM_CHUNK * sizeof(*pm));
	if (!b || !pm) {
		r = err_setf(-ENOMEM, "out of memory for the page buffers");
		goto out;
	}
	for (size_t i = 0; r == 0 && i < count; i++) {
		b->policy = dump_mm_policy(vmas[i]->kind);
		if (b->policy != DUMP_PAGES_NONE)
			r = dump_mm_vma_pages(b, pm_fd, pm, vmas[i], only);
	}
	if (r == 0 && ret_stats)
		*ret_stats = b->stats;
out:
	dump_mm_batch_free(b);
	free(pm);
	close(pm_fd);
	return r;
}

static int dump_mm_writer_pages_cb(void *arg, uint64_t vaddr, const void *pages, size_t nr)
{
	return page_writer_add(arg, vaddr, pages, nr);
}

static int dump_mm_writer_cut_cb(void *arg)
{
	return page_writer_cut(arg);
}

int dump_mm_write_pages(struct dump_proc *proc, struct page_writer *w)
{
	const struct dump_mm_sink sink = {
		.pages_cb = dump_mm_writer_pages_cb,
		.vma_end_cb = dump_mm_writer_cut_cb,
		.arg = w,
	};
	struct dump_mm_stats st;
	int r;

	r = dump_mm_walk(proc->pid, proc->mm->vmas, proc->mm->n_vmas, NULL, &sink, &st);
	if (r == 0)
		log_debug("dump: pid %d: %lu pages written, %lu zero pages skipped; "
			  "reading %.3f ms, zero checks and writing %.3f ms",
			  proc->pid, (unsigned long)st.pages, (unsigned long)st.zero_skipped,
			  st.read_ms, st.emit_ms);
	return r;
}
