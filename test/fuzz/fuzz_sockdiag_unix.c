/*
 * libFuzzer harness for the UNIX_DIAG answer parser (common/sockdiag_unix.c). The input is
 * the answer as is, in a buffer of exactly its size, so that ASan catches any read past len;
 * the bytes where the header's sequence number sits (when there are that many) also serve
 * as the one expected, so the fuzzer can reach past the sequence check.
 *
 *	cmake -DMIGRATE_FUZZ=ON -DCMAKE_C_COMPILER=clang ... && make fuzz_sockdiag_unix
 *	./fuzz_sockdiag_unix -max_total_time=60
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sockdiag_unix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockdiag_unix s;
	uint32_t seq = 0;
	uint8_t *copy;
	char name[SOCKDIAG_UNIX_NAME_MAX + 16];
	int r;

	if (size >= 12)
		memcpy(&seq, data + 8, sizeof(seq)); /* where nlmsg_seq sits */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	r = sockdiag_unix_parse(copy, size, seq, &s);
	/* A parse succeeds, refuses (-EPROTO) or passes on an error the answer carries. */
	if (r > 0 || r < -4095)
		abort();
	if (r == 0) {
		if (s.name_len > sizeof(s.name) || (s.n_icons && !s.icons))
			abort();
		sockdiag_unix_format_name(s.name, s.name_len, name, sizeof(name));
	}
	sockdiag_unix_fini(&s);
	free(copy);
	return 0;
}
