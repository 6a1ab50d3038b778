/*
 * err: the detail behind a negative errno.
 *
 * Library code does not print. When it fails for a reason an errno cannot
 * carry ("core-42.img: record 1 is 9 GiB, larger than the 64 MiB limit"), it
 * records the sentence here and returns the errno; the caller that knows the
 * context prints both:
 *
 *	r = image_set_load(dir, &set);
 *	if (r < 0)
 *		return log_error_errno(r, "cannot restore from %s: %s", dir, err_detail());
 *
 * The detail is per thread and replaced by the next err_setf().
 */
#ifndef MIGRATE_ERR_H
#define MIGRATE_ERR_H

/* Records the detail and returns err as a negative errno, so it can be returned directly. */
int err_setf(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last detail, or "" if none was set since err_clear(). Never NULL. */
const char *err_detail(void);
void err_clear(void);

#endif
