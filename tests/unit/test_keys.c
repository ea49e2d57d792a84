/*
 * test_keys.c: key files on disk. Generation never overwrites, a secret key
 * readable by anyone but its owner is refused, and a damaged key file is
 * caught at load time rather than producing signatures nobody can verify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <sodium.h>
#include <sys/stat.h>

#include "keys.h"
#include "tutil.h"

struct fixture {
	char *dir;
	char *sec; /* DIR/op.key */
	char *pub; /* DIR/op.key.pub */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(ql_crypto_init(), QL_OK);
	f->dir = tu_mkdtemp();
	f->sec = tu_path(f->dir, "op.key");
	f->pub = tu_path(f->dir, "op.key.pub");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tu_rmtree(f->dir);
	free(f->sec);
	free(f->pub);
	free(f);
	return 0;
}

/* The key signs, and what it signs verifies under its public half. */
static void assert_key_works(const struct ql_secret_key *k, const uint8_t pk[QL_PUBKEY_LEN])
{
	static const unsigned char msg[] = "quell";
	unsigned char sig[QL_SIG_LEN];
	assert_memory_equal(k->pk, pk, QL_PUBKEY_LEN);
	assert_int_equal(crypto_sign_detached(sig, NULL, msg, sizeof msg, k->sk), 0);
	assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);
}

static void test_generate_and_load(void **state)
{
	struct fixture *f = *state;
	uint8_t pk[QL_PUBKEY_LEN];
	assert_int_equal(ql_key_generate(f->sec, pk), QL_OK);

	struct stat st;
	assert_int_equal(stat(f->sec, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(f->pub, &st), 0);
	assert_int_equal(st.st_mode & 0077 & ~(mode_t)0044, 0); /* at most world-readable */

	/* The .pub file holds the same public key. */
	uint8_t from_file[QL_PUBKEY_LEN];
	assert_int_equal(ql_pubkey_load(f->pub, from_file), QL_OK);
	assert_memory_equal(from_file, pk, QL_PUBKEY_LEN);

	struct ql_secret_key *k;
	assert_int_equal(ql_key_load(f->sec, &k), QL_OK);
	assert_non_null(k);
	assert_key_works(k, pk);
	ql_key_free(k);

	/* Owner-read-only is fine too. */
	assert_int_equal(chmod(f->sec, 0400), 0);
	assert_int_equal(ql_key_load(f->sec, &k), QL_OK);
	assert_key_works(k, pk);
	ql_key_free(k);

	/* The pk_out argument is optional. */
	char *sec2 = tu_path(f->dir, "second.key");
	assert_int_equal(ql_key_generate(sec2, NULL), QL_OK);
	assert_int_equal(ql_key_load(sec2, &k), QL_OK);
	assert_memory_not_equal(k->pk, pk, QL_PUBKEY_LEN); /* fresh randomness */
	ql_key_free(k);
	free(sec2);
}

static void test_generate_never_overwrites(void **state)
{
	struct fixture *f = *state;
	uint8_t pk[QL_PUBKEY_LEN], pk2[QL_PUBKEY_LEN];
	assert_int_equal(ql_key_generate(f->sec, pk), QL_OK);
	size_t slen, plen;
	char *sec_before = tu_read(f->sec, &slen);
	char *pub_before = tu_read(f->pub, &plen);
	assert_non_null(sec_before);
	assert_non_null(pub_before);

	memset(pk2, 0xee, sizeof pk2);
	assert_int_equal(ql_key_generate(f->sec, pk2), QL_ERR_EXISTS);
	char *sec_after = tu_read(f->sec, NULL);
	char *pub_after = tu_read(f->pub, NULL);
	assert_string_equal(sec_after, sec_before);
	assert_string_equal(pub_after, pub_before);
	free(sec_after);
	free(pub_after);

	/* A leftover .pub alone also blocks generation, and nothing is created. */
	assert_int_equal(unlink(f->sec), 0);
	assert_int_equal(ql_key_generate(f->sec, pk2), QL_ERR_EXISTS);
	assert_false(tu_exists(f->sec));
	pub_after = tu_read(f->pub, NULL);
	assert_string_equal(pub_after, pub_before);
	free(pub_after);

	/* A leftover secret alone blocks it too, and the .pub is not written. */
	assert_int_equal(unlink(f->pub), 0);
	tu_write_str(f->sec, sec_before);
	assert_int_equal(chmod(f->sec, 0600), 0);
	assert_int_equal(ql_key_generate(f->sec, pk2), QL_ERR_EXISTS);
	assert_false(tu_exists(f->pub));
	sec_after = tu_read(f->sec, NULL);
	assert_string_equal(sec_after, sec_before);
	free(sec_after);

	free(sec_before);
	free(pub_before);
}

static void test_load_refuses_loose_permissions(void **state)
{
	struct fixture *f = *state;
	uint8_t pk[QL_PUBKEY_LEN];
	assert_int_equal(ql_key_generate(f->sec, pk), QL_OK);
	static const mode_t bad[] = {0640, 0604, 0660, 0644, 0606, 0610, 0601, 0620, 0602, 0777};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(chmod(f->sec, bad[i]), 0);
		struct ql_secret_key *k = (struct ql_secret_key *)1;
		enum ql_err err = ql_key_load(f->sec, &k);
		if (err != QL_ERR_KEY_PERMS)
			fail_msg("mode %o: got %s", (unsigned)bad[i], ql_err_code(err));
		assert_null(k);
	}
	assert_int_equal(chmod(f->sec, 0600), 0);
	struct ql_secret_key *k;
	assert_int_equal(ql_key_load(f->sec, &k), QL_OK);
	ql_key_free(k);
}

/* Write TEXT as the secret key file (mode 0600) and expect WANT from loading it. */
static void load_expect(struct fixture *f, const char *text, size_t len, enum ql_err want)
{
	unlink(f->sec);
	tu_write(f->sec, text, len);
	assert_int_equal(chmod(f->sec, 0600), 0);
	struct ql_secret_key *k = (struct ql_secret_key *)1;
	enum ql_err err = ql_key_load(f->sec, &k);
	if (err != want)
		fail_msg("key file \"%.*s\": got %s, want %s", (int)len, text, ql_err_code(err),
		         ql_err_code(want));
	assert_null(k);
}

static void test_load_damaged_secret(void **state)
{
	struct fixture *f = *state;
	uint8_t pk[QL_PUBKEY_LEN];
	assert_int_equal(ql_key_generate(f->sec, pk), QL_OK);
	size_t len = 0;
	char *good = tu_read(f->sec, &len);
	assert_non_null(good);
	assert_int_equal(len, 89); /* 88 base64 characters + newline */

	/* One base64 character changed, in the seed and in the public half. */
	static const size_t positions[] = {0, 10, 42, 50, 80};
	for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
		char *bad = strdup(good);
		assert_non_null(bad);
		size_t p = positions[i];
		bad[p] = bad[p] == 'A' ? 'B' : 'A';
		load_expect(f, bad, len, QL_ERR_MALFORMED);
		free(bad);
	}
	/* Truncated at several points, including just before the padding. */
	static const size_t cuts[] = {0, 1, 43, 44, 64, 84, 86, 87};
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
		load_expect(f, good, cuts[i], QL_ERR_MALFORMED);

	/* A public key is not a secret key. */
	char *pub = tu_read(f->pub, NULL);
	load_expect(f, pub, strlen(pub), QL_ERR_MALFORMED);
	free(pub);

	/* Not base64, or base64 followed by junk. */
	load_expect(f, "!!!!not base64!!!!\n", 19, QL_ERR_MALFORMED);
	char *junk = malloc(len + 8);
	assert_non_null(junk);
	memcpy(junk, good, len);
	memcpy(junk + len, "AAAA\n", 5);
	load_expect(f, junk, len + 5, QL_ERR_MALFORMED);
	/* Twice the key: too many bytes for a secret key. */
	memcpy(junk, good, len - 1);
	junk[len - 1] = '\0';
	char two[256];
	snprintf(two, sizeof two, "%s%s", junk, junk);
	load_expect(f, two, strlen(two), QL_ERR_MALFORMED);
	free(junk);

	/* Over the key file size bound. */
	char big[2048];
	memset(big, 'A', sizeof big);
	load_expect(f, big, sizeof big, QL_ERR_TOO_BIG);

	/* Surrounding white space is allowed: the good file still loads. */
	char spaced[128];
	snprintf(spaced, sizeof spaced, "  \n%s\n\n", good);
	unlink(f->sec);
	tu_write_str(f->sec, spaced);
	assert_int_equal(chmod(f->sec, 0600), 0);
	struct ql_secret_key *k;
	assert_int_equal(ql_key_load(f->sec, &k), QL_OK);
	assert_key_works(k, pk);
	ql_key_free(k);
	free(good);
}

static void test_missing_and_odd_files(void **state)
{
	struct fixture *f = *state;
	struct ql_secret_key *k = (struct ql_secret_key *)1;
	uint8_t pk[QL_PUBKEY_LEN];
	assert_int_equal(ql_key_load(f->sec, &k), QL_ERR_NOT_FOUND);
	assert_null(k);
	assert_int_equal(ql_pubkey_load(f->pub, pk), QL_ERR_NOT_FOUND);
	char *nodir = tu_path(f->dir, "no/such/dir.key");
	assert_int_equal(ql_key_load(nodir, &k), QL_ERR_NOT_FOUND);
	free(nodir);
	/* A directory is not a key file (mkdtemp made it 0700, so perms pass). */
	assert_int_equal(ql_key_load(f->dir, &k), QL_ERR_MALFORMED);
	assert_null(k);
	/* Generation into a missing directory is an I/O error, leaving nothing. */
	char *bad = tu_path(f->dir, "missing/op.key");
	assert_int_equal(ql_key_generate(bad, pk), QL_ERR_IO);
	free(bad);
}

static void test_pubkey_parse_format(void **state)
{
	(void)state;
	for (int round = 0; round < 32; round++) {
		struct ql_secret_key *k;
		assert_int_equal(ql_key_new_ephemeral(&k), QL_OK);
		assert_key_works(k, k->pk);
		char text[QL_PUBKEY_B64_LEN];
		ql_pubkey_format(k->pk, text);
		assert_int_equal(strlen(text), QL_PUBKEY_B64_LEN - 1);
		uint8_t back[QL_PUBKEY_LEN];
		assert_int_equal(ql_pubkey_parse(text, back), QL_OK);
		assert_memory_equal(back, k->pk, QL_PUBKEY_LEN);

		char spaced[80];
		snprintf(spaced, sizeof spaced, " \t%s \r\n", text);
		memset(back, 0, sizeof back);
		assert_int_equal(ql_pubkey_parse(spaced, back), QL_OK);
		assert_memory_equal(back, k->pk, QL_PUBKEY_LEN);

		char shorty[9];
		ql_pubkey_short(k->pk, shorty);
		assert_int_equal(strlen(shorty), 8);
		assert_memory_equal(shorty, text, 8);

		/* Damaged text: one character short, one too many, junk after. */
		char bad[80];
		snprintf(bad, sizeof bad, "%.*s", QL_PUBKEY_B64_LEN - 2, text);
		assert_int_equal(ql_pubkey_parse(bad, back), QL_ERR_MALFORMED);
		snprintf(bad, sizeof bad, "%sAAAA", text);
		assert_int_equal(ql_pubkey_parse(bad, back), QL_ERR_MALFORMED);
		snprintf(bad, sizeof bad, "%s x", text);
		assert_int_equal(ql_pubkey_parse(bad, back), QL_ERR_MALFORMED);
		ql_key_free(k);
	}
	uint8_t pk[QL_PUBKEY_LEN];
	assert_int_equal(ql_pubkey_parse("", pk), QL_ERR_MALFORMED);
	assert_int_equal(ql_pubkey_parse("   ", pk), QL_ERR_MALFORMED);
	assert_int_equal(ql_pubkey_parse("not-base64-at-all-not-base64-at-all-not-bas", pk),
	                 QL_ERR_MALFORMED);
	char huge[1024];
	memset(huge, 'A', sizeof huge - 1);
	huge[sizeof huge - 1] = '\0';
	assert_int_equal(ql_pubkey_parse(huge, pk), QL_ERR_TOO_BIG);

	/* A known vector: 32 zero bytes. */
	uint8_t zero[QL_PUBKEY_LEN] = {0};
	char text[QL_PUBKEY_B64_LEN];
	ql_pubkey_format(zero, text);
	assert_string_equal(text, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_generate_and_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generate_never_overwrites, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_loose_permissions, setup,
	                                        teardown),
		cmocka_unit_test_setup_teardown(test_load_damaged_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_odd_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pubkey_parse_format, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
