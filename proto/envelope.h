/*
 * envelope.h: the signed envelope around every message that carries
 * authority. Signatures cover a per-kind domain prefix plus the exact body
 * bytes received; ql_envelope_open() verifies BEFORE any body is decoded and
 * never re-serializes anything to verify it.
 */
#ifndef QL_ENVELOPE_H
#define QL_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "ql.h"
#include "ql_limits.h"
#include "quell.pb-c.h"

/* Bit for each Quell__Kind, for ql_envelope_open()'s `accept` mask. */
#define QL_KIND_BIT(k) (1u << (k))

struct ql_opened {
	Quell__Envelope *env; /* owns body */
	Quell__Kind kind;
	uint8_t signer[QL_PUBKEY_LEN];
	const uint8_t *body;
	size_t body_len;
};

/*
 * Sign body as `kind` with key and serialize the envelope into a malloc'd
 * buffer (*out, *out_len). On failure *out is NULL.
 */
QL_NODISCARD enum ql_err ql_envelope_seal(Quell__Kind kind, const struct ql_secret_key *key,
                                          const uint8_t *body, size_t body_len, uint8_t **out,
                                          size_t *out_len);

/*
 * UNTRUSTED input: decode an envelope, check version, kind (must be in the
 * `accept` mask), field sizes, and the signature. QL_ERR_BAD_SIGNATURE when it
 * does not verify. On success the caller owns `out` and calls
 * ql_opened_fini(); on failure `out` is left empty.
 */
QL_NODISCARD enum ql_err ql_envelope_open(const uint8_t *buf, size_t len, uint32_t accept,
                                          struct ql_opened *out);
void ql_opened_fini(struct ql_opened *o);

/* BLAKE2b-256 of a body, used to bind a result to the exact command. */
void ql_body_hash(const uint8_t *body, size_t len, uint8_t out[QL_HASH_LEN]);

#endif
