/*
 * verb-resume.c: `quell resume HANDLE` undoes pause: SIGCONT, pause file removed, or
 * the handle's start command.
 */
#include "cli.h"

static int resume_exec(int argc, char **argv)
{
	return qcli_handle_verb(argc, argv, "resume", "resume HANDLE" QCLI_COMMON_USAGE);
}

const struct qcli_verb qcli_verb_resume = {
	.name = "resume",
	.usage = "resume HANDLE",
	.summary = "let a paused worker go on",
	.exec = resume_exec,
};
