/*
 * netns: run a few calls inside another network namespace, from this thread.
 *
 * A netlink or packet socket belongs to the namespace it was created in, so
 * the modules that act on a test host or a destination namespace (sockdiag,
 * netlock, ipmove) enter it just long enough to create their socket:
 *
 *	int saved;
 *	r = netns_enter(netns_fd, &saved);   netns_fd < 0: stay where we are
 *	if (r < 0) return r;
 *	fd = socket(...);
 *	r = netns_leave(saved, fd < 0 ? -errno : 0);
 *
 * setns() affects the calling thread only.
 */
#ifndef MIGRATE_NETNS_H
#define MIGRATE_NETNS_H

/* Enters netns_fd (no-op when < 0); *ret_saved is the way back (-1 when none). */
int netns_enter(int netns_fd, int *ret_saved) __attribute__((warn_unused_result));

/* Back to the saved namespace (no-op when saved < 0); returns r, or
 * -ENOTRECOVERABLE when the way back failed (the thread is then lost). */
int netns_leave(int saved, int r) __attribute__((warn_unused_result));

#endif
