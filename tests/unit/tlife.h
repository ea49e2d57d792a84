/*
 * tlife.h: the fixture and helpers of test_lifecycle.c, kept apart so the
 * test file reads as the scenarios it plays. An agent config with one
 * maintenance handle ("site") and one JSON flags handle ("flags"), four
 * signers with different policies, a real store; commands sealed and
 * delivered through the executor; the host's files, the store's rows and
 * the events kept for the coordinator read back.
 *
 * Header-only and static, like tutil.h. Include after the cmocka prelude.
 */
#ifndef QUELL_TLIFE_H
#define QUELL_TLIFE_H

#include <cjson/cJSON.h>
#include <sodium.h>
#include <sqlite3.h>

#include "codec.h"
#include "config.h"
#include "envelope.h"
#include "exec.h"
#include "lifecycle.h"
#include "log.h"
#include "store.h"
#include "tutil.h"

#define ACTIVE QUELL__MITIGATION_STATE__MITIGATION_ACTIVE
#define REVERTED QUELL__MITIGATION_STATE__MITIGATION_REVERTED
#define REPLACED QUELL__MITIGATION_STATE__MITIGATION_REPLACED
#define S_OK QUELL__STATUS__STATUS_OK
#define S_FAILED QUELL__STATUS__STATUS_FAILED
#define S_REJECTED QUELL__STATUS__STATUS_REJECTED

struct fixture {
	char *dir, *cfg_path, *maint, *flags;
	struct ql_secret_key *agent;
	struct ql_secret_key *carol;   /* '*' */
	struct ql_secret_key *robot;   /* ping, maintenance:site; max_ttl 10m, require_ttl */
	struct ql_secret_key *flagger; /* flag:flags only */
	struct ql_secret_key *bob;     /* ping only */
	struct qa_config *cfg;
	struct qa_store *store;
	struct qa_exec_env x;
};

static inline void write_config(struct fixture *f)
{
	char c[QL_PUBKEY_B64_LEN], r[QL_PUBKEY_B64_LEN], fl[QL_PUBKEY_B64_LEN],
		b[QL_PUBKEY_B64_LEN];
	ql_pubkey_format(f->carol->pk, c);
	ql_pubkey_format(f->robot->pk, r);
	ql_pubkey_format(f->flagger->pk, fl);
	ql_pubkey_format(f->bob->pk, b);
	char text[4096];
	snprintf(text, sizeof text,
	         "[agent]\nhostname = host-001\nlabels = role=web\n"
	         "coordinator = tcp://127.0.0.1:7400\nkey = %s/agent.key\n"
	         "state_dir = %s/state\nclock_skew = 30\n\n"
	         "[signer carol]\nkey = %s\nallow = *\n\n"
	         "[signer robot]\nkey = %s\nallow = ping, maintenance:site\n"
	         "max_ttl = 10m\nrequire_ttl = yes\n\n"
	         "[signer flagger]\nkey = %s\nallow = flag:flags\n\n"
	         "[signer bob]\nkey = %s\nallow = ping\n\n"
	         "[handle site]\ntype = maintenance\nfile = %s\n\n"
	         "[handle flags]\ntype = flags\nfile = %s\nformat = json\n",
	         f->dir, f->dir, c, r, fl, b, f->maint, f->flags);
	tu_write_str(f->cfg_path, text);
}

static inline int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(ql_crypto_init(), QL_OK);
	ql_log_init("test_lifecycle", QL_LOG_ERROR);
	f->dir = tu_mkdtemp();
	f->cfg_path = tu_path(f->dir, "agent.conf");
	f->maint = tu_path(f->dir, "maintenance.html");
	f->flags = tu_path(f->dir, "flags.json");
	tu_write_str(f->flags, "{\"x\":true,\"y\":true}\n");
	struct ql_secret_key **keys[] = {&f->agent, &f->carol, &f->robot, &f->flagger, &f->bob};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		assert_int_equal(ql_key_new_ephemeral(keys[i]), QL_OK);
	write_config(f);
	char why[1024] = "";
	f->cfg = qa_config_load(f->cfg_path, why, sizeof why);
	if (f->cfg == NULL)
		fail_msg("config: %s", why);
	assert_int_equal(qa_store_open(f->cfg->state_dir, &f->store), QL_OK);
	f->x = (struct qa_exec_env){.cfg = f->cfg, .key = f->agent, .store = f->store};
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;
	qa_store_close(f->store);
	qa_config_free(f->cfg);
	struct ql_secret_key *keys[] = {f->agent, f->carol, f->robot, f->flagger, f->bob};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		ql_key_free(keys[i]);
	tu_rmtree(f->dir);
	free(f->cfg_path);
	free(f->maint);
	free(f->flags);
	free(f);
	return 0;
}

/* ---- commands and answers ---------------------------------------------------------- */

struct spec {
	const char *action, *handle;
	const char *keys[4], *values[4];
	uint32_t ttl;
	bool dry_run;
};

/* A command sent, and the agent's decoded answer. */
struct job {
	uint8_t id[QL_JOB_ID_LEN];
	char hex[2 * QL_JOB_ID_LEN + 1]; /* the mitigation id undo/extend name */
	uint8_t *env;
	size_t env_len;
	Quell__Result *r;
};

static inline void job_fini(struct job *j)
{
	free(j->env);
	if (j->r)
		quell__result__free_unpacked(j->r, NULL);
	memset(j, 0, sizeof *j);
}

static inline void seal(const struct spec *sp, const struct ql_secret_key *signer, struct job *j)
{
	memset(j, 0, sizeof *j);
	randombytes_buf(j->id, sizeof j->id);
	ql_hex(j->id, sizeof j->id, j->hex);
	Quell__Command c = QUELL__COMMAND__INIT;
	Quell__Arg args[4], *argp[4];
	size_t n = 0;
	for (; n < 4 && sp->keys[n]; n++) {
		quell__arg__init(&args[n]);
		args[n].key = (char *)sp->keys[n];
		args[n].value = (char *)sp->values[n];
		argp[n] = &args[n];
	}
	c.job_id.data = j->id;
	c.job_id.len = sizeof j->id;
	c.issued_at = ql_now();
	c.expires_at = c.issued_at + 60;
	c.target = "all";
	c.action = (char *)sp->action;
	c.handle = (char *)(sp->handle ? sp->handle : "");
	c.reason = "unit test";
	c.args = argp;
	c.n_args = n;
	c.ttl_seconds = sp->ttl;
	c.dry_run = sp->dry_run;
	uint8_t *body;
	size_t body_len;
	assert_int_equal(ql_pack(&c.base, &body, &body_len), QL_OK);
	assert_int_equal(ql_envelope_seal(QUELL__KIND__KIND_COMMAND, signer, body, body_len,
	                                  &j->env, &j->env_len),
	                 QL_OK);
	free(body);
}

/* Deliver j's envelope (again); the answer replaces j->r. */
static inline void deliver(struct fixture *f, struct job *j)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	assert_int_equal(qa_exec(&f->x, j->env, j->env_len, NULL, &out, &out_len), QL_OK);
	struct ql_opened o;
	assert_int_equal(ql_envelope_open(out, out_len, QL_KIND_BIT(QUELL__KIND__KIND_RESULT), &o),
	                 QL_OK);
	assert_memory_equal(o.signer, f->agent->pk, QL_PUBKEY_LEN);
	if (j->r)
		quell__result__free_unpacked(j->r, NULL);
	j->r = NULL;
	assert_int_equal(ql_result_decode(o.body, o.body_len, &j->r), QL_OK);
	assert_memory_equal(j->r->job_id.data, j->id, QL_JOB_ID_LEN);
	ql_opened_fini(&o);
	free(out);
}

static inline void expect(const struct job *j, Quell__Status status, const char *reason)
{
	const Quell__Result *r = j->r;
	if (r->status != status || strcmp(r->reason, reason) != 0)
		fail_msg("%s: got status %d reason \"%s\" (%s), want status %d reason \"%s\"",
		         j->hex, r->status, r->reason, r->detail, status, reason);
}

/* Seal, deliver once, check status and reason. */
static inline void run(struct fixture *f, const struct spec *sp, const struct ql_secret_key *signer,
                       Quell__Status status, const char *reason, struct job *j)
{
	seal(sp, signer, j);
	deliver(f, j);
	assert_false(j->r->duplicate);
	expect(j, status, reason);
}

/* run() for a job whose answer needs no more checks than status and reason. */
static inline void run1(struct fixture *f, const struct spec *sp,
                        const struct ql_secret_key *signer, Quell__Status status,
                        const char *reason)
{
	struct job j;
	run(f, sp, signer, status, reason, &j);
	job_fini(&j);
}

/* undo or extend of mitigation `hex` on handle h. */
static inline struct spec about(const char *action, const char *h, const char *hex, uint32_t ttl)
{
	return (struct spec){
		.action = action, .handle = h, .keys = {"mitigation"}, .values = {hex}, .ttl = ttl};
}

static inline struct spec maint(const char *mode, const char *message, uint32_t ttl)
{
	return (struct spec){.action = "maintenance",
	                     .handle = "site",
	                     .keys = {"mode", message ? "message" : NULL},
	                     .values = {mode, message},
	                     .ttl = ttl};
}

static inline struct spec flag(const char *name, const char *value)
{
	return (struct spec){.action = "flag",
	                     .handle = "flags",
	                     .keys = {"name", "value"},
	                     .values = {name, value}};
}

/* ---- what the host and the store hold ---------------------------------------------- */

static inline void assert_near(int64_t got, int64_t want)
{
	if (got < want - 2 || got > want + 2)
		fail_msg("time %lld, want about %lld", (long long)got, (long long)want);
}

static inline void check_event(const Quell__MitigationEvent *e, const uint8_t *mitigation,
                               Quell__MitigationState state, const char *cause, const uint8_t *by)
{
	assert_int_equal(e->mitigation.len, QL_JOB_ID_LEN);
	assert_memory_equal(e->mitigation.data, mitigation, QL_JOB_ID_LEN);
	if (e->state != state || strcmp(e->cause, cause) != 0)
		fail_msg("event state %d cause \"%s\" (%s), want state %d cause \"%s\"", e->state,
		         e->cause, e->detail, state, cause);
	if (by == NULL) {
		assert_int_equal(e->by_job.len, 0);
	} else {
		assert_int_equal(e->by_job.len, QL_JOB_ID_LEN);
		assert_memory_equal(e->by_job.data, by, QL_JOB_ID_LEN);
	}
	if (state != ACTIVE)
		assert_int_equal(e->expires_at, 0);
	assert_near(e->at, ql_now());
}

/* The one row of mitigation `id`; false if there is none. */
static inline bool row(struct fixture *f, const uint8_t *id, struct qa_mitigation *out)
{
	struct qa_mitigation *rows = NULL;
	size_t n = 0;
	assert_int_equal(qa_store_mit_query(f->store, QA_MQ_BY_JOB, id, 0, &rows, &n), QL_OK);
	assert_true(n <= 1);
	if (n == 1)
		*out = rows[0];
	free(rows);
	return n == 1;
}

static inline void check_row(struct fixture *f, const uint8_t *id, enum qa_mit_state state,
                             const char *cause)
{
	struct qa_mitigation m;
	assert_true(row(f, id, &m));
	if (m.state != state || strcmp(m.cause, cause) != 0)
		fail_msg("row %s/%s (%s), want %s/%s", qa_mit_state_name(m.state), m.cause,
		         m.detail, qa_mit_state_name(state), cause);
}

static inline int mit_count(struct fixture *f)
{
	char *db = tu_path(f->cfg->state_dir, "agent.db");
	sqlite3 *h = NULL;
	sqlite3_stmt *q = NULL;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM mitigations", -1, &q, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	int n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(h);
	free(db);
	return n;
}

/* Events kept for the coordinator, as it will decode them. */
struct kept {
	size_t n;
	int64_t last;
	Quell__MitigationEvent *e[16];
	Quell__AgentEvents *all;
};

static inline void kept_one(void *arg, int64_t id, const uint8_t *ev, size_t len)
{
	struct kept *k = arg;
	assert_true(k->n < 16);
	k->e[k->n] = quell__mitigation_event__unpack(NULL, len, ev);
	assert_non_null(k->e[k->n]);
	k->n++;
	k->last = id;
}

static inline void kept_get(struct fixture *f, struct kept *k)
{
	memset(k, 0, sizeof *k);
	assert_int_equal(qa_store_events(f->store, 0, 16, kept_one, k), QL_OK);
	if (k->n == 0)
		return;
	/* What the agent sends: an AgentEvents, through the coordinator's decoder. */
	Quell__AgentEvents ae = QUELL__AGENT_EVENTS__INIT;
	ae.hostname = "host-001";
	ae.time = ql_now();
	ae.events = k->e;
	ae.n_events = k->n;
	uint8_t *buf;
	size_t len;
	assert_int_equal(ql_pack(&ae.base, &buf, &len), QL_OK);
	assert_int_equal(ql_events_decode(buf, len, &k->all), QL_OK);
	free(buf);
}

static inline void kept_fini(struct kept *k)
{
	for (size_t i = 0; i < k->n; i++)
		quell__mitigation_event__free_unpacked(k->e[i], NULL);
	if (k->all)
		quell__agent_events__free_unpacked(k->all, NULL);
}

static inline size_t kept_count(struct fixture *f)
{
	struct kept k;
	kept_get(f, &k);
	size_t n = k.n;
	kept_fini(&k);
	return n;
}

/* Flag `name` in the JSON flag file: 1 true, 0 false, -1 absent. */
static inline int flag_value(struct fixture *f, const char *name)
{
	char *text = tu_read(f->flags, NULL);
	assert_non_null(text);
	cJSON *o = cJSON_Parse(text);
	free(text);
	assert_non_null(o);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	int r = v == NULL ? -1 : cJSON_IsTrue(v) ? 1 : 0;
	if (v)
		assert_true(cJSON_IsBool(v));
	cJSON_Delete(o);
	return r;
}

static inline void assert_page(struct fixture *f, const char *want)
{
	char *text = tu_read(f->maint, NULL);
	if (want == NULL) {
		assert_null(text);
		return;
	}
	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
}

#endif
