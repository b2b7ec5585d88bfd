/* Unit tests for Build attempt classification and the retry policy
 * (controller/build/phx_build_classify.c): tables of pod/Job status -> class, reason and step;
 * (class, history) -> action, factors, backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build/phx_build_classify.h"
#include "kube_error.h"

/* 2026-12-01T20:00:00Z */
#define NOW INT64_C(1796155200000)

/* Parses JSON written with ' for " (keeps the tables readable). */
static cJSON *json(const char *s)
{
	if (!s)
		return NULL;
	char *c = strdup(s);
	for (char *p = c; *p; p++)
		if (*p == '\'')
			*p = '"';
	cJSON *j = cJSON_Parse(c);
	if (!j)
		fail_msg("bad test JSON: %s", c);
	free(c);
	return j;
}

#define TERM(name, code, reason, msg)                                                       \
	"{'name':'" name "','state':{'terminated':{'exitCode':" #code ",'reason':'" reason "'" \
	msg "}}}"
#define DONE(name) TERM(name, 0, "Completed", "")
#define WAIT(name, reason) "{'name':'" name "','image':'reg/x:1','state':{'waiting':{'reason':'" \
	reason "','message':'pull access denied'}}}"
#define POD(phase, extra, init, main)                                                       \
	"{'metadata':{'creationTimestamp':'2026-12-01T19:50:00Z'},'status':{'phase':'" phase \
	"','startTime':'2026-12-01T19:59:00Z'" extra ",'initContainerStatuses':[" init       \
	"],'containerStatuses':[" main "]}}"
#define TM(json) ",'message':'" json "'"

static void classify__table(void **state)
{
	static const struct {
		const char *name;
		const char *pod;
		const char *job;
		enum phx_build_class want;
		const char *reason;
		const char *step;
		int exit_code;
	} cases[] = {
		{ "running", POD("Pending", "", DONE("fetch") "," "{'name':'test','state':{'running':{}}}",
				 "{'name':'done','state':{'waiting':{'reason':'PodInitializing'}}}"),
		  NULL, PHX_BUILD_CLASS_RUNNING, "", "", -1 },
		{ "succeeded", POD("Succeeded", "", DONE("fetch") "," DONE("test"), DONE("done")), NULL,
		  PHX_BUILD_CLASS_SUCCEEDED, "", "", -1 },
		{ "job complete, pod gone", NULL,
		  "{'status':{'conditions':[{'type':'Complete','status':'True'}]}}",
		  PHX_BUILD_CLASS_SUCCEEDED, "", "", -1 },
		{ "oom", POD("Failed", "", DONE("fetch") "," TERM("test", 137, "OOMKilled", ""), ""),
		  NULL, PHX_BUILD_CLASS_OOM, "StepOutOfMemory", "test", 137 },
		{ "137 without OOMKilled is not an OOM",
		  POD("Failed", "", DONE("fetch") "," TERM("test", 137, "Error", ""), ""), NULL,
		  PHX_BUILD_CLASS_STEP_FAILED, "StepFailed", "test", 137 },
		{ "137 in the image step, reason Error",
		  POD("Failed", "", DONE("fetch") "," DONE("test") "," TERM("image", 137, "Error", ""),
		      ""), NULL, PHX_BUILD_CLASS_STEP_FAILED, "ImageBuildFailed", "image", 137 },
		{ "tests failed (message reason)",
		  POD("Failed", "", DONE("fetch") "," TERM("test", 1, "Error",
		      TM("{\\'reason\\':\\'TestsFailed\\'}")), ""),
		  NULL, PHX_BUILD_CLASS_TESTS_FAILED, "TestsFailed", "test", 1 },
		{ "tests timed out", POD("Failed", "", TERM("test", 124, "Error",
		      TM("{\\'reason\\':\\'TestsTimedOut\\'}")), ""),
		  NULL, PHX_BUILD_CLASS_TESTS_FAILED, "TestsFailed", "test", 124 },
		{ "test step failed without a message",
		  POD("Failed", "", TERM("test", 2, "Error", ""), ""), NULL,
		  PHX_BUILD_CLASS_TESTS_FAILED, "TestsFailed", "test", 2 },
		{ "invalid input exit code", POD("Failed", "", TERM("fetch", 64, "Error", ""), ""), NULL,
		  PHX_BUILD_CLASS_INVALID_INPUT, "InvalidSpec", "fetch", 64 },
		{ "no build system exit code",
		  POD("Failed", "", DONE("fetch") "," TERM("test", 65, "Error", ""), ""), NULL,
		  PHX_BUILD_CLASS_NO_BUILD_SYSTEM, "NoBuildSystemDetected", "test", 65 },
		{ "fetch failed", POD("Failed", "", TERM("fetch", 1, "Error",
		      TM("{\\'reason\\':\\'SourceFetchFailed\\'}")), ""),
		  NULL, PHX_BUILD_CLASS_STEP_FAILED, "SourceFetchFailed", "fetch", 1 },
		{ "push failed reported by the builder",
		  POD("Failed", "", DONE("fetch") "," TERM("image", 1, "Error",
		      TM("{\\'reason\\':\\'PushFailed\\'}")), ""),
		  NULL, PHX_BUILD_CLASS_STEP_FAILED, "PushFailed", "image", 1 },
		{ "generate failed, plain-text message",
		  POD("Failed", "", TERM("generate", 3, "Error", TM("boom")), ""), NULL,
		  PHX_BUILD_CLASS_STEP_FAILED, "GenerateFailed", "generate", 3 },
		{ "first failing init container wins",
		  POD("Failed", "", TERM("fetch", 1, "Error", "") "," TERM("test", 137, "OOMKilled", ""),
		      ""), NULL, PHX_BUILD_CLASS_STEP_FAILED, "SourceFetchFailed", "fetch", 1 },
		{ "pull error young: still waiting",
		  POD("Pending", "", WAIT("fetch", "ImagePullBackOff"), ""), NULL,
		  PHX_BUILD_CLASS_RUNNING, "", "fetch", -1 },
		{ "pull error old: fail fast",
		  "{'metadata':{'creationTimestamp':'2026-12-01T19:50:00Z'},'status':{'phase':'Pending',"
		  "'initContainerStatuses':[" WAIT("fetch", "ErrImagePull") "]}}",
		  NULL, PHX_BUILD_CLASS_IMAGE_PULL, "ImagePullFailed", "fetch", -1 },
		{ "invalid image name: at once",
		  POD("Pending", "", WAIT("fetch", "InvalidImageName"), ""), NULL,
		  PHX_BUILD_CLASS_IMAGE_PULL, "ImagePullFailed", "fetch", -1 },
		{ "evicted", POD("Failed", ",'reason':'Evicted','message':'low on memory'",
				 TERM("test", 137, "Error", ""), ""), NULL,
		  PHX_BUILD_CLASS_DISRUPTED, "", "", -1 },
		{ "DisruptionTarget beats the killed container",
		  POD("Failed", ",'conditions':[{'type':'DisruptionTarget','status':'True','reason':"
		      "'EvictionByEvictionAPI'}]", TERM("test", 143, "Error", ""), ""), NULL,
		  PHX_BUILD_CLASS_DISRUPTED, "", "", -1 },
		{ "DisruptionTarget False is no disruption",
		  POD("Failed", ",'conditions':[{'type':'DisruptionTarget','status':'False'}]",
		      TERM("test", 1, "Error", ""), ""), NULL,
		  PHX_BUILD_CLASS_TESTS_FAILED, "TestsFailed", "test", 1 },
		{ "node lost", POD("Failed", ",'reason':'NodeLost'", DONE("fetch"), ""), NULL,
		  PHX_BUILD_CLASS_DISRUPTED, "", "", -1 },
		{ "job deadline beats everything",
		  POD("Failed", ",'reason':'Evicted'", TERM("test", 137, "OOMKilled", ""), ""),
		  "{'status':{'conditions':[{'type':'Failed','status':'True','reason':"
		  "'DeadlineExceeded'}]}}", PHX_BUILD_CLASS_DEADLINE, "DeadlineExceeded", "", -1 },
		{ "pod deadline", POD("Failed", ",'reason':'DeadlineExceeded'", DONE("fetch"), ""), NULL,
		  PHX_BUILD_CLASS_DEADLINE, "DeadlineExceeded", "", -1 },
		{ "job failed by pod failure policy: the pod decides",
		  POD("Failed", "", TERM("test", 65, "Error", ""), ""),
		  "{'status':{'conditions':[{'type':'Failed','status':'True','reason':"
		  "'PodFailurePolicy'}]}}", PHX_BUILD_CLASS_NO_BUILD_SYSTEM, "NoBuildSystemDetected",
		  "test", 65 },
		{ "pod failed with no container saying why", POD("Failed", "", "", ""), NULL,
		  PHX_BUILD_CLASS_STEP_FAILED, "StepFailed", "", -1 },
		{ "empty pod", "{}", NULL, PHX_BUILD_CLASS_RUNNING, "", "", -1 },
		{ "garbage types", "{'status':{'phase':7,'initContainerStatuses':{'a':1},"
		  "'containerStatuses':[1,'x',{'state':{'terminated':{'exitCode':'1'}}}]}}", NULL,
		  PHX_BUILD_CLASS_RUNNING, "", "", -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *pod = json(cases[i].pod), *job = json(cases[i].job);
		struct phx_build_verdict v;
		assert_int_equal(phx_build_classify(pod, job, NOW, 0, &v), 0);
		if (v.cls != cases[i].want || strcmp(v.reason, cases[i].reason) ||
		    strcmp(v.step, cases[i].step) || v.exit_code != cases[i].exit_code)
			fail_msg("%s: class %s reason '%s' step '%s' exit %d (%s); want %s '%s' '%s' %d",
				 cases[i].name, phx_build_class_name(v.cls), v.reason, v.step,
				 v.exit_code, v.message, phx_build_class_name(cases[i].want),
				 cases[i].reason, cases[i].step, cases[i].exit_code);
		assert_true(strlen(v.message) < sizeof(v.message));
		cJSON_Delete(pod);
		cJSON_Delete(job);
	}
}

static void classify__messages_and_bounds(void **state)
{
	struct phx_build_verdict v;
	cJSON *pod = json(POD("Failed", "", TERM("test", 137, "Error", ""), ""));
	assert_int_equal(phx_build_classify(pod, NULL, NOW, 0, &v), 0);
	assert_non_null(strstr(v.message, "not OOMKilled"));
	cJSON_Delete(pod);
	/* Pending 60 s (startTime 19:59): fails with a 30 s bound, waits with the default 120 s. */
	pod = json(POD("Pending", "", WAIT("fetch", "ErrImagePull"), ""));
	assert_int_equal(phx_build_classify(pod, NULL, NOW, 30000, &v), 0);
	assert_int_equal(v.cls, PHX_BUILD_CLASS_IMAGE_PULL);
	assert_int_equal(v.pending_ms, 60000);
	assert_non_null(strstr(v.message, "reg/x:1"));
	assert_int_equal(phx_build_classify(pod, NULL, NOW, 0, &v), 0);
	assert_int_equal(v.cls, PHX_BUILD_CLASS_RUNNING);
	assert_non_null(strstr(v.message, "ErrImagePull for 60s"));
	cJSON_Delete(pod);
	/* A huge termination message stays within the verdict's message. */
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cJSON *p = cJSON_CreateObject();
	cJSON *cs = cJSON_AddArrayToObject(cJSON_AddObjectToObject(p, "status"),
					   "initContainerStatuses");
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", "test");
	cJSON *t = cJSON_AddObjectToObject(cJSON_AddObjectToObject(c, "state"), "terminated");
	cJSON_AddNumberToObject(t, "exitCode", 1);
	cJSON_AddStringToObject(t, "message", big);
	cJSON_AddItemToArray(cs, c);
	assert_int_equal(phx_build_classify(p, NULL, NOW, 0, &v), 0);
	assert_int_equal(v.cls, PHX_BUILD_CLASS_TESTS_FAILED);
	assert_true(strlen(v.message) < PHX_BUILD_MESSAGE_MAX);
	cJSON_Delete(p);
	assert_int_equal(phx_build_classify(NULL, NULL, NOW, 0, &v), KUBE_EINVAL);
	assert_int_equal(phx_build_classify(p = json("{}"), NULL, NOW, 0, NULL), KUBE_EINVAL);
	cJSON_Delete(p);
}

static struct phx_build_verdict verdict(enum phx_build_class cls, const char *reason)
{
	struct phx_build_verdict v = { .cls = cls, .reason = reason, .exit_code = -1 };
	return v;
}

static void decide__table(void **state)
{
	static const struct {
		const char *name;
		enum phx_build_class cls;
		const char *vreason;
		struct phx_build_history h;
		enum phx_build_action action;
		bool counts;
		double mem, deadline;
		int64_t delay_ms;
		const char *fail_reason;
	} cases[] = {
		{ "running", PHX_BUILD_CLASS_RUNNING, "", { 1, 3, 0, 0 }, PHX_BUILD_WAIT, 0, 1, 1, 0, NULL },
		{ "succeeded", PHX_BUILD_CLASS_SUCCEEDED, "", { 2, 3, 0, 0 }, PHX_BUILD_DONE, 0, 1, 1, 0,
		  NULL },
		{ "oom: twice the memory", PHX_BUILD_CLASS_OOM, "StepOutOfMemory", { 1, 3, 0, 0 },
		  PHX_BUILD_RETRY, 1, 2, 1, 10000, NULL },
		{ "oom second time: 30 s", PHX_BUILD_CLASS_OOM, "StepOutOfMemory", { 2, 3, 0, 0 },
		  PHX_BUILD_RETRY, 1, 2, 1, 30000, NULL },
		{ "oom last attempt", PHX_BUILD_CLASS_OOM, "StepOutOfMemory", { 3, 3, 0, 0 },
		  PHX_BUILD_FAIL, 0, 1, 1, 0, "RetriesExhausted" },
		{ "deadline: twice the deadline", PHX_BUILD_CLASS_DEADLINE, "DeadlineExceeded",
		  { 1, 3, 0, 0 }, PHX_BUILD_RETRY, 1, 1, 2, 10000, NULL },
		{ "pull: fail fast", PHX_BUILD_CLASS_IMAGE_PULL, "ImagePullFailed", { 1, 3, 0, 0 },
		  PHX_BUILD_FAIL, 0, 1, 1, 0, "ImagePullFailed" },
		{ "invalid: fail fast", PHX_BUILD_CLASS_INVALID_INPUT, "InvalidSpec", { 1, 3, 0, 0 },
		  PHX_BUILD_FAIL, 0, 1, 1, 0, "InvalidSpec" },
		{ "no build system: fail fast", PHX_BUILD_CLASS_NO_BUILD_SYSTEM,
		  "NoBuildSystemDetected", { 1, 3, 0, 0 }, PHX_BUILD_FAIL, 0, 1, 1, 0,
		  "NoBuildSystemDetected" },
		{ "tests: retry once", PHX_BUILD_CLASS_TESTS_FAILED, "TestsFailed", { 1, 3, 0, 0 },
		  PHX_BUILD_RETRY, 1, 1, 1, 10000, NULL },
		{ "tests: then fail", PHX_BUILD_CLASS_TESTS_FAILED, "TestsFailed", { 2, 3, 1, 0 },
		  PHX_BUILD_FAIL, 0, 1, 1, 0, "TestsFailed" },
		{ "tests after an oom retry: one retry", PHX_BUILD_CLASS_TESTS_FAILED, "TestsFailed",
		  { 2, 3, 0, 0 }, PHX_BUILD_RETRY, 1, 1, 1, 30000, NULL },
		{ "tests, maxAttempts 1", PHX_BUILD_CLASS_TESTS_FAILED, "TestsFailed", { 1, 1, 0, 0 },
		  PHX_BUILD_FAIL, 0, 1, 1, 0, "TestsFailed" },
		{ "evicted: uncounted", PHX_BUILD_CLASS_DISRUPTED, "", { 3, 3, 0, 0 }, PHX_BUILD_RETRY,
		  0, 1, 1, 60000, NULL },
		{ "evicted again and again: counts", PHX_BUILD_CLASS_DISRUPTED, "",
		  { 1, 3, 0, PHX_BUILD_MAX_UNCOUNTED }, PHX_BUILD_RETRY, 1, 1, 1, 60000, NULL },
		{ "evicted too often, last attempt", PHX_BUILD_CLASS_DISRUPTED, "",
		  { 3, 3, 0, PHX_BUILD_MAX_UNCOUNTED }, PHX_BUILD_FAIL, 0, 1, 1, 0,
		  "RetriesExhausted" },
		{ "fetch failed: plain retry", PHX_BUILD_CLASS_STEP_FAILED, "SourceFetchFailed",
		  { 1, 0, 0, 0 }, PHX_BUILD_RETRY, 1, 1, 1, 10000, NULL },
		{ "default maxAttempts is 3", PHX_BUILD_CLASS_STEP_FAILED, "SourceFetchFailed",
		  { 3, 0, 0, 0 }, PHX_BUILD_FAIL, 0, 1, 1, 0, "RetriesExhausted" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct phx_build_verdict v = verdict(cases[i].cls, cases[i].vreason);
		struct phx_build_decision d;
		assert_int_equal(phx_build_decide(&v, &cases[i].h, &d), 0);
		bool ok = d.action == cases[i].action && d.memory_factor == cases[i].mem &&
			  d.deadline_factor == cases[i].deadline;
		if (d.action == PHX_BUILD_RETRY)
			ok = ok && d.counts == cases[i].counts && d.delay_ms == cases[i].delay_ms;
		if (d.action == PHX_BUILD_FAIL)
			ok = ok && d.fail_reason && !strcmp(d.fail_reason, cases[i].fail_reason);
		if (!ok)
			fail_msg("%s: action %d counts %d mem %g deadline %g delay %lld fail %s (%s)",
				 cases[i].name, d.action, d.counts, d.memory_factor,
				 d.deadline_factor, (long long)d.delay_ms,
				 d.fail_reason ? d.fail_reason : "-", d.remediation);
		assert_non_null(d.remediation);
	}
	struct phx_build_history h = { 1, 3, 0, 0 };
	struct phx_build_decision d;
	assert_int_equal(phx_build_decide(NULL, &h, &d), KUBE_EINVAL);
}

static void backoff__10_30_60(void **state)
{
	assert_int_equal(phx_build_backoff_ms(1), 10000);
	assert_int_equal(phx_build_backoff_ms(2), 30000);
	assert_int_equal(phx_build_backoff_ms(3), 60000);
	assert_int_equal(phx_build_backoff_ms(9), 60000);
	assert_int_equal(phx_build_backoff_ms(0), 10000);
	assert_string_equal(phx_build_class_name(PHX_BUILD_CLASS_OOM), "OOMKilled");
	assert_string_equal(phx_build_class_name(PHX_BUILD_CLASS_DISRUPTED), "Disrupted");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(classify__table),
		cmocka_unit_test(classify__messages_and_bounds),
		cmocka_unit_test(decide__table),
		cmocka_unit_test(backoff__10_30_60),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
