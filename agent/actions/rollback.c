/*
 * rollback.c: point a release handle's `current` symlink at the release just
 * before the one it points at now, then run the handle's reload command.
 *
 * Releases are the regular directories in `dir` whose names are 1..64 of
 * [A-Za-z0-9_.-] (not starting with '.'), ordered with strverscmp() so v10
 * comes after v9. `link` must be a symlink to one of them; one that is
 * missing, not a symlink, or points outside `dir` is refused: quell does not
 * guess which release is live.
 *
 * The switch is atomic: a new symlink with a temporary name is created next
 * to `link` with the same spelling as the old one (relative stays relative,
 * absolute stays absolute, only the last component changes) and rename()d
 * over it, then the directory is fsynced. A reader resolving `current` sees
 * the old release or the new one, never nothing.
 *
 * reload (optional) runs through qa_proc_run() (proc.c: posix_spawn, own
 * session, fixed PATH, output captured) and must finish by the handle's
 * deadline; on timeout it is killed. The symlink is not switched back if
 * reload fails: the detail says so (with the first line of its output), and
 * undo knows the previous release.
 *
 * Arguments: none (always the previous release).
 * Undo: {"previous": "v2", "switched_to": "v1"}: the release before, and the
 * one this rollback switched to.
 *
 * Revert switches back to "previous" (same checks, same atomic switch, same
 * reload) only while `link` still names "switched_to": if it names anything
 * else, a deploy happened since, and quell does not undo a deploy.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actions.h"
#include "fsutil.h"
#include "handles.h"
#include "proc.h"
#include "ql_limits.h"

#define RELEASE_NAME_MAX 64
#define RELEASES_MAX 4096 /* entries looked at in dir; a release dir is not a dump */

static const char *const rollback_args[] = {NULL};

static enum ql_err rollback_check(const struct qa_action_ctx *ctx)
{
	(void)ctx;
	return QL_OK;
}

static bool release_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= RELEASE_NAME_MAX && s[0] != '.' &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int by_version(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

struct releases {
	char **names;
	size_t n;
};

static void releases_free(struct releases *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->names[i]);
	free(r->names);
}

static enum ql_err list_releases(const struct qa_action_ctx *ctx, struct releases *r)
{
	const char *dir = ctx->handle->dir;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		snprintf(ctx->detail, ctx->detail_len, "cannot list releases in %s: %s", dir,
		         strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return QL_ERR_ACTION_FAILED;
	}
	enum ql_err err = QL_OK;
	r->names = calloc(RELEASES_MAX, sizeof *r->names);
	if (r->names == NULL)
		err = QL_ERR_NOMEM;
	struct dirent *e;
	size_t seen = 0;
	while (err == QL_OK && (e = readdir(d)) != NULL) {
		if (++seen > RELEASES_MAX) {
			snprintf(ctx->detail, ctx->detail_len,
			         "%s has more than %d entries; refusing to pick a release", dir,
			         RELEASES_MAX);
			err = QL_ERR_ACTION_FAILED;
			break;
		}
		struct stat st;
		if (!release_name_ok(e->d_name) ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if ((r->names[r->n] = strdup(e->d_name)) == NULL)
			err = QL_ERR_NOMEM;
		else
			r->n++;
	}
	closedir(d);
	if (err == QL_OK)
		qsort(r->names, r->n, sizeof *r->names, by_version);
	return err;
}

/*
 * What `link` points at now: its text (target), and the release name if it
 * is a directory directly inside dir. Refuses anything else.
 */
static enum ql_err read_current(const struct qa_action_ctx *ctx, char *target, size_t tlen,
                                char *name, size_t nlen)
{
	const struct qa_handle *h = ctx->handle;
	enum ql_err err = qa_file_readlink(h->link, target, tlen, ctx->detail, ctx->detail_len);
	if (err != QL_OK) {
		if (err == QL_ERR_NOT_FOUND)
			snprintf(ctx->detail, ctx->detail_len,
			         "%s: missing; no current release to roll back from", h->link);
		else if (strstr(ctx->detail, "not a symlink"))
			snprintf(ctx->detail, ctx->detail_len,
			         "%s: not a symlink; refusing to replace it", h->link);
		return err == QL_ERR_DENIED ? err : QL_ERR_ACTION_FAILED;
	}
	size_t n = strlen(target);
	while (n > 1 && target[n - 1] == '/')
		target[--n] = '\0';

	/* Resolve the target's parent the way the kernel would, and compare with dir. */
	char joined[2 * PATH_MAX], link_copy[PATH_MAX];
	snprintf(link_copy, sizeof link_copy, "%s", h->link);
	if (target[0] == '/')
		snprintf(joined, sizeof joined, "%s", target);
	else
		snprintf(joined, sizeof joined, "%s/%s", dirname(link_copy), target);
	char *slash = strrchr(joined, '/');
	snprintf(name, nlen, "%s", slash + 1);
	*slash = '\0';
	char real_parent[PATH_MAX], real_dir[PATH_MAX];
	if (realpath(joined[0] ? joined : "/", real_parent) == NULL ||
	    realpath(h->dir, real_dir) == NULL || strcmp(real_parent, real_dir) != 0 ||
	    !release_name_ok(name)) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s -> %s is not a release inside %s; refusing to guess the current "
		         "release",
		         h->link, target, h->dir);
		return QL_ERR_ACTION_FAILED;
	}
	return QL_OK;
}

/* Replace `link` by a symlink to `target`, atomically (fsutil.c does it safely). */
static enum ql_err switch_link(const struct qa_action_ctx *ctx, const char *target)
{
	enum ql_err err =
		qa_symlink_replace(ctx->handle->link, target, ctx->detail, ctx->detail_len);
	return err == QL_OK || err == QL_ERR_DENIED ? err : QL_ERR_ACTION_FAILED;
}

/* Position of release `name` in r, or r->n. */
static size_t release_index(const struct releases *r, const char *name)
{
	size_t i = 0;
	while (i < r->n && strcmp(r->names[i], name) != 0)
		i++;
	return i;
}

static void set_undo(const struct qa_action_ctx *ctx, const char *previous, const char *to)
{
	cJSON *o = cJSON_CreateObject();
	if (o && cJSON_AddStringToObject(o, "previous", previous) &&
	    cJSON_AddStringToObject(o, "switched_to", to))
		qa_undo_set(ctx, o);
	else
		cJSON_Delete(o);
}

/*
 * Switch `link` (whose text is `target`, naming release `from`) to release
 * `to`, then reload: the part run() and revert() share. `record`: write the
 * undo record first (run() only).
 */
static enum ql_err switch_release(const struct qa_action_ctx *ctx, const char *target,
                                  const char *from, const char *to, bool record)
{
	const struct qa_handle *h = ctx->handle;
	/* Same spelling as before, only the last component changes. */
	char next[PATH_MAX];
	const char *slash = strrchr(target, '/');
	int plen = slash ? (int)(slash - target + 1) : 0;
	if (snprintf(next, sizeof next, "%.*s%s", plen, target, to) >= (int)sizeof next) {
		snprintf(ctx->detail, ctx->detail_len, "%s: new link target too long", h->link);
		return QL_ERR_ACTION_FAILED;
	}
	if (ctx->dry_run) {
		snprintf(ctx->detail, ctx->detail_len, "%s: would switch %s -> %s (%s -> %s)%s",
		         h->name, from, to, h->link, next, h->reload.argv ? ", then reload" : "");
		return QL_OK;
	}
	if (ql_mono_ms() > ctx->deadline_ms) {
		snprintf(ctx->detail, ctx->detail_len, "%s: deadline passed before switching",
		         h->name);
		return QL_ERR_TIMEOUT;
	}
	if (record)
		set_undo(ctx, from, to); /* recorded before the change: a crash keeps it */
	/* A deploy may have moved the link meanwhile: never switch over it. */
	char again[PATH_MAX];
	bool same = qa_file_readlink(h->link, again, sizeof again, ctx->detail, ctx->detail_len) ==
	            QL_OK;
	for (size_t k = strlen(again); same && k > 1 && again[k - 1] == '/'; k--)
		again[k - 1] = '\0'; /* as read_current() trimmed it */
	if (!same || strcmp(again, target) != 0) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s: %s changed while %s (a deploy?); nothing was switched", h->name,
		         h->link, record ? "rolling back" : "reverting");
		return QL_ERR_ACTION_FAILED;
	}
	enum ql_err err = switch_link(ctx, next);
	if (err != QL_OK)
		return err;
	if (h->reload.argv) {
		char why[512];
		err = qa_proc_run(h->reload.argv, ctx->deadline_ms, why, sizeof why);
		if (err != QL_OK) {
			snprintf(
				ctx->detail, ctx->detail_len,
				"%s: %s -> %s, but the reload failed: %s (the link stays switched)",
				h->name, from, to, why);
			return err;
		}
	}
	snprintf(ctx->detail, ctx->detail_len, "%s: %s -> %s%s", h->name, from, to,
	         h->reload.argv ? " (reloaded)" : "");
	return QL_OK;
}

static enum ql_err rollback_run(const struct qa_action_ctx *ctx)
{
	const struct qa_handle *h = ctx->handle;
	char target[PATH_MAX], current[RELEASE_NAME_MAX + 2];
	struct releases r = {0};

	enum ql_err err = read_current(ctx, target, sizeof target, current, sizeof current);
	if (err == QL_OK)
		err = list_releases(ctx, &r);
	if (err != QL_OK)
		goto out;
	size_t i = release_index(&r, current);
	if (i == r.n) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s: current release %s is not a directory in %s; refusing", h->name,
		         current, h->dir);
		err = QL_ERR_ACTION_FAILED;
		goto out;
	}
	if (i == 0) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s: %s is the oldest release in %s; nothing to roll back to", h->name,
		         current, h->dir);
		err = QL_ERR_ACTION_FAILED;
		goto out;
	}
	err = switch_release(ctx, target, current, r.names[i - 1], true);
out:
	releases_free(&r);
	return err;
}

/* ---- revert */

/* The undo record: the release before and the one switched to. */
static enum ql_err parse_undo(const struct qa_action_ctx *ctx, const cJSON *undo,
                              const char **previous, const char **switched_to)
{
	*previous = qa_undo_string(undo, "previous");
	*switched_to = qa_undo_string(undo, "switched_to");
	if (*previous && *switched_to && release_name_ok(*previous) &&
	    release_name_ok(*switched_to))
		return QL_OK;
	snprintf(ctx->detail, ctx->detail_len,
	         "malformed undo record: want {\"previous\":RELEASE,\"switched_to\":RELEASE}");
	return QL_ERR_BAD_ARGUMENT;
}

static enum ql_err rollback_revert(const struct qa_action_ctx *ctx, const cJSON *undo)
{
	const struct qa_handle *h = ctx->handle;
	const char *previous, *switched_to;
	char target[PATH_MAX], current[RELEASE_NAME_MAX + 2];
	struct releases r = {0};

	enum ql_err err = parse_undo(ctx, undo, &previous, &switched_to);
	if (err == QL_OK)
		err = read_current(ctx, target, sizeof target, current, sizeof current);
	if (err != QL_OK)
		return err;
	if (strcmp(current, previous) == 0) {
		snprintf(ctx->detail, ctx->detail_len, "%s: already at %s; nothing to revert",
		         h->name, previous);
		return QL_OK;
	}
	if (strcmp(current, switched_to) != 0) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s: current is now %s, not %s as rolled back to (a deploy since?); not "
		         "reverted",
		         h->name, current, switched_to);
		return QL_ERR_ACTION_FAILED;
	}
	err = list_releases(ctx, &r);
	if (err == QL_OK && release_index(&r, previous) == r.n) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s: release %s is no longer a directory in %s; not reverted", h->name,
		         previous, h->dir);
		err = QL_ERR_ACTION_FAILED;
	}
	if (err == QL_OK)
		err = switch_release(ctx, target, current, previous, false);
	releases_free(&r);
	return err;
}

static bool rollback_at_rest(const struct qa_action_ctx *ctx, const cJSON *undo)
{
	char buf[QL_MAX_DETAIL];
	struct qa_action_ctx quiet = qa_ctx_quiet(ctx, buf, sizeof buf);
	const char *previous, *switched_to;
	char target[PATH_MAX], current[RELEASE_NAME_MAX + 2];
	return parse_undo(&quiet, undo, &previous, &switched_to) == QL_OK &&
	       read_current(&quiet, target, sizeof target, current, sizeof current) == QL_OK &&
	       strcmp(current, previous) == 0;
}

const struct qa_action qa_action_rollback = {
	.name = "rollback",
	.handle_types = QA_TYPE(QA_HANDLE_RELEASE),
	.reversible = true,
	.arg_names = rollback_args,
	.check = rollback_check,
	.run = rollback_run,
	.revert = rollback_revert,
	.at_rest = rollback_at_rest,
};
