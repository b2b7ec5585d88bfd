/* intent_audit: the trail keeps the latest K entries oldest first, total counts all; optional
 * fields are left out; a malformed trail is repaired; bad input changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "json_testutil.h"

#include "intent/intent_audit.h"
#include "kube_error.h"

static void audit__bounded_latest_k(void **state)
{
	cJSON *st = J("{}");
	char reason[16];

	(void)state;
	for (int i = 0; i < 25; i++) {
		struct intent_audit_entry e = {"2026-12-01T20:00:00Z", "operator", "Evaluated", NULL, NULL, reason};

		snprintf(reason, sizeof(reason), "r%d", i);
		assert_int_equal(intent_audit_append(st, &e, 3), 0);
	}
	assert_json_eq(cJSON_GetObjectItem(st, "audit"),
		       "{'total':25,'entries':["
		       "{'time':'2026-12-01T20:00:00Z','actor':'operator','action':'Evaluated','reason':'r22'},"
		       "{'time':'2026-12-01T20:00:00Z','actor':'operator','action':'Evaluated','reason':'r23'},"
		       "{'time':'2026-12-01T20:00:00Z','actor':'operator','action':'Evaluated','reason':'r24'}]}",
		       "audit after 25 appends, keep 3");
	cJSON_Delete(st);
}

static void audit__all_fields(void **state)
{
	cJSON *st = J("{'phase':'Queued'}");
	struct intent_audit_entry e = {"2026-12-01T20:00:00Z", "alice", "Approved", "Governance", "Approve", "looks right"};

	(void)state;
	assert_int_equal(intent_audit_append(st, &e, INTENT_AUDIT_KEEP), 0);
	assert_json_eq(st,
		       "{'phase':'Queued','audit':{'total':1,'entries':[{'time':'2026-12-01T20:00:00Z','actor':'alice',"
		       "'action':'Approved','gate':'Governance','decision':'Approve','reason':'looks right'}]}}",
		       "status");
	cJSON_Delete(st);
}

static void audit__malformed_is_repaired(void **state)
{
	static const char *const BAD[] = {
		"{'audit':'x'}", "{'audit':{'entries':{}}}", "{'audit':{'total':'many','entries':[{},{}]}}",
	};
	static const int want_total[] = {1, 1, 3};
	struct intent_audit_entry e = {"t", "operator", "Queued", NULL, NULL, NULL};

	(void)state;
	for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
		cJSON *st = J(BAD[i]), *audit;

		assert_int_equal(intent_audit_append(st, &e, 5), 0);
		audit = cJSON_GetObjectItem(st, "audit");
		assert_int_equal(cJSON_GetObjectItem(audit, "total")->valueint, want_total[i]);
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(audit, "entries")), 1);
		cJSON_Delete(st);
	}
}

static void audit__bad_input_changes_nothing(void **state)
{
	cJSON *st = J("{'audit':{'total':4,'entries':[]}}");
	struct intent_audit_entry ok = {"t", "operator", "Queued", NULL, NULL, NULL};
	struct intent_audit_entry no_actor = {"t", NULL, "Queued", NULL, NULL, NULL};
	cJSON *arr = J("[]");

	(void)state;
	assert_int_equal(intent_audit_append(NULL, &ok, 5), KUBE_EINVAL);
	assert_int_equal(intent_audit_append(st, NULL, 5), KUBE_EINVAL);
	assert_int_equal(intent_audit_append(st, &no_actor, 5), KUBE_EINVAL);
	assert_int_equal(intent_audit_append(st, &ok, 0), KUBE_EINVAL);
	assert_int_equal(intent_audit_append(arr, &ok, 5), KUBE_EINVAL);
	assert_json_eq(st, "{'audit':{'total':4,'entries':[]}}", "unchanged");
	cJSON_Delete(st);
	cJSON_Delete(arr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(audit__bounded_latest_k),
		cmocka_unit_test(audit__all_fields),
		cmocka_unit_test(audit__malformed_is_repaired),
		cmocka_unit_test(audit__bad_input_changes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
