/* The Job of one Build attempt, as a pure function of the Build and the attempt's settings: one
 * pod whose init containers run the steps in order on a shared workspace (fetch, generate,
 * test), the image step last as its main container. Deterministic name <build>-<run>, so a
 * restarted operator finds the Job it made instead of making a second one. No I/O, no clock. */
#ifndef PHX_BUILD_JOB_H
#define PHX_BUILD_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "kube_rest.h"

/* Build: kind and GVR; Approvals (read for the Deploy gate). Spelled out: 32_manifests.sh reads
 * GVRs from the source. */
#define PHX_BUILD_KIND "Build"
static const struct kube_gvr PHX_BUILD_GVR = {"phoenix.fpai.io", "v1alpha1", "builds", true};
static const struct kube_gvr PHX_BUILD_APPROVAL_GVR = {"phoenix.fpai.io", "v1alpha1", "approvals",
							true};

#define PHX_BUILD_TARGET_MAX 600

/* Labels on a Build's Jobs and their pods. */
#define PHX_BUILD_LABEL "phoenix.fpai.io/build"
#define PHX_BUILD_LABEL_RUN "phoenix.fpai.io/build-run"

/* The longest Build name whose Job names (<build>-<run>, run up to 9999) stay valid labels. */
#define PHX_BUILD_NAME_MAX 57

/* Step memory limit before remediation, and the limit the factor may reach. */
#define PHX_BUILD_STEP_MEMORY_MI 1024
#define PHX_BUILD_STEP_MEMORY_MAX_MI 16384

/* Default images: the step program and the builders. */
#define PHX_BUILD_STEP_IMAGE_DEFAULT "ghcr.io/fpai/phoenix-operator:latest"
#define PHX_BUILD_BUILDAH_IMAGE "quay.io/buildah/stable:v1.37"
#define PHX_BUILD_KANIKO_IMAGE "gcr.io/kaniko-project/executor:v1.23.2-debug"
#define PHX_BUILD_LOCAL_STORE_DEFAULT "/var/lib/phoenix/images"
/* The registry a built image is pushed to when spec.image.name is not given. */
#define PHX_BUILD_DEFAULT_REGISTRY "registry.local"

struct phx_build_job_opts {
	int run;               /* >= 1: the Job's number among the Build's Jobs */
	int attempt;           /* counted attempt, for the label and env */
	int memory_factor;     /* >= 1 (doubled after an OOM) */
	int deadline_factor;   /* >= 1 (doubled after DeadlineExceeded) */
};

/* What kind of Build this is, from its spec. */
enum phx_build_kind {
	PHX_BUILD_KIND_INVALID = 0, /* neither source, image nor generate */
	PHX_BUILD_KIND_PREBUILT,    /* image.name only: no Job, deploy as is */
	PHX_BUILD_KIND_SOURCE,      /* fetch + test + image */
	PHX_BUILD_KIND_GENERATE,    /* generate + test + image */
};
enum phx_build_kind phx_build_kind_of(const cJSON *build);

/* Checks what the schema cannot (or what a server without CEL lets through). Returns true when
 * the spec can run; otherwise false with the offending field and what to do in msg. Pure. */
bool phx_build_spec_valid(const cJSON *build, char *msg, size_t len);

/* The Job's name for run n: "<build>-<n>" into buf. Returns buf. */
char *phx_build_job_name(const char *build, int run, char *buf, size_t len);

/* The image the attempt builds and pushes: spec.image.name, else
 * PHX_BUILD_DEFAULT_REGISTRY/<namespace>/<serviceName>:run-<run>... without tag: <...>:latest.
 * Into buf; returns buf. */
char *phx_build_target_image(const cJSON *build, char *buf, size_t len);

/* A new Job (caller frees) for the Build (borrowed; must have metadata name/namespace/uid), or
 * NULL on ENOMEM or a NULL argument. */
cJSON *phx_build_job_new(const cJSON *build, const struct phx_build_job_opts *o);

/* The step names of a Build's Job, in order (fetch/generate, test, image); returns how many
 * (<= 4) were written to names. */
int phx_build_job_steps(const cJSON *build, const char *names[4]);

/* ---- verify (after the deploy, before register) ---- */

/* Label on a Build's Jobs that are not attempts: "verify". */
#define PHX_BUILD_LABEL_STEP "phoenix.fpai.io/build-step"
/* How long phoenix-build verify retries an endpoint that refuses or says 503. */
#define PHX_BUILD_VERIFY_TIMEOUT_S 30

/* The verify Job of run `run` (<build>-<run>; run counts every Job of the Build): one restricted
 * container `phoenix-build verify` calling the contract endpoints (spec.verify.endpoints, else
 * the five) at http://SERVICE.NS.svc:PORT; no service-account token, no service links. NULL on
 * ENOMEM or a Build without name, namespace or serviceName. Pure. */
cJSON *phx_build_verify_job_new(const cJSON *build, int run);

/* Pins the verify Job's requests to the Service's clusterIP (what cluster DNS answers for the
 * name; kubesim has no DNS). 0, or KUBE_EINVAL for a job that is not a verify Job. */
int phx_build_verify_job_set_address(cJSON *job, const char *address);

#endif
