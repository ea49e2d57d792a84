/*
 * store.h: the coordinator's SQLite store (WAL): agents, jobs, per-host
 * results. The audit log has its own table (audit.c).
 */
#ifndef QC_STORE_H
#define QC_STORE_H

#include "coord.h"
#include "keys.h"
#include "ql.h"
#include "ql_limits.h"

QL_NODISCARD enum ql_err qc_store_open(const char *dir, struct qc_store **out);
void qc_store_close(struct qc_store *st);
/* The connection, for the modules that keep their own tables (audit.c, mitigations.c). */
struct sqlite3 *qc_store_db(struct qc_store *st);
/* The audit log's state (audit.c keeps it, the store opens and closes it). */
struct qc_audit *qc_store_audit_log(struct qc_store *st);

QL_NODISCARD enum ql_err qc_store_agent_save(struct qc_store *st, const struct qc_agent *a);
/* Drop the agent with key pk from the inventory (`quell agents forget`) and
 * remember the key as forgotten: it is never pinned again. */
QL_NODISCARD enum ql_err qc_store_agent_forget(struct qc_store *st, const uint8_t pk[QL_PUBKEY_LEN],
                                               const char *hostname, const char *operator_name);
/* Was pk forgotten? Then *forgotten, and the host it was for in hostname. */
QL_NODISCARD enum ql_err qc_store_key_forgotten(struct qc_store *st,
                                                const uint8_t pk[QL_PUBKEY_LEN], char *hostname,
                                                size_t hlen, bool *forgotten);
/* Calls fn for every stored agent; the agent is the caller's to keep. */
QL_NODISCARD enum ql_err qc_store_agents_load(struct qc_store *st,
                                              void (*fn)(void *arg, struct qc_agent *a), void *arg);
QL_NODISCARD enum ql_err qc_store_job_save(struct qc_store *st, const struct qc_job *job,
                                           const char *reason);
QL_NODISCARD enum ql_err qc_store_host_save(struct qc_store *st, const struct qc_jobhost *h,
                                            const uint8_t *result_env, size_t result_len);
QL_NODISCARD enum ql_err qc_store_job_done(struct qc_store *st, const struct qc_job *job);
/* A job that was not done when the coordinator stopped, as stored. */
struct qc_stored_host {
	uint8_t pk[QL_PUBKEY_LEN];
	char hostname[QL_MAX_HOSTNAME + 1];
	char status[16];
	char reason[40];
	char detail[QL_MAX_DETAIL + 1];
	int64_t updated_at; /* unix seconds */
	uint32_t seq;       /* its place among the job's final statuses */
};
struct qc_stored_job {
	uint8_t id[QL_JOB_ID_LEN];
	const uint8_t *env;
	size_t env_len;
	char operator_name[65];
	int64_t created_at;           /* unix seconds */
	struct qc_stored_host *hosts; /* in the order they became final, then the rest */
	size_t n_hosts;
	struct qc_rollout rollout;
};
/* Calls fn for every job not marked done; the job is only valid during the call. */
QL_NODISCARD enum ql_err
qc_store_jobs_load_unfinished(struct qc_store *st,
                              void (*fn)(void *arg, const struct qc_stored_job *j), void *arg);
/*
 * A job as stored, for the CLI's `jobs` and `job ID`: what was signed, by
 * whom, and its hosts by status (pending and delivered: still in progress).
 * env and the strings are only valid during the callback.
 */
struct qc_job_summary {
	uint8_t id[QL_JOB_ID_LEN];
	const uint8_t *env; /* the operator's signed command */
	size_t env_len;
	const char *operator_name, *action, *handle, *target;
	int64_t created_at;  /* unix seconds */
	int64_t finished_at; /* the last host's update, unix seconds */
	uint32_t target_count;
	bool done;
	uint32_t counts[QC_HOST_SKIPPED + 1]; /* by enum qc_host_status */
};
/* The `limit` most recent jobs, newest first. */
QL_NODISCARD enum ql_err qc_store_jobs_recent(struct qc_store *st, uint32_t limit,
                                              void (*fn)(void *arg, const struct qc_job_summary *j),
                                              void *arg);
/* One job; QL_ERR_NOT_FOUND if the store never had it. */
QL_NODISCARD enum ql_err qc_store_job_summary(struct qc_store *st, const uint8_t id[QL_JOB_ID_LEN],
                                              void (*fn)(void *arg, const struct qc_job_summary *j),
                                              void *arg);
/* A job's final host results [offset, offset + limit), in the order they became final. */
QL_NODISCARD enum ql_err qc_store_job_results(struct qc_store *st, const uint8_t id[QL_JOB_ID_LEN],
                                              uint32_t offset, uint32_t limit,
                                              void (*fn)(void *arg, const struct qc_stored_host *h),
                                              void *arg);

#endif
