/*
 * scale.c: run exactly N instances of an `instances` handle (e.g. N
 * memcached on ports port_base .. port_base+N-1), to add capacity during an
 * incident or give memory back after it.
 *
 * Instances 0..N-1 are kept, missing ones started in their own session
 * (they outlive the agent), those with index >= N stopped (stop_signal,
 * SIGKILL after a few seconds). Every start is confirmed by a TCP connect
 * to 127.0.0.1:PORT before the handle's deadline. The tracking file
 * (instances.h) is rewritten after every change. Undo: {"previous": N}.
 * Revert scales back to N the same way; at rest means instances 0..N-1 run,
 * exactly (a revert would change nothing).
 *
 * Arguments: count=N, 0..the handle's max.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "instances.h"
#include "ql_limits.h"

static const char *const scale_args[] = {"count", NULL};

/* UNTRUSTED: the operator's count; digits only, 0..max. */
static bool parse_count(const char *s, int max, int *out)
{
	if (s == NULL || s[0] == '\0' || strlen(s) > 2 || strspn(s, "0123456789") != strlen(s))
		return false;
	*out = atoi(s);
	return *out <= max;
}

static enum ql_err scale_check(const struct qa_action_ctx *ctx)
{
	int n;
	if (!parse_count(qa_arg(ctx, "count"), ctx->handle->max, &n)) {
		snprintf(ctx->detail, ctx->detail_len,
		         "count must be a whole number from 0 to %d (the handle's max)",
		         ctx->handle->max);
		return QL_ERR_BAD_ARGUMENT;
	}
	return QL_OK;
}

static void set_undo(const struct qa_action_ctx *ctx, size_t previous)
{
	cJSON *o = cJSON_CreateObject();
	if (o && cJSON_AddNumberToObject(o, "previous", (double)previous))
		qa_undo_set(ctx, o);
	else
		cJSON_Delete(o);
}

static void describe_plan(const struct qa_action_ctx *ctx, const struct qa_instances *t, int count)
{
	const struct qa_handle *h = ctx->handle;
	char start[512] = "", stop[512] = "";
	for (int i = 0; i < count; i++)
		if (qa_instances_find(t, i) < 0)
			qa_detail_append(start, sizeof start, " %d", h->port_base + i);
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].index >= count)
			qa_detail_append(stop, sizeof stop, " %d", t->v[i].port);
	snprintf(ctx->detail, ctx->detail_len, "%s: would go %zu -> %d instances", h->name, t->n,
	         count);
	if (start[0])
		qa_detail_append(ctx->detail, ctx->detail_len, "; start ports%s", start);
	if (stop[0])
		qa_detail_append(ctx->detail, ctx->detail_len, "; stop ports%s", stop);
}

/* Stop the extras, start the missing ones, confirm. t->why says what failed. */
static enum ql_err scale_to(struct qa_instances *t, int count)
{
	size_t pos[QA_MAX_INSTANCES], n = 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].index >= count)
			pos[n++] = i;
	enum ql_err err = n ? qa_instances_stop(t, pos, n) : QL_OK;
	for (int i = 0; i < count && err == QL_OK; i++)
		if (qa_instances_find(t, i) < 0)
			err = qa_instances_start(t, i);
	enum ql_err confirmed =
		qa_instances_confirm(t); /* also for those started before a failure */
	return err != QL_OK ? err : confirmed;
}

/* Exactly instances 0..count-1 run (t->v is sorted by index, indexes unique). */
static bool at_count(const struct qa_instances *t, int count)
{
	return t->n == (size_t)count && (count == 0 || t->v[t->n - 1].index == count - 1);
}

/*
 * Go to `count` instances and describe it: the part run() and revert()
 * share. `record`: write the undo record first (run() only); without it
 * (revert) a handle already at count is left alone.
 */
static enum ql_err scale(const struct qa_action_ctx *ctx, int count, bool record)
{
	const struct qa_handle *h = ctx->handle;
	struct qa_instances *t = malloc(sizeof *t);
	if (t == NULL)
		return QL_ERR_NOMEM;
	enum ql_err err = qa_instances_load(ctx, t);
	size_t before = t->n;
	if (err != QL_OK) {
		snprintf(ctx->detail, ctx->detail_len, "%s: %s", h->name, t->why);
		goto out;
	}
	if (!record && at_count(t, count)) {
		snprintf(ctx->detail, ctx->detail_len, "%s: already %d instance%s", h->name, count,
		         count == 1 ? "" : "s");
		goto out;
	}
	if (ctx->dry_run) {
		describe_plan(ctx, t, count);
		goto out;
	}
	if (record)
		set_undo(ctx, before);
	if (t->dropped && (err = qa_instances_save(t)) != QL_OK) {
		snprintf(ctx->detail, ctx->detail_len, "%s: %s", h->name, t->why);
		goto out;
	}
	err = scale_to(t, count);
	if (err != QL_OK) {
		snprintf(ctx->detail, ctx->detail_len,
		         "%s: scaling %zu -> %d failed: %s; now %zu "
		         "running (ports",
		         h->name, before, count, t->why, t->n);
		qa_instances_ports(t, ctx->detail, ctx->detail_len);
		qa_detail_append(ctx->detail, ctx->detail_len, ")");
		goto out;
	}
	snprintf(ctx->detail, ctx->detail_len, "%s: %zu -> %d instance%s", h->name, before, count,
	         count == 1 ? "" : "s");
	if (t->n) {
		qa_detail_append(ctx->detail, ctx->detail_len, " (port%s", t->n == 1 ? "" : "s");
		qa_instances_ports(t, ctx->detail, ctx->detail_len);
		qa_detail_append(ctx->detail, ctx->detail_len, ")");
	}
out:
	qa_instances_fini(t);
	free(t);
	return err;
}

static enum ql_err scale_run(const struct qa_action_ctx *ctx)
{
	int count;
	if (!parse_count(qa_arg(ctx, "count"), ctx->handle->max, &count))
		return QL_ERR_BAD_ARGUMENT; /* check() said it was fine */
	return scale(ctx, count, true);
}

/* The undo record: the count before, a whole number from 0 to the handle's max. */
static enum ql_err parse_undo(const struct qa_action_ctx *ctx, const cJSON *undo, int *count)
{
	const cJSON *p =
		cJSON_IsObject(undo) ? cJSON_GetObjectItemCaseSensitive(undo, "previous") : NULL;
	double v = cJSON_IsNumber(p) ? p->valuedouble : -1;
	if (v >= 0 && v <= ctx->handle->max && v == (double)(int)v) {
		*count = (int)v;
		return QL_OK;
	}
	snprintf(ctx->detail, ctx->detail_len,
	         "malformed undo record: want {\"previous\":N}, N a whole number from 0 to %d "
	         "(the handle's max)",
	         ctx->handle->max);
	return QL_ERR_BAD_ARGUMENT;
}

static enum ql_err scale_revert(const struct qa_action_ctx *ctx, const cJSON *undo)
{
	int count;
	enum ql_err err = parse_undo(ctx, undo, &count);
	return err != QL_OK ? err : scale(ctx, count, false);
}

static bool scale_at_rest(const struct qa_action_ctx *ctx, const cJSON *undo)
{
	char buf[QL_MAX_DETAIL];
	struct qa_action_ctx quiet = qa_ctx_quiet(ctx, buf, sizeof buf);
	int count;
	if (parse_undo(&quiet, undo, &count) != QL_OK)
		return false;
	struct qa_instances *t = malloc(sizeof *t);
	if (t == NULL)
		return false;
	bool rest = qa_instances_load(&quiet, t) == QL_OK && at_count(t, count);
	qa_instances_fini(t);
	free(t);
	return rest;
}

const struct qa_action qa_action_scale = {
	.name = "scale",
	.handle_types = QA_TYPE(QA_HANDLE_INSTANCES),
	.reversible = true,
	.arg_names = scale_args,
	.check = scale_check,
	.run = scale_run,
	.revert = scale_revert,
	.at_rest = scale_at_rest,
};
