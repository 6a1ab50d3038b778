/*
 * locks: holds one lock of each kind — flock (exclusive), POSIX (write, bytes 10..109) and
 * OFD (read, from byte 0 to the end) — on three files next to the check file. After the check
 * file appears, a forked child (another lock owner) sees each lock still held.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zoo.h"

static char lock_paths[3][4096];

static int locks_open(int i)
{
	return open(lock_paths[i], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
}

static int locks_take(int *fds)
{
	struct flock posix = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 100 };
	struct flock ofd = { .l_type = F_RDLCK, .l_whence = SEEK_SET };

	for (int i = 0; i < 3; i++) {
		fds[i] = locks_open(i);
		if (fds[i] < 0)
			return -1;
	}
	if (flock(fds[0], LOCK_EX | LOCK_NB) < 0 || fcntl(fds[1], F_SETLK, &posix) < 0 ||
	    fcntl(fds[2], F_OFD_SETLK, &ofd) < 0)
		return -1;
	return 0;
}

/* In the child: bit 0 flock lost, bit 1 POSIX lost, bit 2 OFD lost, 8: cannot look. */
static int locks_probe(pid_t parent)
{
	struct flock posix = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50, .l_len = 1 };
	struct flock ofd = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1 };
	int fds[3], lost = 0;

	for (int i = 0; i < 3; i++) {
		fds[i] = locks_open(i);
		if (fds[i] < 0)
			return 8;
	}
	if (flock(fds[0], LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		lost |= 1;
	if (fcntl(fds[1], F_GETLK, &posix) < 0)
		return 8;
	if (posix.l_type != F_WRLCK || posix.l_pid != parent || posix.l_start != 10 ||
	    posix.l_len != 100)
		lost |= 2;
	if (fcntl(fds[2], F_OFD_GETLK, &ofd) < 0)
		return 8;
	if (ofd.l_type != F_RDLCK || ofd.l_start != 0 || ofd.l_len != 0)
		lost |= 4;
	return lost;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "locks.flock", "locks.posix", "locks.ofd" };
	char dir[4096], *parent;
	int fds[3], status;
	pid_t child;

	zoo_init(argc, argv, "locks");
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	/* dirname() cuts dir in place: once, not per file. */
	parent = dirname(dir);
	for (int i = 0; i < 3; i++)
		snprintf(lock_paths[i], sizeof(lock_paths[i]), "%s/%s", parent, names[i]);
	if (locks_take(fds) < 0) {
		printf("FAIL locks: cannot take the locks: %s\n", strerror(errno));
		return 1;
	}
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(20);
	child = fork();
	if (child == 0)
		_exit(locks_probe(getppid()));
	if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status))
		zoo_fail("cannot run the checking child");
	else if (WEXITSTATUS(status) == 8)
		zoo_fail("the child cannot open or query the locked files");
	else if (WEXITSTATUS(status))
		zoo_fail("locks lost:%s%s%s", WEXITSTATUS(status) & 1 ? " flock" : "",
			 WEXITSTATUS(status) & 2 ? " POSIX" : "", WEXITSTATUS(status) & 4 ? " OFD" : "");
	return zoo_finish();
}
