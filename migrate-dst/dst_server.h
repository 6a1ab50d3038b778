/*
 * dst_server: the migrate-dst daemon around the sessions.
 *
 *	main.c           server_opts_parse, key, log file, server_run
 *	server_opts.c    the command line (pure: unit-tested)
 *	server_log.c     the log sink: UTC timestamps, the session's tag, the last error kept for
 *	                 the Abort sent to the peer
 *	server.c         the libuv loop: listener, one forked session process per connection
 *	                 (dst_session.h), SIGCHLD (reap, log the outcome), SIGTERM/SIGINT (stop
 *	                 accepting, SIGTERM the sessions, wait for them, exit 0)
 */
#ifndef MIGRATE_DST_SERVER_H
#define MIGRATE_DST_SERVER_H

#include <stdbool.h>
#include <stdio.h>

#include "auth.h"
#include "log.h"

#define SERVER_WUR __attribute__((warn_unused_result))

#define SERVER_DEFAULT_MAX_SESSIONS 4U
#define SERVER_MAX_SESSIONS 256U

struct server_opts {
	char host[256]; /* --listen ADDR (numeric or a name), "" for every address */
	char port[8];	/* --listen :PORT */
	const char *psk_file;
	const char *images_dir;
	const char *log_file;
	const char *move_ip_dev; /* --move-ip-dev IFNAME: where addresses moved here go */
	unsigned int max_sessions;
	enum log_level level;
	bool help;
	bool version;
};

/* Parses argv (getopt_long; restartable, for tests). -EINVAL with err_detail() quoting the
 * offending argument. --help or --version alone need nothing else. */
int server_opts_parse(int argc, char **argv, struct server_opts *ret) SERVER_WUR;
void server_usage(FILE *out);

/* Serves until SIGTERM or SIGINT; 0 then, or -errno when it cannot listen (logged). */
int server_run(const struct server_opts *opts, const struct auth_psk *psk) SERVER_WUR;

/* Logs go to stderr (dup'ed from --log FILE by server_log_open) through this sink. */
void server_log_init(enum log_level level);
/* Appends to path (made 0600 if new) and makes it stderr. */
int server_log_open(const char *path) SERVER_WUR;
/* A prefix for every line of this process ("s3 198.18.0.1:40312"); NULL for none. */
void server_log_set_tag(const char *tag);
/* The last error line logged since server_log_clear_error (the restore engine logs its
 * refusals), "" if none. */
const char *server_log_last_error(void);
void server_log_clear_error(void);

#endif
