/*
 * handles.h: what a [handle NAME] section may say. A handle is the host
 * administrator's definition of one thing an action may touch; commands
 * only ever name it. Each type allows a fixed set of keys and requires some:
 *
 *   type = maintenance  file                      (the file the web server checks)
 *   type = flags        file, format = json|kv    (the app's feature-flag file)
 *   type = process      match_exe | match_cmdline | pidfile | cgroup, [user],
 *                       [signal = TERM], [grace = 5]          (kill)
 *   type = worker       pause_file | (stop + start) | a match (SIGSTOP/SIGCONT
 *                       of the matched processes' groups)     (pause, resume)
 *   type = service      restart | (a match + start), [port]   (restart)
 *   type = release      dir, link, [reload]                   (rollback)
 *   type = instances    command (with {i} and/or {port}), port_base, [max = 16],
 *                       [stop_signal = TERM]                  (scale)
 *
 * and every type: [timeout = 30] seconds for the whole action, children
 * included. argv values are split on blanks; "double quotes" group words and
 * a backslash escapes the next character. No shell ever sees them.
 */
#ifndef QA_HANDLES_H
#define QA_HANDLES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum qa_handle_type {
	QA_HANDLE_NONE = 0,
	QA_HANDLE_MAINTENANCE,
	QA_HANDLE_FLAGS,
	QA_HANDLE_PROCESS,
	QA_HANDLE_WORKER,
	QA_HANDLE_SERVICE,
	QA_HANDLE_RELEASE,
	QA_HANDLE_INSTANCES,
	QA_HANDLE__COUNT
};

#define QA_MAX_ARGV 64
#define QA_MAX_PATH 1024

/* A NULL-terminated argv from the config; argv[0] is an absolute path. */
struct qa_argv {
	char **argv; /* NULL when not configured */
	size_t argc;
};

enum qa_flags_format { QA_FLAGS_JSON = 0, QA_FLAGS_KV };

struct qa_handle {
	char *name;
	enum qa_handle_type type;
	int timeout_s;

	char *file; /* maintenance, flags */
	enum qa_flags_format format;

	/* How to find processes (process, worker, service): any one of these. */
	char *match_exe;     /* /proc/PID/exe equals this path */
	char *match_cmdline; /* fnmatch() glob against the cmdline, words joined by spaces */
	char *pidfile;
	char *cgroup;  /* a cgroup v2 directory: its cgroup.procs */
	bool has_user; /* `user = NAME`: only processes running as this user match */
	uid_t uid;
	int signal;  /* kill: first signal (default SIGTERM) */
	int grace_s; /* kill: seconds before SIGKILL */

	char *pause_file; /* worker */
	struct qa_argv stop, start, restart, reload;
	int port; /* service: TCP port on 127.0.0.1 that must answer after a restart */

	char *dir, *link; /* release: releases directory and the `current` symlink */

	struct qa_argv command; /* instances: template with {i} and {port} */
	int port_base, max;
	int stop_signal;
};

const char *qa_handle_type_name(enum qa_handle_type t);
/* True if the handle says how to find processes. */
bool qa_handle_has_match(const struct qa_handle *h);

/*
 * Apply one key of a [handle] section. Returns false with a reason in why
 * ("grace must be a whole number of seconds from 0 to 600").
 */
bool qa_handle_set(struct qa_handle *h, const char *key, const char *value, char *why,
                   size_t whylen);
/* Whole-section checks once the file is read: type set, required keys present. */
bool qa_handle_finish(struct qa_handle *h, char *why, size_t whylen);
void qa_handle_fini(struct qa_handle *h);

/* Split an argv line (see above). Returns false with a reason. */
bool qa_argv_parse(const char *text, struct qa_argv *out, char *why, size_t whylen);
void qa_argv_free(struct qa_argv *a);

/* Signal by name ("TERM", "SIGTERM", "KILL", "HUP", "INT", "QUIT", "USR1", "USR2") or 0. */
int qa_signal_parse(const char *name);
const char *qa_signal_name(int sig);

#endif
