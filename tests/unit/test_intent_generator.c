/* intent_generator's pure parts: deterministic Job names that fit a label, the Job's shape (no
 * token, restricted security context, the input ConfigMap read-only, owned and labelled), the
 * SPEC between the markers (and every way a log can fail to hold one), the backoff table and a
 * Job's outcome. The step itself runs in tests/e2e/42_intent_generator.sh on kubesim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "json_testutil.h"

#include "intent/intent_generator.h"
#include "intent/intent_wing.h"
#include "kube_error.h"
#include "kube_json.h"

#define INTENT "{'metadata':{'name':'%s','namespace':'ns','uid':'u-1','generation':3},'spec':{'serviceName':'x','generator':{'image':'gen:1','parallelism':%d%s}}}"

static cJSON *intent(const char *name, int par, const char *extra)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), INTENT, name, par, extra);
	return J(buf);
}

static void names__deterministic_and_short(void **state)
{
	char a[80], b[80], c[80], d[80];
	const char *long_name = "a-very-long-intent-name-that-goes-on-and-on-and-on-forever-and-more";

	(void)state;
	intent_generator_job_name("rev", "u-1", 3, 1, 0, a, sizeof(a));
	intent_generator_job_name("rev", "u-1", 3, 1, 0, b, sizeof(b));
	assert_string_equal(a, b);
	intent_generator_job_name("rev", "u-1", 4, 1, 0, c, sizeof(c));
	assert_string_not_equal(a, c);
	intent_generator_job_name("rev", "u-2", 3, 1, 0, c, sizeof(c));
	assert_string_not_equal(a, c);
	intent_generator_job_name("rev", "u-1", 3, 2, 1, c, sizeof(c));
	assert_non_null(strstr(c, "-2-1"));
	assert_true(strncmp(a, "rev-gen-", 8) == 0);
	intent_generator_job_name(long_name, "u-1", 3, 4, 7, d, sizeof(d));
	assert_true(strlen(d) <= 63);
	assert_true(strncmp(d, long_name, 20) == 0);
	intent_generator_job_name(NULL, NULL, 0, 1, 0, d, sizeof(d));
	assert_true(strlen(d) > 0);
}

static void job__shape(void **state)
{
	cJSON *in = intent("rev", 2, ",'command':['python3'],'args':['/gen.py']");
	cJSON *job = intent_generator_job(in, "gen:1", 3, 2, 1, "rev-generator");
	char name[80];

	(void)state;
	assert_non_null(job);
	intent_generator_job_name("rev", "u-1", 3, 2, 1, name, sizeof(name));
	assert_string_equal(kube_json_name(job), name);
	assert_string_equal(kube_json_get_str(job, "metadata", "labels", INTENT_LABEL, NULL), "rev");
	const cJSON *own = cJSON_GetArrayItem(kube_json_get(job, "metadata", "ownerReferences", NULL), 0);
	assert_string_equal(kube_json_get_str(own, "kind", NULL), "Intent");
	assert_string_equal(kube_json_get_str(own, "uid", NULL), "u-1");
	const cJSON *ps = kube_json_get(job, "spec", "template", "spec", NULL);
	assert_false(kube_json_get_bool(ps, 1, "automountServiceAccountToken", NULL));
	assert_true(kube_json_get_bool(ps, 0, "securityContext", "runAsNonRoot", NULL));
	assert_string_equal(kube_json_get_str(ps, "securityContext", "seccompProfile", "type", NULL), "RuntimeDefault");
	assert_string_equal(kube_json_get_str(ps, "restartPolicy", NULL), "Never");
	const cJSON *c = cJSON_GetArrayItem(kube_json_get(ps, "containers", NULL), 0);
	assert_string_equal(kube_json_get_str(c, "image", NULL), "gen:1");
	assert_false(kube_json_get_bool(c, 1, "securityContext", "allowPrivilegeEscalation", NULL));
	assert_string_equal(cJSON_GetArrayItem(kube_json_get(c, "securityContext", "capabilities", "drop", NULL), 0)->valuestring, "ALL");
	assert_string_equal(cJSON_GetArrayItem(kube_json_get(c, "command", NULL), 0)->valuestring, "python3");
	assert_string_equal(cJSON_GetArrayItem(kube_json_get(c, "args", NULL), 0)->valuestring, "/gen.py");
	const cJSON *vm = cJSON_GetArrayItem(kube_json_get(c, "volumeMounts", NULL), 0);
	assert_string_equal(kube_json_get_str(vm, "mountPath", NULL), INTENT_GEN_MOUNT);
	assert_true(kube_json_get_bool(vm, 0, "readOnly", NULL));
	const cJSON *vol = cJSON_GetArrayItem(kube_json_get(ps, "volumes", NULL), 0);
	assert_string_equal(kube_json_get_str(vol, "configMap", "name", NULL), "rev-generator");
	int64_t bl = -1;
	assert_true(kube_json_get_int(job, &bl, "spec", "backoffLimit", NULL));
	assert_int_equal(bl, 0);
	assert_null(intent_generator_job(in, NULL, 3, 1, 0, "x"));
	cJSON_Delete(job);
	cJSON_Delete(in);
}

static void config__of(void **state)
{
	cJSON *in = intent("rev", 3, "");
	cJSON *none = J("{'spec':{'generator':{}}}");
	const char *img = NULL;
	int par = 0;

	(void)state;
	assert_int_equal(intent_generator_of(in, &img, &par), 1);
	assert_string_equal(img, "gen:1");
	assert_int_equal(par, 3);
	assert_int_equal(intent_generator_of(none, &img, &par), 0);
	assert_int_equal(intent_generator_of(NULL, NULL, NULL), 0);
	cJSON_Delete(in);
	cJSON_Delete(none);
	in = intent("rev", 99, "");
	assert_int_equal(intent_generator_of(in, NULL, &par), 1);
	assert_int_equal(par, 8);
	cJSON_Delete(in);
	assert_int_equal(intent_generator_backoff_s(1), 10);
	assert_int_equal(intent_generator_backoff_s(2), 30);
	assert_int_equal(intent_generator_backoff_s(3), 60);
	assert_int_equal(intent_generator_backoff_s(4), -1);
	assert_int_equal(intent_generator_backoff_s(0), -1);
}

struct extract_case {
	const char *log;
	int rc;
	const char *want; /* the SPEC, or a substring of the message */
};

#define B INTENT_GEN_BEGIN
#define E INTENT_GEN_END

static void extract__cases(void **state)
{
	static const struct extract_case cases[] = {
		{"thinking...\n" B "\n# SPEC\nbody\n" E "\ndone\n", 0, "# SPEC\nbody\n"},
		{B "\r\n# SPEC\r\n" E "\r\n", 0, "# SPEC\r\n"},
		{B "  \n# S\n" E, 0, "# S\n"},
		{"", KUBE_EPARSE, "printed nothing"},
		{"<html>garbage</html>\n", KUBE_EPARSE, "printed no line"},
		{"x " B "\n# S\n" E "\n", KUBE_EPARSE, "printed no line"},
		{B "\n# S never ends\n", KUBE_EPARSE, "after the SPEC"},
		{B "\n \n\t\n" E "\n", KUBE_EPARSE, "empty SPEC"},
		{E "\n" B "\n# late\n" E "\n", 0, "# late\n"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *md = NULL, msg[256] = "";
		int rc = intent_generator_extract(cases[i].log, strlen(cases[i].log), &md, msg, sizeof(msg));
		if (rc != cases[i].rc || (rc == 0 && strcmp(md, cases[i].want) != 0) ||
		    (rc != 0 && (md || !strstr(msg, cases[i].want))))
			fail_msg("case %zu: rc %d md \"%s\" msg \"%s\"", i, rc, md ? md : "", msg);
		free(md);
	}
	assert_int_equal(intent_generator_extract(NULL, 0, NULL, NULL, 0), KUBE_EINVAL);
}

static void job__state(void **state)
{
	static const struct {
		const char *job;
		int want;
		const char *msg;
	} cases[] = {
		{"{}", 0, ""},
		{"{'status':{'active':1}}", 0, ""},
		{"{'status':{'succeeded':1}}", 1, ""},
		{"{'status':{'conditions':[{'type':'Complete','status':'True'}]}}", 1, ""},
		{"{'status':{'conditions':[{'type':'Failed','status':'True','reason':'BackoffLimitExceeded','message':'Job has reached the specified backoff limit'}]}}", -1, "BackoffLimitExceeded: Job has reached"},
		{"{'status':{'conditions':[{'type':'Failed','status':'False'}],'active':1}}", 0, ""},
		{"{'status':{'failed':1}}", -1, "its pod failed"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *j = J(cases[i].job);
		char msg[256] = "";
		int st = intent_generator_job_state(j, msg, sizeof(msg));
		if (st != cases[i].want || !strstr(msg, cases[i].msg))
			fail_msg("case %zu: %d \"%s\"", i, st, msg);
		cJSON_Delete(j);
	}
	assert_int_equal(intent_generator_job_state(NULL, (char[8]){0}, 8), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names__deterministic_and_short),
		cmocka_unit_test(job__shape),
		cmocka_unit_test(config__of),
		cmocka_unit_test(extract__cases),
		cmocka_unit_test(job__state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
