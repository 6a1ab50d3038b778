/*
 * dump_fd_lock: whether file locks are dumped. Set once, before dump_run, by the command line
 * (--file-locks, CRIU's name); without it a process holding a lock is refused by name.
 */
#ifndef DUMP_FD_LOCK_H
#define DUMP_FD_LOCK_H

#include <stdbool.h>

void dump_fd_lock_set_enabled(bool enabled);

/* FileLockEntry.kind */
#define DUMP_FD_LOCK_FLOCK 1
#define DUMP_FD_LOCK_POSIX 2
#define DUMP_FD_LOCK_OFD 3

#endif
