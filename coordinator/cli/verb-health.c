/*
 * verb-health.c: `quell health [-t SELECTOR] [--failing] [--json]` lists
 * the health checks of every targeted agent, one line per host and check,
 * as the agents last reported them (after their own rise/fall hysteresis):
 *
 *   HOST      CHECK  STATE    SINCE  DETAIL
 *   host-001  web    failing  2m     connect to http://127.0.0.1:8080/: Connection refused
 *   2 checks on 1 host: 1 failing, 1 passing, 0 unknown
 *
 * The coordinator only has what the agents sent: a disconnected agent's
 * checks are shown as unknown (with what it last said), since nobody knows
 * how they are now. --failing prints only failing checks; the summary still
 * counts them all. Also the helpers `quell agents --health` uses.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define HEALTH_USAGE "health [-t SELECTOR] [--failing] [--json]"

static const char *state_name(Quell__CheckState__State s)
{
	switch (s) {
	case QUELL__CHECK_STATE__STATE__STATE_PASSING:
		return "passing";
	case QUELL__CHECK_STATE__STATE__STATE_FAILING:
		return "failing";
	default:
		return "unknown";
	}
}

void qcli_checks_text(const Quell__AgentInfo *a, int64_t now, char *buf, size_t len)
{
	size_t off = 0;
	snprintf(buf, len, "-");
	for (size_t i = 0; i < a->n_checks && off < len; i++) {
		const Quell__CheckState *c = a->checks[i];
		char age[16] = "";
		if (c->state == QUELL__CHECK_STATE__STATE__STATE_FAILING && c->since > 0) {
			age[0] = '(';
			qcli_span(now - c->since, age + 1, sizeof age - 2);
			strcat(age, ")");
		}
		off += (size_t)snprintf(buf + off, len - off, "%s%s:%s%s", i ? " " : "", c->name,
		                        state_name(c->state), age);
	}
}

cJSON *qcli_checks_json(const Quell__AgentInfo *a)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < a->n_checks; i++) {
		const Quell__CheckState *c = a->checks[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", c->name);
		cJSON_AddStringToObject(o, "state", state_name(c->state));
		cJSON_AddNumberToObject(o, "since", (double)c->since);
		cJSON_AddStringToObject(o, "detail", c->detail);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* What the operator can rely on now: a disconnected agent's checks are unknown. */
static Quell__CheckState__State state_now(const Quell__AgentInfo *a, const Quell__CheckState *c)
{
	return a->connected ? c->state : QUELL__CHECK_STATE__STATE__STATE_UNKNOWN;
}

struct tally {
	size_t checks, hosts, n[3]; /* by Quell__CheckState__State */
};

static void count(const Quell__ControlReply *r, struct tally *t)
{
	memset(t, 0, sizeof *t);
	for (size_t i = 0; i < r->n_agents; i++) {
		const Quell__AgentInfo *a = r->agents[i];
		t->hosts += a->n_checks > 0;
		for (size_t j = 0; j < a->n_checks; j++) {
			unsigned s = (unsigned)state_now(a, a->checks[j]);
			t->n[s < 3 ? s : 0]++;
			t->checks++;
		}
	}
}

static void print_json(const Quell__ControlReply *r, bool failing, const struct tally *t)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(root, "checks");
	for (size_t i = 0; i < r->n_agents; i++) {
		const Quell__AgentInfo *a = r->agents[i];
		for (size_t j = 0; j < a->n_checks; j++) {
			const Quell__CheckState *c = a->checks[j];
			Quell__CheckState__State s = state_now(a, c);
			if (failing && s != QUELL__CHECK_STATE__STATE__STATE_FAILING)
				continue;
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "host", a->hostname);
			cJSON_AddStringToObject(o, "check", c->name);
			cJSON_AddStringToObject(o, "state", state_name(s));
			cJSON_AddStringToObject(o, "reported_state", state_name(c->state));
			cJSON_AddBoolToObject(o, "connected", a->connected);
			cJSON_AddNumberToObject(o, "since", (double)c->since);
			cJSON_AddStringToObject(o, "detail", c->detail);
			cJSON_AddItemToArray(arr, o);
		}
	}
	cJSON *counts = cJSON_AddObjectToObject(root, "counts");
	cJSON_AddNumberToObject(counts, "failing",
	                        (double)t->n[QUELL__CHECK_STATE__STATE__STATE_FAILING]);
	cJSON_AddNumberToObject(counts, "passing",
	                        (double)t->n[QUELL__CHECK_STATE__STATE__STATE_PASSING]);
	cJSON_AddNumberToObject(counts, "unknown",
	                        (double)t->n[QUELL__CHECK_STATE__STATE__STATE_UNKNOWN]);
	cJSON_AddNumberToObject(root, "hosts", (double)t->hosts);
	qcli_print_json(root);
}

static void print_table(const Quell__ControlReply *r, bool failing, const struct tally *t)
{
	int64_t now = (int64_t)time(NULL);
	int hw = 4, cw = 5; /* HOST, CHECK */
	for (size_t i = 0; i < r->n_agents; i++)
		for (size_t j = 0; j < r->agents[i]->n_checks; j++) {
			int h = (int)strlen(r->agents[i]->hostname);
			int c = (int)strlen(r->agents[i]->checks[j]->name);
			hw = h > hw ? h : hw;
			cw = c > cw ? c : cw;
		}
	printf("%-*s  %-*s  %-8s  %-5s  %s\n", hw, "HOST", cw, "CHECK", "STATE", "SINCE", "DETAIL");
	for (size_t i = 0; i < r->n_agents; i++) {
		const Quell__AgentInfo *a = r->agents[i];
		for (size_t j = 0; j < a->n_checks; j++) {
			const Quell__CheckState *c = a->checks[j];
			Quell__CheckState__State s = state_now(a, c);
			if (failing && s != QUELL__CHECK_STATE__STATE__STATE_FAILING)
				continue;
			char since[16] = "-";
			if (c->since > 0)
				qcli_span(now - c->since, since, sizeof since);
			printf("%-*s  %-*s  %-8s  %-5s  %s%s%s%s\n", hw, a->hostname, cw, c->name,
			       state_name(s), since,
			       a->connected ? "" : "agent disconnected; last: ",
			       a->connected ? "" : state_name(c->state), a->connected ? "" : ", ",
			       c->detail);
		}
	}
	printf("%zu check%s on %zu host%s: %zu failing, %zu passing, %zu unknown\n", t->checks,
	       t->checks == 1 ? "" : "s", t->hosts, t->hosts == 1 ? "" : "s",
	       t->n[QUELL__CHECK_STATE__STATE__STATE_FAILING],
	       t->n[QUELL__CHECK_STATE__STATE__STATE_PASSING],
	       t->n[QUELL__CHECK_STATE__STATE__STATE_UNKNOWN]);
}

static int health_exec(int argc, char **argv)
{
	const char *target = "all", *config = NULL;
	bool json = false, failing = false;
	const struct qcli_opt own[] = {
		{"target", NULL, &target}, {"failing", &failing, NULL}, {NULL, NULL, NULL}};
	int rc = qcli_parse_read(argc, argv, HEALTH_USAGE, own, &json, &config);
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return qcli_usage(HEALTH_USAGE);
	Quell__ControlReply *r = qcli_list_agents(config, target, &rc);
	if (r == NULL)
		return rc;
	struct tally t;
	count(r, &t);
	if (json)
		print_json(r, failing, &t);
	else
		print_table(r, failing, &t);
	quell__control_reply__free_unpacked(r, NULL);
	return QCLI_EXIT_OK;
}

const struct qcli_verb qcli_verb_health = {
	.name = "health",
	.usage = HEALTH_USAGE,
	.summary = "the agents' health checks, one line per host and check",
	.exec = health_exec,
};
