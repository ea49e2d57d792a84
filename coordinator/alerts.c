/*
 * alerts.c: Alertmanager's webhook payload (version "4"), parsed with cJSON
 * and checked before anything else sees it, and what the coordinator does
 * with a checked batch: one audit record per alert, then the automation
 * rules' hook.
 *
 * What is checked, and what is not. The fields quell uses are required to
 * be what Alertmanager sends: version "4", status firing|resolved, alerts an
 * array of at most QC_MAX_ALERTS objects, each with a status and a labels
 * object of at most QC_MAX_ALERT_LABELS string values (Prometheus label
 * names, values valid UTF-8 text), and optionally startsAt, fingerprint;
 * receiver and groupKey are optional text. Fields quell does not use
 * (annotations, endsAt, generatorURL, groupLabels, commonLabels,
 * commonAnnotations, externalURL, truncatedAlerts, anything newer) are
 * ignored without being checked: they never reach the audit log or a rule.
 *
 * Decisions:
 * - Duplicate keys are refused in every object quell reads (the payload,
 *   each alert, each labels object). cJSON keeps them all and finds the
 *   first; another reader of the same bytes may take the last, and an alert
 *   must not mean one thing to the audit log and another to whoever checks
 *   it.
 * - A NUL inside a string (raw, or written \u0000) is refused: cJSON would
 *   cut the C string there, and the text checks would see only a prefix.
 * - startsAt is RFC 3339 ("2026-11-25T14:03:07.123Z", any offset, any
 *   fraction): absent means 0; a time before 1970 (Go's zero time
 *   "0001-01-01T00:00:00Z" among them) is 0 as well, "unknown"; anything
 *   that is not an RFC 3339 time, or not a string, is refused.
 * - At most MAX_JSON_VALUES values in the whole body, counted before cJSON
 *   builds its tree: a body of max_body bytes of "[0,0,0,..." would
 *   otherwise cost ~30 times its size in tree nodes.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "audit.h"
#include "codec.h"
#include "log.h"

#define MAX_LABEL_NAME 128
#define MAX_LABEL_VALUE 1024
#define MAX_RECEIVER 256
#define MAX_GROUP_KEY 4096
#define MAX_FINGERPRINT 64
#define MAX_JSON_VALUES 131072
#define VALUE_SHOWN 64 /* longer label values are cut in the audit text (data has them whole) */

struct perr {
	char *why;
	size_t len;
};

static enum ql_err refuse(struct perr *e, enum ql_err err, const char *fmt, ...) QL_PRINTF(3, 4);

static enum ql_err refuse(struct perr *e, enum ql_err err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->why, e->len, fmt, ap);
	va_end(ap);
	return err;
}

/*
 * UNTRUSTED: the raw bytes, before cJSON. Refuses NUL characters in any
 * form and counts the JSON values (one, plus a comma or an opening bracket
 * outside strings for each further one, bound them from above).
 */
static enum ql_err prescan(const char *json, size_t len, struct perr *e)
{
	bool in_string = false;
	size_t values = 1;
	if (memchr(json, '\0', len) != NULL)
		return refuse(e, QL_ERR_MALFORMED, "the body holds a NUL byte");
	for (size_t i = 0; i < len; i++) {
		char c = json[i];
		if (in_string) {
			if (c == '"') {
				in_string = false;
			} else if (c == '\\' && i + 1 < len) {
				if (json[i + 1] == 'u' && i + 5 < len &&
				    memcmp(json + i + 2, "0000", 4) == 0)
					return refuse(e, QL_ERR_MALFORMED,
					              "a string holds a NUL character (\\u0000)");
				i++; /* the escaped character */
			}
			continue;
		}
		if (c == '"')
			in_string = true;
		else if (c == ',' || c == '[' || c == '{')
			values++;
		if (values > MAX_JSON_VALUES)
			return refuse(e, QL_ERR_TOO_BIG, "more than %d JSON values in the body",
			              MAX_JSON_VALUES);
	}
	return QL_OK;
}

/* Whether object o has any of the members names[] more than once. */
static const char *duplicate(const cJSON *o, const char *const *names, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		int seen = 0;
		for (const cJSON *m = o->child; m; m = m->next)
			if (m->string && strcmp(m->string, names[k]) == 0 && ++seen > 1)
				return names[k];
	}
	return NULL;
}

/* An optional string member: NULL if absent, refused if not a string or not
 * text of at most max bytes. */
static enum ql_err opt_text(const cJSON *o, const char *name, size_t max, const char *where,
                            const char **out, struct perr *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	*out = NULL;
	if (v == NULL)
		return QL_OK;
	if (!cJSON_IsString(v))
		return refuse(e, QL_ERR_MALFORMED, "%s%s is not a string", where, name);
	if (!ql_text_ok(v->valuestring, max))
		return refuse(e, QL_ERR_MALFORMED,
		              "%s%s is longer than %zu bytes or not valid UTF-8 text", where, name,
		              max);
	*out = v->valuestring;
	return QL_OK;
}

static enum ql_err status_of(const cJSON *o, const char *where, bool *firing, struct perr *e)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "status");
	if (v == NULL)
		return refuse(e, QL_ERR_MALFORMED, "%sstatus is missing", where);
	if (!cJSON_IsString(v) ||
	    (strcmp(v->valuestring, "firing") != 0 && strcmp(v->valuestring, "resolved") != 0))
		return refuse(e, QL_ERR_MALFORMED, "%sstatus must be \"firing\" or \"resolved\"",
		              where);
	*firing = strcmp(v->valuestring, "firing") == 0;
	return QL_OK;
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64_t)era * 146097 + doe - 719468;
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), T and Z in
 * either case. Unix seconds (the fraction dropped); false if malformed. */
static bool parse_rfc3339(const char *s, int64_t *out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	const char *p = s + 19;
	if (*p == '.') {
		const char *f = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == f)
			return false;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
			return false;
		p += 6;
	} else {
		return false;
	}
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap ? 1 : 0) || h > 23 || mi > 59 || sec > 60 ||
	    oh > 23 || om > 59)
		return false;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	       sign * (oh * 3600 + om * 60);
	return true;
}

/* [A-Za-z_][A-Za-z0-9_]*, 1..MAX_LABEL_NAME bytes: a Prometheus label name. */
static bool label_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAX_LABEL_NAME || (s[0] >= '0' && s[0] <= '9'))
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static enum ql_err parse_labels(const cJSON *labels, struct qc_alert *a, const char *where,
                                struct perr *e)
{
	if (!cJSON_IsObject(labels))
		return refuse(e, QL_ERR_MALFORMED, "%slabels is %s", where,
		              labels ? "not an object" : "missing");
	size_t n = 0;
	for (const cJSON *m = labels->child; m; m = m->next)
		if (++n > QC_MAX_ALERT_LABELS)
			return refuse(e, QL_ERR_TOO_BIG, "%slabels has more than %d labels", where,
			              QC_MAX_ALERT_LABELS);
	a->labels = calloc(n ? n : 1, sizeof *a->labels);
	if (a->labels == NULL)
		return refuse(e, QL_ERR_NOMEM, "out of memory");
	for (const cJSON *m = labels->child; m; m = m->next) {
		if (!label_name_ok(m->string))
			return refuse(e, QL_ERR_MALFORMED,
			              "%slabels: a label name must match [A-Za-z_][A-Za-z0-9_]* "
			              "and have at most %d bytes",
			              where, MAX_LABEL_NAME);
		for (size_t k = 0; k < a->n_labels; k++)
			if (strcmp(a->labels[k].name, m->string) == 0)
				return refuse(e, QL_ERR_MALFORMED, "%slabels.%s appears twice",
				              where, m->string);
		if (!cJSON_IsString(m))
			return refuse(e, QL_ERR_MALFORMED, "%slabels.%s is not a string", where,
			              m->string);
		if (!ql_text_ok(m->valuestring, MAX_LABEL_VALUE))
			return refuse(e, QL_ERR_MALFORMED,
			              "%slabels.%s is longer than %d bytes or not valid UTF-8 text",
			              where, m->string, MAX_LABEL_VALUE);
		struct qc_alert_label *l = &a->labels[a->n_labels];
		l->name = strdup(m->string);
		l->value = strdup(m->valuestring);
		a->n_labels++; /* before the check: qc_alerts_free frees a half-made one */
		if (l->name == NULL || l->value == NULL)
			return refuse(e, QL_ERR_NOMEM, "out of memory");
	}
	return QL_OK;
}

static enum ql_err parse_alert(const cJSON *o, size_t i, struct qc_alert *a, struct perr *e)
{
	static const char *const fields[] = {"status", "labels", "startsAt", "fingerprint"};
	char where[32];
	snprintf(where, sizeof where, "alerts[%zu].", i);
	if (!cJSON_IsObject(o))
		return refuse(e, QL_ERR_MALFORMED, "alerts[%zu] is not an object", i);
	const char *dup = duplicate(o, fields, sizeof fields / sizeof *fields);
	if (dup)
		return refuse(e, QL_ERR_MALFORMED, "%s%s appears twice", where, dup);
	enum ql_err err = status_of(o, where, &a->firing, e);
	if (err == QL_OK)
		err = parse_labels(cJSON_GetObjectItemCaseSensitive(o, "labels"), a, where, e);
	if (err != QL_OK)
		return err;

	const cJSON *starts = cJSON_GetObjectItemCaseSensitive(o, "startsAt");
	if (starts &&
	    (!cJSON_IsString(starts) || !parse_rfc3339(starts->valuestring, &a->starts_at)))
		return refuse(e, QL_ERR_MALFORMED, "%sstartsAt is not an RFC 3339 time", where);
	if (a->starts_at < 0)
		a->starts_at = 0;

	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(o, "fingerprint");
	if (fp && (!cJSON_IsString(fp) ||
	           (fp->valuestring[0] && !ql_ident_ok(fp->valuestring, MAX_FINGERPRINT))))
		return refuse(e, QL_ERR_MALFORMED,
		              "%sfingerprint must be a string of at most %d letters, digits, '_', "
		              "'.' or '-'",
		              where, MAX_FINGERPRINT);
	a->fingerprint = strdup(fp ? fp->valuestring : "");
	if (a->fingerprint == NULL)
		return refuse(e, QL_ERR_NOMEM, "out of memory");
	return QL_OK;
}

static enum ql_err parse_root(const cJSON *root, struct qc_alert_batch *b, struct perr *e)
{
	static const char *const fields[] = {"version", "status", "receiver", "groupKey", "alerts"};
	if (!cJSON_IsObject(root))
		return refuse(e, QL_ERR_MALFORMED, "the body is not a JSON object");
	const char *dup = duplicate(root, fields, sizeof fields / sizeof *fields);
	if (dup)
		return refuse(e, QL_ERR_MALFORMED, "%s appears twice", dup);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (v == NULL)
		return refuse(e, QL_ERR_MALFORMED, "version is missing (expected \"4\")");
	if (!cJSON_IsString(v) || strcmp(v->valuestring, "4") != 0)
		return refuse(e, QL_ERR_MALFORMED,
		              "unsupported version (expected the string \"4\", Alertmanager's "
		              "webhook format since 0.9)");
	bool firing;
	const char *receiver, *group_key;
	enum ql_err err = status_of(root, "", &firing, e);
	if (err == QL_OK)
		err = opt_text(root, "receiver", MAX_RECEIVER, "", &receiver, e);
	if (err == QL_OK)
		err = opt_text(root, "groupKey", MAX_GROUP_KEY, "", &group_key, e);
	if (err != QL_OK)
		return err;

	const cJSON *alerts = cJSON_GetObjectItemCaseSensitive(root, "alerts");
	if (!cJSON_IsArray(alerts))
		return refuse(e, QL_ERR_MALFORMED, "alerts is %s",
		              alerts ? "not an array" : "missing");
	size_t n = 0;
	for (const cJSON *a = alerts->child; a; a = a->next)
		if (++n > QC_MAX_ALERTS)
			return refuse(e, QL_ERR_TOO_BIG, "more than %d alerts in one payload",
			              QC_MAX_ALERTS);

	b->status = strdup(firing ? "firing" : "resolved");
	b->receiver = strdup(receiver ? receiver : "");
	b->group_key = strdup(group_key ? group_key : "");
	b->alerts = calloc(n ? n : 1, sizeof *b->alerts);
	if (!b->status || !b->receiver || !b->group_key || !b->alerts)
		return refuse(e, QL_ERR_NOMEM, "out of memory");
	for (const cJSON *a = alerts->child; a; a = a->next) {
		err = parse_alert(a, b->n_alerts, &b->alerts[b->n_alerts], e);
		b->n_alerts++; /* qc_alerts_free frees what a refused one holds */
		if (err != QL_OK)
			return err;
	}
	return QL_OK;
}

enum ql_err qc_alerts_parse(const char *json, size_t len, struct qc_alert_batch *out, char *why,
                            size_t whylen)
{
	struct perr e = {why, whylen};
	memset(out, 0, sizeof *out);
	if (whylen)
		why[0] = '\0';
	/* UNTRUSTED: an HTTP body, bounded by max_body; nothing has read it yet. */
	if (len == 0)
		return refuse(&e, QL_ERR_MALFORMED, "the body is empty");
	enum ql_err err = prescan(json, len, &e);
	if (err != QL_OK)
		return err;
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (root == NULL) {
		size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
		return refuse(&e, QL_ERR_MALFORMED, "not valid JSON (near byte %zu)", at);
	}
	while (end < json + len && strchr(" \t\r\n", *end))
		end++;
	if (end != json + len)
		err = refuse(&e, QL_ERR_MALFORMED, "more data after the JSON object (at byte %zu)",
		             (size_t)(end - json));
	else
		err = parse_root(root, out, &e);
	cJSON_Delete(root);
	if (err != QL_OK)
		qc_alerts_free(out);
	return err;
}

void qc_alerts_free(struct qc_alert_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n_alerts; i++) {
		struct qc_alert *a = &b->alerts[i];
		for (size_t k = 0; k < a->n_labels; k++) {
			free(a->labels[k].name);
			free(a->labels[k].value);
		}
		free(a->labels);
		free(a->fingerprint);
	}
	free(b->alerts);
	free(b->receiver);
	free(b->status);
	free(b->group_key);
	memset(b, 0, sizeof *b);
}

const char *qc_alert_label(const struct qc_alert *a, const char *name)
{
	for (size_t i = 0; i < a->n_labels; i++)
		if (strcmp(a->labels[i].name, name) == 0)
			return a->labels[i].value;
	return NULL;
}

/* ------------------------------------------------------------------ audit */

/*
 * The host an alert is about, for the audit record's host column: its
 * `instance` label (Prometheus' scrape target, "web-1:9100"), else its
 * `host` label, with a ":port" dropped, if what is left is a valid
 * hostname. "[::1]:9100" and "http://web-1/" are about no host.
 */
bool qc_alert_host(const struct qc_alert *a, char host[QL_MAX_HOSTNAME + 1])
{
	static const char *const names[] = {"instance", "host"};
	for (size_t i = 0; i < 2; i++) {
		const char *v = qc_alert_label(a, names[i]);
		if (v == NULL)
			continue;
		size_t n = strlen(v);
		const char *colon = strrchr(v, ':');
		if (colon && colon[1] && strlen(colon + 1) <= 5 &&
		    strspn(colon + 1, "0123456789") == strlen(colon + 1))
			n = (size_t)(colon - v);
		if (n == 0 || n > QL_MAX_HOSTNAME)
			continue;
		memcpy(host, v, n);
		host[n] = '\0';
		if (ql_hostname_ok(host))
			return true;
	}
	return false;
}

/* "firing HighErrorRate instance=web-1:9100 severity=page summary=\"...\"" */
static char *alert_text(const struct qc_alert *a)
{
	size_t cap = QC_AUDIT_MAX_TEXT + 1, len = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		return NULL;
	const char *name = qc_alert_label(a, "alertname");
	int n = snprintf(buf, cap, "%s %s", a->firing ? "firing" : "resolved",
	                 name ? name : "(no alertname)");
	len = n > 0 && (size_t)n < cap ? (size_t)n : cap - 1;
	for (size_t i = 0; i < a->n_labels && len < cap - 1; i++) {
		const struct qc_alert_label *l = &a->labels[i];
		if (strcmp(l->name, "alertname") == 0)
			continue;
		size_t vn = strlen(l->value);
		bool cut = vn > VALUE_SHOWN;
		if (cut) {
			vn = VALUE_SHOWN;
			while (vn > 0 && ((unsigned char)l->value[vn] & 0xc0) == 0x80)
				vn--;
		}
		bool quote = vn == 0 || strpbrk(l->value, " \t\n\"") != NULL;
		n = snprintf(buf + len, cap - len, " %s=%s%.*s%s%s", l->name, quote ? "\"" : "",
		             (int)vn, l->value, cut ? "..." : "", quote ? "\"" : "");
		len += n > 0 && (size_t)n < cap - len ? (size_t)n : cap - 1 - len;
	}
	return buf;
}

static char *alert_data(const struct qc_alert *a)
{
	char *out = NULL;
	cJSON *o = cJSON_CreateObject(), *labels = NULL;
	if (o == NULL || !cJSON_AddStringToObject(o, "status", a->firing ? "firing" : "resolved") ||
	    (labels = cJSON_AddObjectToObject(o, "labels")) == NULL)
		goto out;
	for (size_t i = 0; i < a->n_labels; i++)
		if (!cJSON_AddStringToObject(labels, a->labels[i].name, a->labels[i].value))
			goto out;
	if (a->starts_at > 0) {
		char iso[32];
		struct tm tm;
		time_t t = (time_t)a->starts_at;
		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 ||
		    !cJSON_AddStringToObject(o, "startsAt", iso))
			goto out;
	} else if (!cJSON_AddNullToObject(o, "startsAt")) {
		goto out;
	}
	if (!cJSON_AddStringToObject(o, "fingerprint", a->fingerprint))
		goto out;
	out = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return out;
}

void qc_alerts_received(struct qc *c, const struct qc_alert_batch *b)
{
	for (size_t i = 0; i < b->n_alerts; i++) {
		const struct qc_alert *a = &b->alerts[i];
		char host[QL_MAX_HOSTNAME + 1];
		char *text = alert_text(a), *data = alert_data(a);
		struct qc_audit_rec r = {
			.kind = "alert",
			.host = qc_alert_host(a, host) ? host : NULL,
			.actor = "alertmanager",
			.text = text,
			.data = data,
		};
		if (text == NULL || data == NULL || qc_audit_append(c->store, &r) != QL_OK)
			ql_warn("could not write the audit record of alert %zu of %zu (%s)", i + 1,
			        b->n_alerts, text ? text : "out of memory");
		free(text);
		cJSON_free(data);
	}
	if (c->on_alerts)
		c->on_alerts(c, b);
}
