/* JSON helpers shared by the table-driven cmocka tests (include after <cmocka.h>).
 * Test JSON uses single quotes for readability; J() turns them into double quotes. */
#ifndef JSON_TESTUTIL_H
#define JSON_TESTUTIL_H

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Parses test JSON written with single quotes; fails the test on bad JSON. NULL in, NULL out.
 * The caller frees the result. */
static inline cJSON *J(const char *s)
{
	char *buf;
	cJSON *v;

	if (!s)
		return NULL;
	buf = strdup(s);
	assert_non_null(buf);
	for (char *c = buf; *c; c++) {
		if (*c == '\'')
			*c = '"';
	}
	v = cJSON_Parse(buf);
	if (!v)
		fail_msg("test JSON does not parse: %s", s);
	free(buf);
	return v;
}

/* Fails the test, printing both sides, unless `got` equals the JSON `want_s` structurally. */
static inline void assert_json_eq(const cJSON *got, const char *want_s, const char *name)
{
	cJSON *want = J(want_s);

	if (!cJSON_Compare(got, want, 1)) {
		char *g = got ? cJSON_PrintUnformatted(got) : strdup("(null)");

		print_error("case %s:\n  got  %s\n  want %s\n", name, g, want_s);
		free(g);
		cJSON_Delete(want);
		fail();
	}
	cJSON_Delete(want);
}

#endif
