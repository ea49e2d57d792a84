/*
 * sim.c: quell-sim, the fleet simulator. One process runs many real agents
 * (the agent core from agent/, linked as a library), each with its own
 * ed25519 key, hostname, labels, in-memory job store, config file and nng
 * connection to a real quell-coordinator. They share one executor (a few
 * threads) instead of one thread each. Their handles act on files in the
 * simulator's directory, so what is measured is quell, not the actions.
 *
 *   quell-sim -d DIR -n AGENTS -c URL -s SIGNER.pub [-T CADIR -N NAME] [-t THREADS] [-v]
 *
 * With a tls+tcp:// URL, -T names the fleet CA's directory (ca.crt and
 * ca.key, as certs/quell-certs makes them): each agent gets a certificate
 * for its name from it (simcert.c), and checks the coordinator's against
 * ca.crt and NAME, like a real agent.
 *
 * Agent i (1-based) is sim-NNNNN with labels role=web|worker|cache (cycling),
 * shard=i%10 and sim=1, and two handles: `site` (maintenance, writes
 * DIR/hosts/NAME/maintenance.html) and `flags` (a JSON flag file). The
 * signer key is allowed everything, like the demo fleet's operator.
 *
 * SIGUSR1 writes DIR/stats.json: for the job most agents saw last, when
 * each agent received it, finished checking it, had signed its result and
 * sent it (CLOCK_REALTIME, microseconds since the epoch), as
 * count/min/median/p99/max, plus the cost of one signature and one
 * verification measured at start. SIGTERM or SIGINT stops every agent.
 *
 * Not crash-safe (the stores are in memory) and not for production: a
 * benchmark and test tool.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "config.h"
#include "daemon.h"
#include "envelope.h"
#include "keys.h"
#include "log.h"
#include "simcert.h"

#define SIM_MAX_AGENTS 50000
#define N_EVENTS 4

struct sim_agent {
	struct qa_agent *agent;
	uint8_t job[QL_JOB_ID_LEN]; /* the job the times are for */
	int64_t t[N_EVENTS];        /* us since the epoch, 0 = not yet */
};

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Called by the agent core with that agent's lock held. */
static void observe(void *arg, enum qa_event ev, const uint8_t job_id[QL_JOB_ID_LEN])
{
	struct sim_agent *s = arg;
	int64_t t = now_us();
	pthread_mutex_lock(&stats_lock);
	if (memcmp(s->job, job_id, QL_JOB_ID_LEN) != 0) {
		memcpy(s->job, job_id, QL_JOB_ID_LEN);
		memset(s->t, 0, sizeof s->t);
	}
	if ((int)ev >= 0 && ev < N_EVENTS && s->t[ev] == 0)
		s->t[ev] = t;
	pthread_mutex_unlock(&stats_lock);
}

/* ---- set-up ---------------------------------------------------------------------- */

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int rc = fputs(text, f) < 0 ? -1 : 0;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static const char *const roles[] = {"web", "worker", "cache"};

/* Over TLS: the CA certificates are made from, and the coordinator's name. */
static struct sim_ca *sim_ca;
static const char *tls_dir, *server_name;

/* DIR/hosts/NAME/{agent.conf, flags.json[, agent.crt, agent.key]}; the config path in conf. */
static int write_host(const char *dir, int i, const char *url, const char *signer_b64, char *conf,
                      size_t conflen)
{
	char h[1200], text[8192], path[1300], tls[4096] = "";
	if (snprintf(h, sizeof h, "%s/hosts/sim-%05d", dir, i) >= (int)sizeof h)
		return -1;
	if (mkdir(h, 0755) != 0 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof path, "%s/flags.json", h);
	if (write_file(path, "{\"checkout_v2\": true, \"recommendations\": true}\n") != 0)
		return -1;
	if (sim_ca) {
		char name[32], crt[1300], key[1300], why[256];
		snprintf(name, sizeof name, "sim-%05d", i);
		snprintf(crt, sizeof crt, "%s/agent.crt", h);
		snprintf(key, sizeof key, "%s/agent.key", h);
		if (sim_cert_write(sim_ca, name, crt, key, why, sizeof why) != 0) {
			fprintf(stderr, "quell-sim: %s\n", why);
			return -1;
		}
		snprintf(tls, sizeof tls,
		         "tls_cert = %s\ntls_key = %s\ntls_ca = %s/ca.crt\ntls_server_name = %s\n",
		         crt, key, tls_dir, server_name);
	}
	int len = snprintf(text, sizeof text,
	                   "# written by quell-sim; the key is generated in memory\n"
	                   "[agent]\n"
	                   "hostname = sim-%05d\n"
	                   "labels = role=%s,shard=%d,sim=1\n"
	                   "coordinator = %s\n"
	                   "key = %s/in-memory.key\n"
	                   "state_dir = %s/state\n"
	                   "%s"
	                   "[signer operator]\n"
	                   "key = %s\n"
	                   "allow = *\n"
	                   "[handle site]\n"
	                   "type = maintenance\n"
	                   "file = %s/maintenance.html\n"
	                   "[handle flags]\n"
	                   "type = flags\n"
	                   "format = json\n"
	                   "file = %s/flags.json\n",
	                   i, roles[(i - 1) % 3], i % 10, url, h, h, tls, signer_b64, h, h);
	if (len < 0 || len >= (int)sizeof text)
		return -1;
	if (snprintf(conf, conflen, "%s/agent.conf", h) >= (int)conflen)
		return -1;
	return write_file(conf, text);
}

/* Each agent holds one socket (its store is in memory); 1024 files is far too few. */
static int raise_nofile(size_t agents)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)agents + 512;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur >= want)
		return 0;
	rl.rlim_cur = want;
	if (rl.rlim_max < want || setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		ql_error("%zu agents need %llu open files; the hard limit (ulimit -Hn) is %llu",
		         agents, (unsigned long long)want, (unsigned long long)rl.rlim_max);
		return -1;
	}
	return 0;
}

/* What one signature and one verification cost on this machine, in ns. */
static void crypto_cost(const struct ql_secret_key *key, int64_t *sign_ns, int64_t *verify_ns)
{
	enum { ROUNDS = 2000 };
	uint8_t body[200];
	memset(body, 'x', sizeof body);
	uint8_t *env = NULL;
	size_t len = 0;
	int64_t t0 = now_us();
	for (int i = 0; i < ROUNDS; i++) {
		free(env);
		env = NULL;
		if (ql_envelope_seal(QUELL__KIND__KIND_RESULT, key, body, sizeof body, &env,
		                     &len) != QL_OK)
			return;
	}
	int64_t t1 = now_us();
	for (int i = 0; i < ROUNDS; i++) {
		struct ql_opened o;
		if (ql_envelope_open(env, len, QL_KIND_BIT(QUELL__KIND__KIND_RESULT), &o) != QL_OK)
			break;
		ql_opened_fini(&o);
	}
	int64_t t2 = now_us();
	free(env);
	*sign_ns = (t1 - t0) * 1000 / ROUNDS;
	*verify_ns = (t2 - t1) * 1000 / ROUNDS;
}

/* ---- statistics ------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* count/min/median/p99/max of v[0..n) (sorted here), as a JSON object. */
static void print_dist(FILE *f, const char *name, int64_t *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_i64);
	if (n == 0) {
		fprintf(f, "\"%s\":{\"count\":0}", name);
		return;
	}
	size_t p99 = (n * 99 + 99) / 100;
	fprintf(f, "\"%s\":{\"count\":%zu,\"min\":%lld,\"median\":%lld,\"p99\":%lld,\"max\":%lld}",
	        name, n, (long long)v[0], (long long)v[(n + 1) / 2 - 1],
	        (long long)v[(p99 ? p99 : 1) - 1], (long long)v[n - 1]);
}

static const char *const event_names[N_EVENTS] = {"received", "admitted", "done", "sent"};

static int write_stats(const char *dir, struct sim_agent *sims, size_t n, int64_t sign_ns,
                       int64_t verify_ns)
{
	char path[4200], tmp[4300];
	snprintf(path, sizeof path, "%s/stats.json", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int64_t *v = calloc(n ? n : 1, sizeof *v);
	FILE *f = fopen(tmp, "w");
	if (v == NULL || f == NULL) {
		free(v);
		if (f)
			fclose(f);
		return -1;
	}
	pthread_mutex_lock(&stats_lock);
	/* The job most agents saw last: the one the latest RECEIVED belongs to. */
	const uint8_t *job = NULL;
	int64_t latest = 0;
	for (size_t i = 0; i < n; i++)
		if (sims[i].t[QA_EVENT_RECEIVED] > latest) {
			latest = sims[i].t[QA_EVENT_RECEIVED];
			job = sims[i].job;
		}
	char hex[2 * QL_JOB_ID_LEN + 1] = "";
	if (job)
		ql_hex(job, QL_JOB_ID_LEN, hex);
	fprintf(f, "{\"agents\":%zu,\"job\":\"%s\",\"sign_ns\":%lld,\"verify_ns\":%lld", n, hex,
	        (long long)sign_ns, (long long)verify_ns);
	/* Absolute times of each event, then per-agent durations between them. */
	for (int ev = 0; ev < N_EVENTS; ev++) {
		size_t k = 0;
		for (size_t i = 0; job && i < n; i++)
			if (memcmp(sims[i].job, job, QL_JOB_ID_LEN) == 0 && sims[i].t[ev])
				v[k++] = sims[i].t[ev];
		fputc(',', f);
		print_dist(f, event_names[ev], v, k);
	}
	for (int ev = 1; ev < N_EVENTS; ev++) {
		size_t k = 0;
		for (size_t i = 0; job && i < n; i++)
			if (memcmp(sims[i].job, job, QL_JOB_ID_LEN) == 0 && sims[i].t[ev] &&
			    sims[i].t[ev - 1])
				v[k++] = sims[i].t[ev] - sims[i].t[ev - 1];
		char name[64];
		snprintf(name, sizeof name, "%s_to_%s", event_names[ev - 1], event_names[ev]);
		fputc(',', f);
		print_dist(f, name, v, k);
	}
	pthread_mutex_unlock(&stats_lock);
	fputs("}\n", f);
	free(v);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -1;
	return 0;
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: quell-sim -d DIR -n AGENTS -c URL -s SIGNER.pub [-T CADIR -N NAME] [-t THREADS] "
	        "[-v]\n"
	        "  -d DIR        working directory (configs, handle files, stats.json)\n"
	        "  -n AGENTS     how many agents to run (1..%d)\n"
	        "  -c URL        the coordinator's agent URL, e.g. tcp://127.0.0.1:7000\n"
	        "  -s FILE       public key of the signer the agents accept (allowed all)\n"
	        "  -T CADIR      tls+tcp://: the fleet CA's ca.crt and ca.key; each agent gets a\n"
	        "                certificate for its name from it\n"
	        "  -N NAME       tls+tcp://: the name in the coordinator's certificate\n"
	        "  -t THREADS    executor threads shared by all agents (default 2)\n"
	        "  -v            log every agent's info messages\n",
	        SIM_MAX_AGENTS);
}

static long parse_count(const char *s, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < 1 || v > max)
		return -1;
	return v;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *url = NULL, *signer = NULL;
	long n = 0, threads = 2;
	bool verbose = false;
	int c;
	while ((c = getopt(argc, argv, "d:n:c:s:T:N:t:vh")) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			n = parse_count(optarg, SIM_MAX_AGENTS);
			break;
		case 'c':
			url = optarg;
			break;
		case 's':
			signer = optarg;
			break;
		case 'T':
			tls_dir = optarg;
			break;
		case 'N':
			server_name = optarg;
			break;
		case 't':
			threads = parse_count(optarg, 64);
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !dir || !url || !signer || n < 1 || threads < 1 ||
	    strlen(dir) > 1000 || strlen(url) > 1000 || (tls_dir && strlen(tls_dir) > 1000) ||
	    (server_name && strlen(server_name) > 255) ||
	    (strncmp(url, "tls+tcp://", 10) == 0) != (tls_dir && server_name)) {
		usage(stderr);
		return 2;
	}
	sigset_t set;
	if (ql_daemon_init("quell-sim", verbose, &set) != QL_OK)
		return 1;
	/* 10,000 agents each saying "started" is noise: warnings and errors only. */
	if (!verbose)
		ql_log_init("quell-sim", QL_LOG_WARN);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	uint8_t pk[QL_PUBKEY_LEN];
	char pk_b64[QL_PUBKEY_B64_LEN], path[4200];
	if (ql_pubkey_load(signer, pk) != QL_OK) {
		fprintf(stderr, "quell-sim: cannot read a public key from %s\n", signer);
		return 1;
	}
	ql_pubkey_format(pk, pk_b64);
	snprintf(path, sizeof path, "%s/hosts", dir);
	if ((mkdir(dir, 0755) != 0 && errno != EEXIST) ||
	    (mkdir(path, 0755) != 0 && errno != EEXIST)) {
		fprintf(stderr, "quell-sim: cannot create %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (raise_nofile((size_t)n) != 0)
		return 1;
	char cwhy[512];
	if (tls_dir && sim_ca_load(tls_dir, &sim_ca, cwhy, sizeof cwhy) != 0) {
		fprintf(stderr, "quell-sim: %s\n", cwhy);
		return 1;
	}

	struct qa_executor *x = NULL;
	struct sim_agent *sims = calloc((size_t)n, sizeof *sims);
	if (sims == NULL || qa_executor_new((size_t)threads, &x) != QL_OK) {
		fprintf(stderr, "quell-sim: out of memory\n");
		return 1;
	}
	int64_t sign_ns = 0, verify_ns = 0;
	int rc = 0;
	size_t started = 0;
	int64_t t0 = now_us();
	for (long i = 1; i <= n; i++) {
		struct sim_agent *s = &sims[i - 1];
		char conf[4200], why[1024];
		if (write_host(dir, (int)i, url, pk_b64, conf, sizeof conf) != 0) {
			fprintf(stderr, "quell-sim: cannot write host %ld's files in %s: %s\n", i,
			        dir, strerror(errno));
			rc = 1;
			break;
		}
		struct qa_config *cfg = qa_config_load(conf, why, sizeof why);
		struct ql_secret_key *key = NULL;
		if (cfg == NULL || ql_key_new_ephemeral(&key) != QL_OK) {
			fprintf(stderr, "quell-sim: agent %ld: %s\n", i,
			        cfg ? "cannot make a key" : why);
			qa_config_free(cfg);
			rc = 1;
			break;
		}
		if (i == 1)
			crypto_cost(key, &sign_ns, &verify_ns);
		struct qa_agent_opts opts = {
			.executor = x,
			.key = key,
			.memory_store = true,
			.observe = observe,
			.observe_arg = s,
		};
		if (qa_agent_new(cfg, &opts, &s->agent, why, sizeof why) != QL_OK ||
		    qa_agent_start(s->agent, why, sizeof why) != QL_OK) {
			fprintf(stderr, "quell-sim: agent %ld: %s\n", i, why);
			rc = 1;
			break;
		}
		started++;
	}
	if (rc == 0) {
		printf("quell-sim: %zu agents started in %lld ms (sign %lld ns, verify %lld ns)\n",
		       started, (long long)((now_us() - t0) / 1000), (long long)sign_ns,
		       (long long)verify_ns);
		fflush(stdout);
		for (;;) {
			int sig = 0;
			if (sigwait(&set, &sig) != 0)
				continue;
			if (sig != SIGUSR1)
				break;
			if (write_stats(dir, sims, started, sign_ns, verify_ns) != 0)
				fprintf(stderr, "quell-sim: cannot write %s/stats.json: %s\n", dir,
				        strerror(errno));
		}
		ql_shutdown_guard("quell-sim", 60);
	}
	for (size_t i = 0; i < (size_t)n; i++)
		qa_agent_free(sims[i].agent);
	qa_executor_free(x);
	free(sims);
	sim_ca_free(sim_ca);
	return rc;
}
