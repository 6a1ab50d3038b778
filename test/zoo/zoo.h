/*
 * zoo: the protocol every test program of test/zoo follows.
 *
 *	int main(int argc, char **argv)
 *	{
 *		zoo_init(argc, argv, "counter");     argv[1] is the check file
 *		... set up the state ...
 *		zoo_ready();                          prints "READY <pid>"
 *		while (!zoo_check_requested()) {      the check file exists?
 *			... work, verify continuously, zoo_fail("...") on a fault ...
 *			zoo_sleep_ms(10);
 *		}
 *		... verify everything once more ...
 *		return zoo_finish();                  "PASS name" or "FAIL name: reason"
 *	}
 *
 * The test checkpoints and restores the program between zoo_ready() and the
 * moment it creates the check file. Output goes to stdout, which the test
 * opens with O_APPEND, so every line is written whole (line buffered).
 *
 * Exit status: 1 on FAIL; on PASS 0, unless the check file holds a number, in
 * which case that number: a test can thus tell that `migrate restore` passes
 * on the exit status of the restored program and not a constant.
 *
 * Everything here is static so that each program is one file plus this header.
 */
#ifndef ZOO_H
#define ZOO_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *zoo_check_path;
static const char *zoo_name;
/* The first failure seen: later ones are usually consequences of it. */
static char zoo_failure[512];

static inline void zoo_init(int argc, char **argv, const char *name)
{
	zoo_name = name;
	if (argc < 2) {
		fprintf(stderr, "usage: %s CHECK-FILE [ARGS]\n", argv[0]);
		exit(2);
	}
	zoo_check_path = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline void zoo_ready(void)
{
	printf("READY %d\n", (int)getpid());
	fflush(stdout);
}

static inline bool zoo_check_requested(void)
{
	return access(zoo_check_path, F_OK) == 0;
}

/* Records a failure (the first one is reported); safe to call often. */
__attribute__((format(printf, 1, 2))) static inline void zoo_fail(const char *fmt, ...)
{
	va_list ap;

	if (zoo_failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(zoo_failure, sizeof(zoo_failure), fmt, ap);
	va_end(ap);
	if (!zoo_failure[0])
		strcpy(zoo_failure, "unknown failure");
}

static inline bool zoo_failed(void)
{
	return zoo_failure[0] != 0;
}

/* Sleeps ms milliseconds, resuming after signals (a restore may interrupt it). */
static inline void zoo_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline uint64_t zoo_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The exit status asked for in the check file, 0 by default. */
static inline int zoo_pass_status(void)
{
	FILE *f = fopen(zoo_check_path, "r");
	int status = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &status) != 1)
		status = 0;
	fclose(f);
	return status;
}

static inline int zoo_finish(void)
{
	if (zoo_failed()) {
		printf("FAIL %s: %s\n", zoo_name, zoo_failure);
		fflush(stdout);
		return 1;
	}
	printf("PASS %s\n", zoo_name);
	fflush(stdout);
	return zoo_pass_status();
}

/* A cheap, well-mixed 64-bit hash for fill patterns and checksums. */
static inline uint64_t zoo_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

#endif
