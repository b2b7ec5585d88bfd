/* Per-item rate limiters for retries (client-go workqueue rate limiters): how long to wait before
 * an item is retried. Invariants: delays are >= 0 ns; every limiter is thread-safe. */
#ifndef KUBE_RATELIMIT_H
#define KUBE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct kube_clock;
struct kube_ratelimiter;

/* Per-item exponential backoff: the n-th consecutive failure of a key waits base * 2^(n-1),
 * capped at max (client-go ItemExponentialFailureRateLimiter). Keys are copied.
 * Returns NULL on ENOMEM or when base_ns <= 0 or max_ns < base_ns. */
struct kube_ratelimiter *kube_ratelimiter_exponential_new(int64_t base_ns, int64_t max_ns);

/* Token bucket shared by all keys: `burst` tokens, refilled at `qps` per second; each call to
 * when() takes a token and returns how long until that token exists (x/time/rate Reserve).
 * Time comes from clock (NULL = real; borrowed, must outlive the limiter). forget() is a no-op
 * and num_requeues() is 0. NULL on ENOMEM or when qps <= 0 or burst < 1. */
struct kube_ratelimiter *kube_ratelimiter_bucket_new(struct kube_clock *clock, double qps,
						     int burst);

/* A token bucket (qps, burst) with a reserve (reserve_qps, reserve_burst) that only
 * kube_ratelimiter_when_urgent draws from: an urgent call takes a reserve token when one exists
 * and returns 0 at once, never queued behind the tokens normal callers were promised; with the
 * reserve empty it waits in the shared bucket like any call. kube_ratelimiter_when never touches
 * the reserve. The two budgets add up: the caller may go up to qps + reserve_qps. NULL on ENOMEM
 * or when qps <= 0, burst < 1, reserve_qps <= 0 or reserve_burst < 1. */
struct kube_ratelimiter *kube_ratelimiter_bucket_reserve_new(struct kube_clock *clock, double qps,
							     int burst, double reserve_qps,
							     int reserve_burst);

/* The largest delay of several limiters; when/forget go to all of them, num_requeues is the
 * largest (client-go MaxOfRateLimiter). Takes ownership of the n limiters in `parts` (also on
 * failure: they are freed). NULL on ENOMEM or when n == 0 or a part is NULL. */
struct kube_ratelimiter *kube_ratelimiter_max_of_new(struct kube_ratelimiter **parts, size_t n);

/* client-go DefaultControllerRateLimiter: max(exponential 5 ms..1000 s, bucket 10/s burst 100).
 * NULL on ENOMEM. */
struct kube_ratelimiter *kube_ratelimiter_default_new(struct kube_clock *clock);

/* How long to wait before retrying `key`, recording one more failure of it. Stores the delay
 * in *delay_ns and returns 0, or KUBE_EINVAL (NULL argument) / KUBE_ENOMEM (no state could be
 * kept for a new key: *delay_ns is then the limiter's maximum, so the caller still backs off). */
int kube_ratelimiter_when(struct kube_ratelimiter *rl, const char *key, int64_t *delay_ns);

/* As kube_ratelimiter_when, for urgent work: a limiter made by kube_ratelimiter_bucket_reserve_new
 * serves it from its reserve first; any other limiter treats it as kube_ratelimiter_when. */
int kube_ratelimiter_when_urgent(struct kube_ratelimiter *rl, const char *key, int64_t *delay_ns);

/* Stops tracking `key` (call on success): its next failure starts from the base delay again. */
void kube_ratelimiter_forget(struct kube_ratelimiter *rl, const char *key);

/* How many failures of `key` are being tracked (0 after forget). */
int kube_ratelimiter_num_requeues(struct kube_ratelimiter *rl, const char *key);

/* Frees the limiter and its per-key state. NULL is a no-op. No call may be in progress. */
void kube_ratelimiter_free(struct kube_ratelimiter *rl);

#endif
