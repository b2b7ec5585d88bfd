/* The Intent wing: the Intent controller on the generic controller host (controller/phx_wings.h).
 * It watches Intents (primary), the namespace's GovernancePolicy "default", Approvals that target
 * an Intent, the SPEC ConfigMaps and the Builds it owns and the PhoenixServices it may have
 * produced; it evaluates governance, applies Approvals (gates Governance and Spec), queues
 * approved Intents by priority under maxConcurrentPipelines, writes the gated SPEC and hands it
 * to a Build (../../docs/governance.md, ../../docs/user-guide.md). */
#ifndef INTENT_WING_H
#define INTENT_WING_H

#include <stdint.h>

#include "phx_wings.h"

/* Labels, annotations and the finalizer the Intent controller writes. */
#define INTENT_LABEL "phoenix.fpai.io/intent"
#define INTENT_ANN_GENERATION "phoenix.fpai.io/intent-generation"
#define INTENT_ANN_VERIFIED "phoenix.fpai.io/spec-verified"  /* hash of the text last verified */
#define INTENT_ANN_WRITTEN "phoenix.fpai.io/spec-written"    /* hash of the text the operator wrote */
#define INTENT_ANN_PASSES "phoenix.fpai.io/spec-passes"
#define INTENT_FINALIZER "phoenix.fpai.io/intent-cleanup"

/* The SPEC ConfigMap of an Intent is "<intent name>-spec", its key SPEC.md. */
#define INTENT_SPEC_SUFFIX "-spec"
#define INTENT_SPEC_KEY "SPEC.md"

/* While the Build CRD is not served, an Intent ready for its Build looks again this often. */
#define INTENT_BUILD_CRD_RETRY_MS 15000

/* phx_wing.add / .free for the table in phx_wings.c. When the API server does not serve
 * intents.phoenix.fpai.io (the CRD is not installed) the wing adds nothing and logs how to
 * enable it, so the other wings on the host still sync. */
int intent_wing_add(struct kube_manager *m, const struct phx_wing_env *env, void **state);
void intent_wing_free(void *state);

#endif
