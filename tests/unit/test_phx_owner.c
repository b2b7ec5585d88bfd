/* phx_owner: what the operator owns. An object is ours only by a controller ownerReference with
 * our UID; repairs replace exactly the fields we own (keys added by hand go away, server
 * defaults are no difference); adoption restores labels; the status says what is not ours. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_server.h"
#include "json_testutil.h"

#include "kube_config.h"
#include "kube_json.h"
#include "kube_rest.h"
#include "phx_failover.h"
#include "phx_owner.h"
#include "phx_service.h"

#define OWNED "'ownerReferences':[{'kind':'PhoenixService','name':'web','uid':'u1','controller':true}]"

static const char *const PHX =
	"{'apiVersion':'phoenix.fpai.io/v1alpha1','kind':'PhoenixService','metadata':{'name':'web',"
	"'namespace':'prod','uid':'u1'},'spec':{'template':{'spec':{'containers':[{'name':'a',"
	"'image':'x','ports':[{'containerPort':8080}]}]}}}}";

/* The Service as the API server would show it after creating ours. */
static const char *const SERVED =
	"{'metadata':{'name':'web','labels':{'phoenix.fpai.io/service':'web'}," OWNED "},"
	"'spec':{'type':'ClusterIP','clusterIP':'10.0.0.9','publishNotReadyAddresses':true,"
	"'selector':{'phoenix.fpai.io/service':'web','phoenix.fpai.io/serving':'true',"
	"'phoenix.fpai.io/owner-uid':'u1'},'ports':[{'name':'default','port':8080,"
	"'targetPort':8080,'protocol':'TCP'}]}}";

static void owner__only_a_controller_reference_with_our_uid_makes_it_ours(void **state)
{
	(void)state;
	static const struct {
		const char *obj;
		bool ours;
	} cases[] = {
		{ "{'metadata':{" OWNED "}}", true },
		{ "{'metadata':{}}", false },
		{ "{'metadata':{'labels':{'phoenix.fpai.io/service':'web','phoenix.fpai.io/owner-uid':"
		  "'u1'}}}", false },
		{ "{'metadata':{'ownerReferences':[{'kind':'PhoenixService','name':'web','uid':'u1'}]}}",
		  false },
		{ "{'metadata':{'ownerReferences':[{'kind':'PhoenixService','name':'web','uid':'u2',"
		  "'controller':true}]}}", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *o = J(cases[i].obj);
		assert_int_equal(phx_owned_by(o, "u1"), cases[i].ours);
		assert_false(phx_owned_by(o, ""));
		cJSON_Delete(o);
	}
	cJSON *o = J("{'metadata':{" OWNED "}}");
	assert_string_equal(phx_owner_uid(o, "web"), "u1");
	assert_null(phx_owner_uid(o, "other"));
	cJSON_Delete(o);
}

static void owner__service_as_served_needs_no_repair(void **state)
{
	(void)state;
	cJSON *phx = J(PHX), *served = J(SERVED);
	cJSON *want = phx_service_build(phx);
	bool enomem = true;
	assert_null(phx_repair_patch(want, served, &enomem));
	assert_false(enomem);
	/* Server defaults are no difference: targetPort = port, protocol TCP, a nodePort. */
	cJSON *p = cJSON_GetArrayItem((cJSON *)kube_json_get(served, "spec", "ports", NULL), 0);
	cJSON_DeleteItemFromObject(p, "protocol");
	cJSON_DeleteItemFromObject(p, "targetPort");
	cJSON_AddNumberToObject(p, "nodePort", 30001);
	assert_null(phx_repair_patch(want, served, NULL));
	cJSON_Delete(want);
	cJSON_Delete(served);
	cJSON_Delete(phx);
}

static void owner__service_repair_replaces_whole_fields(void **state)
{
	(void)state;
	cJSON *phx = J(PHX), *served = J(SERVED);
	cJSON *want = phx_service_build(phx);
	cJSON *spec = (cJSON *)kube_json_get(served, "spec", NULL);
	/* kubectl patch --type merge -p '{"spec":{"selector":{"app":"typo"}}}' */
	kube_json_set_str((cJSON *)kube_json_get(spec, "selector", NULL), "app", "typo");
	cJSON_ReplaceItemInObject(spec, "publishNotReadyAddresses", cJSON_CreateFalse());
	cJSON_ReplaceItemInObject(spec, "ports",
				  J("[{'name':'default','port':9090,'nodePort':30001}]"));
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(served, "metadata"), "labels");
	cJSON *patch = phx_repair_patch(want, served, NULL);
	assert_json_eq(patch,
		       "[{'op':'add','path':'/spec/selector','value':{'phoenix.fpai.io/service':'web',"
		       "'phoenix.fpai.io/serving':'true','phoenix.fpai.io/owner-uid':'u1'}},"
		       "{'op':'add','path':'/spec/ports','value':[{'name':'default','port':8080,"
		       "'targetPort':8080,'protocol':'TCP'}]},"
		       "{'op':'add','path':'/spec/publishNotReadyAddresses','value':true},"
		       "{'op':'add','path':'/metadata/labels','value':{'phoenix.fpai.io/service':"
		       "'web'}}]",
		       "Service repair");
	cJSON_Delete(patch);
	cJSON_Delete(want);
	cJSON_Delete(served);
	cJSON_Delete(phx);
}

static void owner__node_ports_are_kept_where_they_exist(void **state)
{
	(void)state;
	cJSON *phx = J(PHX);
	cJSON_AddItemToObject((cJSON *)kube_json_get(phx, "spec", NULL), "service",
			      J("{'type':'NodePort','ports':[{'name':'web','port':80,"
				"'targetPort':8080}]}"));
	cJSON *want = phx_service_build(phx);
	cJSON *served = J("{'metadata':{'name':'web','labels':{'phoenix.fpai.io/service':'web'},"
			  OWNED "},'spec':{'type':'NodePort','publishNotReadyAddresses':true,"
			  "'selector':{'phoenix.fpai.io/service':'web','phoenix.fpai.io/serving':"
			  "'true','phoenix.fpai.io/owner-uid':'u1'},'ports':[{'name':'web',"
			  "'port':80,'targetPort':9999,'nodePort':30080}]}}");
	cJSON *patch = phx_repair_patch(want, served, NULL);
	assert_json_eq(patch,
		       "[{'op':'add','path':'/spec/ports','value':[{'name':'web','port':80,"
		       "'targetPort':8080,'protocol':'TCP','nodePort':30080}]}]",
		       "NodePort repair keeps the allocated nodePort");
	cJSON_Delete(patch);
	cJSON_Delete(served);
	cJSON_Delete(want);
	cJSON_Delete(phx);
}

static void owner__pdb_repair(void **state)
{
	(void)state;
	cJSON *phx = J(PHX);
	cJSON *want = phx_pdb_build(phx);
	cJSON *ok = J("{'metadata':{'name':'web','labels':{'phoenix.fpai.io/service':'web'}," OWNED
		      "},'spec':{'maxUnavailable':1,'selector':{'matchLabels':{"
		      "'phoenix.fpai.io/service':'web','phoenix.fpai.io/owner-uid':'u1'}}}}");
	assert_null(phx_repair_patch(want, ok, NULL));
	cJSON *bad = J("{'metadata':{'name':'web','labels':{'phoenix.fpai.io/service':'web',"
		       "'x':'y'}," OWNED "},'spec':{'minAvailable':2,'selector':{'matchLabels':{"
		       "'app':'typo'}}}}");
	cJSON *patch = phx_repair_patch(want, bad, NULL);
	assert_json_eq(patch,
		       "[{'op':'add','path':'/spec/selector','value':{'matchLabels':{"
		       "'phoenix.fpai.io/service':'web','phoenix.fpai.io/owner-uid':'u1'}}},"
		       "{'op':'add','path':'/spec/maxUnavailable','value':1},"
		       "{'op':'remove','path':'/spec/minAvailable'}]",
		       "PDB repair");
	cJSON_Delete(patch);
	cJSON_Delete(bad);
	cJSON_Delete(ok);
	cJSON_Delete(want);
	cJSON_Delete(phx);
}

static void owner__pods_carry_our_uid_and_are_adopted_back(void **state)
{
	(void)state;
	cJSON *phx = J(PHX);
	struct phx_spec spec;
	phx_spec_parse(phx, &spec, NULL, 0);
	cJSON *pod = phx_pod_build(phx, &spec, "web-a", PHX_ROLE_PRIMARY, true);
	assert_string_equal(kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_OWNER, NULL),
			    "u1");
	assert_null(phx_pod_adopt_patch(pod, "web", "u1"));
	/* A pod from before the owner label: only that label is added (it keeps serving). */
	cJSON *labels = (cJSON *)kube_json_get(pod, "metadata", "labels", NULL);
	cJSON_DeleteItemFromObject(labels, PHX_LABEL_OWNER);
	char *p = phx_pod_adopt_patch(pod, "web", "u1");
	cJSON *got = cJSON_Parse(p);
	assert_json_eq(got, "{'metadata':{'labels':{'phoenix.fpai.io/owner-uid':'u1'}}}",
		       "owner label only");
	cJSON_Delete(got);
	free(p);
	/* Its service label changed by hand: it comes back as a standby that does not serve. */
	kube_json_set_str(labels, PHX_LABEL_SERVICE, "typo");
	p = phx_pod_adopt_patch(pod, "web", "u1");
	got = cJSON_Parse(p);
	assert_json_eq(got,
		       "{'metadata':{'labels':{'phoenix.fpai.io/owner-uid':'u1','phoenix.fpai.io/"
		       "service':'web','phoenix.fpai.io/role':'standby','phoenix.fpai.io/serving':"
		       "'false'}}}",
		       "adopted back");
	cJSON_Delete(got);
	free(p);
	got = cJSON_Parse(phx_pod_fence_patch());
	assert_json_eq(got,
		       "{'metadata':{'labels':{'phoenix.fpai.io/serving':'false',"
		       "'phoenix.fpai.io/owner-uid':null}}}",
		       "fence");
	cJSON_Delete(got);
	cJSON_Delete(pod);
	cJSON_Delete(phx);
}

static const char *cond(const cJSON *st, const char *type, const char *field)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, kube_json_get(st, "conditions", NULL)) {
		if (strcmp(kube_json_get_str(c, "type", NULL), type) == 0)
			return kube_json_get_str(c, field, NULL);
	}
	return NULL;
}

static void owner__status_says_what_is_not_ours(void **state)
{
	(void)state;
	cJSON *st = J("{'phase':'Healthy','conditions':[{'type':'Degraded','status':'False'}]}");
	phx_status_note_ownership(st, NULL, "", false, 3, 0);
	assert_string_equal(kube_json_get_str(st, "phase", NULL), "Healthy");
	assert_string_equal(cond(st, "OwnershipConflict", "status"), "False");
	/* Foreign pods kept out: reported; our traffic is fine. */
	phx_status_note_ownership(st, NULL, "pods ...: x", false, 3, 0);
	assert_string_equal(kube_json_get_str(st, "phase", NULL), "Healthy");
	assert_string_equal(cond(st, "OwnershipConflict", "status"), "True");
	assert_string_equal(cond(st, "OwnershipConflict", "message"), "pods ...: x");
	/* A Service of our name that is not ours: not Healthy. */
	phx_status_note_ownership(st, NULL, "Service web is not owned", true, 3, 0);
	assert_string_equal(kube_json_get_str(st, "phase", NULL), "Degraded");
	assert_string_equal(cond(st, "Degraded", "status"), "True");
	assert_string_equal(cond(st, "Degraded", "reason"), "NotOwned");
	assert_int_equal(cJSON_GetArraySize(kube_json_get(st, "conditions", NULL)), 2);
	cJSON_Delete(st);
}

/* ---------------------------------------------------------------- the reconciler's order */

struct world {
	struct fake_server fs;
	struct kube_config cfg;
	struct kube_client *client;
	struct phx_reconciler *rec;
	const char *svc, *pods, *service, *pdb; /* what the caches hold (single-quoted JSON) */
};

static int world_up(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	assert_int_equal(fake_server_start(&w->fs), 0);
	w->fs.fallback.status = 200;
	w->fs.fallback.body = "{}";
	(void)fake_push;
	(void)fake_push_resp;
	(void)fake_nreqs;
	assert_int_equal(kube_config_init_server(&w->cfg, w->fs.url), 0);
	struct kube_client_opts co = { .qps = -1 };
	assert_int_equal(kube_client_new(&w->cfg, &co, &w->client), 0);
	struct phx_reconciler_opts ro = { .client = w->client };
	assert_int_equal(phx_reconciler_new(&ro, &w->rec), 0);
	*state = w;
	return 0;
}

static int world_down(void **state)
{
	struct world *w = *state;
	phx_reconciler_free(w->rec);
	kube_client_free(w->client);
	kube_config_release(&w->cfg);
	fake_server_stop(&w->fs);
	free(w);
	return 0;
}

static cJSON *J_or_null(const char *s)
{
	return s ? J(s) : NULL;
}

static void world_load(void *ud, const char *key, cJSON **svc, cJSON **pods, cJSON **service,
		       cJSON **pdb)
{
	struct world *w = ud;
	(void)key;
	*svc = J_or_null(w->svc);
	*pods = J_or_null(w->pods);
	*service = J_or_null(w->service);
	*pdb = J_or_null(w->pdb);
}

/* Index of the first request with method and a path containing part at or after from, -1. */
static int req_index(struct world *w, int from, const char *method, const char *part)
{
	int at = -1;
	pthread_mutex_lock(&w->fs.mu);
	for (int i = from; i < w->fs.nreqs && at < 0; i++)
		if (!strcmp(w->fs.reqs[i].method, method) && strstr(w->fs.reqs[i].path, part))
			at = i;
	pthread_mutex_unlock(&w->fs.mu);
	return at;
}

static const char *req_body(struct world *w, int i)
{
	return i >= 0 ? w->fs.reqs[i].body : NULL;
}

#define POD(name, role, serving, owner_label, refs)                                          \
	"{'metadata':{'name':'" name "','namespace':'prod','creationTimestamp':"               \
	"'2020-01-01T00:00:00Z','labels':{'phoenix.fpai.io/service':'web',"                    \
	"'phoenix.fpai.io/role':'" role "','phoenix.fpai.io/serving':'" serving "',"           \
	"'phoenix.fpai.io/revision':'REV'" owner_label "}" refs "},'status':{'phase':"         \
	"'Running','conditions':[{'type':'Ready','status':'True'}]}}"
#define OWNER_LABEL ",'phoenix.fpai.io/owner-uid':'u1'"
#define REFS ",'ownerReferences':[{'kind':'PhoenixService','name':'web','uid':'u1','controller':true}]"

static const char *const PROMOTE_PHX =
	"{'apiVersion':'phoenix.fpai.io/v1alpha1','kind':'PhoenixService','metadata':{'name':'web',"
	"'namespace':'prod','uid':'u1','generation':1},'spec':{'standbys':2,'failover':{'mode':"
	"'Promote'},'template':{'spec':{'containers':[{'name':'a','image':'x','ports':[{"
	"'containerPort':8080}]}]}}},'status':{'primary':'web-a'}}";

/* The pods' revision label must be the spec's, or the planner starts a rollout. */
static char *with_rev(const char *pods)
{
	cJSON *phx = J(PROMOTE_PHX);
	struct phx_spec spec;
	phx_spec_parse(phx, &spec, NULL, 0);
	cJSON_Delete(phx);
	char *out = malloc(strlen(pods) + 64 * 4);
	const char *p = pods;
	char *o = out;
	for (const char *q; (q = strstr(p, "REV")); p = q + 3) {
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		o += sprintf(o, "%s", spec.revision);
	}
	strcpy(o, p);
	return out;
}

static void reconcile__disowned_primary_is_fenced_before_a_standby_serves(void **state)
{
	struct world *w = *state;
	/* web-a's ownerReference was removed: it is not ours any more, but still carries our
	 * owner label and serves. */
	char *pods = with_rev("[" POD("web-a", "primary", "true", OWNER_LABEL, "") ","
			      POD("web-b", "standby", "false", OWNER_LABEL, REFS) ","
			      POD("web-c", "standby", "false", OWNER_LABEL, REFS) "]");
	w->svc = PROMOTE_PHX;
	w->pods = pods;
	int64_t requeue = 0;
	assert_int_equal(phx_reconcile_load(w->rec, "prod/web", world_load, w, &requeue), 0);
	int fence = req_index(w, 0, "PATCH", "/pods/web-a");
	int promote = req_index(w, 0, "PATCH", "/pods/web-b");
	assert_true(fence >= 0);
	assert_true(promote > fence);
	assert_non_null(strstr(req_body(w, fence), "\"phoenix.fpai.io/owner-uid\":null"));
	assert_non_null(strstr(req_body(w, promote), "\"phoenix.fpai.io/serving\":\"true\""));
	assert_int_equal(req_index(w, 0, "DELETE", "/pods/web-a"), -1); /* not ours to delete */
	const char *st = req_body(w, req_index(w, 0, "PATCH", "/status"));
	assert_non_null(strstr(st, "\"type\":\"OwnershipConflict\",\"status\":\"True\""));
	assert_non_null(strstr(st, "web-a"));
	free(pods);
}

static void fast_path__a_foreign_primary_failing_is_no_failover(void **state)
{
	struct world *w = *state;
	cJSON *foreign = J(POD("intruder", "primary", "true", "", ""));
	cJSON *other = J(POD("stray", "primary", "true", OWNER_LABEL,
			     ",'ownerReferences':[{'kind':'PhoenixService','name':'other','uid':"
			     "'u9','controller':true}]"));
	cJSON *ours = J(POD("web-a", "primary", "true", OWNER_LABEL, REFS));
	/* Labelled like our primary, deleted: not ours, nothing to react to. */
	assert_false(phx_reconciler_pod_event(w->rec, foreign, NULL, true));
	assert_false(phx_reconciler_pod_event(w->rec, other, NULL, true));
	assert_true(phx_reconciler_pod_event(w->rec, ours, NULL, true));
	cJSON_Delete(foreign);
	cJSON_Delete(other);
	cJSON_Delete(ours);
}

/* Our Service as an operator without the owner label left it. */
static const char *const OLD_SERVICE =
	"{'metadata':{'name':'web','labels':{'phoenix.fpai.io/service':'web'}" REFS
	"},'spec':{'type':'ClusterIP','publishNotReadyAddresses':true,'selector':{"
	"'phoenix.fpai.io/service':'web','phoenix.fpai.io/serving':'true'},'ports':[{"
	"'name':'default','port':8080,'targetPort':8080,'protocol':'TCP'}]}}";

static void reconcile__pods_get_the_owner_label_before_the_selector_needs_it(void **state)
{
	struct world *w = *state;
	/* Left by an operator without the owner label: pods, Service and PDB select without it. */
	char *pods = with_rev("[" POD("web-a", "primary", "true", "", REFS) ","
			      POD("web-b", "standby", "false", "", REFS) ","
			      POD("web-c", "standby", "false", "", REFS) "]");
	w->svc = PROMOTE_PHX;
	w->pods = pods;
	w->service = OLD_SERVICE;
	w->pdb = "{'metadata':{'name':'web','labels':{'phoenix.fpai.io/service':'web'}" REFS
		 "},'spec':{'maxUnavailable':1,'selector':{'matchLabels':{"
		 "'phoenix.fpai.io/service':'web'}}}}";
	int64_t requeue = 0;
	assert_int_equal(phx_reconcile_load(w->rec, "prod/web", world_load, w, &requeue), 0);
	int last_pod = -1;
	for (const char *const *n = (const char *const[]){ "/pods/web-a", "/pods/web-b",
							    "/pods/web-c", NULL }; *n; n++) {
		int i = req_index(w, 0, "PATCH", *n);
		assert_true(i >= 0);
		assert_string_equal(req_body(w, i),
				    "{\"metadata\":{\"labels\":{\"phoenix.fpai.io/owner-uid\":\"u1\"}}}");
		if (i > last_pod)
			last_pod = i;
	}
	int svc = req_index(w, 0, "PATCH", "/services/web");
	int pdb = req_index(w, 0, "PATCH", "/poddisruptionbudgets/web");
	assert_true(svc > last_pod);
	assert_true(pdb > last_pod);
	assert_non_null(strstr(req_body(w, svc), "\"phoenix.fpai.io/owner-uid\":\"u1\""));
	assert_string_equal(w->fs.reqs[svc].content_type, "application/json-patch+json");
	/* A pod patch that fails leaves the selector as it is. */
	world_down(state);
	world_up(state);
	w = *state;
	w->svc = PROMOTE_PHX;
	w->pods = pods;
	w->service = OLD_SERVICE;
	w->fs.fallback.status = 500;
	w->fs.fallback.body = "{\"kind\":\"Status\",\"code\":500}";
	assert_true(phx_reconcile_load(w->rec, "prod/web", world_load, w, &requeue) < 0);
	assert_int_equal(req_index(w, 0, "PATCH", "/services/web"), -1);
	free(pods);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(owner__only_a_controller_reference_with_our_uid_makes_it_ours),
		cmocka_unit_test(owner__service_as_served_needs_no_repair),
		cmocka_unit_test(owner__service_repair_replaces_whole_fields),
		cmocka_unit_test(owner__node_ports_are_kept_where_they_exist),
		cmocka_unit_test(owner__pdb_repair),
		cmocka_unit_test(owner__pods_carry_our_uid_and_are_adopted_back),
		cmocka_unit_test(owner__status_says_what_is_not_ours),
		cmocka_unit_test_setup_teardown(fast_path__a_foreign_primary_failing_is_no_failover,
						world_up, world_down),
		cmocka_unit_test_setup_teardown(
			reconcile__disowned_primary_is_fenced_before_a_standby_serves, world_up,
			world_down),
		cmocka_unit_test_setup_teardown(
			reconcile__pods_get_the_owner_label_before_the_selector_needs_it, world_up,
			world_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
