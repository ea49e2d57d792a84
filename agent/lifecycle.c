/*
 * lifecycle.c: mitigations on this host (see lifecycle.h).
 *
 * A mitigation row goes
 *
 *   pending --settle--> active --TTL/undo--> reverting --> reverted
 *      |                  |                      |
 *      |                  |                      +-------> revert-failed
 *      |                  +--a later action on the same thing--> replaced / reverted ("ended")
 *      +--nothing changed--> (deleted)
 *
 * Every step is written before the next one acts: a crash while pending is
 * settled at start, a crash while reverting reverts again (reverts restore
 * recorded state and are safe to repeat). A revert that fails stays
 * revert-failed, visible to operators, until someone undoes it again.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "lifecycle.h"
#include "log.h"
#include "policy.h"

bool qa_life_is_command(const char *action)
{
	return strcmp(action, "undo") == 0 || strcmp(action, "extend") == 0;
}

/* ---- events ----------------------------------------------------------------------- */

static Quell__MitigationState wire_state(enum qa_mit_state s)
{
	switch (s) {
	case QA_MIT_ACTIVE:
		return QUELL__MITIGATION_STATE__MITIGATION_ACTIVE;
	case QA_MIT_REVERTED:
		return QUELL__MITIGATION_STATE__MITIGATION_REVERTED;
	case QA_MIT_REPLACED:
		return QUELL__MITIGATION_STATE__MITIGATION_REPLACED;
	case QA_MIT_PENDING: /* in effect, as far as anyone can tell */
		return QUELL__MITIGATION_STATE__MITIGATION_ACTIVE;
	default:
		return QUELL__MITIGATION_STATE__MITIGATION_REVERT_FAILED;
	}
}

static void event_of(struct qa_life_event *e, const struct qa_mitigation *m)
{
	memset(e, 0, sizeof *e);
	memcpy(e->mitigation, m->job_id, QL_JOB_ID_LEN);
	if (m->has_by_job) {
		memcpy(e->by_job, m->by_job, QL_JOB_ID_LEN);
		e->has_by_job = true;
	}
	e->state = m->state;
	snprintf(e->cause, sizeof e->cause, "%s", m->cause);
	e->expires_at = m->state == QA_MIT_ACTIVE ? m->expires_at : 0;
	e->at = m->updated_at;
	/* Cut on a character boundary: the coordinator checks it is UTF-8. */
	size_t n = strlen(m->detail);
	if (n >= sizeof e->detail) {
		n = sizeof e->detail - 1;
		while (n > 0 && ((unsigned char)m->detail[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(e->detail, m->detail, n);
	e->detail[n] = '\0';
}

static void event_add(struct qa_life_events *ev, const struct qa_mitigation *m)
{
	if (ev == NULL)
		return;
	if (ev->n == QA_LIFE_MAX_EVENTS) {
		ql_warn("too many mitigation events for one job; the coordinator misses some");
		return;
	}
	event_of(&ev->e[ev->n++], m);
}

static void wire_event(Quell__MitigationEvent *w, const struct qa_life_event *e)
{
	quell__mitigation_event__init(w);
	w->mitigation.data = (uint8_t *)e->mitigation;
	w->mitigation.len = QL_JOB_ID_LEN;
	w->state = wire_state(e->state);
	w->cause = (char *)e->cause;
	w->expires_at = e->expires_at;
	w->detail = (char *)e->detail;
	w->at = e->at;
	if (e->has_by_job) {
		w->by_job.data = (uint8_t *)e->by_job;
		w->by_job.len = QL_JOB_ID_LEN;
	}
}

bool qa_life_events_pack(const struct qa_life_events *ev, const char *hostname, uint8_t *buf,
                         size_t cap, size_t *len)
{
	Quell__MitigationEvent w[QA_LIFE_MAX_EVENTS], *ptrs[QA_LIFE_MAX_EVENTS];
	Quell__AgentEvents ae = QUELL__AGENT_EVENTS__INIT;
	for (size_t i = 0; i < ev->n; i++) {
		wire_event(&w[i], &ev->e[i]);
		ptrs[i] = &w[i];
	}
	ae.hostname = (char *)hostname;
	ae.time = ql_now();
	ae.events = ptrs;
	ae.n_events = ev->n;
	size_t n = quell__agent_events__get_packed_size(&ae);
	if (n > cap)
		return false;
	*len = quell__agent_events__pack(&ae, buf);
	return true;
}

/* An event no job result carries, kept for the coordinator until it has it. */
static enum ql_err event_store_ev(const struct qa_exec_env *x, const struct qa_life_event *e)
{
	Quell__MitigationEvent w;
	uint8_t buf[512];
	wire_event(&w, e);
	size_t n = quell__mitigation_event__get_packed_size(&w);
	enum ql_err err =
		n > sizeof buf
			? QL_ERR_TOO_BIG
			: qa_store_event_add(x->store, buf, quell__mitigation_event__pack(&w, buf));
	if (err != QL_OK)
		ql_error("could not keep a mitigation event (%s) for the coordinator", e->cause);
	return err;
}

static enum ql_err event_store(const struct qa_exec_env *x, const struct qa_mitigation *m)
{
	struct qa_life_event e;
	event_of(&e, m);
	return event_store_ev(x, &e);
}

/* ---- checks ----------------------------------------------------------------------- */

static const char *family_of(const struct qa_action *act)
{
	return act->family ? act->family : act->name;
}

enum ql_err qa_life_check_ttl(const struct qa_signer *s, const Quell__Command *c, bool reversible,
                              char *detail, size_t len)
{
	bool extend = strcmp(c->action, "extend") == 0;
	char d[32];
	if (strcmp(c->action, "undo") == 0 && c->ttl_seconds) {
		snprintf(detail, len, "undo takes no TTL");
		return QL_ERR_BAD_ARGUMENT;
	}
	if (c->ttl_seconds && !reversible && !extend) {
		snprintf(detail, len, "%s cannot be reverted, so a TTL does not apply", c->action);
		return QL_ERR_BAD_ARGUMENT;
	}
	if (extend && c->ttl_seconds == 0) {
		snprintf(detail, len, "extend needs a TTL (the new time left)");
		return QL_ERR_BAD_ARGUMENT;
	}
	if (s->max_ttl && c->ttl_seconds > s->max_ttl) {
		ql_duration_format(s->max_ttl, d, sizeof d);
		snprintf(detail, len, "TTL %us is longer than %s, the most this host allows %s",
		         c->ttl_seconds, d, s->name);
		return QL_ERR_TTL_TOO_LONG;
	}
	if (s->require_ttl && (reversible || extend) && c->ttl_seconds == 0) {
		snprintf(detail, len, "this host requires a TTL on reversible actions from %s",
		         s->name);
		return QL_ERR_TTL_REQUIRED;
	}
	return QL_OK;
}

static bool allowed(const struct qa_exec_env *x, const uint8_t signer[QL_PUBKEY_LEN],
                    const char *action, const char *handle)
{
	const char *name;
	return qa_policy_check(x->cfg, signer, action, handle, &name) == QL_OK;
}

/*
 * May signer undo m? With `undo` allowed on the handle, any mitigation
 * there. Without: only its own, one no other signer's mitigation was merged
 * into (m->shared), of an action it may run there (allowed to do it,
 * allowed to take it back). A signer allowed `pause` must not get `resume`
 * on an operator's pause by way of undo.
 */
static bool may_undo(const struct qa_exec_env *x, const uint8_t signer[QL_PUBKEY_LEN],
                     const struct qa_mitigation *m)
{
	if (allowed(x, signer, "undo", m->handle))
		return true;
	const struct qa_action *a = qa_action_find(m->action);
	return a && !m->shared && memcmp(m->signer, signer, QL_PUBKEY_LEN) == 0 &&
	       (allowed(x, signer, a->name, m->handle) ||
	        allowed(x, signer, a->family ? a->family : a->name, m->handle));
}

/* Later is extending; sooner (or a first TTL) is an early undo and needs undo rights. */
static bool may_extend(const struct qa_exec_env *x, const uint8_t signer[QL_PUBKEY_LEN],
                       const struct qa_mitigation *m, int64_t until)
{
	bool later = m->expires_at != 0 && until >= m->expires_at;
	return (later && allowed(x, signer, "extend", m->handle)) || may_undo(x, signer, m);
}

/* The mitigation id an undo/extend names: exactly 32 lower-case hex digits. */
static bool mitigation_arg(const Quell__Command *c, uint8_t id[QL_JOB_ID_LEN])
{
	if (c->n_args != 1 || strcmp(c->args[0]->key, "mitigation") != 0)
		return false;
	const char *v = c->args[0]->value;
	if (strlen(v) != 2 * QL_JOB_ID_LEN || strspn(v, "0123456789abcdef") != 2 * QL_JOB_ID_LEN)
		return false;
	for (size_t i = 0; i < QL_JOB_ID_LEN; i++) {
		unsigned b;
		if (sscanf(v + 2 * i, "%2x", &b) != 1)
			return false;
		id[i] = (uint8_t)b;
	}
	return true;
}

enum ql_err qa_life_check(const struct qa_exec_env *x, const uint8_t signer[QL_PUBKEY_LEN],
                          const Quell__Command *c, enum ql_err policy_err, char *detail, size_t len)
{
	uint8_t id[QL_JOB_ID_LEN];
	if (policy_err != QL_OK && policy_err != QL_ERR_DENIED)
		return policy_err; /* e.g. unknown signer */
	if (!mitigation_arg(c, id)) {
		/* Policy before arguments (exec.c's order): without a rule for the
		 * command, nothing to go by. */
		if (policy_err != QL_OK)
			return policy_err;
		snprintf(detail, len, "%s takes one argument, mitigation=<32 hex digits>",
		         c->action);
		return QL_ERR_BAD_ARGUMENT;
	}
	struct qa_mitigation *rows = NULL;
	size_t n = 0;
	if (qa_store_mit_query(x->store, QA_MQ_BY_JOB, id, 0, &rows, &n) != QL_OK)
		return QL_ERR_STORE;
	bool undo = strcmp(c->action, "undo") == 0, found = false;
	enum ql_err err = QL_OK;
	int64_t until = ql_now() + c->ttl_seconds;
	for (size_t i = 0; i < n && err == QL_OK; i++) {
		if (strcmp(rows[i].handle, c->handle) != 0)
			continue;
		found = true;
		if (undo ? !may_undo(x, signer, &rows[i])
		         : !may_extend(x, signer, &rows[i], until)) {
			snprintf(
				detail, len,
				undo ? "denied: the policy allows this signer neither undo on '%s' nor "
				       "to take back this mitigation (not its own, or shared)"
				     : "denied: extending here would revert sooner (or give a TTL to "
				       "a mitigation without one), which takes undo rights on '%s'",
				c->handle);
			err = QL_ERR_DENIED;
		}
	}
	free(rows);
	/* Nothing of it here: only a signer allowed the command itself gets an answer. */
	return found ? err : policy_err;
}

/* ---- creating and settling -------------------------------------------------------- */

/* family:handle, and :FLAG for a flag's record (flags of one file are separate things). */
static void resource_of(const struct qa_action *act, const char *handle, const char *undo,
                        char *out, size_t len)
{
	cJSON *u = cJSON_Parse(undo);
	const cJSON *flag = cJSON_GetObjectItemCaseSensitive(u, "flag");
	if (cJSON_IsString(flag))
		snprintf(out, len, "%s:%s:%s", family_of(act), handle, flag->valuestring);
	else
		snprintf(out, len, "%s:%s", family_of(act), handle);
	cJSON_Delete(u);
}

static void fill_new(struct qa_mitigation *m, const struct qa_exec_env *x,
                     const struct qa_job_key *k, const Quell__Command *c, const char *action,
                     const char *undo)
{
	memset(m, 0, sizeof *m);
	memcpy(m->job_id, k->job_id, QL_JOB_ID_LEN);
	memcpy(m->signer, k->signer, QL_PUBKEY_LEN);
	snprintf(m->action, sizeof m->action, "%s", action);
	snprintf(m->handle, sizeof m->handle, "%s", c->handle);
	const struct qa_action *act = qa_action_find(action);
	if (act)
		resource_of(act, c->handle, undo, m->resource, sizeof m->resource);
	snprintf(m->undo, sizeof m->undo, "%s", undo);
	snprintf(m->incident, sizeof m->incident, "%s", c->incident);
	m->created_at = m->updated_at = ql_now();
	m->expires_at = c->ttl_seconds ? m->created_at + c->ttl_seconds : 0;
	m->state = QA_MIT_PENDING;
	(void)x;
}

void qa_life_pending(const struct qa_exec_env *x, const struct qa_job_key *k,
                     const Quell__Command *c, const char *action, const char *undo)
{
	struct qa_mitigation *m = malloc(sizeof *m);
	if (m == NULL) {
		ql_error("out of memory: the mitigation is recorded once the action is done");
		return;
	}
	fill_new(m, x, k, c, action, undo);
	if (qa_store_mit_put(x->store, m) != QL_OK)
		ql_error("could not record the mitigation before acting");
	free(m);
}

/* Is the host in the state `undo` (written by `action` on `handle`) describes? */
static bool at_rest(const struct qa_exec_env *x, const char *action, const char *handle,
                    const char *undo)
{
	const struct qa_action *act = qa_action_find(action);
	const struct qa_handle *h = qa_config_handle(x->cfg, handle);
	if (act == NULL || act->at_rest == NULL || h == NULL)
		return false;
	char detail[QL_MAX_DETAIL + 1] = "";
	struct qa_action_ctx ctx = {.handle = h,
	                            .state_dir = x->cfg->state_dir,
	                            .deadline_ms = ql_mono_ms() + 1000 * h->timeout_s,
	                            .detail = detail,
	                            .detail_len = sizeof detail};
	cJSON *u = cJSON_Parse(undo);
	bool rest = u != NULL && act->at_rest(&ctx, u);
	cJSON_Delete(u);
	return rest;
}

static void hex_of(const uint8_t id[QL_JOB_ID_LEN], char out[2 * QL_JOB_ID_LEN + 1])
{
	ql_hex(id, QL_JOB_ID_LEN, out);
}

/*
 * m takes over the older mitigation o: m's record becomes o's (the state from
 * before both) except what describes where m's action went (rollback's
 * "switched_to"), so that its revert checks against what is there now; it
 * lives at least as long as o (0: until undone), so a short TTL cannot end
 * a longer mitigation early; and it is shared if o was another signer's.
 */
static void take_over(struct qa_mitigation *m, const struct qa_mitigation *o)
{
	cJSON *rec = cJSON_Parse(o->undo), *mine = cJSON_Parse(m->undo);
	const cJSON *to = cJSON_GetObjectItemCaseSensitive(mine, "switched_to");
	if (rec && cJSON_IsString(to)) {
		cJSON_DeleteItemFromObjectCaseSensitive(rec, "switched_to");
		cJSON_AddStringToObject(rec, "switched_to", to->valuestring);
	}
	char *text = rec ? cJSON_PrintUnformatted(rec) : NULL;
	snprintf(m->undo, sizeof m->undo, "%s",
	         text && strlen(text) < sizeof m->undo ? text : o->undo);
	cJSON_free(text);
	cJSON_Delete(rec);
	cJSON_Delete(mine);
	snprintf(m->action, sizeof m->action, "%s", o->action);
	if (m->expires_at && (o->expires_at == 0 || o->expires_at > m->expires_at))
		m->expires_at = o->expires_at;
	m->shared = m->shared || o->shared || memcmp(m->signer, o->signer, QL_PUBKEY_LEN) != 0;
}

static bool same_row(const struct qa_mitigation *a, const struct qa_mitigation *b)
{
	return memcmp(a->job_id, b->job_id, QL_JOB_ID_LEN) == 0 &&
	       memcmp(a->signer, b->signer, QL_PUBKEY_LEN) == 0;
}

/*
 * The pending row `m` (its undo record is what its action saw before it
 * changed anything), after the action ran or was interrupted. If the host
 * is still in the state of that record, the action changed nothing: no
 * mitigation, and the older ones of the same thing stay as they are (a
 * failed action takes nothing over). Otherwise it ends the older ones (the
 * state from before them is back: `maintenance off`) or takes them over.
 * In the caller's transaction, if any.
 */
static enum ql_err settle_row(const struct qa_exec_env *x, struct qa_mitigation *m,
                              const char *what, struct qa_life_events *ev)
{
	if (at_rest(x, m->action, m->handle, m->undo))
		return qa_store_mit_delete(x->store, m->job_id, m->signer);
	struct qa_mitigation *older = NULL;
	size_t n = 0;
	enum ql_err err = qa_store_mit_query(x->store, QA_MQ_HELD, m->resource, 0, &older, &n);
	if (err != QL_OK)
		return err;
	/* Oldest first: the first one held the state from before all of them. */
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (same_row(&older[i], m))
			continue;
		if (first)
			take_over(m, &older[i]);
		else if (m->expires_at &&
		         (older[i].expires_at == 0 || older[i].expires_at > m->expires_at))
			m->expires_at = older[i].expires_at;
		m->shared = m->shared || older[i].shared ||
		            memcmp(m->signer, older[i].signer, QL_PUBKEY_LEN) != 0;
		first = false;
	}
	bool rest = !first && at_rest(x, m->action, m->handle, m->undo);
	char me[2 * QL_JOB_ID_LEN + 1];
	hex_of(m->job_id, me);
	int64_t now = ql_now();
	for (size_t i = 0; i < n && err == QL_OK; i++) {
		struct qa_mitigation *o = &older[i];
		if (same_row(o, m))
			continue;
		o->state = rest ? QA_MIT_REVERTED : QA_MIT_REPLACED;
		snprintf(o->cause, sizeof o->cause, "%s", rest ? "ended" : "replaced");
		snprintf(o->detail, sizeof o->detail,
		         rest ? "ended by job %.12s (%s): the state before it is back"
		              : "taken over by mitigation %.12s (%s), which now restores the "
		                "state from before both",
		         me, what);
		memcpy(o->by_job, m->job_id, QL_JOB_ID_LEN);
		o->has_by_job = true;
		o->updated_at = now;
		err = qa_store_mit_put(x->store, o);
		event_add(ev, o);
	}
	free(older);
	if (err != QL_OK)
		return err;
	if (rest) /* nothing to revert: not a mitigation */
		return qa_store_mit_delete(x->store, m->job_id, m->signer);
	m->state = QA_MIT_ACTIVE;
	snprintf(m->cause, sizeof m->cause, "created");
	snprintf(m->detail, sizeof m->detail, "%s", what);
	m->updated_at = now;
	err = qa_store_mit_put(x->store, m);
	event_add(ev, m);
	return err;
}

enum ql_err qa_life_settle(const struct qa_exec_env *x, const struct qa_job_key *k,
                           const Quell__Command *c, const struct qa_action *act, const char *undo,
                           struct qa_life_events *ev)
{
	struct qa_mitigation *m = malloc(sizeof *m);
	if (m == NULL)
		return QL_ERR_NOMEM;
	fill_new(m, x, k, c, act->name, undo);
	enum ql_err err;
	if (undo[0] == '\0') /* the action changed nothing */
		err = qa_store_mit_delete(x->store, k->job_id, k->signer);
	else
		err = settle_row(x, m, c->action, ev);
	free(m);
	return err;
}

/* ---- reverting -------------------------------------------------------------------- */

/*
 * Put the state m recorded back (with dry_run: say what that would change).
 * The row goes reverting -> reverted | revert-failed, each step written
 * first; `cause` (expired, undo) and `by` (the undo job, or NULL) are kept.
 */
static enum ql_err revert_row(const struct qa_exec_env *x, struct qa_mitigation *m,
                              const char *cause, const uint8_t *by, bool dry_run)
{
	const struct qa_action *act = qa_action_find(m->action);
	const struct qa_handle *h = qa_config_handle(x->cfg, m->handle);
	char detail[QL_MAX_DETAIL + 1] = "";
	enum ql_err err = QL_OK;
	cJSON *u = cJSON_Parse(m->undo);
	if (act == NULL || act->revert == NULL || u == NULL) {
		snprintf(detail, sizeof detail,
		         "cannot revert: no revert for '%s' or its record "
		         "is unreadable",
		         m->action);
		err = QL_ERR_ACTION_FAILED;
	} else if (h == NULL || !(act->handle_types & QA_TYPE(h->type))) {
		snprintf(detail, sizeof detail,
		         "cannot revert: handle '%s' is no longer in this agent's config",
		         m->handle);
		err = QL_ERR_UNKNOWN_HANDLE;
	}
	if (err == QL_OK && !dry_run) {
		m->state = QA_MIT_REVERTING;
		snprintf(m->cause, sizeof m->cause, "%s", cause);
		m->has_by_job = by != NULL; /* recovery tells an undo from a TTL by it */
		if (by)
			memcpy(m->by_job, by, QL_JOB_ID_LEN);
		m->updated_at = ql_now();
		err = qa_store_mit_put(x->store, m);
		if (err != QL_OK)
			snprintf(detail, sizeof detail,
			         "cannot record the revert in the local store; nothing was done");
	}
	if (err == QL_OK) {
		struct qa_action_ctx ctx = {.handle = h,
		                            .dry_run = dry_run,
		                            .state_dir = x->cfg->state_dir,
		                            .deadline_ms = ql_mono_ms() + 1000 * h->timeout_s,
		                            .detail = detail,
		                            .detail_len = sizeof detail};
		err = act->revert(&ctx, u);
		if (err != QL_OK && detail[0] == '\0')
			snprintf(detail, sizeof detail, "%s", ql_strerror(err));
	}
	cJSON_Delete(u);
	snprintf(m->detail, sizeof m->detail, "%s", detail);
	if (dry_run)
		return err;
	m->state = err == QL_OK ? QA_MIT_REVERTED : QA_MIT_REVERT_FAILED;
	snprintf(m->cause, sizeof m->cause, "%s", cause);
	m->has_by_job = by != NULL;
	if (by)
		memcpy(m->by_job, by, QL_JOB_ID_LEN);
	m->updated_at = ql_now();
	/* The row's end and, when no job result carries it, its event: at once. */
	bool tx = qa_store_tx_begin(x->store) == QL_OK;
	enum ql_err serr = qa_store_mit_put(x->store, m);
	if (serr == QL_OK && by == NULL)
		serr = event_store(x, m);
	if (tx && qa_store_tx_end(x->store, serr == QL_OK) != QL_OK)
		serr = QL_ERR_STORE;
	if (serr != QL_OK)
		ql_error("could not record the end of a revert (%s); it runs again at restart",
		         detail);
	char hex[2 * QL_JOB_ID_LEN + 1];
	hex_of(m->job_id, hex);
	ql_log(err == QL_OK ? QL_LOG_INFO : QL_LOG_WARN, "mitigation %s (%s %s) %s: %s: %s", hex,
	       m->action, m->handle, cause, qa_mit_state_name(m->state), detail);
	return err;
}

static const char *when(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
	return buf;
}

/* undo of one row; appends to detail. */
static enum ql_err undo_row(const struct qa_exec_env *x, const struct qa_job_key *k,
                            struct qa_mitigation *m, bool dry_run, char *detail, size_t len,
                            struct qa_life_events *ev)
{
	char t[32], by[2 * QL_JOB_ID_LEN + 1] = "";
	if (m->has_by_job)
		hex_of(m->by_job, by);
	switch (m->state) {
	case QA_MIT_REVERTED:
		snprintf(detail, len, "already reverted (%s, %s): nothing to do", m->cause,
		         when(m->updated_at, t, sizeof t));
		event_add(ev, m); /* the coordinator may have missed it */
		return QL_OK;
	case QA_MIT_REPLACED:
		snprintf(detail, len,
		         "taken over on this host by mitigation %.12s (the same thing changed "
		         "again): undo that one to go back to the state before both",
		         by);
		event_add(ev, m);
		return QL_ERR_NOT_ACTIVE;
	default:
		break;
	}
	enum ql_err err = revert_row(x, m, "undo", k->job_id, dry_run);
	snprintf(detail, len, "%s%s", dry_run || err != QL_OK ? "" : "reverted: ", m->detail);
	if (!dry_run)
		event_add(ev, m);
	return err;
}

static enum ql_err extend_row(const struct qa_exec_env *x, const struct qa_job_key *k,
                              struct qa_mitigation *m, uint32_t ttl, bool dry_run, char *detail,
                              size_t len, struct qa_life_events *ev)
{
	char t[32], d[32];
	if (m->state != QA_MIT_ACTIVE && m->state != QA_MIT_PENDING) {
		snprintf(detail, len, "not in effect here (%s, %s %s): nothing to extend",
		         qa_mit_state_name(m->state), m->cause, when(m->updated_at, t, sizeof t));
		event_add(ev, m);
		return QL_ERR_NOT_ACTIVE;
	}
	int64_t until = ql_now() + ttl;
	ql_duration_format(ttl, d, sizeof d);
	if (dry_run) {
		snprintf(detail, len, "would revert at %s (in %s)", when(until, t, sizeof t), d);
		return QL_OK;
	}
	m->expires_at = until;
	snprintf(m->cause, sizeof m->cause, "extend");
	snprintf(m->detail, sizeof m->detail, "reverts at %s (in %s)", when(until, t, sizeof t), d);
	memcpy(m->by_job, k->job_id, QL_JOB_ID_LEN);
	m->has_by_job = true;
	m->updated_at = ql_now();
	enum ql_err err = qa_store_mit_put(x->store, m);
	if (err != QL_OK) {
		snprintf(detail, len, "cannot record the new expiry in the local store");
		return err;
	}
	snprintf(detail, len, "%s", m->detail);
	event_add(ev, m);
	return QL_OK;
}

enum ql_err qa_life_run(const struct qa_exec_env *x, const struct qa_job_key *k,
                        const Quell__Command *c, char *detail, size_t len,
                        struct qa_life_events *ev)
{
	uint8_t id[QL_JOB_ID_LEN];
	if (!mitigation_arg(c, id)) { /* checked at admission */
		snprintf(detail, len, "bad mitigation id");
		return QL_ERR_BAD_ARGUMENT;
	}
	struct qa_mitigation *rows = NULL;
	size_t n = 0;
	enum ql_err err = qa_store_mit_query(x->store, QA_MQ_BY_JOB, id, 0, &rows, &n);
	if (err != QL_OK) {
		snprintf(detail, len, "cannot read the local store; nothing was done");
		return err;
	}
	bool undo = strcmp(c->action, "undo") == 0;
	if (n == 0) {
		snprintf(detail, len,
		         undo ? "nothing to undo: this mitigation never changed anything here"
		              : "not in effect here: this mitigation never changed anything here");
		return undo ? QL_OK : QL_ERR_NOT_ACTIVE;
	}
	/* One row per signer that used this job id; normally exactly one. */
	enum ql_err worst = QL_OK;
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(rows[i].handle, c->handle) != 0)
			continue; /* the policy check was for c->handle */
		char one[QL_MAX_DETAIL + 1];
		err = undo ? undo_row(x, k, &rows[i], c->dry_run, one, sizeof one, ev)
		           : extend_row(x, k, &rows[i], c->ttl_seconds, c->dry_run, one, sizeof one,
		                        ev);
		if (err != QL_OK && worst == QL_OK)
			worst = err;
		used += (size_t)snprintf(detail + used, used < len ? len - used : 0, "%s%s",
		                         used ? "; " : "", one);
		if (used >= len)
			used = len - 1;
	}
	free(rows);
	if (used == 0) {
		snprintf(detail, len, "mitigation is on handle other than '%s' here", c->handle);
		return QL_ERR_NOT_ACTIVE;
	}
	return worst;
}

void qa_life_expire(const struct qa_exec_env *x, int64_t now)
{
	struct qa_mitigation *rows = NULL;
	size_t n = 0;
	if (qa_store_mit_query(x->store, QA_MQ_DUE, NULL, now, &rows, &n) != QL_OK) {
		ql_error("cannot read the mitigations due; trying again in a second");
		return;
	}
	for (size_t i = 0; i < n; i++)
		(void)revert_row(x, &rows[i], "expired", NULL, false); /* stores the event */
	free(rows);
}

void qa_life_recover(const struct qa_exec_env *x)
{
	struct qa_mitigation *rows = NULL;
	size_t n = 0;
	if (qa_store_mit_query(x->store, QA_MQ_UNSETTLED, NULL, 0, &rows, &n) != QL_OK) {
		ql_error("cannot read unsettled mitigations at start");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct qa_mitigation *m = &rows[i];
		struct qa_life_events ev = {0};
		if (m->state == QA_MIT_PENDING) {
			/* The action was interrupted: its effect is unknown, its record is
			 * not. Settled like a finished one: a TTL still applies. */
			bool tx = qa_store_tx_begin(x->store) == QL_OK;
			enum ql_err err = settle_row(x, m, "interrupted", &ev);
			for (size_t e = 0; e < ev.n && err == QL_OK; e++)
				err = event_store_ev(x, &ev.e[e]);
			if (tx && qa_store_tx_end(x->store, err == QL_OK) != QL_OK)
				err = QL_ERR_STORE;
			if (err != QL_OK)
				ql_error("could not settle an interrupted mitigation");
		} else {
			/* reverting: reverts are safe to repeat. An undo's event goes in
			 * the undo job's answer (qa_life_job_events), a TTL's to the store. */
			char cause[16];
			snprintf(cause, sizeof cause, "%s", m->cause[0] ? m->cause : "expired");
			(void)revert_row(x, m, cause, m->has_by_job ? m->by_job : NULL, false);
		}
	}
	free(rows);
}

void qa_life_job_events(const struct qa_exec_env *x, const uint8_t job_id[QL_JOB_ID_LEN],
                        struct qa_life_events *ev)
{
	struct qa_mitigation *rows = NULL;
	size_t n = 0;
	/* The mitigations it created, and those it changed (an undo, an extend, a takeover). */
	for (int q = 0; q < 2; q++) {
		if (qa_store_mit_query(x->store, q ? QA_MQ_BY_CAUSE : QA_MQ_BY_JOB, job_id, 0,
		                       &rows, &n) != QL_OK)
			return;
		for (size_t i = 0; i < n; i++)
			if (rows[i].state != QA_MIT_PENDING && rows[i].state != QA_MIT_REVERTING)
				event_add(ev, &rows[i]);
		free(rows);
	}
}
