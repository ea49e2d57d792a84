/*
 * config.c: parsing and validating the agent's INI file (see config.h).
 *
 * inih calls handler() once per key; every key is checked right there, with
 * its line number, and unknown sections or keys are errors rather than
 * silently ignored typos. Cross-field checks (a signer without a key, a
 * handle without a type) run after the whole file is read.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "config.h"
#include "fsutil.h"
#include "log.h"
#include "ql_limits.h"
#include "transport.h"

struct parse {
	struct qa_config *cfg;
	char *why; /* the first error, without its line: ini_parse() returns that */
	size_t whylen;
	bool failed;
	size_t signers_cap, handles_cap; /* allocated lengths of cfg->signers, cfg->handles */
	size_t checks_cap;
};

#define FAIL(p, ...)                                                                               \
	do {                                                                                       \
		char msg_[512];                                                                    \
		snprintf(msg_, sizeof msg_, __VA_ARGS__);                                          \
		snprintf((p)->why, (p)->whylen, "%s", msg_);                                       \
		(p)->failed = true;                                                                \
		return 0;                                                                          \
	} while (0)

static bool set_str(char **dst, const char *value)
{
	free(*dst);
	*dst = strdup(value);
	return *dst != NULL;
}

/*
 * The signer and handle arrays grow as sections appear (4, 8, ... up to the
 * limit): allocated at the limit up front they would be ~100 KiB, zeroed and
 * so resident for the agent's whole life. Returns arr with room for one more
 * than n, or NULL at the limit or out of memory. Nothing keeps a pointer into
 * the arrays across handler() calls, so they may move.
 */
static void *grow(void *arr, size_t *cap, size_t n, size_t max, size_t size)
{
	if (n < *cap)
		return arr;
	size_t want = *cap ? *cap * 2 : 4;
	if (want > max)
		want = max;
	if (want <= n)
		return NULL;
	void *a = realloc(arr, want * size);
	if (a != NULL)
		*cap = want;
	return a;
}

static struct qa_signer *signer_for(struct parse *p, const char *name)
{
	struct qa_config *c = p->cfg;
	for (size_t i = 0; i < c->n_signers; i++)
		if (strcmp(c->signers[i].name, name) == 0)
			return &c->signers[i];
	struct qa_signer *a =
		grow(c->signers, &p->signers_cap, c->n_signers, QA_MAX_SIGNERS, sizeof *a);
	if (a == NULL)
		return NULL;
	c->signers = a;
	struct qa_signer *s = &c->signers[c->n_signers];
	memset(s, 0, sizeof *s);
	s->name = strdup(name);
	if (s->name == NULL)
		return NULL;
	c->n_signers++;
	return s;
}

static struct qa_handle *handle_for(struct parse *p, const char *name)
{
	struct qa_config *c = p->cfg;
	for (size_t i = 0; i < c->n_handles; i++)
		if (strcmp(c->handles[i].name, name) == 0)
			return &c->handles[i];
	struct qa_handle *a =
		grow(c->handles, &p->handles_cap, c->n_handles, QA_MAX_HANDLES, sizeof *a);
	if (a == NULL)
		return NULL;
	c->handles = a;
	struct qa_handle *h = &c->handles[c->n_handles];
	memset(h, 0, sizeof *h);
	h->grace_s = -1; /* unset: the type's default (0 is a valid grace) */
	h->name = strdup(name);
	if (h->name == NULL)
		return NULL;
	c->n_handles++;
	return h;
}

static struct qa_check *check_for(struct parse *p, const char *name)
{
	struct qa_config *c = p->cfg;
	for (size_t i = 0; i < c->n_checks; i++)
		if (strcmp(c->checks[i].name, name) == 0)
			return &c->checks[i];
	struct qa_check *a = grow(c->checks, &p->checks_cap, c->n_checks, QL_MAX_CHECKS, sizeof *a);
	if (a == NULL)
		return NULL;
	c->checks = a;
	struct qa_check *k = &c->checks[c->n_checks];
	memset(k, 0, sizeof *k);
	k->name = strdup(name);
	if (k->name == NULL)
		return NULL;
	c->n_checks++;
	return k;
}

static int agent_key(struct parse *p, const char *key, const char *value)
{
	struct qa_config *c = p->cfg;
	char why[256];
	if (strcmp(key, "hostname") == 0) {
		if (!ql_hostname_ok(value))
			FAIL(p, "hostname '%s' is not a valid host name", value);
		if (!set_str(&c->hostname, value))
			FAIL(p, "out of memory");
	} else if (strcmp(key, "labels") == 0) {
		ql_labels_free(c->labels, c->n_labels);
		c->labels = NULL;
		c->n_labels = 0;
		if (ql_labels_parse(value, &c->labels, &c->n_labels) != QL_OK)
			FAIL(p,
			     "labels must be key=value pairs separated by commas "
			     "(letters, digits, '._-'; at most %d; 'host' is reserved)",
			     QL_MAX_LABELS);
	} else if (strcmp(key, "coordinator") == 0) {
		/* One URL per line, or several separated by spaces/commas. */
		char *copy = strdup(value), *save = NULL;
		if (copy == NULL)
			FAIL(p, "out of memory");
		for (char *u = strtok_r(copy, ", \t", &save); u;
		     u = strtok_r(NULL, ", \t", &save)) {
			if (ql_url_check(u, why, sizeof why) != QL_OK) {
				free(copy);
				FAIL(p, "coordinator: %s", why);
			}
			if (c->n_coordinators == QA_MAX_COORDINATORS) {
				free(copy);
				FAIL(p, "at most %d coordinator URLs", QA_MAX_COORDINATORS);
			}
			char *url = strdup(u);
			if (url == NULL) {
				free(copy);
				FAIL(p, "out of memory");
			}
			c->coordinators[c->n_coordinators++] = url;
		}
		free(copy);
	} else if (strcmp(key, "key") == 0) {
		if (!set_str(&c->key_path, value))
			FAIL(p, "out of memory");
	} else if (strncmp(key, "tls_", 4) == 0) {
		char **dst = strcmp(key, "tls_cert") == 0          ? &c->tls.cert
		             : strcmp(key, "tls_key") == 0         ? &c->tls.key
		             : strcmp(key, "tls_ca") == 0          ? &c->tls.ca
		             : strcmp(key, "tls_server_name") == 0 ? &c->tls.server_name
		                                                   : NULL;
		if (dst == NULL)
			FAIL(p,
			     "unknown key '%s' in [agent] (tls_cert, tls_key, tls_ca, tls_server_name)",
			     key);
		if (!set_str(dst, value))
			FAIL(p, "out of memory");
	} else if (strcmp(key, "state_dir") == 0) {
		if (!set_str(&c->state_dir, value))
			FAIL(p, "out of memory");
	} else if (strcmp(key, "clock_skew") == 0) {
		char *end;
		long v = strtol(value, &end, 10);
		if (*end != '\0' || v < 0 || v > 3600)
			FAIL(p, "clock_skew must be a number of seconds from 0 to 3600");
		c->clock_skew = v;
	} else {
		FAIL(p, "unknown key '%s' in [agent]", key);
	}
	return 1;
}

static int parse_allow(struct parse *p, struct qa_signer *s, const char *value)
{
	char *copy = strdup(value), *save = NULL;
	if (copy == NULL)
		FAIL(p, "out of memory");
	for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
		char *colon = strchr(t, ':');
		const char *handle = "*";
		if (colon) {
			*colon = '\0';
			handle = colon + 1;
		}
		bool ok = (strcmp(t, "*") == 0 || ql_ident_ok(t, QL_MAX_ACTION)) &&
		          (strcmp(handle, "*") == 0 || ql_ident_ok(handle, QL_MAX_HANDLE));
		if (!ok || s->n_rules == QA_MAX_RULES) {
			free(copy);
			FAIL(p,
			     "allow entries are ACTION or ACTION:HANDLE ('*' for any), at most %d",
			     QA_MAX_RULES);
		}
		struct qa_rule *r = &s->rules[s->n_rules++];
		r->action = strdup(t);
		r->handle = strdup(handle);
		if (r->action == NULL || r->handle == NULL) {
			free(copy);
			FAIL(p, "out of memory"); /* qa_config_free() frees what was copied */
		}
	}
	free(copy);
	return 1;
}

static int signer_key(struct parse *p, const char *name, const char *key, const char *value)
{
	struct qa_signer *s = signer_for(p, name);
	if (s == NULL)
		FAIL(p, "too many signers (at most %d)", QA_MAX_SIGNERS);
	if (strcmp(key, "key") == 0) {
		if (ql_pubkey_parse(value, s->pk) != QL_OK)
			FAIL(p, "signer '%s': key is not a base64 ed25519 public key", name);
		s->have_key = true;
	} else if (strcmp(key, "key_file") == 0) {
		enum ql_err err = ql_pubkey_load(value, s->pk);
		if (err != QL_OK)
			FAIL(p, "signer '%s': cannot load public key %s: %s", name, value,
			     err == QL_ERR_IO ? strerror(errno) : ql_strerror(err));
		s->have_key = true;
	} else if (strcmp(key, "allow") == 0) {
		return parse_allow(p, s, value);
	} else if (strcmp(key, "max_ttl") == 0) {
		if (!ql_duration_parse(value, QL_MAX_TTL, &s->max_ttl))
			FAIL(p,
			     "signer '%s': max_ttl is a duration like 900, 15m, 2h or 1d (at most 7d)",
			     name);
	} else if (strcmp(key, "require_ttl") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
			FAIL(p, "signer '%s': require_ttl is yes or no", name);
		s->require_ttl = strcmp(value, "yes") == 0;
	} else {
		FAIL(p, "unknown key '%s' in [signer %s]", key, name);
	}
	return 1;
}

static int handle_key(struct parse *p, const char *name, const char *key, const char *value)
{
	struct qa_handle *h = handle_for(p, name);
	if (h == NULL)
		FAIL(p, "too many handles (at most %d)", QA_MAX_HANDLES);
	char why[256];
	if (!qa_handle_set(h, key, value, why, sizeof why))
		FAIL(p, "[handle %s] %s", name, why);
	return 1;
}

static int check_key(struct parse *p, const char *name, const char *key, const char *value)
{
	struct qa_check *k = check_for(p, name);
	if (k == NULL)
		FAIL(p, "too many checks (at most %d)", QL_MAX_CHECKS);
	char why[256];
	if (!qa_check_set(k, key, value, why, sizeof why))
		FAIL(p, "[check %s] %s", name, why);
	return 1;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct parse *p = user;
	if (p->failed)
		return 0;
	if (strcmp(section, "agent") == 0)
		return agent_key(p, key, value);
	if (strncmp(section, "signer ", 7) == 0 && ql_ident_ok(section + 7, QL_MAX_NAME))
		return signer_key(p, section + 7, key, value);
	if (strncmp(section, "handle ", 7) == 0 && ql_ident_ok(section + 7, QL_MAX_HANDLE))
		return handle_key(p, section + 7, key, value);
	if (strncmp(section, "check ", 6) == 0 && ql_ident_ok(section + 6, QL_MAX_NAME))
		return check_key(p, section + 6, key, value);
	FAIL(p,
	     "unknown section [%s] (expected [agent], [signer NAME], [handle NAME] or [check "
	     "NAME])",
	     section);
}

/* Checks that need the whole file. */
static bool finish(struct parse *p)
{
	struct qa_config *c = p->cfg;
	char why[256];
	if (c->hostname == NULL) {
		char host[QL_MAX_HOSTNAME + 1] = "";
		if (gethostname(host, sizeof host) != 0 || !ql_hostname_ok(host)) {
			snprintf(p->why, p->whylen,
			         "%s: no hostname set and the system's is unusable", c->path);
			return false;
		}
		c->hostname = strdup(host);
		if (c->hostname == NULL) {
			snprintf(p->why, p->whylen, "%s: out of memory", c->path);
			return false;
		}
	}
	const char *missing = c->n_coordinators == 0 ? "coordinator"
	                      : c->key_path == NULL  ? "key"
	                      : c->state_dir == NULL ? "state_dir"
	                                             : NULL;
	if (missing) {
		snprintf(p->why, p->whylen, "%s: [agent] %s is required", c->path, missing);
		return false;
	}
	for (size_t i = 0; i < c->n_coordinators; i++) {
		if (ql_tls_files_check(&c->tls, QL_TLS_AGENT, c->coordinators[i], why,
		                       sizeof why) != QL_OK) {
			snprintf(p->why, p->whylen, "%s: [agent] coordinator %s", c->path, why);
			return false;
		}
	}
	for (size_t i = 0; i < c->n_signers; i++) {
		if (!c->signers[i].have_key) {
			snprintf(p->why, p->whylen, "%s: [signer %s] has no key or key_file",
			         c->path, c->signers[i].name);
			return false;
		}
	}
	for (size_t i = 0; i < c->n_handles; i++) {
		struct qa_handle *h = &c->handles[i];
		if (!qa_handle_finish(h, why, sizeof why)) {
			snprintf(p->why, p->whylen, "%s: [handle %s] %s", c->path, h->name, why);
			return false;
		}
	}
	for (size_t i = 0; i < c->n_checks; i++) {
		struct qa_check *k = &c->checks[i];
		if (!qa_check_finish(k, c, why, sizeof why)) {
			snprintf(p->why, p->whylen, "%s: [check %s] %s", c->path, k->name, why);
			return false;
		}
	}
	return true;
}

struct qa_config *qa_config_load(const char *path, char *why, size_t whylen)
{
	struct qa_config *cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	cfg->clock_skew = QL_DEFAULT_SKEW;
	cfg->path = strdup(path);
	if (cfg->path == NULL) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	char first[512] = "";
	struct parse p = {cfg, first, sizeof first, false, 0, 0, 0};
	int rc = ini_parse(path, handler, &p);
	if (rc < 0) {
		snprintf(why, whylen, "%s: cannot read: %s", path, strerror(errno));
		goto fail;
	}
	if (rc > 0) {
		snprintf(why, whylen, "%s:%d: %s", path, rc,
		         p.failed ? first : "syntax error (expected 'key = value' or '[section]')");
		goto fail;
	}
	p.why = why;
	p.whylen = whylen;
	if (!finish(&p))
		goto fail;
	return cfg;
fail:
	qa_config_free(cfg);
	return NULL;
}

void qa_config_free(struct qa_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->hostname);
	ql_labels_free(cfg->labels, cfg->n_labels);
	for (size_t i = 0; i < cfg->n_coordinators; i++)
		free(cfg->coordinators[i]);
	free(cfg->key_path);
	ql_tls_files_fini(&cfg->tls);
	free(cfg->state_dir);
	for (size_t i = 0; cfg->signers && i < cfg->n_signers; i++) {
		free(cfg->signers[i].name);
		for (size_t j = 0; j < cfg->signers[i].n_rules; j++) {
			free(cfg->signers[i].rules[j].action);
			free(cfg->signers[i].rules[j].handle);
		}
	}
	free(cfg->signers);
	for (size_t i = 0; cfg->handles && i < cfg->n_handles; i++)
		qa_handle_fini(&cfg->handles[i]);
	free(cfg->handles);
	for (size_t i = 0; cfg->checks && i < cfg->n_checks; i++)
		qa_check_fini(&cfg->checks[i]);
	free(cfg->checks);
	free(cfg);
}

const struct qa_handle *qa_config_handle(const struct qa_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_handles; i++)
		if (strcmp(cfg->handles[i].name, name) == 0)
			return &cfg->handles[i];
	return NULL;
}

const struct qa_signer *qa_config_signer(const struct qa_config *cfg,
                                         const uint8_t pk[QL_PUBKEY_LEN])
{
	for (size_t i = 0; i < cfg->n_signers; i++)
		if (memcmp(cfg->signers[i].pk, pk, QL_PUBKEY_LEN) == 0)
			return &cfg->signers[i];
	return NULL;
}

/*
 * Under systemd's ProtectSystem=strict, a handle's directory that is not in
 * the unit's ReadWritePaths is read-only for the agent, and every action on
 * it would fail: say so at start, not in the middle of an incident.
 */
void qa_config_warn_readonly(const struct qa_config *cfg)
{
	for (size_t i = 0; i < cfg->n_handles; i++) {
		const struct qa_handle *h = &cfg->handles[i];
		const char *paths[] = {h->file, h->pause_file, h->link};
		for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
			char dir[4096];
			if (paths[k] == NULL ||
			    snprintf(dir, sizeof dir, "%s", paths[k]) >= (int)sizeof dir)
				continue;
			char *slash = strrchr(dir, '/');
			if (slash == NULL)
				continue;
			*(slash == dir ? slash + 1 : slash) = '\0';
			if (access(dir, W_OK) != 0 && errno == EROFS)
				ql_warn("handle %s: %s is read-only for this agent, so its actions will "
				        "fail; under systemd add ReadWritePaths=%s (systemctl edit "
				        "quell-agent)",
				        h->name, dir, dir);
		}
	}
}

/* Temporary files a crash left next to the files the handles change. */
void qa_config_clean_temps(const struct qa_config *cfg)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->n_handles; i++) {
		const struct qa_handle *h = &cfg->handles[i];
		const char *paths[] = {h->file, h->pause_file, h->link};
		for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++)
			if (paths[k])
				n += qa_clean_temps(paths[k]);
	}
	if (n)
		ql_info("removed %zu temporary file%s left by an interrupted action", n,
		        n == 1 ? "" : "s");
}
