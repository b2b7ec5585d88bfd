/* The controller host (controller-runtime's Manager and Controller): a manager hosts any number of
 * controllers, each a small ops table with its own workqueue, on informers shared between them.
 * Invariants: one informer per (resource, namespace, label selector, transform); one key is never
 * reconciled by two workers of a controller at once, whatever lane it came from; nothing is
 * reconciled before every informer has synced, nor while this process does not lead. */
#ifndef KUBE_CONTROLLER_H
#define KUBE_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "kube_httpd.h"
#include "kube_rest.h"

struct kube_clock;
struct kube_httpd;
struct kube_informer;
struct kube_manager;
struct kube_controller;
/* A shared informer as a controller sees it: a read-only lister (client-go Lister/Indexer). */
struct kube_cache;

/* What to watch. Sources that agree on gvr (group, version, resource), namespace, label
 * selector and transform (function and ud) share one informer. */
struct kube_source {
	const struct kube_gvr *gvr;   /* required; copied */
	const char *namespace;        /* NULL = the manager's; "" = all namespaces; copied */
	const char *label_selector;   /* server-side filter; NULL or "" = everything; copied */
	/* kube_informer_opts.transform (its contract applies); part of the sharing key. */
	cJSON *(*transform)(cJSON *obj, void *ud);
	void *transform_ud;
	int64_t resync_ms;            /* 0 = never; sharers get the smallest non-zero period */
	bool compact;                 /* kube_informer_opts.compact; true if any sharer asks */
	/* The informer's name in logs and the `informer` metric label (copied); NULL = derived
	 * ("pods/ns{selector}"). The first sharer that names it wins; not part of the key. */
	const char *name;
};

/* An event on a watched object, borrowed for the call. RESYNC is a periodic re-delivery of an
 * unchanged object (old_obj == obj). */
enum kube_event_type { KUBE_EVENT_ADD, KUBE_EVENT_UPDATE, KUBE_EVENT_DELETE, KUBE_EVENT_RESYNC };
struct kube_event {
	enum kube_event_type type;
	const cJSON *old_obj;         /* UPDATE and RESYNC; NULL otherwise */
	const cJSON *obj;             /* new state; for DELETE the last state known */
	bool final_state_unknown;     /* DELETE found out by a relist (tombstone) */
};

/* Maps an event on a watched resource to keys of `ctl` (kube_controller_enqueue*). Runs on the
 * informer's thread on every replica, leader or not (standbys may keep warm state here; the
 * enqueue calls drop keys while not leading). Must be quick and must not block. */
typedef void (*kube_map_fn)(struct kube_controller *ctl, const struct kube_event *ev, void *ud);

/* Handed to reconcile; valid for the call only. */
struct kube_reconcile_ctx {
	struct kube_controller *controller;
	struct kube_manager *manager;
	struct kube_client *client;   /* the manager's client: writes gated on leadership */
	struct kube_clock *clock;     /* the manager's clock: use it for every time and delay */
	void *ud;                     /* as given to kube_manager_add_controller */
	bool urgent;                  /* the key came from the urgent lane */
	/* Set by a successful reconcile (> 0) to run the key again after this long on the normal
	 * lane (controller-runtime Result.RequeueAfter; not the error backoff). Ignored on error. */
	int64_t requeue_after_ms;
	/* Set by a failed reconcile (not KUBE_ENOTLEADER): the lane of the retry. */
	enum kube_retry_lane {
		KUBE_RETRY_SAME = 0,  /* the lane the key came from */
		KUBE_RETRY_NORMAL,    /* the normal lane, with the queue's rate limiter */
		KUBE_RETRY_URGENT,    /* the urgent lane, with ops.urgent_retry_* backoff */
	} retry_lane;
};

struct kube_controller_ops {
	/* Names the controller in logs, its workqueue and the `controller`/`name` metric labels;
	 * unique per manager, [a-z0-9.-]+. Copied. */
	const char *name;
	/* The primary resource: every event on it enqueues its own key ("ns/name" or "name"). */
	struct kube_source primary;
	/* apiVersion and kind of the primary objects, for kube_controller_owns (copied; may be
	 * NULL when the controller owns nothing). */
	const char *api_version;
	const char *kind;
	/* Declares secondary watches (kube_controller_owns / kube_controller_watches); may keep the
	 * caches it gets. Runs inside kube_manager_add_controller; NULL = none. Returns 0 or a
	 * kube_err, which makes add_controller fail. */
	int (*setup)(struct kube_controller *ctl, void *ud);
	/* Required. Reads through caches, writes through ctx->client. Returns 0 (the key's backoff is
	 * forgotten; ctx->requeue_after_ms honoured), KUBE_ENOTLEADER (dropped: the next leader
	 * reconciles it), or another negative kube_err (retried with the rate limiter, in the lane it
	 * came from). Runs on a worker thread; never concurrently for one key. */
	int (*reconcile)(struct kube_reconcile_ctx *ctx, const char *key);
	/* Optional: leadership gained (true; called before any key is reconciled as leader) or lost
	 * (false; writes are already refused). Runs on the elector's (or stop's) thread. */
	void (*on_leading)(struct kube_controller *ctl, bool leading, void *ud);
	int workers;                  /* workers taking urgent keys first, then normal; 0 = 1 */
	int urgent_workers;           /* extra workers that take urgent keys only; 0 = none */
	/* Exponential backoff of retries on the urgent lane (both > 0; e.g. 5 and 250 for a
	 * failover); 0 = the queue's default limiter, as the normal lane. */
	int64_t urgent_retry_base_ms, urgent_retry_max_ms;
};

struct kube_manager_opts {
	/* Required, borrowed (must outlive the manager): informers, reads, and the writes handed to
	 * reconcilers. With leader_elect its writes are gated on the Lease. */
	struct kube_client *client;
	struct kube_clock *clock;     /* NULL = real; borrowed; informers, queues, elector, ctx */
	const char *namespace;        /* default namespace of sources; NULL or "" = all; copied */
	/* kube_httpd addresses ("127.0.0.1:0", ":8080"); NULL = no server, "0" = a disabled one.
	 * /metrics, /healthz and /readyz are served on both; a probe_addr equal to metrics_addr is
	 * one server. */
	const char *metrics_addr;
	const char *probe_addr;
	/* false: this process leads from start to stop (a single replica; no write gate). */
	bool leader_elect;
	const char *lease_namespace;  /* with leader_elect: required; copied */
	const char *lease_name;       /* with leader_elect: required; copied */
	const char *identity;         /* with leader_elect: required, unique per replica; copied */
	int64_t lease_duration_ms, renew_deadline_ms, retry_period_ms; /* 0 = kube_leader's */
	struct kube_client *lease_client; /* Lease requests; NULL = client; borrowed */
	/* true: when probe_addr differs from metrics_addr, the metrics server serves /metrics
	 * (and the handlers added to kube_manager_httpd) only, the probe server the probes only
	 * (controller-runtime's ports). false: both serve everything. */
	bool split_servers;
	/* Protects /metrics and the extra handlers of the metrics server (kube_httpd_opts.auth);
	 * NULL = open. Borrowed. */
	kube_http_auth_fn metrics_auth;
	void *metrics_auth_data;
};

/* A stopped manager with no controller. Returns 0, KUBE_EINVAL (NULL opts/out/client, missing
 * lease fields, bad address), KUBE_ENOMEM, or the error of kube_httpd_new / kube_leader_new;
 * *out is NULL on error. With leader_elect, opts->client's writes are refused from now on until
 * this process leads. */
int kube_manager_new(const struct kube_manager_opts *opts, struct kube_manager **out);

/* Registers a controller (ops copied; ud borrowed) and runs its setup. Only before start, from
 * one thread. Returns 0, KUBE_EINVAL (already started, bad or duplicate name, no reconcile, no
 * primary gvr), KUBE_ENOMEM, or setup's error; on error nothing of it stays registered. *out
 * (may be NULL) is valid until kube_manager_free. */
int kube_manager_add_controller(struct kube_manager *m, const struct kube_controller_ops *ops,
				void *ud, struct kube_controller **out);

/* Gates another client's writes on this manager's leadership (e.g. one for Events with its own
 * rate limit), as the elector gates opts->client. No-op without leader_elect. At free the gate
 * is left refusing every write. Returns 0 or KUBE_EINVAL. Any time, any thread. */
int kube_manager_gate_client(struct kube_manager *m, struct kube_client *c);

/* Starts servers, informers, workers and the elector (or leads at once). Workers reconcile
 * nothing until every informer has synced; then /readyz turns ready and every primary key is
 * enqueued. Returns 0,
 * KUBE_EINVAL (already started), KUBE_EIO (a port cannot be bound, a thread cannot start),
 * KUBE_ENOMEM; on error whatever started is stopped again. */
int kube_manager_start(struct kube_manager *m);

/* Graceful stop: releases the Lease (writes refused at once, on_leading(false) called), drains
 * the workers (reconciles in flight finish; queued keys are dropped), stops informers and
 * servers. Idempotent; not from a reconcile, handler or callback. */
void kube_manager_stop(struct kube_manager *m);

/* Stops if needed and frees every controller, informer, queue and server. NULL is a no-op. */
void kube_manager_free(struct kube_manager *m);

/* True while this process leads and (with election) its lease is fresh. Thread-safe. */
bool kube_manager_is_leader(struct kube_manager *m);
/* True once every informer has synced. Thread-safe. */
bool kube_manager_synced(struct kube_manager *m);
/* With leader_elect, /readyz has a "leader-election" check that fails while the elector keeps
 * failing (kube_leader_healthy: a Lease namespace that does not exist, RBAC); standing by behind
 * a healthy leader is ready. */
/* The /metrics server (NULL when none) for extra handlers (e.g. a dashboard), and the number of
 * shared informers (for tests). Borrowed. */
struct kube_httpd *kube_manager_httpd(struct kube_manager *m);
size_t kube_manager_informer_count(struct kube_manager *m);

/* ---- inside setup ---- */

/* Watches objects owned by this controller's primaries: events enqueue the key of the
 * ownerReference with controller: true whose kind equals ops.kind and whose apiVersion has the
 * group of ops.api_version (any version, as controller-runtime); for an update, the old and the
 * new owner. Resyncs of owned objects are ignored. *cache (may be NULL) receives the lister.
 * Only from setup. Returns 0, KUBE_EINVAL (no ops.kind/api_version, bad source), KUBE_ENOMEM. */
int kube_controller_owns(struct kube_controller *ctl, const struct kube_source *src,
			 struct kube_cache **cache);

/* Watches src and maps its events to keys with fn (ud borrowed). The primary source may be
 * watched again this way (same informer) to observe its events. Only from setup. Returns 0,
 * KUBE_EINVAL, KUBE_ENOMEM. */
int kube_controller_watches(struct kube_controller *ctl, const struct kube_source *src,
			    kube_map_fn fn, void *ud, struct kube_cache **cache);

/* ---- any time ---- */

/* Queues a key on the controller's normal lane / urgent lane / normal lane after delay_ms.
 * Returns 0, KUBE_ENOTLEADER (dropped: not leading, as in controller-runtime a standby queues
 * nothing), KUBE_ESHUTDOWN, KUBE_EINVAL, KUBE_ENOMEM. Thread-safe. */
int kube_controller_enqueue(struct kube_controller *ctl, const char *key);
int kube_controller_enqueue_urgent(struct kube_controller *ctl, const char *key);
int kube_controller_enqueue_after(struct kube_controller *ctl, const char *key,
				  int64_t delay_ms);

/* The controller's name (borrowed), its manager (e.g. kube_manager_is_leader in a map
 * function), its primary cache, and its queue (for tests and metrics; do not shut it down). */
const char *kube_controller_name(const struct kube_controller *ctl);
struct kube_manager *kube_controller_manager(struct kube_controller *ctl);
struct kube_cache *kube_controller_primary(struct kube_controller *ctl);
struct kube_workqueue *kube_controller_queue(struct kube_controller *ctl);

/* ---- listers (shared informer caches; objects are read-only) ---- */

/* As kube_informer_get / list_owned / foreach / foreach_owned / len / has_synced on the shared
 * informer. Before kube_manager_start the cache is empty (get: KUBE_ENOTFOUND; list_owned: an
 * empty array). Thread-safe. */
int kube_cache_get(struct kube_cache *c, const char *key, cJSON **out);
int kube_cache_list_owned(struct kube_cache *c, const char *owner_uid, cJSON **out);
int kube_cache_foreach(struct kube_cache *c, int (*fn)(const cJSON *obj, void *ud), void *ud);
int kube_cache_foreach_owned(struct kube_cache *c, const char *owner_uid,
			     int (*fn)(const cJSON *obj, void *ud), void *ud);
size_t kube_cache_len(struct kube_cache *c);
bool kube_cache_has_synced(struct kube_cache *c);
/* The informer itself (NULL before start), e.g. for its stats. Borrowed. */
struct kube_informer *kube_cache_informer(struct kube_cache *c);

#endif
