/* The endpoints controller: Endpoints and EndpointSlices for every Service with a selector, from
 * the pods that match, plus a per-Service history of the set of ready endpoints.
 *
 * The history is recorded per store commit (not per write of the Endpoints object) with the
 * commit's time, so a test can prove that a Service never had zero (or two) ready endpoints even
 * for an instant. The pure parts (building objects, history statistics) are unit-tested. */
#ifndef SIM_ENDPOINTS_H
#define SIM_ENDPOINTS_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

struct sim_controllers;

/* ---- Pure ---- */

/* 1 if the pod counts as a ready endpoint: condition Ready True, a podIP, no deletionTimestamp,
 * phase not Succeeded/Failed. */
int sim_endpoints_pod_ready(const cJSON *pod);
/* 1 if the pod is listed at all (ready or not): has a podIP, not terminal, and not terminating
 * unless include_terminating (the endpoints controller passes the Service's
 * publishNotReadyAddresses, as upstream's ShouldPodBeInEndpoints does). */
int sim_endpoints_pod_listed(const cJSON *pod, int include_terminating);

/* The v1 Endpoints object of svc from pods (all pods of the namespace; the selector is applied
 * here). Addresses are the ready pods, notReadyAddresses the others (all in addresses with
 * publishNotReadyAddresses); subsets group pods that resolve the same ports (named targetPorts
 * are looked up in each pod's containers; a pod that lacks one is left out of that port).
 * Returns a new object (caller frees) or NULL on ENOMEM / a Service without selector. */
cJSON *sim_endpoints_build(const cJSON *svc, const cJSON *const *pods, size_t n);

/* The discovery.k8s.io/v1 EndpointSlice (addressType IPv4) named `name`, owned by svc.
 * Terminating pods are listed with ready false, terminating true. New object or NULL. */
cJSON *sim_endpointslice_build(const cJSON *svc, const cJSON *const *pods, size_t n,
			       const char *name);

/* The sorted names of the ready endpoints of svc among pods: *out is a malloc'd array of
 * malloc'd strings (free with sim_names_free). Returns the count (0 with *out NULL when none),
 * or -1 on ENOMEM. */
long sim_endpoints_ready_names(const cJSON *svc, const cJSON *const *pods, size_t n, char ***out);
void sim_names_free(char **names, size_t n);

/* History of a Service's ready endpoints: one entry per change, at the commit's time. */
struct sim_ep_history;

struct sim_ep_stats {
	int64_t from_ms, to_ms; /* the window actually covered (from = max(since, first entry)) */
	long entries;           /* entries in the window, the one in force at its start included */
	long min_ready, max_ready; /* -1 when the window is empty */
	long zero_moments;      /* states with zero ready endpoints in the window */
	int64_t zero_total_ms, zero_max_ms;
	long multi_moments;     /* states with two or more ready endpoints */
};

struct sim_ep_history *sim_ep_history_new(void);
void sim_ep_history_free(struct sim_ep_history *h);
/* Appends a state (names copied; need not be sorted) unless it equals the last one. Returns 1 if
 * appended, 0 if unchanged, -1 on ENOMEM (nothing changed). Times must not go backwards. */
int sim_ep_history_add(struct sim_ep_history *h, int64_t mono_ms, int64_t wall_ms,
		       char *const *names, size_t n);
/* Drops everything but the state in force, which is re-stamped at mono_ms/wall_ms. */
void sim_ep_history_reset(struct sim_ep_history *h, int64_t mono_ms, int64_t wall_ms);
size_t sim_ep_history_len(const struct sim_ep_history *h);
/* Statistics over [since_ms, now_ms] (since_ms < 0 = everything). zero_durations (may be NULL)
 * receives up to max_durations durations of the zero moments, in order. */
void sim_ep_history_stats(const struct sim_ep_history *h, int64_t since_ms, int64_t now_ms,
			  struct sim_ep_stats *st, int64_t *zero_durations, size_t max_durations);
/* {"entries":[{"monoMs","time","count","ready":[..]}...],"stats":{...},"zeroDurationsMs":[..]}
 * for the window. New object or NULL. */
cJSON *sim_ep_history_json(const struct sim_ep_history *h, int64_t since_ms, int64_t now_ms);

/* ---- Glue ---- */

struct sim_endpoints;

int sim_endpoints_new(struct sim_controllers *c, struct sim_endpoints **out);
void sim_endpoints_free(struct sim_endpoints *e);

void sim_endpoints_on_pod(struct sim_controllers *c, const char *type, const cJSON *pod,
			  const cJSON *old);
void sim_endpoints_on_service(struct sim_controllers *c, const char *type, const cJSON *svc);
/* Writes the Endpoints/EndpointSlices of the Services that changed in this turn. */
void sim_endpoints_flush(struct sim_controllers *c);

/* The history of ns/name as JSON (see sim_ep_history_json) plus "namespace", "service",
 * "nowMs", "exists"; NULL if the Service was never seen. Caller frees. */
cJSON *sim_endpoints_history_get(struct sim_controllers *c, const char *ns, const char *name,
				 int64_t since_ms);
/* Every known Service's history summary (stats only). */
cJSON *sim_endpoints_history_all(struct sim_controllers *c, int64_t since_ms);
/* Restarts the history of ns/name (NULL name = every Service) from the current state. Returns
 * the number of histories reset. */
int sim_endpoints_history_reset(struct sim_controllers *c, const char *ns, const char *name);

#endif
