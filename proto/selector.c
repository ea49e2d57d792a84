/*
 * selector.c: parsing and matching target selectors (see selector.h).
 *
 * The selector is untrusted text. It is checked in full (characters, lengths,
 * term and alternative counts) before matching, and matching works on a
 * bounded local copy, so a hostile selector costs at most a few kilobytes
 * and a bounded number of fnmatch() calls. Only "*" is special in a pattern:
 * the character check rejects fnmatch's other metacharacters.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ql_limits.h"
#include "selector.h"

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static bool pattern_char(char c)
{
	return key_char(c) || c == '*';
}

/* Callback per term; returns false to stop. */
typedef bool (*term_fn)(const char *key, char **alts, size_t n_alts, void *arg);

/*
 * Split a selector into terms and call fn for each. Returns QL_OK if the
 * whole selector is well-formed (fn may still have stopped early).
 */
static enum ql_err walk(const char *sel, term_fn fn, void *arg)
{
	char buf[QL_MAX_SELECTOR + 1];
	size_t len = strnlen(sel, QL_MAX_SELECTOR + 1);
	if (len > QL_MAX_SELECTOR)
		return QL_ERR_TOO_BIG;
	if (len == 0)
		return QL_ERR_MALFORMED;
	memcpy(buf, sel, len + 1);
	if (strcmp(buf, "all") == 0)
		return QL_OK;

	size_t n_terms = 0;
	char *save_t = NULL;
	bool go_on = true;
	if (buf[0] == ',' || buf[len - 1] == ',' || strstr(buf, ",,"))
		return QL_ERR_MALFORMED;
	for (char *term = strtok_r(buf, ",", &save_t); term; term = strtok_r(NULL, ",", &save_t)) {
		if (++n_terms > QL_MAX_SELECTOR_TERMS)
			return QL_ERR_TOO_BIG;
		char *eq = strchr(term, '=');
		if (eq == NULL || eq == term)
			return QL_ERR_MALFORMED;
		*eq = '\0';
		size_t klen = strlen(term);
		if (klen > QL_MAX_LABEL_KEY)
			return QL_ERR_MALFORMED;
		for (size_t i = 0; i < klen; i++)
			if (!key_char(term[i]))
				return QL_ERR_MALFORMED;

		char *alts[QL_MAX_SELECTOR_ALTS];
		size_t n_alts = 0;
		char *p = eq + 1;
		for (;;) {
			char *bar = strchr(p, '|');
			if (bar)
				*bar = '\0';
			size_t alen = strlen(p);
			size_t amax =
				strcmp(term, "host") == 0 ? QL_MAX_HOSTNAME : QL_MAX_LABEL_VALUE;
			if (alen == 0 || alen > amax)
				return QL_ERR_MALFORMED;
			for (size_t i = 0; i < alen; i++)
				if (!pattern_char(p[i]))
					return QL_ERR_MALFORMED;
			if (n_alts == QL_MAX_SELECTOR_ALTS)
				return QL_ERR_TOO_BIG;
			alts[n_alts++] = p;
			if (bar == NULL)
				break;
			p = bar + 1;
		}
		if (go_on)
			go_on = fn(term, alts, n_alts, arg);
	}
	return QL_OK;
}

static bool check_term(const char *key, char **alts, size_t n_alts, void *arg)
{
	(void)key, (void)alts, (void)n_alts, (void)arg;
	return true;
}

enum ql_err ql_selector_check(const char *sel)
{
	if (sel == NULL)
		return QL_ERR_MALFORMED;
	return walk(sel, check_term, NULL);
}

struct match_ctx {
	const char *hostname;
	const struct ql_label *labels;
	size_t n_labels;
	bool matched;
};

static bool match_term(const char *key, char **alts, size_t n_alts, void *arg)
{
	struct match_ctx *m = arg;
	const char *value = NULL;
	if (strcmp(key, "host") == 0) {
		value = m->hostname;
	} else {
		for (size_t i = 0; i < m->n_labels; i++)
			if (strcmp(m->labels[i].key, key) == 0)
				value = m->labels[i].value;
	}
	bool any = false;
	for (size_t i = 0; value && i < n_alts && !any; i++)
		any = fnmatch(alts[i], value, 0) == 0;
	if (!any)
		m->matched = false;
	return any; /* stop at the first term that fails */
}

bool ql_selector_match(const char *sel, const char *hostname, const struct ql_label *labels,
                       size_t n_labels)
{
	struct match_ctx m = {hostname, labels, n_labels, true};
	if (sel == NULL || hostname == NULL)
		return false;
	if (walk(sel, match_term, &m) != QL_OK)
		return false;
	return m.matched;
}

void ql_labels_free(struct ql_label *labels, size_t n)
{
	for (size_t i = 0; labels && i < n; i++) {
		free(labels[i].key);
		free(labels[i].value);
	}
	free(labels);
}

enum ql_err ql_labels_parse(const char *text, struct ql_label **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	size_t len = strlen(text);
	if (len > QL_MAX_LABELS * (QL_MAX_LABEL_KEY + QL_MAX_LABEL_VALUE + 2))
		return QL_ERR_TOO_BIG;
	char *buf = strdup(text);
	struct ql_label *labels = calloc(QL_MAX_LABELS, sizeof *labels);
	enum ql_err err = QL_ERR_NOMEM;
	size_t n = 0;
	if (buf == NULL || labels == NULL)
		goto fail;
	char *save = NULL;
	for (char *t = strtok_r(buf, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
		err = QL_ERR_TOO_BIG;
		if (n == QL_MAX_LABELS)
			goto fail;
		err = QL_ERR_MALFORMED;
		char *eq = strchr(t, '=');
		if (eq == NULL)
			goto fail;
		*eq = '\0';
		if (!ql_label_ok(t, eq + 1))
			goto fail;
		for (size_t i = 0; i < n; i++)
			if (strcmp(labels[i].key, t) == 0)
				goto fail; /* duplicate key */
		err = QL_ERR_NOMEM;
		labels[n].key = strdup(t);
		labels[n].value = strdup(eq + 1);
		n++;
		if (labels[n - 1].key == NULL || labels[n - 1].value == NULL)
			goto fail;
	}
	free(buf);
	*out = labels;
	*n_out = n;
	return QL_OK;
fail:
	free(buf);
	ql_labels_free(labels, n);
	return err;
}
