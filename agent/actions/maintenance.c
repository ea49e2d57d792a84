/*
 * maintenance.c: maintenance mode on/off. The handle names the file the web
 * server checks (e.g. nginx: `if (-f $maint) { return 503; }` serving that
 * file). "on" writes the operator's message to it atomically (temp file in
 * the same directory, fsync, rename, fsync the directory), so the web server
 * never serves a half-written page; "off" removes it.
 *
 * Arguments: mode=on|off, message=TEXT (on only; the executor already
 * checked it is printable UTF-8 within QL_MAX_ARG_VALUE).
 *
 * Undo: the state before, {"previous": "off"} or {"previous": "on",
 * "message": OLD} with the old file's text (at most 1 KiB, cut at a UTF-8
 * character boundary, trailing newline dropped).
 */
#include <cjson/cJSON.h>
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
#define UNDO_MESSAGE_MAX 1024

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

/* The first UNDO_MESSAGE_MAX bytes of path into buf; false if it cannot be read. */
static bool read_head(const char *path, char *buf, size_t size)
{
	char why[256];
	struct qa_dir d;
	if (qa_dir_open(path, &d, why, sizeof why) != QL_OK)
		return false;
	int fd = openat(d.fd, d.name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	qa_dir_close(&d);
	if (fd < 0)
		return false;
	size_t n = 0;
	while (n < size - 1) {
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	n = strlen(buf);     /* a NUL byte ends the message */
	if (n == size - 1) { /* cut: drop a last UTF-8 character left incomplete */
		size_t k = n;
		while (k > 0 && n - k < 3 && ((unsigned char)buf[k - 1] & 0xC0) == 0x80)
			k--;
		unsigned char lead = k > 0 ? (unsigned char)buf[k - 1] : 0;
		size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
		if (k > 0 && lead >= 0xC0 && (k - 1) + want > n)
			n = k - 1;
		buf[n] = '\0';
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return true;
}

/* ctx->undo: what maintenance was before this action (see the top of the file). */
static void set_undo(const struct qa_action_ctx *ctx, bool was_on)
{
	char old[UNDO_MESSAGE_MAX + 1] = "";
	if (was_on && !read_head(ctx->handle->file, old, sizeof old))
		old[0] = '\0';
	cJSON *o = cJSON_CreateObject();
	if (o == NULL || !cJSON_AddStringToObject(o, "previous", was_on ? "on" : "off") ||
	    (was_on && !cJSON_AddStringToObject(o, "message", old))) {
		cJSON_Delete(o);
		return;
	}
	/* Escaping can grow control characters sixfold: without the message if need be. */
	if (!qa_undo_set(ctx, o) && was_on)
		snprintf(ctx->undo, ctx->undo_len, "{\"previous\":\"on\",\"message\":\"\"}");
}

static enum ql_err maintenance_run(const struct qa_action_ctx *ctx)
{
	const char *path = ctx->handle->file;
	bool on = strcmp(qa_arg(ctx, "mode"), "on") == 0;
	struct stat st;
	enum ql_err err = qa_file_stat(path, &st, ctx->detail, ctx->detail_len);
	if (err != QL_OK && err != QL_ERR_NOT_FOUND)
		return err == QL_ERR_DENIED ? err : QL_ERR_ACTION_FAILED;
	bool exists = err == QL_OK;
	ctx->detail[0] = '\0';

	if (!on) {
		if (ctx->dry_run) {
			snprintf(ctx->detail, ctx->detail_len, "would remove %s%s", path,
			         exists ? "" : " (already off)");
			return QL_OK;
		}
		set_undo(ctx, exists);
		err = qa_file_remove(path, ctx->detail, ctx->detail_len);
		if (err != QL_OK) {
			if (err == QL_ERR_NOT_FOUND) {
				set_undo(ctx, false);
				snprintf(ctx->detail, ctx->detail_len, "maintenance already off");
				return QL_OK;
			}
			ctx->undo[0] = '\0'; /* nothing changed; detail says why */
			return err == QL_ERR_DENIED ? err : QL_ERR_ACTION_FAILED;
		}
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
	set_undo(ctx, exists);
	size_t len = strlen(message);
	char *text = malloc(len + 2);
	if (text == NULL) {
		ctx->undo[0] = '\0';
		return QL_ERR_NOMEM;
	}
	memcpy(text, message, len);
	text[len] = '\n';
	text[len + 1] = '\0';
	err = qa_write_atomically(path, text, strlen(text), 0644, (uid_t)-1, (gid_t)-1, ctx->detail,
	                          ctx->detail_len);
	free(text);
	if (err != QL_OK)
		ctx->undo[0] = '\0'; /* nothing changed */
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
