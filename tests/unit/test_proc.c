/*
 * test_proc.c: agent/proc.c against real processes. Children are spawned
 * with the agent's own spawn function, found again by every kind of
 * matcher, signalled and reaped; the safety refusals (pid 1, the test
 * process itself, its parent, its own group) are checked with matchers that
 * would hit them. Waiting is polling with a deadline, never a fixed sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <sys/stat.h>

#include "proc.h"
#include "tutil.h"

/* A sleep whose cmdline no other process has: "/bin/sleep 120.<pid><n>". */
static struct qa_child spawn_sleep(unsigned flags, char *cmdline, size_t len)
{
	static int n;
	char arg[64];
	snprintf(arg, sizeof arg, "120.%d%d", (int)getpid(), ++n);
	char *argv[] = {"/bin/sleep", arg, NULL};
	snprintf(cmdline, len, "/bin/sleep %s", arg); /* a leftover of a failed test is gone soon */
	struct qa_child c;
	char detail[256];
	assert_int_equal(qa_proc_spawn(argv, flags, &c, detail, sizeof detail), QL_OK);
	assert_true(c.pid > 0);
	/* posix_spawn returns once the exec is under way; the new cmdline shows a moment later. */
	char path[64], buf[256] = "";
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)c.pid);
	int64_t until = ql_mono_ms() + 5000;
	while (strcmp(buf, "/bin/sleep") != 0 && ql_mono_ms() < until) {
		FILE *f = fopen(path, "r");
		size_t got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
		buf[got] = '\0'; /* the first word */
		if (f)
			fclose(f);
		if (strcmp(buf, "/bin/sleep") != 0)
			qa_sleep_until(until, 5);
	}
	assert_string_equal(buf, "/bin/sleep");
	return c;
}

static void kill_and_wait(struct qa_child *c)
{
	int st;
	kill(c->pid, SIGKILL);
	assert_int_equal(qa_proc_wait(c, ql_mono_ms() + 5000, &st), QL_OK);
	assert_true(WIFSIGNALED(st));
	qa_child_fini(c);
}

static bool has_pid(const struct qa_matches *m, pid_t pid)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->p[i].pid == pid)
			return true;
	return false;
}

static void test_find_by_cmdline_pidfile_exe(void **state)
{
	(void)state;
	char cmdline[128], detail[512];
	struct qa_child c = spawn_sleep(QA_SPAWN_SETSID, cmdline, sizeof cmdline);
	struct qa_matches *m = malloc(sizeof *m);
	assert_non_null(m);

	struct qa_handle h = {.name = "t", .match_cmdline = cmdline};
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_OK);
	assert_int_equal(m->n, 1);
	assert_int_equal(m->p[0].pid, c.pid);
	assert_int_equal(m->p[0].ppid, getpid());
	assert_int_equal(m->p[0].sid, c.pid); /* its own session */
	assert_true(m->p[0].starttime > 0);
	assert_true(qa_proc_alive(&m->p[0]));

	/* A glob, and one that matches nothing. */
	char glob[160];
	snprintf(glob, sizeof glob, "%.*s*", (int)strlen(cmdline) - 1, cmdline);
	h.match_cmdline = glob;
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_OK);
	assert_true(has_pid(m, c.pid));
	h.match_cmdline = "quell-test-no-such-process-*";
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_OK);
	assert_int_equal(m->n, 0);

	char *dir = tu_mkdtemp();
	char *pidfile = tu_path(dir, "x.pid");
	char text[32];
	snprintf(text, sizeof text, "%d\n", (int)c.pid);
	tu_write_str(pidfile, text);
	h = (struct qa_handle){.name = "t", .pidfile = pidfile};
	assert_int_equal(qa_proc_find(&h, QA_FIND_GROUPS, m, detail, sizeof detail), QL_OK);
	assert_int_equal(m->n, 1);
	assert_int_equal(m->p[0].pid, c.pid);

	/* cgroup: DIR/cgroup.procs, one pid a line (a dead pid and junk are no match). */
	char *procs = tu_path(dir, "cgroup.procs");
	snprintf(text, sizeof text, "4194304\nx\n%d\n", (int)c.pid);
	tu_write_str(procs, text);
	h = (struct qa_handle){.name = "t", .cgroup = dir};
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_OK);
	assert_int_equal(m->n, 1);
	assert_int_equal(m->p[0].pid, c.pid);
	tu_write_str(procs, "1\n");
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_ERR_DENIED);
	free(procs);

	char exe[4096];
	assert_non_null(realpath("/bin/sleep", exe));
	h = (struct qa_handle){.name = "t", .match_exe = exe};
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_OK);
	assert_true(has_pid(m, c.pid));

	/* Once it is dead and reaped, nothing matches and the old record is not alive. */
	struct qa_proc old = {0};
	for (size_t i = 0; i < m->n; i++)
		if (m->p[i].pid == c.pid)
			old = m->p[i];
	kill_and_wait(&c);
	assert_false(qa_proc_alive(&old));
	h = (struct qa_handle){.name = "t", .pidfile = pidfile};
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_OK);
	assert_int_equal(m->n, 0);
	assert_int_equal(qa_proc_signal(&old, SIGTERM), ESRCH);

	free(pidfile);
	tu_rmtree(dir);
	free(m);
}

static void pidfile_refused(const char *dir, pid_t pid, unsigned flags)
{
	char *pidfile = tu_path(dir, "p.pid");
	char text[32], detail[512];
	snprintf(text, sizeof text, "%d", (int)pid);
	tu_write_str(pidfile, text);
	struct qa_handle h = {.name = "t", .pidfile = pidfile};
	struct qa_matches *m = malloc(sizeof *m);
	assert_non_null(m);
	assert_int_equal(qa_proc_find(&h, flags, m, detail, sizeof detail), QL_ERR_DENIED);
	assert_int_equal(m->n, 0);
	assert_non_null(strstr(detail, "refused"));
	free(m);
	free(pidfile);
}

static void test_never_init_self_parent(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char detail[512];
	pidfile_refused(dir, 1, 0);
	pidfile_refused(dir, getpid(), 0);
	pidfile_refused(dir, getppid(), 0);

	struct qa_matches *m = malloc(sizeof *m);
	assert_non_null(m);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	assert_true(n > 0);
	self[n] = '\0';
	struct qa_handle h = {.name = "t", .match_exe = self};
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_ERR_DENIED);
	assert_non_null(strstr(detail, "the agent itself"));
	h = (struct qa_handle){.name = "t", .match_cmdline = "*"};
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_ERR_DENIED);
	assert_int_equal(m->n, 0);

	/* A child in our session is fine to signal alone, but not as a group. */
	char cmdline[128];
	struct qa_child c = spawn_sleep(0, cmdline, sizeof cmdline);
	h = (struct qa_handle){.name = "t", .match_cmdline = cmdline};
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_OK);
	assert_int_equal(m->n, 1);
	assert_int_equal(m->p[0].pgid, c.pid); /* own process group */
	assert_int_equal(qa_proc_find(&h, QA_FIND_GROUPS, m, detail, sizeof detail), QL_ERR_DENIED);
	assert_non_null(strstr(detail, "session"));
	kill_and_wait(&c);
	assert_int_equal(qa_proc_signal_group(getpgrp(), 0), EPERM);
	assert_int_equal(qa_proc_signal_group(1, 0), EPERM);

	/* Garbage and missing pidfiles. */
	char *pidfile = tu_path(dir, "bad.pid");
	tu_write_str(pidfile, "12abc\n");
	h = (struct qa_handle){.name = "t", .pidfile = pidfile};
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_ERR_ACTION_FAILED);
	tu_write_str(pidfile, "-5\n");
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_ERR_ACTION_FAILED);
	assert_int_equal(unlink(pidfile), 0);
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_OK);
	assert_int_equal(m->n, 0);
	free(pidfile);
	free(m);
	tu_rmtree(dir);
}

/* Whoever can write a pidfile must not be able to aim root's signals, or hang the agent. */
static void test_hostile_pidfiles(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char detail[512], cmdline[128], text[32];
	struct qa_matches *m = malloc(sizeof *m);
	assert_non_null(m);
	struct qa_child c = spawn_sleep(QA_SPAWN_SETSID, cmdline, sizeof cmdline);

	/* A FIFO in the pidfile's place is refused at once, not waited on. */
	char *fifo = tu_path(dir, "fifo.pid");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	struct qa_handle h = {.name = "t", .pidfile = fifo};
	int64_t t0 = ql_mono_ms();
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_ERR_ACTION_FAILED);
	assert_true(ql_mono_ms() - t0 < 2000);
	assert_non_null(strstr(detail, "not a regular file"));

	/* A pidfile owned by another user may only name that user's processes. */
	char *pidfile = tu_path(dir, "other.pid");
	snprintf(text, sizeof text, "%d\n", (int)c.pid);
	tu_write_str(pidfile, text);
	h.pidfile = pidfile;
	if (getuid() == 0) {
		assert_int_equal(chown(pidfile, 65534, 65534), 0);
		assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_ERR_DENIED);
		assert_non_null(strstr(detail, "only name its owner's processes"));
		assert_int_equal(chown(pidfile, 0, 0), 0);
	}
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_OK);
	assert_int_equal(m->n, 1);

	/* `user =`: another user's process never matches, however it looks. */
	char cmdline2[128];
	snprintf(cmdline2, sizeof cmdline2, "%s", cmdline);
	struct qa_handle u = {
		.name = "t", .match_cmdline = cmdline2, .has_user = true, .uid = getuid() + 1};
	assert_int_equal(qa_proc_find(&u, 0, m, detail, sizeof detail), QL_OK);
	assert_int_equal(m->n, 0);
	u.uid = getuid();
	assert_int_equal(qa_proc_find(&u, 0, m, detail, sizeof detail), QL_OK);
	assert_int_equal(m->n, 1);

	/* A pidfile too long to be a pid is not cut down to one. */
	tu_write_str(pidfile,
	             "1234567890123456789012345678901234567890123456789012345678901234567\n");
	assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_ERR_ACTION_FAILED);

	kill_and_wait(&c);
	free(fifo);
	free(pidfile);
	free(m);
	tu_rmtree(dir);
}

/* A long-lived child logging more than the small capture holds never gets a write error. */
static void test_logged_child_can_write_much(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *log = tu_path(dir, "x.log"), detail[512], out[QA_PROC_STDERR_MAX + 1];
	char *argv[] = {"/bin/sh", "-c", "head -c 20000 /dev/zero | tr '\\0' x >&2 && echo done",
	                NULL};
	struct qa_child c;
	int st;
	assert_int_equal(
		qa_proc_spawn_logged(argv, QA_SPAWN_SETSID, log, &c, detail, sizeof detail), QL_OK);
	assert_int_equal(qa_proc_wait(&c, ql_mono_ms() + 10000, &st), QL_OK);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	qa_proc_output(&c, out, sizeof out);
	assert_true(strncmp(out, "xxxx", 4) == 0);
	qa_child_fini(&c);
	struct stat sb;
	assert_int_equal(stat(log, &sb), 0);
	assert_int_equal(sb.st_size, 20005);
	free(log);
	tu_rmtree(dir);
}

static void test_timeout_kills_group_and_reaps(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *bg = tu_path(dir, "bg.pid");
	char script[512];
	/* config-defined argv may use sh; it starts a grandchild in the same group */
	snprintf(script, sizeof script, "/bin/sleep 30 & echo $! > %s; wait", bg);
	char *argv[] = {"/bin/sh", "-c", script, NULL};
	struct qa_child c;
	char detail[512];
	assert_int_equal(qa_proc_spawn(argv, QA_SPAWN_SETSID, &c, detail, sizeof detail), QL_OK);
	int64_t t0 = ql_mono_ms();
	int st;
	assert_int_equal(qa_proc_wait(&c, t0 + 300, &st), QL_ERR_TIMEOUT);
	assert_true(ql_mono_ms() - t0 < 5000);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	errno = 0;
	assert_int_equal(waitpid(c.pid, &st, WNOHANG), -1); /* reaped: no zombie */
	assert_int_equal(errno, ECHILD);
	qa_child_fini(&c);

	/* The grandchild went with the group. */
	char *text = tu_read(bg, NULL);
	assert_non_null(text);
	struct qa_proc g = {.pid = (pid_t)atoi(text)};
	free(text);
	if (qa_proc_stat(g.pid, &g)) {
		bool gone = false;
		assert_int_equal(qa_proc_wait_gone(&g, 1, &gone, ql_mono_ms() + 5000), 0);
	}
	free(bg);
	tu_rmtree(dir);
}

static void test_run_reports_exit_and_output(void **state)
{
	(void)state;
	char detail[1024];
	char *ok[] = {"/bin/true", NULL};
	assert_int_equal(qa_proc_run(ok, ql_mono_ms() + 5000, detail, sizeof detail), QL_OK);
	char *bad[] = {"/bin/sh", "-c", "echo 'oops:\tbad\x01thing' >&2; exit 3", NULL};
	assert_int_equal(qa_proc_run(bad, ql_mono_ms() + 5000, detail, sizeof detail),
	                 QL_ERR_ACTION_FAILED);
	assert_string_equal(detail, "sh exited 3: oops: bad thing");
	char *slow[] = {"/bin/sleep", "30", NULL};
	assert_int_equal(qa_proc_run(slow, ql_mono_ms() + 200, detail, sizeof detail),
	                 QL_ERR_TIMEOUT);
	assert_non_null(strstr(detail, "killed"));
	char *missing[] = {"/nonexistent/quell-test", NULL};
	assert_int_not_equal(qa_proc_run(missing, ql_mono_ms() + 5000, detail, sizeof detail),
	                     QL_OK);
	assert_non_null(strstr(detail, "/nonexistent/quell-test"));
	char *relative[] = {"sleep", "1", NULL};
	assert_int_not_equal(qa_proc_run(relative, ql_mono_ms() + 5000, detail, sizeof detail),
	                     QL_OK);

	/* A chatty child cannot grow the capture past its bound. */
	char *chatty[] = {"/bin/sh", "-c",
	                  "i=0; while [ $i -lt 2000 ]; do echo xxxxxxxxxx; "
	                  "i=$((i+1)); done; exit 1",
	                  NULL};
	assert_int_equal(qa_proc_run(chatty, ql_mono_ms() + 10000, detail, sizeof detail),
	                 QL_ERR_ACTION_FAILED);
	assert_true(strlen(detail) < 600);
}

/* The reaper keeps the status of a child someone waits for, and forgets detached ones. */
static void test_reaper_keeps_status(void **state)
{
	(void)state;
	char detail[256];
	char *argv[] = {"/bin/sh", "-c", "exit 7", NULL};
	struct qa_child c;
	assert_int_equal(qa_proc_spawn(argv, 0, &c, detail, sizeof detail), QL_OK);
	struct qa_proc p;
	int64_t until = ql_mono_ms() + 5000;
	while (qa_proc_stat(c.pid, &p) && ql_mono_ms() < until) {
		qa_proc_reap(); /* the executor thread's periodic reap */
		qa_sleep_until(until, 10);
	}
	int st;
	assert_int_equal(qa_proc_wait(&c, ql_mono_ms() + 1000, &st), QL_OK);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 7);
	qa_child_fini(&c);

	struct qa_child d;
	assert_int_equal(
		qa_proc_spawn(argv, QA_SPAWN_DETACH | QA_SPAWN_SETSID, &d, detail, sizeof detail),
		QL_OK);
	until = ql_mono_ms() + 5000;
	while (qa_proc_stat(d.pid, &p) && ql_mono_ms() < until) {
		qa_proc_reap();
		qa_sleep_until(until, 10);
	}
	assert_false(qa_proc_stat(d.pid, &p)); /* not even a zombie */
	qa_child_fini(&d);
}

/* The daemon blocks SIGTERM in every thread; its children must not inherit that. */
static void test_child_signal_mask_reset(void **state)
{
	(void)state;
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
	char cmdline[128];
	struct qa_child c = spawn_sleep(QA_SPAWN_SETSID, cmdline, sizeof cmdline);
	struct qa_proc p;
	assert_true(qa_proc_stat(c.pid, &p));
	assert_int_equal(qa_proc_signal(&p, SIGTERM), 0);
	int st;
	assert_int_equal(qa_proc_wait(&c, ql_mono_ms() + 5000, &st), QL_OK);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	qa_child_fini(&c);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

static void test_placeholders(void **state)
{
	(void)state;
	char detail[256];
	char *words[] = {"/usr/bin/memcached", "-p", "{port}", "--name=x{i}y{i}", NULL};
	struct qa_argv t = {words, 4};
	char **out;
	assert_int_equal(qa_argv_expand(&t, 3, 30003, &out, detail, sizeof detail), QL_OK);
	assert_string_equal(out[0], "/usr/bin/memcached");
	assert_string_equal(out[2], "30003");
	assert_string_equal(out[3], "--name=x3y3");
	assert_null(out[4]);
	qa_argv_expanded_free(out);

	static const char *const bad[] = {"{p}", "{i", "{ port}", "{PORT}", "{}", "{{i}}", "x{"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *w[] = {"/bin/echo", (char *)bad[i], NULL};
		struct qa_argv b = {w, 2};
		out = (char **)&t;
		assert_int_equal(qa_argv_expand(&b, 1, 2, &out, detail, sizeof detail),
		                 QL_ERR_BAD_ARGUMENT);
		assert_null(out);
		assert_non_null(strstr(detail, "only {i} and {port}"));
	}
	/* A placeholder with no value to put there is refused, too. */
	char *w[] = {"/bin/echo", "{port}", NULL};
	struct qa_argv b = {w, 2};
	assert_int_equal(qa_argv_expand(&b, 1, -1, &out, detail, sizeof detail),
	                 QL_ERR_BAD_ARGUMENT);
	assert_int_equal(qa_argv_expand(&b, -1, 65535, &out, detail, sizeof detail), QL_OK);
	assert_string_equal(out[1], "65535");
	qa_argv_expanded_free(out);
}

/* The stat parser takes the fields after the LAST ')' of the command name. */
static void test_stat_with_hostile_name(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *link = tu_path(dir, "a) Z 1 1 (b");
	char exe[4096];
	assert_non_null(realpath("/bin/sleep", exe));
	assert_int_equal(symlink(exe, link), 0);
	char *argv[] = {link, "30", NULL};
	struct qa_child c;
	char detail[256];
	assert_int_equal(qa_proc_spawn(argv, QA_SPAWN_SETSID, &c, detail, sizeof detail), QL_OK);
	struct qa_proc p;
	assert_true(qa_proc_stat(c.pid, &p));
	assert_int_equal(p.ppid, getpid());
	assert_int_equal(p.pgid, c.pid);
	assert_true(p.state == 'S' || p.state == 'R');
	kill_and_wait(&c);
	free(link);
	tu_rmtree(dir);
}

static void test_port_probe(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 4), 0);
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	int port = ntohs(a.sin_port);
	assert_true(qa_port_answers(port));
	assert_true(qa_port_wait(port, ql_mono_ms() + 1000));
	close(fd);
	assert_false(qa_port_answers(port));
	int64_t t0 = ql_mono_ms();
	assert_false(qa_port_wait(port, t0 + 200));
	assert_true(ql_mono_ms() - t0 < 2000);
	assert_false(qa_port_answers(0));
	assert_false(qa_port_answers(70000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_by_cmdline_pidfile_exe),
		cmocka_unit_test(test_never_init_self_parent),
		cmocka_unit_test(test_hostile_pidfiles),
		cmocka_unit_test(test_logged_child_can_write_much),
		cmocka_unit_test(test_timeout_kills_group_and_reaps),
		cmocka_unit_test(test_run_reports_exit_and_output),
		cmocka_unit_test(test_reaper_keeps_status),
		cmocka_unit_test(test_child_signal_mask_reset),
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_stat_with_hostile_name),
		cmocka_unit_test(test_port_probe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
