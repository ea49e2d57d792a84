/*
 * fsutil.h: file changes that a reader (a web server, an application
 * re-reading its flags) never sees half done, and that survive a power cut
 * once reported: write a temporary file in the same directory, fsync it,
 * rename it over the target, fsync the directory.
 */
#ifndef QA_FSUTIL_H
#define QA_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "ql.h"

/*
 * Replace `path` with `len` bytes of `data`, mode `mode`. On failure the
 * target is untouched, the temporary file removed, and detail says which step
 * failed and why.
 */
QL_NODISCARD enum ql_err qa_write_atomically(const char *path, const void *data, size_t len,
                                             mode_t mode, char *detail, size_t detail_len);
/* fsync the directory holding path (makes a rename or unlink durable). */
int qa_fsync_dir_of(const char *path);
/*
 * Read a whole regular file of at most `max` bytes into a NUL-terminated
 * malloc'd buffer. QL_ERR_NOT_FOUND if it does not exist, QL_ERR_TOO_BIG.
 */
QL_NODISCARD enum ql_err qa_read_file(const char *path, size_t max, char **out, size_t *len);

#endif
