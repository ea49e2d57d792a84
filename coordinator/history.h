/*
 * history.h: jobs as the CLI sees them, running or long done (history.c),
 * and the two reply helpers of control.c that history.c shares.
 */
#ifndef QC_HISTORY_H
#define QC_HISTORY_H

#include "coord.h"
#include "quell.pb-c.h"

/* A Quell__JobInfo and everything it points into (_init by the fillers, _fini). */
struct qc_jobinfo {
	Quell__JobInfo info;
	Quell__Command *cmd; /* decoded from the signed envelope; NULL if it would not */
	uint8_t id[QL_JOB_ID_LEN];
	uint8_t signer[QL_PUBKEY_LEN];
	char operator_name[QL_MAX_NAME + 1];
	char action[QL_MAX_ACTION + 1];
	char handle[QL_MAX_HANDLE + 1];
	char *target;
};
/* A job in memory (running, or done in the last 30 minutes). */
void qc_jobinfo_live(struct qc_jobinfo *ji, const struct qc_job *job);
void qc_jobinfo_fini(struct qc_jobinfo *ji);

/* `watch` of a job that is not in memory: answered from the store (never held). */
void qc_history_watch(struct qc *c, struct qc_rctx *rc, const Quell__WatchRequest *w);
/* `jobs`: the `limit` most recent jobs, newest first. */
void qc_history_list(struct qc *c, struct qc_rctx *rc, uint32_t limit);

/* control.c */
void qc_control_send(struct qc_rctx *rc, Quell__ControlReply *r);
void qc_control_fail(struct qc_rctx *rc, const char *code, const char *text);

#endif
