/*
 * dump_fd_unix: whether a unix socket connected to a peer outside the dumped process is dumped
 * (to be connected again at restore). Set once, before dump_run or agent_run, by the command
 * line (--ext-unix-sk, CRIU's name); without it such a socket is refused by name.
 *
 * A tree dump (dump_tree.c) checks the sockets of all its members together instead of one
 * process at a time:
 *
 *	dump_fd_unix_set_tree(true)      before the members' fd tables are read: the per-process
 *	                                 dump_fd_unix_check then leaves the peers alone
 *	dump_fd_unix_check_tree(tree)    once every member's fds are read (before the freeze,
 *	                                 and again frozen): a peer held by any member is inside;
 *	                                 one outside the tree is refused by name as for one
 *	                                 process; the unread data of a socket that several
 *	                                 members hold stays on its first holder's fd only
 */
#ifndef DUMP_FD_UNIX_H
#define DUMP_FD_UNIX_H

#include <stdbool.h>

struct dump_tree;

void dump_fd_unix_set_external(bool enabled);
void dump_fd_unix_set_tree(bool tree);
int dump_fd_unix_check_tree(const struct dump_tree *tree) __attribute__((warn_unused_result));

#endif
