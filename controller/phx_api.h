/* The Phoenix API as every kind's controller and the kubectl plugin name it: the API group and
 * version, the PhoenixService kind and resource (with its GVR), the labels and annotations the
 * operator writes or reads, and the condition types of its status. Names only: no code, no
 * state; include it from anything that talks about Phoenix objects (the plugin does, through
 * its include path). */
#ifndef PHX_API_H
#define PHX_API_H

#include <stdbool.h>

#include "kube_rest.h"

#define PHX_GROUP "phoenix.fpai.io"
#define PHX_VERSION "v1alpha1"
#define PHX_API_VERSION "phoenix.fpai.io/v1alpha1"

/* PhoenixService: kind, plural resource, and its GVR (static: one per translation unit, all
 * equal; the plugin does not link the operator library). */
#define PHX_KIND "PhoenixService"
#define PHX_RESOURCE "phoenixservices"
/* Spelled out (not PHX_GROUP, ...): tests/e2e/32_manifests.sh reads the GVRs from the source to
 * check that RBAC grants exactly what the code uses. */
static const struct kube_gvr PHX_GVR = {"phoenix.fpai.io", "v1alpha1", "phoenixservices", true};

/* Labels on the objects a PhoenixService makes. */
#define PHX_LABEL_SERVICE "phoenix.fpai.io/service"
#define PHX_LABEL_ROLE "phoenix.fpai.io/role"
#define PHX_LABEL_SERVING "phoenix.fpai.io/serving"
#define PHX_LABEL_REVISION "phoenix.fpai.io/revision"
/* The UID of the PhoenixService on the pods it creates; its Service selects it, so only pods
 * it labelled (its own) can serve. */
#define PHX_LABEL_OWNER "phoenix.fpai.io/owner-uid"

/* Annotations a user sets on a PhoenixService. */
#define PHX_ANN_SWITCHOVER "phoenix.fpai.io/switchover-to"

/* Condition types in a PhoenixService's status.conditions. */
#define PHX_COND_AVAILABLE "Available"
#define PHX_COND_PROGRESSING "Progressing"
#define PHX_COND_DEGRADED "Degraded"
#define PHX_COND_INVALID "Invalid"
#define PHX_COND_POD_CREATE_FAILED "PodCreateFailed"
#define PHX_COND_OWNERSHIP_CONFLICT "OwnershipConflict"

/* Reasons of those conditions (Degraded and Progressing also take the phase as their reason). */
#define PHX_REASON_SERVING_POD_READY "ServingPodReady"
#define PHX_REASON_NO_SERVING_POD "NoServingPod"
#define PHX_REASON_AS_EXPECTED "AsExpected"
#define PHX_REASON_SETTLED "Settled"
#define PHX_REASON_INVALID_SPEC "InvalidSpec"
#define PHX_REASON_SPEC_VALID "SpecValid"
#define PHX_REASON_CREATE_REFUSED "CreateRefused"
#define PHX_REASON_PODS_CREATED "PodsCreated"
#define PHX_REASON_NOT_OWNED "NotOwned"
#define PHX_REASON_ALL_OWNED "AllOwned"

#endif
