/*
 * restore: bring an image directory back to life ("restore by puppet").
 *
 *	struct restore_opts o = { .dir = "/tmp/ck" };
 *	pid_t pid;
 *	r = restore_run(&o, &pid);
 *	if (!o.detached) status = restore_wait(pid);
 *
 * Sequence: load and validate every image (refuse before creating anything)
 * → check that each PID is free (waiting briefly for a zombie of the dumped
 * process to be reaped) → clone3(set_tid) a child per process, which sets up
 * fds, cwd, umask, rlimits, session and stops → seize it and, by remote
 * syscalls, replace its memory with the image's, move the vDSO, restore
 * sigactions, brk and mm fields, create threads with their TIDs, set
 * registers, xstate, signal masks and pending signals → detach all threads.
 * On failure every created process is killed: nothing is left half-built.
 */
#ifndef MIGRATE_RESTORE_H
#define MIGRATE_RESTORE_H

#include <stdbool.h>
#include <sys/types.h>

struct restore_opts {
	const char *dir;
	bool detached; /* --restore-detached: do not wait for the process */
	bool shell_job; /* rebind terminal fds to ours, join our session, take the foreground */
	int pid_wait_ms; /* how long to wait for a zombie to free a PID; 0 means the default (5 s) */
};

/* Restores; *ret_pid is the root process's PID (our child). */
int restore_run(const struct restore_opts *opts, pid_t *ret_pid) __attribute__((warn_unused_result));

/* Waits for the restored root and returns an exit status for `migrate restore`:
 * its exit code, or 128+signal if it was killed. */
int restore_wait(pid_t pid, bool shell_job);

#endif
