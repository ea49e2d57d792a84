/*
 * rogue.c: quell-rogue, a misbehaving agent for the mTLS review tests. It
 * speaks the agent protocol to a coordinator with whatever identity it is
 * given, and records what a real agent sends:
 *
 *   quell-rogue hello [TLS] --key AGENTKEY --hostname H [--proof-cert C --proof-key K]
 *                     [--save FILE] [--age SECONDS] URL
 *       one hello signed by AGENTKEY for H; with --proof-*, the binding made
 *       with that certificate's key (as ql_tls_prove does); --age: its time
 *       that many seconds in the past (an old, replayed hello). Prints the reply.
 *   quell-rogue send [TLS] URL FILE...
 *       send each FILE (a whole envelope, e.g. one recorded) verbatim, in
 *       order, on one connection; prints one reply line per file.
 *   quell-rogue result [TLS] --key AGENTKEY --hostname H --job-id HEX URL
 *       a result "ok" for job HEX signed by AGENTKEY, with no hello first.
 *   quell-rogue record --listen URL --count N --out PREFIX
 *       play a coordinator on a plain URL: save the first N requests (as
 *       PREFIX.1 ...), answer each "idle", and exit.
 *
 *   TLS: --cert C --tls-key K --ca CA --server-name NAME (the connection's
 *   own client certificate, as an agent's tls_cert/tls_key/tls_ca).
 *
 * Prints "reply TYPE ERROR" lines (TYPE: idle, command, hello-required,
 * refused). Test-only: never installed.
 */
#include <getopt.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "envelope.h"
#include "keys.h"
#include "log.h"
#include "ql.h"
#include "tls.h"
#include "toolio.h"
#include "transport.h"

static const char *type_name(int t)
{
	switch (t) {
	case QUELL__AGENT_REPLY__TYPE__TYPE_IDLE:
		return "idle";
	case QUELL__AGENT_REPLY__TYPE__TYPE_COMMAND:
		return "command";
	case QUELL__AGENT_REPLY__TYPE__TYPE_HELLO_REQUIRED:
		return "hello-required";
	case QUELL__AGENT_REPLY__TYPE__TYPE_REFUSED:
		return "refused";
	default:
		return "?";
	}
}

static struct ql_tls_files tls;
static const char *agent_key, *hostname, *proof_cert, *proof_key, *save, *listen_url, *out_prefix,
	*job_hex;
static long count = 1, age;

static int parse(int argc, char **argv)
{
	static const struct option opts[] = {
		{"cert", required_argument, NULL, 'c'},
		{"tls-key", required_argument, NULL, 't'},
		{"ca", required_argument, NULL, 'a'},
		{"server-name", required_argument, NULL, 's'},
		{"key", required_argument, NULL, 'k'},
		{"hostname", required_argument, NULL, 'h'},
		{"proof-cert", required_argument, NULL, 'P'},
		{"proof-key", required_argument, NULL, 'K'},
		{"save", required_argument, NULL, 'S'},
		{"listen", required_argument, NULL, 'l'},
		{"count", required_argument, NULL, 'n'},
		{"out", required_argument, NULL, 'o'},
		{"job-id", required_argument, NULL, 'j'},
		{"age", required_argument, NULL, 'A'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			tls.cert = optarg;
			break;
		case 't':
			tls.key = optarg;
			break;
		case 'a':
			tls.ca = optarg;
			break;
		case 's':
			tls.server_name = optarg;
			break;
		case 'k':
			agent_key = optarg;
			break;
		case 'A':
			age = strtol(optarg, NULL, 10);
			break;
		case 'h':
			hostname = optarg;
			break;
		case 'P':
			proof_cert = optarg;
			break;
		case 'K':
			proof_key = optarg;
			break;
		case 'S':
			save = optarg;
			break;
		case 'l':
			listen_url = optarg;
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 'o':
			out_prefix = optarg;
			break;
		case 'j':
			job_hex = optarg;
			break;
		default:
			exit(2);
		}
	}
	return optind;
}

static nng_socket dial(const char *url)
{
	nng_socket s;
	nng_dialer d;
	char why[512];
	if (nng_req0_open(&s) != 0)
		exit(2);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (ql_tls_dialer(s, url, QL_TLS_AGENT, &tls, &d, why, sizeof why) != QL_OK) {
		fprintf(stderr, "quell-rogue: %s\n", why);
		exit(2);
	}
	int rv = nng_dialer_start(d, 0);
	if (rv != 0) {
		fprintf(stderr, "quell-rogue: %s: %s\n", url, nng_strerror(rv));
		exit(3);
	}
	return s;
}

static int exchange(nng_socket s, const uint8_t *buf, size_t len)
{
	nng_msg *m = ql_msg_new(buf, len), *r = NULL;
	int rv = nng_sendmsg(s, m, 0);
	if (rv == 0)
		rv = nng_recvmsg(s, &r, 0);
	if (rv != 0) {
		printf("error %s\n", nng_strerror(rv));
		return 1;
	}
	Quell__AgentReply *rep = NULL;
	if (ql_agent_reply_decode(nng_msg_body(r), nng_msg_len(r), &rep) != QL_OK) {
		printf("reply malformed\n");
		nng_msg_free(r);
		return 1;
	}
	printf("reply %s %s\n", type_name(rep->type), rep->error ? rep->error : "");
	fflush(stdout);
	quell__agent_reply__free_unpacked(rep, NULL);
	nng_msg_free(r);
	return 0;
}

static int do_hello(int argc, char **argv)
{
	int i = parse(argc, argv);
	struct ql_secret_key *key = NULL;
	struct ql_tls_proof proof = {0};
	char why[512];
	if (i != argc - 1 || agent_key == NULL || hostname == NULL) {
		fprintf(stderr, "usage: quell-rogue hello [TLS] --key K --hostname H URL\n");
		return 2;
	}
	if (ql_key_load(agent_key, &key) != QL_OK) {
		fprintf(stderr, "quell-rogue: cannot load %s\n", agent_key);
		return 2;
	}
	if (proof_cert && ql_tls_prove(proof_cert, proof_key, key->pk, hostname, &proof, why,
	                               sizeof why) != QL_OK) {
		fprintf(stderr, "quell-rogue: %s\n", why);
		return 2;
	}
	Quell__Hello h = QUELL__HELLO__INIT;
	h.hostname = (char *)hostname;
	h.version = "rogue";
	h.time = ql_now() - age;
	h.cert.data = proof.cert_der;
	h.cert.len = proof.cert_len;
	h.cert_sig.data = proof.sig;
	h.cert_sig.len = proof.sig_len;
	size_t blen = protobuf_c_message_get_packed_size(&h.base);
	uint8_t *body = malloc(blen ? blen : 1), *env = NULL;
	size_t env_len = 0;
	protobuf_c_message_pack(&h.base, body);
	if (ql_envelope_seal(QUELL__KIND__KIND_HELLO, key, body, blen, &env, &env_len) != QL_OK)
		return 2;
	if (save)
		tool_write_file(save, env, env_len);
	nng_socket s = dial(argv[i]);
	int rc = exchange(s, env, env_len);
	nng_close(s);
	free(env);
	free(body);
	ql_tls_proof_fini(&proof);
	ql_key_free(key);
	return rc;
}

static int do_result(int argc, char **argv)
{
	int i = parse(argc, argv);
	struct ql_secret_key *key = NULL;
	uint8_t id[QL_JOB_ID_LEN];
	if (i != argc - 1 || agent_key == NULL || hostname == NULL || job_hex == NULL ||
	    !ql_unhex(job_hex, id, QL_JOB_ID_LEN) || ql_key_load(agent_key, &key) != QL_OK) {
		fprintf(stderr,
		        "usage: quell-rogue result [TLS] --key K --hostname H --job-id HEX URL\n");
		return 2;
	}
	Quell__Result r = QUELL__RESULT__INIT;
	r.job_id.data = id;
	r.job_id.len = QL_JOB_ID_LEN;
	r.hostname = (char *)hostname;
	r.status = QUELL__STATUS__STATUS_OK;
	r.reason = "ok";
	r.detail = "forged by quell-rogue";
	r.started_at = r.finished_at = ql_now();
	size_t blen = protobuf_c_message_get_packed_size(&r.base);
	uint8_t *body = malloc(blen ? blen : 1), *env = NULL;
	size_t env_len = 0;
	protobuf_c_message_pack(&r.base, body);
	if (ql_envelope_seal(QUELL__KIND__KIND_RESULT, key, body, blen, &env, &env_len) != QL_OK)
		return 2;
	nng_socket s = dial(argv[i]);
	int rc = exchange(s, env, env_len);
	nng_close(s);
	free(env);
	free(body);
	ql_key_free(key);
	return rc;
}

static int do_send(int argc, char **argv)
{
	int i = parse(argc, argv);
	if (argc - i < 2) {
		fprintf(stderr, "usage: quell-rogue send [TLS] URL FILE...\n");
		return 2;
	}
	nng_socket s = dial(argv[i]);
	int rc = 0;
	for (int k = i + 1; k < argc && rc == 0; k++) {
		size_t len;
		uint8_t *buf = tool_read_file(argv[k], &len);
		rc = exchange(s, buf, len);
		free(buf);
	}
	nng_close(s);
	return rc;
}

static int do_record(int argc, char **argv)
{
	parse(argc, argv);
	nng_socket s;
	if (listen_url == NULL || out_prefix == NULL || nng_rep0_open(&s) != 0 ||
	    nng_listen(s, listen_url, NULL, 0) != 0) {
		fprintf(stderr, "usage: quell-rogue record --listen URL --count N --out PREFIX\n");
		return 2;
	}
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 30000);
	for (long n = 1; n <= count; n++) {
		nng_msg *m;
		if (nng_recvmsg(s, &m, 0) != 0)
			return 1;
		char path[1024];
		snprintf(path, sizeof path, "%s.%ld", out_prefix, n);
		tool_write_file(path, nng_msg_body(m), nng_msg_len(m));
		nng_msg_free(m);
		Quell__AgentReply r = QUELL__AGENT_REPLY__INIT;
		r.type = QUELL__AGENT_REPLY__TYPE__TYPE_IDLE;
		r.error = "";
		nng_sendmsg(s, ql_msg_pack(&r.base), 0);
	}
	nng_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (ql_crypto_init() != QL_OK)
		return 2;
	if (argc >= 2 && strcmp(argv[1], "hello") == 0)
		return do_hello(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return do_send(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "result") == 0)
		return do_result(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "record") == 0)
		return do_record(argc - 1, argv + 1);
	fprintf(stderr, "usage: quell-rogue hello|send|record ...\n");
	return 2;
}
