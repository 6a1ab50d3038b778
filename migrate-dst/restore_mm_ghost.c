/*
 * restore_mm_ghost: memfds and deleted files that the process maps, made again from the image.
 *
 * The dump carries each such object whole on the first VMA that maps it (VmaEntry.ghost_*,
 * dump_mm_ghost.c). Per set_layout call:
 *
 *	restore_mm_ghost_check    every deleted-file VMA has its object in the layout
 *	restore_mm_ghost_sync     objects made here (memfd with its name; a deleted file at its
 *	                          old path, then unlinked), filled and sized; an object made by an
 *	                          earlier layout (live migration's rounds) is refilled instead, so
 *	                          the final layout leaves the final contents under kept mappings
 *	layout                    each VMA maps the object, opened by the puppet through
 *	                          /proc/OURPID/fd/N (restore_mm_ghost_open): one object however
 *	                          many VMAs
 *	restore_mm_ghost_seal     seals last: F_SEAL_WRITE forbids the shared writable mappings
 *
 * The objects stay open here so that the fds of the same files (FdEntry.ghost_mapped,
 * restore_fd_ghost.c) open the very object mapped; restore_mm_ghost_forget closes them once
 * the fds are made. An object is known by its dev/ino in the image, whichever process maps
 * it: in a tree, the later members map the object the first one made; one that several
 * members map (ghost_shared) stays open until we exit, since any of them may come later. A deleted file whose old path cannot be used (its directory gone, a file
 * there now) becomes a memfd of its base name, with a warning: the contents are what matter.
 * Kept in one list for the restorer: one thread makes every call for a process (restore.h).
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

#define GHOST_WRITE_SEALS (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)

struct ghost_obj {
	const struct restore_proc *p; /* the process whose layout made it */
	uint64_t dev, ino;	      /* its identity in the image */
	int fd;			      /* ours, O_RDWR */
	uint32_t seals;		      /* to add once mapped (a memfd) */
	bool sealed;
	bool shared; /* other processes of the tree map it too: kept open for them */
};

static struct ghost_obj *ghost_objs;
static size_t ghost_count;

/* By its identity in the image alone: one dev/ino is one object in every process of it. */
static struct ghost_obj *ghost_find(uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < ghost_count; i++)
		if (ghost_objs[i].dev == dev && ghost_objs[i].ino == ino)
			return &ghost_objs[i];
	return NULL;
}

static bool ghost_deleted_file(const VmaEntry *v)
{
	return (v->kind == VMA_KIND__VMA_FILE_SHARED || v->kind == VMA_KIND__VMA_FILE_PRIVATE) &&
	       v->has_file_deleted && v->file_deleted;
}

int restore_mm_ghost_check(VmaEntry *const *vmas, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		if (vmas[i] && vmas[i]->has_ghost_data &&
		    (!ghost_deleted_file(vmas[i]) || !vmas[i]->path ||
		     vmas[i]->ghost_data.len != vmas[i]->ghost_size ||
		     vmas[i]->ghost_size > (1u << 30)))
			return err_setf(-EINVAL,
					"mapping 0x%llx: carries a memfd or deleted file "
					"without a path or exactly its contents",
					(unsigned long long)vmas[i]->start);
		if (!vmas[i] || !ghost_deleted_file(vmas[i]))
			continue;
		for (size_t j = 0; !found && j < n; j++)
			found = vmas[j] && vmas[j]->has_ghost_data &&
				vmas[j]->dev == vmas[i]->dev && vmas[j]->ino == vmas[i]->ino &&
				ghost_deleted_file(vmas[j]);
		if (!found)
			return err_setf(-EINVAL,
					"mapping 0x%llx of %s: the file was deleted before "
					"the dump and the image does not carry it",
					(unsigned long long)vmas[i]->start,
					vmas[i]->path ? vmas[i]->path : "?");
	}
	return 0;
}

static int ghost_fill(int fd, const VmaEntry *v)
{
	struct stat st;

	for (size_t done = 0; done < v->ghost_data.len;) {
		ssize_t n = pwrite(fd, v->ghost_data.data + done, v->ghost_data.len - done,
				   (off_t)done);

		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size != v->ghost_size && ftruncate(fd, (off_t)v->ghost_size) < 0)
		return -errno;
	return 0;
}

/* A deleted file at its old path, unlinked at once; -errno when the path cannot be used. */
static int ghost_make_file(const VmaEntry *v, int *ret_fd)
{
	const char *end = strstr(v->path, " (deleted)");
	char *path = strndup(v->path, end ? (size_t)(end - v->path) : strlen(v->path));
	int fd;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, (mode_t)(v->ghost_mode & 07777));
	if (fd >= 0)
		(void)unlink(path);
	free(path);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

static int ghost_make(const VmaEntry *v, struct ghost_obj *o)
{
	/* Exactly F_SEAL_SEAL: made without MFD_ALLOW_SEALING (or sealed shut: the same). */
	bool sealable = v->memfd_name && v->memfd_seals != F_SEAL_SEAL;
	const char *base = strrchr(v->path, '/') ? strrchr(v->path, '/') + 1 : v->path;
	int r = 0;

	o->seals = sealable ? v->memfd_seals : 0;
	if (!v->memfd_name) {
		r = ghost_make_file(v, &o->fd);
		if (r == 0)
			return 0;
		log_warn("cannot re-create the deleted file %s at its path (%s): mapped from a "
			 "memfd instead",
			 v->path, strerror(-r));
	}
	o->fd = memfd_create(v->memfd_name ? v->memfd_name : base,
			     MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0));
	return o->fd < 0 ? -errno : 0;
}

static int ghost_sync_one(struct restore_proc *p, const VmaEntry *v)
{
	struct ghost_obj *o = ghost_find(v->dev, v->ino), *grown;
	struct ghost_obj fresh = { .p = p, .dev = v->dev, .ino = v->ino, .fd = -1 };
	int r;

	if (o && v->ghost_shared)
		o->shared = true;
	if (o && o->sealed && (o->seals & GHOST_WRITE_SEALS))
		return 0; /* cannot have changed since */
	if (o)
		return ghost_fill(o->fd, v);
	r = ghost_make(v, &fresh);
	if (r == 0)
		r = ghost_fill(fresh.fd, v);
	grown = r == 0 ? realloc(ghost_objs, (ghost_count + 1) * sizeof(*grown)) : NULL;
	if (r == 0 && !grown)
		r = -ENOMEM;
	if (r < 0) {
		if (fresh.fd >= 0)
			close(fresh.fd);
		return r;
	}
	fresh.shared = v->ghost_shared;
	ghost_objs = grown;
	ghost_objs[ghost_count++] = fresh;
	return 0;
}

int restore_mm_ghost_sync(struct restore_proc *p, VmaEntry *const *vmas, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r;

		if (!vmas[i]->has_ghost_data || !ghost_deleted_file(vmas[i]))
			continue;
		r = ghost_sync_one(p, vmas[i]);
		if (r < 0)
			return log_error_errno(r,
					       "pid %d: cannot re-create %s (%llu bytes) mapped at "
					       "0x%llx: %s",
					       p->pid, vmas[i]->path,
					       (unsigned long long)vmas[i]->ghost_size,
					       (unsigned long long)vmas[i]->start, strerror(-r));
	}
	return 0;
}

int restore_mm_ghost_seal(struct restore_proc *p)
{
	for (size_t i = 0; i < ghost_count; i++) {
		struct ghost_obj *o = &ghost_objs[i];

		if (o->p != p || o->sealed)
			continue;
		if (o->seals && fcntl(o->fd, F_ADD_SEALS, (int)o->seals) < 0)
			return log_error_errno(-errno,
					       "pid %d: cannot seal a mapped memfd again "
					       "(seals 0x%x): %m",
					       p->pid, o->seals);
		o->sealed = true;
	}
	return 0;
}

int restore_mm_ghost_open(struct restore_proc *p, const struct restore_vma *v, int *ret_fd)
{
	const struct ghost_obj *o = ghost_find(v->dev, v->ino);
	char path[64];
	int flags = O_CLOEXEC, r;

	if (!o)
		return log_error_errno(-EINVAL,
				       "pid %d: mapping 0x%llx of %s: its object was not "
				       "made",
				       p->pid, (unsigned long long)v->start, v->path);
	/* Writable whenever the seals allow, so that a later mprotect(PROT_WRITE) works. */
	flags |= (o->seals & GHOST_WRITE_SEALS) ? O_RDONLY : O_RDWR;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getpid(), o->fd);
	r = restore_remote_open(&p->puppets[0], path, flags, ret_fd);
	if (r < 0)
		return log_error_errno(r,
				       "pid %d: cannot open %s (the object of mapping 0x%llx) "
				       "in the process",
				       p->pid, v->path, (unsigned long long)v->start);
	return 0;
}

int restore_mm_ghost_fd(const struct restore_proc *p, uint64_t dev, uint64_t ino)
{
	const struct ghost_obj *o = ghost_find(dev, ino);

	(void)p;
	return o ? o->fd : -ENOENT;
}

void restore_mm_ghost_forget(const struct restore_proc *p)
{
	size_t kept = 0;

	for (size_t i = 0; i < ghost_count; i++) {
		if (ghost_objs[i].p == p && !ghost_objs[i].shared)
			close(ghost_objs[i].fd);
		else
			ghost_objs[kept++] = ghost_objs[i];
	}
	ghost_count = kept;
}
