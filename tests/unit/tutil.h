/*
 * tutil.h: small helpers shared by the unit tests: a private temporary
 * directory per test (mkdtemp, removed recursively afterwards) and whole-file
 * read/write. Header-only and static so each test stays one executable.
 * Include after the cmocka prelude (stdarg.h, stddef.h, setjmp.h, cmocka.h).
 */
#ifndef QUELL_TUTIL_H
#define QUELL_TUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh directory under $TMPDIR (or /tmp); the caller frees the string. */
static inline char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof tmpl, "%s/quell-test-XXXXXX", base && base[0] ? base : "/tmp");
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	char *copy = strdup(dir);
	assert_non_null(copy);
	return copy;
}

static inline int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* Remove a test directory and everything in it, then free the string. */
static inline void tu_rmtree(char *dir)
{
	if (dir == NULL)
		return;
	assert_int_equal(nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(dir);
}

/* "DIR/NAME" as a malloc'd string. */
static inline char *tu_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static inline void tu_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static inline void tu_write_str(const char *path, const char *text)
{
	tu_write(path, text, strlen(text));
}

/* Read a whole (small) file into a NUL-terminated malloc'd buffer; NULL if absent. */
static inline char *tu_read(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	assert_int_equal(fclose(f), 0);
	buf[n] = '\0';
	if (len_out)
		*len_out = n;
	return buf;
}

static inline int tu_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

#endif
