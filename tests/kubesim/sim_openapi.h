/* kubesim's OpenAPI v3 documents for the kinds CRDs define, enough for `kubectl explain`:
 * GET /openapi/v3 (the index) and GET /openapi/v3/apis/G/V (one document per group/version),
 * in the shape kube-apiserver v1.32 builds them from the CRD schemas. */
#ifndef SIM_OPENAPI_H
#define SIM_OPENAPI_H

#include <cjson/cJSON.h>

#include "sim_registry.h"

/* The document for `path` (the request URL without its query string): "/openapi/v3" gives the
 * index {"paths":{"apis/G/V":{"serverRelativeURL":"/openapi/v3/apis/G/V"}}} listing every
 * group/version a CRD serves (built-in kinds are left out on purpose: kubectl then keeps its
 * OpenAPI v2 fallback for them, see docs/kubesim.md); "/openapi/v3/apis/G/V" gives an OpenAPI
 * 3.0 document with a list and a get path per resource carrying x-kubernetes-group-version-kind,
 * and components.schemas["<reversed group>.<version>.<Kind>"] = the CRD version's
 * openAPIV3Schema (copied, with apiVersion/kind/metadata described when the schema lacks them,
 * and x-kubernetes-group-version-kind). Returns a new object (caller frees), or NULL when the
 * path names nothing served or on ENOMEM. Thread-safe (reads the registry under its lock). */
cJSON *sim_openapi_v3(struct sim_registry *reg, const char *path);

#endif
