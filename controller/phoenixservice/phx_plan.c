/* PhoenixService decision logic, planner: from the classified pods to the ordered actions of
 * one reconcile (phx_plan_compute, phx_failover.h). Pure functions. */
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

/* ---------------------------------------------------------------- planner */

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

const struct phx_pod *phx_pick_primary(const struct phx_spec *spec, const struct phx_pod *pods,
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

static const struct phx_pod *pod_find(const struct phx_pod *pods, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (str_eq(pods[i].name, name))
			return &pods[i];
	return NULL;
}

/* A failed pod is deleted with grace 0 (phx_execute), which takes it out of the Service as its
 * "take out" label would: the delete takes the label's place in the plan (a fence stays before
 * the promotion it guards) and the label's write is saved. */
static void delete_instead_of_fence(struct phx_plan *pl, const struct phx_pod *pods, size_t n)
{
	for (size_t i = 0; i < pl->nacts; i++) {
		const struct phx_pod *p = pod_find(pods, n, pl->acts[i].pod);
		if (pl->acts[i].kind != PHX_ACT_DELETE || !p || alive(p))
			continue;
		for (size_t j = 0; j < i; j++) {
			struct phx_action *l = &pl->acts[j];
			if (l->kind != PHX_ACT_LABEL || l->serving || !str_eq(l->pod, p->name))
				continue;
			*l = pl->acts[i];
			l->fences = true;
			l->why = "take failed pod out: delete it";
			memmove(&pl->acts[i], &pl->acts[i + 1],
				(pl->nacts - i - 1) * sizeof(pl->acts[0]));
			pl->nacts--;
			i--;
			break;
		}
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

	prim = phx_pick_primary(spec, pods, n);
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
	delete_instead_of_fence(pl, pods, n);
	if (pl->kind == PHX_PLAN_NONE && pl->nacts > 0)
		pl->kind = PHX_PLAN_CREATE;

	if (prim && pl->nacts == 0 && !in->failover_in_progress &&
	    phx_recovered(spec, pods, n))
		plan_rollout(in, prim, pl);
}
