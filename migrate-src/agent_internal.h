/*
 * agent_internal: what the files of the agent share.
 *
 *	agent.c        agent_run(): the phases, undo, timings
 *	agent_conn.c   socket, frames, handshake
 *	agent_pages.c  Layout, page rounds, Residency
 *	agent_net.c    sockets: scan, network lock, --move-ip, rollback
 *	agent_tree.c   a process tree: members, Start's pstree entries, the check at the freeze
 */
#ifndef MIGRATE_AGENT_INTERNAL_H
#define MIGRATE_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "codec.h"
#include "dump.h"
#include "dump_internal.h"
#include "precopy.h"
#include "track.h"
#include "wire.h"

struct dump_net;
struct netlock;
struct ipmove_addr;
struct ipmove_undo;
struct sockdiag_sock;

/* The network handover of the source (agent_net.c). */
struct agent_net {
	struct dump_net *scan;	   /* the process's inet sockets (NULL before prepare) */
	struct netlock *lock;	   /* held from just before the freeze until the outcome */
	struct ipmove_addr *addrs; /* --move-ip: distinct local addresses to move */
	size_t nr_addrs;
	struct ipmove_undo *moved; /* released from this host, undo of each */
	size_t nr_moved;
	WireMoveAddr *wire; /* Go's copy of moved */
	WireMoveAddr **wire_ptrs;
};

/* A file lock the frozen source dropped for the destination (agent_locks.c); points into
 * the tree's FdEntry records, which outlive it. */
struct agent_lock_drop {
	pid_t pid;
	const FdEntry *fd;
	const FileLockEntry *lock;
};

struct agent_locks {
	struct agent_lock_drop *dropped;
	size_t nr_dropped;
};

/*
 * One process of the migrated tree (members[i] is tree.procs[i] as announced in Start).
 *
 * The membership is fixed at Start: the destination forks each child from its parent's puppet
 * while that one is still bare (restore_tree.c), the only way to give it its parent and its
 * pid, so a process that appears later could not be made there any more (its parent holds
 * pre-copied memory by then, which the fork would hand down). The freeze therefore rescans the
 * tree and refuses, resuming everyone, a tree that changed since Start (-EAGAIN: retry).
 */
struct agent_member {
	pid_t pid;
	bool zombie;
	struct track *track;	     /* NULL for a zombie, without pre-copy, or stopped */
	struct track_ranges pending; /* dirty set collected last, still to send */
	struct track_ranges only;    /* frozen: the final pages to send (unless all) */
	struct track_ranges res;     /* frozen: the residency */
	bool all;		     /* frozen: every page goes */
};

struct agent {
	const struct agent_opts *opts;
	struct agent_report *rep;
	struct dump_opts dopts;
	struct dump_tree tree; /* procs[0] is the process named on the command line */
	struct agent_member *members;
	size_t nr_members;
	pid_t cur_pid; /* the process agent_pages.c reads and names in frames */
	bool seized;  /* threads of the tree may be seized */
	bool frozen;  /* in the freeze window */
	bool go_sent; /* no way back: never resume the source after this */
	bool tree_changed; /* the freeze found another tree than Start's (agent_tree_same) */
	struct agent_conn conn;
	struct codec_batch batch;
	uint32_t round;
	struct agent_round_stats cur; /* the round being sent */
	uint64_t round_bytes0;	      /* conn.bytes_sent when it began */
	struct precopy_round *history;
	size_t nr_history;
	struct dump_mm_snapshot snapshot; /* maps and smaps just before the freeze */
	struct agent_net net;
	bool verdict_failed; /* a Verdict{ok=false}: the process never ran there */
	struct agent_locks locks; /* --file-locks: dropped in the freeze window */
};

/* A SIGINT or SIGTERM arrived. */
bool agent_cancelled(void);

int agent_pages_flush(struct agent *a) AGENT_WUR;
/* Pages a dump holds in vmas (only: inside these ranges) to the wire. */
int agent_pages_send(struct agent *a, VmaEntry *const *vmas, size_t n,
		     const struct track_ranges *only) AGENT_WUR;
int agent_layout_send(struct agent *a, VmaEntry **vmas, size_t n) AGENT_WUR;
int agent_layout_read(struct agent *a, bool tracked, VmaEntry ***ret, size_t *ret_n) AGENT_WUR;
bool agent_raced(int r);
/* *ret: the pages a full dump holds now; *ret_written (may be NULL): those of
 * them written since the uffd-wp tracker's last collect (all of them where it
 * does not watch), from the same PAGEMAP_SCAN walk. */
int agent_residency_build(pid_t pid, VmaEntry *const *vmas, size_t n, struct track_ranges *ret,
			  struct track_ranges *ret_written) AGENT_WUR;
int agent_residency_send(struct agent *a, const struct track_ranges *res) AGENT_WUR;
/* agent_net.c (the sequence is at its top) */
bool agent_net_local_addr(const struct sockdiag_sock *s, struct ipmove_addr *ret);
int agent_net_prepare(struct agent *a) AGENT_WUR;
int agent_net_check_peer(struct agent *a) AGENT_WUR;
/* Just before the lock: the tree's sockets listed again (connections accepted meanwhile). */
int agent_net_rescan(struct agent *a) AGENT_WUR;
int agent_net_lock(struct agent *a) AGENT_WUR;
void agent_net_unlock(struct agent *a);
/* --move-ip: addresses off this host; Go's list in a->net.wire_ptrs. */
int agent_net_release_ips(struct agent *a) AGENT_WUR;
void agent_net_rollback(struct agent *a);
void agent_net_commit(struct agent *a);
void agent_net_fini(struct agent *a);

int agent_untracked_ranges(VmaEntry *const *vmas, size_t n, struct track_ranges *ret) AGENT_WUR;

/* agent_tree.c: the processes of the tree (members, Start's pstree entries, checks) */
static inline struct dump_proc *agent_root(struct agent *a)
{
	return &a->tree.procs[0];
}
/* Members from the checked tree, and what a tree cannot take along (refused by name). */
int agent_tree_prepare(struct agent *a) AGENT_WUR;
/* Start's pstree entries of the processes other than the root (*ret: n of them, each with
 * its thread list from /proc); agent_tree_start_free frees them. */
int agent_tree_start_entries(struct agent *a, PstreeEntry ***ret, size_t *ret_n) AGENT_WUR;
void agent_tree_start_free(PstreeEntry **ps, size_t n);
/* Frozen tree against the members of Start: -EAGAIN naming the change. */
int agent_tree_same(struct agent *a) AGENT_WUR;
/* A failure r (before Go) that a member's exit explains: -EAGAIN saying so, tree_changed set;
 * else r. */
int agent_tree_explain(struct agent *a, int r) AGENT_WUR;
/* pid exited (a zombie now, or reaped) since the tree was scanned. */
bool agent_tree_gone(pid_t pid);
/* The member of pid, or NULL. */
struct agent_member *agent_tree_member(struct agent *a, pid_t pid);
void agent_tree_fini(struct agent *a);

/* agent_locks.c: file locks handed over (the sequence is at its top) */
int agent_locks_drop(struct agent *a) AGENT_WUR;
void agent_locks_retake(struct agent *a);
void agent_locks_fini(struct agent *a);

#endif
