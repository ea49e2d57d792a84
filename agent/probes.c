/*
 * probes.c: running one health check once (qa_check_run, see checks.h).
 *
 * Each probe is bounded by the check's timeout, because health.c runs the
 * checks one at a time on one thread and a hung probe would silence the
 * others: http through libcurl's connect and total timeouts, tcp through a
 * non-blocking connect and poll(), exec through the agent's child runner,
 * which kills the child's process group at the deadline. Each also ends
 * early when the agent stops. process, file-age, disk-free and load are
 * local system calls (a filesystem that hangs in stat() or statvfs(), like
 * a dead NFS mount, is the one thing that can hold them up).
 *
 * What a probe reports comes partly from outside (a server's status, a
 * program's output); checks.c makes it one printable line.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "checks.h"
#include "codec.h"
#include "config.h"
#include "curl.h"
#include "proc.h"
#include "ql.h"

#define HTTP_BODY_MAX (64 * 1024) /* bytes of a response body read (and thrown away) */
#define SLICE_MS 100              /* how often a waiting probe looks at the stop flag */

static bool stopped(const atomic_bool *stop)
{
	return stop && atomic_load(stop);
}

/* "42s", "5m", "3h", "2d": rounded down. */
static void span(int64_t secs, char *buf, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(buf, len, "%llds", (long long)secs);
	else if (secs < 2 * 3600)
		snprintf(buf, len, "%lldm", (long long)(secs / 60));
	else if (secs < 2 * 86400)
		snprintf(buf, len, "%lldh", (long long)(secs / 3600));
	else
		snprintf(buf, len, "%lldd", (long long)(secs / 86400));
}

/* "512K", "3.1G": powers of 1024. */
static void size_text(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof units - 1) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lluB", (unsigned long long)bytes);
	else
		snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

/* ---- http ---- */

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	size_t *got = arg;
	*got += size * n;
	return *got > HTTP_BODY_MAX ? 0 : size * n; /* 0: enough, stop reading */
}

static int progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return stopped(arg) ? 1 : 0; /* non-zero: the transfer is aborted */
}

static bool probe_http(const struct qa_check *c, const atomic_bool *stop, char *detail, size_t len)
{
	char err[CURL_ERROR_SIZE] = "";
	const struct qa_curl *cu = qa_curl(err, sizeof err); /* loaded with the config */
	CURL *h = cu ? cu->easy_init() : NULL;
	if (h == NULL) {
		snprintf(detail, len, "%s", cu ? "out of memory" : err);
		return false;
	}
	size_t got = 0;
	long ms = (long)c->timeout_s * 1000;
	cu->easy_setopt(h, CURLOPT_URL, c->url);
	cu->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	cu->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	cu->easy_setopt(h, CURLOPT_PROXY, ""); /* never a proxy from the environment */
	cu->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	cu->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
	cu->easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
	cu->easy_setopt(h, CURLOPT_USERAGENT, "quell-agent/" QL_VERSION);
	cu->easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	cu->easy_setopt(h, CURLOPT_WRITEDATA, &got);
	cu->easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	cu->easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
	cu->easy_setopt(h, CURLOPT_XFERINFODATA, (void *)stop);
	cu->easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	CURLcode rc = cu->easy_perform(h);
	long code = 0;
	cu->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	long os_errno = 0;
	cu->easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
	cu->easy_cleanup(h);

	bool pass = false;
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && code > 0)) {
		pass = code == c->expect;
		if (pass)
			snprintf(detail, len, "HTTP %ld from %s", code, c->url);
		else
			snprintf(detail, len, "HTTP %ld from %s (expected %d)", code, c->url,
			         c->expect);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(detail, len, "no answer from %s within %us", c->url, c->timeout_s);
	} else if (rc == CURLE_COULDNT_CONNECT && os_errno != 0) {
		snprintf(detail, len, "connect to %s: %s", c->url, strerror((int)os_errno));
	} else {
		snprintf(detail, len, "%s: %s", c->url, err[0] ? err : cu->easy_strerror(rc));
	}
	return pass;
}

/* ---- tcp ---- */

static bool probe_tcp(const struct qa_check *c, const atomic_bool *stop, char *detail, size_t len)
{
	int64_t start = ql_mono_ms(), deadline = start + (int64_t)c->timeout_s * 1000;
	int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(detail, len, "socket: %s", strerror(errno));
		return false;
	}
	int err = connect(fd, (const struct sockaddr *)&c->addr, c->addr_len) == 0 ? 0 : errno;
	while (err == EINPROGRESS) {
		int64_t left = deadline - ql_mono_ms();
		if (left <= 0 || stopped(stop)) {
			err = ETIMEDOUT;
			break;
		}
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int n = poll(&p, 1, (int)(left < SLICE_MS ? left : SLICE_MS));
		if (n < 0 && errno != EINTR) {
			err = errno;
		} else if (n > 0) {
			socklen_t elen = sizeof err;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
				err = errno;
		}
	}
	close(fd);
	if (err == ETIMEDOUT)
		snprintf(detail, len, "no answer from %s within %us", c->address, c->timeout_s);
	else if (err != 0)
		snprintf(detail, len, "connect to %s: %s", c->address, strerror(err));
	else
		snprintf(detail, len, "connected to %s in %lld ms", c->address,
		         (long long)(ql_mono_ms() - start));
	return err == 0;
}

/* ---- process, file-age, disk-free, load, exec ---- */

static bool probe_process(const struct qa_check *c, const struct qa_config *cfg, char *detail,
                          size_t len)
{
	const struct qa_handle *h = qa_config_handle(cfg, c->handle);
	struct qa_matches *m = h ? malloc(sizeof *m) : NULL;
	if (m == NULL) {
		snprintf(detail, len, h ? "out of memory" : "no handle %s", c->handle);
		return false;
	}
	char why[QA_CHECK_DETAIL] = "";
	enum ql_err err = qa_proc_find(h, 0, m, why, sizeof why);
	size_t n = m->n;
	pid_t first = n ? m->p[0].pid : 0;
	free(m);
	if (err != QL_OK)
		snprintf(detail, len, "handle %s: %s", c->handle, why[0] ? why : ql_strerror(err));
	else if (n == 0)
		snprintf(detail, len, "no process matches handle %s", c->handle);
	else
		snprintf(detail, len, "%zu process%s match%s handle %s (pid %d%s)", n,
		         n == 1 ? "" : "es", n == 1 ? "es" : "", c->handle, (int)first,
		         n > 1 ? ", ..." : "");
	return err == QL_OK && n > 0;
}

static bool probe_file_age(const struct qa_check *c, char *detail, size_t len)
{
	struct stat st;
	if (stat(c->path, &st) != 0) {
		if (errno == ENOENT)
			snprintf(detail, len, "%s is missing", c->path);
		else
			snprintf(detail, len, "%s: %s", c->path, strerror(errno));
		return false;
	}
	int64_t age = ql_now() - (int64_t)st.st_mtime;
	char a[16], m[16];
	span(age, a, sizeof a);
	ql_duration_format(c->max_age_s, m, sizeof m);
	bool pass = age <= (int64_t)c->max_age_s;
	snprintf(detail, len, "%s is %s old (max %s)", c->path, a, m);
	return pass;
}

static bool probe_disk_free(const struct qa_check *c, char *detail, size_t len)
{
	struct statvfs v;
	if (statvfs(c->path, &v) != 0) {
		snprintf(detail, len, "%s: %s", c->path, strerror(errno));
		return false;
	}
	uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize; /* what non-root users may use */
	uint64_t total = (uint64_t)v.f_blocks * v.f_frsize;
	double pct = total ? 100.0 * (double)avail / (double)total : 0;
	char a[16], t[16], m[16];
	size_text(avail, a, sizeof a);
	size_text(total, t, sizeof t);
	bool pass;
	if (c->min_free_pct > 0) {
		pass = pct >= c->min_free_pct;
		snprintf(detail, len, "%s: %.1f%% free (%s of %s), min %g%%", c->path, pct, a, t,
		         c->min_free_pct);
	} else {
		pass = avail >= c->min_free_bytes;
		size_text(c->min_free_bytes, m, sizeof m);
		snprintf(detail, len, "%s: %s free (%.1f%% of %s), min %s", c->path, a, pct, t, m);
	}
	return pass;
}

static bool probe_load(const struct qa_check *c, char *detail, size_t len)
{
	double load[1];
	if (getloadavg(load, 1) != 1) {
		snprintf(detail, len, "cannot read the load average");
		return false;
	}
	bool pass = load[0] <= c->max_load;
	snprintf(detail, len, "load %.2f %s %.2f", load[0], pass ? "<=" : ">", c->max_load);
	return pass;
}

static bool probe_exec(const struct qa_check *c, const atomic_bool *stop, char *detail, size_t len)
{
	int64_t deadline = ql_mono_ms() + (int64_t)c->timeout_s * 1000;
	return qa_proc_run_stoppable(c->argv.argv, deadline, stop, detail, len) == QL_OK;
}

bool qa_check_run(const struct qa_check *c, const struct qa_config *cfg, const atomic_bool *stop,
                  char *detail, size_t len)
{
	detail[0] = '\0';
	switch (c->type) {
	case QA_CHECK_HTTP:
		return probe_http(c, stop, detail, len);
	case QA_CHECK_TCP:
		return probe_tcp(c, stop, detail, len);
	case QA_CHECK_PROCESS:
		return probe_process(c, cfg, detail, len);
	case QA_CHECK_FILE_AGE:
		return probe_file_age(c, detail, len);
	case QA_CHECK_DISK_FREE:
		return probe_disk_free(c, detail, len);
	case QA_CHECK_LOAD:
		return probe_load(c, detail, len);
	case QA_CHECK_EXEC:
		return probe_exec(c, stop, detail, len);
	case QA_CHECK_NONE:
	case QA_CHECK__COUNT:
		break;
	}
	snprintf(detail, len, "unknown check type");
	return false;
}
