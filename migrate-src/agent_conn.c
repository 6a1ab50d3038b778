/*
 * agent_conn: the agent's end of the migration stream (see agent.h for why
 * it is blocking). Frames are written whole with one write/writev each; the
 * decoder of common/wire.h cuts what is read into frames.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "agent.h"
#include "auth.h"
#include "err.h"
#include "log.h"
#include "wire.h"

#define AGENT_RBUF_SIZE (256U << 10)
/* No answer of the destination takes this long in a healthy session. */
#define AGENT_IO_TIMEOUT_S 120

static void agent_conn_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = AGENT_IO_TIMEOUT_S };
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int agent_conn_connect(const char *host, const char *port, int *ret_fd)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, err = 0, r;

	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		return err_setf(-EHOSTUNREACH, "cannot resolve %s: %s", host, gai_strerror(r));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return err_setf(-err,
				"cannot connect to %s:%s: %s: is migrate-dst listening there?",
				host, port, strerror(err));
	*ret_fd = fd;
	return 0;
}

int agent_conn_open(struct agent_conn *c, const char *host, const char *port)
{
	struct wire_decoder *d;
	int r;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->abort_reason = -1;
	snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);
	d = calloc(1, sizeof(*d));
	c->rbuf = malloc(AGENT_RBUF_SIZE);
	if (!d || !c->rbuf) {
		free(d);
		free(c->rbuf);
		c->rbuf = NULL;
		return err_setf(-ENOMEM, "out of memory");
	}
	wire_decoder_init(d, 0);
	c->decoder = d;
	r = agent_conn_connect(host, port, &c->fd);
	if (r < 0)
		return r;
	agent_conn_timeouts(c->fd);
	return 0;
}

void agent_conn_close(struct agent_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->decoder) {
		wire_decoder_fini(c->decoder);
		free(c->decoder);
		c->decoder = NULL;
	}
	free(c->rbuf);
	c->rbuf = NULL;
}

static int agent_conn_err(struct agent_conn *c, int err, const char *what)
{
	if (err == EINTR)
		return err_setf(-EINTR, "interrupted while %s", what);
	if (err == EAGAIN || err == EWOULDBLOCK)
		return err_setf(-ETIMEDOUT, "no progress for %d s on the connection to %s while %s",
				AGENT_IO_TIMEOUT_S, c->peer, what);
	return err_setf(-err, "connection to %s lost while %s: %s", c->peer, what, strerror(err));
}

static int agent_conn_writev(struct agent_conn *c, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(c->fd, iov, n);

		if (w < 0)
			return agent_conn_err(c, errno, "sending");
		c->bytes_sent += (uint64_t)w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int agent_conn_send(struct agent_conn *c, int type, const struct ProtobufCMessage *msg)
{
	struct iovec iov;
	uint8_t *buf;
	size_t len;
	int r;

	r = wire_encode_alloc(type, msg, &buf, &len);
	if (r < 0)
		return r;
	iov.iov_base = buf;
	iov.iov_len = len;
	r = agent_conn_writev(c, &iov, 1);
	free(buf);
	return r;
}

int agent_conn_send_pages(struct agent_conn *c, uint32_t pid, uint32_t round,
			  const struct codec_batch *b)
{
	struct iovec iov[2];
	uint8_t *head;
	size_t len;
	int r;

	r = wire_page_batch_head(pid, round, b, &head, &len);
	if (r < 0)
		return r;
	iov[0].iov_base = head;
	iov[0].iov_len = len;
	iov[1].iov_base = b->data;
	iov[1].iov_len = b->data_len;
	r = agent_conn_writev(c, iov, b->data_len ? 2 : 1);
	free(head);
	return r;
}

/* The next whole frame from the peer. */
static int agent_conn_recv(struct agent_conn *c, struct wire_frame *ret)
{
	for (;;) {
		size_t used = 0;
		ssize_t n;
		int r;

		if (c->rpos < c->rlen) {
			r = wire_decoder_feed(c->decoder, c->rbuf + c->rpos, c->rlen - c->rpos,
					      &used, ret);
			if (r < 0)
				return r;
			c->rpos += used;
			if (r == 1)
				return 0;
		}
		c->rpos = c->rlen = 0;
		n = read(c->fd, c->rbuf, AGENT_RBUF_SIZE);
		if (n < 0)
			return agent_conn_err(c, errno, "waiting for an answer");
		if (n == 0)
			return err_setf(-ECONNRESET, "%s closed the connection", c->peer);
		c->rlen = (size_t)n;
	}
}

/* "AUTH" for WIRE_ABORT_AUTH: the enum's name without its prefix. */
static const char *agent_conn_abort_name(int reason)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&wire_abort_reason__descriptor, reason);
	const char *prefix = "WIRE_ABORT_";

	if (!v)
		return "unknown reason";
	return strncmp(v->name, prefix, strlen(prefix)) == 0 ? v->name + strlen(prefix) : v->name;
}

static int agent_conn_peer_abort(struct agent_conn *c, const struct wire_frame *f)
{
	ProtobufCMessage *m;
	WireAbort *a;
	int r;

	r = wire_frame_unpack(f, &m);
	if (r < 0)
		return err_setf(-ECONNABORTED, "%s aborted (unreadable reason)", c->peer);
	a = (WireAbort *)m;
	c->abort_reason = (int)a->reason;
	r = err_setf(-ECONNABORTED, "%s aborted the migration (%s): %s", c->peer,
		     agent_conn_abort_name(a->reason), a->message ? a->message : "no reason given");
	protobuf_c_message_free_unpacked(m, NULL);
	return r;
}

int agent_conn_expect(struct agent_conn *c, int type, struct ProtobufCMessage **ret)
{
	struct wire_frame f = { 0 };
	int r;

	r = agent_conn_recv(c, &f);
	if (r < 0)
		return r;
	if (f.type == WIRE_ABORT)
		r = agent_conn_peer_abort(c, &f);
	else if (f.type != type)
		r = err_setf(-EPROTO, "%s sent %s where %s was expected", c->peer,
			     wire_type_name(f.type), wire_type_name(type));
	else
		r = wire_frame_unpack(&f, ret);
	wire_frame_fini(&f);
	return r;
}

void agent_conn_abort(struct agent_conn *c, int reason, const char *message)
{
	WireAbort a = WIRE_ABORT__INIT;

	if (c->fd < 0)
		return;
	a.reason = reason;
	a.message = (char *)message;
	if (agent_conn_send(c, WIRE_ABORT, &a.base) < 0)
		log_debug("agent: cannot send Abort to %s, ignoring", c->peer);
}

static int agent_conn_auth(struct agent_conn *c, struct auth_session *s)
{
	WireHello hello = WIRE_HELLO__INIT;
	WireAuthProof proof = WIRE_AUTH_PROOF__INIT;
	uint8_t proof_buf[AUTH_PROOF_SIZE];
	ProtobufCMessage *m;
	int r;

	hello.protocol_version = WIRE_PROTOCOL_VERSION;
	hello.features = WIRE_FEATURE_LZ4 | WIRE_FEATURE_NET;
	hello.client_nonce.data = s->client_nonce;
	hello.client_nonce.len = AUTH_NONCE_SIZE;
	hello.tool_version = (char *)MIGRATE_VERSION;
	r = agent_conn_send(c, WIRE_HELLO, &hello.base);
	if (r == 0)
		r = agent_conn_expect(c, WIRE_CHALLENGE, &m);
	if (r < 0)
		return r;
	c->features = ((WireChallenge *)m)->has_features ? ((WireChallenge *)m)->features : 0;
	r = auth_client_prove(s, ((WireChallenge *)m)->server_nonce.data,
			      ((WireChallenge *)m)->server_nonce.len, proof_buf);
	protobuf_c_message_free_unpacked(m, NULL);
	if (r < 0)
		return r;
	proof.proof.data = proof_buf;
	proof.proof.len = sizeof(proof_buf);
	r = agent_conn_send(c, WIRE_AUTH_PROOF, &proof.base);
	if (r == 0)
		r = agent_conn_expect(c, WIRE_AUTH_OK, &m);
	if (r < 0)
		return r;
	r = auth_client_verify(s, ((WireAuthOk *)m)->proof.data, ((WireAuthOk *)m)->proof.len);
	protobuf_c_message_free_unpacked(m, NULL);
	if (r < 0) {
		agent_conn_abort(c, WIRE_ABORT_REASON__WIRE_ABORT_AUTH, "wrong key");
		return err_setf(r,
				"%s does not know the key: it may not be the destination you "
				"meant; nothing was sent",
				c->peer);
	}
	return 0;
}

static int agent_conn_load_key(const char *psk_file, struct auth_psk *ret)
{
	char why[512];
	int r;

	r = auth_psk_load(psk_file, ret);
	if (r == 0)
		return 0;
	/* err_setf writes where err_detail() points: copy it first. */
	snprintf(why, sizeof(why), "%s", err_detail()[0] ? err_detail() : strerror(-r));
	return err_setf(r, "cannot load the key file %s: %s", psk_file, why);
}

int agent_conn_check_key(const char *psk_file)
{
	struct auth_psk psk;
	int r;

	r = agent_conn_load_key(psk_file, &psk);
	if (r < 0)
		return r;
	if (psk.loose_mode)
		log_warn("key file %s can be read by group or others: chmod 600 it", psk_file);
	auth_psk_fini(&psk);
	return 0;
}

int agent_conn_handshake(struct agent_conn *c, const char *psk_file)
{
	struct auth_session s;
	struct auth_psk psk;
	int r;

	r = agent_conn_load_key(psk_file, &psk);
	if (r < 0)
		return r;
	memset(&s, 0, sizeof(s));
	r = auth_client_start(&s, &psk);
	auth_psk_fini(&psk);
	if (r == 0)
		r = agent_conn_auth(c, &s);
	auth_session_fini(&s);
	if (r == -ECONNABORTED && c->abort_reason == WIRE_ABORT_REASON__WIRE_ABORT_AUTH)
		return err_setf(-EACCES,
				"%s refused our key: check that both sides use the same "
				"--psk-file; nothing was sent",
				c->peer);
	return r;
}
