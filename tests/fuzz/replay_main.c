/*
 * replay_main.c: a main() for builds without libFuzzer. It feeds every file
 * named on the command line (directories: every regular file in them, in
 * name order) to LLVMFuzzerTestOneInput once, reading at most 1 MiB of
 * each, so ctest replays the seed corpora and past crashers in every build.
 * Fails if a path cannot be read or if there was nothing to replay.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_MAX (1u << 20)

static int replay_file(const char *path, uint8_t *buf)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	size_t n = fread(buf, 1, REPLAY_MAX, f);
	int err = ferror(f);
	fclose(f);
	if (err) {
		fprintf(stderr, "%s: read error\n", path);
		return -1;
	}
	/* A private copy of exactly n bytes, so ASan sees reads past the end. */
	uint8_t *copy = malloc(n ? n : 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, buf, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	return 0;
}

static int only_regular(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	uint8_t *buf = malloc(REPLAY_MAX);
	size_t replayed = 0;
	int rc = 0;
	if (buf == NULL)
		return 2;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i], buf) != 0)
				rc = 1;
			else
				replayed++;
			continue;
		}
		struct dirent **names;
		int n = scandir(argv[i], &names, only_regular, alphasort);
		if (n < 0) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		for (int k = 0; k < n; k++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (replay_file(path, buf) != 0)
					rc = 1;
				else
					replayed++;
			}
			free(names[k]);
		}
		free(names);
	}
	free(buf);
	printf("replayed %zu input(s)\n", replayed);
	if (replayed == 0) {
		fprintf(stderr, "nothing to replay\n");
		return 1;
	}
	return rc;
}
