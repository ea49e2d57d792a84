/*
 * fsutil.c: atomic file replacement and bounded reads (see fsutil.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

int qa_fsync_dir_of(const char *path)
{
	char copy[4096];
	snprintf(copy, sizeof copy, "%s", path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

enum ql_err qa_write_atomically(const char *path, const void *data, size_t len, mode_t mode,
                                char *detail, size_t detail_len)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.quell-XXXXXX", path) >= (int)sizeof tmp) {
		snprintf(detail, detail_len, "path too long");
		return QL_ERR_ACTION_FAILED;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(detail, detail_len, "cannot create a file next to %s: %s", path,
		         strerror(errno));
		return QL_ERR_ACTION_FAILED;
	}
	ssize_t n = write(fd, data, len);
	const char *step = n != (ssize_t)len       ? "write"
	                   : fchmod(fd, mode) != 0 ? "chmod"
	                   : fsync(fd) != 0        ? "fsync"
	                                           : NULL;
	int saved = errno;
	if (close(fd) != 0 && step == NULL) {
		step = "close";
		saved = errno;
	}
	if (step == NULL && rename(tmp, path) != 0) {
		step = "rename";
		saved = errno;
	}
	if (step) {
		unlink(tmp);
		snprintf(detail, detail_len, "%s %s: %s", step, path,
		         n >= 0 && n != (ssize_t)len && saved == 0 ? "short write"
		                                                   : strerror(saved));
		return QL_ERR_ACTION_FAILED;
	}
	qa_fsync_dir_of(path); /* durability of the rename; the page is already served */
	return QL_OK;
}

enum ql_err qa_read_file(const char *path, size_t max, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO put in the file's place must not hang the executor. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? QL_ERR_NOT_FOUND : QL_ERR_IO;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return QL_ERR_IO;
	}
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
