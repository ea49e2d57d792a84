/*
 * health.c: the agent's check thread (see health.h).
 *
 * The thread sleeps on a condition variable (monotonic clock) until the
 * next check is due or the agent stops, runs that one check with no lock
 * held, then records the result under h->lock, which only guards the
 * states (the agent's network side reads them for every hello and
 * heartbeat). A check is next due one interval after its last run
 * started; one that overran its turn (the checks before it were slow) runs
 * as soon as the thread is free, never two at once. Stopping sets an atomic
 * flag that the probes look at while they wait, so the agent's shutdown is
 * not held up by a check's timeout.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "health.h"
#include "log.h"

struct qa_health {
	const struct qa_config *cfg;
	struct qa_check_status *status; /* one per cfg->checks[i]; guarded by lock */
	int64_t *due_ms;                /* monotonic; the thread's own */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	void (*changed)(void *arg);
	void *arg;
};

enum ql_err qa_health_new(const struct qa_config *cfg, void (*changed)(void *arg), void *arg,
                          struct qa_health **out)
{
	*out = NULL;
	if (cfg->n_checks == 0)
		return QL_OK;
	struct qa_health *h = calloc(1, sizeof *h);
	if (h == NULL)
		return QL_ERR_NOMEM;
	h->status = calloc(cfg->n_checks, sizeof *h->status);
	h->due_ms = calloc(cfg->n_checks, sizeof *h->due_ms);
	if (h->status == NULL || h->due_ms == NULL) {
		free(h->status);
		free(h->due_ms);
		free(h);
		return QL_ERR_NOMEM;
	}
	h->cfg = cfg;
	h->changed = changed;
	h->arg = arg;
	atomic_init(&h->stop, false);
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);
	int64_t now = ql_now();
	for (size_t i = 0; i < cfg->n_checks; i++)
		qa_check_status_init(&h->status[i], now);
	*out = h;
	return QL_OK;
}

/* Sleep until the monotonic time `until` (ms) or a wake-up. h->lock held. */
static void sleep_until(struct qa_health *h, int64_t until)
{
	struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000L};
	pthread_cond_timedwait(&h->wake, &h->lock, &ts);
}

static void log_change(const struct qa_check *c, const struct qa_check_status *s)
{
	if (s->state == QA_CHECK_FAILING)
		ql_warn("check %s (%s) is failing: %s", c->name, qa_check_type_name(c->type),
		        s->detail);
	else
		ql_info("check %s (%s) is %s: %s", c->name, qa_check_type_name(c->type),
		        qa_check_state_name(s->state), s->detail);
}

/* Run check i (no lock held), record its result; true if its state changed. */
static bool run_one(struct qa_health *h, size_t i)
{
	const struct qa_check *c = &h->cfg->checks[i];
	char detail[QA_CHECK_DETAIL];
	bool pass = qa_check_run(c, h->cfg, &h->stop, detail, sizeof detail);
	if (atomic_load(&h->stop))
		return false; /* cut short: not a result */
	pthread_mutex_lock(&h->lock);
	bool changed = qa_check_record(&h->status[i], c, pass, detail, ql_now());
	struct qa_check_status now = h->status[i];
	pthread_mutex_unlock(&h->lock);
	if (changed)
		log_change(c, &now);
	else
		ql_debug("check %s: %s (%s)", c->name, pass ? "pass" : "fail", detail);
	return changed;
}

static void *health_main(void *arg)
{
	struct qa_health *h = arg;
	/* libcurl is told not to use signals; a write to a closed socket must not kill us. */
	sigset_t pipe;
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	size_t n = h->cfg->n_checks;
	pthread_mutex_lock(&h->lock);
	while (!atomic_load(&h->stop)) {
		size_t next = 0;
		for (size_t i = 1; i < n; i++)
			if (h->due_ms[i] < h->due_ms[next])
				next = i;
		int64_t now = ql_mono_ms();
		if (h->due_ms[next] > now) {
			sleep_until(h, h->due_ms[next]);
			continue;
		}
		h->due_ms[next] = now + (int64_t)h->cfg->checks[next].interval_s * 1000;
		pthread_mutex_unlock(&h->lock);
		if (run_one(h, next) && h->changed)
			h->changed(h->arg);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

enum ql_err qa_health_start(struct qa_health *h)
{
	if (h == NULL || h->running)
		return QL_OK;
	int64_t now = ql_mono_ms();
	for (size_t i = 0; i < h->cfg->n_checks; i++)
		h->due_ms[i] = now;
	if (pthread_create(&h->thread, NULL, health_main, h) != 0)
		return QL_ERR_NOMEM;
	h->running = true;
	ql_info("running %zu health check%s", h->cfg->n_checks, h->cfg->n_checks == 1 ? "" : "s");
	return QL_OK;
}

void qa_health_stop(struct qa_health *h)
{
	if (h == NULL || !h->running)
		return;
	pthread_mutex_lock(&h->lock);
	atomic_store(&h->stop, true);
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	h->running = false;
}

void qa_health_free(struct qa_health *h)
{
	if (h == NULL)
		return;
	qa_health_stop(h);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h->status);
	free(h->due_ms);
	free(h);
}

struct qa_check_report *qa_health_report(struct qa_health *h, size_t *n)
{
	*n = 0;
	if (h == NULL)
		return NULL;
	struct qa_check_report *r = calloc(h->cfg->n_checks, sizeof *r);
	if (r == NULL)
		return NULL;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->cfg->n_checks; i++) {
		r[i].name = h->cfg->checks[i].name;
		r[i].state = h->status[i].state;
		r[i].since = h->status[i].since;
		memcpy(r[i].detail, h->status[i].detail, sizeof r[i].detail);
	}
	pthread_mutex_unlock(&h->lock);
	*n = h->cfg->n_checks;
	return r;
}
