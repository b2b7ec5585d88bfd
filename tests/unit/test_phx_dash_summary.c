/* Unit tests for the pipeline summary (controller/dashboard/dash_summary.c): counts, success
 * rates, mean durations, "today" by the UTC day, the queue in position order, and which gate an
 * Intent or Build waits at; bad or missing fields never crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dash_summary.h"
#include "kube_json.h"

/* 2026-12-02T12:00:00Z */
#define NOW_MS 1796212800000LL

static cJSON *parse(const char *s)
{
	cJSON *o = cJSON_Parse(s);

	assert_non_null(o);
	return o;
}

static double num(const cJSON *o, const char *a, const char *b)
{
	double v = -1;

	kube_json_get_num(o, &v, a, b, NULL);
	return v;
}

static void summary__counts(void **state)
{
	(void)state;
	cJSON *in = parse("["
		"{\"metadata\":{\"name\":\"r\",\"namespace\":\"a\",\"creationTimestamp\":\"2026-12-02T10:00:00Z\"},"
		" \"status\":{\"phase\":\"Ready\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
		"  \"lastTransitionTime\":\"2026-12-02T10:02:00Z\"}]}},"
		"{\"metadata\":{\"name\":\"f\",\"namespace\":\"a\",\"creationTimestamp\":\"2026-12-01T10:00:00Z\"},"
		" \"status\":{\"phase\":\"Denied\"}},"
		"{\"metadata\":{\"name\":\"q2\",\"namespace\":\"a\",\"creationTimestamp\":\"2026-12-02T11:00:00Z\"},"
		" \"status\":{\"phase\":\"Queued\",\"queue\":{\"position\":2,\"priority\":\"low\"}}},"
		"{\"metadata\":{\"name\":\"q1\",\"namespace\":\"b\",\"creationTimestamp\":\"bogus\"},"
		" \"status\":{\"phase\":\"Queued\",\"queue\":{\"position\":1,\"priority\":\"high\"},"
		"  \"conditions\":[{\"type\":\"SLABreached\",\"status\":\"True\"}]}},"
		"{\"metadata\":{\"name\":\"p\"}},"
		"42]");
	cJSON *bu = parse("["
		"{\"status\":{\"phase\":\"Succeeded\",\"startTime\":\"2026-12-02T10:00:00Z\","
		" \"completionTime\":\"2026-12-02T10:01:30Z\"}},"
		"{\"status\":{\"phase\":\"Failed\"}},{\"status\":{\"phase\":\"Running\"}},"
		"{\"status\":{\"phase\":\"AwaitingApproval\"}},{}]");
	cJSON *s = dash_pipeline_summary(in, bu, NOW_MS);

	assert_non_null(s);
	assert_true(num(s, "intents", "today") == 2);
	assert_true(num(s, "intents", "completed") == 1);
	assert_true(num(s, "intents", "failed") == 1);
	assert_true(num(s, "intents", "successRate") == 50);
	assert_true(num(s, "intents", "avgDurationMs") == 120000);
	/* q2, q1, p and the non-object are not done: active */
	assert_true(num(s, "intents", "active") == 4);
	const cJSON *q = kube_json_get(s, "queue", NULL);
	assert_int_equal(cJSON_GetArraySize(q), 2);
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(q, 0), "name", NULL), "q1");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(q, 0), "slaBreached")));
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(q, 1), "name", NULL), "q2");
	assert_true(num(s, "builds", "total") == 5);
	assert_true(num(s, "builds", "queued") == 1); /* no phase: Pending */
	assert_true(num(s, "builds", "running") == 2);
	assert_true(num(s, "builds", "completed") == 1);
	assert_true(num(s, "builds", "failed") == 1);
	assert_true(num(s, "builds", "successRate") == 50);
	assert_true(num(s, "builds", "avgBuildMs") == 90000);
	cJSON_Delete(s);

	/* Nothing at all: zeros, no mean, no success rate (nothing has finished). */
	s = dash_pipeline_summary(NULL, NULL, NOW_MS);
	assert_non_null(s);
	assert_true(num(s, "intents", "today") == 0);
	assert_null(kube_json_get(s, "intents", "successRate", NULL));
	assert_null(kube_json_get(s, "builds", "successRate", NULL));
	assert_null(kube_json_get(s, "intents", "avgDurationMs", NULL));
	cJSON_Delete(s);
	cJSON_Delete(in);
	cJSON_Delete(bu);
}

static void summary__gate(void **state)
{
	(void)state;
	cJSON *a = parse("{\"status\":{\"phase\":\"AwaitingApproval\"}}");
	cJSON *r = parse("{\"status\":{\"phase\":\"SpecReview\"}}");
	cJSON *q = parse("{\"status\":{\"phase\":\"Queued\"}}");

	assert_string_equal(dash_pipeline_gate("Intent", a), "Governance");
	assert_string_equal(dash_pipeline_gate("Intent", r), "Spec");
	assert_null(dash_pipeline_gate("Intent", q));
	assert_string_equal(dash_pipeline_gate("Build", a), "Deploy");
	assert_null(dash_pipeline_gate("Build", r));
	assert_null(dash_pipeline_gate("Intent", NULL));
	assert_string_equal(dash_phase_of(NULL), "Pending");
	cJSON_Delete(a);
	cJSON_Delete(r);
	cJSON_Delete(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(summary__counts),
		cmocka_unit_test(summary__gate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
