/*
 * ipmove: see ipmove.h. Addresses and links through libnl-route (one
 * NETLINK_ROUTE socket per call: these run a handful of times per migration);
 * the announcements as raw frames.
 */
#include "ipmove.h"
#include "netns.h"

#include "err.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAC_LEN 6
/* The IFA_F_* flags the kernel takes in a request; the others it computes itself. */
#define KEPT_FLAGS                                                                      \
	(IFA_F_NODAD | IFA_F_HOMEADDRESS | IFA_F_MANAGETEMPADDR | IFA_F_NOPREFIXROUTE | \
	 IFA_F_MCAUTOJOIN)

static size_t addr_len(const struct ipmove_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

static int addr_check(const struct ipmove_addr *a)
{
	if (a->family != AF_INET && a->family != AF_INET6)
		return err_setf(EINVAL, "address family %u is not AF_INET or AF_INET6", a->family);
	return 0;
}

int ipmove_addr_parse(const char *s, struct ipmove_addr *ret)
{
	struct ipmove_addr a = { 0 };

	if (inet_pton(AF_INET, s, a.bytes) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, a.bytes) == 1)
		a.family = AF_INET6;
	else
		return err_setf(EINVAL, "'%s' is not an IPv4 or IPv6 address", s);
	*ret = a;
	return 0;
}

char *ipmove_addr_format(const struct ipmove_addr *a, char *buf, size_t size)
{
	if (!inet_ntop(a->family, a->bytes, buf, (socklen_t)size))
		snprintf(buf, size, "(family %u)", a->family);
	return buf;
}

/* libnl's error codes back to errno, for the callers' -errno contract. */
static int errno_of_nle(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_NOMEM:
		return ENOMEM;
	case NLE_PERM:
		return EPERM;
	case NLE_NOACCESS:
		return EACCES;
	case NLE_EXIST:
		return EEXIST;
	case NLE_INVAL:
		return EINVAL;
	case NLE_RANGE:
		return ERANGE;
	case NLE_NODEV:
		return ENODEV;
	case NLE_NOADDR:
		return EADDRNOTAVAIL;
	case NLE_OBJ_NOTFOUND:
		return ENOENT;
	case NLE_AGAIN:
		return EAGAIN;
	case NLE_BUSY:
		return EBUSY;
	case NLE_OPNOTSUPP:
		return EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return EAFNOSUPPORT;
	default:
		return EIO;
	}
}

static int nle_fail(int nle, const char *what, const struct ipmove_addr *a)
{
	char text[INET6_ADDRSTRLEN];

	return err_setf(errno_of_nle(nle), "%s %s: %s", what,
			ipmove_addr_format(a, text, sizeof(text)), nl_geterror(nle));
}

/* --- namespace and socket ---------------------------------------------- */

static int rt_open(struct nl_sock **ret)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(sk);
		return err_setf(errno_of_nle(r), "rtnetlink socket: %s", nl_geterror(r));
	}
	*ret = sk;
	return 0;
}

/* --- addresses --------------------------------------------------------- */

static bool rtnl_addr_is(struct rtnl_addr *ra, const struct ipmove_addr *a)
{
	struct nl_addr *local = rtnl_addr_get_local(ra);

	return local && nl_addr_get_family(local) == a->family &&
	       nl_addr_get_len(local) == addr_len(a) &&
	       memcmp(nl_addr_get_binary_addr(local), a->bytes, addr_len(a)) == 0;
}

/* The namespace's entry for a (a reference: rtnl_addr_put() it), or NULL in *ret. */
static int addr_find(struct nl_sock *sk, const struct ipmove_addr *a, struct rtnl_addr **ret)
{
	struct nl_cache *cache;
	int r = rtnl_addr_alloc_cache(sk, &cache);

	*ret = NULL;
	if (r < 0)
		return nle_fail(r, "listing addresses to find", a);
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		if (rtnl_addr_is((struct rtnl_addr *)o, a)) {
			nl_object_get(o);
			*ret = (struct rtnl_addr *)o;
			break;
		}
	}
	nl_cache_free(cache);
	return 0;
}

/* A request object for u's address on u's interface. */
static int addr_build(const struct ipmove_undo *u, struct rtnl_addr **ret)
{
	struct rtnl_addr *ra = rtnl_addr_alloc();
	struct nl_addr *local = nl_addr_build(u->addr.family, u->addr.bytes, addr_len(&u->addr));

	if (!ra || !local) {
		rtnl_addr_put(ra);
		nl_addr_put(local);
		return -ENOMEM;
	}
	nl_addr_set_prefixlen(local, u->prefixlen);
	rtnl_addr_set_ifindex(ra, u->ifindex);
	rtnl_addr_set_family(ra, u->addr.family);
	int r = rtnl_addr_set_local(ra, local);
	nl_addr_put(local);
	if (r < 0) {
		rtnl_addr_put(ra);
		return nle_fail(r, "building", &u->addr);
	}
	rtnl_addr_set_prefixlen(ra, u->prefixlen);
	*ret = ra;
	return 0;
}

static int addr_set_extras(struct rtnl_addr *ra, const struct ipmove_undo *u)
{
	int r = 0;

	rtnl_addr_set_flags(ra, u->flags);
	rtnl_addr_set_scope(ra, u->scope);
	if (u->label[0])
		r = rtnl_addr_set_label(ra, u->label);
	if (r == 0 && u->has_broadcast) {
		struct nl_addr *brd = nl_addr_build(AF_INET, u->broadcast, 4);
		if (!brd)
			return -ENOMEM;
		r = rtnl_addr_set_broadcast(ra, brd);
		nl_addr_put(brd);
	}
	return r < 0 ? nle_fail(r, "building", &u->addr) : 0;
}

static int addr_add(struct nl_sock *sk, const struct ipmove_undo *u)
{
	struct rtnl_addr *ra;
	int r = addr_build(u, &ra);

	if (r < 0)
		return r;
	r = addr_set_extras(ra, u);
	if (r == 0) {
		r = rtnl_addr_add(sk, ra, NLM_F_EXCL);
		r = r < 0 ? nle_fail(r, "adding", &u->addr) : 0;
	}
	rtnl_addr_put(ra);
	return r;
}

static int addr_delete(struct nl_sock *sk, const struct ipmove_undo *u)
{
	struct rtnl_addr *ra;
	int r = addr_build(u, &ra);

	if (r < 0)
		return r;
	r = rtnl_addr_delete(sk, ra, 0);
	rtnl_addr_put(ra);
	return r < 0 ? nle_fail(r, "deleting", &u->addr) : 0;
}

/* What puts ra back as it was. */
static void undo_fill(struct rtnl_addr *ra, const struct ipmove_addr *a, struct ipmove_undo *u)
{
	struct nl_addr *brd = rtnl_addr_get_broadcast(ra);
	const char *label = rtnl_addr_get_label(ra);

	memset(u, 0, sizeof(*u));
	u->action = IPMOVE_UNDO_READD;
	u->addr = *a;
	u->prefixlen = (uint8_t)rtnl_addr_get_prefixlen(ra);
	u->ifindex = rtnl_addr_get_ifindex(ra);
	if (!if_indextoname((unsigned int)u->ifindex, u->ifname))
		snprintf(u->ifname, sizeof(u->ifname), "#%d", u->ifindex);
	u->flags = rtnl_addr_get_flags(ra) & KEPT_FLAGS;
	u->scope = (uint8_t)rtnl_addr_get_scope(ra);
	if (label)
		snprintf(u->label, sizeof(u->label), "%s", label);
	if (a->family == AF_INET && brd && nl_addr_get_len(brd) == 4) {
		u->has_broadcast = true;
		memcpy(u->broadcast, nl_addr_get_binary_addr(brd), 4);
	}
}

static int owns(const struct ipmove_addr *a)
{
	struct nl_sock *sk;
	struct rtnl_addr *ra;
	int r = rt_open(&sk);

	if (r < 0)
		return r;
	r = addr_find(sk, a, &ra);
	if (r == 0 && ra) {
		r = !(rtnl_addr_get_flags(ra) & (IFA_F_TENTATIVE | IFA_F_DADFAILED));
		rtnl_addr_put(ra);
	}
	nl_socket_free(sk);
	return r;
}

int ipmove_owns(int netns_fd, const struct ipmove_addr *a)
{
	int saved, r = addr_check(a);

	if (r == 0)
		r = netns_enter(netns_fd, &saved);
	if (r < 0)
		return r;
	return netns_leave(saved, owns(a));
}

static int release(const struct ipmove_addr *a, struct ipmove_undo *ret_undo)
{
	struct nl_sock *sk;
	struct rtnl_addr *ra;
	struct ipmove_undo u;
	int r = rt_open(&sk);

	if (r < 0)
		return r;
	r = addr_find(sk, a, &ra);
	if (r == 0 && !ra)
		r = nle_fail(-NLE_NOADDR, "releasing", a);
	if (r == 0) {
		undo_fill(ra, a, &u);
		r = rtnl_addr_delete(sk, ra, 0);
		r = r < 0 ? nle_fail(r, "deleting", a) : 0;
		rtnl_addr_put(ra);
	}
	nl_socket_free(sk);
	if (r == 0) {
		char text[INET6_ADDRSTRLEN];
		log_debug("ipmove: released %s/%u from %s",
			  ipmove_addr_format(a, text, sizeof(text)), u.prefixlen, u.ifname);
		*ret_undo = u;
	}
	return r;
}

int ipmove_release(int netns_fd, const struct ipmove_addr *a, struct ipmove_undo *ret_undo)
{
	int saved, r = addr_check(a);

	memset(ret_undo, 0, sizeof(*ret_undo));
	if (r == 0)
		r = netns_enter(netns_fd, &saved);
	if (r < 0)
		return r;
	return netns_leave(saved, release(a, ret_undo));
}

static int claim(struct ipmove_undo *u)
{
	struct nl_sock *sk;
	struct rtnl_addr *ra = NULL;
	int r = rt_open(&sk);

	if (r < 0)
		return r;
	r = addr_find(sk, &u->addr, &ra);
	if (r == 0 && ra)
		r = nle_fail(-NLE_EXIST, "claiming (already here)", &u->addr);
	if (r == 0)
		r = addr_add(sk, u);
	rtnl_addr_put(ra);
	nl_socket_free(sk);
	return r;
}

int ipmove_claim(int netns_fd, const struct ipmove_addr *a, unsigned int prefixlen,
		 const char *ifname, struct ipmove_undo *ret_undo)
{
	struct ipmove_undo u = { .addr = *a, .scope = RT_SCOPE_UNIVERSE };
	int saved, r = addr_check(a);

	if (r < 0)
		return r;
	if (prefixlen > addr_len(a) * 8)
		return err_setf(EINVAL, "prefix length %u is too long for the address", prefixlen);
	if (strlen(ifname) >= sizeof(u.ifname))
		return err_setf(ENODEV, "interface name '%s' is too long", ifname);
	u.prefixlen = (uint8_t)prefixlen;
	/* The sockets need the address at once, and it has just left the source. */
	u.flags = a->family == AF_INET6 ? IFA_F_NODAD : 0;
	snprintf(u.ifname, sizeof(u.ifname), "%s", ifname);
	r = netns_enter(netns_fd, &saved);
	if (r < 0)
		return r;
	u.ifindex = (int)if_nametoindex(ifname);
	if (!u.ifindex)
		r = err_setf(ENODEV, "no interface '%s' to claim the address on", ifname);
	else
		r = claim(&u);
	r = netns_leave(saved, r);
	if (r == 0) {
		u.action = IPMOVE_UNDO_DELETE;
		*ret_undo = u;
	}
	return r;
}

static int undo(struct ipmove_undo *u)
{
	struct nl_sock *sk;
	int r = rt_open(&sk);

	if (r < 0)
		return r;
	if (u->action == IPMOVE_UNDO_DELETE) {
		r = addr_delete(sk, u);
		if (r == -EADDRNOTAVAIL || r == -ENOENT)
			r = 0; /* gone already */
	} else {
		struct ipmove_undo again = *u;
		char name[IF_NAMESIZE];
		/* Back to the source without waiting for duplicate address detection. */
		if (u->addr.family == AF_INET6)
			again.flags |= IFA_F_NODAD;
		/* A link re-created since has a new index under the old name. */
		if (!if_indextoname((unsigned int)u->ifindex, name))
			again.ifindex = (int)if_nametoindex(u->ifname);
		r = addr_add(sk, &again);
		if (r == -EEXIST)
			r = 0; /* back already */
	}
	nl_socket_free(sk);
	return r;
}

int ipmove_undo(int netns_fd, struct ipmove_undo *u)
{
	int saved, r;

	if (u->action == IPMOVE_UNDO_NONE)
		return 0;
	r = netns_enter(netns_fd, &saved);
	if (r < 0)
		return r;
	r = netns_leave(saved, undo(u));
	if (r == 0)
		u->action = IPMOVE_UNDO_NONE;
	return r;
}

/* --- announcements ----------------------------------------------------- */

/* The interface's index and MAC; checks that a is assigned to it. */
static int link_for_announce(const struct ipmove_addr *a, const char *ifname, int *ret_ifindex,
			     uint8_t mac[MAC_LEN])
{
	struct nl_sock *sk;
	struct rtnl_link *link = NULL;
	struct rtnl_addr *ra = NULL;
	int r = rt_open(&sk);

	if (r < 0)
		return r;
	r = rtnl_link_get_kernel(sk, 0, ifname, &link);
	if (r < 0)
		r = err_setf(ENODEV, "no interface '%s' to announce on: %s", ifname,
			     nl_geterror(r));
	struct nl_addr *hw = r == 0 ? rtnl_link_get_addr(link) : NULL;
	if (r == 0 &&
	    (rtnl_link_get_arptype(link) != ARPHRD_ETHER || !hw || nl_addr_get_len(hw) != MAC_LEN))
		r = err_setf(EOPNOTSUPP, "interface '%s' has no Ethernet address", ifname);
	if (r == 0) {
		*ret_ifindex = rtnl_link_get_ifindex(link);
		memcpy(mac, nl_addr_get_binary_addr(hw), MAC_LEN);
		r = addr_find(sk, a, &ra);
	}
	if (r == 0 && (!ra || rtnl_addr_get_ifindex(ra) != *ret_ifindex))
		r = nle_fail(-NLE_NOADDR, "announcing (not assigned to that interface)", a);
	rtnl_addr_put(ra);
	rtnl_link_put(link);
	nl_socket_free(sk);
	return r;
}

static int send_arp(int fd, int ifindex, const uint8_t mac[MAC_LEN], const uint8_t ip[4],
		    uint16_t op)
{
	struct sockaddr_ll to = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ARP),
		.sll_ifindex = ifindex,
		.sll_halen = MAC_LEN,
	};
	struct ether_arp arp = { 0 };

	memset(to.sll_addr, 0xff, MAC_LEN);
	arp.arp_hrd = htons(ARPHRD_ETHER);
	arp.arp_pro = htons(ETHERTYPE_IP);
	arp.arp_hln = MAC_LEN;
	arp.arp_pln = 4;
	arp.arp_op = htons(op);
	memcpy(arp.arp_sha, mac, MAC_LEN);
	memcpy(arp.arp_spa, ip, 4);
	/* A gratuitous request leaves the target MAC unknown; a reply names everyone. */
	if (op == ARPOP_REPLY)
		memset(arp.arp_tha, 0xff, MAC_LEN);
	memcpy(arp.arp_tpa, ip, 4);
	if (sendto(fd, &arp, sizeof(arp), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return err_setf(errno, "sending gratuitous ARP: %s", strerror(errno));
	return 0;
}

static int announce_v4(int ifindex, const uint8_t mac[MAC_LEN], const struct ipmove_addr *a)
{
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
	int r;

	if (fd < 0)
		return err_setf(errno, "packet socket for gratuitous ARP: %s", strerror(errno));
	r = send_arp(fd, ifindex, mac, a->bytes, ARPOP_REQUEST);
	if (r == 0)
		r = send_arp(fd, ifindex, mac, a->bytes, ARPOP_REPLY);
	close(fd);
	return r;
}

static int na_socket(int ifindex, const struct ipmove_addr *a)
{
	struct sockaddr_in6 self = { .sin6_family = AF_INET6 };
	int hops = 255; /* receivers drop neighbour discovery with any other hop limit */
	int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);

	if (fd < 0)
		return err_setf(errno, "ICMPv6 socket: %s", strerror(errno));
	memcpy(&self.sin6_addr, a->bytes, 16);
	if (IN6_IS_ADDR_LINKLOCAL(&self.sin6_addr))
		self.sin6_scope_id = (uint32_t)ifindex;
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) < 0 ||
	    bind(fd, (struct sockaddr *)&self, sizeof(self)) < 0) {
		int err =
			err_setf(errno, "ICMPv6 socket for the advertisement: %s", strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

static int announce_v6(int ifindex, const uint8_t mac[MAC_LEN], const struct ipmove_addr *a)
{
	struct {
		struct nd_neighbor_advert na;
		struct nd_opt_hdr opt;
		uint8_t mac[MAC_LEN];
	} __attribute__((packed)) msg = { 0 };
	struct sockaddr_in6 all_nodes = { .sin6_family = AF_INET6,
					  .sin6_scope_id = (uint32_t)ifindex };
	int fd = na_socket(ifindex, a);

	if (fd < 0)
		return fd;
	msg.na.nd_na_type = ND_NEIGHBOR_ADVERT;
	msg.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE; /* replace the MAC neighbours have */
	memcpy(&msg.na.nd_na_target, a->bytes, 16);
	msg.opt.nd_opt_type = ND_OPT_TARGET_LINKADDR;
	msg.opt.nd_opt_len = 1; /* in units of 8 bytes: header and MAC */
	memcpy(msg.mac, mac, MAC_LEN);
	inet_pton(AF_INET6, "ff02::1", &all_nodes.sin6_addr);
	/* The kernel fills in the ICMPv6 checksum of a raw ICMPv6 socket. */
	ssize_t n =
		sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&all_nodes, sizeof(all_nodes));
	int r = n < 0 ? err_setf(errno, "sending neighbour advertisement: %s", strerror(errno)) : 0;
	close(fd);
	return r;
}

static int announce(const struct ipmove_addr *a, const char *ifname)
{
	uint8_t mac[MAC_LEN];
	int ifindex = 0;
	int r = link_for_announce(a, ifname, &ifindex, mac);

	if (r < 0)
		return r;
	return a->family == AF_INET ? announce_v4(ifindex, mac, a) : announce_v6(ifindex, mac, a);
}

int ipmove_announce(int netns_fd, const struct ipmove_addr *a, const char *ifname)
{
	int saved, r = addr_check(a);

	if (r == 0)
		r = netns_enter(netns_fd, &saved);
	if (r < 0)
		return r;
	return netns_leave(saved, announce(a, ifname));
}
