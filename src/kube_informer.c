/* Informer (kube_informer.h) as client-go builds it: a reflector thread lists and watches and
 * queues deltas; a processor thread applies them to the cache and calls the handlers, so the
 * cache and the handlers always agree and resync needs no extra thread. */
#include "kube_informer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>
/* Every owner has a table of its children (pods of a PhoenixService: 3): uthash's default 32
 * first buckets are 512 bytes a table, 1.3 MiB at 1,000 services over three informers. 4 to
 * start with; a table still doubles as it fills (HASH_BKT_CAPACITY_THRESH). */
#undef HASH_INITIAL_NUM_BUCKETS
#undef HASH_INITIAL_NUM_BUCKETS_LOG2
#define HASH_INITIAL_NUM_BUCKETS 4U
#define HASH_INITIAL_NUM_BUCKETS_LOG2 2U

#include "kube_clock.h"
#include "kube_error.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_watch.h"

/* A watch that ends this soon without an event counts as a failure (client-go "very short
 * watch"), so a server that closes streams at once is not hammered. */
#define SHORT_WATCH_NS KUBE_SEC(1)

/* What watch_idle_timeout_ms 0 means; kube_informer_set_default_watch_idle_timeout. */
static _Atomic int64_t default_watch_idle_ms = KUBE_INFORMER_WATCH_IDLE_DEFAULT_MS;

/* Exactly one of obj and text is set: text (compact JSON, about a fifth of a tree's heap) when
 * the informer stores compactly and printing worked, obj otherwise. Replaced, never modified:
 * an entry is one exact-size allocation, the struct, its key, then its text (a new object is a
 * new entry). */
struct entry {
	cJSON *obj;
	const char *text; /* NULL, or inside the entry, after the key */
	UT_hash_handle hh;
	char key[];
};

/* Owner index: owner uid -> the set of entries that name it in metadata.ownerReferences. */
struct child {
	struct entry *e; /* hash key: the pointer */
	UT_hash_handle hh;
};

struct owner {
	char *uid;
	struct child *children;
	UT_hash_handle hh;
};

enum delta_type { DELTA_UPSERT, DELTA_DELETE, DELTA_REPLACE };

struct delta {
	enum delta_type type;
	cJSON *obj; /* UPSERT/DELETE: the object; REPLACE: the list's items array */
	struct delta *next;
};

struct kube_informer {
	struct kube_client *client;
	struct kube_gvr gvr;
	char *group, *version, *resource;
	char *ns, *label_selector, *field_selector, *name;
	int64_t resync_ns, backoff_base_ns, backoff_max_ns;
	long page_size;
	int watch_timeout_s;
	int64_t watch_idle_ms; /* 0 = no stall detection */
	struct kube_clock *clock;
	cJSON *(*transform)(cJSON *obj, void *ud);
	void *transform_ud;
	bool compact;
	struct kube_informer_handlers *handlers;
	size_t nhandlers;

	/* The cache: written only by the processor thread, read by anyone. */
	pthread_rwlock_t cache_lock;
	struct entry *cache;
	struct owner *owners;

	/* mu guards everything below; cond wakes the processor (delta queued, stop), sync waiters
	 * and a reflector sleeping in backoff. */
	pthread_mutex_t mu;
	struct kube_cond *cond;
	struct delta *dq_head, *dq_tail;
	bool started, stopping, synced;
	char *rv;
	struct kube_informer_stats stats;

	atomic_bool cancel; /* tells an open kube_watch to return */
	pthread_t reflector, processor;

	struct kube_metric *m_lists, *m_relists, *m_watches, *m_restarts, *m_errors, *m_objects;
	struct kube_metric *m_stalls;
};

/* ---- small helpers ---- */

static char *dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static bool stopping(struct kube_informer *inf)
{
	bool v;
	pthread_mutex_lock(&inf->mu);
	v = inf->stopping;
	pthread_mutex_unlock(&inf->mu);
	return v;
}

static void count(struct kube_informer *inf, struct kube_metric *m)
{
	const char *lv[] = {inf->name};
	kube_metric_inc(m, lv);
}

static void register_metrics(struct kube_informer *inf)
{
	static const char *const labels[] = {"informer", NULL};
	struct kube_metrics *reg = kube_metrics_default();

	if (reg == NULL)
		return;
	inf->m_lists = kube_metric_register(reg, KUBE_COUNTER, "kube_informer_lists_total",
					    "Lists done by the informer's reflector", labels, NULL,
					    0);
	inf->m_relists = kube_metric_register(
		reg, KUBE_COUNTER, "kube_informer_relists_total",
		"Lists after the first one (410 Gone or errors)", labels, NULL, 0);
	inf->m_watches = kube_metric_register(reg, KUBE_COUNTER, "kube_informer_watches_total",
					      "Watch requests started", labels, NULL, 0);
	inf->m_restarts = kube_metric_register(
		reg, KUBE_COUNTER, "kube_informer_watch_restarts_total",
		"Watches started after the first one (stream ended or failed)", labels, NULL, 0);
	inf->m_errors = kube_metric_register(reg, KUBE_COUNTER, "kube_informer_errors_total",
					     "Failed lists and watches", labels, NULL, 0);
	inf->m_objects = kube_metric_register(reg, KUBE_GAUGE, "kube_informer_objects",
					      "Objects in the informer's cache", labels, NULL, 0);
	inf->m_stalls = kube_metric_register(
		reg, KUBE_COUNTER, "kube_informer_watch_stalls_total",
		"Watches restarted because no event or bookmark came within the idle timeout",
		labels, NULL, 0);
}

/* ---- cache and owner index (processor thread, cache_lock held for writing) ---- */

/* ---- entries: the object as a tree or as compact text ---- */

/* A tree to read the entry through: e->obj itself, or parsed from e->text (NULL on ENOMEM).
 * Give it back with entry_unload. */
static cJSON *entry_load(const struct entry *e)
{
	return e->obj != NULL ? e->obj : cJSON_Parse(e->text);
}

static void entry_unload(const struct entry *e, cJSON *tree)
{
	if (tree != e->obj)
		cJSON_Delete(tree);
}

/* A new tree the caller owns (NULL on ENOMEM). */
static cJSON *entry_copy(const struct entry *e)
{
	return e->obj != NULL ? cJSON_Duplicate(e->obj, true) : cJSON_Parse(e->text);
}

/* A new entry for obj under key (copied): as text when compact (obj stays the caller's: *kept
 * false), or the tree itself (*kept true). A failed print falls back to the tree: bigger,
 * still right. NULL on ENOMEM (obj still the caller's). */
static struct entry *entry_new(struct kube_informer *inf, const char *key, cJSON *obj,
			       bool *kept)
{
	char *text = inf->compact ? cJSON_PrintUnformatted(obj) : NULL;
	size_t klen = strlen(key) + 1, tlen = text != NULL ? strlen(text) + 1 : 0;
	struct entry *e = calloc(1, sizeof(*e) + klen + tlen);

	*kept = false;
	if (e != NULL) {
		memcpy(e->key, key, klen);
		if (text != NULL) {
			memcpy(e->key + klen, text, tlen);
			e->text = e->key + klen;
		} else {
			e->obj = obj;
			*kept = true;
		}
	}
	free(text);
	return e;
}

static void entry_free(struct entry *e)
{
	cJSON_Delete(e->obj);
	free(e);
}

/* ---- owner index (cache_lock held for writing; obj is the entry's object as a tree) ---- */

static void index_add_locked(struct kube_informer *inf, struct entry *e, const cJSON *obj)
{
	const cJSON *refs = kube_json_get(obj, "metadata", "ownerReferences", NULL);
	const cJSON *ref;

	cJSON_ArrayForEach(ref, refs) {
		const char *uid = kube_json_get_str(ref, "uid", NULL);
		struct owner *o;
		struct child *c;

		if (uid == NULL)
			continue;
		HASH_FIND_STR(inf->owners, uid, o);
		if (o == NULL) {
			o = calloc(1, sizeof(*o));
			if (o != NULL)
				o->uid = strdup(uid);
			if (o == NULL || o->uid == NULL) {
				free(o);
				goto oom;
			}
			HASH_ADD_KEYPTR(hh, inf->owners, o->uid, strlen(o->uid), o);
		}
		HASH_FIND_PTR(o->children, &e, c);
		if (c != NULL)
			continue; /* the same owner listed twice */
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			goto oom;
		c->e = e;
		HASH_ADD_PTR(o->children, e, c);
	}
	return;
oom:
	kube_log(KUBE_LOG_ERROR, "informer", "out of memory indexing owner", "informer", inf->name,
		 "key", e->key, NULL);
}

/* Takes e out of o's children; o goes when it has none left. */
static void owner_drop_locked(struct kube_informer *inf, struct owner *o, struct entry *e)
{
	struct child *c;

	HASH_FIND_PTR(o->children, &e, c);
	if (c != NULL) {
		HASH_DEL(o->children, c);
		free(c);
	}
	if (o->children == NULL) {
		HASH_DEL(inf->owners, o);
		free(o->uid);
		free(o);
	}
}

static void index_remove_locked(struct kube_informer *inf, struct entry *e, const cJSON *obj)
{
	const cJSON *refs = kube_json_get(obj, "metadata", "ownerReferences", NULL);
	const cJSON *ref;

	cJSON_ArrayForEach(ref, refs) {
		const char *uid = kube_json_get_str(ref, "uid", NULL);
		struct owner *o;

		if (uid == NULL)
			continue;
		HASH_FIND_STR(inf->owners, uid, o);
		if (o != NULL)
			owner_drop_locked(inf, o, e);
	}
}

/* Removes e from every owner's set (when its object cannot be parsed to name them). */
static void index_forget_locked(struct kube_informer *inf, struct entry *e)
{
	struct owner *o, *otmp;

	HASH_ITER(hh, inf->owners, o, otmp)
		owner_drop_locked(inf, o, e);
}

/* Unlinks an entry and frees it, returning its object as a tree (caller owns; NULL on ENOMEM).
 * cache_lock held. */
static cJSON *entry_remove_locked(struct kube_informer *inf, struct entry *e)
{
	cJSON *obj = e->obj != NULL ? e->obj : cJSON_Parse(e->text);

	if (obj != NULL)
		index_remove_locked(inf, e, obj);
	else
		index_forget_locked(inf, e); /* no tree to find its owners by: look everywhere */
	HASH_DEL(inf->cache, e);
	e->obj = NULL;
	entry_free(e);
	return obj;
}

/* Puts obj into the cache under key (taken). *old is the previous object as a tree the caller
 * now owns, or NULL (none, or ENOMEM parsing it). *kept: the cache holds obj itself; when
 * false (stored as text, or on error) obj is still the caller's. Returns 0 or KUBE_ENOMEM
 * (key freed, nothing changed). */
static int cache_put(struct kube_informer *inf, char *key, cJSON *obj, cJSON **old, bool *kept)
{
	struct entry *e, *prev;

	*old = NULL;
	e = entry_new(inf, key, obj, kept);
	free(key);
	if (e == NULL)
		return KUBE_ENOMEM;
	pthread_rwlock_wrlock(&inf->cache_lock);
	HASH_FIND_STR(inf->cache, e->key, prev);
	if (prev != NULL) {
		*old = entry_remove_locked(inf, prev);
		if (*old == NULL)
			kube_log(KUBE_LOG_ERROR, "informer",
				 "out of memory reading the previous object: handlers get none",
				 "informer", inf->name, "key", e->key, NULL);
	}
	HASH_ADD_KEYPTR(hh, inf->cache, e->key, strlen(e->key), e);
	index_add_locked(inf, e, obj);
	pthread_rwlock_unlock(&inf->cache_lock);
	return 0;
}

static void update_objects_gauge(struct kube_informer *inf)
{
	const char *lv[] = {inf->name};
	kube_metric_set(inf->m_objects, lv, (double)kube_informer_len(inf));
}

/* ---- handlers (processor thread, no lock held) ---- */

static void notify_add(struct kube_informer *inf, const cJSON *obj)
{
	for (size_t i = 0; i < inf->nhandlers; i++)
		if (inf->handlers[i].on_add != NULL)
			inf->handlers[i].on_add(obj, inf->handlers[i].ud);
}

static void notify_update(struct kube_informer *inf, const cJSON *old, const cJSON *obj)
{
	for (size_t i = 0; i < inf->nhandlers; i++)
		if (inf->handlers[i].on_update != NULL)
			inf->handlers[i].on_update(old, obj, inf->handlers[i].ud);
}

static void notify_delete(struct kube_informer *inf, const cJSON *obj, bool unknown)
{
	for (size_t i = 0; i < inf->nhandlers; i++)
		if (inf->handlers[i].on_delete != NULL)
			inf->handlers[i].on_delete(obj, unknown, inf->handlers[i].ud);
}

/* ---- applying deltas (processor thread) ---- */

static void apply_upsert(struct kube_informer *inf, cJSON *obj)
{
	char *key = kube_json_key(obj);
	cJSON *old;
	bool kept;
	int rc;

	if (key == NULL) {
		kube_log(KUBE_LOG_WARN, "informer", "dropping object without a name", "informer",
			 inf->name, NULL);
		cJSON_Delete(obj);
		return;
	}
	rc = cache_put(inf, key, obj, &old, &kept);
	if (rc == 0 && old != NULL)
		notify_update(inf, old, obj);
	else if (rc == 0)
		notify_add(inf, obj); /* or an update whose old state could not be parsed */
	cJSON_Delete(old);
	if (!kept)
		cJSON_Delete(obj);
}

static void apply_delete(struct kube_informer *inf, cJSON *obj)
{
	char *key = kube_json_key(obj);
	struct entry *e = NULL;
	cJSON *old = NULL;

	if (key != NULL) {
		pthread_rwlock_wrlock(&inf->cache_lock);
		HASH_FIND_STR(inf->cache, key, e);
		if (e != NULL)
			old = entry_remove_locked(inf, e);
		pthread_rwlock_unlock(&inf->cache_lock);
	}
	/* The event carries the final state; deliver it even for a key we never saw (client-go). */
	notify_delete(inf, obj, false);
	cJSON_Delete(old);
	cJSON_Delete(obj);
	free(key);
}

struct seen {
	char *key;
	UT_hash_handle hh;
};

/* A fresh list replaces the cache: listed objects are upserted (add or update), and cached
 * objects the list no longer has were deleted while we were not watching: tombstones. */
static void apply_replace(struct kube_informer *inf, cJSON *items)
{
	struct seen *seen = NULL, *s, *stmp;
	struct entry *e, *etmp;
	cJSON *gone = cJSON_CreateArray();
	cJSON *item, *obj;
	uint64_t ntomb = 0;
	bool seen_complete = true;

	while (items != NULL && cJSON_GetArraySize(items) > 0) {
		char *key;

		item = cJSON_DetachItemFromArray(items, 0);
		key = kube_json_key(item);
		if (key != NULL) {
			HASH_FIND_STR(seen, key, s);
			if (s == NULL) {
				s = calloc(1, sizeof(*s));
				if (s != NULL) {
					s->key = key;
					HASH_ADD_KEYPTR(hh, seen, s->key, strlen(s->key), s);
					key = NULL;
				} else {
					seen_complete = false;
				}
			}
			free(key);
		}
		apply_upsert(inf, item);
	}
	cJSON_Delete(items);

	/* Without a complete set of listed keys we cannot tell who is gone: skip the tombstones
	 * rather than invent deletions; the next relist finds them. */
	if (gone != NULL && seen_complete) {
		pthread_rwlock_wrlock(&inf->cache_lock);
		HASH_ITER(hh, inf->cache, e, etmp) {
			HASH_FIND_STR(seen, e->key, s);
			if (s == NULL) {
				obj = entry_remove_locked(inf, e);
				if (obj != NULL)
					cJSON_AddItemToArray(gone, obj);
				ntomb++;
			}
		}
		pthread_rwlock_unlock(&inf->cache_lock);
		/* Counted before the handlers run, so a handler (or a test) that saw a tombstone
		 * never reads stats that do not have it yet. */
		pthread_mutex_lock(&inf->mu);
		inf->stats.tombstones += ntomb;
		pthread_mutex_unlock(&inf->mu);
		cJSON_ArrayForEach(obj, gone)
			notify_delete(inf, obj, true);
	} else {
		kube_log(KUBE_LOG_ERROR, "informer", "out of memory: cannot compute tombstones",
			 "informer", inf->name, NULL);
	}
	cJSON_Delete(gone);
	HASH_ITER(hh, seen, s, stmp) {
		HASH_DEL(seen, s);
		free(s->key);
		free(s);
	}
	pthread_mutex_lock(&inf->mu);
	if (!inf->synced) {
		inf->synced = true;
		kube_cond_broadcast(inf->cond);
	}
	pthread_mutex_unlock(&inf->mu);
}

/* Resync: every cached object is delivered again as an update with old == new. The objects
 * stay valid without the lock because only this thread changes the cache. */
static void resync(struct kube_informer *inf)
{
	struct entry *e, *etmp;

	if (inf->nhandlers == 0)
		return;
	HASH_ITER(hh, inf->cache, e, etmp) {
		cJSON *obj = entry_load(e);

		if (obj != NULL)
			notify_update(inf, obj, obj);
		entry_unload(e, obj);
	}
}

static void delta_free(struct delta *d)
{
	cJSON_Delete(d->obj);
	free(d);
}

static void *processor_main(void *arg)
{
	struct kube_informer *inf = arg;
	int64_t next_resync = inf->resync_ns > 0 ? kube_clock_now(inf->clock) + inf->resync_ns
						  : KUBE_CLOCK_FOREVER;

	pthread_mutex_lock(&inf->mu);
	while (!inf->stopping) {
		struct delta *d = inf->dq_head;
		bool synced;

		if (d != NULL) {
			inf->dq_head = d->next;
			if (inf->dq_head == NULL)
				inf->dq_tail = NULL;
			pthread_mutex_unlock(&inf->mu);
			if (d->type == DELTA_UPSERT)
				apply_upsert(inf, d->obj);
			else if (d->type == DELTA_DELETE)
				apply_delete(inf, d->obj);
			else
				apply_replace(inf, d->obj);
			free(d); /* the object was handed over */
			update_objects_gauge(inf);
			pthread_mutex_lock(&inf->mu);
			continue;
		}
		if (kube_clock_now(inf->clock) >= next_resync) {
			synced = inf->synced;
			pthread_mutex_unlock(&inf->mu);
			if (synced)
				resync(inf);
			pthread_mutex_lock(&inf->mu);
			next_resync = kube_clock_now(inf->clock) + inf->resync_ns;
			continue;
		}
		kube_cond_wait_until(inf->cond, next_resync);
	}
	pthread_mutex_unlock(&inf->mu);
	return NULL;
}

/* ---- reflector (its own thread) ---- */

/* Runs the transform on obj (taken) and returns what to keep. A failed transform keeps the
 * object whole: memory is a cost, a missing object would be a wrong cache. */
static cJSON *transform_obj(struct kube_informer *inf, cJSON *obj)
{
	cJSON *out;

	if (inf->transform == NULL || obj == NULL)
		return obj;
	out = inf->transform(obj, inf->transform_ud);
	if (out == NULL) {
		kube_log(KUBE_LOG_WARN, "informer", "transform failed: keeping the whole object",
			 "informer", inf->name, NULL);
		return obj;
	}
	if (out != obj)
		cJSON_Delete(obj);
	return out;
}

/* Replaces every item of a listed array by its transform, in place and in order. */
static void transform_items(struct kube_informer *inf, cJSON *items)
{
	cJSON *item, *next, *out;

	if (inf->transform == NULL || items == NULL)
		return;
	for (item = items->child; item != NULL; item = next) {
		next = item->next;
		out = inf->transform(item, inf->transform_ud);
		if (out == NULL) {
			kube_log(KUBE_LOG_WARN, "informer",
				 "transform failed: keeping the whole object", "informer",
				 inf->name, NULL);
			continue;
		}
		if (out != item)
			cJSON_ReplaceItemViaPointer(items, item, out); /* frees item */
	}
}

static int push_delta(struct kube_informer *inf, enum delta_type type, cJSON *obj)
{
	struct delta *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		cJSON_Delete(obj);
		return KUBE_ENOMEM;
	}
	d->type = type;
	d->obj = obj;
	pthread_mutex_lock(&inf->mu);
	if (inf->dq_tail != NULL)
		inf->dq_tail->next = d;
	else
		inf->dq_head = d;
	inf->dq_tail = d;
	kube_cond_broadcast(inf->cond);
	pthread_mutex_unlock(&inf->mu);
	return 0;
}

static void set_rv(struct kube_informer *inf, const char *rv)
{
	char *copy;

	if (rv == NULL || rv[0] == '\0')
		return;
	copy = strdup(rv);
	if (copy == NULL)
		return; /* keep the older version: rewatching from it is merely slower */
	pthread_mutex_lock(&inf->mu);
	free(inf->rv);
	inf->rv = copy;
	pthread_mutex_unlock(&inf->mu);
}

/* The apiserver leaves kind and apiVersion off the items of a built-in List (watch events carry
 * them). Fill them in from the List ("PodList" -> "Pod") so every cached object looks the same
 * whichever way it arrived: Events and owner references built from it need both. */
static void fill_type_meta(const cJSON *list, cJSON *items)
{
	const char *list_kind = kube_json_get_str(list, "kind", NULL);
	const char *api_version = kube_json_get_str(list, "apiVersion", NULL);
	size_t n = list_kind ? strlen(list_kind) : 0;
	char kind[256];
	cJSON *item;

	if (n <= 4 || n - 4 >= sizeof(kind) || strcmp(list_kind + n - 4, "List") != 0)
		return;
	memcpy(kind, list_kind, n - 4);
	kind[n - 4] = '\0';
	cJSON_ArrayForEach(item, items) {
		if (!cJSON_IsObject(item))
			continue;
		if (!cJSON_GetObjectItemCaseSensitive(item, "kind"))
			cJSON_AddStringToObject(item, "kind", kind);
		if (api_version && !cJSON_GetObjectItemCaseSensitive(item, "apiVersion"))
			cJSON_AddStringToObject(item, "apiVersion", api_version);
	}
}

/* A 404 on a collection means the server does not serve the type at all: for a custom
 * resource, its CustomResourceDefinition is not installed. Say that, not a bare "not found". */
static void log_list_failure(struct kube_informer *inf, int rc, const struct kube_status *st)
{
	char what[400];

	if (rc != KUBE_ENOTFOUND) {
		kube_log(KUBE_LOG_WARN, "informer", "list failed", "informer", inf->name, "error",
			 kube_strerror(rc), "message", st->message, NULL);
		return;
	}
	snprintf(what, sizeof(what), "%s%s%s %s", inf->group, inf->group[0] ? "/" : "",
		 inf->version, inf->resource);
	kube_log(KUBE_LOG_WARN, "informer",
		 inf->group[0] != '\0'
			 ? "list failed: the API server does not serve this resource; is its "
			   "CustomResourceDefinition installed? (kubectl get crd)"
			 : "list failed: the API server does not serve this resource",
		 "informer", inf->name, "resource", what, "message", st->message, NULL);
}

static int do_list(struct kube_informer *inf)
{
	struct kube_list_opts lo = {
		.label_selector = inf->label_selector,
		.field_selector = inf->field_selector,
		.limit = inf->page_size,
	};
	struct kube_status st = {0};
	cJSON *list = NULL, *items;
	uint64_t nlists;
	int rc;

	rc = kube_list(inf->client, &inf->gvr, inf->ns, &lo, &list, &st);
	pthread_mutex_lock(&inf->mu);
	nlists = ++inf->stats.lists;
	pthread_mutex_unlock(&inf->mu);
	count(inf, inf->m_lists);
	if (nlists > 1)
		count(inf, inf->m_relists);
	if (rc != 0) {
		log_list_failure(inf, rc, &st);
		goto out;
	}
	items = cJSON_DetachItemFromObjectCaseSensitive(list, "items");
	if (items == NULL)
		items = cJSON_CreateArray();
	if (items == NULL || !cJSON_IsArray(items)) {
		cJSON_Delete(items);
		rc = items == NULL ? KUBE_ENOMEM : KUBE_EPARSE;
		goto out;
	}
	fill_type_meta(list, items);
	transform_items(inf, items);
	set_rv(inf, kube_json_get_str(list, "metadata", "resourceVersion", NULL));
	kube_log(KUBE_LOG_DEBUG, "informer", "listed", "informer", inf->name, "rv",
		 kube_json_get_str(list, "metadata", "resourceVersion", NULL), NULL);
	rc = push_delta(inf, DELTA_REPLACE, items);
out:
	cJSON_Delete(list);
	kube_status_release(&st);
	return rc;
}

struct watch_ctx {
	struct kube_informer *inf;
	uint64_t events;
};

static int on_watch_event(enum kube_watch_type type, const cJSON *object, void *ud)
{
	struct watch_ctx *w = ud;
	cJSON *copy;

	if (type == KUBE_WATCH_ERROR)
		return 0; /* kube_watch turns the Status into its return code */
	set_rv(w->inf, kube_json_resource_version(object));
	if (type == KUBE_WATCH_BOOKMARK)
		return 0;
	w->events++;
	copy = transform_obj(w->inf, cJSON_Duplicate(object, true));
	if (copy == NULL)
		return KUBE_ENOMEM;
	return push_delta(w->inf, type == KUBE_WATCH_DELETED ? DELTA_DELETE : DELTA_UPSERT, copy);
}

/* A stream that delivered nothing, not even a bookmark, for watch_idle_ms: the connection
 * may look alive (no FIN, no RST) while nothing flows. Rewatched from the last version. */
static void count_stall(struct kube_informer *inf)
{
	pthread_mutex_lock(&inf->mu);
	inf->stats.stalls++;
	pthread_mutex_unlock(&inf->mu);
	count(inf, inf->m_stalls);
}

static int do_watch(struct kube_informer *inf, uint64_t *events, bool *stalled)
{
	struct watch_ctx w = {.inf = inf};
	struct kube_list_opts lo = {
		.label_selector = inf->label_selector,
		.field_selector = inf->field_selector,
		.timeout_seconds = inf->watch_timeout_s,
		.allow_bookmarks = true,
		.idle_timeout_ms = (long)inf->watch_idle_ms,
	};
	struct kube_status st = {0};
	uint64_t nwatches;
	char *rv;
	int rc;

	pthread_mutex_lock(&inf->mu);
	rv = inf->rv != NULL ? strdup(inf->rv) : NULL;
	nwatches = ++inf->stats.watches;
	pthread_mutex_unlock(&inf->mu);
	lo.resource_version = rv;
	count(inf, inf->m_watches);
	if (nwatches > 1)
		count(inf, inf->m_restarts);
	kube_log(KUBE_LOG_DEBUG, "informer", "watching", "informer", inf->name, "rv", rv, NULL);
	rc = kube_watch(inf->client, &inf->gvr, inf->ns, &lo, on_watch_event, &w, &inf->cancel,
			&st);
	/* kube_watch says "stalled" for the idle timeout, unlike a transfer timeout. */
	*stalled = rc == KUBE_ETIMEDOUT && st.message != NULL && strstr(st.message, "stalled");
	if (*stalled)
		count_stall(inf);
	if (rc != 0 && rc != KUBE_ECANCELED)
		kube_log(rc == KUBE_EGONE ? KUBE_LOG_INFO : KUBE_LOG_WARN, "informer",
			 "watch ended with an error", "informer", inf->name, "rv", rv, "error",
			 kube_strerror(rc), "message", st.message, NULL);
	*events = w.events;
	kube_status_release(&st);
	free(rv);
	return rc;
}

/* Transport-level trouble: the version we hold is still good, so rewatch without a list. */
static bool retry_watch_without_list(int rc)
{
	return rc == KUBE_EIO || rc == KUBE_ETIMEDOUT || rc == KUBE_ESERVER ||
	       rc == KUBE_ESERVERTIMEOUT || rc == KUBE_ETOOMANY || rc == 0;
}

/* Sleeps base * 2^(failures-1), capped, or until stop. */
static void backoff_wait(struct kube_informer *inf, int failures)
{
	int64_t d = inf->backoff_base_ns;
	int64_t deadline;

	for (int i = 1; i < failures && d < inf->backoff_max_ns; i++)
		d *= 2;
	if (d > inf->backoff_max_ns)
		d = inf->backoff_max_ns;
	pthread_mutex_lock(&inf->mu);
	inf->stats.errors++;
	deadline = kube_clock_now(inf->clock) + d;
	while (!inf->stopping)
		if (kube_cond_wait_until(inf->cond, deadline) == KUBE_ETIMEDOUT)
			break;
	pthread_mutex_unlock(&inf->mu);
	count(inf, inf->m_errors);
}

static void *reflector_main(void *arg)
{
	struct kube_informer *inf = arg;
	bool need_list = true;
	int failures = 0;

	while (!stopping(inf)) {
		uint64_t events = 0;
		int64_t start;
		bool stalled = false;
		int rc;

		if (need_list) {
			rc = do_list(inf);
			if (rc != 0) {
				backoff_wait(inf, ++failures);
				continue;
			}
			need_list = false;
			failures = 0;
		}
		start = kube_clock_now(inf->clock);
		rc = do_watch(inf, &events, &stalled);
		if (rc == KUBE_ECANCELED || stopping(inf))
			break;
		if (rc == 0 && (events > 0 || kube_clock_now(inf->clock) - start >= SHORT_WATCH_NS)) {
			failures = 0; /* a normal end of stream: rewatch from the last version */
			continue;
		}
		if (rc == KUBE_EGONE) {
			/* Our version was compacted away: only a fresh list can resynchronise. A 410
			 * right after a list (no events) backs off so two can't spin. */
			need_list = true;
			if (events > 0)
				continue;
		} else if (!retry_watch_without_list(rc)) {
			need_list = true;
		}
		/* A stalled watch was fine for a whole idle timeout: rewatch after the first backoff
		 * step, not a grown one, so the time to notice a cut stays idle timeout + 0.8 s. */
		if (stalled)
			failures = 0;
		backoff_wait(inf, ++failures);
	}
	return NULL;
}

/* ---- public API ---- */

int kube_informer_new(struct kube_client *client, const struct kube_informer_opts *opts,
		      struct kube_informer **out)
{
	struct kube_informer *inf = NULL;
	int rc = KUBE_ENOMEM;

	if (out != NULL)
		*out = NULL;
	if (client == NULL || opts == NULL || out == NULL || opts->gvr == NULL ||
	    opts->gvr->version == NULL || opts->gvr->resource == NULL)
		return KUBE_EINVAL;
	inf = calloc(1, sizeof(*inf));
	if (inf == NULL)
		return KUBE_ENOMEM;
	pthread_rwlock_init(&inf->cache_lock, NULL);
	pthread_mutex_init(&inf->mu, NULL);
	atomic_init(&inf->cancel, false);
	inf->client = client;
	inf->clock = opts->clock != NULL ? opts->clock : kube_clock_real();
	inf->transform = opts->transform;
	inf->transform_ud = opts->transform_ud;
	inf->compact = opts->compact;
	inf->group = strdup(opts->gvr->group != NULL ? opts->gvr->group : "");
	inf->version = strdup(opts->gvr->version);
	inf->resource = strdup(opts->gvr->resource);
	inf->gvr.group = inf->group;
	inf->gvr.version = inf->version;
	inf->gvr.resource = inf->resource;
	inf->gvr.namespaced = opts->gvr->namespaced;
	inf->ns = dup_or_null(opts->namespace);
	inf->label_selector = dup_or_null(opts->label_selector);
	inf->field_selector = dup_or_null(opts->field_selector);
	if (opts->name != NULL && opts->name[0] != '\0') {
		inf->name = strdup(opts->name);
	} else if (inf->ns != NULL && inf->resource != NULL) {
		size_t n = strlen(inf->resource) + strlen(inf->ns) + 2;
		inf->name = malloc(n);
		if (inf->name != NULL)
			snprintf(inf->name, n, "%s/%s", inf->resource, inf->ns);
	} else {
		inf->name = dup_or_null(inf->resource);
	}
	inf->resync_ns = opts->resync_ms > 0 ? KUBE_MS(opts->resync_ms) : 0;
	inf->page_size = opts->page_size == 0 ? 500 : opts->page_size < 0 ? 0 : opts->page_size;
	inf->watch_timeout_s = opts->watch_timeout_s > 0 ? opts->watch_timeout_s : 300;
	inf->watch_idle_ms = opts->watch_idle_timeout_ms > 0 ? opts->watch_idle_timeout_ms
			     : opts->watch_idle_timeout_ms < 0 ? 0
							       : atomic_load(&default_watch_idle_ms);
	inf->backoff_base_ns = KUBE_MS(opts->backoff_base_ms > 0 ? opts->backoff_base_ms : 800);
	inf->backoff_max_ns = KUBE_MS(opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 30000);
	inf->cond = kube_cond_new(inf->clock, &inf->mu);
	if (inf->group == NULL || inf->version == NULL || inf->resource == NULL ||
	    inf->name == NULL || inf->cond == NULL ||
	    (opts->namespace != NULL && opts->namespace[0] != '\0' && inf->ns == NULL) ||
	    (opts->label_selector != NULL && opts->label_selector[0] != '\0' &&
	     inf->label_selector == NULL) ||
	    (opts->field_selector != NULL && opts->field_selector[0] != '\0' &&
	     inf->field_selector == NULL))
		goto out;
	register_metrics(inf);
	*out = inf;
	inf = NULL;
	rc = 0;
out:
	kube_informer_free(inf);
	return rc;
}

int kube_informer_add_handlers(struct kube_informer *inf,
			       const struct kube_informer_handlers *h)
{
	struct kube_informer_handlers *n;
	int rc = 0;

	if (inf == NULL || h == NULL)
		return KUBE_EINVAL;
	pthread_mutex_lock(&inf->mu);
	if (inf->started) {
		rc = KUBE_EINVAL;
		goto out;
	}
	n = realloc(inf->handlers, (inf->nhandlers + 1) * sizeof(*n));
	if (n == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	n[inf->nhandlers++] = *h;
	inf->handlers = n;
out:
	pthread_mutex_unlock(&inf->mu);
	return rc;
}

int kube_informer_start(struct kube_informer *inf)
{
	bool join_processor = false;
	int rc = 0;

	if (inf == NULL)
		return KUBE_EINVAL;
	pthread_mutex_lock(&inf->mu);
	if (inf->started) {
		rc = KUBE_EINVAL;
		goto out;
	}
	inf->started = true;
	if (pthread_create(&inf->processor, NULL, processor_main, inf) != 0) {
		inf->stopping = true;
		rc = KUBE_EIO;
		goto out;
	}
	if (pthread_create(&inf->reflector, NULL, reflector_main, inf) != 0) {
		inf->stopping = true;
		kube_cond_broadcast(inf->cond);
		join_processor = true;
		rc = KUBE_EIO;
		goto out;
	}
	kube_log(KUBE_LOG_INFO, "informer", "started", "informer", inf->name, NULL);
out:
	pthread_mutex_unlock(&inf->mu);
	if (join_processor)
		pthread_join(inf->processor, NULL);
	return rc;
}

void kube_informer_stop(struct kube_informer *inf)
{
	bool join;

	if (inf == NULL)
		return;
	pthread_mutex_lock(&inf->mu);
	join = inf->started && !inf->stopping;
	inf->stopping = true;
	atomic_store(&inf->cancel, true);
	kube_cond_broadcast(inf->cond);
	pthread_mutex_unlock(&inf->mu);
	if (!join)
		return;
	pthread_join(inf->reflector, NULL);
	pthread_join(inf->processor, NULL);
	kube_log(KUBE_LOG_INFO, "informer", "stopped", "informer", inf->name, NULL);
}

void kube_informer_free(struct kube_informer *inf)
{
	struct entry *e, *etmp;
	struct owner *o, *otmp;
	struct child *c, *ctmp;

	if (inf == NULL)
		return;
	kube_informer_stop(inf);
	while (inf->dq_head != NULL) {
		struct delta *d = inf->dq_head;
		inf->dq_head = d->next;
		delta_free(d);
	}
	HASH_ITER(hh, inf->owners, o, otmp) {
		HASH_ITER(hh, o->children, c, ctmp) {
			HASH_DEL(o->children, c);
			free(c);
		}
		HASH_DEL(inf->owners, o);
		free(o->uid);
		free(o);
	}
	HASH_ITER(hh, inf->cache, e, etmp) {
		HASH_DEL(inf->cache, e);
		entry_free(e);
	}
	if (inf->m_objects != NULL && inf->name != NULL) {
		const char *lv[] = {inf->name};
		kube_metric_remove(inf->m_objects, lv);
	}
	kube_cond_free(inf->cond);
	pthread_rwlock_destroy(&inf->cache_lock);
	pthread_mutex_destroy(&inf->mu);
	free(inf->handlers);
	free(inf->group);
	free(inf->version);
	free(inf->resource);
	free(inf->ns);
	free(inf->label_selector);
	free(inf->field_selector);
	free(inf->name);
	free(inf->rv);
	free(inf);
}

bool kube_informer_has_synced(struct kube_informer *inf)
{
	bool v;

	if (inf == NULL)
		return false;
	pthread_mutex_lock(&inf->mu);
	v = inf->synced;
	pthread_mutex_unlock(&inf->mu);
	return v;
}

int kube_informer_wait_for_sync(struct kube_informer *inf, int64_t timeout_ms)
{
	int64_t deadline;
	int rc = 0;

	if (inf == NULL)
		return KUBE_EINVAL;
	pthread_mutex_lock(&inf->mu);
	deadline = timeout_ms < 0 ? KUBE_CLOCK_FOREVER
				  : kube_clock_now(inf->clock) + KUBE_MS(timeout_ms);
	while (!inf->synced) {
		if (inf->stopping) {
			rc = KUBE_ESHUTDOWN;
			break;
		}
		if (kube_cond_wait_until(inf->cond, deadline) == KUBE_ETIMEDOUT && !inf->synced) {
			rc = KUBE_ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&inf->mu);
	return rc;
}

int kube_informer_get(struct kube_informer *inf, const char *key, cJSON **out)
{
	struct entry *e;
	int rc = 0;

	if (out != NULL)
		*out = NULL;
	if (inf == NULL || key == NULL || out == NULL)
		return KUBE_EINVAL;
	pthread_rwlock_rdlock(&inf->cache_lock);
	HASH_FIND_STR(inf->cache, key, e);
	if (e == NULL) {
		rc = KUBE_ENOTFOUND;
		goto out;
	}
	*out = entry_copy(e);
	if (*out == NULL)
		rc = KUBE_ENOMEM;
out:
	pthread_rwlock_unlock(&inf->cache_lock);
	return rc;
}

int kube_informer_foreach(struct kube_informer *inf, int (*fn)(const cJSON *obj, void *ud),
			  void *ud)
{
	struct entry *e, *etmp;
	int rc = 0;

	if (inf == NULL || fn == NULL)
		return KUBE_EINVAL;
	pthread_rwlock_rdlock(&inf->cache_lock);
	HASH_ITER(hh, inf->cache, e, etmp) {
		cJSON *obj = entry_load(e);

		rc = obj != NULL ? fn(obj, ud) : KUBE_ENOMEM;
		entry_unload(e, obj);
		if (rc != 0)
			break;
	}
	pthread_rwlock_unlock(&inf->cache_lock);
	return rc;
}

int kube_informer_foreach_owned(struct kube_informer *inf, const char *owner_uid,
				int (*fn)(const cJSON *obj, void *ud), void *ud)
{
	struct owner *o;
	struct child *c, *ctmp;
	int rc = 0;

	if (inf == NULL || owner_uid == NULL || fn == NULL)
		return KUBE_EINVAL;
	pthread_rwlock_rdlock(&inf->cache_lock);
	HASH_FIND_STR(inf->owners, owner_uid, o);
	if (o != NULL) {
		HASH_ITER(hh, o->children, c, ctmp) {
			cJSON *obj = entry_load(c->e);

			rc = obj != NULL ? fn(obj, ud) : KUBE_ENOMEM;
			entry_unload(c->e, obj);
			if (rc != 0)
				break;
		}
	}
	pthread_rwlock_unlock(&inf->cache_lock);
	return rc;
}

int kube_informer_list_owned(struct kube_informer *inf, const char *owner_uid, cJSON **out)
{
	struct owner *o;
	struct child *c, *ctmp;
	cJSON *arr, *copy;
	int rc = 0;

	if (out != NULL)
		*out = NULL;
	if (inf == NULL || owner_uid == NULL || out == NULL)
		return KUBE_EINVAL;
	arr = cJSON_CreateArray();
	if (arr == NULL)
		return KUBE_ENOMEM;
	pthread_rwlock_rdlock(&inf->cache_lock);
	HASH_FIND_STR(inf->owners, owner_uid, o);
	if (o != NULL) {
		/* entry_copy, not foreach_owned: a compact entry is parsed once, not twice. */
		HASH_ITER(hh, o->children, c, ctmp) {
			copy = entry_copy(c->e);
			if (copy == NULL) {
				rc = KUBE_ENOMEM;
				break;
			}
			cJSON_AddItemToArray(arr, copy);
		}
	}
	pthread_rwlock_unlock(&inf->cache_lock);
	if (rc != 0) {
		cJSON_Delete(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

size_t kube_informer_len(struct kube_informer *inf)
{
	size_t n;

	if (inf == NULL)
		return 0;
	pthread_rwlock_rdlock(&inf->cache_lock);
	n = HASH_COUNT(inf->cache);
	pthread_rwlock_unlock(&inf->cache_lock);
	return n;
}

char *kube_informer_resource_version(struct kube_informer *inf)
{
	char *rv;

	if (inf == NULL)
		return NULL;
	pthread_mutex_lock(&inf->mu);
	rv = inf->rv != NULL ? strdup(inf->rv) : NULL;
	pthread_mutex_unlock(&inf->mu);
	return rv;
}

void kube_informer_stats(struct kube_informer *inf, struct kube_informer_stats *out)
{
	if (inf == NULL || out == NULL)
		return;
	pthread_mutex_lock(&inf->mu);
	*out = inf->stats;
	pthread_mutex_unlock(&inf->mu);
}

void kube_informer_set_default_watch_idle_timeout(int64_t ms)
{
	atomic_store(&default_watch_idle_ms, ms > 0 ? ms : 0);
}
