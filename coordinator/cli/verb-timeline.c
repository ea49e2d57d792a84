/*
 * verb-timeline.c: `quell timeline NAME [--json|--markdown]`: everything the
 * coordinator's audit log holds about one incident (the commands sent with
 * --incident NAME and every host's result), oldest first, fetched page by
 * page. Three shapes:
 *
 *   text        one line per record: time, kind, who, what (results indented)
 *   --json      {"incident": NAME, "events": [{"seq", "at", "kind", "job",
 *               "host", "actor", "text", "data"}, ...]}, data as an object
 *   --markdown  for a postmortem: a heading, the period and counts, and a
 *               table where a job's consecutive results of one status are
 *               one row
 *
 * Any kind of record is shown from its text, so kinds added later (undo,
 * TTL reverts) need nothing here.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "codec.h"
#include "log.h"

#define TIMELINE_USAGE "timeline NAME [--json|--markdown]"
#define MERGE_NAMES 10 /* hosts named in a merged markdown row */

struct timeline {
	const char *incident;
	Quell__ControlReply **pages; /* the replies the records live in */
	size_t n_pages;
	const Quell__AuditRecord **recs;
	size_t n;
};

/* "2026-11-25 14:03:07.123Z" (sep ' '), "2026-11-25T14:03:07.123Z" (sep 'T');
 * ms false: "2026-11-25 14:03:07". */
static void fmt_time(int64_t at_ms, char sep, bool ms, char *buf, size_t len)
{
	time_t t = (time_t)(at_ms / 1000);
	struct tm tm;
	if (at_ms < 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "?");
		return;
	}
	char day[40];
	strftime(day, sizeof day, sep == 'T' ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
	if (ms)
		snprintf(buf, len, "%s.%03dZ", day, (int)(at_ms % 1000));
	else
		snprintf(buf, len, "%s", day);
}

/* ---- fetching ---------------------------------------------------------------------- */

static bool keep_page(struct timeline *tl, Quell__ControlReply *r)
{
	Quell__ControlReply **pages = realloc(tl->pages, (tl->n_pages + 1) * sizeof *pages);
	const Quell__AuditRecord **recs =
		pages ? realloc(tl->recs, (tl->n + r->n_records + 1) * sizeof *recs) : NULL;
	if (pages)
		tl->pages = pages;
	if (recs)
		tl->recs = recs;
	if (pages == NULL || recs == NULL) {
		quell__control_reply__free_unpacked(r, NULL);
		return false;
	}
	tl->pages[tl->n_pages++] = r;
	for (size_t i = 0; i < r->n_records; i++)
		tl->recs[tl->n++] = r->records[i];
	return true;
}

/* Every record of the incident, page after page. Returns an exit code. */
static int fetch(struct qcli_conn *c, struct timeline *tl)
{
	Quell__ControlRequest req;
	quell__control_request__init(&req);
	Quell__TimelineRequest t = QUELL__TIMELINE_REQUEST__INIT;
	t.incident = (char *)tl->incident;
	t.limit = QL_MAX_TIMELINE_PAGE;
	req.req_case = QUELL__CONTROL_REQUEST__REQ_TIMELINE;
	req.timeline = &t;
	for (;;) {
		int rc;
		Quell__ControlReply *r = qcli_call(c, &req, 0, &rc);
		if (r == NULL)
			return rc;
		/* UNTRUSTED: pages must move forward and stay in the incident, or the
		 * loop could run forever or mix incidents. */
		for (size_t i = 0; i < r->n_records; i++) {
			const Quell__AuditRecord *rec = r->records[i];
			if (rec->seq <= t.after || strcmp(rec->incident, tl->incident) != 0) {
				fprintf(stderr,
				        "quell: the coordinator's timeline is out of order\n");
				quell__control_reply__free_unpacked(r, NULL);
				return QCLI_EXIT_NOT_OK;
			}
			t.after = rec->seq;
		}
		bool more = r->more, empty = r->n_records == 0;
		if (!keep_page(tl, r)) {
			fprintf(stderr, "quell: out of memory reading the timeline\n");
			return QCLI_EXIT_NOT_OK;
		}
		if (!more)
			return QCLI_EXIT_OK;
		if (empty) {
			fprintf(stderr, "quell: the coordinator's timeline does not move on\n");
			return QCLI_EXIT_NOT_OK;
		}
	}
}

/* ---- text -------------------------------------------------------------------------- */

/* s on one line: newlines and tabs as blanks. */
static void put_line(const char *s)
{
	for (; *s; s++)
		putchar(*s == '\n' || *s == '\t' ? ' ' : *s);
}

static bool is_result(const Quell__AuditRecord *r)
{
	return strcmp(r->kind, "result") == 0;
}

static void print_text(const struct timeline *tl)
{
	if (tl->n == 0) {
		printf("no records for incident %s\n", tl->incident);
		return;
	}
	int kw = 4, aw = 4;
	for (size_t i = 0; i < tl->n; i++) {
		int k = (int)strlen(tl->recs[i]->kind) + (is_result(tl->recs[i]) ? 2 : 0);
		int a = (int)strlen(tl->recs[i]->actor);
		kw = k > kw ? k : kw;
		aw = a > aw ? a : aw;
	}
	for (size_t i = 0; i < tl->n; i++) {
		const Quell__AuditRecord *r = tl->recs[i];
		char when[48];
		fmt_time(r->at_ms, ' ', true, when, sizeof when);
		bool indent = is_result(r);
		printf("%s  %s%-*s  %-*s  ", when, indent ? "  " : "", kw - (indent ? 2 : 0),
		       r->kind, aw, r->actor);
		put_line(r->text);
		putchar('\n');
	}
}

/* ---- JSON -------------------------------------------------------------------------- */

static void print_json(const struct timeline *tl)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "incident", tl->incident);
	cJSON *arr = cJSON_AddArrayToObject(root, "events");
	for (size_t i = 0; i < tl->n; i++) {
		const Quell__AuditRecord *r = tl->recs[i];
		char when[48], hex[2 * QL_JOB_ID_LEN + 1];
		fmt_time(r->at_ms, 'T', true, when, sizeof when);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "seq", (double)r->seq);
		cJSON_AddStringToObject(o, "at", when);
		cJSON_AddStringToObject(o, "kind", r->kind);
		if (r->job_id.len == QL_JOB_ID_LEN) {
			ql_hex(r->job_id.data, QL_JOB_ID_LEN, hex);
			cJSON_AddStringToObject(o, "job", hex);
		} else {
			cJSON_AddNullToObject(o, "job");
		}
		if (r->host[0])
			cJSON_AddStringToObject(o, "host", r->host);
		else
			cJSON_AddNullToObject(o, "host");
		cJSON_AddStringToObject(o, "actor", r->actor);
		cJSON_AddStringToObject(o, "text", r->text);
		/* The record's fields as an object; a coordinator's data that does not
		 * parse is passed on as the string it is. */
		cJSON *data = cJSON_Parse(r->data);
		cJSON_AddItemToObject(o, "data", data ? data : cJSON_CreateString(r->data));
		cJSON_AddItemToArray(arr, o);
	}
	qcli_print_json(root);
}

/* ---- markdown ---------------------------------------------------------------------- */

/* A table cell: '|' escaped, line breaks as <br>. */
static void md_cell(const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", stdout);
		else if (*s == '\n')
			fputs("<br>", stdout);
		else if (*s == '\r' || *s == '\t')
			putchar(' ');
		else
			putchar(*s);
	}
}

/* Per-host records (a job's results, a mitigation's automatic reverts) can be merged. */
static bool per_host(const Quell__AuditRecord *r)
{
	return is_result(r) || strcmp(r->kind, "mitigation") == 0;
}

/*
 * "ok" for a result: its data's status, else the text up to ':';
 * "reverted (expired)" for a mitigation record: its state and cause.
 */
static void status_of(const Quell__AuditRecord *r, char *buf, size_t len)
{
	cJSON *d = cJSON_Parse(r->data);
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(d, is_result(r) ? "status" : "state");
	const cJSON *cause = cJSON_GetObjectItemCaseSensitive(d, "cause");
	if (cJSON_IsString(s) && !is_result(r) && cJSON_IsString(cause))
		snprintf(buf, len, "%s (%s)", s->valuestring, cause->valuestring);
	else if (cJSON_IsString(s))
		snprintf(buf, len, "%s", s->valuestring);
	else
		snprintf(buf, len, "%.*s", (int)strcspn(r->text, ":"), r->text);
	cJSON_Delete(d);
}

/* How many records from i on are per-host records of the same kind, job and status. */
static size_t same_results(const struct timeline *tl, size_t i, char *status, size_t len)
{
	const Quell__AuditRecord *a = tl->recs[i];
	status_of(a, status, len);
	if (!per_host(a) || a->job_id.len != QL_JOB_ID_LEN)
		return 1;
	size_t k = 1;
	for (; i + k < tl->n; k++) {
		const Quell__AuditRecord *b = tl->recs[i + k];
		char st[64];
		if (strcmp(a->kind, b->kind) != 0 || b->job_id.len != QL_JOB_ID_LEN ||
		    memcmp(a->job_id.data, b->job_id.data, QL_JOB_ID_LEN) != 0)
			break;
		status_of(b, st, sizeof st);
		if (strcmp(st, status) != 0)
			break;
	}
	return k;
}

/* "ok on 37 hosts: web-1, web-2, ... and 27 more", and what they all said if they agree. */
static void md_merged(const struct timeline *tl, size_t i, size_t k, const char *status)
{
	if (!is_result(tl->recs[i])) { /* a mitigation: its id (the job that created it) */
		char hex[2 * QL_JOB_ID_LEN + 1];
		ql_hex(tl->recs[i]->job_id.data, QL_JOB_ID_LEN, hex);
		printf("mitigation %.12s ", hex);
	}
	printf("%s on %zu hosts: ", status, k);
	for (size_t j = 0; j < k && j < MERGE_NAMES; j++) {
		fputs(j ? ", " : "", stdout);
		md_cell(tl->recs[i + j]->host[0] ? tl->recs[i + j]->host : tl->recs[i + j]->actor);
	}
	if (k > MERGE_NAMES)
		printf(" and %zu more", k - MERGE_NAMES);
	const char *text = tl->recs[i]->text;
	for (size_t j = 1; j < k && text; j++)
		if (strcmp(tl->recs[i + j]->text, text) != 0)
			text = NULL;
	size_t sl = strlen(status);
	if (text && strncmp(text, status, sl) == 0 && strncmp(text + sl, ": ", 2) == 0) {
		fputs(" (", stdout);
		md_cell(text + sl + 2);
		putchar(')');
	}
}

/* "45s", "6m 34s", "2h 5m", "1d 3h" */
static void fmt_span(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms > 0 ? ms / 1000 : 0;
	if (s < 60)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm %llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%lldh %lldm", (long long)(s / 3600),
		         (long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%lldd %lldh", (long long)(s / 86400),
		         (long long)(s % 86400 / 3600));
}

/* "16 records (4 submit, 12 result), 2026-11-25 14:03:07 to 14:09:41 UTC (6m 34s)." */
static void md_summary(const struct timeline *tl)
{
	printf("%zu record%s (", tl->n, tl->n == 1 ? "" : "s");
	for (size_t i = 0; i < tl->n; i++) {
		bool first = true;
		for (size_t j = 0; j < i && first; j++)
			first = strcmp(tl->recs[j]->kind, tl->recs[i]->kind) != 0;
		if (!first)
			continue;
		size_t k = 0;
		for (size_t j = i; j < tl->n; j++)
			k += strcmp(tl->recs[j]->kind, tl->recs[i]->kind) == 0;
		printf("%s%zu %s", i ? ", " : "", k, tl->recs[i]->kind);
	}
	int64_t from = tl->recs[0]->at_ms, to = tl->recs[tl->n - 1]->at_ms;
	char a[48], b[48], span[32];
	fmt_time(from, ' ', false, a, sizeof a);
	fmt_time(to, ' ', false, b, sizeof b);
	fmt_span(to - from, span, sizeof span);
	/* The same day: the date once. */
	const char *b_shown = strncmp(a, b, 11) == 0 && strlen(b) > 11 ? b + 11 : b;
	printf("), %s to %s UTC (%s).\n", a, b_shown, span);
}

static void print_markdown(const struct timeline *tl)
{
	printf("## Timeline: %s\n\n", tl->incident);
	if (tl->n == 0) {
		printf("No records for incident %s.\n", tl->incident);
		return;
	}
	md_summary(tl);
	printf("\n| Time (UTC) | Event | Who | Details |\n| --- | --- | --- | --- |\n");
	for (size_t i = 0; i < tl->n;) {
		const Quell__AuditRecord *r = tl->recs[i];
		char when[48], status[64];
		size_t k = same_results(tl, i, status, sizeof status);
		fmt_time(r->at_ms, ' ', false, when, sizeof when);
		printf("| %s | ", when);
		md_cell(r->kind);
		fputs(" | ", stdout);
		if (k > 1) {
			printf("%zu hosts | ", k);
			md_merged(tl, i, k, status);
		} else {
			md_cell(r->actor);
			fputs(" | ", stdout);
			md_cell(r->text);
		}
		printf(" |\n");
		i += k;
	}
}

/* ---- the verb ---------------------------------------------------------------------- */

static int timeline_exec(int argc, char **argv)
{
	bool json, markdown = false;
	const char *config;
	const struct qcli_opt own[] = {{"markdown", &markdown, NULL}, {NULL, NULL, NULL}};
	int rc = qcli_parse_read(argc, argv, TIMELINE_USAGE, own, &json, &config);
	if (rc >= 0)
		return rc;
	if (optind != argc - 1 || (json && markdown))
		return qcli_usage(TIMELINE_USAGE);
	struct timeline tl = {.incident = argv[optind]};
	if (!ql_ident_ok(tl.incident, QL_MAX_INCIDENT)) {
		fprintf(stderr,
		        "quell: an incident name is 1 to %d characters of A-Z a-z 0-9 _ . -\n",
		        QL_MAX_INCIDENT);
		return QCLI_EXIT_USAGE;
	}
	struct qcli_conn *c = qcli_connect(config, &rc);
	if (c == NULL)
		return rc;
	rc = fetch(c, &tl);
	qcli_close(c);
	if (rc == QCLI_EXIT_OK) {
		if (json)
			print_json(&tl);
		else if (markdown)
			print_markdown(&tl);
		else
			print_text(&tl);
	}
	for (size_t i = 0; i < tl.n_pages; i++)
		quell__control_reply__free_unpacked(tl.pages[i], NULL);
	free(tl.pages);
	free(tl.recs);
	return rc;
}

const struct qcli_verb qcli_verb_timeline = {
	.name = "timeline",
	.usage = TIMELINE_USAGE,
	.summary = "an incident's commands and results from the audit log, oldest first",
	.exec = timeline_exec,
};
