/*
 * agent_int.h: the agent core's insides, shared by agent.c (the network
 * side: links, slots, the outbox) and turn.c (the executor's turn). Private
 * to agent/; see agent.h for what the rest of quell uses.
 *
 * Locking: a->lock protects links, slots, outboxes, the queue and the event
 * bookkeeping; turn.c's mitigation state (next_expiry) is only touched in
 * the agent's turn.
 */
#ifndef QA_AGENT_INT_H
#define QA_AGENT_INT_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "exec.h"
#include "executor.h"
#include "health.h"
#include "quell.pb-c.h"
#include "store.h"
#include "tls.h"

#define RESULT_SLOTS 4 /* results in flight per coordinator */
#define QUEUE_MAX 16   /* commands waiting for the executor */
#define PRUNE_EVERY_S 60

enum slot_state { SLOT_FREE, SLOT_SEND, SLOT_RECV, SLOT_WAIT, SLOT_HOLD };

struct outmsg {
	uint8_t *data; /* a signed result, or signed mitigation events */
	size_t len;
	/* A heartbeat (data NULL), signed when it goes out so that it carries
	 * the checks' states as they are then; never sent twice (a later
	 * heartbeat or hello carries newer states). */
	bool heartbeat;
	int64_t events_upto;           /* events: the store's last event id in it (0: a result) */
	uint8_t job_id[QL_JOB_ID_LEN]; /* for the observer */
	struct outmsg *next;
};

struct link;

struct slot {
	struct link *link;
	bool poller;
	nng_ctx ctx;
	nng_aio *aio;
	enum slot_state state;
	struct outmsg *carrying; /* the result this slot is sending, until answered */
};

struct link {
	struct qa_agent *agent;
	const char *url;
	nng_socket sock;
	nng_dialer dialer;
	bool open;
	bool ready;       /* the coordinator has accepted our hello on the current pipe */
	atomic_int pipes; /* live connections (nng's pipe callback, no lock) */
	struct slot slots[1 + RESULT_SLOTS];
	size_t n_slots;
	struct outmsg *outbox, **outbox_tail;
	uint64_t seq;
	/* The poller's HOLD deadline. Its own aio, so that a result arriving
	 * early never has to cancel a sleep (nng 1.5 can complete an aio twice
	 * when a cancel races its timer). */
	nng_aio *hold_aio;
	bool hold_armed;
	int64_t hold_until; /* monotonic ms */
};

struct job {
	struct qa_pending *p; /* owned by the executor once it runs (freed by qa_exec_run) */
	struct link *link;    /* where the command came from; its result goes back there */
	/* What it is, for in_flight(). */
	uint8_t signer[QL_PUBKEY_LEN], job_id[QL_JOB_ID_LEN], hash[QL_HASH_LEN];
};

struct qa_agent {
	struct qa_config *cfg;
	struct ql_secret_key *key;
	struct qa_store *store;
	struct qa_exec_env env;
	pthread_mutex_t lock;
	struct link links[QA_MAX_COORDINATORS];
	size_t n_links;
	struct job queue[QUEUE_MAX];
	size_t q_head, q_len;
	struct job running;
	int64_t next_prune; /* when the executor next forgets old job ids */
	bool prune_due;
	/* Mitigations (lifecycle.c), looked after in the executor's turns. */
	bool started;        /* the first turn (TTLs that ran out while stopped) is done */
	int64_t next_expiry; /* the earliest TTL; 0: none (only serve() uses it) */
	/* One batch of stored events in flight at a time: an answer to it means
	 * the coordinator has every event up to its last id. */
	bool events_in_flight;
	int64_t events_acked; /* store ids up to this one the coordinator has */
	bool ack_due;         /* events_acked moved: forget them in the store */
	bool stopping;
	void (*observe)(void *arg, enum qa_event ev, const uint8_t job_id[QL_JOB_ID_LEN]);
	void *observe_arg;
	struct qa_health *health;  /* NULL: no checks, no check thread */
	struct ql_tls_proof proof; /* with tls_cert: what every hello carries (tls.h) */
	struct qa_executor *x;
	bool own_x;          /* made by qa_agent_new, freed with the agent */
	struct qa_turn turn; /* the agent's place in the executor's list */
};

/* agent.c */
/* Ask the executor for a turn (qa_agent_serve). */
void qa_agent_submit(struct qa_agent *a);
void qa_agent_observe(struct qa_agent *a, enum qa_event ev, const uint8_t *job_id);
/* Queue a signed message (ownership of data moves) for l's coordinator; NULL
 * if out of memory (data is freed). a->lock held. */
struct outmsg *qa_outbox_add(struct link *l, uint8_t *data, size_t len, const uint8_t *job_id);
/* Send what the outbox holds on the slots that are free. a->lock held. */
void qa_outbox_kick(struct link *l);

/* turn.c */
void qa_agent_serve(struct qa_turn *t);

#endif
