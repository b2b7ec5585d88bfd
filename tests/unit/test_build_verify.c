/* Unit tests for phoenix-build verify's contract check (cmd/phoenix-build/pb_verify.c): what
 * each of the five endpoints must answer, and what the message says when it does not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pb_verify.h"

static void check__good_answers(void **state)
{
	(void)state;
	char why[256];
	assert_true(pb_verify_check("/health", 200, "{\"status\":\"active\",\"service\":\"a\"}",
				    why, sizeof(why)));
	assert_true(pb_verify_check("/capabilities", 200, "{\"features\":[\"health\"]}", why,
				    sizeof(why)));
	assert_true(pb_verify_check("/capabilities", 200, "{}", why, sizeof(why)));
	assert_true(pb_verify_check("/state", 200, "{\"requests\":3}", why, sizeof(why)));
	assert_true(pb_verify_check("/dependencies", 200, "[]", why, sizeof(why)));
	assert_true(pb_verify_check("/dependencies", 200, "{\"allHealthy\":true}", why,
				    sizeof(why)));
	assert_true(pb_verify_check("/message", 202, "{\"accepted\":true}", why, sizeof(why)));
	assert_string_equal(pb_verify_endpoints[3], "GET /dependencies");
	assert_string_equal(pb_verify_endpoints[4], "POST /message");
}

static void check__wrong_answers(void **state)
{
	(void)state;
	char why[256];
	assert_false(pb_verify_check("/dependencies", 404, "{}", why, sizeof(why)));
	assert_string_equal(why, "HTTP 404: the endpoint is missing (want 200 and a JSON body)");
	assert_false(pb_verify_check("/health", 200, "{\"status\":\"draining\"}", why, sizeof(why)));
	assert_string_equal(why, "status is \"draining\", want \"active\"");
	assert_false(pb_verify_check("/health", 200, "{}", why, sizeof(why)));
	assert_string_equal(why, "status is missing, want \"active\"");
	assert_false(pb_verify_check("/health", 503, "{\"status\":\"active\"}", why, sizeof(why)));
	assert_string_equal(why, "HTTP 503, want 200");
	assert_false(pb_verify_check("/state", 200, "ok", why, sizeof(why)));
	assert_string_equal(why, "the body is not JSON");
	assert_false(pb_verify_check("/state", 200, NULL, why, sizeof(why)));
	assert_false(pb_verify_check("/state", 200, "[1]", why, sizeof(why)));
	assert_string_equal(why, "want a JSON object");
	assert_false(pb_verify_check("/capabilities", 200, "{\"features\":\"x\"}", why, sizeof(why)));
	assert_false(pb_verify_check("/dependencies", 200, "3", why, sizeof(why)));
	assert_false(pb_verify_check("/message", 405, "{}", why, sizeof(why)));
	assert_string_equal(why, "HTTP 405: the endpoint is missing (want 2xx and a JSON object)");
	assert_false(pb_verify_check("/message", 400, "{}", why, sizeof(why)));
	assert_false(pb_verify_check(NULL, 200, "{}", why, sizeof(why)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(check__good_answers),
		cmocka_unit_test(check__wrong_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
