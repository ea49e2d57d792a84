/*
 * transport.c: URL policy and socket limits (see transport.h).
 *
 * Mutual TLS (tls+tcp://) is the production transport and arrives with the
 * certificate tooling; until a config can name certificates, accepting such a
 * URL would silently run without them, so it is refused with a clear reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ql_limits.h"
#include "transport.h"

enum ql_err ql_url_check(const char *url, char *why, size_t whylen)
{
	if (url == NULL || url[0] == '\0') {
		snprintf(why, whylen, "empty URL");
		return QL_ERR_CONFIG;
	}
	if (strlen(url) > 512) {
		snprintf(why, whylen, "URL longer than 512 characters");
		return QL_ERR_CONFIG;
	}
	if (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "ipc://", 6) == 0)
		return QL_OK;
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		snprintf(why, whylen,
		         "tls+tcp:// needs certificate settings, which this version does not "
		         "support yet; use tcp:// on a trusted network or loopback");
		return QL_ERR_CONFIG;
	}
	snprintf(why, whylen, "unsupported URL scheme in '%s' (use tcp:// or ipc://)", url);
	return QL_ERR_CONFIG;
}

enum ql_err ql_socket_limit(nng_socket s, size_t max_msg)
{
	return nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, max_msg) == 0 ? QL_OK : QL_ERR_TRANSPORT;
}

nng_msg *ql_msg_new(const uint8_t *buf, size_t len)
{
	nng_msg *msg = NULL;
	if (nng_msg_alloc(&msg, 0) != 0)
		return NULL;
	if (nng_msg_append(msg, buf, len) != 0) {
		nng_msg_free(msg);
		return NULL;
	}
	return msg;
}

nng_msg *ql_msg_pack(const ProtobufCMessage *m)
{
	uint8_t *buf;
	size_t len;
	if (ql_pack(m, &buf, &len) != QL_OK)
		return NULL;
	nng_msg *msg = ql_msg_new(buf, len);
	free(buf);
	return msg;
}
