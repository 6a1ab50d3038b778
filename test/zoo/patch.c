/*
 * patch: holds a distinctive string in an anonymous page and prints it every
 * 100 ms as "msg <string>". The image_patch test replaces it in the pages
 * image with ordinary tools; the program passes only if, when checked, it
 * holds the replacement. Both strings are built at run time so that neither
 * sits whole in the binary: only memory can hold them.
 */
#include <sys/mman.h>

#include "zoo.h"

static void build(char *buf, const char *word)
{
	/* "ZOO-PATCH-<word>-7f3a": same length for both words */
	sprintf(buf, "%s-%s-%s-%s", "ZOO", "PATCH", word, "7f3a");
}

int main(int argc, char **argv)
{
	char original[64], patched[64];
	char *msg;

	zoo_init(argc, argv, "patch");
	build(original, "ORIGINAL");
	build(patched, "REPLACED");
	msg = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (msg == MAP_FAILED)
		return 1;
	strcpy(msg, original);
	/* Forget the local copies so that the only live copy is msg. */
	memset(original, 0, sizeof(original));
	zoo_ready();
	while (!zoo_check_requested()) {
		printf("msg %s\n", msg);
		zoo_sleep_ms(100);
	}
	if (strcmp(msg, patched))
		zoo_fail("holds '%s', expected the patched '%s'", msg, patched);
	return zoo_finish();
}
