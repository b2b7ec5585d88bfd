/* The PhoenixService controller on the host (phx_controller.h): watch -> shared informer cache ->
 * map function enqueues the owner's key (a failing primary in the urgent lane, whose own
 * workers do nothing else) -> worker reads the caches -> phx_reconcile writes through the
 * gated client -> status. */
#include "phx_controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_controller.h"
#include "kube_error.h"
#include "kube_json.h"
#include "phx_api.h"
#include "phx_meta.h"
#include "phx_service.h"
#include "phx_transform.h"

#define URGENT_WORKERS 2
/* A failover's retries: 5 ms doubling to 250 ms, so a standby serves within a quarter second of
 * the API answering again (the default 5 ms..1000 s would wait minutes after a short burst). */
#define URGENT_RETRY_BASE_MS 5
#define URGENT_RETRY_MAX_MS 250
#define MAX_WORKERS 64
#define PHX_RESYNC_MS (10 * 60 * 1000)

struct phx_controller {
	struct phx_reconciler *rec;
	struct kube_controller *ctl;
	struct kube_cache *phx, *pods, *svcs, *pdbs;
};

/* Every cache keeps only what the controller reads (phx_transform.h) and stores it as compact
 * JSON text: at 1,000 services that takes peak RSS from ~87 MiB to ~36 MiB (bench/). The names
 * are the `informer` label of the kube_informer_* metrics. */
static const struct kube_source src_phx = {
	.gvr = &PHX_GVR, .transform = phx_object_transform, .resync_ms = PHX_RESYNC_MS,
	.compact = true, .name = PHX_RESOURCE,
};
static const struct kube_source src_pods = {
	.gvr = &KUBE_GVR_PODS, .label_selector = PHX_LABEL_SERVICE,
	.transform = phx_pod_transform, .compact = true, .name = "phoenix-pods",
};
static const struct kube_source src_svcs = {
	.gvr = &KUBE_GVR_SERVICES, .label_selector = PHX_LABEL_SERVICE,
	.transform = phx_service_transform, .compact = true, .name = "phoenix-services",
};
static const struct kube_source src_pdbs = {
	.gvr = &KUBE_GVR_PDBS, .label_selector = PHX_LABEL_SERVICE,
	.transform = phx_pdb_transform, .compact = true, .name = "phoenix-pdbs",
};

struct phx_reconciler *phx_controller_reconciler(struct phx_controller *c)
{
	return c->rec;
}

static bool leading(struct phx_controller *c)
{
	return kube_manager_is_leader(kube_controller_manager(c->ctl));
}

/* Queues key (NULL: nothing); a standby's keys are dropped by the host. */
static void enqueue(struct phx_controller *c, const char *key, bool urgent)
{
	if (!key)
		return;
	if (urgent)
		kube_controller_enqueue_urgent(c->ctl, key);
	else
		kube_controller_enqueue(c->ctl, key);
}

/* ---------------------------------------------------------------- map functions */

/* The primary's own events enqueue its key (the host does that); a deleted service is also
 * forgotten here on replicas that do not reconcile (the leader forgets it in its reconcile):
 * they keep warm records from pod events. */
static void phx_map(struct kube_controller *ctl, const struct kube_event *ev, void *ud)
{
	struct phx_controller *c = ud;
	(void)ctl;
	if (ev->type != KUBE_EVENT_DELETE || leading(c))
		return;
	char *key = kube_json_key(ev->obj);
	if (key)
		phx_reconciler_forget(c->rec, key);
	free(key);
}

/* The PhoenixService owning a child: its PhoenixService owner reference, else its service
 * label. */
static char *owner_key(const cJSON *obj)
{
	const char *name = phx_owner_ref_name(obj, PHX_KIND, false);

	if (!name)
		name = kube_json_get_str(obj, "metadata", "labels", PHX_LABEL_SERVICE, NULL);
	return phx_key(kube_json_namespace(obj), name);
}

/* A pod labelled for one service and owned by another: the labelled one hears of it too (it
 * reports the pod and keeps it out of its Service). */
static void enqueue_labelled(struct phx_controller *c, const cJSON *pod, const char *owner)
{
	const char *svc = kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_SERVICE, NULL);
	char *key = phx_key(kube_json_namespace(pod), svc);
	if (!key)
		return;
	if (!owner || strcmp(owner, key) != 0)
		enqueue(c, key, false);
	free(key);
}

/* A pod of a deleted service going away (the garbage collector at work) may have made a record
 * again after phx_map forgot it: a standby forgets it once more. */
static void forget_if_gone(struct phx_controller *c, const char *key, const cJSON *pod,
			   bool deleted)
{
	if (!key || leading(c) ||
	    !(deleted || kube_json_get(pod, "metadata", "deletionTimestamp", NULL)))
		return;
	cJSON *svc = NULL;
	if (kube_cache_get(c->phx, key, &svc) == KUBE_ENOTFOUND)
		phx_reconciler_forget(c->rec, key);
	cJSON_Delete(svc);
}

/* Runs on every replica: standbys keep readiness history and failure times warm. Resyncs are
 * ignored: the PhoenixService informer's resync covers them. */
static void pod_map(struct kube_controller *ctl, const struct kube_event *ev, void *ud)
{
	struct phx_controller *c = ud;
	bool deleted = ev->type == KUBE_EVENT_DELETE;
	const cJSON *old_obj = deleted ? ev->obj : ev->old_obj;
	const cJSON *new_obj = deleted ? NULL : ev->obj;
	(void)ctl;
	if (ev->type == KUBE_EVENT_RESYNC)
		return;
	bool urgent = phx_reconciler_pod_event(c->rec, old_obj, new_obj, deleted);
	char *key = owner_key(ev->obj);
	enqueue(c, key, urgent);
	enqueue_labelled(c, ev->obj, key);
	forget_if_gone(c, key, new_obj, deleted);
	free(key);
}

/* Services and PDBs: the owner's key. */
static void child_map(struct kube_controller *ctl, const struct kube_event *ev, void *ud)
{
	(void)ctl;
	if (ev->type == KUBE_EVENT_RESYNC)
		return;
	char *key = owner_key(ev->obj);
	enqueue(ud, key, false);
	free(key);
}

/* ---------------------------------------------------------------- reconcile */

static bool has_name(const cJSON *arr, const char *name)
{
	const cJSON *o;
	cJSON_ArrayForEach(o, arr) {
		const char *n = kube_json_name(o);
		if (n && strcmp(n, name) == 0)
			return true;
	}
	return false;
}

/* Adds to *pods the cached pods labelled for key that may not be ours (the reconciler tells). */
static void load_suspects(struct phx_controller *c, const char *key, cJSON **pods)
{
	char names[PHX_SUSPECTS_MAX][PHX_NAME_MAX];
	size_t n = phx_reconciler_suspects(c->rec, key, names, PHX_SUSPECTS_MAX);
	const char *slash = strchr(key, '/');
	if (n == 0 || !slash)
		return;
	if (!*pods)
		*pods = cJSON_CreateArray();
	for (size_t i = 0; i < n && *pods; i++) {
		cJSON *pod = NULL;
		char *pkey = NULL;
		if (has_name(*pods, names[i]) ||
		    asprintf(&pkey, "%.*s/%s", (int)(slash - key), key, names[i]) < 0)
			continue;
		if (kube_cache_get(c->pods, pkey, &pod) == 0 && pod)
			cJSON_AddItemToArray(*pods, pod);
		free(pkey);
	}
}

static void load(void *ud, const char *key, cJSON **svc, cJSON **pods, cJSON **service,
		 cJSON **pdb)
{
	struct phx_controller *c = ud;
	if (kube_cache_get(c->phx, key, svc) != 0)
		return;
	const char *uid = kube_json_uid(*svc);
	if (uid)
		kube_cache_list_owned(c->pods, uid, pods);
	load_suspects(c, key, pods);
	kube_cache_get(c->svcs, key, service);
	kube_cache_get(c->pdbs, key, pdb);
}

/* Errors worth retrying at once: the next attempt may well succeed. */
static bool transient(int rc)
{
	return rc == KUBE_ESERVER || rc == KUBE_ESERVERTIMEOUT || rc == KUBE_ETOOMANY ||
	       rc == KUBE_EIO || rc == KUBE_ETIMEDOUT || rc == KUBE_ECONFLICT || rc == KUBE_ENOMEM;
}

/* A failed reconcile retries on the urgent lane and its short backoff when it is a failover
 * that does not serve yet, whichever lane it came from; anything else (a refused create, a
 * routine repair) backs off on the normal lane, also when it came in urgent: the urgent lane's
 * 250 ms cap is no pace for an error that will not go away. */
static int reconcile(struct kube_reconcile_ctx *ctx, const char *key)
{
	struct phx_controller *c = ctx->ud;
	int64_t requeue = 0;
	int rc = phx_reconcile_load(c->rec, key, load, c, &requeue);

	if (rc == 0)
		ctx->requeue_after_ms = requeue;
	else if (transient(rc) && phx_reconciler_failover_pending(c->rec, key))
		ctx->retry_lane = KUBE_RETRY_URGENT;
	else
		ctx->retry_lane = KUBE_RETRY_NORMAL;
	return rc;
}

/* ---------------------------------------------------------------- wiring */

static int setup(struct kube_controller *ctl, void *ud)
{
	struct phx_controller *c = ud;
	int rc;

	c->ctl = ctl;
	c->phx = kube_controller_primary(ctl);
	rc = kube_controller_watches(ctl, &src_phx, phx_map, c, NULL);
	if (rc == 0)
		rc = kube_controller_watches(ctl, &src_pods, pod_map, c, &c->pods);
	if (rc == 0)
		rc = kube_controller_watches(ctl, &src_svcs, child_map, c, &c->svcs);
	if (rc == 0)
		rc = kube_controller_watches(ctl, &src_pdbs, child_map, c, &c->pdbs);
	return rc;
}

/* Gaining leadership: the previous leader may have moved on since we last looked, so failover
 * bookkeeping is re-read from status. */
static void on_leading(struct kube_controller *ctl, bool lead, void *ud)
{
	struct phx_controller *c = ud;
	(void)ctl;
	if (lead)
		phx_reconciler_reset_bookkeeping(c->rec);
}

int phx_controller_add(struct kube_manager *m, const struct phx_controller_opts *o,
		       struct phx_controller **out)
{
	if (!m || !o || !o->client || !out)
		return KUBE_EINVAL;
	*out = NULL;
	struct phx_controller *c = calloc(1, sizeof(*c));
	if (!c)
		return KUBE_ENOMEM;
	struct phx_reconciler_opts ro = { .client = o->client, .events = o->events };
	int rc = phx_reconciler_new(&ro, &c->rec);
	struct kube_controller_ops ops = {
		.name = "phoenixservice", .primary = src_phx, .setup = setup,
		.reconcile = reconcile, .on_leading = on_leading,
		.workers = o->workers < 1 ? 1 : o->workers > MAX_WORKERS ? MAX_WORKERS : o->workers,
		.urgent_workers = URGENT_WORKERS, .urgent_retry_base_ms = URGENT_RETRY_BASE_MS,
		.urgent_retry_max_ms = URGENT_RETRY_MAX_MS,
	};
	if (rc == 0)
		rc = kube_manager_add_controller(m, &ops, c, NULL);
	if (rc < 0) {
		phx_controller_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void phx_controller_free(struct phx_controller *c)
{
	if (!c)
		return;
	phx_reconciler_free(c->rec);
	free(c);
}
