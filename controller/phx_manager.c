/* The operator's wiring: watch -> informer cache -> handler enqueues the owner's key (failures
 * of a primary go to the urgent queue, whose workers do nothing else) -> worker reads the caches
 * -> phx_reconcile writes through the REST client (gated by the Lease) -> status. */
#include "phx_manager.h"
#include "phx_transform.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_clock.h"
#include "kube_error.h"
#include "kube_events.h"
#include "kube_httpd.h"
#include "kube_httpd_auth.h"
#include "kube_informer.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_ratelimit.h"
#include "kube_rest.h"
#include "kube_workqueue.h"
#include "phx_api.h"
#include "phx_dashboard.h"
#include "phx_failover.h"
#include "phx_leader.h"
#include "phx_meta.h"
#include "phx_service.h"

#define COMP "manager"
#define URGENT_WORKERS 2
/* A failover's retries: 5 ms doubling to 250 ms, so a standby serves within a quarter second of
 * the API answering again (the default 5 ms..1000 s would wait minutes after a short burst). */
#define URGENT_RETRY_BASE_MS 5
#define URGENT_RETRY_MAX_MS 250
#define MAX_WORKERS 64


struct phx_manager {
	struct kube_client *client;
	char *namespace, *metrics_addr, *probe_addr, *leader_ns, *leader_id, *identity;
	bool leader_elect;
	int nworkers;

	struct kube_informer *inf_phx, *inf_pods, *inf_svcs, *inf_pdbs;
	struct kube_workqueue *queue, *urgent;
	struct phx_reconciler *rec;
	struct kube_events *events;
	struct kube_httpd *metrics_srv, *probe_srv;
	struct kube_httpd_auth *metrics_auth; /* NULL: /metrics and /dashboard unprotected */
	struct phx_leader *leader;

	pthread_t workers[MAX_WORKERS + URGENT_WORKERS];
	int nthreads;
	pthread_t sync_thread;
	bool sync_started;
	atomic_bool is_leader;
	atomic_bool synced;
	bool started, stopped;
};

struct worker_arg {
	struct phx_manager *m;
	struct kube_workqueue *q;
};

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

bool phx_manager_is_leader(struct phx_manager *m)
{
	return atomic_load(&m->is_leader);
}

/* ---------------------------------------------------------------- handlers */

static void enqueue(struct phx_manager *m, const char *key, bool urgent)
{
	if (!key || !atomic_load(&m->is_leader))
		return;
	kube_workqueue_add(urgent ? m->urgent : m->queue, key);
}

static void phx_add(const cJSON *obj, void *ud)
{
	char *key = kube_json_key(obj);
	enqueue(ud, key, false);
	free(key);
}

static void phx_update(const cJSON *old_obj, const cJSON *new_obj, void *ud)
{
	(void)old_obj;
	phx_add(new_obj, ud);
}

static void phx_delete(const cJSON *obj, bool unknown, void *ud)
{
	struct phx_manager *m = ud;
	(void)unknown;
	if (!atomic_load(&m->is_leader)) {
		/* The leader forgets a deleted service in its reconcile; the other replicas, which
		 * keep warm records from pod events, forget it here. */
		char *key = kube_json_key(obj);
		if (key)
			phx_reconciler_forget(m->rec, key);
		free(key);
	}
	phx_add(obj, ud);
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
static void enqueue_labelled(struct phx_manager *m, const cJSON *pod, const char *owner)
{
	const char *svc = kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_SERVICE, NULL);
	char *key = phx_key(kube_json_namespace(pod), svc);
	if (!key)
		return;
	if (!owner || strcmp(owner, key) != 0)
		enqueue(m, key, false);
	free(key);
}

static void pod_event(struct phx_manager *m, const cJSON *old_obj, const cJSON *new_obj,
		      bool deleted)
{
	/* Runs on every replica: standbys keep readiness history and failure times warm. */
	bool urgent = phx_reconciler_pod_event(m->rec, old_obj, new_obj, deleted);
	char *key = owner_key(new_obj ? new_obj : old_obj);
	enqueue(m, key, urgent);
	enqueue_labelled(m, new_obj ? new_obj : old_obj, key);
	if (key && !atomic_load(&m->is_leader) &&
	    (deleted || kube_json_get(new_obj, "metadata", "deletionTimestamp", NULL))) {
		/* A pod of a deleted service going away (the garbage collector at work) may have
		 * made a record again after phx_delete forgot it: forget it once more. */
		cJSON *svc = NULL;
		if (kube_informer_get(m->inf_phx, key, &svc) == KUBE_ENOTFOUND)
			phx_reconciler_forget(m->rec, key);
		cJSON_Delete(svc);
	}
	free(key);
}

static void pod_add(const cJSON *obj, void *ud)
{
	pod_event(ud, NULL, obj, false);
}

static void pod_update(const cJSON *old_obj, const cJSON *new_obj, void *ud)
{
	if (old_obj == new_obj)
		return; /* resync: the PhoenixService informer's resync covers it */
	pod_event(ud, old_obj, new_obj, false);
}

static void pod_delete(const cJSON *obj, bool unknown, void *ud)
{
	(void)unknown;
	pod_event(ud, obj, NULL, true);
}

static void child_add(const cJSON *obj, void *ud)
{
	char *key = owner_key(obj);
	enqueue(ud, key, false);
	free(key);
}

static void child_update(const cJSON *old_obj, const cJSON *new_obj, void *ud)
{
	if (old_obj != new_obj)
		child_add(new_obj, ud);
}

static void child_delete(const cJSON *obj, bool unknown, void *ud)
{
	(void)unknown;
	child_add(obj, ud);
}

/* ---------------------------------------------------------------- workers */

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
static void load_suspects(struct phx_manager *m, const char *key, cJSON **pods)
{
	char names[PHX_SUSPECTS_MAX][PHX_NAME_MAX];
	size_t n = phx_reconciler_suspects(m->rec, key, names, PHX_SUSPECTS_MAX);
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
		if (kube_informer_get(m->inf_pods, pkey, &pod) == 0 && pod)
			cJSON_AddItemToArray(*pods, pod);
		free(pkey);
	}
}

static void load(void *ud, const char *key, cJSON **svc, cJSON **pods, cJSON **service,
		 cJSON **pdb)
{
	struct phx_manager *m = ud;
	if (kube_informer_get(m->inf_phx, key, svc) != 0)
		return;
	const char *uid = kube_json_uid(*svc);
	if (uid)
		kube_informer_list_owned(m->inf_pods, uid, pods);
	load_suspects(m, key, pods);
	kube_informer_get(m->inf_svcs, key, service);
	kube_informer_get(m->inf_pdbs, key, pdb);
}

/* Errors worth retrying at once: the next attempt may well succeed. */
static bool transient(int rc)
{
	return rc == KUBE_ESERVER || rc == KUBE_ESERVERTIMEOUT || rc == KUBE_ETOOMANY ||
	       rc == KUBE_EIO || rc == KUBE_ETIMEDOUT || rc == KUBE_ECONFLICT || rc == KUBE_ENOMEM;
}

/* The lane a failed reconcile retries on: a failover that does not serve yet goes to the
 * urgent lane and its short backoff, whichever queue it came from; anything else (a refused
 * create, a routine repair) backs off on the routine queue, also when it came in urgent: the
 * urgent lane's 250 ms cap is no pace for an error that will not go away. */
static struct kube_workqueue *retry_queue(struct phx_manager *m, const char *key, int rc)
{
	if (transient(rc) && phx_reconciler_failover_pending(m->rec, key))
		return m->urgent;
	return m->queue;
}

static void process(struct phx_manager *m, struct kube_workqueue *q, const char *key)
{
	int64_t requeue = 0;
	int rc = phx_reconcile_load(m->rec, key, load, m, &requeue);
	if (rc == KUBE_ENOTLEADER) {
		kube_workqueue_forget(q, key);
	} else if (rc < 0) {
		kube_log(KUBE_LOG_WARN, COMP, "reconcile failed; retrying", "key", key, "error",
			 kube_strerror(rc), NULL);
		kube_workqueue_add_rate_limited(retry_queue(m, key, rc), key);
	} else {
		/* Either lane may hold backoff for the key (a failover retries on the urgent one). */
		kube_workqueue_forget(m->queue, key);
		kube_workqueue_forget(m->urgent, key);
		if (requeue > 0)
			kube_workqueue_add_after(m->queue, key, KUBE_MS(requeue));
	}
}

static void *worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct phx_manager *m = wa->m;
	struct kube_workqueue *q = wa->q;
	free(wa);
	for (;;) {
		char *key = NULL;
		int rc = kube_workqueue_get(q, &key);
		if (rc == KUBE_ESHUTDOWN)
			break;
		if (rc < 0 || !key)
			continue;
		if (atomic_load(&m->is_leader) && atomic_load(&m->synced))
			process(m, q, key);
		kube_workqueue_done(q, key);
		free(key);
	}
	return NULL;
}

static int enqueue_all_cb(const cJSON *obj, void *ud)
{
	struct phx_manager *m = ud;
	char *key = kube_json_key(obj);
	if (key)
		kube_workqueue_add(m->queue, key);
	free(key);
	return 0;
}

static void enqueue_all(struct phx_manager *m)
{
	kube_informer_foreach(m->inf_phx, enqueue_all_cb, m);
}

/* ---------------------------------------------------------------- leadership */

static void on_started_leading(void *ud)
{
	struct phx_manager *m = ud;
	/* Without leader election nobody was elected: nothing to say. */
	if (m->leader_elect)
		kube_log(KUBE_LOG_INFO, COMP, "became leader", "identity", m->identity, NULL);
	/* The previous leader may have moved on since we last looked: re-read status. */
	phx_reconciler_reset_bookkeeping(m->rec);
	atomic_store(&m->is_leader, true);
	if (atomic_load(&m->synced))
		enqueue_all(m);
}

static void on_stopped_leading(void *ud)
{
	struct phx_manager *m = ud;
	atomic_store(&m->is_leader, false);
	kube_log(KUBE_LOG_INFO, COMP, "lost leadership: writes stopped", "identity", m->identity,
		 NULL);
}

/* Waits for every cache, then marks the process ready and hands the keys to the workers. */
static void *sync_main(void *arg)
{
	struct phx_manager *m = arg;
	struct kube_informer *infs[] = { m->inf_phx, m->inf_pods, m->inf_svcs, m->inf_pdbs };
	for (size_t i = 0; i < 4; i++)
		if (kube_informer_wait_for_sync(infs[i], -1) < 0)
			return NULL;
	atomic_store(&m->synced, true);
	if (m->probe_srv)
		kube_httpd_set_ready(m->probe_srv, "informers-synced", 1);
	if (m->metrics_srv)
		kube_httpd_set_ready(m->metrics_srv, "informers-synced", 1);
	kube_log(KUBE_LOG_INFO, COMP, "caches synced", "identity", m->identity, NULL);
	if (atomic_load(&m->is_leader))
		enqueue_all(m);
	return NULL;
}

static bool leader_gate(void *ud)
{
	struct phx_manager *m = ud;
	return phx_leader_is_leader(m->leader);
}

/* /readyz/leader-election: not ready while the elector keeps failing, so a configuration in
 * which nobody can ever lead (a Lease namespace that does not exist, RBAC) shows. Standing by
 * behind a healthy leader is ready. */
static int leader_check(void *data, char *why, size_t why_size)
{
	struct phx_manager *m = data;
	return phx_leader_healthy(m->leader, why, why_size) ? 0 : 1;
}

/* The probe port serves /healthz and /readyz only; the metrics port /metrics and /dashboard,
 * behind TokenReview + SubjectAccessReview with metrics_auth. One address for both: one server
 * serves all (probes are never protected). */
static int make_servers(struct phx_manager *m, bool metrics_auth)
{
	bool shared = strcmp(m->probe_addr, m->metrics_addr) == 0;
	struct kube_httpd_opts mo = {
		.bind_addr = m->metrics_addr,
		.serves = shared ? 0 : KUBE_HTTPD_METRICS,
	};
	struct kube_httpd_opts po = { .bind_addr = m->probe_addr, .serves = KUBE_HTTPD_PROBES };
	int rc = 0;

	if (metrics_auth)
		rc = kube_httpd_auth_new(m->client, 0, &m->metrics_auth);
	mo.auth = metrics_auth ? kube_httpd_auth_check : NULL;
	mo.auth_data = m->metrics_auth;
	if (rc == 0)
		rc = kube_httpd_new_opts(&mo, &m->metrics_srv);
	if (rc == 0)
		rc = phx_dashboard_register(m->metrics_srv, m->rec);
	if (rc == 0 && !shared)
		rc = kube_httpd_new_opts(&po, &m->probe_srv);
	if (rc < 0)
		return rc;
	kube_httpd_set_ready(m->probe_srv ? m->probe_srv : m->metrics_srv, "informers-synced", 0);
	return 0;
}

/* ---------------------------------------------------------------- lifecycle */

/* Every cache keeps only what the controller reads (phx_transform.h) and stores it as compact
 * JSON text: at 1,000 services that takes peak RSS from ~87 MiB to ~36 MiB (bench/). */
static int make_informer(struct phx_manager *m, const struct kube_gvr *gvr, const char *sel,
			 const char *name, int64_t resync_ms, const struct kube_informer_handlers *h,
			 cJSON *(*transform)(cJSON *, void *), struct kube_informer **out)
{
	struct kube_informer_opts o = {
		.gvr = gvr, .namespace = m->namespace, .label_selector = sel, .name = name,
		.resync_ms = resync_ms, .transform = transform, .compact = true,
	};
	int rc = kube_informer_new(m->client, &o, out);
	if (rc == 0)
		rc = kube_informer_add_handlers(*out, h);
	return rc;
}

int phx_manager_new(const struct phx_manager_opts *opts, struct phx_manager **out)
{
	struct phx_manager *m;
	int rc;
	if (!opts || !opts->client || !out)
		return KUBE_EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return KUBE_ENOMEM;
	m->client = opts->client;
	m->namespace = dup_or_null(opts->namespace);
	m->metrics_addr = strdup(opts->metrics_addr ? opts->metrics_addr : ":8080");
	m->probe_addr = strdup(opts->probe_addr ? opts->probe_addr : ":8081");
	m->leader_ns = strdup(opts->leader_namespace ? opts->leader_namespace : "default");
	m->leader_id = strdup(opts->leader_id ? opts->leader_id : "phoenix-operator-leader");
	m->identity = strdup(opts->identity ? opts->identity : "phoenix-operator");
	m->leader_elect = opts->leader_elect;
	m->nworkers = opts->workers < 1 ? 1 : opts->workers > MAX_WORKERS ? MAX_WORKERS
									  : opts->workers;
	if (!m->metrics_addr || !m->probe_addr || !m->leader_ns || !m->leader_id || !m->identity) {
		rc = KUBE_ENOMEM;
		goto fail;
	}

	struct kube_workqueue_opts qo = { .name = "phoenixservice" };
	m->queue = kube_workqueue_new(&qo);
	struct kube_workqueue_opts uo = {
		.name = "phoenixservice-failover",
		.limiter = kube_ratelimiter_exponential_new(KUBE_MS(URGENT_RETRY_BASE_MS),
							    KUBE_MS(URGENT_RETRY_MAX_MS)),
	};
	m->urgent = kube_workqueue_new(&uo);
	if (!m->queue || !m->urgent) {
		rc = KUBE_ENOMEM;
		goto fail;
	}
	/* Every failover step is an Event users look for; client-go's 25-per-object burst would
	 * silence a service after six failovers, so allow more and refill faster. */
	struct kube_events_opts eo = { .spam_burst = 256, .spam_refill_ns = KUBE_SEC(1) };
	rc = kube_events_new(opts->events_client ? opts->events_client : m->client,
			     "phoenix-operator", m->identity, &eo, &m->events);
	if (rc < 0)
		goto fail;
	struct phx_reconciler_opts ro = { .client = m->client, .urgent_client = opts->urgent_client,
					  .events = m->events };
	rc = phx_reconciler_new(&ro, &m->rec);
	if (rc < 0)
		goto fail;

	struct kube_informer_handlers hphx = { phx_add, phx_update, phx_delete, m };
	struct kube_informer_handlers hpod = { pod_add, pod_update, pod_delete, m };
	struct kube_informer_handlers hchild = { child_add, child_update, child_delete, m };
	rc = make_informer(m, &PHX_GVR, NULL, PHX_RESOURCE, 10 * 60 * 1000, &hphx,
			   phx_object_transform, &m->inf_phx);
	if (rc == 0)
		rc = make_informer(m, &KUBE_GVR_PODS, PHX_LABEL_SERVICE, "phoenix-pods", 0, &hpod,
				   phx_pod_transform, &m->inf_pods);
	if (rc == 0)
		rc = make_informer(m, &KUBE_GVR_SERVICES, PHX_LABEL_SERVICE, "phoenix-services", 0,
				   &hchild, phx_service_transform, &m->inf_svcs);
	if (rc == 0)
		rc = make_informer(m, &KUBE_GVR_PDBS, PHX_LABEL_SERVICE, "phoenix-pdbs", 0, &hchild,
				   phx_pdb_transform, &m->inf_pdbs);
	if (rc < 0)
		goto fail;

	rc = make_servers(m, opts->metrics_auth);
	if (rc < 0)
		goto fail;

	if (m->leader_elect) {
		struct phx_leader_opts lo = {
			.client = m->client, .namespace = m->leader_ns, .name = m->leader_id,
			.identity = m->identity, .on_started = on_started_leading,
			.on_stopped = on_stopped_leading, .ud = m,
		};
		rc = phx_leader_new(&lo, &m->leader);
		if (rc < 0)
			goto fail;
		rc = kube_httpd_add_readyz(m->probe_srv ? m->probe_srv : m->metrics_srv,
					   "leader-election", leader_check, m);
		if (rc < 0)
			goto fail;
		/* Events and urgent patches are writes too: only the leader's may pass. */
		if (opts->events_client && opts->events_client != m->client)
			kube_client_set_write_gate(opts->events_client, leader_gate, m);
		if (opts->urgent_client && opts->urgent_client != m->client)
			kube_client_set_write_gate(opts->urgent_client, leader_gate, m);
	}
	*out = m;
	return 0;
fail:
	phx_manager_free(m);
	return rc;
}

static int start_workers(struct phx_manager *m)
{
	for (int i = 0; i < m->nworkers + URGENT_WORKERS; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (!wa)
			return KUBE_ENOMEM;
		wa->m = m;
		wa->q = i < m->nworkers ? m->queue : m->urgent;
		if (pthread_create(&m->workers[m->nthreads], NULL, worker_main, wa) != 0) {
			free(wa);
			return KUBE_EIO;
		}
		m->nthreads++;
	}
	return 0;
}

int phx_manager_start(struct phx_manager *m)
{
	int rc;
	if (m->started)
		return 0;
	m->started = true;
	rc = kube_httpd_start(m->metrics_srv);
	if (rc == 0 && m->probe_srv)
		rc = kube_httpd_start(m->probe_srv);
	if (rc < 0)
		goto fail;
	struct kube_informer *infs[] = { m->inf_phx, m->inf_pods, m->inf_svcs, m->inf_pdbs };
	for (size_t i = 0; i < 4; i++) {
		rc = kube_informer_start(infs[i]);
		if (rc < 0)
			goto fail;
	}
	rc = start_workers(m);
	if (rc < 0)
		goto fail;
	if (pthread_create(&m->sync_thread, NULL, sync_main, m) != 0) {
		rc = KUBE_EIO;
		goto fail;
	}
	m->sync_started = true;
	if (m->leader) {
		rc = phx_leader_start(m->leader);
		if (rc < 0)
			goto fail;
	} else {
		on_started_leading(m);
	}
	kube_log(KUBE_LOG_INFO, COMP, "started", "identity", m->identity, "namespace",
		 m->namespace ? m->namespace : "(all)", "metrics", m->metrics_addr, "probes",
		 m->probe_addr, NULL);
	return 0;
fail:
	phx_manager_stop(m);
	return rc;
}

void phx_manager_stop(struct phx_manager *m)
{
	if (!m || !m->started || m->stopped)
		return;
	m->stopped = true;
	/* Step down first so a standby can take over while we drain. */
	if (m->leader)
		phx_leader_stop(m->leader);
	atomic_store(&m->is_leader, false);
	kube_workqueue_shutdown_with_drain(m->urgent);
	kube_workqueue_shutdown_with_drain(m->queue);
	for (int i = 0; i < m->nthreads; i++)
		pthread_join(m->workers[i], NULL);
	m->nthreads = 0;
	struct kube_informer *infs[] = { m->inf_phx, m->inf_pods, m->inf_svcs, m->inf_pdbs };
	for (size_t i = 0; i < 4; i++)
		kube_informer_stop(infs[i]);
	if (m->sync_started) {
		pthread_join(m->sync_thread, NULL);
		m->sync_started = false;
	}
	kube_httpd_stop(m->metrics_srv);
	kube_httpd_stop(m->probe_srv);
	if (m->events)
		kube_events_flush(m->events);
	kube_log(KUBE_LOG_INFO, COMP, "stopped", "identity", m->identity, NULL);
}

void phx_manager_free(struct phx_manager *m)
{
	if (!m)
		return;
	phx_manager_stop(m);
	phx_leader_free(m->leader);
	kube_httpd_free(m->metrics_srv);
	kube_httpd_free(m->probe_srv);
	kube_httpd_auth_free(m->metrics_auth);
	kube_informer_free(m->inf_phx);
	kube_informer_free(m->inf_pods);
	kube_informer_free(m->inf_svcs);
	kube_informer_free(m->inf_pdbs);
	phx_reconciler_free(m->rec);
	kube_events_free(m->events);
	kube_workqueue_free(m->queue);
	kube_workqueue_free(m->urgent);
	free(m->namespace);
	free(m->metrics_addr);
	free(m->probe_addr);
	free(m->leader_ns);
	free(m->leader_id);
	free(m->identity);
	free(m);
}
