/*
 * fuzz_wire: libFuzzer harness for the frame decoder and message unpacking.
 *
 * The input is a byte stream fed to the decoder in chunks whose sizes come
 * from the input's first byte (so both whole and split deliveries are
 * explored); every complete frame is unpacked as its message or parsed as a
 * page batch and decoded. Nothing may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>

#include "codec.h"
#include "wire.h"

static int fuzz_page_cb(void *arg, uint64_t vaddr, const void *pages, size_t nr_pages)
{
	volatile uint8_t sink;

	if (pages)
		sink = ((const uint8_t *)pages)[nr_pages * CODEC_PAGE_SIZE - 1];
	(void)sink;
	return 0;
}

static void fuzz_frame(const struct wire_frame *f)
{
	ProtobufCMessage *msg;
	struct wire_pages p;

	if (f->type == WIRE_PAGE_BATCH) {
		if (wire_page_batch_parse(f, &p) == 0) {
			(void)!codec_batch_decode(p.runs, p.nr_runs, p.data, p.data_len,
						  fuzz_page_cb, NULL);
			wire_pages_fini(&p);
		}
	} else if (wire_frame_unpack(f, &msg) == 0) {
		protobuf_c_message_free_unpacked(msg, NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_decoder d;
	size_t chunk;

	if (size == 0)
		return 0;
	chunk = data[0] ? data[0] : size;
	data++;
	size--;
	/* A small limit keeps the fuzzer from spending its time on large mallocs. */
	wire_decoder_init(&d, 1 << 20);
	while (size) {
		struct wire_frame f = { 0 };
		size_t n = chunk < size ? chunk : size, used;
		int r = wire_decoder_feed(&d, data, n, &used, &f);

		if (r < 0)
			break;
		data += used;
		size -= used;
		if (r == 1) {
			fuzz_frame(&f);
			wire_frame_fini(&f);
		}
	}
	(void)!wire_decoder_finish(&d);
	wire_decoder_fini(&d);
	return 0;
}
