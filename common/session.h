/*
 * session: the conversation of one live migration, between the source agent
 * (`migrate --to`, client) and migrate-dst (server, one forked session process
 * per connection). Frames and messages: common/wire.h, proto/wire.proto;
 * authentication: common/auth.h; page payloads: common/codec.h.
 *
 *   agent                                      migrate-dst session
 *   Hello{version, features, nonce_c}     ->
 *                                         <-   Challenge{nonce_s} | Abort{VERSION}
 *   AuthProof                             ->
 *                                         <-   AuthOk (server's proof) | Abort{AUTH}
 *     nothing else is accepted before AuthOk; the agent checks the server's proof too
 *   Start{inventory, pstree}              ->   PID and TIDs free? create a BLANK process
 *                                              with that PID (restore_proc_create)
 *                                         <-   StartOk | Abort{RESTORE, "pid 42 is taken by ..."}
 *   per round k = 0, 1, ... (source RUNNING):
 *     Layout{vmas, reset}                 ->   restore_proc_set_layout
 *     PageBatch*                          ->   restore_proc_write_pages
 *     RoundEnd{k}                         ->
 *                                         <-   RoundAck{k, apply_ns}   (the agent waits for it)
 *   (with inet sockets: the source's network lock, from here until the outcome)
 *   FREEZE (every thread of the source stopped):
 *     Layout (final), PageBatch* (last dirty set), RoundEnd{final}
 *     Residency{pages a full dump holds} ->   restore_proc_keep_only: drops every other page
 *                                              (memory freed at the source that no tracker saw)
 *     ImageRecord* (inventory, pstree, core, mm, files: sockets are files records, the
 *                   established connections left in repair mode at the source)
 *     Commit{move_ip}                     ->   restore_proc_finish: complete and STOPPED;
 *                                              its connections held in repair mode; their
 *                                              local addresses owned here (or, move_ip, not
 *                                              yet, and routable)
 *                                         <-   Ready{timings} | Abort{RESTORE, why}
 *     (move_ip: the source deletes the addresses)
 *     Go{move_addrs}                      ->   addresses added (IPv6 announced), connections
 *                                              out of repair mode, restore_proc_resume: it runs
 *                                         <-   Verdict{ok, timings} (then IPv4 announced)
 *   source killed (its connections close in repair mode: silently), lock removed; report
 *
 * Failure rules, "a failed migration never loses the process":
 *  - Agent: Abort, an error, or the connection lost BEFORE it sends Go: resume
 *    the source exactly as it was (moved addresses back and announced, lock
 *    removed, sockets out of repair mode, tracker stopped, threads detached) and
 *    exit 1 with the destination's reason. AFTER Go and before Verdict the
 *    outcome is unknown: keep the source STOPPED (never two copies running),
 *    say so with both PIDs and hosts, exit 3. A Verdict{ok=false} is known: the
 *    destination killed its copy, so the source is resumed as before Go.
 *  - Destination: Abort, an error, or the connection lost before Go: kill and
 *    reap the puppet (restore_proc_abort; PTRACE_O_EXITKILL covers a dying
 *    session process; its connections are in repair mode, so it dies without a
 *    packet to the peers), remove temporary state. Addresses are only added at
 *    Go: a failure at Go removes them again and answers Verdict{ok=false}. The
 *    daemon and other sessions are not affected.
 *  - Every field from the wire is validated before use (wire_frame_unpack
 *    checks ranges and sizes; the session checks pids against its own and
 *    page runs against the announced layout); a bad one gets Abort{PROTOCOL,
 *    naming the field} and the session ends.
 */
#ifndef MIGRATE_SESSION_H
#define MIGRATE_SESSION_H

/* Port of migrate-dst when HOST:PORT omits it. */
#define SESSION_DEFAULT_PORT 7070

/* Test-only fault injection in migrate-dst: the session process exits at the
 * named point ("after-round0", "final-round": once the final round's pages are
 * in, before the records; "before-ready", "before-verdict"), as a crash would,
 * so tests can prove the source survives; "after-claim" instead fails at Go
 * once the --move-ip addresses (if any) are claimed (Verdict{ok=false}: the
 * claims are undone, the source resumes). */
#define SESSION_FAULT_ENV "MIGRATE_DST_FAULT"

/* Exit status of `migrate --to` when the outcome is unknown (see above). */
#define SESSION_EXIT_UNKNOWN 3

#endif
