/*
 * verb-jobs.c: `quell jobs [--json] [--limit N]` lists the coordinator's
 * most recent jobs, newest first: id (for `quell job ID`), age, the
 * operator who signed it, what it does and to which target, whether it is
 * still running, and its hosts by status.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "keys.h"
#include "log.h"

#define JOBS_USAGE "jobs [--limit N] [--json]"
#define JOBS_DEFAULT 20

struct count {
	const char *name;
	uint32_t n;
};

static void counts_of(const Quell__JobInfo *j, struct count out[7])
{
	struct count c[7] = {{"ok", j->ok},
	                     {"failed", j->failed},
	                     {"rejected", j->rejected},
	                     {"timeout", j->timeout},
	                     {"unreachable", j->unreachable},
	                     {"skipped", j->skipped},
	                     {"in progress", j->in_progress}};
	memcpy(out, c, sizeof c);
}

static void what_of(const Quell__JobInfo *j, char *buf, size_t len)
{
	size_t off =
		(size_t)snprintf(buf, len, "%s%s%s", j->action, j->handle[0] ? " " : "", j->handle);
	for (size_t i = 0; i < j->n_args && off < len; i++) {
		if (strlen(j->args[i]->value) > 24 || strpbrk(j->args[i]->value, " \t\n"))
			continue;
		off += (size_t)snprintf(buf + off, len - off, " %s=%s", j->args[i]->key,
		                        j->args[i]->value);
	}
	if (j->dry_run && off < len)
		snprintf(buf + off, len - off, " (dry run)");
}

static void print_json(const Quell__ControlReply *r)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(root, "jobs");
	for (size_t i = 0; i < r->n_jobs; i++) {
		const Quell__JobInfo *j = r->jobs[i];
		char hex[2 * QL_JOB_ID_LEN + 1], key[QL_PUBKEY_B64_LEN] = "";
		ql_hex(j->job_id.data, QL_JOB_ID_LEN, hex);
		if (j->signer.len == QL_PUBKEY_LEN)
			ql_pubkey_format(j->signer.data, key);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "job", hex);
		cJSON_AddNumberToObject(o, "created", (double)(j->created_ms / 1000));
		cJSON_AddStringToObject(o, "operator", j->operator_name);
		cJSON_AddStringToObject(o, "signer", key);
		cJSON_AddStringToObject(o, "action", j->action);
		cJSON_AddStringToObject(o, "handle", j->handle);
		cJSON_AddStringToObject(o, "target", j->target);
		cJSON_AddStringToObject(o, "reason", j->reason);
		cJSON_AddBoolToObject(o, "dry_run", j->dry_run);
		cJSON_AddStringToObject(o, "state", j->state);
		cJSON_AddNumberToObject(o, "hosts", j->target_count);
		cJSON *counts = cJSON_AddObjectToObject(o, "counts");
		struct count c[7];
		counts_of(j, c);
		for (size_t k = 0; k < 6; k++)
			cJSON_AddNumberToObject(counts, c[k].name, c[k].n);
		cJSON_AddNumberToObject(o, "in_progress", j->in_progress);
		cJSON_AddItemToArray(arr, o);
	}
	qcli_print_json(root);
}

static void print_table(const Quell__ControlReply *r)
{
	printf("%-32s  %-4s  %-12s  %-11s  %-24s  %-16s  %s\n", "JOB", "AGE", "OPERATOR", "STATE",
	       "WHAT", "TARGET", "HOSTS");
	for (size_t i = 0; i < r->n_jobs; i++) {
		const Quell__JobInfo *j = r->jobs[i];
		char hex[2 * QL_JOB_ID_LEN + 1], age[24], what[160], hosts[160];
		ql_hex(j->job_id.data, QL_JOB_ID_LEN, hex);
		qcli_span(ql_now() - j->created_ms / 1000, age, sizeof age);
		what_of(j, what, sizeof what);
		struct count c[7];
		counts_of(j, c);
		size_t off = 0;
		hosts[0] = '\0';
		for (size_t k = 0; k < 7 && off < sizeof hosts; k++)
			if (c[k].n)
				off += (size_t)snprintf(hosts + off, sizeof hosts - off, "%s%u %s",
				                        off ? ", " : "", c[k].n, c[k].name);
		if (j->target_count == 0)
			snprintf(hosts, sizeof hosts, "no hosts");
		printf("%-32s  %-4s  %-12s  %-11s  %-24s  %-16s  %s\n", hex, age, j->operator_name,
		       j->state, what, j->target, hosts);
	}
	printf("%zu job%s\n", r->n_jobs, r->n_jobs == 1 ? "" : "s");
}

static int jobs_exec(int argc, char **argv)
{
	bool json;
	const char *config, *limit_arg = NULL;
	const struct qcli_opt own[] = {{"limit", NULL, &limit_arg}, {NULL, NULL, NULL}};
	int rc = qcli_parse_read(argc, argv, JOBS_USAGE, own, &json, &config);
	if (rc >= 0)
		return rc;
	long limit = JOBS_DEFAULT;
	if (limit_arg) {
		char *end;
		limit = strtol(limit_arg, &end, 10);
		if (*end || end == limit_arg || limit < 1 || limit > QL_MAX_JOBS_LIST) {
			fprintf(stderr, "quell: --limit takes a number from 1 to %d\n",
			        QL_MAX_JOBS_LIST);
			return QCLI_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return qcli_usage(JOBS_USAGE);
	struct qcli_conn *c = qcli_connect(config, &rc);
	if (c == NULL)
		return rc;
	Quell__ControlRequest req;
	quell__control_request__init(&req);
	Quell__ListJobs lj = QUELL__LIST_JOBS__INIT;
	lj.limit = (uint32_t)limit;
	req.req_case = QUELL__CONTROL_REQUEST__REQ_JOBS;
	req.jobs = &lj;
	Quell__ControlReply *r = qcli_call(c, &req, 0, &rc);
	qcli_close(c);
	if (r == NULL)
		return rc;
	if (json)
		print_json(r);
	else
		print_table(r);
	quell__control_reply__free_unpacked(r, NULL);
	return QCLI_EXIT_OK;
}

const struct qcli_verb qcli_verb_jobs = {
	.name = "jobs",
	.usage = JOBS_USAGE,
	.summary = "recent jobs, newest first: who signed them, state, results",
	.exec = jobs_exec,
};
