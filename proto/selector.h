/*
 * selector.h: target selectors. Grammar:
 *
 *     selector := "all" | term ("," term)*
 *     term     := key "=" alt ("|" alt)*
 *
 * Terms are ANDed, alternatives ORed; an alternative may use "*" as a glob.
 * The key "host" names the hostname, any other key an agent label. The agent
 * evaluates the signed selector itself, so a coordinator cannot widen a
 * command's reach.
 */
#ifndef QL_SELECTOR_H
#define QL_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "ql.h"

struct ql_label {
	char *key;
	char *value;
};

/* QL_OK if sel is well-formed and within limits, else QL_ERR_MALFORMED/TOO_BIG. */
QL_NODISCARD enum ql_err ql_selector_check(const char *sel);

/* True if sel matches. A malformed selector matches nothing. */
bool ql_selector_match(const char *sel, const char *hostname, const struct ql_label *labels,
                       size_t n_labels);

/*
 * Parse "k=v,k2=v2" (a config's labels line) into a malloc'd array. Values
 * may not contain globs or alternatives. Free with ql_labels_free().
 */
QL_NODISCARD enum ql_err ql_labels_parse(const char *text, struct ql_label **out, size_t *n_out);
void ql_labels_free(struct ql_label *labels, size_t n);

#endif
