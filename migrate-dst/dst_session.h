/*
 * dst_session: one live migration at the destination, in a session process of its own
 * (forked by the daemon, server.c, for each accepted connection).
 *
 *	daemon:  fork(); in the child: session_run(fd, &opts) -> _exit(status)
 *
 * session_run holds the whole conversation of common/session.h on fd: handshake, Start,
 * rounds, freeze, Commit, Go, Verdict. Failures follow the rules there: an Abort with the
 * reason when the connection still works, the puppet killed (restore_proc_abort), exit
 * status SESSION_EXIT_FAILED; the daemon only logs it.
 *
 * The order of frames is the pure function session_fsm_*() (unit-tested):
 *
 *	HELLO --Hello--> PROOF --AuthProof--> START --Start--> LAYOUT --Layout--> PAGES
 *	PAGES --PageBatch--> PAGES
 *	PAGES --RoundEnd--> LAYOUT (the next round), or, final, RESIDENCY
 *	RESIDENCY --Residency--> RECORDS --ImageRecord--> RECORDS --Commit--> GO --Go--> DONE
 *	Abort from the peer: in any state, it ends the session
 *
 * A process tree (Start.members, session_tree.c) has a Layout and pages per process in each
 * round, and a Residency per process after the final one:
 *
 *	PAGES --Layout--> PAGES (the next process of the round)
 *	RECORDS --Residency--> RECORDS
 */
#ifndef MIGRATE_DST_SESSION_H
#define MIGRATE_DST_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"

#define SESSION_WUR __attribute__((warn_unused_result))

/* Exit statuses of a session process, for the daemon's log. */
#define SESSION_EXIT_OK 0
#define SESSION_EXIT_FAILED 1
#define SESSION_EXIT_FAULT 99 /* SESSION_FAULT_ENV asked for it */

/* Silence allowed before authentication (whole handshake) and after it (no byte received). */
#define SESSION_AUTH_TIMEOUT_MS 10000
#define SESSION_IDLE_TIMEOUT_MS 60000

struct session_opts {
	const struct auth_psk *psk;
	const char *images_dir;	 /* NULL: no image directory */
	const char *images_tmp;	 /* where they are written until the process runs, in images_dir */
	const char *peer;	 /* "ADDR:PORT" of the client, for messages */
	unsigned int id;	 /* the daemon's session number, for messages */
	const char *move_ip_dev; /* --move-ip-dev: where moved addresses go; NULL: by route */
};

/* Removes an image directory (its files, then itself); nothing if there is none. The daemon
 * calls it on opts->images_tmp when a session process ended without publishing. */
void session_images_remove(const char *path);

/* The conversation on fd (a connected TCP socket, owned: closed before returning). Returns
 * the exit status for the session process; the restored process, if any, runs on. */
int session_run(int fd, const struct session_opts *opts);

enum session_state {
	SESSION_HELLO,
	SESSION_PROOF,
	SESSION_START,
	SESSION_LAYOUT,
	SESSION_PAGES,
	SESSION_RESIDENCY,
	SESSION_RECORDS,
	SESSION_GO,
	SESSION_DONE,
};

const char *session_state_name(enum session_state s);
/* Whether a frame of type may come in state s (Abort may always come). */
bool session_fsm_allowed(enum session_state s, unsigned int type);
/* The state after an allowed frame of type in s; final: RoundEnd's flag. */
enum session_state session_fsm_next(enum session_state s, unsigned int type, bool final);
/* Largest payload accepted for a frame of type: bounds what one frame makes us allocate. */
uint32_t session_fsm_max_payload(unsigned int type);
/* True once authenticated: from START on. */
bool session_fsm_authenticated(enum session_state s);

#endif
