/*
 * agent.c: the agent's network side, set-up and tear-down (see agent.h; its
 * executor turn is in turn.c, the shared insides in agent_int.h).
 *
 * Each coordinator URL gets a link: one REQ socket with several contexts
 * ("slots"), each driven by an aio callback:
 *
 *     SEND --ok--> RECV --reply--> handle the reply --> next request or free
 *       |            |timeout: heartbeat (poller) / give the slot back (others)
 *       +--error--> WAIT (back off) --> hello (poller)
 *
 * Slot 0 is the poller: it says hello and then always has a request
 * outstanding, which the coordinator holds open and answers the moment it
 * has a command for us. After a command that runs at once (nothing else
 * queued or running) or was answered at once, it waits (HOLD, up to
 * POLL_HOLD_MS, short: meanwhile the coordinator cannot deliver the next
 * command) for that result and sends it as its next request, which the
 * coordinator holds like a heartbeat: one signed message per command instead
 * of two. A slower action gets a heartbeat in the meantime; while commands
 * queue up, the poller asks for the next at once. The other slots carry the
 * remaining results. A request whose connection died fails (nng's REQ resend
 * is off, see RESEND_MS): the link is no longer "ready", the poller says
 * hello on the next connection, and a result whose slot failed, timed out or
 * met a restarted coordinator goes back into the link's outbox, which is
 * kicked whenever an exchange ends: no result is dropped while the agent
 * lives (the coordinator ignores the second copy of one).
 *
 * A command that passes every check goes to the agent's bounded queue,
 * served by the executor, so a slow action (a kill's grace period, a
 * restart) never blocks nng's threads or the other commands' answers; a full
 * queue answers "busy". A redelivery of a job that is queued or running is
 * not answered twice: its result follows when it is done.
 *
 * The executor (executor.c) gives agents turns on its threads (one for
 * quell-agent, a few for the fleet simulator's thousands of agents); in its
 * turn (qa_agent_serve(), turn.c) an agent looks after its mitigations, runs
 * one command of its queue and asks for another turn if more wait: an
 * agent's commands run one after another, in order, and one agent cannot
 * starve the others.
 *
 * Locking: a->lock protects links, slots, outboxes and the queue; the
 * executor's lock its list. Order: a->lock, then the executor's. The store
 * has its own lock. Actions run without either lock held.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "agent_int.h"
#include "codec.h"
#include "envelope.h"
#include "exec.h"
#include "executor.h"
#include "keys.h"
#include "lifecycle.h"
#include "log.h"
#include "messages.h"
#include "proc.h"
#include "ql_limits.h"
#include "store.h"
#include "transport.h"

#define RECV_TIMEOUT_MS 45000 /* longer than the coordinator's idle hold */
/*
 * No REQ resend timer: a request whose reply never comes times out after
 * RECV_TIMEOUT_MS and goes out again from here (heartbeat, or the result
 * back to the outbox); without the timer nng 1.5 fails a request whose pipe
 * died with NNG_ECONNRESET instead of resending it, handled in slot_cb. nng
 * 1.5 keeps all timers of a process in one sorted list (O(n) insertion),
 * which thousands of agents in the fleet simulator spent their CPU walking.
 */
#define RESEND_MS NNG_DURATION_INFINITE
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
#define REFUSED_BACKOFF_MS 30000
#define ERROR_BACKOFF_MS 1000
#define ALIVE_WAIT_S 5   /* the agent lock held longer than this: stuck (qa_agent_alive) */
#define POLL_HOLD_MS 200 /* how long the poller waits for a command's result */

/* Ask the executor for a turn (qa_agent_serve(), turn.c). */
void qa_agent_submit(struct qa_agent *a)
{
	qa_executor_submit(a->x, &a->turn);
}

void qa_agent_observe(struct qa_agent *a, enum qa_event ev, const uint8_t *job_id)
{
	if (a->observe && job_id)
		a->observe(a->observe_arg, ev, job_id);
}

static enum qa_in_flight is_job(const struct job *j, const struct qa_job_key *k,
                                const uint8_t *hash)
{
	if (!j->link || memcmp(j->signer, k->signer, QL_PUBKEY_LEN) != 0 ||
	    memcmp(j->job_id, k->job_id, QL_JOB_ID_LEN) != 0)
		return QA_NOT_IN_FLIGHT;
	return memcmp(j->hash, hash, QL_HASH_LEN) == 0 ? QA_IN_FLIGHT : QA_OTHER_IN_FLIGHT;
}

/* exec.c asks this (with a->lock held) before looking at the store. */
static enum qa_in_flight in_flight(void *arg, const struct qa_job_key *k,
                                   const uint8_t hash[QL_HASH_LEN])
{
	struct qa_agent *a = arg;
	enum qa_in_flight f = is_job(&a->running, k, hash);
	for (size_t i = 0; f == QA_NOT_IN_FLIGHT && i < a->q_len; i++)
		f = is_job(&a->queue[(a->q_head + i) % QUEUE_MAX], k, hash);
	return f;
}

static void checks_changed(void *arg);

enum ql_err qa_agent_new(struct qa_config *cfg, const struct qa_agent_opts *opts,
                         struct qa_agent **out, char *why, size_t whylen)
{
	static const struct qa_agent_opts defaults = {0};
	if (opts == NULL)
		opts = &defaults;
	*out = NULL;
	struct qa_agent *a = calloc(1, sizeof *a);
	if (a == NULL) {
		qa_config_free(cfg);
		ql_key_free(opts->key);
		snprintf(why, whylen, "out of memory");
		return QL_ERR_NOMEM;
	}
	a->cfg = cfg;
	a->turn.serve = qa_agent_serve;
	a->observe = opts->observe;
	a->observe_arg = opts->observe_arg;
	pthread_mutex_init(&a->lock, NULL);
	enum ql_err err = QL_OK;
	if (opts->key) {
		a->key = opts->key;
	} else if ((err = ql_key_load(cfg->key_path, &a->key)) != QL_OK) {
		snprintf(why, whylen, "agent key %s: %s", cfg->key_path, ql_strerror(err));
		goto fail;
	}
	if (cfg->tls.cert && cfg->tls.key &&
	    (err = ql_tls_prove(cfg->tls.cert, cfg->tls.key, a->key->pk, cfg->hostname, &a->proof,
	                        why, whylen)) != QL_OK)
		goto fail;
	err = qa_store_open(opts->memory_store ? NULL : cfg->state_dir, &a->store);
	if (err != QL_OK) {
		snprintf(why, whylen, "state store in %s: %s", cfg->state_dir, ql_strerror(err));
		goto fail;
	}
	a->x = opts->executor;
	if (a->x == NULL) {
		if ((err = qa_executor_new(1, &a->x)) != QL_OK) {
			snprintf(why, whylen, "cannot start the executor thread");
			goto fail;
		}
		a->own_x = true;
	}
	a->env = (struct qa_exec_env){a->cfg, a->key, a->store, in_flight, a};
	if ((err = qa_health_new(cfg, checks_changed, a, &a->health)) != QL_OK) {
		snprintf(why, whylen, "health checks: %s", ql_strerror(err));
		goto fail;
	}
	*out = a;
	return QL_OK;
fail:
	qa_agent_free(a);
	return err;
}

/* The certificate proof only where TLS hides it: seen on a plain tcp://
 * link, a hello carrying it could be replayed over TLS by any holder of a
 * fleet certificate. */
static nng_msg *make_hello(struct link *l)
{
	struct qa_agent *a = l->agent;
	return qa_msg_hello(a->cfg, a->key, ql_url_tls(l->url) ? &a->proof : NULL, a->health);
}

static nng_msg *make_heartbeat(struct link *l)
{
	return qa_msg_heartbeat(l->agent->cfg, l->agent->key, ++l->seq, l->agent->health);
}

/* ---- slots (a->lock held) -------------------------------------------------------- */

/*
 * Back off for ms, give or take half (jitter): a coordinator that refused or
 * failed a whole fleet at once does not get the whole fleet back at once.
 * (Reconnects are nng's: exponential from RECONNECT_MIN_MS to
 * RECONNECT_MAX_MS, each wait drawn at random below the current step.)
 */
static void slot_wait(struct slot *sl, nng_duration ms)
{
	sl->state = SLOT_WAIT;
	nng_sleep_aio(ms / 2 + (nng_duration)randombytes_uniform((uint32_t)ms), sl->aio);
}

/*
 * Forgetting old job ids is the executor's work (SQLite, off nng's threads);
 * the agent asks for it on its way out, at most every PRUNE_EVERY_S.
 */
static void maybe_prune(struct qa_agent *a)
{
	int64_t now = ql_now();
	if (now < a->next_prune || a->stopping)
		return;
	a->next_prune = now + PRUNE_EVERY_S;
	a->prune_due = true;
	qa_agent_submit(a);
}

static void slot_send(struct slot *sl, nng_msg *msg)
{
	maybe_prune(sl->link->agent);
	if (msg == NULL) {
		/* Out of memory: try again shortly rather than wedge the link. */
		slot_wait(sl, ERROR_BACKOFF_MS);
		return;
	}
	sl->state = SLOT_SEND;
	nng_aio_set_msg(sl->aio, msg);
	nng_aio_set_timeout(sl->aio, NNG_DURATION_INFINITE);
	nng_ctx_send(sl->ctx, sl->aio);
}

static void outbox_push(struct link *l, struct outmsg *m, bool front)
{
	if (front) {
		m->next = l->outbox;
		l->outbox = m;
		if (l->outbox_tail == &l->outbox)
			l->outbox_tail = &m->next;
	} else {
		m->next = NULL;
		*l->outbox_tail = m;
		l->outbox_tail = &m->next;
	}
}

struct outmsg *qa_outbox_add(struct link *l, uint8_t *data, size_t len, const uint8_t *job_id)
{
	struct outmsg *m = calloc(1, sizeof *m);
	if (m == NULL) {
		ql_error(
			"out of memory: a result is lost; a redelivery is answered from the store");
		free(data);
		return NULL;
	}
	m->data = data;
	m->len = len;
	if (job_id)
		memcpy(m->job_id, job_id, QL_JOB_ID_LEN);
	outbox_push(l, m, false);
	return m;
}

/* The outbox's first result onto sl, sent; false (left in the outbox) if out of memory. */
static bool send_next_result(struct slot *sl)
{
	struct link *l = sl->link;
	struct outmsg *m = l->outbox;
	nng_msg *msg = m->heartbeat ? make_heartbeat(l) : ql_msg_new(m->data, m->len);
	if (msg == NULL)
		return false;
	l->outbox = m->next;
	if (l->outbox == NULL)
		l->outbox_tail = &l->outbox;
	sl->carrying = m;
	slot_send(sl, msg);
	return true;
}

/* Put results on the holding poller and free result slots while the coordinator knows us. */
void qa_outbox_kick(struct link *l)
{
	if (!l->ready || l->agent->stopping)
		return;
	struct slot *poller = &l->slots[0];
	/* The result the poller waited for (or another): its next request. */
	if (poller->state == SLOT_HOLD && l->outbox && !send_next_result(poller))
		slot_send(poller, make_heartbeat(l));
	for (size_t i = 1; i < l->n_slots && l->outbox; i++) {
		struct slot *sl = &l->slots[i];
		if (sl->state == SLOT_FREE && !send_next_result(sl))
			return; /* out of memory: try again on the next kick */
	}
}

/*
 * The check thread: a check changed state. A heartbeat goes out now through
 * the outbox (on the poller if it is holding, else on a free result slot,
 * which the coordinator answers at once while it holds our poll), rather
 * than with the next poll up to hold_seconds later. A link that is not
 * ready gets nothing: its hello will carry the states.
 */
static void checks_changed(void *arg)
{
	struct qa_agent *a = arg;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; !a->stopping && i < a->n_links; i++) {
		struct link *l = &a->links[i];
		if (!l->ready)
			continue;
		bool queued = false;
		for (struct outmsg *m = l->outbox; m && !queued; m = m->next)
			queued = m->heartbeat; /* not sent yet: it will carry the new state */
		struct outmsg *m = queued ? NULL : calloc(1, sizeof *m);
		if (m) {
			m->heartbeat = true;
			outbox_push(l, m, false);
		}
		qa_outbox_kick(l);
	}
	pthread_mutex_unlock(&a->lock);
}

/* The result a slot carried was not acknowledged: it goes out again. */
static void slot_requeue(struct slot *sl)
{
	if (sl->carrying && sl->carrying->heartbeat) {
		free(sl->carrying); /* the next heartbeat or hello has the states */
		sl->carrying = NULL;
	} else if (sl->carrying) {
		outbox_push(sl->link, sl->carrying, true);
		sl->carrying = NULL;
	}
}

/* The poller waits for the result of the command it just delivered. */
static void poller_hold(struct slot *sl)
{
	struct link *l = sl->link;
	sl->state = SLOT_HOLD;
	l->hold_until = ql_mono_ms() + POLL_HOLD_MS;
	if (!l->hold_armed) { /* else the pending timer sees the new deadline */
		l->hold_armed = true;
		nng_sleep_aio(POLL_HOLD_MS, l->hold_aio);
	}
}

/* The hold timer: no result in time (a slow action), so a heartbeat. */
static void hold_cb(void *arg)
{
	struct link *l = arg;
	struct qa_agent *a = l->agent;
	int rv = nng_aio_result(l->hold_aio);
	pthread_mutex_lock(&a->lock);
	l->hold_armed = false;
	struct slot *poller = &l->slots[0];
	if (rv == 0 && !a->stopping && poller->state == SLOT_HOLD) {
		int64_t left = l->hold_until - ql_mono_ms();
		if (left > 0) {
			l->hold_armed = true;
			nng_sleep_aio((nng_duration)left, l->hold_aio);
		} else {
			slot_send(poller, make_heartbeat(l));
		}
	}
	pthread_mutex_unlock(&a->lock);
}

/* The coordinator answered the request that carried a result or events. */
static void carried_acked(struct slot *sl)
{
	struct outmsg *m = sl->carrying;
	if (m == NULL)
		return;
	struct qa_agent *a = sl->link->agent;
	if (m->events_upto > a->events_acked) {
		a->events_acked = m->events_upto;
		a->events_in_flight = false;
		a->ack_due = true;
		qa_agent_submit(a); /* the store forgets them in the executor's turn */
	}
	free(m->data);
	free(m);
	sl->carrying = NULL;
}

/* A slot's exchange is over: what it carried was acknowledged. */
static void slot_done(struct slot *sl)
{
	carried_acked(sl);
	if (sl->poller) {
		slot_send(sl, make_heartbeat(sl->link));
		qa_outbox_kick(
			sl->link); /* results put back meanwhile (e.g. on a lost connection) */
		return;
	}
	sl->state = SLOT_FREE;
	qa_outbox_kick(sl->link);
}

/*
 * A delivered command: check it now, queue it for the executor, or answer
 * at once. True if its result is in the outbox, or will be as soon as the
 * executor has run it (nothing else of this agent's queued or running).
 */
static bool take_command(struct link *l, const Quell__AgentReply *r)
{
	struct qa_agent *a = l->agent;
	enum qa_admit outcome;
	struct qa_pending *p = NULL;
	uint8_t *res = NULL;
	size_t res_len = 0;
	const uint8_t *tag = r->job_id.len == QL_JOB_ID_LEN ? r->job_id.data : NULL;
	qa_agent_observe(a, QA_EVENT_RECEIVED, tag);
	enum ql_err err = qa_exec_admit(&a->env, r->command.data, r->command.len, tag, &outcome, &p,
	                                &res, &res_len);
	qa_agent_observe(a, QA_EVENT_ADMITTED, tag);
	if (err != QL_OK) {
		ql_error("could not produce a result: %s", ql_strerror(err));
		return false;
	}
	if (outcome == QA_ADMIT_RUN) {
		if (a->q_len == QUEUE_MAX) {
			ql_warn("executor queue full (%d commands): answering busy", QUEUE_MAX);
			err = qa_exec_refuse(p, QL_ERR_BUSY, &res, &res_len);
			if (err != QL_OK) {
				ql_error("could not produce a result: %s", ql_strerror(err));
				return false;
			}
		} else {
			struct job *j = &a->queue[(a->q_head + a->q_len++) % QUEUE_MAX];
			const struct qa_job_key *k = qa_pending_key(p);
			j->p = p;
			j->link = l;
			memcpy(j->signer, k->signer, QL_PUBKEY_LEN);
			memcpy(j->job_id, k->job_id, QL_JOB_ID_LEN);
			memcpy(j->hash, qa_pending_hash(p), QL_HASH_LEN);
			qa_agent_submit(a);
			return a->q_len == 1 && a->running.link == NULL;
		}
	}
	if (res) {
		qa_agent_observe(a, QA_EVENT_DONE, tag);
		qa_outbox_add(l, res, res_len, tag);
		return true;
	}
	return false;
}

static void handle_reply(struct slot *sl, nng_msg *reply)
{
	struct link *l = sl->link;
	Quell__AgentReply *r = NULL;
	/* UNTRUSTED: the coordinator's reply; the command inside is verified by exec.c. */
	enum ql_err err = ql_agent_reply_decode(nng_msg_body(reply), nng_msg_len(reply), &r);
	nng_msg_free(reply);
	if (err != QL_OK) {
		ql_warn("%s: unreadable reply from coordinator (%s)", l->url, ql_strerror(err));
		slot_requeue(sl);
		if (sl->poller)
			slot_wait(sl, ERROR_BACKOFF_MS);
		else
			slot_done(sl);
		return;
	}
	switch (r->type) {
	case QUELL__AGENT_REPLY__TYPE__TYPE_IDLE:
		if (sl->poller)
			l->ready = true;
		slot_done(sl);
		break;
	case QUELL__AGENT_REPLY__TYPE__TYPE_HELLO_REQUIRED:
		/* A new pipe, or a restarted coordinator: hello first, then the results. */
		l->ready = false;
		slot_requeue(sl);
		if (sl->poller)
			slot_send(sl, make_hello(l));
		else
			slot_done(sl);
		break;
	case QUELL__AGENT_REPLY__TYPE__TYPE_COMMAND:
		if (sl->poller)
			l->ready = true;
		if (take_command(l, r) && sl->poller) {
			carried_acked(sl); /* acknowledged by this reply */
			poller_hold(sl);
		} else {
			slot_done(sl);
		}
		qa_outbox_kick(l);
		break;
	case QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED:
	default:
		ql_error("%s: coordinator refused this agent: %s", l->url,
		         r->error[0] ? r->error : "no reason given");
		l->ready = false;
		slot_requeue(sl);
		if (sl->poller)
			slot_wait(sl, REFUSED_BACKOFF_MS);
		else
			slot_done(sl);
		break;
	}
	quell__agent_reply__free_unpacked(r, NULL);
}

static void slot_cb(void *arg)
{
	struct slot *sl = arg;
	struct link *l = sl->link;
	struct qa_agent *a = l->agent;
	int rv = nng_aio_result(sl->aio);

	pthread_mutex_lock(&a->lock);
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED || a->stopping) {
		if (sl->state == SLOT_SEND && rv != 0)
			nng_msg_free(nng_aio_get_msg(sl->aio));
		else if (sl->state == SLOT_RECV && rv == 0)
			nng_msg_free(nng_aio_get_msg(sl->aio)); /* a reply that came as we stop */
		slot_requeue(sl);
		sl->state = SLOT_FREE;
		pthread_mutex_unlock(&a->lock);
		return;
	}
	switch (sl->state) {
	case SLOT_SEND:
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(sl->aio));
			ql_warn("%s: send failed: %s", l->url, nng_strerror(rv));
			slot_requeue(sl);
			if (sl->poller)
				slot_wait(sl, ERROR_BACKOFF_MS);
			else
				slot_done(sl);
			break;
		}
		if (sl->carrying && !sl->carrying->heartbeat)
			qa_agent_observe(a, QA_EVENT_SENT, sl->carrying->job_id);
		sl->state = SLOT_RECV;
		nng_aio_set_timeout(sl->aio, RECV_TIMEOUT_MS);
		nng_ctx_recv(sl->ctx, sl->aio);
		break;
	case SLOT_RECV:
		if (rv == NNG_ECONNRESET) {
			/* The connection died under the request (nng does not resend it):
			 * the next coordinator connection starts with hello. */
			l->ready = false;
			slot_requeue(sl);
			if (sl->poller)
				slot_send(sl, make_hello(l));
			else
				slot_done(sl);
			break;
		}
		if (rv != 0) {
			if (rv != NNG_ETIMEDOUT)
				ql_warn("%s: receive failed: %s", l->url, nng_strerror(rv));
			else if (sl->poller && atomic_load(&l->pipes) == 0)
				ql_warn("%s: no connection to the coordinator for %d s (is it up? over "
				        "TLS: its certificate must chain to tls_ca and name "
				        "tls_server_name or the URL's host, and it must accept this "
				        "host's certificate)",
				        l->url, RECV_TIMEOUT_MS / 1000);
			slot_requeue(sl);
			if (sl->poller && rv != NNG_ETIMEDOUT)
				slot_wait(sl, ERROR_BACKOFF_MS);
			else
				slot_done(sl); /* poller: heartbeat; result slot: back to the outbox
				                */
			break;
		}
		handle_reply(sl, nng_aio_get_msg(sl->aio));
		break;
	case SLOT_WAIT:
		slot_send(sl, make_hello(l));
		break;
	case SLOT_HOLD: /* no operation of the slot's aio is pending: hold_cb ends it */
	case SLOT_FREE:
		break;
	}
	pthread_mutex_unlock(&a->lock);
}

/* ---- set-up and tear-down -------------------------------------------------------- */

/* nng's thread, no agent lock: count and log connections. */
static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct link *l = arg;
	(void)p;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&l->pipes, 1);
		ql_info("%s: connected", l->url);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_fetch_sub(&l->pipes, 1);
		ql_info("%s: connection lost; reconnecting", l->url);
	}
}

static enum ql_err link_open(struct link *l, char *why, size_t whylen)
{
	int rv;
	const char *step;
	l->outbox_tail = &l->outbox;
	if ((rv = nng_req0_open(&l->sock)) != 0) {
		step = "open socket";
		goto fail;
	}
	l->open = true;
	if (ql_socket_limit(l->sock, QL_MAX_MSG) != QL_OK ||
	    nng_socket_set_ms(l->sock, NNG_OPT_REQ_RESENDTIME, RESEND_MS) != 0) {
		rv = NNG_EINVAL;
		step = "set socket options";
		goto fail;
	}
	if (ql_tls_dialer(l->sock, l->url, QL_TLS_AGENT, &l->agent->cfg->tls, &l->dialer, why,
	                  whylen) != QL_OK)
		return QL_ERR_CONFIG; /* why names the file or the URL */
	nng_pipe_notify(l->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, l);
	nng_pipe_notify(l->sock, NNG_PIPE_EV_REM_POST, pipe_cb, l);
	nng_dialer_set_ms(l->dialer, NNG_OPT_RECONNMINT, RECONNECT_MIN_MS);
	nng_dialer_set_ms(l->dialer, NNG_OPT_RECONNMAXT, RECONNECT_MAX_MS);
	for (size_t i = 0; i < 1 + RESULT_SLOTS; i++) {
		struct slot *sl = &l->slots[i];
		sl->link = l;
		sl->poller = i == 0;
		if ((rv = nng_ctx_open(&sl->ctx, l->sock)) != 0) {
			step = "open context";
			goto fail;
		}
		if ((rv = nng_aio_alloc(&sl->aio, slot_cb, sl)) != 0) {
			step = "allocate aio";
			goto fail;
		}
		l->n_slots = i + 1;
	}
	if ((rv = nng_aio_alloc(&l->hold_aio, hold_cb, l)) != 0) {
		step = "allocate aio";
		goto fail;
	}
	/* Non-blocking: the agent starts even while the coordinator is down. */
	if ((rv = nng_dialer_start(l->dialer, NNG_FLAG_NONBLOCK)) != 0) {
		step = "start dialer";
		goto fail;
	}
	pthread_mutex_lock(&l->agent->lock);
	slot_send(&l->slots[0], make_hello(l));
	pthread_mutex_unlock(&l->agent->lock);
	return QL_OK;
fail:
	snprintf(why, whylen, "%s: %s: %s", l->url, step, nng_strerror(rv));
	return QL_ERR_TRANSPORT;
}

bool qa_agent_alive(struct qa_agent *a)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ALIVE_WAIT_S;
	if (pthread_mutex_timedlock(&a->lock, &until) != 0)
		return false;
	pthread_mutex_unlock(&a->lock);
	return true;
}

enum ql_err qa_agent_start(struct qa_agent *a, char *why, size_t whylen)
{
	qa_config_clean_temps(a->cfg);
	qa_config_warn_readonly(a->cfg);
	/* What a crash left unsettled, before any command can be admitted (an
	 * interrupted job's answer carries the settled mitigation). */
	qa_life_recover(&a->env);
	/* Not at once: start-up is busy enough (thousands at a time in the simulator). */
	a->next_prune = ql_now() + PRUNE_EVERY_S;
	for (size_t i = 0; i < a->cfg->n_coordinators; i++) {
		struct link *l = &a->links[i];
		l->agent = a;
		l->url = a->cfg->coordinators[i];
		a->n_links = i + 1;
		enum ql_err err = link_open(l, why, whylen);
		if (err != QL_OK)
			return err;
	}
	qa_agent_submit(a); /* first turn: mitigations a crash left, TTLs that ran out meanwhile */
	if (qa_health_start(a->health) != QL_OK) {
		snprintf(why, whylen, "cannot start the health check thread");
		return QL_ERR_NOMEM;
	}
	ql_info("agent %s started (%zu coordinator%s, %zu handle%s, %zu signer%s, %zu check%s)",
	        a->cfg->hostname, a->cfg->n_coordinators, a->cfg->n_coordinators == 1 ? "" : "s",
	        a->cfg->n_handles, a->cfg->n_handles == 1 ? "" : "s", a->cfg->n_signers,
	        a->cfg->n_signers == 1 ? "" : "s", a->cfg->n_checks,
	        a->cfg->n_checks == 1 ? "" : "s");
	return QL_OK;
}

void qa_agent_stop(struct qa_agent *a)
{
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_mutex_unlock(&a->lock);
	qa_health_stop(a->health); /* before the links go: it may be queueing a heartbeat */
	for (size_t i = 0; i < a->n_links; i++) {
		struct link *l = &a->links[i];
		for (size_t k = 0; k < l->n_slots; k++)
			nng_aio_stop(l->slots[k].aio);
		if (l->hold_aio)
			nng_aio_stop(l->hold_aio);
		if (l->open) {
			nng_close(l->sock);
			l->open = false;
		}
	}
	/* An action in progress finishes first (bounded by its handle's timeout). */
	if (a->x)
		qa_executor_detach(a->x, &a->turn);
}

void qa_agent_free(struct qa_agent *a)
{
	if (a == NULL)
		return;
	qa_agent_stop(a);
	for (size_t i = 0; i < a->n_links; i++) {
		struct link *l = &a->links[i];
		if (l->hold_aio)
			nng_aio_free(l->hold_aio);
		for (size_t k = 0; k < l->n_slots; k++) {
			nng_aio_free(l->slots[k].aio);
			if (l->slots[k].carrying) {
				free(l->slots[k].carrying->data);
				free(l->slots[k].carrying);
			}
		}
		while (l->outbox) {
			struct outmsg *m = l->outbox;
			l->outbox = m->next;
			free(m->data);
			free(m);
		}
	}
	for (size_t i = 0; i < a->q_len; i++)
		qa_pending_free(a->queue[(a->q_head + i) % QUEUE_MAX].p);
	qa_health_free(a->health);
	if (a->own_x)
		qa_executor_free(a->x);
	qa_store_close(a->store);
	ql_key_free(a->key);
	ql_tls_proof_fini(&a->proof);
	qa_config_free(a->cfg);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
