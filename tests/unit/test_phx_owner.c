/* phx_owner: what the operator owns. An object is ours only by a controller ownerReference with
 * our UID; repairs replace exactly the fields we own (keys added by hand go away, server
 * defaults are no difference); adoption restores labels; the status says what is not ours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json_testutil.h"

#include "kube_json.h"
#include "phx_failover.h"
#include "phx_owner.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
