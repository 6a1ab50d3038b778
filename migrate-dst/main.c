/* migrate-dst: the destination of live migrations (see dst_server.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"
#include "dst_server.h"
#include "err.h"
#include "log.h"

static int main_key(const char *path, struct auth_psk *psk)
{
	int r = auth_psk_load(path, psk);

	if (r < 0)
		return log_error_errno(r, "cannot load the key file %s: %s", path,
				       err_detail()[0] ? err_detail() : strerror(-r));
	if (psk->loose_mode)
		log_warn("key file %s can be read or written by group or others: chmod 600 it",
			 path);
	return 0;
}

static int main_images_dir(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return log_error_errno(-errno, "--images-dir %s", path);
	if (!S_ISDIR(st.st_mode))
		return log_error_errno(-ENOTDIR, "--images-dir %s", path);
	return 0;
}

int main(int argc, char **argv)
{
	struct server_opts opts;
	struct auth_psk psk;
	int r;

	server_log_init(LOG_LEVEL_INFO);
	r = server_opts_parse(argc, argv, &opts);
	if (r < 0) {
		log_error("%s", err_detail());
		return 2;
	}
	if (opts.help) {
		server_usage(stdout);
		return 0;
	}
	if (opts.version) {
		printf("migrate-dst %s\n", MIGRATE_VERSION);
		return 0;
	}
	log_set_level(opts.level);
	if (opts.log_file && server_log_open(opts.log_file) < 0) {
		log_error("%s", err_detail());
		return 1;
	}
	if (main_key(opts.psk_file, &psk) < 0)
		return 1;
	if (opts.images_dir && main_images_dir(opts.images_dir) < 0) {
		auth_psk_fini(&psk);
		return 1;
	}
	r = server_run(&opts, &psk);
	auth_psk_fini(&psk);
	return r < 0 ? 1 : 0;
}
