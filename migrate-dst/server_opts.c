/* server_opts: the command line of migrate-dst. */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "dst_server.h"
#include "err.h"
#include "session.h"

enum {
	OPT_LISTEN = 256,
	OPT_PSK,
	OPT_IMAGES,
	OPT_LOG,
	OPT_MAX_SESSIONS,
	OPT_VERSION,
	OPT_MOVE_IP_DEV,
};

static const struct option server_options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "psk-file", required_argument, NULL, OPT_PSK },
	{ "images-dir", required_argument, NULL, OPT_IMAGES },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS },
	{ "move-ip-dev", required_argument, NULL, OPT_MOVE_IP_DEV },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void server_usage(FILE *out)
{
	fprintf(out,
		"usage: migrate-dst --listen ADDR:PORT --psk-file FILE [options]\n"
		"\n"
		"The destination of live migrations (`migrate --to ADDR:PORT PID`): accepts\n"
		"authenticated migration streams, builds each process while its pages arrive,\n"
		"and starts it here once the source says Go. One session process per migration.\n"
		"\n"
		"  --listen ADDR:PORT   address to listen on ([::1]:PORT for IPv6, :PORT for all;\n"
		"                       PORT defaults to %d)\n"
		"  --psk-file FILE      the pre-shared key, the same file as the source's\n"
		"                       (keep it mode 600)\n"
		"  --images-dir DIR     also write each migrated process as an image directory\n"
		"                       DIR/PID-TIME/ (migrate show / migrate restore read it); "
		"this\n"
		"                       is done while the process is frozen, so it lengthens the\n"
		"                       freeze window by the time to write its whole memory\n"
		"  --log FILE           append the log to FILE instead of stderr\n"
		"  --max-sessions N     migrations at once (default %u); more are refused (BUSY)\n"
		"  --move-ip-dev IFNAME where the addresses of `migrate --move-ip` go (default:\n"
		"                       the interface this host routes each address through)\n"
		"  -v, --verbose        debug messages\n"
		"  -q, --quiet          errors only\n"
		"  -h, --help           this text\n"
		"      --version        print the version\n"
		"\n"
		"SIGTERM or SIGINT: stop accepting, abort the migrations not yet started here\n"
		"(their sources resume), wait for the others, exit 0.\n",
		SESSION_DEFAULT_PORT, SERVER_DEFAULT_MAX_SESSIONS);
}

/* ADDR:PORT, [V6]:PORT, :PORT, ADDR (default port). */
static int server_opts_listen(const char *arg, struct server_opts *o)
{
	const char *colon, *host = arg, *port = NULL;
	size_t host_len;
	char *end;
	long p;

	if (arg[0] == '[') {
		colon = strchr(arg, ']');
		if (!colon || (colon[1] && colon[1] != ':'))
			return err_setf(-EINVAL, "--listen '%s': expected [IPV6]:PORT", arg);
		host = arg + 1;
		host_len = (size_t)(colon - host);
		port = colon[1] ? colon + 2 : NULL;
	} else {
		colon = strrchr(arg, ':');
		if (colon && strchr(arg, ':') != colon)
			return err_setf(-EINVAL,
					"--listen '%s': write IPv6 addresses as [ADDR]:PORT", arg);
		host_len = colon ? (size_t)(colon - arg) : strlen(arg);
		port = colon ? colon + 1 : NULL;
	}
	if (host_len >= sizeof(o->host))
		return err_setf(-EINVAL, "--listen '%s': address too long", arg);
	memcpy(o->host, host, host_len);
	o->host[host_len] = '\0';
	if (!port) {
		snprintf(o->port, sizeof(o->port), "%d", SESSION_DEFAULT_PORT);
		return 0;
	}
	errno = 0;
	p = strtol(port, &end, 10);
	if (!*port || *end || errno || p < 1 || p > 65535)
		return err_setf(-EINVAL, "--listen '%s': port '%s' is not 1..65535", arg, port);
	snprintf(o->port, sizeof(o->port), "%ld", p);
	return 0;
}

static int server_opts_count(const char *arg, unsigned int *ret)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (!*arg || *end || errno || n < 1 || n > (long)SERVER_MAX_SESSIONS)
		return err_setf(-EINVAL, "--max-sessions '%s': expected 1..%u", arg,
				SERVER_MAX_SESSIONS);
	*ret = (unsigned int)n;
	return 0;
}

static int server_opts_one(int c, const char *arg, struct server_opts *o, bool *listen_seen)
{
	switch (c) {
	case OPT_LISTEN:
		*listen_seen = true;
		return server_opts_listen(arg, o);
	case OPT_PSK:
		o->psk_file = arg;
		return 0;
	case OPT_IMAGES:
		o->images_dir = arg;
		return 0;
	case OPT_LOG:
		o->log_file = arg;
		return 0;
	case OPT_MAX_SESSIONS:
		return server_opts_count(arg, &o->max_sessions);
	case OPT_MOVE_IP_DEV:
		if (!arg[0] || strlen(arg) >= IF_NAMESIZE || strchr(arg, '/'))
			return err_setf(-EINVAL, "--move-ip-dev '%s': not an interface name", arg);
		o->move_ip_dev = arg;
		return 0;
	case 'v':
		o->level = LOG_LEVEL_DEBUG;
		return 0;
	case 'q':
		o->level = LOG_LEVEL_QUIET;
		return 0;
	case 'h':
		o->help = true;
		return 0;
	case OPT_VERSION:
		o->version = true;
		return 0;
	}
	return err_setf(-EINVAL, "unknown option (see --help)");
}

int server_opts_parse(int argc, char **argv, struct server_opts *ret)
{
	struct server_opts o = { .max_sessions = SERVER_DEFAULT_MAX_SESSIONS,
				 .level = LOG_LEVEL_INFO };
	bool listen_seen = false;
	int c, r;

	optind = 0; /* glibc: a full restart, so that tests can parse several times */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "vqh", server_options, NULL)) != -1) {
		if (c == '?')
			return err_setf(-EINVAL,
					"unknown option or missing value: '%s' (see --help)",
					argv[optind - 1]);
		r = server_opts_one(c, optarg, &o, &listen_seen);
		if (r < 0)
			return r;
	}
	if (optind < argc)
		return err_setf(-EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
	if (!o.help && !o.version) {
		if (!listen_seen)
			return err_setf(-EINVAL, "--listen ADDR:PORT is required (see --help)");
		if (!o.psk_file)
			return err_setf(-EINVAL, "--psk-file FILE is required: migrate-dst never "
						 "accepts unauthenticated peers");
	}
	*ret = o;
	return 0;
}
