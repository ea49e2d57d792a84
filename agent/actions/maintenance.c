/*
 * maintenance.c: maintenance mode on/off. The handle names the file the web
 * server checks (e.g. nginx: `if (-f $maint) { return 503; }` serving that
 * file). "on" writes the operator's message to it atomically (temp file in
 * the same directory, fsync, rename, fsync the directory), so the web server
 * never serves a half-written page; "off" removes it.
 *
 * Arguments: mode=on|off, message=TEXT (on only; the executor already
 * checked it is printable UTF-8 within QL_MAX_ARG_VALUE).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actions.h"
#include "fsutil.h"

#define DEFAULT_MESSAGE "This service is down for maintenance."

static const char *const maintenance_args[] = {"mode", "message", NULL};

static enum ql_err maintenance_check(const struct qa_action_ctx *ctx)
{
	const char *mode = qa_arg(ctx, "mode");
	if (mode == NULL || (strcmp(mode, "on") != 0 && strcmp(mode, "off") != 0)) {
		snprintf(ctx->detail, ctx->detail_len, "mode must be 'on' or 'off'");
		return QL_ERR_BAD_ARGUMENT;
	}
	if (strcmp(mode, "off") == 0 && qa_arg(ctx, "message") != NULL) {
		snprintf(ctx->detail, ctx->detail_len, "a message only goes with 'on'");
		return QL_ERR_BAD_ARGUMENT;
	}
	return QL_OK;
}

static enum ql_err maintenance_run(const struct qa_action_ctx *ctx)
{
	const char *path = ctx->handle->file;
	bool on = strcmp(qa_arg(ctx, "mode"), "on") == 0;
	struct stat st;
	bool exists = lstat(path, &st) == 0;

	if (!on) {
		if (ctx->dry_run) {
			snprintf(ctx->detail, ctx->detail_len, "would remove %s%s", path,
			         exists ? "" : " (already off)");
			return QL_OK;
		}
		if (unlink(path) != 0) {
			if (errno == ENOENT) {
				snprintf(ctx->detail, ctx->detail_len, "maintenance already off");
				return QL_OK;
			}
			snprintf(ctx->detail, ctx->detail_len, "remove %s: %s", path,
			         strerror(errno));
			return QL_ERR_ACTION_FAILED;
		}
		qa_fsync_dir_of(path);
		snprintf(ctx->detail, ctx->detail_len, "maintenance off (removed %s)", path);
		return QL_OK;
	}

	const char *message = qa_arg(ctx, "message");
	if (message == NULL || message[0] == '\0')
		message = DEFAULT_MESSAGE;
	if (ctx->dry_run) {
		snprintf(ctx->detail, ctx->detail_len, "would write %s (%zu bytes)", path,
		         strlen(message) + 1);
		return QL_OK;
	}
	size_t len = strlen(message);
	char *text = malloc(len + 2);
	if (text == NULL)
		return QL_ERR_NOMEM;
	memcpy(text, message, len);
	text[len] = '\n';
	text[len + 1] = '\0';
	enum ql_err err = qa_write_atomically(path, text, strlen(text), 0644, ctx->detail, ctx->detail_len);
	free(text);
	if (err == QL_OK)
		snprintf(ctx->detail, ctx->detail_len, "maintenance on (%s%s)", path,
		         exists ? ", replaced" : "");
	return err;
}

const struct qa_action qa_action_maintenance = {
	.name = "maintenance",
	.handle_types = QA_TYPE(QA_HANDLE_MAINTENANCE),
	.reversible = true,
	.arg_names = maintenance_args,
	.check = maintenance_check,
	.run = maintenance_run,
};
