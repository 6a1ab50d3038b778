/*
 * proc_fdinfo_event: eventfd, signalfd and timerfd lines of fdinfo (see proc_fdinfo.h).
 */
#include "proc_fdinfo.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* The text after key at the start of a line, or NULL. */
static const char *fdinfo_line(const char *text, const char *key)
{
	size_t n = strlen(key);
	const char *l = text;

	while (l && *l) {
		if (strncmp(l, key, n) == 0)
			return l + n;
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return NULL;
}

static int fdinfo_bad(const char *key)
{
	return err_setf(-EINVAL, "fdinfo: line %s is missing or malformed", key);
}

static int fdinfo_u64(const char *text, const char *key, const char *fmt, uint64_t *ret)
{
	const char *v = fdinfo_line(text, key);
	uint64_t x;
	int end = 0;

	/* %n tells a number from nothing; the sign check refuses "-1" read as unsigned. */
	if (!v || strchr(" \t", *v) == NULL || sscanf(v, fmt, &x, &end) != 1 || !end)
		return fdinfo_bad(key);
	v += strspn(v, " \t");
	if (*v == '-' || *v == '+')
		return fdinfo_bad(key);
	*ret = x;
	return 0;
}

/* "key (SEC, NSEC)" in nanoseconds. */
static int fdinfo_time(const char *text, const char *key, uint64_t *ret)
{
	const char *v = fdinfo_line(text, key);
	uint64_t sec, nsec;

	if (!v || sscanf(v, " (%" SCNu64 ", %" SCNu64 ")", &sec, &nsec) != 2 ||
	    nsec >= 1000000000ull || sec > UINT64_MAX / 1000000000ull - 1)
		return fdinfo_bad(key);
	*ret = sec * 1000000000ull + nsec;
	return 0;
}

int proc_fdinfo_eventfd(const char *text, struct proc_eventfd *ret)
{
	uint64_t count, sem = 0;
	int r = fdinfo_u64(text, "eventfd-count:", " %" SCNx64 "%n", &count);

	if (r < 0)
		return r;
	if (fdinfo_line(text, "eventfd-semaphore:")) {
		r = fdinfo_u64(text, "eventfd-semaphore:", " %" SCNu64 "%n", &sem);
		if (r < 0)
			return r;
	}
	/* The counter never reaches all ones: a write of it is refused. */
	if (count == UINT64_MAX)
		return fdinfo_bad("eventfd-count:");
	ret->count = count;
	ret->semaphore = sem != 0;
	return 0;
}

int proc_fdinfo_signalfd(const char *text, uint64_t *ret_mask)
{
	return fdinfo_u64(text, "sigmask:", " %" SCNx64 "%n", ret_mask);
}

int proc_fdinfo_timerfd(const char *text, struct proc_timerfd *ret)
{
	struct proc_timerfd t;
	uint64_t clockid;
	int r = fdinfo_u64(text, "clockid:", " %" SCNu64 "%n", &clockid);

	if (r == 0 && clockid > UINT32_MAX)
		r = fdinfo_bad("clockid:");
	if (r == 0)
		r = fdinfo_u64(text, "ticks:", " %" SCNu64 "%n", &t.ticks);
	if (r == 0)
		r = fdinfo_time(text, "it_value:", &t.value_ns);
	if (r == 0)
		r = fdinfo_time(text, "it_interval:", &t.interval_ns);
	if (r < 0)
		return r;
	t.clockid = (uint32_t)clockid;
	*ret = t;
	return 0;
}

static int fdinfo_epoll_line(const char *l, void *item)
{
	struct proc_epoll_tfd *ret = item;
	uint64_t tfd, events, data, ino;
	int end = 0;

	if (sscanf(l,
		   "tfd: %" SCNu64 " events: %" SCNx64 " data: %" SCNx64 " pos:%*u ino:%" SCNx64
		   "%n",
		   &tfd, &events, &data, &ino, &end) != 4 ||
	    !end || tfd > INT32_MAX || events > UINT32_MAX)
		return err_setf(-EINVAL, "fdinfo: malformed epoll line '%.60s'", l);
	*ret = (struct proc_epoll_tfd){
		.tfd = (uint32_t)tfd, .events = (uint32_t)events, .data = data, .ino = ino
	};
	return 0;
}

/* Every line of text starting with prefix, parsed by parse into an array of size-byte items
 * (*ret: free() it; NULL when there are none). */
static int fdinfo_collect(const char *text, const char *prefix, size_t size,
			  int (*parse)(const char *line, void *item), void **ret, size_t *ret_count)
{
	size_t n = 0, plen = strlen(prefix);
	const char *l = text;
	char *v = NULL, *nv;
	int r = 0;

	for (; l && *l && r == 0; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, prefix, plen) != 0)
			continue;
		nv = realloc(v, (n + 1) * size);
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		v = nv;
		r = parse(l, v + n * size);
		n += r == 0;
	}
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_count = n;
	return 0;
}

int proc_fdinfo_epoll(const char *text, struct proc_epoll_tfd **ret, size_t *ret_count)
{
	return fdinfo_collect(text, "tfd:", sizeof(**ret), fdinfo_epoll_line, (void **)ret,
			      ret_count);
}

static int fdinfo_hexbytes(const char *s, unsigned char *buf, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		unsigned int b;

		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		buf[i] = (unsigned char)b;
	}
	return 0;
}

static int fdinfo_inotify_line(const char *l, void *item)
{
	struct proc_inotify_wd *ret = item;
	uint64_t wd, ino, sdev, mask, ignored, bytes = 0, type = 0;
	const char *h;
	int end = 0;

	memset(ret, 0, sizeof(*ret));
	if (sscanf(l,
		   "inotify wd:%" SCNx64 " ino:%" SCNx64 " sdev:%" SCNx64 " mask:%" SCNx64
		   " ignored_mask:%" SCNx64 "%n",
		   &wd, &ino, &sdev, &mask, &ignored, &end) != 5 ||
	    !end || wd > INT32_MAX || sdev > UINT32_MAX || mask > UINT32_MAX)
		return err_setf(-EINVAL, "fdinfo: malformed inotify line '%.60s'", l);
	h = l + end;
	if (sscanf(h, " fhandle-bytes:%" SCNx64 " fhandle-type:%" SCNx64 " f_handle:%n", &bytes,
		   &type, &end) == 2) {
		if (bytes > sizeof(ret->handle) || type > INT32_MAX ||
		    fdinfo_hexbytes(h + end, ret->handle, (uint32_t)bytes) < 0)
			return err_setf(-EINVAL, "fdinfo: malformed file handle '%.60s'", l);
		ret->handle_bytes = (uint32_t)bytes;
		ret->handle_type = (int32_t)type;
	}
	ret->wd = (int32_t)wd;
	ret->ino = ino;
	ret->sdev = (uint32_t)sdev;
	ret->mask = (uint32_t)mask;
	return 0;
}

int proc_fdinfo_inotify(const char *text, struct proc_inotify_wd **ret, size_t *ret_count)
{
	return fdinfo_collect(text, "inotify wd:", sizeof(**ret), fdinfo_inotify_line,
			      (void **)ret, ret_count);
}
