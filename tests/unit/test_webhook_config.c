/*
 * test_webhook_config.c: the coordinator's [webhook] section
 * (coordinator/config-webhook.c): what listen, max_body and path accept and
 * refuse (with the line), and the token file: its permissions, its length
 * and characters, the newline stripped, only a digest kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "keys.h"
#include "tutil.h"

#define TOKEN "s3cr3t-t0ken-0123456789abcdef"

struct fixture {
	char *dir, *conf, *token;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->dir = tu_mkdtemp();
	f->conf = tu_path(f->dir, "coordinator.conf");
	f->token = tu_path(f->dir, "webhook.token");
	tu_write_str(f->token, TOKEN "\n");
	assert_int_equal(chmod(f->token, 0600), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->conf);
	free(f->token);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* The config with `webhook` as the [webhook] section's body (NULL: none). */
static struct qc_config *load(struct fixture *f, const char *webhook, char *why, size_t len)
{
	char text[4096];
	int n = snprintf(text, sizeof text,
	                 "[coordinator]\nagent_listen = tcp://127.0.0.1:7400\n"
	                 "control_listen = tcp://127.0.0.1:7401\nstate_dir = %s\n",
	                 f->dir);
	if (webhook)
		snprintf(text + n, sizeof text - (size_t)n, "[webhook]\n%s", webhook);
	tu_write_str(f->conf, text);
	why[0] = '\0';
	return qc_config_load(f->conf, why, len);
}

static struct qc_config *ok(struct fixture *f, const char *fmt, ...) QL_PRINTF(2, 3);

static struct qc_config *ok(struct fixture *f, const char *fmt, ...)
{
	char body[2048], why[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	struct qc_config *cfg = load(f, body, why, sizeof why);
	if (cfg == NULL)
		fail_msg("[webhook]\n%s\n  refused: %s", body, why);
	assert_non_null(cfg->webhook);
	return cfg;
}

/* The section is refused with a reason that contains want. */
static void refused(struct fixture *f, const char *want, const char *fmt, ...) QL_PRINTF(3, 4);

static void refused(struct fixture *f, const char *want, const char *fmt, ...)
{
	char body[2048], why[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	struct qc_config *cfg = load(f, body, why, sizeof why);
	if (cfg != NULL)
		fail_msg("[webhook]\n%s\n  was accepted", body);
	if (strstr(why, want) == NULL || strncmp(why, f->conf, strlen(f->conf)) != 0)
		fail_msg("[webhook]\n%s\n  refused with \"%s\", expected \"%s\"", body, why, want);
}

static void test_none(void **state)
{
	struct fixture *f = *state;
	char why[1024];
	struct qc_config *cfg = load(f, NULL, why, sizeof why);
	assert_non_null(cfg);
	assert_null(cfg->webhook);
	qc_config_free(cfg);
}

static void test_defaults_and_token(void **state)
{
	struct fixture *f = *state;
	struct qc_config *cfg = ok(f, "listen = 127.0.0.1:9094\ntoken_file = %s\n", f->token);
	const struct qc_webhook_config *w = cfg->webhook;
	assert_string_equal(w->host, "127.0.0.1");
	assert_false(w->ipv6);
	assert_int_equal(w->port, 9094);
	assert_int_equal(w->max_body, 256 * 1024);
	assert_string_equal(w->path, "/api/v1/alerts");
	/* The digest of the token without its newline, and nothing else. */
	uint8_t h[QC_WEBHOOK_HASH_LEN];
	qc_webhook_token_hash(TOKEN, strlen(TOKEN), h);
	assert_memory_equal(h, w->token_hash, sizeof h);
	qc_webhook_token_hash(TOKEN "\n", strlen(TOKEN) + 1, h);
	assert_memory_not_equal(h, w->token_hash, sizeof h);
	qc_config_free(cfg);

	/* CRLF, or no newline at all, is the same token. */
	static const char *const files[] = {TOKEN "\r\n", TOKEN};
	for (size_t i = 0; i < 2; i++) {
		tu_write_str(f->token, files[i]);
		cfg = ok(f, "listen = 127.0.0.1:9094\ntoken_file = %s\n", f->token);
		qc_webhook_token_hash(TOKEN, strlen(TOKEN), h);
		assert_memory_equal(h, cfg->webhook->token_hash, sizeof h);
		qc_config_free(cfg);
	}
}

static void test_listen(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *listen, *host;
		bool ipv6;
		unsigned port;
	} good[] = {
		{"127.0.0.1:9094", "127.0.0.1", false, 9094},
		{"localhost:1", "127.0.0.1", false, 1},
		{"0.0.0.0:65535", "0.0.0.0", false, 65535},
		{"[::1]:9094", "::1", true, 9094},
		{"[fe80::1:2]:80", "fe80::1:2", true, 80},
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		struct qc_config *cfg =
			ok(f, "listen = %s\ntoken_file = %s\n", good[i].listen, f->token);
		assert_string_equal(cfg->webhook->host, good[i].host);
		assert_int_equal(cfg->webhook->ipv6, good[i].ipv6);
		assert_int_equal(cfg->webhook->port, good[i].port);
		qc_config_free(cfg);
	}
	static const char *const bad[] = {
		"alertmanager.example:9094",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"127.0.0.1:+80",
		"127.0.0.1:80x",
		"127.1:80",
		"::1:9094",
		"[::1]9094",
		"[::1]",
		"[127.0.0.1]:80",
		":9094",
		"localhost.:80",
		"127.0.0.1:000000080",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		refused(f, ":6: listen must be IP:PORT, [IPv6]:PORT or localhost:PORT",
		        "listen = %s\ntoken_file = %s\n", bad[i], f->token);
}

static void test_max_body_and_path(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *text;
		size_t bytes;
	} good[] = {{"1k", 1024},    {"1024", 1024},     {"256K", 262144},
	            {"4m", 4194304}, {"4096k", 4194304}, {"4194304", 4194304}};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		struct qc_config *cfg =
			ok(f, "listen = 127.0.0.1:9094\ntoken_file = %s\nmax_body = %s\n", f->token,
		           good[i].text);
		assert_int_equal(cfg->webhook->max_body, good[i].bytes);
		qc_config_free(cfg);
	}
	static const char *const bad[] = {"1023",
	                                  "0",
	                                  "5m",
	                                  "4097k",
	                                  "4194305",
	                                  "k",
	                                  "-1",
	                                  "1g",
	                                  "1kb",
	                                  "+1m",
	                                  "18446744073709551617k"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		refused(f, ":8: max_body must be 1k to 4m",
		        "listen = 127.0.0.1:9094\ntoken_file = %s\nmax_body = %s\n", f->token,
		        bad[i]);

	struct qc_config *cfg =
		ok(f, "path = /hooks/quell\nlisten = 127.0.0.1:9094\ntoken_file = %s\n", f->token);
	assert_string_equal(cfg->webhook->path, "/hooks/quell");
	qc_config_free(cfg);
	static const char *const bad_paths[] = {"hooks", "/a b", "/a?b", "/a%20b", "/a#b"};
	for (size_t i = 0; i < sizeof bad_paths / sizeof *bad_paths; i++)
		refused(f, ":6: path must start with '/'", "path = %s\n", bad_paths[i]);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	refused(f, ":6: unknown key 'url' in [webhook]", "url = http://x/\n");
	refused(f, "[webhook] token_file is required", "listen = 127.0.0.1:9094\n");
	refused(f, "[webhook] listen is required", "token_file = %s\n", f->token);

	/* The token file is a secret: like a secret key, only its owner may read it. */
	assert_int_equal(chmod(f->token, 0640), 0);
	refused(f, "is accessible by group or others (chmod 600)",
	        "listen = 127.0.0.1:9094\ntoken_file = %s\n", f->token);
	assert_int_equal(chmod(f->token, 0604), 0);
	refused(f, "is accessible by group or others (chmod 600)",
	        "listen = 127.0.0.1:9094\ntoken_file = %s\n", f->token);
	assert_int_equal(chmod(f->token, 0600), 0);

	static const char *const tokens[] = {
		"",
		"\n",
		"short-token-15c",
		"has a blank in it 0123456789",
		"tab\there-0123456789abcdef",
		TOKEN "\n\n",
		TOKEN "\nsecond line",
		"caf\xc3\xa9-0123456789abcdef",
	};
	for (size_t i = 0; i < sizeof tokens / sizeof *tokens; i++) {
		tu_write_str(f->token, tokens[i]);
		refused(f, "must hold one token of 16 to 256 printable characters",
		        "listen = 127.0.0.1:9094\ntoken_file = %s\n", f->token);
	}
	char long_token[260];
	memset(long_token, 'x', sizeof long_token);
	long_token[256] = '\0';
	tu_write_str(f->token, long_token);
	struct qc_config *cfg = ok(f, "listen = 127.0.0.1:9094\ntoken_file = %s\n", f->token);
	qc_config_free(cfg);
	long_token[256] = 'x';
	long_token[257] = '\0';
	tu_write_str(f->token, long_token);
	refused(f, "must hold one token of 16 to 256", "listen = 127.0.0.1:9094\ntoken_file = %s\n",
	        f->token);

	refused(f, "cannot read token_file", "listen = 127.0.0.1:9094\ntoken_file = %s/nope\n",
	        f->dir);
	refused(f, "is not a regular file", "listen = 127.0.0.1:9094\ntoken_file = %s\n", f->dir);
}

int main(void)
{
	assert_int_equal(ql_crypto_init(), QL_OK);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_and_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_body_and_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
