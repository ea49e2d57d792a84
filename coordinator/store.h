/*
 * store.h: the coordinator's SQLite store (WAL): agents, jobs, per-host
 * results and an audit log of who signed what.
 */
#ifndef QC_STORE_H
#define QC_STORE_H

#include "coord.h"
#include "ql.h"

QL_NODISCARD enum ql_err qc_store_open(const char *dir, struct qc_store **out);
void qc_store_close(struct qc_store *st);

QL_NODISCARD enum ql_err qc_store_agent_save(struct qc_store *st, const struct qc_agent *a);
/* Calls fn for every stored agent; the agent is the caller's to keep. */
QL_NODISCARD enum ql_err qc_store_agents_load(struct qc_store *st,
                                              void (*fn)(void *arg, struct qc_agent *a), void *arg);
QL_NODISCARD enum ql_err qc_store_job_save(struct qc_store *st, const struct qc_job *job,
                                           const char *reason);
QL_NODISCARD enum ql_err qc_store_host_save(struct qc_store *st, const struct qc_jobhost *h,
                                            const uint8_t *result_env, size_t result_len);
QL_NODISCARD enum ql_err qc_store_job_done(struct qc_store *st, const struct qc_job *job);
QL_NODISCARD enum ql_err qc_store_audit(struct qc_store *st, const char *who, const char *event,
                                        const uint8_t *job_id, const char *detail);

#endif
