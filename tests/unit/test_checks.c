/*
 * test_checks.c: the agent's health checks (agent/checks.c, probes.c,
 * health.c): [check NAME] parsing (every type, and bad values refused with
 * the file and line), the rise/fall hysteresis, and every check type
 * against real local things: a TCP listener, an HTTP server forked by the
 * test (a fixed "HTTP/1.0 503" answer, and one that never answers), a
 * file's age set with utimensat, the temp dir's free space, the load
 * average, programs that pass, fail and hang, a process found through a
 * handle's pidfile; then the check thread itself. Waiting is polling with a
 * deadline, never a fixed sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "checks.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "proc.h"
#include "ql_limits.h"
#include "tutil.h"

struct fixture {
	char *dir, *cfg_path;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->dir = tu_mkdtemp();
	f->cfg_path = tu_path(f->dir, "agent.conf");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->cfg_path);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* A config of the [agent] basics (3 lines) and then text; NULL with why if refused. */
static struct qa_config *load(struct fixture *f, const char *text, char *why, size_t len)
{
	size_t n = strlen(text) + 256;
	char *buf = malloc(n);
	assert_non_null(buf);
	snprintf(buf, n, "[agent]\ncoordinator = tcp://127.0.0.1:1\nkey = /k\nstate_dir = /s\n%s",
	         text);
	unlink(f->cfg_path);
	tu_write_str(f->cfg_path, buf);
	free(buf);
	why[0] = '\0';
	return qa_config_load(f->cfg_path, why, len);
}

static struct qa_config *load_ok(struct fixture *f, const char *text)
{
	char why[1024];
	struct qa_config *cfg = load(f, text, why, sizeof why);
	if (cfg == NULL)
		fail_msg("config refused: %s\n%s", why, text);
	return cfg;
}

static void test_config_types(void **state)
{
	struct fixture *f = *state;
	char text[2048];
	snprintf(text, sizeof text,
	         "[handle worker]\ntype = worker\npidfile = /run/w.pid\n"
	         "[check web]\ntype = http\nurl = http://127.0.0.1:8080/health\n"
	         "[check api]\ntype = http\nurl = https://example.test/\nexpect = 204\n"
	         "interval = 1m\ntimeout = 20s\nrise = 3\nfall = 1\n"
	         "[check redis]\ntype = tcp\naddress = 127.0.0.1:6379\n"
	         "[check six]\ntype = tcp\naddress = [::1]:80\ninterval = 1s\n"
	         "[check worker]\ntype = process\nhandle = worker\n"
	         "[check backup]\ntype = file-age\npath = %s/stamp\nmax_age = 5m\n"
	         "[check var]\ntype = disk-free\npath = %s\nmin_free = 10%%\n"
	         "[check tmp]\ntype = disk-free\npath = %s\nmin_free = 500M\n"
	         "[check load]\ntype = load\nmax = 8.5\n"
	         "[check queue]\ntype = exec\nargv = /bin/true --max 1000\n",
	         f->dir, f->dir, f->dir);
	struct qa_config *c = load_ok(f, text);
	assert_int_equal(c->n_checks, 10);
	const struct qa_check *k = c->checks;
	assert_string_equal(k[0].name, "web");
	assert_int_equal(k[0].type, QA_CHECK_HTTP);
	assert_string_equal(k[0].url, "http://127.0.0.1:8080/health");
	assert_int_equal(k[0].expect, 200);
	assert_int_equal(k[0].interval_s, 10);
	assert_int_equal(k[0].timeout_s, 5);
	assert_int_equal(k[0].rise, 2);
	assert_int_equal(k[0].fall, 2);
	assert_int_equal(k[1].expect, 204);
	assert_int_equal(k[1].interval_s, 60);
	assert_int_equal(k[1].timeout_s, 20);
	assert_int_equal(k[1].rise, 3);
	assert_int_equal(k[1].fall, 1);
	assert_int_equal(k[2].type, QA_CHECK_TCP);
	assert_int_equal(k[2].addr.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&k[2].addr)->sin_port), 6379);
	assert_int_equal(k[3].addr.ss_family, AF_INET6);
	assert_int_equal(k[3].timeout_s, 1); /* the default 5s, cut to the interval */
	assert_int_equal(k[4].type, QA_CHECK_PROCESS);
	assert_string_equal(k[4].handle, "worker");
	assert_int_equal(k[5].type, QA_CHECK_FILE_AGE);
	assert_int_equal(k[5].max_age_s, 300);
	assert_true(k[6].min_free_pct > 9.99 && k[6].min_free_pct < 10.01);
	assert_int_equal(k[7].min_free_bytes, 500ull << 20);
	assert_int_equal(k[8].type, QA_CHECK_LOAD);
	assert_true(k[8].max_load > 8.49 && k[8].max_load < 8.51);
	assert_int_equal(k[9].type, QA_CHECK_EXEC);
	assert_int_equal(k[9].argv.argc, 3);
	assert_string_equal(k[9].argv.argv[2], "1000");
	qa_config_free(c);
}

static void test_config_bad(void **state)
{
	struct fixture *f = *state;
	/* Line numbers count the 4 lines load() puts first. */
	static const struct {
		const char *text;
		int line; /* 0: found after the whole file was read */
		const char *reason;
	} bad[] = {
		{"[check a]\ntype = ping\n", 6, "unknown type 'ping'"},
		{"[check a]\nurl = http://x/\n", 6, "type must be the first key"},
		{"[check a]\ntype = tcp\ntype = tcp\n", 7, "type is set twice"},
		{"[check a]\ntype = tcp\nport = 80\n", 7, "unknown key 'port'"},
		{"[check a]\ntype = tcp\nurl = http://x/\n", 7, "a tcp check takes no 'url'"},
		{"[check a]\ntype = http\nurl = ftp://x/\n", 7, "http:// or https://"},
		{"[check a]\ntype = http\nurl = http://x/ y\n", 7, "http:// or https://"},
		{"[check a]\ntype = http\nexpect = 700\n", 7, "status code from 100 to 599"},
		{"[check a]\ntype = tcp\naddress = localhost:80\n", 7, "numeric"},
		{"[check a]\ntype = tcp\naddress = 127.0.0.1\n", 7, "numeric"},
		{"[check a]\ntype = tcp\naddress = 127.0.0.1:0\n", 7, "numeric"},
		{"[check a]\ntype = tcp\naddress = [::1:80\n", 7, "numeric"},
		{"[check a]\ntype = load\ninterval = 0\n", 7,
	         "interval is a duration from 1s to 1h"},
		{"[check a]\ntype = load\ninterval = 2h\n", 7, "interval is a duration"},
		{"[check a]\ntype = load\ntimeout = 1.5s\n", 7, "timeout is a duration"},
		{"[check a]\ntype = load\nrise = 0\n", 7,
	         "rise must be a whole number from 1 to 10"},
		{"[check a]\ntype = load\nfall = 11\n", 7, "fall must be a whole number"},
		{"[check a]\ntype = load\nmax = -1\n", 7, "max must be a load average"},
		{"[check a]\ntype = load\nmax = nan\n", 7, "max must be a load average"},
		{"[check a]\ntype = disk-free\nmin_free = 0%\n", 7, "min_free is a percentage"},
		{"[check a]\ntype = disk-free\nmin_free = 100%\n", 7, "min_free is a percentage"},
		{"[check a]\ntype = disk-free\nmin_free = 5X\n", 7, "min_free is a percentage"},
		{"[check a]\ntype = disk-free\nmin_free = 99999999T\n", 7, "min_free"},
		{"[check a]\ntype = file-age\npath = stamp\n", 7, "absolute path"},
		{"[check a]\ntype = file-age\nmax_age = 60d\n", 7, "max_age is a duration"},
		{"[check a]\ntype = exec\nargv = true\n", 7, "absolute path of a program"},
		{"[check a]\ntype = exec\nargv = /nonexistent/check\n", 7, "No such file"},
		{"[check a]\ntype = process\nhandle = a b\n", 7, "handle must name"},
		{"[check a-b c]\ntype = load\n", 6, "unknown section"}, /* inih: the key's line */
		/* Whole-section checks, after the file is read. */
		{"[check a]\ntype = http\n", 0, "[check a] (http) needs url"},
		{"[check a]\ntype = file-age\npath = /x\n", 0, "needs path = PATH and max_age"},
		{"[check a]\ntype = load\n", 0, "needs max = LOAD"},
		{"[check a]\ntype = load\nmax = 1\ninterval = 5s\ntimeout = 10s\n", 0,
	         "timeout (10s) is longer than interval (5s)"},
		{"[check a]\ntype = process\nhandle = nope\n", 0, "names no [handle]"},
		{"[handle site]\ntype = maintenance\nfile = /tmp/m\n"
	         "[check a]\ntype = process\nhandle = site\n",
	         0, "without a process match"},
		{"[check a]\ntype = disk-free\npath = /nonexistent/dir\nmin_free = 1%\n", 0,
	         "No such file"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char why[1024];
		struct qa_config *cfg = load(f, bad[i].text, why, sizeof why);
		if (cfg != NULL) {
			qa_config_free(cfg);
			fail_msg("config #%zu was accepted:\n%s", i, bad[i].text);
		}
		char where[4200];
		if (bad[i].line)
			snprintf(where, sizeof where, "%s:%d: ", f->cfg_path, bad[i].line);
		else
			snprintf(where, sizeof where, "%s: ", f->cfg_path);
		if (strncmp(why, where, strlen(where)) != 0 || strstr(why, bad[i].reason) == NULL)
			fail_msg("config #%zu: message \"%s\", want prefix \"%s\" and \"%s\"", i,
			         why, where, bad[i].reason);
	}
}

static void test_config_too_many(void **state)
{
	struct fixture *f = *state;
	size_t cap = 64 * (QL_MAX_CHECKS + 1);
	char *text = malloc(cap);
	assert_non_null(text);
	text[0] = '\0';
	for (int i = 0; i <= QL_MAX_CHECKS; i++)
		snprintf(text + strlen(text), cap - strlen(text),
		         "[check c%d]\ntype = load\nmax = 4\n", i);
	char why[1024];
	assert_null(load(f, text, why, sizeof why));
	assert_non_null(strstr(why, "too many checks (at most 64)"));
	text[strlen(text) - strlen("[check c64]\ntype = load\nmax = 4\n")] = '\0';
	struct qa_config *cfg = load_ok(f, text);
	assert_int_equal(cfg->n_checks, QL_MAX_CHECKS);
	qa_config_free(cfg);
	free(text);
}

/* ---- hysteresis ---- */

static void test_hysteresis(void **state)
{
	(void)state;
	struct qa_check c = {.rise = 2, .fall = 3};
	struct qa_check_status s;
	qa_check_status_init(&s, 100);
	assert_int_equal(s.state, QA_CHECK_UNKNOWN);
	assert_int_equal(s.since, 100);
	/* UNKNOWN until `rise` passes in a row. */
	assert_false(qa_check_record(&s, &c, true, "ok 1", 101));
	assert_int_equal(s.state, QA_CHECK_UNKNOWN);
	assert_true(qa_check_record(&s, &c, true, "ok 2", 102));
	assert_int_equal(s.state, QA_CHECK_PASSING);
	assert_int_equal(s.since, 102);
	assert_string_equal(s.detail, "ok 2");
	/* Two failures are not `fall` (3); a pass in between starts again. */
	assert_false(qa_check_record(&s, &c, false, "bad 1", 103));
	assert_false(qa_check_record(&s, &c, false, "bad 2", 104));
	assert_false(qa_check_record(&s, &c, true, "ok", 105));
	assert_false(qa_check_record(&s, &c, false, "bad 1", 106));
	assert_false(qa_check_record(&s, &c, false, "bad 2", 107));
	assert_int_equal(s.state, QA_CHECK_PASSING);
	assert_string_equal(s.detail, "bad 2"); /* the last result, whatever the state */
	assert_true(qa_check_record(&s, &c, false, "bad 3", 108));
	assert_int_equal(s.state, QA_CHECK_FAILING);
	assert_int_equal(s.since, 108);
	/* More failures change nothing, not even since. */
	assert_false(qa_check_record(&s, &c, false, "bad 4", 109));
	assert_int_equal(s.since, 108);
	assert_false(qa_check_record(&s, &c, true, "ok", 110));
	assert_true(qa_check_record(&s, &c, true, "ok", 111));
	assert_int_equal(s.state, QA_CHECK_PASSING);
	/* Untrusted text becomes one printable line. */
	assert_false(qa_check_record(&s, &c, true, "a\nb\x01\xc3\xa9", 112));
	assert_string_equal(s.detail, "a b ??");
}

static void test_flapping_never_flips(void **state)
{
	(void)state;
	struct qa_check c = {.rise = 2, .fall = 2};
	for (int first = 0; first < 2; first++) {
		struct qa_check_status s;
		qa_check_status_init(&s, 1);
		bool pass = first;
		for (int i = 0; i < 50; i++, pass = !pass)
			assert_false(qa_check_record(&s, &c, pass, "flap", 2 + i));
		assert_int_equal(s.state, QA_CHECK_UNKNOWN);
		/* Settled (two failures in a row), it stays so through the same flapping. */
		int n = 0;
		while (s.state != QA_CHECK_FAILING && n < 2)
			qa_check_record(&s, &c, false, "bad", 100 + n++);
		assert_int_equal(s.state, QA_CHECK_FAILING);
		int64_t since = s.since;
		pass = true;
		for (int i = 0; i < 50; i++, pass = !pass)
			assert_false(qa_check_record(&s, &c, pass, "flap", 102 + i));
		assert_int_equal(s.state, QA_CHECK_FAILING);
		assert_int_equal(s.since, since);
	}
}

/* ---- probes against real things ---- */

static bool run(const struct qa_config *cfg, size_t i, char *detail, size_t len)
{
	return qa_check_run(&cfg->checks[i], cfg, NULL, detail, len);
}

/* A socket listening on 127.0.0.1 (port in *port), or only bound when !listening. */
static int loopback_socket(int *port, bool listening)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t alen = sizeof a;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	if (listening)
		assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static void test_tcp(void **state)
{
	struct fixture *f = *state;
	int port, closed_port;
	int fd = loopback_socket(&port, true);
	int bound = loopback_socket(&closed_port, false); /* bound, not listening: refused */
	char text[512], detail[QA_CHECK_DETAIL];
	snprintf(text, sizeof text,
	         "[check up]\ntype = tcp\naddress = 127.0.0.1:%d\ntimeout = 1s\n"
	         "[check down]\ntype = tcp\naddress = 127.0.0.1:%d\ntimeout = 1s\n",
	         port, closed_port);
	struct qa_config *cfg = load_ok(f, text);
	assert_true(run(cfg, 0, detail, sizeof detail));
	assert_non_null(strstr(detail, "connected to 127.0.0.1:"));
	assert_false(run(cfg, 1, detail, sizeof detail));
	assert_non_null(strstr(detail, "Connection refused"));
	qa_config_free(cfg);
	close(fd);
	close(bound);
}

/* A child that accepts on fd and answers every connection with `answer` (NULL: never). */
static pid_t serve(int fd, const char *answer)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid > 0)
		return pid;
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c < 0)
			continue;
		if (answer == NULL) {
			pause(); /* hold the connection, say nothing */
			_exit(0);
		}
		char req[4096];
		ssize_t n = read(c, req, sizeof req); /* the request (one read is enough here) */
		(void)n;
		ssize_t w = write(c, answer, strlen(answer));
		(void)w;
		close(c);
	}
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_http(void **state)
{
	struct fixture *f = *state;
	int port, silent_port;
	int fd = loopback_socket(&port, true), silent = loopback_socket(&silent_port, true);
	pid_t server =
		serve(fd, "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 5\r\n\r\ndown\n");
	pid_t mute = serve(silent, NULL);
	char text[1024], detail[QA_CHECK_DETAIL];
	snprintf(text, sizeof text,
	         "[check web]\ntype = http\nurl = http://127.0.0.1:%d/health\ntimeout = 2s\n"
	         "[check maint]\ntype = http\nurl = http://127.0.0.1:%d/\nexpect = 503\n"
	         "[check hung]\ntype = http\nurl = http://127.0.0.1:%d/\ntimeout = 1s\n",
	         port, port, silent_port);
	struct qa_config *cfg = load_ok(f, text);
	assert_false(run(cfg, 0, detail, sizeof detail));
	char want[128];
	snprintf(want, sizeof want, "HTTP 503 from http://127.0.0.1:%d/health (expected 200)",
	         port);
	assert_string_equal(detail, want);
	assert_true(run(cfg, 1, detail, sizeof detail));
	assert_non_null(strstr(detail, "HTTP 503 from"));
	/* A server that never answers costs the timeout, not more. */
	int64_t t0 = ql_mono_ms();
	assert_false(run(cfg, 2, detail, sizeof detail));
	int64_t took = ql_mono_ms() - t0;
	assert_true(took >= 900 && took < 3000);
	assert_non_null(strstr(detail, "within 1s"));
	stop_child(server);
	stop_child(mute);
	close(fd);
	close(silent);
	/* Nobody listening any more. */
	snprintf(want, sizeof want, "connect to http://127.0.0.1:%d/health: Connection refused",
	         port);
	assert_false(run(cfg, 0, detail, sizeof detail));
	assert_string_equal(detail, want);
	qa_config_free(cfg);
}

static void set_age(const char *path, time_t secs)
{
	struct timespec t[2];
	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= secs;
	t[1] = t[0];
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static void test_file_age(void **state)
{
	struct fixture *f = *state;
	char *stamp = tu_path(f->dir, "stamp");
	char text[1024], detail[QA_CHECK_DETAIL];
	snprintf(text, sizeof text, "[check backup]\ntype = file-age\npath = %s\nmax_age = 5m\n",
	         stamp);
	struct qa_config *cfg = load_ok(f, text);
	assert_false(run(cfg, 0, detail, sizeof detail));
	assert_non_null(strstr(detail, "is missing"));
	tu_write_str(stamp, "x");
	assert_true(run(cfg, 0, detail, sizeof detail));
	set_age(stamp, 299);
	assert_true(run(cfg, 0, detail, sizeof detail));
	set_age(stamp, 3600);
	assert_false(run(cfg, 0, detail, sizeof detail));
	assert_non_null(strstr(detail, "is 60m old (max 5m)"));
	qa_config_free(cfg);
	free(stamp);
}

static void test_disk_free(void **state)
{
	struct fixture *f = *state;
	char text[1024], detail[QA_CHECK_DETAIL];
	snprintf(text, sizeof text,
	         "[check some]\ntype = disk-free\npath = %s\nmin_free = 0.0001%%\n"
	         "[check all]\ntype = disk-free\npath = %s\nmin_free = 99.9999%%\n"
	         "[check kib]\ntype = disk-free\npath = %s\nmin_free = 1K\n"
	         "[check huge]\ntype = disk-free\npath = %s\nmin_free = 16000000T\n",
	         f->dir, f->dir, f->dir, f->dir);
	struct qa_config *cfg = load_ok(f, text);
	assert_true(run(cfg, 0, detail, sizeof detail));
	assert_non_null(strstr(detail, "% free ("));
	assert_false(run(cfg, 1, detail, sizeof detail));
	assert_non_null(strstr(detail, "min 99.9999%"));
	assert_true(run(cfg, 2, detail, sizeof detail));
	assert_false(run(cfg, 3, detail, sizeof detail));
	assert_non_null(strstr(detail, "min 15E"));
	qa_config_free(cfg);
}

static void test_load(void **state)
{
	struct fixture *f = *state;
	char detail[QA_CHECK_DETAIL];
	struct qa_config *cfg = load_ok(f, "[check zero]\ntype = load\nmax = 0.0\n"
	                                   "[check high]\ntype = load\nmax = 1000\n");
	double now[1];
	assert_int_equal(getloadavg(now, 1), 1);
	/* Failing above max: with max 0 only a machine idle to the last digit passes. */
	assert_int_equal(run(cfg, 0, detail, sizeof detail), now[0] == 0.0);
	if (now[0] > 0.01)
		assert_non_null(strstr(detail, " > 0.00"));
	assert_true(run(cfg, 1, detail, sizeof detail));
	assert_non_null(strstr(detail, " <= 1000.00"));
	qa_config_free(cfg);
}

static void test_exec(void **state)
{
	struct fixture *f = *state;
	char detail[QA_CHECK_DETAIL];
	struct qa_config *cfg =
		load_ok(f, "[check t]\ntype = exec\nargv = /bin/true\n"
	                   "[check f]\ntype = exec\nargv = /bin/false\n"
	                   "[check slow]\ntype = exec\nargv = /bin/sleep 30\ntimeout = 1s\n");
	assert_true(run(cfg, 0, detail, sizeof detail));
	assert_string_equal(detail, "true exited 0");
	assert_false(run(cfg, 1, detail, sizeof detail));
	assert_string_equal(detail, "false exited 1");
	int64_t t0 = ql_mono_ms();
	assert_false(run(cfg, 2, detail, sizeof detail));
	int64_t took = ql_mono_ms() - t0;
	assert_true(took >= 900 && took < 3000);
	assert_non_null(strstr(detail, "sleep did not finish in time and was killed"));
	qa_config_free(cfg);
}

static void test_process(void **state)
{
	struct fixture *f = *state;
	char *pidfile = tu_path(f->dir, "worker.pid");
	char text[1024], detail[QA_CHECK_DETAIL];
	snprintf(text, sizeof text,
	         "[handle worker]\ntype = worker\npidfile = %s\n"
	         "[check worker]\ntype = process\nhandle = worker\n",
	         pidfile);
	struct qa_config *cfg = load_ok(f, text);
	assert_false(run(cfg, 0, detail, sizeof detail)); /* no pidfile: nothing runs */
	assert_string_equal(detail, "no process matches handle worker");
	char *argv[] = {"/bin/sleep", "60", NULL};
	struct qa_child child;
	assert_int_equal(qa_proc_spawn(argv, 0, &child, detail, sizeof detail), QL_OK);
	char pid[32];
	snprintf(pid, sizeof pid, "%d\n", (int)child.pid);
	tu_write_str(pidfile, pid);
	assert_true(run(cfg, 0, detail, sizeof detail));
	assert_non_null(strstr(detail, "1 process matches handle worker"));
	kill(child.pid, SIGKILL);
	int st;
	assert_int_equal(qa_proc_wait(&child, ql_mono_ms() + 5000, &st), QL_OK);
	qa_child_fini(&child);
	assert_false(run(cfg, 0, detail, sizeof detail));
	qa_config_free(cfg);
	free(pidfile);
}

/* ---- the check thread ---- */

static atomic_int changes;

static void on_change(void *arg)
{
	(void)arg;
	atomic_fetch_add(&changes, 1);
}

static enum qa_check_state state_of(struct qa_health *h, size_t i)
{
	size_t n;
	struct qa_check_report *r = qa_health_report(h, &n);
	assert_non_null(r);
	assert_true(i < n);
	enum qa_check_state s = r[i].state;
	free(r);
	return s;
}

static void test_thread(void **state)
{
	struct fixture *f = *state;
	struct qa_config *cfg = load_ok(f, "[check ok]\ntype = exec\nargv = /bin/true\n"
	                                   "interval = 1s\nrise = 2\n"
	                                   "[check hang]\ntype = exec\nargv = /bin/sleep 60\n"
	                                   "interval = 1h\ntimeout = 1h\n");
	struct qa_health *h;
	atomic_store(&changes, 0);
	assert_int_equal(qa_health_new(cfg, on_change, NULL, &h), QL_OK);
	assert_non_null(h);
	assert_int_equal(state_of(h, 0), QA_CHECK_UNKNOWN);
	assert_int_equal(qa_health_start(h), QL_OK);
	/* "hang" runs for an hour; "ok" runs once before it. Then the thread is
	 * stuck in "hang", which stopping must cut short. */
	size_t n;
	struct qa_check_report *r = NULL;
	int64_t deadline = ql_mono_ms() + 5000;
	for (;;) {
		free(r);
		r = qa_health_report(h, &n);
		assert_non_null(r);
		if (strcmp(r[0].detail, "true exited 0") == 0 || ql_mono_ms() > deadline)
			break;
		qa_sleep_until(deadline, 20);
	}
	assert_string_equal(r[0].detail, "true exited 0");
	assert_string_equal(r[1].name, "hang");
	assert_string_equal(r[1].detail, "not run yet");
	free(r);
	int64_t t0 = ql_mono_ms();
	qa_health_stop(h);
	assert_true(ql_mono_ms() - t0 < 2000);
	assert_int_equal(atomic_load(&changes), 0); /* one pass is not rise = 2 */
	qa_health_free(h);
	qa_config_free(cfg);

	/* Without a hanging check, "ok" reaches PASSING and says so once. */
	cfg = load_ok(f, "[check ok]\ntype = exec\nargv = /bin/true\ninterval = 1s\nrise = 2\n");
	assert_int_equal(qa_health_new(cfg, on_change, NULL, &h), QL_OK);
	assert_int_equal(qa_health_start(h), QL_OK);
	deadline = ql_mono_ms() + 5000;
	while (atomic_load(&changes) == 0 && ql_mono_ms() < deadline)
		qa_sleep_until(deadline, 20);
	assert_int_equal(atomic_load(&changes), 1);
	assert_int_equal(state_of(h, 0), QA_CHECK_PASSING);
	qa_health_free(h);
	qa_config_free(cfg);

	/* No checks: no runner at all. */
	cfg = load_ok(f, "");
	assert_int_equal(qa_health_new(cfg, on_change, NULL, &h), QL_OK);
	assert_null(h);
	qa_config_free(cfg);
}

int main(void)
{
	ql_log_init("test", QL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_too_many, setup, teardown),
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_flapping_never_flips),
		cmocka_unit_test_setup_teardown(test_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_age, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
