/*
 * verb-mitigations.c: the mitigation lifecycle from the operator's side.
 *
 *   quell mitigations [--all] [--json]   what is in effect (or was), per host
 *   quell undo ID                        put back the state from before it
 *   quell extend ID --ttl DURATION       revert later (from now)
 *
 * ID is a mitigation id (the job id of the command that created it, as
 * `quell mitigations` prints it) or its first 8 or more hex digits. undo and
 * extend are signed jobs like any other: the CLI looks the mitigation up,
 * then signs a command naming its full id, for its handle and target, in
 * its incident (unless --incident says otherwise); the coordinator sends it
 * to the hosts the mitigation is on, and each agent acts on its own record.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "codec.h"
#include "log.h"

#define LIST_USAGE "mitigations [--all] [--json]"
#define UNDO_USAGE "undo ID [-n] [--reason TEXT] [--incident NAME] ..."
#define EXTEND_USAGE "extend ID --ttl DURATION [-n] [--reason TEXT] [--incident NAME] ..."

static void what_of(const Quell__MitigationInfo *m, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "%s %s", m->action, m->handle);
	for (size_t i = 0; i < m->n_args && off < len; i++) {
		if (strlen(m->args[i]->value) > 24 || strpbrk(m->args[i]->value, " \t\n"))
			continue;
		off += (size_t)snprintf(buf + off, len - off, " %s=%s", m->args[i]->key,
		                        m->args[i]->value);
	}
}

static void iso(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_json(const Quell__ControlReply *r)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(root, "mitigations");
	for (size_t i = 0; i < r->n_mitigations; i++) {
		const Quell__MitigationInfo *m = r->mitigations[i];
		char hex[2 * QL_JOB_ID_LEN + 1], t[32];
		ql_hex(m->id.data, QL_JOB_ID_LEN, hex);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", hex);
		cJSON_AddStringToObject(o, "action", m->action);
		cJSON_AddStringToObject(o, "handle", m->handle);
		cJSON *args = cJSON_AddObjectToObject(o, "args");
		for (size_t k = 0; k < m->n_args; k++)
			cJSON_AddStringToObject(args, m->args[k]->key, m->args[k]->value);
		cJSON_AddStringToObject(o, "target", m->target);
		cJSON_AddStringToObject(o, "operator", m->operator_name);
		cJSON_AddStringToObject(o, "reason", m->reason);
		cJSON_AddStringToObject(o, "incident", m->incident);
		cJSON_AddNumberToObject(o, "ttl_seconds", m->ttl_seconds);
		iso(m->since, t, sizeof t);
		cJSON_AddStringToObject(o, "since", t);
		if (m->expires_at) {
			iso(m->expires_at, t, sizeof t);
			cJSON_AddStringToObject(o, "expires", t);
		} else {
			cJSON_AddNullToObject(o, "expires");
		}
		cJSON *hosts = cJSON_AddObjectToObject(o, "hosts");
		cJSON_AddNumberToObject(hosts, "active", m->active);
		cJSON_AddNumberToObject(hosts, "reverted", m->reverted);
		cJSON_AddNumberToObject(hosts, "revert_failed", m->revert_failed);
		cJSON_AddNumberToObject(hosts, "replaced", m->replaced);
		if (m->n_hosts) {
			cJSON *per = cJSON_AddArrayToObject(o, "per_host");
			for (size_t k = 0; k < m->n_hosts; k++) {
				const Quell__MitigationHost *h = m->hosts[k];
				cJSON *ho = cJSON_CreateObject();
				cJSON_AddStringToObject(ho, "host", h->hostname);
				cJSON_AddStringToObject(ho, "state", h->state);
				cJSON_AddStringToObject(ho, "cause", h->cause);
				if (h->expires_at) {
					iso(h->expires_at, t, sizeof t);
					cJSON_AddStringToObject(ho, "expires", t);
				}
				iso(h->updated_at, t, sizeof t);
				cJSON_AddStringToObject(ho, "updated", t);
				cJSON_AddStringToObject(ho, "detail", h->detail);
				cJSON_AddItemToArray(per, ho);
			}
		}
		cJSON_AddItemToArray(arr, o);
	}
	qcli_print_json(root);
}

static void print_table(const Quell__ControlReply *r, bool all)
{
	printf("%-12s  %-5s  %-7s  %-12s  %-36s  %-16s  %-12s  %s\n", "ID", "SINCE", "EXPIRES",
	       "OPERATOR", "WHAT", "TARGET", "INCIDENT", "HOSTS");
	int64_t now = ql_now();
	for (size_t i = 0; i < r->n_mitigations; i++) {
		const Quell__MitigationInfo *m = r->mitigations[i];
		char hex[2 * QL_JOB_ID_LEN + 1], since[16], expires[24] = "-", what[160],
							    hosts[160];
		ql_hex(m->id.data, QL_JOB_ID_LEN, hex);
		qcli_span(now - m->since, since, sizeof since);
		if (m->expires_at) {
			char in[16];
			qcli_span(m->expires_at - now, in, sizeof in);
			snprintf(expires, sizeof expires, "in %s", in);
		}
		what_of(m, what, sizeof what);
		snprintf(hosts, sizeof hosts, "%u active, %u reverted", m->active, m->reverted);
		size_t off = strlen(hosts);
		if (m->revert_failed)
			off += (size_t)snprintf(hosts + off, sizeof hosts - off,
			                        ", %u FAILED TO REVERT", m->revert_failed);
		if (m->replaced && off < sizeof hosts)
			snprintf(hosts + off, sizeof hosts - off, ", %u replaced", m->replaced);
		printf("%-12.12s  %-5s  %-7s  %-12s  %-36s  %-16s  %-12s  %s\n", hex, since,
		       expires, m->operator_name, what, m->target,
		       m->incident[0] ? m->incident : "-", hosts);
		if (m->reason[0])
			printf("%-12s  reason: %s\n", "", m->reason);
		for (size_t k = 0; k < m->n_hosts; k++) {
			const Quell__MitigationHost *h = m->hosts[k];
			char left[40] = "";
			if (strcmp(h->state, "active") == 0 && h->expires_at) {
				char in[16];
				qcli_span(h->expires_at - now, in, sizeof in);
				snprintf(left, sizeof left, " (reverts in %s)", in);
			}
			printf("%-12s  %-24s %s%s %s: %s\n", "", h->hostname, h->state, left,
			       h->cause, h->detail);
		}
	}
	printf("%zu %smitigation%s\n", r->n_mitigations, all ? "" : "active ",
	       r->n_mitigations == 1 ? "" : "s");
}

/* ListMitigations: all, or the one whose id starts with id. NULL after printing why. */
static Quell__ControlReply *list(struct qcli_conn *c, bool all, const char *id, int *rc)
{
	Quell__ControlRequest req;
	quell__control_request__init(&req);
	Quell__ListMitigations lm = QUELL__LIST_MITIGATIONS__INIT;
	lm.all = all;
	lm.id = (char *)(id ? id : "");
	lm.limit = QL_MAX_MITIGATIONS_LIST;
	req.req_case = QUELL__CONTROL_REQUEST__REQ_MITIGATIONS;
	req.mitigations = &lm;
	return qcli_call(c, &req, 0, rc);
}

static int list_exec(int argc, char **argv)
{
	bool json, all = false;
	const char *config;
	const struct qcli_opt own[] = {{"all", &all, NULL}, {NULL, NULL, NULL}};
	int rc = qcli_parse_read(argc, argv, LIST_USAGE, own, &json, &config);
	if (rc >= 0)
		return rc;
	if (optind != argc)
		return qcli_usage(LIST_USAGE);
	struct qcli_conn *c = qcli_connect(config, &rc);
	if (c == NULL)
		return rc;
	Quell__ControlReply *r = list(c, all, NULL, &rc);
	qcli_close(c);
	if (r == NULL)
		return rc;
	if (json)
		print_json(r);
	else
		print_table(r, all);
	quell__control_reply__free_unpacked(r, NULL);
	return QCLI_EXIT_OK;
}

/* undo ID / extend ID --ttl D: look the mitigation up, then sign and follow a job. */
static int lifecycle_exec(int argc, char **argv, const char *action, const char *usage)
{
	struct qcli_opts o = {.allow_ttl = strcmp(action, "extend") == 0};
	int rc = qcli_parse(argc, argv, usage, &o);
	if (rc >= 0)
		return rc;
	if (argc - optind != 1) {
		fprintf(stderr, "usage: quell %s\n", usage);
		return QCLI_EXIT_USAGE;
	}
	char id[2 * QL_JOB_ID_LEN + 1];
	snprintf(id, sizeof id, "%s", argv[optind]);
	for (char *p = id; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (strlen(argv[optind]) > 2 * QL_JOB_ID_LEN || !ql_hex_prefix_ok(id)) {
		fprintf(stderr, "quell: a mitigation id is 8 to 32 hex digits (see quell "
		                "mitigations)\n");
		return QCLI_EXIT_USAGE;
	}
	if (o.allow_ttl && o.ttl == 0) {
		fprintf(stderr,
		        "quell: extend needs --ttl DURATION (the new time left, from now)\n");
		return QCLI_EXIT_USAGE;
	}
	struct qcli_conn *c = qcli_connect(o.config, &rc);
	if (c == NULL)
		return rc;
	Quell__ControlReply *r = list(c, true, id, &rc);
	qcli_close(c);
	if (r == NULL)
		return rc;
	if (r->n_mitigations != 1) {
		fprintf(stderr, "quell: unexpected answer from the coordinator\n");
		quell__control_reply__free_unpacked(r, NULL);
		return QCLI_EXIT_NOT_OK;
	}
	const Quell__MitigationInfo *m = r->mitigations[0];
	char full[2 * QL_JOB_ID_LEN + 1], target[QL_MAX_SELECTOR + 1], handle[QL_MAX_HANDLE + 1],
		incident[QL_MAX_INCIDENT + 1], what[160];
	ql_hex(m->id.data, QL_JOB_ID_LEN, full);
	/* The coordinator is not trusted to pick what the operator's key signs. */
	if (strncmp(full, id, strlen(id)) != 0) {
		fprintf(stderr,
		        "quell: the coordinator answered %s for %s; refusing to sign an %s of it\n",
		        full, id, action);
		quell__control_reply__free_unpacked(r, NULL);
		return QCLI_EXIT_NOT_OK;
	}
	what_of(m, what, sizeof what);
	fprintf(stderr, "%s %s: %s, target %s%s%s\n", action, full, what, m->target,
	        m->incident[0] ? ", incident " : "", m->incident);
	snprintf(target, sizeof target, "%s", m->target);
	snprintf(handle, sizeof handle, "%s", m->handle);
	snprintf(incident, sizeof incident, "%s", m->incident);
	quell__control_reply__free_unpacked(r, NULL);
	/* The mitigation's own target and incident, unless told otherwise. */
	if (strcmp(o.target, "all") == 0)
		o.target = target;
	if (o.incident[0] == '\0')
		o.incident = incident;
	Quell__Arg a_id = QUELL__ARG__INIT;
	Quell__Arg *args[1] = {&a_id};
	a_id.key = "mitigation";
	a_id.value = full;
	return qcli_run(&o, action, handle, args, 1);
}

static int undo_exec(int argc, char **argv)
{
	return lifecycle_exec(argc, argv, "undo", UNDO_USAGE);
}

static int extend_exec(int argc, char **argv)
{
	return lifecycle_exec(argc, argv, "extend", EXTEND_USAGE);
}

const struct qcli_verb qcli_verb_mitigations = {
	.name = "mitigations",
	.usage = LIST_USAGE,
	.summary = "mitigations in effect (--all: also reverted ones), per host",
	.exec = list_exec,
};

const struct qcli_verb qcli_verb_undo = {
	.name = "undo",
	.usage = "undo ID",
	.summary = "restore the state from before mitigation ID on its hosts",
	.exec = undo_exec,
};

const struct qcli_verb qcli_verb_extend = {
	.name = "extend",
	.usage = "extend ID --ttl DURATION",
	.summary = "mitigation ID reverts DURATION from now instead",
	.exec = extend_exec,
};
