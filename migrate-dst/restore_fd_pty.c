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
 */
#include "restore_internal.h"

#include <errno.h>
#include <fcntl.h>
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

/* The pair of e made for an earlier fd of the image. */
static bool fd_pty_done(const struct image_task *t, const FdEntry *e)
{
	for (size_t i = 0; i < t->fd_count && t->fds[i] != e; i++)
		if (restore_fd_pty_is(t->fds[i]) && t->fds[i]->pty_index == e->pty_index)
			return true;
	return false;
}

static const FdEntry *fd_pty_master(const struct image_task *t, uint32_t index)
{
	for (size_t i = 0; i < t->fd_count; i++)
		if (t->fds[i]->kind == FD_KIND__FD_PTY_MASTER && t->fds[i]->pty_index == index &&
		    t->fds[i]->pty)
			return t->fds[i];
	return NULL;
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
			       !g->has_pty_dup_of || g->pty_dup_of != f->fd))
			continue;
		r = puppet_install_fd(pp, desc, (int)g->fd, g->cloexec);
		if (r < 0)
			return log_error_errno(r, "pid %d: cannot put pseudo-terminal %s at fd "
					       "%u: %s", p->pid, g->path, g->fd, err_detail());
	}
	return 0;
}

/* Every fd of pair index at its number: the master description, and a new slave description
 * for each slave description of the dump. */
static int fd_pty_install_all(struct restore_proc *p, struct puppet *pp, int master,
			      uint32_t index)
{
	const struct image_task *t = p->img;
	int r = 0;

	for (size_t i = 0; r == 0 && i < t->fd_count; i++) {
		const FdEntry *f = t->fds[i];
		int slave;

		if (!restore_fd_pty_is(f) || f->pty_index != index || f->has_pty_dup_of)
			continue;
		if (f->kind == FD_KIND__FD_PTY_MASTER) {
			r = fd_pty_install(p, pp, master, f);
			continue;
		}
		slave = ioctl(master, TIOCGPTPEER, (f->flags & O_ACCMODE) | O_NOCTTY | O_CLOEXEC);
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

int restore_fd_pty_one(struct restore_proc *p, struct puppet *pp, const FdEntry *e)
{
	const FdEntry *m = fd_pty_master(p->img, e->pty_index);
	int master = -1, feed = -1, r;

	if (fd_pty_done(p->img, e))
		return 0;
	if (!m)
		return log_error_errno(-EINVAL, "pid %d: fd %u: pseudo-terminal %u has no master "
				       "with its state in the image", p->pid, e->fd, e->pty_index);
	r = fd_pty_open(&master, &feed);
	if (r < 0)
		return log_error_errno(r, "pid %d: fd %u: cannot make a pseudo-terminal "
				       "(/dev/ptmx): %s", p->pid, e->fd, strerror(-r));
	r = fd_pty_fill(master, feed, m->pty);
	if (r < 0)
		log_error_errno(r, "pid %d: fd %u: cannot set up the new pseudo-terminal (termios, "
				"window size, %zu + %zu queued bytes): %s", p->pid, e->fd,
				m->pty->to_master.len, m->pty->to_slave.len, strerror(-r));
	if (r == 0)
		r = fd_pty_install_all(p, pp, master, e->pty_index);
	if (r == 0) {
		r = fd_pty_modes(master, feed, m->pty);
		if (r < 0)
			log_error_errno(r, "pid %d: pseudo-terminal of fd %u: cannot set its "
					"packet, lock or exclusive mode: %s", p->pid, m->fd,
					strerror(-r));
	}
	if (r == 0 && m->pty->ctty)
		r = fd_pty_ctty(p, pp, e->pty_index);
	/* The puppet holds its own descriptions: ours go, whatever happened. */
	close(feed);
	close(master);
	if (r == 0)
		log_debug("pid %d: pseudo-terminal %u (master at fd %u) restored", p->pid,
			  e->pty_index, m->fd);
	return r;
}
