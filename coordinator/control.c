/*
 * control.c: the CLI's side of the coordinator. Every control request is an
 * envelope signed by an operator key listed in the coordinator's config;
 * anything else is refused with "unknown-operator". A submitted command must
 * itself be signed by that same operator: the coordinator relays it
 * verbatim and cannot forge or alter it.
 *
 *   submit  -> creates the job, replies with its targets
 *   watch   -> long-poll for host results past a cursor (paged)
 *   agents  -> the inventory, optionally filtered by a selector
 *   jobs    -> the most recent jobs, running or done (history.c)
 *   timeline, audit verify -> read the audit log (timeline.c)
 *   forget  -> drop a host's pinned agent key (agents.c)
 *
 * watch answers for any job the coordinator ever ran: from memory while
 * it runs and for 30 minutes after, then from the store (history.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "coord.h"
#include "envelope.h"
#include "history.h"
#include "log.h"
#include "mitigations.h"
#include "rules.h"
#include "store.h"
#include "timeline.h"
#include "transport.h"

static void send_reply(struct qc_rctx *rc, Quell__ControlReply *r)
{
	nng_msg *msg = ql_msg_pack(&r->base);
	if (msg == NULL && nng_msg_alloc(&msg, 0) != 0)
		return; /* the CLI times out and says so */
	qc_rctx_reply(rc, msg);
}

static void send_error(struct qc_rctx *rc, const char *code, const char *text)
{
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	r.ok = false;
	r.error_code = (char *)code;
	r.error = (char *)text;
	send_reply(rc, &r);
}

void qc_control_send(struct qc_rctx *rc, Quell__ControlReply *r)
{
	send_reply(rc, r);
}

void qc_control_fail(struct qc_rctx *rc, const char *code, const char *text)
{
	send_error(rc, code, text);
}

/* Reply with host results from `cursor` on (at most one page). */
static void send_results(struct qc_rctx *rc, struct qc_job *job, uint32_t cursor)
{
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	size_t n = job->n_events - cursor;
	if (n > QL_RESULTS_PER_REPLY)
		n = QL_RESULTS_PER_REPLY;
	Quell__HostResult *res = calloc(n ? n : 1, sizeof *res);
	Quell__HostResult **ptrs = calloc(n ? n : 1, sizeof *ptrs);
	if (res == NULL || ptrs == NULL) {
		free(res);
		free(ptrs);
		send_error(rc, "no-memory", "coordinator out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct qc_jobhost *h = &job->hosts[job->events[cursor + i]];
		quell__host_result__init(&res[i]);
		res[i].hostname = h->hostname;
		res[i].status = (char *)qc_host_status_name(h->status);
		res[i].reason = h->reason;
		res[i].detail = h->detail ? h->detail : "";
		res[i].at = h->updated_at / 1000;
		ptrs[i] = &res[i];
	}
	r.ok = true;
	r.job_id.data = job->id;
	r.job_id.len = QL_JOB_ID_LEN;
	r.target_count = (uint32_t)job->n_hosts;
	r.action = job->action;
	r.results = ptrs;
	r.n_results = n;
	r.cursor = cursor + (uint32_t)n;
	r.done = job->done && r.cursor == job->n_events;
	struct qc_jobinfo info;
	qc_jobinfo_live(&info, job);
	r.job = &info.info;
	send_reply(rc, &r);
	qc_jobinfo_fini(&info);
	free(res);
	free(ptrs);
}

static void send_submitted(struct qc_rctx *rc, struct qc_job *job)
{
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	char **names = calloc(job->n_hosts ? job->n_hosts : 1, sizeof *names);
	if (names == NULL) {
		send_error(rc, "no-memory", "coordinator out of memory");
		return;
	}
	for (size_t i = 0; i < job->n_hosts; i++)
		names[i] = job->hosts[i].hostname;
	r.ok = true;
	r.job_id.data = job->id;
	r.job_id.len = QL_JOB_ID_LEN;
	r.target_count = (uint32_t)job->n_hosts;
	r.targets = names;
	r.n_targets = job->n_hosts;
	r.action = job->action;
	r.done = job->done && job->n_events == 0;
	send_reply(rc, &r);
	free(names);
}

static void ignore_summary(void *arg, const struct qc_job_summary *j)
{
	(void)arg, (void)j;
}

static void do_submit(struct qc *c, struct qc_rctx *rc, const struct qc_operator *op,
                      const ProtobufCBinaryData *inner, const Quell__RolloutOptions *rollout)
{
	struct ql_opened o;
	Quell__Command *cmd = NULL;
	char msg[256];
	/* UNTRUSTED (well, an operator's): verify before relaying to thousands of hosts. */
	enum ql_err err = ql_envelope_open(inner->data, inner->len,
	                                   QL_KIND_BIT(QUELL__KIND__KIND_COMMAND), &o);
	if (err != QL_OK) {
		snprintf(msg, sizeof msg, "command refused: %s", ql_strerror(err));
		send_error(rc, ql_err_code(err), msg);
		return;
	}
	if (memcmp(o.signer, op->pk, QL_PUBKEY_LEN) != 0) {
		send_error(rc, "signer-mismatch",
		           "the command must be signed by the operator who submits it");
		goto out;
	}
	err = ql_command_decode(o.body, o.body_len, &cmd);
	if (err != QL_OK) {
		send_error(rc, ql_err_code(err), "command refused: malformed command");
		goto out;
	}
	if (cmd->expires_at < ql_now()) {
		send_error(rc, "expired", "command refused: it has already expired");
		goto out;
	}
	uint8_t hash[QL_HASH_LEN];
	ql_body_hash(o.body, o.body_len, hash);
	struct qc_job *job = qc_job_find(c, cmd->job_id.data);
	if (job == NULL &&
	    qc_store_job_summary(c->store, cmd->job_id.data, ignore_summary, NULL) == QL_OK) {
		/* Done long enough ago to have left memory: its results are in the store. */
		send_error(rc, "replayed",
		           "command refused: this job id was already used; see quell job ID");
		goto out;
	}
	if (job) {
		/* A resubmission (the CLI retried): attach to the existing job. */
		if (memcmp(job->hash, hash, QL_HASH_LEN) != 0)
			send_error(rc, "replayed", "command refused: job id already used");
		else
			send_submitted(rc, job);
		goto out;
	}
	struct qc_rollout ro = {0};
	if (rollout) {
		ro.canary = rollout->canary;
		ro.batch = rollout->batch;
		ro.batch_pct = rollout->batch_percent;
		ro.has_max_failures = rollout->has_max_failures;
		ro.max_failures = rollout->max_failures;
		ro.max_failures_pct = rollout->max_failures_percent;
		ro.host_timeout_s = rollout->host_timeout;
	}
	err = qc_job_create(c, inner->data, inner->len, hash, op->name, cmd, &ro, &job);
	if (err != QL_OK) {
		snprintf(msg, sizeof msg, "could not create the job: %s", ql_strerror(err));
		send_error(rc, ql_err_code(err), msg);
		goto out;
	}
	char hex[2 * QL_JOB_ID_LEN + 1], detail[1200];
	ql_hex(job->id, QL_JOB_ID_LEN, hex);
	snprintf(detail, sizeof detail, "%s %s target=%s hosts=%zu reason=%s", cmd->action,
	         cmd->handle, cmd->target, job->n_hosts, cmd->reason);
	ql_info("job %s from %s: %s", hex, op->name, detail);
	send_submitted(rc, job);
out:
	if (cmd)
		quell__command__free_unpacked(cmd, NULL);
	ql_opened_fini(&o);
}

static void do_watch(struct qc *c, struct qc_rctx *rc, const Quell__WatchRequest *w)
{
	struct qc_job *job = qc_job_find(c, w->job_id.data);
	if (job == NULL) {
		qc_history_watch(c, rc, w); /* done long ago, or unknown */
		return;
	}
	if (w->cursor > job->n_events) {
		send_error(rc, "bad-cursor", "cursor past the end of the job's results");
		return;
	}
	if (w->cursor < job->n_events || job->done || w->wait_ms == 0) {
		send_results(rc, job, w->cursor);
		return;
	}
	rc->cursor = w->cursor;
	qc_rctx_park(rc, job, qc_now_ms() + w->wait_ms);
}

static void do_agents(struct qc *c, struct qc_rctx *rc, const char *target)
{
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	size_t n = HASH_CNT(hh_pk, c->agents_by_pk), k = 0;
	Quell__AgentInfo *info = calloc(n ? n : 1, sizeof *info);
	Quell__AgentInfo **ptrs = calloc(n ? n : 1, sizeof *ptrs);
	Quell__Label *labels = calloc(n * QL_MAX_LABELS + 1, sizeof *labels);
	Quell__Label **lptrs = calloc(n * QL_MAX_LABELS + 1, sizeof *lptrs);
	size_t nl = 0, nc = 0, n_checks = 0;
	struct qc_agent *a, *tmp;
	HASH_ITER (hh_pk, c->agents_by_pk, a, tmp)
		n_checks += a->n_checks;
	Quell__CheckState *checks = calloc(n_checks + 1, sizeof *checks);
	Quell__CheckState **cptrs = calloc(n_checks + 1, sizeof *cptrs);
	if (!info || !ptrs || !labels || !lptrs || !checks || !cptrs) {
		send_error(rc, "no-memory", "coordinator out of memory");
		goto out;
	}
	HASH_ITER (hh_pk, c->agents_by_pk, a, tmp) {
		if (target[0] && !ql_selector_match(target, a->hostname, a->labels, a->n_labels))
			continue;
		Quell__AgentInfo *i = &info[k];
		quell__agent_info__init(i);
		i->hostname = a->hostname;
		i->version = a->version;
		i->connected = a->connected;
		i->last_seen = a->last_seen;
		i->pubkey.data = a->pk;
		i->pubkey.len = QL_PUBKEY_LEN;
		i->labels = &lptrs[nl];
		for (size_t j = 0; j < a->n_labels; j++, nl++) {
			quell__label__init(&labels[nl]);
			labels[nl].key = a->labels[j].key;
			labels[nl].value = a->labels[j].value;
			lptrs[nl] = &labels[nl];
		}
		i->n_labels = a->n_labels;
		i->checks = &cptrs[nc];
		for (size_t j = 0; j < a->n_checks; j++, nc++) {
			quell__check_state__init(&checks[nc]);
			checks[nc].name = a->checks[j].name;
			checks[nc].state = (Quell__CheckState__State)a->checks[j].state;
			checks[nc].since = a->checks[j].since;
			checks[nc].detail = a->checks[j].detail;
			cptrs[nc] = &checks[nc];
		}
		i->n_checks = a->n_checks;
		ptrs[k++] = i;
	}
	r.ok = true;
	r.agents = ptrs;
	r.n_agents = k;
	send_reply(rc, &r);
out:
	free(info);
	free(ptrs);
	free(labels);
	free(lptrs);
	free(checks);
	free(cptrs);
}

void qc_control_on_request(void *arg, struct qc_rctx *rc, nng_msg *msg)
{
	struct qc *c = arg;
	struct ql_opened o;
	Quell__ControlRequest *req = NULL;
	/* UNTRUSTED: anything that reached the control port. */
	enum ql_err err = ql_envelope_open(nng_msg_body(msg), nng_msg_len(msg),
	                                   QL_KIND_BIT(QUELL__KIND__KIND_CONTROL), &o);
	if (err != QL_OK) {
		ql_warn("rejected control request: %s", ql_strerror(err));
		send_error(rc, ql_err_code(err), ql_strerror(err));
		goto out;
	}
	const struct qc_operator *op = qc_config_operator(c->cfg, o.signer);
	if (op == NULL) {
		char key[QL_PUBKEY_B64_LEN];
		ql_pubkey_format(o.signer, key);
		ql_warn("refused control request from unknown operator key %s", key);
		send_error(rc, "unknown-operator",
		           "this operator key is not accepted by the coordinator");
		goto out;
	}
	if (ql_control_decode(o.body, o.body_len, &req) != QL_OK) {
		send_error(rc, "malformed", "malformed control request");
		goto out;
	}
	int64_t now = ql_now();
	if (req->issued_at < now - QL_CONTROL_SKEW || req->issued_at > now + QL_CONTROL_SKEW) {
		send_error(rc, "stale",
		           "control request too old or from the future (check clocks)");
		goto out;
	}
	switch (req->req_case) {
	case QUELL__CONTROL_REQUEST__REQ_SUBMIT:
		do_submit(c, rc, op, &req->submit, req->rollout);
		break;
	case QUELL__CONTROL_REQUEST__REQ_WATCH:
		do_watch(c, rc, req->watch);
		break;
	case QUELL__CONTROL_REQUEST__REQ_JOBS:
		qc_history_list(c, rc, req->jobs->limit);
		break;
	case QUELL__CONTROL_REQUEST__REQ_TIMELINE:
		qc_timeline_send(c, rc, req->timeline);
		break;
	case QUELL__CONTROL_REQUEST__REQ_AUDIT_VERIFY:
		qc_audit_verify_send(c, rc);
		break;
	case QUELL__CONTROL_REQUEST__REQ_MITIGATIONS:
		qc_mitigations_list(c, rc, req->mitigations);
		break;
	case QUELL__CONTROL_REQUEST__REQ_AGENTS:
		do_agents(c, rc, req->agents->target);
		break;
	case QUELL__CONTROL_REQUEST__REQ_AUTOMATION:
		qc_rules_control(c, rc, op->name, req->automation);
		break;
	case QUELL__CONTROL_REQUEST__REQ_FORGET:
		qc_agents_forget(c, rc, op->name, req->forget);
		break;
	default: /* a request this coordinator does not serve (yet) */
		send_error(rc, "unsupported", "this coordinator does not serve this request");
		break;
	}
out:
	if (req)
		quell__control_request__free_unpacked(req, NULL);
	ql_opened_fini(&o);
	nng_msg_free(msg);
}

void qc_control_on_expire(void *arg, struct qc_rctx *rc)
{
	(void)arg;
	struct qc_job *job = rc->owner;
	/* Nothing new arrived in time: an empty page, the CLI polls again. */
	send_results(rc, job, rc->cursor);
}

void qc_control_job_changed(struct qc *c, struct qc_job *job)
{
	struct qc_rctx *rc = c->ctl_pool.parked.next;
	while (rc != &c->ctl_pool.parked) {
		struct qc_rctx *next = rc->next;
		if (rc->owner == job)
			send_results(rc, job, rc->cursor);
		rc = next;
	}
}
