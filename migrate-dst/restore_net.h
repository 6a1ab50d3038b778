/*
 * restore_net: the restored connections' way out of repair mode.
 *
 * restore_proc_finish() re-creates every TCP connection of the image and leaves the
 * established ones IN repair mode (restore_files.c): until the process runs, a failure kills
 * it, and a connection closed in repair mode sends nothing to its peer, which keeps the
 * connection alive wherever it comes from (the source of a migration, or another restore
 * of the same images). Just before the process runs, its owner takes them out:
 *
 *	r = restore_proc_finish(p, t, o);
 *	r = restore_net_release(p, t);           window probe: the peers learn where we are
 *	r = restore_proc_resume(p);
 *
 * (The live-migration session does the same through its own copies at Go.)
 */
#ifndef MIGRATE_RESTORE_NET_H
#define MIGRATE_RESTORE_NET_H

#include "image.h"
#include "restore.h"

/* Takes every established connection of t (already restored in p) out of repair mode,
 * through a pidfd_getfd copy of the puppet's fd. Logs and returns the first error; the
 * caller then aborts (the connections still in repair mode close silently). */
int restore_net_release(struct restore_proc *p, const struct image_task *t)
	__attribute__((warn_unused_result));

#endif
