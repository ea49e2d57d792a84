/*
 * verb-audit.c: `quell audit verify [--json]`: has the coordinator's audit
 * log been changed? The coordinator walks the whole hash chain and reports
 * how many records it checked, whether they are intact or the first record
 * that is not and why, and the head: the hash of the newest record. The
 * chain cannot show that the newest records were removed, so operators
 * keep the head somewhere else and compare (README, "Security model").
 *
 * Exit status: 0 intact, 1 broken (or the report could not be had),
 * 2 usage, 3 coordinator unreachable.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"

#define AUDIT_USAGE "audit verify [--json]"

static void print_report(const Quell__AuditReport *a, const char *head, bool json)
{
	if (json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "records", (double)a->records);
		cJSON_AddBoolToObject(o, "intact", a->intact);
		if (a->intact) {
			cJSON_AddNullToObject(o, "first_bad");
			cJSON_AddNullToObject(o, "problem");
		} else {
			cJSON_AddNumberToObject(o, "first_bad", (double)a->first_bad);
			cJSON_AddStringToObject(o, "problem", a->problem);
		}
		cJSON_AddStringToObject(o, "head", head);
		qcli_print_json(o);
		return;
	}
	if (a->intact)
		printf("audit log intact: %llu record%s checked\n", (unsigned long long)a->records,
		       a->records == 1 ? "" : "s");
	else
		printf("audit log BROKEN at record %llu (%llu records checked): %s\n",
		       (unsigned long long)a->first_bad, (unsigned long long)a->records,
		       a->problem);
	printf("head: %s\n", head);
}

static int audit_exec(int argc, char **argv)
{
	bool json;
	const char *config;
	int rc = qcli_parse_read(argc, argv, AUDIT_USAGE, NULL, &json, &config);
	if (rc >= 0)
		return rc;
	if (optind != argc - 1 || strcmp(argv[optind], "verify") != 0)
		return qcli_usage(AUDIT_USAGE);
	struct qcli_conn *c = qcli_connect(config, &rc);
	if (c == NULL)
		return rc;
	Quell__ControlRequest req;
	quell__control_request__init(&req);
	Quell__AuditVerify av = QUELL__AUDIT_VERIFY__INIT;
	req.req_case = QUELL__CONTROL_REQUEST__REQ_AUDIT_VERIFY;
	req.audit_verify = &av;
	Quell__ControlReply *r = qcli_call(c, &req, 0, &rc);
	qcli_close(c);
	if (r == NULL)
		return rc;
	const Quell__AuditReport *a = r->audit;
	if (a == NULL || a->head.len != QL_HASH_LEN) {
		fprintf(stderr, "quell: the coordinator's reply has no audit report\n");
		quell__control_reply__free_unpacked(r, NULL);
		return QCLI_EXIT_NOT_OK;
	}
	char head[2 * QL_HASH_LEN + 1];
	ql_hex(a->head.data, QL_HASH_LEN, head);
	print_report(a, head, json);
	rc = a->intact ? QCLI_EXIT_OK : QCLI_EXIT_NOT_OK;
	quell__control_reply__free_unpacked(r, NULL);
	return rc;
}

const struct qcli_verb qcli_verb_audit = {
	.name = "audit",
	.usage = AUDIT_USAGE,
	.summary = "check the coordinator's hash-chained audit log; print its head hash",
	.exec = audit_exec,
};
