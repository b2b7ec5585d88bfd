/* PhoenixService decision logic as pure functions: classify pods, plan the next actions
 * (failover, recovery, rollout, switchover), build pods/Service/PDB and compute status.
 * Nothing here does I/O or reads a clock: time comes in as arguments, so tests are tables. */
#ifndef PHX_FAILOVER_H
#define PHX_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "phx_api.h"
#include "phx_meta.h" /* phx_condition_add */


#define PHX_NAME_MAX 254
#define PHX_REV_MAX 24
#define PHX_MAX_PODS 32
#define PHX_MAX_ACTIONS 64
#define PHX_MAX_STANDBYS 5
/* A pod never seen Ready is "starting" (not failed when NotReady) for this long after creation. */
#define PHX_STARTUP_ALLOWANCE_MS 60000

enum phx_mode { PHX_MODE_SURGE = 0, PHX_MODE_PROMOTE = 1 };
enum phx_role { PHX_ROLE_NONE = 0, PHX_ROLE_PRIMARY, PHX_ROLE_STANDBY };

enum phx_health {
	PHX_HEALTH_READY = 0,   /* Running and Ready */
	PHX_HEALTH_STARTING,    /* not Ready yet and never was (or too young to judge) */
	PHX_HEALTH_GRACE,       /* was Ready, NotReady for less than notReadyGraceSeconds */
	PHX_HEALTH_FAILED,      /* see enum phx_fail_reason */
};

enum phx_fail_reason {
	PHX_FAIL_NONE = 0,
	PHX_FAIL_DELETED,     /* gone from the API (watch DELETED) */
	PHX_FAIL_TERMINATING, /* deletionTimestamp set */
	PHX_FAIL_PHASE_FAILED,
	PHX_FAIL_PHASE_SUCCEEDED,
	PHX_FAIL_NODE_LOST,   /* phase Unknown or Ready=Unknown */
	PHX_FAIL_OOMKILLED,
	PHX_FAIL_CRASHED,     /* restarts, terminated state, CrashLoopBackOff */
	PHX_FAIL_NOT_READY,   /* NotReady longer than the grace period */
};

/* What the decision logic needs from a PhoenixService; filled by phx_spec_parse. */
struct phx_spec {
	int standbys;
	double capacity;          /* standbyCapacity */
	enum phx_mode mode;
	int grace_s;              /* notReadyGraceSeconds */
	bool paused;
	char revision[PHX_REV_MAX];          /* hash of everything that shapes a pod */
	char switchover_to[PHX_NAME_MAX];    /* annotation value, "" when absent */
};

/* One pod as the planner sees it. */
struct phx_pod {
	char name[PHX_NAME_MAX];
	enum phx_role role;
	bool serving;
	char revision[PHX_REV_MAX];
	enum phx_health health;
	enum phx_fail_reason reason;
	int64_t created_ms;         /* creationTimestamp, ms since epoch (0 unknown) */
	int64_t grace_left_ms;      /* PHX_HEALTH_GRACE only: time until it counts as failed */
};

/* Quantities ("100m", "128Mi", "1Gi", "0.5", "2e3"): parse to milli-units. Returns 0 or
 * KUBE_EINVAL for text Kubernetes would reject. Pure. */
int phx_quantity_parse(const char *s, int64_t *milli);
/* Writes `in` x factor, rounded up to the milli-unit, in a canonical form that keeps a binary
 * suffix when the input had one (256Mi) and milli-units otherwise (200m, 3). Returns 0,
 * KUBE_EINVAL (unparsable input or factor <= 0) or KUBE_ENOMEM-free truncation as KUBE_EINVAL
 * when out is too small. Pure. */
int phx_quantity_scale(const char *in, double factor, char *out, size_t outlen);

/* Reads spec + annotations of a PhoenixService (borrowed). Validates what the schema cannot
 * (or what a server without schema validation let through): returns 0, or KUBE_EINVAL with a
 * human message in err (never NULL-terminated beyond errlen). On error *out is still filled
 * with defaults where possible. Pure. */
int phx_spec_parse(const cJSON *svc, struct phx_spec *out, char *err, size_t errlen);

/* Parses an RFC 3339 timestamp ("2026-11-22T20:00:00Z", fractional seconds allowed) into ms
 * since the epoch; 0 when missing or malformed. Pure. */
int64_t phx_time_parse_ms(const char *s);
/* Formats ms since the epoch as RFC 3339 UTC with second precision into buf (>= 21 bytes). */
void phx_time_format(int64_t ms, char *buf, size_t len);

/* Classifies one pod object (borrowed). ever_ready: this process saw the pod Ready at some
 * point (a failed readiness is then a failure, not a slow start). now_ms: wall clock.
 * Pure; fills *out completely. */
void phx_pod_classify(const cJSON *pod, bool ever_ready, int grace_s, int64_t now_ms,
		      struct phx_pod *out);

/* True when the pod object shows Ready=True. Pure. */
bool phx_pod_is_ready(const cJSON *pod);

/* A static name for a failure reason ("Deleted", "OOMKilled", ...). */
const char *phx_fail_reason_str(enum phx_fail_reason r);
const char *phx_role_str(enum phx_role r);

enum phx_action_kind {
	PHX_ACT_LABEL,            /* set role + serving labels on an existing pod */
	PHX_ACT_DELETE,           /* delete a pod */
	PHX_ACT_CREATE,           /* create a pod with role + serving at spec revision */
	PHX_ACT_CLEAR_SWITCHOVER, /* remove the switchover annotation from the PhoenixService */
};

struct phx_action {
	enum phx_action_kind kind;
	char pod[PHX_NAME_MAX];  /* LABEL, DELETE: the pod; CREATE: "" (the executor names it) */
	enum phx_role role;      /* LABEL, CREATE */
	bool serving;            /* LABEL, CREATE */
	const char *why;         /* static text for logs */
	bool fences;             /* DELETE of a failed pod in place of its "take out" label (the
	                          * grace-0 delete takes it out of the Service as well): when the
	                          * delete fails, the executor writes that label instead */
};

enum phx_plan_kind {
	PHX_PLAN_NONE = 0,     /* steady or only housekeeping */
	PHX_PLAN_CREATE,       /* initial creation / filling a deficit */
	PHX_PLAN_FAILOVER,     /* the primary failed */
	PHX_PLAN_ROLLOUT,      /* template change */
	PHX_PLAN_SWITCHOVER,   /* manual switchover or the rollout's switchover step */
};

/* Input to the planner besides pods: what the controller remembers of the service. */
struct phx_plan_input {
	const struct phx_spec *spec;
	const struct phx_pod *pods;
	size_t npods;
	const char *prev_primary;  /* status.primary as last written ("" or NULL when none) */
	bool failover_in_progress; /* status.failoverInProgress is set */
};

struct phx_plan {
	enum phx_plan_kind kind;
	struct phx_action acts[PHX_MAX_ACTIONS];
	size_t nacts;
	/* A primary failure was seen in this plan: the failed pod and why. */
	bool primary_failed;
	char failed_pod[PHX_NAME_MAX];
	enum phx_fail_reason failed_reason;
	char new_primary[PHX_NAME_MAX]; /* pod that becomes primary ("" when none/unchanged) */
	size_t promoted;                /* pods that start serving in this plan */
	bool degraded;                  /* primary failed with no Ready standby */
	int64_t requeue_after_ms;       /* > 0: reconcile again then (grace running out) */
};

/* The heart: given the spec and the observed pods, the ordered actions to take now. Executing
 * them in order (stopping at the first error) is always safe: Surge adds serving before removing
 * it, Promote removes serving before adding it (never two serving pods). Calling it again with
 * the state those actions produce gives the next step; with a settled state it gives no action.
 * Paused: no action. Pure. */
void phx_plan_compute(const struct phx_plan_input *in, struct phx_plan *out);

/* Builds the pod to create (new tree, caller frees) for PhoenixService svc (borrowed):
 * template + labels + owner reference + standby resources x capacity + readinessProbe from
 * heartbeat when none + preferred anti-affinity unless the template has affinity. NULL on
 * ENOMEM or unusable template. Pure. */
cJSON *phx_pod_build(const cJSON *svc, const struct phx_spec *spec, const char *pod_name,
		     enum phx_role role, bool serving);

/* The Service selecting serving pods and the PDB (maxUnavailable 1). New trees; NULL on error. */
cJSON *phx_service_build(const cJSON *svc);
cJSON *phx_pdb_build(const cJSON *svc);

/* Status computation. */
struct phx_status_input {
	const struct phx_spec *spec;
	const struct phx_pod *pods;
	size_t npods;
	const cJSON *prev_status;   /* current status (borrowed, may be NULL) */
	int64_t generation;
	int64_t now_ms;
	bool invalid;
	const char *invalid_msg;
	/* failover bookkeeping kept by the controller */
	int64_t failovers;
	int64_t last_failover_ms;      /* 0: never */
	int64_t last_reaction_ms;      /* <0: unknown */
	double last_recovery_s;        /* <0: unknown */
	bool in_progress;
	int64_t in_progress_started_ms;
	const char *in_progress_failed_pod;
	/* The last pod create the API refused (reason and the server's message; NULL or "" when
	 * the last create succeeded): condition PodCreateFailed. */
	const char *create_fail_reason;
	const char *create_fail_msg;
	/* Primaries whose failure is counted, newest last (status.countedFailures): a new leader
	 * reads them so that it never counts one again. */
	const char *const *counted_failures;
	size_t ncounted_failures;
};

/* Phase name from the observation; pure. An invalid spec is "Invalid" and a paused service
 * "Paused" whatever the pods do (the conditions still say what they do). */
const char *phx_phase_compute(const struct phx_status_input *in);
/* capacityPercent: 100 for a Ready primary + 100 x capacity per Ready standby. */
int phx_capacity_percent(const struct phx_spec *spec, const struct phx_pod *pods, size_t n);
/* True when the service has exactly 1 Ready serving primary + spec.standbys Ready non-serving
 * standbys at the spec revision (the state a failover recovers to). */
bool phx_settled(const struct phx_spec *spec, const struct phx_pod *pods, size_t n);
/* As phx_settled, whatever the pods' revisions: the failover is over (a rollout may follow;
 * it waits for the failover to end, so this must not wait for the rollout). */
bool phx_recovered(const struct phx_spec *spec, const struct phx_pod *pods, size_t n);
/* The full status object (new tree, caller frees); lastTransitionTime of a condition is kept
 * from prev_status when its status did not change. NULL on ENOMEM. */
cJSON *phx_status_build(const struct phx_status_input *in);

/* Status is refreshed (lastReconcileTime) at least this often even when nothing else changed. */
#define PHX_STATUS_REFRESH_MS 300000

/* The failover count to write. `ours` is the controller's own record, `live` what the object
 * carries now. Until the controller's record has been confirmed against the live object (its
 * first status write since it read the count, made with a resourceVersion precondition) it may
 * be stale (a cache behind a previous leader's last write): the larger wins, so the count never
 * goes backwards. Once confirmed, the record is the truth and a hand edit is undone. Pure. */
int64_t phx_failovers_merge(int64_t ours, int64_t live, bool confirmed);

/* When the reaction to a failure starts (same unit for all): when it was first seen, but not
 * before the service was last resumed (time paused is not reaction; resumed 0: never paused)
 * and never in the future (seen <= 0 or > now: now). Pure. */
int64_t phx_reaction_start(int64_t seen, int64_t resumed, int64_t now);

/* True when a status whose lastReconcileTime is `last_ms` (0: none) is due for a refresh. */
bool phx_status_refresh_due(int64_t last_ms, int64_t now_ms);

#endif
