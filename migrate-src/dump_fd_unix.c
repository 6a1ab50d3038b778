/*
 * dump_fd_unix: unix sockets (stream, datagram, seqpacket) of the dumped process.
 *
 * What a socket is comes from the kernel's UNIX_DIAG (peer inode, pending connections,
 * shutdown state, the bound file) and from a copy of the fd (pidfd_getfd): names, options and
 * the unread data. The data is peeked, never consumed: SO_PEEK_OFF steps a MSG_PEEK through
 * the queue, one datagram or record at a time for SOCK_DGRAM and SOCK_SEQPACKET, so the
 * process keeps its data whether the dump succeeds, fails or leaves it running. The peek
 * offset is the socket's own setting: it is put back as it was, and the queue is only walked
 * while the process is frozen (a ptrace stop: it cannot peek meanwhile). Before the freeze a
 * single peek looks for file descriptors in flight at the head of the queue (none when the
 * process set a peek offset of its own, which that peek would move).
 *
 * Files in flight (SCM_RIGHTS) are described with their message (dump_fd_unix_scm.h); those
 * of a kind not carried are refused by name, as are connections waiting in a
 * listener's queue, names relative to a directory, and a peer outside the process without
 * --ext-unix-sk (dump_fd_unix_check, once every fd is known: peers are matched by inode).
 * In a tree dump the peers are looked for in every member (dump_fd_unix_check_tree): a pair
 * whose ends live in different members, or one end shared by several (fork), is restored as
 * one pair whose ends go wherever they were; a peer outside the tree is refused by name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "compat.h"
#include "dump_fd_unix.h"
#include "dump_fd_unix_scm.h"
#include "dump_internal.h"
#include "err.h"
#include "sockdiag_unix.h"

/* What one socket may carry in the image (the files record is at most IMAGE_MAX_RECORD). */
#define UNIX_QUEUE_MAX (16u << 20)
#define UNIX_MESSAGES_MAX 65536u
#define UNIX_STREAM_CHUNK (64u << 10)
#define UNIX_CMSG_SIZE 4096

static bool unix_external_enabled;

void dump_fd_unix_set_external(bool enabled)
{
	unix_external_enabled = enabled;
}

static const char *unix_type_name(uint32_t type)
{
	switch (type) {
	case SOCK_STREAM:
		return "stream";
	case SOCK_DGRAM:
		return "datagram";
	case SOCK_SEQPACKET:
		return "seqpacket";
	default:
		return "unknown-type";
	}
}

/* Whether every thread of pid is in a ptrace stop: only then is its queue walked. */
static bool unix_frozen(pid_t pid)
{
	struct proc_stat st;

	return proc_read_stat(pid, &st) == 0 && st.state == 't';
}

/* A sun_path as the image keeps it: a path without its trailing NULs, an abstract name whole. */
static int unix_name_set(const struct sockaddr_un *sa, socklen_t len, ProtobufCBinaryData *ret,
			 protobuf_c_boolean *has)
{
	size_t n = len > offsetof(struct sockaddr_un, sun_path)
			   ? len - offsetof(struct sockaddr_un, sun_path)
			   : 0;

	if (n > sizeof(sa->sun_path))
		n = sizeof(sa->sun_path);
	if (n && sa->sun_path[0] != '\0')
		n = strnlen(sa->sun_path, n);
	if (!n)
		return 0;
	ret->data = malloc(n);
	if (!ret->data)
		return -ENOMEM;
	memcpy(ret->data, sa->sun_path, n);
	ret->len = n;
	*has = true;
	return 0;
}

static int unix_names(int sk, UnixSocketEntry *u)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int r;

	memset(&sa, 0, sizeof(sa));
	if (getsockname(sk, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	r = unix_name_set(&sa, len, &u->name, &u->has_name);
	if (r < 0)
		return r;
	len = sizeof(sa);
	memset(&sa, 0, sizeof(sa));
	if (getpeername(sk, (struct sockaddr *)&sa, &len) < 0)
		return errno == ENOTCONN ? 0 : -errno;
	return unix_name_set(&sa, len, &u->peer_name, &u->has_peer_name);
}

static int unix_options(int sk, UnixSocketEntry *u)
{
	int on = 0, snd = 0, rcv = 0, peek = -1;
	socklen_t len = sizeof(int);

	if (getsockopt(sk, SOL_SOCKET, SO_PASSCRED, &on, &len) < 0 ||
	    getsockopt(sk, SOL_SOCKET, SO_SNDBUF, &snd, &len) < 0 ||
	    getsockopt(sk, SOL_SOCKET, SO_RCVBUF, &rcv, &len) < 0)
		return -errno;
	if (getsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &peek, &len) == 0 && peek >= 0) {
		u->has_peek_off = true;
		u->peek_off = peek;
	}
	u->has_passcred = u->has_sndbuf = u->has_rcvbuf = true;
	u->passcred = on != 0;
	u->sndbuf = (uint32_t)snd;
	u->rcvbuf = (uint32_t)rcv;
	return 0;
}

/* Whose queue is peeked (for messages) and the files in flight the last peek found. */
struct unix_peek {
	pid_t pid;
	uint32_t fd;
	UnixPassedFile **files;
	size_t n_files;
};

/* A message; the files of the last peek (pk) go with it (pk->files then NULL). */
static int unix_queue_add(UnixSocketEntry *u, struct unix_peek *pk, const void *data, size_t len,
			  const struct sockaddr_un *from, socklen_t from_len)
{
	UnixMessageEntry **q, *m;
	int r;

	if (u->n_queue >= UNIX_MESSAGES_MAX)
		return -E2BIG;
	q = realloc(u->queue, (u->n_queue + 1) * sizeof(*q));
	if (!q)
		return -ENOMEM;
	u->queue = q;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	unix_message_entry__init(m);
	m->data.data = malloc(len ? len : 1);
	if (!m->data.data) {
		free(m);
		return -ENOMEM;
	}
	memcpy(m->data.data, data, len);
	m->data.len = len;
	m->files = pk->files;
	m->n_files = pk->n_files;
	pk->files = NULL;
	pk->n_files = 0;
	u->queue[u->n_queue++] = m;
	r = 0;
	if (from && u->type == SOCK_DGRAM) {
		r = unix_name_set(from, from_len, &m->sender, &m->has_sender);
		if (r == 0 && !m->has_sender) {
			m->has_sender = true; /* an unnamed sender: present and empty */
			m->sender.data = NULL;
			m->sender.len = 0;
		}
	}
	return r;
}

/*
 * One MSG_PEEK at the peek offset into buf (len bytes): the byte count, 0 at the end of the
 * queue (nothing left, or an end of stream). The files in flight with it are described into
 * pk->files (our copies closed); -EMLINK (detail in err_detail()) when one is refused.
 */
static ssize_t unix_peek_one(int sk, struct unix_peek *pk, void *buf, size_t len,
			     struct sockaddr_un *from, socklen_t *from_len)
{
	union {
		char buf[UNIX_CMSG_SIZE];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_name = from,
		.msg_namelen = from ? sizeof(*from) : 0,
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	ssize_t n = recvmsg(sk, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	int r;

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	dump_fd_unix_scm_free(pk->files, pk->n_files);
	pk->files = NULL;
	pk->n_files = 0;
	r = dump_fd_unix_scm_take(pk->pid, pk->fd, &mh, &pk->files, &pk->n_files);
	if (r < 0)
		return r == -ENOTSUP ? -EMLINK : r;
	if (from_len)
		*from_len = mh.msg_namelen;
	return n;
}

/* Every datagram or record at and after the peek offset, whole, with its sender. */
static int unix_peek_records(int sk, struct unix_peek *pk, UnixSocketEntry *u, size_t *total)
{
	for (unsigned int i = 0; i < UNIX_MESSAGES_MAX; i++) {
		struct sockaddr_un from;
		socklen_t from_len = 0;
		ssize_t len = recv(sk, NULL, 0, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC), n;
		void *buf;
		int r;

		if (len < 0)
			return errno == EAGAIN ? 0 : -errno;
		if ((size_t)len > UNIX_QUEUE_MAX - *total)
			return -E2BIG;
		buf = malloc(len ? (size_t)len : 1);
		if (!buf)
			return -ENOMEM;
		memset(&from, 0, sizeof(from));
		n = unix_peek_one(sk, pk, buf, (size_t)len, &from, &from_len);
		/* Shut for reading, an empty queue peeks as an empty message from nobody; else
		 * that is a zero-length datagram (the kernel steps past it). */
		if (n == 0 && from_len == 0 && (u->shutdown & SOCKDIAG_UNIX_RCV_SHUTDOWN)) {
			free(buf);
			return 0;
		}
		r = n < 0 ? (int)n : unix_queue_add(u, pk, buf, (size_t)n, &from, from_len);
		free(buf);
		if (r < 0)
			return r;
		*total += (size_t)n;
	}
	return -E2BIG;
}

static int unix_refuse_big_scm(const struct unix_peek *pk)
{
	err_setf(-ENOTSUP,
		 "fd %u of pid %d: unix stream socket with file descriptors in flight in a write "
		 "of %u KiB or more: not supported, let the receiver read it before the dump",
		 pk->fd, pk->pid, UNIX_STREAM_CHUNK >> 10);
	return -EMLINK;
}

/* The bytes of a stream at and after the peek offset, in chunks (a chunk ends with the write
 * that carried files in flight: the kernel does not peek past it). */
static int unix_peek_stream(int sk, struct unix_peek *pk, UnixSocketEntry *u, size_t *total)
{
	uint8_t *buf = malloc(UNIX_STREAM_CHUNK);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	while (r == 0) {
		ssize_t n = unix_peek_one(sk, pk, buf, UNIX_STREAM_CHUNK, NULL, NULL);

		if (n <= 0) {
			r = (int)n;
			break;
		}
		if ((size_t)n > UNIX_QUEUE_MAX - *total)
			r = -E2BIG;
		else if (pk->n_files && n == UNIX_STREAM_CHUNK)
			r = unix_refuse_big_scm(pk); /* the next peek would see its files again */
		else
			r = unix_queue_add(u, pk, buf, (size_t)n, NULL, 0);
		*total += (size_t)n;
	}
	free(buf);
	return r;
}

/* The whole queue, peeked from offset 0; the socket's own peek offset is put back after. */
static int unix_peek_queue(int sk, struct unix_peek *pk, UnixSocketEntry *u)
{
	int old = -1, zero = 0, r;
	socklen_t len = sizeof(old);
	size_t total = 0;

	if (getsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &old, &len) < 0)
		return -errno;
	if (setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0)
		return -errno;
	if (u->type == SOCK_STREAM)
		r = unix_peek_stream(sk, pk, u, &total);
	else
		r = unix_peek_records(sk, pk, u, &total);
	if (setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &old, sizeof(old)) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Before the freeze: only the head of the queue, for file descriptors in flight of a kind
 * refused. A peek moves a peek offset the process set (SO_PEEK_OFF): then nothing is peeked
 * before the freeze. */
static int unix_peek_head(int sk, struct unix_peek *pk)
{
	int off = -1;
	socklen_t len = sizeof(off);
	uint8_t *buf;
	ssize_t n;

	if (getsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &off, &len) < 0 || off >= 0)
		return 0;
	buf = malloc(UNIX_STREAM_CHUNK);
	if (!buf)
		return -ENOMEM;
	n = unix_peek_one(sk, pk, buf, UNIX_STREAM_CHUNK, NULL, NULL);
	free(buf);
	return n < 0 ? (int)n : 0;
}

/* The socket file of a name bound to a path: inode and device from the kernel (the file
 * bound, even if renamed since), mode and owner from the path when it is still that file. */
static void unix_file(pid_t pid, const struct sockdiag_unix *d, UnixSocketEntry *u)
{
	char path[PATH_MAX + 64];
	struct stat st;

	if (!d->has_vfs || !u->has_name || u->name.data[0] == '\0')
		return;
	u->has_file_ino = u->has_file_dev = true;
	u->file_ino = d->vfs_ino;
	/* The kernel's dev_t: major in the top 12 bits, minor in the low 20. */
	u->file_dev = makedev(d->vfs_dev >> 20, d->vfs_dev & 0xfffff);
	snprintf(path, sizeof(path), "/proc/%d/root%.*s", pid, (int)u->name.len, u->name.data);
	if (stat(path, &st) < 0 || st.st_ino != u->file_ino || !S_ISSOCK(st.st_mode))
		return;
	u->has_file_mode = u->has_file_uid = u->has_file_gid = true;
	u->file_mode = st.st_mode & 07777;
	u->file_uid = st.st_uid;
	u->file_gid = st.st_gid;
}

/* What UNIX_DIAG says of the socket, asked in the network namespace of pid. */
static int unix_diag(pid_t pid, uint64_t inode, struct sockdiag_unix *ret)
{
	char ns[64];
	int nsfd, nl, r;

	snprintf(ns, sizeof(ns), "/proc/%d/ns/net", pid);
	nsfd = open(ns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return -errno;
	r = sockdiag_unix_open(nsfd, &nl);
	close(nsfd);
	if (r < 0)
		return r;
	r = sockdiag_unix_get(nl, inode, ret);
	close(nl);
	return r;
}

static int unix_refuse_listener(pid_t pid, const FdEntry *e, const struct sockdiag_unix *d)
{
	char name[SOCKDIAG_UNIX_NAME_MAX + 16];
	size_t pending = d->n_icons ? d->n_icons : d->rqueue;

	sockdiag_unix_format_name(d->name, d->name_len, name, sizeof(name));
	return err_setf(-ENOTSUP,
			"fd %u of pid %d: listening unix socket %s has %zu connection(s) not yet "
			"accepted: accept them (or let the client give up) before the dump",
			e->fd, pid, name, pending);
}

/* State from the kernel's answer and from the copy sk of the fd. */
static int unix_fill_state(pid_t pid, const FdEntry *e, int sk, const struct sockdiag_unix *d,
			   UnixSocketEntry *u)
{
	int r;

	if (d->state != 1 && d->state != 7 && d->state != 10)
		return err_setf(-ENOTSUP,
				"fd %u of pid %d: unix socket in the middle of a connect() (state "
				"%u): not supported, retry when it is connected",
				e->fd, pid, d->state);
	u->state = d->state;
	if (d->peer_inode) {
		u->has_peer_inode = true;
		u->peer_inode = d->peer_inode;
	}
	if (d->shutdown) {
		u->has_shutdown = true;
		u->shutdown = d->shutdown;
	}
	if (d->state == 10) {
		if (d->n_icons || (d->has_rqlen && d->rqueue))
			return unix_refuse_listener(pid, e, d);
		u->has_backlog = true;
		u->backlog = d->wqueue;
	}
	r = unix_names(sk, u);
	if (r == 0)
		r = unix_options(sk, u);
	if (r < 0)
		return err_setf(r,
				"fd %u of pid %d (a unix socket): cannot read its address or "
				"options: %s",
				e->fd, pid, strerror(-r));
	if (u->has_name && u->name.data[0] != '\0' && u->name.data[0] != '/')
		return err_setf(-ENOTSUP,
				"fd %u of pid %d: unix socket bound to the relative path %.*s: "
				"only absolute paths and abstract names are supported",
				e->fd, pid, (int)u->name.len, u->name.data);
	unix_file(pid, d, u);
	return 0;
}

static int unix_fill_queue(pid_t pid, const FdEntry *e, int sk, UnixSocketEntry *u)
{
	struct unix_peek pk = { .pid = pid, .fd = e->fd };
	int r;

	if (u->state == 10)
		return 0;
	r = unix_frozen(pid) ? unix_peek_queue(sk, &pk, u) : unix_peek_head(sk, &pk);
	dump_fd_unix_scm_free(pk.files, pk.n_files);
	if (r == -EMLINK)
		return -ENOTSUP; /* refused by name in err_detail() */
	if (r == -E2BIG)
		return err_setf(-ENOTSUP,
				"fd %u of pid %d: unix socket with more than %u MiB or %u messages "
				"unread: too much for an image",
				e->fd, pid, UNIX_QUEUE_MAX >> 20, UNIX_MESSAGES_MAX);
	if (r < 0)
		return err_setf(r,
				"fd %u of pid %d (a unix socket): cannot read its unread data: "
				"%s",
				e->fd, pid, strerror(-r));
	return 0;
}

int dump_fd_unix_fill(pid_t pid, FdEntry *e)
{
	struct sockdiag_unix d = { 0 };
	UnixSocketEntry *u;
	int sk = -1, type = 0, r;
	socklen_t len = sizeof(type);

	if (e->kind != FD_KIND__FD_UNIX_SOCKET)
		return 0;
	u = malloc(sizeof(*u));
	if (!u)
		return -ENOMEM;
	unix_socket_entry__init(u);
	e->unix_sk = u; /* freed with e */
	u->inode = e->ino;
	r = dump_files_copy_fd(pid, (int)e->fd, &sk);
	if (r == 0 && getsockopt(sk, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		r = -errno;
	if (r < 0) {
		r = err_setf(r, "fd %u of pid %d (a unix socket): cannot copy it: %s", e->fd, pid,
			     strerror(-r));
		goto out;
	}
	u->type = (uint32_t)type;
	r = unix_diag(pid, e->ino, &d);
	if (r < 0) {
		r = err_setf(r,
			     "fd %u of pid %d (unix socket %llu): the kernel does not describe "
			     "it (UNIX_DIAG): %s",
			     e->fd, pid, (unsigned long long)e->ino, err_detail());
		goto out;
	}
	r = unix_fill_state(pid, e, sk, &d, u);
	if (r == 0)
		r = unix_fill_queue(pid, e, sk, u);
out:
	sockdiag_unix_fini(&d);
	if (sk >= 0)
		close(sk);
	return r;
}

static void unix_read_comm(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	if (fgets(buf, (int)size, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

static const UnixSocketEntry *unix_find(FdEntry **fds, size_t count, uint64_t inode)
{
	for (size_t i = 0; i < count; i++)
		if (fds[i]->kind == FD_KIND__FD_UNIX_SOCKET && fds[i]->unix_sk &&
		    fds[i]->unix_sk->inode == inode)
			return fds[i]->unix_sk;
	return NULL;
}

/* Some process holding socket inode (searched in /proc, for messages only): its pid and
 * comm into buf, "" when none is found. */
static void unix_peer_holder(uint64_t inode, char *buf, size_t size)
{
	char want[64], path[PATH_MAX], link[64], comm[32] = "?";
	DIR *procs = opendir("/proc");
	struct dirent *d;

	buf[0] = '\0';
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)inode);
	while (procs && !buf[0] && (d = readdir(procs))) {
		DIR *fds;
		struct dirent *f;

		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", d->d_name);
		fds = opendir(path);
		while (fds && !buf[0] && (f = readdir(fds))) {
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/%s/fd/%s", d->d_name, f->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0 || (size_t)n != strlen(want) || memcmp(link, want, (size_t)n))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/comm", d->d_name);
			unix_read_comm(path, comm, sizeof(comm));
			snprintf(buf, size, " held by pid %.16s (%.20s)", d->d_name, comm);
		}
		if (fds)
			closedir(fds);
	}
	if (procs)
		closedir(procs);
}

static void unix_peer_text(const UnixSocketEntry *u, char *buf, size_t size)
{
	char holder[96];

	if (u->has_peer_name) {
		char name[SOCKDIAG_UNIX_NAME_MAX + 16];

		sockdiag_unix_format_name(u->peer_name.data, u->peer_name.len, name, sizeof(name));
		snprintf(buf, size, "%s", name);
	} else {
		unix_peer_holder(u->peer_inode, holder, sizeof(holder));
		snprintf(buf, size, "an unnamed socket (inode %llu)%s",
			 (unsigned long long)u->peer_inode, holder);
	}
}

/* Where the peers of the sockets being checked are looked for: the fds of one process, or
 * every member of a tree (tree != NULL). */
struct unix_scope {
	FdEntry **fds;
	size_t count;
	const struct dump_tree *tree;
};

static const UnixSocketEntry *unix_scope_find(const struct unix_scope *sc, uint64_t inode)
{
	const UnixSocketEntry *u = NULL;

	if (!sc->tree)
		return unix_find(sc->fds, sc->count, inode);
	for (size_t i = 0; !u && i < sc->tree->count; i++)
		u = unix_find(sc->tree->procs[i].fds, sc->tree->procs[i].nr_fds, inode);
	return u;
}

/* "the dumped process" or "the dumped tree of pid N", for messages. */
static void unix_scope_text(const struct unix_scope *sc, char *buf, size_t size)
{
	if (sc->tree)
		snprintf(buf, size, "the dumped tree of pid %d", sc->tree->procs[0].pid);
	else
		snprintf(buf, size, "the dumped process");
}

/* A peer outside the process (or tree): connected again at restore with --ext-unix-sk, by its
 * name. */
static int unix_check_external(pid_t pid, const FdEntry *e, UnixSocketEntry *u,
			       const struct unix_scope *sc)
{
	char peer[SOCKDIAG_UNIX_NAME_MAX + 160], scope[64];

	unix_peer_text(u, peer, sizeof(peer));
	unix_scope_text(sc, scope, sizeof(scope));
	if (!u->has_peer_name)
		return err_setf(-ENOTSUP,
				"fd %u of pid %d: unix %s socket connected to %s, outside %s: a "
				"socket shared with a process outside it cannot be dumped, and "
				"without a name it cannot be reconnected: dump the tree that holds "
				"both ends",
				e->fd, pid, unix_type_name(u->type), peer, scope);
	if (!unix_external_enabled)
		return err_setf(-ENOTSUP,
				"fd %u of pid %d: unix %s socket connected to %s, a peer outside "
				"%s: use --ext-unix-sk to reconnect it at restore",
				e->fd, pid, unix_type_name(u->type), peer, scope);
	if (u->n_queue)
		return err_setf(-ENOTSUP,
				"fd %u of pid %d: unix %s socket connected to %s outside %s has "
				"unread data from it: a reconnection would lose it",
				e->fd, pid, unix_type_name(u->type), peer, scope);
	u->has_external = u->external = true;
	return 0;
}

/* Unread datagrams are written again at restore: by the other end of a pair, else sent to
 * this socket's name. */
static int unix_check_queue(pid_t pid, const FdEntry *e, const UnixSocketEntry *u, bool pair)
{
	if (!u->n_queue || u->type != SOCK_DGRAM || pair || u->has_name)
		return 0;
	return err_setf(-ENOTSUP,
			"fd %u of pid %d: unnamed unix datagram socket with unread datagrams that "
			"did not come from a socket of the process: they cannot be sent to it "
			"again",
			e->fd, pid);
}

/* The checks of unix socket fd e of pid, its peer looked for in sc. */
static int unix_check_one(pid_t pid, FdEntry *e, const struct unix_scope *sc)
{
	UnixSocketEntry *u = e->unix_sk;
	const UnixSocketEntry *peer;
	bool pair = false;
	int r = 0;

	if (e->kind != FD_KIND__FD_UNIX_SOCKET || !u)
		return 0;
	peer = u->has_peer_inode ? unix_scope_find(sc, u->peer_inode) : NULL;
	if (u->has_peer_inode && !peer)
		r = unix_check_external(pid, e, u, sc);
	else if (peer)
		pair = peer->has_peer_inode && peer->peer_inode == u->inode;
	if (r == 0 && peer && !pair && !peer->has_name)
		r = err_setf(-ENOTSUP,
			     "fd %u of pid %d: unix datagram socket connected to an unnamed socket "
			     "that is connected elsewhere: not supported",
			     e->fd, pid);
	if (r == 0)
		r = unix_check_queue(pid, e, u, pair);
	return r;
}

/* A tree dump checks the sockets of all its members together (dump_fd_unix_check_tree). */
static bool unix_tree_mode;

void dump_fd_unix_set_tree(bool tree)
{
	unix_tree_mode = tree;
}

int dump_fd_unix_check(pid_t pid, FdEntry **fds, size_t count)
{
	struct unix_scope sc = { .fds = fds, .count = count };

	if (unix_tree_mode)
		return 0;
	for (size_t i = 0; i < count; i++) {
		int r = unix_check_one(pid, fds[i], &sc);

		if (r < 0)
			return r;
	}
	return 0;
}

/* Whether a member of tree before proc (index i) holds socket inode. */
static bool unix_held_before(const struct dump_tree *tree, size_t i, uint64_t inode)
{
	for (size_t j = 0; j < i; j++)
		if (unix_find(tree->procs[j].fds, tree->procs[j].nr_fds, inode))
			return true;
	return false;
}

/* A socket held by several members was peeked through each: its unread data stays on the
 * first holder's fd only (the restore makes each socket once, from the first holder's record),
 * so that the image carries it once. */
static void unix_tree_data_once(const struct dump_tree *tree)
{
	for (size_t i = 1; i < tree->count; i++) {
		const struct dump_proc *proc = &tree->procs[i];

		for (size_t k = 0; k < proc->nr_fds; k++) {
			UnixSocketEntry *u = proc->fds[k]->unix_sk;

			if (proc->fds[k]->kind != FD_KIND__FD_UNIX_SOCKET || !u || !u->n_queue ||
			    !unix_held_before(tree, i, u->inode))
				continue;
			for (size_t m = 0; m < u->n_queue; m++)
				protobuf_c_message_free_unpacked(&u->queue[m]->base, NULL);
			free(u->queue);
			u->queue = NULL;
			u->n_queue = 0;
		}
	}
}

int dump_fd_unix_check_tree(const struct dump_tree *tree)
{
	struct unix_scope sc = { .tree = tree };

	for (size_t i = 0; i < tree->count; i++) {
		const struct dump_proc *proc = &tree->procs[i];

		for (size_t k = 0; k < proc->nr_fds; k++) {
			int r = unix_check_one(proc->pid, proc->fds[k], &sc);

			if (r < 0)
				return r;
		}
	}
	unix_tree_data_once(tree);
	return 0;
}
