/* The Job controller: creates a Job's pods, counts their outcomes, honours completions,
 * parallelism, backoffLimit and activeDeadlineSeconds, and writes Job status with the v1.31+
 * conditions (SuccessCriteriaMet / FailureTarget, then Complete / Failed). Each container's
 * outcome (exit code, reason, termination message, duration) is scripted by the test through
 * the control API; unscripted containers succeed at once. */
#ifndef SIM_JOBS_H
#define SIM_JOBS_H

#include <stdint.h>
#include <cjson/cJSON.h>

struct sim_controllers;
struct sim_pod_run;
struct sim_jobs;

/* ---- Pure: what the controller does next ---- */

struct sim_job_spec {
	long completions;   /* default 1 */
	long parallelism;   /* default 1 */
	long backoff_limit; /* default 6 */
	long deadline_s;    /* activeDeadlineSeconds, -1 = none */
	int suspend;
};

struct sim_job_counts {
	long active;      /* pods not finished and not being deleted */
	long ready;
	long succeeded;   /* pods that ended Succeeded (counted once, even after they are deleted) */
	long failed;
	long terminating; /* pods being deleted */
};

enum sim_job_state {
	SIM_JOB_RUNNING = 0,
	SIM_JOB_SUCCESS_TARGET, /* SuccessCriteriaMet: waiting for pods to finish */
	SIM_JOB_COMPLETE,
	SIM_JOB_FAILURE_TARGET, /* FailureTarget: waiting for pods to finish */
	SIM_JOB_FAILED,
};

struct sim_job_decision {
	enum sim_job_state state;
	long create;        /* pods to create now */
	int delete_active;  /* delete every active pod */
	const char *reason; /* of the target/terminal conditions: CompletionsReached,
			     * BackoffLimitExceeded, DeadlineExceeded; NULL while running */
	const char *message;
	int64_t recheck_ms; /* >= 0: decide again at this time (the deadline), -1 none */
};

/* Reads spec.completions/parallelism/backoffLimit/activeDeadlineSeconds/suspend with the API's
 * defaults. */
void sim_job_spec_read(const cJSON *job, struct sim_job_spec *spec);

/* The controller's decision. prev is what the Job's conditions already say (RUNNING when none;
 * a target or terminal state is sticky, with prev_reason). start_ms is status.startTime (-1 if
 * unset), now_ms the current wall time. Pure. */
void sim_job_decide(const struct sim_job_spec *spec, const struct sim_job_counts *cnt,
		    enum sim_job_state prev, const char *prev_reason, int64_t start_ms,
		    int64_t now_ms, struct sim_job_decision *out);

/* The state the Job's status.conditions record (and its reason, borrowed from job). */
enum sim_job_state sim_job_state_of(const cJSON *job, const char **reason);

/* Builds the status stanza from the decision: active/ready/succeeded/failed/terminating,
 * startTime, completionTime (COMPLETE only), conditions (keeping the transition times of those
 * already present in old_status). New object; caller frees. */
cJSON *sim_job_status_build(const cJSON *old_status, const struct sim_job_counts *cnt,
			    const struct sim_job_decision *d, int64_t start_ms, int64_t now_ms);

/* Applies a script's outcome for this attempt (0-based) to run's containers: `script` is
 * {"attempts":[{"containers":{NAME:OUTCOME}}...], "containers":{...}, "default":OUTCOME} with
 * OUTCOME {"exitCode","reason","message","durationMs"}; attempt i uses attempts[min(i, n-1)],
 * else "containers"; unlisted containers get "default", else exit 0 after default_ms. script may
 * be NULL. */
void sim_job_plan_apply(struct sim_pod_run *run, const cJSON *script, long attempt,
			int64_t default_ms);

/* ---- Glue ---- */

int sim_jobs_new(struct sim_controllers *c, struct sim_jobs **out);
void sim_jobs_free(struct sim_jobs *j);

void sim_jobs_on_job(struct sim_controllers *c, const char *type, const cJSON *job);
void sim_jobs_on_pod(struct sim_controllers *c, const char *type, const cJSON *pod);
void sim_jobs_flush(struct sim_controllers *c);

/* Called by the kubelet before it starts a pod: if the pod belongs to a Job, fills the run's
 * container plans from the matching script (or success). Returns 1 for a Job pod, else 0. */
int sim_jobs_plan_pod(struct sim_controllers *c, const cJSON *pod, struct sim_pod_run *run);

/* Stores a script (see sim_job_plan_apply) for Jobs named `job` in ns, or (job NULL) for Jobs
 * whose labels match `selector` (label selector text). A later script for the same target
 * replaces the earlier one; job and selector both NULL sets the default for every Job.
 * script is copied. Returns 0, KUBE_EINVAL (bad selector) or KUBE_ENOMEM. */
int sim_jobs_script(struct sim_controllers *c, const char *ns, const char *job,
		    const char *selector, const cJSON *script);
/* The scripts as a JSON array (caller frees). */
cJSON *sim_jobs_scripts_json(struct sim_controllers *c);
void sim_jobs_scripts_clear(struct sim_controllers *c);

#endif
