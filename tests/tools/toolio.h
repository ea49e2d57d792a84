/*
 * toolio.h: whole-file reads and writes for the test tools (quell-forge,
 * quell-rogue), which exit with status 2 on any I/O error.
 */
#ifndef QUELL_TOOLIO_H
#define QUELL_TOOLIO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Up to 1 MiB of path, malloc'd. */
static inline uint8_t *tool_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(1 << 20);
	if (f == NULL || buf == NULL) {
		perror(path);
		exit(2);
	}
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

static inline void tool_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

#endif
