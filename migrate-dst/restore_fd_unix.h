/*
 * restore_fd_unix (trees): the unix sockets of a tree are made once, by the first process that
 * holds one, and stay ours while the later processes install their own ends from them (the
 * rest of the module is declared in restore_internal.h):
 *
 *	restore_fd_unix_one(p, ...)            each process, from its files stage
 *	restore_fd_unix_tree_fini(ctx, failed) once the tree is restored or given up (restore.c,
 *	                                       restore_tree_ctx_fini): our copies closed; failed:
 *	                                       the socket files bound for it removed
 */
#ifndef MIGRATE_RESTORE_FD_UNIX_H
#define MIGRATE_RESTORE_FD_UNIX_H

#include <stdbool.h>

struct restore_tree_ctx;

/* Nothing when tree's sockets are not held (or were let go already). */
void restore_fd_unix_tree_fini(const struct restore_tree_ctx *tree, bool failed);

#endif
