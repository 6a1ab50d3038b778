/*
 * dump_fd_lock: file locks (flock, POSIX, OFD) held through an fd, from its fdinfo.
 *
 * The kernel lists in /proc/PID/fdinfo/FD, one "lock:" line each, the locks taken through
 * that open file: flock and OFD locks (owned by the file) and the process's POSIX locks
 * set through it. That answers which fd to take each lock again through, which /proc/locks
 * cannot for OFD locks (their pid is -1) nor for a file open twice. Locks are carried only
 * with --file-locks, and only on regular files, which restore opens again by path.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump_fd_lock.h"
#include "dump_internal.h"
#include "err.h"

#define FD_LOCK_FLOCK DUMP_FD_LOCK_FLOCK
#define FD_LOCK_POSIX DUMP_FD_LOCK_POSIX
#define FD_LOCK_OFD DUMP_FD_LOCK_OFD

/* Process-wide: the dump runs once per command; set before it starts. */
static bool dump_fd_lock_enabled;

void dump_fd_lock_set_enabled(bool enabled)
{
	dump_fd_lock_enabled = enabled;
}

static const char *fd_lock_name(uint32_t kind)
{
	return kind == FD_LOCK_FLOCK ? "a flock() lock"
	       : kind == FD_LOCK_POSIX ? "a POSIX (F_SETLK) lock"
				       : "an OFD (F_OFD_SETLK) lock";
}

/* One "lock:" line ("1: POSIX  ADVISORY  WRITE 42 00:1f:1234 0 EOF") into l, or -ENOTSUP
 * with *ret_what set for a kind we cannot take again (leases, delegations, mandatory). */
static int fd_lock_parse(const char *line, FileLockEntry *l, const char **ret_what)
{
	char kind[16], mode[16], type[16], end[32];
	uint64_t start;

	*ret_what = "a lock of an unknown kind";
	if (sscanf(line, "%*d: %15s %15s %15s %*s %*s %" SCNu64 " %31s", kind, mode, type, &start,
		   end) != 5)
		return -ENOTSUP;
	if (strcmp(kind, "FLOCK") == 0)
		l->kind = FD_LOCK_FLOCK;
	else if (strcmp(kind, "POSIX") == 0)
		l->kind = FD_LOCK_POSIX;
	else if (strcmp(kind, "OFDLCK") == 0)
		l->kind = FD_LOCK_OFD;
	else if (strcmp(kind, "LEASE") == 0 || strcmp(kind, "DELEG") == 0)
		return *ret_what = "a lease", -ENOTSUP;
	else
		return -ENOTSUP;
	*ret_what = fd_lock_name(l->kind);
	if (strcmp(mode, "ADVISORY") != 0 || strcmp(type, "UNLCK") == 0)
		return -ENOTSUP;
	l->write = strcmp(type, "WRITE") == 0;
	if (l->kind == FD_LOCK_FLOCK)
		return 0;
	l->has_start = l->has_len = true;
	l->start = start;
	if (strcmp(end, "EOF") == 0)
		l->len = 0;
	else if (sscanf(end, "%" SCNu64, &l->len) == 1 && l->len >= start)
		l->len = l->len - start + 1;
	else
		return -ENOTSUP;
	return 0;
}

static int fd_lock_add(FdEntry *e, const char *line)
{
	FileLockEntry **locks, *l;
	const char *what;
	int r;

	l = malloc(sizeof(*l));
	if (!l)
		return err_setf(-ENOMEM, "out of memory");
	file_lock_entry__init(l);
	r = fd_lock_parse(line, l, &what);
	if (r == 0 && !dump_fd_lock_enabled)
		r = -EPERM;
	if (r == 0 && e->kind != FD_KIND__FD_REG)
		r = -ENOTSUP;
	if (r == 0) {
		locks = realloc(e->locks, (e->n_locks + 1) * sizeof(*locks));
		if (!locks)
			r = -ENOMEM;
		else
			e->locks = locks;
	}
	if (r < 0) {
		free(l);
		if (r == -EPERM)
			return err_setf(-ENOTSUP, "fd %u (%s) holds %s: pass --file-locks to dump "
					"file locks", e->fd, e->path, what);
		if (r == -ENOMEM)
			return err_setf(r, "out of memory");
		return err_setf(-ENOTSUP, "fd %u (%s) holds %s: only flock, POSIX and OFD locks "
				"on regular files are supported", e->fd, e->path, what);
	}
	e->locks[e->n_locks++] = l;
	return 0;
}

int dump_fd_lock_fill(pid_t pid, FdEntry *e)
{
	char name[64], *text, *line, *save = NULL;
	size_t len;
	int r;

	snprintf(name, sizeof(name), "fdinfo/%u", e->fd);
	r = proc_read_file(pid, name, &text, &len);
	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "lock:", 5) != 0)
			continue;
		r = fd_lock_add(e, line + 5);
		if (r < 0)
			break;
	}
	free(text);
	return r;
}
