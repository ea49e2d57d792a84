/*
 * config-webhook.c: the [webhook] section of the coordinator's config (the
 * Alertmanager endpoint, webhook.c). Kept apart from config.c so that the
 * endpoint's rules (what address it may bind, what counts as a token, how
 * the token file must be protected) live in one place.
 *
 * The token itself is never kept: the file is read once when the config
 * loads, checked, hashed (BLAKE2b-256) and wiped. A request's token is
 * hashed the same way and the two digests are compared in constant time, so
 * neither the token's bytes nor its length leak through timing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "tls.h"

#define DEFAULT_PATH "/api/v1/alerts"
#define DEFAULT_MAX_BODY (256u * 1024)
#define MIN_MAX_BODY 1024u
#define MAX_MAX_BODY (4u * 1024 * 1024)
#define MAX_PATH_LEN 256

static int fail(char *msg, size_t msglen, const char *fmt, ...) QL_PRINTF(3, 4);

static int fail(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return 0;
}

/* "127.0.0.1:9094", "[::1]:9094", "localhost:9094": an IP literal (or
 * localhost, which is 127.0.0.1 without asking any resolver) and a port. */
static int set_listen(struct qc_webhook_config *w, const char *value, char *msg, size_t msglen)
{
	char host[64];
	const char *colon, *port;
	if (value[0] == '[') {
		const char *close = strchr(value, ']');
		if (close == NULL || close[1] != ':' || (size_t)(close - value - 1) >= sizeof host)
			goto bad;
		memcpy(host, value + 1, (size_t)(close - value - 1));
		host[close - value - 1] = '\0';
		unsigned char a6[16];
		if (inet_pton(AF_INET6, host, a6) != 1)
			goto bad;
		w->ipv6 = true;
		port = close + 2;
	} else {
		colon = strrchr(value, ':');
		if (colon == NULL || (size_t)(colon - value) >= sizeof host)
			goto bad;
		memcpy(host, value, (size_t)(colon - value));
		host[colon - value] = '\0';
		if (strcmp(host, "localhost") == 0)
			snprintf(host, sizeof host, "127.0.0.1");
		unsigned char a4[4];
		if (inet_pton(AF_INET, host, a4) != 1)
			goto bad;
		w->ipv6 = false;
		port = colon + 1;
	}
	unsigned long p = 0;
	if (port[0] == '\0' || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port))
		goto bad;
	p = strtoul(port, NULL, 10);
	if (p < 1 || p > 65535)
		goto bad;
	snprintf(w->host, sizeof w->host, "%s", host);
	w->port = (uint16_t)p;
	return 1;
bad:
	return fail(msg, msglen,
	            "listen must be IP:PORT, [IPv6]:PORT or localhost:PORT (an address, not a "
	            "name), not '%s'",
	            value);
}

/* "262144", "256k", "4m": 1 KiB to 4 MiB. */
static int set_max_body(struct qc_webhook_config *w, const char *value, char *msg, size_t msglen)
{
	char *end;
	unsigned long long v, unit = 1;
	errno = 0;
	v = strtoull(value, &end, 10);
	if (value[0] < '0' || value[0] > '9' || errno != 0)
		goto bad;
	if (*end == 'k' || *end == 'K')
		unit = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		unit = 1024 * 1024, end++;
	if (*end != '\0' || v > MAX_MAX_BODY / unit || v * unit < MIN_MAX_BODY)
		goto bad;
	v *= unit;
	w->max_body = (size_t)v;
	return 1;
bad:
	return fail(msg, msglen,
	            "max_body must be 1k to 4m (bytes, or a number with k or m for KiB or MiB), "
	            "not '%s'",
	            value);
}

/* What MHD hands over is the decoded path without the query: plain
 * printable ASCII, no '%', '?' or '#'. */
static int set_path(struct qc_webhook_config *w, const char *value, char *msg, size_t msglen)
{
	size_t n = strlen(value);
	bool ok = value[0] == '/' && n <= MAX_PATH_LEN;
	for (size_t i = 0; ok && i < n; i++)
		ok = value[i] > 0x20 && value[i] < 0x7f && !strchr("%?#", value[i]);
	if (!ok)
		return fail(msg, msglen,
		            "path must start with '/' and have at most %d printable characters "
		            "(no blanks, '%%', '?' or '#')",
		            MAX_PATH_LEN);
	char *copy = strdup(value);
	if (copy == NULL)
		return fail(msg, msglen, "out of memory");
	free(w->path);
	w->path = copy;
	return 1;
}

int qc_config_webhook_key(struct qc_config *c, const char *key, const char *value, char *msg,
                          size_t msglen)
{
	if (c->webhook == NULL) {
		c->webhook = calloc(1, sizeof *c->webhook);
		if (c->webhook == NULL)
			return fail(msg, msglen, "out of memory");
		c->webhook->max_body = DEFAULT_MAX_BODY;
	}
	struct qc_webhook_config *w = c->webhook;
	if (strcmp(key, "listen") == 0)
		return set_listen(w, value, msg, msglen);
	if (strcmp(key, "max_body") == 0)
		return set_max_body(w, value, msg, msglen);
	if (strcmp(key, "path") == 0)
		return set_path(w, value, msg, msglen);
	if (strcmp(key, "tls_cert") == 0 || strcmp(key, "tls_key") == 0) {
		char **dst = key[4] == 'c' ? &w->tls_cert : &w->tls_key;
		char *copy = strdup(value);
		if (copy == NULL)
			return fail(msg, msglen, "out of memory");
		free(*dst);
		*dst = copy;
		return 1;
	}
	if (strcmp(key, "token_file") == 0) {
		char *copy = strdup(value);
		if (copy == NULL)
			return fail(msg, msglen, "out of memory");
		free(w->token_file);
		w->token_file = copy;
		return 1;
	}
	return fail(msg, msglen, "unknown key '%s' in [webhook]", key);
}

void qc_webhook_token_hash(const char *token, size_t len, uint8_t out[QC_WEBHOOK_HASH_LEN])
{
	crypto_generichash(out, QC_WEBHOOK_HASH_LEN, (const unsigned char *)token, len, NULL, 0);
}

/*
 * The token file: a regular file nobody but its owner can read or write
 * (like a secret key), one line of 16 to 256 printable ASCII characters
 * without blanks (what fits an Authorization header unambiguously), an
 * optional trailing newline. Read into locked memory, hashed, wiped.
 */
static enum ql_err load_token(struct qc_webhook_config *w, char *why, size_t whylen)
{
	enum { CAP = QC_WEBHOOK_MAX_TOKEN + 3 }; /* the token, "\r\n", one byte to see more */
	enum ql_err err = QL_ERR_CONFIG;
	char *buf = NULL;
	struct stat st;
	int fd = open(w->token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(why, whylen, "cannot read token_file %s: %s", w->token_file,
		         strerror(errno));
		return QL_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "token_file %s is not a regular file", w->token_file);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(why, whylen, "token_file %s is accessible by group or others (chmod 600)",
		         w->token_file);
		err = QL_ERR_KEY_PERMS;
		goto out;
	}
	buf = sodium_malloc(CAP + 1);
	if (buf == NULL) {
		snprintf(why, whylen, "out of memory");
		err = QL_ERR_NOMEM;
		goto out;
	}
	size_t n = 0;
	while (n < CAP) {
		ssize_t r = read(fd, buf + n, CAP - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whylen, "cannot read token_file %s: %s", w->token_file,
			         strerror(errno));
			err = QL_ERR_IO;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	bool ok = n >= QC_WEBHOOK_MIN_TOKEN && n <= QC_WEBHOOK_MAX_TOKEN;
	for (size_t i = 0; ok && i < n; i++)
		ok = buf[i] > 0x20 && buf[i] < 0x7f;
	if (!ok) {
		snprintf(why, whylen,
		         "token_file %s must hold one token of %d to %d printable characters "
		         "without blanks (and at most a newline after it)",
		         w->token_file, QC_WEBHOOK_MIN_TOKEN, QC_WEBHOOK_MAX_TOKEN);
		goto out;
	}
	qc_webhook_token_hash(buf, n, w->token_hash);
	err = QL_OK;
out:
	sodium_free(buf); /* wipes it */
	close(fd);
	return err;
}

enum ql_err qc_config_webhook_finish(struct qc_webhook_config *w, char *why, size_t whylen)
{
	if (w->port == 0) {
		snprintf(why, whylen, "[webhook] listen is required");
		return QL_ERR_CONFIG;
	}
	if (w->token_file == NULL) {
		snprintf(why, whylen,
		         "[webhook] token_file is required (the webhook never runs "
		         "without a bearer token)");
		return QL_ERR_CONFIG;
	}
	if (w->path == NULL && (w->path = strdup(DEFAULT_PATH)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return QL_ERR_NOMEM;
	}
	if (ql_crypto_init() != QL_OK) {
		snprintf(why, whylen, "libsodium cannot be initialised");
		return QL_ERR_CRYPTO;
	}
	if ((w->tls_cert == NULL) != (w->tls_key == NULL)) {
		snprintf(why, whylen, "[webhook] tls_cert and tls_key go together (HTTPS)");
		return QL_ERR_CONFIG;
	}
	char pwhy[512];
	if (w->tls_cert &&
	    (ql_tls_read_pem(w->tls_cert, false, &w->tls_cert_pem, pwhy, sizeof pwhy) != QL_OK ||
	     ql_tls_read_pem(w->tls_key, true, &w->tls_key_pem, pwhy, sizeof pwhy) != QL_OK)) {
		snprintf(why, whylen, "[webhook] %s", pwhy);
		return QL_ERR_CONFIG;
	}
	return load_token(w, why, whylen);
}

void qc_config_webhook_free(struct qc_webhook_config *w)
{
	if (w == NULL)
		return;
	free(w->token_file);
	free(w->path);
	free(w->tls_cert);
	free(w->tls_key);
	ql_tls_pem_free(w->tls_cert_pem);
	ql_tls_pem_free(w->tls_key_pem);
	sodium_memzero(w->token_hash, sizeof w->token_hash);
	free(w);
}
