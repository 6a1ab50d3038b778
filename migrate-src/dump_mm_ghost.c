/*
 * dump_mm_ghost: mapped files that exist only in processes (memfds, deleted files).
 *
 * Such a file cannot be mapped again from a path at restore, so the object travels whole: its
 * contents (read once, through /proc/PID/map_files of its first mapping, which reaches the
 * very object whether or not an fd of it is still open), size, and name and seals (memfd) or
 * mode (deleted file), on the first VMA that maps it. Every other VMA of the same dev/ino maps
 * the same object at restore. Whole rather than page by page: pages of a shared mapping that
 * this process never touched are in the object but in no page table, so the mapping's pages
 * alone would miss them, and parts not mapped at all (written through an fd) too. The price is
 * the ghost limit (--ghost-limit), above which the mapping is refused by address and path.
 * Private mappings keep their own copied pages besides (dump_mm_policy: COW). In a tree,
 * each member carries the objects it maps, and those that several members map are marked
 * (ghost_shared) so that the restore makes one for all of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump_fd_ghost.h"
#include "dump_internal.h"
#include "err.h"

bool dump_mm_ghost_is(const struct proc_vma *v)
{
	if (!v->deleted || !v->path || v->path[0] != '/')
		return false;
	if (strncmp(v->path, "/memfd:", strlen("/memfd:")) == 0)
		return true;
	/* MAP_SHARED|MAP_ANONYMOUS and System V segments are shmem objects of their own kinds. */
	return strcmp(v->path, "/dev/zero") != 0 && strncmp(v->path, "/SYSV", 5) != 0;
}

static bool ghost_is_memfd(const VmaEntry *e)
{
	return strncmp(e->path, "/memfd:", strlen("/memfd:")) == 0;
}

/* Name (between "/memfd:" and " (deleted)") and seals of the memfd open at fd. */
static int ghost_memfd_meta(int fd, VmaEntry *e)
{
	const char *start = e->path + strlen("/memfd:");
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0)
		return -errno;
	e->has_memfd_seals = true;
	e->memfd_seals = (uint32_t)seals;
	e->memfd_name = strdup(start);
	return e->memfd_name ? 0 : -ENOMEM;
}

static int ghost_check(const VmaEntry *e, const struct stat *st)
{
	uint64_t limit = dump_fd_ghost_get_limit();

	if (!S_ISREG(st->st_mode))
		return err_setf(-ENOTSUP,
				"mapping %llx-%llx of the deleted file %s: not a regular "
				"file: not supported",
				(unsigned long long)e->start, (unsigned long long)e->end, e->path);
	if ((uint64_t)st->st_size <= limit)
		return 0;
	return err_setf(-ENOTSUP,
			"mapping %llx-%llx is of %s (%s) of %llu bytes: above the limit "
			"of %llu bytes carried in the image (raise it with --ghost-limit, at most "
			"%llu)",
			(unsigned long long)e->start, (unsigned long long)e->end,
			ghost_is_memfd(e) ? "a memfd" : "a deleted file", e->path,
			(unsigned long long)st->st_size, (unsigned long long)limit,
			(unsigned long long)DUMP_FD_GHOST_LIMIT_MAX);
}

static int ghost_fill_one(pid_t pid, VmaEntry *e)
{
	char path[96];
	struct stat st;
	int fd, r;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)e->start, (unsigned long long)e->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_setf(-errno,
				"pid %d: cannot open the object of mapping %llx-%llx (%s): "
				"%m",
				pid, (unsigned long long)e->start, (unsigned long long)e->end,
				e->path);
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	r = ghost_check(e, &st);
	if (r < 0) {
		close(fd);
		return r;
	}
	if (ghost_is_memfd(e))
		r = ghost_memfd_meta(fd, e);
	else
		e->has_ghost_mode = true, e->ghost_mode = st.st_mode;
	if (r == 0) {
		e->has_ghost_size = true;
		e->ghost_size = (uint64_t)st.st_size;
		r = dump_fd_ghost_read(fd, (size_t)st.st_size, &e->ghost_data);
		e->has_ghost_data = r == 0;
	}
	if (r == 0) {
		close(fd);
		return 0;
	}
fail:
	close(fd);
	return err_setf(r, "pid %d: cannot read the object of mapping %llx-%llx (%s): %s", pid,
			(unsigned long long)e->start, (unsigned long long)e->end, e->path,
			strerror(-r));
}

static bool ghost_vma(const VmaEntry *e)
{
	return e->file_deleted && e->has_ino &&
	       (e->kind == VMA_KIND__VMA_FILE_SHARED || e->kind == VMA_KIND__VMA_FILE_PRIVATE);
}

static bool ghost_seen(VmaEntry **vmas, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (vmas[j]->has_ghost_data && vmas[j]->dev == vmas[i]->dev &&
		    vmas[j]->ino == vmas[i]->ino)
			return true;
	return false;
}

int dump_mm_ghost_fill(pid_t pid, VmaEntry **vmas, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		VmaEntry *e = vmas[i];
		int r;

		if (!ghost_vma(e) || !e->path || ghost_seen(vmas, i))
			continue;
		r = ghost_fill_one(pid, e);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Whether a member of tree other than proc i maps e's object. */
static bool ghost_mapped_elsewhere(const struct dump_tree *tree, size_t i, const VmaEntry *e)
{
	for (size_t j = 0; j < tree->count; j++) {
		const MmEntry *mm = tree->procs[j].mm;

		for (size_t k = 0; j != i && mm && !tree->procs[j].zombie && k < mm->n_vmas; k++)
			if (ghost_vma(mm->vmas[k]) && mm->vmas[k]->dev == e->dev &&
			    mm->vmas[k]->ino == e->ino)
				return true;
	}
	return false;
}

void dump_mm_ghost_mark_shared(struct dump_tree *tree)
{
	for (size_t i = 0; i < tree->count; i++) {
		MmEntry *mm = tree->procs[i].mm;

		for (size_t k = 0; mm && !tree->procs[i].zombie && k < mm->n_vmas; k++) {
			VmaEntry *e = mm->vmas[k];

			if (ghost_vma(e) && ghost_mapped_elsewhere(tree, i, e))
				e->has_ghost_shared = e->ghost_shared = true;
		}
	}
}
