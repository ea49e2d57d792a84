/*
 * simcert.c: client certificates for quell-sim's agents, so that simulated
 * fleets talk mutual TLS like real ones. Made in memory with mbedTLS from
 * the fleet CA's own files (ca.crt, ca.key, as certs/quell-certs writes
 * them), the way quell-certs makes an agent's: ECDSA P-256, the name in the
 * CN and a DNS subjectAltName, digitalSignature, clientAuth. Test tool only:
 * it reads the CA's secret key.
 */
#include <errno.h>
#include <fcntl.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "simcert.h"

struct sim_ca {
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	char issuer[256];
	unsigned long serial;
};

static int rng(void *arg, unsigned char *buf, size_t len)
{
	(void)arg;
	randombytes_buf(buf, len);
	return 0;
}

int sim_ca_load(const char *dir, struct sim_ca **out, char *why, size_t whylen)
{
	char crt[1100], key[1100];
	struct sim_ca *ca = calloc(1, sizeof *ca);
	*out = NULL;
	if (ca == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	mbedtls_x509_crt_init(&ca->crt);
	mbedtls_pk_init(&ca->key);
	snprintf(crt, sizeof crt, "%s/ca.crt", dir);
	snprintf(key, sizeof key, "%s/ca.key", dir);
	if (mbedtls_x509_crt_parse_file(&ca->crt, crt) != 0 ||
	    mbedtls_pk_parse_keyfile(&ca->key, key, NULL) != 0 ||
	    mbedtls_pk_check_pair(&ca->crt.pk, &ca->key) != 0 ||
	    mbedtls_x509_dn_gets(ca->issuer, sizeof ca->issuer, &ca->crt.subject) < 0) {
		snprintf(why, whylen, "%s and %s: not a CA certificate and its key", crt, key);
		sim_ca_free(ca);
		return -1;
	}
	ca->serial = (unsigned long)time(NULL) << 20; /* apart from other runs' */
	*out = ca;
	return 0;
}

void sim_ca_free(struct sim_ca *ca)
{
	if (ca == NULL)
		return;
	mbedtls_x509_crt_free(&ca->crt);
	mbedtls_pk_free(&ca->key);
	free(ca);
}

static int write_new(const char *path, const unsigned char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	size_t len = strlen((const char *)text);
	int rc = write(fd, text, len) == (ssize_t)len ? 0 : -1;
	if (close(fd) != 0)
		rc = -1;
	return rc;
}

/* "YYYYMMDDHHMMSS" for t (UTC). */
static void x509_time(time_t t, char buf[16])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 16, "%Y%m%d%H%M%S", &tm);
}

int sim_cert_write(struct sim_ca *ca, const char *name, const char *crt_path, const char *key_path,
                   char *why, size_t whylen)
{
	/* DER of the two extensions mbedTLS 2.28 has no setter for. */
	static const unsigned char eku[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
	                                    0x01, 0x05, 0x05, 0x07, 0x03, 0x02};
	unsigned char san[2 + 2 + 64], pem[4096];
	size_t n = strlen(name);
	char subject[96], from[16], to[16];
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	mbedtls_mpi serial;
	int rc = -1;
	if (n == 0 || n > 64) {
		snprintf(why, whylen, "%s: a name of 1 to 64 characters", name);
		return -1;
	}
	san[0] = 0x30;
	san[1] = (unsigned char)(n + 2);
	san[2] = 0x82; /* [2] dNSName */
	san[3] = (unsigned char)n;
	memcpy(san + 4, name, n);
	snprintf(subject, sizeof subject, "CN=%s", name);
	time_t now = time(NULL);
	x509_time(now - 3600, from);
	x509_time(now + 365 * 86400, to);
	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	mbedtls_mpi_init(&serial);
	if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), rng, NULL) != 0 ||
	    mbedtls_mpi_lset(&serial, (mbedtls_mpi_sint)++ca->serial) != 0)
		goto out;
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &ca->key);
	if (mbedtls_x509write_crt_set_subject_name(&crt, subject) != 0 ||
	    mbedtls_x509write_crt_set_issuer_name(&crt, ca->issuer) != 0 ||
	    mbedtls_x509write_crt_set_serial(&crt, &serial) != 0 ||
	    mbedtls_x509write_crt_set_validity(&crt, from, to) != 0 ||
	    mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1) != 0 ||
	    mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0 ||
	    mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
	                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
	                                        eku, sizeof eku) != 0 ||
	    mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
	                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
	                                        san, n + 4) != 0)
		goto out;
	if (mbedtls_pk_write_key_pem(&key, pem, sizeof pem) != 0 ||
	    write_new(key_path, pem, 0600) != 0)
		goto out;
	if (mbedtls_x509write_crt_pem(&crt, pem, sizeof pem, rng, NULL) != 0 ||
	    write_new(crt_path, pem, 0644) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		snprintf(why, whylen, "cannot make a certificate for %s: %s", name,
		         errno ? strerror(errno) : "mbedTLS refused");
	sodium_memzero(pem, sizeof pem);
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	return rc;
}
