/* Unit tests for kubesim's store: the verbs' HTTP outcomes, resourceVersion and generation rules,
 * status subresource, finalizers and deletion, namespaces, CRDs with schemas, watches (history,
 * 410 after compaction, selector transitions), subscribers, and list paging (limit / continue:
 * pages in key order, tokens, remainingItemCount, the first page's snapshot, selectors before
 * paging, 400 for bad tokens and continue + resourceVersion, 410 Expired, resourceVersion=0
 * ignoring limit). No HTTP involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "kube_json.h"
#include "sim_registry.h"
#include "sim_store.h"

struct fixture {
	struct sim_registry *reg;
	struct sim_store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_int_equal(sim_registry_new(&f->reg), 0);
	assert_int_equal(sim_store_new(f->reg, 64, &f->s), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sim_store_free(f->s);
	sim_registry_free(f->reg);
	free(f);
	return 0;
}

static cJSON *J(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	assert_non_null(j);
	return j;
}

static int create(struct sim_store *s, const char *group, const char *resource, const char *ns,
		  const char *text, cJSON **out)
{
	cJSON *obj = J(text), *status = NULL;
	int rc = sim_store_create(s, group, resource, ns, obj, 0, out, &status);
	cJSON_Delete(obj);
	cJSON_Delete(status);
	return rc;
}

static const char *CM = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
			"\"c1\",\"labels\":{\"app\":\"a\"}},\"data\":{\"k\":\"v\"}}";

static void store__create_get_and_defaults(void **state)
{
	struct fixture *f = *state;
	cJSON *out = NULL, *got = NULL;
	assert_int_equal(create(f->s, "", "configmaps", "default", CM, &out), 201);
	assert_string_equal(kube_json_namespace(out), "default");
	assert_non_null(kube_json_uid(out));
	assert_int_equal(strlen(kube_json_uid(out)), 36);
	assert_non_null(kube_json_get_str(out, "metadata", "creationTimestamp", NULL));
	assert_int_equal(sim_store_get(f->s, "", "configmaps", "default", "c1", &got, NULL), 200);
	assert_string_equal(kube_json_resource_version(got), kube_json_resource_version(out));
	assert_true(cJSON_Compare(out, got, 1));
	cJSON_Delete(out);
	cJSON_Delete(got);
	assert_int_equal(sim_store_get(f->s, "", "configmaps", "default", "nope", NULL, NULL),
			 404);
}

static void store__create_errors(void **state)
{
	struct fixture *f = *state;
	cJSON *status = NULL, *obj = J(CM);
	assert_int_equal(create(f->s, "", "configmaps", "default", CM, NULL), 201);
	assert_int_equal(sim_store_create(f->s, "", "configmaps", "default", obj, 0, NULL, &status),
			 409);
	assert_string_equal(kube_json_get_str(status, "reason", NULL), "AlreadyExists");
	cJSON_Delete(status);
	assert_int_equal(sim_store_create(f->s, "", "configmaps", "nope", obj, 0, NULL, &status),
			 404);
	assert_string_equal(kube_json_get_str(status, "details", "kind", NULL), "namespaces");
	cJSON_Delete(status);
	cJSON_Delete(obj);
	/* namespace in the body differs from the URL's */
	assert_int_equal(create(f->s, "", "configmaps", "default",
				"{\"metadata\":{\"name\":\"x\",\"namespace\":\"kube-system\"}}", NULL),
			 400);
	/* neither name nor generateName */
	assert_int_equal(create(f->s, "", "configmaps", "default", "{\"metadata\":{}}", NULL), 422);
	/* generateName */
	cJSON *out = NULL;
	assert_int_equal(create(f->s, "", "configmaps", "default",
				"{\"metadata\":{\"generateName\":\"gen-\"}}", &out),
			 201);
	assert_int_equal(strlen(kube_json_name(out)), 9);
	assert_memory_equal(kube_json_name(out), "gen-", 4);
	cJSON_Delete(out);
}

static void store__update_conflict_and_unconditional(void **state)
{
	struct fixture *f = *state;
	cJSON *out = NULL, *status = NULL;
	assert_int_equal(create(f->s, "", "configmaps", "default", CM, &out), 201);
	cJSON *stale = cJSON_Duplicate(out, 1);
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(out, "data"), "k", cJSON_CreateString("v2"));
	cJSON *res = NULL;
	assert_int_equal(sim_store_update(f->s, "", "configmaps", "default", "c1", NULL, out, 0,
					  &res, NULL),
			 200);
	assert_int_not_equal(atoll(kube_json_resource_version(res)),
			     atoll(kube_json_resource_version(stale)));
	assert_int_equal(sim_store_update(f->s, "", "configmaps", "default", "c1", NULL, stale, 0,
					  NULL, &status),
			 409);
	assert_string_equal(kube_json_get_str(status, "reason", NULL), "Conflict");
	cJSON_Delete(status);
	/* built-ins accept an update without resourceVersion (helm's release Secrets) */
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(stale, "metadata"), "resourceVersion");
	assert_int_equal(sim_store_update(f->s, "", "configmaps", "default", "c1", NULL, stale, 0,
					  NULL, NULL),
			 200);
	cJSON_Delete(stale);
	cJSON_Delete(out);
	cJSON_Delete(res);
}

static void store__noop_update_keeps_rv(void **state)
{
	struct fixture *f = *state;
	cJSON *out = NULL, *res = NULL;
	assert_int_equal(create(f->s, "", "configmaps", "default", CM, &out), 201);
	uint64_t rv = sim_store_rv(f->s);
	assert_int_equal(sim_store_update(f->s, "", "configmaps", "default", "c1", NULL, out, 0,
					  &res, NULL),
			 200);
	assert_int_equal(sim_store_rv(f->s), rv);
	assert_string_equal(kube_json_resource_version(res), kube_json_resource_version(out));
	cJSON_Delete(out);
	cJSON_Delete(res);
}

static void store__patch_types(void **state)
{
	struct fixture *f = *state;
	cJSON *res = NULL, *status = NULL;
	assert_int_equal(create(f->s, "", "configmaps", "default", CM, NULL), 201);
	cJSON *mp = J("{\"data\":{\"k\":null,\"n\":\"1\"}}");
	assert_int_equal(sim_store_patch(f->s, "", "configmaps", "default", "c1", NULL,
					 "application/merge-patch+json", mp, 0, &res, NULL),
			 200);
	assert_null(kube_json_get(res, "data", "k", NULL));
	assert_string_equal(kube_json_get_str(res, "data", "n", NULL), "1");
	cJSON_Delete(res);
	cJSON *jp = J("[{\"op\":\"test\",\"path\":\"/data/n\",\"value\":\"2\"}]");
	assert_int_equal(sim_store_patch(f->s, "", "configmaps", "default", "c1", NULL,
					 "application/json-patch+json", jp, 0, NULL, &status),
			 422);
	cJSON_Delete(status);
	cJSON *stale = J("{\"metadata\":{\"resourceVersion\":\"1\"}}");
	assert_int_equal(sim_store_patch(f->s, "", "configmaps", "default", "c1", NULL,
					 "application/merge-patch+json", stale, 0, NULL, &status),
			 409);
	cJSON_Delete(status);
	cJSON_Delete(mp);
	cJSON_Delete(jp);
	cJSON_Delete(stale);
}

static const char *CRD =
	"{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
	"\"metadata\":{\"name\":\"widgets.t.io\"},\"spec\":{\"group\":\"t.io\",\"scope\":"
	"\"Namespaced\",\"names\":{\"plural\":\"widgets\",\"kind\":\"Widget\"},\"versions\":[{"
	"\"name\":\"v1\",\"served\":true,\"storage\":true,\"subresources\":{\"status\":{}},"
	"\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":"
	"\"object\",\"required\":[\"size\"],\"properties\":{\"size\":{\"type\":\"integer\","
	"\"maximum\":5},\"mode\":{\"type\":\"string\",\"default\":\"a\"}}},\"status\":{\"type\":"
	"\"object\",\"x-kubernetes-preserve-unknown-fields\":true}}}}}]}}";

static void store__crd_lifecycle_and_schema(void **state)
{
	struct fixture *f = *state;
	cJSON *out = NULL, *status = NULL;
	assert_int_equal(create(f->s, "apiextensions.k8s.io", "customresourcedefinitions", NULL,
				CRD, &out),
			 201);
	const cJSON *c = cJSON_GetArrayItem(kube_json_get(out, "status", "conditions", NULL), 1);
	assert_string_equal(kube_json_get_str(c, "type", NULL), "Established");
	assert_string_equal(kube_json_get_str(c, "reason", NULL), "InitialNamesAccepted");
	cJSON_Delete(out);
	assert_non_null(sim_registry_find_gvr(f->reg, "t.io", "v1", "widgets"));

	/* defaulting and pruning, status dropped on create, generation 1 */
	assert_int_equal(create(f->s, "t.io", "widgets", "default",
				"{\"apiVersion\":\"t.io/v1\",\"kind\":\"Widget\",\"metadata\":{"
				"\"name\":\"w\"},\"spec\":{\"size\":1,\"junk\":1},\"status\":{"
				"\"x\":1}}",
				&out),
			 201);
	assert_string_equal(kube_json_get_str(out, "spec", "mode", NULL), "a");
	assert_null(kube_json_get(out, "spec", "junk", NULL));
	assert_null(kube_json_get(out, "status", NULL));
	double g = 0;
	assert_true(kube_json_get_num(out, &g, "metadata", "generation", NULL));
	assert_true(g == 1);

	/* status subresource: keeps generation, main resource keeps status */
	cJSON *sp = J("{\"status\":{\"phase\":\"Up\"},\"spec\":{\"size\":4}}");
	cJSON *res = NULL;
	assert_int_equal(sim_store_patch(f->s, "t.io", "widgets", "default", "w", "status",
					 "application/merge-patch+json", sp, 0, &res, NULL),
			 200);
	assert_string_equal(kube_json_get_str(res, "status", "phase", NULL), "Up");
	assert_true(kube_json_get_num(res, &g, "spec", "size", NULL) && g == 1);
	assert_true(kube_json_get_num(res, &g, "metadata", "generation", NULL) && g == 1);
	cJSON_Delete(res);
	cJSON *mp = J("{\"spec\":{\"size\":2},\"status\":{\"phase\":\"Down\"}}");
	assert_int_equal(sim_store_patch(f->s, "t.io", "widgets", "default", "w", NULL,
					 "application/merge-patch+json", mp, 0, &res, NULL),
			 200);
	assert_string_equal(kube_json_get_str(res, "status", "phase", NULL), "Up");
	assert_true(kube_json_get_num(res, &g, "metadata", "generation", NULL) && g == 2);
	cJSON_Delete(res);

	/* validation: 422 naming the field; SMP is 415; PUT without rv is 422; PUT missing 404 */
	cJSON *bad = J("{\"spec\":{\"size\":9}}");
	assert_int_equal(sim_store_patch(f->s, "t.io", "widgets", "default", "w", NULL,
					 "application/merge-patch+json", bad, 0, NULL, &status),
			 422);
	const cJSON *cause = cJSON_GetArrayItem(kube_json_get(status, "details", "causes", NULL), 0);
	assert_string_equal(kube_json_get_str(cause, "field", NULL), "spec.size");
	cJSON_Delete(status);
	assert_int_equal(sim_store_patch(f->s, "t.io", "widgets", "default", "w", NULL,
					 "application/strategic-merge-patch+json", mp, 0, NULL, &status),
			 415);
	cJSON_Delete(status);
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(out, "metadata"), "resourceVersion");
	assert_int_equal(sim_store_update(f->s, "t.io", "widgets", "default", "w", NULL, out, 0,
					  NULL, &status),
			 422);
	cJSON_Delete(status);
	assert_int_equal(sim_store_update(f->s, "t.io", "widgets", "default", "nope", NULL, out, 0,
					  NULL, &status),
			 404);
	cJSON_Delete(status);

	/* CRD deletion removes its objects and its type */
	assert_int_equal(sim_store_delete(f->s, "apiextensions.k8s.io",
					  "customresourcedefinitions", NULL, "widgets.t.io", NULL, -1,
					  NULL, NULL, 0, NULL, NULL),
			 200);
	assert_null(sim_registry_find(f->reg, "t.io", "widgets"));
	cJSON_Delete(out);
	cJSON_Delete(sp);
	cJSON_Delete(mp);
	cJSON_Delete(bad);
}

static void store__crd_name_must_match(void **state)
{
	struct fixture *f = *state;
	char *bad = strdup(CRD);
	memcpy(strstr(bad, "widgets.t.io"), "gadgets", 7);
	assert_int_equal(create(f->s, "apiextensions.k8s.io", "customresourcedefinitions", NULL,
				bad, NULL),
			 422);
	free(bad);
}

static void store__finalizers_and_foreground(void **state)
{
	struct fixture *f = *state;
	cJSON *out = NULL;
	assert_int_equal(create(f->s, "", "configmaps", "default",
				"{\"metadata\":{\"name\":\"f\",\"finalizers\":[\"x/y\"]}}", NULL),
			 201);
	assert_int_equal(sim_store_delete(f->s, "", "configmaps", "default", "f", NULL, -1, NULL,
					  NULL, 0, &out, NULL),
			 200);
	assert_non_null(kube_json_get_str(out, "metadata", "deletionTimestamp", NULL));
	cJSON_Delete(out);
	assert_int_equal(sim_store_get(f->s, "", "configmaps", "default", "f", NULL, NULL), 200);
	/* no new finalizers once deleting */
	cJSON *add = J("{\"metadata\":{\"finalizers\":[\"x/y\",\"x/z\"]}}");
	assert_int_equal(sim_store_patch(f->s, "", "configmaps", "default", "f", NULL,
					 "application/merge-patch+json", add, 0, NULL, NULL),
			 422);
	cJSON *clear = J("{\"metadata\":{\"finalizers\":null}}");
	assert_int_equal(sim_store_patch(f->s, "", "configmaps", "default", "f", NULL,
					 "application/merge-patch+json", clear, 0, NULL, NULL),
			 200);
	assert_int_equal(sim_store_get(f->s, "", "configmaps", "default", "f", NULL, NULL), 404);

	/* Foreground adds the foregroundDeletion finalizer for the collector */
	assert_int_equal(create(f->s, "", "configmaps", "default", CM, NULL), 201);
	assert_int_equal(sim_store_delete(f->s, "", "configmaps", "default", "c1", "Foreground", -1,
					  NULL, NULL, 0, &out, NULL),
			 200);
	const cJSON *fin = kube_json_get(out, "metadata", "finalizers", NULL);
	assert_string_equal(cJSON_GetArrayItem(fin, 0)->valuestring, "foregroundDeletion");
	cJSON_Delete(out);
	cJSON_Delete(add);
	cJSON_Delete(clear);
}

static void store__dry_run_persists_nothing(void **state)
{
	struct fixture *f = *state;
	cJSON *obj = J(CM), *out = NULL;
	uint64_t rv = sim_store_rv(f->s);
	assert_int_equal(sim_store_create(f->s, "", "configmaps", "default", obj, SIM_WRITE_DRY_RUN,
					  &out, NULL),
			 201);
	assert_string_equal(kube_json_name(out), "c1");
	assert_int_equal(sim_store_rv(f->s), rv);
	assert_int_equal(sim_store_get(f->s, "", "configmaps", "default", "c1", NULL, NULL), 404);
	cJSON_Delete(obj);
	cJSON_Delete(out);
}

static void store__namespace_deletion_cascades(void **state)
{
	struct fixture *f = *state;
	cJSON *status = NULL;
	assert_int_equal(create(f->s, "", "namespaces", NULL, "{\"metadata\":{\"name\":\"t1\"}}",
				NULL),
			 201);
	assert_int_equal(create(f->s, "", "configmaps", "t1", CM, NULL), 201);
	assert_int_equal(sim_store_delete(f->s, "", "namespaces", NULL, "t1", NULL, -1, NULL, NULL,
					  0, NULL, NULL),
			 200);
	assert_int_equal(sim_store_get(f->s, "", "configmaps", "t1", "c1", NULL, NULL), 404);
	assert_int_equal(sim_store_get(f->s, "", "namespaces", NULL, "t1", NULL, NULL), 404);
	assert_int_equal(sim_store_delete(f->s, "", "namespaces", NULL, "default", NULL, -1, NULL,
					  NULL, 0, NULL, &status),
			 403);
	cJSON_Delete(status);
}

static void store__list_selectors_sorted(void **state)
{
	struct fixture *f = *state;
	cJSON *items = NULL;
	char *rv = NULL;
	assert_int_equal(create(f->s, "", "configmaps", "default",
				"{\"metadata\":{\"name\":\"b\",\"labels\":{\"app\":\"x\"}}}", NULL),
			 201);
	assert_int_equal(create(f->s, "", "configmaps", "default",
				"{\"metadata\":{\"name\":\"a\",\"labels\":{\"app\":\"x\"}}}", NULL),
			 201);
	assert_int_equal(create(f->s, "", "configmaps", "kube-system",
				"{\"metadata\":{\"name\":\"c\",\"labels\":{\"app\":\"y\"}}}", NULL),
			 201);
	assert_int_equal(sim_store_list(f->s, "", "configmaps", NULL, "app=x", NULL, &items, &rv,
					NULL),
			 200);
	assert_int_equal(cJSON_GetArraySize(items), 2);
	assert_string_equal(kube_json_name(cJSON_GetArrayItem(items, 0)), "a");
	assert_non_null(rv);
	cJSON_Delete(items);
	free(rv);
	assert_int_equal(sim_store_list(f->s, "", "configmaps", NULL, NULL,
					"metadata.namespace=kube-system", &items, NULL, NULL),
			 200);
	assert_int_equal(cJSON_GetArraySize(items), 1);
	cJSON_Delete(items);
	assert_int_equal(sim_store_list(f->s, "", "configmaps", "default", "app in (", NULL, &items,
					NULL, NULL),
			 400);
}

static void store__watch_history_and_expiry(void **state)
{
	struct fixture *f = *state;
	struct sim_watch *w = NULL;
	enum sim_event_type type;
	const cJSON *obj;
	const char *json;
	char rv[24];
	snprintf(rv, sizeof(rv), "%llu", (unsigned long long)sim_store_rv(f->s));
	assert_int_equal(create(f->s, "", "configmaps", "default", CM, NULL), 201);
	struct sim_watch_opts o = {.group = "", .resource = "configmaps", .resource_version = rv};
	assert_int_equal(sim_store_watch(f->s, &o, &w, NULL), 200);
	assert_int_equal(sim_watch_next(w, 1000, &type, &obj, &json), 1);
	assert_int_equal(type, SIM_EV_ADDED);
	assert_string_equal(kube_json_name(obj), "c1");
	assert_non_null(strstr(json, "\"c1\""));
	assert_int_equal(sim_store_delete(f->s, "", "configmaps", "default", "c1", NULL, -1, NULL,
					  NULL, 0, NULL, NULL),
			 200);
	assert_int_equal(sim_watch_next(w, 1000, &type, &obj, &json), 1);
	assert_int_equal(type, SIM_EV_DELETED);
	assert_int_equal(sim_watch_next(w, 10, &type, &obj, &json), 0);
	sim_watch_free(w);

	sim_store_compact(f->s);
	assert_int_equal(sim_store_watch(f->s, &o, &w, NULL), 200);
	assert_int_equal(sim_watch_next(w, 1000, &type, &obj, &json), SIM_WATCH_EXPIRED);
	assert_int_equal((int)cJSON_GetObjectItem(obj, "code")->valuedouble, 410);
	sim_watch_free(w);
}

static void store__watch_selector_transitions(void **state)
{
	struct fixture *f = *state;
	struct sim_watch *w = NULL;
	enum sim_event_type type;
	const cJSON *obj;
	const char *json;
	char rv[24];
	assert_int_equal(create(f->s, "", "configmaps", "default", CM, NULL), 201);
	snprintf(rv, sizeof(rv), "%llu", (unsigned long long)sim_store_rv(f->s));
	struct sim_watch_opts o = {.group = "",
				   .resource = "configmaps",
				   .resource_version = rv,
				   .label_selector = "app=a"};
	assert_int_equal(sim_store_watch(f->s, &o, &w, NULL), 200);
	cJSON *p = J("{\"metadata\":{\"labels\":{\"app\":\"b\"}}}");
	assert_int_equal(sim_store_patch(f->s, "", "configmaps", "default", "c1", NULL,
					 "application/merge-patch+json", p, 0, NULL, NULL),
			 200);
	assert_int_equal(sim_watch_next(w, 1000, &type, &obj, &json), 1);
	assert_int_equal(type, SIM_EV_DELETED); /* left the selector */
	cJSON *back = J("{\"metadata\":{\"labels\":{\"app\":\"a\"}}}");
	assert_int_equal(sim_store_patch(f->s, "", "configmaps", "default", "c1", NULL,
					 "application/merge-patch+json", back, 0, NULL, NULL),
			 200);
	assert_int_equal(sim_watch_next(w, 1000, &type, &obj, &json), 1);
	assert_int_equal(type, SIM_EV_ADDED); /* came back */
	sim_store_close_watches(f->s);
	assert_int_equal(sim_watch_next(w, 1000, &type, &obj, &json), SIM_WATCH_CLOSED);
	sim_watch_free(w);
	cJSON_Delete(p);
	cJSON_Delete(back);
}

struct seen {
	char log[512];
};

static void on_change(void *ud, const char *type, const char *group, const char *resource,
		      const cJSON *obj, const cJSON *old)
{
	struct seen *s = ud;
	(void)group;
	if (strcmp(resource, "configmaps") != 0)
		return;
	size_t len = strlen(s->log);
	snprintf(s->log + len, sizeof(s->log) - len, "%s:%s:%s;", type, kube_json_name(obj),
		 old ? "old" : "-");
}

static void store__subscribers_in_commit_order(void **state)
{
	struct fixture *f = *state;
	struct seen seen = {{0}};
	assert_int_equal(sim_store_subscribe(f->s, on_change, &seen), 0);
	assert_int_equal(create(f->s, "", "configmaps", "default", CM, NULL), 201);
	cJSON *p = J("{\"data\":{\"k\":\"v2\"}}");
	assert_int_equal(sim_store_patch(f->s, "", "configmaps", "default", "c1", NULL,
					 "application/merge-patch+json", p, 0, NULL, NULL),
			 200);
	assert_int_equal(sim_store_delete(f->s, "", "configmaps", "default", "c1", NULL, -1, NULL,
					  NULL, 0, NULL, NULL),
			 200);
	assert_string_equal(seen.log, "ADDED:c1:-;MODIFIED:c1:old;DELETED:c1:old;");
	cJSON_Delete(p);
}

static void store__scale_subresource(void **state)
{
	struct fixture *f = *state;
	cJSON *sc = NULL;
	assert_int_equal(create(f->s, "apps", "deployments", "default",
				"{\"metadata\":{\"name\":\"d\"},\"spec\":{\"replicas\":2,\"selector\":"
				"{\"matchLabels\":{\"app\":\"d\"}},\"template\":{\"spec\":"
				"{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}}}}",
				NULL),
			 201);
	assert_int_equal(sim_store_get_sub(f->s, "apps", "deployments", "default", "d", "scale",
					   &sc, NULL),
			 200);
	assert_string_equal(kube_json_get_str(sc, "kind", NULL), "Scale");
	assert_string_equal(kube_json_get_str(sc, "status", "selector", NULL), "app=d");
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(sc, "spec"), "replicas",
				  cJSON_CreateNumber(5));
	assert_int_equal(sim_store_update(f->s, "apps", "deployments", "default", "d", "scale", sc,
					  0, NULL, NULL),
			 200);
	cJSON *d = NULL;
	double r = 0, g = 0;
	assert_int_equal(sim_store_get(f->s, "apps", "deployments", "default", "d", &d, NULL), 200);
	assert_true(kube_json_get_num(d, &r, "spec", "replicas", NULL) && r == 5);
	assert_true(kube_json_get_num(d, &g, "metadata", "generation", NULL) && g == 2);
	cJSON_Delete(sc);
	cJSON_Delete(d);
}

/* ---- list paging */

static void create_cm(struct sim_store *s, const char *ns, const char *name, const char *odd)
{
	char text[300];
	snprintf(text, sizeof(text), "{\"metadata\":{\"name\":\"%s\",\"labels\":{\"odd\":\"%s\"}},"
		 "\"data\":{\"k\":\"v\"}}", name, odd);
	assert_int_equal(create(s, "", "configmaps", ns, text, NULL), 201);
}

/* cm1..cm7 in default, created out of order; odd=1 on cm1, cm3, cm5, cm7. */
static void create_seven(struct sim_store *s)
{
	static const int order[] = {5, 2, 7, 1, 4, 6, 3};
	for (size_t i = 0; i < 7; i++) {
		char name[8];
		snprintf(name, sizeof(name), "cm%d", order[i]);
		create_cm(s, "default", name, order[i] % 2 ? "1" : "0");
	}
}

struct listq {
	const char *ns, *resource, *lsel, *fsel, *rv, *cont;
	long limit;
};

static int list(struct sim_store *s, const struct listq *q, struct sim_snap **out,
		cJSON **status)
{
	struct sim_req r = {.verb = SIM_LIST, .group = "",
			    .resource = q->resource ? q->resource : "configmaps", .ns = q->ns,
			    .label_selector = q->lsel, .field_selector = q->fsel,
			    .limit = q->limit, .continue_token = q->cont,
			    .resource_version = q->rv, .grace_seconds = -1};
	return sim_store_do(s, &r, out, status);
}

#define TOKLEN 400

/* Lists q and checks the page: its names (comma-separated), remainingItemCount (-1: absent)
 * and whether a continue token comes with it (more), which goes to tok (may be NULL). Returns
 * the page (the caller frees it). */
static struct sim_snap *expect_page(struct sim_store *s, const struct listq *q, const char *want,
				    long remaining, int more, char tok[TOKLEN])
{
	char buf[300] = "";
	struct sim_snap *p = NULL;
	assert_int_equal(list(s, q, &p, NULL), 200);
	for (size_t i = 0; i < sim_snap_len(p); i++) {
		const cJSON *o = sim_snap_obj(p, i);
		assert_non_null(o);
		size_t used = strlen(buf);
		snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? "," : "", kube_json_name(o));
	}
	assert_string_equal(buf, want);
	assert_int_equal(sim_snap_remaining(p), remaining);
	assert_int_equal(sim_snap_continue(p) != NULL, more);
	if (tok && more)
		snprintf(tok, TOKLEN, "%s", sim_snap_continue(p));
	return p;
}

/* Creates cm1..cm7 and lists the first page of 3: its token into tok, its resourceVersion into
 * rv (may be NULL). */
static void first_page(struct sim_store *s, char tok[TOKLEN], char rv[24])
{
	struct listq q = {.ns = "default", .limit = 3};
	create_seven(s);
	struct sim_snap *p = expect_page(s, &q, "cm1,cm2,cm3", 4, 1, tok);
	if (rv)
		snprintf(rv, 24, "%s", sim_snap_rv(p));
	sim_snap_free(p);
}

static void paging__seven_by_three(void **state)
{
	struct fixture *f = *state;
	char tok1[TOKLEN], tok2[TOKLEN], rv1[24];
	first_page(f->s, tok1, rv1);

	struct listq q = {.ns = "default", .limit = 3, .cont = tok1};
	struct sim_snap *p = expect_page(f->s, &q, "cm4,cm5,cm6", 1, 1, tok2);
	assert_string_not_equal(tok2, tok1);
	assert_string_equal(sim_snap_rv(p), rv1);
	sim_snap_free(p);
	q.cont = tok2;
	p = expect_page(f->s, &q, "cm7", -1, 0, NULL);
	assert_string_equal(sim_snap_rv(p), rv1);
	sim_snap_free(p);
	/* a token can be used again (it is not consumed) */
	q.cont = tok1;
	sim_snap_free(expect_page(f->s, &q, "cm4,cm5,cm6", 1, 1, NULL));

	/* no limit (or limit <= 0): everything, no continue; exactly limit items: one page */
	struct listq all = {.ns = "default", .limit = -1};
	sim_snap_free(expect_page(f->s, &all, "cm1,cm2,cm3,cm4,cm5,cm6,cm7", -1, 0, NULL));
	all.limit = 7;
	sim_snap_free(expect_page(f->s, &all, "cm1,cm2,cm3,cm4,cm5,cm6,cm7", -1, 0, NULL));
}

/* Later pages show the list as of the first page's resourceVersion. */
static void paging__consistent_snapshot(void **state)
{
	struct fixture *f = *state;
	char tok[TOKLEN], rv1[24];
	first_page(f->s, tok, rv1);

	/* after the first page: cm5 deleted, cm45 created, cm6 changed, cm4 deleted and
	 * recreated */
	assert_int_equal(sim_store_delete(f->s, "", "configmaps", "default", "cm5", NULL, -1, NULL,
					  NULL, 0, NULL, NULL),
			 200);
	create_cm(f->s, "default", "cm45", "1");
	cJSON *patch = J("{\"data\":{\"k\":\"changed\"}}");
	assert_int_equal(sim_store_patch(f->s, "", "configmaps", "default", "cm6", NULL,
					 "application/merge-patch+json", patch, 0, NULL, NULL),
			 200);
	cJSON_Delete(patch);
	assert_int_equal(sim_store_delete(f->s, "", "configmaps", "default", "cm4", NULL, -1, NULL,
					  NULL, 0, NULL, NULL),
			 200);
	create_cm(f->s, "default", "cm4", "7");

	struct listq q = {.ns = "default", .limit = 3, .cont = tok};
	struct sim_snap *p = expect_page(f->s, &q, "cm4,cm5,cm6", 1, 1, NULL);
	assert_string_equal(sim_snap_rv(p), rv1);
	assert_string_equal(kube_json_get_str(sim_snap_obj(p, 0), "metadata", "labels", "odd", NULL),
			    "0");
	assert_string_equal(kube_json_get_str(sim_snap_obj(p, 2), "data", "k", NULL), "v");
	for (size_t i = 0; i < sim_snap_len(p); i++)
		assert_true(atoll(kube_json_resource_version(sim_snap_obj(p, i))) <= atoll(rv1));
	sim_snap_free(p);

	/* a new list sees the current state */
	struct listq now = {.ns = "default"};
	p = expect_page(f->s, &now, "cm1,cm2,cm3,cm4,cm45,cm6,cm7", -1, 0, NULL);
	assert_string_equal(kube_json_get_str(sim_snap_obj(p, 5), "data", "k", NULL), "changed");
	sim_snap_free(p);
}

/* Label and field selectors apply before paging; no remainingItemCount with a selector. */
static void paging__selectors(void **state)
{
	struct fixture *f = *state;
	char tok[TOKLEN];
	create_seven(f->s);
	struct listq q = {.ns = "default", .limit = 2, .lsel = "odd=1"};
	sim_snap_free(expect_page(f->s, &q, "cm1,cm3", -1, 1, tok));
	q.cont = tok;
	sim_snap_free(expect_page(f->s, &q, "cm5,cm7", -1, 0, NULL));
	struct listq fq = {.ns = "default", .limit = 1, .fsel = "metadata.name!=cm1"};
	sim_snap_free(expect_page(f->s, &fq, "cm2", -1, 1, NULL));

	/* a bad selector is still 400 with paging */
	cJSON *status = NULL;
	struct sim_snap *p = NULL;
	struct listq bad = {.ns = "default", .limit = 1, .lsel = "a in (("};
	assert_int_equal(list(f->s, &bad, &p, &status), 400);
	cJSON_Delete(status);
}

/* Across namespaces the key is namespace/name; cluster-scoped lists page by name. */
static void paging__key_order(void **state)
{
	struct fixture *f = *state;
	char tok[TOKLEN];
	assert_int_equal(create(f->s, "", "namespaces", NULL, "{\"metadata\":{\"name\":\"a-ns\"}}",
				NULL),
			 201);
	create_cm(f->s, "default", "z", "0");
	create_cm(f->s, "a-ns", "y", "0");
	create_cm(f->s, "kube-system", "a", "0");

	struct listq q = {.limit = 2};
	struct sim_snap *p = expect_page(f->s, &q, "y,z", 1, 1, tok);
	assert_string_equal(kube_json_namespace(sim_snap_obj(p, 0)), "a-ns");
	sim_snap_free(p);
	q.cont = tok;
	sim_snap_free(expect_page(f->s, &q, "a", -1, 0, NULL));

	/* namespaces: a-ns, default, kube-node-lease, kube-public, kube-system */
	struct listq nq = {.resource = "namespaces", .limit = 4};
	sim_snap_free(expect_page(f->s, &nq, "a-ns,default,kube-node-lease,kube-public", 1, 1, tok));
	nq.cont = tok;
	sim_snap_free(expect_page(f->s, &nq, "kube-system", -1, 0, NULL));
}

static char *b64url(const char *text)
{
	size_t len = strlen(text);
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)len);
	for (char *c = out; *c; c++)
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c == '=' ? '\0' : *c;
	return out;
}

/* A list with continue token tok (JSON is base64url-encoded first when json is set) fails with
 * code and reason, its message containing needle. Returns the Status (caller frees). */
static cJSON *expect_list_error(struct sim_store *s, const char *tok, int json, const char *rv,
				int code, const char *reason, const char *needle)
{
	struct sim_snap *p = NULL;
	cJSON *status = NULL;
	char *enc = json ? b64url(tok) : NULL;
	struct listq q = {.ns = "default", .limit = 3, .cont = enc ? enc : tok, .rv = rv};
	assert_int_equal(list(s, &q, &p, &status), code);
	free(enc);
	assert_null(p);
	assert_string_equal(kube_json_get_str(status, "reason", NULL), reason);
	assert_non_null(strstr(kube_json_get_str(status, "message", NULL), needle));
	return status;
}

static void bad_token(struct sim_store *s, const char *tok, int json, const char *needle)
{
	cJSON *status = expect_list_error(s, tok, json, NULL, 400, "BadRequest", needle);
	assert_non_null(strstr(kube_json_get_str(status, "message", NULL),
			       "invalid continue token: continue key is not valid"));
	cJSON_Delete(status);
}

static void paging__bad_tokens(void **state)
{
	struct fixture *f = *state;
	create_seven(f->s);
	bad_token(f->s, "not a token!", 0, "not base64url");
	bad_token(f->s, "eyJ2", 0, "not base64url"); /* truncated */
	bad_token(f->s, "[1,2]", 1, "not base64url");
	bad_token(f->s, "{\"v\":\"meta.k8s.io/v2\",\"rv\":5,\"start\":\"default/cm1\"}", 1,
		  "does not recognize this encoded version");
	bad_token(f->s, "{\"v\":\"meta.k8s.io/v1\",\"rv\":0,\"start\":\"default/cm1\"}", 1,
		  "incorrect encoded start resourceVersion");
	bad_token(f->s, "{\"v\":\"meta.k8s.io/v1\",\"rv\":5,\"start\":\"\"}", 1,
		  "encoded start key empty");
	bad_token(f->s, "{\"v\":\"meta.k8s.io/v1\",\"rv\":999999,\"start\":\"default/cm1\"}", 1,
		  "newer than the server");

	/* a well-formed token made by hand works: after default/cm2 at the current rv */
	char tok[200];
	snprintf(tok, sizeof(tok), "{\"v\":\"meta.k8s.io/v1\",\"rv\":%llu,\"start\":\"default/cm2\"}",
		 (unsigned long long)sim_store_rv(f->s));
	char *t = b64url(tok);
	struct listq q = {.ns = "default", .limit = 2, .cont = t};
	sim_snap_free(expect_page(f->s, &q, "cm3,cm4", 3, 1, NULL));
	free(t);
}

static void paging__continue_with_resource_version(void **state)
{
	struct fixture *f = *state;
	char tok[TOKLEN];
	first_page(f->s, tok, NULL);
	cJSON_Delete(expect_list_error(f->s, tok, 0, "5", 400, "BadRequest",
				       "specifying resource version is not allowed when using "
				       "continue"));
	/* "0" is allowed with continue (as upstream) and pages as usual */
	struct listq q = {.ns = "default", .limit = 3, .cont = tok, .rv = "0"};
	sim_snap_free(expect_page(f->s, &q, "cm4,cm5,cm6", 1, 1, NULL));
	/* resourceVersion=0 without continue ignores limit (the watch cache does not page) */
	q.cont = NULL;
	sim_snap_free(expect_page(f->s, &q, "cm1,cm2,cm3,cm4,cm5,cm6,cm7", -1, 0, NULL));
}

/* A token whose resourceVersion the history no longer covers: 410 Expired, with a token that
 * continues at the current state. */
static void paging__expired_after_compaction(void **state)
{
	struct fixture *f = *state;
	char tok[TOKLEN], next[TOKLEN];
	first_page(f->s, tok, NULL);
	create_cm(f->s, "default", "cm40", "0");
	sim_store_compact(f->s);
	cJSON *status = expect_list_error(f->s, tok, 0, NULL, 410, "Expired",
					  "The provided continue parameter is too old to display a "
					  "consistent list result. You can start a new list without "
					  "the continue parameter, or use the continue token in this "
					  "response to retrieve the remainder of the results.");
	assert_int_equal((int)cJSON_GetObjectItem(status, "code")->valuedouble, 410);
	const char *c = kube_json_get_str(status, "metadata", "continue", NULL);
	assert_non_null(c);
	snprintf(next, sizeof(next), "%s", c);
	cJSON_Delete(status);

	/* the inconsistent continuation: the current state, after cm3 */
	struct listq q = {.ns = "default", .limit = 3, .cont = next};
	struct sim_snap *p = expect_page(f->s, &q, "cm4,cm40,cm5", 2, 1, NULL);
	char rvnow[24];
	snprintf(rvnow, sizeof(rvnow), "%llu", (unsigned long long)sim_store_rv(f->s));
	assert_string_equal(sim_snap_rv(p), rvnow);
	sim_snap_free(p);
}

/* With a small history (64 events), a token expires once the events after it are dropped. */
static void paging__expired_by_history_ring(void **state)
{
	struct fixture *f = *state;
	char tok[TOKLEN];
	first_page(f->s, tok, NULL);
	struct listq q = {.ns = "default", .limit = 3, .cont = tok};
	for (int i = 0; i < 70; i++) {
		char name[16];
		snprintf(name, sizeof(name), "x%02d", i);
		create_cm(f->s, "kube-system", name, "0");
		if (i == 10) /* still covered by the history */
			sim_snap_free(expect_page(f->s, &q, "cm4,cm5,cm6", 1, 1, NULL));
	}
	cJSON_Delete(expect_list_error(f->s, tok, 0, NULL, 410, "Expired", "too old"));
}

/* deletecollection ignores paging fields (the HTTP layer never sets them for it). */
static void paging__deletecollection_unpaged(void **state)
{
	struct fixture *f = *state;
	struct sim_snap *p = NULL;
	create_seven(f->s);
	struct sim_req r = {.verb = SIM_DELETE_COLLECTION, .group = "", .resource = "configmaps",
			    .ns = "default", .limit = 2, .grace_seconds = -1};
	assert_int_equal(sim_store_do(f->s, &r, &p, NULL), 200);
	assert_int_equal(sim_snap_len(p), 7);
	sim_snap_free(p);
}

/* Every test gets a fresh registry and store (history of 64 events). */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(store__create_get_and_defaults),
		T(store__create_errors),
		T(store__update_conflict_and_unconditional),
		T(store__noop_update_keeps_rv),
		T(store__patch_types),
		T(store__crd_lifecycle_and_schema),
		T(store__crd_name_must_match),
		T(store__finalizers_and_foreground),
		T(store__dry_run_persists_nothing),
		T(store__namespace_deletion_cascades),
		T(store__list_selectors_sorted),
		T(store__watch_history_and_expiry),
		T(store__watch_selector_transitions),
		T(store__subscribers_in_commit_order),
		T(store__scale_subresource),
		T(paging__seven_by_three),
		T(paging__consistent_snapshot),
		T(paging__selectors),
		T(paging__key_order),
		T(paging__bad_tokens),
		T(paging__continue_with_resource_version),
		T(paging__expired_after_compaction),
		T(paging__expired_by_history_ring),
		T(paging__deletecollection_unpaged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
