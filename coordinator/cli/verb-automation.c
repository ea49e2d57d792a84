/*
 * verb-automation.c: `quell automation status|pause|resume [--reason TEXT]
 * [--json]`: the one switch for all automation, fleet-wide (it persists
 * across coordinator restarts and records who flipped it and why), and what
 * every rule did last: when it fired, its cooldown, the hosts it touched in
 * the window against its cap, and the last time a limit held it back.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "codec.h"
#include "log.h"

#define AUTOMATION_USAGE "automation status|pause|resume [--reason TEXT] [--json]"

static void iso(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void add_time(cJSON *o, const char *name, int64_t t)
{
	char buf[32];
	if (t == 0) {
		cJSON_AddNullToObject(o, name);
		return;
	}
	iso(t, buf, sizeof buf);
	cJSON_AddStringToObject(o, name, buf);
}

static void print_json(const Quell__AutomationStatus *a)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "paused", a->paused);
	cJSON_AddStringToObject(root, "paused_by", a->paused_by);
	cJSON_AddStringToObject(root, "paused_reason", a->paused_reason);
	add_time(root, "switched_at", a->paused_at);
	cJSON_AddNumberToObject(root, "actions_in_window", a->actions_in_window);
	cJSON_AddNumberToObject(root, "max_actions", a->max_actions);
	cJSON_AddNumberToObject(root, "window_seconds", a->window_seconds);
	cJSON *rules = cJSON_AddArrayToObject(root, "rules");
	for (size_t i = 0; i < a->n_rules; i++) {
		const Quell__RuleStatus *r = a->rules[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", r->name);
		cJSON_AddStringToObject(o, "kind", r->kind);
		cJSON_AddStringToObject(o, "action", r->action);
		cJSON_AddStringToObject(o, "target", r->target);
		add_time(o, "last_fired", r->last_fired);
		add_time(o, "cooldown_until", r->cooldown_until);
		cJSON_AddNumberToObject(o, "hosts_in_window", r->hosts_in_window);
		cJSON_AddNumberToObject(o, "max_hosts", r->max_hosts);
		cJSON_AddStringToObject(o, "last_held", r->last_held);
		add_time(o, "last_held_at", r->last_held_at);
		cJSON_AddItemToArray(rules, o);
	}
	qcli_print_json(root);
}

static void print_text(const Quell__AutomationStatus *a)
{
	char t[32], ago[16];
	int64_t now = ql_now();
	if (a->paused) {
		iso(a->paused_at, t, sizeof t);
		printf("automation PAUSED by %s at %s%s%s\n", a->paused_by, t,
		       a->paused_reason[0] ? ": " : "", a->paused_reason);
	} else if (a->paused_by[0]) {
		iso(a->paused_at, t, sizeof t);
		printf("automation on (resumed by %s at %s%s%s)\n", a->paused_by, t,
		       a->paused_reason[0] ? ": " : "", a->paused_reason);
	} else {
		printf("automation on\n");
	}
	printf("automated jobs in the last %us: %u of at most %u\n", a->window_seconds,
	       a->actions_in_window, a->max_actions);
	printf("%-16s  %-5s  %-10s  %-9s  %-16s  %s\n", "RULE", "KIND", "LAST FIRED", "HOSTS",
	       "TARGET", "ACTION");
	for (size_t i = 0; i < a->n_rules; i++) {
		const Quell__RuleStatus *r = a->rules[i];
		char last[24] = "never", hosts[24];
		if (r->last_fired) {
			qcli_span(now - r->last_fired, ago, sizeof ago);
			snprintf(last, sizeof last, "%s ago", ago);
		}
		snprintf(hosts, sizeof hosts, "%u/%u", r->hosts_in_window, r->max_hosts);
		printf("%-16s  %-5s  %-10s  %-9s  %-16s  %s\n", r->name, r->kind, last, hosts,
		       r->target[0] ? r->target : "-", r->action);
		if (r->cooldown_until > now) {
			qcli_span(r->cooldown_until - now, ago, sizeof ago);
			printf("%-16s  in its cooldown for %s more\n", "", ago);
		}
		if (r->last_held[0]) {
			qcli_span(now - r->last_held_at, ago, sizeof ago);
			printf("%-16s  held back %s ago: %s\n", "", ago, r->last_held);
		}
	}
}

static int automation_exec(int argc, char **argv)
{
	bool json;
	const char *config, *reason = NULL;
	const struct qcli_opt own[] = {{"reason", NULL, &reason}, {NULL, NULL, NULL}};
	int rc = qcli_parse_read(argc, argv, AUTOMATION_USAGE, own, &json, &config);
	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return qcli_usage(AUTOMATION_USAGE);
	Quell__AutomationRequest ar = QUELL__AUTOMATION_REQUEST__INIT;
	const char *op = argv[optind];
	if (strcmp(op, "status") == 0)
		ar.op = QUELL__AUTOMATION_REQUEST__OP__OP_STATUS;
	else if (strcmp(op, "pause") == 0)
		ar.op = QUELL__AUTOMATION_REQUEST__OP__OP_PAUSE;
	else if (strcmp(op, "resume") == 0)
		ar.op = QUELL__AUTOMATION_REQUEST__OP__OP_RESUME;
	else
		return qcli_usage(AUTOMATION_USAGE);
	if (reason && (ar.op == QUELL__AUTOMATION_REQUEST__OP__OP_STATUS ||
	               !ql_text_ok(reason, QL_MAX_REASON))) {
		fprintf(stderr,
		        "quell: --reason goes with pause or resume, printable text up to %d "
		        "bytes\n",
		        QL_MAX_REASON);
		return QCLI_EXIT_USAGE;
	}
	ar.reason = (char *)(reason ? reason : "");
	struct qcli_conn *c = qcli_connect(config, &rc);
	if (c == NULL)
		return rc;
	Quell__ControlRequest req;
	quell__control_request__init(&req);
	req.req_case = QUELL__CONTROL_REQUEST__REQ_AUTOMATION;
	req.automation = &ar;
	Quell__ControlReply *r = qcli_call(c, &req, 0, &rc);
	qcli_close(c);
	if (r == NULL)
		return rc;
	if (r->automation == NULL) {
		fprintf(stderr, "quell: unexpected answer from the coordinator\n");
		quell__control_reply__free_unpacked(r, NULL);
		return QCLI_EXIT_NOT_OK;
	}
	if (json)
		print_json(r->automation);
	else
		print_text(r->automation);
	quell__control_reply__free_unpacked(r, NULL);
	return QCLI_EXIT_OK;
}

const struct qcli_verb qcli_verb_automation = {
	.name = "automation",
	.usage = AUTOMATION_USAGE,
	.summary = "automation fleet-wide: status, or pause/resume it all",
	.exec = automation_exec,
};
