/*
 * tree_shm: a parent and its child sharing anonymous memory (MAP_SHARED | MAP_ANONYMOUS,
 * mapped before the fork): the child copies each number the parent writes into the shared
 * page back into it, before and after the restore, which must therefore give both the same
 * object again (two copies would leave the parent's numbers unanswered). The page past the
 * first holds a pattern both check.
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "zoo.h"

#define SHM_WORDS (4096 / sizeof(uint64_t))

struct shm_page {
	volatile uint64_t sent;	    /* written by the parent */
	volatile uint64_t echoed;   /* copied by the child */
	volatile uint64_t stop;
	uint64_t pad[SHM_WORDS - 3];
	uint64_t pattern[SHM_WORDS]; /* the second page: written once before the fork */
};

static bool shm_pattern_ok(const struct shm_page *pg)
{
	for (size_t i = 0; i < SHM_WORDS; i++)
		if (pg->pattern[i] != zoo_mix(i + 1))
			return false;
	return true;
}

static __attribute__((noreturn)) void shm_child(struct shm_page *pg)
{
	while (!pg->stop) {
		pg->echoed = pg->sent;
		zoo_sleep_ms(1);
	}
	_exit(shm_pattern_ok(pg) ? 0 : 3);
}

/* The parent's number comes back from the child within a second. */
static bool shm_round_trip(struct shm_page *pg, uint64_t value)
{
	pg->sent = value;
	for (int i = 0; i < 1000; i++) {
		if (pg->echoed == value)
			return true;
		zoo_sleep_ms(1);
	}
	return false;
}

int main(int argc, char **argv)
{
	struct shm_page *pg;
	uint64_t value = 1;
	int status;
	pid_t child;

	zoo_init(argc, argv, "tree_shm");
	pg = mmap(NULL, sizeof(*pg), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pg == MAP_FAILED)
		return 2;
	for (size_t i = 0; i < SHM_WORDS; i++)
		pg->pattern[i] = zoo_mix(i + 1);
	child = fork();
	if (child < 0)
		return 2;
	if (child == 0)
		shm_child(pg);
	if (!shm_round_trip(pg, value))
		zoo_fail("the child does not echo through the shared page");
	printf("child %d\n", child);
	zoo_ready();
	while (!zoo_check_requested()) {
		if (!shm_round_trip(pg, ++value))
			zoo_fail("value %llu not echoed by the child", (unsigned long long)value);
		zoo_sleep_ms(10);
	}
	if (!shm_round_trip(pg, ++value))
		zoo_fail("value %llu not echoed by the child", (unsigned long long)value);
	if (!shm_pattern_ok(pg))
		zoo_fail("the second shared page lost its contents");
	pg->stop = 1;
	if (zoo_failed())
		kill(child, SIGKILL); /* it may not see stop: no shared page any more */
	else if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		zoo_fail("the child did not exit cleanly (status %#x; 3: it saw the second page "
			 "lose its contents)", status);
	return zoo_finish();
}
