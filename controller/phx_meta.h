/* Object metadata every kind's controller shares: the "namespace/name" work-queue key, owner
 * references (finding the one that names an owner of a kind, building the controller reference
 * an owner puts on what it creates), and status conditions that keep lastTransitionTime while
 * their status stays the same (metav1.Condition). Pure functions, no I/O, thread-safe. */
#ifndef PHX_META_H
#define PHX_META_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* The work-queue key "ns/name" (new string, caller frees), or NULL when ns or name is NULL or
 * on ENOMEM. */
char *phx_key(const char *ns, const char *name);

/* The controller ownerReference of obj (borrowed from obj; the first with controller: true), or
 * NULL. */
const cJSON *phx_controller_ref(const cJSON *obj);

/* The name in obj's ownerReference of this kind (borrowed from obj), or NULL. controller_only:
 * only the controller reference counts; otherwise the last reference of the kind. */
const char *phx_owner_ref_name(const cJSON *obj, const char *kind, bool controller_only);

/* A new ownerReferences array (caller frees; NULL on ENOMEM) with one controller reference to
 * owner (borrowed) of apiVersion/kind, blockOwnerDeletion set, as an owner puts on what it
 * creates. A missing name or uid is written as "". */
cJSON *phx_owner_refs_new(const cJSON *owner, const char *api_version, const char *kind);

/* Appends to the conditions array arr (borrowed, changed in place) the condition (type,
 * status "True"/"False", reason, msg: NULL is "") with observedGeneration gen; its
 * lastTransitionTime is kept from the condition of the same type and status in prev_status
 * (may be NULL), else now_ms formatted as metav1.Time. On ENOMEM nothing is appended. */
void phx_condition_add(cJSON *arr, const cJSON *prev_status, const char *type, bool status,
		       const char *reason, const char *msg, int64_t gen, int64_t now_ms);

#endif
