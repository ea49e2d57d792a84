/*
 * history.c: jobs as the CLI sees them. A job lives in memory while it runs
 * and for 30 minutes after it is done (jobs.c); every job and every host's
 * final status is also in the store (store.c). The CLI should not care
 * which: `watch` of a job no longer in memory is answered from the store in
 * the same reply, and `jobs` lists the store's most recent jobs with the
 * live counts of those still in memory.
 *
 * What a job was (action, handle, target, arguments, who signed it) comes
 * from the operator's signed envelope, verified again here as resume does:
 * the store is ours, but nothing reaches an operator's terminal unchecked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "envelope.h"
#include "history.h"
#include "log.h"
#include "store.h"

/*
 * Fill ji. counts are by enum qc_host_status; pending and delivered hosts
 * are in progress, so the counts always add up to the target count.
 */
static void jobinfo_fill(struct qc_jobinfo *ji, const uint8_t id[QL_JOB_ID_LEN], const uint8_t *env,
                         size_t env_len, const char *operator_name, const char *action,
                         const char *handle, const char *target,
                         const uint32_t counts[QC_HOST_SKIPPED + 1])
{
	memset(ji, 0, sizeof *ji);
	quell__job_info__init(&ji->info);
	Quell__JobInfo *i = &ji->info;
	memcpy(ji->id, id, QL_JOB_ID_LEN);
	i->job_id.data = ji->id;
	i->job_id.len = QL_JOB_ID_LEN;
	struct ql_opened o;
	if (ql_envelope_open(env, env_len, QL_KIND_BIT(QUELL__KIND__KIND_COMMAND), &o) == QL_OK) {
		memcpy(ji->signer, o.signer, QL_PUBKEY_LEN);
		i->signer.data = ji->signer;
		i->signer.len = QL_PUBKEY_LEN;
		if (ql_command_decode(o.body, o.body_len, &ji->cmd) != QL_OK)
			ji->cmd = NULL;
		ql_opened_fini(&o);
	}
	snprintf(ji->operator_name, sizeof ji->operator_name, "%s", operator_name);
	snprintf(ji->action, sizeof ji->action, "%s", ji->cmd ? ji->cmd->action : action);
	snprintf(ji->handle, sizeof ji->handle, "%s", ji->cmd ? ji->cmd->handle : handle);
	ji->target = strdup(ji->cmd ? ji->cmd->target : target);
	i->operator_name = ji->operator_name;
	i->action = ji->action;
	i->handle = ji->handle;
	i->target = ji->target ? ji->target : "?"; /* out of memory: fails the CLI's check */
	if (ji->cmd) {
		i->args = ji->cmd->args;
		i->n_args = ji->cmd->n_args;
		i->reason = ji->cmd->reason;
		i->dry_run = ji->cmd->dry_run;
	}
	i->ok = counts[QC_HOST_OK];
	i->failed = counts[QC_HOST_FAILED];
	i->rejected = counts[QC_HOST_REJECTED];
	i->timeout = counts[QC_HOST_TIMEOUT];
	i->unreachable = counts[QC_HOST_UNREACHABLE];
	i->skipped = counts[QC_HOST_SKIPPED];
	i->in_progress = counts[QC_HOST_PENDING] + counts[QC_HOST_DELIVERED];
	i->target_count = i->ok + i->failed + i->rejected + i->timeout + i->unreachable +
	                  i->skipped + i->in_progress;
}

void qc_jobinfo_live(struct qc_jobinfo *ji, const struct qc_job *job)
{
	uint32_t counts[QC_HOST_SKIPPED + 1] = {0};
	for (size_t k = 0; k < job->n_hosts; k++)
		if ((unsigned)job->hosts[k].status <= QC_HOST_SKIPPED)
			counts[job->hosts[k].status]++;
	jobinfo_fill(ji, job->id, job->env, job->env_len, job->operator_name, job->action,
	             job->handle, job->target, counts);
	ji->info.created_ms = job->created_ms;
	ji->info.finished_ms = job->done ? job->done_ms : 0;
	ji->info.state = job->done ? "done" : "running";
}

/* A job only the store knows: done, or stopped without being taken up again. */
static void jobinfo_stored(struct qc_jobinfo *ji, const struct qc_job_summary *s)
{
	jobinfo_fill(ji, s->id, s->env, s->env_len, s->operator_name, s->action, s->handle,
	             s->target, s->counts);
	ji->info.created_ms = s->created_at * 1000;
	ji->info.finished_ms = s->done ? s->finished_at * 1000 : 0;
	ji->info.state = s->done ? "done" : "unfinished";
}

void qc_jobinfo_fini(struct qc_jobinfo *ji)
{
	if (ji->cmd)
		quell__command__free_unpacked(ji->cmd, NULL);
	free(ji->target);
	memset(ji, 0, sizeof *ji);
}

/* ---- watch, from the store ------------------------------------------------------- */

struct stored_page {
	struct qc_jobinfo ji;
	bool found;
	Quell__HostResult *res;
	size_t n, cap;
	bool nomem;
};

static void on_summary(void *arg, const struct qc_job_summary *s)
{
	struct stored_page *p = arg;
	jobinfo_stored(&p->ji, s);
	p->found = true;
}

static void on_result(void *arg, const struct qc_stored_host *h)
{
	struct stored_page *p = arg;
	if (p->n == p->cap || p->nomem)
		return;
	Quell__HostResult *r = &p->res[p->n];
	quell__host_result__init(r);
	r->hostname = strdup(h->hostname);
	r->status = strdup(h->status);
	r->reason = strdup(h->reason);
	r->detail = strdup(h->detail);
	r->at = h->updated_at;
	p->n++;
	if (!r->hostname || !r->status || !r->reason || !r->detail)
		p->nomem = true;
}

void qc_history_watch(struct qc *c, struct qc_rctx *rc, const Quell__WatchRequest *w)
{
	struct stored_page p = {0};
	Quell__HostResult **ptrs = NULL;
	enum ql_err err = qc_store_job_summary(c->store, w->job_id.data, on_summary, &p);
	if (err == QL_ERR_NOT_FOUND || (err == QL_OK && !p.found)) {
		qc_control_fail(rc, "unknown-job", "no job with this id on this coordinator");
		return;
	}
	if (err != QL_OK) {
		qc_control_fail(rc, ql_err_code(err), "could not read the job from the store");
		goto out;
	}
	uint32_t final = p.ji.info.target_count - p.ji.info.in_progress;
	if (w->cursor > final) {
		qc_control_fail(rc, "bad-cursor", "cursor past the end of the job's results");
		goto out;
	}
	p.cap = final - w->cursor < QL_RESULTS_PER_REPLY ? final - w->cursor : QL_RESULTS_PER_REPLY;
	p.res = calloc(p.cap ? p.cap : 1, sizeof *p.res);
	ptrs = calloc(p.cap ? p.cap : 1, sizeof *ptrs);
	if (p.res == NULL || ptrs == NULL) {
		qc_control_fail(rc, "no-memory", "coordinator out of memory");
		goto out;
	}
	err = qc_store_job_results(c->store, w->job_id.data, w->cursor, (uint32_t)p.cap, on_result,
	                           &p);
	if (err != QL_OK || p.nomem) {
		qc_control_fail(rc, ql_err_code(p.nomem ? QL_ERR_NOMEM : err),
		                "could not read the job's results from the store");
		goto out;
	}
	for (size_t i = 0; i < p.n; i++)
		ptrs[i] = &p.res[i];
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	r.ok = true;
	r.job_id.data = p.ji.id;
	r.job_id.len = QL_JOB_ID_LEN;
	r.target_count = p.ji.info.target_count;
	r.action = p.ji.action;
	r.results = ptrs;
	r.n_results = p.n;
	r.cursor = w->cursor + (uint32_t)p.n;
	/* Nothing works on a job that is not in memory: it will not change, so a
	 * CLI following it stops here (state says whether it ever finished). */
	r.done = r.cursor >= final;
	r.job = &p.ji.info;
	qc_control_send(rc, &r);
out:
	for (size_t i = 0; p.res && i < p.n; i++) {
		free(p.res[i].hostname);
		free(p.res[i].status);
		free(p.res[i].reason);
		free(p.res[i].detail);
	}
	free(p.res);
	free(ptrs);
	if (p.found)
		qc_jobinfo_fini(&p.ji);
}

/* ---- jobs ------------------------------------------------------------------------ */

struct list {
	struct qc *c;
	struct qc_jobinfo *ji;
	size_t n, cap;
};

static void on_recent(void *arg, const struct qc_job_summary *s)
{
	struct list *l = arg;
	if (l->n == l->cap)
		return;
	/* In memory, the job's own state is the truth (the store lags by at most a write). */
	const struct qc_job *job = qc_job_find(l->c, s->id);
	if (job)
		qc_jobinfo_live(&l->ji[l->n++], job);
	else
		jobinfo_stored(&l->ji[l->n++], s);
}

void qc_history_list(struct qc *c, struct qc_rctx *rc, uint32_t limit)
{
	struct list l = {.c = c, .cap = limit};
	l.ji = calloc(limit ? limit : 1, sizeof *l.ji);
	Quell__JobInfo **ptrs = calloc(limit ? limit : 1, sizeof *ptrs);
	if (l.ji == NULL || ptrs == NULL) {
		qc_control_fail(rc, "no-memory", "coordinator out of memory");
		goto out;
	}
	enum ql_err err = qc_store_jobs_recent(c->store, limit, on_recent, &l);
	if (err != QL_OK) {
		qc_control_fail(rc, ql_err_code(err), "could not read the jobs from the store");
		goto out;
	}
	for (size_t i = 0; i < l.n; i++)
		ptrs[i] = &l.ji[i].info;
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	r.ok = true;
	r.jobs = ptrs;
	r.n_jobs = l.n;
	qc_control_send(rc, &r);
out:
	for (size_t i = 0; l.ji && i < l.n; i++)
		qc_jobinfo_fini(&l.ji[i]);
	free(l.ji);
	free(ptrs);
}
