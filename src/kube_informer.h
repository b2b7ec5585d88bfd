/* Informer: list + watch one resource into a thread-safe cache keyed "namespace/name", with
 * add/update/delete handlers, resync and an owner-UID index (client-go reflector + indexer).
 * Invariants: cached objects are never modified (copy before changing one); handlers run on the
 * informer's own processor thread, one at a time, in the order the cache changed. */
#ifndef KUBE_INFORMER_H
#define KUBE_INFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "kube_rest.h"

struct kube_clock;
struct kube_informer;

/* Default watch idle timeout (see kube_informer_opts.watch_idle_timeout_ms). */
#define KUBE_INFORMER_WATCH_IDLE_DEFAULT_MS 90000

/* Event handlers. Objects are borrowed, read-only and valid only during the call (the new object
 * stays in the cache; keep a cJSON_Duplicate if you need it later). Any pointer may be NULL.
 * Handlers may read this informer (get, foreach, by_owner) but must not stop or free it, and
 * should be quick: typically they enqueue a key on a workqueue. */
struct kube_informer_handlers {
	void (*on_add)(const cJSON *obj, void *ud);
	/* Also called with old == new (same pointer) for every object at each resync. */
	void (*on_update)(const cJSON *old_obj, const cJSON *new_obj, void *ud);
	/* final_state_unknown: the deletion was missed (found out by a relist); obj is the last
	 * state the cache knew (client-go DeletedFinalStateUnknown tombstone). */
	void (*on_delete)(const cJSON *obj, bool final_state_unknown, void *ud);
	void *ud;
};

struct kube_informer_opts {
	const struct kube_gvr *gvr;   /* required; strings copied */
	const char *namespace;        /* NULL or "" = all namespaces (namespaced GVRs); copied */
	const char *label_selector;   /* server-side filter, copied; NULL = everything */
	const char *field_selector;   /* copied; NULL = none */
	const char *name;             /* for logs and metrics; NULL = "<resource>[/<namespace>]" */
	int64_t resync_ms;            /* re-deliver on_update for every object this often; 0 = never */
	long page_size;               /* list page size; 0 = 500, < 0 = unpaged */
	int watch_timeout_s;          /* server-side timeoutSeconds per watch; 0 = 300 */
	/* Stall detection: a watch that brings no event and no bookmark for this long is ended and
	 * restarted from the last resourceVersion (no relist). Bookmarks are requested; the
	 * apiserver sends one about every minute on a quiet watch, so keep it above 60 s against a
	 * real cluster. 0 = the process default (KUBE_INFORMER_WATCH_IDLE_DEFAULT_MS unless
	 * changed with kube_informer_set_default_watch_idle_timeout); < 0 = never. */
	int64_t watch_idle_timeout_ms;
	int64_t backoff_base_ms;      /* first wait after a failed list/watch; 0 = 800 */
	int64_t backoff_max_ms;       /* cap of the doubling; 0 = 30000 */
	struct kube_clock *clock;     /* resync and backoff timing; NULL = real; borrowed */

	/* Optional (NULL = keep objects as the server sent them): client-go SetTransform. Called
	 * on the reflector thread for every object before it is queued, so the cache, the handlers
	 * and tombstones only ever see its result: list items (after kind/apiVersion are filled
	 * in) and the objects of ADDED, MODIFIED and DELETED watch events. Its purpose is memory:
	 * drop what the program never reads (managedFields, most of spec, ...).
	 * obj is a tree the informer owns and the transform may change in place. It returns the
	 * object to keep: obj itself, or a new tree (the informer then frees obj). NULL means it
	 * could not transform (out of memory): obj, which must then still be a whole valid
	 * object, is kept as it is and a warning is logged -- a bigger object, never a lost one.
	 * Contract: it must be deterministic (the same input gives the same output: a relist
	 * compares nothing but relies on it), must keep metadata.name, namespace, uid,
	 * resourceVersion, labels and ownerReferences (the cache key, the owner index, watch
	 * resumption and label-based lookups need them), must not call into this informer, and
	 * runs on one thread only (never concurrently with itself for one informer; an opts
	 * shared by several informers gets one call per informer thread). transform_ud is passed
	 * through and borrowed. */
	cJSON *(*transform)(cJSON *obj, void *ud);
	void *transform_ud;

	/* Store cached objects as compact JSON text instead of cJSON trees: about 5x less heap
	 * (a tree costs ~130 bytes per node). Reads then parse: get and list_owned cost about
	 * the same as the copies they make anyway; foreach, foreach_owned, resync and on_update's
	 * old object parse each object they hand out (still borrowed for the call only, but a
	 * different pointer each time). Handlers' new objects are the trees as received.
	 * Worth it for large caches read mostly by key. */
	bool compact;
};

/* Makes a stopped informer on `client` (borrowed: must outlive the informer). Returns 0,
 * KUBE_EINVAL (NULL client/opts/out/gvr), KUBE_ENOMEM; *out is NULL on error. */
int kube_informer_new(struct kube_client *client, const struct kube_informer_opts *opts,
		      struct kube_informer **out);

/* Registers handlers (copied). Only before start: returns KUBE_EINVAL once started (a late
 * handler would miss the adds it needs), KUBE_ENOMEM. Not thread-safe against start. */
int kube_informer_add_handlers(struct kube_informer *inf,
			       const struct kube_informer_handlers *h);

/* Starts the reflector (list/watch) and processor threads. Returns 0, KUBE_EINVAL (already
 * started), KUBE_ENOMEM or KUBE_EIO (threads could not start; nothing is left running).
 * An informer runs independently of leader election: standbys keep their caches warm. */
int kube_informer_start(struct kube_informer *inf);

/* Stops both threads and joins them: an open watch is cancelled within ~100 ms; a list in
 * flight finishes first (bounded by the client's request timeout times its max_retries + 1,
 * plus retry backoff: a list is a GET and is retried). No handler runs after it
 * returns. The cache stays readable. Idempotent; must not be called from a handler. */
void kube_informer_stop(struct kube_informer *inf);

/* Stops if running, then frees the cache and everything. NULL is a no-op. */
void kube_informer_free(struct kube_informer *inf);

/* True once the first list has been fully delivered to the cache and the handlers. Stays true
 * through later relists. Thread-safe. */
bool kube_informer_has_synced(struct kube_informer *inf);

/* Blocks until has_synced, stop, or timeout_ms on the informer's clock (< 0 = no timeout).
 * Returns 0, KUBE_ETIMEDOUT, KUBE_ESHUTDOWN (stopped before syncing). Thread-safe. */
int kube_informer_wait_for_sync(struct kube_informer *inf, int64_t timeout_ms);

/* A deep copy of the cached object with this key ("ns/name", or "name" when cluster-scoped):
 * *out is a new tree the caller frees with cJSON_Delete. Returns 0, KUBE_ENOTFOUND (*out
 * NULL), KUBE_EINVAL, KUBE_ENOMEM. Thread-safe (read lock). */
int kube_informer_get(struct kube_informer *inf, const char *key, cJSON **out);

/* Calls fn for every cached object, in no particular order, under the cache's read lock: obj is
 * borrowed for the call only and must not be modified; fn must not block for long nor call
 * back into the informer. A non-zero return from fn stops the walk and is returned.
 * Returns 0 otherwise. Thread-safe. */
int kube_informer_foreach(struct kube_informer *inf, int (*fn)(const cJSON *obj, void *ud),
			  void *ud);

/* Like foreach, restricted to objects with an ownerReference whose uid is owner_uid (the owner
 * index: cost proportional to the number of children, not of the cache). */
int kube_informer_foreach_owned(struct kube_informer *inf, const char *owner_uid,
				int (*fn)(const cJSON *obj, void *ud), void *ud);

/* Deep copies of the objects owned by owner_uid as a new cJSON array in *out (caller frees;
 * empty array when none). Returns 0, KUBE_EINVAL, KUBE_ENOMEM (*out NULL). Thread-safe. */
int kube_informer_list_owned(struct kube_informer *inf, const char *owner_uid, cJSON **out);

/* Number of cached objects. Thread-safe. */
size_t kube_informer_len(struct kube_informer *inf);

/* The resourceVersion the reflector will watch from next (a malloc'd copy, NULL before the first
 * list or on ENOMEM). For tests and debugging. Thread-safe. */
char *kube_informer_resource_version(struct kube_informer *inf);

/* Counters for tests and the dashboard: lists done (first included) and watches started. */
struct kube_informer_stats {
	uint64_t lists;
	uint64_t watches;
	uint64_t errors;      /* failed lists and watches (each followed by a backoff) */
	uint64_t tombstones;  /* deletions discovered by a relist */
	uint64_t stalls;      /* watches ended by the idle timeout (then restarted) */
};
void kube_informer_stats(struct kube_informer *inf, struct kube_informer_stats *out);

/* Sets what watch_idle_timeout_ms 0 means for informers made from now on (a process-wide
 * setting, like a client-go flag: the operator's --watch-idle-timeout); ms <= 0 disables stall
 * detection for them. Thread-safe. */
void kube_informer_set_default_watch_idle_timeout(int64_t ms);

#endif
