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
#include "tls.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

static void usage(FILE *f)
{
	fprintf(f, "usage: quell-agent [-c CONFIG] [--check | --keygen] [-v] [-V]\n"
	           "  -c, --config FILE  agent config (default /etc/quell/agent.conf)\n"
	           "      --check        validate the config and key, then exit\n"
	           "      --keygen       create the agent's signing key ([agent] key) if it\n"
	           "                     does not exist yet, print its public key, exit\n"
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

/*
 * --keygen: what a package's postinst runs. An existing key is kept (the
 * coordinator pinned it); only a missing one is made. Either way the public
 * key is printed, for the operator's records.
 */
static int make_key(const char *path)
{
	uint8_t pk[QL_PUBKEY_LEN];
	char b64[QL_PUBKEY_B64_LEN];
	enum ql_err err = ql_crypto_init();
	if (err == QL_OK)
		err = ql_key_generate(path, pk);
	if (err == QL_ERR_EXISTS) {
		struct ql_secret_key *key = NULL;
		if ((err = ql_key_load(path, &key)) == QL_OK) {
			memcpy(pk, key->pk, QL_PUBKEY_LEN);
			ql_key_free(key);
			ql_info("agent key %s exists; kept", path);
		}
	} else if (err == QL_OK) {
		ql_info("agent key %s created", path);
	}
	if (err != QL_OK) {
		ql_error("agent key %s: %s", path, ql_strerror(err));
		return 1;
	}
	ql_pubkey_format(pk, b64);
	printf("%s\n", b64);
	return 0;
}

static bool alive(void *arg)
{
	return qa_agent_alive(arg);
}

int main(int argc, char **argv)
{
	tune_memory();
	const char *config = "/etc/quell/agent.conf";
	bool check = false, keygen = false, verbose = false;
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'C'},
		{"keygen", no_argument, NULL, 'K'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
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
		case 'K':
			keygen = true;
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
	if (optind != argc || (check && keygen)) {
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
	for (size_t i = 0; !keygen && i < cfg->n_coordinators; i++)
		ql_url_warn_plain(cfg->coordinators[i], "coordinator");
	if (keygen) {
		int rc = make_key(cfg->key_path);
		qa_config_free(cfg);
		return rc;
	}
	struct qa_agent *agent;
	if (qa_agent_new(cfg, NULL, &agent, why, sizeof why) != QL_OK) {
		ql_error("refusing to start: %s", why);
		return 1;
	}
	for (size_t i = 0; check && i < cfg->n_coordinators; i++) {
		if (ql_tls_check(QL_TLS_AGENT, &cfg->tls, cfg->coordinators[i], why, sizeof why) !=
		    QL_OK) {
			ql_error("%s: %s", config, why);
			qa_agent_free(agent);
			return 1;
		}
	}
	if (check) {
		qa_config_warn_readonly(cfg);
		printf("%s: ok\n", config);
		qa_agent_free(agent);
		return 0;
	}
	if (qa_agent_start(agent, why, sizeof why) != QL_OK) {
		ql_error("cannot start: %s", why);
		qa_agent_free(agent);
		return 1;
	}
	ql_daemon_wait(&set, alive, agent);
	qa_agent_free(agent);
	return 0;
}
