/* The Build wing (controller/phx_wings.h): one controller on the generic host whose primary is
 * Builds; it owns the attempts' Jobs, sees their pods (label phoenix.fpai.io/build), the
 * PhoenixServices it deploys and the Approvals that gate Deploy. Each reconcile asks
 * phx_build_plan for the next step and carries it out: the effect, then the status, then the
 * Event and metrics; requeue_after for retries and health timeouts (no polling). */
#ifndef PHX_BUILD_CONTROLLER_H
#define PHX_BUILD_CONTROLLER_H

struct kube_manager;
struct phx_wing_env;

int build_wing_add(struct kube_manager *m, const struct phx_wing_env *env, void **state);
void build_wing_free(void *state);

#endif
