/*
 * The source side of the network handover that needs no namespace: which local addresses
 * of a process's sockets move with --move-ip (the any address and loopback never do;
 * a v4-mapped IPv6 address moves as the IPv4 address it carries).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent_internal.h"
#include "ipmove.h"
#include "sockdiag.h"

static struct sockdiag_sock sock_with(const char *text)
{
	struct sockdiag_sock s = { .protocol = IPPROTO_TCP, .state = 1 };

	if (inet_pton(AF_INET, text, s.src) == 1) {
		s.family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, s.src), 1);
		s.family = AF_INET6;
	}
	return s;
}

static void test_local_addr(void **state)
{
	static const struct {
		const char *addr;
		bool moves;
		uint8_t family;
	} cases[] = {
		{ "198.18.0.10", true, AF_INET },
		{ "0.0.0.0", false, 0 },
		{ "127.0.0.1", false, 0 },
		{ "fd00::10", true, AF_INET6 },
		{ "::", false, 0 },
		{ "::1", false, 0 },
		{ "::ffff:198.18.0.10", true, AF_INET },
		{ "::ffff:127.0.0.53", false, 0 },
		{ "fe80::1", true, AF_INET6 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockdiag_sock s = sock_with(cases[i].addr);
		struct ipmove_addr a;

		assert_int_equal(agent_net_local_addr(&s, &a), cases[i].moves);
		if (cases[i].moves)
			assert_int_equal(a.family, cases[i].family);
	}
	{
		struct sockdiag_sock s = sock_with("::ffff:198.18.0.10");
		uint8_t want[4] = { 198, 18, 0, 10 };
		struct ipmove_addr a;

		assert_true(agent_net_local_addr(&s, &a));
		assert_memory_equal(a.bytes, want, 4);
	}
	{
		struct sockdiag_sock s = sock_with("198.18.0.10");
		struct ipmove_addr a;

		s.family = 99; /* not inet: never moves */
		assert_false(agent_net_local_addr(&s, &a));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
