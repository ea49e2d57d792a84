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

int main(int argc, char **argv)
{
	const char *config = "/etc/quell/coordinator.conf";
	bool verbose = false;
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "c:vV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'V':
			printf("quell-coordinator %s\n", QL_VERSION);
			return 0;
		default:
			fprintf(stderr, "usage: quell-coordinator [-c CONFIG] [-v] [-V]\n");
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
	struct qc *c;
	if (qc_start(cfg, &c, why, sizeof why) != QL_OK) {
		ql_error("cannot start: %s", why);
		return 1;
	}
	ql_daemon_wait(&set);
	qc_stop(c);
	return 0;
}
