/*
 * messages.h: the hello (who I am: hostname, labels, the actions this build
 * knows) and heartbeat an agent signs with its key, ready to send; both carry
 * every health check's state now (health may be NULL: no checks). NULL when
 * out of memory or signing fails.
 */
#ifndef QA_MESSAGES_H
#define QA_MESSAGES_H

#include <nng/nng.h>
#include <stdint.h>

#include "config.h"
#include "health.h"
#include "keys.h"
#include "tls.h"

nng_msg *qa_msg_hello(const struct qa_config *cfg, const struct ql_secret_key *key,
                      const struct ql_tls_proof *proof, struct qa_health *health);
nng_msg *qa_msg_heartbeat(const struct qa_config *cfg, const struct ql_secret_key *key,
                          uint64_t seq, struct qa_health *health);

#endif
