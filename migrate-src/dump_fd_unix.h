/*
 * dump_fd_unix: whether a unix socket connected to a peer outside the dumped process is dumped
 * (to be connected again at restore). Set once, before dump_run or agent_run, by the command
 * line (--ext-unix-sk, CRIU's name); without it such a socket is refused by name.
 */
#ifndef DUMP_FD_UNIX_H
#define DUMP_FD_UNIX_H

#include <stdbool.h>

void dump_fd_unix_set_external(bool enabled);

#endif
