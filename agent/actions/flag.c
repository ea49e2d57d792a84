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
 *
 * Revert sets that one flag back the same way (json: true/false, kv: on/off)
 * or, if it was absent, removes its key (json) or every line for it (kv);
 * no other flag is touched. The spelling of a kv value (`true`, `yes`) and a
 * file that did not exist before are not recorded: what comes back is the
 * flag's value, in run()'s spelling, in a file that stays.
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
#include "ql_limits.h"

#define FLAG_NAME_MAX 64
#define FLAG_FILE_MAX (1024 * 1024) /* a flag file larger than this is not a flag file */

static const char *const flag_args[] = {"name", "value", NULL};

/* A flag's value in the file: absent, off or on. */
enum flag_state { FLAG_ABSENT, FLAG_OFF, FLAG_ON };

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

static const char *state_word(enum flag_state p)
{
	return p == FLAG_ON ? "on" : p == FLAG_OFF ? "off" : "absent";
}

/* ---- format = json */

/*
 * Set name to `want` (FLAG_ABSENT: remove it) in the JSON object `text`
 * (NULL: no file yet). On success *out is the new file content (malloc'd),
 * *prev what the flag was.
 */
static enum ql_err json_update(const struct qa_action_ctx *ctx, const char *text, size_t len,
                               const char *name, enum flag_state want, enum flag_state *prev,
                               char **out)
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
	*prev = item == NULL ? FLAG_ABSENT : cJSON_IsTrue(item) ? FLAG_ON : FLAG_OFF;
	if (want == FLAG_ABSENT) {
		cJSON_DeleteItemFromObjectCaseSensitive(root, name);
	} else {
		cJSON *value = cJSON_CreateBool(want == FLAG_ON);
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

static bool kv_bool(const char *v, const char *end, enum flag_state *out)
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
			*out = FLAG_ON;
			return true;
		}
		if (strlen(off[i]) == n && strncasecmp(v, off[i], n) == 0) {
			*out = FLAG_OFF;
			return true;
		}
	}
	return false;
}

/* Append n bytes to a buffer that is known to be big enough. */
#define PUT(dst, at, src, n) (memcpy((dst) + (at), (src), (n)), (at) += (n))

/* As json_update(), for key=value lines (see the top of the file). */
static enum ql_err kv_update(const struct qa_action_ctx *ctx, const char *text, size_t len,
                             const char *name, enum flag_state want, enum flag_state *prev,
                             char **out)
{
	const char *path = ctx->handle->file;
	const char *word = want == FLAG_ON ? "on" : "off";
	size_t nlen = strlen(name);
	*prev = FLAG_ABSENT;
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
			enum flag_state p;
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
			if (want == FLAG_ABSENT) { /* the line goes, its newline too */
				line = nl ? nl + 1 : NULL;
				continue;
			}
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
	if (!found && want != FLAG_ABSENT) {
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

/* The flag file as read, and what it becomes. */
struct flag_file {
	char *text; /* NULL: there is no file */
	size_t len;
	mode_t mode; /* the rewritten file keeps the old one's permissions and owner */
	uid_t uid;
	gid_t gid;
	enum flag_state prev; /* the flag's value in text */
	char *updated;        /* text with the flag set to what was asked */
};

static void flag_file_fini(struct flag_file *f)
{
	free(f->text);
	free(f->updated);
}

/* Read the handle's file and compute it with flag `name` set to `want`. */
static enum ql_err flag_prepare(const struct qa_action_ctx *ctx, const char *name,
                                enum flag_state want, struct flag_file *f)
{
	const struct qa_handle *h = ctx->handle;
	struct stat st;
	*f = (struct flag_file){.prev = FLAG_ABSENT};
	enum ql_err err = qa_read_file(h->file, FLAG_FILE_MAX, &f->text, &f->len, &st);
	if (err == QL_ERR_NOT_FOUND) {
		f->text = NULL; /* created with just this flag */
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
	f->mode = f->text ? st.st_mode & 0777 : 0644;
	f->uid = f->text ? st.st_uid : (uid_t)-1;
	f->gid = f->text ? st.st_gid : (gid_t)-1;
	err = h->format == QA_FLAGS_KV
	              ? kv_update(ctx, f->text, f->len, name, want, &f->prev, &f->updated)
	              : json_update(ctx, f->text, f->len, name, want, &f->prev, &f->updated);
	if (err != QL_OK)
		flag_file_fini(f);
	return err;
}

static void set_undo(const struct qa_action_ctx *ctx, const char *name, enum flag_state prev)
{
	cJSON *o = cJSON_CreateObject();
	if (o && cJSON_AddStringToObject(o, "flag", name) &&
	    (prev == FLAG_ABSENT ? cJSON_AddNullToObject(o, "previous")
	                         : cJSON_AddBoolToObject(o, "previous", prev == FLAG_ON)))
		qa_undo_set(ctx, o);
	else
		cJSON_Delete(o);
}

/*
 * Set flag `name` to `want` and describe it: the part run() and revert()
 * share. `record`: write the undo record first (run() only).
 */
static enum ql_err flag_set(const struct qa_action_ctx *ctx, const char *name, enum flag_state want,
                            bool record)
{
	const struct qa_handle *h = ctx->handle;
	struct flag_file f;
	enum ql_err err = flag_prepare(ctx, name, want, &f);
	if (err != QL_OK)
		return err;
	const char *from = state_word(f.prev), *to = state_word(want);
	bool same = f.prev == want;
	if (ctx->dry_run) {
		snprintf(ctx->detail, ctx->detail_len, "would set %s %s: %s -> %s (%s)%s", h->name,
		         name, from, to, h->file, same ? " (no change)" : "");
		goto out;
	}
	if (same) {
		snprintf(ctx->detail, ctx->detail_len, "%s %s: already %s (%s)", h->name, name, to,
		         h->file);
		if (record)
			set_undo(ctx, name, f.prev);
		goto out;
	}
	if (ql_mono_ms() > ctx->deadline_ms) {
		snprintf(ctx->detail, ctx->detail_len, "deadline passed before writing %s",
		         h->file);
		err = QL_ERR_TIMEOUT;
		goto out;
	}
	if (record)
		set_undo(ctx, name, f.prev); /* recorded before the change: a crash keeps it */
	err = qa_write_atomically(h->file, f.updated, strlen(f.updated), f.mode, f.uid, f.gid,
	                          ctx->detail, ctx->detail_len);
	if (err != QL_OK)
		goto out;
	snprintf(ctx->detail, ctx->detail_len, "%s %s: %s -> %s (%s)", h->name, name, from, to,
	         h->file);
out:
	flag_file_fini(&f);
	return err;
}

static enum ql_err flag_run(const struct qa_action_ctx *ctx)
{
	bool on = strcmp(qa_arg(ctx, "value"), "on") == 0;
	return flag_set(ctx, qa_arg(ctx, "name"), on ? FLAG_ON : FLAG_OFF, true);
}

/* The undo record: which flag, and what it was. */
static enum ql_err parse_undo(const struct qa_action_ctx *ctx, const cJSON *undo, const char **name,
                              enum flag_state *want)
{
	*name = qa_undo_string(undo, "flag");
	const cJSON *prev =
		cJSON_IsObject(undo) ? cJSON_GetObjectItemCaseSensitive(undo, "previous") : NULL;
	if (*name && flag_name_ok(*name) && (cJSON_IsBool(prev) || cJSON_IsNull(prev))) {
		*want = cJSON_IsNull(prev) ? FLAG_ABSENT : cJSON_IsTrue(prev) ? FLAG_ON : FLAG_OFF;
		return QL_OK;
	}
	snprintf(ctx->detail, ctx->detail_len,
	         "malformed undo record: want {\"flag\":NAME,\"previous\":true|false|null}");
	return QL_ERR_BAD_ARGUMENT;
}

static enum ql_err flag_revert(const struct qa_action_ctx *ctx, const cJSON *undo)
{
	const char *name;
	enum flag_state want;
	enum ql_err err = parse_undo(ctx, undo, &name, &want);
	return err != QL_OK ? err : flag_set(ctx, name, want, false);
}

static bool flag_at_rest(const struct qa_action_ctx *ctx, const cJSON *undo)
{
	char buf[QL_MAX_DETAIL];
	struct qa_action_ctx quiet = qa_ctx_quiet(ctx, buf, sizeof buf);
	const char *name;
	enum flag_state want;
	struct flag_file f;
	if (parse_undo(&quiet, undo, &name, &want) != QL_OK ||
	    flag_prepare(&quiet, name, want, &f) != QL_OK)
		return false;
	flag_file_fini(&f);
	return f.prev == want;
}

const struct qa_action qa_action_flag = {
	.name = "flag",
	.handle_types = QA_TYPE(QA_HANDLE_FLAGS),
	.reversible = true,
	.arg_names = flag_args,
	.check = flag_check,
	.run = flag_run,
	.revert = flag_revert,
	.at_rest = flag_at_rest,
};
