/*
 * fuzz_codec: libFuzzer harness for the page decoder.
 *
 * The input's first bytes describe up to four runs (12 bytes each: vaddr
 * page number, page count, encoding, encoded size, from a hostile peer);
 * the rest is the batch's data. codec_batch_decode() must refuse or decode
 * without reading or writing out of bounds. Inputs that start with 'E' are
 * instead encoded and decoded, and must round trip exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define FUZZ_RUN_BYTES 12

struct fuzz_check {
	const uint8_t *orig;
	size_t len;
};

static int fuzz_page_cb(void *arg, uint64_t vaddr, const void *pages, size_t nr_pages)
{
	volatile uint8_t sink;

	if (pages)
		sink = ((const uint8_t *)pages)[nr_pages * CODEC_PAGE_SIZE - 1];
	(void)sink;
	return 0;
}

static int fuzz_compare_cb(void *arg, uint64_t vaddr, const void *pages, size_t nr_pages)
{
	struct fuzz_check *c = arg;
	size_t off = (size_t)vaddr, len = nr_pages * CODEC_PAGE_SIZE;

	if (off + len > c->len)
		abort();
	if (pages ? memcmp(c->orig + off, pages, len) : !codec_page_is_zero(c->orig + off))
		abort();
	return 0;
}

/* Round trip of the input as page contents (padded with zeros). */
static void fuzz_round_trip(const uint8_t *data, size_t size)
{
	size_t nr = size / CODEC_PAGE_SIZE + 1;
	uint8_t *pages = calloc(nr, CODEC_PAGE_SIZE);
	struct fuzz_check c = { pages, nr * CODEC_PAGE_SIZE };
	struct codec_batch b;

	if (!pages)
		return;
	memcpy(pages, data, size);
	codec_batch_init(&b);
	if (codec_batch_add(&b, 0, pages, nr, NULL) == 0 &&
	    codec_batch_decode(b.runs, b.nr_runs, b.data, b.data_len, fuzz_compare_cb, &c) != 0)
		abort();
	codec_batch_fini(&b);
	free(pages);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct codec_run runs[4];
	size_t nr_runs;

	if (size < 1)
		return 0;
	if (data[0] == 'E') {
		fuzz_round_trip(data + 1, size - 1);
		return 0;
	}
	nr_runs = 1 + data[0] % 4;
	data++;
	size--;
	if (size < nr_runs * FUZZ_RUN_BYTES)
		return 0;
	for (size_t i = 0; i < nr_runs; i++) {
		const uint8_t *p = data + i * FUZZ_RUN_BYTES;
		uint32_t page, count, enc_size;

		memcpy(&page, p, 4);
		memcpy(&count, p + 4, 4);
		memcpy(&enc_size, p + 8, 4);
		runs[i].vaddr = (uint64_t)(page & 0xffffff) * CODEC_PAGE_SIZE;
		runs[i].nr_pages = count & 0x3ff;
		runs[i].encoding = (enum codec_encoding)(count >> 30);
		runs[i].encoded_size = enc_size;
	}
	data += nr_runs * FUZZ_RUN_BYTES;
	size -= nr_runs * FUZZ_RUN_BYTES;
	/* Copy so ASan sees reads past the exact data length. */
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	(void)!codec_batch_decode(runs, nr_runs, copy, size, fuzz_page_cb, NULL);
	free(copy);
	return 0;
}
