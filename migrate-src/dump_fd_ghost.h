/*
 * dump_fd_ghost: how much of a file that exists only in the process (a memfd, a deleted file)
 * the dump carries in the image. Set once, before dump_run, by the command line
 * (--ghost-limit); the default is DUMP_FD_GHOST_LIMIT_DEFAULT.
 */
#ifndef DUMP_FD_GHOST_H
#define DUMP_FD_GHOST_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#define DUMP_FD_GHOST_LIMIT_DEFAULT (1ull << 20)
/* An image holds a file in one record, and live migration in one message: both are refused
 * above 64 MiB (IMAGE_MAX_RECORD, WIRE_MAX_PAYLOAD), so leave room for the rest. */
#define DUMP_FD_GHOST_LIMIT_MAX (32ull << 20)

/* Bytes up to which such a file is carried; larger ones are refused by name. */
void dump_fd_ghost_set_limit(uint64_t bytes);
/* The limit in force (mapped memfds and deleted files, dump_mm_ghost.c, obey it too). */
uint64_t dump_fd_ghost_get_limit(void);
/* The first len bytes of the file open at fd (pread: its offset stays), into ret. */
int dump_fd_ghost_read(int fd, size_t len, ProtobufCBinaryData *ret)
	__attribute__((warn_unused_result));

#endif
