/* The Intent informer's transform (kube_source.transform of the controller's primary): the
 * cache holds a projection of each Intent, only what is read across Intents, and stores it as
 * compact text. At 10,000 queued Intents the whole objects cost ~20 KiB each (managedFields,
 * the last-applied annotation, governance results, SPEC findings, audit, messages, as cJSON
 * trees); the projection is well under 2 KiB (bench/intent_queue_bench.sh, bench/phx_results.md).
 *
 * Kept (everything else is dropped):
 *   apiVersion, kind;
 *   metadata: name, namespace, uid, resourceVersion, generation, creationTimestamp,
 *     deletionTimestamp, labels, ownerReferences;
 *   spec: serviceName, priority, state, autoBuild, port, dependencies (the queue and the
 *     governance rules' view of the other Intents: order, cancelled, finished, port and name
 *     taken, dependencies and cycles);
 *   status: queue.position, and the conditions of the types the queue tests (Approved,
 *     Denied, Queued, SpecReady, SpecApproved, BuildSucceeded) reduced to type, status,
 *     reason, observedGeneration (what intent_cond_is and the queue test); status.phase,
 *     observedGeneration and the Evaluated, Ready and SLABreached conditions are read only
 *     on the Intent a reconcile GETs (~130 bytes less per cached Intent).
 * The reconciler reads the Intent it reconciles whole, from the API server (a GET, never a
 * write), because it rebuilds the status from the previous one; only the queue pass, the peer
 * rules and the watch mappings read the cache. Whoever makes them read another field of a
 * cached Intent adds it here and to tests/unit/test_intent_transform.c.
 * Pure and deterministic, in place, only deletes; returns obj (ud unused). */
#ifndef INTENT_TRANSFORM_H
#define INTENT_TRANSFORM_H

#include <cjson/cJSON.h>

cJSON *intent_transform(cJSON *obj, void *ud);

#endif
