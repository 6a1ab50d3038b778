/*
 * libFuzzer harness for the /proc/PID/timers parser (proc_parse_timers): the input as is, in
 * a buffer of exactly its size (no NUL after it), so that ASan catches any read past len.
 *
 *	cmake -DMIGRATE_FUZZ=ON -DCMAKE_C_COMPILER=clang ... && make fuzz_proc_timers
 *	./fuzz_proc_timers -max_total_time=60
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_posix_timer *timers = NULL;
	char *text = malloc(size ? size : 1);
	size_t n = 0;
	int r;

	if (!text)
		return 0;
	memcpy(text, data, size);
	r = proc_parse_timers(text, size, &timers, &n);
	/* It may only succeed or reject the text as malformed; anything else is a bug. */
	if (r != 0 && r != -EINVAL && r != -ENOMEM)
		abort();
	for (size_t i = 0; r == 0 && i < n; i++)
		if (timers[i].id < 0 || timers[i].notify_pid < 0)
			abort();
	free(timers);
	free(text);
	return 0;
}
