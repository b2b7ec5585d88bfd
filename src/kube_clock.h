/* Injectable time: the real monotonic clock, or a fake clock that tests move by hand, plus a
 * condition variable whose timed waits follow whichever clock it was made with (client-go clock).
 * Invariants: times are int64 nanoseconds; a fake clock never moves unless advanced. */
#ifndef KUBE_CLOCK_H
#define KUBE_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define KUBE_NS_PER_MS INT64_C(1000000)
#define KUBE_NS_PER_SEC INT64_C(1000000000)
#define KUBE_MS(x) ((int64_t)(x) * KUBE_NS_PER_MS)
#define KUBE_SEC(x) ((int64_t)(x) * KUBE_NS_PER_SEC)
/* A deadline that never passes: wait until signalled. */
#define KUBE_CLOCK_FOREVER INT64_MAX

struct kube_clock;

/* The process-wide real clock (CLOCK_MONOTONIC / CLOCK_REALTIME). Never NULL; never freed
 * (kube_clock_free on it is a no-op). Thread-safe. */
struct kube_clock *kube_clock_real(void);

/* A fake clock whose monotonic time starts at start_ns and whose wall time starts at wall_ns
 * (nanoseconds since the Unix epoch; 0 picks 2026-01-01T00:00:00Z). Returns NULL on ENOMEM.
 * The caller owns it and frees it with kube_clock_free after every kube_cond made from it. */
struct kube_clock *kube_clock_fake_new(int64_t start_ns, int64_t wall_ns);

/* Frees a fake clock; no-op for NULL and for the real clock. */
void kube_clock_free(struct kube_clock *c);

/* Monotonic now in ns (never goes back). NULL means the real clock. Thread-safe, lock-free. */
int64_t kube_clock_now(const struct kube_clock *c);

/* Wall-clock now in ns since the Unix epoch, for timestamps written to the API (Lease
 * renewTime). Never use it for durations. NULL means the real clock. Thread-safe. */
int64_t kube_clock_wall(const struct kube_clock *c);

/* True for clocks made by kube_clock_fake_new. */
bool kube_clock_is_fake(const struct kube_clock *c);

/* Fake clock only: moves both times forward by d_ns (>= 0) and wakes every kube_cond of this
 * clock so that waiters re-check their deadlines. Ignored on the real clock. Thread-safe; must
 * not be called while holding the mutex of a kube_cond of this clock (it takes each one). */
void kube_clock_advance(struct kube_clock *c, int64_t d_ns);

/* Fake clock only: the number of threads blocked right now in kube_cond_wait_until on a kube_cond
 * of this clock. Tests use it to advance time only once a worker is waiting. 0 on the real
 * clock. */
int kube_clock_waiters(const struct kube_clock *c);

/* Fake clock only: the earliest finite deadline among the threads blocked right now, or
 * KUBE_CLOCK_FOREVER when none. Tests advance to it to fire the next timer. */
int64_t kube_clock_next_deadline(const struct kube_clock *c);

/* A condition variable bound to a clock and to the mutex that guards the caller's state. */
struct kube_cond;

/* Makes a condition variable for `mu` (borrowed, must outlive it) on clock c (NULL = real;
 * borrowed, must outlive it). Returns NULL on ENOMEM. Thread-safe, but call it without holding
 * `mu`: on a fake clock it registers with the clock, whose advance takes `mu`. */
struct kube_cond *kube_cond_new(struct kube_clock *c, pthread_mutex_t *mu);

/* Frees it; no thread may be waiting on it. Call without holding `mu`. NULL is a no-op. */
void kube_cond_free(struct kube_cond *cv);

/* Wakes one / all waiters. The caller should hold `mu` (as with pthread conditions, so that a
 * state change and its wakeup cannot be missed). */
void kube_cond_signal(struct kube_cond *cv);
void kube_cond_broadcast(struct kube_cond *cv);

/* Caller holds `mu`. Blocks until signalled or until the clock reaches deadline_ns (absolute,
 * kube_clock_now units; KUBE_CLOCK_FOREVER for none). Returns 0 when woken (possibly
 * spuriously: callers loop on their predicate) or KUBE_ETIMEDOUT when the deadline has passed
 * (checked before blocking, so a passed deadline never blocks). `mu` is held again on return. */
int kube_cond_wait_until(struct kube_cond *cv, int64_t deadline_ns);

#endif
