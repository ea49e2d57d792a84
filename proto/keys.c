/*
 * keys.c: generating, writing and loading ed25519 key files (libsodium).
 *
 * Files are base64 text, one line: the secret file holds the 64-byte
 * libsodium secret key (seed || public key), the .pub file the 32-byte
 * public key. Loading a secret checks the file's mode through the open
 * descriptor (no stat/open race) and that the embedded public key matches
 * the seed, so a truncated or hand-edited file is caught at load time.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"

#define KEY_FILE_MAX 512

enum ql_err ql_crypto_init(void)
{
	return sodium_init() < 0 ? QL_ERR_CRYPTO : QL_OK;
}

static enum ql_err write_new_file(const char *path, mode_t mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return errno == EEXIST ? QL_ERR_EXISTS : QL_ERR_IO;
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	int ok = n == (ssize_t)len && fsync(fd) == 0;
	int saved = errno;
	if (close(fd) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		errno = saved;
		return QL_ERR_IO;
	}
	return QL_OK;
}

static void b64(const unsigned char *bin, size_t len, char *out, size_t outlen)
{
	sodium_bin2base64(out, outlen, bin, len, sodium_base64_VARIANT_ORIGINAL);
}

enum ql_err ql_key_generate(const char *path, uint8_t pk_out[QL_PUBKEY_LEN])
{
	char pubpath[4096];
	enum ql_err err;

	if (snprintf(pubpath, sizeof pubpath, "%s.pub", path) >= (int)sizeof pubpath)
		return QL_ERR_TOO_BIG;
	if (access(path, F_OK) == 0 || access(pubpath, F_OK) == 0)
		return QL_ERR_EXISTS;

	unsigned char *sk = sodium_malloc(QL_SECKEY_LEN);
	char *text = sodium_malloc(KEY_FILE_MAX);
	if (sk == NULL || text == NULL) {
		err = QL_ERR_NOMEM;
		goto out;
	}
	uint8_t pk[QL_PUBKEY_LEN];
	crypto_sign_keypair(pk, sk);

	b64(sk, QL_SECKEY_LEN, text, KEY_FILE_MAX);
	strcat(text, "\n");
	err = write_new_file(path, 0600, text);
	if (err != QL_OK)
		goto out;

	b64(pk, QL_PUBKEY_LEN, text, KEY_FILE_MAX);
	strcat(text, "\n");
	err = write_new_file(pubpath, 0644, text);
	if (err != QL_OK) {
		unlink(path);
		goto out;
	}
	if (pk_out)
		memcpy(pk_out, pk, QL_PUBKEY_LEN);
out:
	sodium_free(sk);
	sodium_free(text);
	return err;
}

/* Read at most KEY_FILE_MAX-1 bytes of an already open file, NUL-terminated. */
static enum ql_err read_small(int fd, char *buf)
{
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, KEY_FILE_MAX - 1 - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return QL_ERR_IO;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == KEY_FILE_MAX - 1)
			return QL_ERR_TOO_BIG;
	}
	buf[got] = '\0';
	return QL_OK;
}

/* Decode base64 text with optional surrounding white space into exactly len bytes. */
static enum ql_err unb64(const char *text, unsigned char *bin, size_t len)
{
	size_t binlen = 0;
	const char *end = NULL;
	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
		text++;
	if (sodium_base642bin(bin, len, text, strlen(text), " \t\r\n", &binlen, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return QL_ERR_MALFORMED;
	if (binlen != len || (end != NULL && *end != '\0'))
		return QL_ERR_MALFORMED;
	return QL_OK;
}

enum ql_err ql_key_load(const char *path, struct ql_secret_key **out)
{
	struct ql_secret_key *key = NULL;
	char *text = NULL;
	enum ql_err err;
	struct stat st;

	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? QL_ERR_NOT_FOUND : QL_ERR_IO;
	if (fstat(fd, &st) != 0) {
		err = QL_ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = QL_ERR_MALFORMED;
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		err = QL_ERR_KEY_PERMS;
		goto out;
	}
	text = sodium_malloc(KEY_FILE_MAX);
	key = calloc(1, sizeof *key);
	if (text == NULL || key == NULL) {
		err = QL_ERR_NOMEM;
		goto out;
	}
	key->sk = sodium_malloc(QL_SECKEY_LEN);
	if (key->sk == NULL) {
		err = QL_ERR_NOMEM;
		goto out;
	}
	err = read_small(fd, text);
	if (err != QL_OK)
		goto out;
	err = unb64(text, key->sk, QL_SECKEY_LEN);
	if (err != QL_OK)
		goto out;
	/* The stored public half must be the one the seed derives. */
	unsigned char seed[32], check_pk[QL_PUBKEY_LEN], check_sk[QL_SECKEY_LEN];
	crypto_sign_ed25519_sk_to_seed(seed, key->sk);
	crypto_sign_seed_keypair(check_pk, check_sk, seed);
	sodium_memzero(seed, sizeof seed);
	sodium_memzero(check_sk, sizeof check_sk);
	if (sodium_memcmp(check_pk, key->sk + 32, QL_PUBKEY_LEN) != 0) {
		err = QL_ERR_MALFORMED;
		goto out;
	}
	memcpy(key->pk, check_pk, QL_PUBKEY_LEN);
	sodium_mprotect_readonly(key->sk);
	*out = key;
	key = NULL;
	err = QL_OK;
out:
	close(fd);
	sodium_free(text);
	ql_key_free(key);
	return err;
}

enum ql_err ql_key_new_ephemeral(struct ql_secret_key **out)
{
	*out = NULL;
	struct ql_secret_key *key = calloc(1, sizeof *key);
	if (key == NULL)
		return QL_ERR_NOMEM;
	key->sk = sodium_malloc(QL_SECKEY_LEN);
	if (key->sk == NULL) {
		free(key);
		return QL_ERR_NOMEM;
	}
	crypto_sign_keypair(key->pk, key->sk);
	sodium_mprotect_readonly(key->sk);
	*out = key;
	return QL_OK;
}

void ql_key_free(struct ql_secret_key *key)
{
	if (key == NULL)
		return;
	sodium_free(key->sk); /* wipes before releasing */
	free(key);
}

enum ql_err ql_pubkey_parse(const char *text, uint8_t pk[QL_PUBKEY_LEN])
{
	if (strlen(text) > KEY_FILE_MAX)
		return QL_ERR_TOO_BIG;
	return unb64(text, pk, QL_PUBKEY_LEN);
}

enum ql_err ql_pubkey_load(const char *path, uint8_t pk[QL_PUBKEY_LEN])
{
	char text[KEY_FILE_MAX];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? QL_ERR_NOT_FOUND : QL_ERR_IO;
	enum ql_err err = read_small(fd, text);
	close(fd);
	if (err != QL_OK)
		return err;
	return ql_pubkey_parse(text, pk);
}

void ql_pubkey_format(const uint8_t pk[QL_PUBKEY_LEN], char buf[QL_PUBKEY_B64_LEN])
{
	b64(pk, QL_PUBKEY_LEN, buf, QL_PUBKEY_B64_LEN);
}

void ql_pubkey_short(const uint8_t pk[QL_PUBKEY_LEN], char buf[9])
{
	char full[QL_PUBKEY_B64_LEN];
	ql_pubkey_format(pk, full);
	memcpy(buf, full, 8);
	buf[8] = '\0';
}
