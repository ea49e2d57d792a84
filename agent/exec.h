/*
 * exec.h: the agent's executor. Given the raw bytes of a command envelope
 * (as the coordinator relayed them) it runs every check of the trust model,
 * records intent, runs the action and returns a result envelope signed with
 * the agent's key. It trusts nothing upstream: whatever the network side or
 * the coordinator did, every check is repeated here.
 */
#ifndef QA_EXEC_H
#define QA_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "keys.h"
#include "store.h"

enum qa_in_flight {
	QA_NOT_IN_FLIGHT,
	QA_IN_FLIGHT,      /* this very command */
	QA_OTHER_IN_FLIGHT /* a different command under the same signer and job id */
};

struct qa_exec_env {
	const struct qa_config *cfg;
	const struct ql_secret_key *key;
	struct qa_store *store;
	/* Optional: is this job queued or running right now? */
	enum qa_in_flight (*in_flight)(void *arg, const struct qa_job_key *k,
	                               const uint8_t hash[QL_HASH_LEN]);
	void *in_flight_arg;
};

/* A command that passed every check (steps 1-9) and waits to run. */
struct qa_pending;

enum qa_admit {
	QA_ADMIT_ANSWER,    /* *out holds the signed answer (rejection, recorded answer) */
	QA_ADMIT_RUN,       /* *pending is ready for qa_exec_run() or qa_exec_refuse() */
	QA_ADMIT_IN_FLIGHT, /* already queued or running; its result will follow */
};

/*
 * Steps 1 to 9 of the checks (see exec.c). UNTRUSTED: env/len. `tag`
 * (QL_JOB_ID_LEN bytes, may be NULL) is the coordinator's delivery tag,
 * echoed only when the command itself is unreadable. Changes nothing on the
 * host. Fails only when memory or signing fails.
 */
QL_NODISCARD enum ql_err qa_exec_admit(const struct qa_exec_env *x, const uint8_t *env, size_t len,
                                       const uint8_t *tag, enum qa_admit *outcome,
                                       struct qa_pending **pending, uint8_t **out, size_t *out_len);
/* Step 10: record intent, act, record the outcome, sign it. Frees p. */
QL_NODISCARD enum ql_err qa_exec_run(struct qa_pending *p, uint8_t **out, size_t *out_len);
/* Answer a pending job with a rejection that is not recorded (e.g. busy). Frees p. */
QL_NODISCARD enum ql_err qa_exec_refuse(struct qa_pending *p, enum ql_err why, uint8_t **out,
                                        size_t *out_len);
const struct qa_job_key *qa_pending_key(const struct qa_pending *p);
const uint8_t *qa_pending_hash(const struct qa_pending *p); /* QL_HASH_LEN bytes */
void qa_pending_free(struct qa_pending *p);

/* All of the above at once, in the caller's thread (tests, fuzzing). */
QL_NODISCARD enum ql_err qa_exec(const struct qa_exec_env *x, const uint8_t *env, size_t len,
                                 const uint8_t *tag, uint8_t **out, size_t *out_len);

#endif
