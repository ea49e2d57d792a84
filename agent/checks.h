/*
 * checks.h: the agent's health checks. A [check NAME] section of the
 * agent's config declares one; health.c runs them on one thread and the
 * agent reports their states in its hello and heartbeats.
 *
 *   type = http       url = http(s)://..., [expect = 200]   (libcurl; no redirects, no proxy)
 *   type = tcp        address = 127.0.0.1:6379 | [::1]:6379 (numeric: no DNS lookup)
 *   type = process    handle = NAME   (a handle with a process match: at least one matches)
 *   type = file-age   path = ..., max_age = 5m  (failing when older, or missing)
 *   type = disk-free  path = ..., min_free = 10% | 500M     (statvfs; K, M, G, T: powers of 1024)
 *   type = load       max = 8.0       (the 1-minute load average)
 *   type = exec       argv = /usr/local/bin/check-queue --max 1000   (exit 0 = pass)
 *
 * and every type: interval = 10s (1s..1h), timeout = 5s (at most the
 * interval; at most 5s by default), rise = 2 and fall = 2 (1..10): how many
 * results in a row it takes to become passing or failing (hysteresis).
 *
 * A check's state is UNKNOWN until `rise` passes or `fall` failures come in
 * a row, then PASSING or FAILING, and flips only after `rise`/`fall`
 * consecutive opposite results. A check that alternates pass and fail with
 * rise = fall = 2 never leaves the state it is in.
 */
#ifndef QA_CHECKS_H
#define QA_CHECKS_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "handles.h"

struct qa_config;

enum qa_check_type {
	QA_CHECK_NONE = 0,
	QA_CHECK_HTTP,
	QA_CHECK_TCP,
	QA_CHECK_PROCESS,
	QA_CHECK_FILE_AGE,
	QA_CHECK_DISK_FREE,
	QA_CHECK_LOAD,
	QA_CHECK_EXEC,
	QA_CHECK__COUNT
};

#define QA_CHECK_MAX_INTERVAL 3600 /* seconds */
#define QA_CHECK_DEFAULT_INTERVAL 10
#define QA_CHECK_DEFAULT_TIMEOUT 5
#define QA_CHECK_DEFAULT_STREAK 2 /* rise and fall */
#define QA_CHECK_MAX_STREAK 10
#define QA_CHECK_DETAIL 256 /* bytes of a result's one-line description, NUL included */

struct qa_check {
	char *name;
	enum qa_check_type type;
	uint32_t interval_s, timeout_s; /* 0 until set: finish() gives the defaults */
	int rise, fall;

	char *url;  /* http */
	int expect; /* http: the status code that passes */

	struct sockaddr_storage addr; /* tcp */
	socklen_t addr_len;
	char *address; /* tcp: as written, for the detail */

	char *handle; /* process: a handle name; looked up when the check runs */

	char *path;              /* file-age, disk-free */
	uint32_t max_age_s;      /* file-age */
	double min_free_pct;     /* disk-free: percent of the filesystem (0: unset) */
	uint64_t min_free_bytes; /* disk-free: bytes (0: unset) */

	double max_load; /* load */
	bool has_max;

	struct qa_argv argv; /* exec */
};

/* Matches CheckState.State in quell.proto. */
enum qa_check_state { QA_CHECK_UNKNOWN = 0, QA_CHECK_PASSING = 1, QA_CHECK_FAILING = 2 };

/* A check's state after hysteresis, and the last result. */
struct qa_check_status {
	enum qa_check_state state;
	int64_t since;    /* unix seconds: when it entered state */
	unsigned streak;  /* results in a row that were all streak_pass */
	bool streak_pass; /* what those results were */
	unsigned runs;    /* results so far */
	char detail[QA_CHECK_DETAIL];
};

const char *qa_check_type_name(enum qa_check_type t);
const char *qa_check_state_name(enum qa_check_state s);

/*
 * Apply one key of a [check] section. Returns false with a reason in why
 * ("interval is a duration from 1s to 1h, like 10s or 5m").
 */
bool qa_check_set(struct qa_check *c, const char *key, const char *value, char *why, size_t whylen);
/* Whole-section checks once the file is read: type, required keys, defaults, the handle. */
bool qa_check_finish(struct qa_check *c, const struct qa_config *cfg, char *why, size_t whylen);
void qa_check_fini(struct qa_check *c);

/* A check's status before its first result: UNKNOWN since now. */
void qa_check_status_init(struct qa_check_status *s, int64_t now);
/*
 * Record one result (pass or not, and its one-line description) at now.
 * Returns true if the check's state changed.
 */
bool qa_check_record(struct qa_check_status *s, const struct qa_check *c, bool pass,
                     const char *detail, int64_t now);

/*
 * Run a check once (probes.c): true if it passed, with a one-line
 * description in detail either way. Bounded by the check's timeout; ends
 * early, failing, when *stop becomes true (stop may be NULL).
 */
bool qa_check_run(const struct qa_check *c, const struct qa_config *cfg, const atomic_bool *stop,
                  char *detail, size_t len);

#endif
