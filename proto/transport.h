/*
 * transport.h: the nng setup both daemons share: which URL schemes are
 * allowed, and the size limit every socket enforces before a message is
 * even handed to us.
 */
#ifndef QL_TRANSPORT_H
#define QL_TRANSPORT_H

#include <nng/nng.h>
#include <stddef.h>

#include "ql.h"
#include "quell.pb-c.h"

/*
 * Check a URL from a config file or flag. tls+tcp:// (tls.h), tcp:// and
 * ipc:// are accepted; anything else is QL_ERR_CONFIG with a sentence in why.
 */
QL_NODISCARD enum ql_err ql_url_check(const char *url, char *why, size_t whylen);

/* Apply the receive size limit (and nothing else surprising) to a socket. */
QL_NODISCARD enum ql_err ql_socket_limit(nng_socket s, size_t max_msg);

/* A new message holding a copy of buf, or NULL when out of memory. */
nng_msg *ql_msg_new(const uint8_t *buf, size_t len);
/* A new message holding msg serialized, or NULL when out of memory. */
nng_msg *ql_msg_pack(const ProtobufCMessage *msg);

#endif
