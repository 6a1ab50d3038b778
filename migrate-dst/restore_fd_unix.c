/*
 * restore_fd_unix: the unix sockets of a process, made here, in the restorer, then handed to
 * the puppet at their fd numbers (puppet_install_fd). The first unix fd of the image makes
 * them all, because they refer to each other (peers by inode); the others are then no-ops:
 *
 *	pairs (both ends held, each the other's peer) → socketpair(); a connection whose peer
 *	is gone → socketpair() whose second end is closed once the data is in
 *	→ other sockets: socket(), bind() to their name, listen()
 *	→ unread data written again through the other end of the pair, or sent to the
 *	  socket's name (datagrams)
 *	→ connect(): a datagram socket to a named socket of the process; with --ext-unix-sk a
 *	  socket to its peer outside, by name (a new connection for that peer)
 *	→ options, shutdown state, the socket file's mode and owner → install every fd
 *
 * A name bound to a path needs the path free: a socket file there is removed only when it is
 * the very file the dumped socket was bound to (same inode and device: the file a killed or
 * migrated process left behind); anything else there refuses the restore. Files we bound
 * are removed again when the restore fails. Nothing needs the source host but an external
 * peer, so unix sockets also travel by live migration.
 *
 * In a tree (p->tree) the set is every socket of every process: the first process that holds
 * one makes them all (a pair's ends may be in two processes, an end in several after a fork),
 * and keeps them until the tree is done (restore_fd_unix.h); each process then installs its
 * own fds from that set, and a description an earlier process holds comes by
 * restore_tree_fd_copy instead, the same socket either way.
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "restore_fd_unix.h"
#include "restore_fd_unix_scm.h"
#include "sockdiag_unix.h"

struct unix_sk {
	const FdEntry *e; /* the first fd of this socket in the image */
	const UnixSocketEntry *u;
	int sk;	      /* ours, -1 until made */
	int other;    /* the second end of a socketpair made for a lost peer, or -1 */
	ssize_t peer; /* index of the peer among the process's sockets, or -1 */
	bool pair;    /* each the other's peer: made by socketpair() */
	bool bound;   /* we created its socket file */
	char what[SOCKDIAG_UNIX_NAME_MAX + 64];
};

struct unix_set {
	struct unix_sk *s;
	size_t n;
	pid_t pid;
};

bool restore_fd_unix_is(const FdEntry *e)
{
	return e->kind == FD_KIND__FD_UNIX_SOCKET;
}

static const char *unix_type_name(uint32_t type)
{
	return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "datagram" : "seqpacket";
}

/* A sockaddr_un for name; its length into *ret_len. */
static void unix_addr(const ProtobufCBinaryData *name, struct sockaddr_un *sa, socklen_t *ret_len)
{
	size_t n = name->len < sizeof(sa->sun_path) ? name->len : sizeof(sa->sun_path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n)
		memcpy(sa->sun_path, name->data,
		       n); /* image_set checked the length: belt and braces */
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

static bool unix_is_path(const UnixSocketEntry *u)
{
	return u->has_name && u->name.len && u->name.data[0] != '\0';
}

static void unix_path(const UnixSocketEntry *u, char *buf, size_t size)
{
	snprintf(buf, size, "%.*s", (int)u->name.len, u->name.data);
}

/* Why what is at a socket's path now is not the file it was bound to (NULL: it is, a stale
 * file a killed or migrated process left behind, which may be removed). Inode numbers are
 * reused, so a new socket file could pass for the old one: the path is the process's, and
 * nobody else should bind there meanwhile. */
static const char *unix_path_taken(const UnixSocketEntry *u, const struct stat *st)
{
	if (!S_ISSOCK(st->st_mode))
		return "the path exists and is not a socket";
	if (!u->has_file_ino || st->st_ino != u->file_ino ||
	    (u->has_file_dev && st->st_dev != u->file_dev))
		return "the path holds another socket file than the one the process had";
	return NULL;
}

int restore_fd_unix_check(const FdEntry *e)
{
	const UnixSocketEntry *u = e->unix_sk;
	char path[SOCKDIAG_UNIX_NAME_MAX + 1];
	const char *why;
	struct stat st;

	if (!u)
		return log_error_errno(-EINVAL, "fd %u is a unix socket without its state", e->fd);
	if (restore_fd_unix_scm_check(u) < 0)
		return log_error_errno(-ESTALE, "fd %u: %s", e->fd, err_detail());
	if (!unix_is_path(u) || u->has_peer_inode || u->state == 1)
		return 0; /* connected ends are not bound again (socketpair) */
	unix_path(u, path, sizeof(path));
	if (lstat(path, &st) < 0)
		return 0;
	why = unix_path_taken(u, &st);
	if (why)
		return log_error_errno(-EEXIST,
				       "fd %u: cannot bind the unix socket to %s: %s: remove it if "
				       "it is stale",
				       e->fd, path, why);
	return 0;
}

/* ---- the set of sockets ---- */

static ssize_t unix_index(const struct unix_set *set, uint64_t inode)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->s[i].u->inode == inode)
			return (ssize_t)i;
	return -1;
}

/* A unix socket fd this process makes: not a copy of a description that an earlier process of
 * the tree made (restore_tree_fd_copy gives it that one). */
static bool unix_mine(const struct restore_proc *p, const FdEntry *e)
{
	return restore_fd_unix_is(e) && !restore_tree_fd_is_copy(p, e);
}

/* Adds the unix sockets of t's fds that the set does not hold yet (by inode); mine: only
 * those p makes itself (a process alone: not copies of an earlier process's description). */
static void unix_set_add(struct unix_set *set, const struct image_task *t,
			 const struct restore_proc *mine)
{
	for (size_t i = 0; i < t->fd_count; i++) {
		const FdEntry *e = t->fds[i];
		struct unix_sk *s = &set->s[set->n];
		char name[SOCKDIAG_UNIX_NAME_MAX + 16];

		if (!restore_fd_unix_is(e) || (mine && !unix_mine(mine, e)) ||
		    unix_index(set, e->unix_sk->inode) >= 0)
			continue;
		s->e = e;
		s->u = e->unix_sk;
		s->sk = s->other = -1;
		sockdiag_unix_format_name(s->u->name.data, s->u->has_name ? s->u->name.len : 0,
					  name, sizeof(name));
		snprintf(s->what, sizeof(s->what), "unix %s socket %s", unix_type_name(s->u->type),
			 name);
		set->n++;
	}
}

/* The sockets of p's image, or in a tree those of every live process of it (pstree order,
 * then image order: a socket's record is its first holder's, which carries its data). */
static int unix_set_build(struct unix_set *set, const struct restore_proc *p)
{
	const struct image_set *is = p->tree ? p->tree->set : NULL;
	size_t room = p->img->fd_count;

	for (size_t i = 0; is && i < is->task_count; i++)
		room += is->tasks[i].fd_count;
	set->s = calloc(room ? room : 1, sizeof(*set->s));
	if (!set->s)
		return -ENOMEM;
	if (!is)
		unix_set_add(set, p->img, p);
	for (size_t i = 0; is && i < is->task_count; i++)
		if (!restore_tree_is_zombie(&is->tasks[i]))
			unix_set_add(set, &is->tasks[i], NULL);
	for (size_t i = 0; i < set->n; i++) {
		struct unix_sk *s = &set->s[i];

		s->peer = s->u->has_peer_inode ? unix_index(set, s->u->peer_inode) : -1;
		s->pair = s->peer >= 0 && set->s[s->peer].u->has_peer_inode &&
			  set->s[s->peer].u->peer_inode == s->u->inode;
	}
	return 0;
}

static void unix_set_free(struct unix_set *set, bool failed)
{
	char path[SOCKDIAG_UNIX_NAME_MAX + 1];

	for (size_t i = 0; i < set->n; i++) {
		struct unix_sk *s = &set->s[i];

		if (s->sk >= 0)
			close(s->sk);
		if (s->other >= 0)
			close(s->other);
		if (failed && s->bound) {
			unix_path(s->u, path, sizeof(path));
			(void)unlink(path);
		}
	}
	free(set->s);
	set->s = NULL;
}

/* ---- making them ---- */

static int unix_make_pairs(struct unix_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		struct unix_sk *s = &set->s[i];
		bool lost = !s->u->has_peer_inode && s->u->state == 1 && s->u->type != SOCK_DGRAM;
		int sv[2];

		if (s->sk >= 0 || (!s->pair && !lost))
			continue;
		if (socketpair(AF_UNIX, (int)s->u->type | SOCK_CLOEXEC, 0, sv) < 0)
			return log_error_errno(-errno, "pid %d: fd %u: cannot make a %s pair: %m",
					       set->pid, s->e->fd, s->what);
		s->sk = sv[0];
		if (lost)
			s->other = sv[1];
		else
			set->s[s->peer].sk = sv[1];
	}
	return 0;
}

/* The socket file at path goes only when it is the one the dumped socket was bound to. */
static int unix_free_path(struct unix_set *set, const struct unix_sk *s, const char *path)
{
	const char *why;
	struct stat st;

	if (lstat(path, &st) < 0)
		return 0;
	why = unix_path_taken(s->u, &st);
	if (why)
		return log_error_errno(-EEXIST,
				       "pid %d: fd %u: cannot bind the unix socket to %s: %s: "
				       "remove it if it is stale",
				       set->pid, s->e->fd, path, why);
	if (unlink(path) < 0 && errno != ENOENT)
		return log_error_errno(-errno,
				       "pid %d: fd %u: cannot remove the stale socket file %s: %m",
				       set->pid, s->e->fd, path);
	return 0;
}

static int unix_bind(struct unix_set *set, struct unix_sk *s)
{
	char path[SOCKDIAG_UNIX_NAME_MAX + 1];
	struct sockaddr_un sa;
	socklen_t len;
	int r;

	unix_addr(&s->u->name, &sa, &len);
	if (unix_is_path(s->u)) {
		unix_path(s->u, path, sizeof(path));
		r = unix_free_path(set, s, path);
		if (r < 0)
			return r;
	}
	if (bind(s->sk, (struct sockaddr *)&sa, len) < 0)
		return log_error_errno(-errno, "pid %d: fd %u: cannot bind the %s again: %m",
				       set->pid, s->e->fd, s->what);
	s->bound = unix_is_path(s->u);
	return 0;
}

static int unix_make_others(struct unix_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		struct unix_sk *s = &set->s[i];
		int r;

		if (s->sk >= 0)
			continue;
		s->sk = socket(AF_UNIX, (int)s->u->type | SOCK_CLOEXEC, 0);
		if (s->sk < 0)
			return log_error_errno(-errno, "pid %d: fd %u: cannot make a %s: %m",
					       set->pid, s->e->fd, s->what);
		if (s->u->has_name) {
			r = unix_bind(set, s);
			if (r < 0)
				return r;
		}
		if (s->u->state == 10 && listen(s->sk, (int)s->u->backlog) < 0)
			return log_error_errno(-errno, "pid %d: fd %u: cannot listen on the %s: %m",
					       set->pid, s->e->fd, s->what);
	}
	return 0;
}

/* ---- unread data ---- */

/* Room in the sender for the whole queue, whatever its original buffer size. */
static void unix_make_room(int sk, size_t bytes, size_t count)
{
	int size = (int)(bytes + count * 1024 + 65536);

	if (size < 0 || setsockopt(sk, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		log_debug("restore: cannot enlarge a unix socket's send buffer: %m");
}

/* A named socket of the process with this name, to send a datagram from as it was. */
static int unix_sender_named(const struct unix_set *set, const ProtobufCBinaryData *name)
{
	for (size_t i = 0; name->len && i < set->n; i++) {
		const UnixSocketEntry *u = set->s[i].u;

		if (u->has_name && u->name.len == name->len &&
		    !memcmp(u->name.data, name->data, name->len) && u->state != 10)
			return set->s[i].sk;
	}
	return -1;
}

/* A run of a stream, in as many writes as it takes (never waiting: the room was made). */
static int unix_send_stream(int from, const ProtobufCBinaryData *data)
{
	for (size_t done = 0; done < data->len;) {
		ssize_t n = send(from, data->data + done, data->len - done,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n <= 0)
			return n < 0 ? -errno : -EAGAIN;
		done += (size_t)n;
	}
	return 0;
}

/* A message with files in flight: in one write, the rest of a stream's bytes plainly. */
static int unix_send_scm(const struct unix_sk *s, int from, const struct sockaddr_un *to,
			 socklen_t to_len, const UnixMessageEntry *m)
{
	ProtobufCBinaryData rest;
	ssize_t n = restore_fd_unix_scm_send(from, m, (const struct sockaddr *)to, to_len);

	if (n < 0)
		return (int)n;
	if ((size_t)n == m->data.len)
		return 0;
	if (s->u->type != SOCK_STREAM)
		return -EAGAIN; /* a record goes whole or not at all */
	rest.data = m->data.data + n;
	rest.len = m->data.len - (size_t)n;
	return unix_send_stream(from, &rest);
}

static int unix_send_one(const struct unix_set *set, const struct unix_sk *s, int via, int anon,
			 const UnixMessageEntry *m)
{
	struct sockaddr_un sa;
	socklen_t len = 0;
	int from = via;
	ssize_t n;

	if (from < 0) {
		from = m->has_sender ? unix_sender_named(set, &m->sender) : -1;
		if (from < 0)
			from = anon;
		unix_addr(&s->u->name, &sa, &len);
	}
	if (m->n_files)
		return unix_send_scm(s, from, via < 0 ? &sa : NULL, len, m);
	if (s->u->type == SOCK_STREAM)
		return unix_send_stream(from, &m->data);
	n = sendto(from, m->data.data, m->data.len, MSG_DONTWAIT | MSG_NOSIGNAL,
		   via < 0 ? (struct sockaddr *)&sa : NULL, via < 0 ? len : 0);
	if (n < 0)
		return -errno;
	return (size_t)n == m->data.len ? 0 : -EAGAIN; /* a record goes whole or not at all */
}

/* Writes the unread data of s again: through the other end, or to its name. */
static int unix_fill_one(struct unix_set *set, struct unix_sk *s)
{
	const UnixSocketEntry *u = s->u;
	int via = s->pair ? set->s[s->peer].sk : s->other, anon = -1, r = 0;
	size_t bytes = 0;

	for (size_t i = 0; i < u->n_queue; i++)
		bytes += u->queue[i]->data.len;
	if (via >= 0) {
		unix_make_room(via, bytes, u->n_queue);
	} else if (u->type == SOCK_DGRAM && u->has_name) {
		anon = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (anon < 0)
			return log_error_errno(-errno, "pid %d: fd %u: cannot make a socket: %m",
					       set->pid, s->e->fd);
		unix_make_room(anon, bytes, u->n_queue);
	} else {
		return log_error_errno(-EINVAL,
				       "pid %d: fd %u: the %s has unread data but no way "
				       "to write it again",
				       set->pid, s->e->fd, s->what);
	}
	for (size_t i = 0; r == 0 && i < u->n_queue; i++)
		r = unix_send_one(set, s, via, anon, u->queue[i]);
	if (anon >= 0)
		close(anon);
	if (r < 0)
		return log_error_errno(r,
				       "pid %d: fd %u: cannot queue the %zu bytes of unread "
				       "data of the %s again: %s",
				       set->pid, s->e->fd, bytes, s->what, strerror(-r));
	return 0;
}

static int unix_fill(struct unix_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		int r = set->s[i].u->n_queue ? unix_fill_one(set, &set->s[i]) : 0;

		if (r < 0)
			return r;
		if (set->s[i].other >= 0) {
			close(set->s[i].other); /* the peer is gone, as it was */
			set->s[i].other = -1;
		}
	}
	return 0;
}

/* ---- connections ---- */

static int unix_connect_one(struct unix_set *set, struct unix_sk *s)
{
	const UnixSocketEntry *u = s->u;
	const ProtobufCBinaryData *name = NULL;
	char text[SOCKDIAG_UNIX_NAME_MAX + 16];
	struct sockaddr_un sa;
	socklen_t len;

	if (s->peer >= 0 && !s->pair)
		name = &set->s[s->peer].u->name; /* a datagram socket of the process */
	else if (s->peer < 0 && u->has_external && u->external)
		name = &u->peer_name;
	if (!name)
		return 0;
	unix_addr(name, &sa, &len);
	if (connect(s->sk, (struct sockaddr *)&sa, len) == 0)
		return 0;
	sockdiag_unix_format_name(name->data, name->len, text, sizeof(text));
	if (u->external)
		return log_error_errno(-errno,
				       "pid %d: fd %u: cannot connect the unix %s socket again to "
				       "%s (--ext-unix-sk: is its peer running there, with that "
				       "name?)",
				       set->pid, s->e->fd, unix_type_name(u->type), text);
	return log_error_errno(-errno, "pid %d: fd %u: cannot connect the %s again to %s: %m",
			       set->pid, s->e->fd, s->what, text);
}

static int unix_connect(struct unix_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		int r = unix_connect_one(set, &set->s[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- options, install ---- */

/* The size asked for (the kernel doubles it), beyond net.core.*mem_max when CAP_NET_ADMIN
 * allows; without it, within. */
static int unix_setbuf(int sk, int force, int plain, int size)
{
	if (setsockopt(sk, SOL_SOCKET, force, &size, sizeof(size)) == 0)
		return 0;
	if (errno != EPERM)
		return -1;
	return setsockopt(sk, SOL_SOCKET, plain, &size, sizeof(size));
}

static int unix_options_one(const struct unix_set *set, const struct unix_sk *s)
{
	const UnixSocketEntry *u = s->u;
	char path[SOCKDIAG_UNIX_NAME_MAX + 1];
	int on = u->passcred, snd = (int)u->sndbuf / 2, rcv = (int)u->rcvbuf / 2, how;

	if (u->has_passcred && setsockopt(s->sk, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0)
		return -errno;
	if (u->has_peek_off &&
	    setsockopt(s->sk, SOL_SOCKET, SO_PEEK_OFF, &u->peek_off, sizeof(u->peek_off)) < 0)
		return -errno;
	if (u->has_sndbuf && unix_setbuf(s->sk, SO_SNDBUFFORCE, SO_SNDBUF, snd) < 0)
		return -errno;
	if (u->has_rcvbuf && unix_setbuf(s->sk, SO_RCVBUFFORCE, SO_RCVBUF, rcv) < 0)
		return -errno;
	how = (u->shutdown & 3) == 3 ? SHUT_RDWR : (u->shutdown & 2) ? SHUT_WR : SHUT_RD;
	if (u->has_shutdown && (u->shutdown & 3) && shutdown(s->sk, how) < 0 && errno != ENOTCONN)
		return -errno;
	if (!s->bound)
		return 0;
	unix_path(u, path, sizeof(path));
	if (u->has_file_mode && chmod(path, u->file_mode & 07777) < 0)
		return -errno;
	if (u->has_file_uid && u->has_file_gid && lchown(path, u->file_uid, u->file_gid) < 0)
		return -errno;
	return 0;
}

static int unix_install(struct restore_proc *p, struct puppet *pp, struct unix_set *set)
{
	const struct image_task *t = p->img;
	int r;

	for (size_t i = 0; i < t->fd_count; i++) {
		const FdEntry *f = t->fds[i];
		ssize_t k = unix_mine(p, f) ? unix_index(set, f->unix_sk->inode) : -1;

		if (k < 0)
			continue;
		if (fcntl(set->s[k].sk, F_SETFL, f->flags & O_NONBLOCK) < 0)
			return log_error_errno(-errno,
					       "pid %d: fd %u (a %s): cannot set its flags: "
					       "%m",
					       p->pid, f->fd, set->s[k].what);
		r = puppet_install_fd(pp, set->s[k].sk, (int)f->fd, f->cloexec);
		if (r < 0)
			return log_error_errno(r, "pid %d: cannot put the %s at fd %u: %s", p->pid,
					       set->s[k].what, f->fd, err_detail());
	}
	return 0;
}

/* Every socket of the set made, filled, connected and set up (nothing installed yet). */
static int unix_make_all(struct unix_set *set, pid_t pid)
{
	int r = unix_make_pairs(set);

	if (r == 0)
		r = unix_make_others(set);
	if (r == 0)
		r = unix_fill(set);
	if (r == 0)
		r = unix_connect(set);
	for (size_t i = 0; r == 0 && i < set->n; i++) {
		r = unix_options_one(set, &set->s[i]);
		if (r < 0)
			log_error_errno(r, "pid %d: fd %u: cannot set the options of the %s: %s",
					pid, set->s[i].e->fd, set->s[i].what, strerror(-r));
	}
	return r;
}

static int unix_restore_all(struct restore_proc *p, struct puppet *pp)
{
	struct unix_set set = { .pid = p->pid };
	int r = unix_set_build(&set, p);

	if (r == 0)
		r = unix_make_all(&set, p->pid);
	if (r == 0)
		r = unix_install(p, pp, &set);
	if (r == 0)
		log_debug("pid %d: %zu unix sockets restored", p->pid, set.n);
	/* The puppet holds its own copies: ours go, whatever happened. */
	unix_set_free(&set, r < 0);
	return r;
}

/*
 * A tree: the first process with a unix socket of its own makes every socket of the tree (a
 * pair's ends may live in different processes), and the set stays here, ours, until
 * restore_fd_unix_tree_fini: each process installs its own fds from it, as restore_fd_pipe.c
 * does with the pipes of the tree. One tree is restored at a time per restorer process.
 */
static struct unix_tree_set {
	const struct restore_tree_ctx *tree; /* whose sockets set holds, or NULL */
	struct unix_set set;
} unix_tree;

void restore_fd_unix_tree_fini(const struct restore_tree_ctx *tree, bool failed)
{
	if (!unix_tree.tree || unix_tree.tree != tree)
		return;
	unix_set_free(&unix_tree.set, failed);
	unix_tree.tree = NULL;
}

static int unix_restore_tree(struct restore_proc *p, struct puppet *pp)
{
	int r = 0;

	if (unix_tree.tree != p->tree) {
		restore_fd_unix_tree_fini(unix_tree.tree, false); /* a tree restored before */
		memset(&unix_tree, 0, sizeof(unix_tree));
		unix_tree.set.pid = p->pid;
		r = unix_set_build(&unix_tree.set, p);
		if (r == 0)
			r = unix_make_all(&unix_tree.set, p->pid);
		if (r < 0) {
			unix_set_free(&unix_tree.set, true);
			return r;
		}
		unix_tree.tree = p->tree;
		log_debug("pid %d: the %zu unix sockets of the tree made", p->pid, unix_tree.set.n);
	}
	return unix_install(p, pp, &unix_tree.set);
}

int restore_fd_unix_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	const struct image_task *t = p->img;

	for (size_t i = 0; i < t->fd_count && t->fds[i] != e; i++)
		if (unix_mine(p, t->fds[i]))
			return 0; /* made with the first unix socket of the image */
	return p->tree ? unix_restore_tree(p, pp) : unix_restore_all(p, pp);
}
