/*
 * The network part of a session (migrate-dst): which local addresses of restored sockets
 * need an owner, the route lookup that picks the interface for --move-ip, the checks of a
 * Go frame's addresses (hostile input), and --move-ip-dev on the command line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dst_server.h"
#include "dst_session_internal.h"
#include "ipmove.h"
#include "wire.h"

static TcpSocketEntry entry_with(const char *text, uint8_t buf[16])
{
	TcpSocketEntry e = TCP_SOCKET_ENTRY__INIT;

	if (inet_pton(AF_INET, text, buf) == 1) {
		e.family = AF_INET;
		e.src_addr.len = 4;
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, buf), 1);
		e.family = AF_INET6;
		e.src_addr.len = 16;
	}
	e.src_addr.data = buf;
	return e;
}

static void test_local_addr(void **state)
{
	static const struct {
		const char *addr;
		bool needs_owner;
		uint8_t family;
	} cases[] = {
		{ "198.18.0.10", true, AF_INET },
		{ "0.0.0.0", false, 0 },
		{ "127.0.0.1", false, 0 },
		{ "127.9.9.9", false, 0 },
		{ "fd00::10", true, AF_INET6 },
		{ "::", false, 0 },
		{ "::1", false, 0 },
		{ "::ffff:198.18.0.10", true, AF_INET },
		{ "::ffff:127.0.0.1", false, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[16];
		TcpSocketEntry e = entry_with(cases[i].addr, buf);
		struct ipmove_addr a;
		bool got = session_net_local_addr(&e, &a);

		assert_int_equal(got, cases[i].needs_owner);
		if (got)
			assert_int_equal(a.family, cases[i].family);
	}
	/* v4-mapped: the IPv4 address itself, as ipmove takes it */
	{
		uint8_t buf[16], want[4] = { 198, 18, 0, 10 };
		TcpSocketEntry e = entry_with("::ffff:198.18.0.10", buf);
		struct ipmove_addr a;

		assert_true(session_net_local_addr(&e, &a));
		assert_memory_equal(a.bytes, want, 4);
	}
	/* A length no family has */
	{
		uint8_t buf[16] = { 1 };
		TcpSocketEntry e = entry_with("198.18.0.10", buf);
		struct ipmove_addr a;

		e.src_addr.len = 5;
		assert_false(session_net_local_addr(&e, &a));
	}
}

/* The loopback's own address routes through lo wherever tests run. */
static void test_route_dev(void **state)
{
	struct ipmove_addr a = { .family = AF_INET, .bytes = { 127, 0, 0, 1 } };
	char ifname[IF_NAMESIZE] = "";

	(void)state;
	if (!if_nametoindex("lo"))
		skip();
	assert_int_equal(session_net_route_dev(&a, ifname), 0);
	assert_string_equal(ifname, "lo");
}

/* A Go frame with these addresses, unpacked as the session would. */
static int go_unpack(WireMoveAddr **addrs, size_t n)
{
	WireGo go = WIRE_GO__INIT;
	struct wire_frame f = { .type = WIRE_GO };
	ProtobufCMessage *m = NULL;
	int r;

	go.move_addrs = addrs;
	go.n_move_addrs = n;
	f.len = (uint32_t)protobuf_c_message_get_packed_size(&go.base);
	f.payload = malloc(f.len ? f.len : 1);
	assert_non_null(f.payload);
	protobuf_c_message_pack(&go.base, f.payload);
	r = wire_frame_unpack(&f, &m);
	if (r == 0)
		protobuf_c_message_free_unpacked(m, NULL);
	wire_frame_fini(&f);
	return r;
}

static void test_go_checks(void **state)
{
	uint8_t v4[4] = { 198, 18, 0, 10 }, v6[16] = { 0xfd }, odd[5] = { 0 };
	WireMoveAddr a = WIRE_MOVE_ADDR__INIT, *one[1] = { &a };
	WireMoveAddr **many;

	(void)state;
	assert_int_equal(go_unpack(NULL, 0), 0);
	a.addr.data = v4;
	a.addr.len = 4;
	a.prefixlen = 24;
	assert_int_equal(go_unpack(one, 1), 0);
	a.prefixlen = 32;
	assert_int_equal(go_unpack(one, 1), 0);
	a.prefixlen = 33;
	assert_int_equal(go_unpack(one, 1), -EBADMSG);
	a.prefixlen = 0;
	assert_int_equal(go_unpack(one, 1), -EBADMSG);
	a.addr.data = v6;
	a.addr.len = 16;
	a.prefixlen = 64;
	assert_int_equal(go_unpack(one, 1), 0);
	a.prefixlen = 129;
	assert_int_equal(go_unpack(one, 1), -EBADMSG);
	a.prefixlen = 24;
	a.addr.data = odd;
	a.addr.len = 5;
	assert_int_equal(go_unpack(one, 1), -EBADMSG);
	a.addr.len = 0;
	assert_int_equal(go_unpack(one, 1), -EBADMSG);
	a.addr.data = v4;
	a.addr.len = 4;
	a.ifname = (char *)"an-interface-name-far-too-long";
	assert_int_equal(go_unpack(one, 1), -EBADMSG);
	a.ifname = (char *)"eth0";
	assert_int_equal(go_unpack(one, 1), 0);
	/* More addresses than one Go may move */
	many = calloc(WIRE_MAX_MOVE_ADDRS + 1, sizeof(*many));
	assert_non_null(many);
	for (size_t i = 0; i <= WIRE_MAX_MOVE_ADDRS; i++)
		many[i] = &a;
	assert_int_equal(go_unpack(many, WIRE_MAX_MOVE_ADDRS), 0);
	assert_int_equal(go_unpack(many, WIRE_MAX_MOVE_ADDRS + 1), -EBADMSG);
	free(many);
}

static int opts_parse(struct server_opts *o, const char *extra)
{
	char *argv[] = { (char *)"migrate-dst", (char *)"--listen",
			 (char *)":7070",	(char *)"--psk-file",
			 (char *)"k",		(char *)"--move-ip-dev",
			 (char *)extra,		NULL };

	return server_opts_parse(7, argv, o);
}

static void test_opts_move_ip_dev(void **state)
{
	struct server_opts o;

	(void)state;
	assert_int_equal(opts_parse(&o, "eth0"), 0);
	assert_string_equal(o.move_ip_dev, "eth0");
	assert_int_equal(opts_parse(&o, ""), -EINVAL);
	assert_int_equal(opts_parse(&o, "a-name-of-sixteen"), -EINVAL);
	assert_int_equal(opts_parse(&o, "../eth0"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_addr),
		cmocka_unit_test(test_route_dev),
		cmocka_unit_test(test_go_checks),
		cmocka_unit_test(test_opts_move_ip_dev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
