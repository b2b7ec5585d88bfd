/* The PhoenixService reconciler, execution: the plan's actions written in order (a newer failure
 * preempts the plan), the observed pods, spec and pause handling, rollout Events. */
#include "phx_service_int.h"

/* ---------------------------------------------------------------- reconcile */

/* Mirrors a successful action into the view so status describes the state just written. */
static size_t view_apply(const struct phx_action *a, const char *created, const char *revision,
			 struct phx_pod *pods, size_t n, int64_t now_ms)
{
	if (a->kind == PHX_ACT_CREATE) {
		if (n >= PHX_MAX_PODS)
			return n;
		struct phx_pod *p = &pods[n++];
		memset(p, 0, sizeof(*p));
		svc_set_str(p->name, sizeof(p->name), created);
		svc_set_str(p->revision, sizeof(p->revision), revision);
		p->role = a->role;
		p->serving = a->serving;
		p->health = PHX_HEALTH_STARTING;
		p->created_ms = now_ms;
		return n;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(pods[i].name, a->pod) != 0)
			continue;
		if (a->kind == PHX_ACT_LABEL) {
			pods[i].role = a->role;
			pods[i].serving = a->serving;
		} else if (a->kind == PHX_ACT_DELETE) {
			pods[i].health = PHX_HEALTH_FAILED;
			pods[i].reason = PHX_FAIL_TERMINATING;
			if (a->fences)
				pods[i].serving = false;
		}
	}
	return n;
}

static void append_name(char *buf, size_t len, const char *pod, enum phx_role role)
{
	size_t off = strlen(buf);
	snprintf(buf + off, len - off, "%s%.200s (%s)", off ? ", " : "", pod, phx_role_str(role));
}

/* One log line per action with only the fields that say something (no pod="" role=""). */
static void log_action(enum kube_log_level lvl, const char *msg, const char *key,
		       const struct phx_action *a, const char *created, const char *failure,
		       const char *error)
{
	const char *kv[14] = { 0 };
	size_t n = 0;
	const char *pod = a->kind == PHX_ACT_CREATE ? created : a->pod;
	bool has_role = a->kind == PHX_ACT_LABEL || a->kind == PHX_ACT_CREATE;
#define KV(k, v)                                  \
	do {                                      \
		if ((v) && *(v)) {                \
			kv[n++] = (k);            \
			kv[n++] = (v);            \
		}                                 \
	} while (0)
	KV("service", key);
	KV("pod", pod);
	if (lvl != KUBE_LOG_INFO)
		KV("action", a->why);
	if (has_role) {
		KV("role", phx_role_str(a->role));
		KV("serving", a->serving ? "true" : "false");
	}
	KV("failure", failure);
	KV("error", error);
#undef KV
	kube_log(lvl, COMP, msg, kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], kv[6], kv[7], kv[8],
		 kv[9], kv[10], kv[11], kv[12], kv[13], NULL);
}

uint64_t svc_fast_gen(struct phx_reconciler *r, struct svc_rec *rec)
{
	pthread_mutex_lock(&r->fast_mu);
	uint64_t g = rec->fast_gen;
	pthread_mutex_unlock(&r->fast_mu);
	return g;
}

/* Whether the plan's pod was failed in this snapshot, and why (reason "" otherwise). */
static bool pod_was_failed(const struct phx_pod *pods, size_t n, const char *name,
			   const char **reason)
{
	bool was_failed = false;

	*reason = "";
	for (size_t j = 0; j < n; j++) {
		if (strcmp(pods[j].name, name) != 0)
			continue;
		was_failed = pods[j].health == PHX_HEALTH_FAILED;
		if (was_failed)
			*reason = phx_fail_reason_str(pods[j].reason);
	}
	return was_failed;
}

static int exec_label(struct phx_reconciler *r, struct svc_rec *rec, const char *ns,
		      const struct phx_plan *pl, const struct phx_action *a, bool was_failed,
		      char *promoted, size_t promoted_len)
{
	int rc = svc_patch_labels(r, ns, a->pod, a->role, a->serving);

	if (rc == KUBE_ENOTFOUND)
		return 0; /* gone meanwhile: the next pass sees it */
	if (rc < 0)
		return rc;
	svc_expect_add(rec, EXPECT_LABEL, a->pod, a->role, a->serving, NULL);
	if (a->serving && !was_failed) {
		svc_record_reaction(r, rec);
		if (pl->kind == PHX_PLAN_FAILOVER)
			append_name(promoted, promoted_len, a->pod, a->role);
	}
	return 0;
}

static int exec_create(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
		       const struct phx_spec *spec, const struct phx_action *a, char *created,
		       size_t created_len, char *spawned, size_t spawned_len)
{
	int rc = svc_create_pod(r, svc, spec, a->role, a->serving, created, created_len, rec);

	if (rc < 0)
		return rc;
	svc_expect_add(rec, EXPECT_CREATE, created, a->role, a->serving, spec->revision);
	append_name(spawned, spawned_len, created, a->role);
	return 0;
}

/* One Event for every pod a pass created (a new service: 1 instead of 3 writes): PrimarySpawned
 * when a primary is among them, else StandbySpawned; the message names each with its role. */
static void spawned_event(struct phx_reconciler *r, const cJSON *svc, const char *spawned,
			  bool primary)
{
	char msg[1024];
	if (!spawned[0])
		return;
	snprintf(msg, sizeof(msg), "spawned %s", spawned);
	svc_event(r, svc, KUBE_EVENT_NORMAL, primary ? "PrimarySpawned" : "StandbySpawned", msg);
}

static int exec_clear_switchover(struct phx_reconciler *r, const cJSON *svc,
				 const struct phx_spec *spec, const struct phx_plan *pl,
				 const struct phx_action *a)
{
	char msg[1024];
	int rc = svc_clear_switchover(r, svc);

	if (rc == 0 && pl->kind == PHX_PLAN_SWITCHOVER) {
		snprintf(msg, sizeof(msg), "switched over to %s", pl->new_primary);
		svc_event(r, svc, KUBE_EVENT_NORMAL, "SwitchoverCompleted", msg);
	} else if (rc == 0) {
		snprintf(msg, sizeof(msg), "switchover request %s dropped: %s",
			 spec->switchover_to, a->why);
		svc_event(r, svc, KUBE_EVENT_NORMAL, "SwitchoverSkipped", msg);
	}
	return rc;
}

/* Executes the plan in order, stopping at the first error. Also stops (returning 0 with
 * *preempted set) when a primary failure was seen after the snapshot the plan was made from:
 * every prefix of a plan is safe, and the failure deserves a plan made from fresh data. */
int svc_execute(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
		   const struct phx_spec *spec, const struct phx_plan *pl, struct phx_pod *pods,
		   size_t *npods, uint64_t gen, bool *preempted)
{
	const char *ns = kube_json_namespace(svc);
	char msg[1024], promoted[768] = "", spawned[768] = "";
	bool spawned_primary = false;
	int rc = 0, deferred = 0;
	for (size_t i = 0; i < pl->nacts; i++) {
		const struct phx_action *a = &pl->acts[i];
		struct phx_action fence;
		char created[PHX_NAME_MAX] = "";
		if (svc_fast_gen(r, rec) != gen) {
			*preempted = true;
			kube_log(KUBE_LOG_DEBUG, COMP, "plan preempted by a new failure", "service",
				 rec->key, NULL);
			break;
		}
		const char *reason;
		bool was_failed = pod_was_failed(pods, *npods, a->pod, &reason);
		switch (a->kind) {
		case PHX_ACT_LABEL:
			rc = exec_label(r, rec, ns, pl, a, was_failed, promoted, sizeof(promoted));
			break;
		case PHX_ACT_DELETE:
			rc = svc_delete_pod(r, ns, a->pod, was_failed);
			if (rc == 0) {
				svc_expect_add(rec, EXPECT_DELETE, a->pod, a->role, false, NULL);
			} else if (a->fences) {
				/* Not deleted: take it out by its label as planned before, go on
				 * (the promotion must not wait for the delete) and report the
				 * delete's error at the end, so it is retried. */
				log_action(KUBE_LOG_WARN, "action failed", rec->key, a, created,
					   reason, kube_strerror(rc));
				fence = *a;
				fence.kind = PHX_ACT_LABEL;
				fence.serving = false;
				fence.why = "take failed pod out";
				deferred = rc;
				a = &fence;
				rc = exec_label(r, rec, ns, pl, a, was_failed, promoted,
						sizeof(promoted));
			}
			break;
		case PHX_ACT_CREATE:
			rc = exec_create(r, rec, svc, spec, a, created, sizeof(created), spawned,
					 sizeof(spawned));
			spawned_primary |= rc == 0 && a->role == PHX_ROLE_PRIMARY;
			break;
		case PHX_ACT_CLEAR_SWITCHOVER:
			rc = exec_clear_switchover(r, svc, spec, pl, a);
			break;
		}
		if (rc < 0) {
			log_action(KUBE_LOG_WARN, "action failed", rec->key, a, created, reason,
				   kube_strerror(rc));
			spawned_event(r, svc, spawned, spawned_primary);
			return rc;
		}
		log_action(KUBE_LOG_INFO, a->why, rec->key, a, created, reason, NULL);
		*npods = view_apply(a, created, spec->revision, pods, *npods, phx_wall_ms());
	}
	spawned_event(r, svc, spawned, spawned_primary);
	if (promoted[0]) {
		snprintf(msg, sizeof(msg), "now serving: %s", promoted);
		svc_event(r, svc, KUBE_EVENT_NORMAL, "StandbyPromoted", msg);
	}
	if (pl->kind == PHX_PLAN_ROLLOUT && pl->new_primary[0]) {
		snprintf(msg, sizeof(msg), "rollout: switched over to updated %s", pl->new_primary);
		svc_event(r, svc, KUBE_EVENT_NORMAL, "SwitchoverCompleted", msg);
	}
	return deferred;
}

size_t svc_observe_pods(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const cJSON *arr, int grace_s, int64_t now_ms, struct phx_pod *pods)
{
	size_t n = 0;
	const cJSON *pod;
	const char *name = kube_json_name(svc);
	cJSON_ArrayForEach(pod, arr) {
		if (n >= PHX_MAX_PODS)
			break;
		/* Only pods we manage: a pod borrowed through a stray owner reference is not ours. */
		if (strcmp(kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_SERVICE, NULL)
				   ? kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_SERVICE, NULL)
				   : "",
			   name) != 0)
			continue;
		uint64_t h = svc_name_hash(kube_json_name(pod)), rv = svc_rv_num(pod);
		pthread_mutex_lock(&r->fast_mu);
		if (phx_pod_is_ready(pod))
			svc_ever_ready_add(rec, h, rv);
		bool ever = svc_ever_ready_before(rec, h, rv);
		pthread_mutex_unlock(&r->fast_mu);
		phx_pod_classify(pod, ever, grace_s, now_ms, &pods[n++]);
	}
	return n;
}

bool svc_pod_alive(const struct phx_pod *pods, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(pods[i].name, name) == 0)
			return pods[i].health != PHX_HEALTH_FAILED;
	return false;
}

const char *svc_current_primary(const struct phx_pod *pods, size_t n)
{
	const char *best = "";
	for (size_t i = 0; i < n; i++) {
		if (pods[i].health == PHX_HEALTH_FAILED || pods[i].role != PHX_ROLE_PRIMARY)
			continue;
		if (!best[0] || pods[i].health == PHX_HEALTH_READY)
			best = pods[i].name;
	}
	return best;
}

/* A valid spec is remembered; an invalid one is replaced by the last valid one (keeping what
 * the user asks now: paused, switchover), so that failover goes on: promoting a Ready standby
 * needs no new pod. Without a remembered one (started on an invalid spec) the parse's defaults
 * stand: the plan is held to label changes anyway (svc_plan_hold_spawning). */
void svc_spec_for_plan(struct svc_rec *rec, struct phx_spec *spec, bool valid)
{
	if (valid) {
		rec->valid.standbys = spec->standbys;
		rec->valid.grace_s = spec->grace_s;
		rec->valid.capacity = spec->capacity;
		rec->valid.mode = spec->mode;
		memcpy(rec->valid.revision, spec->revision, sizeof(rec->valid.revision));
		rec->have_valid = true;
		return;
	}
	if (!rec->have_valid)
		return;
	spec->standbys = rec->valid.standbys;
	spec->grace_s = rec->valid.grace_s;
	spec->capacity = rec->valid.capacity;
	spec->mode = rec->valid.mode;
	memcpy(spec->revision, rec->valid.revision, sizeof(spec->revision));
}

/* Remembers when a paused service is resumed: time paused is not failover reaction. */
void svc_track_pause(struct svc_rec *rec, const struct phx_spec *spec)
{
	if (spec->paused) {
		rec->paused = true;
	} else if (rec->paused) {
		rec->paused = false;
		rec->resumed_us = svc_wall_us();
	}
}

/* Says once per distinct message (Warning Event, log) that the spec is invalid and what is held;
 * err gets the explanation appended (it is the Invalid condition's message). */
void svc_report_invalid(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   char *err, size_t errlen)
{
	size_t off = strlen(err);
	snprintf(err + off, errlen - off, "; failover goes on with the last valid spec, but no pod "
		 "is spawned or replaced until the spec is fixed");
	if (svc_str_eq(rec->invalid_msg, err))
		return;
	svc_name_set(&rec->invalid_msg, errlen, err);
	svc_event(r, svc, KUBE_EVENT_WARNING, "InvalidSpec", err);
	kube_log(KUBE_LOG_WARN, COMP, "invalid spec", "service", rec->key, "message", err, NULL);
}

/* Invalid spec: keep only what needs no new pod (labels: promote, fence; the switchover
 * annotation). No create, no delete: every prefix of a plan is safe, and so is this subset,
 * whose label actions keep their order. */
void svc_plan_hold_spawning(struct phx_plan *pl)
{
	size_t k = 0;
	for (size_t i = 0; i < pl->nacts; i++) {
		struct phx_action *a = &pl->acts[i];
		if (a->kind == PHX_ACT_DELETE && a->fences) {
			/* the delete that took a failed pod out: its label again */
			a->kind = PHX_ACT_LABEL;
			a->serving = false;
			a->fences = false;
			a->why = "take failed pod out";
		}
		if (a->kind == PHX_ACT_LABEL || a->kind == PHX_ACT_CLEAR_SWITCHOVER)
			pl->acts[k++] = *a;
	}
	pl->nacts = k;
}

/* RolloutStarted when a rollout's first step ran, RolloutCompleted once settled on it. */
void svc_rollout_events(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const struct phx_spec *spec, const struct phx_plan *pl,
			   const struct phx_pod *pods, size_t n)
{
	char msg[256];
	if (pl->kind == PHX_PLAN_ROLLOUT && !rec->rolling) {
		rec->rolling = true;
		snprintf(msg, sizeof(msg), "rolling out revision %s, one standby at a time",
			 spec->revision);
		svc_event(r, svc, KUBE_EVENT_NORMAL, "RolloutStarted", msg);
	} else if (rec->rolling && phx_settled(spec, pods, n)) {
		rec->rolling = false;
		snprintf(msg, sizeof(msg), "rollout of revision %s done: every instance updated",
			 spec->revision);
		svc_event(r, svc, KUBE_EVENT_NORMAL, "RolloutCompleted", msg);
	}
}

/* After the checks ran: reports a changed conflict. Else (paused, a failed plan) what was last
 * found still stands. */
void svc_ownership_settle(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			     struct owner_report *orep, bool checked)
{
	if (checked) {
		svc_note_ownership(r, rec, svc, orep);
		rec->owner_traffic_lost = orep->traffic_lost;
		return;
	}
	svc_set_str(orep->msg, sizeof(orep->msg), svc_str_or_empty(rec->owner_msg));
	orep->traffic_lost = rec->owner_traffic_lost;
}

/* A failover is under way (or planned) and no Ready pod serves: its retries are urgent. */
bool svc_failover_unserved(const struct svc_rec *rec, const struct phx_plan *pl,
			      const struct phx_pod *pods, size_t n)
{
	if (!rec->in_progress && pl->kind != PHX_PLAN_FAILOVER)
		return false;
	for (size_t i = 0; i < n; i++)
		if (pods[i].serving && pods[i].health == PHX_HEALTH_READY)
			return false;
	return true;
}

bool phx_reconciler_failover_pending(struct phx_reconciler *r, const char *key)
{
	struct svc_rec *rec = key ? svc_rec_get(r, key, false) : NULL;
	bool pending = rec && atomic_load(&rec->failover_pending);
	svc_rec_put(rec);
	return pending;
}
