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

int intent_queue_entry_cmp(const struct intent_queue_entry *a, const struct intent_queue_entry *b)
{
	struct intent_queue_item x = {.name = a->name, .priority = a->priority, .created_ms = a->created_ms};
	struct intent_queue_item y = {.name = b->name, .priority = b->priority, .created_ms = b->created_ms};

	return item_cmp(&x, &y);
}

int intent_queue_admit(struct intent_queue_item *items, size_t n, int max_concurrent, size_t *admit)
{
	if (n > 0 && items && admit)
		intent_queue_sort(items, n);
	return intent_queue_admit_sorted(items, n, max_concurrent, admit);
}

int intent_queue_admit_sorted(struct intent_queue_item *items, size_t n, int max_concurrent,
			      size_t *admit)
{
	size_t running = 0;
	int admitted = 0, pos = 0;

	if (n == 0)
		return 0;
	if (!items || !admit)
		return KUBE_EINVAL;
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

/* One allocation per Intent: the node, its dependency pointers, then its strings
 * ("name\0rv\0svc\0dep\0..."); e.ns points at the namespace's own copy. */
struct qnode {
	struct intent_queue_entry e;
	UT_hash_handle hh;
	struct qnode *next_svc, *next_port; /* the other Intents sharing serviceName / port */
	const char *depv[];
};

/* The Intents of a namespace asking for one serviceName, or one port. */
struct qbucket {
	const char *svc;               /* key (by_svc), NULL in by_port */
	int port;
	struct qnode *head;
	UT_hash_handle hh;
	char key[];                    /* owned copy of svc */
};

/* One hash per namespace, so a pass walks its namespace only; its candidates also in queue
 * order (kept sorted on every put and del: a binary search and a memmove, no pass sorts). */
struct qns {
	char *ns;
	struct qnode *nodes;
	struct qbucket *by_svc, *by_port;
	struct qnode **order;
	size_t norder, corder;
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

static void buckets_free(struct qbucket **h)
{
	struct qbucket *b, *tmp;

	HASH_ITER(hh, *h, b, tmp) {
		HASH_DEL(*h, b);
		free(b);
	}
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
			free(q);
		}
		buckets_free(&s->by_svc);
		buckets_free(&s->by_port);
		HASH_DEL(idx->by_ns, s);
		free(s->order);
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

static struct qbucket *bucket_get(struct qns *s, const char *svc, int port, int create)
{
	struct qbucket *b = NULL;

	if (svc)
		HASH_FIND_STR(s->by_svc, svc, b);
	else
		HASH_FIND_INT(s->by_port, &port, b);
	if (b || !create)
		return b;
	size_t l = svc ? strlen(svc) : 0;
	b = calloc(1, sizeof(*b) + l + 1);
	if (!b)
		return NULL;
	b->port = port;
	if (svc) {
		memcpy(b->key, svc, l + 1);
		b->svc = b->key;
		HASH_ADD_KEYPTR(hh, s->by_svc, b->svc, l, b);
	} else {
		HASH_ADD_INT(s->by_port, port, b);
	}
	return b;
}

static int bucket_link(struct qns *s, struct qnode *q)
{
	struct qbucket *b;

	if (q->e.svc) {
		if (!(b = bucket_get(s, q->e.svc, 0, 1)))
			return KUBE_ENOMEM;
		q->next_svc = b->head;
		b->head = q;
	}
	if (q->e.port > 0) {
		if (!(b = bucket_get(s, NULL, q->e.port, 1)))
			return KUBE_ENOMEM;
		q->next_port = b->head;
		b->head = q;
	}
	return 0;
}

static void bucket_unlink(struct qns *s, struct qnode *q)
{
	for (int by_port = 0; by_port < 2; by_port++) {
		struct qbucket *b = by_port ? (q->e.port > 0 ? bucket_get(s, NULL, q->e.port, 0) : NULL)
					    : (q->e.svc ? bucket_get(s, q->e.svc, 0, 0) : NULL);
		if (!b)
			continue;
		for (struct qnode **pp = &b->head; *pp; pp = by_port ? &(*pp)->next_port : &(*pp)->next_svc) {
			if (*pp == q) {
				*pp = by_port ? q->next_port : q->next_svc;
				break;
			}
		}
		if (!b->head) {
			if (by_port)
				HASH_DEL(s->by_port, b);
			else
				HASH_DEL(s->by_svc, b);
			free(b);
		}
	}
}

static void ns_drop_if_empty(struct intent_queue_index *idx, struct qns *s)
{
	if (s->nodes)
		return;
	buckets_free(&s->by_svc);
	buckets_free(&s->by_port);
	HASH_DEL(idx->by_ns, s);
	free(s->order);
	free(s->ns);
	free(s);
}

/* Where e goes in s->order: the first node not before it. */
static size_t order_lower(const struct qns *s, const struct intent_queue_entry *e)
{
	size_t lo = 0, hi = s->norder;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (intent_queue_entry_cmp(&s->order[mid]->e, e) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int order_insert(struct qns *s, struct qnode *q)
{
	if (!q->e.candidate)
		return 0;
	if (s->norder == s->corder) {
		size_t nc = s->corder ? s->corder * 2 : 64;
		struct qnode **nv = realloc(s->order, nc * sizeof(*nv));
		if (!nv)
			return KUBE_ENOMEM;
		s->order = nv;
		s->corder = nc;
	}
	size_t at = order_lower(s, &q->e);
	memmove(s->order + at + 1, s->order + at, (s->norder - at) * sizeof(*s->order));
	s->order[at] = q;
	s->norder++;
	return 0;
}

static void order_remove(struct qns *s, const struct qnode *q)
{
	if (!q->e.candidate)
		return;
	for (size_t at = order_lower(s, &q->e); at < s->norder; at++) {
		if (s->order[at] == q) {
			memmove(s->order + at, s->order + at + 1,
				(s->norder - at - 1) * sizeof(*s->order));
			s->norder--;
			return;
		}
		if (intent_queue_entry_cmp(&s->order[at]->e, &q->e) > 0)
			break;
	}
}

static char *put_str(char **at, const char *v)
{
	char *d = *at;
	size_t l = strlen(v) + 1;

	memcpy(d, v, l);
	*at += l;
	return d;
}

/* A copy of e in one allocation (ns borrowed from the namespace). */
static struct qnode *node_new(const struct intent_queue_entry *e, const char *ns)
{
	size_t nd = 0, len = strlen(e->name) + 1;

	if (e->rv)
		len += strlen(e->rv) + 1;
	if (e->svc)
		len += strlen(e->svc) + 1;
	for (size_t i = 0; e->deps && i < e->ndeps; i++)
		if (e->deps[i]) {
			len += strlen(e->deps[i]) + 1;
			nd++;
		}
	struct qnode *q = calloc(1, sizeof(*q) + nd * sizeof(q->depv[0]) + len);
	if (!q)
		return NULL;
	char *at = (char *)(q->depv + nd);
	q->e = *e;
	q->e.ns = ns;
	q->e.name = put_str(&at, e->name);
	q->e.rv = e->rv ? put_str(&at, e->rv) : NULL;
	q->e.svc = e->svc ? put_str(&at, e->svc) : NULL;
	q->e.ndeps = 0;
	for (size_t i = 0; e->deps && i < e->ndeps; i++)
		if (e->deps[i])
			q->depv[q->e.ndeps++] = put_str(&at, e->deps[i]);
	q->e.deps = nd ? q->depv : NULL;
	return q;
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
	q = node_new(e, s->ns);
	if (!q) {
		ns_drop_if_empty(idx, s);
		return KUBE_ENOMEM;
	}
	if (old) {
		bucket_unlink(s, old);
		order_remove(s, old);
		HASH_DEL(s->nodes, old);
		free(old);
		idx->n--;
	}
	HASH_ADD_KEYPTR(hh, s->nodes, q->e.name, strlen(q->e.name), q);
	idx->n++;
	if (order_insert(s, q) < 0) {
		/* Not in the queue's order: say so (a later put retries). */
		q->e.candidate = 0;
		return KUBE_ENOMEM;
	}
	if (bucket_link(s, q) < 0) {
		/* Listed for the queue, but not findable by serviceName or port: say so. */
		bucket_unlink(s, q);
		q->e.svc = NULL;
		q->e.port = 0;
		return KUBE_ENOMEM;
	}
	return 1;
}

void intent_queue_index_del(struct intent_queue_index *idx, const char *ns, const char *name)
{
	struct qns *s = NULL;
	struct qnode *q = node_find(idx, ns, name, &s);

	if (!q)
		return;
	bucket_unlink(s, q);
	order_remove(s, q);
	HASH_DEL(s->nodes, q);
	free(q);
	idx->n--;
	ns_drop_if_empty(idx, s);
}

const struct intent_queue_entry *intent_queue_index_find(const struct intent_queue_index *idx,
							 const char *ns, const char *svc, int port,
							 const char *except)
{
	struct qns *s = NULL;
	struct qbucket *b;

	if (!idx || !ns || (!svc && port <= 0))
		return NULL;
	HASH_FIND_STR(idx->by_ns, ns, s);
	if (!s || !(b = bucket_get(s, svc, port, 0)))
		return NULL;
	for (const struct qnode *q = b->head; q; q = svc ? q->next_svc : q->next_port)
		if (!q->e.deleting && !(except && strcmp(q->e.name, except) == 0))
			return &q->e;
	return NULL;
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

int intent_queue_index_foreach_ordered(const struct intent_queue_index *idx, const char *ns,
				       int (*fn)(const struct intent_queue_entry *e, void *ud),
				       void *ud)
{
	struct qns *s = NULL;

	if (!idx || !ns || !fn)
		return 0;
	HASH_FIND_STR(idx->by_ns, ns, s);
	for (size_t i = 0; s && i < s->norder; i++) {
		int rc = fn(&s->order[i]->e, ud);
		if (rc)
			return rc;
	}
	return 0;
}

size_t intent_queue_index_len(const struct intent_queue_index *idx)
{
	return idx ? idx->n : 0;
}
