/* The simulated nodes and kubelet: binds pods to nodes, runs their containers through a scripted
 * timeline, builds pod status like the real kubelet, and applies the faults tests script.
 *
 * Two layers: `struct sim_pod_run` and its functions are pure (time is passed in, no I/O) so
 * unit tests drive them directly; sim_kubelet_* glue them to the store and the loop's timers. */
#ifndef SIM_KUBELET_H
#define SIM_KUBELET_H

#include <stdint.h>
#include <cjson/cJSON.h>

struct sim_controllers;

/* ---- Pure: one pod's containers and conditions ---- */

enum sim_pod_phase {
	SIM_POD_PENDING = 0,
	SIM_POD_RUNNING,
	SIM_POD_SUCCEEDED,
	SIM_POD_FAILED,
	SIM_POD_UNKNOWN,
};
const char *sim_pod_phase_name(enum sim_pod_phase p);
/* -1 if not a phase name. */
int sim_pod_phase_parse(const char *s);

enum sim_ctr_state { SIM_CTR_WAITING = 0, SIM_CTR_RUNNING, SIM_CTR_TERMINATED };

/* How one container ends, as a Job test scripts it. A container without a plan runs forever. */
struct sim_ctr_plan {
	int set;
	int exit_code;
	char reason[32];   /* "" = Completed (exit 0) or Error */
	char message[256]; /* the termination message */
	int64_t duration_ms;
};

struct sim_ctr_term {
	int exit_code;
	int signal;
	char reason[32];
	char message[256];
	int64_t started_ms, finished_ms;
};

struct sim_ctr {
	char *name;
	char *image;
	int init;
	int has_readiness_probe;
	enum sim_ctr_state state;
	char waiting_reason[32];
	int64_t started_ms;      /* of the current run */
	int64_t restart_due_ms;  /* >0: waiting in back-off, runs again then */
	int stay_down;           /* crash loop until restored */
	struct sim_ctr_term term; /* state == TERMINATED */
	int has_last;
	struct sim_ctr_term last;
	int restart_count;
	int id_seq; /* bumps the containerID on every restart */
	struct sim_ctr_plan plan;
	/* --run-pods (sim_runtime.h fills these; unused otherwise) */
	int rt_ready, rt_started;
	char rt_wait_msg[256];  /* the waiting state's message */
	char *rt_msg, *rt_last_msg; /* termination messages up to 4096 bytes (owned) */
};

enum sim_pod_cond {
	SIM_COND_SCHEDULED = 0,
	SIM_COND_READY_TO_START,
	SIM_COND_INITIALIZED,
	SIM_COND_CONTAINERS_READY,
	SIM_COND_READY,
	SIM_COND_COUNT,
};

struct sim_pod_run {
	char *uid;
	char *restart_policy; /* Always (default), OnFailure, Never */
	char *node;           /* NULL until bound */
	char host_ip[24];
	char pod_ip[24];
	enum sim_pod_phase phase;
	int started;          /* sandbox up: containers began (startTime set) */
	int64_t start_ms;     /* startTime */
	int readiness_failed; /* scripted by the test */
	int node_down;
	char reason[32];      /* pod-level reason (NodeLost, Evicted, ...) */
	char message[256];
	size_t n_ctrs;        /* init containers first, in spec order */
	size_t n_init;
	struct sim_ctr *ctrs;
	size_t cursor;        /* sequential mode: index of the container running now */
	int sequential;       /* any container has a plan: run one after another */
	unsigned steps;       /* bumped by every change sim_pod_run_advance makes */
	int cond_status[SIM_COND_COUNT]; /* -1 unset, 0 False, 1 True */
	int64_t cond_ltt[SIM_COND_COUNT];
	int real; /* --run-pods: container states come from real processes (sim_runtime_fill) */
};

/* Builds the run from a pod (spec.containers, initContainers, restartPolicy). Returns NULL on
 * ENOMEM or a pod without containers. The pod is only read. */
struct sim_pod_run *sim_pod_run_new(const cJSON *pod);
void sim_pod_run_free(struct sim_pod_run *run);

/* Finds a container by name; NULL name = the first main container. NULL if none. */
struct sim_ctr *sim_pod_run_ctr(struct sim_pod_run *run, const char *name);

/* Starts the sandbox at `now`: phase Running (or Pending while init containers run), startTime,
 * containers running. Then advances through everything due by `now`. */
void sim_pod_run_start(struct sim_pod_run *run, int64_t now);

/* Applies every step due by `now` (planned terminations, restarts after back-off, the move to
 * the next container, the terminal phase). Returns the wall time of the next step, or -1. */
int64_t sim_pod_run_advance(struct sim_pod_run *run, int64_t now);

/* A container dies at `now` with exit_code/reason (Error 1, OOMKilled 137). With restartPolicy
 * Always (or OnFailure and a non-zero code) it waits in CrashLoopBackOff and runs again after
 * restart_delay_ms unless stay; otherwise the pod goes Failed/Succeeded once all have ended.
 * Returns 0, or -1 if the container is unknown or the pod already terminal. */
int sim_pod_run_kill(struct sim_pod_run *run, const char *ctr, int exit_code, const char *reason,
		     int64_t now, int64_t restart_delay_ms, int stay);

/* Ends a crash loop: containers waiting with stay_down run again at `now`, readiness restored. */
void sim_pod_run_restore(struct sim_pod_run *run, int64_t now);

/* Forces a phase (Failed/Succeeded/Unknown/Running) with an optional pod-level reason/message.
 * Terminal phases terminate every container (exit 0 Completed for Succeeded, 1 Error for Failed). */
void sim_pod_run_set_phase(struct sim_pod_run *run, enum sim_pod_phase phase, const char *reason,
			   const char *message, int64_t now);

/* 1 if the pod is Ready: every main container running and ready, no readiness failure, node up. */
int sim_pod_run_ready(const struct sim_pod_run *run);

/* The whole status stanza for the run at `now` (updates the conditions' transition times, which
 * is why run is not const). Caller owns the result; NULL on ENOMEM. qos_class may be NULL. */
cJSON *sim_pod_status_build(struct sim_pod_run *run, const char *qos_class, int64_t now);

/* BestEffort, Burstable or Guaranteed from the containers' requests and limits. */
const char *sim_pod_qos_class(const cJSON *pod);

/* ---- Glue (controller loop thread, or under the controllers' lock) ---- */

struct sim_kubelet;

/* Creates `nodes` nodes kubesim-node-1..N (Ready, capacity) in the store. */
int sim_kubelet_new(struct sim_controllers *c, int nodes, int64_t ready_delay_ms,
		    struct sim_kubelet **out);
void sim_kubelet_free(struct sim_kubelet *k);

/* Store events for pods and nodes. */
void sim_kubelet_on_pod(struct sim_controllers *c, const char *type, const cJSON *pod);
void sim_kubelet_on_node(struct sim_controllers *c, const char *type, const cJSON *node);

/* Control operations. Return 0, or a negative KUBE_E* code (KUBE_ENOTFOUND, KUBE_EINVAL). */
int sim_kubelet_fail_readiness(struct sim_controllers *c, const char *ns, const char *name, int fail);
int sim_kubelet_kill(struct sim_controllers *c, const char *ns, const char *name, const char *ctr,
		     int oom, int exit_code, int stay, int64_t restart_delay_ms);
int sim_kubelet_restore(struct sim_controllers *c, const char *ns, const char *name);
int sim_kubelet_set_phase(struct sim_controllers *c, const char *ns, const char *name,
			  const char *phase, const char *reason, const char *message);
int sim_kubelet_node_set_down(struct sim_controllers *c, const char *node, int down);
/* Grace cap for deleted pods (ms), default 1000. */
void sim_kubelet_set_grace_cap(struct sim_controllers *c, int64_t cap_ms);
/* Ready delay for new pods (ms). */
void sim_kubelet_set_ready_delay(struct sim_controllers *c, int64_t delay_ms);
int64_t sim_kubelet_ready_delay(struct sim_controllers *c);
int64_t sim_kubelet_grace_cap(struct sim_controllers *c);
/* --run-pods only (KUBE_EINVAL otherwise, or before the pod started): send a signal to a
 * container's process group (ctr NULL = the first main container), freeze (SIGSTOP) or thaw
 * (SIGCONT) the whole pod, make its probes (ctr NULL = every container's) fail unrun. */
int sim_kubelet_signal(struct sim_controllers *c, const char *ns, const char *name, const char *ctr,
		       int sig);
int sim_kubelet_freeze(struct sim_controllers *c, const char *ns, const char *name, int freeze);
int sim_kubelet_block_probes(struct sim_controllers *c, const char *ns, const char *name,
			     const char *ctr, int block);
/* [{"name","ip","down","pods"}...] (caller frees). */
cJSON *sim_kubelet_nodes_json(struct sim_controllers *c);

#endif
