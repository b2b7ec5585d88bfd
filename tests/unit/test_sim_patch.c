/* Tests for kubesim's patch algorithms: RFC 7386 and RFC 6902 examples, strategic merge patch as
 * kubectl apply and helm upgrade send it, and atomicity on failure. JSON in the tables uses
 * single quotes for readability; J() turns them into double quotes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_testutil.h"

#include "kube_error.h"
#include "sim_patch.h"

/* No object key starting with '$' may survive into a stored object. */
static int has_directive(const cJSON *v)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, v) {
		if (c->string && c->string[0] == '$')
			return 1;
		if (has_directive(c))
			return 1;
	}
	return 0;
}

/* ---- RFC 7386 ---------------------------------------------------------------------------- */

struct merge_case {
	const char *name, *doc, *patch, *want;
};

static const struct merge_case merge_cases[] = {
	/* RFC 7386 Appendix A */
	{ "replace_value", "{'a':'b'}", "{'a':'c'}", "{'a':'c'}" },
	{ "add_member", "{'a':'b'}", "{'b':'c'}", "{'a':'b','b':'c'}" },
	{ "null_deletes", "{'a':'b'}", "{'a':null}", "{}" },
	{ "null_deletes_one", "{'a':'b','b':'c'}", "{'a':null}", "{'b':'c'}" },
	{ "array_by_string", "{'a':['b']}", "{'a':'c'}", "{'a':'c'}" },
	{ "string_by_array", "{'a':'c'}", "{'a':['b']}", "{'a':['b']}" },
	{ "nested", "{'a':{'b':'c'}}", "{'a':{'b':'d','c':null}}", "{'a':{'b':'d'}}" },
	{ "array_replaced", "{'a':[{'b':'c'}]}", "{'a':[1]}", "{'a':[1]}" },
	{ "root_array", "['a','b']", "['c','d']", "['c','d']" },
	{ "object_by_array", "{'a':'b'}", "['c']", "['c']" },
	{ "null_patch", "{'a':'foo'}", "null", "null" },
	{ "string_patch", "{'a':'foo'}", "'bar'", "'bar'" },
	{ "keeps_null_in_doc", "{'e':null}", "{'a':1}", "{'e':null,'a':1}" },
	{ "array_doc_object_patch", "[1,2]", "{'a':'b','c':null}", "{'a':'b'}" },
	{ "nulls_stripped_in_new", "{}", "{'a':{'bb':{'ccc':null}}}", "{'a':{'bb':{}}}" },
	/* kubesim cases */
	{ "empty_patch", "{'a':{'b':1}}", "{}", "{'a':{'b':1}}" },
	{ "missing_path_created", "{'x':1}", "{'spec':{'a':{'b':1}}}", "{'x':1,'spec':{'a':{'b':1}}}" },
	{ "delete_missing_key", "{'x':1}", "{'y':null}", "{'x':1}" },
	{ "status_patch", "{'spec':{'r':3},'status':{'phase':'A','n':1}}",
	  "{'status':{'phase':'B'}}", "{'spec':{'r':3},'status':{'phase':'B','n':1}}" },
	{ "label_with_dots", "{'metadata':{'labels':{'app.kubernetes.io/name':'x'}}}",
	  "{'metadata':{'labels':{'app.kubernetes.io/name':null,'b':'c'}}}",
	  "{'metadata':{'labels':{'b':'c'}}}" },
};

static void merge__rfc7386_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(merge_cases) / sizeof(merge_cases[0]); i++) {
		const struct merge_case *c = &merge_cases[i];
		cJSON *doc = J(c->doc), *patch = J(c->patch);

		assert_int_equal(sim_merge_patch(&doc, patch), 0);
		assert_json_eq(doc, c->want, c->name);
		cJSON_Delete(doc);
		cJSON_Delete(patch);
	}
}

static void merge__null_doc_and_bad_args(void **state)
{
	cJSON *doc = NULL, *patch = J("{'a':{'b':null,'c':1}}");

	(void)state;
	assert_int_equal(sim_merge_patch(&doc, patch), 0);
	assert_json_eq(doc, "{'a':{'c':1}}", "null_doc");
	assert_int_equal(sim_merge_patch(&doc, NULL), KUBE_EINVAL);
	assert_int_equal(sim_merge_patch(NULL, patch), KUBE_EINVAL);
	assert_json_eq(doc, "{'a':{'c':1}}", "unchanged");
	cJSON_Delete(doc);
	cJSON_Delete(patch);
}

/* ---- RFC 6902 ---------------------------------------------------------------------------- */

struct jp_case {
	const char *name, *doc, *ops, *want; /* want NULL: expect failure and doc unchanged */
	int rc;
	const char *errpart; /* substring of errmsg on failure */
};

static const struct jp_case jp_cases[] = {
	/* RFC 6902 Appendix A */
	{ "A1_add_member", "{'foo':'bar'}", "[{'op':'add','path':'/baz','value':'qux'}]",
	  "{'baz':'qux','foo':'bar'}", 0, NULL },
	{ "A2_add_array_elem", "{'foo':['bar','baz']}", "[{'op':'add','path':'/foo/1','value':'qux'}]",
	  "{'foo':['bar','qux','baz']}", 0, NULL },
	{ "A3_remove_member", "{'baz':'qux','foo':'bar'}", "[{'op':'remove','path':'/baz'}]",
	  "{'foo':'bar'}", 0, NULL },
	{ "A4_remove_elem", "{'foo':['bar','qux','baz']}", "[{'op':'remove','path':'/foo/1'}]",
	  "{'foo':['bar','baz']}", 0, NULL },
	{ "A5_replace", "{'baz':'qux','foo':'bar'}", "[{'op':'replace','path':'/baz','value':'boo'}]",
	  "{'baz':'boo','foo':'bar'}", 0, NULL },
	{ "A6_move", "{'foo':{'bar':'baz','waldo':'fred'},'qux':{'corge':'grault'}}",
	  "[{'op':'move','from':'/foo/waldo','path':'/qux/thud'}]",
	  "{'foo':{'bar':'baz'},'qux':{'corge':'grault','thud':'fred'}}", 0, NULL },
	{ "A7_move_elem", "{'foo':['all','grass','cows','eat']}",
	  "[{'op':'move','from':'/foo/1','path':'/foo/3'}]",
	  "{'foo':['all','cows','eat','grass']}", 0, NULL },
	{ "A8_test_ok", "{'baz':'qux','foo':['a',2,'c']}",
	  "[{'op':'test','path':'/baz','value':'qux'},{'op':'test','path':'/foo/1','value':2}]",
	  "{'baz':'qux','foo':['a',2,'c']}", 0, NULL },
	{ "A9_test_fails", "{'baz':'qux'}", "[{'op':'test','path':'/baz','value':'bar'}]", NULL,
	  KUBE_EINVALID, "op 0 (test /baz): test failed" },
	{ "A10_add_nested", "{'foo':'bar'}", "[{'op':'add','path':'/child','value':{'grandchild':{}}}]",
	  "{'foo':'bar','child':{'grandchild':{}}}", 0, NULL },
	{ "A12_add_missing_parent", "{'foo':'bar'}", "[{'op':'add','path':'/baz/bat','value':'qux'}]",
	  NULL, KUBE_EINVALID, "op 0 (add /baz/bat)" },
	{ "A14_escapes", "{'/':9,'~1':10}", "[{'op':'test','path':'/~01','value':10},"
	  "{'op':'add','path':'/a~1b','value':1},{'op':'remove','path':'/~1'}]",
	  "{'~1':10,'a/b':1}", 0, NULL },
	{ "A15_test_string_vs_number", "{'/':9,'~1':10}", "[{'op':'test','path':'/~01','value':'10'}]",
	  NULL, KUBE_EINVALID, "test failed" },
	{ "A16_append_dash", "{'foo':['bar']}", "[{'op':'add','path':'/foo/-','value':['abc','def']}]",
	  "{'foo':['bar',['abc','def']]}", 0, NULL },
	/* kubesim cases */
	{ "add_at_end_index", "{'a':[1,2]}", "[{'op':'add','path':'/a/2','value':3}]",
	  "{'a':[1,2,3]}", 0, NULL },
	{ "add_index_too_big", "{'a':[1,2]}", "[{'op':'add','path':'/a/3','value':3}]", NULL,
	  KUBE_EINVALID, "out of range" },
	{ "leading_zero_index", "{'a':[1,2]}", "[{'op':'remove','path':'/a/01'}]", NULL,
	  KUBE_EINVALID, "path not found" },
	{ "remove_missing", "{'a':1}", "[{'op':'remove','path':'/b'}]", NULL, KUBE_EINVALID,
	  "op 0 (remove /b): path not found" },
	{ "replace_missing", "{'a':1}", "[{'op':'replace','path':'/b','value':2}]", NULL,
	  KUBE_EINVALID, "path not found" },
	{ "replace_elem_keeps_index", "{'a':[1,2,3]}", "[{'op':'replace','path':'/a/1','value':9}]",
	  "{'a':[1,9,3]}", 0, NULL },
	{ "replace_root", "{'a':1}", "[{'op':'replace','path':'','value':{'b':2}}]", "{'b':2}", 0,
	  NULL },
	{ "copy", "{'a':{'x':1}}", "[{'op':'copy','from':'/a','path':'/b'}]",
	  "{'a':{'x':1},'b':{'x':1}}", 0, NULL },
	{ "move_into_child", "{'a':{'b':1}}", "[{'op':'move','from':'/a','path':'/a/b/c'}]", NULL,
	  KUBE_EINVALID, "children" },
	{ "second_op_fails_atomic", "{'a':1}",
	  "[{'op':'add','path':'/b','value':2},{'op':'remove','path':'/zz'}]", NULL, KUBE_EINVALID,
	  "op 1 (remove /zz)" },
	{ "unknown_op", "{'a':1}", "[{'op':'frob','path':'/a'}]", NULL, KUBE_EBADREQUEST,
	  "unknown op" },
	{ "missing_value", "{'a':1}", "[{'op':'add','path':'/b'}]", NULL, KUBE_EBADREQUEST,
	  "missing \"value\"" },
	{ "bad_pointer", "{'a':1}", "[{'op':'add','path':'b','value':1}]", NULL, KUBE_EBADREQUEST,
	  "invalid JSON pointer" },
	{ "bad_tilde", "{'a':1}", "[{'op':'add','path':'/b~2','value':1}]", NULL, KUBE_EBADREQUEST,
	  "invalid JSON pointer" },
	{ "not_an_array", "{'a':1}", "{'op':'add','path':'/b','value':1}", NULL, KUBE_EBADREQUEST,
	  "array" },
	{ "empty_ops", "{'a':1}", "[]", "{'a':1}", 0, NULL },
	{ "controller_finalizer", "{'metadata':{'finalizers':['x','y']}}",
	  "[{'op':'test','path':'/metadata/finalizers/1','value':'y'},"
	  "{'op':'remove','path':'/metadata/finalizers/1'}]",
	  "{'metadata':{'finalizers':['x']}}", 0, NULL },
};

static void jsonpatch__rfc6902_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(jp_cases) / sizeof(jp_cases[0]); i++) {
		const struct jp_case *c = &jp_cases[i];
		cJSON *doc = J(c->doc), *ops = J(c->ops);
		cJSON *before = cJSON_Duplicate(doc, 1);
		char *err = NULL;
		int rc = sim_json_patch(&doc, ops, &err);

		if (rc != c->rc)
			fail_msg("case %s: rc %d, want %d (%s)", c->name, rc, c->rc, err ? err : "");
		if (c->want) {
			assert_null(err);
			assert_json_eq(doc, c->want, c->name);
		} else {
			assert_non_null(err);
			if (!strstr(err, c->errpart))
				fail_msg("case %s: errmsg '%s' lacks '%s'", c->name, err, c->errpart);
			if (!cJSON_Compare(doc, before, 1))
				fail_msg("case %s: failed patch changed the document", c->name);
		}
		free(err);
		cJSON_Delete(before);
		cJSON_Delete(doc);
		cJSON_Delete(ops);
	}
}

static void jsonpatch__null_errmsg_is_allowed(void **state)
{
	cJSON *doc = J("{'a':1}"), *ops = J("[{'op':'remove','path':'/b'}]");

	(void)state;
	assert_int_equal(sim_json_patch(&doc, ops, NULL), KUBE_EINVALID);
	assert_int_equal(sim_json_patch(&doc, NULL, NULL), KUBE_EINVAL);
	assert_json_eq(doc, "{'a':1}", "unchanged");
	cJSON_Delete(doc);
	cJSON_Delete(ops);
}

/* ---- strategic merge patch --------------------------------------------------------------- */

struct smp_case {
	const char *name, *kind, *doc, *patch, *want; /* want NULL: failure, doc unchanged */
	int rc;
};

#define DEPLOY_WEB                                                                              \
	"{'kind':'Deployment','spec':{'replicas':2,'template':{'metadata':{'labels':{'app':'web'}},"  \
	"'spec':{'containers':[{'name':'web','image':'v1','ports':[{'containerPort':80}],"          \
	"'env':[{'name':'A','value':'1'},{'name':'B','value':'2'}],"                                \
	"'volumeMounts':[{'name':'cfg','mountPath':'/etc/cfg'}]}],"                                 \
	"'volumes':[{'name':'cfg','emptyDir':{}}]}}}}"

static const struct smp_case smp_cases[] = {
	{ "helm_image_change", "Deployment", DEPLOY_WEB,
	  "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'web'}],"
	  "'containers':[{'name':'web','image':'v2'}]}}}}",
	  "{'kind':'Deployment','spec':{'replicas':2,'template':{'metadata':{'labels':{'app':'web'}},"
	  "'spec':{'containers':[{'name':'web','image':'v2','ports':[{'containerPort':80}],"
	  "'env':[{'name':'A','value':'1'},{'name':'B','value':'2'}],"
	  "'volumeMounts':[{'name':'cfg','mountPath':'/etc/cfg'}]}],"
	  "'volumes':[{'name':'cfg','emptyDir':{}}]}}}}", 0 },
	{ "env_change_by_name", "Deployment", DEPLOY_WEB,
	  "{'spec':{'template':{'spec':{'containers':[{'name':'web',"
	  "'$setElementOrder/env':[{'name':'A'},{'name':'B'}],'env':[{'name':'B','value':'3'}]}]}}}}",
	  "{'kind':'Deployment','spec':{'replicas':2,'template':{'metadata':{'labels':{'app':'web'}},"
	  "'spec':{'containers':[{'name':'web','image':'v1','ports':[{'containerPort':80}],"
	  "'env':[{'name':'A','value':'1'},{'name':'B','value':'3'}],"
	  "'volumeMounts':[{'name':'cfg','mountPath':'/etc/cfg'}]}],"
	  "'volumes':[{'name':'cfg','emptyDir':{}}]}}}}", 0 },
	{ "env_add_and_remove_value", NULL,
	  "{'containers':[{'name':'c','env':[{'name':'A','value':'1'}]}]}",
	  "{'containers':[{'name':'c','env':[{'name':'A','value':null,'valueFrom':{'fieldRef':"
	  "{'fieldPath':'metadata.name'}}},{'name':'C','value':'x'}]}]}",
	  "{'containers':[{'name':'c','env':[{'name':'A','valueFrom':{'fieldRef':"
	  "{'fieldPath':'metadata.name'}}},{'name':'C','value':'x'}]}]}", 0 },
	{ "delete_container", "Pod",
	  "{'spec':{'containers':[{'name':'web','image':'a'},{'name':'side','image':'b'}]}}",
	  "{'spec':{'containers':[{'name':'side','$patch':'delete'}]}}",
	  "{'spec':{'containers':[{'name':'web','image':'a'}]}}", 0 },
	{ "delete_missing_container_noop", "Pod", "{'spec':{'containers':[{'name':'web'}]}}",
	  "{'spec':{'containers':[{'name':'nope','$patch':'delete'}]}}",
	  "{'spec':{'containers':[{'name':'web'}]}}", 0 },
	{ "add_container_port", "Deployment",
	  "{'containers':[{'name':'web','ports':[{'containerPort':80,'name':'http'}]}]}",
	  "{'containers':[{'name':'web','ports':[{'containerPort':443,'name':'https'}]}]}",
	  "{'containers':[{'name':'web','ports':[{'containerPort':80,'name':'http'},"
	  "{'containerPort':443,'name':'https'}]}]}", 0 },
	{ "service_ports_by_port", "Service",
	  "{'spec':{'type':'ClusterIP','ports':[{'port':80,'targetPort':8080},{'port':443}]}}",
	  "{'spec':{'ports':[{'port':80,'targetPort':9090}]}}",
	  "{'spec':{'type':'ClusterIP','ports':[{'port':80,'targetPort':9090},{'port':443}]}}", 0 },
	{ "volume_mounts_by_mountpath", NULL,
	  "{'volumeMounts':[{'name':'a','mountPath':'/a'},{'name':'b','mountPath':'/b'}]}",
	  "{'volumeMounts':[{'mountPath':'/b','readOnly':true}]}",
	  "{'volumeMounts':[{'name':'a','mountPath':'/a'},{'name':'b','mountPath':'/b','readOnly':true}]}",
	  0 },
	{ "tolerations_replace", "Pod",
	  "{'spec':{'tolerations':[{'key':'a','operator':'Exists'},{'key':'b','operator':'Exists'}]}}",
	  "{'spec':{'tolerations':[{'key':'c','operator':'Exists'}]}}",
	  "{'spec':{'tolerations':[{'key':'c','operator':'Exists'}]}}", 0 },
	{ "envfrom_replaces", NULL, "{'envFrom':[{'configMapRef':{'name':'a'}}]}",
	  "{'envFrom':[{'secretRef':{'name':'b'}}]}", "{'envFrom':[{'secretRef':{'name':'b'}}]}", 0 },
	{ "args_replace", NULL, "{'args':['a','b']}", "{'args':['c']}", "{'args':['c']}", 0 },
	{ "null_deletes_label", "ConfigMap",
	  "{'metadata':{'labels':{'a':'1','b':'2'}},'data':{'k':'v','x':'y'}}",
	  "{'metadata':{'labels':{'a':null}},'data':{'x':null,'n':'m'}}",
	  "{'metadata':{'labels':{'b':'2'}},'data':{'k':'v','n':'m'}}", 0 },
	{ "map_patch_replace", "Deployment", "{'spec':{'selector':{'matchLabels':{'a':'1','b':'2'}}}}",
	  "{'spec':{'selector':{'$patch':'replace','matchLabels':{'c':'3'}}}}",
	  "{'spec':{'selector':{'matchLabels':{'c':'3'}}}}", 0 },
	{ "map_patch_delete", NULL, "{'spec':{'a':{'x':1},'b':2}}",
	  "{'spec':{'a':{'$patch':'delete'}}}", "{'spec':{'b':2}}", 0 },
	{ "map_patch_merge_explicit", NULL, "{'a':{'x':1}}", "{'a':{'$patch':'merge','y':2}}",
	  "{'a':{'x':1,'y':2}}", 0 },
	{ "list_patch_replace", "Pod",
	  "{'spec':{'containers':[{'name':'a','image':'1'},{'name':'b','image':'2'}]}}",
	  "{'spec':{'containers':[{'name':'c','image':'3'},{'$patch':'replace'}]}}",
	  "{'spec':{'containers':[{'name':'c','image':'3'}]}}", 0 },
	{ "finalizers_union", NULL, "{'metadata':{'finalizers':['a','b']}}",
	  "{'metadata':{'finalizers':['b','c']}}", "{'metadata':{'finalizers':['a','b','c']}}", 0 },
	{ "delete_from_primitive_list", NULL, "{'metadata':{'finalizers':['a','b','c']}}",
	  "{'metadata':{'$deleteFromPrimitiveList/finalizers':['b','zz']}}",
	  "{'metadata':{'finalizers':['a','c']}}", 0 },
	{ "delete_primitive_then_add", NULL, "{'metadata':{'finalizers':['a','b']}}",
	  "{'metadata':{'$deleteFromPrimitiveList/finalizers':['a'],'finalizers':['d'],"
	  "'$setElementOrder/finalizers':['d','b']}}",
	  "{'metadata':{'finalizers':['d','b']}}", 0 },
	{ "retain_keys", "Pod",
	  "{'spec':{'volumes':[{'name':'v','emptyDir':{}}]}}",
	  "{'spec':{'volumes':[{'name':'v','$retainKeys':['configMap','name'],"
	  "'configMap':{'name':'cm'}}]}}",
	  "{'spec':{'volumes':[{'name':'v','configMap':{'name':'cm'}}]}}", 0 },
	{ "set_element_order_reorders", "Pod",
	  "{'spec':{'containers':[{'name':'a','image':'1'},{'name':'b','image':'2'}]}}",
	  "{'spec':{'$setElementOrder/containers':[{'name':'b'},{'name':'a'}]}}",
	  "{'spec':{'containers':[{'name':'b','image':'2'},{'name':'a','image':'1'}]}}", 0 },
	{ "set_element_order_adds_new_in_place", "Pod",
	  "{'spec':{'containers':[{'name':'a'},{'name':'c'}]}}",
	  "{'spec':{'$setElementOrder/containers':[{'name':'a'},{'name':'b'},{'name':'c'}],"
	  "'containers':[{'name':'b','image':'new'}]}}",
	  "{'spec':{'containers':[{'name':'a'},{'name':'b','image':'new'},{'name':'c'}]}}", 0 },
	{ "set_element_order_keeps_server_only_in_place", "Pod",
	  "{'spec':{'containers':[{'name':'a'},{'name':'x','image':'mesh'},{'name':'b'}]}}",
	  "{'spec':{'$setElementOrder/containers':[{'name':'a'},{'name':'b'}],"
	  "'containers':[{'name':'b','image':'new'}]}}",
	  "{'spec':{'containers':[{'name':'a'},{'name':'x','image':'mesh'},"
	  "{'name':'b','image':'new'}]}}", 0 },
	{ "set_element_order_server_only_first", "Pod",
	  "{'spec':{'containers':[{'name':'x'},{'name':'a'}]}}",
	  "{'spec':{'$setElementOrder/containers':[{'name':'a'}]}}",
	  "{'spec':{'containers':[{'name':'x'},{'name':'a'}]}}", 0 },
	{ "set_element_order_primitives", NULL, "{'metadata':{'finalizers':['a','b','c']}}",
	  "{'metadata':{'$setElementOrder/finalizers':['c','a']}}",
	  "{'metadata':{'finalizers':['b','c','a']}}", 0 },
	{ "directives_removed_from_new_subtree", "Deployment", "{'metadata':{'name':'x'}}",
	  "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'a'}],"
	  "'containers':[{'name':'a','$setElementOrder/env':[{'name':'E'}],"
	  "'env':[{'name':'E','value':'1','valueFrom':null}]}],'nodeSelector':{'$patch':'replace','k':'v'},"
	  "'affinity':{'$patch':'delete'}}}}}",
	  "{'metadata':{'name':'x'},'spec':{'template':{'spec':{'containers':[{'name':'a',"
	  "'env':[{'name':'E','value':'1'}]}],'nodeSelector':{'k':'v'}}}}}", 0 },
	{ "conditions_by_type", "Pod",
	  "{'status':{'conditions':[{'type':'Ready','status':'False'},{'type':'PodScheduled',"
	  "'status':'True'}]}}",
	  "{'status':{'conditions':[{'type':'Ready','status':'True'}]}}",
	  "{'status':{'conditions':[{'type':'Ready','status':'True'},{'type':'PodScheduled',"
	  "'status':'True'}]}}", 0 },
	{ "owner_references_by_uid", NULL,
	  "{'metadata':{'ownerReferences':[{'uid':'1','name':'a'}]}}",
	  "{'metadata':{'ownerReferences':[{'uid':'2','name':'b'}]}}",
	  "{'metadata':{'ownerReferences':[{'uid':'1','name':'a'},{'uid':'2','name':'b'}]}}", 0 },
	{ "endpointslice_ports_atomic", "EndpointSlice",
	  "{'ports':[{'name':'http','port':80}],'endpoints':[{'addresses':['10.0.0.1']}]}",
	  "{'ports':[{'name':'https','port':443}]}",
	  "{'ports':[{'name':'https','port':443}],'endpoints':[{'addresses':['10.0.0.1']}]}", 0 },
	{ "empty_patch", "Pod", "{'a':{'b':[1]}}", "{}", "{'a':{'b':[1]}}", 0 },
	{ "type_change_replaces", NULL, "{'a':{'b':1}}", "{'a':'s'}", "{'a':'s'}", 0 },
	{ "bad_patch_directive", "Pod", "{'spec':{'a':1}}", "{'spec':{'$patch':'frob'}}", NULL,
	  KUBE_EBADREQUEST },
	{ "missing_merge_key", "Pod", "{'spec':{'containers':[{'name':'a'}]}}",
	  "{'spec':{'containers':[{'image':'x'}]}}", NULL, KUBE_EBADREQUEST },
	{ "retain_keys_not_listed", "Pod", "{'spec':{'volumes':[{'name':'v'}]}}",
	  "{'spec':{'volumes':[{'name':'v','$retainKeys':['name'],'hostPath':{}}]}}", NULL,
	  KUBE_EBADREQUEST },
	{ "non_object_patch", "Pod", "{'a':1}", "[1]", NULL, KUBE_EBADREQUEST },
};

static void smp__table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(smp_cases) / sizeof(smp_cases[0]); i++) {
		const struct smp_case *c = &smp_cases[i];
		cJSON *doc = J(c->doc), *patch = J(c->patch);
		cJSON *before = cJSON_Duplicate(doc, 1);
		char *err = NULL;
		int rc = sim_strategic_merge_patch(&doc, patch, c->kind, &err);

		if (rc != c->rc)
			fail_msg("case %s: rc %d, want %d (%s)", c->name, rc, c->rc, err ? err : "");
		if (c->want) {
			assert_null(err);
			assert_json_eq(doc, c->want, c->name);
			if (has_directive(doc))
				fail_msg("case %s: a $ directive survived", c->name);
		} else {
			assert_non_null(err);
			if (!cJSON_Compare(doc, before, 1))
				fail_msg("case %s: failed patch changed the document", c->name);
		}
		free(err);
		cJSON_Delete(before);
		cJSON_Delete(doc);
		cJSON_Delete(patch);
	}
}

static void smp__merge_key_table(void **state)
{
	(void)state;
	assert_string_equal(sim_smp_merge_key("containers", NULL), "name");
	assert_string_equal(sim_smp_merge_key("ports", "Pod"), "containerPort");
	assert_string_equal(sim_smp_merge_key("ports", "Service"), "port");
	assert_string_equal(sim_smp_merge_key("volumeMounts", "Deployment"), "mountPath");
	assert_string_equal(sim_smp_merge_key("finalizers", NULL), "");
	assert_null(sim_smp_merge_key("ports", "EndpointSlice"));
	assert_null(sim_smp_merge_key("ports", "NetworkPolicy"));
	assert_null(sim_smp_merge_key("tolerations", "Pod"));
	assert_null(sim_smp_merge_key("envFrom", "Pod"));
	assert_null(sim_smp_merge_key(NULL, NULL));
}

static void smp__null_doc_creates(void **state)
{
	cJSON *doc = NULL, *patch = J("{'data':{'a':'1','b':null}}");

	(void)state;
	assert_int_equal(sim_strategic_merge_patch(&doc, patch, "ConfigMap", NULL), 0);
	assert_json_eq(doc, "{'data':{'a':'1'}}", "null_doc");
	assert_int_equal(sim_strategic_merge_patch(&doc, NULL, "ConfigMap", NULL), KUBE_EINVAL);
	cJSON_Delete(doc);
	cJSON_Delete(patch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(merge__rfc7386_table),
		cmocka_unit_test(merge__null_doc_and_bad_args),
		cmocka_unit_test(jsonpatch__rfc6902_table),
		cmocka_unit_test(jsonpatch__null_errmsg_is_allowed),
		cmocka_unit_test(smp__table),
		cmocka_unit_test(smp__merge_key_table),
		cmocka_unit_test(smp__null_doc_creates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
