/*
 * cli.h: the operator CLI. One file per verb (verb-*.c), each exporting one
 * const struct qcli_verb; main.c holds the table. Shared plumbing: config
 * and key loading, talking to the coordinator, and output (client.c,
 * output.c).
 */
#ifndef QCLI_H
#define QCLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "ql_limits.h"
#include "quell.pb-c.h"

/* Exit statuses, part of the CLI's contract (README "Exit codes"). */
#define QCLI_EXIT_OK 0
#define QCLI_EXIT_NOT_OK 1
#define QCLI_EXIT_USAGE 2
#define QCLI_EXIT_UNREACHABLE 3

struct qcli_verb {
	const char *name;
	const char *usage;
	const char *summary;
	int (*exec)(int argc, char **argv);
};

/* Options every command verb shares. */
struct qcli_opts {
	const char *config;
	const char *target;
	const char *reason;
	const char *message;
	int timeout;
	bool json;
	bool dry_run;         /* -n/--dry-run: agents report what they would change */
	bool allow_message;   /* the verb takes --message */
	bool allow_kill_opts; /* the verb takes --signal and --grace (kill) */
	const char *signal, *grace;
	bool allow_file; /* the verb takes --file HANDLE (flag) */
	const char *file;
	bool allow_ttl;       /* the verb's action can be reverted: it takes --ttl */
	uint32_t ttl;         /* --ttl: seconds until the agents revert it (0: none) */
	const char *incident; /* --incident or $QUELL_INCIDENT; "" for none */
	/* Safe rollout: --canary N, --batch N|P%, --max-failures N|P% (0: unset). */
	uint32_t canary, batch, batch_pct, max_failures, max_failures_pct;
	bool has_max_failures;
};

/* A connection to the coordinator's control socket, signed as the operator. */
struct qcli_conn;

/*
 * Parse the shared options (getopt_long; positional arguments are left in
 * argv[optind..]). Returns -1 on success, else the exit status to use.
 */
int qcli_parse(int argc, char **argv, const char *usage, struct qcli_opts *o);
/* One option of a verb that only reads: a flag, or one that takes a value. */
struct qcli_opt {
	const char *name;   /* long name, e.g. "follow" */
	bool *flag;         /* set when given; or */
	const char **value; /* its argument */
};
/*
 * The options of a verb that only reads (job, jobs, mitigations, timeline,
 * audit, agents, health): --json, --config FILE, --help, and `own` (at most
 * 4, terminated by a NULL name; may be NULL). An own option "target" with a
 * value is also -t and must be a selector. Returns -1 on success
 * (positional arguments in argv[optind..]), else the exit status to use.
 */
int qcli_parse_read(int argc, char **argv, const char *usage, const struct qcli_opt *own,
                    bool *json, const char **config);
/* The agents matching target ("all": every one), sorted by hostname; NULL and
 * *exit_code after printing why. */
Quell__ControlReply *qcli_list_agents(const char *config, const char *target, int *exit_code);
/* Print "usage: quell USAGE" to stderr; returns QCLI_EXIT_USAGE. */
int qcli_usage(const char *usage);
/* Load the CLI config and key, dial. Returns NULL after printing why; *exit_code set. */
struct qcli_conn *qcli_connect(const char *config, int *exit_code);
void qcli_close(struct qcli_conn *c);
/* Send a signed control request, return the decoded reply (NULL + exit code on failure). */
Quell__ControlReply *qcli_call(struct qcli_conn *c, Quell__ControlRequest *req, int wait_ms,
                               int *exit_code);
/* Build, sign, submit a command, follow it to the end, print results. Returns exit code. */
int qcli_run(const struct qcli_opts *o, const char *action, const char *handle, Quell__Arg **args,
             size_t n_args);
/* A verb that takes exactly one HANDLE and no arguments (pause, resume, restart, rollback). */
#define QCLI_COMMON_USAGE " [-n] [-t SELECTOR] [--reason TEXT] ..."
int qcli_handle_verb(int argc, char **argv, const char *action, const char *usage);

/* output.c */
struct cJSON;
/* Print root (pretty) and free it. */
void qcli_print_json(struct cJSON *root);
/* "42s", "5m", "3h", "2d": a span of seconds, rounded down (negative: 0s). */
void qcli_span(int64_t secs, char *buf, size_t len);
struct qcli_host {
	char *host, *status, *reason, *detail;
};
/* What was asked, for the summary line and the JSON object. */
struct qcli_job {
	char hex[2 * QL_JOB_ID_LEN + 1];
	char action[QL_MAX_ACTION + 1], handle[QL_MAX_HANDLE + 1], target[QL_MAX_SELECTOR + 1];
	char what[160]; /* "maintenance site mode=on": action, handle, short arguments */
	bool dry_run;   /* -n: agents only described what they would change */
	/* quell job: reattached to a job this CLI did not submit; described by the coordinator */
	bool reattached;
	char operator_name[QL_MAX_NAME + 1];
	char state[16];                  /* running, done, unfinished */
	int64_t created_ms, finished_ms; /* unix ms; finished 0 while running */
	size_t in_progress;              /* hosts without a final status yet */
};
/*
 * Watch job id from its first result: with follow, until it is done (a live
 * progress line on a terminal), else only what the coordinator knows now;
 * then print the results. A reattached job (empty job->action) is described
 * from the coordinator's reply. start_mono: when the CLI submitted it.
 * Returns the exit code: 0 only if the job is done and every host ok.
 */
int qcli_follow(struct qcli_conn *c, const uint8_t id[QL_JOB_ID_LEN], struct qcli_job *job,
                bool follow, bool json, int64_t start_mono);
void qcli_print_results(const struct qcli_job *job, struct qcli_host *hosts, size_t n, bool json,
                        double seconds);
void qcli_progress(const char *hex, size_t n_done, size_t n_total, const struct qcli_host *hosts,
                   double secs);

extern const struct qcli_verb qcli_verb_keygen, qcli_verb_agents, qcli_verb_ping,
	qcli_verb_maintenance;
extern const struct qcli_verb qcli_verb_kill, qcli_verb_pause, qcli_verb_resume, qcli_verb_restart,
	qcli_verb_flag, qcli_verb_rollback, qcli_verb_scale;
extern const struct qcli_verb qcli_verb_job, qcli_verb_jobs;
extern const struct qcli_verb qcli_verb_mitigations, qcli_verb_undo, qcli_verb_extend;
extern const struct qcli_verb qcli_verb_timeline, qcli_verb_audit, qcli_verb_automation;
extern const struct qcli_verb qcli_verb_health;

/* verb-health.c: an agent's checks in one line ("web:failing(2m) disk:passing", "-": none). */
void qcli_checks_text(const Quell__AgentInfo *a, int64_t now, char *buf, size_t len);
/* The agent's checks as a JSON array ([{"name", "state", "since", "detail"}, ...]). */
struct cJSON *qcli_checks_json(const Quell__AgentInfo *a);

#endif
