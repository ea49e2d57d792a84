/*
 * envelope.c: sealing and opening signed envelopes (ed25519, libsodium).
 *
 * What is signed is DOMAIN(kind) || body, where DOMAIN is a distinct,
 * NUL-terminated string per kind. The kind itself is therefore covered by the
 * signature: relabelling a signed result as a command changes the prefix and
 * breaks the signature.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "ql_limits.h"

static const char *domain(Quell__Kind kind)
{
	switch (kind) {
	case QUELL__KIND__KIND_HELLO:
		return "quell/v1/hello";
	case QUELL__KIND__KIND_HEARTBEAT:
		return "quell/v1/heartbeat";
	case QUELL__KIND__KIND_COMMAND:
		return "quell/v1/command";
	case QUELL__KIND__KIND_RESULT:
		return "quell/v1/result";
	case QUELL__KIND__KIND_CONTROL:
		return "quell/v1/control";
	case QUELL__KIND__KIND_EVENTS:
		return "quell/v1/events";
	default:
		return NULL;
	}
}

/* Build DOMAIN(kind) '\0' body into a fresh buffer. */
static uint8_t *signed_bytes(Quell__Kind kind, const uint8_t *body, size_t body_len,
                             size_t *out_len)
{
	const char *d = domain(kind);
	if (d == NULL)
		return NULL;
	size_t dlen = strlen(d) + 1;
	uint8_t *buf = malloc(dlen + body_len + 1);
	if (buf == NULL)
		return NULL;
	memcpy(buf, d, dlen);
	if (body_len)
		memcpy(buf + dlen, body, body_len);
	*out_len = dlen + body_len;
	return buf;
}

enum ql_err ql_envelope_seal(Quell__Kind kind, const struct ql_secret_key *key, const uint8_t *body,
                             size_t body_len, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (body_len > QL_MAX_BODY)
		return QL_ERR_TOO_BIG;
	size_t mlen;
	uint8_t *m = signed_bytes(kind, body, body_len, &mlen);
	if (m == NULL)
		return domain(kind) == NULL ? QL_ERR_MALFORMED : QL_ERR_NOMEM;

	uint8_t sig[QL_SIG_LEN];
	int rc = crypto_sign_detached(sig, NULL, m, mlen, key->sk);
	free(m);
	if (rc != 0)
		return QL_ERR_CRYPTO;

	Quell__Envelope env = QUELL__ENVELOPE__INIT;
	env.version = QL_PROTOCOL_VERSION;
	env.kind = kind;
	env.signer.data = (uint8_t *)key->pk;
	env.signer.len = QL_PUBKEY_LEN;
	env.signature.data = sig;
	env.signature.len = QL_SIG_LEN;
	env.body.data = (uint8_t *)body;
	env.body.len = body_len;

	size_t n = quell__envelope__get_packed_size(&env);
	uint8_t *buf = malloc(n ? n : 1);
	if (buf == NULL)
		return QL_ERR_NOMEM;
	quell__envelope__pack(&env, buf);
	*out = buf;
	*out_len = n;
	return QL_OK;
}

enum ql_err ql_envelope_open(const uint8_t *buf, size_t len, uint32_t accept, struct ql_opened *out)
{
	memset(out, 0, sizeof *out);
	/* UNTRUSTED: size first, then structure, then signature. */
	if (len > QL_MAX_MSG)
		return QL_ERR_TOO_BIG;
	Quell__Envelope *env = quell__envelope__unpack(NULL, len, buf);
	if (env == NULL)
		return QL_ERR_MALFORMED;

	enum ql_err err = QL_ERR_MALFORMED;
	if (env->version != QL_PROTOCOL_VERSION) {
		err = QL_ERR_VERSION;
		goto fail;
	}
	if (env->kind <= 0 || env->kind >= 32 || domain(env->kind) == NULL)
		goto fail;
	if (!(accept & QL_KIND_BIT(env->kind)))
		goto fail;
	if (env->signer.len != QL_PUBKEY_LEN || env->signature.len != QL_SIG_LEN)
		goto fail;
	if (env->body.len > QL_MAX_BODY) {
		err = QL_ERR_TOO_BIG;
		goto fail;
	}

	size_t mlen;
	uint8_t *m = signed_bytes(env->kind, env->body.data, env->body.len, &mlen);
	if (m == NULL) {
		err = QL_ERR_NOMEM;
		goto fail;
	}
	int rc = crypto_sign_verify_detached(env->signature.data, m, mlen, env->signer.data);
	free(m);
	if (rc != 0) {
		err = QL_ERR_BAD_SIGNATURE;
		goto fail;
	}

	out->env = env;
	out->kind = env->kind;
	memcpy(out->signer, env->signer.data, QL_PUBKEY_LEN);
	out->body = env->body.data;
	out->body_len = env->body.len;
	return QL_OK;
fail:
	quell__envelope__free_unpacked(env, NULL);
	return err;
}

void ql_opened_fini(struct ql_opened *o)
{
	if (o->env)
		quell__envelope__free_unpacked(o->env, NULL);
	memset(o, 0, sizeof *o);
}

void ql_body_hash(const uint8_t *body, size_t len, uint8_t out[QL_HASH_LEN])
{
	crypto_generichash(out, QL_HASH_LEN, body, len, NULL, 0);
}
