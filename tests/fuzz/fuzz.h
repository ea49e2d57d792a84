/*
 * fuzz.h: what the libFuzzer targets in tests/fuzz/ share: the entry point
 * libFuzzer (or replay_main.c) calls, and the fixed test keys make_corpus.c
 * signs seeds with, so seeds for fuzz_exec verify under the keys that
 * target's agent config trusts. Test-only: these "secret" keys are public.
 */
#ifndef QUELL_FUZZ_H
#define QUELL_FUZZ_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Signers known to fuzz_exec's agent config. */
enum fz_key { FZ_AGENT, FZ_ALICE, FZ_BOB, FZ_CAROL, FZ_STRANGER, FZ__COUNT };

/* A deterministic key: seed = 32 bytes of (which + 1). Aborts on failure. */
static inline struct ql_secret_key *fz_key(enum fz_key which)
{
	unsigned char seed[32];
	struct ql_secret_key *k = calloc(1, sizeof *k);
	if (k == NULL || ql_crypto_init() != QL_OK)
		abort();
	k->sk = sodium_malloc(QL_SECKEY_LEN);
	if (k->sk == NULL)
		abort();
	memset(seed, (int)which + 1, sizeof seed);
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
	return k;
}

/* Fuzz targets check invariants with this, never with assert(). */
#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fz_fail(#cond, __FILE__, __LINE__);                                        \
	} while (0)

__attribute__((noreturn)) static inline void fz_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
	abort();
}

#endif
