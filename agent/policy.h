/*
 * policy.h: who may do what on this host. Default deny: a signer must be
 * listed in the agent's config, and one of its allow entries must name the
 * action (or "*") and the handle (or "*").
 */
#ifndef QA_POLICY_H
#define QA_POLICY_H

#include "config.h"

/* QL_OK, QL_ERR_UNKNOWN_SIGNER or QL_ERR_DENIED; *name_out is the signer's name. */
QL_NODISCARD enum ql_err qa_policy_check(const struct qa_config *cfg,
                                         const uint8_t pk[QL_PUBKEY_LEN], const char *action,
                                         const char *handle, const char **name_out);

#endif
