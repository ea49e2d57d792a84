/*
 * daemon.c: the shared start and stop of both daemons (see daemon.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
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

/*
 * systemd's notification protocol (sd_notify(3)): one datagram of
 * "KEY=VALUE" lines to the unix socket named in $NOTIFY_SOCKET ('@': the
 * abstract namespace). The protocol is small and stable, and systemd
 * documents it for reimplementation; libsystemd is not worth its memory in
 * an agent that idles on every host. No socket, nothing sent.
 */
void ql_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = path ? strlen(path) : 0;
	if (len < 2 || len >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@'))
		return;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
		ql_debug("sd_notify %s: %s", path, strerror(errno));
	close(fd);
}

/* Half of systemd's watchdog interval for this process, in ms; 0: none. */
static long watchdog_half_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	if (usec == NULL || (pid && strtol(pid, NULL, 10) != (long)getpid()))
		return 0;
	char *end;
	long long us = strtoll(usec, &end, 10);
	if (*end || us <= 0)
		return 0;
	long long ms = us / 2000;
	return ms < 100 ? 100 : ms > 3600000 ? 3600000 : (long)ms;
}

int ql_daemon_wait(const sigset_t *set, bool (*alive)(void *arg), void *arg)
{
	int sig = 0;
	long half = alive ? watchdog_half_ms() : 0;
	ql_notify("READY=1\nSTATUS=running");
	if (half == 0) {
		sigwait(set, &sig);
	} else {
		struct timespec ts = {half / 1000, (half % 1000) * 1000000L};
		bool stuck = false;
		while ((sig = sigtimedwait(set, NULL, &ts)) < 0) {
			if (errno != EAGAIN && errno != EINTR)
				continue;
			if (alive(arg)) {
				ql_notify("WATCHDOG=1");
				stuck = false;
			} else if (!stuck) {
				/* No keep-alive: systemd restarts us when the interval ends. */
				ql_error("the main loop is not making progress; the watchdog will "
				         "restart %s",
				         daemon_name);
				stuck = true;
			}
		}
	}
	ql_notify("STOPPING=1");
	ql_info("stopping on signal %d", sig);
	ql_shutdown_guard(daemon_name, QL_SHUTDOWN_LIMIT);
	return sig;
}
