/*
 * ql.h: the one error vocabulary of quell, and the small macros every file
 * uses. Every reason an agent can reject a command for has its own value,
 * a stable short code that travels on the wire ("bad-signature") and a human
 * sentence for logs and the CLI. Values are never renumbered.
 */
#ifndef QL_H
#define QL_H

#include <stddef.h>
#include <stdint.h>

#define QL_NODISCARD __attribute__((warn_unused_result))
#define QL_PRINTF(f, a) __attribute__((format(printf, f, a)))

#define QL_VERSION "0.1.0"
#define QL_PROTOCOL_VERSION 1

enum ql_err {
	QL_OK = 0,
	QL_ERR_NOMEM,
	QL_ERR_IO,
	QL_ERR_TOO_BIG,
	QL_ERR_MALFORMED,
	QL_ERR_BAD_SIGNATURE,
	QL_ERR_UNKNOWN_SIGNER,
	QL_ERR_EXPIRED,
	QL_ERR_NOT_YET_VALID,
	QL_ERR_REPLAYED,
	QL_ERR_NOT_TARGETED,
	QL_ERR_DENIED,
	QL_ERR_UNKNOWN_HANDLE,
	QL_ERR_UNKNOWN_ACTION,
	QL_ERR_BAD_ARGUMENT,
	QL_ERR_KEY_PERMS,
	QL_ERR_EXISTS,
	QL_ERR_CONFIG,
	QL_ERR_STORE,
	QL_ERR_TRANSPORT,
	QL_ERR_TIMEOUT,
	QL_ERR_INTERRUPTED,
	QL_ERR_ACTION_FAILED,
	QL_ERR_VERSION,
	QL_ERR_BUSY,
	QL_ERR_CRYPTO,
	QL_ERR_NOT_FOUND,
	QL_ERR_TTL_TOO_LONG,
	QL_ERR_TTL_REQUIRED,
	QL_ERR_NOT_ACTIVE,
	QL_ERR__COUNT
};

/* A human sentence, e.g. "signature does not verify". Never NULL. */
const char *ql_strerror(enum ql_err err);
/* A short stable code for the wire and for scripts, e.g. "bad-signature". */
const char *ql_err_code(enum ql_err err);
/* The inverse of ql_err_code(); QL_ERR__COUNT when the code is unknown. */
enum ql_err ql_err_from_code(const char *code);

/* Unix time in seconds, and a monotonic clock in milliseconds. */
int64_t ql_now(void);
int64_t ql_mono_ms(void);

#endif
