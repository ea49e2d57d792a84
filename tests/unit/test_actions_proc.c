/*
 * test_actions_proc.c: the actions that touch processes (kill, pause,
 * resume, restart, scale), driven through their descriptors against real
 * children of this test: what happened to the processes, the tracking file
 * on disk, the detail line and the undo JSON. The memcached-backed paths
 * run in tests/integration/test_cache.sh; here an "instance" that never
 * listens or dies at once shows the failure paths and the tracking file,
 * and this very program, started as "--listen PORT", is an instance that
 * answers (for scale's revert).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "actions/actions.h"
#include "handles.h"
#include "proc.h"
#include "ql_limits.h"
#include "tactions.h"
#include "tutil.h"

#define setup_run ta_setup

/* A child "/bin/sleep 120.<pid><n>" in its own session; its cmdline in `cmdline`. */
static struct qa_child spawn_sleep(char *cmdline, size_t len, bool ignore_term)
{
	static int n;
	char arg[64], script[160];
	snprintf(arg, sizeof arg, "120.%d%d", (int)getpid(), ++n);
	snprintf(cmdline, len, "/bin/sleep %s", arg);
	snprintf(script, sizeof script, "trap '' TERM INT; exec /bin/sleep %s", arg);
	char *plain[] = {"/bin/sleep", arg, NULL};
	char *stubborn[] = {"/bin/sh", "-c", script, NULL};
	struct qa_child c;
	char detail[256];
	assert_int_equal(qa_proc_spawn(ignore_term ? stubborn : plain, QA_SPAWN_SETSID, &c, detail,
	                               sizeof detail),
	                 QL_OK);
	/* Wait for the exec, so the cmdline is the sleep's. */
	struct qa_handle h = {.name = "t", .match_cmdline = cmdline};
	struct qa_matches *m = malloc(sizeof *m);
	assert_non_null(m);
	int64_t until = ql_mono_ms() + 5000;
	do {
		assert_int_equal(qa_proc_find(&h, 0, m, detail, sizeof detail), QL_OK);
		if (m->n == 0)
			qa_sleep_until(until, 10);
	} while (m->n == 0 && ql_mono_ms() < until);
	assert_int_equal(m->n, 1);
	free(m);
	return c;
}

static int wait_child(struct qa_child *c)
{
	int st;
	assert_int_equal(qa_proc_wait(c, ql_mono_ms() + 5000, &st), QL_OK);
	qa_child_fini(c);
	return st;
}

static void test_kill(void **state)
{
	(void)state;
	char cmdline[128], pid[32];
	struct qa_child c = spawn_sleep(cmdline, sizeof cmdline, false);
	snprintf(pid, sizeof pid, "%d", (int)c.pid);
	struct qa_handle h = {.name = "runaway",
	                      .type = QA_HANDLE_PROCESS,
	                      .match_cmdline = cmdline,
	                      .signal = SIGTERM,
	                      .grace_s = 5};
	struct run r;

	setup_run(&r, &h, "/nonexistent", false, "signal", "STOP", NULL);
	assert_int_equal(act("kill", &r), QL_ERR_BAD_ARGUMENT);
	static const char *const bad_grace[] = {"601", "-1", "1.5", "", "1e3", " 5"};
	for (size_t i = 0; i < sizeof bad_grace / sizeof bad_grace[0]; i++) {
		setup_run(&r, &h, "/nonexistent", false, "grace", bad_grace[i], NULL);
		assert_int_equal(act("kill", &r), QL_ERR_BAD_ARGUMENT);
	}

	setup_run(&r, &h, "/nonexistent", true, NULL);
	assert_int_equal(act("kill", &r), QL_OK);
	assert_non_null(strstr(r.detail, "would send TERM to"));
	assert_non_null(strstr(r.detail, pid));
	assert_int_equal(kill(c.pid, 0), 0);

	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(act("kill", &r), QL_OK);
	char want[64];
	snprintf(want, sizeof want, "killed %d (TERM)", (int)c.pid);
	assert_non_null(strstr(r.detail, want));
	assert_string_equal(r.undo, "");
	int st = wait_child(&c);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);

	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(act("kill", &r), QL_OK);
	assert_non_null(strstr(r.detail, "no process matched"));
	assert_false(qa_action_find("kill")->reversible);
	static const char *const once[] = {"kill", "restart", "ping"};
	for (size_t i = 0; i < 3; i++) {
		const struct qa_action *a = qa_action_find(once[i]);
		assert_false(a->reversible);
		assert_null(a->revert);
		assert_null(a->at_rest);
		assert_null(a->family);
	}
}

static void test_kill_after_grace(void **state)
{
	(void)state;
	char cmdline[128], want[64];
	struct qa_child c = spawn_sleep(cmdline, sizeof cmdline, true);
	struct qa_handle h = {.name = "runaway",
	                      .type = QA_HANDLE_PROCESS,
	                      .match_cmdline = cmdline,
	                      .signal = SIGTERM,
	                      .grace_s = 600};
	struct run r;
	setup_run(&r, &h, "/nonexistent", false, "grace", "1", "signal", "SIGINT", NULL);
	int64_t t0 = ql_mono_ms();
	assert_int_equal(act("kill", &r), QL_OK);
	assert_true(ql_mono_ms() - t0 >= 1000);
	snprintf(want, sizeof want, "killed %d (KILL after 1s)", (int)c.pid);
	assert_non_null(strstr(r.detail, want));
	int st = wait_child(&c);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void test_kill_refuses_self(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *pidfile = tu_path(dir, "self.pid");
	char text[32];
	snprintf(text, sizeof text, "%d\n", (int)getpid());
	tu_write_str(pidfile, text);
	struct qa_handle h = {.name = "self",
	                      .type = QA_HANDLE_PROCESS,
	                      .pidfile = pidfile,
	                      .signal = SIGKILL,
	                      .grace_s = 5};
	struct run r;
	setup_run(&r, &h, dir, false, NULL);
	assert_int_equal(act("kill", &r), QL_ERR_DENIED);
	assert_non_null(strstr(r.detail, "the agent itself"));
	/* Still here to check it. */
	free(pidfile);
	tu_rmtree(dir);
}

static char proc_state(pid_t pid)
{
	struct qa_proc p;
	return qa_proc_stat(pid, &p) ? p.state : '?';
}

static void test_pause_resume_by_signals(void **state)
{
	(void)state;
	char cmdline[128];
	struct qa_child c = spawn_sleep(cmdline, sizeof cmdline, false);
	struct qa_handle h = {.name = "worker", .type = QA_HANDLE_WORKER, .match_cmdline = cmdline};
	struct run r;

	setup_run(&r, &h, "/nonexistent", true, NULL);
	assert_int_equal(act("pause", &r), QL_OK);
	assert_non_null(strstr(r.detail, "would send STOP"));
	assert_int_not_equal(proc_state(c.pid), 'T');

	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(act("pause", &r), QL_OK);
	assert_int_equal(proc_state(c.pid), 'T');
	assert_string_equal(r.undo, "{\"previous\":\"running\"}");

	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(act("pause", &r), QL_OK);
	assert_string_equal(r.undo, "{\"previous\":\"paused\"}");

	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(act("resume", &r), QL_OK);
	assert_int_not_equal(proc_state(c.pid), 'T');
	assert_non_null(strstr(r.detail, "running again"));
	assert_string_equal(r.undo, "{\"previous\":\"paused\"}");

	kill(c.pid, SIGKILL);
	wait_child(&c);
	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(act("resume", &r), QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "nothing to resume"));
}

static void test_pause_by_commands(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *log = tu_path(dir, "log");
	char stop[256], start[256];
	snprintf(stop, sizeof stop, "/bin/sh -c \"echo stop >> %s\"", log);
	snprintf(start, sizeof start, "/bin/sh -c \"echo start >> %s; exit 4\"", log);
	char why[128];
	struct qa_handle h = {.name = "worker", .type = QA_HANDLE_WORKER};
	assert_true(qa_argv_parse(stop, &h.stop, why, sizeof why));
	assert_true(qa_argv_parse(start, &h.start, why, sizeof why));
	struct run r;
	setup_run(&r, &h, dir, false, NULL);
	assert_int_equal(act("pause", &r), QL_OK);
	setup_run(&r, &h, dir, false, NULL);
	assert_int_equal(act("resume", &r), QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "not resumed (sh exited 4)"));
	char *text = tu_read(log, NULL);
	assert_string_equal(text, "stop\nstart\n");
	free(text);

	/* stop/start cannot tell what the worker was: revert refuses, runs nothing */
	setup_run(&r, &h, dir, false, NULL);
	assert_int_equal(act("pause", &r), QL_OK);
	assert_string_equal(r.undo, "{\"previous\":\"unknown\"}");
	ta_setup_revert(&r, &h, dir, false);
	assert_false(ta_at_rest("pause", &r, "{\"previous\":\"unknown\"}"));
	assert_int_equal(ta_revert("pause", &r, "{\"previous\":\"unknown\"}"),
	                 QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "not reverted"));
	ta_assert_file(log, "stop\nstart\nstop\n");
	/* ... so a TTL, which would end in that failed revert, is refused up front. */
	setup_run(&r, &h, dir, false, NULL);
	r.ctx.ttl = 60;
	assert_int_equal(act("pause", &r), QL_ERR_BAD_ARGUMENT);
	assert_non_null(strstr(r.detail, "no TTL"));
	ta_assert_file(log, "stop\nstart\nstop\n");
	qa_argv_free(&h.stop);
	qa_argv_free(&h.start);
	free(log);
	tu_rmtree(dir);
}

/* ---- pause / resume revert */

static void copy_undo(char *rec, size_t len, const struct run *r)
{
	snprintf(rec, len, "%s", r->undo);
}

/* Malformed records and those quell will not act on: refused, for pause's and resume's revert. */
static void assert_pause_refuses(const struct qa_handle *h)
{
	struct run r;
	static const char *const bad[] = {NULL,
	                                  "[]",
	                                  "{}",
	                                  "{\"previous\":true}",
	                                  "{\"previous\":\"stopped\"}",
	                                  "{\"paused\":\"running\"}"};
	for (size_t k = 0; k < 2; k++) {
		const char *name = k ? "resume" : "pause";
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			ta_setup_revert(&r, h, "/nonexistent", false);
			assert_int_equal(ta_revert(name, &r, bad[i]), QL_ERR_BAD_ARGUMENT);
			assert_non_null(strstr(r.detail, "malformed undo record"));
			assert_false(ta_at_rest(name, &r, bad[i]));
		}
		ta_setup_revert(&r, h, "/nonexistent", false);
		assert_int_equal(ta_revert(name, &r, "{\"previous\":\"unknown\"}"),
		                 QL_ERR_ACTION_FAILED);
		assert_non_null(strstr(r.detail, "is not known"));
		assert_false(ta_at_rest(name, &r, "{\"previous\":\"unknown\"}"));
		assert_int_equal(ta_revert(name, &r, "{\"previous\":\"partly paused\"}"),
		                 QL_ERR_ACTION_FAILED);
		assert_non_null(strstr(r.detail, "partly paused"));
	}
}

static void test_pause_revert_by_signals(void **state)
{
	(void)state;
	char cmdline[128], rec[QA_MAX_UNDO + 1];
	struct qa_child c = spawn_sleep(cmdline, sizeof cmdline, false);
	struct qa_handle h = {.name = "worker", .type = QA_HANDLE_WORKER, .match_cmdline = cmdline};
	struct run r;
	assert_string_equal(qa_action_find("pause")->family, "pause");
	assert_string_equal(qa_action_find("resume")->family, "pause");

	/* pause, reverted: the worker runs again */
	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(act("pause", &r), QL_OK);
	copy_undo(rec, sizeof rec, &r);
	assert_string_equal(rec, "{\"previous\":\"running\"}");
	ta_setup_revert(&r, &h, "/nonexistent", true);
	assert_false(ta_at_rest("pause", &r, rec));
	assert_int_equal(ta_revert("pause", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "would send CONT"));
	assert_int_equal(proc_state(c.pid), 'T'); /* the dry run changed nothing */
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_int_equal(ta_revert("pause", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "running again"));
	assert_int_not_equal(proc_state(c.pid), 'T');
	assert_true(ta_at_rest("pause", &r, rec));
	assert_int_equal(ta_revert("pause", &r, rec), QL_OK);
	assert_string_equal(r.detail, "worker: already running");
	assert_int_not_equal(proc_state(c.pid), 'T');

	/* resume of a paused worker, reverted: paused again */
	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(act("pause", &r), QL_OK);
	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(act("resume", &r), QL_OK);
	copy_undo(rec, sizeof rec, &r);
	assert_string_equal(rec, "{\"previous\":\"paused\"}");
	assert_int_not_equal(proc_state(c.pid), 'T');
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_false(ta_at_rest("resume", &r, rec));
	assert_int_equal(ta_revert("resume", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "stopped (state T)"));
	assert_int_equal(proc_state(c.pid), 'T');
	assert_true(ta_at_rest("resume", &r, rec));
	assert_int_equal(ta_revert("resume", &r, rec), QL_OK);
	assert_string_equal(r.detail, "worker: already paused");

	/* resume of a running worker says so */
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_int_equal(ta_revert("pause", &r, "{\"previous\":\"running\"}"), QL_OK);
	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(act("resume", &r), QL_OK);
	assert_string_equal(r.undo, "{\"previous\":\"running\"}");

	assert_pause_refuses(&h);
	assert_int_not_equal(proc_state(c.pid), 'T');

	/* The worker is gone: it cannot be resumed, and nothing says it runs. */
	kill(c.pid, SIGKILL);
	wait_child(&c);
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_false(ta_at_rest("pause", &r, "{\"previous\":\"running\"}"));
	assert_int_equal(ta_revert("pause", &r, "{\"previous\":\"running\"}"),
	                 QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "nothing to resume"));
}

static void test_pause_revert_by_file(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "paused");
	char rec[QA_MAX_UNDO + 1], want[PATH_MAX + 64];
	struct qa_handle h = {.name = "worker", .type = QA_HANDLE_WORKER, .pause_file = path};
	struct run r;

	setup_run(&r, &h, dir, false, NULL);
	assert_int_equal(act("pause", &r), QL_OK);
	copy_undo(rec, sizeof rec, &r);
	assert_string_equal(rec, "{\"previous\":\"running\"}");
	assert_true(tu_exists(path));
	ta_setup_revert(&r, &h, dir, false);
	r.ctx.deadline_ms = ql_mono_ms() - 1;
	assert_int_equal(ta_revert("pause", &r, rec), QL_ERR_TIMEOUT);
	assert_true(tu_exists(path));
	ta_setup_revert(&r, &h, dir, true);
	assert_false(ta_at_rest("pause", &r, rec));
	assert_int_equal(ta_revert("pause", &r, rec), QL_OK);
	snprintf(want, sizeof want, "worker: would remove %s", path);
	assert_string_equal(r.detail, want);
	assert_true(tu_exists(path));
	ta_setup_revert(&r, &h, dir, false);
	assert_int_equal(ta_revert("pause", &r, rec), QL_OK);
	snprintf(want, sizeof want, "worker resumed (removed %s)", path);
	assert_string_equal(r.detail, want);
	assert_false(tu_exists(path));
	assert_true(ta_at_rest("pause", &r, rec));
	assert_int_equal(ta_revert("pause", &r, rec), QL_OK);
	assert_string_equal(r.detail, "worker: already running");

	/* paused by someone else, resumed by quell; reverted: paused again */
	tu_write_str(path, "paused by hand\n");
	setup_run(&r, &h, dir, false, NULL);
	assert_int_equal(act("resume", &r), QL_OK);
	copy_undo(rec, sizeof rec, &r);
	assert_string_equal(rec, "{\"previous\":\"paused\"}");
	assert_false(tu_exists(path));
	ta_setup_revert(&r, &h, dir, false);
	assert_false(ta_at_rest("resume", &r, rec));
	assert_int_equal(ta_revert("resume", &r, rec), QL_OK);
	assert_true(tu_exists(path));
	assert_true(ta_at_rest("resume", &r, rec));
	assert_int_equal(ta_revert("resume", &r, rec), QL_OK);
	assert_string_equal(r.detail, "worker: already paused");

	assert_pause_refuses(&h);
	assert_true(tu_exists(path));
	free(path);
	tu_rmtree(dir);
}

static void test_restart_service_by_command(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *log = tu_path(dir, "log");
	char cmd[256], why[128];
	snprintf(cmd, sizeof cmd, "/bin/sh -c \"echo run >> %s\"", log);
	struct qa_handle h = {.name = "web", .type = QA_HANDLE_SERVICE};
	assert_true(qa_argv_parse(cmd, &h.restart, why, sizeof why));
	struct run r;
	setup_run(&r, &h, dir, true, NULL);
	assert_int_equal(act("restart", &r), QL_OK);
	assert_false(tu_exists(log));
	setup_run(&r, &h, dir, false, NULL);
	assert_int_equal(act("restart", &r), QL_OK);
	assert_string_equal(r.detail, "web restarted (sh exited 0)");
	char *text = tu_read(log, NULL);
	assert_string_equal(text, "run\n");
	free(text);

	/* A port that never answers: the restart ran, but it is not confirmed. */
	h.port = 1; /* nothing listens on tcpmux here */
	setup_run(&r, &h, dir, false, NULL);
	r.ctx.deadline_ms = ql_mono_ms() + 300;
	assert_int_equal(act("restart", &r), QL_ERR_TIMEOUT);
	assert_non_null(strstr(r.detail, "nothing answers on 127.0.0.1:1"));
	qa_argv_free(&h.restart);
	free(log);
	tu_rmtree(dir);
}

static void test_restart_service_by_match(void **state)
{
	(void)state;
	char cmdline[128], start[256], why[128];
	struct qa_child c = spawn_sleep(cmdline, sizeof cmdline, false);
	/* start leaves a new sleep with the same cmdline behind, the way a daemon forks. */
	snprintf(start, sizeof start, "/bin/sh -c \"%s </dev/null >/dev/null 2>&1 &\"", cmdline);
	struct qa_handle h = {
		.name = "svc", .type = QA_HANDLE_SERVICE, .match_cmdline = cmdline, .grace_s = 5};
	assert_true(qa_argv_parse(start, &h.start, why, sizeof why));
	struct run r;
	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(act("restart", &r), QL_OK);
	char want[64];
	snprintf(want, sizeof want, "svc: %d (TERM); start: sh exited 0; now pid ", (int)c.pid);
	assert_non_null(strstr(r.detail, want));
	int st = wait_child(&c);
	assert_true(WIFSIGNALED(st));

	/* Clean up the new one through the kill action. */
	struct qa_handle k = {.name = "k",
	                      .type = QA_HANDLE_PROCESS,
	                      .match_cmdline = cmdline,
	                      .signal = SIGKILL,
	                      .grace_s = 0};
	setup_run(&r, &k, "/nonexistent", false, NULL);
	assert_int_equal(act("kill", &r), QL_OK);
	assert_non_null(strstr(r.detail, "(KILL)"));
	qa_argv_free(&h.start);
}

static void test_scale_checks(void **state)
{
	(void)state;
	struct qa_handle h = {
		.name = "cache", .type = QA_HANDLE_INSTANCES, .port_base = 30000, .max = 4};
	static const char *const bad[] = {"5", "-1", "", "x", "1x", "007", " 1"};
	struct run r;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setup_run(&r, &h, "/nonexistent", false, "count", bad[i], NULL);
		assert_int_equal(qa_action_find("scale")->check(&r.ctx), QL_ERR_BAD_ARGUMENT);
	}
	setup_run(&r, &h, "/nonexistent", false, NULL);
	assert_int_equal(qa_action_find("scale")->check(&r.ctx), QL_ERR_BAD_ARGUMENT);
	setup_run(&r, &h, "/nonexistent", false, "count", "4", NULL);
	assert_int_equal(qa_action_find("scale")->check(&r.ctx), QL_OK);
}

static int track_lines(const char *path)
{
	char *text = tu_read(path, NULL);
	int n = 0;
	for (const char *p = text; p && *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* Instances that never listen or die at once: failures, and a file that always tells the truth. */
static void test_scale_tracking(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *track = tu_path(dir, "instances/cache");
	char why[128];
	struct qa_handle h = {.name = "cache",
	                      .type = QA_HANDLE_INSTANCES,
	                      .port_base = 1, /* nothing listens on 1 or 2 */
	                      .max = 4,
	                      .stop_signal = SIGTERM};
	assert_true(qa_argv_parse("/bin/sleep 120.{port}", &h.command, why, sizeof why));
	struct run r;
	setup_run(&r, &h, dir, false, "count", "2", NULL);
	r.ctx.deadline_ms = ql_mono_ms() + 500;
	assert_int_equal(act("scale", &r), QL_ERR_TIMEOUT);
	assert_non_null(strstr(r.detail, "not answering on port 1 2"));
	assert_string_equal(r.undo, "{\"previous\":0}");
	assert_int_equal(track_lines(track), 2); /* running, so tracked */

	setup_run(&r, &h, dir, false, "count", "0", NULL);
	assert_int_equal(act("scale", &r), QL_OK);
	assert_string_equal(r.detail, "cache: 2 -> 0 instances");
	assert_string_equal(r.undo, "{\"previous\":2}");
	assert_int_equal(track_lines(track), 0);

	qa_argv_free(&h.command);
	assert_true(qa_argv_parse("/bin/sh -c \"echo no port {port} >&2; exit 1\"", &h.command, why,
	                          sizeof why));
	setup_run(&r, &h, dir, false, "count", "1", NULL);
	assert_int_equal(act("scale", &r), QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "no port 1"));
	assert_int_equal(track_lines(track), 0);

	/* A line for a process that is gone is dropped; a broken file stops everything. */
	tu_write_str(track, "0 1 4194304 1\n");
	setup_run(&r, &h, dir, false, "count", "0", NULL);
	assert_int_equal(act("scale", &r), QL_OK);
	assert_string_equal(r.detail, "cache: 0 -> 0 instances");
	assert_int_equal(track_lines(track), 0);
	tu_write_str(track, "0 1 garbage\n");
	setup_run(&r, &h, dir, false, "count", "0", NULL);
	assert_int_equal(act("scale", &r), QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "line 1 is not"));

	/* Nowhere to record an instance: nothing may be left running untracked. */
	qa_argv_free(&h.command);
	assert_true(qa_argv_parse("/bin/sleep 120.{port}", &h.command, why, sizeof why));
	char *blocked = tu_path(dir, "blocked");
	assert_int_equal(mkdir(blocked, 0700), 0);
	char *file = tu_path(blocked, "instances");
	tu_write_str(file, "not a directory\n");
	h.port_base = 3;
	setup_run(&r, &h, blocked, false, "count", "1", NULL);
	assert_int_not_equal(act("scale", &r), QL_OK);
	struct qa_handle find = {.name = "t", .match_cmdline = "/bin/sleep 120.3"};
	struct qa_matches *m = malloc(sizeof *m);
	assert_non_null(m);
	assert_int_equal(qa_proc_find(&find, 0, m, why, sizeof why), QL_OK);
	assert_int_equal(m->n, 0);
	free(m);
	free(file);
	free(blocked);

	/* Killed between recording "starting" (pid 0) and recording the pid: the
	 * next scale adopts the instance that runs, instead of starting another. */
	char arg[64];
	snprintf(arg, sizeof arg, "120.%d%d", (int)getpid(), 5);
	qa_argv_free(&h.command);
	char tmpl[96];
	snprintf(tmpl, sizeof tmpl, "/bin/sleep %.*s{port}", (int)strlen(arg) - 1, arg);
	assert_true(qa_argv_parse(tmpl, &h.command, why, sizeof why));
	h.port_base = 5;
	char *argv[] = {"/bin/sleep", arg, NULL};
	struct qa_child orphan;
	assert_int_equal(qa_proc_spawn(argv, QA_SPAWN_SETSID, &orphan, why, sizeof why), QL_OK);
	char want[160];
	snprintf(want, sizeof want, "/bin/sleep %s", arg);
	struct qa_handle seen = {.name = "t", .match_cmdline = want};
	m = malloc(sizeof *m);
	assert_non_null(m);
	int64_t until = ql_mono_ms() + 5000;
	do
		assert_int_equal(qa_proc_find(&seen, 0, m, why, sizeof why), QL_OK);
	while (m->n == 0 && ql_mono_ms() < until);
	assert_int_equal(m->n, 1);
	tu_write_str(track, "0 5 0 0\n");
	setup_run(&r, &h, dir, false, "count", "1", NULL);
	r.ctx.deadline_ms = ql_mono_ms() + 300; /* sleep answers on no port */
	(void)act("scale", &r);
	char *text = tu_read(track, NULL);
	char line[64];
	snprintf(line, sizeof line, "0 5 %d ", (int)orphan.pid);
	assert_non_null(strstr(text, line)); /* adopted, not started again */
	free(text);
	assert_int_equal(qa_proc_find(&seen, 0, m, why, sizeof why), QL_OK);
	assert_int_equal(m->n, 1);
	free(m);
	kill(orphan.pid, SIGKILL);
	int st;
	assert_int_equal(qa_proc_wait(&orphan, ql_mono_ms() + 5000, &st), QL_OK);
	qa_child_fini(&orphan);

	qa_argv_free(&h.command);
	free(track);
	tu_rmtree(dir);
}

/* ---- scale revert, with instances that answer */

/* "--listen PORT": be an instance that answers on 127.0.0.1:PORT until killed. */
static int listen_forever(const char *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)atoi(port)),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0) {
		perror("listen");
		return 1;
	}
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c >= 0)
			close(c);
	}
}

/* The tracking file's lines, as a string (pid and start time of each instance). */
static char *track_text(const char *path)
{
	char *text = tu_read(path, NULL);
	assert_non_null(text);
	return text;
}

static void test_scale_revert(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *track = tu_path(dir, "instances/cache");
	char self[PATH_MAX], cmd[PATH_MAX + 64], why[128], rec[QA_MAX_UNDO + 1];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	assert_true(n > 0);
	self[n] = '\0';
	snprintf(cmd, sizeof cmd, "\"%s\" --listen {port}", self);
	/* Four free ports, somewhere this test's pid picks, in 10000-19999: below
	 * the integration tests' coordinators (free_port: 20000 up) and the
	 * kernel's ephemeral ports (32768 up), which a listener cannot bind while
	 * an outgoing connection holds one (seen as a flaky scale in ./dev test). */
	int base = 10000 + (int)(getpid() % 990) * 10;
	for (int tries = 0; tries < 100; tries++, base = base >= 19950 ? 10000 : base + 10)
		if (!qa_port_answers(base) && !qa_port_answers(base + 1) &&
		    !qa_port_answers(base + 2) && !qa_port_answers(base + 3))
			break;
	struct qa_handle h = {.name = "cache",
	                      .type = QA_HANDLE_INSTANCES,
	                      .port_base = base,
	                      .max = 4,
	                      .stop_signal = SIGTERM};
	assert_true(qa_argv_parse(cmd, &h.command, why, sizeof why));
	struct run r;

	setup_run(&r, &h, dir, false, "count", "1", NULL);
	assert_int_equal(act("scale", &r), QL_OK);
	char *one = track_text(track);
	setup_run(&r, &h, dir, false, "count", "3", NULL);
	assert_int_equal(act("scale", &r), QL_OK);
	copy_undo(rec, sizeof rec, &r);
	assert_string_equal(rec, "{\"previous\":1}");
	assert_int_equal(track_lines(track), 3);
	assert_true(qa_port_answers(base + 2));

	ta_setup_revert(&r, &h, dir, true);
	assert_false(ta_at_rest("scale", &r, rec));
	assert_int_equal(ta_revert("scale", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "would go 3 -> 1 instances"));
	assert_int_equal(track_lines(track), 3); /* the dry run changed nothing */
	assert_true(qa_port_answers(base + 2));

	ta_setup_revert(&r, &h, dir, false);
	assert_int_equal(ta_revert("scale", &r, rec), QL_OK);
	char want[128];
	snprintf(want, sizeof want, "cache: 3 -> 1 instance (port %d)", base);
	assert_string_equal(r.detail, want);
	char *now = track_text(track);
	assert_string_equal(now, one); /* the same instance 0, same pid and start time */
	free(now);
	assert_true(qa_port_answers(base));
	assert_false(qa_port_answers(base + 1));
	assert_false(qa_port_answers(base + 2));
	assert_true(ta_at_rest("scale", &r, rec));
	assert_int_equal(ta_revert("scale", &r, rec), QL_OK);
	assert_string_equal(r.detail, "cache: already 1 instance");

	/* scaled down to 0, reverted: one instance runs (and answers) again */
	setup_run(&r, &h, dir, false, "count", "0", NULL);
	assert_int_equal(act("scale", &r), QL_OK);
	copy_undo(rec, sizeof rec, &r);
	assert_false(qa_port_answers(base));
	ta_setup_revert(&r, &h, dir, false);
	assert_false(ta_at_rest("scale", &r, rec));
	assert_int_equal(ta_revert("scale", &r, rec), QL_OK);
	assert_int_equal(track_lines(track), 1);
	assert_true(qa_port_answers(base));
	assert_true(ta_at_rest("scale", &r, rec));

	/* Malformed records: refused, nothing started or stopped. */
	static const char *const bad[] = {NULL,
	                                  "[]",
	                                  "{}",
	                                  "{\"previous\":\"1\"}",
	                                  "{\"previous\":-1}",
	                                  "{\"previous\":1.5}",
	                                  "{\"previous\":5}",
	                                  "{\"previous\":1e300}",
	                                  "{\"previous\":true}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ta_setup_revert(&r, &h, dir, false);
		assert_int_equal(ta_revert("scale", &r, bad[i]), QL_ERR_BAD_ARGUMENT);
		assert_non_null(strstr(r.detail, "malformed undo record"));
		assert_false(ta_at_rest("scale", &r, bad[i]));
		assert_int_equal(track_lines(track), 1);
	}

	setup_run(&r, &h, dir, false, "count", "0", NULL);
	assert_int_equal(act("scale", &r), QL_OK);
	assert_false(qa_port_answers(base));
	free(one);
	qa_argv_free(&h.command);
	free(track);
	tu_rmtree(dir);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--listen") == 0)
		return listen_forever(argv[2]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill),
		cmocka_unit_test(test_kill_after_grace),
		cmocka_unit_test(test_kill_refuses_self),
		cmocka_unit_test(test_pause_resume_by_signals),
		cmocka_unit_test(test_pause_revert_by_signals),
		cmocka_unit_test(test_pause_revert_by_file),
		cmocka_unit_test(test_pause_by_commands),
		cmocka_unit_test(test_restart_service_by_command),
		cmocka_unit_test(test_restart_service_by_match),
		cmocka_unit_test(test_scale_checks),
		cmocka_unit_test(test_scale_tracking),
		cmocka_unit_test(test_scale_revert),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
