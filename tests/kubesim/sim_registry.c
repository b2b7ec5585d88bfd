/* kubesim's resource registry: built-in kinds, CRD-defined kinds and legacy discovery. Types are
 * immutable once published and retired (not freed) when replaced, so lookups hand out plain
 * pointers. */
#include "sim_registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "kube_error.h"
#include "kube_json.h"

struct reg_entry {
	char *key; /* "group/resource" */
	struct sim_rtype *t;
	UT_hash_handle hh;
};

struct retired {
	struct sim_rtype *t;
	struct retired *next;
};

struct sim_registry {
	pthread_rwlock_t lock;
	struct reg_entry *by_key;
	/* publication order, for stable discovery output */
	struct sim_rtype **order;
	size_t norder, cap;
	struct retired *retired;
};

struct builtin {
	const char *group, *version, *resource, *singular, *kind;
	int namespaced, status, scale, spec;
	const char *short_names; /* comma-separated */
	const char *categories;
};

static const struct builtin builtins[] = {
	{"", "v1", "namespaces", "namespace", "Namespace", 0, 1, 0, 1, "ns", ""},
	{"", "v1", "nodes", "node", "Node", 0, 1, 0, 1, "no", ""},
	{"", "v1", "pods", "pod", "Pod", 1, 1, 0, 1, "po", "all"},
	{"", "v1", "services", "service", "Service", 1, 1, 0, 1, "svc", "all"},
	{"", "v1", "endpoints", "endpoints", "Endpoints", 1, 0, 0, 0, "ep", ""},
	{"", "v1", "configmaps", "configmap", "ConfigMap", 1, 0, 0, 0, "cm", ""},
	{"", "v1", "secrets", "secret", "Secret", 1, 0, 0, 0, "", ""},
	{"", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", 1, 0, 0, 0, "sa", ""},
	{"", "v1", "events", "event", "Event", 1, 0, 0, 0, "ev", ""},
	{"apps", "v1", "deployments", "deployment", "Deployment", 1, 1, 1, 1, "deploy", "all"},
	{"apps", "v1", "replicasets", "replicaset", "ReplicaSet", 1, 1, 1, 1, "rs", "all"},
	{"batch", "v1", "jobs", "job", "Job", 1, 1, 0, 1, "", "all"},
	{"coordination.k8s.io", "v1", "leases", "lease", "Lease", 1, 0, 0, 1, "", ""},
	{"policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", 1, 1,
	 0, 1, "pdb", ""},
	{"rbac.authorization.k8s.io", "v1", "roles", "role", "Role", 1, 0, 0, 0, "", ""},
	{"rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", 1, 0, 0,
	 0, "", ""},
	{"rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", 0, 0, 0,
	 0, "", ""},
	{"rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
	 "ClusterRoleBinding", 0, 0, 0, 0, "", ""},
	{"apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
	 "CustomResourceDefinition", 0, 1, 0, 1, "crd,crds", ""},
	{"discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", 1, 0, 0, 0,
	 "", ""},
	{"events.k8s.io", "v1", "events", "event", "Event", 1, 0, 0, 0, "ev", ""},
};

static void strv_free(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/* Splits "a,b" into a NULL-terminated vector; "" gives an empty one. */
static char **strv_split(const char *csv)
{
	size_t n = 1;
	for (const char *p = csv; *p; p++)
		n += (*p == ',');
	char **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return NULL;
	size_t i = 0;
	const char *p = csv;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		v[i] = strndup(p, len);
		if (!v[i]) {
			strv_free(v);
			return NULL;
		}
		i++;
		p += len;
		if (*p == ',')
			p++;
	}
	return v;
}

/* A vector of the strings in a JSON array (non-strings skipped); empty for NULL. */
static char **strv_from_json(const cJSON *arr)
{
	size_t n = (size_t)cJSON_GetArraySize(arr);
	char **v = calloc(n + 1, sizeof(*v));
	if (!v)
		return NULL;
	size_t i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it))
			continue;
		v[i] = strdup(it->valuestring);
		if (!v[i]) {
			strv_free(v);
			return NULL;
		}
		i++;
	}
	return v;
}

static void rtype_free(struct sim_rtype *t)
{
	if (!t)
		return;
	free(t->group);
	free(t->resource);
	free(t->singular);
	free(t->kind);
	free(t->list_kind);
	strv_free(t->versions);
	strv_free(t->short_names);
	strv_free(t->categories);
	cJSON_Delete(t->crd);
	free(t->spec_replicas_path);
	free(t->status_replicas_path);
	free(t->label_selector_path);
	free(t);
}

static char *key_of(const char *group, const char *resource)
{
	size_t gl = strlen(group), rl = strlen(resource);
	char *k = malloc(gl + rl + 2);
	if (!k)
		return NULL;
	memcpy(k, group, gl);
	k[gl] = '/';
	memcpy(k + gl + 1, resource, rl + 1);
	return k;
}

static void retire_locked(struct sim_registry *reg, struct sim_rtype *t)
{
	struct retired *r = malloc(sizeof(*r));
	if (!r) {
		/* Cannot retire safely without memory; leaking is better than a dangling pointer. */
		return;
	}
	r->t = t;
	r->next = reg->retired;
	reg->retired = r;
	for (size_t i = 0; i < reg->norder; i++) {
		if (reg->order[i] == t) {
			memmove(&reg->order[i], &reg->order[i + 1],
				(reg->norder - i - 1) * sizeof(*reg->order));
			reg->norder--;
			break;
		}
	}
}

/* Publishes t, retiring any type with the same key. Takes ownership of t on success. */
static int publish_locked(struct sim_registry *reg, struct sim_rtype *t)
{
	struct reg_entry *e = NULL;
	char *key = key_of(t->group, t->resource);
	if (!key)
		return KUBE_ENOMEM;
	HASH_FIND_STR(reg->by_key, key, e);
	if (e) {
		free(key);
		size_t pos = reg->norder;
		for (size_t i = 0; i < reg->norder; i++)
			if (reg->order[i] == e->t)
				pos = i;
		struct sim_rtype *old = e->t;
		e->t = t;
		if (pos < reg->norder)
			reg->order[pos] = t;
		/* keep old out of order[]: it is no longer listed there */
		struct retired *r = malloc(sizeof(*r));
		if (r) {
			r->t = old;
			r->next = reg->retired;
			reg->retired = r;
		}
		return 0;
	}
	if (reg->norder == reg->cap) {
		size_t ncap = reg->cap ? reg->cap * 2 : 64;
		struct sim_rtype **no = realloc(reg->order, ncap * sizeof(*no));
		if (!no) {
			free(key);
			return KUBE_ENOMEM;
		}
		reg->order = no;
		reg->cap = ncap;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		free(key);
		return KUBE_ENOMEM;
	}
	e->key = key;
	e->t = t;
	HASH_ADD_KEYPTR(hh, reg->by_key, e->key, strlen(e->key), e);
	reg->order[reg->norder++] = t;
	return 0;
}

static struct sim_rtype *rtype_from_builtin(const struct builtin *b)
{
	struct sim_rtype *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->group = strdup(b->group);
	t->resource = strdup(b->resource);
	t->singular = strdup(b->singular);
	t->kind = strdup(b->kind);
	size_t kl = strlen(b->kind);
	t->list_kind = malloc(kl + 5);
	if (t->list_kind)
		memcpy(t->list_kind, b->kind, kl), memcpy(t->list_kind + kl, "List", 5);
	t->versions = strv_split(b->version);
	t->short_names = strv_split(b->short_names);
	t->categories = strv_split(b->categories);
	t->namespaced = b->namespaced;
	t->has_status = b->status;
	t->has_scale = b->scale;
	t->has_spec = b->spec;
	t->builtin = 1;
	if (b->scale) {
		t->spec_replicas_path = strdup(".spec.replicas");
		t->status_replicas_path = strdup(".status.replicas");
		t->label_selector_path = strdup(".status.selector");
	}
	if (!t->group || !t->resource || !t->singular || !t->kind || !t->list_kind ||
	    !t->versions || !t->short_names || !t->categories) {
		rtype_free(t);
		return NULL;
	}
	return t;
}

int sim_registry_new(struct sim_registry **out)
{
	int rc = KUBE_ENOMEM;
	struct sim_registry *reg = calloc(1, sizeof(*reg));
	if (!reg)
		return KUBE_ENOMEM;
	pthread_rwlock_init(&reg->lock, NULL);
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		struct sim_rtype *t = rtype_from_builtin(&builtins[i]);
		if (!t)
			goto out;
		rc = publish_locked(reg, t);
		if (rc) {
			rtype_free(t);
			goto out;
		}
	}
	*out = reg;
	reg = NULL;
	rc = 0;
out:
	sim_registry_free(reg);
	return rc;
}

void sim_registry_free(struct sim_registry *reg)
{
	if (!reg)
		return;
	struct reg_entry *e, *tmp;
	HASH_ITER(hh, reg->by_key, e, tmp)
	{
		HASH_DEL(reg->by_key, e);
		rtype_free(e->t);
		free(e->key);
		free(e);
	}
	while (reg->retired) {
		struct retired *r = reg->retired;
		reg->retired = r->next;
		rtype_free(r->t);
		free(r);
	}
	free(reg->order);
	pthread_rwlock_destroy(&reg->lock);
	free(reg);
}

static struct sim_rtype *find_locked(struct sim_registry *reg, const char *group,
				     const char *resource)
{
	char buf[512];
	struct reg_entry *e = NULL;
	int n = snprintf(buf, sizeof(buf), "%s/%s", group ? group : "", resource ? resource : "");
	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	HASH_FIND_STR(reg->by_key, buf, e);
	return e ? e->t : NULL;
}

const struct sim_rtype *sim_registry_find(struct sim_registry *reg, const char *group,
					  const char *resource)
{
	pthread_rwlock_rdlock(&reg->lock);
	const struct sim_rtype *t = find_locked(reg, group, resource);
	pthread_rwlock_unlock(&reg->lock);
	return t;
}

int sim_rtype_serves(const struct sim_rtype *t, const char *version)
{
	if (!t || !version)
		return 0;
	for (size_t i = 0; t->versions[i]; i++)
		if (strcmp(t->versions[i], version) == 0)
			return 1;
	return 0;
}

const struct sim_rtype *sim_registry_find_gvr(struct sim_registry *reg, const char *group,
					      const char *version, const char *resource)
{
	const struct sim_rtype *t = sim_registry_find(reg, group, resource);
	return sim_rtype_serves(t, version) ? t : NULL;
}

const struct sim_rtype *sim_registry_find_kind(struct sim_registry *reg, const char *group,
					       const char *kind)
{
	const struct sim_rtype *found = NULL;
	pthread_rwlock_rdlock(&reg->lock);
	for (size_t i = 0; i < reg->norder && !found; i++) {
		const struct sim_rtype *t = reg->order[i];
		if (strcmp(t->group, group ? group : "") == 0 && strcmp(t->kind, kind) == 0)
			found = t;
	}
	pthread_rwlock_unlock(&reg->lock);
	return found;
}

const cJSON *sim_rtype_crd_version(const struct sim_rtype *t, const char *version)
{
	if (!t || !t->crd)
		return NULL;
	const cJSON *versions = kube_json_get(t->crd, "spec", "versions", NULL);
	const cJSON *v;
	cJSON_ArrayForEach(v, versions)
	{
		const char *name = kube_json_get_str(v, "name", NULL);
		if (version ? (name && strcmp(name, version) == 0)
			    : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "storage")))
			return v;
	}
	return NULL;
}

const cJSON *sim_rtype_schema(const struct sim_rtype *t, const char *version)
{
	return kube_json_get(sim_rtype_crd_version(t, version), "schema", "openAPIV3Schema", NULL);
}

static int add_cause(cJSON *causes, const char *reason, const char *field, const char *msg)
{
	cJSON *c = cJSON_CreateObject();
	if (!c)
		return KUBE_ENOMEM;
	cJSON_AddStringToObject(c, "reason", reason);
	/* The error body alone, as the apiserver's causes (the Status message adds "field: "); the
	 * old "field: msg" copy into a fixed buffer doubled the field and could truncate. */
	cJSON_AddStringToObject(c, "message", msg);
	cJSON_AddStringToObject(c, "field", field);
	cJSON_AddItemToArray(causes, c);
	return 0;
}

int sim_registry_check_crd(const cJSON *crd, cJSON **causes)
{
	cJSON *cs = cJSON_CreateArray();
	if (!cs)
		return KUBE_ENOMEM;
	const char *name = kube_json_get_str(crd, "metadata", "name", NULL);
	const char *group = kube_json_get_str(crd, "spec", "group", NULL);
	const char *plural = kube_json_get_str(crd, "spec", "names", "plural", NULL);
	const char *kind = kube_json_get_str(crd, "spec", "names", "kind", NULL);
	const char *scope = kube_json_get_str(crd, "spec", "scope", NULL);
	if (!group || !*group)
		add_cause(cs, "FieldValueRequired", "spec.group", "Required value");
	if (!plural || !*plural)
		add_cause(cs, "FieldValueRequired", "spec.names.plural", "Required value");
	if (!kind || !*kind)
		add_cause(cs, "FieldValueRequired", "spec.names.kind", "Required value");
	if (!scope || (strcmp(scope, "Namespaced") != 0 && strcmp(scope, "Cluster") != 0))
		add_cause(cs, "FieldValueNotSupported", "spec.scope",
			  "Unsupported value: supported values: \"Cluster\", \"Namespaced\"");
	if (group && plural) {
		char want[512];
		snprintf(want, sizeof(want), "%s.%s", plural, group);
		if (!name || strcmp(name, want) != 0) {
			char msg[700];
			snprintf(msg, sizeof(msg), "Invalid value: \"%s\": must be spec.names.plural+\".\"+spec.group",
				 name ? name : "");
			add_cause(cs, "FieldValueInvalid", "metadata.name", msg);
		}
	}
	const cJSON *versions = kube_json_get(crd, "spec", "versions", NULL);
	int nstorage = 0, nversions = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, versions)
	{
		nversions++;
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "storage")))
			nstorage++;
		if (!kube_json_get_str(v, "name", NULL))
			add_cause(cs, "FieldValueRequired", "spec.versions.name", "Required value");
	}
	if (nversions == 0)
		add_cause(cs, "FieldValueRequired", "spec.versions", "Required value");
	else if (nstorage != 1)
		add_cause(cs, "FieldValueInvalid", "spec.versions",
			  "Invalid value: must have exactly one version marked as storage version");
	if (cJSON_GetArraySize(cs) == 0) {
		cJSON_Delete(cs);
		if (causes)
			*causes = NULL;
		return 0;
	}
	if (causes)
		*causes = cs;
	else
		cJSON_Delete(cs);
	return KUBE_EINVALID;
}

/* Lower-cases an ASCII kind ("PhoenixService" -> "phoenixservice"). */
static char *lower_dup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		return NULL;
	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

static struct sim_rtype *rtype_from_crd(const cJSON *crd)
{
	struct sim_rtype *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	const cJSON *names = kube_json_get(crd, "spec", "names", NULL);
	const char *kind = kube_json_get_str(names, "kind", NULL);
	const char *singular = kube_json_get_str(names, "singular", NULL);
	const char *list_kind = kube_json_get_str(names, "listKind", NULL);
	t->group = strdup(kube_json_get_str(crd, "spec", "group", NULL));
	t->resource = strdup(kube_json_get_str(names, "plural", NULL));
	t->kind = strdup(kind);
	t->singular = singular ? strdup(singular) : lower_dup(kind);
	if (list_kind) {
		t->list_kind = strdup(list_kind);
	} else {
		size_t kl = strlen(kind);
		t->list_kind = malloc(kl + 5);
		if (t->list_kind)
			memcpy(t->list_kind, kind, kl), memcpy(t->list_kind + kl, "List", 5);
	}
	t->short_names = strv_from_json(cJSON_GetObjectItemCaseSensitive(names, "shortNames"));
	t->categories = strv_from_json(cJSON_GetObjectItemCaseSensitive(names, "categories"));
	t->namespaced = strcmp(kube_json_get_str(crd, "spec", "scope", NULL), "Namespaced") == 0;
	t->has_spec = 1;
	t->crd = cJSON_Duplicate(crd, 1);
	/* Served versions, storage version first (it is the preferred one in discovery too). */
	const cJSON *versions = kube_json_get(crd, "spec", "versions", NULL);
	size_t n = (size_t)cJSON_GetArraySize(versions);
	t->versions = calloc(n + 1, sizeof(char *));
	if (!t->group || !t->resource || !t->kind || !t->singular || !t->list_kind ||
	    !t->short_names || !t->categories || !t->crd || !t->versions)
		goto fail;
	size_t i = 0;
	const cJSON *v;
	for (int pass = 0; pass < 2; pass++) {
		cJSON_ArrayForEach(v, versions)
		{
			int storage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "storage"));
			const cJSON *served = cJSON_GetObjectItemCaseSensitive(v, "served");
			if ((pass == 0) != (storage != 0))
				continue;
			if (served && cJSON_IsFalse(served))
				continue;
			t->versions[i] = strdup(kube_json_get_str(v, "name", NULL));
			if (!t->versions[i])
				goto fail;
			i++;
		}
	}
	const cJSON *sv = sim_rtype_crd_version(t, NULL);
	const cJSON *subs = cJSON_GetObjectItemCaseSensitive(sv, "subresources");
	t->has_status = cJSON_GetObjectItemCaseSensitive(subs, "status") != NULL;
	const cJSON *scale = cJSON_GetObjectItemCaseSensitive(subs, "scale");
	if (scale) {
		const char *sp = kube_json_get_str(scale, "specReplicasPath", NULL);
		const char *st = kube_json_get_str(scale, "statusReplicasPath", NULL);
		const char *ls = kube_json_get_str(scale, "labelSelectorPath", NULL);
		t->has_scale = 1;
		t->spec_replicas_path = strdup(sp ? sp : ".spec.replicas");
		t->status_replicas_path = strdup(st ? st : ".status.replicas");
		t->label_selector_path = ls ? strdup(ls) : NULL;
	}
	return t;
fail:
	rtype_free(t);
	return NULL;
}

int sim_registry_add_crd(struct sim_registry *reg, const cJSON *crd)
{
	int rc = sim_registry_check_crd(crd, NULL);
	if (rc)
		return rc;
	struct sim_rtype *t = rtype_from_crd(crd);
	if (!t)
		return KUBE_ENOMEM;
	pthread_rwlock_wrlock(&reg->lock);
	struct sim_rtype *cur = find_locked(reg, t->group, t->resource);
	if (cur && cur->builtin) {
		rc = KUBE_EALREADYEXISTS;
	} else {
		rc = publish_locked(reg, t);
	}
	pthread_rwlock_unlock(&reg->lock);
	if (rc)
		rtype_free(t);
	return rc;
}

static void unpublish_locked(struct sim_registry *reg, struct reg_entry *e)
{
	HASH_DEL(reg->by_key, e);
	retire_locked(reg, e->t);
	free(e->key);
	free(e);
}

int sim_registry_remove_crd(struct sim_registry *reg, const char *crd_name)
{
	int rc = KUBE_ENOTFOUND;
	const char *dot = strchr(crd_name, '.');
	if (!dot)
		return KUBE_ENOTFOUND;
	char *resource = strndup(crd_name, (size_t)(dot - crd_name));
	if (!resource)
		return KUBE_ENOMEM;
	char *key = key_of(dot + 1, resource);
	free(resource);
	if (!key)
		return KUBE_ENOMEM;
	pthread_rwlock_wrlock(&reg->lock);
	struct reg_entry *e = NULL;
	HASH_FIND_STR(reg->by_key, key, e);
	if (e && !e->t->builtin) {
		unpublish_locked(reg, e);
		rc = 0;
	}
	pthread_rwlock_unlock(&reg->lock);
	free(key);
	return rc;
}

void sim_registry_remove_all_crds(struct sim_registry *reg)
{
	pthread_rwlock_wrlock(&reg->lock);
	struct reg_entry *e, *tmp;
	HASH_ITER(hh, reg->by_key, e, tmp)
	{
		if (!e->t->builtin)
			unpublish_locked(reg, e);
	}
	pthread_rwlock_unlock(&reg->lock);
}

void sim_registry_foreach(struct sim_registry *reg,
			  void (*fn)(void *ud, const struct sim_rtype *t), void *ud)
{
	pthread_rwlock_rdlock(&reg->lock);
	for (size_t i = 0; i < reg->norder; i++)
		fn(ud, reg->order[i]);
	pthread_rwlock_unlock(&reg->lock);
}

cJSON *sim_registry_api_versions(struct sim_registry *reg, const char *server_addr)
{
	(void)reg;
	cJSON *doc = cJSON_CreateObject();
	if (!doc)
		return NULL;
	cJSON_AddStringToObject(doc, "kind", "APIVersions");
	cJSON *versions = cJSON_AddArrayToObject(doc, "versions");
	cJSON_AddItemToArray(versions, cJSON_CreateString("v1"));
	cJSON *addrs = cJSON_AddArrayToObject(doc, "serverAddressByClientCIDRs");
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "clientCIDR", "0.0.0.0/0");
	cJSON_AddStringToObject(a, "serverAddress", server_addr ? server_addr : "127.0.0.1:6443");
	cJSON_AddItemToArray(addrs, a);
	return doc;
}

static cJSON *gv_object(const char *group, const char *version)
{
	cJSON *o = cJSON_CreateObject();
	char gv[300];
	snprintf(gv, sizeof(gv), "%s/%s", group, version);
	cJSON_AddStringToObject(o, "groupVersion", gv);
	cJSON_AddStringToObject(o, "version", version);
	return o;
}

cJSON *sim_registry_api_groups(struct sim_registry *reg)
{
	cJSON *doc = cJSON_CreateObject();
	if (!doc)
		return NULL;
	cJSON_AddStringToObject(doc, "kind", "APIGroupList");
	cJSON_AddStringToObject(doc, "apiVersion", "v1");
	cJSON *groups = cJSON_AddArrayToObject(doc, "groups");
	pthread_rwlock_rdlock(&reg->lock);
	for (size_t i = 0; i < reg->norder; i++) {
		const struct sim_rtype *t = reg->order[i];
		if (!*t->group)
			continue;
		cJSON *g = NULL, *it;
		cJSON_ArrayForEach(it, groups)
		{
			if (strcmp(kube_json_get_str(it, "name", NULL), t->group) == 0)
				g = it;
		}
		if (!g) {
			g = cJSON_CreateObject();
			cJSON_AddStringToObject(g, "name", t->group);
			cJSON_AddArrayToObject(g, "versions");
			cJSON_AddItemToObject(g, "preferredVersion", gv_object(t->group, t->versions[0]));
			cJSON_AddItemToArray(groups, g);
		}
		cJSON *vs = cJSON_GetObjectItemCaseSensitive(g, "versions");
		for (size_t v = 0; t->versions[v]; v++) {
			int have = 0;
			cJSON_ArrayForEach(it, vs)
			{
				if (strcmp(kube_json_get_str(it, "version", NULL), t->versions[v]) == 0)
					have = 1;
			}
			if (!have)
				cJSON_AddItemToArray(vs, gv_object(t->group, t->versions[v]));
		}
	}
	pthread_rwlock_unlock(&reg->lock);
	return doc;
}

static cJSON *strv_json(char *const *v)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; v && v[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static void add_resource(cJSON *list, const struct sim_rtype *t)
{
	static const char *verbs_all[] = {"create", "delete", "deletecollection", "get", "list",
					  "patch",  "update", "watch"};
	static const char *verbs_sub[] = {"get", "patch", "update"};
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "name", t->resource);
	cJSON_AddStringToObject(r, "singularName", t->singular);
	cJSON_AddBoolToObject(r, "namespaced", t->namespaced);
	cJSON_AddStringToObject(r, "kind", t->kind);
	cJSON_AddItemToObject(r, "verbs", cJSON_CreateStringArray(verbs_all, 8));
	if (t->short_names[0])
		cJSON_AddItemToObject(r, "shortNames", strv_json(t->short_names));
	if (t->categories[0])
		cJSON_AddItemToObject(r, "categories", strv_json(t->categories));
	cJSON_AddItemToArray(list, r);
	const char *subs[2] = {t->has_status ? "status" : NULL, t->has_scale ? "scale" : NULL};
	for (int i = 0; i < 2; i++) {
		if (!subs[i])
			continue;
		char name[300];
		snprintf(name, sizeof(name), "%s/%s", t->resource, subs[i]);
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "name", name);
		cJSON_AddStringToObject(s, "singularName", "");
		cJSON_AddBoolToObject(s, "namespaced", t->namespaced);
		if (i == 1) {
			cJSON_AddStringToObject(s, "group", "autoscaling");
			cJSON_AddStringToObject(s, "version", "v1");
		}
		cJSON_AddStringToObject(s, "kind", i == 1 ? "Scale" : t->kind);
		cJSON_AddItemToObject(s, "verbs", cJSON_CreateStringArray(verbs_sub, 3));
		cJSON_AddItemToArray(list, s);
	}
}

cJSON *sim_registry_resources(struct sim_registry *reg, const char *group, const char *version,
			      int *found)
{
	*found = 0;
	cJSON *doc = cJSON_CreateObject();
	if (!doc)
		return NULL;
	char gv[300];
	if (*group)
		snprintf(gv, sizeof(gv), "%s/%s", group, version);
	else
		snprintf(gv, sizeof(gv), "%s", version);
	cJSON_AddStringToObject(doc, "kind", "APIResourceList");
	cJSON_AddStringToObject(doc, "apiVersion", "v1");
	cJSON_AddStringToObject(doc, "groupVersion", gv);
	cJSON *list = cJSON_AddArrayToObject(doc, "resources");
	pthread_rwlock_rdlock(&reg->lock);
	for (size_t i = 0; i < reg->norder; i++) {
		const struct sim_rtype *t = reg->order[i];
		if (strcmp(t->group, group) != 0 || !sim_rtype_serves(t, version))
			continue;
		*found = 1;
		add_resource(list, t);
	}
	pthread_rwlock_unlock(&reg->lock);
	if (!*found) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}
