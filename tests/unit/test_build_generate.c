/* Unit tests for the built-in generator (cmd/phoenix-build/pb_generate.c): the SPEC the Intent
 * controller writes (intent_spec_run, so the two formats cannot drift apart) and hand-written
 * ones parse into features and dependencies; bad SPECs are refused with a message; the
 * generated service's own tests run for real (`make test`, Python 3) and pass, one test per
 * feature stub, and detection picks the same command the Build's test step will run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "intent/intent_spec.h"
#include "pb_detect.h"
#include "pb_generate.h"
#include "pb_run.h"

static const char intent_json[] =
	"{\"metadata\":{\"name\":\"currency\",\"namespace\":\"team\"},"
	"\"spec\":{\"serviceName\":\"currency\",\"port\":9090,"
	"\"purpose\":\"Converts amounts between currencies for the checkout team at the shop\","
	"\"keyFeatures\":[\"Return the current exchange rate for a currency pair\","
	"\"Convert an amount from one currency into another currency\","
	"\"List every supported currency with its ISO code\"],"
	"\"dependencies\":[\"rates-feed\",\"audit\"]}}";

/* The SPEC the Intent controller would write for intent_json (its gated loop). */
static char *intent_spec(void)
{
	cJSON *intent = cJSON_Parse(intent_json);
	struct intent_spec_outcome out;
	assert_non_null(intent);
	assert_int_equal(intent_spec_run(intent, NULL, 80, 3, &out), 0);
	cJSON_Delete(intent);
	return out.md; /* owned by the caller now */
}

/* md parses (with the overrides) into service, port and nfeatures features. */
static void expect_parse(const char *md, const char *service, int port, struct pb_gen_spec *s,
			 const char *want_service, int want_port, int want_features)
{
	char err[512] = "";
	if (pb_gen_parse(md, service, port, s, err, sizeof(err)) != 0)
		fail_msg("the SPEC did not parse: %s", err);
	assert_string_equal(s->service, want_service);
	assert_int_equal(s->port, want_port);
	assert_int_equal(s->nfeatures, want_features);
}

static void parse__intent_spec(void **state)
{
	(void)state;
	char *md = intent_spec();
	struct pb_gen_spec s;
	expect_parse(md, NULL, 0, &s, "currency", 9090, 3);
	assert_string_equal(s.features[0].name, "Return the current exchange rate for a currency pair");
	assert_string_equal(s.features[0].slug, "return-the-current-exchange-rate-for-a");
	assert_string_equal(s.features[2].slug, "list-every-supported-currency-with-its");
	for (int i = 0; i < s.nfeatures; i++)
		assert_true(strlen(s.features[i].slug) <= PB_GEN_SLUG_MAX);
	assert_int_equal(s.ndeps, 2);
	assert_string_equal(s.deps[0], "rates-feed");
	assert_string_equal(s.deps[1], "audit");
	/* the Build's serviceName and deploy port win over the SPEC's */
	expect_parse(md, "fx", 7000, &s, "fx", 7000, 3);
	free(md);
}

static void parse__hand_written(void **state)
{
	(void)state;
	struct pb_gen_spec s;
	/* items instead of headings; acceptance lines are not features; duplicate and symbol-only
	 * names still get unique slugs; control bytes and bad UTF-8 are cleaned */
	const char *md = "# orders\r\n\r\n## Features\n\n- Take an order\n  - Acceptance: 200\n"
			 "* take an ORDER!\n- Acceptance: not a feature\n- ???\n- caf\xc3\xa9 \x01"
			 "bad \xff byte\n\n## Dependencies\n\nNone.\n\n## Configuration\n\n"
			 "- PORT: 8181\n";
	expect_parse(md, NULL, 0, &s, "orders", 8181, 4);
	assert_string_equal(s.features[0].slug, "take-an-order");
	assert_string_equal(s.features[1].slug, "take-an-order-2");
	assert_string_equal(s.features[2].slug, "feature-3");
	assert_string_equal(s.features[3].name, "caf\xc3\xa9  bad ? byte");
	assert_string_equal(s.features[3].slug, "caf-bad-byte");
	assert_int_equal(s.ndeps, 0);
	/* numbered headings; dependencies without backquotes, repeated once; no port: 8080 */
	md = "# SPEC: inv\n## Features\n### 1) Count stock\n### 2. Reserve stock\n"
	     "## Dependencies\n- db: the store\n- `db`\n- cache\n";
	expect_parse(md, NULL, 0, &s, "inv", 8080, 2);
	assert_string_equal(s.features[0].name, "Count stock");
	assert_string_equal(s.features[1].name, "Reserve stock");
	assert_int_equal(s.ndeps, 2);
	assert_string_equal(s.deps[1], "cache");
}

static void parse__bad_spec_refused(void **state)
{
	(void)state;
	static const struct {
		const char *md, *service, *want;
	} cases[] = {
		{ "", NULL, "the SPEC is empty" },
		{ " \n\t\n", NULL, "the SPEC is empty" },
		{ "# SPEC: a\n## Purpose\nx\n", NULL, "no \"## Features\" section" },
		{ "# SPEC: a\n## Features\n(the Intent lists no features)\n## Contract\n", NULL,
		  "lists no feature" },
		{ "# My Service\n## Features\n- x\n", NULL, "is not a DNS label" },
		{ "# SPEC: a\n## Features\n- x\n", "Bad_Name", "is not a DNS label" },
		{ "# SPEC: a\n## Features\n- x\n## Dependencies\n- `Rates Feed`: http\n", NULL,
		  "dependency \"Rates Feed\"" },
	};
	struct pb_gen_spec s;
	char err[512];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(pb_gen_parse(cases[i].md, cases[i].service, 0, &s, err, sizeof(err)),
				 -1);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: want \"%s\" in \"%s\"", i, cases[i].want, err);
	}
	assert_int_equal(pb_gen_parse(NULL, NULL, 0, &s, err, sizeof(err)), -1);
	/* more features than stubs written */
	char big[4096] = "# SPEC: a\n## Features\n";
	for (int i = 0; i <= PB_GEN_MAX_FEATURES; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "- feature %d\n", i);
	assert_int_equal(pb_gen_parse(big, NULL, 0, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 32 features"));
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static char *slurp(const char *dir, const char *name)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = calloc(1, 1 << 20);
	assert_non_null(buf);
	(void)!fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	return buf;
}

static bool have_python3(void)
{
	struct pb_run_result res;
	return pb_run_shell("/", "python3 -c 'import http.server, unittest' && command -v make",
			    30, -1, &res) == 0 && res.exit_code == 0;
}

/* Generates from md into a temp dir and runs its tests; returns the dir (caller removes). */
static void generate_and_test(const char *md, int features, int tests)
{
	struct pb_gen_spec *s = calloc(1, sizeof(*s));
	char err[512] = "", files[256], dir[] = "/tmp/pb-gen-XXXXXX";
	assert_non_null(s);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(pb_gen_parse(md, NULL, 0, s, err, sizeof(err)), 0);
	assert_int_equal(s->nfeatures, features);
	assert_int_equal(pb_gen_write(dir, s, files, sizeof(files), err, sizeof(err)), 6);
	assert_string_equal(files, "service.py, service.json, test_service.py, Makefile, "
			    "Dockerfile, README.md");
	char *json = slurp(dir, "service.json");
	assert_int_equal(count(json, "\"/features/"), features);
	free(json);
	char *df = slurp(dir, "Dockerfile");
	assert_non_null(strstr(df, "\nCMD [\"python3\", \"service.py\"]\n"));
	assert_non_null(strstr(df, "\nWORKDIR /app\n"));
	assert_non_null(strstr(df, "ENV SERVICE_NAME="));
	free(df);
	/* the test step detects make and runs `make test` */
	struct pb_env env = { .have_pytest = false };
	struct pb_detection d;
	assert_int_equal(pb_detect(dir, &env, &d), 0);
	assert_string_equal(pb_system_name(d.system), PB_GEN_BUILD_SYSTEM);
	assert_string_equal(d.test_command, "make test");
	struct pb_run_result *res = calloc(1, sizeof(*res));
	assert_non_null(res);
	assert_int_equal(pb_run_shell(dir, d.test_command, 120, -1, res), 0);
	char want[64];
	snprintf(want, sizeof(want), "Ran %d tests", tests);
	if (res->exit_code != 0 || !strstr(res->tail, want) || !strstr(res->tail, "\nOK"))
		fail_msg("make test exited %d, want \"%s\" and OK:\n%s", res->exit_code, want,
			 res->tail);
	assert_int_equal(count(res->tail, "feature stub /features/"), features);
	free(res);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(s);
}

static void write__tests_pass(void **state)
{
	(void)state;
	if (!have_python3())
		skip();
	/* the Intent's SPEC: 3 features -> 3 stubs, 7 contract tests + 3 feature tests */
	char *md = intent_spec();
	generate_and_test(md, 3, 10);
	free(md);
	/* one feature, no dependencies; a name full of quotes and backslashes stays data */
	generate_and_test("# SPEC: echo\n## Features\n- Say \"hi\" \\ back ''' \"\"\" {x}\n", 1, 8);
}

static void write__unwritable_dir(void **state)
{
	(void)state;
	struct pb_gen_spec s;
	char err[512] = "", files[256];
	assert_int_equal(pb_gen_parse("# SPEC: a\n## Features\n- x\n", NULL, 0, &s, err,
				      sizeof(err)), 0);
	assert_int_equal(pb_gen_write("/nonexistent/dir", &s, files, sizeof(files), err,
				      sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot write /nonexistent/dir/service.py"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse__intent_spec),
		cmocka_unit_test(parse__hand_written),
		cmocka_unit_test(parse__bad_spec_refused),
		cmocka_unit_test(write__tests_pass),
		cmocka_unit_test(write__unwritable_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
