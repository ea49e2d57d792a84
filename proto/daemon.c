/*
 * daemon.c: the shared start and stop of both daemons (see daemon.h).
 */
#include <pthread.h>

#include "daemon.h"
#include "keys.h"
#include "log.h"

enum ql_err ql_daemon_init(const char *program, bool verbose, sigset_t *set)
{
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

int ql_daemon_wait(const sigset_t *set)
{
	int sig = 0;
	sigwait(set, &sig);
	ql_info("stopping on signal %d", sig);
	return sig;
}
