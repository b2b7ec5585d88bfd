/* The Build pipeline's next step, as a pure function of (the Build with its status, the current
 * attempt's Job and pod, the PhoenixService, the Deploy Approval, now): at most one effect on
 * the cluster (create or delete the attempt's Job, deploy, register, roll back, take down), the
 * Build's new status, when to look again, and the Event to record. The controller
 * (phx_build_controller.c) carries it out: the effect first, then the status, so a crash in
 * between repeats an idempotent effect (deterministic Job names, AlreadyExists is success).
 * No I/O, no clock. */
#ifndef PHX_BUILD_PLAN_H
#define PHX_BUILD_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define PHX_BUILD_COND_SUCCEEDED "Succeeded"
#define PHX_BUILD_COND_DEPLOY_APPROVED "DeployApproved"
#define PHX_LABEL_REGISTERED "phoenix.fpai.io/registered"
#define PHX_LABEL_INTENT "phoenix.fpai.io/intent"
/* On a PhoenixService a Build deployed: the image it replaced (what a rollback returns to). */
#define PHX_ANN_PREVIOUS_IMAGE "phoenix.fpai.io/previous-image"

/* Where no Job is seen for a Running attempt, the Job is created again (AlreadyExists = it was
 * only the cache) after this long. */
#define PHX_BUILD_JOB_LOST_MS 5000
/* A finished Job whose pod is not seen terminated yet is classified from the Job alone after
 * this long (the pod's container states say more, so they are waited for). */
#define PHX_BUILD_POD_LAG_MS 5000

struct phx_build_input {
	const cJSON *build;     /* required */
	const cJSON *job;       /* the Job named status.job, NULL when not seen */
	const cJSON *pod;       /* the newest pod of that Job, NULL when none */
	const cJSON *service;   /* the PhoenixService spec.serviceName, NULL when none */
	const cJSON *approval;  /* the newest Deploy Approval for this Build and generation */
	int64_t now_ms;         /* wall clock, ms */
	int64_t pull_fail_after_ms; /* <= 0: the classifier's default */
	const cJSON *verify_job; /* the Job named status.verify.job, NULL when not seen */
	const cJSON *verify_pod; /* its newest pod, NULL when none */
	/* What earlier Builds of the service learned (phx_build_learn_start), for a new series:
	 * its first attempt starts with these factors (<= 1: none); learned_from names the entry. */
	int learned_memory_factor, learned_deadline_factor;
	const char *learned_from;
};

enum phx_build_effect {
	PHX_BUILD_EFFECT_NONE = 0,
	PHX_BUILD_EFFECT_CREATE_JOB,  /* create plan.job (AlreadyExists: fine) */
	PHX_BUILD_EFFECT_DELETE_JOB,  /* delete plan.job_name (NotFound: fine) */
	PHX_BUILD_EFFECT_DEPLOY,      /* create plan.service, or merge-patch it when service_exists */
	PHX_BUILD_EFFECT_REGISTER,    /* merge-patch plan.service (the registered label) */
	PHX_BUILD_EFFECT_ROLLBACK,    /* merge-patch plan.service (the previous image) */
	PHX_BUILD_EFFECT_TAKE_DOWN,   /* delete the PhoenixService plan.service_name */
	PHX_BUILD_EFFECT_CREATE_VERIFY_JOB, /* create plan.job, pinned to the Service's clusterIP
					     * (phx_build_verify_job_set_address) when known */
};

struct phx_build_plan {
	enum phx_build_effect effect;
	cJSON *job;               /* CREATE_JOB (owned) */
	char job_name[128];       /* CREATE_JOB, DELETE_JOB */
	cJSON *service;           /* DEPLOY (a whole object or a merge patch), REGISTER, ROLLBACK */
	bool service_exists;      /* DEPLOY: patch instead of create */
	char service_name[128];
	cJSON *status;            /* the new status (owned), NULL when unchanged */
	int64_t requeue_ms;       /* > 0: reconcile again after this long */
	const char *event_type;   /* "Normal" / "Warning", NULL: no Event */
	char event_reason[64];
	char event_msg[768];
	/* metrics */
	const char *result;       /* "Succeeded" / "Failed" / "Cancelled" when the Build just ended */
	char reason[64];          /* its reason */
	double duration_s;        /* start to end */
	const char *retry_class;  /* a retry was decided: the class name */
	bool rolled_back;
	/* REGISTER: the merge patch for the PhoenixService's /status (status.registration), after
	 * the label on plan.service (owned, NULL when none). */
	cJSON *service_status;
};

/* Fills *out (call phx_build_plan_release after). Returns 0, KUBE_EINVAL (NULL in, build or
 * out), KUBE_ENOMEM. Pure; thread-safe. */
int phx_build_plan(const struct phx_build_input *in, struct phx_build_plan *out);
void phx_build_plan_release(struct phx_build_plan *p);

/* The PhoenixService a Build deploys with `image` (new object, caller frees). */
cJSON *phx_build_service_new(const cJSON *build, const char *image);

/* True when the PhoenixService runs `image` and says Available=True for its current
 * generation. */
bool phx_build_service_available(const cJSON *svc, const char *image);

#endif
