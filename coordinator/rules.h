/*
 * rules.h: health-triggered automation (rules.c, rules-config.c).
 *
 * Rules watch the agents' health checks (local: one host; fleet: a share of
 * a selector) or Alertmanager's alerts, and answer with a normal signed job:
 * signed by the coordinator's automation key (which agents' policies limit
 * like any signer), the rule's name as its reason, a TTL always. Automation
 * that misfires is a classic outage, so the limits are the feature: a
 * cooldown per rule, a cap on hosts per rule per window, a cap on automated
 * actions per window for the whole fleet, never a host that an automated
 * mitigation already covers, and one switch (`quell automation pause`) that
 * stops all of it and survives restarts.
 */
#ifndef QC_RULES_H
#define QC_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "coord.h"
#include "ql_limits.h"
#include "quell.pb-c.h"

#define QC_RULE_MAX_LABELS 8
#define QC_RULE_MAX_HOSTS 10000 /* a rule's max_hosts */
#define QC_RULE_JOB_HOSTS 16    /* hosts one job can name (selector alternatives) */

enum qc_rule_kind { QC_RULE_LOCAL = 1, QC_RULE_FLEET, QC_RULE_ALERT };

struct qc_rule_kv {
	char *key, *value;
};

/* One [rule NAME] section. */
struct qc_rule_config {
	char *name;
	enum qc_rule_kind kind;
	char *check;        /* local, fleet: the health check's name */
	char *target;       /* local, fleet: which hosts ("all" by default) */
	uint32_t threshold; /* fleet: at least this many hosts failing, or */
	bool threshold_pct; /* ... this percentage of the target */
	uint32_t for_s;     /* local, fleet: failing for at least this long */
	char *alert;        /* alert: the alertname */
	struct qc_rule_kv labels[QC_RULE_MAX_LABELS]; /* alert: labels that must match */
	size_t n_labels;
	char *action, *handle;
	struct qc_rule_kv args[QL_MAX_ARGS];
	size_t n_args;
	uint32_t ttl;        /* required */
	uint32_t cooldown_s; /* after firing (local: per host) */
	uint32_t max_hosts;  /* hosts touched per window (default 16) */
	char *incident;      /* the jobs' incident (default: the rule's name) */
};

/* [automation] and every [rule NAME]. */
struct qc_automation_config {
	char *key_path;       /* the automation key (secret) */
	uint32_t window_s;    /* every cap's window */
	uint32_t max_actions; /* automated jobs per window, whole fleet */
	struct qc_rule_config *rules;
	size_t n_rules, cap_rules;
};

/* rules-config.c: config.c hands these sections over. */
bool qc_rules_config_key(struct qc_automation_config **cfg, const char *section, const char *key,
                         const char *value, char *why, size_t whylen);
/* After the whole file: required keys, consistency. */
bool qc_rules_config_check(const struct qc_automation_config *cfg, char *why, size_t whylen);
void qc_rules_config_free(struct qc_automation_config *cfg);

/* rules.c */
QL_NODISCARD enum ql_err qc_rules_start(struct qc *c, char *why, size_t whylen);
void qc_rules_free(struct qc *c);
/* From the tick (lock held): evaluate the health rules once a second. */
void qc_rules_tick(struct qc *c, int64_t now_ms);
/* `quell automation status|pause|resume` (lock held). */
void qc_rules_control(struct qc *c, struct qc_rctx *rc, const char *operator_name,
                      const Quell__AutomationRequest *req);

#endif
