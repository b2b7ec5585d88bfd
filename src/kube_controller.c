/* The controller host (kube_controller.h): shared informers whose one handler fans events out to
 * the controllers registered on them; one workqueue per controller with an urgent lane; workers
 * that start once every cache synced and reconcile only while leading; controller-runtime's
 * metrics. */
#include "kube_controller.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_clock.h"
#include "kube_error.h"
#include "kube_httpd.h"
#include "kube_informer.h"
#include "kube_json.h"
#include "kube_leader.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_ratelimit.h"
#include "kube_workqueue.h"

#define COMP "controller"
#define READY_CHECK "informers-synced"
#define MAX_WORKERS 256

enum reg_kind { REG_PRIMARY, REG_OWNED, REG_MAPPED };

/* One controller's interest in a shared informer. */
struct reg {
	enum reg_kind kind;
	struct kube_controller *ctl;
	kube_map_fn fn;
	void *ud;
	struct reg *next;
};

struct kube_cache {
	struct kube_manager *m;
	char *group, *version, *resource;
	struct kube_gvr gvr;          /* points at the strings above */
	char *namespace;              /* NULL = all namespaces */
	char *selector;               /* NULL = everything */
	cJSON *(*transform)(cJSON *obj, void *ud);
	void *transform_ud;
	int64_t resync_ms;
	bool compact;
	char *name;                   /* informer name: logs and the `informer` metric label */
	bool named;                   /* name given by a source (kube_source.name) */
	struct kube_informer *inf;    /* made at start */
	struct reg *regs;             /* immutable once started */
	struct kube_cache *next;
};

struct kube_controller {
	struct kube_manager *m;
	struct kube_controller_ops ops; /* copy; the strings below replace the caller's */
	char *name, *api_version, *kind, *owner_group;
	void *ud;
	struct kube_cache *primary;
	struct kube_workqueue *queue;
	pthread_t *threads;
	int nthreads;
	bool in_setup;
	struct kube_controller *next;
};

struct kube_manager {
	struct kube_client *client;
	struct kube_clock *clock;
	char *namespace;
	char *identity;                /* with leader election, for the logs */
	struct kube_httpd *metrics_srv, *probe_srv;
	struct kube_leader *leader;
	struct kube_controller *ctls;  /* registration order */
	struct kube_cache *caches;
	size_t ncaches;

	pthread_mutex_t mu;            /* guards gated[], and `stopping` for the sync gate */
	pthread_cond_t sync_cv;        /* workers wait here until synced or stopping */
	struct kube_client **gated;    /* extra clients gated on leadership */
	size_t ngated;
	pthread_t sync_thread;
	bool sync_started, started, stopped;
	atomic_bool leading, synced, stopping;

	struct kube_metric *m_total, *m_errors, *m_time, *m_active, *m_max;
};

/* ---------------------------------------------------------------- helpers */

static char *dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

/* Both NULL, or equal strings. */
static bool same_str(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* The group of an apiVersion: "apps/v1" -> "apps", "v1" -> "". NULL on ENOMEM. */
static char *api_group(const char *api_version)
{
	const char *slash = strchr(api_version, '/');
	return slash != NULL ? strndup(api_version, (size_t)(slash - api_version)) : strdup("");
}

static bool valid_name(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			return false;
	return true;
}

bool kube_manager_is_leader(struct kube_manager *m)
{
	if (m == NULL || !atomic_load(&m->leading))
		return false;
	return m->leader == NULL || kube_leader_is_leader(m->leader);
}

bool kube_manager_synced(struct kube_manager *m)
{
	return m != NULL && atomic_load(&m->synced);
}

struct kube_httpd *kube_manager_httpd(struct kube_manager *m)
{
	return m->metrics_srv != NULL ? m->metrics_srv : m->probe_srv;
}

size_t kube_manager_informer_count(struct kube_manager *m)
{
	return m->ncaches;
}

const char *kube_controller_name(const struct kube_controller *ctl)
{
	return ctl->name;
}

struct kube_cache *kube_controller_primary(struct kube_controller *ctl)
{
	return ctl->primary;
}

struct kube_workqueue *kube_controller_queue(struct kube_controller *ctl)
{
	return ctl->queue;
}

struct kube_manager *kube_controller_manager(struct kube_controller *ctl)
{
	return ctl->m;
}

/* ---------------------------------------------------------------- enqueue */

static int enqueue_lane(struct kube_controller *ctl, const char *key, bool urgent)
{
	if (ctl == NULL || key == NULL)
		return KUBE_EINVAL;
	if (!kube_manager_is_leader(ctl->m))
		return KUBE_ENOTLEADER;
	return urgent ? kube_workqueue_add_urgent(ctl->queue, key)
		      : kube_workqueue_add(ctl->queue, key);
}

int kube_controller_enqueue(struct kube_controller *ctl, const char *key)
{
	return enqueue_lane(ctl, key, false);
}

int kube_controller_enqueue_urgent(struct kube_controller *ctl, const char *key)
{
	return enqueue_lane(ctl, key, true);
}

int kube_controller_enqueue_after(struct kube_controller *ctl, const char *key,
				  int64_t delay_ms)
{
	if (ctl == NULL || key == NULL)
		return KUBE_EINVAL;
	if (!kube_manager_is_leader(ctl->m))
		return KUBE_ENOTLEADER;
	return kube_workqueue_add_after(ctl->queue, key, KUBE_MS(delay_ms));
}

static void enqueue_obj(struct kube_controller *ctl, const cJSON *obj)
{
	char *key = obj != NULL ? kube_json_key(obj) : NULL;
	if (key != NULL)
		enqueue_lane(ctl, key, false);
	free(key);
}

/* The key of obj's controller owner when it is one of ctl's primaries (controller-runtime
 * EnqueueRequestForOwner with OnlyControllerOwner: group and kind match, version ignored). */
static char *owner_key(const struct kube_controller *ctl, const cJSON *obj)
{
	const cJSON *ref;
	const char *ns = kube_json_namespace(obj);
	char *key = NULL;

	cJSON_ArrayForEach(ref, kube_json_get(obj, "metadata", "ownerReferences", NULL)) {
		const char *kind = kube_json_get_str(ref, "kind", NULL);
		const char *av = kube_json_get_str(ref, "apiVersion", NULL);
		const char *name = kube_json_get_str(ref, "name", NULL);
		const char *slash = av != NULL ? strchr(av, '/') : NULL;
		size_t glen = slash != NULL ? (size_t)(slash - av) : 0;
		if (!kube_json_get_bool(ref, 0, "controller", NULL) || kind == NULL || name == NULL ||
		    av == NULL || strcmp(kind, ctl->kind) != 0 ||
		    strlen(ctl->owner_group) != glen || strncmp(av, ctl->owner_group, glen) != 0)
			continue;
		if (!ctl->ops.primary.gvr->namespaced || ns == NULL)
			key = strdup(name);
		else if (asprintf(&key, "%s/%s", ns, name) < 0)
			key = NULL;
		break;
	}
	return key;
}

static void enqueue_owner(struct kube_controller *ctl, const cJSON *obj)
{
	char *key = obj != NULL ? owner_key(ctl, obj) : NULL;
	if (key != NULL)
		enqueue_lane(ctl, key, false);
	free(key);
}

/* ---------------------------------------------------------------- informer handlers */

static void dispatch(struct kube_cache *c, const struct kube_event *ev)
{
	for (struct reg *r = c->regs; r != NULL; r = r->next) {
		switch (r->kind) {
		case REG_PRIMARY:
			enqueue_obj(r->ctl, ev->obj);
			break;
		case REG_OWNED:
			if (ev->type == KUBE_EVENT_RESYNC)
				break;
			enqueue_owner(r->ctl, ev->obj);
			if (ev->type == KUBE_EVENT_UPDATE)
				enqueue_owner(r->ctl, ev->old_obj);
			break;
		case REG_MAPPED:
			r->fn(r->ctl, ev, r->ud);
			break;
		}
	}
}

static void on_add(const cJSON *obj, void *ud)
{
	struct kube_event ev = {.type = KUBE_EVENT_ADD, .obj = obj};
	dispatch(ud, &ev);
}

static void on_update(const cJSON *old_obj, const cJSON *new_obj, void *ud)
{
	struct kube_event ev = {
		.type = old_obj == new_obj ? KUBE_EVENT_RESYNC : KUBE_EVENT_UPDATE,
		.old_obj = old_obj, .obj = new_obj,
	};
	dispatch(ud, &ev);
}

static void on_delete(const cJSON *obj, bool final_state_unknown, void *ud)
{
	struct kube_event ev = {
		.type = KUBE_EVENT_DELETE, .obj = obj, .final_state_unknown = final_state_unknown,
	};
	dispatch(ud, &ev);
}

/* ---------------------------------------------------------------- caches */

static void cache_free(struct kube_cache *c)
{
	struct reg *r, *next;

	if (c == NULL)
		return;
	kube_informer_free(c->inf);
	for (r = c->regs; r != NULL; r = next) {
		next = r->next;
		free(r);
	}
	free(c->group);
	free(c->version);
	free(c->resource);
	free(c->namespace);
	free(c->selector);
	free(c->name);
	free(c);
}

/* The informer namespace of src: NULL for all namespaces or a cluster-scoped resource. */
static const char *source_namespace(const struct kube_manager *m, const struct kube_source *src)
{
	const char *ns = src->namespace != NULL ? src->namespace : m->namespace;
	return src->gvr->namespaced && ns != NULL && ns[0] != '\0' ? ns : NULL;
}

static bool cache_matches(const struct kube_cache *c, const struct kube_source *src,
			  const char *ns)
{
	const char *sel = src->label_selector != NULL && src->label_selector[0] != '\0'
				  ? src->label_selector
				  : NULL;
	return same_str(c->group, src->gvr->group ? src->gvr->group : "") &&
	       same_str(c->version, src->gvr->version) && same_str(c->resource, src->gvr->resource) &&
	       same_str(c->namespace, ns) && same_str(c->selector, sel) &&
	       c->transform == src->transform && c->transform_ud == src->transform_ud;
}

/* "pods", "pods/ns", "pods/ns{app=x}"; "#N" appended when another informer has the name. */
static char *cache_name(const struct kube_manager *m, const struct kube_cache *c)
{
	char *name = NULL;
	size_t dup = 0;

	for (const struct kube_cache *o = m->caches; o != NULL; o = o->next)
		dup += same_str(o->resource, c->resource) && same_str(o->namespace, c->namespace) &&
		       same_str(o->selector, c->selector);
	if (asprintf(&name, "%s%s%s%s%s%s", c->resource, c->namespace ? "/" : "",
		     c->namespace ? c->namespace : "", c->selector ? "{" : "",
		     c->selector ? c->selector : "", c->selector ? "}" : "") < 0)
		return NULL;
	if (dup > 0) {
		char *n2 = NULL;
		if (asprintf(&n2, "%s#%zu", name, dup + 1) < 0)
			n2 = NULL;
		free(name);
		name = n2;
	}
	return name;
}

static struct kube_cache *cache_new(struct kube_manager *m, const struct kube_source *src,
				    const char *ns)
{
	struct kube_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->m = m;
	c->group = strdup(src->gvr->group ? src->gvr->group : "");
	c->version = strdup(src->gvr->version);
	c->resource = strdup(src->gvr->resource);
	c->namespace = dup_or_null(ns);
	c->selector = dup_or_null(src->label_selector);
	c->transform = src->transform;
	c->transform_ud = src->transform_ud;
	c->gvr = (struct kube_gvr){c->group, c->version, c->resource, src->gvr->namespaced};
	if (c->group == NULL || c->version == NULL || c->resource == NULL ||
	    (ns != NULL && c->namespace == NULL) ||
	    (src->label_selector != NULL && src->label_selector[0] != '\0' && c->selector == NULL))
		goto fail;
	c->name = cache_name(m, c);
	if (c->name == NULL)
		goto fail;
	return c;
fail:
	cache_free(c);
	return NULL;
}

/* The shared informer for src, made (and linked in) when none matches; NULL on ENOMEM. */
static struct kube_cache *cache_find_or_new(struct kube_manager *m, const struct kube_source *src)
{
	const char *ns = source_namespace(m, src);
	struct kube_cache **tail;

	for (tail = &m->caches; *tail != NULL; tail = &(*tail)->next)
		if (cache_matches(*tail, src, ns))
			return *tail;
	*tail = cache_new(m, src, ns);
	if (*tail != NULL)
		m->ncaches++;
	return *tail;
}

/* Registers ctl's interest in the informer for src (shared or new). On error nothing is
 * registered and no informer made. */
static int cache_register(struct kube_controller *ctl, const struct kube_source *src,
			  enum reg_kind kind, kube_map_fn fn, void *ud, struct kube_cache **out)
{
	struct kube_cache *c;
	struct reg *r = NULL, **rtail;
	int rc = 0;

	if (src == NULL || src->gvr == NULL || src->gvr->version == NULL ||
	    src->gvr->resource == NULL)
		return KUBE_EINVAL;
	r = calloc(1, sizeof(*r));
	c = r != NULL ? cache_find_or_new(ctl->m, src) : NULL;
	if (c == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	if (src->resync_ms > 0 && (c->resync_ms == 0 || src->resync_ms < c->resync_ms))
		c->resync_ms = src->resync_ms;
	c->compact = c->compact || src->compact;
	if (src->name != NULL && !c->named) {
		char *name = strdup(src->name);
		if (name == NULL) {
			rc = KUBE_ENOMEM;
			goto out;
		}
		free(c->name);
		c->name = name;
		c->named = true;
	}
	*r = (struct reg){.kind = kind, .ctl = ctl, .fn = fn, .ud = ud};
	for (rtail = &c->regs; *rtail != NULL; rtail = &(*rtail)->next)
		;
	*rtail = r;
	r = NULL;
	if (out != NULL)
		*out = c;
out:
	free(r);
	return rc;
}

/* Removes every registration of ctl, and the informers nobody else wanted (a failed add). */
static void cache_unregister(struct kube_manager *m, const struct kube_controller *ctl)
{
	struct kube_cache **cp = &m->caches;

	while (*cp != NULL) {
		struct kube_cache *c = *cp;
		struct reg **rp = &c->regs;
		while (*rp != NULL) {
			struct reg *r = *rp;
			if (r->ctl == ctl) {
				*rp = r->next;
				free(r);
			} else {
				rp = &r->next;
			}
		}
		if (c->regs == NULL) {
			*cp = c->next;
			cache_free(c);
			m->ncaches--;
		} else {
			cp = &c->next;
		}
	}
}

/* Makes the cache's informer; cache_start runs it. Every cache's informer is made before any
 * starts, so a handler of one cache that reads another (kube_cache_foreach in a map function)
 * never races with the write of that cache's c->inf. */
static int cache_create(struct kube_manager *m, struct kube_cache *c)
{
	struct kube_informer_opts o = {
		.gvr = &c->gvr, .namespace = c->namespace, .label_selector = c->selector,
		.name = c->name, .resync_ms = c->resync_ms, .clock = m->clock,
		.transform = c->transform, .transform_ud = c->transform_ud, .compact = c->compact,
	};
	struct kube_informer_handlers h = {on_add, on_update, on_delete, c};
	int rc = kube_informer_new(m->client, &o, &c->inf);

	if (rc == 0)
		rc = kube_informer_add_handlers(c->inf, &h);
	return rc;
}

static int cache_start(struct kube_cache *c)
{
	return kube_informer_start(c->inf);
}

int kube_controller_owns(struct kube_controller *ctl, const struct kube_source *src,
			 struct kube_cache **cache)
{
	if (ctl == NULL || !ctl->in_setup || ctl->kind == NULL || ctl->owner_group == NULL)
		return KUBE_EINVAL;
	return cache_register(ctl, src, REG_OWNED, NULL, NULL, cache);
}

int kube_controller_watches(struct kube_controller *ctl, const struct kube_source *src,
			    kube_map_fn fn, void *ud, struct kube_cache **cache)
{
	if (ctl == NULL || !ctl->in_setup || fn == NULL)
		return KUBE_EINVAL;
	return cache_register(ctl, src, REG_MAPPED, fn, ud, cache);
}

/* ---------------------------------------------------------------- listers */

int kube_cache_get(struct kube_cache *c, const char *key, cJSON **out)
{
	if (out != NULL)
		*out = NULL;
	if (c == NULL || key == NULL || out == NULL)
		return KUBE_EINVAL;
	return c->inf != NULL ? kube_informer_get(c->inf, key, out) : KUBE_ENOTFOUND;
}

int kube_cache_list_owned(struct kube_cache *c, const char *owner_uid, cJSON **out)
{
	if (out != NULL)
		*out = NULL;
	if (c == NULL || owner_uid == NULL || out == NULL)
		return KUBE_EINVAL;
	if (c->inf != NULL)
		return kube_informer_list_owned(c->inf, owner_uid, out);
	*out = cJSON_CreateArray();
	return *out != NULL ? 0 : KUBE_ENOMEM;
}

int kube_cache_foreach(struct kube_cache *c, int (*fn)(const cJSON *obj, void *ud), void *ud)
{
	if (c == NULL || fn == NULL)
		return KUBE_EINVAL;
	return c->inf != NULL ? kube_informer_foreach(c->inf, fn, ud) : 0;
}

int kube_cache_foreach_owned(struct kube_cache *c, const char *owner_uid,
			     int (*fn)(const cJSON *obj, void *ud), void *ud)
{
	if (c == NULL || owner_uid == NULL || fn == NULL)
		return KUBE_EINVAL;
	return c->inf != NULL ? kube_informer_foreach_owned(c->inf, owner_uid, fn, ud) : 0;
}

size_t kube_cache_len(struct kube_cache *c)
{
	return c != NULL && c->inf != NULL ? kube_informer_len(c->inf) : 0;
}

bool kube_cache_has_synced(struct kube_cache *c)
{
	return c != NULL && c->inf != NULL && kube_informer_has_synced(c->inf);
}

struct kube_informer *kube_cache_informer(struct kube_cache *c)
{
	return c != NULL ? c->inf : NULL;
}

/* ---------------------------------------------------------------- reconcile */

/* Requeues as the result says and returns the `result` label (controller-runtime's values). */
static const char *settle(struct kube_controller *ctl, const char *key, bool urgent, int rc,
			  const struct kube_reconcile_ctx *ctx)
{
	int64_t requeue_after_ms = ctx->requeue_after_ms;

	const char *lv[] = {ctl->name};

	if (rc == 0) {
		kube_workqueue_forget(ctl->queue, key);
		if (requeue_after_ms <= 0)
			return "success";
		kube_workqueue_add_after(ctl->queue, key, KUBE_MS(requeue_after_ms));
		return "requeue_after";
	}
	kube_metric_inc(ctl->m->m_errors, lv);
	if (rc == KUBE_ENOTLEADER) {
		/* Leadership went away under the reconcile: the next leader does it again. */
		kube_workqueue_forget(ctl->queue, key);
		return "error";
	}
	kube_log(KUBE_LOG_WARN, COMP, "reconcile failed; retrying", "controller", ctl->name, "key",
		 key, "error", kube_strerror(rc), NULL);
	if (ctx->retry_lane != KUBE_RETRY_SAME)
		urgent = ctx->retry_lane == KUBE_RETRY_URGENT;
	if (urgent)
		kube_workqueue_add_rate_limited_urgent(ctl->queue, key);
	else
		kube_workqueue_add_rate_limited(ctl->queue, key);
	return "error";
}

static void reconcile_one(struct kube_controller *ctl, const char *key, bool urgent)
{
	struct kube_manager *m = ctl->m;
	struct kube_reconcile_ctx ctx = {
		.controller = ctl, .manager = m, .client = m->client, .clock = m->clock,
		.ud = ctl->ud, .urgent = urgent,
	};
	const char *lv[] = {ctl->name};
	const char *lv2[] = {ctl->name, NULL};
	int64_t t0 = kube_clock_now(m->clock);
	int rc;

	kube_metric_inc(m->m_active, lv);
	/* An urgent key's requests (a failover's writes) use the client's urgent reserve. */
	enum kube_priority prio = kube_set_priority(urgent ? KUBE_PRIORITY_URGENT
							   : KUBE_PRIORITY_NORMAL);
	rc = ctl->ops.reconcile(&ctx, key);
	kube_set_priority(prio);
	kube_metric_dec(m->m_active, lv);
	kube_metric_observe(m->m_time, lv,
			    (double)(kube_clock_now(m->clock) - t0) / (double)KUBE_NS_PER_SEC);
	lv2[1] = settle(ctl, key, urgent, rc, &ctx);
	kube_metric_inc(m->m_total, lv2);
}

/* Blocks until every cache synced or the manager stops. */
static void wait_synced(struct kube_manager *m)
{
	pthread_mutex_lock(&m->mu);
	while (!atomic_load(&m->synced) && !atomic_load(&m->stopping))
		pthread_cond_wait(&m->sync_cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
}

struct worker_arg {
	struct kube_controller *ctl;
	bool urgent_only;
};

static void *worker_main(void *arg)
{
	struct worker_arg wa = *(struct worker_arg *)arg;
	struct kube_controller *ctl = wa.ctl;

	free(arg);
	wait_synced(ctl->m);
	/* After a stop before sync the loop only drains: nobody leads any more. */
	for (;;) {
		enum kube_workqueue_lane lane = KUBE_LANE_NORMAL;
		char *key = NULL;
		int rc = kube_workqueue_get_lane(ctl->queue, wa.urgent_only, &key, &lane);
		if (rc == KUBE_ESHUTDOWN)
			break;
		if (rc < 0)
			continue;
		if (kube_manager_is_leader(ctl->m))
			reconcile_one(ctl, key, lane == KUBE_LANE_URGENT);
		kube_workqueue_done(ctl->queue, key);
		free(key);
	}
	return NULL;
}

static int start_workers(struct kube_controller *ctl)
{
	int n = ctl->ops.workers + ctl->ops.urgent_workers;

	ctl->threads = calloc((size_t)n, sizeof(*ctl->threads));
	if (ctl->threads == NULL)
		return KUBE_ENOMEM;
	for (int i = 0; i < n; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (wa == NULL)
			return KUBE_ENOMEM;
		*wa = (struct worker_arg){ctl, i >= ctl->ops.workers};
		if (pthread_create(&ctl->threads[i], NULL, worker_main, wa) != 0) {
			free(wa);
			return KUBE_EIO;
		}
		ctl->nthreads++;
	}
	return 0;
}

/* ---------------------------------------------------------------- leadership and sync */

static int enqueue_primary_cb(const cJSON *obj, void *ud)
{
	enqueue_obj(ud, obj);
	return 0;
}

/* Every primary key of every controller: at sync and when leadership starts. */
static void enqueue_all(struct kube_manager *m)
{
	for (struct kube_controller *ctl = m->ctls; ctl != NULL; ctl = ctl->next)
		kube_cache_foreach(ctl->primary, enqueue_primary_cb, ctl);
}

static void notify_leading(struct kube_manager *m, bool leading)
{
	for (struct kube_controller *ctl = m->ctls; ctl != NULL; ctl = ctl->next)
		if (ctl->ops.on_leading != NULL)
			ctl->ops.on_leading(ctl, leading, ctl->ud);
}

static void started_leading(void *ud)
{
	struct kube_manager *m = ud;

	/* Without leader election nobody was elected: nothing to say. */
	if (m->leader != NULL)
		kube_log(KUBE_LOG_INFO, COMP, "became leader", "identity", m->identity, NULL);
	notify_leading(m, true);
	atomic_store(&m->leading, true);
	if (atomic_load(&m->synced))
		enqueue_all(m);
}

static void stopped_leading(void *ud)
{
	struct kube_manager *m = ud;

	atomic_store(&m->leading, false);
	kube_log(KUBE_LOG_INFO, COMP, "leadership lost: writes stopped", "identity",
		 m->identity != NULL ? m->identity : "", NULL);
	notify_leading(m, false);
}

static void set_ready(struct kube_manager *m, int ready)
{
	if (m->metrics_srv != NULL)
		kube_httpd_set_ready(m->metrics_srv, READY_CHECK, ready);
	if (m->probe_srv != NULL)
		kube_httpd_set_ready(m->probe_srv, READY_CHECK, ready);
}

/* Waits for every cache, then marks the process ready, lets the workers go and hands them
 * every primary key. */
static void *sync_main(void *arg)
{
	struct kube_manager *m = arg;

	for (struct kube_cache *c = m->caches; c != NULL; c = c->next)
		if (kube_informer_wait_for_sync(c->inf, -1) < 0)
			return NULL;
	pthread_mutex_lock(&m->mu);
	atomic_store(&m->synced, true);
	pthread_cond_broadcast(&m->sync_cv);
	pthread_mutex_unlock(&m->mu);
	set_ready(m, 1);
	kube_log(KUBE_LOG_INFO, COMP, "caches synced", NULL);
	if (atomic_load(&m->leading))
		enqueue_all(m);
	return NULL;
}

static bool gate_allow(void *ud)
{
	return kube_manager_is_leader(ud);
}

static bool gate_deny(void *ud)
{
	(void)ud;
	return false;
}

int kube_manager_gate_client(struct kube_manager *m, struct kube_client *c)
{
	struct kube_client **n;
	int rc = 0;

	if (m == NULL || c == NULL)
		return KUBE_EINVAL;
	if (m->leader == NULL || c == m->client)
		return 0;
	pthread_mutex_lock(&m->mu);
	n = realloc(m->gated, (m->ngated + 1) * sizeof(*n));
	if (n == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	m->gated = n;
	m->gated[m->ngated++] = c;
	kube_client_set_write_gate(c, gate_allow, m);
out:
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* ---------------------------------------------------------------- lifecycle */

static int register_metrics(struct kube_manager *m)
{
	static const char *const ctl_label[] = {"controller", NULL};
	static const char *const total_labels[] = {"controller", "result", NULL};
	/* controller-runtime's buckets for reconcile_time_seconds. */
	static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35,
					 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5,
					 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10,
					 15, 20, 25, 30, 40, 50, 60};
	struct kube_metrics *reg = kube_metrics_default();

	m->m_total = kube_metric_register(reg, KUBE_COUNTER, "controller_runtime_reconcile_total",
					  "Total number of reconciliations per controller",
					  total_labels, NULL, 0);
	m->m_errors = kube_metric_register(reg, KUBE_COUNTER,
					   "controller_runtime_reconcile_errors_total",
					   "Total number of reconciliation errors per controller",
					   ctl_label, NULL, 0);
	m->m_time = kube_metric_register(reg, KUBE_HISTOGRAM,
					 "controller_runtime_reconcile_time_seconds",
					 "Length of time per reconciliation per controller", ctl_label,
					 buckets, sizeof(buckets) / sizeof(buckets[0]));
	m->m_active = kube_metric_register(reg, KUBE_GAUGE, "controller_runtime_active_workers",
					   "Number of currently used workers per controller",
					   ctl_label, NULL, 0);
	m->m_max = kube_metric_register(reg, KUBE_GAUGE,
					"controller_runtime_max_concurrent_reconciles",
					"Maximum number of concurrent reconciles per controller",
					ctl_label, NULL, 0);
	return m->m_total && m->m_errors && m->m_time && m->m_active && m->m_max ? 0
										 : KUBE_ENOMEM;
}

static int make_servers(struct kube_manager *m, const struct kube_manager_opts *o)
{
	bool two = o->probe_addr != NULL && !same_str(o->probe_addr, o->metrics_addr);
	bool split = two && o->split_servers && o->metrics_addr != NULL;
	struct kube_httpd_opts mo = {
		.bind_addr = o->metrics_addr, .serves = split ? KUBE_HTTPD_METRICS : 0,
		.auth = o->metrics_auth, .auth_data = o->metrics_auth_data,
	};
	struct kube_httpd_opts po = {.bind_addr = o->probe_addr,
				     .serves = split ? KUBE_HTTPD_PROBES : 0};
	int rc = 0;

	if (o->metrics_addr != NULL)
		rc = kube_httpd_new_opts(&mo, &m->metrics_srv);
	if (rc == 0 && two)
		rc = kube_httpd_new_opts(&po, &m->probe_srv);
	if (rc == 0)
		set_ready(m, 0);
	return rc;
}

static void new_leader(const char *identity, void *ud)
{
	struct kube_manager *m = ud;

	kube_log(KUBE_LOG_INFO, COMP, "leader observed", "leader", identity, "me", m->identity,
		 NULL);
}

/* /readyz/leader-election: not ready while the elector keeps failing, so a configuration in
 * which nobody can ever lead shows. */
static int leader_check(void *data, char *why, size_t why_size)
{
	struct kube_manager *m = data;

	return kube_leader_healthy(m->leader, why, why_size) ? 0 : 1;
}

/* The server whose /readyz answers the kubelet: the probe server, else the metrics one. */
static struct kube_httpd *probe_server(struct kube_manager *m)
{
	return m->probe_srv != NULL ? m->probe_srv : m->metrics_srv;
}

static int make_leader(struct kube_manager *m, const struct kube_manager_opts *o)
{
	struct kube_leader_config lc = {
		.client = o->lease_client != NULL ? o->lease_client : o->client,
		.gated_client = o->client,
		.lease_namespace = o->lease_namespace, .lease_name = o->lease_name,
		.identity = o->identity, .lease_duration_ms = o->lease_duration_ms,
		.renew_deadline_ms = o->renew_deadline_ms, .retry_period_ms = o->retry_period_ms,
		.callbacks = {.on_started_leading = started_leading,
			      .on_stopped_leading = stopped_leading,
			      .on_new_leader = new_leader, .ud = m},
		.clock = m->clock,
	};
	int rc;

	if (!o->leader_elect)
		return 0;
	m->identity = o->identity != NULL ? strdup(o->identity) : NULL;
	if (o->identity != NULL && m->identity == NULL)
		return KUBE_ENOMEM;
	rc = kube_leader_new(&lc, &m->leader);
	if (rc == 0 && probe_server(m) != NULL)
		rc = kube_httpd_add_readyz(probe_server(m), "leader-election", leader_check, m);
	return rc;
}

int kube_manager_new(const struct kube_manager_opts *opts, struct kube_manager **out)
{
	struct kube_manager *m;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (opts == NULL || out == NULL || opts->client == NULL)
		return KUBE_EINVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return KUBE_ENOMEM;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->sync_cv, NULL);
	m->client = opts->client;
	m->clock = opts->clock != NULL ? opts->clock : kube_clock_real();
	m->namespace = dup_or_null(opts->namespace);
	rc = opts->namespace != NULL && opts->namespace[0] != '\0' && m->namespace == NULL
		     ? KUBE_ENOMEM
		     : register_metrics(m);
	if (rc == 0)
		rc = make_servers(m, opts);
	if (rc == 0)
		rc = make_leader(m, opts);
	if (rc < 0) {
		kube_manager_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

static void controller_free(struct kube_controller *ctl)
{
	const char *lv[] = {ctl->name};

	kube_metric_remove(ctl->m->m_max, lv);
	kube_metric_remove(ctl->m->m_active, lv);
	kube_workqueue_free(ctl->queue);
	free(ctl->threads);
	free(ctl->name);
	free(ctl->api_version);
	free(ctl->kind);
	free(ctl->owner_group);
	free(ctl);
}

/* Every series of the controller exists from the start, at 0 (as controller-runtime does), so
 * rate() works from the first scrape. */
static void init_metrics(struct kube_controller *ctl)
{
	static const char *const results[] = {"success", "error", "requeue_after"};
	const char *lv[] = {ctl->name};
	struct kube_manager *m = ctl->m;

	kube_metric_set(m->m_max, lv, ctl->ops.workers + ctl->ops.urgent_workers);
	kube_metric_set(m->m_active, lv, 0);
	kube_metric_add(m->m_errors, lv, 0);
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
		const char *lv2[] = {ctl->name, results[i]};
		kube_metric_add(m->m_total, lv2, 0);
	}
}

static bool name_taken(const struct kube_manager *m, const char *name)
{
	for (const struct kube_controller *c = m->ctls; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0)
			return true;
	return false;
}

static struct kube_controller *controller_new(struct kube_manager *m,
					      const struct kube_controller_ops *ops, void *ud)
{
	struct kube_controller *ctl = calloc(1, sizeof(*ctl));
	struct kube_workqueue_opts qo = {.name = ops->name, .clock = m->clock};
	bool urgent_backoff = ops->urgent_retry_base_ms > 0 && ops->urgent_retry_max_ms > 0;

	if (ctl == NULL)
		return NULL;
	ctl->m = m;
	ctl->ops = *ops;
	ctl->ud = ud;
	ctl->ops.workers = ops->workers < 1 ? 1 : ops->workers > MAX_WORKERS ? MAX_WORKERS
									      : ops->workers;
	ctl->ops.urgent_workers = ops->urgent_workers < 0		  ? 0
				  : ops->urgent_workers > MAX_WORKERS ? MAX_WORKERS
								      : ops->urgent_workers;
	ctl->name = strdup(ops->name);
	ctl->api_version = dup_or_null(ops->api_version);
	ctl->kind = dup_or_null(ops->kind);
	ctl->owner_group = ops->api_version != NULL ? api_group(ops->api_version) : NULL;
	if (urgent_backoff)
		qo.urgent_limiter = kube_ratelimiter_exponential_new(KUBE_MS(ops->urgent_retry_base_ms),
								     KUBE_MS(ops->urgent_retry_max_ms));
	ctl->queue = urgent_backoff && qo.urgent_limiter == NULL ? NULL : kube_workqueue_new(&qo);
	if (ctl->name == NULL || ctl->queue == NULL ||
	    (ops->api_version != NULL && (ctl->api_version == NULL || ctl->owner_group == NULL)) ||
	    (ops->kind != NULL && ops->kind[0] != '\0' && ctl->kind == NULL)) {
		controller_free(ctl);
		return NULL;
	}
	ctl->ops.name = ctl->name;
	ctl->ops.api_version = ctl->api_version;
	ctl->ops.kind = ctl->kind;
	return ctl;
}

int kube_manager_add_controller(struct kube_manager *m, const struct kube_controller_ops *ops,
				void *ud, struct kube_controller **out)
{
	struct kube_controller *ctl, **tail;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (m == NULL || ops == NULL || m->started || !valid_name(ops->name) ||
	    ops->reconcile == NULL || ops->primary.gvr == NULL || name_taken(m, ops->name))
		return KUBE_EINVAL;
	ctl = controller_new(m, ops, ud);
	if (ctl == NULL)
		return KUBE_ENOMEM;
	rc = cache_register(ctl, &ops->primary, REG_PRIMARY, NULL, NULL, &ctl->primary);
	if (rc == 0 && ops->setup != NULL) {
		ctl->in_setup = true;
		rc = ops->setup(ctl, ud);
		ctl->in_setup = false;
	}
	if (rc < 0) {
		cache_unregister(m, ctl);
		controller_free(ctl);
		return rc;
	}
	for (tail = &m->ctls; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = ctl;
	init_metrics(ctl);
	if (out != NULL)
		*out = ctl;
	return 0;
}

static int start_all(struct kube_manager *m)
{
	int rc = m->metrics_srv != NULL ? kube_httpd_start(m->metrics_srv) : 0;

	if (rc == 0 && m->probe_srv != NULL)
		rc = kube_httpd_start(m->probe_srv);
	for (struct kube_cache *c = m->caches; rc == 0 && c != NULL; c = c->next)
		rc = cache_create(m, c);
	for (struct kube_cache *c = m->caches; rc == 0 && c != NULL; c = c->next)
		rc = cache_start(c);
	for (struct kube_controller *ctl = m->ctls; rc == 0 && ctl != NULL; ctl = ctl->next)
		rc = start_workers(ctl);
	if (rc == 0 && pthread_create(&m->sync_thread, NULL, sync_main, m) != 0)
		rc = KUBE_EIO;
	if (rc < 0)
		return rc;
	m->sync_started = true;
	if (m->leader != NULL)
		return kube_leader_start(m->leader);
	started_leading(m);
	return 0;
}

int kube_manager_start(struct kube_manager *m)
{
	int rc;

	if (m == NULL || m->started)
		return KUBE_EINVAL;
	m->started = true;
	rc = start_all(m);
	if (rc < 0) {
		kube_log(KUBE_LOG_ERROR, COMP, "start failed", "error", kube_strerror(rc), NULL);
		kube_manager_stop(m);
		return rc;
	}
	kube_log(KUBE_LOG_INFO, COMP, "started", "namespace", m->namespace ? m->namespace : "(all)",
		 NULL);
	return 0;
}

static void stop_workers(struct kube_manager *m)
{
	pthread_mutex_lock(&m->mu);
	atomic_store(&m->stopping, true);
	pthread_cond_broadcast(&m->sync_cv);
	pthread_mutex_unlock(&m->mu);
	for (struct kube_controller *ctl = m->ctls; ctl != NULL; ctl = ctl->next)
		kube_workqueue_shutdown_with_drain(ctl->queue);
	for (struct kube_controller *ctl = m->ctls; ctl != NULL; ctl = ctl->next) {
		for (int i = 0; i < ctl->nthreads; i++)
			pthread_join(ctl->threads[i], NULL);
		ctl->nthreads = 0;
	}
}

void kube_manager_stop(struct kube_manager *m)
{
	if (m == NULL || !m->started || m->stopped)
		return;
	m->stopped = true;
	/* Step down first so a standby takes over while we drain. */
	if (m->leader != NULL)
		kube_leader_stop(m->leader);
	else if (atomic_load(&m->leading))
		stopped_leading(m);
	stop_workers(m);
	for (struct kube_cache *c = m->caches; c != NULL; c = c->next)
		kube_informer_stop(c->inf);
	if (m->sync_started) {
		pthread_join(m->sync_thread, NULL);
		m->sync_started = false;
	}
	kube_httpd_stop(m->metrics_srv);
	kube_httpd_stop(m->probe_srv);
	kube_log(KUBE_LOG_INFO, COMP, "stopped", NULL);
}

void kube_manager_free(struct kube_manager *m)
{
	struct kube_controller *ctl, *next;
	struct kube_cache *c, *cnext;

	if (m == NULL)
		return;
	kube_manager_stop(m);
	/* A process that gave up leadership must not write (as kube_leader_free leaves it). */
	for (size_t i = 0; i < m->ngated; i++)
		kube_client_set_write_gate(m->gated[i], gate_deny, NULL);
	kube_leader_free(m->leader);
	kube_httpd_free(m->metrics_srv);
	kube_httpd_free(m->probe_srv);
	for (c = m->caches; c != NULL; c = cnext) {
		cnext = c->next;
		cache_free(c);
	}
	for (ctl = m->ctls; ctl != NULL; ctl = next) {
		next = ctl->next;
		controller_free(ctl);
	}
	free(m->gated);
	free(m->namespace);
	free(m->identity);
	pthread_cond_destroy(&m->sync_cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}
