/*
 * coord.c: the coordinator's lifecycle: open the store, load the inventory,
 * listen on the agent and control sockets (REP, long-poll context pools),
 * and run the tick that expires held polls and job deadlines.
 *
 * Why REQ/REP long-polling: nng's survey and pub/sub patterns drop messages
 * silently and cannot address one host. With each agent as a REQ client
 * that always has one request outstanding, the coordinator can answer that
 * one agent the moment it has work, knows exactly which agent every message
 * came from (its signature), and the agent's REQ socket resends a request
 * whose connection died. Delivery is confirmed by the agent's signed result,
 * and redelivered until then; the agent's job-id store makes it run once.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "coord.h"
#include "log.h"
#include "mitigations.h"
#include "rules.h"
#include "store.h"
#include "transport.h"

#define TICK_MS 100
#define ALIVE_MS 10000 /* no tick for this long: the lock is stuck (qc_alive) */
#define AGENT_RECEIVERS 64
#define AGENT_MAX_CTX 262144
#define CTL_RECEIVERS 8
#define CTL_MAX_CTX 1024

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct qc *c = arg;
	(void)ev;
	/* No coordinator lock here: queue it for the tick. */
	pthread_mutex_lock(&c->pipe_lock);
	if (c->n_gone == c->cap_gone) {
		size_t cap = c->cap_gone ? 2 * c->cap_gone : 64;
		uint32_t *g = realloc(c->gone_pipes, cap * sizeof *g);
		if (g) {
			c->gone_pipes = g;
			c->cap_gone = cap;
		}
	}
	if (c->n_gone < c->cap_gone)
		c->gone_pipes[c->n_gone++] = (uint32_t)nng_pipe_id(p);
	pthread_mutex_unlock(&c->pipe_lock);
}

static void tick_cb(void *arg)
{
	struct qc *c = arg;
	if (nng_aio_result(c->tick) == NNG_ECANCELED)
		return;
	uint32_t gone[256];
	size_t n;
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	do {
		pthread_mutex_lock(&c->pipe_lock);
		n = c->n_gone < 256 ? c->n_gone : 256;
		if (n)
			memcpy(gone, c->gone_pipes + c->n_gone - n, n * sizeof *gone);
		c->n_gone -= n;
		pthread_mutex_unlock(&c->pipe_lock);
		for (size_t i = 0; i < n; i++)
			qc_agents_pipe_gone(c, gone[i]);
	} while (n == 256);
	int64_t now = qc_now_ms();
	atomic_store(&c->ticked_ms, now);
	qc_pool_expire(&c->agent_pool, now);
	qc_pool_expire(&c->ctl_pool, now);
	qc_jobs_tick(c, now);
	qc_rules_tick(c, now);
	pthread_mutex_unlock(&c->lock);
	nng_sleep_aio(TICK_MS, c->tick);
}

static enum ql_err listen_on(nng_socket *s, bool *open, const char *url,
                             const struct ql_tls_files *tls, enum ql_tls_role role, char *why,
                             size_t whylen, const char *what)
{
	char how[512];
	int rv = nng_rep0_open(s);
	if (rv == 0) {
		*open = true;
		if (ql_socket_limit(*s, QL_MAX_MSG) != QL_OK)
			rv = NNG_EINVAL;
	}
	if (rv != 0) {
		snprintf(why, whylen, "cannot listen for %s on %s: %s", what, url,
		         nng_strerror(rv));
		return QL_ERR_TRANSPORT;
	}
	enum ql_err err = ql_tls_listen(*s, url, role, tls, how, sizeof how);
	if (err != QL_OK)
		snprintf(why, whylen, "cannot listen for %s: %s", what, how);
	return err;
}

enum ql_err qc_start(struct qc_config *cfg, struct qc **out, char *why, size_t whylen)
{
	struct qc *c = calloc(1, sizeof *c);
	enum ql_err err;
	*out = NULL;
	if (c == NULL) {
		qc_config_free(cfg);
		snprintf(why, whylen, "out of memory");
		return QL_ERR_NOMEM;
	}
	c->cfg = cfg;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->pipe_lock, NULL);
	c->agent_pool.on_request = qc_agents_on_request;
	c->agent_pool.pre_request = qc_agents_pre_request;
	c->agent_pool.pre_free = qc_agents_pre_free;
	c->agent_pool.on_expire = qc_agents_on_expire;
	c->agent_pool.arg = c;
	c->ctl_pool.on_request = qc_control_on_request;
	c->ctl_pool.on_expire = qc_control_on_expire;
	c->ctl_pool.arg = c;
	c->agent_pool.parked.next = c->agent_pool.parked.prev = &c->agent_pool.parked;
	c->ctl_pool.parked.next = c->ctl_pool.parked.prev = &c->ctl_pool.parked;

	err = qc_store_open(cfg->state_dir, &c->store);
	if (err != QL_OK) {
		snprintf(why, whylen, "state store in %s: %s", cfg->state_dir, ql_strerror(err));
		goto fail;
	}
	err = qc_mitigations_init(c->store);
	if (err != QL_OK) {
		snprintf(why, whylen, "state store in %s: %s", cfg->state_dir, ql_strerror(err));
		goto fail;
	}
	err = qc_agents_load(c);
	if (err != QL_OK) {
		snprintf(why, whylen, "cannot load the inventory: %s", ql_strerror(err));
		goto fail;
	}
	err = qc_jobs_resume(c);
	if (err != QL_OK) {
		snprintf(why, whylen, "cannot load unfinished jobs: %s", ql_strerror(err));
		goto fail;
	}
	if ((err = qc_rules_start(c, why, whylen)) != QL_OK)
		goto fail;
	if (ql_url_tls(cfg->agent_listen) &&
	    (err = ql_tls_ca_load(cfg->tls.ca, &c->tls_ca, why, whylen)) != QL_OK)
		goto fail;
	err = listen_on(&c->agent_sock, &c->agent_open, cfg->agent_listen, &cfg->tls, QL_TLS_AGENTS,
	                why, whylen, "agents");
	if (err != QL_OK)
		goto fail;
	nng_pipe_notify(c->agent_sock, NNG_PIPE_EV_REM_POST, pipe_cb, c);
	err = listen_on(&c->ctl_sock, &c->ctl_open, cfg->control_listen, &cfg->tls, QL_TLS_CONTROL,
	                why, whylen, "the CLI");
	if (err != QL_OK)
		goto fail;
	ql_info("coordinator listening: agents on %s, CLI on %s; %u known agents, %zu operators",
	        cfg->agent_listen, cfg->control_listen, HASH_CNT(hh_pk, c->agents_by_pk),
	        cfg->n_operators);
	/* From here on, callbacks run on nng's threads: c is shared, under c->lock. */
	err = QL_ERR_NOMEM;
	if (qc_pool_start(&c->agent_pool, c->agent_sock, &c->lock, AGENT_RECEIVERS,
	                  AGENT_MAX_CTX) != 0 ||
	    qc_pool_start(&c->ctl_pool, c->ctl_sock, &c->lock, CTL_RECEIVERS, CTL_MAX_CTX) != 0 ||
	    nng_aio_alloc(&c->tick, tick_cb, c) != 0) {
		snprintf(why, whylen, "cannot set up sockets: out of memory");
		goto fail;
	}
	atomic_store(&c->ticked_ms, qc_now_ms());
	nng_sleep_aio(TICK_MS, c->tick);
	/* Last: an accepted alert may reach the rules, which submit jobs. */
	err = qc_webhook_start(c, &c->webhook, why, whylen);
	if (err != QL_OK)
		goto fail;
	*out = c;
	return QL_OK;
fail:
	qc_stop(c);
	return err;
}

bool qc_alive(struct qc *c)
{
	return qc_now_ms() - atomic_load(&c->ticked_ms) < ALIVE_MS;
}

void qc_stop(struct qc *c)
{
	if (c == NULL)
		return;
	/* First: no alert arrives while the rest goes away. */
	qc_webhook_stop(c->webhook);
	c->webhook = NULL;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	pthread_mutex_unlock(&c->lock);
	if (c->tick)
		nng_aio_stop(c->tick);
	qc_pool_stop(&c->agent_pool);
	qc_pool_stop(&c->ctl_pool);
	if (c->agent_open)
		nng_close(c->agent_sock);
	if (c->ctl_open)
		nng_close(c->ctl_sock);
	qc_pool_fini(&c->agent_pool);
	qc_pool_fini(&c->ctl_pool);
	ql_tls_ca_free(c->tls_ca);
	if (c->tick)
		nng_aio_free(c->tick);
	qc_rules_free(c);
	qc_jobs_free(c);
	qc_agents_free(c);
	sqlite3_finalize(c->mit_host_save);
	sqlite3_finalize(c->mit_host_known);
	qc_store_close(c->store);
	qc_config_free(c->cfg);
	free(c->gone_pipes);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->pipe_lock);
	free(c);
}
