/*
 * fifo: a named pipe (FIFO) with unread data, held through four fds of different kinds:
 *
 *	fd 10  read end,  O_RDONLY|O_NONBLOCK
 *	fd 11  write end, O_WRONLY
 *	fd 12  a second read end, opened again by path, O_RDONLY (blocking)
 *	fd 13  both ends, O_RDWR|O_NONBLOCK, close-on-exec
 *	fd 14  a dup of fd 10: one open file description (flags shared)
 *
 * Its capacity is raised to 256 KiB and 150000 bytes of a pattern are left unread (more than
 * the default 64 KiB capacity holds). The FIFO lives next to the check file, so it exists at
 * the destination of a migration too. After the check file appears: every fd has its access
 * mode and flags, the capacity is kept, exactly the pattern is there (no byte lost or
 * duplicated: the next read finds nothing), writes through each writer reach the readers, fd
 * 14 is still fd 10's open file description (a flag set through one shows through the other)
 * and the fds still reach the FIFO at its path.
 */
#include <fcntl.h>
#include <libgen.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "zoo.h"

#define FD_READ 10
#define FD_WRITE 11
#define FD_READ2 12
#define FD_RDWR 13
#define FD_DUP 14
#define CAPACITY (256 * 1024)
#define UNREAD 150000

static char fifo_path[4096];

static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)(zoo_mix(i / 8) >> (8 * (i % 8)));
}

static int open_at(const char *path, int flags, int fd)
{
	int got = open(path, flags);

	if (got < 0)
		return -1;
	if (got != fd && (dup3(got, fd, flags & O_CLOEXEC) < 0 || close(got) < 0))
		return -1;
	return 0;
}

static int setup(const char *check)
{
	char dir[4096];
	uint8_t *buf;
	size_t done = 0;

	snprintf(dir, sizeof(dir), "%s", check);
	snprintf(fifo_path, sizeof(fifo_path), "%s/fifo-%d.fifo", dirname(dir), (int)getpid());
	unlink(fifo_path);
	if (mkfifo(fifo_path, 0600) < 0 || open_at(fifo_path, O_RDONLY | O_NONBLOCK, FD_READ) ||
	    open_at(fifo_path, O_WRONLY, FD_WRITE) || open_at(fifo_path, O_RDONLY, FD_READ2) ||
	    open_at(fifo_path, O_RDWR | O_NONBLOCK | O_CLOEXEC, FD_RDWR) ||
	    dup2(FD_READ, FD_DUP) < 0)
		return -1;
	if (fcntl(FD_WRITE, F_SETPIPE_SZ, CAPACITY) < 0)
		return -1;
	buf = malloc(UNREAD);
	if (!buf)
		return -1;
	for (size_t i = 0; i < UNREAD; i++)
		buf[i] = pattern_byte(i);
	while (done < UNREAD) {
		ssize_t n = write(FD_WRITE, buf + done, UNREAD - done);

		if (n <= 0) {
			free(buf);
			return -1;
		}
		done += (size_t)n;
	}
	free(buf);
	return 0;
}

static void check_flags(int fd, int want_acc, bool want_nonblock, bool want_cloexec)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	if (fl < 0 || fdfl < 0) {
		zoo_fail("fd %d: fcntl: %s", fd, strerror(errno));
		return;
	}
	if ((fl & O_ACCMODE) != want_acc || !!(fl & O_NONBLOCK) != want_nonblock ||
	    !!(fdfl & FD_CLOEXEC) != want_cloexec)
		zoo_fail("fd %d: flags 0%o cloexec %d, expected access %d nonblock %d cloexec %d",
			 fd, fl, !!(fdfl & FD_CLOEXEC), want_acc, want_nonblock, want_cloexec);
}

static int queued(void)
{
	int n = -1;

	if (ioctl(FD_READ, FIONREAD, &n) < 0)
		return -1;
	return n;
}

/* Exactly the pattern, then nothing more. */
static void check_unread(void)
{
	uint8_t *buf = malloc(UNREAD + 1);
	size_t done = 0;
	ssize_t n;

	if (!buf) {
		zoo_fail("out of memory");
		return;
	}
	while (done < UNREAD && (n = read(FD_READ, buf + done, UNREAD - done)) > 0)
		done += (size_t)n;
	if (done != UNREAD)
		zoo_fail("read %zu unread bytes, expected %d", done, UNREAD);
	for (size_t i = 0; i < done && !zoo_failed(); i++)
		if (buf[i] != pattern_byte(i))
			zoo_fail("unread byte %zu is 0x%02x, expected 0x%02x", i, buf[i],
				 pattern_byte(i));
	n = read(FD_READ, buf, 1);
	if (n >= 0 || errno != EAGAIN)
		zoo_fail("after the unread data, read gave %zd (%s): bytes were duplicated", n,
			 n < 0 ? strerror(errno) : "data");
	free(buf);
}

/* msg written to wfd comes out of rfd. */
static void check_through(int wfd, int rfd, const char *msg)
{
	char buf[64] = "";
	size_t len = strlen(msg);

	if (write(wfd, msg, len) != (ssize_t)len)
		zoo_fail("write to fd %d: %s", wfd, strerror(errno));
	else if (read(rfd, buf, sizeof(buf) - 1) != (ssize_t)len || memcmp(buf, msg, len))
		zoo_fail("fd %d did not read back '%s' written to fd %d (got '%s')", rfd, msg, wfd,
			 buf);
}

/* FD_DUP and FD_READ are one open file description: O_NONBLOCK set through one is the other's. */
static void check_dup(void)
{
	bool shared;

	if (fcntl(FD_DUP, F_SETFL, 0) < 0)
		zoo_fail("fd %d: F_SETFL: %s", FD_DUP, strerror(errno));
	shared = !(fcntl(FD_READ, F_GETFL) & O_NONBLOCK);
	if (fcntl(FD_DUP, F_SETFL, O_NONBLOCK) < 0)
		zoo_fail("fd %d: F_SETFL: %s", FD_DUP, strerror(errno));
	if (!shared)
		zoo_fail("fd %d is no longer a dup of fd %d (its flags are its own)", FD_DUP,
			 FD_READ);
}

static void check_all(void)
{
	struct stat at_fd, at_path;
	int size = fcntl(FD_READ, F_GETPIPE_SZ);

	check_flags(FD_READ, O_RDONLY, true, false);
	check_flags(FD_WRITE, O_WRONLY, false, false);
	check_flags(FD_READ2, O_RDONLY, false, false);
	check_flags(FD_RDWR, O_RDWR, true, true);
	check_flags(FD_DUP, O_RDONLY, true, false);
	check_dup();
	if (size < CAPACITY)
		zoo_fail("capacity %d, expected %d", size, CAPACITY);
	if (fstat(FD_READ2, &at_fd) < 0 || stat(fifo_path, &at_path) < 0 ||
	    at_fd.st_ino != at_path.st_ino || at_fd.st_dev != at_path.st_dev ||
	    !S_ISFIFO(at_fd.st_mode))
		zoo_fail("fd %d is not the FIFO at %s", FD_READ2, fifo_path);
	if (queued() != UNREAD)
		zoo_fail("%d bytes queued, expected %d", queued(), UNREAD);
	check_unread();
	check_through(FD_WRITE, FD_READ2, "through the writer");
	check_through(FD_RDWR, FD_READ, "through the rdwr end");
	check_through(FD_WRITE, FD_RDWR, "and back");
}

int main(int argc, char **argv)
{
	int r;

	zoo_init(argc, argv, "fifo");
	if (setup(argv[1]) < 0) {
		printf("FAIL fifo: setup of %s: %s\n", fifo_path, strerror(errno));
		unlink(fifo_path);
		return 1;
	}
	zoo_ready();
	while (!zoo_check_requested()) {
		if (queued() != UNREAD)
			zoo_fail("%d bytes queued while waiting, expected %d", queued(), UNREAD);
		zoo_sleep_ms(10);
	}
	check_all();
	r = zoo_finish();
	unlink(fifo_path);
	return r;
}
