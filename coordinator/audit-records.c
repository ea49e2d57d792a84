/*
 * audit-records.c: the records the coordinator writes to the audit log
 * itself (audit.c keeps the chain): a `submit` for every new job and a
 * `result` for every host that reaches a final status. Each has one human
 * line (text) for `quell timeline` and a JSON object (data) with the same
 * facts as fields, for --json and for tools. Other modules append their own
 * kinds through qc_audit_append.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "codec.h"
#include "log.h"
#include "quell.pb-c.h"

#define ARG_SHOWN 64 /* longer argument values are cut in the text line (data has them whole) */

/* A line being built; stops growing (quietly) when it is full. */
struct line {
	char buf[QC_AUDIT_MAX_TEXT + 1];
	size_t len;
};

static void add(struct line *l, const char *fmt, ...) QL_PRINTF(2, 3);

static void add(struct line *l, const char *fmt, ...)
{
	if (l->len >= sizeof l->buf - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(l->buf + l->len, sizeof l->buf - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len +=
			(size_t)n < sizeof l->buf - l->len ? (size_t)n : sizeof l->buf - 1 - l->len;
}

/* key=value, or key="value" when it has blanks (or quote); long values cut at a
 * character boundary. */
static void add_arg(struct line *l, const char *key, const char *value, bool quote)
{
	size_t n = strlen(value);
	bool cut = n > ARG_SHOWN;
	if (cut) {
		n = ARG_SHOWN;
		while (n > 0 && ((unsigned char)value[n] & 0xc0) == 0x80)
			n--;
	}
	quote = quote || n == 0 || strpbrk(value, " \t\n\"") != NULL;
	add(l, " %s=%s%.*s%s%s", key, quote ? "\"" : "", (int)n, value, cut ? "..." : "",
	    quote ? "\"" : "");
}

void qc_audit_submit(struct qc_store *st, const struct qc_job *job, const void *command)
{
	const Quell__Command *cmd = command;
	char hex[2 * QL_JOB_ID_LEN + 1], ttl[24] = "";
	ql_hex(job->id, QL_JOB_ID_LEN, hex);
	if (cmd->ttl_seconds)
		ql_duration_format(cmd->ttl_seconds, ttl, sizeof ttl);

	/* maintenance site mode=on target=role=web hosts=3 ttl=15m reason="..." */
	struct line *l = malloc(sizeof *l);
	cJSON *o = cJSON_CreateObject(), *args = o ? cJSON_AddObjectToObject(o, "args") : NULL;
	char *data = NULL;
	if (l == NULL || args == NULL)
		goto fail;
	l->len = 0;
	l->buf[0] = '\0';
	add(l, "%s%s%s", cmd->action, cmd->handle[0] ? " " : "", cmd->handle);
	for (size_t i = 0; i < cmd->n_args; i++) {
		add_arg(l, cmd->args[i]->key, cmd->args[i]->value, false);
		if (cJSON_AddStringToObject(args, cmd->args[i]->key, cmd->args[i]->value) == NULL)
			goto fail;
	}
	add(l, " target=%s hosts=%zu", cmd->target, job->n_hosts);
	if (ttl[0])
		add(l, " ttl=%s", ttl);
	if (cmd->dry_run)
		add(l, " dry-run");
	if (cmd->reason[0])
		add_arg(l, "reason", cmd->reason, true);

	if (!cJSON_AddStringToObject(o, "action", cmd->action) ||
	    !cJSON_AddStringToObject(o, "handle", cmd->handle) ||
	    !cJSON_AddStringToObject(o, "target", cmd->target) ||
	    !cJSON_AddStringToObject(o, "reason", cmd->reason) ||
	    !cJSON_AddNumberToObject(o, "ttl_seconds", cmd->ttl_seconds) ||
	    !cJSON_AddBoolToObject(o, "dry_run", cmd->dry_run) ||
	    !cJSON_AddNumberToObject(o, "hosts", (double)job->n_hosts) ||
	    !cJSON_AddStringToObject(o, "operator", job->operator_name) ||
	    !cJSON_AddStringToObject(o, "job", hex) || !(data = cJSON_PrintUnformatted(o)))
		goto fail;
	struct qc_audit_rec r = {
		.kind = "submit",
		.incident = job->incident,
		.job_id = job->id,
		.actor = job->operator_name,
		.text = l->buf,
		.data = data,
	};
	if (qc_audit_append(st, &r) != QL_OK)
		goto fail;
	goto out;
fail:
	ql_warn("could not write the audit record of job %s", hex);
out:
	cJSON_free(data);
	cJSON_Delete(o);
	free(l);
}

void qc_audit_result(struct qc_store *st, const struct qc_jobhost *h)
{
	const char *status = qc_host_status_name(h->status);
	const char *detail = h->detail ? h->detail : "";
	/* "ok: maintenance on (/srv/...)", "rejected: denied: denied by policy" */
	bool show_reason = h->reason[0] && strcmp(h->reason, status) != 0;
	char *text = NULL, *data = NULL;
	cJSON *o = cJSON_CreateObject();
	size_t n = strlen(status) + strlen(h->reason) + strlen(detail) + 8;
	text = malloc(n);
	if (o == NULL || text == NULL)
		goto fail;
	snprintf(text, n, "%s%s%s%s%s", status, show_reason || detail[0] ? ": " : "",
	         show_reason ? h->reason : "", show_reason && detail[0] ? ": " : "", detail);
	if (!cJSON_AddStringToObject(o, "status", status) ||
	    !cJSON_AddStringToObject(o, "reason", h->reason) ||
	    !cJSON_AddStringToObject(o, "detail", detail) || !(data = cJSON_PrintUnformatted(o)))
		goto fail;
	struct qc_audit_rec r = {
		.kind = "result",
		.incident = h->job->incident,
		.job_id = h->job->id,
		.host = h->hostname,
		.actor = h->hostname,
		.text = text,
		.data = data,
	};
	if (qc_audit_append(st, &r) == QL_OK)
		goto out;
fail:
	ql_warn("could not write the audit record of %s's result", h->hostname);
out:
	cJSON_free(data);
	cJSON_Delete(o);
	free(text);
}
