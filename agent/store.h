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
#define QA_MAX_EVENTS_BYTES 8192

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
	/* What the job did to mitigations here: a packed Quell__AgentEvents, so a
	 * redelivery's answer carries the same events. */
	uint8_t events[QA_MAX_EVENTS_BYTES];
	size_t events_len;
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
/* Forget job ids whose command expired before `before`, and mitigations
 * reverted or replaced more than QA_MITIGATION_KEEP_S before it. */
#define QA_MITIGATION_KEEP_S (30 * 86400)
QL_NODISCARD enum ql_err qa_store_prune(struct qa_store *st, int64_t before);

/*
 * Mitigations (lifecycle.c). One row per (job id, signer): the mitigation a
 * reversible action created on this host, and what it has become since.
 */
enum qa_mit_state {
	QA_MIT_PENDING,   /* the action is running (or a crash interrupted it) */
	QA_MIT_ACTIVE,    /* in effect; reverts at expires_at if set */
	QA_MIT_REVERTING, /* a revert started (a crash: it is tried again) */
	QA_MIT_REVERTED,
	QA_MIT_REVERT_FAILED,
	QA_MIT_REPLACED, /* a later mitigation of the same thing took it over */
};
const char *qa_mit_state_name(enum qa_mit_state s);

struct qa_mitigation {
	uint8_t job_id[QL_JOB_ID_LEN];
	uint8_t signer[QL_PUBKEY_LEN];
	char action[QL_MAX_ACTION + 1]; /* the action whose undo record `undo` is */
	char handle[QL_MAX_HANDLE + 1];
	char resource[QL_MAX_ACTION + QL_MAX_HANDLE + 70]; /* family:handle[:flag name] */
	char undo[QA_MAX_UNDO + 1];                        /* the state a revert restores */
	char incident[QL_MAX_INCIDENT + 1];
	int64_t created_at, expires_at, updated_at; /* expires_at 0: no TTL */
	enum qa_mit_state state;
	char cause[16];
	char detail[QL_MAX_DETAIL + 1];
	uint8_t by_job[QL_JOB_ID_LEN]; /* the last job that changed it (undo, extend, ...) */
	bool has_by_job;
	bool shared; /* another signer's mitigation was merged into it (takeover) */
};

enum qa_mit_query {
	QA_MQ_BY_JOB,    /* key: job id (any signer) */
	QA_MQ_HELD,      /* key: resource; pending, active or revert-failed, oldest first */
	QA_MQ_DUE,       /* active (or pending) with 0 < expires_at <= now */
	QA_MQ_UNSETTLED, /* pending or reverting: a crash interrupted them */
	QA_MQ_BY_CAUSE,  /* key: job id of the last job that changed them (by_job) */
};

/* Insert or replace the row of (m->job_id, m->signer). */
QL_NODISCARD enum ql_err qa_store_mit_put(struct qa_store *st, const struct qa_mitigation *m);
/* Forget the row (a pending mitigation that changed nothing). */
QL_NODISCARD enum ql_err qa_store_mit_delete(struct qa_store *st, const uint8_t *job_id,
                                             const uint8_t *signer);
/* Matching rows in a malloc'd array (*out NULL when none); the caller frees it. */
QL_NODISCARD enum ql_err qa_store_mit_query(struct qa_store *st, enum qa_mit_query which,
                                            const void *key, int64_t now,
                                            struct qa_mitigation **out, size_t *n);
/* The earliest expiry of an active mitigation; 0 if none. */
QL_NODISCARD enum ql_err qa_store_mit_next_expiry(struct qa_store *st, int64_t *at);

/* Events waiting for the coordinator (each a packed Quell__MitigationEvent). */
QL_NODISCARD enum ql_err qa_store_event_add(struct qa_store *st, const uint8_t *ev, size_t len);
/* Up to max events with id > after, oldest first. */
QL_NODISCARD enum ql_err
qa_store_events(struct qa_store *st, int64_t after, size_t max,
                void (*fn)(void *arg, int64_t id, const uint8_t *ev, size_t len), void *arg);
/* The coordinator has them: forget every event with id <= upto. */
QL_NODISCARD enum ql_err qa_store_events_ack(struct qa_store *st, int64_t upto);

/*
 * Several writes as one: the store's lock is held (other threads wait) until
 * qa_store_tx_end, which commits (or rolls back).
 */
QL_NODISCARD enum ql_err qa_store_tx_begin(struct qa_store *st);
QL_NODISCARD enum ql_err qa_store_tx_end(struct qa_store *st, bool commit);

#endif
