/* kubesim's object store: immutable refcounted snapshots in per-resource hash tables, one global
 * resourceVersion, a ring of recent events for watches, per-watch queues and ordered subscriber
 * notification. Writes are built outside the lock and committed under it (GuaranteedUpdate). */
#include "sim_store.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <uthash.h>

#include "kube_error.h"
#include "kube_json.h"
#include "kube_selector.h"
#include "kube_time.h"
#include "sim_patch.h"
#include "sim_registry.h"
#include "sim_schema.h"
#include "sim_validate.h"

#define MAX_SUBS 16
#define DEFAULT_HISTORY 10000
#define DEFAULT_QUEUE 10000
#define UPDATE_RETRIES 64

/* ---- snapshots and events */

/* A refcounted JSON text: what the history keeps (a few hundred bytes) instead of a parsed tree
 * (several times larger), so a long history of big objects stays cheap. */
struct sim_text {
	atomic_int refs;
	size_t len;
	char s[];
};

/* An object version: its JSON text (always, once committed) and a parsed tree. Objects held by
 * the store are "cold" (text only: a tree is 5-10x the size of its text); trees exist for the
 * versions being written, fanned out or read, and go when those are done. A tree, once set, is
 * immutable. obj_tree() parses and caches (only for versions no longer in the store);
 * obj_peek() parses privately (for versions that may still be in the store). */
struct sim_obj {
	atomic_int refs;
	_Atomic(cJSON *) json;
	_Atomic(struct sim_text *) text; /* compact JSON, computed once (at commit at the latest) */
};

struct sim_event {
	atomic_int refs;
	enum sim_event_type type;
	uint64_t rv;
	const struct sim_rtype *t; /* immutable and never freed while the store lives */
	struct sim_obj *obj, *old;
};

static struct sim_text *text_new(const char *str)
{
	size_t len = strlen(str);
	struct sim_text *t = malloc(sizeof(*t) + len + 1);
	if (!t)
		return NULL;
	atomic_init(&t->refs, 1);
	t->len = len;
	memcpy(t->s, str, len + 1);
	return t;
}

static struct sim_text *text_ref(struct sim_text *t)
{
	if (t)
		atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

static void text_unref(struct sim_text *t)
{
	if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		free(t);
}

static struct sim_obj *obj_new(cJSON *json)
{
	struct sim_obj *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	atomic_init(&o->refs, 1);
	atomic_init(&o->json, json);
	atomic_init(&o->text, NULL);
	return o;
}

static struct sim_obj *obj_ref(struct sim_obj *o)
{
	if (o)
		atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
	return o;
}

static void obj_unref(struct sim_obj *o)
{
	if (!o || atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1)
		return;
	cJSON_Delete(atomic_load(&o->json));
	text_unref(atomic_load(&o->text));
	free(o);
}

static struct sim_text *obj_text_ref(struct sim_obj *o);

static struct sim_text *obj_stext(struct sim_obj *o)
{
	struct sim_text *t = atomic_load_explicit(&o->text, memory_order_acquire);
	if (t)
		return t;
	char *str = cJSON_PrintUnformatted(o->json);
	struct sim_text *mine = str ? text_new(str) : NULL;
	free(str);
	if (!mine)
		return NULL;
	struct sim_text *expected = NULL;
	if (atomic_compare_exchange_strong(&o->text, &expected, mine))
		return mine;
	text_unref(mine); /* another thread won the race; use its text */
	return expected;
}

static const char *obj_text(struct sim_obj *o)
{
	struct sim_text *t = obj_stext(o);
	return t ? t->s : NULL;
}

static struct sim_text *obj_text_ref(struct sim_obj *o)
{
	return text_ref(obj_stext(o));
}

/* The tree, parsed from the text and cached on first use. Only for versions that are no longer
 * (or never were) held by the store, or the cache would undo the cold storage. NULL on ENOMEM. */
static cJSON *obj_tree(struct sim_obj *o)
{
	cJSON *j = atomic_load_explicit(&o->json, memory_order_acquire);
	if (j)
		return j;
	struct sim_text *t = atomic_load(&o->text);
	cJSON *mine = t ? cJSON_ParseWithLength(t->s, t->len) : NULL;
	if (!mine)
		return NULL;
	cJSON *expected = NULL;
	if (atomic_compare_exchange_strong(&o->json, &expected, mine))
		return mine;
	cJSON_Delete(mine);
	return expected;
}

/* The tree without caching it: the cached one if any, else a private parse left in *tmp (the
 * caller frees *tmp with cJSON_Delete). NULL on ENOMEM. */
static const cJSON *obj_peek(struct sim_obj *o, cJSON **tmp)
{
	*tmp = NULL;
	cJSON *j = atomic_load_explicit(&o->json, memory_order_acquire);
	if (j)
		return j;
	struct sim_text *t = atomic_load(&o->text);
	*tmp = t ? cJSON_ParseWithLength(t->s, t->len) : NULL;
	return *tmp;
}

/* A private, modifiable copy of the tree. NULL on ENOMEM. */
static cJSON *obj_copy_tree(struct sim_obj *o)
{
	cJSON *tmp = NULL;
	const cJSON *j = obj_peek(o, &tmp);
	if (tmp)
		return tmp;
	return j ? cJSON_Duplicate(j, 1) : NULL;
}

/* A cold object (no tree) around a text reference, which it takes over. NULL on ENOMEM (the
 * reference is then dropped). */
static struct sim_obj *obj_of_text(struct sim_text *t)
{
	struct sim_obj *c = t ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		text_unref(t);
		return NULL;
	}
	atomic_init(&c->refs, 1);
	atomic_init(&c->json, NULL);
	atomic_init(&c->text, t);
	return c;
}

/* The cold version of a committed object: shares its text, no tree. NULL on ENOMEM. */
static struct sim_obj *obj_cold(struct sim_obj *o)
{
	return obj_of_text(obj_text_ref(o));
}

/* A snapshot rebuilt from a history text (a parsed tree sharing the text). NULL on ENOMEM. */
static struct sim_obj *obj_from_text(struct sim_text *t)
{
	cJSON *json = cJSON_ParseWithLength(t->s, t->len);
	struct sim_obj *o = json ? obj_new(json) : NULL;
	if (!o) {
		cJSON_Delete(json);
		return NULL;
	}
	atomic_store(&o->text, text_ref(t));
	return o;
}

static void event_unref(struct sim_event *e)
{
	if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
		return;
	obj_unref(e->obj);
	obj_unref(e->old);
	free(e);
}

static struct sim_event *event_ref(struct sim_event *e)
{
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
	return e;
}

/* ---- store structures */

struct entry {
	char *key; /* "ns/name" or "name" */
	struct sim_obj *obj;
	UT_hash_handle hh;
};

struct coll {
	char *key; /* "group/resource" */
	struct entry *objs;
	UT_hash_handle hh;
};

struct nsinfo {
	char *name;
	size_t count; /* namespaced objects in it */
	int terminating;
	UT_hash_handle hh;
};

struct sim_watch {
	struct sim_store *s;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sim_event **q;
	size_t cap, head, len;
	int closed, registered;
	int expired; /* 1: must report 410, 2: reported */
	uint64_t expired_rv, floor_rv;
	const struct sim_rtype *t;
	char *ns;
	struct kube_selector *lsel, *fsel;
	struct sim_watch *prev, *next;
	/* history replay (a watch from an old resourceVersion), before the live queue */
	struct hist_ent *replay;
	size_t nreplay, replay_pos;
	/* initial events (synthetic ADDED), then an optional initial-events-end bookmark */
	struct sim_obj **init;
	size_t ninit, init_pos;
	int init_bookmark;
	uint64_t start_rv;
	/* what the last sim_watch_next handed out */
	struct sim_event *cur_ev;
	struct sim_obj *cur_obj;
	cJSON *cur_json_obj;
	char *cur_text;
};

/* What the history ring keeps per event: texts, not trees. */
struct hist_ent {
	enum sim_event_type type;
	uint64_t rv;
	const struct sim_rtype *t;
	char *ns; /* NULL for cluster-scoped objects */
	struct sim_text *obj, *old;
};

struct sim_store {
	pthread_mutex_t mu;
	pthread_mutex_t notify_mu;
	struct sim_registry *reg;
	uint64_t rv;
	struct coll *colls;
	struct nsinfo *nss;
	struct hist_ent *hist;
	size_t hist_cap, hist_head, hist_len;
	uint64_t hist_floor; /* every event with rv > hist_floor is in the ring */
	struct sim_watch *watches;
	sim_store_change_fn subs[MAX_SUBS];
	void *subs_ud[MAX_SUBS];
	int nsubs;
	int pod_grace;
	atomic_uint ip_next;
	atomic_int ip_loopback; /* sim_store_set_loopback_cluster_ips */
	char *root_ca;          /* sim_store_set_sa_admission: NULL = off; set once, never freed early */
};

struct sim_snap {
	struct sim_obj **objs;
	cJSON **trees; /* private parses for sim_snap_obj, filled lazily */
	char **keys;   /* sort keys ("ns/name"), only for lists */
	size_t n, cap;
	char rv[24];
	char *cont;     /* list paging: metadata.continue (NULL: no more pages) */
	long remaining; /* list paging: metadata.remainingItemCount (-1: absent) */
};

/* Events produced by one locked section; fanned out to watchers under the lock, handed to the
 * subscribers after it. */
struct txn {
	struct sim_event *evs[8];
	struct sim_event **more;
	size_t n, cap;
	int trim; /* give freed heap back to the OS after this commit */
};

/* Every TRIM_EVERY commits the writer that crosses the mark calls malloc_trim (outside the
 * lock): versions are short-lived trees spread over many threads' arenas, and without it glibc
 * keeps the freed memory (measured: 10,000 kubelet-started pods, 216 MB RSS without, 119 MB
 * with). */
#define TRIM_EVERY 4096

/* ---- small helpers */

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

void sim_now_rfc3339(char *buf, size_t len)
{
	if (kube_time_format((int64_t)time(NULL), buf, len) == NULL && len > 0)
		buf[0] = '\0';
}

static void uuid_v4(char out[37])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1) {
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)rand();
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

static void random_suffix(char out[6])
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	unsigned char b[5];
	if (RAND_bytes(b, sizeof(b)) != 1)
		for (int i = 0; i < 5; i++)
			b[i] = (unsigned char)rand();
	for (int i = 0; i < 5; i++)
		out[i] = alphabet[b[i] % (sizeof(alphabet) - 1)];
	out[5] = '\0';
}

static void set_str(cJSON *obj, const char *key, const char *val)
{
	cJSON *v = cJSON_CreateString(val);
	if (!v)
		return;
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
	else
		cJSON_AddItemToObject(obj, key, v);
}

static void set_item(cJSON *obj, const char *key, cJSON *v)
{
	if (!v)
		return;
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
	else
		cJSON_AddItemToObject(obj, key, v);
}

static void set_num(cJSON *obj, const char *key, double n)
{
	set_item(obj, key, cJSON_CreateNumber(n));
}

static void set_rv(cJSON *obj, uint64_t rv)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)rv);
	set_str(kube_json_ensure_obj(obj, "metadata"), "resourceVersion", buf);
}

static uint64_t obj_rv(const cJSON *obj)
{
	const char *rv = kube_json_resource_version(obj);
	return rv ? strtoull(rv, NULL, 10) : 0;
}

/* "pods", "deployments.apps": how the apiserver names a resource in messages. */
static void qualified(const struct sim_rtype *t, char *buf, size_t len)
{
	if (*t->group)
		snprintf(buf, len, "%s.%s", t->resource, t->group);
	else
		snprintf(buf, len, "%s", t->resource);
}

cJSON *sim_status_new(int code, const char *reason, const char *message, cJSON *details)
{
	cJSON *st = cJSON_CreateObject();
	if (!st) {
		cJSON_Delete(details);
		return NULL;
	}
	cJSON_AddStringToObject(st, "kind", "Status");
	cJSON_AddStringToObject(st, "apiVersion", "v1");
	cJSON_AddItemToObject(st, "metadata", cJSON_CreateObject());
	cJSON_AddStringToObject(st, "status", code < 400 ? "Success" : "Failure");
	cJSON_AddStringToObject(st, "message", message ? message : "");
	cJSON_AddStringToObject(st, "reason", reason ? reason : "");
	if (details)
		cJSON_AddItemToObject(st, "details", details);
	cJSON_AddNumberToObject(st, "code", code);
	return st;
}

static cJSON *details_new(const struct sim_rtype *t, const char *name, const char *kind)
{
	cJSON *d = cJSON_CreateObject();
	if (!d)
		return NULL;
	if (name)
		cJSON_AddStringToObject(d, "name", name);
	if (t && *t->group)
		cJSON_AddStringToObject(d, "group", t->group);
	cJSON_AddStringToObject(d, "kind", kind ? kind : (t ? t->resource : ""));
	return d;
}

static int fail(cJSON **status, int code, const char *reason, const char *msg, cJSON *details)
{
	if (status)
		*status = sim_status_new(code, reason, msg, details);
	else
		cJSON_Delete(details);
	return code;
}

static int fail_notfound(cJSON **status, const struct sim_rtype *t, const char *name)
{
	char q[300], msg[700];
	qualified(t, q, sizeof(q));
	snprintf(msg, sizeof(msg), "%s \"%s\" not found", q, str_or_empty(name));
	return fail(status, 404, "NotFound", msg, details_new(t, name, NULL));
}

static int fail_ns_notfound(cJSON **status, const char *ns)
{
	char msg[400];
	snprintf(msg, sizeof(msg), "namespaces \"%s\" not found", ns);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "name", ns);
	cJSON_AddStringToObject(d, "kind", "namespaces");
	return fail(status, 404, "NotFound", msg, d);
}

static int fail_conflict(cJSON **status, const struct sim_rtype *t, const char *name)
{
	char q[300], msg[900];
	qualified(t, q, sizeof(q));
	snprintf(msg, sizeof(msg),
		 "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please "
		 "apply your changes to the latest version and try again",
		 q, str_or_empty(name));
	return fail(status, 409, "Conflict", msg, details_new(t, name, NULL));
}

static int fail_bad(cJSON **status, const char *msg)
{
	return fail(status, 400, "BadRequest", msg, NULL);
}

/* 422 Invalid with the given causes (taken over). */
static int fail_invalid(cJSON **status, const struct sim_rtype *t, const char *name,
			cJSON *causes)
{
	char qk[300];
	if (*t->group)
		snprintf(qk, sizeof(qk), "%s.%s", t->kind, t->group);
	else
		snprintf(qk, sizeof(qk), "%s", t->kind);
	char *msg = sim_schema_causes_message(causes, qk, str_or_empty(name));
	cJSON *d = details_new(t, name, t->kind);
	if (d)
		cJSON_AddItemToObject(d, "causes", causes);
	else
		cJSON_Delete(causes);
	int rc = fail(status, 422, "Invalid", msg ? msg : "invalid", d);
	free(msg);
	return rc;
}

static int fail_invalid1(cJSON **status, const struct sim_rtype *t, const char *name,
			 const char *reason, const char *field, const char *msg)
{
	cJSON *causes = cJSON_CreateArray();
	cJSON *c = cJSON_CreateObject();
	/* A cause's message is the error body alone, as the apiserver's: the Status message puts
	 * "field: " in front of it (sim_schema_causes_message). */
	cJSON_AddStringToObject(c, "reason", reason);
	cJSON_AddStringToObject(c, "message", msg);
	cJSON_AddStringToObject(c, "field", field);
	cJSON_AddItemToArray(causes, c);
	return fail_invalid(status, t, name, causes);
}

static char *obj_key(const struct sim_rtype *t, const char *ns, const char *name)
{
	char *k = NULL;
	int rc = t->namespaced ? asprintf(&k, "%s/%s", str_or_empty(ns), name)
			       : asprintf(&k, "%s", name);
	return rc < 0 ? NULL : k;
}

static struct coll *coll_find_locked(struct sim_store *s, const struct sim_rtype *t, int create)
{
	char buf[512];
	struct coll *c = NULL;
	snprintf(buf, sizeof(buf), "%s/%s", t->group, t->resource);
	HASH_FIND_STR(s->colls, buf, c);
	if (c || !create)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->key = strdup(buf);
	if (!c->key) {
		free(c);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, s->colls, c->key, strlen(c->key), c);
	return c;
}

static struct entry *entry_find_locked(struct sim_store *s, const struct sim_rtype *t,
				       const char *ns, const char *name)
{
	struct coll *c = coll_find_locked(s, t, 0);
	if (!c || !name)
		return NULL;
	char *key = obj_key(t, ns, name);
	if (!key)
		return NULL;
	struct entry *e = NULL;
	HASH_FIND_STR(c->objs, key, e);
	free(key);
	return e;
}

static struct nsinfo *ns_find_locked(struct sim_store *s, const char *ns)
{
	struct nsinfo *n = NULL;
	if (ns)
		HASH_FIND_STR(s->nss, ns, n);
	return n;
}

static int is_core_ns(const struct sim_rtype *t)
{
	return !*t->group && strcmp(t->resource, "namespaces") == 0;
}

static int is_crd(const struct sim_rtype *t)
{
	return strcmp(t->group, "apiextensions.k8s.io") == 0 &&
	       strcmp(t->resource, "customresourcedefinitions") == 0;
}

static int is_kind(const struct sim_rtype *t, const char *group, const char *resource)
{
	return strcmp(t->group, group) == 0 && strcmp(t->resource, resource) == 0;
}

/* ---- transactions: history, watch fan-out, subscribers */

static void txn_add(struct txn *x, struct sim_event *e)
{
	if (x->n < 8) {
		x->evs[x->n++] = e;
		return;
	}
	size_t i = x->n - 8;
	if (i == x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 32;
		struct sim_event **m = realloc(x->more, ncap * sizeof(*m));
		if (!m) {
			event_unref(e); /* subscribers miss it; watchers already have it */
			return;
		}
		x->more = m;
		x->cap = ncap;
	}
	x->more[i] = e;
	x->n++;
}

static struct sim_event *txn_at(struct txn *x, size_t i)
{
	return i < 8 ? x->evs[i] : x->more[i - 8];
}

static void watch_push_locked(struct sim_watch *w, struct sim_event *e)
{
	pthread_mutex_lock(&w->mu);
	if (!w->closed) {
		if (w->len == w->cap) {
			/* A watcher that cannot keep up is closed; it relists, as with the apiserver. */
			w->closed = 1;
		} else {
			w->q[(w->head + w->len) % w->cap] = event_ref(e);
			w->len++;
		}
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

/* The same resource (a CRD update publishes a new sim_rtype for the same group/resource). */
static int same_rtype(const struct sim_rtype *a, const struct sim_rtype *b)
{
	return a == b || (strcmp(a->group, b->group) == 0 && strcmp(a->resource, b->resource) == 0);
}

static int watch_wants(const struct sim_watch *w, const struct sim_rtype *t, const char *ns)
{
	if (!same_rtype(w->t, t))
		return 0;
	if (w->ns && *w->ns && (!ns || strcmp(ns, w->ns) != 0))
		return 0;
	return 1;
}

static void hist_ent_release(struct hist_ent *h)
{
	free(h->ns);
	text_unref(h->obj);
	text_unref(h->old);
	memset(h, 0, sizeof(*h));
}

/* Records a committed change: history ring, watcher queues, and the transaction (for the
 * subscribers). Takes over the references to obj and old. */
static void emit_locked(struct sim_store *s, struct txn *x, enum sim_event_type type,
			const struct sim_rtype *t, struct sim_obj *obj, struct sim_obj *old)
{
	struct sim_event *e = calloc(1, sizeof(*e));
	if (!e) {
		obj_unref(obj);
		obj_unref(old);
		return;
	}
	atomic_init(&e->refs, 1);
	e->type = type;
	e->rv = s->rv;
	e->t = t;
	e->obj = obj;
	e->old = old;
	const char *ns = t->namespaced ? kube_json_namespace(obj_tree(obj)) : NULL;
	if (s->hist_cap) {
		if (s->hist_len == s->hist_cap) {
			struct hist_ent *gone = &s->hist[s->hist_head];
			s->hist_floor = gone->rv;
			hist_ent_release(gone);
			s->hist_head = (s->hist_head + 1) % s->hist_cap;
			s->hist_len--;
		}
		struct hist_ent *h = &s->hist[(s->hist_head + s->hist_len) % s->hist_cap];
		h->type = type;
		h->rv = s->rv;
		h->t = t;
		h->ns = ns ? strdup(ns) : NULL;
		h->obj = obj_text_ref(obj);
		h->old = old ? obj_text_ref(old) : NULL;
		s->hist_len++;
	}
	for (struct sim_watch *w = s->watches; w; w = w->next)
		if (watch_wants(w, t, ns))
			watch_push_locked(w, e);
	txn_add(x, e);
	if (s->rv % TRIM_EVERY == 0)
		x->trim = 1;
}

/* Releases the store lock and tells the subscribers, in commit order: the notify lock is taken
 * before the store lock is dropped, so a later commit cannot overtake this one. */
static void unlock_and_notify(struct sim_store *s, struct txn *x)
{
	if (s->nsubs == 0 || x->n == 0) {
		pthread_mutex_unlock(&s->mu);
	} else {
		pthread_mutex_lock(&s->notify_mu);
		pthread_mutex_unlock(&s->mu);
		for (size_t i = 0; i < x->n; i++) {
			struct sim_event *e = txn_at(x, i);
			for (int k = 0; k < s->nsubs; k++)
				s->subs[k](s->subs_ud[k], sim_event_type_name(e->type), e->t->group,
					   e->t->resource, obj_tree(e->obj),
					   e->old ? obj_tree(e->old) : NULL);
		}
		pthread_mutex_unlock(&s->notify_mu);
	}
	for (size_t i = 0; i < x->n; i++)
		event_unref(txn_at(x, i));
	free(x->more);
	if (x->trim)
		malloc_trim(0);
	memset(x, 0, sizeof(*x));
}

const char *sim_event_type_name(enum sim_event_type t)
{
	switch (t) {
	case SIM_EV_ADDED:
		return "ADDED";
	case SIM_EV_MODIFIED:
		return "MODIFIED";
	case SIM_EV_DELETED:
		return "DELETED";
	case SIM_EV_BOOKMARK:
		return "BOOKMARK";
	}
	return "ERROR";
}

/* ---- commits (store lock held) */

static void ns_count_locked(struct sim_store *s, const struct sim_rtype *t, const char *ns,
			    int delta)
{
	if (!t->namespaced)
		return;
	struct nsinfo *n = ns_find_locked(s, ns);
	if (n)
		n->count = (size_t)((long)n->count + delta);
}

/* The namespace part of an entry key ("ns/name") into buf; "" for cluster-scoped keys. */
static const char *key_ns(const char *key, char *buf, size_t len)
{
	const char *slash = strchr(key, '/');
	if (!slash)
		return "";
	snprintf(buf, len, "%.*s", (int)(slash - key), key);
	return buf;
}

/* Inserts a new object (its json already carries everything but the resourceVersion). */
static int commit_insert_locked(struct sim_store *s, struct txn *x, const struct sim_rtype *t,
				struct sim_obj *o)
{
	struct coll *c = coll_find_locked(s, t, 1);
	struct entry *e = calloc(1, sizeof(*e));
	if (!c || !e) {
		free(e);
		return KUBE_ENOMEM;
	}
	e->key = obj_key(t, kube_json_namespace(o->json), kube_json_name(o->json));
	if (!e->key) {
		free(e);
		return KUBE_ENOMEM;
	}
	s->rv++;
	set_rv(o->json, s->rv);
	e->obj = obj_cold(o);
	if (!e->obj) {
		s->rv--;
		free(e->key);
		free(e);
		return KUBE_ENOMEM;
	}
	HASH_ADD_KEYPTR(hh, c->objs, e->key, strlen(e->key), e);
	ns_count_locked(s, t, kube_json_namespace(o->json), +1);
	if (is_core_ns(t)) {
		struct nsinfo *n = calloc(1, sizeof(*n));
		if (n) {
			n->name = strdup(kube_json_name(o->json));
			if (n->name)
				HASH_ADD_KEYPTR(hh, s->nss, n->name, strlen(n->name), n);
			else
				free(n);
		}
	}
	emit_locked(s, x, SIM_EV_ADDED, t, obj_ref(o), NULL);
	return 0;
}

/* Replaces e's object with o (a MODIFIED event). */
static void commit_replace_locked(struct sim_store *s, struct txn *x, const struct sim_rtype *t,
				  struct entry *e, struct sim_obj *o)
{
	s->rv++;
	set_rv(o->json, s->rv);
	struct sim_obj *cold = obj_cold(o);
	if (!cold) {
		/* Out of memory: keep the store consistent by storing the hot version. */
		cold = obj_ref(o);
	}
	struct sim_obj *old = e->obj;
	e->obj = cold;
	emit_locked(s, x, SIM_EV_MODIFIED, t, obj_ref(o), old);
}

static void remove_locked(struct sim_store *s, struct txn *x, const struct sim_rtype *t,
			  struct entry *e, struct sim_obj *last, struct sim_obj **removed);

/* Removes every object of a CRD-defined type (the CRD is going away). */
static void purge_type_locked(struct sim_store *s, struct txn *x, const struct sim_rtype *t)
{
	struct coll *c = coll_find_locked(s, t, 0);
	if (!c)
		return;
	struct entry *e, *tmp;
	HASH_ITER(hh, c->objs, e, tmp)
	{
		remove_locked(s, x, t, e, NULL, NULL);
	}
}

/* Removes e from the store (a DELETED event carrying `last`, or a copy of the stored object,
 * with a new resourceVersion). Cascades for CRDs and terminating namespaces. *removed (may be
 * NULL) gets a reference to the final snapshot. */
static void remove_locked(struct sim_store *s, struct txn *x, const struct sim_rtype *t,
			  struct entry *e, struct sim_obj *last, struct sim_obj **removed)
{
	struct coll *c = coll_find_locked(s, t, 0);
	struct sim_obj *old = e->obj;
	struct sim_obj *fin = last ? obj_ref(last) : NULL;
	if (!fin) {
		cJSON *copy = obj_copy_tree(old);
		fin = copy ? obj_new(copy) : NULL;
		if (!fin)
			cJSON_Delete(copy);
	}
	char nsbuf[256];
	ns_count_locked(s, t, key_ns(e->key, nsbuf, sizeof(nsbuf)), -1);
	HASH_DEL(c->objs, e);
	free(e->key);
	free(e);
	s->rv++;
	if (fin)
		set_rv(fin->json, s->rv);
	if (removed)
		*removed = fin ? obj_ref(fin) : NULL;
	if (fin)
		emit_locked(s, x, SIM_EV_DELETED, t, fin, old);
	else
		obj_unref(old);

	if (is_crd(t) && fin) {
		const char *group = kube_json_get_str(fin->json, "spec", "group", NULL);
		const char *plural = kube_json_get_str(fin->json, "spec", "names", "plural", NULL);
		const struct sim_rtype *ct = (group && plural)
						     ? sim_registry_find(s->reg, group, plural)
						     : NULL;
		if (ct && !ct->builtin) {
			purge_type_locked(s, x, ct);
			sim_registry_remove_crd(s->reg, kube_json_name(fin->json));
		}
	}
	if (is_core_ns(t) && fin) {
		struct nsinfo *n = ns_find_locked(s, kube_json_name(fin->json));
		if (n) {
			HASH_DEL(s->nss, n);
			free(n->name);
			free(n);
		}
	}
	if (t->namespaced && fin) {
		struct nsinfo *n = ns_find_locked(s, kube_json_namespace(fin->json));
		if (n && n->terminating && n->count == 0) {
			const struct sim_rtype *nst = sim_registry_find(s->reg, "", "namespaces");
			struct entry *ne = entry_find_locked(s, nst, NULL, n->name);
			if (ne)
				remove_locked(s, x, nst, ne, NULL, NULL);
		}
	}
}

/* ---- object preparation (no lock: works on private copies) */

/* A graceful deletion still running (deletionGracePeriodSeconds > 0): an update that leaves no
 * finalizers does not remove the object, as upstream's ShouldDeleteDuringUpdate; the kubelet's
 * final DELETE with grace 0 does. */
static int grace_pending(const cJSON *cur)
{
	double g = 0;
	return kube_json_get_num(cur, &g, "metadata", "deletionGracePeriodSeconds", NULL) && g > 0;
}

static int finalizers_empty(const cJSON *obj)
{
	return cJSON_GetArraySize(kube_json_get(obj, "metadata", "finalizers", NULL)) == 0;
}

static int has_finalizer(const cJSON *obj, const char *f)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, kube_json_get(obj, "metadata", "finalizers", NULL))
	{
		if (cJSON_IsString(it) && strcmp(it->valuestring, f) == 0)
			return 1;
	}
	return 0;
}

static void add_finalizer(cJSON *obj, const char *f)
{
	if (has_finalizer(obj, f))
		return;
	cJSON *md = kube_json_ensure_obj(obj, "metadata");
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(md, "finalizers");
	if (!cJSON_IsArray(arr)) {
		arr = cJSON_CreateArray();
		set_item(md, "finalizers", arr);
	}
	cJSON_AddItemToArray(arr, cJSON_CreateString(f));
}

/* Base64 of a string (for Secret stringData). */
static char *b64(const char *in)
{
	size_t len = strlen(in);
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)len);
	return out;
}

/* A valid object name: lowercase RFC 1123 subdomain (RBAC kinds also allow ':' and capitals,
 * as the apiserver's path-segment rule does). */
static int name_ok(const struct sim_rtype *t, const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > 253 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	int rbac = strcmp(t->group, "rbac.authorization.k8s.io") == 0;
	for (const char *p = name; *p; p++) {
		char ch = *p;
		if (ch == '/' || ch == '%')
			return 0;
		if (rbac)
			continue;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return 0;
	}
	if (!rbac && (name[0] == '-' || name[0] == '.' || name[len - 1] == '-' ||
		      name[len - 1] == '.'))
		return 0;
	return 1;
}

/* Reads ".spec.replicas"-style paths. */
static cJSON *dot_get(const cJSON *obj, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path[0] == '.' ? path + 1 : path);
	const cJSON *cur = obj;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
		cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
	return (cJSON *)cur;
}

static void dot_set(cJSON *obj, const char *path, cJSON *val)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path[0] == '.' ? path + 1 : path);
	cJSON *cur = obj;
	char *save = NULL;
	char *tok = strtok_r(buf, ".", &save);
	while (tok) {
		char *next = strtok_r(NULL, ".", &save);
		if (!next) {
			set_item(cur, tok, val);
			return;
		}
		cur = kube_json_ensure_obj(cur, tok);
		if (!cur)
			break;
		tok = next;
	}
	cJSON_Delete(val);
}

/* Built-in defaults and derived fields the apiserver sets on create. */
static void defaults_on_create(struct sim_store *s, const struct sim_rtype *t, cJSON *obj)
{
	cJSON *md = kube_json_ensure_obj(obj, "metadata");
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	if (*t->group == '\0') {
		if (strcmp(t->resource, "namespaces") == 0) {
			cJSON *labels = kube_json_ensure_obj(md, "labels");
			set_str(labels, "kubernetes.io/metadata.name", kube_json_name(obj));
			cJSON *sp = kube_json_ensure_obj(obj, "spec");
			if (!cJSON_GetObjectItemCaseSensitive(sp, "finalizers")) {
				const char *fin[] = {"kubernetes"};
				cJSON_AddItemToObject(sp, "finalizers",
						      cJSON_CreateStringArray(fin, 1));
			}
			set_item(obj, "status", cJSON_CreateObject());
			set_str(cJSON_GetObjectItemCaseSensitive(obj, "status"), "phase", "Active");
		} else if (strcmp(t->resource, "pods") == 0) {
			cJSON *sp = kube_json_ensure_obj(obj, "spec");
			if (!cJSON_GetObjectItemCaseSensitive(sp, "restartPolicy"))
				set_str(sp, "restartPolicy", "Always");
			if (!cJSON_GetObjectItemCaseSensitive(sp, "terminationGracePeriodSeconds"))
				set_num(sp, "terminationGracePeriodSeconds", 30);
			if (!cJSON_GetObjectItemCaseSensitive(sp, "dnsPolicy"))
				set_str(sp, "dnsPolicy", "ClusterFirst");
			if (!cJSON_GetObjectItemCaseSensitive(sp, "schedulerName"))
				set_str(sp, "schedulerName", "default-scheduler");
			if (!cJSON_GetObjectItemCaseSensitive(sp, "serviceAccountName"))
				set_str(sp, "serviceAccountName", "default");
			cJSON *st = cJSON_CreateObject();
			cJSON_AddStringToObject(st, "phase", "Pending");
			cJSON_AddStringToObject(st, "qosClass", "BestEffort");
			set_item(obj, "status", st);
		} else if (strcmp(t->resource, "services") == 0) {
			cJSON *sp = kube_json_ensure_obj(obj, "spec");
			const char *type = kube_json_get_str(sp, "type", NULL);
			if (!type)
				set_str(sp, "type", "ClusterIP");
			if (!cJSON_GetObjectItemCaseSensitive(sp, "sessionAffinity"))
				set_str(sp, "sessionAffinity", "None");
			const char *ip = kube_json_get_str(sp, "clusterIP", NULL);
			if (!ip || !*ip) {
				unsigned n = atomic_fetch_add(&s->ip_next, 1);
				char buf[32];
				snprintf(buf, sizeof(buf), "%s.%u.%u",
					 atomic_load(&s->ip_loopback) ? "127.2" : "10.96",
					 (n / 250) % 256, n % 250 + 2);
				set_str(sp, "clusterIP", buf);
				ip = kube_json_get_str(sp, "clusterIP", NULL);
			}
			if (!cJSON_GetObjectItemCaseSensitive(sp, "clusterIPs")) {
				cJSON *ips = cJSON_CreateArray();
				cJSON_AddItemToArray(ips, cJSON_CreateString(ip));
				cJSON_AddItemToObject(sp, "clusterIPs", ips);
			}
			cJSON *port;
			cJSON_ArrayForEach(port, cJSON_GetObjectItemCaseSensitive(sp, "ports"))
			{
				if (!cJSON_GetObjectItemCaseSensitive(port, "protocol"))
					cJSON_AddStringToObject(port, "protocol", "TCP");
				const cJSON *p = cJSON_GetObjectItemCaseSensitive(port, "port");
				if (!cJSON_GetObjectItemCaseSensitive(port, "targetPort") &&
				    cJSON_IsNumber(p))
					cJSON_AddNumberToObject(port, "targetPort", p->valuedouble);
			}
			cJSON *st = cJSON_CreateObject();
			cJSON_AddItemToObject(st, "loadBalancer", cJSON_CreateObject());
			set_item(obj, "status", st);
		} else if (strcmp(t->resource, "secrets") == 0) {
			const char *type = kube_json_get_str(obj, "type", NULL);
			if (!type || !*type)
				set_str(obj, "type", "Opaque");
		}
	} else if (strcmp(t->group, "apps") == 0 && spec) {
		if (!cJSON_GetObjectItemCaseSensitive(spec, "replicas"))
			set_num(spec, "replicas", 1);
		if (strcmp(t->resource, "deployments") == 0) {
			if (!cJSON_GetObjectItemCaseSensitive(spec, "revisionHistoryLimit"))
				set_num(spec, "revisionHistoryLimit", 10);
			if (!cJSON_GetObjectItemCaseSensitive(spec, "progressDeadlineSeconds"))
				set_num(spec, "progressDeadlineSeconds", 600);
			if (!cJSON_GetObjectItemCaseSensitive(spec, "strategy")) {
				cJSON *st = cJSON_CreateObject();
				cJSON_AddStringToObject(st, "type", "RollingUpdate");
				cJSON *ru = cJSON_AddObjectToObject(st, "rollingUpdate");
				cJSON_AddStringToObject(ru, "maxUnavailable", "25%");
				cJSON_AddStringToObject(ru, "maxSurge", "25%");
				cJSON_AddItemToObject(spec, "strategy", st);
			}
		}
		set_item(obj, "status", cJSON_CreateObject());
	} else if (is_kind(t, "batch", "jobs") && spec) {
		if (!cJSON_GetObjectItemCaseSensitive(spec, "parallelism"))
			set_num(spec, "parallelism", 1);
		if (!cJSON_GetObjectItemCaseSensitive(spec, "completions"))
			set_num(spec, "completions", 1);
		if (!cJSON_GetObjectItemCaseSensitive(spec, "backoffLimit"))
			set_num(spec, "backoffLimit", 6);
		if (!cJSON_GetObjectItemCaseSensitive(spec, "completionMode"))
			set_str(spec, "completionMode", "NonIndexed");
		if (!cJSON_GetObjectItemCaseSensitive(spec, "suspend"))
			set_item(spec, "suspend", cJSON_CreateFalse());
		/* The apiserver generates the Job's selector from its uid and labels the template. */
		const char *uid = kube_json_uid(obj);
		const char *name = kube_json_name(obj);
		if (!cJSON_GetObjectItemCaseSensitive(spec, "selector") && uid && name) {
			cJSON *sel = cJSON_CreateObject();
			cJSON *ml = cJSON_AddObjectToObject(sel, "matchLabels");
			cJSON_AddStringToObject(ml, "batch.kubernetes.io/controller-uid", uid);
			cJSON_AddItemToObject(spec, "selector", sel);
			cJSON *tl = kube_json_ensure_obj(
				kube_json_ensure_obj(kube_json_ensure_obj(spec, "template"), "metadata"),
				"labels");
			set_str(tl, "batch.kubernetes.io/controller-uid", uid);
			set_str(tl, "batch.kubernetes.io/job-name", name);
			set_str(tl, "controller-uid", uid);
			set_str(tl, "job-name", name);
		}
		set_item(obj, "status", cJSON_CreateObject());
	} else if (is_kind(t, "policy", "poddisruptionbudgets")) {
		set_item(obj, "status", cJSON_CreateObject());
	}
}

/* Secret stringData is write-only: merged into data (base64) and dropped. */
static void secret_string_data(const struct sim_rtype *t, cJSON *obj)
{
	if (*t->group || strcmp(t->resource, "secrets") != 0)
		return;
	cJSON *sd = cJSON_DetachItemFromObjectCaseSensitive(obj, "stringData");
	if (!sd)
		return;
	cJSON *data = kube_json_ensure_obj(obj, "data");
	cJSON *it;
	cJSON_ArrayForEach(it, sd)
	{
		if (!cJSON_IsString(it) || !data)
			continue;
		char *enc = b64(it->valuestring);
		if (enc)
			set_str(data, it->string, enc);
		free(enc);
	}
	cJSON_Delete(sd);
}

/* The CRD status the naming and establishing controllers would set. */
static void crd_status(cJSON *crd, const cJSON *old)
{
	char now[32];
	sim_now_rfc3339(now, sizeof(now));
	const char *ltt = NULL;
	const cJSON *c;
	cJSON_ArrayForEach(c, kube_json_get(old, "status", "conditions", NULL))
	{
		const char *tt = kube_json_get_str(c, "lastTransitionTime", NULL);
		if (tt)
			ltt = tt;
	}
	if (!ltt)
		ltt = now;
	cJSON *st = cJSON_CreateObject();
	cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
	cJSON *na = cJSON_CreateObject();
	cJSON_AddStringToObject(na, "type", "NamesAccepted");
	cJSON_AddStringToObject(na, "status", "True");
	cJSON_AddStringToObject(na, "reason", "NoConflicts");
	cJSON_AddStringToObject(na, "message", "no conflicts found");
	cJSON_AddStringToObject(na, "lastTransitionTime", ltt);
	cJSON_AddItemToArray(conds, na);
	cJSON *es = cJSON_CreateObject();
	cJSON_AddStringToObject(es, "type", "Established");
	cJSON_AddStringToObject(es, "status", "True");
	cJSON_AddStringToObject(es, "reason", "InitialNamesAccepted");
	cJSON_AddStringToObject(es, "message", "the initial names have been accepted");
	cJSON_AddStringToObject(es, "lastTransitionTime", ltt);
	cJSON_AddItemToArray(conds, es);
	const cJSON *names = kube_json_get(crd, "spec", "names", NULL);
	cJSON *an = names ? cJSON_Duplicate(names, 1) : cJSON_CreateObject();
	const char *kind = kube_json_get_str(an, "kind", NULL);
	if (kind && !cJSON_GetObjectItemCaseSensitive(an, "listKind")) {
		char lk[300];
		snprintf(lk, sizeof(lk), "%sList", kind);
		cJSON_AddStringToObject(an, "listKind", lk);
	}
	if (kind && !cJSON_GetObjectItemCaseSensitive(an, "singular")) {
		char sg[300];
		snprintf(sg, sizeof(sg), "%s", kind);
		for (char *p = sg; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		cJSON_AddStringToObject(an, "singular", sg);
	}
	cJSON_AddItemToObject(st, "acceptedNames", an);
	cJSON *sv = cJSON_AddArrayToObject(st, "storedVersions");
	cJSON_ArrayForEach(c, kube_json_get(crd, "spec", "versions", NULL))
	{
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "storage")))
			cJSON_AddItemToArray(sv, cJSON_CreateString(kube_json_get_str(c, "name", NULL)));
	}
	set_item(crd, "status", st);
}

/* The CRD version named by the object's apiVersion ("group/vX"), for schema lookups. */
static const char *obj_version(const cJSON *obj)
{
	const char *av = kube_json_get_str(obj, "apiVersion", NULL);
	const char *slash = av ? strrchr(av, '/') : NULL;
	return slash ? slash + 1 : av;
}

/* Built-in validation (labels, pods, services), then for a custom resource prune, default and
 * validate against its CRD schema. 0 or 422. */
static int schema_apply(const struct sim_rtype *t, cJSON *obj, cJSON **status)
{
	cJSON *vcauses = NULL; /* built-in validation (sim_validate.h), every kind */
	if (sim_validate_object(t->group, t->resource, obj, &vcauses) == KUBE_EINVALID)
		return fail_invalid(status, t, kube_json_name(obj), vcauses);
	if (t->builtin)
		return 0;
	const cJSON *schema = sim_rtype_schema(t, obj_version(obj));
	if (!schema)
		schema = sim_rtype_schema(t, NULL);
	if (!schema)
		return 0;
	cJSON *causes = NULL;
	sim_schema_prune(obj, schema);
	sim_schema_default(obj, schema);
	int rc = sim_schema_validate(obj, schema, &causes);
	if (rc == KUBE_EINVALID)
		return fail_invalid(status, t, kube_json_name(obj), causes);
	cJSON_Delete(causes);
	return 0;
}

/* Strict field validation of a custom resource's body (or patch result): the fields its schema
 * would prune are, as the apiserver words them, a 400 "strict decoding error" under
 * fieldValidation=Strict, or Warning headers (warn set, r->warnings given) under Warn, the
 * default. 0 when the write may go on, else an HTTP code with *status. */
static int unknown_fields_check(const struct sim_rtype *t, const struct sim_req *r,
				const cJSON *body, int warn, cJSON **status)
{
	const char *version = cJSON_IsObject(body) ? obj_version(body) : NULL;
	const cJSON *schema, *p;
	cJSON *copy = NULL, *pruned = NULL;
	char *list = NULL, *msg = NULL;
	int rc = 0;

	if (t->builtin || (r->flags & SIM_WRITE_FIELDS_IGNORE) || !cJSON_IsObject(body) ||
	    (r->subresource && strcmp(r->subresource, "scale") == 0))
		return 0;
	if (!version)
		version = r->version;
	schema = sim_rtype_schema(t, version);
	if (!schema)
		schema = sim_rtype_schema(t, NULL);
	if (!schema)
		return 0;
	copy = cJSON_Duplicate(body, 1);
	if (!copy || sim_schema_prune_report(copy, schema, &pruned) < 0) {
		rc = 500;
		goto out;
	}
	cJSON_ArrayForEach(p, pruned) {
		char *item = NULL, *joined = NULL;

		if (asprintf(&item, "unknown field \"%s\"", p->valuestring) < 0) {
			rc = 500;
			goto out;
		}
		if (!(r->flags & SIM_WRITE_FIELDS_STRICT)) {
			if (warn && r->warnings)
				cJSON_AddItemToArray(r->warnings, cJSON_CreateString(item));
			free(item);
			continue;
		}
		if (asprintf(&joined, "%s%s%s", list ? list : "", list ? ", " : "", item) < 0)
			joined = NULL;
		free(item);
		free(list);
		list = joined;
		if (!list) {
			rc = 500;
			goto out;
		}
	}
	if (!list)
		goto out;
	/* A create or update names the kind it could not decode; a patch says only the error. */
	if (r->verb == SIM_PATCH)
		rc = asprintf(&msg, "strict decoding error: %s", list);
	else
		rc = asprintf(&msg, "%s in version \"%s\" cannot be handled as a %s: strict decoding "
			      "error: %s", t->kind, str_or_empty(version), t->kind, list);
	rc = rc < 0 ? 500 : fail_bad(status, msg);
out:
	free(msg);
	free(list);
	cJSON_Delete(pruned);
	cJSON_Delete(copy);
	return rc;
}

/* kind/apiVersion consistency with the type. */
static int check_type(const struct sim_rtype *t, const char *version, cJSON *obj,
		      cJSON **status)
{
	if (!cJSON_IsObject(obj))
		return fail_bad(status, "the body of the request is not a JSON object");
	const char *kind = kube_json_get_str(obj, "kind", NULL);
	const char *av = kube_json_get_str(obj, "apiVersion", NULL);
	if (kind && strcmp(kind, t->kind) != 0 && strcmp(kind, "Scale") != 0) {
		char msg[600];
		snprintf(msg, sizeof(msg), "the API version in the data (%s) does not match the "
			 "expected API version (%s%s%s) or kind %s does not match %s",
			 str_or_empty(av), t->group, *t->group ? "/" : "",
			 version ? version : t->versions[0], kind, t->kind);
		return fail_bad(status, msg);
	}
	if (av) {
		const char *slash = strrchr(av, '/');
		size_t glen = slash ? (size_t)(slash - av) : 0;
		if (strlen(t->group) != glen || strncmp(av, t->group, glen) != 0) {
			char msg[600];
			snprintf(msg, sizeof(msg), "the API version in the data (%s) does not match "
				 "the expected API group %s", av, *t->group ? t->group : "core");
			return fail_bad(status, msg);
		}
	}
	if (!kind)
		set_str(obj, "kind", t->kind);
	if (!av) {
		char buf[300];
		const char *v = version ? version : t->versions[0];
		if (*t->group)
			snprintf(buf, sizeof(buf), "%s/%s", t->group, v);
		else
			snprintf(buf, sizeof(buf), "%s", v);
		set_str(obj, "apiVersion", buf);
	}
	return 0;
}

static const char *server_fields[] = {"uid",
				      "resourceVersion",
				      "creationTimestamp",
				      "deletionTimestamp",
				      "deletionGracePeriodSeconds",
				      "generation",
				      "selfLink",
				      "managedFields",
				      NULL};

/* ---- ServiceAccount admission and the root CA publisher (sim_store_set_sa_admission) */

#define SA_MOUNT_PATH "/var/run/secrets/kubernetes.io/serviceaccount"

/* Whether a pod gets the API credentials: automountServiceAccountToken of the pod, else of its
 * ServiceAccount, else true (upstream's ServiceAccount admission plugin). */
static int sa_automount(struct sim_store *s, const cJSON *obj)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	const cJSON *pod = cJSON_GetObjectItemCaseSensitive(spec, "automountServiceAccountToken");
	if (cJSON_IsBool(pod))
		return cJSON_IsTrue(pod);
	cJSON *sa = NULL, *st = NULL;
	int on = 1;
	if (sim_store_get(s, "", "serviceaccounts", kube_json_namespace(obj),
			  kube_json_get_str(spec, "serviceAccountName", NULL), &sa, &st) == 200) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(sa, "automountServiceAccountToken");
		if (cJSON_IsBool(v))
			on = cJSON_IsTrue(v);
	}
	cJSON_Delete(sa);
	cJSON_Delete(st);
	return on;
}

static cJSON *sa_volume(const char *name)
{
	cJSON *v = NULL;
	char buf[700];
	snprintf(buf, sizeof(buf),
		 "{\"name\":\"%s\",\"projected\":{\"defaultMode\":420,\"sources\":["
		 "{\"serviceAccountToken\":{\"expirationSeconds\":3607,\"path\":\"token\"}},"
		 "{\"configMap\":{\"name\":\"kube-root-ca.crt\",\"items\":[{\"key\":\"ca.crt\","
		 "\"path\":\"ca.crt\"}]}},"
		 "{\"downwardAPI\":{\"items\":[{\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":"
		 "\"metadata.namespace\"},\"path\":\"namespace\"}]}}]}}",
		 name);
	v = cJSON_Parse(buf);
	return v;
}

/* Adds the mount to every container (and init container) that has none at the path. */
static void sa_mount(cJSON *spec, const char *list, const char *name)
{
	cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, list))
	{
		cJSON *mounts = cJSON_GetObjectItemCaseSensitive(c, "volumeMounts");
		const cJSON *m;
		int has = 0;
		cJSON_ArrayForEach(m, mounts)
		{
			const char *mp = kube_json_get_str(m, "mountPath", NULL);
			has |= mp && strcmp(mp, SA_MOUNT_PATH) == 0;
		}
		if (has)
			continue;
		if (!cJSON_IsArray(mounts)) {
			cJSON_DeleteItemFromObjectCaseSensitive(c, "volumeMounts");
			mounts = cJSON_AddArrayToObject(c, "volumeMounts");
		}
		cJSON *m2 = cJSON_CreateObject();
		if (!mounts || !m2) {
			cJSON_Delete(m2);
			continue;
		}
		cJSON_AddStringToObject(m2, "name", name);
		cJSON_AddTrueToObject(m2, "readOnly");
		cJSON_AddStringToObject(m2, "mountPath", SA_MOUNT_PATH);
		cJSON_AddItemToArray(mounts, m2);
	}
}

/* As the apiserver's ServiceAccount admission on pod create: the projected kube-api-access-XXXXX
 * volume (token, kube-root-ca.crt's ca.crt, the namespace) mounted read-only at
 * /var/run/secrets/kubernetes.io/serviceaccount in every container. */
static void sa_admission(struct sim_store *s, const struct sim_rtype *t, cJSON *obj)
{
	if (!s->root_ca || *t->group || strcmp(t->resource, "pods") != 0)
		return;
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	if (!cJSON_IsObject(spec) || !sa_automount(s, obj))
		return;
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(spec, "volumes"))
	{
		const char *n = kube_json_get_str(v, "name", NULL);
		if (n && strncmp(n, "kube-api-access-", 16) == 0)
			return; /* already there (a pod copied from another one) */
	}
	char suffix[6], name[32];
	random_suffix(suffix);
	snprintf(name, sizeof(name), "kube-api-access-%s", suffix);
	cJSON *vols = cJSON_GetObjectItemCaseSensitive(spec, "volumes");
	if (!cJSON_IsArray(vols)) {
		cJSON_DeleteItemFromObjectCaseSensitive(spec, "volumes");
		vols = cJSON_AddArrayToObject(spec, "volumes");
	}
	cJSON *vol = sa_volume(name);
	if (!vols || !vol) {
		cJSON_Delete(vol);
		return;
	}
	cJSON_AddItemToArray(vols, vol);
	sa_mount(spec, "containers", name);
	sa_mount(spec, "initContainers", name);
}

/* The kube-root-ca.crt ConfigMap in namespace ns, as the controller-manager's root CA
 * publisher keeps it (created if missing; an existing one is left alone). */
static void publish_root_ca(struct sim_store *s, const char *ns)
{
	if (!s->root_ca || !ns)
		return;
	cJSON *cm = cJSON_CreateObject();
	cJSON_AddStringToObject(cm, "apiVersion", "v1");
	cJSON_AddStringToObject(cm, "kind", "ConfigMap");
	cJSON *md = cJSON_AddObjectToObject(cm, "metadata");
	cJSON_AddStringToObject(md, "name", "kube-root-ca.crt");
	cJSON *ann = cJSON_AddObjectToObject(md, "annotations");
	cJSON_AddStringToObject(ann, "kubernetes.io/description",
				"Contains a CA bundle that can be used to verify the kube-apiserver "
				"when using internal endpoints such as the internal service IP or "
				"kubernetes.default.svc. No other usage is guaranteed across "
				"distributions of Kubernetes clusters.");
	cJSON *data = cJSON_AddObjectToObject(cm, "data");
	cJSON_AddStringToObject(data, "ca.crt", s->root_ca);
	cJSON *st = NULL;
	sim_store_create(s, "", "configmaps", ns, cm, 0, NULL, &st);
	cJSON_Delete(st);
	cJSON_Delete(cm);
}

/* Builds the object a POST creates. 0 with *out, or an HTTP code with *status. */
static int prepare_create(struct sim_store *s, const struct sim_rtype *t, const char *version,
			  const char *ns, const cJSON *body, cJSON **out, cJSON **status)
{
	int rc;
	cJSON *obj = cJSON_Duplicate(body, 1);
	if (!obj)
		return fail_bad(status, "the body of the request is not a JSON object");
	rc = check_type(t, version, obj, status);
	if (rc)
		goto out;
	cJSON *md = kube_json_ensure_obj(obj, "metadata");
	if (!md) {
		rc = fail_bad(status, "metadata must be an object");
		goto out;
	}
	const char *bns = kube_json_get_str(md, "namespace", NULL);
	if (t->namespaced) {
		if (bns && *bns && ns && *ns && strcmp(bns, ns) != 0) {
			rc = fail_bad(status, "the namespace of the provided object does not match "
					      "the namespace sent on the request");
			goto out;
		}
		if (ns && *ns)
			set_str(md, "namespace", ns);
		else if (!bns || !*bns)
			set_str(md, "namespace", "default");
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(md, "namespace");
	}
	for (size_t i = 0; server_fields[i]; i++)
		cJSON_DeleteItemFromObjectCaseSensitive(md, server_fields[i]);
	const char *name = kube_json_get_str(md, "name", NULL);
	const char *gen = kube_json_get_str(md, "generateName", NULL);
	if ((!name || !*name) && gen && *gen) {
		char suffix[6], buf[300];
		random_suffix(suffix);
		snprintf(buf, sizeof(buf), "%s%s", gen, suffix);
		set_str(md, "name", buf);
		name = kube_json_get_str(md, "name", NULL);
	}
	if (!name || !*name) {
		rc = fail_invalid1(status, t, "", "FieldValueRequired", "metadata.name",
				   "Required value: name or generateName is required");
		goto out;
	}
	if (!name_ok(t, name)) {
		char msg[600];
		snprintf(msg, sizeof(msg),
			 "Invalid value: \"%s\": a lowercase RFC 1123 subdomain must consist of "
			 "lower case alphanumeric characters, '-' or '.', and must start and end "
			 "with an alphanumeric character",
			 name);
		rc = fail_invalid1(status, t, name, "FieldValueInvalid", "metadata.name", msg);
		goto out;
	}
	char uid[37], now[32];
	uuid_v4(uid);
	sim_now_rfc3339(now, sizeof(now));
	set_str(md, "uid", uid);
	set_str(md, "creationTimestamp", now);
	if (t->has_status && !t->builtin)
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
	if (t->has_spec)
		set_num(md, "generation", 1);
	secret_string_data(t, obj);
	defaults_on_create(s, t, obj);
	sa_admission(s, t, obj);
	if (is_crd(t)) {
		cJSON *causes = NULL;
		if (sim_registry_check_crd(obj, &causes) == KUBE_EINVALID) {
			rc = fail_invalid(status, t, name, causes);
			goto out;
		}
		crd_status(obj, NULL);
	}
	rc = schema_apply(t, obj, status);
	if (rc)
		goto out;
	*out = obj;
	obj = NULL;
	rc = 0;
out:
	cJSON_Delete(obj);
	return rc;
}

/* Copy of obj without metadata and status: what "the spec changed" compares. */
static int spec_changed(const cJSON *a, const cJSON *b)
{
	const cJSON *ia, *ib;
	int na = 0, nb = 0;
	cJSON_ArrayForEach(ia, a)
	{
		if (!ia->string || strcmp(ia->string, "metadata") == 0 ||
		    strcmp(ia->string, "status") == 0 || strcmp(ia->string, "kind") == 0 ||
		    strcmp(ia->string, "apiVersion") == 0)
			continue;
		na++;
		ib = cJSON_GetObjectItemCaseSensitive(b, ia->string);
		if (!ib || !cJSON_Compare(ia, ib, 1))
			return 1;
	}
	cJSON_ArrayForEach(ib, b)
	{
		if (!ib->string || strcmp(ib->string, "metadata") == 0 ||
		    strcmp(ib->string, "status") == 0 || strcmp(ib->string, "kind") == 0 ||
		    strcmp(ib->string, "apiVersion") == 0)
			continue;
		nb++;
	}
	return na != nb;
}

static void copy_field(cJSON *dst, const cJSON *src, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
	if (v)
		set_item(dst, key, cJSON_Duplicate(v, 1));
	else
		cJSON_DeleteItemFromObjectCaseSensitive(dst, key);
}

/* The Scale view of an object. */
static cJSON *scale_of(const struct sim_rtype *t, const cJSON *obj)
{
	cJSON *sc = cJSON_CreateObject();
	if (!sc)
		return NULL;
	cJSON_AddStringToObject(sc, "kind", "Scale");
	cJSON_AddStringToObject(sc, "apiVersion", "autoscaling/v1");
	cJSON *md = cJSON_AddObjectToObject(sc, "metadata");
	const cJSON *omd = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	copy_field(md, omd, "name");
	copy_field(md, omd, "namespace");
	copy_field(md, omd, "uid");
	copy_field(md, omd, "resourceVersion");
	copy_field(md, omd, "creationTimestamp");
	const cJSON *sr = dot_get(obj, t->spec_replicas_path);
	const cJSON *str = dot_get(obj, t->status_replicas_path);
	cJSON *spec = cJSON_AddObjectToObject(sc, "spec");
	cJSON_AddNumberToObject(spec, "replicas", cJSON_IsNumber(sr) ? sr->valuedouble : 0);
	cJSON *st = cJSON_AddObjectToObject(sc, "status");
	cJSON_AddNumberToObject(st, "replicas", cJSON_IsNumber(str) ? str->valuedouble : 0);
	if (t->builtin) {
		/* Deployments and ReplicaSets: the selector in label-selector text form. */
		char sel[1024] = "";
		size_t off = 0;
		const cJSON *it;
		cJSON_ArrayForEach(it, kube_json_get(obj, "spec", "selector", "matchLabels", NULL))
		{
			if (cJSON_IsString(it))
				off += (size_t)snprintf(sel + off, off < sizeof(sel) ? sizeof(sel) - off : 0,
							"%s%s=%s", off ? "," : "", it->string,
							it->valuestring);
		}
		if (*sel)
			cJSON_AddStringToObject(st, "selector", sel);
	} else if (t->label_selector_path) {
		const cJSON *ls = dot_get(obj, t->label_selector_path);
		if (cJSON_IsString(ls))
			cJSON_AddStringToObject(st, "selector", ls->valuestring);
	}
	return sc;
}

/* Builds the new version of `cur` from an update body (or a patch result, is_patch). 0 with
 * *out, or an HTTP code with *status. */
static int prepare_update(const struct sim_rtype *t, const char *version, const cJSON *cur,
			  const cJSON *body, const char *sub, int is_patch, cJSON **out,
			  cJSON **status)
{
	int rc;
	cJSON *obj = NULL;
	const char *name = kube_json_name(cur);
	const char *cur_rv = kube_json_resource_version(cur);
	if (!cJSON_IsObject(body))
		return fail_bad(status, "the body of the request is not a JSON object");
	const char *brv = kube_json_get_str(body, "metadata", "resourceVersion", NULL);
	if (brv && *brv && strcmp(brv, str_or_empty(cur_rv)) != 0)
		return fail_conflict(status, t, name);
	if ((!brv || !*brv) && !is_patch && !t->builtin)
		return fail_invalid1(status, t, name, "FieldValueInvalid",
				     "metadata.resourceVersion",
				     "Invalid value: 0x0: must be specified for an update");
	const char *bname = kube_json_get_str(body, "metadata", "name", NULL);
	if (bname && strcmp(bname, name) != 0 && !(sub && strcmp(sub, "scale") == 0)) {
		char msg[700];
		snprintf(msg, sizeof(msg),
			 "the name of the object (%s) does not match the name on the URL (%s)", bname,
			 name);
		return fail_bad(status, msg);
	}
	const char *bns = kube_json_get_str(body, "metadata", "namespace", NULL);
	const char *cns = kube_json_namespace(cur);
	if (t->namespaced && bns && *bns && cns && strcmp(bns, cns) != 0)
		return fail_bad(status, "the namespace of the provided object does not match the "
					"namespace sent on the request");

	if (sub && strcmp(sub, "scale") == 0) {
		const cJSON *r = kube_json_get(body, "spec", "replicas", NULL);
		if (!cJSON_IsNumber(r) || r->valuedouble < 0)
			return fail_invalid1(status, t, name, "FieldValueInvalid", "spec.replicas",
					     "Invalid value: must be greater than or equal to 0");
		obj = cJSON_Duplicate(cur, 1);
		dot_set(obj, t->spec_replicas_path, cJSON_CreateNumber(r->valuedouble));
	} else if (sub && strcmp(sub, "status") == 0) {
		obj = cJSON_Duplicate(cur, 1);
		copy_field(obj, body, "status");
	} else {
		obj = cJSON_Duplicate(body, 1);
		if (!obj)
			return 500;
		rc = check_type(t, version, obj, status);
		if (rc)
			goto out;
		cJSON *md = kube_json_ensure_obj(obj, "metadata");
		const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(cur, "metadata");
		for (size_t i = 0; server_fields[i]; i++)
			if (strcmp(server_fields[i], "managedFields") != 0)
				copy_field(md, cmd, server_fields[i]);
		cJSON_DeleteItemFromObjectCaseSensitive(md, "managedFields");
		copy_field(md, cmd, "name");
		if (t->namespaced)
			copy_field(md, cmd, "namespace");
		if (t->has_status)
			copy_field(obj, cur, "status");
		secret_string_data(t, obj);
		/* Fields the apiserver keeps when an update omits them. */
		if (!*t->group && strcmp(t->resource, "services") == 0) {
			cJSON *sp = kube_json_ensure_obj(obj, "spec");
			const cJSON *csp = cJSON_GetObjectItemCaseSensitive(cur, "spec");
			if (!kube_json_get_str(sp, "clusterIP", NULL))
				copy_field(sp, csp, "clusterIP");
			if (!cJSON_GetObjectItemCaseSensitive(sp, "clusterIPs"))
				copy_field(sp, csp, "clusterIPs");
		}
		if (is_kind(t, "batch", "jobs")) {
			cJSON *sp = kube_json_ensure_obj(obj, "spec");
			if (!cJSON_GetObjectItemCaseSensitive(sp, "selector"))
				copy_field(sp, kube_json_get(cur, "spec", NULL), "selector");
		}
		/* No new finalizers once deletion has started. */
		if (kube_json_get_str(cur, "metadata", "deletionTimestamp", NULL)) {
			const cJSON *f;
			cJSON_ArrayForEach(f, kube_json_get(obj, "metadata", "finalizers", NULL))
			{
				if (cJSON_IsString(f) && !has_finalizer(cur, f->valuestring)) {
					rc = fail_invalid1(status, t, name, "FieldValueForbidden",
							   "metadata.finalizers",
							   "Forbidden: no new finalizers can be added if "
							   "the object is being deleted");
					goto out;
				}
			}
		}
		if (is_crd(t)) {
			cJSON *causes = NULL;
			if (sim_registry_check_crd(obj, &causes) == KUBE_EINVALID) {
				rc = fail_invalid(status, t, name, causes);
				goto out;
			}
			crd_status(obj, cur);
		}
	}
	if (!obj)
		return 500;
	rc = schema_apply(t, obj, status);
	if (rc)
		goto out;
	/* generation counts spec changes (everything outside metadata and status). */
	if (t->has_spec || !t->builtin) {
		double g = 0;
		kube_json_get_num(cur, &g, "metadata", "generation", NULL);
		if (spec_changed(obj, cur))
			g += 1;
		if (g < 1)
			g = 1;
		set_num(kube_json_ensure_obj(obj, "metadata"), "generation", g);
	}
	*out = obj;
	obj = NULL;
	rc = 0;
out:
	cJSON_Delete(obj);
	return rc;
}

/* Applies a patch to a private copy of the current object (or its Scale). */
static int apply_patch(const struct sim_rtype *t, const char *content_type, const cJSON *patch,
		       cJSON **doc, cJSON **status)
{
	char *err = NULL;
	int rc;
	const char *ct = str_or_empty(content_type);
	if (strncmp(ct, "application/merge-patch+json", 28) == 0 ||
	    strncmp(ct, "application/apply-patch+yaml", 28) == 0 ||
	    strncmp(ct, "application/apply-patch+json", 28) == 0) {
		rc = sim_merge_patch(doc, patch);
	} else if (strncmp(ct, "application/json-patch+json", 27) == 0) {
		rc = sim_json_patch(doc, patch, &err);
	} else if (strncmp(ct, "application/strategic-merge-patch+json", 38) == 0) {
		if (!t->builtin) {
			return fail(status, 415, "UnsupportedMediaType",
				    "the body of the request was in an unknown format - accepted "
				    "media types include: application/json-patch+json, "
				    "application/merge-patch+json, application/apply-patch+yaml",
				    NULL);
		}
		rc = sim_strategic_merge_patch(doc, patch, t->kind, &err);
	} else {
		char msg[400];
		snprintf(msg, sizeof(msg), "the body of the request was in an unknown format - "
			 "accepted media types include: application/json-patch+json, "
			 "application/merge-patch+json, application/apply-patch+yaml%s (got %s)",
			 t->builtin ? ", application/strategic-merge-patch+json" : "", ct);
		return fail(status, 415, "UnsupportedMediaType", msg, NULL);
	}
	if (rc == 0)
		return 0;
	if (rc == KUBE_EINVALID) {
		/* As upstream (NewGenericServerResponse 422 around jsonpatch's Apply error): the
		 * reason is Invalid, the message generic, the details empty; what failed (e.g. a
		 * "test" op) is not said, so a client must not rely on it. */
		rc = fail(status, 422, "Invalid",
			  "the server rejected our request due to an error in our request",
			  cJSON_CreateObject());
	} else if (rc == KUBE_ENOMEM) {
		rc = 500;
	} else {
		rc = fail_bad(status, err ? err : "the patch is malformed");
	}
	free(err);
	return rc;
}

/* ---- snapshots */

static int snap_grow(struct sim_snap *snap)
{
	size_t ncap = snap->cap ? snap->cap * 2 : 16;
	struct sim_obj **no = realloc(snap->objs, ncap * sizeof(*no));
	if (!no)
		return KUBE_ENOMEM;
	snap->objs = no;
	cJSON **nt = realloc(snap->trees, ncap * sizeof(*nt));
	if (!nt)
		return KUBE_ENOMEM;
	snap->trees = nt;
	char **nk = realloc(snap->keys, ncap * sizeof(*nk));
	if (!nk)
		return KUBE_ENOMEM;
	snap->keys = nk;
	snap->cap = ncap;
	return 0;
}

/* Appends a reference to o (and a copy of its sort key, may be NULL). */
static int snap_push_key(struct sim_snap *snap, struct sim_obj *o, const char *key)
{
	if (snap->n == snap->cap && snap_grow(snap))
		return KUBE_ENOMEM;
	char *k = key ? strdup(key) : NULL;
	if (key && !k)
		return KUBE_ENOMEM;
	snap->objs[snap->n] = obj_ref(o);
	snap->trees[snap->n] = NULL;
	snap->keys[snap->n] = k;
	snap->n++;
	return 0;
}

static int snap_push(struct sim_snap *snap, struct sim_obj *o)
{
	return snap_push_key(snap, o, NULL);
}

static struct sim_snap *snap_one(struct sim_obj *o, uint64_t rv)
{
	struct sim_snap *snap = calloc(1, sizeof(*snap));
	if (!snap)
		return NULL;
	snprintf(snap->rv, sizeof(snap->rv), "%llu", (unsigned long long)rv);
	snap->remaining = -1;
	if (o && snap_push(snap, o)) {
		sim_snap_free(snap);
		return NULL;
	}
	return snap;
}

size_t sim_snap_len(const struct sim_snap *snap)
{
	return snap ? snap->n : 0;
}

/* Trees are parsed privately per snapshot, on first use: the store's versions stay cold. */
const cJSON *sim_snap_obj(const struct sim_snap *snap, size_t i)
{
	if (i >= snap->n)
		return NULL;
	cJSON *tmp = NULL;
	const cJSON *j = snap->trees[i];
	if (j)
		return j;
	j = obj_peek(snap->objs[i], &tmp);
	if (tmp)
		((struct sim_snap *)snap)->trees[i] = tmp;
	return j;
}

const char *sim_snap_json(const struct sim_snap *snap, size_t i)
{
	return i < snap->n ? obj_text(snap->objs[i]) : NULL;
}

const char *sim_snap_rv(const struct sim_snap *snap)
{
	return snap->rv;
}

const char *sim_snap_continue(const struct sim_snap *snap)
{
	return snap ? snap->cont : NULL;
}

long sim_snap_remaining(const struct sim_snap *snap)
{
	return snap ? snap->remaining : -1;
}

void sim_snap_free(struct sim_snap *snap)
{
	if (!snap)
		return;
	for (size_t i = 0; i < snap->n; i++) {
		obj_unref(snap->objs[i]);
		cJSON_Delete(snap->trees[i]);
		free(snap->keys[i]);
	}
	free(snap->objs);
	free(snap->trees);
	free(snap->keys);
	free(snap->cont);
	free(snap);
}

/* Sorts a collected snapshot by key (namespace/name), keeping the arrays parallel. */
struct sort_item {
	const char *key;
	size_t idx;
};

static int cmp_sort_item(const void *a, const void *b)
{
	return strcmp(((const struct sort_item *)a)->key, ((const struct sort_item *)b)->key);
}

static int snap_sort(struct sim_snap *snap)
{
	if (snap->n < 2)
		return 0;
	struct sort_item *items = malloc(snap->n * sizeof(*items));
	struct sim_obj **objs = malloc(snap->n * sizeof(*objs));
	char **keys = malloc(snap->n * sizeof(*keys));
	if (!items || !objs || !keys) {
		free(items);
		free(objs);
		free(keys);
		return KUBE_ENOMEM;
	}
	for (size_t i = 0; i < snap->n; i++) {
		items[i].key = snap->keys[i] ? snap->keys[i] : "";
		items[i].idx = i;
	}
	qsort(items, snap->n, sizeof(*items), cmp_sort_item);
	for (size_t i = 0; i < snap->n; i++) {
		objs[i] = snap->objs[items[i].idx];
		keys[i] = snap->keys[items[i].idx];
	}
	free(snap->objs);
	free(snap->keys);
	snap->objs = objs;
	snap->keys = keys;
	free(items);
	return 0;
}

struct selectors {
	struct kube_selector *l, *f;
};

static int selectors_parse(const char *lsel, const char *fsel, struct selectors *out,
			   cJSON **status)
{
	char *err = NULL;
	char msg[600];
	memset(out, 0, sizeof(*out));
	if (lsel && *lsel && kube_selector_parse(lsel, &out->l, &err) != 0) {
		snprintf(msg, sizeof(msg), "unable to parse requirement: %s", err ? err : lsel);
		free(err);
		return fail_bad(status, msg);
	}
	if (fsel && *fsel && kube_field_selector_parse(fsel, &out->f, &err) != 0) {
		snprintf(msg, sizeof(msg), "invalid field selector: %s", err ? err : fsel);
		free(err);
		kube_selector_free(out->l);
		out->l = NULL;
		return fail_bad(status, msg);
	}
	return 0;
}

static void selectors_free(struct selectors *sel)
{
	kube_selector_free(sel->l);
	kube_selector_free(sel->f);
}

static int selectors_match(const struct selectors *sel, const cJSON *obj)
{
	if (sel->l && !kube_selector_matches_object(sel->l, obj))
		return 0;
	if (sel->f && !kube_field_selector_matches(sel->f, obj))
		return 0;
	return 1;
}

/* Collects references to the objects of t in ns (all when NULL/""), sorted. */
static int collect_locked(struct sim_store *s, const struct sim_rtype *t, const char *ns,
			  struct sim_snap *snap)
{
	struct coll *c = coll_find_locked(s, t, 0);
	struct entry *e, *tmp;
	if (!c)
		return 0;
	size_t nslen = ns ? strlen(ns) : 0;
	HASH_ITER(hh, c->objs, e, tmp)
	{
		if (nslen && t->namespaced &&
		    (strncmp(e->key, ns, nslen) != 0 || e->key[nslen] != '/'))
			continue;
		if (snap_push_key(snap, e->obj, e->key))
			return KUBE_ENOMEM;
	}
	return 0;
}

/* ---- verbs */

static const struct sim_rtype *resolve(struct sim_store *s, const struct sim_req *r,
				       cJSON **status)
{
	const struct sim_rtype *t = sim_registry_find(s->reg, str_or_empty(r->group),
						      str_or_empty(r->resource));
	if (!t) {
		char msg[400];
		snprintf(msg, sizeof(msg), "the server could not find the requested resource");
		fail(status, 404, "NotFound", msg, NULL);
	}
	return t;
}

static int do_get(struct sim_store *s, const struct sim_rtype *t, const struct sim_req *r,
		  struct sim_snap **out, cJSON **status)
{
	int rc;
	pthread_mutex_lock(&s->mu);
	struct entry *e = entry_find_locked(s, t, r->ns, r->name);
	struct sim_obj *o = e ? obj_ref(e->obj) : NULL;
	uint64_t rv = s->rv;
	pthread_mutex_unlock(&s->mu);
	if (!o)
		return fail_notfound(status, t, r->name);
	if (r->subresource && strcmp(r->subresource, "scale") == 0) {
		if (!t->has_scale) {
			obj_unref(o);
			return fail_notfound(status, t, r->name);
		}
		cJSON *tmp = NULL;
		const cJSON *cur = obj_peek(o, &tmp);
		cJSON *sc = cur ? scale_of(t, cur) : NULL;
		cJSON_Delete(tmp);
		obj_unref(o);
		o = sc ? obj_new(sc) : NULL;
		if (!o) {
			cJSON_Delete(sc);
			return 500;
		}
	}
	rc = 200;
	if (out) {
		*out = snap_one(o, rv);
		if (!*out)
			rc = 500;
	}
	obj_unref(o);
	return rc;
}

/* ---- list paging: continue tokens, and the list as of the first page's resourceVersion */

#define CONTINUE_API "meta.k8s.io/v1"
#define CONTINUE_INVALID "continue key is not valid"
/* The apiserver's message when the first page's revision was compacted (storage/etcd3). */
#define CONTINUE_EXPIRED                                                                          \
	"The provided continue parameter is too old to display a consistent list result. You can " \
	"start a new list without the continue parameter, or use the continue token in this "      \
	"response to retrieve the remainder of the results. Continuing with the provided token "    \
	"results in an inconsistent list - objects that were created, modified, or deleted "        \
	"between the time the first chunk was returned and now may show up in the list."

/* A continue token as the apiserver makes it: base64url without padding of
 * {"v":"meta.k8s.io/v1","rv":RV,"start":KEY}. KEY is the last key returned (namespace/name or
 * name; the next page starts after it), RV the list's resourceVersion, -1 for "the current
 * state". NULL on ENOMEM. */
static char *continue_encode(long long rv, const char *last_key)
{
	cJSON *j = cJSON_CreateObject();
	char *text = NULL, *out = NULL;
	if (j && cJSON_AddStringToObject(j, "v", CONTINUE_API) &&
	    cJSON_AddNumberToObject(j, "rv", (double)rv) &&
	    cJSON_AddStringToObject(j, "start", last_key))
		text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	out = text ? b64(text) : NULL;
	free(text);
	for (char *c = out; c && *c; c++) {
		if (*c == '+')
			*c = '-';
		else if (*c == '/')
			*c = '_';
		else if (*c == '=')
			*c = '\0';
	}
	return out;
}

/* The decoded JSON text of a base64url token (no padding, as Go's RawURLEncoding), or NULL. */
static char *continue_b64_decode(const char *tok)
{
	size_t len = strlen(tok);
	if (len == 0 || len % 4 == 1 || strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
						  "vwxyz0123456789-_") != len)
		return NULL;
	size_t pad = (4 - len % 4) % 4;
	char *std = malloc(len + pad + 1);
	unsigned char *raw = malloc(3 * ((len + pad) / 4) + 1);
	char *text = NULL;
	if (std && raw) {
		for (size_t i = 0; i < len; i++)
			std[i] = tok[i] == '-' ? '+' : tok[i] == '_' ? '/' : tok[i];
		memset(std + len, '=', pad);
		std[len + pad] = '\0';
		int n = EVP_DecodeBlock(raw, (const unsigned char *)std, (int)(len + pad));
		if (n >= (int)pad) {
			n -= (int)pad;
			raw[n] = '\0';
			if (strlen((char *)raw) == (size_t)n)
				text = strdup((char *)raw);
		}
	}
	free(std);
	free(raw);
	return text;
}

/* Decodes ?continue=. 0 with *rv (> 0, or < 0 for "the current state") and *start (the last key
 * of the previous page, malloc'd); 400 with the apiserver's messages otherwise. */
static int continue_decode(const char *tok, long long *rv, char **start, cJSON **status)
{
	char msg[600];
	char *text = continue_b64_decode(tok);
	cJSON *j = text ? cJSON_Parse(text) : NULL;
	free(text);
	const char *v = kube_json_get_str(j, "v", NULL);
	const cJSON *jrv = cJSON_GetObjectItemCaseSensitive(j, "rv");
	const char *key = kube_json_get_str(j, "start", NULL);
	*start = NULL;
	if (!cJSON_IsObject(j))
		snprintf(msg, sizeof(msg), "invalid continue token: %s: not base64url-encoded JSON",
			 CONTINUE_INVALID);
	else if (!v || strcmp(v, CONTINUE_API) != 0)
		snprintf(msg, sizeof(msg), "invalid continue token: %s: server does not recognize "
			 "this encoded version %s", CONTINUE_INVALID, v ? v : "\"\"");
	else if (!cJSON_IsNumber(jrv) || jrv->valuedouble == 0 ||
		 jrv->valuedouble != (double)(long long)jrv->valuedouble)
		snprintf(msg, sizeof(msg), "invalid continue token: %s: incorrect encoded start "
			 "resourceVersion (version " CONTINUE_API ")", CONTINUE_INVALID);
	else if (!key || !*key)
		snprintf(msg, sizeof(msg), "invalid continue token: %s: encoded start key empty",
			 CONTINUE_INVALID);
	else {
		*rv = (long long)jrv->valuedouble;
		*start = strdup(key);
		cJSON_Delete(j);
		return *start ? 0 : 500;
	}
	cJSON_Delete(j);
	return fail_bad(status, msg);
}

/* 410 Expired for a token whose resourceVersion the history no longer covers, with a token that
 * continues at the current state in the Status' metadata.continue, as the apiserver does. */
static int fail_continue_expired(cJSON **status, const char *start)
{
	int rc = fail(status, 410, "Expired", CONTINUE_EXPIRED, NULL);
	char *tok = continue_encode(-1, start);
	cJSON *md = status && *status ? cJSON_GetObjectItemCaseSensitive(*status, "metadata") : NULL;
	if (md && tok)
		cJSON_AddStringToObject(md, "continue", tok);
	free(tok);
	return rc;
}

/* What a list request asks for beyond the selectors. */
struct list_page {
	long limit;         /* 0: everything */
	long long tok_rv;   /* the token's resourceVersion (0: no token; < 0: current state) */
	char *start;        /* resume after this key (NULL: from the first) */
};

static int list_page_parse(const struct sim_req *r, struct list_page *pg, cJSON **status)
{
	memset(pg, 0, sizeof(*pg));
	pg->limit = r->limit > 0 ? r->limit : 0;
	const char *rvs = r->resource_version;
	if (r->continue_token && *r->continue_token) {
		int rc = continue_decode(r->continue_token, &pg->tok_rv, &pg->start, status);
		if (rc)
			return rc;
		if (rvs && *rvs && strcmp(rvs, "0") != 0) {
			free(pg->start);
			pg->start = NULL;
			return fail_bad(status, "specifying resource version is not allowed when using "
				       "continue");
		}
	} else if (rvs && strcmp(rvs, "0") == 0) {
		pg->limit = 0; /* served from the apiserver's watch cache, which does not page */
	}
	return 0;
}

/* A history event to undo when rebuilding a list as of an older resourceVersion. */
struct undo_ev {
	enum sim_event_type type;
	struct sim_text *obj, *old;
};

static void undo_free(struct undo_ev *u, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		text_unref(u[i].obj);
		text_unref(u[i].old);
	}
	free(u);
}

/* The events of t (in ns, when given) after rv, newest first, as text references. The caller
 * checked rv >= s->hist_floor, so these are all the changes since rv. 0 or KUBE_ENOMEM. */
static int undo_collect_locked(struct sim_store *s, const struct sim_rtype *t, const char *ns,
			       uint64_t rv, struct undo_ev **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	for (size_t i = s->hist_len; i-- > 0;) {
		struct hist_ent *h = &s->hist[(s->hist_head + i) % s->hist_cap];
		if (h->rv <= rv)
			break;
		if (!same_rtype(h->t, t) ||
		    (ns && *ns && t->namespaced && (!h->ns || strcmp(h->ns, ns) != 0)))
			continue;
		if (*n % 32 == 0) {
			struct undo_ev *m = realloc(*out, (*n + 32) * sizeof(*m));
			if (!m)
				return KUBE_ENOMEM;
			*out = m;
		}
		(*out)[*n].type = h->type;
		(*out)[*n].obj = text_ref(h->obj);
		(*out)[*n].old = text_ref(h->old);
		(*n)++;
	}
	return 0;
}

struct keyed_obj {
	char *key;
	struct sim_obj *obj; /* NULL: absent at the rewound resourceVersion */
	UT_hash_handle hh;
};

static struct keyed_obj *keyed_add(struct keyed_obj **map, char *key, struct sim_obj *obj)
{
	struct keyed_obj *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->key = key;
	k->obj = obj;
	HASH_ADD_KEYPTR(hh, *map, k->key, strlen(k->key), k);
	return k;
}

/* Applies the undo events (newest first) to `all` (the current objects of t, with keys): an
 * ADDED object goes, a MODIFIED or DELETED one gets its previous version back. Leaves `all`
 * holding the objects as they were before the oldest event, unsorted. 0 or KUBE_ENOMEM. */
static int snap_rewind(struct sim_snap *all, const struct sim_rtype *t,
		       const struct undo_ev *ev, size_t nev)
{
	struct keyed_obj *map = NULL, *k, *tmp;
	int rc = 0;
	for (size_t i = 0; i < all->n; i++) {
		if (!keyed_add(&map, all->keys[i], all->objs[i])) {
			obj_unref(all->objs[i]);
			free(all->keys[i]);
			rc = KUBE_ENOMEM;
		}
		cJSON_Delete(all->trees[i]);
	}
	all->n = 0;
	for (size_t i = 0; !rc && i < nev; i++) {
		cJSON *j = cJSON_ParseWithLength(ev[i].obj->s, ev[i].obj->len);
		char *key = j ? obj_key(t, kube_json_namespace(j), str_or_empty(kube_json_name(j)))
			      : NULL;
		cJSON_Delete(j);
		if (!key) {
			rc = KUBE_ENOMEM;
			break;
		}
		HASH_FIND_STR(map, key, k);
		if (k)
			free(key);
		else if (!(k = keyed_add(&map, key, NULL))) {
			free(key);
			rc = KUBE_ENOMEM;
			break;
		}
		obj_unref(k->obj);
		k->obj = NULL;
		if (ev[i].type != SIM_EV_ADDED && ev[i].old &&
		    !(k->obj = obj_of_text(text_ref(ev[i].old))))
			rc = KUBE_ENOMEM;
	}
	HASH_ITER(hh, map, k, tmp)
	{
		if (!rc && k->obj && snap_push_key(all, k->obj, k->key))
			rc = KUBE_ENOMEM;
		HASH_DEL(map, k);
		obj_unref(k->obj);
		free(k->key);
		free(k);
	}
	return rc;
}

/* The collected objects of a list: the current ones, or (for a continue token) the ones at the
 * token's resourceVersion. *list_rv receives the list's resourceVersion. */
static int list_collect(struct sim_store *s, const struct sim_rtype *t, const char *ns,
			const struct list_page *pg, struct sim_snap *all, uint64_t *list_rv,
			cJSON **status)
{
	struct undo_ev *undo = NULL;
	size_t nundo = 0;
	int expired = 0, future = 0;
	pthread_mutex_lock(&s->mu);
	int rc = collect_locked(s, t, ns, all);
	*list_rv = s->rv;
	if (!rc && pg->tok_rv > 0) {
		uint64_t trv = (uint64_t)pg->tok_rv;
		if (trv < s->hist_floor)
			expired = 1;
		else if (trv > s->rv)
			future = 1;
		else
			rc = undo_collect_locked(s, t, ns, trv, &undo, &nundo);
		*list_rv = trv;
	}
	pthread_mutex_unlock(&s->mu);
	if (!rc && nundo)
		rc = snap_rewind(all, t, undo, nundo);
	undo_free(undo, nundo);
	if (rc)
		return 500;
	if (expired)
		return fail_continue_expired(status, pg->start);
	if (future)
		return fail_bad(status, "invalid continue token: " CONTINUE_INVALID
			       ": its resourceVersion is newer than the server's");
	return snap_sort(all) ? 500 : 0;
}

static int do_list(struct sim_store *s, const struct sim_rtype *t, const struct sim_req *r,
		   struct sim_snap **out, cJSON **status)
{
	struct selectors sel;
	struct list_page pg;
	uint64_t list_rv = 0;
	int rc = list_page_parse(r, &pg, status);
	if (rc)
		return rc;
	rc = selectors_parse(r->label_selector, r->field_selector, &sel, status);
	if (rc) {
		free(pg.start);
		return rc;
	}
	struct sim_snap *all = snap_one(NULL, 0);
	struct sim_snap *res = snap_one(NULL, 0);
	if (!all || !res) {
		rc = 500;
		goto out;
	}
	rc = list_collect(s, t, r->ns, &pg, all, &list_rv, status);
	if (rc)
		goto out;
	snprintf(res->rv, sizeof(res->rv), "%llu", (unsigned long long)list_rv);
	const char *last_key = NULL;
	long more = 0; /* matching items after a full page */
	for (size_t i = 0; i < all->n; i++) {
		if (pg.start && strcmp(str_or_empty(all->keys[i]), pg.start) <= 0)
			continue;
		int match = 1;
		if (sel.l || sel.f) {
			/* A selector needs the tree: parse privately, keep it for the caller. */
			const cJSON *j = sim_snap_obj(all, i);
			match = j && selectors_match(&sel, j);
		}
		if (!match)
			continue;
		if (pg.limit && res->n == (size_t)pg.limit) {
			more++;
			if (sel.l || sel.f)
				break; /* no remainingItemCount with selectors: one more is enough */
			continue;
		}
		if (snap_push(res, all->objs[i])) {
			rc = 500;
			goto out;
		}
		res->trees[res->n - 1] = all->trees[i];
		all->trees[i] = NULL;
		last_key = all->keys[i];
	}
	if (more) {
		res->cont = continue_encode((long long)list_rv, str_or_empty(last_key));
		if (!res->cont) {
			rc = 500;
			goto out;
		}
		if (!sel.l && !sel.f)
			res->remaining = more;
	}
	rc = 200;
	if (out) {
		*out = res;
		res = NULL;
	}
out:
	selectors_free(&sel);
	free(pg.start);
	sim_snap_free(all);
	sim_snap_free(res);
	return rc;
}

static int ns_check_locked(struct sim_store *s, const struct sim_rtype *t, const cJSON *obj,
			   cJSON **status)
{
	if (!t->namespaced)
		return 0;
	const char *ns = kube_json_namespace(obj);
	struct nsinfo *n = ns_find_locked(s, ns);
	if (!n)
		return fail_ns_notfound(status, str_or_empty(ns));
	if (n->terminating) {
		char msg[600];
		snprintf(msg, sizeof(msg),
			 "%s \"%s\" is forbidden: unable to create new content in namespace %s "
			 "because it is being terminated",
			 t->resource, str_or_empty(kube_json_name(obj)), ns);
		cJSON *d = details_new(t, kube_json_name(obj), NULL);
		return fail(status, 403, "Forbidden", msg, d);
	}
	return 0;
}

static int do_create(struct sim_store *s, const struct sim_rtype *t, const struct sim_req *r,
		     struct sim_snap **out, cJSON **status)
{
	cJSON *obj = NULL;
	struct txn x = {0};
	int rc = unknown_fields_check(t, r, r->body, 1, status);
	if (rc)
		return rc;
	rc = prepare_create(s, t, r->version, r->ns, r->body, &obj, status);
	if (rc)
		return rc;
	struct sim_obj *o = obj_new(obj);
	if (!o) {
		cJSON_Delete(obj);
		return 500;
	}
	pthread_mutex_lock(&s->mu);
	rc = ns_check_locked(s, t, o->json, status);
	if (rc)
		goto unlock;
	if (entry_find_locked(s, t, kube_json_namespace(o->json), kube_json_name(o->json))) {
		char q[300], msg[700];
		qualified(t, q, sizeof(q));
		snprintf(msg, sizeof(msg), "%s \"%s\" already exists", q, kube_json_name(o->json));
		rc = fail(status, 409, "AlreadyExists", msg,
			  details_new(t, kube_json_name(o->json), NULL));
		goto unlock;
	}
	if (is_crd(t) && !(r->flags & SIM_WRITE_DRY_RUN)) {
		int reg_rc = sim_registry_add_crd(s->reg, o->json);
		if (reg_rc == KUBE_EALREADYEXISTS) {
			rc = fail_invalid1(status, t, kube_json_name(o->json), "FieldValueInvalid",
					   "spec.names.plural",
					   "Invalid value: the resource is served by a built-in type");
			goto unlock;
		}
		if (reg_rc) {
			rc = 500;
			goto unlock;
		}
	}
	if (r->flags & SIM_WRITE_DRY_RUN) {
		rc = 201;
		goto unlock;
	}
	rc = commit_insert_locked(s, &x, t, o) ? 500 : 201;
unlock:
	{
		uint64_t rv = s->rv;
		unlock_and_notify(s, &x);
		if (rc == 201 && out) {
			*out = snap_one(o, rv);
			if (!*out)
				rc = 500;
		}
	}
	if (rc == 201 && is_core_ns(t) && !(r->flags & SIM_WRITE_DRY_RUN))
		publish_root_ca(s, kube_json_name(o->json));
	obj_unref(o);
	return rc;
}

/* Update and patch: build from the current version outside the lock, commit if unchanged. */
static int do_write(struct sim_store *s, const struct sim_rtype *t, const struct sim_req *r,
		    struct sim_snap **out, cJSON **status)
{
	int rc = 500;
	int is_patch = r->verb == SIM_PATCH;
	const char *sub = r->subresource;
	if (sub && strcmp(sub, "status") != 0 && strcmp(sub, "scale") != 0)
		return fail_notfound(status, t, r->name);
	if (sub && ((strcmp(sub, "status") == 0 && !t->has_status) ||
		    (strcmp(sub, "scale") == 0 && !t->has_scale)))
		return fail_notfound(status, t, r->name);
	for (int attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
		struct txn x = {0};
		cJSON *next = NULL, *patched = NULL;
		struct sim_obj *o = NULL;
		pthread_mutex_lock(&s->mu);
		struct entry *e = entry_find_locked(s, t, r->ns, r->name);
		struct sim_obj *cur = e ? obj_ref(e->obj) : NULL;
		pthread_mutex_unlock(&s->mu);
		if (!cur) {
			const char *ct = str_or_empty(r->content_type);
			if (is_patch && strncmp(ct, "application/apply-patch", 23) == 0 && !sub) {
				struct sim_req cr = *r;
				cr.verb = SIM_CREATE;
				return do_create(s, t, &cr, out, status);
			}
			return fail_notfound(status, t, r->name);
		}
		const cJSON *body = r->body;
		/* cur may still be in the store (cold): work on a private tree */
		cJSON *cur_json = obj_copy_tree(cur);
		if (!cur_json) {
			obj_unref(cur);
			return 500;
		}
		if (is_patch) {
			int scale = sub && strcmp(sub, "scale") == 0;
			patched = scale ? scale_of(t, cur_json) : cJSON_Duplicate(cur_json, 1);
			if (!patched) {
				cJSON_Delete(cur_json);
				obj_unref(cur);
				return 500;
			}
			rc = apply_patch(t, r->content_type, r->body, &patched, status);
			if (rc) {
				cJSON_Delete(patched);
				cJSON_Delete(cur_json);
				obj_unref(cur);
				return rc;
			}
			body = patched;
		}
		rc = unknown_fields_check(t, r, body, attempt == 0, status);
		if (!rc)
			rc = prepare_update(t, r->version, cur_json, body, sub, is_patch, &next,
					    status);
		cJSON_Delete(patched);
		if (rc) {
			cJSON_Delete(cur_json);
			obj_unref(cur);
			return rc;
		}
		/* A write that changes nothing is not a write: no new resourceVersion, no event. */
		set_rv(next, obj_rv(cur_json));
		int same = cJSON_Compare(next, cur_json, 1);
		int in_grace = grace_pending(cur_json);
		cJSON_Delete(cur_json);
		if (same) {
			cJSON_Delete(next);
			pthread_mutex_lock(&s->mu);
			uint64_t rv = s->rv;
			pthread_mutex_unlock(&s->mu);
			rc = 200;
			if (out) {
				*out = snap_one(cur, rv);
				if (!*out)
					rc = 500;
			}
			obj_unref(cur);
			return rc;
		}
		o = obj_new(next);
		if (!o) {
			cJSON_Delete(next);
			obj_unref(cur);
			return 500;
		}
		pthread_mutex_lock(&s->mu);
		e = entry_find_locked(s, t, r->ns, r->name);
		if (!e || e->obj != cur) {
			/* Changed meanwhile: retry against the new version (a request that named a
			 * resourceVersion then fails with 409 in prepare_update). */
			pthread_mutex_unlock(&s->mu);
			obj_unref(o);
			obj_unref(cur);
			continue;
		}
		if (is_crd(t) && !(r->flags & SIM_WRITE_DRY_RUN))
			sim_registry_add_crd(s->reg, o->json);
		struct sim_obj *result = obj_ref(o);
		if (!(r->flags & SIM_WRITE_DRY_RUN)) {
			if (kube_json_get_str(o->json, "metadata", "deletionTimestamp", NULL) &&
			    finalizers_empty(o->json) && !in_grace &&
			    !(is_core_ns(t) && ns_find_locked(s, kube_json_name(o->json)) &&
			      ns_find_locked(s, kube_json_name(o->json))->count > 0)) {
				struct sim_obj *removed = NULL;
				remove_locked(s, &x, t, e, o, &removed);
				if (removed) {
					obj_unref(result);
					result = removed;
				}
			} else {
				commit_replace_locked(s, &x, t, e, o);
			}
		}
		uint64_t rv = s->rv;
		unlock_and_notify(s, &x);
		rc = 200;
		if (out) {
			struct sim_obj *view = result;
			cJSON *sc = NULL;
			if (sub && strcmp(sub, "scale") == 0) {
				sc = scale_of(t, result->json);
				view = sc ? obj_new(sc) : NULL;
				if (!view)
					cJSON_Delete(sc);
			} else {
				obj_ref(view);
			}
			*out = view ? snap_one(view, rv) : NULL;
			if (!*out)
				rc = 500;
			obj_unref(view);
		}
		obj_unref(result);
		obj_unref(o);
		obj_unref(cur);
		return rc;
	}
	return fail_conflict(status, t, r->name);
}

static int is_default_ns(const char *name)
{
	return strcmp(name, "default") == 0 || strcmp(name, "kube-system") == 0 ||
	       strcmp(name, "kube-public") == 0;
}

struct del_ctx {
	const char *propagation;
	long grace;
	int dry_run;
};

static void delete_entry_cur_locked(struct sim_store *s, struct txn *x,
				    const struct sim_rtype *t, struct entry *e,
				    const struct del_ctx *d, struct sim_obj **result,
				    const cJSON *cur);

static void delete_entry_locked(struct sim_store *s, struct txn *x, const struct sim_rtype *t,
				struct entry *e, const struct del_ctx *d, struct sim_obj **result)
{
	cJSON *tmp = NULL;
	const cJSON *cur = obj_peek(e->obj, &tmp);
	if (cur)
		delete_entry_cur_locked(s, x, t, e, d, result, cur);
	cJSON_Delete(tmp);
}

/* Namespace deletion: mark it Terminating, delete everything in it; it goes when empty. */
static void delete_ns_contents_locked(struct sim_store *s, struct txn *x, const char *ns)
{
	struct coll *c, *ctmp;
	struct del_ctx d = {"Background", 0, 0};
	HASH_ITER(hh, s->colls, c, ctmp)
	{
		const char *slash = strchr(c->key, '/');
		char group[256];
		snprintf(group, sizeof(group), "%.*s", (int)(slash - c->key), c->key);
		const struct sim_rtype *t = sim_registry_find(s->reg, group, slash + 1);
		if (!t || !t->namespaced)
			continue;
		struct entry *e, *tmp;
		size_t nslen = strlen(ns);
		HASH_ITER(hh, c->objs, e, tmp)
		{
			if (strncmp(e->key, ns, nslen) != 0 || e->key[nslen] != '/')
				continue;
			delete_entry_locked(s, x, t, e, &d, NULL);
		}
	}
}

/* Marks an object for deletion (finalizers, graceful pods, foreground/orphan) or removes it.
 * cur is e's tree (private). */
static void delete_entry_cur_locked(struct sim_store *s, struct txn *x,
				    const struct sim_rtype *t, struct entry *e,
				    const struct del_ctx *d, struct sim_obj **result,
				    const cJSON *cur)
{
	const char *prop = d->propagation;
	int fg = prop && strcmp(prop, "Foreground") == 0;
	int orphan = prop && strcmp(prop, "Orphan") == 0;
	int ns = is_core_ns(t);
	long grace = 0;
	int graceful = 0;
	if (!*t->group && strcmp(t->resource, "pods") == 0 && s->pod_grace) {
		const char *phase = kube_json_get_str(cur, "status", "phase", NULL);
		double g = 30;
		kube_json_get_num(cur, &g, "spec", "terminationGracePeriodSeconds", NULL);
		grace = d->grace >= 0 ? d->grace : (long)g;
		graceful = grace > 0 && kube_json_get_str(cur, "spec", "nodeName", NULL) &&
			   !(phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0));
	}
	int marked = kube_json_get_str(cur, "metadata", "deletionTimestamp", NULL) != NULL;
	int mark = ns || fg || orphan || graceful || !finalizers_empty(cur);
	if (d->dry_run) {
		if (result)
			*result = obj_ref(e->obj);
		return;
	}
	if (!mark) {
		remove_locked(s, x, t, e, NULL, result);
		return;
	}
	if (marked) {
		/* A repeated DELETE changes nothing, except that a pod's grace may shorten. */
		if (graceful || !(grace == 0 && !*t->group && strcmp(t->resource, "pods") == 0 &&
				  finalizers_empty(cur))) {
			if (result)
				*result = obj_ref(e->obj);
			return;
		}
		remove_locked(s, x, t, e, NULL, result);
		return;
	}
	cJSON *next = cJSON_Duplicate(cur, 1);
	struct sim_obj *o = next ? obj_new(next) : NULL;
	if (!o) {
		cJSON_Delete(next);
		return;
	}
	char now[32];
	sim_now_rfc3339(now, sizeof(now));
	cJSON *md = kube_json_ensure_obj(next, "metadata");
	set_str(md, "deletionTimestamp", now);
	set_num(md, "deletionGracePeriodSeconds", (double)grace);
	double g = 0;
	if (kube_json_get_num(md, &g, "generation", NULL) && g > 0)
		set_num(md, "generation", g + 1);
	if (fg)
		add_finalizer(next, "foregroundDeletion");
	if (orphan)
		add_finalizer(next, "orphan");
	if (ns)
		set_str(kube_json_ensure_obj(next, "status"), "phase", "Terminating");
	commit_replace_locked(s, x, t, e, o);
	if (result)
		*result = obj_ref(o);
	if (ns) {
		const char *name = kube_json_name(next);
		struct nsinfo *n = ns_find_locked(s, name);
		if (n) {
			n->terminating = 1;
			delete_ns_contents_locked(s, x, name);
			/* the namespace entry may be gone now; look it up again */
			n = ns_find_locked(s, name);
			if (n && n->count == 0) {
				struct entry *ne = entry_find_locked(s, t, NULL, name);
				if (ne)
					remove_locked(s, x, t, ne, NULL, NULL);
			}
		}
	}
	obj_unref(o);
}

static int do_delete(struct sim_store *s, const struct sim_rtype *t, const struct sim_req *r,
		     struct sim_snap **out, cJSON **status)
{
	int rc;
	struct txn x = {0};
	struct sim_obj *result = NULL;
	cJSON *cur_tmp = NULL;
	const cJSON *cur = NULL;
	if (is_core_ns(t) && r->name && is_default_ns(r->name)) {
		char msg[400];
		snprintf(msg, sizeof(msg),
			 "namespaces \"%s\" is forbidden: this namespace may not be deleted", r->name);
		return fail(status, 403, "Forbidden", msg, details_new(t, r->name, NULL));
	}
	pthread_mutex_lock(&s->mu);
	struct entry *e = entry_find_locked(s, t, r->ns, r->name);
	if (!e) {
		rc = fail_notfound(status, t, r->name);
		goto unlock;
	}
	cur = obj_peek(e->obj, &cur_tmp);
	if (!cur) {
		rc = 500;
		goto unlock;
	}
	if (r->precondition_uid && *r->precondition_uid &&
	    strcmp(r->precondition_uid, str_or_empty(kube_json_uid(cur))) != 0) {
		char msg[600];
		snprintf(msg, sizeof(msg),
			 "Precondition failed: UID in precondition: %s, UID in object meta: %s",
			 r->precondition_uid, str_or_empty(kube_json_uid(cur)));
		rc = fail(status, 409, "Conflict", msg, details_new(t, r->name, NULL));
		goto unlock;
	}
	if (r->precondition_rv && *r->precondition_rv &&
	    strcmp(r->precondition_rv, str_or_empty(kube_json_resource_version(cur))) != 0) {
		rc = fail_conflict(status, t, r->name);
		goto unlock;
	}
	struct del_ctx d = {r->propagation, r->grace_seconds, (r->flags & SIM_WRITE_DRY_RUN) != 0};
	delete_entry_cur_locked(s, &x, t, e, &d, &result, cur);
	rc = 200;
unlock:
	{
		uint64_t rv = s->rv;
		unlock_and_notify(s, &x);
		if (rc == 200 && out) {
			*out = snap_one(result, rv);
			if (!*out)
				rc = 500;
		}
	}
	obj_unref(result);
	cJSON_Delete(cur_tmp);
	return rc;
}

static int do_delete_collection(struct sim_store *s, const struct sim_rtype *t,
				const struct sim_req *r, struct sim_snap **out, cJSON **status)
{
	struct sim_snap *matched = NULL;
	struct sim_req lr = *r;
	lr.verb = SIM_LIST;
	lr.limit = 0;
	lr.continue_token = NULL;
	lr.resource_version = NULL;
	int rc = do_list(s, t, &lr, &matched, status);
	if (rc != 200)
		return rc;
	struct sim_snap *res = snap_one(NULL, 0);
	if (!res) {
		sim_snap_free(matched);
		return 500;
	}
	for (size_t i = 0; i < matched->n; i++) {
		struct sim_req dr = *r;
		struct sim_snap *one = NULL;
		dr.verb = SIM_DELETE;
		const cJSON *mj = sim_snap_obj(matched, i);
		if (!mj)
			continue;
		dr.ns = kube_json_namespace(mj);
		dr.name = kube_json_name(mj);
		if (is_core_ns(t) && is_default_ns(dr.name))
			continue;
		if (do_delete(s, t, &dr, &one, NULL) == 200 && one && one->n)
			snap_push(res, one->objs[0]);
		sim_snap_free(one);
	}
	snprintf(res->rv, sizeof(res->rv), "%llu", (unsigned long long)sim_store_rv(s));
	sim_snap_free(matched);
	if (out)
		*out = res;
	else
		sim_snap_free(res);
	return 200;
}

int sim_store_do(struct sim_store *s, const struct sim_req *r, struct sim_snap **out,
		 cJSON **status)
{
	if (out)
		*out = NULL;
	if (status)
		*status = NULL;
	const struct sim_rtype *t = resolve(s, r, status);
	if (!t)
		return 404;
	int needs_name = r->verb != SIM_LIST && r->verb != SIM_DELETE_COLLECTION &&
			 r->verb != SIM_CREATE;
	if (needs_name && (!r->name || !*r->name))
		return fail(status, 405, "MethodNotAllowed", "the server does not allow this method "
			    "on the requested resource", NULL);
	if (t->namespaced && needs_name && (!r->ns || !*r->ns))
		return fail_bad(status, "a namespace is required for a namespaced resource");
	switch (r->verb) {
	case SIM_GET:
		return do_get(s, t, r, out, status);
	case SIM_LIST:
		return do_list(s, t, r, out, status);
	case SIM_CREATE:
		if (r->subresource)
			return fail(status, 405, "MethodNotAllowed",
				    "the server does not allow this method on the requested resource",
				    NULL);
		return do_create(s, t, r, out, status);
	case SIM_UPDATE:
	case SIM_PATCH:
		return do_write(s, t, r, out, status);
	case SIM_DELETE:
		return do_delete(s, t, r, out, status);
	case SIM_DELETE_COLLECTION:
		return do_delete_collection(s, t, r, out, status);
	}
	return fail_bad(status, "unknown verb");
}

/* ---- cJSON wrappers */

static int wrap_one(int rc, struct sim_snap *snap, cJSON **out)
{
	if (out)
		*out = NULL;
	if (rc < 400 && out && snap && snap->n) {
		const cJSON *j = sim_snap_obj(snap, 0);
		*out = j ? cJSON_Duplicate(j, 1) : NULL;
		if (!*out)
			rc = 500;
	}
	sim_snap_free(snap);
	return rc;
}

int sim_store_get(struct sim_store *s, const char *group, const char *resource, const char *ns,
		  const char *name, cJSON **out, cJSON **status)
{
	struct sim_req r = {.verb = SIM_GET, .group = group, .resource = resource, .ns = ns,
			    .name = name, .grace_seconds = -1};
	struct sim_snap *snap = NULL;
	int rc = sim_store_do(s, &r, &snap, status);
	return wrap_one(rc, snap, out);
}

int sim_store_get_sub(struct sim_store *s, const char *group, const char *resource,
		      const char *ns, const char *name, const char *subresource, cJSON **out,
		      cJSON **status)
{
	struct sim_req r = {.verb = SIM_GET, .group = group, .resource = resource, .ns = ns,
			    .name = name, .subresource = subresource, .grace_seconds = -1};
	struct sim_snap *snap = NULL;
	int rc = sim_store_do(s, &r, &snap, status);
	return wrap_one(rc, snap, out);
}

int sim_store_list(struct sim_store *s, const char *group, const char *resource, const char *ns,
		   const char *label_selector, const char *field_selector, cJSON **items,
		   char **rv, cJSON **status)
{
	struct sim_req r = {.verb = SIM_LIST, .group = group, .resource = resource, .ns = ns,
			    .label_selector = label_selector, .field_selector = field_selector,
			    .grace_seconds = -1};
	struct sim_snap *snap = NULL;
	int rc = sim_store_do(s, &r, &snap, status);
	if (items)
		*items = NULL;
	if (rv)
		*rv = NULL;
	if (rc == 200) {
		cJSON *arr = cJSON_CreateArray();
		for (size_t i = 0; arr && i < snap->n; i++)
			cJSON_AddItemToArray(arr, cJSON_Duplicate(sim_snap_obj(snap, i), 1));
		if (items)
			*items = arr;
		else
			cJSON_Delete(arr);
		if (rv)
			*rv = strdup(snap->rv);
	}
	sim_snap_free(snap);
	return rc;
}

int sim_store_create(struct sim_store *s, const char *group, const char *resource,
		     const char *ns, const cJSON *obj, unsigned flags, cJSON **out,
		     cJSON **status)
{
	struct sim_req r = {.verb = SIM_CREATE, .group = group, .resource = resource, .ns = ns,
			    .body = obj, .flags = flags, .grace_seconds = -1};
	struct sim_snap *snap = NULL;
	int rc = sim_store_do(s, &r, &snap, status);
	return wrap_one(rc, snap, out);
}

int sim_store_update(struct sim_store *s, const char *group, const char *resource,
		     const char *ns, const char *name, const char *subresource, const cJSON *obj,
		     unsigned flags, cJSON **out, cJSON **status)
{
	struct sim_req r = {.verb = SIM_UPDATE, .group = group, .resource = resource, .ns = ns,
			    .name = name, .subresource = subresource, .body = obj, .flags = flags,
			    .grace_seconds = -1};
	struct sim_snap *snap = NULL;
	int rc = sim_store_do(s, &r, &snap, status);
	return wrap_one(rc, snap, out);
}

int sim_store_patch(struct sim_store *s, const char *group, const char *resource,
		    const char *ns, const char *name, const char *subresource,
		    const char *content_type, const cJSON *patch, unsigned flags, cJSON **out,
		    cJSON **status)
{
	struct sim_req r = {.verb = SIM_PATCH, .group = group, .resource = resource, .ns = ns,
			    .name = name, .subresource = subresource, .body = patch,
			    .content_type = content_type, .flags = flags, .grace_seconds = -1};
	struct sim_snap *snap = NULL;
	int rc = sim_store_do(s, &r, &snap, status);
	return wrap_one(rc, snap, out);
}

int sim_store_delete(struct sim_store *s, const char *group, const char *resource,
		     const char *ns, const char *name, const char *propagation,
		     long grace_seconds, const char *precondition_uid,
		     const char *precondition_rv, unsigned flags, cJSON **out, cJSON **status)
{
	struct sim_req r = {.verb = SIM_DELETE, .group = group, .resource = resource, .ns = ns,
			    .name = name, .propagation = propagation, .grace_seconds = grace_seconds,
			    .precondition_uid = precondition_uid, .precondition_rv = precondition_rv,
			    .flags = flags};
	struct sim_snap *snap = NULL;
	int rc = sim_store_do(s, &r, &snap, status);
	return wrap_one(rc, snap, out);
}

int sim_store_delete_collection(struct sim_store *s, const char *group, const char *resource,
				const char *ns, const char *label_selector,
				const char *field_selector, const char *propagation,
				long grace_seconds, unsigned flags, cJSON **out,
				cJSON **status)
{
	struct sim_req r = {.verb = SIM_DELETE_COLLECTION, .group = group, .resource = resource,
			    .ns = ns, .label_selector = label_selector,
			    .field_selector = field_selector, .propagation = propagation,
			    .grace_seconds = grace_seconds, .flags = flags};
	struct sim_snap *snap = NULL;
	int rc = sim_store_do(s, &r, &snap, status);
	if (out)
		*out = NULL;
	if (rc == 200 && out) {
		cJSON *list = cJSON_CreateObject();
		cJSON_AddStringToObject(list, "kind", "List");
		cJSON_AddStringToObject(list, "apiVersion", "v1");
		cJSON *md = cJSON_AddObjectToObject(list, "metadata");
		cJSON_AddStringToObject(md, "resourceVersion", snap->rv);
		cJSON *items = cJSON_AddArrayToObject(list, "items");
		for (size_t i = 0; i < snap->n; i++)
			cJSON_AddItemToArray(items, cJSON_Duplicate(sim_snap_obj(snap, i), 1));
		*out = list;
	}
	sim_snap_free(snap);
	return rc;
}

/* ---- lifecycle and controls */

static void create_default_namespaces(struct sim_store *s)
{
	static const char *names[] = {"default", "kube-system", "kube-public", "kube-node-lease"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cJSON *ns = cJSON_CreateObject();
		cJSON_AddStringToObject(ns, "apiVersion", "v1");
		cJSON_AddStringToObject(ns, "kind", "Namespace");
		cJSON *md = cJSON_AddObjectToObject(ns, "metadata");
		cJSON_AddStringToObject(md, "name", names[i]);
		sim_store_create(s, "", "namespaces", NULL, ns, 0, NULL, NULL);
		cJSON_Delete(ns);
	}
}

int sim_store_new(struct sim_registry *reg, size_t history_max, struct sim_store **out)
{
	struct sim_store *s = calloc(1, sizeof(*s));
	if (!s)
		return KUBE_ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->notify_mu, NULL);
	s->reg = reg;
	s->hist_cap = history_max ? history_max : DEFAULT_HISTORY;
	s->hist = calloc(s->hist_cap, sizeof(*s->hist));
	atomic_init(&s->ip_next, 8);
	if (!s->hist) {
		free(s);
		return KUBE_ENOMEM;
	}
	create_default_namespaces(s);
	*out = s;
	return 0;
}

static void clear_history_locked(struct sim_store *s)
{
	for (size_t i = 0; i < s->hist_len; i++)
		hist_ent_release(&s->hist[(s->hist_head + i) % s->hist_cap]);
	s->hist_head = 0;
	s->hist_len = 0;
	s->hist_floor = s->rv;
}

static void close_watches_locked(struct sim_store *s)
{
	for (struct sim_watch *w = s->watches; w; w = w->next) {
		pthread_mutex_lock(&w->mu);
		w->closed = 1;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
}

static void free_objects_locked(struct sim_store *s)
{
	struct coll *c, *ctmp;
	HASH_ITER(hh, s->colls, c, ctmp)
	{
		struct entry *e, *tmp;
		HASH_ITER(hh, c->objs, e, tmp)
		{
			HASH_DEL(c->objs, e);
			obj_unref(e->obj);
			free(e->key);
			free(e);
		}
		HASH_DEL(s->colls, c);
		free(c->key);
		free(c);
	}
	struct nsinfo *n, *ntmp;
	HASH_ITER(hh, s->nss, n, ntmp)
	{
		HASH_DEL(s->nss, n);
		free(n->name);
		free(n);
	}
}

void sim_store_free(struct sim_store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	close_watches_locked(s);
	for (struct sim_watch *w = s->watches; w; w = w->next)
		w->registered = 0;
	s->watches = NULL;
	clear_history_locked(s);
	free_objects_locked(s);
	pthread_mutex_unlock(&s->mu);
	free(s->hist);
	free(s->root_ca);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->notify_mu);
	free(s);
}

int sim_store_subscribe(struct sim_store *s, sim_store_change_fn fn, void *ud)
{
	int rc = KUBE_ENOMEM;
	pthread_mutex_lock(&s->mu);
	if (s->nsubs < MAX_SUBS) {
		s->subs[s->nsubs] = fn;
		s->subs_ud[s->nsubs] = ud;
		s->nsubs++;
		rc = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void sim_store_set_loopback_cluster_ips(struct sim_store *s, int on)
{
	/* Two kubesims on one machine share the loopback: start at a per-process offset so that
	 * their clusterIPs rarely collide (a collision shows as a listen error in the proxy). */
	if (on)
		atomic_store(&s->ip_next, 8u + ((unsigned)getpid() * 2654435761u) % 60000u);
	atomic_store(&s->ip_loopback, on);
}

int sim_store_set_sa_admission(struct sim_store *s, const char *ca_pem)
{
	if (!ca_pem || s->root_ca)
		return s->root_ca ? 0 : KUBE_EINVAL;
	s->root_ca = strdup(ca_pem);
	if (!s->root_ca)
		return KUBE_ENOMEM;
	cJSON *list = NULL, *st = NULL;
	const cJSON *ns;
	if (sim_store_list(s, "", "namespaces", NULL, NULL, NULL, &list, NULL, &st) == 200) {
		cJSON_ArrayForEach(ns, list)
			publish_root_ca(s, kube_json_name(ns));
	}
	cJSON_Delete(list);
	cJSON_Delete(st);
	return 0;
}

void sim_store_set_pod_grace(struct sim_store *s, int on)
{
	pthread_mutex_lock(&s->mu);
	s->pod_grace = on;
	pthread_mutex_unlock(&s->mu);
}

uint64_t sim_store_rv(struct sim_store *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t rv = s->rv;
	pthread_mutex_unlock(&s->mu);
	return rv;
}

void sim_store_compact(struct sim_store *s)
{
	pthread_mutex_lock(&s->mu);
	clear_history_locked(s);
	pthread_mutex_unlock(&s->mu);
}

void sim_store_close_watches(struct sim_store *s)
{
	pthread_mutex_lock(&s->mu);
	close_watches_locked(s);
	pthread_mutex_unlock(&s->mu);
}

void sim_store_reset(struct sim_store *s)
{
	struct txn x = {0};
	pthread_mutex_lock(&s->mu);
	close_watches_locked(s);
	/* Custom resources and CRDs first, then everything else, each with a DELETED event. */
	struct coll *c, *ctmp;
	HASH_ITER(hh, s->colls, c, ctmp)
	{
		const char *slash = strchr(c->key, '/');
		char group[256];
		snprintf(group, sizeof(group), "%.*s", (int)(slash - c->key), c->key);
		const struct sim_rtype *t = sim_registry_find(s->reg, group, slash + 1);
		if (!t)
			continue;
		struct entry *e, *tmp;
		HASH_ITER(hh, c->objs, e, tmp)
		{
			remove_locked(s, &x, t, e, NULL, NULL);
		}
	}
	sim_registry_remove_all_crds(s->reg);
	unlock_and_notify(s, &x);
	create_default_namespaces(s);
}

/* ---- watches */

int sim_store_watch(struct sim_store *s, const struct sim_watch_opts *o, struct sim_watch **out,
		    cJSON **status)
{
	int rc;
	struct sim_req r = {.group = o->group, .resource = o->resource};
	if (status)
		*status = NULL;
	const struct sim_rtype *t = resolve(s, &r, status);
	if (!t)
		return 404;
	struct selectors sel;
	rc = selectors_parse(o->label_selector, o->field_selector, &sel, status);
	if (rc)
		return rc;
	const char *rvs = o->resource_version;
	uint64_t start = 0;
	int from_now = !rvs || !*rvs || strcmp(rvs, "0") == 0;
	if (!from_now) {
		char *end = NULL;
		errno = 0;
		start = strtoull(rvs, &end, 10);
		if (errno || !end || *end) {
			selectors_free(&sel);
			char msg[300];
			snprintf(msg, sizeof(msg), "invalid resource version: %s", rvs);
			return fail_bad(status, msg);
		}
	}
	struct sim_watch *w = calloc(1, sizeof(*w));
	if (!w) {
		selectors_free(&sel);
		return 500;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->s = s;
	w->t = t;
	w->lsel = sel.l;
	w->fsel = sel.f;
	w->ns = (o->ns && *o->ns && t->namespaced) ? strdup(o->ns) : NULL;
	w->cap = o->queue_max ? o->queue_max : DEFAULT_QUEUE;

	struct sim_snap *init = NULL;
	pthread_mutex_lock(&s->mu);
	w->start_rv = s->rv;
	if (from_now || o->send_initial_events) {
		init = snap_one(NULL, 0);
		if (init)
			collect_locked(s, t, w->ns, init);
	} else if (start < s->hist_floor) {
		w->expired = 1;
		w->expired_rv = start;
		w->floor_rv = s->hist_floor;
	} else {
		/* Copy the matching history (text references) now; it is parsed lazily by
		 * sim_watch_next, outside the store lock, before any live event. */
		size_t pending = 0;
		for (size_t i = 0; i < s->hist_len; i++) {
			struct hist_ent *h = &s->hist[(s->hist_head + i) % s->hist_cap];
			if (h->rv > start && watch_wants(w, h->t, h->ns))
				pending++;
		}
		w->replay = pending ? calloc(pending, sizeof(*w->replay)) : NULL;
		for (size_t i = 0; w->replay && i < s->hist_len; i++) {
			struct hist_ent *h = &s->hist[(s->hist_head + i) % s->hist_cap];
			if (h->rv <= start || !watch_wants(w, h->t, h->ns))
				continue;
			struct hist_ent *copy = &w->replay[w->nreplay++];
			*copy = *h;
			copy->ns = NULL; /* not needed any more */
			text_ref(copy->obj);
			text_ref(copy->old);
		}
	}
	w->q = calloc(w->cap, sizeof(*w->q));
	if (!w->q) {
		pthread_mutex_unlock(&s->mu);
		sim_snap_free(init);
		kube_selector_free(w->lsel);
		kube_selector_free(w->fsel);
		free(w->ns);
		free(w);
		return 500;
	}
	w->next = s->watches;
	if (s->watches)
		s->watches->prev = w;
	s->watches = w;
	w->registered = 1;
	pthread_mutex_unlock(&s->mu);
	if (init) {
		snap_sort(init);
		for (size_t i = 0; i < init->n; i++) {
			free(init->keys[i]);
			init->keys[i] = NULL;
		}
		w->init = init->objs;
		w->ninit = init->n;
		init->objs = NULL;
		init->n = 0;
		sim_snap_free(init);
	}
	w->init_bookmark = o->send_initial_events;
	*out = w;
	return 200;
}

static void watch_drop_current(struct sim_watch *w)
{
	event_unref(w->cur_ev);
	w->cur_ev = NULL;
	obj_unref(w->cur_obj);
	w->cur_obj = NULL;
	cJSON_Delete(w->cur_json_obj);
	w->cur_json_obj = NULL;
	free(w->cur_text);
	w->cur_text = NULL;
}

static int watch_matches(const struct sim_watch *w, const cJSON *obj)
{
	if (!obj)
		return 0;
	if (w->lsel && !kube_selector_matches_object(w->lsel, obj))
		return 0;
	if (w->fsel && !kube_field_selector_matches(w->fsel, obj))
		return 0;
	return 1;
}

static int deadline_passed(const struct timespec *dl)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return now.tv_sec > dl->tv_sec || (now.tv_sec == dl->tv_sec && now.tv_nsec >= dl->tv_nsec);
}

int sim_watch_next(struct sim_watch *w, int timeout_ms, enum sim_event_type *type,
		   const cJSON **obj, const char **json)
{
	watch_drop_current(w);
	if (w->expired == 1) {
		char msg[200];
		w->expired = 2;
		snprintf(msg, sizeof(msg), "too old resource version: %llu (%llu)",
			 (unsigned long long)w->expired_rv, (unsigned long long)w->floor_rv);
		w->cur_json_obj = sim_status_new(410, "Expired", msg, NULL);
		w->cur_text = w->cur_json_obj ? cJSON_PrintUnformatted(w->cur_json_obj) : NULL;
		*obj = w->cur_json_obj;
		*json = w->cur_text;
		return SIM_WATCH_EXPIRED;
	}
	if (w->expired == 2)
		return SIM_WATCH_CLOSED;
	while (w->replay_pos < w->nreplay) {
		struct hist_ent *h = &w->replay[w->replay_pos++];
		struct sim_event *e = calloc(1, sizeof(*e));
		if (e) {
			atomic_init(&e->refs, 1);
			e->type = h->type;
			e->rv = h->rv;
			e->t = h->t;
			e->obj = obj_from_text(h->obj);
			if (h->old && (w->lsel || w->fsel))
				e->old = obj_from_text(h->old);
		}
		hist_ent_release(h);
		if (!e || !e->obj) {
			event_unref(e);
			continue;
		}
		int now_match = watch_matches(w, e->obj->json);
		int was_match = e->type == SIM_EV_MODIFIED && e->old ? watch_matches(w, e->old->json)
								     : now_match;
		enum sim_event_type t = e->type;
		if (e->type == SIM_EV_MODIFIED && now_match != was_match)
			t = now_match ? SIM_EV_ADDED : SIM_EV_DELETED;
		if (!now_match && !was_match) {
			event_unref(e);
			continue;
		}
		w->cur_ev = e;
		*type = t;
		*obj = e->obj->json;
		*json = obj_text(e->obj);
		return 1;
	}
	while (w->init_pos < w->ninit) {
		struct sim_obj *o = w->init[w->init_pos];
		w->init[w->init_pos++] = NULL;
		const cJSON *tree = NULL;
		if (w->lsel || w->fsel) {
			/* these versions may still be in the store: parse privately */
			tree = obj_peek(o, &w->cur_json_obj);
			if (!watch_matches(w, tree)) {
				obj_unref(o);
				cJSON_Delete(w->cur_json_obj);
				w->cur_json_obj = NULL;
				continue;
			}
		}
		w->cur_obj = o;
		*type = SIM_EV_ADDED;
		*obj = tree;
		*json = obj_text(o);
		return 1;
	}
	if (w->init_bookmark) {
		w->init_bookmark = 0;
		cJSON *b = cJSON_CreateObject();
		char av[300], rv[24];
		if (*w->t->group)
			snprintf(av, sizeof(av), "%s/%s", w->t->group, w->t->versions[0]);
		else
			snprintf(av, sizeof(av), "%s", w->t->versions[0]);
		snprintf(rv, sizeof(rv), "%llu", (unsigned long long)w->start_rv);
		cJSON_AddStringToObject(b, "kind", w->t->kind);
		cJSON_AddStringToObject(b, "apiVersion", av);
		cJSON *md = cJSON_AddObjectToObject(b, "metadata");
		cJSON_AddStringToObject(md, "resourceVersion", rv);
		cJSON *ann = cJSON_AddObjectToObject(md, "annotations");
		cJSON_AddStringToObject(ann, "k8s.io/initial-events-end", "true");
		w->cur_json_obj = b;
		w->cur_text = cJSON_PrintUnformatted(b);
		*type = SIM_EV_BOOKMARK;
		*obj = b;
		*json = w->cur_text;
		return 1;
	}
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (w->len == 0 && !w->closed) {
			if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT)
				break;
		}
		if (w->len == 0) {
			int closed = w->closed;
			pthread_mutex_unlock(&w->mu);
			if (closed)
				return SIM_WATCH_CLOSED;
			return 0;
		}
		struct sim_event *e = w->q[w->head];
		w->q[w->head] = NULL;
		w->head = (w->head + 1) % w->cap;
		w->len--;
		pthread_mutex_unlock(&w->mu);
		int filtered = w->lsel || w->fsel;
		int now_match = !filtered || watch_matches(w, obj_tree(e->obj));
		int was_match = e->type == SIM_EV_MODIFIED && filtered
					? watch_matches(w, obj_tree(e->old))
					: now_match;
		enum sim_event_type t = e->type;
		if (e->type == SIM_EV_MODIFIED && now_match != was_match)
			t = now_match ? SIM_EV_ADDED : SIM_EV_DELETED;
		if (!now_match && !was_match) {
			event_unref(e);
			if (deadline_passed(&dl))
				return 0;
			continue;
		}
		w->cur_ev = e;
		*type = t;
		*obj = obj_tree(e->obj);
		*json = obj_text(e->obj);
		return 1;
	}
}

int sim_watch_bookmark_rv(struct sim_watch *w, uint64_t *rv)
{
	int ok = 0;
	if (w->expired || w->replay_pos < w->nreplay || w->init_pos < w->ninit || w->init_bookmark)
		return 0;
	/* Under the store lock no commit can be between "rv assigned" and "pushed to queues". */
	pthread_mutex_lock(&w->s->mu);
	pthread_mutex_lock(&w->mu);
	if (w->len == 0 && !w->closed) {
		*rv = w->s->rv;
		ok = 1;
	}
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_unlock(&w->s->mu);
	return ok;
}

void sim_watch_close(struct sim_watch *w)
{
	pthread_mutex_lock(&w->mu);
	w->closed = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void sim_watch_free(struct sim_watch *w)
{
	if (!w)
		return;
	struct sim_store *s = w->s;
	pthread_mutex_lock(&s->mu);
	if (w->registered) {
		if (w->prev)
			w->prev->next = w->next;
		else
			s->watches = w->next;
		if (w->next)
			w->next->prev = w->prev;
		w->registered = 0;
	}
	pthread_mutex_unlock(&s->mu);
	watch_drop_current(w);
	for (size_t i = 0; i < w->len; i++)
		event_unref(w->q[(w->head + i) % w->cap]);
	free(w->q);
	for (size_t i = w->init_pos; i < w->ninit; i++)
		obj_unref(w->init[i]);
	for (size_t i = w->replay_pos; i < w->nreplay; i++)
		hist_ent_release(&w->replay[i]);
	free(w->replay);
	free(w->init);
	kube_selector_free(w->lsel);
	kube_selector_free(w->fsel);
	free(w->ns);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
