/* kubesim --run-pods, image mode (docs/container-images.md): a container whose image is in a
 * registry on loopback (127.0.0.1:PORT/..., localhost:PORT/...) is pulled with skopeo into an OCI
 * layout, unpacked with umoci into a bundle and run with runc, instead of being mapped to a host
 * program. Its own mount, PID, IPC and UTS namespaces; the host's network (the pod IP convention
 * stays); the image's entrypoint, cmd, env and workdir under the Kubernetes rules (command
 * replaces the entrypoint, args the cmd); the pod's volumes and the termination log
 * bind-mounted at their mount paths; resources.limits.memory as the memory cgroup's limit.
 *
 * The runtime still spawns and signals a host process: a bash wrapper (written into the
 * container's dir) that copies the environment the runtime built into config.json, forwards
 * SIGTERM/SIGINT/SIGHUP to `runc run`, exits with the container's status, and leaves a watcher in
 * its own session that force-deletes the container when the wrapper dies (the runtime's SIGKILL
 * of the process group cannot reach the container, which runc puts in a session of its own). */
#ifndef SIM_OCI_H
#define SIM_OCI_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct sim_rt_image;

/* Returned by sim_oci_resolve when the image is not one to run with runc (not on a loopback
 * registry, the tools are missing, or the pull failed): resolve it the process way. */
#define SIM_OCI_NOT_MINE 1

/* Where runc keeps the state of kubesim's containers (outside the pod dirs, which the runtime
 * removes before a wrapper's watcher may have deleted its container). */
#define SIM_OCI_RUNC_ROOT "/run/kubesim-oci"
/* A run's runc id: ks-<pod uid>-<container>-<wrapper pid>. */

/* A pull in a worker thread, so a slow pull holds neither the runtime thread nor other pods.
 * sim_oci_pull_start starts pulling and unpacking the container's image into
 * pod_dir/oci/<ctr>/ (what sim_oci_resolve would do first) and returns at once; wake(ud) is
 * called from the worker when it is done (without any lock of the caller's: it must only wake).
 * The outcome is left in that dir for the next sim_oci_resolve, which then does not pull
 * again. NULL (nothing started) if the image is not on a loopback registry or no thread could
 * be made: sim_oci_resolve then pulls itself. sim_oci_pull_done: 1 once finished (atomic).
 * sim_oci_pull_free waits for the worker (blocks for the rest of the pull) and frees it. */
struct sim_oci_pull;
struct sim_oci_pull *sim_oci_pull_start(const cJSON *ctr, const char *pod_dir,
					void (*wake)(void *), void *ud);
int sim_oci_pull_done(const struct sim_oci_pull *pull);
void sim_oci_pull_free(struct sim_oci_pull *pull);

/* 1 if the image reference names a registry on loopback with a port. Pure. */
int sim_oci_local_ref(const char *image);

/* The reference to pull: name:tag@digest (valid for Kubernetes, the tag ignored) becomes
 * name@digest, which the tools accept; others are copied. Into buf (len); pure. */
void sim_oci_pull_ref(const char *image, char *buf, size_t len);

/* The runc config.json for a container: base is the bundle's config.json from umoci, img_cfg
 * the image's config (skopeo inspect --config: {"config":{"Entrypoint","Cmd","WorkingDir",
 * "User"}}), pod and ctr the pod and container specs, pod_dir the runtime's dir of the pod
 * (volumes under pod_dir/volumes/<name>, the termination log under pod_dir/term/<ctr>/). Env is
 * left to the wrapper. Returns a new object, or NULL with a message in err. Pure. */
cJSON *sim_oci_config(const cJSON *base, const cJSON *img_cfg, const cJSON *pod, const cJSON *ctr,
		      const char *pod_dir, char *err, size_t errlen);

/* Pulls and unpacks the container's image into pod_dir/oci/<ctr>/ and writes the config and
 * the wrapper there; out gets the wrapper as argv, the image's env and the dir as workdir.
 * Returns 0, SIM_OCI_NOT_MINE, or a negative KUBE_E* code with a message in err. Uses the
 * outcome of a finished sim_oci_pull if there is one; else blocks while skopeo and umoci run
 * (about 2 s for the operator image). */
int sim_oci_resolve(const cJSON *pod, const cJSON *ctr, const char *pod_dir,
		    struct sim_rt_image *out, char *err, size_t errlen);

/* Where the cgroup hierarchies are mounted. */
#define SIM_OCI_CGROUP_ROOT "/sys/fs/cgroup"
enum { SIM_OCI_CG_NONE = 0, SIM_OCI_CG_V1 = 1, SIM_OCI_CG_V2 = 2 };

/* Which hierarchy under root (SIM_OCI_CGROUP_ROOT, or a fake tree in tests) holds the memory
 * controller: SIM_OCI_CG_V2 if root is the unified hierarchy (root/cgroup.controllers lists
 * memory), SIM_OCI_CG_V1 if root/memory is a v1 memory controller (also the hybrid layout,
 * whose unified tree at root/unified has no controllers), else SIM_OCI_CG_NONE (runc then sets
 * the limit, if it can, and an OOM kill is only a 137). Reads the filesystem only. */
int sim_oci_cgroup_layout(const char *root);

/* The argv that runs command (a probe's exec.command) inside the container's current run with
 * `runc exec` (its namespaces, env, cwd and user), given the container's env (KUBESIM_OCI_DIR,
 * whose `id` file the wrapper writes before `runc run`). NULL for an empty command or no
 * memory. Caller frees (sim_rt_strv_free). */
char **sim_oci_exec_argv(const cJSON *command);

/* Freezes (pause 1) or thaws the container's current run with `runc pause`/`resume`: the
 * cgroup freezer stops every process in it (SIGSTOP of the wrapper cannot reach the container,
 * in a session of its own). 0, or -1 (no run, runc failed). Blocks while runc runs. */
int sim_oci_pause(const char *pod_dir, const char *ctr, int pause);

/* The wrapper script (sim_oci_resolve writes it as run.sh; exposed for its unit test). */
const char *sim_oci_wrapper_text(void);

/* 1 if the kernel OOM-killed the last run of this container (the wrapper's verdict from the
 * cgroup holding the limit: v1 peak usage at the limit, v2 the oom_kill count of
 * memory.events). The runtime asks it when a container ends and reports OOMKilled. Reads the
 * filesystem only. */
int sim_oci_oom_killed(const char *pod_dir, const char *ctr);

#endif
