/*
 * audit.h: the coordinator's audit log, hash-chained (audit.c).
 *
 * Every record carries the hash of the record before it, so editing or
 * removing a record breaks the chain at that point and `quell audit verify`
 * names it. The log is also the source of `quell timeline INCIDENT`: every
 * record belongs to the incident of the command it is about (or none).
 *
 * Records are appended under the coordinator's lock (one writer).
 */
#ifndef QC_AUDIT_H
#define QC_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "coord.h"
#include "ql.h"
#include "ql_limits.h"

/* What one record may carry: what a timeline reply may (proto/codec.c, record_ok).
 * A longer text or actor is cut (at a character boundary), longer data is
 * replaced by {"truncated":true}. */
#define QC_AUDIT_MAX_TEXT (4 * QL_MAX_DETAIL)
#define QC_AUDIT_MAX_DATA (16 * QL_MAX_DETAIL)
#define QC_AUDIT_MAX_ACTOR 256

struct qc_audit_rec {
	const char *kind;      /* submit, result, mitigation, ... ([a-z-], at most 31) */
	const char *incident;  /* NULL or "": none */
	const uint8_t *job_id; /* QL_JOB_ID_LEN bytes, or NULL */
	const char *host;      /* NULL: not about one host */
	const char *actor;     /* operator name, agent hostname */
	const char *text;      /* one human line */
	const char *data;      /* a JSON object with the record's fields; NULL: "{}" */
};

/* The log's state for one store, set up by qc_store_open (creates the table,
 * loads the head) and released by qc_store_close. */
struct qc_audit;
struct sqlite3;
QL_NODISCARD enum ql_err qc_audit_open(struct sqlite3 *db, struct qc_audit **out);
void qc_audit_close(struct qc_audit *a);

/* Append one record (time: now). */
QL_NODISCARD enum ql_err qc_audit_append(struct qc_store *st, const struct qc_audit_rec *r);

/* A stored record; the strings are valid only during the callback. */
struct qc_audit_row {
	uint64_t seq;
	int64_t at_ms;
	const char *kind, *incident, *host, *actor, *text, *data;
	uint8_t job_id[QL_JOB_ID_LEN];
	bool has_job_id;
};

/* The incident's records with seq > after, oldest first, at most limit;
 * *more: whether more follow. */
QL_NODISCARD enum ql_err qc_audit_timeline(struct qc_store *st, const char *incident,
                                           uint64_t after, uint32_t limit,
                                           void (*fn)(void *arg, const struct qc_audit_row *r),
                                           void *arg, bool *more);

struct qc_audit_report {
	uint64_t records;
	bool intact;
	uint64_t first_bad; /* when not intact: the first record that does not verify */
	char problem[256];  /* a sentence about it */
	uint8_t head[QL_HASH_LEN];
};

/* Walk the whole chain. QL_OK with rep->intact false when it is broken. */
QL_NODISCARD enum ql_err qc_audit_verify(struct qc_store *st, struct qc_audit_report *rep);

/* The records the coordinator writes itself (audit-records.c); a failure is
 * logged, never fatal to the job. cmd is the job's decoded Quell__Command. */
void qc_audit_submit(struct qc_store *st, const struct qc_job *job, const void *cmd);
void qc_audit_result(struct qc_store *st, const struct qc_jobhost *h);

#endif
