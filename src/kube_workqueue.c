/* The controller work queue (kube_workqueue.h): client-go's queue, delaying queue and rate-limited
 * queue in one object. Delays live on a min-heap that get() drains, so no timer thread is needed. */
#include "kube_workqueue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "kube_clock.h"
#include "kube_error.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_ratelimit.h"

#define NOT_WAITING SIZE_MAX

/* One per key the queue knows about. client-go keeps three sets (queue, dirty, processing) and a
 * waiting map; one record with flags gives the same states with a single lookup. It is in the
 * FIFO exactly when dirty && !processing, and freed when it is in none of the states. */
struct item {
	char *key;
	bool dirty;          /* needs processing: queued, or to be queued again on done() */
	bool processing;     /* handed out by get(), done() not called yet */
	size_t heap_idx;     /* position on the delay heap, NOT_WAITING when not delayed */
	int64_t ready_at;    /* delay heap: when to add */
	uint64_t seq;        /* delay heap: FIFO tie-break among equal ready_at */
	int64_t added_at;    /* when it became dirty (queue_duration metric) */
	int64_t started_at;  /* when get() handed it out (work_duration metric) */
	UT_hash_handle hh;
};

struct kube_workqueue {
	pthread_mutex_t mu;
	struct kube_cond *cond;       /* get() waiters: a key is ready, a deadline moved, shutdown */
	struct kube_cond *drain_cond; /* shutdown_with_drain waiter: processing became empty */
	struct kube_clock *clock;
	struct kube_ratelimiter *limiter;
	char *name;

	struct item *items;           /* uthash by key */
	struct item **fifo;           /* ring buffer of ready keys */
	size_t fifo_head, fifo_len, fifo_cap;
	struct item **heap;           /* min-heap by (ready_at, seq) */
	size_t heap_len, heap_cap;
	uint64_t next_seq;
	size_t nprocessing;
	size_t ndirty;
	bool shutting_down;

	/* Metrics families (NULL when the queue has no name: every call is then a no-op). */
	struct kube_metric *m_depth, *m_adds, *m_retries, *m_queue_dur, *m_work_dur;
};

/* ---- metrics ---- */

static void register_metrics(struct kube_workqueue *q)
{
	static const char *const labels[] = {"name", NULL};
	double buckets[10];
	struct kube_metrics *reg = kube_metrics_default();

	if (q->name == NULL || reg == NULL)
		return;
	/* client-go's buckets: 10 ns .. 10 s in factors of ten. */
	kube_metric_exponential_buckets(10e-9, 10, 10, buckets);
	q->m_depth = kube_metric_register(reg, KUBE_GAUGE, "workqueue_depth",
					  "Current depth of workqueue", labels, NULL, 0);
	q->m_adds = kube_metric_register(reg, KUBE_COUNTER, "workqueue_adds_total",
					 "Total number of adds handled by workqueue", labels, NULL,
					 0);
	q->m_retries = kube_metric_register(reg, KUBE_COUNTER, "workqueue_retries_total",
					    "Total number of retries handled by workqueue", labels,
					    NULL, 0);
	q->m_queue_dur = kube_metric_register(
		reg, KUBE_HISTOGRAM, "workqueue_queue_duration_seconds",
		"How long in seconds an item stays in workqueue before being requested", labels,
		buckets, 10);
	q->m_work_dur = kube_metric_register(
		reg, KUBE_HISTOGRAM, "workqueue_work_duration_seconds",
		"How long in seconds processing an item from workqueue takes", labels, buckets, 10);
}

static double seconds_between(int64_t from, int64_t to)
{
	return (double)(to - from) / (double)KUBE_NS_PER_SEC;
}

/* ---- items, FIFO and heap ---- */

static struct item *item_get_or_new_locked(struct kube_workqueue *q, const char *key)
{
	struct item *it;

	HASH_FIND_STR(q->items, key, it);
	if (it != NULL)
		return it;
	it = calloc(1, sizeof(*it));
	if (it == NULL)
		return NULL;
	it->key = strdup(key);
	if (it->key == NULL) {
		free(it);
		return NULL;
	}
	it->heap_idx = NOT_WAITING;
	HASH_ADD_KEYPTR(hh, q->items, it->key, strlen(it->key), it);
	return it;
}

/* Frees the record once the queue no longer needs it for anything. */
static void item_release_if_idle_locked(struct kube_workqueue *q, struct item *it)
{
	if (it->dirty || it->processing || it->heap_idx != NOT_WAITING)
		return;
	HASH_DEL(q->items, it);
	free(it->key);
	free(it);
}

/* Capacity for `need` pointers, doubling; *cap is updated only on success. */
static struct item **grow(struct item **arr, size_t *cap, size_t need)
{
	size_t ncap = *cap ? *cap : 16;
	struct item **n;

	if (need <= *cap)
		return arr;
	while (ncap < need)
		ncap *= 2;
	n = realloc(arr, ncap * sizeof(*n));
	if (n != NULL)
		*cap = ncap;
	return n;
}

static int fifo_reserve_locked(struct kube_workqueue *q)
{
	size_t oldcap = q->fifo_cap;
	struct item **n;

	if (q->fifo_len < q->fifo_cap)
		return 0;
	n = grow(q->fifo, &q->fifo_cap, q->fifo_len + 1);
	if (n == NULL)
		return KUBE_ENOMEM;
	q->fifo = n;
	/* Unwrap: the part that wrapped around moves behind the old end. */
	if (q->fifo_head + q->fifo_len > oldcap) {
		size_t tail = q->fifo_head + q->fifo_len - oldcap;
		memmove(n + oldcap, n, tail * sizeof(*n));
	}
	return 0;
}

static void fifo_push_locked(struct kube_workqueue *q, struct item *it)
{
	q->fifo[(q->fifo_head + q->fifo_len) % q->fifo_cap] = it;
	q->fifo_len++;
}

static struct item *fifo_pop_locked(struct kube_workqueue *q)
{
	struct item *it = q->fifo[q->fifo_head];
	q->fifo_head = (q->fifo_head + 1) % q->fifo_cap;
	q->fifo_len--;
	return it;
}

static bool heap_less(const struct item *a, const struct item *b)
{
	if (a->ready_at != b->ready_at)
		return a->ready_at < b->ready_at;
	return a->seq < b->seq;
}

static void heap_set(struct kube_workqueue *q, size_t i, struct item *it)
{
	q->heap[i] = it;
	it->heap_idx = i;
}

static void heap_up_locked(struct kube_workqueue *q, size_t i)
{
	struct item *it = q->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!heap_less(it, q->heap[parent]))
			break;
		heap_set(q, i, q->heap[parent]);
		i = parent;
	}
	heap_set(q, i, it);
}

static void heap_down_locked(struct kube_workqueue *q, size_t i)
{
	struct item *it = q->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct item *best = it;
		if (l < q->heap_len && heap_less(q->heap[l], best)) {
			m = l;
			best = q->heap[l];
		}
		if (r < q->heap_len && heap_less(q->heap[r], best))
			m = r;
		if (m == i)
			break;
		heap_set(q, i, q->heap[m]);
		i = m;
	}
	heap_set(q, i, it);
}

static void heap_remove_top_locked(struct kube_workqueue *q)
{
	struct item *top = q->heap[0];
	q->heap_len--;
	top->heap_idx = NOT_WAITING;
	if (q->heap_len > 0) {
		heap_set(q, 0, q->heap[q->heap_len]);
		heap_down_locked(q, 0);
	}
}

/* ---- the queue proper ---- */

/* client-go Add: dedup on the dirty flag; a key being processed waits for done(). */
static int add_locked(struct kube_workqueue *q, struct item *it)
{
	const char *lv[] = {q->name};

	if (it->dirty)
		return 0;
	if (!it->processing) {
		if (fifo_reserve_locked(q) != 0)
			return KUBE_ENOMEM;
		fifo_push_locked(q, it);
		kube_cond_signal(q->cond);
	}
	it->dirty = true;
	it->added_at = kube_clock_now(q->clock);
	q->ndirty++;
	kube_metric_inc(q->m_adds, lv);
	kube_metric_set(q->m_depth, lv, (double)q->ndirty);
	return 0;
}

/* Moves every delayed key whose time has come into the queue (client-go's waitingLoop, run
 * inline by whoever holds the lock). */
static void promote_ready_locked(struct kube_workqueue *q)
{
	int64_t now = kube_clock_now(q->clock);

	while (q->heap_len > 0 && q->heap[0]->ready_at <= now) {
		struct item *it = q->heap[0];
		if (add_locked(q, it) != 0)
			break; /* out of memory: leave it delayed, a later call retries */
		heap_remove_top_locked(q);
	}
}

int kube_workqueue_add(struct kube_workqueue *q, const char *key)
{
	struct item *it;
	int rc;

	if (q == NULL || key == NULL)
		return KUBE_EINVAL;
	pthread_mutex_lock(&q->mu);
	if (q->shutting_down) {
		rc = KUBE_ESHUTDOWN;
		goto out;
	}
	it = item_get_or_new_locked(q, key);
	if (it == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	rc = add_locked(q, it);
	item_release_if_idle_locked(q, it);
out:
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int kube_workqueue_add_after(struct kube_workqueue *q, const char *key, int64_t delay_ns)
{
	struct item *it, **heap;
	int64_t ready_at;
	int rc = 0;

	if (q == NULL || key == NULL)
		return KUBE_EINVAL;
	if (delay_ns <= 0)
		return kube_workqueue_add(q, key);
	pthread_mutex_lock(&q->mu);
	if (q->shutting_down) {
		rc = KUBE_ESHUTDOWN;
		goto out;
	}
	it = item_get_or_new_locked(q, key);
	if (it == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	ready_at = kube_clock_now(q->clock);
	/* A huge delay means "practically never", not a wrapped-around deadline in the past. */
	ready_at = delay_ns > KUBE_CLOCK_FOREVER - ready_at ? KUBE_CLOCK_FOREVER : ready_at + delay_ns;
	if (it->heap_idx != NOT_WAITING) {
		/* Already waiting: only an earlier deadline counts (client-go). */
		if (ready_at < it->ready_at) {
			it->ready_at = ready_at;
			heap_up_locked(q, it->heap_idx);
			kube_cond_broadcast(q->cond);
		}
		goto out;
	}
	heap = grow(q->heap, &q->heap_cap, q->heap_len + 1);
	if (heap == NULL) {
		item_release_if_idle_locked(q, it);
		rc = KUBE_ENOMEM;
		goto out;
	}
	q->heap = heap;
	it->ready_at = ready_at;
	it->seq = q->next_seq++;
	q->heap[q->heap_len] = it;
	it->heap_idx = q->heap_len++;
	heap_up_locked(q, it->heap_idx);
	/* Getters sleep until the old earliest deadline; a new earliest one must wake them. */
	if (it->heap_idx == 0)
		kube_cond_broadcast(q->cond);
out:
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int kube_workqueue_add_rate_limited(struct kube_workqueue *q, const char *key)
{
	const char *lv[1];
	int64_t delay = 0;
	int rc;

	if (q == NULL || key == NULL)
		return KUBE_EINVAL;
	/* A failed when() still yields the maximum delay: back off rather than spin. */
	kube_ratelimiter_when(q->limiter, key, &delay);
	rc = kube_workqueue_add_after(q, key, delay);
	if (rc == 0) {
		lv[0] = q->name;
		kube_metric_inc(q->m_retries, lv);
	}
	return rc;
}

void kube_workqueue_forget(struct kube_workqueue *q, const char *key)
{
	if (q != NULL)
		kube_ratelimiter_forget(q->limiter, key);
}

int kube_workqueue_num_requeues(struct kube_workqueue *q, const char *key)
{
	return q != NULL ? kube_ratelimiter_num_requeues(q->limiter, key) : 0;
}

int kube_workqueue_get(struct kube_workqueue *q, char **key)
{
	const char *lv[1];
	struct item *it;
	char *copy;
	int rc = 0;

	if (q == NULL || key == NULL)
		return KUBE_EINVAL;
	*key = NULL;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		promote_ready_locked(q);
		if (q->fifo_len > 0 || q->shutting_down)
			break;
		kube_cond_wait_until(q->cond,
				     q->heap_len > 0 ? q->heap[0]->ready_at : KUBE_CLOCK_FOREVER);
	}
	if (q->fifo_len == 0) {
		rc = KUBE_ESHUTDOWN;
		goto out;
	}
	/* Copy first so that running out of memory leaves the key queued. */
	copy = strdup(q->fifo[q->fifo_head]->key);
	if (copy == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	it = fifo_pop_locked(q);
	it->dirty = false;
	it->processing = true;
	q->ndirty--;
	q->nprocessing++;
	it->started_at = kube_clock_now(q->clock);
	lv[0] = q->name;
	kube_metric_set(q->m_depth, lv, (double)q->ndirty);
	kube_metric_observe(q->m_queue_dur, lv, seconds_between(it->added_at, it->started_at));
	*key = copy;
out:
	pthread_mutex_unlock(&q->mu);
	return rc;
}

void kube_workqueue_done(struct kube_workqueue *q, const char *key)
{
	const char *lv[1];
	struct item *it;

	if (q == NULL || key == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	HASH_FIND_STR(q->items, key, it);
	if (it == NULL || !it->processing)
		goto out;
	lv[0] = q->name;
	kube_metric_observe(q->m_work_dur, lv,
			    seconds_between(it->started_at, kube_clock_now(q->clock)));
	if (it->dirty && fifo_reserve_locked(q) != 0) {
		/* Cannot queue it again: keep it processing-and-dirty rather than lose it; the
		 * next done() for it retries. Logged because it means memory is gone. */
		kube_log(KUBE_LOG_ERROR, "workqueue", "out of memory re-queueing key", "queue",
			 q->name, "key", key, NULL);
		goto out;
	}
	it->processing = false;
	q->nprocessing--;
	if (it->dirty) {
		fifo_push_locked(q, it);
		kube_cond_signal(q->cond);
	}
	if (q->nprocessing == 0)
		kube_cond_broadcast(q->drain_cond);
	item_release_if_idle_locked(q, it);
out:
	pthread_mutex_unlock(&q->mu);
}

size_t kube_workqueue_len(struct kube_workqueue *q)
{
	size_t n;

	if (q == NULL)
		return 0;
	pthread_mutex_lock(&q->mu);
	promote_ready_locked(q);
	n = q->fifo_len;
	pthread_mutex_unlock(&q->mu);
	return n;
}

size_t kube_workqueue_delayed_len(struct kube_workqueue *q)
{
	size_t n;

	if (q == NULL)
		return 0;
	pthread_mutex_lock(&q->mu);
	promote_ready_locked(q);
	n = q->heap_len;
	pthread_mutex_unlock(&q->mu);
	return n;
}

static void shutdown_locked(struct kube_workqueue *q)
{
	if (q->shutting_down)
		return;
	q->shutting_down = true;
	while (q->heap_len > 0) {
		struct item *it = q->heap[0];
		heap_remove_top_locked(q);
		item_release_if_idle_locked(q, it);
	}
	kube_cond_broadcast(q->cond);
}

void kube_workqueue_shutdown(struct kube_workqueue *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	shutdown_locked(q);
	pthread_mutex_unlock(&q->mu);
}

void kube_workqueue_shutdown_with_drain(struct kube_workqueue *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	shutdown_locked(q);
	while (q->nprocessing > 0)
		kube_cond_wait_until(q->drain_cond, KUBE_CLOCK_FOREVER);
	pthread_mutex_unlock(&q->mu);
}

bool kube_workqueue_shutting_down(struct kube_workqueue *q)
{
	bool v;

	if (q == NULL)
		return true;
	pthread_mutex_lock(&q->mu);
	v = q->shutting_down;
	pthread_mutex_unlock(&q->mu);
	return v;
}

struct kube_workqueue *kube_workqueue_new(const struct kube_workqueue_opts *opts)
{
	struct kube_workqueue_opts none = {0};
	struct kube_workqueue *q;

	if (opts == NULL)
		opts = &none;
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		kube_ratelimiter_free(opts->limiter);
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	q->clock = opts->clock != NULL ? opts->clock : kube_clock_real();
	q->limiter = opts->limiter != NULL ? opts->limiter : kube_ratelimiter_default_new(q->clock);
	if (opts->name != NULL && opts->name[0] != '\0')
		q->name = strdup(opts->name);
	q->cond = kube_cond_new(q->clock, &q->mu);
	q->drain_cond = kube_cond_new(q->clock, &q->mu);
	if (q->limiter == NULL || q->cond == NULL || q->drain_cond == NULL ||
	    (opts->name != NULL && opts->name[0] != '\0' && q->name == NULL)) {
		kube_workqueue_free(q);
		return NULL;
	}
	register_metrics(q);
	return q;
}

void kube_workqueue_free(struct kube_workqueue *q)
{
	struct item *it, *tmp;

	if (q == NULL)
		return;
	HASH_ITER(hh, q->items, it, tmp) {
		HASH_DEL(q->items, it);
		free(it->key);
		free(it);
	}
	if (q->m_depth != NULL) {
		const char *lv[] = {q->name};
		kube_metric_remove(q->m_depth, lv);
	}
	free(q->fifo);
	free(q->heap);
	kube_cond_free(q->cond);
	kube_cond_free(q->drain_cond);
	kube_ratelimiter_free(q->limiter);
	free(q->name);
	pthread_mutex_destroy(&q->mu);
	free(q);
}
