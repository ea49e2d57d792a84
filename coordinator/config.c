/*
 * config.c: parsing the coordinator's INI file (see config.h). Unknown
 * sections and keys are errors, reported with their line.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "config.h"
#include "ql_limits.h"
#include "rules.h"
#include "transport.h"

struct parse {
	struct qc_config *cfg;
	char msg[512];
};

#define FAIL(p, ...)                                                                               \
	do {                                                                                       \
		snprintf((p)->msg, sizeof(p)->msg, __VA_ARGS__);                                   \
		return 0;                                                                          \
	} while (0)

static int set_url(struct parse *p, char **dst, const char *key, const char *value)
{
	char why[256];
	if (ql_url_check(value, why, sizeof why) != QL_OK)
		FAIL(p, "%s: %s", key, why);
	free(*dst);
	*dst = strdup(value);
	return *dst != NULL;
}

static struct qc_operator *operator_for(struct qc_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_operators; i++)
		if (strcmp(c->operators[i].name, name) == 0)
			return &c->operators[i];
	if (c->n_operators == QC_MAX_OPERATORS)
		return NULL;
	struct qc_operator *o = &c->operators[c->n_operators];
	o->name = strdup(name);
	if (o->name == NULL)
		return NULL;
	c->n_operators++;
	return o;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct parse *p = user;
	struct qc_config *c = p->cfg;
	if (p->msg[0])
		return 0;
	if (strcmp(section, "coordinator") == 0) {
		if (strcmp(key, "agent_listen") == 0)
			return set_url(p, &c->agent_listen, key, value);
		if (strcmp(key, "control_listen") == 0)
			return set_url(p, &c->control_listen, key, value);
		if (strcmp(key, "state_dir") == 0) {
			free(c->state_dir);
			c->state_dir = strdup(value);
			return c->state_dir != NULL;
		}
		char **tls = strcmp(key, "tls_cert") == 0  ? &c->tls.cert
		             : strcmp(key, "tls_key") == 0 ? &c->tls.key
		             : strcmp(key, "tls_ca") == 0  ? &c->tls.ca
		                                           : NULL;
		if (tls) {
			free(*tls);
			*tls = strdup(value);
			return *tls != NULL;
		}
		if (strcmp(key, "hold_seconds") == 0) {
			char *end;
			long v = strtol(value, &end, 10);
			if (*end || v < 1 || v > 25)
				FAIL(p, "hold_seconds must be 1 to 25");
			c->hold_ms = v * 1000;
			return 1;
		}
		FAIL(p, "unknown key '%s' in [coordinator]", key);
	}
	if (strncmp(section, "operator ", 9) == 0 && ql_ident_ok(section + 9, QL_MAX_NAME)) {
		struct qc_operator *o = operator_for(c, section + 9);
		if (o == NULL)
			FAIL(p, "too many operators (at most %d)", QC_MAX_OPERATORS);
		enum ql_err err;
		if (strcmp(key, "key") == 0)
			err = ql_pubkey_parse(value, o->pk);
		else if (strcmp(key, "key_file") == 0)
			err = ql_pubkey_load(value, o->pk);
		else
			FAIL(p, "unknown key '%s' in [operator %s]", key, section + 9);
		if (err != QL_OK)
			FAIL(p, "operator '%s': cannot use %s: %s", section + 9, value,
			     err == QL_ERR_IO ? strerror(errno) : ql_strerror(err));
		o->have_key = 1;
		return 1;
	}
	if (strcmp(section, "automation") == 0 || strncmp(section, "rule ", 5) == 0)
		return qc_rules_config_key(&c->automation, section, key, value, p->msg,
		                           sizeof p->msg)
		               ? 1
		               : 0;
	if (strcmp(section, "webhook") == 0)
		return qc_config_webhook_key(c, key, value, p->msg, sizeof p->msg);
	FAIL(p,
	     "unknown section [%s] (expected [coordinator], [operator NAME], [webhook], "
	     "[automation] or [rule NAME])",
	     section);
}

struct qc_config *qc_config_load(const char *path, char *why, size_t whylen)
{
	struct qc_config *cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	cfg->path = strdup(path);
	cfg->hold_ms = 15000;
	struct parse p = {.cfg = cfg};
	int rc = ini_parse(path, handler, &p);
	if (rc < 0) {
		snprintf(why, whylen, "%s: cannot read: %s", path, strerror(errno));
		goto fail;
	}
	if (rc > 0) {
		snprintf(why, whylen, "%s:%d: %s", path, rc, p.msg[0] ? p.msg : "syntax error");
		goto fail;
	}
	const char *missing = cfg->agent_listen == NULL     ? "agent_listen"
	                      : cfg->control_listen == NULL ? "control_listen"
	                      : cfg->state_dir == NULL      ? "state_dir"
	                                                    : NULL;
	if (missing) {
		snprintf(why, whylen, "%s: [coordinator] %s is required", path, missing);
		goto fail;
	}
	char msg[512];
	if (ql_tls_files_check(&cfg->tls, QL_TLS_AGENTS, cfg->agent_listen, msg, sizeof msg) !=
	            QL_OK ||
	    ql_tls_files_check(&cfg->tls, QL_TLS_CONTROL, cfg->control_listen, msg, sizeof msg) !=
	            QL_OK) {
		snprintf(why, whylen, "%s: [coordinator] %s", path, msg);
		goto fail;
	}
	if (!qc_rules_config_check(cfg->automation, msg, sizeof msg)) {
		snprintf(why, whylen, "%s: %s", path, msg);
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_operators; i++) {
		if (!cfg->operators[i].have_key) {
			snprintf(why, whylen, "%s: [operator %s] has no key or key_file", path,
			         cfg->operators[i].name);
			goto fail;
		}
	}
	if (cfg->webhook) {
		char wwhy[512];
		if (qc_config_webhook_finish(cfg->webhook, wwhy, sizeof wwhy) != QL_OK) {
			snprintf(why, whylen, "%s: %s", path, wwhy);
			goto fail;
		}
	}
	return cfg;
fail:
	qc_config_free(cfg);
	return NULL;
}

void qc_config_free(struct qc_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->agent_listen);
	free(cfg->control_listen);
	free(cfg->state_dir);
	ql_tls_files_fini(&cfg->tls);
	for (size_t i = 0; i < cfg->n_operators; i++)
		free(cfg->operators[i].name);
	qc_rules_config_free(cfg->automation);
	qc_config_webhook_free(cfg->webhook);
	free(cfg);
}

const struct qc_operator *qc_config_operator(const struct qc_config *cfg,
                                             const uint8_t pk[QL_PUBKEY_LEN])
{
	for (size_t i = 0; i < cfg->n_operators; i++)
		if (memcmp(cfg->operators[i].pk, pk, QL_PUBKEY_LEN) == 0)
			return &cfg->operators[i];
	return NULL;
}
