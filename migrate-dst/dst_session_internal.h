/*
 * dst_session_internal: what the files of a session share.
 *
 *	session.c        session_run: socket, frames, handshake, dispatch, Abort, Go/Verdict
 *	session_pages.c  Start, Layout, PageBatch (zero runs), Residency: the staged memory
 *	session_image.c  ImageRecords, Commit (the task assembled and checked), --images-dir
 *	session_fsm.c    the order of frames (pure)
 *	session_net.c    sockets held in repair mode until Go, addresses checked and claimed
 *	session_tree.c   a process tree: its members created at Start, selected by pid, completed
 *	                 at Commit, resumed at Go
 */
#ifndef MIGRATE_DST_SESSION_INTERNAL_H
#define MIGRATE_DST_SESSION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dst_session.h"
#include "image.h"
#include "restore.h"
#include "wire.h"

/* All ImageRecords of one session together (a core record is ~3 KiB a thread). */
#define SESSION_MAX_RECORD_BYTES (256ULL << 20)
#define SESSION_MAX_FDS (1U << 20)

/* A sorted set of disjoint, non-adjacent page ranges. */
struct session_ranges {
	struct restore_range *r;
	size_t n;
	size_t cap;
};

struct ipmove_addr;
struct ipmove_undo;

/* The network handover of one session (session_net.c). */
struct session_net {
	bool move_ip;	      /* Commit.move_ip */
	unsigned int sockets; /* inet sockets among the files records */
	int *held;	      /* our copies of the puppet's connections, in repair mode */
	size_t nr_held;
	struct ipmove_undo *claims; /* addresses claimed at Go, for the undo */
	size_t nr_claims;
	uint64_t restore_ns; /* the engine's re-creation of the sockets (restore_timings) */
	uint64_t check_ns, claim_ns, resume_ns;
};

/* Why a handler failed, for the Abort: the handler sets it with session_fail(). */
struct session_failure {
	int reason; /* WireAbortReason */
	int error;  /* negative errno */
	char message[1024];
};

/*
 * One process of a migrated tree (session_tree.c). The session's fields proc ... fd_cap hold
 * the member the last frame named ("loaded"); the others wait here, and
 * session_member_select() swaps them by pid, so that the handlers of one process serve every
 * member unchanged.
 */
struct session_member {
	uint32_t pid;
	bool zombie;	       /* made a zombie at Start: no frame but its pstree record */
	PstreeEntry *start_ps; /* as Start announced it (owned) */
	struct restore_proc *proc;
	WireLayout *layout;
	struct session_ranges written;
	WireResidency *residency;
	PstreeEntry *pstree;
	TaskCoreEntry *core;
	MmEntry *mm;
	FdEntry **fds;
	size_t fd_count, fd_cap;
};

struct session {
	int fd;
	const struct session_opts *opts;
	struct wire_decoder dec;
	uint8_t *rbuf;
	size_t rpos, rlen;
	enum session_state state;
	struct auth_session auth;
	bool peer_gone;	       /* EOF, reset, its own Abort or a Verdict: no Abort to send */
	uint64_t wait_from_ns; /* when the current wait for the peer began */
	struct session_failure fail;
	struct session_net net;

	uint32_t pid;	/* from Start; every pid on the wire must be this one */
	uint32_t round; /* the round being received */
	bool want_images;
	struct restore_opts ropts;
	struct restore_proc *proc;
	bool resumed;
	WireLayout *layout;	       /* the last one applied (owned) */
	struct session_ranges written; /* pages we wrote into the puppet since they read zero */
	WireResidency *residency;      /* owned */

	InventoryEntry *inv; /* the records (owned) */
	PstreeEntry *pstree;
	TaskCoreEntry *core;
	MmEntry *mm;
	FdEntry **fds;
	size_t fd_count, fd_cap;
	IpcEntry **ipc; /* System V objects, made in the puppet as they came (restore_ipc.c) */
	/* A tree (Start.members): every process, [0] the root; members[loaded] is in the
	 * fields above (its slot is stale), SIZE_MAX: none is. nr_members 0: one process. */
	struct session_member *members;
	size_t nr_members;
	size_t loaded;
	bool tree_ipc_ns; /* Start said the tree has an IPC namespace of its own: made at create */
	/* What the tree's members share, held from Commit until the outcome: a failure then
	 * removes the socket files bound for it (session_tree_outcome). */
	struct restore_tree_ctx *tree_ctx;
	size_t ipc_count;
	uint64_t record_bytes;
	bool images_written;   /* in opts->images_tmp, not yet published */
	char images_stamp[32]; /* UTC time of Commit, for the directory's name */

	/* Timings (CLOCK_MONOTONIC ns): this round's apply work, the final window's parts. */
	uint64_t round_apply_ns;
	uint64_t layout_at_ns;	 /* when this round's Layout arrived */
	uint64_t last_layout_ns; /* what applying it took */
	uint64_t final_at_ns;	 /* when the final round's Layout arrived */
	uint64_t final_layout_ns, final_pages_ns, finish_ns, resume_ns;
};

uint64_t session_now_ns(void);
/* Records why the session fails (reason: WireAbortReason); returns err (negative). */
int session_fail(struct session *s, int reason, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* session_fail(RESTORE) with the restore engine's sentence (its last error line). */
int session_fail_restore(struct session *s, int err, const char *what);
/* Exits the process with SESSION_EXIT_FAULT when SESSION_FAULT_ENV names point. */
void session_fault_point(struct session *s, const char *point);
int session_send(struct session *s, unsigned int type, const ProtobufCMessage *msg) SESSION_WUR;

/* session_pages.c */
int session_on_start(struct session *s, const WireStart *m) SESSION_WUR;
int session_on_layout(struct session *s, WireLayout *m) SESSION_WUR; /* takes m */
/* Whether mm's VMAs are layout l (restore_proc_finish needs the layout set last). */
bool session_mm_is_layout(const MmEntry *mm, const WireLayout *l);
int session_on_pages(struct session *s, const struct wire_frame *f) SESSION_WUR;
int session_on_round_end(struct session *s, const WireRoundEnd *m) SESSION_WUR;
int session_on_residency(struct session *s, WireResidency *m) SESSION_WUR; /* takes m */
void session_pages_fini(struct session *s);

int session_ranges_add(struct session_ranges *set, uint64_t start, uint64_t end) SESSION_WUR;
/* The first range of set that ends after addr (set->n if none). */
size_t session_ranges_find(const struct session_ranges *set, uint64_t addr);
void session_ranges_fini(struct session_ranges *set);
/* The VMA of the current layout holding addr, or NULL. */
const VmaEntry *session_layout_find(const WireLayout *l, uint64_t addr);

/* session_image.c */
int session_on_record(struct session *s, const WireImageRecord *m) SESSION_WUR;
int session_on_commit(struct session *s, const WireCommit *m) SESSION_WUR;
struct image_dir;
/* --images-dir: core, mm, files and the pages (read from the puppet) of the process the
 * session's fields hold. */
int session_image_proc_records(struct session *s, struct image_dir *d) SESSION_WUR;
int session_image_pages(struct session *s, struct image_dir *d) SESSION_WUR;
/* The images written at Commit get their name DIR/<pid>-<time> (once the process runs). */
void session_images_publish(struct session *s);
void session_image_fini(struct session *s);

/* session_tree.c */
/* Start's members: checked, every process of the tree created (restore_tree_create). */
int session_tree_start(struct session *s, const WireStart *m) SESSION_WUR;
/* The member of pid into the session's fields; a protocol error naming what (a frame) for a
 * pid outside the announced tree (or a zombie). One process: pid must be the session's. */
int session_member_select(struct session *s, uint32_t pid, const char *what) SESSION_WUR;
/* The pid of the process the session's fields hold now. */
uint32_t session_member_pid(const struct session *s);
/* A pstree record of a tree (routed by its own pid). Takes rec. */
int session_tree_on_pstree(struct session *s, PstreeEntry *rec) SESSION_WUR;
/* A System V record of a tree: the root loaded (it makes the objects, in the namespace it
 * unshared at Start); a protocol error when Start did not announce such a namespace. */
int session_tree_ipc_select(struct session *s) SESSION_WUR;
/* Commit of a tree: every member checked and completed (finish), the root loaded after. */
int session_tree_commit(struct session *s) SESSION_WUR;
/* --images-dir of a tree: pstree.img (every member), then each live member's records and
 * pages; the root loaded after. */
int session_tree_images(struct session *s, struct image_dir *d) SESSION_WUR;
/* At Go, before the root: every other member runs, children first. */
int session_tree_resume(struct session *s) SESSION_WUR;
/* Once the outcome is known (Go done, or the session failing): what the members shared is let
 * go; failed: the socket files bound for the tree are removed. Safe when none is held. */
void session_tree_outcome(struct session *s, bool failed);
/* At a failed Go: every member but the root killed, even one that was resumed. */
void session_tree_kill(struct session *s);
/* Every member but the root killed (unless resumed) and freed; the root stays loaded. */
void session_tree_fini(struct session *s);

/* session_net.c */
/* Inet sockets among the files records. */
unsigned int session_net_count(const struct session *s);
/* e's local address as ipmove takes it (v4-mapped IPv6 as IPv4); false for the any
 * address and loopback, which neither move nor need an owner. */
bool session_net_local_addr(const TcpSocketEntry *e, struct ipmove_addr *ret);
/* The interface this host routes a through (into ifname, IF_NAMESIZE bytes); 0 or
 * -ENETUNREACH. */
int session_net_route_dev(const struct ipmove_addr *a, char *ifname) SESSION_WUR;
/* After restore_proc_finish: a copy of each restored connection, in repair mode until Go. */
int session_net_hold(struct session *s) SESSION_WUR;
/* Before Ready: the sockets' local addresses are here (or, --move-ip, can come here). */
int session_net_check(struct session *s) SESSION_WUR;
/* At Go: claim m's addresses, then the connections leave repair mode. */
int session_net_go(struct session *s, const WireGo *m) SESSION_WUR;
/* The claimed addresses of family announced: IPv6 (unsolicited NA) at Go, IPv4 (gratuitous
 * ARP) after the Verdict; session_net.c says why. */
void session_net_announce(struct session *s, int family);
/* Before the puppet is killed: connections back in repair mode, claims undone. */
void session_net_undo(struct session *s);
void session_net_fini(struct session *s);

#endif
