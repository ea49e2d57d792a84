/*
 * test_actions_files.c: the actions that edit files (rollback, maintenance;
 * flag has test_actions_flag.c), driven through their descriptors on real
 * files in a temporary directory: what changed on disk, what did not, the
 * detail line, the undo JSON and what revert() puts back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actions/actions.h"
#include "fsutil.h"
#include "handles.h"
#include "ql_limits.h"
#include "tactions.h"
#include "tutil.h"

#define setup_run(r, h, dry_run, ...) ta_setup(r, h, "/nonexistent", dry_run, __VA_ARGS__)

/* ---- rollback */

struct release_fixture {
	char *dir, *releases, *link;
	struct qa_handle h;
};

static void make_release_tree(struct release_fixture *f, const char *target)
{
	f->dir = tu_mkdtemp();
	f->releases = tu_path(f->dir, "releases");
	f->link = tu_path(f->dir, "current");
	assert_int_equal(mkdir(f->releases, 0755), 0);
	const char *names[] = {"v1", "v2", "v10", "v9"};
	for (size_t i = 0; i < 4; i++) {
		char *p = tu_path(f->releases, names[i]);
		assert_int_equal(mkdir(p, 0755), 0);
		free(p);
	}
	/* not releases: a file and a hidden directory */
	char *p = tu_path(f->releases, "v5");
	tu_write_str(p, "not a dir");
	free(p);
	p = tu_path(f->releases, ".v6");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	assert_int_equal(symlink(target, f->link), 0);
	f->h = (struct qa_handle){
		.name = "app", .type = QA_HANDLE_RELEASE, .dir = f->releases, .link = f->link};
}

static void free_release_tree(struct release_fixture *f)
{
	free(f->releases);
	free(f->link);
	tu_rmtree(f->dir);
}

static void read_link(const char *link, char *buf, size_t len)
{
	ssize_t n = readlink(link, buf, len - 1);
	assert_true(n > 0);
	buf[n] = '\0';
}

static void rollback_relative_walks_back_to_oldest(void **state)
{
	(void)state;
	struct release_fixture f;
	make_release_tree(&f, "releases/v10");
	struct run r;
	char target[PATH_MAX];

	setup_run(&r, &f.h, true, NULL);
	assert_int_equal(act("rollback", &r), QL_OK);
	assert_non_null(strstr(r.detail, "would switch v10 -> v9"));
	read_link(f.link, target, sizeof target);
	assert_string_equal(target, "releases/v10");

	const char *want[] = {"v9", "v2", "v1"};
	const char *from[] = {"v10", "v9", "v2"};
	for (size_t i = 0; i < 3; i++) {
		setup_run(&r, &f.h, false, NULL);
		assert_int_equal(act("rollback", &r), QL_OK);
		char detail[64], undo[96], expect[64];
		snprintf(detail, sizeof detail, "app: %s -> %s", from[i], want[i]);
		assert_string_equal(r.detail, detail);
		snprintf(undo, sizeof undo, "{\"previous\":\"%s\",\"switched_to\":\"%s\"}", from[i],
		         want[i]);
		assert_string_equal(r.undo, undo);
		read_link(f.link, target, sizeof target);
		snprintf(expect, sizeof expect, "releases/%s", want[i]);
		assert_string_equal(target, expect); /* still relative */
	}

	/* v1 is the oldest: refused, nothing changes */
	setup_run(&r, &f.h, false, NULL);
	assert_int_equal(act("rollback", &r), QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "v1 is the oldest release"));
	assert_string_equal(r.undo, "");
	read_link(f.link, target, sizeof target);
	assert_string_equal(target, "releases/v1");

	/* no temporary links left behind: only releases/ and current */
	DIR *d = opendir(f.dir);
	assert_non_null(d);
	size_t entries = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		entries += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(entries, 2);
	free_release_tree(&f);
}

static void rollback_absolute_stays_absolute(void **state)
{
	(void)state;
	struct release_fixture f;
	make_release_tree(&f, "placeholder");
	char abs_target[PATH_MAX];
	snprintf(abs_target, sizeof abs_target, "%s/v2/", f.releases); /* trailing slash too */
	assert_int_equal(unlink(f.link), 0);
	assert_int_equal(symlink(abs_target, f.link), 0);

	struct run r;
	setup_run(&r, &f.h, false, NULL);
	assert_int_equal(act("rollback", &r), QL_OK);
	assert_string_equal(r.detail, "app: v2 -> v1");
	char target[PATH_MAX], expect[PATH_MAX];
	read_link(f.link, target, sizeof target);
	snprintf(expect, sizeof expect, "%s/v1", f.releases);
	assert_string_equal(target, expect);
	free_release_tree(&f);
}

static void rollback_refuses_bad_links(void **state)
{
	(void)state;
	struct release_fixture f;
	make_release_tree(&f, "/tmp");
	struct run r;

	/* outside dir */
	setup_run(&r, &f.h, false, NULL);
	assert_int_equal(act("rollback", &r), QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "is not a release inside"));

	/* missing */
	assert_int_equal(unlink(f.link), 0);
	setup_run(&r, &f.h, false, NULL);
	assert_int_equal(act("rollback", &r), QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "missing"));

	/* a regular file, not a symlink */
	tu_write_str(f.link, "v2");
	setup_run(&r, &f.h, false, NULL);
	assert_int_equal(act("rollback", &r), QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "not a symlink"));
	assert_int_equal(unlink(f.link), 0);

	/* pointing at something in dir that is not a release directory */
	assert_int_equal(symlink("releases/v5", f.link), 0);
	setup_run(&r, &f.h, false, NULL);
	assert_int_equal(act("rollback", &r), QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "is not a directory in"));
	free_release_tree(&f);
}

static void rollback_runs_reload(void **state)
{
	(void)state;
	struct release_fixture f;
	make_release_tree(&f, "releases/v2");
	struct run r;
	char why[128];

	assert_true(qa_argv_parse("/bin/true", &f.h.reload, why, sizeof why));
	setup_run(&r, &f.h, false, NULL);
	assert_int_equal(act("rollback", &r), QL_OK);
	assert_string_equal(r.detail, "app: v2 -> v1 (reloaded)");
	qa_argv_free(&f.h.reload);

	/* a failing reload: the switch stays, undo is set, the detail says so */
	assert_int_equal(unlink(f.link), 0);
	assert_int_equal(symlink("releases/v2", f.link), 0);
	assert_true(qa_argv_parse("/bin/false", &f.h.reload, why, sizeof why));
	setup_run(&r, &f.h, false, NULL);
	assert_int_equal(act("rollback", &r), QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "reload failed"));
	assert_string_equal(r.undo, "{\"previous\":\"v2\",\"switched_to\":\"v1\"}");
	qa_argv_free(&f.h.reload);

	/* a reload that outlives the deadline is killed */
	assert_int_equal(unlink(f.link), 0);
	assert_int_equal(symlink("releases/v2", f.link), 0);
	assert_true(qa_argv_parse("/bin/sleep 30", &f.h.reload, why, sizeof why));
	setup_run(&r, &f.h, false, NULL);
	r.ctx.deadline_ms = ql_mono_ms() + 200;
	int64_t t0 = ql_mono_ms();
	assert_int_equal(act("rollback", &r), QL_ERR_TIMEOUT);
	assert_true(ql_mono_ms() - t0 < 5000);
	qa_argv_free(&f.h.reload);
	free_release_tree(&f);
}

static void relink(const char *link, const char *target)
{
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink(target, link), 0);
}

static void rollback_revert_switches_back(void **state)
{
	(void)state;
	struct release_fixture f;
	make_release_tree(&f, "releases/v10");
	char *log = tu_path(f.dir, "reloads");
	char cmd[PATH_MAX + 64], why[128], target[PATH_MAX];
	snprintf(cmd, sizeof cmd, "/bin/sh -c \"echo reload >> %s\"", log);
	assert_true(qa_argv_parse(cmd, &f.h.reload, why, sizeof why));
	struct run r;
	char rec[QA_MAX_UNDO + 1];

	setup_run(&r, &f.h, false, NULL);
	assert_int_equal(act("rollback", &r), QL_OK);
	snprintf(rec, sizeof rec, "%s", r.undo);
	assert_string_equal(rec, "{\"previous\":\"v10\",\"switched_to\":\"v9\"}");
	ta_assert_file(log, "reload\n");

	ta_setup_revert(&r, &f.h, "/nonexistent", true);
	assert_false(ta_at_rest("rollback", &r, rec));
	assert_int_equal(ta_revert("rollback", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "app: would switch v9 -> v10"));
	read_link(f.link, target, sizeof target);
	assert_string_equal(target, "releases/v9"); /* the dry run changed nothing */
	ta_assert_file(log, "reload\n");

	ta_setup_revert(&r, &f.h, "/nonexistent", false);
	assert_int_equal(ta_revert("rollback", &r, rec), QL_OK);
	assert_string_equal(r.detail, "app: v9 -> v10 (reloaded)");
	read_link(f.link, target, sizeof target);
	assert_string_equal(target, "releases/v10");
	ta_assert_file(log, "reload\nreload\n");
	assert_true(ta_at_rest("rollback", &r, rec));
	assert_int_equal(ta_revert("rollback", &r, rec), QL_OK);
	assert_string_equal(r.detail, "app: already at v10; nothing to revert");
	ta_assert_file(log, "reload\nreload\n"); /* nothing switched, nothing reloaded */

	/* A deploy since: the link names a third release; revert refuses. */
	setup_run(&r, &f.h, false, NULL);
	assert_int_equal(act("rollback", &r), QL_OK);
	snprintf(rec, sizeof rec, "%s", r.undo);
	relink(f.link, "releases/v2");
	ta_setup_revert(&r, &f.h, "/nonexistent", false);
	assert_false(ta_at_rest("rollback", &r, rec));
	assert_int_equal(ta_revert("rollback", &r, rec), QL_ERR_ACTION_FAILED);
	assert_string_equal(r.detail, "app: current is now v2, not v9 as rolled back to (a "
	                              "deploy since?); not reverted");
	read_link(f.link, target, sizeof target);
	assert_string_equal(target, "releases/v2");

	/* The release to go back to is gone: refused too. */
	relink(f.link, "releases/v9");
	char *v10 = tu_path(f.releases, "v10");
	assert_int_equal(rmdir(v10), 0);
	free(v10);
	assert_int_equal(ta_revert("rollback", &r, rec), QL_ERR_ACTION_FAILED);
	assert_non_null(strstr(r.detail, "release v10 is no longer a directory in"));
	read_link(f.link, target, sizeof target);
	assert_string_equal(target, "releases/v9");

	/* Malformed records (an old one without switched_to among them): refused. */
	const char *bad[] = {NULL,
	                     "[]",
	                     "{}",
	                     "{\"previous\":\"v10\"}",
	                     "{\"previous\":\"v10\",\"switched_to\":5}",
	                     "{\"previous\":\"../../etc\",\"switched_to\":\"v9\"}",
	                     "{\"previous\":\"v10\",\"switched_to\":\"\"}",
	                     "{\"previous\":true,\"switched_to\":\"v9\"}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ta_setup_revert(&r, &f.h, "/nonexistent", false);
		assert_int_equal(ta_revert("rollback", &r, bad[i]), QL_ERR_BAD_ARGUMENT);
		assert_non_null(strstr(r.detail, "malformed undo record"));
		assert_false(ta_at_rest("rollback", &r, bad[i]));
		read_link(f.link, target, sizeof target);
		assert_string_equal(target, "releases/v9");
	}
	ta_assert_file(log, "reload\nreload\nreload\n"); /* the two rollbacks and one revert */
	qa_argv_free(&f.h.reload);
	free(log);
	free_release_tree(&f);
}

/* ---- maintenance undo */

static void maintenance_undo_records_previous(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "maintenance.html");
	struct qa_handle h = {.name = "site", .type = QA_HANDLE_MAINTENANCE, .file = path};
	struct run r;

	setup_run(&r, &h, false, "mode", "on", "message", "first", NULL);
	assert_int_equal(act("maintenance", &r), QL_OK);
	assert_string_equal(r.undo, "{\"previous\":\"off\"}");

	setup_run(&r, &h, false, "mode", "on", "message", "second", NULL);
	assert_int_equal(act("maintenance", &r), QL_OK);
	assert_string_equal(r.undo, "{\"previous\":\"on\",\"message\":\"first\"}");

	setup_run(&r, &h, false, "mode", "off", NULL);
	assert_int_equal(act("maintenance", &r), QL_OK);
	assert_string_equal(r.undo, "{\"previous\":\"on\",\"message\":\"second\"}");

	/* a long old message is cut to 1 KiB, at a character boundary */
	char big[3000];
	memset(big, 'a', sizeof big);
	memcpy(big + 1023, "\xc3\xa9", 2); /* straddles the 1 KiB cut */
	big[sizeof big - 1] = '\0';
	tu_write_str(path, big);
	setup_run(&r, &h, false, "mode", "off", NULL);
	assert_int_equal(act("maintenance", &r), QL_OK);
	char *m = strstr(r.undo, "\"message\":\"");
	assert_non_null(m);
	m += strlen("\"message\":\"");
	size_t mlen = strlen(m) - 2; /* without "} */
	assert_true(mlen <= 1024);
	assert_int_equal(mlen, 1023);

	free(path);
	tu_rmtree(dir);
}

/* ---- maintenance revert */

static void maintenance_revert_restores_previous(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "maintenance.html");
	struct qa_handle h = {.name = "site", .type = QA_HANDLE_MAINTENANCE, .file = path};
	struct run r;
	char rec[QA_MAX_UNDO + 1], want[PATH_MAX + 64];

	/* off -> on, reverted: the file is gone again */
	setup_run(&r, &h, false, "mode", "on", "message", "down", NULL);
	assert_int_equal(act("maintenance", &r), QL_OK);
	snprintf(rec, sizeof rec, "%s", r.undo);
	assert_string_equal(rec, "{\"previous\":\"off\"}");
	ta_setup_revert(&r, &h, "/nonexistent", true);
	assert_false(ta_at_rest("maintenance", &r, rec));
	assert_int_equal(ta_revert("maintenance", &r, rec), QL_OK);
	snprintf(want, sizeof want, "would remove %s", path);
	assert_string_equal(r.detail, want);
	char *text = tu_read(path, NULL);
	assert_string_equal(text, "down\n"); /* the dry run changed nothing */
	free(text);
	ta_setup_revert(&r, &h, "/nonexistent", false);
	r.ctx.deadline_ms = ql_mono_ms() - 1;
	assert_int_equal(ta_revert("maintenance", &r, rec), QL_ERR_TIMEOUT);
	assert_true(tu_exists(path));
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_int_equal(ta_revert("maintenance", &r, rec), QL_OK);
	snprintf(want, sizeof want, "maintenance off (removed %s)", path);
	assert_string_equal(r.detail, want);
	assert_false(tu_exists(path));
	assert_true(ta_at_rest("maintenance", &r, rec));
	assert_int_equal(ta_revert("maintenance", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "maintenance already off"));

	/* on "first" -> on "second", reverted: "first" is back, byte for byte */
	tu_write_str(path, "first message\n");
	setup_run(&r, &h, false, "mode", "on", "message", "second", NULL);
	assert_int_equal(act("maintenance", &r), QL_OK);
	snprintf(rec, sizeof rec, "%s", r.undo);
	assert_string_equal(rec, "{\"previous\":\"on\",\"message\":\"first message\"}");
	ta_setup_revert(&r, &h, "/nonexistent", true);
	assert_false(ta_at_rest("maintenance", &r, rec));
	assert_int_equal(ta_revert("maintenance", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "would write"));
	text = tu_read(path, NULL);
	assert_string_equal(text, "second\n");
	free(text);
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_int_equal(ta_revert("maintenance", &r, rec), QL_OK);
	snprintf(want, sizeof want, "maintenance on (%s, previous message)", path);
	assert_string_equal(r.detail, want);
	text = tu_read(path, NULL);
	assert_string_equal(text, "first message\n");
	free(text);
	assert_true(ta_at_rest("maintenance", &r, rec));
	assert_int_equal(ta_revert("maintenance", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "maintenance already on"));

	/* on -> off, reverted: on again, with its message */
	setup_run(&r, &h, false, "mode", "off", NULL);
	assert_int_equal(act("maintenance", &r), QL_OK);
	snprintf(rec, sizeof rec, "%s", r.undo);
	assert_false(tu_exists(path));
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_false(ta_at_rest("maintenance", &r, rec));
	assert_int_equal(ta_revert("maintenance", &r, rec), QL_OK);
	text = tu_read(path, NULL);
	assert_string_equal(text, "first message\n");
	free(text);

	/* A message that did not fit the record: present is enough; absent gets the default. */
	const char *unknown = "{\"previous\":\"on\",\"message\":\"\"}";
	assert_true(ta_at_rest("maintenance", &r, unknown));
	assert_int_equal(unlink(path), 0);
	assert_false(ta_at_rest("maintenance", &r, unknown));
	assert_int_equal(ta_revert("maintenance", &r, unknown), QL_OK);
	assert_non_null(strstr(r.detail, "not recorded"));
	text = tu_read(path, NULL);
	assert_string_equal(text, "This service is down for maintenance.\n");
	free(text);

	/* Malformed records: refused, nothing touched. */
	char big[1100 + 64];
	snprintf(big, sizeof big, "{\"previous\":\"on\",\"message\":\"%01100d\"}", 0);
	const char *bad[] = {NULL,
	                     "[]",
	                     "{}",
	                     "\"off\"",
	                     "{\"previous\":\"maybe\"}",
	                     "{\"previous\":\"on\"}",
	                     "{\"previous\":\"on\",\"message\":5}",
	                     "{\"previous\":1}",
	                     big};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ta_setup_revert(&r, &h, "/nonexistent", false);
		assert_int_equal(ta_revert("maintenance", &r, bad[i]), QL_ERR_BAD_ARGUMENT);
		assert_non_null(strstr(r.detail, "malformed undo record"));
		assert_false(ta_at_rest("maintenance", &r, bad[i]));
		text = tu_read(path, NULL);
		assert_string_equal(text, "This service is down for maintenance.\n");
		free(text);
	}

	free(path);
	tu_rmtree(dir);
}

/* ---- undo records are saved before anything changes */

struct undo_probe {
	const char *file; /* read at the moment the undo record is saved */
	char seen[256];   /* what the file (or link) held then */
	char undo[256];
	int calls;
};

static void probe_save(void *arg, const char *undo)
{
	struct undo_probe *p = arg;
	p->calls++;
	snprintf(p->undo, sizeof p->undo, "%s", undo);
	ssize_t n = readlink(p->file, p->seen, sizeof p->seen - 1);
	if (n >= 0) {
		p->seen[n] = '\0';
		return;
	}
	char *text = tu_read(p->file, NULL);
	snprintf(p->seen, sizeof p->seen, "%s", text);
	free(text);
}

static void undo_saved_before_the_change(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "flags.json");
	tu_write_str(path, "{\"checkout_v2\": true}\n");
	struct qa_handle h = {.name = "flags", .type = QA_HANDLE_FLAGS, .file = path};
	struct undo_probe p = {.file = path};
	struct run r;
	setup_run(&r, &h, false, "name", "checkout_v2", "value", "off", NULL);
	r.ctx.save_undo = probe_save;
	r.ctx.save_undo_arg = &p;
	assert_int_equal(act("flag", &r), QL_OK);
	assert_int_equal(p.calls, 1);
	assert_string_equal(p.undo, "{\"flag\":\"checkout_v2\",\"previous\":true}");
	assert_string_equal(p.seen, "{\"checkout_v2\": true}\n"); /* not yet rewritten */

	/* A dry run saves nothing. */
	p.calls = 0;
	setup_run(&r, &h, true, "name", "checkout_v2", "value", "on", NULL);
	r.ctx.save_undo = probe_save;
	r.ctx.save_undo_arg = &p;
	assert_int_equal(act("flag", &r), QL_OK);
	assert_int_equal(p.calls, 0);
	free(path);
	tu_rmtree(dir);

	struct release_fixture f;
	make_release_tree(&f, "releases/v10");
	struct undo_probe q = {.file = f.link};
	setup_run(&r, &f.h, false, NULL);
	r.ctx.save_undo = probe_save;
	r.ctx.save_undo_arg = &q;
	assert_int_equal(act("rollback", &r), QL_OK);
	assert_int_equal(q.calls, 1);
	assert_string_equal(q.undo, "{\"previous\":\"v10\",\"switched_to\":\"v9\"}");
	assert_string_equal(q.seen, "releases/v10"); /* the link had not moved yet */
	free_release_tree(&f);
}

/* ---- nobody but root can redirect root's writes */

static void writes_refuse_paths_others_control(void **state)
{
	(void)state;
	if (getuid() != 0)
		skip(); /* needs to chown a directory to another user */
	char *dir = tu_mkdtemp();
	char *app = tu_path(dir, "app"), *conf = tu_path(dir, "app/conf");
	char *flags = tu_path(dir, "app/conf/flags.json"), *own = tu_path(dir, "app/flags.json");
	char *victim = tu_path(dir, "victim");
	assert_int_equal(mkdir(app, 0755), 0);
	assert_int_equal(mkdir(conf, 0755), 0);
	assert_int_equal(chown(app, 65534, 65534), 0); /* the service owns app/ */
	tu_write_str(flags, "{\"checkout_v2\": true}\n");
	tu_write_str(victim, "root's file\n");

	/* app/ is above the file: its owner could swap conf/ for a symlink to /etc. */
	struct qa_handle h = {.name = "flags", .type = QA_HANDLE_FLAGS, .file = flags};
	struct run r;
	setup_run(&r, &h, false, "name", "checkout_v2", "value", "off", NULL);
	assert_int_equal(act("flag", &r), QL_ERR_DENIED);
	assert_non_null(strstr(r.detail, "above it can be changed"));
	char *text = tu_read(flags, NULL);
	assert_string_equal(text, "{\"checkout_v2\": true}\n");
	free(text);

	/* The file's own directory may be the service's; a symlink planted at the
	 * file's name is replaced, never followed. */
	assert_int_equal(symlink(victim, own), 0);
	h.file = own;
	h.format = QA_FLAGS_KV;
	setup_run(&r, &h, false, "name", "checkout_v2", "value", "off", NULL);
	assert_int_equal(act("flag", &r), QL_ERR_ACTION_FAILED); /* not a regular file */
	struct qa_handle m = {.name = "site", .type = QA_HANDLE_MAINTENANCE, .file = own};
	setup_run(&r, &m, false, "mode", "on", "message", "down", NULL);
	assert_int_equal(act("maintenance", &r), QL_OK);
	text = tu_read(victim, NULL);
	assert_string_equal(text, "root's file\n");
	free(text);
	struct stat st;
	assert_int_equal(lstat(own, &st), 0);
	assert_true(S_ISREG(st.st_mode));

	free(app);
	free(conf);
	free(flags);
	free(own);
	free(victim);
	tu_rmtree(dir);
}

static void stale_temps_are_cleaned(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "flags.json"),
	     *stale = tu_path(dir, ".flags.json.quell-0123456789abcdef");
	char *other = tu_path(dir, ".other.quell-0123456789abcdef");
	tu_write_str(path, "{}\n");
	tu_write_str(stale, "half");
	tu_write_str(other, "not ours to judge");
	assert_int_equal(qa_clean_temps(path), 1);
	assert_false(tu_exists(stale));
	assert_true(tu_exists(other));
	assert_true(tu_exists(path));
	free(path);
	free(stale);
	free(other);
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rollback_relative_walks_back_to_oldest),
		cmocka_unit_test(rollback_absolute_stays_absolute),
		cmocka_unit_test(rollback_refuses_bad_links),
		cmocka_unit_test(rollback_runs_reload),
		cmocka_unit_test(rollback_revert_switches_back),
		cmocka_unit_test(maintenance_undo_records_previous),
		cmocka_unit_test(maintenance_revert_restores_previous),
		cmocka_unit_test(undo_saved_before_the_change),
		cmocka_unit_test(writes_refuse_paths_others_control),
		cmocka_unit_test(stale_temps_are_cleaned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
