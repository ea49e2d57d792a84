/*
 * verb-kill.c: `quell kill HANDLE [--signal SIG] [--grace S]` stops the
 * processes a process handle matches: SIG (default: the handle's, else
 * TERM), then KILL after S seconds (default: the handle's grace). Not
 * reversible. The signal name and grace are checked here as well as on the
 * agent, so a typo is a usage error before anything is signed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define KILL_USAGE "kill HANDLE [--signal SIG] [--grace S] [-n] [-t SELECTOR] [--reason TEXT] ..."

/* The names the agent accepts (agent/handles.c), with or without "SIG". */
static bool signal_ok(const char *s)
{
	static const char *const names[] = {"TERM", "KILL", "HUP", "INT", "QUIT", "USR1", "USR2"};
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

static bool grace_ok(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return s[0] >= '0' && s[0] <= '9' && *end == '\0' && v >= 0 && v <= 600;
}

static int kill_exec(int argc, char **argv)
{
	struct qcli_opts o = {.allow_kill_opts = true};
	int rc = qcli_parse(argc, argv, KILL_USAGE, &o);
	if (rc >= 0)
		return rc;
	if (argc - optind != 1 || argv[optind][0] == '\0') {
		fprintf(stderr, "usage: quell %s\n", KILL_USAGE);
		return QCLI_EXIT_USAGE;
	}
	if (o.signal && !signal_ok(o.signal)) {
		fprintf(stderr,
		        "quell: --signal must be one of TERM, KILL, HUP, INT, QUIT, USR1, USR2\n");
		return QCLI_EXIT_USAGE;
	}
	if (o.grace && !grace_ok(o.grace)) {
		fprintf(stderr, "quell: --grace takes whole seconds from 0 to 600\n");
		return QCLI_EXIT_USAGE;
	}
	Quell__Arg a_sig = QUELL__ARG__INIT, a_grace = QUELL__ARG__INIT;
	Quell__Arg *args[2];
	size_t n = 0;
	if (o.signal) {
		a_sig.key = "signal";
		a_sig.value = (char *)o.signal;
		args[n++] = &a_sig;
	}
	if (o.grace) {
		a_grace.key = "grace";
		a_grace.value = (char *)o.grace;
		args[n++] = &a_grace;
	}
	return qcli_run(&o, "kill", argv[optind], args, n);
}

const struct qcli_verb qcli_verb_kill = {
	.name = "kill",
	.usage = "kill HANDLE [--signal SIG] [--grace S]",
	.summary = "signal matched processes, KILL after grace (no undo)",
	.exec = kill_exec,
};
