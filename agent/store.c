/*
 * store.c: the agent's SQLite store (see store.h).
 *
 * One connection, used under the agent's lock. WAL mode with synchronous=FULL:
 * the intent row must be on disk before an action runs, or a crash right
 * after acting could lead to a second execution on redelivery.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "keys.h"
#include "log.h"
#include "store.h"

/* The statements, prepared once (ql_db_cached). */
enum { ST_GET, ST_BEGIN, ST_FINISH, ST_UNDO, ST_AUDIT, ST_PRUNE, N_STMTS };

struct qa_store {
	sqlite3 *db;
	pthread_mutex_t lock; /* the network side and the executor thread share the store */
	sqlite3_stmt *stmt[N_STMTS];
};

/* clang-format off */
static const char schema[] =
	"PRAGMA synchronous=FULL;"
	/* A few hundred job rows and an append-only audit table: 64 KiB of page
	 * cache holds every hot page; the default (2 MiB) would be kept resident
	 * as the audit table grows. */
	"PRAGMA cache_size=-64;"
	/* Job ids are namespaced by signer: one signer can never answer for,
	 * or block, a job id chosen by another. */
	"CREATE TABLE IF NOT EXISTS jobs ("
	"  signer BLOB NOT NULL,"
	"  job_id BLOB NOT NULL,"
	"  body_hash BLOB NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  state TEXT NOT NULL,"       /* running | done */
	"  status INTEGER NOT NULL DEFAULT 0,"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  detail TEXT NOT NULL DEFAULT '',"
	"  started_at INTEGER NOT NULL DEFAULT 0,"
	"  finished_at INTEGER NOT NULL DEFAULT 0,"
	"  undo TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (signer, job_id));"
	"CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs(expires_at);"
	"CREATE TABLE IF NOT EXISTS audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  job_id TEXT,"
	"  signer TEXT, action TEXT, handle TEXT, target TEXT, reason TEXT,"
	"  status TEXT NOT NULL, code TEXT, detail TEXT);";
/* clang-format on */

static enum ql_err db_fail(struct qa_store *st, const char *what)
{
	ql_error("store: %s: %s", what, sqlite3_errmsg(st->db));
	return QL_ERR_STORE;
}

enum ql_err qa_store_open(const char *dir, struct qa_store **out)
{
	*out = NULL;
	struct qa_store *st = calloc(1, sizeof *st);
	if (st == NULL)
		return QL_ERR_NOMEM;
	enum ql_err err = ql_db_open(dir, "agent.db", schema, &st->db);
	if (err != QL_OK) {
		free(st);
		return err;
	}
	pthread_mutex_init(&st->lock, NULL);
	*out = st;
	return QL_OK;
}

void qa_store_close(struct qa_store *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < N_STMTS; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
	snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

static void bind_key(sqlite3_stmt *q, const struct qa_job_key *k)
{
	sqlite3_bind_blob(q, 1, k->signer, QL_PUBKEY_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(q, 2, k->job_id, QL_JOB_ID_LEN, SQLITE_STATIC);
}

static enum ql_err do_job_get_locked(struct qa_store *st, const struct qa_job_key *k,
                                     struct qa_job_record *rec)
{
	memset(rec, 0, sizeof *rec);
	sqlite3_stmt *q =
		ql_db_cached(st->db, &st->stmt[ST_GET],
	                     "SELECT body_hash, state, status, reason, detail, started_at,"
	                     " finished_at, undo FROM jobs WHERE signer = ? AND job_id = ?");
	if (q == NULL)
		return db_fail(st, "prepare job lookup");
	bind_key(q, k);
	int rc = sqlite3_step(q);
	enum ql_err err = QL_OK;
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_bytes(q, 0) == QL_HASH_LEN)
			memcpy(rec->body_hash, sqlite3_column_blob(q, 0), QL_HASH_LEN);
		const char *state = (const char *)sqlite3_column_text(q, 1);
		rec->state = state && strcmp(state, "done") == 0 ? QA_JOB_DONE : QA_JOB_RUNNING;
		rec->status = sqlite3_column_int(q, 2);
		copy_text(rec->reason, sizeof rec->reason, sqlite3_column_text(q, 3));
		copy_text(rec->detail, sizeof rec->detail, sqlite3_column_text(q, 4));
		rec->started_at = sqlite3_column_int64(q, 5);
		rec->finished_at = sqlite3_column_int64(q, 6);
		copy_text(rec->undo, sizeof rec->undo, sqlite3_column_text(q, 7));
	} else if (rc != SQLITE_DONE) {
		err = db_fail(st, "job lookup");
	}
	ql_db_release(q);
	return err;
}

static enum ql_err do_job_begin_locked(struct qa_store *st, const struct qa_job_key *k,
                                       const uint8_t *body_hash, int64_t expires_at)
{
	sqlite3_stmt *q =
		ql_db_cached(st->db, &st->stmt[ST_BEGIN],
	                     "INSERT INTO jobs (signer, job_id, body_hash, expires_at, state,"
	                     " started_at) VALUES (?, ?, ?, ?, 'running', strftime('%s','now'))");
	if (q == NULL)
		return db_fail(st, "prepare job begin");
	bind_key(q, k);
	sqlite3_bind_blob(q, 3, body_hash, QL_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, expires_at);
	int rc = sqlite3_step(q);
	ql_db_release(q);
	if (rc == SQLITE_CONSTRAINT)
		return QL_ERR_REPLAYED;
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "record intent");
}

static enum ql_err do_job_finish_locked(struct qa_store *st, const struct qa_job_key *k,
                                        const uint8_t *body_hash, int64_t expires_at,
                                        const struct qa_job_record *rec)
{
	sqlite3_stmt *q = ql_db_cached(
		st->db, &st->stmt[ST_FINISH],
		"INSERT INTO jobs (signer, job_id, body_hash, expires_at, state, status, reason,"
		" detail, started_at, finished_at, undo) VALUES (?, ?, ?, ?, 'done', ?, ?, ?, ?, ?, ?)"
		" ON CONFLICT(signer, job_id) DO UPDATE SET state='done', status=excluded.status,"
		" reason=excluded.reason, detail=excluded.detail,"
		" finished_at=excluded.finished_at, undo=excluded.undo");
	if (q == NULL)
		return db_fail(st, "prepare job finish");
	bind_key(q, k);
	sqlite3_bind_blob(q, 3, body_hash, QL_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, expires_at);
	sqlite3_bind_int(q, 5, rec->status);
	sqlite3_bind_text(q, 6, rec->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, rec->detail, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 8, rec->started_at);
	sqlite3_bind_int64(q, 9, rec->finished_at);
	sqlite3_bind_text(q, 10, rec->undo, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	ql_db_release(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "record result");
}

static enum ql_err do_job_set_undo_locked(struct qa_store *st, const struct qa_job_key *k,
                                          const char *undo)
{
	sqlite3_stmt *q = ql_db_cached(st->db, &st->stmt[ST_UNDO],
	                               "UPDATE jobs SET undo = ? WHERE signer = ? AND job_id = ?");
	if (q == NULL)
		return db_fail(st, "prepare undo");
	sqlite3_bind_text(q, 1, undo, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 2, k->signer, QL_PUBKEY_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(q, 3, k->job_id, QL_JOB_ID_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	ql_db_release(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "record undo");
}

static enum ql_err do_audit_locked(struct qa_store *st, const struct qa_audit_entry *e)
{
	char hex[2 * QL_JOB_ID_LEN + 1];
	sqlite3_stmt *q =
		ql_db_cached(st->db, &st->stmt[ST_AUDIT],
	                     "INSERT INTO audit (at, job_id, signer, action, handle, target,"
	                     " reason, status, code, detail) VALUES"
	                     " (strftime('%s','now'), ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (q == NULL)
		return db_fail(st, "prepare audit");
	if (e->job_id) {
		ql_hex(e->job_id, QL_JOB_ID_LEN, hex);
		sqlite3_bind_text(q, 1, hex, -1, SQLITE_TRANSIENT);
	}
	sqlite3_bind_text(q, 2, e->signer, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, e->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, e->handle, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, e->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, e->reason_text, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, e->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 8, e->code, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 9, e->detail, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	ql_db_release(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "write audit");
}

static enum ql_err do_prune_locked(struct qa_store *st, int64_t before)
{
	sqlite3_stmt *q =
		ql_db_cached(st->db, &st->stmt[ST_PRUNE], "DELETE FROM jobs WHERE expires_at < ?");
	if (q == NULL)
		return db_fail(st, "prepare prune");
	sqlite3_bind_int64(q, 1, before);
	int rc = sqlite3_step(q);
	ql_db_release(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "prune");
}

/* Public entry points: one statement sequence at a time. */
#define LOCKED(call)                                                                               \
	do {                                                                                       \
		pthread_mutex_lock(&st->lock);                                                     \
		enum ql_err err_ = (call);                                                         \
		pthread_mutex_unlock(&st->lock);                                                   \
		return err_;                                                                       \
	} while (0)

enum ql_err qa_store_job_get(struct qa_store *st, const struct qa_job_key *k,
                             struct qa_job_record *rec)
{
	LOCKED(do_job_get_locked(st, k, rec));
}

enum ql_err qa_store_job_begin(struct qa_store *st, const struct qa_job_key *k,
                               const uint8_t *body_hash, int64_t expires_at)
{
	LOCKED(do_job_begin_locked(st, k, body_hash, expires_at));
}

enum ql_err qa_store_job_finish(struct qa_store *st, const struct qa_job_key *k,
                                const uint8_t *body_hash, int64_t expires_at,
                                const struct qa_job_record *rec)
{
	LOCKED(do_job_finish_locked(st, k, body_hash, expires_at, rec));
}

enum ql_err qa_store_job_set_undo(struct qa_store *st, const struct qa_job_key *k, const char *undo)
{
	LOCKED(do_job_set_undo_locked(st, k, undo));
}

enum ql_err qa_store_audit(struct qa_store *st, const struct qa_audit_entry *e)
{
	LOCKED(do_audit_locked(st, e));
}

enum ql_err qa_store_prune(struct qa_store *st, int64_t before)
{
	LOCKED(do_prune_locked(st, before));
}
