#include "codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "err.h"

#define CODEC_CHUNK_BYTES ((size_t)CODEC_MAX_CHUNK_PAGES * CODEC_PAGE_SIZE)

void codec_opts_default(struct codec_opts *opts)
{
	opts->chunk_pages = CODEC_DEFAULT_CHUNK_PAGES;
	opts->acceleration = 1;
	opts->min_saving_pct = CODEC_DEFAULT_MIN_SAVING_PCT;
}

void codec_batch_init(struct codec_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void codec_batch_reset(struct codec_batch *b)
{
	b->nr_runs = 0;
	b->data_len = 0;
	b->nr_pages = 0;
	b->zero_pages = 0;
	b->raw_pages = 0;
}

void codec_batch_fini(struct codec_batch *b)
{
	free(b->runs);
	free(b->data);
	codec_batch_init(b);
}

bool codec_page_is_zero(const void *page)
{
	const uint8_t *p = page;
	uint64_t acc = 0;

	/* OR whole words without an early exit: the compiler vectorises this,
	 * and most pages are either all zero or non-zero in their first words. */
	for (size_t off = 0; off < CODEC_PAGE_SIZE; off += 256) {
		uint64_t w[32];

		memcpy(w, p + off, sizeof(w));
		for (size_t i = 0; i < 32; i++)
			acc |= w[i];
		if (acc)
			return false;
	}
	return true;
}

static int codec_reserve(struct codec_batch *b, size_t more_runs, size_t more_data)
{
	if (b->nr_runs + more_runs > b->runs_cap) {
		size_t cap = b->runs_cap ? b->runs_cap * 2 : 64;
		struct codec_run *r;

		while (cap < b->nr_runs + more_runs)
			cap *= 2;
		r = realloc(b->runs, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		b->runs = r;
		b->runs_cap = cap;
	}
	if (b->data_len + more_data > b->data_cap) {
		size_t cap = b->data_cap ? b->data_cap * 2 : CODEC_CHUNK_BYTES;
		uint8_t *d;

		while (cap < b->data_len + more_data)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->data_cap = cap;
	}
	return 0;
}

static void codec_add_hole(struct codec_batch *b, uint64_t vaddr, uint32_t nr_pages)
{
	struct codec_run *last = b->nr_runs ? &b->runs[b->nr_runs - 1] : NULL;

	if (last && last->encoding == CODEC_ZERO &&
	    last->vaddr + (uint64_t)last->nr_pages * CODEC_PAGE_SIZE == vaddr &&
	    last->nr_pages + nr_pages <= CODEC_MAX_ZERO_PAGES) {
		last->nr_pages += nr_pages;
	} else {
		b->runs[b->nr_runs++] = (struct codec_run){ vaddr, nr_pages, CODEC_ZERO, 0 };
	}
	b->zero_pages += nr_pages;
}

/* Compresses one chunk of non-zero pages, or copies it when LZ4 saves too little. */
static void codec_add_chunk(struct codec_batch *b, uint64_t vaddr, const uint8_t *src,
			    uint32_t nr_pages, const struct codec_opts *opts)
{
	int raw = (int)(nr_pages * CODEC_PAGE_SIZE);
	int limit = (int)((int64_t)raw * (100 - opts->min_saving_pct) / 100);
	uint8_t *dst = b->data + b->data_len;
	int n = 0;

	/* Bounding LZ4's output by the limit makes it give up early on data
	 * that does not compress, instead of finishing a useless block. */
	if (limit > 0)
		n = LZ4_compress_fast((const char *)src, (char *)dst, raw, limit,
				      opts->acceleration);
	if (n > 0) {
		b->runs[b->nr_runs++] = (struct codec_run){ vaddr, nr_pages, CODEC_LZ4, (uint32_t)n };
		b->data_len += (size_t)n;
		return;
	}
	memcpy(dst, src, (size_t)raw);
	b->runs[b->nr_runs++] = (struct codec_run){ vaddr, nr_pages, CODEC_RAW, (uint32_t)raw };
	b->data_len += (size_t)raw;
	b->raw_pages += nr_pages;
}

static int codec_opts_check(const struct codec_opts *o)
{
	if (o->chunk_pages < 1 || o->chunk_pages > CODEC_MAX_CHUNK_PAGES || o->acceleration < 1 ||
	    o->min_saving_pct > 100)
		return err_setf(-EINVAL, "codec options out of range: chunk %u pages, "
				"acceleration %d, saving %u%%",
				o->chunk_pages, o->acceleration, o->min_saving_pct);
	return 0;
}

static int codec_add_check(uint64_t vaddr, size_t nr_pages)
{
	if (vaddr % CODEC_PAGE_SIZE || vaddr >= CODEC_VADDR_LIMIT ||
	    nr_pages > (CODEC_VADDR_LIMIT - vaddr) / CODEC_PAGE_SIZE)
		return err_setf(-EINVAL, "pages at 0x%llx (%zu pages) are not a page-aligned "
				"user address range", (unsigned long long)vaddr, nr_pages);
	return 0;
}

int codec_batch_add(struct codec_batch *b, uint64_t vaddr, const void *pages, size_t nr_pages,
		    const struct codec_opts *opts)
{
	struct codec_batch saved = *b;
	struct codec_run last = b->nr_runs ? b->runs[b->nr_runs - 1] : (struct codec_run){ 0 };
	struct codec_opts defaults;
	const uint8_t *p = pages;
	size_t i = 0;
	int r;

	if (!opts) {
		codec_opts_default(&defaults);
		opts = &defaults;
	}
	r = codec_opts_check(opts);
	if (r < 0)
		return r;
	r = codec_add_check(vaddr, nr_pages);
	if (r < 0)
		return r;
	while (i < nr_pages) {
		uint64_t at = vaddr + i * CODEC_PAGE_SIZE;
		const uint8_t *src = p + i * CODEC_PAGE_SIZE;
		uint32_t n = 0;

		if (codec_page_is_zero(src)) {
			while (i + n < nr_pages && n < CODEC_MAX_ZERO_PAGES &&
			       codec_page_is_zero(src + (size_t)n * CODEC_PAGE_SIZE))
				n++;
			r = codec_reserve(b, 1, 0);
			if (r < 0)
				goto undo;
			codec_add_hole(b, at, n);
		} else {
			while (i + n < nr_pages && n < opts->chunk_pages &&
			       !codec_page_is_zero(src + (size_t)n * CODEC_PAGE_SIZE))
				n++;
			r = codec_reserve(b, 1, (size_t)n * CODEC_PAGE_SIZE);
			if (r < 0)
				goto undo;
			codec_add_chunk(b, at, src, n, opts);
		}
		i += n;
	}
	b->nr_pages += nr_pages;
	return 0;
undo:
	/* The buffers may have moved and grown: keep them, put back the
	 * counters and the last run (a hole may have been extended). */
	b->nr_runs = saved.nr_runs;
	b->data_len = saved.data_len;
	b->zero_pages = saved.zero_pages;
	b->raw_pages = saved.raw_pages;
	if (saved.nr_runs)
		b->runs[saved.nr_runs - 1] = last;
	return err_setf(r, "cannot grow a page batch of %zu runs", b->nr_runs);
}

static const char *codec_encoding_name(enum codec_encoding e)
{
	switch (e) {
	case CODEC_RAW:
		return "raw";
	case CODEC_LZ4:
		return "lz4";
	case CODEC_ZERO:
		return "zero";
	}
	return "unknown";
}

static int codec_run_size_check(const struct codec_run *run)
{
	uint64_t raw = (uint64_t)run->nr_pages * CODEC_PAGE_SIZE;

	switch (run->encoding) {
	case CODEC_ZERO:
		if (run->nr_pages <= CODEC_MAX_ZERO_PAGES && run->encoded_size == 0)
			return 0;
		break;
	case CODEC_RAW:
		if (run->nr_pages <= CODEC_MAX_CHUNK_PAGES && run->encoded_size == raw)
			return 0;
		break;
	case CODEC_LZ4:
		/* Never larger than raw: the encoder sends raw instead. */
		if (run->nr_pages <= CODEC_MAX_CHUNK_PAGES && run->encoded_size > 0 &&
		    run->encoded_size < raw)
			return 0;
		break;
	default:
		return err_setf(-EBADMSG, "page run at 0x%llx: unknown encoding %d",
				(unsigned long long)run->vaddr, (int)run->encoding);
	}
	return err_setf(-EBADMSG, "page run at 0x%llx: %u %s pages cannot take %u bytes",
			(unsigned long long)run->vaddr, run->nr_pages,
			codec_encoding_name(run->encoding), run->encoded_size);
}

int codec_run_check(const struct codec_run *run)
{
	if (run->nr_pages == 0 || run->vaddr % CODEC_PAGE_SIZE || run->vaddr >= CODEC_VADDR_LIMIT ||
	    run->nr_pages > (CODEC_VADDR_LIMIT - run->vaddr) / CODEC_PAGE_SIZE)
		return err_setf(-EBADMSG, "page run at 0x%llx of %u pages is not a page-aligned "
				"user address range", (unsigned long long)run->vaddr, run->nr_pages);
	return codec_run_size_check(run);
}

int codec_runs_check(const struct codec_run *runs, size_t nr_runs, size_t data_len)
{
	uint64_t total = 0;

	for (size_t i = 0; i < nr_runs; i++) {
		int r = codec_run_check(&runs[i]);

		if (r < 0)
			return r;
		total += runs[i].encoded_size; /* each < 2^32, no overflow for any real count */
	}
	if (total != data_len)
		return err_setf(-EBADMSG, "page runs declare %llu bytes of page data, the batch "
				"holds %zu", (unsigned long long)total, data_len);
	return 0;
}

int codec_decode_run(const struct codec_run *run, const uint8_t *src, void *dst, size_t dst_size)
{
	size_t raw = (size_t)run->nr_pages * CODEC_PAGE_SIZE;
	int r = codec_run_check(run);
	int n;

	if (r < 0)
		return r;
	if (dst_size != raw)
		return err_setf(-EINVAL, "page run at 0x%llx needs %zu bytes, buffer has %zu",
				(unsigned long long)run->vaddr, raw, dst_size);
	switch (run->encoding) {
	case CODEC_ZERO:
		memset(dst, 0, raw);
		return 0;
	case CODEC_RAW:
		memcpy(dst, src, raw);
		return 0;
	case CODEC_LZ4:
		break;
	}
	n = LZ4_decompress_safe((const char *)src, dst, (int)run->encoded_size, (int)raw);
	if (n != (int)raw)
		return err_setf(-EBADMSG, "page run at 0x%llx: LZ4 block of %u bytes %s (%d of %zu)",
				(unsigned long long)run->vaddr, run->encoded_size,
				n < 0 ? "is corrupt" : "decodes to the wrong size", n, raw);
	return 0;
}

int codec_batch_decode(const struct codec_run *runs, size_t nr_runs, const uint8_t *data,
		       size_t data_len, codec_page_cb page_cb, void *arg)
{
	uint8_t *scratch = NULL;
	size_t off = 0;
	int r = codec_runs_check(runs, nr_runs, data_len);

	for (size_t i = 0; r >= 0 && i < nr_runs; i++) {
		const struct codec_run *run = &runs[i];
		size_t raw = (size_t)run->nr_pages * CODEC_PAGE_SIZE;
		const void *pages = NULL;

		if (run->encoding == CODEC_RAW) {
			pages = data + off; /* no copy: already the pages */
		} else if (run->encoding == CODEC_LZ4) {
			if (!scratch)
				scratch = malloc(CODEC_CHUNK_BYTES);
			if (!scratch) {
				r = -ENOMEM;
				break;
			}
			r = codec_decode_run(run, data + off, scratch, raw);
			pages = scratch;
		}
		if (r >= 0)
			r = page_cb(arg, run->vaddr, pages, run->nr_pages);
		off += run->encoded_size;
	}
	free(scratch);
	return r < 0 ? r : 0;
}
