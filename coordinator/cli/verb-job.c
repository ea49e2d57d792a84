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
	static const struct option opts[] = {
		{"follow", no_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = getenv("QUELL_CONFIG");
	bool follow = false, json = false;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			follow = true;
			break;
		case 'j':
			json = true;
			break;
		case 'c':
			config = optarg;
			break;
		case 'h':
			printf("usage: quell %s\n", JOB_USAGE);
			return QCLI_EXIT_OK;
		default:
			fprintf(stderr, "usage: quell %s\n", JOB_USAGE);
			return QCLI_EXIT_USAGE;
		}
	}
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
