/*
 * exec.c: one command in, one signed result out (see exec.h).
 *
 * The order of checks matters and is part of the contract:
 *
 *   1. envelope structure and signature      -> malformed / bad-signature
 *   2. command body decoding and limits      -> malformed
 *   3. signer known to this host             -> unknown-signer
 *   4. (signer, job id) seen before          -> recorded answer / replayed
 *   5. validity window (with clock skew)     -> expired / not-yet-valid
 *   6. selector matches this host            -> not-targeted
 *   7. policy allows signer, action, handle  -> denied
 *   8. action exists, handle exists and fits -> unknown-action / unknown-handle
 *   9. action's own argument checks          -> bad-argument
 *  10. record intent, act, record the answer
 *
 * Step 4 comes before the clock checks so a redelivery of a job that already
 * ran gets its recorded answer, not a confusing "expired". Every rejection
 * from step 3 on is recorded under its job id, so redelivering it gives the
 * same answer; nothing before step 10 changes the host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions/actions.h"
#include "codec.h"
#include "envelope.h"
#include "exec.h"
#include "lifecycle.h"
#include "log.h"
#include "policy.h"
#include "ql_limits.h"
#include "selector.h"

struct job {
	const struct qa_exec_env *x;
	Quell__Command *cmd; /* NULL if unreadable */
	uint8_t job_id[QL_JOB_ID_LEN];
	bool have_id;
	uint8_t hash[QL_HASH_LEN];
	bool have_hash;
	uint8_t signer_pk[QL_PUBKEY_LEN];
	/* config name, or base64 key if unknown */
	char signer[QL_MAX_NAME + 1 > QL_PUBKEY_B64_LEN ? QL_MAX_NAME + 1 : QL_PUBKEY_B64_LEN];
	struct qa_job_key key; /* set once the signer and job id are known */
	struct qa_job_record rec;
};

static enum ql_err sign_result(const struct job *j, bool duplicate, uint8_t **out, size_t *out_len)
{
	Quell__Result r = QUELL__RESULT__INIT;
	r.job_id.data = (uint8_t *)j->job_id;
	r.job_id.len = QL_JOB_ID_LEN;
	r.hostname = j->x->cfg->hostname;
	r.status = (Quell__Status)j->rec.status;
	r.reason = (char *)j->rec.reason;
	r.detail = (char *)j->rec.detail;
	r.started_at = j->rec.started_at;
	r.finished_at = j->rec.finished_at;
	if (j->have_hash) {
		r.command_hash.data = (uint8_t *)j->hash;
		r.command_hash.len = QL_HASH_LEN;
	}
	r.duplicate = duplicate;
	/* Our own bytes (the job record), unpacked again to travel in the result. */
	Quell__AgentEvents *ev = NULL;
	if (j->rec.events_len) {
		ev = quell__agent_events__unpack(NULL, j->rec.events_len, j->rec.events);
		if (ev) {
			r.mitigations = ev->events;
			r.n_mitigations = ev->n_events;
		}
	}

	uint8_t *body;
	size_t body_len;
	enum ql_err err = ql_pack(&r.base, &body, &body_len);
	if (ev)
		quell__agent_events__free_unpacked(ev, NULL);
	if (err != QL_OK)
		return err;
	err = ql_envelope_seal(QUELL__KIND__KIND_RESULT, j->x->key, body, body_len, out, out_len);
	free(body);
	return err;
}

static void audit(const struct job *j)
{
	static const char *names[] = {"?", "ok", "failed", "rejected"};
	const Quell__Command *c = j->cmd;
	struct qa_audit_entry e = {
		.job_id = j->have_id ? j->job_id : NULL,
		.signer = j->signer[0] ? j->signer : NULL,
		.action = c ? c->action : NULL,
		.handle = c ? c->handle : NULL,
		.target = c ? c->target : NULL,
		.reason_text = c ? c->reason : NULL,
		.status = names[j->rec.status <= 3 ? j->rec.status : 0],
		.code = j->rec.reason,
		.detail = j->rec.detail,
	};
	if (qa_store_audit(j->x->store, &e) != QL_OK)
		ql_error("audit log write failed for the record below");
	char hex[2 * QL_JOB_ID_LEN + 1] = "-";
	if (j->have_id)
		ql_hex(j->job_id, QL_JOB_ID_LEN, hex);
	ql_log(j->rec.status == QUELL__STATUS__STATUS_OK ? QL_LOG_INFO : QL_LOG_WARN,
	       "job %s signer=%s action=%s handle=%s: %s%s%s: %s", hex,
	       j->signer[0] ? j->signer : "-", c ? c->action : "-",
	       c && c->handle[0] ? c->handle : "-", e.status, j->rec.reason[0] ? " " : "",
	       j->rec.reason, j->rec.detail);
}

static void set_outcome(struct job *j, Quell__Status status, enum ql_err err, const char *detail)
{
	j->rec.status = status;
	snprintf(j->rec.reason, sizeof j->rec.reason, "%s", err == QL_OK ? "" : ql_err_code(err));
	snprintf(j->rec.detail, sizeof j->rec.detail, "%s",
	         detail && detail[0] ? detail : ql_strerror(err));
	j->rec.finished_at = ql_now();
}

/* Steps 5 to 9: everything that can reject a readable command from a known signer. */
static enum ql_err admit(struct job *j, const struct qa_action **act,
                         const struct qa_handle **handle, struct qa_action_ctx *ctx)
{
	const struct qa_config *cfg = j->x->cfg;
	const Quell__Command *c = j->cmd;
	int64_t now = ql_now();

	if (now + cfg->clock_skew < c->issued_at)
		return QL_ERR_NOT_YET_VALID;
	if (now - cfg->clock_skew > c->expires_at)
		return QL_ERR_EXPIRED;
	if (!ql_selector_match(c->target, cfg->hostname, cfg->labels, cfg->n_labels))
		return QL_ERR_NOT_TARGETED;
	const char *name;
	enum ql_err err = qa_policy_check(cfg, j->signer_pk, c->action, c->handle, &name);
	const struct qa_signer *signer = qa_config_signer(cfg, j->signer_pk);
	if (qa_life_is_command(c->action)) {
		/* undo, extend: about a mitigation (lifecycle.c), run without an action. */
		*act = NULL;
		ctx->dry_run = c->dry_run;
		err = qa_life_check(j->x, j->signer_pk, c, err, ctx->detail, ctx->detail_len);
		return err != QL_OK
		               ? err
		               : qa_life_check_ttl(signer, c, false, ctx->detail, ctx->detail_len);
	}
	if (err != QL_OK)
		return err;

	*act = qa_action_find(c->action);
	if (*act == NULL)
		return QL_ERR_UNKNOWN_ACTION;
	err = qa_life_check_ttl(signer, c, (*act)->reversible, ctx->detail, ctx->detail_len);
	if (err != QL_OK)
		return err;
	*handle = NULL;
	if ((*act)->handle_types != 0) {
		*handle = qa_config_handle(cfg, c->handle);
		if (*handle == NULL || !((*act)->handle_types & QA_TYPE((*handle)->type))) {
			snprintf(ctx->detail, ctx->detail_len,
			         "no %s handle named '%s' on this host", (*act)->name, c->handle);
			return QL_ERR_UNKNOWN_HANDLE;
		}
	} else if (c->handle[0] != '\0') {
		snprintf(ctx->detail, ctx->detail_len, "%s takes no handle", (*act)->name);
		return QL_ERR_UNKNOWN_HANDLE;
	}
	for (size_t i = 0; i < c->n_args; i++) {
		bool known = false;
		for (size_t k = 0; (*act)->arg_names[k] && !known; k++)
			known = strcmp((*act)->arg_names[k], c->args[i]->key) == 0;
		for (size_t k = 0; k < i && known; k++)
			known = strcmp(c->args[k]->key, c->args[i]->key) != 0;
		if (!known) {
			snprintf(ctx->detail, ctx->detail_len, "unknown or repeated argument '%s'",
			         c->args[i]->key);
			return QL_ERR_BAD_ARGUMENT;
		}
	}
	ctx->handle = *handle;
	ctx->state_dir = cfg->state_dir;
	ctx->args = c->args;
	ctx->n_args = c->n_args;
	ctx->dry_run = c->dry_run;
	ctx->ttl = c->ttl_seconds;
	return (*act)->check(ctx);
}

static void save_undo(void *arg, const char *undo)
{
	const struct job *j = arg;
	if (qa_store_job_set_undo(j->x->store, &j->key, undo) != QL_OK)
		ql_error("could not record the undo record before acting: %s", undo);
	qa_life_pending(j->x, &j->key, j->cmd, j->cmd->action, undo);
}

/* What the job did to mitigations, into its record (and so its result). */
static void keep_events(struct job *j, const struct qa_life_events *ev)
{
	j->rec.events_len = 0;
	if (ev->n && !qa_life_events_pack(ev, j->x->cfg->hostname, j->rec.events,
	                                  sizeof j->rec.events, &j->rec.events_len))
		ql_warn("mitigation events do not fit in the result; the coordinator misses them");
}

/* Record the outcome; for a reversible action also what became of mitigations, at once. */
static void record_outcome(struct job *j, const struct qa_action *act, const char *undo)
{
	struct qa_life_events ev = {0};
	bool settle = act && act->reversible && !j->cmd->dry_run;
	bool tx = settle && qa_store_tx_begin(j->x->store) == QL_OK;
	if (settle && qa_life_settle(j->x, &j->key, j->cmd, act, undo, &ev) != QL_OK) {
		/* None of it, then: the pending row stays (it still reverts at its
		 * TTL), and the job's answer is recorded on its own. */
		ql_error("could not record what became of the mitigations this job touched");
		if (tx && qa_store_tx_end(j->x->store, false) != QL_OK)
			ql_error("could not roll back a half-recorded settle");
		tx = false;
		ev.n = 0;
	}
	keep_events(j, &ev);
	enum ql_err err =
		qa_store_job_finish(j->x->store, &j->key, j->hash, j->cmd->expires_at, &j->rec);
	if (tx && qa_store_tx_end(j->x->store, err == QL_OK) != QL_OK)
		err = QL_ERR_STORE;
	if (err != QL_OK)
		ql_error("could not record the result of a job that ran; a redelivery will be "
		         "answered 'interrupted'");
}

/* Step 10: intent, action, answer. */
static void perform(struct job *j, const struct qa_action *act, struct qa_action_ctx *ctx)
{
	enum ql_err err = qa_store_job_begin(j->x->store, &j->key, j->hash, j->cmd->expires_at);
	if (err != QL_OK) {
		/* Without a durable intent record we cannot promise at-most-once. */
		set_outcome(j, QUELL__STATUS__STATUS_FAILED, QL_ERR_STORE,
		            "cannot record intent in the local store; nothing was done");
		return;
	}
	if (act == NULL) { /* undo, extend */
		struct qa_life_events ev = {0};
		err = qa_life_run(j->x, &j->key, j->cmd, ctx->detail, ctx->detail_len, &ev);
		set_outcome(j,
		            err == QL_OK ? QUELL__STATUS__STATUS_OK : QUELL__STATUS__STATUS_FAILED,
		            err, ctx->detail);
		keep_events(j, &ev);
		if (qa_store_job_finish(j->x->store, &j->key, j->hash, j->cmd->expires_at,
		                        &j->rec) != QL_OK)
			ql_error("could not record the result of a job that ran; a redelivery will "
			         "be answered 'interrupted'");
		return;
	}
	ctx->save_undo = act->reversible ? save_undo : NULL;
	ctx->save_undo_arg = j;
	err = act->run(ctx);
	set_outcome(j, err == QL_OK ? QUELL__STATUS__STATUS_OK : QUELL__STATUS__STATUS_FAILED, err,
	            ctx->detail);
	if (!ctx->dry_run)
		snprintf(j->rec.undo, sizeof j->rec.undo, "%s", ctx->undo);
	record_outcome(j, act, ctx->dry_run ? "" : ctx->undo);
}

enum known { KNOWN_OTHER_COMMAND, KNOWN_ANSWERED, KNOWN_INTERRUPTED };

/*
 * Answer a job we have seen before: its recorded answer (a duplicate), or, if
 * we died between intent and outcome, "interrupted" (a first answer: the
 * coordinator has never heard it). A different command under the same id is
 * a replay.
 */
static enum known answer_known(struct job *j, const struct qa_job_record *seen)
{
	if (memcmp(seen->body_hash, j->hash, QL_HASH_LEN) != 0)
		return KNOWN_OTHER_COMMAND;
	if (seen->state == QA_JOB_RUNNING) {
		/* We recorded intent, then died before recording the outcome. */
		j->rec.started_at = seen->started_at;
		set_outcome(j, QUELL__STATUS__STATUS_FAILED, QL_ERR_INTERRUPTED,
		            seen->undo[0] ? "interrupted: the agent stopped while this job was "
		                            "running; it was not run again and its effect is "
		                            "unknown, check the host (the state before it is "
		                            "recorded for undo)"
		                          : "interrupted: the agent stopped while this job was "
		                            "running; it was not run again and its effect is "
		                            "unknown, check the host");
		snprintf(j->rec.undo, sizeof j->rec.undo, "%s", seen->undo); /* keep it */
		struct qa_life_events ev = {0};
		qa_life_job_events(j->x, j->job_id, &ev); /* settled at the agent's start */
		keep_events(j, &ev);
		if (qa_store_job_finish(j->x->store, &j->key, j->hash, j->cmd->expires_at,
		                        &j->rec) != QL_OK)
			ql_error("could not record the interrupted job");
		return KNOWN_INTERRUPTED;
	}
	j->rec = *seen;
	return KNOWN_ANSWERED;
}

/* A command that passed every check, waiting to run (see exec.h). */
struct qa_pending {
	struct job j;
	struct ql_opened o;
	const struct qa_action *act;
	struct qa_action_ctx ctx;
	char detail[QL_MAX_DETAIL + 1];
	char undo[QA_MAX_UNDO + 1];
};

static void pending_free(struct qa_pending *p)
{
	if (p->j.cmd)
		quell__command__free_unpacked(p->j.cmd, NULL);
	ql_opened_fini(&p->o);
	free(p);
}

/* Record (if asked), audit, sign the answer; frees p. */
static enum ql_err finish(struct qa_pending *p, bool duplicate, bool record, uint8_t **out,
                          size_t *out_len)
{
	struct job *j = &p->j;
	if (record && qa_store_job_finish(j->x->store, &j->key, j->hash, j->cmd->expires_at,
	                                  &j->rec) != QL_OK)
		ql_error("could not record a rejection");
	if (!duplicate)
		audit(j);
	else
		ql_info("job redelivered; answered from the store (%s)", j->rec.detail);
	if (!j->have_id)
		memset(j->job_id, 0, sizeof j->job_id); /* coordinator matches on the delivery */
	enum ql_err err = sign_result(j, duplicate, out, out_len);
	pending_free(p);
	return err;
}

enum ql_err qa_exec_admit(const struct qa_exec_env *x, const uint8_t *env, size_t len,
                          const uint8_t *tag, enum qa_admit *outcome, struct qa_pending **pending,
                          uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*pending = NULL;
	*outcome = QA_ADMIT_ANSWER;
	struct qa_pending *p = calloc(1, sizeof *p);
	if (p == NULL)
		return QL_ERR_NOMEM;
	struct job *j = &p->j;
	bool duplicate = false;
	bool record = false; /* store the rejection under its job id */
	p->ctx = (struct qa_action_ctx){.detail = p->detail,
	                                .detail_len = sizeof p->detail,
	                                .undo = p->undo,
	                                .undo_len = sizeof p->undo};
	j->x = x;
	j->rec.started_at = ql_now();
	if (tag) {
		memcpy(j->job_id, tag, QL_JOB_ID_LEN);
		j->have_id = true;
	}

	/* 1, 2: UNTRUSTED bytes; sizes and signature before any decoding of the body. */
	enum ql_err err = ql_envelope_open(env, len, QL_KIND_BIT(QUELL__KIND__KIND_COMMAND), &p->o);
	if (err != QL_OK) {
		set_outcome(j, QUELL__STATUS__STATUS_REJECTED, err, NULL);
		goto answer;
	}
	memcpy(j->signer_pk, p->o.signer, QL_PUBKEY_LEN);
	ql_pubkey_format(p->o.signer, j->signer);
	ql_body_hash(p->o.body, p->o.body_len, j->hash);
	j->have_hash = true;
	err = ql_command_decode(p->o.body, p->o.body_len, &j->cmd);
	if (err != QL_OK) {
		set_outcome(j, QUELL__STATUS__STATUS_REJECTED, err, NULL);
		goto answer;
	}
	memcpy(j->job_id, j->cmd->job_id.data, QL_JOB_ID_LEN);
	j->have_id = true;

	/* 3 */
	const struct qa_signer *s = qa_config_signer(x->cfg, j->signer_pk);
	if (s == NULL) {
		set_outcome(j, QUELL__STATUS__STATUS_REJECTED, QL_ERR_UNKNOWN_SIGNER, NULL);
		goto answer;
	}
	snprintf(j->signer, sizeof j->signer, "%s", s->name);
	j->key = (struct qa_job_key){.signer = j->signer_pk, .job_id = j->job_id};

	/* 4: queued or running right now (a redelivery while we work): answer later. */
	enum qa_in_flight busy =
		x->in_flight ? x->in_flight(x->in_flight_arg, &j->key, j->hash) : QA_NOT_IN_FLIGHT;
	if (busy == QA_IN_FLIGHT) {
		ql_debug("job redelivered while queued or running; its result follows");
		*outcome = QA_ADMIT_IN_FLIGHT;
		pending_free(p);
		return QL_OK;
	}
	if (busy == QA_OTHER_IN_FLIGHT) {
		set_outcome(j, QUELL__STATUS__STATUS_REJECTED, QL_ERR_REPLAYED, NULL);
		goto answer; /* not recorded: the job under this id is the one in flight */
	}
	struct qa_job_record seen;
	err = qa_store_job_get(x->store, &j->key, &seen);
	if (err != QL_OK) {
		set_outcome(j, QUELL__STATUS__STATUS_FAILED, QL_ERR_STORE,
		            "cannot read the local store; nothing was done");
		goto answer;
	}
	if (seen.state != QA_JOB_NONE) {
		switch (answer_known(j, &seen)) {
		case KNOWN_ANSWERED:
			duplicate = true;
			break;
		case KNOWN_INTERRUPTED:
			break;
		case KNOWN_OTHER_COMMAND:
			set_outcome(j, QUELL__STATUS__STATUS_REJECTED, QL_ERR_REPLAYED, NULL);
			break;
		}
		goto answer;
	}

	/* 5 to 9 */
	const struct qa_handle *handle = NULL;
	err = admit(j, &p->act, &handle, &p->ctx);
	if (err != QL_OK) {
		set_outcome(j, QUELL__STATUS__STATUS_REJECTED, err, p->detail);
		record = true;
		goto answer;
	}
	*outcome = QA_ADMIT_RUN;
	*pending = p;
	return QL_OK;

answer:
	return finish(p, duplicate, record, out, out_len);
}

const struct qa_job_key *qa_pending_key(const struct qa_pending *p)
{
	return &p->j.key;
}

const uint8_t *qa_pending_hash(const struct qa_pending *p)
{
	return p->j.hash;
}

enum ql_err qa_exec_run(struct qa_pending *p, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	/* It may have waited in the queue: a command never runs after it expired. */
	if (ql_now() - p->j.x->cfg->clock_skew > p->j.cmd->expires_at) {
		set_outcome(
			&p->j, QUELL__STATUS__STATUS_REJECTED, QL_ERR_EXPIRED,
			"command expired while it waited in the agent's queue; nothing was done");
		return finish(p, false, true, out, out_len);
	}
	/* The deadline counts from when the action starts, not from when it was queued. */
	p->ctx.deadline_ms = ql_mono_ms() + 1000 * (p->ctx.handle ? p->ctx.handle->timeout_s : 30);
	p->j.rec.started_at = ql_now();
	perform(&p->j, p->act, &p->ctx);
	return finish(p, false, false, out, out_len);
}

enum ql_err qa_exec_refuse(struct qa_pending *p, enum ql_err why, uint8_t **out, size_t *out_len)
{
	/* Not recorded: the same job may run when delivered again later. */
	set_outcome(&p->j, QUELL__STATUS__STATUS_REJECTED, why, NULL);
	return finish(p, false, false, out, out_len);
}

void qa_pending_free(struct qa_pending *p)
{
	if (p)
		pending_free(p);
}

enum ql_err qa_exec(const struct qa_exec_env *x, const uint8_t *env, size_t len, const uint8_t *tag,
                    uint8_t **out, size_t *out_len)
{
	enum qa_admit outcome;
	struct qa_pending *p;
	enum ql_err err = qa_exec_admit(x, env, len, tag, &outcome, &p, out, out_len);
	if (err != QL_OK || outcome != QA_ADMIT_RUN)
		return err;
	return qa_exec_run(p, out, out_len);
}
