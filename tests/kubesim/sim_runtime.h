/* kubesim --run-pods: a container runtime and kubelet core that runs each container as a local
 * process (own process group, own log file, the pod's env and volumes under a per-pod dir),
 * probes it, notices its exit, restarts it with CrashLoopBackOff and cleans up after itself.
 *
 * Threads: one runtime thread owns the processes (it forks them, so PR_SET_PDEATHSIG follows
 * it), probes run on short-lived worker threads; every public function locks the runtime's
 * mutex and may be called from any thread. The runtime never calls into the controllers while
 * holding its lock: change notifications go out after it is dropped. */
#ifndef SIM_RUNTIME_H
#define SIM_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

struct sim_store;
struct sim_pod_run;
struct sim_runtime;

#define SIM_RT_MAX_IMAGE_MAP 64

/* What main.c collects from the command line (all borrowed from argv for the process' life). */
struct sim_runtime_config {
	const char *dir;         /* --run-pods-dir: base state dir (default $TMPDIR/kubesim-runpods-UID) */
	const char *image_map[SIM_RT_MAX_IMAGE_MAP]; /* --image-map IMAGE=PATH */
	size_t n_image_map;
	const char *image_store; /* --image-store DIR */
	double backoff_scale;    /* --crashloop-backoff-scale (1 = upstream 10 s .. 5 min) */
};

/* ---- Pure parts ---- */

/* The delay before restart number `restarts` + 1 of a container that keeps failing: none for the
 * first restart, then 10 s doubling to 5 min, times scale (upstream's CrashLoopBackOff). */
int64_t sim_rt_backoff_ms(int restarts, double scale);

/* A resolved image: the argv to run, the image's env ("K=V") and working dir. */
struct sim_rt_image {
	char **argv;   /* NULL-terminated, malloc'd */
	char **env;    /* NULL-terminated, malloc'd (may be empty) */
	char *workdir; /* NULL = the pod dir */
};
void sim_rt_image_release(struct sim_rt_image *img);

/* Resolves a container's program from its image and command/args, as a runtime does with an
 * image's entrypoint and cmd: command replaces the entrypoint (and drops cmd), args replace cmd.
 * The entrypoint comes from --image-map IMAGE=PATH, else from the image store
 * (DIR/<image with '/' and ':' as '_'>/manifest.json; a reference without a tag also tries
 * "_latest"), else an image without either but with a command whose first word is an
 * executable (absolute, or found on PATH) runs that command. Returns 0, or KUBE_ENOTFOUND with
 * a message in err (the pull failure), or KUBE_ENOMEM. Reads the filesystem only. */
int sim_rt_image_resolve(const struct sim_runtime_config *cfg, const char *image,
			 const cJSON *command, const cJSON *args, struct sim_rt_image *out,
			 char *err, size_t errlen);

/* The termination message the kubelet reports: the file's content (at most 4096 bytes) or, with
 * FallbackToLogsOnError and a failed container whose file is empty, the last 80 lines of its
 * log, at most 4096 bytes (the end is kept). Caller frees; NULL when there is none. */
char *sim_rt_termination_message(const char *file_text, size_t file_len, const char *log_text,
				 size_t log_len, int fallback_to_logs, int failed);

/* Bytes from a Kubernetes quantity ("64Mi", "1G", "128974848", "1.5Gi"); -1 if unparsable. */
int64_t sim_rt_quantity_bytes(const char *q);

/* Finds an executable: an absolute path as is, a relative path with '/' under cwd (as is when
 * cwd is NULL), a bare name on path_env (a PATH value). Returns 1 with the path in buf. */
int sim_rt_find_exe(const char *name, const char *path_env, const char *cwd, char *buf,
		    size_t len);

/* Frees a NULL-terminated vector of malloc'd strings (NULL is a no-op). */
void sim_rt_strv_free(char **v);

/* ---- Processes ---- */

/* Forks and execs argv[0] (an existing path) with envp in cwd, stdout and stderr appended to
 * out_path, in a new process group, with PR_SET_PDEATHSIG SIGKILL and every other fd closed.
 * Nothing is allocated between fork and exec. Returns the pid (= the pgid) or -1. new_pgrp 0
 * keeps the caller's group. Any thread. */
pid_t sim_rt_spawn(char *const *argv, char *const *envp, const char *cwd, const char *out_path,
		   int new_pgrp);

/* ---- The runtime ---- */

/* Called (runtime thread, no lock held) when a pod's status changed or its processes are all
 * gone after a deletion; the receiver then calls sim_runtime_fill. */
typedef void (*sim_runtime_notify_fn)(void *ud, const char *uid);

/* Creates the instance state dir under cfg->dir (kills the processes of earlier instances that
 * died without cleaning up, from their recorded process groups), starts the runtime thread.
 * cfg is borrowed for the runtime's life. Returns 0 or a negative KUBE_E* code. */
int sim_runtime_new(const struct sim_runtime_config *cfg, struct sim_store *store,
		    sim_runtime_notify_fn notify, void *ud, struct sim_runtime **out);
/* SIGTERM to every container, SIGKILL after 2 s, reaps them, joins the thread, removes the
 * instance dir, frees. NULL is a no-op. */
void sim_runtime_free(struct sim_runtime *rt);

/* What the runtime asks the cluster for pods' API credentials (image mode's in-cluster config):
 * a bearer token of the pod's ServiceAccount (malloc'd, NULL on failure) for a projected
 * serviceAccountToken source, and the API server's address (host and port as text, 0 when
 * known) for KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT. Called from the runtime thread
 * with the runtime's lock held: they must not call back into the runtime. */
struct sim_rt_cluster {
	char *(*sa_token)(void *ud, const char *ns, const char *sa);
	int (*api_addr)(void *ud, char *host, size_t hostlen, char *port, size_t portlen);
	void *ud;
};
/* Sets (copies) the hooks; before the first pod. Without them projected tokens are empty files
 * and the env has no KUBERNETES_SERVICE_*. */
void sim_runtime_set_cluster(struct sim_runtime *rt, const struct sim_rt_cluster *cl);

/* Starts running a pod (copied) with its pod IP and node. Returns 0 or KUBE_ENOMEM. */
int sim_runtime_pod_add(struct sim_runtime *rt, const cJSON *pod, const char *pod_ip,
			const char *node);
/* Graceful stop: SIGTERM now, SIGKILL after grace_ms; the pod is then reported `gone`. */
void sim_runtime_pod_stop(struct sim_runtime *rt, const char *uid, int64_t grace_ms);
/* Forgets a pod (kills what is left, removes its dir). */
void sim_runtime_pod_forget(struct sim_runtime *rt, const char *uid);
/* Copies the pod's container states into run (same container order as sim_pod_run_new) and
 * sets its phase. Returns 1 if the pod's processes are all gone after a stop, 0 if not, -1 if
 * the pod is unknown. */
int sim_runtime_fill(struct sim_runtime *rt, const char *uid, struct sim_pod_run *run);

/* Faults. ctr NULL = every container. Return 0, KUBE_ENOTFOUND (pod or container unknown) or
 * KUBE_EINVAL (nothing running). */
int sim_runtime_signal(struct sim_runtime *rt, const char *uid, const char *ctr, int sig,
		       int oom);
/* Probes of the pod's containers (ctr NULL = all) fail without being run while blocked. */
int sim_runtime_block_probes(struct sim_runtime *rt, const char *uid, const char *ctr, int block);
/* SIGSTOP (1) / SIGCONT (0) every process group of the pod. kubelet_too (a node going down /
 * up): probes, restarts and memory checks pause as well; otherwise (the freeze fault) the
 * kubelet keeps probing the frozen processes, which then time out. */
int sim_runtime_freeze(struct sim_runtime *rt, const char *uid, int freeze, int kubelet_too);

/* The dir of the pod with this uid in this process' instance (the same for every runtime the
 * process creates, so the log route can find it without the runtime). Pure but for getpid. */
void sim_runtime_pod_dir(const struct sim_runtime_config *cfg, const char *uid, char *buf,
			 size_t len);

/* 1 if name is a DNS-1123 label (what the API requires of a container name, and what keeps a
 * name from leaving the pod dir in the paths built from it). Pure. */
int sim_rt_name_ok(const char *name);

/* The log path a container's run writes to: DIR/logs/<ctr>/<run>.log. Pure. */
void sim_rt_log_file(const char *pod_dir, const char *ctr, int run, char *buf, size_t len);
/* Its timestamps: DIR/logs/<ctr>/<run>.ts, lines "FROM TO MS": bytes [FROM, TO) of the log were
 * first seen at wall time MS (within a 100 ms tick). Pure. */
void sim_rt_ts_file(const char *pod_dir, const char *ctr, int run, char *buf, size_t len);

#endif
