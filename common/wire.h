/*
 * wire: framing of the migration stream (proto/wire.proto holds the messages).
 *
 * Every frame is a 16-byte header, all fields little-endian, then the payload:
 *
 *	0   u32 magic    WIRE_MAGIC ("MGWR")
 *	4   u16 version  WIRE_FRAME_VERSION: the layout of frames; a change here is
 *	                 a new magic in all but name, so a mismatch is refused at once
 *	6   u16 type     enum wire_type: which message the payload holds
 *	8   u32 flags    none defined in version 1: must be 0
 *	12  u32 length   payload bytes, at most the decoder's limit (WIRE_MAX_PAYLOAD)
 *
 * The payload is the packed protobuf message of the type, except for
 * WIRE_PAGE_BATCH: u32 little-endian length H, H bytes of WirePageBatch, then
 * the runs' encoded page bytes (common/codec.h) back to back, exactly as many
 * as the runs declare. Page data thus needs no copy into protobuf on either
 * side: a sender writes wire_page_batch_head()'s bytes and the codec batch's
 * data as two buffers of one write.
 *
 * Conversation (client = `migrate --to`, server = migrate-dst; see auth.h):
 *
 *	Hello -> <- Challenge   AuthProof -> <- AuthOk
 *	then the staged session of common/session.h (Start, Layout, PageBatch,
 *	RoundEnd, Residency, ImageRecord, Commit, Ready, Go, Verdict);
 *	Abort either way at any time, then close.
 *
 * Receiving: bytes arrive in arbitrary chunks (libuv's read callback); the
 * decoder holds no I/O and yields whole frames, so it can be tested and fuzzed:
 *
 *	struct wire_decoder d;  wire_decoder_init(&d, WIRE_MAX_PAYLOAD)
 *	on each chunk:  while (len) {
 *		r = wire_decoder_feed(&d, buf, len, &used, &frame);
 *		if (r < 0) -> send Abort{PROTOCOL, err_detail()}, close
 *		buf += used; len -= used;
 *		if (r == 1) { wire_frame_unpack(&frame, &msg) or wire_page_batch_parse(&frame, &pb);
 *			      handle; free msg; wire_frame_fini(&frame); }
 *	}
 *	on EOF: wire_decoder_finish(&d) says whether the peer stopped mid-frame
 *	wire_decoder_fini(&d)
 *
 * Once the decoder has failed it stays failed: a stream that lost its framing
 * cannot be trusted to find it again.
 *
 * Sending: wire_encode() into a caller's buffer (wire_frame_size() tells how
 * large), or wire_encode_alloc(); for pages wire_page_batch_head().
 *
 * All functions return 0 (or 1, see wire_decoder_feed) or a negative errno
 * with err_detail() naming the fault: -EPROTO bad header or message,
 * -EMSGSIZE over the limit, -EPROTONOSUPPORT other frame version, -EBADMSG
 * undecodable or invalid payload, -ENOMEM.
 */
#ifndef MIGRATE_WIRE_H
#define MIGRATE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "wire.pb-c.h"

#define WIRE_WUR __attribute__((warn_unused_result))

#define WIRE_MAGIC 0x5257474dU /* "MGWR" */
#define WIRE_FRAME_VERSION 1U
#define WIRE_HEADER_SIZE 16U
#define WIRE_MAX_PAYLOAD (64U << 20)
/* Semantics of the messages, negotiated by Hello; the server refuses others. */
#define WIRE_PROTOCOL_VERSION 1U
/* Runs in one page batch: bounds the header's decoding work. */
#define WIRE_MAX_RUNS 65536U

/* Hello.features */
#define WIRE_FEATURE_LZ4 (1ULL << 0)
/* Sockets in the files records, Commit.move_ip, Go.move_addrs, the network
 * timings of Ready and Verdict: a client migrating a process with inet sockets
 * needs a server that has it. */
#define WIRE_FEATURE_NET (1ULL << 1)

/* Addresses one Go may move (--move-ip). */
#define WIRE_MAX_MOVE_ADDRS 256U

enum wire_type {
	WIRE_HELLO = 1,
	WIRE_CHALLENGE = 2,
	WIRE_AUTH_PROOF = 3,
	WIRE_AUTH_OK = 4,
	WIRE_ABORT = 5,
	WIRE_PAGE_BATCH = 6,
	WIRE_IMAGE_RECORD = 7,
	WIRE_ROUND_END = 8,
	WIRE_VERDICT = 9,
	WIRE_START = 10,
	WIRE_START_OK = 11,
	WIRE_LAYOUT = 12,
	WIRE_ROUND_ACK = 13,
	WIRE_RESIDENCY = 14,
	WIRE_COMMIT = 15,
	WIRE_READY = 16,
	WIRE_GO = 17,
	WIRE_TYPE_END, /* first unknown type */
};

/* "Hello", ... or "unknown"; never NULL. */
const char *wire_type_name(unsigned int type);
/* The message type a frame type carries; NULL for unknown types. For
 * WIRE_PAGE_BATCH, the descriptor of its header (WirePageBatch). */
const ProtobufCMessageDescriptor *wire_type_descriptor(unsigned int type);

struct wire_frame {
	uint16_t type;
	uint32_t flags;
	uint32_t len;
	uint8_t *payload; /* malloc'd, owned by the frame; NULL when len == 0 */
};

void wire_frame_fini(struct wire_frame *f); /* frees the payload; a zeroed frame is fine */

struct wire_decoder {
	uint32_t max_payload;
	uint8_t header[WIRE_HEADER_SIZE];
	size_t header_len;
	struct wire_frame frame; /* being filled once the header is complete */
	size_t payload_len;	 /* payload bytes received so far */
	int error;		 /* sticky, once failed */
	uint64_t frames;	 /* frames decoded, for error messages */
};

/* max_payload: at most WIRE_MAX_PAYLOAD (0 means that). */
void wire_decoder_init(struct wire_decoder *d, uint32_t max_payload);
void wire_decoder_fini(struct wire_decoder *d);

/*
 * Consumes bytes from data up to the end of one frame. Returns 1 when a
 * frame is complete (ret_frame then owns its payload: wire_frame_fini()),
 * 0 when all len bytes were taken and more are needed, or a negative errno
 * for a header that is not acceptable (nothing is allocated for it).
 * *ret_used is the number of bytes taken, set whenever r >= 0.
 */
int wire_decoder_feed(struct wire_decoder *d, const void *data, size_t len, size_t *ret_used,
		      struct wire_frame *ret_frame) WIRE_WUR;
/* At end of stream: 0 on a frame boundary, -EPROTO in the middle of one. */
int wire_decoder_finish(const struct wire_decoder *d) WIRE_WUR;

/* Unpacks and validates a frame's message (not for WIRE_PAGE_BATCH: -EPROTO).
 * *ret: free with protobuf_c_message_free_unpacked(*ret, NULL). */
int wire_frame_unpack(const struct wire_frame *f, ProtobufCMessage **ret) WIRE_WUR;

/* A page batch frame, parsed and checked (codec_runs_check) but not decoded. */
struct wire_pages {
	uint32_t pid;
	uint32_t round;
	struct codec_run *runs; /* malloc'd */
	size_t nr_runs;
	const uint8_t *data; /* points into the frame's payload: lives as long as it */
	size_t data_len;
};

int wire_page_batch_parse(const struct wire_frame *f, struct wire_pages *ret) WIRE_WUR;
void wire_pages_fini(struct wire_pages *p);

/* 16-byte header into out. */
void wire_header_encode(uint8_t out[WIRE_HEADER_SIZE], enum wire_type type, uint32_t flags,
			uint32_t len);
/* Header plus packed message. */
size_t wire_frame_size(const ProtobufCMessage *msg);
/* -EINVAL when msg is not the type's message, -ENOBUFS when size is too
 * small, -EMSGSIZE over WIRE_MAX_PAYLOAD. *ret_len: bytes written. */
int wire_encode(enum wire_type type, const ProtobufCMessage *msg, uint8_t *buf, size_t size,
		size_t *ret_len) WIRE_WUR;
/* The same into a malloc'd buffer (*ret_buf: the caller frees). */
int wire_encode_alloc(enum wire_type type, const ProtobufCMessage *msg, uint8_t **ret_buf,
		      size_t *ret_len) WIRE_WUR;
/*
 * Everything of a page batch frame but the page data: header, H, and the
 * WirePageBatch built from runs. The frame's length counts b->data_len more
 * bytes: send *ret_buf then b->data. *ret_buf: malloc'd, the caller frees.
 */
int wire_page_batch_head(uint32_t pid, uint32_t round, const struct codec_batch *b,
			 uint8_t **ret_buf, size_t *ret_len) WIRE_WUR;

#endif
