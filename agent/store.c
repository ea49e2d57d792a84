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
enum {
	ST_GET,
	ST_BEGIN,
	ST_FINISH,
	ST_UNDO,
	ST_AUDIT,
	ST_PRUNE,
	ST_PRUNE_MITIGATIONS,
	ST_MIT_PUT,
	ST_MIT_DELETE,
	ST_MIT_BY_JOB,
	ST_MIT_BY_RESOURCE,
	ST_MIT_DUE,
	ST_MIT_UNSETTLED,
	ST_MIT_BY_CAUSE,
	ST_MIT_NEXT,
	ST_EVENT_ADD,
	ST_EVENTS,
	ST_EVENTS_ACK,
	N_STMTS
};

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
	"  status TEXT NOT NULL, code TEXT, detail TEXT);"
	/* Mitigations this host holds or held (lifecycle.c), kept after the
	 * job ids are pruned: they are what a TTL or an undo reverts. */
	"CREATE TABLE IF NOT EXISTS mitigations ("
	"  job_id BLOB NOT NULL, signer BLOB NOT NULL,"
	"  action TEXT NOT NULL,"      /* the action whose undo record `undo` is */
	"  handle TEXT NOT NULL, resource TEXT NOT NULL,"
	"  undo TEXT NOT NULL,"        /* the state a revert restores */
	"  incident TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL DEFAULT 0,"
	"  state TEXT NOT NULL,"       /* pending | active | reverting | reverted | revert-failed | replaced */
	"  cause TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
	"  by_job BLOB, updated_at INTEGER NOT NULL,"
	"  shared INTEGER NOT NULL DEFAULT 0," /* another signer's mitigation merged in */
	"  PRIMARY KEY (job_id, signer));"
	"CREATE INDEX IF NOT EXISTS mitigations_resource ON mitigations(resource, state);"
	"CREATE INDEX IF NOT EXISTS mitigations_state ON mitigations(state, expires_at);"
	/* Mitigation events no result carries (a TTL ran out), until the
	 * coordinator has acknowledged them. */
	"CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, event BLOB NOT NULL);";
/* clang-format on */

/* Columns added after the first release: the error just means they exist. */
static const char *const upgrades[] = {
	"ALTER TABLE jobs ADD COLUMN events BLOB",
};

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
	for (size_t i = 0; i < sizeof upgrades / sizeof upgrades[0]; i++)
		sqlite3_exec(st->db, upgrades[i], NULL, NULL, NULL);
	/* Recursive: a transaction (qa_store_tx_begin) holds it across calls. */
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&st->lock, &attr);
	pthread_mutexattr_destroy(&attr);
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
	sqlite3_stmt *q = ql_db_cached(
		st->db, &st->stmt[ST_GET],
		"SELECT body_hash, state, status, reason, detail, started_at,"
		" finished_at, undo, events FROM jobs WHERE signer = ? AND job_id = ?");
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
		int n = sqlite3_column_bytes(q, 8);
		if (n > 0 && (size_t)n <= sizeof rec->events) {
			memcpy(rec->events, sqlite3_column_blob(q, 8), (size_t)n);
			rec->events_len = (size_t)n;
		}
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
		" detail, started_at, finished_at, undo, events)"
		" VALUES (?, ?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?)"
		" ON CONFLICT(signer, job_id) DO UPDATE SET state='done', status=excluded.status,"
		" reason=excluded.reason, detail=excluded.detail,"
		" finished_at=excluded.finished_at, undo=excluded.undo, events=excluded.events");
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
	if (rec->events_len)
		sqlite3_bind_blob(q, 11, rec->events, (int)rec->events_len, SQLITE_STATIC);
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
	if (rc != SQLITE_DONE)
		return db_fail(st, "prune");
	/* Mitigations long over: an undo of one now finds nothing to undo. */
	q = ql_db_cached(st->db, &st->stmt[ST_PRUNE_MITIGATIONS],
	                 "DELETE FROM mitigations WHERE state IN ('reverted', 'replaced') AND"
	                 " updated_at < ?");
	if (q == NULL)
		return db_fail(st, "prepare prune");
	sqlite3_bind_int64(q, 1, before - QA_MITIGATION_KEEP_S);
	rc = sqlite3_step(q);
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

/* ---- mitigations and events (lifecycle.c) ------------------------------------------ */

static const char *const mit_states[] = {
	[QA_MIT_PENDING] = "pending",
	[QA_MIT_ACTIVE] = "active",
	[QA_MIT_REVERTING] = "reverting",
	[QA_MIT_REVERTED] = "reverted",
	[QA_MIT_REVERT_FAILED] = "revert-failed",
	[QA_MIT_REPLACED] = "replaced",
};

const char *qa_mit_state_name(enum qa_mit_state s)
{
	return (unsigned)s < sizeof mit_states / sizeof mit_states[0] ? mit_states[s] : "?";
}

static enum qa_mit_state mit_state_from(const unsigned char *name)
{
	for (size_t i = 0; name && i < sizeof mit_states / sizeof mit_states[0]; i++)
		if (strcmp((const char *)name, mit_states[i]) == 0)
			return (enum qa_mit_state)i;
	return QA_MIT_REVERT_FAILED; /* unreadable: never silently forgotten */
}

#define MIT_COLUMNS                                                                                \
	"job_id, signer, action, handle, resource, undo, incident, created_at, expires_at, state," \
	" cause, detail, by_job, updated_at, shared"

static enum ql_err do_mit_put_locked(struct qa_store *st, const struct qa_mitigation *m)
{
	sqlite3_stmt *q = ql_db_cached(st->db, &st->stmt[ST_MIT_PUT],
	                               "INSERT OR REPLACE INTO mitigations (" MIT_COLUMNS
	                               ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (q == NULL)
		return db_fail(st, "prepare mitigation write");
	sqlite3_bind_blob(q, 1, m->job_id, QL_JOB_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(q, 2, m->signer, QL_PUBKEY_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, m->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, m->handle, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, m->resource, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, m->undo, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, m->incident, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 8, m->created_at);
	sqlite3_bind_int64(q, 9, m->expires_at);
	sqlite3_bind_text(q, 10, qa_mit_state_name(m->state), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 11, m->cause, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 12, m->detail, -1, SQLITE_STATIC);
	if (m->has_by_job)
		sqlite3_bind_blob(q, 13, m->by_job, QL_JOB_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(q, 14, m->updated_at);
	sqlite3_bind_int(q, 15, m->shared);
	int rc = sqlite3_step(q);
	ql_db_release(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "write mitigation");
}

static void mit_row(sqlite3_stmt *q, struct qa_mitigation *m)
{
	memset(m, 0, sizeof *m);
	if (sqlite3_column_bytes(q, 0) == QL_JOB_ID_LEN)
		memcpy(m->job_id, sqlite3_column_blob(q, 0), QL_JOB_ID_LEN);
	if (sqlite3_column_bytes(q, 1) == QL_PUBKEY_LEN)
		memcpy(m->signer, sqlite3_column_blob(q, 1), QL_PUBKEY_LEN);
	copy_text(m->action, sizeof m->action, sqlite3_column_text(q, 2));
	copy_text(m->handle, sizeof m->handle, sqlite3_column_text(q, 3));
	copy_text(m->resource, sizeof m->resource, sqlite3_column_text(q, 4));
	copy_text(m->undo, sizeof m->undo, sqlite3_column_text(q, 5));
	copy_text(m->incident, sizeof m->incident, sqlite3_column_text(q, 6));
	m->created_at = sqlite3_column_int64(q, 7);
	m->expires_at = sqlite3_column_int64(q, 8);
	m->state = mit_state_from(sqlite3_column_text(q, 9));
	copy_text(m->cause, sizeof m->cause, sqlite3_column_text(q, 10));
	copy_text(m->detail, sizeof m->detail, sqlite3_column_text(q, 11));
	if (sqlite3_column_bytes(q, 12) == QL_JOB_ID_LEN) {
		memcpy(m->by_job, sqlite3_column_blob(q, 12), QL_JOB_ID_LEN);
		m->has_by_job = true;
	}
	m->updated_at = sqlite3_column_int64(q, 13);
	m->shared = sqlite3_column_int(q, 14) != 0;
}

static enum ql_err do_mit_query_locked(struct qa_store *st, enum qa_mit_query which,
                                       const void *key, int64_t now, struct qa_mitigation **out,
                                       size_t *n_out)
{
	static const char *const sql[] = {
		[QA_MQ_BY_JOB] = "SELECT " MIT_COLUMNS " FROM mitigations WHERE job_id = ?"
				 " ORDER BY created_at, rowid",
		[QA_MQ_HELD] = "SELECT " MIT_COLUMNS " FROM mitigations WHERE resource = ? AND"
			       " state IN ('pending', 'active', 'revert-failed')"
			       " ORDER BY created_at, rowid",
		/* pending too: only a failed settle leaves one between turns */
		[QA_MQ_DUE] = "SELECT " MIT_COLUMNS " FROM mitigations WHERE"
			      " state IN ('active', 'pending') AND"
			      " expires_at > 0 AND expires_at <= ? ORDER BY expires_at, rowid",
		[QA_MQ_UNSETTLED] = "SELECT " MIT_COLUMNS " FROM mitigations WHERE"
				    " state IN ('pending', 'reverting') ORDER BY created_at, rowid",
		[QA_MQ_BY_CAUSE] = "SELECT " MIT_COLUMNS " FROM mitigations WHERE by_job = ?"
				   " ORDER BY created_at, rowid",
	};
	static const int slot[] = {[QA_MQ_BY_JOB] = ST_MIT_BY_JOB,
	                           [QA_MQ_HELD] = ST_MIT_BY_RESOURCE,
	                           [QA_MQ_DUE] = ST_MIT_DUE,
	                           [QA_MQ_UNSETTLED] = ST_MIT_UNSETTLED,
	                           [QA_MQ_BY_CAUSE] = ST_MIT_BY_CAUSE};
	*out = NULL;
	*n_out = 0;
	sqlite3_stmt *q = ql_db_cached(st->db, &st->stmt[slot[which]], sql[which]);
	if (q == NULL)
		return db_fail(st, "prepare mitigation query");
	if (which == QA_MQ_BY_JOB || which == QA_MQ_BY_CAUSE)
		sqlite3_bind_blob(q, 1, key, QL_JOB_ID_LEN, SQLITE_STATIC);
	else if (which == QA_MQ_HELD)
		sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	else if (which == QA_MQ_DUE)
		sqlite3_bind_int64(q, 1, now);
	enum ql_err err = QL_OK;
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n_out == cap) {
			size_t want = cap ? 2 * cap : 4;
			struct qa_mitigation *grown = realloc(*out, want * sizeof **out);
			if (grown == NULL) {
				err = QL_ERR_NOMEM;
				break;
			}
			*out = grown;
			cap = want;
		}
		mit_row(q, &(*out)[(*n_out)++]);
	}
	if (err == QL_OK && rc != SQLITE_DONE)
		err = db_fail(st, "mitigation query");
	ql_db_release(q);
	if (err != QL_OK) {
		free(*out);
		*out = NULL;
		*n_out = 0;
	}
	return err;
}

static enum ql_err do_mit_next_expiry_locked(struct qa_store *st, int64_t *at)
{
	sqlite3_stmt *q = ql_db_cached(st->db, &st->stmt[ST_MIT_NEXT],
	                               "SELECT min(expires_at) FROM mitigations WHERE"
	                               " state IN ('active', 'pending') AND"
	                               " expires_at > 0");
	if (q == NULL)
		return db_fail(st, "prepare next expiry");
	int rc = sqlite3_step(q);
	*at = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	ql_db_release(q);
	return rc == SQLITE_ROW ? QL_OK : db_fail(st, "next expiry");
}

static enum ql_err do_event_add_locked(struct qa_store *st, const uint8_t *ev, size_t len)
{
	sqlite3_stmt *q = ql_db_cached(st->db, &st->stmt[ST_EVENT_ADD],
	                               "INSERT INTO events (event) VALUES (?)");
	if (q == NULL)
		return db_fail(st, "prepare event");
	sqlite3_bind_blob(q, 1, ev, (int)len, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	ql_db_release(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "record event");
}

static enum ql_err
do_events_locked(struct qa_store *st, int64_t after, size_t max,
                 void (*fn)(void *arg, int64_t id, const uint8_t *ev, size_t len), void *arg)
{
	sqlite3_stmt *q = ql_db_cached(st->db, &st->stmt[ST_EVENTS],
	                               "SELECT id, event FROM events WHERE id > ? ORDER BY id"
	                               " LIMIT ?");
	if (q == NULL)
		return db_fail(st, "prepare events");
	sqlite3_bind_int64(q, 1, after);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)max);
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		fn(arg, sqlite3_column_int64(q, 0), sqlite3_column_blob(q, 1),
		   (size_t)sqlite3_column_bytes(q, 1));
	ql_db_release(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "read events");
}

static enum ql_err do_events_ack_locked(struct qa_store *st, int64_t upto)
{
	sqlite3_stmt *q =
		ql_db_cached(st->db, &st->stmt[ST_EVENTS_ACK], "DELETE FROM events WHERE id <= ?");
	if (q == NULL)
		return db_fail(st, "prepare event ack");
	sqlite3_bind_int64(q, 1, upto);
	int rc = sqlite3_step(q);
	ql_db_release(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "acknowledge events");
}

static enum ql_err do_mit_delete_locked(struct qa_store *st, const uint8_t *job_id,
                                        const uint8_t *signer)
{
	sqlite3_stmt *q = ql_db_cached(st->db, &st->stmt[ST_MIT_DELETE],
	                               "DELETE FROM mitigations WHERE job_id = ? AND signer = ?");
	if (q == NULL)
		return db_fail(st, "prepare mitigation delete");
	sqlite3_bind_blob(q, 1, job_id, QL_JOB_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(q, 2, signer, QL_PUBKEY_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	ql_db_release(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(st, "delete mitigation");
}

enum ql_err qa_store_mit_delete(struct qa_store *st, const uint8_t *job_id, const uint8_t *signer)
{
	LOCKED(do_mit_delete_locked(st, job_id, signer));
}

enum ql_err qa_store_mit_put(struct qa_store *st, const struct qa_mitigation *m)
{
	LOCKED(do_mit_put_locked(st, m));
}

enum ql_err qa_store_mit_query(struct qa_store *st, enum qa_mit_query which, const void *key,
                               int64_t now, struct qa_mitigation **out, size_t *n)
{
	LOCKED(do_mit_query_locked(st, which, key, now, out, n));
}

enum ql_err qa_store_mit_next_expiry(struct qa_store *st, int64_t *at)
{
	LOCKED(do_mit_next_expiry_locked(st, at));
}

enum ql_err qa_store_event_add(struct qa_store *st, const uint8_t *ev, size_t len)
{
	LOCKED(do_event_add_locked(st, ev, len));
}

enum ql_err qa_store_events(struct qa_store *st, int64_t after, size_t max,
                            void (*fn)(void *arg, int64_t id, const uint8_t *ev, size_t len),
                            void *arg)
{
	LOCKED(do_events_locked(st, after, max, fn, arg));
}

enum ql_err qa_store_events_ack(struct qa_store *st, int64_t upto)
{
	LOCKED(do_events_ack_locked(st, upto));
}

enum ql_err qa_store_tx_begin(struct qa_store *st)
{
	pthread_mutex_lock(&st->lock);
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		enum ql_err err = db_fail(st, "begin");
		pthread_mutex_unlock(&st->lock);
		return err;
	}
	return QL_OK;
}

enum ql_err qa_store_tx_end(struct qa_store *st, bool commit)
{
	enum ql_err err = QL_OK;
	if (sqlite3_exec(st->db, commit ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK) {
		err = db_fail(st, commit ? "commit" : "rollback");
		if (commit)
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_unlock(&st->lock);
	return err;
}
