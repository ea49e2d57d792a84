/*
 * ql_limits.h: every hard limit on bytes that come from outside, in one place.
 * Decoders check these where the bytes enter (proto/codec.c, config loaders)
 * before anything else looks at the data. Raising one is a protocol decision.
 */
#ifndef QL_LIMITS_H
#define QL_LIMITS_H

#define QL_MAX_MSG 65536    /* one nng message, any kind */
#define QL_MAX_BODY 60000   /* signed body inside an envelope */
#define QL_MAX_HOSTNAME 253 /* RFC 1035 FQDN */
#define QL_MAX_LABELS 32
#define QL_MAX_LABEL_KEY 32
#define QL_MAX_LABEL_VALUE 64
#define QL_MAX_SELECTOR 512
#define QL_MAX_SELECTOR_TERMS 16
#define QL_MAX_SELECTOR_ALTS 16
#define QL_MAX_ACTION 32
#define QL_MAX_HANDLE 64
#define QL_MAX_NAME 64 /* signer and operator names in configs */
#define QL_MAX_ARGS 16
#define QL_MAX_ARG_KEY 32
#define QL_MAX_ARG_VALUE 1024
#define QL_MAX_REASON 512
#define QL_MAX_DETAIL 2048
#define QL_MAX_INCIDENT 128
#define QL_MAX_VERSION 32
#define QL_MAX_ACTIONS 32                       /* actions listed in a hello */
#define QL_MAX_CONTROL_REPLY (16 * 1024 * 1024) /* coordinator -> CLI */
#define QL_RESULTS_PER_REPLY 1000               /* watch replies are paged */
#define QL_MAX_JOBS_LIST 200                    /* jobs in one ListJobs reply */
#define QL_MAX_MITIGATIONS_LIST 200             /* mitigations in one reply */
#define QL_MAX_TIMELINE_PAGE 1000               /* audit records in one timeline reply */
#define QL_MAX_EVENTS 64                        /* mitigation events in one message */
#define QL_MAX_CHECKS 64                        /* health checks of one agent */
#define QL_MAX_RULES 256                        /* automation rules of a coordinator */
#define QL_MAX_COMMAND_LIFETIME 86400           /* expires_at - issued_at, seconds */
#define QL_ANSWER_GRACE_MS 2000                 /* answers in flight at a deadline */
#define QL_MAX_BATCH 1000000                    /* canary, batch, failure-budget host counts */
#define QL_MAX_TTL (7 * 86400)
#define QL_JOB_ID_LEN 16
#define QL_HASH_LEN 32
#define QL_DEFAULT_SKEW 30  /* allowed clock skew, seconds */
#define QL_CONTROL_SKEW 300 /* control requests: issued_at window */

#endif
