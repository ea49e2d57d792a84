/*
 * instances.c: tracking, starting and stopping the instances of an
 * `instances` handle (see instances.h).
 *
 * The order of steps is what makes a crash harmless: a started process is
 * written to the tracking file before we wait for its port, and a stopped
 * one is removed only once it is gone. Whatever the agent dies in the middle
 * of, the next scale or restart finds every instance it must know about.
 */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "instances.h"
#include "log.h"

#define TRACK_MAX (64 * 1024)
#define STOP_GRACE_MS 3000

/* What went wrong, for the detail line (cut with "..." if too long). */
QL_PRINTF(2, 3) static void set_why(struct qa_instances *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->why, sizeof t->why, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof t->why)
		memcpy(t->why + sizeof t->why - 4, "...", 4);
}

static enum ql_err track_path(struct qa_instances *t)
{
	const char *name = t->ctx->handle->name;
	if (strchr(name, '/') || name[0] == '.') {
		set_why(t, "handle name '%s' cannot name a file", name);
		return QL_ERR_CONFIG;
	}
	int n = snprintf(t->path, sizeof t->path, "%s/instances/%s", t->ctx->state_dir, name);
	if (n < 0 || (size_t)n >= sizeof t->path) {
		set_why(t, "state directory path too long");
		return QL_ERR_CONFIG;
	}
	return QL_OK;
}

/* UNTRUSTED-ish: our own file, but it may have been edited or cut short. */
static bool parse_line(const char *line, struct qa_instance *in)
{
	long long v[4];
	const char *s = line;
	for (int k = 0; k < 4; k++) {
		char *end;
		errno = 0;
		if (*s < '0' || *s > '9')
			return false;
		v[k] = strtoll(s, &end, 10);
		if (errno != 0 || (k < 3 && *end != ' ') || (k == 3 && *end != '\0'))
			return false;
		s = end + (k < 3);
	}
	/* pid 0: "starting" (recorded before the spawn; see qa_instances_start) */
	if (v[0] >= QA_MAX_INSTANCES || v[1] < 1 || v[1] > 65535 || v[2] == 1 || v[2] > 4194304 ||
	    (v[2] == 0 && v[3] != 0))
		return false;
	*in = (struct qa_instance){.index = (int)v[0], .port = (int)v[1], .child.out_fd = -1};
	in->proc.pid = (pid_t)v[2];
	in->proc.starttime = (unsigned long long)v[3];
	return in->proc.pid != getpid();
}

static void insert_sorted(struct qa_instances *t, const struct qa_instance *in)
{
	size_t at = 0;
	while (at < t->n && t->v[at].index < in->index)
		at++;
	memmove(&t->v[at + 1], &t->v[at], (t->n - at) * sizeof t->v[0]);
	t->v[at] = *in;
	t->n++;
}

/*
 * An instance recorded as "starting" whose start the agent did not live to
 * record: if a session leader runs exactly its command line, it is ours.
 */
static bool adopt(struct qa_instances *t, struct qa_instance *in)
{
	const struct qa_handle *h = t->ctx->handle;
	char **argv, why[256], line[QA_MAX_PATH * 2] = "", detail[256];
	if (qa_argv_expand(&h->command, in->index, in->port, &argv, why, sizeof why) != QL_OK)
		return false;
	/* The words joined by spaces, as procmatch shows a cmdline; glob characters escaped. */
	size_t used = 0;
	for (size_t i = 0; argv[i] && used + 2 < sizeof line; i++) {
		if (i > 0)
			line[used++] = ' ';
		for (const char *c = argv[i]; *c && used + 3 < sizeof line; c++) {
			if (strchr("*?[]\\", *c))
				line[used++] = '\\'; /* literal in the fnmatch() glob */
			line[used++] = *c;
		}
	}
	line[used] = '\0';
	qa_argv_expanded_free(argv);
	struct qa_handle probe = {.name = h->name, .match_cmdline = line};
	struct qa_matches *m = malloc(sizeof *m);
	bool found = false;
	if (m && qa_proc_find(&probe, 0, m, detail, sizeof detail) == QL_OK) {
		for (size_t i = 0; i < m->n && !found; i++) {
			if (m->p[i].sid == m->p[i].pid) {
				in->proc = m->p[i];
				found = true;
			}
		}
	}
	free(m);
	return found;
}

static enum ql_err parse_file(struct qa_instances *t, char *text)
{
	size_t adopted = 0;
	int lineno = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct qa_instance in;
		lineno++;
		if (!parse_line(line, &in) || qa_instances_find(t, in.index) >= 0 ||
		    t->n == QA_MAX_INSTANCES) {
			set_why(t,
			        "%s line %d is not 'INDEX PORT PID STARTTIME'; check the instances "
			        "by hand and fix or remove the file",
			        t->path, lineno);
			return QL_ERR_ACTION_FAILED;
		}
		if (in.proc.pid == 0) { /* the agent died between recording and starting it */
			if (adopt(t, &in)) {
				insert_sorted(t, &in);
				adopted++;
			} else {
				t->dropped++;
			}
			continue;
		}
		struct qa_proc now;
		if (!qa_proc_stat(in.proc.pid, &now) || now.starttime != in.proc.starttime ||
		    now.state == 'Z' || now.state == 'X') {
			t->dropped++; /* exited, or the pid is someone else's now */
			continue;
		}
		in.proc = now;
		insert_sorted(t, &in);
	}
	if (adopted && qa_instances_save(t) != QL_OK)
		return QL_ERR_ACTION_FAILED;
	return QL_OK;
}

enum ql_err qa_instances_load(const struct qa_action_ctx *ctx, struct qa_instances *t)
{
	memset(t, 0, sizeof *t);
	t->ctx = ctx;
	enum ql_err err = track_path(t);
	if (err != QL_OK)
		return err;
	char *text;
	size_t len;
	err = qa_read_file(t->path, TRACK_MAX, &text, &len, NULL);
	if (err == QL_ERR_NOT_FOUND)
		return QL_OK;
	if (err != QL_OK) {
		set_why(t, "read %s: %s", t->path, ql_strerror(err));
		return err;
	}
	err = parse_file(t, text);
	free(text);
	return err;
}

enum ql_err qa_instances_save(struct qa_instances *t)
{
	char dir[sizeof t->path];
	snprintf(dir, sizeof dir, "%s/instances", t->ctx->state_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		set_why(t, "mkdir %s: %s", dir, strerror(errno));
		return QL_ERR_ACTION_FAILED;
	}
	char text[QA_MAX_INSTANCES * 64];
	size_t used = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct qa_instance *in = &t->v[i];
		used += (size_t)snprintf(text + used, sizeof text - used, "%d %d %d %llu\n",
		                         in->index, in->port, (int)in->proc.pid,
		                         in->proc.starttime);
	}
	return qa_write_atomically(t->path, text, used, 0600, (uid_t)-1, (gid_t)-1, t->why,
	                           sizeof t->why);
}

int qa_instances_find(const struct qa_instances *t, int index)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].index == index)
			return (int)i;
	return -1;
}

static void remove_at(struct qa_instances *t, size_t pos)
{
	qa_child_fini(&t->v[pos].child);
	memmove(&t->v[pos], &t->v[pos + 1], (t->n - pos - 1) * sizeof t->v[0]);
	t->n--;
}

enum ql_err qa_instances_start(struct qa_instances *t, int index)
{
	const struct qa_handle *h = t->ctx->handle;
	int port = h->port_base + index;
	if (qa_port_answers(port)) {
		set_why(t,
		        "port %d is already in use by a process quell did not start; instance %d "
		        "not started",
		        port, index);
		return QL_ERR_ACTION_FAILED;
	}
	char **argv;
	enum ql_err err = qa_argv_expand(&h->command, index, port, &argv, t->why, sizeof t->why);
	if (err != QL_OK)
		return err;
	struct qa_instance in = {.index = index, .port = port, .pending = true, .child.out_fd = -1};
	/* Recorded as starting (pid 0) before the spawn: an agent killed right
	 * after it adopts the running instance on the next load (see adopt()). */
	insert_sorted(t, &in);
	err = qa_instances_save(t);
	remove_at(t, (size_t)qa_instances_find(t, index));
	if (err != QL_OK) {
		qa_argv_expanded_free(argv);
		return err;
	}
	/* Its output goes to a log of its own: a long-lived instance must never
	 * get a write error once a small capture buffer is full. */
	char logdir[sizeof t->path], log[sizeof t->path + 64];
	snprintf(logdir, sizeof logdir, "%s/instance-logs", t->ctx->state_dir);
	snprintf(log, sizeof log, "%s/%s.%d.log", logdir, h->name, index);
	if (mkdir(logdir, 0700) != 0 && errno != EEXIST) {
		set_why(t, "mkdir %s: %s", logdir, strerror(errno));
		err = QL_ERR_ACTION_FAILED;
	} else {
		err = qa_proc_spawn_logged(argv, QA_SPAWN_SETSID | QA_SPAWN_DETACH, log, &in.child,
		                           t->why, sizeof t->why);
	}
	qa_argv_expanded_free(argv);
	if (err != QL_OK) {
		if (qa_instances_save(t) != QL_OK) /* forget the "starting" line */
			ql_warn("%s", t->why);     /* (the next load drops it: nothing runs) */
		return err;
	}
	if (!qa_proc_stat(in.child.pid, &in.proc)) {
		char out[QA_PROC_STDERR_MAX + 1];
		qa_proc_output(&in.child, out, sizeof out);
		set_why(t, "instance %d (port %d) exited at once%s%s", index, port,
		        out[0] ? ": " : "", out);
		qa_child_fini(&in.child);
		char keep[sizeof t->why];
		snprintf(keep, sizeof keep, "%s", t->why);
		if (qa_instances_save(t) != QL_OK) /* forget the "starting" line */
			ql_warn("%s", t->why);
		snprintf(t->why, sizeof t->why, "%s", keep);
		return QL_ERR_ACTION_FAILED;
	}
	insert_sorted(t, &in);
	/* Recorded before anything else can fail: a crash now still knows about it. */
	enum ql_err saved = qa_instances_save(t);
	if (saved != QL_OK) {
		/* Never leave an instance running that no file knows about. */
		struct qa_proc p = in.proc;
		if (qa_proc_signal(&p, SIGKILL) == 0) {
			bool gone = false;
			(void)qa_proc_wait_gone(&p, 1, &gone, ql_mono_ms() + 2000);
		}
		remove_at(t, (size_t)qa_instances_find(t, index));
	}
	return saved;
}

enum ql_err qa_instances_stop(struct qa_instances *t, const size_t *pos, size_t n)
{
	struct qa_proc procs[QA_MAX_INSTANCES] = {0};
	struct qa_stop r[QA_MAX_INSTANCES];
	int64_t kill_after;
	assert(n <= QA_MAX_INSTANCES);
	for (size_t i = 0; i < n; i++) {
		assert(i == 0 || pos[i] > pos[i - 1]);
		procs[i] = t->v[pos[i]].proc;
	}
	size_t alive = qa_proc_terminate(procs, n, t->ctx->handle->stop_signal, STOP_GRACE_MS,
	                                 t->ctx->deadline_ms, r, &kill_after);
	/* Forget those that are gone, last position first so the others do not move. */
	for (size_t k = n; k-- > 0;)
		if (!r[k].alive)
			remove_at(t, pos[k]);
	enum ql_err err = qa_instances_save(t);
	if (alive > 0) {
		set_why(t, "could not stop: ");
		qa_proc_describe_stop(procs, n, t->ctx->handle->stop_signal, r, kill_after, t->why,
		                      sizeof t->why);
		return QL_ERR_ACTION_FAILED;
	}
	return err;
}

/* One pass over the pending instances; returns how many still wait. */
static size_t confirm_pass(struct qa_instances *t, enum ql_err *err)
{
	size_t waiting = 0;
	for (size_t i = 0; i < t->n; i++) {
		struct qa_instance *in = &t->v[i];
		if (!in->pending)
			continue;
		if (!qa_proc_alive(&in->proc)) {
			char out[QA_PROC_STDERR_MAX + 1];
			qa_proc_output(&in->child, out, sizeof out);
			set_why(t, "instance %d (port %d, pid %d) exited%s%s", in->index, in->port,
			        (int)in->proc.pid, out[0] ? ": " : "", out);
			remove_at(t, i--);
			*err = QL_ERR_ACTION_FAILED;
			enum ql_err e = qa_instances_save(t);
			(void)e; /* t->why keeps the first problem */
		} else if (qa_port_answers(in->port)) {
			in->pending = false;
		} else {
			waiting++;
		}
	}
	return waiting;
}

enum ql_err qa_instances_confirm(struct qa_instances *t)
{
	enum ql_err err = QL_OK;
	for (;;) {
		size_t waiting = confirm_pass(t, &err);
		if (waiting == 0)
			return err;
		if (ql_mono_ms() >= t->ctx->deadline_ms)
			break;
		qa_sleep_until(t->ctx->deadline_ms, 50);
	}
	if (err == QL_OK) {
		set_why(t, "not answering on port");
		for (size_t i = 0; i < t->n; i++)
			if (t->v[i].pending)
				qa_detail_append(t->why, sizeof t->why, " %d", t->v[i].port);
		qa_detail_append(t->why, sizeof t->why, " before the deadline (still running)");
	}
	return err == QL_OK ? QL_ERR_TIMEOUT : err;
}

void qa_instances_ports(const struct qa_instances *t, char *buf, size_t len)
{
	for (size_t i = 0; i < t->n; i++)
		qa_detail_append(buf, len, " %d", t->v[i].port);
}

void qa_instances_fini(struct qa_instances *t)
{
	for (size_t i = 0; i < t->n; i++)
		qa_child_fini(&t->v[i].child);
}
