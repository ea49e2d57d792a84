/*
 * main.c: quell-agent. Parse flags, load the config, hand over to the agent
 * library, wait for SIGTERM/SIGINT.
 */
#include <getopt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "config.h"
#include "daemon.h"
#include "keys.h"
#include "log.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

static void usage(FILE *f)
{
	fprintf(f, "usage: quell-agent [-c CONFIG] [--check] [-v] [-V]\n"
	           "  -c, --config FILE  agent config (default /etc/quell/agent.conf)\n"
	           "      --check        validate the config and key, then exit\n"
	           "  -v, --verbose      log debug messages\n"
	           "  -V, --version      print the version\n");
}

/*
 * The agent idles on every host for weeks: keep its private memory small.
 * Before any thread or SQLite connection exists:
 * - one malloc arena: glibc otherwise gives each thread that allocates (nng's,
 *   the executor) an arena of its own, up to 8 per CPU, each holding on to
 *   its own free pages; the agent allocates little, so sharing one lock
 *   costs nothing;
 * - SQLite allocates page-cache slots as pages are read, rather than 20 slots
 *   (some 90 KiB) at the first read (the cache's size is capped in store.c).
 */
static void tune_memory(void)
{
#ifdef __GLIBC__
	mallopt(M_ARENA_MAX, 1);
#endif
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)NULL, 0, 0);
}

int main(int argc, char **argv)
{
	tune_memory();
	const char *config = "/etc/quell/agent.conf";
	bool check = false, verbose = false;
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'C'},
		{"verbose", no_argument, NULL, 'v'},      {"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "c:vVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'V':
			printf("quell-agent %s\n", QL_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	sigset_t set;
	if (ql_daemon_init("quell-agent", verbose, &set) != QL_OK)
		return 1;

	char why[1024];
	struct qa_config *cfg = qa_config_load(config, why, sizeof why);
	if (cfg == NULL) {
		ql_error("refusing to start: %s", why);
		return 1;
	}
	struct qa_agent *agent;
	if (qa_agent_new(cfg, NULL, &agent, why, sizeof why) != QL_OK) {
		ql_error("refusing to start: %s", why);
		return 1;
	}
	if (check) {
		printf("%s: ok\n", config);
		qa_agent_free(agent);
		return 0;
	}
	if (qa_agent_start(agent, why, sizeof why) != QL_OK) {
		ql_error("cannot start: %s", why);
		qa_agent_free(agent);
		return 1;
	}
	ql_daemon_wait(&set);
	qa_agent_free(agent);
	return 0;
}
