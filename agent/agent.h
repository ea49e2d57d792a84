/*
 * agent.h: the agent core as a library. main.c is a thin wrapper around it,
 * and the fleet simulator runs thousands of these in one process.
 *
 * The agent dials every configured coordinator (one REQ socket per URL) and
 * long-polls: each request it sends (hello, heartbeat, or the result of the
 * last command) is answered with the next thing to do. All sockets are
 * driven by nng aio callbacks; no thread per coordinator.
 */
#ifndef QA_AGENT_H
#define QA_AGENT_H

#include "config.h"
#include "keys.h"
#include "ql.h"
#include "ql_limits.h"

struct qa_agent;

/*
 * The executor: threads that run admitted commands, one at a time per
 * agent (an agent's actions never overlap). quell-agent's agent makes its
 * own with one thread; the fleet simulator shares one between thousands of
 * agents. It also reaps abandoned children once a second.
 */
struct qa_executor;

QL_NODISCARD enum ql_err qa_executor_new(size_t threads, struct qa_executor **out);
/* Stops the threads. Every agent using it must have been freed. */
void qa_executor_free(struct qa_executor *x);

/* What the simulator's stage timing sees (called with the agent's lock held; be quick). */
enum qa_event {
	QA_EVENT_RECEIVED, /* a command arrived from the coordinator */
	QA_EVENT_ADMITTED, /* its checks are done (signature, policy, handle, store) */
	QA_EVENT_DONE,     /* acted, recorded and signed the result */
	QA_EVENT_SENT,     /* the result went out to the coordinator (first attempt) */
};

struct qa_agent_opts {
	struct qa_executor *executor; /* NULL: the agent makes its own, one thread */
	/* Use this key instead of loading cfg->key_path (ownership moves to the agent). */
	struct ql_secret_key *key;
	/* Job store in memory: NOT crash-safe, for the fleet simulator only. */
	bool memory_store;
	void (*observe)(void *arg, enum qa_event ev, const uint8_t job_id[QL_JOB_ID_LEN]);
	void *observe_arg;
};

/*
 * Create an agent from a loaded config (ownership moves to the agent), load
 * its key, open its store. opts may be NULL (the daemon's defaults). On
 * failure returns an error and a sentence in why; the config (and opts->key)
 * are freed either way.
 */
QL_NODISCARD enum ql_err qa_agent_new(struct qa_config *cfg, const struct qa_agent_opts *opts,
                                      struct qa_agent **out, char *why, size_t whylen);
/* Start dialling. Returns once sockets are set up; connecting is asynchronous. */
QL_NODISCARD enum ql_err qa_agent_start(struct qa_agent *a, char *why, size_t whylen);
/* Stop all network activity, wait for in-flight callbacks and a running action. */
void qa_agent_stop(struct qa_agent *a);
void qa_agent_free(struct qa_agent *a);
/* Can the agent's lock be taken within a few seconds? For the watchdog. */
bool qa_agent_alive(struct qa_agent *a);

#endif
