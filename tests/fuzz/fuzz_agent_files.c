/*
 * fuzz_agent_files.c: the files an agent reads that someone else may have
 * written: its INI config (every [agent], [signer], [handle] and [check] key, argv
 * splitting, labels) and the application's feature-flag file (JSON or
 * key=value), which `flag` parses and rewrites.
 *
 * The first input byte picks what the rest is: 0 an agent config, 1 a JSON
 * flag file, 2 a key=value flag file (others: modulo 3). Invariants: a
 * config either loads or is refused with a "PATH:..." reason; a flag dry run
 * never changes the file and always says something.
 */
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "actions/actions.h"
#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "ql_limits.h"

static struct {
	char dir[64];
	char path[128];
} fx;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	if (fx.dir[0])
		nftw(fx.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void init(void)
{
	snprintf(fx.dir, sizeof fx.dir, "/tmp/quell-fuzz-files.XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		abort();
	snprintf(fx.path, sizeof fx.path, "%s/input", fx.dir);
	ql_log_init("fuzz", QL_LOG_ERROR + 1); /* quiet */
	atexit(cleanup);
}

static void write_input(const uint8_t *data, size_t size)
{
	FILE *f = fopen(fx.path, "wb");
	if (f == NULL || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		abort();
}

static void config(void)
{
	char why[1024] = "";
	struct qa_config *cfg = qa_config_load(fx.path, why, sizeof why);
	if (cfg == NULL)
		FZ_CHECK(strncmp(why, fx.path, strlen(fx.path)) == 0);
	qa_config_free(cfg);
}

static void flags(bool kv, const uint8_t *data, size_t size)
{
	struct qa_handle h = {.name = "flags",
	                      .type = QA_HANDLE_FLAGS,
	                      .timeout_s = 5,
	                      .file = fx.path,
	                      .format = kv ? QA_FLAGS_KV : QA_FLAGS_JSON};
	Quell__Arg name = QUELL__ARG__INIT, value = QUELL__ARG__INIT;
	name.key = "name";
	name.value = "checkout_v2";
	value.key = "value";
	value.value = size % 2 ? "on" : "off";
	Quell__Arg *args[] = {&name, &value};
	char detail[QL_MAX_DETAIL + 1] = "", undo[4097] = "";
	struct qa_action_ctx ctx = {.handle = &h,
	                            .args = args,
	                            .n_args = 2,
	                            .dry_run = true,
	                            .deadline_ms = ql_mono_ms() + 5000,
	                            .detail = detail,
	                            .detail_len = sizeof detail,
	                            .undo = undo,
	                            .undo_len = sizeof undo};
	FZ_CHECK(qa_action_flag.check(&ctx) == QL_OK);
	enum ql_err err = qa_action_flag.run(&ctx);
	FZ_CHECK(err == QL_OK || err == QL_ERR_ACTION_FAILED || err == QL_ERR_BAD_ARGUMENT);
	FZ_CHECK(detail[0] != '\0');

	/* A dry run leaves the file byte for byte as it was. */
	FILE *f = fopen(fx.path, "rb");
	FZ_CHECK(f != NULL);
	uint8_t *back = malloc(size + 1);
	FZ_CHECK(back != NULL);
	size_t n = fread(back, 1, size + 1, f);
	fclose(f);
	FZ_CHECK(n == size && (size == 0 || memcmp(back, data, size) == 0));
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fx.dir[0] == '\0')
		init();
	if (size == 0)
		return 0;
	int what = data[0] % 3;
	write_input(data + 1, size - 1);
	if (what == 0)
		config();
	else
		flags(what == 2, data + 1, size - 1);
	return 0;
}
