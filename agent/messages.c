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

nng_msg *qa_msg_hello(const struct qa_config *cfg, const struct ql_secret_key *key)
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
	return make_signed(key, QUELL__KIND__KIND_HELLO, &h.base);
}

nng_msg *qa_msg_heartbeat(const struct qa_config *cfg, const struct ql_secret_key *key,
                          uint64_t seq)
{
	Quell__Heartbeat hb = QUELL__HEARTBEAT__INIT;
	hb.hostname = cfg->hostname;
	hb.time = ql_now();
	hb.seq = seq;
	return make_signed(key, QUELL__KIND__KIND_HEARTBEAT, &hb.base);
}
