/* kubesim patch algorithms: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes
 * strategic merge patch for built-in kinds. Pure functions on cJSON trees, no I/O, no globals. */
#ifndef SIM_PATCH_H
#define SIM_PATCH_H

#include <cjson/cJSON.h>

/* All three functions take the document by `cJSON **` because a patch may replace the root
 * (a non-object merge patch, a JSON patch op on path ""). They work on a copy and swap it in
 * only on success, so on any failure *doc is exactly what it was. The old root is freed when
 * replaced; the caller keeps owning *doc. `patch`/`ops` are borrowed and never modified.
 * Error strings (*errmsg) are malloc'd, owned by the caller, set only on failure (NULL-safe:
 * pass NULL to ignore). Thread safety: none needed, no shared state. */

/* RFC 7386 merge patch: null deletes a key, objects merge recursively, anything else replaces
 * (a non-object patch replaces the whole document). *doc may be NULL (treated as absent).
 * Returns 0, KUBE_EINVAL (doc or patch NULL) or KUBE_ENOMEM. */
int sim_merge_patch(cJSON **doc, const cJSON *patch);

/* RFC 6902 JSON patch: `ops` is an array of {op, path, value|from}. Ops: add, remove, replace,
 * move, copy, test. Paths are JSON pointers (~0 ~1 escapes, "-" appends to an array).
 * Atomic: a failing op leaves *doc unchanged.
 * Returns 0; KUBE_EBADREQUEST when `ops` is malformed (not an array, unknown op, missing path or
 * value, bad pointer syntax) -- the apiserver answers 400; KUBE_EINVALID when a well-formed op
 * cannot be applied (missing path, index out of range, test failed) -- the apiserver answers
 * 422; KUBE_ENOMEM. *errmsg names the op index and path, e.g.
 * "op 1 (remove /spec/x): path not found". */
int sim_json_patch(cJSON **doc, const cJSON *ops, char **errmsg);

/* Strategic merge patch for built-in kinds (what kubectl apply and helm upgrade send).
 * Lists with a known merge key (see sim_smp_merge_key) merge item by item; other lists replace.
 * Honors `$patch: replace|delete|merge` (maps and list items), `$setElementOrder/<list>`,
 * `$deleteFromPrimitiveList/<list>` and `$retainKeys`; no directive survives into the result.
 * null deletes a map key. `kind_hint` (e.g. "Service", may be NULL) selects per-kind keys.
 * Returns 0; KUBE_EBADREQUEST for a malformed patch (unknown $patch value, directive of the
 * wrong type, patch not an object); KUBE_ENOMEM. */
int sim_strategic_merge_patch(cJSON **doc, const cJSON *patch, const char *kind_hint,
			      char **errmsg);

/* The merge key of the list named `field` (e.g. "containers" -> "name", "volumeMounts" ->
 * "mountPath", "ports" -> "containerPort", or "port" when kind_hint is "Service"); "" for a list
 * of primitives merged as a set ("finalizers"); NULL when the list is atomic (replaced whole:
 * tolerations, envFrom, args, ...). Keyed by field name, not full path: exact for the built-in
 * kinds kubesim serves. Static string, never freed. */
const char *sim_smp_merge_key(const char *field, const char *kind_hint);

#endif
