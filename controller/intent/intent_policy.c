/* intent_policy: GovernancePolicy spec -> struct intent_policy, with the built-in defaults for
 * every absent field and a message naming the field for every bad one. */
#include "intent_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"

static const char *const MODE_NAMES[] = {"supervised", "autonomous", "aggressive"};
static const char *const PRIO_NAMES[] = {"critical", "high", "medium", "low"};

void intent_policy_defaults(struct intent_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->mode = INTENT_MODE_SUPERVISED;
	p->auto_approve_threshold = 0.8;
	p->reject_below = 0.4;
	p->human_tiers = 1u << 0;
	p->max_concurrent = 3;
	p->sla_ms[INTENT_PRIO_CRITICAL] = 5 * 60 * 1000;
	p->sla_ms[INTENT_PRIO_HIGH] = 15 * 60 * 1000;
	p->sla_ms[INTENT_PRIO_MEDIUM] = 60 * 60 * 1000;
	p->sla_ms[INTENT_PRIO_LOW] = -1;
	p->port_min = 1024;
	p->port_max = 65535;
	p->spec_min_score = 90;
	p->spec_max_passes = 3;
	p->evaluator_timeout_s = 5;
	p->evaluator_weight = 0.3;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void intent_policy_release(struct intent_policy *p)
{
	if (!p)
		return;
	free_names(p->allowed_deps, p->nallowed);
	free_names(p->forbidden_deps, p->nforbidden);
	free(p->evaluator_url);
	intent_policy_defaults(p);
}

static int lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

int intent_mode_parse(const char *s, enum intent_mode *out)
{
	int i = lookup(MODE_NAMES, 3, s);

	if (i < 0)
		return KUBE_EINVAL;
	*out = (enum intent_mode)i;
	return 0;
}

const char *intent_mode_name(enum intent_mode m)
{
	return (unsigned)m < 3 ? MODE_NAMES[m] : "unknown";
}

int intent_priority_parse(const char *s, enum intent_priority *out)
{
	int i = lookup(PRIO_NAMES, INTENT_PRIO_COUNT, s);

	if (i < 0)
		return KUBE_EINVAL;
	*out = (enum intent_priority)i;
	return 0;
}

const char *intent_priority_name(enum intent_priority p)
{
	return (unsigned)p < INTENT_PRIO_COUNT ? PRIO_NAMES[p] : "unknown";
}

int intent_duration_parse(const char *s, int64_t *ms)
{
	int64_t total = 0;

	if (!s || !*s)
		return KUBE_EINVAL;
	if (strcmp(s, "none") == 0) {
		*ms = -1;
		return 0;
	}
	while (*s) {
		int64_t v = 0, unit;
		const char *start = s;

		while (*s >= '0' && *s <= '9' && v < 1000000000)
			v = v * 10 + (*s++ - '0');
		if (s == start || v >= 1000000000)
			return KUBE_EINVAL;
		if (*s == 'h')
			unit = 3600000;
		else if (*s == 'm')
			unit = 60000;
		else if (*s == 's')
			unit = 1000;
		else
			return KUBE_EINVAL;
		s++;
		total += v * unit;
		if (total > (int64_t)365 * 24 * 3600000)
			return KUBE_EINVAL;
	}
	*ms = total;
	return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return KUBE_EINVAL;
}

/* A number in [lo, hi] at key, or the default left in *out. */
static int get_num(const cJSON *obj, const char *key, double lo, double hi, double *out,
		   char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
		return fail(err, errlen, "spec.%s: must be a number from %g to %g", key, lo, hi);
	*out = v->valuedouble;
	return 0;
}

static int get_int(const cJSON *obj, const char *path, const char *key, int lo, int hi, int *out,
		   char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	double d;

	if (!v)
		return 0;
	d = v->valuedouble;
	if (!cJSON_IsNumber(v) || d != (double)(int)d || d < lo || d > hi)
		return fail(err, errlen, "spec.%s%s: must be an integer from %d to %d", path, key, lo, hi);
	*out = (int)d;
	return 0;
}

static int parse_names(const cJSON *arr, const char *field, char ***out, size_t *n, char *err,
		       size_t errlen)
{
	const cJSON *it;
	size_t i = 0, cnt;

	if (!arr)
		return 0;
	cnt = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
	if (!cJSON_IsArray(arr) || cnt > INTENT_POLICY_MAX_NAMES)
		return fail(err, errlen, "spec.dependencies.%s: must be a list of at most %d names", field,
			    INTENT_POLICY_MAX_NAMES);
	*out = calloc(cnt ? cnt : 1, sizeof(char *));
	if (!*out)
		return KUBE_ENOMEM;
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) || !*it->valuestring)
			return fail(err, errlen, "spec.dependencies.%s[%zu]: must be a non-empty name", field, i);
		(*out)[i] = strdup(it->valuestring);
		if (!(*out)[i])
			return KUBE_ENOMEM;
		*n = ++i;
	}
	return 0;
}

static int parse_tiers(const cJSON *arr, unsigned *tiers, char *err, size_t errlen)
{
	const cJSON *it;
	size_t i = 0;

	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return fail(err, errlen, "spec.requireApprovalTiers: must be a list of tiers 0-3");
	*tiers = 0;
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsNumber(it) || it->valuedouble != (int)it->valuedouble || it->valueint < 0 ||
		    it->valueint > 3)
			return fail(err, errlen, "spec.requireApprovalTiers[%zu]: must be a tier 0-3", i);
		*tiers |= 1u << it->valueint;
		i++;
	}
	return 0;
}

static int parse_sla(const cJSON *sla, int64_t *ms, char *err, size_t errlen)
{
	if (!sla)
		return 0;
	if (!cJSON_IsObject(sla))
		return fail(err, errlen, "spec.sla: must be an object");
	for (int i = 0; i < INTENT_PRIO_COUNT; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(sla, PRIO_NAMES[i]);

		if (v && intent_duration_parse(cJSON_GetStringValue(v), &ms[i]) < 0)
			return fail(err, errlen,
				    "spec.sla.%s: must be a duration such as 5m, 1h30m or \"none\"", PRIO_NAMES[i]);
	}
	return 0;
}

static int parse_evaluator(const cJSON *ev, struct intent_policy *p, char *err, size_t errlen)
{
	const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "url"));
	int rc;

	if (!ev)
		return 0;
	if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return fail(err, errlen, "spec.evaluator.url: must be an http:// or https:// URL");
	rc = get_int(ev, "evaluator.", "timeoutSeconds", 1, 60, &p->evaluator_timeout_s, err, errlen);
	if (rc < 0)
		return rc;
	rc = get_num(ev, "weight", 0, 1, &p->evaluator_weight, err, errlen);
	if (rc < 0)
		return fail(err, errlen, "spec.evaluator.weight: must be a number from 0 to 1");
	p->evaluator_url = strdup(url);
	return p->evaluator_url ? 0 : KUBE_ENOMEM;
}

static int parse_spec(const cJSON *spec, struct intent_policy *p, char *err, size_t errlen)
{
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(spec, "mode");
	const cJSON *deps = cJSON_GetObjectItemCaseSensitive(spec, "dependencies");
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(spec, "ports");
	const cJSON *gate = cJSON_GetObjectItemCaseSensitive(spec, "specGate");
	int rc = 0;

	if (mode && intent_mode_parse(cJSON_GetStringValue(mode), &p->mode) < 0)
		return fail(err, errlen, "spec.mode: must be supervised, autonomous or aggressive");
	rc = rc < 0 ? rc : get_num(spec, "autoApproveThreshold", 0, 1, &p->auto_approve_threshold, err, errlen);
	rc = rc < 0 ? rc : get_num(spec, "rejectBelow", 0, 1, &p->reject_below, err, errlen);
	rc = rc < 0 ? rc : parse_tiers(cJSON_GetObjectItemCaseSensitive(spec, "requireApprovalTiers"), &p->human_tiers, err, errlen);
	rc = rc < 0 ? rc : get_int(spec, "", "maxConcurrentPipelines", 1, 1000, &p->max_concurrent, err, errlen);
	rc = rc < 0 ? rc : parse_sla(cJSON_GetObjectItemCaseSensitive(spec, "sla"), p->sla_ms, err, errlen);
	rc = rc < 0 ? rc : parse_names(cJSON_GetObjectItemCaseSensitive(deps, "allowed"), "allowed", &p->allowed_deps, &p->nallowed, err, errlen);
	rc = rc < 0 ? rc : parse_names(cJSON_GetObjectItemCaseSensitive(deps, "forbidden"), "forbidden", &p->forbidden_deps, &p->nforbidden, err, errlen);
	rc = rc < 0 ? rc : get_int(ports, "ports.", "min", 1, 65535, &p->port_min, err, errlen);
	rc = rc < 0 ? rc : get_int(ports, "ports.", "max", 1, 65535, &p->port_max, err, errlen);
	rc = rc < 0 ? rc : get_int(gate, "specGate.", "minScore", 0, 100, &p->spec_min_score, err, errlen);
	rc = rc < 0 ? rc : get_int(gate, "specGate.", "maxPasses", 1, 10, &p->spec_max_passes, err, errlen);
	rc = rc < 0 ? rc : parse_evaluator(cJSON_GetObjectItemCaseSensitive(spec, "evaluator"), p, err, errlen);
	if (rc < 0)
		return rc;
	if (p->reject_below > p->auto_approve_threshold)
		return fail(err, errlen, "spec.rejectBelow: %g must not exceed spec.autoApproveThreshold %g",
			    p->reject_below, p->auto_approve_threshold);
	if (p->port_min > p->port_max)
		return fail(err, errlen, "spec.ports.min: %d must not exceed spec.ports.max %d", p->port_min,
			    p->port_max);
	return 0;
}

int intent_policy_parse(const cJSON *policy, struct intent_policy *p, char *err, size_t errlen)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(policy, "spec");
	int rc = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!p)
		return KUBE_EINVAL;
	intent_policy_defaults(p);
	if (!spec)
		goto out;
	if (!cJSON_IsObject(spec)) {
		rc = fail(err, errlen, "spec: must be an object");
		goto out;
	}
	rc = parse_spec(spec, p, err, errlen);
out:
	if (rc < 0)
		intent_policy_release(p);
	return rc;
}

static int in_list(char *const *v, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (strcmp(v[i], name) == 0)
			return 1;
	return 0;
}

int intent_policy_allows(const struct intent_policy *p, const char *name)
{
	return p && in_list(p->allowed_deps, p->nallowed, name);
}

int intent_policy_forbids(const struct intent_policy *p, const char *name)
{
	return p && in_list(p->forbidden_deps, p->nforbidden, name);
}
