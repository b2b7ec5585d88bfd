/* What a PhoenixService owns, as pure functions: ownership tests, the exact repair of an owned
 * Service or PodDisruptionBudget, the label patch that adopts an owned pod back, and the status
 * note for objects of its names that are not its own. Nothing here does I/O.
 * Invariant: an object is ours only through a controller ownerReference with our UID; labels
 * alone never make anything ours. */
#ifndef PHX_OWNER_H
#define PHX_OWNER_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* True when obj (borrowed) has a controller ownerReference with this uid (non-empty). */
bool phx_owned_by(const cJSON *obj, const char *uid);

/* The uid of obj's controller ownerReference of kind PhoenixService named `name`, or NULL (no
 * such reference). Borrowed from obj. */
const char *phx_owner_uid(const cJSON *obj, const char *name);

/* A JSON patch (RFC 6902; new array, caller frees) that makes the fields the operator owns in
 * `observed` exactly those of `want` (both borrowed: a Service from phx_service_build or a PDB
 * from phx_pdb_build): "add" of /spec/type, /spec/selector, /spec/ports,
 * /spec/publishNotReadyAddresses for a Service; /spec/selector, /spec/maxUnavailable (and the
 * removal of a /spec/minAvailable that cannot stand beside it) for a PDB; and our labels back
 * when they were removed. Whole values are replaced, so keys added by hand are removed (a
 * merge patch cannot do that). Fields the API server defaults (a port's nodePort, protocol
 * TCP, targetPort = port) are not differences. NULL when nothing differs or on ENOMEM
 * (*enomem tells which; may be NULL). */
cJSON *phx_repair_patch(const cJSON *want, const cJSON *observed, bool *enomem);

/* The merge patch (new text, caller frees) that adopts an owned pod (borrowed) of service
 * `svcname` with uid `uid` back: the owner label when it is missing or wrong; when the
 * service label was changed, that label too, and the pod comes back as a standby that does not
 * serve (it may have been replaced meanwhile: the planner removes extras). NULL when the pod's
 * labels are fine or on ENOMEM. */
char *phx_pod_adopt_patch(const cJSON *pod, const char *svcname, const char *uid);

/* The merge patch that fences a pod we do not own out of our Service without deleting it:
 * serving "false" and our owner label removed. Static text. */
const char *phx_pod_fence_patch(void);

/* Adds to status (borrowed, changed in place) the condition "OwnershipConflict" (True with
 * `msg` when msg is non-empty, else False) keeping lastTransitionTime from prev_status while
 * its status is unchanged. traffic_lost (our Service or PDB is someone else's object): phase
 * Degraded and the Degraded condition True with reason NotOwned. Pure. */
void phx_status_note_ownership(cJSON *status, const cJSON *prev_status, const char *msg,
			       bool traffic_lost, int64_t generation, int64_t now_ms);

#endif
