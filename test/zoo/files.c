/*
 * files: open files and file mappings, kept next to the check file.
 *
 *	files.append   O_WRONLY|O_APPEND|O_CLOEXEC, a numbered line every 20 ms
 *	files.data     O_RDWR (no FD_CLOEXEC), position left at DATA_POS
 *	files.private  MAP_PRIVATE, page 1 changed in memory only
 *	files.shared   MAP_SHARED, written through continuously
 *
 * After restore: flags and positions as they were, the append file holds
 * every line once in order, the private mapping still holds its change and
 * the file does not, the shared mapping and its file agree.
 */
#include <fcntl.h>
#include <libgen.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "zoo.h"

#define MAP_PAGES 4
#define PAGE 4096
#define DATA_POS 12345

static char dir[4096];
static int append_fd = -1, data_fd = -1, shared_fd = -1, private_fd = -1;
static unsigned char *private_map, *shared_map;
static unsigned long lines_written;
static uint64_t shared_counter;

static int file_at(const char *name, int flags, char *path, size_t size)
{
	snprintf(path, size, "%s/files.%s", dir, name);
	return open(path, flags, 0600);
}

static unsigned char pattern(int page, int i)
{
	return (unsigned char)(page * 37 + i * 7 + 1);
}

static int make_pattern_file(const char *name, int *ret_fd)
{
	unsigned char buf[PAGE];
	char path[4200];
	int fd = file_at(name, O_RDWR | O_CREAT | O_TRUNC, path, sizeof(path));
	int p, i;

	if (fd < 0)
		return -1;
	for (p = 0; p < MAP_PAGES; p++) {
		for (i = 0; i < PAGE; i++)
			buf[i] = pattern(p, i);
		if (write(fd, buf, PAGE) != PAGE)
			return -1;
	}
	*ret_fd = fd;
	return 0;
}

static int setup(void)
{
	char path[4200];

	append_fd = file_at("append", O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, path,
			    sizeof(path));
	data_fd = file_at("data", O_RDWR | O_CREAT | O_TRUNC, path, sizeof(path));
	if (append_fd < 0 || data_fd < 0 || ftruncate(data_fd, 2 * DATA_POS) ||
	    lseek(data_fd, DATA_POS, SEEK_SET) != DATA_POS)
		return -1;
	if (make_pattern_file("private", &private_fd) || make_pattern_file("shared", &shared_fd))
		return -1;
	private_map =
		mmap(NULL, MAP_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, private_fd, 0);
	shared_map = mmap(NULL, MAP_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd, 0);
	if (private_map == MAP_FAILED || shared_map == MAP_FAILED)
		return -1;
	/* The private file is no longer needed open: the mapping holds it. */
	close(private_fd);
	private_fd = -1;
	memset(private_map + PAGE, 0xa5, PAGE);
	memcpy(shared_map, &shared_counter, sizeof(shared_counter));
	return 0;
}

static void check_fd_flags(void)
{
	int fl = fcntl(append_fd, F_GETFL), fd_fl = fcntl(append_fd, F_GETFD);

	if (fl < 0 || !(fl & O_APPEND) || (fl & O_ACCMODE) != O_WRONLY)
		zoo_fail("append fd %d: F_GETFL %#x lacks O_WRONLY|O_APPEND", append_fd, fl);
	if (fd_fl < 0 || !(fd_fl & FD_CLOEXEC))
		zoo_fail("append fd %d: FD_CLOEXEC lost (F_GETFD %#x)", append_fd, fd_fl);
	fl = fcntl(data_fd, F_GETFL);
	fd_fl = fcntl(data_fd, F_GETFD);
	if (fl < 0 || (fl & O_ACCMODE) != O_RDWR || (fl & O_APPEND))
		zoo_fail("data fd %d: F_GETFL %#x, expected O_RDWR", data_fd, fl);
	if (fd_fl != 0)
		zoo_fail("data fd %d: F_GETFD %#x, expected no FD_CLOEXEC", data_fd, fd_fl);
	if (lseek(data_fd, 0, SEEK_CUR) != DATA_POS)
		zoo_fail("data fd %d: position %ld, expected %d", data_fd,
			 (long)lseek(data_fd, 0, SEEK_CUR), DATA_POS);
}

static void check_append_file(void)
{
	char path[4200], line[64];
	unsigned long n = 0, v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/files.append", dir);
	f = fopen(path, "r");
	if (!f) {
		zoo_fail("cannot read %s", path);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "line %lu", &v) != 1 || v != n) {
			zoo_fail("%s: line %lu reads '%.20s', expected 'line %lu'", path, n, line,
				 n);
			break;
		}
		n++;
	}
	fclose(f);
	if (!zoo_failed() && n != lines_written)
		zoo_fail("%s has %lu lines, we wrote %lu", path, n, lines_written);
	if (lseek(append_fd, 0, SEEK_CUR) != lseek(append_fd, 0, SEEK_END))
		zoo_fail("append fd position is not at the end of the file");
}

static void check_private_map(void)
{
	unsigned char buf[PAGE];
	char path[4200];
	int fd, p, i;

	for (p = 0; p < MAP_PAGES; p++)
		for (i = 0; i < PAGE; i++) {
			unsigned char want = p == 1 ? 0xa5 : pattern(p, i);

			if (private_map[p * PAGE + i] != want) {
				zoo_fail("private map page %d byte %d is %#x, expected %#x", p, i,
					 private_map[p * PAGE + i], want);
				return;
			}
		}
	fd = file_at("private", O_RDONLY, path, sizeof(path));
	if (fd < 0 || pread(fd, buf, PAGE, PAGE) != PAGE) {
		zoo_fail("cannot read %s", path);
	} else {
		for (i = 0; i < PAGE; i++)
			if (buf[i] != pattern(1, i)) {
				zoo_fail("%s changed: a private mapping was written through", path);
				break;
			}
	}
	if (fd >= 0)
		close(fd);
}

static void check_shared_map(void)
{
	unsigned char buf[MAP_PAGES * PAGE];

	if (memcmp(shared_map, &shared_counter, sizeof(shared_counter)))
		zoo_fail("shared map does not hold the last counter %lu",
			 (unsigned long)shared_counter);
	if (pread(shared_fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		zoo_fail("cannot read the shared file back");
	else if (memcmp(buf, shared_map, sizeof(buf)))
		zoo_fail("shared map and its file differ");
}

int main(int argc, char **argv)
{
	char *copy;

	zoo_init(argc, argv, "files");
	copy = strdup(argv[1]);
	snprintf(dir, sizeof(dir), "%s", dirname(copy));
	if (setup()) {
		printf("FAIL files: setup: %s\n", strerror(errno));
		return 1;
	}
	zoo_ready();
	while (!zoo_check_requested()) {
		char line[64];
		int len = snprintf(line, sizeof(line), "line %lu\n", lines_written);

		if (write(append_fd, line, len) != len)
			zoo_fail("write to the append file: %s", strerror(errno));
		lines_written++;
		check_shared_map();
		shared_counter++;
		memcpy(shared_map, &shared_counter, sizeof(shared_counter));
		zoo_sleep_ms(20);
	}
	check_fd_flags();
	check_append_file();
	check_private_map();
	check_shared_map();
	return zoo_finish();
}
