/* intent_queue: priority-then-FIFO order, capped admission and SLA arithmetic. */
#include "intent_queue.h"

#include <stdlib.h>
#include <string.h>

#include <uthash.h>

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

/* ---- the index ---------------------------------------------------------------------------- */

struct qnode {
	char *key;                     /* "ns\0name": ns and name point into it */
	size_t keylen;
	struct intent_queue_entry e;
	UT_hash_handle hh;
};

/* One hash per namespace, so a pass walks its namespace only. */
struct qns {
	char *ns;
	struct qnode *nodes;
	UT_hash_handle hh;
};

struct intent_queue_index {
	struct qns *by_ns;
	size_t n;
};

struct intent_queue_index *intent_queue_index_new(void)
{
	return calloc(1, sizeof(struct intent_queue_index));
}

static void node_free(struct qnode *q)
{
	free(q->key);
	free((char *)q->e.rv);
	free(q);
}

void intent_queue_index_free(struct intent_queue_index *idx)
{
	struct qns *s, *stmp;
	struct qnode *q, *qtmp;

	if (!idx)
		return;
	HASH_ITER(hh, idx->by_ns, s, stmp) {
		HASH_ITER(hh, s->nodes, q, qtmp) {
			HASH_DEL(s->nodes, q);
			node_free(q);
		}
		HASH_DEL(idx->by_ns, s);
		free(s->ns);
		free(s);
	}
	free(idx);
}

static struct qnode *node_find(const struct intent_queue_index *idx, const char *ns,
			       const char *name, struct qns **nsp)
{
	struct qns *s = NULL;
	struct qnode *q = NULL;

	if (!idx || !ns || !name)
		return NULL;
	HASH_FIND_STR(idx->by_ns, ns, s);
	if (s)
		HASH_FIND_STR(s->nodes, name, q);
	if (nsp)
		*nsp = s;
	return q;
}

int intent_queue_index_fresh(const struct intent_queue_index *idx, const char *ns,
			     const char *name, const char *rv)
{
	const struct qnode *q = node_find(idx, ns, name, NULL);

	return q && rv && q->e.rv && strcmp(q->e.rv, rv) == 0;
}

int intent_queue_index_put(struct intent_queue_index *idx, const struct intent_queue_entry *e)
{
	struct qns *s = NULL;
	struct qnode *old, *q;

	if (!idx || !e || !e->ns || !e->name)
		return KUBE_EINVAL;
	if (intent_queue_index_fresh(idx, e->ns, e->name, e->rv))
		return 0;
	old = node_find(idx, e->ns, e->name, &s);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s || !(s->ns = strdup(e->ns))) {
			free(s);
			return KUBE_ENOMEM;
		}
		HASH_ADD_KEYPTR(hh, idx->by_ns, s->ns, strlen(s->ns), s);
	}
	q = calloc(1, sizeof(*q));
	size_t nl = strlen(e->ns), ml = strlen(e->name);
	if (q)
		q->key = malloc(nl + ml + 2);
	if (q && e->rv)
		q->e.rv = strdup(e->rv);
	if (!q || !q->key || (e->rv && !q->e.rv)) {
		if (q)
			node_free(q);
		return KUBE_ENOMEM;
	}
	const char *rv = q->e.rv;
	memcpy(q->key, e->ns, nl + 1);
	memcpy(q->key + nl + 1, e->name, ml + 1);
	q->e = *e;
	q->e.ns = q->key;
	q->e.name = q->key + nl + 1;
	q->e.rv = rv;
	if (old) {
		HASH_DEL(s->nodes, old);
		node_free(old);
		idx->n--;
	}
	HASH_ADD_KEYPTR(hh, s->nodes, q->e.name, ml, q);
	idx->n++;
	return 1;
}

void intent_queue_index_del(struct intent_queue_index *idx, const char *ns, const char *name)
{
	struct qns *s = NULL;
	struct qnode *q = node_find(idx, ns, name, &s);

	if (!q)
		return;
	HASH_DEL(s->nodes, q);
	node_free(q);
	idx->n--;
	if (!s->nodes) {
		HASH_DEL(idx->by_ns, s);
		free(s->ns);
		free(s);
	}
}

int intent_queue_index_foreach(const struct intent_queue_index *idx, const char *ns,
			       int (*fn)(const struct intent_queue_entry *e, void *ud), void *ud)
{
	struct qns *s = NULL;
	struct qnode *q, *tmp;

	if (!idx || !ns || !fn)
		return 0;
	HASH_FIND_STR(idx->by_ns, ns, s);
	if (!s)
		return 0;
	HASH_ITER(hh, s->nodes, q, tmp) {
		int rc = fn(&q->e, ud);
		if (rc)
			return rc;
	}
	return 0;
}

size_t intent_queue_index_len(const struct intent_queue_index *idx)
{
	return idx ? idx->n : 0;
}
