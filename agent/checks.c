/*
 * checks.c: [check NAME] sections (see checks.h) and the hysteresis that
 * turns a check's results into its state. Running a check is probes.c;
 * scheduling them is health.c.
 *
 * As for handles, one table says which key each type takes; a key the type
 * does not use, a value out of range or a missing required key stops the
 * agent at start-up with the file and line, not at 3 a.m. when the check
 * would have mattered.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checks.h"
#include "codec.h"
#include "config.h"
#include "curl.h"
#include "ql_limits.h"

#define T(x) (1u << QA_CHECK_##x)
#define ALL_TYPES 0xffffu
#define MAX_AGE_MAX (30u * 86400u) /* file-age: max_age up to 30 days */
#define MAX_LOAD 100000.0

static const char *const type_names[QA_CHECK__COUNT] = {
	[QA_CHECK_NONE] = "none",         [QA_CHECK_HTTP] = "http",
	[QA_CHECK_TCP] = "tcp",           [QA_CHECK_PROCESS] = "process",
	[QA_CHECK_FILE_AGE] = "file-age", [QA_CHECK_DISK_FREE] = "disk-free",
	[QA_CHECK_LOAD] = "load",         [QA_CHECK_EXEC] = "exec",
};

static const struct {
	const char *name;
	unsigned types;
} keys[] = {
	{"interval", ALL_TYPES},  {"timeout", ALL_TYPES},     {"rise", ALL_TYPES},
	{"fall", ALL_TYPES},      {"url", T(HTTP)},           {"expect", T(HTTP)},
	{"address", T(TCP)},      {"handle", T(PROCESS)},     {"path", T(FILE_AGE) | T(DISK_FREE)},
	{"max_age", T(FILE_AGE)}, {"min_free", T(DISK_FREE)}, {"max", T(LOAD)},
	{"argv", T(EXEC)},
};

const char *qa_check_type_name(enum qa_check_type t)
{
	return (unsigned)t < QA_CHECK__COUNT ? type_names[t] : "?";
}

const char *qa_check_state_name(enum qa_check_state s)
{
	switch (s) {
	case QA_CHECK_PASSING:
		return "passing";
	case QA_CHECK_FAILING:
		return "failing";
	case QA_CHECK_UNKNOWN:
		break;
	}
	return "unknown";
}

static bool set_string(char **field, const char *value, char *why, size_t whylen)
{
	char *copy = strdup(value);
	if (copy == NULL) {
		snprintf(why, whylen, "out of memory");
		return false;
	}
	free(*field);
	*field = copy;
	return true;
}

static bool parse_int(const char *value, int min, int max, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(value, &end, 10);
	if (value[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		return false;
	*out = (int)v;
	return true;
}

/* A plain decimal number ("8", "0.5"), no sign, no exponent, no "nan". */
static bool parse_number(const char *value, double min, double max, double *out)
{
	if (value[0] < '0' || value[0] > '9' || strspn(value, "0123456789.") != strlen(value))
		return false;
	char *end;
	double v = strtod(value, &end);
	if (*end != '\0' || !isfinite(v) || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* http:// or https://, and a URL libcurl can parse. */
static bool url_ok(const char *value, char *why, size_t whylen)
{
	bool ok = (strncmp(value, "http://", 7) == 0 || strncmp(value, "https://", 8) == 0) &&
	          strlen(value) <= QA_MAX_PATH && ql_text_ok(value, QA_MAX_PATH) &&
	          strpbrk(value, " \t\n") == NULL;
	if (!ok) {
		snprintf(why, whylen, "url must be an http:// or https:// URL");
		return false;
	}
	const struct qa_curl *cu = qa_curl(why, whylen); /* the first http check loads it */
	if (cu == NULL)
		return false;
	CURLU *u = cu->url();
	ok = u != NULL && cu->url_set(u, CURLUPART_URL, value, 0) == CURLUE_OK;
	cu->url_cleanup(u);
	if (!ok)
		snprintf(why, whylen, "url must be an http:// or https:// URL");
	return ok;
}

/* "127.0.0.1:6379" or "[::1]:6379": numeric, so that a check never waits on DNS. */
static bool parse_address(struct qa_check *c, const char *value, char *why, size_t whylen)
{
	char host[64];
	const char *colon = strrchr(value, ':');
	int port;
	bool v6 = value[0] == '[';
	size_t hlen = colon ? (size_t)(colon - value) : 0;
	bool ok = colon && hlen > 0 && hlen < sizeof host && parse_int(colon + 1, 1, 65535, &port);
	if (ok && v6) {
		ok = hlen > 2 && value[hlen - 1] == ']';
		hlen -= 2;
		memcpy(host, value + 1, hlen);
	} else if (ok) {
		memcpy(host, value, hlen);
	}
	if (ok) {
		host[hlen] = '\0';
		memset(&c->addr, 0, sizeof c->addr);
		struct sockaddr_in *a4 = (struct sockaddr_in *)&c->addr;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&c->addr;
		if (!v6 && inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			a4->sin_port = htons((uint16_t)port);
			c->addr_len = sizeof *a4;
		} else if (v6 && inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons((uint16_t)port);
			c->addr_len = sizeof *a6;
		} else {
			ok = false;
		}
	}
	if (!ok) {
		snprintf(why, whylen,
		         "address must be a numeric IPv4 or [IPv6] address and a port, like "
		         "127.0.0.1:6379 or [::1]:6379 (no host names: no DNS lookup)");
		return false;
	}
	return set_string(&c->address, value, why, whylen);
}

/* "10%" (of the filesystem) or "500M" (K, M, G, T: powers of 1024; none: bytes). */
static bool parse_min_free(struct qa_check *c, const char *value, char *why, size_t whylen)
{
	size_t n = strlen(value);
	char num[32];
	bool ok = n > 0 && n < sizeof num;
	if (ok && value[n - 1] == '%') {
		memcpy(num, value, n - 1);
		num[n - 1] = '\0';
		double pct = 0;
		ok = parse_number(num, 0, 100, &pct) && pct > 0 && pct < 100;
		c->min_free_pct = pct;
		c->min_free_bytes = 0;
	} else if (ok) {
		static const char units[] = "KMGT";
		const char *u = strchr(units, value[n - 1]);
		unsigned shift = 0;
		if (u && *u) {
			shift = 10u * (unsigned)(u - units + 1);
			n--;
		}
		memcpy(num, value, n);
		num[n] = '\0';
		char *end;
		errno = 0;
		unsigned long long v = strtoull(num, &end, 10);
		ok = n > 0 && num[0] >= '0' && num[0] <= '9' && *end == '\0' && errno == 0 &&
		     v > 0 && v <= (UINT64_MAX >> shift);
		c->min_free_bytes = (uint64_t)v << shift;
		c->min_free_pct = 0;
	}
	if (!ok)
		snprintf(why, whylen,
		         "min_free is a percentage of the filesystem (10%%) or a size (500M; K, M, "
		         "G, T)");
	return ok;
}

static bool set_path(struct qa_check *c, const char *value, char *why, size_t whylen)
{
	if (value[0] != '/' || strlen(value) > QA_MAX_PATH || !ql_text_ok(value, QA_MAX_PATH)) {
		snprintf(why, whylen, "path must be an absolute path");
		return false;
	}
	return set_string(&c->path, value, why, whylen);
}

static bool set_argv(struct qa_check *c, const char *value, char *why, size_t whylen)
{
	char sub[256];
	if (!qa_argv_parse(value, &c->argv, sub, sizeof sub)) {
		snprintf(why, whylen, "argv: %s", sub);
		return false;
	}
	/* Found out at start-up, not when the check first runs. */
	if (access(c->argv.argv[0], X_OK) != 0) {
		snprintf(why, whylen, "argv: %s: %s", c->argv.argv[0], strerror(errno));
		return false;
	}
	return true;
}

static bool set_duration(const char *key, const char *value, uint32_t max, uint32_t *out, char *why,
                         size_t whylen)
{
	if (ql_duration_parse(value, max, out))
		return true;
	char m[16];
	ql_duration_format(max, m, sizeof m);
	snprintf(why, whylen, "%s is a duration from 1s to %s, like 10s or 5m", key, m);
	return false;
}

static bool set_value(struct qa_check *c, const char *key, const char *value, char *why,
                      size_t whylen)
{
	if (strcmp(key, "interval") == 0)
		return set_duration(key, value, QA_CHECK_MAX_INTERVAL, &c->interval_s, why, whylen);
	if (strcmp(key, "timeout") == 0)
		return set_duration(key, value, QA_CHECK_MAX_INTERVAL, &c->timeout_s, why, whylen);
	if (strcmp(key, "rise") == 0 || strcmp(key, "fall") == 0) {
		if (parse_int(value, 1, QA_CHECK_MAX_STREAK, key[0] == 'r' ? &c->rise : &c->fall))
			return true;
		snprintf(why, whylen, "%s must be a whole number from 1 to %d", key,
		         QA_CHECK_MAX_STREAK);
		return false;
	}
	if (strcmp(key, "url") == 0)
		return url_ok(value, why, whylen) && set_string(&c->url, value, why, whylen);
	if (strcmp(key, "expect") == 0) {
		if (parse_int(value, 100, 599, &c->expect))
			return true;
		snprintf(why, whylen, "expect must be an HTTP status code from 100 to 599");
		return false;
	}
	if (strcmp(key, "address") == 0)
		return parse_address(c, value, why, whylen);
	if (strcmp(key, "handle") == 0) {
		if (ql_ident_ok(value, QL_MAX_HANDLE))
			return set_string(&c->handle, value, why, whylen);
		snprintf(why, whylen, "handle must name a [handle NAME] of this config");
		return false;
	}
	if (strcmp(key, "path") == 0)
		return set_path(c, value, why, whylen);
	if (strcmp(key, "max_age") == 0)
		return set_duration(key, value, MAX_AGE_MAX, &c->max_age_s, why, whylen);
	if (strcmp(key, "min_free") == 0)
		return parse_min_free(c, value, why, whylen);
	if (strcmp(key, "max") == 0) {
		if (parse_number(value, 0, MAX_LOAD, &c->max_load)) {
			c->has_max = true;
			return true;
		}
		snprintf(why, whylen, "max must be a load average like 8 or 8.5 (0 to %.0f)",
		         MAX_LOAD);
		return false;
	}
	return set_argv(c, value, why, whylen); /* "argv": the table let nothing else through */
}

bool qa_check_set(struct qa_check *c, const char *key, const char *value, char *why, size_t whylen)
{
	if (strcmp(key, "type") == 0) {
		if (c->type != QA_CHECK_NONE) {
			snprintf(why, whylen, "type is set twice");
			return false;
		}
		for (int t = 1; t < QA_CHECK__COUNT; t++)
			if (strcmp(value, type_names[t]) == 0)
				c->type = (enum qa_check_type)t;
		if (c->type == QA_CHECK_NONE) {
			snprintf(
				why, whylen,
				"unknown type '%s' (known: http, tcp, process, file-age, disk-free, "
				"load, exec)",
				value);
			return false;
		}
		return true;
	}
	if (c->type == QA_CHECK_NONE) {
		snprintf(why, whylen, "type must be the first key of a check");
		return false;
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(keys[i].name, key) != 0)
			continue;
		if (!(keys[i].types & (1u << c->type))) {
			snprintf(why, whylen, "a %s check takes no '%s'", type_names[c->type], key);
			return false;
		}
		return set_value(c, key, value, why, whylen);
	}
	snprintf(why, whylen, "unknown key '%s'", key);
	return false;
}

/* The process check's handle: declared, and able to find processes. */
static const char *handle_problem(const struct qa_check *c, const struct qa_config *cfg)
{
	const struct qa_handle *h = qa_config_handle(cfg, c->handle);
	if (h == NULL)
		return "names no [handle] of this config";
	if (!qa_handle_has_match(h))
		return "names a handle without a process match (match_exe, match_cmdline, "
		       "pidfile or cgroup)";
	return NULL;
}

bool qa_check_finish(struct qa_check *c, const struct qa_config *cfg, char *why, size_t whylen)
{
	if (c->interval_s == 0)
		c->interval_s = QA_CHECK_DEFAULT_INTERVAL;
	if (c->timeout_s == 0)
		c->timeout_s = c->interval_s < QA_CHECK_DEFAULT_TIMEOUT ? c->interval_s
		                                                        : QA_CHECK_DEFAULT_TIMEOUT;
	if (c->rise == 0)
		c->rise = QA_CHECK_DEFAULT_STREAK;
	if (c->fall == 0)
		c->fall = QA_CHECK_DEFAULT_STREAK;
	if (c->expect == 0)
		c->expect = 200;
	const char *need = NULL;
	switch (c->type) {
	case QA_CHECK_NONE:
	case QA_CHECK__COUNT:
		need = "type";
		break;
	case QA_CHECK_HTTP:
		need = c->url ? NULL : "url = http://...";
		break;
	case QA_CHECK_TCP:
		need = c->address ? NULL : "address = HOST:PORT";
		break;
	case QA_CHECK_PROCESS:
		need = c->handle ? NULL : "handle = NAME";
		break;
	case QA_CHECK_FILE_AGE:
		need = c->path && c->max_age_s ? NULL : "path = PATH and max_age = DURATION";
		break;
	case QA_CHECK_DISK_FREE:
		need = c->path && (c->min_free_pct > 0 || c->min_free_bytes > 0)
		               ? NULL
		               : "path = PATH and min_free = P% or SIZE";
		break;
	case QA_CHECK_LOAD:
		need = c->has_max ? NULL : "max = LOAD";
		break;
	case QA_CHECK_EXEC:
		need = c->argv.argv ? NULL : "argv = PROGRAM [ARGS...]";
		break;
	}
	if (need) {
		snprintf(why, whylen, "(%s) needs %s", type_names[c->type], need);
		return false;
	}
	if (c->timeout_s > c->interval_s) {
		snprintf(why, whylen, "timeout (%us) is longer than interval (%us)", c->timeout_s,
		         c->interval_s);
		return false;
	}
	const char *problem;
	if (c->type == QA_CHECK_PROCESS && (problem = handle_problem(c, cfg)) != NULL) {
		snprintf(why, whylen, "handle '%s' %s", c->handle, problem);
		return false;
	}
	struct stat st;
	if (c->type == QA_CHECK_DISK_FREE && stat(c->path, &st) != 0) {
		/* A mistyped path is found now; a missing file for file-age is a result. */
		snprintf(why, whylen, "path %s: %s", c->path, strerror(errno));
		return false;
	}
	return true;
}

void qa_check_fini(struct qa_check *c)
{
	free(c->name);
	free(c->url);
	free(c->address);
	free(c->handle);
	free(c->path);
	qa_argv_free(&c->argv);
}

/* ---- hysteresis ---- */

void qa_check_status_init(struct qa_check_status *s, int64_t now)
{
	memset(s, 0, sizeof *s);
	s->state = QA_CHECK_UNKNOWN;
	s->since = now;
	snprintf(s->detail, sizeof s->detail, "not run yet");
}

/* UNTRUSTED in part (a server's status line, a program's output): one printable line. */
static void one_line(char *dst, size_t len, const char *src)
{
	size_t o = 0;
	for (size_t i = 0; src[i] && o + 1 < len; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[o++] = ch < 0x20 || ch >= 0x7f ? (ch >= 0x80 ? '?' : ' ') : (char)ch;
	}
	dst[o] = '\0';
}

bool qa_check_record(struct qa_check_status *s, const struct qa_check *c, bool pass,
                     const char *detail, int64_t now)
{
	one_line(s->detail, sizeof s->detail, detail);
	s->runs++;
	if (s->streak > 0 && s->streak_pass == pass) {
		if (s->streak < UINT32_MAX)
			s->streak++;
	} else {
		s->streak = 1;
		s->streak_pass = pass;
	}
	enum qa_check_state want = pass ? QA_CHECK_PASSING : QA_CHECK_FAILING;
	unsigned need = (unsigned)(pass ? c->rise : c->fall);
	if (s->state == want || s->streak < need)
		return false;
	s->state = want;
	s->since = now;
	return true;
}
