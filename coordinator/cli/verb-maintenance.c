/*
 * verb-maintenance.c: `quell maintenance on|off [HANDLE] [--message TEXT]`
 * writes (or removes) the maintenance file named by HANDLE (default
 * "site") on every targeted host; the web server answers 503 with it.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define MAINT_USAGE                                                                                \
	"maintenance on|off [HANDLE] [--message TEXT] [--ttl DURATION] [-t SELECTOR] [--reason TEXT] ..."

static int maintenance_exec(int argc, char **argv)
{
	struct qcli_opts o = {.allow_message = true, .allow_ttl = true};
	int rc = qcli_parse(argc, argv, MAINT_USAGE, &o);
	if (rc >= 0)
		return rc;
	int n = argc - optind;
	if (n < 1 || n > 2 ||
	    (strcmp(argv[optind], "on") != 0 && strcmp(argv[optind], "off") != 0)) {
		fprintf(stderr, "usage: quell %s\n", MAINT_USAGE);
		return QCLI_EXIT_USAGE;
	}
	const char *mode = argv[optind];
	const char *handle = n == 2 ? argv[optind + 1] : "site";
	if (strcmp(mode, "off") == 0 && o.message) {
		fprintf(stderr, "quell: --message only goes with 'maintenance on'\n");
		return QCLI_EXIT_USAGE;
	}
	if (strcmp(mode, "off") == 0 && o.ttl) {
		fprintf(stderr, "quell: --ttl only goes with 'maintenance on' (off ends it)\n");
		return QCLI_EXIT_USAGE;
	}
	Quell__Arg a_mode = QUELL__ARG__INIT, a_msg = QUELL__ARG__INIT;
	Quell__Arg *args[2] = {&a_mode, &a_msg};
	a_mode.key = "mode";
	a_mode.value = (char *)mode;
	a_msg.key = "message";
	a_msg.value = (char *)(o.message ? o.message : "");
	return qcli_run(&o, "maintenance", handle, args, o.message ? 2 : 1);
}

const struct qcli_verb qcli_verb_maintenance = {
	.name = "maintenance",
	.usage = "maintenance on|off [HANDLE] [--message TEXT]",
	.summary = "put the site in (or out of) maintenance mode",
	.exec = maintenance_exec,
};
