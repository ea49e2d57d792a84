/*
 * config.h: the coordinator's INI config.
 *
 *   [coordinator]     agent_listen, control_listen, state_dir, hold_seconds
 *   [operator NAME]   key (base64) or key_file: an operator allowed to
 *                     submit commands and read state
 *   [automation], [rule NAME]   health-triggered automation (rules.h)
 */
#ifndef QC_CONFIG_H
#define QC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

struct qc_automation_config;

#define QC_MAX_OPERATORS 256

struct qc_operator {
	char *name;
	uint8_t pk[QL_PUBKEY_LEN];
	int have_key;
};

struct qc_config {
	char *path;
	char *agent_listen;
	char *control_listen;
	char *state_dir;
	int64_t hold_ms; /* how long an idle agent poll is held */
	struct qc_operator operators[QC_MAX_OPERATORS];
	size_t n_operators;
	struct qc_automation_config *automation; /* NULL: no automation */
};

struct qc_config *qc_config_load(const char *path, char *why, size_t whylen);
void qc_config_free(struct qc_config *cfg);
const struct qc_operator *qc_config_operator(const struct qc_config *cfg,
                                             const uint8_t pk[QL_PUBKEY_LEN]);

#endif
