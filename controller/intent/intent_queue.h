/* intent_queue: the order approved Intents wait in for a pipeline slot (critical > high > medium >
 * low, then creation time, then name), admission under maxConcurrentPipelines per namespace,
 * positions for the head of the queue only, and SLA deadlines from an injected "now". Pure; the
 * caller owns the arrays and the strings they point to. Thread-safe on distinct arrays. */
#ifndef INTENT_QUEUE_H
#define INTENT_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "intent_policy.h"

/* Positions are written to status only for this many Intents at the head of the queue. */
#define INTENT_QUEUE_POSITIONS 20

struct intent_queue_item {
	const char *name;              /* borrowed; the Intent's name (unique in the namespace) */
	enum intent_priority priority;
	int64_t created_ms;            /* metadata.creationTimestamp, ms since the epoch */
	int admitted;                  /* already past the queue (holds a pipeline slot) */
	int position;                  /* out: 1-based place among the waiting, 0 = not written */
	int status_position;           /* in: status.queue.position as the object has it now (0: none) */
};

/* Sorts items into queue order (priority, then created_ms, then name; NULL names last). */
void intent_queue_sort(struct intent_queue_item *items, size_t n);

/* Sorts, then admits waiting items in order while fewer than max_concurrent hold a slot: sets
 * their admitted flag and stores their indexes (into the sorted array) in admit[] (room for n).
 * Then sets position 1..INTENT_QUEUE_POSITIONS on the first waiting items, 0 on the rest.
 * Returns the number admitted (0 when the cap is reached or max_concurrent < 1), or KUBE_EINVAL
 * when items is NULL with n > 0. */
int intent_queue_admit(struct intent_queue_item *items, size_t n, int max_concurrent, size_t *admit);

/* intent_queue_admit() for items already in queue order (intent_queue_index_foreach_ordered):
 * no sort, O(n). */
int intent_queue_admit_sorted(struct intent_queue_item *items, size_t n, int max_concurrent,
			      size_t *admit);

/* After intent_queue_admit(): stores in changed[] (room for n) the indexes of the items whose
 * status must be written because their position differs from status_position (an admitted item
 * whose status still shows a position counts too) and returns how many. One admission with the
 * queue unchanged otherwise costs at most INTENT_QUEUE_POSITIONS + 1 writes, however long the
 * queue. KUBE_EINVAL for NULL arrays with n > 0. */
int intent_queue_changed(const struct intent_queue_item *items, size_t n, size_t *changed);

/* The SLA deadline of an Intent enqueued at enqueued_ms with the policy's SLA for its priority
 * (built-in defaults when policy is NULL): 0 and *deadline_ms, or KUBE_ENOTFOUND when the
 * priority has no SLA. */
int intent_sla_deadline(const struct intent_policy *policy, enum intent_priority prio,
			int64_t enqueued_ms, int64_t *deadline_ms);

/* 1 when now_ms is past the deadline (a deadline equal to now is not yet breached). */
int intent_sla_breached(int64_t deadline_ms, int64_t now_ms);

/* The queue's index of the cached Intents (issue 12): what a queue pass needs of each, kept by
 * the wing from the informer's events so that a pass reads no cached object. An entry is
 * re-read only when its resourceVersion changes (intent_queue_index_put says so). Not
 * thread-safe: the caller locks. */
struct intent_queue_entry {
	const char *ns, *name, *rv;    /* in put: borrowed; in the index: owned copies */
	enum intent_priority priority;
	int64_t created_ms, gen;
	int64_t position;              /* status.queue.position (0: none) */
	int candidate;                 /* approved for gen, not denied, cancelled or deleting */
	int done;                      /* finished for gen (no slot wanted) */
	int admitted_cond;             /* Queued False/Admitted for gen */
	/* What governance's peer checks need (evaluate(): port taken, name taken, dependency
	 * exists / cycle), looked up by intent_queue_index_find instead of a walk of the cache. */
	const char *svc;               /* spec.serviceName (NULL: none) */
	int port;                      /* spec.port (0: none) */
	const char *const *deps;       /* spec.dependencies (strings; NULL entries skipped) */
	size_t ndeps;
	int deleting;                  /* metadata.deletionTimestamp set */
};
struct intent_queue_index;

struct intent_queue_index *intent_queue_index_new(void);
void intent_queue_index_free(struct intent_queue_index *idx);

/* 1 when the index holds ns/name at resourceVersion rv (nothing to re-read), else 0. */
int intent_queue_index_fresh(const struct intent_queue_index *idx, const char *ns,
			     const char *name, const char *rv);

/* Inserts or replaces the entry (its strings copied). 1 when stored, 0 when the index already
 * held it at the same non-NULL resourceVersion (left as it was), KUBE_EINVAL (NULL ns/name),
 * KUBE_ENOMEM. */
int intent_queue_index_put(struct intent_queue_index *idx, const struct intent_queue_entry *e);

/* Removes ns/name (no-op when absent). */
void intent_queue_index_del(struct intent_queue_index *idx, const char *ns, const char *name);

/* Calls fn for every entry of namespace ns (borrowed; valid until the index changes); a
 * non-zero return stops the walk and is returned. */
int intent_queue_index_foreach(const struct intent_queue_index *idx, const char *ns,
			       int (*fn)(const struct intent_queue_entry *e, void *ud), void *ud);

/* An entry of namespace ns, other than the Intent named except and not being deleted, whose
 * serviceName is svc (svc non-NULL) or, svc NULL, whose port is port (> 0). Borrowed (valid
 * until the index changes); NULL when there is none. O(1) plus the entries sharing that
 * serviceName or port. */
const struct intent_queue_entry *intent_queue_index_find(const struct intent_queue_index *idx,
							 const char *ns, const char *svc, int port,
							 const char *except);

/* Queue order of two entries (priority, created_ms, name): < 0, 0 or > 0, as intent_queue_sort. */
int intent_queue_entry_cmp(const struct intent_queue_entry *a, const struct intent_queue_entry *b);

/* Like intent_queue_index_foreach, but only the candidates of namespace ns (entries put with
 * candidate set), in queue order: the index keeps them sorted as entries come and go (a binary
 * search and a memmove per put), so a queue pass sorts nothing. */
int intent_queue_index_foreach_ordered(const struct intent_queue_index *idx, const char *ns,
				       int (*fn)(const struct intent_queue_entry *e, void *ud),
				       void *ud);

/* Entries in the index (every namespace). */
size_t intent_queue_index_len(const struct intent_queue_index *idx);

#endif
