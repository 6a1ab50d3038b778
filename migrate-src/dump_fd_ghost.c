/*
 * dump_fd_ghost: files that exist nowhere but in the process, carried whole in the image.
 *
 * Memfds and deleted regular files. Their contents travel in the FdEntry, up to the ghost
 * limit (--ghost-limit, CRIU's name and meaning); a larger one is refused by fd, path, size
 * and limit. One the process also maps is carried with its first VMA instead
 * (dump_mm_ghost.c): the FdEntry says ghost_mapped and the restore opens the fd on the
 * object it mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump_fd_ghost.h"
#include "dump_internal.h"
#include "err.h"

/* Process-wide: the dump runs once per command; set before it starts. */
static uint64_t dump_fd_ghost_limit = DUMP_FD_GHOST_LIMIT_DEFAULT;

void dump_fd_ghost_set_limit(uint64_t bytes)
{
	dump_fd_ghost_limit = bytes < DUMP_FD_GHOST_LIMIT_MAX ? bytes : DUMP_FD_GHOST_LIMIT_MAX;
}

uint64_t dump_fd_ghost_get_limit(void)
{
	return dump_fd_ghost_limit;
}

static int fd_ghost_too_big(const FdEntry *e, const char *what, uint64_t size)
{
	if (size <= dump_fd_ghost_limit)
		return 0;
	return err_setf(-ENOTSUP,
			"fd %u is %s (%s) of %llu bytes: above the limit of %llu "
			"bytes carried in the image (raise it with --ghost-limit, at most %llu)",
			e->fd, what, e->path, (unsigned long long)size,
			(unsigned long long)dump_fd_ghost_limit,
			(unsigned long long)DUMP_FD_GHOST_LIMIT_MAX);
}

/* Whether pid maps the memfd or deleted file with inode ino (the maps' inode column). */
static int fd_ghost_mapped(pid_t pid, uint64_t ino, bool *ret)
{
	char path[64], line[4352];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*ret = false;
	while (!*ret && fgets(line, sizeof(line), f)) {
		uint64_t i;

		if (sscanf(line, "%*s %*s %*s %*s %" SCNu64, &i) == 1 && i == ino &&
		    strstr(line, " (deleted)"))
			*ret = true;
	}
	fclose(f);
	return 0;
}

/* The name between "/memfd:" and " (deleted)". */
static int fd_ghost_name(const char *path, char **ret)
{
	const char *start = path + strlen("/memfd:");
	const char *end = strstr(start, " (deleted)");
	size_t n = end ? (size_t)(end - start) : strlen(start);

	*ret = strndup(start, n);
	return *ret ? 0 : -ENOMEM;
}

int dump_fd_ghost_read(int fd, size_t len, ProtobufCBinaryData *ret)
{
	uint8_t *buf = malloc(len ? len : 1);
	size_t done = 0;

	if (!buf)
		return -ENOMEM;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)done);

		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EIO;
		}
		done += (size_t)n;
	}
	ret->data = buf;
	ret->len = len;
	return 0;
}

static int fd_ghost_memfd(pid_t pid, FdEntry *e, int copy)
{
	struct stat st;
	bool mapped;
	int seals, r;

	r = fd_ghost_mapped(pid, e->ino, &mapped);
	if (r < 0)
		return err_setf(r, "cannot read the maps of pid %d: %s", pid, strerror(-r));
	if (fstat(copy, &st) < 0)
		return -errno;
	r = mapped ? 0 : fd_ghost_too_big(e, "a memfd", (uint64_t)st.st_size);
	if (r < 0)
		return r;
	seals = fcntl(copy, F_GET_SEALS);
	if (seals < 0)
		return -errno;
	e->has_memfd_seals = true;
	e->memfd_seals = (uint32_t)seals;
	e->size = (uint64_t)st.st_size;
	r = fd_ghost_name(e->path, &e->memfd_name);
	/* Mapped: the contents travel once, with the VMA (dump_mm_ghost.c). */
	e->has_ghost_mapped = e->ghost_mapped = mapped;
	if (r == 0 && !mapped)
		r = dump_fd_ghost_read(copy, (size_t)st.st_size, &e->file_data);
	e->has_file_data = r == 0 && !mapped;
	return r;
}

/*
 * A deleted regular file: read through /proc/PID/fd/N opened anew for reading, since the
 * process's own fd may be write-only. Its path stays "... (deleted)": the restore strips it.
 */
static int fd_ghost_deleted(pid_t pid, FdEntry *e)
{
	char path[64];
	struct stat st;
	bool mapped;
	int fd, r;

	snprintf(path, sizeof(path), "/proc/%d/fd/%u", pid, e->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = err_setf(-ENOTSUP,
			     "fd %u is a deleted file (%s) that is not a regular file: "
			     "not supported",
			     e->fd, e->path);
		goto out;
	}
	r = fd_ghost_mapped(pid, e->ino, &mapped);
	e->has_ghost_mapped = e->ghost_mapped = r == 0 && mapped;
	if (e->ghost_mapped) {
		e->size = (uint64_t)st.st_size;
		goto out;
	}
	if (r == 0)
		r = fd_ghost_too_big(e, "a deleted file", (uint64_t)st.st_size);
	if (r == 0) {
		e->size = (uint64_t)st.st_size;
		r = dump_fd_ghost_read(fd, (size_t)st.st_size, &e->file_data);
		e->has_file_data = r == 0;
	}
out:
	close(fd);
	return r;
}

int dump_fd_ghost_fill(pid_t pid, FdEntry *e)
{
	int copy, r;

	if (e->kind == FD_KIND__FD_GHOST)
		return fd_ghost_deleted(pid, e);
	if (e->kind != FD_KIND__FD_MEMFD)
		return 0;
	r = dump_files_copy_fd(pid, (int)e->fd, &copy);
	if (r < 0)
		return r;
	r = fd_ghost_memfd(pid, e, copy);
	close(copy);
	return r;
}
