/*
 * proc: parsers for the /proc files a checkpoint reads.
 *
 * The text is never trusted: it may be truncated (a process that exits while
 * we read), contain NUL bytes, or lack a final newline (fuzzers). So nothing
 * here relies on NUL termination: every scan is bounded by an end pointer, and
 * numbers go through our own bounded parsers (strtoull would read past len and
 * accepts signs and spaces we do not want).
 */
#include "proc.h"
#include "err.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PROC_PAGE_SIZE 4096ULL
/* smaps of a large process runs to tens of MiB; beyond this something is wrong */
#define PROC_FILE_MAX (1ULL << 30)
/* Column where the kernel starts the name in maps lines on 64-bit (seq_pad width 72 + 1) */
#define MAPS_NAME_COLUMN 73
#define QUOTE_MAX 80

/* A bounded view of text: [p, end). */
struct cursor {
	const char *p;
	const char *end;
};

/* Iterates over lines; the last one may lack its '\n'. */
struct line_iter {
	struct cursor rest;
	unsigned int lineno;
};

static void line_iter_init(struct line_iter *it, const char *text, size_t len)
{
	it->rest.p = text;
	it->rest.end = text ? text + len : text;
	it->lineno = 0;
}

static bool line_iter_next(struct line_iter *it, struct cursor *line)
{
	const char *nl;

	if (it->rest.p >= it->rest.end)
		return false;
	nl = memchr(it->rest.p, '\n', it->rest.end - it->rest.p);
	line->p = it->rest.p;
	line->end = nl ? nl : it->rest.end;
	it->rest.p = nl ? nl + 1 : it->rest.end;
	it->lineno++;
	return true;
}

/* Error detail quoting the offending line, with unprintable bytes shown as '?'. */
static int proc_bad_line(const char *file, unsigned int lineno, struct cursor line, const char *why)
{
	char quote[QUOTE_MAX + 1];
	size_t n = (size_t)(line.end - line.p);
	size_t i;

	if (n > QUOTE_MAX)
		n = QUOTE_MAX;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line.p[i];

		quote[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	quote[n] = '\0';
	return err_setf(-EINVAL, "%s line %u: %s: \"%s\"%s", file, lineno, why, quote,
			line.end - line.p > QUOTE_MAX ? "..." : "");
}

static bool cur_at_end(const struct cursor *c)
{
	return c->p >= c->end;
}

static bool cur_eat(struct cursor *c, char ch)
{
	if (cur_at_end(c) || *c->p != ch)
		return false;
	c->p++;
	return true;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static void cur_skip_blanks(struct cursor *c)
{
	while (!cur_at_end(c) && is_blank(*c->p))
		c->p++;
}

/* True if only blanks remain. */
static bool cur_only_blanks(struct cursor c)
{
	cur_skip_blanks(&c);
	return cur_at_end(&c);
}

static int digit_value(char ch, unsigned int base)
{
	int v;

	if (ch >= '0' && ch <= '9')
		v = ch - '0';
	else if (ch >= 'a' && ch <= 'f')
		v = ch - 'a' + 10;
	else if (ch >= 'A' && ch <= 'F')
		v = ch - 'A' + 10;
	else
		return -1;
	return v < (int)base ? v : -1;
}

/* An unsigned number in base 8, 10 or 16: at least one digit, no sign, no overflow. */
static bool cur_u64(struct cursor *c, unsigned int base, uint64_t *ret)
{
	uint64_t v = 0;
	const char *start = c->p;
	int d;

	while (!cur_at_end(c) && (d = digit_value(*c->p, base)) >= 0) {
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return false;
		v = v * base + (uint64_t)d;
		c->p++;
	}
	if (c->p == start)
		return false;
	*ret = v;
	return true;
}

/* A decimal number with an optional '-', in [INT64_MIN, INT64_MAX]. */
static bool cur_s64(struct cursor *c, int64_t *ret)
{
	bool neg = cur_eat(c, '-');
	uint64_t mag;

	if (!cur_u64(c, 10, &mag))
		return false;
	if (mag > (uint64_t)INT64_MAX + (neg ? 1 : 0))
		return false;
	*ret = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return true;
}

static bool cur_u32(struct cursor *c, unsigned int base, uint32_t *ret)
{
	uint64_t v;

	if (!cur_u64(c, base, &v) || v > UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

static bool cur_int(struct cursor *c, int min, int *ret)
{
	int64_t v;

	if (!cur_s64(c, &v) || v < min || v > INT_MAX)
		return false;
	*ret = (int)v;
	return true;
}

/* If the line starts with key (e.g. "Tgid:"), moves past it and the blanks after. */
static bool cur_key(struct cursor *c, const char *key)
{
	size_t n = strlen(key);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, key, n) != 0)
		return false;
	c->p += n;
	cur_skip_blanks(c);
	return true;
}

/* ---- reading ---- */

static int proc_path(pid_t pid, const char *name, char *buf, size_t size)
{
	int n;

	if (pid < 0 || !name || !name[0] || name[0] == '/')
		return err_setf(-EINVAL, "bad /proc path: pid %d, name \"%s\"", (int)pid,
				name ? name : "(null)");
	if (pid == 0)
		n = snprintf(buf, size, "/proc/self/%s", name);
	else
		n = snprintf(buf, size, "/proc/%d/%s", (int)pid, name);
	if (n < 0 || (size_t)n >= size)
		return err_setf(-ENAMETOOLONG, "/proc path for \"%s\" is too long", name);
	return 0;
}

/* Reads fd to its end; /proc files report size 0, so grow as we go. */
static int proc_read_fd(int fd, const char *path, char **ret_text, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap), *bigger;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (cap - len < 2) {
			if (cap >= PROC_FILE_MAX) {
				free(buf);
				return err_setf(-EFBIG, "%s: larger than %llu bytes", path,
						PROC_FILE_MAX);
			}
			bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				return -ENOMEM;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			free(buf);
			return err_setf(r, "cannot read %s: %s", path, strerror(-r));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret_text = buf;
	*ret_len = len;
	return 0;
}

int proc_read_file(pid_t pid, const char *name, char **ret_text, size_t *ret_len)
{
	char path[PATH_MAX];
	int fd, r;

	r = proc_path(pid, name, path, sizeof(path));
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return err_setf(r, "cannot open %s: %s", path, strerror(-r));
	}
	r = proc_read_fd(fd, path, ret_text, ret_len);
	close(fd);
	return r;
}

/* ---- maps ---- */

static bool parse_perms(struct cursor *c, struct proc_vma *vma)
{
	static const char want[3] = { 'r', 'w', 'x' };
	static const uint32_t prot[3] = { PROT_READ, PROT_WRITE, PROT_EXEC };
	int i;

	if (c->end - c->p < 4)
		return false;
	vma->prot = 0;
	for (i = 0; i < 3; i++) {
		if (c->p[i] == want[i])
			vma->prot |= prot[i];
		else if (c->p[i] != '-')
			return false;
	}
	if (c->p[3] != 's' && c->p[3] != 'p')
		return false;
	vma->shared = c->p[3] == 's';
	c->p += 4;
	return true;
}

/* "start-end perms offset major:minor inode": everything before the name. */
static const char *parse_vma_prefix(struct cursor *c, struct proc_vma *vma)
{
	if (!cur_u64(c, 16, &vma->start) || !cur_eat(c, '-') || !cur_u64(c, 16, &vma->end))
		return "bad address range";
	if (!cur_eat(c, ' ') || !parse_perms(c, vma))
		return "bad permissions";
	if (!cur_eat(c, ' ') || !cur_u64(c, 16, &vma->pgoff))
		return "bad offset";
	if (!cur_eat(c, ' ') || !cur_u32(c, 16, &vma->dev_major) || !cur_eat(c, ':') ||
	    !cur_u32(c, 16, &vma->dev_minor))
		return "bad device";
	if (!cur_eat(c, ' ') || !cur_u64(c, 10, &vma->ino))
		return "bad inode";
	if (vma->start >= vma->end)
		return "start is not below end";
	if ((vma->start | vma->end | vma->pgoff) & (PROC_PAGE_SIZE - 1))
		return "not page aligned";
	return NULL;
}

/*
 * The kernel pads the name to a fixed column, so a name that itself starts
 * with spaces begins exactly there; skip blanks only up to that column.
 */
static void name_bounds(struct cursor line, const char *after_prefix, struct cursor *name)
{
	const char *col = line.p + MAPS_NAME_COLUMN;
	const char *p = after_prefix + 1;

	if (col < p)
		col = p;
	while (p < line.end && p < col && *p == ' ')
		p++;
	name->p = p;
	name->end = line.end;
}

/* Copies the name, turning the kernel's "\012" back into '\n' (mangle_path escapes only that). */
static char *name_dup(struct cursor name)
{
	size_t n = (size_t)(name.end - name.p), i, o = 0;
	char *s = malloc(n + 1);

	if (!s)
		return NULL;
	for (i = 0; i < n; i++) {
		if (n - i >= 4 && memcmp(name.p + i, "\\012", 4) == 0) {
			s[o++] = '\n';
			i += 3;
		} else {
			s[o++] = name.p[i];
		}
	}
	s[o] = '\0';
	return s;
}

static int parse_vma_name(struct cursor line, const char *after_prefix, struct proc_vma *vma)
{
	static const char deleted[] = " (deleted)";
	const size_t dlen = sizeof(deleted) - 1;
	struct cursor name;

	vma->path = NULL;
	vma->deleted = false;
	if (after_prefix >= line.end)
		return 0;
	name_bounds(line, after_prefix, &name);
	if (cur_at_end(&name))
		return 0;
	if ((size_t)(name.end - name.p) > dlen && memcmp(name.end - dlen, deleted, dlen) == 0) {
		name.end -= dlen;
		vma->deleted = true;
	}
	vma->path = name_dup(name);
	return vma->path ? 0 : -ENOMEM;
}

static int vma_list_push(struct proc_vma_list *list, size_t *cap, const struct proc_vma *vma)
{
	struct proc_vma *bigger;

	if (list->count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;

		bigger = realloc(list->vmas, ncap * sizeof(*bigger));
		if (!bigger)
			return -ENOMEM;
		list->vmas = bigger;
		*cap = ncap;
	}
	list->vmas[list->count++] = *vma;
	return 0;
}

static int parse_maps_line(struct cursor line, unsigned int lineno, uint64_t prev_end,
			   struct proc_vma *vma)
{
	struct cursor c = line;
	const char *why;

	memset(vma, 0, sizeof(*vma));
	why = parse_vma_prefix(&c, vma);
	if (!why && !cur_at_end(&c) && *c.p != ' ')
		why = "garbage after inode";
	if (!why && vma->start < prev_end)
		why = "unsorted or overlapping with the previous range";
	if (why)
		return proc_bad_line("maps", lineno, line, why);
	return parse_vma_name(line, c.p, vma);
}

int proc_parse_maps(const char *text, size_t len, struct proc_vma_list *ret)
{
	struct proc_vma_list list = { 0 };
	struct line_iter it;
	struct cursor line;
	struct proc_vma vma;
	size_t cap = 0;
	uint64_t prev_end = 0;
	int r;

	line_iter_init(&it, text, len);
	while (line_iter_next(&it, &line)) {
		r = parse_maps_line(line, it.lineno, prev_end, &vma);
		if (r < 0)
			goto fail;
		r = vma_list_push(&list, &cap, &vma);
		if (r < 0) {
			free(vma.path);
			goto fail;
		}
		prev_end = vma.end;
	}
	*ret = list;
	return 0;
fail:
	proc_vma_list_free(&list);
	return r;
}

void proc_vma_list_free(struct proc_vma_list *list)
{
	size_t i;

	if (!list)
		return;
	for (i = 0; i < list->count; i++)
		free(list->vmas[i].path);
	free(list->vmas);
	list->vmas = NULL;
	list->count = 0;
}

/* ---- smaps ---- */

static const struct {
	char name[3];
	uint64_t bit;
} vmflag_names[] = {
	{ "rd", PROC_VMF_RD }, { "wr", PROC_VMF_WR }, { "ex", PROC_VMF_EX }, { "sh", PROC_VMF_SH },
	{ "gd", PROC_VMF_GD }, { "pf", PROC_VMF_PF }, { "io", PROC_VMF_IO }, { "lo", PROC_VMF_LO },
	{ "dc", PROC_VMF_DC }, { "dd", PROC_VMF_DD }, { "hg", PROC_VMF_HG }, { "nh", PROC_VMF_NH },
	{ "mg", PROC_VMF_MG }, { "wf", PROC_VMF_WF }, { "um", PROC_VMF_UM }, { "uw", PROC_VMF_UW },
	{ "sd", PROC_VMF_SD }, { "de", PROC_VMF_DE }, { "ar", PROC_VMF_AR }, { "ss", PROC_VMF_SS },
	{ "nr", PROC_VMF_NR },
};

/* Unknown flags (mr, mw, me, ac, ...) carry nothing we restore: ignored. */
static uint64_t parse_vmflags(struct cursor c)
{
	uint64_t flags = 0;
	size_t i;

	for (;;) {
		const char *word;

		cur_skip_blanks(&c);
		if (cur_at_end(&c))
			return flags;
		word = c.p;
		while (!cur_at_end(&c) && !is_blank(*c.p))
			c.p++;
		if (c.p - word != 2)
			continue;
		for (i = 0; i < sizeof(vmflag_names) / sizeof(vmflag_names[0]); i++)
			if (memcmp(word, vmflag_names[i].name, 2) == 0)
				flags |= vmflag_names[i].bit;
	}
}

/* The list is sorted (proc_parse_maps checked), so search it by halves. */
static struct proc_vma *vma_find(struct proc_vma_list *list, uint64_t start)
{
	size_t lo = 0, hi = list->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (list->vmas[mid].start == start)
			return &list->vmas[mid];
		if (list->vmas[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A field line is "Key: value"; anything else must be a VMA header. */
static bool smaps_is_field(struct cursor c)
{
	while (!cur_at_end(&c) && !is_blank(*c.p)) {
		if (*c.p == ':')
			return true;
		c.p++;
	}
	return false;
}

static int smaps_header(struct cursor line, unsigned int lineno, struct proc_vma_list *list,
			size_t *ret_index)
{
	struct cursor c = line;
	struct proc_vma hdr;
	struct proc_vma *vma;
	const char *why;

	memset(&hdr, 0, sizeof(hdr));
	why = parse_vma_prefix(&c, &hdr);
	if (why)
		return proc_bad_line("smaps", lineno, line, why);
	vma = vma_find(list, hdr.start);
	if (!vma || vma->end != hdr.end)
		return proc_bad_line("smaps", lineno, line,
				     "range not in maps (the process changed between reads?)");
	*ret_index = (size_t)(vma - list->vmas);
	return 0;
}

int proc_parse_smaps_vmflags(const char *text, size_t len, struct proc_vma_list *list)
{
	struct line_iter it;
	struct cursor line;
	uint64_t *flags;
	size_t cur = SIZE_MAX, i;
	int r = 0;

	if (!list || (list->count && !list->vmas))
		return err_setf(-EINVAL, "smaps: no VMA list");
	/* Collect first, commit at the end: the list is untouched on failure. */
	flags = calloc(list->count ? list->count : 1, sizeof(*flags));
	if (!flags)
		return -ENOMEM;
	line_iter_init(&it, text, len);
	while (line_iter_next(&it, &line)) {
		if (!smaps_is_field(line)) {
			r = smaps_header(line, it.lineno, list, &cur);
			if (r < 0)
				break;
		} else if (cur_key(&line, "VmFlags:")) {
			if (cur == SIZE_MAX) {
				r = proc_bad_line("smaps", it.lineno, line,
						  "VmFlags before any VMA");
				break;
			}
			flags[cur] = parse_vmflags(line);
		}
	}
	if (r == 0)
		for (i = 0; i < list->count; i++)
			list->vmas[i].vm_flags = flags[i];
	free(flags);
	return r;
}

/* ---- status ---- */

/* Undoes the kernel's string_escape_str() on a task name; stops at 63 bytes. */
static void unescape_name(struct cursor c, char *out, size_t size)
{
	static const char esc_in[] = "nt\\\"abefrv";
	static const char esc_out[] = "\n\t\\\"\a\b\x1b\f\r\v";
	size_t o = 0;

	while (!cur_at_end(&c) && o + 1 < size) {
		char ch = *c.p++;
		const char *e;
		uint64_t oct;

		if (ch == '\\' && !cur_at_end(&c)) {
			if (*c.p >= '0' && *c.p <= '7' && c.end - c.p >= 3) {
				struct cursor d = { c.p, c.p + 3 };

				if (cur_u64(&d, 8, &oct) && d.p == c.p + 3 && oct <= 0xff) {
					c.p += 3;
					out[o++] = (char)oct;
					continue;
				}
			}
			e = *c.p ? strchr(esc_in, *c.p) : NULL;
			if (e) {
				ch = esc_out[e - esc_in];
				c.p++;
			}
		}
		out[o++] = ch;
	}
	out[o] = '\0';
}

static int status_groups(struct cursor c, struct proc_status *st)
{
	uint32_t *groups = NULL, *bigger;
	size_t n = 0, cap = 0;
	uint32_t gid;

	for (;;) {
		cur_skip_blanks(&c);
		if (cur_at_end(&c))
			break;
		if (!cur_u32(&c, 10, &gid) || (!cur_at_end(&c) && !is_blank(*c.p))) {
			free(groups);
			return -EINVAL;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			bigger = realloc(groups, cap * sizeof(*groups));
			if (!bigger) {
				free(groups);
				return -ENOMEM;
			}
			groups = bigger;
		}
		groups[n++] = gid;
	}
	free(st->groups);
	st->groups = groups;
	st->ngroups = n;
	return 0;
}

static bool status_ids(struct cursor *c, uint32_t ids[4])
{
	int i;

	for (i = 0; i < 4; i++) {
		cur_skip_blanks(c);
		if (!cur_u32(c, 10, &ids[i]))
			return false;
	}
	return true;
}

static bool status_nspid(struct cursor *c, struct proc_status *st)
{
	int n = 0, v;

	for (;;) {
		cur_skip_blanks(c);
		if (cur_at_end(c))
			break;
		if (n == (int)(sizeof(st->nspid) / sizeof(st->nspid[0])) || !cur_int(c, 0, &v))
			return false;
		st->nspid[n++] = v;
	}
	st->nspid_count = n;
	return n > 0;
}

enum status_seen {
	SEEN_NAME = 1 << 0,
	SEEN_TGID = 1 << 1,
	SEEN_UID = 1 << 2,
	SEEN_GID = 1 << 3,
	SEEN_ALL = (1 << 4) - 1,
};

struct status_hex {
	const char *key;
	size_t offset;
};

static const struct status_hex status_hex_fields[] = {
	{ "CapInh:", offsetof(struct proc_status, cap_inh) },
	{ "CapPrm:", offsetof(struct proc_status, cap_prm) },
	{ "CapEff:", offsetof(struct proc_status, cap_eff) },
	{ "CapBnd:", offsetof(struct proc_status, cap_bnd) },
	{ "CapAmb:", offsetof(struct proc_status, cap_amb) },
	{ "SigPnd:", offsetof(struct proc_status, sig_pnd) },
	{ "ShdPnd:", offsetof(struct proc_status, shd_pnd) },
	{ "SigBlk:", offsetof(struct proc_status, sig_blk) },
	{ "SigIgn:", offsetof(struct proc_status, sig_ign) },
	{ "SigCgt:", offsetof(struct proc_status, sig_cgt) },
};

/* Fields holding one number; returns true when the key was one of them. */
static bool status_number(struct cursor *c, struct proc_status *st, unsigned int *seen, bool *ok)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < sizeof(status_hex_fields) / sizeof(status_hex_fields[0]); i++) {
		if (cur_key(c, status_hex_fields[i].key)) {
			*ok = cur_u64(c, 16, &v);
			memcpy((char *)st + status_hex_fields[i].offset, &v, sizeof(v));
			return true;
		}
	}
	if (cur_key(c, "Tgid:")) {
		*seen |= SEEN_TGID;
		*ok = cur_int(c, 0, &st->tgid);
	} else if (cur_key(c, "PPid:")) {
		*ok = cur_int(c, 0, &st->ppid);
	} else if (cur_key(c, "TracerPid:")) {
		*ok = cur_int(c, 0, &st->tracer_pid);
	} else if (cur_key(c, "Umask:")) {
		*ok = cur_u32(c, 8, &st->umask) && st->umask <= 0777;
	} else if (cur_key(c, "NoNewPrivs:")) {
		*ok = cur_u64(c, 10, &v) && v <= 1;
		st->no_new_privs = v == 1;
	} else if (cur_key(c, "Seccomp:")) {
		*ok = cur_int(c, 0, &st->seccomp) && st->seccomp <= 2;
	} else if (cur_key(c, "Threads:")) {
		*ok = cur_int(c, 0, &st->threads);
	} else {
		return false;
	}
	return true;
}

/* One line; returns 0, -EINVAL (malformed) or -ENOMEM. */
static int status_line(struct cursor c, struct proc_status *st, unsigned int *seen)
{
	bool ok = true;

	if (!smaps_is_field(c))
		return -EINVAL;
	/* Not cur_key(): it would eat blanks that belong to the name. */
	if (c.end - c.p >= 6 && memcmp(c.p, "Name:\t", 6) == 0) {
		c.p += 6;
		*seen |= SEEN_NAME;
		unescape_name(c, st->name, sizeof(st->name));
		return 0;
	}
	if (cur_key(&c, "State:")) {
		if (cur_at_end(&c) || !isalpha((unsigned char)*c.p))
			return -EINVAL;
		st->state = *c.p;
		return 0;
	}
	if (cur_key(&c, "Groups:"))
		return status_groups(c, st);
	if (cur_key(&c, "Uid:")) {
		*seen |= SEEN_UID;
		ok = status_ids(&c, st->uid);
	} else if (cur_key(&c, "Gid:")) {
		*seen |= SEEN_GID;
		ok = status_ids(&c, st->gid);
	} else if (cur_key(&c, "NSpid:")) {
		ok = status_nspid(&c, st);
	} else if (!status_number(&c, st, seen, &ok)) {
		return 0; /* a field we do not need */
	}
	return ok && cur_only_blanks(c) ? 0 : -EINVAL;
}

int proc_parse_status(const char *text, size_t len, struct proc_status *ret)
{
	struct proc_status st = { 0 };
	struct line_iter it;
	struct cursor line;
	unsigned int seen = 0;
	int r;

	line_iter_init(&it, text, len);
	while (line_iter_next(&it, &line)) {
		r = status_line(line, &st, &seen);
		if (r == -EINVAL)
			r = proc_bad_line("status", it.lineno, line, "malformed field");
		if (r < 0) {
			proc_status_fini(&st);
			return r;
		}
	}
	if ((seen & SEEN_ALL) != SEEN_ALL) {
		proc_status_fini(&st);
		return err_setf(-EINVAL, "status: Name, Tgid, Uid or Gid is missing");
	}
	*ret = st;
	return 0;
}

void proc_status_fini(struct proc_status *st)
{
	if (!st)
		return;
	free(st->groups);
	st->groups = NULL;
	st->ngroups = 0;
}

/* ---- stat ---- */

/* Fields of proc(5) numbered from 1; we need up to exit_code, the 52nd. */
#define STAT_FIELDS 52

static bool stat_fits_int(int64_t v, int min)
{
	return v >= min && v <= INT_MAX;
}

static int stat_store(const int64_t *f, struct proc_stat *st)
{
	if (!stat_fits_int(f[4], 0) || !stat_fits_int(f[5], 0) || !stat_fits_int(f[6], 0) ||
	    !stat_fits_int(f[7], INT_MIN) || !stat_fits_int(f[52], INT_MIN))
		return -EINVAL;
	st->ppid = (pid_t)f[4];
	st->pgrp = (pid_t)f[5];
	st->session = (pid_t)f[6];
	st->tty_nr = (int)f[7];
	st->flags = (uint64_t)f[9];
	st->num_threads = f[20];
	st->start_code = (uint64_t)f[26];
	st->end_code = (uint64_t)f[27];
	st->start_stack = (uint64_t)f[28];
	st->start_data = (uint64_t)f[45];
	st->end_data = (uint64_t)f[46];
	st->start_brk = (uint64_t)f[47];
	st->arg_start = (uint64_t)f[48];
	st->arg_end = (uint64_t)f[49];
	st->env_start = (uint64_t)f[50];
	st->env_end = (uint64_t)f[51];
	st->exit_code = (int)f[52];
	return 0;
}

/*
 * Numeric fields 4..52. Some are signed (tpgid -1), others are full u64
 * (rsslim, wchan): both are kept as 64-bit patterns.
 */
static const char *stat_numbers(struct cursor *c, int64_t *f)
{
	int i;

	for (i = 4; i <= STAT_FIELDS; i++) {
		uint64_t u;

		if (!cur_eat(c, ' '))
			return "missing fields";
		if (!cur_at_end(c) && *c->p == '-') {
			if (!cur_s64(c, &f[i]))
				return "bad number";
		} else {
			if (!cur_u64(c, 10, &u))
				return "bad number";
			f[i] = (int64_t)u;
		}
	}
	return NULL;
}

static const char *stat_parse(struct cursor line, struct proc_stat *st)
{
	struct cursor c = line, comm;
	int64_t f[STAT_FIELDS + 1] = { 0 };
	const char *close;
	size_t n;

	if (!cur_int(&c, 1, &st->pid) || !cur_eat(&c, ' ') || !cur_eat(&c, '('))
		return "bad pid";
	/* comm is printed raw: it may hold ')', spaces, even '\n'; the last ')' ends it */
	close = memrchr(c.p, ')', (size_t)(c.end - c.p));
	if (!close)
		return "no ')' after comm";
	comm.p = c.p;
	comm.end = close++;
	n = (size_t)(comm.end - comm.p);
	if (n >= sizeof(st->comm))
		n = sizeof(st->comm) - 1;
	memcpy(st->comm, comm.p, n);
	st->comm[n] = '\0';
	c.p = close;
	if (!cur_eat(&c, ' ') || cur_at_end(&c) || !isalpha((unsigned char)*c.p))
		return "bad state";
	st->state = *c.p++;
	/* Fields after the 52nd (newer kernels) are left unread on purpose. */
	if (stat_numbers(&c, f))
		return "missing or bad numeric fields";
	return stat_store(f, st) ? "field out of range" : NULL;
}

int proc_parse_stat(const char *text, size_t len, struct proc_stat *ret)
{
	struct proc_stat st = { 0 };
	struct cursor line = { text, text ? text + len : text };
	const char *why;

	/* One record, not lines: a newline inside comm must not cut it. */
	if (len && text[len - 1] == '\n')
		line.end--;
	why = stat_parse(line, &st);
	if (why)
		return proc_bad_line("stat", 1, line, why);
	*ret = st;
	return 0;
}

/* ---- fdinfo ---- */

int proc_parse_fdinfo(const char *text, size_t len, struct proc_fdinfo *ret)
{
	struct proc_fdinfo fi = { 0 };
	struct line_iter it;
	struct cursor line, c;
	unsigned int seen = 0;
	bool ok;

	line_iter_init(&it, text, len);
	while (line_iter_next(&it, &line)) {
		c = line;
		if (cur_key(&c, "pos:")) {
			ok = cur_u64(&c, 10, &fi.pos);
			seen |= 1;
		} else if (cur_key(&c, "flags:")) {
			ok = cur_u32(&c, 8, &fi.flags);
			seen |= 2;
		} else if (cur_key(&c, "mnt_id:")) {
			ok = cur_int(&c, 0, &fi.mnt_id);
			seen |= 4;
		} else if (cur_key(&c, "ino:")) {
			ok = cur_u64(&c, 10, &fi.ino);
		} else {
			continue; /* eventfd-count, tfd, inotify, ...: other parsers' business */
		}
		if (!ok || !cur_only_blanks(c))
			return proc_bad_line("fdinfo", it.lineno, line, "malformed field");
	}
	if (seen != 7)
		return err_setf(-EINVAL, "fdinfo: pos, flags or mnt_id is missing");
	*ret = fi;
	return 0;
}

/* ---- limits ---- */

static const struct {
	const char *name;
	int resource;
} limit_names[] = {
	{ "Max cpu time", RLIMIT_CPU },
	{ "Max file size", RLIMIT_FSIZE },
	{ "Max data size", RLIMIT_DATA },
	{ "Max stack size", RLIMIT_STACK },
	{ "Max core file size", RLIMIT_CORE },
	{ "Max resident set", RLIMIT_RSS },
	{ "Max processes", RLIMIT_NPROC },
	{ "Max open files", RLIMIT_NOFILE },
	{ "Max locked memory", RLIMIT_MEMLOCK },
	{ "Max address space", RLIMIT_AS },
	{ "Max file locks", RLIMIT_LOCKS },
	{ "Max pending signals", RLIMIT_SIGPENDING },
	{ "Max msgqueue size", RLIMIT_MSGQUEUE },
	{ "Max nice priority", RLIMIT_NICE },
	{ "Max realtime priority", RLIMIT_RTPRIO },
	{ "Max realtime timeout", RLIMIT_RTTIME },
};

#define LIMIT_COUNT (sizeof(limit_names) / sizeof(limit_names[0]))

static bool limit_value(struct cursor *c, rlim_t *ret)
{
	uint64_t v;

	cur_skip_blanks(c);
	if ((size_t)(c->end - c->p) >= 9 && memcmp(c->p, "unlimited", 9) == 0) {
		c->p += 9;
		v = RLIM_INFINITY;
	} else if (!cur_u64(c, 10, &v)) {
		return false;
	}
	*ret = (rlim_t)v;
	return cur_at_end(c) || is_blank(*c->p);
}

/* Returns the index in limit_names, -1 for an unknown row (a newer kernel's). */
static int limit_row(struct cursor *c)
{
	size_t i;

	for (i = 0; i < LIMIT_COUNT; i++) {
		size_t n = strlen(limit_names[i].name);

		if ((size_t)(c->end - c->p) > n && memcmp(c->p, limit_names[i].name, n) == 0 &&
		    c->p[n] == ' ') {
			c->p += n;
			return (int)i;
		}
	}
	return -1;
}

int proc_parse_limits(const char *text, size_t len, struct rlimit ret[RLIM_NLIMITS])
{
	struct rlimit lim[RLIM_NLIMITS], *rl;
	struct line_iter it;
	struct cursor line, c;
	unsigned int seen = 0;
	int row;

	memset(lim, 0, sizeof(lim));
	line_iter_init(&it, text, len);
	if (!line_iter_next(&it, &line) || !cur_key(&line, "Limit "))
		return err_setf(-EINVAL, "limits: no header line");
	while (line_iter_next(&it, &line)) {
		c = line;
		row = limit_row(&c);
		if (row < 0)
			continue;
		rl = &lim[limit_names[row].resource];

		if (!limit_value(&c, &rl->rlim_cur) || !limit_value(&c, &rl->rlim_max) ||
		    rl->rlim_cur > rl->rlim_max || (seen & (1u << row)))
			return proc_bad_line("limits", it.lineno, line, "malformed limit");
		seen |= 1u << row;
	}
	if (seen != (1u << LIMIT_COUNT) - 1)
		return err_setf(-EINVAL, "limits: some rows are missing");
	memcpy(ret, lim, sizeof(lim));
	return 0;
}

/* ---- directories ---- */

static int compare_ids(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* A name made of digits only that fits an int, else -1. */
static int numeric_name(const char *name)
{
	struct cursor c = { name, name + strlen(name) };
	int v;

	if (cur_at_end(&c) || !isdigit((unsigned char)*c.p) || !cur_int(&c, 0, &v) ||
	    !cur_at_end(&c))
		return -1;
	return v;
}

static int collect_ids(DIR *d, int **ret_ids, size_t *ret_count)
{
	int *ids = NULL, *bigger;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int id;

	while ((errno = 0, de = readdir(d))) {
		id = numeric_name(de->d_name);
		if (id < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			bigger = realloc(ids, cap * sizeof(*ids));
			if (!bigger) {
				free(ids);
				return -ENOMEM;
			}
			ids = bigger;
		}
		ids[n++] = id;
	}
	if (errno) {
		id = -errno;
		free(ids);
		return id;
	}
	if (n)
		qsort(ids, n, sizeof(*ids), compare_ids);
	*ret_ids = ids;
	*ret_count = n;
	return 0;
}

int proc_list_numeric(pid_t pid, const char *dir, int **ret_ids, size_t *ret_count)
{
	char path[PATH_MAX];
	DIR *d;
	int r;

	r = proc_path(pid, dir, path, sizeof(path));
	if (r < 0)
		return r;
	d = opendir(path);
	if (!d) {
		r = -errno;
		return err_setf(r, "cannot open %s: %s", path, strerror(-r));
	}
	r = collect_ids(d, ret_ids, ret_count);
	closedir(d);
	if (r < 0)
		return err_setf(r, "cannot list %s: %s", path, strerror(-r));
	return 0;
}

/* ---- POSIX timers ---- */

/* The four lines the kernel prints per timer, in this order. */
enum timers_line { TIMERS_ID, TIMERS_SIGNAL, TIMERS_NOTIFY, TIMERS_CLOCK, TIMERS_LINES };

/* "signal/pid.N", "none/tid.N", "thread/pid.N" into notify (SIGEV_*) and pid. */
static bool timers_notify(struct cursor *c, struct proc_posix_timer *t)
{
	static const char *const kinds[] = { "signal/", "none/", "thread/" };
	static const int values[] = { SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD };
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (cur_key(c, kinds[i]))
			break;
	if (i == sizeof(kinds) / sizeof(kinds[0]))
		return false;
	t->notify = values[i];
	if (cur_key(c, "tid."))
		t->notify |= SIGEV_THREAD_ID;
	else if (!cur_key(c, "pid."))
		return false;
	return cur_int(c, 0, &t->notify_pid);
}

static bool timers_field(struct cursor c, enum timers_line which, struct proc_posix_timer *t)
{
	static const char *const keys[TIMERS_LINES] = { "ID:", "signal:", "notify:", "ClockID:" };
	bool ok;

	if (!cur_key(&c, keys[which]))
		return false;
	switch (which) {
	case TIMERS_ID:
		ok = cur_int(&c, 0, &t->id);
		break;
	case TIMERS_SIGNAL:
		ok = cur_int(&c, INT_MIN, &t->signo) && cur_eat(&c, '/') &&
		     cur_u64(&c, 16, &t->sival);
		break;
	case TIMERS_NOTIFY:
		ok = timers_notify(&c, t);
		break;
	default:
		ok = cur_int(&c, INT_MIN, &t->clock_id);
		break;
	}
	return ok && cur_only_blanks(c);
}

static int timers_push(struct proc_posix_timer **list, size_t *n, size_t *cap,
		       const struct proc_posix_timer *t)
{
	struct proc_posix_timer *bigger;

	for (size_t i = 0; i < *n; i++)
		if ((*list)[i].id == t->id)
			return err_setf(-EINVAL, "timers: timer ID %d is listed twice", t->id);
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		bigger = realloc(*list, *cap * sizeof(**list));
		if (!bigger)
			return -ENOMEM;
		*list = bigger;
	}
	(*list)[(*n)++] = *t;
	return 0;
}

int proc_parse_timers(const char *text, size_t len, struct proc_posix_timer **ret,
		      size_t *ret_count)
{
	struct proc_posix_timer t = { 0 }, *list = NULL;
	enum timers_line next = TIMERS_ID;
	size_t n = 0, cap = 0;
	struct line_iter it;
	struct cursor line;
	int r = 0;

	line_iter_init(&it, text, len);
	while (r == 0 && line_iter_next(&it, &line)) {
		if (!timers_field(line, next, &t)) {
			r = proc_bad_line("timers", it.lineno, line, "malformed or out of order");
			break;
		}
		if (++next == TIMERS_LINES) {
			r = timers_push(&list, &n, &cap, &t);
			next = TIMERS_ID;
		}
	}
	if (r == 0 && next != TIMERS_ID)
		r = err_setf(-EINVAL, "timers: the last timer (ID %d) is cut short", t.id);
	if (r < 0) {
		free(list);
		return r;
	}
	*ret = list;
	*ret_count = n;
	return 0;
}

int proc_read_stat(pid_t pid, struct proc_stat *ret)
{
	size_t len;
	char *text;
	int r;

	r = proc_read_file(pid, "stat", &text, &len);
	if (r < 0)
		return err_setf(r, "cannot read /proc/%d/stat: %s", pid, strerror(-r));
	r = proc_parse_stat(text, len, ret);
	free(text);
	if (r < 0)
		return err_setf(r, "/proc/%d/stat: %s", pid, err_detail());
	return 0;
}
