/* PhoenixService decision logic, status: settled/recovered, capacity, phase, the status object
 * and its conditions, failover counting (phx_failover.h). Pure functions. */
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
#include "phx_api.h"
#include "phx_meta.h"

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

/* failovers, lastFailoverTime, lastFailoverReactionMs, lastRecoverySeconds, countedFailures. */
static void add_failover_fields(cJSON *st, const struct phx_status_input *in)
{
	char buf[64];

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
}

/* status.failoverInProgress: when it started, the failed pod, the pods promoted and spawning. */
static void add_in_progress(cJSON *st, const struct phx_status_input *in)
{
	const struct phx_pod *pods = in->pods;
	size_t n = in->npods;
	char buf[64];

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

/* status.conditions: Available, Degraded, Progressing, Invalid, PodCreateFailed. */
static void add_conditions(cJSON *st, const struct phx_status_input *in, size_t ready, int total)
{
	const struct phx_pod *pods = in->pods;
	size_t n = in->npods;
	char buf[64];

	cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
	bool avail = any_ready_serving(pods, n);
	const char *pphase = pods_phase(in);
	bool degraded = str_eq(pphase, "Degraded") || str_eq(pphase, "FailingOver");
	bool progressing = !str_eq(pphase, "Healthy") && !str_eq(pphase, "Degraded");
	snprintf(buf, sizeof(buf), "%zu of %d instances ready", ready, total);
	phx_condition_add(conds, in->prev_status, PHX_COND_AVAILABLE, avail,
			  avail ? PHX_REASON_SERVING_POD_READY : PHX_REASON_NO_SERVING_POD, buf,
			  in->generation, in->now_ms);
	phx_condition_add(conds, in->prev_status, PHX_COND_DEGRADED, degraded,
			  degraded ? pphase : PHX_REASON_AS_EXPECTED, buf, in->generation, in->now_ms);
	phx_condition_add(conds, in->prev_status, PHX_COND_PROGRESSING, progressing,
			  progressing ? pphase : PHX_REASON_SETTLED, buf, in->generation, in->now_ms);
	phx_condition_add(conds, in->prev_status, PHX_COND_INVALID, in->invalid,
			  in->invalid ? PHX_REASON_INVALID_SPEC : PHX_REASON_SPEC_VALID,
			  in->invalid ? in->invalid_msg : "", in->generation, in->now_ms);
	bool create_failed = in->create_fail_msg && in->create_fail_msg[0];
	const char *cf_reason = in->create_fail_reason && in->create_fail_reason[0] ?
					in->create_fail_reason : PHX_REASON_CREATE_REFUSED;
	phx_condition_add(conds, in->prev_status, PHX_COND_POD_CREATE_FAILED, create_failed,
			  create_failed ? cf_reason : PHX_REASON_PODS_CREATED,
			  create_failed ? in->create_fail_msg : "", in->generation, in->now_ms);
}

cJSON *phx_status_build(const struct phx_status_input *in)
{
	const struct phx_spec *spec = in->spec;
	const struct phx_pod *pods = in->pods;
	size_t n = in->npods, ready = 0;
	const struct phx_pod *prim = phx_pick_primary(spec, pods, n);
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
	add_failover_fields(st, in);
	cJSON_AddStringToObject(st, "currentRevision", prim ? prim->revision : "");
	cJSON_AddStringToObject(st, "updateRevision", spec->revision);
	cJSON_AddNumberToObject(st, "observedGeneration", (double)in->generation);
	if (in->in_progress)
		add_in_progress(st, in);
	add_conditions(st, in, ready, total);
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
