/*
 * main: the `migrate` front. Parses the global options, then hands the rest of
 * the command line to a subcommand from the table below. No logic of its own.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"

#define EXIT_USAGE 2

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct subcommand subcommands[] = {
	{ "dump", cli_dump, "checkpoint a running process into an image directory" },
	{ "restore", cli_restore, "bring a process back from an image directory" },
	{ "check", cli_check, "probe the kernel features dump and restore rely on" },
	{ "show", cli_show, "print the records of an image directory or file (--json)" },
};

#define SUBCOMMAND_COUNT (sizeof(subcommands) / sizeof(subcommands[0]))

static void main_usage(FILE *out)
{
	fprintf(out, "Usage: migrate [-v|--verbose]... [-q|--quiet] SUBCOMMAND [OPTIONS]\n"
		     "       migrate -h|--help | -V|--version\n\n"
		     "Checkpoint and restore Linux processes.\n\n"
		     "Subcommands:\n");
	for (size_t i = 0; i < SUBCOMMAND_COUNT; i++)
		fprintf(out, "  %-9s %s\n", subcommands[i].name, subcommands[i].help);
	fprintf(out, "\nGlobal options:\n"
		     "  -v, --verbose   more messages (once: info, twice: debug)\n"
		     "  -q, --quiet     errors only\n"
		     "  -h, --help      this help; 'migrate SUBCOMMAND --help' for a subcommand\n"
		     "  -V, --version   print the version\n"
		     "\nLive migration (see 'migrate --to X --help'):\n"
		     "  migrate [-v] --to HOST[:PORT] --psk-file FILE [OPTIONS] PID\n"
		     "  a server with its connections: --tcp-established [--move-ip]\n"
		     "  exit status 0 migrated, 1 failed (source resumed), 2 usage error,\n"
		     "  3 outcome unknown (source kept stopped)\n\n"
		     "Examples:\n"
		     "  migrate check\n"
		     "  migrate -v --to 10.0.0.2:7070 --psk-file /etc/migrate.key 4120\n"
		     "  migrate -v dump -t 4120 -D /tmp/ck          (the process is killed)\n"
		     "  migrate -v dump -t 4120 -D /tmp/ck --leave-running\n"
		     "  migrate -v restore -D /tmp/ck --restore-detached\n"
		     "  migrate show /tmp/ck --json\n");
}

int cli_usage_error(const char *sub, int opt, char **argv)
{
	const char *prefix = sub ? sub : "";
	const char *colon = sub ? ": " : "";
	const char *space = sub ? " " : "";
	/* optind already moved past the offending word; optopt is 0 for a long option. */
	const char *word = optind > 0 ? argv[optind - 1] : "?";

	if (opt == ':')
		log_error("%s%soption '%s' needs a value", prefix, colon, word);
	else if (optopt && optopt != '?')
		log_error("%s%sunknown option '-%c'", prefix, colon, optopt);
	else
		log_error("%s%sunknown option '%s'", prefix, colon, word);
	log_error("try 'migrate %s%s--help'", prefix, space);
	return EXIT_USAGE;
}

static const struct subcommand *main_find(const char *name)
{
	for (size_t i = 0; i < SUBCOMMAND_COUNT; i++)
		if (strcmp(subcommands[i].name, name) == 0)
			return &subcommands[i];
	return NULL;
}

static enum log_level main_log_level(int verbose, bool quiet)
{
	if (quiet)
		return LOG_LEVEL_QUIET;
	if (verbose >= 2)
		return LOG_LEVEL_DEBUG;
	return verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "verbose", no_argument, NULL, 'v' },	{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },	{ "version", no_argument, NULL, 'V' },
		{ "to", required_argument, NULL, 'T' }, {},
	};
	int verbose = 0, opt, to_index = -1;
	bool quiet = false;

	log_set_program("migrate");
	opterr = 0;
	/* '+': stop at the subcommand, whose options are its own. */
	while (to_index < 0 && (opt = getopt_long(argc, argv, "+:vqhV", options, NULL)) != -1) {
		switch (opt) {
		case 'v':
			verbose++;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			main_usage(stdout);
			return 0;
		case 'V':
			printf("migrate %s\n", MIGRATE_VERSION);
			return 0;
		case 'T':
			/* "--to X" or "--to=X": the rest, --to included, is cli_migrate's;
			 * it gets the word before --to as its argv[0], which getopt skips. */
			to_index = (optarg == argv[optind - 1] ? optind - 2 : optind - 1) - 1;
			break;
		default:
			return cli_usage_error(NULL, opt, argv);
		}
	}
	if (quiet && verbose) {
		log_error("-q and -v exclude each other");
		return EXIT_USAGE;
	}
	log_set_level(main_log_level(verbose, quiet));
	if (to_index >= 0) {
		optind = 0;
		return cli_migrate(argc - to_index, argv + to_index);
	}

	if (optind >= argc) {
		log_error("no subcommand given");
		main_usage(stderr);
		return EXIT_USAGE;
	}
	const struct subcommand *sub = main_find(argv[optind]);
	if (!sub) {
		log_error("unknown subcommand '%s'; try 'migrate --help'", argv[optind]);
		if (argv[optind][0] >= '0' && argv[optind][0] <= '9')
			log_error("(live migration: 'migrate --to HOST:PORT --psk-file FILE PID', "
				  "the PID last)");
		return EXIT_USAGE;
	}
	/* The subcommand sees argv[0] == its name; optind 0 makes glibc start afresh. */
	argv += optind;
	argc -= optind;
	optind = 0;
	return sub->run(argc, argv);
}
