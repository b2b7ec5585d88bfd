/* The PhoenixService reconciler, writes: Events, pod label patches, creates and deletes, the
 * Service and PDB, adoption and fencing of pods that are not ours. */
#include "phx_service_int.h"

/* ---------------------------------------------------------------- writes */

void svc_event(struct phx_reconciler *r, const cJSON *svc, const char *type,
		  const char *reason, const char *msg)
{
	if (r->events)
		kube_events_record(r->events, svc, type, reason, "%s", msg);
}

int svc_patch_labels(struct phx_reconciler *r, const char *ns, const char *pod,
			enum phx_role role, bool serving)
{
	char body[512];
	snprintf(body, sizeof(body),
		 "{\"metadata\":{\"labels\":{\"" PHX_LABEL_ROLE "\":\"%s\",\"" PHX_LABEL_SERVING
		 "\":\"%s\"}}}", phx_role_str(role), serving ? "true" : "false");
	/* A pod starting to serve ends an outage or opens a new service: the urgent class, whose
	 * reserve never waits behind routine writes. Taking serving away keeps the caller's class
	 * (a failover's reconcile is urgent already). */
	enum kube_priority prio =
		serving ? kube_set_priority(KUBE_PRIORITY_URGENT) : kube_get_priority();
	int rc = kube_patch(r->client, &KUBE_GVR_PODS, ns, pod, NULL, KUBE_PATCH_MERGE, body,
			    NULL, NULL);
	kube_set_priority(prio);
	return rc;
}

int svc_delete_pod(struct phx_reconciler *r, const char *ns, const char *pod, bool failed)
{
	struct kube_delete_opts o = KUBE_DELETE_OPTS_INIT;
	/* A failed pod serves nobody: no reason to wait for its grace period. */
	if (failed)
		o.grace_period_seconds = 0;
	int rc = kube_delete(r->client, &KUBE_GVR_PODS, ns, pod, &o, NULL, NULL);
	return rc == KUBE_ENOTFOUND ? 0 : rc;
}

/* mu held. Remembers (condition PodCreateFailed) and reports what the API server said when it
 * refused a pod: a Warning Event, at most once per CREATE_EVENT_INTERVAL_MS unless the message
 * changes, and the log. A refusal is an answer with an HTTP status; a transport error or the
 * write gate is not. */
static void create_refused(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const char *pod, int rc, const struct kube_status *st)
{
	const char *msg = st->message && *st->message ? st->message : kube_strerror(rc);
	int64_t now = phx_wall_ms();
	char ev[1024];
	kube_log(KUBE_LOG_WARN, COMP, "the API server refused to create a pod", "service",
		 rec->key, "pod", pod, "error", kube_strerror(rc), "reason",
		 st->reason && *st->reason ? st->reason : "none", "message", msg, NULL);
	if (st->http_status < 400)
		return;
	bool same = svc_str_eq(rec->create_msg, msg);
	svc_name_set(&rec->create_reason, 64, st->reason && *st->reason ? st->reason : "CreateRefused");
	svc_name_set(&rec->create_msg, 1024, msg);
	if (same && now - rec->create_event_ms < CREATE_EVENT_INTERVAL_MS)
		return;
	rec->create_event_ms = now;
	snprintf(ev, sizeof(ev), "cannot create pod %s: %s", pod, msg);
	svc_event(r, svc, KUBE_EVENT_WARNING, "PodCreateFailed", ev);
}

int svc_create_pod(struct phx_reconciler *r, const cJSON *svc, const struct phx_spec *spec,
		      enum phx_role role, bool serving, char *name, size_t namelen,
		      struct svc_rec *rec)
{
	char sfx[6];
	struct kube_status st = { 0 };
	svc_random_suffix(sfx, sizeof(sfx));
	snprintf(name, namelen, "%.200s-%s", kube_json_name(svc), sfx);
	cJSON *pod = phx_pod_build(svc, spec, name, role, serving);
	if (!pod)
		return KUBE_ENOMEM;
	int rc = kube_create(r->client, &KUBE_GVR_PODS, kube_json_namespace(svc), pod, NULL, &st);
	if (rc < 0 && rc != KUBE_ENOTLEADER) {
		create_refused(r, rec, svc, name, rc, &st);
	} else if (rc == 0) {
		svc_name_set(&rec->create_reason, 64, NULL);
		svc_name_set(&rec->create_msg, 1024, NULL);
	}
	kube_status_release(&st);
	cJSON_Delete(pod);
	return rc;
}


static void report_add(struct owner_report *rep, const char *text)
{
	size_t off = strlen(rep->msg);
	snprintf(rep->msg + off, sizeof(rep->msg) - off, "%s%s", off ? "; " : "", text);
}

/* The API calls on a child (its Service, or with pdb its PDB) name the resource outright, so
 * that the RBAC check of tests/e2e/32_manifests.sh reads what the code uses. */
static int child_create(struct phx_reconciler *r, bool pdb, const char *ns, const cJSON *obj)
{
	return pdb ? kube_create(r->client, &KUBE_GVR_PDBS, ns, obj, NULL, NULL)
		   : kube_create(r->client, &KUBE_GVR_SERVICES, ns, obj, NULL, NULL);
}

/* The object `name` of gvr in ns, read around our caches (which select by our label): a list
 * by name, with the list permission the informers need anyway. *out NULL when there is none. */
int svc_lookup(struct phx_reconciler *r, const struct kube_gvr *gvr, const char *ns,
		  const char *name, cJSON **out)
{
	struct kube_list_opts lo = { 0 };
	char *fs = NULL;
	cJSON *list = NULL;
	*out = NULL;
	if (asprintf(&fs, "metadata.name=%s", name) < 0)
		return KUBE_ENOMEM;
	lo.field_selector = fs;
	int rc = kube_list(r->client, gvr, ns, &lo, &list, NULL);
	cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
	if (rc == 0 && cJSON_GetArraySize(items) > 0)
		*out = cJSON_DetachItemFromArray(items, 0);
	cJSON_Delete(list);
	free(fs);
	return rc;
}

static int child_patch(struct phx_reconciler *r, bool pdb, const char *ns, const char *name,
		       const char *json_patch)
{
	return pdb ? kube_patch(r->client, &KUBE_GVR_PDBS, ns, name, NULL, KUBE_PATCH_JSON,
				json_patch, NULL, NULL)
		   : kube_patch(r->client, &KUBE_GVR_SERVICES, ns, name, NULL, KUBE_PATCH_JSON,
				json_patch, NULL, NULL);
}

/* Creates the child `want` (a Service or PDB from the builders; borrowed) of svc or repairs
 * exactly the fields we own with a JSON patch. An object of that name that is not ours is
 * never touched: it goes into rep. */
static int ensure_child(struct phx_reconciler *r, const cJSON *svc, bool pdb, const cJSON *want,
			const cJSON *observed, struct owner_report *rep)
{
	const char *ns = kube_json_namespace(svc), *name = kube_json_name(svc);
	const char *kind = kube_json_get_str(want, "kind", NULL);
	cJSON *fetched = NULL, *patch = NULL;
	char *txt = NULL, msg[512];
	bool enomem = false;
	int rc = 0;
	if (!observed) {
		rc = child_create(r, pdb, ns, want);
		if (rc != KUBE_EALREADYEXISTS)
			goto out;
		rc = svc_lookup(r, pdb ? &KUBE_GVR_PDBS : &KUBE_GVR_SERVICES, ns, name, &fetched);
		observed = fetched;
		if (rc < 0 || !observed)
			goto out;
	}
	if (!phx_owned_by(observed, kube_json_uid(svc))) {
		snprintf(msg, sizeof(msg), "%s %s is not owned by this PhoenixService (no controller "
			 "ownerReference with its UID): its traffic is not ours and it is left "
			 "untouched; delete or rename it", kind, name);
		report_add(rep, msg);
		rep->traffic_lost = true;
		goto out;
	}
	patch = phx_repair_patch(want, observed, &enomem);
	if (!patch) {
		rc = enomem ? KUBE_ENOMEM : 0;
		goto out;
	}
	txt = kube_json_print(patch);
	rc = txt ? child_patch(r, pdb, ns, name, txt) : KUBE_ENOMEM;
	if (rc == 0)
		kube_log(KUBE_LOG_INFO, COMP, "repaired", "kind", kind, "namespace", ns, "name",
			 name, "patch", txt, NULL);
out:
	free(txt);
	cJSON_Delete(patch);
	cJSON_Delete(fetched);
	return rc;
}

/* Drops our owner label from a builder's selector (selector under spec, or its matchLabels):
 * until every pod we own carries the label, switching to it would empty the Service. */
static void selector_without_owner(cJSON *want)
{
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(want, "spec");
	cJSON *sel = cJSON_GetObjectItemCaseSensitive(spec, "selector");
	cJSON *ml = cJSON_GetObjectItemCaseSensitive(sel, "matchLabels");
	cJSON_DeleteItemFromObjectCaseSensitive(ml ? ml : sel, PHX_LABEL_OWNER);
}

int svc_ensure_service(struct phx_reconciler *r, const cJSON *svc, const cJSON *observed,
			  bool owner_labelled, struct owner_report *rep)
{
	cJSON *want = phx_service_build(svc);
	if (!want)
		return KUBE_ENOMEM;
	if (!owner_labelled)
		selector_without_owner(want);
	int rc = ensure_child(r, svc, false, want, observed, rep);
	cJSON_Delete(want);
	return rc;
}

int svc_ensure_pdb(struct phx_reconciler *r, const cJSON *svc, const cJSON *observed,
		      bool owner_labelled, struct owner_report *rep)
{
	cJSON *want = phx_pdb_build(svc);
	if (!want)
		return KUBE_ENOMEM;
	if (!owner_labelled)
		selector_without_owner(want);
	int rc = ensure_child(r, svc, true, want, observed, rep);
	cJSON_Delete(want);
	return rc;
}

/* Owned pods whose labels were changed by hand get them back (the owner label included, for
 * pods from before it existed). Returns 0 when every owned pod now carries our owner label
 * (*labelled true), else the first error. */
int svc_adopt_pods(struct phx_reconciler *r, const char *key, const cJSON *svc,
		      const cJSON *pods, bool *labelled)
{
	const char *uid = kube_json_uid(svc), *name = kube_json_name(svc);
	const cJSON *pod;
	int rc = 0;
	*labelled = true;
	cJSON_ArrayForEach(pod, pods) {
		char *patch = phx_pod_adopt_patch(pod, name, uid ? uid : "");
		if (!patch)
			continue;
		int prc = kube_patch(r->client, &KUBE_GVR_PODS, kube_json_namespace(svc),
				     kube_json_name(pod), NULL, KUBE_PATCH_MERGE, patch, NULL, NULL);
		if (prc == 0)
			kube_log(KUBE_LOG_INFO, COMP, "pod labels restored", "service", key, "pod",
				 kube_json_name(pod), "patch", patch, NULL);
		free(patch);
		if (prc < 0 && prc != KUBE_ENOTFOUND) {
			*labelled = false;
			if (rc == 0)
				rc = prc;
		}
	}
	return rc;
}

/* Owned pods the cache lost: one whose service label was removed still runs and is taken back
 * (labels restored: a standby that does not serve; the planner removes extras). One that is
 * gone or terminating is left alone. A failed look is tried again by the next reconcile. */
int svc_take_back_vanished(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc)
{
	char names[PHX_SUSPECTS_MAX][PHX_NAME_MAX];
	const char *uid = kube_json_uid(svc), *ns = kube_json_namespace(svc);
	int rc = 0;
	pthread_mutex_lock(&r->fast_mu);
	size_t n = svc_name_set_copy(&rec->vanished, names, PHX_SUSPECTS_MAX, true);
	pthread_mutex_unlock(&r->fast_mu);
	for (size_t i = 0; i < n; i++) {
		cJSON *pod = NULL;
		char *patch = NULL;
		int grc = svc_lookup(r, &KUBE_GVR_PODS, ns, names[i], &pod);
		if (grc == 0 && phx_owned_by(pod, uid) &&
		    !kube_json_get(pod, "metadata", "deletionTimestamp", NULL))
			patch = phx_pod_adopt_patch(pod, kube_json_name(svc), uid ? uid : "");
		if (patch) {
			grc = kube_patch(r->client, &KUBE_GVR_PODS, ns, names[i], NULL,
					 KUBE_PATCH_MERGE, patch, NULL, NULL);
			if (grc == 0)
				kube_log(KUBE_LOG_INFO, COMP, "pod labels restored", "service",
					 rec->key, "pod", names[i], "patch", patch, NULL);
		}
		if (grc < 0 && grc != KUBE_ENOTFOUND) {
			pthread_mutex_lock(&r->fast_mu);
			svc_name_set_update(&rec->vanished, names[i], true);
			pthread_mutex_unlock(&r->fast_mu);
			if (rc == 0)
				rc = grc;
		}
		free(patch);
		cJSON_Delete(pod);
	}
	return rc;
}

/* Pods labelled for svc that it does not own: reported, and those that still carry our owner
 * label (a pod whose ownerReference was changed) fenced out of the Service by their labels.
 * Never deleted: they are not ours. Must run before the plan: in Promote mode the pod the plan
 * promotes must be the only one serving. */
int svc_fence_foreign(struct phx_reconciler *r, const char *key, const cJSON *svc,
			 const cJSON *foreign, struct owner_report *rep)
{
	const char *uid = kube_json_uid(svc), *name = kube_json_name(svc);
	const cJSON *pod;
	char names[512] = "", msg[768];
	int rc = 0;
	cJSON_ArrayForEach(pod, foreign) {
		const char *pn = kube_json_name(pod);
		const char *ol = kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_OWNER, NULL);
		if (strcmp(svc_str_or_empty(kube_json_get_str(pod, "metadata", "labels",
							  PHX_LABEL_SERVICE, NULL)),
			   svc_str_or_empty(name)) != 0 || !pn)
			continue;
		size_t off = strlen(names);
		snprintf(names + off, sizeof(names) - off, "%s%.200s", off ? ", " : "", pn);
		if (!uid || !ol || strcmp(ol, uid) != 0)
			continue;
		int frc = kube_patch(r->client, &KUBE_GVR_PODS, kube_json_namespace(svc), pn,
				     NULL, KUBE_PATCH_MERGE, phx_pod_fence_patch(), NULL, NULL);
		if (frc == 0)
			kube_log(KUBE_LOG_WARN, COMP, "pod not owned fenced out of the Service",
				 "service", key, "pod", pn, NULL);
		else if (frc != KUBE_ENOTFOUND && rc == 0)
			rc = frc;
	}
	if (names[0]) {
		snprintf(msg, sizeof(msg), "pods labelled for this service but not owned by it (no "
			 "controller ownerReference with its UID) are kept out of its Service and "
			 "not deleted: %s", names);
		report_add(rep, msg);
	}
	return rc;
}

/* Says what is not ours in status, and once per change in a Warning Event and the log. */
void svc_note_ownership(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const struct owner_report *rep)
{
	if (strcmp(svc_str_or_empty(rec->owner_msg), rep->msg) == 0)
		return;
	svc_name_set(&rec->owner_msg, sizeof(rep->msg), rep->msg);
	if (!rep->msg[0])
		return;
	svc_event(r, svc, KUBE_EVENT_WARNING, "OwnershipConflict", rep->msg);
	kube_log(KUBE_LOG_WARN, COMP, "ownership conflict", "service", rec->key, "message",
		 rep->msg, NULL);
}

int svc_clear_switchover(struct phx_reconciler *r, const cJSON *svc)
{
	int rc = kube_patch(r->client, &PHX_GVR, kube_json_namespace(svc), kube_json_name(svc), NULL,
			    KUBE_PATCH_MERGE,
			    "{\"metadata\":{\"annotations\":{\"" PHX_ANN_SWITCHOVER "\":null}}}",
			    NULL, NULL);
	return rc == KUBE_ENOTFOUND ? 0 : rc;
}
