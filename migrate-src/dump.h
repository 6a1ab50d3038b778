/*
 * dump: checkpoint a running process into an image directory.
 *
 *	struct dump_opts o = { .pid = 42, .dir = "/tmp/ck", .after = DUMP_AFTER_KILL };
 *	r = dump_run(&o);
 *
 * Sequence: check the target (exists, not traced, every fd of a supported
 * kind) → seize all threads (PTRACE_SEIZE, no signal) → interrupt → collect
 * state and memory → write images → on success kill / resume / leave stopped
 * as asked; on any failure the process is resumed exactly as it was.
 * Errors are logged here (this stage knows the context) and returned.
 */
#ifndef MIGRATE_DUMP_H
#define MIGRATE_DUMP_H

#include <stdbool.h>
#include <sys/types.h>

enum dump_after {
	DUMP_AFTER_KILL, /* default, like CRIU */
	DUMP_AFTER_RUN, /* --leave-running */
	DUMP_AFTER_STOP, /* --leave-stopped: left in group stop (SIGSTOP) */
};

struct dump_opts {
	pid_t pid;
	const char *dir;
	enum dump_after after;
	bool shell_job; /* allow fds on a terminal, and a session outside the tree */
	bool tcp_established; /* --tcp-established: dump established TCP connections (dump_net.h) */
};

int dump_run(const struct dump_opts *opts) __attribute__((warn_unused_result));

#endif
