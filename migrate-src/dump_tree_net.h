/*
 * dump_tree_net: the network lock of a tree covers the inet sockets of every member, not only
 * the root's (nginx: the master listens, the workers hold the connections).
 *
 *	dump_net_scan(root, ..., &net)         the root's sockets (dump_net.h)
 *	dump_tree_net_extend(tree, net)        before anything is touched: every live member's
 *	                                       sockets scanned and refused as the root's are, then
 *	                                       added to net, and member->net = net, so that the lock
 *	                                       and the persistent lock hold them all and a socket a
 *	                                       member opens later is refused (retry) when frozen
 *
 * Members must share the root's network namespace (one lock, one table): a member in
 * another one with inet sockets is refused by name.
 *
 * Live migration (agent_net.c) calls it at its start and again just before its lock, on a new
 * scan each time: the members' net then points at the newest.
 */
#ifndef MIGRATE_DUMP_TREE_NET_H
#define MIGRATE_DUMP_TREE_NET_H

struct dump_net;
struct dump_tree;

int dump_tree_net_extend(struct dump_tree *tree, struct dump_net *net)
	__attribute__((warn_unused_result));

#endif
