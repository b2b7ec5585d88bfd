/* The controller work queue (kube_workqueue.h): client-go's queue, delaying queue and rate-limited
 * queue in one object. Delays live on a min-heap that get() drains, so no timer thread is needed.
 * Ready keys wait in one of two FIFOs (lanes): urgent first, then normal; both share the item
 * records, hence the dirty/processing states. */
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
 * waiting map; one record with flags gives the same states with a single lookup. It is in a
 * FIFO exactly when dirty && !processing (the urgent one when `urgent`), and freed when it is in
 * none of the states. */
struct item {
	UT_hash_handle hh;
	bool dirty;          /* needs processing: queued, or to be queued again on done() */
	bool processing;     /* handed out by get(), done() not called yet */
	bool urgent;         /* the dirty state belongs to the urgent lane */
	bool wait_urgent;    /* delay heap: becomes urgent when due */
	size_t heap_idx;     /* position on the delay heap, NOT_WAITING when not delayed */
	int64_t ready_at;    /* delay heap: when to add */
	uint64_t seq;        /* delay heap: FIFO tie-break among equal ready_at */
	int64_t added_at;    /* when it became dirty (queue_duration metric) */
	int64_t started_at;  /* when get() handed it out (work_duration metric) */
	char key[];          /* one allocation per key (thousands wait delayed at once) */
};

/* A ring buffer of ready keys. */
struct ring {
	struct item **buf;
	size_t head, len, cap;
};

struct kube_workqueue {
	pthread_mutex_t mu;
	struct kube_cond *cond;       /* get() waiters: a key is ready, a deadline moved, shutdown */
	struct kube_cond *drain_cond; /* shutdown_with_drain waiter: processing became empty */
	struct kube_clock *clock;
	struct kube_ratelimiter *limiter;
	struct kube_ratelimiter *urgent_limiter; /* NULL = limiter */
	char *name;

	struct item *items;           /* uthash by key */
	struct ring lanes[2];         /* ready keys: [KUBE_LANE_NORMAL], [KUBE_LANE_URGENT] */
	struct kube_cond *urgent_cond; /* get_lane(urgent_only) waiters */
	int urgent_waiters;           /* threads blocked in get_lane(urgent_only) */
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
	size_t len = strlen(key);
	it = calloc(1, sizeof(*it) + len + 1);
	if (it == NULL)
		return NULL;
	memcpy(it->key, key, len + 1);
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

static int ring_reserve(struct ring *r)
{
	size_t oldcap = r->cap;
	struct item **n;

	if (r->len < r->cap)
		return 0;
	n = grow(r->buf, &r->cap, r->len + 1);
	if (n == NULL)
		return KUBE_ENOMEM;
	r->buf = n;
	/* Unwrap: the part that wrapped around moves behind the old end. */
	if (r->head + r->len > oldcap) {
		size_t tail = r->head + r->len - oldcap;
		memmove(n + oldcap, n, tail * sizeof(*n));
	}
	return 0;
}

static void ring_push(struct ring *r, struct item *it)
{
	r->buf[(r->head + r->len) % r->cap] = it;
	r->len++;
}

static struct item *ring_pop(struct ring *r)
{
	struct item *it = r->buf[r->head];
	r->head = (r->head + 1) % r->cap;
	r->len--;
	return it;
}

/* Unlinks `it` from the middle of the ring, keeping the order of the others. O(len): only an
 * urgent add of a key already waiting in the normal lane does it. */
static void ring_remove(struct ring *r, const struct item *it)
{
	size_t i = 0;

	while (i < r->len && r->buf[(r->head + i) % r->cap] != it)
		i++;
	if (i == r->len)
		return;
	for (; i + 1 < r->len; i++)
		r->buf[(r->head + i) % r->cap] = r->buf[(r->head + i + 1) % r->cap];
	r->len--;
}

static struct ring *lane_of(struct kube_workqueue *q, const struct item *it)
{
	return &q->lanes[it->urgent ? KUBE_LANE_URGENT : KUBE_LANE_NORMAL];
}

static size_t ready_len_locked(const struct kube_workqueue *q)
{
	return q->lanes[KUBE_LANE_NORMAL].len + q->lanes[KUBE_LANE_URGENT].len;
}

/* Puts a ready key in its lane (space reserved by the caller) and wakes one getter that can take
 * it: an urgent key prefers a thread that only takes urgent keys. */
static void lane_push_locked(struct kube_workqueue *q, struct item *it)
{
	ring_push(lane_of(q, it), it);
	if (it->urgent && q->urgent_waiters > 0)
		kube_cond_signal(q->urgent_cond);
	else
		kube_cond_signal(q->cond);
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

/* Wakes every getter of either kind: a deadline moved earlier, or shutdown. */
static void wake_all_locked(struct kube_workqueue *q)
{
	kube_cond_broadcast(q->cond);
	kube_cond_broadcast(q->urgent_cond);
}

/* An urgent add of a key already dirty in the normal lane: it moves to the urgent lane now (or,
 * while processing, is queued there on done()). A key never moves the other way. */
static int upgrade_locked(struct kube_workqueue *q, struct item *it)
{
	if (it->processing) {
		it->urgent = true;
		return 0;
	}
	if (ring_reserve(&q->lanes[KUBE_LANE_URGENT]) != 0)
		return KUBE_ENOMEM;
	ring_remove(&q->lanes[KUBE_LANE_NORMAL], it);
	it->urgent = true;
	lane_push_locked(q, it);
	return 0;
}

/* client-go Add: dedup on the dirty flag; a key being processed waits for done(). */
static int add_locked(struct kube_workqueue *q, struct item *it, bool urgent)
{
	const char *lv[] = {q->name};

	if (it->dirty)
		return urgent && !it->urgent ? upgrade_locked(q, it) : 0;
	if (!it->processing &&
	    ring_reserve(&q->lanes[urgent ? KUBE_LANE_URGENT : KUBE_LANE_NORMAL]) != 0)
		return KUBE_ENOMEM;
	it->dirty = true;
	it->urgent = urgent;
	if (!it->processing)
		lane_push_locked(q, it);
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
		if (add_locked(q, it, it->wait_urgent) != 0)
			break; /* out of memory: leave it delayed, a later call retries */
		heap_remove_top_locked(q);
		it->wait_urgent = false;
	}
}

static int add_lane(struct kube_workqueue *q, const char *key, bool urgent)
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
	rc = add_locked(q, it, urgent);
	item_release_if_idle_locked(q, it);
out:
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int kube_workqueue_add(struct kube_workqueue *q, const char *key)
{
	return add_lane(q, key, false);
}

int kube_workqueue_add_urgent(struct kube_workqueue *q, const char *key)
{
	return add_lane(q, key, true);
}

/* A key already waiting: only an earlier deadline counts (client-go), and an urgent add makes
 * the wait urgent. */
static void rewait_locked(struct kube_workqueue *q, struct item *it, int64_t ready_at,
			  bool urgent)
{
	it->wait_urgent = it->wait_urgent || urgent;
	if (ready_at < it->ready_at) {
		it->ready_at = ready_at;
		heap_up_locked(q, it->heap_idx);
		wake_all_locked(q);
	}
}

static int add_after_lane(struct kube_workqueue *q, const char *key, int64_t delay_ns,
			  bool urgent)
{
	struct item *it, **heap;
	int64_t ready_at;
	int rc = 0;

	if (q == NULL || key == NULL)
		return KUBE_EINVAL;
	if (delay_ns <= 0)
		return add_lane(q, key, urgent);
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
		rewait_locked(q, it, ready_at, urgent);
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
	it->wait_urgent = urgent;
	it->seq = q->next_seq++;
	q->heap[q->heap_len] = it;
	it->heap_idx = q->heap_len++;
	heap_up_locked(q, it->heap_idx);
	/* Getters sleep until the old earliest deadline; a new earliest one must wake them. */
	if (it->heap_idx == 0)
		wake_all_locked(q);
out:
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int kube_workqueue_add_after(struct kube_workqueue *q, const char *key, int64_t delay_ns)
{
	return add_after_lane(q, key, delay_ns, false);
}

static int add_rate_limited_lane(struct kube_workqueue *q, const char *key, bool urgent)
{
	const char *lv[1];
	int64_t delay = 0;
	int rc;

	if (q == NULL || key == NULL)
		return KUBE_EINVAL;
	/* A failed when() still yields the maximum delay: back off rather than spin. */
	kube_ratelimiter_when(urgent && q->urgent_limiter != NULL ? q->urgent_limiter : q->limiter,
			      key, &delay);
	rc = add_after_lane(q, key, delay, urgent);
	if (rc == 0) {
		lv[0] = q->name;
		kube_metric_inc(q->m_retries, lv);
	}
	return rc;
}

int kube_workqueue_add_rate_limited(struct kube_workqueue *q, const char *key)
{
	return add_rate_limited_lane(q, key, false);
}

int kube_workqueue_add_rate_limited_urgent(struct kube_workqueue *q, const char *key)
{
	return add_rate_limited_lane(q, key, true);
}

void kube_workqueue_forget(struct kube_workqueue *q, const char *key)
{
	if (q == NULL)
		return;
	kube_ratelimiter_forget(q->limiter, key);
	if (q->urgent_limiter != NULL)
		kube_ratelimiter_forget(q->urgent_limiter, key);
}

int kube_workqueue_num_requeues(struct kube_workqueue *q, const char *key)
{
	if (q == NULL)
		return 0;
	return kube_ratelimiter_num_requeues(q->limiter, key) +
	       (q->urgent_limiter != NULL ? kube_ratelimiter_num_requeues(q->urgent_limiter, key)
					  : 0);
}

/* The lane get() takes from next: urgent first; NULL when none it may take is ready. */
static struct ring *next_lane_locked(struct kube_workqueue *q, bool urgent_only)
{
	if (q->lanes[KUBE_LANE_URGENT].len > 0)
		return &q->lanes[KUBE_LANE_URGENT];
	if (!urgent_only && q->lanes[KUBE_LANE_NORMAL].len > 0)
		return &q->lanes[KUBE_LANE_NORMAL];
	return NULL;
}

static void wait_for_key_locked(struct kube_workqueue *q, bool urgent_only)
{
	int64_t deadline = q->heap_len > 0 ? q->heap[0]->ready_at : KUBE_CLOCK_FOREVER;

	if (!urgent_only) {
		kube_cond_wait_until(q->cond, deadline);
		return;
	}
	q->urgent_waiters++;
	kube_cond_wait_until(q->urgent_cond, deadline);
	q->urgent_waiters--;
}

int kube_workqueue_get_lane(struct kube_workqueue *q, bool urgent_only, char **key,
			    enum kube_workqueue_lane *lane)
{
	const char *lv[1];
	struct ring *r;
	struct item *it;
	char *copy;
	int rc = 0;

	if (q == NULL || key == NULL)
		return KUBE_EINVAL;
	*key = NULL;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		promote_ready_locked(q);
		r = next_lane_locked(q, urgent_only);
		if (r != NULL || q->shutting_down)
			break;
		wait_for_key_locked(q, urgent_only);
	}
	if (r == NULL) {
		rc = KUBE_ESHUTDOWN;
		goto out;
	}
	/* Copy first so that running out of memory leaves the key queued. */
	copy = strdup(r->buf[r->head]->key);
	if (copy == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	it = ring_pop(r);
	if (lane != NULL)
		*lane = it->urgent ? KUBE_LANE_URGENT : KUBE_LANE_NORMAL;
	it->dirty = false;
	it->urgent = false;
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

int kube_workqueue_get(struct kube_workqueue *q, char **key)
{
	return kube_workqueue_get_lane(q, false, key, NULL);
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
	if (it->dirty && ring_reserve(lane_of(q, it)) != 0) {
		/* Cannot queue it again: keep it processing-and-dirty rather than lose it; the
		 * next done() for it retries. Logged because it means memory is gone. */
		kube_log(KUBE_LOG_ERROR, "workqueue", "out of memory re-queueing key", "queue",
			 q->name, "key", key, NULL);
		goto out;
	}
	it->processing = false;
	q->nprocessing--;
	if (it->dirty)
		lane_push_locked(q, it);
	if (q->nprocessing == 0)
		kube_cond_broadcast(q->drain_cond);
	item_release_if_idle_locked(q, it);
out:
	pthread_mutex_unlock(&q->mu);
}

enum count_what { COUNT_READY, COUNT_URGENT, COUNT_DELAYED };

/* One of the queue's sizes, after moving due keys in. */
static size_t count(struct kube_workqueue *q, enum count_what what)
{
	size_t n;

	if (q == NULL)
		return 0;
	pthread_mutex_lock(&q->mu);
	promote_ready_locked(q);
	n = what == COUNT_READY	   ? ready_len_locked(q)
	    : what == COUNT_URGENT ? q->lanes[KUBE_LANE_URGENT].len
				   : q->heap_len;
	pthread_mutex_unlock(&q->mu);
	return n;
}

size_t kube_workqueue_len(struct kube_workqueue *q)
{
	return count(q, COUNT_READY);
}

size_t kube_workqueue_urgent_len(struct kube_workqueue *q)
{
	return count(q, COUNT_URGENT);
}

size_t kube_workqueue_delayed_len(struct kube_workqueue *q)
{
	return count(q, COUNT_DELAYED);
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
	wake_all_locked(q);
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
		kube_ratelimiter_free(opts->urgent_limiter);
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	q->clock = opts->clock != NULL ? opts->clock : kube_clock_real();
	q->limiter = opts->limiter != NULL ? opts->limiter : kube_ratelimiter_default_new(q->clock);
	q->urgent_limiter = opts->urgent_limiter;
	if (opts->name != NULL && opts->name[0] != '\0')
		q->name = strdup(opts->name);
	q->cond = kube_cond_new(q->clock, &q->mu);
	q->drain_cond = kube_cond_new(q->clock, &q->mu);
	q->urgent_cond = kube_cond_new(q->clock, &q->mu);
	if (q->limiter == NULL || q->cond == NULL || q->drain_cond == NULL || q->urgent_cond == NULL ||
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
		free(it);
	}
	if (q->m_depth != NULL) {
		const char *lv[] = {q->name};
		kube_metric_remove(q->m_depth, lv);
	}
	free(q->lanes[KUBE_LANE_NORMAL].buf);
	free(q->lanes[KUBE_LANE_URGENT].buf);
	free(q->heap);
	kube_cond_free(q->cond);
	kube_cond_free(q->drain_cond);
	kube_cond_free(q->urgent_cond);
	kube_ratelimiter_free(q->limiter);
	kube_ratelimiter_free(q->urgent_limiter);
	free(q->name);
	pthread_mutex_destroy(&q->mu);
	free(q);
}
