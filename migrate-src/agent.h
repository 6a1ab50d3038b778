/*
 * agent: the source side of a live migration, `migrate --to HOST:PORT PID`.
 *
 * The conversation and its failure rules are those of common/session.h:
 *
 *	checks (nothing touched; sockets: dump_net_scan refusals, --move-ip addresses ours)
 *	-> connect, Hello/Challenge/AuthProof/AuthOk (sockets need the NET feature)
 *	-> Start{inventory, pstree} <- StartOk
 *	-> seize, start the dirty tracker, detach: the process runs
 *	-> round 0: Layout, every page a dump holds, RoundEnd <- RoundAck
 *	-> rounds k: collect, precopy_decide(), Layout, dirty pages, RoundEnd <- RoundAck
 *	-> network lock (sockets only: the window starts here)
 *	-> FREEZE: interrupt all threads, core and files (sockets in repair mode),
 *	   final collect, tracker stopped, final Layout, last pages, RoundEnd{final},
 *	   Residency, ImageRecords, Commit{move_ip} <- Ready
 *	-> --move-ip: addresses deleted here; Go{move_addrs} <- Verdict
 *	-> optional local image directory of the still-frozen source
 *	-> kill the source (or leave it stopped), then the lock goes (agent_net.c)
 *
 * A process with descendants takes its whole tree (agent_tree.c): Start lists every member,
 * each gets its own tracker and a Layout and pages per round, the freeze seizes them all and
 * sends each one's state; a tree that changed meanwhile is resumed and tried again.
 *
 * Before Go, any failure, Abort or lost connection resumes the source as it
 * was (addresses back, lock gone, sockets out of repair mode, tracker stopped,
 * threads detached), and so does a Verdict{ok=false}; after Go without a
 * Verdict the outcome is unknown and the source stays stopped.
 *
 * I/O: blocking writes and reads on one TCP socket, from one thread. The
 * agent has exactly one peer and one thing to do at a time (read pages, send
 * them, wait for an acknowledgement), so an event loop would add callbacks
 * without overlapping anything; blocking calls also keep the freeze window's
 * order of events obvious. SIGINT/SIGTERM interrupt them (no SA_RESTART).
 */
#ifndef MIGRATE_AGENT_H
#define MIGRATE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "track.h"

#define AGENT_WUR __attribute__((warn_unused_result))

struct agent_progress {
	unsigned int round;
	uint64_t pages;	      /* pages handed to the wire this round so far */
	uint64_t bytes;	      /* bytes on the wire this round so far */
	uint64_t total_pages; /* pages this round will send (estimate) */
};

struct agent_opts {
	pid_t pid;
	const char *host;
	const char *port; /* decimal */
	const char *psk_file;
	uint64_t max_downtime_ms;
	unsigned int max_rounds; /* 0: stop-and-copy */
	bool tracker_auto;
	enum track_kind tracker; /* when !tracker_auto */
	bool leave_stopped;
	const char *images_dir; /* NULL: no local copy */
	bool tcp_established;	/* --tcp-established: established connections may move */
	bool move_ip;		/* --move-ip: the sockets' local addresses move with them */
	/* Called after every page batch while the process runs (may be NULL). */
	void (*progress_cb)(void *arg, const struct agent_progress *p);
	void *progress_arg;
};

struct agent_round_stats {
	unsigned int round;
	bool final;
	uint64_t dirty_pages; /* collected dirty set (round 0: pages a dump holds) */
	uint64_t pages;	      /* pages sent, holes included */
	uint64_t zero_pages;  /* of which holes */
	uint64_t bytes;	      /* bytes on the wire: frames of the round */
	uint64_t duration_ns;
	uint64_t apply_ns; /* destination's RoundAck.apply_ns */
};

enum agent_outcome {
	AGENT_OK,      /* runs at the destination; source killed or left stopped */
	AGENT_RESUMED, /* failed before Go: the source runs on as before */
	AGENT_UNKNOWN, /* Go sent, no Verdict: the source is kept stopped */
	AGENT_REFUSED, /* failed before touching the process */
};

struct agent_report {
	enum agent_outcome outcome;
	char message[1024]; /* why it failed, for the user */
	pid_t pid;	    /* the source process */
	unsigned int processes; /* in its tree, itself and zombies included (1: no children) */
	char peer[300];	    /* "HOST:PORT" of the destination */
	enum track_kind tracker;
	char tracker_why[512];		  /* why this tracker (and not a better one) */
	struct agent_round_stats *rounds; /* malloc'd; agent_report_fini */
	size_t nr_rounds;
	const char *converge_reason; /* precopy_reason_name() of the freeze decision */
	uint64_t predicted_ns;	     /* predicted freeze window at that decision */
	/* freeze window parts measured at the source */
	uint64_t window_ns;	/* first interrupt to Verdict */
	uint64_t freeze_ns;	/* interrupting the threads */
	uint64_t state_ns;	/* core, files, mm collect */
	uint64_t last_pages_ns; /* final collect, read and send, up to Commit */
	uint64_t restore_ns;	/* Commit to Ready */
	uint64_t resume_ns;	/* Go to Verdict */
	/* as the destination measured them (Ready, Verdict) */
	uint64_t dst_layout_ns, dst_pages_ns, dst_finish_ns, dst_resume_ns;
	uint32_t dst_pid;
	/* network handover: the source's part (inside freeze_ns..last_pages_ns, see README) */
	unsigned int sockets, established; /* inet sockets of the process, established of them */
	unsigned int ips_moved;		   /* --move-ip: addresses now at the destination */
	uint64_t lock_ns;		   /* network lock taken (the window starts with it) */
	uint64_t sock_dump_ns;		   /* sockets read (in state_ns); 0: not measured */
	uint64_t ip_release_ns;		   /* --move-ip: addresses removed (Ready to Go) */
	uint64_t unlock_ns;		   /* lock removed, after the outcome */
	/* ... and the destination's (Ready, Verdict) */
	unsigned int dst_sockets;
	uint64_t dst_sock_restore_ns; /* part of dst_finish_ns, 0: not measured */
	uint64_t dst_net_check_ns;    /* addresses owned here (or claimable, --move-ip) */
	uint64_t dst_ip_claim_ns;     /* --move-ip: addresses added and announced, at Go */
	uint64_t dst_sock_resume_ns;  /* connections out of repair mode, at Go */
	uint64_t total_ns;
	uint64_t total_bytes; /* everything sent on the wire */
	uint64_t rss_bytes;   /* pages a dump holds at the freeze, in bytes */
	bool images_written;
};

/* Runs the whole migration, fills *rep (also on failure). 0 on success, else
 * -errno with rep->outcome and rep->message saying what happened to the source. A process
 * tree that gained or lost a member during pre-copy is resumed and tried again, up to 3
 * times in all (*rep is the last attempt's). */
int agent_run(const struct agent_opts *opts, struct agent_report *rep) AGENT_WUR;
void agent_report_fini(struct agent_report *rep);

/* ---- agent_report.c: the report, for people and for programs ---- */

/* "ok", "resumed", "unknown", "refused". */
const char *agent_outcome_name(enum agent_outcome outcome);
/* Dirty rate of round i in bytes per second: its dirty set over the time it
 * had to grow (the previous round's duration); 0 for round 0 or when unknown. */
double agent_report_dirty_rate(const struct agent_report *rep, size_t i);
/* The whole report as one JSON object and a newline (keys: README "Live migration"). */
void agent_report_json(FILE *f, const struct agent_report *rep);
/* The per-round table, the freeze window and its parts, the totals. */
void agent_report_text(FILE *f, const struct agent_report *rep);

/* ---- agent_conn.c: the socket, frames and the handshake ---- */

struct wire_frame;
struct codec_batch;
struct ProtobufCMessage;

struct agent_conn {
	int fd;
	uint64_t features; /* WIRE_FEATURE_* both sides have (Challenge) */
	char peer[300];	   /* "HOST:PORT" for messages */
	uint64_t bytes_sent;
	int abort_reason; /* WireAbortReason of the peer's Abort, -1 before one */
	uint8_t *rbuf;	  /* bytes read but not yet decoded */
	size_t rpos, rlen;
	void *decoder; /* struct wire_decoder, opaque here */
};

/* Connects (TCP_NODELAY: nothing waits for Nagle in the freeze window). */
int agent_conn_open(struct agent_conn *c, const char *host, const char *port) AGENT_WUR;
/* Loads the key file once to refuse a bad one before anything else (warns when
 * group or others may read it). */
int agent_conn_check_key(const char *psk_file) AGENT_WUR;
/* Hello/Challenge/AuthProof/AuthOk with the key in psk_file; -EACCES for a wrong key. */
int agent_conn_handshake(struct agent_conn *c, const char *psk_file) AGENT_WUR;
int agent_conn_send(struct agent_conn *c, int type, const struct ProtobufCMessage *msg) AGENT_WUR;
/* One page batch frame: header and data in one writev. */
int agent_conn_send_pages(struct agent_conn *c, uint32_t pid, uint32_t round,
			  const struct codec_batch *b) AGENT_WUR;
/*
 * Waits for a frame of type and unpacks it (*ret: protobuf_c_message_free_unpacked).
 * An Abort from the peer: -ECONNABORTED with its reason in err_detail();
 * another type: -EPROTO; EOF: -ECONNRESET; a signal: -EINTR.
 */
int agent_conn_expect(struct agent_conn *c, int type, struct ProtobufCMessage **ret) AGENT_WUR;
/* Best effort: tells the peer why we stop (nothing is waited for). */
void agent_conn_abort(struct agent_conn *c, int reason, const char *message);
void agent_conn_close(struct agent_conn *c);

#endif
