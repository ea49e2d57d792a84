/*
 * transport.c: URL policy and socket limits (see transport.h).
 * tls+tcp:// is the production transport (tls.c sets it up from the
 * config's certificate files); tcp:// works where a config says so, with a
 * warning at every start; ipc:// is for local sockets.
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
	if (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "ipc://", 6) == 0 ||
	    strncmp(url, "tls+tcp://", 10) == 0)
		return QL_OK;
	snprintf(why, whylen, "unsupported URL scheme in '%s' (use tls+tcp://, tcp:// or ipc://)",
	         url);
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
