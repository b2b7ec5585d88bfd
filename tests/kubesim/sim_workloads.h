/* Deployments -> ReplicaSets -> pods: the deployment controller (pod-template-hash, a simple
 * rolling update, status and conditions for `kubectl rollout status` and helm) and the
 * replicaset controller (creates and deletes pods, status). Reconciles are level-based and run
 * once per turn for the objects that changed. */
#ifndef SIM_WORKLOADS_H
#define SIM_WORKLOADS_H

#include <stdint.h>
#include <cjson/cJSON.h>

struct sim_controllers;
struct sim_workloads;

/* ---- Pure ---- */

/* The pod-template-hash of a pod template, as the deployment controller writes it: FNV-32a of
 * the template's canonical JSON, then the decimal value encoded in the safe alphabet
 * ("bcdfghjklmnpqrstvwxz2456789"). buf >= 16. */
void sim_pod_template_hash(const cJSON *template, char *buf, size_t len);

/* ---- Glue ---- */

int sim_workloads_new(struct sim_controllers *c, struct sim_workloads **out);
void sim_workloads_free(struct sim_workloads *w);

/* Events: deployments and replicasets (resource names the kind), and pods (their controller
 * replicaset is reconciled). */
void sim_workloads_on_object(struct sim_controllers *c, const char *type, const char *resource,
			     const cJSON *obj);
void sim_workloads_on_pod(struct sim_controllers *c, const char *type, const cJSON *pod);
/* Reconciles what changed this turn. */
void sim_workloads_flush(struct sim_controllers *c);

#endif
