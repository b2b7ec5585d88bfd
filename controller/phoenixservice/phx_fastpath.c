/* The PhoenixService reconciler, fast path: what the pod informer's handlers record (readiness,
 * the first sight of a primary failing, suspects) without waiting on a reconcile. */
#include "phx_service_int.h"

/* ---------------------------------------------------------------- fast path */

/* fast_mu held. The entry for a pod seen failing as primary, or NULL. */
int64_t *svc_seen_find(struct svc_rec *rec, uint64_t h)
{
	for (size_t i = 0; rec->seen && i < rec->n_seen && i < FAIL_SEEN_MAX; i++)
		if (rec->seen[i].h == h)
			return &rec->seen[i].us;
	return NULL;
}

/* Adds (in) or removes (!in) name; a full set (or ENOMEM) drops additions. */
void svc_name_set_update(struct svc_name_set *set, const char *name, bool in)
{
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->names[i], name) != 0)
			continue;
		if (!in && i != --set->n)
			memcpy(set->names[i], set->names[set->n], PHX_NAME_MAX);
		return;
	}
	if (!in || set->n >= PHX_SUSPECTS_MAX)
		return;
	if (!set->names)
		set->names = calloc(PHX_SUSPECTS_MAX, sizeof(*set->names));
	if (set->names)
		svc_set_str(set->names[set->n++], PHX_NAME_MAX, name);
}

/* Copies up to max names out of set; take: and empties it. */
size_t svc_name_set_copy(struct svc_name_set *set, char (*names)[PHX_NAME_MAX], size_t max,
			    bool take)
{
	size_t n = 0;
	for (; n < set->n && n < max; n++)
		svc_set_str(names[n], PHX_NAME_MAX, set->names[n]);
	if (take)
		set->n = 0;
	return n;
}

/* The service a pod belongs to: its service label, else (the label was removed: a watch
 * selecting by it reports the pod deleted) its controller PhoenixService reference. */
static const char *pod_service_name(const cJSON *pod)
{
	const char *svc = kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_SERVICE, NULL);
	return svc ? svc : phx_owner_ref_name(pod, PHX_KIND, true);
}

/* fast_mu held. Is pod (labelled for rec's service) ours by its controller ownerReference?
 * Before the first reconcile our UID is unknown: a PhoenixService reference of our name is
 * taken as ours. Records the pod as a suspect when its reference and owner label disagree. */
static bool pod_fast_owned(struct svc_rec *rec, const cJSON *pod, bool deleted)
{
	const char *ou = phx_owner_uid(pod, pod_service_name(pod));
	const char *ol = kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_OWNER, NULL);
	const char *name = kube_json_name(pod);
	if (name)
		svc_name_set_update(&rec->suspects, name, !deleted && !(ou && ol && strcmp(ou, ol) == 0));
	bool owned = ou && (!rec->fast_uid[0] || strcmp(ou, rec->fast_uid) == 0);
	if (owned && deleted && name)
		svc_name_set_update(&rec->vanished, name, true);
	return owned;
}

size_t phx_reconciler_suspects(struct phx_reconciler *r, const char *key,
			       char (*names)[PHX_NAME_MAX], size_t max)
{
	struct svc_rec *rec = key ? svc_rec_get(r, key, false) : NULL;
	size_t n = 0;
	if (!rec)
		return 0;
	pthread_mutex_lock(&r->fast_mu);
	n = svc_name_set_copy(&rec->suspects, names, max, false);
	pthread_mutex_unlock(&r->fast_mu);
	svc_rec_put(rec);
	return n;
}

static char *pod_owner_key(const cJSON *pod)
{
	return phx_key(kube_json_namespace(pod), pod_service_name(pod));
}

bool phx_reconciler_pod_event(struct phx_reconciler *r, const cJSON *old_pod, const cJSON *new_pod,
			      bool deleted)
{
	const cJSON *pod = new_pod ? new_pod : old_pod;
	char *key = pod_owner_key(pod);
	bool urgent = false;
	struct svc_rec *rec = key ? svc_rec_get(r, key, true) : NULL;
	if (!rec)
		goto out;
	uint64_t h = svc_name_hash(kube_json_name(pod));
	int64_t now_us = svc_wall_us();
	uint64_t rv = svc_rv_num(pod);
	pthread_mutex_lock(&r->fast_mu);
	if (!deleted && phx_pod_is_ready(pod))
		svc_ever_ready_add(rec, h, rv);
	struct phx_pod p;
	phx_pod_classify(pod, svc_ever_ready_before(rec, h, rv), 0, now_us / 1000, &p);
	if (deleted) {
		p.health = PHX_HEALTH_FAILED;
		p.reason = PHX_FAIL_DELETED;
	}
	/* A pod that is not ours failing is no failover of ours (whatever its labels say). */
	bool owned = pod_fast_owned(rec, pod, deleted);
	if (owned && p.role == PHX_ROLE_PRIMARY && p.health == PHX_HEALTH_FAILED &&
	    !svc_seen_find(rec, h)) {
		if (!rec->seen)
			rec->seen = calloc(FAIL_SEEN_MAX, sizeof(*rec->seen));
		/* Without the ring (ENOMEM) the failure still preempts and is reacted to at once;
		 * the reconcile finds the failed pod in the cache. */
		if (rec->seen) {
			size_t i = rec->n_seen % FAIL_SEEN_MAX;
			rec->seen[i].h = h;
			rec->seen[i].us = now_us;
			svc_set_str(rec->seen[i].name, sizeof(rec->seen[i].name), p.name);
			rec->n_seen++;
		}
		rec->fast_gen++;
		urgent = true;
	}
	pthread_mutex_unlock(&r->fast_mu);
	if (urgent)
		kube_log(KUBE_LOG_INFO, COMP, "primary failure seen", "service", key, "pod",
			 p.name, "reason", phx_fail_reason_str(p.reason), NULL);
out:
	svc_rec_put(rec);
	free(key);
	return urgent;
}
