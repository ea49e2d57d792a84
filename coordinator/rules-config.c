/*
 * rules-config.c: the [automation] and [rule NAME] sections of the
 * coordinator's config (see rules.h). Every key is checked where it is read;
 * a rule the coordinator could not honour stops it at start, with the line.
 *
 *   [automation]
 *   key = /etc/quell/automation.key   ; secret; agents list its .pub as a [signer]
 *   window = 1h                       ; the window of every cap (default 1h)
 *   max_actions = 10                  ; automated jobs per window, whole fleet (default 10)
 *
 *   [rule web-down]
 *   when = fleet                      ; local | fleet | alert
 *   check = http                      ; local, fleet: the agents' check
 *   target = role=web                 ; local, fleet: the hosts it watches and acts on
 *   threshold = 30%                   ; fleet: N hosts or P% of the target failing
 *   for = 60s                         ; local, fleet: failing at least this long
 *   alert = HighErrorRate             ; alert: alertname; labels = k=v,k=v must match
 *   action = maintenance              ; what to do, on which handle, with arg.NAME = VALUE
 *   handle = site
 *   arg.mode = on
 *   ttl = 15m                         ; required
 *   cooldown = 10m                    ; default 10m (local: per host)
 *   max_hosts = 3                     ; hosts touched per window (default 16)
 *   incident = web-down               ; default: the rule's name
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "rules.h"
#include "selector.h"

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		snprintf(why, whylen, __VA_ARGS__);                                                \
		return false;                                                                      \
	} while (0)

static bool set(char **dst, const char *value)
{
	free(*dst);
	*dst = strdup(value);
	return *dst != NULL;
}

static bool count(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	if (end == v || *end || n < min || n > max || v[0] == '-')
		return false;
	*out = (uint32_t)n;
	return true;
}

static struct qc_rule_config *rule_for(struct qc_automation_config *a, const char *name)
{
	for (size_t i = 0; i < a->n_rules; i++)
		if (strcmp(a->rules[i].name, name) == 0)
			return &a->rules[i];
	if (a->n_rules == QL_MAX_RULES)
		return NULL;
	if (a->n_rules == a->cap_rules) {
		size_t want = a->cap_rules ? 2 * a->cap_rules : 8;
		struct qc_rule_config *r = realloc(a->rules, want * sizeof *r);
		if (r == NULL)
			return NULL;
		a->rules = r;
		a->cap_rules = want;
	}
	struct qc_rule_config *r = &a->rules[a->n_rules];
	memset(r, 0, sizeof *r);
	r->cooldown_s = 600;
	r->max_hosts = 16;
	r->for_s = 60;
	if ((r->name = strdup(name)) == NULL)
		return NULL;
	a->n_rules++;
	return r;
}

/* "k=v,k=v": alert label matchers. */
static bool parse_labels(struct qc_rule_config *r, const char *v, char *why, size_t whylen)
{
	char *copy = strdup(v), *save = NULL;
	if (copy == NULL)
		FAIL("out of memory");
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		char *eq = strchr(t, '=');
		if (eq == NULL || eq == t || r->n_labels == QC_RULE_MAX_LABELS) {
			free(copy);
			FAIL("labels are NAME=VALUE pairs, comma separated, at most %d",
			     QC_RULE_MAX_LABELS);
		}
		*eq = '\0';
		struct qc_rule_kv *kv = &r->labels[r->n_labels++];
		kv->key = strdup(t);
		kv->value = strdup(eq + 1);
		if (!kv->key || !kv->value || !ql_text_ok(kv->value, 1024)) {
			free(copy);
			FAIL("bad label '%s'", t);
		}
	}
	free(copy);
	return true;
}

static bool rule_key(struct qc_rule_config *r, const char *key, const char *v, char *why,
                     size_t whylen)
{
	if (strcmp(key, "when") == 0) {
		r->kind = strcmp(v, "local") == 0   ? QC_RULE_LOCAL
		          : strcmp(v, "fleet") == 0 ? QC_RULE_FLEET
		          : strcmp(v, "alert") == 0 ? QC_RULE_ALERT
		                                    : 0;
		if (r->kind == 0)
			FAIL("when is local, fleet or alert");
	} else if (strcmp(key, "check") == 0) {
		if (!ql_ident_ok(v, QL_MAX_NAME) || !set(&r->check, v))
			FAIL("check is a check's name ([check NAME] on the agents)");
	} else if (strcmp(key, "target") == 0) {
		if (ql_selector_check(v) != QL_OK || !set(&r->target, v))
			FAIL("target is a selector (all, host=web-*, role=web,dc=east|west)");
	} else if (strcmp(key, "threshold") == 0) {
		size_t n = strlen(v);
		r->threshold_pct = n > 1 && v[n - 1] == '%';
		char num[16];
		snprintf(num, sizeof num, "%.*s", (int)(r->threshold_pct ? n - 1 : n), v);
		if (n >= sizeof num ||
		    !count(num, 1, r->threshold_pct ? 100 : QL_MAX_BATCH, &r->threshold))
			FAIL("threshold is a number of hosts (1 or more) or a percentage (1%% to "
			     "100%%)");
	} else if (strcmp(key, "for") == 0) {
		if (strcmp(v, "0") == 0)
			r->for_s = 0;
		else if (!ql_duration_parse(v, 86400, &r->for_s))
			FAIL("for is a duration (0, 30s, 5m; at most 1d)");
	} else if (strcmp(key, "alert") == 0) {
		if (!ql_text_ok(v, 256) || v[0] == '\0' || !set(&r->alert, v))
			FAIL("alert is an alert's name");
	} else if (strcmp(key, "labels") == 0) {
		return parse_labels(r, v, why, whylen);
	} else if (strcmp(key, "action") == 0) {
		if (!ql_ident_ok(v, QL_MAX_ACTION) || !set(&r->action, v))
			FAIL("action is an action's name (maintenance, flag, pause, ...)");
	} else if (strcmp(key, "handle") == 0) {
		if (!ql_ident_ok(v, QL_MAX_HANDLE) || !set(&r->handle, v))
			FAIL("handle is a handle's name");
	} else if (strncmp(key, "arg.", 4) == 0) {
		if (!ql_ident_ok(key + 4, QL_MAX_ARG_KEY) || !ql_text_ok(v, QL_MAX_ARG_VALUE) ||
		    r->n_args == QL_MAX_ARGS)
			FAIL("arg.NAME = VALUE: a name, printable text, at most %d", QL_MAX_ARGS);
		struct qc_rule_kv *kv = &r->args[r->n_args++];
		kv->key = strdup(key + 4);
		kv->value = strdup(v);
		if (!kv->key || !kv->value)
			FAIL("out of memory");
	} else if (strcmp(key, "ttl") == 0) {
		if (!ql_duration_parse(v, QL_MAX_TTL, &r->ttl))
			FAIL("ttl is a duration (90s, 15m, 2h; at most 7d)");
	} else if (strcmp(key, "cooldown") == 0) {
		if (!ql_duration_parse(v, 7 * 86400, &r->cooldown_s))
			FAIL("cooldown is a duration (10m, 1h; at most 7d)");
	} else if (strcmp(key, "max_hosts") == 0) {
		if (!count(v, 1, QC_RULE_MAX_HOSTS, &r->max_hosts))
			FAIL("max_hosts is 1 to %d", QC_RULE_MAX_HOSTS);
	} else if (strcmp(key, "incident") == 0) {
		if (!ql_ident_ok(v, QL_MAX_INCIDENT) || !set(&r->incident, v))
			FAIL("incident is a name of A-Z a-z 0-9 _ . -");
	} else {
		FAIL("unknown key '%s' in [rule %s]", key, r->name);
	}
	return true;
}

bool qc_rules_config_key(struct qc_automation_config **cfg, const char *section, const char *key,
                         const char *value, char *why, size_t whylen)
{
	if (*cfg == NULL && (*cfg = calloc(1, sizeof **cfg)) == NULL)
		FAIL("out of memory");
	struct qc_automation_config *a = *cfg;
	if (a->window_s == 0) {
		a->window_s = 3600;
		a->max_actions = 10;
	}
	if (strcmp(section, "automation") == 0) {
		if (strcmp(key, "key") == 0) {
			if (!set(&a->key_path, value))
				FAIL("out of memory");
		} else if (strcmp(key, "window") == 0) {
			if (!ql_duration_parse(value, 7 * 86400, &a->window_s))
				FAIL("window is a duration (1h, 30m; at most 7d)");
		} else if (strcmp(key, "max_actions") == 0) {
			if (!count(value, 1, 100000, &a->max_actions))
				FAIL("max_actions is 1 to 100000");
		} else {
			FAIL("unknown key '%s' in [automation]", key);
		}
		return true;
	}
	const char *name = section + 5; /* "rule " */
	if (!ql_ident_ok(name, QL_MAX_NAME))
		FAIL("a rule's name is 1 to %d characters of A-Z a-z 0-9 _ . -", QL_MAX_NAME);
	struct qc_rule_config *r = rule_for(a, name);
	if (r == NULL)
		FAIL("too many rules (at most %d)", QL_MAX_RULES);
	return rule_key(r, key, value, why, whylen);
}

bool qc_rules_config_check(const struct qc_automation_config *a, char *why, size_t whylen)
{
	if (a == NULL)
		return true;
	if (a->key_path == NULL)
		FAIL("[automation] key is required (the key automated jobs are signed with)");
	for (size_t i = 0; i < a->n_rules; i++) {
		const struct qc_rule_config *r = &a->rules[i];
		if (r->kind == 0)
			FAIL("[rule %s]: when = local|fleet|alert is required", r->name);
		if (r->action == NULL)
			FAIL("[rule %s]: action is required", r->name);
		if (r->ttl == 0)
			FAIL("[rule %s]: ttl is required (automated mitigations always expire)",
			     r->name);
		if (r->kind != QC_RULE_ALERT && r->check == NULL)
			FAIL("[rule %s]: check is required for a %s rule", r->name,
			     r->kind == QC_RULE_LOCAL ? "local" : "fleet");
		if (r->kind == QC_RULE_FLEET && r->threshold == 0)
			FAIL("[rule %s]: threshold is required for a fleet rule", r->name);
		if (r->kind == QC_RULE_ALERT && r->alert == NULL)
			FAIL("[rule %s]: alert is required for an alert rule", r->name);
		if (r->kind == QC_RULE_ALERT && (r->check || r->threshold))
			FAIL("[rule %s]: an alert rule takes no check or threshold", r->name);
		if (r->kind != QC_RULE_ALERT && (r->alert || r->n_labels))
			FAIL("[rule %s]: alert and labels go with when = alert", r->name);
	}
	return true;
}

void qc_rules_config_free(struct qc_automation_config *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n_rules; i++) {
		struct qc_rule_config *r = &a->rules[i];
		free(r->name);
		free(r->check);
		free(r->target);
		free(r->alert);
		free(r->action);
		free(r->handle);
		free(r->incident);
		for (size_t k = 0; k < r->n_labels; k++) {
			free(r->labels[k].key);
			free(r->labels[k].value);
		}
		for (size_t k = 0; k < r->n_args; k++) {
			free(r->args[k].key);
			free(r->args[k].value);
		}
	}
	free(a->rules);
	free(a->key_path);
	free(a);
}
