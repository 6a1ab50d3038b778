/*
 * pipes: pipes whose both ends the process holds, with unread data, kept across a checkpoint.
 *
 *	plain    blocking, default capacity, SMALL_LEN bytes unread
 *	big      O_NONBLOCK on both ends, capacity BIG_CAP, BIG_LEN bytes unread (more than the
 *	         default capacity holds, so the capacity must come back first)
 *	empty    nothing unread, its read end dup'd to a second fd
 *
 * After restore: capacities and O_NONBLOCK as before; each pipe gives exactly its bytes back,
 * once (then EAGAIN); the dup'd read end is the same pipe; writes still reach the read ends.
 */
#include <fcntl.h>

#include "zoo.h"

#define SMALL_LEN 3000
#define BIG_CAP (256 * 1024)
#define BIG_LEN (200 * 1024)

static int plain[2], big[2], empty[2], empty_dup;
static int plain_cap;

static uint8_t pattern(size_t i, uint8_t salt)
{
	return (uint8_t)(zoo_mix(i) ^ salt);
}

static int fill(int fd, size_t len, uint8_t salt)
{
	uint8_t buf[4096];

	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(done + i, salt);
		w = write(fd, buf, n);
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

static int setup(void)
{
	if (pipe(plain) < 0 || pipe2(big, O_NONBLOCK) < 0 || pipe(empty) < 0)
		return -1;
	empty_dup = dup(empty[0]);
	plain_cap = fcntl(plain[0], F_GETPIPE_SZ);
	if (empty_dup < 0 || plain_cap < 0 || fcntl(big[1], F_SETPIPE_SZ, BIG_CAP) < 0)
		return -1;
	return fill(plain[1], SMALL_LEN, 0x11) < 0 || fill(big[1], BIG_LEN, 0x22) < 0 ? -1 : 0;
}

/* Reads everything rd holds (made nonblocking) and compares it with the pattern. */
static void drain_check(const char *name, int rd, size_t len, uint8_t salt)
{
	static uint8_t buf[BIG_CAP + 1];
	size_t got = 0;
	ssize_t n;

	fcntl(rd, F_SETFL, fcntl(rd, F_GETFL) | O_NONBLOCK);
	while ((n = read(rd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	if (n < 0 && errno != EAGAIN)
		return zoo_fail("%s: read: %s", name, strerror(errno));
	if (got != len)
		return zoo_fail("%s: %zu bytes unread after restore, expected %zu", name, got, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(i, salt))
			return zoo_fail("%s: byte %zu differs", name, i);
}

static void check_flags(const char *name, const int ends[2], int cap, bool nonblock)
{
	for (int i = 0; i < 2; i++) {
		int fl = fcntl(ends[i], F_GETFL), sz = fcntl(ends[i], F_GETPIPE_SZ);

		if (fl < 0 || sz < 0)
			return zoo_fail("%s: end %d is gone: %s", name, i, strerror(errno));
		if ((fl & O_ACCMODE) != (i ? O_WRONLY : O_RDONLY))
			return zoo_fail("%s: end %d has access mode %d", name, i, fl & O_ACCMODE);
		if (!!(fl & O_NONBLOCK) != nonblock)
			return zoo_fail("%s: end %d: O_NONBLOCK is %d", name, i, !nonblock);
		if (sz != cap)
			return zoo_fail("%s: capacity %d, expected %d", name, sz, cap);
	}
}

static void check_all(void)
{
	char c = 'x', ok[3] = "";

	check_flags("plain", plain, plain_cap, false);
	check_flags("big", big, BIG_CAP, true);
	check_flags("empty", empty, plain_cap, false);
	drain_check("plain", plain[0], SMALL_LEN, 0x11);
	drain_check("big", big[0], BIG_LEN, 0x22);
	drain_check("empty", empty[0], 0, 0);
	/* Both ends are still one pipe, and the dup'd fd reads the same pipe. */
	if (write(empty[1], &c, 1) != 1 || read(empty_dup, &c, 1) != 1 || c != 'x')
		zoo_fail("empty: a byte written is not read back through the dup'd fd");
	if (write(plain[1], "ok", 2) != 2 || read(plain[0], ok, 2) != 2 || strcmp(ok, "ok") != 0)
		zoo_fail("plain: a write after restore is not read back");
}

int main(int argc, char **argv)
{
	zoo_init(argc, argv, "pipes");
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
