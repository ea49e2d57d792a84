/*
 * pool.h: a pool of nng REP contexts for long-polling servers.
 *
 * A REP context holds one request until it is answered, so parking a context
 * is how the coordinator holds an agent's poll (or a CLI's watch) open
 * without a thread. The pool keeps `n_recv` contexts receiving at all
 * times; a request's handler either replies at once or parks its context
 * with a deadline, and the pool opens another context to keep receiving.
 * Contexts are recycled, never freed until shutdown, and their number is
 * capped: past the cap, requests wait in nng's queues (back-pressure).
 *
 * Locking: every callback into the owner runs with the owner's lock held.
 */
#ifndef QC_POOL_H
#define QC_POOL_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct qc_pool;

struct qc_rctx {
	struct qc_pool *pool;
	nng_ctx ctx;
	nng_aio *aio;
	enum { QC_RCTX_RECV, QC_RCTX_BUSY, QC_RCTX_PARKED, QC_RCTX_SEND } state;
	int64_t park_until; /* wall ms */
	void *owner;        /* what it is parked for (agent, job) */
	nng_pipe pipe;      /* pipe of the request being handled */
	void *pre;          /* what pre_request made of it, for on_request (which frees it) */
	uint32_t cursor;    /* owner's bookmark while parked (watch cursor) */
	struct qc_rctx *next, *prev;
};

struct qc_pool {
	nng_socket sock;
	pthread_mutex_t *lock;
	size_t n_recv_target, n_recv, n_total, max_total;
	struct qc_rctx *free_list; /* singly linked through next */
	struct qc_rctx parked;     /* sentinel of a circular list */
	struct qc_rctx **all;      /* every context, for shutdown */
	size_t cap_all;
	bool closing;
	/* Called with the lock held. Calls qc_rctx_reply or qc_rctx_park; if it
	 * can do neither (out of memory), the request is dropped and the peer
	 * asks again (an agent when its receive times out, the CLI's REQ socket
	 * after its resend time). */
	void (*on_request)(void *arg, struct qc_rctx *rc, nng_msg *msg);
	/* Optional, called WITHOUT the lock before on_request: the expensive part
	 * that needs no shared state (checking a signature), so the nng threads
	 * do it in parallel. Its result reaches on_request in rc->pre; pre_free
	 * frees it if on_request never runs. */
	void *(*pre_request)(void *arg, nng_msg *msg);
	void (*pre_free)(void *pre);
	/* Called with the lock held when a parked context's time is up. */
	void (*on_expire)(void *arg, struct qc_rctx *rc);
	void *arg;
};

int qc_pool_start(struct qc_pool *p, nng_socket sock, pthread_mutex_t *lock, size_t n_recv,
                  size_t max_total);
/* Answer a request (busy or parked context). Takes ownership of msg. */
void qc_rctx_reply(struct qc_rctx *rc, nng_msg *msg);
void qc_rctx_park(struct qc_rctx *rc, void *owner, int64_t until_ms);
/* Expire parked contexts whose deadline passed. Lock held. */
void qc_pool_expire(struct qc_pool *p, int64_t now_ms);
/* Stop everything (lock NOT held); then the socket may be closed. */
void qc_pool_stop(struct qc_pool *p);
void qc_pool_fini(struct qc_pool *p);

int64_t qc_now_ms(void);

#endif
