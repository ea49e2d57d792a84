/*
 * jobs.c: fan-out. A job is one operator-signed command and the set of
 * hosts it targets, resolved from the inventory when it is submitted
 * (connected or not). Each host moves pending -> delivered -> a final status
 * exactly once; the job is done when every host is final, so its counts
 * always add up to its target count.
 *
 * Deadlines: nothing is delivered after the command expires; at the
 * deadline (expiry plus a short grace for answers in flight) every host
 * still delivered becomes "timeout" and every host never delivered
 * "unreachable".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "codec.h"
#include "coord.h"
#include "envelope.h"
#include "log.h"
#include "mitigations.h"
#include "quell.pb-c.h"
#include "store.h"

#define DONE_JOB_KEEP_MS (30 * 60 * 1000)

const char *qc_host_status_name(enum qc_host_status s)
{
	static const char *names[] = {"pending",  "delivered", "ok",          "failed",
	                              "rejected", "timeout",   "unreachable", "skipped"};
	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

struct qc_job *qc_job_find(struct qc *c, const uint8_t id[QL_JOB_ID_LEN])
{
	struct qc_job *j = NULL;
	HASH_FIND(hh, c->jobs, id, QL_JOB_ID_LEN, j);
	return j;
}

static void dequeue(struct qc_jobhost *h)
{
	struct qc_agent *a = h->agent;
	if (!h->queued)
		return;
	struct qc_jobhost **pp = &a->qhead, *prev = NULL;
	while (*pp && *pp != h) {
		prev = *pp;
		pp = &(*pp)->qnext;
	}
	if (*pp == h) {
		*pp = h->qnext;
		if (a->qtail == h)
			a->qtail = prev;
	}
	h->qnext = NULL;
	h->queued = false;
}

static void enqueue(struct qc_jobhost *h)
{
	struct qc_agent *a = h->agent;
	h->qnext = NULL;
	if (a->qtail)
		a->qtail->qnext = h;
	else
		a->qhead = h;
	a->qtail = h;
	h->queued = true;
}

static void job_maybe_done(struct qc *c, struct qc_job *job)
{
	if (job->done || job->n_final < job->n_hosts)
		return;
	job->done = true;
	job->done_ms = qc_now_ms();
	if (qc_store_job_done(c->store, job) != QL_OK)
		ql_warn("could not mark a job done in the store");
}

static void rollout_step(struct qc *c, struct qc_job *job);

/* Move a host to a final status, once. */
static void set_final(struct qc *c, struct qc_jobhost *h, enum qc_host_status status,
                      const char *reason, const char *detail, const uint8_t *env, size_t env_len)
{
	if (QC_HOST_FINAL(h->status))
		return;
	h->status = status;
	snprintf(h->reason, sizeof h->reason, "%s", reason ? reason : "");
	free(h->detail);
	h->detail = strdup(detail ? detail : "");
	h->updated_at = qc_now_ms();
	dequeue(h);
	struct qc_job *job = h->job;
	h->seq = (uint32_t)job->n_events;
	job->events[job->n_events++] = (uint32_t)(h - job->hosts);
	job->n_final++;
	if (qc_store_host_save(c->store, h, env, env_len) != QL_OK)
		ql_warn("could not persist the result of %s", h->hostname);
	qc_audit_result(c->store, h);
}

/* A host's final status, and what follows from it: the next batch, the job's end. */
static void finalize(struct qc *c, struct qc_jobhost *h, enum qc_host_status status,
                     const char *reason, const char *detail, const uint8_t *env, size_t env_len)
{
	if (QC_HOST_FINAL(h->status))
		return;
	set_final(c, h, status, reason, detail, env, env_len);
	rollout_step(c, h->job);
	job_maybe_done(c, h->job);
	qc_control_job_changed(c, h->job);
}

static void job_free(struct qc_job *job);

/* A job for an opened, decoded command, with room for n hosts; no hosts yet. */
static struct qc_job *job_new(const uint8_t *env, size_t env_len, const uint8_t hash[QL_HASH_LEN],
                              const char *operator_name, const Quell__Command *cmd, size_t n)
{
	struct qc_job *job = calloc(1, sizeof *job);
	if (job == NULL)
		return NULL;
	memcpy(job->id, cmd->job_id.data, QL_JOB_ID_LEN);
	memcpy(job->hash, hash, QL_HASH_LEN);
	job->env = malloc(env_len);
	job->target = strdup(cmd->target);
	job->hosts = calloc(n ? n : 1, sizeof *job->hosts);
	job->events = calloc(n ? n : 1, sizeof *job->events);
	if (job->env == NULL || job->target == NULL || job->hosts == NULL || job->events == NULL) {
		job_free(job);
		return NULL;
	}
	memcpy(job->env, env, env_len);
	job->env_len = env_len;
	snprintf(job->operator_name, sizeof job->operator_name, "%s", operator_name);
	snprintf(job->action, sizeof job->action, "%s", cmd->action);
	snprintf(job->handle, sizeof job->handle, "%s", cmd->handle);
	snprintf(job->incident, sizeof job->incident, "%s", cmd->incident);
	job->created_ms = qc_now_ms();
	job->deliver_until_ms = cmd->expires_at * 1000;
	job->deadline_ms = job->deliver_until_ms + QL_ANSWER_GRACE_MS;
	return job;
}

static struct qc_jobhost *add_host(struct qc_job *job, struct qc_agent *a)
{
	struct qc_jobhost *h = &job->hosts[job->n_hosts++];
	h->job = job;
	h->agent = a;
	snprintf(h->hostname, sizeof h->hostname, "%s", a->hostname);
	h->status = QC_HOST_PENDING;
	h->updated_at = job->created_ms;
	return h;
}

static size_t pct_of(size_t n, uint32_t pct, bool round_up)
{
	return round_up ? (n * pct + 99) / 100 : n * pct / 100;
}

/* Hosts not ended ok so far (skipped ones never ran and do not count). */
static size_t failures(const struct qc_job *job)
{
	size_t k = 0;
	for (size_t i = 0; i < job->n_hosts; i++)
		k += QC_HOST_FINAL(job->hosts[i].status) && job->hosts[i].status != QC_HOST_OK &&
		     job->hosts[i].status != QC_HOST_SKIPPED;
	return k;
}

/* Start the next batch: deadlines, delivery queues, wake held polls. */
static void start_batch(struct qc *c, struct qc_job *job)
{
	const struct qc_rollout *r = &job->rollout;
	size_t left = job->n_hosts - job->started, size;
	if (job->batches == 0 && r->canary)
		size = r->canary;
	else if (r->batch_pct)
		size = pct_of(job->n_hosts, r->batch_pct, true);
	else
		size = r->batch ? r->batch : left;
	if (size == 0 || size > left)
		size = left;
	int64_t now = qc_now_ms();
	int64_t until = r->host_timeout_s
	                        ? now + 1000 * (int64_t)r->host_timeout_s + QL_ANSWER_GRACE_MS
	                        : job->deadline_ms;
	if (until > job->deadline_ms)
		until = job->deadline_ms;
	if (job->resumed && until < now + c->cfg->hold_ms + QL_ANSWER_GRACE_MS)
		until = now + c->cfg->hold_ms + QL_ANSWER_GRACE_MS; /* agents are reconnecting */
	job->batch_from = job->started;
	job->batches++;
	for (size_t i = job->started; i < job->started + size; i++) {
		struct qc_jobhost *h = &job->hosts[i];
		h->deadline_ms = until;
		if (QC_HOST_FINAL(h->status))
			continue; /* resumed: already answered */
		enqueue(h);
	}
	job->started += size;
	for (size_t i = job->batch_from; i < job->started; i++) {
		struct qc_jobhost *h = &job->hosts[i];
		if (h->queued &&
		    h->agent->parked) /* answers the held poll with its first due job */
			qc_agent_next(c, h->agent, h->agent->parked);
	}
}

static void skip_rest(struct qc *c, struct qc_job *job, const char *why)
{
	for (size_t i = job->started; i < job->n_hosts; i++)
		set_final(c, &job->hosts[i], QC_HOST_SKIPPED, "skipped", why, NULL, 0);
	job->started = job->n_hosts;
}

/*
 * After a host became final: when its batch is complete, either start the
 * next one or, if the canary failed or the failure budget is spent, skip
 * every host not started yet.
 */
static void rollout_step(struct qc *c, struct qc_job *job)
{
	while (job->started < job->n_hosts) {
		for (size_t i = job->batch_from; i < job->started; i++)
			if (!QC_HOST_FINAL(job->hosts[i].status))
				return; /* the current batch is still running */
		const struct qc_rollout *r = &job->rollout;
		size_t fails = failures(job);
		size_t budget = !r->has_max_failures ? SIZE_MAX
		                : r->max_failures_pct
		                        ? pct_of(job->n_hosts, r->max_failures_pct, false)
		                        : r->max_failures;
		char why[160];
		if (qc_now_ms() >= job->deliver_until_ms) {
			skip_rest(c, job, "not started: the command expired before its batch");
		} else if (job->batches == 1 && r->canary && fails > 0) {
			snprintf(why, sizeof why,
			         "not started: %zu of the %u canary hosts did not end ok", fails,
			         r->canary);
			skip_rest(c, job, why);
		} else if (fails > budget) {
			snprintf(
				why, sizeof why,
				"not started: %zu hosts did not end ok, more than --max-failures %zu",
				fails, budget);
			skip_rest(c, job, why);
		} else {
			start_batch(c, job);
		}
	}
}

static int by_hostname(const void *a, const void *b)
{
	const struct qc_jobhost *x = a, *y = b;
	return strcmp(x->hostname, y->hostname);
}

/* Begin (or, after a restart, continue) delivering a job. */
static void start_delivery(struct qc *c, struct qc_job *job)
{
	job->started = job->batch_from = 0;
	job->batches = 0;
	if (job->n_hosts)
		start_batch(c, job);
	rollout_step(c, job); /* resumed: batches already complete move on */
	job_maybe_done(c, job);
}

struct scope {
	struct qc *c;
	struct qc_job *job;
	const Quell__Command *cmd;
};

/* A host the mitigation is on, if it is still in the inventory and the command targets it. */
static void add_in_scope(void *arg, const char *hostname)
{
	struct scope *s = arg;
	struct qc_agent *a = NULL;
	HASH_FIND(hh_name, s->c->agents_by_name, hostname, strlen(hostname), a);
	if (a && s->job->n_hosts < HASH_CNT(hh_pk, s->c->agents_by_pk) &&
	    ql_selector_match(s->cmd->target, a->hostname, a->labels, a->n_labels))
		add_host(s->job, a);
}

enum ql_err qc_job_create(struct qc *c, const uint8_t *env, size_t env_len,
                          const uint8_t hash[QL_HASH_LEN], const char *operator_name,
                          const void *command, const struct qc_rollout *rollout,
                          struct qc_job **out)
{
	const Quell__Command *cmd = command;
	*out = NULL;
	struct qc_job *job =
		job_new(env, env_len, hash, operator_name, cmd, HASH_CNT(hh_pk, c->agents_by_pk));
	if (job == NULL)
		return QL_ERR_NOMEM;
	uint8_t mid[QL_JOB_ID_LEN];
	if (qc_mitigation_id(cmd, mid)) {
		/* undo, extend: the hosts the mitigation is on (extend: where it is in effect). */
		struct scope s = {c, job, cmd};
		enum ql_err err = qc_mitigation_hosts(c, mid, strcmp(cmd->action, "extend") == 0,
		                                      add_in_scope, &s);
		if (err != QL_OK) {
			job_free(job);
			return err;
		}
	} else {
		struct qc_agent *a, *tmp;
		HASH_ITER (hh_pk, c->agents_by_pk, a, tmp) {
			if (ql_selector_match(cmd->target, a->hostname, a->labels, a->n_labels))
				add_host(job, a);
		}
	}
	if (job->n_hosts) /* hosts is NULL when nothing matched */
		qsort(job->hosts, job->n_hosts, sizeof *job->hosts, by_hostname);
	if (rollout)
		job->rollout = *rollout;
	if (qc_store_job_save(c->store, job, cmd->reason) != QL_OK) {
		job_free(job);
		return QL_ERR_STORE;
	}
	HASH_ADD(hh, c->jobs, id, QL_JOB_ID_LEN, job);
	/* Before delivery starts: hosts can become final at once (skipped). */
	qc_audit_submit(c->store, job, cmd);
	start_delivery(c, job);
	*out = job;
	return QL_OK;
}

static enum qc_host_status status_from_name(const char *name)
{
	for (int s = QC_HOST_OK; s <= QC_HOST_SKIPPED; s++)
		if (strcmp(qc_host_status_name((enum qc_host_status)s), name) == 0)
			return (enum qc_host_status)s;
	return QC_HOST_PENDING; /* pending, delivered: deliver (again) */
}

static const struct qc_job *seq_job; /* for by_seq; resume runs single-threaded */

static int by_seq(const void *a, const void *b)
{
	uint32_t x = seq_job->hosts[*(const uint32_t *)a].seq;
	uint32_t y = seq_job->hosts[*(const uint32_t *)b].seq;
	return x < y ? -1 : x > y;
}

static void sort_events_by_seq(struct qc_job *job)
{
	seq_job = job;
	if (job->n_events) /* events is NULL until the first one */
		qsort(job->events, job->n_events, sizeof *job->events, by_seq);
	seq_job = NULL;
}

/*
 * A job the coordinator was running when it stopped (or was killed): final
 * statuses stay as recorded, every other host is delivered again. An agent
 * that already acted answers with its recorded result, so nothing runs
 * twice, and an agent that never got it runs it now (if not expired).
 */
static void resume_one(void *arg, const struct qc_stored_job *sj)
{
	struct qc *c = arg;
	struct ql_opened o;
	Quell__Command *cmd = NULL;
	char hex[2 * QL_JOB_ID_LEN + 1];
	ql_hex(sj->id, QL_JOB_ID_LEN, hex);
	/* Our own store, but the envelope is checked as if it came from outside. */
	if (ql_envelope_open(sj->env, sj->env_len, QL_KIND_BIT(QUELL__KIND__KIND_COMMAND), &o) !=
	    QL_OK) {
		ql_error("job %s: stored command does not verify; not resumed", hex);
		return;
	}
	uint8_t hash[QL_HASH_LEN];
	ql_body_hash(o.body, o.body_len, hash);
	if (ql_command_decode(o.body, o.body_len, &cmd) != QL_OK ||
	    memcmp(cmd->job_id.data, sj->id, QL_JOB_ID_LEN) != 0) {
		ql_error("job %s: stored command is unreadable; not resumed", hex);
		goto out;
	}
	struct qc_job *job =
		job_new(sj->env, sj->env_len, hash, sj->operator_name, cmd, sj->n_hosts);
	if (job == NULL) {
		ql_error("job %s: out of memory; not resumed", hex);
		goto out;
	}
	job->created_ms = sj->created_at * 1000;
	size_t n_final = 0;
	for (size_t i = 0; i < sj->n_hosts; i++) {
		const struct qc_stored_host *s = &sj->hosts[i];
		struct qc_agent *a = qc_agent_find(c, s->pk);
		if (a == NULL) {
			ql_warn("job %s: host %s is no longer in the inventory", hex, s->hostname);
			continue;
		}
		struct qc_jobhost *h = add_host(job, a);
		h->status = status_from_name(s->status);
		h->updated_at = s->updated_at * 1000;
		h->seq = s->seq;
		if (QC_HOST_FINAL(h->status)) {
			snprintf(h->reason, sizeof h->reason, "%s", s->reason);
			h->detail = strdup(s->detail);
		}
	}
	if (job->n_hosts) /* hosts is NULL when nothing matched */
		qsort(job->hosts, job->n_hosts, sizeof *job->hosts, by_hostname);
	/* The final statuses in the order they first came in, so a CLI that was
	 * following the job continues from its cursor without gaps or repeats. */
	for (size_t i = 0; i < job->n_hosts; i++) {
		if (QC_HOST_FINAL(job->hosts[i].status)) {
			job->events[job->n_events++] = (uint32_t)i;
			job->n_final++;
			n_final++;
		}
	}
	sort_events_by_seq(job);
	job->rollout = sj->rollout;
	job->resumed = true;
	HASH_ADD(hh, c->jobs, id, QL_JOB_ID_LEN, job);
	ql_info("resumed job %s (%s %s): %zu of %zu hosts already final", hex, job->action,
	        job->handle, n_final, job->n_hosts);
	start_delivery(c, job);
out:
	if (cmd)
		quell__command__free_unpacked(cmd, NULL);
	ql_opened_fini(&o);
}

enum ql_err qc_jobs_resume(struct qc *c)
{
	return qc_store_jobs_load_unfinished(c->store, resume_one, c);
}

void qc_job_result(struct qc *c, struct qc_agent *a, const void *result, const uint8_t *env,
                   size_t env_len)
{
	const Quell__Result *r = result;
	static const uint8_t zero[QL_JOB_ID_LEN];
	struct qc_job *job = NULL;
	struct qc_jobhost *h = NULL;

	if (memcmp(r->job_id.data, zero, QL_JOB_ID_LEN) == 0) {
		/* The agent could not read the command: it answers the delivery. */
		for (h = a->qhead; h && h->status != QC_HOST_DELIVERED; h = h->qnext)
			;
		job = h ? h->job : NULL;
	} else {
		job = qc_job_find(c, r->job_id.data);
		for (size_t i = 0; job && i < job->n_hosts && !h; i++)
			if (job->hosts[i].agent == a)
				h = &job->hosts[i];
	}
	/* Signed by the agent and true whatever became of the job (mitigations.c
	 * checks it is about this agent's own mitigations). */
	if (r->n_mitigations)
		qc_mitigations_apply(c, a, r->mitigations, r->n_mitigations, true, h ? job : NULL);
	if (h == NULL) {
		ql_debug("result from %s for a job it is not part of (late or duplicate)",
		         a->hostname);
		return;
	}
	if (QC_HOST_FINAL(h->status))
		return; /* a resent answer; the first one counts */
	if (r->command_hash.len == QL_HASH_LEN &&
	    memcmp(r->command_hash.data, job->hash, QL_HASH_LEN) != 0) {
		finalize(c, h, QC_HOST_FAILED, "mismatch",
		         "agent answered a different command than the one delivered", env, env_len);
		return;
	}
	enum qc_host_status st = r->status == QUELL__STATUS__STATUS_OK         ? QC_HOST_OK
	                         : r->status == QUELL__STATUS__STATUS_REJECTED ? QC_HOST_REJECTED
	                                                                       : QC_HOST_FAILED;
	finalize(c, h, st, r->reason, r->detail, env, env_len);
}

static void job_free(struct qc_job *job)
{
	for (size_t i = 0; job->hosts && i < job->n_hosts; i++) {
		dequeue(&job->hosts[i]);
		free(job->hosts[i].detail);
	}
	free(job->hosts);
	free(job->events);
	free(job->env);
	free(job->target);
	free(job);
}

void qc_jobs_tick(struct qc *c, int64_t now_ms)
{
	struct qc_job *job, *tmp;
	HASH_ITER (hh, c->jobs, job, tmp) {
		for (size_t i = 0; !job->done && i < job->n_hosts; i++) {
			struct qc_jobhost *h = &job->hosts[i];
			if (QC_HOST_FINAL(h->status))
				continue;
			if (h->deadline_ms == 0 && now_ms >= job->deadline_ms) {
				finalize(c, h, QC_HOST_SKIPPED, "skipped",
				         "not started: the command expired before its batch", NULL,
				         0);
				continue;
			}
			if (h->deadline_ms == 0 || now_ms < h->deadline_ms)
				continue;
			if (h->status == QC_HOST_DELIVERED)
				finalize(c, h, QC_HOST_TIMEOUT, "timeout",
				         "delivered, but no answer before the deadline", NULL, 0);
			else
				finalize(c, h, QC_HOST_UNREACHABLE, "unreachable",
				         h->agent->connected ? "not delivered before the deadline"
				                             : "agent not connected",
				         NULL, 0);
		}
		if (job->done && now_ms - job->done_ms > DONE_JOB_KEEP_MS) {
			HASH_DEL(c->jobs, job);
			job_free(job);
		}
	}
}

void qc_jobs_free(struct qc *c)
{
	struct qc_job *job, *tmp;
	HASH_ITER (hh, c->jobs, job, tmp) {
		HASH_DEL(c->jobs, job);
		job_free(job);
	}
}
