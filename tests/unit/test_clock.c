/* Clocks: the fake clock moves only when advanced, and timed condition waits follow it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "kube_clock.h"
#include "kube_error.h"

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

static void clock__fake_moves_only_when_advanced(void **state)
{
	struct kube_clock *c = kube_clock_fake_new(KUBE_SEC(10), KUBE_SEC(1700000000));

	assert_true(kube_clock_is_fake(c));
	assert_int_equal(kube_clock_now(c), KUBE_SEC(10));
	assert_int_equal(kube_clock_wall(c), KUBE_SEC(1700000000));
	kube_clock_advance(c, KUBE_MS(1500));
	assert_int_equal(kube_clock_now(c), KUBE_SEC(10) + KUBE_MS(1500));
	assert_int_equal(kube_clock_wall(c), KUBE_SEC(1700000000) + KUBE_MS(1500));
	kube_clock_advance(c, -5); /* time never goes back */
	assert_int_equal(kube_clock_now(c), KUBE_SEC(10) + KUBE_MS(1500));
	assert_int_equal(kube_clock_waiters(c), 0);
	assert_int_equal(kube_clock_next_deadline(c), KUBE_CLOCK_FOREVER);
	kube_clock_free(c);
}

static void clock__real_clock_is_monotonic_and_shared(void **state)
{
	int64_t a = kube_clock_now(NULL), b = kube_clock_now(kube_clock_real());

	assert_true(b >= a);
	assert_false(kube_clock_is_fake(NULL));
	assert_false(kube_clock_is_fake(kube_clock_real()));
	/* Wall time is after 2020 on any sane machine. */
	assert_true(kube_clock_wall(NULL) > KUBE_SEC(1577836800));
	kube_clock_free(kube_clock_real()); /* no-op */
	kube_clock_advance(kube_clock_real(), KUBE_SEC(1)); /* ignored */
}

static void clock__passed_deadline_never_blocks(void **state)
{
	static struct kube_clock *clocks[2];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

	clocks[0] = kube_clock_real();
	clocks[1] = kube_clock_fake_new(KUBE_SEC(1), 0);
	for (int i = 0; i < 2; i++) {
		struct kube_cond *cv = kube_cond_new(clocks[i], &mu);
		int64_t now = kube_clock_now(clocks[i]);
		pthread_mutex_lock(&mu);
		assert_int_equal(kube_cond_wait_until(cv, now), KUBE_ETIMEDOUT);
		assert_int_equal(kube_cond_wait_until(cv, now - 1), KUBE_ETIMEDOUT);
		pthread_mutex_unlock(&mu);
		kube_cond_free(cv);
	}
	kube_clock_free(clocks[1]);
}

static void clock__real_timed_wait_times_out(void **state)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct kube_cond *cv = kube_cond_new(NULL, &mu);
	int64_t start = kube_clock_now(NULL);
	int rc;

	pthread_mutex_lock(&mu);
	do
		rc = kube_cond_wait_until(cv, start + KUBE_MS(20));
	while (rc == 0);
	pthread_mutex_unlock(&mu);
	assert_int_equal(rc, KUBE_ETIMEDOUT);
	assert_true(kube_clock_now(NULL) - start >= KUBE_MS(20));
	kube_cond_free(cv);
}

struct sleeper {
	struct kube_clock *clk;
	pthread_mutex_t mu;
	struct kube_cond *cv;
	int64_t deadline;
	int64_t woke_at;
	int wakeups;
	atomic_bool done;
};

/* Sleeps on the fake clock until the deadline, counting how often it woke early. */
static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	pthread_mutex_lock(&s->mu);
	while (kube_cond_wait_until(s->cv, s->deadline) == 0)
		s->wakeups++;
	s->woke_at = kube_clock_now(s->clk);
	pthread_mutex_unlock(&s->mu);
	atomic_store(&s->done, true);
	return NULL;
}

static bool has_waiter(void *arg)
{
	return kube_clock_waiters(arg) == 1;
}

static void clock__fake_timed_wait_follows_advance(void **state)
{
	struct sleeper s = {.deadline = KUBE_MS(100)};
	pthread_t t;

	s.clk = kube_clock_fake_new(0, 0);
	pthread_mutex_init(&s.mu, NULL);
	s.cv = kube_cond_new(s.clk, &s.mu);
	pthread_create(&t, NULL, sleeper_main, &s);
	assert_true(eventually(has_waiter, s.clk));
	assert_int_equal(kube_clock_next_deadline(s.clk), KUBE_MS(100));
	/* Short of the deadline: it wakes, re-checks and sleeps again. */
	kube_clock_advance(s.clk, KUBE_MS(60));
	assert_true(eventually(has_waiter, s.clk));
	assert_false(atomic_load(&s.done));
	kube_clock_advance(s.clk, KUBE_MS(40));
	pthread_join(t, NULL);
	assert_int_equal(s.woke_at, KUBE_MS(100));
	kube_cond_free(s.cv);
	pthread_mutex_destroy(&s.mu);
	kube_clock_free(s.clk);
}

static void clock__signal_wakes_forever_wait(void **state)
{
	struct sleeper s = {.deadline = KUBE_CLOCK_FOREVER};
	pthread_t t;

	s.clk = kube_clock_fake_new(0, 0);
	pthread_mutex_init(&s.mu, NULL);
	s.cv = kube_cond_new(s.clk, &s.mu);
	pthread_create(&t, NULL, sleeper_main, &s);
	assert_true(eventually(has_waiter, s.clk));
	assert_int_equal(kube_clock_next_deadline(s.clk), KUBE_CLOCK_FOREVER);
	/* Advancing does not end a wait without deadline; moving the deadline and signalling does. */
	kube_clock_advance(s.clk, KUBE_SEC(3600));
	assert_true(eventually(has_waiter, s.clk));
	pthread_mutex_lock(&s.mu);
	s.deadline = 0;
	kube_cond_signal(s.cv);
	pthread_mutex_unlock(&s.mu);
	pthread_join(t, NULL);
	assert_true(atomic_load(&s.done));
	kube_cond_free(s.cv);
	pthread_mutex_destroy(&s.mu);
	kube_clock_free(s.clk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clock__fake_moves_only_when_advanced),
		cmocka_unit_test(clock__real_clock_is_monotonic_and_shared),
		cmocka_unit_test(clock__passed_deadline_never_blocks),
		cmocka_unit_test(clock__real_timed_wait_times_out),
		cmocka_unit_test(clock__fake_timed_wait_follows_advance),
		cmocka_unit_test(clock__signal_wakes_forever_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
