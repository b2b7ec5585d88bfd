/* Real and fake clocks, and condition variables whose timed waits follow them (kube_clock.h).
 * A fake clock wakes the conditions made from it whenever it advances, so waiters re-check. */
#include "kube_clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "kube_error.h"

/* A thread blocked in kube_cond_wait_until on a fake clock; lives on that thread's stack. */
struct waiter {
	int64_t deadline;
	struct waiter *next;
};

struct kube_clock {
	bool fake;
	atomic_llong now;     /* fake monotonic time */
	int64_t start;        /* fake: monotonic time at creation */
	int64_t wall_start;   /* fake: wall time at creation */
	/* Lock order: reg_lock -> a kube_cond's mutex -> wait_lock. reg_lock guards `conds` and is
	 * only taken without a caller mutex held; wait_lock is a leaf guarding `waiters`. */
	pthread_mutex_t reg_lock;
	struct kube_cond *conds;
	pthread_mutex_t wait_lock;
	struct waiter *waiters;
	int nwaiters;
};

struct kube_cond {
	struct kube_clock *clock;
	pthread_mutex_t *mu;
	pthread_cond_t cond;
	struct kube_cond *prev, *next; /* fake clocks: registration list */
};

static struct kube_clock real_clock = {.fake = false};

struct kube_clock *kube_clock_real(void)
{
	return &real_clock;
}

struct kube_clock *kube_clock_fake_new(int64_t start_ns, int64_t wall_ns)
{
	struct kube_clock *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->fake = true;
	atomic_init(&c->now, start_ns);
	c->start = start_ns;
	/* 2026-01-01T00:00:00Z: a fixed, recognisable default so test output is stable. */
	c->wall_start = wall_ns != 0 ? wall_ns : INT64_C(1767225600) * KUBE_NS_PER_SEC;
	pthread_mutex_init(&c->reg_lock, NULL);
	pthread_mutex_init(&c->wait_lock, NULL);
	return c;
}

void kube_clock_free(struct kube_clock *c)
{
	if (c == NULL || !c->fake)
		return;
	pthread_mutex_destroy(&c->reg_lock);
	pthread_mutex_destroy(&c->wait_lock);
	free(c);
}

static int64_t read_clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * KUBE_NS_PER_SEC + ts.tv_nsec;
}

int64_t kube_clock_now(const struct kube_clock *c)
{
	if (c == NULL || !c->fake)
		return read_clock(CLOCK_MONOTONIC);
	return atomic_load(&((struct kube_clock *)c)->now);
}

int64_t kube_clock_wall(const struct kube_clock *c)
{
	if (c == NULL || !c->fake)
		return read_clock(CLOCK_REALTIME);
	return c->wall_start + (kube_clock_now(c) - c->start);
}

bool kube_clock_is_fake(const struct kube_clock *c)
{
	return c != NULL && c->fake;
}

void kube_clock_advance(struct kube_clock *c, int64_t d_ns)
{
	if (c == NULL || !c->fake || d_ns < 0)
		return;
	pthread_mutex_lock(&c->reg_lock);
	atomic_fetch_add(&c->now, d_ns);
	/* Taking each waiter's mutex before broadcasting closes the window between a waiter
	 * reading the old time and blocking: it holds its mutex across both. */
	for (struct kube_cond *cv = c->conds; cv != NULL; cv = cv->next) {
		pthread_mutex_lock(cv->mu);
		pthread_cond_broadcast(&cv->cond);
		pthread_mutex_unlock(cv->mu);
	}
	pthread_mutex_unlock(&c->reg_lock);
}

int kube_clock_waiters(const struct kube_clock *c)
{
	int n;
	if (c == NULL || !c->fake)
		return 0;
	pthread_mutex_lock(&((struct kube_clock *)c)->wait_lock);
	n = c->nwaiters;
	pthread_mutex_unlock(&((struct kube_clock *)c)->wait_lock);
	return n;
}

int64_t kube_clock_next_deadline(const struct kube_clock *c)
{
	int64_t best = KUBE_CLOCK_FOREVER;
	struct kube_clock *mc = (struct kube_clock *)c;
	if (c == NULL || !c->fake)
		return best;
	pthread_mutex_lock(&mc->wait_lock);
	for (struct waiter *w = mc->waiters; w != NULL; w = w->next)
		if (w->deadline < best)
			best = w->deadline;
	pthread_mutex_unlock(&mc->wait_lock);
	return best;
}

struct kube_cond *kube_cond_new(struct kube_clock *c, pthread_mutex_t *mu)
{
	struct kube_cond *cv;
	pthread_condattr_t attr;

	if (mu == NULL)
		return NULL;
	cv = calloc(1, sizeof(*cv));
	if (cv == NULL)
		return NULL;
	cv->clock = c != NULL ? c : &real_clock;
	cv->mu = mu;
	/* Timed waits on the real clock must not jump when someone sets the wall clock. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&cv->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (cv->clock->fake) {
		pthread_mutex_lock(&cv->clock->reg_lock);
		cv->next = cv->clock->conds;
		if (cv->next != NULL)
			cv->next->prev = cv;
		cv->clock->conds = cv;
		pthread_mutex_unlock(&cv->clock->reg_lock);
	}
	return cv;
}

void kube_cond_free(struct kube_cond *cv)
{
	if (cv == NULL)
		return;
	if (cv->clock->fake) {
		pthread_mutex_lock(&cv->clock->reg_lock);
		if (cv->prev != NULL)
			cv->prev->next = cv->next;
		else
			cv->clock->conds = cv->next;
		if (cv->next != NULL)
			cv->next->prev = cv->prev;
		pthread_mutex_unlock(&cv->clock->reg_lock);
	}
	pthread_cond_destroy(&cv->cond);
	free(cv);
}

void kube_cond_signal(struct kube_cond *cv)
{
	pthread_cond_signal(&cv->cond);
}

void kube_cond_broadcast(struct kube_cond *cv)
{
	pthread_cond_broadcast(&cv->cond);
}

static int wait_fake(struct kube_cond *cv, int64_t deadline_ns)
{
	struct kube_clock *c = cv->clock;
	struct waiter self = {.deadline = deadline_ns};
	struct waiter **pp;

	pthread_mutex_lock(&c->wait_lock);
	self.next = c->waiters;
	c->waiters = &self;
	c->nwaiters++;
	pthread_mutex_unlock(&c->wait_lock);

	pthread_cond_wait(&cv->cond, cv->mu);

	pthread_mutex_lock(&c->wait_lock);
	for (pp = &c->waiters; *pp != &self; pp = &(*pp)->next)
		;
	*pp = self.next;
	c->nwaiters--;
	pthread_mutex_unlock(&c->wait_lock);
	return kube_clock_now(c) >= deadline_ns ? KUBE_ETIMEDOUT : 0;
}

int kube_cond_wait_until(struct kube_cond *cv, int64_t deadline_ns)
{
	struct timespec ts;
	int rc;

	if (kube_clock_now(cv->clock) >= deadline_ns)
		return KUBE_ETIMEDOUT;
	if (cv->clock->fake)
		return wait_fake(cv, deadline_ns);
	if (deadline_ns == KUBE_CLOCK_FOREVER) {
		pthread_cond_wait(&cv->cond, cv->mu);
		return 0;
	}
	ts.tv_sec = (time_t)(deadline_ns / KUBE_NS_PER_SEC);
	ts.tv_nsec = (long)(deadline_ns % KUBE_NS_PER_SEC);
	rc = pthread_cond_timedwait(&cv->cond, cv->mu, &ts);
	return rc == ETIMEDOUT ? KUBE_ETIMEDOUT : 0;
}
