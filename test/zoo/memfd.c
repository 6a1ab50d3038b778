/*
 * memfd: memfds (not mapped) kept across a checkpoint.
 *
 *	sealed   "zoo-sealed", DATA_LEN bytes of pattern then a hole up to SIZE, offset OFFSET,
 *	         sealed against shrink, grow and write; dup'd to a second fd
 *	plain    "zoo-plain", made without MFD_ALLOW_SEALING, "hello", offset at its end
 *
 * After restore: names, sizes, contents, offsets and seals as before; the dup'd fd shares
 * the offset of the first; plain can still be written.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "zoo.h"

#define DATA_LEN 10000
#define SIZE 20000
#define OFFSET 1234
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static int sealed, sealed_dup, plain;

static uint8_t pattern(size_t i)
{
	return (uint8_t)zoo_mix(i);
}

static int setup(void)
{
	static uint8_t buf[DATA_LEN];

	for (size_t i = 0; i < DATA_LEN; i++)
		buf[i] = pattern(i);
	sealed = memfd_create("zoo-sealed", MFD_ALLOW_SEALING);
	plain = memfd_create("zoo-plain", 0);
	if (sealed < 0 || plain < 0 || write(sealed, buf, DATA_LEN) != DATA_LEN ||
	    ftruncate(sealed, SIZE) < 0 || lseek(sealed, OFFSET, SEEK_SET) != OFFSET ||
	    fcntl(sealed, F_ADD_SEALS, SEALS) < 0 || write(plain, "hello", 5) != 5)
		return -1;
	sealed_dup = dup(sealed);
	return sealed_dup < 0 ? -1 : 0;
}

static void check_name(int fd, const char *name)
{
	char path[64], link[PATH_MAX], want[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return zoo_fail("fd %d: %s", fd, strerror(errno));
	link[n] = '\0';
	if (strcmp(link, want))
		zoo_fail("fd %d is %s, expected %s", fd, link, want);
}

static void check_sealed(void)
{
	static uint8_t buf[SIZE];
	struct stat st;

	check_name(sealed, "zoo-sealed");
	if (fstat(sealed, &st) < 0 || st.st_size != SIZE)
		return zoo_fail("sealed: size %lld, expected %d", (long long)st.st_size, SIZE);
	if (fcntl(sealed, F_GET_SEALS) != SEALS)
		return zoo_fail("sealed: seals %#x, expected %#x", fcntl(sealed, F_GET_SEALS),
				SEALS);
	if (lseek(sealed, 0, SEEK_CUR) != OFFSET)
		return zoo_fail("sealed: offset %lld, expected %d",
				(long long)lseek(sealed, 0, SEEK_CUR), OFFSET);
	if (pread(sealed, buf, SIZE, 0) != SIZE)
		return zoo_fail("sealed: short read: %s", strerror(errno));
	for (size_t i = 0; i < SIZE; i++)
		if (buf[i] != (i < DATA_LEN ? pattern(i) : 0))
			return zoo_fail("sealed: byte %zu differs", i);
	if (write(sealed, "x", 1) >= 0 || errno != EPERM)
		return zoo_fail("sealed: a write went through its seal");
	if (lseek(sealed_dup, 7, SEEK_SET) != 7 || lseek(sealed, 0, SEEK_CUR) != 7)
		zoo_fail("sealed: the dup'd fd does not share the offset");
}

static void check_plain(void)
{
	char buf[8] = "";

	check_name(plain, "zoo-plain");
	if (fcntl(plain, F_GET_SEALS) != F_SEAL_SEAL)
		return zoo_fail("plain: seals %#x, expected F_SEAL_SEAL",
				fcntl(plain, F_GET_SEALS));
	if (lseek(plain, 0, SEEK_CUR) != 5 || write(plain, "!", 1) != 1 ||
	    pread(plain, buf, sizeof(buf), 0) != 6 || strcmp(buf, "hello!"))
		zoo_fail("plain: holds '%s' after a write, expected 'hello!'", buf);
}

int main(int argc, char **argv)
{
	zoo_init(argc, argv, "memfd");
	if (setup() < 0) {
		zoo_fail("setup: %s", strerror(errno));
		return zoo_finish();
	}
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	check_sealed();
	check_plain();
	return zoo_finish();
}
