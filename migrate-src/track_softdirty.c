/*
 * track_softdirty: clear_refs "4" + pagemap bit 55 (CONFIG_MEM_SOFT_DIRTY).
 *
 * Writing 4 to /proc/PID/clear_refs clears the soft-dirty bit of every pte and
 * the VM_SOFTDIRTY flag of every VMA; a write sets the bit again. A VMA created
 * afterwards carries VM_SOFTDIRTY, so pagemap reports all of it (holes
 * included) as soft-dirty: new VMAs come out whole, as track.h promises.
 * Read and clear are two steps, so a write between them would be lost: the
 * caller stops every thread around collect (needs_freeze).
 */
#include "track.h"

#include "compat.h"
#include "err.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* pid 0: ourselves */
static int track_softdirty_clear(pid_t pid)
{
	char path[64];
	int r = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/clear_refs", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/clear_refs");
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_setf(errno, "cannot open %s: %s", path, strerror(errno));
	if (write(fd, "4", 1) != 1)
		r = err_setf(errno, "writing 4 to %s: %s", path, strerror(errno));
	close(fd);
	return r;
}

static int track_softdirty_self_entry(int pagemap_fd, const volatile char *page,
				      uint64_t *ret_entry)
{
	off_t off = (off_t)((uintptr_t)page / 4096 * 8);

	if (pread(pagemap_fd, ret_entry, 8, off) != 8)
		return err_setf(errno ? errno : EIO, "reading /proc/self/pagemap: %s",
				strerror(errno ? errno : EIO));
	return 0;
}

/* Clears our own bits, writes a page of ours, and expects bit 55 on it only then. */
static int track_softdirty_probe(void)
{
	uint64_t before = 0, after = 0;
	volatile char *page =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return err_setf(errno, "soft-dirty probe: mmap: %s", strerror(errno));
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int r = fd < 0 ? err_setf(errno, "cannot open /proc/self/pagemap: %s", strerror(errno)) : 0;
	page[0] = 1;
	if (r == 0)
		r = track_softdirty_clear(0);
	if (r == 0)
		r = track_softdirty_self_entry(fd, page, &before);
	page[0] = 2;
	if (r == 0)
		r = track_softdirty_self_entry(fd, page, &after);
	if (r == 0 && !(after & PM_SOFT_DIRTY))
		r = err_setf(EOPNOTSUPP, "kernel built without CONFIG_MEM_SOFT_DIRTY "
					 "(a written page has no soft-dirty bit)");
	else if (r == 0 && (before & PM_SOFT_DIRTY))
		r = err_setf(EOPNOTSUPP, "clear_refs does not clear the soft-dirty bit");
	if (fd >= 0)
		close(fd);
	munmap((void *)page, 4096);
	return r;
}

static int track_softdirty_start(struct track *t, struct puppet *main_thread)
{
	return track_softdirty_clear(t->pid);
}

static int track_softdirty_collect(struct track *t, struct track_ranges *ranges)
{
	struct proc_vma_list vmas;
	int r = track_read_vmas(t, true, &vmas);

	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < vmas.count; i++)
		if (track_vma_tracked(&vmas.vmas[i]))
			r = track_pagemap_add(t, vmas.vmas[i].start, vmas.vmas[i].end,
					      PM_SOFT_DIRTY, ranges);
	proc_vma_list_free(&vmas);
	/* On error nothing is cleared: the next collect reports these pages again. */
	if (r == 0)
		r = track_softdirty_clear(t->pid);
	return r;
}

static void track_softdirty_stop(struct track *t)
{
	/* Nothing to undo: soft-dirty bits are always on, nobody else reads them. */
}

const struct track_ops track_softdirty_ops = {
	.probe = track_softdirty_probe,
	.start = track_softdirty_start,
	.collect = track_softdirty_collect,
	.stop = track_softdirty_stop,
	.needs_freeze = true,
};
