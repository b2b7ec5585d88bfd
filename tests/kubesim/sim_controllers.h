/* kubesim's simulated cluster: the controllers a real cluster runs (nodes and kubelet, endpoints,
 * garbage collector, deployments/replicasets, jobs), driven by the store's write events.
 *
 * Invariants: every controller runs on one thread (the "controller loop") or under the
 * controllers' lock (the /sim/v1 control API), so module state needs no locks of its own. The
 * store's subscriber callback only copies the event into a queue and signals the loop: it never
 * blocks and never takes the controllers' lock. Controllers write through the store's internal
 * verbs, whose events come back through the same queue. */
#ifndef SIM_CONTROLLERS_H
#define SIM_CONTROLLERS_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

struct sim_server;
struct sim_options;
struct sim_store;
struct sim_controllers;
struct sim_kubelet;
struct sim_endpoints;
struct sim_gc;
struct sim_workloads;
struct sim_jobs;

/* ---- Entry points for the server ---- */

/* Creates the simulated nodes, subscribes to the store, registers the /sim/v1 routes and starts
 * the controller loop thread. `opts` is read during the call only (nodes, pod ready delay).
 * On success *out is owned by the caller (free it with sim_controllers_stop). On error nothing
 * keeps running and *out is NULL. Call it once, after the store exists and before the listener
 * accepts requests. */
int sim_controllers_start(struct sim_server *srv, const struct sim_options *opts,
			  struct sim_controllers **out);

/* Stops the loop thread and frees everything. Call it after sim_server_stop (no request may
 * write to the store any more: the store keeps calling the subscriber, which must not outlive
 * this) and before sim_server_free. NULL is a no-op. */
void sim_controllers_stop(struct sim_controllers *c);

/* ---- Internal: what the controller modules share (loop thread or controllers' lock held) ---- */

/* Kinds the controllers keep a read cache of (latest committed version, kept by the events
 * and by the controllers' own writes, which are applied at once so that a reconcile never acts
 * on a state older than its own last write). */
enum sim_kind {
	SIM_K_PODS = 0,
	SIM_K_SERVICES,
	SIM_K_NODES,
	SIM_K_DEPLOYMENTS,
	SIM_K_REPLICASETS,
	SIM_K_JOBS,
	SIM_K_COUNT,
};

/* The store of the server the controllers run in. */
struct sim_store *sim_ctl_store(struct sim_controllers *c);
struct sim_server *sim_ctl_server(struct sim_controllers *c);

/* Monotonic and wall time in ms from the controllers' clock. While an event is being handled,
 * sim_ctl_event_ms gives the monotonic time at which the store committed it (so histories
 * keep commit times, not handling times), and sim_ctl_event_wall_ms the matching wall time. */
int64_t sim_ctl_now_ms(struct sim_controllers *c);
int64_t sim_ctl_wall_ms(struct sim_controllers *c);
int64_t sim_ctl_event_ms(struct sim_controllers *c);
int64_t sim_ctl_event_wall_ms(struct sim_controllers *c);

/* Cached object or NULL (borrowed until the next event or write; never modify it). */
const cJSON *sim_cache_get(struct sim_controllers *c, enum sim_kind k, const char *ns,
			   const char *name);
/* Every cached object of kind k in ns (NULL = all): *out is a malloc'd array of borrowed
 * pointers (caller frees the array only). Returns the count; 0 with *out NULL when empty or on
 * ENOMEM. Objects the controllers deleted themselves are left out before their DELETED. */
size_t sim_cache_list(struct sim_controllers *c, enum sim_kind k, const char *ns,
		      const cJSON ***out);

/* Runs fn(c, arg) on the loop thread after delay_ms (0 = at the next turn); free_arg (may be
 * NULL) frees arg after the call or when the timer is dropped (reset, stop). Returns 0 or
 * KUBE_ENOMEM (arg is then freed). */
int sim_ctl_after(struct sim_controllers *c, int64_t delay_ms,
		  void (*fn)(struct sim_controllers *c, void *arg), void *arg,
		  void (*free_arg)(void *arg));

/* Writes through the store with the result applied to the cache. Each returns the store's HTTP
 * code (2xx on success); *out (may be NULL) receives the result (caller frees). Errors are
 * logged at debug level; 404 on update/patch/delete is normal (the object is already gone). */
int sim_ctl_create(struct sim_controllers *c, const char *group, const char *resource,
		   const char *ns, const cJSON *obj, cJSON **out);
int sim_ctl_update(struct sim_controllers *c, const char *group, const char *resource,
		   const char *ns, const char *name, const char *subresource, const cJSON *obj,
		   cJSON **out);
int sim_ctl_patch(struct sim_controllers *c, const char *group, const char *resource,
		  const char *ns, const char *name, const char *subresource, const cJSON *merge_patch,
		  cJSON **out);
int sim_ctl_delete(struct sim_controllers *c, const char *group, const char *resource,
		   const char *ns, const char *name, const char *propagation, long grace_seconds,
		   const char *precondition_uid);
/* Read-modify-write with optimistic concurrency: GETs the object, calls edit(obj, ud) which
 * changes it in place and returns 1 (write it), 0 (nothing to do) or < 0 (give up), then PUTs
 * it with its resourceVersion; retries on 409. Returns the last HTTP code (200 when nothing
 * needed doing). */
int sim_ctl_modify(struct sim_controllers *c, const char *group, const char *resource,
		   const char *ns, const char *name, int (*edit)(cJSON *obj, void *ud), void *ud);

/* The modules' state, for their glue code. */
struct sim_kubelet *sim_ctl_kubelet(struct sim_controllers *c);
struct sim_endpoints *sim_ctl_endpoints(struct sim_controllers *c);
struct sim_gc *sim_ctl_gc(struct sim_controllers *c);
struct sim_workloads *sim_ctl_workloads(struct sim_controllers *c);
struct sim_jobs *sim_ctl_jobs(struct sim_controllers *c);

/* Locks the controllers against the loop thread (the control API calls this around every
 * operation). Not recursive. */
void sim_ctl_lock(struct sim_controllers *c);
void sim_ctl_unlock(struct sim_controllers *c);

/* Runs every queued event and due timer now (caller holds the lock): the control API uses it so
 * that the effects of an operation are visible when it answers. */
void sim_ctl_drain_locked(struct sim_controllers *c);

/* Resets the simulated cluster (caller holds the lock): every object goes (sim_store_reset),
 * module state and scripts are forgotten, the nodes are recreated. */
int sim_ctl_reset_locked(struct sim_controllers *c);

/* ---- Helpers shared by the controller modules (pure, no locking needed) ---- */

/* Follows a dotted path ("metadata.name"); NULL if any step is missing. */
const cJSON *sim_j_at(const cJSON *obj, const char *path);
/* The string at path, or NULL if missing or not a string. */
const char *sim_j_str(const cJSON *obj, const char *path);
/* The number at path, or `def` if missing or not a number. */
int64_t sim_j_int(const cJSON *obj, const char *path, int64_t def);
/* 1 if the bool at path is true, 0 if false, `def` if missing. */
int sim_j_bool(const cJSON *obj, const char *path, int def);
/* Gets or creates the object member `name` of obj (replacing a non-object). NULL on ENOMEM. */
cJSON *sim_j_obj(cJSON *obj, const char *name);
/* Replaces (or adds) member `name` of obj with `value`, which obj takes. */
void sim_j_set(cJSON *obj, const char *name, cJSON *value);
void sim_j_set_str(cJSON *obj, const char *name, const char *value);
void sim_j_set_num(cJSON *obj, const char *name, double value);
void sim_j_set_bool(cJSON *obj, const char *name, int value);

/* RFC 3339 UTC: "2026-11-22T20:00:00Z" (frac 0), ".123Z" (3) or ".123000Z" (6). buf >= 40. */
void sim_ctl_time_format(int64_t wall_ms, int frac_digits, char *buf, size_t len);
/* Parses RFC 3339 (fraction optional); -1 if unparsable. */
int64_t sim_ctl_time_parse(const char *s);

/* 1 if every key of the map selector (a Service's spec.selector) equals the label. An empty or
 * missing selector matches nothing here, as Services without selectors get no endpoints. */
int sim_selector_map_match(const cJSON *selector, const cJSON *labels);
/* metav1.LabelSelector (matchLabels + matchExpressions In/NotIn/Exists/DoesNotExist). An empty
 * selector matches everything; NULL matches nothing. */
int sim_label_selector_match(const cJSON *selector, const cJSON *labels);
/* 1 if the object's status.conditions has `type` with status "True" (pods: "Ready"). */
int sim_condition_true(const cJSON *obj, const char *type);
/* 1 if obj has an ownerReference with controller:true and this uid. */
int sim_is_controlled_by(const cJSON *obj, const char *owner_uid);

#endif
