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
 * every host a rule touched (rule_fires: cooldowns, windows, caps); that
 * part is rules-store.c.
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
#include "rules-int.h"
#include "selector.h"
#include "store.h"

#define EVAL_EVERY_MS 1000
#define JOB_LIFETIME_S 60 /* an automated command's validity: delivery, not the TTL */

/* ---- acting ------------------------------------------------------------------------ */

static void held(struct qc *c, size_t ri, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A limit stopped (part of) a rule: the log, the status, and the audit log
 * (its incident) when the reason is new, so that a rule held back every
 * second writes one record, not one a second.
 */
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
	s->last_held_at = ql_now();
	if (strcmp(s->last_held, text) == 0)
		return;
	snprintf(s->last_held, sizeof s->last_held, "%s", text);
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

/*
 * "host=a|b|c": a selector naming hosts[0..k) for the largest k that fits
 * (at most QC_RULE_JOB_HOSTS alternatives and QL_MAX_SELECTOR bytes).
 */
static size_t host_selector(char *const *hosts, size_t n, char *out, size_t len)
{
	size_t off = (size_t)snprintf(out, len, "host="), k = 0;
	for (; k < n && k < QC_RULE_JOB_HOSTS; k++) {
		size_t need = strlen(hosts[k]) + (k ? 1 : 0);
		if (off + need > QL_MAX_SELECTOR || off + need >= len)
			break;
		off += (size_t)snprintf(out + off, len - off, "%s%s", k ? "|" : "", hosts[k]);
	}
	return k && ql_selector_check(out) == QL_OK ? k : 0;
}

/* Sign and submit the rule's command for `target` under job id `id`. */
static enum ql_err submit(struct qc *c, const struct qc_rule_config *r, const char *target,
                          const char *why, const uint8_t id[QL_JOB_ID_LEN], size_t *n_hosts)
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
	cmd.job_id.data = (uint8_t *)id;
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

/*
 * The rule wants to act on hosts, sorted by name (all: the whole target of
 * a fleet rule, one job on its selector). Apply the limits, submit, record.
 */
static void fire(struct qc *c, size_t ri, char **hosts, size_t n, bool all, const char *why)
{
	struct qc_rules *R = c->rules;
	const struct qc_rule_config *r = &R->cfg->rules[ri];
	int64_t now = ql_now(), since = now - R->cfg->window_s, used, jobs;
	if (R->paused) {
		held(c, ri, "automation is paused (by %s: %s)", R->paused_by, R->paused_reason);
		return;
	}
	if (!qr_hosts_since(c, r->name, since, &used) || !qr_jobs_since(c, since, &jobs)) {
		held(c, ri, "the store failed; nothing done (see the coordinator's log)");
		return;
	}
	size_t room = used >= r->max_hosts ? 0 : r->max_hosts - (size_t)used;
	if (room == 0) {
		held(c, ri,
		     "its cap: %lld hosts touched in the last %us (max_hosts %u); %zu host%s "
		     "held back",
		     (long long)used, R->cfg->window_s, r->max_hosts, n, n == 1 ? "" : "s");
		return;
	}
	/* Covered hosts are left out; past the cap the rest are held back (not even looked at). */
	size_t kept = 0, cov = 0;
	for (size_t i = 0; i < n && kept < room; i++) {
		if (qr_covered(c, hosts[i], r->name))
			cov++, all = false;
		else
			hosts[kept++] = hosts[i];
	}
	size_t back = n - kept - cov;
	if (back)
		all = false;
	if (kept == 0) {
		held(c, ri,
		     "every host (%zu) is covered by automation already, or an operator undid "
		     "this rule there in the last %us",
		     cov, R->cfg->window_s);
		return;
	}
	all = all && r->target;
	size_t jobs_needed = 0;
	char target[QL_MAX_SELECTOR + 1];
	for (size_t from = 0; !all && from < kept; jobs_needed++) {
		size_t k = host_selector(hosts + from, kept - from, target, sizeof target);
		if (k == 0) {
			held(c, ri, "cannot name host %s in a selector", hosts[from]);
			return;
		}
		from += k;
	}
	if (all)
		jobs_needed = 1;
	if (jobs + (int64_t)jobs_needed > R->cfg->max_actions) {
		held(c, ri,
		     "the fleet's cap: %lld automated jobs in the last %us, %zu more needed "
		     "(max_actions %u)",
		     (long long)jobs, R->cfg->window_s, jobs_needed, R->cfg->max_actions);
		return;
	}
	for (size_t from = 0; from < kept;) {
		size_t k = all ? kept
		               : host_selector(hosts + from, kept - from, target, sizeof target);
		if (all)
			snprintf(target, sizeof target, "%s", r->target);
		uint8_t id[QL_JOB_ID_LEN];
		randombytes_buf(id, sizeof id);
		if (!qr_record_fires(c, r->name, hosts + from, k, id, now)) {
			held(c, ri, "the store failed; nothing done (see the coordinator's log)");
			return;
		}
		size_t n_job = 0;
		enum ql_err err = submit(c, r, target, why, id, &n_job);
		if (err != QL_OK) {
			qr_forget_fires(c, id);
			held(c, ri, "could not create the job: %s", ql_strerror(err));
			return;
		}
		char line[768], cap[200] = "", hex[2 * QL_JOB_ID_LEN + 1];
		if (back || cov)
			snprintf(cap, sizeof cap,
			         "; %zu covered by automation already, %zu held back by "
			         "its cap (max_hosts %u per %us)",
			         cov, back, r->max_hosts, R->cfg->window_s);
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
		from += k;
	}
	if (back)
		held(c, ri, "its cap: %zu host%s held back (max_hosts %u per %us)", back,
		     back == 1 ? "" : "s", r->max_hosts, R->cfg->window_s);
	else
		R->st[ri].last_held[0] = '\0';
}

/* ---- health rules ------------------------------------------------------------------ */

/*
 * What a's check says, if a is connected and has been heard from lately (a
 * frozen agent's last report is not the truth): reporting it at all, and
 * failing for at least `for` seconds.
 */
static bool reporting(const struct qc *c, const struct qc_agent *a, const char *check, int64_t now,
                      bool *failing_long, uint32_t for_s)
{
	int state;
	int64_t since;
	int64_t stale = 3 * c->cfg->hold_ms / 1000 + 5;
	if (!a->connected || now - a->last_seen > stale ||
	    !qc_agent_check(a, check, &state, &since))
		return false;
	*failing_long = state == QUELL__CHECK_STATE__STATE__STATE_FAILING && since > 0 &&
	                now - since >= for_s;
	return true;
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
		bool failing_long;
		if (!ql_selector_match(target, a->hostname, a->labels, a->n_labels) ||
		    !reporting(c, a, r->check, now, &failing_long, r->for_s))
			continue;
		all[members++] = a->hostname; /* the fleet: hosts that report the check */
		if (failing_long)
			hosts[n++] = a->hostname;
	}
	char why[256];
	if (r->kind == QC_RULE_LOCAL && n) {
		qsort(hosts, n, sizeof *hosts, by_name);
		/* A local rule's cooldown is per host; not worth a query per host when
		 * fire() holds it back anyway (paused, its cap full). */
		int64_t used;
		bool blocked = c->rules->paused ||
		               (qr_hosts_since(c, r->name, now - c->rules->cfg->window_s, &used) &&
		                used >= r->max_hosts);
		int64_t cooling = 0;
		if (blocked && !qr_cooling(c, r->name, now - r->cooldown_s, &cooling))
			cooling = 0;
		/* blocked: roughly, the failing hosts not in their cooldown (for the message) */
		size_t due = blocked ? (cooling < (int64_t)n ? n - (size_t)cooling : 0) : 0;
		for (size_t i = 0; !blocked && i < n; i++) {
			int64_t last;
			if (qr_host_last_fired(c, r->name, hosts[i], &last) &&
			    now - last >= r->cooldown_s)
				hosts[due++] = hosts[i];
		}
		snprintf(why, sizeof why, "check %s failing for %us or more on %zu host%s",
		         r->check, r->for_s, due, due == 1 ? "" : "s");
		if (due)
			fire(c, ri, hosts, due, false, why);
	} else if (r->kind == QC_RULE_FLEET && members) {
		size_t need = r->threshold_pct ? (members * r->threshold + 99) / 100 : r->threshold;
		int64_t last;
		if (n >= (need ? need : 1) && qr_last_fired(c, r->name, &last) &&
		    now - last >= r->cooldown_s) {
			qsort(all, members, sizeof *all, by_name);
			snprintf(
				why, sizeof why,
				"check %s failing for %us or more on %zu of %zu hosts of %s reporting "
				"it (threshold %u%s)",
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

/*
 * A batch from the webhook (lock held). Each alert rule acts on the hosts its
 * matching firing alerts name, inside its target, each host at most once per
 * cooldown (Alertmanager repeats a notification while the alert fires).
 */
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
		const char *target = r->target ? r->target : "all";
		size_t n = 0, unknown = 0, outside = 0, cooling = 0;
		for (size_t i = 0; i < b->n_alerts; i++) {
			char host[QL_MAX_HOSTNAME + 1];
			if (!alert_matches(r, &b->alerts[i]))
				continue;
			struct qc_agent *a = NULL;
			if (qc_alert_host(&b->alerts[i], host))
				HASH_FIND(hh_name, c->agents_by_name, host, strlen(host), a);
			if (a == NULL) {
				unknown++;
				continue;
			}
			if (!ql_selector_match(target, a->hostname, a->labels, a->n_labels)) {
				outside++;
				continue;
			}
			int64_t last;
			if (!qr_host_last_fired(c, r->name, a->hostname, &last) ||
			    now - last < r->cooldown_s) {
				cooling++;
				continue;
			}
			bool dup = false;
			for (size_t k = 0; k < n && !dup; k++)
				dup = strcmp(hosts[k], a->hostname) == 0;
			if (!dup)
				hosts[n++] = a->hostname;
		}
		if (unknown || outside || cooling)
			held(c, ri,
			     "of the %s alerts: %zu named no host in the inventory, %zu a host "
			     "outside %s, %zu a host in its cooldown (%us)",
			     r->alert, unknown, outside, target, cooling, r->cooldown_s);
		if (n == 0)
			continue;
		qsort(hosts, n, sizeof *hosts, by_name);
		char why[256];
		snprintf(why, sizeof why, "alert %s firing for %zu host%s", r->alert, n,
		         n == 1 ? "" : "s");
		fire(c, ri, hosts, n, false, why);
	}
	free(hosts);
}

/* ---- the switch, status, start ---------------------------------------------------- */

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
		(void)qr_last_fired(c, r->name, &rs[i].last_fired);
		if (r->kind != QC_RULE_LOCAL && rs[i].last_fired &&
		    rs[i].last_fired + r->cooldown_s > now)
			rs[i].cooldown_until = rs[i].last_fired + r->cooldown_s;
		int64_t used;
		(void)qr_hosts_since(c, r->name, since, &used);
		rs[i].hosts_in_window = (uint32_t)used;
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
	int64_t jobs;
	(void)qr_jobs_since(c, since, &jobs);
	st.actions_in_window = (uint32_t)jobs;
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
		for (size_t i = 0; i < R->cfg->n_rules; i++)
			R->st[i].last_held[0] = '\0'; /* what held them is history now */
		if (qr_save_pause(c) != QL_OK) {
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
	if (!qr_store_init(c, why, whylen)) {
		ql_key_free(R->key);
		free(R->st);
		free(R);
		return QL_ERR_STORE;
	}
	c->rules = R;
	c->on_alerts = on_alerts;
	qr_load_pause(c);
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
	for (int i = 0; i < N_Q; i++)
		sqlite3_finalize(R->q[i]);
	ql_key_free(R->key);
	free(R->st);
	free(R);
}
