/*
 * dump_fd_pty: pseudo-terminal pairs (/dev/ptmx and its /dev/pts/N) held by the process.
 *
 * A pair is known in the image by its pts number at the dump (FdEntry.pty_index): every fd
 * of the pair, master or slave, carries it, and the first master fd carries the pair's state
 * (TtyEntry): termios, window size, packet, lock and exclusive modes, the queued data both
 * ways, and whether the slave is the process's controlling terminal. The records do not
 * assume one process: with process trees, the master may be in one process and the slave in
 * another and still be paired by their index.
 *
 * The queued data cannot be copied without being consumed (pty_queue.h): it is read out and
 * put back at once, and only while the process is frozen (its state is 't'); the scan before
 * the freeze leaves it alone. Should putting it back fail, the process has lost it: the dump
 * fails, naming the pair. A pair must have its master and a slave fd in the dumped tree; what
 * is not carried is refused by name.
 *
 * In a tree (dump_fd_pty_set_tree), a slave whose master any member holds is part of the pair
 * too, and dump_fd_pty_check_tree reads each pair once, across the members: the session of
 * the tree whose controlling terminal it is (TtyEntry.session; its leader must be a member,
 * and is marked in its PstreeEntry.pty_ctty through dump_fd_pty_ctty_of) and its foreground
 * group (TtyEntry.fg_pgrp, a group of that session in the tree).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "dump_internal.h"
#include "err.h"
#include "pty_queue.h"

#define PTY_SLAVE_MAJOR_FIRST 136
#define PTY_SLAVE_MAJOR_LAST 143

bool dump_fd_pty_is_master(const struct dump_fd_probe *p)
{
	return S_ISCHR(p->mode) && major(p->rdev) == 5 && minor(p->rdev) == 2;
}

static bool fd_pty_is_slave_dev(mode_t mode, dev_t rdev)
{
	return S_ISCHR(mode) && major(rdev) >= PTY_SLAVE_MAJOR_FIRST &&
	       major(rdev) <= PTY_SLAVE_MAJOR_LAST;
}

static unsigned int fd_pty_slave_index(dev_t rdev)
{
	return (major(rdev) - PTY_SLAVE_MAJOR_FIRST) * 256 + minor(rdev);
}

/* The pts number of master fd of pid, or -errno. */
static int fd_pty_master_index(pid_t pid, int fd)
{
	unsigned int index;
	int copy, r = dump_files_copy_fd(pid, fd, &copy);

	if (r < 0)
		return r;
	r = ioctl(copy, TIOCGPTN, &index) < 0 ? -errno : (int)index;
	close(copy);
	return r;
}

/* Whether pid holds the master of pts index: a slave whose master is elsewhere stays a
 * terminal (FD_TTY, --shell-job). */
static bool fd_pty_master_held(pid_t pid, unsigned int index)
{
	int *fds = NULL;
	size_t count;
	bool held = false;

	if (pid <= 0 || proc_list_numeric(pid, "fd", &fds, &count) < 0)
		return false;
	for (size_t i = 0; i < count && !held; i++) {
		char path[64];
		struct stat st;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fds[i]);
		if (stat(path, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 5 &&
		    minor(st.st_rdev) == 2)
			held = fd_pty_master_index(pid, fds[i]) == (int)index;
	}
	free(fds);
	return held;
}

/* The root of the tree being dumped (dump_fd_pty_set_tree), 0 for one process. */
static pid_t fd_pty_tree_root;

void dump_fd_pty_set_tree(pid_t root)
{
	fd_pty_tree_root = root;
}

/* Whether a member of the tree other than pid holds the master of pts index. */
static bool fd_pty_master_in_tree(pid_t pid, unsigned int index)
{
	struct dump_tree_scan s;
	bool held = false;

	if (fd_pty_tree_root <= 0 || dump_tree_scan(fd_pty_tree_root, &s) < 0)
		return false;
	for (size_t i = 0; i < s.count && !held; i++)
		held = s.members[i].pid != pid && fd_pty_master_held(s.members[i].pid, index);
	dump_tree_scan_fini(&s);
	return held;
}

bool dump_fd_pty_is_slave(const struct dump_fd_probe *p)
{
	unsigned int index = fd_pty_slave_index(p->rdev);

	return fd_pty_is_slave_dev(p->mode, p->rdev) &&
	       (fd_pty_master_held(p->pid, index) || fd_pty_master_in_tree(p->pid, index));
}

int dump_fd_pty_fill(pid_t pid, FdEntry *e)
{
	struct stat st;
	int copy, r;

	if (e->kind == FD_KIND__FD_PTY_MASTER) {
		r = fd_pty_master_index(pid, (int)e->fd);
		if (r < 0)
			return err_setf(r, "fd %u of pid %d (a pseudo-terminal master): cannot "
					"read its pts number: %s", e->fd, pid, strerror(-r));
		e->has_pty_index = true;
		e->pty_index = (uint32_t)r;
		return 0;
	}
	if (e->kind != FD_KIND__FD_PTY_SLAVE)
		return 0;
	r = dump_files_copy_fd(pid, (int)e->fd, &copy);
	if (r == 0) {
		r = fstat(copy, &st) < 0 ? -errno : 0;
		close(copy);
	}
	if (r < 0)
		return err_setf(r, "fd %u of pid %d (%s): cannot read it: %s", e->fd, pid, e->path,
				strerror(-r));
	e->has_pty_index = true;
	e->pty_index = fd_pty_slave_index(st.st_rdev);
	return 0;
}

/* The first fd of fds before index end with the same open file description as fds[end]. */
static void fd_pty_dups(pid_t pid, FdEntry **fds, size_t end)
{
	FdEntry *e = fds[end];

	for (size_t i = 0; i < end; i++) {
		if (fds[i]->kind != e->kind || fds[i]->pty_index != e->pty_index)
			continue;
		if (syscall(SYS_kcmp, pid, pid, KCMP_FILE, fds[i]->fd, e->fd) == 0) {
			e->has_pty_dup_of = true;
			e->pty_dup_of = fds[i]->fd;
			return;
		}
	}
}

/* Whether the controlling terminal of st (tty_nr, the kernel's encoding) is pts index. */
static bool fd_pty_is_ctty(const struct proc_stat *st, unsigned int index)
{
	unsigned int ma = ((unsigned int)st->tty_nr >> 8) & 0xfff;
	unsigned int mi = ((unsigned int)st->tty_nr & 0xff) |
			  (((unsigned int)st->tty_nr >> 12) & 0xfff00);

	return st->tty_nr && ma >= PTY_SLAVE_MAJOR_FIRST && ma <= PTY_SLAVE_MAJOR_LAST &&
	       (ma - PTY_SLAVE_MAJOR_FIRST) * 256 + mi == index;
}

/* The tree whose pairs dump_fd_pty_check_tree reads, NULL otherwise. */
static const struct dump_tree *fd_pty_tree_now;

/* What the last dump_fd_pty_check_tree found: the session leaders whose controlling terminal
 * is a pair of the tree, and that pair (for dump_fd_pty_ctty_of). */
#define FD_PTY_MAX_LEADERS 64
static struct {
	pid_t leader;
	uint32_t index;
} fd_pty_leaders[FD_PTY_MAX_LEADERS];
static size_t fd_pty_nr_leaders;

bool dump_fd_pty_ctty_of(pid_t pid, uint32_t *ret_index)
{
	for (size_t i = 0; i < fd_pty_nr_leaders; i++) {
		if (fd_pty_leaders[i].leader == pid) {
			*ret_index = fd_pty_leaders[i].index;
			return true;
		}
	}
	return false;
}

static const struct dump_proc *fd_pty_tree_find(const struct dump_tree *tree, pid_t pid)
{
	for (size_t i = 0; i < tree->count; i++)
		if (tree->procs[i].pid == pid && !tree->procs[i].zombie)
			return &tree->procs[i];
	return NULL;
}

/* The session of the tree whose controlling terminal pair m is (0: none): its leader must be a
 * member, who takes it again at the restore before forking the others. */
static int fd_pty_tree_session(const struct dump_tree *tree, const FdEntry *m, pid_t *ret_sid)
{
	*ret_sid = 0;
	for (size_t i = 0; i < tree->count; i++) {
		const struct dump_proc *q = &tree->procs[i];
		struct proc_stat st;

		if (q->zombie || proc_read_stat(q->pid, &st) < 0 || !fd_pty_is_ctty(&st, m->pty_index))
			continue;
		if (!fd_pty_tree_find(tree, st.session))
			return err_setf(-ENOTSUP, "pid %d: its controlling terminal is pseudo-terminal "
					"/dev/pts/%u of the tree of pid %d, but its session %d is led "
					"by a process outside the tree: dump the tree of the session "
					"leader", q->pid, m->pty_index, tree->procs[0].pid,
					st.session);
		*ret_sid = st.session;
		return 0;
	}
	return 0;
}

/* Session and foreground group of pair m (master: a copy of its master) in the tree. */
static int fd_pty_tree_ctty(const struct dump_tree *tree, const FdEntry *m, int master,
			    TtyEntry *tty)
{
	pid_t sid, fg;
	int r = fd_pty_tree_session(tree, m, &sid);

	if (r < 0 || !sid)
		return r;
	if (fd_pty_nr_leaders == FD_PTY_MAX_LEADERS)
		return err_setf(-ENOTSUP, "the tree of pid %d has more than %d sessions on "
				"pseudo-terminals of its own", tree->procs[0].pid,
				FD_PTY_MAX_LEADERS);
	fd_pty_leaders[fd_pty_nr_leaders].leader = sid;
	fd_pty_leaders[fd_pty_nr_leaders++].index = m->pty_index;
	tty->has_session = true;
	tty->session = (uint32_t)sid;
	fg = tcgetpgrp(master); /* through the master: the slave answers only its session */
	if (fg <= 0)
		return 0; /* no foreground group: the leader's own at the restore */
	for (size_t i = 0; i < tree->count; i++) {
		if (tree->procs[i].pgid == fg && tree->procs[i].sid == sid) {
			tty->has_fg_pgrp = true;
			tty->fg_pgrp = (uint32_t)fg;
			return 0;
		}
	}
	return err_setf(-ENOTSUP, "pseudo-terminal /dev/pts/%u (master at fd %u) has the "
			"foreground process group %d, which no process of the tree of pid %d is "
			"in: it cannot be rebuilt", m->pty_index, m->fd, (int)fg,
			tree->procs[0].pid);
}

/* What a single-process restore cannot give back: another line discipline, a controlling
 * terminal of a session or foreground group that is not the process's own. In a tree: another
 * line discipline, a session or foreground group outside the tree. */
static int fd_pty_refuse(pid_t pid, const FdEntry *m, int master, int slave,
			 const struct proc_stat *st, TtyEntry *tty)
{
	int ldisc = 0;
	pid_t fg;

	if (ioctl(slave, TIOCGETD, &ldisc) < 0)
		return -errno;
	if (ldisc != N_TTY)
		return err_setf(-ENOTSUP, "fd %u of pid %d: pseudo-terminal /dev/pts/%u uses line "
				"discipline %d: only the default one (N_TTY) is supported", m->fd,
				pid, m->pty_index, ldisc);
	if (fd_pty_tree_now)
		return fd_pty_tree_ctty(fd_pty_tree_now, m, master, tty);
	tty->has_ctty = tty->ctty = fd_pty_is_ctty(st, m->pty_index);
	if (!tty->ctty)
		return 0;
	fg = tcgetpgrp(master); /* through the master: the slave answers only its session */
	if (st->session != pid || fg != st->pgrp)
		return err_setf(-ENOTSUP, "pid %d: pseudo-terminal /dev/pts/%u (master at fd %u) "
				"is its controlling terminal, but pid %d is not the leader of "
				"its session (%d) or not in its foreground group (%d): not "
				"supported without the other processes (process trees)", pid,
				m->pty_index, m->fd, pid, st->session, (int)fg);
	return 0;
}

/* termios, window size and modes of the pair into tty. */
static int fd_pty_read_modes(int master, int slave, struct termios *t, TtyEntry *tty)
{
	struct winsize ws;
	int packet = 0, excl = 0;

	if (tcgetattr(slave, t) < 0 || ioctl(slave, TIOCGWINSZ, &ws) < 0 ||
	    ioctl(master, TIOCGPKT, &packet) < 0 || ioctl(slave, TIOCGEXCL, &excl) < 0)
		return -errno;
	tty->cc.data = malloc(NCCS);
	if (!tty->cc.data)
		return -ENOMEM;
	memcpy(tty->cc.data, t->c_cc, NCCS);
	tty->cc.len = NCCS;
	tty->iflag = t->c_iflag;
	tty->oflag = t->c_oflag;
	tty->cflag = t->c_cflag;
	tty->lflag = t->c_lflag;
	tty->ispeed = cfgetispeed(t);
	tty->ospeed = cfgetospeed(t);
	tty->rows = ws.ws_row;
	tty->cols = ws.ws_col;
	tty->xpixel = ws.ws_xpixel;
	tty->ypixel = ws.ws_ypixel;
	tty->has_packet = tty->packet = packet != 0;
	tty->has_exclusive = tty->exclusive = excl != 0;
	return 0;
}

/* The queued data into tty, taken out and put straight back. Packet mode is off meanwhile
 * (a pending packet status is lost: see README Limitations). */
static int fd_pty_read_queue(int master, int slave, const struct termios *t, TtyEntry *tty)
{
	struct pty_queue q;
	int off = 0, on = 1, r, r2;

	if (tty->packet && ioctl(master, TIOCPKT, &off) < 0)
		return -errno;
	r = pty_queue_take(master, slave, &q);
	r2 = pty_queue_put(master, slave, t, &q); /* on failure too: what was read goes back */
	if (r == 0)
		r = r2;
	if (tty->packet && ioctl(master, TIOCPKT, &on) < 0 && r == 0)
		r = -errno;
	tty->has_to_master = q.to_master_len > 0;
	tty->to_master.data = q.to_master;
	tty->to_master.len = q.to_master_len;
	tty->has_to_slave = q.to_slave_len > 0;
	tty->to_slave.data = q.to_slave;
	tty->to_slave.len = q.to_slave_len;
	return r;
}

/* The queued data, through our own slave of the pair (TIOCGPTPEER: blocking, read-write,
 * whatever the process's fds are), the lock lifted meanwhile: only while frozen. */
static int fd_pty_read_frozen(int master, const struct termios *t, TtyEntry *tty)
{
	int unlock = 0, lock = 1, feed, r;

	if (tty->locked && ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return -errno;
	feed = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	r = feed < 0 ? -errno : fd_pty_read_queue(master, feed, t, tty);
	if (feed >= 0)
		close(feed);
	if (tty->locked && ioctl(master, TIOCSPTLCK, &lock) < 0 && r == 0)
		r = -errno;
	return r;
}

/* The pair's state through copies of the process's master and slave fds. */
static int fd_pty_read_pair(pid_t pid, int master, int slave, const struct proc_stat *st,
			    const FdEntry *m, TtyEntry *tty)
{
	struct termios t;
	int locked = 0, r;

	if (ioctl(master, TIOCGPTLCK, &locked) < 0)
		return -errno;
	tty->has_locked = tty->locked = locked != 0;
	r = fd_pty_refuse(pid, m, master, slave, st, tty);
	if (r == 0)
		r = fd_pty_read_modes(master, slave, &t, tty);
	if (r == 0 && st->state == 't')
		r = fd_pty_read_frozen(master, &t, tty);
	return r;
}

/* The state of the pair of master fd m of pid (s: a slave fd of it, of pid spid) onto m. */
static int fd_pty_state(pid_t pid, FdEntry *m, pid_t spid, const FdEntry *s)
{
	int master = -1, slave = -1, r;
	struct proc_stat st;
	TtyEntry *tty;

	r = proc_read_stat(pid, &st);
	if (r < 0)
		return err_setf(r, "pid %d: cannot read its stat: %s", pid, strerror(-r));
	tty = malloc(sizeof(*tty));
	if (!tty)
		return err_setf(-ENOMEM, "out of memory");
	tty_entry__init(tty);
	m->pty = tty;
	r = dump_files_copy_fd(pid, (int)m->fd, &master);
	if (r == 0)
		r = dump_files_copy_fd(spid, (int)s->fd, &slave);
	if (r == 0)
		r = fd_pty_read_pair(pid, master, slave, &st, m, tty);
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	if (r == -ENOTSUP)
		return r;
	if (r < 0)
		return err_setf(r, "fd %u of pid %d (master of /dev/pts/%u): cannot read the "
				"pseudo-terminal's state or queued data: %s", m->fd, pid,
				m->pty_index, strerror(-r));
	return 0;
}

static FdEntry *fd_pty_find(FdEntry **fds, size_t count, int kind, uint32_t index)
{
	for (size_t i = 0; i < count; i++)
		if ((int)fds[i]->kind == kind && fds[i]->pty_index == index)
			return fds[i];
	return NULL;
}

int dump_fd_pty_check(pid_t pid, FdEntry **fds, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		FdEntry *e = fds[i];
		const FdEntry *s;
		int r;

		if (e->kind != FD_KIND__FD_PTY_MASTER && e->kind != FD_KIND__FD_PTY_SLAVE)
			continue;
		fd_pty_dups(pid, fds, i);
		if (fd_pty_tree_root > 0) /* the pairs: dump_fd_pty_check_tree */
			continue;
		if (e->kind != FD_KIND__FD_PTY_MASTER ||
		    fd_pty_find(fds, count, FD_KIND__FD_PTY_MASTER, e->pty_index) != e)
			continue;
		s = fd_pty_find(fds, count, FD_KIND__FD_PTY_SLAVE, e->pty_index);
		if (!s)
			return err_setf(-ENOTSUP,
					"fd %u of pid %d is the master of pseudo-terminal "
					"/dev/pts/%u, whose slave this process does not hold: a "
					"pty whose slave is closed or in another process is not "
					"supported yet", e->fd, pid, e->pty_index);
		r = fd_pty_state(pid, e, pid, s);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The first fd of kind and pts index in the tree (the process fds first), and its holder. */
static FdEntry *fd_pty_tree_first(const struct dump_tree *tree, const struct dump_proc *fds,
				  int kind, uint32_t index, pid_t *ret_pid)
{
	FdEntry *e = fd_pty_find(fds->fds, fds->nr_fds, kind, index);

	*ret_pid = fds->pid;
	for (size_t i = 0; !e && i < tree->count; i++) {
		e = fd_pty_find(tree->procs[i].fds, tree->procs[i].nr_fds, kind, index);
		*ret_pid = tree->procs[i].pid;
	}
	return e;
}

/* The pair of master fd e of member proc, the first of the tree: its slave is somewhere in
 * the tree, and its state goes on e. */
static int fd_pty_tree_pair(struct dump_tree *tree, const struct dump_proc *proc, FdEntry *e)
{
	const FdEntry *s;
	pid_t holder, spid;
	int r;

	if (fd_pty_tree_first(tree, &tree->procs[0], FD_KIND__FD_PTY_MASTER, e->pty_index,
			      &holder) != e)
		return 0;
	s = fd_pty_tree_first(tree, proc, FD_KIND__FD_PTY_SLAVE, e->pty_index, &spid);
	if (!s)
		return err_setf(-ENOTSUP, "fd %u of pid %d is the master of pseudo-terminal "
				"/dev/pts/%u, whose slave no process of the tree of pid %d holds: "
				"a pty whose slave is closed or outside the tree is not supported",
				e->fd, proc->pid, e->pty_index, tree->procs[0].pid);
	fd_pty_tree_now = tree;
	r = fd_pty_state(proc->pid, e, spid, s);
	fd_pty_tree_now = NULL;
	return r;
}

int dump_fd_pty_check_tree(struct dump_tree *tree)
{
	fd_pty_nr_leaders = 0;
	for (size_t i = 0; i < tree->count; i++) {
		const struct dump_proc *proc = &tree->procs[i];

		for (size_t k = 0; !proc->zombie && k < proc->nr_fds; k++) {
			FdEntry *e = proc->fds[k];
			int r;

			if (e->kind != FD_KIND__FD_PTY_MASTER || e->pty)
				continue;
			r = fd_pty_tree_pair(tree, proc, e);
			if (r < 0)
				return r;
		}
	}
	return 0;
}
