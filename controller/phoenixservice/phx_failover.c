/* PhoenixService decision logic: pod classification, the action planner, object builders and
 * status computation. Pure functions only (no I/O, no clock): see phx_failover.h. */
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
#include "phx_meta.h"

/* ---------------------------------------------------------------- small helpers */

static void copy_str(char *dst, size_t len, const char *src)
{
	if (len == 0)
		return;
	snprintf(dst, len, "%s", src ? src : "");
}

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

const char *phx_fail_reason_str(enum phx_fail_reason r)
{
	switch (r) {
	case PHX_FAIL_NONE: return "None";
	case PHX_FAIL_DELETED: return "Deleted";
	case PHX_FAIL_TERMINATING: return "Terminating";
	case PHX_FAIL_PHASE_FAILED: return "PodFailed";
	case PHX_FAIL_PHASE_SUCCEEDED: return "PodSucceeded";
	case PHX_FAIL_NODE_LOST: return "NodeLost";
	case PHX_FAIL_OOMKILLED: return "OOMKilled";
	case PHX_FAIL_CRASHED: return "ContainerCrashed";
	case PHX_FAIL_NOT_READY: return "NotReady";
	}
	return "Unknown";
}

const char *phx_role_str(enum phx_role r)
{
	switch (r) {
	case PHX_ROLE_PRIMARY: return "primary";
	case PHX_ROLE_STANDBY: return "standby";
	case PHX_ROLE_NONE: break;
	}
	return "";
}

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

/* ---------------------------------------------------------------- spec */

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static void hash_json(uint64_t *h, const cJSON *v)
{
	char *txt = v ? kube_json_print(v) : NULL;
	*h = fnv1a(*h, txt ? txt : "null");
	*h = fnv1a(*h, "|");
	free(txt);
}

static bool container_has_port_name(const cJSON *containers, const char *name)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, containers) {
		const cJSON *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "ports")) {
			if (str_eq(kube_json_get_str(p, "name", NULL), name))
				return true;
		}
	}
	return false;
}

static int first_container_port(const cJSON *containers)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, containers) {
		const cJSON *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "ports")) {
			int64_t port;
			if (kube_json_get_int(p, &port, "containerPort", NULL) && port > 0)
				return (int)port;
		}
	}
	return 0;
}

static int check_resources(const cJSON *containers, char *err, size_t errlen)
{
	int i = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, containers) {
		static const char *kinds[] = { "requests", "limits" };
		for (size_t k = 0; k < 2; k++) {
			const cJSON *q;
			cJSON_ArrayForEach(q, kube_json_get(c, "resources", kinds[k], NULL)) {
				int64_t m;
				const char *txt = cJSON_IsString(q) ? q->valuestring : NULL;
				char num[32];
				if (cJSON_IsNumber(q)) {
					snprintf(num, sizeof(num), "%.17g", q->valuedouble);
					txt = num;
				}
				if (phx_quantity_parse(txt, &m) < 0) {
					snprintf(err, errlen,
						 "spec.template.spec.containers[%d].resources.%s.%s: "
						 "cannot parse quantity",
						 i, kinds[k], q->string ? q->string : "?");
					return KUBE_EINVAL;
				}
			}
		}
		i++;
	}
	return 0;
}

static int check_ports(const cJSON *spec, const cJSON *containers, char *err, size_t errlen)
{
	const cJSON *ports = kube_json_get(spec, "service", "ports", NULL);
	int n = cJSON_IsArray(ports) ? cJSON_GetArraySize(ports) : 0;
	if (n == 0 && first_container_port(containers) == 0) {
		snprintf(err, errlen, "spec.service.ports is empty and no container declares a "
				      "containerPort: nothing to expose");
		return KUBE_EINVAL;
	}
	for (int i = 0; i < n; i++) {
		const cJSON *p = cJSON_GetArrayItem(ports, i);
		const char *name = kube_json_get_str(p, "name", NULL);
		int64_t port = 0;
		if (!kube_json_get_int(p, &port, "port", NULL) || port < 1 || port > 65535) {
			snprintf(err, errlen, "spec.service.ports[%d].port must be 1..65535", i);
			return KUBE_EINVAL;
		}
		if (n > 1 && (!name || !*name)) {
			snprintf(err, errlen, "spec.service.ports[%d].name is required when more "
					      "than one port is exposed", i);
			return KUBE_EINVAL;
		}
		for (int j = 0; j < i && name; j++) {
			const char *other = kube_json_get_str(cJSON_GetArrayItem(ports, j), "name", NULL);
			if (str_eq(other, name)) {
				snprintf(err, errlen, "spec.service.ports[%d].name %s is used twice",
					 i, name);
				return KUBE_EINVAL;
			}
		}
		const char *tp = kube_json_get_str(p, "targetPort", NULL);
		if (tp && !container_has_port_name(containers, tp)) {
			snprintf(err, errlen, "spec.service.ports[%d].targetPort %s names no "
					      "container port", i, tp);
			return KUBE_EINVAL;
		}
	}
	return 0;
}

int phx_spec_parse(const cJSON *svc, struct phx_spec *out, char *err, size_t errlen)
{
	const cJSON *spec = kube_json_get(svc, "spec", NULL);
	const cJSON *containers = kube_json_get(spec, "template", "spec", "containers", NULL);
	int64_t iv;
	double dv;
	const char *s;
	int rc = 0;
	char dummy[8];

	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	memset(out, 0, sizeof(*out));
	out->standbys = 2;
	out->capacity = 2;
	out->mode = PHX_MODE_SURGE;

	if (kube_json_get_int(spec, &iv, "standbys", NULL))
		out->standbys = (int)iv;
	if (kube_json_get_num(spec, &dv, "standbyCapacity", NULL))
		out->capacity = dv;
	if (kube_json_get_int(spec, &iv, "failover", "notReadyGraceSeconds", NULL))
		out->grace_s = iv > 86400 ? 86400 : (int)iv;
	out->paused = kube_json_get_bool(spec, false, "paused", NULL);
	copy_str(out->switchover_to, sizeof(out->switchover_to),
		 kube_json_get_str(svc, "metadata", "annotations", PHX_ANN_SWITCHOVER, NULL));
	s = kube_json_get_str(spec, "failover", "mode", NULL);

	uint64_t h = UINT64_C(1469598103934665603);
	hash_json(&h, kube_json_get(spec, "template", NULL));
	hash_json(&h, kube_json_get(spec, "heartbeat", NULL));
	hash_json(&h, kube_json_get(spec, "standbyCapacity", NULL));
	snprintf(out->revision, sizeof(out->revision), "%010" PRIx64, h & UINT64_C(0xffffffffff));

	if (!spec || !cJSON_IsObject(spec)) {
		snprintf(err, errlen, "spec is missing");
		rc = KUBE_EINVAL;
		goto out;
	}
	if (s && strcmp(s, "Surge") == 0) {
		out->mode = PHX_MODE_SURGE;
	} else if (s && strcmp(s, "Promote") == 0) {
		out->mode = PHX_MODE_PROMOTE;
	} else if (s) {
		snprintf(err, errlen, "spec.failover.mode %s: must be Surge or Promote", s);
		rc = KUBE_EINVAL;
		goto out;
	}
	if (out->standbys < 0 || out->standbys > PHX_MAX_STANDBYS) {
		snprintf(err, errlen, "spec.standbys %d: must be 0..%d", out->standbys,
			 PHX_MAX_STANDBYS);
		out->standbys = out->standbys < 0 ? 0 : PHX_MAX_STANDBYS;
		rc = KUBE_EINVAL;
		goto out;
	}
	if (!isfinite(out->capacity) || out->capacity < 1 || out->capacity > 10) {
		snprintf(err, errlen, "spec.standbyCapacity must be 1..10");
		out->capacity = 2;
		rc = KUBE_EINVAL;
		goto out;
	}
	if (!cJSON_IsArray(containers) || cJSON_GetArraySize(containers) == 0) {
		snprintf(err, errlen, "spec.template.spec.containers must list at least one "
				      "container");
		rc = KUBE_EINVAL;
		goto out;
	}
	rc = check_resources(containers, err, errlen);
	if (rc < 0)
		goto out;
	rc = check_ports(spec, containers, err, errlen);
	if (rc < 0)
		goto out;
	s = kube_json_get_str(spec, "heartbeat", "port", NULL);
	if (s && !container_has_port_name(containers, s)) {
		snprintf(err, errlen, "spec.heartbeat.port %s names no container port", s);
		rc = KUBE_EINVAL;
		goto out;
	}
out:
	return rc;
}

/* ---------------------------------------------------------------- classification */

static const cJSON *pod_condition(const cJSON *pod, const char *type)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, kube_json_get(pod, "status", "conditions", NULL)) {
		if (str_eq(kube_json_get_str(c, "type", NULL), type))
			return c;
	}
	return NULL;
}

bool phx_pod_is_ready(const cJSON *pod)
{
	const cJSON *c = pod_condition(pod, "Ready");
	return c && str_eq(kube_json_get_str(c, "status", NULL), "True");
}

static enum phx_fail_reason container_failure(const cJSON *pod)
{
	enum phx_fail_reason r = PHX_FAIL_NONE;
	const cJSON *cs;
	cJSON_ArrayForEach(cs, kube_json_get(pod, "status", "containerStatuses", NULL)) {
		const char *term = kube_json_get_str(cs, "state", "terminated", "reason", NULL);
		const char *last = kube_json_get_str(cs, "lastState", "terminated", "reason", NULL);
		const char *wait = kube_json_get_str(cs, "state", "waiting", "reason", NULL);
		int64_t restarts = 0;
		kube_json_get_int(cs, &restarts, "restartCount", NULL);
		if (str_eq(term, "OOMKilled") || str_eq(last, "OOMKilled"))
			return PHX_FAIL_OOMKILLED;
		if (kube_json_get(cs, "state", "terminated", NULL) ||
		    kube_json_get(cs, "lastState", "terminated", NULL) || restarts > 0 ||
		    str_eq(wait, "CrashLoopBackOff") || str_eq(wait, "RunContainerError"))
			r = PHX_FAIL_CRASHED;
	}
	return r;
}

void phx_pod_classify(const cJSON *pod, bool ever_ready, int grace_s, int64_t now_ms,
		      struct phx_pod *out)
{
	const cJSON *labels = kube_json_get(pod, "metadata", "labels", NULL);
	const char *role = kube_json_get_str(labels, PHX_LABEL_ROLE, NULL);
	const char *phase = kube_json_get_str(pod, "status", "phase", NULL);
	const char *preason = kube_json_get_str(pod, "status", "reason", NULL);
	const cJSON *ready = pod_condition(pod, "Ready");
	const char *rstatus = kube_json_get_str(ready, "status", NULL);
	enum phx_fail_reason cf;

	memset(out, 0, sizeof(*out));
	copy_str(out->name, sizeof(out->name), kube_json_name(pod));
	copy_str(out->revision, sizeof(out->revision),
		 kube_json_get_str(labels, PHX_LABEL_REVISION, NULL));
	out->role = str_eq(role, "primary") ? PHX_ROLE_PRIMARY :
		    str_eq(role, "standby") ? PHX_ROLE_STANDBY : PHX_ROLE_NONE;
	out->serving = str_eq(kube_json_get_str(labels, PHX_LABEL_SERVING, NULL), "true");
	out->created_ms = phx_time_parse_ms(kube_json_get_str(pod, "metadata", "creationTimestamp",
							      NULL));
	out->health = PHX_HEALTH_FAILED;

	if (kube_json_get(pod, "metadata", "deletionTimestamp", NULL)) {
		out->reason = PHX_FAIL_TERMINATING;
		return;
	}
	if (str_eq(phase, "Failed")) {
		out->reason = PHX_FAIL_PHASE_FAILED;
		return;
	}
	if (str_eq(phase, "Succeeded")) {
		out->reason = PHX_FAIL_PHASE_SUCCEEDED;
		return;
	}
	if (str_eq(phase, "Unknown") || str_eq(rstatus, "Unknown") || str_eq(preason, "NodeLost")) {
		out->reason = PHX_FAIL_NODE_LOST;
		return;
	}
	cf = container_failure(pod);
	if (cf != PHX_FAIL_NONE) {
		out->reason = cf;
		return;
	}
	if (str_eq(rstatus, "True")) {
		out->health = PHX_HEALTH_READY;
		return;
	}
	/* NotReady: a slow start is not a failure; a pod that served and stopped is. */
	bool old = out->created_ms > 0 && now_ms - out->created_ms > PHX_STARTUP_ALLOWANCE_MS;
	if (!ever_ready && !old) {
		out->health = PHX_HEALTH_STARTING;
		return;
	}
	int64_t since = phx_time_parse_ms(kube_json_get_str(ready, "lastTransitionTime", NULL));
	if (since <= 0 || since > now_ms)
		since = now_ms;
	int64_t left = (int64_t)grace_s * 1000 - (now_ms - since);
	if (left > 0) {
		out->health = PHX_HEALTH_GRACE;
		out->grace_left_ms = left;
		return;
	}
	out->reason = PHX_FAIL_NOT_READY;
}

/* ---------------------------------------------------------------- planner */

static bool settled(const struct phx_spec *spec, const struct phx_pod *pods, size_t n,
		    bool check_revision);

static bool alive(const struct phx_pod *p)
{
	return p->health != PHX_HEALTH_FAILED;
}

static int health_rank(enum phx_health h)
{
	return h == PHX_HEALTH_READY ? 0 : h == PHX_HEALTH_GRACE ? 1 : 2;
}

/* Ordering of candidates: Ready first, then at the spec revision, then oldest, then name, so
 * a reconcile on a slightly stale cache picks the same pod as the one before it. */
static bool better(const struct phx_spec *spec, const struct phx_pod *a, const struct phx_pod *b)
{
	if (!b)
		return true;
	int ha = health_rank(a->health), hb = health_rank(b->health);
	if (ha != hb)
		return ha < hb;
	bool ra = str_eq(a->revision, spec->revision), rb = str_eq(b->revision, spec->revision);
	if (ra != rb)
		return ra;
	if (a->created_ms != b->created_ms)
		return a->created_ms < b->created_ms;
	return strcmp(a->name, b->name) < 0;
}

static const struct phx_pod *pick_primary(const struct phx_spec *spec, const struct phx_pod *pods,
					  size_t n)
{
	const struct phx_pod *best = NULL;
	for (size_t i = 0; i < n; i++)
		if (alive(&pods[i]) && pods[i].role == PHX_ROLE_PRIMARY && better(spec, &pods[i], best))
			best = &pods[i];
	return best;
}

static const struct phx_pod *pick_standby(const struct phx_spec *spec, const struct phx_pod *pods,
					  size_t n, bool need_ready, const char *name)
{
	const struct phx_pod *best = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct phx_pod *p = &pods[i];
		if (!alive(p) || p->role == PHX_ROLE_PRIMARY)
			continue;
		if (need_ready && p->health != PHX_HEALTH_READY)
			continue;
		if (name && !str_eq(name, p->name))
			continue;
		if (better(spec, p, best))
			best = p;
	}
	return best;
}

static void act(struct phx_plan *pl, enum phx_action_kind kind, const char *pod, enum phx_role role,
		bool serving, const char *why)
{
	if (pl->nacts >= PHX_MAX_ACTIONS)
		return;
	struct phx_action *a = &pl->acts[pl->nacts++];
	a->kind = kind;
	copy_str(a->pod, sizeof(a->pod), pod);
	a->role = role;
	a->serving = serving;
	a->why = why;
}

static bool planned_label(const struct phx_plan *pl, const char *pod)
{
	for (size_t i = 0; i < pl->nacts; i++)
		if (pl->acts[i].kind == PHX_ACT_LABEL && str_eq(pl->acts[i].pod, pod))
			return true;
	return false;
}

static bool planned_delete(const struct phx_plan *pl, const char *pod)
{
	for (size_t i = 0; i < pl->nacts; i++)
		if (pl->acts[i].kind == PHX_ACT_DELETE && str_eq(pl->acts[i].pod, pod))
			return true;
	return false;
}

/* Whether pod `p` serves once the plan so far has run: its last planned label, else now. */
static bool serves_after_plan(const struct phx_plan *pl, const struct phx_pod *p)
{
	bool serving = p->serving;
	for (size_t i = 0; i < pl->nacts; i++)
		if (pl->acts[i].kind == PHX_ACT_LABEL && str_eq(pl->acts[i].pod, p->name))
			serving = pl->acts[i].serving;
	return serving;
}

/* Surge never removes the last endpoint: the Service publishes every serving pod with an
 * address, ready or not, so a failed pod that still serves is taken out (and replaced) only once
 * a Ready pod serves, or starts serving in this plan. Until then it is the best there is. */
static bool ready_server_after_plan(const struct phx_plan *pl, const struct phx_pod *pods,
				    size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (alive(&pods[i]) && pods[i].health == PHX_HEALTH_READY &&
		    serves_after_plan(pl, &pods[i]))
			return true;
	return false;
}

/* Takes serving away from every pod except `keep` that has it and is not yet being fixed. */
static void fence_others(struct phx_plan *pl, const struct phx_pod *pods, size_t n,
			 const char *keep, bool failed_only, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		const struct phx_pod *p = &pods[i];
		if (!p->serving || str_eq(p->name, keep) || planned_label(pl, p->name))
			continue;
		if (failed_only && alive(p))
			continue;
		enum phx_role role = p->role == PHX_ROLE_PRIMARY && alive(p) ? PHX_ROLE_STANDBY : p->role;
		act(pl, PHX_ACT_LABEL, p->name, role, false, why);
	}
}

/* A failed primary, or the previous primary gone from the API, with no live primary left. */
static const struct phx_pod *find_failed_primary(const struct phx_pod *pods, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!alive(&pods[i]) && pods[i].role == PHX_ROLE_PRIMARY)
			return &pods[i];
	return NULL;
}

static bool pod_present(const struct phx_pod *pods, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (str_eq(pods[i].name, name))
			return true;
	return false;
}

/* No live primary: choose one and make it serve, safely for the mode. */
static void plan_new_primary(const struct phx_plan_input *in, struct phx_plan *pl)
{
	const struct phx_spec *spec = in->spec;
	const struct phx_pod *pods = in->pods;
	size_t n = in->npods;
	const struct phx_pod *s = pick_standby(spec, pods, n, true, NULL);

	if (s) {
		copy_str(pl->new_primary, sizeof(pl->new_primary), s->name);
		if (spec->mode == PHX_MODE_PROMOTE) {
			/* Fence first: never two serving pods, even for a moment. */
			fence_others(pl, pods, n, s->name, false, "fence before promote");
			act(pl, PHX_ACT_LABEL, s->name, PHX_ROLE_PRIMARY, true, "promote standby");
			pl->promoted = 1;
			return;
		}
		act(pl, PHX_ACT_LABEL, s->name, PHX_ROLE_PRIMARY, true, "promote standby");
		pl->promoted = 1;
		for (size_t i = 0; i < n; i++) {
			const struct phx_pod *p = &pods[i];
			if (p == s || !alive(p) || p->health != PHX_HEALTH_READY ||
			    p->role == PHX_ROLE_PRIMARY)
				continue;
			if (!p->serving)
				act(pl, PHX_ACT_LABEL, p->name, PHX_ROLE_STANDBY, true, "surge standby");
			pl->promoted++;
		}
		fence_others(pl, pods, n, s->name, true, "take failed pod out");
		return;
	}
	/* No Ready standby: the fastest way back is a standby already on its way up, else a new
	 * pod created as primary. */
	pl->degraded = pl->primary_failed;
	if (spec->mode == PHX_MODE_PROMOTE || ready_server_after_plan(pl, pods, n))
		fence_others(pl, pods, n, "", true, "take failed pod out");
	/* The Service publishes not-ready addresses (membership is the serving label alone), so
	 * a primary that is not Ready yet must not serve: it is labelled serving when it is. */
	s = pick_standby(spec, pods, n, false, NULL);
	if (s) {
		copy_str(pl->new_primary, sizeof(pl->new_primary), s->name);
		act(pl, PHX_ACT_LABEL, s->name, PHX_ROLE_PRIMARY, s->health == PHX_HEALTH_READY,
		    "promote starting standby");
		return;
	}
	act(pl, PHX_ACT_CREATE, "", PHX_ROLE_PRIMARY, false, "create primary");
}

/* A live primary exists: make sure exactly it serves (plus surged standbys until recovery). */
static void plan_with_primary(const struct phx_plan_input *in, const struct phx_pod *prim,
			      struct phx_plan *pl, size_t ready_alive, size_t desired)
{
	const struct phx_spec *spec = in->spec;
	const struct phx_pod *pods = in->pods;
	size_t n = in->npods;
	bool recovered = prim->health == PHX_HEALTH_READY && ready_alive >= desired;

	bool serve = !prim->serving && prim->health == PHX_HEALTH_READY;
	if (spec->mode == PHX_MODE_PROMOTE) {
		fence_others(pl, pods, n, prim->name, false, "single serving pod");
		if (serve)
			act(pl, PHX_ACT_LABEL, prim->name, PHX_ROLE_PRIMARY, true, "primary serves");
		return;
	}
	if (serve)
		act(pl, PHX_ACT_LABEL, prim->name, PHX_ROLE_PRIMARY, true, "primary serves");
	if (ready_server_after_plan(pl, pods, n))
		fence_others(pl, pods, n, prim->name, true, "take failed pod out");
	for (size_t i = 0; i < n; i++) {
		const struct phx_pod *p = &pods[i];
		if (p == prim || !alive(p) || planned_label(pl, p->name))
			continue;
		if (p->role == PHX_ROLE_PRIMARY && prim->health == PHX_HEALTH_READY)
			act(pl, PHX_ACT_LABEL, p->name, PHX_ROLE_STANDBY, false, "extra primary");
		else if (p->role != PHX_ROLE_PRIMARY && p->serving && recovered)
			act(pl, PHX_ACT_LABEL, p->name, PHX_ROLE_STANDBY, false, "surge over");
		else if (p->role == PHX_ROLE_NONE)
			act(pl, PHX_ACT_LABEL, p->name, PHX_ROLE_STANDBY, p->serving, "adopt");
	}
}

static void plan_cleanup_and_counts(const struct phx_plan_input *in, struct phx_plan *pl,
				    size_t desired)
{
	const struct phx_spec *spec = in->spec;
	const struct phx_pod *pods = in->pods;
	size_t n = in->npods, nalive = 0, creates = 0;

	for (size_t i = 0; i < n; i++) {
		const struct phx_pod *p = &pods[i];
		if (alive(p)) {
			nalive++;
			if (p->health == PHX_HEALTH_GRACE &&
			    (pl->requeue_after_ms == 0 || p->grace_left_ms < pl->requeue_after_ms))
				pl->requeue_after_ms = p->grace_left_ms;
			continue;
		}
		/* A failed pod kept serving as the last endpoint (ready_server_after_plan) stays until
		 * a Ready pod serves; its replacement is created below all the same. */
		if (p->reason != PHX_FAIL_TERMINATING && p->reason != PHX_FAIL_DELETED &&
		    !serves_after_plan(pl, p))
			act(pl, PHX_ACT_DELETE, p->name, p->role, false, "replace failed pod");
	}
	for (size_t i = 0; i < pl->nacts; i++)
		if (pl->acts[i].kind == PHX_ACT_CREATE)
			creates++;
	for (size_t have = nalive + creates; have < desired; have++)
		act(pl, PHX_ACT_CREATE, "", PHX_ROLE_STANDBY, false, "spawn standby");
	/* Too many (standbys lowered, or pods left by a crashed leader): drop non-serving ones,
	 * worst first. */
	while (nalive + creates > desired) {
		const struct phx_pod *worst = NULL;
		for (size_t i = 0; i < n; i++) {
			const struct phx_pod *p = &pods[i];
			if (!alive(p) || p->serving || p->role == PHX_ROLE_PRIMARY ||
			    str_eq(p->name, pl->new_primary) || planned_delete(pl, p->name) ||
			    planned_label(pl, p->name))
				continue;
			if (!worst || better(spec, worst, p))
				worst = p;
		}
		if (!worst)
			break;
		act(pl, PHX_ACT_DELETE, worst->name, worst->role, false, "scale down");
		nalive--;
	}
}

/* Settled and healthy: roll out a template change or perform a requested switchover. */
static void plan_rollout(const struct phx_plan_input *in, const struct phx_pod *prim,
			 struct phx_plan *pl)
{
	const struct phx_spec *spec = in->spec;
	const struct phx_pod *pods = in->pods;
	size_t n = in->npods;
	const struct phx_pod *old = NULL, *target = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct phx_pod *p = &pods[i];
		/* A failed or terminating old pod is already on its way out (its replacement
		 * was created with its deletion): replacing it again would only churn. */
		if (p != prim && alive(p) && !str_eq(p->revision, spec->revision) &&
		    (!old || better(spec, p, old)))
			old = p;
	}
	if (old) {
		/* Standbys first, one at a time; the primary keeps serving throughout. */
		pl->kind = PHX_PLAN_ROLLOUT;
		act(pl, PHX_ACT_DELETE, old->name, old->role, false, "rollout: replace standby");
		act(pl, PHX_ACT_CREATE, "", PHX_ROLE_STANDBY, false, "rollout: updated standby");
		return;
	}
	if (!str_eq(prim->revision, spec->revision)) {
		target = pick_standby(spec, pods, n, true, NULL);
		if (!target || !str_eq(target->revision, spec->revision))
			return;
		pl->kind = PHX_PLAN_ROLLOUT;
	} else if (spec->switchover_to[0]) {
		if (str_eq(spec->switchover_to, prim->name)) {
			act(pl, PHX_ACT_CLEAR_SWITCHOVER, "", PHX_ROLE_NONE, false, "already primary");
			return;
		}
		bool any = str_eq(spec->switchover_to, "any");
		target = pick_standby(spec, pods, n, true, any ? NULL : spec->switchover_to);
		if (!target) {
			/* Unknown pod: drop the request (the controller reports it); a known
			 * pod that is not Ready yet: wait for it. */
			if (!any && !pod_present(pods, n, spec->switchover_to))
				act(pl, PHX_ACT_CLEAR_SWITCHOVER, "", PHX_ROLE_NONE, false,
				    "unknown switchover target");
			return;
		}
		pl->kind = PHX_PLAN_SWITCHOVER;
	} else {
		return;
	}
	copy_str(pl->new_primary, sizeof(pl->new_primary), target->name);
	pl->promoted = 1;
	if (spec->mode == PHX_MODE_PROMOTE) {
		act(pl, PHX_ACT_LABEL, prim->name, PHX_ROLE_STANDBY, false, "switchover: fence");
		act(pl, PHX_ACT_LABEL, target->name, PHX_ROLE_PRIMARY, true, "switchover: promote");
	} else {
		act(pl, PHX_ACT_LABEL, target->name, PHX_ROLE_PRIMARY, true, "switchover: promote");
		act(pl, PHX_ACT_LABEL, prim->name, PHX_ROLE_STANDBY, false, "switchover: demote");
	}
	if (pl->kind == PHX_PLAN_SWITCHOVER)
		act(pl, PHX_ACT_CLEAR_SWITCHOVER, "", PHX_ROLE_NONE, false, "switchover done");
}

void phx_plan_compute(const struct phx_plan_input *in, struct phx_plan *pl)
{
	const struct phx_spec *spec = in->spec;
	const struct phx_pod *pods = in->pods;
	size_t n = in->npods, desired = 1 + (size_t)(spec->standbys < 0 ? 0 : spec->standbys);
	size_t ready_alive = 0;
	const struct phx_pod *prim, *failed;

	memset(pl, 0, sizeof(*pl));
	if (spec->paused)
		return;
	for (size_t i = 0; i < n; i++)
		if (alive(&pods[i]) && pods[i].health == PHX_HEALTH_READY)
			ready_alive++;

	prim = pick_primary(spec, pods, n);
	failed = find_failed_primary(pods, n);
	if (failed) {
		pl->primary_failed = true;
		copy_str(pl->failed_pod, sizeof(pl->failed_pod), failed->name);
		pl->failed_reason = failed->reason;
	} else if (!prim && in->prev_primary && in->prev_primary[0] &&
		   !pod_present(pods, n, in->prev_primary)) {
		pl->primary_failed = true;
		copy_str(pl->failed_pod, sizeof(pl->failed_pod), in->prev_primary);
		pl->failed_reason = PHX_FAIL_DELETED;
	}
	/* A failed pod next to a live primary that already took over is leftover work of a
	 * failover that was counted when it started. */
	if (prim && pl->primary_failed)
		pl->primary_failed = false;

	if (!prim) {
		pl->kind = pl->primary_failed ? PHX_PLAN_FAILOVER : PHX_PLAN_CREATE;
		plan_new_primary(in, pl);
	} else {
		plan_with_primary(in, prim, pl, ready_alive, desired);
	}
	plan_cleanup_and_counts(in, pl, desired);
	if (pl->kind == PHX_PLAN_NONE && pl->nacts > 0)
		pl->kind = PHX_PLAN_CREATE;

	if (prim && pl->nacts == 0 && !in->failover_in_progress &&
	    settled(spec, pods, n, false))
		plan_rollout(in, prim, pl);
}

/* ---------------------------------------------------------------- status */

static bool settled(const struct phx_spec *spec, const struct phx_pod *pods, size_t n,
		    bool check_revision)
{
	size_t prim = 0, stby = 0;
	for (size_t i = 0; i < n; i++) {
		const struct phx_pod *p = &pods[i];
		/* A pod on its way out (terminating, not serving) no longer counts: with a long
		 * grace period it would otherwise hold "Healthy" back for that long. */
		if (p->reason == PHX_FAIL_TERMINATING && !p->serving)
			continue;
		if (!alive(p) || p->health != PHX_HEALTH_READY)
			return false;
		if (check_revision && !str_eq(p->revision, spec->revision))
			return false;
		if (p->role == PHX_ROLE_PRIMARY && p->serving)
			prim++;
		else if (p->role == PHX_ROLE_STANDBY && !p->serving)
			stby++;
		else
			return false;
	}
	return prim == 1 && stby == (size_t)spec->standbys;
}

bool phx_settled(const struct phx_spec *spec, const struct phx_pod *pods, size_t n)
{
	return settled(spec, pods, n, true);
}

bool phx_recovered(const struct phx_spec *spec, const struct phx_pod *pods, size_t n)
{
	return settled(spec, pods, n, false);
}

int phx_capacity_percent(const struct phx_spec *spec, const struct phx_pod *pods, size_t n)
{
	double pct = 0;
	bool primary = false;
	for (size_t i = 0; i < n; i++) {
		const struct phx_pod *p = &pods[i];
		if (!alive(p) || p->health != PHX_HEALTH_READY)
			continue;
		if (p->role == PHX_ROLE_PRIMARY && !primary) {
			primary = true;
			pct += 100;
		} else {
			pct += 100 * spec->capacity;
		}
	}
	return (int)llround(pct);
}

static bool any_ready_serving(const struct phx_pod *pods, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (alive(&pods[i]) && pods[i].serving && pods[i].health == PHX_HEALTH_READY)
			return true;
	return false;
}

/* The phase the pods alone give (the conditions follow it even while Invalid or Paused). */
static const char *pods_phase(const struct phx_status_input *in)
{
	const struct phx_pod *pods = in->pods;
	size_t n = in->npods;
	const char *prev = kube_json_get_str(in->prev_status, "phase", NULL);
	/* Pending says pods are on their way; an API that refuses them makes it Degraded. */
	bool refused = in->create_fail_msg && in->create_fail_msg[0];
	bool fresh = in->failovers == 0 && !refused &&
		     (!prev || !*prev || str_eq(prev, "Pending") || str_eq(prev, "Invalid"));
	bool rollout = false, starting = false, ready_standby = false;

	for (size_t i = 0; i < n; i++) {
		if (!alive(&pods[i])) {
			/* a pod being removed is a transition, not a stuck state */
			if (pods[i].reason == PHX_FAIL_TERMINATING)
				starting = true;
			continue;
		}
		if (!str_eq(pods[i].revision, in->spec->revision))
			rollout = true;
		if (pods[i].health != PHX_HEALTH_READY)
			starting = true;
		else if (pods[i].role != PHX_ROLE_PRIMARY)
			ready_standby = true;
	}
	if (!any_ready_serving(pods, n)) {
		if (in->in_progress)
			return ready_standby ? "FailingOver" : "Degraded";
		return fresh ? "Pending" : "Degraded";
	}
	if (phx_settled(in->spec, pods, n))
		return "Healthy";
	if (in->in_progress)
		return "Recovering";
	if (rollout)
		return "Updating";
	if (fresh)
		return "Pending";
	return starting ? "Recovering" : "Degraded";
}

const char *phx_phase_compute(const struct phx_status_input *in)
{
	/* Not Pending (which says no operator acts): the operator acts, and says why it holds. */
	if (in->invalid)
		return "Invalid";
	if (in->spec->paused)
		return "Paused";
	return pods_phase(in);
}

cJSON *phx_status_build(const struct phx_status_input *in)
{
	const struct phx_spec *spec = in->spec;
	const struct phx_pod *pods = in->pods;
	size_t n = in->npods, ready = 0;
	const struct phx_pod *prim = pick_primary(spec, pods, n);
	const char *phase = phx_phase_compute(in);
	int total = 1 + spec->standbys;
	int cap = phx_capacity_percent(spec, pods, n);
	char buf[64];
	cJSON *st = cJSON_CreateObject();
	cJSON *standbys = cJSON_AddArrayToObject(st, "standbys");
	cJSON *serving = cJSON_AddArrayToObject(st, "serving");

	if (!st || !standbys || !serving) {
		cJSON_Delete(st);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct phx_pod *p = &pods[i];
		if (!alive(p))
			continue;
		if (p->health == PHX_HEALTH_READY)
			ready++;
		if (p != prim)
			cJSON_AddItemToArray(standbys, cJSON_CreateString(p->name));
		if (p->serving)
			cJSON_AddItemToArray(serving, cJSON_CreateString(p->name));
	}
	cJSON_AddStringToObject(st, "phase", phase);
	cJSON_AddStringToObject(st, "primary", prim ? prim->name : "");
	cJSON_AddNumberToObject(st, "readyInstances", (double)ready);
	cJSON_AddNumberToObject(st, "totalInstances", total);
	snprintf(buf, sizeof(buf), "%zu/%d", ready, total);
	cJSON_AddStringToObject(st, "readyDisplay", buf);
	cJSON_AddNumberToObject(st, "capacityPercent", cap);
	snprintf(buf, sizeof(buf), "%d%%", cap);
	cJSON_AddStringToObject(st, "capacityDisplay", buf);
	cJSON_AddNumberToObject(st, "failovers", (double)in->failovers);
	if (in->last_failover_ms > 0) {
		phx_time_format(in->last_failover_ms, buf, sizeof(buf));
		cJSON_AddStringToObject(st, "lastFailoverTime", buf);
	}
	if (in->last_reaction_ms >= 0)
		cJSON_AddNumberToObject(st, "lastFailoverReactionMs", (double)in->last_reaction_ms);
	if (in->last_recovery_s >= 0)
		cJSON_AddNumberToObject(st, "lastRecoverySeconds",
					round(in->last_recovery_s * 1000) / 1000);
	if (in->ncounted_failures > 0) {
		cJSON *cf = cJSON_AddArrayToObject(st, "countedFailures");
		for (size_t i = 0; i < in->ncounted_failures; i++)
			cJSON_AddItemToArray(cf, cJSON_CreateString(in->counted_failures[i]));
	}
	cJSON_AddStringToObject(st, "currentRevision", prim ? prim->revision : "");
	cJSON_AddStringToObject(st, "updateRevision", spec->revision);
	cJSON_AddNumberToObject(st, "observedGeneration", (double)in->generation);
	if (in->in_progress) {
		cJSON *fip = cJSON_AddObjectToObject(st, "failoverInProgress");
		cJSON *promoted = cJSON_AddArrayToObject(fip, "promoted");
		cJSON *spawning = cJSON_AddArrayToObject(fip, "spawning");
		phx_time_format(in->in_progress_started_ms, buf, sizeof(buf));
		cJSON_AddStringToObject(fip, "startedAt", buf);
		cJSON_AddStringToObject(fip, "failedPod",
					in->in_progress_failed_pod ? in->in_progress_failed_pod : "");
		for (size_t i = 0; i < n; i++) {
			if (!alive(&pods[i]))
				continue;
			if (pods[i].serving && pods[i].health == PHX_HEALTH_READY)
				cJSON_AddItemToArray(promoted, cJSON_CreateString(pods[i].name));
			else if (pods[i].health != PHX_HEALTH_READY)
				cJSON_AddItemToArray(spawning, cJSON_CreateString(pods[i].name));
		}
	}
	cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
	bool avail = any_ready_serving(pods, n);
	const char *pphase = pods_phase(in);
	bool degraded = str_eq(pphase, "Degraded") || str_eq(pphase, "FailingOver");
	bool progressing = !str_eq(pphase, "Healthy") && !str_eq(pphase, "Degraded");
	snprintf(buf, sizeof(buf), "%zu of %d instances ready", ready, total);
	phx_condition_add(conds, in->prev_status, "Available", avail,
		      avail ? "ServingPodReady" : "NoServingPod", buf, in->generation, in->now_ms);
	phx_condition_add(conds, in->prev_status, "Degraded", degraded, degraded ? pphase : "AsExpected",
		      buf, in->generation, in->now_ms);
	phx_condition_add(conds, in->prev_status, "Progressing", progressing,
		      progressing ? pphase : "Settled", buf, in->generation, in->now_ms);
	phx_condition_add(conds, in->prev_status, "Invalid", in->invalid,
		      in->invalid ? "InvalidSpec" : "SpecValid",
		      in->invalid ? in->invalid_msg : "", in->generation, in->now_ms);
	bool create_failed = in->create_fail_msg && in->create_fail_msg[0];
	const char *cf_reason = in->create_fail_reason && in->create_fail_reason[0] ?
					in->create_fail_reason : "CreateRefused";
	phx_condition_add(conds, in->prev_status, "PodCreateFailed", create_failed,
		      create_failed ? cf_reason : "PodsCreated",
		      create_failed ? in->create_fail_msg : "", in->generation, in->now_ms);
	return st;
}

int64_t phx_failovers_merge(int64_t ours, int64_t live, bool confirmed)
{
	if (confirmed || live < ours)
		return ours;
	return live;
}

int64_t phx_reaction_start(int64_t seen, int64_t resumed, int64_t now)
{
	int64_t start = seen > 0 && seen <= now ? seen : now;
	if (resumed > start && resumed <= now)
		start = resumed;
	return start;
}

bool phx_status_refresh_due(int64_t last_ms, int64_t now_ms)
{
	return last_ms <= 0 || now_ms - last_ms >= PHX_STATUS_REFRESH_MS || last_ms > now_ms + 60000;
}

/* ---------------------------------------------------------------- builders */

static void set_label(cJSON *labels, const char *k, const char *v, bool keep_existing)
{
	if (keep_existing && cJSON_GetObjectItemCaseSensitive(labels, k))
		return;
	kube_json_set_str(labels, k, v);
}

static cJSON *base_object(const cJSON *svc, const char *api, const char *kind, const char *name)
{
	const char *svcname = kube_json_name(svc);
	cJSON *o = cJSON_CreateObject();
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON *labels = md ? cJSON_AddObjectToObject(md, "labels") : NULL;
	if (!labels || !svcname) {
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddStringToObject(o, "apiVersion", api);
	cJSON_AddStringToObject(o, "kind", kind);
	cJSON_AddStringToObject(md, "name", name);
	if (kube_json_namespace(svc))
		cJSON_AddStringToObject(md, "namespace", kube_json_namespace(svc));
	set_label(labels, PHX_LABEL_SERVICE, svcname, false);
	set_label(labels, "app.kubernetes.io/name", svcname, false);
	set_label(labels, "app.kubernetes.io/instance", svcname, false);
	set_label(labels, "app.kubernetes.io/managed-by", "phoenix-operator", false);
	set_label(labels, "app.kubernetes.io/part-of", svcname, false);
	cJSON_AddItemToObject(md, "ownerReferences",
			      phx_owner_refs_new(svc, PHX_API_VERSION, PHX_KIND));
	return o;
}

static void scale_resources(cJSON *container, double factor)
{
	static const char *kinds[] = { "requests", "limits" };
	for (size_t k = 0; k < 2; k++) {
		cJSON *res = (cJSON *)kube_json_get(container, "resources", kinds[k], NULL);
		cJSON *q = res ? res->child : NULL, *next;
		/* Replacing an item frees it: keep the successor first. */
		for (; q; q = next) {
			char in[48], out[48];
			next = q->next;
			if (cJSON_IsString(q))
				snprintf(in, sizeof(in), "%s", q->valuestring);
			else if (cJSON_IsNumber(q))
				snprintf(in, sizeof(in), "%.17g", q->valuedouble);
			else
				continue;
			if (phx_quantity_scale(in, factor, out, sizeof(out)) == 0)
				cJSON_ReplaceItemInObjectCaseSensitive(res, q->string,
								      cJSON_CreateString(out));
		}
	}
}

static void add_probe(cJSON *podspec, const cJSON *spec)
{
	cJSON *containers = cJSON_GetObjectItemCaseSensitive(podspec, "containers");
	cJSON *c;
	cJSON_ArrayForEach(c, containers) {
		if (cJSON_GetObjectItemCaseSensitive(c, "readinessProbe"))
			return;
	}
	const cJSON *hb = kube_json_get(spec, "heartbeat", NULL);
	const cJSON *port = kube_json_get(hb, "port", NULL);
	int64_t period = 5, threshold = 3;
	kube_json_get_int(hb, &period, "periodSeconds", NULL);
	kube_json_get_int(hb, &threshold, "failureThreshold", NULL);
	const char *path = kube_json_get_str(hb, "path", NULL);
	int first = first_container_port(containers);
	if (!port && first == 0)
		return;
	cJSON *probe = cJSON_AddObjectToObject(cJSON_GetArrayItem(containers, 0), "readinessProbe");
	cJSON *get = cJSON_AddObjectToObject(probe, "httpGet");
	cJSON_AddStringToObject(get, "path", path ? path : "/health");
	if (port)
		cJSON_AddItemToObject(get, "port", cJSON_Duplicate(port, 1));
	else
		cJSON_AddNumberToObject(get, "port", first);
	cJSON_AddNumberToObject(probe, "periodSeconds", (double)period);
	cJSON_AddNumberToObject(probe, "failureThreshold", (double)threshold);
}

static void add_anti_affinity(cJSON *podspec, const char *svcname)
{
	if (cJSON_GetObjectItemCaseSensitive(podspec, "affinity"))
		return;
	cJSON *aff = cJSON_AddObjectToObject(podspec, "affinity");
	cJSON *anti = cJSON_AddObjectToObject(aff, "podAntiAffinity");
	cJSON *pref = cJSON_AddArrayToObject(anti, "preferredDuringSchedulingIgnoredDuringExecution");
	cJSON *term = cJSON_CreateObject();
	cJSON_AddItemToArray(pref, term);
	cJSON_AddNumberToObject(term, "weight", 100);
	cJSON *pat = cJSON_AddObjectToObject(term, "podAffinityTerm");
	cJSON_AddStringToObject(pat, "topologyKey", "kubernetes.io/hostname");
	cJSON *ml = cJSON_AddObjectToObject(cJSON_AddObjectToObject(pat, "labelSelector"),
					    "matchLabels");
	cJSON_AddStringToObject(ml, PHX_LABEL_SERVICE, svcname);
}

cJSON *phx_pod_build(const cJSON *svc, const struct phx_spec *spec, const char *pod_name,
		     enum phx_role role, bool serving)
{
	const cJSON *tspec = kube_json_get(svc, "spec", "template", "spec", NULL);
	const cJSON *tmeta = kube_json_get(svc, "spec", "template", "metadata", NULL);
	cJSON *pod = NULL, *podspec, *labels, *md;
	const cJSON *kv;

	if (!tspec || !pod_name)
		return NULL;
	pod = base_object(svc, "v1", "Pod", pod_name);
	if (!pod)
		return NULL;
	md = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	labels = cJSON_GetObjectItemCaseSensitive(md, "labels");
	cJSON_ArrayForEach(kv, kube_json_get(tmeta, "labels", NULL)) {
		if (cJSON_IsString(kv) && strncmp(kv->string, "phoenix.fpai.io/", 16) != 0)
			kube_json_set_str(labels, kv->string, kv->valuestring);
	}
	set_label(labels, PHX_LABEL_ROLE, phx_role_str(role), false);
	set_label(labels, PHX_LABEL_SERVING, serving ? "true" : "false", false);
	set_label(labels, PHX_LABEL_REVISION, spec->revision, false);
	set_label(labels, PHX_LABEL_OWNER, kube_json_uid(svc) ? kube_json_uid(svc) : "", false);
	if (kube_json_get(tmeta, "annotations", NULL))
		cJSON_AddItemToObject(md, "annotations",
				      cJSON_Duplicate(kube_json_get(tmeta, "annotations", NULL), 1));
	podspec = cJSON_Duplicate(tspec, 1);
	if (!podspec) {
		cJSON_Delete(pod);
		return NULL;
	}
	cJSON_AddItemToObject(pod, "spec", podspec);
	if (role == PHX_ROLE_STANDBY && spec->capacity != 1) {
		cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(podspec, "containers"))
			scale_resources(c, spec->capacity);
	}
	add_probe(podspec, kube_json_get(svc, "spec", NULL));
	add_anti_affinity(podspec, kube_json_name(svc));
	return pod;
}

cJSON *phx_service_build(const cJSON *svc)
{
	const char *name = kube_json_name(svc);
	const cJSON *spec = kube_json_get(svc, "spec", NULL);
	const char *type = kube_json_get_str(spec, "service", "type", NULL);
	const cJSON *ports = kube_json_get(spec, "service", "ports", NULL);
	cJSON *o = base_object(svc, "v1", "Service", name ? name : "");
	if (!o)
		return NULL;
	cJSON *s = cJSON_AddObjectToObject(o, "spec");
	cJSON_AddStringToObject(s, "type", type ? type : "ClusterIP");
	/* Membership is the serving label, which this controller owns, not pod readiness: with
	 * readiness in the loop the endpoints controller drops a failing primary at the same moment
	 * we see it fail, and the Service is empty until a standby is relabelled. Publishing
	 * not-ready (and terminating) addresses lets Surge add the standby before the failed pod
	 * leaves, so the endpoint set is never empty. */
	cJSON_AddBoolToObject(s, "publishNotReadyAddresses", 1);
	cJSON *sel = cJSON_AddObjectToObject(s, "selector");
	cJSON_AddStringToObject(sel, PHX_LABEL_SERVICE, name);
	cJSON_AddStringToObject(sel, PHX_LABEL_SERVING, "true");
	/* Labels alone do not make a pod ours: only pods we created carry our UID. */
	if (kube_json_uid(svc))
		cJSON_AddStringToObject(sel, PHX_LABEL_OWNER, kube_json_uid(svc));
	cJSON *out = cJSON_AddArrayToObject(s, "ports");
	const cJSON *p;
	cJSON_ArrayForEach(p, ports) {
		cJSON *q = cJSON_CreateObject();
		const char *pname = kube_json_get_str(p, "name", NULL);
		const char *proto = kube_json_get_str(p, "protocol", NULL);
		const cJSON *tp = kube_json_get(p, "targetPort", NULL);
		int64_t port = 0;
		kube_json_get_int(p, &port, "port", NULL);
		if (pname)
			cJSON_AddStringToObject(q, "name", pname);
		cJSON_AddNumberToObject(q, "port", (double)port);
		if (tp)
			cJSON_AddItemToObject(q, "targetPort", cJSON_Duplicate(tp, 1));
		else
			cJSON_AddNumberToObject(q, "targetPort", (double)port);
		cJSON_AddStringToObject(q, "protocol", proto ? proto : "TCP");
		cJSON_AddItemToArray(out, q);
	}
	if (cJSON_GetArraySize(out) == 0) {
		int port = first_container_port(kube_json_get(spec, "template", "spec", "containers",
							      NULL));
		cJSON *q = cJSON_CreateObject();
		cJSON_AddStringToObject(q, "name", "default");
		cJSON_AddNumberToObject(q, "port", port);
		cJSON_AddNumberToObject(q, "targetPort", port);
		cJSON_AddStringToObject(q, "protocol", "TCP");
		cJSON_AddItemToArray(out, q);
	}
	return o;
}

cJSON *phx_pdb_build(const cJSON *svc)
{
	const char *name = kube_json_name(svc);
	cJSON *o = base_object(svc, "policy/v1", "PodDisruptionBudget", name ? name : "");
	if (!o)
		return NULL;
	cJSON *s = cJSON_AddObjectToObject(o, "spec");
	cJSON_AddNumberToObject(s, "maxUnavailable", 1);
	cJSON *ml = cJSON_AddObjectToObject(cJSON_AddObjectToObject(s, "selector"), "matchLabels");
	cJSON_AddStringToObject(ml, PHX_LABEL_SERVICE, name);
	if (kube_json_uid(svc))
		cJSON_AddStringToObject(ml, PHX_LABEL_OWNER, kube_json_uid(svc));
	return o;
}
