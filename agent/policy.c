/*
 * policy.c: evaluating the [signer] sections of the agent's config. The
 * executor calls this itself right before acting; nothing upstream (the
 * coordinator, the network side) is trusted to have checked it.
 */
#include <string.h>

#include "policy.h"

static bool part_matches(const char *rule, const char *value)
{
	return strcmp(rule, "*") == 0 || strcmp(rule, value) == 0;
}

enum ql_err qa_policy_check(const struct qa_config *cfg, const uint8_t pk[QL_PUBKEY_LEN],
                            const char *action, const char *handle, const char **name_out)
{
	const struct qa_signer *s = qa_config_signer(cfg, pk);
	*name_out = NULL;
	if (s == NULL)
		return QL_ERR_UNKNOWN_SIGNER;
	*name_out = s->name;
	for (size_t i = 0; i < s->n_rules; i++)
		if (part_matches(s->rules[i].action, action) &&
		    part_matches(s->rules[i].handle, handle))
			return QL_OK;
	return QL_ERR_DENIED;
}
