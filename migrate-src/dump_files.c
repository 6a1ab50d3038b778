/*
 * dump_files: the fd table of a process.
 *
 * Every fd is matched against a table of kinds, first match wins, so a new
 * kind (pipes, ...) is one row here plus its collector. TCP and UDP sockets
 * are told apart by asking a copy of the fd (pidfd_getfd) for its family, type
 * and protocol; their state is read in the freeze window by dump_net.c. Unsupported
 * kinds are refused by name before the process is touched, and again while it
 * is frozen because the table may have changed in between.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "compat.h"
#include "dump_internal.h"
#include "err.h"
#include "log.h"

/* Open flags that describe how the file was opened and that open() can redo;
 * O_CREAT/O_TRUNC/O_EXCL only acted at open time, O_CLOEXEC goes apart. */
#define DUMP_FD_KEPT_FLAGS                                                                   \
	(O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | O_LARGEFILE | O_PATH)

struct dump_fd_kind {
	const char *name; /* "a pipe": what the user is told the fd is */
	bool (*match)(const struct dump_fd_probe *p);
	int kind; /* FdKind when supported, -1 when refused */
	bool needs_shell_job;
	const char *why; /* the refusal, after "fd N is NAME (LINK): " */
};

static bool dump_files_starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool dump_files_ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool match_anon(const struct dump_fd_probe *p, const char *what)
{
	char name[64];

	snprintf(name, sizeof(name), "anon_inode:%s", what);
	return strcmp(p->link, name) == 0;
}

static bool match_eventfd(const struct dump_fd_probe *p)
{
	return match_anon(p, "[eventfd]");
}

static bool match_epoll(const struct dump_fd_probe *p)
{
	return match_anon(p, "[eventpoll]");
}

static bool match_signalfd(const struct dump_fd_probe *p)
{
	return match_anon(p, "[signalfd]");
}

static bool match_timerfd(const struct dump_fd_probe *p)
{
	return match_anon(p, "[timerfd]");
}

static bool match_inotify(const struct dump_fd_probe *p)
{
	return match_anon(p, "inotify");
}

static bool match_fanotify(const struct dump_fd_probe *p)
{
	return match_anon(p, "[fanotify]");
}

static bool match_userfaultfd(const struct dump_fd_probe *p)
{
	return match_anon(p, "[userfaultfd]");
}

static bool match_io_uring(const struct dump_fd_probe *p)
{
	return match_anon(p, "[io_uring]");
}

static bool match_bpf(const struct dump_fd_probe *p)
{
	return dump_files_starts(p->link, "anon_inode:bpf") ||
	       dump_files_starts(p->link, "anon_inode:[bpf") ||
	       dump_files_starts(p->link, "bpf:");
}

static bool match_pidfd(const struct dump_fd_probe *p)
{
	return match_anon(p, "[pidfd]") || dump_files_starts(p->link, "pidfd:");
}

static bool match_perf_event(const struct dump_fd_probe *p)
{
	return match_anon(p, "[perf_event]");
}

static bool match_anon_other(const struct dump_fd_probe *p)
{
	return dump_files_starts(p->link, "anon_inode:");
}

static bool match_pipe(const struct dump_fd_probe *p)
{
	return S_ISFIFO(p->mode) && dump_files_starts(p->link, "pipe:");
}

static bool match_fifo(const struct dump_fd_probe *p)
{
	return S_ISFIFO(p->mode);
}

/* A FIFO is opened again by its path at restore: one removed from the file system cannot be. */
static bool match_fifo_deleted(const struct dump_fd_probe *p)
{
	return S_ISFIFO(p->mode) && dump_files_ends(p->link, " (deleted)");
}

static bool match_socket(const struct dump_fd_probe *p)
{
	return S_ISSOCK(p->mode);
}

static bool match_inet(const struct dump_fd_probe *p)
{
	return S_ISSOCK(p->mode) && (p->sock_family == AF_INET || p->sock_family == AF_INET6);
}

/* What tcp_repair carries: TCP (stream) and UDP (datagram) over IPv4 or IPv6. */
static bool match_inet_tcp_udp(const struct dump_fd_probe *p)
{
	return match_inet(p) &&
	       ((p->sock_type == SOCK_STREAM && p->sock_protocol == IPPROTO_TCP) ||
		(p->sock_type == SOCK_DGRAM && p->sock_protocol == IPPROTO_UDP));
}

static bool match_unix(const struct dump_fd_probe *p)
{
	return S_ISSOCK(p->mode) && p->sock_family == AF_UNIX;
}

static bool match_netlink(const struct dump_fd_probe *p)
{
	return S_ISSOCK(p->mode) && p->sock_family == AF_NETLINK;
}

static bool match_packet(const struct dump_fd_probe *p)
{
	return S_ISSOCK(p->mode) && p->sock_family == AF_PACKET;
}

/* /dev/null 1:3, zero 1:5, full 1:7, random 1:8, urandom 1:9 */
static bool match_devnull(const struct dump_fd_probe *p)
{
	unsigned int mi = minor(p->rdev);

	return S_ISCHR(p->mode) && major(p->rdev) == 1 &&
	       (mi == 3 || mi == 5 || mi == 7 || mi == 8 || mi == 9);
}

/* pts 136-143, virtual consoles and serial 4:*, /dev/tty 5:0, /dev/console 5:1 */
static bool match_tty(const struct dump_fd_probe *p)
{
	unsigned int ma = major(p->rdev), mi = minor(p->rdev);

	if (!S_ISCHR(p->mode))
		return false;
	return (ma >= 136 && ma <= 143) || ma == 4 || (ma == 5 && (mi == 0 || mi == 1));
}

static bool match_device(const struct dump_fd_probe *p)
{
	return S_ISCHR(p->mode) || S_ISBLK(p->mode);
}

static bool match_memfd(const struct dump_fd_probe *p)
{
	return dump_files_starts(p->link, "/memfd:");
}

static bool match_deleted(const struct dump_fd_probe *p)
{
	return dump_files_ends(p->link, " (deleted)");
}

static bool match_reg(const struct dump_fd_probe *p)
{
	return (S_ISREG(p->mode) || S_ISDIR(p->mode)) && p->link[0] == '/';
}

static bool match_any(const struct dump_fd_probe *p)
{
	return true;
}

static const struct dump_fd_kind dump_fd_kinds[] = {
	{ "an eventfd", match_eventfd, FD_KIND__FD_EVENTFD, false, NULL },
	{ "an epoll instance", match_epoll, FD_KIND__FD_EPOLL, false, NULL },
	{ "a signalfd", match_signalfd, FD_KIND__FD_SIGNALFD, false, NULL },
	{ "a timerfd", match_timerfd, FD_KIND__FD_TIMERFD, false, NULL },
	{ "an inotify instance", match_inotify, FD_KIND__FD_INOTIFY, false, NULL },
	{ "a fanotify instance", match_fanotify, -1, false, "fanotify is not supported yet" },
	{ "a userfaultfd", match_userfaultfd, -1, false, "userfaultfd is not supported yet" },
	{ "an io_uring", match_io_uring, -1, false, "io_uring is not supported yet" },
	{ "a BPF object", match_bpf, -1, false, "BPF objects are not supported yet" },
	{ "a pidfd", match_pidfd, -1, false, "pidfds are not supported yet" },
	{ "a perf_event", match_perf_event, -1, false, "perf events are not supported" },
	{ "an anonymous inode", match_anon_other, -1, false,
	  "anonymous inodes of this kind are not supported yet" },
	{ "a pipe", match_pipe, FD_KIND__FD_PIPE, false, NULL },
	{ "a FIFO", match_fifo_deleted, -1, false,
	  "it was removed from the file system, so it cannot be opened again at restore" },
	{ "a FIFO", match_fifo, FD_KIND__FD_FIFO, false, NULL },
	{ "a TCP or UDP socket", match_inet_tcp_udp, FD_KIND__FD_INET_SOCKET, false, NULL },
	{ "an inet socket of another kind", match_inet, -1, false,
	  "only TCP and UDP sockets are supported (no raw, SCTP, MPTCP, ...)" },
	{ "a unix socket", match_unix, FD_KIND__FD_UNIX_SOCKET, false, NULL },
	{ "a netlink socket", match_netlink, -1, false, "netlink sockets are not supported yet" },
	{ "a packet socket", match_packet, -1, false, "packet sockets are not supported yet" },
	{ "a socket", match_socket, -1, false, "sockets are not supported yet" },
	{ "a memory device", match_devnull, FD_KIND__FD_DEVNULL, false, NULL },
	{ "a pseudo-terminal master", dump_fd_pty_is_master, FD_KIND__FD_PTY_MASTER, false, NULL },
	{ "a pseudo-terminal slave", dump_fd_pty_is_slave, FD_KIND__FD_PTY_SLAVE, false, NULL },
	{ "a terminal", match_tty, FD_KIND__FD_TTY, true,
	  "pass --shell-job to dump a job attached to a terminal" },
	{ "a device", match_device, -1, false,
	  "devices other than null, zero, full, random, urandom and terminals are not supported yet" },
	{ "a memfd", match_memfd, FD_KIND__FD_MEMFD, false, NULL },
	{ "a deleted file", match_deleted, FD_KIND__FD_GHOST, false, NULL },
	{ "a file", match_reg, FD_KIND__FD_REG, false, NULL },
	{ "an unknown kind of file", match_any, -1, false, "it is not supported" },
};

/* "fd N is NAME (LINK): WHY"; a device file refused as such also gets its numbers. */
static int dump_files_refuse(const struct dump_fd_probe *p, const struct dump_fd_kind *k)
{
	if ((S_ISCHR(p->mode) || S_ISBLK(p->mode)) && !k->needs_shell_job)
		return err_setf(-ENOTSUP, "fd %d is %s (%s, %s device %u:%u): %s", p->fd, k->name,
				p->link, S_ISCHR(p->mode) ? "character" : "block",
				major(p->rdev), minor(p->rdev), k->why);
	return err_setf(-ENOTSUP, "fd %d is %s (%s): %s", p->fd, k->name, p->link, k->why);
}

int dump_files_classify(const struct dump_fd_probe *probe, bool shell_job, int *ret_kind)
{
	for (size_t i = 0; i < sizeof(dump_fd_kinds) / sizeof(dump_fd_kinds[0]); i++) {
		const struct dump_fd_kind *k = &dump_fd_kinds[i];

		if (!k->match(probe))
			continue;
		if (k->kind < 0 || (k->needs_shell_job && !shell_job))
			return dump_files_refuse(probe, k);
		*ret_kind = k->kind;
		return 0;
	}
	return err_setf(-ENOTSUP, "fd %d (%s): unknown kind", probe->fd, probe->link);
}

/* readlink of /proc/PID/<name> into a malloc'd string. */
static int dump_files_readlink(pid_t pid, const char *name, char **ret)
{
	char path[64], buf[PATH_MAX + 1];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

static int dump_files_fdinfo(pid_t pid, int fd, struct proc_fdinfo *ret)
{
	char name[64], *text;
	size_t len;
	int r;

	snprintf(name, sizeof(name), "fdinfo/%d", fd);
	r = proc_read_file(pid, name, &text, &len);
	if (r < 0)
		return r;
	r = proc_parse_fdinfo(text, len, ret);
	free(text);
	return r;
}

int dump_files_copy_fd(pid_t pid, int fd, int *ret_fd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), copy;

	if (pidfd < 0)
		return -errno;
	copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	if (copy < 0)
		return -errno;
	*ret_fd = copy;
	return 0;
}

/* Family, type and protocol of socket fd, asked of a copy of it (the same socket). A socket
 * that cannot be asked keeps 0s and is refused as "a socket" by the table. */
static void dump_files_sock_probe(pid_t pid, struct dump_fd_probe *probe)
{
	socklen_t len = sizeof(int);
	int copy;

	if (dump_files_copy_fd(pid, probe->fd, &copy) < 0)
		return;
	if (getsockopt(copy, SOL_SOCKET, SO_DOMAIN, &probe->sock_family, &len) < 0 ||
	    getsockopt(copy, SOL_SOCKET, SO_TYPE, &probe->sock_type, &len) < 0 ||
	    getsockopt(copy, SOL_SOCKET, SO_PROTOCOL, &probe->sock_protocol, &len) < 0)
		log_debug("dump: fd %d of pid %d: cannot ask the socket what it is: %m", probe->fd,
			  pid);
	close(copy);
}

/* Fills one FdEntry; -ENOENT when the fd was closed meanwhile (not an error). */
static int dump_files_one(pid_t pid, int fd, bool shell_job, FdEntry **ret)
{
	struct dump_fd_probe probe = { .fd = fd, .pid = pid };
	struct proc_fdinfo info;
	char name[64], *link = NULL;
	struct stat st;
	FdEntry *e;
	int r, kind;

	snprintf(name, sizeof(name), "fd/%d", fd);
	r = dump_files_readlink(pid, name, &link);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "/proc/%d/fd/%d", pid, fd);
	if (stat(name, &st) < 0) {
		r = -errno;
		goto out;
	}
	probe.mode = st.st_mode;
	probe.rdev = st.st_rdev;
	probe.link = link;
	if (S_ISSOCK(st.st_mode))
		dump_files_sock_probe(pid, &probe);
	r = dump_files_classify(&probe, shell_job, &kind);
	if (r < 0)
		goto out;
	r = dump_files_fdinfo(pid, fd, &info);
	if (r < 0)
		goto out;
	e = malloc(sizeof(*e));
	if (!e) {
		r = -ENOMEM;
		goto out;
	}
	fd_entry__init(e);
	e->fd = fd;
	e->kind = kind;
	e->path = link;
	link = NULL;
	e->flags = info.flags & DUMP_FD_KEPT_FLAGS;
	e->pos = info.pos;
	e->has_cloexec = e->has_mode = e->has_dev = e->has_ino = e->has_size = true;
	e->cloexec = !!(info.flags & O_CLOEXEC);
	e->mode = st.st_mode;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->size = st.st_size;
	r = dump_fd_event_fill(pid, e);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&e->base, NULL);
		goto out;
	}
	r = dump_fd_pipe_fill(pid, e);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&e->base, NULL);
		goto out;
	}
	r = dump_fd_ghost_fill(pid, e);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&e->base, NULL);
		goto out;
	}
	r = dump_fd_lock_fill(pid, e);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&e->base, NULL);
		goto out;
	}
	r = dump_fd_fifo_fill(pid, e);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&e->base, NULL);
		goto out;
	}
	r = dump_fd_unix_fill(pid, e);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&e->base, NULL);
		goto out;
	}
	r = dump_fd_pty_fill(pid, e);
	if (r < 0) {
		protobuf_c_message_free_unpacked(&e->base, NULL);
		goto out;
	}
	*ret = e;
out:
	free(link);
	return r;
}

void dump_files_free(FdEntry **fds, size_t count)
{
	for (size_t i = 0; i < count; i++)
		protobuf_c_message_free_unpacked(&fds[i]->base, NULL);
	free(fds);
}

int dump_files_scan(pid_t pid, bool shell_job, FdEntry ***ret_fds, size_t *ret_count)
{
	FdEntry **fds = NULL;
	size_t n = 0, count;
	int *ids = NULL;
	int r;

	r = proc_list_numeric(pid, "fd", &ids, &count);
	if (r < 0)
		return err_setf(r, "cannot list the fds of pid %d: %s", pid, strerror(-r));
	fds = calloc(count ? count : 1, sizeof(*fds));
	if (!fds) {
		r = err_setf(-ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < count; i++) {
		r = dump_files_one(pid, ids[i], shell_job, &fds[n]);
		if (r == -ENOENT)
			continue; /* closed while we looked: it is no longer part of the process */
		if (r == -ENOTSUP)
			goto fail;
		if (r < 0) {
			r = err_setf(r, "cannot read fd %d of pid %d: %s", ids[i], pid,
				     strerror(-r));
			goto fail;
		}
		n++;
	}
	r = dump_fd_pipe_check(pid, fds, n);
	if (r < 0)
		goto fail;
	r = dump_fd_unix_check(pid, fds, n);
	if (r < 0)
		goto fail;
	r = dump_fd_fifo_check(pid, fds, n);
	if (r < 0)
		goto fail;
	r = dump_fd_pty_check(pid, fds, n);
	if (r < 0)
		goto fail;
	free(ids);
	*ret_fds = fds;
	*ret_count = n;
	return 0;
fail:
	free(ids);
	dump_files_free(fds, n);
	return r;
}
