/*
 * verb-restart.c: `quell restart HANDLE` restarts a service handle (its restart
 * command, or stop + start and wait for its port) or every running
 * instance of an instances handle.
 */
#include "cli.h"

static int restart_exec(int argc, char **argv)
{
	return qcli_handle_verb(argc, argv, "restart", "restart HANDLE" QCLI_COMMON_USAGE);
}

const struct qcli_verb qcli_verb_restart = {
	.name = "restart",
	.usage = "restart HANDLE",
	.summary = "restart a service, or every running instance",
	.exec = restart_exec,
};
