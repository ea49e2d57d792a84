/*
 * verb-keygen.c: `quell keygen PATH` writes an ed25519 key pair: PATH
 * (secret, mode 0600) and PATH.pub. It never overwrites a file.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int keygen_exec(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: quell keygen PATH\n");
		return QCLI_EXIT_USAGE;
	}
	uint8_t pk[QL_PUBKEY_LEN];
	enum ql_err err = ql_key_generate(argv[1], pk);
	if (err != QL_OK) {
		fprintf(stderr, "quell: keygen %s: %s\n", argv[1],
		        err == QL_ERR_EXISTS ? "a key file already exists there (not overwritten)"
		        : err == QL_ERR_IO   ? strerror(errno)
		                             : ql_strerror(err));
		return QCLI_EXIT_NOT_OK;
	}
	char b64[QL_PUBKEY_B64_LEN];
	ql_pubkey_format(pk, b64);
	printf("wrote %s (secret, mode 0600) and %s.pub\npublic key: %s\n", argv[1], argv[1], b64);
	return QCLI_EXIT_OK;
}

const struct qcli_verb qcli_verb_keygen = {
	.name = "keygen",
	.usage = "keygen PATH",
	.summary = "make an ed25519 key pair (PATH, PATH.pub)",
	.exec = keygen_exec,
};
