/*
 * test_alerts.c: Alertmanager's webhook payload (coordinator/alerts.c). A
 * real version 4 payload, written after the shape in Alertmanager's docs,
 * with everything quell keeps; RFC 3339 times; then every refusal with its
 * sentence (and the batch left empty); and what an accepted batch leaves
 * in the audit log and hands to the rules' hook.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "audit.h"
#include "keys.h"
#include "store.h"
#include "tutil.h"

/* What Alertmanager 0.25 posts for a group of two alerts, one resolved. */
static const char REAL[] =
	"{\n"
	"  \"receiver\": \"quell\",\n"
	"  \"status\": \"firing\",\n"
	"  \"alerts\": [\n"
	"    {\n"
	"      \"status\": \"firing\",\n"
	"      \"labels\": {\"alertname\": \"HighErrorRate\", \"instance\": \"web-1:9100\",\n"
	"                 \"job\": \"node\", \"severity\": \"page\"},\n"
	"      \"annotations\": {\"summary\": \"5xx above 5% on web-1\",\n"
	"                      \"runbook_url\": \"https://runbooks.example/5xx\"},\n"
	"      \"startsAt\": \"2026-11-25T14:03:07.123456789Z\",\n"
	"      \"endsAt\": \"0001-01-01T00:00:00Z\",\n"
	"      \"generatorURL\": \"http://prometheus.example:9090/graph?g0.expr=rate%28x%29\",\n"
	"      \"fingerprint\": \"a1b2c3d4e5f60718\"\n"
	"    },\n"
	"    {\n"
	"      \"status\": \"resolved\",\n"
	"      \"labels\": {\"alertname\": \"HighErrorRate\", \"instance\": \"web-2:9100\",\n"
	"                 \"job\": \"node\", \"severity\": \"page\"},\n"
	"      \"annotations\": {\"summary\": \"5xx above 5% on web-2\"},\n"
	"      \"startsAt\": \"2026-11-25T13:58:00+02:00\",\n"
	"      \"endsAt\": \"2026-11-25T14:10:00Z\",\n"
	"      \"generatorURL\": \"http://prometheus.example:9090/graph\",\n"
	"      \"fingerprint\": \"0f1e2d3c4b5a6978\"\n"
	"    }\n"
	"  ],\n"
	"  \"groupLabels\": {\"alertname\": \"HighErrorRate\"},\n"
	"  \"commonLabels\": {\"alertname\": \"HighErrorRate\", \"job\": \"node\", \"severity\": "
	"\"page\"},\n"
	"  \"commonAnnotations\": {},\n"
	"  \"externalURL\": \"http://alertmanager.example:9093\",\n"
	"  \"version\": \"4\",\n"
	"  \"groupKey\": \"{}:{alertname=\\\"HighErrorRate\\\"}\",\n"
	"  \"truncatedAlerts\": 0\n"
	"}\n";

static enum ql_err parse(const char *json, struct qc_alert_batch *b, char *why, size_t len)
{
	return qc_alerts_parse(json, strlen(json), b, why, len);
}

static void test_real_payload(void **state)
{
	(void)state;
	struct qc_alert_batch b;
	char why[256] = "";
	assert_int_equal(parse(REAL, &b, why, sizeof why), QL_OK);
	assert_string_equal(why, "");
	assert_string_equal(b.receiver, "quell");
	assert_string_equal(b.status, "firing");
	assert_string_equal(b.group_key, "{}:{alertname=\"HighErrorRate\"}");
	assert_int_equal(b.n_alerts, 2);

	const struct qc_alert *a = &b.alerts[0];
	assert_true(a->firing);
	assert_int_equal(a->n_labels, 4);
	assert_string_equal(a->labels[0].name, "alertname");
	assert_string_equal(a->labels[0].value, "HighErrorRate");
	assert_string_equal(qc_alert_label(a, "instance"), "web-1:9100");
	assert_string_equal(qc_alert_label(a, "severity"), "page");
	assert_null(qc_alert_label(a, "summary")); /* annotations are not labels */
	assert_null(qc_alert_label(a, "Severity"));
	assert_int_equal(a->starts_at, 1795615387);
	assert_string_equal(a->fingerprint, "a1b2c3d4e5f60718");

	a = &b.alerts[1];
	assert_false(a->firing);
	assert_string_equal(qc_alert_label(a, "instance"), "web-2:9100");
	assert_int_equal(a->starts_at, 1795607880); /* +02:00 taken off */
	assert_string_equal(a->fingerprint, "0f1e2d3c4b5a6978");
	qc_alerts_free(&b);
	assert_null(b.alerts);
	assert_int_equal(b.n_alerts, 0);
	qc_alerts_free(&b); /* twice is harmless */
}

/* One alert with the given startsAt member ("" for none) and labels. */
static char *one_alert(const char *starts, const char *labels)
{
	char *json = malloc(8192);
	assert_non_null(json);
	snprintf(json, 8192,
	         "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
	         "\"labels\":%s%s}]}",
	         labels, starts);
	return json;
}

static void test_minimal_and_times(void **state)
{
	(void)state;
	static const struct {
		const char *starts;
		int64_t want;
	} cases[] = {
		{"", 0},
		{",\"startsAt\":\"1970-01-01T00:00:00Z\"", 0},
		{",\"startsAt\":\"0001-01-01T00:00:00Z\"", 0}, /* Go's zero time: unknown */
		{",\"startsAt\":\"1969-12-31T23:59:59Z\"", 0},
		{",\"startsAt\":\"2024-02-29T23:59:59Z\"", 1709251199},
		{",\"startsAt\":\"2024-02-29t23:59:59.5z\"", 1709251199},
		{",\"startsAt\":\"2000-03-01T00:00:00-00:30\"", 951870600},
		{",\"startsAt\":\"2026-11-25T14:03:07.1+00:00\"", 1795615387},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *json = one_alert(cases[i].starts, "{}");
		struct qc_alert_batch b;
		char why[256] = "";
		enum ql_err err = parse(json, &b, why, sizeof why);
		if (err != QL_OK)
			fail_msg("%s: %s", json, why);
		assert_int_equal(b.n_alerts, 1);
		assert_int_equal(b.alerts[0].starts_at, cases[i].want);
		assert_int_equal(b.alerts[0].n_labels, 0);
		assert_string_equal(b.alerts[0].fingerprint, "");
		assert_string_equal(b.receiver, ""); /* absent: "" */
		assert_string_equal(b.group_key, "");
		qc_alerts_free(&b);
		free(json);
	}
	/* No alerts at all: nothing to do, not an error. */
	struct qc_alert_batch b;
	char why[256];
	assert_int_equal(parse("{\"version\":\"4\",\"status\":\"resolved\",\"alerts\":[]}", &b, why,
	                       sizeof why),
	                 QL_OK);
	assert_int_equal(b.n_alerts, 0);
	assert_string_equal(b.status, "resolved");
	qc_alerts_free(&b);
}

/* The payload is refused with err and a sentence containing want; the
 * batch is left empty. */
static void refused_len(const char *json, size_t len, enum ql_err err, const char *want)
{
	struct qc_alert_batch b;
	memset(&b, 0x5a, sizeof b);
	char why[256] = "";
	enum ql_err got = qc_alerts_parse(json, len, &b, why, sizeof why);
	if (got != err || strstr(why, want) == NULL)
		fail_msg("%.200s\n  -> %s \"%s\", expected %s \"%s\"", json, ql_err_code(got), why,
		         ql_err_code(err), want);
	assert_null(b.alerts);
	assert_int_equal(b.n_alerts, 0);
	assert_null(b.receiver);
	assert_null(b.status);
	assert_null(b.group_key);
}

static void refused(const char *json, enum ql_err err, const char *want)
{
	refused_len(json, strlen(json), err, want);
}

#define V4 "\"version\":\"4\",\"status\":\"firing\","

static void test_refusals_top(void **state)
{
	(void)state;
	refused("", QL_ERR_MALFORMED, "the body is empty");
	refused("{bad", QL_ERR_MALFORMED, "not valid JSON (near byte");
	refused("{" V4 "\"alerts\":[]} {}", QL_ERR_MALFORMED, "more data after the JSON object");
	refused("[]", QL_ERR_MALFORMED, "the body is not a JSON object");
	refused("\"4\"", QL_ERR_MALFORMED, "the body is not a JSON object");
	refused("{\"status\":\"firing\",\"alerts\":[]}", QL_ERR_MALFORMED, "version is missing");
	refused("{\"version\":\"3\",\"status\":\"firing\",\"alerts\":[]}", QL_ERR_MALFORMED,
	        "unsupported version (expected the string \"4\"");
	refused("{\"version\":4,\"status\":\"firing\",\"alerts\":[]}", QL_ERR_MALFORMED,
	        "unsupported version");
	refused("{\"version\":\"4\",\"alerts\":[]}", QL_ERR_MALFORMED, "status is missing");
	refused("{\"version\":\"4\",\"status\":\"pending\",\"alerts\":[]}", QL_ERR_MALFORMED,
	        "status must be \"firing\" or \"resolved\"");
	refused("{\"version\":\"4\",\"status\":1,\"alerts\":[]}", QL_ERR_MALFORMED,
	        "status must be \"firing\" or \"resolved\"");
	refused("{" V4 "\"receiver\":7,\"alerts\":[]}", QL_ERR_MALFORMED,
	        "receiver is not a string");
	refused("{" V4 "\"groupKey\":\"a\\u0007b\",\"alerts\":[]}", QL_ERR_MALFORMED,
	        "groupKey is longer than 4096 bytes or not valid UTF-8 text");
	refused("{" V4 "\"receiver\":\"q\"}", QL_ERR_MALFORMED, "alerts is missing");
	refused("{" V4 "\"alerts\":{}}", QL_ERR_MALFORMED, "alerts is not an array");
	/* Duplicate keys: another reader may take the last one. */
	refused("{" V4 "\"version\":\"4\",\"alerts\":[]}", QL_ERR_MALFORMED,
	        "version appears twice");
	refused("{" V4 "\"alerts\":[],\"alerts\":[{}]}", QL_ERR_MALFORMED, "alerts appears twice");
	/* NULs: cJSON would cut the string there. */
	refused("{" V4 "\"receiver\":\"q\\u0000x\",\"alerts\":[]}", QL_ERR_MALFORMED,
	        "a string holds a NUL character");
	static const char RAW_NUL[] = "{" V4 "\"receiver\":\"q\0x\",\"alerts\":[]}";
	refused_len(RAW_NUL, sizeof RAW_NUL - 1, QL_ERR_MALFORMED, "the body holds a NUL byte");
	/* An escaped backslash before u0000 is not an escape of a NUL. */
	struct qc_alert_batch b;
	char why[256];
	assert_int_equal(
		parse("{" V4 "\"receiver\":\"q\\\\u0000\",\"alerts\":[]}", &b, why, sizeof why),
		QL_OK);
	assert_string_equal(b.receiver, "q\\u0000");
	qc_alerts_free(&b);
}

static void test_refusals_alerts(void **state)
{
	(void)state;
	refused("{" V4 "\"alerts\":[1]}", QL_ERR_MALFORMED, "alerts[0] is not an object");
	refused("{" V4 "\"alerts\":[{\"labels\":{}}]}", QL_ERR_MALFORMED,
	        "alerts[0].status is missing");
	refused("{" V4 "\"alerts\":[{\"status\":\"firing\",\"labels\":{}},{\"status\":\"ok\","
	        "\"labels\":{}}]}",
	        QL_ERR_MALFORMED, "alerts[1].status must be \"firing\" or \"resolved\"");
	refused("{" V4 "\"alerts\":[{\"status\":\"firing\"}]}", QL_ERR_MALFORMED,
	        "alerts[0].labels is missing");
	refused("{" V4 "\"alerts\":[{\"status\":\"firing\",\"labels\":[]}]}", QL_ERR_MALFORMED,
	        "alerts[0].labels is not an object");
	refused("{" V4
	        "\"alerts\":[{\"status\":\"firing\",\"status\":\"resolved\",\"labels\":{}}]}",
	        QL_ERR_MALFORMED, "alerts[0].status appears twice");

	static const struct {
		const char *labels;
		enum ql_err err;
		const char *why;
	} labels[] = {
		{"{\"a\":1}", QL_ERR_MALFORMED, "alerts[0].labels.a is not a string"},
		{"{\"a\":null}", QL_ERR_MALFORMED, "alerts[0].labels.a is not a string"},
		{"{\"a\":{\"b\":\"c\"}}", QL_ERR_MALFORMED, "alerts[0].labels.a is not a string"},
		{"{\"1a\":\"x\"}", QL_ERR_MALFORMED,
	         "a label name must match [A-Za-z_][A-Za-z0-9_]*"},
		{"{\"a-b\":\"x\"}", QL_ERR_MALFORMED, "a label name must match"},
		{"{\"\":\"x\"}", QL_ERR_MALFORMED, "a label name must match"},
		{"{\"h\\u00e9\":\"x\"}", QL_ERR_MALFORMED, "a label name must match"},
		{"{\"a\":\"x\",\"a\":\"y\"}", QL_ERR_MALFORMED, "alerts[0].labels.a appears twice"},
		{"{\"a\":\"bad\\u001bcolour\"}", QL_ERR_MALFORMED,
	         "alerts[0].labels.a is longer than 1024 bytes or not valid UTF-8 text"},
		{"{\"a\":\"\xc3\x28\"}", QL_ERR_MALFORMED, "not valid UTF-8 text"},
		{"{\"a\":\"\xed\xa0\x80\"}", QL_ERR_MALFORMED,
	         "not valid UTF-8 text"},                                           /* surrogate */
		{"{\"a\":\"\xc0\xaf\"}", QL_ERR_MALFORMED, "not valid UTF-8 text"}, /* overlong */
	};
	for (size_t i = 0; i < sizeof labels / sizeof *labels; i++) {
		char *json = one_alert("", labels[i].labels);
		refused(json, labels[i].err, labels[i].why);
		free(json);
	}
	static const char *const times[] = {
		",\"startsAt\":\"yesterday\"",
		",\"startsAt\":1795615387",
		",\"startsAt\":\"2026-13-01T00:00:00Z\"",
		",\"startsAt\":\"2026-02-29T00:00:00Z\"",
		",\"startsAt\":\"2026-11-25T24:00:00Z\"",
		",\"startsAt\":\"2026-11-25T14:03:07\"",
		",\"startsAt\":\"2026-11-25T14:03:07.Z\"",
		",\"startsAt\":\"2026-11-25 14:03:07Z\"",
		",\"startsAt\":\"2026-11-25T14:03:07Z \"",
		",\"startsAt\":\"2026-11-25T14:03:07+0200\"",
		",\"startsAt\":\"+2026-11-25T14:03:07Z\"",
	};
	for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
		char *json = one_alert(times[i], "{}");
		refused(json, QL_ERR_MALFORMED, "alerts[0].startsAt is not an RFC 3339 time");
		free(json);
	}
	char *json = one_alert(",\"fingerprint\":12", "{}");
	refused(json, QL_ERR_MALFORMED, "alerts[0].fingerprint must be a string");
	free(json);
	json = one_alert(",\"fingerprint\":\"a b\"", "{}");
	refused(json, QL_ERR_MALFORMED, "alerts[0].fingerprint must be a string");
	free(json);
}

/* A growing JSON text. */
struct text {
	char *s;
	size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) QL_PRINTF(2, 3);

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	if (t->len + (size_t)n + 1 > t->cap) {
		t->cap = 2 * (t->len + (size_t)n + 1);
		t->s = realloc(t->s, t->cap);
		assert_non_null(t->s);
	}
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

static void test_limits(void **state)
{
	(void)state;
	struct qc_alert_batch b;
	char why[256];

	/* 256 alerts pass, 257 do not. */
	for (int n = 256; n <= 257; n++) {
		struct text t = {0};
		put(&t, "{" V4 "\"alerts\":[");
		for (int i = 0; i < n; i++)
			put(&t, "%s{\"status\":\"firing\",\"labels\":{\"alertname\":\"A%d\"}}",
			    i ? "," : "", i);
		put(&t, "]}");
		if (n == 256) {
			assert_int_equal(parse(t.s, &b, why, sizeof why), QL_OK);
			assert_int_equal(b.n_alerts, 256);
			assert_string_equal(qc_alert_label(&b.alerts[255], "alertname"), "A255");
			qc_alerts_free(&b);
		} else {
			refused(t.s, QL_ERR_TOO_BIG, "more than 256 alerts in one payload");
		}
		free(t.s);
	}

	/* 64 labels pass, 65 do not. */
	for (int n = 64; n <= 65; n++) {
		struct text t = {0};
		put(&t, "{");
		for (int i = 0; i < n; i++)
			put(&t, "%s\"l%d\":\"v\"", i ? "," : "", i);
		put(&t, "}");
		char *json = one_alert("", t.s);
		if (n == 64) {
			assert_int_equal(parse(json, &b, why, sizeof why), QL_OK);
			assert_int_equal(b.alerts[0].n_labels, 64);
			qc_alerts_free(&b);
		} else {
			refused(json, QL_ERR_TOO_BIG, "alerts[0].labels has more than 64 labels");
		}
		free(json);
		free(t.s);
	}

	/* Names up to 128 bytes, values up to 1024. */
	char name[130], value[1026], labels[1300];
	memset(name, 'n', sizeof name);
	memset(value, 'v', sizeof value);
	name[128] = value[1024] = '\0';
	snprintf(labels, sizeof labels, "{\"%s\":\"%s\"}", name, value);
	char *json = one_alert("", labels);
	assert_int_equal(parse(json, &b, why, sizeof why), QL_OK);
	qc_alerts_free(&b);
	free(json);
	name[128] = 'n';
	name[129] = '\0';
	snprintf(labels, sizeof labels, "{\"%s\":\"v\"}", name);
	json = one_alert("", labels);
	refused(json, QL_ERR_MALFORMED, "at most 128 bytes");
	free(json);
	value[1024] = 'v';
	value[1025] = '\0';
	snprintf(labels, sizeof labels, "{\"n\":\"%s\"}", value);
	json = one_alert("", labels);
	refused(json, QL_ERR_MALFORMED, "alerts[0].labels.n is longer than 1024 bytes");
	free(json);

	/* Deep nesting in a field quell ignores: cJSON's own limit. */
	struct text t = {0};
	put(&t, "{" V4 "\"alerts\":[],\"x\":");
	for (int i = 0; i < 2000; i++)
		put(&t, "[");
	for (int i = 0; i < 2000; i++)
		put(&t, "]");
	put(&t, "}");
	refused(t.s, QL_ERR_MALFORMED, "not valid JSON");
	free(t.s);

	/* Many small values in an ignored field: counted before cJSON builds them. */
	t = (struct text){0};
	put(&t, "{" V4 "\"alerts\":[],\"x\":[0");
	for (int i = 0; i < 140000; i++)
		put(&t, ",0");
	put(&t, "]}");
	refused(t.s, QL_ERR_TOO_BIG, "more than 131072 JSON values in the body");
	free(t.s);

	/* Huge numbers and strange types in ignored fields are ignored. */
	assert_int_equal(parse("{" V4 "\"alerts\":[],\"truncatedAlerts\":1e999999,"
	                       "\"groupLabels\":[null,true],\"externalURL\":-0.0}",
	                       &b, why, sizeof why),
	                 QL_OK);
	qc_alerts_free(&b);
}

/* ------------------------------------------------------ qc_alerts_received */

struct hook_seen {
	int calls;
	size_t n_alerts;
};
static struct hook_seen seen;

static void hook(struct qc *c, const struct qc_alert_batch *b)
{
	(void)c;
	seen.calls++;
	seen.n_alerts = b->n_alerts;
}

struct row {
	char kind[16], host[64], actor[32], text[512], data[1024];
	int has_host, has_incident;
};

static int rows(struct qc_store *st, struct row *out, int max)
{
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(qc_store_db(st),
	                                    "SELECT kind, host, actor, text, data, incident FROM "
	                                    "audit_log ORDER BY seq",
	                                    -1, &q, NULL),
	                 SQLITE_OK);
	int n = 0;
	while (sqlite3_step(q) == SQLITE_ROW && n < max) {
		struct row *r = &out[n++];
		memset(r, 0, sizeof *r);
		snprintf(r->kind, sizeof r->kind, "%s", (const char *)sqlite3_column_text(q, 0));
		r->has_host = sqlite3_column_type(q, 1) != SQLITE_NULL;
		if (r->has_host)
			snprintf(r->host, sizeof r->host, "%s",
			         (const char *)sqlite3_column_text(q, 1));
		snprintf(r->actor, sizeof r->actor, "%s", (const char *)sqlite3_column_text(q, 2));
		snprintf(r->text, sizeof r->text, "%s", (const char *)sqlite3_column_text(q, 3));
		snprintf(r->data, sizeof r->data, "%s", (const char *)sqlite3_column_text(q, 4));
		r->has_incident = sqlite3_column_type(q, 5) != SQLITE_NULL;
	}
	sqlite3_finalize(q);
	return n;
}

static void test_received(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct qc c;
	memset(&c, 0, sizeof c);
	assert_int_equal(qc_store_open(dir, &c.store), QL_OK);

	/* Without a hook: only recorded. */
	struct qc_alert_batch b;
	char why[256];
	assert_int_equal(parse(REAL, &b, why, sizeof why), QL_OK);
	qc_alerts_received(&c, &b);
	qc_alerts_free(&b);

	static const char HOSTS[] =
		"{" V4 "\"alerts\":["
		"{\"status\":\"firing\",\"labels\":{\"alertname\":\"Disk\",\"instance\":\"[::1]:9100\","
		"\"host\":\"db-2\"}},"
		"{\"status\":\"firing\",\"labels\":{\"instance\":\"http://web-3/\",\"summary\":\"a "
		"\\\"quoted\\\" one\",\"empty\":\"\"}},"
		"{\"status\":\"resolved\",\"labels\":{\"alertname\":\"Long\",\"instance\":\"cache-1\","
		"\"v\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}}"
		"]}";
	c.on_alerts = hook;
	assert_int_equal(parse(HOSTS, &b, why, sizeof why), QL_OK);
	qc_alerts_received(&c, &b);
	qc_alerts_free(&b);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.n_alerts, 3);

	struct row r[8];
	assert_int_equal(rows(c.store, r, 8), 5);
	for (int i = 0; i < 5; i++) {
		assert_string_equal(r[i].kind, "alert");
		assert_string_equal(r[i].actor, "alertmanager");
		assert_false(r[i].has_incident);
	}
	assert_string_equal(r[0].host, "web-1"); /* the port is not part of the host */
	assert_string_equal(r[0].text, "firing HighErrorRate instance=web-1:9100 job=node "
	                               "severity=page");
	cJSON *d = cJSON_Parse(r[0].data);
	assert_non_null(d);
	assert_string_equal(cJSON_GetObjectItem(d, "status")->valuestring, "firing");
	assert_string_equal(cJSON_GetObjectItem(d, "startsAt")->valuestring,
	                    "2026-11-25T14:03:07Z");
	assert_string_equal(cJSON_GetObjectItem(d, "fingerprint")->valuestring, "a1b2c3d4e5f60718");
	cJSON *labels = cJSON_GetObjectItem(d, "labels");
	assert_int_equal(cJSON_GetArraySize(labels), 4);
	assert_string_equal(cJSON_GetObjectItem(labels, "instance")->valuestring, "web-1:9100");
	cJSON_Delete(d);
	assert_string_equal(r[1].host, "web-2");
	assert_string_equal(r[1].text, "resolved HighErrorRate instance=web-2:9100 job=node "
	                               "severity=page");

	assert_string_equal(r[2].host, "db-2"); /* instance is no hostname; host is */
	assert_string_equal(r[2].text, "firing Disk instance=[::1]:9100 host=db-2");
	assert_false(r[3].has_host);
	assert_string_equal(r[3].text, "firing (no alertname) instance=http://web-3/ "
	                               "summary=\"a \"quoted\" one\" empty=\"\"");
	d = cJSON_Parse(r[3].data);
	assert_non_null(d);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "startsAt")));
	assert_string_equal(cJSON_GetObjectItem(d, "fingerprint")->valuestring, "");
	cJSON_Delete(d);
	assert_string_equal(r[4].host, "cache-1");
	assert_string_equal(r[4].text, "resolved Long instance=cache-1 "
	                               "v=0123456789012345678901234567890123456789012345678901"
	                               "234567890123...");
	assert_non_null(strstr(r[4].data, "\"v\":\"012345678901234567890123456789012345678901234"
	                                  "5678901234567890123456789\"")); /* whole in data */

	struct qc_audit_report rep;
	assert_int_equal(qc_audit_verify(c.store, &rep), QL_OK);
	assert_true(rep.intact);
	assert_int_equal(rep.records, 5);
	qc_store_close(c.store);
	tu_rmtree(dir);
}

int main(void)
{
	assert_int_equal(ql_crypto_init(), QL_OK);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_payload), cmocka_unit_test(test_minimal_and_times),
		cmocka_unit_test(test_refusals_top), cmocka_unit_test(test_refusals_alerts),
		cmocka_unit_test(test_limits),       cmocka_unit_test(test_received),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
