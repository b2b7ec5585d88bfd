/* Unit tests for phoenix-build (cmd/phoenix-build/): build-system detection order and the test
 * command chosen, Makefile target and package.json parsing, the termination-message bound, the
 * command runner (exit codes, tail, timeout) and the exit codes the controller relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "build/phx_build_classify.h"
#include "kube_error.h"
#include "pb_detect.h"
#include "pb_report.h"
#include "pb_run.h"

#ifndef PB_FIXTURES
#error "PB_FIXTURES (tests/fixtures/build) is set by CMakeLists.txt"
#endif

/* A fresh directory holding the given files ("name" or "name=content"; "name*" executable). */
static char *make_tree(const char *const *files)
{
	char *dir = strdup("/tmp/pb_detect_XXXXXX");
	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; files[i]; i++) {
		char name[128], path[512];
		const char *eq = strchr(files[i], '=');
		size_t nl = eq ? (size_t)(eq - files[i]) : strlen(files[i]);
		snprintf(name, sizeof(name), "%.*s", (int)nl, files[i]);
		bool exec = name[nl - 1] == '*';
		if (exec)
			name[nl - 1] = '\0';
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(eq ? eq + 1 : "", f);
		fclose(f);
		chmod(path, exec ? 0755 : 0644);
	}
	return dir;
}

static void remove_tree(char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

#define TESTS_MK "Makefile=all:\n\tcc x.c\ntest: all\n\t./x\n"
#define CHECK_MK "Makefile=all:\n\ttrue\ncheck:\n\ttrue\n"
#define NOTEST_MK "Makefile=all:\n\ttrue\n"
#define NPM_TEST "package.json={\"scripts\":{\"test\":\"jest\"}}"
#define NPM_DEFAULT "package.json={\"scripts\":{\"test\":\"echo \\\"Error: no test specified\\\" && exit 1\"}}"

static void detect__order_and_commands(void **state)
{
	static const struct {
		const char *files[5];
		bool pytest;
		enum pb_system want;
		const char *marker;
		const char *cmd; /* "" with no_tests */
	} cases[] = {
		{ { "Cargo.toml", NPM_TEST, "pyproject.toml", TESTS_MK }, true, PB_SYSTEM_CARGO,
		  "Cargo.toml", "cargo test" },
		{ { NPM_TEST, "pyproject.toml", "pom.xml", "Dockerfile" }, true, PB_SYSTEM_NPM,
		  "package.json", "npm test" },
		{ { NPM_DEFAULT, "pyproject.toml" }, true, PB_SYSTEM_NPM, "package.json", "" },
		{ { "package.json={\"name\":\"x\"}" }, true, PB_SYSTEM_NPM, "package.json", "" },
		{ { "package.json=not json" }, true, PB_SYSTEM_NPM, "package.json", "npm test" },
		{ { "requirements.txt", "setup.py", "pyproject.toml", "pom.xml" }, true,
		  PB_SYSTEM_PYTHON, "pyproject.toml", "python3 -m pytest" },
		{ { "requirements.txt", "setup.py", TESTS_MK }, true, PB_SYSTEM_PYTHON, "setup.py",
		  "python3 -m pytest" },
		{ { "requirements.txt" }, false, PB_SYSTEM_PYTHON, "requirements.txt",
		  "python3 -m unittest discover" },
		{ { "pom.xml", "build.gradle", TESTS_MK }, true, PB_SYSTEM_MAVEN, "pom.xml",
		  "mvn -B test" },
		{ { "pom.xml", "mvnw*" }, true, PB_SYSTEM_MAVEN, "pom.xml", "./mvnw -B test" },
		{ { "build.gradle", TESTS_MK, "Dockerfile" }, true, PB_SYSTEM_GRADLE, "build.gradle",
		  "gradle test" },
		{ { "build.gradle.kts", "gradlew*" }, true, PB_SYSTEM_GRADLE, "build.gradle.kts",
		  "./gradlew test" },
		{ { "settings.gradle", "gradlew" }, true, PB_SYSTEM_GRADLE, "settings.gradle",
		  "sh ./gradlew test" },
		{ { TESTS_MK, "Dockerfile" }, true, PB_SYSTEM_MAKE, "Makefile", "make test" },
		{ { CHECK_MK }, true, PB_SYSTEM_MAKE, "Makefile", "make check" },
		{ { NOTEST_MK, "Dockerfile" }, true, PB_SYSTEM_MAKE, "Makefile", "" },
		{ { "GNUmakefile=test:\n\ttrue\n" }, true, PB_SYSTEM_MAKE, "GNUmakefile", "make test" },
		{ { "Dockerfile", "README.md" }, true, PB_SYSTEM_DOCKERFILE, "Dockerfile", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *dir = make_tree(cases[i].files);
		struct pb_env env = { .have_pytest = cases[i].pytest };
		struct pb_detection d;
		int rc = pb_detect(dir, &env, &d);
		if (rc != 0 || d.system != cases[i].want || strcmp(d.marker, cases[i].marker) ||
		    strcmp(d.test_command, cases[i].cmd) || d.no_tests != !cases[i].cmd[0])
			fail_msg("case %zu: rc %d system %s marker %s cmd '%s' no_tests %d; want %s %s "
				 "'%s'", i, rc, pb_system_name(d.system), d.marker, d.test_command,
				 d.no_tests, pb_system_name(cases[i].want), cases[i].marker,
				 cases[i].cmd);
		remove_tree(dir);
	}
}

static void detect__none_and_bad_dir(void **state)
{
	static const char *const none[] = { "README.md", "src.c", NULL };
	char *dir = make_tree(none);
	struct pb_detection d;
	struct pb_env env = { .have_pytest = true };
	assert_int_equal(pb_detect(dir, &env, &d), KUBE_ENOTFOUND);
	assert_int_equal(d.system, PB_SYSTEM_NONE);
	assert_string_equal(pb_system_name(d.system), "");
	remove_tree(dir);
	assert_int_equal(pb_detect("/nonexistent/pb", &env, &d), KUBE_EINVAL);
	assert_int_equal(pb_detect(NULL, &env, &d), KUBE_EINVAL);
	assert_int_equal(pb_detect("/etc/hostname", &env, &d), KUBE_EINVAL);
}

/* Every fixture the e2e test runs is detected as the system its folder names. */
static void detect__fixtures(void **state)
{
	static const struct {
		const char *dir;
		const char *system;
		const char *cmd;
	} cases[] = {
		{ "cargo", "cargo", "cargo test" },   { "npm", "npm", "npm test" },
		{ "npm-notest", "npm", "" },         { "npm-failing", "npm", "npm test" },
		{ "python", "python", "python3 -m unittest discover" },
		{ "python-failing", "python", "python3 -m unittest discover" },
		{ "maven", "maven", "mvn -B test" }, { "gradle", "gradle", "gradle test" },
		{ "make", "make", "make test" },     { "make-failing", "make", "make test" },
		{ "make-check", "make", "make check" }, { "dockerfile", "dockerfile", "" },
	};
	struct pb_env env = { .have_pytest = false };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[512];
		struct pb_detection d;
		snprintf(path, sizeof(path), "%s/%s", PB_FIXTURES, cases[i].dir);
		assert_int_equal(pb_detect(path, &env, &d), 0);
		assert_string_equal(pb_system_name(d.system), cases[i].system);
		assert_string_equal(d.test_command, cases[i].cmd);
	}
	char path[512];
	struct pb_detection d;
	snprintf(path, sizeof(path), "%s/empty", PB_FIXTURES);
	assert_int_equal(pb_detect(path, &env, &d), KUBE_ENOTFOUND);
}

static void make__targets(void **state)
{
	static const struct {
		const char *text;
		bool test;
	} cases[] = {
		{ "test:\n\ttrue\n", true },
		{ "all test lint: deps\n", true },
		{ ".PHONY: all\nall:\n\ttrue\ntest: all\n", true },
		{ "test::\n\ttrue\n", true },
		{ "test := 1\nTEST=2\n", false },
		{ "tests:\n\ttrue\nunittest:\n", false },
		{ "all:\n\tmake test: x\n", false },
		{ "# test:\n", false },
		{ "X = a:b test\n", false },
		{ "", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (pb_make_has_target(cases[i].text, "test") != cases[i].test)
			fail_msg("case %zu (%s): want %d", i, cases[i].text, cases[i].test);
}

static void npm__test_script(void **state)
{
	assert_int_equal(pb_npm_has_test_script("{\"scripts\":{\"test\":\"node t.js\"}}"), 1);
	assert_int_equal(pb_npm_has_test_script("{\"scripts\":{\"test\":\"  \"}}"), 0);
	assert_int_equal(pb_npm_has_test_script("{\"scripts\":{\"test\":\"echo \\\"Error: no test "
						"specified\\\" && exit 1\"}}"), 0);
	assert_int_equal(pb_npm_has_test_script("{\"scripts\":{\"build\":\"tsc\"}}"), 0);
	assert_int_equal(pb_npm_has_test_script("{\"scripts\":{\"test\":7}}"), 0);
	assert_int_equal(pb_npm_has_test_script("[1]"), KUBE_EPARSE);
	assert_int_equal(pb_npm_has_test_script("{"), KUBE_EPARSE);
}

static void report__bounded_valid_json(void **state)
{
	/* 20 KB of output full of control bytes, quotes and broken UTF-8, ending with a marker. */
	size_t n = 20000;
	char *tail = malloc(n + 32);
	static const char pattern[] = "\x01\"\\\xc3\xa9\xff\n\x1b\xed\xa0\x80\xc0\xaf\xf5\xe2\x82";
	for (size_t i = 0; i < n; i++)
		tail[i] = pattern[i % (sizeof(pattern) - 1)];
	strcpy(tail + n, "\nLAST-LINE-MARKER");
	struct pb_report r = { .step = "test", .result = "Failed", .reason = "TestsFailed",
			       .message = "`make test` exited 2; last output:", .tail = tail,
			       .build_system = "make", .test_command = "make test",
			       .exit_code = 2 };
	char out[PB_REPORT_MAX];
	int len = pb_report_format(&r, out, sizeof(out));
	assert_true(len > 1000);
	assert_true(len < PB_REPORT_MAX);
	assert_int_equal((size_t)len, strlen(out));
	cJSON *j = cJSON_Parse(out);
	assert_non_null(j);
	const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(j, "message"));
	assert_non_null(msg);
	assert_true(strncmp(msg, "`make test` exited 2; last output:\n", 35) == 0);
	size_t ml = strlen(msg);
	assert_string_equal(msg + ml - strlen("LAST-LINE-MARKER"), "LAST-LINE-MARKER");
	for (size_t i = 0; i < ml; i++)
		assert_true((unsigned char)msg[i] >= 0x20 || msg[i] == '\n' || msg[i] == '\t');
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "reason")), "TestsFailed");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "exitCode")), 2);
	cJSON_Delete(j);
	/* Surrogates, overlong forms, bytes above U+10FFFF and cut sequences become '?'. */
	struct pb_report u = { .step = "test", .message = "a\xed\xa0\x80" "b\xc0\xaf" "c\xf5\xe2\x82"
			       "d\xf4\x90\x80\x80" "e\xe2\x82\xac\xf0\x9f\x98\x80", .exit_code = -1 };
	assert_true(pb_report_format(&u, out, sizeof(out)) > 0);
	assert_string_equal(out, "{\"step\":\"test\",\"message\":\"a???b??c???d????" "e\xe2\x82\xac"
			    "\xf0\x9f\x98\x80\"}");
	/* Small ones are untouched; a tiny cap that cannot hold the fixed fields is refused. */
	struct pb_report ok = { .step = "detect", .result = "Succeeded", .build_system = "npm",
				.exit_code = -1 };
	assert_true(pb_report_format(&ok, out, sizeof(out)) > 0);
	assert_string_equal(out, "{\"step\":\"detect\",\"result\":\"Succeeded\",\"buildSystem\":\"npm\"}");
	assert_int_equal(pb_report_format(&r, out, 40), KUBE_ETOOBIG);
	assert_int_equal(pb_report_format(&r, out, PB_REPORT_MAX + 1), KUBE_EINVAL);
	free(tail);
}

static void run__exit_tail_timeout(void **state)
{
	struct pb_run_result res;
	assert_int_equal(pb_run_shell("/", "echo one; echo two >&2; exit 3", 10, -1, &res), 0);
	assert_int_equal(res.exit_code, 3);
	assert_false(res.timed_out);
	assert_string_equal(res.tail, "one\ntwo\n");
	assert_int_equal(pb_run_shell("/", "printf 'a\\000b\\n'", 10, -1, &res), 0);
	assert_string_equal(res.tail, "a b\n");
	/* Long output: only the last bytes, starting at a line. */
	assert_int_equal(pb_run_shell("/", "seq 1 5000", 10, -1, &res), 0);
	assert_int_equal(res.exit_code, 0);
	assert_true(strlen(res.tail) <= PB_TAIL_MAX);
	assert_true(strstr(res.tail, "\n5000\n") != NULL);
	assert_true(res.tail[0] != '\n');
	assert_int_equal(strspn(res.tail, "0123456789\n"), strlen(res.tail));
	/* The deadline kills the whole group (the backgrounded sleep too: the pipe closes). */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(pb_run_shell("/", "echo started; sleep 60 & sleep 60", 1, -1, &res), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(res.timed_out);
	assert_int_equal(res.exit_code, PB_EXIT_TIMED_OUT);
	assert_string_equal(res.tail, "started\n");
	assert_true(t1.tv_sec - t0.tv_sec < 30);
	char *argv[] = { "/nonexistent/tool", NULL };
	assert_int_equal(pb_run("/", argv, 5, -1, &res), 0);
	assert_int_equal(res.exit_code, 127);
	assert_int_equal(pb_run_shell("/", NULL, 5, -1, &res), KUBE_EINVAL);
}

static void exit_codes__agree_with_controller(void **state)
{
	assert_int_equal(PB_EXIT_STEP_FAILED, PHX_BUILD_EXIT_STEP_FAILED);
	assert_int_equal(PB_EXIT_INVALID_INPUT, PHX_BUILD_EXIT_INVALID_INPUT);
	assert_int_equal(PB_EXIT_NO_BUILD_SYSTEM, PHX_BUILD_EXIT_NO_BUILD_SYSTEM);
	assert_int_equal(PB_EXIT_TIMED_OUT, PHX_BUILD_EXIT_TIMED_OUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(detect__order_and_commands),
		cmocka_unit_test(detect__none_and_bad_dir),
		cmocka_unit_test(detect__fixtures),
		cmocka_unit_test(make__targets),
		cmocka_unit_test(npm__test_script),
		cmocka_unit_test(report__bounded_valid_json),
		cmocka_unit_test(run__exit_tail_timeout),
		cmocka_unit_test(exit_codes__agree_with_controller),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
