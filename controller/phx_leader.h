/* Leader election for the operator: a thin adapter over the library's Lease elector that also
 * installs the client's write gate, so a replica that is not the leader cannot write at all. */
#ifndef PHX_LEADER_H
#define PHX_LEADER_H

#include <stdbool.h>
#include <stddef.h>

struct kube_client;
struct phx_leader;

struct phx_leader_opts {
	struct kube_client *client; /* borrowed; the write gate is installed on it */
	const char *namespace;      /* Lease namespace (copied) */
	const char *name;           /* Lease name (copied) */
	const char *identity;       /* holderIdentity (copied) */
	void (*on_started)(void *ud); /* gained the lease (writes allowed from now on) */
	void (*on_stopped)(void *ud); /* lost or released it (writes already refused) */
	void *ud;
};

/* Returns 0, KUBE_EINVAL, KUBE_ENOMEM. Nothing runs until phx_leader_start. */
int phx_leader_new(const struct phx_leader_opts *opts, struct phx_leader **out);
/* Starts campaigning in the background. Returns 0 or a kube_err. */
int phx_leader_start(struct phx_leader *l);
/* Steps down: writes stop, the Lease is released (so a standby takes over without waiting for
 * it to expire), the campaign thread is joined. Idempotent. */
void phx_leader_stop(struct phx_leader *l);
/* Stops and frees; NULL is a no-op. */
void phx_leader_free(struct phx_leader *l);
/* False while the elector keeps failing (see kube_leader_healthy: a Lease namespace that does
 * not exist, RBAC); why gets the reason. Thread-safe. */
bool phx_leader_healthy(struct phx_leader *l, char *why, size_t why_size);
/* True while this process holds the lease. Thread-safe. */
bool phx_leader_is_leader(struct phx_leader *l);

#endif
