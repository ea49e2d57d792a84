/*
 * table.c: the one list of actions this agent implements, and the small
 * helpers every action shares (arguments, undo records).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "actions.h"

const struct qa_action *const qa_actions[] = {
	&qa_action_ping,     &qa_action_maintenance,
	&qa_action_kill,     &qa_action_pause,
	&qa_action_resume,   &qa_action_restart,
	&qa_action_scale,    &qa_action_flag,
	&qa_action_rollback, NULL,
};

const struct qa_action *qa_action_find(const char *name)
{
	for (size_t i = 0; qa_actions[i]; i++)
		if (strcmp(qa_actions[i]->name, name) == 0)
			return qa_actions[i];
	return NULL;
}

const char *qa_arg(const struct qa_action_ctx *ctx, const char *key)
{
	for (size_t i = 0; i < ctx->n_args; i++)
		if (strcmp(ctx->args[i]->key, key) == 0)
			return ctx->args[i]->value;
	return NULL;
}

bool qa_undo_set(const struct qa_action_ctx *ctx, cJSON *o)
{
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	bool fits = text && strlen(text) < ctx->undo_len;
	if (fits)
		snprintf(ctx->undo, ctx->undo_len, "%s", text);
	if (fits && !ctx->dry_run && ctx->save_undo)
		ctx->save_undo(ctx->save_undo_arg, ctx->undo);
	cJSON_free(text);
	cJSON_Delete(o);
	return fits;
}

bool qa_undo_previous(const struct qa_action_ctx *ctx, const char *previous)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL || !cJSON_AddStringToObject(o, "previous", previous)) {
		cJSON_Delete(o);
		return false;
	}
	return qa_undo_set(ctx, o);
}

const char *qa_undo_string(const cJSON *undo, const char *key)
{
	const cJSON *v = cJSON_IsObject(undo) ? cJSON_GetObjectItemCaseSensitive(undo, key) : NULL;
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

struct qa_action_ctx qa_ctx_quiet(const struct qa_action_ctx *ctx, char *buf, size_t len)
{
	struct qa_action_ctx quiet = *ctx;
	quiet.detail = buf;
	quiet.detail_len = len;
	buf[0] = '\0';
	return quiet;
}
