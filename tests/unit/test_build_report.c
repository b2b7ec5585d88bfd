/* Unit tests for reading Build step termination messages (controller/build/phx_build_report.c):
 * what phoenix-build writes parses back; hostile, oversized or malformed fields are dropped or
 * cut and named, never copied unbounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build/phx_build_report.h"
#include "kube_error.h"
#include "pb_report.h"

#define SHA64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* What phoenix-build writes is what the controller reads. */
static void report__round_trip(void **state)
{
	struct pb_report r = { .step = "test", .result = "Failed", .reason = "TestsFailed",
			       .build_system = "npm", .test_command = "npm test",
			       .message = "`npm test` exited 1; last output:", .tail = "boom\n",
			       .exit_code = 1 };
	char line[PB_REPORT_MAX];
	assert_true(pb_report_format(&r, line, PB_REPORT_DEFAULT) > 0);
	struct phx_build_step_report p;
	assert_int_equal(phx_build_step_report_parse(line, &p), 0);
	assert_true(p.json);
	assert_string_equal(p.step, "test");
	assert_string_equal(p.result, "Failed");
	assert_string_equal(p.reason, "TestsFailed");
	assert_string_equal(p.build_system, "npm");
	assert_string_equal(p.test_command, "npm test");
	assert_string_equal(p.message, "`npm test` exited 1; last output:\nboom\n");
	assert_int_equal(p.exit_code, 1);
	assert_string_equal(p.bad_field, "");
	assert_string_equal(p.commit_sha, "");
}

static void report__fields_checked(void **state)
{
	static const struct {
		const char *text;
		int rc;
		const char *bad;
		const char *image;
		const char *sha;
		const char *reason;
		int exit_code;
	} cases[] = {
		{ "{'step':'image','image':'reg.io/a/b:1@sha256:" SHA64 "'}", 0, "",
		  "reg.io/a/b:1@sha256:" SHA64, "", "", -1 },
		{ "{'image':'reg.io/a/b:latest'}", 0, "image", "", "", "", -1 },
		{ "{'image':'@sha256:" SHA64 "'}", 0, "image", "", "", "", -1 },
		{ "{'image':'a b@sha256:" SHA64 "'}", 0, "image", "", "", "", -1 },
		{ "{'image':'a@sha256:" SHA64 "0'}", 0, "image", "", "", "", -1 },
		{ "{'image':'a@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef'}",
		  0, "image", "", "", "", -1 },
		{ "{'commitSha':'" SHA64 "'}", 0, "", "", SHA64, "", -1 },
		{ "{'commitSha':'abc1234'}", 0, "", "", "abc1234", "", -1 },
		{ "{'commitSha':'abc'}", 0, "commitSha", "", "", "", -1 },
		{ "{'commitSha':'$(rm -rf /)'}", 0, "commitSha", "", "", "", -1 },
		{ "{'reason':'Tests Failed','exitCode':2}", 0, "reason", "", "", "", 2 },
		{ "{'reason':7,'exitCode':'2'}", 0, "reason", "", "", "", -1 },
		{ "{'reason':'PushFailed','exitCode':300}", 0, "exitCode", "", "", "PushFailed", -1 },
		{ "{'reason':'PushFailed','exitCode':-1}", 0, "exitCode", "", "", "PushFailed", -1 },
		{ "{}", 0, "", "", "", "", -1 },
		{ "[1,2]", KUBE_EPARSE, "", "", "", "", -1 },
		{ "Error: something crashed", KUBE_EPARSE, "", "", "", "", -1 },
		{ "", 0, "", "", "", "", -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = strdup(cases[i].text);
		for (char *c = t; *c; c++)
			if (*c == '\'')
				*c = '"';
		struct phx_build_step_report p;
		int rc = phx_build_step_report_parse(t, &p);
		if (rc != cases[i].rc || strcmp(p.bad_field, cases[i].bad) ||
		    strcmp(p.image, cases[i].image) || strcmp(p.commit_sha, cases[i].sha) ||
		    strcmp(p.reason, cases[i].reason) || p.exit_code != cases[i].exit_code)
			fail_msg("case %zu (%s): rc %d bad '%s' image '%s' sha '%s' reason '%s' exit %d",
				 i, t, rc, p.bad_field, p.image, p.commit_sha, p.reason, p.exit_code);
		free(t);
	}
	assert_int_equal(phx_build_step_report_parse(NULL, NULL), KUBE_EINVAL);
	struct phx_build_step_report p;
	assert_int_equal(phx_build_step_report_parse(NULL, &p), 0);
	assert_false(p.json);
}

static void report__long_text_cut(void **state)
{
	/* A 10 KB message of 3-byte characters: cut to the buffer without a broken sequence. */
	size_t n = 3400;
	char *text = malloc(n * 3 + 64);
	strcpy(text, "{\"message\":\"x"); /* 1 + 3k bytes: the cut at 1023 falls mid-character */
	char *p = text + strlen(text);
	for (size_t i = 0; i < n; i++, p += 3)
		memcpy(p, "\xe2\x82\xac", 3);
	strcpy(p, "\",\"testCommand\":\"x\"}");
	struct phx_build_step_report r;
	assert_int_equal(phx_build_step_report_parse(text, &r), 0);
	size_t len = strlen(r.message);
	assert_true(len < PHX_BUILD_TEXT_MAX);
	assert_true(len > PHX_BUILD_TEXT_MAX - 4);
	assert_int_equal((len - 1) % 3, 0);
	assert_string_equal(r.test_command, "x");
	/* A non-JSON text (a log tail) keeps its end. */
	memset(text, 'a', n * 3);
	strcpy(text + n * 3, "THE-END");
	assert_int_equal(phx_build_step_report_parse(text, &r), KUBE_EPARSE);
	assert_int_equal(strlen(r.message), PHX_BUILD_TEXT_MAX - 1);
	assert_string_equal(r.message + strlen(r.message) - 7, "THE-END");
	free(text);
}

static void digest__valid(void **state)
{
	assert_true(phx_build_image_digest_valid("a@sha256:" SHA64));
	assert_false(phx_build_image_digest_valid("a@b@sha256:" SHA64));
	assert_false(phx_build_image_digest_valid("a@sha512:" SHA64));
	assert_false(phx_build_image_digest_valid(NULL));
	assert_false(phx_build_image_digest_valid(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(report__round_trip),
		cmocka_unit_test(report__fields_checked),
		cmocka_unit_test(report__long_text_cut),
		cmocka_unit_test(digest__valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
