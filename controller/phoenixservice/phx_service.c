/* The PhoenixService reconciler: observed state -> pure plan -> ordered writes -> status.
 * See phx_service.h for the contract and docs/architecture.md for the data flow. */
#include "phx_service_int.h"

/* ---------------------------------------------------------------- lifecycle */

int phx_reconciler_new(const struct phx_reconciler_opts *opts, struct phx_reconciler **out)
{
	if (!opts || !opts->client || !out)
		return KUBE_EINVAL;
	struct phx_reconciler *r = calloc(1, sizeof(*r));
	if (!r)
		return KUBE_ENOMEM;
	struct kube_metrics *m = opts->metrics ? opts->metrics : kube_metrics_default();
	static const char *const fo_labels[] = { "namespace", "service", NULL };
	static const char *const inst_labels[] = { "namespace", "service", "role", "ready", NULL };
	static const char *const res_labels[] = { "result", NULL };
	static const double reaction_b[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					     0.25, 0.5, 1, 2.5, 5, 15 };
	static const double recovery_b[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };
	r->client = opts->client;
	r->events = opts->events;
	pthread_rwlock_init(&r->map_lock, NULL);
	pthread_mutex_init(&r->fast_mu, NULL);
	pthread_mutex_init(&r->log_mu, NULL);
	r->m_failovers = kube_metric_register(m, KUBE_COUNTER, "phoenix_failovers_total",
					      "Failovers of a PhoenixService primary.", fo_labels,
					      NULL, 0);
	r->m_reaction = kube_metric_register(m, KUBE_HISTOGRAM, "phoenix_failover_reaction_seconds",
					     "From the watch event showing the primary's failure to a "
					     "standby labelled serving.", NULL, reaction_b,
					     sizeof(reaction_b) / sizeof(reaction_b[0]));
	r->m_recovery = kube_metric_register(m, KUBE_HISTOGRAM, "phoenix_recovery_seconds",
					     "From a primary's failure to all desired instances "
					     "Ready again.", NULL, recovery_b,
					     sizeof(recovery_b) / sizeof(recovery_b[0]));
	r->m_instances = kube_metric_register(m, KUBE_GAUGE, "phoenix_instances",
					      "PhoenixService pods by service, role and readiness.",
					      inst_labels, NULL, 0);
	r->m_reconcile = kube_metric_register(m, KUBE_COUNTER, "phoenix_reconcile_total",
					      "PhoenixService reconciles by result.", res_labels,
					      NULL, 0);
	r->m_errors = kube_metric_register(m, KUBE_COUNTER, "phoenix_reconcile_errors_total",
					   "PhoenixService reconciles that failed.", NULL, NULL, 0);
	r->m_duration = kube_metric_register(m, KUBE_HISTOGRAM,
					     "phoenix_reconcile_duration_seconds",
					     "Time spent in one PhoenixService reconcile.", NULL,
					     NULL, 0);
	*out = r;
	return 0;
}

void phx_reconciler_free(struct phx_reconciler *r)
{
	if (!r)
		return;
	struct svc_rec *rec, *tmp;
	/* No call is running: the map's reference is the only one left. */
	HASH_ITER(hh, r->recs, rec, tmp) {
		HASH_DEL(r->recs, rec);
		svc_rec_free(rec);
	}
	pthread_rwlock_destroy(&r->map_lock);
	pthread_mutex_destroy(&r->fast_mu);
	pthread_mutex_destroy(&r->log_mu);
	free(r);
}

size_t phx_reconciler_nrecords(struct phx_reconciler *r)
{
	pthread_rwlock_rdlock(&r->map_lock);
	size_t n = HASH_COUNT(r->recs);
	pthread_rwlock_unlock(&r->map_lock);
	return n;
}

void phx_reconciler_reset_bookkeeping(struct phx_reconciler *r)
{
	size_t n = 0;
	struct svc_rec **all = svc_rec_snapshot(r, &n);
	if (!all && phx_reconciler_nrecords(r) > 0)
		kube_log(KUBE_LOG_ERROR, COMP, "out of memory: failover bookkeeping not reset", NULL);
	for (size_t i = 0; i < n; i++) {
		struct svc_rec *rec = all[i];
		pthread_mutex_lock(&rec->mu);
		rec->init = false;
		free(rec->last_status);
		rec->last_status = NULL;
		pthread_mutex_lock(&r->fast_mu);
		rec->seen_from = rec->n_seen;
		pthread_mutex_unlock(&r->fast_mu);
		pthread_mutex_unlock(&rec->mu);
	}
	svc_rec_snapshot_free(all, n);
}

/* One reconcile's view of a service: the spec, the pods as observed plus our own writes, the
 * plan, and what the ownership checks found. */
struct pass {
	const cJSON *svc;
	struct phx_spec spec;
	struct phx_pod pods[PHX_MAX_PODS];
	size_t n;
	struct phx_plan pl;
	char err[512];
	int invalid;          /* phx_spec_parse's result */
	int64_t now_ms, gen;
	bool preempted;       /* a newer failure stopped the plan */
	struct owner_report orep;
	bool ochecked;        /* the Service and PDB were looked at */
};

/* Count each lost primary once: the one status named that is gone even though a takeover
 * already happened (a previous leader acted but died before writing status) included. Every
 * failed primary is counted, not only the one the plan reacts to: under rapid kills a new
 * primary can fail while the old one is still terminating. */
static void count_failures(struct phx_reconciler *r, struct svc_rec *rec, struct pass *p)
{
	const struct phx_plan *pl = &p->pl;

	if (p->spec.paused)
		return;
	uint64_t seen[FAIL_SEEN_MAX];
	size_t nseen = 0;
	pthread_mutex_lock(&r->fast_mu);
	for (size_t i = 0; rec->seen && i < rec->n_seen && i < FAIL_SEEN_MAX; i++)
		seen[nseen++] = rec->seen[i].h;
	pthread_mutex_unlock(&r->fast_mu);
	svc_counted_prune(rec, p->pods, p->n, seen, nseen);
	for (size_t i = 0; i < p->n; i++) {
		if (p->pods[i].role != PHX_ROLE_PRIMARY || p->pods[i].health != PHX_HEALTH_FAILED ||
		    svc_counted_has(rec, p->pods[i].name))
			continue;
		svc_start_failover(r, rec, p->svc, p->pods[i].name, p->pods[i].reason,
				   pl->degraded);
	}
	if (pl->primary_failed && !svc_counted_has(rec, pl->failed_pod))
		svc_start_failover(r, rec, p->svc, pl->failed_pod, pl->failed_reason, pl->degraded);
	if (rec->primary && !svc_pod_alive(p->pods, p->n, rec->primary) &&
	    !svc_counted_has(rec, rec->primary))
		svc_start_failover(r, rec, p->svc, rec->primary, PHX_FAIL_DELETED, pl->degraded);
}

/* ... and primaries the handlers saw failing, even if this snapshot predates the failure and a
 * relabel since made them standbys. */
static void count_seen_failures(struct phx_reconciler *r, struct svc_rec *rec, struct pass *p)
{
	char names[FAIL_SEEN_MAX][PHX_NAME_MAX];
	size_t nnames = 0;

	pthread_mutex_lock(&r->fast_mu);
	for (size_t i = rec->seen_from; rec->seen && i < rec->n_seen; i++)
		if (rec->n_seen - i <= FAIL_SEEN_MAX)
			svc_set_str(names[nnames++], PHX_NAME_MAX, rec->seen[i % FAIL_SEEN_MAX].name);
	pthread_mutex_unlock(&r->fast_mu);
	for (size_t i = 0; i < nnames && !p->spec.paused; i++)
		if (!svc_counted_has(rec, names[i]))
			svc_start_failover(r, rec, p->svc, names[i], PHX_FAIL_NONE, p->pl.degraded);
}

/* Adoption, the Service, the PDB and pods taken back: the first error, or 0. */
static int repair_children(struct phx_reconciler *r, struct svc_rec *rec,
			   const struct phx_observed *obs, struct pass *p)
{
	bool labelled = false;
	int arc = svc_adopt_pods(r, rec->key, p->svc, obs->pods, &labelled);
	int src = svc_ensure_service(r, p->svc, obs->service, labelled, &p->orep);
	int prc = svc_ensure_pdb(r, p->svc, obs->pdb, labelled, &p->orep);
	int vrc = svc_take_back_vanished(r, rec, p->svc);

	p->ochecked = true;
	return arc < 0 ? arc : src < 0 ? src : prc < 0 ? prc : vrc;
}

/* Reads the spec and the pods, plans, counts failures and executes the plan with the repairs
 * of the children. Returns the first write error, or 0. */
static int plan_and_execute(struct phx_reconciler *r, struct svc_rec *rec,
			    const struct phx_observed *obs, const cJSON *foreign, struct pass *p,
			    int64_t *requeue_after_ms)
{
	const cJSON *svc = p->svc;
	int rc;

	/* Taken before the pods are read: a failure seen after this preempts the plan. */
	uint64_t fgen = svc_fast_gen(r, rec);
	kube_json_get_int(svc, &p->gen, "metadata", "generation", NULL);
	p->invalid = phx_spec_parse(svc, &p->spec, p->err, sizeof(p->err));
	svc_spec_for_plan(rec, &p->spec, p->invalid == 0);
	svc_track_pause(rec, &p->spec);
	p->n = svc_observe_pods(r, rec, svc, obs->pods, p->spec.grace_s, p->now_ms, p->pods);
	p->n = svc_expect_apply(rec, p->pods, p->n, p->now_ms);
	p->orep = (struct owner_report){ .msg = "" };
	int frc = svc_fence_foreign(r, rec->key, svc, foreign, &p->orep);

	if (p->invalid < 0)
		svc_report_invalid(r, rec, svc, p->err, sizeof(p->err));
	else
		svc_name_set(&rec->invalid_msg, sizeof(p->err), NULL);
	struct phx_plan_input in = {
		.spec = &p->spec, .pods = p->pods, .npods = p->n,
		.prev_primary = svc_str_or_empty(rec->primary),
		.failover_in_progress = rec->in_progress,
	};
	phx_plan_compute(&in, &p->pl);
	if (p->invalid < 0)
		svc_plan_hold_spawning(&p->pl);
	count_failures(r, rec, p);
	count_seen_failures(r, rec, p);

	rc = frc < 0 ? frc
		     : svc_execute(r, rec, svc, &p->spec, &p->pl, p->pods, &p->n, fgen,
				   &p->preempted);
	if (rc == 0)
		svc_rollout_events(r, rec, svc, &p->spec, &p->pl, p->pods, p->n);
	if (rc == 0 && !p->spec.paused && p->invalid == 0)
		rc = repair_children(r, rec, obs, p);
	const char *prim = svc_current_primary(p->pods, p->n);
	if (prim[0])
		svc_name_set(&rec->primary, PHX_NAME_MAX, prim);
	if (rec->in_progress && !p->preempted && phx_recovered(&p->spec, p->pods, p->n))
		svc_finish_failover(r, rec, svc);
	*requeue_after_ms = p->preempted ? 1 : p->pl.requeue_after_ms;
	atomic_store(&rec->failover_pending, svc_failover_unserved(rec, &p->pl, p->pods, p->n));
	return rc;
}

/* The status this pass wants (NULL on ENOMEM); the failover count merged with the live one. */
static cJSON *status_for(struct svc_rec *rec, struct pass *p)
{
	struct phx_status_input si = {
		.spec = &p->spec, .pods = p->pods, .npods = p->n,
		.prev_status = kube_json_get(p->svc, "status", NULL), .generation = p->gen,
		.now_ms = p->now_ms, .invalid = p->invalid < 0, .invalid_msg = p->err,
		.failovers = rec->failovers, .last_failover_ms = rec->last_failover_ms,
		.last_reaction_ms = rec->last_reaction_ms, .last_recovery_s = rec->last_recovery_s,
		.in_progress = rec->in_progress, .in_progress_started_ms = rec->started_us / 1000,
		.in_progress_failed_pod = svc_str_or_empty(rec->failed_pod),
		.create_fail_reason = rec->create_reason, .create_fail_msg = rec->create_msg,
	};
	const char *counted[COUNTED_NAMES_MAX];
	si.counted_failures = counted;
	si.ncounted_failures = svc_counted_names(rec, counted);
	cJSON *tmp = NULL;
	int64_t live = 0;
	if (kube_json_get_int(svc_status_now(rec, p->svc, &tmp), &live, "failovers", NULL))
		rec->failovers = si.failovers =
			phx_failovers_merge(rec->failovers, live, rec->count_confirmed);
	cJSON_Delete(tmp);
	return phx_status_build(&si);
}

/* Notes the dashboard's row and writes status (not when preempted: the reconcile right
 * behind us writes one that includes the new failure). Returns the write's error, or 0. */
static int write_pass_status(struct phx_reconciler *r, struct svc_rec *rec, struct pass *p,
			     cJSON *status, int64_t *requeue_after_ms)
{
	snprintf(rec->phase, sizeof(rec->phase), "%s", kube_json_get_str(status, "phase", NULL));
	int64_t v = 0;
	kube_json_get_int(status, &v, "readyInstances", NULL);
	rec->ready = (int)v;
	rec->total = 1 + p->spec.standbys;
	rec->capacity = phx_capacity_percent(&p->spec, p->pods, p->n);
	int wrc = p->preempted ? 0 : svc_write_status(r, rec, p->svc, status, p->now_ms);
	if (wrc == KUBE_ECONFLICT) {
		/* The cache is behind the live object: its count is taken over (never lowered)
		 * once the cache catches up; retry then. */
		kube_log(KUBE_LOG_DEBUG, COMP, "status write conflict: cache behind", "service",
			 rec->key, NULL);
		wrc = 0;
		if (*requeue_after_ms <= 0 || *requeue_after_ms > 1000)
			*requeue_after_ms = 1000;
	}
	return wrc;
}

/* foreign: pods labelled for the service that it does not own (may be NULL). */
static int reconcile_locked(struct phx_reconciler *r, struct svc_rec *rec,
			    const struct phx_observed *obs, const cJSON *foreign,
			    int64_t *requeue_after_ms)
{
	struct pass pass = { .svc = obs->svc, .now_ms = phx_wall_ms() };
	struct pass *p = &pass;
	int rc;

	svc_rec_init_from_status(rec, p->svc);
	rec->gone = false;
	pthread_mutex_lock(&r->fast_mu);
	svc_set_str(rec->fast_uid, sizeof(rec->fast_uid), svc_str_or_empty(kube_json_uid(p->svc)));
	pthread_mutex_unlock(&r->fast_mu);
	rc = plan_and_execute(r, rec, obs, foreign, p, requeue_after_ms);

	cJSON *status = status_for(rec, p);
	svc_ownership_settle(r, rec, p->svc, &p->orep, p->ochecked);
	/* A Service or PDB that is not ours is outside our caches: no event says it is gone. */
	if (p->orep.traffic_lost &&
	    (*requeue_after_ms <= 0 || *requeue_after_ms > OWNER_RECHECK_MS))
		*requeue_after_ms = OWNER_RECHECK_MS;
	if (status) {
		phx_status_note_ownership(status, kube_json_get(p->svc, "status", NULL), p->orep.msg,
					  p->orep.traffic_lost, p->gen, p->now_ms);
		int wrc = write_pass_status(r, rec, p, status, requeue_after_ms);
		if (rc == 0)
			rc = wrc;
		cJSON_Delete(status);
	}
	svc_update_instances(r, rec, p->pods, p->n, false);
	if (rec->nexp > 0 && *requeue_after_ms == 0)
		*requeue_after_ms = EXPECT_TTL_MS + 100; /* re-check if a watch event never comes */
	if (*requeue_after_ms == 0 && rec->refresh_at_ms > 0)
		*requeue_after_ms = rec->refresh_at_ms > p->now_ms ? rec->refresh_at_ms - p->now_ms : 1;
	return rc;
}

/* Drops a gone service's failovers from the log, so that the dashboard's failoversToday counts
 * the same services as its failoversTotal. */
static void log_forget(struct phx_reconciler *r, const char *key)
{
	uint64_t h = svc_name_hash(key);
	size_t k = 0;
	pthread_mutex_lock(&r->log_mu);
	for (size_t i = 0; i < r->fo_len; i++) {
		size_t from = (r->fo_head + i) % FAILOVER_LOG_MAX;
		size_t to = (r->fo_head + k) % FAILOVER_LOG_MAX;
		if (r->fo_key[from] == h)
			continue;
		r->fo_key[to] = r->fo_key[from];
		r->fo_time_ms[to] = r->fo_time_ms[from];
		k++;
	}
	r->fo_len = k;
	pthread_mutex_unlock(&r->log_mu);
}

/* mu held. The service is gone: drop its gauges and failover counter and unlink the record, so
 * a service that comes back under this name gets a fresh one; handlers or the dashboard still
 * holding this one free it with their last put. */
static void forget_locked(struct phx_reconciler *r, struct svc_rec *rec)
{
	svc_update_instances(r, rec, NULL, 0, true);
	log_forget(r, rec->key);
	rec->gone = true;
	rec->init = false;
	char ns[256];
	const char *slash = strchr(rec->key, '/');
	if (slash && (size_t)(slash - rec->key) < sizeof(ns)) {
		memcpy(ns, rec->key, (size_t)(slash - rec->key));
		ns[slash - rec->key] = '\0';
		const char *lv[] = { ns, slash + 1 };
		kube_metric_remove(r->m_failovers, lv);
	}
	svc_rec_unlink_locked(r, rec);
}

void phx_reconciler_forget(struct phx_reconciler *r, const char *key)
{
	struct svc_rec *rec = key ? svc_rec_lock(r, key, false) : NULL;
	if (rec)
		forget_locked(r, rec);
	svc_rec_unlock(rec);
}

/* mu of rec held, rec in the map (rec may be NULL: a key we never saw, now gone). */
static int reconcile_rec(struct phx_reconciler *r, struct svc_rec *rec,
			 const struct phx_observed *obs, const cJSON *foreign,
			 int64_t *requeue_after_ms)
{
	if (!rec)
		return 0;
	if (!obs->svc) {
		/* Deleted: the garbage collector removes the pods through their owner reference. */
		forget_locked(r, rec);
		return 0;
	}
	if (kube_json_get(obs->svc, "metadata", "deletionTimestamp", NULL)) {
		rec->gone = true;
		return 0;
	}
	return reconcile_locked(r, rec, obs, foreign, requeue_after_ms);
}

static void account(struct phx_reconciler *r, const struct timespec *t0, int rc)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
	const char *res[] = { rc == 0 ? "success" : "error" };
	kube_metric_inc(r->m_reconcile, res);
	kube_metric_observe(r->m_duration, NULL, secs);
	if (rc < 0)
		kube_metric_inc(r->m_errors, NULL);
}

int phx_reconcile(struct phx_reconciler *r, const char *key, const struct phx_observed *obs,
		  int64_t *requeue_after_ms)
{
	struct timespec t0;
	int rc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	*requeue_after_ms = 0;
	struct svc_rec *rec = svc_rec_lock(r, key, obs->svc != NULL);
	rc = reconcile_rec(r, rec, obs, NULL, requeue_after_ms);
	svc_rec_unlock(rec);
	account(r, &t0, rc);
	return rc;
}

/* Moves the pods of arr that uid does not own into a new array (NULL when there are none). */
static cJSON *split_foreign(cJSON *arr, const char *uid)
{
	cJSON *foreign = NULL, *pod = arr ? arr->child : NULL, *next;
	for (; pod; pod = next) {
		next = pod->next;
		if (phx_owned_by(pod, uid))
			continue;
		if (!foreign)
			foreign = cJSON_CreateArray();
		cJSON *item = cJSON_DetachItemViaPointer(arr, pod);
		if (foreign)
			cJSON_AddItemToArray(foreign, item);
		else
			cJSON_Delete(item); /* ENOMEM: not ours either way */
	}
	return foreign;
}

int phx_reconcile_load(struct phx_reconciler *r, const char *key, phx_load_fn load, void *ud,
		       int64_t *requeue_after_ms)
{
	struct timespec t0;
	struct phx_observed obs = { 0 };
	cJSON *svc = NULL, *pods = NULL, *service = NULL, *pdb = NULL;
	int rc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	*requeue_after_ms = 0;
	struct svc_rec *rec = svc_rec_lock(r, key, true);
	/* Read the caches only now: a snapshot taken before waiting for the lock could be older
	 * than what the previous reconcile of this key already acted on. */
	load(ud, key, &svc, &pods, &service, &pdb);
	obs.svc = svc;
	obs.pods = pods;
	obs.service = service;
	obs.pdb = pdb;
	cJSON *foreign = split_foreign(pods, kube_json_uid(svc));
	rc = reconcile_rec(r, rec, &obs, foreign, requeue_after_ms);
	svc_rec_unlock(rec);
	cJSON_Delete(svc);
	cJSON_Delete(pods);
	cJSON_Delete(foreign);
	cJSON_Delete(service);
	cJSON_Delete(pdb);
	account(r, &t0, rc);
	return rc;
}
