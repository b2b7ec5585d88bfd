/* PhoenixService decision logic, spec: validation and parsing of a PhoenixService's spec into
 * struct phx_spec, with its template revision hash (phx_failover.h). Pure functions. */
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

int phx_first_container_port(const cJSON *containers)
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
	if (n == 0 && phx_first_container_port(containers) == 0) {
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

/* The fields with their defaults, and the template revision; nothing is checked yet. */
static void spec_read(const cJSON *svc, const cJSON *spec, struct phx_spec *out)
{
	int64_t iv;
	double dv;

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

	uint64_t h = UINT64_C(1469598103934665603);
	hash_json(&h, kube_json_get(spec, "template", NULL));
	hash_json(&h, kube_json_get(spec, "heartbeat", NULL));
	hash_json(&h, kube_json_get(spec, "standbyCapacity", NULL));
	snprintf(out->revision, sizeof(out->revision), "%010" PRIx64, h & UINT64_C(0xffffffffff));
}

/* spec.failover.mode, standbys and standbyCapacity (an out-of-range value is clamped so the
 * failover can go on). Returns 0 or KUBE_EINVAL with err set. */
static int check_scalars(const cJSON *spec, struct phx_spec *out, char *err, size_t errlen)
{
	const char *s = kube_json_get_str(spec, "failover", "mode", NULL);

	if (s && strcmp(s, "Surge") == 0) {
		out->mode = PHX_MODE_SURGE;
	} else if (s && strcmp(s, "Promote") == 0) {
		out->mode = PHX_MODE_PROMOTE;
	} else if (s) {
		snprintf(err, errlen, "spec.failover.mode %s: must be Surge or Promote", s);
		return KUBE_EINVAL;
	}
	if (out->standbys < 0 || out->standbys > PHX_MAX_STANDBYS) {
		snprintf(err, errlen, "spec.standbys %d: must be 0..%d", out->standbys,
			 PHX_MAX_STANDBYS);
		out->standbys = out->standbys < 0 ? 0 : PHX_MAX_STANDBYS;
		return KUBE_EINVAL;
	}
	if (!isfinite(out->capacity) || out->capacity < 1 || out->capacity > 10) {
		snprintf(err, errlen, "spec.standbyCapacity must be 1..10");
		out->capacity = 2;
		return KUBE_EINVAL;
	}
	return 0;
}

/* The containers: at least one, resources, ports and the heartbeat port. */
static int check_containers(const cJSON *spec, char *err, size_t errlen)
{
	const cJSON *containers = kube_json_get(spec, "template", "spec", "containers", NULL);
	const char *s;
	int rc;

	if (!cJSON_IsArray(containers) || cJSON_GetArraySize(containers) == 0) {
		snprintf(err, errlen, "spec.template.spec.containers must list at least one "
				      "container");
		return KUBE_EINVAL;
	}
	rc = check_resources(containers, err, errlen);
	if (rc < 0)
		return rc;
	rc = check_ports(spec, containers, err, errlen);
	if (rc < 0)
		return rc;
	s = kube_json_get_str(spec, "heartbeat", "port", NULL);
	if (s && !container_has_port_name(containers, s)) {
		snprintf(err, errlen, "spec.heartbeat.port %s names no container port", s);
		return KUBE_EINVAL;
	}
	return 0;
}

int phx_spec_parse(const cJSON *svc, struct phx_spec *out, char *err, size_t errlen)
{
	const cJSON *spec = kube_json_get(svc, "spec", NULL);
	char dummy[8];
	int rc;

	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	spec_read(svc, spec, out);
	if (!spec || !cJSON_IsObject(spec)) {
		snprintf(err, errlen, "spec is missing");
		return KUBE_EINVAL;
	}
	rc = check_scalars(spec, out, err, errlen);
	return rc < 0 ? rc : check_containers(spec, err, errlen);
}
