/*
 * netlock: see netlock.h. Builds nf_tables netlink messages by hand into one
 * buffer (a batch: BEGIN, messages, END) and sends it with one sendmsg(), which
 * is what makes the kernel apply it as one transaction.
 */
#include "netlock.h"
#include "netns.h"

#include "err.h"
#include "log.h"
#include "sockdiag.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TABLE_PREFIX "migrate_lock_"
/* NETLOCK_F_PERSIST: a prefix cleanup_stale() does not parse, so never judges stale. */
#define TABLE_PREFIX_PERSIST "migrate_dumplock_"
#define CHAIN_IN "in"
#define CHAIN_OUT "out"
/* Before conntrack (-200): a dropped packet leaves no connection-tracking state. */
#define CHAIN_PRIORITY (-300)
#define RECV_BUF_SIZE (64u << 10)
#define NAME_MAX_LEN 64

struct netlock {
	int fd; /* the netlink socket that made the table (its owner) */
	char table[NAME_MAX_LEN];
};

/* A growing message buffer. */
struct nlbuf {
	uint8_t *data;
	size_t len, cap;
	uint32_t seq;	 /* sequence number of the last message begun */
	size_t last_off; /* offset of the last message begun */
	int failed;	 /* -ENOMEM once an append failed: checked once at the end */
};

/* Sequence numbers never repeat within the process, so no answer is taken for another's. */
static void nlbuf_init(struct nlbuf *b)
{
	static atomic_uint next_seq = 1;

	memset(b, 0, sizeof(*b));
	b->seq = atomic_fetch_add(&next_seq, 1u << 16);
}

static void *nlbuf_put(struct nlbuf *b, size_t len)
{
	size_t alen = NLMSG_ALIGN(len);

	if (b->failed)
		return NULL;
	if (b->len + alen > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + alen)
			cap *= 2;
		uint8_t *d = realloc(b->data, cap);
		if (!d) {
			b->failed = -ENOMEM;
			return NULL;
		}
		b->data = d;
		b->cap = cap;
	}
	void *p = b->data + b->len;
	memset(p, 0, alen);
	b->len += alen;
	return p;
}

/* Begins a message; returns its offset (for msg_end()), or 0 when out of memory. */
static size_t msg_begin(struct nlbuf *b, uint16_t type, uint16_t flags, uint8_t family,
			uint16_t res_id)
{
	size_t off = b->len;
	struct nlmsghdr *h = nlbuf_put(b, NLMSG_HDRLEN + sizeof(struct nfgenmsg));

	if (!h)
		return 0;
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	h->nlmsg_seq = ++b->seq;
	b->last_off = off;
	struct nfgenmsg *g = (void *)((uint8_t *)h + NLMSG_HDRLEN);
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = htons(res_id);
	return off;
}

static void msg_end(struct nlbuf *b, size_t off)
{
	if (!b->failed)
		((struct nlmsghdr *)(b->data + off))->nlmsg_len = (uint32_t)(b->len - off);
}

static void attr_put(struct nlbuf *b, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = nlbuf_put(b, NLA_HDRLEN + len);

	if (!a)
		return;
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
}

static void attr_be32(struct nlbuf *b, uint16_t type, uint32_t v)
{
	uint32_t be = htonl(v);

	attr_put(b, type, &be, sizeof(be));
}

static void attr_str(struct nlbuf *b, uint16_t type, const char *s)
{
	attr_put(b, type, s, strlen(s) + 1);
}

static size_t nest_begin(struct nlbuf *b, uint16_t type)
{
	size_t off = b->len;
	struct nlattr *a = nlbuf_put(b, NLA_HDRLEN);

	if (a)
		a->nla_type = type | NLA_F_NESTED;
	return off;
}

static void nest_end(struct nlbuf *b, size_t off)
{
	if (!b->failed)
		((struct nlattr *)(b->data + off))->nla_len = (uint16_t)(b->len - off);
}

static uint16_t nft_type(int msg)
{
	return (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | msg);
}

/* --- expressions ------------------------------------------------------- */

static size_t expr_begin(struct nlbuf *b, const char *name, size_t *data_off)
{
	size_t elem = nest_begin(b, NFTA_LIST_ELEM);

	attr_str(b, NFTA_EXPR_NAME, name);
	*data_off = nest_begin(b, NFTA_EXPR_DATA);
	return elem;
}

static void expr_end(struct nlbuf *b, size_t elem, size_t data_off)
{
	nest_end(b, data_off);
	nest_end(b, elem);
}

static void expr_meta(struct nlbuf *b, uint32_t key)
{
	size_t data, elem = expr_begin(b, "meta", &data);

	attr_be32(b, NFTA_META_DREG, NFT_REG_1);
	attr_be32(b, NFTA_META_KEY, key);
	expr_end(b, elem, data);
}

static void expr_payload(struct nlbuf *b, uint32_t base, uint32_t offset, uint32_t len)
{
	size_t data, elem = expr_begin(b, "payload", &data);

	attr_be32(b, NFTA_PAYLOAD_DREG, NFT_REG_1);
	attr_be32(b, NFTA_PAYLOAD_BASE, base);
	attr_be32(b, NFTA_PAYLOAD_OFFSET, offset);
	attr_be32(b, NFTA_PAYLOAD_LEN, len);
	expr_end(b, elem, data);
}

static void expr_cmp_eq(struct nlbuf *b, const void *value, size_t len)
{
	size_t data, elem = expr_begin(b, "cmp", &data);

	attr_be32(b, NFTA_CMP_SREG, NFT_REG_1);
	attr_be32(b, NFTA_CMP_OP, NFT_CMP_EQ);
	size_t val = nest_begin(b, NFTA_CMP_DATA);
	attr_put(b, NFTA_DATA_VALUE, value, len);
	nest_end(b, val);
	expr_end(b, elem, data);
}

static void expr_drop(struct nlbuf *b)
{
	size_t data, elem = expr_begin(b, "immediate", &data);

	attr_be32(b, NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
	size_t imm = nest_begin(b, NFTA_IMMEDIATE_DATA);
	size_t verdict = nest_begin(b, NFTA_DATA_VERDICT);
	attr_be32(b, NFTA_VERDICT_CODE, NF_DROP);
	nest_end(b, verdict);
	nest_end(b, imm);
	expr_end(b, elem, data);
}

/* --- the lock's objects ------------------------------------------------ */

static void add_table(struct nlbuf *b, const char *table, unsigned int flags)
{
	size_t m = msg_begin(b, nft_type(NFT_MSG_NEWTABLE), NLM_F_CREATE | NLM_F_EXCL, NFPROTO_INET,
			     0);

	attr_str(b, NFTA_TABLE_NAME, table);
	attr_be32(b, NFTA_TABLE_FLAGS, (flags & NETLOCK_F_NOT_OWNED) ? 0 : NFT_TABLE_F_OWNER);
	msg_end(b, m);
}

static void add_chain(struct nlbuf *b, const char *table, const char *chain, uint32_t hooknum)
{
	size_t m = msg_begin(b, nft_type(NFT_MSG_NEWCHAIN), NLM_F_CREATE | NLM_F_EXCL, NFPROTO_INET,
			     0);

	attr_str(b, NFTA_CHAIN_TABLE, table);
	attr_str(b, NFTA_CHAIN_NAME, chain);
	size_t hook = nest_begin(b, NFTA_CHAIN_HOOK);
	attr_be32(b, NFTA_HOOK_HOOKNUM, hooknum);
	attr_be32(b, NFTA_HOOK_PRIORITY, (uint32_t)CHAIN_PRIORITY);
	nest_end(b, hook);
	attr_be32(b, NFTA_CHAIN_POLICY, NF_ACCEPT);
	attr_str(b, NFTA_CHAIN_TYPE, "filter");
	msg_end(b, m);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* One side of a packet: address (NULL or all zero: any) and port (0: any). */
struct endpoint {
	const uint8_t *addr;
	uint16_t port;
};

static void match_addr(struct nlbuf *b, int family, bool source, const uint8_t *addr)
{
	size_t len = family == AF_INET ? 4 : 16;
	uint32_t off;

	if (all_zero(addr, len))
		return;
	if (family == AF_INET)
		off = source ? 12 : 16; /* iphdr saddr, daddr */
	else
		off = source ? 8 : 24; /* ipv6hdr saddr, daddr */
	expr_payload(b, NFT_PAYLOAD_NETWORK_HEADER, off, (uint32_t)len);
	expr_cmp_eq(b, addr, len);
}

static void match_port(struct nlbuf *b, bool source, uint16_t port)
{
	uint16_t be = htons(port);

	if (!port)
		return;
	/* TCP and UDP both start with source port, destination port. */
	expr_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, source ? 0 : 2, 2);
	expr_cmp_eq(b, &be, 2);
}

/* A rule dropping packets from src to dst of c's family and protocol. */
static void add_rule(struct nlbuf *b, const char *table, const char *chain,
		     const struct netlock_conn *c, struct endpoint src, struct endpoint dst)
{
	uint8_t nfproto = c->family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	size_t m = msg_begin(b, nft_type(NFT_MSG_NEWRULE), NLM_F_CREATE | NLM_F_APPEND,
			     NFPROTO_INET, 0);

	attr_str(b, NFTA_RULE_TABLE, table);
	attr_str(b, NFTA_RULE_CHAIN, chain);
	size_t exprs = nest_begin(b, NFTA_RULE_EXPRESSIONS);
	/* The family first: in an inet table the network header may be either. */
	expr_meta(b, NFT_META_NFPROTO);
	expr_cmp_eq(b, &nfproto, 1);
	expr_meta(b, NFT_META_L4PROTO);
	expr_cmp_eq(b, &c->protocol, 1);
	match_addr(b, c->family, true, src.addr);
	match_addr(b, c->family, false, dst.addr);
	match_port(b, true, src.port);
	match_port(b, false, dst.port);
	expr_drop(b);
	nest_end(b, exprs);
	msg_end(b, m);
}

static void add_conn_rules(struct nlbuf *b, const char *table, const struct netlock_conn *c)
{
	struct endpoint local = { c->local, c->local_port };
	struct endpoint peer = { c->peer, c->peer_port };

	add_rule(b, table, CHAIN_IN, c, peer, local);
	add_rule(b, table, CHAIN_OUT, c, local, peer);
}

/*
 * A socket bound to [::] with any peer (a listener, an unconnected UDP
 * socket) also takes IPv4 unless it is IPV6_V6ONLY, which the entry does not
 * say: lock IPv4 on its port too. At worst that holds IPv4 traffic of
 * another socket on the same port for the length of the lock.
 */
static void add_dual_stack_rules(struct nlbuf *b, const char *table, const struct netlock_conn *c)
{
	struct netlock_conn v4 = *c;

	if (c->family != AF_INET6 || !all_zero(c->local, 16) || !all_zero(c->peer, 16))
		return;
	v4.family = AF_INET;
	add_conn_rules(b, table, &v4);
}

static void del_table(struct nlbuf *b, const char *table)
{
	size_t m = msg_begin(b, nft_type(NFT_MSG_DELTABLE), 0, NFPROTO_INET, 0);

	attr_str(b, NFTA_TABLE_NAME, table);
	msg_end(b, m);
}

static void batch_begin(struct nlbuf *b)
{
	size_t m = msg_begin(b, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);

	msg_end(b, m);
}

/*
 * Only the last message asks for an ack: the kernel reports every failing
 * message anyway, in order, and keeps going to the end of the batch, so the
 * last ack (or the first error before it) is the verdict. An ack per message
 * would overflow the socket's receive buffer for a large lock.
 */
static void batch_end(struct nlbuf *b)
{
	if (!b->failed)
		((struct nlmsghdr *)(b->data + b->last_off))->nlmsg_flags |= NLM_F_ACK;
	size_t m = msg_begin(b, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);

	msg_end(b, m);
}

/* --- the socket -------------------------------------------------------- */

static int nf_socket_create(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	int one = 1;

	if (fd < 0)
		return err_setf(errno, "netfilter netlink socket: %s", strerror(errno));
	/* Errors carry only the header of the failed message back, not all of it. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return fd;
}

/* A netlink socket belongs to the namespace it was created in: enter netns_fd just for that. */
static int nf_socket_in(int netns_fd)
{
	int saved, fd, r = netns_enter(netns_fd, &saved);

	if (r < 0)
		return r;
	fd = nf_socket_create();
	r = netns_leave(saved, fd);
	if (r < 0 && fd >= 0)
		close(fd);
	return r;
}

static int nf_send(int fd, const struct nlbuf *b)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int size = (int)b->len + (64 << 10);

	/* A large lock is one large message: the batch must go in one sendmsg(). */
	if (b->len > (128u << 10))
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size));
	ssize_t n = sendto(fd, b->data, b->len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	if (n < 0)
		return err_setf(errno, "sending to nf_tables: %s", strerror(errno));
	if ((size_t)n != b->len)
		return err_setf(EIO, "nf_tables took %zd of %zu bytes", n, b->len);
	return 0;
}

static int nf_recv(int fd, uint8_t *buf, int flags)
{
	ssize_t n = recv(fd, buf, RECV_BUF_SIZE, flags | MSG_TRUNC);

	if (n < 0)
		return err_setf(errno, "receiving from nf_tables: %s", strerror(errno));
	if ((size_t)n > RECV_BUF_SIZE)
		return err_setf(EMSGSIZE, "nf_tables answer of %zd bytes truncated", n);
	return (int)n;
}

/* Reads what is still queued after an error, so the socket is clean for the next batch. */
static void nf_drain(int fd, uint8_t *buf)
{
	/* The kernel answers a batch within sendmsg(): all of it is queued already. */
	while (recv(fd, buf, RECV_BUF_SIZE, MSG_DONTWAIT) > 0)
		;
}

/*
 * Scans one answer for acknowledgements: 1 when the last message's ack came,
 * 0 when more are due, or the first error (with what it refused).
 */
static int ack_scan(const uint8_t *buf, size_t len, uint32_t last_seq, const char *what)
{
	for (const struct nlmsghdr *h = (const void *)buf; NLMSG_OK(h, len);
	     h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_type != NLMSG_ERROR)
			continue;
		if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
			return err_setf(EPROTO, "nf_tables: short acknowledgement");
		const struct nlmsgerr *e = NLMSG_DATA(h);
		if (e->error)
			return err_setf(e->error, "nf_tables refused %s (message %u, type %u): %s",
					what, h->nlmsg_seq, e->msg.nlmsg_type & 0xff,
					strerror(-e->error));
		if (h->nlmsg_seq == last_seq)
			return 1;
	}
	return 0;
}

/* Sends a batch (its last message before END, b->seq - 1, asks for the ack), waits for it. */
static int nf_transact(int fd, const struct nlbuf *b, const char *what)
{
	uint8_t *buf = malloc(RECV_BUF_SIZE);
	int r;

	if (!buf)
		return -ENOMEM;
	r = nf_send(fd, b);
	while (r == 0) {
		r = nf_recv(fd, buf, 0);
		if (r == -EINTR) {
			r = 0;
			continue;
		}
		if (r < 0)
			r = r == -ENOBUFS ? err_setf(r, "nf_tables answers overflowed") : r;
		else
			r = ack_scan(buf, (size_t)r, b->seq - 1, what);
	}
	if (r < 0)
		nf_drain(fd, buf);
	free(buf);
	return r < 0 ? r : 0;
}

/* --- names: who owns a table ------------------------------------------- */

/* Start time (clock ticks after boot, /proc/PID/stat field 22) of pid: 0 or -errno. */
static int proc_start_time(pid_t pid, unsigned long long *ret)
{
	char path[64], buf[1024];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* The command name may hold spaces and ')': fields restart after the last ')'. */
	const char *p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	/* Field 3 (state) follows; the start time is field 22, 19 fields later. */
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
		   "%*d %*d %llu",
		   ret) != 1)
		return -EIO;
	return 0;
}

static int table_name_new(char *name, size_t size, unsigned int flags)
{
	static atomic_uint counter;
	unsigned long long start;
	int r = proc_start_time(getpid(), &start);

	if (r < 0)
		return err_setf(r, "reading own start time: %s", strerror(-r));
	snprintf(name, size, "%s%d_%llu_%u",
		 (flags & NETLOCK_F_PERSIST) ? TABLE_PREFIX_PERSIST : TABLE_PREFIX, (int)getpid(),
		 start, atomic_fetch_add(&counter, 1));
	return 0;
}

/* Whether the owner named in a lock table's name is gone: 1 gone, 0 alive or unknown. */
static int table_owner_gone(const char *name)
{
	int pid;
	unsigned long long start, now;
	unsigned int seq;
	char tail;

	if (strncmp(name, TABLE_PREFIX, strlen(TABLE_PREFIX)) != 0)
		return 0;
	if (sscanf(name + strlen(TABLE_PREFIX), "%d_%llu_%u%c", &pid, &start, &seq, &tail) != 3 ||
	    pid <= 0)
		return 0;
	int r = proc_start_time(pid, &now);
	if (r == -ENOENT || r == -ESRCH)
		return 1;
	return r == 0 && now != start;
}

/* --- the API ----------------------------------------------------------- */

static int conn_normalize(const struct netlock_conn *in, struct netlock_conn *out, size_t i)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	*out = *in;
	if (in->family != AF_INET && in->family != AF_INET6)
		return err_setf(EINVAL, "connection %zu: family %u is not AF_INET or AF_INET6", i,
				in->family);
	if (in->protocol != IPPROTO_TCP && in->protocol != IPPROTO_UDP)
		return err_setf(EINVAL, "connection %zu: protocol %u is not TCP or UDP", i,
				in->protocol);
	if (!in->local_port)
		return err_setf(EINVAL, "connection %zu: local port 0", i);
	/* A v4-mapped socket's packets are IPv4: the peer is then v4-mapped (or any) too. */
	if (in->family == AF_INET6 && !memcmp(in->local, v4mapped, 12)) {
		out->family = AF_INET;
		memset(out->local, 0, sizeof(out->local));
		memset(out->peer, 0, sizeof(out->peer));
		memcpy(out->local, in->local + 12, 4);
		memcpy(out->peer, in->peer + 12, 4);
	}
	return 0;
}

void netlock_conn_from_sock(const struct sockdiag_sock *s, struct netlock_conn *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->family = s->family;
	ret->protocol = s->protocol;
	memcpy(ret->local, s->src, sizeof(ret->local));
	memcpy(ret->peer, s->dst, sizeof(ret->peer));
	ret->local_port = s->sport;
	ret->peer_port = s->dport;
}

static int build_lock(struct nlbuf *b, const char *table, const struct netlock_conn *conns,
		      size_t n, unsigned int flags)
{
	batch_begin(b);
	add_table(b, table, flags);
	add_chain(b, table, CHAIN_IN, NF_INET_LOCAL_IN);
	add_chain(b, table, CHAIN_OUT, NF_INET_LOCAL_OUT);
	for (size_t i = 0; i < n; i++) {
		struct netlock_conn c;
		int r = conn_normalize(&conns[i], &c, i);
		if (r < 0)
			return r;
		add_conn_rules(b, table, &c);
		add_dual_stack_rules(b, table, &c);
	}
	batch_end(b);
	return b->failed;
}

int netlock_acquire(int netns_fd, const struct netlock_conn *conns, size_t n, unsigned int flags,
		    struct netlock **ret)
{
	struct nlbuf b;
	struct netlock *lock;
	int r;

	nlbuf_init(&b);
	if (n > NETLOCK_MAX_CONNS)
		return err_setf(E2BIG, "%zu connections to lock, at most %u", n, NETLOCK_MAX_CONNS);
	lock = calloc(1, sizeof(*lock));
	if (!lock)
		return -ENOMEM;
	if (flags & NETLOCK_F_PERSIST)
		flags |= NETLOCK_F_NOT_OWNED;
	r = table_name_new(lock->table, sizeof(lock->table), flags);
	if (r == 0)
		r = build_lock(&b, lock->table, conns, n, flags);
	lock->fd = r < 0 ? -1 : nf_socket_in(netns_fd);
	if (r == 0 && lock->fd < 0)
		r = lock->fd;
	if (r == 0)
		r = nf_transact(lock->fd, &b, "the network lock");
	if (r == -EOPNOTSUPP && lock->fd >= 0 && !(flags & NETLOCK_F_NOT_OWNED)) {
		/* A kernel before 5.12 has no owner flag: cleanup_stale() then covers crashes. */
		free(b.data);
		nlbuf_init(&b);
		r = build_lock(&b, lock->table, conns, n, flags | NETLOCK_F_NOT_OWNED);
		if (r == 0)
			r = nf_transact(lock->fd, &b, "the network lock");
	}
	free(b.data);
	if (r < 0) {
		/* The batch was refused as a whole: nothing of it is in the kernel. */
		if (lock->fd >= 0)
			close(lock->fd);
		free(lock);
		return r;
	}
	log_debug("network lock %s: %zu connections", lock->table, n);
	*ret = lock;
	return 0;
}

static int delete_tables(int fd, const char *const *names, size_t n)
{
	struct nlbuf b;
	int r;

	nlbuf_init(&b);
	batch_begin(&b);
	for (size_t i = 0; i < n; i++)
		del_table(&b, names[i]);
	batch_end(&b);
	r = b.failed ? b.failed : nf_transact(fd, &b, "deleting a lock table");
	free(b.data);
	return r;
}

int netlock_release(struct netlock **lockp)
{
	struct netlock *lock = lockp ? *lockp : NULL;
	const char *name;
	int r;

	if (!lock)
		return 0;
	*lockp = NULL; /* released even when the delete fails: see the header */
	name = lock->table;
	r = delete_tables(lock->fd, &name, 1);
	if (r == -ENOENT)
		r = 0; /* already gone: what release wants */
	close(lock->fd);
	log_debug("network lock %s released: %d", lock->table, r);
	free(lock);
	return r;
}

void netlock_leave(struct netlock **lockp)
{
	struct netlock *lock = lockp ? *lockp : NULL;

	if (!lock)
		return;
	*lockp = NULL;
	log_debug("network lock %s left in place", lock->table);
	close(lock->fd);
	free(lock);
}

const char *netlock_table_name(const struct netlock *lock)
{
	return lock->table;
}

/* --- listing ----------------------------------------------------------- */

struct table_info {
	char name[NAME_MAX_LEN];
	uint32_t flags;
};

struct table_list {
	struct table_info *v;
	size_t n, cap;
};

static int table_list_add(struct table_list *l, const struct table_info *t)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct table_info *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *t;
	return 0;
}

/* One NEWTABLE message of the dump: name and flags. Names too long for ours are skipped. */
static int table_parse(const struct nlmsghdr *h, struct table_list *l)
{
	size_t hdr = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	struct table_info t = { 0 };
	bool named = false;

	if (h->nlmsg_len < hdr)
		return err_setf(EPROTO, "nf_tables: short table message");
	const uint8_t *p = (const uint8_t *)h + hdr;
	size_t left = h->nlmsg_len - hdr;
	while (left >= NLA_HDRLEN) {
		const struct nlattr *a = (const void *)p;
		if (a->nla_len < NLA_HDRLEN || a->nla_len > left)
			return err_setf(EPROTO, "nf_tables: malformed table attribute");
		size_t dlen = a->nla_len - NLA_HDRLEN;
		const uint8_t *d = p + NLA_HDRLEN;
		uint16_t type = a->nla_type & NLA_TYPE_MASK;
		if (type == NFTA_TABLE_NAME && dlen > 0 && dlen <= sizeof(t.name) &&
		    d[dlen - 1] == '\0') {
			memcpy(t.name, d, dlen);
			named = true;
		} else if (type == NFTA_TABLE_FLAGS && dlen == 4) {
			uint32_t be;
			memcpy(&be, d, 4);
			t.flags = ntohl(be);
		}
		size_t step = NLA_ALIGN(a->nla_len);
		if (step >= left)
			break;
		p += step;
		left -= step;
	}
	return named ? table_list_add(l, &t) : 0;
}

/* Parses one answer of the dump: 1 when done, 0 when more is to come, or -errno. */
static int dump_scan(const uint8_t *buf, size_t len, uint32_t seq, struct table_list *l)
{
	for (const struct nlmsghdr *h = (const void *)buf; NLMSG_OK(h, len);
	     h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_seq != seq)
			continue;
		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return err_setf(EPROTO, "nf_tables: short error");
			return err_setf(e->error ? e->error : EPROTO,
					"nf_tables: listing tables: %s", strerror(-e->error));
		}
		if (h->nlmsg_type == nft_type(NFT_MSG_NEWTABLE)) {
			int r = table_parse(h, l);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int tables_list(int fd, struct table_list *l)
{
	struct nlbuf b;
	uint8_t *buf = malloc(RECV_BUF_SIZE);
	int r;

	nlbuf_init(&b);
	if (!buf)
		return -ENOMEM;
	size_t m = msg_begin(&b, nft_type(NFT_MSG_GETTABLE), NLM_F_DUMP, NFPROTO_INET, 0);
	msg_end(&b, m);
	r = b.failed ? b.failed : nf_send(fd, &b);
	while (r == 0) {
		r = nf_recv(fd, buf, 0);
		if (r == -EINTR)
			r = 0;
		else if (r >= 0)
			r = dump_scan(buf, (size_t)r, b.seq, l);
	}
	free(b.data);
	free(buf);
	return r < 0 ? r : 0;
}

static int stale_names(const struct table_list *l, const char ***ret, size_t *ret_n)
{
	const char **names = calloc(l->n ? l->n : 1, sizeof(*names));
	size_t n = 0;

	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++)
		if (!(l->v[i].flags & NFT_TABLE_F_OWNER) && table_owner_gone(l->v[i].name))
			names[n++] = l->v[i].name;
	*ret = names;
	*ret_n = n;
	return 0;
}

int netlock_cleanup_stale(int netns_fd, unsigned int *ret_removed)
{
	struct table_list l = { 0 };
	const char **names = NULL;
	size_t n = 0;
	int fd = nf_socket_in(netns_fd);
	int r = fd;

	if (fd >= 0)
		r = tables_list(fd, &l);
	if (r >= 0)
		r = stale_names(&l, &names, &n);
	if (r >= 0 && n > 0)
		r = delete_tables(fd, names, n);
	for (size_t i = 0; r >= 0 && i < n; i++)
		log_debug("network lock: removed stale table %s", names[i]);
	if (r >= 0 && ret_removed)
		*ret_removed = (unsigned int)n;
	free(names);
	free(l.v);
	if (fd >= 0)
		close(fd);
	return r < 0 ? r : 0;
}

int netlock_remove_table(int netns_fd, const char *name)
{
	int fd, r;

	if (!name || strlen(name) >= NAME_MAX_LEN ||
	    (strncmp(name, TABLE_PREFIX, strlen(TABLE_PREFIX)) != 0 &&
	     strncmp(name, TABLE_PREFIX_PERSIST, strlen(TABLE_PREFIX_PERSIST)) != 0))
		return err_setf(EINVAL, "'%s' is not the name of a network lock table",
				name ? name : "(null)");
	fd = nf_socket_in(netns_fd);
	if (fd < 0)
		return fd;
	r = delete_tables(fd, &name, 1);
	close(fd);
	if (r == 0)
		log_debug("network lock: removed table %s", name);
	return r;
}

int netlock_table_exists(int netns_fd, const char *name)
{
	struct table_list l = { 0 };
	int fd = nf_socket_in(netns_fd);
	int r = fd;

	if (fd >= 0)
		r = tables_list(fd, &l);
	if (r >= 0) {
		r = 0;
		for (size_t i = 0; i < l.n && !r; i++)
			r = strcmp(l.v[i].name, name) == 0;
	}
	free(l.v);
	if (fd >= 0)
		close(fd);
	return r;
}
