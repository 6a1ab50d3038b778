/*
 * ipmove: moving a local IP address from one host to another, so that the
 * connections restored on the destination keep their address (libnl-route for
 * addresses and links; raw frames for the announcement).
 *
 * Call sequence of a migration with --move-ip, in the freeze window, for each
 * local address of the migrating sockets:
 *
 *	source:      r = ipmove_owns(ns, &a);                   1: ours
 *	             r = ipmove_release(ns, &a, &src_undo);     gone from the source
 *	             ... src_undo.prefixlen travels with the sockets ...
 *	destination: r = ipmove_claim(ns, &a, prefixlen, "eth0", &dst_undo);
 *	             ... sockets leave repair mode ...
 *	             r = ipmove_announce(ns, &a, "eth0");       neighbours learn the new MAC
 *
 *	On any failure, in reverse:
 *	destination: ipmove_undo(ns, &dst_undo);                address deleted
 *	source:      ipmove_undo(ns, &src_undo);                address back where it was
 *	             ipmove_announce(ns, &a, src_undo.ifname);  neighbours learn the old MAC
 *
 * Without --move-ip the destination only checks ipmove_owns() and refuses
 * clearly when it is 0.
 *
 * The announcement: IPv4, a gratuitous ARP request and a gratuitous ARP
 * reply (sender and target IP both the address, sender MAC the interface's),
 * broadcast from an AF_PACKET socket; Linux neighbours replace an existing
 * entry on a gratuitous request whatever its age (an ordinary update waits
 * for neigh locktime, 1 s by default); they do not create entries from it
 * unless arp_accept is set, which is not needed: a neighbour without an entry
 * asks and gets the new owner's answer. IPv6, an unsolicited neighbour
 * advertisement to ff02::1 (ICMPv6 136, override flag, target link-layer
 * option, hop limit 255, from the address itself): neighbours with an entry
 * mark it STALE with the new MAC.
 *
 * Limits: addresses are re-added permanent (a lifetime the source had is not
 * carried); deleting an IPv4 primary address also deletes its secondaries
 * unless the interface has promote_secondaries; a claimed IPv6 address skips
 * duplicate address detection (IFA_F_NODAD), because the sockets need it at
 * once and it has just left the source; bridges or switches that filter
 * gratuitous frames are not worked around.
 *
 * netns_fd: an fd of /proc/PID/ns/net (entering it needs CAP_SYS_ADMIN), or -1
 * for the calling thread's own namespace; the thread is back in its own when
 * the call returns (or the call fails with -ENOTRECOVERABLE). Changing
 * addresses and sending raw frames need CAP_NET_ADMIN and CAP_NET_RAW there.
 * No call prints; errors are -errno with the detail in err_detail().
 */
#ifndef MIGRATE_IPMOVE_H
#define MIGRATE_IPMOVE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ipmove_addr {
	uint8_t family;	   /* AF_INET or AF_INET6 */
	uint8_t bytes[16]; /* network order; 4 used for AF_INET */
};

enum ipmove_undo_action {
	IPMOVE_UNDO_NONE = 0, /* nothing to undo (done, or never changed) */
	IPMOVE_UNDO_READD,    /* ipmove_release() removed it: put it back */
	IPMOVE_UNDO_DELETE,   /* ipmove_claim() added it: remove it */
};

/* What it takes to undo a release or a claim; plain data, safe to copy or send. */
struct ipmove_undo {
	enum ipmove_undo_action action;
	struct ipmove_addr addr;
	uint8_t prefixlen;
	int ifindex;		  /* in the namespace of the call that filled it */
	char ifname[IF_NAMESIZE]; /* for messages, and a fallback when the index is gone */
	uint32_t flags;		  /* IFA_F_* the address had (those the kernel takes back) */
	uint8_t scope;		  /* RT_SCOPE_* */
	char label[IF_NAMESIZE];  /* IPv4 label ("eth0:1"), "" if none */
	bool has_broadcast;	  /* IPv4: the broadcast address it had */
	uint8_t broadcast[4];
};

/* "198.18.0.1" or "fd00::1" -> *ret. -EINVAL (quoting s in err_detail()) for anything else. */
int ipmove_addr_parse(const char *s, struct ipmove_addr *ret) __attribute__((warn_unused_result));

/* Writes the address as text into buf (INET6_ADDRSTRLEN is enough); returns buf. */
char *ipmove_addr_format(const struct ipmove_addr *a, char *buf, size_t size);

/*
 * Whether an interface of netns_fd has the address assigned: 1 yes, 0 no,
 * or -errno. A tentative IPv6 address (DAD not finished) counts as not owned,
 * since sockets cannot use it yet.
 */
int ipmove_owns(int netns_fd, const struct ipmove_addr *a) __attribute__((warn_unused_result));

/*
 * Deletes the address from the interface that has it (the first one listed
 * if several have it: IPv4 allows that), and fills *ret_undo
 * (action IPMOVE_UNDO_READD) with what puts it back. Errors: -EADDRNOTAVAIL
 * when no interface has it (*ret_undo then says NONE), -EPERM, or the
 * kernel's error. Sockets bound to it are not closed by this.
 */
int ipmove_release(int netns_fd, const struct ipmove_addr *a, struct ipmove_undo *ret_undo)
	__attribute__((warn_unused_result));

/*
 * Adds the address with that prefix length to interface ifname (IPv6: no
 * duplicate address detection), and fills *ret_undo (IPMOVE_UNDO_DELETE).
 * Errors: -EEXIST when this namespace has it already (nothing to undo then),
 * -ENODEV for an unknown interface, -EINVAL for a bad prefix length, -EPERM,
 * or the kernel's error.
 */
int ipmove_claim(int netns_fd, const struct ipmove_addr *a, unsigned int prefixlen,
		 const char *ifname, struct ipmove_undo *ret_undo)
	__attribute__((warn_unused_result));

/*
 * Tells the link that ifname now has the address (see the top of this file):
 * one round of frames; call it again to repeat them on a lossy link.
 * The address must be assigned to ifname already (for IPv6 the
 * advertisement is sent from it). Errors: -ENODEV, -EADDRNOTAVAIL, -EPERM,
 * -EOPNOTSUPP for an interface without a 6-byte hardware address (loopback,
 * tun), or the errno of the failing send.
 */
int ipmove_announce(int netns_fd, const struct ipmove_addr *a, const char *ifname)
	__attribute__((warn_unused_result));

/*
 * Undoes what *u records (re-adds a released address with its prefix, flags,
 * scope, label and broadcast; or deletes a claimed one) and sets u->action to
 * IPMOVE_UNDO_NONE: calling it twice is harmless. An address already back (or
 * already gone) counts as done. Returns 0 or -errno (u unchanged then).
 */
int ipmove_undo(int netns_fd, struct ipmove_undo *u) __attribute__((warn_unused_result));

#endif
