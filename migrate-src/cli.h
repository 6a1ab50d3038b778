/*
 * cli: the `migrate` subcommands. main.c parses the global options
 * (-v/--verbose, -q, --help, --version), then dispatches from a table to one
 * of these with argv[0] being the subcommand's name. Each parses its own
 * options (getopt_long), calls the engine, prints, and returns the process
 * exit status. Only this layer prints to stdout.
 */
#ifndef MIGRATE_CLI_H
#define MIGRATE_CLI_H

int cli_dump(int argc, char **argv);    /* cli_dump.c */
int cli_restore(int argc, char **argv); /* cli_restore.c */
int cli_check(int argc, char **argv);   /* cli_check.c */
int cli_show(int argc, char **argv);    /* cli_show.c */
/* cli_migrate.c: `migrate --to HOST:PORT [OPTIONS] PID`; argv holds --to among
 * its options (argv[0] is skipped). Exit 0, 1 (source resumed), 2 (usage) or
 * SESSION_EXIT_UNKNOWN. */
int cli_migrate(int argc, char **argv);

/* main.c: reports the getopt_long() result opt ('?' unknown option, ':' missing
 * value) met while parsing argv for subcommand sub, with a usage hint, and
 * returns the exit status for a usage error (2). Call getopt_long() with an
 * optstring starting with ':' and opterr = 0 so that this is the only message. */
int cli_usage_error(const char *sub, int opt, char **argv);

/* cli_parse.c: "42" -> 42 within [min, max]; signs, spaces, junk and overflow are
 * refused (-EINVAL), so every numeric option of every subcommand reads the same way. */
int cli_parse_number(const char *text, unsigned long long min, unsigned long long max,
		     unsigned long long *ret) __attribute__((warn_unused_result));

#endif
