/*
 * verb-scale.c: `quell scale HANDLE N` runs exactly N instances (0..64;
 * each agent also enforces its handle's max) of an instances handle,
 * starting or stopping the difference.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define SCALE_USAGE "scale HANDLE N [-n] [-t SELECTOR] [--reason TEXT] ..."

static int scale_exec(int argc, char **argv)
{
	struct qcli_opts o = {.allow_ttl = true};
	int rc = qcli_parse(argc, argv, SCALE_USAGE, &o);
	if (rc >= 0)
		return rc;
	if (argc - optind != 2 || argv[optind][0] == '\0') {
		fprintf(stderr, "usage: quell %s\n", SCALE_USAGE);
		return QCLI_EXIT_USAGE;
	}
	const char *count = argv[optind + 1];
	char *end;
	long v = strtol(count, &end, 10);
	if (count[0] < '0' || count[0] > '9' || *end != '\0' || v < 0 || v > 64 ||
	    strlen(count) > 2) {
		fprintf(stderr, "quell: N must be a whole number from 0 to 64\n");
		return QCLI_EXIT_USAGE;
	}
	Quell__Arg a_count = QUELL__ARG__INIT;
	Quell__Arg *args[1] = {&a_count};
	a_count.key = "count";
	a_count.value = (char *)count;
	return qcli_run(&o, "scale", argv[optind], args, 1);
}

const struct qcli_verb qcli_verb_scale = {
	.name = "scale",
	.usage = "scale HANDLE N",
	.summary = "run exactly N (0..64) instances",
	.exec = scale_exec,
};
