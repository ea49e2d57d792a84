/*
 * timeline.c: the control requests that read the audit log (audit.c).
 *
 *   timeline      -> the incident's records after a seq, oldest first, paged;
 *                    an incident without records is an empty page, not an error
 *   audit verify  -> the whole chain walked: records, intact or the first bad
 *                    record and why, and the head hash
 *
 * A page stops early when its records would make a reply too big (long
 * texts and data): the CLI asks again from the last seq it got. A stored
 * record the CLI would refuse (edited in the database) is sent as a
 * placeholder rather than making the whole timeline unreadable; `audit
 * verify` says what happened to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "codec.h"
#include "history.h"
#include "log.h"
#include "store.h"
#include "timeline.h"

#define PAGE_BYTES (4 * 1024 * 1024) /* well under QL_MAX_CONTROL_REPLY */

/* One record of a reply and the copies of the strings it points to. */
struct rec {
	Quell__AuditRecord r;
	uint8_t job_id[QL_JOB_ID_LEN];
	char *strings; /* kind, incident, host, actor, text, data, one after the other */
};

struct page {
	struct rec *recs;
	size_t n, cap;
	size_t bytes;
	bool full; /* stopped early: more follow */
	bool nomem;
};

/* What a timeline reply may carry (proto/codec.c, record_ok). */
static bool row_ok(const struct qc_audit_row *row)
{
	return ql_ident_ok(row->kind, 32) &&
	       (row->incident[0] == '\0' || ql_ident_ok(row->incident, QL_MAX_INCIDENT)) &&
	       (row->host == NULL || ql_hostname_ok(row->host)) &&
	       ql_text_ok(row->actor, QC_AUDIT_MAX_ACTOR) &&
	       ql_text_ok(row->text, QC_AUDIT_MAX_TEXT) && ql_text_ok(row->data, QC_AUDIT_MAX_DATA);
}

static void add_row(void *arg, const struct qc_audit_row *row)
{
	struct page *p = arg;
	if (p->full || p->nomem)
		return;
	struct qc_audit_row shown = *row;
	if (!row_ok(row)) {
		shown.kind = "unreadable";
		shown.host = NULL;
		shown.actor = "?";
		shown.text = "this record cannot be shown (changed in the database?): run quell "
			     "audit verify";
		shown.data = "{}";
	}
	const char *s[] = {shown.kind,  shown.incident, shown.host ? shown.host : "",
	                   shown.actor, shown.text,     shown.data};
	size_t len[6], total = 0;
	for (size_t i = 0; i < 6; i++)
		total += (len[i] = strlen(s[i])) + 1;
	if (p->n > 0 && p->bytes + total + 64 > PAGE_BYTES) {
		p->full = true;
		return;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct rec *recs = realloc(p->recs, cap * sizeof *recs);
		if (recs == NULL) {
			p->nomem = true;
			return;
		}
		p->recs = recs;
		p->cap = cap;
	}
	struct rec *r = &p->recs[p->n];
	r->strings = malloc(total);
	if (r->strings == NULL) {
		p->nomem = true;
		return;
	}
	char *str[6], *at = r->strings;
	for (size_t i = 0; i < 6; i++) {
		memcpy(at, s[i], len[i] + 1);
		str[i] = at;
		at += len[i] + 1;
	}
	quell__audit_record__init(&r->r);
	r->r.seq = shown.seq;
	r->r.at_ms = shown.at_ms;
	r->r.kind = str[0];
	r->r.incident = str[1];
	r->r.host = str[2];
	r->r.actor = str[3];
	r->r.text = str[4];
	r->r.data = str[5];
	if (shown.has_job_id) { /* .data is set once recs stops moving (realloc) */
		memcpy(r->job_id, shown.job_id, QL_JOB_ID_LEN);
		r->r.job_id.len = QL_JOB_ID_LEN;
	}
	p->n++;
	p->bytes += total + 64;
}

void qc_timeline_send(struct qc *c, struct qc_rctx *rc, const Quell__TimelineRequest *t)
{
	struct page p = {0};
	Quell__AuditRecord **ptrs = NULL;
	bool more = false;
	enum ql_err err =
		qc_audit_timeline(c->store, t->incident, t->after, t->limit, add_row, &p, &more);
	if (err == QL_OK && !p.nomem)
		ptrs = calloc(p.n ? p.n : 1, sizeof *ptrs);
	if (err != QL_OK) {
		qc_control_fail(rc, "store",
		                "could not read the audit log (see the coordinator's log)");
		goto out;
	}
	if (p.nomem || ptrs == NULL) {
		qc_control_fail(rc, "no-memory", "coordinator out of memory");
		goto out;
	}
	for (size_t i = 0; i < p.n; i++) {
		if (p.recs[i].r.job_id.len)
			p.recs[i].r.job_id.data = p.recs[i].job_id;
		ptrs[i] = &p.recs[i].r;
	}
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	r.ok = true;
	r.records = ptrs;
	r.n_records = p.n;
	r.more = more || p.full;
	qc_control_send(rc, &r);
out:
	for (size_t i = 0; i < p.n; i++)
		free(p.recs[i].strings);
	free(p.recs);
	free(ptrs);
}

void qc_audit_verify_send(struct qc *c, struct qc_rctx *rc)
{
	struct qc_audit_report rep;
	if (qc_audit_verify(c->store, &rep) != QL_OK) {
		qc_control_fail(rc, "store",
		                "could not read the audit log (see the coordinator's log)");
		return;
	}
	if (!rep.intact)
		ql_warn("audit log: %s", rep.problem);
	Quell__AuditReport a = QUELL__AUDIT_REPORT__INIT;
	a.records = rep.records;
	a.intact = rep.intact;
	a.first_bad = rep.intact ? 0 : rep.first_bad;
	a.problem = rep.problem;
	a.head.data = rep.head;
	a.head.len = QL_HASH_LEN;
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	r.ok = true;
	r.audit = &a;
	qc_control_send(rc, &r);
}
