/*
 * cli_check: `migrate check` probes, one small function per kernel feature,
 * each trying the real operation (not a version number: distributions
 * backport and configure features away). A probe returns 0 when the feature
 * works, or a negative errno with the reason written into `why`. Every child
 * a probe creates is killed and reaped before it returns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/prctl.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "compat.h"
#include "err.h"
#include "log.h"
#include "proc.h"
#include "track.h"

#define EXIT_USAGE 2
#define PAGE 4096UL

struct check_probe {
	const char *name;
	const char *enables; /* what works thanks to it, and why it matters */
	bool required;	     /* dump or restore cannot work without it */
	int (*run)(char *why, size_t size);
};

/* Formats the reason and returns err (negative), so probes can `return probe_fail(...)`. */
static int probe_fail(char *why, size_t size, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int probe_fail(char *why, size_t size, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(why, size, fmt, ap);
	va_end(ap);
	if (err && n >= 0 && (size_t)n < size)
		snprintf(why + n, size - n, ": %s", strerror(err < 0 ? -err : err));
	return err < 0 ? err : err ? -err : -EOPNOTSUPP;
}

/* A child that only waits to be probed; it dies with us whatever happens. */
static pid_t probe_child_start(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return pid;
}

static void probe_child_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Runs fn in a forked child and returns 0 if it exited 0, else -(its exit code). */
static int probe_in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn());
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status))
		return -WEXITSTATUS(status);
	return -ECHILD;
}

static int probe_root(char *why, size_t size)
{
	if (geteuid() != 0)
		return probe_fail(why, size, -EPERM, "running as uid %u", geteuid());
	return 0;
}

static int probe_ptrace_seize(char *why, size_t size)
{
	int status, r = 0;
	pid_t child = probe_child_start();

	if (child < 0)
		return probe_fail(why, size, -errno, "fork");
	if (ptrace(PTRACE_SEIZE, child, NULL, NULL) < 0) {
		r = probe_fail(why, size, -errno, "PTRACE_SEIZE");
		goto out;
	}
	if (ptrace(PTRACE_INTERRUPT, child, NULL, NULL) < 0) {
		r = probe_fail(why, size, -errno, "PTRACE_INTERRUPT");
		goto out;
	}
	if (waitpid(child, &status, __WALL) != child || !WIFSTOPPED(status) ||
	    (status >> 16) != PTRACE_EVENT_STOP)
		r = probe_fail(why, size, 0, "PTRACE_INTERRUPT did not give a PTRACE_EVENT_STOP");
out:
	probe_child_stop(child); /* SIGKILL also ends the tracing */
	return r;
}

static int probe_pidfd_getfd(char *why, size_t size)
{
	int pipefd[2], pidfd = -1, fd = -1, r = 0;
	struct stat want, got;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return probe_fail(why, size, -errno, "pipe");
	pid_t child = probe_child_start(); /* inherits the pipe (fork keeps O_CLOEXEC fds) */
	if (child < 0) {
		r = probe_fail(why, size, -errno, "fork");
		goto out;
	}
	pidfd = syscall(SYS_pidfd_open, child, 0);
	if (pidfd < 0) {
		r = probe_fail(why, size, -errno, "pidfd_open");
		goto out;
	}
	fd = syscall(SYS_pidfd_getfd, pidfd, pipefd[0], 0);
	if (fd < 0) {
		r = probe_fail(why, size, -errno, "pidfd_getfd");
		goto out;
	}
	if (fstat(fd, &got) < 0 || fstat(pipefd[0], &want) < 0 || got.st_ino != want.st_ino)
		r = probe_fail(why, size, 0, "pidfd_getfd returned another file");
out:
	if (fd >= 0)
		close(fd);
	if (pidfd >= 0)
		close(pidfd);
	probe_child_stop(child);
	close(pipefd[0]);
	close(pipefd[1]);
	return r;
}

/* A PID nobody uses now, from the top of the range where few processes live. */
static pid_t probe_free_pid(unsigned int attempt)
{
	long pid_max = 32768;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");

	if (f) {
		if (fscanf(f, "%ld", &pid_max) != 1)
			pid_max = 32768;
		fclose(f);
	}
	for (pid_t pid = pid_max - 1 - 97 * attempt; pid > 300; pid -= 7)
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return pid;
	return -1;
}

static int probe_clone3_set_tid(char *why, size_t size)
{
	int r = -EEXIST;

	/* Another process may take the PID between the look and clone3: retry. */
	for (unsigned int attempt = 0; attempt < 5 && r == -EEXIST; attempt++) {
		pid_t want = probe_free_pid(attempt);
		if (want < 0)
			return probe_fail(why, size, 0, "no free PID found to ask for");
		uint64_t tid = (uint64_t)want;
		struct migrate_clone_args args = {
			.exit_signal = SIGCHLD,
			.set_tid = (uint64_t)(uintptr_t)&tid,
			.set_tid_size = 1,
		};
		long pid = syscall(SYS_clone3, &args, sizeof(args));
		if (pid == 0)
			_exit(0); /* without CLONE_VM this is a fork: nothing else to undo */
		if (pid < 0) {
			r = -errno;
			continue;
		}
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (pid != want)
			return probe_fail(why, size, 0, "asked for PID %d, got %ld", want, pid);
		return 0;
	}
	return probe_fail(why, size, r, "clone3 with set_tid");
}

static int probe_map_files(char *why, size_t size)
{
	DIR *dir = opendir("/proc/self/map_files");
	struct dirent *de;
	int r = -ENOENT;

	if (!dir)
		return probe_fail(why, size, -errno, "/proc/self/map_files");
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(dir), de->d_name, O_RDONLY | O_CLOEXEC);
		r = fd < 0 ? -errno : 0;
		if (fd >= 0)
			close(fd);
		break;
	}
	closedir(dir);
	if (r < 0)
		return probe_fail(why, size, r, "opening a /proc/self/map_files entry");
	return 0;
}

static int probe_mm_map(char *why, size_t size)
{
	unsigned int mm_map_size = 0;

	if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, (unsigned long)&mm_map_size, 0, 0) < 0)
		return probe_fail(why, size, -errno,
				  "prctl(PR_SET_MM_MAP_SIZE) (kernel without "
				  "CONFIG_CHECKPOINT_RESTORE?)");
	if (mm_map_size != sizeof(struct prctl_mm_map))
		return probe_fail(why, size, 0, "struct prctl_mm_map is %u bytes, we know %zu",
				  mm_map_size, sizeof(struct prctl_mm_map));
	return 0;
}

/* Reads the pagemap entry of our own page at addr. */
/*
 * The dirty trackers are probed by the tracker module itself, the code that
 * `migrate --to --tracker auto` runs: `check` can never disagree with it.
 */
static int probe_tracker(enum track_kind kind, char *why, size_t size)
{
	int r = track_probe(kind);

	if (r < 0)
		snprintf(why, size, "%s", err_detail());
	return r;
}

static int probe_soft_dirty(char *why, size_t size)
{
	return probe_tracker(TRACK_SOFT_DIRTY, why, size);
}

static int probe_uffd_wp(char *why, size_t size)
{
	return probe_tracker(TRACK_UFFD_WP, why, size);
}

static int probe_tcp_repair(char *why, size_t size)
{
	int on = 1, off = 0, r = 0;
	int sk = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (sk < 0)
		return probe_fail(why, size, -errno, "socket(AF_INET, SOCK_STREAM)");
	if (setsockopt(sk, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) < 0)
		r = probe_fail(why, size, -errno, "setsockopt(TCP_REPAIR) (needs CAP_NET_ADMIN)");
	else
		(void)setsockopt(sk, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	close(sk);
	return r;
}

static int probe_netns_child(void)
{
	return unshare(CLONE_NEWNET) < 0 ? errno : 0;
}

static int probe_netns(char *why, size_t size)
{
	int r = probe_in_child(probe_netns_child);

	return r < 0 ? probe_fail(why, size, r, "unshare(CLONE_NEWNET)") : 0;
}

/* In the new namespace our next child must be its PID 1. */
static int probe_pidns_child(void)
{
	int status;

	if (unshare(CLONE_NEWPID) < 0)
		return errno;
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(getpid() == 1 ? 0 : EINVAL);
	if (waitpid(pid, &status, 0) < 0)
		return errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : ECHILD;
}

static int probe_pidns(char *why, size_t size)
{
	int r = probe_in_child(probe_pidns_child);

	return r < 0 ? probe_fail(why, size, r, "unshare(CLONE_NEWPID)") : 0;
}

static const struct check_probe check_probes[] = {
	{ "root", "ptrace and /proc of other users' processes, chosen PIDs", true, probe_root },
	{ "ptrace-seize", "stop and inspect a process without sending it a signal", true,
	  probe_ptrace_seize },
	{ "pidfd-getfd", "copy a process's open files (pidfd_open + pidfd_getfd)", true,
	  probe_pidfd_getfd },
	{ "clone3-set-tid", "restore processes and threads with their original PIDs", true,
	  probe_clone3_set_tid },
	{ "mm-map", "restore the memory layout fields (PR_SET_MM_MAP)", true, probe_mm_map },
	{ "map-files", "open the file behind a mapping, even a deleted one", false,
	  probe_map_files },
	{ "soft-dirty", "dirty-page tracking on older kernels (pre-copy)", false,
	  probe_soft_dirty },
	{ "uffd-wp", "dirty-page tracking by userfaultfd WP_ASYNC + PAGEMAP_SCAN (pre-copy)", false,
	  probe_uffd_wp },
	{ "tcp-repair", "moving established TCP connections (TCP_REPAIR)", false,
	  probe_tcp_repair },
	{ "net-ns", "network namespaces (tests, network handover)", false, probe_netns },
	{ "pid-ns", "PID namespaces (restore into a fresh PID space)", false, probe_pidns },
};

#define PROBE_COUNT (sizeof(check_probes) / sizeof(check_probes[0]))

struct check_result {
	int r;
	char why[256];
};

/* The vDSO areas of our own maps, as "[vvar] 4 pages, [vdso] 2 pages"; restore must
 * find the same layout. Empty if maps cannot be read. */
static void check_vdso_layout(char *buf, size_t size)
{
	struct proc_vma_list vmas = { 0 };
	size_t len = 0, text_len;
	char *text;

	buf[0] = '\0';
	if (proc_read_file(0, "maps", &text, &text_len) < 0)
		return;
	int r = proc_parse_maps(text, text_len, &vmas);
	free(text);
	if (r < 0)
		return;
	for (size_t i = 0; i < vmas.count && len < size; i++) {
		const struct proc_vma *v = &vmas.vmas[i];
		if (!v->path || (strncmp(v->path, "[vvar", 5) && strcmp(v->path, "[vdso]") &&
				 strcmp(v->path, "[vsyscall]")))
			continue;
		len += snprintf(buf + len, size - len, "%s%s %llu pages", len ? ", " : "", v->path,
				(unsigned long long)((v->end - v->start) / PAGE));
	}
	proc_vma_list_free(&vmas);
}

/* What `--tracker auto` picks, asked of the same code that picks it. */
static const char *check_tracker(void)
{
	enum track_kind kind = TRACK_NONE;

	if (track_auto(&kind) < 0)
		return "none";
	return track_kind_name(kind);
}

/* A JSON string: our texts are ASCII, but strerror and paths may hold quotes. */
static void check_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void check_print_json(const struct check_result *res, const char *vdso, bool ready)
{
	printf("{\n  \"probes\": [\n");
	for (size_t i = 0; i < PROBE_COUNT; i++) {
		printf("    {\"name\": ");
		check_json_string(check_probes[i].name);
		printf(", \"status\": \"%s\", \"required\": %s, \"enables\": ",
		       res[i].r ? "missing" : "ok", check_probes[i].required ? "true" : "false");
		check_json_string(check_probes[i].enables);
		printf(", \"why\": ");
		check_json_string(res[i].why);
		printf("}%s\n", i + 1 < PROBE_COUNT ? "," : "");
	}
	printf("  ],\n  \"vdso\": ");
	check_json_string(vdso);
	printf(",\n  \"dirty_tracker\": \"%s\",\n  \"ready\": %s\n}\n", check_tracker(),
	       ready ? "true" : "false");
}

static void check_print_text(const struct check_result *res, const char *vdso, bool ready)
{
	for (size_t i = 0; i < PROBE_COUNT; i++) {
		printf("%-8s %-15s %s%s\n", res[i].r ? "missing" : "ok", check_probes[i].name,
		       check_probes[i].enables, check_probes[i].required ? " [required]" : "");
		if (res[i].r)
			printf("%25s(%s)\n", "", res[i].why);
	}
	printf("vDSO layout: %s\n", vdso[0] ? vdso : "(cannot read /proc/self/maps)");
	const char *tracker = check_tracker();
	printf("dirty tracker 'auto' picks: %s%s\n", tracker,
	       strcmp(tracker, "none") ? ""
				       : " (every pre-copy round resends all memory: no "
					 "convergence)");
	printf("%s\n", ready ? "dump and restore can run here"
			     : "dump and restore cannot run here: a required feature is missing");
}

int cli_check(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct check_result res[PROBE_COUNT] = { 0 };
	bool json = false, ready = true;
	char vdso[256];
	int opt;

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == 'j') {
			json = true;
		} else if (opt == 'h') {
			printf("Usage: migrate check [--json]\n\nProbes the kernel features dump "
			       "and restore rely on. Exits 1 when a required one is missing.\n");
			return 0;
		} else {
			return cli_usage_error("check", opt, argv);
		}
	}
	if (optind < argc) {
		log_error("check: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < PROBE_COUNT; i++) {
		res[i].r = check_probes[i].run(res[i].why, sizeof(res[i].why));
		log_debug("check: %s: %d %s", check_probes[i].name, res[i].r, res[i].why);
		if (res[i].r && check_probes[i].required)
			ready = false;
	}
	check_vdso_layout(vdso, sizeof(vdso));
	if (json)
		check_print_json(res, vdso, ready);
	else
		check_print_text(res, vdso, ready);
	return ready ? 0 : 1;
}
