/*
 * verb-flag.c: `quell flag NAME on|off [--file HANDLE]` sets one feature
 * flag in the flag file of HANDLE (default "flags") on every targeted host.
 * The flag name is checked here with the agent's rule (1..64 of
 * A-Z a-z 0-9 _ . -) so a typo is a usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define FLAG_USAGE "flag NAME on|off [--file HANDLE] [-n] [-t SELECTOR] [--reason TEXT] ..."

static bool flag_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= 64 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int flag_exec(int argc, char **argv)
{
	struct qcli_opts o = {.allow_file = true, .allow_ttl = true};
	int rc = qcli_parse(argc, argv, FLAG_USAGE, &o);
	if (rc >= 0)
		return rc;
	if (argc - optind != 2 ||
	    (strcmp(argv[optind + 1], "on") != 0 && strcmp(argv[optind + 1], "off") != 0)) {
		fprintf(stderr, "usage: quell %s\n", FLAG_USAGE);
		return QCLI_EXIT_USAGE;
	}
	if (!flag_name_ok(argv[optind])) {
		fprintf(stderr, "quell: a flag name is 1 to 64 characters of A-Z a-z 0-9 _ . -\n");
		return QCLI_EXIT_USAGE;
	}
	if (o.file && o.file[0] == '\0') {
		fprintf(stderr, "quell: --file needs a handle name\n");
		return QCLI_EXIT_USAGE;
	}
	Quell__Arg a_name = QUELL__ARG__INIT, a_value = QUELL__ARG__INIT;
	Quell__Arg *args[2] = {&a_name, &a_value};
	a_name.key = "name";
	a_name.value = argv[optind];
	a_value.key = "value";
	a_value.value = argv[optind + 1];
	return qcli_run(&o, "flag", o.file ? o.file : "flags", args, 2);
}

const struct qcli_verb qcli_verb_flag = {
	.name = "flag",
	.usage = "flag NAME on|off [--file HANDLE]",
	.summary = "set a feature flag (handle default: flags)",
	.exec = flag_exec,
};
