/*
 * memfdmap: memfds and a deleted file that the process maps, kept across a checkpoint.
 *
 *	a    "zoo-mapA", PAGES_A pages, sealed against shrink and grow, its fd kept (offset
 *	     OFFSET_A); mapped MAP_SHARED twice, overlapping (pages 0-3 and 2-4), and MAP_PRIVATE
 *	     (pages 5-6) with a private change on its first page. Page 1 is written only through a
 *	     mapping, page 7 (mapped nowhere) and page 4 only through the fd.
 *	b    "zoo-mapB", PAGES_B pages, written through its only mapping, its fd closed
 *	c    a file in the check file's directory, mapped MAP_SHARED, written through the mapping,
 *	     then unlinked and its fd closed
 *	d    another such file, written through its fd (kept, offset OFFSET_D), mapped MAP_PRIVATE
 *	     (its first page changed privately), unlinked
 *
 * Until the check, a counter goes into a through a shared mapping (page 3) and through the fd
 * (page 7, mapped nowhere): both must hold the counter's last value, not an older copy (live
 * migration sends the objects again in its final state).
 *
 * After restore: contents, sizes, seals, the fd's offset, names (and path) in /proc/self/maps;
 * a, still one object: a write through one shared mapping shows through the other and the
 * fd, a write through the fd shows through both and through the private mapping's untouched
 * page, not through its changed page.
 */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "zoo.h"

#define PG 4096L
#define PAGES_A 8
#define PAGES_B 3
#define PAGES_C 2
#define OFFSET_A 777
#define OFFSET_D 4321
#define SEALS_A (F_SEAL_SHRINK | F_SEAL_GROW)
#define COUNT_SH (3 * PG + 100) /* the counter in a, through sh1 */
#define COUNT_FD (7 * PG + 200) /* and through the fd */

static int fd_a;
static int fd_d;
static uint8_t *sh1, *sh2, *priv, *map_b, *map_c, *map_d;
static char path_c[PATH_MAX], path_d[PATH_MAX];

/* The byte at offset i of object o as set up. */
static uint8_t pattern(char o, size_t i)
{
	return (uint8_t)zoo_mix(i * 131 + (size_t)o);
}

static void fill(uint8_t *p, char o, size_t from, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(o, from + i);
}

static void *map(int fd, long pages, long page, int flags)
{
	void *p = mmap(NULL, (size_t)(pages * PG), PROT_READ | PROT_WRITE, flags, fd, page * PG);

	return p == MAP_FAILED ? NULL : p;
}

static int setup_a(void)
{
	static uint8_t buf[PG];

	fd_a = memfd_create("zoo-mapA", MFD_ALLOW_SEALING);
	if (fd_a < 0 || ftruncate(fd_a, PAGES_A * PG) < 0)
		return -1;
	sh1 = map(fd_a, 4, 0, MAP_SHARED);
	sh2 = map(fd_a, 3, 2, MAP_SHARED);
	priv = map(fd_a, 2, 5, MAP_PRIVATE);
	if (!sh1 || !sh2 || !priv)
		return -1;
	for (long pg = 0; pg < PAGES_A; pg++) {
		fill(buf, 'a', (size_t)(pg * PG), PG);
		if (pg == 1)
			memcpy(sh1 + PG, buf, PG); /* in no fd write: only the mapping has it */
		else if (pwrite(fd_a, buf, PG, pg * PG) != PG)
			return -1;
	}
	/* Private: the object keeps its pattern. The counter starts at 0 in both places. */
	memset(priv, 0x5a, PG);
	memset(sh1 + COUNT_SH, 0, sizeof(uint64_t));
	if (pwrite(fd_a, sh1 + COUNT_SH, sizeof(uint64_t), COUNT_FD) != sizeof(uint64_t))
		return -1;
	if (fcntl(fd_a, F_ADD_SEALS, SEALS_A) < 0 || lseek(fd_a, OFFSET_A, SEEK_SET) != OFFSET_A)
		return -1;
	return 0;
}

static int setup_b(void)
{
	int fd = memfd_create("zoo-mapB", 0);

	if (fd < 0 || ftruncate(fd, PAGES_B * PG) < 0)
		return -1;
	map_b = map(fd, PAGES_B, 0, MAP_SHARED);
	close(fd);
	if (!map_b)
		return -1;
	fill(map_b, 'b', 0, PAGES_B * PG);
	return 0;
}

static int setup_c(void)
{
	char dir[PATH_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%s", zoo_check_path);
	snprintf(path_c, sizeof(path_c), "%s/zoo-memfdmap-%d.dat", dirname(dir), (int)getpid());
	fd = open(path_c, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0640);
	if (fd < 0 || ftruncate(fd, PAGES_C * PG) < 0)
		return -1;
	map_c = map(fd, PAGES_C, 0, MAP_SHARED);
	close(fd);
	if (!map_c || unlink(path_c) < 0)
		return -1;
	fill(map_c, 'c', 0, PAGES_C * PG);
	return 0;
}

static int setup_d(void)
{
	static uint8_t buf[2 * PG];
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", zoo_check_path);
	snprintf(path_d, sizeof(path_d), "%s/zoo-memfdmap-%d.d", dirname(dir), (int)getpid());
	fd_d = open(path_d, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	fill(buf, 'd', 0, sizeof(buf));
	if (fd_d < 0 || write(fd_d, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
	    lseek(fd_d, OFFSET_D, SEEK_SET) != OFFSET_D)
		return -1;
	map_d = map(fd_d, 2, 0, MAP_PRIVATE);
	if (!map_d || unlink(path_d) < 0)
		return -1;
	memset(map_d, 0x6b, PG);
	return 0;
}

/* Whether /proc/self/maps shows name at address p. */
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

static bool same(const uint8_t *p, char o, size_t from, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(o, from + i))
			return false;
	return true;
}

static uint64_t count;

static void check_count(void);

/* Checked before each step: the first step after a restore sees what the restore made. */
static void count_step(void)
{
	uint64_t next = count + 1;

	check_count();
	if (zoo_failed())
		return;
	memcpy(sh1 + COUNT_SH, &next, sizeof(next));
	if (pwrite(fd_a, &next, sizeof(next), COUNT_FD) != sizeof(next))
		zoo_fail("a: write of the counter: %s", strerror(errno));
	count = next;
}

/* Both copies of the counter are its last value (or the next one, when frozen between the
 * writes and count's update). */
static void check_count(void)
{
	uint64_t in_sh, in_fd;

	memcpy(&in_sh, sh1 + COUNT_SH, sizeof(in_sh));
	if (pread(fd_a, &in_fd, sizeof(in_fd), COUNT_FD) != sizeof(in_fd))
		return zoo_fail("a: read of the counter: %s", strerror(errno));
	if ((in_sh != count && in_sh != count + 1) || (in_fd != count && in_fd != in_sh))
		zoo_fail("a: counter %llu, in the mapping %llu, in the fd %llu",
			 (unsigned long long)count, (unsigned long long)in_sh,
			 (unsigned long long)in_fd);
}

/* The pattern under the counter put back for check_a_state. */
static void count_clear(void)
{
	static uint8_t pat[2][sizeof(uint64_t)];

	fill(pat[0], 'a', COUNT_SH, sizeof(pat[0]));
	fill(pat[1], 'a', COUNT_FD, sizeof(pat[1]));
	memcpy(sh1 + COUNT_SH, pat[0], sizeof(pat[0]));
	if (pwrite(fd_a, pat[1], sizeof(pat[1]), COUNT_FD) != sizeof(pat[1]))
		zoo_fail("a: write: %s", strerror(errno));
}

static void check_a_state(void)
{
	static uint8_t buf[PAGES_A * PG];
	struct stat st;

	if (fstat(fd_a, &st) < 0 || st.st_size != PAGES_A * PG)
		return zoo_fail("a: size %lld, expected %ld", (long long)st.st_size, PAGES_A * PG);
	if (fcntl(fd_a, F_GET_SEALS) != SEALS_A)
		return zoo_fail("a: seals %#x, expected %#x", fcntl(fd_a, F_GET_SEALS), SEALS_A);
	if (lseek(fd_a, 0, SEEK_CUR) != OFFSET_A)
		return zoo_fail("a: offset %lld, expected %d", (long long)lseek(fd_a, 0, SEEK_CUR),
				OFFSET_A);
	if (pread(fd_a, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
	    !same(buf, 'a', 0, sizeof(buf)))
		return zoo_fail("a: the contents read through the fd differ");
	if (!same(sh1, 'a', 0, 4 * PG) || !same(sh2, 'a', 2 * PG, 3 * PG))
		return zoo_fail("a: the contents of a shared mapping differ");
	if (priv[0] != 0x5a || priv[PG - 1] != 0x5a || !same(priv + PG, 'a', 6 * PG, PG))
		return zoo_fail("a: the private mapping lost its change or its file page");
	if (!maps_has(sh1, "/memfd:zoo-mapA (deleted)") ||
	    !maps_has(sh2, "/memfd:zoo-mapA (deleted)") ||
	    !maps_has(priv, "/memfd:zoo-mapA (deleted)"))
		return zoo_fail("a: /proc/self/maps does not name zoo-mapA at its mappings");
	if (ftruncate(fd_a, PG) == 0)
		zoo_fail("a: shrinks through its seal");
}

/* One object still: writes through each view show through the others. */
static void check_a_one_object(void)
{
	uint8_t b;

	sh1[2 * PG + 5] = 0xe1;
	if (sh2[5] != 0xe1 || pread(fd_a, &b, 1, 2 * PG + 5) != 1 || b != 0xe1)
		return zoo_fail("a: a write through one shared mapping does not show through the "
				"other or the fd");
	b = 0xe2;
	if (pwrite(fd_a, &b, 1, 3 * PG + 9) != 1 || sh1[3 * PG + 9] != 0xe2 || sh2[PG + 9] != 0xe2)
		return zoo_fail("a: a write through the fd does not show through the mappings");
	if (pwrite(fd_a, &b, 1, 6 * PG + 3) != 1 || priv[PG + 3] != 0xe2)
		return zoo_fail("a: the private mapping's untouched page is not the object's");
	if (pwrite(fd_a, &b, 1, 5 * PG + 3) != 1 || priv[3] != 0x5a)
		zoo_fail("a: the private mapping's changed page is not private any more");
}

static void check_b_c(void)
{
	if (!same(map_b, 'b', 0, PAGES_B * PG))
		return zoo_fail("b: the contents of its mapping differ");
	if (!maps_has(map_b, "/memfd:zoo-mapB (deleted)"))
		return zoo_fail("b: /proc/self/maps does not name zoo-mapB at its mapping");
	if (!same(map_c, 'c', 0, PAGES_C * PG))
		return zoo_fail("c: the contents of the deleted file's mapping differ");
	if (!maps_has(map_c, path_c) || !maps_has(map_c, "(deleted)"))
		return zoo_fail("c: /proc/self/maps does not show %s (deleted) at its mapping",
				path_c);
	if (access(path_c, F_OK) == 0)
		zoo_fail("c: %s exists again", path_c);
}

static void check_d(void)
{
	static uint8_t buf[2 * PG];
	uint8_t b = 0xd7;

	if (lseek(fd_d, 0, SEEK_CUR) != OFFSET_D)
		return zoo_fail("d: offset %lld, expected %d", (long long)lseek(fd_d, 0, SEEK_CUR),
				OFFSET_D);
	if (pread(fd_d, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
	    !same(buf, 'd', 0, sizeof(buf)))
		return zoo_fail("d: the contents read through the fd differ");
	if (map_d[0] != 0x6b || !same(map_d + PG, 'd', PG, PG))
		return zoo_fail("d: the private mapping lost its change or its file page");
	if (!maps_has(map_d, path_d))
		return zoo_fail("d: /proc/self/maps does not show %s at its mapping", path_d);
	if (pwrite(fd_d, &b, 1, PG + 1) != 1 || map_d[PG + 1] != 0xd7)
		zoo_fail("d: the fd and the mapping are not one file any more");
}

int main(int argc, char **argv)
{
	zoo_init(argc, argv, "memfdmap");
	if (setup_a() < 0 || setup_b() < 0 || setup_c() < 0 || setup_d() < 0) {
		zoo_fail("setup: %s", strerror(errno));
		return zoo_finish();
	}
	zoo_ready();
	while (!zoo_check_requested() && !zoo_failed()) {
		count_step();
		zoo_sleep_ms(1);
	}
	check_count();
	if (count == 0)
		zoo_fail("a: the counter never ran");
	count_clear();
	if (!zoo_failed())
		check_a_state();
	if (!zoo_failed())
		check_a_one_object();
	check_b_c();
	check_d();
	return zoo_finish();
}
