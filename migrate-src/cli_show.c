/*
 * cli_show: `migrate show DIR|FILE.img [--json]` prints image records.
 *
 * A directory is first validated as a whole by image_set_load(), exactly as
 * restore would, so a damaged image is refused rather than half shown; a
 * single file is checked on its own (header, framing, decoding), which is how
 * one looks inside a directory that no longer loads. Everything is read
 * before anything is printed, so output is never cut short by an error.
 *
 * Both outputs walk the protobuf-c descriptors, so a field added to
 * proto/image.proto appears here without code changes. The text output
 * specialises a few things for people: addresses in hex, protections as
 * rwx, one line per VMA and per page run.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "image.h"
#include "log.h"

#define EXIT_USAGE 2
/* Bytes fields (xstate is kilobytes) are cut to this many bytes in the text output. */
#define SHOW_BYTES_TEXT 32

/* One image file, read completely before printing. */
struct show_file {
	char name[64];
	enum image_kind kind;
	ProtobufCMessage **msgs;
	size_t count;
	uint64_t pages_size; /* IMAGE_PAGES only */
};

struct show_list {
	struct show_file *files;
	size_t count;
};

static void show_list_free(struct show_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		for (size_t j = 0; j < l->files[i].count; j++)
			protobuf_c_message_free_unpacked(l->files[i].msgs[j], NULL);
		free(l->files[i].msgs);
	}
	free(l->files);
}

static int show_read_records(struct image_dir *d, pid_t pid, struct show_file *sf)
{
	struct image_file *f = NULL;
	ProtobufCMessage *msg, **p;
	int r;

	r = image_open_read(d, sf->kind, pid, &f);
	if (r < 0)
		return r;
	while ((r = image_read_record(f, &msg)) > 0) {
		p = realloc(sf->msgs, (sf->count + 1) * sizeof(*p));
		if (!p) {
			protobuf_c_message_free_unpacked(msg, NULL);
			r = -ENOMEM;
			break;
		}
		sf->msgs = p;
		sf->msgs[sf->count++] = msg;
	}
	(void)image_close(f); /* read-only: nothing to report */
	return r;
}

static int show_read_pages(struct image_dir *d, struct show_file *sf)
{
	struct stat st;

	if (fstatat(d->dirfd, sf->name, &st, 0) < 0)
		return err_setf(-errno, "%s: %s", sf->name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_setf(-EBADMSG, "%s: not a regular file", sf->name);
	/* A size that is not whole pages is shown, not refused: this view is for damaged images. */
	sf->pages_size = (uint64_t)st.st_size;
	return 0;
}

static int show_list_add(struct show_list *l, struct image_dir *d, enum image_kind kind, pid_t pid)
{
	struct show_file *p, *sf;
	int r;

	p = realloc(l->files, (l->count + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	l->files = p;
	sf = &l->files[l->count++];
	memset(sf, 0, sizeof(*sf));
	sf->kind = kind;
	r = image_file_name(kind, pid, sf->name, sizeof(sf->name));
	if (r < 0)
		return r;
	return kind == IMAGE_PAGES ? show_read_pages(d, sf) : show_read_records(d, pid, sf);
}

static int show_collect_dir(struct image_dir *d, const struct image_set *set, struct show_list *l)
{
	static const enum image_kind per_task[] = { IMAGE_CORE, IMAGE_MM, IMAGE_FILES,
						    IMAGE_PAGEMAP, IMAGE_PAGES };
	int r;

	r = show_list_add(l, d, IMAGE_INVENTORY, 0);
	if (r == 0)
		r = show_list_add(l, d, IMAGE_PSTREE, 0);
	for (size_t t = 0; r == 0 && t < set->task_count; t++)
		for (size_t k = 0; r == 0 && k < sizeof(per_task) / sizeof(per_task[0]); k++)
			if (!set->tasks[t].pstree->zombie) /* a zombie has its pstree entry only */
				r = show_list_add(l, d, per_task[k],
						  (pid_t)set->tasks[t].pstree->pid);
	if (r == 0 && set->inventory->has_ipc_ns && set->inventory->ipc_ns)
		r = show_list_add(l, d, IMAGE_IPC, 0); /* the System V objects */
	return r;
}

/* ---- generic access to protobuf-c fields ---- */

static size_t show_value_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default: /* the 32-bit kinds and enums */
		return 4;
	}
}

/* How many values field f holds in m: n for repeated, 0 or 1 otherwise. */
static size_t show_field_count(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)(base + f->quantifier_offset);
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->label != PROTOBUF_C_LABEL_OPTIONAL)
		return 1;
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(void *const *)(base + f->offset) != NULL;
	return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
}

static const void *show_field_value(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
				    size_t i)
{
	const char *p = (const char *)m + f->offset;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const char *const *)p + i * show_value_size(f->type);
	return p;
}

static const char *show_enum_name(const ProtobufCFieldDescriptor *f, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);

	return ev ? ev->name : NULL;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t show_utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	uint32_t cp;

	if (s[0] < 0xc2 || s[0] > 0xf4 || len > n)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string literal. Bytes that are not UTF-8 (paths need not be) become U+FFFD. */
static void show_json_string(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str);

	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		size_t len;

		if (s[i] == '"' || s[i] == '\\')
			fprintf(out, "\\%c", s[i]);
		else if (s[i] == '\n')
			fputs("\\n", out);
		else if (s[i] == '\t')
			fputs("\\t", out);
		else if (s[i] < 0x20)
			fprintf(out, "\\u%04x", s[i]);
		else if (s[i] < 0x80)
			fputc(s[i], out);
		else if ((len = show_utf8_len(s + i, n - i)) > 0) {
			fwrite(s + i, 1, len, out);
			i += len - 1;
		} else {
			fputs("\\ufffd", out);
		}
	}
	fputc('"', out);
}

static void show_hex(FILE *out, const ProtobufCBinaryData *b, size_t max)
{
	for (size_t i = 0; i < b->len && i < max; i++)
		fprintf(out, "%02x", b->data[i]);
}

/* ---- JSON ---- */

static void show_json_message(FILE *out, const ProtobufCMessage *m);

static void show_json_value(FILE *out, const ProtobufCFieldDescriptor *f, const void *v)
{
	const char *name;
	double d;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		fprintf(out, "%" PRId32, *(const int32_t *)v);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		fprintf(out, "%" PRIu32, *(const uint32_t *)v);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		fprintf(out, "%" PRId64, *(const int64_t *)v);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		fprintf(out, "%" PRIu64, *(const uint64_t *)v);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		d = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)v : *(const double *)v;
		if (isfinite(d))
			fprintf(out, "%.17g", d);
		else
			fputs("null", out); /* JSON has no NaN or infinity */
		break;
	case PROTOBUF_C_TYPE_BOOL:
		fputs(*(const protobuf_c_boolean *)v ? "true" : "false", out);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		name = show_enum_name(f, *(const int *)v);
		if (name)
			show_json_string(out, name);
		else
			fprintf(out, "%d", *(const int *)v);
		break;
	case PROTOBUF_C_TYPE_STRING:
		show_json_string(out, *(const char *const *)v);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		fputc('"', out);
		show_hex(out, v, SIZE_MAX);
		fputc('"', out);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		show_json_message(out, *(const ProtobufCMessage *const *)v);
		break;
	}
}

static void show_json_message(FILE *out, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	bool first = true;

	fputc('{', out);
	for (unsigned int i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		size_t n = show_field_count(m, f);
		bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;

		if (n == 0 && !repeated)
			continue;
		fprintf(out, "%s\"%s\": %s", first ? "" : ", ", f->name, repeated ? "[" : "");
		first = false;
		for (size_t j = 0; j < n; j++) {
			if (j)
				fputs(", ", out);
			show_json_value(out, f, show_field_value(m, f, j));
		}
		if (repeated)
			fputc(']', out);
	}
	fputc('}', out);
}

static void show_json(FILE *out, const char *dir, const struct show_list *l)
{
	fputs("{\"dir\": ", out);
	show_json_string(out, dir);
	fputs(", \"images\": {", out);
	for (size_t i = 0; i < l->count; i++) {
		const struct show_file *sf = &l->files[i];

		fprintf(out, "%s\n  \"%s\": ", i ? "," : "", sf->name);
		if (sf->kind == IMAGE_PAGES) {
			fprintf(out, "{\"size\": %" PRIu64 ", \"pages\": %" PRIu64, sf->pages_size,
				sf->pages_size / IMAGE_PAGE_SIZE);
			if (sf->pages_size % IMAGE_PAGE_SIZE)
				fprintf(out, ", \"trailing_bytes\": %" PRIu64,
					sf->pages_size % IMAGE_PAGE_SIZE);
			fputc('}', out);
			continue;
		}
		fputc('[', out);
		for (size_t j = 0; j < sf->count; j++) {
			fputs(j ? ",\n    " : "\n    ", out);
			show_json_message(out, sf->msgs[j]);
		}
		fputs(sf->count ? "\n  ]" : "]", out);
	}
	fputs("\n}}\n", out);
}

/* ---- text ---- */

static bool show_name_in(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

static void show_text_prot(FILE *out, uint32_t prot)
{
	fprintf(out, "%c%c%c", prot & PROT_READ ? 'r' : '-', prot & PROT_WRITE ? 'w' : '-',
		prot & PROT_EXEC ? 'x' : '-');
}

/* Numbers are printed in hex (addresses, masks) unless the field counts something. */
static void show_text_uint(FILE *out, const char *name, uint64_t v, bool wide)
{
	static const char *const decimal64[] = {
		"dump_time_ns", "robust_list_len", "size", "file_size", "pos", "ino", "dev", NULL
	};
	static const char *const hex32[] = { "flags", "madv", "signature", NULL };

	if (strcmp(name, "prot") == 0)
		show_text_prot(out, (uint32_t)v);
	else if (strcmp(name, "mode") == 0 || strcmp(name, "umask") == 0)
		fprintf(out, "%04" PRIo64, v);
	else if (wide && v == UINT64_MAX && (!strcmp(name, "cur") || !strcmp(name, "max")))
		fputs("unlimited", out);
	else if (wide ? !show_name_in(name, decimal64) : show_name_in(name, hex32))
		fprintf(out, "0x%" PRIx64, v);
	else
		fprintf(out, "%" PRIu64, v);
}

static void show_text_message(FILE *out, const ProtobufCMessage *m, int indent);

static void show_text_value(FILE *out, const ProtobufCFieldDescriptor *f, const void *v)
{
	const ProtobufCBinaryData *b;
	const char *name;

	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		show_text_uint(out, f->name, *(const uint32_t *)v, false);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		show_text_uint(out, f->name, *(const uint64_t *)v, true);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		name = show_enum_name(f, *(const int *)v);
		if (name)
			fputs(name, out);
		else
			fprintf(out, "%d", *(const int *)v);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		b = v;
		fprintf(out, "%zu bytes", b->len);
		if (b->len) {
			fputs(": ", out);
			show_hex(out, b, SHOW_BYTES_TEXT);
			fputs(b->len > SHOW_BYTES_TEXT ? "..." : "", out);
		}
		break;
	default: /* signed numbers, bools, strings: as JSON writes them */
		show_json_value(out, f, v);
		break;
	}
}

/* One line per VMA, like /proc/PID/maps. */
static void show_text_vma(FILE *out, const VmaEntry *v, int indent)
{
	const ProtobufCEnumValue *kind =
		protobuf_c_enum_descriptor_get_value(&vma_kind__descriptor, v->kind);

	fprintf(out, "%*s%012" PRIx64 "-%012" PRIx64 " ", indent, "", v->start, v->end);
	show_text_prot(out, v->prot);
	fprintf(out, "%c %-16s", v->flags & MAP_SHARED ? 's' : 'p', kind ? kind->name : "?");
	if (v->has_pgoff && v->pgoff)
		fprintf(out, " pgoff 0x%" PRIx64, v->pgoff);
	if (v->has_madv && v->madv)
		fprintf(out, " madv 0x%x", v->madv);
	if (v->path) {
		fputc(' ', out);
		show_json_string(out, v->path);
	}
	if (v->has_file_deleted && v->file_deleted)
		fputs(" (deleted)", out);
	fputc('\n', out);
}

static void show_text_field(FILE *out, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
			    size_t n, int indent)
{
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		for (size_t j = 0; j < n; j++) {
			const ProtobufCMessage *sub =
				*(const ProtobufCMessage *const *)show_field_value(m, f, j);

			if (f->label == PROTOBUF_C_LABEL_REPEATED)
				fprintf(out, "%*s%s[%zu]:\n", indent, "", f->name, j);
			else
				fprintf(out, "%*s%s:\n", indent, "", f->name);
			if (sub->descriptor == &vma_entry__descriptor)
				show_text_vma(out, (const VmaEntry *)sub, indent + 2);
			else
				show_text_message(out, sub, indent + 2);
		}
		return;
	}
	fprintf(out, "%*s%s: %s", indent, "", f->name,
		f->label == PROTOBUF_C_LABEL_REPEATED ? "[" : "");
	for (size_t j = 0; j < n; j++) {
		fputs(j ? ", " : "", out);
		show_text_value(out, f, show_field_value(m, f, j));
	}
	fputs(f->label == PROTOBUF_C_LABEL_REPEATED ? "]\n" : "\n", out);
}

static void show_text_message(FILE *out, const ProtobufCMessage *m, int indent)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;

	for (unsigned int i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		size_t n = show_field_count(m, f);

		if (n > 0)
			show_text_field(out, m, f, n, indent);
	}
}

static void show_text_pagemap(FILE *out, const struct show_file *sf)
{
	uint64_t total = 0;

	fprintf(out, "  %-12s %-12s %8s  %s\n", "start", "end", "pages", "offset in pages file");
	for (size_t i = 0; i < sf->count; i++) {
		const PagemapEntry *pe = (const PagemapEntry *)sf->msgs[i];
		uint64_t end = pe->vaddr + (uint64_t)pe->nr_pages * IMAGE_PAGE_SIZE;

		fprintf(out, "  %012" PRIx64 " %012" PRIx64 " %8" PRIu32 "  0x%" PRIx64 "\n",
			pe->vaddr, end, pe->nr_pages, total * IMAGE_PAGE_SIZE);
		total += pe->nr_pages;
	}
	fprintf(out, "  total: %zu run%s, %" PRIu64 " page%s, %" PRIu64 " KiB\n", sf->count,
		sf->count == 1 ? "" : "s", total, total == 1 ? "" : "s",
		total * IMAGE_PAGE_SIZE / 1024);
}

static void show_text(FILE *out, const char *dir, const struct show_list *l)
{
	fprintf(out, "image directory %s\n", dir);
	for (size_t i = 0; i < l->count; i++) {
		const struct show_file *sf = &l->files[i];

		if (sf->kind == IMAGE_PAGES) {
			fprintf(out, "\n%s: %" PRIu64 " bytes, %" PRIu64 " pages\n", sf->name,
				sf->pages_size, sf->pages_size / IMAGE_PAGE_SIZE);
			if (sf->pages_size % IMAGE_PAGE_SIZE)
				fprintf(out,
					"  damaged: %" PRIu64 " bytes after the last whole page\n",
					sf->pages_size % IMAGE_PAGE_SIZE);
			continue;
		}
		fprintf(out, "\n%s: %zu record%s\n", sf->name, sf->count,
			sf->count == 1 ? "" : "s");
		if (sf->kind == IMAGE_PAGEMAP) {
			show_text_pagemap(out, sf);
			continue;
		}
		for (size_t j = 0; j < sf->count; j++) {
			if (sf->count > 1)
				fprintf(out, " [%zu]\n", j);
			show_text_message(out, sf->msgs[j], 2);
		}
	}
}

/* ---- the subcommand ---- */

static int show_dir(const char *path, struct show_list *l)
{
	struct image_set *set;
	struct image_dir d;
	int r;

	r = image_set_load(path, &set);
	if (r < 0 && err_detail()[0]) {
		log_error("show: refusing %s: %s", path, err_detail());
		return r;
	}
	if (r < 0)
		return log_error_errno(r, "show: cannot load %s", path);
	r = image_dir_open(&d, path, false);
	if (r == 0) {
		r = show_collect_dir(&d, set, l);
		image_dir_close(&d);
	}
	image_set_free(set);
	if (r < 0)
		return log_error_errno(r, "show: cannot read %s: %s", path, err_detail());
	return 0;
}

/* path is a single FILE.img; *ret_dir gets its directory (malloc'd). */
static int show_one_file(const char *path, struct show_list *l, char **ret_dir)
{
	char *copy_dir = strdup(path), *copy_base = strdup(path);
	struct image_dir d = { .dirfd = -1 };
	enum image_kind kind;
	pid_t pid;
	int r;

	if (!copy_dir || !copy_base) {
		r = log_error_errno(-ENOMEM, "show");
		goto out;
	}
	r = image_kind_from_name(basename(copy_base), &kind, &pid);
	if (r < 0) {
		r = log_error_errno(r, "show: %s", err_detail());
		goto out;
	}
	r = image_dir_open(&d, dirname(copy_dir), false);
	if (r == 0)
		r = show_list_add(l, &d, kind, pid);
	if (r < 0) {
		log_error("show: cannot show %s: %s", path, err_detail());
		goto out;
	}
	*ret_dir = strdup(d.path);
	if (!*ret_dir)
		r = -ENOMEM;
out:
	image_dir_close(&d);
	free(copy_dir);
	free(copy_base);
	return r;
}

static void show_usage(FILE *out)
{
	fprintf(out, "Usage: migrate show DIR [--json]\n"
		     "       migrate show DIR/FILE.img [--json]\n\n"
		     "Prints the records of an image directory (validated as restore would: a\n"
		     "damaged image is refused) or of one image file (checked on its own: use it\n"
		     "to look inside a directory that does not load).\n\n"
		     "Options:\n"
		     "  --json      one JSON object {\"dir\": ..., \"images\": {...}}, each\n"
		     "              file's records in an array under the file's name,\n"
		     "              with every field of every record; bytes as hex strings\n"
		     "  -h, --help  this help\n\n"
		     "Exit status: 0 shown, 1 unreadable or damaged image, 2 usage error.\n");
}

int cli_show(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct show_list l = { 0 };
	bool json = false;
	char *dir = NULL;
	struct stat st;
	int opt, r;

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == 'j') {
			json = true;
		} else if (opt == 'h') {
			show_usage(stdout);
			return 0;
		} else {
			return cli_usage_error("show", opt, argv);
		}
	}
	if (argc - optind != 1) {
		log_error("show: expected one image directory or file, got %d arguments",
			  argc - optind);
		log_error("try 'migrate show --help'");
		return EXIT_USAGE;
	}
	err_clear();
	if (stat(argv[optind], &st) < 0) {
		log_error_errno(-errno, "show: %s", argv[optind]);
		return 1;
	}
	if (S_ISDIR(st.st_mode)) {
		r = show_dir(argv[optind], &l);
		dir = r == 0 ? strdup(argv[optind]) : NULL;
		if (r == 0 && !dir)
			r = log_error_errno(-ENOMEM, "show");
	} else {
		r = show_one_file(argv[optind], &l, &dir);
	}
	if (r == 0) {
		if (json)
			show_json(stdout, dir, &l);
		else
			show_text(stdout, dir, &l);
		if (fflush(stdout) != 0)
			r = log_error_errno(-errno, "show: cannot write the output");
	}
	show_list_free(&l);
	free(dir);
	return r < 0 ? 1 : 0;
}
