#include "wire.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "err.h"
#include "image.h"

_Static_assert((int)CODEC_RAW == (int)WIRE_PAGE_ENCODING__WIRE_PAGES_RAW &&
		       (int)CODEC_LZ4 == (int)WIRE_PAGE_ENCODING__WIRE_PAGES_LZ4 &&
		       (int)CODEC_ZERO == (int)WIRE_PAGE_ENCODING__WIRE_PAGES_ZERO,
	       "codec encodings are the wire's");

struct wire_type_info {
	const char *name;
	const ProtobufCMessageDescriptor *desc;
};

static const struct wire_type_info wire_types[WIRE_TYPE_END] = {
	[WIRE_HELLO] = { "Hello", &wire_hello__descriptor },
	[WIRE_CHALLENGE] = { "Challenge", &wire_challenge__descriptor },
	[WIRE_AUTH_PROOF] = { "AuthProof", &wire_auth_proof__descriptor },
	[WIRE_AUTH_OK] = { "AuthOk", &wire_auth_ok__descriptor },
	[WIRE_ABORT] = { "Abort", &wire_abort__descriptor },
	[WIRE_PAGE_BATCH] = { "PageBatch", &wire_page_batch__descriptor },
	[WIRE_IMAGE_RECORD] = { "ImageRecord", &wire_image_record__descriptor },
	[WIRE_ROUND_END] = { "RoundEnd", &wire_round_end__descriptor },
	[WIRE_VERDICT] = { "Verdict", &wire_verdict__descriptor },
	[WIRE_START] = { "Start", &wire_start__descriptor },
	[WIRE_START_OK] = { "StartOk", &wire_start_ok__descriptor },
	[WIRE_LAYOUT] = { "Layout", &wire_layout__descriptor },
	[WIRE_ROUND_ACK] = { "RoundAck", &wire_round_ack__descriptor },
	[WIRE_RESIDENCY] = { "Residency", &wire_residency__descriptor },
	[WIRE_COMMIT] = { "Commit", &wire_commit__descriptor },
	[WIRE_READY] = { "Ready", &wire_ready__descriptor },
	[WIRE_GO] = { "Go", &wire_go__descriptor },
};

const char *wire_type_name(unsigned int type)
{
	if (type < WIRE_TYPE_END && wire_types[type].name)
		return wire_types[type].name;
	return "unknown";
}

const ProtobufCMessageDescriptor *wire_type_descriptor(unsigned int type)
{
	return type < WIRE_TYPE_END ? wire_types[type].desc : NULL;
}

void wire_frame_fini(struct wire_frame *f)
{
	free(f->payload);
	memset(f, 0, sizeof(*f));
}

void wire_decoder_init(struct wire_decoder *d, uint32_t max_payload)
{
	memset(d, 0, sizeof(*d));
	d->max_payload = max_payload && max_payload < WIRE_MAX_PAYLOAD ? max_payload
								       : WIRE_MAX_PAYLOAD;
}

void wire_decoder_fini(struct wire_decoder *d)
{
	wire_frame_fini(&d->frame);
	d->header_len = 0;
	d->payload_len = 0;
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint16_t get_le16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void put_le16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

/* Validates the complete header and allocates the payload: the only
 * allocation a peer can cause, and only after the length passed the limit. */
static int wire_decoder_header(struct wire_decoder *d)
{
	const uint8_t *h = d->header;
	uint32_t magic = get_le32(h), flags = get_le32(h + 8), len = get_le32(h + 12);
	uint16_t version = get_le16(h + 4), type = get_le16(h + 6);
	unsigned long long n = (unsigned long long)d->frames;

	if (magic != WIRE_MAGIC)
		return err_setf(-EPROTO, "frame %llu: bad magic 0x%08x (not a migrate stream?)",
				n, magic);
	if (version != WIRE_FRAME_VERSION)
		return err_setf(-EPROTONOSUPPORT, "frame %llu: frame version %u, this side "
				"speaks %u: update both sides", n, version, WIRE_FRAME_VERSION);
	if (!wire_type_descriptor(type))
		return err_setf(-EPROTO, "frame %llu: unknown message type %u", n, type);
	if (flags)
		return err_setf(-EPROTO, "frame %llu (%s): unknown flags 0x%x", n,
				wire_type_name(type), flags);
	if (len > d->max_payload)
		return err_setf(-EMSGSIZE, "frame %llu (%s): payload of %u bytes is over the "
				"%u-byte limit", n, wire_type_name(type), len, d->max_payload);
	d->frame.type = type;
	d->frame.flags = flags;
	d->frame.len = len;
	if (len) {
		d->frame.payload = malloc(len);
		if (!d->frame.payload)
			return err_setf(-ENOMEM, "frame %llu: no memory for %u bytes", n, len);
	}
	return 0;
}

int wire_decoder_feed(struct wire_decoder *d, const void *data, size_t len, size_t *ret_used,
		      struct wire_frame *ret_frame)
{
	const uint8_t *p = data;
	size_t used = 0, n;
	int r;

	if (d->error)
		return err_setf(d->error, "the stream already failed: no more frames from it");
	if (d->header_len < WIRE_HEADER_SIZE) {
		n = WIRE_HEADER_SIZE - d->header_len;
		if (n > len)
			n = len;
		memcpy(d->header + d->header_len, p, n);
		d->header_len += n;
		used = n;
		if (d->header_len < WIRE_HEADER_SIZE) {
			*ret_used = used;
			return 0;
		}
		r = wire_decoder_header(d);
		if (r < 0) {
			d->error = r;
			return r;
		}
	}
	n = d->frame.len - d->payload_len;
	if (n > len - used)
		n = len - used;
	if (n)
		memcpy(d->frame.payload + d->payload_len, p + used, n);
	d->payload_len += n;
	used += n;
	*ret_used = used;
	if (d->payload_len < d->frame.len)
		return 0;
	*ret_frame = d->frame;
	memset(&d->frame, 0, sizeof(d->frame));
	d->header_len = 0;
	d->payload_len = 0;
	d->frames++;
	return 1;
}

int wire_decoder_finish(const struct wire_decoder *d)
{
	if (d->error)
		return d->error;
	if (d->header_len == 0)
		return 0;
	if (d->header_len < WIRE_HEADER_SIZE)
		return err_setf(-EPROTO, "stream ended inside the header of frame %llu (%zu of %u "
				"bytes)", (unsigned long long)d->frames, d->header_len,
				WIRE_HEADER_SIZE);
	return err_setf(-EPROTO, "stream ended inside frame %llu (%s): %zu of %u payload bytes",
			(unsigned long long)d->frames, wire_type_name(d->frame.type),
			d->payload_len, d->frame.len);
}

static int wire_bytes_check(const ProtobufCBinaryData *b, size_t want, const char *what)
{
	if (b->len != want)
		return err_setf(-EBADMSG, "%s is %zu bytes, not %zu", what, b->len, want);
	return 0;
}

static int wire_image_record_check(const WireImageRecord *m)
{
	char name[64];

	if (m->kind >= IMAGE_KIND_COUNT || m->kind == IMAGE_PAGES)
		return err_setf(-EBADMSG, "ImageRecord: unknown image kind %u", m->kind);
	if (m->pid > INT32_MAX ||
	    image_file_name((enum image_kind)m->kind, (pid_t)m->pid, name, sizeof(name)) < 0)
		return err_setf(-EBADMSG, "ImageRecord: image kind %u with pid %u", m->kind,
				m->pid);
	return 0;
}

#define WIRE_ADDR_LIMIT (1ULL << 47) /* x86_64 user space */

static int wire_ranges_check(WireRange *const *ranges, size_t n, const char *what)
{
	uint64_t prev_end = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t start = ranges[i]->start, end = ranges[i]->end;

		if ((start | end) % IMAGE_PAGE_SIZE || start >= end || end > WIRE_ADDR_LIMIT)
			return err_setf(-EBADMSG, "%s: range %zu (0x%llx-0x%llx) is not a page-aligned"
					" user-space range", what, i, (unsigned long long)start,
					(unsigned long long)end);
		if (start < prev_end)
			return err_setf(-EBADMSG, "%s: range %zu (0x%llx) overlaps or precedes the "
					"previous one", what, i, (unsigned long long)start);
		prev_end = end;
	}
	return 0;
}

static int wire_start_check(const WireStart *m)
{
	const PstreeEntry *p = m->pstree;

	if (p->pid == 0 || p->pid > INT32_MAX || p->n_threads == 0 || p->threads[0] != p->pid)
		return err_setf(-EBADMSG, "Start: pid %u with %zu threads is not a process", p->pid,
				p->n_threads);
	for (size_t i = 0; i < p->n_threads; i++)
		if (p->threads[i] == 0 || p->threads[i] > INT32_MAX)
			return err_setf(-EBADMSG, "Start: thread id %u out of range", p->threads[i]);
	return 0;
}

/* VMAs sorted, page aligned, non-overlapping, in user space ([vsyscall] aside). */
static int wire_layout_check(const WireLayout *m)
{
	uint64_t prev_end = 0;

	for (size_t i = 0; i < m->n_vmas; i++) {
		const VmaEntry *v = m->vmas[i];

		if (v->kind == VMA_KIND__VMA_VSYSCALL)
			continue;
		if ((v->start | v->end) % IMAGE_PAGE_SIZE || v->start >= v->end ||
		    v->end > WIRE_ADDR_LIMIT || v->start < prev_end)
			return err_setf(-EBADMSG, "Layout: vma %zu (0x%llx-0x%llx) is not a sorted, "
					"page-aligned user-space range", i,
					(unsigned long long)v->start, (unsigned long long)v->end);
		prev_end = v->end;
	}
	return wire_ranges_check(m->reset, m->n_reset, "Layout: reset");
}

/* Addresses of --move-ip: a family's length, a prefix of that family. */
static int wire_go_check(const WireGo *m)
{
	if (m->n_move_addrs > WIRE_MAX_MOVE_ADDRS)
		return err_setf(-EBADMSG, "Go: %zu addresses to move, more than %u",
				m->n_move_addrs, WIRE_MAX_MOVE_ADDRS);
	for (size_t i = 0; i < m->n_move_addrs; i++) {
		const WireMoveAddr *a = m->move_addrs[i];
		unsigned int bits = (unsigned int)a->addr.len * 8;

		if (a->addr.len != 4 && a->addr.len != 16)
			return err_setf(-EBADMSG, "Go: address %zu is %zu bytes, not 4 or 16", i,
					a->addr.len);
		if (a->prefixlen == 0 || a->prefixlen > bits)
			return err_setf(-EBADMSG, "Go: address %zu has prefix length %u (1-%u)", i,
					a->prefixlen, bits);
		if (a->ifname && strlen(a->ifname) >= 16)
			return err_setf(-EBADMSG, "Go: address %zu: interface name of %zu bytes", i,
					strlen(a->ifname));
	}
	return 0;
}

/* Field checks protobuf cannot express: fixed sizes, known kinds, ranges. */
static int wire_message_check(unsigned int type, const ProtobufCMessage *msg)
{
	switch (type) {
	case WIRE_HELLO:
		return wire_bytes_check(&((const WireHello *)msg)->client_nonce, AUTH_NONCE_SIZE,
					"Hello: client nonce");
	case WIRE_CHALLENGE:
		return wire_bytes_check(&((const WireChallenge *)msg)->server_nonce,
					AUTH_NONCE_SIZE, "Challenge: server nonce");
	case WIRE_AUTH_PROOF:
		return wire_bytes_check(&((const WireAuthProof *)msg)->proof, AUTH_PROOF_SIZE,
					"AuthProof: proof");
	case WIRE_AUTH_OK:
		return wire_bytes_check(&((const WireAuthOk *)msg)->proof, AUTH_PROOF_SIZE,
					"AuthOk: proof");
	case WIRE_IMAGE_RECORD:
		return wire_image_record_check((const WireImageRecord *)msg);
	case WIRE_START:
		return wire_start_check((const WireStart *)msg);
	case WIRE_LAYOUT:
		return wire_layout_check((const WireLayout *)msg);
	case WIRE_RESIDENCY:
		return wire_ranges_check(((const WireResidency *)msg)->resident,
					 ((const WireResidency *)msg)->n_resident, "Residency");
	case WIRE_GO:
		return wire_go_check((const WireGo *)msg);
	}
	return 0;
}

int wire_frame_unpack(const struct wire_frame *f, ProtobufCMessage **ret)
{
	const ProtobufCMessageDescriptor *desc = wire_type_descriptor(f->type);
	ProtobufCMessage *msg;
	int r;

	if (!desc || f->type == WIRE_PAGE_BATCH)
		return err_setf(-EPROTO, "cannot unpack a %s frame as a message",
				wire_type_name(f->type));
	msg = protobuf_c_message_unpack(desc, NULL, f->len, f->payload);
	if (!msg)
		return err_setf(-EBADMSG, "%s: %u bytes that do not decode as %s",
				wire_type_name(f->type), f->len, desc->name);
	r = wire_message_check(f->type, msg);
	if (r < 0) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return r;
	}
	*ret = msg;
	return 0;
}

static int wire_runs_from_batch(const WirePageBatch *m, struct codec_run **ret)
{
	struct codec_run *runs;

	if (m->n_runs > WIRE_MAX_RUNS)
		return err_setf(-EBADMSG, "PageBatch: %zu runs, more than %u", m->n_runs,
				WIRE_MAX_RUNS);
	runs = calloc(m->n_runs ? m->n_runs : 1, sizeof(*runs));
	if (!runs)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_runs; i++) {
		const WirePageRun *w = m->runs[i];

		runs[i] = (struct codec_run){ w->vaddr, w->nr_pages,
					      (enum codec_encoding)w->encoding, w->encoded_size };
	}
	*ret = runs;
	return 0;
}

int wire_page_batch_parse(const struct wire_frame *f, struct wire_pages *ret)
{
	WirePageBatch *m;
	struct codec_run *runs = NULL;
	uint32_t head;
	size_t data_off;
	int r;

	if (f->type != WIRE_PAGE_BATCH)
		return err_setf(-EPROTO, "a %s frame is not a page batch", wire_type_name(f->type));
	if (f->len < 4 || (head = get_le32(f->payload)) > f->len - 4)
		return err_setf(-EBADMSG, "PageBatch: header length does not fit in %u bytes",
				f->len);
	m = wire_page_batch__unpack(NULL, head, f->payload + 4);
	if (!m)
		return err_setf(-EBADMSG, "PageBatch: %u header bytes that do not decode", head);
	r = wire_runs_from_batch(m, &runs);
	data_off = 4 + (size_t)head;
	if (r == 0)
		r = codec_runs_check(runs, m->n_runs, f->len - data_off);
	if (r == 0)
		*ret = (struct wire_pages){ m->pid, m->round, runs, m->n_runs,
					    f->payload + data_off, f->len - data_off };
	else
		free(runs);
	wire_page_batch__free_unpacked(m, NULL);
	return r;
}

void wire_pages_fini(struct wire_pages *p)
{
	free(p->runs);
	memset(p, 0, sizeof(*p));
}

void wire_header_encode(uint8_t out[WIRE_HEADER_SIZE], enum wire_type type, uint32_t flags,
			uint32_t len)
{
	put_le32(out, WIRE_MAGIC);
	put_le16(out + 4, WIRE_FRAME_VERSION);
	put_le16(out + 6, (uint16_t)type);
	put_le32(out + 8, flags);
	put_le32(out + 12, len);
}

size_t wire_frame_size(const ProtobufCMessage *msg)
{
	return WIRE_HEADER_SIZE + protobuf_c_message_get_packed_size(msg);
}

int wire_encode(enum wire_type type, const ProtobufCMessage *msg, uint8_t *buf, size_t size,
		size_t *ret_len)
{
	size_t len;

	if (type == WIRE_PAGE_BATCH || !wire_type_descriptor(type) ||
	    msg->descriptor != wire_type_descriptor(type))
		return err_setf(-EINVAL, "a %s message cannot go in a %s frame",
				msg->descriptor->name, wire_type_name(type));
	len = protobuf_c_message_get_packed_size(msg);
	if (len > WIRE_MAX_PAYLOAD)
		return err_setf(-EMSGSIZE, "%s of %zu bytes is over the %u-byte limit",
				wire_type_name(type), len, WIRE_MAX_PAYLOAD);
	if (size < WIRE_HEADER_SIZE + len)
		return err_setf(-ENOBUFS, "%s needs %zu bytes, buffer has %zu",
				wire_type_name(type), WIRE_HEADER_SIZE + len, size);
	wire_header_encode(buf, type, 0, (uint32_t)len);
	protobuf_c_message_pack(msg, buf + WIRE_HEADER_SIZE);
	*ret_len = WIRE_HEADER_SIZE + len;
	return 0;
}

int wire_encode_alloc(enum wire_type type, const ProtobufCMessage *msg, uint8_t **ret_buf,
		      size_t *ret_len)
{
	size_t size = wire_frame_size(msg);
	uint8_t *buf = malloc(size);
	int r;

	if (!buf)
		return -ENOMEM;
	r = wire_encode(type, msg, buf, size, ret_len);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret_buf = buf;
	return 0;
}

/* Packs the WirePageBatch of b's runs behind room for the frame header and H. */
static int wire_page_batch_pack(WirePageBatch *m, size_t data_len, uint8_t **ret_buf,
				size_t *ret_len)
{
	size_t head = wire_page_batch__get_packed_size(m);
	size_t payload = 4 + head + data_len;
	uint8_t *buf;

	if (payload > WIRE_MAX_PAYLOAD)
		return err_setf(-EMSGSIZE, "page batch of %zu bytes is over the %u-byte limit: "
				"send fewer pages per batch", payload, WIRE_MAX_PAYLOAD);
	buf = malloc(WIRE_HEADER_SIZE + 4 + head);
	if (!buf)
		return -ENOMEM;
	wire_header_encode(buf, WIRE_PAGE_BATCH, 0, (uint32_t)payload);
	put_le32(buf + WIRE_HEADER_SIZE, (uint32_t)head);
	wire_page_batch__pack(m, buf + WIRE_HEADER_SIZE + 4);
	*ret_buf = buf;
	*ret_len = WIRE_HEADER_SIZE + 4 + head;
	return 0;
}

int wire_page_batch_head(uint32_t pid, uint32_t round, const struct codec_batch *b,
			 uint8_t **ret_buf, size_t *ret_len)
{
	WirePageBatch m = WIRE_PAGE_BATCH__INIT;
	WirePageRun *runs = NULL, **ptrs = NULL;
	int r = -ENOMEM;

	if (b->nr_runs > WIRE_MAX_RUNS)
		return err_setf(-EMSGSIZE, "page batch of %zu runs, more than %u: send fewer "
				"pages per batch", b->nr_runs, WIRE_MAX_RUNS);
	runs = calloc(b->nr_runs + 1, sizeof(*runs));
	ptrs = calloc(b->nr_runs + 1, sizeof(*ptrs));
	if (runs && ptrs) {
		for (size_t i = 0; i < b->nr_runs; i++) {
			wire_page_run__init(&runs[i]);
			runs[i].vaddr = b->runs[i].vaddr;
			runs[i].nr_pages = b->runs[i].nr_pages;
			runs[i].encoding = (WirePageEncoding)b->runs[i].encoding;
			runs[i].encoded_size = b->runs[i].encoded_size;
			ptrs[i] = &runs[i];
		}
		m.pid = pid;
		m.round = round;
		m.runs = ptrs;
		m.n_runs = b->nr_runs;
		r = wire_page_batch_pack(&m, b->data_len, ret_buf, ret_len);
	}
	free(runs);
	free(ptrs);
	return r;
}
