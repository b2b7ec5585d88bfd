/* The garbage collector: deletes (or orphans) the dependents of deleted owners by
 * ownerReferences, with the background, foreground and orphan policies of the real one.
 * State: an index of every object's uid and of owner uid -> dependents, kept from the events. */
#ifndef SIM_GC_H
#define SIM_GC_H

#include <cjson/cJSON.h>

struct sim_controllers;
struct sim_gc;

/* Returns 0 or KUBE_ENOMEM. */
int sim_gc_new(struct sim_controllers *c, struct sim_gc **out);
/* NULL is a no-op. */
void sim_gc_free(struct sim_gc *gc);

/* Every store event (any resource). Background: when an owner is DELETED, each dependent is
 * deleted (Background; Foreground when the owner went in the foreground), or only loses its
 * ownerReference when another owner still exists. Foreground: an owner marked with the
 * foregroundDeletion finalizer gets its dependents deleted, and the finalizer removed once no
 * dependent with blockOwnerDeletion is left. Orphan: dependents lose their ownerReferences to an
 * owner marked with the orphan finalizer, then the finalizer is removed. Dangling: a new object
 * none of whose owners exists (checked in the store by kind and name) is deleted. */
void sim_gc_on_event(struct sim_controllers *c, const char *type, const char *group,
		     const char *resource, const cJSON *obj, const cJSON *old);

/* Number of objects indexed (for tests and the control API's /sim/v1/state). */
unsigned sim_gc_objects(struct sim_controllers *c);

#endif
