/* Leader election on a coordination.k8s.io/v1 Lease (client-go leaderelection): one holder at a
 * time renews the Lease; the others take over once it expires. Invariant: while this process is
 * not the leader, or its last successful renew is older than the renew deadline, every write
 * through the gated client fails at once with KUBE_ENOTLEADER. */
#ifndef KUBE_LEADER_H
#define KUBE_LEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube_rest.h"

struct kube_clock;
struct kube_leader;

struct kube_leader_callbacks {
	/* This process became the leader: start the work that writes. */
	void (*on_started_leading)(void *ud);
	/* Leadership is gone (renew deadline passed, lost to another holder, or stop): writes are
	 * already refused when this runs. Not called if leadership was never gained. */
	void (*on_stopped_leading)(void *ud);
	/* The observed holder changed to `identity` (ours included; never empty). */
	void (*on_new_leader)(const char *identity, void *ud);
	void *ud;
};

struct kube_leader_config {
	/* Client for the Lease requests (borrowed; must outlive the elector). Lease writes are
	 * exempt from the write gate (kube_rest.h). Give it a request timeout below the renew
	 * deadline if you can: the gate closes on time anyway, but a hung renew delays
	 * on_stopped_leading. */
	struct kube_client *client;
	/* Client whose writes are gated on leadership (borrowed); NULL = `client`. */
	struct kube_client *gated_client;
	const char *lease_namespace;   /* required; copied */
	const char *lease_name;        /* required; copied */
	const char *identity;          /* required, unique per replica (e.g. the pod name); copied */
	int64_t lease_duration_ms;     /* 0 = 15000: how long a lease is valid after a renew */
	int64_t renew_deadline_ms;     /* 0 = 10000: leader gives up when renewing fails this long */
	int64_t retry_period_ms;       /* 0 = 2000: time between attempts */
	/* By default stop() hands the lease back (holderIdentity cleared) so a successor takes
	 * over at once; true keeps it until it expires (tests of expiry). */
	bool keep_lease_on_stop;
	struct kube_leader_callbacks callbacks;
	struct kube_clock *clock;      /* NULL = real; borrowed */
};

/* Validates and copies cfg; nothing runs yet. Requires lease_duration > renew_deadline >
 * retry_period > 0 (after defaults), like client-go. Returns 0, KUBE_EINVAL, KUBE_ENOMEM;
 * *out is NULL on error. Installs the write gate on the gated client at once: writes are
 * refused until this process leads. */
int kube_leader_new(const struct kube_leader_config *cfg, struct kube_leader **out);

/* Starts the elector thread: it tries to acquire every retry period (with jitter) and renews
 * while leading. Callbacks run on that thread, one at a time; keep them short (start or stop
 * your workers, do not block). Returns 0, KUBE_EINVAL (already started), KUBE_EIO. */
int kube_leader_start(struct kube_leader *le);

/* Stops the elector: writes are refused first, then, unless keep_lease_on_stop, the Lease is
 * released (holderIdentity cleared, as client-go ReleaseOnCancel), on_stopped_leading runs if
 * we led, and the thread is joined. Idempotent; not from a callback. */
void kube_leader_stop(struct kube_leader *le);

/* Stops if needed and frees. The gated client keeps a gate that refuses every write (a
 * process that gave up leadership must not write); install another one to change that.
 * Call it once the threads writing through the gated client have stopped: a request that read
 * the gate just before may still call into the elector. NULL is a no-op. */
void kube_leader_free(struct kube_leader *le);

/* True while leading and the last successful renew is younger than the renew deadline: the
 * same test the write gate makes before each request (a request already on the wire when the
 * deadline passes completes; the lease duration minus the renew deadline is the margin for
 * it). Thread-safe, lock-free. */
bool kube_leader_is_leader(struct kube_leader *le);

/* False once the elector's Lease requests have failed (the API server refused or could not be
 * reached: a Lease namespace that does not exist, RBAC, ...) for a whole renew deadline without
 * one success; why (may be NULL) then gets the last error, with a hint for 404 and 403.
 * Standing by while another replica's Lease is valid is healthy. Meant for /readyz: an elector
 * that keeps failing means nobody may ever lead. Errors are also counted in
 * leader_election_errors_total{name} and logged at warning level, at most every 30 s.
 * Thread-safe. NULL is healthy. */
bool kube_leader_healthy(struct kube_leader *le, char *why, size_t why_size);

/* The holder last observed on the Lease (a malloc'd copy; NULL when unknown or on ENOMEM). */
char *kube_leader_current_holder(struct kube_leader *le);

/* Formats ns since the epoch as a Kubernetes MicroTime, "2006-01-02T15:04:05.000000Z", into
 * buf (at least 28 bytes). Returns buf. Pure. */
char *kube_leader_format_microtime(int64_t wall_ns, char *buf, size_t len);

#endif
