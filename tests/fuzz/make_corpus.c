/*
 * make_corpus.c: writes the seed corpora of tests/fuzz/corpus/ (run by hand,
 * never by ctest):
 *
 *     make_corpus tests/fuzz/corpus
 *
 * Output is deterministic (fixed keys from fuzz.h, fixed job ids and times),
 * so regenerating changes nothing unless this file changes. Each target gets
 * valid messages of every kind it handles plus a few hostile ones
 * (truncated, empty, lengths that run off the end).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"
#include "envelope.h"
#include "fuzz.h"

#define T0 1760000000
/* fuzz_exec's retime maps issued_at to now + issued_at % 200 - 100: this is "now". */
#define T_NOW (T0 + 100)

/* Must match fuzz_bodies.c's enum which. */
enum {
	W_HELLO,
	W_HEARTBEAT,
	W_COMMAND,
	W_RESULT,
	W_AGENT_REPLY,
	W_CONTROL,
	W_CONTROL_REPLY,
	W_SELECTOR,
	W_LABELS,
	W_TEXT,
	W_EVENTS
};
/* Must match fuzz_exec.c's first-byte bits. */
enum { X_ALICE = 0, X_BOB = 1, X_CAROL = 2, X_STRANGER = 3, X_RETIME = 0x04, X_RAW = 0x08 };

static char root[4096];
static struct ql_secret_key *keys[FZ__COUNT];

static void put(const char *target, const char *name, const void *a, size_t alen, const void *b,
                size_t blen)
{
	char path[8192];
	snprintf(path, sizeof path, "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || (alen && fwrite(a, 1, alen, f) != alen) ||
	    (blen && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* One prefix byte, then the payload. */
static void put1(const char *target, const char *name, uint8_t prefix, const void *p, size_t n)
{
	put(target, name, &prefix, 1, p, n);
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;
	if (ql_pack(m, &buf, len) != QL_OK)
		exit(1);
	return buf;
}

static uint8_t *seal(Quell__Kind kind, enum fz_key who, const uint8_t *body, size_t n, size_t *len)
{
	uint8_t *buf;
	if (ql_envelope_seal(kind, keys[who], body, n, &buf, len) != QL_OK)
		exit(1);
	return buf;
}

/* ---- messages -------------------------------------------------------------------- */

struct cmdspec {
	uint8_t id; /* job id: 16 bytes of this value */
	int64_t issued;
	const char *target, *action, *handle;
	const char *k1, *v1, *k2, *v2;
	bool dry_run;
};

static uint8_t *command(const struct cmdspec *s, size_t *len)
{
	uint8_t id[QL_JOB_ID_LEN];
	memset(id, s->id, sizeof id);
	Quell__Command c = QUELL__COMMAND__INIT;
	Quell__Arg a[2], *ap[2];
	size_t n = 0;
	if (s->k1) {
		quell__arg__init(&a[n]);
		a[n].key = (char *)s->k1;
		a[n].value = (char *)s->v1;
		ap[n] = &a[n];
		n++;
	}
	if (s->k2) {
		quell__arg__init(&a[n]);
		a[n].key = (char *)s->k2;
		a[n].value = (char *)s->v2;
		ap[n] = &a[n];
		n++;
	}
	c.job_id.data = id;
	c.job_id.len = QL_JOB_ID_LEN;
	c.issued_at = s->issued ? s->issued : T_NOW;
	c.expires_at = c.issued_at + 300;
	c.target = (char *)(s->target ? s->target : "all");
	c.action = (char *)s->action;
	c.handle = (char *)(s->handle ? s->handle : "");
	c.reason = "seed";
	c.args = ap;
	c.n_args = n;
	c.dry_run = s->dry_run;
	return pack(&c.base, len);
}

static uint8_t *hello(size_t *len)
{
	Quell__Label l[2] = {QUELL__LABEL__INIT, QUELL__LABEL__INIT}, *lp[2] = {&l[0], &l[1]};
	l[0].key = "role";
	l[0].value = "web";
	l[1].key = "dc";
	l[1].value = "east";
	char *actions[] = {"ping", "maintenance"};
	Quell__Hello h = QUELL__HELLO__INIT;
	h.hostname = "web-1";
	h.labels = lp;
	h.n_labels = 2;
	h.version = "0.1.0";
	h.time = T0;
	h.actions = actions;
	h.n_actions = 2;
	return pack(&h.base, len);
}

static uint8_t *heartbeat(size_t *len)
{
	Quell__Heartbeat h = QUELL__HEARTBEAT__INIT;
	h.hostname = "web-1";
	h.time = T0;
	h.seq = 42;
	return pack(&h.base, len);
}

static uint8_t *result(Quell__Status status, const char *reason, size_t *len)
{
	uint8_t id[QL_JOB_ID_LEN], hash[QL_HASH_LEN];
	memset(id, 0x11, sizeof id);
	memset(hash, 0x22, sizeof hash);
	Quell__Result r = QUELL__RESULT__INIT;
	r.job_id.data = id;
	r.job_id.len = sizeof id;
	r.hostname = "web-1";
	r.status = status;
	r.reason = (char *)reason;
	r.detail = status == QUELL__STATUS__STATUS_OK ? "pong" : "denied by policy";
	r.started_at = T0;
	r.finished_at = T0 + 1;
	r.command_hash.data = hash;
	r.command_hash.len = sizeof hash;
	return pack(&r.base, len);
}

static uint8_t *control(int which, const uint8_t *submit, size_t submit_len, size_t *len)
{
	uint8_t id[QL_JOB_ID_LEN];
	memset(id, 0x33, sizeof id);
	Quell__ControlRequest c;
	quell__control_request__init(&c);
	Quell__WatchRequest w = QUELL__WATCH_REQUEST__INIT;
	Quell__ListAgents la = QUELL__LIST_AGENTS__INIT;
	Quell__ListJobs lj = QUELL__LIST_JOBS__INIT;
	Quell__TimelineRequest tl = QUELL__TIMELINE_REQUEST__INIT;
	Quell__AuditVerify av = QUELL__AUDIT_VERIFY__INIT;
	c.issued_at = T0;
	if (which == 0) {
		c.req_case = QUELL__CONTROL_REQUEST__REQ_SUBMIT;
		c.submit.data = (uint8_t *)submit;
		c.submit.len = submit_len;
	} else if (which == 1) {
		w.job_id.data = id;
		w.job_id.len = sizeof id;
		w.cursor = 3;
		w.wait_ms = 5000;
		c.req_case = QUELL__CONTROL_REQUEST__REQ_WATCH;
		c.watch = &w;
	} else if (which == 2) {
		la.target = "role=web,dc=east|west";
		c.req_case = QUELL__CONTROL_REQUEST__REQ_AGENTS;
		c.agents = &la;
	} else if (which == 5 || which == 6) {
		tl.incident = "db-outage";
		tl.after = 41;
		tl.limit = which == 5 ? 1000 : 1001; /* 6: past QL_MAX_TIMELINE_PAGE */
		c.req_case = QUELL__CONTROL_REQUEST__REQ_TIMELINE;
		c.timeline = &tl;
	} else if (which == 7) {
		c.req_case = QUELL__CONTROL_REQUEST__REQ_AUDIT_VERIFY;
		c.audit_verify = &av;
	} else {
		lj.limit = which == 3 ? 20 : 201; /* 4: past QL_MAX_JOBS_LIST */
		c.req_case = QUELL__CONTROL_REQUEST__REQ_JOBS;
		c.jobs = &lj;
	}
	return pack(&c.base, len);
}

static uint8_t *agent_reply(Quell__AgentReply__Type type, const uint8_t *cmd, size_t cmd_len,
                            size_t *len)
{
	uint8_t id[QL_JOB_ID_LEN];
	memset(id, 0x44, sizeof id);
	Quell__AgentReply r = QUELL__AGENT_REPLY__INIT;
	r.type = type;
	if (cmd) {
		r.command.data = (uint8_t *)cmd;
		r.command.len = cmd_len;
		r.job_id.data = id;
		r.job_id.len = sizeof id;
	}
	if (type == QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED)
		r.error = "unknown agent key";
	return pack(&r.base, len);
}

static uint8_t *control_reply(size_t *len)
{
	uint8_t id[QL_JOB_ID_LEN];
	memset(id, 0x55, sizeof id);
	Quell__HostResult h = QUELL__HOST_RESULT__INIT, *hp = &h;
	h.hostname = "web-1";
	h.status = "rejected";
	h.reason = "denied";
	h.detail = "denied by policy";
	h.at = T0;
	Quell__Label l = QUELL__LABEL__INIT, *lp = &l;
	l.key = "role";
	l.value = "web";
	Quell__AgentInfo a = QUELL__AGENT_INFO__INIT, *ap = &a;
	a.hostname = "web-1";
	a.labels = &lp;
	a.n_labels = 1;
	a.version = "0.1.0";
	a.connected = true;
	a.last_seen = T0;
	char *targets[] = {"web-1", "web-2"};
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	r.ok = true;
	r.job_id.data = id;
	r.job_id.len = sizeof id;
	r.target_count = 2;
	r.results = &hp;
	r.n_results = 1;
	r.cursor = 1;
	r.agents = &ap;
	r.n_agents = 1;
	r.action = "maintenance";
	r.targets = targets;
	r.n_targets = 2;
	return pack(&r.base, len);
}

/* A `jobs` reply, or with watch's `job`; extra != 0: counts that do not add up. */
static uint8_t *jobs_reply(bool watch, uint32_t extra, size_t *len)
{
	uint8_t id[QL_JOB_ID_LEN], signer[QL_PUBKEY_LEN];
	memset(id, 0x66, sizeof id);
	memset(signer, 0x77, sizeof signer);
	Quell__Arg a = QUELL__ARG__INIT, *ap = &a;
	a.key = "mode";
	a.value = "on";
	Quell__JobInfo j = QUELL__JOB_INFO__INIT, *jp = &j;
	j.job_id.data = id;
	j.job_id.len = sizeof id;
	j.operator_name = "alice";
	j.signer.data = signer;
	j.signer.len = sizeof signer;
	j.action = "maintenance";
	j.handle = "site";
	j.target = "role=web";
	j.args = &ap;
	j.n_args = 1;
	j.reason = "INC-42";
	j.created_ms = (int64_t)T0 * 1000;
	j.state = "running";
	j.target_count = 5 + extra;
	j.ok = 2;
	j.rejected = 1;
	j.in_progress = 2;
	Quell__HostResult h = QUELL__HOST_RESULT__INIT, *hp = &h;
	h.hostname = "web-1";
	h.status = "ok";
	h.detail = "maintenance on";
	h.at = T0;
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	r.ok = true;
	if (watch) {
		r.job_id.data = id;
		r.job_id.len = sizeof id;
		r.target_count = j.target_count;
		r.results = &hp;
		r.n_results = 1;
		r.cursor = 1;
		r.action = "maintenance";
		r.job = &j;
	} else {
		r.jobs = &jp;
		r.n_jobs = 1;
	}
	return pack(&r.base, len);
}

/* A timeline page (a submit and a result, more to come) or, with audit, a
 * broken chain's report; hostile: a record with an escape sequence in its text. */
static uint8_t *audit_reply(bool audit, bool hostile, size_t *len)
{
	uint8_t id[QL_JOB_ID_LEN], head[QL_HASH_LEN];
	memset(id, 0x88, sizeof id);
	memset(head, 0x99, sizeof head);
	Quell__AuditRecord a = QUELL__AUDIT_RECORD__INIT, b = QUELL__AUDIT_RECORD__INIT;
	Quell__AuditRecord *recs[] = {&a, &b};
	a.seq = 42;
	a.at_ms = (int64_t)T0 * 1000 + 123;
	a.kind = "submit";
	a.incident = "db-outage";
	a.job_id.data = id;
	a.job_id.len = sizeof id;
	a.actor = "alice";
	a.text = "maintenance site mode=on target=role=web hosts=2 reason=\"INC-42\"";
	a.data = "{\"action\":\"maintenance\",\"handle\":\"site\",\"args\":{\"mode\":\"on\"}}";
	b = a;
	b.seq = 43;
	b.kind = "result";
	b.host = "web-1";
	b.actor = "web-1";
	b.text =
		hostile ? "ok: \x1b]0;pwned\x07" : "ok: maintenance on (/srv/www/maintenance.html)";
	b.data = "{\"status\":\"ok\",\"reason\":\"\",\"detail\":\"maintenance on\"}";
	Quell__AuditReport rep = QUELL__AUDIT_REPORT__INIT;
	rep.records = 1234;
	rep.first_bad = 17;
	rep.problem = "record 17 (result, 2025-10-09 08:53:20.123Z) does not match its hash";
	rep.head.data = head;
	rep.head.len = sizeof head;
	Quell__ControlReply r = QUELL__CONTROL_REPLY__INIT;
	r.ok = true;
	if (audit) {
		r.audit = &rep;
	} else {
		r.records = recs;
		r.n_records = 2;
		r.more = true;
	}
	return pack(&r.base, len);
}

/* Mitigation events: valid, or with one field made hostile. */
enum ev_edit { EV_OK, EV_ID_15, EV_STATE_0, EV_STATE_99, EV_65, EV_BAD_UTF8, EV_NONE };

/*
 * n events (2, or 65 for EV_65) into e/ep: a maintenance page that expired
 * and a flag whose undo failed (by a job), the second one edited.
 */
static size_t mit_events(enum ev_edit edit, Quell__MitigationEvent *e, Quell__MitigationEvent **ep)
{
	static uint8_t id[QL_JOB_ID_LEN], by[QL_JOB_ID_LEN];
	memset(id, 0xa1, sizeof id);
	memset(by, 0xb2, sizeof by);
	size_t n = edit == EV_65 ? QL_MAX_EVENTS + 1 : edit == EV_NONE ? 0 : 2;
	for (size_t i = 0; i < n; i++) {
		quell__mitigation_event__init(&e[i]);
		e[i].mitigation.data = id;
		e[i].mitigation.len = sizeof id;
		e[i].state = QUELL__MITIGATION_STATE__MITIGATION_REVERTED;
		e[i].cause = "expired";
		e[i].detail = "maintenance off (removed /srv/www/maintenance.html)";
		e[i].at = T0 + 60;
		ep[i] = &e[i];
	}
	if (n < 2)
		return n;
	e[1].state = QUELL__MITIGATION_STATE__MITIGATION_REVERT_FAILED;
	e[1].cause = "undo";
	e[1].detail = "cannot revert: flags checkout_v2: /srv/app/flags.json is not a JSON object";
	e[1].by_job.data = by;
	e[1].by_job.len = sizeof by;
	if (edit == EV_ID_15)
		e[1].mitigation.len = 15;
	else if (edit == EV_STATE_0)
		e[1].state = QUELL__MITIGATION_STATE__MITIGATION_UNSPECIFIED;
	else if (edit == EV_STATE_99)
		e[1].state = (Quell__MitigationState)99;
	else if (edit == EV_BAD_UTF8)
		e[1].detail = "flags x: on -> off \xc3\x28 \xed\xa0\x80";
	return n;
}

/* Agent -> coordinator: events no job caused. */
static uint8_t *agent_events(enum ev_edit edit, size_t *len)
{
	Quell__MitigationEvent e[QL_MAX_EVENTS + 1], *ep[QL_MAX_EVENTS + 1];
	Quell__AgentEvents a = QUELL__AGENT_EVENTS__INIT;
	a.hostname = "web-1";
	a.time = T0 + 61;
	a.n_events = mit_events(edit, e, ep);
	a.events = ep;
	return pack(&a.base, len);
}

/* The result of job 0xb2.. with what it did to mitigations: it took one over. */
static uint8_t *result_mitigations(enum ev_edit edit, size_t *len)
{
	Quell__MitigationEvent e[QL_MAX_EVENTS + 1], *ep[QL_MAX_EVENTS + 1];
	size_t n = mit_events(edit, e, ep);
	e[0].state = QUELL__MITIGATION_STATE__MITIGATION_REPLACED;
	e[0].cause = "replaced";
	e[0].by_job = e[1].by_job;
	if (edit == EV_OK) {
		e[1].state = QUELL__MITIGATION_STATE__MITIGATION_ACTIVE;
		e[1].cause = "created";
		e[1].expires_at = T0 + 600;
		e[1].detail = "maintenance";
		e[1].mitigation = e[1].by_job;
		e[1].by_job.len = 0;
	}
	Quell__Result r = QUELL__RESULT__INIT;
	r.job_id = e[0].by_job;
	r.hostname = "web-1";
	r.status = QUELL__STATUS__STATUS_OK;
	r.detail = "maintenance on (/srv/www/maintenance.html, replaced)";
	r.started_at = T0;
	r.finished_at = T0 + 1;
	r.mitigations = ep;
	r.n_mitigations = n;
	return pack(&r.base, len);
}

/* Rewrite fields of a sealed envelope (the attacker's edits). */
static uint8_t *edit(const uint8_t *env, size_t len, uint32_t version, int kind, size_t signer_len,
                     size_t *out_len)
{
	Quell__Envelope *e = quell__envelope__unpack(NULL, len, env);
	if (e == NULL)
		exit(1);
	if (version)
		e->version = version;
	if (kind >= 0)
		e->kind = (Quell__Kind)kind;
	if (signer_len)
		e->signer.len = signer_len;
	uint8_t *buf = pack(&e->base, out_len);
	quell__envelope__free_unpacked(e, NULL);
	return buf;
}

/* ---- the three corpora ------------------------------------------------------------ */

static const uint8_t huge_len[] = {0x2a, 0xff, 0xff, 0xff, 0xff, 0x0f, 'x'};
static const uint8_t endless_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static const struct cmdspec c_ping = {.id = 1, .action = "ping"};
static const struct cmdspec c_on = {.id = 2,
                                    .action = "maintenance",
                                    .handle = "site",
                                    .k1 = "mode",
                                    .v1 = "on",
                                    .k2 = "message",
                                    .v2 = "Back soon \xe2\x80\x94 ops"};
static const struct cmdspec c_off = {
	.id = 3, .action = "maintenance", .handle = "site", .k1 = "mode", .v1 = "off"};

static void envelope_corpus(void)
{
	size_t n, elen, mlen;
	uint8_t *b, *e, *m;

	b = hello(&n);
	e = seal(QUELL__KIND__KIND_HELLO, FZ_AGENT, b, n, &elen);
	put("envelope", "hello", e, elen, NULL, 0);
	free(b), free(e);
	b = heartbeat(&n);
	e = seal(QUELL__KIND__KIND_HEARTBEAT, FZ_AGENT, b, n, &elen);
	put("envelope", "heartbeat", e, elen, NULL, 0);
	free(b), free(e);
	e = seal(QUELL__KIND__KIND_HEARTBEAT, FZ_AGENT, NULL, 0, &elen);
	put("envelope", "heartbeat-empty-body", e, elen, NULL, 0);
	free(e);
	b = result(QUELL__STATUS__STATUS_OK, "", &n);
	e = seal(QUELL__KIND__KIND_RESULT, FZ_AGENT, b, n, &elen);
	put("envelope", "result-ok", e, elen, NULL, 0);
	/* A result relabelled as a command: must fail the signature. */
	m = edit(e, elen, 0, QUELL__KIND__KIND_COMMAND, 0, &mlen);
	put("envelope", "hostile-result-as-command", m, mlen, NULL, 0);
	free(b), free(e), free(m);
	b = result(QUELL__STATUS__STATUS_REJECTED, "denied", &n);
	e = seal(QUELL__KIND__KIND_RESULT, FZ_AGENT, b, n, &elen);
	put("envelope", "result-denied", e, elen, NULL, 0);
	free(b), free(e);

	const struct cmdspec *cmds[] = {&c_ping, &c_on, &c_off};
	const char *names[] = {"command-ping", "command-maintenance-on", "command-maintenance-off"};
	for (size_t i = 0; i < 3; i++) {
		b = command(cmds[i], &n);
		e = seal(QUELL__KIND__KIND_COMMAND, FZ_ALICE, b, n, &elen);
		put("envelope", names[i], e, elen, NULL, 0);
		if (i == 1) {
			uint8_t *c = control(0, e, elen, &mlen);
			uint8_t *ce = seal(QUELL__KIND__KIND_CONTROL, FZ_ALICE, c, mlen, &mlen);
			put("envelope", "control-submit", ce, mlen, NULL, 0);
			free(c), free(ce);
			/* hostile variants of a real command */
			put("envelope", "hostile-truncated", e, elen / 2, NULL, 0);
			put("envelope", "hostile-truncated-1", e, elen - 1, NULL, 0);
			m = edit(e, elen, 2, -1, 0, &mlen);
			put("envelope", "hostile-version-2", m, mlen, NULL, 0);
			free(m);
			m = edit(e, elen, 0, 99, 0, &mlen);
			put("envelope", "hostile-kind-99", m, mlen, NULL, 0);
			free(m);
			m = edit(e, elen, 0, -1, 31, &mlen);
			put("envelope", "hostile-signer-31", m, mlen, NULL, 0);
			free(m);
			e[elen - 1] ^= 0x01;
			put("envelope", "hostile-bad-signature", e, elen, NULL, 0);
		}
		free(b), free(e);
	}
	static const char *const ctl_names[] = {NULL, "control-watch", "control-agents",
	                                        "control-jobs"};
	for (int which = 1; which <= 3; which++) {
		b = control(which, NULL, 0, &n);
		e = seal(QUELL__KIND__KIND_CONTROL, FZ_ALICE, b, n, &elen);
		put("envelope", ctl_names[which], e, elen, NULL, 0);
		free(b), free(e);
	}
	static const struct {
		int which;
		const char *name;
	} audit_ctl[] = {{5, "control-timeline"}, {7, "control-audit-verify"}};
	for (size_t i = 0; i < 2; i++) {
		b = control(audit_ctl[i].which, NULL, 0, &n);
		e = seal(QUELL__KIND__KIND_CONTROL, FZ_ALICE, b, n, &elen);
		put("envelope", audit_ctl[i].name, e, elen, NULL, 0);
		free(b), free(e);
	}
	put("envelope", "hostile-empty", NULL, 0, NULL, 0);
	put("envelope", "hostile-huge-length", huge_len, sizeof huge_len, NULL, 0);
	put("envelope", "hostile-endless-varint", endless_varint, sizeof endless_varint, NULL, 0);
}

static void bodies_corpus(void)
{
	size_t n, elen;
	uint8_t *b, *e;

	b = hello(&n);
	put1("bodies", "hello", W_HELLO, b, n);
	put1("bodies", "hello-truncated", W_HELLO, b, n - 3);
	free(b);
	b = heartbeat(&n);
	put1("bodies", "heartbeat", W_HEARTBEAT, b, n);
	free(b);
	b = command(&c_ping, &n);
	put1("bodies", "command-ping", W_COMMAND, b, n);
	free(b);
	b = command(&c_on, &n);
	put1("bodies", "command-maintenance-on", W_COMMAND, b, n);
	put1("bodies", "command-truncated", W_COMMAND, b, n / 2);
	e = seal(QUELL__KIND__KIND_COMMAND, FZ_ALICE, b, n, &elen);
	free(b);
	b = agent_reply(QUELL__AGENT_REPLY__TYPE__TYPE_COMMAND, e, elen, &n);
	put1("bodies", "agent-reply-command", W_AGENT_REPLY, b, n);
	free(b);
	b = control(0, e, elen, &n);
	put1("bodies", "control-submit", W_CONTROL, b, n);
	free(b), free(e);
	b = agent_reply(QUELL__AGENT_REPLY__TYPE__TYPE_IDLE, NULL, 0, &n);
	put1("bodies", "agent-reply-idle", W_AGENT_REPLY, b, n);
	free(b);
	b = agent_reply(QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED, NULL, 0, &n);
	put1("bodies", "agent-reply-refused", W_AGENT_REPLY, b, n);
	free(b);
	b = result(QUELL__STATUS__STATUS_OK, "", &n);
	put1("bodies", "result-ok", W_RESULT, b, n);
	free(b);
	b = result(QUELL__STATUS__STATUS_REJECTED, "bad-signature", &n);
	put1("bodies", "result-rejected", W_RESULT, b, n);
	free(b);
	b = control(1, NULL, 0, &n);
	put1("bodies", "control-watch", W_CONTROL, b, n);
	free(b);
	b = control(2, NULL, 0, &n);
	put1("bodies", "control-agents", W_CONTROL, b, n);
	free(b);
	b = control_reply(&n);
	put1("bodies", "control-reply", W_CONTROL_REPLY, b, n);
	free(b);
	b = control(3, NULL, 0, &n);
	put1("bodies", "control-jobs", W_CONTROL, b, n);
	free(b);
	b = control(4, NULL, 0, &n);
	put1("bodies", "hostile-control-jobs-limit", W_CONTROL, b, n);
	free(b);
	b = jobs_reply(false, 0, &n);
	put1("bodies", "control-reply-jobs", W_CONTROL_REPLY, b, n);
	free(b);
	b = jobs_reply(true, 0, &n);
	put1("bodies", "control-reply-watch-job", W_CONTROL_REPLY, b, n);
	free(b);
	b = jobs_reply(false, 1, &n);
	put1("bodies", "hostile-control-reply-jobs-counts", W_CONTROL_REPLY, b, n);
	free(b);
	b = control(5, NULL, 0, &n);
	put1("bodies", "control-timeline", W_CONTROL, b, n);
	free(b);
	b = control(6, NULL, 0, &n);
	put1("bodies", "hostile-control-timeline-limit", W_CONTROL, b, n);
	free(b);
	b = control(7, NULL, 0, &n);
	put1("bodies", "control-audit-verify", W_CONTROL, b, n);
	free(b);
	b = audit_reply(false, false, &n);
	put1("bodies", "control-reply-timeline", W_CONTROL_REPLY, b, n);
	free(b);
	b = audit_reply(false, true, &n);
	put1("bodies", "hostile-control-reply-timeline-escape", W_CONTROL_REPLY, b, n);
	free(b);
	b = audit_reply(true, false, &n);
	put1("bodies", "control-reply-audit", W_CONTROL_REPLY, b, n);
	free(b);

	static const struct {
		enum ev_edit edit;
		const char *events, *result;
	} ev_seeds[] = {
		{EV_OK, "events", "result-mitigations"},
		{EV_ID_15, "hostile-events-id-15", "hostile-result-mitigation-id-15"},
		{EV_STATE_0, "hostile-events-state-0", "hostile-result-mitigation-state-0"},
		{EV_STATE_99, "hostile-events-state-99", NULL},
		{EV_65, "hostile-events-65", "hostile-result-mitigations-65"},
		{EV_BAD_UTF8, "hostile-events-bad-utf8", NULL},
		{EV_NONE, "hostile-events-none", NULL},
	};
	for (size_t i = 0; i < sizeof ev_seeds / sizeof ev_seeds[0]; i++) {
		b = agent_events(ev_seeds[i].edit, &n);
		put1("bodies", ev_seeds[i].events, W_EVENTS, b, n);
		if (i == 0)
			put1("bodies", "events-truncated", W_EVENTS, b, n - 7);
		free(b);
		if (ev_seeds[i].result == NULL)
			continue;
		b = result_mitigations(ev_seeds[i].edit, &n);
		put1("bodies", ev_seeds[i].result, W_RESULT, b, n);
		free(b);
	}

	static const char sel1[] = "role=web,dc=east|west";
	static const char sel2[] = "host=web-*\0web-1\0role=web,dc=east";
	static const char sel3[] = "host=db-*|web-?,role=web,";
	put1("bodies", "selector-terms", W_SELECTOR, sel1, sizeof sel1 - 1);
	put1("bodies", "selector-host-labels", W_SELECTOR, sel2, sizeof sel2 - 1);
	put1("bodies", "selector-malformed", W_SELECTOR, sel3, sizeof sel3 - 1);
	put1("bodies", "selector-all", W_SELECTOR, "all", 3);
	static const char lab1[] = "role=web,dc=east tier=front-end.v2";
	static const char lab2[] = "role=web,role=db,host=x";
	put1("bodies", "labels", W_LABELS, lab1, sizeof lab1 - 1);
	put1("bodies", "labels-duplicate", W_LABELS, lab2, sizeof lab2 - 1);
	static const char txt[] = "\x40"
				  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\ttab\n";
	static const char txt_bad[] = "\x40"
				      "\xed\xa0\x80 \xc0\xaf \x1b[31m";
	put1("bodies", "text-utf8", W_TEXT, txt, sizeof txt - 1);
	put1("bodies", "text-bad", W_TEXT, txt_bad, sizeof txt_bad - 1);

	put1("bodies", "hostile-empty-command", W_COMMAND, NULL, 0);
	put1("bodies", "hostile-huge-length-result", W_RESULT, huge_len, sizeof huge_len);
	put1("bodies", "hostile-huge-length-control-reply", W_CONTROL_REPLY, huge_len,
	     sizeof huge_len);
	put1("bodies", "hostile-endless-varint-hello", W_HELLO, endless_varint,
	     sizeof endless_varint);
}

static void exec_corpus(void)
{
	static const struct {
		const char *name;
		uint8_t mode;
		struct cmdspec c;
	} seeds[] = {
		{"ping-alice", X_ALICE | X_RETIME, {.id = 0x10, .action = "ping"}},
		{"ping-bob-host",
	         X_BOB | X_RETIME,
	         {.id = 0x11, .action = "ping", .target = "host=host-*,role=web"}},
		{"maintenance-on",
	         X_ALICE | X_RETIME,
	         {.id = 0x12,
	          .action = "maintenance",
	          .handle = "site",
	          .k1 = "mode",
	          .v1 = "on",
	          .k2 = "message",
	          .v2 = "Back soon"}},
		{"maintenance-off",
	         X_ALICE | X_RETIME,
	         {.id = 0x13,
	          .action = "maintenance",
	          .handle = "site",
	          .k1 = "mode",
	          .v1 = "off"}},
		{"maintenance-dry-run",
	         X_CAROL | X_RETIME,
	         {.id = 0x14,
	          .action = "maintenance",
	          .handle = "site",
	          .k1 = "mode",
	          .v1 = "on",
	          .dry_run = true}},
		{"denied-bob",
	         X_BOB | X_RETIME,
	         {.id = 0x15, .action = "maintenance", .handle = "site", .k1 = "mode", .v1 = "on"}},
		{"unknown-action", X_CAROL | X_RETIME, {.id = 0x16, .action = "reboot"}},
		{"unknown-handle",
	         X_CAROL | X_RETIME,
	         {.id = 0x17,
	          .action = "maintenance",
	          .handle = "nosuch",
	          .k1 = "mode",
	          .v1 = "on"}},
		{"bad-argument",
	         X_ALICE | X_RETIME,
	         {.id = 0x18,
	          .action = "maintenance",
	          .handle = "site",
	          .k1 = "mode",
	          .v1 = "maybe"}},
		{"not-targeted",
	         X_ALICE | X_RETIME,
	         {.id = 0x19, .action = "ping", .target = "role=db|cache"}},
		{"unknown-signer", X_STRANGER | X_RETIME, {.id = 0x1a, .action = "ping"}},
		{"expired", X_ALICE, {.id = 0x1b, .action = "ping"}},
		{"not-yet-valid",
	         X_ALICE | X_RETIME,
	         {.id = 0x1c, .action = "ping", .issued = T0 + 199}},
	};
	size_t n, elen;
	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		uint8_t *b = command(&seeds[i].c, &n);
		put1("exec", seeds[i].name, seeds[i].mode, b, n);
		if (i == 0) {
			/* Raw envelopes: signed with fixed times (so expired), and damaged. */
			uint8_t *e = seal(QUELL__KIND__KIND_COMMAND, FZ_ALICE, b, n, &elen);
			put1("exec", "raw-envelope", X_RAW, e, elen);
			put1("exec", "raw-truncated", X_RAW, e, elen - 5);
			e[elen - 1] ^= 0x20;
			put1("exec", "raw-bad-signature", X_RAW, e, elen);
			free(e);
		}
		free(b);
	}
	put1("exec", "raw-empty", X_RAW, NULL, 0);
	put1("exec", "raw-huge-length", X_RAW, huge_len, sizeof huge_len);
	put1("exec", "body-garbage", X_ALICE | X_RETIME, endless_varint, sizeof endless_varint);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_corpus CORPUS_DIR\n");
		return 2;
	}
	snprintf(root, sizeof root, "%s", argv[1]);
	for (int i = 0; i < FZ__COUNT; i++)
		keys[i] = fz_key((enum fz_key)i);
	envelope_corpus();
	bodies_corpus();
	exec_corpus();
	for (int i = 0; i < FZ__COUNT; i++)
		ql_key_free(keys[i]);
	return 0;
}
