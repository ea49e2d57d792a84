/*
 * webhook.c: the HTTP endpoint Alertmanager posts alerts to, when the
 * config has a [webhook] section. libmicrohttpd does all of HTTP (no
 * hand-written parsing here) on its own thread (internal polling thread, at
 * most MAX_CONNECTIONS connections, each closed after TIMEOUT_S idle
 * seconds, request headers bounded by MHD's per-connection memory pool).
 *
 * A request is decided in this order, each refusal logged with the client's
 * address and answered without changing anything:
 *
 *   path other than [webhook] path     404
 *   method other than POST             405 (Allow: POST)
 *   no or wrong bearer token           401 (WWW-Authenticate: Bearer)
 *   Content-Type not application/json  415
 *   Content-Length past max_body       413, the body is never read
 *   body past max_body (chunked)       the connection is closed (MHD cannot
 *                                      answer in the middle of a body)
 *   payload refused by the parser      400 with the parser's sentence
 *   accepted                           200 {"status":"ok","alerts":N}
 *
 * Everything up to the token is checked on the headers alone, so nobody
 * without the token can make the coordinator buffer a byte of body. The
 * body goes into the request's own buffer, which grows up to max_body and
 * no further: at most MAX_CONNECTIONS * max_body bytes in all. Only an
 * accepted payload takes the coordinator's lock (qc_alerts_received).
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alerts.h"
#include "log.h"

#define MAX_CONNECTIONS 32
#define TIMEOUT_S 10
#define HEADER_MEMORY (32 * 1024) /* MHD's pool per connection: request line and headers */
#define FIRST_BUFFER (16 * 1024)
#define SHOWN_URL 64 /* of a refused request's path, in the log */

struct qc_webhook {
	struct qc *c;
	const struct qc_webhook_config *cfg;
	struct MHD_Daemon *d;
	char start_error[256]; /* MHD's last message while starting */
	atomic_bool started;   /* from then on, MHD's thread logs only */
};

/* One request, from its headers to its answer (freed by on_completed). */
struct request {
	char addr[INET6_ADDRSTRLEN + 8];
	char *body;
	size_t len, cap;
};

static void mhd_log(void *cls, const char *fmt, va_list ap) QL_PRINTF(2, 0);

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct qc_webhook *w = cls;
	char msg[256];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\r\n")] = '\0';
	if (!w->started) /* qc_webhook_start says it, once */
		snprintf(w->start_error, sizeof w->start_error, "%s", msg);
	else
		ql_warn("webhook: %s", msg);
}

static void client_addr(struct MHD_Connection *conn, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	char ip[INET6_ADDRSTRLEN] = "?";
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "an unknown address");
	}
}

/* A refused request's method and path, for the log: printable ASCII, cut. */
static void shown(const char *s, char *buf, size_t len)
{
	size_t n = 0;
	for (; s[n] && n < len - 1 && n < SHOWN_URL; n++)
		buf[n] = s[n] > 0x20 && s[n] < 0x7f ? s[n] : '?';
	buf[n] = '\0';
}

/* Queue a JSON answer. "ok" with n alerts for 200, else {"status":"error","error":why}. */
static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *why,
                              size_t n, const char *header, const char *value)
{
	char *text = NULL;
	cJSON *o = cJSON_CreateObject();
	if (o == NULL || !cJSON_AddStringToObject(o, "status", status == 200 ? "ok" : "error") ||
	    (status == 200 ? !cJSON_AddNumberToObject(o, "alerts", (double)n)
	                   : !cJSON_AddStringToObject(o, "error", why)) ||
	    (text = cJSON_PrintUnformatted(o)) == NULL) {
		cJSON_Delete(o);
		return MHD_NO;
	}
	cJSON_Delete(o);
	size_t len = strlen(text);
	text[len++] = '\n'; /* over the NUL: the buffer is copied by length */
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
	cJSON_free(text);
	if (r == NULL)
		return MHD_NO;
	enum MHD_Result ok =
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (ok == MHD_YES && header)
		ok = MHD_add_response_header(r, header, value);
	if (ok == MHD_YES)
		ok = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result refuse(struct MHD_Connection *conn, const struct request *rq,
                              const char *method, const char *url, unsigned status, const char *why,
                              const char *header, const char *value)
{
	char m[SHOWN_URL + 1], u[SHOWN_URL + 1];
	shown(method, m, sizeof m);
	shown(url, u, sizeof u);
	ql_warn("webhook: refused %s %s from %s: %u %s", m, u, rq->addr, status, why);
	return answer(conn, status, why, 0, header, value);
}

/* "Authorization: Bearer TOKEN" (the scheme in any case), compared by digest
 * in constant time (config-webhook.c says why digests). */
static bool authorized(const struct qc_webhook *w, struct MHD_Connection *conn)
{
	const char *v =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	v += 7;
	v += strspn(v, " \t");
	size_t n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	uint8_t h[QC_WEBHOOK_HASH_LEN];
	qc_webhook_token_hash(v, n, h);
	bool ok = sodium_memcmp(h, w->cfg->token_hash, sizeof h) == 0;
	sodium_memzero(h, sizeof h);
	return ok;
}

/* application/json, in any case, with or without parameters (charset). */
static bool json_type(struct MHD_Connection *conn)
{
	const char *v =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (v == NULL)
		return false;
	v += strspn(v, " \t");
	if (strncasecmp(v, "application/json", 16) != 0)
		return false;
	v += 16;
	v += strspn(v, " \t");
	return *v == '\0' || *v == ';';
}

/* The headers are in: everything but the body is decided here. */
static enum MHD_Result on_headers(struct qc_webhook *w, struct MHD_Connection *conn,
                                  struct request *rq, const char *url, const char *method)
{
	if (strcmp(url, w->cfg->path) != 0)
		return refuse(conn, rq, method, url, MHD_HTTP_NOT_FOUND, "no such path", NULL,
		              NULL);
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return refuse(conn, rq, method, url, MHD_HTTP_METHOD_NOT_ALLOWED,
		              "only POST is allowed", MHD_HTTP_HEADER_ALLOW, "POST");
	if (!authorized(w, conn))
		return refuse(conn, rq, method, url, MHD_HTTP_UNAUTHORIZED,
		              "missing or wrong bearer token", MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		              "Bearer");
	if (!json_type(conn))
		return refuse(conn, rq, method, url, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		              "Content-Type must be application/json", NULL, NULL);
	const char *cl =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
	if (declared > w->cfg->max_body) {
		char why[96];
		snprintf(why, sizeof why, "the body is larger than max_body (%zu bytes)",
		         w->cfg->max_body);
		return refuse(conn, rq, method, url, MHD_HTTP_CONTENT_TOO_LARGE, why, NULL, NULL);
	}
	rq->cap = declared ? (size_t)declared
	                   : (w->cfg->max_body < FIRST_BUFFER ? w->cfg->max_body : FIRST_BUFFER);
	rq->body = malloc(rq->cap);
	return rq->body ? MHD_YES : MHD_NO;
}

/* UNTRUSTED: part of the body of an authenticated request. */
static enum MHD_Result on_body(struct qc_webhook *w, struct request *rq, const char *data, size_t n)
{
	if (n > w->cfg->max_body - rq->len) {
		ql_warn("webhook: refused a body from %s: past max_body (%zu bytes) without a "
		        "Content-Length; connection closed",
		        rq->addr, w->cfg->max_body);
		return MHD_NO;
	}
	if (rq->len + n > rq->cap) {
		size_t cap = rq->cap * 2 > rq->len + n ? rq->cap * 2 : rq->len + n;
		if (cap > w->cfg->max_body)
			cap = w->cfg->max_body;
		char *b = realloc(rq->body, cap);
		if (b == NULL)
			return MHD_NO;
		rq->body = b;
		rq->cap = cap;
	}
	memcpy(rq->body + rq->len, data, n);
	rq->len += n;
	return MHD_YES;
}

/* The whole body is in. */
static enum MHD_Result on_complete(struct qc_webhook *w, struct MHD_Connection *conn,
                                   struct request *rq, const char *url, const char *method)
{
	char why[256];
	struct qc_alert_batch b;
	if (qc_alerts_parse(rq->body, rq->len, &b, why, sizeof why) != QL_OK)
		return refuse(conn, rq, method, url, MHD_HTTP_BAD_REQUEST, why, NULL, NULL);
	ql_info("webhook: %zu alert(s), %s, receiver \"%s\", from %s", b.n_alerts, b.status,
	        b.receiver, rq->addr);
	pthread_mutex_lock(&w->c->lock);
	qc_alerts_received(w->c, &b);
	pthread_mutex_unlock(&w->c->lock);
	size_t n = b.n_alerts;
	qc_alerts_free(&b);
	return answer(conn, MHD_HTTP_OK, NULL, n, NULL, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct qc_webhook *w = cls;
	struct request *rq = *con_cls;
	(void)version;
	if (rq == NULL) {
		rq = calloc(1, sizeof *rq);
		if (rq == NULL)
			return MHD_NO;
		*con_cls = rq;
		client_addr(conn, rq->addr, sizeof rq->addr);
		return on_headers(w, conn, rq, url, method);
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		return on_body(w, rq, upload_data, n);
	}
	return on_complete(w, conn, rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
	struct request *rq = *con_cls;
	(void)cls, (void)conn, (void)why;
	if (rq == NULL)
		return;
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

static bool loopback(const struct qc_webhook_config *cfg)
{
	return cfg->ipv6 ? strcmp(cfg->host, "::1") == 0 : strncmp(cfg->host, "127.", 4) == 0;
}

enum ql_err qc_webhook_start(struct qc *c, struct qc_webhook **out, char *why, size_t whylen)
{
	const struct qc_webhook_config *cfg = c->cfg->webhook;
	*out = NULL;
	if (cfg == NULL)
		return QL_OK;
	struct qc_webhook *w = calloc(1, sizeof *w);
	if (w == NULL) {
		snprintf(why, whylen, "out of memory");
		return QL_ERR_NOMEM;
	}
	w->c = c;
	w->cfg = cfg;

	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(cfg->port)};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(cfg->port)};
	const struct sockaddr *sa;
	if (cfg->ipv6) {
		inet_pton(AF_INET6, cfg->host, &in6.sin6_addr);
		sa = (const struct sockaddr *)&in6;
	} else {
		inet_pton(AF_INET, cfg->host, &in.sin_addr);
		sa = (const struct sockaddr *)&in;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG |
	                 (cfg->ipv6 ? MHD_USE_IPv6 : 0);
	bool https = cfg->tls_cert_pem != NULL;
	if (https && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(why, whylen, "[webhook] tls_cert: this libmicrohttpd has no TLS support");
		free(w);
		return QL_ERR_CONFIG;
	}
	if (!https && !loopback(cfg))
		ql_warn("the webhook on %s is plain HTTP off loopback: its bearer token can be read "
		        "on the way; set tls_cert and tls_key in [webhook]",
		        cfg->host);
	/* Without TLS the two HTTPS options are the end of the list. */
	errno = 0;
	w->d = MHD_start_daemon(flags | (https ? MHD_USE_TLS : 0), cfg->port, NULL, NULL,
	                        on_request, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, w,
	                        MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_LIMIT,
	                        (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
	                        (unsigned)TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	                        (size_t)HEADER_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
	                        https ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, cfg->tls_key_pem,
	                        MHD_OPTION_HTTPS_MEM_CERT, cfg->tls_cert_pem, MHD_OPTION_END);
	if (w->d == NULL) {
		snprintf(why, whylen, "cannot listen for the webhook on %s%s%s:%u: %s",
		         cfg->ipv6 ? "[" : "", cfg->host, cfg->ipv6 ? "]" : "", cfg->port,
		         w->start_error[0] ? w->start_error
		         : errno           ? strerror(errno)
		                           : "libmicrohttpd could not start");
		free(w);
		return QL_ERR_TRANSPORT;
	}
	w->started = true;
	ql_info("webhook listening on %s%s%s%s:%u%s (max_body %zu bytes)", https ? "https://" : "",
	        cfg->ipv6 ? "[" : "", cfg->host, cfg->ipv6 ? "]" : "", cfg->port, cfg->path,
	        cfg->max_body);
	*out = w;
	return QL_OK;
}

void qc_webhook_stop(struct qc_webhook *w)
{
	if (w == NULL)
		return;
	MHD_stop_daemon(w->d); /* joins its thread: no request runs after this */
	free(w);
}
