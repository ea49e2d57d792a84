/*
 * test_rules_config.c: the coordinator's [automation] and [rule NAME]
 * sections. A good config loads with every value where it belongs; each
 * mistake an operator could make is refused with the file, the line and a
 * reason, and the coordinator would not start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include "config.h"
#include "rules.h"
#include "tutil.h"

static const char base[] = "[coordinator]\n"
			   "agent_listen = tcp://127.0.0.1:7400\n"
			   "control_listen = tcp://127.0.0.1:7401\n"
			   "state_dir = /tmp/quell-test-state\n";

/* Load base + text; NULL and the reason in why when refused. */
static struct qc_config *load(const char *text, char *why, size_t whylen)
{
	char *dir = tu_mkdtemp();
	char *path = tu_path(dir, "coordinator.conf");
	char all[8192];
	snprintf(all, sizeof all, "%s%s", base, text);
	tu_write(path, all, strlen(all));
	why[0] = '\0';
	struct qc_config *cfg = qc_config_load(path, why, whylen);
	free(path);
	tu_rmtree(dir);
	return cfg;
}

static void refused(const char *text, const char *want)
{
	char why[512];
	struct qc_config *cfg = load(text, why, sizeof why);
	if (cfg != NULL || strstr(why, want) == NULL)
		fail_msg("config\n%s\nwas %s with '%s'; expected a refusal saying '%s'", text,
		         cfg ? "accepted" : "refused", why, want);
}

static const char good[] = "[automation]\n"
			   "key = /etc/quell/automation.key\n"
			   "window = 30m\n"
			   "max_actions = 4\n"
			   "[rule web-down]\n"
			   "when = fleet\n"
			   "check = http\n"
			   "target = role=web\n"
			   "threshold = 40%\n"
			   "for = 90s\n"
			   "action = maintenance\n"
			   "handle = site\n"
			   "arg.mode = on\n"
			   "arg.message = We are on it, back soon\n"
			   "ttl = 15m\n"
			   "cooldown = 20m\n"
			   "max_hosts = 3\n"
			   "incident = web-auto\n"
			   "[rule page]\n"
			   "when = alert\n"
			   "alert = HighErrorRate\n"
			   "labels = severity=page, team=checkout\n"
			   "action = pause\n"
			   "handle = worker\n"
			   "ttl = 5m\n";

static void test_good(void **state)
{
	(void)state;
	char why[512];
	struct qc_config *cfg = load(good, why, sizeof why);
	if (cfg == NULL)
		fail_msg("refused: %s", why);
	const struct qc_automation_config *a = cfg->automation;
	assert_non_null(a);
	assert_string_equal(a->key_path, "/etc/quell/automation.key");
	assert_int_equal(a->window_s, 1800);
	assert_int_equal(a->max_actions, 4);
	assert_int_equal(a->n_rules, 2);
	const struct qc_rule_config *r = &a->rules[0];
	assert_string_equal(r->name, "web-down");
	assert_int_equal(r->kind, QC_RULE_FLEET);
	assert_string_equal(r->check, "http");
	assert_string_equal(r->target, "role=web");
	assert_int_equal(r->threshold, 40);
	assert_true(r->threshold_pct);
	assert_int_equal(r->for_s, 90);
	assert_string_equal(r->action, "maintenance");
	assert_string_equal(r->handle, "site");
	assert_int_equal(r->n_args, 2);
	assert_string_equal(r->args[1].key, "message");
	assert_string_equal(r->args[1].value, "We are on it, back soon");
	assert_int_equal(r->ttl, 900);
	assert_int_equal(r->cooldown_s, 1200);
	assert_int_equal(r->max_hosts, 3);
	assert_string_equal(r->incident, "web-auto");
	r = &a->rules[1];
	assert_int_equal(r->kind, QC_RULE_ALERT);
	assert_string_equal(r->alert, "HighErrorRate");
	assert_int_equal(r->n_labels, 2);
	assert_string_equal(r->labels[1].key, "team");
	assert_string_equal(r->labels[1].value, "checkout");
	/* defaults */
	assert_int_equal(r->cooldown_s, 600);
	assert_int_equal(r->max_hosts, 16);
	qc_config_free(cfg);

	/* No automation at all is fine too. */
	cfg = load("", why, sizeof why);
	assert_non_null(cfg);
	assert_null(cfg->automation);
	qc_config_free(cfg);
}

#define RULE "[automation]\nkey = /k\n[rule r]\n"

static void test_refused(void **state)
{
	(void)state;
	refused("[rule r]\nwhen = local\ncheck = x\naction = ping\nttl = 1m\n",
	        "[automation] key is required");
	refused(RULE "when = sometimes\n", "when is local, fleet or alert");
	refused(RULE "check = x\naction = maintenance\nttl = 1m\n", "when = local|fleet|alert");
	refused(RULE "when = local\ncheck = x\naction = maintenance\n", "ttl is required");
	refused(RULE "when = local\naction = maintenance\nttl = 1m\n", "check is required");
	refused(RULE "when = fleet\ncheck = x\naction = maintenance\nttl = 1m\n",
	        "threshold is required");
	refused(RULE "when = alert\naction = maintenance\nttl = 1m\n", "alert is required");
	refused(RULE "when = alert\nalert = A\ncheck = x\naction = m\nttl = 1m\n",
	        "takes no check");
	refused(RULE "when = local\ncheck = x\nalert = A\naction = m\nttl = 1m\n",
	        "go with when = alert");
	refused(RULE "when = local\ncheck = x\nttl = 1m\n", "action is required");
	refused(RULE "threshold = 101%\n", "threshold is");
	refused(RULE "threshold = 0\n", "threshold is");
	refused(RULE "threshold = -3\n", "threshold is");
	refused(RULE "ttl = 8d\n", "ttl is a duration");
	refused(RULE "ttl = soon\n", "ttl is a duration");
	refused(RULE "max_hosts = 0\n", "max_hosts is");
	refused(RULE "target = role=\n", "target is a selector");
	refused(RULE "check = bad name\n", "check is");
	refused(RULE "labels = severity\n", "labels are NAME=VALUE");
	refused(RULE "arg.bad key = x\n", "arg.NAME");
	refused(RULE "colour = blue\n", "unknown key 'colour' in [rule r]");
	refused("[automation]\nkey = /k\nmax_actions = 0\n", "max_actions is");
	refused("[automation]\nkey = /k\nspeed = 3\n", "unknown key 'speed' in [automation]");
	refused("[automation]\nkey = /k\n[rule bad/name]\nwhen = local\n", "a rule's name");
	/* The line is named. */
	char why[512];
	assert_null(load(RULE "when = sometimes\n", why, sizeof why));
	assert_non_null(strstr(why, ":8:"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
