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
/*
 * Tell systemd the daemon is ready, then wait for one of the signals in set;
 * log and return it. Under a systemd watchdog (WatchdogSec=), alive(arg) is
 * asked every half interval and a keep-alive sent only when it says the
 * daemon's own loop is making progress, so a deadlock gets it restarted.
 * From the signal on, a shutdown that takes longer than QL_SHUTDOWN_LIMIT
 * seconds ends the process (see ql_shutdown_guard).
 */
int ql_daemon_wait(const sigset_t *set, bool (*alive)(void *arg), void *arg);
/* Send one sd_notify(3) state ("READY=1", "STATUS=..."); nothing outside systemd. */
void ql_notify(const char *state);

#define QL_SHUTDOWN_LIMIT 10

/*
 * nng 1.5's nng_close() can hang forever on a race inside the library
 * (nanomsg/nng#1543, #1813). Everything durable is on disk before close, so
 * rather than hang a restart, a process that has not exited `seconds` after
 * this call writes one line to stderr and exits with status 1.
 */
void ql_shutdown_guard(const char *program, unsigned seconds);

#endif
