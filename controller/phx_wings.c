/* The wing table and the manager that hosts it (see phx_wings.h). */
#include "phx_wings.h"

#include <stdlib.h>

#include "kube_clock.h"
#include "kube_controller.h"
#include "kube_error.h"
#include "kube_events.h"
#include "kube_log.h"
#include "build/phx_build_controller.h"

/* One line per wing, in registration order. */
const struct phx_wing phx_wings[] = {
	{ "build", build_wing_add, build_wing_free },
	{ NULL, NULL, NULL },
};

struct phx_wings_host {
	struct kube_manager *mgr;
	struct kube_events *events;
	void *state[16];
	int n;
};

int phx_wings_count(void)
{
	int n = 0;
	while (phx_wings[n].name)
		n++;
	return n;
}

int phx_wings_new(const struct phx_wings_opts *o, struct phx_wings_host **out)
{
	if (!o || !o->client || !o->events_client || !out)
		return KUBE_EINVAL;
	*out = NULL;
	int n = phx_wings_count();
	if (n == 0)
		return 0;
	if (n > (int)(sizeof(((struct phx_wings_host *)0)->state) / sizeof(void *)))
		return KUBE_EINVAL;
	struct phx_wings_host *h = calloc(1, sizeof(*h));
	if (!h)
		return KUBE_ENOMEM;
	struct kube_manager_opts mo = {
		.client = o->client, .namespace = o->namespace, .leader_elect = o->leader_elect,
		.lease_namespace = o->lease_namespace, .lease_name = o->lease_name,
		.identity = o->identity,
	};
	int rc = kube_manager_new(&mo, &h->mgr);
	if (rc == 0)
		rc = kube_manager_gate_client(h->mgr, o->events_client);
	struct kube_events_opts eo = { .spam_burst = 256, .spam_refill_ns = KUBE_SEC(1) };
	if (rc == 0)
		rc = kube_events_new(o->events_client, "phoenix-operator", o->identity, &eo,
				     &h->events);
	struct phx_wing_env env = { .client = o->client, .events = h->events,
				    .namespace = o->namespace ? o->namespace : "",
				    .identity = o->identity };
	while (rc == 0 && h->n < n) {
		rc = phx_wings[h->n].add(h->mgr, &env, &h->state[h->n]);
		if (rc < 0)
			kube_log(KUBE_LOG_ERROR, "wings", "cannot add wing", "wing",
				 phx_wings[h->n].name, "error", kube_strerror(rc), NULL);
		else
			h->n++;
	}
	if (rc < 0) {
		phx_wings_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

int phx_wings_start(struct phx_wings_host *h)
{
	return h ? kube_manager_start(h->mgr) : 0;
}

void phx_wings_free(struct phx_wings_host *h)
{
	if (!h)
		return;
	if (h->mgr)
		kube_manager_stop(h->mgr);
	if (h->events)
		kube_events_shutdown(h->events);
	for (int i = h->n - 1; i >= 0; i--)
		if (phx_wings[i].free)
			phx_wings[i].free(h->state[i]);
	kube_manager_free(h->mgr);
	kube_events_free(h->events);
	free(h);
}
