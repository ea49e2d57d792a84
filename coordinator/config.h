/*
 * config.h: the coordinator's INI config.
 *
 *   [coordinator]     agent_listen, control_listen, state_dir, hold_seconds,
 *                     tls_cert, tls_key, tls_ca (for tls+tcp:// URLs, tls.h)
 *   [operator NAME]   key (base64) or key_file: an operator allowed to
 *                     submit commands and read state
 *   [automation], [rule NAME]   health-triggered automation (rules.h)
 *   [webhook]         listen, token_file, max_body, path: the Alertmanager
 *                     endpoint (optional; config-webhook.c)
 */
#ifndef QC_CONFIG_H
#define QC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "tls.h"

struct qc_automation_config;

#define QC_MAX_OPERATORS 256

struct qc_operator {
	char *name;
	uint8_t pk[QL_PUBKEY_LEN];
	int have_key;
};

#define QC_WEBHOOK_MIN_TOKEN 16
#define QC_WEBHOOK_MAX_TOKEN 256
#define QC_WEBHOOK_HASH_LEN 32

struct qc_webhook_config {
	char host[64]; /* an IP literal; "localhost" is 127.0.0.1 */
	bool ipv6;
	uint16_t port;
	char *token_file;
	uint8_t token_hash[QC_WEBHOOK_HASH_LEN]; /* of the token; the token itself is not kept */
	size_t max_body;                         /* bytes */
	char *path;
	char *tls_cert, *tls_key;         /* PEM files: HTTPS; both or neither */
	char *tls_cert_pem, *tls_key_pem; /* their contents, read at start */
};

struct qc_config {
	char *path;
	char *agent_listen;
	char *control_listen;
	char *state_dir;
	struct ql_tls_files tls; /* tls_cert, tls_key, tls_ca */
	int64_t hold_ms;         /* how long an idle agent poll is held */
	struct qc_operator operators[QC_MAX_OPERATORS];
	size_t n_operators;
	struct qc_automation_config *automation; /* NULL: no automation */
	struct qc_webhook_config *webhook;       /* NULL: no [webhook] section, no HTTP server */
};

struct qc_config *qc_config_load(const char *path, char *why, size_t whylen);
void qc_config_free(struct qc_config *cfg);
const struct qc_operator *qc_config_operator(const struct qc_config *cfg,
                                             const uint8_t pk[QL_PUBKEY_LEN]);

/* config-webhook.c: one key of [webhook] (1, or 0 and a sentence in msg);
 * after the file: the required keys, the token file read and hashed. */
int qc_config_webhook_key(struct qc_config *c, const char *key, const char *value, char *msg,
                          size_t msglen);
QL_NODISCARD enum ql_err qc_config_webhook_finish(struct qc_webhook_config *w, char *why,
                                                  size_t whylen);
void qc_config_webhook_free(struct qc_webhook_config *w);
/* BLAKE2b-256 of a token, what the webhook compares. */
void qc_webhook_token_hash(const char *token, size_t len, uint8_t out[QC_WEBHOOK_HASH_LEN]);

#endif
