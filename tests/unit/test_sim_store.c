/* Unit tests for kubesim's store: the verbs' HTTP outcomes, resourceVersion and generation rules,
 * status subresource, finalizers and deletion, namespaces, CRDs with schemas, watches (history,
 * 410 after compaction, selector transitions) and subscribers. No HTTP involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
				"{\"matchLabels\":{\"app\":\"d\"}},\"template\":{}}}",
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(store__create_get_and_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(store__create_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(store__update_conflict_and_unconditional, setup,
						teardown),
		cmocka_unit_test_setup_teardown(store__noop_update_keeps_rv, setup, teardown),
		cmocka_unit_test_setup_teardown(store__patch_types, setup, teardown),
		cmocka_unit_test_setup_teardown(store__crd_lifecycle_and_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(store__crd_name_must_match, setup, teardown),
		cmocka_unit_test_setup_teardown(store__finalizers_and_foreground, setup, teardown),
		cmocka_unit_test_setup_teardown(store__dry_run_persists_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(store__namespace_deletion_cascades, setup, teardown),
		cmocka_unit_test_setup_teardown(store__list_selectors_sorted, setup, teardown),
		cmocka_unit_test_setup_teardown(store__watch_history_and_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(store__watch_selector_transitions, setup, teardown),
		cmocka_unit_test_setup_teardown(store__subscribers_in_commit_order, setup, teardown),
		cmocka_unit_test_setup_teardown(store__scale_subresource, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
