/*
 * turn.c: an agent's turn on the executor (see agent_int.h): forget old job
 * ids, look after its mitigations (revert what ran out, send what happened
 * to the coordinator, forget what it acknowledged), then run the oldest
 * queued command and put its result in the outbox.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_int.h"
#include "codec.h"
#include "envelope.h"
#include "lifecycle.h"
#include "log.h"

/* Events in the store the outboxes do not have yet: signed, onto every link. */
struct events_batch {
	Quell__MitigationEvent *ev[QL_MAX_EVENTS];
	size_t n;
	int64_t last;
};

static void batch_add(void *arg, int64_t id, const uint8_t *ev, size_t len)
{
	struct events_batch *b = arg;
	/* Our own bytes from our own store; an unreadable row is skipped, not sent. */
	Quell__MitigationEvent *e = quell__mitigation_event__unpack(NULL, len, ev);
	b->last = id;
	if (e)
		b->ev[b->n++] = e;
}

static void send_events(struct qa_agent *a)
{
	pthread_mutex_lock(&a->lock);
	bool busy = a->events_in_flight || a->stopping;
	int64_t after = a->events_acked;
	pthread_mutex_unlock(&a->lock);
	if (busy)
		return;
	struct events_batch b = {.last = after};
	if (qa_store_events(a->store, after, QL_MAX_EVENTS, batch_add, &b) != QL_OK ||
	    b.last == after)
		return;
	Quell__AgentEvents ae = QUELL__AGENT_EVENTS__INIT;
	ae.hostname = a->cfg->hostname;
	ae.time = ql_now();
	ae.events = b.ev;
	ae.n_events = b.n;
	uint8_t *body = NULL, *env = NULL;
	size_t body_len, env_len;
	enum ql_err err = b.n ? ql_pack(&ae.base, &body, &body_len) : QL_OK;
	if (b.n && err == QL_OK)
		err = ql_envelope_seal(QUELL__KIND__KIND_EVENTS, a->key, body, body_len, &env,
		                       &env_len);
	free(body);
	for (size_t i = 0; i < b.n; i++)
		quell__mitigation_event__free_unpacked(b.ev[i], NULL);
	if (err != QL_OK) {
		ql_error("could not sign mitigation events: %s; they go out later",
		         ql_strerror(err));
		return;
	}
	pthread_mutex_lock(&a->lock);
	if (env == NULL) { /* only unreadable rows: nothing to send, forget them */
		a->events_acked = b.last;
		a->ack_due = true;
		qa_agent_submit(a);
	}
	for (size_t i = 0; env && i < a->n_links && !a->stopping; i++) {
		uint8_t *copy = i + 1 < a->n_links ? malloc(env_len) : env;
		if (copy == NULL)
			continue;
		if (copy != env)
			memcpy(copy, env, env_len);
		if (copy == env)
			env = NULL;
		struct outmsg *m = qa_outbox_add(&a->links[i], copy, env_len, NULL);
		if (m == NULL)
			continue;
		m->events_upto = b.last;
		a->events_in_flight = true;
		qa_outbox_kick(&a->links[i]);
	}
	pthread_mutex_unlock(&a->lock);
	free(env);
}

/*
 * The mitigations' part of a turn: revert what is due (on the first turn,
 * whatever ran out while the agent was down), send what happened, forget
 * what the coordinator has.
 */
static void look_after_mitigations(struct qa_agent *a, bool recover, bool ack, int64_t acked)
{
	if (ack && qa_store_events_ack(a->store, acked) != QL_OK)
		ql_warn("could not forget acknowledged mitigation events; they are sent again");
	int64_t now = ql_now();
	if (recover || (a->next_expiry && now >= a->next_expiry)) {
		qa_life_expire(&a->env, now);
		a->next_expiry = -1; /* refreshed below */
	}
	if (a->next_expiry < 0) {
		if (qa_store_mit_next_expiry(a->store, &a->next_expiry) != QL_OK)
			a->next_expiry = now + 1; /* try again shortly */
		qa_executor_wake_at(a->x, &a->turn, a->next_expiry);
	}
	send_events(a);
}

/* One turn: old job ids, mitigations, then the oldest queued command. */
void qa_agent_serve(struct qa_turn *t)
{
	struct qa_agent *a = (struct qa_agent *)((char *)t - offsetof(struct qa_agent, turn));
	pthread_mutex_lock(&a->lock);
	bool prune = a->prune_due && !a->stopping;
	a->prune_due = false;
	bool recover = !a->started;
	a->started = true;
	bool ack = a->ack_due;
	a->ack_due = false;
	int64_t acked = a->events_acked;
	bool stopping = a->stopping;
	pthread_mutex_unlock(&a->lock);
	if (prune && qa_store_prune(a->store, ql_now() - a->cfg->clock_skew - 60) != QL_OK)
		ql_warn("could not prune old job ids");
	if (!stopping)
		look_after_mitigations(a, recover, ack, acked);

	pthread_mutex_lock(&a->lock);
	if (a->stopping || a->q_len == 0) {
		pthread_mutex_unlock(&a->lock);
		return;
	}
	a->running = a->queue[a->q_head];
	a->q_head = (a->q_head + 1) % QUEUE_MAX;
	a->q_len--;
	struct qa_pending *p = a->running.p;
	a->running.p = NULL; /* qa_exec_run frees it */
	pthread_mutex_unlock(&a->lock);

	uint8_t *res = NULL;
	size_t res_len = 0;
	enum ql_err err = qa_exec_run(p, &res, &res_len);
	/* It may have created, ended or extended a mitigation: the next expiry may move. */
	if (qa_store_mit_next_expiry(a->store, &a->next_expiry) != QL_OK)
		a->next_expiry = ql_now() + 1;
	qa_executor_wake_at(a->x, &a->turn, a->next_expiry);

	pthread_mutex_lock(&a->lock);
	struct link *l = a->running.link;
	uint8_t job_id[QL_JOB_ID_LEN];
	memcpy(job_id, a->running.job_id, sizeof job_id);
	a->running = (struct job){0};
	if (err != QL_OK) {
		ql_error("could not sign a result: %s", ql_strerror(err));
	} else {
		qa_agent_observe(a, QA_EVENT_DONE, job_id);
		qa_outbox_add(l, res, res_len, job_id);
		qa_outbox_kick(l);
	}
	if (a->q_len > 0 && !a->stopping)
		qa_agent_submit(a); /* back of the line: the other agents get a turn */
	pthread_mutex_unlock(&a->lock);
}
