/* intent_spec: the builder's draft, the verifier's named findings, the optimizer fixing what they
 * name, and the gated loop: a complete Intent passes within 3 passes, a vague one does not, and
 * padding a vague SPEC with headings does not lift it to the gate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "json_testutil.h"

#include "intent/intent_spec.h"
#include "kube_error.h"

static const char *const COMPLETE =
	"{'spec':{'serviceName':'revenue-analytics','tier':2,'priority':'high','port':8080,"
	"'purpose':'Computes daily revenue per product line from the billing ledger for the finance team and exposes it to dashboards',"
	"'keyFeatures':['Aggregate ledger entries into daily revenue per product line',"
	"'Serve revenue totals over REST filtered by date range',"
	"'Alert finance when daily revenue drops twenty percent'],"
	"'dependencies':['billing-ledger','fx-rates']}}";

static const char *const VAGUE =
	"{'spec':{'serviceName':'thing','purpose':'a service that does stuff and things','keyFeatures':['fast','good stuff']}}";

static int has_finding(const struct intent_spec_verdict *v, const char *name)
{
	for (size_t i = 0; i < v->nfindings; i++)
		if (strcmp(v->findings[i].name, name) == 0)
			return 1;
	return 0;
}

static void build__draft_has_every_section(void **state)
{
	cJSON *in = J(COMPLETE);
	char *md = NULL;
	static const char *const want[] = {
		"# SPEC: revenue-analytics", "## Purpose", "billing ledger", "## Features",
		"### 1. Aggregate ledger entries", "## Contract", "### GET /health", "### GET /capabilities",
		"### GET /state", "### GET /dependencies", "### POST /message", "- Request: {\"from\"",
		"## Dependencies", "`billing-ledger`", "## Configuration", "`PORT`: 8080",
		"`BILLING_LEDGER_URL`", "## Tests", "## Deployment", "PhoenixService `revenue-analytics`", "## SLOs",
	};

	(void)state;
	assert_int_equal(intent_spec_build(in, &md), 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(md, want[i]))
			fail_msg("draft lacks \"%s\":\n%s", want[i], md);
	/* the draft states only what the Intent says: no assumption yet */
	assert_null(strstr(md, INTENT_SPEC_ASSUMPTION));
	free(md);
	cJSON_Delete(in);
}

static void verify__draft_findings(void **state)
{
	cJSON *in = J(COMPLETE);
	char *md = NULL;
	struct intent_spec_verdict v;

	(void)state;
	assert_int_equal(intent_spec_build(in, &md), 0);
	assert_int_equal(intent_spec_verify(md, in, &v), 0);
	/* features lack acceptance (20), both deps lack failure behaviour (10), 1 of 4 tests
	 * (10 * 3/4 = 7), no SLO (5 + 5): 100 - 47 = 53 */
	assert_int_equal(v.score, 53);
	assert_true(has_finding(&v, "acceptance-missing"));
	assert_true(has_finding(&v, "dependency-failure"));
	assert_true(has_finding(&v, "tests-missing"));
	assert_true(has_finding(&v, "slo-availability"));
	assert_true(has_finding(&v, "slo-latency"));
	assert_false(has_finding(&v, "purpose-vague"));
	assert_false(has_finding(&v, "contract-health"));
	free(md);
	cJSON_Delete(in);
}

struct edit_case {
	const char *from, *to; /* replace in the optimized SPEC */
	const char *finding;
	int lost;
};

/* Each check on a good SPEC, broken one at a time: the finding names it and costs its points. */
static void verify__each_check(void **state)
{
	static const struct edit_case cases[] = {
		{"### GET /health\n\n- Request: none\n- Response: {", "### GET /health\n\n- Request: none\n- Response: see code", "contract-health", 4},
		{"### POST /message", "### POST /msg", "contract-message", 4},
		{"- `fx-rates`: called over HTTP. On failure:", "- `fx-rates`: called over HTTP. Failure:", "dependency-failure", 5},
		{"- `PORT`: 8080", "- `PORT`: 80", "configuration-port", 4},
		{"PhoenixService `revenue-analytics`", "Deployment `revenue-analytics`", "deployment", 7},
		{"99.5%", "99.5 percent", "slo-availability", 5},
		{"under 500 ms", "under half a second", "slo-latency", 5},
		{"- Acceptance: [assumption] given a valid request exercising \"Serve", "- Notes: \"Serve", "acceptance-missing", 6},
		{"## Purpose\n\nComputes daily revenue per product line from the billing ledger for the finance team and exposes it to dashboards",
		 "## Purpose\n\nComputes revenue for finance dashboards", "purpose-thin", 7},
	};
	cJSON *in = J(COMPLETE);
	struct intent_spec_outcome o;

	(void)state;
	assert_int_equal(intent_spec_run(in, NULL, 90, 3, &o), 0);
	assert_int_equal(o.verdict.score, 100);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *at = strstr(o.md, cases[i].from);
		struct intent_spec_verdict v;
		char *edited;

		if (!at)
			fail_msg("case %zu: \"%s\" not in SPEC:\n%s", i, cases[i].from, o.md);
		edited = malloc(strlen(o.md) + strlen(cases[i].to) + 1);
		assert_non_null(edited);
		sprintf(edited, "%.*s%s%s", (int)(at - o.md), o.md, cases[i].to, at + strlen(cases[i].from));
		assert_int_equal(intent_spec_verify(edited, in, &v), 0);
		if (!has_finding(&v, cases[i].finding) || v.score != 100 - cases[i].lost)
			fail_msg("case %zu: score %d (want %d), finding %s %s", i, v.score, 100 - cases[i].lost,
				 cases[i].finding, has_finding(&v, cases[i].finding) ? "present" : "absent");
		free(edited);
	}
	intent_spec_outcome_release(&o);
	cJSON_Delete(in);
}

static void run__complete_intent_passes_within_3(void **state)
{
	cJSON *in = J(COMPLETE);
	struct intent_spec_outcome o;

	(void)state;
	assert_int_equal(intent_spec_run(in, NULL, 90, 3, &o), 0);
	assert_true(o.passed);
	assert_true(o.passes >= 2 && o.passes <= 3);
	assert_true(o.verdict.score >= 90);
	assert_int_equal(o.verdict.nfindings, 0);
	/* what the optimizer added is marked as assumed */
	assert_non_null(strstr(o.md, "- Acceptance: " INTENT_SPEC_ASSUMPTION));
	assert_non_null(strstr(o.md, "- Availability: " INTENT_SPEC_ASSUMPTION " 99.5%"));
	/* what the Intent said is kept */
	assert_non_null(strstr(o.md, "Alert finance when daily revenue drops twenty percent"));
	intent_spec_outcome_release(&o);
	/* one pass only: the draft does not reach the gate */
	assert_int_equal(intent_spec_run(in, NULL, 90, 1, &o), 0);
	assert_false(o.passed);
	assert_int_equal(o.passes, 1);
	intent_spec_outcome_release(&o);
	cJSON_Delete(in);
}

static void run__vague_intent_does_not_pass(void **state)
{
	cJSON *in = J(VAGUE);
	struct intent_spec_outcome o;

	(void)state;
	assert_int_equal(intent_spec_run(in, NULL, 90, 3, &o), 0);
	assert_false(o.passed);
	assert_true(o.verdict.score < 90);
	assert_true(has_finding(&o.verdict, "purpose-vague"));
	assert_true(has_finding(&o.verdict, "feature-vague"));
	assert_true(o.passes <= 3);
	intent_spec_outcome_release(&o);
	cJSON_Delete(in);
}

/* Headings and boilerplate do not count: a vague SPEC padded with repeated words and extra
 * sections stays below the gate. */
static void verify__padding_does_not_reach_gate(void **state)
{
	cJSON *in = J(VAGUE);
	struct intent_spec_outcome o;
	struct intent_spec_verdict v;
	char *padded;
	const char *pad = "\n## Purpose details\n\nstuff stuff stuff things things various service service\n"
			  "### 3. things things things\n- Acceptance: things things things\n";

	(void)state;
	assert_int_equal(intent_spec_run(in, NULL, 90, 3, &o), 0);
	padded = malloc(strlen(o.md) + strlen(pad) + 1);
	assert_non_null(padded);
	sprintf(padded, "%s%s", o.md, pad);
	assert_int_equal(intent_spec_verify(padded, in, &v), 0);
	assert_true(v.score < 90);
	assert_true(v.score <= o.verdict.score);
	free(padded);
	intent_spec_outcome_release(&o);
	cJSON_Delete(in);
}

/* A human's edit that drops sections: the optimizer restores them from the Intent and keeps the
 * rest of the edit. */
static void optimize__restores_missing_sections(void **state)
{
	cJSON *in = J(COMPLETE);
	const char *edit = "# SPEC: revenue-analytics\n\n## Purpose\n\nComputes daily revenue per product line from the billing "
			   "ledger for the finance team, reviewed by Dana.\n\n## Notes\n\nKeep this note.\n";
	struct intent_spec_outcome o;

	(void)state;
	assert_int_equal(intent_spec_run(in, edit, 90, 3, &o), 0);
	assert_true(o.passed);
	assert_non_null(strstr(o.md, "reviewed by Dana"));
	assert_non_null(strstr(o.md, "## Notes\n\nKeep this note."));
	assert_non_null(strstr(o.md, "### POST /message"));
	intent_spec_outcome_release(&o);
	cJSON_Delete(in);
}

static void bad_input__never_crashes(void **state)
{
	static const char *const BAD[] = {NULL, "{}", "[]", "{'spec':{'keyFeatures':[1,null],'dependencies':{},'tier':9,'port':-1}}"};
	struct intent_spec_verdict v;
	struct intent_spec_outcome o;
	char *md = NULL, *out = NULL;

	(void)state;
	assert_int_equal(intent_spec_build(NULL, NULL), KUBE_EINVAL);
	assert_int_equal(intent_spec_verify(NULL, NULL, NULL), KUBE_EINVAL);
	assert_int_equal(intent_spec_verify(NULL, NULL, &v), 0);
	assert_int_equal(v.score, 0);
	assert_true(has_finding(&v, "spec-missing"));
	assert_int_equal(intent_spec_optimize(NULL, NULL, &v, &out), KUBE_EINVAL);
	assert_int_equal(intent_spec_run(NULL, NULL, 90, 0, &o), KUBE_EINVAL);
	intent_spec_outcome_release(NULL);
	for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
		cJSON *in = J(BAD[i]);

		assert_int_equal(intent_spec_build(in, &md), 0);
		assert_int_equal(intent_spec_verify(md, in, &v), 0);
		assert_true(v.score >= 0 && v.score < 90);
		assert_int_equal(intent_spec_optimize(md, in, &v, &out), 0);
		free(out);
		free(md);
		assert_int_equal(intent_spec_run(in, "", 90, 3, &o), 0);
		assert_false(o.passed);
		intent_spec_outcome_release(&o);
		cJSON_Delete(in);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(build__draft_has_every_section),
		cmocka_unit_test(verify__draft_findings),
		cmocka_unit_test(verify__each_check),
		cmocka_unit_test(run__complete_intent_passes_within_3),
		cmocka_unit_test(run__vague_intent_does_not_pass),
		cmocka_unit_test(verify__padding_does_not_reach_gate),
		cmocka_unit_test(optimize__restores_missing_sections),
		cmocka_unit_test(bad_input__never_crashes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
