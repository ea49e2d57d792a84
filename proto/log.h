/*
 * log.h: one-line log records on stderr ("2026-11-24T10:00:00Z quell-agent
 * warn: ..."), which journald or a test harness captures. Kept minimal on
 * purpose: daemons run under systemd, which adds its own metadata.
 */
#ifndef QL_LOG_H
#define QL_LOG_H

#include <stdbool.h>

#include "ql.h"

enum ql_log_level { QL_LOG_DEBUG, QL_LOG_INFO, QL_LOG_WARN, QL_LOG_ERROR };

void ql_log_init(const char *program, enum ql_log_level min);
void ql_log(enum ql_log_level level, const char *fmt, ...) QL_PRINTF(2, 3);

#define ql_info(...) ql_log(QL_LOG_INFO, __VA_ARGS__)
#define ql_warn(...) ql_log(QL_LOG_WARN, __VA_ARGS__)
#define ql_error(...) ql_log(QL_LOG_ERROR, __VA_ARGS__)
#define ql_debug(...) ql_log(QL_LOG_DEBUG, __VA_ARGS__)

/* Hex of a job id into buf (2*len+1 bytes). */
void ql_hex(const uint8_t *bin, size_t len, char *buf);
/* Parse exactly 2*len hex digits; false on anything else. */
bool ql_unhex(const char *hex, uint8_t *bin, size_t len);

#endif
