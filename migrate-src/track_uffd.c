/*
 * track_uffd: userfaultfd asynchronous write-protection + PAGEMAP_SCAN.
 *
 * A userfaultfd is bound to the mm of the task that creates it, so it is made
 * in the process by a remote syscall; pidfd_getfd gives us a copy and the
 * process's own fd is closed again, remotely. Every private writable VMA is
 * registered in WP mode from our copy (registration acts on the uffd's mm, not
 * on the caller's). With WP_ASYNC a write to a protected page never blocks:
 * the kernel unprotects it and remembers it was written. One PAGEMAP_SCAN with
 * WP_MATCHING then returns the written pages and protects them again in the
 * same page-table walk, so a write racing with the scan lands either before
 * (reported now) or after (reported next time): none is lost, and the process
 * keeps running throughout.
 *
 *	collect:   maps + smaps VmFlags
 *	              "uw" set   -> PAGEMAP_SCAN(WP_MATCHING|CHECK_WPASYNC, WRITTEN)
 *	              "uw" unset -> new or remapped: UFFDIO_REGISTER, arm, report whole
 *	stop:      close(uffd): the kernel unregisters every range
 *
 * Known limit: a process that registers its own userfaultfd write-protection
 * is refused at start ("uw" would not tell its ranges from ours).
 */
#include "track.h"

#include "compat.h"
#include "err.h"
#include "log.h"
#include "proc.h"
#include "puppet.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Holes are never armed. The kernel turns WP_UNPOPULATED on with WP_ASYNC, so
 * a WP_MATCHING scan counts every hole as written and protects it with a
 * marker, building page tables for the whole range: a sparse reservation
 * (ASan's 16 TiB shadow, a JVM or Go heap reserve) then costs gigabytes of
 * page tables; seen here, it exhausted the machine. So the scan matches only
 * pages that exist (category_anyof_mask PRESENT|SWAPPED). Nothing is lost: a
 * hole written later becomes a present page without the uffd-wp bit, which
 * the next scan reports as written (checked on 6.18, and in test_track).
 */
#define TRACK_UFFD_FEATURES UFFD_FEATURE_WP_ASYNC
#define TRACK_UFFD_FLAGS (O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY)
#define TRACK_UFFD_VEC 512

static int track_uffd_api(int uffd)
{
	struct uffdio_api api = { .api = UFFD_API, .features = TRACK_UFFD_FEATURES };

	if (ioctl(uffd, UFFDIO_API, &api) < 0)
		return err_setf(errno,
				"UFFDIO_API with WP_ASYNC: %s "
				"(kernel older than 6.7?)",
				strerror(errno));
	return 0;
}

static int track_uffd_register(int uffd, uint64_t start, uint64_t end)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = end - start },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		return err_setf(errno, "UFFDIO_REGISTER(WP) of %#llx-%#llx: %s",
				(unsigned long long)start, (unsigned long long)end,
				strerror(errno));
	return 0;
}

/* Collect-and-rearm over [start, end) of pagemap_fd; adds the written pages to
 * r, or only re-arms when r is NULL. */
static int track_uffd_scan(int pagemap_fd, uint64_t start, uint64_t end, struct track_ranges *r)
{
	struct page_region vec[TRACK_UFFD_VEC];

	while (start < end) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg),
			.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
			.start = start,
			.end = end,
			.vec = (uint64_t)(uintptr_t)vec,
			.vec_len = TRACK_UFFD_VEC,
			.category_mask = PAGE_IS_WRITTEN,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			.return_mask = PAGE_IS_WRITTEN,
		};
		long n = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);
		if (n < 0)
			return err_setf(errno, "PAGEMAP_SCAN of %#llx-%#llx: %s",
					(unsigned long long)start, (unsigned long long)end,
					strerror(errno));
		for (long i = 0; r && i < n; i++) {
			int e = track_ranges_add(r, vec[i].start, vec[i].end);
			if (e < 0)
				return e;
		}
		/* walk_end says where a full vector stopped the walk */
		if (arg.walk_end <= start)
			break;
		start = arg.walk_end;
	}
	return 0;
}

/* Adds the likely cause to the detail of a failed probe step. */
static int track_uffd_probe_hint(int e)
{
	char detail[512];

	snprintf(detail, sizeof(detail), "%s", err_detail());
	return err_setf(e, "%s (kernel older than 6.7?)", detail);
}

/* Probe on our own memory: register 4 pages, arm, write the 3rd, expect it alone. */
static int track_uffd_probe_area(int uffd, char *area)
{
	uint64_t start = (uintptr_t)area, end = start + 4 * 4096;
	struct track_ranges r = { 0 };
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int e = fd < 0 ? err_setf(errno, "cannot open /proc/self/pagemap: %s", strerror(errno))
		       : track_uffd_register(uffd, start, end);

	if (e == 0)
		e = track_uffd_scan(fd, start, end, NULL);
	area[2 * 4096] = 1;
	if (e == 0)
		e = track_uffd_scan(fd, start, end, &r);
	if (e == 0 && (r.count != 1 || r.ranges[0].start != start + 2 * 4096 || r.pages != 1))
		e = err_setf(EOPNOTSUPP,
			     "PAGEMAP_SCAN reported %zu ranges (%llu pages), not "
			     "the one page written",
			     r.count, (unsigned long long)r.pages);
	else if (e < 0 && fd >= 0)
		e = track_uffd_probe_hint(e);
	track_ranges_free(&r);
	if (fd >= 0)
		close(fd);
	return e;
}

static int track_uffd_probe_getfd(int fd)
{
	int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0)
		return err_setf(errno, "pidfd_open: %s", strerror(errno));
	int copy = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	int r = copy < 0 ? err_setf(errno, "pidfd_getfd: %s", strerror(errno)) : 0;
	if (copy >= 0)
		close(copy);
	close(pidfd);
	return r;
}

static int track_uffd_probe(void)
{
	int uffd = syscall(SYS_userfaultfd, TRACK_UFFD_FLAGS);
	if (uffd < 0)
		return err_setf(errno, "userfaultfd(UFFD_USER_MODE_ONLY): %s", strerror(errno));
	int r = track_uffd_api(uffd);
	if (r == 0)
		r = track_uffd_probe_getfd(uffd);
	char *area = MAP_FAILED;
	if (r == 0) {
		area = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			    0);
		if (area == MAP_FAILED)
			r = err_setf(errno, "uffd-wp probe: mmap: %s", strerror(errno));
	}
	if (r == 0)
		r = track_uffd_probe_area(uffd, area);
	close(uffd);
	if (area != MAP_FAILED)
		munmap(area, 4 * 4096);
	return r;
}

/* Makes the uffd in the process and takes a copy; the process keeps no fd of it. */
static int track_uffd_create(struct track *t, struct puppet *p)
{
	long remote_fd;
	int r = puppet_syscall6(p, &remote_fd, SYS_userfaultfd, TRACK_UFFD_FLAGS, 0, 0, 0, 0, 0);

	if (r < 0)
		return r;
	if (remote_fd < 0)
		return err_setf((int)remote_fd, "pid %d: remote userfaultfd: %s", t->pid,
				strerror((int)-remote_fd));
	int pidfd = syscall(SYS_pidfd_open, t->pid, 0);
	if (pidfd < 0)
		r = err_setf(errno, "pid %d: pidfd_open: %s", t->pid, strerror(errno));
	else if ((t->uffd = syscall(SYS_pidfd_getfd, pidfd, (int)remote_fd, 0)) < 0)
		r = err_setf(errno, "pid %d: pidfd_getfd of its userfaultfd %ld: %s", t->pid,
			     remote_fd, strerror(errno));
	if (pidfd >= 0)
		close(pidfd);
	long closed;
	int rc = puppet_syscall6(p, &closed, SYS_close, (uint64_t)remote_fd, 0, 0, 0, 0, 0);
	if (r == 0 && (rc < 0 || closed < 0))
		r = rc < 0 ? rc
			   : err_setf((int)closed, "pid %d: remote close(%ld)", t->pid, remote_fd);
	if (r < 0 && t->uffd >= 0) {
		close(t->uffd);
		t->uffd = -1;
	}
	return r;
}

/* Registers (and arms) a VMA that has no "uw" yet. */
static int track_uffd_adopt(struct track *t, uint64_t start, uint64_t end)
{
	int r = track_uffd_register(t->uffd, start, end);

	if (r == 0)
		r = track_uffd_scan(t->pagemap_fd, start, end, NULL);
	return r;
}

static int track_uffd_register_all(struct track *t)
{
	struct proc_vma_list vmas = { 0 };
	int r = track_read_vmas(t, true, &vmas);

	for (size_t i = 0; r == 0 && i < vmas.count; i++) {
		const struct proc_vma *v = &vmas.vmas[i];
		if (!track_vma_tracked(v))
			continue;
		if (v->vm_flags & (PROC_VMF_UW | PROC_VMF_UM))
			r = err_setf(EBUSY,
				     "pid %d uses userfaultfd itself (%#llx-%#llx is "
				     "registered): use the soft-dirty or none tracker",
				     t->pid, (unsigned long long)v->start,
				     (unsigned long long)v->end);
		else if (track_uffd_adopt(t, v->start, v->end) < 0)
			/* Not an error: such a VMA is reported whole at every collect. */
			log_debug("pid %d: %s, ignoring", t->pid, err_detail());
	}
	proc_vma_list_free(&vmas);
	return r;
}

static int track_uffd_start(struct track *t, struct puppet *main_thread)
{
	if (!main_thread)
		return err_setf(EINVAL, "pid %d: uffd-wp tracking needs a stopped puppet thread",
				t->pid);
	int r = track_uffd_create(t, main_thread);
	if (r == 0)
		r = track_uffd_api(t->uffd);
	if (r == 0)
		r = track_uffd_register_all(t);
	if (r < 0 && t->uffd >= 0) {
		close(t->uffd); /* unregisters whatever was registered */
		t->uffd = -1;
	}
	return r;
}

static int track_uffd_collect_vma(struct track *t, const struct proc_vma *v,
				  struct track_ranges *ranges)
{
	size_t count = ranges->count;
	uint64_t pages = ranges->pages;
	struct track_range last = count ? ranges->ranges[count - 1] : (struct track_range){ 0 };

	if (v->vm_flags & PROC_VMF_UW) {
		int r = track_uffd_scan(t->pagemap_fd, v->start, v->end, ranges);
		/* EPERM/EINVAL: the VMA was replaced since maps was read. */
		if (r != -EPERM && r != -EINVAL)
			return r;
		log_debug("pid %d: %s: reporting the VMA whole", t->pid, err_detail());
		/* forget what the partial scan added (it may have grown the last range) */
		ranges->count = count;
		ranges->pages = pages;
		if (count)
			ranges->ranges[count - 1] = last;
	} else if (track_uffd_adopt(t, v->start, v->end) < 0) {
		log_debug("pid %d: %s: reported whole", t->pid, err_detail());
	}
	return track_ranges_add(ranges, v->start, v->end);
}

static int track_uffd_collect(struct track *t, struct track_ranges *ranges)
{
	struct proc_vma_list vmas;
	int r = track_read_vmas(t, true, &vmas);

	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < vmas.count; i++)
		if (track_vma_tracked(&vmas.vmas[i]))
			r = track_uffd_collect_vma(t, &vmas.vmas[i], ranges);
	proc_vma_list_free(&vmas);
	return r;
}

static void track_uffd_stop(struct track *t)
{
	if (t->uffd >= 0)
		close(t->uffd);
	t->uffd = -1;
}

const struct track_ops track_uffd_ops = {
	.probe = track_uffd_probe,
	.start = track_uffd_start,
	.collect = track_uffd_collect,
	.stop = track_uffd_stop,
	.needs_freeze = false,
};
