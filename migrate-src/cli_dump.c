/*
 * cli_dump: `migrate dump`, option names as CRIU's so that habits carry over.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dump.h"
#include "dump_fd_ghost.h"
#include "dump_fd_lock.h"
#include "dump_fd_unix.h"
#include "err.h"
#include "image.h"
#include "log.h"

#define EXIT_USAGE 2

enum {
	OPT_LEAVE_RUNNING = 0x100,
	OPT_LEAVE_STOPPED,
	OPT_SHELL_JOB,
	OPT_TCP_ESTABLISHED,
	OPT_GHOST_LIMIT,
	OPT_FILE_LOCKS,
	OPT_EXT_UNIX_SK,
};

static void cli_dump_usage(void)
{
	printf("Usage: migrate dump -t|--tree PID -D|--images-dir DIR [OPTIONS]\n\n"
	       "Checkpoint the process PID (all its threads) into DIR, created if missing.\n"
	       "By default the process is killed once its images are written; on any\n"
	       "failure it is resumed as it was.\n\n"
	       "  -t, --tree PID          the process to dump, with every process below it\n"
	       "  -D, --images-dir DIR    where to write the images\n"
	       "      --leave-running     let the process run on after the dump\n"
	       "      --leave-stopped     leave it stopped (SIGSTOP) after the dump\n"
	       "      --shell-job         allow fds on a terminal and a session outside the tree\n"
	       "      --tcp-established   dump established TCP connections; their packets are\n"
	       "                          dropped (nftables) until 'migrate restore' re-creates them\n"
	       "      --ghost-limit SIZE  carry memfds and deleted files up to SIZE bytes\n"
	       "                          (suffix K, M, G; default 1M, at most 32M) in the image\n"
	       "      --file-locks        dump the flock, POSIX and OFD locks the process holds\n"
	       "      --ext-unix-sk       dump unix sockets connected to a peer outside the\n"
	       "                          process; restore connects them to it again by name\n"
	       "  -h, --help              this help\n\n"
	       "Needs root. Summary line with 'migrate -v dump ...'.\n");
}

/* "4120" -> 4120; anything else (sign, spaces, junk, 0, overflow) is refused. */
static int cli_dump_parse_pid(const char *text, pid_t *ret_pid)
{
	unsigned long long v;
	int r = cli_parse_number(text, 1, INT_MAX, &v);

	if (r == 0)
		*ret_pid = (pid_t)v;
	return r;
}

/* "64K", "1M", "1048576" as the ghost limit; -EINVAL for anything else or above the maximum. */
static int cli_dump_parse_size(const char *text)
{
	unsigned long long v, unit = 1;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (*end)
		unit = end[1] ? 0
		       : *end == 'K' ? 1ull << 10
		       : *end == 'M' ? 1ull << 20
		       : *end == 'G' ? 1ull << 30
				     : 0;
	if (errno || !unit || v > DUMP_FD_GHOST_LIMIT_MAX / unit)
		return -EINVAL;
	dump_fd_ghost_set_limit(v * unit);
	return 0;
}

/* Fills opts from argv; returns 0, 1 after --help, or an exit status (2) after an error. */
static int cli_dump_parse(int argc, char **argv, struct dump_opts *opts)
{
	static const struct option options[] = {
		{ "tree", required_argument, NULL, 't' },
		{ "images-dir", required_argument, NULL, 'D' },
		{ "leave-running", no_argument, NULL, OPT_LEAVE_RUNNING },
		{ "leave-stopped", no_argument, NULL, OPT_LEAVE_STOPPED },
		{ "shell-job", no_argument, NULL, OPT_SHELL_JOB },
		{ "tcp-established", no_argument, NULL, OPT_TCP_ESTABLISHED },
		{ "ghost-limit", required_argument, NULL, OPT_GHOST_LIMIT },
		{ "file-locks", no_argument, NULL, OPT_FILE_LOCKS },
		{ "ext-unix-sk", no_argument, NULL, OPT_EXT_UNIX_SK },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	bool leave_running = false, leave_stopped = false;
	int opt;

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":t:D:h", options, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (cli_dump_parse_pid(optarg, &opts->pid) < 0) {
				log_error("dump: invalid pid '%s': expected a positive number",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		case 'D':
			opts->dir = optarg;
			break;
		case OPT_LEAVE_RUNNING:
			leave_running = true;
			break;
		case OPT_LEAVE_STOPPED:
			leave_stopped = true;
			break;
		case OPT_SHELL_JOB:
			opts->shell_job = true;
			break;
		case OPT_TCP_ESTABLISHED:
			opts->tcp_established = true;
			break;
		case OPT_GHOST_LIMIT:
			if (cli_dump_parse_size(optarg) < 0) {
				log_error("dump: invalid --ghost-limit '%s': expected a size in "
					  "bytes (suffix K, M or G allowed), at most %llu", optarg,
					  (unsigned long long)DUMP_FD_GHOST_LIMIT_MAX);
				return EXIT_USAGE;
			}
			break;
		case OPT_FILE_LOCKS:
			dump_fd_lock_set_enabled(true);
			break;
		case OPT_EXT_UNIX_SK:
			dump_fd_unix_set_external(true);
			break;
		case 'h':
			cli_dump_usage();
			return 1;
		default:
			return cli_usage_error("dump", opt, argv);
		}
	}
	if (optind < argc) {
		log_error("dump: unexpected argument '%s' (the pid goes after -t)", argv[optind]);
		return EXIT_USAGE;
	}
	if (!opts->pid) {
		log_error("dump: missing -t/--tree PID: which process to dump");
		return EXIT_USAGE;
	}
	if (!opts->dir || !opts->dir[0]) {
		log_error("dump: missing -D/--images-dir DIR: where to write the images");
		return EXIT_USAGE;
	}
	if (leave_running && leave_stopped) {
		log_error("dump: --leave-running and --leave-stopped exclude each other");
		return EXIT_USAGE;
	}
	opts->after = leave_running   ? DUMP_AFTER_RUN
		      : leave_stopped ? DUMP_AFTER_STOP
				      : DUMP_AFTER_KILL;
	return 0;
}

static uint64_t cli_dump_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The summary reads the images back: they are what was dumped, whatever the engine did. */
static void cli_dump_summary(const struct dump_opts *opts, uint64_t elapsed_ms)
{
	struct image_set *set;
	size_t threads = 0, sockets = 0;
	uint64_t pages = 0;
	char net[96] = "";

	int r = image_set_load(opts->dir, &set);
	if (r < 0) {
		log_warn("dumped pid %d to %s in %llu ms, but cannot read the images back: %s",
			 opts->pid, opts->dir, (unsigned long long)elapsed_ms,
			 err_detail()[0] ? err_detail() : strerror(-r));
		return;
	}
	for (size_t i = 0; i < set->task_count; i++) {
		threads += set->tasks[i].core->n_threads;
		for (size_t j = 0; j < set->tasks[i].page_run_count; j++)
			pages += set->tasks[i].page_runs[j].nr_pages;
		for (size_t j = 0; j < set->tasks[i].fd_count; j++)
			sockets += set->tasks[i].fds[j]->kind == FD_KIND__FD_INET_SOCKET;
	}
	if (sockets)
		snprintf(net, sizeof(net), ", %zu socket%s%s%s", sockets, sockets == 1 ? "" : "s",
			 set->inventory->netlock_table ? " locked by nftables table inet " : "",
			 set->inventory->netlock_table ? set->inventory->netlock_table : "");
	image_set_free(set);
	log_info("dumped pid %d (%zu thread%s, %.1f MiB in %llu pages%s) to %s in %llu ms",
		 opts->pid, threads, threads == 1 ? "" : "s",
		 (double)(pages * IMAGE_PAGE_SIZE) / (1 << 20), (unsigned long long)pages, net,
		 opts->dir, (unsigned long long)elapsed_ms);
}

int cli_dump(int argc, char **argv)
{
	struct dump_opts opts = { .after = DUMP_AFTER_KILL };

	int r = cli_dump_parse(argc, argv, &opts);
	if (r)
		return r == 1 ? 0 : r;
	if (geteuid() != 0) {
		log_error("dump: must run as root (ptrace and /proc of other users' processes)");
		return 1;
	}

	uint64_t start_ms = cli_dump_now_ms();
	err_clear();
	r = dump_run(&opts);
	if (r < 0)
		return 1; /* dump_run logged why */
	if (log_get_level() >= LOG_LEVEL_INFO)
		cli_dump_summary(&opts, cli_dump_now_ms() - start_ms);
	return 0;
}
