/*
 * test_codec.c: the validating decoders and field checks. Each decoder gets
 * a valid message first (so a rejection below is about the one field that
 * was changed), then every limit of ql_limits.h at the boundary and one past
 * it. Also: the error vocabulary's codes round-trip and fit on the wire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "keys.h"
#include "ql_limits.h"

#define T0 1760000000 /* a time inside the decoders' sanity window (2025) */

/* A string of n copies of c, in a malloc'd buffer. */
static char *rep(char c, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- ql_text_ok and friends ------------------------------------------------------ */

struct text_case {
	const char *s;
	size_t max;
	bool ok;
};

static const struct text_case text_cases[] = {
	{"", 10, true},
	{"hello, world", 100, true},
	{"tab\there\nnewline", 100, true},
	{"cr\r", 100, false},
	{"\x01", 100, false},
	{"bell\a", 100, false},
	{"esc\x1b[31mred", 100, false},
	{"del\x7f", 100, false},
	/* valid UTF-8, 2, 3 and 4 bytes, and the last code point */
	{"caf\xc3\xa9", 100, true},
	{"\xe2\x82\xac", 100, true},
	{"\xf0\x9f\x98\x80", 100, true},
	{"\xf4\x8f\xbf\xbf", 100, true},
	{"\xed\x9f\xbf", 100, true}, /* U+D7FF, just below the surrogates */
	{"\xee\x80\x80", 100, true}, /* U+E000, just above */
	{"\xef\xbf\xbd", 100, true}, /* U+FFFD */
	/* valid UTF-8 that a terminal would render misleadingly */
	{"\xc2\x80", 100, false}, /* U+0080, first C1 control */
	{"csi\xc2\x9b"
         "31mred",
         100, false},                 /* U+009B, C1 CSI */
	{"\xc2\x9f", 100, false},     /* U+009F, last C1 control */
	{"\xc2\xa0", 100, true},      /* U+00A0, just above */
	{"\xe2\x80\xa8", 100, false}, /* U+2028 line separator */
	{"\xe2\x80\xae"
         "txt.exe",
         100, false},                 /* U+202E right-to-left override */
	{"\xe2\x81\xa6", 100, false}, /* U+2066 isolate */
	{"\xe2\x80\x94", 100, true},  /* U+2014 em dash */
	/* invalid UTF-8 */
	{"\x80", 100, false}, /* lone continuation */
	{"a\xbf", 100, false},
	{"\xc3", 100, false},  /* truncated at the end */
	{"\xc3x", 100, false}, /* truncated by an ASCII byte */
	{"\xe2\x82", 100, false},
	{"\xf0\x9f\x98", 100, false},
	{"\xc0\x80", 100, false}, /* overlong NUL */
	{"\xc0\xaf", 100, false}, /* overlong '/' */
	{"\xc1\xbf", 100, false},
	{"\xe0\x80\x80", 100, false},     /* overlong, 3 bytes */
	{"\xe0\x9f\xbf", 100, false},     /* overlong U+07FF */
	{"\xf0\x8f\xbf\xbf", 100, false}, /* overlong U+FFFF */
	{"\xed\xa0\x80", 100, false},     /* surrogate U+D800 */
	{"\xed\xbf\xbf", 100, false},     /* surrogate U+DFFF */
	{"\xf4\x90\x80\x80", 100, false}, /* U+110000 */
	{"\xf5\x80\x80\x80", 100, false},
	{"\xf8\x88\x80\x80\x80", 100, false},
	{"\xfe", 100, false},
	{"\xff", 100, false},
	/* lengths count bytes, and a character may not straddle the limit */
	{"abc", 3, true},
	{"abcd", 3, false},
	{"\xe2\x82\xac", 3, true},
	{"a\xe2\x82\xac", 3, false},
	{"\xc3\xa9", 2, true},
	{"a\xc3\xa9", 2, false},
	{"\xf0\x9f\x98\x80", 3, false},
	{"x", 0, false},
	{"", 0, true},
};

static void test_text_ok(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof text_cases / sizeof text_cases[0]; i++) {
		const struct text_case *c = &text_cases[i];
		if (ql_text_ok(c->s, c->max) != c->ok) {
			char hex[64] = "";
			for (size_t k = 0; c->s[k] && k < 16; k++)
				snprintf(hex + 3 * k, 4, "%02x ", (unsigned char)c->s[k]);
			fail_msg("text_ok(%s, %zu) != %d", hex, c->max, c->ok);
		}
	}
	assert_false(ql_text_ok(NULL, 10));

	/* At QL_MAX_ARG_VALUE and one past it, ASCII and multibyte. */
	char *s = rep('a', QL_MAX_ARG_VALUE);
	assert_true(ql_text_ok(s, QL_MAX_ARG_VALUE));
	free(s);
	s = rep('a', QL_MAX_ARG_VALUE + 1);
	assert_false(ql_text_ok(s, QL_MAX_ARG_VALUE));
	free(s);
	char euro[3 * 342 + 1] = "";
	for (size_t i = 0; i < 341; i++)
		strcat(euro, "\xe2\x82\xac"); /* 1023 bytes */
	assert_true(ql_text_ok(euro, QL_MAX_ARG_VALUE));
	strcat(euro, "\xe2\x82\xac"); /* 1026 bytes, last character crosses 1024 */
	assert_false(ql_text_ok(euro, QL_MAX_ARG_VALUE));
}

static void test_ident_host_label(void **state)
{
	(void)state;
	assert_true(ql_ident_ok("a", 1));
	assert_true(ql_ident_ok("Az09_.-", 7));
	assert_false(ql_ident_ok("Az09_.-", 6));
	assert_false(ql_ident_ok("", 10));
	assert_false(ql_ident_ok(NULL, 10));
	static const char *bad_ident[] = {"a b",      "a/b", "a*",  "a:b", "a=b", "a\n",
	                                  "\xc3\xa9", "a|b", "a,b", "a;b", "$x",  "a\\b"};
	for (size_t i = 0; i < sizeof bad_ident / sizeof bad_ident[0]; i++)
		if (ql_ident_ok(bad_ident[i], 32))
			fail_msg("ident_ok(\"%s\") accepted", bad_ident[i]);

	assert_true(ql_hostname_ok("web-1"));
	assert_true(ql_hostname_ok("web-1.example.org"));
	assert_false(ql_hostname_ok("-web"));
	assert_false(ql_hostname_ok(".web"));
	assert_false(ql_hostname_ok(""));
	assert_false(ql_hostname_ok("web 1"));
	char *h = rep('h', QL_MAX_HOSTNAME);
	assert_true(ql_hostname_ok(h));
	free(h);
	h = rep('h', QL_MAX_HOSTNAME + 1);
	assert_false(ql_hostname_ok(h));
	free(h);

	assert_true(ql_label_ok("role", "web"));
	assert_false(ql_label_ok("host", "web"));
	assert_false(ql_label_ok("all", "web"));
	assert_false(ql_label_ok("role", "web*"));
	assert_false(ql_label_ok("role", ""));
	assert_false(ql_label_ok("", "web"));
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_err_codes(void **state)
{
	(void)state;
	for (unsigned i = 0; i < QL_ERR__COUNT; i++) {
		enum ql_err e = (enum ql_err)i;
		const char *code = ql_err_code(e);
		const char *sentence = ql_strerror(e);
		assert_non_null(code);
		assert_non_null(sentence);
		assert_true(strlen(sentence) > 0);
		assert_string_not_equal(sentence, "unknown error");
		/* Every code must survive ql_result_decode's reason check and the
		 * store's reason column (char[40]). */
		if (!ql_ident_ok(code, 32))
			fail_msg("code \"%s\" is not a wire identifier", code);
		assert_int_equal(ql_err_from_code(code), e);
		for (unsigned k = 0; k < i; k++)
			assert_string_not_equal(ql_err_code((enum ql_err)k), code);
	}
	assert_string_equal(ql_err_code(QL_ERR__COUNT), "unknown");
	assert_string_equal(ql_err_code((enum ql_err) - 1), "unknown");
	assert_string_equal(ql_strerror(QL_ERR__COUNT), "unknown error");
	assert_string_equal(ql_strerror((enum ql_err)12345), "unknown error");
	assert_int_equal(ql_err_from_code("unknown"), QL_ERR__COUNT);
	assert_int_equal(ql_err_from_code(""), QL_ERR__COUNT);
	assert_int_equal(ql_err_from_code("Bad-Signature"), QL_ERR__COUNT);
	assert_int_equal(ql_err_from_code("bad-signature "), QL_ERR__COUNT);

	/* The wire codes scripts and the coordinator rely on. */
	static const struct {
		enum ql_err e;
		const char *code;
	} stable[] = {
		{QL_OK, "ok"},
		{QL_ERR_MALFORMED, "malformed"},
		{QL_ERR_BAD_SIGNATURE, "bad-signature"},
		{QL_ERR_UNKNOWN_SIGNER, "unknown-signer"},
		{QL_ERR_EXPIRED, "expired"},
		{QL_ERR_NOT_YET_VALID, "not-yet-valid"},
		{QL_ERR_REPLAYED, "replayed"},
		{QL_ERR_NOT_TARGETED, "not-targeted"},
		{QL_ERR_DENIED, "denied"},
		{QL_ERR_UNKNOWN_HANDLE, "unknown-handle"},
		{QL_ERR_UNKNOWN_ACTION, "unknown-action"},
		{QL_ERR_INTERRUPTED, "interrupted"},
	};
	for (size_t i = 0; i < sizeof stable / sizeof stable[0]; i++)
		assert_string_equal(ql_err_code(stable[i].e), stable[i].code);
}

/* ---- commands ---------------------------------------------------------------------- */

/* A valid command whose fields tests change one at a time. */
struct cmd {
	Quell__Command c;
	uint8_t job_id[32];
	Quell__Arg args[QL_MAX_ARGS + 2];
	Quell__Arg *argp[QL_MAX_ARGS + 2];
};

static void cmd_init(struct cmd *m)
{
	memset(m, 0, sizeof *m);
	quell__command__init(&m->c);
	memcpy(m->job_id, "0123456789abcdef0123456789abcdef", 32);
	m->c.job_id.data = m->job_id;
	m->c.job_id.len = QL_JOB_ID_LEN;
	m->c.issued_at = T0;
	m->c.expires_at = T0 + 60;
	m->c.target = "role=web";
	m->c.action = "maintenance";
	m->c.handle = "site";
	m->c.reason = "deploy";
	for (size_t i = 0; i < QL_MAX_ARGS + 2; i++) {
		quell__arg__init(&m->args[i]);
		m->args[i].key = "mode";
		m->args[i].value = "on";
		m->argp[i] = &m->args[i];
	}
	m->c.args = m->argp;
	m->c.n_args = 1;
}

static enum ql_err cmd_decode(const struct cmd *m)
{
	uint8_t *buf;
	size_t len;
	assert_int_equal(ql_pack(&m->c.base, &buf, &len), QL_OK);
	Quell__Command *out = (Quell__Command *)1;
	enum ql_err err = ql_command_decode(buf, len, &out);
	if (err == QL_OK) {
		assert_non_null(out);
		quell__command__free_unpacked(out, NULL);
	} else {
		assert_null(out);
	}
	free(buf);
	return err;
}

static void test_command_valid(void **state)
{
	(void)state;
	struct cmd m;
	cmd_init(&m);
	uint8_t *buf;
	size_t len;
	assert_int_equal(ql_pack(&m.c.base, &buf, &len), QL_OK);
	/* ql_pack is exactly protobuf-c's packing. */
	assert_int_equal(len, quell__command__get_packed_size(&m.c));
	uint8_t ref[256];
	assert_true(len <= sizeof ref);
	quell__command__pack(&m.c, ref);
	assert_memory_equal(buf, ref, len);

	Quell__Command *c;
	assert_int_equal(ql_command_decode(buf, len, &c), QL_OK);
	assert_int_equal(c->job_id.len, QL_JOB_ID_LEN);
	assert_memory_equal(c->job_id.data, m.job_id, QL_JOB_ID_LEN);
	assert_int_equal(c->issued_at, T0);
	assert_int_equal(c->expires_at, T0 + 60);
	assert_string_equal(c->target, "role=web");
	assert_string_equal(c->action, "maintenance");
	assert_string_equal(c->handle, "site");
	assert_int_equal(c->n_args, 1);
	assert_string_equal(c->args[0]->key, "mode");
	assert_string_equal(c->args[0]->value, "on");
	quell__command__free_unpacked(c, NULL);
	free(buf);

	/* Optional fields may be empty: no handle, no args, no reason. */
	m.c.handle = "";
	m.c.n_args = 0;
	m.c.reason = "";
	m.c.action = "ping";
	assert_int_equal(cmd_decode(&m), QL_OK);
}

static void test_command_ids_and_times(void **state)
{
	(void)state;
	struct cmd m;
	static const size_t bad_len[] = {0, 1, 15, 17, 32};
	for (size_t i = 0; i < sizeof bad_len / sizeof bad_len[0]; i++) {
		cmd_init(&m);
		m.c.job_id.len = bad_len[i];
		if (cmd_decode(&m) != QL_ERR_MALFORMED)
			fail_msg("job id of %zu bytes accepted", bad_len[i]);
	}

	cmd_init(&m);
	m.c.expires_at = m.c.issued_at;
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	m.c.expires_at = m.c.issued_at - 1;
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	m.c.expires_at = m.c.issued_at + 1;
	assert_int_equal(cmd_decode(&m), QL_OK);
	m.c.expires_at = m.c.issued_at + QL_MAX_COMMAND_LIFETIME;
	assert_int_equal(cmd_decode(&m), QL_OK);
	m.c.expires_at = m.c.issued_at + QL_MAX_COMMAND_LIFETIME + 1;
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);

	/* Nonsense clocks: 0, before 2020, negative, past 2200, and overflow bait. */
	static const int64_t bad_t[] = {0, 1, 1577836799, -1, INT64_MIN, 7258118401, INT64_MAX};
	for (size_t i = 0; i < sizeof bad_t / sizeof bad_t[0]; i++) {
		cmd_init(&m);
		m.c.issued_at = bad_t[i];
		m.c.expires_at = bad_t[i] + (bad_t[i] < INT64_MAX - 60 ? 60 : 0);
		if (cmd_decode(&m) != QL_ERR_MALFORMED)
			fail_msg("issued_at %lld accepted", (long long)bad_t[i]);
		cmd_init(&m);
		m.c.expires_at = bad_t[i];
		if (cmd_decode(&m) != QL_ERR_MALFORMED)
			fail_msg("expires_at %lld accepted", (long long)bad_t[i]);
	}
	/* A long-lived command that would pass only through a subtraction overflow. */
	cmd_init(&m);
	m.c.issued_at = INT64_MIN;
	m.c.expires_at = INT64_MAX;
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);

	cmd_init(&m);
	m.c.ttl_seconds = QL_MAX_TTL;
	assert_int_equal(cmd_decode(&m), QL_OK);
	m.c.ttl_seconds = QL_MAX_TTL + 1;
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
}

static void test_command_strings(void **state)
{
	(void)state;
	struct cmd m;
	char *s;

	/* action: an identifier of at most QL_MAX_ACTION characters */
	static const char *bad_action[] = {"",       "rm -rf /", "a/b", "../x",
	                                   "ping\n", "x;y",      "p*",  "\xc3\xa9"};
	for (size_t i = 0; i < sizeof bad_action / sizeof bad_action[0]; i++) {
		cmd_init(&m);
		m.c.action = (char *)bad_action[i];
		if (cmd_decode(&m) != QL_ERR_MALFORMED)
			fail_msg("action \"%s\" accepted", bad_action[i]);
	}
	cmd_init(&m);
	m.c.action = s = rep('a', QL_MAX_ACTION);
	assert_int_equal(cmd_decode(&m), QL_OK);
	free(s);
	m.c.action = s = rep('a', QL_MAX_ACTION + 1);
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	free(s);

	/* handle: empty or an identifier of at most QL_MAX_HANDLE */
	cmd_init(&m);
	m.c.handle = "../../etc/passwd";
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	m.c.handle = "a b";
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	m.c.handle = s = rep('h', QL_MAX_HANDLE);
	assert_int_equal(cmd_decode(&m), QL_OK);
	free(s);
	m.c.handle = s = rep('h', QL_MAX_HANDLE + 1);
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	free(s);

	/* target: a well-formed selector */
	static const char *bad_target[] = {"", "role=web,", "role=[w]", "a=", "all,x=y"};
	for (size_t i = 0; i < sizeof bad_target / sizeof bad_target[0]; i++) {
		cmd_init(&m);
		m.c.target = (char *)bad_target[i];
		if (cmd_decode(&m) != QL_ERR_MALFORMED)
			fail_msg("target \"%s\" accepted", bad_target[i]);
	}
	cmd_init(&m);
	m.c.target = "all";
	assert_int_equal(cmd_decode(&m), QL_OK);

	/* reason: printable text of at most QL_MAX_REASON bytes */
	cmd_init(&m);
	m.c.reason = "ticket 42\nline two\t(ok)";
	assert_int_equal(cmd_decode(&m), QL_OK);
	m.c.reason = "\x1b]0;pwned\a";
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	m.c.reason = "bad \xff utf-8";
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	m.c.reason = s = rep('r', QL_MAX_REASON);
	assert_int_equal(cmd_decode(&m), QL_OK);
	free(s);
	m.c.reason = s = rep('r', QL_MAX_REASON + 1);
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	free(s);

	/* incident: empty or an identifier */
	cmd_init(&m);
	m.c.incident = "INC-1234";
	assert_int_equal(cmd_decode(&m), QL_OK);
	m.c.incident = "INC 1234";
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	m.c.incident = s = rep('i', QL_MAX_INCIDENT + 1);
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	free(s);
}

static void test_command_args(void **state)
{
	(void)state;
	struct cmd m;
	char *s;

	cmd_init(&m);
	m.c.n_args = QL_MAX_ARGS;
	assert_int_equal(cmd_decode(&m), QL_OK);
	m.c.n_args = QL_MAX_ARGS + 1;
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);

	cmd_init(&m);
	m.args[0].value = s = rep('v', QL_MAX_ARG_VALUE);
	assert_int_equal(cmd_decode(&m), QL_OK);
	free(s);
	m.args[0].value = s = rep('v', QL_MAX_ARG_VALUE + 1);
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	free(s);
	m.args[0].value = "";
	assert_int_equal(cmd_decode(&m), QL_OK);
	m.args[0].value = "a\x1b[2Jb";
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	m.args[0].value = "\xed\xa0\x80";
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);

	cmd_init(&m);
	m.args[0].key = s = rep('k', QL_MAX_ARG_KEY);
	assert_int_equal(cmd_decode(&m), QL_OK);
	free(s);
	m.args[0].key = s = rep('k', QL_MAX_ARG_KEY + 1);
	assert_int_equal(cmd_decode(&m), QL_ERR_MALFORMED);
	free(s);
	static const char *bad_key[] = {"", "mo de", "mode=", "a/b", "--mode"};
	for (size_t i = 0; i < sizeof bad_key / sizeof bad_key[0]; i++) {
		m.args[0].key = (char *)bad_key[i];
		int expect_ok = strcmp(bad_key[i], "--mode") == 0; /* '-' is an ident char */
		enum ql_err err = cmd_decode(&m);
		if (expect_ok ? err != QL_OK : err != QL_ERR_MALFORMED)
			fail_msg("arg key \"%s\": %s", bad_key[i], ql_err_code(err));
	}
}

static void test_command_raw_bytes(void **state)
{
	(void)state;
	Quell__Command *c = (Quell__Command *)1;
	/* Over the body limit: refused before protobuf-c looks at it. */
	uint8_t *big = calloc(1, QL_MAX_BODY + 1);
	assert_non_null(big);
	assert_int_equal(ql_command_decode(big, QL_MAX_BODY + 1, &c), QL_ERR_TOO_BIG);
	assert_null(c);
	free(big);
	/* Not protobuf. */
	static const uint8_t junk[] = {0xff, 0xff, 0xff};
	assert_int_equal(ql_command_decode(junk, sizeof junk, &c), QL_ERR_MALFORMED);
	assert_null(c);
	/* A length that runs off the end. */
	static const uint8_t huge_len[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x07, 'x'};
	assert_int_equal(ql_command_decode(huge_len, sizeof huge_len, &c), QL_ERR_MALFORMED);
	/* Empty: all defaults, which no valid command has. */
	assert_int_equal(ql_command_decode(junk, 0, &c), QL_ERR_MALFORMED);
	/* A lone string field that is not UTF-8. */
	static const uint8_t bad_str[] = {0x2a, 0x02, 0xc3, 0x28};
	assert_int_equal(ql_command_decode(bad_str, sizeof bad_str, &c), QL_ERR_MALFORMED);
}

/* ---- hello, heartbeat -------------------------------------------------------------- */

struct hello {
	Quell__Hello h;
	Quell__Label labels[QL_MAX_LABELS + 1];
	Quell__Label *lp[QL_MAX_LABELS + 1];
	char keys[QL_MAX_LABELS + 1][8];
	char *actions[QL_MAX_ACTIONS + 1];
};

static void hello_init(struct hello *m)
{
	memset(m, 0, sizeof *m);
	quell__hello__init(&m->h);
	m->h.hostname = "web-1";
	m->h.version = "0.1.0";
	m->h.time = T0;
	for (size_t i = 0; i < QL_MAX_LABELS + 1; i++) {
		quell__label__init(&m->labels[i]);
		snprintf(m->keys[i], sizeof m->keys[i], "k%zu", i);
		m->labels[i].key = m->keys[i];
		m->labels[i].value = "v";
		m->lp[i] = &m->labels[i];
	}
	m->h.labels = m->lp;
	m->h.n_labels = 2;
	for (size_t i = 0; i < QL_MAX_ACTIONS + 1; i++)
		m->actions[i] = "ping";
	m->h.actions = m->actions;
	m->h.n_actions = 2;
}

static enum ql_err hello_decode(const struct hello *m)
{
	uint8_t *buf;
	size_t len;
	assert_int_equal(ql_pack(&m->h.base, &buf, &len), QL_OK);
	Quell__Hello *out = (Quell__Hello *)1;
	enum ql_err err = ql_hello_decode(buf, len, &out);
	if (err == QL_OK)
		quell__hello__free_unpacked(out, NULL);
	else
		assert_null(out);
	free(buf);
	return err;
}

static void test_hello(void **state)
{
	(void)state;
	struct hello m;
	char *s;
	hello_init(&m);
	assert_int_equal(hello_decode(&m), QL_OK);
	m.h.n_labels = 0;
	m.h.n_actions = 0;
	assert_int_equal(hello_decode(&m), QL_OK);

	hello_init(&m);
	m.h.n_labels = QL_MAX_LABELS;
	assert_int_equal(hello_decode(&m), QL_OK);
	m.h.n_labels = QL_MAX_LABELS + 1;
	assert_int_equal(hello_decode(&m), QL_ERR_MALFORMED);

	struct {
		const char *key, *value;
		enum ql_err want;
	} labels[] = {
		{"host", "web-2", QL_ERR_MALFORMED}, /* would let an agent spoof its name */
		{"all", "x", QL_ERR_MALFORMED},      {"role", "web*", QL_ERR_MALFORMED},
		{"role", "a|b", QL_ERR_MALFORMED},   {"role", "", QL_ERR_MALFORMED},
		{"", "web", QL_ERR_MALFORMED},       {"ro le", "web", QL_ERR_MALFORMED},
		{"role", "web\n", QL_ERR_MALFORMED}, {"role", "web", QL_OK},
	};
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
		hello_init(&m);
		m.labels[1].key = (char *)labels[i].key;
		m.labels[1].value = (char *)labels[i].value;
		if (hello_decode(&m) != labels[i].want)
			fail_msg("label %s=%s", labels[i].key, labels[i].value);
	}
	hello_init(&m);
	m.labels[0].key = s = rep('k', QL_MAX_LABEL_KEY);
	assert_int_equal(hello_decode(&m), QL_OK);
	free(s);
	m.labels[0].key = s = rep('k', QL_MAX_LABEL_KEY + 1);
	assert_int_equal(hello_decode(&m), QL_ERR_MALFORMED);
	free(s);
	hello_init(&m);
	m.labels[0].value = s = rep('v', QL_MAX_LABEL_VALUE);
	assert_int_equal(hello_decode(&m), QL_OK);
	free(s);
	m.labels[0].value = s = rep('v', QL_MAX_LABEL_VALUE + 1);
	assert_int_equal(hello_decode(&m), QL_ERR_MALFORMED);
	free(s);

	static const char *bad_host[] = {"", "-web", ".web", "web 1", "web/1", "web\n"};
	for (size_t i = 0; i < sizeof bad_host / sizeof bad_host[0]; i++) {
		hello_init(&m);
		m.h.hostname = (char *)bad_host[i];
		assert_int_equal(hello_decode(&m), QL_ERR_MALFORMED);
	}
	hello_init(&m);
	m.h.version = "0.1.0\x1b[2J";
	assert_int_equal(hello_decode(&m), QL_ERR_MALFORMED);
	m.h.version = s = rep('1', QL_MAX_VERSION + 1);
	assert_int_equal(hello_decode(&m), QL_ERR_MALFORMED);
	free(s);
	hello_init(&m);
	m.h.time = 0;
	assert_int_equal(hello_decode(&m), QL_ERR_MALFORMED);

	hello_init(&m);
	m.h.n_actions = QL_MAX_ACTIONS;
	assert_int_equal(hello_decode(&m), QL_OK);
	m.h.n_actions = QL_MAX_ACTIONS + 1;
	assert_int_equal(hello_decode(&m), QL_ERR_MALFORMED);
	hello_init(&m);
	m.actions[1] = "ki ll";
	assert_int_equal(hello_decode(&m), QL_ERR_MALFORMED);
}

static void test_heartbeat(void **state)
{
	(void)state;
	Quell__Heartbeat h = QUELL__HEARTBEAT__INIT;
	h.hostname = "web-1";
	h.time = T0;
	h.seq = 7;
	uint8_t buf[128];
	size_t len = quell__heartbeat__pack(&h, buf);
	Quell__Heartbeat *out;
	assert_int_equal(ql_heartbeat_decode(buf, len, &out), QL_OK);
	assert_string_equal(out->hostname, "web-1");
	assert_int_equal(out->seq, 7);
	quell__heartbeat__free_unpacked(out, NULL);

	h.hostname = "-x";
	len = quell__heartbeat__pack(&h, buf);
	assert_int_equal(ql_heartbeat_decode(buf, len, &out), QL_ERR_MALFORMED);
	assert_null(out);
	h.hostname = "web-1";
	h.time = 7258118401;
	len = quell__heartbeat__pack(&h, buf);
	assert_int_equal(ql_heartbeat_decode(buf, len, &out), QL_ERR_MALFORMED);
}

/* ---- result, agent reply ----------------------------------------------------------- */

static enum ql_err result_decode(const Quell__Result *r)
{
	uint8_t *buf;
	size_t len;
	assert_int_equal(ql_pack(&r->base, &buf, &len), QL_OK);
	Quell__Result *out = (Quell__Result *)1;
	enum ql_err err = ql_result_decode(buf, len, &out);
	if (err == QL_OK)
		quell__result__free_unpacked(out, NULL);
	else
		assert_null(out);
	free(buf);
	return err;
}

static void test_result(void **state)
{
	(void)state;
	uint8_t id[QL_JOB_ID_LEN + 1] = "0123456789abcdef";
	uint8_t hash[QL_HASH_LEN + 1] = {0};
	Quell__Result r = QUELL__RESULT__INIT;
	r.job_id.data = id;
	r.job_id.len = QL_JOB_ID_LEN;
	r.hostname = "web-1";
	r.status = QUELL__STATUS__STATUS_REJECTED;
	r.reason = "bad-signature";
	r.detail = "signature does not verify";
	r.command_hash.data = hash;
	r.command_hash.len = QL_HASH_LEN;
	assert_int_equal(result_decode(&r), QL_OK);
	r.command_hash.len = 0;
	assert_int_equal(result_decode(&r), QL_OK);
	r.command_hash.len = QL_HASH_LEN - 1;
	assert_int_equal(result_decode(&r), QL_ERR_MALFORMED);
	r.command_hash.len = QL_HASH_LEN + 1;
	assert_int_equal(result_decode(&r), QL_ERR_MALFORMED);
	r.command_hash.len = QL_HASH_LEN;

	r.job_id.len = QL_JOB_ID_LEN - 1;
	assert_int_equal(result_decode(&r), QL_ERR_MALFORMED);
	r.job_id.len = QL_JOB_ID_LEN;

	static const int bad_status[] = {0, 4, 100, -1};
	for (size_t i = 0; i < sizeof bad_status / sizeof bad_status[0]; i++) {
		r.status = (Quell__Status)bad_status[i];
		assert_int_equal(result_decode(&r), QL_ERR_MALFORMED);
	}
	r.status = QUELL__STATUS__STATUS_OK;
	r.reason = "";
	assert_int_equal(result_decode(&r), QL_OK);
	r.reason = "bad signature";
	assert_int_equal(result_decode(&r), QL_ERR_MALFORMED);
	char *s = rep('r', 33);
	r.reason = s;
	assert_int_equal(result_decode(&r), QL_ERR_MALFORMED);
	free(s);
	r.reason = "ok";
	r.detail = s = rep('d', QL_MAX_DETAIL);
	assert_int_equal(result_decode(&r), QL_OK);
	free(s);
	r.detail = s = rep('d', QL_MAX_DETAIL + 1);
	assert_int_equal(result_decode(&r), QL_ERR_MALFORMED);
	free(s);
	r.detail = "\x1b[1mbold";
	assert_int_equal(result_decode(&r), QL_ERR_MALFORMED);
	r.detail = "";
	r.hostname = "";
	assert_int_equal(result_decode(&r), QL_ERR_MALFORMED);
}

static enum ql_err reply_decode(const Quell__AgentReply *r)
{
	uint8_t *buf;
	size_t len;
	assert_int_equal(ql_pack(&r->base, &buf, &len), QL_OK);
	Quell__AgentReply *out = (Quell__AgentReply *)1;
	enum ql_err err = ql_agent_reply_decode(buf, len, &out);
	if (err == QL_OK)
		quell__agent_reply__free_unpacked(out, NULL);
	else
		assert_null(out);
	free(buf);
	return err;
}

static void test_agent_reply(void **state)
{
	(void)state;
	uint8_t bytes[QL_JOB_ID_LEN] = {1, 2, 3};
	Quell__AgentReply r = QUELL__AGENT_REPLY__INIT;
	r.type = QUELL__AGENT_REPLY__TYPE__TYPE_IDLE;
	assert_int_equal(reply_decode(&r), QL_OK);
	r.type = QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED;
	r.error = "not in the fleet";
	assert_int_equal(reply_decode(&r), QL_OK);
	r.error = "evil\x1b]52;c;AAAA\a";
	assert_int_equal(reply_decode(&r), QL_ERR_MALFORMED);
	r.error = "";
	r.type = QUELL__AGENT_REPLY__TYPE__TYPE_UNSPECIFIED;
	assert_int_equal(reply_decode(&r), QL_ERR_MALFORMED);
	r.type = (Quell__AgentReply__Type)5;
	assert_int_equal(reply_decode(&r), QL_ERR_MALFORMED);

	r.type = QUELL__AGENT_REPLY__TYPE__TYPE_COMMAND;
	assert_int_equal(reply_decode(&r), QL_ERR_MALFORMED); /* no command */
	r.command.data = bytes;
	r.command.len = 3;
	assert_int_equal(reply_decode(&r), QL_OK);
	r.job_id.data = bytes;
	r.job_id.len = QL_JOB_ID_LEN;
	assert_int_equal(reply_decode(&r), QL_OK);
	r.job_id.len = 5;
	assert_int_equal(reply_decode(&r), QL_ERR_MALFORMED);

	Quell__AgentReply *out = (Quell__AgentReply *)1;
	uint8_t *big = calloc(1, QL_MAX_MSG + 1);
	assert_non_null(big);
	assert_int_equal(ql_agent_reply_decode(big, QL_MAX_MSG + 1, &out), QL_ERR_TOO_BIG);
	assert_null(out);
	free(big);
}

/* ---- control ----------------------------------------------------------------------- */

static enum ql_err control_decode(const Quell__ControlRequest *c)
{
	uint8_t *buf;
	size_t len;
	assert_int_equal(ql_pack(&c->base, &buf, &len), QL_OK);
	Quell__ControlRequest *out = (Quell__ControlRequest *)1;
	enum ql_err err = ql_control_decode(buf, len, &out);
	if (err == QL_OK)
		quell__control_request__free_unpacked(out, NULL);
	else
		assert_null(out);
	free(buf);
	return err;
}

static void test_control(void **state)
{
	(void)state;
	uint8_t bytes[QL_JOB_ID_LEN] = {9};
	Quell__ControlRequest c;
	quell__control_request__init(&c); /* the INIT macro trips -Wmissing-braces (oneof) */
	c.issued_at = T0;
	assert_int_equal(control_decode(&c), QL_ERR_MALFORMED); /* no request at all */

	c.req_case = QUELL__CONTROL_REQUEST__REQ_SUBMIT;
	c.submit.data = bytes;
	c.submit.len = 0;
	assert_int_equal(control_decode(&c), QL_ERR_MALFORMED);
	c.submit.len = 4;
	assert_int_equal(control_decode(&c), QL_OK);
	c.issued_at = 5;
	assert_int_equal(control_decode(&c), QL_ERR_MALFORMED);
	c.issued_at = T0;

	Quell__WatchRequest w = QUELL__WATCH_REQUEST__INIT;
	w.job_id.data = bytes;
	w.job_id.len = QL_JOB_ID_LEN;
	w.wait_ms = 60000;
	c.req_case = QUELL__CONTROL_REQUEST__REQ_WATCH;
	c.watch = &w;
	assert_int_equal(control_decode(&c), QL_OK);
	w.wait_ms = 60001;
	assert_int_equal(control_decode(&c), QL_ERR_MALFORMED);
	w.wait_ms = 0;
	w.job_id.len = 8;
	assert_int_equal(control_decode(&c), QL_ERR_MALFORMED);

	Quell__ListAgents la = QUELL__LIST_AGENTS__INIT;
	c.req_case = QUELL__CONTROL_REQUEST__REQ_AGENTS;
	c.agents = &la;
	assert_int_equal(control_decode(&c), QL_OK);
	la.target = "role=web,dc=east|west";
	assert_int_equal(control_decode(&c), QL_OK);
	la.target = "role=web,";
	assert_int_equal(control_decode(&c), QL_ERR_MALFORMED);

	Quell__ListJobs lj = QUELL__LIST_JOBS__INIT;
	c.req_case = QUELL__CONTROL_REQUEST__REQ_JOBS;
	c.jobs = &lj;
	assert_int_equal(control_decode(&c), QL_ERR_MALFORMED); /* limit 0 */
	lj.limit = 1;
	assert_int_equal(control_decode(&c), QL_OK);
	lj.limit = QL_MAX_JOBS_LIST;
	assert_int_equal(control_decode(&c), QL_OK);
	lj.limit = QL_MAX_JOBS_LIST + 1;
	assert_int_equal(control_decode(&c), QL_ERR_MALFORMED);

	Quell__ControlRequest *out = (Quell__ControlRequest *)1;
	uint8_t *big = calloc(1, QL_MAX_BODY + 1);
	assert_non_null(big);
	assert_int_equal(ql_control_decode(big, QL_MAX_BODY + 1, &out), QL_ERR_TOO_BIG);
	assert_null(out);
	free(big);
}

static enum ql_err creply_decode(const Quell__ControlReply *r)
{
	uint8_t *buf;
	size_t len;
	assert_int_equal(ql_pack(&r->base, &buf, &len), QL_OK);
	Quell__ControlReply *out = (Quell__ControlReply *)1;
	enum ql_err err = ql_control_reply_decode(buf, len, &out);
	if (err == QL_OK)
		quell__control_reply__free_unpacked(out, NULL);
	else
		assert_null(out);
	free(buf);
	return err;
}

static void test_control_reply(void **state)
{
	(void)state;
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	r.ok = true;
	assert_int_equal(creply_decode(&r), QL_OK);

	Quell__HostResult hr = QUELL__HOST_RESULT__INIT, *hrp = &hr;
	hr.hostname = "web-1";
	hr.status = "rejected";
	hr.reason = "denied";
	hr.detail = "denied by policy";
	r.results = &hrp;
	r.n_results = 1;
	assert_int_equal(creply_decode(&r), QL_OK);
	hr.detail = "\x1b[2Jgone";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	hr.detail = "";
	hr.hostname = "web 1";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	hr.hostname = "web-1";
	hr.status = "re jected";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	hr.status = "ok";

	Quell__Label lab = QUELL__LABEL__INIT, *labp = &lab;
	lab.key = "role";
	lab.value = "web";
	Quell__AgentInfo ai = QUELL__AGENT_INFO__INIT, *aip = &ai;
	ai.hostname = "web-1";
	ai.labels = &labp;
	ai.n_labels = 1;
	r.agents = &aip;
	r.n_agents = 1;
	assert_int_equal(creply_decode(&r), QL_OK);
	lab.key = "host";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	lab.key = "role";
	ai.version = "1\x07";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	ai.version = "";

	char *targets[] = {"web-1", "web-2"};
	r.targets = targets;
	r.n_targets = 2;
	assert_int_equal(creply_decode(&r), QL_OK);
	targets[1] = "web\n2";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	targets[1] = "web-2";

	r.error_code = "unknown-operator";
	r.error = "operator key is not known";
	assert_int_equal(creply_decode(&r), QL_OK);
	r.error = "\r\x1b[Kspoofed";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
}

/* A job as the coordinator describes it (jobs, and watch replies). */
static void test_control_reply_jobs(void **state)
{
	(void)state;
	uint8_t id[QL_JOB_ID_LEN] = {1}, signer[QL_PUBKEY_LEN] = {2};
	Quell__Arg a = QUELL__ARG__INIT, *ap = &a;
	a.key = "mode";
	a.value = "on";
	Quell__JobInfo j = QUELL__JOB_INFO__INIT, *jp = &j;
	j.job_id.data = id;
	j.job_id.len = QL_JOB_ID_LEN;
	j.operator_name = "alice";
	j.signer.data = signer;
	j.signer.len = QL_PUBKEY_LEN;
	j.action = "maintenance";
	j.handle = "site";
	j.target = "role=web";
	j.args = &ap;
	j.n_args = 1;
	j.state = "running";
	j.target_count = 4;
	j.ok = 1;
	j.failed = 1;
	j.in_progress = 2;
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	r.ok = true;
	r.jobs = &jp;
	r.n_jobs = 1;
	assert_int_equal(creply_decode(&r), QL_OK);
	r.jobs = NULL;
	r.n_jobs = 0;
	r.job = &j;
	assert_int_equal(creply_decode(&r), QL_OK);

	/* Counts that do not add up to the target count are refused. */
	j.in_progress = 3;
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	j.in_progress = 2;
	j.target_count = 3;
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	j.target_count = 4;
	/* Anything that reaches the terminal is checked. */
	j.operator_name = "al ice";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	j.operator_name = "alice";
	j.target = "role=web,";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	j.target = "all";
	a.value = "\x1b[2J";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	a.value = "on";
	j.reason = "INC\r42";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	j.reason = "";
	j.state = "";
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	j.state = "done";
	j.signer.len = 31;
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	j.signer.len = 0;
	j.job_id.len = 8;
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	j.job_id.len = QL_JOB_ID_LEN;
	assert_int_equal(creply_decode(&r), QL_OK);

	/* At most QL_MAX_JOBS_LIST jobs in one reply. */
	Quell__JobInfo **many = calloc(QL_MAX_JOBS_LIST + 1, sizeof *many);
	assert_non_null(many);
	for (size_t i = 0; i <= QL_MAX_JOBS_LIST; i++)
		many[i] = &j;
	r.job = NULL;
	r.jobs = many;
	r.n_jobs = QL_MAX_JOBS_LIST;
	assert_int_equal(creply_decode(&r), QL_OK);
	r.n_jobs = QL_MAX_JOBS_LIST + 1;
	assert_int_equal(creply_decode(&r), QL_ERR_MALFORMED);
	free(many);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_ok),
		cmocka_unit_test(test_ident_host_label),
		cmocka_unit_test(test_err_codes),
		cmocka_unit_test(test_command_valid),
		cmocka_unit_test(test_command_ids_and_times),
		cmocka_unit_test(test_command_strings),
		cmocka_unit_test(test_command_args),
		cmocka_unit_test(test_command_raw_bytes),
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_heartbeat),
		cmocka_unit_test(test_result),
		cmocka_unit_test(test_agent_reply),
		cmocka_unit_test(test_control),
		cmocka_unit_test(test_control_reply),
		cmocka_unit_test(test_control_reply_jobs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
