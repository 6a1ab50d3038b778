/*
 * proc: parsers for the /proc files a checkpoint reads.
 *
 * Every parser takes the file's text (not a path), so it can be tested and
 * fuzzed on any input; proc_read_file() fetches the text. Parsers never trust
 * the text: a malformed line gives -EINVAL with err_detail() naming the line.
 *
 *	char *text; size_t len;
 *	r = proc_read_file(pid, "maps", &text, &len);
 *	struct proc_vma_list vmas;
 *	r = proc_parse_maps(text, len, &vmas);
 *	free(text);
 *	r = proc_read_file(pid, "smaps", &text, &len);
 *	r = proc_parse_smaps_vmflags(text, len, &vmas);   (adds VmFlags)
 *	...
 *	proc_vma_list_free(&vmas);
 *
 * All functions return 0 or a negative errno; ret_* outputs are untouched on
 * failure.
 */
#ifndef MIGRATE_PROC_H
#define MIGRATE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#define WUR __attribute__((warn_unused_result))

/* Reads /proc/<pid>/<name> (pid 0 means "self") whole into a NUL-terminated
 * malloc'd buffer owned by the caller. name may contain '/', e.g. "task/43/stat". */
int proc_read_file(pid_t pid, const char *name, char **ret_text, size_t *ret_len) WUR;

/* VmFlags from smaps, as bits. */
enum proc_vmflag {
	PROC_VMF_RD = 1ULL << 0, /* rd */
	PROC_VMF_WR = 1ULL << 1, /* wr */
	PROC_VMF_EX = 1ULL << 2, /* ex */
	PROC_VMF_SH = 1ULL << 3, /* sh */
	PROC_VMF_GD = 1ULL << 4, /* gd: grows down */
	PROC_VMF_PF = 1ULL << 5, /* pf: pure PFN range (device) */
	PROC_VMF_IO = 1ULL << 6, /* io: memory-mapped I/O */
	PROC_VMF_LO = 1ULL << 7, /* lo: mlocked */
	PROC_VMF_DC = 1ULL << 8, /* dc: MADV_DONTFORK */
	PROC_VMF_DD = 1ULL << 9, /* dd: MADV_DONTDUMP */
	PROC_VMF_HG = 1ULL << 10, /* hg: MADV_HUGEPAGE */
	PROC_VMF_NH = 1ULL << 11, /* nh: MADV_NOHUGEPAGE */
	PROC_VMF_MG = 1ULL << 12, /* mg: MADV_MERGEABLE */
	PROC_VMF_WF = 1ULL << 13, /* wf: MADV_WIPEONFORK */
	PROC_VMF_UM = 1ULL << 14, /* um: userfaultfd missing tracking */
	PROC_VMF_UW = 1ULL << 15, /* uw: userfaultfd wr-protect tracking */
	PROC_VMF_SD = 1ULL << 16, /* sd: soft-dirty */
	PROC_VMF_DE = 1ULL << 17, /* de: do not expand on remap */
	PROC_VMF_AR = 1ULL << 18, /* ar: architecture specific */
	PROC_VMF_SS = 1ULL << 19, /* ss: shadow stack */
	PROC_VMF_NR = 1ULL << 20, /* nr: MAP_NORESERVE (no swap space reserved) */
};

struct proc_vma {
	uint64_t start;
	uint64_t end;
	uint64_t pgoff; /* offset in bytes, as printed in maps */
	uint32_t prot; /* PROT_READ | PROT_WRITE | PROT_EXEC */
	bool shared; /* 's' (MAP_SHARED) rather than 'p' */
	uint32_t dev_major;
	uint32_t dev_minor;
	uint64_t ino;
	char *path; /* malloc'd; NULL when maps shows no name; "[heap]", "[stack]", "[vdso]", ... kept as is */
	bool deleted; /* " (deleted)" was stripped from path */
	uint64_t vm_flags; /* PROC_VMF_* from smaps, 0 until proc_parse_smaps_vmflags() */
};

struct proc_vma_list {
	struct proc_vma *vmas;
	size_t count;
};

/* Parses /proc/PID/maps text. Rejects overlapping or unsorted ranges. */
int proc_parse_maps(const char *text, size_t len, struct proc_vma_list *ret) WUR;
/* Fills vm_flags of each VMA of list from /proc/PID/smaps text, matched by start address. */
int proc_parse_smaps_vmflags(const char *text, size_t len, struct proc_vma_list *list) WUR;
void proc_vma_list_free(struct proc_vma_list *list); /* accepts a zeroed list */

struct proc_status {
	char name[64];
	char state; /* 'R', 'S', 'T', 't', 'Z', ... */
	uint32_t umask;
	pid_t tgid;
	pid_t ppid;
	pid_t tracer_pid;
	uint32_t uid[4]; /* real, effective, saved, fs */
	uint32_t gid[4];
	uint32_t *groups; /* malloc'd */
	size_t ngroups;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	bool no_new_privs;
	int seccomp; /* 0 disabled, 1 strict, 2 filter */
	uint64_t sig_pnd; /* thread-directed pending */
	uint64_t shd_pnd; /* process-directed pending */
	uint64_t sig_blk, sig_ign, sig_cgt;
	int threads;
	pid_t nspid[8]; /* NSpid, outermost first */
	int nspid_count;
};

/* Parses /proc/PID/status (or task/TID/status). */
int proc_parse_status(const char *text, size_t len, struct proc_status *ret) WUR;
void proc_status_fini(struct proc_status *st); /* accepts a zeroed struct */

struct proc_stat {
	pid_t pid;
	char comm[64];
	char state;
	pid_t ppid;
	pid_t pgrp;
	pid_t session;
	int tty_nr;
	uint64_t flags;
	int64_t num_threads;
	uint64_t start_code, end_code, start_stack;
	uint64_t start_data, end_data, start_brk;
	uint64_t arg_start, arg_end, env_start, env_end;
	int exit_code;
};

/* Parses /proc/PID/stat; comm may contain spaces and parentheses. */
int proc_parse_stat(const char *text, size_t len, struct proc_stat *ret) WUR;
/* /proc/PID/stat read and parsed: the read's -errno (-ENOENT, -ESRCH: gone) or the parser's
 * -EINVAL, with err_detail() naming the file either way. */
int proc_read_stat(pid_t pid, struct proc_stat *ret) WUR;

struct proc_fdinfo {
	uint64_t pos;
	uint32_t flags; /* octal "flags:" field: O_* including O_CLOEXEC */
	int mnt_id;
	uint64_t ino;
};

/* Parses /proc/PID/fdinfo/FD; extra lines (eventfd-count, tfd, inotify ...) are ignored here. */
int proc_parse_fdinfo(const char *text, size_t len, struct proc_fdinfo *ret) WUR;

/* Parses /proc/PID/limits into ret[0..RLIM_NLIMITS-1], indexed by RLIMIT_*;
 * "unlimited" becomes RLIM_INFINITY. */
int proc_parse_limits(const char *text, size_t len, struct rlimit ret[RLIM_NLIMITS]) WUR;

/* One POSIX timer of /proc/PID/timers (timer_create). */
struct proc_posix_timer {
	int id;		  /* 0..INT_MAX */
	int signo;	  /* sigev_signo (any value with SIGEV_NONE) */
	uint64_t sival;	  /* sigev_value, as the pointer the kernel prints */
	int notify;	  /* SIGEV_SIGNAL, SIGEV_NONE or SIGEV_THREAD, maybe | SIGEV_THREAD_ID */
	pid_t notify_pid; /* the tid with SIGEV_THREAD_ID, else the process (/proc's PID namespace) */
	int clock_id;	  /* as given to timer_create: negative for CPU clocks */
};

/* Parses /proc/PID/timers into *ret (malloc'd, *ret_count entries, NULL when none), in the
 * file's order. Refuses a malformed, missing or misplaced line and an ID listed twice. */
int proc_parse_timers(const char *text, size_t len, struct proc_posix_timer **ret,
		      size_t *ret_count) WUR;

/* Lists numeric entries of /proc/PID/<dir> ("task", "fd") sorted ascending. */
int proc_list_numeric(pid_t pid, const char *dir, int **ret_ids, size_t *ret_count) WUR;

#endif
