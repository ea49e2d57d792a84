/*
 * test_selector.c: target selectors and label lines. The selector is signed
 * by the operator but evaluated by each agent; a selector the agent cannot
 * parse strictly must match nothing, so a lenient reading can never widen a
 * command's reach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ql_limits.h"
#include "selector.h"

/* The host every table row is evaluated on. */
static const struct ql_label host_labels[] = {
	{"role", "web"},
	{"dc", "east"},
	{"tier", "front-end.v2"},
};
#define HOST "web-1"
#define N_LABELS (sizeof host_labels / sizeof host_labels[0])

struct sel_case {
	const char *sel;
	enum ql_err check;
	bool match;
};

static const struct sel_case cases[] = {
	/* everything */
	{"all", QL_OK, true},
	/* host names, exact and glob */
	{"host=web-1", QL_OK, true},
	{"host=web-2", QL_OK, false},
	{"host=web", QL_OK, false},
	{"host=web-10", QL_OK, false},
	{"host=web-*", QL_OK, true},
	{"host=*-1", QL_OK, true},
	{"host=*", QL_OK, true},
	{"host=w*1", QL_OK, true},
	{"host=db-*", QL_OK, false},
	{"host=WEB-1", QL_OK, false},
	{"host=db-1|web-1", QL_OK, true},
	{"host=db-1|db-2", QL_OK, false},
	/* labels */
	{"role=web", QL_OK, true},
	{"role=db", QL_OK, false},
	{"role=WEB", QL_OK, false},
	{"role=we", QL_OK, false},
	{"role=w*", QL_OK, true},
	{"tier=front-end.v2", QL_OK, true},
	{"tier=front-end.*", QL_OK, true},
	/* terms are ANDed */
	{"role=web,dc=east", QL_OK, true},
	{"role=web,dc=west", QL_OK, false},
	{"role=db,dc=east", QL_OK, false},
	{"host=web-*,role=web,dc=east", QL_OK, true},
	{"host=web-2,role=web,dc=east", QL_OK, false},
	/* alternatives are ORed */
	{"role=web,dc=east|west", QL_OK, true},
	{"role=web,dc=west|east", QL_OK, true},
	{"role=web,dc=west|north", QL_OK, false},
	{"role=db|cache|web", QL_OK, true},
	{"dc=west|e*", QL_OK, true},
	/* a missing label matches nothing, not even "*" */
	{"zone=a", QL_OK, false},
	{"zone=*", QL_OK, false},
	{"role=web,zone=*", QL_OK, false},
	/* malformed: rejected by check and never matching */
	{"", QL_ERR_MALFORMED, false},
	{"a=", QL_ERR_MALFORMED, false},
	{"=b", QL_ERR_MALFORMED, false},
	{"=", QL_ERR_MALFORMED, false},
	{"role", QL_ERR_MALFORMED, false},
	{"ALL", QL_ERR_MALFORMED, false},
	{"all,role=web", QL_ERR_MALFORMED, false},
	{"role=web,,dc=east", QL_ERR_MALFORMED, false},
	{"role=web,", QL_ERR_MALFORMED, false},
	{",role=web", QL_ERR_MALFORMED, false},
	{",", QL_ERR_MALFORMED, false},
	{"role=web|", QL_ERR_MALFORMED, false},
	{"role=|web", QL_ERR_MALFORMED, false},
	{"role=web||db", QL_ERR_MALFORMED, false},
	{"role=web=x", QL_ERR_MALFORMED, false},
	{"role=[w]eb", QL_ERR_MALFORMED, false},
	{"role=we?", QL_ERR_MALFORMED, false},
	{"role=web ", QL_ERR_MALFORMED, false},
	{" role=web", QL_ERR_MALFORMED, false},
	{"role=web, dc=east", QL_ERR_MALFORMED, false},
	{"role=w/b", QL_ERR_MALFORMED, false},
	{"ro/le=web", QL_ERR_MALFORMED, false},
	{"role=w\\eb", QL_ERR_MALFORMED, false},
	{"host=web-1\n", QL_ERR_MALFORMED, false},
	{"role=web;dc=east", QL_ERR_MALFORMED, false},
	{"role=w\xc3\xa9"
         "b",
         QL_ERR_MALFORMED, false},
	{"role*=web", QL_ERR_MALFORMED, false},
	/* a valid first term does not excuse a malformed later one */
	{"role=web,dc=[e]ast", QL_ERR_MALFORMED, false},
	{"role=db,dc=?", QL_ERR_MALFORMED, false},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct sel_case *c = &cases[i];
		enum ql_err got = ql_selector_check(c->sel);
		bool m = ql_selector_match(c->sel, HOST, host_labels, N_LABELS);
		if (got != c->check || m != c->match)
			fail_msg("selector \"%s\": check %d (want %d), match %d (want %d)", c->sel,
			         got, c->check, m, c->match);
	}
}

/* "k=v,k=v,..." with n terms, each "role=web" (so a well-formed one matches). */
static char *terms(size_t n, const char *term)
{
	size_t cap = n * (strlen(term) + 1) + 1;
	char *s = calloc(1, cap);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, term);
	}
	return s;
}

static void test_term_and_alt_limits(void **state)
{
	(void)state;
	char *s = terms(QL_MAX_SELECTOR_TERMS, "role=web");
	assert_int_equal(ql_selector_check(s), QL_OK);
	assert_true(ql_selector_match(s, HOST, host_labels, N_LABELS));
	free(s);

	s = terms(QL_MAX_SELECTOR_TERMS + 1, "role=web");
	assert_int_equal(ql_selector_check(s), QL_ERR_TOO_BIG);
	assert_false(ql_selector_match(s, HOST, host_labels, N_LABELS));
	free(s);

	/* role=a|a|...|web with exactly the maximum number of alternatives. */
	char buf[QL_MAX_SELECTOR + 1] = "role=";
	for (size_t i = 0; i < QL_MAX_SELECTOR_ALTS - 1; i++)
		strcat(buf, "a|");
	strcat(buf, "web");
	assert_int_equal(ql_selector_check(buf), QL_OK);
	assert_true(ql_selector_match(buf, HOST, host_labels, N_LABELS));

	snprintf(buf, sizeof buf, "role=a|");
	for (size_t i = 0; i < QL_MAX_SELECTOR_ALTS - 1; i++)
		strcat(buf, "a|");
	strcat(buf, "web");
	assert_int_equal(ql_selector_check(buf), QL_ERR_TOO_BIG);
	assert_false(ql_selector_match(buf, HOST, host_labels, N_LABELS));
}

static void test_length_limits(void **state)
{
	(void)state;
	char buf[QL_MAX_SELECTOR + 64];

	/* Exactly QL_MAX_SELECTOR characters, well-formed and matching. */
	const char *head = "role=web,dc=east,tier=";
	snprintf(buf, sizeof buf, "%s", head);
	size_t len = strlen(buf);
	/* Fill the last term with "*" alternatives of at most 39 characters. */
	while (len < QL_MAX_SELECTOR) {
		if (len != strlen(head))
			buf[len++] = '|';
		size_t room = QL_MAX_SELECTOR - len;
		size_t chunk = room > 39 ? 39 : room;
		assert_true(chunk > 0);
		memset(buf + len, '*', chunk);
		len += chunk;
	}
	buf[len] = '\0';
	assert_int_equal(strlen(buf), QL_MAX_SELECTOR);
	assert_int_equal(ql_selector_check(buf), QL_OK);
	assert_true(ql_selector_match(buf, HOST, host_labels, N_LABELS));

	/* One more character is too big, whatever it is. */
	buf[QL_MAX_SELECTOR] = '*';
	buf[QL_MAX_SELECTOR + 1] = '\0';
	assert_int_equal(ql_selector_check(buf), QL_ERR_TOO_BIG);
	assert_false(ql_selector_match(buf, HOST, host_labels, N_LABELS));

	/* A very long selector costs nothing: it is refused by length. */
	char *huge = malloc(1 << 20);
	assert_non_null(huge);
	memset(huge, 'a', (1 << 20) - 1);
	huge[(1 << 20) - 1] = '\0';
	assert_int_equal(ql_selector_check(huge), QL_ERR_TOO_BIG);
	assert_false(ql_selector_match(huge, HOST, host_labels, N_LABELS));
	free(huge);

	/* Key at most QL_MAX_LABEL_KEY, label value at most QL_MAX_LABEL_VALUE. */
	char key[QL_MAX_LABEL_KEY + 2];
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	snprintf(buf, sizeof buf, "%s=x", key);
	assert_int_equal(ql_selector_check(buf), QL_ERR_MALFORMED);
	key[QL_MAX_LABEL_KEY] = '\0';
	snprintf(buf, sizeof buf, "%s=x", key);
	assert_int_equal(ql_selector_check(buf), QL_OK);

	char val[QL_MAX_LABEL_VALUE + 2];
	memset(val, 'v', sizeof val - 1);
	val[sizeof val - 1] = '\0';
	snprintf(buf, sizeof buf, "role=%s", val);
	assert_int_equal(ql_selector_check(buf), QL_ERR_MALFORMED);
	val[QL_MAX_LABEL_VALUE] = '\0';
	snprintf(buf, sizeof buf, "role=%s", val);
	assert_int_equal(ql_selector_check(buf), QL_OK);

	/* host= alternatives may be as long as a host name (253), not longer. */
	char hostv[QL_MAX_HOSTNAME + 2];
	memset(hostv, 'h', sizeof hostv - 1);
	hostv[sizeof hostv - 1] = '\0';
	snprintf(buf, sizeof buf, "host=%s", hostv);
	assert_int_equal(ql_selector_check(buf), QL_ERR_MALFORMED);
	hostv[QL_MAX_HOSTNAME] = '\0';
	snprintf(buf, sizeof buf, "host=%s", hostv);
	assert_int_equal(ql_selector_check(buf), QL_OK);
	assert_true(ql_selector_match(buf, hostv, NULL, 0));
}

static void test_match_edge_inputs(void **state)
{
	(void)state;
	assert_int_equal(ql_selector_check(NULL), QL_ERR_MALFORMED);
	assert_false(ql_selector_match(NULL, HOST, host_labels, N_LABELS));
	assert_false(ql_selector_match("all", NULL, host_labels, N_LABELS));
	/* No labels at all: label terms fail, host terms still work. */
	assert_true(ql_selector_match("all", HOST, NULL, 0));
	assert_true(ql_selector_match("host=web-1", HOST, NULL, 0));
	assert_false(ql_selector_match("role=*", HOST, NULL, 0));
	/* A hostile host name never turns into a pattern. */
	assert_false(ql_selector_match("host=web-1", "web-*", NULL, 0));
}

struct labels_case {
	const char *text;
	enum ql_err want;
	size_t n;
};

static const struct labels_case label_cases[] = {
	{"", QL_OK, 0},
	{"role=web", QL_OK, 1},
	{"role=web,dc=east", QL_OK, 2},
	{"role=web dc=east", QL_OK, 2},
	{"  role=web ,\tdc=east  ", QL_OK, 2},
	{"role=web,,dc=east", QL_OK, 2},
	{"a.b-c_d=E.f-G_1", QL_OK, 1},
	{"role=web,role=db", QL_ERR_MALFORMED, 0},
	{"role=web,dc=east,role=web", QL_ERR_MALFORMED, 0},
	{"host=web-1", QL_ERR_MALFORMED, 0},
	{"role=web,host=x", QL_ERR_MALFORMED, 0},
	{"all=yes", QL_ERR_MALFORMED, 0},
	{"role=web*", QL_ERR_MALFORMED, 0},
	{"role=*", QL_ERR_MALFORMED, 0},
	{"role=web|db", QL_ERR_MALFORMED, 0},
	{"role=w?b", QL_ERR_MALFORMED, 0},
	{"role=[web]", QL_ERR_MALFORMED, 0},
	{"role", QL_ERR_MALFORMED, 0},
	{"role=", QL_ERR_MALFORMED, 0},
	{"=web", QL_ERR_MALFORMED, 0},
	{"role==web", QL_ERR_MALFORMED, 0},
	{"ro/le=web", QL_ERR_MALFORMED, 0},
	{"role=w\xc3\xa9"
         "b",
         QL_ERR_MALFORMED, 0},
};

static void test_labels_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof label_cases / sizeof label_cases[0]; i++) {
		const struct labels_case *c = &label_cases[i];
		struct ql_label *l = (struct ql_label *)1;
		size_t n = 99;
		enum ql_err got = ql_labels_parse(c->text, &l, &n);
		if (got != c->want || n != c->n)
			fail_msg("labels \"%s\": got %d n=%zu, want %d n=%zu", c->text, got, n,
			         c->want, c->n);
		if (got != QL_OK)
			assert_null(l);
		ql_labels_free(l, n);
	}
}

static void test_labels_parse_values(void **state)
{
	(void)state;
	struct ql_label *l;
	size_t n;
	assert_int_equal(ql_labels_parse(" role=web, dc=east ", &l, &n), QL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(l[0].key, "role");
	assert_string_equal(l[0].value, "web");
	assert_string_equal(l[1].key, "dc");
	assert_string_equal(l[1].value, "east");
	/* What a config declares is what selectors see. */
	assert_true(ql_selector_match("role=web,dc=east|west", "h1", l, n));
	assert_false(ql_selector_match("role=web,dc=west", "h1", l, n));
	ql_labels_free(l, n);
}

static void test_labels_parse_limits(void **state)
{
	(void)state;
	char buf[4096];
	struct ql_label *l;
	size_t n;

	/* QL_MAX_LABELS labels fit, one more does not. */
	buf[0] = '\0';
	for (int i = 0; i < QL_MAX_LABELS; i++) {
		char t[16];
		snprintf(t, sizeof t, "%sk%d=v", i ? "," : "", i);
		strcat(buf, t);
	}
	assert_int_equal(ql_labels_parse(buf, &l, &n), QL_OK);
	assert_int_equal(n, QL_MAX_LABELS);
	ql_labels_free(l, n);
	strcat(buf, ",extra=v");
	assert_int_equal(ql_labels_parse(buf, &l, &n), QL_ERR_TOO_BIG);
	assert_null(l);
	assert_int_equal(n, 0);

	/* Key and value lengths. */
	char key[QL_MAX_LABEL_KEY + 2], val[QL_MAX_LABEL_VALUE + 2];
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	memset(val, 'v', sizeof val - 1);
	val[sizeof val - 1] = '\0';
	snprintf(buf, sizeof buf, "%s=v", key);
	assert_int_equal(ql_labels_parse(buf, &l, &n), QL_ERR_MALFORMED);
	snprintf(buf, sizeof buf, "k=%s", val);
	assert_int_equal(ql_labels_parse(buf, &l, &n), QL_ERR_MALFORMED);
	key[QL_MAX_LABEL_KEY] = '\0';
	val[QL_MAX_LABEL_VALUE] = '\0';
	snprintf(buf, sizeof buf, "%s=%s", key, val);
	assert_int_equal(ql_labels_parse(buf, &l, &n), QL_OK);
	assert_int_equal(n, 1);
	ql_labels_free(l, n);

	/* Text past the overall bound is refused before parsing. */
	size_t big = QL_MAX_LABELS * (QL_MAX_LABEL_KEY + QL_MAX_LABEL_VALUE + 2) + 1;
	char *huge = malloc(big + 1);
	assert_non_null(huge);
	memset(huge, ' ', big);
	huge[big] = '\0';
	assert_int_equal(ql_labels_parse(huge, &l, &n), QL_ERR_TOO_BIG);
	free(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_term_and_alt_limits),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_match_edge_inputs),
		cmocka_unit_test(test_labels_parse_table),
		cmocka_unit_test(test_labels_parse_values),
		cmocka_unit_test(test_labels_parse_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
