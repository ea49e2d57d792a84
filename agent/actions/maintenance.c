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
 *
 * Revert: "off" removes the file again; "on" writes MESSAGE "\n" back, as
 * run() writes a message (so an old file that was not written by quell comes
 * back in that form). A message recorded as "" did not fit the record: any
 * file counts as at rest, and a missing one gets the default message.
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
#include "ql_limits.h"

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

/* The file becomes message "\n", atomically (see the top of the file). */
static enum ql_err write_message(const struct qa_action_ctx *ctx, const char *message)
{
	size_t len = strlen(message);
	char *text = malloc(len + 2);
	if (text == NULL)
		return QL_ERR_NOMEM;
	memcpy(text, message, len);
	text[len] = '\n';
	text[len + 1] = '\0';
	enum ql_err err = qa_write_atomically(ctx->handle->file, text, len + 1, 0644, (uid_t)-1,
	                                      (gid_t)-1, ctx->detail, ctx->detail_len);
	free(text);
	return err;
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
	err = write_message(ctx, message);
	if (err != QL_OK)
		ctx->undo[0] = '\0'; /* nothing changed */
	if (err == QL_OK)
		snprintf(ctx->detail, ctx->detail_len, "maintenance on (%s%s)", path,
		         exists ? ", replaced" : "");
	return err;
}

/* ---- revert */

/* The undo record: *message is NULL for "off". */
static enum ql_err parse_undo(const struct qa_action_ctx *ctx, const cJSON *undo,
                              const char **message)
{
	const char *previous = qa_undo_string(undo, "previous");
	*message = qa_undo_string(undo, "message");
	if (previous && strcmp(previous, "off") == 0) {
		*message = NULL;
		return QL_OK;
	}
	if (previous && strcmp(previous, "on") == 0 && *message &&
	    strlen(*message) <= UNDO_MESSAGE_MAX)
		return QL_OK;
	snprintf(ctx->detail, ctx->detail_len,
	         "malformed undo record: want {\"previous\":\"off\"} or "
	         "{\"previous\":\"on\",\"message\":TEXT of at most %d bytes}",
	         UNDO_MESSAGE_MAX);
	return QL_ERR_BAD_ARGUMENT;
}

/*
 * Is the file there, and (message not NULL) does it hold message "\n" as
 * run() writes it? A message "" matches any file (see the top of the file).
 */
static enum ql_err look(const struct qa_action_ctx *ctx, const char *message, bool *exists,
                        bool *same)
{
	struct stat st;
	enum ql_err err = qa_file_stat(ctx->handle->file, &st, ctx->detail, ctx->detail_len);
	*exists = err == QL_OK;
	*same = false;
	if (err == QL_ERR_NOT_FOUND)
		return QL_OK;
	if (err != QL_OK)
		return err == QL_ERR_DENIED ? err : QL_ERR_ACTION_FAILED;
	if (message == NULL || message[0] == '\0') {
		*same = message != NULL;
		return QL_OK;
	}
	char *text;
	size_t len, want = strlen(message);
	/* Too big, not a regular file, unreadable: not what we would write. */
	if (qa_read_file(ctx->handle->file, UNDO_MESSAGE_MAX + 2, &text, &len, NULL) != QL_OK)
		return QL_OK;
	*same = len == want + 1 && memcmp(text, message, want) == 0 && text[want] == '\n';
	free(text);
	return QL_OK;
}

static enum ql_err maintenance_revert(const struct qa_action_ctx *ctx, const cJSON *undo)
{
	const char *path = ctx->handle->file, *message;
	bool exists, same;
	enum ql_err err = parse_undo(ctx, undo, &message);
	if (err == QL_OK)
		err = look(ctx, message, &exists, &same);
	if (err != QL_OK)
		return err;
	ctx->detail[0] = '\0';
	bool on = message != NULL;
	if (on ? same : !exists) {
		snprintf(ctx->detail, ctx->detail_len, "maintenance already %s (%s)",
		         on ? "on" : "off", path);
		return QL_OK;
	}
	const char *text = on && message[0] == '\0' ? DEFAULT_MESSAGE : message;
	const char *how = on && message[0] == '\0' ? "the previous message was not recorded; "
	                                             "default message"
	                                           : "previous message";
	if (ctx->dry_run) {
		if (on)
			snprintf(ctx->detail, ctx->detail_len, "would write %s (%zu bytes, %s)",
			         path, strlen(text) + 1, how);
		else
			snprintf(ctx->detail, ctx->detail_len, "would remove %s", path);
		return QL_OK;
	}
	if (ql_mono_ms() > ctx->deadline_ms) {
		snprintf(ctx->detail, ctx->detail_len, "deadline passed before changing %s", path);
		return QL_ERR_TIMEOUT;
	}
	if (on) {
		err = write_message(ctx, text);
		if (err == QL_OK)
			snprintf(ctx->detail, ctx->detail_len, "maintenance on (%s, %s)", path,
			         how);
		return err;
	}
	err = qa_file_remove(path, ctx->detail, ctx->detail_len);
	if (err == QL_ERR_NOT_FOUND) { /* removed meanwhile: that is the state we want */
		snprintf(ctx->detail, ctx->detail_len, "maintenance already off (%s)", path);
		return QL_OK;
	}
	if (err != QL_OK)
		return err == QL_ERR_DENIED ? err : QL_ERR_ACTION_FAILED;
	snprintf(ctx->detail, ctx->detail_len, "maintenance off (removed %s)", path);
	return QL_OK;
}

static bool maintenance_at_rest(const struct qa_action_ctx *ctx, const cJSON *undo)
{
	char buf[QL_MAX_DETAIL];
	struct qa_action_ctx quiet = qa_ctx_quiet(ctx, buf, sizeof buf);
	const char *message;
	bool exists, same;
	if (parse_undo(&quiet, undo, &message) != QL_OK ||
	    look(&quiet, message, &exists, &same) != QL_OK)
		return false;
	return message ? same : !exists;
}

const struct qa_action qa_action_maintenance = {
	.name = "maintenance",
	.handle_types = QA_TYPE(QA_HANDLE_MAINTENANCE),
	.reversible = true,
	.arg_names = maintenance_args,
	.check = maintenance_check,
	.run = maintenance_run,
	.revert = maintenance_revert,
	.at_rest = maintenance_at_rest,
};
