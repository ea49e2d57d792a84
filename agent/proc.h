/*
 * proc.h: everything the agent does to processes, in one place: start a
 * child from a config argv, wait for it until a deadline, find processes by
 * a handle's matcher, signal them without hitting a recycled pid, and probe
 * a loopback TCP port.
 *
 * The agent owns every child it spawns: children that someone waits for are
 * kept in a registry, so qa_proc_reap() (called about once a second from the
 * executor thread) never throws away an exit status another path is waiting
 * for, and children nobody waits for (long-running instances) are reaped and
 * forgotten. No zombie accumulates.
 *
 * Nothing read from /proc is trusted: buffers are bounded and a process
 * that exits while we look at it is normal, not an error.
 */
#ifndef QA_PROC_H
#define QA_PROC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "handles.h"
#include "ql.h"

#define QA_PROC_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define QA_PROC_STDERR_MAX 512 /* bytes of a child's stderr kept for the detail line */
#define QA_PROC_MAX_MATCHES 256
#define QA_PROC_CMDLINE_MAX 4096

/* ---- argv templates ---- */

/*
 * Copy `tmpl` with "{i}" replaced by `index` and "{port}" by `port` (both
 * numbers; negative: that placeholder may not appear). Any other "{...}" is
 * refused. Free the copy with qa_argv_expanded_free().
 */
QL_NODISCARD enum ql_err qa_argv_expand(const struct qa_argv *tmpl, int index, int port,
                                        char ***out, char *detail, size_t detail_len);
void qa_argv_expanded_free(char **argv);

/* ---- children ---- */

enum {
	QA_SPAWN_SETSID = 1u << 0,  /* own session (survives the agent); else own process group */
	QA_SPAWN_CAPTURE = 1u << 1, /* keep the first bytes of stderr (and stdout) */
	QA_SPAWN_DETACH = 1u << 2,  /* nobody will wait: qa_proc_reap() forgets it when it exits */
};

struct qa_child {
	pid_t pid;
	int out_fd; /* capture (a sealed memfd), or -1 */
	bool waited;
};

/*
 * posix_spawn argv[0] (an absolute path) with argv, stdin from /dev/null,
 * stdout and stderr to /dev/null or captured, no inherited descriptors,
 * default signal dispositions, an empty signal mask and the fixed PATH as
 * its whole environment.
 */
QL_NODISCARD enum ql_err qa_proc_spawn(char *const argv[], unsigned flags, struct qa_child *c,
                                       char *detail, size_t detail_len);
/*
 * Wait for a (not detached) child until deadline_ms. On time-out, SIGKILL
 * its whole process group, reap it and return QL_ERR_TIMEOUT. *status is a
 * waitpid() status.
 */
/*
 * As qa_proc_spawn with QA_SPAWN_CAPTURE, but the output goes to log_path
 * (created or truncated, 0600), with no size limit: for children that
 * outlive their action (instances), which must never get a write error
 * once the small capture is full. qa_proc_output() reads its start.
 */
QL_NODISCARD enum ql_err qa_proc_spawn_logged(char *const argv[], unsigned flags,
                                              const char *log_path, struct qa_child *c,
                                              char *detail, size_t detail_len);
QL_NODISCARD enum ql_err qa_proc_wait(struct qa_child *c, int64_t deadline_ms, int *status);
/* Up to len-1 bytes of what the child wrote so far, one line, printable. */
void qa_proc_output(const struct qa_child *c, char *buf, size_t len);
/* Release the capture; forget a child nobody waited for (it is reaped later). */
void qa_child_fini(struct qa_child *c);
/*
 * Run argv to completion by deadline_ms (own session, output captured).
 * QL_OK if it exits 0; else QL_ERR_ACTION_FAILED or QL_ERR_TIMEOUT with
 * "NAME exited 3: <first line of its output>" in detail.
 */
QL_NODISCARD enum ql_err qa_proc_run(char *const argv[], int64_t deadline_ms, char *detail,
                                     size_t detail_len);
/* As qa_proc_run, and also killed (QL_ERR_TIMEOUT) as soon as *stop is true. */
QL_NODISCARD enum ql_err qa_proc_run_stoppable(char *const argv[], int64_t deadline_ms,
                                               const atomic_bool *stop, char *detail,
                                               size_t detail_len);
/* Reap every exited child; keep the status of those someone waits for. */
void qa_proc_reap(void);

/* ---- finding processes ---- */

struct qa_proc {
	pid_t pid, ppid, pgid, sid;
	unsigned long long starttime; /* field 22 of /proc/PID/stat: detects pid reuse */
	char state;                   /* R, S, D, T, t, Z, ... */
};

/* Read /proc/PID/stat. false if the process is gone (or unreadable). */
bool qa_proc_stat(pid_t pid, struct qa_proc *p);
/* The same process (pid and start time) still exists and is not a zombie. */
bool qa_proc_alive(const struct qa_proc *p);

enum { QA_FIND_GROUPS = 1u << 0 }; /* the caller will signal process groups */

struct qa_matches {
	struct qa_proc p[QA_PROC_MAX_MATCHES];
	size_t n;
};

/*
 * The processes the handle's matcher (match_exe, match_cmdline, pidfile or
 * cgroup) finds, kernel threads left out. If it would find pid 1, the agent
 * or the agent's parent (and with QA_FIND_GROUPS, anything in the agent's
 * own process group or session), nothing is returned: QL_ERR_DENIED with the
 * reason. More than QA_PROC_MAX_MATCHES: QL_ERR_DENIED too (the matcher is
 * too broad to act on). A missing pidfile or cgroup is "no match".
 */
QL_NODISCARD enum ql_err qa_proc_find(const struct qa_handle *h, unsigned flags,
                                      struct qa_matches *m, char *detail, size_t detail_len);
/*
 * Signal the process only if it is still the one we found (pid and start
 * time; a pidfd closes the race). Returns 0, or an errno (ESRCH: gone).
 */
int qa_proc_signal(const struct qa_proc *p, int sig);
/* kill(-pgid, sig), refusing groups 0, 1 and the agent's own. Returns 0 or an errno. */
int qa_proc_signal_group(pid_t pgid, int sig);
/*
 * Poll until none of the n processes is alive or deadline_ms passes; returns
 * how many are still alive. gone[i] is set for those that went away.
 */
size_t qa_proc_wait_gone(const struct qa_proc *p, size_t n, bool *gone, int64_t deadline_ms);

/* What happened to one process in qa_proc_terminate(). */
struct qa_stop {
	int err;     /* errno of the first signal (0: sent, ESRCH: already gone) */
	bool killed; /* it needed SIGKILL */
	bool alive;  /* still there at the end */
};

/*
 * Send sig to each process; wait until all are gone or grace_ms passes;
 * SIGKILL the survivors and wait again; all by deadline_ms (the grace is cut
 * short to leave SIGKILL its last second). Returns how many are still alive.
 * *kill_after_ms: how long after the first signal SIGKILL went out.
 */
size_t qa_proc_terminate(const struct qa_proc *p, size_t n, int sig, int grace_ms,
                         int64_t deadline_ms, struct qa_stop *r, int64_t *kill_after_ms);
/* "4242 (TERM), 4243 (KILL after 2s), 4244 (already gone)" appended to buf. */
void qa_proc_describe_stop(const struct qa_proc *p, size_t n, int sig, const struct qa_stop *r,
                           int64_t kill_after_ms, char *buf, size_t len);

/* printf-append to a detail line; a line that does not fit ends in "...". */
void qa_detail_append(char *buf, size_t len, const char *fmt, ...) QL_PRINTF(3, 4);

/* ---- readiness ---- */

/* A TCP connect to 127.0.0.1:port succeeds now. */
bool qa_port_answers(int port);
/* Poll qa_port_answers() until deadline_ms. */
bool qa_port_wait(int port, int64_t deadline_ms);

/* Sleep ms milliseconds (at most until deadline_ms). */
void qa_sleep_until(int64_t deadline_ms, int ms);

#endif
