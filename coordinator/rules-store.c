/*
 * rules-store.c: what the automation engine keeps in the coordinator's store
 * (see rules-int.h): the pause switch (one row), and every host a rule
 * touched (rule_fires), from which cooldowns, windows and caps are counted,
 * so they survive a restart. The per-second queries are prepared once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "rules-int.h"
#include "store.h"

/* clang-format off */
static const char schema[] =
	"CREATE TABLE IF NOT EXISTS automation ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1), paused INTEGER NOT NULL,"
	"  by TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS rule_fires ("
	"  rule TEXT NOT NULL, host TEXT NOT NULL, job_id BLOB NOT NULL, at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS rule_fires_at ON rule_fires(rule, at);"
	"CREATE INDEX IF NOT EXISTS rule_fires_host ON rule_fires(rule, host, at);"
	"CREATE INDEX IF NOT EXISTS rule_fires_when ON rule_fires(at);";
/* clang-format on */

bool qr_store_init(struct qc *c, char *why, size_t whylen)
{
	char *msg = NULL;
	if (sqlite3_exec(qr_db(c), schema, NULL, NULL, &msg) == SQLITE_OK)
		return true;
	snprintf(why, whylen, "store: cannot create the automation tables: %s", msg ? msg : "?");
	sqlite3_free(msg);
	return false;
}

sqlite3 *qr_db(struct qc *c)
{
	return qc_store_db(c->store);
}

/*
 * One number from the store: the statement in slot, bound to (text, num) or
 * (text, text2, num). False on a store error: the caller holds back (every
 * limit fails closed).
 */
static bool scalar(struct qc *c, int slot, const char *sql, const char *text, const char *text2,
                   int64_t num, int64_t *out)
{
	sqlite3_stmt *q = ql_db_cached(qr_db(c), &c->rules->q[slot], sql);
	*out = 0;
	if (q == NULL) {
		ql_error("store: %s", sqlite3_errmsg(qr_db(c)));
		return false;
	}
	int i = 1;
	if (text)
		sqlite3_bind_text(q, i++, text, -1, SQLITE_STATIC);
	if (text2)
		sqlite3_bind_text(q, i++, text2, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, i, num);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(q, 0);
	else
		ql_error("store: %s", sqlite3_errmsg(qr_db(c)));
	ql_db_release(q);
	return rc == SQLITE_ROW;
}

bool qr_jobs_since(struct qc *c, int64_t since, int64_t *n)
{
	return scalar(c, Q_JOBS_SINCE, "SELECT count(DISTINCT job_id) FROM rule_fires WHERE at > ?",
	              NULL, NULL, since, n);
}

bool qr_hosts_since(struct qc *c, const char *rule, int64_t since, int64_t *n)
{
	return scalar(c, Q_RULE_HOSTS_SINCE,
	              "SELECT count(*) FROM rule_fires WHERE rule = ? AND at > ?", rule, NULL,
	              since, n);
}

/* Hosts the rule touched since `since` (their cooldown has not run out). */
bool qr_cooling(struct qc *c, const char *rule, int64_t since, int64_t *n)
{
	return scalar(c, Q_RULE_COOLING,
	              "SELECT count(DISTINCT host) FROM rule_fires WHERE rule = ? AND at > ?", rule,
	              NULL, since, n);
}

bool qr_last_fired(struct qc *c, const char *rule, int64_t *at)
{
	return scalar(c, Q_RULE_LAST,
	              "SELECT coalesce(max(at), 0) FROM rule_fires WHERE rule = ? AND ? >= 0", rule,
	              NULL, 0, at);
}

bool qr_host_last_fired(struct qc *c, const char *rule, const char *host, int64_t *at)
{
	return scalar(c, Q_HOST_LAST,
	              "SELECT coalesce(max(at), 0) FROM rule_fires WHERE rule = ? AND host = ?"
	              " AND ? >= 0",
	              rule, host, 0, at);
}

/*
 * Is the host covered for this rule? A running automated job there, an
 * automated mitigation in effect there (or whose revert failed), or this
 * rule's own mitigation there that an operator undid within the window: a
 * human took it back, the rule does not put it right back. Errors: covered.
 */
bool qr_covered(struct qc *c, const char *host, const char *rule)
{
	struct qc_job *job, *tmp;
	HASH_ITER (hh, c->jobs, job, tmp) {
		if (job->done || strcmp(job->operator_name, "automation") != 0)
			continue;
		for (size_t i = 0; i < job->n_hosts; i++)
			if (strcmp(job->hosts[i].hostname, host) == 0)
				return true;
	}
	char mine[QL_MAX_NAME + 8];
	snprintf(mine, sizeof mine, "rule %s:", rule); /* its jobs' reasons start so */
	int64_t n;
	return !scalar(c, Q_COVERED,
	               "SELECT count(*) FROM mitigation_hosts h JOIN mitigations m ON m.id = h.id"
	               " WHERE h.hostname = ? AND m.operator = 'automation' AND"
	               " (h.state IN ('active', 'revert-failed') OR"
	               "  (h.state = 'reverted' AND h.cause = 'undo' AND instr(m.reason, ?) = 1"
	               "   AND h.updated_at > ?))",
	               host, mine, ql_now() - c->rules->cfg->window_s, &n) ||
	       n > 0;
}

/* The hosts a job of the rule touches, written before the job exists: a
 * crash in between counts against the rule (its caps, its cooldown), never
 * for it. */
bool qr_record_fires(struct qc *c, const char *rule, char *const *hosts, size_t n,
                     const uint8_t id[QL_JOB_ID_LEN], int64_t now)
{
	sqlite3_stmt *q = NULL;
	bool ok = true;
	if (sqlite3_prepare_v2(
		    qr_db(c), "INSERT INTO rule_fires (rule, host, job_id, at) VALUES (?, ?, ?, ?)",
		    -1, &q, NULL) != SQLITE_OK) {
		ql_error("store: %s", sqlite3_errmsg(qr_db(c)));
		return false;
	}
	for (size_t i = 0; i < n && ok; i++) {
		sqlite3_bind_text(q, 1, rule, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, hosts[i], -1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 3, id, QL_JOB_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(q, 4, now);
		ok = sqlite3_step(q) == SQLITE_DONE;
		if (!ok)
			ql_error("store: %s", sqlite3_errmsg(qr_db(c)));
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	return ok;
}

/* The job was not created after all: its hosts do not count. */
void qr_forget_fires(struct qc *c, const uint8_t id[QL_JOB_ID_LEN])
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(qr_db(c), "DELETE FROM rule_fires WHERE job_id = ?", -1, &q, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_blob(q, 1, id, QL_JOB_ID_LEN, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE)
			ql_error("store: %s", sqlite3_errmsg(qr_db(c)));
	}
	sqlite3_finalize(q);
}

enum ql_err qr_save_pause(struct qc *c)
{
	struct qc_rules *R = c->rules;
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(qr_db(c),
	                       "INSERT OR REPLACE INTO automation (id, paused, by, reason, at)"
	                       " VALUES (1, ?, ?, ?, ?)",
	                       -1, &q, NULL) != SQLITE_OK)
		return QL_ERR_STORE;
	sqlite3_bind_int(q, 1, R->paused);
	sqlite3_bind_text(q, 2, R->paused_by, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, R->paused_reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, R->paused_at);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? QL_OK : QL_ERR_STORE;
}

void qr_load_pause(struct qc *c)
{
	struct qc_rules *R = c->rules;
	sqlite3_stmt *q = NULL;
	int rc = SQLITE_ERROR;
	if (sqlite3_prepare_v2(qr_db(c),
	                       "SELECT paused, by, reason, at FROM automation WHERE id = 1", -1, &q,
	                       NULL) != SQLITE_OK ||
	    ((rc = sqlite3_step(q)) != SQLITE_ROW && rc != SQLITE_DONE)) {
		/* Fail closed: not knowing whether someone paused it means paused. */
		R->paused = true;
		snprintf(R->paused_by, sizeof R->paused_by, "coordinator");
		snprintf(R->paused_reason, sizeof R->paused_reason,
		         "the switch could not be read from the store: %s",
		         sqlite3_errmsg(qr_db(c)));
		R->paused_at = ql_now();
		ql_error("automation paused: %s", R->paused_reason);
	}
	if (rc == SQLITE_ROW) {
		R->paused = sqlite3_column_int(q, 0) != 0;
		snprintf(R->paused_by, sizeof R->paused_by, "%s", sqlite3_column_text(q, 1));
		snprintf(R->paused_reason, sizeof R->paused_reason, "%s",
		         sqlite3_column_text(q, 2));
		R->paused_at = sqlite3_column_int64(q, 3);
	}
	sqlite3_finalize(q);
}
