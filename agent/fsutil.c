/*
 * fsutil.c: safe, atomic file changes and bounded reads (see fsutil.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

/* Can anyone but root change what this directory entry holds? */
static bool dir_safe(const struct stat *st)
{
	if (!S_ISDIR(st->st_mode) || st->st_uid != 0)
		return false;
	if ((st->st_mode & S_ISVTX) != 0) /* /tmp: others cannot rename our entries */
		return true;
	return (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* Every directory from / down to (but not including) `dir` must be safe. */
static enum ql_err parents_safe(const char *dir, char *detail, size_t detail_len)
{
	char prefix[PATH_MAX];
	size_t len = strlen(dir);
	for (size_t i = 0; i < len; i++) {
		if (dir[i] != '/' || (i == 0 && len == 1))
			continue;
		/* prefix = dir[0..i), or "/" for the root */
		size_t n = i == 0 ? 1 : i;
		memcpy(prefix, dir, n);
		prefix[n] = '\0';
		struct stat st;
		if (lstat(prefix, &st) != 0) {
			snprintf(detail, detail_len, "%s: %s", prefix, strerror(errno));
			return QL_ERR_IO;
		}
		if (!dir_safe(&st)) {
			snprintf(detail, detail_len,
			         "%s (above %s) can be changed by uid %u or its group; refusing to "
			         "write below it as root (make it root-owned and not group or "
			         "world writable)",
			         prefix, dir, (unsigned)st.st_uid);
			return QL_ERR_DENIED;
		}
	}
	return QL_OK;
}

enum ql_err qa_dir_open(const char *path, struct qa_dir *d, char *detail, size_t detail_len)
{
	char copy[PATH_MAX], real[PATH_MAX];
	d->fd = -1;
	if (path[0] != '/' || strlen(path) >= sizeof copy) {
		snprintf(detail, detail_len, "%s: not an absolute path", path);
		return QL_ERR_IO;
	}
	snprintf(copy, sizeof copy, "%s", path);
	const char *base = strrchr(copy, '/') + 1;
	if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
	    strlen(base) >= sizeof d->name) {
		snprintf(detail, detail_len, "%s: not a file name", path);
		return QL_ERR_IO;
	}
	snprintf(d->name, sizeof d->name, "%s", base);
	char *dir = dirname(copy);
	if (realpath(dir, real) == NULL) {
		int e = errno;
		snprintf(detail, detail_len, "%s: %s", dir, strerror(e));
		return e == ENOENT ? QL_ERR_NOT_FOUND : QL_ERR_IO;
	}
	enum ql_err err = parents_safe(real, detail, detail_len);
	if (err != QL_OK)
		return err;
	/* Its parents are root's alone, so `real` cannot change under us now. */
	d->fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->fd < 0) {
		snprintf(detail, detail_len, "%s: %s", real, strerror(errno));
		return QL_ERR_IO;
	}
	return QL_OK;
}

void qa_dir_close(struct qa_dir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/* A fresh temporary name next to d->name. */
static void temp_name(const struct qa_dir *d, char *buf, size_t size)
{
	snprintf(buf, size, ".%.200s.quell-%08x%08x", d->name, randombytes_random(),
	         randombytes_random());
}

enum ql_err qa_write_atomically(const char *path, const void *data, size_t len, mode_t mode,
                                uid_t uid, gid_t gid, char *detail, size_t detail_len)
{
	struct qa_dir d;
	enum ql_err err = qa_dir_open(path, &d, detail, detail_len);
	if (err != QL_OK)
		return err;
	char tmp[NAME_MAX + 1];
	temp_name(&d, tmp, sizeof tmp);
	int fd = openat(d.fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(detail, detail_len, "cannot create a file next to %s: %s", path,
		         strerror(errno));
		qa_dir_close(&d);
		return QL_ERR_ACTION_FAILED;
	}
	ssize_t n = write(fd, data, len);
	bool chown_needed = uid != (uid_t)-1 || gid != (gid_t)-1;
	const char *step = n != (ssize_t)len                                       ? "write"
	                   : chown_needed && fchown(fd, uid, gid) != 0             ? "chown"
	                   : fchmod(fd, mode & (S_IRWXU | S_IRWXG | S_IRWXO)) != 0 ? "chmod"
	                   : fsync(fd) != 0                                        ? "fsync"
	                                                                           : NULL;
	int saved = errno;
	if (close(fd) != 0 && step == NULL) {
		step = "close";
		saved = errno;
	}
	if (step == NULL && renameat(d.fd, tmp, d.fd, d.name) != 0) {
		step = "rename";
		saved = errno;
	}
	if (step) {
		unlinkat(d.fd, tmp, 0);
		snprintf(detail, detail_len, "%s %s: %s", step, path,
		         n >= 0 && n != (ssize_t)len && saved == 0 ? "short write"
		                                                   : strerror(saved));
		qa_dir_close(&d);
		return QL_ERR_ACTION_FAILED;
	}
	fsync(d.fd); /* durability of the rename; the new content is already visible */
	qa_dir_close(&d);
	return QL_OK;
}

enum ql_err qa_read_file(const char *path, size_t max, char **out, size_t *len, struct stat *stp)
{
	*out = NULL;
	*len = 0;
	char why[256];
	struct qa_dir d;
	enum ql_err err = qa_dir_open(path, &d, why, sizeof why);
	if (err != QL_OK)
		return err;
	/* O_NONBLOCK: a FIFO put in the file's place must not hang the executor. */
	int fd = openat(d.fd, d.name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	qa_dir_close(&d);
	if (fd < 0)
		return errno == ENOENT ? QL_ERR_NOT_FOUND : QL_ERR_IO;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return QL_ERR_IO;
	}
	if (stp)
		*stp = st;
	if ((size_t)st.st_size > max) {
		close(fd);
		return QL_ERR_TOO_BIG;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return QL_ERR_NOMEM;
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			close(fd);
			return QL_ERR_IO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > (size_t)st.st_size) { /* grew while we read */
			free(buf);
			close(fd);
			return QL_ERR_TOO_BIG;
		}
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return QL_OK;
}

enum ql_err qa_file_stat(const char *path, struct stat *st, char *detail, size_t detail_len)
{
	struct qa_dir d;
	enum ql_err err = qa_dir_open(path, &d, detail, detail_len);
	if (err != QL_OK)
		return err;
	int rc = fstatat(d.fd, d.name, st, AT_SYMLINK_NOFOLLOW);
	int e = errno;
	qa_dir_close(&d);
	if (rc == 0)
		return QL_OK;
	snprintf(detail, detail_len, "%s: %s", path, strerror(e));
	return e == ENOENT ? QL_ERR_NOT_FOUND : QL_ERR_IO;
}

enum ql_err qa_file_remove(const char *path, char *detail, size_t detail_len)
{
	struct qa_dir d;
	enum ql_err err = qa_dir_open(path, &d, detail, detail_len);
	if (err != QL_OK)
		return err;
	err = QL_OK;
	if (unlinkat(d.fd, d.name, 0) != 0) {
		err = errno == ENOENT ? QL_ERR_NOT_FOUND : QL_ERR_ACTION_FAILED;
		snprintf(detail, detail_len, "remove %s: %s", path, strerror(errno));
	} else {
		fsync(d.fd);
	}
	qa_dir_close(&d);
	return err;
}

enum ql_err qa_file_readlink(const char *path, char *buf, size_t size, char *detail,
                             size_t detail_len)
{
	struct qa_dir d;
	enum ql_err err = qa_dir_open(path, &d, detail, detail_len);
	if (err != QL_OK)
		return err;
	ssize_t n = readlinkat(d.fd, d.name, buf, size - 1);
	int e = errno;
	qa_dir_close(&d);
	if (n < 0) {
		snprintf(detail, detail_len, "%s: %s", path,
		         e == ENOENT   ? "missing"
		         : e == EINVAL ? "not a symlink"
		                       : strerror(e));
		return e == ENOENT ? QL_ERR_NOT_FOUND : QL_ERR_IO;
	}
	if ((size_t)n >= size - 1) {
		snprintf(detail, detail_len, "%s: link target too long", path);
		return QL_ERR_TOO_BIG;
	}
	buf[n] = '\0';
	return QL_OK;
}

enum ql_err qa_symlink_replace(const char *path, const char *target, char *detail,
                               size_t detail_len)
{
	struct qa_dir d;
	enum ql_err err = qa_dir_open(path, &d, detail, detail_len);
	if (err != QL_OK)
		return err;
	char tmp[NAME_MAX + 1];
	temp_name(&d, tmp, sizeof tmp);
	err = QL_ERR_ACTION_FAILED;
	if (symlinkat(target, d.fd, tmp) != 0) {
		snprintf(detail, detail_len, "cannot create a symlink next to %s: %s", path,
		         strerror(errno));
	} else if (renameat(d.fd, tmp, d.fd, d.name) != 0) {
		snprintf(detail, detail_len, "rename over %s: %s", path, strerror(errno));
		unlinkat(d.fd, tmp, 0);
	} else {
		fsync(d.fd);
		err = QL_OK;
	}
	qa_dir_close(&d);
	return err;
}

size_t qa_clean_temps(const char *path)
{
	char why[256], prefix[NAME_MAX + 16];
	struct qa_dir d;
	if (qa_dir_open(path, &d, why, sizeof why) != QL_OK)
		return 0;
	snprintf(prefix, sizeof prefix, ".%.200s.quell-", d.name);
	size_t plen = strlen(prefix), removed = 0;
	int fd = dup(d.fd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (dir == NULL && fd >= 0)
		close(fd);
	for (struct dirent *e; dir && (e = readdir(dir)) != NULL;) {
		if (strncmp(e->d_name, prefix, plen) != 0 || strlen(e->d_name) != plen + 16)
			continue;
		removed += unlinkat(d.fd, e->d_name, 0) == 0;
	}
	if (dir)
		closedir(dir);
	qa_dir_close(&d);
	return removed;
}
