/*
 * image: the checkpoint directory.
 *
 *	DIR/inventory.img      InventoryEntry (one)
 *	DIR/pstree.img         PstreeEntry per process, parents first
 *	DIR/core-PID.img       TaskCoreEntry (one)
 *	DIR/mm-PID.img         MmEntry (one)
 *	DIR/files-PID.img      FdEntry per open fd
 *	DIR/pagemap-PID.img    PagemapEntry per run of pages, address order
 *	DIR/pages-PID.img      raw 4 KiB pages, no header: the n-th page is the
 *	                       n-th page listed in pagemap-PID.img
 *	DIR/ipc.img            IpcEntry per System V object (settings first), only when
 *	                       InventoryEntry.ipc_ns says the tree has its own IPC namespace
 *
 * A record file is a 12-byte header (u32 little-endian each: IMAGE_MAGIC,
 * the kind's magic, IMAGE_FORMAT_VERSION) then records, each a u32
 * little-endian length and that many bytes of protobuf. Lengths above
 * IMAGE_MAX_RECORD are refused. The pages file is raw so that memory can be
 * read or patched with ordinary tools (dd, xxd, sed on same-length strings).
 *
 * Writing:
 *	struct image_dir d;  image_dir_open(&d, path, true)
 *	struct image_file *f;  image_open_write(&d, IMAGE_CORE, pid, &f)
 *	image_write_record(f, &core.base) ...  image_close(f)      (checks write errors)
 *	struct page_writer *w;  page_writer_open(&d, pid, &w)
 *	page_writer_add(w, vaddr, data, nr_pages) ...  page_writer_close(w)
 *	image_dir_close(&d)
 *
 * Reading: image_set_load() reads and validates a whole directory at once so
 * that restore refuses a missing, truncated or corrupted image before it
 * creates any process. err_detail() names the file, the record and the fault.
 *
 * All functions return 0 (or 1, see image_read_record) or a negative errno.
 */
#ifndef MIGRATE_IMAGE_H
#define MIGRATE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image.pb-c.h"
#include "ipc.pb-c.h"

#define IMAGE_WUR __attribute__((warn_unused_result))

#define IMAGE_MAGIC 0x5452474dU /* "MGRT" */
#define IMAGE_FORMAT_VERSION 1U
#define IMAGE_MAX_RECORD (64U << 20)
#define IMAGE_PAGE_SIZE 4096U

/* VmaEntry.madv bits */
#define VMA_MADV_DONTDUMP (1U << 0)
#define VMA_MADV_DONTFORK (1U << 1)
#define VMA_MADV_HUGEPAGE (1U << 2)
#define VMA_MADV_NOHUGEPAGE (1U << 3)
#define VMA_MADV_MERGEABLE (1U << 4)
#define VMA_MADV_WIPEONFORK (1U << 5)
#define VMA_MADV_LOCKED (1U << 6)

enum image_kind {
	IMAGE_INVENTORY,
	IMAGE_PSTREE,
	IMAGE_CORE,
	IMAGE_MM,
	IMAGE_FILES,
	IMAGE_PAGEMAP,
	IMAGE_PAGES, /* raw, not a record file */
	IMAGE_IPC, /* ipc.img: IpcEntry per System V object, with InventoryEntry.ipc_ns only */
	IMAGE_KIND_COUNT,
};

/* "inventory.img", "core-42.img", ...; per-process kinds need pid > 0. */
int image_file_name(enum image_kind kind, pid_t pid, char *buf, size_t size) IMAGE_WUR;
/* The descriptor of the records of kind (NULL for IMAGE_PAGES). */
const ProtobufCMessageDescriptor *image_kind_descriptor(enum image_kind kind);
/* Kind of a file name, for `migrate show`: -EINVAL if unknown; *ret_pid 0 for global kinds. */
int image_kind_from_name(const char *name, enum image_kind *ret_kind, pid_t *ret_pid) IMAGE_WUR;

struct image_dir {
	int dirfd;
	char *path; /* malloc'd copy */
};

/* Opens DIR; with create, makes it (mode 0700) when missing. */
int image_dir_open(struct image_dir *d, const char *path, bool create) IMAGE_WUR;
void image_dir_close(struct image_dir *d); /* accepts a closed/zeroed dir */

struct image_file; /* opaque */

int image_open_write(struct image_dir *d, enum image_kind kind, pid_t pid,
		     struct image_file **ret) IMAGE_WUR;
int image_open_read(struct image_dir *d, enum image_kind kind, pid_t pid,
		    struct image_file **ret) IMAGE_WUR;
int image_write_record(struct image_file *f, const ProtobufCMessage *msg) IMAGE_WUR;
/* 1 and *ret_msg (free with protobuf_c_message_free_unpacked) for a record,
 * 0 at a clean end of file, -EBADMSG for a truncated or undecodable record. */
int image_read_record(struct image_file *f, ProtobufCMessage **ret_msg) IMAGE_WUR;
/* Flushes and closes; for a written file returns the first write error. NULL is fine. */
int image_close(struct image_file *f);

/* Writes a file holding exactly one record. */
int image_write_single(struct image_dir *d, enum image_kind kind, pid_t pid,
		       const ProtobufCMessage *msg) IMAGE_WUR;

struct page_writer; /* opaque: appends to pages-PID.img and pagemap-PID.img */

int page_writer_open(struct image_dir *d, pid_t pid, struct page_writer **ret) IMAGE_WUR;
/* Appends nr_pages pages at vaddr (page aligned, above the previous ones). */
int page_writer_add(struct page_writer *w, uint64_t vaddr, const void *data,
		    size_t nr_pages) IMAGE_WUR;
/* Ends the current run: the next page starts a new pagemap record even when
 * adjacent, so that runs never span two VMAs (the loader checks that). */
int page_writer_cut(struct page_writer *w) IMAGE_WUR;
int page_writer_close(struct page_writer *w); /* NULL is fine; returns first error */

/* One run of pages of a loaded image. */
struct image_page_run {
	uint64_t vaddr;
	uint64_t nr_pages;
	uint64_t file_offset; /* in pages-PID.img */
};

struct image_task {
	PstreeEntry *pstree; /* owned by the set */
	TaskCoreEntry *core;
	MmEntry *mm;
	FdEntry **fds;
	size_t fd_count;
	struct image_page_run *page_runs;
	size_t page_run_count;
	int pages_fd; /* pages-PID.img open for reading */
};

struct image_set {
	char *dir;
	InventoryEntry *inventory;
	struct image_task *tasks; /* in pstree order, tasks[0] is the root */
	size_t task_count;
	IpcEntry **ipc; /* ipc.img's records (inventory->ipc_ns), checked by image_ipc_check */
	size_t ipc_count;
};

/* Loads and validates every image of DIR: headers, record lengths, required
 * records present, VMAs sorted, page aligned and non-overlapping, page runs
 * inside anonymous or file VMAs and matching the pages file's size, threads
 * non-empty with the main thread first, fd numbers unique. */
int image_set_load(const char *dir, struct image_set **ret) IMAGE_WUR;
void image_set_free(struct image_set *set); /* NULL is fine */

/* The inventory alone, as image_set_load checks it: format version, page size, architecture.
 * -EBADMSG with err_detail(). */
int image_inventory_check(const InventoryEntry *inv) IMAGE_WUR;

/* The checks image_set_load makes, on one task's records held in memory (the live-migration
 * destination assembles them from the wire): inventory, t's pstree entry as the root of a
 * tree of one, core against pstree, VMAs, unique fds, and page runs if t has any (pages_fd
 * is not looked at). -EBADMSG with err_detail() naming the record and the fault. */
int image_task_check(const InventoryEntry *inv, const struct image_task *t) IMAGE_WUR;

/* A tree's pstree entries held in memory (live migration), as image_set_load checks them:
 * pids, parents before children, sessions, threads, the root first and named by inv. And the
 * checks of image_task_check on a live member other than the root. -EBADMSG with err_detail(). */
int image_pstree_check(const InventoryEntry *inv, PstreeEntry **ps, size_t n) IMAGE_WUR;
int image_member_check(const struct image_task *t) IMAGE_WUR;

/* One record of ipc.img: exactly one object or setting, a known setting name, permission bits
 * only, contents that match the sizes. -EBADMSG with err_detail() naming the object. */
int image_ipc_entry_check(const IpcEntry *e) IMAGE_WUR;
/* Every record as image_ipc_entry_check, and no id or (non-private) key twice in a kind. */
int image_ipc_check(IpcEntry *const *ipc, size_t n) IMAGE_WUR;

/* The VMA kinds whose pages an image (or a live migration) carries. */
bool image_vma_holds_pages(const VmaEntry *v);

/* Whether a POSIX timer's clock can travel: a CLOCK_* that timers accept (0 when so), or a CPU
 * clock (< 0) of a process or thread, whose owner must then be the process itself or one of its
 * threads: *ret_owner (0: the caller itself) and *ret_thread say whose. -EINVAL otherwise. */
int image_posix_clock(int32_t clock_id, uint32_t *ret_owner, bool *ret_thread) IMAGE_WUR;

#endif
