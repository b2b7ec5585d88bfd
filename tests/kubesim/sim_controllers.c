/* The controller loop: copies the store's change events into a queue, and on one thread applies
 * them to the read caches and hands them to the kubelet, endpoints, GC, workload and job
 * controllers; runs their timers; coalesces their writes at the end of each batch. */
#include "sim_controllers.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uthash.h>

#include "kube_clock.h"
#include "kube_error.h"
#include "kube_log.h"
#include "kube_selector.h"
#include "kube_time.h"
#include "sim_control.h"
#include "sim_endpoints.h"
#include "sim_gc.h"
#include "sim_jobs.h"
#include "sim_kubelet.h"
#include "sim_server.h"
#include "sim_store.h"
#include "sim_workloads.h"

#define LOG_COMP "sim-ctl"

struct sim_event {
	char type[12];
	char *group, *resource;
	cJSON *obj, *old;
	int64_t mono_ms, wall_ms;
	struct sim_event *next;
};

struct sim_timer {
	int64_t due_ms;
	uint64_t seq;
	void (*fn)(struct sim_controllers *c, void *arg);
	void *arg;
	void (*free_arg)(void *arg);
	struct sim_timer *next;
};

struct cache_entry {
	UT_hash_handle hh;
	char *key; /* "ns/name" */
	cJSON *obj;
	uint64_t rv;
	int deleting; /* we deleted it; DELETED not seen yet */
};

struct sim_controllers {
	struct sim_server *srv;
	struct sim_store *store;
	struct kube_clock *clock;

	pthread_mutex_t qmu; /* queue, timers, stop */
	struct kube_cond *qcv;
	struct sim_event *qhead, *qtail;
	struct sim_timer *timers; /* sorted by (due, seq) */
	uint64_t timer_seq;
	int stop;

	pthread_mutex_t mu; /* everything below; held while handling */
	pthread_t thread;
	int thread_started;
	int64_t ev_ms, ev_wall_ms;
	struct cache_entry *cache[SIM_K_COUNT];
	int nodes;

	struct sim_kubelet *kubelet;
	struct sim_endpoints *endpoints;
	struct sim_gc *gc;
	struct sim_workloads *workloads;
	struct sim_jobs *jobs;
	struct sim_control *control;
};

/* ---- JSON and time helpers ---- */

const cJSON *sim_j_at(const cJSON *obj, const char *path)
{
	char key[128];
	const char *p = path, *dot;

	while (obj && p && *p) {
		size_t n;

		dot = strchr(p, '.');
		n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		if (!cJSON_IsObject(obj))
			return NULL;
		obj = cJSON_GetObjectItemCaseSensitive(obj, key);
		p = dot ? dot + 1 : NULL;
	}
	return obj;
}

const char *sim_j_str(const cJSON *obj, const char *path)
{
	const cJSON *v = sim_j_at(obj, path);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int64_t sim_j_int(const cJSON *obj, const char *path, int64_t def)
{
	const cJSON *v = sim_j_at(obj, path);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : def;
}

int sim_j_bool(const cJSON *obj, const char *path, int def)
{
	const cJSON *v = sim_j_at(obj, path);

	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v);
	return def;
}

cJSON *sim_j_obj(cJSON *obj, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (cJSON_IsObject(v))
		return v;
	v = cJSON_CreateObject();
	if (!v)
		return NULL;
	sim_j_set(obj, name, v);
	return v;
}

void sim_j_set(cJSON *obj, const char *name, cJSON *value)
{
	if (!obj || !value) {
		cJSON_Delete(value);
		return;
	}
	if (cJSON_GetObjectItemCaseSensitive(obj, name))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, name, value);
	else
		cJSON_AddItemToObject(obj, name, value);
}

void sim_j_set_str(cJSON *obj, const char *name, const char *value)
{
	sim_j_set(obj, name, cJSON_CreateString(value ? value : ""));
}

void sim_j_set_num(cJSON *obj, const char *name, double value)
{
	sim_j_set(obj, name, cJSON_CreateNumber(value));
}

void sim_j_set_bool(cJSON *obj, const char *name, int value)
{
	sim_j_set(obj, name, cJSON_CreateBool(value));
}

void sim_ctl_time_format(int64_t wall_ms, int frac_digits, char *buf, size_t len)
{
	char micro[KUBE_MICROTIME_LEN];
	int64_t secs = wall_ms / 1000 - (wall_ms % 1000 < 0);

	if (len == 0)
		return;
	buf[0] = '\0';
	if (frac_digits < 3) {
		kube_time_format(secs, buf, len);
		return;
	}
	/* MicroTime of a millisecond value is ".mmm000Z"; three digits cut after the ms. */
	if (kube_time_format_micro(wall_ms * 1000000, micro, sizeof(micro)) == NULL)
		return;
	if (frac_digits < 6) {
		micro[23] = 'Z';
		micro[24] = '\0';
	}
	snprintf(buf, len, "%s", micro);
}

int64_t sim_ctl_time_parse(const char *s)
{
	int64_t ms = 0;

	if (kube_time_parse_ms(s, &ms) != 0)
		return -1;
	return ms;
}

int sim_condition_true(const cJSON *obj, const char *type)
{
	const cJSON *cnd;

	cJSON_ArrayForEach(cnd, sim_j_at(obj, "status.conditions")) {
		const char *t = sim_j_str(cnd, "type"), *st = sim_j_str(cnd, "status");

		if (t && st && strcmp(t, type) == 0)
			return strcmp(st, "True") == 0;
	}
	return 0;
}

int sim_selector_map_match(const cJSON *selector, const cJSON *labels)
{
	const cJSON *kv;
	int any = 0;

	if (!cJSON_IsObject(selector))
		return 0;
	cJSON_ArrayForEach(kv, selector) {
		const cJSON *l = labels ? cJSON_GetObjectItemCaseSensitive(labels, kv->string) : NULL;

		any = 1;
		if (!cJSON_IsString(kv) || !cJSON_IsString(l) ||
		    strcmp(kv->valuestring, l->valuestring) != 0)
			return 0;
	}
	return any;
}

int sim_label_selector_match(const cJSON *selector, const cJSON *labels)
{
	struct kube_selector *sel = NULL;
	int ok;

	if (!selector)
		return 0;
	if (kube_selector_from_object(selector, &sel, NULL) != 0)
		return 0;
	ok = kube_selector_matches(sel, labels);
	kube_selector_free(sel);
	return ok;
}

int sim_is_controlled_by(const cJSON *obj, const char *owner_uid)
{
	const cJSON *ref;

	if (!owner_uid)
		return 0;
	cJSON_ArrayForEach(ref, sim_j_at(obj, "metadata.ownerReferences")) {
		const char *uid = sim_j_str(ref, "uid");

		if (uid && strcmp(uid, owner_uid) == 0 && sim_j_bool(ref, "controller", 0))
			return 1;
	}
	return 0;
}

/* ---- Accessors ---- */

struct sim_store *sim_ctl_store(struct sim_controllers *c)
{
	return c->store;
}

struct sim_server *sim_ctl_server(struct sim_controllers *c)
{
	return c->srv;
}

int64_t sim_ctl_now_ms(struct sim_controllers *c)
{
	return kube_clock_now(c ? c->clock : NULL) / KUBE_NS_PER_MS;
}

int64_t sim_ctl_wall_ms(struct sim_controllers *c)
{
	return kube_clock_wall(c ? c->clock : NULL) / KUBE_NS_PER_MS;
}

int64_t sim_ctl_event_ms(struct sim_controllers *c)
{
	return c->ev_ms > 0 ? c->ev_ms : sim_ctl_now_ms(c);
}

int64_t sim_ctl_event_wall_ms(struct sim_controllers *c)
{
	return c->ev_wall_ms > 0 ? c->ev_wall_ms : sim_ctl_wall_ms(c);
}

struct sim_kubelet *sim_ctl_kubelet(struct sim_controllers *c)
{
	return c->kubelet;
}

struct sim_endpoints *sim_ctl_endpoints(struct sim_controllers *c)
{
	return c->endpoints;
}

struct sim_gc *sim_ctl_gc(struct sim_controllers *c)
{
	return c->gc;
}

struct sim_workloads *sim_ctl_workloads(struct sim_controllers *c)
{
	return c->workloads;
}

struct sim_jobs *sim_ctl_jobs(struct sim_controllers *c)
{
	return c->jobs;
}

void sim_ctl_lock(struct sim_controllers *c)
{
	pthread_mutex_lock(&c->mu);
}

void sim_ctl_unlock(struct sim_controllers *c)
{
	pthread_mutex_unlock(&c->mu);
}


/* ---- Caches ---- */

static int kind_of(const char *group, const char *resource)
{
	if (strcmp(group, "") == 0) {
		if (strcmp(resource, "pods") == 0)
			return SIM_K_PODS;
		if (strcmp(resource, "services") == 0)
			return SIM_K_SERVICES;
		if (strcmp(resource, "nodes") == 0)
			return SIM_K_NODES;
	} else if (strcmp(group, "apps") == 0) {
		if (strcmp(resource, "deployments") == 0)
			return SIM_K_DEPLOYMENTS;
		if (strcmp(resource, "replicasets") == 0)
			return SIM_K_REPLICASETS;
	} else if (strcmp(group, "batch") == 0 && strcmp(resource, "jobs") == 0) {
		return SIM_K_JOBS;
	}
	return -1;
}

/* ---- Trimmed copies ----
 * The controllers copy every committed object; copying only what they read keeps the queue and
 * the caches small (helm's release Secrets, kubectl's last-applied annotations, containerStatuses
 * the kubelet rebuilds anyway). */

static const char *const meta_keys[] = {
	"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
	"deletionTimestamp", "deletionGracePeriodSeconds", "labels", "ownerReferences", "finalizers",
	"generateName",
};

/* apiVersion, kind and the metadata the GC needs. */
static cJSON *copy_meta(const cJSON *obj)
{
	cJSON *o = cJSON_CreateObject(), *meta;
	const cJSON *m = sim_j_at(obj, "metadata");
	size_t i;

	if (!o)
		return NULL;
	if (sim_j_at(obj, "apiVersion"))
		cJSON_AddItemToObject(o, "apiVersion", cJSON_Duplicate(sim_j_at(obj, "apiVersion"), 1));
	if (sim_j_at(obj, "kind"))
		cJSON_AddItemToObject(o, "kind", cJSON_Duplicate(sim_j_at(obj, "kind"), 1));
	meta = cJSON_AddObjectToObject(o, "metadata");
	for (i = 0; m && i < sizeof(meta_keys) / sizeof(meta_keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, meta_keys[i]);

		if (v)
			cJSON_AddItemToObject(meta, meta_keys[i], cJSON_Duplicate(v, 1));
	}
	return o;
}

/* What the controllers keep of an object of kind k (-1: not cached, metadata only). */
static cJSON *copy_view(int k, const cJSON *obj)
{
	cJSON *o, *ann, *st;
	const cJSON *v;

	if (k < 0)
		return copy_meta(obj);
	o = copy_meta(obj);
	if (!o)
		return NULL;
	cJSON_ArrayForEach(v, obj) {
		if (strcmp(v->string, "metadata") == 0 || strcmp(v->string, "apiVersion") == 0 ||
		    strcmp(v->string, "kind") == 0)
			continue;
		cJSON_AddItemToObject(o, v->string, cJSON_Duplicate(v, 1));
	}
	/* Annotations: the deployment controller reads its revisions; nothing reads the rest. */
	ann = (cJSON *)sim_j_at(obj, "metadata.annotations");
	if (ann && (k == SIM_K_DEPLOYMENTS || k == SIM_K_REPLICASETS)) {
		cJSON *copy = cJSON_Duplicate(ann, 1);

		cJSON_DeleteItemFromObjectCaseSensitive(copy, "kubectl.kubernetes.io/last-applied-configuration");
		sim_j_set(sim_j_obj(o, "metadata"), "annotations", copy);
	}
	if (k == SIM_K_PODS) {
		st = cJSON_GetObjectItemCaseSensitive(o, "status");
		cJSON_DeleteItemFromObjectCaseSensitive(st, "containerStatuses");
		cJSON_DeleteItemFromObjectCaseSensitive(st, "initContainerStatuses");
		cJSON_DeleteItemFromObjectCaseSensitive(st, "ephemeralContainerStatuses");
		cJSON_DeleteItemFromObjectCaseSensitive(st, "podIPs");
		cJSON_DeleteItemFromObjectCaseSensitive(st, "hostIPs");
	}
	return o;
}

/* For pods the endpoints controller compares the old labels; nothing else reads `old`. */
static cJSON *copy_old(int k, const cJSON *old)
{
	cJSON *o;
	const cJSON *labels = sim_j_at(old, "metadata.labels");

	if (k != SIM_K_PODS || !old)
		return NULL;
	o = cJSON_CreateObject();
	if (o && labels)
		sim_j_set(sim_j_obj(o, "metadata"), "labels", cJSON_Duplicate(labels, 1));
	return o;
}


static void cache_key(const char *ns, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", ns ? ns : "", name ? name : "");
}

static uint64_t obj_rv(const cJSON *obj)
{
	const char *rv = sim_j_str(obj, "metadata.resourceVersion");

	return rv ? strtoull(rv, NULL, 10) : 0;
}

static void entry_free(struct cache_entry *e)
{
	cJSON_Delete(e->obj);
	free(e->key);
	free(e);
}

static struct cache_entry *cache_find(struct sim_controllers *c, int k, const char *ns,
				      const char *name)
{
	struct cache_entry *e = NULL;
	char key[512];

	cache_key(ns, name, key, sizeof(key));
	HASH_FIND_STR(c->cache[k], key, e);
	return e;
}

/* Applies a committed version (event or our own write). Older versions never replace newer. */
static void cache_put(struct sim_controllers *c, int k, const cJSON *obj, int added)
{
	const char *ns = sim_j_str(obj, "metadata.namespace");
	const char *name = sim_j_str(obj, "metadata.name");
	struct cache_entry *e = cache_find(c, k, ns, name);
	uint64_t rv = obj_rv(obj);
	char key[512];
	cJSON *copy;

	if (e) {
		const char *a = sim_j_str(e->obj, "metadata.uid");
		const char *b = sim_j_str(obj, "metadata.uid");
		int same = a && b && strcmp(a, b) == 0;

		if (same && rv <= e->rv)
			return;
		if (!same && !added)
			return; /* a late event of an earlier object of that name */
		copy = copy_view(k, obj);
		if (!copy)
			return;
		cJSON_Delete(e->obj);
		e->obj = copy;
		e->rv = rv;
		if (!same)
			e->deleting = 0;
		return;
	}
	if (!added)
		return; /* MODIFIED after our own delete or a reset: the object is gone */
	e = calloc(1, sizeof(*e));
	cache_key(ns, name, key, sizeof(key));
	if (!e)
		return;
	e->key = strdup(key);
	e->obj = copy_view(k, obj);
	e->rv = rv;
	if (!e->key || !e->obj) {
		entry_free(e);
		return;
	}
	HASH_ADD_KEYPTR(hh, c->cache[k], e->key, strlen(e->key), e);
}

static void cache_remove(struct sim_controllers *c, int k, const cJSON *obj)
{
	struct cache_entry *e = cache_find(c, k, sim_j_str(obj, "metadata.namespace"),
					   sim_j_str(obj, "metadata.name"));
	const char *a, *b;

	if (!e)
		return;
	a = sim_j_str(e->obj, "metadata.uid");
	b = sim_j_str(obj, "metadata.uid");
	if (a && b && strcmp(a, b) != 0)
		return;
	HASH_DEL(c->cache[k], e);
	entry_free(e);
}

static void cache_clear(struct sim_controllers *c)
{
	int k;

	for (k = 0; k < SIM_K_COUNT; k++) {
		struct cache_entry *e, *tmp;

		HASH_ITER(hh, c->cache[k], e, tmp) {
			HASH_DEL(c->cache[k], e);
			entry_free(e);
		}
	}
}

const cJSON *sim_cache_get(struct sim_controllers *c, enum sim_kind k, const char *ns,
			   const char *name)
{
	struct cache_entry *e = cache_find(c, (int)k, ns, name);

	return e && !e->deleting ? e->obj : NULL;
}

size_t sim_cache_list(struct sim_controllers *c, enum sim_kind k, const char *ns,
		      const cJSON ***out)
{
	struct cache_entry *e, *tmp;
	size_t n = 0, cap = HASH_COUNT(c->cache[k]);
	const cJSON **v;

	*out = NULL;
	if (cap == 0)
		return 0;
	v = malloc(cap * sizeof(*v));
	if (!v)
		return 0;
	HASH_ITER(hh, c->cache[k], e, tmp) {
		if (e->deleting)
			continue;
		if (ns) {
			const char *ons = sim_j_str(e->obj, "metadata.namespace");

			if (!ons || strcmp(ons, ns) != 0)
				continue;
		}
		v[n++] = e->obj;
	}
	if (n == 0) {
		free(v);
		return 0;
	}
	*out = v;
	return n;
}

/* ---- Writes ---- */

static void log_write(const char *verb, const char *resource, const char *ns, const char *name,
		      int code, cJSON *status)
{
	if (code >= 400 && code != 404 && kube_log_enabled(KUBE_LOG_DEBUG)) {
		char cbuf[16];
		const char *msg = sim_j_str(status, "message");

		snprintf(cbuf, sizeof(cbuf), "%d", code);
		kube_log(KUBE_LOG_DEBUG, LOG_COMP, "write failed", "verb", verb, "resource", resource,
			 "ns", ns ? ns : "", "name", name ? name : "", "code", cbuf, "message",
			 msg ? msg : "", NULL);
	}
	cJSON_Delete(status);
}

static void apply_result(struct sim_controllers *c, const char *group, const char *resource,
			 const cJSON *obj)
{
	int k = kind_of(group, resource);

	if (k >= 0 && obj)
		cache_put(c, k, obj, 1);
}

int sim_ctl_create(struct sim_controllers *c, const char *group, const char *resource,
		   const char *ns, const cJSON *obj, cJSON **out)
{
	cJSON *res = NULL, *status = NULL;
	int code = sim_store_create(c->store, group, resource, ns, obj, 0, &res, &status);

	if (code < 300)
		apply_result(c, group, resource, res);
	log_write("create", resource, ns, sim_j_str(obj, "metadata.name"), code, status);
	if (out)
		*out = res;
	else
		cJSON_Delete(res);
	return code;
}

int sim_ctl_update(struct sim_controllers *c, const char *group, const char *resource,
		   const char *ns, const char *name, const char *subresource, const cJSON *obj,
		   cJSON **out)
{
	cJSON *res = NULL, *status = NULL;
	int code = sim_store_update(c->store, group, resource, ns, name, subresource, obj, 0, &res,
				    &status);

	if (code < 300)
		apply_result(c, group, resource, res);
	if (code != 409)
		log_write("update", resource, ns, name, code, status);
	else
		cJSON_Delete(status);
	if (out)
		*out = res;
	else
		cJSON_Delete(res);
	return code;
}

int sim_ctl_patch(struct sim_controllers *c, const char *group, const char *resource,
		  const char *ns, const char *name, const char *subresource, const cJSON *merge_patch,
		  cJSON **out)
{
	cJSON *res = NULL, *status = NULL;
	int code = sim_store_patch(c->store, group, resource, ns, name, subresource,
				   "application/merge-patch+json", merge_patch, 0, &res, &status);

	if (code < 300)
		apply_result(c, group, resource, res);
	log_write("patch", resource, ns, name, code, status);
	if (out)
		*out = res;
	else
		cJSON_Delete(res);
	return code;
}

int sim_ctl_delete(struct sim_controllers *c, const char *group, const char *resource,
		   const char *ns, const char *name, const char *propagation, long grace_seconds,
		   const char *precondition_uid)
{
	cJSON *res = NULL, *status = NULL;
	int code = sim_store_delete(c->store, group, resource, ns, name, propagation, grace_seconds,
				    precondition_uid, NULL, 0, &res, &status);
	int k = kind_of(group, resource);

	if (code < 300 && k >= 0 && res) {
		/* Marked for deletion (finalizers, graceful pods): the new state; removed: hide
		 * it until its DELETED arrives so that no reconcile counts it again. */
		struct cache_entry *e = cache_find(c, k, ns, name);
		int marked = sim_j_at(res, "metadata.finalizers") &&
			     cJSON_GetArraySize(sim_j_at(res, "metadata.finalizers")) > 0;

		if (!marked && k == SIM_K_PODS && sim_j_at(res, "metadata.deletionGracePeriodSeconds") &&
		    sim_j_int(res, "metadata.deletionGracePeriodSeconds", 0) > 0)
			marked = 1;
		if (marked) {
			cache_put(c, k, res, 1);
		} else if (e) {
			e->deleting = 1;
		}
	}
	log_write("delete", resource, ns, name, code, status);
	cJSON_Delete(res);
	return code;
}

int sim_ctl_modify(struct sim_controllers *c, const char *group, const char *resource,
		   const char *ns, const char *name, int (*edit)(cJSON *obj, void *ud), void *ud)
{
	int attempt, code = 500;

	for (attempt = 0; attempt < 8; attempt++) {
		cJSON *obj = NULL, *status = NULL;
		int r;

		code = sim_store_get(c->store, group, resource, ns, name, &obj, &status);
		cJSON_Delete(status);
		if (code != 200) {
			cJSON_Delete(obj);
			return code;
		}
		r = edit(obj, ud);
		if (r <= 0) {
			cJSON_Delete(obj);
			return r == 0 ? 200 : 422;
		}
		code = sim_ctl_update(c, group, resource, ns, name, NULL, obj, NULL);
		cJSON_Delete(obj);
		if (code != 409)
			return code;
	}
	return code;
}

/* ---- Timers ---- */

int sim_ctl_after(struct sim_controllers *c, int64_t delay_ms,
		  void (*fn)(struct sim_controllers *c, void *arg), void *arg,
		  void (*free_arg)(void *arg))
{
	struct sim_timer *t = calloc(1, sizeof(*t)), **pp;

	if (!t) {
		if (free_arg)
			free_arg(arg);
		return KUBE_ENOMEM;
	}
	t->due_ms = sim_ctl_now_ms(c) + (delay_ms > 0 ? delay_ms : 0);
	t->fn = fn;
	t->arg = arg;
	t->free_arg = free_arg;
	pthread_mutex_lock(&c->qmu);
	t->seq = c->timer_seq++;
	pp = &c->timers;
	while (*pp && (*pp)->due_ms <= t->due_ms)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
	if (c->timers == t)
		kube_cond_signal(c->qcv);
	pthread_mutex_unlock(&c->qmu);
	return 0;
}

static void timer_free(struct sim_timer *t)
{
	if (t->free_arg)
		t->free_arg(t->arg);
	free(t);
}

/* ---- Events ---- */

static void event_free(struct sim_event *e)
{
	cJSON_Delete(e->obj);
	cJSON_Delete(e->old);
	free(e->group);
	free(e->resource);
	free(e);
}

/* The store's subscriber: copy and signal; never blocks on the controllers' lock. */
static void on_change(void *ud, const char *type, const char *group, const char *resource,
		      const cJSON *obj, const cJSON *old)
{
	struct sim_controllers *c = ud;
	struct sim_event *e;

	/* Events, leases and the like drive no controller: skip the copies. */
	if (strcmp(resource, "events") == 0 || strcmp(resource, "leases") == 0 ||
	    strcmp(resource, "endpoints") == 0 || strcmp(resource, "endpointslices") == 0)
		return;
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	snprintf(e->type, sizeof(e->type), "%s", type);
	e->group = strdup(group ? group : "");
	e->resource = strdup(resource);
	e->obj = obj ? copy_view(kind_of(e->group ? e->group : "", resource), obj) : NULL;
	e->old = copy_old(kind_of(e->group ? e->group : "", resource), old);
	e->mono_ms = sim_ctl_now_ms(c);
	e->wall_ms = sim_ctl_wall_ms(c);
	if (!e->group || !e->resource || (obj && !e->obj)) {
		kube_logf(KUBE_LOG_ERROR, LOG_COMP, "out of memory copying an event: dropped");
		event_free(e);
		return;
	}
	pthread_mutex_lock(&c->qmu);
	if (c->stop) {
		/* Stopping: nobody would handle it. */
		pthread_mutex_unlock(&c->qmu);
		event_free(e);
		return;
	}
	if (c->qtail)
		c->qtail->next = e;
	else
		c->qhead = e;
	c->qtail = e;
	kube_cond_signal(c->qcv);
	pthread_mutex_unlock(&c->qmu);
}

static void dispatch(struct sim_controllers *c, struct sim_event *e)
{
	int k = kind_of(e->group, e->resource);
	int deleted = strcmp(e->type, "DELETED") == 0;

	if (!c->kubelet || !c->endpoints || !c->gc || !c->workloads || !c->jobs)
		return; /* a module failed to start (out of memory): nothing to run */
	c->ev_ms = e->mono_ms;
	c->ev_wall_ms = e->wall_ms;
	if (k >= 0) {
		if (deleted)
			cache_remove(c, k, e->obj);
		else
			cache_put(c, k, e->obj, strcmp(e->type, "ADDED") == 0);
	}
	sim_gc_on_event(c, e->type, e->group, e->resource, e->obj, e->old);
	switch (k) {
	case SIM_K_PODS:
		sim_kubelet_on_pod(c, e->type, e->obj);
		sim_endpoints_on_pod(c, e->type, e->obj, e->old);
		sim_workloads_on_pod(c, e->type, e->obj);
		sim_jobs_on_pod(c, e->type, e->obj);
		break;
	case SIM_K_SERVICES:
		sim_endpoints_on_service(c, e->type, e->obj);
		break;
	case SIM_K_NODES:
		sim_kubelet_on_node(c, e->type, e->obj);
		break;
	case SIM_K_DEPLOYMENTS:
	case SIM_K_REPLICASETS:
		sim_workloads_on_object(c, e->type, e->resource, e->obj);
		break;
	case SIM_K_JOBS:
		sim_jobs_on_job(c, e->type, e->obj);
		break;
	default:
		break;
	}
	c->ev_ms = 0;
	c->ev_wall_ms = 0;
}

/* One turn: every queued event, every due timer, then the coalesced writes. Caller holds mu.
 * Returns the number of events and timers handled. */
static size_t turn_locked(struct sim_controllers *c)
{
	struct sim_event *evs;
	struct sim_timer *due = NULL, **tail = &due;
	int64_t now = sim_ctl_now_ms(c);
	size_t n = 0;

	pthread_mutex_lock(&c->qmu);
	evs = c->qhead;
	c->qhead = c->qtail = NULL;
	while (c->timers && c->timers->due_ms <= now) {
		struct sim_timer *t = c->timers;

		c->timers = t->next;
		t->next = NULL;
		*tail = t;
		tail = &t->next;
	}
	pthread_mutex_unlock(&c->qmu);
	while (evs) {
		struct sim_event *e = evs;

		evs = e->next;
		dispatch(c, e);
		event_free(e);
		n++;
	}
	while (due) {
		struct sim_timer *t = due;

		due = t->next;
		t->fn(c, t->arg);
		timer_free(t);
		n++;
	}
	sim_workloads_flush(c);
	sim_jobs_flush(c);
	sim_endpoints_flush(c);
	return n;
}

void sim_ctl_drain_locked(struct sim_controllers *c)
{
	int i;

	/* Our own writes queue more events: a few rounds settle the cascade. */
	for (i = 0; i < 16; i++) {
		if (turn_locked(c) == 0)
			break;
	}
}

static int queue_pending(struct sim_controllers *c)
{
	int pending;

	pthread_mutex_lock(&c->qmu);
	pending = c->qhead != NULL;
	pthread_mutex_unlock(&c->qmu);
	return pending;
}

static void *loop_main(void *arg)
{
	struct sim_controllers *c = arg;
	size_t handled, burst = 0;

	for (;;) {
		pthread_mutex_lock(&c->qmu);
		for (;;) {
			int64_t deadline;

			if (c->stop)
				break;
			if (c->qhead)
				break;
			if (c->timers && c->timers->due_ms <= sim_ctl_now_ms(c))
				break;
			deadline = c->timers ? c->timers->due_ms * KUBE_NS_PER_MS : KUBE_CLOCK_FOREVER;
			kube_cond_wait_until(c->qcv, deadline);
		}
		if (c->stop) {
			pthread_mutex_unlock(&c->qmu);
			break;
		}
		pthread_mutex_unlock(&c->qmu);
		pthread_mutex_lock(&c->mu);
		handled = turn_locked(c);
		pthread_mutex_unlock(&c->mu);
		/* After a burst (thousands of pods), hand the queue's memory back to the system:
		 * glibc keeps freed heap otherwise, and kubesim's footprint is part of its budget. */
		burst += handled;
		if (burst >= 4096 && !queue_pending(c)) {
			malloc_trim(0);
			burst = 0;
		}
	}
	return NULL;
}

static void drop_queue_and_timers(struct sim_controllers *c)
{
	struct sim_event *evs;
	struct sim_timer *ts;

	pthread_mutex_lock(&c->qmu);
	evs = c->qhead;
	ts = c->timers;
	c->qhead = c->qtail = NULL;
	c->timers = NULL;
	pthread_mutex_unlock(&c->qmu);
	while (evs) {
		struct sim_event *e = evs;

		evs = e->next;
		event_free(e);
	}
	while (ts) {
		struct sim_timer *t = ts;

		ts = t->next;
		timer_free(t);
	}
}

static int modules_new(struct sim_controllers *c, int nodes, int64_t ready_delay_ms)
{
	int rc;

	rc = sim_gc_new(c, &c->gc);
	if (rc == 0)
		rc = sim_endpoints_new(c, &c->endpoints);
	if (rc == 0)
		rc = sim_workloads_new(c, &c->workloads);
	if (rc == 0)
		rc = sim_jobs_new(c, &c->jobs);
	if (rc == 0)
		rc = sim_kubelet_new(c, nodes, ready_delay_ms, &c->kubelet);
	return rc;
}

static void modules_free(struct sim_controllers *c)
{
	sim_kubelet_free(c->kubelet);
	sim_jobs_free(c->jobs);
	sim_workloads_free(c->workloads);
	sim_endpoints_free(c->endpoints);
	sim_gc_free(c->gc);
	c->kubelet = NULL;
	c->jobs = NULL;
	c->workloads = NULL;
	c->endpoints = NULL;
	c->gc = NULL;
}

int sim_ctl_reset_locked(struct sim_controllers *c)
{
	int64_t delay = sim_kubelet_ready_delay(c);
	int64_t cap = sim_kubelet_grace_cap(c);
	int rc;

	sim_store_reset(c->store);
	drop_queue_and_timers(c);
	modules_free(c);
	cache_clear(c);
	rc = modules_new(c, c->nodes, delay);
	if (rc == 0)
		sim_kubelet_set_grace_cap(c, cap);
	sim_ctl_drain_locked(c);
	return rc;
}

int sim_controllers_start(struct sim_server *srv, const struct sim_options *opts,
			  struct sim_controllers **out)
{
	struct sim_controllers *c = calloc(1, sizeof(*c));
	int rc = KUBE_ENOMEM;
	int nodes = opts && opts->nodes > 0 ? opts->nodes : 3;
	int64_t delay = opts && opts->pod_ready_delay_ms >= 0 ? opts->pod_ready_delay_ms : 100;

	*out = NULL;
	if (!c)
		return KUBE_ENOMEM;
	c->srv = srv;
	c->store = sim_server_store(srv);
	c->clock = kube_clock_real();
	c->nodes = nodes;
	pthread_mutex_init(&c->qmu, NULL);
	pthread_mutex_init(&c->mu, NULL);
	c->qcv = kube_cond_new(c->clock, &c->qmu);
	if (!c->qcv)
		goto fail;
	rc = sim_store_subscribe(c->store, on_change, c);
	if (rc != 0)
		goto fail;
	pthread_mutex_lock(&c->mu);
	rc = modules_new(c, nodes, delay);
	if (rc == 0)
		sim_ctl_drain_locked(c);
	pthread_mutex_unlock(&c->mu);
	if (rc != 0)
		goto fail;
	rc = sim_control_new(c, &c->control);
	if (rc != 0)
		goto fail;
	if (pthread_create(&c->thread, NULL, loop_main, c) != 0) {
		rc = KUBE_ENOMEM;
		goto fail;
	}
	c->thread_started = 1;
	kube_logf(KUBE_LOG_INFO, LOG_COMP, "controllers started: %d nodes, pod ready delay %lld ms",
		  nodes, (long long)delay);
	*out = c;
	return 0;
fail:
	/* The subscription cannot be undone: leave the queue inert rather than free c under it. */
	kube_logf(KUBE_LOG_ERROR, LOG_COMP, "controllers failed to start: %s", kube_strerror(rc));
	c->stop = 1;
	return rc;
}

void sim_controllers_stop(struct sim_controllers *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->qmu);
	c->stop = 1;
	kube_cond_broadcast(c->qcv);
	pthread_mutex_unlock(&c->qmu);
	if (c->thread_started)
		pthread_join(c->thread, NULL);
	/* Called after the server stopped: no request thread writes any more, and our own
	 * thread is gone, so nothing calls on_change again. */
	sim_control_free(c->control);
	c->control = NULL;
	modules_free(c);
	cache_clear(c);
	drop_queue_and_timers(c);
	kube_cond_free(c->qcv);
	pthread_mutex_destroy(&c->qmu);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
