/*
 * cli_migrate: `migrate --to HOST:PORT [OPTIONS] PID`, live migration (the
 * engine is agent.c). Parses, runs agent_run(), prints the report and maps
 * the outcome to the exit status that scripts rely on.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cli.h"
#include "dump_fd_lock.h"
#include "dump_fd_unix.h"
#include "err.h"
#include "log.h"
#include "session.h"

#define EXIT_USAGE 2

enum {
	OPT_PSK_FILE = 0x100,
	OPT_MAX_DOWNTIME,
	OPT_MAX_ROUNDS,
	OPT_TRACKER,
	OPT_LEAVE_STOPPED,
	OPT_JSON,
	OPT_TCP_ESTABLISHED,
	OPT_MOVE_IP,
	OPT_FILE_LOCKS,
	OPT_EXT_UNIX_SK,
};

/* Storage for the parsed options: host and port are cut out of --to. */
struct cli_migrate_args {
	struct agent_opts opts;
	char host[256];
	char port[8];
	bool json;
	bool progress;
};

static void cli_migrate_usage(void)
{
	printf("Usage: migrate --to HOST[:PORT] --psk-file FILE [OPTIONS] PID\n\n"
	       "Live-migrate the process PID to the migrate-dst daemon at HOST:PORT (port %d\n"
	       "by default). Its memory is copied while it runs (pre-copy rounds driven by a\n"
	       "dirty-page tracker), then it is frozen for a short final window, rebuilt at\n"
	       "the destination and resumed there. Only then is the source killed; on any\n"
	       "failure before that, the source is resumed exactly as it was.\n\n"
	       "  --to HOST[:PORT]      the destination; IPv6 as [ADDR]:PORT\n"
	       "  --psk-file FILE       the pre-shared key, same file as migrate-dst's (required)\n"
	       "  --max-downtime MS     target freeze window in ms (default 300)\n"
	       "  --max-rounds N        pre-copy rounds while it runs (default 30);\n"
	       "                        0 = stop-and-copy: freeze at once, send everything\n"
	       "  --tracker KIND        auto (default), uffd-wp, soft-dirty or none\n"
	       "  --leave-stopped       after success keep the source stopped, not killed\n"
	       "  --images-dir DIR      also write an image directory of the source (after\n"
	       "                        the destination's verdict: not in the freeze window)\n"
	       "  --tcp-established     migrate established TCP connections too (TCP_REPAIR;\n"
	       "                        their packets are dropped, never reset, meanwhile);\n"
	       "                        without it a process with one is refused\n"
	       "  --file-locks          migrate the flock, POSIX and OFD locks it holds (the\n"
	       "                        files must exist on the destination too)\n"
	       "  --ext-unix-sk         migrate unix sockets connected to a peer outside the\n"
	       "                        process: the destination connects them to it again by\n"
	       "                        name (the peer must be reachable there)\n"
	       "  --move-ip             move the sockets' local addresses to the destination\n"
	       "                        host in the freeze window (gratuitous ARP / unsolicited\n"
	       "                        NA there); without it the destination must have them\n"
	       "  --json                the report as one JSON object on stdout\n"
	       "  -v, --verbose         one line per round (twice: debug)\n"
	       "  -q, --quiet           errors only\n"
	       "  -h, --help            this help\n\n"
	       "Exit status:\n"
	       "  0  migrated: the process runs at the destination\n"
	       "  1  failed: the source was resumed (or never touched) and runs on here\n"
	       "  2  usage error\n"
	       "  %d  outcome unknown: the destination was told to run the process but no\n"
	       "     verdict came back; the source is kept STOPPED (never two copies running)\n\n"
	       "Examples:\n"
	       "  migrate --to 10.0.0.2 --psk-file /etc/migrate.key 4120\n"
	       "  migrate -v --to 10.0.0.2:7081 --psk-file k --max-downtime 100 4120\n"
	       "  migrate --to 10.0.0.2 --psk-file k --max-rounds 0 --json 4120 >report.json\n"
	       "  migrate --to [fd00::2]:7070 --psk-file k --tracker none --leave-stopped 4120\n"
	       "  migrate --to 10.0.0.2 --psk-file k --tcp-established --move-ip 4120\n",
	       SESSION_DEFAULT_PORT, SESSION_EXIT_UNKNOWN);
}

/* HOST, HOST:PORT, [V6], [V6]:PORT; a bare V6 address (two colons) has no port. */
static int cli_migrate_target(const char *to, struct cli_migrate_args *a)
{
	const char *host = to, *port = NULL, *colon;
	unsigned long long p = SESSION_DEFAULT_PORT;
	size_t host_len;

	if (to[0] == '[') {
		const char *close = strchr(to, ']');

		if (!close || (close[1] && close[1] != ':'))
			return -EINVAL;
		host = to + 1;
		host_len = (size_t)(close - host);
		port = close[1] ? close + 2 : NULL;
	} else {
		colon = strrchr(to, ':');
		if (colon && strchr(to, ':') == colon) {
			host_len = (size_t)(colon - to);
			port = colon + 1;
		} else {
			host_len = strlen(to);
		}
	}
	if (!host_len || host_len >= sizeof(a->host))
		return -EINVAL;
	if (port && cli_parse_number(port, 1, 65535, &p) < 0)
		return -EINVAL;
	memcpy(a->host, host, host_len);
	a->host[host_len] = '\0';
	snprintf(a->port, sizeof(a->port), "%llu", p);
	return 0;
}

static int cli_migrate_tracker(const char *name, struct agent_opts *o)
{
	o->tracker_auto = strcmp(name, "auto") == 0;
	if (o->tracker_auto)
		return 0;
	if (track_kind_parse(name, &o->tracker) < 0) {
		log_error("invalid --tracker '%s': expected auto, uffd-wp, soft-dirty or none",
			  name);
		return EXIT_USAGE;
	}
	return 0;
}

/* One option that takes a value; 0 or the exit status of a usage error. */
static int cli_migrate_value(int opt, const char *val, struct cli_migrate_args *a)
{
	unsigned long long v;

	switch (opt) {
	case 'T':
		if (cli_migrate_target(val, a) == 0)
			return 0;
		log_error("invalid --to '%s': expected HOST, HOST:PORT or [IPV6]:PORT with a "
			  "port in 1-65535",
			  val);
		return EXIT_USAGE;
	case OPT_PSK_FILE:
		a->opts.psk_file = val;
		return 0;
	case OPT_MAX_DOWNTIME:
		if (cli_parse_number(val, 1, 3600000, &v) == 0) {
			a->opts.max_downtime_ms = v;
			return 0;
		}
		log_error("invalid --max-downtime '%s': expected milliseconds, 1-3600000", val);
		return EXIT_USAGE;
	case OPT_MAX_ROUNDS:
		if (cli_parse_number(val, 0, 100000, &v) == 0) {
			a->opts.max_rounds = (unsigned int)v;
			return 0;
		}
		log_error("invalid --max-rounds '%s': expected a number, 0-100000", val);
		return EXIT_USAGE;
	case OPT_TRACKER:
		return cli_migrate_tracker(val, &a->opts);
	case 'D':
		a->opts.images_dir = val;
		return 0;
	}
	return EXIT_USAGE;
}

/* The PID and what must be there; 0 or the exit status of a usage error. */
static int cli_migrate_finish(int argc, char **argv, struct cli_migrate_args *a)
{
	unsigned long long pid;

	if (!a->host[0]) {
		log_error("missing --to HOST[:PORT]: where to migrate to");
		return EXIT_USAGE;
	}
	if (optind >= argc) {
		log_error("missing PID: which process to migrate (migrate --to %s:%s ... PID)",
			  a->host, a->port);
		return EXIT_USAGE;
	}
	if (optind + 1 < argc) {
		log_error("unexpected argument '%s': one PID only", argv[optind + 1]);
		return EXIT_USAGE;
	}
	if (cli_parse_number(argv[optind], 1, INT_MAX, &pid) < 0) {
		log_error("invalid pid '%s': expected a positive number", argv[optind]);
		return EXIT_USAGE;
	}
	a->opts.pid = (pid_t)pid;
	if (!a->opts.psk_file) {
		log_error("missing --psk-file FILE: the key shared with migrate-dst (the same "
			  "file as its --psk-file)");
		return EXIT_USAGE;
	}
	a->opts.host = a->host;
	a->opts.port = a->port;
	return 0;
}

/* Fills a from argv; 0, 1 after --help, or the exit status of a usage error. */
static int cli_migrate_parse(int argc, char **argv, struct cli_migrate_args *a)
{
	static const struct option options[] = {
		{ "to", required_argument, NULL, 'T' },
		{ "psk-file", required_argument, NULL, OPT_PSK_FILE },
		{ "max-downtime", required_argument, NULL, OPT_MAX_DOWNTIME },
		{ "max-rounds", required_argument, NULL, OPT_MAX_ROUNDS },
		{ "tracker", required_argument, NULL, OPT_TRACKER },
		{ "leave-stopped", no_argument, NULL, OPT_LEAVE_STOPPED },
		{ "images-dir", required_argument, NULL, 'D' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "tcp-established", no_argument, NULL, OPT_TCP_ESTABLISHED },
		{ "move-ip", no_argument, NULL, OPT_MOVE_IP },
		{ "file-locks", no_argument, NULL, OPT_FILE_LOCKS },
		{ "ext-unix-sk", no_argument, NULL, OPT_EXT_UNIX_SK },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int opt, r;

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":vqhD:", options, NULL)) != -1) {
		switch (opt) {
		case OPT_LEAVE_STOPPED:
			a->opts.leave_stopped = true;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_TCP_ESTABLISHED:
			a->opts.tcp_established = true;
			break;
		case OPT_FILE_LOCKS:
			dump_fd_lock_set_enabled(true);
			break;
		case OPT_EXT_UNIX_SK:
			dump_fd_unix_set_external(true);
			break;
		case OPT_MOVE_IP:
			a->opts.move_ip = true;
			break;
		case 'v':
			log_set_level(log_get_level() >= LOG_LEVEL_INFO ? LOG_LEVEL_DEBUG
									: LOG_LEVEL_INFO);
			break;
		case 'q':
			log_set_level(LOG_LEVEL_QUIET);
			break;
		case 'h':
			cli_migrate_usage();
			return 1;
		case ':':
		case '?':
			return cli_usage_error(NULL, opt, argv);
		default:
			r = cli_migrate_value(opt, optarg, a);
			if (r)
				return r;
		}
	}
	return cli_migrate_finish(argc, argv, a);
}

/* One line, rewritten in place, while the rounds run (only on a terminal and
 * without -v, whose per-round lines would tear it). */
static void cli_migrate_progress_cb(void *arg, const struct agent_progress *p)
{
	char total[32] = "";

	(void)arg;
	/* Round 0 sends what a dump holds: not counted beforehand. */
	if (p->total_pages)
		snprintf(total, sizeof(total), "/%llu", (unsigned long long)p->total_pages);
	fprintf(stderr, "\r\033[Kround %u: %llu%s pages, %.1f MiB sent", p->round,
		(unsigned long long)p->pages, total, (double)p->bytes / 1048576.0);
}

static int cli_migrate_outcome(const struct agent_report *rep)
{
	switch (rep->outcome) {
	case AGENT_OK:
		log_info("pid %d now runs at %s as pid %u", (int)rep->pid, rep->peer, rep->dst_pid);
		return 0;
	case AGENT_REFUSED:
		log_error("cannot migrate pid %d to %s: %s; the process was not touched",
			  (int)rep->pid, rep->peer, rep->message);
		return 1;
	case AGENT_RESUMED:
		log_error("migration of pid %d to %s failed: %s; pid %d was resumed and runs on "
			  "here as before",
			  (int)rep->pid, rep->peer, rep->message, (int)rep->pid);
		return 1;
	case AGENT_UNKNOWN:
		log_error("outcome unknown: %s was told to run pid %d but no verdict came back "
			  "(%s). pid %d is kept STOPPED here so that it never runs twice: check "
			  "on %s whether pid %d runs there; if it does, kill -9 %d here, if not, "
			  "kill -CONT %d here",
			  rep->peer, (int)rep->pid, rep->message, (int)rep->pid, rep->peer,
			  (int)rep->pid, (int)rep->pid, (int)rep->pid);
		if (rep->established)
			log_error("pid %d's %u connection%s stay in repair mode%s: resumed here, "
				  "they would not work; prefer killing it",
				  (int)rep->pid, rep->established, rep->established == 1 ? "" : "s",
				  rep->ips_moved ? " and its addresses are gone from this host"
						 : "");
		return SESSION_EXIT_UNKNOWN;
	}
	return 1;
}

int cli_migrate(int argc, char **argv)
{
	struct cli_migrate_args a = {
		.opts = { .max_downtime_ms = 300, .max_rounds = 30, .tracker_auto = true },
	};
	struct agent_report rep;
	int r, status;

	r = cli_migrate_parse(argc, argv, &a);
	if (r)
		return r == 1 ? 0 : r;
	if (geteuid() != 0) {
		log_error("must run as root (ptrace and /proc of the process to migrate)");
		return 1;
	}
	if (isatty(STDERR_FILENO) && log_get_level() == LOG_LEVEL_WARN)
		a.opts.progress_cb = cli_migrate_progress_cb;
	/* rep.outcome says more than the errno: what became of the source. */
	if (agent_run(&a.opts, &rep) < 0)
		log_debug("migration of pid %d ended with outcome %s", (int)a.opts.pid,
			  agent_outcome_name(rep.outcome));
	if (a.opts.progress_cb)
		fprintf(stderr, "\r\033[K");
	status = cli_migrate_outcome(&rep);
	if (a.json)
		agent_report_json(stdout, &rep);
	else if (log_get_level() >= LOG_LEVEL_WARN && (rep.outcome == AGENT_OK || rep.nr_rounds))
		agent_report_text(stdout, &rep);
	agent_report_fini(&rep);
	return status;
}
