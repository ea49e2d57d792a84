/*
 * tls.c: nng TLS configurations from PEM files, and the agent's certificate
 * binding (see tls.h). mbedTLS is what Debian's nng runs on already; we use
 * its X.509 and PK parts for the binding, nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tls.h"

/* What the certificate key signs: domain-separated, fixed layout. */
#define BINDING_DOMAIN "quell agent certificate binding v1"

bool ql_url_tls(const char *url)
{
	return url && strncmp(url, "tls+tcp://", 10) == 0;
}

void ql_tls_files_fini(struct ql_tls_files *f)
{
	free(f->cert);
	free(f->key);
	free(f->ca);
	free(f->server_name);
	memset(f, 0, sizeof *f);
}

enum ql_err ql_tls_files_check(const struct ql_tls_files *f, enum ql_tls_role role, const char *url,
                               char *why, size_t whylen)
{
	if (!ql_url_tls(url))
		return QL_OK;
	bool own = role != QL_TLS_CLI, ca = role != QL_TLS_CONTROL;
	const char *missing = own && f->cert == NULL  ? "tls_cert"
	                      : own && f->key == NULL ? "tls_key"
	                      : ca && f->ca == NULL   ? "tls_ca"
	                                              : NULL;
	if (missing) {
		snprintf(why, whylen, "%s is a tls+tcp:// URL, which needs %s", url, missing);
		return QL_ERR_CONFIG;
	}
	return QL_OK;
}

void ql_url_warn_plain(const char *url, const char *what)
{
	if (url && strncmp(url, "tcp://", 6) == 0)
		ql_warn("%s uses plain %s: messages are signed but not encrypted, and no "
		        "certificate is checked; use tls+tcp:// outside a lab",
		        what, url);
}

/* A secret key must be a regular file only its owner can read (as for the signing keys). */
enum ql_err ql_tls_read_pem(const char *path, bool secret, char **out, char *why, size_t whylen)
{
	struct stat st;
	char *buf = NULL;
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return QL_ERR_IO;
	}
	enum ql_err err = QL_ERR_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", path);
		goto out;
	}
	if (secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		snprintf(why, whylen,
		         "%s: a secret key must be readable by its owner only (chmod 600)", path);
		err = QL_ERR_KEY_PERMS;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > QL_MAX_TLS_FILE) {
		snprintf(why, whylen, "%s: %s", path,
		         st.st_size <= 0 ? "empty" : "larger than 64 KiB");
		err = QL_ERR_MALFORMED;
		goto out;
	}
	size_t len = (size_t)st.st_size, got = 0;
	if ((buf = malloc(len + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		err = QL_ERR_NOMEM;
		goto out;
	}
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, whylen, "%s: %s", path, n < 0 ? strerror(errno) : "shrank");
			goto out;
		}
		got += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	err = QL_OK;
out:
	if (buf) {
		sodium_memzero(buf, (size_t)st.st_size);
		free(buf);
	}
	close(fd);
	return err;
}

void ql_tls_pem_free(char *pem)
{
	if (pem) {
		sodium_memzero(pem, strlen(pem));
		free(pem);
	}
}

/* The host part of tls+tcp://HOST:PORT ([v6] unbracketed), into buf. */
static bool url_host(const char *url, char *buf, size_t len)
{
	const char *h = url + 10, *end;
	if (*h == '[') {
		h++;
		end = strchr(h, ']');
	} else {
		end = strrchr(h, ':');
	}
	if (end == NULL || end == h || (size_t)(end - h) >= len)
		return false;
	memcpy(buf, h, (size_t)(end - h));
	buf[end - h] = '\0';
	return true;
}

/*
 * Our own certificate: refused once expired (the peer would refuse it at
 * every handshake, silently), warned about in its last EXPIRY_WARN_DAYS
 * (at every start: a renewal is due).
 */
#define EXPIRY_WARN_DAYS 30
static enum ql_err check_expiry(const char *pem, const char *path, char *why, size_t whylen)
{
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	enum ql_err err = QL_OK;
	if (mbedtls_x509_crt_parse(&crt, (const uint8_t *)pem, strlen(pem) + 1) == 0) {
		const mbedtls_x509_time *t = &crt.valid_to;
		struct tm tm = {.tm_year = t->year - 1900,
		                .tm_mon = t->mon - 1,
		                .tm_mday = t->day,
		                .tm_hour = t->hour,
		                .tm_min = t->min,
		                .tm_sec = t->sec};
		time_t end = timegm(&tm), now = time(NULL);
		if (end <= now) {
			snprintf(why, whylen,
			         "%s: the certificate expired on %04d-%02d-%02d; renew it", path,
			         t->year, t->mon, t->day);
			err = QL_ERR_EXPIRED;
		} else if (end - now < (time_t)EXPIRY_WARN_DAYS * 86400) {
			ql_warn("%s: the certificate expires on %04d-%02d-%02d, in %lld day(s); renew "
			        "it (quell-certs issue) and restart",
			        path, t->year, t->mon, t->day, (long long)((end - now) / 86400));
		}
	}
	mbedtls_x509_crt_free(&crt);
	return err;
}

static enum ql_err make_config(enum ql_tls_role role, const struct ql_tls_files *f, const char *url,
                               nng_tls_config **out, char *why, size_t whylen)
{
	bool server = role == QL_TLS_AGENTS || role == QL_TLS_CONTROL;
	bool own = role != QL_TLS_CLI, verify = role != QL_TLS_CONTROL;
	nng_tls_config *cfg = NULL;
	char *cert = NULL, *key = NULL, *ca = NULL;
	enum ql_err err = ql_tls_files_check(f, role, url, why, whylen);
	int rv;
	if (err != QL_OK)
		return err;
	if ((own && ((err = ql_tls_read_pem(f->cert, false, &cert, why, whylen)) != QL_OK ||
	             (err = ql_tls_read_pem(f->key, true, &key, why, whylen)) != QL_OK)) ||
	    (verify && (err = ql_tls_read_pem(f->ca, false, &ca, why, whylen)) != QL_OK))
		goto out;
	err = QL_ERR_CONFIG;
	if ((rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT))) {
		snprintf(why, whylen, "TLS: %s", nng_strerror(rv));
		goto out;
	}
	if (own && nng_tls_config_own_cert(cfg, cert, key, NULL) != 0) {
		snprintf(why, whylen,
		         "%s and %s: not a PEM certificate and the secret key that goes with it",
		         f->cert, f->key);
		goto out;
	}
	if (own && (err = check_expiry(cert, f->cert, why, whylen)) != QL_OK)
		goto out;
	err = QL_ERR_CONFIG;
	if (verify && nng_tls_config_ca_chain(cfg, ca, NULL) != 0) {
		snprintf(why, whylen, "%s: no PEM CA certificate in it", f->ca);
		goto out;
	}
	if (!server) {
		char host[256];
		const char *name = f->server_name;
		if (name == NULL && url_host(url, host, sizeof host))
			name = host;
		if (name == NULL || nng_tls_config_server_name(cfg, name) != 0) {
			snprintf(why, whylen, "%s: no server name to check the certificate against",
			         url);
			goto out;
		}
	}
	rv = nng_tls_config_auth_mode(cfg,
	                              verify ? NNG_TLS_AUTH_MODE_REQUIRED : NNG_TLS_AUTH_MODE_NONE);
	if (rv != 0) {
		snprintf(why, whylen, "TLS: %s", nng_strerror(rv));
		goto out;
	}
	*out = cfg;
	cfg = NULL;
	err = QL_OK;
out:
	if (cfg)
		nng_tls_config_free(cfg);
	ql_tls_pem_free(cert);
	ql_tls_pem_free(key);
	ql_tls_pem_free(ca);
	return err;
}

enum ql_err ql_tls_listen(nng_socket s, const char *url, enum ql_tls_role role,
                          const struct ql_tls_files *f, char *why, size_t whylen)
{
	nng_listener l;
	nng_tls_config *cfg = NULL;
	int rv = nng_listener_create(&l, s, url);
	if (rv != 0) {
		snprintf(why, whylen, "%s: %s", url, nng_strerror(rv));
		return QL_ERR_TRANSPORT;
	}
	if (ql_url_tls(url)) {
		enum ql_err err = make_config(role, f, url, &cfg, why, whylen);
		if (err != QL_OK) {
			nng_listener_close(l);
			return err;
		}
		rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg); /* the listener holds its own reference */
	}
	if (rv == 0)
		rv = nng_listener_start(l, 0);
	if (rv != 0) {
		snprintf(why, whylen, "%s: %s", url, nng_strerror(rv));
		nng_listener_close(l);
		return QL_ERR_TRANSPORT;
	}
	return QL_OK;
}

enum ql_err ql_tls_dialer(nng_socket s, const char *url, enum ql_tls_role role,
                          const struct ql_tls_files *f, nng_dialer *out, char *why, size_t whylen)
{
	nng_tls_config *cfg = NULL;
	int rv = nng_dialer_create(out, s, url);
	if (rv != 0) {
		snprintf(why, whylen, "%s: %s", url, nng_strerror(rv));
		return QL_ERR_TRANSPORT;
	}
	if (!ql_url_tls(url))
		return QL_OK;
	enum ql_err err = make_config(role, f, url, &cfg, why, whylen);
	if (err == QL_OK) {
		rv = nng_dialer_set_ptr(*out, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
		if (rv != 0) {
			snprintf(why, whylen, "%s: %s", url, nng_strerror(rv));
			err = QL_ERR_TRANSPORT;
		}
	}
	if (err != QL_OK)
		nng_dialer_close(*out);
	return err;
}

enum ql_err ql_tls_check(enum ql_tls_role role, const struct ql_tls_files *f, const char *url,
                         char *why, size_t whylen)
{
	nng_tls_config *cfg = NULL;
	if (!ql_url_tls(url))
		return QL_OK;
	enum ql_err err = make_config(role, f, url, &cfg, why, whylen);
	if (cfg)
		nng_tls_config_free(cfg);
	if (err == QL_OK && role == QL_TLS_AGENTS) {
		struct ql_tls_ca *ca = NULL;
		err = ql_tls_ca_load(f->ca, &ca, why, whylen);
		ql_tls_ca_free(ca);
	}
	return err;
}

bool ql_pipe_tls_verified(nng_pipe p)
{
	bool v = false;
	return nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &v) == 0 && v;
}

/* SHA-256 of what the certificate key signs. */
static void binding_hash(const uint8_t pk[QL_PUBKEY_LEN], const char *hostname, uint8_t out[32])
{
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)BINDING_DOMAIN, sizeof BINDING_DOMAIN);
	crypto_hash_sha256_update(&st, pk, QL_PUBKEY_LEN);
	crypto_hash_sha256_update(&st, (const uint8_t *)hostname, strlen(hostname));
	crypto_hash_sha256_final(&st, out);
}

static int sodium_rng(void *arg, unsigned char *buf, size_t len)
{
	(void)arg;
	randombytes_buf(buf, len);
	return 0;
}

enum ql_err ql_tls_prove(const char *cert, const char *key, const uint8_t pk[QL_PUBKEY_LEN],
                         const char *hostname, struct ql_tls_proof *out, char *why, size_t whylen)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context sk;
	char *cert_pem = NULL, *key_pem = NULL;
	uint8_t hash[32];
	enum ql_err err;
	memset(out, 0, sizeof *out);
	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&sk);
	if ((err = ql_tls_read_pem(cert, false, &cert_pem, why, whylen)) != QL_OK ||
	    (err = ql_tls_read_pem(key, true, &key_pem, why, whylen)) != QL_OK)
		goto out;
	err = QL_ERR_CONFIG;
	if (mbedtls_x509_crt_parse(&crt, (const uint8_t *)cert_pem, strlen(cert_pem) + 1) != 0) {
		snprintf(why, whylen, "%s: not a PEM certificate", cert);
		goto out;
	}
	if (mbedtls_pk_parse_key(&sk, (const uint8_t *)key_pem, strlen(key_pem) + 1, NULL, 0) !=
	    0) {
		snprintf(why, whylen, "%s: not a PEM secret key (unencrypted)", key);
		goto out;
	}
	if (mbedtls_pk_check_pair(&crt.pk, &sk) != 0) {
		snprintf(why, whylen, "%s is not the key of the certificate in %s", key, cert);
		goto out;
	}
	if (crt.raw.len > QL_MAX_CERT_DER) {
		snprintf(why, whylen, "%s: certificate larger than %d bytes", cert,
		         QL_MAX_CERT_DER);
		goto out;
	}
	binding_hash(pk, hostname, hash);
	uint8_t sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t sig_len = 0;
	if (mbedtls_pk_sign(&sk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, &sig_len, sodium_rng,
	                    NULL) != 0 ||
	    sig_len > QL_MAX_CERT_SIG) {
		snprintf(why, whylen, "%s: cannot sign with this key", key);
		goto out;
	}
	if ((out->cert_der = malloc(crt.raw.len)) == NULL) {
		snprintf(why, whylen, "out of memory");
		err = QL_ERR_NOMEM;
		goto out;
	}
	memcpy(out->cert_der, crt.raw.p, crt.raw.len);
	out->cert_len = crt.raw.len;
	memcpy(out->sig, sig, sig_len);
	out->sig_len = sig_len;
	err = QL_OK;
out:
	mbedtls_pk_free(&sk);
	mbedtls_x509_crt_free(&crt);
	ql_tls_pem_free(cert_pem);
	ql_tls_pem_free(key_pem);
	return err;
}

void ql_tls_proof_fini(struct ql_tls_proof *p)
{
	free(p->cert_der);
	memset(p, 0, sizeof *p);
}

/*
 * Verification reads the CA certificates' keys; whether mbedTLS 2.28 does
 * that without touching them is not documented, so each parsed copy of the
 * bundle is used by one thread at a time. A few copies let hellos from a
 * reconnect storm be checked on every core at once.
 */
#define CA_COPIES 4

struct ca_copy {
	mbedtls_x509_crt chain;
	pthread_mutex_t lock;
};

struct ql_tls_ca {
	struct ca_copy copy[CA_COPIES];
	atomic_uint next; /* where the next check starts looking for a free copy */
};

enum ql_err ql_tls_ca_from_pem(const char *pem, const char *name, struct ql_tls_ca **out, char *why,
                               size_t whylen)
{
	*out = NULL;
	struct ql_tls_ca *ca = calloc(1, sizeof *ca);
	if (ca == NULL) {
		snprintf(why, whylen, "out of memory");
		return QL_ERR_NOMEM;
	}
	for (size_t i = 0; i < CA_COPIES; i++) {
		mbedtls_x509_crt_init(&ca->copy[i].chain);
		pthread_mutex_init(&ca->copy[i].lock, NULL);
	}
	/* Every certificate in the bundle must parse: a half-read CA list would
	 * refuse agents for a reason nobody could see. */
	for (size_t i = 0; i < CA_COPIES; i++) {
		if (mbedtls_x509_crt_parse(&ca->copy[i].chain, (const uint8_t *)pem,
		                           strlen(pem) + 1) != 0) {
			snprintf(why, whylen, "%s: not a bundle of PEM CA certificates", name);
			ql_tls_ca_free(ca);
			return QL_ERR_CONFIG;
		}
	}
	*out = ca;
	return QL_OK;
}

enum ql_err ql_tls_ca_load(const char *path, struct ql_tls_ca **out, char *why, size_t whylen)
{
	char *pem = NULL;
	*out = NULL;
	enum ql_err err = ql_tls_read_pem(path, false, &pem, why, whylen);
	if (err != QL_OK)
		return err;
	err = ql_tls_ca_from_pem(pem, path, out, why, whylen);
	ql_tls_pem_free(pem);
	return err;
}

/* A copy of the bundle no other thread is using (locked; unlock when done). */
static struct ca_copy *ca_take(struct ql_tls_ca *ca)
{
	unsigned start = atomic_fetch_add(&ca->next, 1);
	for (unsigned i = 0; i < CA_COPIES; i++) {
		struct ca_copy *cp = &ca->copy[(start + i) % CA_COPIES];
		if (pthread_mutex_trylock(&cp->lock) == 0)
			return cp;
	}
	struct ca_copy *cp = &ca->copy[start % CA_COPIES];
	pthread_mutex_lock(&cp->lock);
	return cp;
}

void ql_tls_ca_free(struct ql_tls_ca *ca)
{
	if (ca == NULL)
		return;
	for (size_t i = 0; i < CA_COPIES; i++) {
		mbedtls_x509_crt_free(&ca->copy[i].chain);
		pthread_mutex_destroy(&ca->copy[i].lock);
	}
	free(ca);
}

static bool buf_is(const mbedtls_x509_buf *b, const char *s, size_t len)
{
	return b->len == len && memcmp(b->p, s, len) == 0;
}

/*
 * Does crt name hostname, byte for byte? Its DNS subjectAltNames if it has
 * any, else its CN (the order mbedTLS uses), but no wildcards and no case
 * folding: the coordinator pins hostnames as exact strings, so a certificate
 * for "web-1" must not also enrol "WEB-1", nor one for "*.example" any host.
 */
static bool names_host(const mbedtls_x509_crt *crt, const char *hostname)
{
	size_t len = strlen(hostname);
	if (crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) {
		for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s; s = s->next)
			if (s->buf.p &&
			    s->buf.tag ==
			            (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME) &&
			    buf_is(&s->buf, hostname, len))
				return true;
		return false;
	}
	for (const mbedtls_x509_name *n = &crt->subject; n; n = n->next)
		if (n->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 &&
		    buf_is(&n->val, hostname, len))
			return true;
	return false;
}

/* An extended key usage that names clientAuth (none at all, or only
 * anyExtendedKeyUsage, is not enough: the fleet's certificates say it). */
static bool client_eku(const mbedtls_x509_crt *crt)
{
	if (!(crt->ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE))
		return false;
	for (const mbedtls_x509_sequence *s = &crt->ext_key_usage; s; s = s->next)
		if (s->buf.p && MBEDTLS_OID_CMP(MBEDTLS_OID_CLIENT_AUTH, &s->buf) == 0)
			return true;
	return false;
}

enum ql_err ql_tls_ca_check(struct ql_tls_ca *ca, const uint8_t *cert, size_t cert_len,
                            const uint8_t *sig, size_t sig_len, const uint8_t pk[QL_PUBKEY_LEN],
                            const char *hostname, char *why, size_t whylen)
{
	mbedtls_x509_crt crt;
	uint32_t flags = 0;
	uint8_t hash[32];
	enum ql_err err = QL_ERR_BAD_SIGNATURE;
	if (cert_len == 0 || sig_len == 0) {
		snprintf(
			why, whylen,
			"no client certificate or binding signature in the hello (agent without tls_cert?)");
		return err;
	}
	if (cert_len > QL_MAX_CERT_DER || sig_len > QL_MAX_CERT_SIG) {
		snprintf(why, whylen, "oversized certificate or binding signature");
		return err;
	}
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_der(&crt, cert, cert_len) != 0) {
		snprintf(why, whylen, "unreadable client certificate");
		goto out;
	}
	/* The name is checked below, exactly: mbedTLS would match it without
	 * regard to case and against wildcards ("*.example"). */
	struct ca_copy *cp = ca_take(ca);
	int rv = mbedtls_x509_crt_verify(&crt, &cp->chain, NULL, NULL, &flags, NULL, NULL);
	pthread_mutex_unlock(&cp->lock);
	if (rv != 0) {
		char info[256];
		if (mbedtls_x509_crt_verify_info(info, sizeof info, "", flags) <= 0)
			snprintf(info, sizeof info, "does not verify");
		info[strcspn(info, "\n")] = '\0';
		snprintf(why, whylen, "the client certificate for %s: %s", hostname, info);
		goto out;
	}
	if (!names_host(&crt, hostname)) {
		snprintf(why, whylen, "the client certificate is not for host %s", hostname);
		goto out;
	}
	if (!client_eku(&crt) ||
	    mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0) {
		snprintf(why, whylen, "the certificate for %s is not for client use", hostname);
		goto out;
	}
	binding_hash(pk, hostname, hash);
	if (mbedtls_pk_verify(&crt.pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, sig_len) != 0) {
		snprintf(why, whylen,
		         "the certificate for %s did not sign this agent key (binding signature)",
		         hostname);
		goto out;
	}
	err = QL_OK;
out:
	mbedtls_x509_crt_free(&crt);
	return err;
}
