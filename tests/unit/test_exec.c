/*
 * test_exec.c: the agent's executor end to end, in-process. A real config
 * file, a real store in a temporary directory, commands sealed with
 * ephemeral operator keys, and every answer checked the way the coordinator
 * would see it: a RESULT envelope signed by the agent, decoded with the
 * validating decoder, with the status and the stable reason code. Actions
 * that must not run are checked on disk (the maintenance file).
 *
 * Also the config loader's refusals: NULL, with "PATH:LINE: reason".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <sodium.h>
#include <sqlite3.h>

#include "codec.h"
#include "config.h"
#include "envelope.h"
#include "exec.h"
#include "log.h"
#include "store.h"
#include "tutil.h"

struct fixture {
	char *dir;
	char *cfg_path;
	char *maint; /* the maintenance file of handle "site" */
	struct ql_secret_key *agent;
	struct ql_secret_key *alice;    /* ping, maintenance:site */
	struct ql_secret_key *bob;      /* ping only */
	struct ql_secret_key *carol;    /* '*' */
	struct ql_secret_key *stranger; /* not in the config */
	struct qa_config *cfg;
	struct qa_store *store;
	struct qa_exec_env x;
};

static void write_config(struct fixture *f)
{
	char a[QL_PUBKEY_B64_LEN], b[QL_PUBKEY_B64_LEN];
	ql_pubkey_format(f->alice->pk, a);
	ql_pubkey_format(f->bob->pk, b);
	/* carol's key comes from a .pub file, to cover key_file. */
	char cpub[QL_PUBKEY_B64_LEN + 1];
	ql_pubkey_format(f->carol->pk, cpub);
	strcat(cpub, "\n");
	char *carol_pub = tu_path(f->dir, "carol.pub");
	tu_write_str(carol_pub, cpub);

	char text[4096];
	snprintf(text, sizeof text,
	         "; agent config written by test_exec\n"
	         "[agent]\n"
	         "hostname = host-001\n"
	         "labels = role=web,dc=east\n"
	         "coordinator = tcp://127.0.0.1:7400\n"
	         "key = %s/agent.key\n"
	         "state_dir = %s/state\n"
	         "clock_skew = 30\n"
	         "\n"
	         "[signer alice]\n"
	         "key = %s\n"
	         "allow = ping, maintenance:site\n"
	         "\n"
	         "[signer bob]\n"
	         "key = %s\n"
	         "allow = ping\n"
	         "\n"
	         "[signer carol]\n"
	         "key_file = %s\n"
	         "allow = *\n"
	         "\n"
	         "[handle site]\n"
	         "type = maintenance\n"
	         "file = %s\n",
	         f->dir, f->dir, a, b, carol_pub, f->maint);
	tu_write_str(f->cfg_path, text);
	free(carol_pub);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	assert_int_equal(ql_crypto_init(), QL_OK);
	ql_log_init("test_exec", QL_LOG_ERROR);
	f->dir = tu_mkdtemp();
	f->cfg_path = tu_path(f->dir, "agent.conf");
	char *www = tu_path(f->dir, "www");
	assert_int_equal(mkdir(www, 0755), 0);
	f->maint = tu_path(www, "maintenance.html");
	free(www);
	assert_int_equal(ql_key_new_ephemeral(&f->agent), QL_OK);
	assert_int_equal(ql_key_new_ephemeral(&f->alice), QL_OK);
	assert_int_equal(ql_key_new_ephemeral(&f->bob), QL_OK);
	assert_int_equal(ql_key_new_ephemeral(&f->carol), QL_OK);
	assert_int_equal(ql_key_new_ephemeral(&f->stranger), QL_OK);
	write_config(f);

	char why[1024] = "";
	f->cfg = qa_config_load(f->cfg_path, why, sizeof why);
	if (f->cfg == NULL)
		fail_msg("config: %s", why);
	assert_int_equal(qa_store_open(f->cfg->state_dir, &f->store), QL_OK);
	f->x.cfg = f->cfg;
	f->x.key = f->agent;
	f->x.store = f->store;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	qa_store_close(f->store);
	qa_config_free(f->cfg);
	ql_key_free(f->agent);
	ql_key_free(f->alice);
	ql_key_free(f->bob);
	ql_key_free(f->carol);
	ql_key_free(f->stranger);
	tu_rmtree(f->dir);
	free(f->cfg_path);
	free(f->maint);
	free(f);
	return 0;
}

/* ---- building commands ------------------------------------------------------------- */

struct spec {
	const char *target, *action, *handle, *reason;
	const char *arg_keys[4], *arg_values[4];
	int64_t issued_offset, lifetime; /* relative to now; lifetime 0 means 60 */
	const uint8_t *job_id;           /* NULL: random */
};

struct sealed {
	uint8_t job_id[QL_JOB_ID_LEN];
	uint8_t *body;
	size_t body_len;
	int64_t expires_at;
	uint8_t *env;
	size_t env_len;
};

static void sealed_fini(struct sealed *s)
{
	free(s->body);
	free(s->env);
	memset(s, 0, sizeof *s);
}

static void build(const struct spec *sp, const struct ql_secret_key *signer, struct sealed *out)
{
	memset(out, 0, sizeof *out);
	if (sp->job_id)
		memcpy(out->job_id, sp->job_id, QL_JOB_ID_LEN);
	else
		randombytes_buf(out->job_id, QL_JOB_ID_LEN);

	Quell__Command c = QUELL__COMMAND__INIT;
	Quell__Arg args[4], *argp[4];
	size_t n = 0;
	for (; n < 4 && sp->arg_keys[n]; n++) {
		quell__arg__init(&args[n]);
		args[n].key = (char *)sp->arg_keys[n];
		args[n].value = (char *)sp->arg_values[n];
		argp[n] = &args[n];
	}
	int64_t now = ql_now();
	c.job_id.data = out->job_id;
	c.job_id.len = QL_JOB_ID_LEN;
	c.issued_at = now + sp->issued_offset;
	c.expires_at = c.issued_at + (sp->lifetime ? sp->lifetime : 60);
	c.target = (char *)(sp->target ? sp->target : "all");
	c.action = (char *)sp->action;
	c.handle = (char *)(sp->handle ? sp->handle : "");
	c.reason = (char *)(sp->reason ? sp->reason : "unit test");
	c.args = argp;
	c.n_args = n;
	out->expires_at = c.expires_at;
	assert_int_equal(ql_pack(&c.base, &out->body, &out->body_len), QL_OK);
	assert_int_equal(ql_envelope_seal(QUELL__KIND__KIND_COMMAND, signer, out->body,
	                                  out->body_len, &out->env, &out->env_len),
	                 QL_OK);
}

/* ---- delivering and checking answers ----------------------------------------------- */

/*
 * Run the executor on raw bytes and return the decoded result. The answer
 * must always be a RESULT envelope signed by the agent's key.
 */
static Quell__Result *deliver(struct fixture *f, const uint8_t *env, size_t len, const uint8_t *tag)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	assert_int_equal(qa_exec(&f->x, env, len, tag, &out, &out_len), QL_OK);
	assert_non_null(out);

	struct ql_opened o;
	assert_int_equal(ql_envelope_open(out, out_len, QL_KIND_BIT(QUELL__KIND__KIND_RESULT), &o),
	                 QL_OK);
	assert_int_equal(o.kind, QUELL__KIND__KIND_RESULT);
	assert_memory_equal(o.signer, f->agent->pk, QL_PUBKEY_LEN);
	Quell__Result *r = NULL;
	assert_int_equal(ql_result_decode(o.body, o.body_len, &r), QL_OK);
	assert_string_equal(r->hostname, "host-001");
	assert_true(r->finished_at >= r->started_at);
	ql_opened_fini(&o);
	free(out);
	return r;
}

static void expect(const Quell__Result *r, Quell__Status status, const char *reason)
{
	if (r->status != status || strcmp(r->reason, reason) != 0)
		fail_msg("got status %d reason \"%s\" (%s), want status %d reason \"%s\"",
		         r->status, r->reason, r->detail, status, reason);
}

/* Deliver a sealed command; the result must name its job and body. */
static Quell__Result *deliver_cmd(struct fixture *f, const struct sealed *s)
{
	Quell__Result *r = deliver(f, s->env, s->env_len, NULL);
	assert_int_equal(r->job_id.len, QL_JOB_ID_LEN);
	assert_memory_equal(r->job_id.data, s->job_id, QL_JOB_ID_LEN);
	uint8_t hash[QL_HASH_LEN];
	ql_body_hash(s->body, s->body_len, hash);
	assert_int_equal(r->command_hash.len, QL_HASH_LEN);
	assert_memory_equal(r->command_hash.data, hash, QL_HASH_LEN);
	return r;
}

/* Build, deliver, check status and reason; returns whether the result was a duplicate. */
static void run_expect(struct fixture *f, const struct spec *sp, const struct ql_secret_key *signer,
                       Quell__Status status, const char *reason)
{
	struct sealed s;
	build(sp, signer, &s);
	Quell__Result *r = deliver_cmd(f, &s);
	expect(r, status, reason);
	assert_false(r->duplicate);
	quell__result__free_unpacked(r, NULL);
	sealed_fini(&s);
}

static int audit_count(struct fixture *f, const char *code)
{
	char *db = tu_path(f->cfg->state_dir, "agent.db");
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *q = NULL;
	assert_int_equal(
		sqlite3_prepare_v2(h, "SELECT count(*) FROM audit WHERE code = ?", -1, &q, NULL),
		SQLITE_OK);
	sqlite3_bind_text(q, 1, code, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	int n = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(h);
	free(db);
	return n;
}

static const struct spec ping = {.action = "ping"};
static const struct spec maint_on = {
	.action = "maintenance",
	.handle = "site",
	.arg_keys = {"mode", "message"},
	.arg_values = {"on", "Back at 14:00 UTC. \xe2\x80\x94 ops"},
};
static const struct spec maint_off = {
	.action = "maintenance",
	.handle = "site",
	.arg_keys = {"mode"},
	.arg_values = {"off"},
};

/* ---- the happy paths --------------------------------------------------------------- */

static void test_ping_ok(void **state)
{
	struct fixture *f = *state;
	struct sealed s;
	build(&ping, f->alice, &s);
	Quell__Result *r = deliver_cmd(f, &s);
	expect(r, QUELL__STATUS__STATUS_OK, "");
	assert_string_equal(r->detail, "pong");
	assert_false(r->duplicate);
	int64_t now = ql_now();
	assert_true(r->started_at <= now && r->started_at >= now - 60);
	quell__result__free_unpacked(r, NULL);
	sealed_fini(&s);

	/* Any allowed signer, any selector that names this host. */
	static const char *targets[] = {
		"all",      "host=host-001",         "host=host-*",
		"role=web", "role=web,dc=east|west", "dc=west|east,host=*-001"};
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		struct spec sp = ping;
		sp.target = targets[i];
		run_expect(f, &sp, f->bob, QUELL__STATUS__STATUS_OK, "");
	}
	assert_int_equal(audit_count(f, ""), 1 + (int)(sizeof targets / sizeof targets[0]));
}

static void test_maintenance_on_off(void **state)
{
	struct fixture *f = *state;
	assert_false(tu_exists(f->maint));
	run_expect(f, &maint_on, f->alice, QUELL__STATUS__STATUS_OK, "");
	char *text = tu_read(f->maint, NULL);
	assert_non_null(text);
	assert_string_equal(text, "Back at 14:00 UTC. \xe2\x80\x94 ops\n");
	free(text);
	struct stat st;
	assert_int_equal(stat(f->maint, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644); /* the web server must read it */

	/* On again with another message replaces it. */
	struct spec sp = maint_on;
	sp.arg_values[1] = "second";
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_OK, "");
	text = tu_read(f->maint, NULL);
	assert_string_equal(text, "second\n");
	free(text);

	run_expect(f, &maint_off, f->alice, QUELL__STATUS__STATUS_OK, "");
	assert_false(tu_exists(f->maint));
	/* Off when already off is still OK. */
	run_expect(f, &maint_off, f->alice, QUELL__STATUS__STATUS_OK, "");
	assert_false(tu_exists(f->maint));

	/* Dry run describes and touches nothing. */
	struct sealed s;
	build(&maint_on, f->alice, &s);
	Quell__Command *c;
	assert_int_equal(ql_command_decode(s.body, s.body_len, &c), QL_OK);
	c->dry_run = true;
	free(s.body);
	free(s.env);
	assert_int_equal(ql_pack(&c->base, &s.body, &s.body_len), QL_OK);
	quell__command__free_unpacked(c, NULL);
	assert_int_equal(ql_envelope_seal(QUELL__KIND__KIND_COMMAND, f->alice, s.body, s.body_len,
	                                  &s.env, &s.env_len),
	                 QL_OK);
	Quell__Result *r = deliver_cmd(f, &s);
	expect(r, QUELL__STATUS__STATUS_OK, "");
	assert_non_null(strstr(r->detail, "would write"));
	assert_false(tu_exists(f->maint));
	quell__result__free_unpacked(r, NULL);
	sealed_fini(&s);
}

/* ---- the validity window ----------------------------------------------------------- */

static void test_expired(void **state)
{
	struct fixture *f = *state;
	struct spec sp = maint_on;
	sp.issued_offset = -120;
	sp.lifetime = 60; /* expired 60 s ago, beyond the 30 s skew */
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_REJECTED, "expired");
	assert_false(tu_exists(f->maint));
	sp.issued_offset = -3600;
	sp.lifetime = 600;
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_REJECTED, "expired");
	/* Expired 10 s ago: within the skew, so it runs. */
	sp = ping;
	sp.issued_offset = -70;
	sp.lifetime = 60;
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_OK, "");
}

static void test_not_yet_valid(void **state)
{
	struct fixture *f = *state;
	struct spec sp = maint_on;
	sp.issued_offset = 120;
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_REJECTED, "not-yet-valid");
	assert_false(tu_exists(f->maint));
	/* 10 s in the future: within the skew. */
	sp = ping;
	sp.issued_offset = 10;
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_OK, "");
}

/* ---- who signed it ----------------------------------------------------------------- */

static void test_unknown_signer(void **state)
{
	struct fixture *f = *state;
	run_expect(f, &maint_on, f->stranger, QUELL__STATUS__STATUS_REJECTED, "unknown-signer");
	assert_false(tu_exists(f->maint));
	/* The agent signs its answers but is not an operator. */
	run_expect(f, &ping, f->agent, QUELL__STATUS__STATUS_REJECTED, "unknown-signer");
}

static void test_bad_signature(void **state)
{
	struct fixture *f = *state;
	struct sealed s;
	build(&maint_on, f->alice, &s);
	/* The body is the envelope's last field: the last byte is inside it. */
	s.env[s.env_len - 1] ^= 0x01;
	uint8_t tag[QL_JOB_ID_LEN];
	memset(tag, 0x5a, sizeof tag);

	Quell__Result *r = deliver(f, s.env, s.env_len, tag);
	expect(r, QUELL__STATUS__STATUS_REJECTED, "bad-signature");
	/* An unverified body is never trusted for its job id: the tag is echoed. */
	assert_memory_equal(r->job_id.data, tag, QL_JOB_ID_LEN);
	quell__result__free_unpacked(r, NULL);

	r = deliver(f, s.env, s.env_len, NULL);
	expect(r, QUELL__STATUS__STATUS_REJECTED, "bad-signature");
	static const uint8_t zero[QL_JOB_ID_LEN] = {0};
	assert_memory_equal(r->job_id.data, zero, QL_JOB_ID_LEN);
	quell__result__free_unpacked(r, NULL);
	assert_false(tu_exists(f->maint));

	/* Every single-byte flip of the body is refused, and nothing runs. */
	s.env[s.env_len - 1] ^= 0x01;
	for (size_t i = s.env_len - s.body_len; i < s.env_len; i++) {
		s.env[i] ^= 0x80;
		r = deliver(f, s.env, s.env_len, NULL);
		expect(r, QUELL__STATUS__STATUS_REJECTED, "bad-signature");
		quell__result__free_unpacked(r, NULL);
		s.env[i] ^= 0x80;
	}
	assert_false(tu_exists(f->maint));
	sealed_fini(&s);
}

/* ---- what it asks for -------------------------------------------------------------- */

static void test_not_targeted(void **state)
{
	struct fixture *f = *state;
	static const char *targets[] = {"role=db", "host=host-002", "host=web-*",
	                                "role=web,dc=west", "zone=*"};
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		struct spec sp = maint_on;
		sp.target = targets[i];
		run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_REJECTED, "not-targeted");
	}
	assert_false(tu_exists(f->maint));
}

static void test_denied(void **state)
{
	struct fixture *f = *state;
	/* bob may only ping. */
	run_expect(f, &maint_on, f->bob, QUELL__STATUS__STATUS_REJECTED, "denied");
	assert_false(tu_exists(f->maint));
	/* alice may use maintenance on "site" only, not on any other handle. */
	struct spec sp = maint_on;
	sp.handle = "other";
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_REJECTED, "denied");
	assert_int_equal(audit_count(f, "denied"), 2);
	assert_false(tu_exists(f->maint));
}

static void test_unknown_handle(void **state)
{
	struct fixture *f = *state;
	struct spec sp = maint_on;
	sp.handle = "nosuch";
	run_expect(f, &sp, f->carol, QUELL__STATUS__STATUS_REJECTED, "unknown-handle");
	/* An action without a handle given one. */
	sp = ping;
	sp.handle = "site";
	run_expect(f, &sp, f->carol, QUELL__STATUS__STATUS_REJECTED, "unknown-handle");
	/* A handle-taking action given none. */
	sp = maint_on;
	sp.handle = "";
	run_expect(f, &sp, f->carol, QUELL__STATUS__STATUS_REJECTED, "unknown-handle");
	assert_false(tu_exists(f->maint));
}

static void test_unknown_action(void **state)
{
	struct fixture *f = *state;
	struct spec sp = {.action = "reboot"};
	run_expect(f, &sp, f->carol, QUELL__STATUS__STATUS_REJECTED, "unknown-action");
	sp.handle = "site";
	run_expect(f, &sp, f->carol, QUELL__STATUS__STATUS_REJECTED, "unknown-action");
}

static void test_bad_argument(void **state)
{
	struct fixture *f = *state;
	struct spec sp = maint_on;
	sp.arg_values[0] = "maybe";
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_REJECTED, "bad-argument");
	sp = maint_on;
	sp.arg_keys[1] = "path"; /* not an argument of maintenance */
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_REJECTED, "bad-argument");
	sp = maint_on;
	sp.arg_keys[1] = "mode"; /* repeated */
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_REJECTED, "bad-argument");
	sp = maint_off;
	sp.arg_keys[1] = "message";
	sp.arg_values[1] = "x";
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_REJECTED, "bad-argument");
	sp = ping;
	sp.arg_keys[0] = "mode";
	sp.arg_values[0] = "on";
	run_expect(f, &sp, f->alice, QUELL__STATUS__STATUS_REJECTED, "bad-argument");
	assert_false(tu_exists(f->maint));
}

/* ---- bytes that are not a command -------------------------------------------------- */

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	uint8_t tag[QL_JOB_ID_LEN];
	memset(tag, 0x33, sizeof tag);
	static const uint8_t garbage[] = "this is not an envelope \xff\xfe\x00\x01";
	Quell__Result *r = deliver(f, garbage, sizeof garbage - 1, tag);
	expect(r, QUELL__STATUS__STATUS_REJECTED, "malformed");
	assert_memory_equal(r->job_id.data, tag, QL_JOB_ID_LEN);
	assert_int_equal(r->command_hash.len, 0);
	quell__result__free_unpacked(r, NULL);

	/* Nothing at all: version 0. */
	r = deliver(f, garbage, 0, tag);
	expect(r, QUELL__STATUS__STATUS_REJECTED, "version");
	quell__result__free_unpacked(r, NULL);

	/* Oversized. */
	uint8_t *big = calloc(1, QL_MAX_MSG + 1);
	assert_non_null(big);
	r = deliver(f, big, QL_MAX_MSG + 1, tag);
	expect(r, QUELL__STATUS__STATUS_REJECTED, "too-big");
	quell__result__free_unpacked(r, NULL);
	free(big);

	/* A well-signed body that is not a valid command (job id too short). */
	static const uint8_t not_cmd[] = {0x0a, 0x02, 0x01, 0x02};
	uint8_t *env;
	size_t len;
	assert_int_equal(ql_envelope_seal(QUELL__KIND__KIND_COMMAND, f->alice, not_cmd,
	                                  sizeof not_cmd, &env, &len),
	                 QL_OK);
	r = deliver(f, env, len, tag);
	expect(r, QUELL__STATUS__STATUS_REJECTED, "malformed");
	/* The body was authentic, so its hash is reported. */
	assert_int_equal(r->command_hash.len, QL_HASH_LEN);
	quell__result__free_unpacked(r, NULL);
	free(env);

	/* A signed RESULT (say, an agent's own answer) is not a command. */
	struct sealed s;
	build(&maint_on, f->alice, &s);
	assert_int_equal(ql_envelope_seal(QUELL__KIND__KIND_RESULT, f->alice, s.body, s.body_len,
	                                  &env, &len),
	                 QL_OK);
	r = deliver(f, env, len, NULL);
	expect(r, QUELL__STATUS__STATUS_REJECTED, "malformed");
	quell__result__free_unpacked(r, NULL);
	free(env);
	sealed_fini(&s);
	assert_false(tu_exists(f->maint));
}

/* ---- at most once ------------------------------------------------------------------ */

static void test_duplicate_delivery(void **state)
{
	struct fixture *f = *state;
	struct sealed s;
	build(&maint_on, f->alice, &s);
	Quell__Result *r1 = deliver_cmd(f, &s);
	expect(r1, QUELL__STATUS__STATUS_OK, "");
	assert_false(r1->duplicate);
	assert_true(tu_exists(f->maint));

	/* Someone turns maintenance off by hand; a redelivery must not turn it back on. */
	assert_int_equal(unlink(f->maint), 0);
	Quell__Result *r2 = deliver_cmd(f, &s);
	assert_true(r2->duplicate);
	expect(r2, r1->status, r1->reason);
	assert_string_equal(r2->detail, r1->detail);
	assert_int_equal(r2->finished_at, r1->finished_at);
	assert_false(tu_exists(f->maint));

	/* And again: still the recorded answer. */
	Quell__Result *r3 = deliver_cmd(f, &s);
	assert_true(r3->duplicate);
	expect(r3, QUELL__STATUS__STATUS_OK, "");
	assert_false(tu_exists(f->maint));
	quell__result__free_unpacked(r1, NULL);
	quell__result__free_unpacked(r2, NULL);
	quell__result__free_unpacked(r3, NULL);
	sealed_fini(&s);
}

static void test_rejection_is_recorded(void **state)
{
	struct fixture *f = *state;
	/* A denied job redelivered gets the same recorded answer. */
	struct sealed s;
	build(&maint_on, f->bob, &s);
	Quell__Result *r = deliver_cmd(f, &s);
	expect(r, QUELL__STATUS__STATUS_REJECTED, "denied");
	assert_false(r->duplicate);
	quell__result__free_unpacked(r, NULL);
	r = deliver_cmd(f, &s);
	expect(r, QUELL__STATUS__STATUS_REJECTED, "denied");
	assert_true(r->duplicate);
	quell__result__free_unpacked(r, NULL);
	sealed_fini(&s);
	assert_false(tu_exists(f->maint));
}

static void test_replayed_job_id(void **state)
{
	struct fixture *f = *state;
	struct sealed a, b;
	build(&maint_on, f->alice, &a);
	Quell__Result *r = deliver_cmd(f, &a);
	expect(r, QUELL__STATUS__STATUS_OK, "");
	quell__result__free_unpacked(r, NULL);
	assert_int_equal(unlink(f->maint), 0);

	/* Same job id, different body (another message), same signer. */
	struct spec sp = maint_on;
	sp.job_id = a.job_id;
	sp.arg_values[1] = "a different page";
	build(&sp, f->alice, &b);
	r = deliver_cmd(f, &b);
	expect(r, QUELL__STATUS__STATUS_REJECTED, "replayed");
	assert_false(r->duplicate);
	quell__result__free_unpacked(r, NULL);
	assert_false(tu_exists(f->maint));
	sealed_fini(&b);

	/* Job ids are per signer: carol's job with the same id is her own job. */
	build(&sp, f->carol, &b);
	r = deliver_cmd(f, &b);
	expect(r, QUELL__STATUS__STATUS_OK, "");
	assert_false(r->duplicate);
	quell__result__free_unpacked(r, NULL);
	assert_true(tu_exists(f->maint));
	assert_int_equal(unlink(f->maint), 0);
	sealed_fini(&b);

	/* The original is still answered from the store. */
	r = deliver_cmd(f, &a);
	expect(r, QUELL__STATUS__STATUS_OK, "");
	assert_true(r->duplicate);
	quell__result__free_unpacked(r, NULL);
	assert_false(tu_exists(f->maint));
	sealed_fini(&a);
}

static void test_job_ids_per_signer(void **state)
{
	struct fixture *f = *state;
	/* Bob (ping only) learns alice's job id and uses it first: he is denied,
	 * and alice's command still runs. */
	struct sealed a, b;
	build(&maint_on, f->alice, &a);
	struct spec sp = maint_on;
	sp.job_id = a.job_id;
	build(&sp, f->bob, &b);
	Quell__Result *r = deliver_cmd(f, &b);
	expect(r, QUELL__STATUS__STATUS_REJECTED, "denied");
	quell__result__free_unpacked(r, NULL);
	assert_false(tu_exists(f->maint));

	r = deliver_cmd(f, &a);
	expect(r, QUELL__STATUS__STATUS_OK, "");
	assert_false(r->duplicate);
	quell__result__free_unpacked(r, NULL);
	assert_true(tu_exists(f->maint));
	sealed_fini(&a);
	sealed_fini(&b);
}

static void test_interrupted(void **state)
{
	struct fixture *f = *state;
	struct sealed s;
	build(&maint_on, f->alice, &s);
	/* The agent recorded intent for this job, then died before the outcome. */
	uint8_t hash[QL_HASH_LEN];
	ql_body_hash(s.body, s.body_len, hash);
	struct qa_job_key key = {.signer = f->alice->pk, .job_id = s.job_id};
	assert_int_equal(qa_store_job_begin(f->store, &key, hash, s.expires_at), QL_OK);
	assert_int_equal(qa_store_job_begin(f->store, &key, hash, s.expires_at), QL_ERR_REPLAYED);

	/* The first answer is news to the coordinator: not a duplicate. */
	Quell__Result *r = deliver_cmd(f, &s);
	expect(r, QUELL__STATUS__STATUS_FAILED, "interrupted");
	assert_false(r->duplicate);
	assert_false(tu_exists(f->maint));
	quell__result__free_unpacked(r, NULL);

	/* The interrupted outcome is now final and stays so. */
	r = deliver_cmd(f, &s);
	expect(r, QUELL__STATUS__STATUS_FAILED, "interrupted");
	assert_true(r->duplicate);
	quell__result__free_unpacked(r, NULL);
	assert_false(tu_exists(f->maint));

	struct qa_job_record rec;
	assert_int_equal(qa_store_job_get(f->store, &key, &rec), QL_OK);
	assert_int_equal(rec.state, QA_JOB_DONE);
	assert_string_equal(rec.reason, "interrupted");
	sealed_fini(&s);
}

/* ---- config refusals --------------------------------------------------------------- */

struct bad_config {
	const char *text;
	int line; /* 0: a whole-file check, reported without a line */
	const char *reason;
};

#define AGENT_OK                                                                                   \
	"[agent]\nhostname = h1\ncoordinator = tcp://127.0.0.1:7400\nkey = /k\n"                   \
	"state_dir = /s\n"

static const struct bad_config bad_configs[] = {
	{"[agent]\nhostname = h1\nbogus = 1\n", 3, "unknown key 'bogus'"},
	{"[agent]\nhostname = -bad\n", 2, "not a valid host name"},
	{"[agent]\nhostname = h1\nlabels = host=x\n", 3, "labels must be"},
	{"[agent]\nlabels = role=web*\n", 2, "labels must be"},
	{"[agent]\nlabels = role=web,role=db\n", 2, "labels must be"},
	{"[agent]\ncoordinator = http://x\n", 2, "coordinator"},
	{"[agent]\nclock_skew = 9999\n", 2, "clock_skew"},
	{"[agent]\nclock_skew = 10s\n", 2, "clock_skew"},
	{"[agent]\nclock_skew = -1\n", 2, "clock_skew"},
	{AGENT_OK "[signer a]\nkey = not-a-key\n", 7, "not a base64"},
	{AGENT_OK "[signer a]\nkey_file = /nonexistent/quell/a.pub\n", 7, "cannot load"},
	{AGENT_OK "[signer a]\nallow = ping:\n", 7, "allow entries"},
	{AGENT_OK "[signer a]\nallow = rm -rf\n", 0, "no key"},
	{AGENT_OK "[signer a]\nallow = ../x\n", 7, "allow entries"},
	{AGENT_OK "[signer a]\nsecret = 1\n", 7, "unknown key 'secret'"},
	{AGENT_OK "[handle h]\ntype = shell\n", 7, "unknown type 'shell'"},
	{AGENT_OK "[handle h]\ntype = maintenance\nfile = relative.html\n", 8, "absolute path"},
	{AGENT_OK "[handle h]\ntype = maintenance\n", 0, "needs file"},
	{AGENT_OK "[handle h]\nfile = /x\n", 7, "type must be the first key"},
	{AGENT_OK "[handle h]\ntype = maintenance\ntype = flags\n", 8, "type is set twice"},
	{AGENT_OK "[handle h]\ntype = maintenance\nformat = json\n", 8,
         "a maintenance handle takes no 'format'"},
	{AGENT_OK "[handle h]\ntype = flags\nfile = /tmp/f\nformat = yaml\n", 9, "'json' or 'kv'"},
	{AGENT_OK "[handle h]\ntype = process\n", 0, "needs one of match_exe"},
	{AGENT_OK "[handle h]\ntype = process\nmatch_exe = /a\npidfile = /p\n", 0, "only one of"},
	{AGENT_OK "[handle h]\ntype = process\nmatch_exe = /a\nsignal = BOOM\n", 9,
         "signal must be"},
	{AGENT_OK "[handle h]\ntype = process\nmatch_exe = /a\nuser = no-such-user-q\n", 9,
         "no user named 'no-such-user-q'"},
	{AGENT_OK "[handle h]\ntype = flags\nfile = /tmp/f\nuser = root\n", 9,
         "a flags handle takes no 'user'"},
	{AGENT_OK "[handle h]\ntype = process\nmatch_exe = /a\ngrace = 9999\n", 9, "from 0 to 600"},
	{AGENT_OK "[handle h]\ntype = process\nmatch_exe = /a\ngrace = 5s\n", 9, "whole number"},
	{AGENT_OK "[handle h]\ntype = worker\nstop = /bin/true\n", 0, "both stop and start"},
	{AGENT_OK "[handle h]\ntype = worker\n", 0, "exactly one of"},
	{AGENT_OK "[handle h]\ntype = service\nrestart = systemctl restart x\n", 8,
         "absolute path of a program"},
	{AGENT_OK "[handle h]\ntype = service\nrestart = \"/bin/x\n", 8, "unterminated"},
	{AGENT_OK "[handle h]\ntype = service\nport = 70000\nrestart = /bin/x\n", 8, "1 to 65535"},
	{AGENT_OK "[handle h]\ntype = service\nrestart = /nonexistent/quell/restart-it\n", 8,
         "restart: /nonexistent/quell/restart-it: No such file or directory"},
	{AGENT_OK "[handle h]\ntype = release\ndir = /tmp\nlink = /tmp/l\nreload = /dev/null\n", 10,
         "reload: /dev/null: Permission denied"},
	{AGENT_OK "[handle h]\ntype = service\n", 0, "restart = ARGV"},
	{AGENT_OK "[handle h]\ntype = release\ndir = /tmp\n", 0, "needs dir = PATH and link"},
	{AGENT_OK "[handle h]\ntype = release\ndir = /nonexistent/quell/releases\n", 8,
         "dir: directory /nonexistent/quell/releases: No such file or directory"},
	{AGENT_OK "[handle h]\ntype = maintenance\nfile = /nonexistent/quell/www/m.html\n", 8,
         "file: directory /nonexistent/quell/www: No such file or directory"},
	{AGENT_OK "[handle h]\ntype = instances\ncommand = /bin/echo -p 1\nport_base = 2000\n", 0,
         "must use {i} or {port}"},
	{AGENT_OK "[handle h]\ntype = instances\ncommand = /bin/echo -p {pid}\nport_base = 2000\n",
         0, "only {i} and {port}"},
	{AGENT_OK "[handle h]\ntype = instances\ncommand = /bin/echo -p {port}\n", 0, "port_base"},
	{AGENT_OK "[bogus]\nx = 1\n", 7, "unknown section [bogus]"},
	{AGENT_OK "[signer bad name]\nkey = x\n", 7, "unknown section"},
	{AGENT_OK "this line has no equals sign\n", 6, "syntax error"},
	{"[agent]\nhostname = h1\nkey = /k\nstate_dir = /s\n", 0, "coordinator is required"},
	{"[agent]\nhostname = h1\ncoordinator = tcp://127.0.0.1:1\nstate_dir = /s\n", 0,
         "key is required"},
	{"[agent]\nhostname = h1\ncoordinator = tcp://127.0.0.1:1\nkey = /k\n", 0,
         "state_dir is required"},
};

static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	char *path = tu_path(f->dir, "bad.conf");
	for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
		const struct bad_config *b = &bad_configs[i];
		unlink(path);
		tu_write_str(path, b->text);
		char why[1024] = "";
		struct qa_config *cfg = qa_config_load(path, why, sizeof why);
		if (cfg != NULL) {
			qa_config_free(cfg);
			fail_msg("config #%zu was accepted:\n%s", i, b->text);
		}
		char where[4200];
		if (b->line)
			snprintf(where, sizeof where, "%s:%d: ", path, b->line);
		else
			snprintf(where, sizeof where, "%s: ", path);
		if (strncmp(why, where, strlen(where)) != 0 || strstr(why, b->reason) == NULL)
			fail_msg("config #%zu: message \"%s\", want prefix \"%s\" and \"%s\"", i,
			         why, where, b->reason);
	}
	unlink(path);

	char why[1024] = "";
	assert_null(qa_config_load(path, why, sizeof why));
	assert_non_null(strstr(why, "cannot read"));
	assert_non_null(strstr(why, path));
	free(path);
}

static void test_config_loaded(void **state)
{
	struct fixture *f = *state;
	const struct qa_config *c = f->cfg;
	assert_string_equal(c->hostname, "host-001");
	assert_int_equal(c->n_labels, 2);
	assert_string_equal(c->labels[0].key, "role");
	assert_string_equal(c->labels[1].value, "east");
	assert_int_equal(c->n_coordinators, 1);
	assert_string_equal(c->coordinators[0], "tcp://127.0.0.1:7400");
	assert_int_equal(c->clock_skew, 30);
	assert_int_equal(c->n_signers, 3);
	const struct qa_signer *s = qa_config_signer(c, f->carol->pk);
	assert_non_null(s);
	assert_string_equal(s->name, "carol");
	s = qa_config_signer(c, f->alice->pk);
	assert_non_null(s);
	assert_int_equal(s->n_rules, 2);
	assert_string_equal(s->rules[0].action, "ping");
	assert_string_equal(s->rules[0].handle, "*");
	assert_string_equal(s->rules[1].action, "maintenance");
	assert_string_equal(s->rules[1].handle, "site");
	assert_null(qa_config_signer(c, f->stranger->pk));
	const struct qa_handle *h = qa_config_handle(c, "site");
	assert_non_null(h);
	assert_int_equal(h->type, QA_HANDLE_MAINTENANCE);
	assert_string_equal(h->file, f->maint);
	assert_null(qa_config_handle(c, "nosuch"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ping_ok),
		T(test_maintenance_on_off),
		T(test_expired),
		T(test_not_yet_valid),
		T(test_unknown_signer),
		T(test_bad_signature),
		T(test_not_targeted),
		T(test_denied),
		T(test_unknown_handle),
		T(test_unknown_action),
		T(test_bad_argument),
		T(test_malformed),
		T(test_duplicate_delivery),
		T(test_rejection_is_recorded),
		T(test_replayed_job_id),
		T(test_job_ids_per_signer),
		T(test_interrupted),
		T(test_config_errors),
		T(test_config_loaded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
