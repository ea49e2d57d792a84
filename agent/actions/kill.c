/*
 * kill.c: end the processes a `process` handle matches (a runaway job, a
 * wedged worker). Each match gets the handle's signal (TERM unless the
 * handle or the operator says otherwise); whatever is still there after the
 * grace period gets SIGKILL. Signals go through pidfds checked against the
 * start time found when matching, so a pid recycled in between is never hit.
 *
 * A matcher that would hit pid 1, the agent itself or its parent refuses the
 * whole action (denied) before anything is signalled. No match is success:
 * an operator re-running `quell kill` after a partial run must not see a
 * failure for processes that are already gone. Not reversible.
 *
 * Arguments: signal=NAME (TERM, KILL, HUP, INT, QUIT, USR1, USR2),
 * grace=SECONDS (0..600); both override the handle's.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "proc.h"

static const char *const kill_args[] = {"signal", "grace", NULL};

/* UNTRUSTED: an operator's grace value, digits only, 0..600. */
static bool parse_grace(const char *s, int *out)
{
	if (s[0] == '\0' || strlen(s) > 8 || strspn(s, "0123456789") != strlen(s))
		return false;
	int v = atoi(s);
	if (v > 600)
		return false;
	*out = v;
	return true;
}

static enum ql_err kill_check(const struct qa_action_ctx *ctx)
{
	const char *sig = qa_arg(ctx, "signal");
	const char *grace = qa_arg(ctx, "grace");
	int g;
	if (sig && qa_signal_parse(sig) == 0) {
		snprintf(ctx->detail, ctx->detail_len,
		         "signal must be one of TERM, KILL, HUP, INT, QUIT, USR1, USR2");
		return QL_ERR_BAD_ARGUMENT;
	}
	if (grace && !parse_grace(grace, &g)) {
		snprintf(ctx->detail, ctx->detail_len,
		         "grace must be a whole number of seconds from "
		         "0 to 600");
		return QL_ERR_BAD_ARGUMENT;
	}
	return QL_OK;
}

static void list_pids(const struct qa_matches *m, char *buf, size_t len)
{
	for (size_t i = 0; i < m->n; i++)
		qa_detail_append(buf, len, "%s%d", i ? " " : "", (int)m->p[i].pid);
}

static enum ql_err kill_matches(const struct qa_action_ctx *ctx, const struct qa_matches *m,
                                int sig, int grace)
{
	struct qa_stop r[QA_PROC_MAX_MATCHES];
	int64_t kill_after;
	size_t alive =
		qa_proc_terminate(m->p, m->n, sig, 1000 * grace, ctx->deadline_ms, r, &kill_after);
	ctx->detail[0] = '\0';
	qa_detail_append(ctx->detail, ctx->detail_len, "%s: killed ", ctx->handle->name);
	qa_proc_describe_stop(m->p, m->n, sig, r, kill_after, ctx->detail, ctx->detail_len);
	if (alive == 0)
		return QL_OK;
	qa_detail_append(ctx->detail, ctx->detail_len, "; %zu process%s still running", alive,
	                 alive == 1 ? "" : "es");
	return QL_ERR_ACTION_FAILED;
}

static enum ql_err kill_run(const struct qa_action_ctx *ctx)
{
	const struct qa_handle *h = ctx->handle;
	const char *sig_arg = qa_arg(ctx, "signal");
	const char *grace_arg = qa_arg(ctx, "grace");
	int sig = sig_arg ? qa_signal_parse(sig_arg) : h->signal;
	int grace = h->grace_s;
	if (grace_arg && !parse_grace(grace_arg, &grace))
		return QL_ERR_BAD_ARGUMENT; /* check() said it was fine */

	struct qa_matches *m = malloc(sizeof *m);
	if (m == NULL)
		return QL_ERR_NOMEM;
	enum ql_err err = qa_proc_find(h, 0, m, ctx->detail, ctx->detail_len);
	if (err != QL_OK)
		goto out;
	if (m->n == 0) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s: no process matched; nothing to kill (already gone?)", h->name);
		goto out;
	}
	if (ctx->dry_run) {
		snprintf(ctx->detail, ctx->detail_len, "%s: would send %s to ", h->name,
		         qa_signal_name(sig));
		list_pids(m, ctx->detail, ctx->detail_len);
		if (sig != SIGKILL)
			qa_detail_append(ctx->detail, ctx->detail_len,
			                 " (KILL after %ds if still running)", grace);
		goto out;
	}
	err = kill_matches(ctx, m, sig, grace);
out:
	free(m);
	return err;
}

const struct qa_action qa_action_kill = {
	.name = "kill",
	.handle_types = QA_TYPE(QA_HANDLE_PROCESS),
	.reversible = false,
	.arg_names = kill_args,
	.check = kill_check,
	.run = kill_run,
};
