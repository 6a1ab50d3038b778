/*
 * The page server's session (migrate-dst): the order of frames as a pure function, the range
 * set of written pages, the command line, the checks of records held in memory, and whole
 * sessions over a socketpair up to the point where a process would be made (handshake, wrong
 * key, garbage, oversized and out-of-order frames).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "dst_server.h"
#include "dst_session.h"
#include "dst_session_internal.h"
#include "err.h"
#include "image.h"
#include "wire.h"

/* ---- the order of frames ---- */

static void test_fsm_happy_path(void **state)
{
	static const struct {
		unsigned int type;
		bool final;
		enum session_state next;
	} steps[] = {
		{ WIRE_HELLO, false, SESSION_PROOF },
		{ WIRE_AUTH_PROOF, false, SESSION_START },
		{ WIRE_START, false, SESSION_LAYOUT },
		{ WIRE_LAYOUT, false, SESSION_PAGES },
		{ WIRE_PAGE_BATCH, false, SESSION_PAGES },
		{ WIRE_PAGE_BATCH, false, SESSION_PAGES },
		{ WIRE_ROUND_END, false, SESSION_LAYOUT },
		{ WIRE_LAYOUT, false, SESSION_PAGES },
		{ WIRE_ROUND_END, true, SESSION_RESIDENCY },
		{ WIRE_RESIDENCY, false, SESSION_RECORDS },
		{ WIRE_IMAGE_RECORD, false, SESSION_RECORDS },
		{ WIRE_COMMIT, false, SESSION_GO },
		{ WIRE_GO, false, SESSION_DONE },
	};
	enum session_state s = SESSION_HELLO;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_true(session_fsm_allowed(s, steps[i].type));
		s = session_fsm_next(s, steps[i].type, steps[i].final);
		assert_int_equal(s, steps[i].next);
	}
}

/* The allowed (state, type) pairs, exactly: everything else is refused. */
static bool fsm_expected(enum session_state s, unsigned int t)
{
	switch (s) {
	case SESSION_HELLO:
		return t == WIRE_HELLO;
	case SESSION_PROOF:
		return t == WIRE_AUTH_PROOF;
	case SESSION_START:
		return t == WIRE_START;
	case SESSION_LAYOUT:
		return t == WIRE_LAYOUT;
	case SESSION_PAGES: /* a tree: the next process's Layout in the same round */
		return t == WIRE_PAGE_BATCH || t == WIRE_ROUND_END || t == WIRE_LAYOUT;
	case SESSION_RESIDENCY:
		return t == WIRE_RESIDENCY;
	case SESSION_RECORDS: /* a tree: a Residency per process */
		return t == WIRE_IMAGE_RECORD || t == WIRE_COMMIT || t == WIRE_RESIDENCY;
	case SESSION_GO:
		return t == WIRE_GO;
	case SESSION_DONE:
		return false;
	}
	return false;
}

/* A tree of two: each round a Layout and pages per process, a Residency per process. */
static void test_fsm_tree_path(void **state)
{
	static const struct {
		unsigned int type;
		bool final;
		enum session_state next;
	} steps[] = {
		{ WIRE_START, false, SESSION_LAYOUT },
		{ WIRE_LAYOUT, false, SESSION_PAGES },
		{ WIRE_PAGE_BATCH, false, SESSION_PAGES },
		{ WIRE_LAYOUT, false, SESSION_PAGES },
		{ WIRE_PAGE_BATCH, false, SESSION_PAGES },
		{ WIRE_ROUND_END, false, SESSION_LAYOUT },
		{ WIRE_LAYOUT, false, SESSION_PAGES },
		{ WIRE_LAYOUT, false, SESSION_PAGES },
		{ WIRE_ROUND_END, true, SESSION_RESIDENCY },
		{ WIRE_RESIDENCY, false, SESSION_RECORDS },
		{ WIRE_RESIDENCY, false, SESSION_RECORDS },
		{ WIRE_IMAGE_RECORD, false, SESSION_RECORDS },
		{ WIRE_COMMIT, false, SESSION_GO },
	};
	enum session_state s = SESSION_START;

	(void)state;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_true(session_fsm_allowed(s, steps[i].type));
		s = session_fsm_next(s, steps[i].type, steps[i].final);
		assert_int_equal(s, steps[i].next);
	}
}

static void test_fsm_table(void **state)
{
	for (int s = SESSION_HELLO; s <= SESSION_DONE; s++) {
		for (unsigned int t = 0; t < WIRE_TYPE_END + 3; t++) {
			bool want = t == WIRE_ABORT || fsm_expected(s, t);

			assert_int_equal(session_fsm_allowed(s, t), want);
			if (!want)
				assert_int_equal(session_fsm_next(s, t, false), SESSION_DONE);
		}
		assert_int_equal(session_fsm_next(s, WIRE_ABORT, false), SESSION_DONE);
		assert_string_not_equal(session_state_name(s), "unknown");
	}
	/* Nothing about the process before authentication. */
	assert_false(session_fsm_authenticated(SESSION_HELLO));
	assert_false(session_fsm_authenticated(SESSION_PROOF));
	assert_true(session_fsm_authenticated(SESSION_START));
	/* Server-to-client frames are never accepted. */
	for (int s = SESSION_HELLO; s <= SESSION_DONE; s++) {
		assert_false(session_fsm_allowed(s, WIRE_CHALLENGE));
		assert_false(session_fsm_allowed(s, WIRE_AUTH_OK));
		assert_false(session_fsm_allowed(s, WIRE_READY));
		assert_false(session_fsm_allowed(s, WIRE_VERDICT));
	}
}

static void test_fsm_limits(void **state)
{
	assert_true(session_fsm_max_payload(WIRE_HELLO) <= 64U << 10);
	assert_true(session_fsm_max_payload(WIRE_AUTH_PROOF) <= 64U << 10);
	assert_int_equal(session_fsm_max_payload(WIRE_PAGE_BATCH), WIRE_MAX_PAYLOAD);
	assert_int_equal(session_fsm_max_payload(WIRE_CHALLENGE), 0);
	assert_int_equal(session_fsm_max_payload(WIRE_TYPE_END), 0);
	for (unsigned int t = 1; t < WIRE_TYPE_END; t++)
		assert_true(session_fsm_max_payload(t) <= WIRE_MAX_PAYLOAD);
}

/* ---- written pages ---- */

#define P 4096ULL

static void ranges_expect(const struct session_ranges *set, size_t n, ...)
{
	va_list ap;

	assert_int_equal(set->n, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(set->r[i].start, va_arg(ap, uint64_t));
		assert_int_equal(set->r[i].end, va_arg(ap, uint64_t));
	}
	va_end(ap);
}

static void test_ranges(void **state)
{
	struct session_ranges set = { 0 };

	assert_int_equal(session_ranges_add(&set, 10 * P, 12 * P), 0);
	assert_int_equal(session_ranges_add(&set, 20 * P, 21 * P), 0);
	assert_int_equal(session_ranges_add(&set, 0, P), 0);
	ranges_expect(&set, 3, 0ULL, P, 10 * P, 12 * P, 20 * P, 21 * P);
	/* Adjacent on the left and right: merged. */
	assert_int_equal(session_ranges_add(&set, 12 * P, 13 * P), 0);
	assert_int_equal(session_ranges_add(&set, 9 * P, 10 * P), 0);
	ranges_expect(&set, 3, 0ULL, P, 9 * P, 13 * P, 20 * P, 21 * P);
	/* Inside one: nothing changes. */
	assert_int_equal(session_ranges_add(&set, 10 * P, 11 * P), 0);
	ranges_expect(&set, 3, 0ULL, P, 9 * P, 13 * P, 20 * P, 21 * P);
	/* Over two and the gap between: one. */
	assert_int_equal(session_ranges_add(&set, 11 * P, 20 * P), 0);
	ranges_expect(&set, 2, 0ULL, P, 9 * P, 21 * P);
	assert_int_equal(session_ranges_find(&set, 0), 0);
	assert_int_equal(session_ranges_find(&set, P), 1);
	assert_int_equal(session_ranges_find(&set, 20 * P), 1);
	assert_int_equal(session_ranges_find(&set, 21 * P), 2);
	/* Many, in descending order (the worst for insertion). */
	for (uint64_t i = 1000; i > 100; i--)
		assert_int_equal(session_ranges_add(&set, i * 2 * P, (i * 2 + 1) * P), 0);
	assert_int_equal(set.n, 2 + 900);
	session_ranges_fini(&set);
	assert_int_equal(set.n, 0);
}

/* ---- command line ---- */

static int parse(struct server_opts *o, ...)
{
	char *argv[16] = { "migrate-dst" };
	int argc = 1;
	va_list ap;

	va_start(ap, o);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	return server_opts_parse(argc, argv, o);
}

static void test_opts(void **state)
{
	struct server_opts o;

	assert_int_equal(parse(&o, "--listen", "10.0.0.2:7071", "--psk-file", "/k", NULL), 0);
	assert_string_equal(o.host, "10.0.0.2");
	assert_string_equal(o.port, "7071");
	assert_string_equal(o.psk_file, "/k");
	assert_int_equal(o.max_sessions, SERVER_DEFAULT_MAX_SESSIONS);
	assert_null(o.images_dir);
	assert_null(o.log_file);

	assert_int_equal(parse(&o, "--listen", "[::1]:7072", "--psk-file", "/k", "-v",
			       "--max-sessions", "9", "--images-dir", "/i", "--log", "/l", NULL),
			 0);
	assert_string_equal(o.host, "::1");
	assert_string_equal(o.port, "7072");
	assert_int_equal(o.max_sessions, 9);
	assert_int_equal(o.level, LOG_LEVEL_DEBUG);
	assert_string_equal(o.images_dir, "/i");
	assert_string_equal(o.log_file, "/l");

	assert_int_equal(parse(&o, "--listen", ":7073", "--psk-file", "/k", "-q", NULL), 0);
	assert_string_equal(o.host, "");
	assert_int_equal(o.level, LOG_LEVEL_QUIET);
	assert_int_equal(parse(&o, "--listen", "localhost", "--psk-file", "/k", NULL), 0);
	assert_string_equal(o.port, "7070");

	assert_int_equal(parse(&o, "--help", NULL), 0);
	assert_true(o.help);
	assert_int_equal(parse(&o, "--version", NULL), 0);
	assert_true(o.version);

	/* Refused, each with the offending argument quoted. */
	assert_int_equal(parse(&o, "--psk-file", "/k", NULL), -EINVAL);
	assert_int_equal(parse(&o, "--listen", "1.2.3.4:7070", NULL), -EINVAL);
	assert_non_null(strstr(err_detail(), "--psk-file"));
	assert_int_equal(parse(&o, "--listen", "1.2.3.4:0", "--psk-file", "/k", NULL), -EINVAL);
	assert_int_equal(parse(&o, "--listen", "1.2.3.4:70000", "--psk-file", "/k", NULL), -EINVAL);
	assert_int_equal(parse(&o, "--listen", "1.2.3.4:x", "--psk-file", "/k", NULL), -EINVAL);
	assert_non_null(strstr(err_detail(), "'x'"));
	assert_int_equal(parse(&o, "--listen", "::1:7070", "--psk-file", "/k", NULL), -EINVAL);
	assert_int_equal(parse(&o, "--listen", "[::1", "--psk-file", "/k", NULL), -EINVAL);
	assert_int_equal(parse(&o, "--listen", "a:1", "--psk-file", "/k", "--max-sessions", "0",
			       NULL),
			 -EINVAL);
	assert_int_equal(parse(&o, "--listen", "a:1", "--psk-file", "/k", "--max-sessions",
			       "100000", NULL),
			 -EINVAL);
	assert_int_equal(parse(&o, "--listen", "a:1", "--psk-file", "/k", "--frobnicate", NULL),
			 -EINVAL);
	assert_non_null(strstr(err_detail(), "--frobnicate"));
	assert_int_equal(parse(&o, "--listen", "a:1", "--psk-file", "/k", "extra", NULL), -EINVAL);
	assert_int_equal(parse(&o, "--listen", NULL), -EINVAL);
}

/* ---- records held in memory ---- */

static void test_task_check(void **state)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	PstreeEntry ps = PSTREE_ENTRY__INIT;
	TaskCoreEntry core = TASK_CORE_ENTRY__INIT;
	ThreadCoreEntry th = THREAD_CORE_ENTRY__INIT, *ths[] = { &th };
	MmEntry mm = MM_ENTRY__INIT;
	VmaEntry v1 = VMA_ENTRY__INIT, v2 = VMA_ENTRY__INIT, *vmas[] = { &v1, &v2 };
	FdEntry f1 = FD_ENTRY__INIT, f2 = FD_ENTRY__INIT, *fds[] = { &f1, &f2 };
	uint32_t tids[] = { 4242 };
	struct image_task t = {
		.pstree = &ps, .core = &core, .mm = &mm, .fds = fds, .fd_count = 2, .pages_fd = -1
	};

	inv.image_version = IMAGE_FORMAT_VERSION;
	inv.page_size = IMAGE_PAGE_SIZE;
	inv.arch = "x86_64";
	inv.root_pid = 4242;
	ps.pid = 4242;
	ps.threads = tids;
	ps.n_threads = 1;
	core.pid = 4242;
	th.tid = 4242;
	core.threads = ths;
	core.n_threads = 1;
	v1.start = 0x10000;
	v1.end = 0x20000;
	v2.start = 0x20000;
	v2.end = 0x30000;
	mm.vmas = vmas;
	mm.n_vmas = 2;
	f1.fd = 0;
	f2.fd = 1;
	assert_int_equal(image_task_check(&inv, &t), 0);

	f2.fd = 0;
	assert_int_equal(image_task_check(&inv, &t), -EBADMSG);
	assert_non_null(strstr(err_detail(), "fd 0"));
	f2.fd = 1;
	v2.start = 0x18000;
	assert_int_equal(image_task_check(&inv, &t), -EBADMSG);
	v2.start = 0x20000;
	th.tid = 4243;
	assert_int_equal(image_task_check(&inv, &t), -EBADMSG);
	th.tid = 4242;
	inv.root_pid = 1;
	assert_int_equal(image_task_check(&inv, &t), -EBADMSG);
	inv.root_pid = 4242;
	inv.arch = "aarch64";
	assert_int_equal(image_task_check(&inv, &t), -EBADMSG);
	inv.arch = "x86_64";
	assert_int_equal(image_task_check(NULL, &t), -EBADMSG);
	assert_int_equal(image_task_check(&inv, &t), 0);
}

/* ---- whole sessions over a socketpair, up to Start ---- */

struct peer {
	int fd;
	pid_t child;
	struct auth_psk psk;
	struct wire_decoder dec;
};

static const char KEY[] = "0123456789abcdef0123456789abcdef";

static void peer_open(struct peer *p)
{
	static struct auth_psk server_psk;
	int sv[2];

	assert_int_equal(auth_psk_set(&server_psk, KEY, sizeof(KEY) - 1), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->child = fork();
	assert_true(p->child >= 0);
	if (p->child == 0) {
		struct session_opts so = { .psk = &server_psk, .peer = "test", .id = 1 };

		close(sv[0]);
		server_log_init(LOG_LEVEL_QUIET);
		_exit(session_run(sv[1], &so));
	}
	close(sv[1]);
	p->fd = sv[0];
	wire_decoder_init(&p->dec, 0);
}

static void peer_send_raw(struct peer *p, const void *buf, size_t len)
{
	assert_int_equal(write(p->fd, buf, len), (ssize_t)len);
}

static void peer_send(struct peer *p, unsigned int type, const ProtobufCMessage *m)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(wire_encode_alloc(type, m, &buf, &len), 0);
	peer_send_raw(p, buf, len);
	free(buf);
}

/* The next frame's type and message; 0 at EOF. */
static unsigned int peer_recv(struct peer *p, ProtobufCMessage **ret)
{
	uint8_t buf[4096];
	struct wire_frame f = { 0 };
	unsigned int type;

	for (;;) {
		ssize_t n = read(p->fd, buf, 1);
		size_t used;
		int r;

		if (n <= 0)
			return 0;
		r = wire_decoder_feed(&p->dec, buf, 1, &used, &f);
		assert_true(r >= 0);
		if (r == 1)
			break;
	}
	type = f.type;
	assert_int_equal(wire_frame_unpack(&f, ret), 0);
	wire_frame_fini(&f);
	return type;
}

static int peer_close(struct peer *p)
{
	int status;

	close(p->fd);
	wire_decoder_fini(&p->dec);
	assert_int_equal(waitpid(p->child, &status, 0), p->child);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void peer_expect_abort(struct peer *p, int reason)
{
	ProtobufCMessage *m;

	assert_int_equal(peer_recv(p, &m), WIRE_ABORT);
	assert_int_equal(((WireAbort *)m)->reason, reason);
	protobuf_c_message_free_unpacked(m, NULL);
	assert_int_equal(peer_recv(p, &m), 0); /* then EOF */
	assert_int_equal(peer_close(p), SESSION_EXIT_FAILED);
}

static void peer_handshake(struct peer *p, const char *key)
{
	WireHello h = WIRE_HELLO__INIT;
	WireAuthProof proof = WIRE_AUTH_PROOF__INIT;
	struct auth_session s = { 0 };
	struct auth_psk psk;
	uint8_t buf[AUTH_PROOF_SIZE];
	ProtobufCMessage *m;

	assert_int_equal(auth_psk_set(&psk, key, strlen(key)), 0);
	assert_int_equal(auth_client_start(&s, &psk), 0);
	h.protocol_version = WIRE_PROTOCOL_VERSION;
	h.client_nonce.data = s.client_nonce;
	h.client_nonce.len = AUTH_NONCE_SIZE;
	peer_send(p, WIRE_HELLO, &h.base);
	assert_int_equal(peer_recv(p, &m), WIRE_CHALLENGE);
	assert_int_equal(auth_client_prove(&s, ((WireChallenge *)m)->server_nonce.data,
					   AUTH_NONCE_SIZE, buf),
			 0);
	protobuf_c_message_free_unpacked(m, NULL);
	proof.proof.data = buf;
	proof.proof.len = sizeof(buf);
	peer_send(p, WIRE_AUTH_PROOF, &proof.base);
	if (strcmp(key, KEY) != 0) {
		auth_session_fini(&s);
		return;
	}
	assert_int_equal(peer_recv(p, &m), WIRE_AUTH_OK);
	assert_int_equal(auth_client_verify(&s, ((WireAuthOk *)m)->proof.data, AUTH_PROOF_SIZE), 0);
	protobuf_c_message_free_unpacked(m, NULL);
	auth_session_fini(&s);
}

static void test_session_wrong_key(void **state)
{
	struct peer p;

	peer_open(&p);
	peer_handshake(&p, "not the key, but long enough");
	peer_expect_abort(&p, WIRE_ABORT_REASON__WIRE_ABORT_AUTH);
}

static void test_session_garbage(void **state)
{
	static const char junk[] = "GET / HTTP/1.0\r\n\r\n";
	struct peer p;

	peer_open(&p);
	peer_send_raw(&p, junk, sizeof(junk));
	peer_expect_abort(&p, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL);
}

static void test_session_before_auth(void **state)
{
	WireCommit c = WIRE_COMMIT__INIT;
	WireHello h = WIRE_HELLO__INIT;
	uint8_t nonce[AUTH_NONCE_SIZE] = { 1 };
	struct peer p;

	/* Anything but Hello first. */
	peer_open(&p);
	peer_send(&p, WIRE_COMMIT, &c.base);
	peer_expect_abort(&p, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL);
	/* Another protocol version. */
	peer_open(&p);
	h.protocol_version = WIRE_PROTOCOL_VERSION + 1;
	h.client_nonce.data = nonce;
	h.client_nonce.len = sizeof(nonce);
	peer_send(&p, WIRE_HELLO, &h.base);
	peer_expect_abort(&p, WIRE_ABORT_REASON__WIRE_ABORT_VERSION);
	/* A large frame before authentication: refused by its header alone. */
	peer_open(&p);
	uint8_t head[WIRE_HEADER_SIZE];

	wire_header_encode(head, WIRE_HELLO, 0, 1U << 20);
	peer_send_raw(&p, head, sizeof(head));
	peer_expect_abort(&p, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL);
}

static void test_session_after_auth(void **state)
{
	WireLayout l = WIRE_LAYOUT__INIT;
	WireGo go = WIRE_GO__INIT;
	uint8_t head[WIRE_HEADER_SIZE];
	struct peer p;

	/* Out of order: a Layout before Start. */
	peer_open(&p);
	peer_handshake(&p, KEY);
	peer_send(&p, WIRE_LAYOUT, &l.base);
	peer_expect_abort(&p, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL);
	/* A Start that is not protobuf. */
	peer_open(&p);
	peer_handshake(&p, KEY);
	wire_header_encode(head, WIRE_START, 0, 64);
	peer_send_raw(&p, head, sizeof(head));
	uint8_t junk[64];

	memset(junk, 0xff, sizeof(junk));
	peer_send_raw(&p, junk, sizeof(junk));
	peer_expect_abort(&p, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL);
	/* A 4 GiB payload announced. */
	peer_open(&p);
	peer_handshake(&p, KEY);
	wire_header_encode(head, WIRE_START, 0, 0xffffffffU);
	peer_send_raw(&p, head, sizeof(head));
	peer_expect_abort(&p, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL);
	/* Go without anything before it. */
	peer_open(&p);
	peer_handshake(&p, KEY);
	peer_send(&p, WIRE_GO, &go.base);
	peer_expect_abort(&p, WIRE_ABORT_REASON__WIRE_ABORT_PROTOCOL);
	/* The peer leaves after the handshake: no Abort to a closed peer, exit 1. */
	peer_open(&p);
	peer_handshake(&p, KEY);
	assert_int_equal(peer_close(&p), SESSION_EXIT_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fsm_happy_path),
		cmocka_unit_test(test_fsm_tree_path),
		cmocka_unit_test(test_fsm_table),
		cmocka_unit_test(test_fsm_limits),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_opts),
		cmocka_unit_test(test_task_check),
		cmocka_unit_test(test_session_wrong_key),
		cmocka_unit_test(test_session_garbage),
		cmocka_unit_test(test_session_before_auth),
		cmocka_unit_test(test_session_after_auth),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
