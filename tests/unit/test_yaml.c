/* YAML -> cJSON conversion (scalar typing, multi-document streams, errors with positions,
 * aliases and the alias-bomb guard) and the kube_json helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"
#include "kube_json.h"
#include "kube_yaml.h"

static void yaml__scalar_typing(void **state)
{
	static const struct {
		const char *yaml;
		const char *want_json; /* compact cJSON print of the value of key v */
	} cases[] = {
		{ "v: hello", "\"hello\"" },   { "v: \"123\"", "\"123\"" },   { "v: '1.5'", "\"1.5\"" },
		{ "v: 123", "123" },           { "v: -7", "-7" },             { "v: 1.5", "1.5" },
		{ "v: 1e3", "1000" },          { "v: 0x1F", "31" },           { "v: 0o17", "15" },
		{ "v: true", "true" },         { "v: False", "false" },       { "v: null", "null" },
		{ "v: ~", "null" },            { "v:", "null" },              { "v: yes", "\"yes\"" },
		{ "v: 1.2.3", "\"1.2.3\"" },   { "v: 08:00", "\"08:00\"" },   { "v: v1", "\"v1\"" },
		{ "v: [1, a, {b: c}]", "[1,\"a\",{\"b\":\"c\"}]" },
		{ "v: |\n  line1\n  line2\n", "\"line1\\nline2\\n\"" },
		{ "v: !!null x", "null" },     { "v: \"\"", "\"\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *doc = NULL;
		char *err = NULL, *got;

		if (kube_yaml_parse(cases[i].yaml, strlen(cases[i].yaml), &doc, &err) != 0)
			fail_msg("%s: %s", cases[i].yaml, err);
		got = cJSON_PrintUnformatted(kube_json_get(doc, "v", NULL));
		if (got == NULL || strcmp(got, cases[i].want_json) != 0)
			fail_msg("%s: got %s want %s", cases[i].yaml, got, cases[i].want_json);
		free(got);
		cJSON_Delete(doc);
	}
}

static void yaml__manifest_and_json_input(void **state)
{
	static const char manifest[] =
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: prod\n"
		"  labels:\n    app.kubernetes.io/name: web\ndata:\n  port: \"8080\"\n";
	static const char json[] = "{\"kind\":\"Pod\",\"spec\":{\"containers\":[{\"name\":\"c\"}]}}";
	cJSON *doc = NULL;
	char *key;

	(void)state;
	assert_int_equal(kube_yaml_parse(manifest, strlen(manifest), &doc, NULL), 0);
	assert_string_equal(kube_json_name(doc), "cfg");
	assert_string_equal(kube_json_namespace(doc), "prod");
	assert_string_equal(kube_json_get_str(doc, "metadata", "labels", "app.kubernetes.io/name",
					      NULL), "web");
	assert_string_equal(kube_json_get_str(doc, "data", "port", NULL), "8080");
	key = kube_json_key(doc);
	assert_string_equal(key, "prod/cfg");
	free(key);
	cJSON_Delete(doc);
	assert_int_equal(kube_yaml_parse(json, strlen(json), &doc, NULL), 0);
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(kube_json_get(doc, "spec",
		"containers", NULL), 0), "name", NULL), "c");
	cJSON_Delete(doc);
	/* Empty input: a JSON null, not an error. */
	assert_int_equal(kube_yaml_parse("", 0, &doc, NULL), 0);
	assert_true(cJSON_IsNull(doc));
	cJSON_Delete(doc);
}

static void yaml__multi_document(void **state)
{
	static const char stream[] = "---\nkind: A\n---\n# only a comment\n---\nkind: B\n...\n---\n"
				     "- 1\n";
	cJSON *docs = NULL;

	(void)state;
	assert_int_equal(kube_yaml_parse_all(stream, strlen(stream), &docs, NULL), 0);
	assert_int_equal(cJSON_GetArraySize(docs), 3);
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(docs, 0), "kind", NULL), "A");
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(docs, 1), "kind", NULL), "B");
	assert_true(cJSON_IsArray(cJSON_GetArrayItem(docs, 2)));
	cJSON_Delete(docs);
}

static void yaml__anchors_and_merge_of_duplicates(void **state)
{
	static const char text[] = "base: &b {x: 1}\nuse: *b\ndup: 1\ndup: 2\n";
	cJSON *doc = NULL;
	double v = 0;

	(void)state;
	assert_int_equal(kube_yaml_parse(text, strlen(text), &doc, NULL), 0);
	assert_true(kube_json_get_num(doc, &v, "use", "x", NULL));
	assert_true(v == 1);
	assert_true(kube_json_get_num(doc, &v, "dup", NULL));
	assert_true(v == 2);
	cJSON_Delete(doc);
}

static void yaml__errors_have_positions(void **state)
{
	static const struct {
		const char *yaml;
		const char *msg_has;
	} cases[] = {
		{ "a: [1, 2\n", "line 2" },
		{ "a: b\n c: d\n  - e\n", "line 2" },
		{ "key: \"unterminated\n", "line" },
		{ "? [a, b]\n: v\n", "mapping key is not a scalar" },
		{ "a: *nope\n", "line 1" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *doc = (cJSON *)1;
		char *err = NULL;

		assert_int_equal(kube_yaml_parse(cases[i].yaml, strlen(cases[i].yaml), &doc, &err),
				 KUBE_EPARSE);
		assert_null(doc);
		if (err == NULL || strstr(err, cases[i].msg_has) == NULL)
			fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].yaml, err, cases[i].msg_has);
		free(err);
	}
}

static void yaml__alias_bomb_is_refused(void **state)
{
	/* 9 levels of 10x expansion: 10^9 nodes if expanded naively. */
	char text[2048];
	size_t n = 0;
	cJSON *doc = NULL;
	char *err = NULL;

	(void)state;
	n += (size_t)snprintf(text + n, sizeof(text) - n, "a0: &a0 [x]\n");
	for (int i = 1; i <= 9; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n",
				      i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
				      i - 1);
	assert_int_equal(kube_yaml_parse(text, n, &doc, &err), KUBE_EPARSE);
	assert_non_null(strstr(err, "too large"));
	free(err);
}

static void yaml__alias_budget_spans_documents(void **state)
{
	/* Each document expands to ~790k nodes, under the budget on its own; a stream of them must
	 * not multiply the memory a few hundred bytes of input can claim. */
	char text[4096];
	size_t n = 0;
	cJSON *doc = NULL;
	char *err = NULL;

	(void)state;
	for (int d = 0; d < 2; d++) {
		n += (size_t)snprintf(text + n, sizeof(text) - n, "---\na0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
		for (int i = 1; i <= 4; i++)
			n += (size_t)snprintf(text + n, sizeof(text) - n,
					      "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,"
					      "*a%d]\n", i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
					      i - 1, i - 1, i - 1, i - 1);
		n += (size_t)snprintf(text + n, sizeof(text) - n, "a5: [*a4,*a4,*a4,*a4,*a4,*a4]\n");
	}
	assert_true(n < sizeof(text));
	/* One such document alone is fine. */
	assert_int_equal(kube_yaml_parse(text, n, &doc, &err), 0);
	cJSON_Delete(doc);
	doc = NULL;
	assert_int_equal(kube_yaml_parse_all(text, n, &doc, &err), KUBE_EPARSE);
	assert_null(doc);
	assert_non_null(err);
	assert_non_null(strstr(err, "too large"));
	free(err);
}

static void yaml__load_file_errors(void **state)
{
	cJSON *doc = NULL;
	char *err = NULL;

	(void)state;
	assert_int_equal(kube_yaml_load_file("/nonexistent/x.yaml", &doc, &err), KUBE_ECONFIG);
	assert_non_null(strstr(err, "/nonexistent/x.yaml"));
	free(err);
	assert_int_equal(kube_yaml_parse(NULL, 0, NULL, NULL), KUBE_EINVAL);
}

static void json__helpers(void **state)
{
	cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"n\",\"uid\":\"u\",\"resourceVersion\":\"5\","
			       "\"generation\":3},\"spec\":{\"paused\":true,\"x\":\"s\"}}");
	int64_t gen = 0;
	double d = 0;
	char *key, *printed;
	cJSON *labels;

	(void)state;
	assert_non_null(o);
	assert_string_equal(kube_json_uid(o), "u");
	assert_string_equal(kube_json_resource_version(o), "5");
	assert_null(kube_json_namespace(o));
	assert_true(kube_json_get_int(o, &gen, "metadata", "generation", NULL));
	assert_int_equal(gen, 3);
	assert_false(kube_json_get_num(o, &d, "spec", "x", NULL));
	assert_null(kube_json_get_str(o, "spec", "x", "deeper", NULL));
	assert_null(kube_json_get(NULL, "a", NULL));
	assert_true(kube_json_get_bool(o, false, "spec", "paused", NULL));
	assert_true(kube_json_get_bool(o, true, "spec", "missing", NULL));
	key = kube_json_key(o);
	assert_string_equal(key, "n");
	free(key);
	labels = kube_json_ensure_obj(kube_json_ensure_obj(o, "metadata"), "labels");
	assert_non_null(labels);
	assert_int_equal(kube_json_set_str(labels, "a", "1"), 0);
	assert_int_equal(kube_json_set_str(labels, "a", "2"), 0);
	assert_string_equal(kube_json_get_str(o, "metadata", "labels", "a", NULL), "2");
	/* ensure_obj replaces a non-object. */
	assert_non_null(kube_json_ensure_obj(kube_json_ensure_obj(o, "spec"), "x"));
	assert_true(cJSON_IsObject(kube_json_get(o, "spec", "x", NULL)));
	assert_int_equal(kube_json_set_str(NULL, "a", "b"), KUBE_EINVAL);
	printed = kube_json_print(kube_json_get(o, "metadata", "labels", NULL));
	assert_string_equal(printed, "{\"a\":\"2\"}");
	free(printed);
	cJSON_Delete(o);
	o = kube_json_parse_len("{\"a\":1}  \n", 10);
	assert_non_null(o);
	cJSON_Delete(o);
	assert_null(kube_json_parse_len("{\"a\":1} {}", 10));
	assert_null(kube_json_parse_len("{\"a\":", 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(yaml__scalar_typing),
		cmocka_unit_test(yaml__manifest_and_json_input),
		cmocka_unit_test(yaml__multi_document),
		cmocka_unit_test(yaml__anchors_and_merge_of_duplicates),
		cmocka_unit_test(yaml__errors_have_positions),
		cmocka_unit_test(yaml__alias_bomb_is_refused),
		cmocka_unit_test(yaml__alias_budget_spans_documents),
		cmocka_unit_test(yaml__load_file_errors),
		cmocka_unit_test(json__helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
