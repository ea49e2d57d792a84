/*
 * test_lifecycle.c: mitigations on one host (agent/lifecycle.c), driven
 * through the executor in-process as test_exec.c does: a real config file,
 * a real store in a temporary directory, commands sealed with ephemeral
 * operator keys, and answers decoded with the coordinator's validating
 * decoder. What counts is what an operator would see: the files on the
 * host (a maintenance page, a JSON flag file), the rows in the store, the
 * events in each result and the events kept for the coordinator. The
 * fixture and helpers are in tlife.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "tlife.h"

/* ---- TTL --------------------------------------------------------------------------- */

static void test_ttl_expires(void **state)
{
	struct fixture *f = *state;
	struct job a;
	struct spec on = maint("on", "back soon", 60);
	int64_t t0 = ql_now();
	run(f, &on, f->carol, S_OK, "", &a);
	assert_int_equal(a.r->n_mitigations, 1);
	check_event(a.r->mitigations[0], a.id, ACTIVE, "created", NULL);
	assert_near(a.r->mitigations[0]->expires_at, t0 + 60);
	assert_page(f, "back soon\n");

	struct qa_mitigation m;
	assert_true(row(f, a.id, &m));
	assert_int_equal(m.state, QA_MIT_ACTIVE);
	assert_int_equal(m.expires_at, a.r->mitigations[0]->expires_at);
	assert_string_equal(m.action, "maintenance");
	assert_string_equal(m.handle, "site");
	assert_string_equal(m.undo, "{\"previous\":\"off\"}");
	assert_memory_equal(m.signer, f->carol->pk, QL_PUBKEY_LEN);
	int64_t next;
	assert_int_equal(qa_store_mit_next_expiry(f->store, &next), QL_OK);
	assert_int_equal(next, m.expires_at);
	assert_int_equal(kept_count(f), 0); /* the result carried it */

	/* Not yet due: nothing happens. */
	qa_life_expire(&f->x, m.expires_at - 1);
	assert_page(f, "back soon\n");
	check_row(f, a.id, QA_MIT_ACTIVE, "created");
	assert_int_equal(kept_count(f), 0);

	qa_life_expire(&f->x, m.expires_at + 1); /* about now + 61 */
	assert_page(f, NULL);
	check_row(f, a.id, QA_MIT_REVERTED, "expired");
	assert_true(row(f, a.id, &m));
	assert_false(m.has_by_job);
	struct kept k;
	kept_get(f, &k);
	assert_int_equal(k.n, 1);
	check_event(k.e[0], a.id, REVERTED, "expired", NULL);
	assert_int_equal(qa_store_events_ack(f->store, k.last), QL_OK);
	kept_fini(&k);
	assert_int_equal(kept_count(f), 0);

	/* Reverted once: a later pass finds nothing due. */
	qa_life_expire(&f->x, t0 + 3600);
	assert_int_equal(kept_count(f), 0);
	assert_int_equal(qa_store_mit_next_expiry(f->store, &next), QL_OK);
	assert_int_equal(next, 0);
	job_fini(&a);
}

static void test_ttl_policy(void **state)
{
	struct fixture *f = *state;
	struct job j;
	/* robot: max_ttl = 10m, require_ttl = yes. */
	struct spec on = maint("on", NULL, 3600);
	run(f, &on, f->robot, S_REJECTED, "ttl-too-long", &j);
	assert_non_null(strstr(j.r->detail, "robot"));
	assert_int_equal(j.r->n_mitigations, 0);
	job_fini(&j);
	on.ttl = 601;
	run1(f, &on, f->robot, S_REJECTED, "ttl-too-long");
	on.ttl = 0;
	run1(f, &on, f->robot, S_REJECTED, "ttl-required");
	assert_page(f, NULL);
	assert_int_equal(mit_count(f), 0);

	/* A TTL on what cannot be reverted means nothing: refused, from anyone. */
	struct spec ping = {.action = "ping", .ttl = 60};
	run1(f, &ping, f->robot, S_REJECTED, "bad-argument");
	run1(f, &ping, f->carol, S_REJECTED, "bad-argument");
	ping.ttl = 0; /* require_ttl is about reversible actions */
	run(f, &ping, f->robot, S_OK, "", &j);
	assert_string_equal(j.r->detail, "pong");
	job_fini(&j);

	/* At the limit is fine; turning it off is reversible too, so needs one as well. */
	on.ttl = 600;
	run(f, &on, f->robot, S_OK, "", &j);
	assert_page(f, "This service is down for maintenance.\n");
	struct spec off = maint("off", NULL, 0);
	run1(f, &off, f->robot, S_REJECTED, "ttl-required");
	assert_true(tu_exists(f->maint));
	/* An undo changes nothing new: it needs no TTL. */
	struct spec undo = about("undo", "site", j.hex, 0);
	run1(f, &undo, f->robot, S_OK, "");
	assert_page(f, NULL);
	check_row(f, j.id, QA_MIT_REVERTED, "undo");
	job_fini(&j);
	/* Without limits of its own, carol needs none. */
	on.ttl = 0;
	run(f, &on, f->carol, S_OK, "", &j);
	run1(f, &off, f->carol, S_OK, "");
	assert_page(f, NULL);
	check_row(f, j.id, QA_MIT_REVERTED, "ended");
	assert_int_equal(mit_count(f), 2);
	job_fini(&j);
}

/* A TTL belongs to its mitigation: taken over or ended, it no longer fires. */
static void test_ttl_after_takeover(void **state)
{
	struct fixture *f = *state;
	struct job a, b, c, d, e;
	struct spec on = maint("on", "first", 60);
	run(f, &on, f->carol, S_OK, "", &a);
	on.values[1] = "second";
	on.ttl = 300;
	run(f, &on, f->carol, S_OK, "", &b);
	struct qa_mitigation ma, mb;
	assert_true(row(f, a.id, &ma));
	assert_true(row(f, b.id, &mb));
	qa_life_expire(&f->x, ma.expires_at);
	assert_page(f, "second\n");
	check_row(f, a.id, QA_MIT_REPLACED, "replaced");
	assert_int_equal(kept_count(f), 0);
	qa_life_expire(&f->x, mb.expires_at);
	assert_page(f, NULL); /* the state before A */
	check_row(f, b.id, QA_MIT_REVERTED, "expired");
	struct kept k;
	kept_get(f, &k);
	assert_int_equal(k.n, 1);
	check_event(k.e[0], b.id, REVERTED, "expired", NULL);
	assert_int_equal(qa_store_events_ack(f->store, k.last), QL_OK);
	kept_fini(&k);

	/* C (TTL 60) ended by an off; then E, on without a TTL, must stay on. */
	on.values[1] = "third";
	on.ttl = 60;
	run(f, &on, f->carol, S_OK, "", &c);
	struct spec off = maint("off", NULL, 0);
	run(f, &off, f->carol, S_OK, "", &d);
	on.values[1] = "fourth";
	on.ttl = 0;
	run(f, &on, f->carol, S_OK, "", &e);
	qa_life_expire(&f->x, ql_now() + 3600);
	assert_page(f, "fourth\n");
	check_row(f, c.id, QA_MIT_REVERTED, "ended");
	check_row(f, e.id, QA_MIT_ACTIVE, "created");
	assert_int_equal(kept_count(f), 0);
	struct job *all[] = {&a, &b, &c, &d, &e};
	for (size_t i = 0; i < 5; i++)
		job_fini(all[i]);
}

/* ---- undo -------------------------------------------------------------------------- */

static void test_undo_flag(void **state)
{
	struct fixture *f = *state;
	struct job a, u, u2;
	struct spec off = flag("x", "off");
	run(f, &off, f->carol, S_OK, "", &a);
	assert_int_equal(a.r->n_mitigations, 1);
	check_event(a.r->mitigations[0], a.id, ACTIVE, "created", NULL);
	assert_int_equal(a.r->mitigations[0]->expires_at, 0);
	assert_int_equal(flag_value(f, "x"), 0);

	struct spec undo = about("undo", "flags", a.hex, 0);
	run(f, &undo, f->carol, S_OK, "", &u);
	assert_int_equal(flag_value(f, "x"), 1);
	assert_int_equal(flag_value(f, "y"), 1);
	assert_non_null(strstr(u.r->detail, "reverted: "));
	assert_int_equal(u.r->n_mitigations, 1);
	check_event(u.r->mitigations[0], a.id, REVERTED, "undo", u.id);
	check_row(f, a.id, QA_MIT_REVERTED, "undo");

	/* Again: nothing to do, and the state is told again. */
	run(f, &undo, f->carol, S_OK, "", &u2);
	assert_non_null(strstr(u2.r->detail, "already reverted"));
	assert_int_equal(u2.r->n_mitigations, 1);
	check_event(u2.r->mitigations[0], a.id, REVERTED, "undo", u.id);
	assert_int_equal(flag_value(f, "x"), 1);
	job_fini(&u2);

	/* A mitigation this host never had. */
	char unknown[2 * QL_JOB_ID_LEN + 1];
	memset(unknown, 'a', sizeof unknown - 1);
	unknown[sizeof unknown - 1] = '\0';
	undo = about("undo", "flags", unknown, 0);
	run(f, &undo, f->carol, S_OK, "", &u2);
	assert_non_null(strstr(u2.r->detail, "nothing to undo"));
	assert_int_equal(u2.r->n_mitigations, 0);
	assert_int_equal(kept_count(f), 0); /* every event went out in a result */
	job_fini(&u2);
	job_fini(&u);
	job_fini(&a);
}

static void test_undo_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct job a;
	struct spec off = flag("x", "off");
	run(f, &off, f->carol, S_OK, "", &a);
	char bad[40];
	struct spec undo = about("undo", "flags", bad, 0);

	snprintf(bad, sizeof bad, "%.31s", a.hex); /* 31 digits */
	run1(f, &undo, f->carol, S_REJECTED, "bad-argument");
	snprintf(bad, sizeof bad, "%s0", a.hex); /* 33 */
	run1(f, &undo, f->carol, S_REJECTED, "bad-argument");
	snprintf(bad, sizeof bad, "%s", a.hex);
	for (char *p = bad; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	if (strcmp(bad, a.hex) != 0) /* all digits: nothing to upper-case */
		run1(f, &undo, f->carol, S_REJECTED, "bad-argument");
	snprintf(bad, sizeof bad, "%.31sg", a.hex);
	run1(f, &undo, f->carol, S_REJECTED, "bad-argument");

	undo = about("undo", "flags", a.hex, 0);
	undo.keys[1] = "force";
	undo.values[1] = "yes";
	run1(f, &undo, f->carol, S_REJECTED, "bad-argument");
	undo = about("undo", "flags", a.hex, 0);
	undo.keys[0] = "id";
	run1(f, &undo, f->carol, S_REJECTED, "bad-argument");
	undo.keys[0] = NULL; /* none at all */
	run1(f, &undo, f->carol, S_REJECTED, "bad-argument");
	undo = about("undo", "flags", a.hex, 60);
	struct job j;
	run(f, &undo, f->carol, S_REJECTED, "bad-argument", &j);
	assert_string_equal(j.r->detail, "undo takes no TTL");
	job_fini(&j);

	/* None of that touched the mitigation. */
	assert_int_equal(flag_value(f, "x"), 0);
	check_row(f, a.id, QA_MIT_ACTIVE, "created");
	job_fini(&a);
}

static void test_undo_policy(void **state)
{
	struct fixture *f = *state;
	struct job a, b, j;
	struct spec off = flag("x", "off");
	run(f, &off, f->carol, S_OK, "", &a);

	/* bob may only ping: neither undo nor the flag action. */
	struct spec undo = about("undo", "flags", a.hex, 0);
	run1(f, &undo, f->bob, S_REJECTED, "denied");
	struct spec extend = about("extend", "flags", a.hex, 60);
	run1(f, &extend, f->bob, S_REJECTED, "denied");
	/* flagger may run flag on "flags", not on "site": asking there is denied. */
	struct spec elsewhere = about("undo", "site", a.hex, 0);
	run1(f, &elsewhere, f->flagger, S_REJECTED, "denied");
	assert_int_equal(flag_value(f, "x"), 0);
	check_row(f, a.id, QA_MIT_ACTIVE, "created");

	/* flagger may run flag there but has no `undo` rule: carol's mitigation is
	 * not its to take back (else a signer allowed one direction would get the
	 * other on everyone's mitigations) ... */
	run1(f, &undo, f->flagger, S_REJECTED, "denied");
	struct spec keep = about("extend", "flags", a.hex, 120);
	run1(f, &keep, f->flagger, S_REJECTED, "denied");
	assert_int_equal(flag_value(f, "x"), 0);
	/* ... but carol (undo allowed, via '*') may. */
	run(f, &undo, f->carol, S_OK, "", &j);
	assert_int_equal(flag_value(f, "x"), 1);
	check_event(j.r->mitigations[0], a.id, REVERTED, "undo", j.id);
	job_fini(&j);

	/* Allowed to do it, allowed to take it back: its own, without an `undo` rule. */
	struct spec offy = flag("y", "off");
	run(f, &offy, f->flagger, S_OK, "", &b);
	/* ... and to keep it longer, or bring the revert forward (its own). */
	extend = about("extend", "flags", b.hex, 120);
	run(f, &extend, f->flagger, S_OK, "", &j);
	check_event(j.r->mitigations[0], b.id, ACTIVE, "extend", j.id);
	job_fini(&j);
	undo = about("undo", "flags", b.hex, 0);
	run(f, &undo, f->flagger, S_OK, "", &j);
	check_event(j.r->mitigations[0], b.id, REVERTED, "undo", j.id);
	job_fini(&j);
	/* An id this host does not know gives nothing to go by: denied. */
	char unknown[2 * QL_JOB_ID_LEN + 1];
	memset(unknown, '0', sizeof unknown - 1);
	unknown[sizeof unknown - 1] = '\0';
	undo = about("undo", "flags", unknown, 0);
	run1(f, &undo, f->bob, S_REJECTED, "denied");
	job_fini(&b);
	job_fini(&a);
}

/* A revert that fails stays visible, and can be tried again. */
static void test_revert_failed(void **state)
{
	struct fixture *f = *state;
	struct job a, u;
	struct spec off = flag("x", "off");
	run(f, &off, f->carol, S_OK, "", &a);
	tu_write_str(f->flags, "[\"not\", \"an object\"]\n"); /* someone broke the file */
	struct spec undo = about("undo", "flags", a.hex, 0);
	run(f, &undo, f->carol, S_FAILED, "action-failed", &u);
	assert_int_equal(u.r->n_mitigations, 1);
	check_event(u.r->mitigations[0], a.id, QUELL__MITIGATION_STATE__MITIGATION_REVERT_FAILED,
	            "undo", u.id);
	check_row(f, a.id, QA_MIT_REVERT_FAILED, "undo");
	job_fini(&u);

	tu_write_str(f->flags, "{\"x\":false,\"y\":true}\n");
	run(f, &undo, f->carol, S_OK, "", &u);
	check_event(u.r->mitigations[0], a.id, REVERTED, "undo", u.id);
	assert_int_equal(flag_value(f, "x"), 1);
	job_fini(&u);
	job_fini(&a);
}

/* ---- extend ------------------------------------------------------------------------ */

static void test_extend(void **state)
{
	struct fixture *f = *state;
	struct job a, e, j;
	struct spec on = maint("on", NULL, 60);
	int64_t t0 = ql_now();
	run(f, &on, f->carol, S_OK, "", &a);

	struct spec extend = about("extend", "site", a.hex, 300);
	run(f, &extend, f->carol, S_OK, "", &e);
	assert_non_null(strstr(e.r->detail, "reverts at"));
	assert_int_equal(e.r->n_mitigations, 1);
	check_event(e.r->mitigations[0], a.id, ACTIVE, "extend", e.id);
	assert_near(e.r->mitigations[0]->expires_at, t0 + 300);
	struct qa_mitigation m;
	assert_true(row(f, a.id, &m));
	assert_int_equal(m.state, QA_MIT_ACTIVE);
	assert_string_equal(m.cause, "extend");
	assert_int_equal(m.expires_at, e.r->mitigations[0]->expires_at);
	/* The old expiry passes: nothing happens. */
	qa_life_expire(&f->x, t0 + 61);
	assert_true(tu_exists(f->maint));
	assert_int_equal(kept_count(f), 0);

	extend.ttl = 0;
	run1(f, &extend, f->carol, S_REJECTED, "bad-argument");
	/* robot may run maintenance on site, but this is carol's: robot may not
	 * bring its revert forward (that is an undo), nor push it (no extend rule). */
	extend.ttl = 120;
	run1(f, &extend, f->robot, S_REJECTED, "denied");
	extend.ttl = 3000;
	run1(f, &extend, f->robot, S_REJECTED, "denied");
	/* carol may, both ways. */
	extend.ttl = 120;
	run(f, &extend, f->carol, S_OK, "", &j);
	assert_near(j.r->mitigations[0]->expires_at, ql_now() + 120);
	job_fini(&j);

	struct spec undo = about("undo", "site", a.hex, 0);
	struct job u;
	run(f, &undo, f->carol, S_OK, "", &u);
	assert_page(f, NULL);
	extend.ttl = 60;
	run(f, &extend, f->carol, S_FAILED, "not-active", &j);
	assert_int_equal(j.r->n_mitigations, 1);
	check_event(j.r->mitigations[0], a.id, REVERTED, "undo", u.id);
	job_fini(&j);
	job_fini(&u);
	/* Nor one this host never had. */
	char unknown[2 * QL_JOB_ID_LEN + 1];
	memset(unknown, 'b', sizeof unknown - 1);
	unknown[sizeof unknown - 1] = '\0';
	extend = about("extend", "site", unknown, 60);
	run1(f, &extend, f->carol, S_FAILED, "not-active");
	assert_page(f, NULL);
	check_row(f, a.id, QA_MIT_REVERTED, "undo");
	job_fini(&e);
	job_fini(&a);
}

/* ---- a later action on the same thing ---------------------------------------------- */

static void test_replace_and_end(void **state)
{
	struct fixture *f = *state;
	struct job a, b, u, c, d;
	struct spec on = maint("on", "first", 0);
	run(f, &on, f->carol, S_OK, "", &a);
	on.values[1] = "second";
	run(f, &on, f->carol, S_OK, "", &b);
	assert_page(f, "second\n");
	/* B takes over: A is replaced, B restores the state from before both. */
	assert_int_equal(b.r->n_mitigations, 2);
	check_event(b.r->mitigations[0], a.id, REPLACED, "replaced", b.id);
	check_event(b.r->mitigations[1], b.id, ACTIVE, "created", NULL);
	check_row(f, a.id, QA_MIT_REPLACED, "replaced");
	struct qa_mitigation m;
	assert_true(row(f, b.id, &m));
	assert_int_equal(m.state, QA_MIT_ACTIVE);
	assert_string_equal(m.undo, "{\"previous\":\"off\"}");

	struct spec undo = about("undo", "site", b.hex, 0);
	run(f, &undo, f->carol, S_OK, "", &u);
	assert_page(f, NULL); /* not "first": the state before A */
	check_event(u.r->mitigations[0], b.id, REVERTED, "undo", u.id);
	job_fini(&u);
	/* A was taken over: undoing it is refused and names B. */
	undo = about("undo", "site", a.hex, 0);
	run(f, &undo, f->carol, S_FAILED, "not-active", &u);
	assert_non_null(strstr(u.r->detail, "taken over"));
	check_event(u.r->mitigations[0], a.id, REPLACED, "replaced", b.id);
	assert_page(f, NULL);
	job_fini(&u);

	/* maintenance off after on: the host is back at rest, C ended, D is nothing. */
	on.values[1] = "third";
	run(f, &on, f->carol, S_OK, "", &c);
	struct spec off = maint("off", NULL, 0);
	run(f, &off, f->carol, S_OK, "", &d);
	assert_page(f, NULL);
	assert_int_equal(d.r->n_mitigations, 1);
	check_event(d.r->mitigations[0], c.id, REVERTED, "ended", d.id);
	check_row(f, c.id, QA_MIT_REVERTED, "ended");
	assert_false(row(f, d.id, &m));
	assert_int_equal(mit_count(f), 3); /* A, B, C */
	assert_int_equal(kept_count(f), 0);
	job_fini(&a);
	job_fini(&b);
	job_fini(&c);
	job_fini(&d);
}

static void test_flags_independent(void **state)
{
	struct fixture *f = *state;
	struct job e, g, u;
	struct spec x = flag("x", "off"), y = flag("y", "off");
	run(f, &x, f->carol, S_OK, "", &e);
	run(f, &y, f->carol, S_OK, "", &g);
	/* Another flag of the same file is another thing: E is untouched. */
	assert_int_equal(g.r->n_mitigations, 1);
	check_event(g.r->mitigations[0], g.id, ACTIVE, "created", NULL);
	check_row(f, e.id, QA_MIT_ACTIVE, "created");
	check_row(f, g.id, QA_MIT_ACTIVE, "created");

	struct spec undo = about("undo", "flags", e.hex, 0);
	run(f, &undo, f->carol, S_OK, "", &u);
	assert_int_equal(u.r->n_mitigations, 1);
	assert_int_equal(flag_value(f, "x"), 1);
	assert_int_equal(flag_value(f, "y"), 0);
	check_row(f, g.id, QA_MIT_ACTIVE, "created");
	job_fini(&u);
	/* Setting y back by hand with the flag action ends G. */
	y.values[1] = "on";
	run(f, &y, f->carol, S_OK, "", &u);
	assert_int_equal(u.r->n_mitigations, 1);
	check_event(u.r->mitigations[0], g.id, REVERTED, "ended", u.id);
	assert_false(row(f, u.id, &(struct qa_mitigation){0}));
	job_fini(&u);
	job_fini(&e);
	job_fini(&g);
}

/* ---- nothing changes --------------------------------------------------------------- */

static void test_noop(void **state)
{
	struct fixture *f = *state;
	struct job j;
	struct spec off = maint("off", NULL, 60);
	run(f, &off, f->carol, S_OK, "", &j);
	assert_non_null(strstr(j.r->detail, "already off"));
	assert_int_equal(j.r->n_mitigations, 0);
	job_fini(&j);
	struct spec x = flag("x", "on");
	run(f, &x, f->carol, S_OK, "", &j);
	assert_non_null(strstr(j.r->detail, "already on"));
	assert_int_equal(j.r->n_mitigations, 0);
	job_fini(&j);
	assert_int_equal(mit_count(f), 0);
	assert_int_equal(kept_count(f), 0);
	int64_t next;
	assert_int_equal(qa_store_mit_next_expiry(f->store, &next), QL_OK);
	assert_int_equal(next, 0);
}

static void test_dry_run(void **state)
{
	struct fixture *f = *state;
	struct job j, g;
	struct spec on = maint("on", NULL, 60);
	on.dry_run = true;
	run(f, &on, f->carol, S_OK, "", &j);
	assert_non_null(strstr(j.r->detail, "would write"));
	assert_int_equal(j.r->n_mitigations, 0);
	job_fini(&j);
	struct spec x = flag("x", "off");
	x.dry_run = true;
	run1(f, &x, f->carol, S_OK, "");
	assert_page(f, NULL);
	assert_int_equal(flag_value(f, "x"), 1);
	assert_int_equal(mit_count(f), 0);

	on.dry_run = false;
	run(f, &on, f->carol, S_OK, "", &g);
	struct qa_mitigation before, after;
	assert_true(row(f, g.id, &before));
	struct spec undo = about("undo", "site", g.hex, 0);
	undo.dry_run = true;
	run(f, &undo, f->carol, S_OK, "", &j);
	if (strncmp(j.r->detail, "would", 5) != 0)
		fail_msg("dry-run undo said \"%s\"", j.r->detail);
	assert_int_equal(j.r->n_mitigations, 0);
	job_fini(&j);
	struct spec extend = about("extend", "site", g.hex, 300);
	extend.dry_run = true;
	run(f, &extend, f->carol, S_OK, "", &j);
	if (strncmp(j.r->detail, "would", 5) != 0)
		fail_msg("dry-run extend said \"%s\"", j.r->detail);
	job_fini(&j);
	assert_page(f, "This service is down for maintenance.\n");
	assert_true(row(f, g.id, &after));
	assert_int_equal(after.state, QA_MIT_ACTIVE);
	assert_int_equal(after.expires_at, before.expires_at);
	assert_int_equal(after.updated_at, before.updated_at);
	assert_int_equal(kept_count(f), 0);
	job_fini(&g);
}

/* ---- a crash, and the same job again ----------------------------------------------- */

static void put_row(struct fixture *f, const uint8_t *id, const char *action, const char *handle,
                    const char *resource, const char *undo, enum qa_mit_state st,
                    int64_t expires_at)
{
	struct qa_mitigation m;
	memset(&m, 0, sizeof m);
	memcpy(m.job_id, id, QL_JOB_ID_LEN);
	memcpy(m.signer, f->carol->pk, QL_PUBKEY_LEN);
	snprintf(m.action, sizeof m.action, "%s", action);
	snprintf(m.handle, sizeof m.handle, "%s", handle);
	snprintf(m.resource, sizeof m.resource, "%s", resource);
	snprintf(m.undo, sizeof m.undo, "%s", undo);
	m.created_at = m.updated_at = ql_now() - 10;
	m.expires_at = expires_at;
	m.state = st;
	if (st == QA_MIT_REVERTING)
		snprintf(m.cause, sizeof m.cause, "expired");
	assert_int_equal(qa_store_mit_put(f->store, &m), QL_OK);
}

static void test_recover(void **state)
{
	struct fixture *f = *state;
	/* P: carol's maintenance on, TTL 60. Intent and undo record were written,
	 * the page was written, then the agent died before the outcome. */
	struct job p;
	struct spec on = maint("on", "interrupted", 60);
	seal(&on, f->carol, &p);
	struct ql_opened o;
	assert_int_equal(
		ql_envelope_open(p.env, p.env_len, QL_KIND_BIT(QUELL__KIND__KIND_COMMAND), &o),
		QL_OK);
	uint8_t hash[QL_HASH_LEN];
	ql_body_hash(o.body, o.body_len, hash);
	ql_opened_fini(&o);
	struct qa_job_key key = {.signer = f->carol->pk, .job_id = p.id};
	assert_int_equal(qa_store_job_begin(f->store, &key, hash, ql_now() + 60), QL_OK);
	assert_int_equal(qa_store_job_set_undo(f->store, &key, "{\"previous\":\"off\"}"), QL_OK);
	int64_t expires = ql_now() + 60;
	put_row(f, p.id, "maintenance", "site", "maintenance:site", "{\"previous\":\"off\"}",
	        QA_MIT_PENDING, expires);
	tu_write_str(f->maint, "interrupted\n");

	/* R: flag x was off (its mitigation's change); a revert started, then the crash. */
	uint8_t r[QL_JOB_ID_LEN], q[QL_JOB_ID_LEN];
	randombytes_buf(r, sizeof r);
	randombytes_buf(q, sizeof q);
	tu_write_str(f->flags, "{\"x\":false,\"y\":true}\n");
	put_row(f, r, "flag", "flags", "flag:flags:x", "{\"flag\":\"x\",\"previous\":true}",
	        QA_MIT_REVERTING, 0);
	/* Q: pending on flag y, but the crash came before it changed anything. */
	put_row(f, q, "flag", "flags", "flag:flags:y", "{\"flag\":\"y\",\"previous\":true}",
	        QA_MIT_PENDING, 0);

	qa_life_recover(&f->x);
	assert_page(f, "interrupted\n"); /* the interrupted action's effect stays */
	struct qa_mitigation m;
	assert_true(row(f, p.id, &m));
	assert_int_equal(m.state, QA_MIT_ACTIVE);
	assert_int_equal(m.expires_at, expires); /* its TTL still applies */
	check_row(f, r, QA_MIT_REVERTED, "expired");
	assert_int_equal(flag_value(f, "x"), 1);
	assert_int_equal(flag_value(f, "y"), 1);
	assert_false(row(f, q, &m));

	struct kept k;
	kept_get(f, &k);
	assert_int_equal(k.n, 2);
	check_event(k.e[0], p.id, ACTIVE, "created", NULL);
	assert_int_equal(k.e[0]->expires_at, expires);
	check_event(k.e[1], r, REVERTED, "expired", NULL);
	assert_int_equal(qa_store_events_ack(f->store, k.last), QL_OK);
	kept_fini(&k);

	/* Recovering again finds nothing to do. */
	qa_life_recover(&f->x);
	assert_int_equal(kept_count(f), 0);

	/* The job redelivered: answered "interrupted", with what became of it. */
	deliver(f, &p);
	expect(&p, S_FAILED, "interrupted");
	assert_false(p.r->duplicate);
	assert_int_equal(p.r->n_mitigations, 1);
	check_event(p.r->mitigations[0], p.id, ACTIVE, "created", NULL);

	qa_life_expire(&f->x, expires);
	assert_page(f, NULL);
	check_row(f, p.id, QA_MIT_REVERTED, "expired");
	job_fini(&p);
}

/* The crash came while B took over A: recovery settles B as if it had finished. */
static void test_recover_takeover(void **state)
{
	struct fixture *f = *state;
	struct job a, u;
	struct spec on = maint("on", "first", 0);
	run(f, &on, f->carol, S_OK, "", &a);
	uint8_t b[QL_JOB_ID_LEN];
	randombytes_buf(b, sizeof b);
	put_row(f, b, "maintenance", "site", "maintenance:site",
	        "{\"previous\":\"on\",\"message\":\"first\"}", QA_MIT_PENDING, 0);
	tu_write_str(f->maint, "second\n");

	qa_life_recover(&f->x);
	assert_page(f, "second\n");
	check_row(f, a.id, QA_MIT_REPLACED, "replaced");
	struct qa_mitigation m;
	assert_true(row(f, b, &m));
	assert_int_equal(m.state, QA_MIT_ACTIVE);
	assert_string_equal(m.undo, "{\"previous\":\"off\"}");
	struct kept k;
	kept_get(f, &k);
	assert_int_equal(k.n, 2);
	check_event(k.e[0], a.id, REPLACED, "replaced", b);
	check_event(k.e[1], b, ACTIVE, "created", NULL);
	kept_fini(&k);

	char hex[2 * QL_JOB_ID_LEN + 1];
	ql_hex(b, sizeof b, hex);
	struct spec undo = about("undo", "site", hex, 0);
	run(f, &undo, f->carol, S_OK, "", &u);
	assert_page(f, NULL);
	job_fini(&u);
	job_fini(&a);
}

static void same_events(const Quell__Result *a, const Quell__Result *b)
{
	assert_int_equal(a->n_mitigations, b->n_mitigations);
	for (size_t i = 0; i < a->n_mitigations; i++) {
		const Quell__MitigationEvent *x = a->mitigations[i], *y = b->mitigations[i];
		assert_int_equal(x->mitigation.len, y->mitigation.len);
		assert_memory_equal(x->mitigation.data, y->mitigation.data, x->mitigation.len);
		assert_int_equal(x->state, y->state);
		assert_string_equal(x->cause, y->cause);
		assert_int_equal(x->expires_at, y->expires_at);
		assert_string_equal(x->detail, y->detail);
		assert_int_equal(x->at, y->at);
		assert_int_equal(x->by_job.len, y->by_job.len);
		if (x->by_job.len)
			assert_memory_equal(x->by_job.data, y->by_job.data, x->by_job.len);
	}
}

static void test_redelivery(void **state)
{
	struct fixture *f = *state;
	struct job a, b, u;
	struct spec on = maint("on", "first", 60);
	run(f, &on, f->carol, S_OK, "", &a);
	on.values[1] = "second";
	run(f, &on, f->carol, S_OK, "", &b);
	assert_int_equal(b.r->n_mitigations, 2);
	Quell__Result *first = b.r;
	b.r = NULL;
	deliver(f, &b);
	assert_true(b.r->duplicate);
	expect(&b, S_OK, "");
	same_events(first, b.r);
	quell__result__free_unpacked(first, NULL);

	/* An undo's answer too; and a redelivered undo does not revert again. */
	struct spec undo = about("undo", "site", b.hex, 0);
	run(f, &undo, f->carol, S_OK, "", &u);
	assert_page(f, NULL);
	tu_write_str(f->maint, "by hand\n");
	first = u.r;
	u.r = NULL;
	deliver(f, &u);
	assert_true(u.r->duplicate);
	same_events(first, u.r);
	assert_int_equal(u.r->n_mitigations, 1);
	check_event(u.r->mitigations[0], b.id, REVERTED, "undo", u.id);
	quell__result__free_unpacked(first, NULL);
	assert_page(f, "by hand\n");
	job_fini(&u);
	job_fini(&a);
	job_fini(&b);
}

/*
 * A takeover never shortens what it takes over: robot's 60 s TTL on top of
 * carol's mitigation without one does not end carol's; and the merged
 * mitigation is shared, so robot (no undo rule) cannot take it back.
 */
static void test_takeover_keeps_lifetime(void **state)
{
	struct fixture *f = *state;
	struct job a, b, u;
	struct spec on = maint("on", "carol's", 0);
	run(f, &on, f->carol, S_OK, "", &a);
	struct spec on2 = maint("on", "robot's", 60);
	run(f, &on2, f->robot, S_OK, "", &b);
	assert_page(f, "robot's\n");
	struct qa_mitigation m;
	assert_true(row(f, b.id, &m));
	assert_int_equal(m.state, QA_MIT_ACTIVE);
	assert_int_equal(m.expires_at, 0);
	assert_true(m.shared);
	check_row(f, a.id, QA_MIT_REPLACED, "replaced");
	qa_life_expire(&f->x, ql_now() + 61);
	assert_page(f, "robot's\n");
	struct spec undo = about("undo", "site", b.hex, 0);
	run1(f, &undo, f->robot, S_REJECTED, "denied");
	assert_page(f, "robot's\n");
	run(f, &undo, f->carol, S_OK, "", &u);
	assert_page(f, NULL); /* the state before both */
	job_fini(&u);
	job_fini(&b);
	job_fini(&a);
}

/* A command that changes nothing takes nothing over: the first one's TTL still holds. */
static void test_noop_keeps_ttl(void **state)
{
	struct fixture *f = *state;
	struct job a, b;
	struct spec off = flag("x", "off");
	off.ttl = 60;
	run(f, &off, f->carol, S_OK, "", &a);
	struct spec again = flag("x", "off");
	run(f, &again, f->carol, S_OK, "", &b);
	assert_int_equal(b.r->n_mitigations, 0);
	check_row(f, a.id, QA_MIT_ACTIVE, "created");
	qa_life_expire(&f->x, ql_now() + 61);
	assert_int_equal(flag_value(f, "x"), 1);
	check_row(f, a.id, QA_MIT_REVERTED, "expired");
	job_fini(&b);
	job_fini(&a);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ttl_expires),
		T(test_ttl_policy),
		T(test_ttl_after_takeover),
		T(test_undo_flag),
		T(test_undo_bad_arguments),
		T(test_undo_policy),
		T(test_revert_failed),
		T(test_extend),
		T(test_replace_and_end),
		T(test_flags_independent),
		T(test_noop),
		T(test_dry_run),
		T(test_recover),
		T(test_recover_takeover),
		T(test_redelivery),
		T(test_takeover_keeps_lifetime),
		T(test_noop_keeps_ttl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
