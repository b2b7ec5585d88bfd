/* intent_state: conditions with Unknown that keep lastTransitionTime, the phase derived from the
 * conditions, the content hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "json_testutil.h"

#include "intent/intent_state.h"
#include "kube_error.h"
#include "kube_json.h"

static void cond__set_keeps_transition_time(void **state)
{
	cJSON *prev = cJSON_CreateArray(), *now = cJSON_CreateArray();

	(void)state;
	assert_int_equal(intent_cond_set(prev, NULL, "Approved", "Unknown", "AwaitingApproval", NULL, 1,
					 "2026-01-01T00:00:00Z"), 0);
	/* same status: the old time stays; reason and message change */
	assert_int_equal(intent_cond_set(now, prev, "Approved", "Unknown", "Other", "m", 2,
					 "2026-01-02T00:00:00Z"), 0);
	assert_string_equal(kube_json_get_str(intent_cond_find(now, "Approved"), "lastTransitionTime", NULL),
			    "2026-01-01T00:00:00Z");
	assert_true(intent_cond_is(now, "Approved", "Unknown", 2));
	assert_false(intent_cond_is(now, "Approved", "Unknown", 1));
	assert_true(intent_cond_is(now, "Approved", "Unknown", -1));
	/* another status: a new time; replacing keeps one condition of the type */
	assert_int_equal(intent_cond_set(now, prev, "Approved", "True", "alice", "ok", 2,
					 "2026-01-03T00:00:00Z"), 0);
	assert_int_equal(cJSON_GetArraySize(now), 1);
	assert_string_equal(kube_json_get_str(intent_cond_find(now, "Approved"), "lastTransitionTime", NULL),
			    "2026-01-03T00:00:00Z");
	assert_string_equal(kube_json_get_str(intent_cond_find(now, "Approved"), "reason", NULL), "alice");
	/* bad input */
	assert_int_equal(intent_cond_set(now, NULL, "X", "Maybe", "R", NULL, 1, "t"), KUBE_EINVAL);
	assert_int_equal(intent_cond_set(NULL, NULL, "X", "True", "R", NULL, 1, "t"), KUBE_EINVAL);
	assert_int_equal(intent_cond_set(now, NULL, "X", "True", NULL, NULL, 1, "t"), KUBE_EINVAL);
	assert_null(intent_cond_find(NULL, "X"));
	assert_false(intent_cond_is(NULL, "X", "True", -1));
	intent_cond_remove(now, "Approved");
	intent_cond_remove(now, "Absent");
	intent_cond_remove(NULL, "Absent");
	assert_int_equal(cJSON_GetArraySize(now), 0);
	cJSON_Delete(prev);
	cJSON_Delete(now);
}

struct phase_case {
	const char *conds;
	int64_t gen;
	int cancelled;
	const char *want;
};

static void phase__from_conditions(void **state)
{
	static const struct phase_case cases[] = {
		{"[]", 2, 0, "Pending"},
		{"[]", 2, 1, "Cancelled"},
		{"[{'type':'Evaluated','status':'True','reason':'AutoApproved','observedGeneration':1}]", 1, 0, "Evaluated"},
		/* a condition of an older generation does not count */
		{"[{'type':'Evaluated','status':'True','reason':'AutoApproved','observedGeneration':1}]", 2, 0, "Pending"},
		{"[{'type':'Evaluated','status':'True','reason':'Rejected','observedGeneration':2}]", 2, 0, "Rejected"},
		{"[{'type':'Evaluated','status':'True','reason':'RequiresApproval','observedGeneration':2},{'type':'Approved','status':'Unknown','reason':'AwaitingApproval','observedGeneration':2}]", 2, 0, "AwaitingApproval"},
		{"[{'type':'Evaluated','status':'True','reason':'X','observedGeneration':2},{'type':'Approved','status':'False','reason':'Denied','observedGeneration':2},{'type':'Denied','status':'True','reason':'bob','observedGeneration':2}]", 2, 0, "Denied"},
		{"[{'type':'Evaluated','status':'True','reason':'X','observedGeneration':2},{'type':'Queued','status':'True','reason':'Waiting','observedGeneration':2}]", 2, 0, "Queued"},
		{"[{'type':'Evaluated','status':'True','reason':'X','observedGeneration':2},{'type':'Queued','status':'False','reason':'Admitted','observedGeneration':2}]", 2, 0, "Specifying"},
		{"[{'type':'Evaluated','status':'True','reason':'X','observedGeneration':2},{'type':'SpecReady','status':'False','reason':'BelowGate','observedGeneration':2}]", 2, 0, "SpecReview"},
		{"[{'type':'Evaluated','status':'True','reason':'X','observedGeneration':2},{'type':'SpecReady','status':'False','reason':'BelowGate','observedGeneration':2},{'type':'SpecApproved','status':'True','reason':'alice','observedGeneration':2}]", 2, 0, "SpecReady"},
		{"[{'type':'Evaluated','status':'True','reason':'X','observedGeneration':2},{'type':'BuildSucceeded','status':'Unknown','reason':'Running','observedGeneration':2}]", 2, 0, "Building"},
		{"[{'type':'Evaluated','status':'True','reason':'X','observedGeneration':2},{'type':'BuildSucceeded','status':'False','reason':'TestFailed','observedGeneration':2}]", 2, 0, "Failed"},
		{"[{'type':'Evaluated','status':'True','reason':'X','observedGeneration':2},{'type':'BuildSucceeded','status':'True','reason':'Deployed','observedGeneration':2}]", 2, 0, "Deploying"},
		{"[{'type':'Evaluated','status':'True','reason':'X','observedGeneration':2},{'type':'BuildSucceeded','status':'True','reason':'Deployed','observedGeneration':2},{'type':'Ready','status':'True','reason':'Available','observedGeneration':2}]", 2, 0, "Ready"},
		{"[{'type':'Evaluated','status':'True','reason':'X','observedGeneration':2},{'type':'Ready','status':'True','reason':'Available','observedGeneration':2}]", 2, 1, "Cancelled"},
		{"{'not':'an array'}", 2, 0, "Pending"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *c = J(cases[i].conds);
		const char *got = intent_phase(c, cases[i].gen, cases[i].cancelled);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: want %s, got %s", i, cases[i].want, got);
		cJSON_Delete(c);
	}
	assert_string_equal(intent_phase(NULL, 1, false), "Pending");
}

static void hash__stable_and_distinct(void **state)
{
	char a[17], b[17], c[17];

	(void)state;
	intent_hash_hex("# SPEC", a);
	intent_hash_hex("# SPEC", b);
	intent_hash_hex("# SPEC ", c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), 16);
	intent_hash_hex(NULL, a);
	intent_hash_hex("", b);
	assert_string_equal(a, b);
}

/* Derived names (SPEC and generator-input ConfigMaps, the Intent label's value) always fit;
 * a name that fits comes out as before. */
static void derived__names_always_fit(void **state)
{
	char base[254], other[254], buf[300], buf2[300], hash[17];

	(void)state;
	intent_derived_name("app", "-spec", INTENT_NAME_MAX, buf, sizeof(buf));
	assert_string_equal(buf, "app-spec");
	intent_derived_name("app", "", INTENT_LABEL_MAX, buf, sizeof(buf));
	assert_string_equal(buf, "app");
	/* The longest Intent name: 253 characters, dots and dashes where the cut falls. */
	memset(base, 'a', 253);
	base[253] = 0;
	base[232] = '-';
	base[233] = '.';
	intent_derived_name(base, "-generator", INTENT_NAME_MAX, buf, sizeof(buf));
	assert_true(strlen(buf) <= INTENT_NAME_MAX);
	assert_non_null(strstr(buf, "-generator"));
	assert_int_equal(strlen(buf), 232 + 9 + 10); /* cut at 234, then before the "-." */
	intent_hash_hex(base, hash);
	assert_memory_equal(buf + 233, hash, 8);
	intent_derived_name(base, "-spec", INTENT_NAME_MAX, buf, sizeof(buf));
	assert_true(strlen(buf) <= INTENT_NAME_MAX);
	assert_string_equal(buf + strlen(buf) - 5, "-spec");
	/* A label value: at most 63, ends alphanumeric. */
	intent_derived_name(base, "", INTENT_LABEL_MAX, buf, sizeof(buf));
	assert_int_equal(strlen(buf), INTENT_LABEL_MAX);
	assert_true(buf[62] != '-' && buf[62] != '.');
	/* Same base, same name; two long names differing past the cut stay apart. */
	memcpy(other, base, sizeof(base));
	other[250] = 'b';
	intent_derived_name(base, "-spec", INTENT_NAME_MAX, buf, sizeof(buf));
	intent_derived_name(base, "-spec", INTENT_NAME_MAX, buf2, sizeof(buf2));
	assert_string_equal(buf, buf2);
	intent_derived_name(other, "-spec", INTENT_NAME_MAX, buf2, sizeof(buf2));
	assert_string_not_equal(buf, buf2);
	/* Exactly at the limit: as before. */
	base[248] = 0;
	intent_derived_name(base, "-spec", INTENT_NAME_MAX, buf, sizeof(buf));
	assert_int_equal(strlen(buf), 253);
	assert_memory_equal(buf, base, 248);
	/* A small buffer bounds it too; NULL and no room never crash. */
	intent_derived_name(base, "-spec", INTENT_NAME_MAX, buf, 40);
	assert_int_equal(strlen(buf), 39);
	assert_string_equal(buf + 34, "-spec");
	intent_derived_name(NULL, NULL, 10, buf, sizeof(buf));
	assert_string_equal(buf, "");
	intent_derived_name(base, "-generator", 5, buf, sizeof(buf));
	assert_string_equal(buf, "-gene");
	intent_derived_name(base, "-spec", 10, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cond__set_keeps_transition_time),
		cmocka_unit_test(phase__from_conditions),
		cmocka_unit_test(hash__stable_and_distinct),
		cmocka_unit_test(derived__names_always_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
