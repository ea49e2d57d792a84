/*
 * alerts.h: alerts from existing monitoring. Alertmanager's webhook payload
 * (version 4) parsed and checked (alerts.c), and the HTTP endpoint that
 * receives it (webhook.c, libmicrohttpd). What an alert makes happen is the
 * automation rules' business (rules.c), through qc->on_alerts.
 */
#ifndef QC_ALERTS_H
#define QC_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord.h"
#include "ql.h"
#include "ql_limits.h"

#define QC_MAX_ALERTS 256      /* alerts in one payload */
#define QC_MAX_ALERT_LABELS 64 /* labels (or annotations) of one alert */

struct qc_alert_label {
	char *name, *value;
};

struct qc_alert {
	bool firing; /* status "firing"; else "resolved" */
	struct qc_alert_label *labels;
	size_t n_labels;
	int64_t starts_at; /* unix seconds; 0 if absent or before 1970 */
	char *fingerprint; /* "" if absent */
};

struct qc_alert_batch {
	char *receiver, *status, *group_key;
	struct qc_alert *alerts;
	size_t n_alerts;
};

/*
 * UNTRUSTED: an Alertmanager webhook body (JSON, version "4"). QL_OK and a
 * checked batch, or QL_ERR_MALFORMED / QL_ERR_TOO_BIG (QL_ERR_NOMEM) with a
 * sentence in why (and *out empty). Every string is checked for length and
 * characters; alerts.c says what is checked and what is ignored.
 */
QL_NODISCARD enum ql_err qc_alerts_parse(const char *json, size_t len, struct qc_alert_batch *out,
                                         char *why, size_t whylen);
void qc_alerts_free(struct qc_alert_batch *b);
/* The value of label `name`, or NULL. */
const char *qc_alert_label(const struct qc_alert *a, const char *name);
/* The host an alert is about: its `instance` label (else `host`) without a
 * ":port", if that is a valid hostname. The audit record and the rules agree. */
bool qc_alert_host(const struct qc_alert *a, char host[QL_MAX_HOSTNAME + 1]);

/* A checked batch arrived (c->lock held): audit it, hand it to c->on_alerts. */
void qc_alerts_received(struct qc *c, const struct qc_alert_batch *b);

/* webhook.c: the endpoint, if the config has a [webhook] section. */
struct qc_webhook;
QL_NODISCARD enum ql_err qc_webhook_start(struct qc *c, struct qc_webhook **out, char *why,
                                          size_t whylen);
void qc_webhook_stop(struct qc_webhook *w);

#endif
