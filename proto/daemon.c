/*
 * daemon.c: the shared start and stop of both daemons (see daemon.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "keys.h"
#include "log.h"

static const char *daemon_name = "quell";

enum ql_err ql_daemon_init(const char *program, bool verbose, sigset_t *set)
{
	daemon_name = program;
	ql_log_init(program, verbose ? QL_LOG_DEBUG : QL_LOG_INFO);
	if (ql_crypto_init() != QL_OK) {
		ql_error("libsodium failed to initialise");
		return QL_ERR_CRYPTO;
	}
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return QL_OK;
}

static char guard_msg[160];

static void guard_fire(int sig)
{
	(void)sig;
	/* Async-signal-safe: write(2) and _exit(2) only. */
	ssize_t n = write(STDERR_FILENO, guard_msg, strlen(guard_msg));
	(void)n;
	_exit(1);
}

void ql_shutdown_guard(const char *program, unsigned seconds)
{
	snprintf(guard_msg, sizeof guard_msg,
	         "%s error: shutdown did not finish within %u s (nng close hang); "
	         "exiting anyway, state is on disk\n",
	         program, seconds);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = guard_fire;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	alarm(seconds);
}

int ql_daemon_wait(const sigset_t *set)
{
	int sig = 0;
	sigwait(set, &sig);
	ql_info("stopping on signal %d", sig);
	ql_shutdown_guard(daemon_name, QL_SHUTDOWN_LIMIT);
	return sig;
}
