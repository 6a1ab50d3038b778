#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *log_program = "migrate";
static enum log_level log_level = LOG_LEVEL_WARN;
static log_sink_cb log_sink;
static void *log_sink_arg;

void log_set_sink(log_sink_cb sink, void *arg)
{
	log_sink = sink;
	log_sink_arg = arg;
}

void log_set_program(const char *name)
{
	log_program = name;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

static void log_vmsg(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
	/* Errors always print; -q only silences warnings and below. */
	if (level > log_level && level != LOG_LEVEL_ERROR)
		return;
	char line[4096];
	vsnprintf(line, sizeof(line), fmt, ap);
	/* An err_detail() in the message often ends with the same strerror already. */
	size_t ll = strlen(line), sl = suffix ? strlen(suffix) : 0;
	if (sl && ll >= sl && strcmp(line + ll - sl, suffix) == 0)
		suffix = NULL;
	if (log_sink) {
		snprintf(line + ll, sizeof(line) - ll, "%s", suffix ? suffix : "");
		log_sink(level, line, log_sink_arg);
		return;
	}
	fprintf(stderr, "%s: %s%s%s\n", log_program, level == LOG_LEVEL_WARN ? "warning: " : "",
		line, suffix ? suffix : "");
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}

int log_msg_errno(enum log_level level, int err, const char *fmt, ...)
{
	int saved = errno;
	err = err < 0 ? -err : err;
	char suffix[256];
	snprintf(suffix, sizeof(suffix), ": %s", strerror(err));
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, suffix, fmt, ap);
	va_end(ap);
	errno = saved;
	return -err;
}
