/*
 * pool.c: long-polling REP context pool (see pool.h).
 */
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "pool.h"

int64_t qc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rctx_cb(void *arg);

static void start_recv(struct qc_rctx *rc)
{
	rc->state = QC_RCTX_RECV;
	rc->owner = NULL;
	rc->pool->n_recv++;
	nng_ctx_recv(rc->ctx, rc->aio);
}

/* A context to receive with: a recycled one or a new one, NULL at the cap. */
static struct qc_rctx *get_rctx(struct qc_pool *p)
{
	struct qc_rctx *rc = p->free_list;
	if (rc) {
		p->free_list = rc->next;
		rc->next = NULL;
		return rc;
	}
	if (p->n_total >= p->max_total)
		return NULL;
	rc = calloc(1, sizeof *rc);
	if (rc == NULL)
		return NULL;
	rc->pool = p;
	if (nng_ctx_open(&rc->ctx, p->sock) != 0 || nng_aio_alloc(&rc->aio, rctx_cb, rc) != 0) {
		free(rc);
		return NULL;
	}
	if (p->n_total == p->cap_all) {
		size_t cap = p->cap_all ? 2 * p->cap_all : 64;
		struct qc_rctx **all = realloc(p->all, cap * sizeof *all);
		if (all == NULL) {
			nng_aio_free(rc->aio);
			nng_ctx_close(rc->ctx);
			free(rc);
			return NULL;
		}
		p->all = all;
		p->cap_all = cap;
	}
	p->all[p->n_total++] = rc;
	return rc;
}

static void top_up(struct qc_pool *p)
{
	while (!p->closing && p->n_recv < p->n_recv_target) {
		struct qc_rctx *rc = get_rctx(p);
		if (rc == NULL)
			break;
		start_recv(rc);
	}
}

static void unpark(struct qc_rctx *rc)
{
	if (rc->state == QC_RCTX_PARKED) {
		rc->prev->next = rc->next;
		rc->next->prev = rc->prev;
		rc->next = rc->prev = NULL;
	}
}

void qc_rctx_reply(struct qc_rctx *rc, nng_msg *msg)
{
	unpark(rc);
	rc->owner = NULL;
	rc->state = QC_RCTX_SEND;
	nng_aio_set_msg(rc->aio, msg);
	nng_ctx_send(rc->ctx, rc->aio);
}

void qc_rctx_park(struct qc_rctx *rc, void *owner, int64_t until_ms)
{
	struct qc_pool *p = rc->pool;
	rc->state = QC_RCTX_PARKED;
	rc->owner = owner;
	rc->park_until = until_ms;
	rc->next = &p->parked;
	rc->prev = p->parked.prev;
	p->parked.prev->next = rc;
	p->parked.prev = rc;
}

void qc_pool_expire(struct qc_pool *p, int64_t now_ms)
{
	struct qc_rctx *rc = p->parked.next;
	while (rc != &p->parked) {
		struct qc_rctx *next = rc->next;
		if (rc->park_until <= now_ms)
			p->on_expire(p->arg, rc); /* replies, which unparks */
		rc = next;
	}
}

static void rctx_cb(void *arg)
{
	struct qc_rctx *rc = arg;
	struct qc_pool *p = rc->pool;
	int rv = nng_aio_result(rc->aio);
	/* The state was set (under the lock) before this receive started. */
	void *pre = NULL;
	if (rv == 0 && p->pre_request && rc->state == QC_RCTX_RECV)
		pre = p->pre_request(p->arg, nng_aio_get_msg(rc->aio));

	pthread_mutex_lock(p->lock);
	if (rc->state == QC_RCTX_RECV) {
		p->n_recv--;
		if (rv == 0 && !p->closing) {
			nng_msg *msg = nng_aio_get_msg(rc->aio);
			rc->pipe = nng_msg_get_pipe(msg);
			rc->state = QC_RCTX_BUSY;
			rc->pre = pre;
			pre = NULL;
			p->on_request(p->arg, rc, msg);
			rc->pre = NULL;
			if (rc->state == QC_RCTX_BUSY) {
				/* No reply and not parked (out of memory): drop the request;
				 * the peer asks again (an agent when its receive times out, the
				 * CLI's REQ socket after its resend time). The context is reused.
				 */
				rc->next = p->free_list;
				p->free_list = rc;
			}
		} else if (rv == 0) {
			nng_msg_free(nng_aio_get_msg(rc->aio)); /* arrived as we close */
		} else if (rv != NNG_ECLOSED && !p->closing) {
			ql_warn("receive failed: %s", nng_strerror(rv));
			rc->next = p->free_list;
			p->free_list = rc;
		}
		top_up(p);
	} else if (rc->state == QC_RCTX_SEND) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(rc->aio));
		if (!p->closing) {
			if (p->n_recv < p->n_recv_target) {
				start_recv(rc);
			} else {
				rc->state = QC_RCTX_BUSY;
				rc->next = p->free_list;
				p->free_list = rc;
			}
		}
	}
	pthread_mutex_unlock(p->lock);
	if (pre)
		p->pre_free(pre);
}

int qc_pool_start(struct qc_pool *p, nng_socket sock, pthread_mutex_t *lock, size_t n_recv,
                  size_t max_total)
{
	p->sock = sock;
	p->lock = lock;
	p->n_recv_target = n_recv;
	p->max_total = max_total;
	p->parked.next = p->parked.prev = &p->parked;
	pthread_mutex_lock(lock);
	top_up(p);
	int rv = p->n_recv == n_recv ? 0 : NNG_ENOMEM;
	pthread_mutex_unlock(lock);
	return rv;
}

void qc_pool_stop(struct qc_pool *p)
{
	if (p->lock == NULL)
		return; /* never started (the coordinator failed during start-up) */
	pthread_mutex_lock(p->lock);
	p->closing = true;
	pthread_mutex_unlock(p->lock);
	for (size_t i = 0; i < p->n_total; i++)
		nng_aio_stop(p->all[i]->aio);
}

void qc_pool_fini(struct qc_pool *p)
{
	for (size_t i = 0; i < p->n_total; i++) {
		struct qc_rctx *rc = p->all[i];
		nng_aio_free(rc->aio);
		nng_ctx_close(rc->ctx);
		free(rc);
	}
	free(p->all);
	p->all = NULL;
	p->n_total = 0;
}
