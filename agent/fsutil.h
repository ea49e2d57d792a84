/*
 * fsutil.h: the agent's changes to files it does not own, done so that
 *
 *   - a reader (a web server, an application re-reading its flags) never
 *     sees a half-written file, and a reported change survives a power cut:
 *     temporary file in the same directory, fsync, rename, fsync directory;
 *   - nobody else on the host can redirect them. The agent runs as root and
 *     writes where services can write too. Every operation opens the file's
 *     directory once, after checking that no directory ABOVE it can be
 *     changed by anyone but root (owned by root, not group or world
 *     writable unless sticky, like OpenSSH's StrictModes), and then works
 *     relative to that directory (openat, renameat, unlinkat, symlinkat), so
 *     a directory swapped for a symlink mid-way cannot send root's write to
 *     /etc. The file's own directory may belong to a service.
 *
 * Paths are the absolute paths from the agent's config; symlinks in them are
 * resolved once, when the directory is opened.
 */
#ifndef QA_FSUTIL_H
#define QA_FSUTIL_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "ql.h"

/* A file's directory, opened safely, and the file's name in it. */
struct qa_dir {
	int fd;
	char name[NAME_MAX + 1];
};

/*
 * Open the directory holding `path` (see above). On failure, detail says why
 * (e.g. "/srv/app is writable by uid 1000 ..."), and the error is
 * QL_ERR_DENIED for an unsafe path, QL_ERR_NOT_FOUND or QL_ERR_IO otherwise.
 */
QL_NODISCARD enum ql_err qa_dir_open(const char *path, struct qa_dir *d, char *detail,
                                     size_t detail_len);
void qa_dir_close(struct qa_dir *d);

/*
 * Replace `path` with `len` bytes of `data`, mode `mode` (permission bits
 * only), owner `uid`/`gid` (-1: root's). On failure the target is untouched,
 * the temporary file removed, and detail says which step failed and why.
 */
QL_NODISCARD enum ql_err qa_write_atomically(const char *path, const void *data, size_t len,
                                             mode_t mode, uid_t uid, gid_t gid, char *detail,
                                             size_t detail_len);
/*
 * Read a whole regular file of at most `max` bytes into a NUL-terminated
 * malloc'd buffer. QL_ERR_NOT_FOUND if it does not exist, QL_ERR_TOO_BIG,
 * QL_ERR_DENIED for an unsafe path, QL_ERR_IO (not a regular file: a FIFO
 * never blocks). `st` (may be NULL) gets the file's status.
 */
QL_NODISCARD enum ql_err qa_read_file(const char *path, size_t max, char **out, size_t *len,
                                      struct stat *st);
/* lstat() of path through its safe directory: QL_OK, QL_ERR_NOT_FOUND, ... */
QL_NODISCARD enum ql_err qa_file_stat(const char *path, struct stat *st, char *detail,
                                      size_t detail_len);
/* Remove path (a file or symlink); QL_ERR_NOT_FOUND if it was not there. */
QL_NODISCARD enum ql_err qa_file_remove(const char *path, char *detail, size_t detail_len);
/* readlink() of path through its safe directory; NUL-terminated. */
QL_NODISCARD enum ql_err qa_file_readlink(const char *path, char *buf, size_t size, char *detail,
                                          size_t detail_len);
/* Make path a symlink to target, atomically (a temporary link renamed over it). */
QL_NODISCARD enum ql_err qa_symlink_replace(const char *path, const char *target, char *detail,
                                            size_t detail_len);

/*
 * Remove temporary files an earlier run left next to path when it died
 * between creating and renaming them (".NAME.quell-XXXXXXXXXXXXXXXX").
 * Returns how many were removed.
 */
size_t qa_clean_temps(const char *path);

#endif
