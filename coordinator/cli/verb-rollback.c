/*
 * verb-rollback.c: `quell rollback HANDLE` points a release handle's `current` symlink
 * at the release before the current one and runs its reload command.
 */
#include "cli.h"

static int rollback_exec(int argc, char **argv)
{
	return qcli_handle_verb(argc, argv, "rollback", "rollback HANDLE" QCLI_COMMON_USAGE);
}

const struct qcli_verb qcli_verb_rollback = {
	.name = "rollback",
	.usage = "rollback HANDLE",
	.summary = "switch current to the previous release, reload",
	.exec = rollback_exec,
};
