/*
 * dump_fd_fifo (tree dumps): the FIFOs that several members of a tree hold are checked
 * together (the rest of the module is declared in dump_internal.h):
 *
 *	dump_fd_fifo_set_tree(true)      before the members' fd tables are read: the per-process
 *	                                 dump_fd_fifo_check then looks for no other holder
 *	dump_fd_fifo_check_tree(tree)    once every member's fds are read: a holder outside the
 *	                                 tree is refused by name; the unread bytes of a FIFO stay
 *	                                 on its first holder's record only
 */
#ifndef DUMP_FD_FIFO_H
#define DUMP_FD_FIFO_H

#include <stdbool.h>

struct dump_tree;

void dump_fd_fifo_set_tree(bool tree);
int dump_fd_fifo_check_tree(const struct dump_tree *tree) __attribute__((warn_unused_result));

#endif
