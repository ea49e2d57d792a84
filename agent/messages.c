/*
 * messages.c: the messages an agent signs on its own account (messages.h).
 */
#include <stdlib.h>

#include "actions/actions.h"
#include "codec.h"
#include "envelope.h"
#include "messages.h"
#include "transport.h"

/* Build and sign a hello or heartbeat. */
static nng_msg *make_signed(const struct ql_secret_key *key, Quell__Kind kind,
                            const ProtobufCMessage *body)
{
	uint8_t *b = NULL, *env = NULL;
	size_t blen, elen;
	nng_msg *msg = NULL;
	if (ql_pack(body, &b, &blen) != QL_OK)
		return NULL;
	if (ql_envelope_seal(kind, key, b, blen, &env, &elen) == QL_OK)
		msg = ql_msg_new(env, elen);
	free(b);
	free(env);
	return msg;
}

/* The checks' states, as protobuf messages pointing into r (valid until it is freed). */
struct checks_pb {
	struct qa_check_report *r;
	Quell__CheckState *cs, **ptrs;
	size_t n;
};

static bool checks_fill(struct qa_health *health, struct checks_pb *pb)
{
	*pb = (struct checks_pb){0};
	if (health == NULL)
		return true;
	pb->r = qa_health_report(health, &pb->n);
	pb->cs = calloc(pb->n ? pb->n : 1, sizeof *pb->cs);
	pb->ptrs = calloc(pb->n ? pb->n : 1, sizeof *pb->ptrs);
	if (pb->r == NULL || pb->cs == NULL || pb->ptrs == NULL)
		return false;
	for (size_t i = 0; i < pb->n; i++) {
		quell__check_state__init(&pb->cs[i]);
		pb->cs[i].name = (char *)pb->r[i].name;
		pb->cs[i].state = (Quell__CheckState__State)pb->r[i].state;
		pb->cs[i].since = pb->r[i].since;
		pb->cs[i].detail = pb->r[i].detail;
		pb->ptrs[i] = &pb->cs[i];
	}
	return true;
}

static void checks_free(struct checks_pb *pb)
{
	free(pb->r);
	free(pb->cs);
	free(pb->ptrs);
}

nng_msg *qa_msg_hello(const struct qa_config *cfg, const struct ql_secret_key *key,
                      const struct ql_tls_proof *proof, struct qa_health *health)
{
	Quell__Hello h = QUELL__HELLO__INIT;
	Quell__Label labels[QL_MAX_LABELS], *lp[QL_MAX_LABELS];
	char *actions[QL_MAX_ACTIONS];
	h.hostname = cfg->hostname;
	h.version = QL_VERSION;
	h.time = ql_now();
	for (size_t i = 0; i < cfg->n_labels; i++) {
		quell__label__init(&labels[i]);
		labels[i].key = cfg->labels[i].key;
		labels[i].value = cfg->labels[i].value;
		lp[i] = &labels[i];
	}
	h.labels = lp;
	h.n_labels = cfg->n_labels;
	for (h.n_actions = 0; qa_actions[h.n_actions] && h.n_actions < QL_MAX_ACTIONS;
	     h.n_actions++)
		actions[h.n_actions] = (char *)qa_actions[h.n_actions]->name;
	h.actions = actions;
	if (proof && proof->cert_len) {
		h.cert.data = proof->cert_der;
		h.cert.len = proof->cert_len;
		h.cert_sig.data = (uint8_t *)proof->sig;
		h.cert_sig.len = proof->sig_len;
	}
	struct checks_pb pb;
	nng_msg *msg = NULL;
	if (checks_fill(health, &pb)) {
		h.checks = pb.ptrs;
		h.n_checks = pb.n;
		msg = make_signed(key, QUELL__KIND__KIND_HELLO, &h.base);
	}
	checks_free(&pb);
	return msg;
}

nng_msg *qa_msg_heartbeat(const struct qa_config *cfg, const struct ql_secret_key *key,
                          uint64_t seq, struct qa_health *health)
{
	Quell__Heartbeat hb = QUELL__HEARTBEAT__INIT;
	hb.hostname = cfg->hostname;
	hb.time = ql_now();
	hb.seq = seq;
	struct checks_pb pb;
	nng_msg *msg = NULL;
	if (checks_fill(health, &pb)) {
		hb.checks = pb.ptrs;
		hb.n_checks = pb.n;
		msg = make_signed(key, QUELL__KIND__KIND_HEARTBEAT, &hb.base);
	}
	checks_free(&pb);
	return msg;
}
