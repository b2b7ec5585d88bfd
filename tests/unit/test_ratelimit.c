/* Retry rate limiters: exponential backoff numbers, token bucket on a fake clock, max-of. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "kube_clock.h"
#include "kube_error.h"
#include "kube_ratelimit.h"

static int64_t when(struct kube_ratelimiter *rl, const char *key)
{
	int64_t d = -1;
	assert_int_equal(kube_ratelimiter_when(rl, key, &d), 0);
	return d;
}

static void ratelimit__exponential_doubles_then_caps(void **state)
{
	static const int64_t want_ms[] = {5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560};
	struct kube_ratelimiter *rl = kube_ratelimiter_exponential_new(KUBE_MS(5), KUBE_SEC(1000));

	assert_non_null(rl);
	for (size_t i = 0; i < sizeof(want_ms) / sizeof(want_ms[0]); i++)
		assert_int_equal(when(rl, "a"), KUBE_MS(want_ms[i]));
	assert_int_equal(kube_ratelimiter_num_requeues(rl, "a"), 10);
	/* 5 ms * 2^17 = 655 s < 1000 s; 2^18 = 1310 s is capped; far beyond it stays capped. */
	for (int i = 10; i < 17; i++)
		(void)when(rl, "a");
	assert_int_equal(when(rl, "a"), KUBE_MS(5) << 17);
	assert_int_equal(when(rl, "a"), KUBE_SEC(1000));
	for (int i = 0; i < 100; i++)
		assert_int_equal(when(rl, "a"), KUBE_SEC(1000));
	kube_ratelimiter_free(rl);
}

static void ratelimit__exponential_keys_are_independent_and_forget_resets(void **state)
{
	struct kube_ratelimiter *rl = kube_ratelimiter_exponential_new(KUBE_MS(5), KUBE_SEC(1000));

	assert_int_equal(when(rl, "a"), KUBE_MS(5));
	assert_int_equal(when(rl, "a"), KUBE_MS(10));
	assert_int_equal(when(rl, "b"), KUBE_MS(5));
	assert_int_equal(kube_ratelimiter_num_requeues(rl, "a"), 2);
	assert_int_equal(kube_ratelimiter_num_requeues(rl, "b"), 1);
	kube_ratelimiter_forget(rl, "a");
	assert_int_equal(kube_ratelimiter_num_requeues(rl, "a"), 0);
	assert_int_equal(when(rl, "a"), KUBE_MS(5));
	assert_int_equal(when(rl, "b"), KUBE_MS(10));
	kube_ratelimiter_forget(rl, "never-seen");
	kube_ratelimiter_free(rl);
}

static void ratelimit__bucket_burst_then_qps(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_ratelimiter *rl = kube_ratelimiter_bucket_new(clk, 10.0, 100);

	assert_non_null(rl);
	for (int i = 0; i < 100; i++)
		assert_int_equal(when(rl, "k"), 0);
	/* The bucket is empty: each further token is 1/10 s behind the previous one. */
	assert_int_equal(when(rl, "k"), KUBE_MS(100));
	assert_int_equal(when(rl, "k"), KUBE_MS(200));
	assert_int_equal(kube_ratelimiter_num_requeues(rl, "k"), 0);
	/* 1 s refills 10 tokens, 2 of them already promised: 8 free, then 100 ms again. */
	kube_clock_advance(clk, KUBE_SEC(1));
	for (int i = 0; i < 8; i++)
		assert_int_equal(when(rl, "k"), 0);
	assert_int_equal(when(rl, "k"), KUBE_MS(100));
	/* A long idle period refills only up to the burst. */
	kube_clock_advance(clk, KUBE_SEC(3600));
	for (int i = 0; i < 100; i++)
		assert_int_equal(when(rl, "k"), 0);
	assert_int_equal(when(rl, "k"), KUBE_MS(100));
	kube_ratelimiter_free(rl);
	kube_clock_free(clk);
}

static void ratelimit__default_is_max_of_both(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_ratelimiter *rl = kube_ratelimiter_default_new(clk);
	char key[32];

	assert_non_null(rl);
	/* Per-key backoff dominates while the bucket has tokens. */
	assert_int_equal(when(rl, "x"), KUBE_MS(5));
	assert_int_equal(when(rl, "x"), KUBE_MS(10));
	assert_int_equal(kube_ratelimiter_num_requeues(rl, "x"), 2);
	/* 98 more distinct keys empty the 100-token bucket (2 used by x). */
	for (int i = 0; i < 98; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(when(rl, key), KUBE_MS(5));
	}
	/* Now the bucket dominates a fresh key's 5 ms. */
	assert_int_equal(when(rl, "fresh"), KUBE_MS(100));
	kube_ratelimiter_forget(rl, "x");
	assert_int_equal(kube_ratelimiter_num_requeues(rl, "x"), 0);
	kube_ratelimiter_free(rl);
	kube_clock_free(clk);
}

static int64_t when_urgent(struct kube_ratelimiter *rl)
{
	int64_t d = -1;
	assert_int_equal(kube_ratelimiter_when_urgent(rl, "", &d), 0);
	return d;
}

static void ratelimit__reserve_serves_urgent_ahead_of_waiters(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_ratelimiter *rl = kube_ratelimiter_bucket_reserve_new(clk, 10.0, 5, 2.0, 3);

	assert_non_null(rl);
	/* Normal callers empty the shared bucket and queue 1 s of promised tokens behind it. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(when(rl, "k"), 0);
	for (int i = 1; i <= 10; i++)
		assert_int_equal(when(rl, "k"), KUBE_MS(100) * i);
	/* Urgent callers pass at once while the reserve lasts, whatever is promised... */
	for (int i = 0; i < 3; i++)
		assert_int_equal(when_urgent(rl), 0);
	/* ...and took nothing from the shared bucket: the next normal caller is 1.1 s behind. */
	assert_int_equal(when(rl, "k"), KUBE_MS(1100));
	/* With the reserve empty an urgent caller waits in the shared bucket like anyone. */
	assert_int_equal(when_urgent(rl), KUBE_MS(1200));
	/* The reserve refills at its own rate (2/s), up to its own burst (3). */
	kube_clock_advance(clk, KUBE_MS(500));
	assert_int_equal(when_urgent(rl), 0);
	kube_clock_advance(clk, KUBE_SEC(60));
	for (int i = 0; i < 3; i++)
		assert_int_equal(when_urgent(rl), 0);
	/* 60 s refilled the shared bucket too (to its burst): normal callers never used the
	 * reserve, the fourth urgent call takes a shared token. */
	assert_int_equal(when_urgent(rl), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(when(rl, "k"), 0);
	assert_int_equal(when(rl, "k"), KUBE_MS(100));
	kube_ratelimiter_free(rl);
	kube_clock_free(clk);
}

static void ratelimit__urgent_on_other_limiters_is_ordinary(void **state)
{
	struct kube_clock *clk = kube_clock_fake_new(0, 0);
	struct kube_ratelimiter *rl = kube_ratelimiter_bucket_new(clk, 10.0, 1);
	int64_t d;

	assert_non_null(rl);
	assert_int_equal(when_urgent(rl), 0);
	assert_int_equal(when_urgent(rl), KUBE_MS(100));
	assert_int_equal(when(rl, "k"), KUBE_MS(200));
	assert_int_equal(kube_ratelimiter_when_urgent(NULL, "", &d), KUBE_EINVAL);
	assert_int_equal(kube_ratelimiter_when_urgent(rl, NULL, &d), KUBE_EINVAL);
	assert_null(kube_ratelimiter_bucket_reserve_new(clk, 10.0, 1, 0, 1));
	assert_null(kube_ratelimiter_bucket_reserve_new(clk, 10.0, 1, 1.0, 0));
	assert_null(kube_ratelimiter_bucket_reserve_new(clk, 0, 1, 1.0, 1));
	kube_ratelimiter_free(rl);
	kube_clock_free(clk);
}

static void ratelimit__bad_arguments(void **state)
{
	struct kube_ratelimiter *parts[2] = {NULL, NULL};
	int64_t d;

	assert_null(kube_ratelimiter_exponential_new(0, KUBE_SEC(1)));
	assert_null(kube_ratelimiter_exponential_new(KUBE_SEC(2), KUBE_SEC(1)));
	assert_null(kube_ratelimiter_bucket_new(NULL, 0, 10));
	assert_null(kube_ratelimiter_bucket_new(NULL, 10, 0));
	assert_null(kube_ratelimiter_max_of_new(parts, 0));
	parts[0] = kube_ratelimiter_exponential_new(1, 2);
	/* A NULL part fails and frees the others (ASan would report a leak otherwise). */
	assert_null(kube_ratelimiter_max_of_new(parts, 2));
	assert_int_equal(kube_ratelimiter_when(NULL, "a", &d), KUBE_EINVAL);
	assert_int_equal(kube_ratelimiter_num_requeues(NULL, "a"), 0);
	kube_ratelimiter_forget(NULL, "a");
	kube_ratelimiter_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ratelimit__exponential_doubles_then_caps),
		cmocka_unit_test(ratelimit__exponential_keys_are_independent_and_forget_resets),
		cmocka_unit_test(ratelimit__bucket_burst_then_qps),
		cmocka_unit_test(ratelimit__default_is_max_of_both),
		cmocka_unit_test(ratelimit__bad_arguments),
		cmocka_unit_test(ratelimit__reserve_serves_urgent_ahead_of_waiters),
		cmocka_unit_test(ratelimit__urgent_on_other_limiters_is_ordinary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
