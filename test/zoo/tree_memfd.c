/*
 * tree_memfd: a parent and its child sharing a memfd ("zoo-tree", 3 pages, sealed against
 * shrink and grow) that both map: pages 0-1 mapped MAP_SHARED before the fork, page 2 mapped
 * by the child alone after it (then the child closes its fd; the parent keeps its own).
 *
 * The child copies each number the parent writes into page 0 back into page 0 and into page
 * 2; the parent reads the second copy through its fd. Before and after the restore, which
 * must therefore give both processes, and the parent's fd, one object again (two copies would
 * leave the parent's numbers unanswered). Page 1 holds a pattern both check; both check the
 * name in /proc/self/maps, the parent the size and seals.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "zoo.h"

#define PG 4096L
#define WORDS (PG / sizeof(uint64_t))
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW)
#define NAME "/memfd:zoo-tree (deleted)" /* in /proc/self/maps */

struct pages {
	volatile uint64_t sent;	  /* written by the parent */
	volatile uint64_t echoed; /* copied by the child */
	volatile uint64_t stop;
	uint64_t pad[WORDS - 3];
	uint64_t pattern[WORDS]; /* page 1: written once before the fork */
};

static int fd;

static bool pattern_ok(const struct pages *pg)
{
	for (size_t i = 0; i < WORDS; i++)
		if (pg->pattern[i] != zoo_mix(i + 7))
			return false;
	return true;
}

static bool maps_has(const void *p, const char *name)
{
	char line[4352], start[32];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return false;
	snprintf(start, sizeof(start), "%lx-", (unsigned long)p);
	while (!found && fgets(line, sizeof(line), f))
		found = strncmp(line, start, strlen(start)) == 0 && strstr(line, name);
	fclose(f);
	return found;
}

/* Exit 3: the pattern is gone; 4: maps does not name the memfd at a mapping of the child. */
static __attribute__((noreturn)) void child_run(struct pages *pg)
{
	volatile uint64_t *own = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * PG);

	if (own == MAP_FAILED)
		_exit(2);
	close(fd);
	while (!pg->stop) {
		uint64_t v = pg->sent;

		*own = v;
		pg->echoed = v;
		zoo_sleep_ms(1);
	}
	if (!pattern_ok(pg))
		_exit(3);
	if (!maps_has(pg, NAME) || !maps_has((const void *)own, NAME))
		_exit(4);
	_exit(0);
}

/* The parent's number comes back from the child, in page 0 and through the fd, within a
 * second. */
static bool round_trip(struct pages *pg, uint64_t value)
{
	pg->sent = value;
	for (int i = 0; i < 1000; i++) {
		uint64_t second = 0;

		if (pg->echoed == value &&
		    pread(fd, &second, sizeof(second), 2 * PG) == sizeof(second) && second == value)
			return true;
		zoo_sleep_ms(1);
	}
	return false;
}

static void check_parent(struct pages *pg)
{
	struct stat st;

	if (!pattern_ok(pg))
		return zoo_fail("page 1 lost its contents");
	if (fstat(fd, &st) < 0 || st.st_size != 3 * PG)
		return zoo_fail("size %lld, expected %ld", (long long)st.st_size, 3 * PG);
	if (fcntl(fd, F_GET_SEALS) != SEALS)
		return zoo_fail("seals %#x, expected %#x", fcntl(fd, F_GET_SEALS), SEALS);
	if (!maps_has(pg, NAME))
		zoo_fail("/proc/self/maps does not name zoo-tree at the parent's mapping");
}

int main(int argc, char **argv)
{
	struct pages *pg;
	uint64_t value = 1;
	int status;
	pid_t child;

	zoo_init(argc, argv, "tree_memfd");
	fd = memfd_create("zoo-tree", MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, 3 * PG) < 0 || fcntl(fd, F_ADD_SEALS, SEALS) < 0)
		return 2;
	pg = mmap(NULL, sizeof(*pg), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (pg == MAP_FAILED)
		return 2;
	for (size_t i = 0; i < WORDS; i++)
		pg->pattern[i] = zoo_mix(i + 7);
	child = fork();
	if (child < 0)
		return 2;
	if (child == 0)
		child_run(pg);
	if (!round_trip(pg, value))
		zoo_fail("the child does not echo through the memfd");
	printf("child %d\n", child);
	zoo_ready();
	while (!zoo_check_requested()) {
		if (!round_trip(pg, ++value))
			zoo_fail("value %llu not echoed by the child", (unsigned long long)value);
		zoo_sleep_ms(10);
	}
	if (!round_trip(pg, ++value))
		zoo_fail("value %llu not echoed by the child", (unsigned long long)value);
	check_parent(pg);
	pg->stop = 1;
	if (zoo_failed())
		kill(child, SIGKILL); /* it may not see stop: no shared page any more */
	else if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		zoo_fail("the child did not exit cleanly (status %#x; 3: it saw page 1 lose its "
			 "contents, 4: its maps do not name the memfd)",
			 status);
	return zoo_finish();
}
