/*
 * store.c: the coordinator's SQLite store (see store.h). Every write is its
 * own statement under the coordinator's lock; a job and its host rows are
 * written in one transaction so a crash never leaves a job without hosts.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "log.h"
#include "store.h"

struct qc_store {
	sqlite3 *db;
	sqlite3_stmt *host_save; /* prepared once: it runs for every host of every job */
	struct qc_audit *audit;  /* the audit log's own table and head (audit.c) */
};

/* clang-format off */
static const char schema[] =
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS forgotten_keys ("
	"  pubkey BLOB PRIMARY KEY, hostname TEXT NOT NULL, operator TEXT NOT NULL,"
	"  at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS agents ("
	"  pubkey BLOB PRIMARY KEY, hostname TEXT UNIQUE NOT NULL, labels TEXT NOT NULL,"
	"  version TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS jobs ("
	"  job_id BLOB PRIMARY KEY, envelope BLOB NOT NULL, operator TEXT NOT NULL,"
	"  action TEXT NOT NULL, handle TEXT NOT NULL, target TEXT NOT NULL,"
	"  reason TEXT NOT NULL, created_at INTEGER NOT NULL, deadline INTEGER NOT NULL,"
	"  target_count INTEGER NOT NULL, state TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS job_hosts ("
	"  job_id BLOB NOT NULL, hostname TEXT NOT NULL, pubkey BLOB NOT NULL,"
	"  status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
	"  updated_at INTEGER NOT NULL, result BLOB, seq INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (job_id, hostname));"
	"CREATE TABLE IF NOT EXISTS job_rollout ("
	"  job_id BLOB PRIMARY KEY, canary INTEGER NOT NULL, batch INTEGER NOT NULL,"
	"  batch_pct INTEGER NOT NULL, max_failures INTEGER NOT NULL,"
	"  max_failures_pct INTEGER NOT NULL, has_max_failures INTEGER NOT NULL,"
	"  host_timeout INTEGER NOT NULL);"
	/* Unused since the hash-chained audit_log (audit.c) replaced it; kept so
	 * stores from before still open and their old records stay readable. */
	"CREATE TABLE IF NOT EXISTS audit ("
	"  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, who TEXT NOT NULL, event TEXT NOT NULL,"
	"  job_id TEXT, detail TEXT NOT NULL DEFAULT '');";
/* clang-format on */

static enum ql_err db_fail(struct qc_store *st, const char *what)
{
	ql_error("store: %s: %s", what, sqlite3_errmsg(st->db));
	return QL_ERR_STORE;
}

enum ql_err qc_store_open(const char *dir, struct qc_store **out)
{
	*out = NULL;
	struct qc_store *st = calloc(1, sizeof *st);
	if (st == NULL)
		return QL_ERR_NOMEM;
	enum ql_err err = ql_db_open(dir, "coordinator.db", schema, &st->db);
	if (err != QL_OK) {
		free(st);
		return err;
	}
	/* Stores from before job_hosts.seq: add it (an error just means it is there). */
	sqlite3_exec(st->db, "ALTER TABLE job_hosts ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
	             NULL, NULL, NULL);
	/* And before mutual TLS: which pins a certificate vouched for. */
	sqlite3_exec(st->db, "ALTER TABLE agents ADD COLUMN cert INTEGER NOT NULL DEFAULT 0", NULL,
	             NULL, NULL);
	err = qc_audit_open(st->db, &st->audit);
	if (err != QL_OK) {
		qc_store_close(st);
		return err;
	}
	*out = st;
	return QL_OK;
}

struct sqlite3 *qc_store_db(struct qc_store *st)
{
	return st->db;
}

struct qc_audit *qc_store_audit_log(struct qc_store *st)
{
	return st->audit;
}

void qc_store_close(struct qc_store *st)
{
	if (st == NULL)
		return;
	sqlite3_finalize(st->host_save);
	qc_audit_close(st->audit); /* before the connection: it holds a statement */
	sqlite3_close(st->db);
	free(st);
}

static char *labels_text(const struct ql_label *labels, size_t n)
{
	size_t cap = 1;
	for (size_t i = 0; i < n; i++)
		cap += strlen(labels[i].key) + strlen(labels[i].value) + 2;
	char *s = malloc(cap), *p = s;
	if (s == NULL)
		return NULL;
	*p = '\0';
	for (size_t i = 0; i < n; i++)
		p += snprintf(p, cap - (size_t)(p - s), "%s%s=%s", i ? "," : "", labels[i].key,
		              labels[i].value);
	return s;
}

enum ql_err qc_store_agent_save(struct qc_store *st, const struct qc_agent *a)
{
	sqlite3_stmt *q = NULL;
	char *labels = labels_text(a->labels, a->n_labels);
	if (labels == NULL)
		return QL_ERR_NOMEM;
	enum ql_err err = QL_OK;
	if (sqlite3_prepare_v2(st->db,
	                       "INSERT INTO agents (pubkey, hostname, labels, version, first_seen,"
	                       " last_seen, cert) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(pubkey)"
	                       " DO UPDATE SET hostname=excluded.hostname, labels=excluded.labels,"
	                       " version=excluded.version, last_seen=excluded.last_seen,"
	                       " cert=excluded.cert",
	                       -1, &q, NULL) != SQLITE_OK) {
		err = db_fail(st, "prepare agent save");
		goto out;
	}
	sqlite3_bind_blob(q, 1, a->pk, QL_PUBKEY_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, a->hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, labels, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, a->version, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, a->first_seen);
	sqlite3_bind_int64(q, 6, a->last_seen);
	sqlite3_bind_int(q, 7, a->cert_verified);
	if (sqlite3_step(q) != SQLITE_DONE)
		err = db_fail(st, "save agent");
out:
	sqlite3_finalize(q);
	free(labels);
	return err;
}

/* One statement in its own transaction with the others: all or nothing. */
static bool forget_step(struct qc_store *st, const char *sql, const uint8_t *pk,
                        const char *hostname, const char *operator_name)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_blob(q, 1, pk, QL_PUBKEY_LEN, SQLITE_STATIC);
	if (hostname) {
		sqlite3_bind_text(q, 2, hostname, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, operator_name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 4, ql_now());
	}
	bool ok = sqlite3_step(q) == SQLITE_DONE;
	sqlite3_finalize(q);
	return ok;
}

enum ql_err qc_store_agent_forget(struct qc_store *st, const uint8_t pk[QL_PUBKEY_LEN],
                                  const char *hostname, const char *operator_name)
{
	bool ok = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
	ok = ok && forget_step(st, "DELETE FROM agents WHERE pubkey = ?", pk, NULL, NULL) &&
	     forget_step(st,
	                 "INSERT OR REPLACE INTO forgotten_keys (pubkey, hostname, operator, at)"
	                 " VALUES (?, ?, ?, ?)",
	                 pk, hostname, operator_name) &&
	     sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
	if (!ok) {
		enum ql_err err = db_fail(st, "forget agent");
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return err;
	}
	return QL_OK;
}

enum ql_err qc_store_key_forgotten(struct qc_store *st, const uint8_t pk[QL_PUBKEY_LEN],
                                   char *hostname, size_t hlen, bool *forgotten)
{
	sqlite3_stmt *q = NULL;
	*forgotten = false;
	if (sqlite3_prepare_v2(st->db, "SELECT hostname FROM forgotten_keys WHERE pubkey = ?", -1,
	                       &q, NULL) != SQLITE_OK)
		return db_fail(st, "prepare forgotten key");
	sqlite3_bind_blob(q, 1, pk, QL_PUBKEY_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*forgotten = true;
		snprintf(hostname, hlen, "%s", (const char *)sqlite3_column_text(q, 0));
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? QL_OK : db_fail(st, "read forgotten key");
}

enum ql_err qc_store_agents_load(struct qc_store *st, void (*fn)(void *arg, struct qc_agent *a),
                                 void *arg)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(st->db,
	                       "SELECT pubkey, hostname, labels, version, first_seen, last_seen,"
	                       " cert FROM agents",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_fail(st, "prepare agents load");
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct qc_agent *a = calloc(1, sizeof *a);
		if (a == NULL)
			break;
		if (sqlite3_column_bytes(q, 0) != QL_PUBKEY_LEN) {
			free(a);
			continue;
		}
		memcpy(a->pk, sqlite3_column_blob(q, 0), QL_PUBKEY_LEN);
		a->hostname = strdup((const char *)sqlite3_column_text(q, 1));
		if (ql_labels_parse((const char *)sqlite3_column_text(q, 2), &a->labels,
		                    &a->n_labels) != QL_OK) {
			a->labels = NULL;
			a->n_labels = 0;
		}
		snprintf(a->version, sizeof a->version, "%s", sqlite3_column_text(q, 3));
		a->first_seen = sqlite3_column_int64(q, 4);
		a->last_seen = sqlite3_column_int64(q, 5);
		a->cert_verified = sqlite3_column_int(q, 6) != 0;
		fn(arg, a);
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "load agents");
}

static bool exec_sql(struct qc_store *st, const char *sql)
{
	return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

enum ql_err qc_store_job_save(struct qc_store *st, const struct qc_job *job, const char *reason)
{
	sqlite3_stmt *q = NULL;
	if (!exec_sql(st, "BEGIN"))
		return db_fail(st, "begin");
	if (sqlite3_prepare_v2(
		    st->db,
		    "INSERT INTO jobs (job_id, envelope, operator, action, handle, target,"
		    " reason, created_at, deadline, target_count, state)"
		    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')",
		    -1, &q, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_blob(q, 1, job->id, QL_JOB_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(q, 2, job->env, (int)job->env_len, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, job->operator_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, job->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, job->handle, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, job->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 8, job->created_ms / 1000);
	sqlite3_bind_int64(q, 9, job->deadline_ms / 1000);
	sqlite3_bind_int64(q, 10, (sqlite3_int64)job->n_hosts);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_prepare_v2(st->db,
	                       "INSERT INTO job_rollout (job_id, canary, batch, batch_pct,"
	                       " max_failures, max_failures_pct, has_max_failures, host_timeout)"
	                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	                       -1, &q, NULL) != SQLITE_OK)
		goto fail;
	const struct qc_rollout *r = &job->rollout;
	sqlite3_bind_blob(q, 1, job->id, QL_JOB_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, r->canary);
	sqlite3_bind_int64(q, 3, r->batch);
	sqlite3_bind_int64(q, 4, r->batch_pct);
	sqlite3_bind_int64(q, 5, r->max_failures);
	sqlite3_bind_int64(q, 6, r->max_failures_pct);
	sqlite3_bind_int(q, 7, r->has_max_failures);
	sqlite3_bind_int64(q, 8, r->host_timeout_s);
	if (sqlite3_step(q) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(q);
	q = NULL;
	for (size_t i = 0; i < job->n_hosts; i++)
		if (qc_store_host_save(st, &job->hosts[i], NULL, 0) != QL_OK)
			goto fail;
	if (!exec_sql(st, "COMMIT"))
		goto fail;
	return QL_OK;
fail:
	sqlite3_finalize(q);
	enum ql_err err = db_fail(st, "save job");
	exec_sql(st, "ROLLBACK");
	return err;
}

enum ql_err qc_store_host_save(struct qc_store *st, const struct qc_jobhost *h,
                               const uint8_t *result_env, size_t result_len)
{
	sqlite3_stmt *q =
		ql_db_cached(st->db, &st->host_save,
	                     "INSERT INTO job_hosts (job_id, hostname, pubkey, status, reason,"
	                     " detail, updated_at, result, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
	                     " ON CONFLICT(job_id, hostname) DO UPDATE SET status=excluded.status,"
	                     " reason=excluded.reason, detail=excluded.detail,"
	                     " updated_at=excluded.updated_at,"
	                     " result=coalesce(excluded.result, result), seq=excluded.seq");
	if (q == NULL)
		return db_fail(st, "prepare host save");
	sqlite3_bind_blob(q, 1, h->job->id, QL_JOB_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, h->hostname, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 3, h->agent->pk, QL_PUBKEY_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, qc_host_status_name(h->status), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, h->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, h->detail ? h->detail : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 7, h->updated_at / 1000);
	if (result_env)
		sqlite3_bind_blob(q, 8, result_env, (int)result_len, SQLITE_STATIC);
	sqlite3_bind_int64(q, 9, h->seq);
	int rc = sqlite3_step(q);
	enum ql_err err = rc == SQLITE_DONE ? QL_OK : db_fail(st, "save host result");
	ql_db_release(q);
	return err;
}

enum ql_err qc_store_job_done(struct qc_store *st, const struct qc_job *job)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(st->db, "UPDATE jobs SET state='done' WHERE job_id = ?", -1, &q,
	                       NULL) != SQLITE_OK)
		return db_fail(st, "prepare job done");
	sqlite3_bind_blob(q, 1, job->id, QL_JOB_ID_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "mark job done");
}

static void copy_col(char *dst, size_t cap, sqlite3_stmt *q, int col)
{
	const unsigned char *t = sqlite3_column_text(q, col);
	snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* The hosts of one stored job, final ones first in the order they became final. */
static enum ql_err load_hosts(struct qc_store *st, struct qc_stored_job *j, size_t expect)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(st->db,
	                       "SELECT pubkey, hostname, status, reason, detail, updated_at, seq"
	                       " FROM job_hosts WHERE job_id = ?"
	                       " ORDER BY status IN ('pending', 'delivered'), seq, rowid",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_fail(st, "prepare job hosts");
	sqlite3_bind_blob(q, 1, j->id, QL_JOB_ID_LEN, SQLITE_STATIC);
	j->hosts = calloc(expect ? expect : 1, sizeof *j->hosts);
	j->n_hosts = 0;
	int rc = SQLITE_DONE;
	while (j->hosts && (rc = sqlite3_step(q)) == SQLITE_ROW && j->n_hosts < expect) {
		struct qc_stored_host *h = &j->hosts[j->n_hosts];
		if (sqlite3_column_bytes(q, 0) != QL_PUBKEY_LEN)
			continue;
		memcpy(h->pk, sqlite3_column_blob(q, 0), QL_PUBKEY_LEN);
		copy_col(h->hostname, sizeof h->hostname, q, 1);
		copy_col(h->status, sizeof h->status, q, 2);
		copy_col(h->reason, sizeof h->reason, q, 3);
		copy_col(h->detail, sizeof h->detail, q, 4);
		h->updated_at = sqlite3_column_int64(q, 5);
		h->seq = (uint32_t)sqlite3_column_int64(q, 6);
		j->n_hosts++;
	}
	sqlite3_finalize(q);
	if (j->hosts == NULL)
		return QL_ERR_NOMEM;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? QL_OK : db_fail(st, "load job hosts");
}

enum ql_err qc_store_jobs_load_unfinished(struct qc_store *st,
                                          void (*fn)(void *arg, const struct qc_stored_job *j),
                                          void *arg)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(st->db,
	                       "SELECT j.job_id, envelope, operator, created_at, target_count,"
	                       " canary, batch, batch_pct, max_failures, max_failures_pct,"
	                       " has_max_failures, host_timeout"
	                       " FROM jobs j LEFT JOIN job_rollout r ON r.job_id = j.job_id"
	                       " WHERE state != 'done' ORDER BY created_at",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_fail(st, "prepare unfinished jobs");
	int rc = SQLITE_DONE;
	enum ql_err err = QL_OK;
	while (err == QL_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct qc_stored_job j = {0};
		if (sqlite3_column_bytes(q, 0) != QL_JOB_ID_LEN)
			continue;
		memcpy(j.id, sqlite3_column_blob(q, 0), QL_JOB_ID_LEN);
		j.env = sqlite3_column_blob(q, 1);
		j.env_len = (size_t)sqlite3_column_bytes(q, 1);
		copy_col(j.operator_name, sizeof j.operator_name, q, 2);
		j.created_at = sqlite3_column_int64(q, 3);
		struct qc_rollout *r = &j.rollout; /* NULLs (no row) read as 0: all at once */
		r->canary = (uint32_t)sqlite3_column_int64(q, 5);
		r->batch = (uint32_t)sqlite3_column_int64(q, 6);
		r->batch_pct = (uint32_t)sqlite3_column_int64(q, 7);
		r->max_failures = (uint32_t)sqlite3_column_int64(q, 8);
		r->max_failures_pct = (uint32_t)sqlite3_column_int64(q, 9);
		r->has_max_failures = sqlite3_column_int(q, 10) != 0;
		r->host_timeout_s = (uint32_t)sqlite3_column_int64(q, 11);
		sqlite3_int64 n = sqlite3_column_int64(q, 4);
		if (n < 0 || n > 1000000)
			continue;
		err = load_hosts(st, &j, (size_t)n);
		if (err == QL_OK)
			fn(arg, &j);
		free(j.hosts);
	}
	sqlite3_finalize(q);
	if (err != QL_OK)
		return err;
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "load unfinished jobs");
}

/* Columns: job_id, envelope, operator, action, handle, target, created_at,
 * target_count, state, finished_at (see SUMMARY_SQL). */
#define SUMMARY_SQL                                                                                \
	"SELECT job_id, envelope, operator, action, handle, target, created_at, target_count,"     \
	" state, (SELECT max(updated_at) FROM job_hosts h WHERE h.job_id = j.job_id)"              \
	" FROM jobs j"

static enum qc_host_status status_by_name(const char *name)
{
	for (int s = QC_HOST_PENDING; s <= QC_HOST_SKIPPED; s++)
		if (strcmp(qc_host_status_name((enum qc_host_status)s), name) == 0)
			return (enum qc_host_status)s;
	return QC_HOST_PENDING; /* unknown: not final, so counted as in progress */
}

/* The summary of the row q is on, passed to fn. */
static enum ql_err summary_row(struct qc_store *st, sqlite3_stmt *q,
                               void (*fn)(void *arg, const struct qc_job_summary *j), void *arg)
{
	struct qc_job_summary j = {0};
	sqlite3_stmt *cq = NULL;
	if (sqlite3_column_bytes(q, 0) != QL_JOB_ID_LEN)
		return QL_OK; /* not ours; skip it */
	memcpy(j.id, sqlite3_column_blob(q, 0), QL_JOB_ID_LEN);
	j.env = sqlite3_column_blob(q, 1);
	j.env_len = (size_t)sqlite3_column_bytes(q, 1);
	j.operator_name = (const char *)sqlite3_column_text(q, 2);
	j.action = (const char *)sqlite3_column_text(q, 3);
	j.handle = (const char *)sqlite3_column_text(q, 4);
	j.target = (const char *)sqlite3_column_text(q, 5);
	j.created_at = sqlite3_column_int64(q, 6);
	sqlite3_int64 n = sqlite3_column_int64(q, 7);
	j.done = strcmp((const char *)sqlite3_column_text(q, 8), "done") == 0;
	j.finished_at = sqlite3_column_int64(q, 9);
	if (!j.operator_name || !j.action || !j.handle || !j.target || n < 0 || n > 1000000)
		return QL_OK;
	if (sqlite3_prepare_v2(st->db,
	                       "SELECT status, count(*) FROM job_hosts WHERE job_id = ?"
	                       " GROUP BY status",
	                       -1, &cq, NULL) != SQLITE_OK)
		return db_fail(st, "prepare job counts");
	sqlite3_bind_blob(cq, 1, j.id, QL_JOB_ID_LEN, SQLITE_STATIC);
	int rc;
	uint64_t rows = 0;
	while ((rc = sqlite3_step(cq)) == SQLITE_ROW) {
		sqlite3_int64 k = sqlite3_column_int64(cq, 1);
		const char *status = (const char *)sqlite3_column_text(cq, 0);
		if (status == NULL || k < 0 || k > 1000000)
			continue;
		j.counts[status_by_name(status)] += (uint32_t)k;
		rows += (uint64_t)k;
	}
	sqlite3_finalize(cq);
	if (rc != SQLITE_DONE)
		return db_fail(st, "count job hosts");
	/* Hosts without a row (none, unless the store was edited) are in progress. */
	j.target_count = (uint32_t)(rows > (uint64_t)n ? rows : (uint64_t)n);
	j.counts[QC_HOST_PENDING] += (uint32_t)(j.target_count - rows);
	fn(arg, &j);
	return QL_OK;
}

enum ql_err qc_store_jobs_recent(struct qc_store *st, uint32_t limit,
                                 void (*fn)(void *arg, const struct qc_job_summary *j), void *arg)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(st->db, SUMMARY_SQL " ORDER BY created_at DESC, rowid DESC LIMIT ?",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_fail(st, "prepare recent jobs");
	sqlite3_bind_int64(q, 1, limit);
	int rc = SQLITE_DONE;
	enum ql_err err = QL_OK;
	while (err == QL_OK && (rc = sqlite3_step(q)) == SQLITE_ROW)
		err = summary_row(st, q, fn, arg);
	sqlite3_finalize(q);
	if (err != QL_OK)
		return err;
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "list recent jobs");
}

enum ql_err qc_store_job_summary(struct qc_store *st, const uint8_t id[QL_JOB_ID_LEN],
                                 void (*fn)(void *arg, const struct qc_job_summary *j), void *arg)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(st->db, SUMMARY_SQL " WHERE job_id = ?", -1, &q, NULL) != SQLITE_OK)
		return db_fail(st, "prepare job summary");
	sqlite3_bind_blob(q, 1, id, QL_JOB_ID_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	enum ql_err err = rc == SQLITE_ROW    ? summary_row(st, q, fn, arg)
	                  : rc == SQLITE_DONE ? QL_ERR_NOT_FOUND
	                                      : db_fail(st, "load job summary");
	sqlite3_finalize(q);
	return err;
}

enum ql_err qc_store_job_results(struct qc_store *st, const uint8_t id[QL_JOB_ID_LEN],
                                 uint32_t offset, uint32_t limit,
                                 void (*fn)(void *arg, const struct qc_stored_host *h), void *arg)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(st->db,
	                       "SELECT pubkey, hostname, status, reason, detail, updated_at"
	                       " FROM job_hosts WHERE job_id = ?"
	                       " AND status NOT IN ('pending', 'delivered')"
	                       " ORDER BY seq, rowid LIMIT ? OFFSET ?",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_fail(st, "prepare job results");
	sqlite3_bind_blob(q, 1, id, QL_JOB_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, limit);
	sqlite3_bind_int64(q, 3, offset);
	struct qc_stored_host *h = malloc(sizeof *h);
	bool nomem = h == NULL;
	int rc = SQLITE_DONE;
	while (h && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		memset(h, 0, sizeof *h);
		if (sqlite3_column_bytes(q, 0) == QL_PUBKEY_LEN)
			memcpy(h->pk, sqlite3_column_blob(q, 0), QL_PUBKEY_LEN);
		copy_col(h->hostname, sizeof h->hostname, q, 1);
		copy_col(h->status, sizeof h->status, q, 2);
		copy_col(h->reason, sizeof h->reason, q, 3);
		copy_col(h->detail, sizeof h->detail, q, 4);
		h->updated_at = sqlite3_column_int64(q, 5);
		fn(arg, h);
	}
	sqlite3_finalize(q);
	free(h);
	if (nomem)
		return QL_ERR_NOMEM;
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "load job results");
}
