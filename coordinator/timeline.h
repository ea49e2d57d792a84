/*
 * timeline.h: the control requests that read the audit log (timeline.c).
 */
#ifndef QC_TIMELINE_H
#define QC_TIMELINE_H

#include "coord.h"
#include "quell.pb-c.h"

/* `timeline`: the incident's records after t->after, one page. */
void qc_timeline_send(struct qc *c, struct qc_rctx *rc, const Quell__TimelineRequest *t);
/* `audit verify`: walk the chain, reply with the report. */
void qc_audit_verify_send(struct qc *c, struct qc_rctx *rc);

#endif
