/*
 * test_agent_report: the report of `migrate --to` as JSON is one valid JSON
 * object with every documented key, numbers where numbers are promised and
 * hostile strings escaped; the text form holds the table and the window.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent.h"

/* A small strict JSON checker: enough to say the output parses. */
struct json {
	const char *p;
};

static int json_value(struct json *j);

static void json_ws(struct json *j)
{
	while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
		j->p++;
}

static int json_string(struct json *j)
{
	if (*j->p != '"')
		return -1;
	for (j->p++; *j->p != '"'; j->p++) {
		if ((unsigned char)*j->p < 0x20)
			return -1;
		if (*j->p != '\\')
			continue;
		j->p++;
		if (*j->p == 'u') {
			for (int i = 1; i <= 4; i++)
				if (!isxdigit((unsigned char)j->p[i]))
					return -1;
			j->p += 4;
		} else if (!strchr("\"\\/bfnrt", *j->p) || !*j->p) {
			return -1;
		}
	}
	j->p++;
	return 0;
}

static int json_number(struct json *j)
{
	char *end;

	if (*j->p != '-' && !isdigit((unsigned char)*j->p))
		return -1;
	(void)strtod(j->p, &end);
	if (end == j->p)
		return -1;
	j->p = end;
	return 0;
}

static int json_list(struct json *j, char close, bool members)
{
	j->p++;
	json_ws(j);
	if (*j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		json_ws(j);
		if (members) {
			if (json_string(j) < 0)
				return -1;
			json_ws(j);
			if (*j->p++ != ':')
				return -1;
		}
		if (json_value(j) < 0)
			return -1;
		json_ws(j);
		if (*j->p == close) {
			j->p++;
			return 0;
		}
		if (*j->p++ != ',')
			return -1;
	}
}

static int json_value(struct json *j)
{
	json_ws(j);
	if (*j->p == '{')
		return json_list(j, '}', true);
	if (*j->p == '[')
		return json_list(j, ']', false);
	if (*j->p == '"')
		return json_string(j);
	for (const char *const *w = (const char *const[]){ "true", "false", "null", NULL }; *w; w++)
		if (strncmp(j->p, *w, strlen(*w)) == 0) {
			j->p += strlen(*w);
			return 0;
		}
	return json_number(j);
}

static bool json_valid(const char *text)
{
	struct json j = { text };

	if (json_value(&j) < 0)
		return false;
	json_ws(&j);
	return *j.p == '\0';
}

/* The value after "key": must be a JSON number. */
static void assert_number_key(const char *json, const char *key)
{
	char pat[64];
	const char *at;
	struct json j;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	at = strstr(json, pat);
	if (!at)
		fail_msg("key %s missing in %s", key, json);
	j.p = at + strlen(pat);
	if (json_number(&j) < 0)
		fail_msg("key %s is not a number in %s", key, json);
}

static char *report_json(const struct agent_report *rep)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	agent_report_json(f, rep);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void report_fill(struct agent_report *rep, struct agent_round_stats *rounds)
{
	memset(rep, 0, sizeof(*rep));
	rep->outcome = AGENT_OK;
	rep->pid = 4120;
	snprintf(rep->peer, sizeof(rep->peer), "10.0.0.2:7070");
	rep->tracker = TRACK_UFFD_WP;
	snprintf(rep->tracker_why, sizeof(rep->tracker_why), "auto: the best one");
	rounds[0] = (struct agent_round_stats){ .round = 0,
						.dirty_pages = 16384,
						.pages = 16384,
						.bytes = 70000000,
						.duration_ns = 60000000 };
	rounds[1] = (struct agent_round_stats){ .round = 1,
						.dirty_pages = 1000,
						.pages = 1000,
						.bytes = 4100000,
						.duration_ns = 5000000 };
	rounds[2] = (struct agent_round_stats){ .round = 2,
						.final = true,
						.dirty_pages = 20,
						.pages = 20,
						.bytes = 82000,
						.duration_ns = 400000 };
	rep->rounds = rounds;
	rep->nr_rounds = 3;
	rep->converge_reason = "fits";
	rep->predicted_ns = 21000000;
	rep->window_ns = 9000000;
	rep->freeze_ns = 100000;
	rep->restore_ns = 2000000;
	rep->dst_pid = 4120;
	rep->total_ns = 80000000;
	rep->total_bytes = 74182000;
	rep->rss_bytes = 67108864;
	rep->sockets = 2;
	rep->established = 1;
	rep->ips_moved = 1;
	rep->lock_ns = 300000;
	rep->sock_dump_ns = 150000;
	rep->ip_release_ns = 120000;
	rep->unlock_ns = 14000000;
	rep->dst_sockets = 2;
	rep->dst_sock_restore_ns = 400000;
	rep->dst_net_check_ns = 250000;
	rep->dst_ip_claim_ns = 110000;
	rep->dst_sock_resume_ns = 40000;
}

static void test_json_structure(void **state)
{
	static const char *const numbers[] = {
		"pid",	       "dst_pid",   "predicted_ms",    "round",
		"dirty_pages", "pages",	    "zero_pages",      "bytes",
		"duration_ms", "apply_ms",  "dirty_rate_mbps", "bandwidth_mbps",
		"total_ms",    "freeze_ms", "state_ms",	       "last_pages_ms",
		"restore_ms",  "resume_ms", "layout_ms",       "pages_ms",
		"finish_ms",   "time_ms",   "rss_bytes",       "bytes_per_rss",
		"lock_ms",     "socket_dump_ms", "ip_release_ms", "unlock_ms",
		"socket_restore_ms", "ip_check_ms", "ip_claim_ms", "socket_resume_ms",
		"sockets",     "established", "ips_moved",   "processes",
		"rounds\":3", /* the totals' count, after the rounds array */
	};
	struct agent_round_stats rounds[3];
	struct agent_report rep;
	char *json;

	(void)state;
	report_fill(&rep, rounds);
	json = report_json(&rep);
	assert_true(json_valid(json));
	assert_non_null(strstr(json, "\"verdict\":\"ok\""));
	assert_non_null(strstr(json, "\"ok\":true"));
	assert_non_null(strstr(json, "\"message\":null"));
	assert_non_null(strstr(json, "\"tracker\":\"uffd-wp\""));
	assert_non_null(strstr(json, "\"converge_reason\":\"fits\""));
	assert_non_null(strstr(json, "\"destination\":\"10.0.0.2:7070\""));
	assert_non_null(strstr(json, "\"rounds\":[{\"round\":0,"));
	assert_non_null(strstr(json, "\"final\":true"));
	assert_non_null(strstr(json, "\"freeze_window\":{"));
	assert_non_null(strstr(json, "\"network\":{\"sockets\":2,\"established\":1,"));
	assert_non_null(strstr(json, "\"lock_ms\":0.300,"));
	assert_non_null(strstr(json, "\"ip_claim_ms\":0.110,"));
	assert_non_null(strstr(json, "\"totals\":{"));
	assert_non_null(strstr(json, "\"images_written\":false"));
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		if (strchr(numbers[i], '"'))
			assert_non_null(strstr(json, numbers[i]));
		else
			assert_number_key(json, numbers[i]);
	}
	/* round 1: 1000 pages dirtied during round 0's 60 ms: 68.267 MB/s */
	assert_non_null(strstr(json, "\"dirty_rate_mbps\":68.267"));
	assert_int_equal(json[strlen(json) - 1], '\n');
	/* One process (0 before the checks count them) unless a tree. */
	assert_non_null(strstr(json, "\"processes\":1,"));
	free(json);
	rep.processes = 7;
	json = report_json(&rep);
	assert_non_null(strstr(json, "\"processes\":7,"));
	free(json);
}

static void test_json_failure_escaped(void **state)
{
	struct agent_round_stats rounds[3];
	struct agent_report rep;
	char *json;

	(void)state;
	report_fill(&rep, rounds);
	rep.outcome = AGENT_RESUMED;
	snprintf(rep.message, sizeof(rep.message), "dst said \"no\"\n\tpath C:\\x \x01");
	rep.nr_rounds = 0;
	rep.rounds = NULL;
	rep.converge_reason = NULL;
	json = report_json(&rep);
	assert_true(json_valid(json));
	assert_non_null(strstr(json, "\"verdict\":\"resumed\""));
	assert_non_null(strstr(json, "\"ok\":false"));
	assert_non_null(strstr(json, "\"rounds\":[]"));
	assert_non_null(strstr(json, "\"converge_reason\":\"\""));
	assert_non_null(strstr(json, "dst said \\\"no\\\"\\n"));
	assert_non_null(strstr(json, "\\u0001"));
	free(json);
}

static void test_json_no_division_by_zero(void **state)
{
	struct agent_round_stats rounds[3] = { { 0 } };
	struct agent_report rep;
	char *json;

	(void)state;
	memset(&rep, 0, sizeof(rep));
	rep.outcome = AGENT_UNKNOWN;
	rep.rounds = rounds;
	rep.nr_rounds = 3;
	json = report_json(&rep);
	assert_true(json_valid(json));
	assert_null(strstr(json, "nan"));
	assert_null(strstr(json, "inf"));
	assert_non_null(strstr(json, "\"verdict\":\"unknown\""));
	free(json);
}

static void test_dirty_rate(void **state)
{
	struct agent_round_stats rounds[3];
	struct agent_report rep;

	(void)state;
	report_fill(&rep, rounds);
	assert_true(agent_report_dirty_rate(&rep, 0) == 0);
	assert_true(agent_report_dirty_rate(&rep, 3) == 0);
	/* 20 pages over round 1's 5 ms */
	assert_true(agent_report_dirty_rate(&rep, 2) > 16383999 &&
		    agent_report_dirty_rate(&rep, 2) < 16384001);
}

static void test_text(void **state)
{
	struct agent_round_stats rounds[3];
	struct agent_report rep;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	report_fill(&rep, rounds);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	agent_report_text(f, &rep);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(buf, "migration of pid 4120 to 10.0.0.2:7070: ok"));
	assert_non_null(strstr(buf, "freeze window 9.0 ms = lock 0.3 + freeze 0.1"));
	assert_non_null(strstr(buf, "+ address release 0.1 + resume"));
	assert_non_null(strstr(buf, "network (2 sockets, 1 established, 1 address moved)"));
	assert_non_null(strstr(buf, "socket restore 0.40 + address check 0.25"));
	assert_non_null(strstr(buf, "    2*"));
	assert_non_null(strstr(buf, "3 rounds"));
	assert_null(strstr(buf, "a tree of"));
	free(buf);
	buf = NULL;
	rep.processes = 7;
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	agent_report_text(f, &rep);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(buf, "a tree of 7 processes: the figures below are summed over"));
	free(buf);
}

static void test_json_checker(void **state)
{
	(void)state;
	assert_true(json_valid("{\"a\":[1,-2.5e3,true,null,\"x\\u00e9\"],\"b\":{}}"));
	assert_false(json_valid("{\"a\":1,}"));
	assert_false(json_valid("{\"a\":nan}"));
	assert_false(json_valid("{\"a\":\"\n\"}"));
	assert_false(json_valid("{\"a\":1} x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_checker),
		cmocka_unit_test(test_json_structure),
		cmocka_unit_test(test_json_failure_escaped),
		cmocka_unit_test(test_json_no_division_by_zero),
		cmocka_unit_test(test_dirty_rate),
		cmocka_unit_test(test_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
