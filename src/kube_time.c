/* RFC 3339 parsing and formatting (kube_time.h) on proleptic Gregorian day counts (Howard
 * Hinnant's days_from_civil / civil_from_days), so no timegm, TZ or locale is involved. */
#include "kube_time.h"

#include <stdbool.h>
#include <stdio.h>

#include "kube_error.h"

#define SEC_PER_DAY INT64_C(86400)

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n digits at *p into *out and moves *p past them. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool expect(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/* ".F+" or nothing; the fraction as nanoseconds (digits past the ninth are dropped, as Go). */
static bool fraction(const char **p, int32_t *nsec)
{
	int32_t v = 0;
	int n = 0;

	*nsec = 0;
	if (**p != '.')
		return true;
	(*p)++;
	for (; **p >= '0' && **p <= '9'; (*p)++, n++)
		if (n < 9)
			v = v * 10 + (**p - '0');
	if (n == 0)
		return false;
	for (; n < 9; n++)
		v *= 10;
	*nsec = v;
	return true;
}

/* "Z" or "+hh:mm" / "-hh:mm": the offset east of UTC in seconds. */
static bool offset(const char **p, int64_t *off)
{
	int sign, hh, mm;

	if (expect(p, 'Z')) {
		*off = 0;
		return true;
	}
	if (**p != '+' && **p != '-')
		return false;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (!digits(p, 2, &hh) || !expect(p, ':') || !digits(p, 2, &mm) || hh > 23 || mm > 59)
		return false;
	*off = sign * (int64_t)(hh * 3600 + mm * 60);
	return true;
}

int kube_time_parse(const char *s, int64_t *sec, int32_t *nsec)
{
	int y, mo, d, h, mi, se;
	int32_t ns;
	int64_t off;
	const char *p = s;

	if (s == NULL)
		return KUBE_EINVAL;
	if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) || !expect(&p, '-') ||
	    !digits(&p, 2, &d) || !expect(&p, 'T') || !digits(&p, 2, &h) || !expect(&p, ':') ||
	    !digits(&p, 2, &mi) || !expect(&p, ':') || !digits(&p, 2, &se) ||
	    !fraction(&p, &ns) || !offset(&p, &off) || *p != '\0')
		return KUBE_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
		return KUBE_EINVAL;
	if (sec != NULL)
		*sec = days_from_civil(y, mo, d) * SEC_PER_DAY + h * 3600 + mi * 60 + se - off;
	if (nsec != NULL)
		*nsec = ns;
	return 0;
}

int kube_time_parse_ms(const char *s, int64_t *ms)
{
	int64_t sec;
	int32_t ns;
	int rc = kube_time_parse(s, &sec, &ns);

	if (rc == 0 && ms != NULL)
		*ms = sec * 1000 + ns / 1000000;
	return rc;
}

int kube_time_parse_ns(const char *s, int64_t *ns)
{
	/* The whole seconds that fit in int64 nanoseconds, with room for the fraction. */
	const int64_t max_sec = INT64_MAX / 1000000000 - 1, min_sec = INT64_MIN / 1000000000 + 1;
	int64_t sec;
	int32_t frac;
	int rc = kube_time_parse(s, &sec, &frac);

	if (rc < 0)
		return rc;
	if (sec > max_sec || sec < min_sec)
		return KUBE_EINVAL;
	if (ns != NULL)
		*ns = sec * 1000000000 + frac;
	return 0;
}

/* "YYYY-MM-DDTHH:MM:SS" of sec into buf (>= 20 bytes; callers pass FMT_BUF, room for what
 * the compiler cannot prove out of range); false outside years 0..9999. */
#define FMT_BUF 32

static bool format_seconds(int64_t sec, char *buf, size_t len)
{
	int64_t days = sec / SEC_PER_DAY, rem = sec % SEC_PER_DAY, y;
	int m, d;

	if (rem < 0) {
		rem += SEC_PER_DAY;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return false;
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m, d, (int)(rem / 3600),
		 (int)(rem / 60 % 60), (int)(rem % 60));
	return true;
}

char *kube_time_format(int64_t sec, char *buf, size_t len)
{
	char tmp[FMT_BUF];

	if (buf == NULL || len < KUBE_TIME_LEN || !format_seconds(sec, tmp, sizeof(tmp)))
		return NULL;
	snprintf(buf, len, "%sZ", tmp);
	return buf;
}

char *kube_time_format_micro(int64_t wall_ns, char *buf, size_t len)
{
	int64_t sec = wall_ns / 1000000000, ns = wall_ns % 1000000000;
	char tmp[FMT_BUF];

	if (ns < 0) {
		ns += 1000000000;
		sec--;
	}
	if (buf == NULL || len < KUBE_MICROTIME_LEN || !format_seconds(sec, tmp, sizeof(tmp)))
		return NULL;
	snprintf(buf, len, "%s.%06dZ", tmp, (int)(ns / 1000));
	return buf;
}
