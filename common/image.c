/*
 * image: record files (header + length-prefixed protobuf records) and the
 * page writer. Loading and validating a whole directory is in image_set.c.
 */
#include "image.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

#define IMAGE_HEADER_SIZE 12U
/* Big enough that stdio issues few syscalls for small records. */
#define IMAGE_STDIO_BUF (64U << 10)
/* Pages are gathered into writes of this size: no syscall per page. */
#define PAGE_WRITER_BUF (1U << 20)
/* Every record error names the file, the record and where it starts. */
#define IMAGE_AT "%s: record %u at offset %" PRIu64

struct image_kind_info {
	const char *prefix;
	bool per_pid;
	uint32_t magic; /* second word of the header: which records follow */
	const ProtobufCMessageDescriptor *desc;
};

static const struct image_kind_info image_kinds[IMAGE_KIND_COUNT] = {
	[IMAGE_INVENTORY] = { "inventory", false, 0x564e4931U, &inventory_entry__descriptor },
	[IMAGE_PSTREE] = { "pstree", false, 0x45525431U, &pstree_entry__descriptor },
	[IMAGE_CORE] = { "core", true, 0x524f4331U, &task_core_entry__descriptor },
	[IMAGE_MM] = { "mm", true, 0x4d4d5631U, &mm_entry__descriptor },
	[IMAGE_FILES] = { "files", true, 0x44464431U, &fd_entry__descriptor },
	[IMAGE_PAGEMAP] = { "pagemap", true, 0x504d5031U, &pagemap_entry__descriptor },
	[IMAGE_PAGES] = { "pages", true, 0, NULL },
	[IMAGE_IPC] = { "ipc", false, 0x43504931U, &ipc_entry__descriptor },
};

struct image_file {
	FILE *fp;
	enum image_kind kind;
	bool writing;
	int error;	     /* first write error, reported again at close */
	uint64_t size;	     /* file size when opened for reading */
	uint64_t offset;     /* bytes consumed so far (reading) */
	unsigned int record; /* index of the next record */
	uint8_t *buf;	     /* scratch for packing/unpacking one record */
	size_t buf_size;
	char name[64];
};

struct page_writer {
	struct image_file *pagemap;
	int pages_fd;
	char pages_name[64];
	uint8_t *buf;
	size_t buf_len;
	uint64_t run_vaddr; /* pending run, not yet written to pagemap */
	uint64_t run_pages; /* 0: no pending run */
	uint64_t end;	    /* end of the last page added: the next must start at or above */
	bool started;
	int error; /* sticky: once a write failed, every call fails */
};

int image_file_name(enum image_kind kind, pid_t pid, char *buf, size_t size)
{
	int n;

	if ((unsigned int)kind >= IMAGE_KIND_COUNT)
		return err_setf(-EINVAL, "unknown image kind %d", (int)kind);
	if (image_kinds[kind].per_pid) {
		if (pid <= 0)
			return err_setf(-EINVAL, "%s image needs a pid > 0, not %d",
					image_kinds[kind].prefix, (int)pid);
		n = snprintf(buf, size, "%s-%d.img", image_kinds[kind].prefix, (int)pid);
	} else {
		n = snprintf(buf, size, "%s.img", image_kinds[kind].prefix);
	}
	if (n < 0 || (size_t)n >= size)
		return err_setf(-ENAMETOOLONG, "image file name does not fit %zu bytes", size);
	return 0;
}

const ProtobufCMessageDescriptor *image_kind_descriptor(enum image_kind kind)
{
	if ((unsigned int)kind >= IMAGE_KIND_COUNT)
		return NULL;
	return image_kinds[kind].desc;
}

/* Parses the "-PID.img" tail strictly: digits only, no sign, no overflow. */
static int image_parse_pid_suffix(const char *s, pid_t *ret_pid)
{
	unsigned long v = 0;
	const char *p = s;

	if (*p < '1' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > INT_MAX)
			return -EINVAL;
	}
	if (strcmp(p, ".img") != 0)
		return -EINVAL;
	*ret_pid = (pid_t)v;
	return 0;
}

int image_kind_from_name(const char *name, enum image_kind *ret_kind, pid_t *ret_pid)
{
	for (unsigned int k = 0; k < IMAGE_KIND_COUNT; k++) {
		const struct image_kind_info *info = &image_kinds[k];
		size_t len = strlen(info->prefix);
		pid_t pid = 0;

		if (strncmp(name, info->prefix, len) != 0)
			continue;
		if (info->per_pid) {
			if (name[len] != '-' || image_parse_pid_suffix(name + len + 1, &pid) < 0)
				continue;
		} else if (strcmp(name + len, ".img") != 0) {
			continue;
		}
		*ret_kind = (enum image_kind)k;
		*ret_pid = pid;
		return 0;
	}
	return err_setf(-EINVAL,
			"%s: not an image file name (inventory.img, pstree.img, core-PID.img, "
			"mm-PID.img, files-PID.img, pagemap-PID.img, pages-PID.img, ipc.img)",
			name);
}

int image_dir_open(struct image_dir *d, const char *path, bool create)
{
	int fd;

	d->dirfd = -1;
	d->path = NULL;
	if (create && mkdir(path, 0700) < 0 && errno != EEXIST)
		return err_setf(-errno, "cannot create image directory %s: %s", path,
				strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_setf(-errno, "cannot open image directory %s: %s", path,
				strerror(errno));
	d->path = strdup(path);
	if (!d->path) {
		close(fd);
		return -ENOMEM;
	}
	d->dirfd = fd;
	return 0;
}

void image_dir_close(struct image_dir *d)
{
	if (!d)
		return;
	if (d->dirfd >= 0)
		close(d->dirfd);
	d->dirfd = -1;
	free(d->path);
	d->path = NULL;
}

static int image_file_new(enum image_kind kind, pid_t pid, bool writing, struct image_file **ret)
{
	struct image_file *f = NULL;
	int r;

	if ((unsigned int)kind >= IMAGE_KIND_COUNT || kind == IMAGE_PAGES)
		return err_setf(-EINVAL, "image kind %d is not a record file", (int)kind);
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	r = image_file_name(kind, pid, f->name, sizeof(f->name));
	if (r < 0) {
		free(f);
		return r;
	}
	f->kind = kind;
	f->writing = writing;
	*ret = f;
	return 0;
}

static void image_file_free(struct image_file *f)
{
	free(f->buf);
	free(f);
}

/* fdopen()s fd with a large buffer; closes fd on failure. */
static int image_fdopen(struct image_file *f, int fd, const char *mode)
{
	f->fp = fdopen(fd, mode);
	if (!f->fp) {
		int e = errno;
		close(fd);
		return err_setf(-e, "%s: %s", f->name, strerror(e));
	}
	(void)setvbuf(f->fp, NULL, _IOFBF, IMAGE_STDIO_BUF);
	return 0;
}

int image_open_write(struct image_dir *d, enum image_kind kind, pid_t pid, struct image_file **ret)
{
	struct image_file *f = NULL;
	uint32_t header[3];
	int fd, r;

	r = image_file_new(kind, pid, true, &f);
	if (r < 0)
		return r;
	fd = openat(d->dirfd, f->name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = err_setf(-errno, "cannot create %s/%s: %s", d->path, f->name, strerror(errno));
		image_file_free(f);
		return r;
	}
	r = image_fdopen(f, fd, "w");
	if (r < 0) {
		image_file_free(f);
		return r;
	}
	header[0] = htole32(IMAGE_MAGIC);
	header[1] = htole32(image_kinds[kind].magic);
	header[2] = htole32(IMAGE_FORMAT_VERSION);
	if (fwrite(header, sizeof(header), 1, f->fp) != 1)
		f->error = err_setf(-EIO, "%s: cannot write the header", f->name);
	*ret = f;
	return 0;
}

static const char *image_kind_by_magic(uint32_t magic)
{
	for (unsigned int k = 0; k < IMAGE_KIND_COUNT; k++)
		if (image_kinds[k].desc && image_kinds[k].magic == magic)
			return image_kinds[k].prefix;
	return NULL;
}

static int image_check_header(struct image_file *f)
{
	uint32_t header[3];
	size_t n = fread(header, 1, sizeof(header), f->fp);
	uint32_t magic, kind_magic, version;
	const char *other;

	if (n != sizeof(header))
		return err_setf(-EBADMSG, "%s: truncated header (%zu of %u bytes)", f->name, n,
				IMAGE_HEADER_SIZE);
	f->offset = IMAGE_HEADER_SIZE;
	magic = le32toh(header[0]);
	kind_magic = le32toh(header[1]);
	version = le32toh(header[2]);
	if (magic != IMAGE_MAGIC)
		return err_setf(-EBADMSG, "%s: not a migrate image (magic 0x%08x, expected 0x%08x)",
				f->name, magic, IMAGE_MAGIC);
	if (kind_magic != image_kinds[f->kind].magic) {
		other = image_kind_by_magic(kind_magic);
		return err_setf(-EBADMSG, "%s: holds %s records (kind magic 0x%08x), not %s",
				f->name, other ? other : "unknown", kind_magic,
				image_kinds[f->kind].prefix);
	}
	if (version != IMAGE_FORMAT_VERSION)
		return err_setf(-EBADMSG, "%s: format version %u, this build reads %u", f->name,
				version, IMAGE_FORMAT_VERSION);
	return 0;
}

int image_open_read(struct image_dir *d, enum image_kind kind, pid_t pid, struct image_file **ret)
{
	struct image_file *f = NULL;
	struct stat st;
	int fd, r;

	r = image_file_new(kind, pid, false, &f);
	if (r < 0)
		return r;
	/* O_NONBLOCK: a FIFO planted in the directory must not hang the reader. */
	fd = openat(d->dirfd, f->name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		r = errno == ENOENT ? err_setf(-ENOENT, "%s: missing from %s", f->name, d->path)
				    : err_setf(-errno, "cannot open %s/%s: %s", d->path, f->name,
					       strerror(errno));
		image_file_free(f);
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = err_setf(-EBADMSG, "%s: not a regular file", f->name);
		close(fd);
		image_file_free(f);
		return r;
	}
	f->size = (uint64_t)st.st_size;
	r = image_fdopen(f, fd, "r");
	if (r == 0)
		r = image_check_header(f);
	if (r < 0) {
		if (f->fp)
			fclose(f->fp);
		image_file_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

/* Makes the scratch buffer hold at least size bytes (and one, so it is never NULL). */
static int image_buf_reserve(struct image_file *f, size_t size)
{
	uint8_t *p;

	if (size == 0)
		size = 1;
	if (size <= f->buf_size)
		return 0;
	p = realloc(f->buf, size);
	if (!p)
		return -ENOMEM;
	f->buf = p;
	f->buf_size = size;
	return 0;
}

int image_write_record(struct image_file *f, const ProtobufCMessage *msg)
{
	uint32_t len_le;
	size_t len;
	int r;

	if (!f->writing)
		return err_setf(-EBADF, "%s: opened for reading", f->name);
	if (f->error)
		return f->error;
	if (msg->descriptor != image_kinds[f->kind].desc)
		return err_setf(-EINVAL, "%s: cannot hold a %s record", f->name,
				msg->descriptor->name);
	len = protobuf_c_message_get_packed_size(msg);
	if (len > IMAGE_MAX_RECORD)
		return err_setf(-EFBIG, "%s: record %u is %zu bytes, above the %u byte limit",
				f->name, f->record, len, IMAGE_MAX_RECORD);
	r = image_buf_reserve(f, len);
	if (r < 0)
		return r;
	protobuf_c_message_pack(msg, f->buf);
	len_le = htole32((uint32_t)len);
	if (fwrite(&len_le, sizeof(len_le), 1, f->fp) != 1 ||
	    (len && fwrite(f->buf, len, 1, f->fp) != 1)) {
		f->error = err_setf(-EIO, "%s: write of record %u failed: %s", f->name, f->record,
				    strerror(errno));
		return f->error;
	}
	f->record++;
	return 0;
}

/* Reads the u32 length of the next record: 1, or 0 at a clean end of file. */
static int image_read_length(struct image_file *f, uint32_t *ret_len)
{
	uint32_t len_le;
	size_t n = fread(&len_le, 1, sizeof(len_le), f->fp);

	if (n == 0 && feof(f->fp))
		return 0;
	if (n != sizeof(len_le)) {
		if (ferror(f->fp))
			return err_setf(-EIO, "%s: read error at offset %" PRIu64, f->name,
					f->offset);
		return err_setf(-EBADMSG, IMAGE_AT ": truncated length (%zu of 4 bytes)", f->name,
				f->record, f->offset, n);
	}
	*ret_len = le32toh(len_le);
	return 1;
}

int image_read_record(struct image_file *f, ProtobufCMessage **ret_msg)
{
	const ProtobufCMessageDescriptor *desc = image_kinds[f->kind].desc;
	uint64_t at = f->offset, left;
	ProtobufCMessage *msg;
	uint32_t len = 0;
	int r;

	if (f->writing)
		return err_setf(-EBADF, "%s: opened for writing", f->name);
	r = image_read_length(f, &len);
	if (r <= 0)
		return r;
	f->offset += 4;
	left = f->size > f->offset ? f->size - f->offset : 0;
	if (len > IMAGE_MAX_RECORD)
		return err_setf(-EBADMSG, IMAGE_AT " claims %u bytes, above the %u byte limit",
				f->name, f->record, at, len, IMAGE_MAX_RECORD);
	if (len > left)
		return err_setf(-EBADMSG,
				IMAGE_AT " claims %u bytes, only %" PRIu64 " left in the file",
				f->name, f->record, at, len, left);
	r = image_buf_reserve(f, len);
	if (r < 0)
		return r;
	if (len && fread(f->buf, len, 1, f->fp) != 1)
		return err_setf(-EBADMSG, IMAGE_AT ": short read of %u bytes", f->name, f->record,
				at, len);
	f->offset += len;
	/* An empty record is valid framing; protobuf decides whether it is a valid message. */
	msg = protobuf_c_message_unpack(desc, NULL, len, f->buf);
	if (!msg)
		return err_setf(-EBADMSG, IMAGE_AT " (%u bytes) does not decode as %s", f->name,
				f->record, at, len, desc->name);
	f->record++;
	*ret_msg = msg;
	return 1;
}

int image_close(struct image_file *f)
{
	int r;

	if (!f)
		return 0;
	r = f->error;
	if (f->writing) {
		if (fflush(f->fp) != 0 && r == 0)
			r = err_setf(-errno, "%s: write failed: %s", f->name, strerror(errno));
		if (ferror(f->fp) && r == 0)
			r = err_setf(-EIO, "%s: write failed", f->name);
	}
	if (fclose(f->fp) != 0 && f->writing && r == 0)
		r = err_setf(-errno, "%s: close failed: %s", f->name, strerror(errno));
	image_file_free(f);
	return r;
}

int image_write_single(struct image_dir *d, enum image_kind kind, pid_t pid,
		       const ProtobufCMessage *msg)
{
	struct image_file *f = NULL;
	int r, rc;

	r = image_open_write(d, kind, pid, &f);
	if (r < 0)
		return r;
	r = image_write_record(f, msg);
	rc = image_close(f);
	return r < 0 ? r : rc;
}

/* write() all of it, resuming after signals and short writes. */
static int image_write_full(int fd, const void *data, size_t len, const char *name)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_setf(-errno, "%s: write failed: %s", name, strerror(errno));
		if (n == 0)
			return err_setf(-EIO, "%s: write wrote nothing", name);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int page_writer_open(struct image_dir *d, pid_t pid, struct page_writer **ret)
{
	struct page_writer *w;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->pages_fd = -1;
	w->buf = malloc(PAGE_WRITER_BUF);
	if (!w->buf) {
		free(w);
		return -ENOMEM;
	}
	r = image_file_name(IMAGE_PAGES, pid, w->pages_name, sizeof(w->pages_name));
	if (r == 0)
		r = image_open_write(d, IMAGE_PAGEMAP, pid, &w->pagemap);
	if (r == 0) {
		w->pages_fd = openat(d->dirfd, w->pages_name,
				     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (w->pages_fd < 0)
			r = err_setf(-errno, "cannot create %s/%s: %s", d->path, w->pages_name,
				     strerror(errno));
	}
	if (r < 0) {
		(void)image_close(w->pagemap);
		free(w->buf);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

static int page_writer_flush_run(struct page_writer *w)
{
	PagemapEntry pe = PAGEMAP_ENTRY__INIT;

	if (w->run_pages == 0)
		return 0;
	pe.vaddr = w->run_vaddr;
	pe.nr_pages = (uint32_t)w->run_pages;
	w->run_pages = 0;
	return image_write_record(w->pagemap, &pe.base);
}

static int page_writer_flush_data(struct page_writer *w)
{
	int r = image_write_full(w->pages_fd, w->buf, w->buf_len, w->pages_name);

	w->buf_len = 0;
	return r;
}

static int page_writer_data(struct page_writer *w, const void *data, size_t len)
{
	int r;

	if (w->buf_len + len <= PAGE_WRITER_BUF) {
		memcpy(w->buf + w->buf_len, data, len);
		w->buf_len += len;
		return 0;
	}
	r = page_writer_flush_data(w);
	if (r < 0)
		return r;
	if (len >= PAGE_WRITER_BUF)
		return image_write_full(w->pages_fd, data, len, w->pages_name);
	memcpy(w->buf, data, len);
	w->buf_len = len;
	return 0;
}

int page_writer_add(struct page_writer *w, uint64_t vaddr, const void *data, size_t nr_pages)
{
	uint64_t len;
	int r;

	if (w->error)
		return w->error;
	if (nr_pages == 0 || vaddr % IMAGE_PAGE_SIZE != 0)
		return err_setf(-EINVAL, "%s: bad page run 0x%" PRIx64 " (%zu pages)",
				w->pages_name, vaddr, nr_pages);
	if (nr_pages > UINT32_MAX || nr_pages > (UINT64_MAX - vaddr) / IMAGE_PAGE_SIZE)
		return err_setf(-EINVAL, "%s: page run 0x%" PRIx64 " (%zu pages) overflows",
				w->pages_name, vaddr, nr_pages);
	if (w->started && vaddr < w->end)
		return err_setf(-EINVAL,
				"%s: page 0x%" PRIx64 " below the previous run's end 0x%" PRIx64,
				w->pages_name, vaddr, w->end);
	len = (uint64_t)nr_pages * IMAGE_PAGE_SIZE;
	/* Adjacent runs coalesce, as long as nr_pages still fits its u32 field. */
	if (w->run_pages && vaddr == w->end && w->run_pages + nr_pages <= UINT32_MAX) {
		w->run_pages += nr_pages;
	} else {
		r = page_writer_flush_run(w);
		if (r < 0)
			goto fail;
		w->run_vaddr = vaddr;
		w->run_pages = nr_pages;
	}
	r = page_writer_data(w, data, len);
	if (r < 0)
		goto fail;
	w->end = vaddr + len;
	w->started = true;
	return 0;
fail:
	w->error = r;
	return r;
}

int page_writer_cut(struct page_writer *w)
{
	int r;

	if (w->error)
		return w->error;
	r = page_writer_flush_run(w);
	if (r < 0)
		w->error = r;
	return r;
}

int page_writer_close(struct page_writer *w)
{
	int r, rc;

	if (!w)
		return 0;
	r = w->error;
	if (r == 0)
		r = page_writer_flush_run(w);
	if (r == 0)
		r = page_writer_flush_data(w);
	rc = image_close(w->pagemap);
	if (r == 0)
		r = rc;
	if (close(w->pages_fd) < 0 && r == 0)
		r = err_setf(-errno, "%s: close failed: %s", w->pages_name, strerror(errno));
	free(w->buf);
	free(w);
	return r;
}
