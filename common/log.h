/*
 * log: one place that decides where messages go.
 *
 * Library code (common/) logs at debug level only; the stage that knows the
 * context logs an error once and returns it, systemd-style:
 *
 *	return log_error_errno(r, "cannot seize pid %d", pid);
 *
 * which prints "migrate: cannot seize pid 42: Operation not permitted" and
 * evaluates to r as a negative errno.
 */
#ifndef MIGRATE_LOG_H
#define MIGRATE_LOG_H

#include <errno.h>

enum log_level {
	LOG_LEVEL_QUIET = -1, /* errors only */
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Prefix for every line ("migrate", "migrate-dst"); the string must outlive logging. */
void log_set_program(const char *name);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where lines go instead of stderr (a daemon adds timestamps and a session tag, and keeps the
 * last error to send to its peer): sink gets every line that passes the level, without the
 * program prefix or newline. NULL: back to stderr. */
typedef void (*log_sink_cb)(enum log_level level, const char *line, void *arg);
void log_set_sink(log_sink_cb sink, void *arg);

/* Logs "<prefix>: <message>: <strerror(err)>" and returns -|err|. */
int log_msg_errno(enum log_level level, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_error_errno(err, ...) log_msg_errno(LOG_LEVEL_ERROR, (err), __VA_ARGS__)
#define log_warn_errno(err, ...) log_msg_errno(LOG_LEVEL_WARN, (err), __VA_ARGS__)
#define log_debug_errno(err, ...) log_msg_errno(LOG_LEVEL_DEBUG, (err), __VA_ARGS__)

#endif
