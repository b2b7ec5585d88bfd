/* The PhoenixService reconciler, failover bookkeeping: the record seeded from status, failovers
 * started, counted and finished, reaction and recovery times, instance gauges. */
#include "phx_service_int.h"

/* ---------------------------------------------------------------- bookkeeping */

void svc_rec_init_from_status(struct svc_rec *rec, const cJSON *svc)
{
	const cJSON *st = kube_json_get(svc, "status", NULL);
	int64_t v;
	double d;
	const char *uid = kube_json_uid(svc);
	if (rec->init && strcmp(rec->uid, uid ? uid : "") == 0)
		return;
	if (strcmp(rec->uid, uid ? uid : "") != 0) {
		/* A new object under an old name: forget everything about the old one. */
		svc_expect_clear(rec);
		svc_counted_clear(rec);
		svc_name_set(&rec->primary, PHX_NAME_MAX, NULL);
		rec->have_valid = false;
		rec->paused = false;
		rec->resumed_us = 0;
		rec->rolling = false;
	}
	svc_set_str(rec->uid, sizeof(rec->uid), uid ? uid : "");
	rec->init = true;
	/* Read from a cache that may be behind the live object: confirmed by the first status
	 * write (resourceVersion precondition), until then never lowered (phx_failovers_merge). */
	rec->count_confirmed = false;
	rec->status_rv = 0;
	rec->refresh_at_ms = 0;
	rec->paused = rec->paused || svc_str_eq(kube_json_get_str(st, "phase", NULL), "Paused");
	rec->failovers = kube_json_get_int(st, &v, "failovers", NULL) ? v : 0;
	rec->last_failover_ms = phx_time_parse_ms(kube_json_get_str(st, "lastFailoverTime", NULL));
	rec->last_reaction_ms = kube_json_get_int(st, &v, "lastFailoverReactionMs", NULL) ? v : -1;
	rec->last_recovery_s = kube_json_get_num(st, &d, "lastRecoverySeconds", NULL) ? d : -1;
	const char *prim = kube_json_get_str(st, "primary", NULL);
	svc_name_set(&rec->primary, PHX_NAME_MAX, prim);
	/* Failures a previous leader counted are never counted again. */
	const cJSON *cf;
	cJSON_ArrayForEach(cf, kube_json_get(st, "countedFailures", NULL)) {
		if (cJSON_IsString(cf) && !svc_counted_has(rec, cf->valuestring))
			svc_counted_add(rec, cf->valuestring);
	}
	const cJSON *fip = kube_json_get(st, "failoverInProgress", NULL);
	rec->in_progress = cJSON_IsObject(fip);
	svc_name_set(&rec->failed_pod, PHX_NAME_MAX, NULL);
	if (rec->in_progress) {
		const char *fp = kube_json_get_str(fip, "failedPod", NULL);
		svc_name_set(&rec->failed_pod, PHX_NAME_MAX, fp);
		rec->started_us = phx_time_parse_ms(kube_json_get_str(fip, "startedAt", NULL)) * 1000;
		if (rec->started_us <= 0)
			rec->started_us = svc_wall_us();
		rec->reaction_recorded = cJSON_GetArraySize(kube_json_get(fip, "promoted", NULL)) > 0;
		if (fp && !svc_counted_has(rec, fp))
			svc_counted_add(rec, fp);
	}
	free(rec->last_status);
	rec->last_status = NULL;
}

static void log_failover(struct phx_reconciler *r, const char *key, int64_t now_ms)
{
	pthread_mutex_lock(&r->log_mu);
	r->fo_key[(r->fo_head + r->fo_len) % FAILOVER_LOG_MAX] = svc_name_hash(key);
	r->fo_time_ms[(r->fo_head + r->fo_len) % FAILOVER_LOG_MAX] = now_ms;
	if (r->fo_len < FAILOVER_LOG_MAX)
		r->fo_len++;
	else
		r->fo_head = (r->fo_head + 1) % FAILOVER_LOG_MAX;
	pthread_mutex_unlock(&r->log_mu);
}

void svc_start_failover(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const char *failed, enum phx_fail_reason reason, bool degraded)
{
	const char *ns = kube_json_namespace(svc), *name = kube_json_name(svc);
	const char *lv[] = { ns, name };
	int64_t now_us = svc_wall_us();
	char msg[1024];

	pthread_mutex_lock(&r->fast_mu);
	int64_t *seenp = svc_seen_find(rec, svc_name_hash(failed));
	int64_t seen = seenp ? *seenp : 0;
	pthread_mutex_unlock(&r->fast_mu);
	svc_counted_add(rec, failed);
	rec->failovers++;
	rec->in_progress = true;
	rec->started_us = phx_reaction_start(seen, rec->resumed_us, now_us);
	rec->last_failover_ms = rec->started_us / 1000;
	rec->reaction_recorded = false;
	svc_name_set(&rec->failed_pod, PHX_NAME_MAX, failed);
	kube_metric_inc(r->m_failovers, lv);
	log_failover(r, rec->key, rec->last_failover_ms);
	snprintf(msg, sizeof(msg), "primary %s failed (%s); failover #%" PRId64 " started", failed,
		 phx_fail_reason_str(reason), rec->failovers);
	kube_log(KUBE_LOG_INFO, COMP, "failover started", "service", rec->key, "pod", failed,
		 "reason", phx_fail_reason_str(reason), NULL);
	svc_event(r, svc, KUBE_EVENT_WARNING, "FailoverStarted", msg);
	if (degraded) {
		snprintf(msg, sizeof(msg), "primary %s failed with no Ready standby: replacing it "
					   "directly", failed);
		svc_event(r, svc, KUBE_EVENT_WARNING, "Degraded", msg);
	}
}

void svc_record_reaction(struct phx_reconciler *r, struct svc_rec *rec)
{
	if (!rec->in_progress || rec->reaction_recorded)
		return;
	int64_t us = svc_wall_us() - rec->started_us;
	if (us < 0)
		us = 0;
	rec->reaction_recorded = true;
	rec->last_reaction_ms = (us + 500) / 1000;
	kube_metric_observe(r->m_reaction, NULL, (double)us / 1e6);
	pthread_mutex_lock(&r->log_mu);
	r->reaction_sum_ms += (double)us / 1000.0;
	r->reaction_count++;
	pthread_mutex_unlock(&r->log_mu);
}

void svc_finish_failover(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc)
{
	char msg[1024];
	double s = (double)(svc_wall_us() - rec->started_us) / 1e6;
	rec->in_progress = false;
	rec->last_recovery_s = s < 0 ? 0 : s;
	kube_metric_observe(r->m_recovery, NULL, rec->last_recovery_s);
	snprintf(msg, sizeof(msg), "failover of %s completed: %s is primary, all instances Ready "
				   "after %.3fs (reaction %" PRId64 " ms)",
		 svc_str_or_empty(rec->failed_pod), svc_str_or_empty(rec->primary), rec->last_recovery_s,
		 rec->last_reaction_ms);
	kube_log(KUBE_LOG_INFO, COMP, "failover completed", "service", rec->key, "primary",
		 svc_str_or_empty(rec->primary), NULL);
	svc_event(r, svc, KUBE_EVENT_NORMAL, "FailoverCompleted", msg);
}

/* Splits "ns/name" into ns (a buffer of nslen) and *name (into key); false when malformed. */
static bool key_split(const char *key, char *ns, size_t nslen, const char **name)
{
	const char *slash = strchr(key, '/');
	if (!slash || (size_t)(slash - key) >= nslen)
		return false;
	memcpy(ns, key, (size_t)(slash - key));
	ns[slash - key] = '\0';
	*name = slash + 1;
	return true;
}

/* The phoenix_instances series of this service follow its pods; a gone service's are removed. */
void svc_update_instances(struct phx_reconciler *r, struct svc_rec *rec,
			     const struct phx_pod *pods, size_t n, bool gone)
{
	int now[3][2] = { { 0 } };
	static const char *roles[] = { "none", "primary", "standby" };
	static const char *ready[] = { "false", "true" };
	char ns[256];
	const char *name;
	if (!key_split(rec->key, ns, sizeof(ns), &name))
		return;
	for (size_t i = 0; i < n && !gone; i++) {
		if (pods[i].health == PHX_HEALTH_FAILED)
			continue;
		now[pods[i].role][pods[i].health == PHX_HEALTH_READY]++;
	}
	for (int a = 0; a < 3; a++) {
		for (int b = 0; b < 2; b++) {
			const char *lv[] = { ns, name, roles[a], ready[b] };
			if (gone)
				kube_metric_remove(r->m_instances, lv);
			else if (now[a][b] != rec->inst[a][b])
				kube_metric_set(r->m_instances, lv, now[a][b]);
			rec->inst[a][b] = now[a][b];
		}
	}
}
