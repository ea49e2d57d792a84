/*
 * test_actions_flag.c: the flag action on real JSON and key=value files in
 * a temporary directory: the one flag that changes, everything else kept
 * (other keys, order, comments, mode), refusals, the undo JSON and what
 * revert() puts back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actions/actions.h"
#include "handles.h"
#include "ql_limits.h"
#include "tactions.h"
#include "tutil.h"

#define setup_run(r, h, dry_run, ...) ta_setup(r, h, "/nonexistent", dry_run, __VA_ARGS__)

/* ---- flag, json */

static void flag_json_flips_only_that_key(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "flags.json");
	tu_write_str(path, "{\"checkout_v2\": true, \"recommendations\": true, "
	                   "\"search_suggestions\": false, \"limit\": 25, \"name\": \"x\"}\n");
	assert_int_equal(chmod(path, 0640), 0);
	struct qa_handle h = {.name = "flags", .type = QA_HANDLE_FLAGS, .file = path};
	struct run r;

	setup_run(&r, &h, false, "name", "checkout_v2", "value", "off", NULL);
	assert_int_equal(act("flag", &r), QL_OK);
	assert_non_null(strstr(r.detail, "flags checkout_v2: on -> off ("));
	assert_string_equal(r.undo, "{\"flag\":\"checkout_v2\",\"previous\":true}");
	char *text = tu_read(path, NULL);
	assert_non_null(strstr(text, "\"checkout_v2\":\tfalse"));
	assert_non_null(strstr(text, "\"recommendations\":\ttrue"));
	assert_non_null(strstr(text, "\"search_suggestions\":\tfalse"));
	assert_non_null(strstr(text, "\"limit\":\t25"));
	assert_non_null(strstr(text, "\"name\":\t\"x\""));
	/* order kept */
	assert_true(strstr(text, "checkout_v2") < strstr(text, "recommendations"));
	free(text);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);

	/* an absent flag is added; undo says it was absent */
	setup_run(&r, &h, false, "name", "new.flag-1", "value", "on", NULL);
	assert_int_equal(act("flag", &r), QL_OK);
	assert_string_equal(r.undo, "{\"flag\":\"new.flag-1\",\"previous\":null}");
	assert_non_null(strstr(r.detail, "absent -> on"));

	free(path);
	tu_rmtree(dir);
}

static void flag_json_refuses_non_object(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "flags.json");
	struct qa_handle h = {.name = "flags", .type = QA_HANDLE_FLAGS, .file = path};
	struct run r;
	const char *bad[] = {"[1, 2]\n",
	                     "{\"a\": tru",
	                     "\"string\"",
	                     "{\"checkout_v2\": \"yes\"}",
	                     "{\"a\": true} {\"b\": false}\n",
	                     ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		tu_write_str(path, bad[i]);
		setup_run(&r, &h, false, "name", "checkout_v2", "value", "on", NULL);
		assert_int_equal(act("flag", &r), QL_ERR_ACTION_FAILED);
		assert_non_null(strstr(r.detail, "refusing"));
		assert_string_equal(r.undo, "");
		char *text = tu_read(path, NULL);
		assert_string_equal(text, bad[i]); /* untouched */
		free(text);
	}
	free(path);
	tu_rmtree(dir);
}

static void flag_bad_arguments(void **state)
{
	(void)state;
	struct qa_handle h = {.name = "flags", .type = QA_HANDLE_FLAGS, .file = "/nonexistent/f"};
	struct run r;
	setup_run(&r, &h, false, "name", "a b", "value", "on", NULL);
	assert_int_equal(act("flag", &r), QL_ERR_BAD_ARGUMENT);
	setup_run(&r, &h, false, "name", "", "value", "on", NULL);
	assert_int_equal(act("flag", &r), QL_ERR_BAD_ARGUMENT);
	setup_run(&r, &h, false, "name", "x", "value", "true", NULL);
	assert_int_equal(act("flag", &r), QL_ERR_BAD_ARGUMENT);
	setup_run(&r, &h, false, "name",
	          "a1234567890123456789012345678901234567890123456789012345678901234", "value",
	          "on", NULL);
	assert_int_equal(act("flag", &r), QL_ERR_BAD_ARGUMENT);
}

static void flag_missing_file_created_and_dry_run(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "flags.json");
	struct qa_handle h = {.name = "flags", .type = QA_HANDLE_FLAGS, .file = path};
	struct run r;

	setup_run(&r, &h, true, "name", "checkout_v2", "value", "off", NULL);
	assert_int_equal(act("flag", &r), QL_OK);
	assert_non_null(strstr(r.detail, "would set flags checkout_v2: absent -> off"));
	assert_false(tu_exists(path));

	setup_run(&r, &h, false, "name", "checkout_v2", "value", "off", NULL);
	assert_int_equal(act("flag", &r), QL_OK);
	char *text = tu_read(path, NULL);
	assert_non_null(strstr(text, "\"checkout_v2\":\tfalse"));
	free(text);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	free(path);
	tu_rmtree(dir);
}

/* ---- flag, kv */

static void flag_kv_keeps_comments_and_order(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "flags.conf");
	tu_write_str(path, "# feature flags\n"
	                   "\n"
	                   "checkout_v2 = true\n"
	                   "; legacy\n"
	                   "search=off\n"
	                   "checkout_v2_beta=on");
	struct qa_handle h = {
		.name = "kvflags", .type = QA_HANDLE_FLAGS, .file = path, .format = QA_FLAGS_KV};
	struct run r;

	setup_run(&r, &h, false, "name", "checkout_v2", "value", "off", NULL);
	assert_int_equal(act("flag", &r), QL_OK);
	assert_string_equal(r.undo, "{\"flag\":\"checkout_v2\",\"previous\":true}");
	char *text = tu_read(path, NULL);
	assert_string_equal(text, "# feature flags\n"
	                          "\n"
	                          "checkout_v2 = off\n"
	                          "; legacy\n"
	                          "search=off\n"
	                          "checkout_v2_beta=on");
	free(text);

	/* absent: appended on its own line */
	setup_run(&r, &h, false, "name", "newflag", "value", "on", NULL);
	assert_int_equal(act("flag", &r), QL_OK);
	assert_string_equal(r.undo, "{\"flag\":\"newflag\",\"previous\":null}");
	text = tu_read(path, NULL);
	assert_string_equal(text, "# feature flags\n"
	                          "\n"
	                          "checkout_v2 = off\n"
	                          "; legacy\n"
	                          "search=off\n"
	                          "checkout_v2_beta=on\n"
	                          "newflag=on\n");
	free(text);

	/* a value that is not a switch is refused */
	tu_write_str(path, "mode=fast\n");
	setup_run(&r, &h, false, "name", "mode", "value", "on", NULL);
	assert_int_equal(act("flag", &r), QL_ERR_ACTION_FAILED);
	text = tu_read(path, NULL);
	assert_string_equal(text, "mode=fast\n");
	free(text);

	free(path);
	tu_rmtree(dir);
}

/* ---- flag revert */

/* run() then revert() of flag `name` set to `value`; the record in rec. */
static void flag_run_for_revert(struct qa_handle *h, const char *name, const char *value, char *rec,
                                size_t len)
{
	struct run r;
	setup_run(&r, h, false, "name", name, "value", value, NULL);
	assert_int_equal(act("flag", &r), QL_OK);
	snprintf(rec, len, "%s", r.undo);
}

static void flag_revert_restores_only_that_flag(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "flags.json");
	/* as cJSON prints it, so a restored file can be compared byte for byte */
	const char *orig = "{\n\t\"checkout_v2\":\ttrue,\n\t\"recommendations\":\tfalse,\n"
			   "\t\"limit\":\t25\n}\n";
	tu_write_str(path, orig);
	assert_int_equal(chmod(path, 0640), 0);
	struct qa_handle h = {.name = "flags", .type = QA_HANDLE_FLAGS, .file = path};
	struct run r;
	char rec[QA_MAX_UNDO + 1], want[PATH_MAX + 64];

	flag_run_for_revert(&h, "checkout_v2", "off", rec, sizeof rec);
	assert_string_equal(rec, "{\"flag\":\"checkout_v2\",\"previous\":true}");
	ta_setup_revert(&r, &h, "/nonexistent", true);
	assert_false(ta_at_rest("flag", &r, rec));
	assert_int_equal(ta_revert("flag", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "would set flags checkout_v2: off -> on"));
	char *text = tu_read(path, NULL);
	assert_non_null(strstr(text, "\"checkout_v2\":\tfalse")); /* the dry run changed nothing */
	free(text);
	ta_setup_revert(&r, &h, "/nonexistent", false);
	r.ctx.deadline_ms = ql_mono_ms() - 1;
	assert_int_equal(ta_revert("flag", &r, rec), QL_ERR_TIMEOUT);
	assert_false(ta_at_rest("flag", &r, rec));
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_int_equal(ta_revert("flag", &r, rec), QL_OK);
	snprintf(want, sizeof want, "flags checkout_v2: off -> on (%s)", path);
	assert_string_equal(r.detail, want);
	ta_assert_file(path, orig);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_true(ta_at_rest("flag", &r, rec));
	assert_int_equal(ta_revert("flag", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "flags checkout_v2: already on"));
	ta_assert_file(path, orig);

	/* Another flag changed since: revert leaves it as it is now. */
	flag_run_for_revert(&h, "checkout_v2", "off", rec, sizeof rec);
	char other[QA_MAX_UNDO + 1];
	flag_run_for_revert(&h, "recommendations", "on", other, sizeof other);
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_int_equal(ta_revert("flag", &r, rec), QL_OK);
	ta_assert_file(path, "{\n\t\"checkout_v2\":\ttrue,\n\t\"recommendations\":\ttrue,\n"
	                     "\t\"limit\":\t25\n}\n");
	assert_int_equal(ta_revert("flag", &r, other), QL_OK);
	ta_assert_file(path, orig);

	/* A flag that was absent is removed again. */
	flag_run_for_revert(&h, "new.flag-1", "on", rec, sizeof rec);
	assert_string_equal(rec, "{\"flag\":\"new.flag-1\",\"previous\":null}");
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_false(ta_at_rest("flag", &r, rec));
	assert_int_equal(ta_revert("flag", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "flags new.flag-1: on -> absent"));
	ta_assert_file(path, orig);
	assert_true(ta_at_rest("flag", &r, rec));
	assert_int_equal(ta_revert("flag", &r, rec), QL_OK);
	assert_non_null(strstr(r.detail, "already absent"));

	/* Malformed records: refused, nothing touched. */
	const char *bad[] = {NULL,
	                     "[]",
	                     "{}",
	                     "{\"previous\":true}",
	                     "{\"flag\":\"checkout_v2\"}",
	                     "{\"flag\":\"checkout_v2\",\"previous\":\"on\"}",
	                     "{\"flag\":\"checkout_v2\",\"previous\":1}",
	                     "{\"flag\":\"a b\",\"previous\":true}",
	                     "{\"flag\":5,\"previous\":true}",
	                     "{\"flag\":\"\",\"previous\":null}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ta_setup_revert(&r, &h, "/nonexistent", false);
		assert_int_equal(ta_revert("flag", &r, bad[i]), QL_ERR_BAD_ARGUMENT);
		assert_non_null(strstr(r.detail, "malformed undo record"));
		assert_false(ta_at_rest("flag", &r, bad[i]));
		ta_assert_file(path, orig);
	}
	free(path);
	tu_rmtree(dir);
}

static void flag_kv_revert_restores_the_file(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "flags.conf");
	const char *orig = "# feature flags\n"
			   "checkout_v2 = on\n"
			   "; legacy\n"
			   "search=off\n";
	tu_write_str(path, orig);
	struct qa_handle h = {
		.name = "kvflags", .type = QA_HANDLE_FLAGS, .file = path, .format = QA_FLAGS_KV};
	struct run r;
	char rec[QA_MAX_UNDO + 1];

	flag_run_for_revert(&h, "checkout_v2", "off", rec, sizeof rec);
	ta_assert_file(path, "# feature flags\ncheckout_v2 = off\n; legacy\nsearch=off\n");
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_false(ta_at_rest("flag", &r, rec));
	assert_int_equal(ta_revert("flag", &r, rec), QL_OK);
	ta_assert_file(path, orig);
	assert_true(ta_at_rest("flag", &r, rec));

	/* absent: its appended line goes again, every other line stays */
	flag_run_for_revert(&h, "newflag", "off", rec, sizeof rec);
	ta_assert_file(path,
	               "# feature flags\ncheckout_v2 = on\n; legacy\nsearch=off\nnewflag=off\n");
	ta_setup_revert(&r, &h, "/nonexistent", false);
	assert_false(ta_at_rest("flag", &r, rec));
	assert_int_equal(ta_revert("flag", &r, rec), QL_OK);
	ta_assert_file(path, orig);
	assert_true(ta_at_rest("flag", &r, rec));
	assert_int_equal(ta_revert("flag", &r, rec), QL_OK);
	ta_assert_file(path, orig);

	/* someone made the value something other than a switch: not at rest, not touched */
	tu_write_str(path, "checkout_v2=fast\n");
	const char *on = "{\"flag\":\"checkout_v2\",\"previous\":true}";
	assert_false(ta_at_rest("flag", &r, on));
	assert_int_equal(ta_revert("flag", &r, on), QL_ERR_ACTION_FAILED);
	ta_assert_file(path, "checkout_v2=fast\n");
	free(path);
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flag_json_flips_only_that_key),
		cmocka_unit_test(flag_json_refuses_non_object),
		cmocka_unit_test(flag_bad_arguments),
		cmocka_unit_test(flag_missing_file_created_and_dry_run),
		cmocka_unit_test(flag_kv_keeps_comments_and_order),
		cmocka_unit_test(flag_revert_restores_only_that_flag),
		cmocka_unit_test(flag_kv_revert_restores_the_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
