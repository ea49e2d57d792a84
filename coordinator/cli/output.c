/*
 * output.c: what the operator sees: a live progress line on a terminal, a
 * per-host table grouped by status (compact when a big fleet is all ok),
 * a summary line of counts, or one stable JSON object with --json:
 *
 *   {"job": ID, "action": A, "handle": H, "target": SEL, "dry_run": B, "seconds": S,
 *    "counts": {"ok": n, "failed": n, ...},
 *    "hosts": [{"host": H, "status": S, "reason": R, "detail": D}, ...]}
 *
 * `quell job ID` (reattached) adds "operator", "state" (running, done,
 * unfinished), "in_progress" (hosts without a final status; with the
 * counts, adds up to the target count) and "created" (unix seconds).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const statuses[] = {"ok",      "failed",      "rejected",
                                       "timeout", "unreachable", "skipped"};
#define N_STATUSES (sizeof statuses / sizeof statuses[0])
#define COMPACT_OK 20 /* more ok hosts than this are summarised in one line */

static size_t count(const struct qcli_host *hosts, size_t n, const char *status)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += strcmp(hosts[i].status, status) == 0;
	return k;
}

static int by_host(const void *a, const void *b)
{
	return strcmp(((const struct qcli_host *)a)->host, ((const struct qcli_host *)b)->host);
}

void qcli_progress(const char *hex, size_t n_done, size_t n_total, const struct qcli_host *hosts,
                   double secs)
{
	/* The id is on screen while it runs: `quell job ID` finds the job again. */
	fprintf(stderr, "\r\033[Kjob %.8s: %zu/%zu answered", hex, n_done, n_total);
	for (size_t s = 0; s < N_STATUSES; s++) {
		size_t k = count(hosts, n_done, statuses[s]);
		if (k)
			fprintf(stderr, "  %s %zu", statuses[s], k);
	}
	fprintf(stderr, "  %.1fs", secs);
	fflush(stderr);
}

static void print_json(const struct qcli_job *job, struct qcli_host *hosts, size_t n,
                       double seconds)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "job", job->hex);
	cJSON_AddStringToObject(root, "action", job->action);
	cJSON_AddStringToObject(root, "handle", job->handle);
	cJSON_AddStringToObject(root, "target", job->target);
	cJSON_AddBoolToObject(root, "dry_run", job->dry_run);
	cJSON_AddNumberToObject(root, "seconds", seconds);
	if (job->reattached) {
		cJSON_AddStringToObject(root, "operator", job->operator_name);
		cJSON_AddStringToObject(root, "state", job->state);
		cJSON_AddNumberToObject(root, "created", (double)(job->created_ms / 1000));
		cJSON_AddNumberToObject(root, "in_progress", (double)job->in_progress);
	}
	cJSON *counts = cJSON_AddObjectToObject(root, "counts");
	for (size_t s = 0; s < N_STATUSES; s++)
		cJSON_AddNumberToObject(counts, statuses[s], (double)count(hosts, n, statuses[s]));
	cJSON *arr = cJSON_AddArrayToObject(root, "hosts");
	for (size_t i = 0; i < n; i++) {
		cJSON *h = cJSON_CreateObject();
		cJSON_AddStringToObject(h, "host", hosts[i].host);
		cJSON_AddStringToObject(h, "status", hosts[i].status);
		cJSON_AddStringToObject(h, "reason", hosts[i].reason);
		cJSON_AddStringToObject(h, "detail", hosts[i].detail);
		cJSON_AddItemToArray(arr, h);
	}
	qcli_print_json(root);
}

void qcli_print_json(struct cJSON *root)
{
	char *text = root ? cJSON_Print(root) : NULL;
	if (text)
		printf("%s\n", text);
	free(text);
	cJSON_Delete(root);
}

void qcli_span(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else if (s < 2 * 86400)
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, len, "%lldd", (long long)(s / 86400));
}

void qcli_print_results(const struct qcli_job *job, struct qcli_host *hosts, size_t n, bool json,
                        double seconds)
{
	if (n) /* hosts may be NULL when there are none */
		qsort(hosts, n, sizeof *hosts, by_host);
	if (json) {
		print_json(job, hosts, n, seconds);
		return;
	}
	size_t width = 4;
	for (size_t i = 0; i < n; i++)
		if (strlen(hosts[i].host) > width)
			width = strlen(hosts[i].host);
	size_t n_ok = count(hosts, n, "ok");
	printf("%-*s  %-11s  %s\n", (int)width, "HOST", "STATUS", "DETAIL");
	for (size_t s = 0; s < N_STATUSES; s++) {
		if (strcmp(statuses[s], "ok") == 0 && n_ok > COMPACT_OK) {
			printf("ok: %zu hosts\n", n_ok);
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			if (strcmp(hosts[i].status, statuses[s]) != 0)
				continue;
			printf("%-*s  %-11s  %s%s%s\n", (int)width, hosts[i].host, hosts[i].status,
			       hosts[i].reason[0] && strcmp(hosts[i].status, "ok") != 0
			               ? hosts[i].reason
			               : "",
			       hosts[i].reason[0] && strcmp(hosts[i].status, "ok") != 0 ? ": " : "",
			       hosts[i].detail);
		}
	}
	if (job->in_progress)
		printf("%zu host%s still in progress\n", job->in_progress,
		       job->in_progress == 1 ? "" : "s");
	size_t all = n + job->in_progress;
	printf("job %s: %s%s: %zu host%s in %.2fs:", job->hex, job->what,
	       job->dry_run ? " (dry run)" : "", all, all == 1 ? "" : "s", seconds);
	const char *sep = " ";
	for (size_t s = 0; s < N_STATUSES; s++) {
		size_t k = count(hosts, n, statuses[s]);
		if (k) {
			printf("%s%zu %s", sep, k, statuses[s]);
			sep = ", ";
		}
	}
	if (job->in_progress)
		printf("%s%zu in progress", sep, job->in_progress);
	if (job->reattached && strcmp(job->state, "unfinished") == 0)
		printf(" (unfinished: the coordinator stopped it)");
	printf("\n");
}
