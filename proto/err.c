/*
 * err.c: the sentences and wire codes behind enum ql_err, and the clocks.
 * The table is indexed by the enum so adding a value without a sentence is a
 * compile-time error (the static assert below counts the rows).
 */
#include <string.h>
#include <time.h>

#include "ql.h"

static const struct {
	const char *code;
	const char *sentence;
} ql_errs[] = {
	[QL_OK] = {"ok", "success"},
	[QL_ERR_NOMEM] = {"no-memory", "out of memory"},
	[QL_ERR_IO] = {"io", "input/output error"},
	[QL_ERR_TOO_BIG] = {"too-big", "input exceeds a hard size limit"},
	[QL_ERR_MALFORMED] = {"malformed", "malformed or invalid message"},
	[QL_ERR_BAD_SIGNATURE] = {"bad-signature", "signature does not verify"},
	[QL_ERR_UNKNOWN_SIGNER] = {"unknown-signer", "signer key is not trusted"},
	[QL_ERR_EXPIRED] = {"expired", "command has expired"},
	[QL_ERR_NOT_YET_VALID] = {"not-yet-valid",
                                  "command is issued in the future (check clocks)"},
	[QL_ERR_REPLAYED] = {"replayed", "job id was already used by another command"},
	[QL_ERR_NOT_TARGETED] = {"not-targeted", "command is not targeted at this host"},
	[QL_ERR_DENIED] = {"denied", "denied by policy"},
	[QL_ERR_UNKNOWN_HANDLE] = {"unknown-handle", "no such handle in this agent's config"},
	[QL_ERR_UNKNOWN_ACTION] = {"unknown-action", "no such action"},
	[QL_ERR_BAD_ARGUMENT] = {"bad-argument", "invalid argument"},
	[QL_ERR_KEY_PERMS] = {"key-permissions",
                              "secret key file is readable by group or others (chmod 600)"},
	[QL_ERR_EXISTS] = {"exists", "file already exists"},
	[QL_ERR_CONFIG] = {"config", "invalid configuration"},
	[QL_ERR_STORE] = {"store", "local state store failed"},
	[QL_ERR_TRANSPORT] = {"transport", "transport error"},
	[QL_ERR_TIMEOUT] = {"timeout", "timed out"},
	[QL_ERR_INTERRUPTED] = {"interrupted",
                                "an earlier delivery started but never finished (agent restarted)"},
	[QL_ERR_ACTION_FAILED] = {"action-failed", "action failed"},
	[QL_ERR_VERSION] = {"version", "unsupported protocol version"},
	[QL_ERR_BUSY] = {"busy", "agent's queue is full; nothing was done, deliver again later"},
	[QL_ERR_CRYPTO] = {"crypto", "cryptographic library failure"},
	[QL_ERR_NOT_FOUND] = {"not-found", "not found"},
	[QL_ERR_TTL_TOO_LONG] = {"ttl-too-long",
                                 "TTL is longer than this host's policy allows the signer"},
	[QL_ERR_TTL_REQUIRED] = {"ttl-required",
                                 "this host's policy requires a TTL from this signer"},
	[QL_ERR_NOT_ACTIVE] = {"not-active", "the mitigation is not in effect on this host"},
};

_Static_assert(sizeof(ql_errs) / sizeof(ql_errs[0]) == QL_ERR__COUNT,
               "every enum ql_err needs a code and a sentence");

const char *ql_strerror(enum ql_err err)
{
	if ((unsigned)err >= QL_ERR__COUNT)
		return "unknown error";
	return ql_errs[err].sentence;
}

const char *ql_err_code(enum ql_err err)
{
	if ((unsigned)err >= QL_ERR__COUNT)
		return "unknown";
	return ql_errs[err].code;
}

enum ql_err ql_err_from_code(const char *code)
{
	for (unsigned i = 0; i < QL_ERR__COUNT; i++)
		if (strcmp(ql_errs[i].code, code) == 0)
			return (enum ql_err)i;
	return QL_ERR__COUNT;
}

int64_t ql_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t ql_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
