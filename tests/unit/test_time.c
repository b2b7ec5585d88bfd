/* RFC 3339 (kube_time.h): table-driven parse cases, valid and invalid, formatting as metav1.Time
 * and MicroTime, round trips, and a mutation sweep that must never crash. Built with -DKUBE_FUZZ
 * this file is a libFuzzer target instead (see docs/lib/time.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"
#include "kube_time.h"

/* Properties every input must keep: no crash; a parsed time formats back and re-parses to the
 * same second; a rejected input leaves the outputs alone. */
static void check_one(const char *s)
{
	int64_t sec = 42, sec2 = 0;
	int32_t ns = 42;
	char buf[KUBE_TIME_LEN];

	if (kube_time_parse(s, &sec, &ns) != 0) {
		if (sec != 42 || ns != 42)
			abort();
		return;
	}
	if (ns < 0 || ns > 999999999)
		abort();
	if (kube_time_format(sec, buf, sizeof(buf)) != NULL &&
	    (kube_time_parse(buf, &sec2, NULL) != 0 || sec2 != sec))
		abort();
}

#ifdef KUBE_FUZZ

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_one(s);
	free(s);
	return 0;
}

#else

#include <cmocka.h>

struct valid_case {
	const char *in;
	int64_t sec;
	int32_t nsec;
};

static const struct valid_case VALID[] = {
	{"1970-01-01T00:00:00Z", 0, 0},
	{"2026-11-22T20:00:00Z", 1795377600, 0},
	{"2026-11-22T20:00:00.5Z", 1795377600, 500000000},
	{"2026-11-22T20:00:00.123456Z", 1795377600, 123456000},
	{"2026-11-22T20:00:00.123456789Z", 1795377600, 123456789},
	{"2026-11-22T20:00:00.000000001Z", 1795377600, 1},
	{"2026-11-22T20:00:00.1234567899Z", 1795377600, 123456789}, /* past ns: dropped */
	{"2026-11-22T21:30:00+01:30", 1795377600, 0},
	{"2026-11-22T15:00:00-05:00", 1795377600, 0},
	{"2026-11-22T20:00:00-00:00", 1795377600, 0},
	{"2026-11-23T19:59:00+23:59", 1795377600, 0},
	{"2024-02-29T00:00:00Z", 1709164800, 0}, /* leap day */
	{"2000-02-29T12:00:00Z", 951825600, 0},  /* divisible by 400: leap */
	{"1969-12-31T23:59:59Z", -1, 0},
	{"1969-12-31T23:59:59.25Z", -1, 250000000},
	{"0001-01-01T00:00:00Z", -62135596800, 0}, /* Go's zero time */
	{"9999-12-31T23:59:59Z", 253402300799, 0},
	{"1970-01-01T00:00:00+00:00", 0, 0},
};

static const char *const INVALID[] = {
	"",
	"garbage",
	"2026-11-22",
	"2026-11-22T20:00:00",          /* no offset */
	"2026-11-22 20:00:00Z",         /* space instead of T */
	"2026-11-22t20:00:00Z",         /* lower-case t */
	"2026-11-22T20:00:00z",         /* lower-case z */
	"2026-11-22T20:00Z",            /* no seconds */
	"2026-11-22T20:00:00Z ",        /* trailing text */
	" 2026-11-22T20:00:00Z",        /* leading space */
	"2026-11-22T20:00:00ZZ",
	"2026-11-22T20:00:00.Z",        /* dot without digits */
	"2026-11-22T20:00:00,5Z",       /* comma fraction (Go accepts it) */
	"2026-11-22T20:00:00+0100",     /* offset without colon */
	"2026-11-22T20:00:00+01",
	"2026-11-22T20:00:00+24:00",    /* Go accepts it */
	"2026-11-22T20:00:00+01:60",
	"2026-13-01T00:00:00Z",
	"2026-00-01T00:00:00Z",
	"2026-01-00T00:00:00Z",
	"2026-04-31T00:00:00Z",
	"2025-02-29T00:00:00Z",         /* not a leap year */
	"1900-02-29T00:00:00Z",         /* divisible by 100: not leap */
	"2026-11-22T24:00:00Z",
	"2026-11-22T23:60:00Z",
	"2026-11-22T23:59:60Z",         /* leap seconds: Go rejects them too */
	"+2026-11-22T20:00:00Z",
	"20261-11-22T20:00:00Z",
	"2026-1-22T20:00:00Z",
	"2026-11-22T2:00:00Z",          /* Go accepts one-digit fields */
	"2026/11/22T20:00:00Z",
	"2026-11-22T20:00:00\n",
	"2026-11-22T20:00:0aZ",
};

static void time__parses_valid_rfc3339(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(VALID) / sizeof(VALID[0]); i++) {
		int64_t sec = 0;
		int32_t ns = -1;
		int rc = kube_time_parse(VALID[i].in, &sec, &ns);
		if (rc != 0 || sec != VALID[i].sec || ns != VALID[i].nsec)
			fail_msg("%s: rc %d sec %lld ns %d, want %lld %d", VALID[i].in, rc,
				 (long long)sec, ns, (long long)VALID[i].sec, VALID[i].nsec);
	}
}

static void time__rejects_malformed_input_and_leaves_outputs_alone(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(INVALID) / sizeof(INVALID[0]); i++) {
		int64_t sec = 7, ms = 7, ns = 7;
		int32_t frac = 7;
		if (kube_time_parse(INVALID[i], &sec, &frac) != KUBE_EINVAL || sec != 7 || frac != 7)
			fail_msg("accepted or changed outputs: \"%s\"", INVALID[i]);
		assert_int_equal(kube_time_parse_ms(INVALID[i], &ms), KUBE_EINVAL);
		assert_int_equal(kube_time_parse_ns(INVALID[i], &ns), KUBE_EINVAL);
		assert_true(ms == 7 && ns == 7);
	}
	assert_int_equal(kube_time_parse(NULL, NULL, NULL), KUBE_EINVAL);
	assert_int_equal(kube_time_parse_ms(NULL, NULL), KUBE_EINVAL);
}

static void time__ms_and_ns_views(void **state)
{
	int64_t ms = 0, ns = 0;
	(void)state;

	assert_int_equal(kube_time_parse_ms("2026-11-22T20:00:00.987654Z", &ms), 0);
	assert_true(ms == INT64_C(1795377600987));
	assert_int_equal(kube_time_parse_ms("1969-12-31T23:59:59.5Z", &ms), 0);
	assert_true(ms == -500);
	assert_int_equal(kube_time_parse_ns("2026-11-22T20:00:00.000000042Z", &ns), 0);
	assert_true(ns == INT64_C(1795377600000000042));
	/* Outside int64 nanoseconds (1677..2262). */
	assert_int_equal(kube_time_parse_ns("2263-01-01T00:00:00Z", &ns), KUBE_EINVAL);
	assert_int_equal(kube_time_parse_ns("1600-01-01T00:00:00Z", &ns), KUBE_EINVAL);
	assert_int_equal(kube_time_parse_ns("2262-01-01T00:00:00Z", &ns), 0);
}

static void time__formats_like_metav1_time_and_microtime(void **state)
{
	char buf[KUBE_MICROTIME_LEN];
	(void)state;

	assert_string_equal(kube_time_format(1795377600, buf, KUBE_TIME_LEN),
			    "2026-11-22T20:00:00Z");
	assert_string_equal(kube_time_format(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
	assert_string_equal(kube_time_format(-1, buf, sizeof(buf)), "1969-12-31T23:59:59Z");
	assert_string_equal(kube_time_format(-62135596800, buf, sizeof(buf)),
			    "0001-01-01T00:00:00Z");
	assert_string_equal(kube_time_format_micro(INT64_C(1795377600123456789), buf,
						   KUBE_MICROTIME_LEN),
			    "2026-11-22T20:00:00.123456Z");
	assert_string_equal(kube_time_format_micro(-1, buf, sizeof(buf)),
			    "1969-12-31T23:59:59.999999Z");
	assert_string_equal(kube_time_format_micro(0, buf, sizeof(buf)),
			    "1970-01-01T00:00:00.000000Z");
	/* Too small a buffer or a year outside 0000..9999: NULL, buffer untouched. */
	strcpy(buf, "keep");
	assert_null(kube_time_format(0, buf, KUBE_TIME_LEN - 1));
	assert_null(kube_time_format_micro(0, buf, KUBE_MICROTIME_LEN - 1));
	assert_null(kube_time_format(253402300800, buf, sizeof(buf)));
	assert_null(kube_time_format(INT64_MIN, buf, sizeof(buf)));
	assert_null(kube_time_format(0, NULL, 64));
	assert_string_equal(buf, "keep");
}

static void time__round_trips_every_day_of_four_centuries(void **state)
{
	char buf[KUBE_MICROTIME_LEN];
	(void)state;

	/* 1900..2300 by 1 day + 1 s 7 ms, covering every leap rule; both formats. */
	for (int64_t t = -2208988800; t < 10413792000; t += 86401) {
		int64_t back = 0, ns = 0;
		assert_non_null(kube_time_format(t, buf, sizeof(buf)));
		assert_int_equal(kube_time_parse(buf, &back, NULL), 0);
		assert_true(back == t);
		if (t > -9000000000 && t < 9000000000) {
			int64_t wall = t * 1000000000 + 7000000;
			assert_non_null(kube_time_format_micro(wall, buf, sizeof(buf)));
			assert_int_equal(kube_time_parse_ns(buf, &ns), 0);
			assert_true(ns == wall);
		}
	}
}

static void time__mutations_never_crash(void **state)
{
	static const char alphabet[] = "0123456789-:T.Z+z ,\xff";
	uint32_t rng = 12345;
	(void)state;

	/* Every valid case with each byte replaced, dropped and truncated: properties hold. */
	for (size_t i = 0; i < sizeof(VALID) / sizeof(VALID[0]); i++) {
		char s[64];
		size_t n = strlen(VALID[i].in);
		for (size_t pos = 0; pos < n; pos++) {
			for (size_t a = 0; a < sizeof(alphabet) - 1; a++) {
				snprintf(s, sizeof(s), "%s", VALID[i].in);
				s[pos] = alphabet[a];
				check_one(s);
			}
			snprintf(s, sizeof(s), "%s", VALID[i].in);
			memmove(s + pos, s + pos + 1, n - pos);
			check_one(s);
			snprintf(s, sizeof(s), "%.*s", (int)pos, VALID[i].in);
			check_one(s);
		}
	}
	/* And random strings over the alphabet. */
	for (int k = 0; k < 20000; k++) {
		char s[40];
		size_t n = (rng = rng * 1103515245 + 12345) % 38;
		for (size_t j = 0; j < n; j++)
			s[j] = alphabet[(rng = rng * 1103515245 + 12345) >> 16 & 15];
		s[n] = '\0';
		check_one(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(time__parses_valid_rfc3339),
		cmocka_unit_test(time__rejects_malformed_input_and_leaves_outputs_alone),
		cmocka_unit_test(time__ms_and_ns_views),
		cmocka_unit_test(time__formats_like_metav1_time_and_microtime),
		cmocka_unit_test(time__round_trips_every_day_of_four_centuries),
		cmocka_unit_test(time__mutations_never_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
