/*
 * pause.c: pause and resume a `worker` handle (a queue consumer that is
 * making an incident worse), in whichever of three ways the handle says:
 *
 *   pause_file   the worker itself checks for a file: pause creates it
 *                atomically, resume removes it;
 *   stop/start   the administrator's own commands, run to completion by the
 *                handle's deadline;
 *   a matcher    SIGSTOP / SIGCONT to the process group of every matched
 *                process (so the worker's children stop with it), never the
 *                agent's own group or session, then a check in /proc that
 *                the processes really are stopped (state T) or running.
 *
 * The undo record says what the worker was before ({"previous":"paused"},
 * "running", "partly paused" when only some matched processes were stopped,
 * or "unknown" for stop/start, which has no way to tell). pause and resume
 * are one family: either's record is reverted by pausing the worker again
 * ("paused") or resuming it ("running"), the way this handle's pause or
 * resume does it. "unknown" and "partly paused" are not reverted: quell
 * would have to guess.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actions.h"
#include "fsutil.h"
#include "proc.h"
#include "ql_limits.h"

#define PAUSE_TEXT "paused by quell\n"

static const char *const no_args[] = {NULL};

static enum ql_err pause_check(const struct qa_action_ctx *ctx)
{
	/* No arguments; the handle was checked when the config was loaded. Its
	 * stop/start commands cannot tell whether the worker ran: nothing to
	 * revert to, so a TTL would end in a failed revert. */
	const struct qa_handle *h = ctx->handle;
	if (ctx->ttl && !h->pause_file && h->stop.argv && h->start.argv) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s is paused and resumed by commands that cannot tell its state: no TTL "
		         "(resume it by hand)",
		         ctx->handle->name);
		return QL_ERR_BAD_ARGUMENT;
	}
	return QL_OK;
}

/*
 * Each way below pauses (pause) or resumes (!pause) the worker; `record`:
 * write the undo record first (run() only, never revert()).
 */
static enum ql_err by_file(const struct qa_action_ctx *ctx, bool pause, bool record)
{
	const char *path = ctx->handle->pause_file, *name = ctx->handle->name;
	struct stat st;
	enum ql_err err = qa_file_stat(path, &st, ctx->detail, ctx->detail_len);
	if (err != QL_OK && err != QL_ERR_NOT_FOUND)
		return err == QL_ERR_DENIED ? err : QL_ERR_ACTION_FAILED;
	bool paused = err == QL_OK;
	ctx->detail[0] = '\0';
	if (ctx->dry_run) {
		snprintf(ctx->detail, ctx->detail_len, "%s: would %s %s%s", name,
		         pause ? "create" : "remove", path,
		         paused == pause ? (pause ? " (already paused)" : " (already running)")
		                         : "");
		return QL_OK;
	}
	if (record)
		qa_undo_previous(ctx, paused ? "paused" : "running");
	if (pause) {
		err = qa_write_atomically(path, PAUSE_TEXT, strlen(PAUSE_TEXT), 0644, (uid_t)-1,
		                          (gid_t)-1, ctx->detail, ctx->detail_len);
		if (err == QL_OK)
			snprintf(ctx->detail, ctx->detail_len, "%s paused (%s %s)", name,
			         paused ? "kept" : "created", path);
		return err;
	}
	err = qa_file_remove(path, ctx->detail, ctx->detail_len);
	if (err != QL_OK && err != QL_ERR_NOT_FOUND)
		return err == QL_ERR_DENIED ? err : QL_ERR_ACTION_FAILED;
	snprintf(ctx->detail, ctx->detail_len, "%s resumed (%s %s)", name,
	         paused ? "removed" : "there was no", path);
	return QL_OK;
}

static enum ql_err by_commands(const struct qa_action_ctx *ctx, bool pause, bool record)
{
	const struct qa_argv *a = pause ? &ctx->handle->stop : &ctx->handle->start;
	const char *name = ctx->handle->name;
	if (ctx->dry_run) {
		snprintf(ctx->detail, ctx->detail_len, "%s: would run %s", name, a->argv[0]);
		return QL_OK;
	}
	if (record)
		qa_undo_previous(ctx, "unknown");
	char why[512];
	enum ql_err err = qa_proc_run(a->argv, ctx->deadline_ms, why, sizeof why);
	snprintf(ctx->detail, ctx->detail_len, "%s %s (%s)", name,
	         err != QL_OK ? (pause ? "not paused" : "not resumed")
	                      : (pause ? "paused" : "resumed"),
	         why);
	return err;
}

static bool is_stopped(char state)
{
	return state == 'T' || state == 't';
}

/* Poll /proc until every matched process that still exists is (not) stopped. */
static bool wait_state(const struct qa_matches *m, bool stopped, int64_t deadline_ms, pid_t *wrong,
                       char *state)
{
	for (;;) {
		*wrong = 0;
		for (size_t i = 0; i < m->n && *wrong == 0; i++) {
			struct qa_proc now;
			if (qa_proc_stat(m->p[i].pid, &now) && now.starttime == m->p[i].starttime &&
			    now.state != 'Z' && is_stopped(now.state) != stopped) {
				*wrong = now.pid;
				*state = now.state;
			}
		}
		if (*wrong == 0)
			return true;
		if (ql_mono_ms() >= deadline_ms)
			return false;
		qa_sleep_until(deadline_ms, 10);
	}
}

/* The distinct process groups of the matches; returns how many. */
static size_t groups_of(const struct qa_matches *m, pid_t *g)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++) {
		size_t k = 0;
		while (k < n && g[k] != m->p[i].pgid)
			k++;
		if (k == n)
			g[n++] = m->p[i].pgid;
	}
	return n;
}

static const char *previous_state(const struct qa_matches *m)
{
	size_t stopped = 0;
	for (size_t i = 0; i < m->n; i++)
		stopped += is_stopped(m->p[i].state);
	return stopped == 0 ? "running" : stopped == m->n ? "paused" : "partly paused";
}

/*
 * Right before signalling a whole group: is one of the processes we matched
 * (same pid, same start time) still in it? If they all exited, the group id
 * may already belong to a stranger's new session; we leave it alone.
 */
static bool group_still_ours(const struct qa_matches *m, pid_t pgid)
{
	for (size_t i = 0; i < m->n; i++) {
		struct qa_proc now;
		if (m->p[i].pgid == pgid && qa_proc_stat(m->p[i].pid, &now) &&
		    now.starttime == m->p[i].starttime && now.pgid == pgid)
			return true;
	}
	return false;
}

static enum ql_err signal_groups(const struct qa_action_ctx *ctx, const struct qa_matches *m,
                                 bool pause, bool record)
{
	pid_t groups[QA_PROC_MAX_MATCHES];
	size_t ng = groups_of(m, groups);
	const char *sig = pause ? "STOP" : "CONT";
	const char *name = ctx->handle->name;
	ctx->detail[0] = '\0';
	qa_detail_append(ctx->detail, ctx->detail_len, "%s: %s%s to process group%s", name,
	                 ctx->dry_run ? "would send " : "sent ", sig, ng == 1 ? "" : "s");
	for (size_t i = 0; i < ng; i++)
		qa_detail_append(ctx->detail, ctx->detail_len, " %d", (int)groups[i]);
	if (ctx->dry_run)
		return QL_OK;
	if (record)
		qa_undo_previous(ctx, previous_state(m));
	for (size_t i = 0; i < ng; i++) {
		int e = group_still_ours(m, groups[i])
		                ? qa_proc_signal_group(groups[i], pause ? SIGSTOP : SIGCONT)
		                : ESRCH;
		if (e != 0 && e != ESRCH) {
			qa_detail_append(ctx->detail, ctx->detail_len, "; group %d: %s",
			                 (int)groups[i], strerror(e));
			return QL_ERR_ACTION_FAILED;
		}
	}
	pid_t wrong;
	char state = '?';
	if (!wait_state(m, pause, ctx->deadline_ms, &wrong, &state)) {
		qa_detail_append(ctx->detail, ctx->detail_len, "; but %d is in state %c",
		                 (int)wrong, state);
		return QL_ERR_TIMEOUT;
	}
	qa_detail_append(ctx->detail, ctx->detail_len, "; %zu process%s %s", m->n,
	                 m->n == 1 ? "" : "es", pause ? "stopped (state T)" : "running again");
	return QL_OK;
}

static enum ql_err by_signals(const struct qa_action_ctx *ctx, bool pause, bool record)
{
	struct qa_matches *m = malloc(sizeof *m);
	if (m == NULL)
		return QL_ERR_NOMEM;
	enum ql_err err =
		qa_proc_find(ctx->handle, QA_FIND_GROUPS, m, ctx->detail, ctx->detail_len);
	if (err == QL_OK && m->n == 0) {
		/* Nothing running is as paused as it gets; but resume cannot start a worker. */
		snprintf(ctx->detail, ctx->detail_len, "%s: no worker process matched; %s",
		         ctx->handle->name,
		         pause ? "nothing to pause" : "nothing to resume (is the worker running?)");
		err = pause ? QL_OK : QL_ERR_ACTION_FAILED;
	} else if (err == QL_OK) {
		err = signal_groups(ctx, m, pause, record);
	}
	free(m);
	return err;
}

static enum ql_err pause_or_resume(const struct qa_action_ctx *ctx, bool pause, bool record)
{
	const struct qa_handle *h = ctx->handle;
	if (h->pause_file)
		return by_file(ctx, pause, record);
	if (h->stop.argv && h->start.argv)
		return by_commands(ctx, pause, record);
	return by_signals(ctx, pause, record);
}

static enum ql_err pause_run(const struct qa_action_ctx *ctx)
{
	return pause_or_resume(ctx, true, true);
}

static enum ql_err resume_run(const struct qa_action_ctx *ctx)
{
	return pause_or_resume(ctx, false, true);
}

/* ---- revert (pause's and resume's records alike) */

/* The undo record: whether the worker was paused before. */
static enum ql_err parse_undo(const struct qa_action_ctx *ctx, const cJSON *undo, bool *paused)
{
	const char *previous = qa_undo_string(undo, "previous"), *name = ctx->handle->name;
	*paused = previous && strcmp(previous, "paused") == 0;
	if (previous && (*paused || strcmp(previous, "running") == 0))
		return QL_OK;
	if (previous && strcmp(previous, "unknown") == 0) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s: what the worker was before is not known (its stop/start commands "
		         "cannot tell); not reverted, check it by hand",
		         name);
		return QL_ERR_ACTION_FAILED;
	}
	if (previous && strcmp(previous, "partly paused") == 0) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s: the worker was partly paused before, and which processes were "
		         "stopped is not recorded; not reverted, check it by hand",
		         name);
		return QL_ERR_ACTION_FAILED;
	}
	snprintf(ctx->detail, ctx->detail_len,
	         "malformed undo record: want {\"previous\":\"paused\"|\"running\"}");
	return QL_ERR_BAD_ARGUMENT;
}

/*
 * What the worker is now: "paused", "running", "partly paused", or NULL when
 * it cannot tell (stop/start commands; no matched process).
 */
static enum ql_err current_state(const struct qa_action_ctx *ctx, const char **state)
{
	const struct qa_handle *h = ctx->handle;
	*state = NULL;
	if (h->pause_file) {
		struct stat st;
		enum ql_err err = qa_file_stat(h->pause_file, &st, ctx->detail, ctx->detail_len);
		if (err != QL_OK && err != QL_ERR_NOT_FOUND)
			return err == QL_ERR_DENIED ? err : QL_ERR_ACTION_FAILED;
		*state = err == QL_OK ? "paused" : "running";
		return QL_OK;
	}
	if (h->stop.argv && h->start.argv)
		return QL_OK;
	struct qa_matches *m = malloc(sizeof *m);
	if (m == NULL)
		return QL_ERR_NOMEM;
	enum ql_err err = qa_proc_find(h, QA_FIND_GROUPS, m, ctx->detail, ctx->detail_len);
	if (err == QL_OK && m->n > 0)
		*state = previous_state(m);
	free(m);
	return err;
}

static enum ql_err pause_revert(const struct qa_action_ctx *ctx, const cJSON *undo)
{
	bool paused;
	const char *now;
	enum ql_err err = parse_undo(ctx, undo, &paused);
	if (err == QL_OK)
		err = current_state(ctx, &now);
	if (err != QL_OK)
		return err;
	const char *want = paused ? "paused" : "running";
	if (now && strcmp(now, want) == 0) {
		snprintf(ctx->detail, ctx->detail_len, "%s: already %s", ctx->handle->name, want);
		return QL_OK;
	}
	if (!ctx->dry_run && ql_mono_ms() > ctx->deadline_ms) {
		snprintf(ctx->detail, ctx->detail_len, "%s: deadline passed before reverting",
		         ctx->handle->name);
		return QL_ERR_TIMEOUT;
	}
	return pause_or_resume(ctx, paused, false);
}

static bool pause_at_rest(const struct qa_action_ctx *ctx, const cJSON *undo)
{
	char buf[QL_MAX_DETAIL];
	struct qa_action_ctx quiet = qa_ctx_quiet(ctx, buf, sizeof buf);
	bool paused;
	const char *now;
	return parse_undo(&quiet, undo, &paused) == QL_OK && current_state(&quiet, &now) == QL_OK &&
	       now && strcmp(now, paused ? "paused" : "running") == 0;
}

const struct qa_action qa_action_pause = {
	.name = "pause",
	.family = "pause",
	.handle_types = QA_TYPE(QA_HANDLE_WORKER),
	.reversible = true,
	.arg_names = no_args,
	.check = pause_check,
	.run = pause_run,
	.revert = pause_revert,
	.at_rest = pause_at_rest,
};

const struct qa_action qa_action_resume = {
	.name = "resume",
	.family = "pause",
	.handle_types = QA_TYPE(QA_HANDLE_WORKER),
	.reversible = true,
	.arg_names = no_args,
	.check = pause_check,
	.run = resume_run,
	.revert = pause_revert,
	.at_rest = pause_at_rest,
};
