/* kubesim's share of the apiserver's built-in validation that its schema code does not do:
 * label keys and values on every object, Pod specs (in Pods and in the pod templates of
 * Deployments, ReplicaSets and Jobs) and Services, with the upstream messages (verified against
 * kube-apiserver v1.32.13, see docs/kubesim.md "Differences from the real API server"). */
#ifndef SIM_VALIDATE_H
#define SIM_VALIDATE_H

#include <cjson/cJSON.h>

/* Validates obj, an object of group/resource ("" / "pods"), as the apiserver does on create and
 * update:
 *  - metadata.labels (every kind): keys are qualified names (optional DNS-subdomain prefix of at
 *    most 253 characters, name part of at most 63), values at most 63 characters of
 *    [A-Za-z0-9._-] starting and ending alphanumeric;
 *  - Pods, and spec.template of apps/v1 deployments, replicasets and batch/v1 jobs: containers
 *    required; each container (and init container) has a DNS-1123 label name, an image,
 *    containerPort 1..65535, hostPort 0..65535, and port names that are IANA service names;
 *  - Services: metadata.name a DNS-1035 label (at most 63), spec.ports required unless
 *    clusterIP is None or type ExternalName, port 1..65535, integer targetPort 1..65535, a name
 *    on every port when there are several, names unique.
 * Returns 0 when valid (*causes NULL), KUBE_EINVALID with *causes a new array (caller frees) of
 * StatusCause objects {"reason","message","field"} in the apiserver's order and wording
 * ("Required value", `Invalid value: "x": <msg>`, `Invalid value: 99999: <msg>`), or
 * KUBE_ENOMEM (*causes NULL). Objects of other kinds get only the label checks. obj is never
 * modified; no shared state, so any thread may call it. */
int sim_validate_object(const char *group, const char *resource, const cJSON *obj,
			cJSON **causes);

#endif
