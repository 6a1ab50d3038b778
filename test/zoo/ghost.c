/*
 * ghost: a deleted file still open, kept across a checkpoint.
 *
 *	rw       O_RDWR, DATA_LEN bytes of pattern, offset OFFSET
 *	app      the same file opened again O_WRONLY|O_APPEND
 * then the file is unlinked.
 *
 * After restore: both fds show the old path "(deleted)", the file has no link, its contents
 * and rw's offset are as before; a byte appended through app is read through rw (one file,
 * not two); nothing exists at the old path.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "zoo.h"

#define DATA_LEN 50000
#define OFFSET 777

static int rw_fd, app_fd;
static char path[64];

static uint8_t pattern(size_t i)
{
	return (uint8_t)(zoo_mix(i) >> 3);
}

static int setup(void)
{
	static uint8_t buf[DATA_LEN];

	for (size_t i = 0; i < DATA_LEN; i++)
		buf[i] = pattern(i);
	snprintf(path, sizeof(path), "/tmp/zoo-ghost.%d", (int)getpid());
	rw_fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0640);
	if (rw_fd < 0 || write(rw_fd, buf, DATA_LEN) != DATA_LEN ||
	    lseek(rw_fd, OFFSET, SEEK_SET) != OFFSET)
		return -1;
	app_fd = open(path, O_WRONLY | O_APPEND);
	if (app_fd < 0)
		return -1;
	return unlink(path);
}

static void check_link(int fd)
{
	char proc[64], link[PATH_MAX], want[128];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	snprintf(want, sizeof(want), "%s (deleted)", path);
	n = readlink(proc, link, sizeof(link) - 1);
	if (n < 0)
		return zoo_fail("fd %d: %s", fd, strerror(errno));
	link[n] = '\0';
	if (strcmp(link, want))
		zoo_fail("fd %d is %s, expected %s", fd, link, want);
}

static void check_all(void)
{
	static uint8_t buf[DATA_LEN + 1];
	struct stat st;
	int fl;

	check_link(rw_fd);
	check_link(app_fd);
	if (access(path, F_OK) == 0)
		return zoo_fail("%s exists again after restore", path);
	if (fstat(rw_fd, &st) < 0 || st.st_size != DATA_LEN || st.st_nlink != 0)
		return zoo_fail("size %lld links %lu, expected %d and 0", (long long)st.st_size,
				(unsigned long)st.st_nlink, DATA_LEN);
	if (lseek(rw_fd, 0, SEEK_CUR) != OFFSET)
		return zoo_fail("offset %lld, expected %d", (long long)lseek(rw_fd, 0, SEEK_CUR),
				OFFSET);
	if (pread(rw_fd, buf, DATA_LEN, 0) != DATA_LEN)
		return zoo_fail("short read: %s", strerror(errno));
	for (size_t i = 0; i < DATA_LEN; i++)
		if (buf[i] != pattern(i))
			return zoo_fail("byte %zu differs", i);
	fl = fcntl(app_fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) != O_WRONLY || !(fl & O_APPEND))
		return zoo_fail("app: flags %#x, expected O_WRONLY|O_APPEND", fl);
	if (write(app_fd, "Z", 1) != 1 || pread(rw_fd, buf, 2, DATA_LEN) != 1 || buf[0] != 'Z')
		zoo_fail("a byte appended through app is not read through rw: two files?");
}

int main(int argc, char **argv)
{
	zoo_init(argc, argv, "ghost");
	if (setup() < 0) {
		zoo_fail("setup: %s", strerror(errno));
		return zoo_finish();
	}
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	check_all();
	return zoo_finish();
}
