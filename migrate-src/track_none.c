/*
 * track_none: no tracking at all. Every collect reports every present (or
 * swapped) page of the private writable VMAs, so the pre-copy loop stays
 * correct but never converges; the CLI tells the user so (track.h).
 */
#include "track.h"

#include "compat.h"
#include "err.h"
#include "proc.h"

static int track_none_probe(void)
{
	return 0;
}

static int track_none_start(struct track *t, struct puppet *main_thread)
{
	return 0;
}

static int track_none_collect(struct track *t, struct track_ranges *ranges)
{
	struct proc_vma_list vmas;
	int r = track_read_vmas(t, true, &vmas);

	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < vmas.count; i++)
		if (track_vma_tracked(&vmas.vmas[i]))
			r = track_pagemap_add(t, vmas.vmas[i].start, vmas.vmas[i].end,
					      PM_PRESENT | PM_SWAP, ranges);
	proc_vma_list_free(&vmas);
	return r;
}

static void track_none_stop(struct track *t)
{
}

const struct track_ops track_none_ops = {
	.probe = track_none_probe,
	.start = track_none_start,
	.collect = track_none_collect,
	.stop = track_none_stop,
	.needs_freeze = false,
};
