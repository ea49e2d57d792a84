/*
 * main.c: quell, the operator CLI: finds the verb and hands over.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "keys.h"

static const struct qcli_verb *const verbs[] = {
	&qcli_verb_keygen, &qcli_verb_agents,      &qcli_verb_health,
	&qcli_verb_ping,   &qcli_verb_maintenance, &qcli_verb_kill,
	&qcli_verb_pause,  &qcli_verb_resume,      &qcli_verb_restart,
	&qcli_verb_flag,   &qcli_verb_rollback,    &qcli_verb_scale,
	&qcli_verb_job,    &qcli_verb_jobs,        &qcli_verb_mitigations,
	&qcli_verb_undo,   &qcli_verb_extend,      &qcli_verb_timeline,
	&qcli_verb_audit,  &qcli_verb_automation,  NULL,
};

static void usage(FILE *f)
{
	fprintf(f, "usage: quell VERB [options]\n\nverbs:\n");
	for (size_t i = 0; verbs[i]; i++)
		fprintf(f, "  %-40s %s\n", verbs[i]->usage, verbs[i]->summary);
	fprintf(f,
	        "\ncommon options: -t/--target SELECTOR (default all), --reason TEXT,\n"
	        "  --timeout SECONDS (default 10), --json, --config FILE (or QUELL_CONFIG),\n"
	        "  -n/--dry-run (agents say what they would change, and change nothing),\n"
	        "  --canary N, --batch N|P%%, --max-failures N|P%% (safe rollout),\n"
	        "  --ttl DURATION (reversible actions: the agents revert it after 90s, 15m, 2h),\n"
	        "  --incident NAME (or QUELL_INCIDENT: groups commands for quell timeline)\n"
	        "exit status: 0 every host ok, 1 some host not ok, 2 usage,\n"
	        "  3 coordinator unreachable or operator refused\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return QCLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("quell %s\n", QL_VERSION);
		return 0;
	}
	if (ql_crypto_init() != QL_OK) {
		fprintf(stderr, "quell: libsodium failed to initialise\n");
		return 1;
	}
	for (size_t i = 0; verbs[i]; i++)
		if (strcmp(verbs[i]->name, argv[1]) == 0)
			return verbs[i]->exec(argc - 1, argv + 1);
	fprintf(stderr, "quell: unknown verb '%s'\n\n", argv[1]);
	usage(stderr);
	return QCLI_EXIT_USAGE;
}
