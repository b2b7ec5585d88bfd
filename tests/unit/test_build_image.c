/* Unit tests for the local image builder's pure parts (cmd/phoenix-build/pb_image.c): the
 * manifest from a Dockerfile, image names and store names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pb_image.h"

static void expect_manifest(const char *dockerfile, const char *want)
{
	cJSON *m = pb_image_manifest(dockerfile);
	if (!want) {
		assert_null(m);
		return;
	}
	assert_non_null(m);
	char *got = cJSON_PrintUnformatted(m);
	assert_string_equal(got, want);
	free(got);
	cJSON_Delete(m);
}

static void manifest__dockerfile_forms(void **state)
{
	(void)state;
	expect_manifest("FROM python:3\nWORKDIR /app\nCOPY . .\nENV A=1 B=\"two\"\nEXPOSE 8080\n"
			"CMD [\"python3\", \"server.py\"]\n",
			"{\"cmd\":[\"python3\",\"server.py\"],\"env\":[\"A=1\",\"B=two\"]}");
	expect_manifest("from alpine\nentrypoint [\"bin/svc\"]\ncmd --port \\\n  8080\nworkdir sub\n"
			"env KEY some value\n",
			"{\"entrypoint\":[\"bin/svc\"],\"cmd\":[\"/bin/sh\",\"-c\",\"--port     8080\"],"
			"\"env\":[\"KEY=some value\"],\"workdir\":\"sub\"}");
	/* a later stage replaces an earlier one's command */
	expect_manifest("FROM a AS build\nCMD [\"make\"]\nFROM b\nCMD [\"./svc\"]\n",
			"{\"cmd\":[\"./svc\"]}");
	/* no command: no image */
	expect_manifest("FROM scratch\nCOPY . .\n", NULL);
	expect_manifest(NULL, NULL);
	/* a broken exec form is taken as shell text */
	expect_manifest("CMD [\"unterminated\n", "{\"cmd\":[\"/bin/sh\",\"-c\",\"[\\\"unterminated\"]}");
}

static void names(void **state)
{
	(void)state;
	char b[256];
	assert_string_equal(pb_image_name("registry.local/team/x:1.0", b, sizeof(b)),
			    "registry.local/team/x");
	assert_string_equal(pb_image_name("host:5000/x", b, sizeof(b)), "host:5000/x");
	assert_string_equal(pb_image_name("host:5000/x:v1@sha256:ab", b, sizeof(b)), "host:5000/x");
	assert_string_equal(pb_image_store_name("r.io/a/b@sha256:ff", b, sizeof(b)),
			    "r.io_a_b@sha256_ff");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(manifest__dockerfile_forms),
		cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
