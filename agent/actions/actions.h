/*
 * actions.h: the contract every action implements. One file per action in
 * agent/actions/, each exporting one const struct qa_action; table.c lists
 * them. Adding an action touches one new file and one table line.
 *
 * An action never sees the network: it gets the handle from the agent's own
 * config and arguments the executor has already size-checked. check() runs
 * before intent is recorded and must not change anything; run() does the
 * work (or, with dry_run, describes it) and writes a one-line detail.
 */
#ifndef QA_ACTIONS_H
#define QA_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "ql.h"
#include "quell.pb-c.h"

struct qa_action_ctx {
	const struct qa_handle *handle; /* NULL for actions without a handle */
	Quell__Arg *const *args;
	size_t n_args;
	bool dry_run;
	char *detail; /* out: one human line */
	size_t detail_len;
};

struct qa_action {
	const char *name;
	enum qa_handle_type handle_type; /* QA_HANDLE_NONE: takes no handle */
	const char *const *arg_names;    /* NULL-terminated; anything else is rejected */
	QL_NODISCARD enum ql_err (*check)(const struct qa_action_ctx *ctx);
	QL_NODISCARD enum ql_err (*run)(const struct qa_action_ctx *ctx);
};

const struct qa_action *qa_action_find(const char *name);
/* NULL-terminated list, for the hello. */
extern const struct qa_action *const qa_actions[];

/* Value of argument `key`, or NULL. */
const char *qa_arg(const struct qa_action_ctx *ctx, const char *key);

extern const struct qa_action qa_action_ping;
extern const struct qa_action qa_action_maintenance;

#endif
