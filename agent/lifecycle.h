/*
 * lifecycle.h: the mitigations this host holds, and their end (lifecycle.c).
 *
 * A reversible action that changes something creates a mitigation on this
 * host, identified by its job id, holding the undo record of the state
 * before it and, with a TTL, when the agent itself reverts it. A later
 * action on the same thing (same family, handle and flag) either ends the
 * mitigation (the host is back in the state before it: `maintenance off`,
 * `resume`) or takes it over (the newer one now restores the state from
 * before both). `undo` and `extend` are commands that name a mitigation.
 *
 * Everything that happens to a mitigation becomes an event for the
 * coordinator: in the result of the job that caused it, or, for what no job
 * caused (a TTL ran out), in the store until the coordinator acknowledged it.
 *
 * All of it runs in the agent's executor turn, one thing at a time.
 */
#ifndef QA_LIFECYCLE_H
#define QA_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actions/actions.h"
#include "exec.h"
#include "quell.pb-c.h"
#include "store.h"

#define QA_LIFE_MAX_EVENTS 16 /* events one job can cause on one host */

struct qa_life_event {
	uint8_t mitigation[QL_JOB_ID_LEN];
	uint8_t by_job[QL_JOB_ID_LEN];
	bool has_by_job;
	enum qa_mit_state state;
	char cause[16];
	int64_t expires_at, at;
	char detail[256];
};

struct qa_life_events {
	size_t n;
	struct qa_life_event e[QA_LIFE_MAX_EVENTS];
};

/* Pack as a Quell__AgentEvents into buf. False if they do not fit. */
bool qa_life_events_pack(const struct qa_life_events *ev, const char *hostname, uint8_t *buf,
                         size_t cap, size_t *len);

/* undo and extend: commands about a mitigation, run by this module. */
bool qa_life_is_command(const char *action);

/*
 * The command's TTL against the action and the signer's policy: a TTL only
 * for reversible actions (and extend), at most the signer's max_ttl, and
 * required where the policy says so. Writes a sentence into detail.
 */
QL_NODISCARD enum ql_err qa_life_check_ttl(const struct qa_signer *s, const Quell__Command *c,
                                           bool reversible, char *detail, size_t len);

/*
 * Admission of undo/extend (after the policy check of the command itself
 * failed or passed: `policy_err`): the argument must name a mitigation id;
 * a signer the policy does not allow `undo`/`extend` on the handle may
 * still undo or extend a mitigation whose own action it may run there.
 */
QL_NODISCARD enum ql_err qa_life_check(const struct qa_exec_env *x,
                                       const uint8_t signer[QL_PUBKEY_LEN], const Quell__Command *c,
                                       enum ql_err policy_err, char *detail, size_t len);

/*
 * Before a reversible action changes anything (its undo record is known):
 * the mitigation row, pending, so a crash from here on leaves it to settle.
 */
void qa_life_pending(const struct qa_exec_env *x, const struct qa_job_key *k,
                     const Quell__Command *c, const char *action, const char *undo);

/*
 * After a reversible action ran (ok or not), inside the transaction that
 * records its result: what its pending row becomes, and what happens to the
 * older mitigations of the same thing. `undo` is its final undo record ("":
 * nothing changed).
 */
QL_NODISCARD enum ql_err qa_life_settle(const struct qa_exec_env *x, const struct qa_job_key *k,
                                        const Quell__Command *c, const struct qa_action *act,
                                        const char *undo, struct qa_life_events *ev);

/* Run undo or extend (the job's key is k). Status into *ok, one line into detail. */
QL_NODISCARD enum ql_err qa_life_run(const struct qa_exec_env *x, const struct qa_job_key *k,
                                     const Quell__Command *c, char *detail, size_t len,
                                     struct qa_life_events *ev);

/* Events for the mitigations job_id created or changed, as they are now (an interrupted job's
 * answer). */
void qa_life_job_events(const struct qa_exec_env *x, const uint8_t job_id[QL_JOB_ID_LEN],
                        struct qa_life_events *ev);

/* Revert every active mitigation whose TTL ran out by `now`; events go to the store. */
void qa_life_expire(const struct qa_exec_env *x, int64_t now);

/* At start: settle what a crash left pending, finish interrupted reverts. */
void qa_life_recover(const struct qa_exec_env *x);

#endif
