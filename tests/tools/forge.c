/*
 * forge.c: quell-forge, the attacker's and the tester's tool. It plays the
 * parts our threat model worries about, so integration tests can check the
 * agent's answers to them:
 *
 *   quell-forge sign --key OPKEY --out FILE [options]
 *       sign a command with any fields: odd times, any target, job id, args
 *   quell-forge flip IN OUT
 *       copy an envelope with its last byte (inside the signed body) flipped
 *   quell-forge serve --listen URL [--wait S] [--all-at-once] FILE...
 *       act as a (compromised) coordinator: wait for an agent, deliver each
 *       FILE verbatim in order (the same file twice is a replay), one at a
 *       time: the next once the last one's result is in, or once the agent
 *       says hello again (it restarted). Prints one line per answer:
 *       "STATUS REASON DUPLICATE DETAIL". With --all-at-once, each request
 *       gets the next file at once (to fill the agent's queue).
 *
 * Test-only: never installed.
 */
#include <getopt.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "envelope.h"
#include "keys.h"
#include "log.h"
#include "toolio.h"

static int do_sign(int argc, char **argv)
{
	const char *key = NULL, *out = NULL, *target = "all", *action = "ping", *handle = "";
	long issued_offset = 0, lifetime = 60;
	uint8_t job_id[QL_JOB_ID_LEN];
	Quell__Arg args[16], *argp[16];
	size_t n_args = 0;
	randombytes_buf(job_id, sizeof job_id);
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},
		{"out", required_argument, NULL, 'o'},
		{"target", required_argument, NULL, 't'},
		{"action", required_argument, NULL, 'a'},
		{"handle", required_argument, NULL, 'H'},
		{"arg", required_argument, NULL, 'A'},
		{"issued-offset", required_argument, NULL, 'i'},
		{"lifetime", required_argument, NULL, 'l'},
		{"job-id", required_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			key = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 't':
			target = optarg;
			break;
		case 'a':
			action = optarg;
			break;
		case 'H':
			handle = optarg;
			break;
		case 'i':
			issued_offset = strtol(optarg, NULL, 10);
			break;
		case 'l':
			lifetime = strtol(optarg, NULL, 10);
			break;
		case 'j':
			if (!ql_unhex(optarg, job_id, sizeof job_id)) {
				fprintf(stderr, "--job-id takes 32 hex digits\n");
				return 2;
			}
			break;
		case 'A': {
			char *eq = strchr(optarg, '=');
			if (eq == NULL || n_args == 16)
				return 2;
			*eq = '\0';
			quell__arg__init(&args[n_args]);
			args[n_args].key = optarg;
			args[n_args].value = eq + 1;
			argp[n_args] = &args[n_args];
			n_args++;
			break;
		}
		default:
			return 2;
		}
	}
	if (key == NULL || out == NULL) {
		fprintf(stderr, "sign needs --key and --out\n");
		return 2;
	}
	struct ql_secret_key *sk;
	if (ql_key_load(key, &sk) != QL_OK) {
		fprintf(stderr, "cannot load %s\n", key);
		return 2;
	}
	Quell__Command c = QUELL__COMMAND__INIT;
	c.job_id.data = job_id;
	c.job_id.len = sizeof job_id;
	c.issued_at = ql_now() + issued_offset;
	c.expires_at = c.issued_at + lifetime;
	c.target = (char *)target;
	c.action = (char *)action;
	c.handle = (char *)handle;
	c.args = argp;
	c.n_args = n_args;
	c.reason = "forged by quell-forge";
	uint8_t *body, *env;
	size_t blen, elen;
	if (ql_pack(&c.base, &body, &blen) != QL_OK ||
	    ql_envelope_seal(QUELL__KIND__KIND_COMMAND, sk, body, blen, &env, &elen) != QL_OK)
		return 1;
	tool_write_file(out, env, elen);
	char hex[33];
	ql_hex(job_id, sizeof job_id, hex);
	printf("%s\n", hex);
	free(body);
	free(env);
	ql_key_free(sk);
	return 0;
}

static int do_flip(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	size_t len;
	uint8_t *buf = tool_read_file(argv[1], &len);
	if (len == 0)
		return 2;
	buf[len - 1] ^= 0x01;
	tool_write_file(argv[2], buf, len);
	free(buf);
	return 0;
}

static nng_msg *agent_reply(const uint8_t *cmd, size_t len)
{
	Quell__AgentReply r = QUELL__AGENT_REPLY__INIT;
	uint8_t tag[QL_JOB_ID_LEN] = {0xff};
	r.type = cmd ? QUELL__AGENT_REPLY__TYPE__TYPE_COMMAND : QUELL__AGENT_REPLY__TYPE__TYPE_IDLE;
	r.command.data = (uint8_t *)cmd;
	r.command.len = len;
	r.job_id.data = tag;
	r.job_id.len = cmd ? sizeof tag : 0;
	uint8_t *buf;
	size_t blen;
	nng_msg *m;
	if (ql_pack(&r.base, &buf, &blen) != QL_OK || nng_msg_alloc(&m, 0) != 0 ||
	    nng_msg_append(m, buf, blen) != 0)
		exit(1);
	free(buf);
	return m;
}

/* Print the agent's answer if the request is a result; return the request's kind (0: unreadable).
 */
static int print_result(nng_msg *req)
{
	struct ql_opened o;
	if (ql_envelope_open(nng_msg_body(req), nng_msg_len(req),
	                     QL_KIND_BIT(QUELL__KIND__KIND_RESULT) |
	                             QL_KIND_BIT(QUELL__KIND__KIND_HELLO) |
	                             QL_KIND_BIT(QUELL__KIND__KIND_HEARTBEAT),
	                     &o) != QL_OK) {
		printf("unverifiable-request\n");
		return 0;
	}
	int kind = o.kind;
	bool is_result = o.kind == QUELL__KIND__KIND_RESULT;
	Quell__Result *r = NULL;
	if (is_result && ql_result_decode(o.body, o.body_len, &r) == QL_OK) {
		static const char *names[] = {"?", "ok", "failed", "rejected"};
		printf("%s %s %s %s\n", names[r->status <= 3 ? r->status : 0],
		       r->reason[0] ? r->reason : "-", r->duplicate ? "duplicate" : "first",
		       r->detail);
		fflush(stdout);
		quell__result__free_unpacked(r, NULL);
	} else if (is_result) {
		printf("malformed-result\n");
	}
	ql_opened_fini(&o);
	return kind;
}

static int do_serve(int argc, char **argv)
{
	const char *url = NULL;
	int wait_s = 20;
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"wait", required_argument, NULL, 'w'},
		{"all-at-once", no_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	bool one_at_a_time = true;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'a')
			one_at_a_time = false;
		else if (ch == 'l')
			url = optarg;
		else if (ch == 'w')
			wait_s = atoi(optarg);
		else
			return 2;
	}
	if (url == NULL)
		return 2;
	nng_socket s;
	if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0) {
		fprintf(stderr, "cannot listen on %s\n", url);
		return 1;
	}
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, wait_s * 1000);
	int next = optind, answered = 0, total = argc - optind;
	bool awaiting = false;
	while (answered < total) {
		nng_msg *req;
		int rv = nng_recvmsg(s, &req, 0);
		if (rv != 0) {
			fprintf(stderr, "no agent request in %d s: %s\n", wait_s, nng_strerror(rv));
			return 1;
		}
		/* One command at a time, like a coordinator serialising one host's
		 * jobs: the next goes out once the last one's result is in, or once
		 * the agent says hello again (it restarted and lost the last one). */
		int kind = print_result(req);
		if (kind == QUELL__KIND__KIND_RESULT) {
			answered++;
			awaiting = false;
		} else if (kind == QUELL__KIND__KIND_HELLO) {
			awaiting = false;
		}
		nng_msg_free(req);
		nng_msg *rep;
		if (awaiting) {
			nng_msleep(20); /* the agent re-polls at once: do not spin */
			rep = agent_reply(NULL, 0);
		} else if (next < argc) {
			awaiting = one_at_a_time;
			size_t len;
			uint8_t *cmd = tool_read_file(argv[next++], &len);
			rep = agent_reply(cmd, len);
			free(cmd);
		} else {
			rep = agent_reply(NULL, 0);
		}
		if (nng_sendmsg(s, rep, 0) != 0)
			return 1;
	}
	/* No nng_close(): it can hang on an nng 1.5 race (nanomsg/nng#1543) and
	 * this process is done; exiting closes the connection. */
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0 || argc < 2) {
		fprintf(stderr, "usage: quell-forge sign|flip|serve ...\n");
		return 2;
	}
	ql_log_init("quell-forge", QL_LOG_WARN);
	if (strcmp(argv[1], "sign") == 0)
		return do_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "flip") == 0)
		return do_flip(argc - 1, argv + 1);
	if (strcmp(argv[1], "serve") == 0)
		return do_serve(argc - 1, argv + 1);
	fprintf(stderr, "unknown subcommand %s\n", argv[1]);
	return 2;
}
