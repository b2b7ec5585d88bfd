/* kubesim's resource registry: the built-in kinds, the kinds CRDs add, and the legacy discovery
 * documents (/api, /apis, /api/v1, /apis/G/V) built from them.
 *
 * A struct sim_rtype is immutable once published and stays allocated until the registry is freed
 * (a CRD update publishes a new one; the old one is retired, not freed), so a pointer from a
 * lookup stays valid without holding any lock. The registry itself is guarded by a rwlock. */
#ifndef SIM_REGISTRY_H
#define SIM_REGISTRY_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct sim_registry;

struct sim_rtype {
	char *group;    /* "" for core */
	char *resource; /* plural, "pods" */
	char *singular; /* "pod" */
	char *kind;     /* "Pod" */
	char *list_kind;
	char **versions; /* served versions, versions[0] preferred/storage; NULL-terminated */
	char **short_names; /* NULL-terminated (may be empty) */
	char **categories;  /* NULL-terminated (may be empty) */
	int namespaced;
	int has_status; /* status subresource */
	int has_scale;  /* scale subresource */
	int builtin;    /* strategic merge patch and unconditional PUT allowed */
	int has_spec;   /* generation is tracked (kinds with a spec, and custom resources) */
	cJSON *crd;     /* the CRD this came from (owned), NULL for built-ins */
	/* scale subresource paths (".spec.replicas" style), NULL when has_scale is 0 */
	char *spec_replicas_path, *status_replicas_path, *label_selector_path;
};

/* Creates the registry with every built-in kind. Returns 0 or KUBE_ENOMEM. */
int sim_registry_new(struct sim_registry **out);
/* NULL is a no-op. No lookups may run concurrently. */
void sim_registry_free(struct sim_registry *reg);

/* The type serving group/resource (any version), or NULL. Thread-safe. */
const struct sim_rtype *sim_registry_find(struct sim_registry *reg, const char *group,
					  const char *resource);
/* The type serving group/version/resource, or NULL when unknown or version not served. */
const struct sim_rtype *sim_registry_find_gvr(struct sim_registry *reg, const char *group,
					      const char *version, const char *resource);
/* The type with this group and kind (for ownerReferences and the like), or NULL. */
const struct sim_rtype *sim_registry_find_kind(struct sim_registry *reg, const char *group,
					       const char *kind);

/* True when version is one of t's served versions. */
int sim_rtype_serves(const struct sim_rtype *t, const char *version);
/* The CRD spec.versions[] entry for version (NULL = the storage version), borrowed from t->crd;
 * NULL for built-ins or an unknown version. */
const cJSON *sim_rtype_crd_version(const struct sim_rtype *t, const char *version);
/* The openAPIV3Schema of that version, or NULL. */
const cJSON *sim_rtype_schema(const struct sim_rtype *t, const char *version);

/* Checks a CRD object the way the apiserver does before accepting it: metadata.name ==
 * plural.group, names.plural/kind present, scope Namespaced|Cluster, at least one version and
 * exactly one storage version. Returns 0, or KUBE_EINVALID with *causes (new array of
 * {reason,message,field}, caller frees) naming the bad fields. */
int sim_registry_check_crd(const cJSON *crd, cJSON **causes);

/* Publishes (or replaces) the type a CRD defines. crd is copied. Returns 0, KUBE_EINVALID (see
 * sim_registry_check_crd), or KUBE_EALREADYEXISTS when the group/resource is a built-in. */
int sim_registry_add_crd(struct sim_registry *reg, const cJSON *crd);
/* Unpublishes the type of the CRD named `crd_name` ("plural.group"). Returns 0 or
 * KUBE_ENOTFOUND. */
int sim_registry_remove_crd(struct sim_registry *reg, const char *crd_name);
/* Unpublishes every CRD-defined type. */
void sim_registry_remove_all_crds(struct sim_registry *reg);

/* Visits every published type (under the read lock: fn must not call the registry). */
void sim_registry_foreach(struct sim_registry *reg,
			  void (*fn)(void *ud, const struct sim_rtype *t), void *ud);

/* Discovery documents (new objects, caller frees; NULL on ENOMEM):
 * /api -> APIVersions, /apis -> APIGroupList, and the APIResourceList of one group/version
 * (NULL with *found = 0 when that group/version is not served). server_addr is "host:port". */
cJSON *sim_registry_api_versions(struct sim_registry *reg, const char *server_addr);
cJSON *sim_registry_api_groups(struct sim_registry *reg);
cJSON *sim_registry_resources(struct sim_registry *reg, const char *group, const char *version,
			      int *found);

#endif
