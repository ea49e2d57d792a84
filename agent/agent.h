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
#include "ql.h"

struct qa_agent;

/*
 * Create an agent from a loaded config (ownership moves to the agent), load
 * its key, open its store. On failure returns an error and a sentence in why;
 * the config is freed either way.
 */
QL_NODISCARD enum ql_err qa_agent_new(struct qa_config *cfg, struct qa_agent **out, char *why,
                                      size_t whylen);
/* Start dialling. Returns once sockets are set up; connecting is asynchronous. */
QL_NODISCARD enum ql_err qa_agent_start(struct qa_agent *a, char *why, size_t whylen);
/* Stop all network activity and wait for in-flight callbacks. */
void qa_agent_stop(struct qa_agent *a);
void qa_agent_free(struct qa_agent *a);

#endif
