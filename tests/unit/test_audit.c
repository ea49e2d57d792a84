/*
 * test_audit.c: the coordinator's hash-chained audit log (coordinator/audit.c)
 * from the side of someone with write access to coordinator.db. Every edit
 * the chain is meant to catch (a changed column, a removed record, a record
 * rewritten with a recomputed hash) must be named by qc_audit_verify; the
 * documented hash encoding is implemented again here, independently, so the
 * comment in audit.c stays true. Also: the timeline's incident filter and
 * paging, the limits on what a record carries, and the submit and result
 * records the coordinator writes itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <cjson/cJSON.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "keys.h"
#include "log.h"
#include "quell.pb-c.h"
#include "store.h"
#include "tutil.h"

#define N_RECORDS 12

struct fixture {
	char *dir;
	struct qc_store *st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(ql_crypto_init(), QL_OK);
	f->dir = tu_mkdtemp();
	assert_int_equal(qc_store_open(f->dir, &f->st), QL_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	qc_store_close(f->st);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static void sql(struct qc_store *st, const char *fmt, ...) QL_PRINTF(2, 3);

static void sql(struct qc_store *st, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	char *msg = NULL;
	int rc = sqlite3_exec(qc_store_db(st), buf, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", buf, msg ? msg : "?");
}

/* Record i: incidents alternate between db-outage, none and cache-storm; some
 * have a job and a host, some not. */
static void append_one(struct qc_store *st, int i)
{
	static const char *const incidents[] = {"db-outage", NULL, "cache-storm"};
	uint8_t job[QL_JOB_ID_LEN];
	memset(job, i, sizeof job);
	char host[32], text[64], data[64];
	snprintf(host, sizeof host, "web-%d", i);
	snprintf(text, sizeof text, "record number %d", i);
	snprintf(data, sizeof data, "{\"i\":%d}", i);
	struct qc_audit_rec r = {
		.kind = i % 2 ? "result" : "submit",
		.incident = incidents[i % 3],
		.job_id = i % 4 == 3 ? NULL : job,
		.host = i % 2 ? host : NULL,
		.actor = i % 2 ? host : "alice",
		.text = text,
		.data = i % 5 == 4 ? NULL : data,
	};
	assert_int_equal(qc_audit_append(st, &r), QL_OK);
}

static void append_n(struct qc_store *st, int n)
{
	for (int i = 1; i <= n; i++)
		append_one(st, i);
}

static struct qc_audit_report verify(struct qc_store *st)
{
	struct qc_audit_report rep;
	assert_int_equal(qc_audit_verify(st, &rep), QL_OK);
	return rep;
}

static void expect_broken(struct qc_store *st, uint64_t first_bad, const char *needle)
{
	struct qc_audit_report rep = verify(st);
	assert_false(rep.intact);
	if (rep.first_bad != first_bad)
		fail_msg("first_bad %llu, expected %llu (%s)", (unsigned long long)rep.first_bad,
		         (unsigned long long)first_bad, rep.problem);
	if (strstr(rep.problem, needle) == NULL)
		fail_msg("problem '%s' does not say '%s'", rep.problem, needle);
}

/* ---- the documented encoding, implemented again ------------------------------------- */

static void be(crypto_generichash_state *s, uint64_t v, int bytes)
{
	uint8_t b[8];
	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	crypto_generichash_update(s, b, (size_t)bytes);
}

/* The hash record seq should have, from its columns as stored and prev. */
static void doc_hash(struct qc_store *st, uint64_t seq, const uint8_t prev[QL_HASH_LEN],
                     uint8_t out[QL_HASH_LEN])
{
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(qc_store_db(st),
	                                    "SELECT at_ms, kind, incident, job_id, host, actor,"
	                                    " text, data FROM audit_log WHERE seq = ?",
	                                    -1, &q, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	crypto_generichash_state s;
	crypto_generichash_init(&s, NULL, 0, 32);
	crypto_generichash_update(&s, prev, 32);
	be(&s, seq, 8);
	be(&s, (uint64_t)sqlite3_column_int64(q, 0), 8);
	for (int col = 1; col <= 7; col++) {
		if (sqlite3_column_type(q, col) == SQLITE_NULL) {
			be(&s, 0xffffffffu, 4);
			continue;
		}
		const void *p = col == 3 ? sqlite3_column_blob(q, col)
		                         : (const void *)sqlite3_column_text(q, col);
		size_t n = (size_t)sqlite3_column_bytes(q, col);
		be(&s, n, 4);
		crypto_generichash_update(&s, p, n);
	}
	crypto_generichash_final(&s, out, 32);
	sqlite3_finalize(q);
}

static void stored_hash(struct qc_store *st, const char *col, uint64_t seq, uint8_t out[32])
{
	sqlite3_stmt *q;
	char buf[128];
	snprintf(buf, sizeof buf, "SELECT %s FROM audit_log WHERE seq = ?", col);
	assert_int_equal(sqlite3_prepare_v2(qc_store_db(st), buf, -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(q, 0), 32);
	memcpy(out, sqlite3_column_blob(q, 0), 32);
	sqlite3_finalize(q);
}

static void set_hash(struct qc_store *st, uint64_t seq, const uint8_t h[32])
{
	char hex[65];
	ql_hex(h, 32, hex);
	sql(st, "UPDATE audit_log SET hash = x'%s' WHERE seq = %llu", hex, (unsigned long long)seq);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_intact_and_documented(void **state)
{
	struct fixture *f = *state;
	struct qc_audit_report rep = verify(f->st);
	assert_true(rep.intact);
	assert_int_equal(rep.records, 0);
	append_n(f->st, N_RECORDS);
	rep = verify(f->st);
	assert_true(rep.intact);
	assert_int_equal(rep.records, N_RECORDS);

	/* Every stored hash is what the comment in audit.c says it is. */
	uint8_t prev[32] = {0}, want[32], got[32];
	for (uint64_t seq = 1; seq <= N_RECORDS; seq++) {
		stored_hash(f->st, "prev_hash", seq, got);
		assert_memory_equal(got, prev, 32);
		doc_hash(f->st, seq, prev, want);
		stored_hash(f->st, "hash", seq, got);
		assert_memory_equal(got, want, 32);
		memcpy(prev, got, 32);
	}
	assert_memory_equal(rep.head, prev, 32);

	/* The head survives a restart: the chain goes on where it ended. */
	qc_store_close(f->st);
	assert_int_equal(qc_store_open(f->dir, &f->st), QL_OK);
	append_one(f->st, N_RECORDS + 1);
	rep = verify(f->st);
	assert_true(rep.intact);
	assert_int_equal(rep.records, N_RECORDS + 1);
	stored_hash(f->st, "prev_hash", N_RECORDS + 1, got);
	assert_memory_equal(got, prev, 32);
}

/* Each column, changed in one record, is named. */
static void test_edited_column(void **state)
{
	struct fixture *f = *state;
	static const char *const edits[] = {
		"text = 'all fine, nothing happened'",
		"at_ms = at_ms + 1",
		"kind = 'submits'",
		"actor = 'mallory'",
		"data = '{}'",
		"host = NULL",        /* record 5 is a result: it has a host */
		"job_id = x'00'",     /* a different job */
		"incident = 'other'", /* moved to another incident */
		"seq = 100",          /* moved: a gap, and record 100 is "new" */
	};
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		append_n(f->st, 8);
		assert_true(verify(f->st).intact);
		sql(f->st, "UPDATE audit_log SET %s WHERE seq = 5", edits[i]);
		if (strncmp(edits[i], "seq", 3) == 0)
			expect_broken(f->st, 6, "record 5 was removed");
		else
			expect_broken(f->st, 5, "record 5 (");
		struct qc_audit_report rep = verify(f->st);
		assert_int_equal(rep.records, 8);
		if (strncmp(edits[i], "seq", 3) != 0)
			assert_non_null(strstr(rep.problem, "changed after it was written"));
		sql(f->st, "DELETE FROM audit_log");
		qc_store_close(f->st); /* the log starts again */
		assert_int_equal(qc_store_open(f->dir, &f->st), QL_OK);
	}
}

/* NULL and "" are different values: moving a record out of "no incident" is seen. */
static void test_null_is_not_empty(void **state)
{
	struct fixture *f = *state;
	append_n(f->st, 6); /* record 4 has no incident, record 3 no job */
	sql(f->st, "UPDATE audit_log SET incident = '' WHERE seq = 4");
	expect_broken(f->st, 4, "changed after it was written");
	sql(f->st, "UPDATE audit_log SET incident = NULL WHERE seq = 4");
	assert_true(verify(f->st).intact); /* put back: intact again */
	sql(f->st, "UPDATE audit_log SET job_id = x'' WHERE seq = 3");
	expect_broken(f->st, 3, "record 3 (");
}

static void test_removed(void **state)
{
	struct fixture *f = *state;
	append_n(f->st, N_RECORDS);
	sql(f->st, "DELETE FROM audit_log WHERE seq = 7");
	expect_broken(f->st, 8, "follows record 6: record 7 was removed");
	sql(f->st, "DELETE FROM audit_log WHERE seq = 8");
	expect_broken(f->st, 9, "records 7 to 8 were removed");
	sql(f->st, "DELETE FROM audit_log WHERE seq = 1");
	expect_broken(f->st, 2, "is the first in the log: record 1 was removed");
}

/* A record changed and given a matching hash: the next record's prev_hash
 * still names the original. */
static void test_rehashed(void **state)
{
	struct fixture *f = *state;
	append_n(f->st, N_RECORDS);
	uint8_t prev[32], h[32];
	sql(f->st, "UPDATE audit_log SET text = 'maintenance off' WHERE seq = 5");
	stored_hash(f->st, "prev_hash", 5, prev);
	doc_hash(f->st, 5, prev, h);
	set_hash(f->st, 5, h);
	expect_broken(f->st, 6, "does not chain to record 5");

	/* ...and rewriting every later record too leaves only the head to tell. */
	for (uint64_t seq = 6; seq <= N_RECORDS; seq++) {
		char hex[65];
		ql_hex(h, 32, hex);
		sql(f->st, "UPDATE audit_log SET prev_hash = x'%s' WHERE seq = %llu", hex,
		    (unsigned long long)seq);
		memcpy(prev, h, 32);
		doc_hash(f->st, seq, prev, h);
		set_hash(f->st, seq, h);
	}
	/* This coordinator still has the real head in memory... */
	expect_broken(f->st, N_RECORDS, "not the record this coordinator wrote last");
	/* ...a restarted one cannot know: the documented limit. */
	qc_store_close(f->st);
	assert_int_equal(qc_store_open(f->dir, &f->st), QL_OK);
	assert_true(verify(f->st).intact);
}

/* The newest records removed: seen while the coordinator that wrote them runs. */
static void test_tail_removed(void **state)
{
	struct fixture *f = *state;
	append_n(f->st, N_RECORDS);
	uint8_t head11[32];
	stored_hash(f->st, "hash", N_RECORDS - 1, head11);
	sql(f->st, "DELETE FROM audit_log WHERE seq >= %d", N_RECORDS - 1);
	expect_broken(f->st, N_RECORDS - 1, "the newest records were removed");
	qc_store_close(f->st);
	assert_int_equal(qc_store_open(f->dir, &f->st), QL_OK);
	struct qc_audit_report rep = verify(f->st);
	assert_true(rep.intact); /* the chain alone cannot tell */
	assert_int_equal(rep.records, N_RECORDS - 2);
	/* ...but the head an operator kept does not match any more. */
	assert_memory_not_equal(rep.head, head11, 32);
}

struct seen {
	uint64_t seqs[64];
	size_t n;
	const char *incident;
};

static void collect(void *arg, const struct qc_audit_row *r)
{
	struct seen *s = arg;
	assert_true(s->n < 64);
	assert_string_equal(r->incident, s->incident);
	if (s->n)
		assert_true(r->seq > s->seqs[s->n - 1]);
	/* What append_one wrote for this seq. */
	char text[64];
	snprintf(text, sizeof text, "record number %llu", (unsigned long long)r->seq);
	assert_string_equal(r->text, text);
	assert_true(r->has_job_id == (r->seq % 4 != 3));
	if (r->seq % 2)
		assert_non_null(r->host);
	else
		assert_null(r->host);
	char data[64];
	snprintf(data, sizeof data, "{\"i\":%llu}", (unsigned long long)r->seq);
	assert_string_equal(r->data, r->seq % 5 == 4 ? "{}" : data);
	s->seqs[s->n++] = r->seq;
}

static void test_timeline(void **state)
{
	struct fixture *f = *state;
	append_n(f->st, 30); /* db-outage: 3, 6, ..., 30 */
	struct seen s = {.incident = "db-outage"};
	uint64_t after = 0;
	bool more = true;
	int pages = 0;
	while (more) {
		size_t before = s.n;
		assert_int_equal(
			qc_audit_timeline(f->st, "db-outage", after, 4, collect, &s, &more), QL_OK);
		assert_true(s.n - before <= 4);
		if (s.n > before)
			after = s.seqs[s.n - 1];
		pages++;
	}
	assert_int_equal(s.n, 10);
	assert_int_equal(pages, 3); /* 4 + 4 + 2 */
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(s.seqs[i], 3 * (i + 1));
	/* Exactly a page: no "more". */
	struct seen t = {.incident = "db-outage"};
	assert_int_equal(qc_audit_timeline(f->st, "db-outage", 18, 4, collect, &t, &more), QL_OK);
	assert_int_equal(t.n, 4);
	assert_false(more);
	/* An incident without records is empty, not an error. */
	struct seen u = {.incident = "nothing-here"};
	assert_int_equal(qc_audit_timeline(f->st, "nothing-here", 0, 100, collect, &u, &more),
	                 QL_OK);
	assert_int_equal(u.n, 0);
	assert_false(more);
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	struct qc_audit_rec r = {.kind = "submit", .actor = "alice", .text = "x"};
	r.kind = "Submit";
	assert_int_equal(qc_audit_append(f->st, &r), QL_ERR_BAD_ARGUMENT);
	char kind[40];
	memset(kind, 'k', 32);
	kind[32] = '\0';
	r.kind = kind;
	assert_int_equal(qc_audit_append(f->st, &r), QL_ERR_BAD_ARGUMENT);
	kind[31] = '\0';
	assert_int_equal(qc_audit_append(f->st, &r), QL_OK); /* 31 is fine */
	sql(f->st, "DELETE FROM audit_log");
	qc_store_close(f->st);
	assert_int_equal(qc_store_open(f->dir, &f->st), QL_OK);
	r.kind = "submit";
	r.host = "-web";
	assert_int_equal(qc_audit_append(f->st, &r), QL_ERR_BAD_ARGUMENT);
	r.host = NULL;
	r.incident = "no spaces";
	assert_int_equal(qc_audit_append(f->st, &r), QL_ERR_BAD_ARGUMENT);
	r.incident = "";
	/* Too long for a timeline reply: cut (not mid-character), or replaced. */
	size_t n = QC_AUDIT_MAX_TEXT + 10;
	char *text = malloc(n + 1), *data = malloc(QC_AUDIT_MAX_DATA + 10);
	assert_non_null(text);
	assert_non_null(data);
	memset(text, 'a', n);
	memcpy(text + QC_AUDIT_MAX_TEXT - 1, "\xe2\x82\xac", 3); /* straddles the limit */
	text[n] = '\0';
	memset(data, ' ', QC_AUDIT_MAX_DATA + 9);
	data[0] = '{';
	memcpy(data + QC_AUDIT_MAX_DATA + 7, "}", 2);
	r.text = text;
	r.data = data;
	assert_int_equal(qc_audit_append(f->st, &r), QL_OK);
	free(text);
	free(data);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(qc_store_db(f->st),
	                                    "SELECT length(CAST(text AS BLOB)), data, incident"
	                                    " FROM audit_log",
	                                    -1, &q, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), QC_AUDIT_MAX_TEXT - 1);
	assert_string_equal((const char *)sqlite3_column_text(q, 1), "{\"truncated\":true}");
	assert_int_equal(sqlite3_column_type(q, 2), SQLITE_NULL); /* "" is no incident */
	sqlite3_finalize(q);
	assert_true(verify(f->st).intact);
}

/* ---- the records the coordinator writes -------------------------------------------- */

static cJSON *last_record(struct qc_store *st, char *text, size_t len, char *host, size_t hlen)
{
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(qc_store_db(st),
	                                    "SELECT text, data, coalesce(host, '(null)') FROM"
	                                    " audit_log ORDER BY seq DESC LIMIT 1",
	                                    -1, &q, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	snprintf(text, len, "%s", sqlite3_column_text(q, 0));
	snprintf(host, hlen, "%s", sqlite3_column_text(q, 2));
	cJSON *data = cJSON_Parse((const char *)sqlite3_column_text(q, 1));
	assert_non_null(data);
	sqlite3_finalize(q);
	return data;
}

static void test_submit_and_result_records(void **state)
{
	struct fixture *f = *state;
	struct qc_job job = {.n_hosts = 3};
	memset(job.id, 0xab, sizeof job.id);
	snprintf(job.operator_name, sizeof job.operator_name, "alice");
	snprintf(job.incident, sizeof job.incident, "db-outage");
	Quell__Arg a1 = QUELL__ARG__INIT, a2 = QUELL__ARG__INIT, *args[] = {&a1, &a2};
	a1.key = "mode";
	a1.value = "on";
	a2.key = "message";
	a2.value = "Back soon";
	Quell__Command cmd = QUELL__COMMAND__INIT;
	cmd.action = "maintenance";
	cmd.handle = "site";
	cmd.args = args;
	cmd.n_args = 2;
	cmd.target = "role=web";
	cmd.reason = "checkout errors";
	cmd.ttl_seconds = 900;
	cmd.incident = "db-outage";
	qc_audit_submit(f->st, &job, &cmd);
	char text[512], host[64];
	cJSON *d = last_record(f->st, text, sizeof text, host, sizeof host);
	assert_string_equal(text, "maintenance site mode=on message=\"Back soon\" target=role=web"
	                          " hosts=3 ttl=15m reason=\"checkout errors\"");
	assert_string_equal(host, "(null)");
	assert_string_equal(cJSON_GetObjectItem(d, "action")->valuestring, "maintenance");
	assert_string_equal(
		cJSON_GetObjectItem(cJSON_GetObjectItem(d, "args"), "message")->valuestring,
		"Back soon");
	assert_int_equal(cJSON_GetObjectItem(d, "ttl_seconds")->valueint, 900);
	assert_int_equal(cJSON_GetObjectItem(d, "hosts")->valueint, 3);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(d, "dry_run")));
	assert_string_equal(cJSON_GetObjectItem(d, "operator")->valuestring, "alice");
	assert_string_equal(cJSON_GetObjectItem(d, "job")->valuestring,
	                    "abababababababababababababababab");
	cJSON_Delete(d);

	static const struct {
		enum qc_host_status status;
		const char *reason, *detail, *text;
	} results[] = {
		{QC_HOST_OK, "", "maintenance on (/srv/www/maintenance.html)",
	         "ok: maintenance on (/srv/www/maintenance.html)"},
		{QC_HOST_REJECTED, "denied", "denied by policy",
	         "rejected: denied: denied by policy"},
		{QC_HOST_TIMEOUT, "timeout", "delivered, but no answer before the deadline",
	         "timeout: delivered, but no answer before the deadline"},
		{QC_HOST_FAILED, "", "", "failed"},
	};
	for (size_t i = 0; i < sizeof results / sizeof results[0]; i++) {
		struct qc_jobhost h = {.job = &job, .status = results[i].status};
		snprintf(h.hostname, sizeof h.hostname, "web-%zu", i + 1);
		snprintf(h.reason, sizeof h.reason, "%s", results[i].reason);
		h.detail = (char *)results[i].detail;
		qc_audit_result(f->st, &h);
		d = last_record(f->st, text, sizeof text, host, sizeof host);
		assert_string_equal(text, results[i].text);
		assert_string_equal(host, h.hostname);
		assert_string_equal(cJSON_GetObjectItem(d, "status")->valuestring,
		                    qc_host_status_name(results[i].status));
		assert_string_equal(cJSON_GetObjectItem(d, "reason")->valuestring,
		                    results[i].reason);
		assert_string_equal(cJSON_GetObjectItem(d, "detail")->valuestring,
		                    results[i].detail);
		cJSON_Delete(d);
	}
	struct qc_audit_report rep = verify(f->st);
	assert_true(rep.intact);
	assert_int_equal(rep.records, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_intact_and_documented, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edited_column, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_is_not_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rehashed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tail_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_and_result_records, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
