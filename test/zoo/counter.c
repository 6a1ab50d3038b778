/*
 * counter: the simplest state, a number in memory that must go on from where
 * it was. Prints "count N" every 100 ms; the test checks that the numbers in
 * the log before and after a restore are consecutive. A second copy on the
 * heap catches a restore that mixes pages of two moments.
 */
#include <stdlib.h>

#include "zoo.h"

int main(int argc, char **argv)
{
	unsigned long count = 0;
	unsigned long *shadow;

	zoo_init(argc, argv, "counter");
	shadow = calloc(1, sizeof(*shadow));
	if (!shadow)
		return 1;
	zoo_ready();
	while (!zoo_check_requested()) {
		count++;
		*shadow = count;
		printf("count %lu\n", count);
		zoo_sleep_ms(100);
		if (*shadow != count)
			zoo_fail("count %lu but its heap copy is %lu", count, *shadow);
	}
	if (count == 0)
		zoo_fail("never counted");
	free(shadow); /* LeakSanitizer builds must see a clean exit */
	return zoo_finish();
}
