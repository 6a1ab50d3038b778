/*
 * dump_fd_unix_scm: the files in flight in a unix socket's queue (SCM_RIGHTS), as records
 * (UnixPassedFile) attached to their message.
 *
 * A MSG_PEEK with a control buffer installs the in-flight files into OUR process; the peeker
 * hands the received header to dump_fd_unix_scm_take, which describes each file and closes
 * our copy (the message keeps its own reference: nothing of the process is closed):
 *
 *	n = recvmsg(sk, &mh, MSG_PEEK | MSG_CMSG_CLOEXEC);
 *	r = dump_fd_unix_scm_take(pid, fd, &mh, &files, &n_files);   our copies closed
 *	... attach files to the message, or dump_fd_unix_scm_free(files, n_files)
 *
 * Carried: regular files and directories reachable by their path (path, flags, position,
 * dev/ino) and the safe character devices (null, zero, full, random, urandom). Refused by
 * name: every other kind (pipes, sockets, anonymous inodes, memfds and deleted files, other
 * devices) and a file whose open file description is also one of pid's fds (the restore makes
 * a new description: the shared offset would be lost).
 */
#ifndef DUMP_FD_UNIX_SCM_H
#define DUMP_FD_UNIX_SCM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "image.h"

/*
 * Closes every fd that mh's SCM_RIGHTS brought into our process and describes them, in order,
 * into *ret_files (malloc'd array of n entries, NULL when none; free with
 * dump_fd_unix_scm_free). Socket fd of pid is named in refusals: -ENOTSUP (a kind not carried,
 * a description shared with the process, a truncated control message), -ENOMEM; the detail is
 * in err_detail(). *ret_files untouched on failure.
 */
int dump_fd_unix_scm_take(pid_t pid, uint32_t fd, struct msghdr *mh, UnixPassedFile ***ret_files,
			  size_t *ret_n) __attribute__((warn_unused_result));

/* Frees files and its n entries; accepts NULL. */
void dump_fd_unix_scm_free(UnixPassedFile **files, size_t n);

#endif
