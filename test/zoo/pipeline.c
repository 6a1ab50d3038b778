/*
 * pipeline: the stages of a shell pipeline that keeps data queued in its pipes, for
 * test/integration/pipeline_local.sh:
 *
 *	pipeline produce N | pipeline relay | LC_ALL=C sort | pipeline consume > out
 *
 *	produce N   writes N lines (a number and a hash of it, in a scrambled order) as fast
 *	            as the pipe takes them: the pipe to relay stays full
 *	relay       copies stdin to stdout slowly (4 KiB every 5 ms)
 *	consume     copies stdin to stdout slowly too, so that once sort has its whole input
 *	            the pipe from sort stays full
 *
 * The output depends on N alone: a pipeline dumped and restored anywhere mid-stream must
 * write exactly the bytes an undisturbed run writes (no byte lost or duplicated in a pipe).
 * Not a zoo program of the READY/PASS protocol: the test compares the outputs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PIPELINE_CHUNK 4096
#define PIPELINE_PAUSE_MS 5

static void pipeline_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ms * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t pipeline_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static int pipeline_write_all(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(1, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int pipeline_produce(long n)
{
	char line[64];

	for (long i = 0; i < n; i++) {
		/* A permutation of 0..n-1 when n is odd and the multiplier is prime to n. */
		uint64_t v = ((uint64_t)i * 7919u) % (uint64_t)n;
		int len = snprintf(line, sizeof(line), "%08llu %016llx\n", (unsigned long long)v,
				   (unsigned long long)pipeline_mix(v));

		if (pipeline_write_all(line, (size_t)len) < 0)
			return 1;
	}
	return 0;
}

/* stdin to stdout, one chunk per pause. */
static int pipeline_copy_slowly(void)
{
	char buf[PIPELINE_CHUNK];

	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1;
		if (n == 0)
			return 0;
		if (pipeline_write_all(buf, (size_t)n) < 0)
			return 1;
		pipeline_sleep_ms(PIPELINE_PAUSE_MS);
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "produce") == 0)
		return pipeline_produce(strtol(argv[2], NULL, 10));
	if (argc == 2 && (strcmp(argv[1], "relay") == 0 || strcmp(argv[1], "consume") == 0))
		return pipeline_copy_slowly();
	fprintf(stderr, "usage: %s produce N | relay | consume\n", argv[0]);
	return 2;
}
