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
#include <stdint.h>

#include "config.h"
#include "ql.h"
#include "quell.pb-c.h"

struct qa_action_ctx {
	const struct qa_handle *handle; /* NULL for actions without a handle */
	Quell__Arg *const *args;
	size_t n_args;
	bool dry_run;
	uint32_t ttl;          /* the command's TTL (seconds, 0: none), for check() */
	const char *state_dir; /* the agent's own state directory (e.g. instance tracking) */
	int64_t deadline_ms;   /* ql_mono_ms() by which run() must be done (handle timeout) */
	char *detail;          /* out: one human line */
	size_t detail_len;
	char *undo;      /* out, optional: a JSON object with what undo needs */
	size_t undo_len; /* (the previous state); "" if nothing to undo */
	/* Set by the executor: makes the undo record durable before the change. */
	void (*save_undo)(void *arg, const char *undo);
	void *save_undo_arg;
};

/* Bit for a handle type in qa_action.handle_types. */
#define QA_TYPE(t) (1u << (t))

struct cJSON;

struct qa_action {
	const char *name;
	/* Actions that change the same thing share a family (pause and resume:
	 * "pause"); NULL: the action's own name. A later action of the family on
	 * the same handle (and, for flags, the same flag name) ends or takes over
	 * an active mitigation there. */
	const char *family;
	unsigned handle_types;        /* QA_TYPE() bits it accepts; 0: takes no handle */
	const char *const *arg_names; /* NULL-terminated; anything else is rejected */
	bool reversible;              /* false: say so (e.g. kill) */
	/* Validate arguments against the handle. Changes nothing. */
	QL_NODISCARD enum ql_err (*check)(const struct qa_action_ctx *ctx);
	/* Do it (or with dry_run, describe what would change), by ctx->deadline_ms. */
	QL_NODISCARD enum ql_err (*run)(const struct qa_action_ctx *ctx);
	/*
	 * Reversible actions only (NULL otherwise). `undo` is an undo record one
	 * of this family's run()s wrote (ctx->undo, parsed); ctx->args is empty.
	 *
	 * revert() puts the host back into exactly that state, by
	 * ctx->deadline_ms, and writes one line to ctx->detail (with dry_run:
	 * describes what it would change, changes nothing). It must be safe to
	 * run twice and after the state is already back: the agent retries a
	 * revert that a crash interrupted. It never writes ctx->undo.
	 *
	 * at_rest() says whether the host is in that state now (nothing to
	 * revert). Reads only; false when it cannot tell.
	 */
	QL_NODISCARD enum ql_err (*revert)(const struct qa_action_ctx *ctx,
	                                   const struct cJSON *undo);
	bool (*at_rest)(const struct qa_action_ctx *ctx, const struct cJSON *undo);
};

const struct qa_action *qa_action_find(const char *name);
/* NULL-terminated list, for the hello. */
extern const struct qa_action *const qa_actions[];

/*
 * Store `o` (a cJSON object, may be NULL; always freed) as ctx->undo, if it
 * fits whole: an undo record is never cut in half. Returns whether it was.
 * Call it BEFORE changing anything: outside a dry run the record is written
 * to the agent's store at once, so a crash mid-action does not lose it.
 */
bool qa_undo_set(const struct qa_action_ctx *ctx, struct cJSON *o);
/* The common case: {"previous": "<previous>"}. */
bool qa_undo_previous(const struct qa_action_ctx *ctx, const char *previous);

/*
 * For revert() and at_rest(): the string member `key` of an undo record, or
 * NULL if the record is not an object or `key` is missing or not a string.
 * The record comes from the agent's own store, but is checked as if it did
 * not: a malformed one is QL_ERR_BAD_ARGUMENT, never a guess.
 */
const char *qa_undo_string(const struct cJSON *undo, const char *key);
/* A copy of ctx whose detail goes to buf: at_rest() reports nothing. */
struct qa_action_ctx qa_ctx_quiet(const struct qa_action_ctx *ctx, char *buf, size_t len);

/* Value of argument `key`, or NULL. */
const char *qa_arg(const struct qa_action_ctx *ctx, const char *key);

extern const struct qa_action qa_action_ping;
extern const struct qa_action qa_action_maintenance;
extern const struct qa_action qa_action_kill;
extern const struct qa_action qa_action_pause;
extern const struct qa_action qa_action_resume;
extern const struct qa_action qa_action_restart;
extern const struct qa_action qa_action_scale;
extern const struct qa_action qa_action_flag;
extern const struct qa_action qa_action_rollback;

#endif
