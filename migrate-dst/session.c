/*
 * session: the session process's side of one migration (see dst_session.h).
 *
 * Plain blocking-style I/O (poll + read/write on a non-blocking socket) and the wire
 * decoder, not a libuv loop: the conversation is strictly one frame after the other, every
 * handler runs ptrace calls that must all come from this one thread, and while a handler
 * works (restore_proc_finish, writing pages) there is nothing else to serve. poll gives the
 * silence timeout; a SIGTERM from the daemon interrupts it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dst_server.h"
#include "dst_session_internal.h"
#include "err.h"
#include "log.h"
#include "session.h"

#define SESSION_RBUF_SIZE (256U << 10)
/* An Abort to a peer that may have stopped reading: how long we try to deliver it. */
#define SESSION_ABORT_MS 2000

static volatile sig_atomic_t session_cancel;

static void session_signal_cb(int sig)
{
	session_cancel = sig;
}

uint64_t session_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

int session_fail(struct session *s, int reason, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->fail.message, sizeof(s->fail.message), fmt, ap);
	va_end(ap);
	s->fail.reason = reason;
	s->fail.error = err < 0 ? err : -err;
	return s->fail.error;
}

int session_fail_restore(struct session *s, int err, const char *what)
{
	const char *why = server_log_last_error();

	if (!why[0])
		why = err_detail()[0] ? err_detail() : strerror(-err);
	return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_RESTORE, err, "%s: %s", what, why);
}

void session_fault_point(struct session *s, const char *point)
{
	const char *want = getenv(SESSION_FAULT_ENV);

	if (!want || strcmp(want, point) != 0)
		return;
	log_warn("%s=%s: exiting here, as a crash would", SESSION_FAULT_ENV, point);
	_exit(SESSION_EXIT_FAULT);
}

/* ---- socket ---- */

static int session_wait(struct session *s, short events, uint64_t deadline_ns, const char *what)
{
	struct pollfd p = { .fd = s->fd, .events = events };

	for (;;) {
		uint64_t now = session_now_ns();
		int r;

		if (session_cancel && !s->resumed)
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_CANCELLED, -ECANCELED,
					    "the destination daemon is stopping");
		if (now >= deadline_ns) {
			/* A peer that does not read would not read an Abort either. */
			s->peer_gone = events == POLLOUT;
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_TIMEOUT, -ETIMEDOUT,
					    "nothing %s for %llu s", what,
					    (unsigned long long)(deadline_ns - s->wait_from_ns) /
						    1000000000ULL);
		}
		r = poll(&p, 1, (int)((deadline_ns - now + 999999) / 1000000));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -errno,
					    "poll: %s", strerror(errno));
	}
}

static int session_write_all(struct session *s, const uint8_t *buf, size_t len, int timeout_ms)
{
	uint64_t deadline;
	int r;

	s->wait_from_ns = session_now_ns();
	deadline = s->wait_from_ns + (uint64_t)timeout_ms * 1000000ULL;
	while (len) {
		ssize_t w = send(s->fd, buf, len, MSG_NOSIGNAL);

		if (w > 0) {
			buf += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			s->peer_gone = true;
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -errno,
					    "connection lost while sending: %s", strerror(errno));
		}
		r = session_wait(s, POLLOUT, deadline, "read by the peer");
		if (r < 0)
			return r;
	}
	return 0;
}

static int session_send_timeout(struct session *s, unsigned int type, const ProtobufCMessage *msg,
				int timeout_ms)
{
	uint8_t *buf;
	size_t len;
	int r;

	r = wire_encode_alloc(type, msg, &buf, &len);
	if (r < 0)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, r,
				    "cannot encode %s: %s", wire_type_name(type), err_detail());
	r = session_write_all(s, buf, len, timeout_ms);
	free(buf);
	return r;
}

int session_send(struct session *s, unsigned int type, const ProtobufCMessage *msg)
{
	return session_send_timeout(s, type, msg, SESSION_IDLE_TIMEOUT_MS);
}

/* Reads once into rbuf; the deadline moves on with every byte once authenticated. */
static int session_fill(struct session *s, uint64_t *deadline)
{
	ssize_t n;
	int r;

	for (;;) {
		n = read(s->fd, s->rbuf, SESSION_RBUF_SIZE);
		if (n > 0)
			break;
		if (n == 0) {
			s->peer_gone = true;
			r = wire_decoder_finish(&s->dec);
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -ECONNRESET,
					    "the peer closed the connection while %s%s%s",
					    session_state_name(s->state), r < 0 ? ": " : "",
					    r < 0 ? err_detail() : "");
		}
		if (errno != EAGAIN && errno != EINTR) {
			s->peer_gone = true;
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, -errno,
					    "connection lost while %s: %s",
					    session_state_name(s->state), strerror(errno));
		}
		r = session_wait(s, POLLIN, *deadline, "received");
		if (r < 0)
			return r;
	}
	s->rpos = 0;
	s->rlen = (size_t)n;
	if (session_fsm_authenticated(s->state)) {
		s->wait_from_ns = session_now_ns();
		*deadline = s->wait_from_ns + SESSION_IDLE_TIMEOUT_MS * 1000000ULL;
	}
	return 0;
}

/* The next whole frame. Before authentication the whole handshake has one deadline. */
static int session_recv(struct session *s, struct wire_frame *ret)
{
	uint64_t deadline;
	int r;

	if (session_fsm_authenticated(s->state)) {
		s->wait_from_ns = session_now_ns();
		deadline = s->wait_from_ns + SESSION_IDLE_TIMEOUT_MS * 1000000ULL;
	} else {
		deadline = s->wait_from_ns + SESSION_AUTH_TIMEOUT_MS * 1000000ULL;
	}
	for (;;) {
		size_t used = 0;

		if (s->rpos < s->rlen) {
			r = wire_decoder_feed(&s->dec, s->rbuf + s->rpos, s->rlen - s->rpos, &used,
					      ret);
			if (r < 0)
				return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, r,
						    "malformed frame while %s: %s",
						    session_state_name(s->state), err_detail());
			s->rpos += used;
			if (r == 1)
				return 0;
		}
		r = session_fill(s, &deadline);
		if (r < 0)
			return r;
	}
}

/* ---- ending ---- */

/* Best effort: the Abort, then the peer gets time to read it (closing with unread input
 * would reset the connection and could destroy the Abort in flight). */
static void session_send_abort(struct session *s)
{
	WireAbort a = WIRE_ABORT__INIT;
	uint64_t deadline;
	uint8_t sink[4096];

	if (s->peer_gone)
		return;
	a.reason = s->fail.reason;
	a.message = s->fail.message;
	a.has_error = s->fail.error != 0;
	a.error = s->fail.error;
	session_cancel = 0; /* the Abort itself must not be cancelled */
	if (session_send_timeout(s, WIRE_ABORT, &a.base, SESSION_ABORT_MS) < 0)
		return;
	(void)shutdown(s->fd, SHUT_WR);
	s->wait_from_ns = session_now_ns();
	deadline = s->wait_from_ns + SESSION_ABORT_MS * 1000000ULL;
	for (;;) {
		ssize_t n = read(s->fd, sink, sizeof(sink));

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (n < 0 && session_wait(s, POLLIN, deadline, "received") < 0)
			break;
	}
}

/* A frame out of order, or one this side does not take at all. */
static int session_unexpected(struct session *s, const struct wire_frame *f)
{
	return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EPROTO,
			    "unexpected %s frame while %s", wire_type_name(f->type),
			    session_state_name(s->state));
}

static int session_peer_abort(struct session *s, const struct wire_frame *f)
{
	const ProtobufCEnumValue *ev;
	ProtobufCMessage *m;
	WireAbort *a;

	s->peer_gone = true; /* it closes after an Abort: nothing to answer */
	if (wire_frame_unpack(f, &m) < 0)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -ECONNABORTED,
				    "the peer aborted (unreadable reason)");
	a = (WireAbort *)m;
	ev = protobuf_c_enum_descriptor_get_value(&wire_abort_reason__descriptor, a->reason);
	session_fail(s, a->reason, -ECONNABORTED, "the peer aborted while %s (%s): %s",
		     session_state_name(s->state), ev ? ev->name : "?",
		     a->message ? a->message : "no reason given");
	protobuf_c_message_free_unpacked(m, NULL);
	return -ECONNABORTED;
}

/* ---- handshake ---- */

static int session_on_hello(struct session *s, const WireHello *m)
{
	WireChallenge c = WIRE_CHALLENGE__INIT;
	int r;

	if (m->protocol_version != WIRE_PROTOCOL_VERSION)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_VERSION, -EPROTONOSUPPORT,
				    "protocol version %u, this destination speaks %u: update both "
				    "sides",
				    m->protocol_version, WIRE_PROTOCOL_VERSION);
	r = auth_server_challenge(&s->auth, s->opts->psk, m->client_nonce.data,
				  m->client_nonce.len);
	if (r < 0)
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, r,
				    "cannot start the handshake: %s", err_detail());
	c.server_nonce.data = s->auth.server_nonce;
	c.server_nonce.len = AUTH_NONCE_SIZE;
	c.has_features = true;
	c.features = m->features & (WIRE_FEATURE_LZ4 | WIRE_FEATURE_NET);
	return session_send(s, WIRE_CHALLENGE, &c.base);
}

static int session_on_proof(struct session *s, const WireAuthProof *m)
{
	WireAuthOk ok = WIRE_AUTH_OK__INIT;
	uint8_t proof[AUTH_PROOF_SIZE];
	int r;

	r = auth_server_verify(&s->auth, m->proof.data, m->proof.len, proof);
	if (r < 0) {
		log_warn("authentication failed: the client does not know the key");
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_AUTH, -EACCES, "wrong key");
	}
	ok.proof.data = proof;
	ok.proof.len = sizeof(proof);
	r = session_send(s, WIRE_AUTH_OK, &ok.base);
	/* Frames larger than the handshake's are welcome from now on. */
	s->dec.max_payload = WIRE_MAX_PAYLOAD;
	if (r == 0)
		log_info("authenticated");
	return r;
}

/* ---- Go ---- */

/* The network handover, then the process runs; r < 0: it never ran here. */
static int session_go_resume(struct session *s, const WireGo *m)
{
	int r;

	r = session_net_go(s, m);
	if (r < 0)
		return r;
	r = session_tree_resume(s); /* a tree: the others first, as restore_run does */
	if (r < 0)
		return r;
	server_log_clear_error();
	r = restore_proc_resume(s->proc);
	if (r < 0)
		return session_fail_restore(s, r, "cannot resume the restored process");
	return 0;
}

static int session_on_go(struct session *s, const WireGo *m)
{
	WireVerdict v = WIRE_VERDICT__INIT;
	uint64_t t0 = session_now_ns();
	int r;

	r = session_go_resume(s, m);
	if (r < 0) {
		/* Never resumed: killing it (quietly) leaves the source the one copy. */
		session_net_undo(s);
		session_tree_kill(s); /* a tree: the others too, even if they ran already */
		restore_proc_abort(s->proc);
		v.message = s->fail.message;
		v.has_error = true;
		v.error = r;
		log_error("pid %u: %s", s->pid, s->fail.message);
		s->peer_gone = true; /* the Verdict says it all */
	} else {
		s->resumed = true;
		session_tree_outcome(s, false); /* a tree: its socket files stay */
		s->resume_ns = session_now_ns() - t0;
		v.ok = true;
	}
	v.has_pid = v.has_restore_ns = v.has_apply_pages_ns = true;
	v.has_apply_state_ns = v.has_resume_ns = true;
	v.pid = s->pid;
	/* The destination's share of the freeze window: from the final round's Layout (the
	 * first frame sent frozen) to the process running, waits for the network included. */
	v.restore_ns = session_now_ns() - s->final_at_ns;
	v.apply_pages_ns = s->final_pages_ns;
	v.apply_state_ns = s->finish_ns;
	v.resume_ns = s->resume_ns;
	v.has_ip_claim_ns = v.has_ips_claimed = v.has_sockets_resume_ns = true;
	v.ip_claim_ns = s->net.claim_ns;
	v.ips_claimed = (uint32_t)s->net.nr_claims;
	v.sockets_resume_ns = s->net.resume_ns;
	session_fault_point(s, "before-verdict");
	if (session_send(s, WIRE_VERDICT, &v.base) < 0 && s->resumed)
		/* Nothing to undo: the source agent keeps its copy stopped (outcome unknown). */
		log_warn("pid %u runs, but the verdict did not reach the source: %s", s->pid,
			 s->fail.message);
	if (s->resumed) {
		session_net_announce(s, AF_INET);
		log_info("pid %u runs here: destination window %.1f ms (pages %.1f, state %.1f, "
			 "resume %.1f)",
			 s->pid, v.restore_ns / 1e6, v.apply_pages_ns / 1e6, v.apply_state_ns / 1e6,
			 v.resume_ns / 1e6);
		session_images_publish(s);
	}
	return r < 0 ? r : 0;
}

/* ---- dispatch ---- */

static int session_on_message(struct session *s, unsigned int type, ProtobufCMessage *m,
			      bool *ret_final, bool *ret_taken)
{
	switch (type) {
	case WIRE_HELLO:
		return session_on_hello(s, (WireHello *)m);
	case WIRE_AUTH_PROOF:
		return session_on_proof(s, (WireAuthProof *)m);
	case WIRE_START:
		return session_on_start(s, (WireStart *)m);
	case WIRE_LAYOUT:
		*ret_taken = true;
		return session_on_layout(s, (WireLayout *)m);
	case WIRE_ROUND_END:
		*ret_final = ((WireRoundEnd *)m)->has_final && ((WireRoundEnd *)m)->final;
		return session_on_round_end(s, (WireRoundEnd *)m);
	case WIRE_RESIDENCY:
		*ret_taken = true;
		return session_on_residency(s, (WireResidency *)m);
	case WIRE_IMAGE_RECORD:
		return session_on_record(s, (WireImageRecord *)m);
	case WIRE_COMMIT:
		return session_on_commit(s, (WireCommit *)m);
	case WIRE_GO:
		return session_on_go(s, (WireGo *)m);
	}
	return -EPROTO;
}

static int session_on_frame(struct session *s, const struct wire_frame *f)
{
	ProtobufCMessage *m = NULL;
	bool final = false, taken = false;
	int r;

	if (f->type == WIRE_ABORT)
		return session_peer_abort(s, f);
	if (!session_fsm_allowed(s->state, f->type))
		return session_unexpected(s, f);
	if (f->len > session_fsm_max_payload(f->type))
		return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, -EMSGSIZE,
				    "%s frame of %u bytes is over the %u-byte limit of its type",
				    wire_type_name(f->type), f->len,
				    session_fsm_max_payload(f->type));
	if (f->type == WIRE_PAGE_BATCH) {
		r = session_on_pages(s, f);
	} else {
		r = wire_frame_unpack(f, &m);
		if (r < 0)
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL, r,
					    "malformed frame: %s", err_detail());
		r = session_on_message(s, f->type, m, &final, &taken);
		if (!taken)
			protobuf_c_message_free_unpacked(m, NULL);
	}
	if (r == 0)
		s->state = session_fsm_next(s->state, f->type, final);
	return r;
}

static int session_loop(struct session *s)
{
	int r = 0;

	s->wait_from_ns = session_now_ns();
	while (r == 0 && s->state != SESSION_DONE) {
		struct wire_frame f = { 0 };

		/* A peer that streams without pause never lets session_wait see the signal. */
		if (session_cancel)
			return session_fail(s, WIRE_ABORT_REASON__WIRE_ABORT_CANCELLED, -ECANCELED,
					    "the destination daemon is stopping");
		r = session_recv(s, &f);
		if (r == 0)
			r = session_on_frame(s, &f);
		wire_frame_fini(&f);
	}
	return r;
}

static void session_signals(void)
{
	struct sigaction sa = { .sa_handler = session_signal_cb, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* The daemon forks us with every signal blocked: only now can they come. */
	sigemptyset(&sa.sa_mask);
	sigprocmask(SIG_SETMASK, &sa.sa_mask, NULL);
}

static void session_fini(struct session *s)
{
	session_tree_fini(s); /* the others of a tree, children first; the root stays */
	if (s->proc && !s->resumed)
		session_net_undo(s); /* the puppet dies quietly, nothing claimed stays */
	session_net_fini(s);
	restore_proc_free(s->proc); /* kills the puppet unless it was resumed */
	s->proc = NULL;
	session_pages_fini(s);
	session_image_fini(s);
	auth_session_fini(&s->auth);
	wire_decoder_fini(&s->dec);
	free(s->rbuf);
	if (s->fd >= 0)
		close(s->fd);
}

int session_run(int fd, const struct session_opts *opts)
{
	struct session s = { .fd = fd, .opts = opts };
	int r;

	session_signals();
	/* The handshake's frames are small: a stranger cannot make us allocate more. */
	wire_decoder_init(&s.dec, session_fsm_max_payload(WIRE_HELLO));
	s.rbuf = malloc(SESSION_RBUF_SIZE);
	r = s.rbuf ? session_loop(&s) : -ENOMEM;
	if (r == -ENOMEM && !s.fail.message[0])
		session_fail(&s, WIRE_ABORT_REASON__WIRE_ABORT_INTERNAL, r, "out of memory");
	if (r < 0 && !s.resumed) {
		if (s.fail.reason != WIRE_ABORT_REASON__WIRE_ABORT_AUTH)
			log_error("%s%s", s.fail.message,
				  s.proc ? ": the process being built here is killed" : "");
		session_send_abort(&s);
	}
	session_fini(&s);
	if (r < 0 && !s.resumed)
		return SESSION_EXIT_FAILED;
	return SESSION_EXIT_OK;
}
