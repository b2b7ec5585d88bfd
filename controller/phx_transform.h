/* Informer transforms (kube_informer_opts.transform): trim the objects the operator caches to
 * the fields it reads, so 1,000 PhoenixServices fit in a few MiB instead of ~70 MiB.
 * Invariants: pure and deterministic; every transform trims obj in place and returns it (they
 * only delete, so they cannot fail); metadata.name, namespace, uid, resourceVersion,
 * generation, creationTimestamp, deletionTimestamp, labels and ownerReferences always survive. */
#ifndef PHX_TRANSFORM_H
#define PHX_TRANSFORM_H

#include <cjson/cJSON.h>

/* Any object: drops metadata.managedFields and the kubectl last-applied-configuration
 * annotation (each can be larger than the rest of the object; nothing reads them). Used for
 * PhoenixServices, whose spec, status and annotations the reconciler reads. ud is unused.
 * Returns obj (NULL only when obj is NULL). */
cJSON *phx_object_transform(cJSON *obj, void *ud);

/* Pods: keeps exactly what phx_pod_classify, phx_pod_is_ready, the reconciler and the
 * manager's handlers read, plus a little for logs and debugging:
 *   apiVersion, kind;
 *   metadata: name, namespace, uid, resourceVersion, generation, creationTimestamp,
 *     deletionTimestamp, deletionGracePeriodSeconds, labels, ownerReferences (annotations,
 *     managedFields, finalizers, generateName are dropped);
 *   spec.nodeName only (the controller never reads a pod's spec: revisions are labels);
 *   status: phase, reason; the Ready condition only (type, status, reason,
 *     lastTransitionTime); containerStatuses[] with name, ready, restartCount and
 *     state/lastState.{running,waiting,terminated} reduced to reason and exitCode.
 * Whoever makes the controller read another pod field must add it here (and to the test's
 * classifier table in tests/unit/test_phx_transform.c). ud is unused. Returns obj. */
cJSON *phx_pod_transform(cJSON *pod, void *ud);

/* Services the operator owns: phx_object_transform, then spec reduced to what the reconciler
 * compares and patches (type, selector, ports, publishNotReadyAddresses) plus clusterIP, and
 * status dropped. ud is unused. Returns obj. */
cJSON *phx_service_transform(cJSON *svc, void *ud);

/* PodDisruptionBudgets: only their existence is read; phx_object_transform and status dropped
 * (spec, a few fields, is kept). ud is unused. Returns obj. */
cJSON *phx_pdb_transform(cJSON *pdb, void *ud);

#endif
