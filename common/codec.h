/*
 * codec: page contents for the wire, as runs of holes, LZ4 blocks and raw pages.
 *
 * A batch is a list of runs, each covering nr_pages consecutive pages at
 * vaddr, and one data buffer holding the runs' encoded bytes back to back:
 *
 *	CODEC_ZERO   all-zero pages, no bytes at all (a hole)
 *	CODEC_LZ4    one LZ4 block decoding to exactly nr_pages * 4096 bytes
 *	CODEC_RAW    the pages as they are, for data LZ4 does not shrink by at
 *	             least opts.min_saving_pct (random data, already compressed
 *	             data): sending it raw costs nothing to decode
 *
 * Non-zero pages are compressed in chunks of up to opts.chunk_pages pages;
 * bench/bench_codec measures the choice (CODEC_DEFAULT_CHUNK_PAGES records
 * the result). The numeric values of enum codec_encoding are those of
 * WirePageEncoding in proto/wire.proto; this module knows nothing of protobuf.
 *
 * Sending side:
 *	struct codec_batch b;  codec_batch_init(&b)
 *	codec_batch_add(&b, vaddr, pages, nr_pages, NULL) ...   (appends runs)
 *	... send b.runs[0..nr_runs) and b.data[0..data_len) (wire_page_batch_head)
 *	codec_batch_reset(&b)  (keeps the buffers for the next batch) ... codec_batch_fini(&b)
 *
 * Receiving side (runs and data come from a hostile peer):
 *	codec_runs_check(runs, nr_runs, data_len)     every size against its run
 *	codec_batch_decode(runs, nr_runs, data, data_len, page_cb, arg)
 * or, one run at a time, codec_decode_run() into a buffer of exactly the run's size.
 *
 * All functions return 0 or a negative errno, with err_detail() saying what
 * was wrong with which run. Nothing here prints.
 */
#ifndef MIGRATE_CODEC_H
#define MIGRATE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CODEC_WUR __attribute__((warn_unused_result))

#define CODEC_PAGE_SIZE 4096U
/* Largest RAW or LZ4 run (1 MiB): bounds the decoder's scratch buffer. */
#define CODEC_MAX_CHUNK_PAGES 256U
/* Largest hole: bounded so that a hostile run cannot ask for absurd work. */
#define CODEC_MAX_ZERO_PAGES (1U << 20)
/* First address past the largest user space (5-level paging). */
#define CODEC_VADDR_LIMIT (1ULL << 57)

/* bench_codec (this machine, 1024-page batches): text-like pages compress to
 * 0.41 of raw in 1-page blocks, 0.39 in 16, 0.34 in 64 or 256, at the same
 * ~450-500 MB/s; random pages cost 1.5-4 GB/s whatever the size (LZ4 gives up
 * at the output limit). 64 pages takes the better ratio and keeps one
 * incompressible area from dragging a large block to raw. */
#define CODEC_DEFAULT_CHUNK_PAGES 64U
#define CODEC_DEFAULT_MIN_SAVING_PCT 10U

enum codec_encoding {
	CODEC_RAW = 0,
	CODEC_LZ4 = 1,
	CODEC_ZERO = 2,
};

struct codec_run {
	uint64_t vaddr;
	uint32_t nr_pages;
	enum codec_encoding encoding;
	uint32_t encoded_size; /* bytes in the batch's data */
};

struct codec_opts {
	unsigned int chunk_pages;     /* 1..CODEC_MAX_CHUNK_PAGES */
	int acceleration;	      /* LZ4_compress_fast's, >= 1 */
	unsigned int min_saving_pct;  /* below this saving a chunk goes raw; 100 = never LZ4 */
};

struct codec_batch {
	struct codec_run *runs;
	size_t nr_runs;
	size_t runs_cap;
	uint8_t *data;
	size_t data_len;
	size_t data_cap;
	uint64_t nr_pages;   /* pages added, of which: */
	uint64_t zero_pages; /* ... holes */
	uint64_t raw_pages;  /* ... sent raw because they did not compress */
};

/* The defaults above; a NULL opts means these. */
void codec_opts_default(struct codec_opts *opts);

void codec_batch_init(struct codec_batch *b);
void codec_batch_reset(struct codec_batch *b); /* empties, keeps the buffers */
void codec_batch_fini(struct codec_batch *b);  /* a zeroed or finished batch is fine */

/*
 * Appends nr_pages pages read from pages (nr_pages * 4096 bytes, any
 * alignment) at vaddr (page aligned). A hole adjacent to the batch's last
 * hole extends it. -EINVAL for a bad address, size or opts; -ENOMEM.
 * On failure the batch is as it was before the call.
 */
int codec_batch_add(struct codec_batch *b, uint64_t vaddr, const void *pages, size_t nr_pages,
		    const struct codec_opts *opts) CODEC_WUR;

/* True when the page (4096 bytes) holds only zeros. */
bool codec_page_is_zero(const void *page);

/* Checks one run alone: address, page count, encoding, size. -EBADMSG. */
int codec_run_check(const struct codec_run *run) CODEC_WUR;
/* Checks every run, and that their sizes add up to exactly data_len. -EBADMSG. */
int codec_runs_check(const struct codec_run *runs, size_t nr_runs, size_t data_len) CODEC_WUR;

/*
 * Decodes one checked run from src (run->encoded_size bytes) into dst, which
 * must hold exactly run->nr_pages * 4096 bytes (dst_size is checked).
 * -EBADMSG when an LZ4 block is corrupt or does not decode to exactly that size.
 */
int codec_decode_run(const struct codec_run *run, const uint8_t *src, void *dst,
		     size_t dst_size) CODEC_WUR;

/*
 * Called once per run, in order: pages points to nr_pages * 4096 bytes valid
 * only during the call, or is NULL for a hole (the receiver zeroes the range:
 * the pages may have held data in an earlier round). A negative return stops
 * the decoding and is returned.
 */
typedef int (*codec_page_cb)(void *arg, uint64_t vaddr, const void *pages, size_t nr_pages);

/* codec_runs_check() then every run to page_cb. -EBADMSG, -ENOMEM, or page_cb's error. */
int codec_batch_decode(const struct codec_run *runs, size_t nr_runs, const uint8_t *data,
		       size_t data_len, codec_page_cb page_cb, void *arg) CODEC_WUR;

#endif
