/*
 * agents.c: the coordinator's side of the agent protocol, and its inventory.
 *
 * Every agent request is a signed envelope: hello (who I am), heartbeat
 * (anything for me?), or result (what I did). The agent is identified by the
 * key that signed it; the hostname is pinned to the first key that claimed
 * it, and a different key for a known hostname is refused. A heartbeat from
 * a pipe the agent did not hello on is answered "hello required", so the
 * inventory's idea of who is connected where is always first-hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "codec.h"
#include "coord.h"
#include "envelope.h"
#include "history.h"
#include "log.h"
#include "mitigations.h"
#include "store.h"
#include "tls.h"
#include "transport.h"

#define HELLO_SKEW 300     /* seconds a hello's clock may be off before we warn */
#define REDELIVER_MS 10000 /* a delivered, unanswered command is sent again after this */
#define PASS_MS 1000       /* heartbeats answered at once past a held poll: at most one per */

struct qc_agent *qc_agent_find(struct qc *c, const uint8_t pk[QL_PUBKEY_LEN])
{
	struct qc_agent *a = NULL;
	HASH_FIND(hh_pk, c->agents_by_pk, pk, QL_PUBKEY_LEN, a);
	return a;
}

static struct qc_agent *find_by_name(struct qc *c, const char *name)
{
	struct qc_agent *a = NULL;
	HASH_FIND(hh_name, c->agents_by_name, name, strlen(name), a);
	return a;
}

static void reply_type(struct qc_rctx *rc, Quell__AgentReply__Type type, const char *error)
{
	Quell__AgentReply r = QUELL__AGENT_REPLY__INIT;
	r.type = type;
	r.error = (char *)(error ? error : "");
	nng_msg *msg = ql_msg_pack(&r.base);
	if (msg == NULL)
		return; /* out of memory: the agent asks again when its receive times out */
	qc_rctx_reply(rc, msg);
}

static void release_parked(struct qc_agent *a, struct qc_rctx *keep)
{
	if (a->parked && a->parked != keep) {
		struct qc_rctx *old = a->parked;
		a->parked = NULL;
		reply_type(old, QUELL__AGENT_REPLY__TYPE__TYPE_IDLE, NULL);
	}
}

/*
 * Is h due for (re)delivery? A pending host is. A delivered one is while its
 * agent works on it (the agent runs commands in the background and answers
 * when done), so it is sent again only if the agent has reconnected since
 * (the reply carrying it may have died with the old connection) or after
 * REDELIVER_MS without an answer. The agent's job store makes a second
 * delivery harmless: it never runs a job twice.
 */
static bool due(const struct qc_jobhost *h, const struct qc_agent *a, int64_t now)
{
	if (h->job->deliver_until_ms < now || (h->deadline_ms && now >= h->deadline_ms))
		return false; /* too late to start; the tick will finalize it */
	if (h->status != QC_HOST_DELIVERED)
		return true;
	return h->delivered_pipe != a->pipe_id || now - h->delivered_at >= REDELIVER_MS;
}

static struct qc_jobhost *next_due(struct qc_agent *a, int64_t now)
{
	struct qc_jobhost *h = a->qhead;
	while (h && !due(h, a, now))
		h = h->qnext;
	return h;
}

static void deliver(struct qc_agent *a, struct qc_rctx *rc, struct qc_jobhost *h, int64_t now)
{
	Quell__AgentReply r = QUELL__AGENT_REPLY__INIT;
	r.type = QUELL__AGENT_REPLY__TYPE__TYPE_COMMAND;
	r.command.data = h->job->env;
	r.command.len = h->job->env_len;
	r.job_id.data = h->job->id;
	r.job_id.len = QL_JOB_ID_LEN;
	nng_msg *msg = ql_msg_pack(&r.base);
	if (msg == NULL)
		return; /* the agent asks again when its receive times out; we try again then */
	if (a->parked == rc)
		a->parked = NULL;
	h->status = QC_HOST_DELIVERED;
	h->delivered_at = now;
	h->delivered_pipe = a->pipe_id;
	h->attempts++;
	qc_rctx_reply(rc, msg);
}

/* Answer rc at once: with the agent's next due command, else "idle". */
static void answer_now(struct qc_agent *a, struct qc_rctx *rc)
{
	int64_t now = qc_now_ms();
	struct qc_jobhost *h = next_due(a, now);
	if (h)
		deliver(a, rc, h, now);
	else
		reply_type(rc, QUELL__AGENT_REPLY__TYPE__TYPE_IDLE, NULL);
}

void qc_agent_next(struct qc *c, struct qc_agent *a, struct qc_rctx *rc)
{
	int64_t now = qc_now_ms();
	struct qc_jobhost *h = next_due(a, now);
	if (h) {
		deliver(a, rc, h, now);
		return;
	}
	if (a->parked != rc)
		a->passed_at_ms = 0;
	a->parked = rc;
	if (rc->state != QC_RCTX_PARKED)
		qc_rctx_park(rc, a, now + c->cfg->hold_ms);
}

bool qc_agent_check(const struct qc_agent *a, const char *name, int *state, int64_t *since)
{
	for (size_t i = 0; i < a->n_checks; i++) {
		if (strcmp(a->checks[i].name, name) == 0) {
			*state = a->checks[i].state;
			*since = a->checks[i].since;
			return true;
		}
	}
	return false;
}

/* Replace an agent's labels with the ones its hello announced. */
static enum ql_err copy_labels(struct qc_agent *a, const Quell__Hello *h)
{
	struct ql_label *labels = calloc(h->n_labels ? h->n_labels : 1, sizeof *labels);
	if (labels == NULL)
		return QL_ERR_NOMEM;
	for (size_t i = 0; i < h->n_labels; i++) {
		labels[i].key = strdup(h->labels[i]->key);
		labels[i].value = strdup(h->labels[i]->value);
		if (labels[i].key == NULL || labels[i].value == NULL) {
			ql_labels_free(labels, i + 1);
			return QL_ERR_NOMEM;
		}
	}
	ql_labels_free(a->labels, a->n_labels);
	a->labels = labels;
	a->n_labels = h->n_labels;
	return QL_OK;
}

void qc_agent_checks_free(struct qc_agent *a)
{
	for (size_t i = 0; i < a->n_checks; i++) {
		free(a->checks[i].name);
		free(a->checks[i].detail);
	}
	free(a->checks);
	a->checks = NULL;
	a->n_checks = 0;
}

/* Replace an agent's health checks with the ones it reported (decoded, so validated). */
static void copy_checks(struct qc_agent *a, Quell__CheckState *const *cs, size_t n)
{
	struct qc_check *k = calloc(n ? n : 1, sizeof *k);
	for (size_t i = 0; k && i < n; i++) {
		k[i].name = strdup(cs[i]->name);
		k[i].detail = strdup(cs[i]->detail);
		k[i].state = cs[i]->state;
		k[i].since = cs[i]->since;
		if (k[i].name == NULL || k[i].detail == NULL) {
			struct qc_agent tmp = {.checks = k, .n_checks = i + 1};
			qc_agent_checks_free(&tmp);
			k = NULL;
		}
	}
	if (k == NULL) {
		ql_warn("out of memory: keeping agent %s's previous health checks", a->hostname);
		return;
	}
	qc_agent_checks_free(a);
	a->checks = k;
	a->n_checks = n;
}

/*
 * Over TLS, a hello must prove that the holder of a fleet certificate for
 * its hostname vouches for its signing key (tls.h). Without the lock: the
 * check costs a chain verification and an ECDSA verification. An empty
 * refusal means the hello may go on (or is not a hello, or TLS is off).
 */
static void check_hello_cert(struct qc *c, const struct ql_opened *o, char *refusal, size_t len)
{
	Quell__Hello *h = NULL;
	refusal[0] = '\0';
	if (c->tls_ca == NULL || o->kind != QUELL__KIND__KIND_HELLO)
		return;
	if (ql_hello_decode(o->body, o->body_len, &h) != QL_OK) {
		/* Malformed, or out of memory now: on_hello decodes again, and that
		 * may succeed, so the hello must not go on unchecked. */
		snprintf(refusal, len, "certificate refused: the hello could not be read");
		return;
	}
	char why[256];
	if (ql_tls_ca_check(c->tls_ca, h->cert.data, h->cert.len, h->cert_sig.data, h->cert_sig.len,
	                    o->signer, h->hostname, why, sizeof why) != QL_OK)
		snprintf(refusal, len, "certificate refused: %s", why);
	quell__hello__free_unpacked(h, NULL);
}

/*
 * A key an operator forgot (`quell agents forget`) is never pinned again:
 * the old agent, or whoever has its key, cannot take the host back. Refused
 * too when the store cannot say (the answer would otherwise be a guess).
 */
static bool key_usable(struct qc *c, struct qc_rctx *rc, const uint8_t pk[QL_PUBKEY_LEN],
                       const char *key)
{
	char was[QL_MAX_HOSTNAME + 1] = "";
	bool forgotten = false;
	if (qc_store_key_forgotten(c->store, pk, was, sizeof was, &forgotten) != QL_OK) {
		reply_type(rc, QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED,
		           "the coordinator cannot read its inventory; try again");
		return false;
	}
	if (forgotten) {
		ql_warn("refused hello from key %s: an operator forgot it (re-enrolment of %s)",
		        key, was);
		reply_type(
			rc, QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED,
			"this agent key was forgotten by an operator (quell agents forget) and is "
			"never accepted again; give the agent a new key (move the old key and "
			".pub away, quell-agent --keygen)");
		return false;
	}
	return true;
}

static void on_hello(struct qc *c, struct qc_rctx *rc, const struct ql_opened *o,
                     const char *refusal)
{
	Quell__Hello *h = NULL;
	char key[9];
	ql_pubkey_short(o->signer, key);
	if (ql_hello_decode(o->body, o->body_len, &h) != QL_OK) {
		ql_warn("malformed hello from key %s", key);
		reply_type(rc, QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED, "malformed hello");
		return;
	}
	int64_t now = ql_now();
	bool skewed = h->time < now - HELLO_SKEW || h->time > now + HELLO_SKEW;
	char stale[160];
	if (c->tls_ca && refusal[0] == '\0' && !ql_pipe_tls_verified(rc->pipe)) {
		refusal = "certificate refused: the connection has no verified client certificate";
	} else if (c->tls_ca && refusal[0] == '\0' && skewed) {
		/* Over TLS, a hello is as fresh as its signed time: an old one
		 * replayed by another certificate holder is refused here. */
		snprintf(stale, sizeof stale,
		         "the hello's time is %lld s off the coordinator's clock (at most %d): "
		         "fix the agent's clock (NTP)",
		         (long long)(h->time - now), HELLO_SKEW);
		refusal = stale;
	}
	if (refusal[0]) {
		ql_warn("refused hello from key %s for host %s: %s", key, h->hostname, refusal);
		reply_type(rc, QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED, refusal);
		quell__hello__free_unpacked(h, NULL);
		return;
	}
	if (skewed)
		ql_warn("agent %s clock is off by %lld s; its commands will be rejected as "
		        "expired or not yet valid",
		        h->hostname, (long long)(h->time - now));

	struct qc_agent *a = qc_agent_find(c, o->signer);
	struct qc_agent *named = find_by_name(c, h->hostname);
	if (a == NULL && !key_usable(c, rc, o->signer, key)) {
		quell__hello__free_unpacked(h, NULL);
		return;
	}
	if (named && named != a) {
		ql_warn("refused hello: host %s is pinned to another agent key (this one is %s)",
		        h->hostname, key);
		reply_type(rc, QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED,
		           "this hostname is pinned to another agent key; an operator must "
		           "re-enrol the host");
		quell__hello__free_unpacked(h, NULL);
		return;
	}
	char *name = NULL;
	if (a == NULL || strcmp(a->hostname, h->hostname) != 0) {
		name = strdup(h->hostname);
		if (name == NULL)
			goto out; /* dropped; the agent sends it again when its receive times out */
	}
	if (a == NULL) {
		a = calloc(1, sizeof *a);
		if (a == NULL) {
			free(name);
			goto out;
		}
		memcpy(a->pk, o->signer, QL_PUBKEY_LEN);
		a->first_seen = now;
		HASH_ADD(hh_pk, c->agents_by_pk, pk, QL_PUBKEY_LEN, a);
		ql_info("new agent %s (key %s)", h->hostname, key);
	} else if (name) {
		ql_info("agent key %s renamed itself from %s to %s", key, a->hostname, h->hostname);
		HASH_DELETE(hh_name, c->agents_by_name, a);
		free(a->hostname);
	}
	if (name) {
		a->hostname = name;
		HASH_ADD_KEYPTR(hh_name, c->agents_by_name, a->hostname, strlen(a->hostname), a);
	}
	if (copy_labels(a, h) != QL_OK)
		goto out;
	/* Over TLS check_hello_cert passed, or it would not be here; a hello over
	 * plain tcp:// (a rename, say) proved nothing. */
	a->cert_verified = c->tls_ca != NULL;
	copy_checks(a, h->checks, h->n_checks);
	a->checks_seq = 0; /* a hello starts the agent's heartbeat numbers again */
	snprintf(a->version, sizeof a->version, "%s", h->version);
	if (!a->connected)
		ql_info("agent %s connected", a->hostname);
	a->connected = true;
	a->pipe_id = (uint32_t)nng_pipe_id(rc->pipe);
	a->last_seen = now;
	if (qc_store_agent_save(c->store, a) != QL_OK)
		ql_warn("could not persist agent %s", a->hostname);
	release_parked(a, rc);
	/* Answered at once, not held: the agent sends the results it kept
	 * across a reconnect only once it knows the hello was accepted. Its next
	 * heartbeat is the request that is held. */
	answer_now(a, rc);
out:
	quell__hello__free_unpacked(h, NULL);
}

/* The agent must have said hello on this very pipe. */
static bool on_known_pipe(const struct qc_agent *a, const struct qc_rctx *rc)
{
	return a && a->connected && a->pipe_id == (uint32_t)nng_pipe_id(rc->pipe);
}

static void on_heartbeat(struct qc *c, struct qc_rctx *rc, const struct ql_opened *o)
{
	Quell__Heartbeat *hb = NULL;
	struct qc_agent *a = qc_agent_find(c, o->signer);
	if (ql_heartbeat_decode(o->body, o->body_len, &hb) != QL_OK || !on_known_pipe(a, rc)) {
		if (hb)
			quell__heartbeat__free_unpacked(hb, NULL);
		reply_type(rc, QUELL__AGENT_REPLY__TYPE__TYPE_HELLO_REQUIRED, NULL);
		return;
	}
	/* Heartbeats may be handled out of order (one from the poller, one sent at
	 * once on a check's change): the newest states win. */
	if (hb->seq > a->checks_seq) {
		copy_checks(a, hb->checks, hb->n_checks);
		a->checks_seq = hb->seq;
	}
	quell__heartbeat__free_unpacked(hb, NULL);
	a->last_seen = ql_now();
	/*
	 * With the agent's poll held, a heartbeat comes from a result slot (a
	 * check changed state): answered at once, the poll stays held. But a
	 * second one within PASS_MS of that means the held request is not the
	 * poller's (a result slot's heartbeat got here before the poller's, and
	 * the poller, answered at once, is asking again): then the held one is
	 * released and this one held, as any new poll displaces an older one,
	 * so the two never answer each other in a loop.
	 */
	int64_t now_ms = qc_now_ms();
	if (a->parked && a->parked != rc &&
	    (a->passed_at_ms == 0 || now_ms - a->passed_at_ms >= PASS_MS)) {
		a->passed_at_ms = now_ms;
		answer_now(a, rc);
		return;
	}
	release_parked(a, rc);
	qc_agent_next(c, a, rc);
}

static void on_result(struct qc *c, struct qc_rctx *rc, const struct ql_opened *o,
                      const uint8_t *env, size_t env_len)
{
	Quell__Result *r = NULL;
	struct qc_agent *a = qc_agent_find(c, o->signer);
	/* Over TLS, only after a hello whose certificate was checked on this very
	 * connection: else a key pinned over plain tcp:// (or whose certificate
	 * expired) would report with any fleet certificate. The agent keeps what
	 * it sends until it is answered, so it sends it again after its hello. */
	if (a == NULL || (c->tls_ca && !on_known_pipe(a, rc))) {
		reply_type(rc, QUELL__AGENT_REPLY__TYPE__TYPE_HELLO_REQUIRED, NULL);
		return;
	}
	Quell__AgentEvents *ev = NULL;
	if (o->kind == QUELL__KIND__KIND_EVENTS) {
		if (ql_events_decode(o->body, o->body_len, &ev) != QL_OK ||
		    strcmp(ev->hostname, a->hostname) != 0) {
			ql_warn("malformed mitigation events from %s", a->hostname);
		} else if (!qc_mitigations_apply(c, a, ev->events, ev->n_events, false, NULL)) {
			/* Not answered: the agent sends them again when its wait times out. */
			quell__agent_events__free_unpacked(ev, NULL);
			return;
		}
		if (ev)
			quell__agent_events__free_unpacked(ev, NULL);
	} else if (ql_result_decode(o->body, o->body_len, &r) != QL_OK) {
		ql_warn("malformed result from %s", a->hostname);
	} else {
		qc_job_result(c, a, r, env, env_len);
		quell__result__free_unpacked(r, NULL);
	}
	a->last_seen = ql_now();
	if (!on_known_pipe(a, rc)) {
		reply_type(rc, QUELL__AGENT_REPLY__TYPE__TYPE_HELLO_REQUIRED, NULL);
		return;
	}
	/* The answer acknowledges the result. With no poll of the agent's held,
	 * the result is its poll (the agent's poller sends a command's result as
	 * its next request): held like a heartbeat. Otherwise: the next command
	 * if one is due, else "idle" at once, and the held poll stays. */
	if (a->parked == NULL)
		qc_agent_next(c, a, rc);
	else
		answer_now(a, rc);
}

/* An agent message with its envelope checked: what pre_request hands on. */
struct opened_msg {
	enum ql_err err;
	struct ql_opened o;
	char refusal[320]; /* check_hello_cert() */
};

static enum ql_err open_agent_msg(nng_msg *msg, struct ql_opened *o)
{
	/* UNTRUSTED: an agent (or anything that reached the agent port). */
	return ql_envelope_open(nng_msg_body(msg), nng_msg_len(msg),
	                        QL_KIND_BIT(QUELL__KIND__KIND_HELLO) |
	                                QL_KIND_BIT(QUELL__KIND__KIND_HEARTBEAT) |
	                                QL_KIND_BIT(QUELL__KIND__KIND_RESULT) |
	                                QL_KIND_BIT(QUELL__KIND__KIND_EVENTS),
	                        o);
}

/* Without the coordinator's lock: the signature check, the costly part. */
void *qc_agents_pre_request(void *arg, nng_msg *msg)
{
	struct opened_msg *m = calloc(1, sizeof *m);
	if (m && (m->err = open_agent_msg(msg, &m->o)) == QL_OK)
		check_hello_cert(arg, &m->o, m->refusal, sizeof m->refusal);
	return m;
}

void qc_agents_pre_free(void *pre)
{
	struct opened_msg *m = pre;
	if (m->err == QL_OK)
		ql_opened_fini(&m->o);
	free(m);
}

void qc_agents_on_request(void *arg, struct qc_rctx *rc, nng_msg *msg)
{
	struct qc *c = arg;
	struct ql_opened o;
	const uint8_t *buf = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	struct opened_msg *m = rc->pre;
	char refusal[sizeof m->refusal];
	enum ql_err err;
	if (m) {
		err = m->err;
		o = m->o; /* ownership moves here */
		memcpy(refusal, m->refusal, sizeof refusal);
		free(m);
	} else if ((err = open_agent_msg(msg, &o)) == QL_OK) { /* pre_request ran out of memory */
		check_hello_cert(c, &o, refusal, sizeof refusal);
	}
	if (err != QL_OK) {
		ql_warn("rejected agent message: %s", ql_strerror(err));
		reply_type(rc, QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED, ql_strerror(err));
		nng_msg_free(msg);
		return;
	}
	switch (o.kind) {
	case QUELL__KIND__KIND_HELLO:
		on_hello(c, rc, &o, refusal);
		break;
	case QUELL__KIND__KIND_HEARTBEAT:
		on_heartbeat(c, rc, &o);
		break;
	default:
		on_result(c, rc, &o, buf, len);
		break;
	}
	ql_opened_fini(&o);
	nng_msg_free(msg);
}

void qc_agents_on_expire(void *arg, struct qc_rctx *rc)
{
	(void)arg;
	struct qc_agent *a = rc->owner;
	if (a && a->parked == rc)
		a->parked = NULL;
	reply_type(rc, QUELL__AGENT_REPLY__TYPE__TYPE_IDLE, NULL);
}

void qc_agents_pipe_gone(struct qc *c, uint32_t pipe_id)
{
	struct qc_agent *a, *tmp;
	HASH_ITER (hh_pk, c->agents_by_pk, a, tmp) {
		if (!a->connected || a->pipe_id != pipe_id)
			continue;
		a->connected = false;
		a->last_seen = ql_now();
		ql_info("agent %s disconnected", a->hostname);
		if (a->parked) {
			struct qc_rctx *rc = a->parked;
			a->parked = NULL;
			reply_type(rc, QUELL__AGENT_REPLY__TYPE__TYPE_IDLE, NULL);
		}
		if (qc_store_agent_save(c->store, a) != QL_OK)
			ql_warn("could not persist agent %s", a->hostname);
	}
}

static void agent_free(struct qc_agent *a)
{
	free(a->hostname);
	ql_labels_free(a->labels, a->n_labels);
	qc_agent_checks_free(a);
	free(a);
}

/*
 * Forgetting frees the agent, so nothing may still point at it: a host of a
 * job that is not answered yet would, so that is refused (the job ends by
 * its deadline at the latest); answered hosts of jobs still in memory let go
 * of it (their reports use the copied hostname).
 */
void qc_agents_forget(struct qc *c, struct qc_rctx *rc, const char *operator_name,
                      const struct Quell__ForgetAgent *f)
{
	struct qc_agent *a = find_by_name(c, f->hostname);
	char msg[512];
	if (a == NULL) {
		snprintf(msg, sizeof msg, "no agent named %s in the inventory", f->hostname);
		qc_control_fail(rc, "not-found", msg);
		return;
	}
	if (a->connected) {
		snprintf(msg, sizeof msg,
		         "agent %s is connected with its pinned key; stop it before re-enrolling "
		         "the host (a forgotten key is never accepted again)",
		         a->hostname);
		qc_control_fail(rc, "busy", msg);
		return;
	}
	for (struct qc_job *j = c->jobs; j; j = j->hh.next) {
		for (size_t i = 0; i < j->n_hosts; i++) {
			if (j->hosts[i].agent == a && !QC_HOST_FINAL(j->hosts[i].status)) {
				char id[2 * QL_JOB_ID_LEN + 1];
				ql_hex(j->id, QL_JOB_ID_LEN, id);
				snprintf(msg, sizeof msg,
				         "job %s still waits for %s (it ends by its deadline); try "
				         "again then",
				         id, a->hostname);
				qc_control_fail(rc, "busy", msg);
				return;
			}
		}
	}
	if (qc_store_agent_forget(c->store, a->pk, a->hostname, operator_name) != QL_OK) {
		qc_control_fail(rc, "store", "could not update the inventory; nothing was changed");
		return;
	}
	for (struct qc_job *j = c->jobs; j; j = j->hh.next)
		for (size_t i = 0; i < j->n_hosts; i++)
			if (j->hosts[i].agent == a)
				j->hosts[i].agent = NULL;
	char key[QL_PUBKEY_B64_LEN], text[768];
	ql_pubkey_format(a->pk, key);
	snprintf(text, sizeof text,
	         "agent key %s of %s forgotten: the next hello re-enrols the host%s%s", key,
	         a->hostname, f->reason[0] ? "; reason: " : "", f->reason);
	struct qc_audit_rec rec = {.kind = "agent-forgotten",
	                           .host = a->hostname,
	                           .actor = operator_name,
	                           .text = text};
	if (qc_audit_append(c->store, &rec) != QL_OK)
		ql_warn("could not write the audit record: %s", text);
	ql_info("%s (by %s)", text, operator_name);

	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	Quell__AgentInfo info = QUELL__AGENT_INFO__INIT, *ptr = &info;
	info.hostname = a->hostname;
	info.version = a->version;
	info.last_seen = a->last_seen;
	info.pubkey.data = a->pk;
	info.pubkey.len = QL_PUBKEY_LEN;
	r.ok = true;
	r.agents = &ptr;
	r.n_agents = 1;
	qc_control_send(rc, &r);

	HASH_DELETE(hh_pk, c->agents_by_pk, a);
	HASH_DELETE(hh_name, c->agents_by_name, a);
	agent_free(a);
}

static void add_loaded(void *arg, struct qc_agent *a)
{
	struct qc *c = arg;
	if (a->hostname == NULL || find_by_name(c, a->hostname) || qc_agent_find(c, a->pk)) {
		agent_free(a);
		return;
	}
	HASH_ADD(hh_pk, c->agents_by_pk, pk, QL_PUBKEY_LEN, a);
	HASH_ADD_KEYPTR(hh_name, c->agents_by_name, a->hostname, strlen(a->hostname), a);
}

/*
 * Over TLS, pins made without a certificate (before TLS was turned on) are
 * the ones to look at: their next hello must prove a certificate for the
 * name, and if something else claimed the name then, the real host is
 * refused until an operator forgets that key.
 */
static void warn_uncertified(struct qc *c)
{
	char names[512] = "";
	size_t n = 0, len = 0;
	struct qc_agent *a, *tmp;
	HASH_ITER (hh_pk, c->agents_by_pk, a, tmp) {
		if (a->cert_verified)
			continue;
		if (n++ < 8 && len < sizeof names)
			len += (size_t)snprintf(names + len, sizeof names - len, "%s%s",
			                        n > 1 ? ", " : "", a->hostname);
	}
	if (n)
		ql_warn("%zu agent%s pinned without a certificate (over plain tcp://): %s%s; each "
		        "must now prove a fleet certificate for its name; if a host is refused as "
		        "'pinned to another agent key', check the pin and `quell agents forget` it",
		        n, n == 1 ? " was" : "s were", names, n > 8 ? ", ..." : "");
}

enum ql_err qc_agents_load(struct qc *c)
{
	enum ql_err err = qc_store_agents_load(c->store, add_loaded, c);
	if (err == QL_OK && ql_url_tls(c->cfg->agent_listen))
		warn_uncertified(c);
	return err;
}

void qc_agents_free(struct qc *c)
{
	struct qc_agent *a, *tmp;
	HASH_CLEAR(hh_name, c->agents_by_name);
	HASH_ITER (hh_pk, c->agents_by_pk, a, tmp) {
		HASH_DELETE(hh_pk, c->agents_by_pk, a);
		agent_free(a);
	}
}
