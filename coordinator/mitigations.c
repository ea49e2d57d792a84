/*
 * mitigations.c: the fleet's view of mitigations (see mitigations.h).
 *
 * Agents own the truth: each keeps its own mitigations and reverts them
 * itself. What the coordinator knows comes from their signed events (in job
 * results, or on their own when a TTL ran out) and is kept per host. A
 * mitigation's row is written from the job that created it the first time a
 * host reports it; each host row only moves forward in time, so events that
 * arrive late or twice change nothing.
 */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "codec.h"
#include "db.h"
#include "envelope.h"
#include "history.h"
#include "log.h"
#include "mitigations.h"
#include "store.h"

/* clang-format off */
static const char schema[] =
	"CREATE TABLE IF NOT EXISTS mitigations ("
	"  id BLOB PRIMARY KEY, action TEXT NOT NULL, handle TEXT NOT NULL, args TEXT NOT NULL,"
	"  target TEXT NOT NULL, operator TEXT NOT NULL, reason TEXT NOT NULL,"
	"  incident TEXT NOT NULL, ttl INTEGER NOT NULL, created_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS mitigation_hosts ("
	"  id BLOB NOT NULL, hostname TEXT NOT NULL, state TEXT NOT NULL, cause TEXT NOT NULL,"
	"  expires_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, detail TEXT NOT NULL,"
	"  PRIMARY KEY (id, hostname));"
	"CREATE INDEX IF NOT EXISTS mitigation_hosts_host ON mitigation_hosts(hostname, state);";
/* clang-format on */

static const char *const states[] = {
	[QUELL__MITIGATION_STATE__MITIGATION_ACTIVE] = "active",
	[QUELL__MITIGATION_STATE__MITIGATION_REVERTED] = "reverted",
	[QUELL__MITIGATION_STATE__MITIGATION_REVERT_FAILED] = "revert-failed",
	[QUELL__MITIGATION_STATE__MITIGATION_REPLACED] = "replaced",
};

enum ql_err qc_mitigations_init(struct qc_store *st)
{
	char *msg = NULL;
	if (sqlite3_exec(qc_store_db(st), schema, NULL, NULL, &msg) != SQLITE_OK) {
		ql_error("store: cannot create the mitigation tables: %s", msg ? msg : "?");
		sqlite3_free(msg);
		return QL_ERR_STORE;
	}
	return QL_OK;
}

static enum ql_err db_fail(sqlite3 *db, const char *what)
{
	ql_error("store: %s: %s", what, sqlite3_errmsg(db));
	return QL_ERR_STORE;
}

/* ---- recording ------------------------------------------------------------------- */

/* The mitigation's own row, from the job that created it (once per job). */
static enum ql_err save_mitigation(struct qc *c, struct qc_job *job)
{
	sqlite3 *db = qc_store_db(c->store);
	struct qc_jobinfo ji;
	qc_jobinfo_live(&ji, job);
	const Quell__Command *cmd = ji.cmd;
	cJSON *args = cJSON_CreateObject();
	for (size_t i = 0; cmd && args && i < cmd->n_args; i++)
		cJSON_AddStringToObject(args, cmd->args[i]->key, cmd->args[i]->value);
	char *args_text = args ? cJSON_PrintUnformatted(args) : NULL;
	cJSON_Delete(args);
	sqlite3_stmt *q = NULL;
	enum ql_err err = QL_OK;
	if (args_text == NULL || cmd == NULL) {
		err = QL_ERR_NOMEM;
		goto out;
	}
	if (sqlite3_prepare_v2(
		    db,
		    "INSERT OR IGNORE INTO mitigations (id, action, handle, args, target,"
		    " operator, reason, incident, ttl, created_at)"
		    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    -1, &q, NULL) != SQLITE_OK) {
		err = db_fail(db, "prepare mitigation");
		goto out;
	}
	sqlite3_bind_blob(q, 1, job->id, QL_JOB_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, cmd->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, cmd->handle, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, args_text, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, cmd->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, job->operator_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, cmd->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 8, cmd->incident, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 9, cmd->ttl_seconds);
	sqlite3_bind_int64(q, 10, ql_now());
	if (sqlite3_step(q) != SQLITE_DONE)
		err = db_fail(db, "record mitigation");
out:
	sqlite3_finalize(q);
	cJSON_free(args_text);
	qc_jobinfo_fini(&ji);
	return err;
}

/* Its incident, for the audit record of an event no job caused; false if unknown. */
static bool mitigation_incident(sqlite3 *db, const uint8_t id[QL_JOB_ID_LEN], char *incident,
                                size_t len, char *what, size_t what_len)
{
	sqlite3_stmt *q = NULL;
	bool found = false;
	if (sqlite3_prepare_v2(db, "SELECT incident, action, handle FROM mitigations WHERE id = ?",
	                       -1, &q, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_blob(q, 1, id, QL_JOB_ID_LEN, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		snprintf(incident, len, "%s", (const char *)sqlite3_column_text(q, 0));
		snprintf(what, what_len, "%s %s", (const char *)sqlite3_column_text(q, 1),
		         (const char *)sqlite3_column_text(q, 2));
		found = true;
	}
	sqlite3_finalize(q);
	return found;
}

/* An event no job caused (a TTL ran out): into the audit log and the timeline. */
static void audit_event(struct qc *c, const struct qc_agent *a, const Quell__MitigationEvent *e)
{
	char incident[QL_MAX_INCIDENT + 1] = "", what[QL_MAX_ACTION + QL_MAX_HANDLE + 2] = "?";
	mitigation_incident(qc_store_db(c->store), e->mitigation.data, incident, sizeof incident,
	                    what, sizeof what);
	char hex[2 * QL_JOB_ID_LEN + 1], text[QL_MAX_DETAIL + 200];
	ql_hex(e->mitigation.data, QL_JOB_ID_LEN, hex);
	snprintf(text, sizeof text, "%s %.12s (%s) %s: %s", e->cause, hex, what, states[e->state],
	         e->detail);
	cJSON *d = cJSON_CreateObject();
	if (d) {
		cJSON_AddStringToObject(d, "mitigation", hex);
		cJSON_AddStringToObject(d, "state", states[e->state]);
		cJSON_AddStringToObject(d, "cause", e->cause);
		cJSON_AddNumberToObject(d, "at", (double)e->at);
		cJSON_AddStringToObject(d, "detail", e->detail);
	}
	char *data = d ? cJSON_PrintUnformatted(d) : NULL;
	cJSON_Delete(d);
	struct qc_audit_rec r = {.kind = "mitigation",
	                         .incident = incident,
	                         .job_id = e->mitigation.data,
	                         .host = a->hostname,
	                         .actor = a->hostname,
	                         .text = text,
	                         .data = data};
	if (qc_audit_append(c->store, &r) != QL_OK)
		ql_warn("could not write the audit record of a mitigation event from %s",
		        a->hostname);
	cJSON_free(data);
}

static bool host_known(struct qc *c, const uint8_t id[QL_JOB_ID_LEN], const char *hostname)
{
	sqlite3 *db = qc_store_db(c->store);
	sqlite3_stmt *q =
		ql_db_cached(db, &c->mit_host_known,
	                     "SELECT 1 FROM mitigation_hosts WHERE id = ? AND hostname = ?");
	if (q == NULL)
		return false;
	sqlite3_bind_blob(q, 1, id, QL_JOB_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, hostname, -1, SQLITE_STATIC);
	bool known = sqlite3_step(q) == SQLITE_ROW;
	ql_db_release(q);
	return known;
}

/* Record e for host a; *changed: it said something new (not a late or repeated event). */
static enum ql_err save_host(struct qc *c, const struct qc_agent *a,
                             const Quell__MitigationEvent *e, bool *changed)
{
	sqlite3 *db = qc_store_db(c->store);
	/* Only forward in time: a late or repeated event changes nothing. Times
	 * are seconds: within the same second an end is never undone by an
	 * "active" that arrives after it. */
	sqlite3_stmt *q = ql_db_cached(
		db, &c->mit_host_save,
		"INSERT INTO mitigation_hosts (id, hostname, state, cause, expires_at, updated_at,"
		" detail) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id, hostname) DO UPDATE SET"
		" state = excluded.state, cause = excluded.cause, expires_at = excluded.expires_at,"
		" updated_at = excluded.updated_at, detail = excluded.detail"
		" WHERE excluded.updated_at > mitigation_hosts.updated_at OR"
		" (excluded.updated_at = mitigation_hosts.updated_at AND"
		"  NOT (excluded.state = 'active' AND mitigation_hosts.state != 'active') AND"
		"  (excluded.state, excluded.cause, excluded.expires_at, excluded.detail) IS NOT"
		"  (mitigation_hosts.state, mitigation_hosts.cause, mitigation_hosts.expires_at,"
		"   mitigation_hosts.detail))");
	if (q == NULL)
		return db_fail(db, "prepare mitigation host");
	sqlite3_bind_blob(q, 1, e->mitigation.data, QL_JOB_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, a->hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, states[e->state], -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, e->cause, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, e->expires_at);
	sqlite3_bind_int64(q, 6, e->at);
	sqlite3_bind_text(q, 7, e->detail, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	*changed = rc == SQLITE_DONE && sqlite3_changes(db) > 0;
	ql_db_release(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(db, "record mitigation host");
}

bool qc_mitigations_apply(struct qc *c, const struct qc_agent *a, Quell__MitigationEvent *const *ev,
                          size_t n, bool in_result, struct qc_job *job)
{
	bool stored = true;
	for (size_t i = 0; i < n; i++) {
		const Quell__MitigationEvent *e = ev[i];
		/* A mitigation starts with a result of the job that created it, from a
		 * host that job targeted; anything else must be about a mitigation this
		 * host already reported, so an agent cannot write into other hosts'
		 * mitigations or other incidents' timelines. */
		bool own = job && memcmp(e->mitigation.data, job->id, QL_JOB_ID_LEN) == 0;
		if (own && !job->mitigation_saved) {
			if (save_mitigation(c, job) == QL_OK)
				job->mitigation_saved = true;
		}
		if (!own && !host_known(c, e->mitigation.data, a->hostname)) {
			ql_debug("event from %s for a mitigation it never reported; ignored",
			         a->hostname);
			continue;
		}
		bool changed = false;
		if (save_host(c, a, e, &changed) != QL_OK) {
			ql_warn("could not record a mitigation event from %s", a->hostname);
			stored = false;
		}
		/* A job's result is in the audit log already; an event sent again
		 * (the agent did not hear our answer) is not news. */
		if (!in_result && changed)
			audit_event(c, a, e);
	}
	return stored;
}

/* ---- undo and extend: which hosts ------------------------------------------------- */

bool qc_mitigation_id(const Quell__Command *cmd, uint8_t id[QL_JOB_ID_LEN])
{
	if (strcmp(cmd->action, "undo") != 0 && strcmp(cmd->action, "extend") != 0)
		return false;
	if (cmd->n_args != 1 || strcmp(cmd->args[0]->key, "mitigation") != 0 ||
	    strlen(cmd->args[0]->value) != 2 * QL_JOB_ID_LEN)
		return false;
	return ql_unhex(cmd->args[0]->value, id, QL_JOB_ID_LEN);
}

enum ql_err qc_mitigation_hosts(struct qc *c, const uint8_t id[QL_JOB_ID_LEN], bool active_only,
                                void (*fn)(void *arg, const char *hostname), void *arg)
{
	sqlite3 *db = qc_store_db(c->store);
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(db,
	                       active_only
	                               ? "SELECT hostname FROM mitigation_hosts WHERE id = ? AND"
	                                 " state IN ('active', 'revert-failed')"
	                               : "SELECT hostname FROM mitigation_hosts WHERE id = ?",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_fail(db, "prepare mitigation hosts");
	sqlite3_bind_blob(q, 1, id, QL_JOB_ID_LEN, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? QL_OK : db_fail(db, "mitigation hosts");
}

/* ---- quell mitigations ------------------------------------------------------------ */

/* One MitigationInfo and the strings it points into. */
struct info {
	Quell__MitigationInfo m;
	uint8_t id[QL_JOB_ID_LEN];
	char *text[6]; /* action, handle, target, operator, reason, incident */
	Quell__Arg *args;
	Quell__Arg **argp;
	Quell__MitigationHost *hosts;
	Quell__MitigationHost **hostp;
	char **host_text; /* 3 per host: hostname, state+cause, detail */
};

static void info_fini(struct info *in)
{
	for (size_t i = 0; i < 6; i++)
		free(in->text[i]);
	for (size_t i = 0; i < in->m.n_args; i++) {
		free(in->args[i].key);
		free(in->args[i].value);
	}
	free(in->args);
	free(in->argp);
	for (size_t i = 0; in->host_text && i < 4 * in->m.n_hosts; i++)
		free(in->host_text[i]);
	free(in->host_text);
	free(in->hosts);
	free(in->hostp);
}

static char *col(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);
	return strdup(t ? (const char *)t : "");
}

static bool take_args(struct info *in, const char *json)
{
	cJSON *o = cJSON_Parse(json);
	size_t n = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, o) n += cJSON_IsString(it) && n < QL_MAX_ARGS;
	in->args = calloc(n ? n : 1, sizeof *in->args);
	in->argp = calloc(n ? n : 1, sizeof *in->argp);
	bool ok = o != NULL && in->args && in->argp;
	cJSON_ArrayForEach(it, o)
	{
		if (!ok || !cJSON_IsString(it) || in->m.n_args == n)
			continue;
		Quell__Arg *a = &in->args[in->m.n_args];
		quell__arg__init(a);
		a->key = strdup(it->string);
		a->value = strdup(it->valuestring);
		in->argp[in->m.n_args++] = a;
		ok = a->key && a->value;
	}
	in->m.args = in->argp;
	cJSON_Delete(o);
	return ok;
}

static enum ql_err take_hosts(sqlite3 *db, struct info *in)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(db,
	                       "SELECT hostname, state, cause, expires_at, updated_at, detail"
	                       " FROM mitigation_hosts WHERE id = ? ORDER BY hostname",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_fail(db, "prepare mitigation hosts");
	sqlite3_bind_blob(q, 1, in->id, QL_JOB_ID_LEN, SQLITE_STATIC);
	size_t cap = 0;
	enum ql_err err = QL_OK;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		size_t n = in->m.n_hosts;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			Quell__MitigationHost *h = realloc(in->hosts, cap * sizeof *h);
			Quell__MitigationHost **hp =
				h ? realloc(in->hostp, cap * sizeof *hp) : NULL;
			char **ht = hp ? realloc(in->host_text, 4 * cap * sizeof *ht) : NULL;
			if (h)
				in->hosts = h;
			if (hp)
				in->hostp = hp;
			if (ht)
				in->host_text = ht;
			if (!h || !hp || !ht) {
				err = QL_ERR_NOMEM;
				break;
			}
		}
		Quell__MitigationHost *h = &in->hosts[n];
		quell__mitigation_host__init(h);
		char **t = &in->host_text[4 * n];
		t[0] = col(q, 0);
		t[1] = col(q, 1);
		t[2] = col(q, 2);
		t[3] = col(q, 5);
		in->m.n_hosts = n + 1;
		if (!t[0] || !t[1] || !t[2] || !t[3]) {
			err = QL_ERR_NOMEM;
			break;
		}
		h->hostname = t[0];
		h->state = t[1];
		h->cause = t[2];
		h->detail = t[3];
		h->expires_at = sqlite3_column_int64(q, 3);
		h->updated_at = sqlite3_column_int64(q, 4);
	}
	/* the hosts array may have moved while growing */
	for (size_t i = 0; err == QL_OK && i < in->m.n_hosts; i++)
		in->hostp[i] = &in->hosts[i];
	in->m.hosts = in->hostp;
	if (err == QL_OK && rc != SQLITE_DONE)
		err = db_fail(db, "mitigation hosts");
	sqlite3_finalize(q);
	return err;
}

/* clang-format off */
static const char list_sql[] =
	"SELECT m.id, m.action, m.handle, m.args, m.target, m.operator, m.reason, m.incident,"
	"  m.ttl, m.created_at,"
	"  sum(h.state = 'active'), sum(h.state = 'reverted'), sum(h.state = 'revert-failed'),"
	"  sum(h.state = 'replaced'),"
	"  max(CASE WHEN h.state = 'active' THEN h.expires_at ELSE 0 END),"
	"  min(CASE WHEN h.state = 'active' AND h.expires_at > 0 THEN 0 ELSE 1 END)"
	" FROM mitigations m JOIN mitigation_hosts h ON h.id = m.id"
	" WHERE (?1 = '' OR lower(hex(m.id)) LIKE ?1 || '%')"
	" GROUP BY m.id"
	" HAVING ?2 OR sum(h.state IN ('active', 'revert-failed')) > 0"
	" ORDER BY m.created_at DESC, m.rowid DESC LIMIT ?3";
/* clang-format on */

void qc_mitigations_list(struct qc *c, struct qc_rctx *rc, const Quell__ListMitigations *req)
{
	sqlite3 *db = qc_store_db(c->store);
	sqlite3_stmt *q = NULL;
	struct info *infos = calloc(req->limit, sizeof *infos);
	Quell__MitigationInfo **ptrs = calloc(req->limit, sizeof *ptrs);
	size_t n = 0;
	const char *code = NULL, *why = NULL;
	bool by_id = req->id[0] != '\0';
	if (infos == NULL || ptrs == NULL) {
		code = "no-memory", why = "coordinator out of memory";
		goto out;
	}
	if (sqlite3_prepare_v2(db, list_sql, -1, &q, NULL) != SQLITE_OK) {
		db_fail(db, "prepare mitigation list");
		code = "store", why = "coordinator store failed";
		goto out;
	}
	sqlite3_bind_text(q, 1, req->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, req->all || by_id); /* one by id: whatever its state */
	sqlite3_bind_int(q, 3, (int)(by_id ? 2 : req->limit));
	int r;
	while ((r = sqlite3_step(q)) == SQLITE_ROW && n < req->limit) {
		struct info *in = &infos[n++];
		Quell__MitigationInfo *m = &in->m;
		quell__mitigation_info__init(m);
		if (sqlite3_column_bytes(q, 0) == QL_JOB_ID_LEN)
			memcpy(in->id, sqlite3_column_blob(q, 0), QL_JOB_ID_LEN);
		m->id.data = in->id;
		m->id.len = QL_JOB_ID_LEN;
		static const int text_cols[] = {1, 2, 4, 5, 6, 7};
		for (size_t i = 0; i < 6; i++)
			in->text[i] = col(q, text_cols[i]);
		if (!in->text[0] || !in->text[1] || !in->text[2] || !in->text[3] || !in->text[4] ||
		    !in->text[5] || !take_args(in, (const char *)sqlite3_column_text(q, 3))) {
			code = "no-memory", why = "coordinator out of memory";
			goto out;
		}
		m->action = in->text[0];
		m->handle = in->text[1];
		m->target = in->text[2];
		m->operator_name = in->text[3];
		m->reason = in->text[4];
		m->incident = in->text[5];
		m->ttl_seconds = (uint32_t)sqlite3_column_int64(q, 8);
		m->since = sqlite3_column_int64(q, 9);
		m->active = (uint32_t)sqlite3_column_int64(q, 10);
		m->reverted = (uint32_t)sqlite3_column_int64(q, 11);
		m->revert_failed = (uint32_t)sqlite3_column_int64(q, 12);
		m->replaced = (uint32_t)sqlite3_column_int64(q, 13);
		/* Some active host has no TTL: it does not end by itself. */
		m->expires_at = sqlite3_column_int64(q, 15) ? 0 : sqlite3_column_int64(q, 14);
		ptrs[n - 1] = m;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE) {
		db_fail(db, "mitigation list");
		code = "store", why = "coordinator store failed";
		goto out;
	}
	if (by_id && n == 0) {
		code = "not-found", why = "no mitigation with this id";
		goto out;
	}
	if (by_id && n > 1) {
		code = "ambiguous",
		why = "more than one mitigation id starts with this; give more digits";
		goto out;
	}
	if (by_id && take_hosts(db, &infos[0]) != QL_OK) {
		code = "store", why = "coordinator store failed";
		goto out;
	}
	Quell__ControlReply reply = QUELL__CONTROL_REPLY__INIT;
	reply.ok = true;
	reply.mitigations = ptrs;
	reply.n_mitigations = n;
	qc_control_send(rc, &reply);
out:
	if (code)
		qc_control_fail(rc, code, why);
	sqlite3_finalize(q);
	for (size_t i = 0; infos && i < n; i++)
		info_fini(&infos[i]);
	free(infos);
	free(ptrs);
}
