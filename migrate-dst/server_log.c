/*
 * server_log: one line per message, "TIME migrate-dst: [TAG: ]MESSAGE", written with a
 * single write() so that the lines of the daemon and of its session processes, which share
 * the file (O_APPEND), never interleave. TIME is ISO 8601 basic UTC with milliseconds
 * (20261124T153012.345Z): one word, sortable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "dst_server.h"
#include "err.h"

static char server_log_tag[128];
static char server_log_error[1024];

static void server_log_sink_cb(enum log_level level, const char *line, void *arg)
{
	const char *what = level == LOG_LEVEL_ERROR  ? "error: "
			   : level == LOG_LEVEL_WARN ? "warning: "
						     : "";
	char out[4096 + 256], stamp[32];
	struct timeval tv;
	struct tm tm;
	int n;

	(void)arg;
	if (level == LOG_LEVEL_ERROR)
		snprintf(server_log_error, sizeof(server_log_error), "%s", line);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	n = snprintf(out, sizeof(out), "%s.%03dZ migrate-dst: %s%s%s%s\n", stamp,
		     (int)(tv.tv_usec / 1000), server_log_tag, server_log_tag[0] ? ": " : "", what,
		     line);
	if (n >= (int)sizeof(out)) {
		n = sizeof(out);
		out[n - 1] = '\n';
	}
	if (write(STDERR_FILENO, out, (size_t)n) < 0) {
		/* Nowhere left to say it. */
	}
}

void server_log_init(enum log_level level)
{
	log_set_program("migrate-dst");
	log_set_level(level);
	log_set_sink(server_log_sink_cb, NULL);
}

int server_log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);

	if (fd < 0)
		return err_setf(-errno, "cannot open the log file %s: %s", path, strerror(errno));
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) < 0) {
			int r = err_setf(-errno, "cannot use %s as the log: %s", path,
					 strerror(errno));

			close(fd);
			return r;
		}
		close(fd);
	}
	return 0;
}

void server_log_set_tag(const char *tag)
{
	snprintf(server_log_tag, sizeof(server_log_tag), "%s", tag ? tag : "");
}

const char *server_log_last_error(void)
{
	return server_log_error;
}

void server_log_clear_error(void)
{
	server_log_error[0] = '\0';
}
