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

#endif
