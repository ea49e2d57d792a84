/*
 * verb-ping.c: `quell ping` proves reachability, the signature path and
 * the clocks of every targeted host, without touching anything.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

#define PING_USAGE "ping [-t SELECTOR] [--reason TEXT] [--timeout S] [--json]"

static int ping_exec(int argc, char **argv)
{
	struct qcli_opts o = {0};
	int rc = qcli_parse(argc, argv, PING_USAGE, &o);
	if (rc >= 0)
		return rc;
	if (optind != argc) {
		fprintf(stderr, "usage: quell %s\n", PING_USAGE);
		return QCLI_EXIT_USAGE;
	}
	return qcli_run(&o, "ping", "", NULL, 0);
}

const struct qcli_verb qcli_verb_ping = {
	.name = "ping",
	.usage = PING_USAGE,
	.summary = "check every targeted agent answers",
	.exec = ping_exec,
};
