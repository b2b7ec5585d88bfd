/* intent_queue: priority-then-FIFO order, capped admission and SLA arithmetic. */
#include "intent_queue.h"

#include <stdlib.h>
#include <string.h>

#include "kube_error.h"

static int item_cmp(const void *a, const void *b)
{
	const struct intent_queue_item *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	if (!x->name || !y->name)
		return (x->name == NULL) - (y->name == NULL);
	return strcmp(x->name, y->name);
}

void intent_queue_sort(struct intent_queue_item *items, size_t n)
{
	if (items && n > 1)
		qsort(items, n, sizeof(*items), item_cmp);
}

int intent_queue_admit(struct intent_queue_item *items, size_t n, int max_concurrent, size_t *admit)
{
	size_t running = 0;
	int admitted = 0, pos = 0;

	if (n == 0)
		return 0;
	if (!items || !admit)
		return KUBE_EINVAL;
	intent_queue_sort(items, n);
	for (size_t i = 0; i < n; i++)
		running += items[i].admitted ? 1 : 0;
	for (size_t i = 0; i < n; i++) {
		items[i].position = 0;
		if (items[i].admitted)
			continue;
		if (max_concurrent > 0 && running < (size_t)max_concurrent) {
			items[i].admitted = 1;
			admit[admitted++] = i;
			running++;
			continue;
		}
		if (pos < INTENT_QUEUE_POSITIONS)
			items[i].position = ++pos;
	}
	return admitted;
}

int intent_queue_changed(const struct intent_queue_item *items, size_t n, size_t *changed)
{
	int count = 0;

	if (n == 0)
		return 0;
	if (!items || !changed)
		return KUBE_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (items[i].position != items[i].status_position)
			changed[count++] = i;
	return count;
}

int intent_sla_deadline(const struct intent_policy *policy, enum intent_priority prio,
			int64_t enqueued_ms, int64_t *deadline_ms)
{
	struct intent_policy dflt;
	int64_t sla;

	if (!deadline_ms || (unsigned)prio >= INTENT_PRIO_COUNT)
		return KUBE_EINVAL;
	if (!policy) {
		intent_policy_defaults(&dflt);
		policy = &dflt;
	}
	sla = policy->sla_ms[prio];
	if (sla < 0)
		return KUBE_ENOTFOUND;
	*deadline_ms = enqueued_ms + sla;
	return 0;
}

int intent_sla_breached(int64_t deadline_ms, int64_t now_ms)
{
	return now_ms > deadline_ms;
}
