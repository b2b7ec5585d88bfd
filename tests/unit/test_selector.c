/* Label selectors (text and LabelSelector objects) and field selectors: table-driven matching,
 * parse errors, canonical string form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kube_error.h"
#include "kube_selector.h"

static cJSON *labels_of(const char *json)
{
	cJSON *o = json != NULL ? cJSON_Parse(json) : NULL;

	if (json != NULL)
		assert_non_null(o);
	return o;
}

static const char *const LABELS[] = {
	/* 0 */ "{\"app\":\"web\",\"tier\":\"frontend\",\"phoenix.fpai.io/role\":\"primary\"}",
	/* 1 */ "{\"app\":\"db\",\"tier\":\"backend\"}",
	/* 2 */ "{}",
	/* 3 */ NULL, /* object without labels */
	/* 4 */ "{\"app\":\"\",\"phoenix.fpai.io/serving\":\"true\"}",
};
#define NLABELS 5

struct match_case {
	const char *selector;
	bool want[NLABELS]; /* expected match for each LABELS entry */
};

static const struct match_case match_cases[] = {
	{ "", { 1, 1, 1, 1, 1 } },
	{ "app=web", { 1, 0, 0, 0, 0 } },
	{ "app==web", { 1, 0, 0, 0, 0 } },
	{ "app!=web", { 0, 1, 1, 1, 1 } },
	{ "app", { 1, 1, 0, 0, 1 } },
	{ "!app", { 0, 0, 1, 1, 0 } },
	{ "app in (web,db)", { 1, 1, 0, 0, 0 } },
	{ "app notin (web,db)", { 0, 0, 1, 1, 1 } },
	{ "app in (web), tier=frontend", { 1, 0, 0, 0, 0 } },
	{ "app=web,tier=backend", { 0, 0, 0, 0, 0 } },
	{ "  app  =  db  ,  tier  ", { 0, 1, 0, 0, 0 } },
	{ "phoenix.fpai.io/role=primary", { 1, 0, 0, 0, 0 } },
	{ "phoenix.fpai.io/serving=true,app=", { 0, 0, 0, 0, 1 } },
	{ "app in (,web)", { 1, 0, 0, 0, 1 } },
	{ "!phoenix.fpai.io/role,app", { 0, 1, 0, 0, 1 } },
	{ "tier notin (backend),app", { 1, 0, 0, 0, 1 } },
};

static void selector__matching_table(void **state)
{
	cJSON *labels[NLABELS];

	(void)state;
	for (int j = 0; j < NLABELS; j++)
		labels[j] = labels_of(LABELS[j]);
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		struct kube_selector *s = NULL;
		char *err = NULL;

		if (kube_selector_parse(match_cases[i].selector, &s, &err) != 0)
			fail_msg("\"%s\": %s", match_cases[i].selector, err);
		for (int j = 0; j < NLABELS; j++) {
			if (kube_selector_matches(s, labels[j]) != match_cases[i].want[j])
				fail_msg("\"%s\" on %s: want %d", match_cases[i].selector,
					 LABELS[j] != NULL ? LABELS[j] : "(none)", match_cases[i].want[j]);
		}
		kube_selector_free(s);
	}
	for (int j = 0; j < NLABELS; j++)
		cJSON_Delete(labels[j]);
}

struct error_case {
	const char *selector;
	const char *msg_has;
};

static const struct error_case error_cases[] = {
	{ "=web", "expected a key" },
	{ "app=web,", "expected a key" },
	{ ",app", "expected a key" },
	{ "app in web", "expected '('" },
	{ "app in (a,b", "expected ',' or ')'" },
	{ "app web", "expected '=', '==', '!='" },
	{ "app=web tier=x", "expected ',' or end" },
	{ "a b c", "position 3" },
	{ "app=we b", "expected ',' or end" },
	{ "-bad=x", "invalid label key" },
	{ "app=-bad", "invalid label value" },
	{ "Example.com/app=x", "invalid label key" },
	{ "a/b/c=x", "invalid label key" },
	{ "app=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "invalid label value" },
	{ "!", "expected a key" },
	{ "app in ( )", "must not be empty" },
	{ "app!", "expected" },
};

static void selector__parse_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		struct kube_selector *s = (struct kube_selector *)1;
		char *err = NULL;

		assert_int_equal(kube_selector_parse(error_cases[i].selector, &s, &err), KUBE_EPARSE);
		assert_null(s);
		assert_non_null(err);
		if (strstr(err, error_cases[i].msg_has) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", error_cases[i].selector, err,
				 error_cases[i].msg_has);
		free(err);
	}
	assert_int_equal(kube_selector_parse("=", NULL, NULL), KUBE_EINVAL);
}

struct object_case {
	const char *label_selector; /* JSON, NULL = null selector */
	bool want[NLABELS];
};

static const struct object_case object_cases[] = {
	{ NULL, { 1, 1, 1, 1, 1 } },
	{ "{}", { 1, 1, 1, 1, 1 } },
	{ "{\"matchLabels\":{\"app\":\"web\"}}", { 1, 0, 0, 0, 0 } },
	{ "{\"matchLabels\":{\"app\":\"web\",\"tier\":\"frontend\"}}", { 1, 0, 0, 0, 0 } },
	{ "{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\",\"values\":[\"web\",\"db\"]}]}",
	  { 1, 1, 0, 0, 0 } },
	{ "{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"NotIn\",\"values\":[\"web\"]}]}",
	  { 0, 1, 1, 1, 1 } },
	{ "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"Exists\"}]}", { 1, 1, 0, 0, 0 } },
	{ "{\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"DoesNotExist\",\"values\":[]}]}",
	  { 0, 0, 1, 1, 1 } },
	{ "{\"matchLabels\":{\"tier\":\"backend\"},\"matchExpressions\":[{\"key\":\"app\","
	  "\"operator\":\"Exists\"}]}", { 0, 1, 0, 0, 0 } },
};

static void selector__from_object_table(void **state)
{
	cJSON *labels[NLABELS];

	(void)state;
	for (int j = 0; j < NLABELS; j++)
		labels[j] = labels_of(LABELS[j]);
	for (size_t i = 0; i < sizeof(object_cases) / sizeof(object_cases[0]); i++) {
		cJSON *ls = labels_of(object_cases[i].label_selector);
		struct kube_selector *s = NULL;
		char *err = NULL;

		if (kube_selector_from_object(ls, &s, &err) != 0)
			fail_msg("%s: %s", object_cases[i].label_selector, err);
		for (int j = 0; j < NLABELS; j++)
			if (kube_selector_matches(s, labels[j]) != object_cases[i].want[j])
				fail_msg("%s on %s: want %d", object_cases[i].label_selector,
					 LABELS[j] != NULL ? LABELS[j] : "(none)", object_cases[i].want[j]);
		kube_selector_free(s);
		cJSON_Delete(ls);
	}
	for (int j = 0; j < NLABELS; j++)
		cJSON_Delete(labels[j]);
}

static void selector__from_object_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}",
		  "matchExpressions[0].operator" },
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\"}]}",
		  "matchExpressions[0].values: must be non-empty" },
		{ "{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"x\"]}]}",
		  "must be empty" },
		{ "{\"matchExpressions\":[{\"operator\":\"Exists\"}]}", "matchExpressions[0].key" },
		{ "{\"matchLabels\":{\"a\":1}}", "matchLabels[a]" },
		{ "{\"matchLabels\":[]}", "matchLabels: must be an object" },
		{ "[]", "must be an object" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *ls = labels_of(cases[i].selector);
		struct kube_selector *s = NULL;
		char *err = NULL;

		assert_int_equal(kube_selector_from_object(ls, &s, &err), KUBE_EPARSE);
		assert_null(s);
		if (err == NULL || strstr(err, cases[i].msg_has) == NULL)
			fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].selector, err,
				 cases[i].msg_has);
		free(err);
		cJSON_Delete(ls);
	}
}

static void selector__many_slashes_in_a_key(void **state)
{
	/* valid_key recursed once per '/' before noticing that a key may hold only one: a long
	 * "a/a/a/..." key (a label selector in an object, up to the API's 1.5 MB) overflowed the
	 * stack. */
	const size_t reps = 1000000;
	char *text = malloc(reps * 2 + 2);
	struct kube_selector *sel = NULL;
	char *err = NULL;

	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < reps; i++)
		memcpy(text + 2 * i, "a/", 2);
	memcpy(text + 2 * reps, "b", 2);
	assert_int_equal(kube_selector_parse(text, &sel, NULL), KUBE_EPARSE);
	assert_null(sel);
	assert_int_equal(kube_selector_parse("a.b/c/d=x", &sel, &err), KUBE_EPARSE);
	free(err);
	assert_int_equal(kube_selector_parse("a.b/c=x", &sel, NULL), 0);
	kube_selector_free(sel);
	free(text);
}

static void selector__to_string_round_trips(void **state)
{
	static const char *const cases[][2] = {
		{ "", "" },
		{ "app==web", "app=web" },
		{ " app in ( a , b ),!x,y,z!=1", "app in (a,b),!x,y,z!=1" },
		{ "k notin (v)", "k notin (v)" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_selector *s = NULL, *s2 = NULL;
		char *text = NULL;

		assert_int_equal(kube_selector_parse(cases[i][0], &s, NULL), 0);
		assert_int_equal(kube_selector_to_string(s, &text), 0);
		assert_string_equal(text, cases[i][1]);
		assert_int_equal(kube_selector_parse(text, &s2, NULL), 0);
		assert_int_equal(kube_selector_empty(s), cases[i][1][0] == '\0');
		kube_selector_free(s);
		kube_selector_free(s2);
		free(text);
	}
}

static void selector__matches_object_and_fields(void **state)
{
	cJSON *pod = cJSON_Parse("{\"metadata\":{\"name\":\"p1\",\"namespace\":\"prod\","
				 "\"labels\":{\"app\":\"web\"}},\"spec\":{\"nodeName\":\"n1\","
				 "\"priority\":5},\"status\":{\"phase\":\"Running\"}}");
	static const struct { const char *sel; bool want; } fcases[] = {
		{ "", true },
		{ "metadata.name=p1", true },
		{ "metadata.name==p2", false },
		{ "metadata.namespace!=prod", false },
		{ "status.phase=Running,spec.nodeName=n1", true },
		{ "spec.nodeName=", false },
		{ "spec.missing=", true },
		{ "spec.priority=5", true },
	};
	struct kube_selector *s = NULL;
	char *err = NULL;

	(void)state;
	assert_non_null(pod);
	assert_int_equal(kube_selector_parse("app=web", &s, NULL), 0);
	assert_true(kube_selector_matches_object(s, pod));
	kube_selector_free(s);
	for (size_t i = 0; i < sizeof(fcases) / sizeof(fcases[0]); i++) {
		assert_int_equal(kube_field_selector_parse(fcases[i].sel, &s, NULL), 0);
		if (kube_field_selector_matches(s, pod) != fcases[i].want)
			fail_msg("field selector \"%s\": want %d", fcases[i].sel, fcases[i].want);
		kube_selector_free(s);
	}
	/* Set-based and existence forms are not field selector syntax. */
	assert_int_equal(kube_field_selector_parse("metadata.name in (a)", &s, &err), KUBE_EPARSE);
	free(err);
	assert_int_equal(kube_field_selector_parse("metadata.name", &s, &err), KUBE_EPARSE);
	free(err);
	assert_true(kube_selector_matches(NULL, NULL));
	kube_selector_free(NULL);
	cJSON_Delete(pod);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(selector__matching_table),
		cmocka_unit_test(selector__parse_errors),
		cmocka_unit_test(selector__from_object_table),
		cmocka_unit_test(selector__from_object_errors),
		cmocka_unit_test(selector__many_slashes_in_a_key),
		cmocka_unit_test(selector__to_string_round_trips),
		cmocka_unit_test(selector__matches_object_and_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
