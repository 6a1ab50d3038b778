/*
 * image_ipc: ipc.img (see image.h), the System V objects of a tree that has its own IPC
 * namespace. Reading:
 *
 *	image_ipc_load(&dir, &ipc, &n)      every record, checked as image_ipc_check does
 *	...                                 image_ipc_free(ipc, n)
 *
 * The settings a restore may write (kernel.NAME of the namespace) come from a fixed list.
 */
#ifndef MIGRATE_IMAGE_IPC_H
#define MIGRATE_IMAGE_IPC_H

#include <stdbool.h>
#include <stddef.h>

#include "image.h"

/* ipc.img of d, all records checked; *ret (image_ipc_free) may be empty. -EBADMSG (detail set)
 * for a bad record, the errors of image_open_read for a missing file. */
int image_ipc_load(struct image_dir *d, IpcEntry ***ret, size_t *ret_n) IMAGE_WUR;
void image_ipc_free(IpcEntry **ipc, size_t n); /* NULL is fine */

/* The kernel.* settings of an IPC namespace that travel, by index (NULL past the end). */
size_t image_ipc_sysctl_count(void);
const char *image_ipc_sysctl_name(size_t i);
bool image_ipc_sysctl_known(const char *name);

#endif
