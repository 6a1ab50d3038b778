/*
 * agent_report: the report of `migrate --to` as text and as JSON (see agent.h).
 *
 * Both forms show the same numbers; times are milliseconds with three
 * decimals, sizes are bytes in JSON and MiB in text. Nothing here touches the
 * process or the socket, so test_agent_report can check the JSON structurally.
 */
#include <stdio.h>

#include "agent.h"
#include "precopy.h"

#define AGENT_PAGE 4096.0

const char *agent_outcome_name(enum agent_outcome outcome)
{
	switch (outcome) {
	case AGENT_OK:
		return "ok";
	case AGENT_RESUMED:
		return "resumed";
	case AGENT_UNKNOWN:
		return "unknown";
	case AGENT_REFUSED:
		return "refused";
	}
	return "?";
}

static double agent_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* Bytes per second, 0 when the time is unknown (JSON has no infinity). */
static double agent_rate(double bytes, uint64_t ns)
{
	return ns ? bytes * 1e9 / (double)ns : 0;
}

double agent_report_dirty_rate(const struct agent_report *rep, size_t i)
{
	if (i == 0 || i >= rep->nr_rounds)
		return 0;
	return agent_rate((double)rep->rounds[i].dirty_pages * AGENT_PAGE,
			  rep->rounds[i - 1].duration_ns);
}

static void agent_json_round(FILE *f, const struct agent_report *rep, size_t i)
{
	const struct agent_round_stats *r = &rep->rounds[i];

	fprintf(f,
		"{\"round\":%u,\"final\":%s,\"dirty_pages\":%llu,\"pages\":%llu,"
		"\"zero_pages\":%llu,\"bytes\":%llu,\"duration_ms\":%.3f,\"apply_ms\":%.3f,"
		"\"dirty_rate_mbps\":%.3f,\"bandwidth_mbps\":%.3f}",
		r->round, r->final ? "true" : "false", (unsigned long long)r->dirty_pages,
		(unsigned long long)r->pages, (unsigned long long)r->zero_pages,
		(unsigned long long)r->bytes, agent_ms(r->duration_ns), agent_ms(r->apply_ns),
		agent_report_dirty_rate(rep, i) / 1e6,
		agent_rate((double)r->bytes, r->duration_ns) / 1e6);
}

/* The network parts of the window: the source's, then the destination's. */
static void agent_json_network(FILE *f, const struct agent_report *rep)
{
	fprintf(f,
		"\"network\":{\"sockets\":%u,\"established\":%u,\"ips_moved\":%u,"
		"\"lock_ms\":%.3f,\"socket_dump_ms\":%.3f,\"ip_release_ms\":%.3f,"
		"\"unlock_ms\":%.3f,\"destination\":{\"sockets\":%u,\"socket_restore_ms\":%.3f,"
		"\"ip_check_ms\":%.3f,\"ip_claim_ms\":%.3f,\"socket_resume_ms\":%.3f}}",
		rep->sockets, rep->established, rep->ips_moved, agent_ms(rep->lock_ns),
		agent_ms(rep->sock_dump_ns), agent_ms(rep->ip_release_ns), agent_ms(rep->unlock_ns),
		rep->dst_sockets, agent_ms(rep->dst_sock_restore_ns),
		agent_ms(rep->dst_net_check_ns), agent_ms(rep->dst_ip_claim_ns),
		agent_ms(rep->dst_sock_resume_ns));
}

static void agent_json_window(FILE *f, const struct agent_report *rep)
{
	fprintf(f,
		"\"freeze_window\":{\"total_ms\":%.3f,\"freeze_ms\":%.3f,\"state_ms\":%.3f,"
		"\"last_pages_ms\":%.3f,\"restore_ms\":%.3f,\"resume_ms\":%.3f,"
		"\"destination\":{\"layout_ms\":%.3f,\"pages_ms\":%.3f,\"finish_ms\":%.3f,"
		"\"resume_ms\":%.3f},",
		agent_ms(rep->window_ns), agent_ms(rep->freeze_ns), agent_ms(rep->state_ns),
		agent_ms(rep->last_pages_ns), agent_ms(rep->restore_ns), agent_ms(rep->resume_ns),
		agent_ms(rep->dst_layout_ns), agent_ms(rep->dst_pages_ns),
		agent_ms(rep->dst_finish_ns), agent_ms(rep->dst_resume_ns));
	agent_json_network(f, rep);
	fputc('}', f);
}

static void agent_json_totals(FILE *f, const struct agent_report *rep)
{
	double ratio = rep->rss_bytes ? (double)rep->total_bytes / (double)rep->rss_bytes : 0;

	fprintf(f,
		"\"totals\":{\"time_ms\":%.3f,\"bytes\":%llu,\"rss_bytes\":%llu,"
		"\"bytes_per_rss\":%.3f,\"rounds\":%zu}",
		agent_ms(rep->total_ns), (unsigned long long)rep->total_bytes,
		(unsigned long long)rep->rss_bytes, ratio, rep->nr_rounds);
}

void agent_report_json(FILE *f, const struct agent_report *rep)
{
	fprintf(f, "{\"verdict\":");
	precopy_json_string(f, agent_outcome_name(rep->outcome));
	fprintf(f, ",\"ok\":%s,\"message\":", rep->outcome == AGENT_OK ? "true" : "false");
	precopy_json_string(f, rep->outcome == AGENT_OK ? NULL : rep->message);
	fprintf(f, ",\"pid\":%d,\"processes\":%u,\"destination\":", (int)rep->pid,
		rep->processes ? rep->processes : 1);
	precopy_json_string(f, rep->peer);
	fprintf(f, ",\"dst_pid\":%u,\"tracker\":", rep->dst_pid);
	precopy_json_string(f, track_kind_name(rep->tracker));
	fprintf(f, ",\"tracker_why\":");
	precopy_json_string(f, rep->tracker_why);
	fprintf(f, ",\"converge_reason\":");
	precopy_json_string(f, rep->converge_reason ? rep->converge_reason : "");
	fprintf(f, ",\"predicted_ms\":%.3f,\"rounds\":[", agent_ms(rep->predicted_ns));
	for (size_t i = 0; i < rep->nr_rounds; i++) {
		if (i)
			fputc(',', f);
		agent_json_round(f, rep, i);
	}
	fprintf(f, "],");
	agent_json_window(f, rep);
	fputc(',', f);
	agent_json_totals(f, rep);
	fprintf(f, ",\"images_written\":%s}\n", rep->images_written ? "true" : "false");
}

static void agent_text_rounds(FILE *f, const struct agent_report *rep)
{
	fprintf(f, "%6s %10s %10s %12s %10s %12s %12s\n", "round", "dirty", "pages", "wire MiB",
		"ms", "dirty MB/s", "wire MB/s");
	for (size_t i = 0; i < rep->nr_rounds; i++) {
		const struct agent_round_stats *r = &rep->rounds[i];
		char name[16];

		snprintf(name, sizeof(name), "%u%s", r->round, r->final ? "*" : "");
		fprintf(f, "%6s %10llu %10llu %12.2f %10.1f %12.1f %12.1f\n", name,
			(unsigned long long)r->dirty_pages, (unsigned long long)r->pages,
			(double)r->bytes / 1048576.0, agent_ms(r->duration_ns),
			agent_report_dirty_rate(rep, i) / 1e6,
			agent_rate((double)r->bytes, r->duration_ns) / 1e6);
	}
	if (rep->nr_rounds)
		fprintf(f, "(* final round, sent while frozen; round 0 'dirty' = pages a dump "
			   "holds)\n");
}

/* A part of the network handover (fractions of a ms: two decimals); "-" when not measured. */
static void agent_text_part(FILE *f, const char *name, uint64_t ns)
{
	if (ns)
		fprintf(f, " %s %.2f", name, agent_ms(ns));
	else
		fprintf(f, " %s -", name);
}

static void agent_text_network(FILE *f, const struct agent_report *rep)
{
	fprintf(f, "  network (%u socket%s, %u established, %u address%s moved):", rep->sockets,
		rep->sockets == 1 ? "" : "s", rep->established, rep->ips_moved,
		rep->ips_moved == 1 ? "" : "es");
	agent_text_part(f, "lock", rep->lock_ns);
	agent_text_part(f, "+ socket dump", rep->sock_dump_ns);
	agent_text_part(f, "+ address release", rep->ip_release_ns);
	fprintf(f, " ms\n    at the destination:");
	agent_text_part(f, "socket restore", rep->dst_sock_restore_ns);
	agent_text_part(f, "+ address check", rep->dst_net_check_ns);
	agent_text_part(f, "+ address claim", rep->dst_ip_claim_ns);
	agent_text_part(f, "+ out of repair", rep->dst_sock_resume_ns);
	fprintf(f, " ms; unlock here after the verdict %.1f ms\n", agent_ms(rep->unlock_ns));
}

static void agent_text_window(FILE *f, const struct agent_report *rep)
{
	fprintf(f, "freeze window %.1f ms =", agent_ms(rep->window_ns));
	if (rep->sockets)
		fprintf(f, " lock %.1f +", agent_ms(rep->lock_ns));
	fprintf(f, " freeze %.1f + state %.1f + last pages %.1f + restore %.1f",
		agent_ms(rep->freeze_ns), agent_ms(rep->state_ns), agent_ms(rep->last_pages_ns),
		agent_ms(rep->restore_ns));
	if (rep->ips_moved)
		fprintf(f, " + address release %.1f", agent_ms(rep->ip_release_ns));
	fprintf(f, " + resume %.1f\n", agent_ms(rep->resume_ns));
	fprintf(f, "  at the destination: layout %.1f, pages %.1f, finish %.1f, resume %.1f ms\n",
		agent_ms(rep->dst_layout_ns), agent_ms(rep->dst_pages_ns),
		agent_ms(rep->dst_finish_ns), agent_ms(rep->dst_resume_ns));
	if (rep->sockets)
		agent_text_network(f, rep);
	if (rep->predicted_ns)
		fprintf(f, "  predicted %.1f ms when pre-copy stopped (%s)\n",
			agent_ms(rep->predicted_ns),
			rep->converge_reason && rep->converge_reason[0] ? rep->converge_reason
									: "?");
}

void agent_report_text(FILE *f, const struct agent_report *rep)
{
	double ratio = rep->rss_bytes ? (double)rep->total_bytes / (double)rep->rss_bytes : 0;

	fprintf(f, "migration of pid %d to %s: %s", (int)rep->pid, rep->peer,
		agent_outcome_name(rep->outcome));
	if (rep->outcome == AGENT_OK)
		fprintf(f, " (pid %u there)", rep->dst_pid);
	if (rep->processes > 1)
		fprintf(f, "\na tree of %u processes: the figures below are summed over them",
			rep->processes);
	fprintf(f, "\ntracker %s: %s\n", track_kind_name(rep->tracker), rep->tracker_why);
	agent_text_rounds(f, rep);
	if (rep->outcome == AGENT_OK)
		agent_text_window(f, rep);
	fprintf(f,
		"total %.1f ms, %.2f MiB on the wire for %.2f MiB resident (%.2fx), %zu "
		"round%s\n",
		agent_ms(rep->total_ns), (double)rep->total_bytes / 1048576.0,
		(double)rep->rss_bytes / 1048576.0, ratio, rep->nr_rounds,
		rep->nr_rounds == 1 ? "" : "s");
}
