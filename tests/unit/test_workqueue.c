/* Workqueue semantics (client-go): dedup, re-add while processing, delays on a fake clock with
 * FIFO ties, deadlines that only move earlier, rate-limited retries, shutdown and drain, metrics,
 * and a threaded check that no key is ever handed to two workers at once; the urgent lane. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_clock.h"
#include "kube_error.h"
#include "kube_metrics.h"
#include "kube_ratelimit.h"
#include "kube_workqueue.h"

/* Polls pred until it holds or 5 s pass: waiting for a condition, never a fixed sleep. */
static bool eventually(bool (*pred)(void *), void *arg)
{
	int64_t deadline = kube_clock_now(NULL) + KUBE_SEC(5);
	struct timespec ts = {0, 1000000};

	while (!pred(arg)) {
		if (kube_clock_now(NULL) > deadline)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

static struct kube_workqueue *new_queue(struct kube_clock *clk, const char *name)
{
	struct kube_workqueue_opts o = {.name = name, .clock = clk};
	struct kube_workqueue *q = kube_workqueue_new(&o);
	assert_non_null(q);
	return q;
}

/* get() that must not block: the test knows a key is ready. */
static void expect_get(struct kube_workqueue *q, const char *want)
{
	char *key = NULL;
	assert_true(kube_workqueue_len(q) > 0);
	assert_int_equal(kube_workqueue_get(q, &key), 0);
	assert_string_equal(key, want);
	kube_workqueue_done(q, key);
	free(key);
}

static void workqueue__dedup_and_fifo(void **state)
{
	struct kube_workqueue *q = new_queue(NULL, NULL);

	assert_int_equal(kube_workqueue_add(q, "a"), 0);
	assert_int_equal(kube_workqueue_add(q, "b"), 0);
	assert_int_equal(kube_workqueue_add(q, "a"), 0);
	assert_int_equal(kube_workqueue_add(q, "c"), 0);
	assert_int_equal(kube_workqueue_len(q), 3);
	expect_get(q, "a");
	expect_get(q, "b");
	expect_get(q, "c");
	assert_int_equal(kube_workqueue_len(q), 0);
	assert_int_equal(kube_workqueue_add(q, NULL), KUBE_EINVAL);
	assert_int_equal(kube_workqueue_add(NULL, "a"), KUBE_EINVAL);
	kube_workqueue_shutdown(q);
	kube_workqueue_free(q);
}

static void workqueue__readd_while_processing_is_queued_on_done(void **state)
{
	struct kube_workqueue *q = new_queue(NULL, NULL);
	char *key = NULL;

	kube_workqueue_add(q, "a");
	assert_int_equal(kube_workqueue_get(q, &key), 0);
	assert_string_equal(key, "a");
	/* Added twice while a worker holds it: not handed out, and queued once on done(). */
	kube_workqueue_add(q, "a");
	kube_workqueue_add(q, "a");
	assert_int_equal(kube_workqueue_len(q), 0);
	kube_workqueue_done(q, key);
	free(key);
	assert_int_equal(kube_workqueue_len(q), 1);
	expect_get(q, "a");
	assert_int_equal(kube_workqueue_len(q), 0);
	/* done() of a key nobody holds is harmless. */
	kube_workqueue_done(q, "a");
	kube_workqueue_done(q, "zzz");
	assert_int_equal(kube_workqueue_len(q), 0);
	kube_workqueue_free(q);
}

static void workqueue__fifo_survives_ring_wraparound(void **state)
{
	struct kube_workqueue *q = new_queue(NULL, NULL);
	char want[16], *key;
	int next_add = 0, next_get = 0;

	/* Interleave adds and gets so the ring's head moves before it has to grow. */
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 7; i++) {
			snprintf(want, sizeof(want), "k%d", next_add++);
			assert_int_equal(kube_workqueue_add(q, want), 0);
		}
		for (int i = 0; i < 3; i++) {
			snprintf(want, sizeof(want), "k%d", next_get++);
			expect_get(q, want);
		}
	}
	assert_int_equal(kube_workqueue_len(q), (size_t)(next_add - next_get));
	while (next_get < next_add) {
		snprintf(want, sizeof(want), "k%d", next_get++);
		assert_int_equal(kube_workqueue_get(q, &key), 0);
		assert_string_equal(key, want);
		kube_workqueue_done(q, key);
		free(key);
	}
	kube_workqueue_free(q);
}

static void workqueue__delays_in_deadline_order_with_fifo_ties(void **state)
{
	static const struct { const char *key; int delay_ms; } adds[] = {
		{"c", 30}, {"a", 10}, {"b", 10}, {"d", 20}, {"e", 10}, {"now", 0},
	};
	static const struct { int advance_ms; const char *want[4]; } steps[] = {
		{0, {"now"}}, {9, {NULL}}, {1, {"a", "b", "e"}}, {10, {"d"}}, {10, {"c"}},
	};
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue *q = new_queue(clk, NULL);

	for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++)
		assert_int_equal(kube_workqueue_add_after(q, adds[i].key, KUBE_MS(adds[i].delay_ms)),
				 0);
	assert_int_equal(kube_workqueue_delayed_len(q), 5);
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		size_t n = 0;
		kube_clock_advance(clk, KUBE_MS(steps[s].advance_ms));
		while (n < 4 && steps[s].want[n] != NULL)
			n++;
		assert_int_equal(kube_workqueue_len(q), n);
		for (size_t i = 0; i < n; i++)
			expect_get(q, steps[s].want[i]);
	}
	assert_int_equal(kube_workqueue_delayed_len(q), 0);
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

static void workqueue__duplicate_delay_only_moves_deadline_earlier(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue *q = new_queue(clk, NULL);

	kube_workqueue_add_after(q, "early", KUBE_MS(50));
	kube_workqueue_add_after(q, "early", KUBE_MS(10)); /* moves to 10 ms */
	kube_workqueue_add_after(q, "late", KUBE_MS(10));
	kube_workqueue_add_after(q, "late", KUBE_MS(50)); /* stays at 10 ms */
	assert_int_equal(kube_workqueue_delayed_len(q), 2);
	kube_clock_advance(clk, KUBE_MS(10));
	assert_int_equal(kube_workqueue_len(q), 2);
	/* Equal deadlines: "early" was first added first. */
	expect_get(q, "early");
	expect_get(q, "late");
	kube_clock_advance(clk, KUBE_MS(100));
	assert_int_equal(kube_workqueue_len(q), 0);
	assert_int_equal(kube_workqueue_delayed_len(q), 0);
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

static void workqueue__huge_delay_does_not_overflow(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(KUBE_SEC(100), 0);
	struct kube_workqueue *q = new_queue(clk, NULL);

	/* now + INT64_MAX overflowed (undefined; in practice a deadline in the past). */
	assert_int_equal(kube_workqueue_add_after(q, "never", INT64_MAX), 0);
	assert_int_equal(kube_workqueue_add_after(q, "soon", KUBE_MS(10)), 0);
	assert_int_equal(kube_workqueue_len(q), 0);
	assert_int_equal(kube_workqueue_delayed_len(q), 2);
	kube_clock_advance(clk, KUBE_MS(10));
	expect_get(q, "soon");
	assert_int_equal(kube_workqueue_delayed_len(q), 1);
	kube_workqueue_done(q, "soon");
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

static void workqueue__delayed_key_already_queued_is_not_duplicated(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue *q = new_queue(clk, NULL);

	kube_workqueue_add_after(q, "a", KUBE_MS(10));
	kube_workqueue_add(q, "a");
	assert_int_equal(kube_workqueue_len(q), 1);
	kube_clock_advance(clk, KUBE_MS(10));
	assert_int_equal(kube_workqueue_len(q), 1);
	expect_get(q, "a");
	assert_int_equal(kube_workqueue_len(q), 0);
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

struct getter {
	struct kube_workqueue *q;
	struct kube_clock *clk;
	char *key;
	int rc;
	atomic_bool finished;
};

static void *getter_main(void *arg)
{
	struct getter *g = arg;
	g->rc = kube_workqueue_get(g->q, &g->key);
	atomic_store(&g->finished, true);
	return NULL;
}

static bool one_waiter(void *arg)
{
	return kube_clock_waiters(arg) == 1;
}

static void workqueue__get_blocks_until_delay_passes(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue *q = new_queue(clk, NULL);
	struct getter g = {.q = q, .clk = clk};
	pthread_t t;

	kube_workqueue_add_after(q, "later", KUBE_MS(100));
	pthread_create(&t, NULL, getter_main, &g);
	assert_true(eventually(one_waiter, clk));
	/* The getter sleeps until exactly the key's ready time. */
	assert_int_equal(kube_clock_next_deadline(clk), KUBE_MS(100));
	kube_clock_advance(clk, KUBE_MS(99));
	assert_true(eventually(one_waiter, clk));
	assert_false(atomic_load(&g.finished));
	/* An earlier key wakes it to sleep until the new, earlier deadline. */
	kube_workqueue_add_after(q, "sooner", KUBE_MS(0) + 1);
	kube_clock_advance(clk, 1);
	pthread_join(t, NULL);
	assert_int_equal(g.rc, 0);
	assert_string_equal(g.key, "sooner");
	kube_workqueue_done(q, g.key);
	free(g.key);
	kube_clock_advance(clk, KUBE_MS(1));
	expect_get(q, "later");
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

static void workqueue__rate_limited_backoff_and_forget(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue *q = new_queue(clk, "wq_test_rl");
	const char *lv[] = {"wq_test_rl"};
	struct kube_metric *retries = kube_metric_register(
		kube_metrics_default(), KUBE_COUNTER, "workqueue_retries_total",
		"Total number of retries handled by workqueue", (const char *const[]){"name", NULL},
		NULL, 0);

	/* Each failure doubles the wait: 5, 10, 20 ms. */
	for (int i = 0; i < 3; i++) {
		int64_t delay = KUBE_MS(5) << i;
		assert_int_equal(kube_workqueue_add_rate_limited(q, "k"), 0);
		kube_clock_advance(clk, delay - 1);
		assert_int_equal(kube_workqueue_len(q), 0);
		kube_clock_advance(clk, 1);
		expect_get(q, "k");
	}
	assert_int_equal(kube_workqueue_num_requeues(q, "k"), 3);
	assert_true(kube_metric_value(retries, lv) == 3.0);
	kube_workqueue_forget(q, "k");
	assert_int_equal(kube_workqueue_num_requeues(q, "k"), 0);
	kube_workqueue_add_rate_limited(q, "k");
	kube_clock_advance(clk, KUBE_MS(5));
	expect_get(q, "k");
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

static void workqueue__custom_limiter_is_used(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue_opts o = {
		.clock = clk, .limiter = kube_ratelimiter_exponential_new(KUBE_SEC(1), KUBE_SEC(2))};
	struct kube_workqueue *q = kube_workqueue_new(&o);

	kube_workqueue_add_rate_limited(q, "k");
	kube_clock_advance(clk, KUBE_MS(999));
	assert_int_equal(kube_workqueue_len(q), 0);
	kube_clock_advance(clk, KUBE_MS(1));
	assert_int_equal(kube_workqueue_len(q), 1);
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

static void workqueue__shutdown_hands_out_rest_then_stops(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue *q = new_queue(clk, NULL);
	char *key = (char *)"sentinel";

	kube_workqueue_add(q, "a");
	kube_workqueue_add(q, "b");
	kube_workqueue_add_after(q, "delayed", KUBE_MS(10));
	kube_workqueue_shutdown(q);
	kube_workqueue_shutdown(q); /* idempotent */
	assert_true(kube_workqueue_shutting_down(q));
	assert_int_equal(kube_workqueue_add(q, "c"), KUBE_ESHUTDOWN);
	assert_int_equal(kube_workqueue_add_after(q, "c", KUBE_MS(1)), KUBE_ESHUTDOWN);
	assert_int_equal(kube_workqueue_delayed_len(q), 0);
	expect_get(q, "a");
	expect_get(q, "b");
	kube_clock_advance(clk, KUBE_MS(10));
	assert_int_equal(kube_workqueue_get(q, &key), KUBE_ESHUTDOWN);
	assert_null(key);
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

static void workqueue__shutdown_wakes_blocked_getter(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue *q = new_queue(clk, NULL);
	struct getter g = {.q = q, .clk = clk};
	pthread_t t;

	pthread_create(&t, NULL, getter_main, &g);
	assert_true(eventually(one_waiter, clk));
	assert_int_equal(kube_clock_next_deadline(clk), KUBE_CLOCK_FOREVER);
	kube_workqueue_shutdown(q);
	pthread_join(t, NULL);
	assert_int_equal(g.rc, KUBE_ESHUTDOWN);
	assert_null(g.key);
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

struct drainer {
	struct kube_workqueue *q;
	atomic_bool finished;
};

static void *drainer_main(void *arg)
{
	struct drainer *d = arg;
	kube_workqueue_shutdown_with_drain(d->q);
	atomic_store(&d->finished, true);
	return NULL;
}

static void workqueue__shutdown_with_drain_waits_for_processing(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue *q = new_queue(clk, NULL);
	struct drainer d = {.q = q};
	char *key = NULL;
	pthread_t t;

	kube_workqueue_add(q, "busy");
	assert_int_equal(kube_workqueue_get(q, &key), 0);
	pthread_create(&t, NULL, drainer_main, &d);
	/* The drainer is blocked on the queue while "busy" is being processed. */
	assert_true(eventually(one_waiter, clk));
	assert_false(atomic_load(&d.finished));
	assert_int_equal(kube_workqueue_add(q, "new"), KUBE_ESHUTDOWN);
	kube_workqueue_done(q, key);
	free(key);
	pthread_join(t, NULL);
	assert_true(atomic_load(&d.finished));
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

static void workqueue__metrics_depth_adds_and_wait_time(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue *q = new_queue(clk, "wq_test_metrics");
	const char *lv[] = {"wq_test_metrics"};
	const char *const labels[] = {"name", NULL};
	struct kube_metrics *reg = kube_metrics_default();
	double b[10];
	struct kube_metric *depth, *adds, *qdur, *wdur;
	char *key;

	kube_metric_exponential_buckets(10e-9, 10, 10, b);
	depth = kube_metric_register(reg, KUBE_GAUGE, "workqueue_depth",
				     "Current depth of workqueue", labels, NULL, 0);
	adds = kube_metric_register(reg, KUBE_COUNTER, "workqueue_adds_total",
				    "Total number of adds handled by workqueue", labels, NULL, 0);
	qdur = kube_metric_register(
		reg, KUBE_HISTOGRAM, "workqueue_queue_duration_seconds",
		"How long in seconds an item stays in workqueue before being requested", labels, b,
		10);
	wdur = kube_metric_register(
		reg, KUBE_HISTOGRAM, "workqueue_work_duration_seconds",
		"How long in seconds processing an item from workqueue takes", labels, b, 10);
	assert_non_null(depth);
	assert_non_null(qdur);

	kube_workqueue_add(q, "a");
	kube_workqueue_add(q, "a"); /* deduplicated: not an add */
	kube_workqueue_add(q, "b");
	assert_true(kube_metric_value(depth, lv) == 2.0);
	assert_true(kube_metric_value(adds, lv) == 2.0);
	kube_clock_advance(clk, KUBE_MS(250));
	assert_int_equal(kube_workqueue_get(q, &key), 0);
	assert_true(kube_metric_value(depth, lv) == 1.0);
	assert_true(kube_metric_value(qdur, lv) == 1.0);
	assert_true(kube_metric_sum(qdur, lv) > 0.2499 && kube_metric_sum(qdur, lv) < 0.2501);
	kube_clock_advance(clk, KUBE_MS(40));
	kube_workqueue_done(q, key);
	free(key);
	assert_true(kube_metric_sum(wdur, lv) > 0.0399 && kube_metric_sum(wdur, lv) < 0.0401);
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

/* ---- concurrency: many workers, few keys ---- */

#define NKEYS 8
#define NWORKERS 6
#define NADDS 20000

struct stress {
	struct kube_workqueue *q;
	atomic_int holders[NKEYS];   /* workers holding each key right now */
	atomic_int violations;       /* a key seen by two workers at once */
	atomic_long last_add[NKEYS]; /* sequence number of the last add of each key */
	atomic_long last_start[NKEYS]; /* sequence number when a worker last started it */
	atomic_long seq;
	atomic_long processed;
};

static void *stress_worker(void *arg)
{
	struct stress *s = arg;
	char *key;

	while (kube_workqueue_get(s->q, &key) == 0) {
		int k = atoi(key + 1);
		if (atomic_fetch_add(&s->holders[k], 1) != 0)
			atomic_fetch_add(&s->violations, 1);
		atomic_store(&s->last_start[k], atomic_fetch_add(&s->seq, 1));
		for (int spin = 0; spin < 200; spin++)
			atomic_fetch_add(&s->processed, 0); /* hold the key for a moment */
		atomic_fetch_add(&s->processed, 1);
		atomic_fetch_sub(&s->holders[k], 1);
		kube_workqueue_done(s->q, key);
		free(key);
	}
	return NULL;
}

static bool stress_settled(void *arg)
{
	struct stress *s = arg;
	for (int k = 0; k < NKEYS; k++)
		if (atomic_load(&s->last_start[k]) < atomic_load(&s->last_add[k]))
			return false;
	return true;
}

static void workqueue__concurrent_workers_never_share_a_key(void **state)
{
	struct stress *s = calloc(1, sizeof(*s));
	pthread_t workers[NWORKERS];
	char key[8];

	s->q = new_queue(NULL, NULL);
	for (int k = 0; k < NKEYS; k++) {
		atomic_init(&s->last_add[k], -1);
		atomic_init(&s->last_start[k], -1);
	}
	for (int i = 0; i < NWORKERS; i++)
		pthread_create(&workers[i], NULL, stress_worker, s);
	for (int i = 0; i < NADDS; i++) {
		int k = (i * 7 + i / 3) % NKEYS;
		snprintf(key, sizeof(key), "k%d", k);
		atomic_store(&s->last_add[k], atomic_fetch_add(&s->seq, 1));
		assert_int_equal(kube_workqueue_add(s->q, key), 0);
	}
	/* No update is lost: every key is processed again after its last add. */
	assert_true(eventually(stress_settled, s));
	kube_workqueue_shutdown_with_drain(s->q);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(workers[i], NULL);
	assert_int_equal(atomic_load(&s->violations), 0);
	assert_true(atomic_load(&s->processed) >= NKEYS);
	assert_true(atomic_load(&s->processed) <= NADDS);
	kube_workqueue_free(s->q);
	free(s);
}

/* ---- lanes ---- */

/* get_lane() that must not block; checks the key and the lane it came from. */
static void expect_get_lane(struct kube_workqueue *q, const char *want,
			    enum kube_workqueue_lane want_lane)
{
	enum kube_workqueue_lane lane = KUBE_LANE_NORMAL;
	char *key = NULL;
	assert_true(kube_workqueue_len(q) > 0);
	assert_int_equal(kube_workqueue_get_lane(q, false, &key, &lane), 0);
	assert_string_equal(key, want);
	assert_int_equal(lane, want_lane);
	kube_workqueue_done(q, key);
	free(key);
}

static void workqueue__urgent_lane_is_handed_out_first(void **state)
{
	struct kube_workqueue *q = new_queue(NULL, NULL);

	kube_workqueue_add(q, "a");
	kube_workqueue_add(q, "b");
	kube_workqueue_add_urgent(q, "u1");
	kube_workqueue_add_urgent(q, "u2");
	assert_int_equal(kube_workqueue_len(q), 4);
	assert_int_equal(kube_workqueue_urgent_len(q), 2);
	expect_get_lane(q, "u1", KUBE_LANE_URGENT);
	expect_get_lane(q, "u2", KUBE_LANE_URGENT);
	expect_get_lane(q, "a", KUBE_LANE_NORMAL);
	expect_get_lane(q, "b", KUBE_LANE_NORMAL);
	assert_int_equal(kube_workqueue_len(q), 0);
	kube_workqueue_free(q);
}

static void workqueue__urgent_add_moves_a_queued_key_without_duplicating_it(void **state)
{
	struct kube_workqueue *q = new_queue(NULL, NULL);

	kube_workqueue_add(q, "a");
	kube_workqueue_add(q, "b");
	kube_workqueue_add(q, "c");
	kube_workqueue_add_urgent(q, "b");
	/* A normal add afterwards does not move it back. */
	kube_workqueue_add(q, "b");
	assert_int_equal(kube_workqueue_len(q), 3);
	expect_get_lane(q, "b", KUBE_LANE_URGENT);
	expect_get_lane(q, "a", KUBE_LANE_NORMAL);
	expect_get_lane(q, "c", KUBE_LANE_NORMAL);
	assert_int_equal(kube_workqueue_len(q), 0);
	kube_workqueue_free(q);
}

static void workqueue__urgent_add_while_processing_waits_for_done(void **state)
{
	struct kube_workqueue *q = new_queue(NULL, NULL);
	char *key = NULL;

	kube_workqueue_add(q, "a");
	assert_int_equal(kube_workqueue_get(q, &key), 0);
	kube_workqueue_add(q, "n");
	kube_workqueue_add_urgent(q, "a");
	/* "a" is being processed: not handed out again in any lane until done(). */
	assert_int_equal(kube_workqueue_len(q), 1);
	assert_int_equal(kube_workqueue_urgent_len(q), 0);
	kube_workqueue_done(q, key);
	free(key);
	assert_int_equal(kube_workqueue_urgent_len(q), 1);
	expect_get_lane(q, "a", KUBE_LANE_URGENT);
	expect_get_lane(q, "n", KUBE_LANE_NORMAL);
	kube_workqueue_free(q);
}

static void workqueue__urgent_rate_limited_retry_stays_urgent(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue *q = new_queue(clk, "lanes");

	assert_int_equal(kube_workqueue_add_rate_limited_urgent(q, "x"), 0);
	assert_int_equal(kube_workqueue_delayed_len(q), 1);
	/* A normal delayed add of the same key does not downgrade it. */
	kube_workqueue_add_after(q, "x", KUBE_MS(1));
	kube_workqueue_add(q, "y");
	kube_clock_advance(clk, KUBE_MS(5));
	expect_get_lane(q, "x", KUBE_LANE_URGENT);
	expect_get_lane(q, "y", KUBE_LANE_NORMAL);
	assert_int_equal(kube_workqueue_num_requeues(q, "x"), 1);
	{
		const char *lv[] = {"lanes"};
		struct kube_metric *r = kube_metric_register(
			kube_metrics_default(), KUBE_COUNTER, "workqueue_retries_total",
			"Total number of retries handled by workqueue",
			(const char *const[]){"name", NULL}, NULL, 0);
		assert_true(kube_metric_value(r, lv) == 1.0);
	}
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

struct lane_getter {
	struct kube_workqueue *q;
	char *key;
	int rc;
	atomic_bool finished;
};

static void *urgent_getter_main(void *arg)
{
	struct lane_getter *g = arg;
	g->rc = kube_workqueue_get_lane(g->q, true, &g->key, NULL);
	atomic_store(&g->finished, true);
	return NULL;
}

static bool lane_getter_finished(void *arg)
{
	return atomic_load(&((struct lane_getter *)arg)->finished);
}

static void workqueue__urgent_only_getter_ignores_normal_keys(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_workqueue *q = new_queue(clk, NULL);
	struct lane_getter g = {.q = q};
	pthread_t t;

	kube_workqueue_add(q, "normal");
	pthread_create(&t, NULL, urgent_getter_main, &g);
	assert_true(eventually(one_waiter, clk));
	assert_false(atomic_load(&g.finished));
	kube_workqueue_add_urgent(q, "hot");
	assert_true(eventually(lane_getter_finished, &g));
	pthread_join(t, NULL);
	assert_int_equal(g.rc, 0);
	assert_string_equal(g.key, "hot");
	kube_workqueue_done(q, g.key);
	free(g.key);

	/* After shutdown an urgent-only getter stops although normal keys remain for others. */
	g = (struct lane_getter){.q = q};
	pthread_create(&t, NULL, urgent_getter_main, &g);
	assert_true(eventually(one_waiter, clk));
	kube_workqueue_shutdown(q);
	pthread_join(t, NULL);
	assert_int_equal(g.rc, KUBE_ESHUTDOWN);
	assert_null(g.key);
	expect_get_lane(q, "normal", KUBE_LANE_NORMAL);
	kube_workqueue_free(q);
	kube_clock_free(clk);
}

static void *urgent_stress_worker(void *arg)
{
	struct stress *s = arg;
	char *key;

	while (kube_workqueue_get_lane(s->q, true, &key, NULL) == 0) {
		int k = atoi(key + 1);
		if (atomic_fetch_add(&s->holders[k], 1) != 0)
			atomic_fetch_add(&s->violations, 1);
		atomic_store(&s->last_start[k], atomic_fetch_add(&s->seq, 1));
		atomic_fetch_add(&s->processed, 1);
		atomic_fetch_sub(&s->holders[k], 1);
		kube_workqueue_done(s->q, key);
		free(key);
	}
	return NULL;
}

static void workqueue__lanes_never_share_a_key_across_workers(void **state)
{
	struct stress *s = calloc(1, sizeof(*s));
	pthread_t workers[NWORKERS + 1];
	char key[8];

	s->q = new_queue(NULL, NULL);
	for (int k = 0; k < NKEYS; k++) {
		atomic_init(&s->last_add[k], -1);
		atomic_init(&s->last_start[k], -1);
	}
	for (int i = 0; i < NWORKERS; i++)
		pthread_create(&workers[i], NULL, stress_worker, s);
	pthread_create(&workers[NWORKERS], NULL, urgent_stress_worker, s);
	for (int i = 0; i < NADDS; i++) {
		int k = (i * 7 + i / 3) % NKEYS;
		snprintf(key, sizeof(key), "k%d", k);
		atomic_store(&s->last_add[k], atomic_fetch_add(&s->seq, 1));
		if (i % 3 == 0)
			assert_int_equal(kube_workqueue_add_urgent(s->q, key), 0);
		else
			assert_int_equal(kube_workqueue_add(s->q, key), 0);
	}
	assert_true(eventually(stress_settled, s));
	kube_workqueue_shutdown_with_drain(s->q);
	for (int i = 0; i <= NWORKERS; i++)
		pthread_join(workers[i], NULL);
	assert_int_equal(atomic_load(&s->violations), 0);
	assert_true(atomic_load(&s->processed) >= NKEYS);
	kube_workqueue_free(s->q);
	free(s);
}

static int teardown(void **state)
{
	kube_metrics_default_reset();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(workqueue__dedup_and_fifo),
		cmocka_unit_test(workqueue__readd_while_processing_is_queued_on_done),
		cmocka_unit_test(workqueue__fifo_survives_ring_wraparound),
		cmocka_unit_test(workqueue__delays_in_deadline_order_with_fifo_ties),
		cmocka_unit_test(workqueue__duplicate_delay_only_moves_deadline_earlier),
		cmocka_unit_test(workqueue__delayed_key_already_queued_is_not_duplicated),
		cmocka_unit_test(workqueue__huge_delay_does_not_overflow),
		cmocka_unit_test(workqueue__get_blocks_until_delay_passes),
		cmocka_unit_test(workqueue__rate_limited_backoff_and_forget),
		cmocka_unit_test(workqueue__custom_limiter_is_used),
		cmocka_unit_test(workqueue__shutdown_hands_out_rest_then_stops),
		cmocka_unit_test(workqueue__shutdown_wakes_blocked_getter),
		cmocka_unit_test(workqueue__shutdown_with_drain_waits_for_processing),
		cmocka_unit_test(workqueue__metrics_depth_adds_and_wait_time),
		cmocka_unit_test(workqueue__concurrent_workers_never_share_a_key),
		cmocka_unit_test(workqueue__urgent_lane_is_handed_out_first),
		cmocka_unit_test(workqueue__urgent_add_moves_a_queued_key_without_duplicating_it),
		cmocka_unit_test(workqueue__urgent_add_while_processing_waits_for_done),
		cmocka_unit_test(workqueue__urgent_rate_limited_retry_stays_urgent),
		cmocka_unit_test(workqueue__urgent_only_getter_ignores_normal_keys),
		cmocka_unit_test(workqueue__lanes_never_share_a_key_across_workers),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
