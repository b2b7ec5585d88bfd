/* intent_policy: the built-in defaults, a full GovernancePolicy, every invalid field refused with
 * a message naming it, durations, and bad input that never crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "json_testutil.h"

#include "intent/intent_policy.h"
#include "kube_error.h"

static void assert_defaults(const struct intent_policy *p)
{
	assert_int_equal(p->mode, INTENT_MODE_SUPERVISED);
	assert_true(p->auto_approve_threshold == 0.8);
	assert_true(p->reject_below == 0.4);
	assert_int_equal(p->human_tiers, 1u);
	assert_int_equal(p->max_concurrent, 3);
	assert_int_equal(p->sla_ms[INTENT_PRIO_CRITICAL], 5 * 60000);
	assert_int_equal(p->sla_ms[INTENT_PRIO_HIGH], 15 * 60000);
	assert_int_equal(p->sla_ms[INTENT_PRIO_MEDIUM], 3600000);
	assert_int_equal(p->sla_ms[INTENT_PRIO_LOW], -1);
	assert_int_equal(p->port_min, 1024);
	assert_int_equal(p->port_max, 65535);
	assert_int_equal(p->spec_min_score, 90);
	assert_int_equal(p->spec_max_passes, 3);
	assert_null(p->evaluator_url);
	assert_int_equal(p->nallowed, 0);
	assert_int_equal(p->nforbidden, 0);
}

static void policy__defaults_when_absent(void **state)
{
	static const char *const EMPTY[] = {NULL, "{}", "{'metadata':{'name':'default'}}", "{'spec':{}}"};
	struct intent_policy p;

	(void)state;
	for (size_t i = 0; i < sizeof(EMPTY) / sizeof(EMPTY[0]); i++) {
		cJSON *o = J(EMPTY[i]);

		assert_int_equal(intent_policy_parse(o, &p, NULL, 0), 0);
		assert_defaults(&p);
		intent_policy_release(&p);
		cJSON_Delete(o);
	}
	intent_policy_defaults(&p);
	assert_defaults(&p);
	intent_policy_release(NULL);
}

static void policy__full(void **state)
{
	cJSON *o = J("{'spec':{'mode':'autonomous','autoApproveThreshold':0.9,'rejectBelow':0.5,"
		     "'requireApprovalTiers':[0,1],'maxConcurrentPipelines':1,"
		     "'sla':{'critical':'2m','high':'1h30m','medium':'none','low':'90s'},"
		     "'dependencies':{'allowed':['stripe','s3'],'forbidden':['legacy-db']},"
		     "'ports':{'min':8000,'max':8999},'specGate':{'minScore':80,'maxPasses':5},"
		     "'evaluator':{'url':'http://127.0.0.1:9/eval','timeoutSeconds':2,'weight':0.5}}}");
	struct intent_policy p;
	char err[128];

	(void)state;
	assert_int_equal(intent_policy_parse(o, &p, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(p.mode, INTENT_MODE_AUTONOMOUS);
	assert_true(p.auto_approve_threshold == 0.9);
	assert_true(p.reject_below == 0.5);
	assert_int_equal(p.human_tiers, 3u);
	assert_int_equal(p.max_concurrent, 1);
	assert_int_equal(p.sla_ms[INTENT_PRIO_CRITICAL], 120000);
	assert_int_equal(p.sla_ms[INTENT_PRIO_HIGH], 5400000);
	assert_int_equal(p.sla_ms[INTENT_PRIO_MEDIUM], -1);
	assert_int_equal(p.sla_ms[INTENT_PRIO_LOW], 90000);
	assert_true(intent_policy_allows(&p, "s3"));
	assert_false(intent_policy_allows(&p, "legacy-db"));
	assert_true(intent_policy_forbids(&p, "legacy-db"));
	assert_false(intent_policy_forbids(&p, NULL));
	assert_int_equal(p.port_min, 8000);
	assert_int_equal(p.port_max, 8999);
	assert_int_equal(p.spec_min_score, 80);
	assert_int_equal(p.spec_max_passes, 5);
	assert_string_equal(p.evaluator_url, "http://127.0.0.1:9/eval");
	assert_int_equal(p.evaluator_timeout_s, 2);
	assert_true(p.evaluator_weight == 0.5);
	intent_policy_release(&p);
	assert_defaults(&p);
	cJSON_Delete(o);
}

struct bad_case {
	const char *spec;
	const char *field;
};

static void policy__invalid_names_the_field(void **state)
{
	static const struct bad_case cases[] = {
		{"'mode':'yolo'", "spec.mode"},
		{"'mode':3", "spec.mode"},
		{"'autoApproveThreshold':1.5", "spec.autoApproveThreshold"},
		{"'autoApproveThreshold':'high'", "spec.autoApproveThreshold"},
		{"'rejectBelow':-0.1", "spec.rejectBelow"},
		{"'rejectBelow':0.9", "spec.rejectBelow: 0.9 must not exceed spec.autoApproveThreshold 0.8"},
		{"'requireApprovalTiers':[0,7]", "spec.requireApprovalTiers[1]"},
		{"'requireApprovalTiers':0", "spec.requireApprovalTiers"},
		{"'maxConcurrentPipelines':0", "spec.maxConcurrentPipelines"},
		{"'maxConcurrentPipelines':1.5", "spec.maxConcurrentPipelines"},
		{"'sla':{'high':'soon'}", "spec.sla.high"},
		{"'sla':{'low':5}", "spec.sla.low"},
		{"'sla':'5m'", "spec.sla"},
		{"'dependencies':{'allowed':'stripe'}", "spec.dependencies.allowed"},
		{"'dependencies':{'forbidden':['ok','']}", "spec.dependencies.forbidden[1]"},
		{"'ports':{'min':0}", "spec.ports.min"},
		{"'ports':{'max':70000}", "spec.ports.max"},
		{"'ports':{'min':9000,'max':8000}", "spec.ports.min: 9000 must not exceed spec.ports.max 8000"},
		{"'specGate':{'minScore':101}", "spec.specGate.minScore"},
		{"'specGate':{'maxPasses':0}", "spec.specGate.maxPasses"},
		{"'evaluator':{}", "spec.evaluator.url"},
		{"'evaluator':{'url':'ftp://x'}", "spec.evaluator.url"},
		{"'evaluator':{'url':'http://x','timeoutSeconds':0}", "spec.evaluator.timeoutSeconds"},
		{"'evaluator':{'url':'http://x','weight':2}", "spec.evaluator.weight"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[512], err[160];
		cJSON *o;
		struct intent_policy p;
		int rc;

		snprintf(buf, sizeof(buf), "{'spec':{%s}}", cases[i].spec);
		o = J(buf);
		rc = intent_policy_parse(o, &p, err, sizeof(err));
		if (rc != KUBE_EINVAL || !strstr(err, cases[i].field))
			fail_msg("%s: rc %d, err \"%s\", want EINVAL naming %s", cases[i].spec, rc, err, cases[i].field);
		/* what is left is the defaults, owning nothing */
		assert_defaults(&p);
		intent_policy_release(&p);
		cJSON_Delete(o);
	}
}

static void policy__spec_not_object(void **state)
{
	cJSON *o = J("{'spec':[1]}");
	struct intent_policy p;
	char err[64];

	(void)state;
	assert_int_equal(intent_policy_parse(o, &p, err, sizeof(err)), KUBE_EINVAL);
	assert_string_equal(err, "spec: must be an object");
	assert_int_equal(intent_policy_parse(o, NULL, err, sizeof(err)), KUBE_EINVAL);
	assert_int_equal(intent_policy_parse(o, &p, NULL, 0), KUBE_EINVAL);
	cJSON_Delete(o);
}

struct dur_case {
	const char *s;
	int rc;
	int64_t ms;
};

static void duration__table(void **state)
{
	static const struct dur_case cases[] = {
		{"5m", 0, 300000}, {"15m", 0, 900000}, {"1h", 0, 3600000}, {"1h30m", 0, 5400000},
		{"90s", 0, 90000}, {"none", 0, -1}, {"0s", 0, 0},
		{NULL, KUBE_EINVAL, 0}, {"", KUBE_EINVAL, 0}, {"5", KUBE_EINVAL, 0}, {"m", KUBE_EINVAL, 0},
		{"5d", KUBE_EINVAL, 0}, {"-5m", KUBE_EINVAL, 0}, {"9999999999h", KUBE_EINVAL, 0},
		{"9000h", KUBE_EINVAL, 0}, {"None", KUBE_EINVAL, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = 12345;
		int rc = intent_duration_parse(cases[i].s, &ms);

		if (rc != cases[i].rc || (rc == 0 && ms != cases[i].ms))
			fail_msg("duration \"%s\": rc %d ms %lld, want rc %d ms %lld", cases[i].s ? cases[i].s : "(null)",
				 rc, (long long)ms, cases[i].rc, (long long)cases[i].ms);
	}
}

static void names__round_trip(void **state)
{
	enum intent_mode m;
	enum intent_priority pr;

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(intent_mode_parse(intent_mode_name((enum intent_mode)i), &m), 0);
		assert_int_equal(m, i);
	}
	for (int i = 0; i < INTENT_PRIO_COUNT; i++) {
		assert_int_equal(intent_priority_parse(intent_priority_name((enum intent_priority)i), &pr), 0);
		assert_int_equal(pr, i);
	}
	assert_int_equal(intent_priority_parse("Critical", &pr), KUBE_EINVAL);
	assert_int_equal(intent_mode_parse(NULL, &m), KUBE_EINVAL);
	assert_string_equal(intent_priority_name((enum intent_priority)9), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(policy__defaults_when_absent),
		cmocka_unit_test(policy__full),
		cmocka_unit_test(policy__invalid_names_the_field),
		cmocka_unit_test(policy__spec_not_object),
		cmocka_unit_test(duration__table),
		cmocka_unit_test(names__round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
