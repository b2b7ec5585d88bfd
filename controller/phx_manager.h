/* The operator's wiring on ONE generic controller host (src/kube_controller.h): the kube_manager
 * (informers, queues, workers, leader election with a write gate, /healthz /readyz /metrics),
 * the PhoenixService controller (controller/phoenixservice/phx_controller.h) with its dashboard,
 * the other kinds' wings (phx_wings.h) on the same manager and Lease, and Events. */
#ifndef PHX_MANAGER_H
#define PHX_MANAGER_H

#include <stdbool.h>

struct kube_client;
struct phx_manager;

struct phx_manager_opts {
	struct kube_client *client;   /* borrowed, required; must outlive the manager */
	/* Client for Events (borrowed; NULL = client). A separate one keeps Event writes from
	 * spending the rate-limit tokens a failover needs. */
	struct kube_client *events_client;
	const char *namespace;        /* watch one namespace; NULL or "" = all */
	const char *metrics_addr;     /* e.g. ":8080"; "0" disables */
	const char *probe_addr;       /* e.g. ":8081"; "0" disables */
	bool leader_elect;            /* false: act as leader at once (single replica) */
	const char *leader_namespace; /* Lease namespace */
	const char *leader_id;        /* Lease name */
	const char *identity;         /* this replica (Lease holderIdentity, Event source) */
	int workers;                  /* reconcile workers (>= 1); urgent workers are extra */
	/* Protect /metrics and /dashboard with TokenReview + SubjectAccessReview (get on the
	 * path as a nonResourceURL), as controller-runtime's metrics filter does. */
	bool metrics_auth;
};

/* Builds everything (nothing runs yet). Strings are copied. Returns 0, KUBE_EINVAL,
 * KUBE_ENOMEM, or the error of a component that could not be made. */
int phx_manager_new(const struct phx_manager_opts *opts, struct phx_manager **out);

/* Starts servers, informers, workers and the elector. Returns 0 or a kube_err (e.g. KUBE_EIO
 * when a port cannot be bound); on error whatever started is stopped again. */
int phx_manager_start(struct phx_manager *m);

/* Graceful stop: steps down (releasing the Lease so a standby takes over at once), drains the
 * workers, stops informers and servers, flushes Events. Idempotent. */
void phx_manager_stop(struct phx_manager *m);

/* Stops if needed and frees. NULL is a no-op. */
void phx_manager_free(struct phx_manager *m);

/* True while this replica holds the lease (always true without leader election). */
bool phx_manager_is_leader(struct phx_manager *m);

#endif
