/*
 * rules-int.h: the automation engine's insides, shared by rules.c (acting,
 * evaluating, the switch) and rules-store.c (what the store knows). Private
 * to the coordinator's rules; see rules.h.
 */
#ifndef QC_RULES_INT_H
#define QC_RULES_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "keys.h"
#include "rules.h"

struct rule_state {
	char last_held[512];
	int64_t last_held_at;
};

/* The statements that run every second, prepared once (ql_db_cached). */
enum { Q_JOBS_SINCE, Q_RULE_HOSTS_SINCE, Q_RULE_COOLING, Q_RULE_LAST, Q_HOST_LAST, Q_COVERED, N_Q };

struct qc_rules {
	sqlite3_stmt *q[N_Q];
	const struct qc_automation_config *cfg;
	struct ql_secret_key *key;
	struct rule_state *st;
	int64_t next_eval_ms;
	bool paused;
	char paused_by[QL_MAX_NAME + 1], paused_reason[QL_MAX_REASON + 1];
	int64_t paused_at;
};

/* rules-store.c: every failure logs and returns false (callers hold back). */
sqlite3 *qr_db(struct qc *c);
/* The automation tables (at start). */
bool qr_store_init(struct qc *c, char *why, size_t whylen);
bool qr_jobs_since(struct qc *c, int64_t since, int64_t *n);
bool qr_hosts_since(struct qc *c, const char *rule, int64_t since, int64_t *n);
bool qr_cooling(struct qc *c, const char *rule, int64_t since, int64_t *n);
bool qr_last_fired(struct qc *c, const char *rule, int64_t *at);
bool qr_host_last_fired(struct qc *c, const char *rule, const char *host, int64_t *at);
/* Covered for this rule (errors: covered). */
bool qr_covered(struct qc *c, const char *host, const char *rule);
bool qr_record_fires(struct qc *c, const char *rule, char *const *hosts, size_t n,
                     const uint8_t id[QL_JOB_ID_LEN], int64_t now);
void qr_forget_fires(struct qc *c, const uint8_t id[QL_JOB_ID_LEN]);
enum ql_err qr_save_pause(struct qc *c);
/* Fails closed: a switch it cannot read means paused. */
void qr_load_pause(struct qc *c);

#endif
