/* PhoenixService decision logic, classification: a pod's health, failure reason and role
 * (phx_failover.h), and their names. Pure functions. */
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
