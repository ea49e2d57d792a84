/*
 * codec.h: decoders for every protobuf body quell receives, each with the
 * hard limits of limits.h applied where the bytes enter. A decoder either
 * returns a fully validated message or QL_ERR_MALFORMED / QL_ERR_TOO_BIG and
 * NULL; callers never see a half-checked message.
 */
#ifndef QL_CODEC_H
#define QL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ql.h"
#include "quell.pb-c.h"

/* UNTRUSTED decoders. Free the result with the matching protobuf-c free. */
QL_NODISCARD enum ql_err ql_hello_decode(const uint8_t *buf, size_t len, Quell__Hello **out);
QL_NODISCARD enum ql_err ql_heartbeat_decode(const uint8_t *buf, size_t len,
                                             Quell__Heartbeat **out);
QL_NODISCARD enum ql_err ql_command_decode(const uint8_t *buf, size_t len, Quell__Command **out);
QL_NODISCARD enum ql_err ql_result_decode(const uint8_t *buf, size_t len, Quell__Result **out);
QL_NODISCARD enum ql_err ql_events_decode(const uint8_t *buf, size_t len, Quell__AgentEvents **out);
QL_NODISCARD enum ql_err ql_agent_reply_decode(const uint8_t *buf, size_t len,
                                               Quell__AgentReply **out);
QL_NODISCARD enum ql_err ql_control_decode(const uint8_t *buf, size_t len,
                                           Quell__ControlRequest **out);
QL_NODISCARD enum ql_err ql_control_reply_decode(const uint8_t *buf, size_t len,
                                                 Quell__ControlReply **out);

/* Serialize any message into a malloc'd buffer. */
QL_NODISCARD enum ql_err ql_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len);

/* Field checks, shared with config loaders. */
bool ql_hostname_ok(const char *s);
/* [A-Za-z0-9_.-], 1..max characters. */
bool ql_ident_ok(const char *s, size_t max);
/* Valid UTF-8, at most max bytes, no control characters except \n and \t. */
bool ql_text_ok(const char *s, size_t max);
/* "90", "90s", "15m", "2h", "1d": 1..max seconds. */
bool ql_duration_parse(const char *s, uint32_t max, uint32_t *out);
/* The shortest of those spellings for secs. */
void ql_duration_format(uint32_t secs, char *buf, size_t len);
/* 8..32 lower-case hex digits: a mitigation or job id, or its prefix. */
bool ql_hex_prefix_ok(const char *s);
/* A label key or value as used in configs and hellos. */
bool ql_label_ok(const char *key, const char *value);

#endif
