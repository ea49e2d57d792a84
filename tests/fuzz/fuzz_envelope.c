/*
 * fuzz_envelope.c: the first thing every hostile byte meets. Opens the input
 * as an envelope of any kind; if it verifies, decodes the body with the
 * decoder for its kind. Invariants: a failed open leaves the output empty; a
 * successful one respects every size limit and the accept mask.
 */
#include "codec.h"
#include "envelope.h"
#include "fuzz.h"

#define ALL_KINDS                                                                                  \
	(QL_KIND_BIT(QUELL__KIND__KIND_HELLO) | QL_KIND_BIT(QUELL__KIND__KIND_HEARTBEAT) |         \
	 QL_KIND_BIT(QUELL__KIND__KIND_COMMAND) | QL_KIND_BIT(QUELL__KIND__KIND_RESULT) |          \
	 QL_KIND_BIT(QUELL__KIND__KIND_CONTROL))

static void decode_body(Quell__Kind kind, const uint8_t *b, size_t n)
{
	switch (kind) {
	case QUELL__KIND__KIND_HELLO: {
		Quell__Hello *m;
		if (ql_hello_decode(b, n, &m) == QL_OK)
			quell__hello__free_unpacked(m, NULL);
		else
			FZ_CHECK(m == NULL);
		break;
	}
	case QUELL__KIND__KIND_HEARTBEAT: {
		Quell__Heartbeat *m;
		if (ql_heartbeat_decode(b, n, &m) == QL_OK)
			quell__heartbeat__free_unpacked(m, NULL);
		else
			FZ_CHECK(m == NULL);
		break;
	}
	case QUELL__KIND__KIND_COMMAND: {
		Quell__Command *m;
		if (ql_command_decode(b, n, &m) == QL_OK)
			quell__command__free_unpacked(m, NULL);
		else
			FZ_CHECK(m == NULL);
		break;
	}
	case QUELL__KIND__KIND_RESULT: {
		Quell__Result *m;
		if (ql_result_decode(b, n, &m) == QL_OK)
			quell__result__free_unpacked(m, NULL);
		else
			FZ_CHECK(m == NULL);
		break;
	}
	case QUELL__KIND__KIND_CONTROL: {
		Quell__ControlRequest *m;
		if (ql_control_decode(b, n, &m) == QL_OK)
			quell__control_request__free_unpacked(m, NULL);
		else
			FZ_CHECK(m == NULL);
		break;
	}
	default:
		fz_fail("opened an envelope of a kind outside the accept mask", __FILE__, __LINE__);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		if (ql_crypto_init() != QL_OK)
			abort();
		ready = 1;
	}
	struct ql_opened o;
	enum ql_err err = ql_envelope_open(data, size, ALL_KINDS, &o);
	if (err != QL_OK) {
		FZ_CHECK(o.env == NULL && o.body == NULL && o.body_len == 0);
		FZ_CHECK(err < QL_ERR__COUNT);
		ql_opened_fini(&o);
		return 0;
	}
	FZ_CHECK(size <= QL_MAX_MSG);
	FZ_CHECK(o.env != NULL && o.env->version == QL_PROTOCOL_VERSION);
	FZ_CHECK(o.body_len <= QL_MAX_BODY);
	FZ_CHECK((ALL_KINDS & QL_KIND_BIT(o.kind)) != 0);

	/* Opening again with only this kind's bit gives the same answer. */
	struct ql_opened again;
	FZ_CHECK(ql_envelope_open(data, size, QL_KIND_BIT(o.kind), &again) == QL_OK);
	FZ_CHECK(again.body_len == o.body_len && again.kind == o.kind);
	FZ_CHECK(o.body_len == 0 || memcmp(again.body, o.body, o.body_len) == 0);
	ql_opened_fini(&again);
	/* ...and without it, a refusal. */
	FZ_CHECK(ql_envelope_open(data, size, ALL_KINDS & ~QL_KIND_BIT(o.kind), &again) != QL_OK);

	decode_body(o.kind, o.body, o.body_len);
	ql_opened_fini(&o);
	FZ_CHECK(o.env == NULL);
	return 0;
}
