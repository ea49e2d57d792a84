/*
 * test_notify.c: the daemons' systemd notifications (proto/daemon.c), read
 * from a real unix datagram socket as systemd would: READY=1 when the wait
 * starts, STOPPING=1 at the signal; under a watchdog, WATCHDOG=1 every half
 * interval only while the daemon's own liveness check says it is alive, and
 * none for a watchdog meant for another process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "tutil.h"

struct listener {
	int fd;
	char *dir;
	/* what the reader thread saw */
	int ready, watchdog, stopping;
	int want_watchdog; /* send SIGUSR1 after this many, or after the first silence */
};

static atomic_int alive_calls;
static bool say_alive(void *arg)
{
	(void)arg;
	atomic_fetch_add(&alive_calls, 1);
	return true;
}
static bool say_stuck(void *arg)
{
	(void)arg;
	atomic_fetch_add(&alive_calls, 1);
	return false;
}

static void listen_at(struct listener *l, bool abstract)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char name[108];
	memset(l, 0, sizeof *l);
	l->dir = tu_mkdtemp();
	if (abstract)
		snprintf(name, sizeof name, "@quell-test-notify-%ld", (long)getpid());
	else
		snprintf(name, sizeof name, "%s/notify.sock", l->dir);
	size_t len = strlen(name);
	memcpy(sa.sun_path, name, len);
	if (abstract)
		sa.sun_path[0] = '\0';
	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(l->fd >= 0);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sa,
	                      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
	                 0);
	struct timeval tv = {0, 800000}; /* a silence: 4 watchdog half-intervals */
	setsockopt(l->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setenv("NOTIFY_SOCKET", name, 1);
}

static void listen_done(struct listener *l)
{
	close(l->fd);
	tu_rmtree(l->dir);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/* Count what arrives; end the daemon's wait once enough was seen (or a silence). */
static void *reader(void *arg)
{
	struct listener *l = arg;
	char buf[256];
	bool signalled = false;
	for (;;) {
		ssize_t n = recv(l->fd, buf, sizeof buf - 1, 0);
		if (n < 0) {
			if (signalled)
				return NULL;
			signalled = true; /* silence: stop the wait */
			kill(getpid(), SIGUSR1);
			continue;
		}
		buf[n] = '\0';
		l->ready += strstr(buf, "READY=1") != NULL;
		l->watchdog += strcmp(buf, "WATCHDOG=1") == 0;
		l->stopping += strcmp(buf, "STOPPING=1") == 0;
		if (l->stopping)
			return NULL;
		if (!signalled && l->want_watchdog && l->watchdog >= l->want_watchdog) {
			signalled = true;
			kill(getpid(), SIGUSR1);
		}
	}
}

/* Run ql_daemon_wait until the reader sends SIGUSR1. */
static int wait_with(struct listener *l, bool (*alive)(void *))
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_t t;
	atomic_store(&alive_calls, 0);
	assert_int_equal(pthread_create(&t, NULL, reader, l), 0);
	int sig = ql_daemon_wait(&set, alive, NULL);
	alarm(0); /* the shutdown guard it armed: this process goes on */
	pthread_join(t, NULL);
	return sig;
}

static void test_ready_and_stopping(void **state)
{
	(void)state;
	struct listener l;
	listen_at(&l, false);
	assert_int_equal(wait_with(&l, say_alive), SIGUSR1); /* no watchdog: a silence ends it */
	assert_int_equal(l.ready, 1);
	assert_int_equal(l.stopping, 1);
	assert_int_equal(l.watchdog, 0);
	assert_int_equal(atomic_load(&alive_calls), 0);
	listen_done(&l);
}

static void test_abstract_socket(void **state)
{
	(void)state;
	struct listener l;
	listen_at(&l, true);
	ql_notify("READY=1");
	char buf[64];
	ssize_t n = recv(l.fd, buf, sizeof buf, 0);
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "READY=1", 7);
	listen_done(&l);
}

static void test_watchdog_while_alive(void **state)
{
	(void)state;
	struct listener l;
	listen_at(&l, false);
	setenv("WATCHDOG_USEC", "200000", 1);
	char pid[32];
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	l.want_watchdog = 3;
	assert_int_equal(wait_with(&l, say_alive), SIGUSR1);
	assert_int_equal(l.ready, 1);
	assert_true(l.watchdog >= 3);
	assert_true(atomic_load(&alive_calls) >= 3);
	assert_int_equal(l.stopping, 1);
	listen_done(&l);
}

static void test_no_watchdog_when_stuck(void **state)
{
	(void)state;
	struct listener l;
	listen_at(&l, false);
	setenv("WATCHDOG_USEC", "200000", 1);
	l.want_watchdog = 1; /* none may come: the silence ends the wait */
	assert_int_equal(wait_with(&l, say_stuck), SIGUSR1);
	assert_int_equal(l.watchdog, 0);
	assert_true(atomic_load(&alive_calls) >= 2); /* asked, and it said no */
	assert_int_equal(l.stopping, 1);
	listen_done(&l);
}

static void test_watchdog_for_another_process(void **state)
{
	(void)state;
	struct listener l;
	listen_at(&l, false);
	setenv("WATCHDOG_USEC", "200000", 1);
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(wait_with(&l, say_alive), SIGUSR1);
	assert_int_equal(l.watchdog, 0);
	assert_int_equal(atomic_load(&alive_calls), 0);
	listen_done(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ready_and_stopping),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_watchdog_while_alive),
		cmocka_unit_test(test_no_watchdog_when_stuck),
		cmocka_unit_test(test_watchdog_for_another_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
