/* Tests for kubesim's built-in validation (sim_validate.h): each case is an object and the
 * apiserver's causes for it, as kube-apiserver v1.32.13 answered the same object (the real lane,
 * docs/kubesim.md "Differences from the real API server"); and kubesim's OpenAPI v3 documents
 * (sim_openapi.h). JSON in the tables uses single quotes; J() turns them into double quotes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_testutil.h"

#include "kube_error.h"
#include "sim_openapi.h"
#include "sim_registry.h"
#include "sim_validate.h"

struct vcase {
	const char *name, *group, *resource, *obj;
	const char *want; /* "field: message|field: message", or NULL for valid */
};

#define L70 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define PORT_MSG "must be between 1 and 65535, inclusive"

static const struct vcase cases[] = {
	{ "pod_valid", "", "pods",
	  "{'metadata':{'name':'p','labels':{'app':'web','phoenix.fpai.io/role':'primary'}},"
	  "'spec':{'containers':[{'name':'c','image':'nginx','ports':[{'containerPort':80,"
	  "'name':'http'}]}]}}",
	  NULL },
	{ "pod_no_image", "", "pods", "{'metadata':{'name':'p'},'spec':{'containers':[{'name':'c'}]}}",
	  "spec.containers[0].image: Required value" },
	{ "pod_no_containers", "", "pods", "{'metadata':{'name':'p'},'spec':{'containers':[]}}",
	  "spec.containers: Required value" },
	{ "pod_port_range", "", "pods",
	  "{'metadata':{'name':'p'},'spec':{'containers':[{'name':'c','image':'i',"
	  "'ports':[{'containerPort':99999},{'containerPort':0}]}]}}",
	  "spec.containers[0].ports[0].containerPort: Invalid value: 99999: " PORT_MSG
	  "|spec.containers[0].ports[1].containerPort: Required value" },
	{ "pod_container_name", "", "pods",
	  "{'metadata':{'name':'p'},'spec':{'containers':[{'name':'Web_1','image':'i'}]}}",
	  "spec.containers[0].name: Invalid value: \"Web_1\": a lowercase RFC 1123 label must "
	  "consist of lower case alphanumeric characters or '-', and must start and end with an "
	  "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
	  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')" },
	{ "pod_port_name", "", "pods",
	  "{'metadata':{'name':'p'},'spec':{'containers':[{'name':'c','image':'i',"
	  "'ports':[{'containerPort':80,'name':'a-very-long-port-name'}]}]}}",
	  "spec.containers[0].ports[0].name: Invalid value: \"a-very-long-port-name\": must be no "
	  "more than 15 characters" },
	{ "label_value_too_long", "", "configmaps", "{'metadata':{'name':'c','labels':{'a':'" L70 "'}}}",
	  "metadata.labels: Invalid value: \"" L70 "\": must be no more than 63 characters" },
	{ "label_value_format", "", "configmaps", "{'metadata':{'name':'c','labels':{'a':'-x'}}}",
	  "metadata.labels: Invalid value: \"-x\": a valid label must be an empty string or consist "
	  "of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
	  "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
	  "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')" },
	{ "label_empty_value_ok", "", "configmaps", "{'metadata':{'name':'c','labels':{'a':''}}}", NULL },
	{ "label_key_name_too_long", "", "configmaps",
	  "{'metadata':{'name':'c','labels':{'x.io/" L70 "':'v'}}}",
	  "metadata.labels: Invalid value: \"x.io/" L70 "\": name part must be no more than 63 "
	  "characters" },
	{ "custom_resource_labels", "phoenix.fpai.io", "phoenixservices",
	  "{'metadata':{'name':'h','labels':{'a':'" L70 "'}},'spec':{}}",
	  "metadata.labels: Invalid value: \"" L70 "\": must be no more than 63 characters" },
	{ "service_valid", "", "services",
	  "{'metadata':{'name':'web'},'spec':{'ports':[{'name':'http','port':80,'targetPort':8080},"
	  "{'name':'metrics','port':9090,'targetPort':'metrics'}]}}",
	  NULL },
	{ "service_headless_no_ports", "", "services",
	  "{'metadata':{'name':'web'},'spec':{'clusterIP':'None'}}", NULL },
	{ "service_no_ports", "", "services", "{'metadata':{'name':'web'},'spec':{}}",
	  "spec.ports: Required value" },
	{ "service_port_range", "", "services",
	  "{'metadata':{'name':'web'},'spec':{'ports':[{'port':70000,'targetPort':0}]}}",
	  "spec.ports[0].port: Invalid value: 70000: " PORT_MSG },
	{ "service_target_port_range", "", "services",
	  "{'metadata':{'name':'web'},'spec':{'ports':[{'port':80,'targetPort':70000}]}}",
	  "spec.ports[0].targetPort: Invalid value: 70000: " PORT_MSG },
	{ "service_name_too_long", "", "services",
	  "{'metadata':{'name':'" L70 "'},'spec':{'ports':[{'port':80}]}}",
	  "metadata.name: Invalid value: \"" L70 "\": must be no more than 63 characters" },
	{ "service_name_dotted", "", "services",
	  "{'metadata':{'name':'a.b'},'spec':{'ports':[{'port':80}]}}",
	  "metadata.name: Invalid value: \"a.b\": a DNS-1035 label must consist of lower case "
	  "alphanumeric characters or '-', start with an alphabetic character, and end with an "
	  "alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
	  "'[a-z]([-a-z0-9]*[a-z0-9])?')" },
	{ "service_two_ports_need_names", "", "services",
	  "{'metadata':{'name':'web'},'spec':{'ports':[{'port':80},{'port':81}]}}",
	  "spec.ports[0].name: Required value|spec.ports[1].name: Required value" },
	{ "deployment_template", "apps", "deployments",
	  "{'metadata':{'name':'d'},'spec':{'template':{'metadata':{'labels':{'a':'" L70 "'}},"
	  "'spec':{'containers':[{'name':'c'}]}}}}",
	  "spec.template.labels: Invalid value: \"" L70 "\": must be no more than 63 "
	  "characters|spec.template.spec.containers[0].image: Required value" },
	{ "job_template", "batch", "jobs",
	  "{'metadata':{'name':'j'},'spec':{'template':{'spec':{'containers':[]}}}}",
	  "spec.template.spec.containers: Required value" },
	{ "other_kind_unchecked", "", "configmaps", "{'metadata':{'name':'c'},'data':{'k':'v'}}",
	  NULL },
};

/* "field: message|..." of the causes. */
static char *flatten(const cJSON *causes)
{
	size_t len = 0;
	char *out = calloc(1, 1);
	const cJSON *c;

	cJSON_ArrayForEach(c, causes) {
		const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "field"));
		const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "message"));
		size_t need = strlen(f) + strlen(m) + 4;
		out = realloc(out, len + need);
		assert_non_null(out);
		len += (size_t)sprintf(out + len, "%s%s: %s", len ? "|" : "", f, m);
	}
	return out;
}

static void validate__table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct vcase *tc = &cases[i];
		cJSON *obj = J(tc->obj), *causes = (cJSON *)1;
		int rc = sim_validate_object(tc->group, tc->resource, obj, &causes);

		print_message("case %s\n", tc->name);
		if (!tc->want) {
			assert_int_equal(rc, 0);
			assert_null(causes);
		} else {
			assert_int_equal(rc, KUBE_EINVALID);
			char *got = flatten(causes);
			assert_string_equal(got, tc->want);
			const cJSON *c0 = cJSON_GetArrayItem(causes, 0);
			const char *reason =
				cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c0, "reason"));
			assert_true(strncmp(reason, "FieldValue", 10) == 0);
			free(got);
			cJSON_Delete(causes);
		}
		cJSON_Delete(obj);
	}
}

static void validate__reasons(void **state)
{
	(void)state;
	cJSON *obj = J("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'c',"
		       "'ports':[{'containerPort':99999}]}]}}");
	cJSON *causes = NULL;
	assert_int_equal(sim_validate_object("", "pods", obj, &causes), KUBE_EINVALID);
	assert_int_equal(cJSON_GetArraySize(causes), 2);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetArrayItem(causes, 0), "reason")),
			    "FieldValueRequired");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetArrayItem(causes, 1), "reason")),
			    "FieldValueInvalid");
	cJSON_Delete(causes);
	cJSON_Delete(obj);
}

static const char *CRD =
	"{'apiVersion':'apiextensions.k8s.io/v1','kind':'CustomResourceDefinition',"
	"'metadata':{'name':'phoenixservices.phoenix.fpai.io'},'spec':{'group':'phoenix.fpai.io',"
	"'scope':'Namespaced','names':{'plural':'phoenixservices','singular':'phoenixservice',"
	"'kind':'PhoenixService','listKind':'PhoenixServiceList'},"
	"'versions':[{'name':'v1alpha1','served':true,'storage':true,'schema':{'openAPIV3Schema':"
	"{'type':'object','properties':{'spec':{'type':'object','description':'Desired state.',"
	"'properties':{'standbys':{'type':'integer'}}}}}}}]}}";

static void openapi__index_and_group_document(void **state)
{
	(void)state;
	struct sim_registry *reg = NULL;
	assert_int_equal(sim_registry_new(&reg), 0);
	cJSON *crd = J(CRD);
	assert_int_equal(sim_registry_add_crd(reg, crd), 0);

	cJSON *idx = sim_openapi_v3(reg, "/openapi/v3");
	assert_non_null(idx);
	const cJSON *paths = cJSON_GetObjectItemCaseSensitive(idx, "paths");
	const cJSON *gv = cJSON_GetObjectItemCaseSensitive(paths, "apis/phoenix.fpai.io/v1alpha1");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(gv, "serverRelativeURL")),
			    "/openapi/v3/apis/phoenix.fpai.io/v1alpha1");
	/* built-in groups are left out (kubectl keeps its v2 fallback for them) */
	assert_null(cJSON_GetObjectItemCaseSensitive(paths, "api/v1"));
	assert_int_equal(cJSON_GetArraySize(paths), 1);

	cJSON *doc = sim_openapi_v3(reg, "/openapi/v3/apis/phoenix.fpai.io/v1alpha1");
	assert_non_null(doc);
	const cJSON *get = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(doc, "paths"),
			"/apis/phoenix.fpai.io/v1alpha1/namespaces/{namespace}/phoenixservices"),
		"get");
	const cJSON *gvk = cJSON_GetObjectItemCaseSensitive(get, "x-kubernetes-group-version-kind");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(gvk, "kind")),
			    "PhoenixService");
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "components"),
						 "schemas"),
		"io.fpai.phoenix.v1alpha1.PhoenixService");
	assert_non_null(schema);
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetObjectItemCaseSensitive(props, "spec"), "description")),
			    "Desired state.");
	/* root fields as the apiserver describes them; metadata refers to ObjectMeta */
	const cJSON *all = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(props, "metadata"), "allOf");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetArrayItem(all, 0), "$ref")),
			    "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
	assert_non_null(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "components"),
						 "schemas"),
		"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
	assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				       cJSON_GetObjectItemCaseSensitive(props, "kind"), "description")),
			       "REST resource"));
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
							       schema, "x-kubernetes-group-version-kind"),
						       0),
				    "version")),
			    "v1alpha1");

	assert_null(sim_openapi_v3(reg, "/openapi/v3/apis/phoenix.fpai.io/v9"));
	assert_null(sim_openapi_v3(reg, "/openapi/v3/api/v1"));
	assert_null(sim_openapi_v3(reg, "/openapi/v3/apis/phoenix.fpai.io"));

	assert_int_equal(sim_registry_remove_crd(reg, "phoenixservices.phoenix.fpai.io"), 0);
	assert_null(sim_openapi_v3(reg, "/openapi/v3/apis/phoenix.fpai.io/v1alpha1"));
	cJSON *idx2 = sim_openapi_v3(reg, "/openapi/v3");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(idx2, "paths")), 0);

	cJSON_Delete(idx2);
	cJSON_Delete(doc);
	cJSON_Delete(idx);
	cJSON_Delete(crd);
	sim_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(validate__table),
		cmocka_unit_test(validate__reasons),
		cmocka_unit_test(openapi__index_and_group_document),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
