/*
 * rules.c: the automation engine (see rules.h).
 *
 * Once a second the health rules look at the agents' last reported checks;
 * alert rules look at each batch the webhook accepted. A rule that wants to
 * act goes through fire(), which applies every limit in order and says, in
 * the log, the audit log and `quell automation status`, why it held back:
 *
 *   1. automation paused (fleet-wide, persisted)
 *   2. the fleet's cap on automated jobs per window
 *   3. hosts an automated mitigation (or a running automated job) covers
 *   4. the rule's cap on hosts per window (the first hosts by name go)
 *
 * then signs one job with the automation key (reason: the rule's name,
 * TTL: the rule's) and submits it like an operator's. Cooldowns are checked
 * before fire() (per rule; per host for local rules). What the automated
 * job may actually do is each agent's policy for the automation key.
 *
 * State that must survive a restart is in the store: the pause switch, and
 * every host a rule touched (rule_fires: cooldowns, windows, caps).
 */
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "audit.h"
#include "codec.h"
#include "db.h"
#include "envelope.h"
#include "history.h"
#include "keys.h"
#include "log.h"
#include "rules.h"
#include "selector.h"
#include "store.h"

#define EVAL_EVERY_MS 1000
#define JOB_LIFETIME_S 60 /* an automated command's validity: delivery, not the TTL */

/* clang-format off */
static const char schema[] =
	"CREATE TABLE IF NOT EXISTS automation ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1), paused INTEGER NOT NULL,"
	"  by TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS rule_fires ("
	"  rule TEXT NOT NULL, host TEXT NOT NULL, job_id BLOB NOT NULL, at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS rule_fires_at ON rule_fires(rule, at);";
/* clang-format on */

struct rule_state {
	char last_held[512];
	int64_t last_held_at;
};

struct qc_rules {
	const struct qc_automation_config *cfg;
	struct ql_secret_key *key;
	struct rule_state *st;
	int64_t next_eval_ms;
	bool paused;
	char paused_by[QL_MAX_NAME + 1], paused_reason[QL_MAX_REASON + 1];
	int64_t paused_at;
};

static sqlite3 *db_of(struct qc *c)
{
	return qc_store_db(c->store);
}

/* ---- what the store knows ---------------------------------------------------------- */

static int64_t scalar(struct qc *c, const char *sql, const char *text, int64_t num)
{
	sqlite3_stmt *q = NULL;
	int64_t v = 0;
	if (sqlite3_prepare_v2(db_of(c), sql, -1, &q, NULL) != SQLITE_OK) {
		ql_error("store: %s", sqlite3_errmsg(db_of(c)));
		return 0;
	}
	int i = 1;
	if (text)
		sqlite3_bind_text(q, i++, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, i, num);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static int64_t automated_jobs_since(struct qc *c, int64_t since)
{
	return scalar(c, "SELECT count(DISTINCT job_id) FROM rule_fires WHERE at > ?", NULL, since);
}

static int64_t rule_hosts_since(struct qc *c, const char *rule, int64_t since)
{
	return scalar(c, "SELECT count(*) FROM rule_fires WHERE rule = ? AND at > ?", rule, since);
}

static int64_t rule_last_fired(struct qc *c, const char *rule)
{
	return scalar(c, "SELECT coalesce(max(at), 0) FROM rule_fires WHERE rule = ? AND ? >= 0",
	              rule, 0);
}

static int64_t host_last_fired(struct qc *c, const char *rule, const char *host)
{
	sqlite3_stmt *q = NULL;
	int64_t v = 0;
	if (sqlite3_prepare_v2(db_of(c),
	                       "SELECT coalesce(max(at), 0) FROM rule_fires WHERE rule = ? AND "
	                       "host = ?",
	                       -1, &q, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(q, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, host, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* Is the host covered by automation already: an active automated mitigation, or a running job? */
static bool covered(struct qc *c, const char *host)
{
	struct qc_job *job, *tmp;
	HASH_ITER (hh, c->jobs, job, tmp) {
		if (job->done || strcmp(job->operator_name, "automation") != 0)
			continue;
		for (size_t i = 0; i < job->n_hosts; i++)
			if (strcmp(job->hosts[i].hostname, host) == 0)
				return true;
	}
	return scalar(c,
	              "SELECT count(*) FROM mitigation_hosts h JOIN mitigations m ON m.id = h.id"
	              " WHERE h.hostname = ? AND h.state = 'active' AND m.operator = 'automation'"
	              " AND ? >= 0",
	              host, 0) > 0;
}

/* ---- acting ------------------------------------------------------------------------ */

static void held(struct qc *c, size_t ri, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A limit stopped (part of) a rule: the log, the status, the audit log (its incident). */
static void held(struct qc *c, size_t ri, const char *fmt, ...)
{
	struct qc_rules *R = c->rules;
	const struct qc_rule_config *r = &R->cfg->rules[ri];
	struct rule_state *s = &R->st[ri];
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	/* Once per reason until something changes: a rule held back every second
	 * would flood the audit log. */
	if (strcmp(s->last_held, text) == 0)
		return;
	snprintf(s->last_held, sizeof s->last_held, "%s", text);
	s->last_held_at = ql_now();
	ql_warn("rule %s held back: %s", r->name, text);
	char line[640];
	snprintf(line, sizeof line, "rule %s held back: %s", r->name, text);
	struct qc_audit_rec rec = {.kind = "rule",
	                           .incident = r->incident ? r->incident : r->name,
	                           .actor = "automation",
	                           .text = line,
	                           .data = NULL};
	if (qc_audit_append(c->store, &rec) != QL_OK)
		ql_warn("could not write the audit record of rule %s", r->name);
}

/* "host=a|b|c": a selector naming these hosts (at most QC_RULE_MAX_HOSTS). */
static bool host_selector(char *const *hosts, size_t n, char *out, size_t len)
{
	size_t off = (size_t)snprintf(out, len, "host=");
	for (size_t i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s", i ? "|" : "", hosts[i]);
	return off < len && ql_selector_check(out) == QL_OK;
}

/* Sign and submit the rule's command for `target`; its job id into id. */
static enum ql_err submit(struct qc *c, const struct qc_rule_config *r, const char *target,
                          const char *why, uint8_t id[QL_JOB_ID_LEN], size_t *n_hosts)
{
	Quell__Arg args[QL_MAX_ARGS], *argp[QL_MAX_ARGS];
	for (size_t i = 0; i < r->n_args; i++) {
		quell__arg__init(&args[i]);
		args[i].key = r->args[i].key;
		args[i].value = r->args[i].value;
		argp[i] = &args[i];
	}
	char reason[QL_MAX_REASON];
	snprintf(reason, sizeof reason, "rule %s: %s", r->name, why);
	Quell__Command cmd = QUELL__COMMAND__INIT;
	randombytes_buf(id, QL_JOB_ID_LEN);
	cmd.job_id.data = id;
	cmd.job_id.len = QL_JOB_ID_LEN;
	cmd.issued_at = ql_now();
	cmd.expires_at = cmd.issued_at + JOB_LIFETIME_S;
	cmd.target = (char *)target;
	cmd.action = r->action;
	cmd.handle = (char *)(r->handle ? r->handle : "");
	cmd.args = argp;
	cmd.n_args = r->n_args;
	cmd.reason = reason;
	cmd.ttl_seconds = r->ttl;
	cmd.incident = r->incident ? r->incident : r->name;
	uint8_t *body = NULL, *env = NULL;
	size_t body_len, env_len;
	enum ql_err err = ql_pack(&cmd.base, &body, &body_len);
	if (err == QL_OK)
		err = ql_envelope_seal(QUELL__KIND__KIND_COMMAND, c->rules->key, body, body_len,
		                       &env, &env_len);
	struct qc_job *job = NULL;
	if (err == QL_OK) {
		uint8_t hash[QL_HASH_LEN];
		ql_body_hash(body, body_len, hash);
		err = qc_job_create(c, env, env_len, hash, "automation", &cmd, NULL, &job);
	}
	*n_hosts = job ? job->n_hosts : 0;
	free(body);
	free(env);
	return err;
}

/* Every host a job of the rule touches, for cooldowns and caps (and a restart). */
static void record_fires(struct qc *c, const char *rule, char *const *hosts, size_t n,
                         const uint8_t id[QL_JOB_ID_LEN], int64_t now)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(
		    db_of(c), "INSERT INTO rule_fires (rule, host, job_id, at) VALUES (?, ?, ?, ?)",
		    -1, &q, NULL) != SQLITE_OK) {
		ql_error("store: %s", sqlite3_errmsg(db_of(c)));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_text(q, 1, rule, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, hosts[i], -1, SQLITE_STATIC);
		sqlite3_bind_blob(q, 3, id, QL_JOB_ID_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(q, 4, now);
		if (sqlite3_step(q) != SQLITE_DONE)
			ql_error("store: %s", sqlite3_errmsg(db_of(c)));
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
}

/*
 * The rule wants to act on hosts (all = its whole target, for a fleet rule;
 * the hosts are then its members). Apply the limits, submit, record.
 */
static void fire(struct qc *c, size_t ri, char **hosts, size_t n, bool all, const char *why)
{
	struct qc_rules *R = c->rules;
	const struct qc_rule_config *r = &R->cfg->rules[ri];
	int64_t now = ql_now(), since = now - R->cfg->window_s;
	if (R->paused) {
		held(c, ri, "automation is paused (by %s: %s)", R->paused_by, R->paused_reason);
		return;
	}
	int64_t jobs = automated_jobs_since(c, since);
	if (jobs >= R->cfg->max_actions) {
		held(c, ri, "the fleet's cap: %lld automated jobs in the last %us (max_actions %u)",
		     (long long)jobs, R->cfg->window_s, R->cfg->max_actions);
		return;
	}
	size_t kept = 0, cov = 0;
	for (size_t i = 0; i < n; i++) {
		if (covered(c, hosts[i]))
			cov++, all = false;
		else
			hosts[kept++] = hosts[i];
	}
	if (kept == 0) {
		held(c, ri, "every host (%zu) is covered by an automated mitigation already", cov);
		return;
	}
	int64_t used = rule_hosts_since(c, r->name, since);
	size_t room = used >= r->max_hosts ? 0 : r->max_hosts - (size_t)used;
	if (room == 0) {
		held(c, ri,
		     "its cap: %lld hosts touched in the last %us (max_hosts %u); %zu host%s held "
		     "back",
		     (long long)used, R->cfg->window_s, r->max_hosts, kept, kept == 1 ? "" : "s");
		return;
	}
	size_t back = kept > room ? kept - room : 0;
	if (back) {
		kept = room;
		all = false;
	}
	/* The rule's own target when it acts on all of it; else the hosts by
	 * name, QC_RULE_JOB_HOSTS to a job. */
	size_t jobs_needed =
		all && r->target ? 1 : (kept + QC_RULE_JOB_HOSTS - 1) / QC_RULE_JOB_HOSTS;
	if (jobs + (int64_t)jobs_needed > R->cfg->max_actions) {
		held(c, ri,
		     "the fleet's cap: %lld automated jobs in the last %us, %zu more needed "
		     "(max_actions %u)",
		     (long long)jobs, R->cfg->window_s, jobs_needed, R->cfg->max_actions);
		return;
	}
	char target[QL_MAX_SELECTOR + 1];
	for (size_t from = 0; from < kept; from += QC_RULE_JOB_HOSTS) {
		size_t k = all && r->target                  ? kept
		           : kept - from < QC_RULE_JOB_HOSTS ? kept - from
		                                             : QC_RULE_JOB_HOSTS;
		if (all && r->target)
			snprintf(target, sizeof target, "%s", r->target);
		else if (!host_selector(hosts + from, k, target, sizeof target)) {
			held(c, ri, "cannot name %zu hosts in one selector", k);
			break;
		}
		uint8_t id[QL_JOB_ID_LEN];
		size_t n_job = 0;
		enum ql_err err = submit(c, r, target, why, id, &n_job);
		if (err != QL_OK) {
			held(c, ri, "could not create the job: %s", ql_strerror(err));
			break;
		}
		record_fires(c, r->name, hosts + from, k, id, now);
		char line[768], cap[160] = "";
		if (back)
			snprintf(cap, sizeof cap,
			         "; %zu held back by its cap (max_hosts %u per %us)", back,
			         r->max_hosts, R->cfg->window_s);
		char hex[2 * QL_JOB_ID_LEN + 1];
		ql_hex(id, QL_JOB_ID_LEN, hex);
		snprintf(line, sizeof line, "rule %s fired: %s; job %.12s on %zu host%s (%s)%s",
		         r->name, why, hex, n_job, n_job == 1 ? "" : "s", target, cap);
		ql_info("%s", line);
		struct qc_audit_rec rec = {.kind = "rule",
		                           .incident = r->incident ? r->incident : r->name,
		                           .job_id = id,
		                           .actor = "automation",
		                           .text = line};
		if (qc_audit_append(c->store, &rec) != QL_OK)
			ql_warn("could not write the audit record of rule %s", r->name);
		if (all && r->target)
			break;
	}
	if (back)
		held(c, ri, "its cap: %zu host%s held back (max_hosts %u per %us)", back,
		     back == 1 ? "" : "s", r->max_hosts, R->cfg->window_s);
	else
		R->st[ri].last_held[0] = '\0';
}

/* ---- health rules ------------------------------------------------------------------ */

/* Is a's check failing, and for long enough? */
static bool failing(const struct qc_agent *a, const struct qc_rule_config *r, int64_t now)
{
	int state;
	int64_t since;
	return a->connected && qc_agent_check(a, r->check, &state, &since) &&
	       state == QUELL__CHECK_STATE__STATE__STATE_FAILING && now - since >= r->for_s;
}

static int by_name(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void eval_rule(struct qc *c, size_t ri, int64_t now)
{
	const struct qc_rule_config *r = &c->rules->cfg->rules[ri];
	const char *target = r->target ? r->target : "all";
	size_t cap = HASH_CNT(hh_pk, c->agents_by_pk), members = 0, n = 0;
	char **hosts = calloc(cap ? cap : 1, sizeof *hosts);
	char **all = calloc(cap ? cap : 1, sizeof *all);
	if (hosts == NULL || all == NULL) {
		free(hosts);
		free(all);
		return;
	}
	struct qc_agent *a, *tmp;
	HASH_ITER (hh_pk, c->agents_by_pk, a, tmp) {
		if (!ql_selector_match(target, a->hostname, a->labels, a->n_labels))
			continue;
		all[members++] = a->hostname;
		if (!failing(a, r, now))
			continue;
		/* A local rule's cooldown is per host. */
		if (r->kind == QC_RULE_LOCAL &&
		    now - host_last_fired(c, r->name, a->hostname) < r->cooldown_s)
			continue;
		hosts[n++] = a->hostname;
	}
	if (n)
		qsort(hosts, n, sizeof *hosts, by_name);
	if (members)
		qsort(all, members, sizeof *all, by_name);
	char why[256];
	if (r->kind == QC_RULE_LOCAL && n) {
		snprintf(why, sizeof why, "check %s failing for %us or more on %zu host%s",
		         r->check, r->for_s, n, n == 1 ? "" : "s");
		fire(c, ri, hosts, n, false, why);
	} else if (r->kind == QC_RULE_FLEET && members) {
		size_t need = r->threshold_pct ? (members * r->threshold + 99) / 100 : r->threshold;
		if (need == 0)
			need = 1;
		if (n >= need && now - rule_last_fired(c, r->name) >= r->cooldown_s) {
			snprintf(why, sizeof why,
			         "check %s failing for %us or more on %zu of %zu hosts of %s "
			         "(threshold %u%s)",
			         r->check, r->for_s, n, members, target, r->threshold,
			         r->threshold_pct ? "%" : "");
			fire(c, ri, all, members, true, why);
		}
	}
	free(hosts);
	free(all);
}

void qc_rules_tick(struct qc *c, int64_t now_ms)
{
	struct qc_rules *R = c->rules;
	if (R == NULL || now_ms < R->next_eval_ms)
		return;
	R->next_eval_ms = now_ms + EVAL_EVERY_MS;
	int64_t now = now_ms / 1000;
	for (size_t i = 0; i < R->cfg->n_rules; i++)
		if (R->cfg->rules[i].kind != QC_RULE_ALERT)
			eval_rule(c, i, now);
}

/* ---- alert rules ------------------------------------------------------------------- */

static bool alert_matches(const struct qc_rule_config *r, const struct qc_alert *al)
{
	const char *name = qc_alert_label(al, "alertname");
	if (!al->firing || name == NULL || strcmp(name, r->alert) != 0)
		return false;
	for (size_t i = 0; i < r->n_labels; i++) {
		const char *v = qc_alert_label(al, r->labels[i].key);
		if (v == NULL || strcmp(v, r->labels[i].value) != 0)
			return false;
	}
	return true;
}

/* The host an alert is about (as its audit record says): "instance" without the port, or "host". */
static bool alert_host(const struct qc_alert *al, char *out, size_t len)
{
	const char *v = qc_alert_label(al, "instance");
	if (v == NULL)
		v = qc_alert_label(al, "host");
	if (v == NULL)
		return false;
	snprintf(out, len, "%.*s", (int)strcspn(v, ":"), v);
	return ql_hostname_ok(out);
}

static void on_alerts(struct qc *c, const struct qc_alert_batch *b)
{
	struct qc_rules *R = c->rules;
	int64_t now = ql_now();
	char **hosts = calloc(b->n_alerts ? b->n_alerts : 1, sizeof *hosts);
	if (hosts == NULL)
		return;
	for (size_t ri = 0; ri < R->cfg->n_rules; ri++) {
		const struct qc_rule_config *r = &R->cfg->rules[ri];
		if (r->kind != QC_RULE_ALERT)
			continue;
		size_t n = 0, unknown = 0;
		for (size_t i = 0; i < b->n_alerts; i++) {
			char host[QL_MAX_HOSTNAME + 1];
			if (!alert_matches(r, &b->alerts[i]))
				continue;
			struct qc_agent *a = NULL;
			if (alert_host(&b->alerts[i], host, sizeof host))
				HASH_FIND(hh_name, c->agents_by_name, host, strlen(host), a);
			if (a == NULL) {
				unknown++;
				continue;
			}
			bool dup = false;
			for (size_t k = 0; k < n && !dup; k++)
				dup = strcmp(hosts[k], a->hostname) == 0;
			if (!dup)
				hosts[n++] = a->hostname;
		}
		if (unknown)
			held(c, ri,
			     "%zu alert%s %s named no host in the inventory (labels host or "
			     "instance)",
			     unknown, unknown == 1 ? "" : "s", r->alert);
		if (n == 0)
			continue;
		if (now - rule_last_fired(c, r->name) < r->cooldown_s) {
			held(c, ri, "in its cooldown (%us)", r->cooldown_s);
			continue;
		}
		qsort(hosts, n, sizeof *hosts, by_name);
		char why[256];
		snprintf(why, sizeof why, "alert %s firing for %zu host%s", r->alert, n,
		         n == 1 ? "" : "s");
		fire(c, ri, hosts, n, false, why);
	}
	free(hosts);
}

/* ---- the switch, status, start ---------------------------------------------------- */

static enum ql_err save_pause(struct qc *c)
{
	struct qc_rules *R = c->rules;
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(db_of(c),
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

static void load_pause(struct qc *c)
{
	struct qc_rules *R = c->rules;
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(db_of(c),
	                       "SELECT paused, by, reason, at FROM automation WHERE id = 1", -1, &q,
	                       NULL) != SQLITE_OK)
		return;
	if (sqlite3_step(q) == SQLITE_ROW) {
		R->paused = sqlite3_column_int(q, 0) != 0;
		snprintf(R->paused_by, sizeof R->paused_by, "%s", sqlite3_column_text(q, 1));
		snprintf(R->paused_reason, sizeof R->paused_reason, "%s",
		         sqlite3_column_text(q, 2));
		R->paused_at = sqlite3_column_int64(q, 3);
	}
	sqlite3_finalize(q);
}

/* What a rule does, for people: "maintenance site mode=on ttl=15m". */
static void action_text(const struct qc_rule_config *r, char *buf, size_t len)
{
	char ttl[16];
	ql_duration_format(r->ttl, ttl, sizeof ttl);
	size_t off = (size_t)snprintf(buf, len, "%s%s%s", r->action, r->handle ? " " : "",
	                              r->handle ? r->handle : "");
	for (size_t i = 0; i < r->n_args && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, " %s=%s", r->args[i].key,
		                        r->args[i].value);
	if (off < len)
		snprintf(buf + off, len - off, " ttl=%s", ttl);
}

static void send_status(struct qc *c, struct qc_rctx *rc)
{
	struct qc_rules *R = c->rules;
	size_t n = R->cfg->n_rules;
	Quell__RuleStatus *rs = calloc(n ? n : 1, sizeof *rs);
	Quell__RuleStatus **ptrs = calloc(n ? n : 1, sizeof *ptrs);
	char(*actions)[256] = calloc(n ? n : 1, sizeof *actions);
	if (rs == NULL || ptrs == NULL || actions == NULL) {
		qc_control_fail(rc, "no-memory", "coordinator out of memory");
		goto out;
	}
	int64_t now = ql_now(), since = now - R->cfg->window_s;
	static const char *const kinds[] = {"", "local", "fleet", "alert"};
	for (size_t i = 0; i < n; i++) {
		const struct qc_rule_config *r = &R->cfg->rules[i];
		quell__rule_status__init(&rs[i]);
		rs[i].name = r->name;
		rs[i].kind = (char *)kinds[r->kind];
		action_text(r, actions[i], sizeof actions[i]);
		rs[i].action = actions[i];
		rs[i].target =
			r->target ? r->target : (char *)(r->kind == QC_RULE_ALERT ? "" : "all");
		rs[i].last_fired = rule_last_fired(c, r->name);
		if (r->kind != QC_RULE_LOCAL && rs[i].last_fired &&
		    rs[i].last_fired + r->cooldown_s > now)
			rs[i].cooldown_until = rs[i].last_fired + r->cooldown_s;
		rs[i].hosts_in_window = (uint32_t)rule_hosts_since(c, r->name, since);
		rs[i].max_hosts = r->max_hosts;
		rs[i].last_held = R->st[i].last_held;
		rs[i].last_held_at = R->st[i].last_held_at;
		ptrs[i] = &rs[i];
	}
	Quell__AutomationStatus st = QUELL__AUTOMATION_STATUS__INIT;
	st.paused = R->paused;
	st.paused_by = R->paused_by;
	st.paused_reason = R->paused_reason;
	st.paused_at = R->paused_at;
	st.actions_in_window = (uint32_t)automated_jobs_since(c, since);
	st.max_actions = R->cfg->max_actions;
	st.window_seconds = R->cfg->window_s;
	st.rules = ptrs;
	st.n_rules = n;
	Quell__ControlReply reply = QUELL__CONTROL_REPLY__INIT;
	reply.ok = true;
	reply.automation = &st;
	qc_control_send(rc, &reply);
out:
	free(rs);
	free(ptrs);
	free(actions);
}

void qc_rules_control(struct qc *c, struct qc_rctx *rc, const char *operator_name,
                      const Quell__AutomationRequest *req)
{
	struct qc_rules *R = c->rules;
	if (R == NULL) {
		qc_control_fail(rc, "no-automation",
		                "this coordinator has no automation configured ([automation] and "
		                "[rule NAME] sections)");
		return;
	}
	if (req->op != QUELL__AUTOMATION_REQUEST__OP__OP_STATUS) {
		bool pause = req->op == QUELL__AUTOMATION_REQUEST__OP__OP_PAUSE;
		bool was = R->paused;
		R->paused = pause;
		snprintf(R->paused_by, sizeof R->paused_by, "%s", operator_name);
		snprintf(R->paused_reason, sizeof R->paused_reason, "%s", req->reason);
		R->paused_at = ql_now();
		if (save_pause(c) != QL_OK) {
			R->paused = was;
			qc_control_fail(rc, "store",
			                "could not record the switch; nothing changed");
			return;
		}
		char line[QL_MAX_REASON + 128];
		snprintf(line, sizeof line, "automation %s by %s%s%s", pause ? "paused" : "resumed",
		         operator_name, req->reason[0] ? ": " : "", req->reason);
		ql_warn("%s", line);
		struct qc_audit_rec rec = {
			.kind = "automation", .actor = operator_name, .text = line};
		if (qc_audit_append(c->store, &rec) != QL_OK)
			ql_warn("could not write the audit record of the automation switch");
	}
	send_status(c, rc);
}

enum ql_err qc_rules_start(struct qc *c, char *why, size_t whylen)
{
	const struct qc_automation_config *cfg = c->cfg->automation;
	if (cfg == NULL)
		return QL_OK;
	struct qc_rules *R = calloc(1, sizeof *R);
	if (R == NULL || (R->st = calloc(cfg->n_rules ? cfg->n_rules : 1, sizeof *R->st)) == NULL) {
		free(R);
		snprintf(why, whylen, "out of memory");
		return QL_ERR_NOMEM;
	}
	R->cfg = cfg;
	enum ql_err err = ql_key_load(cfg->key_path, &R->key);
	if (err != QL_OK) {
		snprintf(why, whylen, "automation key %s: %s", cfg->key_path, ql_strerror(err));
		free(R->st);
		free(R);
		return err;
	}
	char *msg = NULL;
	if (sqlite3_exec(db_of(c), schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(why, whylen, "store: cannot create the automation tables: %s",
		         msg ? msg : "?");
		sqlite3_free(msg);
		ql_key_free(R->key);
		free(R->st);
		free(R);
		return QL_ERR_STORE;
	}
	c->rules = R;
	c->on_alerts = on_alerts;
	load_pause(c);
	char pk[QL_PUBKEY_B64_LEN];
	ql_pubkey_format(R->key->pk, pk);
	ql_info("automation: %zu rule%s, key %s%s", cfg->n_rules, cfg->n_rules == 1 ? "" : "s", pk,
	        R->paused ? " (PAUSED)" : "");
	return QL_OK;
}

void qc_rules_free(struct qc *c)
{
	struct qc_rules *R = c->rules;
	if (R == NULL)
		return;
	c->on_alerts = NULL;
	c->rules = NULL;
	ql_key_free(R->key);
	free(R->st);
	free(R);
}
