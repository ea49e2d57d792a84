/*
 * coord.h: the coordinator's in-memory state, shared by its modules:
 * agents.c (the agent protocol), jobs.c (fan-out, results, deadlines),
 * control.c (the CLI protocol), coord.c (sockets, the tick, lifecycle).
 *
 * One mutex (c->lock) guards all of it; nng callbacks take it. Nothing
 * under the lock blocks on the network: replies are asynchronous sends.
 */
#ifndef QC_COORD_H
#define QC_COORD_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>

#include "config.h"
#include "keys.h"
#include "pool.h"
#include "ql_limits.h"
#include "selector.h"

struct qc_store;
struct qc_job;
struct qc_alert_batch;
struct qc_webhook;
struct qc_rules;

enum qc_host_status {
	QC_HOST_PENDING = 0, /* not yet delivered */
	QC_HOST_DELIVERED,   /* sent, no answer yet */
	QC_HOST_OK,          /* final statuses from here on */
	QC_HOST_FAILED,
	QC_HOST_REJECTED,
	QC_HOST_TIMEOUT,
	QC_HOST_UNREACHABLE,
	QC_HOST_SKIPPED,
};
#define QC_HOST_FINAL(s) ((s) >= QC_HOST_OK)
const char *qc_host_status_name(enum qc_host_status s);

/*
 * How a job rolls out: `canary` hosts first, then batches of `batch` hosts
 * (or batch_pct percent of the targets); no new batch starts once more than
 * `max_failures` (or max_failures_pct percent) hosts have not ended ok.
 * Zero values: no canary, one batch of everything, no failure budget.
 */
struct qc_rollout {
	uint32_t canary;
	uint32_t batch, batch_pct;
	uint32_t max_failures, max_failures_pct;
	bool has_max_failures;
	uint32_t host_timeout_s; /* per host, from its batch's start; 0: the command's expiry */
};

struct qc_jobhost {
	struct qc_job *job;
	struct qc_agent *agent;
	char hostname[QL_MAX_HOSTNAME + 1]; /* at submit: an agent may rename itself meanwhile */
	uint32_t seq;                       /* its place among the job's final statuses */
	enum qc_host_status status;
	char reason[40];
	char *detail;
	int64_t delivered_at, updated_at; /* wall ms */
	uint32_t delivered_pipe;          /* the agent's connection at delivery */
	int64_t deadline_ms;              /* set when its batch starts; 0: not started */
	unsigned attempts;
	struct qc_jobhost *qnext; /* in agent's delivery queue */
	bool queued;
};

/* A health check as the agent last reported it (memory only: the next heartbeat brings it). */
struct qc_check {
	char *name, *detail;
	int state; /* Quell__CheckState__State */
	int64_t since;
};

struct qc_agent {
	uint8_t pk[QL_PUBKEY_LEN];
	char *hostname;
	struct ql_label *labels;
	size_t n_labels;
	char version[QL_MAX_VERSION + 1];
	bool connected;
	bool cert_verified; /* a hello of this key proved a fleet certificate for its name */
	uint32_t pipe_id;
	int64_t first_seen, last_seen; /* unix seconds */
	struct qc_rctx *parked;        /* its held poll, if any */
	int64_t passed_at_ms;          /* a heartbeat was answered at once past it (agents.c) */
	struct qc_check *checks;       /* as of its latest hello or heartbeat */
	size_t n_checks;
	uint64_t checks_seq; /* the heartbeat they came in (0: the hello) */
	struct qc_jobhost *qhead, *qtail;
	UT_hash_handle hh_pk, hh_name;
};

struct qc_job {
	uint8_t id[QL_JOB_ID_LEN];
	uint8_t *env; /* the operator's signed envelope, relayed verbatim */
	size_t env_len;
	uint8_t hash[QL_HASH_LEN];
	char operator_name[65];
	char action[QL_MAX_ACTION + 1];
	char handle[QL_MAX_HANDLE + 1];
	char incident[QL_MAX_INCIDENT + 1]; /* "" for none */
	char *target;
	int64_t created_ms, deliver_until_ms, deadline_ms;
	struct qc_jobhost *hosts; /* sorted by hostname: batches are deterministic */
	size_t n_hosts, n_final;
	struct qc_rollout rollout;
	size_t started;        /* hosts [0, started) have had their batch started */
	size_t batch_from;     /* the current batch is hosts [batch_from, started) */
	unsigned batches;      /* batches started so far (the canary is batch 1) */
	bool resumed;          /* taken up again after a coordinator restart */
	bool mitigation_saved; /* its mitigation's row is in the store (mitigations.c) */
	uint32_t *events;      /* host indices in the order they became final */
	size_t n_events;
	bool done;
	int64_t done_ms;
	UT_hash_handle hh;
};

struct qc {
	struct qc_config *cfg;
	struct qc_store *store;
	struct sqlite3_stmt *mit_host_save, *mit_host_known; /* mitigations.c, prepared once */
	pthread_mutex_t lock;
	nng_socket agent_sock, ctl_sock;
	bool agent_open, ctl_open;
	struct qc_pool agent_pool, ctl_pool;
	struct qc_agent *agents_by_pk, *agents_by_name;
	/* Over tls+tcp://: the fleet CA every hello's certificate must chain to
	 * (tls.h); NULL on plain tcp://, where hellos carry no proof. */
	struct ql_tls_ca *tls_ca;
	struct qc_job *jobs;
	nng_aio *tick;
	atomic_llong ticked_ms; /* the tick's last run: qc_alive() */
	bool stopping;
	/* Automation (rules.c): set when the config has rules; may be NULL. */
	struct qc_rules *rules;
	/* Alerts from the webhook (webhook.c, alerts.c) go here, lock held. */
	void (*on_alerts)(struct qc *c, const struct qc_alert_batch *b);
	struct qc_webhook *webhook;
	/* pipes that went away, queued by the pipe callback for the tick */
	pthread_mutex_t pipe_lock;
	uint32_t *gone_pipes;
	size_t n_gone, cap_gone;
};

/* agents.c */
void qc_agents_on_request(void *arg, struct qc_rctx *rc, nng_msg *msg);
void *qc_agents_pre_request(void *arg, nng_msg *msg);
void qc_agents_pre_free(void *pre);
void qc_agents_on_expire(void *arg, struct qc_rctx *rc);
void qc_agents_pipe_gone(struct qc *c, uint32_t pipe_id);
struct qc_agent *qc_agent_find(struct qc *c, const uint8_t pk[QL_PUBKEY_LEN]);
/* Check NAME of agent a as it last reported it (a Quell__CheckState__State and
 * since when); false if it has no such check. */
bool qc_agent_check(const struct qc_agent *a, const char *name, int *state, int64_t *since);
/* Give an agent its next job, or hold its poll. */
void qc_agent_next(struct qc *c, struct qc_agent *a, struct qc_rctx *rc);
QL_NODISCARD enum ql_err qc_agents_load(struct qc *c);
void qc_agent_checks_free(struct qc_agent *a);
void qc_agents_free(struct qc *c);
struct Quell__ForgetAgent;
/* `quell agents forget`: drop a host's pinned key (refused while it is
 * connected or has unanswered job hosts); audited. Replies on rc. */
void qc_agents_forget(struct qc *c, struct qc_rctx *rc, const char *operator_name,
                      const struct Quell__ForgetAgent *f);

/* jobs.c */
struct qc_job *qc_job_find(struct qc *c, const uint8_t id[QL_JOB_ID_LEN]);
/* Create a job for an opened, decoded command; resolves targets, starts delivery. */
QL_NODISCARD enum ql_err qc_job_create(struct qc *c, const uint8_t *env, size_t env_len,
                                       const uint8_t hash[QL_HASH_LEN], const char *operator_name,
                                       const void *cmd, const struct qc_rollout *rollout,
                                       struct qc_job **out);
/* An agent's signed result for job id (already verified and decoded). */
void qc_job_result(struct qc *c, struct qc_agent *a, const void *result, const uint8_t *env,
                   size_t env_len);
/* Take up the jobs that were running when the coordinator last stopped. */
QL_NODISCARD enum ql_err qc_jobs_resume(struct qc *c);
void qc_jobs_tick(struct qc *c, int64_t now_ms);
void qc_jobs_free(struct qc *c);

/* control.c */
void qc_control_on_request(void *arg, struct qc_rctx *rc, nng_msg *msg);
void qc_control_on_expire(void *arg, struct qc_rctx *rc);
/* Wake CLIs watching job. */
void qc_control_job_changed(struct qc *c, struct qc_job *job);

/* coord.c */
QL_NODISCARD enum ql_err qc_start(struct qc_config *cfg, struct qc **out, char *why, size_t whylen);
void qc_stop(struct qc *c);
/* Is the coordinator's tick (which takes its lock) still running? For the watchdog. */
bool qc_alive(struct qc *c);

#endif
