/*
 * fuzz_alerts.c: qc_alerts_parse, the coordinator's reader of Alertmanager
 * webhook bodies (coordinator/alerts.c). The input is the HTTP body as is.
 *
 * Invariants: a refused body leaves the batch all zero and says why; an
 * accepted one holds only what the parser promises (a status, at most
 * QC_MAX_ALERTS alerts of at most QC_MAX_ALERT_LABELS labels, every name a
 * Prometheus label name, every string valid text within its limit, no label
 * twice, no negative time); freeing it leaves nothing behind (LeakSanitizer
 * checks at exit).
 */
#include "alerts.h"
#include "codec.h"
#include "fuzz.h"

static bool label_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= 128 && !(s[0] >= '0' && s[0] <= '9') &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

static void check_alert(const struct qc_alert *a)
{
	FZ_CHECK(a->n_labels <= QC_MAX_ALERT_LABELS);
	FZ_CHECK(a->n_labels == 0 || a->labels != NULL);
	FZ_CHECK(a->starts_at >= 0);
	FZ_CHECK(a->fingerprint != NULL);
	FZ_CHECK(a->fingerprint[0] == '\0' || ql_ident_ok(a->fingerprint, 64));
	for (size_t i = 0; i < a->n_labels; i++) {
		const struct qc_alert_label *l = &a->labels[i];
		FZ_CHECK(l->name != NULL && l->value != NULL);
		FZ_CHECK(label_name_ok(l->name));
		FZ_CHECK(ql_text_ok(l->value, 1024));
		for (size_t k = 0; k < i; k++)
			FZ_CHECK(strcmp(a->labels[k].name, l->name) != 0);
		FZ_CHECK(qc_alert_label(a, l->name) == l->value);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qc_alert_batch b;
	char why[256] = "";
	enum ql_err err = qc_alerts_parse((const char *)data, size, &b, why, sizeof why);
	if (err != QL_OK) {
		static const struct qc_alert_batch zero;
		FZ_CHECK(err == QL_ERR_MALFORMED || err == QL_ERR_TOO_BIG || err == QL_ERR_NOMEM);
		FZ_CHECK(memcmp(&b, &zero, sizeof b) == 0);
		FZ_CHECK(why[0] != '\0');
		return 0;
	}
	FZ_CHECK(b.status != NULL && b.receiver != NULL && b.group_key != NULL);
	FZ_CHECK(strcmp(b.status, "firing") == 0 || strcmp(b.status, "resolved") == 0);
	FZ_CHECK(ql_text_ok(b.receiver, 256) && ql_text_ok(b.group_key, 4096));
	FZ_CHECK(b.n_alerts <= QC_MAX_ALERTS);
	FZ_CHECK(b.alerts != NULL);
	for (size_t i = 0; i < b.n_alerts; i++)
		check_alert(&b.alerts[i]);
	qc_alerts_free(&b);
	FZ_CHECK(b.alerts == NULL && b.n_alerts == 0 && b.receiver == NULL);
	return 0;
}
