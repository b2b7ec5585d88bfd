/* kubesim server-side printing: builds the meta.k8s.io/v1 Table that `kubectl get` asks for,
 * from CRD additionalPrinterColumns or built-in printers (pods, services, deployments, ...). */
#ifndef SIM_TABLE_H
#define SIM_TABLE_H

#include <stddef.h>
#include <time.h>
#include <cjson/cJSON.h>

/* ?includeObject= values: what each row's "object" carries. */
enum sim_table_include {
	SIM_TABLE_INCLUDE_NONE = 0,     /* "object": null */
	SIM_TABLE_INCLUDE_METADATA = 1, /* PartialObjectMetadata (the apiserver default) */
	SIM_TABLE_INCLUDE_OBJECT = 2,   /* the full object (kubectl --sort-by) */
};

/* Maps the includeObject query value ("None", "Metadata", "Object"; NULL or "" -> Metadata).
 * Returns the enum value, or -1 for anything else (the server answers 400). */
int sim_table_parse_include(const char *value);

/* Builds a Table of `n` objects (borrowed, read-only; n may be 0).
 * - crd_version: the CRD's spec.versions[] entry (with additionalPrinterColumns) for custom
 *   resources: Name, then each column (cells typed per the column; a missing value or one of the
 *   wrong type is null; like the apiserver only the first JSONPath result is used), or Name +
 *   Age when the version has no columns.
 * - Otherwise (crd_version NULL) the built-in printer chosen by `kind`: Pod, Service, Deployment,
 *   ReplicaSet, Job, Namespace, ConfigMap, Secret, ServiceAccount, Lease, Node, Event. Any other
 *   kind (CustomResourceDefinition, RBAC, ...) gets the apiserver default, Name + Created At.
 *   Like the apiserver, rows always carry the priority-1 (-o wide) cells too.
 * - include_object: enum sim_table_include (see sim_table_parse_include).
 * - resource_version: the Table's metadata.resourceVersion (may be NULL: omitted).
 * - now: the clock for ages, so tests are deterministic.
 * Returns a new object the caller frees with cJSON_Delete, or NULL on ENOMEM. For a watch event
 * (kubectl get -w) build a one-row Table per event. */
cJSON *sim_table_build(const cJSON *crd_version, const char *kind, const cJSON *const *objs,
		       size_t n, int include_object, const char *resource_version, time_t now);

/* kubectl's HumanDuration ("5s", "3m20s", "2d4h", "3y", "<invalid>" below -1 s, "0s" at -1).
 * Returns a malloc'd string (caller frees) or NULL on ENOMEM. */
char *sim_duration_human(long seconds);

/* Parses an RFC 3339 time ("2025-01-01T00:00:00Z", optional fraction, Z or +hh:mm offset).
 * Returns 0 and sets *out (UTC epoch seconds), or KUBE_EINVAL. */
int sim_time_parse(const char *s, time_t *out);

#endif
