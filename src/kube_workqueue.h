/* A work queue of string keys for controllers, with client-go semantics: deduplicating, delaying
 * and rate-limited. Invariants: a key is queued at most once and handed to at most one worker at
 * a time; a key added while a worker holds it is queued again when that worker calls done(). */
#ifndef KUBE_WORKQUEUE_H
#define KUBE_WORKQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kube_clock;
struct kube_ratelimiter;
struct kube_workqueue;

struct kube_workqueue_opts {
	/* Names the queue in logs and in metrics (label `name`); NULL or "" disables metrics. */
	const char *name;
	/* Time source for delays, backoff and metrics (NULL = real). Borrowed: must outlive the
	 * queue. */
	struct kube_clock *clock;
	/* Limiter for add_rate_limited (NULL = kube_ratelimiter_default_new on `clock`). Owned by
	 * the queue from kube_workqueue_new on, also when it fails. */
	struct kube_ratelimiter *limiter;
	/* Limiter for add_rate_limited_urgent (NULL = `limiter`), e.g. a short backoff for
	 * failovers. Owned by the queue as `limiter`. forget() forgets the key in both;
	 * num_requeues() counts both. */
	struct kube_ratelimiter *urgent_limiter;
};

/* A new, empty queue. opts may be NULL (all defaults). Returns NULL on ENOMEM.
 * The name is copied. */
struct kube_workqueue *kube_workqueue_new(const struct kube_workqueue_opts *opts);

/* Frees the queue, any keys still queued or delayed, and its limiter. Call after shutdown once
 * no thread uses the queue any more (workers joined). NULL is a no-op. */
void kube_workqueue_free(struct kube_workqueue *q);

/* Queues a copy of `key` unless it is already queued (then nothing happens). If a worker is
 * processing the key right now it is marked dirty and queued again when done() is called.
 * Returns 0, KUBE_ESHUTDOWN after shutdown (the key is dropped, as in client-go), KUBE_EINVAL,
 * KUBE_ENOMEM (nothing changed). Thread-safe; never blocks for long. */
int kube_workqueue_add(struct kube_workqueue *q, const char *key);

/* Adds `key` once delay_ns has passed on the queue's clock (delay_ns <= 0: add now). If the key
 * is already waiting its ready time only moves earlier, never later. Keys that become ready at
 * the same instant are added in the order add_after was called. Returns as kube_workqueue_add.
 * Thread-safe. Delayed keys are dropped at shutdown. */
int kube_workqueue_add_after(struct kube_workqueue *q, const char *key, int64_t delay_ns);

/* add_after(key, limiter.when(key)): retry a failed key with backoff. Returns as add_after
 * (on KUBE_ENOMEM from the limiter the key is still added, with the limiter's maximum delay).
 * Thread-safe. */
int kube_workqueue_add_rate_limited(struct kube_workqueue *q, const char *key);

/* Tells the limiter the key succeeded: its next failure starts from the base delay. Does not
 * remove the key from the queue. Thread-safe. */
void kube_workqueue_forget(struct kube_workqueue *q, const char *key);

/* How many times the key was retried with add_rate_limited since the last forget(). */
int kube_workqueue_num_requeues(struct kube_workqueue *q, const char *key);

/* Blocks until a key is ready and hands it out: *key is a malloc'd copy the caller frees, after
 * calling kube_workqueue_done(q, *key) when finished with it. Returns 0, or KUBE_ESHUTDOWN
 * (with *key NULL) once the queue is shut down and empty: keys queued before shutdown are still
 * handed out. KUBE_ENOMEM: *key NULL, the key stays queued. Thread-safe. */
int kube_workqueue_get(struct kube_workqueue *q, char **key);

/* Marks the key as no longer being processed. If it was added meanwhile it is queued now.
 * Calling it for a key that is not being processed does nothing. Thread-safe. */
void kube_workqueue_done(struct kube_workqueue *q, const char *key);

/* Number of keys queued and ready (not counting delayed keys or keys being processed). */
size_t kube_workqueue_len(struct kube_workqueue *q);

/* Number of keys waiting for their delay to pass. */
size_t kube_workqueue_delayed_len(struct kube_workqueue *q);

/* Stops accepting keys, drops delayed keys and wakes every blocked get(). Idempotent. */
void kube_workqueue_shutdown(struct kube_workqueue *q);

/* Like shutdown, then blocks until every key being processed has been done() (client-go
 * ShutDownWithDrain). Workers must keep calling get() until it returns KUBE_ESHUTDOWN. */
void kube_workqueue_shutdown_with_drain(struct kube_workqueue *q);

/* True once shutdown has been called. */
bool kube_workqueue_shutting_down(struct kube_workqueue *q);

/* ---- Lanes: an urgent lane beside the normal FIFO ----
 * Both lanes share the queue's dirty and processing states: a key is queued at most once (in
 * one lane), is never handed to two workers at once whatever lane it came from, and a key added
 * while processing is queued again on done() in the most urgent lane it was added to. get()
 * hands out urgent keys first (FIFO within each lane). The calls above use the normal lane. */
enum kube_workqueue_lane { KUBE_LANE_NORMAL = 0, KUBE_LANE_URGENT = 1 };

/* Like kube_workqueue_add, in the urgent lane. A key already queued in the normal lane moves
 * to the urgent one (keeping one entry); an urgent key never moves back. Returns as
 * kube_workqueue_add. Thread-safe. */
int kube_workqueue_add_urgent(struct kube_workqueue *q, const char *key);

/* Like kube_workqueue_add_rate_limited, but the key enters the urgent lane when its delay has
 * passed (a delayed key's lane only ever upgrades, as its deadline only moves earlier).
 * Thread-safe. */
int kube_workqueue_add_rate_limited_urgent(struct kube_workqueue *q, const char *key);

/* Like kube_workqueue_get; with urgent_only it waits for and hands out urgent keys only (for
 * workers reserved for urgent work), returning KUBE_ESHUTDOWN once the queue is shut down and
 * the urgent lane is empty. *lane (may be NULL) receives the lane the key came from.
 * Thread-safe. */
int kube_workqueue_get_lane(struct kube_workqueue *q, bool urgent_only, char **key,
			    enum kube_workqueue_lane *lane);

/* Number of ready keys in the urgent lane (kube_workqueue_len counts both lanes). */
size_t kube_workqueue_urgent_len(struct kube_workqueue *q);

#endif
