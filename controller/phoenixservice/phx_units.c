/* PhoenixService decision logic, units: RFC 3339 times as ms, Kubernetes quantities and their
 * scaling (phx_failover.h). Pure functions. */
#include "phx_failover.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_error.h"
#include "kube_json.h"
#include "kube_time.h"
#include "phx_failover_util.h"
#include "phx_meta.h"

/* ---------------------------------------------------------------- time */

int64_t phx_time_parse_ms(const char *s)
{
	int64_t ms = 0;

	if (kube_time_parse_ms(s, &ms) != 0)
		return 0;
	return ms;
}

void phx_time_format(int64_t ms, char *buf, size_t len)
{
	if (kube_time_format(ms / 1000, buf, len) == NULL && len > 0)
		buf[0] = '\0';
}

/* ---------------------------------------------------------------- quantities */

int phx_quantity_parse(const char *s, int64_t *milli)
{
	if (!s || !*s || !milli)
		return KUBE_EINVAL;
	char *end = NULL;
	/* strtod accepts hex, inf and nan, which Kubernetes does not: check the characters. */
	for (const char *c = s; *c; c++)
		if (!isdigit((unsigned char)*c) && !strchr(".+-eEkKmMGTPEi", *c))
			return KUBE_EINVAL;
	double v = strtod(s, &end);
	if (end == s || !isfinite(v) || v < 0)
		return KUBE_EINVAL;
	static const struct {
		const char *suf;
		double mul;
	} sufs[] = {
		{ "", 1 }, { "m", 1e-3 }, { "k", 1e3 }, { "M", 1e6 }, { "G", 1e9 }, { "T", 1e12 },
		{ "P", 1e15 }, { "E", 1e18 }, { "Ki", 1024.0 }, { "Mi", 1048576.0 },
		{ "Gi", 1073741824.0 }, { "Ti", 1099511627776.0 }, { "Pi", 1125899906842624.0 },
		{ "Ei", 1152921504606846976.0 },
	};
	for (size_t i = 0; i < sizeof(sufs) / sizeof(sufs[0]); i++) {
		if (strcmp(end, sufs[i].suf) == 0) {
			double m = v * sufs[i].mul * 1000.0;
			if (m > 9.2e18)
				return KUBE_EINVAL;
			*milli = (int64_t)llround(m);
			return 0;
		}
	}
	return KUBE_EINVAL;
}

int phx_quantity_scale(const char *in, double factor, char *out, size_t outlen)
{
	int64_t m;
	if (!out || outlen == 0 || !(factor > 0) || !isfinite(factor))
		return KUBE_EINVAL;
	if (phx_quantity_parse(in, &m) < 0)
		return KUBE_EINVAL;
	double scaled = ceil((double)m * factor - 1e-6);
	if (scaled > 9.2e18)
		return KUBE_EINVAL;
	int64_t v = (int64_t)scaled;
	int n;
	static const struct {
		const char *suf;
		int64_t mul;
	} bin[] = {
		{ "Ei", INT64_C(1152921504606846976) }, { "Pi", INT64_C(1125899906842624) },
		{ "Ti", INT64_C(1099511627776) }, { "Gi", INT64_C(1073741824) },
		{ "Mi", INT64_C(1048576) }, { "Ki", INT64_C(1024) },
	};
	bool binary = strchr(in, 'i') != NULL;
	if (binary && v % 1000 == 0) {
		int64_t units = v / 1000;
		for (size_t i = 0; i < sizeof(bin) / sizeof(bin[0]); i++) {
			if (units >= bin[i].mul && units % bin[i].mul == 0) {
				n = snprintf(out, outlen, "%" PRId64 "%s", units / bin[i].mul,
					     bin[i].suf);
				return n > 0 && (size_t)n < outlen ? 0 : KUBE_EINVAL;
			}
		}
	}
	if (v % 1000 == 0)
		n = snprintf(out, outlen, "%" PRId64, v / 1000);
	else
		n = snprintf(out, outlen, "%" PRId64 "m", v);
	return n > 0 && (size_t)n < outlen ? 0 : KUBE_EINVAL;
}
