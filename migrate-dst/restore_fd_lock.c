/*
 * restore_fd_lock: file locks taken again by the puppet, through the fd they were held by,
 * once every fd exists (so a lock lands on the open file it belonged to).
 *
 * Locks are taken with the non-blocking calls (LOCK_NB, F_SETLK, F_OFD_SETLK): a lock held
 * meanwhile by someone else (the dumped process left running, another program) fails the
 * restore by name instead of hanging it. The puppet dies on failure, and its locks with it.
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>

#include "err.h"
#include "log.h"

static const char *const fd_lock_names[] = { "?", "flock() lock", "POSIX lock", "OFD lock" };

static int fd_lock_take(struct puppet *pp, uint32_t fd, const FileLockEntry *l)
{
	struct flock fl = {
		.l_type = l->write ? F_WRLCK : F_RDLCK,
		.l_whence = SEEK_SET,
		.l_start = (off_t)l->start,
		.l_len = (off_t)l->len,
	};
	uint64_t addr;
	int r;

	if (l->kind == 1)
		return restore_call(pp, "flock", NULL, SYS_flock, fd,
				    (l->write ? LOCK_EX : LOCK_SH) | LOCK_NB, 0, 0, 0, 0);
	puppet_push_reset(pp);
	r = puppet_push(pp, &fl, sizeof(fl), &addr);
	if (r < 0)
		return r;
	return restore_call(pp, "fcntl(F_SETLK)", NULL, SYS_fcntl, fd,
			    l->kind == 2 ? F_SETLK : F_OFD_SETLK, addr, 0, 0, 0);
}

int restore_fd_lock_run(struct restore_proc *p, struct puppet *pp, FdEntry **fds, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const FdEntry *e = fds[i];

		for (size_t j = 0; j < e->n_locks; j++) {
			const FileLockEntry *l = e->locks[j];
			int r = fd_lock_take(pp, e->fd, l);

			if (r < 0)
				return log_error_errno(r, "pid %d: cannot take the %s %s on %s (fd %u) "
						       "again (held by someone else now?): %s",
						       p->pid, l->write ? "exclusive" : "shared",
						       fd_lock_names[l->kind < 4 ? l->kind : 0],
						       e->path, e->fd, strerror(-r));
			log_debug("pid %d: fd %u: %s taken again", p->pid, e->fd,
				  fd_lock_names[l->kind < 4 ? l->kind : 0]);
		}
	}
	return 0;
}
