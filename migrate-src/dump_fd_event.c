/*
 * dump_fd_event: the state of eventfds, signalfds and timerfds, read from /proc/PID/fdinfo
 * (parsed by common/proc_fdinfo_event.c).
 *
 * All of it can be re-created by the restore from these numbers alone (no source host
 * needed), so the fds also travel by live migration.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump_internal.h"
#include "err.h"
#include "proc_fdinfo.h"

/* The registered fd must still be the file that was registered, and not an epoll itself
 * (whose own registrations would have to be restored first). */
static int fd_event_epoll_tfd(pid_t pid, const FdEntry *e, const struct proc_epoll_tfd *t)
{
	char path[64], link[64];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%u", pid, t->tfd);
	if (stat(path, &st) < 0 || st.st_ino != t->ino)
		return err_setf(-ENOTSUP,
				"fd %u is an epoll instance (%s): it watches a file "
				"no longer open at fd %u: not supported",
				e->fd, e->path, t->tfd);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	if (strcmp(link, "anon_inode:[eventpoll]") == 0)
		return err_setf(-ENOTSUP,
				"fd %u is an epoll instance (%s): it watches the epoll "
				"instance at fd %u: epoll in epoll is not supported",
				e->fd, e->path, t->tfd);
	return 0;
}

static int fd_event_epoll(pid_t pid, FdEntry *e, const char *text)
{
	struct proc_epoll_tfd *t;
	size_t n;
	int r = proc_fdinfo_epoll(text, &t, &n);

	if (r < 0)
		return r;
	e->epoll = calloc(n ? n : 1, sizeof(*e->epoll));
	if (!e->epoll) {
		free(t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		r = fd_event_epoll_tfd(pid, e, &t[i]);
		if (r < 0)
			break;
		e->epoll[i] = malloc(sizeof(**e->epoll));
		if (!e->epoll[i]) {
			r = -ENOMEM;
			break;
		}
		epoll_tfd_entry__init(e->epoll[i]);
		e->epoll[i]->tfd = t[i].tfd;
		e->epoll[i]->events = t[i].events;
		e->epoll[i]->data = t[i].data;
		e->n_epoll++;
	}
	free(t);
	return r;
}

/* A directory of pid's mount of the filesystem sdev (kernel encoding), opened, or -errno. */
static int fd_event_mount_of(pid_t pid, uint32_t sdev)
{
	unsigned int ma, mi;
	char *text, *l, mnt[4096];
	size_t len;
	int fd = -ENOENT, r = proc_read_file(pid, "mountinfo", &text, &len);

	if (r < 0)
		return r;
	for (l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (sscanf(l, "%*u %*u %u:%u %*s %4095s", &ma, &mi, mnt) != 3 || ma != sdev >> 20 ||
		    mi != (sdev & 0xfffff))
			continue;
		fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			break;
		fd = -errno;
	}
	free(text);
	return fd;
}

/* The path of the watched inode, from the file handle the kernel gave (needs
 * CAP_DAC_READ_SEARCH), checked to be the same inode. */
static int fd_event_inotify_path(pid_t pid, const struct proc_inotify_wd *w, char **ret)
{
	struct {
		struct file_handle fh;
		unsigned char bytes[128];
	} h;
	char self[64], path[PATH_MAX];
	struct stat st;
	int mfd, fd;
	ssize_t n;

	if (!w->handle_bytes)
		return -ENOENT;
	mfd = fd_event_mount_of(pid, w->sdev);
	if (mfd < 0)
		return mfd;
	h.fh.handle_bytes = w->handle_bytes;
	h.fh.handle_type = w->handle_type;
	memcpy(h.fh.f_handle, w->handle, w->handle_bytes);
	fd = open_by_handle_at(mfd, &h.fh, O_PATH | O_CLOEXEC);
	close(mfd);
	if (fd < 0)
		return -errno;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	n = readlink(self, path, sizeof(path) - 1);
	close(fd);
	if (n <= 0 || path[0] != '/')
		return -ENOENT;
	path[n] = '\0';
	if (stat(path, &st) < 0 || st.st_ino != w->ino)
		return -ENOENT;
	*ret = strdup(path);
	return *ret ? 0 : -ENOMEM;
}

static int fd_event_inotify_cmp(const void *a, const void *b)
{
	return ((const struct proc_inotify_wd *)a)->wd - ((const struct proc_inotify_wd *)b)->wd;
}

static int fd_event_inotify_one(pid_t pid, FdEntry *e, const struct proc_inotify_wd *w, size_t i)
{
	InotifyWdEntry *we;
	char *path;
	int r;

	/* The restore gets wds 1, 2, ... in the order it adds them. */
	if (w->wd != (int32_t)i + 1)
		return err_setf(-ENOTSUP,
				"fd %u is an inotify instance (%s): watch %d was added "
				"after one was removed: not supported",
				e->fd, e->path, w->wd);
	r = fd_event_inotify_path(pid, w, &path);
	if (r < 0)
		return err_setf(-ENOTSUP,
				"fd %u is an inotify instance (%s): the path of watch %d "
				"(inode %llu) cannot be found: %s",
				e->fd, e->path, w->wd, (unsigned long long)w->ino, strerror(-r));
	we = malloc(sizeof(*we));
	if (!we) {
		free(path);
		return -ENOMEM;
	}
	inotify_wd_entry__init(we);
	we->wd = (uint32_t)w->wd;
	we->path = path;
	we->mask = w->mask;
	e->inotify[e->n_inotify++] = we;
	return 0;
}

static int fd_event_inotify(pid_t pid, FdEntry *e, const char *text)
{
	struct proc_inotify_wd *w;
	size_t n;
	int r = proc_fdinfo_inotify(text, &w, &n);

	if (r < 0)
		return r;
	e->inotify = calloc(n ? n : 1, sizeof(*e->inotify));
	if (!e->inotify) {
		free(w);
		return -ENOMEM;
	}
	if (n)
		qsort(w, n, sizeof(*w), fd_event_inotify_cmp);
	for (size_t i = 0; i < n && r == 0; i++)
		r = fd_event_inotify_one(pid, e, &w[i], i);
	free(w);
	return r;
}

static int fd_event_parse(pid_t pid, FdEntry *e, const char *text)
{
	struct proc_eventfd efd;
	struct proc_timerfd tfd;
	int r;

	if (e->kind == FD_KIND__FD_EVENTFD) {
		r = proc_fdinfo_eventfd(text, &efd);
		if (r < 0)
			return r;
		e->has_efd_count = e->has_efd_semaphore = true;
		e->efd_count = efd.count;
		e->efd_semaphore = efd.semaphore;
		return 0;
	}
	if (e->kind == FD_KIND__FD_EPOLL)
		return fd_event_epoll(pid, e, text);
	if (e->kind == FD_KIND__FD_INOTIFY)
		return fd_event_inotify(pid, e, text);
	if (e->kind == FD_KIND__FD_SIGNALFD) {
		r = proc_fdinfo_signalfd(text, &e->sigmask);
		e->has_sigmask = r == 0;
		return r;
	}
	r = proc_fdinfo_timerfd(text, &tfd);
	if (r < 0)
		return r;
	e->has_tfd_clockid = e->has_tfd_ticks = e->has_tfd_value_ns = true;
	e->has_tfd_interval_ns = true;
	e->tfd_clockid = tfd.clockid;
	e->tfd_ticks = tfd.ticks;
	e->tfd_value_ns = tfd.value_ns;
	e->tfd_interval_ns = tfd.interval_ns;
	return 0;
}

int dump_fd_event_fill(pid_t pid, FdEntry *e)
{
	char name[64], *text;
	size_t len;
	int r;

	if (e->kind != FD_KIND__FD_EVENTFD && e->kind != FD_KIND__FD_SIGNALFD &&
	    e->kind != FD_KIND__FD_TIMERFD && e->kind != FD_KIND__FD_EPOLL &&
	    e->kind != FD_KIND__FD_INOTIFY)
		return 0;
	snprintf(name, sizeof(name), "fdinfo/%u", e->fd);
	r = proc_read_file(pid, name, &text, &len);
	if (r < 0)
		return r;
	r = fd_event_parse(pid, e, text);
	free(text);
	if (r == -ENOTSUP)
		return r; /* refused by name already */
	if (r < 0)
		return err_setf(r, "fd %u of pid %d (%s): %s", e->fd, pid, e->path, err_detail());
	return 0;
}
