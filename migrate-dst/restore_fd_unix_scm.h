/*
 * restore_fd_unix_scm: the files in flight of a unix message (UnixPassedFile, see
 * dump_fd_unix_scm.h), opened again by the restorer itself and sent with their message:
 *
 *	restore_fd_unix_scm_check(u)              before the process is touched: every file
 *	                                          is still there, the same file (dev/ino, rdev)
 *	restore_fd_unix_scm_send(sk, m, to, len)  sends m's data with its files (SCM_RIGHTS) in
 *	                                          one sendmsg; our copies closed after
 *
 * The receiver gets the data and the files in order, message boundaries kept: for a stream
 * the kernel does not merge a write carrying files with the next one. Each file gets a new
 * open file description (recorded flags and position).
 */
#ifndef RESTORE_FD_UNIX_SCM_H
#define RESTORE_FD_UNIX_SCM_H

#include <sys/socket.h>
#include <sys/types.h>

#include "image.h"

/* 0, or -ESTALE / -errno with the file named in err_detail(). */
int restore_fd_unix_scm_check(const UnixSocketEntry *u) __attribute__((warn_unused_result));

/* Bytes of m's data sent (a stream may take fewer: the caller sends the rest plainly), or
 * -errno with the detail in err_detail(). to: the destination of an unconnected datagram
 * socket, else NULL. */
ssize_t restore_fd_unix_scm_send(int sk, const UnixMessageEntry *m, const struct sockaddr *to,
				 socklen_t to_len) __attribute__((warn_unused_result));

#endif
