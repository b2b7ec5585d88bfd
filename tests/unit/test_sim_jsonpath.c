/* Tests for kubesim's JSONPath subset: the expressions CRD additionalPrinterColumns use, the
 * kubectl-style rendering of results, and syntax errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_testutil.h"

#include "kube_error.h"
#include "sim_jsonpath.h"

static const char *DOC =
	"{'metadata':{'name':'web','labels':{'app.kubernetes.io/name':'phx','tier':'fe'},"
	"  'creationTimestamp':'2025-01-01T00:00:00Z'},"
	" 'spec':{'replicas':3,'ratio':1.5,'paused':false,'failover':{'mode':'Surge'},"
	"  'containers':[{'name':'a','image':'img:1','ports':[{'containerPort':80}]},"
	"                {'name':'b','image':'img:2'}],"
	"  'selector':{'matchLabels':{'x':'y'}},'empty':[],'nothing':null},"
	" 'status':{'primary':'web-0','failovers':0,'big':12345678901,"
	"  'conditions':[{'type':'Progressing','status':'True','count':1},"
	"                {'type':'Ready','status':'False','count':5}]}}";

struct print_case {
	const char *expr, *want; /* want NULL: no result */
};

static const struct print_case print_cases[] = {
	{ ".status.primary", "web-0" },
	{ "{.status.primary}", "web-0" },
	{ "$.status.primary", "web-0" },
	{ " { .spec.failover.mode } ", "Surge" },
	{ ".spec.replicas", "3" },
	{ ".status.failovers", "0" },
	{ ".status.big", "12345678901" },
	{ ".spec.ratio", "1.5" },
	{ ".spec.paused", "false" },
	{ ".spec.nothing", "null" },
	{ ".spec.selector", "{\"matchLabels\":{\"x\":\"y\"}}" },
	{ ".spec.empty", "[]" },
	{ ".status.conditions[?(@.type==\"Ready\")].status", "False" },
	{ ".status.conditions[?(@.type=='Ready')].status", "False" },
	{ ".status.conditions[?(@.type == \"Progressing\")].status", "True" },
	{ ".status.conditions[?(@.type!=\"Ready\")].type", "Progressing" },
	{ ".status.conditions[?(@.count>2)].type", "Ready" },
	{ ".status.conditions[?(@.count<=1)].type", "Progressing" },
	{ ".status.conditions[?(@.type==\"Nope\")].status", NULL },
	{ ".status.conditions[?(@.count)].type", "Progressing,Ready" },
	{ ".metadata.labels.app\\.kubernetes\\.io/name", "phx" },
	{ ".metadata.labels['app.kubernetes.io/name']", "phx" },
	{ ".metadata.labels[\"tier\"]", "fe" },
	{ ".spec.containers[0].image", "img:1" },
	{ ".spec.containers[1].name", "b" },
	{ ".spec.containers[-1].name", "b" },
	{ ".spec.containers[5].name", NULL },
	{ ".spec.containers[*].image", "img:1,img:2" },
	{ ".spec.containers[0:1].name", "a" },
	{ ".spec.containers[:].name", "a,b" },
	{ ".spec.containers[*].ports[*].containerPort", "80" },
	{ ".spec.containers.*.name", "a,b" },
	{ ".metadata.labels.*", "phx,fe" },
	{ ".spec.missing", NULL },
	{ ".spec.missing.deeper", NULL },
	{ ".status.primary.x", NULL },
	{ ".spec.containers.name", NULL },
};

static void print__table(void **state)
{
	cJSON *doc = J(DOC);

	(void)state;
	for (size_t i = 0; i < sizeof(print_cases) / sizeof(print_cases[0]); i++) {
		const struct print_case *c = &print_cases[i];
		char *got = sim_jsonpath_print(doc, c->expr);

		if (!c->want) {
			if (got)
				fail_msg("%s: got '%s', want no result", c->expr, got);
			continue;
		}
		if (!got || strcmp(got, c->want) != 0)
			fail_msg("%s: got '%s', want '%s'", c->expr, got ? got : "(null)", c->want);
		free(got);
	}
	cJSON_Delete(doc);
}

static void eval__returns_borrowed_nodes_in_order(void **state)
{
	cJSON *doc = J(DOC);
	const cJSON *out[4] = { NULL };
	size_t n = 0;

	(void)state;
	assert_int_equal(sim_jsonpath_eval(doc, ".spec.containers[*]", out, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(out[0], cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc,
		"spec"), "containers"), 0));
	assert_string_equal(cJSON_GetObjectItem(out[1], "name")->valuestring, "b");
	/* more results than room: n still counts them all */
	assert_int_equal(sim_jsonpath_eval(doc, ".spec.containers[*].name", out, 1, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0]->valuestring, "a");
	assert_int_equal(sim_jsonpath_eval(doc, ".spec.missing", out, 4, &n), 0);
	assert_int_equal(n, 0);
	assert_string_equal(sim_jsonpath_get(doc, ".metadata.name")->valuestring, "web");
	assert_null(sim_jsonpath_get(doc, ".metadata.nope"));
	cJSON_Delete(doc);
}

static void eval__syntax_errors(void **state)
{
	static const char *bad[] = {
		"status", "..status", ".a[", ".a[x]", ".a[?(@.b==)]", ".a[?(b=='x')]",
		".a[?(@.b=='x']", ".a['b", ".a[1", ".a.[?(@.b ~ 1)]",
	};
	cJSON *doc = J(DOC);
	const cJSON *out[1];
	size_t n = 9;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sim_jsonpath_eval(doc, bad[i], out, 1, &n) != KUBE_EINVAL)
			fail_msg("'%s' should be a syntax error", bad[i]);
		assert_int_equal(n, 0);
		assert_null(sim_jsonpath_print(doc, bad[i]));
	}
	assert_int_equal(sim_jsonpath_eval(NULL, ".a", out, 1, &n), KUBE_EINVAL);
	assert_int_equal(sim_jsonpath_eval(doc, NULL, out, 1, &n), KUBE_EINVAL);
	cJSON_Delete(doc);
}

static void render__values(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{ "'s p'", "s p" }, { "3", "3" }, { "3.0", "3" }, { "-2", "-2" }, { "0.1", "0.1" },
		{ "2.5e-7", "2.5e-07" }, { "true", "true" }, { "false", "false" },
		{ "null", "null" }, { "{'a':[1,'x']}", "{\"a\":[1,\"x\"]}" }, { "[]", "[]" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *v = J(cases[i].json);
		char *s = sim_jsonpath_render(v);

		assert_non_null(s);
		if (strcmp(s, cases[i].want) != 0)
			fail_msg("render %s: got '%s', want '%s'", cases[i].json, s, cases[i].want);
		free(s);
		cJSON_Delete(v);
	}
	assert_null(sim_jsonpath_render(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(print__table),
		cmocka_unit_test(eval__returns_borrowed_nodes_in_order),
		cmocka_unit_test(eval__syntax_errors),
		cmocka_unit_test(render__values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
