/*
 * dump_tree_net: see dump_tree_net.h.
 *
 * A socket held by several members (a listener inherited across fork) is listed once per
 * (fd number, member's inode) pair it is reached by: the collector looks sockets up by fd and
 * inode, and a duplicate entry only duplicates a drop rule of the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump_internal.h"
#include "dump_net.h"
#include "dump_tree_net.h"
#include "err.h"
#include "log.h"

/* tcp_states.h */
#define TREE_NET_ESTABLISHED 1

/* The inode of pid's network namespace, 0 when it cannot be read (gone meanwhile). */
static ino_t tree_net_ns(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

static bool tree_net_has(const struct dump_net *net, const struct dump_net_sock *s)
{
	for (size_t i = 0; i < net->count; i++)
		if (net->socks[i].fd == s->fd && net->socks[i].diag.inode == s->diag.inode)
			return true;
	return false;
}

static bool tree_net_has_inode(const struct dump_net *net, uint64_t inode)
{
	for (size_t i = 0; i < net->count; i++)
		if (net->socks[i].diag.inode == inode)
			return true;
	return false;
}

/* The sockets of m not in net yet, appended to it; a connection two members hold counts once
 * among the established ones (the report's). */
static int tree_net_merge(struct dump_net *net, const struct dump_net *m)
{
	for (size_t i = 0; i < m->count; i++) {
		const struct dump_net_sock *s = &m->socks[i];
		struct dump_net_sock *v;

		if (tree_net_has(net, s))
			continue;
		if (s->diag.protocol == IPPROTO_TCP && s->diag.state == TREE_NET_ESTABLISHED &&
		    !tree_net_has_inode(net, s->diag.inode))
			net->established++;
		v = realloc(net->socks, (net->count + 1) * sizeof(*v));
		if (!v)
			return err_setf(-ENOMEM, "out of memory");
		net->socks = v;
		v[net->count++] = *s;
	}
	return 0;
}

static int tree_net_member(struct dump_proc *proc, ino_t root_ns, struct dump_net *net)
{
	struct dump_net *m = NULL;
	int r = dump_net_scan(proc->pid, net->tcp_established, &m);

	/* Exited since the tree was read (a zombie has no namespace left): the seize decides
	 * what becomes of it, as for any member that exits meanwhile. */
	if (r < 0 && !tree_net_ns(proc->pid)) {
		log_debug("dump: pid %d exited before its sockets were read", proc->pid);
		err_clear();
		return 0;
	}
	if (r < 0)
		return r;
	if (m->count && tree_net_ns(proc->pid) != root_ns)
		r = err_setf(-ENOTSUP,
			     "pid %d of the tree of pid %d has %zu inet socket(s) in another "
			     "network namespace than the root's: one network lock cannot hold "
			     "them: dump each namespace's processes on their own",
			     proc->pid, net->pid, m->count);
	if (r == 0)
		r = tree_net_merge(net, m);
	dump_net_free(m);
	if (r == 0)
		proc->net = net;
	return r;
}

int dump_tree_net_extend(struct dump_tree *tree, struct dump_net *net)
{
	ino_t root_ns = tree_net_ns(tree->procs[0].pid);
	size_t before = net->count;

	for (size_t i = 1; i < tree->count; i++) {
		int r;

		if (tree->procs[i].zombie)
			continue;
		r = tree_net_member(&tree->procs[i], root_ns, net);
		if (r < 0)
			return r;
	}
	if (net->count > before)
		log_debug("dump: the tree of pid %d: %zu inet sockets of its members under the "
			  "lock too",
			  net->pid, net->count - before);
	return 0;
}
