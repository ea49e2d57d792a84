/*
 * config.h: the agent's configuration, read once at start-up from an INI
 * file (libinih). Everything an action may touch is declared here, by the
 * host's own administrator: the wire only ever names a handle.
 *
 *   [agent]            hostname, labels, coordinator (one or more URLs),
 *                      key, state_dir, clock_skew
 *   [signer NAME]      key (base64) or key_file, allow = action[:handle], ...,
 *                      max_ttl = DURATION, require_ttl = yes|no
 *   [handle NAME]      type = ..., and that type's keys (handles.h)
 *   [check NAME]       type = ..., and that type's keys (checks.h)
 *
 * A config the agent cannot honour is refused at start with the file, line
 * and reason, never half-applied.
 */
#ifndef QA_CONFIG_H
#define QA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checks.h"
#include "handles.h"
#include "keys.h"
#include "ql.h"
#include "selector.h"
#include "tls.h"

#define QA_MAX_COORDINATORS 8
#define QA_MAX_SIGNERS 64
#define QA_MAX_HANDLES 128
#define QA_MAX_RULES 64

/* One "allow" entry: action name (or "*") and handle name (or "*"). */
struct qa_rule {
	char *action;
	char *handle;
};

struct qa_signer {
	char *name;
	uint8_t pk[QL_PUBKEY_LEN];
	bool have_key;
	struct qa_rule rules[QA_MAX_RULES];
	size_t n_rules;
	uint32_t max_ttl; /* seconds; 0: up to QL_MAX_TTL */
	bool require_ttl; /* reversible actions need a TTL (e.g. the automation key) */
};

struct qa_config {
	char *path;
	char *hostname;
	struct ql_label *labels;
	size_t n_labels;
	char *coordinators[QA_MAX_COORDINATORS];
	size_t n_coordinators;
	char *key_path;
	struct ql_tls_files tls; /* tls_cert, tls_key, tls_ca, tls_server_name */
	char *state_dir;
	int64_t clock_skew;
	struct qa_signer *signers;
	size_t n_signers;
	struct qa_handle *handles;
	size_t n_handles;
	struct qa_check *checks; /* at most QL_MAX_CHECKS */
	size_t n_checks;
};

/*
 * Load and validate PATH. On failure returns NULL and writes
 * "PATH:LINE: reason" into why.
 */
struct qa_config *qa_config_load(const char *path, char *why, size_t whylen);
void qa_config_free(struct qa_config *cfg);

/* Warn about handle directories the agent cannot write (a read-only mount). */
void qa_config_warn_readonly(const struct qa_config *cfg);
/* Remove the temporary files a crash left next to the files the handles change. */
void qa_config_clean_temps(const struct qa_config *cfg);

const struct qa_handle *qa_config_handle(const struct qa_config *cfg, const char *name);
const struct qa_signer *qa_config_signer(const struct qa_config *cfg,
                                         const uint8_t pk[QL_PUBKEY_LEN]);

#endif
