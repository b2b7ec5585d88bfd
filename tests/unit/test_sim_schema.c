/* Tests for kubesim's structural-schema module: pruning, defaulting and validation of custom
 * resources against a PhoenixService-like openAPIV3Schema, and the 422 message text. JSON in the
 * tables uses single quotes for readability; J() turns them into double quotes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_testutil.h"

#include "kube_error.h"
#include "kube_yaml.h"
#include "sim_schema.h"

static const char *SCHEMA =
	"{'type':'object','required':['spec'],'properties':{"
	"'apiVersion':{'type':'string'},'kind':{'type':'string'},'metadata':{'type':'object'},"
	"'spec':{'type':'object','required':['template'],'properties':{"
	"  'standbys':{'type':'integer','minimum':0,'maximum':5,'default':2},"
	"  'capacity':{'type':'number','minimum':1,'exclusiveMinimum':true,"
	"              'maximum':10,'exclusiveMaximum':true},"
	"  'paused':{'type':'boolean','default':false},"
	"  'failover':{'type':'object','default':{},'properties':{"
	"    'mode':{'type':'string','enum':['Surge','Promote'],'default':'Surge'},"
	"    'grace':{'type':'integer','default':0}}},"
	"  'heartbeat':{'type':'object','properties':{"
	"    'path':{'type':'string','default':'/health','pattern':'^/'},"
	"    'port':{'x-kubernetes-int-or-string':true}}},"
	"  'name':{'type':'string','minLength':3,'maxLength':5,'pattern':'^[a-z]\\\\d+$'},"
	"  'host':{'type':'string','pattern':'^[\\\\w.-]+\\\\.example\\\\.com$'},"
	"  'tags':{'type':'array','minItems':1,'maxItems':2,'items':{'type':'string'}},"
	"  'labels':{'type':'object','maxProperties':2,'additionalProperties':{'type':'string'}},"
	"  'ports':{'type':'array','items':{'type':'object','required':['port'],'properties':{"
	"    'port':{'type':'integer'},'protocol':{'type':'string','default':'TCP'}}}},"
	"  'note':{'type':'string','nullable':true},"
	"  'free':{'type':'object','x-kubernetes-preserve-unknown-fields':true,'properties':{"
	"    'known':{'type':'object','properties':{'a':{'type':'integer'}}}}},"
	"  'template':{'type':'object','properties':{"
	"    'spec':{'type':'object','x-kubernetes-preserve-unknown-fields':true}}},"
	"  'embedded':{'type':'object','x-kubernetes-embedded-resource':true,"
	"    'properties':{'spec':{'type':'object'}}}}},"
	"'status':{'type':'object','properties':{'phase':{'type':'string'}}}}}";

/* ---- pruning ----------------------------------------------------------------------------- */

struct xform_case {
	const char *name, *in, *want;
};

static const struct xform_case prune_cases[] = {
	{ "unknown_root_field", "{'apiVersion':'v1','kind':'K','junk':1,'spec':{'template':{}}}",
	  "{'apiVersion':'v1','kind':'K','spec':{'template':{}}}" },
	{ "metadata_never_pruned",
	  "{'metadata':{'name':'web','labels':{'a':'b'},'annotations':{'x':'y'},"
	  "'managedFields':[{'m':1}],'finalizers':['f']}}",
	  "{'metadata':{'name':'web','labels':{'a':'b'},'annotations':{'x':'y'},"
	  "'managedFields':[{'m':1}],'finalizers':['f']}}" },
	{ "unknown_nested", "{'spec':{'standbys':1,'bogus':{'x':1},'failover':{'mode':'Surge','zz':1}}}",
	  "{'spec':{'standbys':1,'failover':{'mode':'Surge'}}}" },
	{ "preserve_keeps_unknown_prunes_known",
	  "{'spec':{'free':{'x':1,'y':{'z':[1]},'known':{'a':1,'b':2}}}}",
	  "{'spec':{'free':{'x':1,'y':{'z':[1]},'known':{'a':1}}}}" },
	{ "preserve_subtree", "{'spec':{'template':{'spec':{'containers':[{'name':'c','any':1}]},"
	  "'junk':1}}}",
	  "{'spec':{'template':{'spec':{'containers':[{'name':'c','any':1}]}}}}" },
	{ "additional_properties", "{'spec':{'labels':{'a':'1','b':'2'}}}",
	  "{'spec':{'labels':{'a':'1','b':'2'}}}" },
	{ "array_items", "{'spec':{'ports':[{'port':1,'junk':2},{'port':2}]}}",
	  "{'spec':{'ports':[{'port':1},{'port':2}]}}" },
	{ "embedded_resource",
	  "{'spec':{'embedded':{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p','x':1},"
	  "'spec':{},'junk':1}}}",
	  "{'spec':{'embedded':{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p','x':1},"
	  "'spec':{}}}}" },
	{ "status_pruned", "{'status':{'phase':'A','extra':1}}", "{'status':{'phase':'A'}}" },
};

static void prune__table(void **state)
{
	cJSON *schema = J(SCHEMA);

	(void)state;
	for (size_t i = 0; i < sizeof(prune_cases) / sizeof(prune_cases[0]); i++) {
		cJSON *obj = J(prune_cases[i].in);

		assert_int_equal(sim_schema_prune(obj, schema), 0);
		assert_json_eq(obj, prune_cases[i].want, prune_cases[i].name);
		cJSON_Delete(obj);
	}
	cJSON_Delete(schema);
}

static void prune__no_schema_keeps_everything(void **state)
{
	cJSON *obj = J("{'spec':{'x':1},'y':2}");

	(void)state;
	assert_int_equal(sim_schema_prune(obj, NULL), 0);
	assert_json_eq(obj, "{'spec':{'x':1},'y':2}", "no_schema");
	assert_int_equal(sim_schema_prune(NULL, NULL), KUBE_EINVAL);
	cJSON_Delete(obj);
}

/* ---- defaulting -------------------------------------------------------------------------- */

static const struct xform_case default_cases[] = {
	{ "object_default_defaulted_further", "{'spec':{'template':{}}}",
	  "{'spec':{'template':{},'standbys':2,'paused':false,"
	  "'failover':{'mode':'Surge','grace':0}}}" },
	{ "no_spec_no_defaults", "{'metadata':{'name':'x'}}", "{'metadata':{'name':'x'}}" },
	{ "existing_object_defaults_inside", "{'spec':{'heartbeat':{},'failover':{'mode':'Promote'}}}",
	  "{'spec':{'heartbeat':{'path':'/health'},'failover':{'mode':'Promote','grace':0},"
	  "'standbys':2,'paused':false}}" },
	{ "values_kept", "{'spec':{'standbys':0,'paused':true}}",
	  "{'spec':{'standbys':0,'paused':true,'failover':{'mode':'Surge','grace':0}}}" },
	{ "array_items", "{'spec':{'ports':[{'port':80},{'port':53,'protocol':'UDP'}]}}",
	  "{'spec':{'ports':[{'port':80,'protocol':'TCP'},{'port':53,'protocol':'UDP'}],"
	  "'standbys':2,'paused':false,'failover':{'mode':'Surge','grace':0}}}" },
	{ "null_non_nullable_defaulted", "{'spec':{'standbys':null,'tags':null,'note':null}}",
	  "{'spec':{'standbys':2,'note':null,'paused':false,"
	  "'failover':{'mode':'Surge','grace':0}}}" },
};

static void default__table(void **state)
{
	cJSON *schema = J(SCHEMA);

	(void)state;
	for (size_t i = 0; i < sizeof(default_cases) / sizeof(default_cases[0]); i++) {
		cJSON *obj = J(default_cases[i].in);

		assert_int_equal(sim_schema_default(obj, schema), 0);
		assert_json_eq(obj, default_cases[i].want, default_cases[i].name);
		cJSON_Delete(obj);
	}
	assert_int_equal(sim_schema_default(NULL, schema), KUBE_EINVAL);
	cJSON_Delete(schema);
}

/* ---- validation -------------------------------------------------------------------------- */

struct val_case {
	const char *name, *spec; /* spec body; "NOSPEC" means an object without spec */
	int ncauses;
	const char *reason, *field, *message; /* of the first cause */
};

static const struct val_case val_cases[] = {
	{ "valid", "{'template':{},'standbys':3,'capacity':2.5,'name':'a12','tags':['x'],"
	  "'heartbeat':{'port':8080},'note':null,'host':'a-b.c.example.com'}", 0, NULL, NULL, NULL },
	{ "maximum", "{'template':{},'standbys':9}", 1, "FieldValueInvalid", "spec.standbys",
	  "Invalid value: 9: spec.standbys in body should be less than or equal to 5" },
	{ "minimum", "{'template':{},'standbys':-1}", 1, "FieldValueInvalid", "spec.standbys",
	  "Invalid value: -1: spec.standbys in body should be greater than or equal to 0" },
	{ "exclusive_maximum", "{'template':{},'capacity':10}", 1, "FieldValueInvalid",
	  "spec.capacity", "Invalid value: 10: spec.capacity in body should be less than 10" },
	{ "exclusive_minimum", "{'template':{},'capacity':1}", 1, "FieldValueInvalid",
	  "spec.capacity", "Invalid value: 1: spec.capacity in body should be greater than 1" },
	{ "integer_rejects_fraction", "{'template':{},'standbys':1.5}", 1, "FieldValueTypeInvalid",
	  "spec.standbys",
	  "Invalid value: \"number\": spec.standbys in body must be of type integer: \"number\"" },
	{ "integer_accepts_3_0", "{'template':{},'standbys':3.0}", 0, NULL, NULL, NULL },
	{ "type_string_for_integer", "{'template':{},'standbys':'3'}", 1, "FieldValueTypeInvalid",
	  "spec.standbys",
	  "Invalid value: \"string\": spec.standbys in body must be of type integer: \"string\"" },
	{ "type_boolean", "{'template':{},'paused':'yes'}", 1, "FieldValueTypeInvalid", "spec.paused",
	  "Invalid value: \"string\": spec.paused in body must be of type boolean: \"string\"" },
	{ "type_object", "{'template':[]}", 1, "FieldValueTypeInvalid", "spec.template",
	  "Invalid value: \"array\": spec.template in body must be of type object: \"array\"" },
	{ "enum", "{'template':{},'failover':{'mode':'Foo'}}", 1, "FieldValueNotSupported",
	  "spec.failover.mode", "Unsupported value: \"Foo\": supported values: \"Surge\", \"Promote\"" },
	{ "required_nested", "{'standbys':1}", 1, "FieldValueRequired", "spec.template",
	  "Required value" },
	{ "required_root", "NOSPEC", 1, "FieldValueRequired", "spec", "Required value" },
	{ "min_length", "{'template':{},'name':'a1'}", 1, "FieldValueInvalid", "spec.name",
	  "Invalid value: \"a1\": spec.name in body should be at least 3 chars long" },
	{ "max_length", "{'template':{},'name':'a12345'}", 1, "FieldValueInvalid", "spec.name",
	  "Invalid value: \"a12345\": spec.name in body should be at most 5 chars long" },
	{ "pattern_with_backslash_d", "{'template':{},'name':'abc'}", 1, "FieldValueInvalid",
	  "spec.name", "Invalid value: \"abc\": spec.name in body should match '^[a-z]\\d+$'" },
	{ "pattern_bracket_escapes", "{'template':{},'host':'a/b.example.com'}", 1,
	  "FieldValueInvalid", "spec.host", NULL },
	{ "pattern_escaped_dot", "{'template':{},'host':'a.exampleXcom'}", 1, "FieldValueInvalid",
	  "spec.host", NULL },
	{ "min_items", "{'template':{},'tags':[]}", 1, "FieldValueInvalid", "spec.tags",
	  "Invalid value: []: spec.tags in body should have at least 1 items" },
	{ "max_items", "{'template':{},'tags':['a','b','c']}", 1, "FieldValueInvalid", "spec.tags",
	  "Invalid value: [\"a\",\"b\",\"c\"]: spec.tags in body should have at most 2 items" },
	{ "item_type_path", "{'template':{},'tags':['a',7]}", 1, "FieldValueTypeInvalid",
	  "spec.tags[1]",
	  "Invalid value: \"integer\": spec.tags[1] in body must be of type string: \"integer\"" },
	{ "item_required_path", "{'template':{},'ports':[{'port':1},{'protocol':'TCP'}]}", 1,
	  "FieldValueRequired", "spec.ports[1].port", "Required value" },
	{ "additional_properties_type", "{'template':{},'labels':{'a':1}}", 1,
	  "FieldValueTypeInvalid", "spec.labels.a", NULL },
	{ "max_properties", "{'template':{},'labels':{'a':'1','b':'2','c':'3'}}", 1,
	  "FieldValueInvalid", "spec.labels", NULL },
	{ "int_or_string_string", "{'template':{},'heartbeat':{'port':'http'}}", 0, NULL, NULL, NULL },
	{ "int_or_string_bool", "{'template':{},'heartbeat':{'port':true}}", 1,
	  "FieldValueTypeInvalid", "spec.heartbeat.port",
	  "Invalid value: \"boolean\": spec.heartbeat.port in body must be of type integer,string: "
	  "\"boolean\"" },
	{ "int_or_string_fraction", "{'template':{},'heartbeat':{'port':1.5}}", 1,
	  "FieldValueTypeInvalid", "spec.heartbeat.port", NULL },
	{ "null_not_nullable", "{'template':{},'paused':null}", 1, "FieldValueTypeInvalid",
	  "spec.paused", NULL },
	{ "nullable_null_ok", "{'template':{},'note':null}", 0, NULL, NULL, NULL },
	{ "two_errors", "{'template':{},'standbys':9,'failover':{'mode':'X'}}", 2,
	  "FieldValueInvalid", "spec.standbys", NULL },
	{ "pattern_anchor", "{'template':{},'heartbeat':{'path':'health'}}", 1, "FieldValueInvalid",
	  "spec.heartbeat.path",
	  "Invalid value: \"health\": spec.heartbeat.path in body should match '^/'" },
};

static void validate__table(void **state)
{
	cJSON *schema = J(SCHEMA);

	(void)state;
	for (size_t i = 0; i < sizeof(val_cases) / sizeof(val_cases[0]); i++) {
		const struct val_case *c = &val_cases[i];
		cJSON *obj = J("{'apiVersion':'phoenix.fpai.io/v1alpha1','kind':'PhoenixService',"
			       "'metadata':{'name':'web','labels':{'x':'y'}}}");
		cJSON *causes = NULL;
		const cJSON *first;
		int rc;

		if (strcmp(c->spec, "NOSPEC") != 0)
			cJSON_AddItemToObject(obj, "spec", J(c->spec));
		rc = sim_schema_validate(obj, schema, &causes);
		if (c->ncauses == 0) {
			if (rc != 0 || causes) {
				char *s = causes ? cJSON_PrintUnformatted(causes) : NULL;

				fail_msg("case %s: rc %d causes %s", c->name, rc, s ? s : "-");
			}
			cJSON_Delete(obj);
			continue;
		}
		if (rc != KUBE_EINVALID || !causes)
			fail_msg("case %s: rc %d, want KUBE_EINVALID with causes", c->name, rc);
		if (cJSON_GetArraySize(causes) != c->ncauses) {
			char *s = cJSON_PrintUnformatted(causes);

			fail_msg("case %s: %d causes, want %d: %s", c->name, cJSON_GetArraySize(causes),
				 c->ncauses, s);
		}
		first = cJSON_GetArrayItem(causes, 0);
		assert_string_equal(cJSON_GetObjectItem(first, "reason")->valuestring, c->reason);
		assert_string_equal(cJSON_GetObjectItem(first, "field")->valuestring, c->field);
		if (c->message)
			assert_string_equal(cJSON_GetObjectItem(first, "message")->valuestring,
					    c->message);
		cJSON_Delete(causes);
		cJSON_Delete(obj);
	}
	cJSON_Delete(schema);
}

static void validate__no_schema_and_null_causes(void **state)
{
	cJSON *obj = J("{'spec':{'standbys':99}}"), *schema = J(SCHEMA);
	cJSON *causes = NULL;

	(void)state;
	assert_int_equal(sim_schema_validate(obj, NULL, &causes), 0);
	assert_null(causes);
	assert_int_equal(sim_schema_validate(obj, schema, NULL), KUBE_EINVALID);
	cJSON_Delete(obj);
	cJSON_Delete(schema);
}

/* prune -> default -> validate, as the server runs them on a create. */
static void validate__pipeline_after_prune_and_default(void **state)
{
	cJSON *schema = J(SCHEMA);
	cJSON *obj = J("{'apiVersion':'v','kind':'K','metadata':{'name':'w'},"
		       "'spec':{'template':{'spec':{'containers':[]}},'bogus':1,'failover':null}}");
	cJSON *causes = NULL;

	(void)state;
	assert_int_equal(sim_schema_prune(obj, schema), 0);
	assert_int_equal(sim_schema_default(obj, schema), 0);
	assert_int_equal(sim_schema_validate(obj, schema, &causes), 0);
	assert_json_eq(obj,
		       "{'apiVersion':'v','kind':'K','metadata':{'name':'w'},"
		       "'spec':{'template':{'spec':{'containers':[]}},'failover':{'mode':'Surge',"
		       "'grace':0},'standbys':2,'paused':false}}",
		       "pipeline");
	cJSON_Delete(obj);
	cJSON_Delete(schema);
}

static void message__single_and_several(void **state)
{
	cJSON *one = J("[{'reason':'FieldValueInvalid','field':'spec.standbys',"
		       "'message':'Invalid value: 9: spec.standbys in body should be less than or "
		       "equal to 5'}]");
	cJSON *two = J("[{'reason':'FieldValueRequired','field':'spec.template',"
		       "'message':'Required value'},{'reason':'FieldValueNotSupported',"
		       "'field':'spec.failover.mode','message':'Unsupported value: \\\"Foo\\\": "
		       "supported values: \\\"Surge\\\", \\\"Promote\\\"'}]");
	char *m;

	(void)state;
	m = sim_schema_causes_message(one, "PhoenixService.phoenix.fpai.io", "web");
	assert_string_equal(m, "PhoenixService.phoenix.fpai.io \"web\" is invalid: spec.standbys: "
			       "Invalid value: 9: spec.standbys in body should be less than or "
			       "equal to 5");
	free(m);
	m = sim_schema_causes_message(two, "PhoenixService.phoenix.fpai.io", "web");
	assert_string_equal(m, "PhoenixService.phoenix.fpai.io \"web\" is invalid: [spec.template: "
			       "Required value, spec.failover.mode: Unsupported value: \"Foo\": "
			       "supported values: \"Surge\", \"Promote\"]");
	free(m);
	cJSON_Delete(one);
	cJSON_Delete(two);
}

/* ---- the project's real CRD and samples --------------------------------------------------- */

/* The repository root, from this file's path (CMake compiles it by absolute path). */
static char *repo_path(const char *rel)
{
	const char *me = __FILE__, *cut = strstr(me, "tests/unit/");
	char *p = NULL;

	if (asprintf(&p, "%.*s%s", cut ? (int)(cut - me) : 0, me, rel) < 0)
		p = NULL;
	assert_non_null(p);
	return p;
}

static cJSON *load_yaml(const char *rel)
{
	char *path = repo_path(rel);
	cJSON *doc = NULL;

	if (kube_yaml_load_file(path, &doc, NULL) != 0)
		doc = NULL;
	free(path);
	return doc;
}

static const cJSON *crd_schema(const cJSON *crd)
{
	const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "spec"),
								"versions"), 0);

	return cJSON_GetObjectItem(cJSON_GetObjectItem(v, "schema"), "openAPIV3Schema");
}

static void phoenix__samples_pass_real_crd(void **state)
{
	static const char *samples[] = {
		"manifests/samples/minimal.yaml", "manifests/samples/promote-mode.yaml",
		"manifests/samples/build-executor.yaml", "manifests/samples/governance.yaml",
		"manifests/samples/intent-queue.yaml", "manifests/samples/registry.yaml",
		"manifests/samples/sovereign-factory.yaml",
	};
	cJSON *crd = load_yaml("manifests/crds/phoenix.fpai.io_phoenixservices.yaml");
	const cJSON *schema;

	(void)state;
	if (!crd)
		skip(); /* built outside the source tree */
	schema = crd_schema(crd);
	assert_non_null(schema);
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		cJSON *obj = load_yaml(samples[i]), *before, *causes = NULL;

		if (!obj)
			fail_msg("cannot load %s", samples[i]);
		before = cJSON_Duplicate(obj, 1);
		assert_int_equal(sim_schema_prune(obj, schema), 0);
		/* a valid sample loses nothing to pruning */
		if (!cJSON_Compare(obj, before, 1))
			fail_msg("%s: pruning dropped fields", samples[i]);
		assert_int_equal(sim_schema_default(obj, schema), 0);
		if (sim_schema_validate(obj, schema, &causes) != 0) {
			char *c = cJSON_PrintUnformatted(causes);

			fail_msg("%s: invalid: %s", samples[i], c);
		}
		if (i == 0) {
			/* minimal.yaml documents these defaults */
			const cJSON *spec = cJSON_GetObjectItem(obj, "spec");

			assert_int_equal(cJSON_GetObjectItem(spec, "standbys")->valueint, 2);
			assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "failover"),
								"mode")->valuestring, "Surge");
			assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "heartbeat"),
								"path")->valuestring, "/health");
			assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "heartbeat"),
							     "periodSeconds")->valueint, 1);
			assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "service"),
								"type")->valuestring, "ClusterIP");
		}
		cJSON_Delete(before);
		cJSON_Delete(obj);
	}
	cJSON_Delete(crd);
}

static void phoenix__bad_intent_gets_apiserver_message(void **state)
{
	cJSON *crd = load_yaml("manifests/crds/phoenix.fpai.io_phoenixservices.yaml");
	cJSON *obj = J("{'apiVersion':'phoenix.fpai.io/v1alpha1','kind':'PhoenixService',"
		       "'metadata':{'name':'web'},'spec':{'standbys':9,'failover':{'mode':'Foo'},"
		       "'template':{'spec':{'containers':[{'name':'c','image':'i'}]}}}}");
	cJSON *causes = NULL;
	char *msg;

	(void)state;
	if (!crd) {
		cJSON_Delete(obj);
		skip();
	}
	assert_int_equal(sim_schema_validate(obj, crd_schema(crd), &causes), KUBE_EINVALID);
	msg = sim_schema_causes_message(causes, "PhoenixService.phoenix.fpai.io", "web");
	assert_string_equal(msg, "PhoenixService.phoenix.fpai.io \"web\" is invalid: ["
			    "spec.standbys: Invalid value: 9: spec.standbys in body should be less "
			    "than or equal to 5, spec.failover.mode: Unsupported value: \"Foo\": "
			    "supported values: \"Surge\", \"Promote\"]");
	free(msg);
	cJSON_Delete(causes);
	cJSON_Delete(obj);
	cJSON_Delete(crd);
}

/* fieldValidation=Strict/Warn name what pruning drops, with the apiserver's paths. */
static void prune__report_names_dropped_paths(void **state)
{
	cJSON *schema = J(SCHEMA);
	cJSON *obj = J("{'metadata':{'name':'w','zz':1},'junk':1,'spec':{'bogus':1,"
		       "'free':{'anything':1,'known':{'b':2}},'ports':[{'port':1},{'port':2,'x':3}]}}");
	cJSON *pruned = NULL, *clean = J("{'spec':{'standbys':1}}");

	(void)state;
	assert_int_equal(sim_schema_prune_report(obj, schema, &pruned), 0);
	assert_json_eq(pruned, "['junk','spec.bogus','spec.free.known.b','spec.ports[1].x',"
		       "'metadata.zz']", "pruned paths");
	assert_json_eq(obj, "{'metadata':{'name':'w'},'spec':{'free':{'anything':1,"
		       "'known':{}},'ports':[{'port':1},{'port':2}]}}", "pruned object");
	cJSON_Delete(pruned);
	assert_int_equal(sim_schema_prune_report(clean, schema, &pruned), 0);
	assert_null(pruned);
	assert_int_equal(sim_schema_prune_report(NULL, schema, &pruned), KUBE_EINVAL);
	cJSON_Delete(clean);
	cJSON_Delete(obj);
	cJSON_Delete(schema);
}

/* The real CRD bounds metadata.name so that the names derived from it stay valid: the
 * apiserver applies the root metadata schema's name constraints (and only those). */
static void phoenix__name_bounded_by_crd(void **state)
{
	static const struct {
		const char *name;
		const char *message; /* NULL: accepted */
	} cases[] = {
		{ "web", NULL },
		{ "a23456789-123456789-123456789-123456789-123456789-1234567", NULL }, /* 57 */
		{ "a23456789-123456789-123456789-123456789-123456789-12345678",
		  "Invalid value: \"a23456789-123456789-123456789-123456789-123456789-12345678\": "
		  "metadata.name in body should be at most 57 chars long" },
		{ "my.svc", "Invalid value: \"my.svc\": metadata.name in body should match "
			    "'^[a-z]([-a-z0-9]*[a-z0-9])?$'" },
		{ "1abc", NULL /* checked below: pattern */ },
	};
	cJSON *crd = load_yaml("manifests/crds/phoenix.fpai.io_phoenixservices.yaml");

	(void)state;
	if (!crd)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *obj = J("{'apiVersion':'phoenix.fpai.io/v1alpha1','kind':'PhoenixService',"
			       "'metadata':{'labels':{'a':'b'}},'spec':{'template':{'spec':"
			       "{'containers':[{'name':'c','image':'i'}]}}}}");
		cJSON *causes = NULL;
		int rc;
		bool bad = cases[i].message || !strcmp(cases[i].name, "1abc");

		cJSON_AddStringToObject(cJSON_GetObjectItem(obj, "metadata"), "name", cases[i].name);
		rc = sim_schema_validate(obj, crd_schema(crd), &causes);
		if (!bad) {
			if (rc != 0)
				fail_msg("%s: rejected", cases[i].name);
		} else {
			const cJSON *c = cJSON_GetArrayItem(causes, 0);

			if (rc != KUBE_EINVALID || cJSON_GetArraySize(causes) != 1)
				fail_msg("%s: rc %d, want one cause", cases[i].name, rc);
			assert_string_equal(cJSON_GetObjectItem(c, "field")->valuestring,
					    "metadata.name");
			if (cases[i].message)
				assert_string_equal(cJSON_GetObjectItem(c, "message")->valuestring,
						    cases[i].message);
		}
		cJSON_Delete(causes);
		cJSON_Delete(obj);
	}
	cJSON_Delete(crd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prune__table),
		cmocka_unit_test(prune__no_schema_keeps_everything),
		cmocka_unit_test(default__table),
		cmocka_unit_test(validate__table),
		cmocka_unit_test(validate__no_schema_and_null_causes),
		cmocka_unit_test(validate__pipeline_after_prune_and_default),
		cmocka_unit_test(message__single_and_several),
		cmocka_unit_test(phoenix__samples_pass_real_crd),
		cmocka_unit_test(phoenix__bad_intent_gets_apiserver_message),
		cmocka_unit_test(prune__report_names_dropped_paths),
		cmocka_unit_test(phoenix__name_bounded_by_crd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
