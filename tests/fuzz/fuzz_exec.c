/*
 * fuzz_exec.c: the agent's executor with a fixed config and store, driven
 * the way a compromised coordinator could drive it. The first input byte
 * picks the signer (alice: ping + maintenance:site, bob: ping, carol: '*',
 * or a stranger), whether the rest is a raw envelope or a command body for
 * the harness to seal, and whether to move the body's times to "now" so the
 * deeper checks are reachable.
 *
 * Invariants: there is always a RESULT signed by the agent that decodes;
 * anything but status OK leaves the maintenance file exactly as it was; an
 * action only runs (OK, not a duplicate) for a signer whose policy allows it.
 *
 * The store persists across inputs, like a real agent's; a crash may depend
 * on earlier inputs (replay the whole corpus in order to reproduce).
 */
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "config.h"
#include "envelope.h"
#include "exec.h"
#include "fuzz.h"
#include "log.h"
#include "store.h"

#define B_SIGNER 0x03
#define B_RETIME 0x04
#define B_RAW 0x08

static struct {
	char dir[64];
	char maint[128];
	struct ql_secret_key *keys[FZ__COUNT];
	struct qa_config *cfg;
	struct qa_store *store;
	struct qa_exec_env x;
	bool verbose; /* QUELL_FUZZ_VERBOSE=1: one line per answer, for corpus work */
} fx;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	qa_store_close(fx.store);
	qa_config_free(fx.cfg);
	for (int i = 0; i < FZ__COUNT; i++)
		ql_key_free(fx.keys[i]);
	if (fx.dir[0])
		nftw(fx.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void init(void)
{
	const char *v = getenv("QUELL_FUZZ_VERBOSE");
	fx.verbose = v && v[0] == '1';
	/* Silence the agent's log: a fuzzing run makes millions of rejections. */
	ql_log_init("fuzz_exec", fx.verbose ? QL_LOG_DEBUG : (enum ql_log_level)(QL_LOG_ERROR + 1));
	for (int i = 0; i < FZ__COUNT; i++)
		fx.keys[i] = fz_key((enum fz_key)i);
	const char *tmp = getenv("TMPDIR");
	snprintf(fx.dir, sizeof fx.dir, "%s/quell-fuzz-XXXXXX",
	         tmp && tmp[0] && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(fx.dir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(fx.maint, sizeof fx.maint, "%s/maintenance.html", fx.dir);

	char a[QL_PUBKEY_B64_LEN], b[QL_PUBKEY_B64_LEN], c[QL_PUBKEY_B64_LEN];
	ql_pubkey_format(fx.keys[FZ_ALICE]->pk, a);
	ql_pubkey_format(fx.keys[FZ_BOB]->pk, b);
	ql_pubkey_format(fx.keys[FZ_CAROL]->pk, c);
	char path[128], text[2048];
	snprintf(path, sizeof path, "%s/agent.conf", fx.dir);
	snprintf(text, sizeof text,
	         "[agent]\nhostname = host-001\nlabels = role=web,dc=east\n"
	         "coordinator = tcp://127.0.0.1:7400\nkey = %s/agent.key\n"
	         "state_dir = %s/state\nclock_skew = 30\n"
	         "[signer alice]\nkey = %s\nallow = ping, maintenance:site\n"
	         "[signer bob]\nkey = %s\nallow = ping\n"
	         "[signer carol]\nkey = %s\nallow = *\n"
	         "[handle site]\ntype = maintenance\nfile = %s\n",
	         fx.dir, fx.dir, a, b, c, fx.maint);
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
	char why[512];
	fx.cfg = qa_config_load(path, why, sizeof why);
	if (fx.cfg == NULL) {
		fprintf(stderr, "fuzz_exec config: %s\n", why);
		abort();
	}
	if (qa_store_open(fx.cfg->state_dir, &fx.store) != QL_OK)
		abort();
	fx.x.cfg = fx.cfg;
	fx.x.key = fx.keys[FZ_AGENT];
	fx.x.store = fx.store;
}

/* The maintenance file's state: absent (NULL) or its content. */
static char *snapshot(size_t *len)
{
	FILE *f = fopen(fx.maint, "rb");
	*len = 0;
	if (f == NULL)
		return NULL;
	char *buf = malloc(8192);
	if (buf == NULL)
		abort();
	*len = fread(buf, 1, 8192, f);
	fclose(f);
	return buf;
}

/* Move the command's validity window to around now, keeping its length. */
static void retime(Quell__Command *c)
{
	int64_t life, issued = ql_now() + c->issued_at % 200 - 100;
	if (__builtin_sub_overflow(c->expires_at, c->issued_at, &life))
		return;
	c->issued_at = issued;
	if (__builtin_add_overflow(issued, life, &c->expires_at))
		c->expires_at = INT64_MAX;
}

static bool policy_allows(enum fz_key who, const Quell__Command *c)
{
	switch (who) {
	case FZ_ALICE:
		return strcmp(c->action, "ping") == 0 ||
		       (strcmp(c->action, "maintenance") == 0 && strcmp(c->handle, "site") == 0);
	case FZ_BOB:
		return strcmp(c->action, "ping") == 0;
	case FZ_CAROL:
		return true;
	default:
		return false;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (fx.cfg == NULL)
		init();
	if (size == 0)
		return 0;
	static const enum fz_key signers[] = {FZ_ALICE, FZ_BOB, FZ_CAROL, FZ_STRANGER};
	uint8_t mode = data[0];
	const uint8_t *in = data + 1;
	size_t in_len = size - 1;

	/* Build the envelope to deliver. */
	uint8_t *env = NULL, *repacked = NULL;
	size_t env_len = 0;
	if (mode & B_RAW) {
		env = malloc(in_len ? in_len : 1);
		if (env == NULL)
			abort();
		memcpy(env, in, in_len);
		env_len = in_len;
	} else {
		const uint8_t *body = in;
		size_t body_len = in_len;
		Quell__Command *c = NULL;
		if ((mode & B_RETIME) && in_len <= QL_MAX_BODY &&
		    (c = quell__command__unpack(NULL, in_len, in)) != NULL) {
			retime(c);
			if (ql_pack(&c->base, &repacked, &body_len) != QL_OK)
				abort();
			body = repacked;
			quell__command__free_unpacked(c, NULL);
		}
		if (ql_envelope_seal(QUELL__KIND__KIND_COMMAND, fx.keys[signers[mode & B_SIGNER]],
		                     body, body_len, &env, &env_len) != QL_OK) {
			free(repacked);
			return 0; /* body over the limit: nothing to deliver */
		}
	}

	size_t before_len, after_len;
	char *before = snapshot(&before_len);
	uint8_t *out = NULL;
	size_t out_len = 0;
	FZ_CHECK(qa_exec(&fx.x, env, env_len, NULL, &out, &out_len) == QL_OK);
	char *after = snapshot(&after_len);

	/* The answer: a RESULT from the agent that the coordinator can decode. */
	struct ql_opened o;
	FZ_CHECK(ql_envelope_open(out, out_len, QL_KIND_BIT(QUELL__KIND__KIND_RESULT), &o) ==
	         QL_OK);
	FZ_CHECK(memcmp(o.signer, fx.keys[FZ_AGENT]->pk, QL_PUBKEY_LEN) == 0);
	Quell__Result *r = NULL;
	FZ_CHECK(ql_result_decode(o.body, o.body_len, &r) == QL_OK);
	FZ_CHECK(r->reason[0] == '\0' || ql_err_from_code(r->reason) != QL_ERR__COUNT);
	FZ_CHECK((r->status == QUELL__STATUS__STATUS_OK) == (r->reason[0] == '\0'));

	if (fx.verbose)
		fprintf(stderr, "fuzz_exec: status=%d reason=%s duplicate=%d: %s\n", r->status,
		        r->reason[0] ? r->reason : "-", r->duplicate, r->detail);

	/* Nothing but success changes the host. */
	if (r->status != QUELL__STATUS__STATUS_OK) {
		FZ_CHECK((before == NULL) == (after == NULL));
		FZ_CHECK(before_len == after_len);
		FZ_CHECK(before_len == 0 || memcmp(before, after, before_len) == 0);
	}

	/* Independently: who signed what, and was it theirs to do? */
	struct ql_opened mine;
	if (ql_envelope_open(env, env_len, QL_KIND_BIT(QUELL__KIND__KIND_COMMAND), &mine) !=
	    QL_OK) {
		FZ_CHECK(r->status == QUELL__STATUS__STATUS_REJECTED);
	} else {
		enum fz_key who = FZ_STRANGER;
		for (int i = FZ_ALICE; i < FZ_STRANGER; i++)
			if (memcmp(mine.signer, fx.keys[i]->pk, QL_PUBKEY_LEN) == 0)
				who = (enum fz_key)i;
		Quell__Command *c = NULL;
		if (ql_command_decode(mine.body, mine.body_len, &c) != QL_OK) {
			FZ_CHECK(r->status == QUELL__STATUS__STATUS_REJECTED);
		} else {
			FZ_CHECK(memcmp(r->job_id.data, c->job_id.data, QL_JOB_ID_LEN) == 0);
			if (who == FZ_STRANGER)
				FZ_CHECK(strcmp(r->reason, "unknown-signer") == 0);
			if (r->status == QUELL__STATUS__STATUS_OK && !r->duplicate)
				FZ_CHECK(policy_allows(who, c));
			quell__command__free_unpacked(c, NULL);
		}
		ql_opened_fini(&mine);
	}

	quell__result__free_unpacked(r, NULL);
	ql_opened_fini(&o);
	free(before);
	free(after);
	free(out);
	free(env);
	free(repacked);
	return 0;
}
