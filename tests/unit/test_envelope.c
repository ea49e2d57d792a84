/*
 * test_envelope.c: the signed envelope from the attacker's side. A sealed
 * envelope must open to exactly what was sealed, and nothing an attacker can
 * do to the bytes (flip any bit, swap the signer, relabel the kind, change
 * the version, oversize it) may produce a different message that verifies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdlib.h>
#include <string.h>

#include "envelope.h"

#define ALL_KINDS                                                                                  \
	(QL_KIND_BIT(QUELL__KIND__KIND_HELLO) | QL_KIND_BIT(QUELL__KIND__KIND_HEARTBEAT) |         \
	 QL_KIND_BIT(QUELL__KIND__KIND_COMMAND) | QL_KIND_BIT(QUELL__KIND__KIND_RESULT) |          \
	 QL_KIND_BIT(QUELL__KIND__KIND_CONTROL) | QL_KIND_BIT(QUELL__KIND__KIND_EVENTS))

static const Quell__Kind kinds[] = {
	QUELL__KIND__KIND_HELLO,  QUELL__KIND__KIND_HEARTBEAT, QUELL__KIND__KIND_COMMAND,
	QUELL__KIND__KIND_RESULT, QUELL__KIND__KIND_CONTROL,   QUELL__KIND__KIND_EVENTS,
};

struct fixture {
	struct ql_secret_key *key;
	struct ql_secret_key *other;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(ql_crypto_init(), QL_OK);
	assert_int_equal(ql_key_new_ephemeral(&f->key), QL_OK);
	assert_int_equal(ql_key_new_ephemeral(&f->other), QL_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ql_key_free(f->key);
	ql_key_free(f->other);
	free(f);
	return 0;
}

/* A small body that looks like a serialized message (bytes are opaque here). */
static const uint8_t body[] = "\x0a\x10job-id-16-bytes\x10\x80\xa0\xb8\x9c\x06 a body";
#define BODY_LEN (sizeof body - 1)

static void seal(const struct ql_secret_key *key, Quell__Kind kind, const uint8_t *b, size_t n,
                 uint8_t **out, size_t *out_len)
{
	assert_int_equal(ql_envelope_seal(kind, key, b, n, out, out_len), QL_OK);
	assert_non_null(*out);
	assert_true(*out_len > 0);
}

/* Unpack, let fn edit the Envelope, pack again: the attacker rewriting fields. */
typedef void (*edit_fn)(Quell__Envelope *env, void *arg);

static uint8_t *rewrite(const uint8_t *buf, size_t len, edit_fn fn, void *arg, size_t *out_len)
{
	Quell__Envelope *env = quell__envelope__unpack(NULL, len, buf);
	assert_non_null(env);
	fn(env, arg);
	size_t n = quell__envelope__get_packed_size(env);
	uint8_t *out = malloc(n ? n : 1);
	assert_non_null(out);
	quell__envelope__pack(env, out);
	*out_len = n;
	quell__envelope__free_unpacked(env, NULL);
	return out;
}

static void assert_open_fails(const uint8_t *buf, size_t len, uint32_t accept, enum ql_err want)
{
	struct ql_opened o;
	memset(&o, 0xa5, sizeof o);
	assert_int_equal(ql_envelope_open(buf, len, accept, &o), want);
	/* On failure the output is left empty and fini is harmless. */
	assert_null(o.env);
	assert_null(o.body);
	assert_int_equal(o.body_len, 0);
	ql_opened_fini(&o);
}

static void test_round_trip_every_kind(void **state)
{
	struct fixture *f = *state;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		uint8_t *buf;
		size_t len;
		seal(f->key, kinds[i], body, BODY_LEN, &buf, &len);
		struct ql_opened o;
		assert_int_equal(ql_envelope_open(buf, len, QL_KIND_BIT(kinds[i]), &o), QL_OK);
		assert_int_equal(o.kind, kinds[i]);
		assert_int_equal(o.body_len, BODY_LEN);
		assert_memory_equal(o.body, body, BODY_LEN);
		assert_memory_equal(o.signer, f->key->pk, QL_PUBKEY_LEN);
		assert_int_equal(o.env->version, QL_PROTOCOL_VERSION);
		ql_opened_fini(&o);
		assert_null(o.env);
		free(buf);
	}
}

static void test_round_trip_empty_and_max_body(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf;
	size_t len;
	struct ql_opened o;

	seal(f->key, QUELL__KIND__KIND_HEARTBEAT, NULL, 0, &buf, &len);
	assert_int_equal(ql_envelope_open(buf, len, ALL_KINDS, &o), QL_OK);
	assert_int_equal(o.body_len, 0);
	ql_opened_fini(&o);
	free(buf);

	uint8_t *big = malloc(QL_MAX_BODY + 1);
	assert_non_null(big);
	memset(big, 'x', QL_MAX_BODY + 1);
	seal(f->key, QUELL__KIND__KIND_COMMAND, big, QL_MAX_BODY, &buf, &len);
	assert_true(len <= QL_MAX_MSG);
	assert_int_equal(ql_envelope_open(buf, len, ALL_KINDS, &o), QL_OK);
	assert_int_equal(o.body_len, QL_MAX_BODY);
	assert_memory_equal(o.body, big, QL_MAX_BODY);
	ql_opened_fini(&o);
	free(buf);

	/* One byte over the body limit is refused at sealing time. */
	assert_int_equal(ql_envelope_seal(QUELL__KIND__KIND_COMMAND, f->key, big, QL_MAX_BODY + 1,
	                                  &buf, &len),
	                 QL_ERR_TOO_BIG);
	assert_null(buf);
	free(big);
}

static void test_seal_rejects_unknown_kind(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf;
	size_t len;
	assert_int_equal(
		ql_envelope_seal(QUELL__KIND__KIND_UNSPECIFIED, f->key, body, BODY_LEN, &buf, &len),
		QL_ERR_MALFORMED);
	assert_null(buf);
	assert_int_equal(len, 0);
	assert_int_equal(ql_envelope_seal((Quell__Kind)9, f->key, body, BODY_LEN, &buf, &len),
	                 QL_ERR_MALFORMED);
	assert_null(buf);
}

/*
 * Flip every byte of a sealed envelope with several masks. Whatever the
 * flip hits (tags, lengths, version, kind, signer, signature, body), the
 * result must not open -- and if some flip ever did open, it must be the
 * very message that was signed (same kind, signer, body), never a forgery.
 */
static void test_flip_every_byte(void **state)
{
	struct fixture *f = *state;
	static const uint8_t masks[] = {0x01, 0x02, 0x10, 0x40, 0x80, 0xff};
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		uint8_t *buf;
		size_t len;
		seal(f->key, kinds[k], body, BODY_LEN, &buf, &len);
		size_t opened = 0;
		for (size_t i = 0; i < len; i++) {
			for (size_t m = 0; m < sizeof masks; m++) {
				buf[i] ^= masks[m];
				struct ql_opened o;
				enum ql_err err = ql_envelope_open(buf, len, ALL_KINDS, &o);
				if (err == QL_OK) {
					opened++;
					assert_int_equal(o.kind, kinds[k]);
					assert_int_equal(o.body_len, BODY_LEN);
					assert_memory_equal(o.body, body, BODY_LEN);
					assert_memory_equal(o.signer, f->key->pk, QL_PUBKEY_LEN);
					ql_opened_fini(&o);
				} else {
					assert_null(o.env);
				}
				buf[i] ^= masks[m];
			}
		}
		/* Every byte of this encoding is meaningful: no flip may open at all. */
		assert_int_equal(opened, 0);
		free(buf);
	}
}

static void test_every_truncation_fails(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf;
	size_t len;
	seal(f->key, QUELL__KIND__KIND_COMMAND, body, BODY_LEN, &buf, &len);
	for (size_t n = 0; n < len; n++) {
		struct ql_opened o;
		assert_int_not_equal(ql_envelope_open(buf, n, ALL_KINDS, &o), QL_OK);
		assert_null(o.env);
	}
	/*
	 * Appending a second copy of a field overrides the first (protobuf: last
	 * one wins). The signature was over the original, so it must not verify.
	 */
	static const uint8_t tails[][3] = {
		{0x2a, 0x01, 'X'},  /* body = "X" */
		{0x10, 0x04, 0x00}, /* kind = RESULT (2 bytes) */
	};
	static const size_t tail_len[] = {3, 2};
	for (size_t t = 0; t < 2; t++) {
		uint8_t *longer = malloc(len + 3);
		assert_non_null(longer);
		memcpy(longer, buf, len);
		memcpy(longer + len, tails[t], tail_len[t]);
		assert_open_fails(longer, len + tail_len[t], ALL_KINDS, QL_ERR_BAD_SIGNATURE);
		free(longer);
	}
	free(buf);
}

/* Edits write into the unpacked buffers, never point them at our memory. */
static void set_signer(Quell__Envelope *env, void *arg)
{
	assert_int_equal(env->signer.len, QL_PUBKEY_LEN);
	memcpy(env->signer.data, arg, QL_PUBKEY_LEN);
}

static void test_wrong_signer_bad_signature(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf;
	size_t len;
	seal(f->key, QUELL__KIND__KIND_COMMAND, body, BODY_LEN, &buf, &len);

	/* Another real key claims the signature. */
	uint8_t other_pk[QL_PUBKEY_LEN];
	memcpy(other_pk, f->other->pk, sizeof other_pk);
	size_t n;
	uint8_t *forged = rewrite(buf, len, set_signer, other_pk, &n);
	assert_open_fails(forged, n, ALL_KINDS, QL_ERR_BAD_SIGNATURE);
	free(forged);

	/* The all-zero key (a small-order point) must not verify anything. */
	uint8_t zero[QL_PUBKEY_LEN] = {0};
	forged = rewrite(buf, len, set_signer, zero, &n);
	assert_open_fails(forged, n, ALL_KINDS, QL_ERR_BAD_SIGNATURE);
	free(forged);
	free(buf);
}

static void test_signature_of_another_body(void **state)
{
	struct fixture *f = *state;
	static const uint8_t other_body[] = "a different body";
	uint8_t *a, *b;
	size_t alen, blen;
	seal(f->key, QUELL__KIND__KIND_COMMAND, body, BODY_LEN, &a, &alen);
	seal(f->key, QUELL__KIND__KIND_COMMAND, other_body, sizeof other_body - 1, &b, &blen);

	Quell__Envelope *eb = quell__envelope__unpack(NULL, blen, b);
	assert_non_null(eb);
	uint8_t sig_b[QL_SIG_LEN];
	memcpy(sig_b, eb->signature.data, QL_SIG_LEN);
	quell__envelope__free_unpacked(eb, NULL);

	/* Body of A, signature of B, same signer. */
	Quell__Envelope *ea = quell__envelope__unpack(NULL, alen, a);
	assert_non_null(ea);
	memcpy(ea->signature.data, sig_b, QL_SIG_LEN);
	uint8_t mixed[512];
	assert_true(quell__envelope__get_packed_size(ea) <= sizeof mixed);
	size_t mlen = quell__envelope__pack(ea, mixed);
	quell__envelope__free_unpacked(ea, NULL);
	assert_open_fails(mixed, mlen, ALL_KINDS, QL_ERR_BAD_SIGNATURE);
	free(a);
	free(b);
}

static void set_kind(Quell__Envelope *env, void *arg)
{
	env->kind = *(Quell__Kind *)arg;
}

/*
 * A result signed by an agent key, relabelled as a command: the domain
 * prefix changes with the kind, so the signature no longer verifies. Same
 * for every other pair of kinds.
 */
static void test_relabelled_kind_fails(void **state)
{
	struct fixture *f = *state;
	for (size_t a = 0; a < sizeof kinds / sizeof kinds[0]; a++) {
		uint8_t *buf;
		size_t len;
		seal(f->key, kinds[a], body, BODY_LEN, &buf, &len);
		for (size_t b = 0; b < sizeof kinds / sizeof kinds[0]; b++) {
			if (a == b)
				continue;
			Quell__Kind k = kinds[b];
			size_t n;
			uint8_t *forged = rewrite(buf, len, set_kind, &k, &n);
			assert_open_fails(forged, n, ALL_KINDS, QL_ERR_BAD_SIGNATURE);
			assert_open_fails(forged, n, QL_KIND_BIT(k), QL_ERR_BAD_SIGNATURE);
			free(forged);
		}
		free(buf);
	}

	/* The case the protocol comment names: RESULT relabelled as COMMAND. */
	uint8_t *buf;
	size_t len, n;
	seal(f->key, QUELL__KIND__KIND_RESULT, body, BODY_LEN, &buf, &len);
	Quell__Kind cmd = QUELL__KIND__KIND_COMMAND;
	uint8_t *forged = rewrite(buf, len, set_kind, &cmd, &n);
	assert_open_fails(forged, n, QL_KIND_BIT(QUELL__KIND__KIND_COMMAND), QL_ERR_BAD_SIGNATURE);
	free(forged);

	/* Kinds outside the enum are malformed, not merely unsigned. */
	static const int bad[] = {0, 7, 31, 32, 33, 1000, -1, -2147483647};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		Quell__Kind k = (Quell__Kind)bad[i];
		forged = rewrite(buf, len, set_kind, &k, &n);
		assert_open_fails(forged, n, 0xffffffffu, QL_ERR_MALFORMED);
		free(forged);
	}
	free(buf);
}

static void test_accept_mask(void **state)
{
	struct fixture *f = *state;
	for (size_t a = 0; a < sizeof kinds / sizeof kinds[0]; a++) {
		uint8_t *buf;
		size_t len;
		seal(f->key, kinds[a], body, BODY_LEN, &buf, &len);
		/* Everything but this kind: refused before the signature is even checked. */
		assert_open_fails(buf, len, ALL_KINDS & ~QL_KIND_BIT(kinds[a]), QL_ERR_MALFORMED);
		assert_open_fails(buf, len, 0, QL_ERR_MALFORMED);
		struct ql_opened o;
		assert_int_equal(ql_envelope_open(buf, len, QL_KIND_BIT(kinds[a]), &o), QL_OK);
		ql_opened_fini(&o);
		free(buf);
	}
}

static void test_oversize(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf;
	size_t len;
	seal(f->key, QUELL__KIND__KIND_COMMAND, body, BODY_LEN, &buf, &len);

	/* A valid envelope followed by padding up to one byte over the limit. */
	uint8_t *big = calloc(1, QL_MAX_MSG + 1);
	assert_non_null(big);
	memcpy(big, buf, len);
	assert_open_fails(big, QL_MAX_MSG + 1, ALL_KINDS, QL_ERR_TOO_BIG);
	assert_open_fails(big, SIZE_MAX, ALL_KINDS, QL_ERR_TOO_BIG);
	free(big);
	free(buf);

	/* A body over QL_MAX_BODY inside a message under QL_MAX_MSG. */
	size_t blen = QL_MAX_BODY + 1;
	uint8_t *b = malloc(blen);
	assert_non_null(b);
	memset(b, 'y', blen);
	uint8_t sig[QL_SIG_LEN] = {0};
	Quell__Envelope env = QUELL__ENVELOPE__INIT;
	env.version = QL_PROTOCOL_VERSION;
	env.kind = QUELL__KIND__KIND_COMMAND;
	env.signer.data = f->key->pk;
	env.signer.len = QL_PUBKEY_LEN;
	env.signature.data = sig;
	env.signature.len = QL_SIG_LEN;
	env.body.data = b;
	env.body.len = blen;
	size_t n = quell__envelope__get_packed_size(&env);
	assert_true(n <= QL_MAX_MSG);
	uint8_t *packed = malloc(n);
	assert_non_null(packed);
	quell__envelope__pack(&env, packed);
	assert_open_fails(packed, n, ALL_KINDS, QL_ERR_TOO_BIG);
	free(packed);
	free(b);
}

static void set_version(Quell__Envelope *env, void *arg)
{
	env->version = *(uint32_t *)arg;
}

static void test_version(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf;
	size_t len;
	seal(f->key, QUELL__KIND__KIND_COMMAND, body, BODY_LEN, &buf, &len);
	static const uint32_t versions[] = {0, 2, 3, 255, 0xffffffffu};
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		uint32_t v = versions[i];
		size_t n;
		uint8_t *forged = rewrite(buf, len, set_version, &v, &n);
		assert_open_fails(forged, n, ALL_KINDS, QL_ERR_VERSION);
		free(forged);
	}
	/* An empty message decodes to all defaults: version 0. */
	assert_open_fails((const uint8_t *)"", 0, ALL_KINDS, QL_ERR_VERSION);
	free(buf);
}

struct lens {
	size_t signer, sig;
};

static void set_lens(Quell__Envelope *env, void *arg)
{
	struct lens *l = arg;
	env->signer.len = l->signer;
	env->signature.len = l->sig;
}

static void test_field_sizes(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf;
	size_t len;
	seal(f->key, QUELL__KIND__KIND_COMMAND, body, BODY_LEN, &buf, &len);
	static const struct lens cases[] = {
		{QL_PUBKEY_LEN - 1, QL_SIG_LEN},
		{QL_PUBKEY_LEN, QL_SIG_LEN - 1},
		{0, QL_SIG_LEN},
		{QL_PUBKEY_LEN, 0},
		{0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct lens l = cases[i];
		size_t n;
		uint8_t *forged = rewrite(buf, len, set_lens, &l, &n);
		assert_open_fails(forged, n, ALL_KINDS, QL_ERR_MALFORMED);
		free(forged);
	}
	free(buf);
}

static void test_garbage_is_malformed(void **state)
{
	(void)state;
	/* A length-delimited field claiming far more bytes than follow. */
	static const uint8_t huge_len[] = {0x2a, 0xff, 0xff, 0xff, 0xff, 0x0f, 'x'};
	assert_open_fails(huge_len, sizeof huge_len, ALL_KINDS, QL_ERR_MALFORMED);
	/* A varint that never ends. */
	static const uint8_t endless[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	assert_open_fails(endless, sizeof endless, ALL_KINDS, QL_ERR_MALFORMED);
	/* Wire type 7 does not exist. */
	static const uint8_t bad_wire[] = {0x0f, 0x01};
	assert_open_fails(bad_wire, sizeof bad_wire, ALL_KINDS, QL_ERR_MALFORMED);
}

static void test_body_hash(void **state)
{
	(void)state;
	uint8_t h1[QL_HASH_LEN], h2[QL_HASH_LEN], h3[QL_HASH_LEN];
	ql_body_hash(body, BODY_LEN, h1);
	ql_body_hash(body, BODY_LEN, h2);
	ql_body_hash(body, BODY_LEN - 1, h3);
	assert_memory_equal(h1, h2, QL_HASH_LEN);
	assert_memory_not_equal(h1, h3, QL_HASH_LEN);
	/* BLAKE2b-256 of the empty string, a published test vector. */
	static const uint8_t empty[QL_HASH_LEN] = {
		0x0e, 0x57, 0x51, 0xc0, 0x26, 0xe5, 0x43, 0xb2, 0xe8, 0xab, 0x2e,
		0xb0, 0x60, 0x99, 0xda, 0xa1, 0xd1, 0xe5, 0xdf, 0x47, 0x77, 0x8f,
		0x77, 0x87, 0xfa, 0xab, 0x45, 0xcd, 0xf1, 0x2f, 0xe3, 0xa8,
	};
	ql_body_hash(NULL, 0, h1);
	assert_memory_equal(h1, empty, QL_HASH_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_kind),
		cmocka_unit_test(test_round_trip_empty_and_max_body),
		cmocka_unit_test(test_seal_rejects_unknown_kind),
		cmocka_unit_test(test_flip_every_byte),
		cmocka_unit_test(test_every_truncation_fails),
		cmocka_unit_test(test_wrong_signer_bad_signature),
		cmocka_unit_test(test_signature_of_another_body),
		cmocka_unit_test(test_relabelled_kind_fails),
		cmocka_unit_test(test_accept_mask),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_field_sizes),
		cmocka_unit_test(test_garbage_is_malformed),
		cmocka_unit_test(test_body_hash),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
