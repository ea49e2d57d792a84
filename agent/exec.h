/*
 * exec.h: the agent's executor. Given the raw bytes of a command envelope
 * (as the coordinator relayed them) it runs every check of the trust model,
 * records intent, runs the action and returns a result envelope signed with
 * the agent's key. It trusts nothing upstream: whatever the network side or
 * the coordinator did, every check is repeated here.
 */
#ifndef QA_EXEC_H
#define QA_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "keys.h"
#include "store.h"

struct qa_exec_env {
	const struct qa_config *cfg;
	const struct ql_secret_key *key;
	struct qa_store *store;
};

/*
 * UNTRUSTED: env/len. `tag` (QL_JOB_ID_LEN bytes, may be NULL) is the
 * coordinator's delivery tag, echoed only when the command itself is
 * unreadable. Always produces a signed result unless memory or signing
 * fails.
 */
QL_NODISCARD enum ql_err qa_exec(const struct qa_exec_env *x, const uint8_t *env, size_t len,
                                 const uint8_t *tag, uint8_t **out, size_t *out_len);

#endif
