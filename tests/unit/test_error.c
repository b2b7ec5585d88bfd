/* Error mapping from HTTP status and Status.reason to library codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kube_error.h"

static void error__http_mapping(void **state)
{
	static const struct { long status; const char *reason; int want; } cases[] = {
		{200, NULL, KUBE_OK}, {201, NULL, KUBE_OK}, {404, "NotFound", KUBE_ENOTFOUND},
		{409, "AlreadyExists", KUBE_EALREADYEXISTS}, {409, "Conflict", KUBE_ECONFLICT},
		{409, NULL, KUBE_ECONFLICT}, {410, "Gone", KUBE_EGONE}, {200, "Expired", KUBE_OK},
		{500, "Expired", KUBE_EGONE}, {403, "Forbidden", KUBE_EFORBIDDEN},
		{422, "Invalid", KUBE_EINVALID}, {429, "TooManyRequests", KUBE_ETOOMANY},
		{503, NULL, KUBE_ESERVER}, {504, NULL, KUBE_ESERVERTIMEOUT}, {418, NULL, KUBE_EHTTP},
		{415, "UnsupportedMediaType", KUBE_EUNSUPPORTED}, {401, NULL, KUBE_EUNAUTHORIZED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(kube_err_from_http(cases[i].status, cases[i].reason), cases[i].want);
}

static void error__names(void **state)
{
	assert_string_equal(kube_strerror(KUBE_ECONFLICT), "conflict");
	assert_string_equal(kube_strerror(KUBE_ETOOBIG), "result too large");
	assert_string_equal(kube_strerror(12345), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error__http_mapping),
		cmocka_unit_test(error__names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
