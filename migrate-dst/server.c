/*
 * server: the daemon's libuv loop. It only accepts, forks and reaps: each connection is
 * served by a session process of its own (dst_session.h), because every ptrace call for a
 * puppet must come from one thread, and because a crash or a failure of one migration must
 * not touch the daemon or the other migrations. The daemon never reads a byte of a
 * migration stream itself, except to refuse a connection over --max-sessions (Abort{BUSY}).
 *
 *	listener ---connection---> fork: child session_run(fd) -> _exit(status)
 *	                                 parent closes its copy, records (pid, id, peer)
 *	SIGCHLD  ---> reap every ended session, log its outcome
 *	SIGTERM/SIGINT ---> close the listener, SIGTERM every session (those past Go finish,
 *	                    the others abort and kill their puppets), exit 0 once all ended
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "dst_server.h"
#include "dst_session.h"
#include "err.h"
#include "log.h"
#include "session.h"
#include "wire.h"

#define SERVER_BACKLOG 16
/* How long a refused peer gets to read its Abort{BUSY} before we close. */
#define SERVER_REFUSE_MS 2000
/* The session's socket in its process: every other descriptor above 2 is closed. */
#define SERVER_SESSION_FD 3

struct server_session {
	pid_t pid;
	unsigned int id;
	char peer[80];
	uint64_t start_ns;
	char images_tmp[4096]; /* with --images-dir: where its images wait, "" otherwise */
};

struct server {
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_signal_t sig_chld, sig_term, sig_int;
	const struct server_opts *opts;
	const struct auth_psk *psk;
	struct server_session *sessions; /* opts->max_sessions of them, nr in use */
	size_t nr;
	unsigned int next_id;
	bool stopping;
};

/* A connection refused with Abort{BUSY}: written, shut down, drained, closed. */
struct server_refusal {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t write;
	uv_shutdown_t shutdown;
	uint8_t *frame;
	char buf[4096];
	int open_handles;
};

static uint64_t server_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void server_free_cb(uv_handle_t *h)
{
	free(h);
}

static void server_peer_name(uv_tcp_t *tcp, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char addr[64] = "?";
	int port = 0;

	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

			uv_ip6_name(a, addr, sizeof(addr));
			port = ntohs(a->sin6_port);
			snprintf(buf, size, "[%s]:%d", addr, port);
			return;
		}
		uv_ip4_name((const struct sockaddr_in *)&ss, addr, sizeof(addr));
		port = ntohs(((const struct sockaddr_in *)&ss)->sin_port);
	}
	snprintf(buf, size, "%s:%d", addr, port);
}

/* Session lines carry the session's tag, as the session's own lines do. */
static void server_log_tag_session(unsigned int id, const char *peer)
{
	char tag[128];

	if (!peer) {
		server_log_set_tag(NULL);
		return;
	}
	if (id)
		snprintf(tag, sizeof(tag), "s%u %s", id, peer);
	else
		snprintf(tag, sizeof(tag), "%s", peer);
	server_log_set_tag(tag);
}

/* ---- the session process ---- */

static void server_child(struct server *srv, int fd, const struct server_session *ss)
	__attribute__((noreturn));

static void server_child(struct server *srv, int fd, const struct server_session *ss)
{
	struct session_opts so = { .psk = srv->psk,
				   .images_dir = srv->opts->images_dir,
				   .images_tmp = ss->images_tmp[0] ? ss->images_tmp : NULL,
				   .peer = ss->peer,
				   .id = ss->id,
				   .move_ip_dev = srv->opts->move_ip_dev };
	char tag[128];

	/* Nothing of the parent's loop is used here: its handlers and descriptors go. Signals
	 * stay blocked (server_start_session) until session_run has its own handlers. */
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	/* Out of the daemon's process group: a Ctrl-C reaches the daemon, which decides. */
	(void)setpgid(0, 0);
	if (fd != SERVER_SESSION_FD && dup2(fd, SERVER_SESSION_FD) < 0)
		_exit(SESSION_EXIT_FAILED);
	(void)close_range(SERVER_SESSION_FD + 1, ~0U, 0);
	snprintf(tag, sizeof(tag), "s%u %s", ss->id, ss->peer);
	server_log_set_tag(tag);
	_exit(session_run(SERVER_SESSION_FD, &so));
}

/* ---- refusing over --max-sessions ---- */

static void server_refusal_closed_cb(uv_handle_t *h)
{
	struct server_refusal *c = h->data;

	if (--c->open_handles == 0) {
		free(c->frame);
		free(c);
	}
}

static void server_refusal_end(struct server_refusal *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, server_refusal_closed_cb);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, server_refusal_closed_cb);
}

static void server_refusal_timer_cb(uv_timer_t *t)
{
	server_refusal_end(t->data);
}

static void server_refusal_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct server_refusal *c = h->data;

	*buf = uv_buf_init(c->buf, sizeof(c->buf));
}

/* The peer reads the Abort and closes: only then do we, so that no RST destroys it. */
static void server_refusal_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	if (n < 0)
		server_refusal_end(s->data);
}

static void server_refusal_written_cb(uv_write_t *w, int status)
{
	struct server_refusal *c = w->data;

	if (status < 0 || uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, NULL) < 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, server_refusal_alloc_cb, server_refusal_read_cb) <
		    0)
		server_refusal_end(c);
}

/* Takes tcp (accepted, a member of a fresh struct server_refusal). */
static void server_refuse(struct server *srv, struct server_refusal *c, const char *peer)
{
	WireAbort a = WIRE_ABORT__INIT;
	uv_buf_t b;
	size_t len;
	char msg[128];

	snprintf(msg, sizeof(msg), "the destination already runs %u migrations: retry later",
		 srv->opts->max_sessions);
	a.reason = WIRE_ABORT_REASON__WIRE_ABORT_BUSY;
	a.message = msg;
	server_log_tag_session(0, peer);
	log_warn("refused: %u migrations already run (--max-sessions)", srv->opts->max_sessions);
	server_log_tag_session(0, NULL);
	uv_timer_init(&srv->loop, &c->timer);
	c->timer.data = c->tcp.data = c->write.data = c;
	c->open_handles = 2;
	uv_timer_start(&c->timer, server_refusal_timer_cb, SERVER_REFUSE_MS, 0);
	if (wire_encode_alloc(WIRE_ABORT, &a.base, &c->frame, &len) < 0) {
		server_refusal_end(c);
		return;
	}
	b = uv_buf_init((char *)c->frame, (unsigned int)len);
	if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, server_refusal_written_cb) < 0)
		server_refusal_end(c);
}

/* ---- accepting ---- */

static void server_start_session(struct server *srv, uv_tcp_t *tcp, const char *peer)
{
	struct server_session *ss = &srv->sessions[srv->nr];
	unsigned int id = ++srv->next_id;
	sigset_t all, old;
	uv_os_fd_t fd;
	pid_t pid;

	if (uv_fileno((uv_handle_t *)tcp, &fd) < 0) {
		log_error("%s: cannot get the connection's descriptor", peer);
		return;
	}
	/* Filled before the fork: the child reads it too. */
	*ss = (struct server_session){ .id = id, .start_ns = server_now_ns() };
	snprintf(ss->peer, sizeof(ss->peer), "%s", peer);
	if (srv->opts->images_dir)
		snprintf(ss->images_tmp, sizeof(ss->images_tmp), "%s/.partial-%d-s%u",
			 srv->opts->images_dir, (int)getpid(), id);
	/* A SIGTERM must not reach the child while it still has libuv's handler, which would
	 * write into the parent's signal pipe and leave the child running. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		server_child(srv, fd, ss);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		log_error("s%u %s: cannot fork a session process: %s", id, peer, strerror(errno));
		return;
	}
	ss->pid = pid;
	srv->nr++;
	log_info("s%u %s: connection accepted (%zu of %u sessions)", id, peer, srv->nr,
		 srv->opts->max_sessions);
	log_debug("s%u %s: session process %d", id, peer, (int)pid);
}

static void server_connection_cb(uv_stream_t *listener, int status)
{
	struct server *srv = listener->data;
	struct server_refusal *c;
	char peer[80];

	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || uv_tcp_init(&srv->loop, &c->tcp) < 0) {
		free(c);
		log_error("out of memory for a connection");
		return;
	}
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
		uv_close((uv_handle_t *)&c->tcp, server_free_cb);
		return;
	}
	server_peer_name(&c->tcp, peer, sizeof(peer));
	if (srv->nr >= srv->opts->max_sessions && !srv->stopping) {
		server_refuse(srv, c, peer);
		return;
	}
	if (!srv->stopping)
		server_start_session(srv, &c->tcp, peer);
	/* The session process has its own copy; ours goes (c is its first member). */
	uv_close((uv_handle_t *)&c->tcp, server_free_cb);
}

/* ---- ending ---- */

static void server_close_all(struct server *srv)
{
	uv_handle_t *h[] = { (uv_handle_t *)&srv->listener, (uv_handle_t *)&srv->sig_chld,
			     (uv_handle_t *)&srv->sig_term, (uv_handle_t *)&srv->sig_int };

	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
		if (!uv_is_closing(h[i]))
			uv_close(h[i], NULL);
}

static void server_log_outcome(const struct server_session *ss, int status)
{
	double secs = (server_now_ns() - ss->start_ns) / 1e9;

	server_log_tag_session(ss->id, ss->peer);
	if (WIFEXITED(status) && WEXITSTATUS(status) == SESSION_EXIT_OK)
		log_info("session ended after %.1f s", secs);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == SESSION_EXIT_FAULT)
		log_warn("session exited %d after %.1f s (injected fault, %s)", SESSION_EXIT_FAULT,
			 secs, SESSION_FAULT_ENV);
	else if (WIFEXITED(status))
		log_warn("session failed after %.1f s (exit %d)", secs, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_error("session process killed by signal %d (%s) after %.1f s; a process it was "
			  "building dies with it",
			  WTERMSIG(status), strsignal(WTERMSIG(status)), secs);
	server_log_tag_session(0, NULL);
}

static void server_sigchld_cb(uv_signal_t *h, int sig)
{
	struct server *srv = h->data;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < srv->nr; i++) {
			if (srv->sessions[i].pid != pid)
				continue;
			server_log_outcome(&srv->sessions[i], status);
			/* A session that crashed, or failed, leaves no half-written images. */
			if (srv->sessions[i].images_tmp[0])
				session_images_remove(srv->sessions[i].images_tmp);
			srv->sessions[i] = srv->sessions[--srv->nr];
			break;
		}
	}
	if (srv->stopping && srv->nr == 0)
		server_close_all(srv);
}

static void server_stop_cb(uv_signal_t *h, int sig)
{
	struct server *srv = h->data;

	if (!srv->stopping) {
		log_info("%s: no new migrations; %zu running told to stop", strsignal(sig),
			 srv->nr);
		srv->stopping = true;
		uv_close((uv_handle_t *)&srv->listener, NULL);
	}
	for (size_t i = 0; i < srv->nr; i++)
		(void)kill(srv->sessions[i].pid, SIGTERM);
	if (srv->nr == 0)
		server_close_all(srv);
}

/* ---- setup ---- */

static int server_listen(struct server *srv)
{
	const struct server_opts *o = srv->opts;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
			*res;
	int r;

	/* Initialised first: server_close_all closes it whatever happens below. */
	r = uv_tcp_init(&srv->loop, &srv->listener);
	if (r < 0)
		return log_error_errno(r, "cannot create the listener: %s", uv_strerror(r));
	srv->listener.data = srv;
	r = getaddrinfo(o->host[0] ? o->host : NULL, o->port, &hints, &res);
	if (r != 0) {
		log_error("cannot listen on %s:%s: %s", o->host, o->port, gai_strerror(r));
		return -EADDRNOTAVAIL;
	}
	r = uv_tcp_bind(&srv->listener, res->ai_addr, 0);
	freeaddrinfo(res);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&srv->listener, SERVER_BACKLOG, server_connection_cb);
	if (r < 0)
		return log_error_errno(r, "cannot listen on %s:%s: %s", o->host[0] ? o->host : "*",
				       o->port, uv_strerror(r));
	log_info("listening on %s:%s (at most %u migrations at once%s%s)",
		 o->host[0] ? o->host : "*", o->port, o->max_sessions,
		 o->images_dir ? ", images to " : "", o->images_dir ? o->images_dir : "");
	return 0;
}

static void server_signals(struct server *srv)
{
	uv_signal_init(&srv->loop, &srv->sig_chld);
	uv_signal_init(&srv->loop, &srv->sig_term);
	uv_signal_init(&srv->loop, &srv->sig_int);
	srv->sig_chld.data = srv->sig_term.data = srv->sig_int.data = srv;
	uv_signal_start(&srv->sig_chld, server_sigchld_cb, SIGCHLD);
	uv_signal_start(&srv->sig_term, server_stop_cb, SIGTERM);
	uv_signal_start(&srv->sig_int, server_stop_cb, SIGINT);
	signal(SIGPIPE, SIG_IGN);
}

int server_run(const struct server_opts *opts, const struct auth_psk *psk)
{
	struct server srv = { .opts = opts, .psk = psk };
	int r;

	srv.sessions = calloc(opts->max_sessions, sizeof(*srv.sessions));
	if (!srv.sessions)
		return log_error_errno(-ENOMEM, "out of memory");
	r = uv_loop_init(&srv.loop);
	if (r < 0) {
		free(srv.sessions);
		return log_error_errno(r, "cannot start the event loop");
	}
	server_signals(&srv);
	r = server_listen(&srv);
	if (r < 0)
		server_close_all(&srv);
	uv_run(&srv.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&srv.loop) < 0)
		log_debug("event loop closed with handles left, ignoring");
	free(srv.sessions);
	if (r == 0)
		log_info("stopped");
	return r;
}
