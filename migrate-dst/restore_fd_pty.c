/*
 * restore_fd_pty: pseudo-terminal pairs, made anew here and handed to the puppet.
 *
 * The first fd of a pair in the image (by FdEntry.pty_index, master or slave) makes it: we
 * open /dev/ptmx, unlock it, open a slave of our own (TIOCGPTPEER) to set the termios and
 * window size and put the queued data back (pty_queue.h), then every fd of the pair in the
 * image is put at its number (puppet_install_fd): the master's description for master fds, one
 * new slave description per slave description of the dump (pty_dup_of tells the dups), each
 * with its O_NONBLOCK. Then packet mode, lock, exclusive mode, and the controlling terminal
 * (TIOCSCTTY, run by the puppet: it is the session leader by then). Later fds of the pair
 * find it done. The pair gets whatever pts number /dev/ptmx gives: README Limitations.
 * Nothing needs the source host, so pairs also travel by live migration.
 *
 * In a tree the ends of a pair may be in several processes, and the pair may be the
 * controlling terminal of a session of the tree (TtyEntry.session). Only a session leader can
 * take a controlling terminal, and the members of its session get it only by forking after
 * that, so such a pair is made when its leader is created (restore_tree.c):
 *
 *	leader: setsid → restore_fd_pty_session (PstreeEntry.pty_ctty): pair made, TIOCSCTTY →
 *	the leader forks its children
 *	each process's fds (restore_fd_pty_one): its ends of the pair, from the pair kept here;
 *	the first of them gives the pair its state if it was made blank (live migration makes
 *	the tree before any fd record comes); the leader's sets the foreground group (TIOCSPGRP)
 *	every process done → restore_fd_pty_tree_fini: our copies closed
 *
 * A pair made for a tree is kept here (one restore per process at a time: `migrate restore`,
 * a migrate-dst session) so that every process takes its ends from the same pair.
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "pty_queue.h"

/* The flags a slave description keeps from the dump. */
#define FD_PTY_KEPT_FLAGS (O_NONBLOCK | O_APPEND)

bool restore_fd_pty_is(const FdEntry *e)
{
	return e->kind == FD_KIND__FD_PTY_MASTER || e->kind == FD_KIND__FD_PTY_SLAVE;
}

int restore_fd_pty_check(const FdEntry *e)
{
	if (access("/dev/ptmx", R_OK | W_OK) < 0)
		return log_error_errno(-errno, "fd %u is a pseudo-terminal, but /dev/ptmx cannot "
				       "be opened here: %m", e->fd);
	return 0;
}

/* The pair kept for a tree: our master and our own slave (which keeps the slave's modes). */
struct fd_pty_made {
	uint32_t index;
	int master, feed;
	bool led; /* its session leader took it as controlling terminal already */
	bool filled; /* termios, window size, queued data and modes set (not a blank pair) */
};

static struct fd_pty_made *fd_pty_made;
static size_t fd_pty_nr_made;

static struct fd_pty_made *fd_pty_made_find(uint32_t index)
{
	for (size_t i = 0; i < fd_pty_nr_made; i++)
		if (fd_pty_made[i].index == index)
			return &fd_pty_made[i];
	return NULL;
}

/* An fd of p restored by this file: not a copy of a description an earlier process holds. */
static bool fd_pty_own(const struct restore_proc *p, const FdEntry *f)
{
	return restore_fd_pty_is(f) && !restore_tree_fd_is_copy(p, f);
}

/* The pair of e made for an earlier fd of the image. */
static bool fd_pty_done(const struct restore_proc *p, const FdEntry *e)
{
	const struct image_task *t = p->img;

	for (size_t i = 0; i < t->fd_count && t->fds[i] != e; i++)
		if (fd_pty_own(p, t->fds[i]) && t->fds[i]->pty_index == e->pty_index)
			return true;
	return false;
}

static const FdEntry *fd_pty_master_in(const struct image_task *t, uint32_t index)
{
	for (size_t i = 0; t->fds && i < t->fd_count; i++)
		if (t->fds[i]->kind == FD_KIND__FD_PTY_MASTER && t->fds[i]->pty_index == index &&
		    t->fds[i]->pty)
			return t->fds[i];
	return NULL;
}

/* The master fd with the state of pair index: in the process, else anywhere in its tree. */
static const FdEntry *fd_pty_master(const struct restore_proc *p, uint32_t index)
{
	const FdEntry *m = fd_pty_master_in(p->img, index);

	for (size_t i = 0; !m && p->tree && i < p->tree->set->task_count; i++)
		if (!restore_tree_is_zombie(&p->tree->set->tasks[i]))
			m = fd_pty_master_in(&p->tree->set->tasks[i], index);
	return m;
}

static void fd_pty_termios(const TtyEntry *tty, struct termios *t)
{
	memset(t, 0, sizeof(*t));
	t->c_iflag = tty->iflag;
	t->c_oflag = tty->oflag;
	t->c_cflag = tty->cflag;
	t->c_lflag = tty->lflag;
	memcpy(t->c_cc, tty->cc.data, tty->cc.len < NCCS ? tty->cc.len : NCCS);
	(void)cfsetispeed(t, tty->ispeed);
	(void)cfsetospeed(t, tty->ospeed);
}

/* termios, window size and queued data of tty into the new pair (master, feed). */
static int fd_pty_fill(int master, int feed, const TtyEntry *tty)
{
	struct winsize ws = { .ws_row = (unsigned short)tty->rows,
			      .ws_col = (unsigned short)tty->cols,
			      .ws_xpixel = (unsigned short)tty->xpixel,
			      .ws_ypixel = (unsigned short)tty->ypixel };
	struct pty_queue q = { .to_master = tty->to_master.data,
			       .to_master_len = tty->has_to_master ? tty->to_master.len : 0,
			       .to_slave = tty->to_slave.data,
			       .to_slave_len = tty->has_to_slave ? tty->to_slave.len : 0 };
	struct termios t;

	fd_pty_termios(tty, &t);
	if (ioctl(feed, TIOCSWINSZ, &ws) < 0)
		return -errno;
	return pty_queue_put(master, feed, &t, &q);
}

/* Puts desc at fd f of the puppet and at every later fd of the image that dups f. */
static int fd_pty_install(struct restore_proc *p, struct puppet *pp, int desc, const FdEntry *f)
{
	const struct image_task *t = p->img;
	int r;

	if (fcntl(desc, F_SETFL, f->flags & FD_PTY_KEPT_FLAGS) < 0)
		return log_error_errno(-errno, "pid %d: fd %u (%s): cannot set its flags: %m",
				       p->pid, f->fd, f->path);
	for (size_t i = 0; i < t->fd_count; i++) {
		const FdEntry *g = t->fds[i];

		if (g != f && (g->kind != f->kind || g->pty_index != f->pty_index ||
			       !g->has_pty_dup_of || g->pty_dup_of != f->fd || !fd_pty_own(p, g)))
			continue;
		r = puppet_install_fd(pp, desc, (int)g->fd, g->cloexec);
		if (r < 0)
			return log_error_errno(r, "pid %d: cannot put pseudo-terminal %s at fd "
					       "%u: %s", p->pid, g->path, g->fd, err_detail());
	}
	return 0;
}

/* A new slave description of our master, the lock lifted meanwhile if it is locked. */
static int fd_pty_peer(int master, int flags)
{
	int locked = 0, off = 0, on = 1, slave, r;

	if (ioctl(master, TIOCGPTLCK, &locked) < 0)
		return -errno;
	if (locked && ioctl(master, TIOCSPTLCK, &off) < 0)
		return -errno;
	slave = ioctl(master, TIOCGPTPEER, flags | O_NOCTTY | O_CLOEXEC);
	r = slave < 0 ? -errno : slave;
	if (locked && ioctl(master, TIOCSPTLCK, &on) < 0 && slave >= 0) {
		close(slave);
		r = -errno;
	}
	return r;
}

/* Every fd of pair index at its number: the master description, and a new slave description
 * for each slave description of the dump; not those that are copies of an earlier process's. */
static int fd_pty_install_all(struct restore_proc *p, struct puppet *pp, int master,
			      uint32_t index)
{
	const struct image_task *t = p->img;
	int r = 0;

	for (size_t i = 0; r == 0 && i < t->fd_count; i++) {
		const FdEntry *f = t->fds[i];
		int slave;

		if (!fd_pty_own(p, f) || f->pty_index != index || f->has_pty_dup_of)
			continue;
		if (f->kind == FD_KIND__FD_PTY_MASTER) {
			r = fd_pty_install(p, pp, master, f);
			continue;
		}
		slave = fd_pty_peer(master, (int)(f->flags & O_ACCMODE));
		errno = -slave;
		if (slave < 0)
			return log_error_errno(-errno, "pid %d: fd %u: cannot open the slave of "
					       "the new pseudo-terminal: %m", p->pid, f->fd);
		r = fd_pty_install(p, pp, slave, f);
		close(slave);
	}
	return r;
}

/* The first slave fd of pair index becomes the puppet's controlling terminal. */
static int fd_pty_ctty(struct restore_proc *p, struct puppet *pp, uint32_t index)
{
	const struct image_task *t = p->img;

	if (p->use_tty || p->sid != p->pid)
		return log_error_errno(-EPERM, "pid %d: its pseudo-terminal (/dev/pts/%u at the "
				       "dump) was its controlling terminal, but it is not a "
				       "session leader here: restore it without --shell-job",
				       p->pid, index);
	for (size_t i = 0; i < t->fd_count; i++)
		if (t->fds[i]->kind == FD_KIND__FD_PTY_SLAVE && t->fds[i]->pty_index == index)
			return restore_call(pp, "ioctl(TIOCSCTTY)", NULL, SYS_ioctl, t->fds[i]->fd,
					    TIOCSCTTY, 0, 0, 0, 0);
	return log_error_errno(-EINVAL, "pid %d: pseudo-terminal %u: a controlling terminal "
			       "without a slave fd", p->pid, index);
}

/* The modes set last: the lock would stop our slave opens, exclusive mode is the slave's. */
static int fd_pty_modes(int master, int feed, const TtyEntry *tty)
{
	int on = 1;

	if (tty->packet && ioctl(master, TIOCPKT, &on) < 0)
		return -errno;
	if (tty->exclusive && ioctl(feed, TIOCEXCL) < 0)
		return -errno;
	if (tty->locked && ioctl(master, TIOCSPTLCK, &on) < 0)
		return -errno;
	return 0;
}

/* Our master, unlocked, and our own slave of it (feed). */
static int fd_pty_open(int *ret_master, int *ret_feed)
{
	int unlock = 0, master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), feed;

	if (master < 0)
		return -errno;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0) {
		close(master);
		return -errno;
	}
	feed = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (feed < 0) {
		close(master);
		return -errno;
	}
	*ret_master = master;
	*ret_feed = feed;
	return 0;
}

/* A new pair with tty's state and modes: our master and our own slave of it. */
static int fd_pty_make(const TtyEntry *tty, int *ret_master, int *ret_feed)
{
	int master = -1, feed = -1, r = fd_pty_open(&master, &feed);

	if (r < 0)
		return r;
	r = fd_pty_fill(master, feed, tty);
	if (r == 0)
		r = fd_pty_modes(master, feed, tty);
	if (r < 0) {
		close(feed);
		close(master);
		return r;
	}
	*ret_master = master;
	*ret_feed = feed;
	return 0;
}

/* Pair index kept for the tree, made if it is not: with tty's state (NULL: blank, its state
 * comes with its first fd, fd_pty_state). */
static int fd_pty_keep(uint32_t index, const TtyEntry *tty, struct fd_pty_made **ret)
{
	struct fd_pty_made *v, *made = fd_pty_made_find(index);
	int r;

	if (!made) {
		v = realloc(fd_pty_made, (fd_pty_nr_made + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		fd_pty_made = v;
		made = &v[fd_pty_nr_made];
		*made = (struct fd_pty_made){ .index = index, .filled = tty != NULL };
		r = tty ? fd_pty_make(tty, &made->master, &made->feed)
			: fd_pty_open(&made->master, &made->feed);
		if (r < 0)
			return r;
		fd_pty_nr_made++;
	}
	*ret = made;
	return 0;
}

/* A blank pair kept for the tree gets tty's state. */
static int fd_pty_state(struct fd_pty_made *made, const TtyEntry *tty)
{
	int r = 0;

	if (!made->filled)
		r = fd_pty_fill(made->master, made->feed, tty);
	if (!made->filled && r == 0)
		r = fd_pty_modes(made->master, made->feed, tty);
	if (r == 0)
		made->filled = true;
	return r;
}

/* Runs ioctl(at, request, arg) in p's puppet with a new slave of made at fd at (a number free
 * there, closed again after). arg_value, when not NULL, is pushed and passed by address. */
static int fd_pty_remote_ioctl(struct restore_proc *p, const struct fd_pty_made *made, int at,
			       const char *what, unsigned long request, const pid_t *arg_value)
{
	struct puppet *pp = &p->puppets[0];
	uint64_t arg = 0;
	int slave = fd_pty_peer(made->master, O_RDWR), r;

	if (slave < 0)
		return slave;
	r = puppet_install_fd(pp, slave, at, true);
	close(slave);
	if (r < 0)
		return r;
	puppet_push_reset(pp);
	if (arg_value)
		r = puppet_push(pp, arg_value, sizeof(*arg_value), &arg);
	if (r == 0)
		r = restore_call(pp, what, NULL, SYS_ioctl, (uint64_t)at, request, arg, 0, 0, 0);
	if (restore_call(pp, "close", NULL, SYS_close, (uint64_t)at, 0, 0, 0, 0, 0) < 0 && r == 0)
		r = -EIO;
	return r;
}

/* The session leader p takes the pair as its controlling terminal (at: a free fd number). */
static int fd_pty_lead(struct restore_proc *p, struct fd_pty_made *made, int at)
{
	int r = fd_pty_remote_ioctl(p, made, at, "ioctl(TIOCSCTTY)", TIOCSCTTY, NULL);

	if (r < 0)
		return log_error_errno(r, "pid %d: cannot make its pseudo-terminal (/dev/pts/%u at "
				       "the dump) its controlling terminal: %s", p->pid,
				       made->index, strerror(-r));
	made->led = true;
	return 0;
}

/* A number above every fd of p's image: free in the puppet while its fds are restored. */
static int fd_pty_spare_fd(const struct restore_proc *p)
{
	uint32_t top = 0;

	for (size_t i = 0; i < p->img->fd_count; i++)
		if (p->img->fds[i]->fd >= top)
			top = p->img->fds[i]->fd + 1;
	return (int)top;
}

/* In the session leader p, once every group exists (its fds are restored after the tree is
 * made): the controlling terminal if the tree did not give it already (an image without
 * PstreeEntry.pty_ctty), then the foreground group. */
static int fd_pty_session_fds(struct restore_proc *p, struct fd_pty_made *made,
			      const TtyEntry *tty)
{
	pid_t fg = tty->has_fg_pgrp ? (pid_t)tty->fg_pgrp : 0;
	int at = fd_pty_spare_fd(p), r = 0;

	if (!made->led)
		r = fd_pty_lead(p, made, at);
	if (r == 0 && fg > 0 && fg != p->pgid)
		r = fd_pty_remote_ioctl(p, made, at, "ioctl(TIOCSPGRP)", TIOCSPGRP, &fg);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot give the foreground of its pseudo-"
				       "terminal (/dev/pts/%u at the dump) to group %d: %s", p->pid,
				       made->index, (int)fg, strerror(-r));
	return 0;
}

/* The pair of e's fds in p (m: its master fd with the state, anywhere in the tree): kept for
 * the tree when there is one (made already, maybe), else made for p alone. */
static int fd_pty_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e,
		      const FdEntry *m)
{
	struct fd_pty_made *made = fd_pty_made_find(e->pty_index), alone = { e->pty_index, -1, -1 };
	const TtyEntry *tty = m->pty;
	int r = 0;

	if (made)
		r = fd_pty_state(made, tty);
	else if (p->tree)
		r = fd_pty_keep(e->pty_index, tty, &made);
	else
		r = fd_pty_make(tty, &alone.master, &alone.feed);
	if (r < 0)
		return log_error_errno(r, "pid %d: fd %u: cannot make a pseudo-terminal (termios, "
				       "window size, modes, %zu + %zu queued bytes): %s", p->pid,
				       e->fd, tty->to_master.len, tty->to_slave.len, strerror(-r));
	if (!made)
		made = &alone;
	r = fd_pty_install_all(p, pp, made->master, e->pty_index);
	if (r == 0 && tty->ctty && !tty->has_session && m == fd_pty_master_in(p->img, m->pty_index))
		r = fd_pty_ctty(p, pp, e->pty_index);
	if (r == 0 && tty->has_session && tty->session == (uint32_t)p->pid)
		r = fd_pty_session_fds(p, made, tty);
	if (made == &alone) {
		close(alone.feed);
		close(alone.master);
	}
	return r;
}

int restore_fd_pty_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	const FdEntry *m = fd_pty_master(p, e->pty_index);
	int r;

	if (fd_pty_done(p, e))
		return 0;
	if (!m)
		return log_error_errno(-EINVAL, "pid %d: fd %u: pseudo-terminal %u has no master "
				       "with its state in the image", p->pid, e->fd, e->pty_index);
	r = fd_pty_one(p, pp, e, m);
	if (r == 0)
		log_debug("pid %d: pseudo-terminal %u (fd %u) restored", p->pid, e->pty_index,
			  e->fd);
	return r;
}

/* ---- a tree: the controlling terminals of its sessions ---- */

/* The pair index whose master fd with the state is in set, or NULL (live migration: the
 * tree is made before any fd record has come). */
static const TtyEntry *fd_pty_state_in(const struct image_set *set, uint32_t index)
{
	for (size_t i = 0; i < set->task_count; i++) {
		const FdEntry *m = set->tasks[i].fds && !restore_tree_is_zombie(&set->tasks[i]) ?
					   fd_pty_master_in(&set->tasks[i], index) :
					   NULL;

		if (m)
			return m->pty;
	}
	return NULL;
}

/* The live process pid of set, or NULL. */
static const struct image_task *fd_pty_task(const struct image_set *set, uint32_t pid)
{
	for (size_t i = 0; i < set->task_count; i++)
		if (set->tasks[i].pstree->pid == pid && !restore_tree_is_zombie(&set->tasks[i]))
			return &set->tasks[i];
	return NULL;
}

/* The session and foreground group of m's pair: a live leader of the tree, not one that stays
 * in our session (--shell-job); a group of that session. */
static int fd_pty_check_session(const struct image_set *set, const struct restore_opts *opts,
				const FdEntry *m)
{
	const TtyEntry *tty = m->pty;
	const struct image_task *leader = fd_pty_task(set, tty->session);

	if (!leader || leader->pstree->sid != tty->session)
		return log_error_errno(-EINVAL, "pseudo-terminal %u: the controlling terminal of "
				       "session %u, which no live process of the image leads: the "
				       "image is damaged", m->pty_index, tty->session);
	if (opts->shell_job && leader == &set->tasks[0])
		return log_error_errno(-ENOTSUP, "pid %u led its own session with pseudo-terminal "
				       "/dev/pts/%u (at the dump) as its terminal: it cannot stay in "
				       "our session: restore it without --shell-job", tty->session,
				       m->pty_index);
	for (size_t i = 0; tty->has_fg_pgrp && i < set->task_count; i++)
		if (set->tasks[i].pstree->pgid == tty->fg_pgrp &&
		    set->tasks[i].pstree->sid == tty->session)
			return 0;
	if (tty->has_fg_pgrp)
		return log_error_errno(-EINVAL, "pseudo-terminal %u: its foreground group %u is not "
				       "a group of session %u in the image: the image is damaged",
				       m->pty_index, tty->fg_pgrp, tty->session);
	return 0;
}

int restore_fd_pty_tree_check(const struct image_set *set, const struct restore_opts *opts)
{
	for (size_t i = 0; i < set->task_count; i++) {
		const struct image_task *t = &set->tasks[i];
		const PstreeEntry *ps = t->pstree;

		/* Records there (not a live migration's Start): the leader's pair must be in them. */
		if (t->fds && !restore_tree_is_zombie(t) && ps->has_pty_ctty &&
		    !fd_pty_state_in(set, ps->pty_ctty))
			return log_error_errno(-EINVAL, "pid %u: its controlling terminal is pseudo-"
					       "terminal %u of the tree, whose master is in no "
					       "process of the image: the image is damaged", ps->pid,
					       ps->pty_ctty);
		for (size_t k = 0; !restore_tree_is_zombie(t) && k < t->fd_count; k++) {
			const FdEntry *m = t->fds[k];
			int r;

			if (m->kind != FD_KIND__FD_PTY_MASTER || !m->pty || !m->pty->has_session)
				continue;
			r = fd_pty_check_session(set, opts, m);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int restore_fd_pty_session(struct restore_proc *p, const struct image_set *set)
{
	const PstreeEntry *ps = NULL;
	struct fd_pty_made *made;
	int r;

	for (size_t i = 0; i < set->task_count && !ps; i++)
		if (set->tasks[i].pstree->pid == (uint32_t)p->pid)
			ps = set->tasks[i].pstree;
	if (!ps || !ps->has_pty_ctty)
		return 0;
	if (p->use_tty)
		return log_error_errno(-ENOTSUP, "pid %d led its own session with pseudo-terminal "
				       "/dev/pts/%u (at the dump) as its terminal: it cannot stay in "
				       "our session: restore it without --shell-job", p->pid,
				       ps->pty_ctty);
	if (p->sid != p->pid)
		return log_error_errno(-EINVAL, "pid %d: a controlling terminal (pseudo-terminal "
				       "%u) for a process that leads no session: the image is "
				       "damaged", p->pid, ps->pty_ctty);
	r = fd_pty_keep(ps->pty_ctty, fd_pty_state_in(set, ps->pty_ctty), &made);
	if (r < 0)
		return log_error_errno(r, "pid %d: cannot make its controlling terminal "
				       "(pseudo-terminal %u at the dump): %s", p->pid, ps->pty_ctty,
				       strerror(-r));
	/* The puppet has no fd at all yet (restore_mm_empty): 0 is free, and closed before it
	 * forks. */
	return fd_pty_lead(p, made, 0);
}

void restore_fd_pty_tree_fini(void)
{
	for (size_t i = 0; i < fd_pty_nr_made; i++) {
		close(fd_pty_made[i].feed);
		close(fd_pty_made[i].master);
	}
	free(fd_pty_made);
	fd_pty_made = NULL;
	fd_pty_nr_made = 0;
}
