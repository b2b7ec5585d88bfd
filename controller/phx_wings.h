/* Wings: the kinds the operator hosts on the generic controller host (src/kube_controller.h),
 * one directory each under controller/ (intent/, build/, ...). A wing adds its controllers to the
 * one kube_manager it is given and keeps whatever state it needs; the host owns informers,
 * queues, leadership and the write gate.
 *
 * Adding a wing: implement `add` (and `free`) in its directory and append one line to the table
 * in phx_wings.c. Nothing else in main.c changes. */
#ifndef PHX_WINGS_H
#define PHX_WINGS_H

#include <stdbool.h>

struct kube_client;
struct kube_events;
struct kube_manager;

/* What every wing gets; borrowed, valid until its free. */
struct phx_wing_env {
	struct kube_client *client;   /* the manager's client: writes gated on leadership */
	struct kube_events *events;   /* Events (their own client and rate limit, gated too) */
	const char *namespace;        /* the watched namespace; "" = all */
	const char *identity;         /* this replica (Lease holder, Event source.host) */
};

struct phx_wing {
	const char *name;             /* [a-z0-9-]+, for logs */
	/* Registers the wing's controllers on m (kube_manager_add_controller) before the manager
	 * starts. *state is handed back to free. Returns 0 or a negative kube_err. */
	int (*add)(struct kube_manager *m, const struct phx_wing_env *env, void **state);
	void (*free)(void *state);    /* after the manager stopped; may be NULL */
};

/* The hosted wings, ending with an entry whose name is NULL. */
extern const struct phx_wing phx_wings[];

/* The wings' state on the operator's one manager (phx_manager.c). */
struct phx_wings_host;

struct phx_wings_opts {
	struct kube_manager *manager;      /* borrowed, required: the one host (one Lease) */
	struct kube_client *client;        /* borrowed, required: its (gated) client */
	struct kube_events *events;        /* borrowed: Events (own client, gated) */
	const char *namespace;             /* NULL or "" = all */
	const char *identity;              /* this replica */
};

/* Adds every wing to opts->manager before it starts. With no wing in the table *out is NULL
 * (free accepts NULL). Returns 0 or a kube_err. */
int phx_wings_new(const struct phx_wings_opts *opts, struct phx_wings_host **out);
/* Frees the wings' state: after the manager stopped. */
void phx_wings_free(struct phx_wings_host *h);
/* The number of wings in the table. */
int phx_wings_count(void);

#endif
