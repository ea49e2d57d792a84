/*
 * instances.h: the running instances of an `instances` handle (memcached
 * on ports port_base + i), shared by scale.c and restart.c.
 *
 * The truth is STATE_DIR/instances/HANDLE, one line per instance:
 * "INDEX PORT PID STARTTIME\n", rewritten atomically after every single
 * start or stop, so an agent that dies half-way still knows every process
 * it started. Instances run in their own session and outlive the agent; a
 * line whose pid is gone, or now belongs to a process with another start
 * time, is dropped when the file is read.
 */
#ifndef QA_INSTANCES_H
#define QA_INSTANCES_H

#include <stdbool.h>
#include <stddef.h>

#include "actions.h"
#include "proc.h"
#include "ql_limits.h"

#define QA_MAX_INSTANCES 64 /* the largest `max` a handle may set */

struct qa_instance {
	int index, port;
	struct qa_proc proc;   /* pid and starttime */
	struct qa_child child; /* started by this action: its output, else out_fd -1 */
	bool pending;          /* started by this action, port not confirmed yet */
};

struct qa_instances {
	const struct qa_action_ctx *ctx;
	char path[QA_MAX_PATH + 256];
	struct qa_instance v[QA_MAX_INSTANCES]; /* sorted by index */
	size_t n;
	size_t dropped;              /* lines dropped on load (process gone or pid reused) */
	char why[QL_MAX_DETAIL / 2]; /* what went wrong, for the detail line */
};

/* Read the tracking file (a missing one is no instances). */
QL_NODISCARD enum ql_err qa_instances_load(const struct qa_action_ctx *ctx, struct qa_instances *t);
/* Rewrite it atomically. */
QL_NODISCARD enum ql_err qa_instances_save(struct qa_instances *t);
/* Position of index i in t->v, or -1. */
int qa_instances_find(const struct qa_instances *t, int index);
/* Start instance `index` (own session), record it, save. Does not wait for the port. */
QL_NODISCARD enum ql_err qa_instances_start(struct qa_instances *t, int index);
/*
 * Stop the instances at positions pos[0..n) (ascending) with the handle's stop_signal,
 * SIGKILL after a few seconds, forget those that are gone, save. The
 * detail gets "30001: 4242 (TERM)".
 */
QL_NODISCARD enum ql_err qa_instances_stop(struct qa_instances *t, const size_t *pos, size_t n);
/*
 * Wait until every instance started by this action answers on its port; an
 * instance that died is forgotten (and the file saved) and its output goes
 * into the detail.
 */
QL_NODISCARD enum ql_err qa_instances_confirm(struct qa_instances *t);
/* " 30000 30001" appended to buf. */
void qa_instances_ports(const struct qa_instances *t, char *buf, size_t len);
/* Release captures of children started by this action. */
void qa_instances_fini(struct qa_instances *t);

#endif
