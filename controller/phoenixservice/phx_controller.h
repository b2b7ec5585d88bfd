/* The PhoenixService controller on the generic host (src/kube_controller.h): what it watches
 * (PhoenixServices; pods, Services and PDBs labelled phoenix.fpai.io/service), how their events
 * map to keys (a failing primary goes to the urgent lane), and the reconcile that reads the
 * caches and hands them to phx_reconcile. The host owns the queue, workers, leadership and the
 * write gate. */
#ifndef PHX_CONTROLLER_H
#define PHX_CONTROLLER_H

struct kube_client;
struct kube_events;
struct kube_manager;
struct phx_controller;
struct phx_reconciler;

struct phx_controller_opts {
	struct kube_client *client;        /* borrowed, required: the manager's (gated) client */
	struct kube_events *events;        /* borrowed; NULL = no Events */
	int workers;                       /* reconcile workers (>= 1); urgent workers are extra */
};

/* Registers the "phoenixservice" controller on m (before kube_manager_start). Returns 0,
 * KUBE_EINVAL, KUBE_ENOMEM, or kube_manager_add_controller's error. */
int phx_controller_add(struct kube_manager *m, const struct phx_controller_opts *opts,
		       struct phx_controller **out);
/* Frees it; after the manager stopped. NULL is a no-op. */
void phx_controller_free(struct phx_controller *c);
/* The reconciler (for the dashboard). Borrowed. */
struct phx_reconciler *phx_controller_reconciler(struct phx_controller *c);

#endif
