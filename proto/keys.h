/*
 * keys.h: ed25519 key files. A secret key lives in sodium_malloc'd memory
 * (guard pages, mlock'd, wiped by sodium_free) and is loaded only from a file
 * that nobody but its owner can read. Public keys travel as base64 text, one
 * line, so they can be pasted into a config file.
 */
#ifndef QL_KEYS_H
#define QL_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include "ql.h"

#define QL_PUBKEY_LEN 32
#define QL_SECKEY_LEN 64
#define QL_SIG_LEN 64
#define QL_PUBKEY_B64_LEN 45 /* 44 characters + NUL */

struct ql_secret_key {
	unsigned char *sk; /* QL_SECKEY_LEN bytes, sodium_malloc'd */
	uint8_t pk[QL_PUBKEY_LEN];
};

/* Initialise libsodium once; safe to call many times. */
QL_NODISCARD enum ql_err ql_crypto_init(void);

/*
 * Write a fresh key pair: PATH (secret, mode 0600) and PATH.pub. Never
 * overwrites: QL_ERR_EXISTS if either file is already there.
 */
QL_NODISCARD enum ql_err ql_key_generate(const char *path, uint8_t pk_out[QL_PUBKEY_LEN]);

/*
 * Load a secret key. QL_ERR_KEY_PERMS if the file is group- or
 * world-accessible. On failure *out is NULL.
 */
QL_NODISCARD enum ql_err ql_key_load(const char *path, struct ql_secret_key **out);
/* Generate a key in memory only (tests, the fleet simulator). */
QL_NODISCARD enum ql_err ql_key_new_ephemeral(struct ql_secret_key **out);
void ql_key_free(struct ql_secret_key *key);

/* Parse base64 text (surrounding white space allowed) into a public key. */
QL_NODISCARD enum ql_err ql_pubkey_parse(const char *text, uint8_t pk[QL_PUBKEY_LEN]);
/* Read PATH (a .pub file) and parse it. */
QL_NODISCARD enum ql_err ql_pubkey_load(const char *path, uint8_t pk[QL_PUBKEY_LEN]);
/* Format as base64 into buf (at least QL_PUBKEY_B64_LEN bytes). */
void ql_pubkey_format(const uint8_t pk[QL_PUBKEY_LEN], char buf[QL_PUBKEY_B64_LEN]);
/* A short fingerprint for logs: the first 8 base64 characters. */
void ql_pubkey_short(const uint8_t pk[QL_PUBKEY_LEN], char buf[9]);

#endif
