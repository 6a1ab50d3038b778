/*
 * session_fsm: which frame may come when (see the diagram in dst_session.h). Pure: no I/O,
 * so that the order of the conversation is tested on its own.
 */
#include "dst_session.h"

#include "wire.h"

static const char *const session_state_names[] = {
	[SESSION_HELLO] = "waiting for Hello",
	[SESSION_PROOF] = "waiting for AuthProof",
	[SESSION_START] = "waiting for Start",
	[SESSION_LAYOUT] = "waiting for a round's Layout",
	[SESSION_PAGES] = "receiving a round's pages",
	[SESSION_RESIDENCY] = "waiting for Residency",
	[SESSION_RECORDS] = "receiving image records",
	[SESSION_GO] = "waiting for Go",
	[SESSION_DONE] = "done",
};

const char *session_state_name(enum session_state s)
{
	if ((unsigned int)s < sizeof(session_state_names) / sizeof(session_state_names[0]))
		return session_state_names[s];
	return "unknown";
}

/* The one frame type that moves each state on (PAGES and RECORDS have two). */
static unsigned int session_fsm_expected(enum session_state s)
{
	switch (s) {
	case SESSION_HELLO:
		return WIRE_HELLO;
	case SESSION_PROOF:
		return WIRE_AUTH_PROOF;
	case SESSION_START:
		return WIRE_START;
	case SESSION_LAYOUT:
		return WIRE_LAYOUT;
	case SESSION_PAGES:
		return WIRE_ROUND_END;
	case SESSION_RESIDENCY:
		return WIRE_RESIDENCY;
	case SESSION_RECORDS:
		return WIRE_COMMIT;
	case SESSION_GO:
		return WIRE_GO;
	case SESSION_DONE:
		break;
	}
	return 0;
}

bool session_fsm_allowed(enum session_state s, unsigned int type)
{
	if (type == WIRE_ABORT)
		return true;
	if (s == SESSION_PAGES && type == WIRE_PAGE_BATCH)
		return true;
	/* A tree: each process's Layout and pages in a round, each one's Residency. */
	if (s == SESSION_PAGES && type == WIRE_LAYOUT)
		return true;
	if (s == SESSION_RECORDS && (type == WIRE_IMAGE_RECORD || type == WIRE_RESIDENCY))
		return true;
	return type != 0 && type == session_fsm_expected(s);
}

enum session_state session_fsm_next(enum session_state s, unsigned int type, bool final)
{
	if (type == WIRE_ABORT || !session_fsm_allowed(s, type))
		return SESSION_DONE;
	switch (s) {
	case SESSION_PAGES:
		if (type == WIRE_PAGE_BATCH || type == WIRE_LAYOUT)
			return s;
		return final ? SESSION_RESIDENCY : SESSION_LAYOUT;
	case SESSION_RECORDS:
		return type == WIRE_IMAGE_RECORD || type == WIRE_RESIDENCY ? s : SESSION_GO;
	case SESSION_GO:
		return SESSION_DONE;
	default:
		return s + 1;
	}
}

bool session_fsm_authenticated(enum session_state s)
{
	return s >= SESSION_START;
}

/* A Layout of 65530 VMAs (vm.max_map_count) with paths is a few MiB; a Residency of every
 * other page of 8 GiB about 12 MiB; a core record grows with threads (xstate, ~3 KiB each).
 * protobuf-c's unpacked form is several times the packed one: these bound it. */
uint32_t session_fsm_max_payload(unsigned int type)
{
	switch (type) {
	case WIRE_HELLO:
	case WIRE_AUTH_PROOF:
	case WIRE_ABORT:
	case WIRE_ROUND_END:
	case WIRE_COMMIT:
	case WIRE_GO:
		return 64U << 10;
	case WIRE_START:
		return 4U << 20;
	case WIRE_LAYOUT:
		return 16U << 20;
	case WIRE_RESIDENCY:
		return 32U << 20;
	case WIRE_PAGE_BATCH:
	case WIRE_IMAGE_RECORD:
		return WIRE_MAX_PAYLOAD;
	default:
		return 0;
	}
}
