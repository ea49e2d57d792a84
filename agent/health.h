/*
 * health.h: running the agent's health checks (checks.h) and keeping their
 * states for the hello and heartbeats.
 *
 * One thread per agent that has checks, none for an agent without (the
 * fleet simulator runs thousands of agents without checks in one process).
 * It runs each check when it is due, one at a time, each bounded by its
 * timeout, and applies the hysteresis. When a check changes state it calls
 * `changed` (without any lock of its own held), so that the agent sends a
 * heartbeat at once instead of at its next poll.
 */
#ifndef QA_HEALTH_H
#define QA_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "checks.h"
#include "ql.h"

struct qa_config;
struct qa_health;

/* One check's state now, for a message. */
struct qa_check_report {
	const char *name; /* the config's */
	enum qa_check_state state;
	int64_t since;
	char detail[QA_CHECK_DETAIL];
};

/*
 * For cfg's checks (cfg outlives it). *out is NULL, and nothing is made,
 * when cfg has none.
 */
QL_NODISCARD enum ql_err qa_health_new(const struct qa_config *cfg, void (*changed)(void *arg),
                                       void *arg, struct qa_health **out);
/* Start the thread: every check is due at once. */
QL_NODISCARD enum ql_err qa_health_start(struct qa_health *h);
/* Stop the thread; a check in progress ends early. h may be NULL. */
void qa_health_stop(struct qa_health *h);
void qa_health_free(struct qa_health *h);

/* Every check's state now (malloc'd, *n entries; free() it); NULL if none or out of memory. */
struct qa_check_report *qa_health_report(struct qa_health *h, size_t *n);

#endif
