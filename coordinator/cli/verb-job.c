/*
 * verb-job.c: `quell job ID [--follow] [--json]` reattaches to a job by the
 * id the CLI printed (or `quell jobs` lists): one the coordinator is running,
 * finished recently, or has only in its store. Without --follow it prints
 * what is known now (final hosts, and how many are still in progress); with
 * it, it follows the job to the end exactly as the submitting CLI would
 * have (the same loop, qcli_follow, and the same output).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "log.h"

#define JOB_USAGE "job ID [--follow] [--json]"

static int job_exec(int argc, char **argv)
{
	bool follow = false, json;
	const char *config;
	const struct qcli_opt own[] = {{"follow", &follow, NULL}, {NULL, NULL, NULL}};
	int rc = qcli_parse_read(argc, argv, JOB_USAGE, own, &json, &config);
	if (rc >= 0)
		return rc;
	uint8_t id[QL_JOB_ID_LEN];
	if (argc - optind != 1 || !ql_unhex(argv[optind], id, sizeof id)) {
		fprintf(stderr, "quell: a job id is %d hex digits (see quell jobs)\n",
		        2 * QL_JOB_ID_LEN);
		fprintf(stderr, "usage: quell %s\n", JOB_USAGE);
		return QCLI_EXIT_USAGE;
	}
	int code;
	struct qcli_conn *c = qcli_connect(config, &code);
	if (c == NULL)
		return code;
	struct qcli_job job = {.reattached = true};
	ql_hex(id, sizeof id, job.hex);
	code = qcli_follow(c, id, &job, follow, json, ql_mono_ms());
	qcli_close(c);
	return code;
}

const struct qcli_verb qcli_verb_job = {
	.name = "job",
	.usage = JOB_USAGE,
	.summary = "a job by its id: where it is now, or --follow it to the end",
	.exec = job_exec,
};
