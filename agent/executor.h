/*
 * executor.h: turns on a few threads for many takers (see agent.h for
 * qa_executor_new/free). A taker embeds a struct qa_turn and asks for a turn
 * with qa_executor_submit(); a thread calls its serve() with no executor
 * lock held. A taker is on the list at most once and served by one thread
 * at a time; asking during its turn gives it another one afterwards, at the
 * back of the list. Private to the agent core.
 */
#ifndef QA_EXECUTOR_H
#define QA_EXECUTOR_H

#include <stdbool.h>
#include <stdint.h>

struct qa_executor;

struct qa_turn {
	void (*serve)(struct qa_turn *t);
	/* The executor's bookkeeping, under its lock. */
	struct qa_turn *next;
	bool queued;  /* on the list */
	bool serving; /* a thread is in serve() */
	bool again;   /* asked for another turn during this one */
	/* qa_executor_wake_at: on the executor's timed list until wake_at. */
	struct qa_turn *tnext;
	bool timed;
	int64_t wake_at; /* unix seconds */
};

void qa_executor_submit(struct qa_executor *x, struct qa_turn *t);
/*
 * A turn at unix second `at` or soon after (the timed list is looked at
 * once a second), replacing an earlier request; at 0: none.
 */
void qa_executor_wake_at(struct qa_executor *x, struct qa_turn *t, int64_t at);
/* Off the list, and wait for a turn in progress to end: then t may be freed. */
void qa_executor_detach(struct qa_executor *x, struct qa_turn *t);

#endif
