/* kubesim's object store: every API object, one global resourceVersion, a bounded event history
 * and the watch fan-out. The HTTP layer and the simulated controllers write through the same verbs,
 * so validation, defaulting, status rules, finalizers and watch events are identical either way.
 *
 * Invariants
 * - One store mutex serializes commits; the resourceVersion is a global counter bumped once per
 *   committed write and every stored object carries the rv of its last write (decimal string).
 * - Stored objects are immutable snapshots (refcounted) kept as compact JSON text; parsed trees
 *   exist only while a version is written, fanned out or read. A write builds a new snapshot
 *   outside the lock and commits it only if the object did not change meanwhile (retrying when
 *   the request was unconditional, 409 Conflict when it named a resourceVersion), like the
 *   apiserver's GuaranteedUpdate. A write that changes nothing commits nothing (same rv, no
 *   event). The cJSON verbs hand out deep copies; sim_store_do hands out snapshots.
 * - Watchers get events through per-watch queues (push never blocks a writer); a watcher whose
 *   queue overflows is closed, as the real apiserver closes slow watchers, and relists.
 * - Subscribers (sim_store_subscribe) see every committed change exactly once, in commit order.
 *
 * Return values: the verbs return an HTTP status code (200, 201, 404, 409, 410, 415, 422, ...).
 * On a code >= 400, *status (when the pointer is non-NULL) receives a new Kubernetes Status object
 * (kind Status, reason, code, details, details.causes for 422) that the caller frees; nothing in
 * the store changed. 500 with *status NULL means out of memory.
 *
 * Deletion and the garbage-collection contract (the collector lives in the controllers module):
 * - Background (default, propagation NULL or "Background"): the owner is removed at once
 *   (DELETED event); the collector deletes dependents when it sees the DELETED.
 * - Foreground: the store sets deletionTimestamp and adds the finalizer "foregroundDeletion"
 *   (MODIFIED event). The collector deletes dependents (blockOwnerDeletion ones first) and then
 *   removes the finalizer with sim_store_update/sim_store_patch; the store removes the object
 *   when its last finalizer goes (DELETED event).
 * - Orphan: same, with the finalizer "orphan"; the collector strips the ownerReferences of the
 *   dependents, then removes the finalizer.
 * - Any object with finalizers: DELETE sets deletionTimestamp (once; later DELETEs change
 *   nothing), returns 200 with the object; removing the last finalizer removes the object.
 *   New finalizers cannot be added once deletionTimestamp is set (422).
 * - Pods: when graceful pod deletion is on (sim_store_set_pod_grace, the simulated kubelet turns
 *   it on), DELETE of a pod bound to a node (spec.nodeName) whose phase is not Succeeded/Failed
 *   and whose grace period (the request's, else spec.terminationGracePeriodSeconds, else 30) is
 *   > 0 only sets deletionTimestamp + deletionGracePeriodSeconds (MODIFIED); the kubelet removes
 *   it later with sim_store_delete(..., grace_seconds = 0). Otherwise pods go at once.
 * - Namespaces: DELETE marks the namespace Terminating (deletionTimestamp, status.phase) and
 *   deletes every namespaced object in it (Background); the namespace itself is removed when the
 *   last object in it is gone. Creating into a terminating namespace is 403 Forbidden.
 * - CRDs: deleting a CRD deletes all its custom resources and unregisters the resource.
 */
#ifndef SIM_STORE_H
#define SIM_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

struct sim_store;
struct sim_registry;
struct sim_watch;

/* Flags for the write verbs. */
#define SIM_WRITE_DRY_RUN 0x1u /* dryRun=All: full validation and the result, nothing persisted */
/* fieldValidation= for custom resources (absent or Warn: warnings, as the apiserver): fields the
 * schema does not know are a 400 "strict decoding error" (Strict) or silently pruned (Ignore). */
#define SIM_WRITE_FIELDS_STRICT 0x2u
#define SIM_WRITE_FIELDS_IGNORE 0x4u

/* Creates a store that resolves resources through `reg` (borrowed; must outlive the store) and
 * keeps the last `history_max` events for watches (0 = default 10000). Creates the namespaces
 * default, kube-system, kube-public and kube-node-lease. Returns 0 or KUBE_ENOMEM. */
int sim_store_new(struct sim_registry *reg, size_t history_max, struct sim_store **out);
/* Frees everything. Every thread that uses the store must have stopped and every watch must
 * have been freed first (the server does this on stop). NULL is a no-op. */
void sim_store_free(struct sim_store *s);

/* ---- Verbs. Addressing: group ("" = core), resource plural ("pods"), ns (NULL or "" for
 * cluster-scoped resources or, for list/watch/deletecollection, all namespaces), name.
 * Thread safety: all verbs are safe from any thread; they never call back into the caller
 * while holding the store lock. Objects passed in are borrowed and never modified. */

/* GET. *out receives a deep copy (caller frees). 404 when the resource type or object is
 * unknown. */
int sim_store_get(struct sim_store *s, const char *group, const char *resource, const char *ns,
		  const char *name, cJSON **out, cJSON **status);

/* GET of a subresource view: "status" (the object), "scale" (an autoscaling/v1 Scale built from
 * the object: deployments, replicasets and CRDs with a scale subresource). 404 for others. */
int sim_store_get_sub(struct sim_store *s, const char *group, const char *resource,
		      const char *ns, const char *name, const char *subresource, cJSON **out,
		      cJSON **status);

/* LIST. label_selector / field_selector may be NULL (match all). Field selectors support
 * `path=value`, `path==value`, `path!=value`, comma = AND, on any dotted path of the object
 * (metadata.name, metadata.namespace, spec.nodeName, status.phase, involvedObject.name, ...).
 * *items receives a new array of deep copies sorted by namespace/name, *rv (may be NULL) a
 * malloc'd copy of the store's current resourceVersion. 400 for a bad selector. */
int sim_store_list(struct sim_store *s, const char *group, const char *resource, const char *ns,
		   const char *label_selector, const char *field_selector, cJSON **items,
		   char **rv, cJSON **status);

/* CREATE (POST). obj is the request body. Fills metadata.namespace from ns (400 when the body
 * names another), name from generateName (+5 random chars), uid, creationTimestamp,
 * resourceVersion, generation 1; drops status for kinds with a status subresource; applies the
 * CRD schema (prune, default, validate -> 422) for custom resources; allocates clusterIP for
 * Services; CRDs get their Established/NamesAccepted status and are registered at once.
 * 201 with *out (deep copy, caller frees) on success; 409 AlreadyExists; 404 when the namespace
 * does not exist; 403 when it is terminating; 422 for invalid objects. */
int sim_store_create(struct sim_store *s, const char *group, const char *resource,
		     const char *ns, const cJSON *obj, unsigned flags, cJSON **out,
		     cJSON **status);

/* UPDATE (PUT) of the object (subresource NULL), its "status" or its "scale" (obj is then a
 * Scale). An obj without metadata.resourceVersion is unconditional: allowed for built-in kinds,
 * 422 for custom resources. Stale resourceVersion: 409 Conflict. Missing object: 404 (built-in
 * kinds are not created by PUT either, which no client of ours needs). Main-resource updates keep
 * the stored status for kinds with a status subresource; status updates keep everything but
 * status; generation goes up when anything outside metadata and status changes. 200 with *out. */
int sim_store_update(struct sim_store *s, const char *group, const char *resource,
		     const char *ns, const char *name, const char *subresource, const cJSON *obj,
		     unsigned flags, cJSON **out, cJSON **status);

/* PATCH. content_type: "application/merge-patch+json", "application/json-patch+json",
 * "application/strategic-merge-patch+json" (built-in kinds only; 415 for custom resources) or
 * "application/apply-patch+yaml" (server-side apply, treated as create-or-merge; patch must
 * already be JSON). A metadata.resourceVersion in the patch result that differs from the stored
 * one is a 409. Same status/generation rules as update. 200 with *out (201 when apply created). */
int sim_store_patch(struct sim_store *s, const char *group, const char *resource,
		    const char *ns, const char *name, const char *subresource,
		    const char *content_type, const cJSON *patch, unsigned flags, cJSON **out,
		    cJSON **status);

/* DELETE. propagation: NULL/"Background", "Foreground" or "Orphan"; grace_seconds -1 = unset.
 * precondition_uid / precondition_rv may be NULL (409 Conflict when they do not match).
 * 200 with *out = the object as removed or as marked for deletion (deep copy). See the
 * deletion contract at the top of this file. */
int sim_store_delete(struct sim_store *s, const char *group, const char *resource,
		     const char *ns, const char *name, const char *propagation,
		     long grace_seconds, const char *precondition_uid,
		     const char *precondition_rv, unsigned flags, cJSON **out, cJSON **status);

/* DELETECOLLECTION: deletes every object matching the selectors, like sim_store_delete on each.
 * 200 with *out = a List of the deleted (or marked) objects. */
int sim_store_delete_collection(struct sim_store *s, const char *group, const char *resource,
				const char *ns, const char *label_selector,
				const char *field_selector, const char *propagation,
				long grace_seconds, unsigned flags, cJSON **out,
				cJSON **status);

/* ---- One entry point for every verb (what the HTTP layer uses): the verbs above are thin
 * wrappers. Results come back as immutable snapshots, so a response or a list is serialized
 * from each object's cached JSON text without copying trees. */

enum sim_verb {
	SIM_GET = 0,
	SIM_LIST,
	SIM_CREATE,
	SIM_UPDATE,
	SIM_PATCH,
	SIM_DELETE,
	SIM_DELETE_COLLECTION,
};

struct sim_req {
	enum sim_verb verb;
	const char *group, *version, *resource; /* version: from the URL, may be NULL */
	const char *ns, *name, *subresource;    /* each may be NULL */
	const cJSON *body;                      /* create/update/patch */
	const char *content_type;               /* patch */
	const char *label_selector, *field_selector; /* list, deletecollection */
	/* list paging (see "Paging" below); all zero/NULL = the whole list in one answer */
	long limit;                   /* ?limit=: at most this many items (<= 0: no limit) */
	const char *continue_token;   /* ?continue=: the next page of a paged list */
	const char *resource_version; /* ?resourceVersion= of a list: "0" ignores limit */
	const char *propagation;                /* delete */
	long grace_seconds;                     /* delete; -1 = unset */
	const char *precondition_uid, *precondition_rv; /* delete */
	unsigned flags;                         /* SIM_WRITE_* */
	cJSON *warnings; /* create/update/patch: NULL, or an array (caller's) that receives the
			  * text of each Warning header the answer carries */
};

/* Read-only snapshot of objects: one for get/create/update/patch/delete, many for list and
 * deletecollection. Holds references, so it stays valid after later writes. */
struct sim_snap;

/* Runs r. Returns the HTTP status code; on success *out (may be NULL when not wanted) receives
 * the result snapshot (caller frees with sim_snap_free), on >= 400 *status a Status object. */
int sim_store_do(struct sim_store *s, const struct sim_req *r, struct sim_snap **out,
		 cJSON **status);

size_t sim_snap_len(const struct sim_snap *snap);
/* The i-th object (borrowed, read-only, valid until sim_snap_free). */
const cJSON *sim_snap_obj(const struct sim_snap *snap, size_t i);
/* Its compact JSON text (cached and shared; borrowed likewise). NULL on ENOMEM. */
const char *sim_snap_json(const struct sim_snap *snap, size_t i);
/* The store's resourceVersion when the snapshot was taken (for list metadata); for the pages
 * of a paged list, the resourceVersion of the first page. */
const char *sim_snap_rv(const struct sim_snap *snap);
/* A list page's metadata.continue: the opaque token for the next page, NULL when none. */
const char *sim_snap_continue(const struct sim_snap *snap);
/* A list page's metadata.remainingItemCount: the items after this page, or -1 when absent (the
 * last page, or a label/field selector made the count unknown, as upstream). */
long sim_snap_remaining(const struct sim_snap *snap);
/* NULL is a no-op. */
void sim_snap_free(struct sim_snap *snap);

/* Paging (SIM_LIST with limit / continue_token), following the apiserver's etcd3 storage:
 * - limit > 0: at most limit items matching the selectors (selectors apply before paging),
 *   in key order (namespace/name); when more match, a continue token, and remainingItemCount
 *   when there is no label or field selector. resourceVersion "0" without a continue token
 *   ignores limit (the apiserver serves it from the watch cache, which does not page).
 * - The token (base64url of {"v":"meta.k8s.io/v1","rv":RV,"start":LASTKEY}) resumes after
 *   LASTKEY with the list as it was at RV, the first page's resourceVersion: objects created,
 *   changed or deleted since are shown as they were at RV (rebuilt from the watch history), and
 *   every page carries RV as its resourceVersion. An RV older than the history (the events
 *   dropped or sim_store_compact) is 410 Expired, with a token in the Status' metadata.continue
 *   that continues at the current state (rv -1, as upstream; an inconsistent list).
 * - A malformed token is 400 "invalid continue token: ..."; a continue token together with a
 *   resourceVersion other than "" or "0" is 400 "specifying resource version is not allowed
 *   when using continue". */

/* ---- Subscribers: the simulated controllers' view of every change. */

/* The change callback: type "ADDED", "MODIFIED" or "DELETED"; obj is the new object (for DELETED
 * its last state, with the deletion's resourceVersion); old is the previous one (NULL for
 * ADDED). Both are borrowed and valid only during the call. Called after the store lock is
 * released, on the writing thread, in commit order (calls are serialized by a separate
 * notification lock): a subscriber must not block and must not call back into the store from
 * the callback (that would deadlock); it copies what it needs and signals its own thread. */
typedef void (*sim_store_change_fn)(void *ud, const char *type, const char *group,
				    const char *resource, const cJSON *obj, const cJSON *old);

/* Registers fn (at most 16 subscribers). Call before the server starts serving.
 * Returns 0, or KUBE_ENOMEM when the table is full. */
int sim_store_subscribe(struct sim_store *s, sim_store_change_fn fn, void *ud);

/* ---- Controls (the /sim/v1 control API and fault injection call these). */

/* Turns graceful pod deletion on or off (see the deletion contract). Default off. */
void sim_store_set_pod_grace(struct sim_store *s, int on);

/* Allocates Service clusterIPs from 127.2.0.0/16 (loopback, for sim_proxy) instead of
 * 10.96.0.0/16, from an offset derived from the pid. Call before Services are created;
 * thread-safe. Default off. */
void sim_store_set_loopback_cluster_ips(struct sim_store *s, int on);

/* Turns on what a real control plane does for pods' API credentials (kubesim --run-pods):
 * the ServiceAccount admission on pod create (the projected kube-api-access-XXXXX volume with a
 * serviceAccountToken, kube-root-ca.crt's ca.crt and the namespace, mounted read-only at
 * /var/run/secrets/kubernetes.io/serviceaccount in every container, unless
 * automountServiceAccountToken is false on the pod or its ServiceAccount) and the root CA
 * publisher (the kube-root-ca.crt ConfigMap holding ca_pem, copied, in every namespace, now and
 * on namespace create). Once; later calls are no-ops. 0, KUBE_EINVAL (no CA) or KUBE_ENOMEM. */
int sim_store_set_sa_admission(struct sim_store *s, const char *ca_pem);

/* The current global resourceVersion. */
uint64_t sim_store_rv(struct sim_store *s);

/* Drops the whole watch history: any watch that starts from a resourceVersion older than the
 * current one then gets 410 Expired (the control API's "compact"). */
void sim_store_compact(struct sim_store *s);

/* Closes every open watch stream (clients see the stream end and rewatch). */
void sim_store_close_watches(struct sim_store *s);

/* Removes every object (DELETED events to subscribers), closes every watch, unregisters every
 * CRD and recreates the default namespaces: a clean cluster for the next test. */
void sim_store_reset(struct sim_store *s);

/* ---- Watches (the HTTP layer's watch streams; controllers may use them too). */

struct sim_watch_opts {
	const char *group, *resource; /* what to watch (required) */
	const char *ns;               /* NULL/"" = all namespaces */
	const char *label_selector;   /* may be NULL */
	const char *field_selector;   /* may be NULL */
	const char *resource_version; /* NULL/""/"0": synthetic ADDED for current objects first */
	int send_initial_events;      /* sendInitialEvents=true: ADDED for current objects, then a
				       * BOOKMARK annotated k8s.io/initial-events-end */
	size_t queue_max;             /* pending events before the watch is closed (0 = 10000) */
};

/* The events sim_watch_next hands out. */
enum sim_event_type {
	SIM_EV_ADDED = 0,
	SIM_EV_MODIFIED = 1,
	SIM_EV_DELETED = 2,
	SIM_EV_BOOKMARK = 3,
};

/* sim_watch_next results besides 1 (an event) and 0 (timeout). */
#define SIM_WATCH_CLOSED (-1)  /* the store closed it (close_watches, overflow, shutdown) */
#define SIM_WATCH_EXPIRED (-2) /* the start resourceVersion is older than the history: send
				* ERROR 410 Expired; *status is filled in by sim_watch_next */

/* Starts a watch. 200 with *out, or 400 (bad selector) / 404 (unknown resource) with *status.
 * A start rv older than the history is not an error here: the first sim_watch_next returns
 * SIM_WATCH_EXPIRED (the apiserver also answers 200 and then an ERROR event). */
int sim_store_watch(struct sim_store *s, const struct sim_watch_opts *o, struct sim_watch **out,
		    cJSON **status);

/* Waits up to timeout_ms for the next event that passes the watch's filters. Returns 1 with
 * (*obj may be NULL for the initial ADDED events of a watch without selectors: the store keeps
 * objects as text, so parse *json if a tree is needed)
 * *type, *obj (borrowed: valid until the next sim_watch_next or sim_watch_free; read-only) and
 * *json (the object's compact JSON, borrowed likewise; for BOOKMARK a minimal object), 0 on
 * timeout, SIM_WATCH_CLOSED, or SIM_WATCH_EXPIRED (then *obj is a Status object, same lifetime).
 * An object that stops matching the selectors is reported as DELETED, one that starts matching
 * as ADDED. Call from one thread per watch. */
int sim_watch_next(struct sim_watch *w, int timeout_ms, enum sim_event_type *type,
		   const cJSON **obj, const char **json);

/* For a periodic BOOKMARK: returns 1 and sets *rv to the store's current resourceVersion when
 * the watch has delivered everything up to it (nothing replayed, initial or queued is pending),
 * so a client may resume from *rv without missing an event; 0 otherwise. Same thread as
 * sim_watch_next. */
int sim_watch_bookmark_rv(struct sim_watch *w, uint64_t *rv);

/* Makes a blocked sim_watch_next return SIM_WATCH_CLOSED (any thread). */
void sim_watch_close(struct sim_watch *w);

/* Unregisters and frees the watch. NULL is a no-op. Not concurrently with sim_watch_next. */
void sim_watch_free(struct sim_watch *w);

/* Event type name: "ADDED", "MODIFIED", "DELETED", "BOOKMARK". */
const char *sim_event_type_name(enum sim_event_type t);

/* ---- Helpers shared with the HTTP layer. */

/* A new Status object: code, reason ("NotFound"), message; details (may be NULL) is taken over.
 * NULL on ENOMEM. */
cJSON *sim_status_new(int code, const char *reason, const char *message, cJSON *details);

/* The current time as RFC 3339 ("2026-01-02T03:04:05Z") into buf (>= 21 bytes). */
void sim_now_rfc3339(char *buf, size_t len);

#endif
