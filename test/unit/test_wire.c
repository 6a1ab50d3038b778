/*
 * test_wire: every message type through encoder and incremental decoder,
 * fed whole, one byte at a time and in random chunks; page batches; hostile
 * headers and payloads; and the authentication handshake over frames.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "codec.h"
#include "err.h"
#include "image.h"
#include "wire.h"

static uint8_t nonce_a[32] = { 1, 2, 3 }, nonce_b[32] = { 9, 8, 7 };

/* One valid message of each type, built in static storage. */
static const ProtobufCMessage *sample(unsigned int type)
{
	static WireHello hello = WIRE_HELLO__INIT;
	static WireChallenge challenge = WIRE_CHALLENGE__INIT;
	static WireAuthProof proof = WIRE_AUTH_PROOF__INIT;
	static WireAuthOk ok = WIRE_AUTH_OK__INIT;
	static WireAbort abort_msg = WIRE_ABORT__INIT;
	static WireImageRecord rec = WIRE_IMAGE_RECORD__INIT;
	static WireRoundEnd round_end = WIRE_ROUND_END__INIT;
	static WireVerdict verdict = WIRE_VERDICT__INIT;
	static uint8_t record[] = { 0x08, 0x2a };
	static InventoryEntry inv = INVENTORY_ENTRY__INIT;
	static PstreeEntry pst = PSTREE_ENTRY__INIT;
	static uint32_t tids[] = { 42, 43 };
	static WireStart start = WIRE_START__INIT;
	static WireStartOk start_ok = WIRE_START_OK__INIT;
	static VmaEntry vma = VMA_ENTRY__INIT;
	static VmaEntry *vmas[] = { &vma };
	static WireRange range = WIRE_RANGE__INIT;
	static WireRange *ranges[] = { &range };
	static WireLayout layout = WIRE_LAYOUT__INIT;
	static WireRoundAck ack = WIRE_ROUND_ACK__INIT;
	static WireResidency residency = WIRE_RESIDENCY__INIT;
	static WireCommit commit = WIRE_COMMIT__INIT;
	static WireReady ready = WIRE_READY__INIT;
	static WireGo go = WIRE_GO__INIT;

	switch (type) {
	case WIRE_HELLO:
		hello.protocol_version = WIRE_PROTOCOL_VERSION;
		hello.features = WIRE_FEATURE_LZ4;
		hello.client_nonce = (ProtobufCBinaryData){ 32, nonce_a };
		hello.tool_version = "0.1.0";
		return &hello.base;
	case WIRE_CHALLENGE:
		challenge.server_nonce = (ProtobufCBinaryData){ 32, nonce_b };
		return &challenge.base;
	case WIRE_AUTH_PROOF:
		proof.proof = (ProtobufCBinaryData){ 32, nonce_a };
		return &proof.base;
	case WIRE_AUTH_OK:
		ok.proof = (ProtobufCBinaryData){ 32, nonce_b };
		return &ok.base;
	case WIRE_ABORT:
		abort_msg.reason = WIRE_ABORT_REASON__WIRE_ABORT_RESTORE;
		abort_msg.message = "cannot restore pid 42: pid is taken by 'sshd'";
		abort_msg.has_error = true;
		abort_msg.error = -EBUSY;
		return &abort_msg.base;
	case WIRE_IMAGE_RECORD:
		rec.kind = IMAGE_CORE;
		rec.has_pid = true;
		rec.pid = 42;
		rec.record = (ProtobufCBinaryData){ sizeof(record), record };
		return &rec.base;
	case WIRE_ROUND_END:
		round_end.round = 3;
		round_end.has_final = true;
		round_end.final = true;
		round_end.has_pages_sent = true;
		round_end.pages_sent = 12345;
		return &round_end.base;
	case WIRE_VERDICT:
		verdict.ok = true;
		verdict.has_pid = true;
		verdict.pid = 42;
		verdict.has_restore_ns = true;
		verdict.restore_ns = 1500000;
		return &verdict.base;
	case WIRE_START:
		inv.image_version = 1;
		inv.tool_version = "0.1.0";
		inv.root_pid = 42;
		inv.page_size = 4096;
		pst.pid = 42;
		pst.n_threads = 2;
		pst.threads = tids;
		start.inventory = &inv;
		start.pstree = &pst;
		return &start.base;
	case WIRE_START_OK:
		start_ok.pid = 42;
		return &start_ok.base;
	case WIRE_LAYOUT:
		vma.start = 0x400000;
		vma.end = 0x402000;
		vma.prot = 3;
		vma.flags = 0x22;
		range.start = 0x400000;
		range.end = 0x401000;
		layout.pid = 42;
		layout.n_vmas = 1;
		layout.vmas = vmas;
		layout.n_reset = 1;
		layout.reset = ranges;
		return &layout.base;
	case WIRE_ROUND_ACK:
		ack.round = 2;
		return &ack.base;
	case WIRE_RESIDENCY:
		range.start = 0x400000;
		range.end = 0x401000;
		residency.pid = 42;
		residency.n_resident = 1;
		residency.resident = ranges;
		return &residency.base;
	case WIRE_COMMIT:
		return &commit.base;
	case WIRE_READY:
		ready.pid = 42;
		return &ready.base;
	case WIRE_GO:
		return &go.base;
	}
	return NULL;
}

/* Feeds buf in chunks (chunk 0: random sizes); collects up to max frames. */
static int feed_all(const uint8_t *buf, size_t len, size_t chunk, struct wire_frame *frames,
		    size_t max, size_t *ret_count)
{
	struct wire_decoder d;
	size_t off = 0, count = 0;
	int r = 0;

	wire_decoder_init(&d, 0);
	while (off < len) {
		size_t n = chunk ? chunk : 1 + (size_t)rand() % 97, used = 0;

		if (n > len - off)
			n = len - off;
		while (n) {
			r = wire_decoder_feed(&d, buf + off, n, &used, &frames[count]);
			if (r < 0)
				goto out;
			off += used;
			n -= used;
			if (r == 1) {
				assert_true(count < max);
				count++;
			}
		}
	}
	r = wire_decoder_finish(&d);
out:
	wire_decoder_fini(&d);
	*ret_count = count;
	return r;
}

static void test_round_trip_all(void **state)
{
	uint8_t *stream = NULL;
	size_t len = 0;
	size_t chunks[] = { 1, 0, 7, 1 << 20 };

	for (unsigned int t = WIRE_HELLO; t < WIRE_TYPE_END; t++) {
		uint8_t *buf;
		size_t n;

		if (t == WIRE_PAGE_BATCH)
			continue;
		assert_int_equal(wire_encode_alloc(t, sample(t), &buf, &n), 0);
		assert_int_equal(n, wire_frame_size(sample(t)));
		stream = realloc(stream, len + n);
		memcpy(stream + len, buf, n);
		len += n;
		free(buf);
	}
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct wire_frame frames[WIRE_TYPE_END];
		size_t count, i = 0;

		assert_int_equal(feed_all(stream, len, chunks[c], frames, WIRE_TYPE_END, &count), 0);
		assert_int_equal(count, WIRE_TYPE_END - 2);
		for (unsigned int t = WIRE_HELLO; t < WIRE_TYPE_END; t++) {
			ProtobufCMessage *m;
			uint8_t *a, *b;
			size_t na, nb;

			if (t == WIRE_PAGE_BATCH)
				continue;
			assert_int_equal(frames[i].type, t);
			assert_int_equal(wire_frame_unpack(&frames[i], &m), 0);
			/* Same message: re-encoding gives the same bytes. */
			assert_int_equal(wire_encode_alloc(t, m, &a, &na), 0);
			assert_int_equal(wire_encode_alloc(t, sample(t), &b, &nb), 0);
			assert_int_equal(na, nb);
			assert_memory_equal(a, b, na);
			free(a);
			free(b);
			protobuf_c_message_free_unpacked(m, NULL);
			wire_frame_fini(&frames[i++]);
		}
	}
	free(stream);
}

static void test_encode_errors(void **state)
{
	uint8_t buf[8];
	size_t n;

	assert_int_equal(wire_encode(WIRE_HELLO, sample(WIRE_HELLO), buf, sizeof(buf), &n),
			 -ENOBUFS);
	assert_int_equal(wire_encode(WIRE_CHALLENGE, sample(WIRE_HELLO), buf, sizeof(buf), &n),
			 -EINVAL);
	assert_int_equal(wire_encode(WIRE_PAGE_BATCH, sample(WIRE_HELLO), buf, sizeof(buf), &n),
			 -EINVAL);
	assert_string_equal(wire_type_name(WIRE_VERDICT), "Verdict");
	assert_string_equal(wire_type_name(999), "unknown");
}

static void test_page_batch(void **state)
{
	uint8_t *pages = calloc(64, CODEC_PAGE_SIZE), *head, *frame;
	struct codec_batch b;
	struct wire_frame f;
	struct wire_pages p;
	size_t head_len, count;

	for (size_t i = 0; i < 64 * CODEC_PAGE_SIZE; i++)
		if ((i / CODEC_PAGE_SIZE) % 3)
			pages[i] = (uint8_t)((i / CODEC_PAGE_SIZE) % 5 == 0 ? (size_t)rand() : i % 13);
	codec_batch_init(&b);
	assert_int_equal(codec_batch_add(&b, 0x400000, pages, 64, NULL), 0);
	assert_int_equal(wire_page_batch_head(42, 2, &b, &head, &head_len), 0);
	frame = malloc(head_len + b.data_len);
	memcpy(frame, head, head_len);
	memcpy(frame + head_len, b.data, b.data_len);
	assert_int_equal(feed_all(frame, head_len + b.data_len, 0, &f, 1, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(f.type, WIRE_PAGE_BATCH);
	assert_int_equal(wire_page_batch_parse(&f, &p), 0);
	assert_int_equal(p.pid, 42);
	assert_int_equal(p.round, 2);
	assert_int_equal(p.nr_runs, b.nr_runs);
	for (size_t i = 0; i < b.nr_runs; i++) { /* field by field: structs have padding */
		assert_int_equal(p.runs[i].vaddr, b.runs[i].vaddr);
		assert_int_equal(p.runs[i].nr_pages, b.runs[i].nr_pages);
		assert_int_equal(p.runs[i].encoding, b.runs[i].encoding);
		assert_int_equal(p.runs[i].encoded_size, b.runs[i].encoded_size);
	}
	assert_int_equal(p.data_len, b.data_len);
	assert_memory_equal(p.data, b.data, b.data_len);
	wire_pages_fini(&p);

	/* One byte of page data missing from the payload (the header says so). */
	f.len--;
	assert_int_equal(wire_page_batch_parse(&f, &p), -EBADMSG);
	assert_non_null(strstr(err_detail(), "declare"));
	/* Header length past the payload. */
	f.len++;
	f.payload[0] = 0xff;
	f.payload[1] = 0xff;
	assert_int_equal(wire_page_batch_parse(&f, &p), -EBADMSG);
	/* Not a page batch. */
	f.type = WIRE_HELLO;
	assert_int_equal(wire_page_batch_parse(&f, &p), -EPROTO);
	f.type = WIRE_PAGE_BATCH;
	{
		ProtobufCMessage *m;

		assert_int_equal(wire_frame_unpack(&f, &m), -EPROTO);
	}
	wire_frame_fini(&f);
	free(frame);
	free(head);
	codec_batch_fini(&b);
	free(pages);
}

/* A header then payload bytes; returns the decoder's verdict on them. */
static int feed_one(unsigned int magic, unsigned int version, unsigned int type,
		    unsigned int flags, uint32_t len, const uint8_t *payload, size_t payload_len,
		    struct wire_frame *f)
{
	uint8_t buf[256];
	size_t count;

	wire_header_encode(buf, (enum wire_type)type, flags, len);
	buf[0] = (uint8_t)magic; /* the low byte is enough to break or keep the magic */
	buf[4] = (uint8_t)version;
	assert_true(payload_len <= sizeof(buf) - WIRE_HEADER_SIZE);
	if (payload_len)
		memcpy(buf + WIRE_HEADER_SIZE, payload, payload_len);
	memset(f, 0, sizeof(*f));
	return feed_all(buf, WIRE_HEADER_SIZE + payload_len, 1, f, 1, &count);
}

static void expect(int r, int want, const char *detail)
{
	assert_int_equal(r, want);
	assert_non_null(strstr(err_detail(), detail));
}

static void test_hostile_headers(void **state)
{
	const uint8_t m = (uint8_t)WIRE_MAGIC;
	struct wire_frame f;
	uint8_t junk[64];
	ProtobufCMessage *msg;

	memset(junk, 0xff, sizeof(junk));
	expect(feed_one(0x00, 1, WIRE_HELLO, 0, 0, NULL, 0, &f), -EPROTO, "bad magic");
	expect(feed_one(m, 2, WIRE_HELLO, 0, 0, NULL, 0, &f), -EPROTONOSUPPORT, "frame version 2");
	expect(feed_one(m, 1, 0, 0, 0, NULL, 0, &f), -EPROTO, "unknown message type 0");
	expect(feed_one(m, 1, 4242, 0, 0, NULL, 0, &f), -EPROTO, "unknown message type 4242");
	expect(feed_one(m, 1, WIRE_HELLO, 4, 0, NULL, 0, &f), -EPROTO, "unknown flags");
	expect(feed_one(m, 1, WIRE_HELLO, 0, WIRE_MAX_PAYLOAD + 1, NULL, 0, &f), -EMSGSIZE,
	       "over the");
	expect(feed_one(m, 1, WIRE_HELLO, 0, 0xffffffff, NULL, 0, &f), -EMSGSIZE, "limit");
	/* Truncated: the stream ends inside the payload, or inside the header. */
	expect(feed_one(m, 1, WIRE_HELLO, 0, 40, junk, 10, &f), -EPROTO, "10 of 40");
	{
		uint8_t h[WIRE_HEADER_SIZE];
		size_t count;

		wire_header_encode(h, WIRE_HELLO, 0, 0);
		expect(feed_all(h, 5, 1, &f, 1, &count), -EPROTO, "inside the header");
	}
	/* Garbage protobuf in a complete frame. */
	assert_int_equal(feed_one(m, 1, WIRE_VERDICT, 0, 20, junk, 20, &f), 0);
	expect(wire_frame_unpack(&f, &msg), -EBADMSG, "do not decode as WireVerdict");
	wire_frame_fini(&f);
	/* An empty payload misses required fields. */
	assert_int_equal(feed_one(m, 1, WIRE_HELLO, 0, 0, NULL, 0, &f), 0);
	expect(wire_frame_unpack(&f, &msg), -EBADMSG, "do not decode");
	wire_frame_fini(&f);
}

static void test_sticky_error(void **state)
{
	struct wire_decoder d;
	struct wire_frame f;
	uint8_t bad[WIRE_HEADER_SIZE] = { 0 }, good[WIRE_HEADER_SIZE];
	size_t used;

	wire_header_encode(good, WIRE_ROUND_END, 0, 0);
	wire_decoder_init(&d, 0);
	assert_int_equal(wire_decoder_feed(&d, bad, sizeof(bad), &used, &f), -EPROTO);
	assert_int_equal(wire_decoder_feed(&d, good, sizeof(good), &used, &f), -EPROTO);
	assert_int_equal(wire_decoder_finish(&d), -EPROTO);
	wire_decoder_fini(&d);
	/* A smaller limit of the caller's own. */
	wire_decoder_init(&d, 100);
	wire_header_encode(good, WIRE_ROUND_END, 0, 101);
	assert_int_equal(wire_decoder_feed(&d, good, sizeof(good), &used, &f), -EMSGSIZE);
	wire_decoder_fini(&d);
}

static void test_field_checks(void **state)
{
	WireHello hello = WIRE_HELLO__INIT;
	WireImageRecord rec = WIRE_IMAGE_RECORD__INIT;
	ProtobufCMessage *msg;
	struct wire_frame f;
	uint8_t *buf;
	size_t n, count;

	hello.protocol_version = 1;
	hello.client_nonce = (ProtobufCBinaryData){ 31, nonce_a };
	assert_int_equal(wire_encode_alloc(WIRE_HELLO, &hello.base, &buf, &n), 0);
	assert_int_equal(feed_all(buf, n, 0, &f, 1, &count), 0);
	expect(wire_frame_unpack(&f, &msg), -EBADMSG, "client nonce is 31 bytes");
	wire_frame_fini(&f);
	free(buf);

	rec.kind = IMAGE_PAGES;
	assert_int_equal(wire_encode_alloc(WIRE_IMAGE_RECORD, &rec.base, &buf, &n), 0);
	assert_int_equal(feed_all(buf, n, 0, &f, 1, &count), 0);
	expect(wire_frame_unpack(&f, &msg), -EBADMSG, "unknown image kind");
	wire_frame_fini(&f);
	free(buf);

	rec.kind = IMAGE_CORE; /* per-process kind without a pid */
	assert_int_equal(wire_encode_alloc(WIRE_IMAGE_RECORD, &rec.base, &buf, &n), 0);
	assert_int_equal(feed_all(buf, n, 0, &f, 1, &count), 0);
	expect(wire_frame_unpack(&f, &msg), -EBADMSG, "with pid 0");
	wire_frame_fini(&f);
	free(buf);
}

/* Encodes msg, decodes it again and expects unpacking to refuse it with want_text. */
static void expect_refused(enum wire_type type, const ProtobufCMessage *msg, const char *want_text)
{
	ProtobufCMessage *out;
	struct wire_frame f;
	uint8_t *buf;
	size_t n, count;

	assert_int_equal(wire_encode_alloc(type, msg, &buf, &n), 0);
	assert_int_equal(feed_all(buf, n, 0, &f, 1, &count), 0);
	expect(wire_frame_unpack(&f, &out), -EBADMSG, want_text);
	wire_frame_fini(&f);
	free(buf);
}

static void test_session_field_checks(void **state)
{
	WireResidency res = WIRE_RESIDENCY__INIT;
	WireRange a = WIRE_RANGE__INIT, b = WIRE_RANGE__INIT;
	WireRange *ranges[] = { &a, &b };
	WireLayout layout = WIRE_LAYOUT__INIT;
	VmaEntry v1 = VMA_ENTRY__INIT, v2 = VMA_ENTRY__INIT;
	VmaEntry *vmas[] = { &v1, &v2 };
	WireStart start;
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	PstreeEntry pst = PSTREE_ENTRY__INIT;
	uint32_t tids[] = { 7, 0 };

	res.pid = 1;
	res.n_resident = 1;
	res.resident = ranges;
	a.start = 0x1001; /* not page aligned */
	a.end = 0x3000;
	expect_refused(WIRE_RESIDENCY, &res.base, "not a page-aligned");
	a.start = 0x1000;
	a.end = 1ULL << 48; /* beyond user space */
	expect_refused(WIRE_RESIDENCY, &res.base, "not a page-aligned");
	a.end = 0x3000;
	b.start = 0x2000; /* overlaps a */
	b.end = 0x4000;
	res.n_resident = 2;
	expect_refused(WIRE_RESIDENCY, &res.base, "overlaps");

	layout.pid = 1;
	layout.n_vmas = 2;
	layout.vmas = vmas;
	v1.start = 0x10000;
	v1.end = 0x20000;
	v2.start = 0x18000; /* overlaps v1 */
	v2.end = 0x30000;
	expect_refused(WIRE_LAYOUT, &layout.base, "vma 1");

	wire_start__init(&start);
	start.inventory = &inv;
	start.pstree = &pst;
	inv.tool_version = "";
	pst.pid = 7;
	pst.n_threads = 2;
	pst.threads = tids; /* a zero TID */
	expect_refused(WIRE_START, &start.base, "thread id 0");
	pst.n_threads = 0;
	expect_refused(WIRE_START, &start.base, "is not a process");
}

/* Sends msg from one in-memory peer to the other through the framing. */
static ProtobufCMessage *transfer(enum wire_type type, const ProtobufCMessage *msg)
{
	struct wire_frame f;
	ProtobufCMessage *out;
	uint8_t *buf;
	size_t n, count;

	assert_int_equal(wire_encode_alloc(type, msg, &buf, &n), 0);
	assert_int_equal(feed_all(buf, n, 0, &f, 1, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(f.type, type);
	assert_int_equal(wire_frame_unpack(&f, &out), 0);
	wire_frame_fini(&f);
	free(buf);
	return out;
}

static int handshake_over_wire(const char *client_key, const char *server_key)
{
	struct auth_session cs, ss;
	struct auth_psk ck, sk;
	WireHello hello = WIRE_HELLO__INIT;
	WireChallenge ch = WIRE_CHALLENGE__INIT;
	WireAuthProof ap = WIRE_AUTH_PROOF__INIT;
	WireAuthOk ok = WIRE_AUTH_OK__INIT;
	uint8_t proof[AUTH_PROOF_SIZE], server_proof[AUTH_PROOF_SIZE];
	WireHello *h;
	WireChallenge *c;
	WireAuthProof *p;
	WireAuthOk *o;
	int r;

	assert_int_equal(auth_psk_set(&ck, client_key, strlen(client_key)), 0);
	assert_int_equal(auth_psk_set(&sk, server_key, strlen(server_key)), 0);
	assert_int_equal(auth_client_start(&cs, &ck), 0);
	hello.protocol_version = WIRE_PROTOCOL_VERSION;
	hello.client_nonce = (ProtobufCBinaryData){ AUTH_NONCE_SIZE, cs.client_nonce };
	h = (WireHello *)transfer(WIRE_HELLO, &hello.base);
	assert_int_equal(auth_server_challenge(&ss, &sk, h->client_nonce.data,
					       h->client_nonce.len), 0);
	ch.server_nonce = (ProtobufCBinaryData){ AUTH_NONCE_SIZE, ss.server_nonce };
	c = (WireChallenge *)transfer(WIRE_CHALLENGE, &ch.base);
	assert_int_equal(auth_client_prove(&cs, c->server_nonce.data, c->server_nonce.len, proof),
			 0);
	ap.proof = (ProtobufCBinaryData){ AUTH_PROOF_SIZE, proof };
	p = (WireAuthProof *)transfer(WIRE_AUTH_PROOF, &ap.base);
	r = auth_server_verify(&ss, p->proof.data, p->proof.len, server_proof);
	if (r == 0) {
		ok.proof = (ProtobufCBinaryData){ AUTH_PROOF_SIZE, server_proof };
		o = (WireAuthOk *)transfer(WIRE_AUTH_OK, &ok.base);
		r = auth_client_verify(&cs, o->proof.data, o->proof.len);
		protobuf_c_message_free_unpacked(&o->base, NULL);
	}
	protobuf_c_message_free_unpacked(&h->base, NULL);
	protobuf_c_message_free_unpacked(&c->base, NULL);
	protobuf_c_message_free_unpacked(&p->base, NULL);
	auth_session_fini(&cs);
	auth_session_fini(&ss);
	auth_psk_fini(&ck);
	auth_psk_fini(&sk);
	return r;
}

static void test_handshake_over_wire(void **state)
{
	assert_int_equal(handshake_over_wire("a shared key of 28 bytes....",
					     "a shared key of 28 bytes...."), 0);
	assert_int_equal(handshake_over_wire("a shared key of 28 bytes....",
					     "another key of 28 bytes....."),
			 -EACCES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_all),	 cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_page_batch),	 cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_sticky_error),	 cmocka_unit_test(test_field_checks),
		cmocka_unit_test(test_session_field_checks),
		cmocka_unit_test(test_handshake_over_wire),
	};

	srand(1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
