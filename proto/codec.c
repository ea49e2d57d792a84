/*
 * codec.c: validating decoders for every body on the wire.
 *
 * protobuf-c does the parsing; this file decides what is acceptable. Every
 * string is checked for length and characters, every repeated field for its
 * count, every id and hash for its exact size, every time for sanity. The
 * outer size check happens before protobuf-c sees the bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "keys.h"
#include "ql_limits.h"
#include "selector.h"
#include "tls.h"

bool ql_ident_ok(const char *s, size_t max)
{
	size_t n = 0;
	if (s == NULL)
		return false;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= max)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return n > 0;
}

bool ql_duration_parse(const char *s, uint32_t max, uint32_t *out)
{
	uint64_t n = 0;
	size_t i = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		n = n * 10 + (uint64_t)(s[i] - '0');
		if (n > max)
			return false;
	}
	if (i == 0)
		return false;
	static const struct {
		char unit;
		uint32_t secs;
	} units[] = {{'\0', 1}, {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
		if (s[i] != units[u].unit || (s[i] != '\0' && s[i + 1] != '\0'))
			continue;
		n *= units[u].secs;
		if (n == 0 || n > max)
			return false;
		*out = (uint32_t)n;
		return true;
	}
	return false;
}

void ql_duration_format(uint32_t secs, char *buf, size_t len)
{
	if (secs % 86400 == 0)
		snprintf(buf, len, "%ud", secs / 86400);
	else if (secs % 3600 == 0)
		snprintf(buf, len, "%uh", secs / 3600);
	else if (secs % 60 == 0)
		snprintf(buf, len, "%um", secs / 60);
	else
		snprintf(buf, len, "%us", secs);
}

bool ql_hex_prefix_ok(const char *s)
{
	size_t n = strlen(s);
	return n >= 8 && n <= 2 * QL_JOB_ID_LEN && strspn(s, "0123456789abcdef") == n;
}

bool ql_hostname_ok(const char *s)
{
	return ql_ident_ok(s, QL_MAX_HOSTNAME) && s[0] != '-' && s[0] != '.';
}

bool ql_label_ok(const char *key, const char *value)
{
	/* "host" is the selector's name for the hostname, never a label. */
	return ql_ident_ok(key, QL_MAX_LABEL_KEY) && strcmp(key, "host") != 0 &&
	       strcmp(key, "all") != 0 && ql_ident_ok(value, QL_MAX_LABEL_VALUE);
}

bool ql_text_ok(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;
	if (s == NULL)
		return false;
	while (p[n]) {
		if (n >= max)
			return false;
		unsigned char c = p[n];
		if (c < 0x80) {
			if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
				return false;
			n++;
			continue;
		}
		/* UTF-8: reject overlongs, surrogates and code points past U+10FFFF. */
		size_t extra;
		unsigned cp;
		if (c >= 0xc2 && c <= 0xdf) {
			extra = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			extra = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			extra = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t i = 1; i <= extra; i++) {
			if ((p[n + i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[n + i] & 0x3f);
		}
		if ((extra == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		/* C1 controls, and the line separators and bidirectional overrides
		 * that make a terminal show something other than what was signed. */
		if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
		    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
			return false;
		n += extra + 1;
		if (n > max)
			return false;
	}
	return true;
}

static bool labels_ok(Quell__Label **labels, size_t n)
{
	if (n > QL_MAX_LABELS)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ql_label_ok(labels[i]->key, labels[i]->value))
			return false;
	return true;
}

/* Times are unix seconds; anything before 2020 or past 2200 is nonsense. */
static bool time_ok(int64_t t)
{
	return t >= 1577836800 && t <= 7258118400;
}

#define DECODE(type, fn, buf, len, out)                                                            \
	do {                                                                                       \
		*(out) = NULL;                                                                     \
		if ((len) > QL_MAX_BODY)                                                           \
			return QL_ERR_TOO_BIG;                                                     \
		*(out) = fn((NULL), (len), (buf));                                                 \
		if (*(out) == NULL)                                                                \
			return QL_ERR_MALFORMED;                                                   \
	} while (0)

static bool checks_ok(Quell__CheckState *const *c, size_t n)
{
	if (n > QL_MAX_CHECKS)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ql_ident_ok(c[i]->name, QL_MAX_NAME) ||
		    (unsigned)c[i]->state > QUELL__CHECK_STATE__STATE__STATE_FAILING ||
		    (c[i]->since != 0 && !time_ok(c[i]->since)) ||
		    !ql_text_ok(c[i]->detail, QL_MAX_DETAIL))
			return false;
	return true;
}

enum ql_err ql_hello_decode(const uint8_t *buf, size_t len, Quell__Hello **out)
{
	DECODE(Quell__Hello, quell__hello__unpack, buf, len, out);
	Quell__Hello *h = *out;
	bool ok = ql_hostname_ok(h->hostname) && labels_ok(h->labels, h->n_labels) &&
	          ql_text_ok(h->version, QL_MAX_VERSION) && time_ok(h->time) &&
	          h->n_actions <= QL_MAX_ACTIONS && checks_ok(h->checks, h->n_checks) &&
	          h->cert.len <= QL_MAX_CERT_DER && h->cert_sig.len <= QL_MAX_CERT_SIG;
	for (size_t i = 0; ok && i < h->n_actions; i++)
		ok = ql_ident_ok(h->actions[i], QL_MAX_ACTION);
	if (!ok) {
		quell__hello__free_unpacked(h, NULL);
		*out = NULL;
		return QL_ERR_MALFORMED;
	}
	return QL_OK;
}

enum ql_err ql_heartbeat_decode(const uint8_t *buf, size_t len, Quell__Heartbeat **out)
{
	DECODE(Quell__Heartbeat, quell__heartbeat__unpack, buf, len, out);
	Quell__Heartbeat *h = *out;
	if (!ql_hostname_ok(h->hostname) || !time_ok(h->time) ||
	    !checks_ok(h->checks, h->n_checks)) {
		quell__heartbeat__free_unpacked(h, NULL);
		*out = NULL;
		return QL_ERR_MALFORMED;
	}
	return QL_OK;
}

static bool command_ok(const Quell__Command *c)
{
	if (c->job_id.len != QL_JOB_ID_LEN)
		return false;
	if (!time_ok(c->issued_at) || !time_ok(c->expires_at))
		return false;
	if (c->expires_at <= c->issued_at || c->expires_at - c->issued_at > QL_MAX_COMMAND_LIFETIME)
		return false;
	if (ql_selector_check(c->target) != QL_OK)
		return false;
	if (!ql_ident_ok(c->action, QL_MAX_ACTION))
		return false;
	if (c->handle[0] != '\0' && !ql_ident_ok(c->handle, QL_MAX_HANDLE))
		return false;
	if (c->n_args > QL_MAX_ARGS)
		return false;
	for (size_t i = 0; i < c->n_args; i++)
		if (!ql_ident_ok(c->args[i]->key, QL_MAX_ARG_KEY) ||
		    !ql_text_ok(c->args[i]->value, QL_MAX_ARG_VALUE))
			return false;
	if (!ql_text_ok(c->reason, QL_MAX_REASON))
		return false;
	if (c->ttl_seconds > QL_MAX_TTL)
		return false;
	if (c->incident[0] != '\0' && !ql_ident_ok(c->incident, QL_MAX_INCIDENT))
		return false;
	return true;
}

enum ql_err ql_command_decode(const uint8_t *buf, size_t len, Quell__Command **out)
{
	DECODE(Quell__Command, quell__command__unpack, buf, len, out);
	if (!command_ok(*out)) {
		quell__command__free_unpacked(*out, NULL);
		*out = NULL;
		return QL_ERR_MALFORMED;
	}
	return QL_OK;
}

static bool event_ok(const Quell__MitigationEvent *e)
{
	return e->mitigation.len == QL_JOB_ID_LEN &&
	       e->state >= QUELL__MITIGATION_STATE__MITIGATION_ACTIVE &&
	       e->state <= QUELL__MITIGATION_STATE__MITIGATION_REPLACED &&
	       ql_ident_ok(e->cause, 16) && (e->expires_at == 0 || time_ok(e->expires_at)) &&
	       ql_text_ok(e->detail, QL_MAX_DETAIL) && time_ok(e->at) &&
	       (e->by_job.len == 0 || e->by_job.len == QL_JOB_ID_LEN);
}

static bool events_ok(Quell__MitigationEvent *const *ev, size_t n)
{
	if (n > QL_MAX_EVENTS)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!event_ok(ev[i]))
			return false;
	return true;
}

enum ql_err ql_result_decode(const uint8_t *buf, size_t len, Quell__Result **out)
{
	DECODE(Quell__Result, quell__result__unpack, buf, len, out);
	Quell__Result *r = *out;
	bool ok = r->job_id.len == QL_JOB_ID_LEN && ql_hostname_ok(r->hostname) &&
	          r->status >= QUELL__STATUS__STATUS_OK &&
	          r->status <= QUELL__STATUS__STATUS_REJECTED &&
	          (r->reason[0] == '\0' || ql_ident_ok(r->reason, 32)) &&
	          ql_text_ok(r->detail, QL_MAX_DETAIL) &&
	          (r->command_hash.len == 0 || r->command_hash.len == QL_HASH_LEN) &&
	          events_ok(r->mitigations, r->n_mitigations);
	if (!ok) {
		quell__result__free_unpacked(r, NULL);
		*out = NULL;
		return QL_ERR_MALFORMED;
	}
	return QL_OK;
}

enum ql_err ql_events_decode(const uint8_t *buf, size_t len, Quell__AgentEvents **out)
{
	DECODE(Quell__AgentEvents, quell__agent_events__unpack, buf, len, out);
	Quell__AgentEvents *e = *out;
	if (!ql_hostname_ok(e->hostname) || !time_ok(e->time) || e->n_events == 0 ||
	    !events_ok(e->events, e->n_events)) {
		quell__agent_events__free_unpacked(e, NULL);
		*out = NULL;
		return QL_ERR_MALFORMED;
	}
	return QL_OK;
}

enum ql_err ql_agent_reply_decode(const uint8_t *buf, size_t len, Quell__AgentReply **out)
{
	*out = NULL;
	if (len > QL_MAX_MSG)
		return QL_ERR_TOO_BIG;
	*out = quell__agent_reply__unpack(NULL, len, buf);
	if (*out == NULL)
		return QL_ERR_MALFORMED;
	Quell__AgentReply *r = *out;
	bool ok = r->type >= QUELL__AGENT_REPLY__TYPE__TYPE_IDLE &&
	          r->type <= QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED &&
	          (r->job_id.len == 0 || r->job_id.len == QL_JOB_ID_LEN) &&
	          ql_text_ok(r->error, QL_MAX_DETAIL) &&
	          (r->type != QUELL__AGENT_REPLY__TYPE__TYPE_COMMAND || r->command.len > 0);
	if (!ok) {
		quell__agent_reply__free_unpacked(r, NULL);
		*out = NULL;
		return QL_ERR_MALFORMED;
	}
	return QL_OK;
}

enum ql_err ql_control_decode(const uint8_t *buf, size_t len, Quell__ControlRequest **out)
{
	DECODE(Quell__ControlRequest, quell__control_request__unpack, buf, len, out);
	Quell__ControlRequest *c = *out;
	bool ok = time_ok(c->issued_at);
	switch (c->req_case) {
	case QUELL__CONTROL_REQUEST__REQ_SUBMIT:
		ok = ok && c->submit.len > 0;
		if (c->rollout) {
			const Quell__RolloutOptions *r = c->rollout;
			ok = ok && r->canary <= QL_MAX_BATCH && r->batch <= QL_MAX_BATCH &&
			     r->batch_percent <= 100 && r->max_failures <= QL_MAX_BATCH &&
			     r->max_failures_percent <= 100 &&
			     r->host_timeout <= QL_MAX_COMMAND_LIFETIME &&
			     !(r->batch && r->batch_percent) &&
			     !(r->max_failures && r->max_failures_percent);
		}
		break;
	case QUELL__CONTROL_REQUEST__REQ_WATCH:
		ok = ok && c->watch->job_id.len == QL_JOB_ID_LEN && c->watch->wait_ms <= 60000;
		break;
	case QUELL__CONTROL_REQUEST__REQ_AGENTS:
		ok = ok && (c->agents->target[0] == '\0' ||
		            ql_selector_check(c->agents->target) == QL_OK);
		break;
	case QUELL__CONTROL_REQUEST__REQ_JOBS:
		ok = ok && c->jobs->limit >= 1 && c->jobs->limit <= QL_MAX_JOBS_LIST;
		break;
	case QUELL__CONTROL_REQUEST__REQ_MITIGATIONS:
		ok = ok && c->mitigations->limit >= 1 &&
		     c->mitigations->limit <= QL_MAX_MITIGATIONS_LIST &&
		     (c->mitigations->id[0] == '\0' || ql_hex_prefix_ok(c->mitigations->id));
		break;
	case QUELL__CONTROL_REQUEST__REQ_TIMELINE:
		ok = ok && ql_ident_ok(c->timeline->incident, QL_MAX_INCIDENT) &&
		     c->timeline->limit >= 1 && c->timeline->limit <= QL_MAX_TIMELINE_PAGE;
		break;
	case QUELL__CONTROL_REQUEST__REQ_AUDIT_VERIFY:
		break;
	case QUELL__CONTROL_REQUEST__REQ_FORGET:
		ok = ok && ql_hostname_ok(c->forget->hostname) &&
		     ql_text_ok(c->forget->reason, QL_MAX_REASON);
		break;
	case QUELL__CONTROL_REQUEST__REQ_AUTOMATION:
		ok = ok &&
		     (unsigned)c->automation->op <= QUELL__AUTOMATION_REQUEST__OP__OP_RESUME &&
		     ql_text_ok(c->automation->reason, QL_MAX_REASON);
		break;
	default:
		ok = false;
	}
	if (!ok) {
		quell__control_request__free_unpacked(c, NULL);
		*out = NULL;
		return QL_ERR_MALFORMED;
	}
	return QL_OK;
}

/*
 * A job as the coordinator describes it. Its counts must add up to its
 * target count, so the CLI never has to reconcile numbers that disagree.
 */
static bool job_info_ok(const Quell__JobInfo *j)
{
	bool ok = j->job_id.len == QL_JOB_ID_LEN && ql_ident_ok(j->operator_name, QL_MAX_NAME) &&
	          (j->signer.len == 0 || j->signer.len == QL_PUBKEY_LEN) &&
	          ql_ident_ok(j->action, QL_MAX_ACTION) &&
	          (j->handle[0] == '\0' || ql_ident_ok(j->handle, QL_MAX_HANDLE)) &&
	          ql_selector_check(j->target) == QL_OK && j->n_args <= QL_MAX_ARGS &&
	          ql_text_ok(j->reason, QL_MAX_REASON) && ql_ident_ok(j->state, 16) &&
	          j->created_ms >= 0 && j->finished_ms >= 0;
	for (size_t i = 0; ok && i < j->n_args; i++)
		ok = ql_ident_ok(j->args[i]->key, QL_MAX_ARG_KEY) &&
		     ql_text_ok(j->args[i]->value, QL_MAX_ARG_VALUE);
	uint64_t sum = (uint64_t)j->ok + j->failed + j->rejected + j->timeout + j->unreachable +
	               j->skipped + j->in_progress;
	return ok && sum == j->target_count;
}

static bool mitigation_info_ok(const Quell__MitigationInfo *m)
{
	bool ok = m->id.len == QL_JOB_ID_LEN && ql_ident_ok(m->action, QL_MAX_ACTION) &&
	          (m->handle[0] == '\0' || ql_ident_ok(m->handle, QL_MAX_HANDLE)) &&
	          ql_selector_check(m->target) == QL_OK && m->n_args <= QL_MAX_ARGS &&
	          ql_ident_ok(m->operator_name, QL_MAX_NAME) &&
	          ql_text_ok(m->reason, QL_MAX_REASON) &&
	          (m->incident[0] == '\0' || ql_ident_ok(m->incident, QL_MAX_INCIDENT)) &&
	          m->ttl_seconds <= QL_MAX_TTL;
	for (size_t i = 0; ok && i < m->n_args; i++)
		ok = ql_ident_ok(m->args[i]->key, QL_MAX_ARG_KEY) &&
		     ql_text_ok(m->args[i]->value, QL_MAX_ARG_VALUE);
	for (size_t i = 0; ok && i < m->n_hosts; i++)
		ok = ql_hostname_ok(m->hosts[i]->hostname) && ql_ident_ok(m->hosts[i]->state, 16) &&
		     ql_text_ok(m->hosts[i]->cause, 16) &&
		     ql_text_ok(m->hosts[i]->detail, QL_MAX_DETAIL);
	return ok;
}

static bool automation_ok(const Quell__AutomationStatus *a)
{
	bool ok = ql_text_ok(a->paused_by, QL_MAX_NAME) &&
	          ql_text_ok(a->paused_reason, QL_MAX_REASON) && a->n_rules <= QL_MAX_RULES;
	for (size_t i = 0; ok && i < a->n_rules; i++) {
		const Quell__RuleStatus *r = a->rules[i];
		ok = ql_ident_ok(r->name, QL_MAX_NAME) && ql_ident_ok(r->kind, 16) &&
		     ql_text_ok(r->action, QL_MAX_DETAIL) &&
		     ql_text_ok(r->target, QL_MAX_SELECTOR) &&
		     ql_text_ok(r->last_held, QL_MAX_DETAIL);
	}
	return ok;
}

static bool record_ok(const Quell__AuditRecord *r)
{
	return ql_ident_ok(r->kind, 32) &&
	       (r->incident[0] == '\0' || ql_ident_ok(r->incident, QL_MAX_INCIDENT)) &&
	       (r->job_id.len == 0 || r->job_id.len == QL_JOB_ID_LEN) &&
	       (r->host[0] == '\0' || ql_hostname_ok(r->host)) && ql_text_ok(r->actor, 256) &&
	       ql_text_ok(r->text, 4 * QL_MAX_DETAIL) && ql_text_ok(r->data, 16 * QL_MAX_DETAIL);
}

enum ql_err ql_control_reply_decode(const uint8_t *buf, size_t len, Quell__ControlReply **out)
{
	*out = NULL;
	if (len > QL_MAX_CONTROL_REPLY)
		return QL_ERR_TOO_BIG;
	*out = quell__control_reply__unpack(NULL, len, buf);
	if (*out == NULL)
		return QL_ERR_MALFORMED;
	Quell__ControlReply *r = *out;
	/* The coordinator is trusted less than an operator: its strings reach a
	 * terminal, so no control characters get through. */
	bool ok = ql_text_ok(r->error, QL_MAX_DETAIL) && ql_text_ok(r->error_code, 64) &&
	          ql_text_ok(r->action, QL_MAX_ACTION) &&
	          (r->job_id.len == 0 || r->job_id.len == QL_JOB_ID_LEN);
	for (size_t i = 0; ok && i < r->n_results; i++) {
		Quell__HostResult *h = r->results[i];
		ok = ql_hostname_ok(h->hostname) && ql_ident_ok(h->status, 16) &&
		     ql_text_ok(h->reason, 64) && ql_text_ok(h->detail, QL_MAX_DETAIL);
	}
	for (size_t i = 0; ok && i < r->n_agents; i++) {
		Quell__AgentInfo *a = r->agents[i];
		ok = ql_hostname_ok(a->hostname) && labels_ok(a->labels, a->n_labels) &&
		     ql_text_ok(a->version, QL_MAX_VERSION) && checks_ok(a->checks, a->n_checks);
	}
	for (size_t i = 0; ok && i < r->n_targets; i++)
		ok = ql_hostname_ok(r->targets[i]);
	ok = ok && r->n_jobs <= QL_MAX_JOBS_LIST && (r->job == NULL || job_info_ok(r->job));
	for (size_t i = 0; ok && i < r->n_jobs; i++)
		ok = job_info_ok(r->jobs[i]);
	ok = ok && r->n_mitigations <= QL_MAX_MITIGATIONS_LIST &&
	     r->n_records <= QL_MAX_TIMELINE_PAGE;
	for (size_t i = 0; ok && i < r->n_mitigations; i++)
		ok = mitigation_info_ok(r->mitigations[i]);
	for (size_t i = 0; ok && i < r->n_records; i++)
		ok = record_ok(r->records[i]);
	ok = ok && (r->automation == NULL || automation_ok(r->automation));
	ok = ok &&
	     (r->audit == NULL || (ql_text_ok(r->audit->problem, QL_MAX_DETAIL) &&
	                           (r->audit->head.len == 0 || r->audit->head.len == QL_HASH_LEN)));
	if (!ok) {
		quell__control_reply__free_unpacked(r, NULL);
		*out = NULL;
		return QL_ERR_MALFORMED;
	}
	return QL_OK;
}

enum ql_err ql_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	*out = malloc(n ? n : 1);
	if (*out == NULL) {
		*out_len = 0;
		return QL_ERR_NOMEM;
	}
	protobuf_c_message_pack(msg, *out);
	*out_len = n;
	return QL_OK;
}
