/*
 * fuzz_bodies.c: every validating decoder and text parser, without the
 * signature in the way. The first input byte picks the decoder, the rest is
 * its input. Invariants: a refusal leaves *out NULL; anything accepted,
 * re-serialized, is accepted again (validation does not depend on how the
 * bytes were encoded; see ROUND_TRIP); a selector that fails
 * ql_selector_check matches nothing; parsed labels are valid labels and
 * select their own host.
 */
#include "codec.h"
#include "fuzz.h"
#include "ql_limits.h"
#include "selector.h"

enum which {
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
	W_EVENTS, /* appended: the first byte of every older seed keeps its meaning */
	W__COUNT
};

/*
 * Decode with FN; if accepted, pack it and decode the packed bytes again,
 * which must also be accepted. Skipped when protobuf-c cannot parse its own
 * output: protobuf-c 1.4 accepts a non-minimal tag for field number 0
 * (0x80 0x00) as an unknown field and re-packs it as 0x00, which it then
 * refuses. Quell never re-serializes what it verified, so that is a library
 * quirk, not a validation bug; the property here is about validation.
 */
#define ROUND_TRIP(type, fn, free_fn, buf, len)                                                    \
	do {                                                                                       \
		type *m_ = NULL, *m2_ = NULL;                                                      \
		if (fn((buf), (len), &m_) != QL_OK) {                                              \
			FZ_CHECK(m_ == NULL);                                                      \
			break;                                                                     \
		}                                                                                  \
		FZ_CHECK(m_ != NULL);                                                              \
		uint8_t *p_;                                                                       \
		size_t plen_;                                                                      \
		FZ_CHECK(ql_pack(&m_->base, &p_, &plen_) == QL_OK);                                \
		ProtobufCMessage *raw_ =                                                           \
			protobuf_c_message_unpack(m_->base.descriptor, NULL, plen_, p_);           \
		if (raw_ != NULL) {                                                                \
			protobuf_c_message_free_unpacked(raw_, NULL);                              \
			FZ_CHECK(fn(p_, plen_, &m2_) == QL_OK);                                    \
			free_fn(m2_, NULL);                                                        \
		}                                                                                  \
		free(p_);                                                                          \
		free_fn(m_, NULL);                                                                 \
	} while (0)

static char *cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static void fuzz_selector(const uint8_t *data, size_t size)
{
	/* Input: selector '\0' hostname '\0' labels-line; missing parts get defaults. */
	char *s = cstring(data, size);
	const char *parts[3] = {s, "web-1", "role=web,dc=east"};
	size_t k = 1;
	for (size_t i = 0; i < size && k < 3; i++)
		if (s[i] == '\0')
			parts[k++] = s + i + 1;
	const char *sel = parts[0], *host = parts[1], *labels_text = parts[2];

	struct ql_label *labels = NULL;
	size_t n = 0;
	if (ql_labels_parse(labels_text, &labels, &n) != QL_OK) {
		labels = NULL;
		n = 0;
	}
	enum ql_err err = ql_selector_check(sel);
	bool m = ql_selector_match(sel, host, labels, n);
	if (err != QL_OK)
		FZ_CHECK(!m);
	FZ_CHECK(err == QL_OK || err == QL_ERR_MALFORMED || err == QL_ERR_TOO_BIG);
	ql_labels_free(labels, n);
	free(s);
}

static void fuzz_labels(const uint8_t *data, size_t size)
{
	char *s = cstring(data, size);
	struct ql_label *labels = (struct ql_label *)1;
	size_t n = 99;
	if (ql_labels_parse(s, &labels, &n) != QL_OK) {
		FZ_CHECK(labels == NULL && n == 0);
		free(s);
		return;
	}
	FZ_CHECK(n <= QL_MAX_LABELS);
	/* Each label is valid, unique, and as a selector term selects this host. */
	char sel[QL_MAX_SELECTOR + 1] = "";
	size_t used = 0;
	bool whole = n > 0 && n <= QL_MAX_SELECTOR_TERMS;
	for (size_t i = 0; i < n; i++) {
		FZ_CHECK(ql_label_ok(labels[i].key, labels[i].value));
		for (size_t k = 0; k < i; k++)
			FZ_CHECK(strcmp(labels[k].key, labels[i].key) != 0);
		if (!whole)
			continue;
		int w = snprintf(sel + used, sizeof sel - used, "%s%s=%s", i ? "," : "",
		                 labels[i].key, labels[i].value);
		if (w > 0 && (size_t)w < sizeof sel - used)
			used += (size_t)w;
		else
			whole = false;
	}
	/* A label line, read back as a selector, selects the host that has it. */
	if (whole) {
		FZ_CHECK(ql_selector_check(sel) == QL_OK);
		FZ_CHECK(ql_selector_match(sel, "h", labels, n));
	}
	ql_labels_free(labels, n);
	free(s);
}

static void fuzz_text(const uint8_t *data, size_t size)
{
	if (size == 0)
		return;
	size_t max = data[0];
	char *s = cstring(data + 1, size - 1);
	if (ql_text_ok(s, max)) {
		size_t len = strlen(s);
		FZ_CHECK(len <= max);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)s[i];
			FZ_CHECK(c >= 0x20 || c == '\n' || c == '\t');
			FZ_CHECK(c != 0x7f && c != 0xc0 && c != 0xc1 && c < 0xf5);
		}
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const uint8_t *b = data + 1;
	size_t n = size - 1;
	switch (data[0] % W__COUNT) {
	case W_HELLO:
		ROUND_TRIP(Quell__Hello, ql_hello_decode, quell__hello__free_unpacked, b, n);
		break;
	case W_HEARTBEAT:
		ROUND_TRIP(Quell__Heartbeat, ql_heartbeat_decode, quell__heartbeat__free_unpacked,
		           b, n);
		break;
	case W_COMMAND:
		ROUND_TRIP(Quell__Command, ql_command_decode, quell__command__free_unpacked, b, n);
		break;
	case W_RESULT:
		ROUND_TRIP(Quell__Result, ql_result_decode, quell__result__free_unpacked, b, n);
		break;
	case W_AGENT_REPLY:
		ROUND_TRIP(Quell__AgentReply, ql_agent_reply_decode,
		           quell__agent_reply__free_unpacked, b, n);
		break;
	case W_CONTROL:
		ROUND_TRIP(Quell__ControlRequest, ql_control_decode,
		           quell__control_request__free_unpacked, b, n);
		break;
	case W_CONTROL_REPLY:
		ROUND_TRIP(Quell__ControlReply, ql_control_reply_decode,
		           quell__control_reply__free_unpacked, b, n);
		break;
	case W_SELECTOR:
		fuzz_selector(b, n);
		break;
	case W_LABELS:
		fuzz_labels(b, n);
		break;
	case W_TEXT:
		fuzz_text(b, n);
		break;
	case W_EVENTS:
		ROUND_TRIP(Quell__AgentEvents, ql_events_decode, quell__agent_events__free_unpacked,
		           b, n);
		break;
	}
	return 0;
}
