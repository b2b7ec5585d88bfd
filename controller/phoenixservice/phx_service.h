/* The PhoenixService reconciler: turns the observed pods/Service/PDB of one PhoenixService into
 * writes (label patches, creates, deletes, status) using the pure planner in phx_failover.h.
 * Level-based and idempotent; per-service memory covers what a cache cannot say yet (our own
 * writes not yet seen by the watch, when a failure was first seen, failover bookkeeping). */
#ifndef PHX_SERVICE_H
#define PHX_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "phx_failover.h"

struct kube_client;
struct kube_events;
struct kube_metrics;
struct phx_reconciler;

struct phx_reconciler_opts {
	struct kube_client *client;   /* borrowed, required */
	struct kube_events *events;   /* borrowed; NULL = no Events */
	struct kube_metrics *metrics; /* borrowed; NULL = kube_metrics_default() */
};

/* Creates a reconciler. Returns 0, KUBE_EINVAL, KUBE_ENOMEM. */
int phx_reconciler_new(const struct phx_reconciler_opts *opts, struct phx_reconciler **out);
/* Frees it; no reconcile or event call may be running. NULL is a no-op. */
void phx_reconciler_free(struct phx_reconciler *r);

/* What the caches hold for one PhoenixService; all borrowed for the call. */
struct phx_observed {
	const cJSON *svc;     /* the PhoenixService, NULL when it is gone */
	const cJSON *pods;    /* array of its pods (owned by its UID), may be NULL */
	const cJSON *service; /* its Service, NULL when missing */
	const cJSON *pdb;     /* its PodDisruptionBudget, NULL when missing */
};

/* Names (up to max) of pods the handlers saw labelled for key's service whose controller
 * ownerReference and owner label disagree: maybe foreign, maybe ours from before the owner
 * label. A phx_load_fn adds those still cached to *pods (phx_reconcile_load sorts them out by
 * ownerReference). Thread-safe; may be called with the key's reconcile lock held. */
#define PHX_SUSPECTS_MAX 16
size_t phx_reconciler_suspects(struct phx_reconciler *r, const char *key,
			       char (*names)[PHX_NAME_MAX], size_t max);

/* Reconciles key "ns/name" once. On return *requeue_after_ms > 0 asks for another pass then.
 * Returns 0, or a negative kube_err when a write failed (the caller retries with backoff;
 * KUBE_ENOTLEADER: this process lost its lease, do not retry). Safe to call from several
 * threads: calls for the same key are serialized, different keys run in parallel. */
int phx_reconcile(struct phx_reconciler *r, const char *key, const struct phx_observed *obs,
		  int64_t *requeue_after_ms);

/* Fills copies of the cached objects of key (each NULL when missing); phx_reconcile_load frees
 * them. *pods: its owned pods plus the cached suspects (phx_reconciler_suspects); those it
 * does not own are reported and fenced out of its Service, never deleted. Called with the key's reconcile lock held. */
typedef void (*phx_load_fn)(void *ud, const char *key, cJSON **svc, cJSON **pods,
			    cJSON **service, cJSON **pdb);

/* As phx_reconcile, but reads the caches through load() only once it holds the key's lock, so
 * that each reconcile of a key sees a snapshot at least as new as the one before. */
int phx_reconcile_load(struct phx_reconciler *r, const char *key, phx_load_fn load, void *ud,
		       int64_t *requeue_after_ms);

/* The fast path, called from the pod informer's handlers (any of old/new may be NULL; deleted
 * true for a delete). Records readiness and the moment a primary's failure is first seen.
 * Returns true when the event shows a primary failing: the caller must react at once.
 * Never blocks on the network; cheap. Thread-safe. */
bool phx_reconciler_pod_event(struct phx_reconciler *r, const cJSON *old_pod, const cJSON *new_pod,
			      bool deleted);

/* Forgets cached failover bookkeeping so it is re-read from status (call on gaining
 * leadership: the previous leader may have moved on). Thread-safe. */
void phx_reconciler_reset_bookkeeping(struct phx_reconciler *r);

/* Drops what the reconciler remembers of key's service (its record, gauges and failover
 * counter), as the reconcile that sees it gone does. For replicas that do not reconcile: the
 * manager calls it when the service is deleted. No-op for an unknown key. Thread-safe. */
void phx_reconciler_forget(struct phx_reconciler *r, const char *key);

/* True when key's last reconcile left a failover with no Ready pod serving: a failed reconcile
 * of it deserves the urgent lane's fast retry. False for an unknown key. Never blocks on a
 * reconcile. Thread-safe. */
bool phx_reconciler_failover_pending(struct phx_reconciler *r, const char *key);

/* How many services the reconciler keeps memory for. A service's memory is dropped by the
 * reconcile that sees it gone (and made afresh if it comes back). For tests. Thread-safe. */
size_t phx_reconciler_nrecords(struct phx_reconciler *r);

/* Snapshot for the dashboard: a new JSON object (caller frees) with totals and per-service
 * rows. NULL on ENOMEM. Thread-safe. */
cJSON *phx_reconciler_dashboard(struct phx_reconciler *r);

/* Wall clock in ms since the epoch; real time (the reconciler writes timestamps to the API). */
int64_t phx_wall_ms(void);

#endif
