/*
 * tree_sockpath: a tree whose root listens on a unix socket bound to a path (CHECK.sock), and a
 * child that waits. At the check the child connects to the path, sends a word, the root accepts
 * it and answers: the path must still lead to the root's listener after a restore or a
 * migration (a socket file bound again, not a stale one), and the child exits with 0 only if
 * the answer came back.
 */
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "zoo.h"

static struct sockaddr_un tsp_addr;

/* The child at the check: its verdict as exit status. */
static int tsp_child(void)
{
	char word[8] = "";
	int sk;

	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	sk = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sk < 0 || connect(sk, (struct sockaddr *)&tsp_addr, sizeof(tsp_addr)) < 0)
		return 2;
	if (write(sk, "ping", 4) != 4 || read(sk, word, sizeof(word) - 1) != 4)
		return 3;
	return strcmp(word, "pong") == 0 ? 0 : 4;
}

static void tsp_serve(int listener)
{
	struct timeval limit = { .tv_sec = 10 }; /* a child that never connects fails, not hangs */
	char word[8] = "";
	int sk;

	(void)setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
	sk = accept(listener, NULL, NULL);

	if (sk < 0) {
		zoo_fail("accept on %s: %s", tsp_addr.sun_path, strerror(errno));
		return;
	}
	if (read(sk, word, sizeof(word) - 1) != 4 || strcmp(word, "ping") != 0)
		zoo_fail("the child's word on %s is '%s'", tsp_addr.sun_path, word);
	else if (write(sk, "pong", 4) != 4)
		zoo_fail("answer on %s: %s", tsp_addr.sun_path, strerror(errno));
	close(sk);
}

int main(int argc, char **argv)
{
	int listener, status;
	pid_t child;

	zoo_init(argc, argv, "tree_sockpath");
	tsp_addr.sun_family = AF_UNIX;
	snprintf(tsp_addr.sun_path, sizeof(tsp_addr.sun_path), "%s.sock", argv[1]);
	unlink(tsp_addr.sun_path);
	listener = socket(AF_UNIX, SOCK_STREAM, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&tsp_addr, sizeof(tsp_addr)) < 0 ||
	    listen(listener, 4) < 0) {
		printf("FAIL tree_sockpath: listen on %s: %s\n", tsp_addr.sun_path,
		       strerror(errno));
		return 1;
	}
	child = fork();
	if (child == 0)
		_exit(tsp_child());
	if (child < 0) {
		printf("FAIL tree_sockpath: fork: %s\n", strerror(errno));
		return 1;
	}
	printf("child %d\n", (int)child);
	zoo_ready();
	while (!zoo_check_requested())
		zoo_sleep_ms(10);
	tsp_serve(listener);
	if (waitpid(child, &status, 0) != child)
		zoo_fail("child %d: waitpid: %s", (int)child, strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		zoo_fail("child %d could not talk to the root through %s (status 0x%x)", (int)child,
			 tsp_addr.sun_path, status);
	unlink(tsp_addr.sun_path);
	return zoo_finish();
}
