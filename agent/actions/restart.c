/*
 * restart.c: restart a `service` or every instance of an `instances`
 * handle, and confirm it came back. Not reversible (a restart has no
 * "before" to return to).
 *
 * service, restart = ARGV   run the administrator's command (systemctl,
 *                           nginx -s reload, ...) to completion;
 * service, match + start    TERM the matched processes, SIGKILL after the
 *                           handle's grace, run start, and wait until a
 *                           process the matcher finds is a new one (pid and
 *                           start time differ from all the old ones);
 * instances                 one at a time (the others keep serving): stop
 *                           it, start it again on the same index and port,
 *                           wait until the port answers; the tracking file
 *                           is rewritten after each step.
 *
 * With `port` set, a service only counts as restarted once a TCP connect to
 * 127.0.0.1:port succeeds before the handle's deadline. `restart` and
 * `start` must return (a daemon forks into the background, or a service
 * manager starts it): one still running at the deadline is killed with its
 * whole process group.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "instances.h"

static const char *const no_args[] = {NULL};

static enum ql_err restart_check(const struct qa_action_ctx *ctx)
{
	(void)ctx; /* no arguments */
	return QL_OK;
}

/* The port check after a service restart; appends to the detail. */
static enum ql_err confirm_port(const struct qa_action_ctx *ctx)
{
	int port = ctx->handle->port;
	if (port == 0)
		return QL_OK;
	if (!qa_port_wait(port, ctx->deadline_ms)) {
		qa_detail_append(ctx->detail, ctx->detail_len,
		                 "; but nothing answers on 127.0.0.1:%d before the deadline", port);
		return QL_ERR_TIMEOUT;
	}
	qa_detail_append(ctx->detail, ctx->detail_len, "; port %d answers", port);
	return QL_OK;
}

static enum ql_err service_by_command(const struct qa_action_ctx *ctx)
{
	const struct qa_handle *h = ctx->handle;
	if (ctx->dry_run) {
		snprintf(ctx->detail, ctx->detail_len, "%s: would run %s", h->name,
		         h->restart.argv[0]);
		if (h->port)
			qa_detail_append(ctx->detail, ctx->detail_len, " and wait for port %d",
			                 h->port);
		return QL_OK;
	}
	char why[QL_MAX_DETAIL / 2];
	enum ql_err err = qa_proc_run(h->restart.argv, ctx->deadline_ms, why, sizeof why);
	if (err != QL_OK) {
		snprintf(ctx->detail, ctx->detail_len, "%s: restart failed: %s", h->name, why);
		return err;
	}
	snprintf(ctx->detail, ctx->detail_len, "%s restarted (%s)", h->name, why);
	return confirm_port(ctx);
}

static bool is_old(const struct qa_matches *old, const struct qa_proc *p)
{
	for (size_t i = 0; i < old->n; i++)
		if (old->p[i].pid == p->pid && old->p[i].starttime == p->starttime)
			return true;
	return false;
}

/* Poll the matcher until it finds a process that is not one of the old ones. */
static pid_t wait_new(const struct qa_action_ctx *ctx, const struct qa_matches *old,
                      struct qa_matches *now)
{
	char ignored[256];
	for (;;) {
		if (qa_proc_find(ctx->handle, 0, now, ignored, sizeof ignored) == QL_OK)
			for (size_t i = 0; i < now->n; i++)
				if (!is_old(old, &now->p[i]))
					return now->p[i].pid;
		if (ql_mono_ms() >= ctx->deadline_ms)
			return 0;
		qa_sleep_until(ctx->deadline_ms, 50);
	}
}

static enum ql_err stop_and_start(const struct qa_action_ctx *ctx, const struct qa_matches *old,
                                  struct qa_matches *now)
{
	const struct qa_handle *h = ctx->handle;
	struct qa_stop r[QA_PROC_MAX_MATCHES];
	int64_t kill_after;
	size_t alive = qa_proc_terminate(old->p, old->n, SIGTERM, 1000 * h->grace_s,
	                                 ctx->deadline_ms, r, &kill_after);
	snprintf(ctx->detail, ctx->detail_len, "%s: ", h->name);
	if (old->n == 0)
		qa_detail_append(ctx->detail, ctx->detail_len, "was not running");
	qa_proc_describe_stop(old->p, old->n, SIGTERM, r, kill_after, ctx->detail, ctx->detail_len);
	if (alive > 0) {
		qa_detail_append(ctx->detail, ctx->detail_len, "; not started again");
		return QL_ERR_ACTION_FAILED;
	}
	char why[QL_MAX_DETAIL / 2];
	enum ql_err err = qa_proc_run(h->start.argv, ctx->deadline_ms, why, sizeof why);
	qa_detail_append(ctx->detail, ctx->detail_len, "; start: %s", why);
	if (err != QL_OK)
		return err;
	pid_t pid = wait_new(ctx, old, now);
	if (pid == 0) {
		qa_detail_append(ctx->detail, ctx->detail_len,
		                 "; but no new process matched before the deadline");
		return QL_ERR_TIMEOUT;
	}
	qa_detail_append(ctx->detail, ctx->detail_len, "; now pid %d", (int)pid);
	return confirm_port(ctx);
}

static enum ql_err service_by_match(const struct qa_action_ctx *ctx)
{
	const struct qa_handle *h = ctx->handle;
	struct qa_matches *old = malloc(sizeof *old), *now = malloc(sizeof *now);
	enum ql_err err = QL_ERR_NOMEM;
	if (old == NULL || now == NULL)
		goto out;
	err = qa_proc_find(h, 0, old, ctx->detail, ctx->detail_len);
	if (err != QL_OK)
		goto out;
	if (ctx->dry_run) {
		snprintf(ctx->detail, ctx->detail_len, "%s: would send TERM to", h->name);
		for (size_t i = 0; i < old->n; i++)
			qa_detail_append(ctx->detail, ctx->detail_len, " %d", (int)old->p[i].pid);
		qa_detail_append(ctx->detail, ctx->detail_len, "%s (KILL after %ds), then run %s",
		                 old->n ? "" : " nothing (not running)", h->grace_s,
		                 h->start.argv[0]);
		goto out;
	}
	err = stop_and_start(ctx, old, now);
out:
	free(old);
	free(now);
	return err;
}

/* Restart the instance with this index; appends "30000: 4242 -> 4250". */
static enum ql_err restart_instance(struct qa_instances *t, int index, char *list, size_t len)
{
	int at = qa_instances_find(t, index);
	if (at < 0)
		return QL_OK; /* went away while we restarted the others */
	size_t pos = (size_t)at;
	int port = t->v[pos].port;
	pid_t old = t->v[pos].proc.pid;
	enum ql_err err = qa_instances_stop(t, &pos, 1);
	if (err == QL_OK)
		err = qa_instances_start(t, index);
	if (err == QL_OK)
		err = qa_instances_confirm(t);
	if (err != QL_OK)
		return err;
	at = qa_instances_find(t, index);
	qa_detail_append(list, len, "%s%d: %d -> %d", list[0] ? ", " : "", port, (int)old,
	                 at >= 0 ? (int)t->v[at].proc.pid : 0);
	return QL_OK;
}

static enum ql_err restart_instances(const struct qa_action_ctx *ctx)
{
	const struct qa_handle *h = ctx->handle;
	struct qa_instances *t = malloc(sizeof *t);
	if (t == NULL)
		return QL_ERR_NOMEM;
	enum ql_err err = qa_instances_load(ctx, t);
	int index[QA_MAX_INSTANCES];
	size_t n = t->n;
	if (err != QL_OK) {
		snprintf(ctx->detail, ctx->detail_len, "%s: %s", h->name, t->why);
		goto out;
	}
	if (n == 0 || ctx->dry_run) {
		snprintf(ctx->detail, ctx->detail_len,
		         n ? "%s: would restart the instances on ports"
		           : "%s: no instances running; nothing to restart",
		         h->name);
		qa_instances_ports(t, ctx->detail, ctx->detail_len);
		goto out;
	}
	if (t->dropped && (err = qa_instances_save(t)) != QL_OK) {
		snprintf(ctx->detail, ctx->detail_len, "%s: %s", h->name, t->why);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		index[i] = t->v[i].index;
	char list[QL_MAX_DETAIL / 2] = "";
	for (size_t i = 0; i < n && err == QL_OK; i++)
		err = restart_instance(t, index[i], list, sizeof list);
	if (err == QL_OK) {
		snprintf(ctx->detail, ctx->detail_len, "%s: restarted %zu instance%s (%s)", h->name,
		         n, n == 1 ? "" : "s", list);
		goto out;
	}
	snprintf(ctx->detail, ctx->detail_len, "%s: restart failed: %s; now %zu running (ports",
	         h->name, t->why, t->n);
	qa_instances_ports(t, ctx->detail, ctx->detail_len);
	qa_detail_append(ctx->detail, ctx->detail_len, ")");
out:
	qa_instances_fini(t);
	free(t);
	return err;
}

static enum ql_err restart_run(const struct qa_action_ctx *ctx)
{
	const struct qa_handle *h = ctx->handle;
	if (h->type == QA_HANDLE_INSTANCES)
		return restart_instances(ctx);
	if (h->restart.argv)
		return service_by_command(ctx);
	return service_by_match(ctx);
}

const struct qa_action qa_action_restart = {
	.name = "restart",
	.handle_types = QA_TYPE(QA_HANDLE_SERVICE) | QA_TYPE(QA_HANDLE_INSTANCES),
	.reversible = false,
	.arg_names = no_args,
	.check = restart_check,
	.run = restart_run,
};
