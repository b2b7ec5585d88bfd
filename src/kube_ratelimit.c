/* Retry rate limiters for the workqueue (kube_ratelimit.h): per-key exponential backoff, a shared
 * token bucket, and the max of several, as client-go's DefaultControllerRateLimiter combines them. */
#include "kube_ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "kube_clock.h"
#include "kube_error.h"

struct ops {
	int (*when)(struct kube_ratelimiter *rl, const char *key, int64_t *delay_ns);
	void (*forget)(struct kube_ratelimiter *rl, const char *key);
	int (*num_requeues)(struct kube_ratelimiter *rl, const char *key);
	void (*free)(struct kube_ratelimiter *rl);
	/* NULL: urgent calls are ordinary ones */
	int (*when_urgent)(struct kube_ratelimiter *rl, const char *key, int64_t *delay_ns);
};

struct kube_ratelimiter {
	const struct ops *ops;
};

/* ---- per-key exponential backoff ---- */

struct failure {
	char *key;
	int count;
	UT_hash_handle hh;
};

struct exponential {
	struct kube_ratelimiter base;
	pthread_mutex_t mu;
	int64_t base_ns, max_ns;
	struct failure *failures; /* uthash by key */
};

static int64_t backoff_for(const struct exponential *e, int exp)
{
	/* In floating point like client-go, so a large exponent saturates instead of overflowing. */
	double d = (double)e->base_ns * pow(2.0, (double)exp);
	if (d >= (double)e->max_ns)
		return e->max_ns;
	return (int64_t)d;
}

static int exp_when(struct kube_ratelimiter *rl, const char *key, int64_t *delay_ns)
{
	struct exponential *e = (struct exponential *)rl;
	struct failure *f;
	int rc = 0;

	pthread_mutex_lock(&e->mu);
	HASH_FIND_STR(e->failures, key, f);
	if (f == NULL) {
		f = calloc(1, sizeof(*f));
		if (f != NULL)
			f->key = strdup(key);
		if (f == NULL || f->key == NULL) {
			free(f);
			*delay_ns = e->max_ns;
			rc = KUBE_ENOMEM;
			goto out;
		}
		HASH_ADD_KEYPTR(hh, e->failures, f->key, strlen(f->key), f);
	}
	*delay_ns = backoff_for(e, f->count);
	if (f->count < INT32_MAX)
		f->count++;
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

static void exp_forget(struct kube_ratelimiter *rl, const char *key)
{
	struct exponential *e = (struct exponential *)rl;
	struct failure *f;

	pthread_mutex_lock(&e->mu);
	HASH_FIND_STR(e->failures, key, f);
	if (f != NULL) {
		HASH_DEL(e->failures, f);
		free(f->key);
		free(f);
	}
	pthread_mutex_unlock(&e->mu);
}

static int exp_num_requeues(struct kube_ratelimiter *rl, const char *key)
{
	struct exponential *e = (struct exponential *)rl;
	struct failure *f;
	int n;

	pthread_mutex_lock(&e->mu);
	HASH_FIND_STR(e->failures, key, f);
	n = f != NULL ? f->count : 0;
	pthread_mutex_unlock(&e->mu);
	return n;
}

static void exp_free(struct kube_ratelimiter *rl)
{
	struct exponential *e = (struct exponential *)rl;
	struct failure *f, *tmp;

	HASH_ITER(hh, e->failures, f, tmp) {
		HASH_DEL(e->failures, f);
		free(f->key);
		free(f);
	}
	pthread_mutex_destroy(&e->mu);
	free(e);
}

static const struct ops exponential_ops = {exp_when, exp_forget, exp_num_requeues, exp_free,
					   NULL};

struct kube_ratelimiter *kube_ratelimiter_exponential_new(int64_t base_ns, int64_t max_ns)
{
	struct exponential *e;

	if (base_ns <= 0 || max_ns < base_ns)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->base.ops = &exponential_ops;
	e->base_ns = base_ns;
	e->max_ns = max_ns;
	pthread_mutex_init(&e->mu, NULL);
	return &e->base;
}

/* ---- token bucket ---- */

struct bucket {
	struct kube_ratelimiter base;
	pthread_mutex_t mu;
	struct kube_clock *clock;
	double qps, burst;
	double tokens;  /* may go negative: tokens already promised to waiting callers */
	int64_t last;   /* clock time `tokens` was computed at */
	/* The urgent reserve (bucket_reserve_new; rqps 0 = none): never negative, never promised. */
	double rqps, rburst, rtokens;
	int64_t rlast;
};

/* b->mu held: brings `tokens` (refilled at `qps` up to `burst`) up to `now`. */
static void refill(double *tokens, int64_t *last, double qps, double burst, int64_t now)
{
	if (now > *last) {
		*tokens += (double)(now - *last) * qps / (double)KUBE_NS_PER_SEC;
		if (*tokens > burst)
			*tokens = burst;
		*last = now;
	}
}

/* b->mu held: takes a shared token; the delay until it exists. */
static int64_t take_shared(struct bucket *b, int64_t now)
{
	refill(&b->tokens, &b->last, b->qps, b->burst, now);
	b->tokens -= 1.0;
	return b->tokens >= 0 ? 0 : llround(-b->tokens / b->qps * (double)KUBE_NS_PER_SEC);
}

static int bucket_when(struct kube_ratelimiter *rl, const char *key, int64_t *delay_ns)
{
	struct bucket *b = (struct bucket *)rl;

	pthread_mutex_lock(&b->mu);
	*delay_ns = take_shared(b, kube_clock_now(b->clock));
	pthread_mutex_unlock(&b->mu);
	return 0;
}

static int bucket_when_urgent(struct kube_ratelimiter *rl, const char *key, int64_t *delay_ns)
{
	struct bucket *b = (struct bucket *)rl;
	int64_t now;

	pthread_mutex_lock(&b->mu);
	now = kube_clock_now(b->clock);
	refill(&b->rtokens, &b->rlast, b->rqps, b->rburst, now);
	if (b->rtokens >= 1.0) {
		b->rtokens -= 1.0;
		*delay_ns = 0;
	} else {
		*delay_ns = take_shared(b, now);
	}
	pthread_mutex_unlock(&b->mu);
	return 0;
}

static void bucket_forget(struct kube_ratelimiter *rl, const char *key)
{
}

static int bucket_num_requeues(struct kube_ratelimiter *rl, const char *key)
{
	return 0;
}

static void bucket_free(struct kube_ratelimiter *rl)
{
	struct bucket *b = (struct bucket *)rl;
	pthread_mutex_destroy(&b->mu);
	free(b);
}

static const struct ops bucket_ops = {bucket_when, bucket_forget, bucket_num_requeues,
				      bucket_free, NULL};
static const struct ops bucket_reserve_ops = {bucket_when, bucket_forget, bucket_num_requeues,
					      bucket_free, bucket_when_urgent};

struct kube_ratelimiter *kube_ratelimiter_bucket_new(struct kube_clock *clock, double qps,
						     int burst)
{
	struct bucket *b;

	if (!(qps > 0) || burst < 1)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->base.ops = &bucket_ops;
	b->clock = clock;
	b->qps = qps;
	b->burst = burst;
	b->tokens = burst; /* a full bucket, as x/time/rate starts */
	b->last = kube_clock_now(clock);
	pthread_mutex_init(&b->mu, NULL);
	return &b->base;
}

struct kube_ratelimiter *kube_ratelimiter_bucket_reserve_new(struct kube_clock *clock, double qps,
							     int burst, double reserve_qps,
							     int reserve_burst)
{
	struct bucket *b;

	if (!(reserve_qps > 0) || reserve_burst < 1)
		return NULL;
	b = (struct bucket *)kube_ratelimiter_bucket_new(clock, qps, burst);
	if (b == NULL)
		return NULL;
	b->base.ops = &bucket_reserve_ops;
	b->rqps = reserve_qps;
	b->rburst = reserve_burst;
	b->rtokens = reserve_burst;
	b->rlast = b->last;
	return &b->base;
}

/* ---- max of several ---- */

struct max_of {
	struct kube_ratelimiter base;
	size_t n;
	struct kube_ratelimiter *parts[];
};

static int max_when(struct kube_ratelimiter *rl, const char *key, int64_t *delay_ns)
{
	struct max_of *m = (struct max_of *)rl;
	int rc = 0;

	*delay_ns = 0;
	for (size_t i = 0; i < m->n; i++) {
		int64_t d = 0;
		int prc = kube_ratelimiter_when(m->parts[i], key, &d);
		if (prc != 0)
			rc = prc;
		if (d > *delay_ns)
			*delay_ns = d;
	}
	return rc;
}

static void max_forget(struct kube_ratelimiter *rl, const char *key)
{
	struct max_of *m = (struct max_of *)rl;
	for (size_t i = 0; i < m->n; i++)
		kube_ratelimiter_forget(m->parts[i], key);
}

static int max_num_requeues(struct kube_ratelimiter *rl, const char *key)
{
	struct max_of *m = (struct max_of *)rl;
	int best = 0;
	for (size_t i = 0; i < m->n; i++) {
		int v = kube_ratelimiter_num_requeues(m->parts[i], key);
		if (v > best)
			best = v;
	}
	return best;
}

static void max_free(struct kube_ratelimiter *rl)
{
	struct max_of *m = (struct max_of *)rl;
	for (size_t i = 0; i < m->n; i++)
		kube_ratelimiter_free(m->parts[i]);
	free(m);
}

static const struct ops max_ops = {max_when, max_forget, max_num_requeues, max_free, NULL};

struct kube_ratelimiter *kube_ratelimiter_max_of_new(struct kube_ratelimiter **parts, size_t n)
{
	struct max_of *m = NULL;
	bool ok = parts != NULL && n > 0;

	for (size_t i = 0; ok && i < n; i++)
		if (parts[i] == NULL)
			ok = false;
	if (ok)
		m = calloc(1, sizeof(*m) + n * sizeof(m->parts[0]));
	if (m == NULL) {
		for (size_t i = 0; parts != NULL && i < n; i++)
			kube_ratelimiter_free(parts[i]);
		return NULL;
	}
	m->base.ops = &max_ops;
	m->n = n;
	memcpy(m->parts, parts, n * sizeof(m->parts[0]));
	return &m->base;
}

struct kube_ratelimiter *kube_ratelimiter_default_new(struct kube_clock *clock)
{
	struct kube_ratelimiter *parts[2] = {
		kube_ratelimiter_exponential_new(KUBE_MS(5), KUBE_SEC(1000)),
		kube_ratelimiter_bucket_new(clock, 10.0, 100),
	};
	return kube_ratelimiter_max_of_new(parts, 2);
}

/* ---- dispatch ---- */

int kube_ratelimiter_when(struct kube_ratelimiter *rl, const char *key, int64_t *delay_ns)
{
	if (rl == NULL || key == NULL || delay_ns == NULL)
		return KUBE_EINVAL;
	return rl->ops->when(rl, key, delay_ns);
}

int kube_ratelimiter_when_urgent(struct kube_ratelimiter *rl, const char *key, int64_t *delay_ns)
{
	if (rl == NULL || key == NULL || delay_ns == NULL)
		return KUBE_EINVAL;
	return rl->ops->when_urgent != NULL ? rl->ops->when_urgent(rl, key, delay_ns)
					    : rl->ops->when(rl, key, delay_ns);
}

void kube_ratelimiter_forget(struct kube_ratelimiter *rl, const char *key)
{
	if (rl != NULL && key != NULL)
		rl->ops->forget(rl, key);
}

int kube_ratelimiter_num_requeues(struct kube_ratelimiter *rl, const char *key)
{
	if (rl == NULL || key == NULL)
		return 0;
	return rl->ops->num_requeues(rl, key);
}

void kube_ratelimiter_free(struct kube_ratelimiter *rl)
{
	if (rl != NULL)
		rl->ops->free(rl);
}
