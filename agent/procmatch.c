/*
 * procmatch.c: finding and signalling processes (see proc.h).
 *
 * /proc is read with bounded buffers and nothing in it is trusted: a
 * process may vanish between readdir() and open(), which just means it is
 * not a match; a command name may contain ") 1 2", so /proc/PID/stat is
 * parsed after its LAST ')'. The start time (field 22 of stat) tells a
 * process from a later one that got the same pid, and signals go through a
 * pidfd opened before that check, so a recycled pid is never hit.
 *
 * The safety refusals live here, in one place, for every action: a matcher
 * that would hit pid 1, the agent or its parent (or, for group signals, the
 * agent's own group or session) finds nothing and says why.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proc.h"

#define POLL_MS 20
#define PF_KTHREAD 0x00200000UL /* linux/sched.h */
#define PID_MAX 4194304         /* PID_MAX_LIMIT on 64-bit */

/*
 * Read a small regular file into buf (NUL-terminated); -1 with errno on
 * failure. Never blocks: a FIFO planted where a pidfile was expected is
 * refused (EINVAL), not waited on. With `whole`, a file that does not fit
 * is an error (EFBIG), so a cut-off last line is never read as a shorter
 * pid. `owner` (may be NULL) gets the file's owner.
 */
static ssize_t read_file_small(const char *path, char *buf, size_t size, bool whole, uid_t *owner)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (owner)
		*owner = st.st_uid;
	size_t n = 0;
	for (;;) {
		char extra;
		bool full = n == size - 1;
		ssize_t r = full ? read(fd, &extra, 1) : read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		if (full) {
			if (whole) {
				close(fd);
				errno = EFBIG;
				return -1;
			}
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

static ssize_t read_small(const char *path, char *buf, size_t size)
{
	return read_file_small(path, buf, size, false, NULL);
}

/* The fields of /proc/PID/stat after "pid (comm) ": state is field 3. */
static bool parse_stat(const char *text, struct qa_proc *p, unsigned long *flags)
{
	const char *s = strrchr(text, ')');
	if (s == NULL || s[1] != ' ' || s[2] == '\0')
		return false;
	s += 2;
	p->state = *s++;
	unsigned long long v[23] = {0};
	for (int field = 4; field <= 22; field++) {
		char *end;
		errno = 0;
		/* strtoull: counters may exceed LLONG_MAX, and "-1" (tpgid) wraps harmlessly. */
		v[field] = strtoull(s, &end, 10);
		if (end == s || errno != 0)
			return false;
		s = end;
	}
	p->ppid = (pid_t)v[4];
	p->pgid = (pid_t)v[5];
	p->sid = (pid_t)v[6];
	*flags = (unsigned long)v[9];
	p->starttime = v[22];
	return true;
}

static bool stat_flags(pid_t pid, struct qa_proc *p, unsigned long *flags)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	/* UNTRUSTED: the command name inside may hold anything, even ") 1 2". */
	if (read_small(path, buf, sizeof buf) <= 0)
		return false;
	*p = (struct qa_proc){.pid = pid};
	return parse_stat(buf, p, flags);
}

bool qa_proc_stat(pid_t pid, struct qa_proc *p)
{
	unsigned long flags;
	return pid > 0 && stat_flags(pid, p, &flags);
}

bool qa_proc_alive(const struct qa_proc *p)
{
	struct qa_proc now;
	if (!qa_proc_stat(p->pid, &now) || now.starttime != p->starttime)
		return false;
	if (now.state == 'Z' || now.state == 'X') {
		qa_proc_reap(); /* if it is our child, do not leave the zombie */
		return false;
	}
	return true;
}

static bool cmdline_matches(pid_t pid, const char *glob)
{
	char path[64], buf[QA_PROC_CMDLINE_MAX + 1];
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	ssize_t n = read_small(path, buf, sizeof buf);
	if (n <= 0)
		return false; /* gone, a kernel thread, or a zombie */
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	return fnmatch(glob, buf, 0) == 0;
}

static bool exe_matches(pid_t pid, const char *want)
{
	char path[64], buf[QA_MAX_PATH + 32];
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(path, buf, sizeof buf - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	size_t wl = strlen(want);
	/* A binary replaced by an upgrade still runs as "PATH (deleted)". */
	return strncmp(buf, want, wl) == 0 &&
	       (buf[wl] == '\0' || strcmp(buf + wl, " (deleted)") == 0);
}

/* Add one candidate pid, or say why the whole match is refused. */
/* The user a process runs as (the owner of /proc/PID), or -1 if it is gone. */
static uid_t proc_uid(pid_t pid)
{
	char path[32];
	struct stat st;
	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	return stat(path, &st) == 0 ? st.st_uid : (uid_t)-1;
}

static enum ql_err consider(const struct qa_handle *h, pid_t pid, unsigned flags,
                            struct qa_matches *m, char *detail, size_t detail_len)
{
	struct qa_proc p;
	unsigned long pf;
	if (pid <= 0 || !stat_flags(pid, &p, &pf) || (pf & PF_KTHREAD) || p.state == 'Z' ||
	    p.state == 'X')
		return QL_OK; /* gone by now, a kernel thread or already dead: not a match */
	if (h->has_user && proc_uid(pid) != h->uid)
		return QL_OK; /* `user =`: another user's process never matches */
	const char *who = NULL;
	if (pid == 1)
		who = "init";
	else if (pid == getpid())
		who = "the agent itself";
	else if (pid == getppid())
		who = "the agent's parent";
	else if ((flags & QA_FIND_GROUPS) && (p.pgid <= 1 || p.pgid == getpgrp()))
		who = "a process in the agent's (or init's) process group";
	else if ((flags & QA_FIND_GROUPS) && p.sid == getsid(0))
		who = "a process in the agent's own session";
	if (who) {
		snprintf(
			detail, detail_len,
			"refused: the handle's matcher would hit %s (pid %d); nothing was signalled. "
			"Fix the handle's matcher in the agent config",
			who, (int)pid);
		return QL_ERR_DENIED;
	}
	for (size_t i = 0; i < m->n; i++)
		if (m->p[i].pid == pid)
			return QL_OK;
	if (m->n == QA_PROC_MAX_MATCHES) {
		snprintf(detail, detail_len,
		         "refused: the handle's matcher finds more than %d processes; nothing was "
		         "signalled",
		         QA_PROC_MAX_MATCHES);
		return QL_ERR_DENIED;
	}
	m->p[m->n++] = p;
	return QL_OK;
}

/* UNTRUSTED text holding one decimal pid (a pidfile, a line of cgroup.procs). */
static pid_t parse_pid(const char *s, const char **rest)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || errno != 0 || v <= 0 || v > PID_MAX || (*s < '0' || *s > '9'))
		return 0;
	*rest = end;
	return (pid_t)v;
}

static enum ql_err find_pidfile(const struct qa_handle *h, unsigned flags, struct qa_matches *m,
                                char *detail, size_t detail_len)
{
	char buf[64];
	uid_t owner = 0;
	ssize_t n = read_file_small(h->pidfile, buf, sizeof buf, true, &owner);
	if (n < 0 && errno == ENOENT)
		return QL_OK; /* no pidfile: nothing running */
	if (n < 0) {
		snprintf(detail, detail_len, "read %s: %s", h->pidfile,
		         errno == EINVAL ? "not a regular file" : strerror(errno));
		return QL_ERR_ACTION_FAILED;
	}
	const char *rest = buf;
	pid_t pid = parse_pid(buf, &rest);
	while (pid && (*rest == ' ' || *rest == '\t' || *rest == '\n' || *rest == '\r'))
		rest++;
	if (pid == 0 || *rest != '\0') {
		snprintf(detail, detail_len, "%s does not hold a process id", h->pidfile);
		return QL_ERR_ACTION_FAILED;
	}
	/*
	 * Whoever can write the pidfile chooses the process: a pidfile not
	 * owned by root may only name its owner's processes (systemd's rule),
	 * or a compromised service could aim root's signals at sshd.
	 */
	char proc[32];
	struct stat pst;
	snprintf(proc, sizeof proc, "/proc/%d", (int)pid);
	if (owner != 0 && stat(proc, &pst) == 0 && pst.st_uid != owner) {
		snprintf(detail, detail_len,
		         "%s (owned by uid %u) names pid %d, which runs as uid %u: a pidfile may "
		         "only name its owner's processes; nothing was signalled",
		         h->pidfile, (unsigned)owner, (int)pid, (unsigned)pst.st_uid);
		return QL_ERR_DENIED;
	}
	return consider(h, pid, flags, m, detail, detail_len);
}

static enum ql_err find_cgroup(const struct qa_handle *h, unsigned flags, struct qa_matches *m,
                               char *detail, size_t detail_len)
{
	char path[QA_MAX_PATH + 32];
	size_t size = 64 * 1024; /* ~8000 pids: far more than we would act on */
	snprintf(path, sizeof path, "%s/cgroup.procs", h->cgroup);
	char *buf = malloc(size);
	if (buf == NULL)
		return QL_ERR_NOMEM;
	ssize_t n = read_file_small(path, buf, size, true, NULL);
	enum ql_err err = QL_OK;
	if (n < 0 && errno != ENOENT) {
		snprintf(detail, detail_len, "read %s: %s", path, strerror(errno));
		err = QL_ERR_ACTION_FAILED;
	}
	for (const char *s = n > 0 ? buf : ""; *s && err == QL_OK;) {
		const char *rest = s;
		pid_t pid = parse_pid(s, &rest);
		if (pid)
			err = consider(h, pid, flags, m, detail, detail_len);
		s = strchr(rest, '\n');
		s = s ? s + 1 : "";
	}
	free(buf);
	return err;
}

static enum ql_err find_scan(const struct qa_handle *h, unsigned flags, struct qa_matches *m,
                             char *detail, size_t detail_len)
{
	DIR *d = opendir("/proc");
	if (d == NULL) {
		snprintf(detail, detail_len, "cannot read /proc: %s", strerror(errno));
		return QL_ERR_ACTION_FAILED;
	}
	enum ql_err err = QL_OK;
	struct dirent *e;
	while (err == QL_OK && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		const char *rest = e->d_name;
		pid_t pid = parse_pid(e->d_name, &rest);
		if (pid == 0 || *rest != '\0')
			continue;
		bool hit = h->match_exe ? exe_matches(pid, h->match_exe)
		                        : cmdline_matches(pid, h->match_cmdline);
		if (hit)
			err = consider(h, pid, flags, m, detail, detail_len);
	}
	closedir(d);
	return err;
}

enum ql_err qa_proc_find(const struct qa_handle *h, unsigned flags, struct qa_matches *m,
                         char *detail, size_t detail_len)
{
	m->n = 0;
	enum ql_err err;
	if (h->pidfile)
		err = find_pidfile(h, flags, m, detail, detail_len);
	else if (h->cgroup)
		err = find_cgroup(h, flags, m, detail, detail_len);
	else if (h->match_exe || h->match_cmdline)
		err = find_scan(h, flags, m, detail, detail_len);
	else {
		snprintf(detail, detail_len, "handle '%s' has no process matcher", h->name);
		err = QL_ERR_CONFIG;
	}
	if (err != QL_OK)
		m->n = 0; /* all or nothing */
	return err;
}

/* ---- signals ---- */

int qa_proc_signal(const struct qa_proc *p, int sig)
{
	if (p->pid <= 1 || p->pid == getpid())
		return EPERM;
	int fd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (fd < 0 && errno == ESRCH)
		return ESRCH;
	struct qa_proc now;
	int rc = 0;
	if (!qa_proc_stat(p->pid, &now) || now.starttime != p->starttime)
		rc = ESRCH; /* gone, and the pid may already be someone else's */
	else if (fd >= 0)
		rc = syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) == 0 ? 0 : errno;
	else
		rc = kill(p->pid, sig) == 0 ? 0 : errno; /* no pidfd (old kernel): small race */
	if (fd >= 0)
		close(fd);
	return rc;
}

int qa_proc_signal_group(pid_t pgid, int sig)
{
	if (pgid <= 1 || pgid == getpgrp())
		return EPERM;
	return kill(-pgid, sig) == 0 ? 0 : errno;
}

size_t qa_proc_wait_gone(const struct qa_proc *p, size_t n, bool *gone, int64_t deadline_ms)
{
	for (;;) {
		size_t alive = 0;
		for (size_t i = 0; i < n; i++) {
			if (!gone[i] && !qa_proc_alive(&p[i]))
				gone[i] = true;
			alive += !gone[i];
		}
		if (alive == 0 || ql_mono_ms() >= deadline_ms)
			return alive;
		qa_sleep_until(deadline_ms, POLL_MS);
	}
}

/*
 * A multi-threaded child is a zombie before it can be reaped (its leader
 * waits for the other threads); give our own dead children a moment, so an
 * action that reports "stopped" leaves no zombie behind.
 */
static void reap_ours(const struct qa_proc *p, size_t n, const bool *gone)
{
	int64_t until = ql_mono_ms() + 1000;
	for (size_t i = 0; i < n; i++) {
		struct qa_proc now;
		if (!gone[i] || p[i].ppid != getpid())
			continue;
		while (qa_proc_stat(p[i].pid, &now) && now.starttime == p[i].starttime &&
		       ql_mono_ms() < until) {
			qa_proc_reap();
			qa_sleep_until(until, POLL_MS / 2);
		}
	}
}

size_t qa_proc_terminate(const struct qa_proc *p, size_t n, int sig, int grace_ms,
                         int64_t deadline_ms, struct qa_stop *r, int64_t *kill_after_ms)
{
	bool gone[QA_PROC_MAX_MATCHES] = {false};
	assert(n <= QA_PROC_MAX_MATCHES);
	int64_t t0 = ql_mono_ms();
	*kill_after_ms = -1;
	for (size_t i = 0; i < n; i++) {
		r[i] = (struct qa_stop){.err = qa_proc_signal(&p[i], sig)};
		gone[i] = r[i].err == ESRCH;
	}
	int64_t grace_end = t0 + grace_ms;
	if (sig != SIGKILL && grace_end > deadline_ms - 1000)
		grace_end = deadline_ms - 1000 > t0 ? deadline_ms - 1000 : t0;
	size_t alive = qa_proc_wait_gone(p, n, gone, sig == SIGKILL ? deadline_ms : grace_end);
	if (alive > 0 && sig != SIGKILL) {
		*kill_after_ms = ql_mono_ms() - t0;
		for (size_t i = 0; i < n; i++) {
			if (gone[i])
				continue;
			r[i].killed = true;
			int e = qa_proc_signal(&p[i], SIGKILL);
			if (r[i].err == 0 && e != 0 && e != ESRCH)
				r[i].err = e;
		}
		/* A SIGKILLed process is gone in milliseconds unless stuck in the kernel. */
		int64_t until =
			deadline_ms > ql_mono_ms() + 1000 ? deadline_ms : ql_mono_ms() + 1000;
		alive = qa_proc_wait_gone(p, n, gone, until);
	}
	for (size_t i = 0; i < n; i++)
		r[i].alive = !gone[i];
	reap_ours(p, n, gone);
	return alive;
}

void qa_proc_describe_stop(const struct qa_proc *p, size_t n, int sig, const struct qa_stop *r,
                           int64_t kill_after_ms, char *buf, size_t len)
{
	long secs = kill_after_ms < 0 ? 0 : (long)((kill_after_ms + 500) / 1000);
	for (size_t i = 0; i < n; i++) {
		const char *sep = i ? ", " : "";
		int pid = (int)p[i].pid;
		if (r[i].err == ESRCH && !r[i].killed)
			qa_detail_append(buf, len, "%s%d (already gone)", sep, pid);
		else if (r[i].alive)
			qa_detail_append(buf, len, "%s%d (STILL ALIVE after %s%s%s)", sep, pid,
			                 r[i].killed ? "KILL" : qa_signal_name(sig),
			                 r[i].err ? ": " : "", r[i].err ? strerror(r[i].err) : "");
		else if (r[i].killed)
			qa_detail_append(buf, len, "%s%d (KILL after %lds)", sep, pid, secs);
		else
			qa_detail_append(buf, len, "%s%d (%s)", sep, pid, qa_signal_name(sig));
	}
}
