/*
 * libFuzzer harness for the /proc parsers (common/proc.c). Every parser gets the
 * input as is, in a buffer of exactly its size (no NUL after it), so that ASan
 * catches any read past len. smaps runs against the VMAs parsed from the same
 * input (its header lines are maps lines, so the fuzzer can reach the matching
 * code) and against a fixed list.
 *
 *	cmake -DMIGRATE_FUZZ=ON -DCMAKE_C_COMPILER=clang ... && make fuzz_proc
 *	./fuzz_proc -max_total_time=60
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

static const char fixed_maps[] =
	"7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n"
	"7f0000002000-7f0000004000 r--s 00001000 fe:00 12 /tmp/a b (deleted)\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n";

/* A parser may only succeed or reject the text as malformed; anything else is a bug. */
static void check(int r)
{
	if (r != 0 && r != -EINVAL && r != -ENOMEM)
		abort();
}

static void fuzz_maps_smaps(const char *text, size_t len)
{
	struct proc_vma_list list = { 0 }, fixed = { 0 };
	int r;

	r = proc_parse_maps(text, len, &list);
	check(r);
	if (r == 0) {
		check(proc_parse_smaps_vmflags(text, len, &list));
		proc_vma_list_free(&list);
	}
	if (proc_parse_maps(fixed_maps, sizeof(fixed_maps) - 1, &fixed) != 0)
		abort();
	check(proc_parse_smaps_vmflags(text, len, &fixed));
	proc_vma_list_free(&fixed);
}

static void fuzz_others(const char *text, size_t len)
{
	struct proc_status st;
	struct proc_stat sst;
	struct proc_fdinfo fi;
	struct rlimit lim[RLIM_NLIMITS];
	int r;

	r = proc_parse_status(text, len, &st);
	check(r);
	if (r == 0)
		proc_status_fini(&st);
	check(proc_parse_stat(text, len, &sst));
	check(proc_parse_fdinfo(text, len, &fi));
	check(proc_parse_limits(text, len, lim));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	fuzz_maps_smaps(text, size);
	fuzz_others(text, size);
	free(text);
	return 0;
}
