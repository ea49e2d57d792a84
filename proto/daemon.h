/*
 * daemon.h: what quell-agent and quell-coordinator do alike around their
 * main loop: logging, libsodium, and a signal set that only the main
 * thread's sigwait() sees.
 */
#ifndef QL_DAEMON_H
#define QL_DAEMON_H

#include <signal.h>
#include <stdbool.h>

#include "ql.h"

/*
 * Start logging as `program`, initialise libsodium, ignore SIGPIPE, and block
 * SIGTERM and SIGINT (into *set) before any thread exists, so every thread
 * inherits the mask. Logs the reason and returns an error if it cannot.
 */
QL_NODISCARD enum ql_err ql_daemon_init(const char *program, bool verbose, sigset_t *set);
/* Wait for one of the signals in set; log and return it. */
int ql_daemon_wait(const sigset_t *set);

#endif
