/*
 * mitigations.h: what the coordinator knows about the fleet's mitigations
 * (mitigations.c): one row per mitigation (the job that created it) and one
 * per host it is or was on, from the agents' signed events.
 */
#ifndef QC_MITIGATIONS_H
#define QC_MITIGATIONS_H

#include <stdbool.h>

#include "coord.h"
#include "quell.pb-c.h"

QL_NODISCARD enum ql_err qc_mitigations_init(struct qc_store *st);

/*
 * Events from agent a: in a job's result (`job` if it is still in memory),
 * or on their own (a TTL ran out: these also go into the audit log).
 * False if the store failed to take one (the agent should send it again).
 */
bool qc_mitigations_apply(struct qc *c, const struct qc_agent *a, Quell__MitigationEvent *const *ev,
                          size_t n, bool in_result, struct qc_job *job);

/* The mitigation an undo/extend command names; false for any other command. */
bool qc_mitigation_id(const Quell__Command *cmd, uint8_t id[QL_JOB_ID_LEN]);
/* The hosts it is on (active_only: still in effect or failed to revert there). */
QL_NODISCARD enum ql_err qc_mitigation_hosts(struct qc *c, const uint8_t id[QL_JOB_ID_LEN],
                                             bool active_only,
                                             void (*fn)(void *arg, const char *hostname),
                                             void *arg);

/* `quell mitigations` (and the lookup behind undo/extend). */
void qc_mitigations_list(struct qc *c, struct qc_rctx *rc, const Quell__ListMitigations *req);

#endif
