/* OpenAPI v3 for custom resources: the /openapi/v3 index and the per-group/version documents
 * kubectl explain reads, built from the CRD schemas in the registry. */
#include "sim_openapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_DESC                                                                           \
	"Standard object's metadata. More info: "                                            \
	"https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md" \
	"#metadata"
#define API_VERSION_DESC                                                                     \
	"APIVersion defines the versioned schema of this representation of an object. Servers " \
	"should convert recognized schemas to the latest internal value, and may reject "        \
	"unrecognized values. More info: "                                                       \
	"https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"    \
	"#resources"
#define KIND_DESC                                                                               \
	"Kind is a string value representing the REST resource this object represents. Servers " \
	"may infer this from the endpoint the client submits requests to. Cannot be updated. In "  \
	"CamelCase. More info: "                                                                  \
	"https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"     \
	"#types-kinds"

#define OBJECT_META "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

/* What a registry walk collects: the index, or the document of one group/version. */
struct walk {
	const char *group, *version; /* NULL for the index */
	cJSON *out;                  /* index "paths" object, or the document */
	int found, oom;
};

/* "phoenix.fpai.io" -> "io.fpai.phoenix" into buf. */
static void reverse_group(const char *group, char *buf, size_t size)
{
	size_t len = strlen(group), used = 0;
	buf[0] = '\0';
	while (len > 0) {
		size_t start = len;
		while (start > 0 && group[start - 1] != '.')
			start--;
		used += (size_t)snprintf(buf + used, used < size ? size - used : 0, "%s%.*s",
					 used ? "." : "", (int)(len - start), group + start);
		len = start ? start - 1 : 0;
	}
}

static cJSON *gvk_object(const char *group, const char *version, const char *kind)
{
	cJSON *o = cJSON_CreateObject();
	if (o && (!cJSON_AddStringToObject(o, "group", group) ||
		  !cJSON_AddStringToObject(o, "kind", kind) ||
		  !cJSON_AddStringToObject(o, "version", version))) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

static void add_index_entry(struct walk *w, const struct sim_rtype *t, const char *version)
{
	char key[400], url[420];
	cJSON *e;

	snprintf(key, sizeof(key), "apis/%s/%s", t->group, version);
	if (cJSON_GetObjectItemCaseSensitive(w->out, key))
		return;
	snprintf(url, sizeof(url), "/openapi/v3/%s", key);
	e = cJSON_AddObjectToObject(w->out, key);
	if (!e || !cJSON_AddStringToObject(e, "serverRelativeURL", url))
		w->oom = 1;
}

/* Sets props[name] = {description, type} (replacing the CRD's own, as the apiserver does). */
static void set_prop(cJSON *props, const char *name, const char *type, const char *desc)
{
	cJSON *p = cJSON_CreateObject();
	if (!p)
		return;
	cJSON_AddStringToObject(p, "description", desc);
	cJSON_AddStringToObject(p, "type", type);
	cJSON_DeleteItemFromObjectCaseSensitive(props, name);
	cJSON_AddItemToObject(props, name, p);
}

/* metadata: {description, allOf:[{$ref: ObjectMeta}]}, so explain prints <ObjectMeta>. */
static void set_metadata_ref(cJSON *props)
{
	cJSON *m = cJSON_CreateObject();
	cJSON *all = m ? cJSON_AddArrayToObject(m, "allOf") : NULL;
	cJSON *ref = cJSON_CreateObject();

	if (!all || !ref) {
		cJSON_Delete(m);
		cJSON_Delete(ref);
		return;
	}
	cJSON_AddStringToObject(m, "description", META_DESC);
	cJSON_AddStringToObject(ref, "$ref", "#/components/schemas/" OBJECT_META);
	cJSON_AddItemToArray(all, ref);
	cJSON_DeleteItemFromObjectCaseSensitive(props, "metadata");
	cJSON_AddItemToObject(props, "metadata", m);
}

/* components.schemas entry: the CRD schema with the root fields described and its GVK. */
static cJSON *schema_of(const struct sim_rtype *t, const char *version)
{
	const cJSON *src = sim_rtype_schema(t, version);
	cJSON *s = src ? cJSON_Duplicate(src, 1) : cJSON_CreateObject();
	cJSON *props, *gvks;

	if (!s)
		return NULL;
	if (!cJSON_GetObjectItemCaseSensitive(s, "type"))
		cJSON_AddStringToObject(s, "type", "object");
	props = cJSON_GetObjectItemCaseSensitive(s, "properties");
	if (!props)
		props = cJSON_AddObjectToObject(s, "properties");
	set_prop(props, "apiVersion", "string", API_VERSION_DESC);
	set_prop(props, "kind", "string", KIND_DESC);
	set_metadata_ref(props);
	gvks = cJSON_AddArrayToObject(s, "x-kubernetes-group-version-kind");
	if (!gvks) {
		cJSON_Delete(s);
		return NULL;
	}
	cJSON_AddItemToArray(gvks, gvk_object(t->group, version, t->kind));
	return s;
}

/* An abbreviated ObjectMeta (the fields users write; the apiserver's has all of them). */
static cJSON *object_meta_schema(void)
{
	cJSON *s = cJSON_CreateObject();
	cJSON *props = s ? cJSON_AddObjectToObject(s, "properties") : NULL;

	if (!props) {
		cJSON_Delete(s);
		return NULL;
	}
	cJSON_AddStringToObject(s, "description",
				"ObjectMeta is metadata that all persisted resources must have, "
				"which includes all objects users must create.");
	cJSON_AddStringToObject(s, "type", "object");
	set_prop(props, "annotations", "object",
		 "Annotations is an unstructured key value map stored with a resource.");
	set_prop(props, "labels", "object",
		 "Map of string keys and values that can be used to organize and categorize "
		 "(scope and select) objects.");
	set_prop(props, "name", "string", "Name must be unique within a namespace.");
	set_prop(props, "namespace", "string",
		 "Namespace defines the space within which each name must be unique.");
	return s;
}

/* paths["/apis/G/V[/namespaces/{namespace}]/RES[/{name}]"].get = {action, GVK}. */
static void add_path(cJSON *paths, const struct sim_rtype *t, const char *version, int named)
{
	char key[500];
	cJSON *p, *get;

	snprintf(key, sizeof(key), "/apis/%s/%s%s/%s%s", t->group, version,
		 t->namespaced ? "/namespaces/{namespace}" : "", t->resource, named ? "/{name}" : "");
	p = cJSON_AddObjectToObject(paths, key);
	get = p ? cJSON_AddObjectToObject(p, "get") : NULL;
	if (!get)
		return;
	cJSON_AddStringToObject(get, "x-kubernetes-action", named ? "get" : "list");
	cJSON_AddItemToObject(get, "x-kubernetes-group-version-kind",
			      gvk_object(t->group, version, t->kind));
}

static void add_document_entry(struct walk *w, const struct sim_rtype *t)
{
	cJSON *paths = cJSON_GetObjectItemCaseSensitive(w->out, "paths");
	cJSON *schemas = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(w->out, "components"), "schemas");
	char rev[300], name[600];
	cJSON *s;

	reverse_group(t->group, rev, sizeof(rev));
	snprintf(name, sizeof(name), "%s.%s.%s", rev, w->version, t->kind);
	s = schema_of(t, w->version);
	if (!s) {
		w->oom = 1;
		return;
	}
	cJSON_AddItemToObject(schemas, name, s);
	add_path(paths, t, w->version, 0);
	add_path(paths, t, w->version, 1);
	w->found = 1;
}

static void visit(void *ud, const struct sim_rtype *t)
{
	struct walk *w = ud;

	if (t->builtin || !t->crd)
		return;
	for (char **v = t->versions; v && *v; v++) {
		if (!w->group)
			add_index_entry(w, t, *v);
		else if (strcmp(w->group, t->group) == 0 && strcmp(w->version, *v) == 0)
			add_document_entry(w, t);
	}
}

static cJSON *new_document(void)
{
	cJSON *d = cJSON_CreateObject();
	cJSON *info = d ? cJSON_AddObjectToObject(d, "info") : NULL;
	cJSON *comp = NULL, *schemas, *meta;

	if (info) {
		cJSON_AddStringToObject(d, "openapi", "3.0.0");
		cJSON_AddStringToObject(info, "title", "Kubernetes CRD Swagger");
		cJSON_AddStringToObject(info, "version", "v0.1.0");
		comp = cJSON_AddObjectToObject(d, "components");
	}
	schemas = comp ? cJSON_AddObjectToObject(comp, "schemas") : NULL;
	meta = object_meta_schema();
	if (!schemas || !meta || !cJSON_AddObjectToObject(d, "paths")) {
		cJSON_Delete(meta);
		cJSON_Delete(d);
		return NULL;
	}
	cJSON_AddItemToObject(schemas, OBJECT_META, meta);
	return d;
}

/* "/openapi/v3/apis/G/V" -> group G and version V (in buf); 0 on success, -1 otherwise. */
static int parse_gv(const char *path, char *buf, size_t size, const char **group,
		    const char **version)
{
	const char *pfx = "/openapi/v3/apis/";
	char *slash;

	if (strncmp(path, pfx, strlen(pfx)) != 0 || strlen(path + strlen(pfx)) >= size)
		return -1;
	strcpy(buf, path + strlen(pfx));
	slash = strchr(buf, '/');
	if (!slash || slash == buf || !slash[1] || strchr(slash + 1, '/'))
		return -1;
	*slash = '\0';
	*group = buf;
	*version = slash + 1;
	return 0;
}

cJSON *sim_openapi_v3(struct sim_registry *reg, const char *path)
{
	struct walk w = { 0 };
	cJSON *doc = NULL;
	char buf[400];

	if (strcmp(path, "/openapi/v3") == 0 || strcmp(path, "/openapi/v3/") == 0) {
		doc = cJSON_CreateObject();
		w.out = doc ? cJSON_AddObjectToObject(doc, "paths") : NULL;
		if (!w.out)
			goto fail;
		sim_registry_foreach(reg, visit, &w);
		if (w.oom)
			goto fail;
		return doc;
	}
	if (parse_gv(path, buf, sizeof(buf), &w.group, &w.version) != 0)
		return NULL;
	doc = new_document();
	w.out = doc;
	if (!doc)
		return NULL;
	sim_registry_foreach(reg, visit, &w);
	if (w.oom || !w.found)
		goto fail;
	return doc;
fail:
	cJSON_Delete(doc);
	return NULL;
}
