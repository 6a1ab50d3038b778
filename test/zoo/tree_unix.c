/*
 * tree_unix: unix sockets and a FIFO shared across a process tree, with unread data in them.
 *
 *	parent ─┬─ a ── grandchild g
 *	        └─ b
 *
 *	stream socketpair:    parent's end ⇄ a's end; each wrote to the other before the dump
 *	                      (PARENT_LEN bytes to a, A_LEN bytes to the parent), read after
 *	seqpacket socketpair: the parent holds both ends, b inherited the second one (one
 *	                      description in two processes, as nginx's master and worker share
 *	                      a channel): 3 records sent by the parent, received by b after
 *	datagram socketpair:  parent's end ⇄ g's end (two generations apart): 2 datagrams from g
 *	                      to the parent, 1 from the parent to g
 *	FIFO (CHECK.fifo):    the parent's O_RDWR description, inherited by everyone, and b's own
 *	                      O_RDONLY open of the path; FIFO_LEN bytes written by the parent
 *
 * After the restore each process reads what was sent to it: every byte and every record
 * exactly once (the exact lengths, contents by position, then EAGAIN or an end of file:
 * nothing duplicated), checks its pid and parent; b's inherited seqpacket end is still the
 * very socket the parent holds (same inode, b looking through /proc at the parent's fd). A
 * child exits with a code naming its fault; the parent reports it.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "zoo.h"

#define PARENT_LEN 5000
#define A_LEN 3000
#define FIFO_LEN 4000
#define G_DGRAMS 2

enum tu_fault {
	TU_OK,
	TU_BAD_IDS = 20,
	TU_BAD_STREAM,
	TU_BAD_SEQPACKET,
	TU_BAD_DGRAM,
	TU_BAD_FIFO,
	TU_BAD_CHILD,
	TU_BAD_SETUP,
	TU_BAD_SHARED,
};

static int tu_stream[2], tu_seq[2], tu_dgram[2], tu_sync[2], tu_fifo = -1;
static const size_t tu_records[] = { 10, 2000, 1 };
static const size_t tu_g_dgrams[G_DGRAMS] = { 100, 200 };
#define TU_P_DGRAM 300

static uint8_t tu_byte(unsigned int stream, size_t i)
{
	return (uint8_t)(zoo_mix(stream * 1000003ULL + i) & 0xff);
}

static void tu_fill(uint8_t *buf, size_t len, unsigned int stream)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = tu_byte(stream, i);
}

static bool tu_same(const uint8_t *buf, size_t len, unsigned int stream)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != tu_byte(stream, i))
			return false;
	return true;
}

/* Exactly len bytes of stream id from fd (non-blocking), then nothing more. */
static bool tu_read_exact(int fd, size_t len, unsigned int stream)
{
	uint8_t buf[8192];
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	/* The end: nothing queued (EAGAIN), or the writer gone already (end of file). */
	return (n == 0 || errno == EAGAIN) && got == len && tu_same(buf, len, stream);
}

/* The records (or datagrams) of lens from fd, each whole, then nothing more. */
static bool tu_recv_records(int fd, const size_t *lens, size_t count, unsigned int stream)
{
	uint8_t buf[4096];
	ssize_t n;

	for (size_t i = 0; i < count; i++) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n != (ssize_t)lens[i] || !tu_same(buf, lens[i], stream + (unsigned int)i))
			return false;
	}
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno == EAGAIN);
}

static bool tu_send_records(int fd, const size_t *lens, size_t count, unsigned int stream)
{
	uint8_t buf[4096];

	for (size_t i = 0; i < count; i++) {
		tu_fill(buf, lens[i], stream + (unsigned int)i);
		if (send(fd, buf, lens[i], 0) != (ssize_t)lens[i])
			return false;
	}
	return true;
}

/* Whether fd of pid is the very socket our fd is (the same inode). */
static bool tu_same_socket(pid_t pid, int fd)
{
	char path[64];
	struct stat mine, theirs;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	return fstat(fd, &mine) == 0 && stat(path, &theirs) == 0 && mine.st_ino == theirs.st_ino;
}

static void tu_wait_check(void)
{
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
}

/* Set up: tells the parent, and lets go of the sync pipe (not part of the state). */
static void tu_ready(void)
{
	if (write(tu_sync[1], "r", 1) != 1)
		_exit(TU_BAD_SETUP);
	close(tu_sync[1]);
}

static __attribute__((noreturn)) void tu_grandchild(pid_t a)
{
	size_t len = TU_P_DGRAM;

	close(tu_stream[1]);
	if (!tu_send_records(tu_dgram[1], tu_g_dgrams, G_DGRAMS, 40))
		_exit(TU_BAD_SETUP);
	fcntl(tu_dgram[1], F_SETFL, O_NONBLOCK);
	tu_ready();
	tu_wait_check();
	if (getppid() != a)
		_exit(TU_BAD_IDS);
	_exit(tu_recv_records(tu_dgram[1], &len, 1, 50) ? TU_OK : TU_BAD_DGRAM);
}

static __attribute__((noreturn)) void tu_child_a(pid_t parent)
{
	uint8_t buf[A_LEN];
	int status, r = TU_OK;
	pid_t g, a = getpid();

	close(tu_stream[0]);
	close(tu_seq[0]);
	close(tu_seq[1]);
	close(tu_dgram[0]);
	tu_fill(buf, sizeof(buf), 2);
	if (write(tu_stream[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		_exit(TU_BAD_SETUP);
	g = fork();
	if (g < 0)
		_exit(TU_BAD_SETUP);
	if (g == 0)
		tu_grandchild(a);
	close(tu_dgram[1]);
	fcntl(tu_stream[1], F_SETFL, O_NONBLOCK);
	tu_ready();
	tu_wait_check();
	if (getppid() != parent)
		r = TU_BAD_IDS;
	else if (!tu_read_exact(tu_stream[1], PARENT_LEN, 1))
		r = TU_BAD_STREAM;
	if (waitpid(g, &status, 0) != g || !WIFEXITED(status))
		_exit(TU_BAD_CHILD);
	/* The grandchild's fault, if any, is the more precise one. */
	_exit(WEXITSTATUS(status) ? WEXITSTATUS(status) : r);
}

static __attribute__((noreturn)) void tu_child_b(pid_t parent, const char *fifo_path)
{
	int own, r = TU_OK;

	close(tu_stream[0]);
	close(tu_stream[1]);
	close(tu_dgram[0]);
	close(tu_dgram[1]);
	close(tu_seq[0]);
	own = open(fifo_path, O_RDONLY | O_NONBLOCK);
	if (own < 0)
		_exit(TU_BAD_SETUP);
	tu_ready();
	tu_wait_check();
	if (getppid() != parent)
		r = TU_BAD_IDS;
	else if (!tu_same_socket(parent, tu_seq[1]))
		r = TU_BAD_SHARED;
	else if (!tu_recv_records(tu_seq[1], tu_records, 3, 10))
		r = TU_BAD_SEQPACKET;
	else if (!tu_read_exact(own, FIFO_LEN, 3))
		r = TU_BAD_FIFO;
	_exit(r);
}

static pid_t tu_spawn(int which, pid_t parent, const char *fifo_path)
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("tree_unix: fork");
		exit(2);
	}
	if (pid == 0) {
		close(tu_sync[0]);
		if (which == 'a')
			tu_child_a(parent);
		tu_child_b(parent, fifo_path);
	}
	return pid;
}

/* The parent's writes: to a, to b (records), to g (a datagram), into the FIFO. */
static int tu_parent_send(void)
{
	uint8_t buf[FIFO_LEN > PARENT_LEN ? FIFO_LEN : PARENT_LEN];
	size_t len = TU_P_DGRAM;

	tu_fill(buf, PARENT_LEN, 1);
	if (write(tu_stream[0], buf, PARENT_LEN) != PARENT_LEN ||
	    !tu_send_records(tu_seq[0], tu_records, 3, 10) ||
	    !tu_send_records(tu_dgram[0], &len, 1, 50))
		return -1;
	tu_fill(buf, FIFO_LEN, 3);
	return write(tu_fifo, buf, FIFO_LEN) == FIFO_LEN ? 0 : -1;
}

static void tu_reap(const char *who, pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		zoo_fail("child %s (pid %d) is no longer a child: waitpid: %s", who, pid,
			 strerror(errno));
	else if (!WIFEXITED(status))
		zoo_fail("child %s (pid %d) did not exit normally (status %#x)", who, pid, status);
	else if (WEXITSTATUS(status))
		zoo_fail("child %s (pid %d) found a fault: code %d (20 ids, 21 stream data, 22 "
			 "seqpacket records, 23 datagrams, 24 FIFO data, 25 its child, 27 its "
			 "seqpacket end not the parent's)",
			 who, pid, WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
	char fifo_path[4096], c[3];
	pid_t self, a, b;

	zoo_init(argc, argv, "tree_unix");
	snprintf(fifo_path, sizeof(fifo_path), "%s.fifo", argv[1]);
	unlink(fifo_path);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, tu_stream) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, tu_seq) < 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, tu_dgram) < 0 || pipe(tu_sync) < 0 ||
	    mkfifo(fifo_path, 0600) < 0 || (tu_fifo = open(fifo_path, O_RDWR)) < 0) {
		perror("tree_unix: setup");
		return 2;
	}
	self = getpid();
	a = tu_spawn('a', self, fifo_path);
	b = tu_spawn('b', self, fifo_path);
	close(tu_sync[1]);
	close(tu_stream[1]);
	close(tu_dgram[1]);
	/* a, g and b are set up (their writes done) once each said so. */
	if (read(tu_sync[0], c, 1) != 1 || read(tu_sync[0], c + 1, 1) != 1 ||
	    read(tu_sync[0], c + 2, 1) != 1 || tu_parent_send() < 0) {
		perror("tree_unix: setup of the children");
		return 2;
	}
	close(tu_sync[0]);
	fcntl(tu_stream[0], F_SETFL, O_NONBLOCK);
	printf("children %d %d\n", a, b);
	zoo_ready();
	tu_wait_check();
	if (getpid() != self)
		zoo_fail("pid %d is now %d", self, getpid());
	if (!tu_read_exact(tu_stream[0], A_LEN, 2))
		zoo_fail("the stream from a: not its %d bytes exactly once", A_LEN);
	if (!tu_recv_records(tu_dgram[0], tu_g_dgrams, G_DGRAMS, 40))
		zoo_fail("the datagrams from g: not its %d datagrams exactly once", G_DGRAMS);
	tu_reap("a", a);
	tu_reap("b", b);
	unlink(fifo_path);
	return zoo_finish();
}
