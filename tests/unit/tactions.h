/*
 * tactions.h: driving one action directly, as the executor would, for the
 * action unit tests (test_actions_files.c, test_actions_flag.c,
 * test_actions_proc.c).
 */
#ifndef QUELL_TACTIONS_H
#define QUELL_TACTIONS_H

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>

#include "actions/actions.h"
#include "ql_limits.h"
#include "store.h"
#include "tutil.h"

struct run {
	char detail[QL_MAX_DETAIL + 1];
	char undo[QA_MAX_UNDO + 1];
	Quell__Arg args[4];
	Quell__Arg *argp[4];
	struct qa_action_ctx ctx;
};

/* A context for handle h in state_dir with "key", "value" pairs (NULL-terminated). */
static inline void ta_setup(struct run *r, const struct qa_handle *h, const char *state_dir,
                            int dry_run, ...)
{
	memset(r, 0, sizeof *r);
	va_list ap;
	va_start(ap, dry_run);
	size_t n = 0;
	for (const char *k; n < 4 && (k = va_arg(ap, const char *)) != NULL; n++) {
		quell__arg__init(&r->args[n]);
		r->args[n].key = (char *)k;
		r->args[n].value = va_arg(ap, char *);
		r->argp[n] = &r->args[n];
	}
	va_end(ap);
	r->ctx = (struct qa_action_ctx){.handle = h,
	                                .args = r->argp,
	                                .n_args = n,
	                                .dry_run = dry_run != 0,
	                                .state_dir = state_dir,
	                                .deadline_ms = ql_mono_ms() + 10000,
	                                .detail = r->detail,
	                                .detail_len = sizeof r->detail,
	                                .undo = r->undo,
	                                .undo_len = sizeof r->undo};
}

/* The file holds exactly `want`. */
static inline void ta_assert_file(const char *path, const char *want)
{
	char *text = tu_read(path, NULL);
	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
}

/* check() then run(), as the executor does. */
static inline enum ql_err act(const char *name, struct run *r)
{
	const struct qa_action *a = qa_action_find(name);
	assert_non_null(a);
	enum ql_err err = a->check(&r->ctx);
	if (err != QL_OK)
		return err;
	return a->run(&r->ctx);
}

/*
 * A context for revert() or at_rest(), as the agent sets it up: the handle,
 * no arguments, and no undo buffer (revert() never writes one; a write would
 * crash here).
 */
static inline void ta_setup_revert(struct run *r, const struct qa_handle *h, const char *state_dir,
                                   int dry_run)
{
	ta_setup(r, h, state_dir, dry_run, NULL);
	r->ctx.undo = NULL;
	r->ctx.undo_len = 0;
}

/* The action's revert() or at_rest() on the record `json` (NULL: no record at all). */
static inline cJSON *ta_record(const char *json)
{
	if (json == NULL)
		return NULL;
	cJSON *undo = cJSON_Parse(json);
	assert_non_null(undo);
	return undo;
}

static inline enum ql_err ta_revert(const char *name, struct run *r, const char *json)
{
	const struct qa_action *a = qa_action_find(name);
	assert_non_null(a);
	assert_non_null(a->revert);
	cJSON *undo = ta_record(json);
	enum ql_err err = a->revert(&r->ctx, undo);
	cJSON_Delete(undo);
	return err;
}

static inline bool ta_at_rest(const char *name, const struct run *r, const char *json)
{
	const struct qa_action *a = qa_action_find(name);
	assert_non_null(a);
	assert_non_null(a->at_rest);
	cJSON *undo = ta_record(json);
	bool rest = a->at_rest(&r->ctx, undo);
	cJSON_Delete(undo);
	return rest;
}

#endif
