/*
 * cli_restore: `migrate restore`, option names as CRIU's.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "log.h"
#include "restore.h"

#define EXIT_USAGE 2

enum {
	OPT_SHELL_JOB = 0x100,
	OPT_PID_WAIT,
	OPT_TCP_ESTABLISHED,
	OPT_FILE_LOCKS,
};

static void cli_restore_usage(void)
{
	printf("Usage: migrate restore -D|--images-dir DIR [OPTIONS]\n\n"
	       "Bring back the processes dumped into DIR, with their original PIDs.\n"
	       "Without --restore-detached, waits for the restored process and exits with\n"
	       "its exit status (128+N if it was killed by signal N).\n\n"
	       "  -D, --images-dir DIR       the images, as written by 'migrate dump'\n"
	       "  -d, --restore-detached     do not wait: the restored process runs on alone\n"
	       "      --shell-job            rebind its terminal fds to ours and join our session\n"
	       "      --pid-wait MS          how long to wait for a zombie to free a needed PID\n"
	       "                             (default 5000)\n"
	       "      --tcp-established      restore established TCP connections (the network\n"
	       "                             lock of the dump is removed once they exist)\n"
	       "      --file-locks           accepted as CRIU does: the locks an image holds\n"
	       "                             (dumped with --file-locks) are always taken again\n"
	       "  -h, --help                 this help\n\n"
	       "Needs root. The PID with 'migrate -v restore -d ...'.\n");
}

/* Milliseconds: a decimal number from 1 to one hour. */
static int cli_restore_parse_ms(const char *text, int *ret_ms)
{
	unsigned long long v;
	int r = cli_parse_number(text, 1, 3600 * 1000, &v);

	if (r == 0)
		*ret_ms = (int)v;
	return r;
}

/* Fills opts from argv; returns 0, 1 after --help, or an exit status (2) after an error. */
static int cli_restore_parse(int argc, char **argv, struct restore_opts *opts)
{
	static const struct option options[] = {
		{ "images-dir", required_argument, NULL, 'D' },
		{ "restore-detached", no_argument, NULL, 'd' },
		{ "shell-job", no_argument, NULL, OPT_SHELL_JOB },
		{ "pid-wait", required_argument, NULL, OPT_PID_WAIT },
		{ "tcp-established", no_argument, NULL, OPT_TCP_ESTABLISHED },
		{ "file-locks", no_argument, NULL, OPT_FILE_LOCKS },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int opt;

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":D:dh", options, NULL)) != -1) {
		switch (opt) {
		case 'D':
			opts->dir = optarg;
			break;
		case 'd':
			opts->detached = true;
			break;
		case OPT_SHELL_JOB:
			opts->shell_job = true;
			break;
		case OPT_TCP_ESTABLISHED:
			opts->tcp_established = true;
			break;
		case OPT_FILE_LOCKS:
			break; /* the image says which locks to take */
		case OPT_PID_WAIT:
			if (cli_restore_parse_ms(optarg, &opts->pid_wait_ms) < 0) {
				log_error("restore: invalid --pid-wait '%s': expected milliseconds "
					  "from 1 to 3600000",
					  optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			cli_restore_usage();
			return 1;
		default:
			return cli_usage_error("restore", opt, argv);
		}
	}
	if (optind < argc) {
		log_error("restore: unexpected argument '%s' (the directory goes after -D)",
			  argv[optind]);
		return EXIT_USAGE;
	}
	if (!opts->dir || !opts->dir[0]) {
		log_error("restore: missing -D/--images-dir DIR: where the images are");
		return EXIT_USAGE;
	}
	return 0;
}

int cli_restore(int argc, char **argv)
{
	struct restore_opts opts = { 0 };
	pid_t pid;

	int r = cli_restore_parse(argc, argv, &opts);
	if (r)
		return r == 1 ? 0 : r;
	if (geteuid() != 0) {
		log_error("restore: must run as root (clone3 with chosen PIDs, ptrace)");
		return 1;
	}

	err_clear();
	r = restore_run(&opts, &pid);
	if (r < 0)
		return 1; /* restore_run logged why */
	if (opts.detached) {
		log_info("restored pid %d from %s (detached)", pid, opts.dir);
		return 0;
	}
	log_info("restored pid %d from %s; waiting for it to exit", pid, opts.dir);
	return restore_wait(pid, opts.shell_job);
}
