/*
 * agent.c: the agent's network side (see agent.h).
 *
 * Each coordinator URL gets a link: a REQ socket, one context and one aio
 * whose callback is a small state machine:
 *
 *     SEND --ok--> RECV --reply--> handle reply --> SEND (next request)
 *       |            |timeout: SEND heartbeat
 *       +--error--> WAIT (back off) --> SEND hello
 *
 * REQ gives us at-least-once for free on the agent's side: a request whose
 * pipe dies is resent on the next connection. The coordinator holds an idle
 * poll for a while and answers it the moment a command arrives for us.
 *
 * Commands from any link are executed one at a time under the agent's lock,
 * which also serialises use of the store. Actions here are quick file
 * operations; slow actions will move to an executor thread with a bounded
 * queue.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions/actions.h"
#include "agent.h"
#include "codec.h"
#include "envelope.h"
#include "exec.h"
#include "keys.h"
#include "log.h"
#include "ql_limits.h"
#include "store.h"
#include "transport.h"

#define RECV_TIMEOUT_MS 45000 /* longer than the coordinator's idle hold */
#define RESEND_MS 30000       /* REQ resend if a reply never comes */
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
#define REFUSED_BACKOFF_MS 30000
#define ERROR_BACKOFF_MS 1000

enum link_state { LINK_IDLE, LINK_SEND, LINK_RECV, LINK_WAIT };

struct link {
	struct qa_agent *agent;
	const char *url;
	nng_socket sock;
	nng_dialer dialer;
	nng_ctx ctx;
	nng_aio *aio;
	enum link_state state;
	bool open;
	uint64_t seq;
	int64_t last_prune;
};

struct qa_agent {
	struct qa_config *cfg;
	struct ql_secret_key *key;
	struct qa_store *store;
	pthread_mutex_t lock;
	struct link links[QA_MAX_COORDINATORS];
	size_t n_links;
	bool stopping;
};

enum ql_err qa_agent_new(struct qa_config *cfg, struct qa_agent **out, char *why, size_t whylen)
{
	*out = NULL;
	struct qa_agent *a = calloc(1, sizeof *a);
	if (a == NULL) {
		qa_config_free(cfg);
		snprintf(why, whylen, "out of memory");
		return QL_ERR_NOMEM;
	}
	a->cfg = cfg;
	pthread_mutex_init(&a->lock, NULL);
	enum ql_err err = ql_key_load(cfg->key_path, &a->key);
	if (err != QL_OK) {
		snprintf(why, whylen, "agent key %s: %s", cfg->key_path, ql_strerror(err));
		goto fail;
	}
	err = qa_store_open(cfg->state_dir, &a->store);
	if (err != QL_OK) {
		snprintf(why, whylen, "state store in %s: %s", cfg->state_dir, ql_strerror(err));
		goto fail;
	}
	*out = a;
	return QL_OK;
fail:
	qa_agent_free(a);
	return err;
}

/* Build and sign a hello or heartbeat. */
static nng_msg *make_signed(struct qa_agent *a, Quell__Kind kind, const ProtobufCMessage *body)
{
	uint8_t *b = NULL, *env = NULL;
	size_t blen, elen;
	nng_msg *msg = NULL;
	if (ql_pack(body, &b, &blen) != QL_OK)
		return NULL;
	if (ql_envelope_seal(kind, a->key, b, blen, &env, &elen) == QL_OK)
		msg = ql_msg_new(env, elen);
	free(b);
	free(env);
	return msg;
}

static nng_msg *make_hello(struct qa_agent *a)
{
	Quell__Hello h = QUELL__HELLO__INIT;
	Quell__Label labels[QL_MAX_LABELS], *lp[QL_MAX_LABELS];
	char *actions[QL_MAX_ACTIONS];
	h.hostname = a->cfg->hostname;
	h.version = QL_VERSION;
	h.time = ql_now();
	for (size_t i = 0; i < a->cfg->n_labels; i++) {
		quell__label__init(&labels[i]);
		labels[i].key = a->cfg->labels[i].key;
		labels[i].value = a->cfg->labels[i].value;
		lp[i] = &labels[i];
	}
	h.labels = lp;
	h.n_labels = a->cfg->n_labels;
	for (h.n_actions = 0; qa_actions[h.n_actions] && h.n_actions < QL_MAX_ACTIONS;
	     h.n_actions++)
		actions[h.n_actions] = (char *)qa_actions[h.n_actions]->name;
	h.actions = actions;
	return make_signed(a, QUELL__KIND__KIND_HELLO, &h.base);
}

static nng_msg *make_heartbeat(struct link *l)
{
	Quell__Heartbeat hb = QUELL__HEARTBEAT__INIT;
	hb.hostname = l->agent->cfg->hostname;
	hb.time = ql_now();
	hb.seq = ++l->seq;
	return make_signed(l->agent, QUELL__KIND__KIND_HEARTBEAT, &hb.base);
}

static void link_send(struct link *l, nng_msg *msg)
{
	if (msg == NULL) {
		/* Out of memory: try again shortly rather than wedge the link. */
		l->state = LINK_WAIT;
		nng_sleep_aio(ERROR_BACKOFF_MS, l->aio);
		return;
	}
	l->state = LINK_SEND;
	nng_aio_set_msg(l->aio, msg);
	nng_aio_set_timeout(l->aio, NNG_DURATION_INFINITE);
	nng_ctx_send(l->ctx, l->aio);
}

static void link_wait(struct link *l, nng_duration ms)
{
	l->state = LINK_WAIT;
	nng_sleep_aio(ms, l->aio);
}

/* Run a delivered command and return the signed result as the next request. */
static nng_msg *run_command(struct link *l, const Quell__AgentReply *r)
{
	struct qa_agent *a = l->agent;
	struct qa_exec_env x = {a->cfg, a->key, a->store};
	uint8_t *res = NULL;
	size_t res_len = 0;
	nng_msg *msg = NULL;

	pthread_mutex_lock(&a->lock);
	enum ql_err err =
		qa_exec(&x, r->command.data, r->command.len,
	                r->job_id.len == QL_JOB_ID_LEN ? r->job_id.data : NULL, &res, &res_len);
	int64_t now = ql_now();
	if (now - l->last_prune > 60) {
		l->last_prune = now;
		if (qa_store_prune(a->store, now - a->cfg->clock_skew - 60) != QL_OK)
			ql_warn("could not prune old job ids");
	}
	pthread_mutex_unlock(&a->lock);

	if (err != QL_OK) {
		ql_error("could not produce a result: %s", ql_strerror(err));
		return make_heartbeat(l);
	}
	msg = ql_msg_new(res, res_len);
	free(res);
	return msg;
}

static void handle_reply(struct link *l, nng_msg *reply)
{
	Quell__AgentReply *r = NULL;
	/* UNTRUSTED: the coordinator's reply; the command inside is verified by qa_exec. */
	enum ql_err err = ql_agent_reply_decode(nng_msg_body(reply), nng_msg_len(reply), &r);
	nng_msg_free(reply);
	if (err != QL_OK) {
		ql_warn("%s: unreadable reply from coordinator (%s)", l->url, ql_strerror(err));
		link_wait(l, ERROR_BACKOFF_MS);
		return;
	}
	switch (r->type) {
	case QUELL__AGENT_REPLY__TYPE__TYPE_IDLE:
		link_send(l, make_heartbeat(l));
		break;
	case QUELL__AGENT_REPLY__TYPE__TYPE_HELLO_REQUIRED:
		link_send(l, make_hello(l->agent));
		break;
	case QUELL__AGENT_REPLY__TYPE__TYPE_COMMAND:
		link_send(l, run_command(l, r));
		break;
	case QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED:
	default:
		ql_error("%s: coordinator refused this agent: %s", l->url,
		         r->error[0] ? r->error : "no reason given");
		link_wait(l, REFUSED_BACKOFF_MS);
		break;
	}
	quell__agent_reply__free_unpacked(r, NULL);
}

static void link_cb(void *arg)
{
	struct link *l = arg;
	int rv = nng_aio_result(l->aio);

	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		if (l->state == LINK_SEND)
			nng_msg_free(nng_aio_get_msg(l->aio));
		l->state = LINK_IDLE;
		return;
	}
	switch (l->state) {
	case LINK_SEND:
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(l->aio));
			ql_warn("%s: send failed: %s", l->url, nng_strerror(rv));
			link_wait(l, ERROR_BACKOFF_MS);
			return;
		}
		l->state = LINK_RECV;
		nng_aio_set_timeout(l->aio, RECV_TIMEOUT_MS);
		nng_ctx_recv(l->ctx, l->aio);
		return;
	case LINK_RECV:
		if (rv == NNG_ETIMEDOUT) {
			link_send(l, make_heartbeat(l));
			return;
		}
		if (rv != 0) {
			ql_warn("%s: receive failed: %s", l->url, nng_strerror(rv));
			link_wait(l, ERROR_BACKOFF_MS);
			return;
		}
		handle_reply(l, nng_aio_get_msg(l->aio));
		return;
	case LINK_WAIT:
		link_send(l, make_hello(l->agent));
		return;
	case LINK_IDLE:
		return;
	}
}

static enum ql_err link_open(struct link *l, char *why, size_t whylen)
{
	int rv;
	const char *step;
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
	if ((rv = nng_dialer_create(&l->dialer, l->sock, l->url)) != 0) {
		step = "create dialer";
		goto fail;
	}
	nng_dialer_set_ms(l->dialer, NNG_OPT_RECONNMINT, RECONNECT_MIN_MS);
	nng_dialer_set_ms(l->dialer, NNG_OPT_RECONNMAXT, RECONNECT_MAX_MS);
	/* Non-blocking: the agent starts even while the coordinator is down. */
	if ((rv = nng_dialer_start(l->dialer, NNG_FLAG_NONBLOCK)) != 0) {
		step = "start dialer";
		goto fail;
	}
	if ((rv = nng_ctx_open(&l->ctx, l->sock)) != 0) {
		step = "open context";
		goto fail;
	}
	if ((rv = nng_aio_alloc(&l->aio, link_cb, l)) != 0) {
		step = "allocate aio";
		goto fail;
	}
	link_send(l, make_hello(l->agent));
	return QL_OK;
fail:
	snprintf(why, whylen, "%s: %s: %s", l->url, step, nng_strerror(rv));
	return QL_ERR_TRANSPORT;
}

enum ql_err qa_agent_start(struct qa_agent *a, char *why, size_t whylen)
{
	for (size_t i = 0; i < a->cfg->n_coordinators; i++) {
		struct link *l = &a->links[i];
		l->agent = a;
		l->url = a->cfg->coordinators[i];
		a->n_links = i + 1;
		enum ql_err err = link_open(l, why, whylen);
		if (err != QL_OK)
			return err;
	}
	ql_info("agent %s started (%zu coordinator%s, %zu handle%s, %zu signer%s)",
	        a->cfg->hostname, a->cfg->n_coordinators, a->cfg->n_coordinators == 1 ? "" : "s",
	        a->cfg->n_handles, a->cfg->n_handles == 1 ? "" : "s", a->cfg->n_signers,
	        a->cfg->n_signers == 1 ? "" : "s");
	return QL_OK;
}

void qa_agent_stop(struct qa_agent *a)
{
	a->stopping = true;
	for (size_t i = 0; i < a->n_links; i++) {
		struct link *l = &a->links[i];
		if (l->aio)
			nng_aio_stop(l->aio);
		if (l->open) {
			nng_close(l->sock);
			l->open = false;
		}
	}
}

void qa_agent_free(struct qa_agent *a)
{
	if (a == NULL)
		return;
	qa_agent_stop(a);
	for (size_t i = 0; i < a->n_links; i++)
		if (a->links[i].aio)
			nng_aio_free(a->links[i].aio);
	qa_store_close(a->store);
	ql_key_free(a->key);
	qa_config_free(a->cfg);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
