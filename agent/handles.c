/*
 * handles.c: parsing and checking [handle NAME] sections (see handles.h).
 *
 * One table says, for every key, what kind of value it takes, where it is
 * stored and which handle types allow it; per-type rules say what is
 * required. A key a type does not use is an error, not silently ignored:
 * a typo in an incident-time config must be caught at start-up.
 */
#include <errno.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "handles.h"

#define T(x) (1u << QA_HANDLE_##x)
#define MATCHERS (T(PROCESS) | T(WORKER) | T(SERVICE))
#define ALL_TYPES 0xffffu

enum kind { K_PATH, K_GLOB, K_ARGV, K_INT, K_SIGNAL, K_FORMAT, K_USER };

struct key {
	const char *name;
	enum kind kind;
	size_t offset;
	unsigned types;
	int min, max; /* K_INT */
	/* K_PATH: what must exist at start-up (a mistyped path is found at deploy
	 * time, not mid-incident). Files the agent creates need their directory;
	 * pidfiles, cgroups and binaries of services that may not run yet, nothing. */
	enum { EXISTS_NOTHING, EXISTS_PARENT, EXISTS_DIR } must_exist;
};

#define F(field) offsetof(struct qa_handle, field)

static const struct key keys[] = {
	{"timeout", K_INT, F(timeout_s), ALL_TYPES, 1, 3600, EXISTS_NOTHING},
	{"file", K_PATH, F(file), T(MAINTENANCE) | T(FLAGS), 0, 0, EXISTS_PARENT},
	{"format", K_FORMAT, F(format), T(FLAGS), 0, 0, EXISTS_NOTHING},
	{"match_exe", K_PATH, F(match_exe), MATCHERS, 0, 0, EXISTS_NOTHING},
	{"match_cmdline", K_GLOB, F(match_cmdline), MATCHERS, 0, 0, EXISTS_NOTHING},
	{"pidfile", K_PATH, F(pidfile), MATCHERS, 0, 0, EXISTS_NOTHING},
	{"user", K_USER, F(uid), MATCHERS, 0, 0, EXISTS_NOTHING},
	{"cgroup", K_PATH, F(cgroup), MATCHERS, 0, 0, EXISTS_NOTHING},
	{"signal", K_SIGNAL, F(signal), T(PROCESS), 0, 0, EXISTS_NOTHING},
	{"grace", K_INT, F(grace_s), T(PROCESS) | T(SERVICE), 0, 600, EXISTS_NOTHING},
	{"pause_file", K_PATH, F(pause_file), T(WORKER), 0, 0, EXISTS_PARENT},
	{"stop", K_ARGV, F(stop), T(WORKER), 0, 0, EXISTS_NOTHING},
	{"start", K_ARGV, F(start), T(WORKER) | T(SERVICE), 0, 0, EXISTS_NOTHING},
	{"restart", K_ARGV, F(restart), T(SERVICE), 0, 0, EXISTS_NOTHING},
	{"port", K_INT, F(port), T(SERVICE), 1, 65535, EXISTS_NOTHING},
	{"dir", K_PATH, F(dir), T(RELEASE), 0, 0, EXISTS_DIR},
	{"link", K_PATH, F(link), T(RELEASE), 0, 0, EXISTS_PARENT},
	{"reload", K_ARGV, F(reload), T(RELEASE), 0, 0, EXISTS_NOTHING},
	{"command", K_ARGV, F(command), T(INSTANCES), 0, 0, EXISTS_NOTHING},
	{"port_base", K_INT, F(port_base), T(INSTANCES), 1024, 65000, EXISTS_NOTHING},
	{"max", K_INT, F(max), T(INSTANCES), 1, 64, EXISTS_NOTHING},
	{"stop_signal", K_SIGNAL, F(stop_signal), T(INSTANCES), 0, 0, EXISTS_NOTHING},
};

static const char *const type_names[QA_HANDLE__COUNT] = {
	[QA_HANDLE_NONE] = "none",       [QA_HANDLE_MAINTENANCE] = "maintenance",
	[QA_HANDLE_FLAGS] = "flags",     [QA_HANDLE_PROCESS] = "process",
	[QA_HANDLE_WORKER] = "worker",   [QA_HANDLE_SERVICE] = "service",
	[QA_HANDLE_RELEASE] = "release", [QA_HANDLE_INSTANCES] = "instances",
};

const char *qa_handle_type_name(enum qa_handle_type t)
{
	return (unsigned)t < QA_HANDLE__COUNT ? type_names[t] : "?";
}

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{"TERM", SIGTERM}, {"KILL", SIGKILL}, {"HUP", SIGHUP},   {"INT", SIGINT},
	{"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
};

int qa_signal_parse(const char *name)
{
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
		if (strcmp(signals[i].name, name) == 0)
			return signals[i].sig;
	return 0;
}

const char *qa_signal_name(int sig)
{
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
		if (signals[i].sig == sig)
			return signals[i].name;
	return "?";
}

void qa_argv_free(struct qa_argv *a)
{
	for (size_t i = 0; a->argv && i < a->argc; i++)
		free(a->argv[i]);
	free(a->argv);
	a->argv = NULL;
	a->argc = 0;
}

bool qa_argv_parse(const char *text, struct qa_argv *out, char *why, size_t whylen)
{
	char **argv = calloc(QA_MAX_ARGV + 1, sizeof *argv);
	char *word = malloc(strlen(text) + 1);
	size_t argc = 0;
	const char *p = text;
	if (argv == NULL || word == NULL) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		size_t n = 0;
		bool quoted = false;
		while (*p && (quoted || (*p != ' ' && *p != '\t'))) {
			if (*p == '"') {
				quoted = !quoted;
				p++;
			} else if (*p == '\\' && p[1]) {
				word[n++] = p[1];
				p += 2;
			} else {
				word[n++] = *p++;
			}
		}
		if (quoted) {
			snprintf(why, whylen, "unterminated \" in '%s'", text);
			goto fail;
		}
		if (argc == QA_MAX_ARGV) {
			snprintf(why, whylen, "more than %d words", QA_MAX_ARGV);
			goto fail;
		}
		word[n] = '\0';
		if ((argv[argc] = strdup(word)) == NULL) {
			snprintf(why, whylen, "out of memory");
			goto fail;
		}
		argc++;
	}
	if (argc == 0 || argv[0][0] != '/') {
		snprintf(why, whylen, "must start with the absolute path of a program (no shell)");
		goto fail;
	}
	free(word);
	qa_argv_free(out);
	out->argv = argv;
	out->argc = argc;
	return true;
fail:
	free(word);
	struct qa_argv tmp = {argv, argc};
	qa_argv_free(&tmp);
	return false;
}

static bool where_ok(const struct key *k, const char *value, char *why, size_t whylen)
{
	char copy[QA_MAX_PATH + 1];
	snprintf(copy, sizeof copy, "%s", value);
	const char *dir = k->must_exist == EXISTS_DIR ? copy : dirname(copy);
	struct stat st;
	int rc = stat(dir, &st);
	if (rc != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "%s: directory %s: %s", k->name, dir,
		         rc != 0 ? strerror(errno) : "not a directory");
		return false;
	}
	return true;
}

static bool set_value(struct qa_handle *h, const struct key *k, const char *value, char *why,
                      size_t whylen)
{
	void *field = (char *)h + k->offset;
	switch (k->kind) {
	case K_PATH:
	case K_GLOB: {
		if (k->kind == K_PATH && (value[0] != '/' || strlen(value) > QA_MAX_PATH)) {
			snprintf(why, whylen, "%s must be an absolute path", k->name);
			return false;
		}
		if (!ql_text_ok(value, QA_MAX_PATH) || value[0] == '\0') {
			snprintf(why, whylen, "%s must be printable text", k->name);
			return false;
		}
		if (k->must_exist && !where_ok(k, value, why, whylen))
			return false;
		char *copy = strdup(value);
		if (copy == NULL) {
			snprintf(why, whylen, "out of memory");
			return false;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return true;
	}
	case K_ARGV: {
		char sub[256];
		if (!qa_argv_parse(value, field, sub, sizeof sub)) {
			snprintf(why, whylen, "%s: %s", k->name, sub);
			return false;
		}
		/* Found out now, not at 3 a.m. when the action is needed. */
		const char *prog = ((struct qa_argv *)field)->argv[0];
		if (access(prog, X_OK) != 0) {
			snprintf(why, whylen, "%s: %s: %s", k->name, prog, strerror(errno));
			return false;
		}
		return true;
	}
	case K_INT: {
		char *end;
		long v = strtol(value, &end, 10);
		if (value[0] == '\0' || *end != '\0' || v < k->min || v > k->max) {
			snprintf(why, whylen, "%s must be a whole number from %d to %d", k->name,
			         k->min, k->max);
			return false;
		}
		*(int *)field = (int)v;
		return true;
	}
	case K_SIGNAL: {
		int sig = qa_signal_parse(value);
		if (sig == 0) {
			snprintf(why, whylen,
			         "%s must be one of TERM, KILL, HUP, INT, QUIT, USR1, USR2",
			         k->name);
			return false;
		}
		*(int *)field = sig;
		return true;
	}
	case K_USER: {
		struct passwd *pw = getpwnam(value);
		if (pw == NULL) {
			snprintf(why, whylen, "user: no user named '%s' on this host", value);
			return false;
		}
		h->uid = pw->pw_uid;
		h->has_user = true;
		return true;
	}
	case K_FORMAT:
		if (strcmp(value, "json") == 0)
			h->format = QA_FLAGS_JSON;
		else if (strcmp(value, "kv") == 0)
			h->format = QA_FLAGS_KV;
		else {
			snprintf(why, whylen, "format must be 'json' or 'kv'");
			return false;
		}
		return true;
	}
	return false;
}

bool qa_handle_set(struct qa_handle *h, const char *key, const char *value, char *why,
                   size_t whylen)
{
	if (strcmp(key, "type") == 0) {
		if (h->type != QA_HANDLE_NONE) {
			snprintf(why, whylen, "type is set twice");
			return false;
		}
		for (int t = 1; t < QA_HANDLE__COUNT; t++)
			if (strcmp(value, type_names[t]) == 0)
				h->type = (enum qa_handle_type)t;
		if (h->type == QA_HANDLE_NONE) {
			snprintf(why, whylen,
			         "unknown type '%s' (known: maintenance, flags, process, worker, "
			         "service, release, instances)",
			         value);
			return false;
		}
		return true;
	}
	if (h->type == QA_HANDLE_NONE) {
		snprintf(why, whylen, "type must be the first key of a handle");
		return false;
	}
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(keys[i].name, key) != 0)
			continue;
		if (!(keys[i].types & (1u << h->type))) {
			snprintf(why, whylen, "a %s handle takes no '%s'", type_names[h->type],
			         key);
			return false;
		}
		return set_value(h, &keys[i], value, why, whylen);
	}
	snprintf(why, whylen, "unknown key '%s'", key);
	return false;
}

bool qa_handle_has_match(const struct qa_handle *h)
{
	return h->match_exe || h->match_cmdline || h->pidfile || h->cgroup;
}

static int n_matchers(const struct qa_handle *h)
{
	return !!h->match_exe + !!h->match_cmdline + !!h->pidfile + !!h->cgroup;
}

/* The template must use {i} or {port} so instances differ, and nothing else in braces. */
static bool template_ok(const struct qa_argv *a, char *why, size_t whylen)
{
	bool varies = false;
	for (size_t i = 0; i < a->argc; i++) {
		for (const char *p = strchr(a->argv[i], '{'); p; p = strchr(p + 1, '{')) {
			if (strncmp(p, "{i}", 3) == 0 || strncmp(p, "{port}", 6) == 0) {
				varies = true;
			} else {
				snprintf(why, whylen, "command: only {i} and {port} may be used");
				return false;
			}
		}
	}
	if (!varies)
		snprintf(why, whylen, "command must use {i} or {port} so instances differ");
	return varies;
}

bool qa_handle_finish(struct qa_handle *h, char *why, size_t whylen)
{
	if (h->grace_s < 0 && h->type != QA_HANDLE_PROCESS && h->type != QA_HANDLE_SERVICE)
		h->grace_s = 0;
	if (h->timeout_s == 0)
		h->timeout_s = 30;
	if (n_matchers(h) > 1) {
		snprintf(why, whylen, "use only one of match_exe, match_cmdline, pidfile, cgroup");
		return false;
	}
	const char *need = NULL;
	switch (h->type) {
	case QA_HANDLE_NONE:
	case QA_HANDLE__COUNT:
		need = "type";
		break;
	case QA_HANDLE_MAINTENANCE:
	case QA_HANDLE_FLAGS:
		need = h->file ? NULL : "file = PATH";
		break;
	case QA_HANDLE_PROCESS:
		need = qa_handle_has_match(h) ? NULL
		                              : "one of match_exe, match_cmdline, pidfile, cgroup";
		if (h->signal == 0)
			h->signal = SIGTERM;
		if (h->grace_s < 0)
			h->grace_s = 5;
		break;
	case QA_HANDLE_WORKER: {
		int ways =
			!!h->pause_file + (h->stop.argv || h->start.argv) + qa_handle_has_match(h);
		if (ways != 1)
			need = "exactly one of: pause_file, stop + start, or a process match";
		else if ((h->stop.argv != NULL) != (h->start.argv != NULL))
			need = "both stop and start";
		break;
	}
	case QA_HANDLE_SERVICE:
		if (h->restart.argv && (qa_handle_has_match(h) || h->start.argv))
			need = "either restart, or a process match + start, not both";
		else if (!h->restart.argv && !(qa_handle_has_match(h) && h->start.argv))
			need = "restart = ARGV, or a process match + start = ARGV";
		if (h->grace_s < 0)
			h->grace_s = 5;
		break;
	case QA_HANDLE_RELEASE:
		need = h->dir && h->link ? NULL : "dir = PATH and link = PATH";
		break;
	case QA_HANDLE_INSTANCES:
		if (!h->command.argv || h->port_base == 0)
			need = "command = ARGV and port_base = PORT";
		else if (!template_ok(&h->command, why, whylen))
			return false;
		if (h->max == 0)
			h->max = 16;
		if (h->stop_signal == 0)
			h->stop_signal = SIGTERM;
		break;
	}
	if (need) {
		snprintf(why, whylen, "(%s) needs %s", type_names[h->type], need);
		return false;
	}
	return true;
}

void qa_handle_fini(struct qa_handle *h)
{
	free(h->name);
	free(h->file);
	free(h->match_exe);
	free(h->match_cmdline);
	free(h->pidfile);
	free(h->cgroup);
	free(h->pause_file);
	free(h->dir);
	free(h->link);
	qa_argv_free(&h->stop);
	qa_argv_free(&h->start);
	qa_argv_free(&h->restart);
	qa_argv_free(&h->reload);
	qa_argv_free(&h->command);
}
