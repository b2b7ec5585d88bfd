/* The operator on one kube_manager (phx_manager.h). The host owns the queues, workers,
 * leadership, probes and metrics; this file only chooses them and adds the controllers. */
#include "phx_manager.h"

#include <stdlib.h>
#include <string.h>

#include "kube_clock.h"
#include "kube_controller.h"
#include "kube_error.h"
#include "kube_events.h"
#include "kube_httpd_auth.h"
#include "kube_log.h"
#include "phx_controller.h"
#include "dash_phoenix.h" /* dashboard glue: the Phoenix board */
#include "dash_pipeline.h" /* and the pipeline pages */
#include "phx_wings.h"

#define COMP "manager"

struct phx_manager {
	struct kube_manager *host;
	struct kube_events *events;
	struct kube_httpd_auth *metrics_auth; /* NULL: /metrics unprotected */
	struct phx_controller *phx;
	struct phx_wings_host *wings;
	bool stopped;
};

bool phx_manager_is_leader(struct phx_manager *m)
{
	return kube_manager_is_leader(m->host);
}

/* The probe port serves /healthz and /readyz only; the metrics port /metrics only,
 * behind TokenReview + SubjectAccessReview with metrics_auth. One address for both: one server
 * serves all (probes are never protected). The Lease is opts->leader_id: PhoenixService and
 * every wing lead together. */
static int make_host(struct phx_manager *m, const struct phx_manager_opts *o)
{
	struct kube_manager_opts mo = {
		.client = o->client, .namespace = o->namespace,
		.metrics_addr = o->metrics_addr ? o->metrics_addr : ":8080",
		.probe_addr = o->probe_addr ? o->probe_addr : ":8081",
		.leader_elect = o->leader_elect,
		.lease_namespace = o->leader_namespace ? o->leader_namespace : "default",
		.lease_name = o->leader_id ? o->leader_id : "phoenix-operator-leader",
		.identity = o->identity ? o->identity : "phoenix-operator",
		.split_servers = true,
	};
	int rc = 0;

	if (o->metrics_auth)
		rc = kube_httpd_auth_new(o->client, 0, &m->metrics_auth);
	mo.metrics_auth = m->metrics_auth ? kube_httpd_auth_check : NULL;
	mo.metrics_auth_data = m->metrics_auth;
	if (rc == 0)
		rc = kube_manager_new(&mo, &m->host);
	/* Events and urgent patches are writes too: only the leader's may pass. */
	if (rc == 0 && o->events_client)
		rc = kube_manager_gate_client(m->host, o->events_client);
	return rc;
}

int phx_manager_new(const struct phx_manager_opts *opts, struct phx_manager **out)
{
	if (!opts || !opts->client || !out)
		return KUBE_EINVAL;
	*out = NULL;
	struct phx_manager *m = calloc(1, sizeof(*m));
	if (!m)
		return KUBE_ENOMEM;
	const char *identity = opts->identity ? opts->identity : "phoenix-operator";
	int rc = make_host(m, opts);
	/* Every failover step is an Event users look for; client-go's 25-per-object burst would
	 * silence a service after six failovers, so allow more and refill faster. */
	struct kube_events_opts eo = { .spam_burst = 256, .spam_refill_ns = KUBE_SEC(1) };
	if (rc == 0)
		rc = kube_events_new(opts->events_client ? opts->events_client : opts->client,
				     "phoenix-operator", identity, &eo, &m->events);
	struct phx_controller_opts co = { .client = opts->client, .events = m->events,
					  .workers = opts->workers };
	if (rc == 0)
		rc = phx_controller_add(m->host, &co, &m->phx);
	/* dashboard glue: the Phoenix board on the process's web dashboard (controller/dashboard/,
	 * --dashboard-bind-address); a no-op without one. */
	if (rc == 0)
		rc = dash_phoenix_register(NULL, phx_controller_reconciler(m->phx));
	if (rc == 0) /* the pipeline pages and approvals (dash_pipeline.h); a no-op too */
		rc = dash_pipeline_register(NULL, opts->client, opts->namespace);
	struct phx_wings_opts wo = { .manager = m->host, .client = opts->client,
				     .events = m->events, .namespace = opts->namespace,
				     .identity = identity };
	if (rc == 0)
		rc = phx_wings_new(&wo, &m->wings);
	if (rc < 0) {
		phx_manager_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int phx_manager_start(struct phx_manager *m)
{
	int rc = kube_manager_start(m->host);
	if (rc < 0)
		phx_manager_stop(m);
	return rc;
}

void phx_manager_stop(struct phx_manager *m)
{
	if (!m || m->stopped)
		return;
	m->stopped = true;
	kube_manager_stop(m->host);
	if (m->events)
		kube_events_flush(m->events);
}

void phx_manager_free(struct phx_manager *m)
{
	if (!m)
		return;
	phx_manager_stop(m);
	phx_wings_free(m->wings);
	kube_manager_free(m->host);
	phx_controller_free(m->phx);
	kube_events_free(m->events);
	kube_httpd_auth_free(m->metrics_auth);
	free(m);
}
