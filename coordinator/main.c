/*
 * main.c: quell-coordinator. Parse flags, load the config, start the
 * coordinator, wait for SIGTERM/SIGINT.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "coord.h"
#include "daemon.h"
#include "keys.h"
#include "log.h"
#include "tls.h"

#define USAGE                                                                                      \
	"usage: quell-coordinator [-c CONFIG] [--check] [-v] [-V]\n"                               \
	"  -c, --config FILE  coordinator config (default /etc/quell/coordinator.conf)\n"          \
	"      --check        validate the config and its key, certificate and CA files, then "    \
	"exit\n"                                                                                   \
	"  -v, --verbose      log debug messages\n"                                                \
	"  -V, --version      print the version\n"

/* --check: what start-up would read, without listening or opening the store. */
static int check_config(const struct qc_config *cfg, const char *path)
{
	char why[1024];
	if (ql_tls_check(QL_TLS_AGENTS, &cfg->tls, cfg->agent_listen, why, sizeof why) != QL_OK ||
	    ql_tls_check(QL_TLS_CONTROL, &cfg->tls, cfg->control_listen, why, sizeof why) !=
	            QL_OK) {
		ql_error("%s: %s", path, why);
		return 1;
	}
	printf("%s: ok\n", path);
	return 0;
}

static bool alive(void *arg)
{
	return qc_alive(arg);
}

int main(int argc, char **argv)
{
	const char *config = "/etc/quell/coordinator.conf";
	bool verbose = false, check = false;
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'C'},
		{"verbose", no_argument, NULL, 'v'},      {"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "c:vVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			fputs(USAGE, stdout);
			return 0;
		case 'v':
			verbose = true;
			break;
		case 'V':
			printf("quell-coordinator %s\n", QL_VERSION);
			return 0;
		default:
			fputs(USAGE, stderr);
			return 2;
		}
	}
	sigset_t set;
	if (ql_daemon_init("quell-coordinator", verbose, &set) != QL_OK)
		return 1;

	char why[1024];
	struct qc_config *cfg = qc_config_load(config, why, sizeof why);
	if (cfg == NULL) {
		ql_error("refusing to start: %s", why);
		return 1;
	}
	if (check) {
		int rc = check_config(cfg, config);
		qc_config_free(cfg);
		return rc;
	}
	ql_url_warn_plain(cfg->agent_listen, "the agent socket");
	ql_url_warn_plain(cfg->control_listen, "the control socket");
	struct qc *c;
	if (qc_start(cfg, &c, why, sizeof why) != QL_OK) {
		ql_error("cannot start: %s", why);
		return 1;
	}
	ql_daemon_wait(&set, alive, c);
	qc_stop(c);
	return 0;
}
