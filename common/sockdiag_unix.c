/*
 * sockdiag_unix: see sockdiag_unix.h. One exact request per socket (no NLM_F_DUMP): the
 * kernel answers with one unix_diag_msg and its attributes, or an error message.
 */
#include "sockdiag_unix.h"
#include "netns.h"

#include "err.h"
#include "image.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define UNIX_RECV_BUF_SIZE (64u << 10)
#define UNIX_MAX_ICONS (1u << 16) /* above any listen() backlog: somaxconn is 4096 */
/* What an image may hold for one socket: the dump carries at most 16 MiB and 65536 messages. */
#define UNIX_ENTRY_QUEUE_MAX (16u << 20)
#define UNIX_ENTRY_MESSAGES_MAX 65536u

int sockdiag_unix_open(int netns_fd, int *ret_fd)
{
	int saved, fd, r = netns_enter(netns_fd, &saved);

	if (r < 0)
		return r;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		r = err_setf(-errno, "netlink socket for unix_diag: %s", strerror(errno));
	r = netns_leave(saved, fd < 0 ? r : 0);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

void sockdiag_unix_fini(struct sockdiag_unix *s)
{
	if (!s)
		return;
	free(s->icons);
	s->icons = NULL;
	s->n_icons = 0;
}

static int unix_attr_icons(struct sockdiag_unix *s, const uint8_t *data, size_t len)
{
	size_t n = len / sizeof(uint32_t);

	if (len % sizeof(uint32_t) || n > UNIX_MAX_ICONS || s->icons)
		return err_setf(-EPROTO, "unix_diag: pending connections of %zu bytes", len);
	if (!n)
		return 0;
	s->icons = calloc(n, sizeof(*s->icons));
	if (!s->icons)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint32_t ino;

		memcpy(&ino, data + i * sizeof(ino), sizeof(ino));
		s->icons[i] = ino;
	}
	s->n_icons = n;
	return 0;
}

/* One attribute; its length was checked against the message. */
static int unix_attr(struct sockdiag_unix *s, unsigned int type, const uint8_t *data, size_t len)
{
	struct unix_diag_rqlen rq;
	struct unix_diag_vfs vfs;
	uint32_t peer;

	switch (type) {
	case UNIX_DIAG_NAME:
		if (len > sizeof(s->name))
			return err_setf(-EPROTO, "unix_diag: name of %zu bytes", len);
		memcpy(s->name, data, len);
		s->name_len = len;
		return 0;
	case UNIX_DIAG_VFS:
		if (len < sizeof(vfs))
			return err_setf(-EPROTO, "unix_diag: truncated file attribute");
		memcpy(&vfs, data, sizeof(vfs));
		s->has_vfs = true;
		s->vfs_ino = vfs.udiag_vfs_ino;
		s->vfs_dev = vfs.udiag_vfs_dev;
		return 0;
	case UNIX_DIAG_PEER:
		if (len < sizeof(peer))
			return err_setf(-EPROTO, "unix_diag: truncated peer attribute");
		memcpy(&peer, data, sizeof(peer));
		s->peer_inode = peer;
		return 0;
	case UNIX_DIAG_ICONS:
		return unix_attr_icons(s, data, len);
	case UNIX_DIAG_RQLEN:
		if (len < sizeof(rq))
			return err_setf(-EPROTO, "unix_diag: truncated queue attribute");
		memcpy(&rq, data, sizeof(rq));
		s->has_rqlen = true;
		s->rqueue = rq.udiag_rqueue;
		s->wqueue = rq.udiag_wqueue;
		return 0;
	case UNIX_DIAG_SHUTDOWN:
		if (len < 1)
			return err_setf(-EPROTO, "unix_diag: truncated shutdown attribute");
		s->shutdown = data[0] & (SOCKDIAG_UNIX_RCV_SHUTDOWN | SOCKDIAG_UNIX_SEND_SHUTDOWN);
		return 0;
	default:
		return 0; /* MEMINFO, UID, newer ones: not asked for or not needed */
	}
}

/* The unix_diag_msg at p (plen bytes) and the attributes after it. */
static int unix_parse_msg(const uint8_t *p, size_t plen, struct sockdiag_unix *s)
{
	struct unix_diag_msg m;
	size_t off = NLMSG_ALIGN(sizeof(m));

	if (plen < sizeof(m))
		return err_setf(-EPROTO, "unix_diag: socket message of %zu bytes", plen);
	memcpy(&m, p, sizeof(m));
	if (m.udiag_family != AF_UNIX)
		return err_setf(-EPROTO, "unix_diag: socket of family %u", m.udiag_family);
	s->inode = m.udiag_ino;
	s->type = m.udiag_type;
	s->state = m.udiag_state;
	while (off < plen) {
		struct nlattr a;
		int r;

		if (plen - off < sizeof(a))
			return err_setf(-EPROTO, "unix_diag: %zu stray bytes in a message",
					plen - off);
		memcpy(&a, p + off, sizeof(a));
		if (a.nla_len < sizeof(a) || a.nla_len > plen - off)
			return err_setf(-EPROTO, "unix_diag: attribute of %u bytes with %zu left",
					a.nla_len, plen - off);
		r = unix_attr(s, a.nla_type & NLA_TYPE_MASK, p + off + NLA_HDRLEN,
			      a.nla_len - NLA_HDRLEN);
		if (r < 0)
			return r;
		off += NLA_ALIGN(a.nla_len);
	}
	return 0;
}

static int unix_parse_error(const uint8_t *p, size_t plen)
{
	int error;

	if (plen < sizeof(error))
		return err_setf(-EPROTO, "unix_diag: truncated error message");
	memcpy(&error, p, sizeof(error));
	if (error >= 0 || error < -4095)
		return err_setf(-EPROTO, "unix_diag: error message with error %d", error);
	return err_setf(error, "unix_diag: kernel answered: %s", strerror(-error));
}

int sockdiag_unix_parse(const void *buf, size_t len, uint32_t seq, struct sockdiag_unix *ret)
{
	const uint8_t *p = buf;
	struct nlmsghdr h;

	memset(ret, 0, sizeof(*ret));
	if (len < sizeof(h))
		return err_setf(-EPROTO, "unix_diag: answer of %zu bytes", len);
	memcpy(&h, p, sizeof(h));
	if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len)
		return err_setf(-EPROTO, "unix_diag: message length %u in %zu bytes", h.nlmsg_len,
				len);
	if (h.nlmsg_seq != seq)
		return err_setf(-EPROTO, "unix_diag: answer to request %u, expected %u",
				h.nlmsg_seq, seq);
	if (h.nlmsg_type == NLMSG_ERROR)
		return unix_parse_error(p + NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN);
	if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return err_setf(-EPROTO, "unix_diag: answer of type %u", h.nlmsg_type);
	return unix_parse_msg(p + NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN, ret);
}

static int unix_request(int nl, uint64_t inode, uint32_t seq)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg = {
		.nlh = {
			.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST,
			.nlmsg_seq = seq,
		},
		.req = {
			.sdiag_family = AF_UNIX,
			.udiag_states = ~0u,
			.udiag_ino = (uint32_t)inode,
			.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER |
				      UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN,
			/* No cookie known: the kernel then matches by inode alone. */
			.udiag_cookie = { ~0u, ~0u },
		},
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	if (sendto(nl, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return err_setf(-errno, "unix_diag request: %s", strerror(errno));
	return 0;
}

int sockdiag_unix_get(int nl, uint64_t inode, struct sockdiag_unix *ret)
{
	static uint32_t next_seq;
	uint32_t seq = ++next_seq;
	struct sockdiag_unix s = { 0 };
	uint8_t *buf;
	ssize_t got;
	int r;

	if (inode == 0 || inode > UINT32_MAX)
		return err_setf(-ENOENT, "unix_diag: inode %llu cannot be asked for",
				(unsigned long long)inode);
	r = unix_request(nl, inode, seq);
	if (r < 0)
		return r;
	buf = malloc(UNIX_RECV_BUF_SIZE);
	if (!buf)
		return -ENOMEM;
	do
		got = recv(nl, buf, UNIX_RECV_BUF_SIZE, 0);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		r = err_setf(-errno, "unix_diag answer: %s", strerror(errno));
	else
		r = sockdiag_unix_parse(buf, (size_t)got, seq, &s);
	free(buf);
	if (r == 0 && s.inode != inode)
		r = err_setf(-EPROTO, "unix_diag: asked for inode %llu, got %llu",
			     (unsigned long long)inode, (unsigned long long)s.inode);
	if (r < 0) {
		if (got >= 0)
			sockdiag_unix_fini(&s);
		return r;
	}
	*ret = s;
	return 0;
}

char *sockdiag_unix_format_name(const uint8_t *name, size_t len, char *buf, size_t size)
{
	size_t o = 0;

	if (!size)
		return buf;
	if (!len) {
		snprintf(buf, size, "(unnamed)");
		return buf;
	}
	for (size_t i = 0; i < len && o + 1 < size; i++) {
		uint8_t c = name[i];

		if (c == '\0' && (i == 0 || i + 1 < len))
			c = '@';
		else if (c == '\0')
			break; /* the NUL that ends a path */
		else if (c < 0x20 || c > 0x7e)
			c = '?';
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

static bool unix_name_ok(const ProtobufCBinaryData *name)
{
	if (!name->len || name->len > SOCKDIAG_UNIX_NAME_MAX || !name->data)
		return false;
	if (name->data[0] == '\0')
		return true; /* abstract: any bytes */
	return name->data[0] == '/' && !memchr(name->data, '\0', name->len);
}

static bool unix_safe_device(const char *path)
{
	static const char *const safe[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
					    "/dev/urandom" };

	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (!strcmp(path, safe[i]))
			return true;
	return false;
}

/* A file in flight: a known kind, an absolute path, at most SCM_MAX_FD with one message. */
static bool unix_files_ok(const UnixSocketEntry *u, const UnixMessageEntry *m)
{
	if (m->n_files > 253 || (m->n_files && u->type == SOCK_STREAM && !m->data.len))
		return false;
	for (size_t k = 0; k < m->n_files; k++) {
		const UnixPassedFile *f = m->files[k];

		if (!f->path || f->path[0] != '/' || strlen(f->path) >= 4096 ||
		    (f->kind == 1 && (!f->has_dev || !f->has_ino)) ||
		    (f->kind == 2 && (!f->has_rdev || !unix_safe_device(f->path))) ||
		    (f->kind != 1 && f->kind != 2))
			return false;
	}
	return true;
}

static int unix_queue_check(const UnixSocketEntry *u)
{
	uint64_t total = 0;

	if (u->n_queue > UNIX_ENTRY_MESSAGES_MAX || (u->n_queue && u->state == 10))
		return err_setf(-EINVAL, "unix socket %llu: %zu unread messages",
				(unsigned long long)u->inode, u->n_queue);
	for (size_t i = 0; i < u->n_queue; i++) {
		const UnixMessageEntry *m = u->queue[i];

		total += m->data.len;
		if ((m->data.len && !m->data.data) || (m->has_sender && u->type != SOCK_DGRAM) ||
		    (m->has_sender && m->sender.len && !unix_name_ok(&m->sender)) ||
		    !unix_files_ok(u, m))
			return err_setf(-EINVAL,
					"unix socket %llu: unread message %zu is incoherent",
					(unsigned long long)u->inode, i);
	}
	if (total > UNIX_ENTRY_QUEUE_MAX)
		return err_setf(-EINVAL, "unix socket %llu: %llu bytes unread, above %u",
				(unsigned long long)u->inode, (unsigned long long)total,
				UNIX_ENTRY_QUEUE_MAX);
	return 0;
}

int sockdiag_unix_entry_check(const UnixSocketEntry *u)
{
	const char *bad = NULL;

	if (u->type != SOCK_STREAM && u->type != SOCK_DGRAM && u->type != SOCK_SEQPACKET)
		bad = "type";
	else if (u->state != 1 && u->state != 7 && u->state != 10)
		bad = "state";
	else if (u->state == 10 && u->type == SOCK_DGRAM)
		bad = "state (a listening datagram socket)";
	else if (!u->inode || (u->has_peer_inode && (!u->peer_inode || u->peer_inode == u->inode)))
		bad = "inode or peer inode";
	else if (u->has_name && !unix_name_ok(&u->name))
		bad = "name";
	else if (u->has_peer_name && !unix_name_ok(&u->peer_name))
		bad = "peer name";
	else if (u->has_backlog && (u->state != 10 || u->backlog > INT32_MAX))
		bad = "backlog";
	else if (u->has_peek_off && (u->peek_off < -1 || u->state == 10))
		bad = "peek offset";
	else if (u->has_shutdown && u->shutdown > 3)
		bad = "shutdown";
	else if (u->has_external && u->external &&
		 (!u->has_peer_name || !u->has_peer_inode || u->state != 1))
		bad = "external peer";
	else if ((u->has_sndbuf && u->sndbuf > INT32_MAX) ||
		 (u->has_rcvbuf && u->rcvbuf > INT32_MAX))
		bad = "buffer size";
	if (bad)
		return err_setf(-EINVAL, "unix socket %llu: invalid %s",
				(unsigned long long)u->inode, bad);
	return unix_queue_check(u);
}
