/*
 * store.h: the agent's durable memory (SQLite, WAL): every job id it has
 * seen with the answer it gave, and an audit log of every command received.
 *
 * The job row is written BEFORE an action runs (state "running") and
 * completed after, so a job redelivered after a crash is answered from the
 * store and never executed twice.
 */
#ifndef QA_STORE_H
#define QA_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "ql.h"
#include "ql_limits.h"

#define QA_MAX_UNDO 4096

struct qa_store;

enum qa_job_state { QA_JOB_NONE = 0, QA_JOB_RUNNING, QA_JOB_DONE };

struct qa_job_record {
	enum qa_job_state state;
	uint8_t body_hash[QL_HASH_LEN];
	int status; /* Quell__Status */
	char reason[40];
	char detail[QL_MAX_DETAIL + 1];
	char undo[QA_MAX_UNDO + 1]; /* JSON: the state before the action, "" if none */
	int64_t started_at, finished_at;
};

/* A job is identified by who signed it and the id they chose. */
struct qa_job_key {
	const uint8_t *signer; /* QL_PUBKEY_LEN bytes */
	const uint8_t *job_id; /* QL_JOB_ID_LEN bytes */
};

struct qa_audit_entry {
	const uint8_t *job_id; /* may be NULL */
	const char *signer;    /* name or short key */
	const char *action, *handle, *target, *reason_text;
	const char *status, *code, *detail;
};

/* dir NULL: in memory, for the fleet simulator only (forgets everything at exit). */
QL_NODISCARD enum ql_err qa_store_open(const char *dir, struct qa_store **out);
void qa_store_close(struct qa_store *st);

/* Look a job up; rec->state is QA_JOB_NONE if never seen. */
QL_NODISCARD enum ql_err qa_store_job_get(struct qa_store *st, const struct qa_job_key *k,
                                          struct qa_job_record *rec);
/* Record intent (state running) before acting. QL_ERR_REPLAYED if it exists. */
QL_NODISCARD enum ql_err qa_store_job_begin(struct qa_store *st, const struct qa_job_key *k,
                                            const uint8_t *body_hash, int64_t expires_at);
/* Record the final answer (insert or complete the running row). */
QL_NODISCARD enum ql_err qa_store_job_finish(struct qa_store *st, const struct qa_job_key *k,
                                             const uint8_t *body_hash, int64_t expires_at,
                                             const struct qa_job_record *rec);
/* Record a running job's undo record (before its action changes anything). */
QL_NODISCARD enum ql_err qa_store_job_set_undo(struct qa_store *st, const struct qa_job_key *k,
                                               const char *undo);
QL_NODISCARD enum ql_err qa_store_audit(struct qa_store *st, const struct qa_audit_entry *e);
/* Forget job ids whose command expired before `before`. */
QL_NODISCARD enum ql_err qa_store_prune(struct qa_store *st, int64_t before);

#endif
