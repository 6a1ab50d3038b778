/*
 * session_image: the non-memory state of the process, as the image records `migrate dump`
 * writes (inventory, pstree, core, mm, files), arriving as ImageRecords in the freeze window.
 * Commit assembles them into a struct image_task, checks it as image_set_load checks a
 * directory, and hands it to restore_proc_finish. With --images-dir, the same records and the
 * puppet's memory also become an image directory, before Ready (inside the freeze window:
 * the pages are read from the stopped puppet, so they are exactly what will run).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dst_server.h"
#include "dst_session_internal.h"
#include "err.h"
#include "log.h"

/* Pages read from the puppet at a time for the image directory. */
#define SESSION_IMAGE_CHUNK (1U << 20)

static int session_record_bad(struct session *s, const WireImageRecord *m, const char *why)
{
	return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
			    "ImageRecord of kind %u (pid %u): %s", m->kind, m->pid, why);
}

/* Kind and pid against this session: one process, its records once each. */
static int session_record_check(struct session *s, const WireImageRecord *m)
{
	bool global = m->kind == IMAGE_INVENTORY || m->kind == IMAGE_PSTREE || m->kind == IMAGE_IPC;
	void *slot = NULL;
	int r;

	/* A tree: the process a record is of comes into the session's fields. */
	if (s->nr_members && !global) {
		r = session_member_select(s, m->pid, "ImageRecord");
		if (r < 0)
			return r;
	}

	switch (m->kind) {
	case IMAGE_INVENTORY:
		slot = s->inv;
		break;
	case IMAGE_PSTREE:
		slot = s->nr_members ? NULL : s->pstree; /* a tree's: session_tree_on_pstree */
		break;
	case IMAGE_CORE:
		slot = s->core;
		break;
	case IMAGE_MM:
		slot = s->mm;
		break;
	case IMAGE_FILES:
		if (s->fd_count >= SESSION_MAX_FDS)
			return session_record_bad(s, m, "too many files");
		break;
	case IMAGE_IPC:
		if (s->ipc_count >= SESSION_MAX_FDS)
			return session_record_bad(s, m, "too many System V objects");
		if (s->nr_members) { /* the root makes them (session_tree.c) */
			r = session_tree_ipc_select(s);
			if (r < 0)
				return r;
		}
		break;
	default:
		return session_record_bad(s, m, "not a kind that travels (pages come as pages)");
	}
	if (slot)
		return session_record_bad(s, m, "sent twice (one process per session)");
	if (global ? m->pid != 0 : m->pid != session_member_pid(s))
		return session_record_bad(s, m, "not a record of this session's process");
	if (s->record_bytes + m->record.len > SESSION_MAX_RECORD_BYTES)
		return session_record_bad(s, m, "the records are over this session's limit");
	return 0;
}

static int session_fds_push(struct session *s, FdEntry *fd)
{
	if (s->fd_count == s->fd_cap) {
		size_t cap = s->fd_cap ? s->fd_cap * 2 : 16;
		FdEntry **fds = realloc(s->fds, cap * sizeof(*fds));

		if (!fds)
			return -ENOMEM;
		s->fds = fds;
		s->fd_cap = cap;
	}
	s->fds[s->fd_count++] = fd;
	return 0;
}

/* A System V object (or setting) of the source's IPC namespace: checked, made at once in the
 * puppet's (the segments attached over their placeholders of the final layout), kept for
 * --images-dir. Takes rec. */
static int session_on_ipc(struct session *s, IpcEntry *rec)
{
	IpcEntry **bigger;
	int r = image_ipc_entry_check(rec);

	if (r < 0) {
		protobuf_c_message_free_unpacked(&rec->base, NULL);
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, r,
				    "image records: %s", err_detail());
	}
	bigger = realloc(s->ipc, (s->ipc_count + 1) * sizeof(*bigger));
	if (!bigger) {
		protobuf_c_message_free_unpacked(&rec->base, NULL);
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -ENOMEM,
				    "out of memory");
	}
	s->ipc = bigger;
	s->ipc[s->ipc_count++] = rec;
	server_log_clear_error();
	r = restore_ipc_one(s->proc, rec);
	if (r < 0)
		return session_fail_restore(s, r, "cannot make the System V objects");
	return 0;
}

int session_on_record(struct session *s, const WireImageRecord *m)
{
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *rec;
	int r = session_record_check(s, m);

	if (r < 0)
		return r;
	desc = image_kind_descriptor((enum image_kind)m->kind);
	rec = protobuf_c_message_unpack(desc, NULL, m->record.len, m->record.data);
	if (!rec)
		return session_record_bad(s, m, "does not decode");
	s->record_bytes += m->record.len;
	switch (m->kind) {
	case IMAGE_INVENTORY:
		s->inv = (InventoryEntry *)rec;
		return 0;
	case IMAGE_PSTREE:
		if (s->nr_members)
			return session_tree_on_pstree(s, (PstreeEntry *)rec);
		s->pstree = (PstreeEntry *)rec;
		return 0;
	case IMAGE_CORE:
		s->core = (TaskCoreEntry *)rec;
		return 0;
	case IMAGE_MM:
		s->mm = (MmEntry *)rec;
		return 0;
	case IMAGE_IPC:
		return session_on_ipc(s, (IpcEntry *)rec);
	}
	r = session_fds_push(s, (FdEntry *)rec);
	if (r < 0) {
		protobuf_c_message_free_unpacked(rec, NULL);
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, r, "out of memory");
	}
	return 0;
}

/* restore_proc_finish needs the mm's VMAs to be the layout set last. */
bool session_mm_is_layout(const MmEntry *mm, const WireLayout *l)
{
	if (!l || mm->n_vmas != l->n_vmas)
		return false;
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *a = mm->vmas[i], *b = l->vmas[i];

		if (a->start != b->start || a->end != b->end || a->kind != b->kind ||
		    a->prot != b->prot || a->flags != b->flags)
			return false;
	}
	return true;
}

static int session_task(struct session *s, struct image_task *t)
{
	const char *missing = !s->inv	   ? "inventory"
			      : !s->pstree ? "pstree"
			      : !s->core   ? "core"
			      : !s->mm	   ? "mm"
					   : NULL;
	int r;

	if (missing)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				    "Commit without the %s record", missing);
	*t = (struct image_task){ .pstree = s->pstree,
				  .core = s->core,
				  .mm = s->mm,
				  .fds = s->fds,
				  .fd_count = s->fd_count,
				  .pages_fd = -1 };
	if (s->pstree->pid != s->pid)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				    "the pstree record is of pid %u, this session restores pid %u",
				    s->pstree->pid, s->pid);
	r = image_task_check(s->inv, t);
	if (r < 0)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, r,
				    "image records: %s", err_detail());
	if (!session_mm_is_layout(s->mm, s->layout))
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
				    "the mm record's VMAs are not the final Layout's");
	return 0;
}

/* ---- --images-dir ---- */

/* Moves the finished directory to DIR/<pid>-<UTC time of Commit>[-N]. */
static int session_image_rename(struct session *s, char *path, size_t size)
{
	for (int n = 1; n < 100; n++) {
		if (n == 1)
			snprintf(path, size, "%s/%u-%s", s->opts->images_dir, s->pid,
				 s->images_stamp);
		else
			snprintf(path, size, "%s/%u-%s-%d", s->opts->images_dir, s->pid,
				 s->images_stamp, n);
		/* RENAME_NOREPLACE: never over the images of another migration. */
		if (renameat2(AT_FDCWD, s->opts->images_tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EEXIST)
			return err_setf(-errno, "cannot rename %s to %s: %s", s->opts->images_tmp,
					path, strerror(errno));
	}
	return err_setf(-EEXIST, "too many image directories of pid %u this second", s->pid);
}

/* core, mm and files of the process the session's fields hold (a tree's: the member loaded). */
int session_image_proc_records(struct session *s, struct image_dir *d)
{
	pid_t pid = (pid_t)session_member_pid(s);
	struct image_file *f = NULL;
	int r;

	r = image_write_single(d, IMAGE_CORE, pid, &s->core->base);
	if (r == 0)
		r = image_write_single(d, IMAGE_MM, pid, &s->mm->base);
	if (r == 0)
		r = image_open_write(d, IMAGE_FILES, pid, &f);
	for (size_t i = 0; r == 0 && i < s->fd_count; i++)
		r = image_write_record(f, &s->fds[i]->base);
	if (f) {
		int r2 = image_close(f);

		if (r == 0)
			r = r2;
	}
	return r;
}

/* The records of one process, or (session_tree_images) of a tree; then ipc.img. */
static int session_image_records(struct session *s, struct image_dir *d)
{
	struct image_file *f = NULL;
	int r;

	r = image_write_single(d, IMAGE_INVENTORY, 0, &s->inv->base);
	if (r == 0 && s->nr_members) {
		r = session_tree_images(s, d);
	} else if (r == 0) {
		r = image_write_single(d, IMAGE_PSTREE, 0, &s->pstree->base);
		if (r == 0)
			r = session_image_proc_records(s, d);
		if (r == 0)
			r = session_image_pages(s, d);
	}
	if (r == 0 && s->inv->has_ipc_ns && s->inv->ipc_ns) {
		f = NULL;
		r = image_open_write(d, IMAGE_IPC, 0, &f);
		for (size_t i = 0; r == 0 && i < s->ipc_count; i++)
			r = image_write_record(f, &s->ipc[i]->base);
		if (f) {
			int r2 = image_close(f);

			if (r == 0)
				r = r2;
		}
	}
	return r;
}

/* [start, end) of the puppet's memory into the pages file. */
static int session_image_copy(struct page_writer *w, int mem, uint8_t *buf, uint64_t start,
			      uint64_t end)
{
	while (start < end) {
		size_t len = end - start > SESSION_IMAGE_CHUNK ? SESSION_IMAGE_CHUNK : end - start;
		ssize_t n = pread(mem, buf, len, (off_t)start);
		int r;

		if (n != (ssize_t)len)
			return err_setf(n < 0 ? -errno : -EIO,
					"cannot read 0x%llx of the restored "
					"process: %s",
					(unsigned long long)start,
					n < 0 ? strerror(errno) : "short read");
		r = page_writer_add(w, start, buf, len / IMAGE_PAGE_SIZE);
		if (r < 0)
			return r;
		start += len;
	}
	return 0;
}

/* The resident pages of each VMA that holds pages (both lists are sorted); runs never span
 * two VMAs. */
static int session_image_vmas(struct session *s, struct page_writer *w, int mem, uint8_t *buf)
{
	WireRange *const *res = s->residency ? s->residency->resident : NULL;
	size_t n = s->residency ? s->residency->n_resident : 0, j = 0;
	int r = 0;

	for (size_t i = 0; r == 0 && i < s->mm->n_vmas; i++) {
		const VmaEntry *v = s->mm->vmas[i];

		if (!image_vma_holds_pages(v))
			continue;
		while (j < n && res[j]->end <= v->start)
			j++;
		for (size_t k = j; r == 0 && k < n && res[k]->start < v->end; k++) {
			uint64_t a = res[k]->start > v->start ? res[k]->start : v->start;
			uint64_t b = res[k]->end < v->end ? res[k]->end : v->end;

			r = session_image_copy(w, mem, buf, a, b);
		}
		if (r == 0)
			r = page_writer_cut(w);
	}
	return r;
}

int session_image_pages(struct session *s, struct image_dir *d)
{
	struct page_writer *w = NULL;
	uint8_t *buf = malloc(SESSION_IMAGE_CHUNK);
	char path[64];
	int mem, r, r2;

	snprintf(path, sizeof(path), "/proc/%u/mem", session_member_pid(s));
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0 || !buf) {
		r = mem < 0 ? err_setf(-errno, "cannot open %s: %s", path, strerror(errno))
			    : -ENOMEM;
		goto out;
	}
	r = page_writer_open(d, (pid_t)session_member_pid(s), &w);
	if (r == 0)
		r = session_image_vmas(s, w, mem, buf);
	r2 = page_writer_close(w);
	if (r == 0)
		r = r2;
out:
	if (mem >= 0)
		close(mem);
	free(buf);
	return r;
}

void session_images_remove(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *de;

	while (dir && (de = readdir(dir)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, ".."))
			(void)unlinkat(dirfd(dir), de->d_name, 0);
	if (dir)
		closedir(dir);
	(void)rmdir(path);
}

/* Into opts->images_tmp: a failed migration must leave no image directory, so it gets its
 * real name only once the process runs (session_images_publish). A failure here costs the
 * images, not the migration. */
static void session_images_write(struct session *s)
{
	const char *path = s->opts->images_tmp;
	struct image_dir d = { .dirfd = -1 };
	uint64_t t0 = session_now_ns();
	time_t now = time(NULL);
	struct tm tm;
	int r;

	gmtime_r(&now, &tm);
	strftime(s->images_stamp, sizeof(s->images_stamp), "%Y%m%dT%H%M%SZ", &tm);
	session_images_remove(path); /* left by a crashed session of an earlier daemon */
	r = mkdir(path, 0700) < 0 ? err_setf(-errno, "cannot create %s: %s", path, strerror(errno))
				  : 0;
	if (r == 0)
		r = image_dir_open(&d, path, false);
	if (r == 0)
		r = session_image_records(s, &d);
	image_dir_close(&d);
	if (r < 0) {
		log_warn("pid %u: cannot write its image directory: %s (the migration goes on)",
			 s->pid, err_detail()[0] ? err_detail() : strerror(-r));
		session_images_remove(path);
		return;
	}
	s->images_written = true;
	log_info("pid %u: images written in %.1f ms", s->pid, (session_now_ns() - t0) / 1e6);
}

void session_images_publish(struct session *s)
{
	char path[4096];

	if (!s->images_written)
		return;
	if (session_image_rename(s, path, sizeof(path)) < 0) {
		log_warn("pid %u: %s: its images are lost", s->pid, err_detail());
		session_images_remove(s->opts->images_tmp);
	} else {
		log_info("pid %u: images in %s", s->pid, path);
	}
	s->images_written = false;
}

/* ---- Commit ---- */

/* The network part of Commit: restored connections held quiet until Go, addresses checked. */
static int session_commit_net(struct session *s, const WireCommit *m)
{
	struct restore_timings tm;
	int r;

	restore_proc_timings(s->proc, &tm);
	s->net.restore_ns = tm.sockets_ns;
	s->net.move_ip = m->has_move_ip && m->move_ip;
	r = session_net_hold(s);
	if (r == 0)
		r = session_net_check(s);
	if (r == 0 && s->net.sockets)
		log_info("pid %u: %u inet socket%s restored, addresses %s in %.1f ms", s->pid,
			 s->net.sockets, s->net.sockets == 1 ? "" : "s",
			 s->net.move_ip ? "claimable (--move-ip)" : "owned here",
			 s->net.check_ns / 1e6);
	return r;
}

int session_on_commit(struct session *s, const WireCommit *m)
{
	WireReady ready = WIRE_READY__INIT;
	struct image_task t;
	uint64_t t0 = session_now_ns();
	int r;

	if (s->nr_members) {
		r = session_tree_commit(s); /* every member; the root loaded after */
		if (r < 0)
			return r;
	} else {
		r = session_task(s, &t);
		if (r < 0)
			return r;
		server_log_clear_error();
		r = restore_proc_finish(s->proc, &t, &s->ropts);
		if (r < 0)
			return session_fail_restore(s, r, "cannot complete the process");
	}
	s->finish_ns = session_now_ns() - t0;
	r = session_commit_net(s, m);
	if (r < 0)
		return r;
	if (s->opts->images_dir && s->opts->images_tmp)
		session_images_write(s);
	session_fault_point(s, "before-ready");
	ready.pid = s->pid;
	ready.has_layout_ns = ready.has_pages_ns = ready.has_finish_ns = true;
	ready.layout_ns = s->final_layout_ns;
	ready.pages_ns = s->final_pages_ns;
	ready.finish_ns = s->finish_ns;
	ready.has_sockets = ready.has_net_check_ns = ready.has_sockets_ns = true;
	ready.sockets = s->net.sockets;
	ready.sockets_ns = s->net.restore_ns;
	ready.net_check_ns = s->net.check_ns;
	log_info("pid %u complete and stopped: final layout %.1f ms, pages %.1f ms, state %.1f ms",
		 s->pid, ready.layout_ns / 1e6, ready.pages_ns / 1e6, ready.finish_ns / 1e6);
	return session_send(s, WIRE_READY, &ready.base);
}

void session_image_fini(struct session *s)
{
	if (s->images_written)
		session_images_remove(s->opts->images_tmp); /* never published: it failed */
	if (s->inv)
		protobuf_c_message_free_unpacked(&s->inv->base, NULL);
	if (s->pstree)
		protobuf_c_message_free_unpacked(&s->pstree->base, NULL);
	if (s->core)
		protobuf_c_message_free_unpacked(&s->core->base, NULL);
	if (s->mm)
		protobuf_c_message_free_unpacked(&s->mm->base, NULL);
	for (size_t i = 0; i < s->fd_count; i++)
		protobuf_c_message_free_unpacked(&s->fds[i]->base, NULL);
	free(s->fds);
	for (size_t i = 0; i < s->ipc_count; i++)
		protobuf_c_message_free_unpacked(&s->ipc[i]->base, NULL);
	free(s->ipc);
	s->ipc = NULL;
	s->ipc_count = 0;
	s->inv = NULL;
	s->pstree = NULL;
	s->core = NULL;
	s->mm = NULL;
	s->fds = NULL;
	s->fd_count = 0;
}
