/*
 * verb-agents.c: `quell agents [-t SELECTOR] [--health] [--json]` lists the
 * coordinator's inventory: every agent it knows, connected or not, with
 * when it was last seen (--health: and its checks' states, as `quell
 * health` shows them in detail). The last line is a summary ("12 agents, 11
 * connected") that scripts may rely on. --json always has each agent's
 * checks.
 *
 * `quell agents forget HOST [--reason TEXT]` re-enrols a host: the
 * coordinator drops the agent key pinned to HOST, so the next hello for it
 * (with a valid certificate) pins a new key, as after a reinstall. Refused
 * while the old agent is connected or owes a job an answer.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "codec.h"
#include "keys.h"

#define AGENTS_USAGE "agents [-t SELECTOR] [--health] [--json] | agents forget HOST [--reason TEXT]"
#define FORGET_USAGE "agents forget HOST [--reason TEXT] [--json]"

static int forget_exec(int argc, char **argv)
{
	bool json;
	const char *config, *reason = "";
	const struct qcli_opt own[] = {{"reason", NULL, &reason}, {NULL, NULL, NULL}};
	int rc = qcli_parse_read(argc, argv, FORGET_USAGE, own, &json, &config);
	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return qcli_usage(FORGET_USAGE);
	const char *host = argv[optind];
	if (!ql_hostname_ok(host) || !ql_text_ok(reason, QL_MAX_REASON)) {
		fprintf(stderr, "quell: %s\n",
		        !ql_hostname_ok(host) ? "not a valid host name"
		                              : "--reason: printable text up to 512 bytes");
		return QCLI_EXIT_USAGE;
	}
	Quell__ForgetAgent f = QUELL__FORGET_AGENT__INIT;
	f.hostname = (char *)host;
	f.reason = (char *)reason;
	struct qcli_conn *c = qcli_connect(config, &rc);
	if (c == NULL)
		return rc;
	Quell__ControlRequest req;
	quell__control_request__init(&req);
	req.req_case = QUELL__CONTROL_REQUEST__REQ_FORGET;
	req.forget = &f;
	Quell__ControlReply *r = qcli_call(c, &req, 0, &rc);
	qcli_close(c);
	if (r == NULL)
		return rc;
	char key[QL_PUBKEY_B64_LEN] = "?";
	if (r->n_agents == 1 && r->agents[0]->pubkey.len == QL_PUBKEY_LEN)
		ql_pubkey_format(r->agents[0]->pubkey.data, key);
	if (json) {
		cJSON *root = cJSON_CreateObject();
		cJSON_AddStringToObject(root, "forgotten", host);
		cJSON_AddStringToObject(root, "old_key", key);
		qcli_print_json(root);
	} else {
		printf("forgot %s (agent key %s): the next agent to say hello as %s with a valid "
		       "certificate is pinned\n",
		       host, key, host);
	}
	quell__control_reply__free_unpacked(r, NULL);
	return QCLI_EXIT_OK;
}

static void labels_text(const Quell__AgentInfo *a, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < a->n_labels && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", i ? "," : "",
		                        a->labels[i]->key, a->labels[i]->value);
}

static int labels_width(const Quell__ControlReply *r)
{
	int w = 6; /* LABELS */
	char buf[1024];
	for (size_t i = 0; i < r->n_agents; i++) {
		labels_text(r->agents[i], buf, sizeof buf);
		int n = (int)strlen(buf);
		w = n > w ? n : w;
	}
	return w;
}

static void print_json(Quell__ControlReply *r)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(root, "agents");
	for (size_t i = 0; i < r->n_agents; i++) {
		Quell__AgentInfo *a = r->agents[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "host", a->hostname);
		cJSON_AddBoolToObject(o, "connected", a->connected);
		cJSON_AddNumberToObject(o, "last_seen", (double)a->last_seen);
		cJSON_AddStringToObject(o, "version", a->version);
		cJSON *labels = cJSON_AddObjectToObject(o, "labels");
		for (size_t j = 0; j < a->n_labels; j++)
			cJSON_AddStringToObject(labels, a->labels[j]->key, a->labels[j]->value);
		cJSON_AddItemToObject(o, "checks", qcli_checks_json(a));
		cJSON_AddItemToArray(arr, o);
	}
	qcli_print_json(root);
}

static int agents_exec(int argc, char **argv)
{
	const char *target = "all", *config = NULL;
	bool json = false, health = false;
	if (argc >= 2 && strcmp(argv[1], "forget") == 0)
		return forget_exec(argc - 1, argv + 1);
	const struct qcli_opt own[] = {
		{"target", NULL, &target}, {"health", &health, NULL}, {NULL, NULL, NULL}};
	int rc = qcli_parse_read(argc, argv, AGENTS_USAGE, own, &json, &config);
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return qcli_usage(AGENTS_USAGE);
	Quell__ControlReply *r = qcli_list_agents(config, target, &rc);
	if (r == NULL)
		return rc;
	if (json) {
		print_json(r);
	} else {
		size_t connected = 0;
		int lw = health ? labels_width(r) : 0; /* labels are not the last column */
		printf("%-24s  %-12s  %-20s  %-8s  %-*s%s\n", "HOST", "STATE", "LAST SEEN",
		       "VERSION", lw, "LABELS", health ? "  HEALTH" : "");
		int64_t now = (int64_t)time(NULL);
		for (size_t i = 0; i < r->n_agents; i++) {
			Quell__AgentInfo *a = r->agents[i];
			char when[32] = "-", labels[1024], checks[2048] = "";
			time_t t = (time_t)a->last_seen;
			struct tm tm;
			if (t > 0 && gmtime_r(&t, &tm))
				strftime(when, sizeof when, "%Y-%m-%d %H:%M:%SZ", &tm);
			labels_text(a, labels, sizeof labels);
			if (health)
				qcli_checks_text(a, now, checks, sizeof checks);
			printf("%-24s  %-12s  %-20s  %-8s  %-*s%s%s\n", a->hostname,
			       a->connected ? "connected" : "disconnected", when, a->version, lw,
			       labels, health ? "  " : "", checks);
			connected += a->connected;
		}
		printf("%zu agent%s, %zu connected\n", r->n_agents, r->n_agents == 1 ? "" : "s",
		       connected);
	}
	quell__control_reply__free_unpacked(r, NULL);
	return QCLI_EXIT_OK;
}

const struct qcli_verb qcli_verb_agents = {
	.name = "agents",
	.usage = AGENTS_USAGE,
	.summary = "list known agents, connected or not; forget one to re-enrol its host",
	.exec = agents_exec,
};
