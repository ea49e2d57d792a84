/*
 * verb-pause.c: `quell pause HANDLE` stops a worker handle's worker from taking work
 * (SIGSTOP to its process groups, its pause file, or its stop command).
 */
#include "cli.h"

static int pause_exec(int argc, char **argv)
{
	return qcli_handle_verb(argc, argv, "pause", "pause HANDLE" QCLI_COMMON_USAGE);
}

const struct qcli_verb qcli_verb_pause = {
	.name = "pause",
	.usage = "pause HANDLE",
	.summary = "stop a worker taking work (SIGSTOP or its pause way)",
	.exec = pause_exec,
};
