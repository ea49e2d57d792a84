/*
 * flag.c: turn one feature flag on or off in the application's flag file,
 * named by a `flags` handle. The application re-reads the file; it must
 * never see it half written, so the new content goes through
 * qa_write_atomically() (temporary file, fsync, rename, fsync the directory)
 * and keeps the file's mode.
 *
 *   format = json  the file is one JSON object; the flag's key becomes true
 *                  or false, every other key keeps its value and order (the
 *                  file is re-printed by cJSON, so whitespace may change).
 *                  A file that is not a JSON object is refused, not replaced.
 *   format = kv    lines `key=value`; comments (# or ;), blank lines and
 *                  order are kept. Every line for the flag gets the new value
 *                  (`on` or `off`), keeping its `key = ` spelling; if there is
 *                  none, `NAME=on|off` is appended.
 *
 * A missing file is created with just this flag (mode 0644). A flag whose
 * current value is not a boolean (json: not true/false; kv: not on/off,
 * true/false, yes/no, 1/0) is refused: the operator asked for a switch and
 * the application evidently reads something else there.
 *
 * Arguments: name=FLAG ([A-Za-z0-9_.-], 1..64), value=on|off.
 * Undo: {"flag": NAME, "previous": true|false|null} (null: it was absent).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "actions.h"
#include "fsutil.h"
#include "handles.h"

#define FLAG_NAME_MAX 64
#define FLAG_FILE_MAX (1024 * 1024) /* a flag file larger than this is not a flag file */

static const char *const flag_args[] = {"name", "value", NULL};

/* What the flag was before: absent, off or on. */
enum prev { PREV_ABSENT, PREV_OFF, PREV_ON };

static bool flag_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > FLAG_NAME_MAX)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static enum ql_err flag_check(const struct qa_action_ctx *ctx)
{
	const char *name = qa_arg(ctx, "name");
	const char *value = qa_arg(ctx, "value");
	if (name == NULL || !flag_name_ok(name)) {
		snprintf(ctx->detail, ctx->detail_len,
		         "name must be 1 to %d characters of A-Z a-z 0-9 _ . -", FLAG_NAME_MAX);
		return QL_ERR_BAD_ARGUMENT;
	}
	if (value == NULL || (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)) {
		snprintf(ctx->detail, ctx->detail_len, "value must be 'on' or 'off'");
		return QL_ERR_BAD_ARGUMENT;
	}
	return QL_OK;
}

static const char *prev_word(enum prev p)
{
	return p == PREV_ON ? "on" : p == PREV_OFF ? "off" : "absent";
}

/* ---- format = json */

/*
 * Set name in the JSON object `text` (NULL: no file yet). On success *out is
 * the new file content (malloc'd), *prev what it was.
 */
static enum ql_err json_update(const struct qa_action_ctx *ctx, const char *text, size_t len,
                               const char *name, bool on, enum prev *prev, char **out)
{
	const char *path = ctx->handle->file;
	/* The whole file, NUL included: trailing garbage or a NUL byte is not an object. */
	cJSON *root = text == NULL          ? cJSON_CreateObject()
	              : strlen(text) == len ? cJSON_ParseWithLengthOpts(text, len + 1, NULL, true)
	                                    : NULL;
	enum ql_err err = QL_ERR_ACTION_FAILED;
	*out = NULL;
	if (root == NULL && text == NULL)
		return QL_ERR_NOMEM;
	if (!cJSON_IsObject(root)) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s is not a JSON object (%s); refusing to rewrite it", path,
		         root == NULL ? "it does not parse" : "its top level is another type");
		goto out;
	}
	cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
	if (item != NULL && !cJSON_IsBool(item)) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s: \"%s\" is not true or false; refusing to change it", path, name);
		goto out;
	}
	*prev = item == NULL ? PREV_ABSENT : cJSON_IsTrue(item) ? PREV_ON : PREV_OFF;
	cJSON *value = cJSON_CreateBool(on);
	if (value == NULL) {
		err = QL_ERR_NOMEM;
		goto out;
	}
	bool placed = item ? cJSON_ReplaceItemInObjectCaseSensitive(root, name, value)
	                   : cJSON_AddItemToObject(root, name, value);
	if (!placed) {
		cJSON_Delete(value);
		err = QL_ERR_NOMEM;
		goto out;
	}
	char *printed = cJSON_Print(root);
	if (printed == NULL) {
		err = QL_ERR_NOMEM;
		goto out;
	}
	size_t plen = strlen(printed);
	*out = malloc(plen + 2);
	if (*out == NULL) {
		cJSON_free(printed);
		err = QL_ERR_NOMEM;
		goto out;
	}
	memcpy(*out, printed, plen);
	memcpy(*out + plen, "\n", 2);
	cJSON_free(printed);
	err = QL_OK;
out:
	cJSON_Delete(root);
	return err;
}

/* ---- format = kv */

/* The key of a `key=value` line: [*ks, *ke), or false for comments and other lines. */
static bool kv_key(const char *line, const char *end, const char **ks, const char **ke,
                   const char **eq)
{
	const char *p = line;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p == '#' || *p == ';')
		return false;
	const char *e = memchr(p, '=', (size_t)(end - p));
	if (e == NULL)
		return false;
	const char *k = e;
	while (k > p && (k[-1] == ' ' || k[-1] == '\t'))
		k--;
	*ks = p;
	*ke = k;
	*eq = e;
	return true;
}

static bool kv_bool(const char *v, const char *end, enum prev *out)
{
	static const char *const on[] = {"on", "true", "yes", "1"};
	static const char *const off[] = {"off", "false", "no", "0"};
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	size_t n = (size_t)(end - v);
	for (size_t i = 0; i < 4; i++) {
		if (strlen(on[i]) == n && strncasecmp(v, on[i], n) == 0) {
			*out = PREV_ON;
			return true;
		}
		if (strlen(off[i]) == n && strncasecmp(v, off[i], n) == 0) {
			*out = PREV_OFF;
			return true;
		}
	}
	return false;
}

/* Append n bytes to a buffer that is known to be big enough. */
#define PUT(dst, at, src, n) (memcpy((dst) + (at), (src), (n)), (at) += (n))

static enum ql_err kv_update(const struct qa_action_ctx *ctx, const char *text, size_t len,
                             const char *name, bool on, enum prev *prev, char **out)
{
	const char *path = ctx->handle->file;
	const char *word = on ? "on" : "off";
	size_t nlen = strlen(name);
	*prev = PREV_ABSENT;
	*out = NULL;
	if (text && strlen(text) != len) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s holds NUL bytes, not key=value text; refusing to rewrite it", path);
		return QL_ERR_ACTION_FAILED;
	}
	/* Each line grows by at most strlen("off"); one line may be appended. */
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	size_t cap = len + lines * 4 + nlen + 8;
	char *buf = malloc(cap);
	if (buf == NULL)
		return QL_ERR_NOMEM;
	size_t at = 0;
	bool found = false;
	for (const char *line = text; line && line < text + len;) {
		const char *nl = memchr(line, '\n', (size_t)(text + len - line));
		const char *end = nl ? nl : text + len;
		const char *ks, *ke, *eq;
		if (kv_key(line, end, &ks, &ke, &eq) && (size_t)(ke - ks) == nlen &&
		    memcmp(ks, name, nlen) == 0) {
			enum prev p;
			if (!kv_bool(eq + 1, end, &p)) {
				snprintf(ctx->detail, ctx->detail_len,
				         "%s: the value of %s is not on/off, true/false, yes/no or "
				         "1/0; refusing to change it",
				         path, name);
				free(buf);
				return QL_ERR_ACTION_FAILED;
			}
			*prev = p; /* the last line wins, as in most readers */
			found = true;
			const char *v = eq + 1;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			PUT(buf, at, line, (size_t)(v - line)); /* keeps "key = " as written */
			PUT(buf, at, word, strlen(word));
			if (end > line && end[-1] == '\r')
				PUT(buf, at, "\r", 1);
		} else {
			PUT(buf, at, line, (size_t)(end - line));
		}
		if (nl)
			PUT(buf, at, "\n", 1);
		line = nl ? nl + 1 : NULL;
	}
	if (!found) {
		if (at > 0 && buf[at - 1] != '\n')
			PUT(buf, at, "\n", 1);
		PUT(buf, at, name, nlen);
		PUT(buf, at, "=", 1);
		PUT(buf, at, word, strlen(word));
		PUT(buf, at, "\n", 1);
	}
	buf[at] = '\0';
	*out = buf;
	return QL_OK;
}

/* ---- the action */

static void set_undo(const struct qa_action_ctx *ctx, const char *name, enum prev prev)
{
	cJSON *o = cJSON_CreateObject();
	if (o && cJSON_AddStringToObject(o, "flag", name) &&
	    (prev == PREV_ABSENT ? cJSON_AddNullToObject(o, "previous")
	                         : cJSON_AddBoolToObject(o, "previous", prev == PREV_ON)))
		qa_undo_set(ctx, o);
	else
		cJSON_Delete(o);
}

static enum ql_err flag_run(const struct qa_action_ctx *ctx)
{
	const struct qa_handle *h = ctx->handle;
	const char *name = qa_arg(ctx, "name");
	bool on = strcmp(qa_arg(ctx, "value"), "on") == 0;
	char *text = NULL, *updated = NULL;
	size_t len = 0;
	enum prev prev = PREV_ABSENT;

	struct stat st;
	enum ql_err err = qa_read_file(h->file, FLAG_FILE_MAX, &text, &len, &st);
	if (err == QL_ERR_NOT_FOUND) {
		text = NULL; /* created with just this flag */
	} else if (err == QL_ERR_TOO_BIG) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s is larger than %d bytes; refusing to treat it as a flag file", h->file,
		         FLAG_FILE_MAX);
		return QL_ERR_ACTION_FAILED;
	} else if (err == QL_ERR_DENIED) {
		snprintf(ctx->detail, ctx->detail_len,
		         "refusing %s: a directory above it can be changed by a user other than "
		         "root, who could redirect this write",
		         h->file);
		return QL_ERR_DENIED;
	} else if (err != QL_OK) {
		snprintf(ctx->detail, ctx->detail_len, "cannot read %s: %s", h->file,
		         err == QL_ERR_IO ? "not a regular file, or unreadable" : ql_strerror(err));
		return QL_ERR_ACTION_FAILED;
	}
	/* The rewritten file keeps the old one's permissions and owner (the app reads it). */
	mode_t mode = text ? st.st_mode & 0777 : 0644;
	uid_t uid = text ? st.st_uid : (uid_t)-1;
	gid_t gid = text ? st.st_gid : (gid_t)-1;

	err = h->format == QA_FLAGS_KV ? kv_update(ctx, text, len, name, on, &prev, &updated)
	                               : json_update(ctx, text, len, name, on, &prev, &updated);
	if (err != QL_OK)
		goto out;

	const char *from = prev_word(prev), *to = on ? "on" : "off";
	bool same = (prev == PREV_ON) == on && prev != PREV_ABSENT;
	if (ctx->dry_run) {
		snprintf(ctx->detail, ctx->detail_len, "would set %s %s: %s -> %s (%s)%s", h->name,
		         name, from, to, h->file, same ? " (no change)" : "");
		goto out;
	}
	if (same) {
		snprintf(ctx->detail, ctx->detail_len, "%s %s: already %s (%s)", h->name, name, to,
		         h->file);
		set_undo(ctx, name, prev);
		goto out;
	}
	if (ql_mono_ms() > ctx->deadline_ms) {
		snprintf(ctx->detail, ctx->detail_len, "deadline passed before writing %s",
		         h->file);
		err = QL_ERR_TIMEOUT;
		goto out;
	}
	set_undo(ctx, name, prev); /* recorded before the change: a crash keeps it */
	err = qa_write_atomically(h->file, updated, strlen(updated), mode, uid, gid, ctx->detail,
	                          ctx->detail_len);
	if (err != QL_OK)
		goto out;
	snprintf(ctx->detail, ctx->detail_len, "%s %s: %s -> %s (%s)", h->name, name, from, to,
	         h->file);
out:
	free(text);
	free(updated);
	return err;
}

const struct qa_action qa_action_flag = {
	.name = "flag",
	.handle_types = QA_TYPE(QA_HANDLE_FLAGS),
	.reversible = true,
	.arg_names = flag_args,
	.check = flag_check,
	.run = flag_run,
};
