/*
 * proc_fdinfo: the state of event fds in /proc/PID/fdinfo/FD, beyond what proc_parse_fdinfo
 * reads (pos, flags). Like every parser of proc.h, they take the text and trust none of it.
 */
#ifndef MIGRATE_PROC_FDINFO_H
#define MIGRATE_PROC_FDINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROC_FDINFO_WUR __attribute__((warn_unused_result))

struct proc_eventfd {
	uint64_t count; /* eventfd-count (hex) */
	bool semaphore; /* eventfd-semaphore, false on kernels that do not say */
};

struct proc_timerfd {
	uint32_t clockid;
	uint64_t ticks;	      /* expirations not yet read */
	uint64_t value_ns;    /* it_value: time left, 0 when disarmed */
	uint64_t interval_ns; /* it_interval */
};

/* -EINVAL with err_detail() naming the missing or malformed line. */
int proc_fdinfo_eventfd(const char *text, struct proc_eventfd *ret) PROC_FDINFO_WUR;
/* The sigmask line: bit n-1 for signal n. */
int proc_fdinfo_signalfd(const char *text, uint64_t *ret_mask) PROC_FDINFO_WUR;
int proc_fdinfo_timerfd(const char *text, struct proc_timerfd *ret) PROC_FDINFO_WUR;

/* One "tfd:" line of an epoll instance. */
struct proc_epoll_tfd {
	uint32_t tfd;
	uint32_t events;
	uint64_t data;
	uint64_t ino; /* the registered file, to tell it from another at the same number */
};

/* Every tfd line, in *ret (malloc'd, *ret_count entries; NULL when none). */
int proc_fdinfo_epoll(const char *text, struct proc_epoll_tfd **ret,
		      size_t *ret_count) PROC_FDINFO_WUR;

/* One "inotify wd:" line. */
struct proc_inotify_wd {
	int32_t wd;
	uint64_t ino;
	uint32_t sdev; /* the kernel's encoding: major << 20 | minor */
	uint32_t mask;
	uint32_t handle_bytes; /* 0 when the kernel gave no file handle */
	int32_t handle_type;
	unsigned char handle[128];
};

int proc_fdinfo_inotify(const char *text, struct proc_inotify_wd **ret,
			size_t *ret_count) PROC_FDINFO_WUR;

#endif
