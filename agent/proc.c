/*
 * proc.c: children and port probes (see proc.h; finding and signalling
 * processes is procmatch.c).
 *
 * Children. posix_spawn only (no shell, no fork of a threaded daemon), with
 * a child that owes nothing to the agent: stdin /dev/null, no inherited
 * descriptors, default signal dispositions and an empty mask (the daemon
 * blocks SIGTERM in every thread, and a child inheriting that would ignore
 * `kill`), a fixed PATH as the whole environment, and its own process group
 * or session so a time-out can kill everything it started. Output goes to a
 * sealed memfd that cannot grow past CAPTURE_SIZE: a chatty or daemonising
 * child can neither fill memory nor die of SIGPIPE because we stopped
 * reading.
 *
 * Reaping. Children someone will wait for live in a small registry guarded
 * by one mutex; the mutex is held across posix_spawn and registration so
 * qa_proc_reap() can never collect a child before it is known. The reaper
 * stores the status of registered children and forgets the others.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

#define CAPTURE_SIZE 4096
#define MAX_WAITED 32     /* children being waited for at once */
#define KILL_REAP_MS 5000 /* after a time-out SIGKILL, how long to wait for the exit */
#define POLL_MS 10

/* ---- argv templates ---- */

static bool put_number(char **w, const char *end, int v)
{
	int n = snprintf(*w, (size_t)(end - *w), "%d", v);
	if (n < 0 || n >= end - *w)
		return false;
	*w += n;
	return true;
}

static enum ql_err expand_word(const char *in, int index, int port, char **out)
{
	size_t cap = 4 * strlen(in) + 16; /* "{i}" (3) becomes at most 11 digits */
	char *buf = malloc(cap), *w = buf, *end = buf + cap;
	if (buf == NULL)
		return QL_ERR_NOMEM;
	for (const char *p = in; *p;) {
		if (*p != '{') {
			*w++ = *p++;
			continue;
		}
		bool ok;
		if (strncmp(p, "{i}", 3) == 0 && index >= 0) {
			ok = put_number(&w, end, index);
			p += 3;
		} else if (strncmp(p, "{port}", 6) == 0 && port >= 0) {
			ok = put_number(&w, end, port);
			p += 6;
		} else {
			ok = false;
		}
		if (!ok) {
			free(buf);
			return QL_ERR_BAD_ARGUMENT;
		}
	}
	*w = '\0';
	*out = buf;
	return QL_OK;
}

void qa_argv_expanded_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

enum ql_err qa_argv_expand(const struct qa_argv *tmpl, int index, int port, char ***out,
                           char *detail, size_t detail_len)
{
	*out = NULL;
	if (tmpl->argv == NULL || tmpl->argc == 0) {
		snprintf(detail, detail_len, "no command configured");
		return QL_ERR_CONFIG;
	}
	char **argv = calloc(tmpl->argc + 1, sizeof *argv);
	if (argv == NULL)
		return QL_ERR_NOMEM;
	for (size_t i = 0; i < tmpl->argc; i++) {
		enum ql_err err = expand_word(tmpl->argv[i], index, port, &argv[i]);
		if (err != QL_OK) {
			if (err == QL_ERR_BAD_ARGUMENT)
				snprintf(detail, detail_len,
				         "'%s': only {i} and {port} may be used in a command",
				         tmpl->argv[i]);
			qa_argv_expanded_free(argv);
			return err;
		}
	}
	*out = argv;
	return QL_OK;
}

/* ---- the registry of children being waited for ---- */

struct waited {
	pid_t pid; /* 0: free slot */
	bool exited;
	bool abandoned; /* the waiter gave up: forget it when it is reaped */
	int status;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct waited reg[MAX_WAITED];

static struct waited *reg_find(pid_t pid)
{
	for (size_t i = 0; i < MAX_WAITED; i++)
		if (reg[i].pid == pid)
			return &reg[i];
	return NULL;
}

void qa_proc_reap(void)
{
	pthread_mutex_lock(&reg_lock);
	for (int i = 0; i < 4096; i++) { /* each turn reaps one child */
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0)
			break;
		struct waited *w = reg_find(pid);
		if (w && !w->abandoned) {
			w->exited = true;
			w->status = st;
		} else if (w) {
			*w = (struct waited){0};
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

/* The child's status, if it has exited (whoever reaped it); frees its slot. */
static bool take_status(pid_t pid, int *status)
{
	bool done = false;
	pthread_mutex_lock(&reg_lock);
	struct waited *w = reg_find(pid);
	if (w && w->exited) {
		*status = w->status;
		done = true;
	} else if (w) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid) {
			done = true;
		} else if (r < 0 && errno == ECHILD) {
			*status = -1; /* reaped behind our back (SIGCHLD ignored?) */
			done = true;
		}
	}
	if (w && done)
		*w = (struct waited){0};
	pthread_mutex_unlock(&reg_lock);
	return done;
}

/* ---- spawning ---- */

static int capture_fd(void)
{
	int fd = memfd_create("quell-child-output", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, CAPTURE_SIZE) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int setup_files(posix_spawn_file_actions_t *fa, int out_fd)
{
	int rc = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (rc == 0 && out_fd >= 0) {
		rc = posix_spawn_file_actions_adddup2(fa, out_fd, 1);
		if (rc == 0)
			rc = posix_spawn_file_actions_adddup2(fa, out_fd, 2);
	} else if (rc == 0) {
		rc = posix_spawn_file_actions_addopen(fa, 1, "/dev/null", O_WRONLY, 0);
		if (rc == 0)
			rc = posix_spawn_file_actions_adddup2(fa, 1, 2);
	}
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(fa, 3);
	return rc;
}

static int setup_attr(posix_spawnattr_t *at, unsigned flags)
{
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	short f = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	f |= (flags & QA_SPAWN_SETSID) ? POSIX_SPAWN_SETSID : POSIX_SPAWN_SETPGROUP;
	int rc = posix_spawnattr_setflags(at, f);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(at, &none);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(at, &all);
	if (rc == 0)
		rc = posix_spawnattr_setpgroup(at, 0);
	return rc;
}

/* With reg_lock held: start the child and, unless detached, register it. */
static int spawn_locked(char *const argv[], unsigned flags, posix_spawn_file_actions_t *fa,
                        posix_spawnattr_t *at, pid_t *pid)
{
	static char path_env[] = QA_PROC_PATH;
	char *envp[] = {path_env, NULL};
	struct waited *slot = NULL;
	if (!(flags & QA_SPAWN_DETACH) && (slot = reg_find(0)) == NULL)
		return EAGAIN;
	int rc = posix_spawn(pid, argv[0], fa, at, argv, envp);
	if (rc == 0 && slot)
		*slot = (struct waited){.pid = *pid};
	return rc;
}

/* Start argv with stdout and stderr on out_fd (owned by c from here on; -1: /dev/null). */
static enum ql_err spawn_with(char *const argv[], unsigned flags, int out_fd, struct qa_child *c,
                              char *detail, size_t detail_len)
{
	*c = (struct qa_child){.pid = -1, .out_fd = out_fd};
	if (argv == NULL || argv[0] == NULL || argv[0][0] != '/') {
		snprintf(detail, detail_len, "a command must start with an absolute path");
		qa_child_fini(c);
		return QL_ERR_CONFIG;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int rc = posix_spawn_file_actions_init(&fa);
	if (rc == 0 && (rc = posix_spawnattr_init(&at)) != 0)
		posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		goto fail;
	rc = setup_files(&fa, c->out_fd);
	if (rc == 0)
		rc = setup_attr(&at, flags);
	if (rc == 0) {
		pthread_mutex_lock(&reg_lock);
		rc = spawn_locked(argv, flags, &fa, &at, &c->pid);
		pthread_mutex_unlock(&reg_lock);
	}
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		goto fail;
	c->waited = !(flags & QA_SPAWN_DETACH);
	return QL_OK;
fail:
	snprintf(detail, detail_len, "cannot start %s: %s",
	         rc == EAGAIN ? "another child (too many running)" : argv[0], strerror(rc));
	qa_child_fini(c);
	c->pid = -1;
	return rc == ENOMEM ? QL_ERR_NOMEM : QL_ERR_ACTION_FAILED;
}

enum ql_err qa_proc_spawn(char *const argv[], unsigned flags, struct qa_child *c, char *detail,
                          size_t detail_len)
{
	/* capture_fd() == -1: run it anyway, output to /dev/null */
	int out_fd = (flags & QA_SPAWN_CAPTURE) ? capture_fd() : -1;
	return spawn_with(argv, flags, out_fd, c, detail, detail_len);
}

enum ql_err qa_proc_spawn_logged(char *const argv[], unsigned flags, const char *log_path,
                                 struct qa_child *c, char *detail, size_t detail_len)
{
	int fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		*c = (struct qa_child){.pid = -1, .out_fd = -1};
		snprintf(detail, detail_len, "cannot open %s: %s", log_path, strerror(errno));
		return QL_ERR_ACTION_FAILED;
	}
	return spawn_with(argv, flags & ~(unsigned)QA_SPAWN_CAPTURE, fd, c, detail, detail_len);
}

void qa_sleep_until(int64_t deadline_ms, int ms)
{
	int64_t left = deadline_ms - ql_mono_ms();
	if (left <= 0)
		return;
	if (left < ms)
		ms = (int)left;
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* qa_proc_wait, also ending (as at the deadline) as soon as *stop is true (stop may be NULL). */
static enum ql_err wait_child(struct qa_child *c, int64_t deadline_ms, const atomic_bool *stop,
                              int *status)
{
	assert(c->waited);
	*status = -1;
	for (;;) {
		if (take_status(c->pid, status)) {
			c->waited = false;
			return QL_OK;
		}
		if (ql_mono_ms() >= deadline_ms || (stop && atomic_load(stop)))
			break;
		qa_sleep_until(deadline_ms, POLL_MS);
	}
	/* Too late: the child's group goes (under the lock: not reaped, so not reused). */
	pthread_mutex_lock(&reg_lock);
	struct waited *w = reg_find(c->pid);
	if (w && !w->exited)
		kill(-c->pid, SIGKILL);
	pthread_mutex_unlock(&reg_lock);
	int64_t until = ql_mono_ms() + KILL_REAP_MS;
	for (;;) {
		if (take_status(c->pid, status)) {
			c->waited = false;
			break;
		}
		if (ql_mono_ms() >= until)
			break;
		qa_sleep_until(until, POLL_MS);
	}
	/* Still not gone (stuck in D state): qa_child_fini() hands it to the reaper. */
	return QL_ERR_TIMEOUT;
}

enum ql_err qa_proc_wait(struct qa_child *c, int64_t deadline_ms, int *status)
{
	return wait_child(c, deadline_ms, NULL, status);
}

void qa_proc_output(const struct qa_child *c, char *buf, size_t len)
{
	if (len == 0)
		return;
	buf[0] = '\0';
	if (c->out_fd < 0)
		return;
	off_t end = lseek(c->out_fd, 0, SEEK_CUR); /* shared with the child: how much it wrote */
	size_t want = len - 1;
	if (end <= 0)
		return;
	if ((size_t)end < want)
		want = (size_t)end;
	ssize_t n = pread(c->out_fd, buf, want, 0);
	if (n < 0)
		n = 0;
	/* UNTRUSTED: whatever the child printed; keep one printable ASCII line. */
	size_t o = 0;
	for (ssize_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if (ch < 0x20 || ch >= 0x7f)
			ch = ch >= 0x80 ? '?' : ' ';
		if (ch == ' ' && (o == 0 || buf[o - 1] == ' '))
			continue;
		buf[o++] = (char)ch;
	}
	while (o > 0 && buf[o - 1] == ' ')
		o--;
	buf[o] = '\0';
}

void qa_child_fini(struct qa_child *c)
{
	if (c->out_fd >= 0)
		close(c->out_fd);
	c->out_fd = -1;
	if (!c->waited)
		return;
	c->waited = false;
	pthread_mutex_lock(&reg_lock);
	struct waited *w = reg_find(c->pid);
	if (w && w->exited)
		*w = (struct waited){0};
	else if (w)
		w->abandoned = true;
	pthread_mutex_unlock(&reg_lock);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

enum ql_err qa_proc_run(char *const argv[], int64_t deadline_ms, char *detail, size_t detail_len)
{
	return qa_proc_run_stoppable(argv, deadline_ms, NULL, detail, detail_len);
}

enum ql_err qa_proc_run_stoppable(char *const argv[], int64_t deadline_ms, const atomic_bool *stop,
                                  char *detail, size_t detail_len)
{
	struct qa_child c;
	enum ql_err err =
		qa_proc_spawn(argv, QA_SPAWN_SETSID | QA_SPAWN_CAPTURE, &c, detail, detail_len);
	if (err != QL_OK)
		return err;
	int st;
	err = wait_child(&c, deadline_ms, stop, &st);
	char out[QA_PROC_STDERR_MAX + 1];
	qa_proc_output(&c, out, sizeof out);
	const char *name = base_name(argv[0]);
	const char *sep = out[0] ? ": " : "";
	if (err == QL_ERR_TIMEOUT)
		snprintf(detail, detail_len, "%s did not finish in time and was killed%s%s", name,
		         sep, out);
	else if (st == -1)
		snprintf(detail, detail_len, "%s: exit status lost", name);
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		snprintf(detail, detail_len, "%s exited 0", name);
	else if (WIFEXITED(st))
		snprintf(detail, detail_len, "%s exited %d%s%s", name, WEXITSTATUS(st), sep, out);
	else
		snprintf(detail, detail_len, "%s killed by signal %d%s%s", name, WTERMSIG(st), sep,
		         out);
	qa_child_fini(&c);
	if (err != QL_OK)
		return err;
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? QL_OK : QL_ERR_ACTION_FAILED;
}

void qa_detail_append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(buf, len);
	if (len < 4 || used >= len - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= len - used)
		memcpy(buf + len - 4, "...", 4);
}

/* ---- readiness ---- */

bool qa_port_answers(int port)
{
	if (port <= 0 || port > 65535)
		return false;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (!ok && errno == EINPROGRESS) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int err = 0;
		socklen_t len = sizeof err;
		ok = poll(&pfd, 1, 500) == 1 &&
		     getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
	}
	close(fd);
	return ok;
}

bool qa_port_wait(int port, int64_t deadline_ms)
{
	for (;;) {
		if (qa_port_answers(port))
			return true;
		if (ql_mono_ms() >= deadline_ms)
			return false;
		qa_sleep_until(deadline_ms, 5 * POLL_MS);
	}
}
