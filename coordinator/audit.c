/*
 * audit.c: the coordinator's audit log (see audit.h): one table, audit_log,
 * in coordinator.db, where every record carries the hash of the record
 * before it. The newest record's seq and hash (the head) are kept in memory
 * from the moment the store opens, so an append is one prepared INSERT.
 *
 * The hash of a record, so that anyone can check the chain with another
 * tool (sqlite3 and b2sum, Python's hashlib.blake2b(digest_size=32), ...):
 *
 *   hash = BLAKE2b-256 (unkeyed, 32-byte digest) of the concatenation
 *
 *     prev_hash   32 bytes: the previous record's hash (32 zero bytes for seq 1)
 *     seq         8 bytes, unsigned, big-endian
 *     at_ms       8 bytes, two's complement, big-endian (unix milliseconds)
 *     kind, incident, job_id, host, actor, text, data, in this order, each as
 *                 a 4-byte big-endian length L and then the L bytes of the
 *                 column (UTF-8 for text, the 16 raw bytes of job_id);
 *                 a NULL column (incident, job_id, host) is the length
 *                 0xffffffff and no bytes, so NULL and "" differ
 *
 * Seqs start at 1 and go up by one, never reused.
 *
 * What the chain detects: a record whose content was changed (its hash no
 * longer matches), a record removed from the middle (a gap in seq, and the
 * next prev_hash no longer matches), a record rewritten together with its
 * hash (the next record's prev_hash no longer matches). What it cannot
 * detect from the log alone: the newest records removed (the log simply
 * ends earlier), or the whole log rewritten from some record on by someone
 * who can write the database. While a coordinator runs it compares the log
 * with the head it keeps in memory, which catches the first case until it
 * restarts; beyond that, `quell audit verify` prints the head hash so
 * operators can keep it somewhere the coordinator's host cannot write.
 */
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "codec.h"
#include "db.h"
#include "log.h"
#include "store.h"

struct qc_audit {
	sqlite3 *db;
	sqlite3_stmt *insert; /* prepared once: it runs for every host's result */
	uint64_t seq;         /* the newest record's seq; 0: none yet */
	uint8_t head[QL_HASH_LEN];
};

/* clang-format off */
static const char schema[] =
	"CREATE TABLE IF NOT EXISTS audit_log ("
	"  seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, kind TEXT NOT NULL, incident TEXT,"
	"  job_id BLOB, host TEXT, actor TEXT NOT NULL, text TEXT NOT NULL, data TEXT NOT NULL,"
	"  prev_hash BLOB NOT NULL, hash BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS audit_log_incident ON audit_log (incident, seq);";
/* clang-format on */

#define COLUMNS "seq, at_ms, kind, incident, job_id, host, actor, text, data"

/* The hashed columns after seq and at_ms, in hash order. */
enum { F_KIND, F_INCIDENT, F_JOB_ID, F_HOST, F_ACTOR, F_TEXT, F_DATA, F__COUNT };
struct field {
	const void *p; /* NULL: the column is NULL */
	size_t n;
};

static void put_be(crypto_generichash_state *s, uint64_t v, size_t bytes)
{
	uint8_t b[8];
	for (size_t i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	crypto_generichash_update(s, b, bytes);
}

static void record_hash(const uint8_t prev[QL_HASH_LEN], uint64_t seq, int64_t at_ms,
                        const struct field f[F__COUNT], uint8_t out[QL_HASH_LEN])
{
	crypto_generichash_state s;
	crypto_generichash_init(&s, NULL, 0, QL_HASH_LEN);
	crypto_generichash_update(&s, prev, QL_HASH_LEN);
	put_be(&s, seq, 8);
	put_be(&s, (uint64_t)at_ms, 8);
	for (size_t i = 0; i < F__COUNT; i++) {
		put_be(&s, f[i].p ? (uint32_t)f[i].n : 0xffffffffu, 4);
		if (f[i].p && f[i].n)
			crypto_generichash_update(&s, f[i].p, f[i].n);
	}
	crypto_generichash_final(&s, out, QL_HASH_LEN);
}

static enum ql_err db_fail(sqlite3 *db, const char *what)
{
	ql_error("audit log: %s: %s", what, sqlite3_errmsg(db));
	return QL_ERR_STORE;
}

/* The head as stored: the newest record's seq and hash. */
static enum ql_err load_head(struct qc_audit *a)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(a->db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_fail(a->db, "prepare head");
	int rc = sqlite3_step(q);
	a->seq = 0;
	memset(a->head, 0, sizeof a->head);
	if (rc == SQLITE_ROW) {
		sqlite3_int64 seq = sqlite3_column_int64(q, 0);
		a->seq = seq > 0 ? (uint64_t)seq : 0;
		/* A malformed hash is verify's to report; appends chain on what is there. */
		if (sqlite3_column_bytes(q, 1) == QL_HASH_LEN)
			memcpy(a->head, sqlite3_column_blob(q, 1), QL_HASH_LEN);
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? QL_OK : db_fail(a->db, "read head");
}

enum ql_err qc_audit_open(struct sqlite3 *db, struct qc_audit **out)
{
	*out = NULL;
	struct qc_audit *a = calloc(1, sizeof *a);
	if (a == NULL)
		return QL_ERR_NOMEM;
	a->db = db;
	char *msg = NULL;
	if (sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		ql_error("audit log: cannot create its table: %s", msg ? msg : "?");
		sqlite3_free(msg);
		free(a);
		return QL_ERR_STORE;
	}
	enum ql_err err = load_head(a);
	if (err != QL_OK) {
		free(a);
		return err;
	}
	*out = a;
	return QL_OK;
}

void qc_audit_close(struct qc_audit *a)
{
	if (a == NULL)
		return;
	sqlite3_finalize(a->insert);
	free(a);
}

/* The longest prefix of s, at most max bytes, that does not split a UTF-8 sequence. */
static size_t utf8_prefix(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

static bool kind_ok(const char *k)
{
	if (k == NULL)
		return false;
	size_t n = strlen(k);
	return n >= 1 && n <= 31 && strspn(k, "abcdefghijklmnopqrstuvwxyz-") == n;
}

enum ql_err qc_audit_append(struct qc_store *st, const struct qc_audit_rec *r)
{
	struct qc_audit *a = qc_store_audit_log(st);
	const char *incident = r->incident && r->incident[0] ? r->incident : NULL;
	const char *data = r->data ? r->data : "{}";
	if (!kind_ok(r->kind) || (incident && !ql_ident_ok(incident, QL_MAX_INCIDENT)) ||
	    (r->host && !ql_hostname_ok(r->host)) || r->actor == NULL || r->text == NULL)
		return QL_ERR_BAD_ARGUMENT;
	/* Within what a timeline reply may carry (codec.c); an operator's long
	 * arguments can make a submit's text or data longer. */
	size_t text_len = utf8_prefix(r->text, QC_AUDIT_MAX_TEXT);
	size_t actor_len = utf8_prefix(r->actor, QC_AUDIT_MAX_ACTOR);
	if (strlen(data) > QC_AUDIT_MAX_DATA)
		data = "{\"truncated\":true}";
	struct field f[F__COUNT] = {
		[F_KIND] = {r->kind, strlen(r->kind)},
		[F_INCIDENT] = {incident, incident ? strlen(incident) : 0},
		[F_JOB_ID] = {r->job_id, r->job_id ? QL_JOB_ID_LEN : 0},
		[F_HOST] = {r->host, r->host ? strlen(r->host) : 0},
		[F_ACTOR] = {r->actor, actor_len},
		[F_TEXT] = {r->text, text_len},
		[F_DATA] = {data, strlen(data)},
	};
	uint64_t seq = a->seq + 1;
	int64_t at_ms = qc_now_ms();
	uint8_t hash[QL_HASH_LEN];
	record_hash(a->head, seq, at_ms, f, hash);

	sqlite3_stmt *q = ql_db_cached(a->db, &a->insert,
	                               "INSERT INTO audit_log (" COLUMNS ", prev_hash, hash)"
	                               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (q == NULL)
		return db_fail(a->db, "prepare append");
	sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
	sqlite3_bind_int64(q, 2, at_ms);
	sqlite3_bind_text(q, 3, r->kind, -1, SQLITE_STATIC);
	if (incident)
		sqlite3_bind_text(q, 4, incident, -1, SQLITE_STATIC);
	if (r->job_id)
		sqlite3_bind_blob(q, 5, r->job_id, QL_JOB_ID_LEN, SQLITE_STATIC);
	if (r->host)
		sqlite3_bind_text(q, 6, r->host, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, r->actor, (int)actor_len, SQLITE_STATIC);
	sqlite3_bind_text(q, 8, r->text, (int)text_len, SQLITE_STATIC);
	sqlite3_bind_text(q, 9, data, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 10, a->head, QL_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(q, 11, hash, QL_HASH_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	ql_db_release(q);
	if (rc != SQLITE_DONE) {
		enum ql_err err = db_fail(a->db, "append");
		/* Someone else wrote to the log? Chain on to what is really there. */
		if (load_head(a) != QL_OK)
			ql_warn("audit log: cannot reload its head");
		return err;
	}
	a->seq = seq;
	memcpy(a->head, hash, QL_HASH_LEN);
	return QL_OK;
}

static const char *col_text(sqlite3_stmt *q, int col)
{
	const unsigned char *t = sqlite3_column_text(q, col);
	return t ? (const char *)t : "";
}

enum ql_err qc_audit_timeline(struct qc_store *st, const char *incident, uint64_t after,
                              uint32_t limit, void (*fn)(void *arg, const struct qc_audit_row *r),
                              void *arg, bool *more)
{
	struct qc_audit *a = qc_store_audit_log(st);
	sqlite3_stmt *q = NULL;
	*more = false;
	if (sqlite3_prepare_v2(a->db,
	                       "SELECT " COLUMNS " FROM audit_log WHERE incident = ? AND seq > ?"
	                       " ORDER BY seq LIMIT ?",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_fail(a->db, "prepare timeline");
	sqlite3_bind_text(q, 1, incident, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, after > INT64_MAX ? INT64_MAX : (sqlite3_int64)after);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)limit + 1); /* one more: is there more? */
	int rc;
	uint32_t n = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (n == limit) {
			*more = true;
			break;
		}
		struct qc_audit_row row = {0};
		row.seq = (uint64_t)sqlite3_column_int64(q, 0);
		row.at_ms = sqlite3_column_int64(q, 1);
		row.kind = col_text(q, 2);
		row.incident = col_text(q, 3);
		if (sqlite3_column_bytes(q, 4) == QL_JOB_ID_LEN) {
			memcpy(row.job_id, sqlite3_column_blob(q, 4), QL_JOB_ID_LEN);
			row.has_job_id = true;
		}
		row.host = sqlite3_column_type(q, 5) == SQLITE_NULL ? NULL : col_text(q, 5);
		row.actor = col_text(q, 6);
		row.text = col_text(q, 7);
		row.data = col_text(q, 8);
		fn(arg, &row);
		n++;
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? QL_OK : db_fail(a->db, "read timeline");
}

/* "2026-11-25 14:03:07.123Z" */
static void fmt_ms(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (ms < 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "time %lld", (long long)ms);
		return;
	}
	char day[32];
	strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", day, (int)(ms % 1000));
}

/* The problem with the record q is on (kind and time as stored), as a sentence. */
static void problem(struct qc_audit_report *rep, sqlite3_stmt *q, const char *fmt, ...)
	QL_PRINTF(3, 4);

static void problem(struct qc_audit_report *rep, sqlite3_stmt *q, const char *fmt, ...)
{
	char when[48], what[160];
	fmt_ms(sqlite3_column_int64(q, 1), when, sizeof when);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	rep->intact = false;
	rep->first_bad = (uint64_t)sqlite3_column_int64(q, 0);
	const char *kind = col_text(q, 2);
	snprintf(rep->problem, sizeof rep->problem, "record %llu (%.31s, %s) %s",
	         (unsigned long long)rep->first_bad, kind_ok(kind) ? kind : "?", when, what);
}

/* Check the record q is on against the one before it (prev_seq, prev). */
static void check_row(struct qc_audit_report *rep, sqlite3_stmt *q, uint64_t prev_seq,
                      const uint8_t prev[QL_HASH_LEN])
{
	uint64_t seq = (uint64_t)sqlite3_column_int64(q, 0);
	if (seq != prev_seq + 1) {
		unsigned long long from = prev_seq + 1, to = seq - 1;
		char gone[96];
		if (seq <= prev_seq) /* an edited seq: out of order or repeated */
			snprintf(gone, sizeof gone, "its seq is not after record %llu's",
			         (unsigned long long)prev_seq);
		else if (from == to)
			snprintf(gone, sizeof gone, "record %llu was removed", from);
		else
			snprintf(gone, sizeof gone, "records %llu to %llu were removed", from, to);
		if (prev_seq == 0)
			problem(rep, q, "is the first in the log: %s", gone);
		else
			problem(rep, q, "follows record %llu: %s", (unsigned long long)prev_seq,
			        gone);
		return;
	}
	if (sqlite3_column_bytes(q, 9) != QL_HASH_LEN ||
	    sqlite3_column_bytes(q, 10) != QL_HASH_LEN) {
		problem(rep, q, "has a malformed prev_hash or hash (not 32 bytes)");
		return;
	}
	if (sodium_memcmp(sqlite3_column_blob(q, 9), prev, QL_HASH_LEN) != 0) {
		if (seq == 1)
			problem(rep, q, "does not start the chain: its prev_hash is not all zeros");
		else
			problem(rep, q,
			        "does not chain to record %llu: its prev_hash is not that record's "
			        "hash (record %llu was rewritten with a new hash)",
			        (unsigned long long)prev_seq, (unsigned long long)prev_seq);
		return;
	}
	struct field f[F__COUNT];
	for (int i = 0; i < F__COUNT; i++) {
		int col = 2 + i;
		bool blob = i == F_JOB_ID;
		f[i].p = sqlite3_column_type(q, col) == SQLITE_NULL ? NULL
		         : blob                                     ? sqlite3_column_blob(q, col)
		                : (const void *)sqlite3_column_text(q, col);
		f[i].n = (size_t)sqlite3_column_bytes(q, col);
		if (f[i].p == NULL && sqlite3_column_type(q, col) != SQLITE_NULL)
			f[i].p = ""; /* an empty blob */
	}
	uint8_t h[QL_HASH_LEN];
	record_hash(prev, seq, sqlite3_column_int64(q, 1), f, h);
	if (sodium_memcmp(h, sqlite3_column_blob(q, 10), QL_HASH_LEN) != 0)
		problem(rep, q, "does not match its hash: it was changed after it was written");
}

/* The log as stored against the head this coordinator keeps in memory. */
static void check_tail(struct qc_audit_report *rep, const struct qc_audit *a, uint64_t last)
{
	if (!rep->intact || a->seq < last)
		return;
	if (a->seq > last) {
		rep->intact = false;
		rep->first_bad = last + 1;
		snprintf(
			rep->problem, sizeof rep->problem,
			"the log ends at record %llu, but this coordinator wrote records up to %llu:"
			" the newest records were removed",
			(unsigned long long)last, (unsigned long long)a->seq);
	} else if (last > 0 && sodium_memcmp(a->head, rep->head, QL_HASH_LEN) != 0) {
		rep->intact = false;
		rep->first_bad = last;
		snprintf(rep->problem, sizeof rep->problem,
		         "record %llu is not the record this coordinator wrote last: it was "
		         "rewritten with a new hash",
		         (unsigned long long)last);
	}
}

enum ql_err qc_audit_verify(struct qc_store *st, struct qc_audit_report *rep)
{
	struct qc_audit *a = qc_store_audit_log(st);
	sqlite3_stmt *q = NULL;
	memset(rep, 0, sizeof *rep);
	rep->intact = true;
	if (sqlite3_prepare_v2(a->db,
	                       "SELECT " COLUMNS ", prev_hash, hash FROM audit_log ORDER BY seq",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_fail(a->db, "prepare verify");
	uint8_t prev[QL_HASH_LEN] = {0};
	uint64_t prev_seq = 0;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		rep->records++;
		if (rep->intact)
			check_row(rep, q, prev_seq, prev);
		/* Go on from the record as stored: the report names the first problem only. */
		prev_seq = (uint64_t)sqlite3_column_int64(q, 0);
		memset(prev, 0, sizeof prev);
		if (sqlite3_column_bytes(q, 10) == QL_HASH_LEN)
			memcpy(prev, sqlite3_column_blob(q, 10), QL_HASH_LEN);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return db_fail(a->db, "read the log");
	memcpy(rep->head, prev, QL_HASH_LEN);
	check_tail(rep, a, prev_seq);
	return QL_OK;
}
