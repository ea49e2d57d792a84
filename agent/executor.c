/*
 * executor.c: the executor (executor.h): a list of takers waiting for a
 * turn, served in order by a few threads, which also reap abandoned child
 * processes once a second.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "agent.h"
#include "executor.h"
#include "proc.h"

struct qa_executor {
	pthread_mutex_t lock;
	pthread_cond_t wake;         /* a taker was put on the list, or stopping */
	pthread_cond_t idle;         /* a turn ended */
	struct qa_turn *head, *tail; /* takers waiting for a turn, in order */
	struct qa_turn *timed;       /* takers with a wake_at (unordered; few) */
	pthread_t *threads;
	size_t n_threads;
	int64_t last_reap;
	bool stopping;
};

/* Append t to the list (x->lock held). */
static void executor_append(struct qa_executor *x, struct qa_turn *t)
{
	t->queued = true;
	t->next = NULL;
	if (x->tail)
		x->tail->next = t;
	else
		x->head = t;
	x->tail = t;
	pthread_cond_signal(&x->wake);
}

/* Put t on the list if it is not on it or being served (then it goes back after). */
void qa_executor_submit(struct qa_executor *x, struct qa_turn *t)
{
	pthread_mutex_lock(&x->lock);
	if (t->serving)
		t->again = true;
	else if (!t->queued)
		executor_append(x, t);
	pthread_mutex_unlock(&x->lock);
}

static void timed_remove(struct qa_executor *x, struct qa_turn *t)
{
	if (!t->timed)
		return;
	struct qa_turn **pp = &x->timed;
	while (*pp != t)
		pp = &(*pp)->tnext;
	*pp = t->tnext;
	t->tnext = NULL;
	t->timed = false;
}

void qa_executor_wake_at(struct qa_executor *x, struct qa_turn *t, int64_t at)
{
	pthread_mutex_lock(&x->lock);
	t->wake_at = at;
	if (at == 0) {
		timed_remove(x, t);
	} else if (!t->timed) {
		t->tnext = x->timed;
		x->timed = t;
		t->timed = true;
	}
	pthread_mutex_unlock(&x->lock);
}

/* Turns whose time has come go on the list (x->lock held). */
static void timed_due(struct qa_executor *x, int64_t now)
{
	struct qa_turn **pp = &x->timed;
	while (*pp) {
		struct qa_turn *t = *pp;
		if (t->wake_at > now) {
			pp = &t->tnext;
			continue;
		}
		*pp = t->tnext;
		t->tnext = NULL;
		t->timed = false;
		t->wake_at = 0;
		if (t->serving)
			t->again = true;
		else if (!t->queued)
			executor_append(x, t);
	}
}

/* Off the lists; wait out a turn in progress. No lock serve() takes may be held. */
void qa_executor_detach(struct qa_executor *x, struct qa_turn *t)
{
	pthread_mutex_lock(&x->lock);
	for (;;) {
		timed_remove(x, t); /* again after a turn: it may have asked to be woken */
		if (t->queued) {
			struct qa_turn **pp = &x->head, *prev = NULL;
			while (*pp != t) {
				prev = *pp;
				pp = &(*pp)->next;
			}
			*pp = t->next;
			if (x->tail == t)
				x->tail = prev;
			t->queued = false;
		}
		t->again = false;
		if (!t->serving)
			break;
		pthread_cond_wait(&x->idle, &x->lock);
	}
	pthread_mutex_unlock(&x->lock);
}

static void *executor_main(void *arg)
{
	struct qa_executor *x = arg;
	pthread_mutex_lock(&x->lock);
	while (!x->stopping) {
		struct qa_turn *t = x->head;
		if (t == NULL) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&x->wake, &x->lock, &until);
		} else {
			x->head = t->next;
			if (x->head == NULL)
				x->tail = NULL;
			t->next = NULL;
			t->queued = false;
			t->serving = true;
			pthread_mutex_unlock(&x->lock);
			t->serve(t);
			pthread_mutex_lock(&x->lock);
			t->serving = false;
			if (t->again) {
				t->again = false;
				executor_append(x, t);
			}
			pthread_cond_broadcast(&x->idle); /* t may be freed from here on */
		}
		/* Timed turns, and children that outlive their action (instances), once a second.
		 */
		int64_t now = ql_now();
		if (now != x->last_reap) {
			x->last_reap = now;
			timed_due(x, now);
			pthread_mutex_unlock(&x->lock);
			qa_proc_reap();
			pthread_mutex_lock(&x->lock);
		}
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

enum ql_err qa_executor_new(size_t threads, struct qa_executor **out)
{
	*out = NULL;
	struct qa_executor *x = calloc(1, sizeof *x);
	if (x == NULL || threads == 0 ||
	    (x->threads = calloc(threads, sizeof *x->threads)) == NULL) {
		free(x);
		return QL_ERR_NOMEM;
	}
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->wake, NULL);
	pthread_cond_init(&x->idle, NULL);
	for (; x->n_threads < threads; x->n_threads++) {
		if (pthread_create(&x->threads[x->n_threads], NULL, executor_main, x) != 0) {
			qa_executor_free(x);
			return QL_ERR_NOMEM;
		}
	}
	*out = x;
	return QL_OK;
}

void qa_executor_free(struct qa_executor *x)
{
	if (x == NULL)
		return;
	pthread_mutex_lock(&x->lock);
	x->stopping = true;
	pthread_cond_broadcast(&x->wake);
	pthread_mutex_unlock(&x->lock);
	for (size_t i = 0; i < x->n_threads; i++)
		pthread_join(x->threads[i], NULL);
	pthread_cond_destroy(&x->idle);
	pthread_cond_destroy(&x->wake);
	pthread_mutex_destroy(&x->lock);
	free(x->threads);
	free(x);
}
