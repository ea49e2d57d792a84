/*
 * client.c: the CLI's plumbing: shared options, config and key, the signed
 * control channel to the coordinator, and running one command from signing
 * to the last host's result.
 *
 * The command is signed here, with the operator's own key, before it leaves
 * the laptop; the coordinator only relays it. Every control request is
 * signed too, so the coordinator knows which operator is asking.
 */
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "envelope.h"
#include "log.h"
#include "ql_limits.h"
#include "selector.h"
#include "tls.h"
#include "transport.h"

struct qcli_conn {
	char *url;
	char *key_path;
	struct ql_tls_files tls; /* tls_ca, tls_server_name */
	struct ql_secret_key *key;
	nng_socket sock;
	bool open;
};

/*
 * "N" (at least min) into *n, or, if pct is not NULL, "P%" (min..100) into
 * *pct. Anything else (signs, blanks, trailing text, huge numbers) is false.
 */
static bool parse_count(const char *s, uint32_t min, uint32_t *n, uint32_t *pct)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || v > QL_MAX_BATCH)
		return false;
	if (*end == '%' && end[1] == '\0' && pct) {
		if (v < (min ? min : 0) || v > 100)
			return false;
		*pct = (uint32_t)v;
		*n = 0;
		return true;
	}
	if (*end != '\0' || v < min)
		return false;
	*n = (uint32_t)v;
	if (pct)
		*pct = 0;
	return true;
}

int qcli_parse(int argc, char **argv, const char *usage, struct qcli_opts *o)
{
	static const struct option opts[] = {
		{"target", required_argument, NULL, 't'},
		{"reason", required_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 'T'},
		{"json", no_argument, NULL, 'j'},
		{"message", required_argument, NULL, 'm'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"dry-run", no_argument, NULL, 'n'},
		{"signal", required_argument, NULL, 'S'},
		{"grace", required_argument, NULL, 'g'},
		{"file", required_argument, NULL, 'f'},
		{"canary", required_argument, NULL, 'C'},
		{"batch", required_argument, NULL, 'B'},
		{"max-failures", required_argument, NULL, 'M'},
		{"ttl", required_argument, NULL, 'L'},
		{"incident", required_argument, NULL, 'I'},
		{NULL, 0, NULL, 0},
	};
	if (o->target == NULL)
		o->target = "all";
	if (o->reason == NULL)
		o->reason = "";
	if (o->timeout == 0)
		o->timeout = 10;
	o->config = getenv("QUELL_CONFIG");
	if (o->incident == NULL)
		o->incident = getenv("QUELL_INCIDENT");
	optind = 1;
	int ch;
	while ((ch = getopt_long(argc, argv, "t:c:hn", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			o->target = optarg;
			break;
		case 'r':
			o->reason = optarg;
			break;
		case 'T': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 3600) {
				fprintf(stderr, "quell: --timeout takes seconds from 1 to 3600\n");
				return QCLI_EXIT_USAGE;
			}
			o->timeout = (int)v;
			break;
		}
		case 'j':
			o->json = true;
			break;
		case 'm':
			if (!o->allow_message) {
				fprintf(stderr, "quell: --message does not apply here\n");
				return QCLI_EXIT_USAGE;
			}
			o->message = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'S':
		case 'g':
			if (!o->allow_kill_opts) {
				fprintf(stderr, "quell: --%s only goes with kill\n",
				        ch == 'S' ? "signal" : "grace");
				return QCLI_EXIT_USAGE;
			}
			*(ch == 'S' ? &o->signal : &o->grace) = optarg;
			break;
		case 'C':
			if (!parse_count(optarg, 1, &o->canary, NULL)) {
				fprintf(stderr,
				        "quell: --canary takes a number of hosts (1 or more)\n");
				return QCLI_EXIT_USAGE;
			}
			break;
		case 'B':
			if (!parse_count(optarg, 1, &o->batch, &o->batch_pct)) {
				fprintf(stderr, "quell: --batch takes N hosts or P%% (1-100%%)\n");
				return QCLI_EXIT_USAGE;
			}
			break;
		case 'M':
			if (!parse_count(optarg, 0, &o->max_failures, &o->max_failures_pct)) {
				fprintf(stderr,
				        "quell: --max-failures takes N hosts or P%% (0-100%%)\n");
				return QCLI_EXIT_USAGE;
			}
			o->has_max_failures = true;
			break;
		case 'f':
			if (!o->allow_file) {
				fprintf(stderr, "quell: --file only goes with flag\n");
				return QCLI_EXIT_USAGE;
			}
			o->file = optarg;
			break;
		case 'L':
			if (!o->allow_ttl) {
				fprintf(stderr,
				        "quell: --ttl only goes with an action that can be "
				        "reverted (maintenance, pause, flag, rollback, scale)\n");
				return QCLI_EXIT_USAGE;
			}
			if (!ql_duration_parse(optarg, QL_MAX_TTL, &o->ttl)) {
				fprintf(stderr,
				        "quell: --ttl takes a duration like 90s, 15m, 2h or 1d "
				        "(at most 7d)\n");
				return QCLI_EXIT_USAGE;
			}
			break;
		case 'I':
			o->incident = optarg;
			break;
		case 'h':
			printf("usage: quell %s\n", usage);
			return QCLI_EXIT_OK;
		default:
			fprintf(stderr, "usage: quell %s\n", usage);
			return QCLI_EXIT_USAGE;
		}
	}
	/* Check what we can here: the agents would reject it anyway. */
	if (ql_selector_check(o->target) != QL_OK) {
		fprintf(stderr,
		        "quell: bad selector '%s' (use all, host=NAME, role=web,dc=east|west; '*' "
		        "globs)\n",
		        o->target);
		return QCLI_EXIT_USAGE;
	}
	if (!ql_text_ok(o->reason, QL_MAX_REASON)) {
		fprintf(stderr, "quell: --reason must be printable text up to %d bytes\n",
		        QL_MAX_REASON);
		return QCLI_EXIT_USAGE;
	}
	if (o->incident && o->incident[0] && !ql_ident_ok(o->incident, QL_MAX_INCIDENT)) {
		fprintf(stderr,
		        "quell: an incident name is 1 to %d characters of A-Z a-z 0-9 _ . - "
		        "(--incident or QUELL_INCIDENT)\n",
		        QL_MAX_INCIDENT - 1);
		return QCLI_EXIT_USAGE;
	}
	if (o->incident == NULL)
		o->incident = "";
	if (o->message && !ql_text_ok(o->message, QL_MAX_ARG_VALUE)) {
		fprintf(stderr, "quell: --message must be printable text up to %d bytes\n",
		        QL_MAX_ARG_VALUE);
		return QCLI_EXIT_USAGE;
	}
	return -1;
}

static int by_hostname(const void *a, const void *b)
{
	const Quell__AgentInfo *x = *(Quell__AgentInfo *const *)a,
			       *y = *(Quell__AgentInfo *const *)b;
	return strcmp(x->hostname, y->hostname);
}

Quell__ControlReply *qcli_list_agents(const char *config, const char *target, int *exit_code)
{
	struct qcli_conn *c = qcli_connect(config, exit_code);
	if (c == NULL)
		return NULL;
	Quell__ControlRequest req;
	quell__control_request__init(&req);
	Quell__ListAgents la = QUELL__LIST_AGENTS__INIT;
	la.target = (char *)(strcmp(target, "all") == 0 ? "" : target);
	req.req_case = QUELL__CONTROL_REQUEST__REQ_AGENTS;
	req.agents = &la;
	Quell__ControlReply *r = qcli_call(c, &req, 0, exit_code);
	qcli_close(c);
	if (r && r->n_agents) /* no agents: r->agents is NULL, which qsort must not see */
		qsort(r->agents, r->n_agents, sizeof *r->agents, by_hostname);
	return r;
}

int qcli_usage(const char *usage)
{
	fprintf(stderr, "usage: quell %s\n", usage);
	return QCLI_EXIT_USAGE;
}

#define QCLI_MAX_OWN 4

int qcli_parse_read(int argc, char **argv, const char *usage, const struct qcli_opt *own,
                    bool *json, const char **config)
{
	struct option opts[4 + QCLI_MAX_OWN] = {
		{"json", no_argument, NULL, 'j'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
	};
	size_t n_own = 0;
	for (; own && own[n_own].name; n_own++) {
		if (n_own == QCLI_MAX_OWN)
			abort(); /* a programming error, not input */
		opts[3 + n_own] = (struct option){
			own[n_own].name, own[n_own].value ? required_argument : no_argument, NULL,
			256 + (int)n_own};
	}
	*json = false;
	*config = getenv("QUELL_CONFIG");
	optind = 1;
	int ch, target = -1; /* own "target" answers to -t too, and is a selector */
	for (size_t i = 0; i < n_own; i++)
		if (strcmp(own[i].name, "target") == 0 && own[i].value)
			target = (int)i;
	while ((ch = getopt_long(argc, argv, target >= 0 ? "c:ht:" : "c:h", opts, NULL)) != -1) {
		if (ch == 't')
			ch = 256 + target;
		if (target >= 0 && ch == 256 + target && ql_selector_check(optarg) != QL_OK) {
			fprintf(stderr,
			        "quell: bad selector '%s' (use all, host=NAME, role=web,dc=east|west; "
			        "'*' globs)\n",
			        optarg);
			return QCLI_EXIT_USAGE;
		}
		if (ch >= 256 && ch < 256 + (int)n_own) {
			const struct qcli_opt *o = &own[ch - 256];
			if (o->value)
				*o->value = optarg;
			else
				*o->flag = true;
			continue;
		}
		switch (ch) {
		case 'j':
			*json = true;
			break;
		case 'c':
			*config = optarg;
			break;
		case 'h':
			printf("usage: quell %s\n", usage);
			return QCLI_EXIT_OK;
		default:
			return qcli_usage(usage);
		}
	}
	return -1;
}

static int cfg_handler(void *user, const char *section, const char *key, const char *value)
{
	struct qcli_conn *c = user;
	if (strcmp(section, "cli") != 0)
		return 0;
	char **dst = strcmp(key, "coordinator") == 0       ? &c->url
	             : strcmp(key, "key") == 0             ? &c->key_path
	             : strcmp(key, "tls_ca") == 0          ? &c->tls.ca
	             : strcmp(key, "tls_server_name") == 0 ? &c->tls.server_name
	                                                   : NULL;
	if (dst == NULL)
		return 0;
	free(*dst);
	*dst = strdup(value);
	return *dst != NULL;
}

struct qcli_conn *qcli_connect(const char *config, int *exit_code)
{
	struct qcli_conn *c = calloc(1, sizeof *c);
	char why[256];
	*exit_code = QCLI_EXIT_USAGE;
	if (c == NULL)
		return NULL;
	if (config == NULL)
		config = "/etc/quell/cli.conf";
	int rc = ini_parse(config, cfg_handler, c);
	if (rc != 0) {
		if (rc < 0)
			fprintf(stderr,
			        "quell: cannot read config %s: %s (set QUELL_CONFIG or --config)\n",
			        config, strerror(errno));
		else
			fprintf(stderr,
			        "quell: %s:%d: unknown section or key (expected [cli] "
			        "coordinator = URL, key = PATH, tls_ca = PATH, tls_server_name = NAME)\n",
			        config, rc);
		goto fail;
	}
	if (c->url == NULL || c->key_path == NULL) {
		fprintf(stderr, "quell: %s: [cli] needs coordinator = URL and key = PATH\n",
		        config);
		goto fail;
	}
	if (ql_url_check(c->url, why, sizeof why) != QL_OK ||
	    ql_tls_files_check(&c->tls, QL_TLS_CLI, c->url, why, sizeof why) != QL_OK) {
		fprintf(stderr, "quell: %s: coordinator: %s\n", config, why);
		goto fail;
	}
	enum ql_err err = ql_key_load(c->key_path, &c->key);
	if (err != QL_OK) {
		fprintf(stderr, "quell: operator key %s: %s\n", c->key_path,
		        err == QL_ERR_IO ? strerror(errno) : ql_strerror(err));
		*exit_code = QCLI_EXIT_NOT_OK;
		goto fail;
	}
	int rv = nng_req0_open(&c->sock);
	if (rv == 0) {
		c->open = true;
		nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, QL_MAX_CONTROL_REPLY);
		nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
		nng_dialer d;
		if (ql_tls_dialer(c->sock, c->url, QL_TLS_CLI, &c->tls, &d, why, sizeof why) !=
		    QL_OK) {
			fprintf(stderr, "quell: %s: %s\n", config, why);
			goto fail;
		}
		rv = nng_dialer_start(d, 0);
	}
	if (rv != 0) {
		bool tls = ql_url_tls(c->url) && (rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH);
		fprintf(stderr, "quell: cannot reach the coordinator at %s: %s%s\n", c->url,
		        nng_strerror(rv),
		        tls ? " (its certificate must chain to tls_ca and name tls_server_name, "
		              "or the URL's host)"
		            : "");
		*exit_code = QCLI_EXIT_UNREACHABLE;
		goto fail;
	}
	return c;
fail:
	qcli_close(c);
	return NULL;
}

void qcli_close(struct qcli_conn *c)
{
	if (c == NULL)
		return;
	if (c->open)
		nng_close(c->sock);
	ql_key_free(c->key);
	free(c->url);
	free(c->key_path);
	ql_tls_files_fini(&c->tls);
	free(c);
}

static bool operator_refused(const char *code)
{
	return strcmp(code, "unknown-operator") == 0 || strcmp(code, "signer-mismatch") == 0 ||
	       strcmp(code, "stale") == 0 || strcmp(code, "bad-signature") == 0;
}

Quell__ControlReply *qcli_call(struct qcli_conn *c, Quell__ControlRequest *req, int wait_ms,
                               int *exit_code)
{
	uint8_t *body = NULL, *env = NULL;
	size_t blen, elen;
	Quell__ControlReply *reply = NULL;
	*exit_code = QCLI_EXIT_NOT_OK;
	req->issued_at = ql_now();
	if (ql_pack(&req->base, &body, &blen) != QL_OK ||
	    ql_envelope_seal(QUELL__KIND__KIND_CONTROL, c->key, body, blen, &env, &elen) != QL_OK) {
		fprintf(stderr, "quell: cannot sign the request\n");
		goto out;
	}
	nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, wait_ms + 10000);
	nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, 10000);
	int rv = nng_send(c->sock, env, elen, 0);
	void *buf = NULL;
	size_t len = 0;
	if (rv == 0)
		rv = nng_recv(c->sock, &buf, &len, NNG_FLAG_ALLOC);
	if (rv != 0) {
		fprintf(stderr, "quell: no answer from the coordinator at %s: %s\n", c->url,
		        nng_strerror(rv));
		*exit_code = QCLI_EXIT_UNREACHABLE;
		goto out;
	}
	/* UNTRUSTED: the coordinator's reply is checked before it reaches the terminal. */
	enum ql_err err = ql_control_reply_decode(buf, len, &reply);
	nng_free(buf, len);
	if (err != QL_OK) {
		fprintf(stderr, "quell: unreadable reply from the coordinator (%s)\n",
		        ql_strerror(err));
		goto out;
	}
	if (!reply->ok) {
		fprintf(stderr, "quell: coordinator refused: %s (%s)\n", reply->error,
		        reply->error_code);
		*exit_code = operator_refused(reply->error_code) ? QCLI_EXIT_UNREACHABLE
		                                                 : QCLI_EXIT_NOT_OK;
		quell__control_reply__free_unpacked(reply, NULL);
		reply = NULL;
	}
out:
	free(body);
	free(env);
	return reply;
}

static enum ql_err sign_command(struct qcli_conn *c, const struct qcli_opts *o, const char *action,
                                const char *handle, Quell__Arg **args, size_t n_args,
                                int64_t lifetime, uint8_t job_id[QL_JOB_ID_LEN], uint8_t **env,
                                size_t *env_len)
{
	Quell__Command cmd = QUELL__COMMAND__INIT;
	randombytes_buf(job_id, QL_JOB_ID_LEN);
	cmd.job_id.data = job_id;
	cmd.job_id.len = QL_JOB_ID_LEN;
	cmd.issued_at = ql_now();
	cmd.expires_at = cmd.issued_at + lifetime;
	cmd.target = (char *)o->target;
	cmd.action = (char *)action;
	cmd.handle = (char *)handle;
	cmd.args = args;
	cmd.n_args = n_args;
	cmd.reason = (char *)o->reason;
	cmd.dry_run = o->dry_run;
	cmd.ttl_seconds = o->ttl;
	cmd.incident = (char *)o->incident;
	uint8_t *body;
	size_t blen;
	enum ql_err err = ql_pack(&cmd.base, &body, &blen);
	if (err != QL_OK)
		return err;
	err = ql_envelope_seal(QUELL__KIND__KIND_COMMAND, c->key, body, blen, env, env_len);
	free(body);
	return err;
}

static bool take_results(Quell__ControlReply *r, struct qcli_host *hosts, size_t *n, size_t cap)
{
	for (size_t i = 0; i < r->n_results && *n < cap; i++) {
		Quell__HostResult *h = r->results[i];
		struct qcli_host *d = &hosts[(*n)++];
		d->host = strdup(h->hostname);
		d->status = strdup(h->status);
		d->reason = strdup(h->reason);
		d->detail = strdup(h->detail);
		if (!d->host || !d->status || !d->reason || !d->detail)
			return false;
	}
	return true;
}

/* "maintenance site mode=on": enough to tell two jobs apart in a summary. */
static void describe(struct qcli_job *job, Quell__Arg **args, size_t n_args)
{
	size_t len = (size_t)snprintf(job->what, sizeof job->what, "%s%s%s", job->action,
	                              job->handle[0] ? " " : "", job->handle);
	for (size_t i = 0; i < n_args && len < sizeof job->what; i++) {
		if (strlen(args[i]->value) > 24 || strpbrk(args[i]->value, " \t\n"))
			continue; /* messages and other long text: see the JSON */
		len += (size_t)snprintf(job->what + len, sizeof job->what - len, " %s=%s",
		                        args[i]->key, args[i]->value);
	}
}

/* Reattaching: the job as the coordinator describes it (every reply: the state moves). */
static void take_info(struct qcli_job *job, const Quell__JobInfo *i)
{
	snprintf(job->state, sizeof job->state, "%s", i->state);
	job->created_ms = i->created_ms;
	job->finished_ms = i->finished_ms;
	if (job->action[0])
		return;
	snprintf(job->action, sizeof job->action, "%s", i->action);
	snprintf(job->handle, sizeof job->handle, "%s", i->handle);
	snprintf(job->target, sizeof job->target, "%s", i->target);
	snprintf(job->operator_name, sizeof job->operator_name, "%s", i->operator_name);
	job->dry_run = i->dry_run;
	describe(job, i->args, i->n_args);
}

static double job_seconds(const struct qcli_job *job, int64_t start_mono)
{
	if (!job->reattached)
		return (double)(ql_mono_ms() - start_mono) / 1000.0;
	int64_t end = job->finished_ms ? job->finished_ms : 1000 * ql_now();
	return end > job->created_ms ? (double)(end - job->created_ms) / 1000.0 : 0.0;
}

int qcli_follow(struct qcli_conn *c, const uint8_t id[QL_JOB_ID_LEN], struct qcli_job *job,
                bool follow, bool json, int64_t start_mono)
{
	int code = QCLI_EXIT_NOT_OK;
	struct qcli_host *hosts = NULL;
	size_t n = 0, total = 0;
	Quell__ControlRequest req;
	quell__control_request__init(&req);
	Quell__WatchRequest w = QUELL__WATCH_REQUEST__INIT;
	w.job_id.data = (uint8_t *)id;
	w.job_id.len = QL_JOB_ID_LEN;
	w.wait_ms = follow ? 1000 : 0; /* 0: what the coordinator knows now */
	req.req_case = QUELL__CONTROL_REQUEST__REQ_WATCH;
	req.watch = &w;
	bool done = false;
	bool tty = follow && isatty(STDERR_FILENO) && !json;
	while (!done) {
		w.cursor = (uint32_t)n;
		Quell__ControlReply *r = qcli_call(c, &req, (int)w.wait_ms, &code);
		if (r == NULL) {
			if (n > 0 || job->action[0])
				fprintf(stderr,
				        "quell: lost track of job %s; it goes on without the CLI "
				        "(quell job %s --follow)\n",
				        job->hex, job->hex);
			goto out;
		}
		if (hosts == NULL) {
			total = r->target_count;
			hosts = calloc(total ? total : 1, sizeof *hosts);
		}
		if (r->job)
			take_info(job, r->job);
		if (hosts == NULL || !take_results(r, hosts, &n, total)) {
			quell__control_reply__free_unpacked(r, NULL);
			fprintf(stderr, "quell: out of memory following job %s\n", job->hex);
			code = QCLI_EXIT_NOT_OK;
			goto out;
		}
		done = r->done || (!follow && r->n_results == 0);
		quell__control_reply__free_unpacked(r, NULL);
		if (tty)
			qcli_progress(job->hex, n, total, hosts, job_seconds(job, start_mono));
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	job->in_progress = total - n;
	if (job->state[0] == '\0')
		snprintf(job->state, sizeof job->state, "%s", n == total ? "done" : "running");
	qcli_print_results(job, hosts, n, json, job_seconds(job, start_mono));
	/* Like a submit that matched no host, a job of no hosts is not a success. */
	code = total > 0 && n == total && strcmp(job->state, "done") == 0 ? QCLI_EXIT_OK
	                                                                  : QCLI_EXIT_NOT_OK;
	for (size_t i = 0; i < n; i++)
		if (strcmp(hosts[i].status, "ok") != 0)
			code = QCLI_EXIT_NOT_OK;
out:
	for (size_t i = 0; hosts && i < n; i++) {
		free(hosts[i].host);
		free(hosts[i].status);
		free(hosts[i].reason);
		free(hosts[i].detail);
	}
	free(hosts);
	return code;
}

static bool rolling(const struct qcli_opts *o)
{
	return o->canary || o->batch || o->batch_pct || o->has_max_failures;
}

/* How many batches the coordinator will run for n targets (see jobs.c). */
static uint32_t batches_for(const struct qcli_opts *o, size_t n)
{
	size_t left = n, k = 0;
	if (o->canary && left) {
		left -= o->canary < left ? o->canary : left;
		k++;
	}
	size_t size = o->batch_pct ? (n * o->batch_pct + 99) / 100 : o->batch ? o->batch : left;
	if (size == 0)
		size = 1;
	k += (left + size - 1) / size;
	return k ? (uint32_t)k : 1;
}

/* How many known agents the selector matches, as the coordinator sees it. */
static enum ql_err count_targets(struct qcli_conn *c, const char *target, size_t *n, int *code)
{
	Quell__ControlRequest req;
	quell__control_request__init(&req);
	Quell__ListAgents la = QUELL__LIST_AGENTS__INIT;
	la.target = (char *)(strcmp(target, "all") == 0 ? "" : target);
	req.req_case = QUELL__CONTROL_REQUEST__REQ_AGENTS;
	req.agents = &la;
	Quell__ControlReply *r = qcli_call(c, &req, 0, code);
	if (r == NULL)
		return QL_ERR_TRANSPORT;
	*n = r->n_agents;
	quell__control_reply__free_unpacked(r, NULL);
	return QL_OK;
}

int qcli_run(const struct qcli_opts *o, const char *action, const char *handle, Quell__Arg **args,
             size_t n_args)
{
	int code;
	struct qcli_conn *c = qcli_connect(o->config, &code);
	if (c == NULL)
		return code;
	uint8_t job_id[QL_JOB_ID_LEN], *env = NULL;
	size_t env_len;
	struct qcli_job job = {.dry_run = o->dry_run};
	snprintf(job.action, sizeof job.action, "%s", action);
	snprintf(job.handle, sizeof job.handle, "%s", handle);
	snprintf(job.target, sizeof job.target, "%s", o->target);
	describe(&job, args, n_args);
	int64_t start = ql_mono_ms();

	/* A rollout in batches needs the command to live for all of them: --timeout
	 * is per host, from its batch's start. */
	Quell__RolloutOptions ro = QUELL__ROLLOUT_OPTIONS__INIT;
	int64_t lifetime = o->timeout;
	if (rolling(o)) {
		size_t n = 0;
		if (count_targets(c, o->target, &n, &code) != QL_OK)
			goto out;
		/* A batch may take its whole timeout plus the answer grace (and a
		 * second of rounding) before the next one starts. */
		int64_t per_batch = o->timeout + QL_ANSWER_GRACE_MS / 1000 + 1;
		lifetime = per_batch * batches_for(o, n);
		if (lifetime > QL_MAX_COMMAND_LIFETIME) {
			fprintf(stderr,
			        "quell: %u batches of up to %llds each would outlive a command's "
			        "%d s limit; use bigger batches or a shorter --timeout\n",
			        batches_for(o, n), (long long)per_batch, QL_MAX_COMMAND_LIFETIME);
			code = QCLI_EXIT_USAGE;
			goto out;
		}
		ro.canary = o->canary;
		ro.batch = o->batch;
		ro.batch_percent = o->batch_pct;
		ro.has_max_failures = o->has_max_failures;
		ro.max_failures = o->max_failures;
		ro.max_failures_percent = o->max_failures_pct;
		ro.host_timeout = (uint32_t)o->timeout;
	}
	if (sign_command(c, o, action, handle, args, n_args, lifetime, job_id, &env, &env_len) !=
	    QL_OK) {
		fprintf(stderr, "quell: cannot sign the command\n");
		code = QCLI_EXIT_NOT_OK;
		goto out;
	}
	ql_hex(job_id, QL_JOB_ID_LEN, job.hex);
	Quell__ControlRequest req;
	quell__control_request__init(&req);
	req.req_case = QUELL__CONTROL_REQUEST__REQ_SUBMIT;
	req.submit.data = env;
	req.submit.len = env_len;
	if (rolling(o))
		req.rollout = &ro;
	Quell__ControlReply *r = qcli_call(c, &req, 0, &code);
	if (r == NULL)
		goto out;
	size_t total = r->target_count;
	quell__control_reply__free_unpacked(r, NULL);
	if (total == 0 && (strcmp(action, "undo") == 0 || strcmp(action, "extend") == 0)) {
		fprintf(stderr, "quell: the mitigation is on no known host%s matching '%s'\n",
		        action[0] == 'e' ? " where it is still in effect" : "", o->target);
		code = QCLI_EXIT_NOT_OK;
		goto out;
	}
	if (total == 0) {
		fprintf(stderr, "quell: no known agent matches '%s'\n", o->target);
		code = QCLI_EXIT_NOT_OK;
		goto out;
	}
	code = qcli_follow(c, job_id, &job, true, o->json, start);
out:
	free(env);
	qcli_close(c);
	return code;
}

int qcli_handle_verb(int argc, char **argv, const char *action, const char *usage)
{
	/* pause and rollback can be reverted (resume, roll forward); resume and restart not. */
	struct qcli_opts o = {.allow_ttl = strcmp(action, "pause") == 0 ||
	                                   strcmp(action, "rollback") == 0};
	int rc = qcli_parse(argc, argv, usage, &o);
	if (rc >= 0)
		return rc;
	if (argc - optind != 1 || argv[optind][0] == '\0') {
		fprintf(stderr, "usage: quell %s\n", usage);
		return QCLI_EXIT_USAGE;
	}
	return qcli_run(&o, action, argv[optind], NULL, 0);
}
